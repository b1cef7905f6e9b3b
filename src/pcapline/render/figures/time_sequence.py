"""The time-sequence graph of one connection (Stevens, tcptrace), one panel per direction.

Relative sequence number over time: each data segment an I-beam from seq to seq+len, the
peer's ACK line and advertised-window line (ack + window << wscale), with retransmissions,
probes, FIN and RST marked where the detectors put them. When the window edge would squash
the data into a flat line, the view is fitted to the data and the page says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from pcapline.facts import UNKNOWN, Facts
from pcapline.fmt import utc
from pcapline.model import ACK, FIN, SYN
from pcapline.render.palette import MARKS, Figure, Trace, figure, layout, trace
from pcapline.timeline import tcpdump_flags

#: Per-connection time-sequence graphs keep every event frame and sample the rest above this.
MAX_TSG_SEGMENTS = 4000


@dataclass(frozen=True, slots=True)
class ConnSegments:
    """One connection's segments with the shared per-segment facts (``facts.py``).

    Columns: ``frame``, ``t`` (seconds since ``origin``), ``from_client``, ``flags``,
    ``seg_len``, ``rel_seq``, ``seq_end`` (seq + len, +1 for SYN/FIN), ``rel_ack`` (peer's
    ISN based, ``facts.UNKNOWN`` without ACK) and ``window`` (scaled when both SYNs offered
    a window scale, RFC 7323). ``scaled_known`` is False when a SYN is missing: the window
    scale in force is then unknown and windows are raw header values.
    """

    rows: pd.DataFrame
    scaled_known: bool
    #: The wall-clock time ``t`` counts from (the connection's first frame), epoch ns.
    origin_ns: int | None = None

    @property
    def carries_data(self) -> bool:
        return bool(((self.rows["seg_len"] > 0) | ((self.rows["flags"] & FIN) != 0)).any())

    def seconds_at(self, frames: Sequence[int]) -> np.ndarray:
        """``t`` of the given frames of this connection (rows are in frame order)."""
        frame = self.rows["frame"].to_numpy(np.int64)
        at = np.searchsorted(frame, np.asarray(frames, dtype=np.int64))
        return np.asarray(self.rows["t"].to_numpy(float)[at])


def conn_segments(facts: Facts, index: int, origin_ns: int) -> ConnSegments:
    """Slice connection number ``index`` (position in ``facts.conn_ids``) out of ``facts``."""
    lo, hi = int(facts.starts[index]), int(facts.starts[index + 1])
    sl = slice(lo, hi)
    flags = facts.flags[sl]
    fc = facts.from_client[sl]
    syn = (flags & SYN) != 0
    rows = pd.DataFrame(
        {
            "frame": facts.frame[sl],
            "t": (facts.time_ns[sl] - origin_ns) / 1e9,
            "from_client": fc,
            "flags": flags,
            "seg_len": facts.seg_len[sl],
            "rel_seq": facts.rel_seq[sl],
            "seq_end": facts.seq_end[sl],
            "rel_ack": facts.rel_ack[sl],
            "window": facts.window[sl],
        }
    )
    return ConnSegments(
        rows=rows,
        scaled_known=bool((syn & fc).any() and (syn & ~fc).any()),
        origin_ns=origin_ns,
    )


def time_sequence(conn: ConnSegments, events: pd.DataFrame) -> tuple[Figure | None, str]:
    """Stevens-style time-sequence graph of one connection, one panel per direction.

    Both panels share one time axis. Returns the figure and a note for the page (sampling,
    unknown window scale), or "". No figure when no payload or FIN was sent: a graph of SYNs
    at seq 0 says nothing the backoff chart and the timeline do not say better.

    The figure is built in one go from a trace list: plotly validates each ``update_*`` call
    again, and make_subplots alone cost 0.1 s per connection.
    """
    seg = conn.rows
    notes = []
    if not conn.carries_data:
        return None, ""
    if not conn.scaled_known:
        notes.append(
            "handshake not fully captured: window scale unknown, the window line shows raw values"
        )
    kind_at = events.groupby("frame")["kind"].agg(lambda k: ", ".join(map(str, k)))
    event_frames = set(kind_at.index.tolist())
    directions = [(True, "client → server"), (False, "server → client")]
    # A panel per direction that sent payload or FIN: a direction of bare ACKs is a flat
    # line at 0 (its ACKs are drawn in the other panel, as the peer's ACK line).
    carries = (seg["seg_len"] > 0) | ((seg["flags"] & FIN) != 0)
    present = [
        (side, title)
        for side, title in directions
        if (carries & (seg["from_client"] == side)).any()
    ]
    traces: list[Trace] = []
    ranges: list[tuple[float, float] | None] = []
    legend: set[str] = set()  # legend entries already given (one per kind across panels)
    sampled = False
    for row, (side, _title) in enumerate(present, start=1):
        mine = seg[seg["from_client"] == side]
        peer = seg[
            (seg["from_client"] != side) & ((seg["flags"] & ACK) != 0) & (seg["rel_ack"] != UNKNOWN)
        ]
        ranges.append(_data_range(mine, peer))
        if len(mine) > MAX_TSG_SEGMENTS:
            mine = _sample_keeping(mine, event_frames, MAX_TSG_SEGMENTS)
            sampled = True
        if len(peer) > MAX_TSG_SEGMENTS:
            peer = _sample_keeping(peer, event_frames, MAX_TSG_SEGMENTS)
            sampled = True
        yaxis = "y" if row == 1 else f"y{row}"
        traces.extend(_direction_traces(mine, peer, kind_at, yaxis, legend=legend))
    if sampled:
        notes.append(
            f"more than {MAX_TSG_SEGMENTS:,} segments in a direction: every segment with an event "
            "is drawn, the others are an evenly spaced sample"
        )
    if any(r is not None for r in ranges):
        notes.append(
            "the peer's window edge is far above the data: the view is fitted to the data "
            "(use the Autoscale button to see the window line)"
        )
    spec = _panels([t for _, t in present], ranges, origin_ns=conn.origin_ns)
    return figure(data=traces, layout=spec), "; ".join(notes)


#: The window line is left partly out of view when it would squash the data below this share
#: of the panel (a 64 KB window over a 100-byte exchange draws the data as a flat line at 0).
WINDOW_SQUASH = 3.0


def _data_range(mine: pd.DataFrame, peer: pd.DataFrame) -> tuple[float, float] | None:
    """A y range fitted to segments and ACKs, when the window edge would dwarf them."""
    top = max(
        float(mine["seq_end"].max()) if len(mine) else 0.0,
        float(peer["rel_ack"].max()) if len(peer) else 0.0,
    )
    window_top = float((peer["rel_ack"] + peer["window"]).max()) if len(peer) else 0.0
    low = float(mine["rel_seq"].min()) if len(mine) else 0.0
    if top <= 0 or window_top <= WINDOW_SQUASH * top:
        return None
    pad = max((top - low) * 0.15, 1.0)
    return (low - pad, top + pad)


def _panels(
    titles: list[str], ranges: list[tuple[float, float] | None], *, origin_ns: int | None = None
) -> dict[str, Any]:
    """Panels stacked top to bottom over one shared x axis, each titled in its corner; the
    axis says the wall-clock time it counts from (``origin_ns``, UTC) when known."""
    n = max(len(titles), 1)
    gap = 0.1
    height = (1 - gap * (n - 1)) / n
    spec = layout(height=240 * n + 80)
    since = "connection start" if origin_ns is None else f"connection start, {utc(origin_ns)} UTC"
    spec["xaxis"] = dict(title=f"seconds since {since}", anchor=f"y{n}" if n > 1 else "y")
    annotations = []
    for i, title in enumerate(titles):
        top = 1 - i * (height + gap)
        name = "yaxis" if i == 0 else f"yaxis{i + 1}"
        spec[name] = dict(
            title="relative seq",
            domain=[max(top - height, 0.0), min(top, 1.0)],
            rangemode="tozero",
            anchor="x",
        )
        fitted = ranges[i]
        if fitted is not None:
            spec[name]["range"] = list(fitted)
        annotations.append(
            dict(
                text=f"<b>{title}</b>",
                xref="paper",
                yref="paper",
                x=0,
                y=top,
                xanchor="left",
                yanchor="bottom",
                showarrow=False,
                font=dict(size=12),
            )
        )
    spec["annotations"] = annotations
    spec["legend"] = dict(orientation="h", yanchor="bottom", y=1.06, xanchor="right", x=1)
    return spec


def _sample_keeping(rows: pd.DataFrame, keep_frames: set[int], limit: int) -> pd.DataFrame:
    must = rows["frame"].isin(keep_frames).to_numpy()
    rest = np.flatnonzero(~must)
    budget = max(limit - int(must.sum()), 0)
    pick = must.copy()
    if budget and len(rest):
        pick[rest[np.linspace(0, len(rest) - 1, num=min(budget, len(rest))).astype(int)]] = True
    return rows[pick]


def _direction_traces(
    mine: pd.DataFrame, peer: pd.DataFrame, kind_at: pd.Series, yaxis: str, *, legend: set[str]
) -> list[Trace]:
    t = mine["t"].to_numpy(float)
    lo = mine["rel_seq"].to_numpy(np.int64)
    # seq_end counts SYN and FIN as one sequence number each (RFC 9293 3.4): they get a beam too.
    hi = mine["seq_end"].to_numpy(np.int64)
    flags = mine["flags"].to_numpy(np.int64)
    frames = mine["frame"].to_numpy(np.int64)
    labels = [str(kind_at.get(int(f), "")) for f in frames]
    nan = np.full(len(t), np.nan)
    traces = [
        trace(
            go.Scatter,
            x=np.column_stack([t, t, nan]).ravel(),
            y=np.column_stack([lo, hi, nan]).ravel(),
            yaxis=yaxis,
            mode="lines",
            line=dict(color="#1565c0", width=2),
            name="segment (seq → seq+len)",
            legendgroup="seg",
            showlegend=_first(legend, "seg"),
            hoverinfo="skip",
        ),
        trace(
            go.Scatter,
            x=t,
            y=hi,
            yaxis=yaxis,
            mode="markers",
            marker=dict(color="#1565c0", size=4),
            name="segment",
            showlegend=False,
            customdata=np.column_stack([frames, lo, mine["seg_len"].to_numpy(np.int64)]),
            hovertext=[
                tcpdump_flags(int(f)) + (f" · {lab}" if lab else "")
                for f, lab in zip(flags, labels, strict=True)
            ],
            hovertemplate=(
                "frame %{customdata[0]} at %{x:.6f} s<br>seq %{customdata[1]}"
                " len %{customdata[2]}<br>[%{hovertext}]<extra></extra>"
            ),
        ),
    ]
    if len(peer):
        pt = peer["t"].to_numpy(float)
        ack = peer["rel_ack"].to_numpy(np.int64)
        win = ack + peer["window"].to_numpy(np.int64)
        peer_lines = (
            (ack, "#2e7d32", "peer's ACK", "ack", "ACK"),
            (win, "#f9a825", "peer's window (ack + win)", "win", "window edge"),
        )
        for y, colour, name, group, hover in peer_lines:
            traces.append(
                trace(
                    go.Scatter,
                    x=pt,
                    y=y,
                    yaxis=yaxis,
                    mode="lines",
                    line=dict(color=colour, width=1.5, shape="hv"),
                    name=name,
                    legendgroup=group,
                    showlegend=_first(legend, group),
                    hovertemplate=f"{hover} %{{y}} at %{{x:.6f}} s<extra></extra>",
                )
            )
    traces.extend(_marks_on_segments(mine, labels, hi, yaxis, legend=legend))
    return traces


def _first(legend: set[str], group: str) -> bool:
    """True the first time a legend group is met: one legend entry per kind, both panels."""
    if group in legend:
        return False
    legend.add(group)
    return True


def _marks_on_segments(
    mine: pd.DataFrame, labels: list[str], y: np.ndarray, yaxis: str, *, legend: set[str]
) -> list[Trace]:
    t = mine["t"].to_numpy(float)
    frames = mine["frame"].to_numpy(np.int64)
    kinds = [set(lab.split(", ")) if lab else set() for lab in labels]
    out = []
    for mark in MARKS:
        hit = np.array([bool(k & mark.kinds) for k in kinds], dtype=bool)
        if not hit.any():
            continue
        out.append(
            trace(
                go.Scatter,
                x=t[hit],
                y=y[hit],
                yaxis=yaxis,
                mode="markers",
                name=mark.label,
                legendgroup=mark.label,
                showlegend=_first(legend, mark.label),
                marker=dict(
                    symbol=mark.symbol,
                    color=mark.colour,
                    size=10,
                    line=dict(color=mark.colour, width=2),
                ),
                customdata=frames[hit],
                hovertemplate=f"{mark.label}: frame %{{customdata}} at %{{x:.6f}} s<extra></extra>",
            )
        )
    return out
