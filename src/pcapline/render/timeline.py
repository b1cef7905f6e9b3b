"""The annotated timeline as fixed-width text (``pcapline timeline``, ``analyze --stream N``).

Reads the ``TimelineRow`` records of ``pcapline.timeline`` and decides nothing about TCP: one
line per frame, a state shown only on the row where it changes, and a legend for the marks:

- ``*`` after a seq/ack: the raw header value (``Numbering.RAW``);
- ``'`` after a seq/ack: counted from the first seq captured of that side, its SYN was not
  captured (``Numbering.FIRST_SEEN``);
- ``~`` after a window: the raw header value, the window scale is unknown;
- ``◆ fate`` (``# fate`` in ASCII) first in the events: a frame the connection's verdict
  rests on (``Decision.evidence_frames``, the JSON's ``evidence_frames``; the HTML timeline
  highlights the same frames).

Deterministic (fixed column order, widths from the content) for golden tests.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from pcapline.fmt import duration, utc
from pcapline.timeline import (
    ConnectionRow,
    EventLabel,
    NoticeRow,
    Numbering,
    TimelineRow,
    connection_notices,
    connection_timeline,
    row_field,
)

if TYPE_CHECKING:
    from pcapline.analysis import Analysis

__all__ = ["connection_timeline_text", "render_timeline_text", "timeline_title"]


@dataclass(frozen=True, slots=True)
class _Column:
    title: str
    align: str  # "<" or ">"


_COLUMNS: tuple[_Column, ...] = (
    _Column("frame", ">"),
    _Column("time", ">"),
    _Column("delta", ">"),
    _Column("dir", "<"),
    _Column("flags", "<"),
    _Column("seq", ">"),
    _Column("ack", ">"),
    _Column("len", ">"),
    _Column("win", ">"),
    _Column("client", "<"),
    _Column("server", "<"),
    _Column("events", "<"),
)

#: The mark after a seq/ack number, by what it counts from.
_NUMBER_MARK: dict[Numbering, str] = {
    Numbering.ISN: "",
    Numbering.FIRST_SEEN: "'",
    Numbering.RAW: "*",
}


def _event_text(labels: Iterable[EventLabel]) -> str:
    return "; ".join(f"{lab.kind} ({lab.note})" if lab.note else lab.kind for lab in labels)


def _cells(
    row: TimelineRow, *, ascii_only: bool, delta_s: float, verdict: str | None = None
) -> list[str]:
    events = _event_text(row.labels)
    if verdict is not None:
        mark = _verdict_mark(verdict, ascii_only=ascii_only)
        events = f"{mark}; {events}" if events else mark
    return [
        str(row.frame),
        f"{row.time_s:.6f}",
        duration(delta_s),
        row.arrow_ascii if ascii_only else row.arrow,
        row.flags,
        f"{row.seq}{_NUMBER_MARK[row.seq_from]}",
        "" if row.ack_from is None else f"{row.ack}{_NUMBER_MARK[row.ack_from]}",
        str(row.length),
        str(row.window) if row.window_scale_known else f"{row.window}~",
        str(row.client_state) if row.client_state_changed else "",
        str(row.server_state) if row.server_state_changed else "",
        events,
    ]


def _verdict_mark(fate: str, *, ascii_only: bool) -> str:
    """The mark of a frame the verdict rests on, as the HTML timeline draws it."""
    return f"{'#' if ascii_only else '◆'} {fate}"


def _notice_cells(row: NoticeRow, *, ascii_only: bool, delta_s: float) -> list[str]:
    arrow = row.arrow_ascii if ascii_only else row.arrow
    return (
        [str(row.frame), f"{row.time_s:.6f}", duration(delta_s), arrow, "ICMP"]
        + [""] * 6
        + [_event_text(row.labels)]
    )


def _lines(
    rows: Sequence[TimelineRow],
    notices: Sequence[NoticeRow],
    *,
    ascii_only: bool,
    evidence: frozenset[int] = frozenset(),
    fate: str = "verdict",
) -> list[list[str]]:
    """Segment rows and notice rows in frame order. A segment's delta is its own (since the
    connection's previous segment) unless a notice line stands between them: every delta
    then counts from the line above it."""
    merged: list[TimelineRow | NoticeRow] = sorted([*rows, *notices], key=lambda r: r.frame)
    out: list[list[str]] = []
    previous: TimelineRow | NoticeRow | None = None
    for r in merged:
        since_line = r.time_s - previous.time_s if previous is not None else 0.0
        if isinstance(r, TimelineRow):
            delta = r.delta_s if not isinstance(previous, NoticeRow) else since_line
            verdict = fate if r.frame in evidence else None
            out.append(_cells(r, ascii_only=ascii_only, delta_s=delta, verdict=verdict))
        else:
            out.append(_notice_cells(r, ascii_only=ascii_only, delta_s=since_line))
        previous = r
    return out


def render_timeline_text(
    rows: list[TimelineRow],
    *,
    title: str | None = None,
    ascii_only: bool = False,
    notices: Sequence[NoticeRow] = (),
    evidence: Iterable[int] = (),
    fate: str | None = None,
    start_ns: int | None = None,
) -> str:
    """Fixed-width text, one line per frame; deterministic for golden tests.

    The client/server columns show a state only on the row where it changes; the legend
    explains the marks the rows use. ``ascii_only`` swaps the arrows for -> and <-.
    ``notices``: frames about the connection that are not its segments (ICMP errors), drawn
    in frame order between them. ``evidence``: the frames the verdict (``fate``) rests on,
    marked first in their events (``_verdict_mark``) and in the legend. ``time`` is exact
    (seconds since the connection's first frame, Wireshark's ``tcp.time_relative``: a frame
    is found by it), ``delta`` compact as the text table's durations (``fmt.duration``);
    ``start_ns``: the first frame's wall-clock time, said in the legend.
    """
    marked = frozenset(evidence) & {r.frame for r in rows}
    verdict = fate or "verdict"
    lines_ = _lines(rows, notices, ascii_only=ascii_only, evidence=marked, fate=verdict)
    table = [[c.title for c in _COLUMNS], *lines_]
    widths = [max(len(line[i]) for line in table) for i in range(len(_COLUMNS))]
    lines: list[str] = []
    if title:
        lines.append(title)
    for line in table:
        cells = [
            f"{cell:{col.align}{width}}"
            for cell, col, width in zip(line, _COLUMNS, widths, strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    if not rows:
        lines.append("(no frames)")
    legend = _legend(rows, ascii_only=ascii_only, notices=bool(notices), start_ns=start_ns)
    if marked:
        mark = _verdict_mark(verdict, ascii_only=ascii_only)
        legend = f"{mark}: a frame the verdict rests on; {legend}"
    lines.append(legend)
    return "\n".join(lines) + "\n"


def _legend(
    rows: list[TimelineRow], *, ascii_only: bool, notices: bool = False, start_ns: int | None = None
) -> str:
    right, left = ("->", "<-") if ascii_only else ("→", "←")
    parts = [f"{right} client to server, {left} server to client"]
    if rows:
        since = f"{utc(start_ns)} UTC" if start_ns is not None else "the connection's first frame"
        parts.append(f"time: seconds since {since}; delta: since the line above")
    if notices:
        parts.append(
            "ICMP: an ICMP error quoting this connection's segment, drawn toward the side it travels to (it changes no state drawn here)"
        )
    numberings = {r.seq_from for r in rows} | {r.ack_from for r in rows}
    if Numbering.RAW in numberings:
        parts.append("* absolute seq/ack (SYN not captured)")
    if Numbering.FIRST_SEEN in numberings:
        parts.append("' seq/ack counted from the first one captured (SYN not captured)")
    if not all(r.window_scale_known for r in rows):
        parts.append("~ raw window, scale unknown (the real window may be larger)")
    parts.append("states as inferred at the capture point; ? = not yet known")
    return "; ".join(parts)


def timeline_title(connection_row: ConnectionRow, *, ascii_only: bool = False) -> str:
    """ "connection 3: 10.0.0.1:40000 → 10.0.0.2:80, fate closed" (fields that exist only)."""
    arrow = "->" if ascii_only else "→"
    field = functools.partial(row_field, connection_row)
    client = f"{field('client_ip')}:{field('client_port')}"
    server = f"{field('server_ip')}:{field('server_port')}"
    text = f"connection {field('id')}: client {client} {arrow} server {server}"
    if bool(field("client_guessed")):
        text += " (client side guessed)"
    fate = field("fate")  # None when absent or NaN
    if fate is not None:
        text += f", fate {fate}"
    return text


def connection_timeline_text(analysis: Analysis, conn_id: int, *, ascii_only: bool = False) -> str:
    """The text timeline of connection ``conn_id`` of an ``Analysis`` (the CLI's output).

    Raises ``KeyError`` when the capture has no connection ``conn_id``.
    """
    rows = connection_timeline(analysis, conn_id)
    connection = analysis.connection(conn_id)
    title = timeline_title(connection, ascii_only=ascii_only)
    notices = connection_notices(analysis, conn_id)
    frames = row_field(connection, "evidence_frames")
    fate = row_field(connection, "fate")
    start = row_field(connection, "start_ns")
    return render_timeline_text(
        rows,
        title=title,
        ascii_only=ascii_only,
        notices=notices,
        evidence=[int(f) for f in frames] if isinstance(frames, list | tuple | np.ndarray) else (),
        fate=None if fate is None else str(fate),
        start_ns=int(start) if isinstance(start, int | np.integer) else None,
    )
