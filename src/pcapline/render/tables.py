"""Flat tables: CSV (always) and Parquet (when pyarrow is installed, extra ``parquet``).

One row per connection, the JSON contract's fields flattened: ``client``/``server`` become
``client_ip``, ``client_port``, ...; ``counts`` become their six columns; times are float
seconds like the JSON; ``inferred`` is JSON text (its keys differ per connection, and a
spreadsheet or ``pd.read_csv`` can still parse it with ``json.loads``). The delay columns
(``delays.DELAY_COLUMNS``) come last: the main measures of ``delays``, and ``slow`` as
``syn_retry;slow_connect``. The ``app`` object follows, flattened (``app_protocol``,
``app_tls_sni``, ``app_http_path``, ...; empty when not recognised, ALPN lists joined by ";").
Last ``seen`` and ``evidence_frames`` (space-separated in CSV, a list of ints in Parquet).
"""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING, Any

import pandas as pd

from pcapline.app import HTTP_KEYS, TLS_KEYS
from pcapline.delays import DELAY_COLUMNS
from pcapline.fmt import csv_text
from pcapline.model import CONNECTION_COLUMNS, EVENT_COLUMNS
from pcapline.render.jsondoc import COUNT_KEYS, _nested_frames, optional_str, plain

if TYPE_CHECKING:
    from pcapline.analysis import Analysis


def _table_columns() -> tuple[str, ...]:
    """model.CONNECTION_COLUMNS with the ns times replaced by float seconds start, end, duration."""
    columns: list[str] = []
    for name in CONNECTION_COLUMNS:
        if name == "start_ns":
            columns += ["start", "end", "duration"]
        elif name != "end_ns":
            columns.append(name)
    return tuple(columns)


#: The ``app`` object's columns: (column, key in ``app``, key in its ``tls``/``http`` object).
APP_COLUMNS: tuple[tuple[str, str, str | None], ...] = (
    ("app_protocol", "protocol", None),
    ("app_frame", "frame", None),
    *((f"app_tls_{key}", "tls", key) for key in TLS_KEYS),
    *((f"app_http_{key}", "http", key) for key in HTTP_KEYS),
)

#: Column order of the CSV and Parquet tables: the delay columns (issue 10), ``app`` (issue 12),
#: then ``seen`` (issue 9: the ``connections[].seen`` keys that are true, space-separated),
#: then ``evidence_frames`` (the frames the verdict rests on, ascending: a list of integers in
#: the table and in Parquet, space-separated in CSV, as the JSON's last key).
TABLE_COLUMNS: tuple[str, ...] = (
    _table_columns()
    + DELAY_COLUMNS
    + tuple(name for name, _, _ in APP_COLUMNS)
    + ("seen", "evidence_frames")
)

#: Columns holding a list of integers: Arrow ``list<int64>`` in Parquet, space-separated in CSV.
FRAME_LIST_COLUMNS: frozenset[str] = frozenset({"evidence_frames"})


class ParquetUnavailable(RuntimeError):
    """pyarrow is not installed; the message says how to get it."""


def connections_table(analysis: Analysis, *, nested: bool = False) -> pd.DataFrame:
    """The flat per-connection table both CSV and Parquet write.

    ``nested=True`` (``Analysis.connection_table()``): the same columns, with ``inferred`` a
    dict, ``caveats`` and ``slow`` lists, instead of their CSV text."""
    return flat_connections(analysis.connections, nested=nested)


def flat_connections(connections: pd.DataFrame, *, nested: bool = False) -> pd.DataFrame:
    """``connections_table`` of a pipeline connections table (the whole capture's, or a part
    of it: the bounded-memory engine flattens each partition's where it was analysed)."""
    conns = connections.sort_values("id", kind="stable")
    start = conns["start_ns"].astype("int64") / 1e9
    end = conns["end_ns"].astype("int64") / 1e9
    table = pd.DataFrame(
        {
            "id": conns["id"].astype("int64"),
            "client_ip": conns["client_ip"].astype(str),
            "client_port": conns["client_port"].astype("int64"),
            "server_ip": conns["server_ip"].astype(str),
            "server_port": conns["server_port"].astype("int64"),
            "client_guessed": conns["client_guessed"].astype(bool),
            "first_frame": conns["first_frame"].astype("int64"),
            "last_frame": conns["last_frame"].astype("int64"),
            "start": start,
            "end": end,
            "duration": (conns["end_ns"].astype("int64") - conns["start_ns"].astype("int64")) / 1e9,
            "packets": conns["packets"].astype("int64"),
            "bytes_client": conns["bytes_client"].astype("int64"),
            "bytes_server": conns["bytes_server"].astype("int64"),
            "fate": conns["fate"].astype(str),
            "closer": conns["closer"].map(optional_str),
            "reset_by": conns["reset_by"].map(optional_str),
            **{key: conns[key].astype("int64") for key in COUNT_KEYS},
            "inferred": conns["inferred"].map(_inferred_dict if nested else _inferred_json),
            "explanation": conns["explanation"].fillna("").astype(str),
            "confidence": conns["confidence"].astype(str),
            "caveats": conns["caveats"].map(
                (lambda codes: [str(c) for c in codes])
                if nested
                else (lambda codes: " ".join(str(c) for c in codes))
            ),
            "cause": conns["cause"].map(optional_str),
            **_delay_columns(conns, nested=nested),
            **_app_columns(conns),
            "seen": _seen_column(conns),
            "evidence_frames": _frames_column(conns),
        },
        columns=list(TABLE_COLUMNS),
    )
    return table.reset_index(drop=True)


def to_csv(analysis: Analysis) -> str:
    """``connections_table`` as CSV, its text cells neutralised against spreadsheet formula
    injection (``fmt.csv_text``; number columns are left as numbers)."""
    return csv_rows(connections_table(analysis))


def csv_rows(table: pd.DataFrame, *, header: bool = True) -> str:
    """Rows of ``connections_table`` (all, or a run of them) as CSV text, neutralised."""
    table = table.copy(deep=False)  # the neutralised columns replace, never alter, the caller's
    for name in table.columns:
        column = table[name]
        if name in FRAME_LIST_COLUMNS:
            table[name] = column.map(lambda frames: " ".join(str(f) for f in frames))
            continue  # digits and spaces: nothing a spreadsheet reads as a formula
        if not (pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)):
            table[name] = column.map(csv_text)
    buffer = io.StringIO()
    table.to_csv(buffer, index=False, header=header, lineterminator="\n")
    return buffer.getvalue()


def write_parquet(analysis: Analysis, path: str) -> None:
    """The connections table as one Parquet file, written whole or not at all."""
    from pcapline.outfile import whole_files

    _need_pyarrow()
    with whole_files([path]) as (temporary,):
        write_parquet_table(connections_table(analysis), temporary)


def write_parquet_dataset(analysis: Analysis, directory: str) -> list[str]:
    """A dataset in ``directory`` (created if needed): ``connections.parquet`` (the CSV's
    columns) and ``events.parquet`` (``EVENT_TABLE_COLUMNS``), joined on ``id``; pandas,
    polars and DuckDB read either file or the folder's ``*.parquet``. Both are written whole
    or neither (``outfile.whole_dataset``). Returns the paths written."""
    import os

    from pcapline.outfile import whole_dataset

    _need_pyarrow()
    names = ("connections.parquet", "events.parquet")
    with whole_dataset(directory, names) as (connections, events):
        write_parquet_table(connections_table(analysis), connections)
        write_parquet_table(events_table(analysis), events)
    return [os.path.join(directory, name) for name in names]


def no_connections() -> pd.DataFrame:
    """``flat_connections`` of a capture without a TCP connection: no rows, typed columns."""
    return flat_connections(pd.DataFrame(columns=[*CONNECTION_COLUMNS, *DELAY_COLUMNS]))


def no_events() -> pd.DataFrame:
    """``flat_events`` of a capture without an event: no rows, typed columns."""
    return flat_events(pd.DataFrame(columns=list(EVENT_COLUMNS)))


def write_parquet_table(table: pd.DataFrame, path: str) -> None:
    """One table as a Parquet file, with ``parquet_schema``'s column types."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = parquet_schema(table)
    pq.write_table(pa.Table.from_pandas(table, schema=schema, preserve_index=False), path)


def parquet_schema(table: pd.DataFrame) -> Any:
    """The Arrow schema a table is written with: pyarrow's, but every text column ``string``.

    Left to pyarrow, a text column's type followed how pandas happened to hold it:
    ``large_string`` for pandas' ``str`` dtype, ``string`` for Python objects, and ``null``
    where no row of this capture had a value (no connection was reset, say). Two captures'
    tables then had different schemas, and a dataset joining them failed to load; the
    bounded-memory path's tables differed from the in-memory path's too."""
    import pyarrow as pa

    inferred = pa.Schema.from_pandas(table, preserve_index=False)  # with pandas' metadata
    fields = [
        pa.field(f.name, pa.list_(pa.int64()))
        if f.name in FRAME_LIST_COLUMNS
        else pa.field(f.name, pa.string())
        if is_text(table[f.name])
        else f
        for f in inferred
    ]
    return pa.schema(fields, metadata=inferred.metadata)


def is_text(column: pd.Series) -> bool:
    """A column of text (or of nothing but missing values, held as objects)."""
    return column.dtype == object or isinstance(column.dtype, pd.StringDtype)


def _need_pyarrow() -> None:
    try:
        import pyarrow  # noqa: F401  (only to give a clear message when it is absent)
    except ImportError as exc:
        raise ParquetUnavailable(
            "Parquet output needs pyarrow: pip install 'pcapline[parquet]'"
        ) from exc


def events_table(analysis: Analysis) -> pd.DataFrame:
    """Every event, named as in JSON: ``id`` (the connection's), ``frame``, ``time`` (float
    seconds since the epoch), ``from`` (client/server), ``kind``, ``note``, and ``value`` (the
    number the note is about, NaN when none); by connection, then frame."""
    return flat_events(analysis.events)


def flat_events(events: pd.DataFrame) -> pd.DataFrame:
    """``events_table`` of a pipeline events table (the whole capture's or a part of it)."""
    events = events.sort_values(["conn", "frame"], kind="stable")
    return pd.DataFrame(
        {
            "id": events["conn"].astype("int64"),
            "frame": events["frame"].astype("int64"),
            "time": events["time_ns"].astype("int64") / 1e9,
            "from": events["side"].astype(str),
            "kind": events["kind"].astype(str),
            "note": events["note"].fillna("").astype(str),
            "value": pd.to_numeric(events["value"], errors="coerce").astype("float64"),
        },
        columns=list(EVENT_TABLE_COLUMNS),
    ).reset_index(drop=True)


#: ``Analysis.event_table()`` columns (the JSON ``events`` keys, with the connection ``id``).
EVENT_TABLE_COLUMNS: tuple[str, ...] = ("id", "frame", "time", "from", "kind", "note", "value")


def _delay_columns(conns: pd.DataFrame, *, nested: bool = False) -> dict[str, pd.Series]:
    """``delays.DELAY_COLUMNS``: seconds as floats (empty when not measured), the biggest
    stall's cause, and the ``slow`` tags joined by ";" (empty for none)."""
    out: dict[str, pd.Series] = {}
    for name in DELAY_COLUMNS:
        if name not in conns.columns:  # an Analysis built without delays
            out[name] = pd.Series([""] * len(conns), index=conns.index, dtype=object)
        elif name == "slow" and nested:
            out[name] = conns[name].map(lambda tags: [str(t) for t in tags])
        elif name == "slow":
            out[name] = conns[name].map(lambda tags: ";".join(str(t) for t in tags))
        elif name in ("biggest_stall", "transfer_paced_by", "response_from"):
            out[name] = conns[name].fillna("").astype(str)
        else:
            out[name] = conns[name].astype("float64")
    return out


def _app_columns(conns: pd.DataFrame) -> dict[str, pd.Series]:
    """``APP_COLUMNS`` from the ``app`` objects: text, or nullable integers for the frame and
    the HTTP status (so Parquet keeps them numbers); empty/null when not recognised."""
    docs = conns["app"].tolist() if "app" in conns.columns else [None] * len(conns)
    out: dict[str, pd.Series] = {}
    for name, key, sub in APP_COLUMNS:
        values = [_app_value(doc, key, sub) for doc in docs]
        numeric = name in ("app_frame", "app_http_status")
        out[name] = pd.Series(values, index=conns.index, dtype="Int64" if numeric else object)
    return out


def _app_value(doc: Any, key: str, sub: str | None) -> Any:
    if not isinstance(doc, dict):
        return None
    value = doc.get(key)
    if sub is not None:
        value = value.get(sub) if isinstance(value, dict) else None
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    return value


def _seen_column(conns: pd.DataFrame) -> pd.Series:
    """``connections[].seen`` as the names of its true keys (empty when not known)."""
    if "seen" not in conns.columns:
        return pd.Series([""] * len(conns), index=conns.index, dtype=object)
    return conns["seen"].map(
        lambda seen: " ".join(k for k, v in seen.items() if v) if isinstance(seen, dict) else ""
    )


def _frames_column(conns: pd.DataFrame) -> pd.Series:
    """``connections[].evidence_frames``: a list of ints per row, ascending (``[]``: none)."""
    if "evidence_frames" not in conns.columns:
        return pd.Series([[] for _ in range(len(conns))], index=conns.index, dtype=object)
    return conns["evidence_frames"].map(_nested_frames)


def _inferred_dict(value: Any) -> dict[str, Any]:
    return plain(value) if isinstance(value, dict) else {}


def _inferred_json(value: Any) -> str:
    inferred = plain(value) if isinstance(value, dict) else {}
    return json.dumps(inferred, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
