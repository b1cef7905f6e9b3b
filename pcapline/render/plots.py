"""The report's charts, built with plotly's graph_objects from the finished tables.

Three figures, each a function of plain tables (no HTML here; ``html.py`` embeds them):

- ``capture_timeline``: every connection as a bar from its first to its last frame, coloured
  by fate, with its events marked. Bars are drawn as one line trace per fate with NaN gaps
  between connections (one trace per connection would be 10,000 SVG groups). Above
  ``WEBGL_ABOVE`` connections the traces switch to ``scattergl`` (WebGL), chosen by measuring
  in headless Chromium (software GL, 2 loaded cores; draw / one zoom step):
  500 bars SVG 2.0 s / 0.1-0.5 s, WebGL 2.4 s / 0.1 s; 1,500 bars SVG 2.1 s / 0.6-1.1 s,
  WebGL 2.2 s / 0.1 s; 6,000 bars SVG 5.8 s / 1.5-2.2 s, WebGL 3.1 s / 0.01-0.13 s.
  SVG keeps full hover text (addresses) for small captures; WebGL carries numbers only
  (float32, id and duration) so 30k bars stay a few hundred KB. Above ``MAX_TIMELINE_BARS``
  every failing connection and an evenly spaced sample of the rest are drawn, and the page
  says so.
- ``time_sequence``: Stevens/tcptrace time-sequence graph of one connection: relative sequence
  number over time per direction (each data segment an I-beam from seq to seq+len), the
  peer's ACK line and advertised-window line (ack + window << wscale), with retransmissions,
  probes, FIN and RST marked. When the window edge would squash the data into a flat line,
  the view is fitted to the data and the page says so.
- ``backoff``: the gaps between attempts of each retry series (SYN, SYN+ACK, one segment's RTO
  retransmissions, window probes, keepalive probes). Exponential backoff (net.ipv4.tcp_syn_retries
  1 s, 2 s, 4 s...; RTO doubling from tcp_rto_min 200 ms) is a straight line on the log axis.

Times on every x axis are seconds relative to a stated origin (capture start or connection
start), as Wireshark shows them by default, in float64; only WebGL capture timelines send
float32 (WebGL draws in float32 anyway; the table keeps the exact times).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from pcapline.facts import UNKNOWN, Facts
from pcapline.model import ACK, FAILURE_FATES, FIN, SYN, EventKind, Fate
from pcapline.timeline import tcpdump_flags

#: One colour per fate, used by every chart and (via CSS variables) by the page itself.
FATE_COLOURS: dict[str, str] = {
    Fate.CONNECT_TIMEOUT: "#b71c1c",
    Fate.REFUSED: "#e53935",
    Fate.HANDSHAKE_TIMEOUT: "#ad1457",
    Fate.LISTEN_OVERFLOW: "#6a1b9a",
    Fate.RETRANSMIT_TIMEOUT: "#d84315",
    Fate.PERSIST_TIMEOUT: "#8e24aa",
    Fate.KEEPALIVE_TIMEOUT: "#795548",
    Fate.RESET: "#ef6c00",
    Fate.HALF_CLOSED: "#9e9d24",
    Fate.OPEN: "#1e88e5",
    Fate.CLOSED: "#2e7d32",
}

#: Report order: failures first (the ones that cost users most first), then the rest.
FATE_ORDER: tuple[Fate, ...] = (
    Fate.CONNECT_TIMEOUT,
    Fate.REFUSED,
    Fate.HANDSHAKE_TIMEOUT,
    Fate.LISTEN_OVERFLOW,
    Fate.RETRANSMIT_TIMEOUT,
    Fate.PERSIST_TIMEOUT,
    Fate.KEEPALIVE_TIMEOUT,
    Fate.RESET,
    Fate.HALF_CLOSED,
    Fate.OPEN,
    Fate.CLOSED,
)
assert set(FATE_ORDER) == set(Fate), "every fate needs a place in the report order"

UNKNOWN_FATE_COLOUR = "#757575"

WEBGL_ABOVE = 600
MAX_TIMELINE_BARS = 50_000
#: Per-connection time-sequence graphs keep every event frame and sample the rest above this.
MAX_TSG_SEGMENTS = 4000


@dataclass(frozen=True, slots=True)
class MarkStyle:
    label: str
    symbol: str
    colour: str
    kinds: frozenset[str]


#: Event marks shared by the capture timeline and the time-sequence graphs.
MARKS: tuple[MarkStyle, ...] = (
    MarkStyle(
        "SYN / SYN+ACK retry",
        "diamond",
        "#b71c1c",
        frozenset({EventKind.SYN_RETRANSMIT, EventKind.SYNACK_RETRANSMIT}),
    ),
    MarkStyle(
        "retransmission",
        "triangle-up",
        "#d50000",
        frozenset(
            {
                EventKind.RETRANSMIT,
                EventKind.FAST_RETRANSMIT,
                EventKind.SPURIOUS_RETRANSMIT,
                EventKind.FIN_RETRANSMIT,
            }
        ),
    ),
    MarkStyle("keepalive probe", "circle-open", "#6d4c41", frozenset({EventKind.KEEPALIVE})),
    MarkStyle(
        "zero window / probe",
        "square",
        "#8e24aa",
        frozenset({EventKind.ZERO_WINDOW, EventKind.WINDOW_PROBE}),
    ),
    MarkStyle("RST", "x", "#000000", frozenset({EventKind.RST})),
    MarkStyle("FIN", "line-ns-open", "#37474f", frozenset({EventKind.FIN})),
)

_FONT = dict(family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", size=12)


#: Plotly validates every property of every trace in Python (~3 ms per trace), which made a
#: 50-section report take 10 s. The figures here are fixed code, not user input, so the report
#: builds them unvalidated; the tests turn validation on (``VALIDATE = True``) to prove them valid.
VALIDATE = False


def _trace(kind: type, **props: Any) -> Any:
    return kind(_validate=VALIDATE, **props)


def _figure(data: Any = None, layout: Any = None) -> go.Figure:
    return go.Figure(data=data, layout=layout, _validate=VALIDATE)


def fate_colour(fate: str) -> str:
    return FATE_COLOURS.get(fate, UNKNOWN_FATE_COLOUR)


def _layout(**kwargs: Any) -> dict[str, Any]:
    """Layout shared by every chart. No template here: the page applies plotly_white once to
    every figure (setting it per figure costs ~0.5 s of plotly validation and ~8 KB each)."""
    base: dict[str, Any] = dict(
        template=None,
        font=_FONT,
        margin=dict(l=60, r=20, t=40, b=45),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0),
        hovermode="closest",
    )
    base.update(kwargs)
    return base


# ---------------------------------------------------------------- capture timeline


@dataclass(frozen=True, slots=True)
class TimelinePlan:
    """What the capture timeline shows and why (the page states ``note`` when it is set)."""

    rows: pd.DataFrame  # connections drawn, in bar order, with a ``row`` column
    webgl: bool
    total: int
    note: str


def plan_timeline(connections: pd.DataFrame, *, max_bars: int = MAX_TIMELINE_BARS) -> TimelinePlan:
    """Choose which connections the capture timeline draws, and with which renderer."""
    total = len(connections)
    conns = connections.sort_values(["start_ns", "id"], kind="stable")
    note = ""
    if total > max_bars:
        failing = conns["fate"].isin([str(f) for f in FAILURE_FATES])
        keep = failing.to_numpy().copy()
        budget = max(max_bars - int(keep.sum()), 0)
        rest = np.flatnonzero(~keep)
        if budget and len(rest):
            keep[rest[np.linspace(0, len(rest) - 1, num=min(budget, len(rest))).astype(int)]] = True
        conns = conns[keep]
        note = (
            f"{total:,} connections: the timeline draws all {int(failing.sum()):,} failing ones and "
            f"an evenly spaced sample of the others ({len(conns):,} bars in all) so the page stays "
            "responsive; the table below lists every connection."
        )
    webgl = len(conns) > WEBGL_ABOVE
    if webgl:
        why = (
            f"Drawn with WebGL: {len(conns):,} bars are too many for SVG to zoom smoothly. "
            "Hover a bar's start for details; click it to open the connection."
        )
        note = f"{note} {why}".strip()
    if len(conns) > BUSY_ABOVE:
        note = (
            f'{note} Only the failing connections\' events are marked; click an "others" '
            "entry in the legend to show the rest (and FIN)."
        ).strip()
    rows = conns.reset_index(drop=True).assign(row=lambda d: np.arange(len(d)))
    return TimelinePlan(rows=rows, webgl=webgl, total=total, note=note)


def capture_timeline(
    plan: TimelinePlan, events: pd.DataFrame, origin_ns: int, *, sections: frozenset[int]
) -> go.Figure:
    """Every connection as a bar over capture-relative seconds, coloured by fate."""
    rows = plan.rows
    scatter = go.Scattergl if plan.webgl else go.Scatter
    start = (rows["start_ns"].to_numpy(np.int64) - origin_ns) / 1e9
    end = (rows["end_ns"].to_numpy(np.int64) - origin_ns) / 1e9
    y = rows["row"].to_numpy(np.float64)
    fig = _figure(layout=_layout())
    fates = rows["fate"].astype(str).to_numpy()
    ordered = [str(f) for f in FATE_ORDER] + sorted(set(fates) - {str(f) for f in FATE_ORDER})
    for fate in ordered:
        mask = fates == fate
        if not mask.any():
            continue
        n = int(mask.sum())
        # One line trace per fate: x = start, end, NaN per bar (NaN breaks the line).
        xs = np.column_stack([start[mask], end[mask], np.full(n, np.nan)]).ravel()
        ys = np.column_stack([y[mask], y[mask], np.full(n, np.nan)]).ravel()
        colour = fate_colour(fate)
        fig.add_trace(
            _trace(
                scatter,
                x=_compact(xs, plan.webgl),
                y=_compact(ys, plan.webgl),
                mode="lines",
                line=dict(color=colour, width=4 if len(rows) < 200 else 2),
                name=f"{fate} ({n:,})",
                legendgroup=fate,
                hoverinfo="skip",
            )
        )
        # Hover and click live on a marker at each bar's start: line hover in WebGL only
        # reports vertices, and one marker per bar keeps hover data to one entry per bar.
        sub = rows[mask]
        if plan.webgl:
            # Numbers only (id, duration): per-bar hover strings were 100 bytes x 30k bars.
            # The table and the click (which opens the connection) give the addresses.
            hover: dict[str, Any] = dict(
                customdata=np.column_stack(
                    [sub["id"].to_numpy(np.float64), end[mask] - start[mask]]
                ).astype(np.float32),
                hovertemplate=(
                    f"#%{{customdata[0]}} {escape(fate)}<br>from %{{x:.3f}} s, "
                    "lasting %{customdata[1]:.3f} s<extra></extra>"
                ),
            )
        else:
            hover = dict(
                customdata=sub["id"].to_numpy(np.int64),
                hovertext=_bar_hover(sub, start[mask], end[mask], sections),
                hovertemplate="%{hovertext}<extra></extra>",
            )
        fig.add_trace(
            _trace(
                scatter,
                x=_compact(start[mask], plan.webgl),
                y=_compact(y[mask], plan.webgl),
                mode="markers",
                marker=dict(color=colour, size=6 if len(rows) < 200 else 4, symbol="line-ns"),
                marker_line=dict(color=colour, width=2),
                name=fate,
                legendgroup=fate,
                showlegend=False,
                **hover,
            )
        )
    _add_event_marks(fig, events, rows, origin_ns, scatter)
    n = len(rows)
    height = int(min(max(220, 14 * n + 110), 720))
    small = n <= 40
    fig.update_layout(
        height=height,
        xaxis=dict(title="seconds since capture start", zeroline=False),
        yaxis=dict(
            title="connection" if small else f"connections by start time ({n:,})",
            autorange="reversed",
            tickmode="array" if small else "auto",
            tickvals=y.tolist() if small else None,
            ticktext=[f"#{i}" for i in rows["id"]] if small else None,
            showticklabels=small,
            zeroline=False,
            showgrid=small,
        ),
    )
    return fig


def _compact(values: np.ndarray, webgl: bool) -> np.ndarray:
    """float32 for WebGL timelines: half the bytes, and WebGL draws in float32 anyway.
    (Sub-millisecond placement is lost on captures longer than a few hours; hover and the
    table keep the exact times.)"""
    return values.astype(np.float32) if webgl else values


def _bar_hover(
    rows: pd.DataFrame, start: np.ndarray, end: np.ndarray, sections: frozenset[int]
) -> list[str]:
    # Plotly renders hover text as its own mini-markup (<br>, <a href>...), so every string
    # is escaped here even though addresses and fate names are ours, not free capture text.
    out = []
    for rec, s, e in zip(rows.itertuples(index=False), start, end, strict=True):
        link = " (details below)" if int(rec.id) in sections else ""
        out.append(
            f"#{rec.id} {escape(_endpoint(rec.client_ip, rec.client_port))} → "
            f"{escape(_endpoint(rec.server_ip, rec.server_port))}<br>{escape(str(rec.fate))}{link}<br>"
            f"{s:.3f}–{e:.3f} s ({e - s:.3f} s), {rec.packets} packets"
        )
    return out


def _endpoint(ip: object, port: object) -> str:
    text = str(ip)
    return f"[{text}]:{port}" if ":" in text else f"{text}:{port}"


#: Above this many bars the marks would hide the bars themselves (a RST or FIN on every
#: short connection): only the failing connections' marks are shown, the others (and every
#: FIN) stay in the legend, one click away.
BUSY_ABOVE = 200


def _add_event_marks(
    fig: go.Figure, events: pd.DataFrame, rows: pd.DataFrame, origin_ns: int, scatter: type
) -> None:
    if events.empty:
        return
    webgl = scatter is go.Scattergl
    busy = len(rows) > BUSY_ABOVE
    row_of = pd.Series(rows["row"].to_numpy(), index=rows["id"].to_numpy())
    failing_ids = rows.loc[rows["fate"].isin([str(f) for f in FAILURE_FATES]), "id"]
    drawn = events[events["conn"].isin(row_of.index)]
    kinds = drawn["kind"].astype(str)
    on_failing = drawn["conn"].isin(failing_ids)
    for mark in MARKS:
        of_kind = kinds.isin(mark.kinds)
        if not busy:
            groups = [(drawn[of_kind], f"{mark.label} ({int(of_kind.sum()):,})", True)]
        else:
            hide_all = EventKind.FIN in mark.kinds
            groups = [
                (
                    drawn[of_kind & on_failing],
                    f"{mark.label}, failing ({int((of_kind & on_failing).sum()):,})",
                    not hide_all,
                ),
                (
                    drawn[of_kind & ~on_failing],
                    f"{mark.label}, others ({int((of_kind & ~on_failing).sum()):,})",
                    False,
                ),
            ]
        for sel, name, visible in groups:
            if sel.empty:
                continue
            fig.add_trace(
                _trace(
                    scatter,
                    x=_compact((sel["time_ns"].to_numpy(np.int64) - origin_ns) / 1e9, webgl),
                    y=_compact(row_of.loc[sel["conn"].to_numpy()].to_numpy(np.float64), webgl),
                    mode="markers",
                    name=name,
                    marker=dict(
                        symbol=mark.symbol,
                        color=mark.colour,
                        size=5 if busy else 8,
                        line=dict(color=mark.colour, width=1 if busy else 1.5),
                    ),
                    customdata=sel["conn"].to_numpy(np.int32 if webgl else np.int64),
                    hovertemplate=f"#%{{customdata}} {mark.label} at %{{x:.6f}} s<extra></extra>",
                    visible=True if visible else "legendonly",
                )
            )


# ---------------------------------------------------------------- time-sequence graph


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

    @property
    def carries_data(self) -> bool:
        return bool(((self.rows["seg_len"] > 0) | ((self.rows["flags"] & FIN) != 0)).any())


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
    return ConnSegments(rows=rows, scaled_known=bool((syn & fc).any() and (syn & ~fc).any()))


def time_sequence(conn: ConnSegments, events: pd.DataFrame) -> tuple[go.Figure | None, str]:
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
    traces: list[go.Scatter] = []
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
    layout = _panels([t for _, t in present], ranges)
    return _figure(data=traces, layout=layout), "; ".join(notes)


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


def _panels(titles: list[str], ranges: list[tuple[float, float] | None]) -> dict[str, Any]:
    """Panels stacked top to bottom over one shared x axis, each titled in its corner."""
    n = max(len(titles), 1)
    gap = 0.1
    height = (1 - gap * (n - 1)) / n
    layout = _layout(height=240 * n + 80)
    layout["xaxis"] = dict(title="seconds since connection start", anchor=f"y{n}" if n > 1 else "y")
    annotations = []
    for i, title in enumerate(titles):
        top = 1 - i * (height + gap)
        name = "yaxis" if i == 0 else f"yaxis{i + 1}"
        layout[name] = dict(
            title="relative seq",
            domain=[max(top - height, 0.0), min(top, 1.0)],
            rangemode="tozero",
            anchor="x",
        )
        fitted = ranges[i]
        if fitted is not None:
            layout[name]["range"] = list(fitted)
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
    layout["annotations"] = annotations
    layout["legend"] = dict(orientation="h", yanchor="bottom", y=1.06, xanchor="right", x=1)
    return layout


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
) -> list[go.Scatter]:
    t = mine["t"].to_numpy(float)
    lo = mine["rel_seq"].to_numpy(np.int64)
    # seq_end counts SYN and FIN as one sequence number each (RFC 9293 3.4): they get a beam too.
    hi = mine["seq_end"].to_numpy(np.int64)
    flags = mine["flags"].to_numpy(np.int64)
    frames = mine["frame"].to_numpy(np.int64)
    labels = [str(kind_at.get(int(f), "")) for f in frames]
    nan = np.full(len(t), np.nan)
    traces = [
        _trace(
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
        _trace(
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
                _trace(
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
) -> list[go.Scatter]:
    t = mine["t"].to_numpy(float)
    frames = mine["frame"].to_numpy(np.int64)
    kinds = [set(lab.split(", ")) if lab else set() for lab in labels]
    out = []
    for mark in MARKS:
        hit = np.array([bool(k & mark.kinds) for k in kinds], dtype=bool)
        if not hit.any():
            continue
        out.append(
            _trace(
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


# ---------------------------------------------------------------- backoff gaps


@dataclass(frozen=True, slots=True)
class RetrySeries:
    """Attempts of one thing sent again and again (times in seconds from the first)."""

    label: str  # "SYN (client)", "RTO of seq 1 (server)", ...
    times: tuple[float, ...]  # the first attempt and each retry, capture-relative seconds
    frames: tuple[int, ...]

    @property
    def gaps(self) -> np.ndarray:
        return np.diff(np.asarray(self.times, dtype=float))


#: Kinds that form a retry series with the original attempt that precedes them.
_SERIES: tuple[tuple[str, frozenset[str], str], ...] = (
    ("SYN", frozenset({EventKind.SYN, EventKind.SYN_RETRANSMIT}), EventKind.SYN_RETRANSMIT),
    (
        "SYN+ACK",
        frozenset({EventKind.SYNACK, EventKind.SYNACK_RETRANSMIT}),
        EventKind.SYNACK_RETRANSMIT,
    ),
    ("window probe", frozenset({EventKind.WINDOW_PROBE}), EventKind.WINDOW_PROBE),
    ("keepalive probe", frozenset({EventKind.KEEPALIVE}), EventKind.KEEPALIVE),
)


def retry_series(conn: ConnSegments, events: pd.DataFrame, origin_ns: int) -> list[RetrySeries]:
    """Every series with at least one retry: handshake, probes, and RTO per segment.

    RTO series are found per (sender, relative seq): the original transmission plus each
    RTO retransmission of that sequence number; the longest such series is kept per sender
    (the one that shows the backoff; a connection that recovered has short ones).
    Plain Python over one connection's few events (pandas filtering cost 50 ms a section).
    """
    out: list[RetrySeries] = []
    if events.empty:
        return out
    rows = list(
        zip(
            events["kind"].astype(str).tolist(),
            events["side"].astype(str).tolist(),
            events["time_ns"].astype(np.int64).tolist(),
            events["frame"].astype(np.int64).tolist(),
            strict=True,
        )
    )
    for label, members, retry_kind in _SERIES:
        for who in ("client", "server"):
            sel = [(t, f, k) for k, side, t, f in rows if side == who and k in members]
            if len(sel) < 2 or not any(k == retry_kind for _, _, k in sel):
                continue
            out.append(
                RetrySeries(
                    f"{label} ({who})",
                    tuple((t - origin_ns) / 1e9 for t, _, _ in sel),
                    tuple(f for _, f, _ in sel),
                )
            )
    rto = {f for k, _, _, f in rows if k in (EventKind.RETRANSMIT, EventKind.FIN_RETRANSMIT)}
    out.extend(_rto_series(conn.rows, rto))
    return out


def _rto_series(seg: pd.DataFrame, rto_frames: set[int]) -> list[RetrySeries]:
    """Per sender, the longest run of RTO retransmissions of one sequence number."""
    if not rto_frames:
        return []
    flags = seg["flags"].to_numpy(np.int64)
    carries = (seg["seg_len"].to_numpy(np.int64) > 0) | ((flags & FIN) != 0)
    frame = seg["frame"].to_numpy(np.int64)[carries]
    t = seg["t"].to_numpy(float)[carries]
    fc = seg["from_client"].to_numpy(bool)[carries]
    rel = seg["rel_seq"].to_numpy(np.int64)[carries]
    is_rto = np.isin(frame, np.fromiter(rto_frames, dtype=np.int64))
    longest: dict[bool, RetrySeries] = {}
    for side, rel_seq in sorted(
        {(bool(a), int(b)) for a, b in zip(fc[is_rto], rel[is_rto], strict=True)}
    ):
        same = (fc == side) & (rel == rel_seq)
        # The first transmission of that sequence number, then its RTO retransmissions.
        first = int(np.flatnonzero(same)[0])
        pick = same & is_rto
        pick[first] = True
        if pick.sum() < 2:
            continue
        who = "client" if side else "server"
        series = RetrySeries(
            f"RTO of seq {rel_seq} ({who})", tuple(t[pick].tolist()), tuple(frame[pick].tolist())
        )
        if side not in longest or len(series.times) > len(longest[side].times):
            longest[side] = series
    return [longest[k] for k in sorted(longest, reverse=True)]


#: Bar colours of the backoff series (one per series, in order).
SERIES_COLOURS = ("#1565c0", "#ef6c00", "#6a1b9a", "#2e7d32", "#c62828", "#00838f")


def backoff(series: list[RetrySeries]) -> go.Figure | None:
    """Bar chart of the gap before each retry, one colour per series, log y axis.

    The y ticks sit at the measured gaps themselves (0.2, 0.4, 0.8...), so the doubling can
    be read off the axis; each bar is labelled with its gap and its ratio to the previous one.
    """
    series = [s for s in series if len(s.gaps) and (s.gaps > 0).all()]
    if not series:
        return None
    bars = []
    for s, colour in zip(series, _cycle(SERIES_COLOURS, len(series)), strict=True):
        gaps = s.gaps
        ratios = np.concatenate([[np.nan], gaps[1:] / gaps[:-1]])
        text = [
            _seconds(g) + ("" if np.isnan(r) else f" ×{r:.2g}")
            for g, r in zip(gaps, ratios, strict=True)
        ]
        bars.append(
            _trace(
                go.Bar,
                x=np.arange(1, len(gaps) + 1),
                y=gaps,
                name=s.label,
                marker=dict(color=colour),
                text=text,
                textposition="outside",
                cliponaxis=False,
                customdata=np.asarray(s.frames[1:]),
                hovertemplate=s.label
                + ": retry %{x} (frame %{customdata}) after %{y:.4f} s<extra></extra>",
            )
        )
    every = np.concatenate([s.gaps for s in series])
    ticks = np.unique([float(f"{g:.2g}") for g in every])
    if len(ticks) > 10:
        ticks = ticks[np.linspace(0, len(ticks) - 1, num=10).astype(int)]
    longest = max(len(s.gaps) for s in series)
    return _figure(
        data=bars,
        layout=_layout(
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
                ticktext=[_seconds(t) for t in ticks],
                range=[math.log10(every.min() / 4), math.log10(every.max() * 3)],
            ),
        ),
    )


def _cycle(values: tuple[str, ...], n: int) -> list[str]:
    return [values[i % len(values)] for i in range(n)]


def _seconds(value: float) -> str:
    return f"{value * 1000:.3g} ms" if value < 0.1 else f"{value:.3g} s"
