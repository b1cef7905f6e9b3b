"""bounded: one capture analysed a partition at a time, never held whole (issue 11).

    split          the capture's TCP segments and ICMP errors in partitions of whole 4-tuples
                   (``partitioned.PartitionedCapture``: on disk, or in memory for small ones)
    pass 1         per partition: flows -> ICMP matching -> application context (local ids),
                   and its capture-wide quality flags
    stream ids     parent: every connection's Wireshark ``tcp.stream`` from its first frame
    pass 2         per partition: renumbered, then ``engine.analyse_partition`` (facts ->
                   detect -> classify -> explain -> delays); its outputs written to runs
    merge          parent: capture quality, findings (from each partition's digest), and the
                   outputs streamed from the runs by a k-way merge in connection id order

Stream ids. Wireshark numbers connections in order of their first segment over the whole
file, with port-reuse splits that depend only on the rows of one 4-tuple (``flows.py``). A
partition holds whole 4-tuples, so ``flows.build_flows`` over it splits them exactly as over
the whole capture, and numbers them in the same relative order; the global id of a
connection is the rank of its first frame among every partition's connections
(``stream_ids``). Pass 1 keeps only each row's local id and side, pass 2 renumbers them, so
the per-connection analysis sees the ids, frames and rows the whole-file analysis sees.

What pass 1 needs of the whole capture comes with the split: the ``capture`` facts, the
file's drop counters, the last frame time; the rest is in the partition (an ICMP error sits
with the 4-tuple it quotes, a connection's payload bytes are read back through
``PartitionedCapture.payload``). The whole capture's quality flags are measured in pass 1
(each partition's, joined: ``engine.measured_flags``), its per-listener SYN+ACK retries
guessed, and both checked after pass 2 as ``engine.analyse`` does (``engine._to_rerun``).

What the merge reads (a partition's ``Digest``, kept in the work folder until then: while
the workers run, the parent holds only what deciding a rerun reads, ``Listeners.slim``):
per connection its quality columns, the few columns of its row of the connections table
that findings and ``--fail-on`` read (``KEPT_COLUMNS``, which the result keeps), its
handshake facts (``findings.handshakes``), and for the few connections that have them, its
RTO stalls, accept-queue signatures and request/response turns. Everything else (events, explanations, the JSON entries and table rows)
is written by the partition that made it to its runs (``Runs``) in the work folder and read
back a chunk at a time when the output is written. The work folder is removed when the
``Bounded`` result is closed, and on any error or Ctrl-C before that.

Where partitions run: pass 1 and pass 2 in this process or on forked workers (``--jobs``:
they inherit the split capture, or read its spill files); with ``--scheduler`` pass 2 runs
on a Dask cluster, this process shipping each partition and writing what comes back.

Views (the HTML report, timelines, the filters): no run keeps the per-segment facts nor the
detections a figure draws. With the ``drawn`` output the partitions also keep their events
and the split capture stays until ``Bounded.close``; ``Bounded.drawn`` reads back the events
of the connections a view shows and analyses the few it draws again (``Redraw``).
"""

from __future__ import annotations

import errno
import functools
import itertools
import os
import pickle
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TextIO, cast

import numpy as np
import pandas as pd

from pcapline import engine, findings, tempdirs
from pcapline.engine import PartitionLost, Progress, Settings
from pcapline.errors import PcaplineError
from pcapline.frames import in_order, joined
from pcapline.heap import release_freed_memory
from pcapline.model import (
    EVENT_COLUMNS,
    FLOW_COLUMNS,
    SEGMENT_COLUMNS,
    CaptureInfo,
    Finding,
    SkipReason,
    StallCause,
    Verdicts,
)
from pcapline.partitioned import PLACEMENT_COLUMNS, PartitionedCapture
from pcapline.quality import CaptureWide
from pcapline.render.json_entries import Entries
from pcapline.spill import SPILL_RATIO, cannot_create_spill, no_space_for_spill
from pcapline.workers import Holding

if TYPE_CHECKING:
    from pcapline.analysis import Analysis, Source
    from pcapline.delays import DelaysTable, SlowThresholds, Turns, _Visited
    from pcapline.detect import ConnDetections
    from pcapline.findings.handshakes import Handshakes
    from pcapline.quality import CaptureQuality

#: A capture file at least this big is analysed on the bounded-memory path (the in-memory
#: path holds about 500 bytes per packet: 512 MiB of 100-byte frames is ~2.5 GB there).
BOUNDED_MIN_BYTES = 512 << 20
#: With two jobs or more, a capture file at least this big is analysed faster on this path
#: when the output is written whole from the partitions' runs (JSON, CSV, Parquet; not the
#: pages, which read connections back): its read, decode and numbering run per partition
#: beside the workers, not all in this process before them. Measured with two cores (JSON,
#: medians of 5-6 runs paired with the in-memory path): 2.5 M packets (248 MB) 0.85-0.95x
#: the wall time at a third of the memory, 1 M (116 MB) 0.91x, 0.5 M (58 MB) 0.95x,
#: 0.2 M (23 MB) the same. Bytes are not packets: a capture of full 1,500-byte frames has 13 times fewer
#: per MiB than the bench capture, and under ``engine.POOL_MIN_SEGMENTS`` the in-memory path
#: needs no worker at all, hence a margin above where the gain starts.
PARALLEL_MIN_BYTES = 128 << 20
#: A compressed capture counts as this many times its size (its decompressed size is not
#: known before it is read; packet captures compress about 3-10x).
COMPRESSED_RATIO = 4
#: Capture bytes per partition: at most about 600 k segments (frames of 80 bytes or more:
#: a 16-byte record header and a 64-byte snap), so one partition's analysis peaks near
#: 500 MB (850 k segments of the bench capture peaked at 700 MB) and two workers and the
#: parent stay within 1.5 GB.
BYTES_PER_PARTITION = 48 << 20
#: With two jobs or more, at least this many partitions per job, none under
#: ``MIN_PARTITION_BYTES``, and a multiple of the jobs: the workers finish together (2.5 M
#: packets in 5 partitions of 48 MiB on 2 workers: 0.91x the in-memory wall time; in 8:
#: 0.85x; 1 M packets in 3: 1.07x, in 4: 0.90x).
PARTS_PER_JOB = 4
MIN_PARTITION_BYTES = 16 << 20
#: Rows per chunk of a run: about 1 MB of CSV / Parquet rows (explanations and ``inferred``
#: as text) or of events; the merge holds one chunk per partition (60 partitions of a
#: 30 M-packet capture: about 60 MB).
RUN_ROWS = {"table": 1024, "events": 4096}
#: Connections-table columns the parent keeps (the others go to the runs only): what the
#: finders read, ``--fail-on`` (``fate``, ``slow``) and the capture's transfer line (text,
#: HTML header, ``scan``'s ``transfers``). The parent holds them for every connection of the
#: capture, from pass 2 to the end: the whole table's 34 columns weighed about 280 bytes a
#: connection, these 15 about 136.
KEPT_COLUMNS: tuple[str, ...] = (
    *findings.CONNECTION_COLUMNS,
    "slow",
    "transfer_rate_bps",
    "transfer_paced_by",
)

#: Connections-table columns that word a verdict, the heaviest of a row (some 600 bytes a
#: connection of the bench capture, of about 900): a page reads them for the few
#: connections it words (the HTML report's sections and failing fates, the text report's
#: shown rows), JSON, CSV and Parquet for every connection they write. The ``text`` output
#: keeps them apart from the other columns (``Bounded.worded`` reads them back).
WORDED_COLUMNS: tuple[str, ...] = ("inferred", "explanation", "caveats", "evidence_frames")

#: What a run holds: ``json`` every connection's laid-out JSON entry, ``table`` its CSV /
#: Parquet row, ``events`` the Parquet events rows, ``text`` what the text report reads
#: (two files a partition: the rows but their ``WORDED_COLUMNS``, with the delays; those
#: columns, then the ``Verdict`` records, which share their values),
#: ``drawn`` each partition's events table (the HTML report and timelines mark events;
#: asking for it also keeps the split capture until ``Bounded.close``: ``Bounded.drawn``
#: analyses the few connections a page draws again, from their segments).
OUTPUTS = frozenset({"json", "table", "events", "text", "drawn"})


def split(
    source: Source,
    count: int,
    directory: str,
    *,
    jobs: int = 1,
    progress: Callable[[int, int], None] | None = None,
    unpacked: Callable[[str, int], None] | None = None,
    recount: bool = True,
) -> PartitionedCapture:
    """The capture split into ``count`` partitions; whatever it spills goes in a folder
    of its own under ``directory`` (the work folder, removed at the end). The one place
    that picks the reader: ``spill.spill_capture`` streams it from disk a window at a time
    in bounded memory (``partitioned.split_in_memory``, which decodes it whole first, is
    the reference it is tested against); with more than one job its writes run beside
    the reading (``write_behind``). ``progress(bytes_read, bytes_total)`` after each window,
    ``unpacked(verb, bytes)`` while a compressed or streamed source is first put on disk.
    ``recount``: raise ``count`` to what the size of such a source, once on disk, needs
    (not when the caller fixed the partitions)."""
    from pcapline.spill import spill_capture

    os.makedirs(directory, exist_ok=True)
    return spill_capture(
        source,
        count,
        directory=directory,
        write_behind=jobs > 1,
        progress=progress,
        unpacked=unpacked,
        recount=(lambda size: partition_count(size, jobs)) if recount else None,
    )


def wanted(source: Source) -> bool:
    """Is ``source`` big enough for the bounded-memory path (``BOUNDED_MIN_BYTES``)? A
    compressed file is judged by what it decompresses to, counted up to that size when its
    own size does not settle it: the in-memory analysis costs about ten times the capture's
    bytes, and a few MB of gzip can hold GBs (a 14 MB file held 4 GiB of SYNs, and the
    in-memory path took 4.7 GB for its first 300 MB)."""
    from pcapline.read.open import decompresses_to_at_least, sniff_compression

    size = source_size(source)
    if size is not None and size >= BOUNDED_MIN_BYTES:
        return True
    found = _file_facts(source)
    if size is None or found is None or not found[1]:
        return False
    path = os.fspath(cast("str | os.PathLike[str]", source))
    try:
        with open(path, "rb") as f:
            kind = sniff_compression(f.read(8), path)
    except (OSError, PcaplineError):
        return False
    return kind is not None and decompresses_to_at_least(path, kind, BOUNDED_MIN_BYTES)


def faster_with(source: Source, jobs: int, spill_dir: str | None = None) -> bool:
    """Would ``jobs`` workers analyse ``source`` faster on this path (``PARALLEL_MIN_BYTES``),
    for an output written whole from the runs (JSON, CSV, Parquet: the caller's to know)?
    Only a plain capture file was measured (a compressed one is decompressed to disk either
    way), big enough for a ``MIN_PARTITION_BYTES`` partition per job, and only where its
    spill files fit twice over (``spill_dir``, default the temporary folder): on a disk
    that would fill, the in-memory path is the one that works."""
    found = _file_facts(source)
    if jobs <= 1 or found is None:
        return False
    size, compressed = found
    if compressed or size < max(PARALLEL_MIN_BYTES, jobs * MIN_PARTITION_BYTES):
        return False
    try:
        free = shutil.disk_usage(spill_dir or tempfile.gettempdir()).free
    except OSError:
        return False
    return free >= 2 * SPILL_RATIO * size


def source_size(source: Source) -> int | None:
    """The capture's expected size in bytes (a compressed file's times ``COMPRESSED_RATIO``),
    None for a stream, a FIFO or a file that cannot be looked at (the reader says why)."""
    found = _file_facts(source)
    if found is None:
        return None
    size, compressed = found
    return size * COMPRESSED_RATIO if compressed else size


def _file_facts(source: Source) -> tuple[int, bool] | None:
    """A capture file's size in bytes and whether it is compressed; None for a stream, a
    FIFO or a file that cannot be looked at."""
    from pcapline.read.open import sniff_compression

    if not isinstance(source, (str, os.PathLike)) or str(source) == "-":
        return None
    try:
        found = os.stat(source)
        if not stat.S_ISREG(found.st_mode):  # a FIFO's open() would wait for a writer
            return None
        with open(source, "rb") as f:
            head = f.read(8)
    except OSError:
        return None
    return found.st_size, sniff_compression(head, os.fspath(source)) is not None


def partition_count(size: int | None, jobs: int, partitions: int | None = None) -> int:
    """Partitions for a capture of ``size`` bytes: ``BYTES_PER_PARTITION`` each at most;
    with more than one job, at least ``PARTS_PER_JOB`` per job where each keeps
    ``MIN_PARTITION_BYTES``, and a multiple of ``jobs``."""
    if partitions is not None:
        return max(1, partitions)
    total = size or 0
    by_size = max(1, -(-total // BYTES_PER_PARTITION))
    if jobs <= 1:
        return by_size
    spread = min(PARTS_PER_JOB * jobs, -(-total // MIN_PARTITION_BYTES))
    count = max(by_size, spread, jobs)
    return -(-count // jobs) * jobs


# ---------------------------------------------------------------------------------------------
# Runs: one partition's rows of one output, in connection id order, on disk


def write_run(path: str, table: pd.DataFrame, *, rows: int = 1024) -> None:
    """``table`` (already in key order) as pickled chunks of ``rows`` rows."""
    with open(path, "wb") as f:
        for lo in range(0, len(table), rows):
            pickle.dump(table.iloc[lo : lo + rows], f, protocol=pickle.HIGHEST_PROTOCOL)


def read_run(path: str) -> Iterator[pd.DataFrame]:
    with open(path, "rb") as f:
        while True:
            try:
                chunk: pd.DataFrame = pickle.load(f)
            except EOFError:
                return
            yield chunk


def merged(paths: Sequence[str], key: str) -> Iterator[pd.DataFrame]:
    """The rows of every run in ``key`` order, a chunk at a time (a k-way merge). A key is in
    one run only (runs are partitions, keys connection ids), so rows with one key keep
    their run's order. Each step emits every buffered row up to the smallest of the
    buffers' last keys, which empties at least one buffer; a buffer left with less than
    half a chunk is topped up with its run's next chunk before the next step. Without the
    top-up a run left with a short tail holds the next step down to its last key, and the
    steps shrink to a few rows of each run (the 30 M-packet capture's JSON entries took
    2,093 steps of about 330 rows from 60 runs, 60 table slices each); with it every
    buffer holds between half a chunk and a chunk and a half, and a step emits about a
    chunk of every run."""
    runs = [_Run.start(p, key) for p in paths]
    while True:
        live = [r for r in runs if r.rows is not None]
        if not live:
            return
        bound = min(int(r.keys[-1]) for r in live)
        yield in_order(joined([r.take_through(bound) for r in live]), [key])


@dataclass(slots=True)
class _Run:
    """One run in ``merged``: its unread chunks and its rows read but not yet emitted
    (``rows`` None once it is done), with their keys as an array."""

    chunks: Iterator[pd.DataFrame]
    key: str
    rows: pd.DataFrame | None = None
    keys: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    top_up_below: int = 0

    @classmethod
    def start(cls, path: str, key: str) -> _Run:
        run = cls(read_run(path), key)
        run.top_up(None)
        return run

    def take_through(self, bound: int) -> pd.DataFrame:
        """Its rows with keys up to ``bound``; the rest stay, topped up if short."""
        assert self.rows is not None
        cut = int(np.searchsorted(self.keys, bound, side="right"))
        if cut == len(self.keys):
            taken, rest = self.rows, None
        else:
            taken, rest = self.rows.iloc[:cut], self.rows.iloc[cut:]
        self.top_up(rest)
        return taken

    def top_up(self, rest: pd.DataFrame | None) -> None:
        if rest is not None and len(rest) >= self.top_up_below:
            self.rows, self.keys = rest, self.keys[-len(rest) :]
            return
        chunk = next((c for c in self.chunks if len(c)), None)
        if chunk is None:
            self.rows = rest if rest is not None and len(rest) else None
        else:
            self.top_up_below = len(chunk) // 2
            self.rows = chunk if rest is None else pd.concat([rest, chunk])
        if self.rows is not None:
            self.keys = self.rows[self.key].to_numpy()


# ---------------------------------------------------------------------------------------------
# Pass 1: flows, ICMP errors and application context of one partition (local stream ids)


@dataclass(frozen=True, slots=True)
class Job:
    """What every task of one capture reads: the split capture and the work folder."""

    parts: PartitionedCapture
    work: str
    outputs: frozenset[str]

    def path(self, what: str, number: int) -> str:
        return os.path.join(self.work, f"{what}-{number}")


@dataclass(frozen=True, slots=True)
class Streams:
    """Pass 1's answer: each connection's first frame (local id order), the latest TCP time
    and the partition's own capture-wide flags (``engine.measured_flags``)."""

    number: int
    first_frames: np.ndarray
    tcp_end_ns: int
    own: CaptureWide = field(default_factory=CaptureWide)


def number_streams(job: Job, number: int) -> Streams:
    """Flows, ICMP matching and application context over one partition; what pass 2 needs
    is written to the work folder (each row's local id and side, the connections table,
    the matched ICMP errors and the application context, by local id), and the partition's
    capture-wide flags are measured (``engine.measured_flags``)."""
    from pcapline import app, icmp
    from pcapline.flows import build_flows, with_app_roles

    rows = job.parts.segments(number)
    if rows.empty:
        return Streams(number, np.zeros(0, np.int64), 0)
    segments, connections = build_flows(rows)
    if not np.array_equal(segments["frame"].to_numpy(), rows["frame"].to_numpy()):
        raise RuntimeError(f"partition {number}: segment rows not in frame order")
    # Where no handshake named the client, the payloads do before the port guess (flows.py).
    frames = app.FrameBytes.of_rows(
        segments, job.parts.payload, job.parts.payload_file(), job.parts.info.path
    )
    recognised = app.recognise_sides(segments, frames)
    job.parts.source_unchanged()  # what those payloads were read from is the capture split
    carried = recognised.apps
    segments, connections = with_app_roles(segments, connections, recognised.other_way)
    matched = icmp.match(job.parts.icmp(number), segments)
    connections = icmp.with_errors(connections, matched)
    flows = {
        "conn": segments["conn"].to_numpy(),
        "from_client": segments["from_client"].to_numpy(),
        "connections": connections,
        "icmp": matched,
        "app": carried,
    }
    with open(job.path("flows", number), "wb") as f:
        pickle.dump(flows, f, protocol=pickle.HIGHEST_PROTOCOL)
    return Streams(
        number,
        connections["first_frame"].to_numpy(np.int64),
        int(segments["time_ns"].max()),
        engine.measured_flags(segments, job.parts.last_frame_ns),
    )


def biggest_first(rows: Sequence[int]) -> list[int]:
    """Partition numbers by their segment rows, most first (ties by number): handed out in
    this order, each worker's last partitions are the small ones and the workers finish
    close together instead of one idling while the other ends a big partition (longest
    processing time first)."""
    order: list[int] = np.argsort(-np.asarray(rows, np.int64), kind="stable").tolist()
    return order


def stream_ids(first_frames: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Per partition, the global id of each of its connections (by local id): the rank of
    its first frame among every partition's connections (Wireshark numbers in order of a
    connection's first segment; a frame is at most one segment, so ranks never tie)."""
    every = np.concatenate([np.asarray(f, np.int64) for f in first_frames])
    rank = np.empty(len(every), np.int64)
    rank[np.argsort(every, kind="stable")] = np.arange(len(every))
    bounds = np.cumsum([len(f) for f in first_frames])[:-1]
    return list(np.split(rank, bounds))


# ---------------------------------------------------------------------------------------------
# Pass 2: one partition analysed with global ids, its outputs written to runs


@dataclass(frozen=True, slots=True)
class Digest:
    """What the merge reads of one partition's analysis (the rest is in its runs). Kept in
    the work folder until the merge (``keep_digest``): a parent holding every partition's
    while its workers run would add about 400 bytes a connection to the peak."""

    number: int
    ids: np.ndarray  # connection ids, in the quality columns' order
    quality: CaptureQuality
    one_sided: np.ndarray
    listeners: engine.Listeners  # what deciding a rerun reads (``Listeners.slim``)
    connections: pd.DataFrame  # the connections table's KEPT_COLUMNS, by id
    handshakes: Handshakes  # findings.handshakes.summarize over the partition
    clock_rows: pd.DataFrame  # findings.finder_rows over the partition
    overflow: dict[int, ConnDetections]  # the detections findings read (``detections_read``)
    stalls: dict[int, _Visited]  # delays of the connections with an RTO stall
    turns: Turns | None  # only their rows (``Turns.turn_rows``)
    thresholds: SlowThresholds


def analyse_numbered(
    job: Job, number: int, ids: np.ndarray, settings: Settings
) -> engine.Listeners:
    """Pass 2 over one partition where its rows are (this process or a forked worker):
    ``numbered``, ``analyse_part``, its outputs written to runs, its digest kept."""
    digest, made = analyse_part(numbered(job, number, ids), settings, job.outputs)
    write_outputs(job, number, made)
    return keep_digest(job, digest)


def keep_digest(job: Job, digest: Digest) -> engine.Listeners:
    """``digest`` to the work folder (``load_digest``; a rerun replaces it); what deciding
    a rerun reads is returned."""
    with open(job.path("digest", digest.number), "wb") as f:
        pickle.dump(digest, f, protocol=pickle.HIGHEST_PROTOCOL)
    return digest.listeners


def load_digest(job: Job, number: int) -> Digest:
    with open(job.path("digest", number), "rb") as f:
        digest: Digest = pickle.load(f)
    return digest


def numbered(job: Job, number: int, ids: np.ndarray) -> engine.Partition:
    """One partition's rows with pass 1's flows, renumbered with the global ids
    (``ids[local id]``): what ``engine.analyse_partition`` takes."""
    from pcapline.icmp import IcmpMatches

    with open(job.path("flows", number), "rb") as f:
        flows = pickle.load(f)
    segments = job.parts.segments(number).drop(columns=list(PLACEMENT_COLUMNS))
    segments["conn"] = ids[flows["conn"]].astype(FLOW_COLUMNS["conn"])
    segments["from_client"] = flows["from_client"].astype(FLOW_COLUMNS["from_client"])
    connections = flows["connections"].assign(id=ids[flows["connections"]["id"].to_numpy()])
    matched: IcmpMatches = flows["icmp"]
    events = matched.events.copy()
    events["conn"] = ids[events["conn"].to_numpy(np.int64)]
    return engine.Partition(
        number=number,
        segments=segments,
        connections=connections,
        icmp=IcmpMatches({int(ids[c]): e for c, e in matched.by_conn.items()}, events),
        app={int(ids[c]): a for c, a in flows["app"].items()},
    )


#: One partition's outputs, by ``OUTPUTS`` name: a table in id order (``json``: the entries'
#: bytes, ``render.json_entries.Entries``; ``text``: the rows but their worded columns, the
#: column order and the delays; with it ``worded``: those columns and the verdict records,
#: ``_text_runs``).
Made = dict[str, Any]


def analyse_part(
    part: engine.Partition, settings: Settings, outputs: frozenset[str]
) -> tuple[Digest, Made]:
    """``engine.analyse_partition``, then what the parent keeps (``Digest``) and the
    outputs asked for. Needs no file: a Dask worker runs it on a partition shipped to it."""
    from pcapline.render.tables import flat_connections, flat_events

    result = engine.analyse_partition(part, settings)
    made: Made = {}
    if "json" in outputs:
        assert result.json_entries is not None
        ids = np.sort(result.connections["id"].to_numpy(np.int64))
        made["json"] = Entries.of_texts(ids, result.json_entries)
    if "table" in outputs:
        made["table"] = flat_connections(result.connections)
    if "events" in outputs:
        made["events"] = flat_events(result.events)
    if "text" in outputs:
        made["text"], made["worded"] = _text_runs(result)
    if "drawn" in outputs:
        made["drawn"] = result.events
    kept = _kept(result.connections)
    rto = {
        conn: visited
        for conn, visited in result.delays.stalls.items()
        if any(s.cause is StallCause.RTO for s in visited.stalls)
    }
    digest = Digest(
        number=part.number,
        ids=np.asarray(result.verdicts.ids, np.int64),
        quality=result.quality,
        one_sided=result.one_sided,
        # The digest's tables share ``kept`` (pickled once): the rerun check reads its
        # listeners, ``handshakes.concat`` only the ids of the summary's connections.
        listeners=replace(result.listeners(), connections=kept).slim(),
        connections=kept,
        handshakes=replace(result.handshakes, connections=kept),
        clock_rows=findings.finder_rows(part.segments),
        overflow=findings.detections_read(result.detections),
        stalls=rto,
        turns=None if result.delays.turns is None else result.delays.turns.turn_rows(),
        thresholds=result.delays.thresholds,
    )
    return digest, made


def _text_runs(result: engine.PartResult) -> tuple[Any, Any]:
    """The ``text`` output's two files: the connections table but its ``WORDED_COLUMNS``
    and its ``DELAY_COLUMNS`` (with the column order and the delays, which hold those), and
    the worded columns then the verdict records (pickled by one pickler, the records refer
    to the table's ``inferred`` dicts and explanation texts: one copy of each when both are
    read back)."""
    from pcapline.delays import DELAY_COLUMNS

    table = result.connections
    # The rows a column at a time (each its own array once read back): joining the
    # partitions then lets each partition's column go as soon as it is joined.
    left_out = {*WORDED_COLUMNS, *DELAY_COLUMNS}
    light = {name: table[name].copy() for name in table.columns if name not in left_out}
    worded = table[["id", *WORDED_COLUMNS]].copy()
    return (light, list(table.columns), result.delays), (worded, result.verdicts)


def write_outputs(job: Job, number: int, made: Made) -> None:
    """One partition's outputs to its runs in the work folder (a rerun replaces them)."""
    for what, value in made.items():
        if what in ("text", "drawn"):
            with open(job.path(what, number), "wb") as f:
                pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
        elif what == "worded":  # the table, then the records: ``Bounded.worded`` reads on
            with open(job.path(what, number), "wb") as f:  # only when it wants the records
                pickler = pickle.Pickler(f, protocol=pickle.HIGHEST_PROTOCOL)
                for part in value:
                    pickler.dump(part)  # one pickler: the records refer to the table's values
        elif what == "json":  # bytes and an index (render.json_entries)
            value.save(job.path(what, number))
        else:
            write_run(job.path(what, number), value, rows=RUN_ROWS[what])


# ---------------------------------------------------------------------------------------------
# Where tasks run: this process, or forked workers that inherit the split capture

#: The job a forked worker inherits from its parent (never pickled).
_FORKED: Job | None = None
#: Which partition each worker holds (``workers.Holding``), inherited with the job.
_HOLDING: Holding | None = None


def _task(name: str) -> Callable[..., Any]:
    """A task by its name in this module (looked up when it runs: a forked worker has what
    its parent had, tests' stand-ins included)."""
    task: Callable[..., Any] = globals()[name]
    return task


def _in_worker(name: str, number: int, *args: Any) -> Any:
    assert _FORKED is not None and _HOLDING is not None, "a pool worker without its parent's job"
    with _HOLDING.held(number):
        return _task(name)(_FORKED, number, *args)


#: What a pass's task does to a partition, as a dead worker's error says it.
_DOING = {"number_streams": "numbering the streams of", "analyse_numbered": "analysing"}


class Workers:
    """Runs tasks ``task(job, *args)`` (``task`` named) on forked workers, or in this process
    when there is one partition; results come back in any order. Ctrl-C stops the workers at
    once. With ``jobs`` 1 and several partitions one worker process still does the work: a
    partition's analysis (about 500 MB at 48 MiB of capture) then never sits on top of the
    digests this process gathers, so the peak is the same whatever ``--jobs`` says.
    ``fork=False``: every task in this process."""

    def __init__(self, job: Job, jobs: int, *, fork: bool = True) -> None:
        self.job = job
        self.pool = None
        self.holding: Holding | None = None  # which partition each forked worker holds
        if fork and (jobs > 1 or job.parts.count > 1):
            from pcapline.workers import forked_pool

            engine.import_before_fork()
            global _FORKED, _HOLDING
            _FORKED = job
            self.pool, self.holding = forked_pool(jobs, job.parts.count)
            _HOLDING = self.holding

    def run(
        self, task: str, calls: Sequence[tuple[Any, ...]], done: Callable[[], None]
    ) -> Iterator[Any]:
        """``task`` (a function of this module, by name) over ``calls`` (each a partition
        number and the task's other arguments)."""
        if self.pool is None:
            for args in calls:
                yield _task(task)(self.job, *args)
                done()
            return
        from pcapline.workers import signals_deferred

        futures = {}
        for args in calls:
            with signals_deferred():  # a worker started but not registered would escape close
                futures[self.pool.submit(_in_worker, task, *args)] = args[0]
        assert self.holding is not None
        doing = _DOING.get(task, "analysing")
        yield from engine.pool_results(futures, done, self.holding, self.job.parts.count, doing)

    def close(self) -> None:
        """Stop the workers (killing any still busy: on an error or Ctrl-C nobody waits)."""
        global _FORKED, _HOLDING
        if self.pool is not None:
            from pcapline.workers import stop_pool

            stop_pool(self.pool)
            self.pool = None
        _FORKED = _HOLDING = None


class DaskPass:
    """Pass 2 on a Dask cluster (``--scheduler``): this process prepares each partition
    (``numbered``: its rows are here) and ships it, a worker runs ``analyse_part``, and the
    outputs come back to be written here (workers need no access to the work folder). At
    most ``IN_FLIGHT_PER_WORKER`` partitions per worker are out at once, so this process
    holds a bounded number of them. Connected before the capture is split: a wrong address
    is said at once, not after minutes of reading. ``tick``: called while waiting."""

    IN_FLIGHT_PER_WORKER = 2

    def __init__(self, address: str, tick: Callable[[], None] = lambda: None) -> None:
        self.address = address
        self.tick = tick
        self.patience = engine.no_worker_timeout()  # a bad value said before connecting
        self.client = engine.dask_client(address)
        self.quiet = engine.QuietDaskLog()

    def run(
        self,
        job: Job,
        calls: Sequence[tuple[int, np.ndarray, Settings]],
        done: Callable[[], None],
    ) -> Iterator[engine.Listeners]:
        watch = engine.WorkerWatch(
            self.client, self.address, job.parts.count, self.tick, self.patience
        )
        workers = len(self.client.scheduler_info().get("workers", {})) or 1
        pending = iter(calls)
        running: dict[Any, int] = {}

        def submit(number: int, ids: np.ndarray, settings: Settings) -> None:
            part = numbered(job, number, ids)
            future = engine.dask_submit(self.client, analyse_part, part, settings, job.outputs)
            running[future] = number

        for call in itertools.islice(pending, self.IN_FLIGHT_PER_WORKER * workers):
            submit(*call)
        while running:
            for future in watch.finished(running):
                digest, made = watch.result(future, running.pop(future))
                write_outputs(job, digest.number, made)
                yield keep_digest(job, digest)
                done()
                following = next(pending, None)
                if following is not None:
                    submit(*following)

    def close(self) -> None:
        self.client.close()
        self.quiet.restore()


# ---------------------------------------------------------------------------------------------
# The pipeline


def analyse(
    source: Source,
    *,
    slow: SlowThresholds | None = None,
    jobs: int = 1,
    scheduler: str | None = None,
    partitions: int | None = None,
    outputs: frozenset[str] = frozenset({"json"}),
    spill_dir: str | None = None,
    progress: Progress | None = None,
    fork: bool = True,
) -> Bounded:
    """The capture analysed a partition at a time; the result writes the outputs asked for
    (``outputs``, a subset of ``OUTPUTS``). Close it (or use it as a context manager) to
    remove its work folder (in ``spill_dir``, default the system's temporary folder).
    ``jobs``: partitions analysed at once on this machine; ``scheduler``: a Dask scheduler
    address where pass 2 runs instead. ``fork=False``: every partition in this process,
    one after the other, whatever ``jobs`` says (a ``scan`` worker with as many siblings
    as cores: they keep the cores busy; a Dask worker is a daemon process, which may not
    start children)."""
    show = progress or Progress(enabled=False)
    count = partition_count(source_size(source), jobs, partitions)
    try:
        work = tempdirs.make_folder(tempdirs.PREFIX, spill_dir)
    except OSError as exc:
        raise cannot_create_spill(spill_dir or tempfile.gettempdir(), exc) from None
    try:
        return _analyse(
            source,
            work,
            count,
            slow,
            jobs,
            scheduler,
            outputs,
            show,
            fork=fork,
            recount=partitions is None,
        )
    except OSError as exc:
        shutil.rmtree(work, ignore_errors=True)
        # a partition's results (written here or by a worker) filled the disk: one line
        # that names the folder, not a bare "No space left on device"
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise no_space_for_spill(spill_dir or tempfile.gettempdir()) from None
        raise
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def _analyse(
    source: Source,
    work: str,
    count: int,
    slow: SlowThresholds | None,
    jobs: int,
    scheduler: str | None,
    outputs: frozenset[str],
    show: Progress,
    *,
    fork: bool = True,
    recount: bool = True,
) -> Bounded:
    cluster = None if scheduler is None else DaskPass(scheduler, tick=show.tick)
    show.stage(f"reading and splitting in {count} partitions")
    try:
        parts = split(
            source,
            count,
            work,
            jobs=jobs if fork else 1,
            progress=show.read,
            unpacked=show.unpacked,
            recount=recount,
        )
    except BaseException:
        if cluster is not None:
            cluster.close()
        raise
    # The split's windows are freed: the workers forked next should not share them, nor
    # this process keep them while it waits on the workers.
    release_freed_memory()
    job = Job(parts, work, outputs)
    workers: Workers | None = None
    numbers = list(range(parts.count))
    by_size = biggest_first(parts.segment_rows)

    def second_pass(
        calls: Sequence[tuple[int, np.ndarray, Settings]],
    ) -> Iterator[engine.Listeners]:
        if cluster is not None:
            return cluster.run(job, calls, show.step)
        assert workers is not None
        return workers.run("analyse_numbered", calls, show.step)

    try:
        workers = Workers(job, min(jobs, parts.count), fork=fork)
        show.stage("numbering streams", total=parts.count)
        streams = sorted(
            workers.run("number_streams", [(n,) for n in by_size], show.step),
            key=lambda s: s.number,
        )
        ids = stream_ids([s.first_frames for s in streams])
        settings = Settings(
            capture_end_ns=max([parts.last_frame_ns, *(s.tcp_end_ns for s in streams)]),
            slow=slow,
            keep_facts=False,
            dropped=parts.read.dropped > 0,
            truncated=parts.read.truncated,
            capture=None if parts.count == 1 else engine.joined_flags(s.own for s in streams),
            json_entries="json" in outputs,
        )
        busy = [n for n in numbers if len(ids[n])]
        show.stage(f"analysing {sum(len(i) for i in ids):,} connections", total=len(busy))
        calls = [(n, ids[n], settings) for n in by_size if len(ids[n])]
        # The digests wait in the work folder; what deciding a rerun reads is here.
        kept = {h.number: h for h in second_pass(calls)}
        wide = CaptureWide()
        for h in kept.values():
            wide = wide | h.own
        if parts.count > 1 and kept:
            heard = [kept[n] for n in busy]
            again = engine._to_rerun(heard, settings.capture, wide)
            if again:
                settings = replace(
                    settings,
                    capture=wide,
                    retried_by_listener=engine._retried_by_listener(heard),
                    server_ttls=engine._server_ttls(heard),
                )
                show.stage("analysing again with the whole capture's inputs", total=len(again))
                calls = [(n, ids[n], settings) for n in by_size if n in again]
                kept.update({h.number: h for h in second_pass(calls)})
        redraw = replace(
            settings,
            capture=wide,
            retried_by_listener=engine._retried_by_listener(list(kept.values())),
            server_ttls=engine._server_ttls(list(kept.values())),
            detections=engine.Kept.DRAWN,
            json_entries=False,
        )
    except BaseException:
        parts.close()
        raise
    finally:
        if workers is not None:
            workers.close()
        if cluster is not None:
            cluster.close()
    info, read = parts.info, parts.read
    if "drawn" not in outputs:
        parts.close()
    try:
        show.stage("cross-connection findings", total=len(findings.FINDERS))
        ordered = [load_digest(job, n) for n in sorted(kept)]
        result = _merge(ordered, info, read, wide, work, outputs, redraw, show.step)
        result.jobs = jobs
    except BaseException:
        parts.close()
        raise
    if "drawn" in outputs:
        result.redraw = Redraw(job, ids, redraw)
    # The merge and the findings freed several times what the result holds; writing the
    # output a chunk at a time needs little of it.
    release_freed_memory()
    show.done()
    return result


def _merge(
    digests: list[Digest],
    info: CaptureInfo,
    read: Any,
    wide: CaptureWide,
    work: str,
    outputs: frozenset[str],
    settings: Settings,
    found_one: Callable[[], None] = lambda: None,
) -> Bounded:
    """The parent's part: capture quality and warnings, findings; the runs stay on disk.
    Takes ``digests`` over (emptied): each kind of per-partition record is let go once
    merged, so the merge never holds the partitions' and the merged copies of all of them.
    ``found_one``: called after each finder (the progress line's step)."""
    from pcapline import quality
    from pcapline.analysis import one_sided_warning
    from pcapline.delays import DelaysTable
    from pcapline.findings.handshakes import concat
    from pcapline.findings.nat_copies import legs_clocks_apart_ms

    info = replace(info, warnings=list(info.warnings))
    connections = pd.DataFrame()
    found: list[Finding] = []
    numbers = [d.number for d in digests]
    # Only the text output's readers look connections up by partition (kept for the JSON,
    # CSV and Parquet outputs these small arrays still raised the parent's peak by ~30 MB
    # on the 30 M-packet capture: heap left in pieces for the findings that follow).
    part_ids = [d.ids for d in digests] if "text" in outputs else []
    if digests:
        every = np.concatenate([d.ids for d in digests])
        by_id = np.argsort(every, kind="stable")
        thresholds = digests[0].thresholds
        parts: dict[str, list[Any]] = {
            "quality": [d.quality for d in digests],
            "one_sided": [d.one_sided for d in digests],
            "connections": [d.connections for d in digests],
            "handshakes": [d.handshakes for d in digests],
            "clock_rows": [d.clock_rows for d in digests],
            "turns": [d.turns for d in digests],
        }
        stalls = dict(sorted((c, v) for d in digests for c, v in d.stalls.items()))
        overflow = dict(sorted((c, v) for d in digests for c, v in d.overflow.items()))
        digests.clear()
        q = engine.merge_quality(
            parts.pop("quality"), by_id, wide, dropped=read.dropped > 0, truncated=read.truncated
        )
        one = np.concatenate(parts.pop("one_sided"))[by_id]
        tcp_cut = info.skipped.get(SkipReason.TRUNCATED_TCP_HEADER.value, 0)
        if warning := one_sided_warning(one, tcp_cut):
            info.warnings.append(warning)
        info.quality = quality.summary(q)
        info.warnings.extend(quality.warnings(q))
        del q
        # The summaries are joined on the ids alone: then nothing but ``_joined_by_id``
        # holds the partitions' tables, and they go as soon as they are joined.
        handshakes = concat(parts.pop("handshakes"), pd.DataFrame({"id": every[by_id]}))
        connections = _joined_by_id(parts.pop("connections"))
        handshakes = replace(handshakes, connections=connections)
        lost = DelaysTable(
            every[by_id], {}, stalls, thresholds, engine._merge_turns(parts.pop("turns"), None)
        )
        # The partitions' records merged and let go left their pages free but mapped (a
        # heap in pieces): given back before the finders' own temporaries pile on top, and
        # after each finder. A 30 M-packet capture of 1,021,764 connections peaked at
        # 1.18 GB, now 0.93 GB.
        release_freed_memory()

        def after_each() -> None:
            release_freed_memory()
            found_one()

        found = findings.find_all(
            pd.concat(parts.pop("clock_rows"), ignore_index=True),
            connections,
            pd.DataFrame(columns=list(EVENT_COLUMNS)),
            detections=overflow,
            delays=lost,
            handshakes=handshakes,
            after_each=after_each,
            flag_filtered=wide.flag_filtered,
        )
        quality.with_legs_clocks(info.quality, legs_clocks_apart_ms(found))
    else:
        from pcapline.quality import CaptureQuality

        empty = np.zeros(0, np.int64)
        none = CaptureQuality(
            *(empty,) * 3,
            *(empty.astype(bool),) * 10,
            acks_ahead=empty,
            ack_lead_ns=empty,
            flag_filtered=False,
            lossy_capture=False,
        )
        info.quality = quality.summary(none)
        # No TCP: the typed, empty table the in-memory analysis has (``fate``, ``slow``...)
        connections = _kept(engine.analyse_partition(_no_partition(), settings).connections)
    assert info.quality is not None
    info.quality.update(quality.read_summary(read))
    info.warnings.extend(quality.read_warnings(read))
    return Bounded(info, found, connections, work, numbers, outputs, settings, part_ids)


def _kept(connections: pd.DataFrame) -> pd.DataFrame:
    """The ``KEPT_COLUMNS`` of a connections table."""
    return connections[[c for c in connections.columns if c in KEPT_COLUMNS]]


def _joined_by_id(tables: list[Any]) -> pd.DataFrame:
    """The partitions' tables (DataFrames, or dicts of columns: emptied) as one table in id
    order, what ``pd.concat`` and a stable sort by id give, joined a column at a time and
    each partition's column let go once joined: the whole table is never held twice
    (concatenated and sorted). A dict's columns are freed one by one; a DataFrame's only
    when the last column of a block has gone."""
    ids = np.concatenate([t["id"].to_numpy() for t in tables])
    by_id = np.argsort(ids, kind="stable")
    names = list(tables[0].keys())  # a DataFrame's keys are its columns
    columns = {}
    for name in names:
        joined = pd.concat([t.pop(name) for t in tables], ignore_index=True)
        columns[name] = joined.take(by_id).reset_index(drop=True)
        del joined
    tables.clear()
    return pd.DataFrame(columns, copy=False)


# ---------------------------------------------------------------------------------------------
# The result: outputs written from the runs


class Bounded:
    """A capture analysed on the bounded-memory path: its ``capture`` facts, ``findings``
    and light connections table in memory, everything else in runs on disk until ``close``."""

    def __init__(
        self,
        capture: CaptureInfo,
        findings: list[Finding],
        connections: pd.DataFrame,
        work: str,
        numbers: Sequence[int],
        outputs: frozenset[str],
        settings: Settings,
        part_ids: Sequence[np.ndarray] = (),
    ) -> None:
        self.capture = capture
        self.findings = findings
        self.connections = connections  # KEPT_COLUMNS, by id
        self.work = work
        self.numbers = list(numbers)
        #: The ids of each partition's connections (``numbers`` order; by id): which
        #: partitions to read back for some connections.
        self.part_ids = list(part_ids)
        self.outputs = outputs
        #: What the partitions' final run was given (``engine.Settings``).
        self.settings = settings
        #: Threads that write the JSON document's entries to a file (``--jobs``).
        self.jobs = 1
        #: With the ``drawn`` output: how to analyse again the connections a page draws.
        self.redraw: Redraw | None = None

    def __enter__(self) -> Bounded:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Remove the work folder and the split capture (idempotent)."""
        if self.redraw is not None:
            self.redraw.job.parts.close()
        shutil.rmtree(self.work, ignore_errors=True)

    def analysis(self) -> Analysis:
        """An ``Analysis`` of the capture facts, findings and light connections table (what
        ``--fail-on`` and the JSON document's head and tail read); no segments nor events."""
        from pcapline.analysis import Analysis

        return Analysis(
            capture=self.capture,
            segments=_no_segments(),
            connections=self.connections,
            events=pd.DataFrame(columns=list(EVENT_COLUMNS)),
            findings=self.findings,
        )

    def _runs(self, what: str, file: str = "") -> list[str]:
        """Each partition's run of the output ``what`` (its ``file``, for an output written
        to two: ``text`` and ``worded``)."""
        if what not in self.outputs:
            raise ValueError(f"the analysis was run without the {what!r} output")
        return [os.path.join(self.work, f"{file or what}-{n}") for n in self.numbers]

    def write_json(self, out: TextIO) -> None:
        """The ``pcapline/1`` document (indent 2), byte for byte ``Analysis.write_json``'s:
        the partitions' entries in id order around the head and tail (``json_entries``)."""
        from pcapline.render import json_entries
        from pcapline.render.jsondoc import outline

        around = outline(self.analysis())
        merge = json_entries.Merge.of(self._runs("json"))
        json_entries.write(out, merge, around, writers=self.jobs)

    def write_csv(self, out: TextIO) -> None:
        """``render.tables.to_csv``'s text, a chunk of rows at a time."""
        from pcapline.render.tables import TABLE_COLUMNS, csv_rows

        header = True
        for chunk in merged(self._runs("table"), "id"):
            out.write(csv_rows(chunk, header=header))
            header = False
        if header:
            out.write(csv_rows(pd.DataFrame(columns=list(TABLE_COLUMNS))))

    def write_parquet(self, path: str) -> None:
        """The connections table as one Parquet file (``render.tables.write_parquet``),
        written whole or not at all."""
        from pcapline.outfile import whole_files
        from pcapline.render.tables import no_connections

        with whole_files([path]) as (temporary,):
            _write_parquet(
                functools.partial(merged, self._runs("table"), "id"), temporary, no_connections
            )

    def write_parquet_dataset(self, directory: str) -> list[str]:
        """``render.tables.write_parquet_dataset``: connections and events tables, both
        written whole or neither."""
        from pcapline.outfile import whole_dataset
        from pcapline.render.tables import no_connections, no_events

        tables = (
            ("connections.parquet", "table", no_connections),
            ("events.parquet", "events", no_events),
        )
        with whole_dataset(directory, [name for name, _w, _c in tables]) as temporaries:
            for temporary, (_name, what, empty) in zip(temporaries, tables, strict=True):
                _write_parquet(functools.partial(merged, self._runs(what), "id"), temporary, empty)
        return [os.path.join(directory, name) for name, _w, _c in tables]

    def text_analysis(self, of: Iterable[int] | None = None, *, worded: bool = True) -> Analysis:
        """The ``Analysis`` the text and HTML reports read: every connection's row and delays
        in memory, no segments, no events, no per-segment facts. ``of``: at least these
        connections (only the partitions holding them are read, so a timeline holds one
        partition's rows, not the capture's). ``worded``: the rows' ``WORDED_COLUMNS`` and
        the ``Verdict`` records too, as the in-memory analysis has them (some 1.5 KB a
        connection); without, those columns are None (``worded`` reads them back for the
        connections a page words): the report of the 30 M-packet capture, 692,964
        connections, peaks some 0.6 GB lower."""
        from pcapline.analysis import Analysis, _connections_table, delay_series
        from pcapline.delays import VisitedColumns

        chosen = list(zip(self.part_ids, self._runs("text"), strict=True))
        if of is not None:
            wanted = _conn_ids(of)
            chosen = [(ids, path) for ids, path in chosen if np.isin(wanted, ids).any()]
        tables: list[dict[str, pd.Series]] = []
        lost: list[DelaysTable] = []
        order: list[str] = []
        for _ids, path in chosen:
            with open(path, "rb") as f:
                light, order, delays = pickle.load(f)
            # the delay records as columns (``VisitedColumns``): a third of their memory
            delays.stalls = VisitedColumns.of(delays.stalls)
            tables.append(light)
            lost.append(delays)
        if not tables:  # no TCP: the typed empty tables an empty partition gives
            (light, order, delays), _worded = _text_runs(
                engine.analyse_partition(_no_partition(), self.settings)
            )
            tables.append(light)
            lost.append(delays)
        del light
        every = np.concatenate([np.asarray(d.ids, np.int64) for d in lost])
        delays = engine._merge_delays(lost, np.argsort(every, kind="stable"))
        lost.clear()  # merged: the partitions' go before the rows are joined
        rows = _joined_by_id(tables)  # each partition's columns let go once joined
        unworded = pd.Series([None] * len(rows), index=rows.index, dtype=object)
        # The delay columns are the merged delays' own arrays (both in id order), not a
        # second copy of them read from the partitions' rows (80 B a connection).
        lost_columns = {
            name: pd.Series(column, index=rows.index, copy=False)
            for name, column in delay_series(rows, delays).items()
        }
        table = rows.assign(**lost_columns, **dict.fromkeys(WORDED_COLUMNS, unworded))[order]
        analysis = Analysis(
            capture=self.capture,
            segments=_no_segments(),
            connections=_connections_table(table),
            events=pd.DataFrame(columns=list(EVENT_COLUMNS)),
            findings=self.findings,
            delays=delays,
        )
        del rows, table
        # What the partitions' files held, joined and let go, is free but still mapped
        # (600 MB of a report's 1.7 GB for 1,021,764 connections): the page built next
        # reuses none of it in one piece.
        release_freed_memory()
        return self.worded(analysis, every, verdicts=True) if worded else analysis

    def worded(self, analysis: Analysis, of: Iterable[int], *, verdicts: bool = False) -> Analysis:
        """``analysis`` (a ``text_analysis(worded=False)``, maybe a filtered view of it) with
        the ``WORDED_COLUMNS`` of its connections among ``of`` read back (the others keep
        None), and with ``verdicts`` their ``Verdict`` records. A partition's file is read
        only if it holds one of them, and only their rows are kept."""
        conns = analysis.connections
        ids = conns["id"].to_numpy(np.int64)
        wanted = np.intersect1d(_conn_ids(of), ids)
        columns = {name: conns[name].to_numpy(object).copy() for name in WORDED_COLUMNS}
        at = pd.Index(ids)
        records: list[Verdicts] = []
        for part_ids, path in zip(self.part_ids, self._runs("text", "worded"), strict=True):
            mine = wanted[np.isin(wanted, part_ids)]
            if not len(mine):
                continue
            with open(path, "rb") as f:
                unpickler = pickle.Unpickler(f)  # its memo: the records share the table's
                table = unpickler.load()
                verdict: Verdicts | None = unpickler.load() if verdicts else None
            rows = np.searchsorted(table["id"].to_numpy(np.int64), mine)  # by id
            where = at.get_indexer(mine)
            for name, column in columns.items():
                column[where] = table[name].to_numpy(object)[rows]
            if verdict is not None:  # the records of ``mine`` alone (``ids`` in id order)
                picked = np.searchsorted(np.asarray(verdict.ids, np.int64), mine)
                records.append(engine._merge_verdicts([verdict], picked))
            del table, verdict
        filled = conns.copy(deep=False)
        for name, column in columns.items():
            filled[name] = pd.Series(column, index=conns.index, dtype=object)
        if not verdicts:
            return replace(analysis, connections=filled)
        if not records:
            return replace(analysis, connections=filled, verdicts={})
        every = np.concatenate([np.asarray(r.ids, np.int64) for r in records])
        merged = engine._merge_verdicts(records, np.argsort(every, kind="stable"))
        return replace(analysis, connections=filled, verdicts=merged)

    def drawn(
        self, analysis: Analysis, *, events_of: Iterable[int], drawn: Iterable[int]
    ) -> Analysis:
        """``analysis`` (this capture's ``text_analysis``, maybe a filtered view of it) with
        what a page draws: the events of the connections ``events_of`` names (read from the
        runs), the segments and the detections a figure draws (``engine.Kept.DRAWN``) of
        those ``drawn`` names (``Redraw``). Holds only these connections' rows."""
        from pcapline.analysis import _events_table

        if self.redraw is None:
            raise ValueError("the analysis was run without the 'drawn' output")
        marked = _conn_ids(events_of)
        events = []
        for number, path in zip(self.numbers, self._runs("drawn"), strict=True):
            if not np.isin(marked, self.redraw.ids[number]).any():
                continue  # none of its connections is shown: its events are not read
            with open(path, "rb") as f:
                table: pd.DataFrame = pickle.load(f)
            events.append(table[table["conn"].isin(marked)])
        every = [] if not events else [pd.concat(events, ignore_index=True)]
        again = self.redraw.analyse(_conn_ids(drawn))
        # Every partition's events read and let go, the drawn ones analysed again: about
        # 330 MB freed but still mapped on a report of a million connections.
        release_freed_memory()
        return replace(
            analysis,
            segments=again.segments,
            events=_events_table(every[0] if every else pd.DataFrame(columns=list(EVENT_COLUMNS))),
            detections=again.detections,
        )


@dataclass(frozen=True, slots=True)
class Drawn:
    """What ``Redraw.analyse`` gives: the segments and the detections of some connections."""

    segments: pd.DataFrame  # frame order, the flows' columns (as ``Analysis.segments``)
    detections: dict[int, ConnDetections]


@dataclass(frozen=True, slots=True)
class Redraw:
    """The few connections a page draws, analysed again from the split capture.

    A page draws a connection's segments, facts and retry series (the HTML report's
    sections, a timeline), which no run keeps: they weigh some forty columns a segment. A
    connection's analysis reads the rows of its own 4-tuple and the capture-wide inputs in
    ``Settings`` (the whole capture's quality flags and per-listener SYN+ACK retries, as
    the partitions' final run had them), so its 4-tuple's rows analysed alone give what its
    partition gave. Every incarnation of the 4-tuple is taken, not only the connection's
    own rows: port reuse is decided over all of them (``flows.py``)."""

    job: Job
    ids: list[np.ndarray]  # per partition, the global id of each local id
    settings: Settings

    def analyse(self, conn_ids: np.ndarray) -> Drawn:
        from pcapline.flows import tuple_keys

        segments: list[pd.DataFrame] = []
        detections: dict[int, ConnDetections] = {}
        for number, ids in enumerate(self.ids):
            mine = conn_ids[np.isin(conn_ids, ids)]
            if not len(mine):
                continue
            part = numbered(self.job, number, ids)
            keys, _ = tuple_keys(part.segments)
            rows = part.segments["conn"].isin(mine).to_numpy()
            alone = _only_rows(part, np.isin(keys, np.unique(keys[rows])))
            result = engine.analyse_partition(alone, self.settings)
            segments.append(part.segments[rows])
            wanted = set(mine.tolist())
            detections.update((c, d) for c, d in result.detections.items() if c in wanted)
        if not segments:
            return Drawn(_no_segments(), {})
        every = pd.concat(segments).sort_values("frame", kind="stable").reset_index(drop=True)
        return Drawn(every, dict(sorted(detections.items())))


def _conn_ids(given: Iterable[int]) -> np.ndarray:
    """``given`` as sorted unique connection ids (int64), leaving out what no connection can
    be: ``pcapline timeline big.pcap 99999999999999999999`` is "no connection with id",
    not an OverflowError."""
    if isinstance(given, (np.ndarray, pd.Series)):  # a table's ids: int64 already
        return np.unique(np.asarray(given, np.int64))
    ids = [int(n) for n in given]
    return np.unique(np.array([n for n in ids if 0 <= n <= _MAX_ID], np.int64))


_MAX_ID = int(np.iinfo(np.int64).max)


def _no_partition() -> engine.Partition:
    """A partition without a segment (``Bounded.text_analysis`` of a capture without TCP)."""
    from pcapline.flows import _empty_connections
    from pcapline.icmp import IcmpMatches

    return engine.Partition(0, _no_segments(), _empty_connections(), IcmpMatches(), {})


def _no_segments() -> pd.DataFrame:
    """A segments table without rows, typed (``Analysis.select`` reads its ``conn``)."""
    columns = {**SEGMENT_COLUMNS, **FLOW_COLUMNS}
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in columns.items()})


def _only_rows(part: engine.Partition, rows: np.ndarray) -> engine.Partition:
    """``part`` cut to the segment rows ``rows`` marks (whole connections) and what goes
    with their connections: their rows of the connections table, ICMP errors and payloads."""
    segments = part.segments[rows].reset_index(drop=True)
    conns = set(np.unique(segments["conn"].to_numpy()).tolist())
    connections = part.connections[part.connections["id"].isin(conns)].reset_index(drop=True)
    return engine.Partition(
        number=part.number,
        segments=segments,
        connections=connections,
        icmp=part.icmp.of(conns),
        app={c: a for c, a in part.app.items() if c in conns},
    )


def _write_parquet(
    chunks: Callable[[], Iterator[pd.DataFrame]], path: str, empty: Callable[[], pd.DataFrame]
) -> None:
    """The chunks of one table (``chunks()`` gives them) into one Parquet file, with the
    column types the in-memory path writes the whole table with (``tables.parquet_schema``:
    every text column ``string``, so a chunk without a value in one is no different); no
    chunk at all (no connection, no event): ``empty()``'s typed columns, as in memory."""
    from pcapline.render.tables import _need_pyarrow, parquet_schema

    _need_pyarrow()
    import pyarrow as pa
    import pyarrow.parquet as pq

    parts = chunks()
    first = next(parts, None)
    if first is None:
        first = empty()
    schema = parquet_schema(first)
    with pq.ParquetWriter(path, schema) as writer:
        for chunk in itertools.chain([first], parts):
            writer.write_table(pa.Table.from_pandas(chunk, schema=schema, preserve_index=False))


__all__ = [
    "BOUNDED_MIN_BYTES",
    "BYTES_PER_PARTITION",
    "COMPRESSED_RATIO",
    "KEPT_COLUMNS",
    "OUTPUTS",
    "Bounded",
    "DaskPass",
    "Digest",
    "Job",
    "Made",
    "PartitionLost",
    "Streams",
    "Workers",
    "analyse",
    "merged",
    "number_streams",
    "partition_count",
    "read_run",
    "source_size",
    "split",
    "stream_ids",
    "wanted",
    "write_run",
]
