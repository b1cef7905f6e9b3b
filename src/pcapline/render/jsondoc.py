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
import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np
import pandas as pd

from pcapline.delays import DELAYS_DOC_KEYS, Delays, delays_doc
from pcapline.model import CONNECTION_COLUMNS, SCHEMA, CaptureInfo, Counts, SkipReason

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

#: Keys of one ``connections`` entry, in contract order (``connection_doc``).
CONNECTION_KEYS: tuple[str, ...] = (*_connection_keys(), *DELAY_KEYS, *APP_KEYS, SEEN_KEY)


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
    nl1, sep = layout.newline(1), layout.item_sep
    out.write("{" + nl1 + '"schema": ' + _string(SCHEMA) + sep + nl1)
    out.write('"capture": ' + layout.value(capture_doc(analysis.capture), 1) + sep + nl1)
    out.write('"connections": ')
    first = True
    chunks = _text_chunks(layout, analysis) if connections is None else _batches(connections)
    for texts in chunks:
        if not texts:
            continue
        lead = "[" if first else sep
        first = False
        out.write(lead + sep.join(texts))
    out.write("[]" if first else layout.newline(1) + "]")
    out.write(sep + nl1 + '"findings": ' + layout.value(findings_doc(analysis), 1))
    if analysis.filter is not None:
        out.write(sep + nl1 + '"filter": ' + layout.value(analysis.filter.to_dict(), 1))
    out.write(layout.newline(0) + "}\n")


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
    for part in _parts(connections, events, lost):
        yield layout.connections(part)


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


@dataclass(frozen=True, slots=True)
class _Part:
    """A chunk of connections (by id) as columns: each contract value as ``connection_doc``
    gives it, one list per key, so both the dicts and ``_Layout.connections`` read a column at
    a time instead of one boxed row per connection. The nested keys (``inferred``, ``caveats``,
    ``app``, ``seen``) keep the table's objects, turned into JSON values by ``_NESTED`` where
    they are used (``_Layout`` lays out an object shared by many rows once)."""

    values: dict[str, list[Any]]  # contract key (client/server: ``client_ip``...) -> per row
    delays: list[Delays | None]
    events: pd.DataFrame  # the chunk's events, by conn then frame
    event_starts: list[int]  # per connection: its events are rows [start, end) of ``events``
    event_ends: list[int]

    def __len__(self) -> int:
        return len(self.delays)


def _nested_inferred(value: Any) -> Any:
    return plain(value) if isinstance(value, Mapping) and value else {}


def _nested_record(value: Any) -> Any:
    return plain(value) if isinstance(value, Mapping) else None


def _nested_strings(value: Any) -> list[str]:
    return [str(c) for c in value]


#: The nested keys of a connection entry and how a table cell becomes their JSON value.
_NESTED: dict[str, Any] = {
    "inferred": _nested_inferred,
    "caveats": _nested_strings,
    "app": _nested_record,
    "seen": _nested_record,
}


def connection_doc(part: _Part, i: int, events: list[dict[str, Any]]) -> dict[str, Any]:
    """Row ``i`` of ``part`` as one ``connections`` entry, with its ``events`` entries."""
    v = part.values
    lost = part.delays[i]
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
        "delays": None if lost is None else delays_doc(lost),
        "slow": [] if lost is None else [tag.value for tag in lost.slow],
        "app": _nested_record(v["app"][i]),
        "seen": _nested_record(v["seen"][i]),
    }


#: Connections per chunk: big enough that per-chunk pandas work is noise, small enough that
#: one chunk's documents (the only ones alive while writing) stay a few MB.
CHUNK = 4096


def connection_chunks(analysis: Analysis, chunk: int = CHUNK) -> Iterator[list[dict[str, Any]]]:
    """``connection_doc`` of every connection, by id, a chunk at a time.

    Columns are turned into Python lists once per chunk (``_parts``) instead of one boxed
    pandas row per connection, and events are grouped by one stable sort on (conn, frame)
    plus ``searchsorted``: linear in connections and events.
    """
    for part in _parts(analysis.connections, analysis.events, analysis.delays, chunk):
        docs = _event_docs(part.events)
        yield [
            connection_doc(part, i, docs[a:b])
            for i, (a, b) in enumerate(zip(part.event_starts, part.event_ends, strict=True))
        ]


def _parts(
    connections: pd.DataFrame,
    events: pd.DataFrame,
    lost: Mapping[int, Delays] | None,
    chunk: int = CHUNK,
) -> Iterator[_Part]:
    conns = connections.sort_values("id", kind="stable")
    events = events.sort_values(["conn", "frame"], kind="stable")
    event_conn = events["conn"].to_numpy()
    ids = conns["id"].to_numpy()
    for lo in range(0, len(conns), chunk):
        part = conns.iloc[lo : lo + chunk]
        part_ids = ids[lo : lo + chunk]
        starts = np.searchsorted(event_conn, part_ids, side="left")
        ends = np.searchsorted(event_conn, part_ids, side="right")
        first = int(starts.min()) if len(starts) else 0
        last = int(ends.max()) if len(ends) else first
        values = _values(part)
        yield _Part(
            values=values,
            delays=[lost.get(conn) for conn in values["id"]] if lost else [None] * len(part),
            events=events.iloc[first:last],
            event_starts=(starts - first).tolist(),
            event_ends=(ends - first).tolist(),
        )


def _values(part: pd.DataFrame) -> dict[str, list[Any]]:
    """The flat contract values of a chunk of the connections table, a column at a time."""

    def column(name: str) -> list[Any]:
        return part[name].tolist() if name in part.columns else [None] * len(part)

    start_ns = list(map(int, column("start_ns")))
    end_ns = list(map(int, column("end_ns")))
    values: dict[str, list[Any]] = {
        "id": list(map(int, column("id"))),
        "client_ip": list(map(str, column("client_ip"))),
        "client_port": list(map(int, column("client_port"))),
        "server_ip": list(map(str, column("server_ip"))),
        "server_port": list(map(int, column("server_port"))),
        "client_guessed": list(map(bool, column("client_guessed"))),
        "first_frame": list(map(int, column("first_frame"))),
        "last_frame": list(map(int, column("last_frame"))),
        "start": [ns / 1e9 for ns in start_ns],
        "end": [ns / 1e9 for ns in end_ns],
        "duration": [(b - a) / 1e9 for a, b in zip(start_ns, end_ns, strict=True)],
        "packets": list(map(int, column("packets"))),
        "bytes_client": list(map(int, column("bytes_client"))),
        "bytes_server": list(map(int, column("bytes_server"))),
        "fate": list(map(str, column("fate"))),
        "closer": list(map(optional_str, column("closer"))),
        "reset_by": list(map(optional_str, column("reset_by"))),
        **{key: list(map(int, column(key))) for key in COUNT_KEYS},
        "explanation": [optional_str(e) or "" for e in column("explanation")],
        "confidence": list(map(str, column("confidence"))),
        "cause": list(map(optional_str, column("cause"))),
    }
    values.update((key, column(key)) for key in _NESTED)
    return values


def _event_docs(events: pd.DataFrame) -> list[dict[str, Any]]:
    """One ``events`` entry per row, in row order."""
    return [
        {"frame": frame, "time": time, "from": side, "kind": kind, "note": note}
        for frame, time, side, kind, note in zip(*_event_values(events), strict=True)
    ]


def _event_values(events: pd.DataFrame) -> tuple[list[Any], ...]:
    """The ``events`` entries' values, a column each: frame, time, from, kind, note."""
    notes = events["note"]
    return (
        list(map(int, events["frame"].tolist())),
        (events["time_ns"].to_numpy(np.int64) / 1e9).tolist(),  # as int(ns) / 1e9 rounds
        events["side"].astype(str).tolist(),
        events["kind"].astype(str).tolist(),
        [
            "" if gone else str(note)
            for note, gone in zip(notes.tolist(), notes.isna().tolist(), strict=True)
        ],
    )


_string = json.encoder.encode_basestring  # the C escaper json.dumps(ensure_ascii=False) uses


class _Layout:
    """The text ``json.dumps(..., indent=indent, ensure_ascii=False)`` gives, piece by piece.

    ``connection`` lays out one ``connection_doc`` with precomputed templates; any value it
    does not expect falls back to ``json.dumps`` for that connection, so the output never
    depends on the templates being complete. JSON strings escape every newline, so a nested
    ``json.dumps`` block sits at depth d by putting d indents after each of its newlines.
    """

    def __init__(self, indent: int | None) -> None:
        if indent is not None and not isinstance(indent, int):
            raise TypeError("indent must be an int or None")
        self.indent = indent
        self.item_sep = ", " if indent is None else ","
        self._event = self._object_template(("frame", "time", "from", "kind", "note"), 5)
        self._end = self._object_template(("ip", "port"), 4)
        self._counts = self._object_template(COUNT_KEYS, 4)
        self._connection = self._object_template(CONNECTION_KEYS, 3)
        self._delays = self._object_template(DELAYS_DOC_KEYS, 4)

    def newline(self, depth: int) -> str:
        return "" if self.indent is None else "\n" + " " * (self.indent * depth)

    def value(self, value: Any, depth: int) -> str:
        """``value`` laid out at ``depth``; JSON-native values are joined here, others by json."""
        try:
            return self._nested(value, depth)
        except _Unexpected:
            text = json.dumps(value, indent=self.indent, ensure_ascii=False, allow_nan=False)
            return text if self.indent is None else text.replace("\n", self.newline(depth))

    def _nested(self, value: Any, depth: int) -> str:
        kind = type(value)
        if kind is str:
            return _string(value)
        if kind is dict:
            items = [_key(k) + ": " + self._nested(v, depth + 1) for k, v in value.items()]
            return self._bracketed("{", items, "}", depth)
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

    def connections(self, part: _Part) -> list[str]:
        """Every connection of ``part`` as ``newline(2) + connection(doc)`` gives it, laid out a
        column at a time: each key's texts for all rows, then one template fill per row."""
        v = part.values
        scalars = self._scalars
        return list(
            map(
                (self.newline(2) + self._connection).format,
                scalars(v["id"]),
                map(self._end.format, scalars(v["client_ip"], 4), scalars(v["client_port"], 4)),
                map(self._end.format, scalars(v["server_ip"], 4), scalars(v["server_port"], 4)),
                *(scalars(v[key]) for key in _FLAT_KEYS),
                map(self._counts.format, *(scalars(v[key], 4) for key in COUNT_KEYS)),
                self._cells(v["inferred"], _nested_inferred),
                scalars(v["explanation"]),
                scalars(v["confidence"]),
                self._cells(v["caveats"], _nested_strings),
                scalars(v["cause"]),
                self._events_texts(part),
                self._delays_texts(part.delays),
                [
                    self.value([] if d is None else [t.value for t in d.slow], 3)
                    for d in part.delays
                ],
                self._cells(v["app"], _nested_record),
                self._cells(v["seen"], _nested_record),
            )
        )

    def _scalars(self, values: Sequence[Any], depth: int = 3) -> list[str]:
        """A column of JSON scalars as json.dumps writes each, in C loops when the column holds
        one type (strings may be null); any other column goes value by value through
        ``value`` (json.dumps where needed), which lays out the same bytes."""
        kinds = set(map(type, values))
        if kinds == {int}:
            return list(map(int.__repr__, values))
        if kinds == {str}:
            return list(map(_string, values))
        if kinds == {float} and all(map(math.isfinite, values)):
            return list(map(float.__repr__, values))
        if kinds == {bool}:
            return ["true" if x else "false" for x in values]
        if kinds == {str, type(None)}:
            return ["null" if x is None else _string(x) for x in values]
        if kinds == {float, type(None)} and all(math.isfinite(x) for x in values if x is not None):
            return ["null" if x is None else float.__repr__(x) for x in values]
        return [self.value(x, depth) for x in values]

    def _cells(self, cells: list[Any], to_json: Callable[[Any], Any]) -> list[str]:
        """A nested key at depth 3 from its table cells (``to_json`` makes the JSON value);
        a cell object shared by many rows (``quality.seen_records`` shares a handful) is laid
        out once: ``cells`` keeps every object alive, so an ``id`` names one object here."""
        done: dict[int, str] = {}
        out = []
        for cell in cells:
            text = done.get(id(cell))
            if text is None:
                text = done[id(cell)] = self.value(to_json(cell), 3)
            out.append(text)
        return out

    def _events_texts(self, part: _Part) -> list[str]:
        """Each connection's ``events`` at depth 3, from the chunk's event columns."""
        item = self.newline(4) + self._event  # each item on its own line
        items = list(map(item.format, *(self._scalars(c, 5) for c in _event_values(part.events))))
        sep, close = self.item_sep, self.newline(3) + "]"
        return [
            "[" + sep.join(items[a:b]) + close if a < b else "[]"
            for a, b in zip(part.event_starts, part.event_ends, strict=True)
        ]

    def _delays_texts(self, lost: list[Delays | None]) -> list[str]:
        """``connections[].delays`` at depth 3 for a chunk: ``delays_doc`` per connection, then
        laid out a key at a time (the lists and the biggest stall by ``value``: most
        connections have none)."""
        docs = [None if d is None else delays_doc(d) for d in lost]
        shaped = [d is not None and tuple(d) == DELAYS_DOC_KEYS for d in docs]
        rows = [d.values() for d, ok in zip(docs, shaped, strict=True) if ok and d is not None]
        by_key = zip(*rows, strict=True)
        columns = [
            self._mostly_empty(column, 4) if key in _DELAYS_NESTED else self._scalars(column, 4)
            for key, column in zip(DELAYS_DOC_KEYS, by_key, strict=any(shaped))
        ]
        laid_out = iter(map(self._delays.format, *columns) if columns else ())
        return [
            next(laid_out) if ok else "null" if d is None else self.value(d, 3)
            for d, ok in zip(docs, shaped, strict=True)
        ]

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

    def _object_template(self, keys: tuple[str, ...], depth: int) -> str:
        """``{"k1": {}, ...}`` for str.format, its keys at ``depth`` (the braces one less)."""
        inner = self.newline(depth)
        body = self.item_sep.join(
            inner + _string(k).replace("{", "{{").replace("}", "}}") + ": {}" for k in keys
        )
        return "{{" + body + self.newline(depth - 1) + "}}"


class _Unexpected(Exception):
    """A connection document not of the shape ``_Layout`` has templates for."""


#: The scalar keys of a connection entry between ``server`` and ``counts``, in contract order.
_FLAT_KEYS: tuple[str, ...] = CONNECTION_KEYS[
    CONNECTION_KEYS.index("server") + 1 : CONNECTION_KEYS.index("counts")
]

#: ``delays`` keys whose values are lists or objects (the rest are scalars or null).
_DELAYS_NESTED = frozenset({"syn_gaps_s", "synack_gaps_s", "biggest_stall", "stalls"})


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
