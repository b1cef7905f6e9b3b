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
from collections.abc import Iterable, Iterator, Mapping
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
    for chunk in _chunks(connections, events, lost):
        yield [layout.newline(2) + layout.connection(doc) for doc in chunk]


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


def connection_doc(
    row: Mapping[str, Any], events: list[dict[str, Any]], lost: Delays | None = None
) -> dict[str, Any]:
    """One ``connections`` entry from its connections-table row, events and ``Delays``."""
    start_ns, end_ns = int(row["start_ns"]), int(row["end_ns"])
    inferred = row["inferred"]
    return {
        "id": int(row["id"]),
        "client": {"ip": str(row["client_ip"]), "port": int(row["client_port"])},
        "server": {"ip": str(row["server_ip"]), "port": int(row["server_port"])},
        "client_guessed": bool(row["client_guessed"]),
        "first_frame": int(row["first_frame"]),
        "last_frame": int(row["last_frame"]),
        "start": start_ns / 1e9,
        "end": end_ns / 1e9,
        "duration": (end_ns - start_ns) / 1e9,
        "packets": int(row["packets"]),
        "bytes_client": int(row["bytes_client"]),
        "bytes_server": int(row["bytes_server"]),
        "fate": str(row["fate"]),
        "closer": optional_str(row["closer"]),
        "reset_by": optional_str(row["reset_by"]),
        "counts": {key: int(row[key]) for key in COUNT_KEYS},
        "inferred": plain(inferred) if isinstance(inferred, Mapping) and inferred else {},
        "explanation": optional_str(row["explanation"]) or "",
        "confidence": str(row["confidence"]),
        "caveats": [str(c) for c in row["caveats"]],
        "cause": optional_str(row["cause"]),
        "events": events,
        "delays": None if lost is None else delays_doc(lost),
        "slow": [] if lost is None else [tag.value for tag in lost.slow],
        "app": plain(app) if isinstance(app := row.get("app"), Mapping) else None,
        "seen": plain(seen) if isinstance(seen := row.get("seen"), Mapping) else None,
    }


#: Connections per chunk: big enough that per-chunk pandas work is noise, small enough that
#: one chunk's documents (the only ones alive while writing) stay a few MB.
CHUNK = 4096


def connection_chunks(analysis: Analysis, chunk: int = CHUNK) -> Iterator[list[dict[str, Any]]]:
    """``connection_doc`` of every connection, by id, a chunk at a time.

    Columns are turned into Python lists once per chunk (``Series.tolist``) instead of one
    boxed pandas row per connection, and events are grouped by one stable sort on
    (conn, frame) plus ``searchsorted``: linear in connections and events.
    """
    return _chunks(analysis.connections, analysis.events, analysis.delays, chunk)


def _chunks(
    connections: pd.DataFrame,
    events: pd.DataFrame,
    lost: Mapping[int, Delays] | None,
    chunk: int = CHUNK,
) -> Iterator[list[dict[str, Any]]]:
    conns = connections.sort_values("id", kind="stable")
    events = events.sort_values(["conn", "frame"], kind="stable")
    event_conn = events["conn"].to_numpy()
    ids = conns["id"].to_numpy()
    names = list(conns.columns)
    for lo in range(0, len(conns), chunk):
        part = conns.iloc[lo : lo + chunk]
        part_ids = ids[lo : lo + chunk]
        starts = np.searchsorted(event_conn, part_ids, side="left").tolist()
        ends = np.searchsorted(event_conn, part_ids, side="right").tolist()
        first = min(starts) if starts else 0
        docs_of_events = _event_docs(events.iloc[first : max(ends, default=first)])
        rows = zip(*(part[name].tolist() for name in names), strict=True)
        yield [
            connection_doc(
                dict(zip(names, row, strict=True)),
                docs_of_events[a - first : b - first],
                lost.get(conn) if lost else None,
            )
            for row, a, b, conn in zip(rows, starts, ends, part_ids.tolist(), strict=True)
        ]


def _event_docs(events: pd.DataFrame) -> list[dict[str, Any]]:
    """One ``events`` entry per row, in row order."""
    notes = events["note"]
    missing = notes.isna().tolist()
    return [
        {
            "frame": int(frame),
            "time": int(time_ns) / 1e9,
            "from": side,
            "kind": kind,
            "note": "" if gone else str(note),
        }
        for frame, time_ns, side, kind, note, gone in zip(
            events["frame"].tolist(),
            events["time_ns"].tolist(),
            events["side"].astype(str).tolist(),
            events["kind"].astype(str).tolist(),
            notes.tolist(),
            missing,
            strict=True,
        )
    ]


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

    def connection(self, doc: dict[str, Any]) -> str:
        """``doc`` as it appears at depth 2 of the document (an item of ``connections``)."""
        try:
            return self._connection_text(doc)
        except _Unexpected:
            return self.value(doc, 2)

    def _connection_text(self, doc: dict[str, Any]) -> str:
        if tuple(doc) != CONNECTION_KEYS:
            raise _Unexpected
        events = doc["events"]
        return self._connection.format(
            _int(doc["id"]),
            self._end.format(_string(doc["client"]["ip"]), _int(doc["client"]["port"])),
            self._end.format(_string(doc["server"]["ip"]), _int(doc["server"]["port"])),
            _bool(doc["client_guessed"]),
            _int(doc["first_frame"]),
            _int(doc["last_frame"]),
            _float(doc["start"]),
            _float(doc["end"]),
            _float(doc["duration"]),
            _int(doc["packets"]),
            _int(doc["bytes_client"]),
            _int(doc["bytes_server"]),
            _string(doc["fate"]),
            _optional_string(doc["closer"]),
            _optional_string(doc["reset_by"]),
            self._counts.format(*(_int(doc["counts"][k]) for k in COUNT_KEYS)),
            self.value(doc["inferred"], 3) if doc["inferred"] else "{}",
            _string(doc["explanation"]),
            _string(doc["confidence"]),
            self.value(doc["caveats"], 3),
            _optional_string(doc["cause"]),
            self._events_text(events),
            self._delays_text(doc["delays"]),
            self.value(doc["slow"], 3),
            self.value(doc["app"], 3),
            self.value(doc["seen"], 3),
        )

    def _delays_text(self, d: dict[str, Any] | None) -> str:
        """``connections[].delays`` at depth 3: scalars by template, lists and the biggest
        stall laid out by ``value`` (most connections have none)."""
        if d is None:
            return "null"
        if tuple(d) != DELAYS_DOC_KEYS:
            raise _Unexpected
        return self._delays.format(
            *(
                _scalar(d[k]) if k not in _DELAYS_NESTED else self.value(d[k], 4)
                for k in DELAYS_DOC_KEYS
            )
        )

    def _events_text(self, events: list[dict[str, Any]]) -> str:
        template = self._event
        items = [
            template.format(
                _int(e["frame"]),
                _float(e["time"]),
                _string(e["from"]),
                _string(e["kind"]),
                _string(e["note"]),
            )
            for e in events
        ]
        return self._bracketed("[", items, "]", 3)

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


#: ``delays`` keys whose values are lists or objects (the rest are scalars or null).
_DELAYS_NESTED = frozenset({"syn_gaps_s", "synack_gaps_s", "biggest_stall", "stalls"})


def _scalar(value: Any) -> str:
    """A JSON scalar (int, float, bool, str, null), as json.dumps writes it."""
    kind = type(value)
    if value is None:
        return "null"
    if kind is float:
        return _float(value)
    if kind is int:
        return _int(value)
    if kind is bool:
        return _bool(value)
    if kind is str:
        return _string(value)
    raise _Unexpected


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


def _optional_string(value: Any) -> str:
    return "null" if value is None else _string(value)


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
