"""The backoff chart: the gap before each retry of every retry series the detectors found.

Series drawn, in this order, each only when it has at least one retry:

- the client's SYNs and the server's SYN+ACKs (``detect.handshake.Handshake.syn``/``synack``);
- window probes and keepalive probes, per sender (the zero-window and keepalive detectors'
  probe events);
- the RTO series of the last retransmitted segment (``detect.retransmit.RtoSeries``): only its
  timer-driven steps (``step_frames``), so a fast retransmit or a tail loss probe (sooner
  than the minimum RTO, or at the RTO's own time before the timeouts double: ``probe_frame``)
  is no bar, as the detector rules.

Exponential backoff (net.ipv4.tcp_syn_retries 1 s, 2 s, 4 s...; RTO doubling from tcp_rto_min
200 ms) is a straight line on the log axis.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from pcapline.detect import ConnDetections
from pcapline.fmt import gap
from pcapline.model import Event, EventKind, Side
from pcapline.render.palette import SERIES_COLOURS, Figure, figure, layout, trace

#: Seconds since the connection's start of the given frames (``ConnSegments.seconds_at``).
SecondsAt = Callable[[Sequence[int]], np.ndarray]


@dataclass(frozen=True, slots=True)
class GapSeries:
    """One series as drawn: the gap before each retry and the frame of that retry."""

    label: str  # "SYN (client)", "RTO of seq 1 (server)", ...
    gaps: tuple[float, ...]  # seconds since the attempt before
    frames: tuple[int, ...]  # the retry ending each gap


def gap_series(found: ConnDetections, seconds_at: SecondsAt) -> list[GapSeries]:
    """The series the detectors found in one connection, with at least one retry each."""
    out: list[GapSeries] = []
    handshake = found.handshake.inferred
    for label, side, tries in (
        ("SYN", Side.CLIENT, handshake.syn),
        ("SYN+ACK", Side.SERVER, handshake.synack),
    ):
        if tries is not None and tries.retries:
            out.append(_consecutive(f"{label} ({side})", tries.frames, seconds_at))
    for label, events in (
        ("window probe", _of_kind(found.zero_window.events, EventKind.WINDOW_PROBE)),
        ("keepalive probe", _of_kind(found.keepalive.events, EventKind.KEEPALIVE)),
    ):
        for side in (Side.CLIENT, Side.SERVER):
            probes = tuple(e.frame for e in events if e.side == side)
            if len(probes) >= 2:
                out.append(_consecutive(f"{label} ({side})", probes, seconds_at))
    rto = found.retransmit.inferred.last_series
    if rto is not None and rto.step_frames:
        # Each step's gap runs from the transmission just before it (a TLP copy included).
        before = {b: a for a, b in itertools.pairwise(rto.frames)}
        starts = seconds_at([before[f] for f in rto.step_frames])
        ends = seconds_at(rto.step_frames)
        out.append(
            GapSeries(
                f"RTO of seq {rto.seq} ({rto.side})",
                tuple((ends - starts).tolist()),
                rto.step_frames,
            )
        )
    return out


def draws(found: ConnDetections) -> bool:
    """Whether the connection has a series ``gap_series`` gives (a chart may follow): which
    connections' detections the HTML report needs (``engine.Kept.DRAWN``). Asked of
    ``gap_series`` itself, with every attempt at time 0, so the two cannot disagree."""
    return bool(gap_series(found, _untimed))


def _untimed(frames: Sequence[int]) -> np.ndarray:
    return np.zeros(len(frames))


def _of_kind(events: Sequence[Event], kind: EventKind) -> list[Event]:
    return [e for e in events if e.kind == kind]


def _consecutive(label: str, frames: Sequence[int], seconds_at: SecondsAt) -> GapSeries:
    """Gaps between consecutive attempts (frames in sending order, the first attempt first)."""
    gaps = np.diff(seconds_at(frames))
    return GapSeries(label, tuple(gaps.tolist()), tuple(int(f) for f in frames[1:]))


def backoff(series: Sequence[GapSeries]) -> Figure | None:
    """Bar chart of the gap before each retry, one colour per series, log y axis.

    The y ticks sit at the measured gaps themselves (0.2, 0.4, 0.8...), so the doubling can
    be read off the axis; each bar is labelled with its gap and its ratio to the previous one.
    """
    drawn = [s for s in series if s.gaps and all(g > 0 for g in s.gaps)]
    if not drawn:
        return None
    bars = []
    for s, colour in zip(drawn, _cycle(SERIES_COLOURS, len(drawn)), strict=True):
        gaps = np.asarray(s.gaps, dtype=float)
        ratios = np.concatenate([[np.nan], gaps[1:] / gaps[:-1]])
        text = [
            gap(g) + ("" if np.isnan(r) else f" ×{r:.2g}")
            for g, r in zip(gaps, ratios, strict=True)
        ]
        bars.append(
            trace(
                go.Bar,
                x=np.arange(1, len(gaps) + 1),
                y=gaps,
                name=s.label,
                marker=dict(color=colour),
                text=text,
                textposition="outside",
                cliponaxis=False,
                customdata=np.asarray(s.frames),
                hovertemplate=s.label
                + ": retry %{x} (frame %{customdata}) after %{y:.4f} s<extra></extra>",
            )
        )
    every = np.concatenate([np.asarray(s.gaps, dtype=float) for s in drawn])
    ticks = np.unique([float(f"{g:.2g}") for g in every])
    if len(ticks) > 10:
        ticks = ticks[np.linspace(0, len(ticks) - 1, num=10).astype(int)]
    longest = max(len(s.gaps) for s in drawn)
    return figure(
        data=bars,
        layout=layout(
            height=260,
            barmode="group",
            bargap=0.35,
            showlegend=True,
            xaxis=dict(
                title="retry number (gap since the previous attempt)",
                dtick=1,
                range=[0.5, max(longest, 6) + 0.5],  # a lone retry is not a page-wide bar
            ),
            yaxis=dict(
                title="gap, log scale",
                type="log",
                tickvals=ticks.tolist(),
                ticktext=[gap(t) for t in ticks],
                range=[math.log10(every.min() / 4), math.log10(every.max() * 3)],
            ),
        ),
    )


def _cycle(values: tuple[str, ...], n: int) -> list[str]:
    return [values[i % len(values)] for i in range(n)]
