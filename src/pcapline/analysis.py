"""``analyze()``: the pipeline stages in order, and the ``Analysis`` they produce.

    read -> decode -> flows -> detect -> classify -> explain -> findings

Each stage is a module that only knows the stage before it (docs/architecture.md). This file
only wires them; it decides nothing about TCP. Filters (``host``, ``port``, ``stream``) select
connections *after* the whole capture was analysed, so connection ids stay Wireshark's
``tcp.stream`` numbers and cross-connection findings still see every connection.
"""

from __future__ import annotations

import io
import ipaddress
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO, TypeVar, cast

import numpy as np
import pandas as pd

from pcapline.fmt import counted
from pcapline.frames import in_order, with_columns
from pcapline.model import (
    CONNECTION_COLUMNS,
    EVENT_COLUMNS,
    CaptureInfo,
    Confidence,
    Counts,
    Explanation,
    Fate,
    Finding,
    Side,
    SkipReason,
    Verdict,
    Verdicts,
)

if TYPE_CHECKING:
    from pcapline.decode import Decoded
    from pcapline.delays import Delays, SlowThresholds
    from pcapline.detect import ConnDetections
    from pcapline.engine import Progress
    from pcapline.facts import Facts
    from pcapline.quality import CaptureQuality
    from pcapline.read.capture import Capture

Source = str | os.PathLike[str] | BinaryIO
#: A column's value type (``verdict_columns``).
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Filter:
    """What ``Analysis.select`` kept, and how many connections the whole capture holds: a
    filtered report says so (JSON ``filter``, the HTML banner, the text summary), so "1 of 1
    connection failed" never hides a filter."""

    host: str | None
    port: int | None
    streams: tuple[int, ...]
    connections_in_capture: int

    @property
    def words(self) -> str:
        """The filter as typed on the command line: ``--host 10.0.0.7 --stream 3``."""
        parts = [f"--host {self.host}"] if self.host is not None else []
        parts += [f"--port {self.port}"] if self.port is not None else []
        parts += [f"--stream {n}" for n in self.streams]
        return " ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "port": self.port,
            "streams": list(self.streams),
            "connections_in_capture": self.connections_in_capture,
        }


@dataclass(slots=True)
class Analysis:
    """Everything pcapline knows about one capture; renderers read only this."""

    capture: CaptureInfo
    segments: pd.DataFrame  # model.SEGMENT_COLUMNS + model.FLOW_COLUMNS
    connections: pd.DataFrame  # model.CONNECTION_COLUMNS, one row per connection, by id
    events: pd.DataFrame  # model.EVENT_COLUMNS, sorted by conn then frame
    findings: list[Finding] = field(default_factory=list)
    # What the stages knew, for renderers that need more than the tables:
    #: Per-segment facts (``facts.compute_facts``) of the whole capture; None when the engine
    #: kept none (the CLI's), or those of a few connections a renderer draws (``with_facts_of``).
    facts: Facts | None = None
    #: Visited connections only: all, or only those ``engine.Kept`` names (the CLI's text,
    #: JSON and tables: those the findings read; HTML: those too and those a chart draws).
    detections: Mapping[int, ConnDetections] = field(default_factory=dict)
    verdicts: Mapping[int, Verdict] = field(default_factory=dict)  # conn id -> verdict (all)
    #: conn id -> what it lost to retries, stalls and silence, with its ``slow`` tags (all
    #: connections; a ``delays.DelaysTable``). Empty when the analysis was built without it.
    delays: Mapping[int, Delays] = field(default_factory=dict)
    #: Set by ``select``: the filter and the whole capture's connection count (None: unfiltered).
    filter: Filter | None = None

    def connection(self, conn_id: int) -> pd.Series:
        """The connections-table row of ``conn_id`` (Wireshark ``tcp.stream``); KeyError if absent."""
        rows = self.connections[self.connections["id"] == conn_id]
        if rows.empty:
            raise KeyError(conn_id)
        return rows.iloc[0]

    def with_facts_of(self, conn_ids: Iterable[int]) -> Analysis:
        """This analysis with the per-segment facts of ``conn_ids`` at least: itself when it
        kept the facts, else a copy holding those connections' facts, computed from their
        segments.

        The engine keeps no facts when a renderer draws only a few connections
        (``keep_facts=False``: the HTML report's sections, a timeline): on many cores they
        would come back from every worker, some forty columns a segment. A connection's
        facts read its own segments alone (``facts.compute_facts`` groups by connection), so
        they come out as the whole capture's held them; only ``capture_end_ns`` is then the
        last of these segments, which no renderer reads.
        """
        if self.facts is not None:
            return self
        from dataclasses import replace

        from pcapline.facts import compute_facts

        wanted = self.segments["conn"].isin(list(conn_ids)).to_numpy()
        return replace(self, facts=compute_facts(self.segments[wanted]))

    def connection_events(self, conn_id: int) -> pd.DataFrame:
        """Events of one connection, in frame order."""
        return self.events[self.events["conn"] == conn_id]

    def select(
        self,
        *,
        host: str | None = None,
        port: int | None = None,
        stream: Iterable[int] | int | None = None,
        app: str | None = None,
        sni: str | None = None,
    ) -> Analysis:
        """A view with only the connections matching every given filter.

        ``host`` matches either end (IPv6 written any way), ``port`` either port, ``stream``
        the connection id, ``app`` the application protocol recognised (``"tls"``,
        ``"http"``), ``sni`` the TLS server name (a shell pattern, any case: ``*.example.com``). Segments and events follow the selected connections; findings are
        kept when they name a selected connection (or no connection at all); ``capture`` facts
        stay those of the whole file.
        """
        conns = self.connections
        keep = pd.Series(True, index=conns.index)
        if host is not None:
            wanted = _canonical_ip(host)
            keep &= (conns["client_ip"].map(_canonical_ip) == wanted) | (
                conns["server_ip"].map(_canonical_ip) == wanted
            )
        if port is not None:
            keep &= (conns["client_port"] == port) | (conns["server_port"] == port)
        if stream is not None:
            ids = [stream] if isinstance(stream, int) else list(stream)
            keep &= conns["id"].isin(ids)
        if (app is not None or sni is not None) and "app" in conns.columns:
            from pcapline.app import matches

            keep &= conns["app"].map(lambda doc: matches(doc, protocol=app, sni=sni)).astype(bool)
        elif app is not None or sni is not None:  # built without application context
            keep &= False
        selected = conns[keep]
        ids_kept = set(selected["id"].tolist())
        # A view of a view keeps the earlier filters and the whole capture's count.
        before = self.filter or Filter(None, None, (), len(conns))
        given = [stream] if isinstance(stream, int) else list(stream or [])
        chosen = Filter(
            host=host if host is not None else before.host,
            port=port if port is not None else before.port,
            streams=tuple(dict.fromkeys(int(n) for n in given)) or before.streams,
            connections_in_capture=before.connections_in_capture,
        )
        return Analysis(
            capture=self.capture,
            segments=self.segments[self.segments["conn"].isin(ids_kept)],
            connections=selected,
            events=self.events[self.events["conn"].isin(ids_kept)],
            findings=[
                f for f in self.findings if not f.connections or ids_kept & set(f.connections)
            ],
            facts=self.facts,  # looked up by connection id: the whole capture's stay valid
            detections={k: v for k, v in self.detections.items() if k in ids_kept},
            verdicts={k: self.verdicts[k] for k in sorted(ids_kept) if k in self.verdicts},
            delays=_select_delays(self.delays, ids_kept),
            filter=chosen,
        )

    def to_dict(self) -> dict[str, Any]:
        """The ``pcapline/1`` JSON document as plain Python objects."""
        from pcapline.render.jsondoc import document

        return document(self)

    def to_json(self, *, indent: int | None = 2) -> str:
        """``jsondoc.dumps(self.to_dict())``, the same text, built without the dicts of the
        whole document and without json's pure-Python (indented) encoder."""
        buffer = io.StringIO()
        self.write_json(buffer, indent=indent)
        return buffer.getvalue()

    def write_json(self, out: TextIO, *, indent: int | None = 2) -> None:
        """Write ``to_json()`` to a text stream piece by piece: no 100 MB string for big captures."""
        from pcapline.render.jsondoc import write

        write(self, out, indent=indent)

    def to_html(self) -> str:
        """One self-contained HTML report (render/html.py)."""
        from pcapline.render.html import render_html

        return render_html(self)

    # --- tables named and measured as in JSON/CSV (the attributes above are the pipeline's) ---

    def connection_table(self) -> pd.DataFrame:
        """One row per connection with the JSON/CSV names and units: ``client_ip`` ...,
        ``start``/``end`` float seconds since the epoch, ``duration`` (s), the six counts,
        ``inferred`` (dict), ``explanation``, ``confidence``, ``caveats`` (list), the delay
        columns, ``slow`` (list) and ``evidence_frames`` (list of frame numbers). ``connections``
        keeps the pipeline's int64 ns columns."""
        from pcapline.render.tables import connections_table

        return connections_table(self, nested=True)

    def event_table(self) -> pd.DataFrame:
        """Every event with the JSON names: ``id`` (connection), ``frame``, ``time`` (float s),
        ``from``, ``kind``, ``note``, ``value``. ``events`` keeps ``conn``/``time_ns``/``side``."""
        from pcapline.render.tables import events_table

        return events_table(self)

    def _repr_html_(self) -> str:
        """Jupyter's rich display: a compact, escaped summary (render/notebook.py)."""
        from pcapline.render.notebook import summary_html

        return summary_html(self)


def analyze(
    source: Source,
    *,
    host: str | None = None,
    port: int | None = None,
    stream: Iterable[int] | int | None = None,
    slow: SlowThresholds | None = None,
    app: str | None = None,
    sni: str | None = None,
    jobs: int = 1,
    scheduler: str | None = None,
    partitions: int | None = None,
    keep_facts: bool = True,
    progress: Progress | None = None,
) -> Analysis:
    """Analyse a capture file (path, ``"-"`` for stdin, or a binary file object).

    ``host``, ``port``, ``stream``, ``app``, ``sni``: keep only the matching connections
    (``Analysis.select``), after the whole capture was analysed.

    ``slow``: when a connection counts as slow (``delays.SlowThresholds``; defaults if None).
    ``jobs``, ``scheduler``, ``partitions``, ``keep_facts``, ``progress``: how the engine
    runs it (``engine.run``: worker processes, a Dask scheduler address, how many parts,
    whether to keep the per-segment facts, a status line); the result is the same.

    Raises ``pcapline.errors.PcaplineError`` subclasses with a one-line message when the
    input is unusable (not a capture, empty, unreadable).
    """
    # The engine is imported here, not at the top: ``Analysis`` is a plain record that
    # renderers, scan workers and tests build or unpickle without loading the pipeline.
    from pcapline import engine

    analysis = engine.run(
        source,
        slow=slow,
        jobs=jobs,
        scheduler=scheduler,
        partitions=partitions,
        keep_facts=keep_facts,
        progress=progress,
    )
    if host is None and port is None and stream is None and app is None and sni is None:
        return analysis
    return analysis.select(host=host, port=port, stream=stream, app=app, sni=sni)


def capture_info(capture: Capture, decoded: Decoded) -> CaptureInfo:
    """The ``capture`` facts: what the file is and how every frame was accounted for."""
    from pcapline.decode.link import linktype_name

    skipped = {str(reason): int(n) for reason, n in decoded.skipped.items() if n}
    cut_at = (
        tcp_cut_length(capture.caplen, capture.origlen, decoded.frame_reason)
        if SkipReason.TRUNCATED_TCP_HEADER in skipped
        else None
    )
    times = capture.timed_ns  # a record cut inside its header has no time of its own
    # With no frame, the link types the file header declares (a header-only capture).
    declared = dict.fromkeys(linktype_name(t) for t in capture.declared_link_types)
    return CaptureInfo(
        path=str(capture.path),
        format=str(capture.format),
        link_types=[str(name) for name in decoded.link_types] or list(declared),
        frames=int(capture.frames),  # includes records the file ended inside
        tcp_frames=len(decoded.segments),
        icmp_frames=len(decoded.icmp),
        first_time_ns=int(times.min()) if len(times) else None,
        last_time_ns=int(times.max()) if len(times) else None,
        skipped=skipped,
        warnings=[str(w) for w in capture.warnings] + tcp_header_cut_warning(skipped, cut_at),
    )


def tcp_cut_length(caplen: np.ndarray, origlen: np.ndarray, frame_reason: np.ndarray) -> int | None:
    """The captured length of the frames the snaplen cut inside their TCP header (captured
    bytes fewer than the wire's: the largest, the snaplen they were cut at); None when none
    was cut by the snaplen (a packet shorter than its IP header says is not). Per frame:
    ``caplen``, ``origlen`` and the decode stage's ``frame_reason``."""
    from pcapline.decode.headers import REASON_CODES

    code = REASON_CODES[SkipReason.TRUNCATED_TCP_HEADER]
    cut = np.flatnonzero(frame_reason == code)
    cut = cut[cut < len(caplen)]
    cut = cut[caplen[cut] < origlen[cut]]
    return int(caplen[cut].max()) if len(cut) else None


def tcp_header_cut_warning(skipped: Mapping[str, int], cut_at: int | None = None) -> list[str]:
    """The capture warning for TCP frames whose captured bytes end inside the TCP header
    (``skipped`` truncated_tcp_header; ``cut_at``: the length the snaplen cut them at, when
    the file shows it did)."""
    n = int(skipped.get(SkipReason.TRUNCATED_TCP_HEADER.value, 0))
    if not n:
        return []
    frames = counted(n, "TCP frame")
    after = (
        "not analysed (truncated_tcp_header): a connection may show one direction only, or "
        "none at all"
    )
    if cut_at is None:
        ends, their = ("ends", "its") if n == 1 else ("end", "their")
        return [
            f"{frames} {ends} inside the TCP header (cut by the capture's snaplen, or shorter "
            f"than {their} IP header says): {after}"
        ]
    return [
        f"the snaplen ({cut_at} bytes captured per frame) cut {frames} inside the TCP header: "
        f"{after}; capture with a larger snaplen (tcpdump -s 0)"
    ]


def one_sided_warning(one: np.ndarray, tcp_cut: int = 0) -> str | None:
    """A capture-level warning when most connections (``one``: per connection, one direction
    captured, ``detect.handshake.one_sided``) show one direction only. ``tcp_cut``: TCP
    frames the snaplen cut inside their header (``capture.skipped``): where there are any,
    they may be the other direction's (its headers longer: IPv6 extension headers, a
    tunnel), and the routing is not blamed first."""
    if len(one) and 2 * int(one.sum()) > len(one):
        why = (
            f"{tcp_cut:,} TCP frame(s) were cut inside the TCP header (the snaplen), which may be "
            "the other direction's (longer headers: IPv6 extension headers, a tunnel), or only "
            "one direction was captured (asymmetric routing or a one-sided tap)"
            if tcp_cut
            else "only one direction was captured (asymmetric routing or a one-sided tap)"
        )
        return (
            f"{int(one.sum())} of {len(one)} connections hold packets from one side only: "
            f"{why}; the other side's packets are inferred from the acknowledgements"
        )
    return None


def seen_column(
    connections: pd.DataFrame, conn_ids: np.ndarray, found: CaptureQuality
) -> pd.Series:
    """The ``seen`` column of ``connections`` (``quality.seen_records``, by id)."""
    from pcapline.quality import seen_records

    records = seen_records(found)
    pos = np.searchsorted(conn_ids, connections["id"].to_numpy(np.int64)).tolist()
    return pd.Series([records[i] for i in pos], index=connections.index, dtype=object)


def verdict_columns(connections: pd.DataFrame, verdicts: Mapping[int, Verdict]) -> pd.DataFrame:
    """``connections`` (flows' identity and volume columns) with the verdict columns of
    model.CONNECTION_COLUMNS filled from ``verdicts``, plus ``evidence_frames`` (a list per row).
    """
    table = verdicts if isinstance(verdicts, Verdicts) else _as_columns(verdicts)
    ids = np.asarray(table.ids, dtype=np.int64)
    wanted = connections["id"].to_numpy(np.int64)
    pos = np.searchsorted(ids, wanted)
    if len(wanted) and (pos.max() >= len(ids) or not np.array_equal(ids[pos], wanted)):
        raise KeyError("verdict_columns: a connection without a verdict")
    order = pos.tolist()
    texts: dict[int, str] = {}  # healthy connections share one Explanation object

    def text(e: Explanation) -> str:
        key = id(e)
        if key not in texts:
            texts[key] = e.text
        return texts[key]

    # One str object per value, shared by every row (``str(member)`` makes a new one per
    # row: 60 bytes a connection for ``confidence``, held by the text and HTML reports).
    value: dict[Fate | Side | Confidence | None, str | None] = {None: None}
    value.update({member: member.value for member in (*Fate, *Side, *Confidence)})

    def picked(values: Sequence[T]) -> Iterator[T]:
        """``values`` in the table's row order (map: no interpreted step per row)."""
        return map(values.__getitem__, order)

    def values_of(members: Sequence[Fate | Side | Confidence | None]) -> list[str | None]:
        return list(map(value.__getitem__, picked(members)))

    columns: dict[str, object] = {
        "fate": values_of(table.fate),
        "closer": values_of(table.closer),
        "reset_by": values_of(table.reset_by),
    }
    for name in Counts.__slots__:
        columns[name] = np.asarray(table.counts[name], dtype=np.int64)[pos]
    columns["inferred"] = list(picked(table.inferred))
    columns["explanation"] = list(map(text, picked(table.explanation)))
    columns["confidence"] = values_of(table.confidence)
    columns["caveats"] = list(map(list, picked(table.caveats)))
    columns["cause"] = [None if c is None else str(c) for c in picked(table.cause)]
    # Last: after the contract's columns, where the table keeps it (no reordering after).
    columns["evidence_frames"] = list(map(list, picked(table.evidence_frames)))
    out = with_columns(
        connections,
        {
            # the counts are int64 arrays already; the rest stay Python objects (no str type)
            name: cast(np.ndarray, values)
            if name in Counts.__slots__
            else pd.Series(values, index=connections.index, dtype=object)
            for name, values in columns.items()
        },
    )
    extra = [c for c in out.columns if c not in CONNECTION_COLUMNS]
    order = [*CONNECTION_COLUMNS, *extra]
    return out if list(out.columns) == order else out[order]


def delay_columns(connections: pd.DataFrame, lost: Mapping[int, Delays]) -> pd.DataFrame:
    """``connections`` with ``delays.DELAY_COLUMNS`` appended (after every other column)."""
    return with_columns(connections, delay_series(connections, lost))


def delay_series(connections: pd.DataFrame, lost: Mapping[int, Delays]) -> dict[str, np.ndarray]:
    """``delays.DELAY_COLUMNS`` of ``connections`` as arrays in its row order (none unless
    ``lost`` is a ``DelaysTable``), typed by pandas as ``pd.Series(array)`` would be."""
    from pcapline.delays import DelaysTable

    if not isinstance(lost, DelaysTable):
        return {}
    return dict(lost.table_columns(connections["id"].to_numpy(np.int64)))


def _select_delays(lost: Mapping[int, Delays], keep: set[int]) -> Mapping[int, Delays]:
    from pcapline.delays import DelaysTable

    if isinstance(lost, DelaysTable):
        return lost.select(keep)
    return {k: v for k, v in lost.items() if k in keep}


def _as_columns(verdicts: Mapping[int, Verdict]) -> Verdicts:
    rows = [verdicts[k] for k in sorted(verdicts)]
    return Verdicts(
        [v.conn for v in rows],
        fate=[v.fate for v in rows],
        closer=[v.closer for v in rows],
        reset_by=[v.reset_by for v in rows],
        counts={name: [getattr(v.counts, name) for v in rows] for name in Counts.__slots__},
        evidence_frames=[v.evidence_frames for v in rows],
        inferred=[v.inferred for v in rows],
        explanation=[v.explanation for v in rows],
        confidence=[v.confidence for v in rows],
        caveats=[v.caveats for v in rows],
        cause=[v.cause for v in rows],
    )


def _connections_table(connections: pd.DataFrame) -> pd.DataFrame:
    """Contract columns first (model.CONNECTION_COLUMNS), any extra columns after, by id."""
    missing = [c for c in CONNECTION_COLUMNS if c not in connections.columns]
    if missing:
        raise RuntimeError(f"verdict_columns() made a connections table without {missing}")
    extra = [c for c in connections.columns if c not in CONNECTION_COLUMNS]
    order = [*CONNECTION_COLUMNS, *extra]
    table = connections if list(connections.columns) == order else connections[order]
    return in_order(table, ["id"])


def _events_table(events: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in EVENT_COLUMNS if c not in events.columns]
    if missing:
        raise RuntimeError(f"detect.run_all() returned events without {missing}")
    return in_order(events, ["conn", "frame"])


def _canonical_ip(text: object) -> str:
    """``2001:DB8::1`` and ``2001:db8:0::1`` are one host; non-addresses compare as written."""
    try:
        return str(ipaddress.ip_address(str(text)))
    except ValueError:
        return str(text)
