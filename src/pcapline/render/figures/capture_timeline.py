"""The capture timeline: every connection as a bar from its first to its last frame.

Bars are coloured by fate and carry their connection's events as marks. They are drawn as one
line trace per fate with NaN gaps between connections (one trace per connection would be
10,000 SVG groups). Above ``WEBGL_ABOVE`` connections the traces switch to ``scattergl``
(WebGL), chosen by measuring in headless Chromium (software GL, 2 loaded cores; draw / one
zoom step): 500 bars SVG 2.0 s / 0.1-0.5 s, WebGL 2.4 s / 0.1 s; 1,500 bars SVG 2.1 s /
0.6-1.1 s, WebGL 2.2 s / 0.1 s; 6,000 bars SVG 5.8 s / 1.5-2.2 s, WebGL 3.1 s / 0.01-0.13 s.
SVG keeps full hover text (addresses) for small captures; WebGL carries numbers only (float32,
id and duration) so 30k bars stay a few hundred KB. Above ``MAX_TIMELINE_BARS`` every failing
connection and an evenly spaced sample of the rest are drawn, and the page says so. 10,000, not
50,000: the bench capture's 58 k connections drew 50,000 bars (a 2.9 MB figure) in 1.7 s and
then held the page's main thread for 3-9 s more (headless Chromium, 2 loaded cores); 10,000
bars (every failing connection among them) draw in 1.3 s and free the page 1.8-2.2 s later,
and a 720-pixel-high chart shows no more rows than that anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from pcapline.fmt import endpoint, utc
from pcapline.model import EventKind, failing
from pcapline.render.figures.stall_strip import add_stall_strip
from pcapline.render.palette import FATE_ORDER, MARKS, Figure, fate_colour, figure, layout, trace

WEBGL_ABOVE = 600
MAX_TIMELINE_BARS = 10_000
#: Above this many bars the marks would hide the bars themselves (a RST or FIN on every
#: short connection): only the failing connections' marks are shown, the others (and every
#: FIN) stay in the legend, one click away.
BUSY_ABOVE = 200


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
        failed = failing(conns["fate"])
        keep = failed.copy()
        budget = max(max_bars - int(keep.sum()), 0)
        rest = np.flatnonzero(~keep)
        if budget and len(rest):
            keep[rest[np.linspace(0, len(rest) - 1, num=min(budget, len(rest))).astype(int)]] = True
        conns = conns[keep]
        note = (
            f"{total:,} connections: the timeline draws all {int(failed.sum()):,} failing ones and "
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
    plan: TimelinePlan,
    events: pd.DataFrame,
    origin_ns: int,
    *,
    sections: frozenset[int],
    stalls: pd.DataFrame | None = None,
) -> Figure:
    """Every connection as a bar over capture-relative seconds, coloured by fate; with
    ``stalls`` (``stall_strip.stall_rows``), the time each lost as a strip under its bar."""
    rows = plan.rows
    scatter = go.Scattergl if plan.webgl else go.Scatter
    start = (rows["start_ns"].to_numpy(np.int64) - origin_ns) / 1e9
    end = (rows["end_ns"].to_numpy(np.int64) - origin_ns) / 1e9
    y = rows["row"].to_numpy(np.float64)
    fig = figure(layout=layout())
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
            trace(
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
            trace(
                scatter,
                x=_compact(start[mask], plan.webgl),
                y=_compact(y[mask], plan.webgl),
                mode="markers",
                marker=dict(
                    color=colour,
                    line=dict(color=colour, width=2),
                    size=6 if len(rows) < 200 else 4,
                    symbol="line-ns",
                ),
                name=fate,
                legendgroup=fate,
                showlegend=False,
                **hover,
            )
        )
    if stalls is not None:
        row_of = pd.Series(rows["row"].to_numpy(np.float64), index=rows["id"].to_numpy())
        add_stall_strip(
            fig, stalls, row_of, origin_ns, scatter, width=3 if len(rows) < 200 else 1.5
        )
    _add_event_marks(fig, events, rows, origin_ns, scatter)
    n = len(rows)
    height = int(min(max(220, 14 * n + 110), 720))
    small = n <= 40
    fig.update_layout(
        height=height,
        xaxis=dict(title=f"seconds since capture start, {utc(origin_ns)} UTC", zeroline=False),
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
    for conn_id, client_ip, client_port, server_ip, server_port, fate, packets, s, e in zip(
        rows["id"].astype(np.int64).tolist(),
        rows["client_ip"],
        rows["client_port"],
        rows["server_ip"],
        rows["server_port"],
        rows["fate"],
        rows["packets"],
        start,
        end,
        strict=True,
    ):
        link = " (details below)" if conn_id in sections else ""
        out.append(
            f"#{conn_id} {escape(endpoint(client_ip, client_port))} → "
            f"{escape(endpoint(server_ip, server_port))}<br>{escape(str(fate))}{link}<br>"
            f"{s:.3f}–{e:.3f} s ({e - s:.3f} s), {packets} packets"
        )
    return out


def _add_event_marks(
    fig: Figure, events: pd.DataFrame, rows: pd.DataFrame, origin_ns: int, scatter: type[Any]
) -> None:
    if events.empty:
        return
    webgl = scatter is go.Scattergl
    busy = len(rows) > BUSY_ABOVE
    row_of = pd.Series(rows["row"].to_numpy(), index=rows["id"].to_numpy())
    failing_ids = rows.loc[failing(rows["fate"]), "id"]
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
                trace(
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
