"""The ``pcapline/1`` JSON document (DESIGN.md, "JSON contract").

Keys are emitted in the order the contract lists them, connections by id, events by frame,
so two runs over one capture give byte-identical output. Times are float seconds since the
epoch (the pipeline's int64 nanoseconds divided by 1e9); ``duration`` is ``end - start``.
Values that JSON cannot hold (NaN, numpy scalars, enums, dataclasses) are turned into plain
JSON here, once, so every producer of ``inferred`` and findings details can stay typed.
"""

from __future__ import annotations

import dataclasses
import enum
import itertools
import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import NoneType
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np
import pandas as pd

from pcapline.delays import DELAYS_DOC_KEYS, Delays, DelaysDocColumns, delays_doc_columns
from pcapline.frames import is_sorted
from pcapline.model import CONNECTION_COLUMNS, SCHEMA, CaptureInfo, Counts, SkipReason
from pcapline.read import native

if TYPE_CHECKING:
    from pcapline.analysis import Analysis

#: ``counts`` keys, in contract order (model.Counts fields; flat columns of the connections table).
COUNT_KEYS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Counts))


def _connection_keys() -> tuple[str, ...]:
    """model.CONNECTION_COLUMNS as the contract names them: each endpoint's ``_ip``/``_port``
    columns one object, the ns times float seconds with ``duration`` after ``end``, the count
    columns one ``counts`` object, and the connection's ``events`` last."""
    keys: list[str] = []
    for name in CONNECTION_COLUMNS:
        if name.endswith("_ip"):
            keys.append(name.removesuffix("_ip"))
        elif name == "start_ns":
            keys.append("start")
        elif name == "end_ns":
            keys += ["end", "duration"]
        elif name in COUNT_KEYS:
            if "counts" not in keys:  # the first count column stands for the object
                keys.append("counts")
        elif not name.endswith("_port"):
            keys.append(name)
    return (*keys, "events")


#: Keys a connection gained with ``pcapline/delays.py`` (after ``events``: a compatible
#: extension of pcapline/1): ``delays`` (``delays.delays_doc``, null when not measured) and
#: ``slow`` (the ``delays.SlowTag`` strings, ``[]`` for none).
DELAY_KEYS: tuple[str, ...] = ("delays", "slow")

#: Keys a connection gained with ``pcapline/app`` (after ``slow``): ``app``, what its first
#: payloads carried (``app.App.as_dict``), null when nothing was recognised.
APP_KEYS: tuple[str, ...] = ("app",)

#: Key a connection gained with ``quality.seen_records`` (issue 9, a compatible extension):
#: ``seen``, what the capture holds of it (``quality.SEEN_KEYS``), null when not known.
SEEN_KEY = "seen"

#: Key a connection gained after ``seen`` (a compatible extension): ``evidence_frames``, the
#: frames its verdict rests on (``Decision.evidence_frames``, ascending; ``[]`` when the
#: verdict rests on an absence alone), the frames the HTML and text timelines mark.
EVIDENCE_KEY = "evidence_frames"

#: Keys of one ``connections`` entry, in contract order (``connection_doc``).
CONNECTION_KEYS: tuple[str, ...] = (
    *_connection_keys(),
    *DELAY_KEYS,
    *APP_KEYS,
    SEEN_KEY,
    EVIDENCE_KEY,
)


def document(analysis: Analysis) -> dict[str, Any]:
    """The whole ``pcapline/1`` document for an analysis (already filtered, if it was: then
    a last key ``filter`` says what was kept and how many connections the capture holds)."""
    doc = {
        "schema": SCHEMA,
        "capture": capture_doc(analysis.capture),
        "connections": [doc for chunk in connection_chunks(analysis) for doc in chunk],
        "findings": findings_doc(analysis),
    }
    if analysis.filter is not None:
        doc["filter"] = analysis.filter.to_dict()
    return doc


def dumps(doc: Mapping[str, Any], *, indent: int | None = 2) -> str:
    """Serialise strictly: a NaN that slipped through is a bug, not ``NaN`` in the output."""
    return json.dumps(doc, indent=indent, ensure_ascii=False, allow_nan=False) + "\n"


def write(
    analysis: Analysis,
    out: TextIO,
    *,
    indent: int | None = 2,
    connections: Iterable[str] | None = None,
) -> None:
    """Write ``dumps(document(analysis), indent=indent)`` to ``out``, byte for byte, in pieces.

    Two costs of the one-shot way go away on big captures: ``json.dumps`` with an indent runs
    the pure-Python encoder (the C one only serves ``indent=None``), and the whole document
    exists twice, as dicts and as one string. Here connections are built a chunk at a time
    and laid out by ``_Layout``, which knows the document's fixed shape and encodes the
    scalars with the json module's own C string escaper and ``repr``; free-form parts
    (``inferred``, ``capture``, findings) go through ``json.dumps``, re-indented to their depth.
    ``connections``: the entries already laid out (``connection_texts``, same ``indent``), by id.
    """
    layout = _Layout(indent)
    # The parts around the connections first: nothing is written when one of them fails.
    around = outline(analysis, layout)
    out.write(around.head)
    first = True
    chunks = _text_chunks(layout, analysis) if connections is None else _batches(connections)
    for texts in chunks:
        if not texts:
            continue
        # the separator apart: ``lead + text`` would copy a piece once more
        out.write("[" if first else around.sep)
        first = False
        for k, piece in enumerate(_pieces(texts, WRITE_CHARS)):
            if k:
                out.write(around.sep)
            out.write(around.sep.join(piece))
    out.write(("[]" if first else around.close) + around.tail)


@dataclass(frozen=True, slots=True)
class Outline:
    """The document around its connections' entries: ``head`` (through ``"connections": ``),
    then ``[``, the entries joined by ``sep``, ``close`` (``[]`` when there is none), then
    ``tail``."""

    head: str
    sep: str
    close: str
    tail: str


def outline(analysis: Analysis, layout: _Layout | None = None) -> Outline:
    """``write``'s document around the connections (``layout``: indent 2 when not given)."""
    layout = layout or _Layout(2)
    nl1, sep = layout.newline(1), layout.item_sep
    head = "{" + nl1 + '"schema": ' + _string(SCHEMA) + sep + nl1
    head += '"capture": ' + layout.value(capture_doc(analysis.capture), 1) + sep + nl1
    tail = sep + nl1 + '"findings": ' + layout.value(findings_doc(analysis), 1)
    if analysis.filter is not None:
        tail += sep + nl1 + '"filter": ' + layout.value(analysis.filter.to_dict(), 1)
    tail += layout.newline(0) + "}\n"
    return Outline(head + '"connections": ', sep, nl1 + "]", tail)


def connection_texts(
    connections: pd.DataFrame,
    events: pd.DataFrame,
    lost: Mapping[int, Delays] | None,
    *,
    indent: int | None = 2,
) -> list[str]:
    """Every connection's entry as ``write`` lays it out (newline and indent included), by id:
    a part of a capture rendered where it was analysed (``engine.py``), then handed to
    ``write(..., connections=)`` in id order."""
    layout = _Layout(indent)
    return [
        text for chunk in _text_chunks(layout, None, connections, events, lost) for text in chunk
    ]


def _text_chunks(
    layout: _Layout,
    analysis: Analysis | None,
    connections: pd.DataFrame | None = None,
    events: pd.DataFrame | None = None,
    lost: Mapping[int, Delays] | None = None,
) -> Iterator[list[str]]:
    if analysis is not None:
        connections, events, lost = analysis.connections, analysis.events, analysis.delays
    assert connections is not None and events is not None
    for part in _parts(connections, events, lost, arrays=True):
        yield layout.connections(part)


def _pieces(texts: list[str], size: int) -> Iterator[list[str]]:
    """``texts`` in runs of about ``size`` characters (at least one text each), in order."""
    run: list[str] = []
    held = 0
    for text in texts:
        run.append(text)
        held += len(text)
        if held >= size:
            yield run
            run, held = [], 0
    if run:
        yield run


def _batches(texts: Iterable[str]) -> Iterator[list[str]]:
    batch: list[str] = []
    for text in texts:
        batch.append(text)
        if len(batch) == CHUNK:
            yield batch
            batch = []
    yield batch


def findings_doc(analysis: Analysis) -> list[dict[str, Any]]:
    return [plain(f.to_dict()) for f in analysis.findings]


def capture_doc(info: CaptureInfo) -> dict[str, Any]:
    return {
        "path": info.path,
        "format": info.format,
        "link_types": list(info.link_types),
        "frames": int(info.frames),
        "tcp_frames": int(info.tcp_frames),
        "icmp_frames": int(info.icmp_frames),
        "first_time": seconds(info.first_time_ns),
        "last_time": seconds(info.last_time_ns),
        "skipped": {reason: int(info.skipped[reason]) for reason in skip_order(info.skipped)},
        "warnings": [str(w) for w in info.warnings],
        "quality": plain(info.quality),
    }


#: A column of values: a list, or (``_values(arrays=True)``) an int64 or float64 array.
_Column = list[Any] | np.ndarray


@dataclass(frozen=True, slots=True)
class _Part:
    """A chunk of connections (by id) as columns: each contract value as ``connection_doc``
    gives it, one list per key, so both the dicts and ``_Layout.connections`` read a column at
    a time instead of one boxed row per connection. The nested keys (``inferred``, ``caveats``,
    ``app``, ``seen``) keep the table's objects, turned into JSON values by ``_NESTED`` where
    they are used (``_Layout`` lays out an object shared by many rows once)."""

    values: dict[str, _Column]  # contract key (client/server: ``client_ip``...) -> per row
    delays: DelaysDocColumns  # ``delays`` and ``slow``, a column per key
    events: pd.DataFrame  # the chunk's events, by conn then frame
    event_starts: list[int]  # per connection: its events are rows [start, end) of ``events``
    event_ends: list[int]

    def __len__(self) -> int:
        return len(self.delays.measured)

    def delays_rows(self) -> list[int]:
        """Per connection: its row in ``delays.values``, -1 when it has no delays."""
        rows = itertools.count()
        return [next(rows) if measured else -1 for measured in self.delays.measured]


def _nested_inferred(value: Any) -> Any:
    return plain(value) if isinstance(value, Mapping) and value else {}


def _nested_record(value: Any) -> Any:
    return plain(value) if isinstance(value, Mapping) else None


def _nested_strings(value: Any) -> list[str]:
    return [str(c) for c in value]


def _nested_frames(value: Any) -> list[int]:
    """``evidence_frames``: the frames in ascending order, ``[]`` for none (or no column)."""
    if value is None or isinstance(value, float):  # absent, or NaN
        return []
    return sorted({int(f) for f in value})


#: The nested keys of a connection entry and how a table cell becomes their JSON value.
_NESTED: dict[str, Any] = {
    "inferred": _nested_inferred,
    "caveats": _nested_strings,
    "app": _nested_record,
    "seen": _nested_record,
    "evidence_frames": _nested_frames,
}


def connection_doc(
    part: _Part, i: int, events: list[dict[str, Any]], delays_row: int
) -> dict[str, Any]:
    """Row ``i`` of ``part`` as one ``connections`` entry, with its ``events`` entries;
    ``delays_row``: its row of ``part.delays.values`` (``_Part.delays_rows``)."""
    v = part.values
    return {
        "id": v["id"][i],
        "client": {"ip": v["client_ip"][i], "port": v["client_port"][i]},
        "server": {"ip": v["server_ip"][i], "port": v["server_port"][i]},
        "client_guessed": v["client_guessed"][i],
        "first_frame": v["first_frame"][i],
        "last_frame": v["last_frame"][i],
        "start": v["start"][i],
        "end": v["end"][i],
        "duration": v["duration"][i],
        "packets": v["packets"][i],
        "bytes_client": v["bytes_client"][i],
        "bytes_server": v["bytes_server"][i],
        "fate": v["fate"][i],
        "closer": v["closer"][i],
        "reset_by": v["reset_by"][i],
        "counts": {key: v[key][i] for key in COUNT_KEYS},
        "inferred": _nested_inferred(v["inferred"][i]),
        "explanation": v["explanation"][i],
        "confidence": v["confidence"][i],
        "caveats": _nested_strings(v["caveats"][i]),
        "cause": v["cause"][i],
        "events": events,
        "delays": None if delays_row < 0 else _delays_dict(part.delays.values, delays_row),
        "slow": part.delays.slow[i],
        "app": _nested_record(v["app"][i]),
        "seen": _nested_record(v["seen"][i]),
        "evidence_frames": _nested_frames(v["evidence_frames"][i]),
    }


def _delays_dict(columns: Mapping[str, _Column], row: int) -> dict[str, Any]:
    """One ``delays`` object from ``DelaysDocColumns.values``; its lists are copied (the
    connections no detector visited share one empty list per key there)."""
    return {
        key: list(values[row]) if type(values[row]) is list else values[row]
        for key, values in columns.items()
    }


#: Connections per chunk: big enough that per-chunk pandas work is noise, small enough that
#: one chunk's documents (the only ones alive while writing) stay a few MB.
CHUNK = 4096
#: Characters per ``write`` of the entries (about 64 KB of JSON, some 16 connections): each
#: piece is joined, encoded to UTF-8 and copied into the page cache while it is still in the
#: CPU's cache. A chunk at once is some 15 MB made three times over (the joined text, its
#: bytes, the kernel's copy), each pass out of memory: writing the 218 MB document of the
#: 2.5 M-packet bench capture took 0.17-0.55 CPU s (0.10-0.47 of it in the kernel), in
#: these pieces 0.10-0.22 s.
WRITE_CHARS = 1 << 16


def connection_chunks(analysis: Analysis, chunk: int = CHUNK) -> Iterator[list[dict[str, Any]]]:
    """``connection_doc`` of every connection, by id, a chunk at a time.

    Columns are turned into Python lists once per chunk (``_parts``) instead of one boxed
    pandas row per connection, and events are grouped by one stable sort on (conn, frame)
    plus ``searchsorted``: linear in connections and events.
    """
    for part in _parts(analysis.connections, analysis.events, analysis.delays, chunk):
        docs = _event_docs(part.events)
        spans = zip(part.event_starts, part.event_ends, part.delays_rows(), strict=True)
        yield [connection_doc(part, i, docs[a:b], row) for i, (a, b, row) in enumerate(spans)]


def _parts(
    connections: pd.DataFrame,
    events: pd.DataFrame,
    lost: Mapping[int, Delays] | None,
    chunk: int = CHUNK,
    *,
    arrays: bool = False,
) -> Iterator[_Part]:
    """``connections`` a chunk at a time, with their events and delays. ``arrays``: the
    integer and float columns as numpy arrays where they are exact (``_values``), for
    ``_Layout`` (the compiled core reads them in place; its Python path lists them)."""
    conns = _in_order(connections, "id")
    events = _in_order(events, "conn", "frame")
    event_conn = events["conn"].to_numpy()
    ids = conns["id"].to_numpy()
    for lo in range(0, len(conns), chunk):
        part = conns.iloc[lo : lo + chunk]
        part_ids = ids[lo : lo + chunk]
        starts = np.searchsorted(event_conn, part_ids, side="left")
        ends = np.searchsorted(event_conn, part_ids, side="right")
        first = int(starts.min()) if len(starts) else 0
        last = int(ends.max()) if len(ends) else first
        values = _values(part, arrays=arrays)
        yield _Part(
            values=values,
            delays=delays_doc_columns(lost, _listed(values["id"]), arrays=arrays),
            events=events.iloc[first:last],
            event_starts=(starts - first).tolist(),
            event_ends=(ends - first).tolist(),
        )


def _in_order(table: pd.DataFrame, *keys: str) -> pd.DataFrame:
    """``table`` stably sorted by ``keys``: the table itself when its integer key columns are
    in that order already, as the detectors' events and the connections by id come (the sort
    would copy every column, the notes' strings too, into the same order)."""
    if is_sorted(table, keys):
        return table
    return table.sort_values(list(keys), kind="stable")


def _values(part: pd.DataFrame, *, arrays: bool = False) -> dict[str, _Column]:
    """The flat contract values of a chunk of the connections table, a column at a time.
    ``arrays``: the integer columns and the times as int64 and float64 arrays (``_int64s``),
    the values the lists would hold: only ``_Layout`` reads them that way."""

    def column(name: str) -> list[Any]:
        return part[name].tolist() if name in part.columns else [None] * len(part)

    def ints(name: str) -> _Column:
        if name in part.columns:
            return _ints(part[name], arrays=arrays)
        return list(map(int, column(name)))

    def optional_strs(name: str) -> list[str | None]:
        # ``optional_str`` but strings and None (most values) pass without a call
        return [
            x if type(x) is str else None if x is None else optional_str(x) for x in column(name)
        ]

    start_ns = ints("start_ns")
    end_ns = ints("end_ns")
    guessed = column("client_guessed")
    values: dict[str, _Column] = {
        "id": ints("id"),
        "client_ip": list(map(str, column("client_ip"))),
        "client_port": ints("client_port"),
        "server_ip": list(map(str, column("server_ip"))),
        "server_port": ints("server_port"),
        "client_guessed": guessed
        if _numpy_kind(part.get("client_guessed")) == "b"
        else list(map(bool, guessed)),
        "first_frame": ints("first_frame"),
        "last_frame": ints("last_frame"),
        **_times(start_ns, end_ns),
        "packets": ints("packets"),
        "bytes_client": ints("bytes_client"),
        "bytes_server": ints("bytes_server"),
        "fate": list(map(str, column("fate"))),
        "closer": optional_strs("closer"),
        "reset_by": optional_strs("reset_by"),
        **{key: ints(key) for key in COUNT_KEYS},
        "explanation": [e or "" for e in optional_strs("explanation")],
        "confidence": list(map(str, column("confidence"))),
        "cause": optional_strs("cause"),
    }
    values.update((key, column(key)) for key in _NESTED)
    return values


def _times(start_ns: _Column, end_ns: _Column) -> dict[str, _Column]:
    """``start``, ``end`` and ``duration`` in float seconds: ``int(ns) / 1e9`` (numpy divides
    an int64 array the same way: the int64 as the nearest double, then the division), and
    the duration from the exact difference in ns. As arrays when given arrays whose
    difference cannot overflow int64 (both ends not negative)."""
    if (
        isinstance(start_ns, np.ndarray)
        and isinstance(end_ns, np.ndarray)
        and not (len(start_ns) and (start_ns.min() < 0 or end_ns.min() < 0))
    ):
        return {
            "start": start_ns / 1e9,
            "end": end_ns / 1e9,
            "duration": (end_ns - start_ns) / 1e9,
        }
    starts, ends = _listed(start_ns), _listed(end_ns)
    return {
        "start": [ns / 1e9 for ns in starts],
        "end": [ns / 1e9 for ns in ends],
        "duration": [(b - a) / 1e9 for a, b in zip(starts, ends, strict=True)],
    }


def _ints(column: pd.Series, *, arrays: bool) -> _Column:
    """An integer column's values as Python ints (a numpy integer column's ``tolist`` is
    Python ints already: no int() per value), or with ``arrays`` as int64 (``_int64s``)."""
    if _numpy_kind(column) not in ("i", "u"):
        return list(map(int, column.tolist()))
    exact = _int64s(column) if arrays else None
    return column.tolist() if exact is None else exact


def _int64s(column: pd.Series) -> np.ndarray | None:
    """A numpy integer column as a contiguous int64 array (None: a uint64 may not fit)."""
    dtype = column.dtype
    if not isinstance(dtype, np.dtype) or (dtype.kind == "u" and dtype.itemsize >= 8):
        return None
    return np.ascontiguousarray(column.to_numpy(), dtype=np.int64)


def _listed(values: _Column) -> list[Any]:
    """A column as a list of Python values: a numpy array's ``tolist``, NaN (a float array's
    "not measured") as None, as the compiled core lays it out (null)."""
    if not isinstance(values, np.ndarray):
        return values
    listed: list[Any] = values.tolist()
    if values.dtype.kind == "f" and np.isnan(values).any():
        return [None if x != x else x for x in listed]
    return listed


def _numpy_kind(column: pd.Series | None) -> str:
    """The numpy dtype kind of a column ("i", "u", "b", ...); "" for none or a pandas dtype."""
    dtype = None if column is None else column.dtype
    return dtype.kind if isinstance(dtype, np.dtype) else ""


def _event_docs(events: pd.DataFrame) -> list[dict[str, Any]]:
    """One ``events`` entry per row, in row order."""
    return [
        dict(zip(EVENT_KEYS, values, strict=True))
        for values in zip(*_event_values(events), strict=True)
    ]


#: Keys of one ``events`` entry, in contract order (``_event_values``).
EVENT_KEYS: tuple[str, ...] = ("frame", "time", "from", "kind", "note")


def _event_values(events: pd.DataFrame, *, arrays: bool = False) -> tuple[_Column, ...]:
    """The ``events`` entries' values, a column each: frame, time, from, kind, note.
    ``arrays``: frame and time as int64 and float64 arrays (``_values``)."""
    notes = events["note"]
    times = events["time_ns"].to_numpy(np.int64) / 1e9  # as int(ns) / 1e9 rounds
    return (
        _ints(events["frame"], arrays=arrays),
        times if arrays else times.tolist(),
        events["side"].astype(str).tolist(),
        events["kind"].astype(str).tolist(),
        _notes(notes),
    )


def _notes(notes: pd.Series) -> list[str]:
    """The ``note`` column as text, "" where missing (one test per column when, as usual,
    every note is a str already)."""
    values = notes.tolist()
    if set(map(type, values)) <= {str}:
        return values
    return [
        "" if gone else str(note) for note, gone in zip(values, notes.isna().tolist(), strict=True)
    ]


_string = json.encoder.encode_basestring  # the C escaper json.dumps(ensure_ascii=False) uses


@dataclass(frozen=True, slots=True)
class _Slots:
    """The text of a JSON object of a fixed shape with a hole per scalar: the literal text
    between the holes (``pieces``, one more than ``names``) and what goes in each hole.

    ``fill`` lays out many objects at once from a column of texts per hole: one C-level
    ``"".join`` per object over the pieces and that object's texts (three times cheaper than
    ``str.format`` with as many fields, measured on the connection entry)."""

    pieces: tuple[str, ...]
    names: tuple[str, ...]  # per hole: the name of its column of texts
    depths: tuple[int, ...]  # per hole: the depth of its value (``_Layout.value``)

    def fill(self, texts: Mapping[str, Sequence[str]]) -> list[str]:
        columns = [texts[name] for name in self.names]
        if len(set(map(len, columns))) > 1:
            raise ValueError("columns of texts of different lengths")
        parts: list[Iterable[str]] = [itertools.repeat(self.pieces[0])]
        for column, piece in zip(columns, self.pieces[1:], strict=True):
            parts += (column, itertools.repeat(piece))
        # the pieces repeat forever: the objects are as many as the texts of a column
        return list(map("".join, zip(*parts, strict=False)))

    def fill_in_c(
        self,
        values: Mapping[str, _Column],
        texts: Mapping[str, list[str]],
        indent: int | None,
        groups: _Groups | None = None,
    ) -> list[str]:
        """``fill`` in the compiled core (``native.core.fill``), from the columns' values: a
        hole named in ``texts`` takes its text as it is, any other its column's value laid
        out at the hole's depth as ``_Layout._nested`` would. ``_Unexpected`` when a value is
        not JSON-native (or a float not finite): the caller lays that chunk out in Python."""
        columns = tuple(texts[name] if name in texts else values[name] for name in self.names)
        depths = tuple(
            -1 if name in texts else depth
            for name, depth in zip(self.names, self.depths, strict=True)
        )
        try:
            laid_out: list[str] = native.core.fill(self.pieces, columns, depths, indent, groups)
        except (TypeError, ValueError, RecursionError) as error:
            raise _Unexpected from error
        return laid_out


#: Rows laid out as items of JSON arrays, one per group: (starts, ends, sep, close); group g
#: is ``"[" + sep.join(rows[starts[g]:ends[g]]) + close``, ``"[]"`` when it has no rows.
_Groups = tuple[list[int], list[int], str, str]


class _Layout:
    """The text ``json.dumps(..., indent=indent, ensure_ascii=False)`` gives, piece by piece.

    Connections are laid out a chunk at a time (``connections``): each key's texts for all
    rows, a column at a time, then the fixed shape of an entry (``_Slots``) around them. Any
    value of a type the fast paths do not expect falls back to ``json.dumps`` for that value,
    so the output never depends on them being complete. JSON strings escape every newline,
    so a nested ``json.dumps`` block sits at depth d by putting d indents after each of its
    newlines.
    """

    def __init__(self, indent: int | None) -> None:
        if indent is not None and not isinstance(indent, int):
            raise TypeError("indent must be an int or None")
        self.indent = indent
        self.item_sep = ", " if indent is None else ","
        self._connection = self._slots(_CONNECTION_SHAPE, 3, lead=self.newline(2))
        self._event = self._slots({k: k for k in EVENT_KEYS}, 5, lead=self.newline(4))
        self._delays = self._slots({k: k for k in DELAYS_DOC_KEYS}, 4)
        #: ``str.format`` templates of the objects ``_nested`` met, by their keys and depth.
        self._objects: dict[tuple[tuple[str, ...], int], str] = {}
        #: How each nested key's cells become texts (``_NESTED``, laid out at depth 3).
        self._cell_texts: dict[str, Callable[[Any], str]] = {
            "inferred": self._inferred_text,
            "caveats": self._caveats_text,
            "app": self._record_text,
            "seen": self._record_text,
            "evidence_frames": self._frames_text,
        }

    def newline(self, depth: int) -> str:
        return "" if self.indent is None else "\n" + " " * (self.indent * depth)

    def value(self, value: Any, depth: int) -> str:
        """``value`` laid out at ``depth``; JSON-native values are joined here, others by json."""
        try:
            return self._laid_out(value, depth)
        except _Unexpected:
            text = json.dumps(value, indent=self.indent, ensure_ascii=False, allow_nan=False)
            return text if self.indent is None else text.replace("\n", self.newline(depth))

    def _laid_out(self, value: Any, depth: int) -> str:
        """``_nested``, in the compiled core when there is one (``native.core.json_text``:
        the same text, without a Python call and a ``str`` per value)."""
        if not native.active:
            return self._nested(value, depth)
        try:
            text: str = native.core.json_text(value, depth, self.indent)
        except (TypeError, ValueError, RecursionError) as error:
            raise _Unexpected from error
        return text

    def _nested(self, value: Any, depth: int) -> str:
        kind = type(value)
        if kind is str:
            return _string(value)
        if kind is dict:
            if not value:
                return "{}"
            items = [self._nested(v, depth + 1) for v in value.values()]
            return self._object_format(tuple(value), depth).format(*items)
        if kind is list or kind is tuple:
            return self._bracketed("[", [self._nested(v, depth + 1) for v in value], "]", depth)
        if kind is int:
            return _int(value)
        if kind is float:
            return _float(value)
        if kind is bool:
            return _bool(value)
        if value is None:
            return "null"
        raise _Unexpected

    def _object_format(self, keys: tuple[str, ...], depth: int) -> str:
        """The ``str.format`` template of an object with ``keys`` at ``depth`` (made once)."""
        template = self._objects.get((keys, depth))
        if template is None:
            slots = self._slots(dict.fromkeys(keys, ""), depth + 1)
            template = "{}".join(p.replace("{", "{{").replace("}", "}}") for p in slots.pieces)
            self._objects[keys, depth] = template
        return template

    def connections(self, part: _Part) -> list[str]:
        """Every connection of ``part`` as ``newline(2)`` and its entry, laid out a column at
        a time: each key's texts for all rows, then the entries' shape around them. The
        compiled core does the scalars and the shapes when there is one; a chunk holding a
        value it does not lay out (not JSON-native, or a float not finite) is laid out here."""
        if native.active:
            try:
                return self._entries(part, in_c=True)
            except _Unexpected:
                pass
        return self._entries(part, in_c=False)

    def _entries(self, part: _Part, *, in_c: bool) -> list[str]:
        values = {**part.values, "slow": part.delays.slow}
        texts = {
            "events": self._events_texts(part, in_c=in_c),
            "delays": self._delays_texts(part.delays, in_c=in_c),
        }
        if not in_c:
            texts["slow"] = self._slow_texts(part.delays.slow)
        for key, text in self._cell_texts.items():
            cells = _listed(values[key])  # the nested keys' cells: a list already
            if not (in_c and _AS_THEY_ARE[key](cells)):
                texts[key] = self._cells(cells, text)
        return self._fill(self._connection, values, texts, in_c=in_c)

    def _fill(
        self,
        slots: _Slots,
        values: Mapping[str, _Column],
        texts: Mapping[str, list[str]],
        *,
        in_c: bool,
        groups: _Groups | None = None,
    ) -> list[str]:
        """``slots`` filled from ``texts`` (laid out already) and the other holes' ``values``
        (their scalars laid out here, or all of it in C: ``_Slots.fill_in_c``)."""
        if in_c:
            return slots.fill_in_c(values, texts, self.indent, groups)
        rows = slots.fill(
            {
                name: texts[name] if name in texts else self._scalars(values[name], depth)
                for name, depth in zip(slots.names, slots.depths, strict=True)
            }
        )
        if groups is None:
            return rows
        starts, ends, sep, close = groups
        return [
            "[" + sep.join(rows[a:b]) + close if a < b else "[]"
            for a, b in zip(starts, ends, strict=True)
        ]

    def _scalars(self, values: _Column, depth: int = 3) -> list[str]:
        """A column of JSON scalars as json.dumps writes each: in a C loop when the column
        holds one type, a dict look-up per value when it mixes scalar types (ints or strings
        and nulls); any other column goes value by value through ``value`` (json.dumps where
        needed), which lays out the same bytes."""
        values = _listed(values) if isinstance(values, np.ndarray) else values
        kinds = set(map(type, values))
        if not kinds <= _SCALAR_TEXT.keys():
            return [self.value(x, depth) for x in values]
        if float in kinds:
            floats = values if len(kinds) == 1 else [x for x in values if type(x) is float]
            if not all(map(math.isfinite, floats)):
                return [self.value(x, depth) for x in values]  # json.dumps refuses it
        if len(kinds) == 1:
            return list(map(_SCALAR_TEXT[kinds.pop()], values))
        if len(kinds) == 2 and NoneType in kinds:  # a measure or a name, or null
            text = _SCALAR_TEXT[(kinds - {NoneType}).pop()]
            return ["null" if x is None else text(x) for x in values]
        return [_SCALAR_TEXT[type(x)](x) for x in values]

    def _cells(self, cells: list[Any], text: Callable[[Any], str]) -> list[str]:
        """A nested key's texts from its table cells; a cell object shared by many rows
        (``quality.seen_records`` shares a handful) is laid out once: ``cells`` keeps every
        object alive, so an ``id`` names one object here."""
        done: dict[int, str] = {}
        out = []
        for cell in cells:
            laid_out = done.get(id(cell))
            if laid_out is None:
                laid_out = done[id(cell)] = text(cell)
            out.append(laid_out)
        return out

    def _inferred_text(self, cell: Any) -> str:
        if type(cell) is dict and cell:
            try:  # JSON-native already (most cells): ``plain`` would make an equal copy
                return self._laid_out(cell, 3)
            except _Unexpected:
                pass
        return self.value(_nested_inferred(cell), 3)

    def _caveats_text(self, cell: Any) -> str:
        return "[]" if type(cell) is list and not cell else self.value(_nested_strings(cell), 3)

    def _record_text(self, cell: Any) -> str:
        return self.value(_nested_record(cell), 3)

    def _frames_text(self, cell: Any) -> str:
        frames = _nested_frames(cell)
        return self.value(frames, 3) if frames else "[]"

    def _slow_texts(self, slow: list[list[str]]) -> list[str]:
        """``slow`` at depth 3: a handful of distinct tag lists, each laid out once."""
        done: dict[tuple[str, ...], str] = {}
        out = []
        for tags in slow:
            key = tuple(tags)
            laid_out = done.get(key)
            if laid_out is None:
                laid_out = done[key] = self.value(tags, 3)
            out.append(laid_out)
        return out

    def _events_texts(self, part: _Part, *, in_c: bool) -> list[str]:
        """Each connection's ``events`` at depth 3, from the chunk's event columns."""
        values = dict(zip(EVENT_KEYS, _event_values(part.events, arrays=True), strict=True))
        groups = (part.event_starts, part.event_ends, self.item_sep, self.newline(3) + "]")
        return self._fill(self._event, values, {}, in_c=in_c, groups=groups)

    def _delays_texts(self, delays: DelaysDocColumns, *, in_c: bool) -> list[str]:
        """``connections[].delays`` at depth 3 for a chunk, laid out a key at a time (in
        Python the lists and the biggest stall by ``value``: most connections have none)."""
        nested = (
            {}
            if in_c
            else {k: self._mostly_empty(_listed(delays.values[k]), 4) for k in _DELAYS_NESTED}
        )
        laid_out = iter(self._fill(self._delays, delays.values, nested, in_c=in_c))
        return [next(laid_out) if measured else "null" for measured in delays.measured]

    def _mostly_empty(self, values: Sequence[Any], depth: int) -> list[str]:
        """``value`` of each item of a column of mostly empty lists and nulls."""
        return [
            "[]" if type(x) is list and not x else "null" if x is None else self.value(x, depth)
            for x in values
        ]

    def _bracketed(self, opening: str, items: list[str], closing: str, depth: int) -> str:
        """A container at ``depth`` holding already laid-out items (json's ``[]``/``{}`` when empty)."""
        if not items:
            return opening + closing
        inner = self.newline(depth + 1)
        return (
            opening
            + self.item_sep.join(inner + item for item in items)
            + self.newline(depth)
            + closing
        )

    def _slots(self, shape: Mapping[str, Any], depth: int, lead: str = "") -> _Slots:
        """``_Slots`` of an object whose keys sit at ``depth`` (its braces one less), after
        ``lead``. ``shape``: key -> the name of its hole's column, or the shape of an object
        laid out in place (``_CONNECTION_SHAPE``)."""
        pieces, names, depths = [lead], [], []

        def walk(shape: Mapping[str, Any], depth: int) -> None:
            pieces[-1] += "{"
            for n, (key, inner) in enumerate(shape.items()):
                pieces[-1] += (self.item_sep if n else "") + self.newline(depth) + _key(key) + ": "
                if isinstance(inner, Mapping):
                    walk(inner, depth + 1)
                else:
                    names.append(inner)
                    depths.append(depth)
                    pieces.append("")
            pieces[-1] += self.newline(depth - 1) + "}"

        walk(shape, depth)
        return _Slots(tuple(pieces), tuple(names), tuple(depths))


class _Unexpected(Exception):
    """A connection document not of the shape ``_Layout`` has templates for."""


def _connection_shape() -> dict[str, Any]:
    """A connection entry's keys (``CONNECTION_KEYS``) as ``_Layout._slots`` takes them: the
    endpoints and ``counts`` are objects laid out in place, every other key is a hole named
    after the key (endpoint holes after the ``_Part.values`` column: ``client_ip``...)."""
    objects: dict[str, dict[str, str]] = {
        side: {"ip": f"{side}_ip", "port": f"{side}_port"} for side in ("client", "server")
    }
    objects["counts"] = {key: key for key in COUNT_KEYS}
    return {key: objects.get(key, key) for key in CONNECTION_KEYS}


_CONNECTION_SHAPE = _connection_shape()


def _strings_as_they_are(cells: list[Any]) -> bool:
    """``caveats`` cells that are lists (or tuples) of str: ``_nested_strings`` copies them."""
    return set(map(type, cells)) <= {list, tuple} and all(
        type(c) is str for cell in cells if cell for c in cell
    )


def _records_as_they_are(cells: list[Any]) -> bool:
    """``app`` and ``seen`` cells that are dicts or None: ``_nested_record`` keeps them."""
    return set(map(type, cells)) <= {dict, NoneType}


def _frames_as_they_are(cells: list[Any]) -> bool:
    """``evidence_frames`` cells that are lists of ascending distinct ints, as
    ``_nested_frames`` makes them."""
    return all(
        type(cell) is list
        and all(type(f) is int for f in cell)
        and all(a < b for a, b in itertools.pairwise(cell))
        for cell in cells
    )


#: Per nested key: whether a column's cells are, as they are, the JSON values ``_NESTED``
#: makes of them, so the compiled core can lay it out without ``_cells`` (a dict is its own
#: ``plain`` when JSON-native; when it is not, the core refuses it and the chunk is laid out
#: in Python). A type test per column, not a call per cell.
_AS_THEY_ARE: dict[str, Callable[[list[Any]], bool]] = {
    # dicts only: None and other empty cells become {}
    "inferred": lambda cells: set(map(type, cells)) <= {dict},
    "caveats": _strings_as_they_are,
    "app": _records_as_they_are,
    "seen": _records_as_they_are,
    "evidence_frames": _frames_as_they_are,
}

#: ``delays`` keys whose values are lists or objects (the rest are scalars or null).
_DELAYS_NESTED = frozenset({"syn_gaps_s", "synack_gaps_s", "biggest_stall", "stalls"})

#: How ``json.dumps`` writes each exact scalar type (a finite float: ``_Layout._scalars``).
_SCALAR_TEXT: dict[type, Callable[[Any], str]] = {
    int: int.__repr__,
    str: _string,
    float: float.__repr__,
    bool: {True: "true", False: "false"}.__getitem__,
    NoneType: lambda _: "null",
}


def _int(value: Any) -> str:
    if type(value) is not int:
        raise _Unexpected
    return int.__repr__(value)


def _float(value: Any) -> str:
    if type(value) is not float or not math.isfinite(value):
        raise _Unexpected  # json.dumps decides (and refuses NaN) in the fallback
    return float.__repr__(value)


def _bool(value: Any) -> str:
    if type(value) is not bool:
        raise _Unexpected
    return "true" if value else "false"


def _key(value: Any) -> str:
    if type(value) is not str:
        raise _Unexpected  # json.dumps has its own rules for int/float/None keys
    return _string(value)


def skip_order(skipped: Mapping[str, int]) -> list[str]:
    """SkipReason declaration order, then any other reason alphabetically."""
    known = [r.value for r in SkipReason if r.value in skipped]
    return known + sorted(k for k in skipped if k not in known)


def seconds(ns: int | None) -> float | None:
    return None if ns is None else int(ns) / 1e9


def optional_str(value: Any) -> str | None:
    return None if _missing(value) else str(value)


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):  # the usual case; pd.isna costs a microsecond a call
        return False
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # arrays and containers are not "missing"
        return False


def plain(value: Any) -> Any:
    """Turn a nested value into JSON-native types (dict keys become strings)."""
    kind = type(value)  # exact built-in types first: most values are, and isinstance chains cost
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is dict:
        return {str(plain(k)): plain(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [plain(v) for v in value]
    if isinstance(value, enum.Enum):
        return plain(value.value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(plain(k)): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset, np.ndarray)):
        items = sorted(value) if isinstance(value, (set, frozenset)) else value
        return [plain(v) for v in items]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        as_float = float(value)
        return None if math.isnan(as_float) or math.isinf(as_float) else as_float
    if value is None or isinstance(value, str):
        return value
    if _missing(value):
        return None
    return str(value)
