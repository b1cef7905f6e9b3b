"""engine: one capture analysed in partitions, in this process, on a process pool or on Dask.

    read -> decode -> flows                      whole capture (tcp.stream ids are global)
         -> app context, read quality, ICMP matching   whole capture (payload bytes, quotes)
         -> partitions of whole 4-tuples
              facts -> detect -> classify -> explain -> delays     per partition, anywhere
         -> merge (connections by id, events by conn then frame, turns by conn then time,
                   the partitions' handshake summaries joined: ``handshakes.concat``)
         -> findings                              whole capture (they compare connections)

What comes back from a worker is what the parent reads: the tables, verdicts and delays,
each connection's JSON entry laid out when the output is JSON, and of the detections only
those read afterwards (``Kept``: tens of thousands of small records, slower to unpickle than
every table together). A local pool's workers leave it pickled in a file of a temporary
folder of the run's (``hand_over``), not in the pool's one result pipe, which would hold
each of them until the parent had drained it.

What needs the whole capture is found before the split and handed to each partition: what
the payloads carry (``app.recognise`` reads the frames' bytes, let go before detection), the
ICMP errors matched to their connections (``icmp.match``: an error's quote names any
connection) and the file's drop counters (``quality.read_quality``).

A partition holds every connection of the 4-tuples given to it (all incarnations of a reused
port pair together): the stale-peer RST (``classify.stale_peer_resets``) compares connections
of one 4-tuple. Two other inputs of classify span partitions: the per-capture quality flags
(``quality.CaptureWide``: some segment lost at the capture point, a flag filter) and, per
listener, what its SYN+ACK retries show (``listeners.by_listener``: the SYN-cookie evidence,
handshakes completed out of a filtered capture's sight). The flags are measured over every
partition first (``measured_flags``, joined; on a Dask cluster guessed: ``GUESS``, not lossy,
not flag-filtered), each listener's retries are counted within the partition, and partitions
run again with the whole capture's values where their run was wrong (every partition for
wrong flags or a filtered capture; for the listeners, only those where a connection decided
through RULES would weigh them differently). One partition measures them itself. The merged
analysis is byte for byte the whole-file one:
``tests/test_engine.py`` runs every sample capture and corpus captures with reused ports
through every path.

One partition in this process is the plain pipeline, what ``analyze()`` always did; a capture
smaller than ``POOL_MIN_SEGMENTS`` stays there whatever ``jobs`` says (a process pool starts
in about as long as such a capture takes).
"""

from __future__ import annotations

import contextlib
import enum
import os
import shutil
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import CancelledError
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TextIO, TypeVar, cast

import numpy as np
import pandas as pd

from pcapline import listeners
from pcapline.causes import path_reset, syn_cookies
from pcapline.errors import PcaplineError, one_line
from pcapline.listeners import ListenerRetries
from pcapline.model import Counts, SkipReason, Verdicts
from pcapline.quality import CaptureWide
from pcapline.workers import Holding

if TYPE_CHECKING:
    from pcapline.analysis import Analysis, Source
    from pcapline.app import App
    from pcapline.delays import DelaysTable, SlowThresholds, Turns
    from pcapline.detect import ConnDetections
    from pcapline.facts import Facts
    from pcapline.findings.handshakes import Handshakes
    from pcapline.icmp import IcmpMatches
    from pcapline.quality import CaptureQuality

#: Below this many TCP segments a capture is analysed in one piece in this process.
POOL_MIN_SEGMENTS = 200_000
#: Partitions per worker: more, smaller tasks even out connections of very different sizes.
PARTITIONS_PER_JOB = 3
#: The capture-wide quality flags partitions assume on their first run: large captures carry
#: data and bare ACKs, and their capture point kept up (the network's own losses, which a
#: large capture shows somewhere, are no loss at the capture point: ``quality``'s gaps the
#: receiver duplicate-ACKs). Checked afterwards (``_to_rerun``): a wrong guess costs every
#: partition a second run.
GUESS = CaptureWide(plain_segment=True, plain_data=1, bare_segment=True, zero_length=True)


class PartitionLost(PcaplineError):
    """A worker died while analysing a partition (killed, or out of memory): no partial
    output is ever presented as the capture's analysis."""


class Kept(enum.Enum):
    """Which connections' detections a partition hands back (``detect.ConnDetections``: one
    per visited connection, tens of thousands of small records; on many cores each is pickled
    by its worker and unpickled by the parent, about a second of the parent's time per
    partition of 400 k segments)."""

    ALL = "all"  # every visited connection's (the Python API's ``Analysis``)
    #: Those a figure draws (``backoff.draws``: a retry series) and those the findings read:
    #: the HTML report.
    DRAWN = "drawn"
    READ = "read"  # those the findings read (``findings.detections_read``): text, JSON, tables


@dataclass(frozen=True, slots=True)
class Settings:
    """What every partition of one capture is analysed with."""

    capture_end_ns: int  # the capture's last timestamp (any frame)
    slow: SlowThresholds | None
    keep_facts: bool  # hand the per-segment facts back (the HTML report and timelines need them)
    #: The file's interface statistics report dropped packets (``quality.ReadQuality``).
    dropped: bool = False
    #: The file ends inside a packet record (``quality.ReadQuality.truncated``).
    truncated: bool = False
    #: The whole capture's quality flags; None: the partition is the whole capture.
    capture: CaptureWide | None = None
    #: The whole capture's ``listeners.by_listener``; None: counted in the partition.
    retried_by_listener: Mapping[str, ListenerRetries] | None = None
    #: The whole capture's ``causes.path_reset.server_ttls``; None: the partition's own.
    server_ttls: path_reset.ServerTtls | None = None
    #: Which visited connections' detections to hand back.
    detections: Kept = Kept.ALL
    #: Lay out each connection's JSON entry in the partition (``jsondoc.connection_texts``):
    #: the JSON document's biggest part is then written on every core.
    json_entries: bool = False


@dataclass(frozen=True, slots=True)
class Partition:
    """One task: the segments of whole 4-tuples (frame order, global connection ids), their
    rows of the flows' connections table, the ICMP errors matched to them and what their
    payloads carry (both found on the whole capture before it was split)."""

    number: int
    segments: pd.DataFrame
    connections: pd.DataFrame
    icmp: IcmpMatches
    app: Mapping[int, App]


@dataclass(frozen=True, slots=True)
class PartResult:
    """What one partition found, ready to merge (every table in its own id order)."""

    number: int
    connections: pd.DataFrame  # flows' columns + verdict columns + delay columns
    events: pd.DataFrame
    verdicts: Verdicts
    delays: DelaysTable
    detections: dict[int, ConnDetections]  # as ``Settings.detections`` says
    quality: CaptureQuality
    one_sided: np.ndarray  # per connection (conn_ids order): one direction captured
    facts: Facts | None  # None unless Settings.keep_facts
    json_entries: list[str] | None  # by id; None unless Settings.json_entries
    #: Connections decided through RULES: the ones whose listener's retries were weighed.
    visited: np.ndarray
    #: ``findings.handshakes.summarize`` over the partition (its ``connections`` are this
    #: result's: pickled once): the parent joins them (``handshakes.concat``) instead of
    #: summarising every segment of the capture after the merge.
    handshakes: Handshakes
    #: ``listeners.by_listener`` over the partition: what its listeners' SYN+ACK retries show.
    listeners_seen: Mapping[str, ListenerRetries] = field(default_factory=dict)

    def listeners(self) -> Listeners:
        ids = np.asarray(self.verdicts.ids, np.int64)
        synack_retransmits = np.asarray(self.verdicts.counts["synack_retransmits"])
        return Listeners(
            number=self.number,
            own=self.quality.own,
            connections=self.connections,
            ids=ids,
            synack_retransmits=synack_retransmits,
            visited=self.visited,
            weighed=np.isin(ids, self.visited) & syn_cookies.weighs_listener(self.verdicts.fate),
            retried=self.listeners_seen,
            ttls=path_reset.server_ttls(self.handshakes),
            refusals=path_reset.refusals(self.handshakes, ids[path_reset.named(self.verdicts)]),
        )


@dataclass(frozen=True, slots=True)
class Listeners:
    """What deciding a rerun reads of one partition's result (``_to_rerun``)."""

    number: int
    own: CaptureWide  # the quality flags the partition's connections show
    connections: pd.DataFrame  # at least id, server_ip, server_port
    ids: np.ndarray  # connection ids (verdict order)
    synack_retransmits: np.ndarray  # per connection (``ids`` order)
    visited: np.ndarray  # connections decided through RULES
    #: Per connection (``ids`` order): decided through RULES with a fate whose cause reads
    #: its listener's SYN+ACK retries (``causes.syn_cookies.weighs_listener``).
    weighed: np.ndarray
    #: ``listeners.by_listener`` over the partition (summed: the whole capture's).
    retried: Mapping[str, ListenerRetries]
    #: ``causes.path_reset.server_ttls`` over the partition (summed: the whole capture's).
    ttls: path_reset.ServerTtls = field(default_factory=dict)
    #: ``causes.path_reset.refusals`` of the partition: what judging its RSTs reads.
    refusals: frozenset[tuple[str, int, int]] = frozenset()

    def slim(self) -> Listeners:
        """Without the per-connection columns when no connection weighs its listener's
        retries: ``_to_rerun`` then reads only ``own`` and ``retried``. What a parent that
        waits on many partitions keeps of each (the bounded-memory engine's)."""
        if self.weighed.any():
            return self
        # Copies: a slice would keep the whole column alive.
        return replace(
            self,
            connections=self.connections.iloc[:0].copy(),
            ids=self.ids[:0].copy(),
            synack_retransmits=self.synack_retransmits[:0].copy(),
            visited=self.visited[:0].copy(),
            weighed=self.weighed[:0].copy(),
        )


def analyse_partition(part: Partition, settings: Settings) -> PartResult:
    """facts -> detect -> classify -> delays -> explain for one partition, as
    ``analysis.analyze`` did for the whole capture before the engine."""
    from pcapline import classify, delays, detect, explain
    from pcapline.analysis import delay_series, seen_column, verdict_columns
    from pcapline.app import app_docs
    from pcapline.detect.handshake import one_sided
    from pcapline.findings.handshakes import summarize
    from pcapline.frames import with_columns

    # Before detection: its temporaries are gone before the facts are built (bounded memory).
    handshakes = summarize(part.segments, part.connections)
    ttls = settings.server_ttls
    path_rsts = path_reset.judge_all(
        handshakes, path_reset.server_ttls(handshakes) if ttls is None else ttls
    )
    detected = detect.run_all(part.segments, capture_end_ns=settings.capture_end_ns, icmp=part.icmp)
    classified = classify.classify(
        part.segments,
        part.connections,
        detected,
        dropped=settings.dropped,
        truncated=settings.truncated,
        capture=settings.capture,
        retried_by_listener=settings.retried_by_listener,
        path_rsts=path_rsts,
    )
    assert classified.quality is not None  # classify always measures it
    events = detected.events
    lost = delays.measure(
        detected.facts,
        detected.detections,
        events,
        classified.counts,
        thresholds=settings.slow,
        apps=part.app,
        ts_ecr=part.segments["ts_ecr"].to_numpy() if "ts_ecr" in part.segments else None,
        handshake=(classified.columnar.rtt_ms, classified.columnar.loops),
        acks_filtered=classified.quality.acks_filtered,
    )
    verdicts = explain.verdicts(classified, lost, part.app)
    connections = verdict_columns(part.connections, verdicts)
    # The seen, delay and app columns set in one step (``frames.with_columns``), in that order.
    connections = with_columns(
        connections,
        {
            "seen": seen_column(connections, classified.conn_ids, classified.quality),
            **delay_series(connections, lost),
            "app": pd.Series(
                app_docs(part.app, connections["id"].tolist()),
                index=connections.index,
                dtype=object,
            ),
        },
    )
    entries = None
    if settings.json_entries:
        from pcapline.render.jsondoc import connection_texts

        entries = connection_texts(connections, events, lost)
    return PartResult(
        number=part.number,
        connections=connections,
        events=events,
        verdicts=verdicts,
        delays=lost,
        detections=_kept(detected.detections, settings.detections),
        quality=classified.quality,
        one_sided=one_sided(detected.facts),
        facts=detected.facts if settings.keep_facts else None,
        json_entries=entries,
        visited=np.fromiter(classified.evidence, np.int64, len(classified.evidence)),
        # the same rows as part.connections (the verdict and delay columns keep their order)
        handshakes=replace(handshakes, connections=connections),
        listeners_seen=classified.listeners,
    )


def _kept(detections: Mapping[int, ConnDetections], kept: Kept) -> dict[int, ConnDetections]:
    """The detections ``kept`` names, of a partition's visited connections."""
    from pcapline import findings

    if kept is Kept.ALL:
        return dict(detections)
    read = findings.detections_read(detections)
    if kept is Kept.READ:
        return read
    from pcapline.render.figures.backoff import draws

    return {conn: found for conn, found in detections.items() if conn in read or draws(found)}


# ---------------------------------------------------------------------------------------------
# Where partitions run


def measured_flags(segments: pd.DataFrame, capture_end_ns: int) -> CaptureWide:
    """The capture-wide flags (``quality.CaptureWide``: some connection lost segments at the
    capture point, one captured in one direction only, a flag filter...) as one partition's
    rows show them; joined over the partitions (``|``), the whole capture's.

    Partitions first run on them rather than on a fixed guess (``GUESS``): a partition run on
    a wrong guess runs again whole, and one lost segment anywhere in a large capture (a capture
    point that missed one packet of millions) made every partition run twice, doubling the
    analysis. Measuring costs each partition's facts once more (about a tenth of its
    analysis). The flags read the connections' rows, not their ids (local ids do); the
    partitions' own runs still check them (``_to_rerun``), so a flag told apart here only by
    ``capture_end_ns`` (an unretried SYN+ACK, judged against the capture's end) costs a
    rerun, never a different answer."""
    from pcapline.facts import compute_facts
    from pcapline.quality import measure

    return measure(compute_facts(segments, capture_end_ns=capture_end_ns)).own


def joined_flags(flags: Iterable[CaptureWide]) -> CaptureWide:
    """The whole capture's flags from its partitions' (``measured_flags``)."""
    joined = CaptureWide()
    for one in flags:
        joined = joined | one
    return joined


class Runner:
    """Runs ``analyse_partition`` over partitions; results come back in any order."""

    def run(
        self, parts: Sequence[int], settings: Settings, done: Callable[[], None]
    ) -> Iterator[PartResult]:
        raise NotImplementedError

    def flags(
        self, parts: Sequence[int], capture_end_ns: int, done: Callable[[], None]
    ) -> CaptureWide:
        """The flags the first run of ``parts`` takes: measured (``measured_flags``) where
        the runner holds the partitions' rows; ``GUESS`` where measuring would ship every
        partition twice (a Dask cluster)."""
        return GUESS

    def close(self) -> None:
        """Release workers (idempotent)."""


class InProcess(Runner):
    def __init__(self, plan: Plan) -> None:
        self.plan = plan

    def run(
        self, parts: Sequence[int], settings: Settings, done: Callable[[], None]
    ) -> Iterator[PartResult]:
        for number in parts:
            yield analyse_partition(self.plan.partition(number), settings)
            done()

    def flags(
        self, parts: Sequence[int], capture_end_ns: int, done: Callable[[], None]
    ) -> CaptureWide:
        measured = []
        for number in parts:
            measured.append(measured_flags(self.plan.partition(number).segments, capture_end_ns))
            done()
        return joined_flags(measured)


_T = TypeVar("_T")

#: The plan a forked pool worker inherits from its parent (copy-on-write, never pickled).
_FORKED_PLAN: Plan | None = None
#: Which partition each of its workers holds (``workers.Holding``), inherited with the plan.
_HOLDING: Holding | None = None


def _analyse_forked(number: int, settings: Settings, folder: str | None) -> PartResult | Handed:
    assert _FORKED_PLAN is not None and _HOLDING is not None, "a worker without its parent's plan"
    with _HOLDING.held(number):  # its result's file too: a big write, where memory runs out
        result = analyse_partition(_FORKED_PLAN.partition(number), settings)
        if folder is None:
            return result
        return hand_over(result, os.path.join(folder, f"partition-{number}.pickle"))


def _flags_forked(number: int, capture_end_ns: int) -> CaptureWide:
    assert _FORKED_PLAN is not None and _HOLDING is not None, "a worker without its parent's plan"
    with _HOLDING.held(number):
        return measured_flags(_FORKED_PLAN.partition(number).segments, capture_end_ns)


@dataclass(frozen=True, slots=True)
class Handed:
    """A worker's result left pickled in a file of its pool's folder (``hand_over``)."""

    path: str


def hand_over(result: _T, path: str) -> _T | Handed:
    """``result`` pickled into ``path`` and its ``Handed`` returned in its place; ``result``
    itself when the file cannot be written (a full or read-only disk: the pipe carries it).

    Why not the pipe: a partition's result is tens of MB (each connection's JSON entry, the
    tables), and a pool has one result pipe, which the parent drains 64 KiB at a time between
    unpickling the results before it. A worker blocks on it until the parent took its last
    byte, and its partner behind it: on 2.5 M packets with two workers, each partition's
    worker stood 0.1-0.26 s idle, about 0.6 s of a 5 s run. Written to a file it goes on at
    once (the pages stay in the page cache: the parent reads and removes the file within
    the second)."""
    import pickle

    try:
        with open(path, "wb") as out:
            pickle.dump(result, out, protocol=pickle.HIGHEST_PROTOCOL)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(path)
        return result
    return Handed(path)


def picked_up(handed: _T | Handed) -> _T:
    """What ``hand_over`` handed: the result read back, its file removed."""
    import pickle

    if not isinstance(handed, Handed):
        return handed
    try:
        with open(handed.path, "rb") as source:
            os.unlink(handed.path)  # read on through the open file
            # Unpickled from the file: each large bytes or str object is read straight into
            # its own memory, not into one buffer of the whole file first.
            return cast(_T, pickle.load(source))
    except (OSError, EOFError, pickle.UnpicklingError) as exc:
        # Gone (a clean-up of the temporary folder while the analysis ran) or cut short.
        why = (exc.strerror if isinstance(exc, OSError) else None) or str(exc) or "cut short"
        raise PcaplineError(
            f"cannot read back a worker's result from {handed.path} ({why})"
        ) from None


def import_before_fork() -> None:
    """Import what a partition's tasks import on first use (``analyse_partition``; the
    bounded path's flows, ICMP matching and application context, its table rows), once in
    this process before it forks its workers: each worker inherits them instead of
    importing them again on its first partition (two workers on the bench capture spent
    about 0.15 s of CPU each on them: dpkt, classify, explain...)."""
    from pcapline import app, classify, delays, explain, flows, icmp  # noqa: F401
    from pcapline.render import jsondoc, tables  # noqa: F401


class LocalPool(Runner):
    """Worker processes forked after flows: they inherit the segments table, so a task is a
    partition number and only results come back, through files of a temporary folder of
    this run's (``hand_over``) removed with the pool."""

    def __init__(self, plan: Plan, jobs: int) -> None:
        from pcapline.workers import forked_pool

        import_before_fork()

        global _FORKED_PLAN, _HOLDING
        _FORKED_PLAN = plan
        self.count = plan.count
        self.pool, self.holding = forked_pool(jobs, plan.count)
        _HOLDING = self.holding
        self.futures: list[Any] = []
        self.folder: str | None = None  # made by the first ``run`` (``close`` removes it)

    def run(
        self, parts: Sequence[int], settings: Settings, done: Callable[[], None]
    ) -> Iterator[PartResult]:
        from pcapline.tempdirs import make_folder
        from pcapline.workers import signals_deferred

        if self.folder is None:
            with contextlib.suppress(OSError):  # no folder: results come through the pipe
                self.folder = make_folder("pcapline-results-")
        futures = {}
        for number in parts:
            with signals_deferred():  # a worker started but not registered would escape close
                futures[self.pool.submit(_analyse_forked, number, settings, self.folder)] = number
        self.futures.extend(futures)
        for handed in pool_results(futures, done, self.holding, self.count):
            yield picked_up(cast("PartResult | Handed", handed))

    def flags(
        self, parts: Sequence[int], capture_end_ns: int, done: Callable[[], None]
    ) -> CaptureWide:
        from pcapline.workers import signals_deferred

        futures = {}
        for number in parts:
            with signals_deferred():  # a worker started but not registered would escape close
                futures[self.pool.submit(_flags_forked, number, capture_end_ns)] = number
        self.futures.extend(futures)
        doing = "measuring the quality flags of"
        return joined_flags(pool_results(futures, done, self.holding, self.count, doing))

    def close(self) -> None:
        """Once every partition came back the workers are left to exit on their own (the
        merge goes on meanwhile: they only free their memory); after an error, Ctrl-C or
        SIGTERM the busy ones are killed at once: nobody waits for a partition in hand."""
        from pcapline.workers import stop_pool

        global _FORKED_PLAN, _HOLDING
        # Every partition came back: no worker writes any more. After a worker died the
        # others' futures fail at once, while they may still be writing a result: stopped.
        if all(f.done() and not f.cancelled() and f.exception() is None for f in self.futures):
            self.pool.shutdown(wait=False, cancel_futures=True)
        else:
            stop_pool(self.pool)
        _FORKED_PLAN = _HOLDING = None
        if self.folder is not None:  # after the workers: none writes into it any more
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


#: How long connecting to a Dask scheduler may take before it counts as unreachable (the
#: client retries a refused connection until then). Read at each call (tests shorten it).
SCHEDULER_CONNECT_TIMEOUT_S = 5.0


def dask_client(address: str) -> Any:
    """A ``distributed.Client`` of the scheduler at ``address``; one-line errors when Dask
    is not installed or the scheduler cannot be reached."""
    from pcapline.errors import UsageError

    try:
        from distributed import Client
    except ImportError as exc:
        raise UsageError(
            "--scheduler needs Dask's distributed package: pip install 'pcapline[dask]'"
        ) from exc
    scheme = address.split("://", 1)[0] if "://" in address else "tcp"
    if scheme != "tcp":
        # distributed's tls:// needs certificates pcapline is not given, and ucx:// a
        # package it does not install: either failed deep inside Dask (an internal error).
        raise UsageError(
            f"--scheduler {address}: pcapline connects to Dask schedulers over tcp:// only "
            "(e.g. tcp://host:8786)"
        )
    started = 0
    while True:
        started += 1
        try:
            _answers_as_dask(address, SCHEDULER_CONNECT_TIMEOUT_S)
            return Client(address, timeout=SCHEDULER_CONNECT_TIMEOUT_S)  # type: ignore[no-untyped-call]
        except (OSError, TimeoutError, ValueError) as exc:  # ValueError: a malformed address
            raise UsageError(
                f"cannot reach the Dask scheduler at {address}: {' '.join(str(exc).split())}"
            ) from exc
        except MemoryError as exc:
            # A peer that is no Dask scheduler can announce a message of any size.
            raise UsageError(
                f"cannot reach the Dask scheduler at {address}: what answered there is not a "
                "Dask scheduler"
            ) from exc
        except AssertionError as exc:
            # distributed's LoopRunner asserts its event-loop thread started within 10 s;
            # once, in a CI run of the test suite on a busy box, it had not. Tried again.
            if started == DASK_CLIENT_STARTS:
                raise UsageError(
                    f"cannot reach the Dask scheduler at {address}: Dask's client failed to "
                    "start (its event loop, on a busy machine?)"
                ) from exc


#: How many times a Dask client is started before its start is given up on.
DASK_CLIENT_STARTS = 2


def _answers_as_dask(address: str, timeout: float) -> None:
    """One ``identity`` round trip with what listens at ``address``, in this thread, before a
    client is made: Dask's client timeout covers the connection, not the first answer, and
    a port that accepts but answers nothing Dask can read (a web server, a silent service)
    kept ``--scheduler`` waiting for ever. Connection errors are raised as Dask raises them
    (the caller words them); no answer within twice ``timeout`` is a ``UsageError``. Left out
    where this thread already runs an event loop (a caller's own asyncio code)."""
    import asyncio

    from distributed.comm.core import connect

    from pcapline.errors import UsageError

    async def probe() -> None:
        comm = await connect(address, timeout=timeout)  # type: ignore[no-untyped-call]
        try:
            await comm.write({"op": "identity", "reply": True})
            await comm.read()
        finally:
            comm.abort()

    try:
        asyncio.get_running_loop()
        return  # inside a running loop: asyncio.run cannot nest; the client decides
    except RuntimeError:
        pass
    try:
        asyncio.run(asyncio.wait_for(probe(), 2 * timeout))
    except TimeoutError:
        raise UsageError(
            f"cannot reach the Dask scheduler at {address}: it accepted the connection but "
            f"gave no Dask answer within {2 * timeout:g} s (a Dask scheduler listens on port "
            "8786 unless told otherwise)"
        ) from None


def dask_submit(client: Any, function: Callable[..., Any], *args: Any) -> Any:
    """``client.submit(function, *args, pure=False)`` without Dask's "Sending large graph"
    ``UserWarning``: a partition's segments are the task's data (tens of MB by design), and
    its six lines per partition, advice for Dask programmers, buried the capture's own
    warnings on stderr (60 lines for the bench capture)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sending large graph", category=UserWarning)
        return client.submit(function, *args, pure=False)


def pool_results(
    futures: Mapping[Any, int],
    done: Callable[[], None],
    holding: Holding,
    total: int,
    doing: str = "analysing",
) -> Iterator[Any]:
    """The results of a process pool's ``futures`` (future -> partition number, of ``total``)
    as they finish; a worker that died (killed, out of memory) is ``PartitionLost`` naming
    the partition it was ``doing`` (``holding`` says which: the pool fails every task at
    once), never a hang or a partial result."""
    from concurrent.futures import as_completed
    from concurrent.futures.process import BrokenProcessPool

    for future in as_completed(futures):
        try:
            result = future.result()
        except BrokenProcessPool as exc:
            raise PartitionLost(worker_died(holding.lost(), total, doing)) from exc
        yield result
        done()


def worker_died(lost: Sequence[int], total: int, doing: str) -> str:
    """What ``PartitionLost`` says of a dead worker: the partitions it held (``lost``,
    numbered from 0) of ``total``, or none (it died between two)."""
    why = "killed, or out of memory: try fewer --jobs"
    if not lost:
        return f"a worker process died ({why}) while {doing} the capture's {total} partitions"
    held = " and ".join(str(n + 1) for n in lost)
    return (
        f"a worker process died {doing} partition{'s' * (len(lost) > 1)} {held} of {total} ({why})"
    )


class DaskCluster(Runner):
    """Partitions as tasks on a Dask cluster (``--scheduler tcp://host:8786``); the workers
    need pcapline installed (the same version) and receive each partition's segments.
    ``tick``: called while waiting (a status line's clock)."""

    def __init__(self, plan: Plan, address: str, tick: Callable[[], None] = lambda: None) -> None:
        self.plan = plan
        self.address = address
        patience = no_worker_timeout()  # a bad value said before connecting
        self.client = dask_client(address)
        self.quiet = QuietDaskLog()
        self.watch = WorkerWatch(self.client, address, plan.count, tick, patience)

    def run(
        self, parts: Sequence[int], settings: Settings, done: Callable[[], None]
    ) -> Iterator[PartResult]:
        futures = {
            dask_submit(self.client, analyse_partition, self.plan.partition(n), settings): n
            for n in parts
        }
        while futures:
            for future in self.watch.finished(futures):
                yield self.watch.result(future, futures.pop(future))
                done()

    def close(self) -> None:
        self.client.close()
        self.quiet.restore()


#: Dask: how long a run waits with no worker in the cluster before giving up on what is left
#: (seconds; env PCAPLINE_DASK_NO_WORKER_TIMEOUT). A worker that dies is restarted by its
#: nanny and its task retried (``distributed.scheduler.allowed-failures``); one that is gone
#: for good must not make the run wait forever.
NO_WORKER_TIMEOUT_S = 60.0
#: How often a run waiting on Dask results looks at the cluster (seconds).
DASK_POLL_S = 1.0


def no_worker_timeout() -> float:
    """``NO_WORKER_TIMEOUT_S``, or ``PCAPLINE_DASK_NO_WORKER_TIMEOUT``."""
    from pcapline.errors import UsageError

    try:
        return float(os.environ.get("PCAPLINE_DASK_NO_WORKER_TIMEOUT", NO_WORKER_TIMEOUT_S))
    except ValueError:
        raise UsageError("PCAPLINE_DASK_NO_WORKER_TIMEOUT: a number of seconds") from None


class NoWorker:
    """How long a Dask cluster has had no worker (``patience`` seconds at most)."""

    def __init__(self, client: Any, patience: float | None = None) -> None:
        self.client = client
        self.patience = no_worker_timeout() if patience is None else patience
        self.since: float | None = None

    def heard(self) -> None:
        """A result came back."""
        self.since = None

    def too_long(self) -> bool:
        """After a wait with no result: has the cluster had no worker for ``patience``
        seconds now? OSError or TimeoutError: the scheduler is gone."""
        if self.client.scheduler_info().get("workers", {}):
            self.since = None
            return False
        now = time.monotonic()
        self.since = self.since or now
        return now - self.since >= self.patience


class SchedulerGone(Exception):
    """``first_done``: the Dask scheduler went away (a wait's futures cancelled or its
    connection closed; ``detail``: the error of asking it for its workers, in one line)."""

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail)
        self.detail = detail


class NoWorkerLeft(Exception):
    """``first_done``: the Dask cluster had no worker for ``NoWorker.patience`` seconds."""


def first_done(
    futures: Iterable[Any], no_worker: NoWorker, tick: Callable[[], None] = lambda: None
) -> set[Any]:
    """The Dask ``futures`` done, once one is; never a wait for ever: ``SchedulerGone`` or
    ``NoWorkerLeft`` when no result can come. What ``analyze --scheduler`` (``WorkerWatch``)
    and ``scan --scheduler`` (one error row per capture left) wait with. ``tick``: called
    every ``DASK_POLL_S`` without a result (a status line's clock)."""
    from distributed import wait

    waiting = list(futures)
    while True:
        try:
            done, _ = wait(waiting, timeout=DASK_POLL_S, return_when="FIRST_COMPLETED")  # type: ignore[no-untyped-call]
        except TimeoutError:
            done = set()
        except (CancelledError, OSError) as exc:  # futures cancelled, or the connection closed
            raise SchedulerGone() from exc
        if done:
            no_worker.heard()
            return set(done)
        tick()
        try:
            gave_up = no_worker.too_long()
        except (OSError, TimeoutError) as exc:
            raise SchedulerGone(one_line(exc)) from exc
        if gave_up:
            raise NoWorkerLeft()


class WorkerWatch:
    """An analysis's Dask results, never waited on forever: a lost scheduler (its
    connection closed: ``CancelledError``, or ``CommClosedError`` from a gather), a
    partition whose workers kept dying, or a cluster with no worker for ``NoWorker``'s
    patience is ``PartitionLost``, one line. ``total``: the capture's partitions."""

    def __init__(
        self,
        client: Any,
        address: str,
        total: int,
        tick: Callable[[], None] = lambda: None,
        patience: float | None = None,
    ) -> None:
        self.address = address
        self.total = total
        self.tick = tick
        self.no_worker = NoWorker(client, patience)

    def finished(self, futures: Mapping[Any, int]) -> set[Any]:
        """The futures of ``futures`` (future -> partition) done, once one is."""
        try:
            return first_done(futures, self.no_worker, self.tick)
        except SchedulerGone as exc:
            raise PartitionLost(lost_scheduler(self.address)) from exc
        except NoWorkerLeft as exc:
            raise PartitionLost(self._no_worker(sorted(futures.values()))) from exc

    def result(self, future: Any, number: int) -> Any:
        """``future``'s result (partition ``number``'s)."""
        from distributed import KilledWorker

        try:
            return future.result()
        except KilledWorker as exc:
            raise PartitionLost(
                f"Dask workers kept dying on partition {number + 1} of {self.total} (killed, "
                "or over their memory limit)"
            ) from exc
        except (CancelledError, OSError) as exc:  # the client lost the scheduler
            raise PartitionLost(lost_scheduler(self.address)) from exc

    def _no_worker(self, waiting: Sequence[int]) -> str:
        shown = ", ".join(str(n + 1) for n in waiting[:3])
        more = f" and {len(waiting) - 3} more" if len(waiting) > 3 else ""
        return (
            f"the Dask cluster at {self.address} had no worker for "
            f"{self.no_worker.patience:g} s (workers died or were stopped): partition"
            f"{'s' * (len(waiting) > 1)} {shown}{more} of {self.total} not analysed; "
            "nothing was written"
        )


def lost_scheduler(address: str) -> str:
    """The one line for a Dask scheduler gone in the middle of an analysis."""
    return (
        f"lost the connection to the Dask scheduler at {address} (stopped or unreachable) "
        "before every partition was analysed: nothing was written; run again"
    )


class QuietDaskLog:
    """``distributed.client`` quiet while pcapline holds a client: when the scheduler goes
    away it logs errors with asyncio tracebacks; pcapline's one error line says it."""

    def __init__(self) -> None:
        import logging

        self.log = logging.getLogger("distributed.client")
        self.level = self.log.level
        self.log.setLevel(logging.CRITICAL)

    def restore(self) -> None:
        self.log.setLevel(self.level)


# ---------------------------------------------------------------------------------------------
# Splitting and merging


@dataclass(frozen=True, slots=True)
class Plan:
    """Which partition every connection and segment belongs to."""

    segments: pd.DataFrame  # the whole capture's, with flows' columns
    connections: pd.DataFrame  # flows' connections table
    part_of_row: np.ndarray  # per segment row
    part_of_conn: np.ndarray  # per connections-table row
    count: int
    icmp: IcmpMatches  # the whole capture's ICMP errors, matched to connections
    app: Mapping[int, App]  # what the whole capture's payloads carry, by connection id

    def rows(self, number: int) -> np.ndarray:
        return np.flatnonzero(self.part_of_row == number)

    def partition(self, number: int) -> Partition:
        if self.count == 1:  # the whole capture: no copy
            return Partition(number, self.segments, self.connections, self.icmp, self.app)
        connections = self.connections[self.part_of_conn == number].reset_index(drop=True)
        ids = set(connections["id"].tolist())
        return Partition(
            number=number,
            segments=self.segments.iloc[self.rows(number)].reset_index(drop=True),
            connections=connections,
            icmp=self.icmp.of(ids),
            app={c: a for c, a in self.app.items() if c in ids},
        )


def plan(
    segments: pd.DataFrame,
    connections: pd.DataFrame,
    count: int,
    icmp: IcmpMatches | None = None,
    app: Mapping[int, App] | None = None,
) -> Plan:
    """Whole 4-tuples into ``count`` partitions of about equal packet counts (largest tuples
    first, dealt out back and forth), each partition non-empty when there are enough tuples."""
    from pcapline.icmp import IcmpMatches

    icmp = icmp if icmp is not None else IcmpMatches()
    if count <= 1:  # the whole capture in one: no 4-tuple to deal out (a text key each)
        whole = np.zeros(len(segments), np.int64), np.zeros(len(connections), np.int64)
        return Plan(segments, connections, *whole, 1, icmp, app or {})
    ids = connections["id"].to_numpy(np.int64)
    tuple_of_conn = canonical_tuples(connections)
    packets = np.bincount(tuple_of_conn, weights=connections["packets"].to_numpy(np.float64))
    count = max(1, min(count, len(packets)))
    by_size = np.argsort(-packets, kind="stable")
    turn = np.arange(len(by_size))
    lap, seat = turn // count, turn % count
    part_of_tuple = np.empty(len(by_size), np.int64)
    part_of_tuple[by_size] = np.where(lap % 2 == 0, seat, count - 1 - seat)
    part_of_conn = part_of_tuple[tuple_of_conn]
    by_id = np.zeros(int(ids.max()) + 1 if len(ids) else 0, np.int64)
    by_id[ids] = part_of_conn
    part_of_row = by_id[segments["conn"].to_numpy(np.int64)]
    return Plan(segments, connections, part_of_row, part_of_conn, count, icmp, app or {})


def canonical_tuples(connections: pd.DataFrame) -> np.ndarray:
    """Per connection, the id of its unordered 4-tuple (both ends sorted): the incarnations
    of a reused port pair share one, whichever side each took for the client."""

    def ends(side: str) -> list[str]:
        ips = connections[f"{side}_ip"].astype(str).tolist()
        ports = connections[f"{side}_port"].tolist()
        return [f"{ip}|{port}" for ip, port in zip(ips, ports, strict=True)]

    pairs = [
        f"{a} {b}" if a < b else f"{b} {a}"
        for a, b in zip(ends("client"), ends("server"), strict=True)
    ]
    codes, _ = pd.factorize(pd.Series(pairs, dtype=object))
    return np.asarray(codes, dtype=np.int64)


@dataclass(frozen=True, slots=True)
class Merged:
    connections: pd.DataFrame
    events: pd.DataFrame
    verdicts: Verdicts
    delays: DelaysTable
    detections: dict[int, ConnDetections]
    quality: CaptureQuality
    one_sided: np.ndarray
    facts: Facts | None
    json_entries: list[str] | None  # every connection's JSON entry, by id
    handshakes: Handshakes  # ``findings.handshakes.summarize`` of the whole capture


def merge(
    results: Sequence[PartResult],
    plan: Plan | None,
    capture: CaptureWide,
    *,
    dropped: bool = False,
    truncated: bool = False,
) -> Merged:
    """The partitions' results as one capture's, every table in connection id order."""
    from pcapline.findings.handshakes import concat
    from pcapline.frames import in_order, joined

    results = sorted(results, key=lambda r: r.number)
    ids = np.concatenate([np.asarray(r.verdicts.ids, np.int64) for r in results])
    by_id = np.argsort(ids, kind="stable")
    connections = joined([r.connections for r in results])
    events = joined([r.events for r in results])
    detections: dict[int, ConnDetections] = {}
    for r in results:
        detections.update(r.detections)
    quality = merge_quality(
        [r.quality for r in results], by_id, capture, dropped=dropped, truncated=truncated
    )
    connections = in_order(connections, ["id"])
    return Merged(
        connections=connections,
        events=events,  # analysis._events_table sorts them by conn then frame
        verdicts=_merge_verdicts([r.verdicts for r in results], by_id),
        delays=_merge_delays([r.delays for r in results], by_id),
        detections=dict(sorted(detections.items())),
        quality=quality,
        one_sided=np.concatenate([r.one_sided for r in results])[by_id],
        facts=_merge_facts(results, plan) if results[0].facts is not None and plan else None,
        json_entries=_entries(results, by_id),
        handshakes=concat([r.handshakes for r in results], connections),
    )


def merge_quality(
    parts: Sequence[CaptureQuality],
    by_id: np.ndarray,
    capture: CaptureWide,
    *,
    dropped: bool,
    truncated: bool = False,
) -> CaptureQuality:
    """The partitions' ``CaptureQuality`` (in partition order) as the whole capture's:
    per-connection columns in id order (``by_id``), the whole capture's flags."""
    from pcapline.quality import COPY_COLUMNS, CaptureQuality

    return CaptureQuality(
        **{
            name: np.concatenate([getattr(x, name) for x in parts])[by_id]
            for name in (
                "not_captured",
                "acked_unseen",
                "first_missing_frame",
                "one_sided",
                "one_direction",
                "mid_stream",
                "fin_may_precede",
                "lossy",
                "from_client_seen",
                "from_server_seen",
                "syn_seen",
                "synack_seen",
                "end_seen",
                "acks_ahead",
                "ack_lead_ns",
                *COPY_COLUMNS,
            )
        },
        flag_filtered=capture.flag_filtered,
        acks_filtered=capture.acks_filtered,
        payload_only=capture.payload_only,
        lossy_capture=capture.lossy_at_capture_point,
        dropped=dropped,
        truncated=truncated,
        one_sided_capture=capture.one_sided,
        own=capture,
    )


def _entries(results: Sequence[PartResult], by_id: np.ndarray) -> list[str] | None:
    parts = [r.json_entries for r in results]
    if any(p is None for p in parts):
        return None
    return _pick((p for p in parts if p is not None), by_id)


def _pick(columns: Iterable[Sequence[Any]], by_id: np.ndarray) -> list[Any]:
    joined = [value for column in columns for value in column]
    return [joined[i] for i in by_id.tolist()]


def _merge_verdicts(parts: Sequence[Verdicts], by_id: np.ndarray) -> Verdicts:
    return Verdicts(
        _pick((v.ids for v in parts), by_id),
        fate=_pick((v.fate for v in parts), by_id),
        closer=_pick((v.closer for v in parts), by_id),
        reset_by=_pick((v.reset_by for v in parts), by_id),
        counts={
            name: np.concatenate([np.asarray(v.counts[name], np.int64) for v in parts])[by_id]
            for name in Counts.__slots__
        },
        evidence_frames=_pick((v.evidence_frames for v in parts), by_id),
        inferred=_pick((v.inferred for v in parts), by_id),
        explanation=_pick((v.explanation for v in parts), by_id),
        confidence=_pick((v.confidence for v in parts), by_id),
        caveats=_pick((v.caveats for v in parts), by_id),
        cause=_pick((v.cause for v in parts), by_id),
    )


def _merge_delays(parts: Sequence[DelaysTable], by_id: np.ndarray) -> DelaysTable:
    from pcapline.delays import DelaysTable

    joined = _Joined(by_id)
    return DelaysTable(
        np.concatenate([d.ids for d in parts])[by_id],
        {name: joined.of([d.columns[name] for d in parts]) for name in parts[0].columns},
        _merge_stalls([d.stalls for d in parts]),
        parts[0].thresholds,
        _merge_turns([d.turns for d in parts], by_id, joined),
    )


def _merge_stalls(parts: Sequence[Mapping[int, Any]]) -> Mapping[int, Any]:
    """The partitions' per-connection delay records as one mapping (no connection in two):
    columns when they came as columns (``delays.VisitedColumns``), else a dict."""
    from pcapline.delays import VisitedColumns

    if parts and all(isinstance(p, VisitedColumns) for p in parts):
        return VisitedColumns.joined(cast(Sequence[VisitedColumns], parts))
    stalls: dict[int, Any] = {}
    for p in parts:
        stalls.update(p)
    return stalls


class _Joined:
    """Per-connection columns of the partitions joined in id order (``by_id``), each joined
    once: the partitions' delays and turns share nine arrays (``delays.measure``), and their
    merge keeps them shared instead of holding two copies (72 B a connection)."""

    def __init__(self, by_id: np.ndarray | None) -> None:
        self.by_id = by_id
        self._done: dict[tuple[int, ...], tuple[list[np.ndarray], np.ndarray]] = {}

    def of(self, columns: list[np.ndarray]) -> np.ndarray:
        key = tuple(id(c) for c in columns)
        if key in self._done:
            return self._done[key][1]
        out = np.concatenate(columns)
        out = out if self.by_id is None else out[self.by_id]
        # the parts are held with it: an id() is unique only while its object lives
        self._done[key] = (columns, out)
        return out


def _merge_turns(
    parts: Sequence[Turns | None], by_id: np.ndarray | None, joined: _Joined | None = None
) -> Turns | None:
    """The whole capture's turns: rows in connection then time order (each partition's are),
    the per-connection columns in id order; ``by_id`` None: the parts hold only their rows
    (``Turns.turn_rows``), and so does the result. ``joined``: columns already joined (the
    delays' that the turns share)."""
    from dataclasses import fields

    from pcapline.delays import Turns

    if any(t is None for t in parts):
        return None
    turns = [t for t in parts if t is not None]
    conn = np.concatenate([t.conn for t in turns])
    rows = np.argsort(conn, kind="stable")
    per_connection = joined if joined is not None else _Joined(by_id)

    def merged(name: str) -> np.ndarray:
        columns = [getattr(t, name) for t in turns]
        if name in Turns.PER_TURN:
            return np.concatenate(columns)[rows]
        return per_connection.of(columns)

    return Turns(**{f.name: merged(f.name) for f in fields(Turns)})


def _merge_facts(results: Sequence[PartResult], plan: Plan) -> Facts:
    """One ``Facts`` for the whole capture: every column in (conn id, frame) order, ``order``
    pointing at rows of the whole segments table."""
    from dataclasses import fields

    from pcapline.facts import ROW_COLUMNS, Facts

    facts = [r.facts for r in results if r.facts is not None]
    assert len(facts) == len(results)
    if plan.count == 1:  # the whole capture: already in its order
        return facts[0]
    conn = np.concatenate([f.conn for f in facts])
    rows = np.argsort(conn, kind="stable")  # a connection's rows are together, frame order
    columns: dict[str, Any] = {
        name: np.concatenate([getattr(f, name) for f in facts])[rows] for name in ROW_COLUMNS
    }
    columns["order"] = np.concatenate(
        [plan.rows(r.number)[f.order] for r, f in zip(results, facts, strict=True)]
    )[rows]
    conn = conn[rows]
    conn_ids, conn_index = np.unique(conn, return_inverse=True)
    starts = np.append(np.searchsorted(conn, conn_ids, side="left"), len(conn)).astype(np.int64)
    # per connection, by id: the partitions hold disjoint connections, ``conn_ids`` sorted
    by_id = np.argsort(np.concatenate([f.conn_ids for f in facts]), kind="stable")
    columns.update(
        conn_ids=conn_ids,
        starts=starts,
        conn_index=conn_index,
        conn=conn,
        capture_end_ns=facts[0].capture_end_ns,
        scale_known=np.concatenate([f.scale_known for f in facts])[by_id],
    )
    assert set(columns) == {f.name for f in fields(Facts) if f.init}  # ``passes`` aside
    return Facts(**columns)


# ---------------------------------------------------------------------------------------------
# The pipeline


@dataclass(frozen=True, slots=True)
class Outcome:
    analysis: Analysis  # the whole capture's (unfiltered)
    #: Every connection's ``pcapline/1`` entry laid out (``jsondoc.write(connections=)``), by
    #: id, when asked for (``json_entries``); else None.
    json_entries: list[str] | None = None


def run(
    source: Source,
    *,
    slow: SlowThresholds | None = None,
    jobs: int = 1,
    scheduler: str | None = None,
    partitions: int | None = None,
    keep_facts: bool = True,
    progress: Progress | None = None,
) -> Analysis:
    """The whole capture's ``Analysis`` (unfiltered); the arguments are ``analyse``'s."""
    return analyse(
        source,
        slow=slow,
        jobs=jobs,
        scheduler=scheduler,
        partitions=partitions,
        keep_facts=keep_facts,
        progress=progress,
    ).analysis


def analyse(
    source: Source,
    *,
    slow: SlowThresholds | None = None,
    jobs: int = 1,
    scheduler: str | None = None,
    partitions: int | None = None,
    keep_facts: bool = True,
    detections: Kept = Kept.ALL,
    json_entries: bool = False,
    progress: Progress | None = None,
) -> Outcome:
    """The whole capture's ``Analysis`` (unfiltered), and its JSON entries if asked for.

    ``jobs``: worker processes (1: this process); ``scheduler``: a Dask scheduler address
    (overrides ``jobs``); ``partitions``: how many parts (default: one in this process, else
    ``PARTITIONS_PER_JOB`` per worker; a number forces the partitioned path even for a small
    capture, as tests do); ``keep_facts``: keep the per-segment facts (renderers that draw
    graphs or timelines need them; JSON, CSV and Parquet do not); ``detections``: which
    visited connections' detections the analysis holds (``Kept``); ``json_entries``: lay out
    each connection's JSON entry where its partition is analysed (indent 2).
    """
    from pcapline import app as application
    from pcapline import findings, icmp, quality
    from pcapline.analysis import (
        Analysis,
        _connections_table,
        _events_table,
        capture_info,
        one_sided_warning,
    )
    from pcapline.decode import decode
    from pcapline.findings.nat_copies import legs_clocks_apart_ms
    from pcapline.flows import build_flows, with_app_roles
    from pcapline.read import read_capture

    show = progress or Progress(enabled=False)
    show.stage("reading")
    capture = read_capture(source)
    show.stage(f"decoding {capture.frames:,} frames")
    decoded = decode(capture)
    show.stage(f"numbering streams of {len(decoded.segments):,} TCP segments")
    segments, connections = build_flows(decoded.segments)
    info = capture_info(capture, decoded)
    # Whole-capture inputs, found before the split: payload bytes are read before the
    # frames are let go, and an ICMP error's quote is matched against every connection.
    # Where no handshake named the client, the payloads do before the port guess.
    recognised = application.recognise_sides(segments, capture)
    carried = recognised.apps
    segments, connections = with_app_roles(segments, connections, recognised.other_way)
    read = quality.read_quality(capture)
    icmp_errors = icmp.match(decoded.icmp, segments)
    connections = icmp.with_errors(connections, icmp_errors)
    last_frame_ns = int(capture.timed_ns.max()) if len(capture.timed_ns) else 0
    # The raw frame bytes and the pre-flow segments table are done with: letting them go
    # here, before detection, takes about a third off peak memory on large captures.
    del capture, decoded
    tcp_end = int(segments["time_ns"].max()) if len(segments) else 0
    settings = Settings(
        capture_end_ns=max(last_frame_ns, tcp_end),
        slow=slow,
        keep_facts=keep_facts,
        detections=detections,
        json_entries=json_entries,
        dropped=read.dropped > 0,
        truncated=read.truncated,
    )
    count = _partition_count(len(segments), jobs, scheduler, partitions)
    the_plan = plan(segments, connections, count, icmp_errors, carried)
    count = the_plan.count
    runner: Runner
    if scheduler is not None:
        runner = DaskCluster(the_plan, scheduler, tick=show.tick)
    elif count > 1 and jobs > 1:
        runner = LocalPool(the_plan, min(jobs, count))
    else:
        runner = InProcess(the_plan)
    try:
        guess = None
        if count > 1:
            show.stage("measuring the capture's quality flags", total=count)
            guess = runner.flags(range(count), settings.capture_end_ns, show.step)
        settings = replace(settings, capture=guess)
        show.stage(f"analysing {len(connections):,} connections", total=count)
        results = list(runner.run(range(count), settings, show.step))
        wide = CaptureWide()
        for r in results:
            wide = wide | r.quality.own
        if count > 1:
            heard = [r.listeners() for r in results]
            again = _to_rerun(heard, guess, wide)
            if again:
                settings = replace(
                    settings,
                    capture=wide,
                    retried_by_listener=_retried_by_listener(heard),
                    server_ttls=_server_ttls(heard),
                )
                show.stage("analysing again with the whole capture's inputs", total=len(again))
                redone = {r.number: r for r in runner.run(again, settings, show.step)}
                results = [redone.get(r.number, r) for r in results]
    finally:
        runner.close()
    merged = merge(results, the_plan, wide, dropped=settings.dropped, truncated=settings.truncated)
    tcp_cut = info.skipped.get(SkipReason.TRUNCATED_TCP_HEADER.value, 0)
    if warning := one_sided_warning(merged.one_sided, tcp_cut):
        info.warnings.append(warning)
    info.quality = quality.summary(merged.quality)
    info.warnings.extend(quality.warnings(merged.quality))
    info.quality.update(quality.read_summary(read))
    info.warnings.extend(quality.read_warnings(read))
    show.stage("cross-connection findings", total=len(findings.FINDERS))
    connections = merged.connections
    found = findings.find_all(
        segments,
        connections,
        merged.events,
        detections=merged.detections,
        delays=merged.delays,
        handshakes=merged.handshakes,
        after_each=show.step,
        flag_filtered=wide.flag_filtered,
    )
    quality.with_legs_clocks(info.quality, legs_clocks_apart_ms(found))
    show.done()
    analysis = Analysis(
        capture=info,
        segments=segments,
        connections=_connections_table(connections),
        events=_events_table(merged.events),
        findings=list(found),
        facts=merged.facts,
        detections=merged.detections,
        verdicts=merged.verdicts,
        delays=merged.delays,
    )
    return Outcome(analysis, merged.json_entries)


def _to_rerun(
    results: Sequence[Listeners], guess: CaptureWide | None, wide: CaptureWide
) -> list[int]:
    """The partitions whose first run assumed what the whole capture contradicts: all of
    them when the guessed quality flags were wrong or the capture is filtered; else those
    where a connection whose cause reads its listener's SYN+ACK retries
    (``Listeners.weighed``) counted them over the partition only and the whole capture's
    count changes the answer (``listeners.retrying``). Only those: a partition rerun costs
    its whole analysis again, and on a busy listener most partitions see fewer retries than
    the whole capture without any connection that could read them."""
    if guess is not None and (
        guess.lossy != wide.lossy
        or guess.flag_filtered != wide.flag_filtered
        or guess.acks_filtered != wide.acks_filtered
        or guess.one_sided != wide.one_sided
        # A filtered capture's handshakes read their listener's series whatever their fate
        # (``listeners.acking_unseen``: a SYN+ACK whose ACK the filter dropped is left
        # open): no partition's own series decide them.
        or wide.flag_filtered
        or wide.acks_filtered
    ):
        return [r.number for r in results]
    whole = _retried_by_listener(results)
    ttls = path_reset.SynackTtls(_server_ttls(results))
    again = []
    for r in results:
        mine = path_reset.SynackTtls(r.ttls) if r.refusals else ttls
        if any(
            path_reset.judge(ip, port, rst, mine) != path_reset.judge(ip, port, rst, ttls)
            for ip, port, rst in r.refusals
        ):
            # A RST judged against the partition's own server TTLs only: the whole
            # capture's may tell otherwise (causes/path_reset.py).
            again.append(r.number)
            continue
        if not r.weighed.any():
            continue
        own = listeners.retrying(r.connections, r.ids, r.synack_retransmits)
        seen = listeners.retrying(r.connections, r.ids, r.synack_retransmits, whole=whole)
        if np.any((own != seen) & r.weighed):
            again.append(r.number)
    return again


def _retried_by_listener(results: Sequence[Listeners]) -> dict[str, ListenerRetries]:
    """``listeners.by_listener`` of the whole capture, from its partitions'."""
    return listeners.summed(r.retried for r in results)


def _server_ttls(results: Sequence[Listeners]) -> dict[str, dict[int, int]]:
    """``causes.path_reset.server_ttls`` of the whole capture, from its partitions'."""
    return path_reset.summed(r.ttls for r in results)


def _partition_count(
    segments: int, jobs: int, scheduler: str | None, partitions: int | None
) -> int:
    if partitions is not None:
        return max(1, partitions)
    if scheduler is not None:
        return 4 * PARTITIONS_PER_JOB  # the cluster's size is not known here
    if jobs <= 1 or segments < POOL_MIN_SEGMENTS:
        return 1
    return jobs * PARTITIONS_PER_JOB


def default_jobs() -> int:
    """Every core this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# ---------------------------------------------------------------------------------------------
# Progress


#: The fewest seconds between two redraws of the progress line for a byte count.
_REDRAW_S = 0.1


class Progress:
    """One status line on stderr (stage, elapsed time, partitions done or bytes read, ETA),
    rewritten in place; silent unless enabled (the CLI enables it on a terminal without
    ``--quiet``)."""

    def __init__(self, *, enabled: bool, out: TextIO | None = None, size: int | None = None):
        self.enabled = enabled
        self.out = out or sys.stderr
        self.size = size  # bytes of the capture file, when known
        self.started = time.monotonic()
        self.name = ""
        self.total = 0
        self.finished = 0
        self.stage_started = self.started
        self.width = 0
        #: The bytes of the source this stage has read, of how many (0: not counted).
        self.read_bytes = 0
        self.read_total = 0
        #: A compressed or streamed source put on disk first: how ("decompressed", "copied")
        #: and how many bytes so far ("": not now).
        self.unpacking = ""
        self.unpacked_bytes = 0
        self.shown_at = 0.0

    def stage(self, name: str, *, total: int = 0) -> None:
        self.name, self.total, self.finished = name, total, 0
        self.read_bytes = self.read_total = self.unpacked_bytes = 0
        self.unpacking = ""
        self.stage_started = time.monotonic()
        self._show()

    def step(self) -> None:
        self.finished += 1
        self._show()

    def tick(self) -> None:
        """Redraw (the clock moves) while waiting on something that says nothing (a Dask
        cluster)."""
        self._show(every=_REDRAW_S)

    def read(self, done: int, total: int) -> None:
        """``done`` of the source's ``total`` bytes read in this stage (the bounded path's
        reader calls it after every window: the longest stage of a big capture without it
        would sit still for minutes)."""
        if self.unpacking:  # the source is on disk now: the pace of the reading from here
            self.stage_started = time.monotonic()
        self.read_bytes, self.read_total, self.unpacking = done, total, ""
        self._show(every=_REDRAW_S)

    def unpacked(self, verb: str, done: int) -> None:
        """``done`` bytes of a compressed or streamed source ``verb`` ("decompressed",
        "copied") to disk so far, before it is read (its size is known only at the end)."""
        self.unpacking, self.unpacked_bytes = verb, done
        self._show(every=_REDRAW_S)

    def done(self) -> None:
        """Wipe the line (once: a second call, on the way out after an error, writes nothing)."""
        if self.enabled and self.width:
            self.out.write("\r" + " " * self.width + "\r")
            self.out.flush()
            self.width = 0

    def _eta(self, now: float, done: int, total: int) -> str:
        """What is left of this stage at the pace so far."""
        per = (now - self.stage_started) / done
        return f", ETA {per * (total - done):.0f} s"

    def _columns(self) -> int:
        """The width of the terminal the line goes to (asked each time: it may be resized),
        0 when unknown."""
        try:
            return os.get_terminal_size(self.out.fileno()).columns
        except (OSError, ValueError, AttributeError):
            return 0

    def _show(self, every: float = 0.0) -> None:
        """Draw the line; ``every``: not sooner than this many seconds after the last time
        (the counts come thousands of times a second from a decompressor)."""
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.shown_at < every:
            return
        self.shown_at = now
        text = f"pcapline: {self.name}"
        if self.size:
            text = f"pcapline: {self.size / 1e6:,.0f} MB: {self.name}"
        if self.total > 1:
            text += f" {self.finished}/{self.total}"
            if self.finished:
                text += self._eta(now, self.finished, self.total)
        elif self.unpacking:
            text += f": {self.unpacked_bytes / 1e6:,.0f} MB {self.unpacking} to disk so far"
        elif self.read_total:
            places = 1 if self.read_total < 10e6 else 0  # a small capture: not "0 of 0 MB"
            done, total = self.read_bytes / 1e6, self.read_total / 1e6
            text += f": {done:,.{places}f} of {total:,.{places}f} MB read"
            if self.read_bytes:
                text += self._eta(now, self.read_bytes, self.read_total)
        text += f" ({now - self.started:.0f} s)"
        columns = self._columns()
        if columns:
            # Cut to the terminal's width, the last column left free: a line that wraps is
            # not rewritten by "\r" but repeated, one more row of it per update, and the
            # wipe at the end clears only its last row.
            text = text[: max(columns - 1, 0)]
            self.width = min(self.width, max(columns - 1, 0))
        pad = max(self.width - len(text), 0)
        self.width = len(text)
        self.out.write("\r" + text + " " * pad)
        self.out.flush()


__all__ = [
    "POOL_MIN_SEGMENTS",
    "Outcome",
    "PartResult",
    "Partition",
    "PartitionLost",
    "Plan",
    "Progress",
    "Settings",
    "analyse",
    "analyse_partition",
    "canonical_tuples",
    "default_jobs",
    "import_before_fork",
    "merge",
    "plan",
    "run",
]
