"""detect: one small module per phenomenon turns a connection's segments into events.

A detector (``Detector``) reads one connection's rows (``ConnView``: read-only numpy slices of
``facts.Facts``) and reports what happened as events plus the settings it inferred
(``Detection``). It never sets a fate, never imports another detector and never reads another
detector's events; shared per-segment facts live in ``pcapline/facts.py``.

Speed: most connections in a big capture are healthy. Each detector has a vectorised
``screen`` over the whole capture saying which connections can show its phenomenon; per
connection Python runs only for connections some screen selected, and then every detector
runs on them (so ``classify`` has the full picture for each visited connection). Events that
need no context beyond their own row (the first SYN, a FIN, a RST, a zero-window
advertisement, a capture duplicate) are made for all connections at once by the detector's
``rows`` function, columnar.

Inside a visited connection, what a detector asks of every connection alike ("the server's
first reply after the SYN", "does this side have two retransmissions?") is answered by a
column-wise pass over the whole ``Batch`` of connections detected together
(``view.batch.of(pass)``, computed once, memoised), and the per-connection logic reads its
connection's answers (``view.at``). A numpy call costs about a microsecond whatever its size,
so a dozen calls on a connection's few dozen rows cost more than the work: one call over all
connections costs the work. A view made alone (``conn_view(facts, index)``: tests, classify's
late visits, the timeline) is a batch of one connection and runs the very same passes.

``DETECTORS`` is the explicit, ordered registry; ``run_all`` runs them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from itertools import chain, groupby
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast, overload

import numpy as np
import pandas as pd

from pcapline.facts import (
    ROW_COLUMNS,
    Facts,
    SegmentRows,
    any_per_connection,
    compute_facts,
    rows_per_connection,
)
from pcapline.icmp import IcmpError, IcmpMatches
from pcapline.model import EVENT_COLUMNS, Event, EventKind, Side

BoolArray = np.ndarray
Computed = TypeVar("Computed")

#: "No such row" in the per-connection row answers of a ``Batch`` pass.
NO_ROW = -1


def row_or_none(row: int) -> int | None:
    """A ``Batch`` pass's row answer as the per-connection logic spells it (None: no row)."""
    return None if row == NO_ROW else row


@dataclass(frozen=True, slots=True, eq=False)
class Batch:
    """Connections detected together: their rows, grouped by connection (frame order inside
    each), and the column-wise passes detectors made over them (memoised by pass function).

    Row answers are relative to their connection's first row (a ``ConnView``'s row numbers),
    ``NO_ROW`` when there is none.
    """

    rows: SegmentRows  # ``Facts``, or one connection's rows
    starts: np.ndarray  # each connection's first row, then len(rows)
    conn_index: np.ndarray  # per row: its connection's position in the batch
    memo: dict[Callable[[Batch], Any], Any] = field(default_factory=dict, repr=False)

    @staticmethod
    def of_facts(facts: Facts) -> Batch:
        return Batch(facts, facts.starts, facts.conn_index)

    @staticmethod
    def one(rows: SegmentRows) -> Batch:
        """A batch of one connection."""
        n = len(rows)
        return Batch(rows, np.array([0, n], dtype=np.int64), np.zeros(n, dtype=np.int64))

    def of(self, compute: Callable[[Batch], Computed]) -> Computed:
        """The pass ``compute`` over this batch, computed the first time it is asked for."""
        if compute not in self.memo:
            self.memo[compute] = compute(self)
        found: Computed = self.memo[compute]
        return found

    def count(self, mask: np.ndarray) -> np.ndarray:
        """Per connection: how many of its rows satisfy ``mask``."""
        return rows_per_connection(mask, self.starts)

    def any(self, mask: np.ndarray) -> list[bool]:
        """Per connection: does any of its rows satisfy ``mask``?"""
        found: list[bool] = any_per_connection(mask, self.starts).tolist()
        return found

    def first_from(self, mask: np.ndarray, start: np.ndarray) -> np.ndarray:
        """Per connection: its first row at or after relative row ``start`` where ``mask``
        holds (``NO_ROW``: none, or ``start`` is ``NO_ROW``)."""
        first = self.starts[:-1]
        rows = np.flatnonzero(mask)
        if not len(rows):
            return np.full(len(first), NO_ROW, dtype=np.int64)
        at = np.searchsorted(rows, first + np.where(start >= 0, start, len(mask)))
        # len(mask) where no row follows: past every connection's end (read per connection,
        # not by appending it to the rows: ``rows`` may be most of the batch's)
        found = np.where(at < len(rows), rows[np.minimum(at, len(rows) - 1)], len(mask))
        return np.where((start >= 0) & (found < self.starts[1:]), found - first, NO_ROW)

    def first(self, mask: np.ndarray) -> np.ndarray:
        """Per connection: its first row where ``mask`` holds (``NO_ROW``: none)."""
        return self.first_from(mask, np.zeros(len(self.starts) - 1, dtype=np.int64))

    def last(self, mask: np.ndarray) -> np.ndarray:
        """Per connection: its last row where ``mask`` holds (``NO_ROW``: none)."""
        rows = np.flatnonzero(mask)
        if not len(rows):
            return np.full(len(self.starts) - 1, NO_ROW, dtype=np.int64)
        at = np.searchsorted(rows, self.starts[1:]) - 1  # the last row before the next start
        found = np.where(at >= 0, rows[np.maximum(at, 0)], NO_ROW)  # at -1: no row before it
        first = self.starts[:-1]
        return np.where(found >= first, found - first, NO_ROW)

    def at_rows(self, values: np.ndarray, rows: np.ndarray, missing: int) -> np.ndarray:
        """Per connection: ``values`` (a column of the batch's rows) at its relative row
        ``rows[k]`` (what ``first``, ``last`` and ``first_after`` give), ``missing`` where
        that is ``NO_ROW``."""
        found = rows >= 0
        at = self.starts[:-1] + np.where(found, rows, 0)
        return np.where(found, values[np.minimum(at, max(len(values) - 1, 0))], missing)

    def first_after(self, mask: np.ndarray, after: np.ndarray) -> np.ndarray:
        """Per connection: its first row after relative row ``after`` where ``mask`` holds
        (``NO_ROW``: none, or ``after`` is ``NO_ROW``)."""
        return self.first_from(mask, np.where(after >= 0, after + 1, NO_ROW))

    def row_sets(self, mask: np.ndarray) -> RowSets:
        """Per connection: its rows where ``mask`` holds (meant for sparse masks)."""
        rows = np.flatnonzero(mask)
        bounds = np.searchsorted(rows, self.starts)
        relative = rows - self.starts[self.conn_index[rows]]
        return RowSets(relative.tolist(), bounds.tolist())


@dataclass(frozen=True, slots=True)
class RowSets:
    """Rows of each connection of a batch (relative), as Python lists: ``sets.at(k)``."""

    rows: list[int]
    bounds: list[int]  # connection k's rows are rows[bounds[k]:bounds[k + 1]]

    def at(self, k: int) -> list[int]:
        return self.rows[self.bounds[k] : self.bounds[k + 1]]


@dataclass(frozen=True, slots=True)
class ConnView(SegmentRows):
    """One connection's rows: read-only numpy slices of ``Facts`` (frame order)."""

    conn: int
    capture_end_ns: int  # last frame time of the whole capture: "did the capture go on?"
    #: The connections detected with this one, and this one's position among them.
    batch: Batch = field(repr=False, compare=False)
    at: int = 0

    def has(self, bit: int) -> np.ndarray:
        """Rows whose TCP flags include ``bit`` (model.SYN, model.FIN, ...)."""
        return np.asarray((self.flags & bit) != 0)

    def side(self, i: int) -> Side:
        return Side.CLIENT if self.from_client[i] else Side.SERVER

    def event(self, i: int, kind: EventKind, note: str = "", value: float | None = None) -> Event:
        """An event at row ``i`` of this connection."""
        return Event(
            conn=self.conn,
            frame=int(self.frame[i]),
            time_ns=int(self.time_ns[i]),
            side=self.side(i),
            kind=kind,
            note=note,
            value=value,
        )

    def seconds(self, i: int, j: int) -> float:
        """Time from row ``i`` to row ``j`` in seconds."""
        return float(self.time_ns[j] - self.time_ns[i]) / 1e9


def conn_view(facts: Facts, index: int, batch: Batch | None = None) -> ConnView:
    """The ``ConnView`` of the connection at position ``index`` of ``facts.conn_ids``.

    ``batch``: ``Batch.of_facts(facts)``, shared by the connections visited together (their
    column-wise passes are computed once for all); None: a batch of this connection alone.
    """
    lo, hi = int(facts.starts[index]), int(facts.starts[index + 1])
    if batch is not None and batch.rows is facts:
        columns = batch.of(_row_columns)  # read once for all the batch's views
    else:
        columns = [getattr(facts, name) for name in ROW_COLUMNS]
    rows = slice(lo, hi)
    arrays = [column[rows] for column in columns]  # ROW_COLUMNS order: SegmentRows' fields
    conn, end = int(facts.conn_ids[index]), facts.capture_end_ns
    if batch is None:
        batch, index = Batch.one(_rows_of(*arrays)), 0
    # Positionally (SegmentRows' fields first, then ConnView's own): 36 keywords cost more
    # than the slicing, once per visited connection.
    return _view_of(*arrays, conn, end, batch, index)


_rows_of: Callable[..., SegmentRows] = SegmentRows
_view_of: Callable[..., ConnView] = ConnView


def _row_columns(batch: Batch) -> list[np.ndarray]:
    """The per-segment columns of the batch's rows, in ROW_COLUMNS order."""
    return [getattr(batch.rows, name) for name in ROW_COLUMNS]


Inferred = TypeVar("Inferred", covariant=True)


@dataclass(frozen=True, slots=True)
class Detection(Generic[Inferred]):
    """What one detector found in one connection: its events and its own typed record.

    ``events``: a tuple of ``Event``, or ``EventColumns`` from a detector that judges its
    events column-wise over the batch (retransmit: a lossy capture has hundreds of thousands;
    ``run_all`` joins the columns as they are, no ``Event`` object is made for them)."""

    events: Sequence[Event]
    inferred: Inferred  # a frozen dataclass of the detector's own (see each module)


#: What a detector whose record can be None reports for a connection without its phenomenon:
#: one shared value (immutable), not a new one per visited connection.
NOTHING: Detection[None] = Detection((), None)


@dataclass(frozen=True, slots=True)
class Detector(Generic[Inferred]):
    name: str  # same as the module, and the ``ConnDetections`` field it fills
    emits: frozenset[EventKind]  # tests fail if the detector yields anything else
    detect: Callable[[ConnView], Detection[Inferred]]
    screen: Callable[[Facts], BoolArray] | None = None  # per connection: worth a visit?
    rows: Callable[[Facts], EventRows] | None = None  # context-free events, all conns


@dataclass(frozen=True, slots=True)
class ConnDetections:
    """Every detector's record for one visited connection, typed (field = detector name).

    Field order is the registry order (``DETECTORS``), which is the order of their events.
    """

    handshake: Detection[Handshake]
    retransmit: Detection[Retransmissions]
    keepalive: Detection[Keepalive | None]  # None: no keepalive probe in the connection
    zero_window: Detection[ZeroWindow | None]  # None: no zero window in the connection
    close: Detection[Close]
    artefacts: Detection[Artefacts]
    path_mtu: Detection[PathMtuStall | None]  # None: no full-size stall
    idle: Detection[IdleGap | None]  # None: no unanswered segment after a long idle gap
    #: None: no side fell silent with data unacknowledged while the capture went on
    silent_sender: Detection[SilentSender | None]

    @property
    def events(self) -> tuple[Event, ...]:
        return tuple(chain.from_iterable(getattr(self, name).events for name in _DETECTION_FIELDS))


#: ``ConnDetections``' fields, in registry order.
_DETECTION_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(ConnDetections))


@dataclass(slots=True)
class DetectResult:
    """Everything detection produced for one capture."""

    events: pd.DataFrame  # model.EVENT_COLUMNS, sorted by conn then frame
    detections: Mapping[int, ConnDetections]  # visited conn id -> every detector's record
    facts: Facts
    #: Per facts.conn_ids: the connections detected (``detections`` keys).
    visited: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    #: Per facts.conn_ids: the connections some detector's screen selected (== ``visited``
    #: unless ``run_all(visit_all=True)`` visited every connection).
    screened: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    #: ICMP errors quoting a connection's segment (pcapline.icmp), by conn id.
    icmp: Mapping[int, tuple[IcmpError, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EventRows:
    """Events (``EVENT_COLUMNS``) as numpy columns, before they are the events table: what a
    detector's ``rows`` hands back. ``run_all`` joins every detector's and builds one table
    (a DataFrame per detector and event kind cost ~0.3 ms each on every capture, however
    few its packets, most of them empty). ``rows["frame"]`` reads a column, as of a table."""

    conn: np.ndarray  # int64
    frame: np.ndarray  # int64
    time_ns: np.ndarray  # int64
    side: np.ndarray  # Side values
    kind: np.ndarray  # EventKind values
    note: np.ndarray
    value: np.ndarray  # float64 (NaN: none)
    #: The table's ``note`` column holds Python objects, not pandas strings. It did when the
    #: events were joined as one DataFrame per kind: pandas gives an empty object column no
    #: string type, and joining it to string columns made them objects too; kept so the
    #: tables (and their Parquet) stay what they were.
    object_notes: bool = False

    def __len__(self) -> int:
        return len(self.conn)

    def __getitem__(self, column: str) -> np.ndarray:
        if column not in EVENT_COLUMNS:
            raise KeyError(column)
        return cast(np.ndarray, getattr(self, column))

    @classmethod
    def joined(cls, parts: Sequence[EventRows]) -> EventRows:
        if len(parts) == 1:
            return parts[0]
        joined = {c: np.concatenate([p[c] for p in parts]) for c in EVENT_COLUMNS}
        return cls.of_columns(joined, object_notes=any(p.object_notes for p in parts))

    @classmethod
    def of_table(cls, table: pd.DataFrame) -> EventRows:
        """A table's events (``IcmpMatches.events``) as columns."""
        columns = {c: table[c].to_numpy() for c in EVENT_COLUMNS}
        return cls.of_columns(columns, object_notes=table["note"].dtype == object)

    @classmethod
    def of_columns(cls, columns: Mapping[str, np.ndarray], *, object_notes: bool) -> EventRows:
        return cls(
            conn=columns["conn"],
            frame=columns["frame"],
            time_ns=columns["time_ns"],
            side=columns["side"],
            kind=columns["kind"],
            note=columns["note"],
            value=columns["value"],
            object_notes=object_notes,
        )

    def at(self, which: slice | np.ndarray) -> EventRows:
        """The events ``which`` selects (a slice: views of these columns)."""
        columns = {c: self[c][which] for c in EVENT_COLUMNS}
        return EventRows.of_columns(columns, object_notes=self.object_notes)

    def table(self, rank: np.ndarray | None = None) -> pd.DataFrame:
        """The events by conn then frame, then ``rank`` (per event: its detector's place
        in ``DETECTORS``, -1 for the ``rows`` parts) when given; stable: a detector's order
        among one frame's events, and the order of the parts, are kept. As ``EVENT_COLUMNS``."""
        keys = (self.frame, self.conn) if rank is None else (rank, self.frame, self.conn)
        order = np.lexsort(keys)  # lexsort is stable
        columns: dict[str, Any] = {c: self[c][order] for c in EVENT_COLUMNS}
        if self.object_notes:
            columns["note"] = pd.Series(columns["note"], dtype=object)
        return pd.DataFrame(columns)


class EventColumns(Sequence[Event]):
    """One connection's (``conn``) events: entries ``lo:hi`` of columns shared by the
    connections of a batch (``source``, whose ``conn`` column is not read). Read as ``Event``
    objects only when someone iterates them (tests, ``ConnDetections.events``); ``run_all``
    gathers the columns of all of them at once (``joined``). A sequence of ``Event`` that
    equals, and hashes as, the tuple of them."""

    __slots__ = ("conn", "hi", "lo", "source")

    def __init__(self, source: EventRows, lo: int, hi: int, conn: int) -> None:
        self.source, self.lo, self.hi, self.conn = source, lo, hi, conn

    def __reduce__(self) -> tuple[type[tuple[Event, ...]], tuple[tuple[Event, ...]]]:
        """Pickled as the tuple of its own events: a worker's result hands back some
        connections' detections, never the whole partition's columns, and the process that
        reads them reads ``Event`` objects (a tuple of a few takes 1.5 KB a connection, its
        own small columns 2.3 KB: tens of thousands are kept for a report)."""
        return tuple, (tuple(self),)

    @staticmethod
    def joined(items: Sequence[EventColumns]) -> EventRows:
        """The events of ``items``, one after another: one gather per column of each
        source (``run_all`` has tens of thousands of them on a lossy capture)."""
        parts: list[EventRows] = []
        for _, run in groupby(items, key=lambda item: id(item.source)):
            members = list(run)
            lo = np.fromiter((m.lo for m in members), np.int64, len(members))
            counts = np.fromiter((m.hi for m in members), np.int64, len(members)) - lo
            offsets = np.cumsum(counts) - counts  # each member's first place in the part
            at = np.repeat(lo - offsets, counts) + np.arange(int(counts.sum()))
            conns = np.fromiter((m.conn for m in members), np.int64, len(members))
            parts.append(replace(members[0].source.at(at), conn=np.repeat(conns, counts)))
        if not parts:
            return _events_frame([])
        return EventRows.joined(parts)

    def __len__(self) -> int:
        return self.hi - self.lo

    @overload
    def __getitem__(self, index: int) -> Event: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Event]: ...

    def __getitem__(self, index: int | slice) -> Event | Sequence[Event]:
        if isinstance(index, slice):
            return tuple(self)[index]
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        at, r = self.lo + index % len(self), self.source
        value = float(r.value[at])
        return Event(
            conn=self.conn,
            frame=int(r.frame[at]),
            time_ns=int(r.time_ns[at]),
            side=Side(r.side[at]),
            kind=EventKind(r.kind[at]),
            note=str(r.note[at]),
            value=None if value != value else value,  # NaN: none
        )

    # As the tuple of its events (what a detector's events were before): equal to that
    # tuple, hashed as it is, so a ``Detection`` holding either compares and hashes alike.
    def __eq__(self, other: object) -> bool:
        if isinstance(other, EventColumns | tuple):
            return tuple(self) == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"EventColumns({list(self)!r})"


def row_events(
    facts: Facts, mask: np.ndarray, kind: EventKind, note: str | np.ndarray = ""
) -> EventRows:
    """Events (EVENT_COLUMNS) for every row of ``facts`` where ``mask`` holds; ``note``: one
    text for all, or an array of one per selected row (``mask``'s rows in order, so a note
    is made for the few event rows, never for every segment)."""
    rows = np.flatnonzero(mask)
    if isinstance(note, np.ndarray) and len(note) != len(rows):
        raise ValueError(f"row_events: {len(note)} notes for {len(rows)} rows")
    notes = note if isinstance(note, np.ndarray) else np.full(len(rows), note, dtype=object)
    return EventRows(
        conn=facts.conn[rows],
        frame=facts.frame[rows],
        time_ns=facts.time_ns[rows],
        side=np.where(facts.from_client[rows], Side.CLIENT.value, Side.SERVER.value),
        kind=np.full(len(rows), kind.value, dtype=object),
        note=notes,
        value=np.full(len(rows), np.nan),
        object_notes=not len(rows) and notes.dtype == object,
    )


def per_connection(facts: Facts, mask: np.ndarray) -> np.ndarray:
    """Per connection (``facts.conn_ids`` order): does any of its rows satisfy ``mask``?"""
    return any_per_connection(mask, facts.starts)


def first_rows(facts: Facts, mask: np.ndarray) -> np.ndarray:
    """Mask of the first row per connection among the rows where ``mask`` holds."""
    rows = np.flatnonzero(mask)
    first = np.ones(len(rows), dtype=bool)
    first[1:] = facts.conn_index[rows[1:]] != facts.conn_index[rows[:-1]]
    out = np.zeros(len(mask), dtype=bool)
    out[rows[first]] = True
    return out


def next_peer_rows(view: SegmentRows) -> np.ndarray:
    """Per row: the first later row sent by the other side (``len(view)``: none).

    Linear in the connection's rows, so per-row questions ("what did the peer send next?")
    cost O(1) each instead of a scan of the connection.
    """
    n = len(view)
    idx = np.arange(n)
    out = np.full(n, n, dtype=np.int64)
    for side in (True, False):
        mine = view.from_client == side
        # first row >= i from the other side, then shifted to "> i"
        theirs_from = np.minimum.accumulate(np.where(mine, n, idx)[::-1])[::-1]
        after = np.concatenate((theirs_from[1:], [n]))
        out[mine] = after[mine]
    return out


def probe_answers(view: SegmentRows, probes: np.ndarray) -> np.ndarray:
    """Per probe row: the peer's first row after it and before the next probe (-1: none)."""
    if not len(probes):
        return np.zeros(0, dtype=np.int64)
    reply = next_peer_rows(view)[probes]
    next_probe = np.concatenate((probes[1:], [len(view)]))
    return np.where(reply < next_probe, reply, -1)


def first_rows_by_direction(facts: Facts, mask: np.ndarray) -> np.ndarray:
    """The first row per (connection, direction) among rows where ``mask`` holds."""
    out = np.zeros(len(facts), dtype=bool)
    for side in (True, False):
        out |= first_rows(facts, mask & (facts.from_client == side))
    return out


from pcapline.detect import (  # noqa: E402  (the registry needs the types above)
    artefacts,
    close,
    handshake,
    idle,
    keepalive,
    path_mtu,
    retransmit,
    silent_sender,
    zero_window,
)

if TYPE_CHECKING:
    from pcapline.detect.artefacts import Artefacts
    from pcapline.detect.close import Close
    from pcapline.detect.handshake import Handshake
    from pcapline.detect.idle import IdleGap
    from pcapline.detect.keepalive import Keepalive
    from pcapline.detect.path_mtu import PathMtuStall
    from pcapline.detect.retransmit import Retransmissions
    from pcapline.detect.silent_sender import SilentSender
    from pcapline.detect.zero_window import ZeroWindow

#: The detectors, in the order their events and inferred settings are reported.
DETECTORS: tuple[Detector[Any], ...] = (
    handshake.DETECTOR,
    retransmit.DETECTOR,
    keepalive.DETECTOR,
    zero_window.DETECTOR,
    close.DETECTOR,
    artefacts.DETECTOR,
    path_mtu.DETECTOR,
    idle.DETECTOR,
    silent_sender.DETECTOR,
)


def run_all(
    segments: pd.DataFrame,
    *,
    capture_end_ns: int | None = None,
    visit_all: bool = False,
    icmp: IcmpMatches | None = None,
) -> DetectResult:
    """Run every detector over a capture's segments (SEGMENT_COLUMNS + FLOW_COLUMNS).

    ``capture_end_ns``: the capture's last frame time (any protocol), so "the sender stopped
    retrying" can be seen even when the capture's last frames are not TCP.
    ``visit_all``: run the per-connection detectors on every connection, not only on those a
    screen selected (tests use it to check classify's fast path against its rules).
    ``icmp``: the ICMP errors matched to connections (pcapline.icmp): a connection with one is
    visited (the rules read them) and each is an ``icmp_error`` event.
    """
    facts = compute_facts(segments, capture_end_ns=capture_end_ns)
    screened = np.zeros(len(facts.conn_ids), dtype=bool)
    frames: list[EventRows] = []
    for detector in DETECTORS:
        if detector.screen is not None:
            screened |= detector.screen(facts)
        if detector.rows is not None:
            frames.append(detector.rows(facts))
    if icmp is not None and icmp.by_conn:
        with_icmp = np.isin(facts.conn_ids, np.fromiter(icmp.by_conn, np.int64))
        screened |= with_icmp
        frames.append(EventRows.of_table(icmp.events))
    visited = np.ones_like(screened) if visit_all else screened
    detections: dict[int, ConnDetections] = {}
    ranks = [np.full(len(part), -1, dtype=np.int64) for part in frames]
    found = _Found()
    batch = Batch.of_facts(facts)
    errors = icmp.by_conn if icmp is not None else {}
    for index in np.flatnonzero(visited):
        view = conn_view(facts, int(index), batch)
        detected = detect_connection(view, errors.get(view.conn, ()))
        detections[view.conn] = detected
        if screened[index]:  # the events of a connection no screen selected: rows() made them
            found.add(detected)
    for part, rank in found.parts():
        frames.append(part)
        ranks.append(rank)
    return DetectResult(
        events=_combine(frames, ranks),
        detections=detections,
        facts=facts,
        visited=visited,
        screened=screened,
        icmp=icmp.by_conn if icmp is not None else {},
    )


def detect_connection(view: ConnView, icmp: Sequence[IcmpError] = ()) -> ConnDetections:
    """Run every detector over one connection; ``icmp``: the ICMP errors quoting its
    segments (``pcapline.icmp``), which name the resends they drew (``retransmit.detect``)."""
    return ConnDetections(
        handshake=handshake.DETECTOR.detect(view),
        retransmit=retransmit.detect(view, icmp) if icmp else retransmit.DETECTOR.detect(view),
        keepalive=keepalive.DETECTOR.detect(view),
        zero_window=zero_window.DETECTOR.detect(view),
        close=close.DETECTOR.detect(view),
        artefacts=artefacts.DETECTOR.detect(view),
        path_mtu=path_mtu.DETECTOR.detect(view),
        idle=idle.DETECTOR.detect(view),
        silent_sender=silent_sender.DETECTOR.detect(view),
    )


class _Found:
    """The events of the visited connections, gathered as ``run_all`` visits them: the
    ``Event`` objects and the ``EventColumns`` apart, each with its detector's place in
    ``DETECTORS`` (the order of a frame's events: ``EventRows.table``)."""

    __slots__ = ("columns", "events", "ranks")

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.ranks: list[int] = []
        self.columns: list[tuple[int, EventColumns]] = []

    def add(self, detected: ConnDetections) -> None:
        for rank, name in enumerate(_DETECTION_FIELDS):
            events = getattr(detected, name).events
            if not events:
                continue
            if type(events) is EventColumns:
                self.columns.append((rank, events))
            else:
                self.events.extend(events)
                self.ranks.extend([rank] * len(events))

    def parts(self) -> list[tuple[EventRows, np.ndarray]]:
        """The gathered events as columns, each part with its events' ranks."""
        out = []
        if self.events:
            out.append((_events_frame(self.events), np.array(self.ranks, dtype=np.int64)))
        if self.columns:
            joined = EventColumns.joined([events for _, events in self.columns])
            rank = np.repeat([r for r, _ in self.columns], [len(e) for _, e in self.columns])
            out.append((joined, rank))
        return out


def _events_frame(found: list[Event]) -> EventRows:
    return EventRows(
        conn=np.fromiter((e.conn for e in found), np.int64, len(found)),
        frame=np.fromiter((e.frame for e in found), np.int64, len(found)),
        time_ns=np.fromiter((e.time_ns for e in found), np.int64, len(found)),
        side=np.array([e.side.value for e in found], dtype=object),
        kind=np.array([e.kind.value for e in found], dtype=object),
        note=np.array([e.note for e in found], dtype=object),
        value=np.array([np.nan if e.value is None else float(e.value) for e in found]),
    )


def _combine(parts: list[EventRows], ranks: list[np.ndarray] | None = None) -> pd.DataFrame:
    """``parts`` as the events table; ``ranks``: per part, its events' ranks
    (``EventRows.table``), or the parts' order alone decides among one frame's events."""
    if ranks is None:
        ranks = [np.zeros(len(part), dtype=np.int64) for part in parts]
    kept = [(part, rank) for part, rank in zip(parts, ranks, strict=True) if len(part)]
    if not kept:
        return _empty_events().copy()
    return EventRows.joined([p for p, _ in kept]).table(np.concatenate([r for _, r in kept]))


@functools.cache
def _empty_events() -> pd.DataFrame:
    """No event, typed (built once: ``pd.Series(dtype=...)`` per column costs ~1 ms)."""
    return pd.DataFrame({c: np.empty(0, dtype=t) for c, t in _EMPTY_TYPES.items()})[
        list(EVENT_COLUMNS)
    ]


_EMPTY_TYPES = {
    "conn": "int64",
    "frame": "int64",
    "time_ns": "int64",
    "side": "object",
    "kind": "object",
    "note": "object",
    "value": "float64",
}

__all__ = [
    "DETECTORS",
    "NOTHING",
    "NO_ROW",
    "Batch",
    "ConnDetections",
    "ConnView",
    "DetectResult",
    "Detection",
    "Detector",
    "EventColumns",
    "EventRows",
    "RowSets",
    "conn_view",
    "detect_connection",
    "first_rows",
    "first_rows_by_direction",
    "next_peer_rows",
    "per_connection",
    "probe_answers",
    "row_events",
    "row_or_none",
    "run_all",
]
