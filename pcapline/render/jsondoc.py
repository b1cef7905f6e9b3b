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
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from pcapline.model import SCHEMA, CaptureInfo, Counts, SkipReason

if TYPE_CHECKING:
    from pcapline.analysis import Analysis

#: ``counts`` keys, in contract order (model.Counts fields; flat columns of the connections table).
COUNT_KEYS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Counts))


def document(analysis: Analysis) -> dict[str, Any]:
    """The whole ``pcapline/1`` document for an analysis (already filtered, if it was)."""
    events_by_conn = _events_by_connection(analysis.events)
    return {
        "schema": SCHEMA,
        "capture": capture_doc(analysis.capture),
        "connections": [
            connection_doc(row, events_by_conn.get(int(row["id"]), []))
            for row in analysis.connections.sort_values("id", kind="stable").to_dict("records")
        ],
        "findings": [plain(f.to_dict()) for f in analysis.findings],
    }


def dumps(doc: Mapping[str, Any], *, indent: int | None = 2) -> str:
    """Serialise strictly: a NaN that slipped through is a bug, not ``NaN`` in the output."""
    return json.dumps(doc, indent=indent, ensure_ascii=False, allow_nan=False) + "\n"


def capture_doc(info: CaptureInfo) -> dict[str, Any]:
    return {
        "path": info.path,
        "format": info.format,
        "link_types": list(info.link_types),
        "frames": int(info.frames),
        "tcp_frames": int(info.tcp_frames),
        "first_time": seconds(info.first_time_ns),
        "last_time": seconds(info.last_time_ns),
        "skipped": {reason: int(info.skipped[reason]) for reason in skip_order(info.skipped)},
        "warnings": [str(w) for w in info.warnings],
    }


def connection_doc(row: Mapping[str, Any], events: list[dict[str, Any]]) -> dict[str, Any]:
    start_ns, end_ns = int(row["start_ns"]), int(row["end_ns"])
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
        "inferred": plain(row["inferred"]) if isinstance(row["inferred"], Mapping) else {},
        "explanation": optional_str(row["explanation"]) or "",
        "events": events,
    }


def _events_by_connection(events: pd.DataFrame) -> dict[int, list[dict[str, Any]]]:
    """Group once (not one filter per connection): thousands of connections stay linear."""
    out: dict[int, list[dict[str, Any]]] = {}
    if events.empty:
        return out
    ordered = events.sort_values(["conn", "frame"], kind="stable")
    for conn, frame, time_ns, side, kind, note in zip(
        ordered["conn"].to_numpy(),
        ordered["frame"].to_numpy(),
        ordered["time_ns"].to_numpy(),
        ordered["side"].astype(str).to_numpy(),
        ordered["kind"].astype(str).to_numpy(),
        ordered["note"].to_numpy(),
        strict=True,
    ):
        out.setdefault(int(conn), []).append(
            {
                "frame": int(frame),
                "time": int(time_ns) / 1e9,
                "from": str(side),
                "kind": str(kind),
                "note": "" if _missing(note) else str(note),
            }
        )
    return out


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
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # arrays and containers are not "missing"
        return False


def plain(value: Any) -> Any:
    """Turn a nested value into JSON-native types (dict keys become strings)."""
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
