"""The stall strip: under each capture-timeline bar, the time that connection lost, by cause.

Each stall the delays stage recorded (``delays.Stall``: SYN or SYN+ACK retries, an RTO episode,
a zero window, a full receive window) is a short thick segment just under its connection's bar, from where the wait
began to where it ended, coloured by cause (``palette.STALL_COLOURS``); one line trace per
cause with NaN gaps, as the bars themselves, so thousands of stalls stay a few traces.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from pcapline.delays import DelaysTable
from pcapline.model import StallCause
from pcapline.render.palette import STALL_COLOURS, Figure, trace

if TYPE_CHECKING:
    from pcapline.delays import Delays, Stall

#: How far under its bar (in rows) a connection's strip is drawn.
OFFSET = 0.3

STALL_LABELS: dict[str, str] = {
    StallCause.SYN_RETRY: "lost to SYN retries",
    StallCause.SYNACK_RETRY: "lost to SYN+ACK retries",
    StallCause.RTO: "lost to RTO episodes",
    StallCause.ZERO_WINDOW: "blocked by a zero window",
    StallCause.WINDOW_FULL: "blocked by a full receive window",
    StallCause.NAGLE: "small writes held for a delayed ACK",
}


def stall_rows(delays: Mapping[int, Delays], ids: Iterable[int]) -> pd.DataFrame:
    """Every stall of the connections ``ids``: conn, cause, start_ns, end_ns, recovered.

    Reads only the connections that have stalls (``DelaysTable.stalls``: those that lost time)
    when the table offers them, so a capture of healthy connections costs nothing here."""
    wanted = set(int(i) for i in ids)
    if isinstance(delays, DelaysTable):
        candidates = {conn for conn in wanted if conn in delays.stalls}
        stalls_of = delays.stalls_of
    else:
        candidates = wanted & set(delays)

        def stalls_of(conn: int) -> tuple[Stall, ...]:
            return delays[conn].stalls

    out: list[tuple[int, str, int, int, bool]] = []
    for conn in sorted(candidates):
        for s in stalls_of(conn):
            out.append((conn, s.cause.value, s.start_ns, s.end_ns, s.recovered))
    return pd.DataFrame(out, columns=["conn", "cause", "start_ns", "end_ns", "recovered"])


def total_lost(seconds: float) -> str:
    """A legend's total of lost time, never in exponent notation (``:.3g`` wrote 1440 s as
    ``1.44e+03 s`` and 43 us as ``4.3e-05 s``): ``43 µs``, ``1.45 ms``, ``648 ms``,
    ``8.89 s``, ``1,440 s``."""
    if seconds < 0.001:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1000:.3g} ms"
    if seconds < 100:
        return f"{seconds:.3g} s"
    return f"{seconds:,.0f} s"


def add_stall_strip(
    fig: Figure,
    stalls: pd.DataFrame,
    row_of: pd.Series,
    origin_ns: int,
    scatter: type[Any],
    *,
    width: float,
) -> None:
    """One line trace per cause under the bars (``row_of``: conn id -> row on the y axis)."""
    if stalls.empty:
        return
    drawn = stalls[stalls["conn"].isin(row_of.index)]
    for cause in StallCause:
        sel = drawn[drawn["cause"] == cause.value]
        if sel.empty:
            continue
        n = len(sel)
        start = (sel["start_ns"].to_numpy(np.int64) - origin_ns) / 1e9
        end = (sel["end_ns"].to_numpy(np.int64) - origin_ns) / 1e9
        y = row_of.loc[sel["conn"].to_numpy()].to_numpy(np.float64) + OFFSET
        lost = end - start
        xs = np.column_stack([start, end, np.full(n, np.nan)]).ravel()
        ys = np.column_stack([y, y, np.full(n, np.nan)]).ravel()
        fig.add_trace(
            trace(
                scatter,
                x=xs,
                y=ys,
                mode="lines",
                line=dict(color=STALL_COLOURS[cause], width=width),
                name=f"{STALL_LABELS[cause]} ({n:,}, {total_lost(float(lost.sum()))})",
                legendgroup=f"stall-{cause.value}",
                hoverinfo="skip",
            )
        )
        fig.add_trace(
            trace(
                scatter,
                x=start,
                y=y,
                mode="markers",
                marker=dict(color=STALL_COLOURS[cause], size=4, symbol="line-ns"),
                legendgroup=f"stall-{cause.value}",
                showlegend=False,
                customdata=np.column_stack([sel["conn"].to_numpy(np.float64), lost]),
                hovertemplate=f"#%{{customdata[0]}} {STALL_LABELS[cause]}: "
                "%{customdata[1]:.3f} s from %{x:.3f} s<extra></extra>",
            )
        )
