"""Run the analysis over many captures: local processes or a Dask cluster, one summary each.

Local runs (inline for one worker or one capture, else a process pool) need only the standard
library; ``--scheduler`` needs the optional ``dask`` extra, imported only on that path.

Each task analyses one capture in full (so cross-connection findings see every connection)
and returns only a small ``CaptureSummary`` (counts and finding dicts, never DataFrames), so
memory stays bounded by one capture per worker. At most ``IN_FLIGHT_PER_WORKER * workers`` tasks are in flight;
results stream back as they complete (``as_completed``) and are sorted by path at the end, so
the output is identical whatever the worker count or executor. One unreadable capture becomes
a summary with ``error`` set; the scan goes on.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import multiprocessing
import multiprocessing.context
import os
import signal
import stat
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pcapline import memguard, tempdirs
from pcapline.engine import PartitionLost, default_jobs
from pcapline.errors import PcaplineError, UsageError, one_line
from pcapline.fmt import utf8_text
from pcapline.model import FAILURE_FATES, Fate, SlowTag, TransferPace, probing
from pcapline.workers import (
    TERMINATING_SIGNALS,
    kill_children,
    served_worker_init,
    signals_deferred,
    stop_pool,
)

if TYPE_CHECKING:
    import pandas as pd

    from pcapline.analysis import Analysis
    from pcapline.engine import Progress as EngineProgress

#: Names a directory walk picks up (explicit file arguments are always scanned).
CAPTURE_SUFFIXES: tuple[str, ...] = (".pcap", ".pcapng", ".cap", ".dmp", ".pcap0", ".ntar")
COMPRESSION_SUFFIXES: tuple[str, ...] = ("", ".gz", ".bz2", ".xz", ".zst", ".zstd")
#: Captures in flight per worker: one running, the rest queued so no worker waits for a round trip.
IN_FLIGHT_PER_WORKER = 2
#: What analysing a capture imports (``analysis`` imports the pipeline lazily), imported once
#: by the fork server: otherwise every worker imported it on its first capture (~70 ms each).
PIPELINE_MODULES: tuple[str, ...] = (
    "pcapline.analysis",
    "pcapline.bounded",
    "pcapline.engine",
    "pcapline.app",
    "pcapline.classify",
    "pcapline.delays",
    "pcapline.detect",
    "pcapline.explain",
    "pcapline.findings",
    "pcapline.flows",
    "pcapline.render.jsondoc",
    "pcapline.scan.run",
)


@dataclass(slots=True)
class CaptureSummary:
    """What a worker sends back for one capture (the ``captures[]`` items of pcapline-scan/1)."""

    path: str
    frames: int = 0
    connections: int = 0
    fates: dict[str, int] = field(default_factory=dict)
    findings: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0  # analysis wall time: for throughput figures, never rendered
    slow_connections: int = 0  # connections with a ``slow`` tag that did not fail
    slow: dict[str, int] = field(default_factory=dict)  # slow tag -> connections (any fate)
    #: Not analysed for a reason outside the capture (its worker died or was lost, no worker
    #: left): the scan is incomplete (``scan`` exits 4). Never rendered; ``error`` says why.
    lost: bool = False
    # What the capture can show (pcapline/1 ``capture``): a capture with frames and no
    # connection must say why (unsupported link, truncated, one-sided, lossy, flag-filtered).
    tcp_frames: int = 0
    link_types: list[str] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    quality: dict[str, Any] | None = None  # capture.quality; None when not analysed
    #: Of ``connections``, the streams that are later copies of others (``nat_copies``).
    nat_copies: int = 0
    #: Bulk transfers by what paced them (``transfer_counts``).
    transfers: dict[str, int] = field(default_factory=dict)
    #: Of ``fates``, a scanner's or half-open health check's connections (``model.probing``):
    #: their fates fail nothing, and ``--fail-on`` does not count them.
    probes: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Rendered into UTF-8 documents: a name that is not UTF-8, and the messages quoting
        # it, as ``\xNN`` (the summary is made once the capture is read; nothing reopens it).
        self.path = utf8_text(self.path)
        self.error = None if self.error is None else utf8_text(self.error)
        self.warnings = [utf8_text(w) for w in self.warnings]

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "frames": self.frames,
            "connections": self.connections,
            "fates": dict(self.fates),
            "findings": list(self.findings),
            "error": self.error,
            "slow_connections": self.slow_connections,
            "slow": dict(self.slow),
            "warnings": list(self.warnings),
            "quality": None if self.quality is None else dict(self.quality),
            "link_types": list(self.link_types),
            "tcp_frames": self.tcp_frames,
            "skipped": dict(self.skipped),
            "nat_copies": self.nat_copies,
            "transfers": dict(self.transfers),
            "probes": dict(self.probes),
        }


def summarize_capture(
    path: str,
    *,
    memory_bounded: bool = False,
    spill_dir: str | None = None,
    memory_budget: int | None = None,
    jobs: int = 1,
    progress: EngineProgress | None = None,
) -> CaptureSummary:
    """Analyse one capture; never raises (the error becomes ``summary.error``, one line).
    ``memory_bounded``: on the bounded-memory path whatever its size (``_analysed``), its
    temporary files in ``spill_dir`` (default: the temporary folder); ``memory_budget``:
    the bytes this analysis may take, None when unknown; ``jobs``: worker processes it may
    start (a scan of one capture, run in the command's process: every core on it; of fewer
    big captures than workers: its share of them);
    ``progress``: its status line."""
    started = time.perf_counter()
    unscannable = _not_a_capture_file(path)
    if unscannable:
        return CaptureSummary(path, error=unscannable)
    _test_hook_kill_worker(path)
    try:
        analysed = _analysed(path, memory_bounded, memory_budget, spill_dir, jobs, progress)
        return _summary(path, analysed, started)
    except MemoryError:
        return CaptureSummary(
            path, error=out_of_memory(path), seconds=time.perf_counter() - started, lost=True
        )
    except PartitionLost as exc:  # one of its own workers died: not analysed, not bad input
        return CaptureSummary(
            path, error=str(exc), seconds=time.perf_counter() - started, lost=True
        )
    except PcaplineError as exc:
        return CaptureSummary(path, error=str(exc), seconds=time.perf_counter() - started)
    except OSError as exc:
        return CaptureSummary(
            path, error=exc.strerror or str(exc), seconds=time.perf_counter() - started
        )
    except Exception as exc:
        message = one_line(exc)
        return CaptureSummary(
            path,
            error=f"internal error: {type(exc).__name__}: {message}",
            seconds=time.perf_counter() - started,
        )


def _summary(path: str, analysis: Analysis, started: float) -> CaptureSummary:
    from pcapline.findings.nat_copies import counted_once, later_copies
    from pcapline.render.jsondoc import plain, skip_order

    info = analysis.capture
    copies = later_copies(analysis.findings)
    # Each connection counted once: a stream captured again after an address translation is
    # in ``connections`` (and ``nat_copies``), not in the fates, tags and transfers.
    once = counted_once(analysis.connections, copies)
    return CaptureSummary(
        path=path,
        frames=int(analysis.capture.frames),
        connections=len(analysis.connections),
        fates=fate_counts(once),
        probes=fate_counts(once[probing(once)]),
        findings=[plain(f.to_dict()) for f in analysis.findings],
        seconds=time.perf_counter() - started,
        **slow_counts(once),
        tcp_frames=int(info.tcp_frames),
        link_types=[str(name) for name in info.link_types],
        skipped={r: int(info.skipped[r]) for r in skip_order(info.skipped)},
        warnings=[str(w) for w in info.warnings],
        quality=plain(info.quality),
        nat_copies=len(copies),
        transfers=transfer_counts(once),
    )


def fate_counts(connections: pd.DataFrame) -> dict[str, int]:
    """Connections per fate, in ``Fate`` order; only fates that occur. Counted in Python: a
    few connections per capture, and pandas' value_counts costs ~0.3 ms of set-up each."""
    counts = Counter(map(str, connections["fate"].tolist()))
    return {fate.value: counts[fate.value] for fate in Fate if counts[fate.value]}


#: Peak memory of a capture analysed in memory, per byte of the capture file: 4.9 measured on
#: the bench capture (1,212 MB for 248 MB), 6.7 on 85,000 short lossy connections (1,656 MB
#: for 247 MB); full-size frames weigh less per byte (the cost is per packet).
IN_MEMORY_PEAK_PER_BYTE = 7


def _too_big_for(path: str, budget: int | None) -> bool:
    """Might ``path`` analysed in memory take more than ``budget`` bytes
    (``IN_MEMORY_PEAK_PER_BYTE``)? Then the bounded-memory path is the safe one: some 10 %
    more CPU (a 248 MB capture: 5.8 CPU s against 5.2), a peak that does not grow with the
    capture (464 MB against 1,213)."""
    from pcapline import bounded

    size = bounded.source_size(path)
    return budget is not None and size is not None and size * IN_MEMORY_PEAK_PER_BYTE > budget


def memory_available() -> int | None:
    """The memory the kernel says new work can take without swapping (``MemAvailable`` of
    ``/proc/meminfo``, bytes); None where it does not say."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _analysed(
    path: str,
    memory_bounded: bool,
    memory_budget: int | None,
    spill_dir: str | None,
    jobs: int = 1,
    progress: EngineProgress | None = None,
) -> Analysis:
    """What a summary reads of ``path``: the capture facts, findings and each connection's
    fate and slow tags. Asked to (``memory_bounded``), or for a capture big enough for
    ``analyze``'s bounded-memory path (``bounded.wanted``) or too big for this worker's
    share of memory (``_too_big_for``), that path, so memory does not grow with the
    capture: a 30 M-packet ring-buffer file in a folder would otherwise need some 15 GB.
    With one job (a worker of a pool or of Dask: its siblings keep the cores busy) one
    partition at a time in this process; with more, on ``jobs`` forked workers, and also
    where that path is the faster one for them (``bounded.faster_with``), as ``analyze``
    chooses. The per-segment facts are never kept (only drawing reads them)."""
    from pcapline import bounded
    from pcapline.analysis import analyze

    if (
        memory_bounded
        or bounded.wanted(path)
        or _too_big_for(path, memory_budget)
        or bounded.faster_with(path, jobs, spill_dir)
    ):
        if spill_dir is not None:  # made where the capture is analysed (a Dask worker's machine)
            os.makedirs(spill_dir, exist_ok=True)
        with bounded.analyse(
            path,
            outputs=frozenset(),
            spill_dir=spill_dir,
            jobs=jobs,
            fork=jobs > 1,
            progress=progress,
        ) as result:
            return result.analysis()
    return analyze(path, keep_facts=False, jobs=jobs, progress=progress)


def slow_counts(connections: pd.DataFrame) -> dict[str, Any]:
    """``slow_connections`` (tagged, not failed: the "slow, not failed" of ``analyze``) and
    ``slow`` (connections per tag, any fate: what ``--fail-on`` matches)."""
    if connections.empty or "slow" not in connections.columns:
        return {"slow_connections": 0, "slow": {}}
    tags = connections["slow"].tolist()
    failures = {f.value for f in FAILURE_FATES}
    failed = [str(fate) in failures for fate in connections["fate"].tolist()]
    per = Counter(str(t) for row in tags for t in row)
    return {
        "slow_connections": sum(
            1 for row, bad in zip(tags, failed, strict=True) if row and not bad
        ),
        "slow": {tag.value: per[tag.value] for tag in SlowTag if per[tag.value]},
    }


def transfer_counts(connections: pd.DataFrame) -> dict[str, int]:
    """The capture's bulk transfers (``delays.transfer_*``) by what paced them, in
    ``TransferPace`` order, ``not_known`` last for those the capture cannot tell; only paces
    that occur."""
    if connections.empty or "transfer_rate_bps" not in connections.columns:
        return {}
    has = ~connections["transfer_rate_bps"].isna().to_numpy()
    per = Counter(str(p) or NOT_KNOWN for p in connections["transfer_paced_by"].to_numpy()[has])
    order = [pace.value for pace in TransferPace] + [NOT_KNOWN]
    return {pace: per[pace] for pace in order if per[pace]}


#: ``transfers`` key of the transfers whose pace the capture cannot tell.
NOT_KNOWN = "not_known"


def _not_a_capture_file(path: str) -> str | None:
    """Why ``path`` cannot be scanned before opening it (a FIFO would block, a folder the walk
    could not read holds captures nobody saw), or None."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None  # the reader says what is wrong with it
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        try:
            with os.scandir(path):
                pass
        except OSError as exc:
            return f"folder not scanned: {exc.strerror or exc}; captures in it were not analysed"
        return "folder not scanned"
    from pcapline.read.open import file_kind

    return f"not a regular file ({file_kind(mode)}): not scanned"


#: Test hook (tests/test_scan_faults.py): a worker process asked to analyse a capture whose file
#: name equals this variable's value kills itself with SIGKILL, as the OOM killer would. Read
#: only inside worker processes (never in the process that runs the scan), so it cannot kill
#: a CLI run; nothing else reads it.
KILL_WORKER_ENV = "PCAPLINE_TEST_KILL_WORKER_FOR"


def _test_hook_kill_worker(path: str) -> None:
    victim = os.environ.get(KILL_WORKER_ENV)
    if victim and os.path.basename(path) == victim and _in_worker_process():
        os.kill(os.getpid(), signal.SIGKILL)


def _in_worker_process() -> bool:
    """True in a pool, forkserver or Dask worker process (they all have a parent process)."""
    return multiprocessing.parent_process() is not None


def size_words(path: str) -> str:
    """``"capture 46.0 MB"`` (or ``"capture size unknown"``) for error rows."""
    try:
        size = os.stat(path).st_size
    except OSError:
        return "capture size unknown"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"capture {size / scale:.1f} {unit}"
    return f"capture {size} bytes"


def out_of_memory(path: str) -> str:
    return f"out of memory while analysing it ({size_words(path)})"


def worker_died(path: str, how: str) -> str:
    """The error row of a capture whose worker process died while analysing it."""
    return (
        f"the worker process analysing it died ({how}): likely out of memory ({size_words(path)})"
    )


def expand_paths(paths: Sequence[str]) -> list[str]:
    """Files, directories (walked recursively for capture names) and globs -> sorted unique files."""
    found: set[str] = set()
    for given in paths:
        matches = sorted(glob.glob(given, recursive=True)) if glob.has_magic(given) else [given]
        if not matches:
            raise UsageError(f"no file matches {given}")
        if not os.path.lexists(matches[0]):
            # A mistyped argument is a usage error (exit 2), like a glob matching nothing;
            # only captures that exist but cannot be read become error rows.
            raise UsageError(f"{given}: no such file or directory")
        for match in matches:
            if os.path.isdir(match):
                found.update(_walk(match))
            else:
                found.add(match)  # an explicit file is scanned whatever its name
    if not found:
        raise UsageError(f"no capture files in {' '.join(paths)}")
    return sorted(found)


@dataclass(frozen=True, slots=True)
class Repeat:
    """A path naming a file listed already under ``same_as`` (a symlink, a hard link, another
    spelling: ``./a.pcap``, ``dir/../dir/a.pcap``)."""

    path: str
    same_as: str


def one_path_per_file(files: Sequence[str]) -> tuple[list[str], list[Repeat]]:
    """``files`` less those naming a file listed before them, and those repeats. A capture
    scanned twice would count its connections, failures and findings twice (a ``latest.pcap``
    symlink beside the file it points to, a folder and a file in it both given). A path
    that cannot be looked at stays: its error row tells why."""
    kept: list[str] = []
    repeats: list[Repeat] = []
    first: dict[tuple[int, int], str] = {}
    for path in files:
        try:
            info = os.stat(path)
        except (OSError, ValueError):
            kept.append(path)
            continue
        same_as = first.setdefault((info.st_dev, info.st_ino), path)
        if same_as == path:
            kept.append(path)
        else:
            repeats.append(Repeat(path, same_as))
    return kept, repeats


def is_capture_name(name: str) -> bool:
    lowered = name.lower()
    return any(lowered.endswith(c + z) for c in CAPTURE_SUFFIXES for z in COMPRESSION_SUFFIXES)


def _walk(directory: str) -> Iterator[str]:
    """Capture names under ``directory``; a folder that cannot be listed is yielded itself, so
    the scan reports it as an error row instead of skipping its captures silently."""
    unreadable: list[str] = []

    def failed(exc: OSError) -> None:
        if exc.filename:
            unreadable.append(os.fspath(exc.filename))

    for root, dirs, files in os.walk(directory, onerror=failed):
        dirs.sort()
        for name in sorted(files):
            if is_capture_name(name):
                yield os.path.join(root, name)
    yield from unreadable


Progress = Callable[[CaptureSummary], None]


def run(
    paths: Sequence[str],
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    on_result: Progress | None = None,
    memory_bounded: bool = False,
    spill_dir: str | None = None,
    progress: EngineProgress | None = None,
) -> list[CaptureSummary]:
    """Summaries of every capture in ``paths`` (already expanded), sorted by path.
    ``memory_bounded``, ``spill_dir``: as ``summarize_capture``'s; ``progress``: the status
    line of a scan of one local capture (the stages of its analysis). Each local capture's
    ``memory_budget`` is its share of the memory available now (the captures analysed at
    once, one per worker); a Dask worker's is its own to enforce (its memory limit)."""
    task = functools.partial(summarize_capture, memory_bounded=memory_bounded, spill_dir=spill_dir)
    if scheduler:
        results = _run_dask(paths, scheduler, on_result, task)
    else:
        count = workers or default_jobs()
        inline = count == 1 or len(paths) == 1
        pool = max(1, min(count, len(paths)))  # one worker per capture at most
        if len(paths) == 1:
            # One capture: analysed here with its status line, on every worker as ``analyze
            # --jobs`` does (one process would leave the other cores idle); not from a
            # threaded caller: forking a threaded process can leave a lock held for ever.
            spread = count if memguard.busy_threads() == 0 else 1
            task = functools.partial(task, jobs=spread, progress=progress)
        elif 1 < len(paths) < count and _big_enough_to_share(paths):
            # Fewer big captures than workers (three ring-buffer files on sixteen cores):
            # each is analysed on its share of them, as ``analyze --jobs`` would, not in
            # one process each while the other cores idle. A pool worker may fork: its only
            # other thread waits for the command's end (poll(2) on a pidfd, else a sleep)
            # and holds no lock.
            task = functools.partial(task, jobs=count // len(paths))
        available = memory_available()
        if available is not None:
            share = available if inline else available // pool
            task = functools.partial(task, memory_budget=share)
        callers = frozenset(p.pid for p in multiprocessing.active_children() if p.pid)
        try:
            results = (
                _run_inline(paths, on_result, task)
                if inline
                else _run_pool(paths, pool, on_result, task)
            )
        except (KeyboardInterrupt, MemoryError):
            # A worker killed mid-capture (Ctrl-C, SIGTERM, out of memory: the pool stops
            # them at once) cannot remove its memory-bounded spill folder, hundreds of MB:
            # every worker this scan started is stopped (a library caller's own processes
            # are not), then those folders go now, not at the next run's sweep.
            kill_children(keep=callers)
            tempdirs.sweep(spill_dir)
            raise
    return sorted(results, key=lambda s: s.path)


def _big_enough_to_share(paths: Sequence[str]) -> bool:
    """Is every capture big enough for ``analyze --jobs`` to analyse it on several workers
    (``bounded.PARALLEL_MIN_BYTES``)? Smaller ones would fork workers (and, bounded, split
    into a partition per worker) for less than it costs."""
    from pcapline import bounded

    return all((bounded.source_size(path) or 0) >= bounded.PARALLEL_MIN_BYTES for path in paths)


def _collector(out: list[CaptureSummary], on_result: Progress | None) -> Progress:
    """A callback that keeps each summary in ``out`` and passes it on to ``on_result``."""

    def deliver(summary: CaptureSummary) -> None:
        out.append(summary)
        if on_result:
            on_result(summary)

    return deliver


#: What a worker runs on each capture: ``summarize_capture`` with the scan's settings (a
#: ``functools.partial`` of it: pickled by reference to the module's function).
Task = Callable[..., CaptureSummary]  # task(path), and keywords of summarize_capture


def _run_inline(
    paths: Sequence[str], on_result: Progress | None, task: Task = summarize_capture
) -> list[CaptureSummary]:
    out: list[CaptureSummary] = []
    deliver = _collector(out, on_result)
    for path in paths:
        deliver(task(path))
    return out


def _run_pool(
    paths: Sequence[str], workers: int, on_result: Progress | None, task: Task = summarize_capture
) -> list[CaptureSummary]:
    """A process pool; a worker that dies (SIGKILL from the OOM killer) breaks the pool, so the
    captures it had in flight are run again one by one, each in a process of its own: the
    one whose process dies again gets an error row, the others their summary, and the scan
    goes on in a new pool."""
    out: list[CaptureSummary] = []
    deliver = _collector(out, on_result)

    # forkserver, not fork: the progress bar runs a thread, and forking a threaded process can
    # leave a lock (stderr's) held forever in the child. The server preloads the pipeline once.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(PIPELINE_MODULES))
    _start_resource_tracker_without_leak_warnings()
    _start_forkserver_deaf_to_ctrl_c()
    todo: Sequence[str] = paths
    while todo:
        suspects, todo = _pool_round(todo, workers, context, deliver, task)
        for path in suspects:
            # In one process: its worker died (likely out of memory), and the process it
            # runs in alone is a daemon, which may not start workers of its own.
            deliver(_run_alone(path, context, functools.partial(task, jobs=1)))
    return out


def _pool_round(
    paths: Sequence[str],
    workers: int,
    context: multiprocessing.context.ForkServerContext,
    deliver: Progress,
    task: Task = summarize_capture,
) -> tuple[list[str], list[str]]:
    """Run ``paths`` in one pool until done or broken: (in flight when it broke, not started)."""
    pending = iter(paths)
    in_flight: dict[Future[CaptureSummary], str] = {}
    unsent: list[str] = []
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=served_worker_init,
        initargs=(os.getpid(),),
    )
    try:
        for path in _take(pending, IN_FLIGHT_PER_WORKER * workers):
            unsent = [path]
            in_flight[_submit(pool, task, path)] = path
        unsent = []
        while in_flight:
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            broken = False
            for future in done:
                try:
                    summary = future.result()
                except BrokenProcessPool:
                    broken = True  # deliver what did finish first
                    continue
                del in_flight[future]
                deliver(summary)
            if broken:
                # Which worker died is not said: every capture still in flight is a suspect.
                return sorted(in_flight.values()), list(pending)
            for nxt in _take(pending, len(done)):
                unsent = [nxt]
                in_flight[_submit(pool, task, nxt)] = nxt
                unsent = []
        return [], []
    except BrokenProcessPool:  # broke while submitting: that capture had not started
        return sorted(in_flight.values()), [*unsent, *pending]
    finally:
        stop_pool(pool)


def _submit(pool: ProcessPoolExecutor, task: Task, path: str) -> Future[CaptureSummary]:
    """``pool.submit``, with Ctrl-C held back until it returns: a submit may start a worker,
    and a worker started but not yet registered in the pool would escape ``stop_pool``."""
    with signals_deferred():
        return pool.submit(task, path)


#: The warnings filter ``_start_resource_tracker_without_leak_warnings`` hands the tracker.
TRACKER_QUIET = "ignore::UserWarning:multiprocessing.resource_tracker"


def _start_resource_tracker_without_leak_warnings() -> None:
    """Start multiprocessing's resource tracker (where a fork-server pool registers the
    semaphores of its queues) with its warnings off. Ctrl-C ends the scan within a second
    (``os._exit`` after the exit handlers); the tracker outlives it, and when a semaphore's
    unlink and its unregistering straddle that exit (about 1 run in 6 of
    tests/test_scan_faults.py) it prints two "leaked semaphore" warnings on the scan's
    stderr after the one line saying it was interrupted. It removes the semaphore all the
    same; only the words are dropped (``-W`` from ``sys.warnoptions``, read when the tracker
    is spawned)."""
    from multiprocessing import resource_tracker

    sys.warnoptions.append(TRACKER_QUIET)
    try:
        # Deaf to SIGHUP too (it ignores SIGINT and SIGTERM itself): a closed terminal's
        # SIGHUP reaches the whole process group, and a tracker it killed was relaunched by
        # the scan's exit, which then printed its warning and tracebacks (KeyError: the new
        # tracker never knew the semaphores unregistered). It ends when the scan does.
        with _deaf(signal.SIGHUP):
            resource_tracker.ensure_running()
    finally:
        sys.warnoptions.remove(TRACKER_QUIET)


@contextlib.contextmanager
def _deaf(*signals: signal.Signals) -> Iterator[None]:
    """``signals`` ignored while a helper process is started in the block (its exec keeps
    an ignored disposition); nothing changed outside the main thread, whose signals the
    caller owns."""
    try:
        previous = {signum: signal.signal(signum, signal.SIG_IGN) for signum in signals}
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _start_forkserver_deaf_to_ctrl_c() -> None:
    """Start the fork server with SIGINT, SIGTERM and SIGHUP ignored (inherited across its
    exec): each reaches the whole process group, and a server still importing the pipeline
    would print a traceback. The scan itself stops the workers (``stop_pool``,
    ``kill_children``); the server ends with the scan (its pipe closes)."""
    from multiprocessing import forkserver

    with _deaf(signal.SIGINT, *TERMINATING_SIGNALS), _socket_sized_tempdir():
        forkserver.ensure_running()


#: An AF_UNIX socket's path holds at most 107 bytes (``sun_path`` is 108 with its NUL).
SOCKET_PATH_MAX = 107
#: What the fork server's socket adds to the temporary folder:
#: ``/pymp-XXXXXXXX/listener-XXXXXXXX`` (multiprocessing.util.get_temp_dir, arbitrary_address).
FORKSERVER_SOCKET_SUFFIX = 32
#: Where its socket goes instead when $TMPDIR is too deep for one.
SHORT_TEMPDIR = "/tmp"


@contextlib.contextmanager
def _socket_sized_tempdir() -> Iterator[None]:
    """The fork server's socket in $TMPDIR when its path fits an AF_UNIX address, else in
    ``SHORT_TEMPDIR`` (multiprocessing makes its folder for sockets once, on first use, in
    ``tempfile.gettempdir()``): a deep $TMPDIR (a CI job's or a container's work folder)
    failed the whole scan with "AF_UNIX path too long". Only that folder moves: the scan's
    work folders stay where $TMPDIR and --spill-dir say."""
    import tempfile

    deep = len(os.fsencode(tempfile.gettempdir())) + FORKSERVER_SOCKET_SUFFIX > SOCKET_PATH_MAX
    previous = tempfile.tempdir
    if deep and os.path.isdir(SHORT_TEMPDIR):
        tempfile.tempdir = SHORT_TEMPDIR
    try:
        yield
    finally:
        tempfile.tempdir = previous


def _run_alone(
    path: str, context: multiprocessing.context.ForkServerContext, task: Task = summarize_capture
) -> CaptureSummary:
    """``task(path)`` in a process of its own; its death becomes an error row."""
    receive, send = context.Pipe(duplex=False)
    process = context.Process(
        target=_alone_child, args=(task, path, send, os.getpid()), daemon=True
    )
    process.start()
    send.close()
    summary: CaptureSummary | None = None
    try:
        while summary is None and (process.is_alive() or receive.poll()):
            if receive.poll(0.2):
                try:
                    summary = receive.recv()
                except EOFError:
                    break
    finally:
        if process.is_alive() and summary is None:
            process.kill()
        process.join()
        receive.close()
    if summary is not None:
        return summary
    code = process.exitcode
    if code is not None and code < 0:
        how = f"killed by {signal.Signals(-code).name}"
        return CaptureSummary(path, error=worker_died(path, how), lost=True)
    # It ended itself: not the OOM killer. The compiled reader does so (exit 2, its own line
    # on stderr) when the capture shrank while it was read.
    return CaptureSummary(
        path,
        error=f"the worker process analysing it exited with status {code} (its reason is on "
        "stderr; 2: the capture file changed while it was read)",
        lost=True,
    )


def _alone_child(task: Task, path: str, send: Any, command: int) -> None:
    served_worker_init(command)
    send.send(task(path))
    send.close()


#: The error row of a capture the scan could not finish because the scheduler went away.
LOST_SCHEDULER = "lost the connection to the Dask scheduler (stopped or unreachable): scan it again"


def _run_dask(
    paths: Sequence[str], address: str, on_result: Progress | None, task: Task = summarize_capture
) -> list[CaptureSummary]:
    from pcapline import engine

    patience = engine.no_worker_timeout()  # a bad value said before connecting
    client = engine.dask_client(address)
    out: list[CaptureSummary] = []
    deliver = _collector(out, on_result)
    quiet = engine.QuietDaskLog()  # lost workers and rescheduled tasks: the rows say it once
    try:
        _dask_loop(client, paths, deliver, patience, task)
    finally:
        # closed while still quiet: closing after a lost scheduler logs errors too
        client.close()
        quiet.restore()
    return out


def _dask_loop(
    client: Any,
    paths: Sequence[str],
    deliver: Progress,
    patience: float,
    task: Task = summarize_capture,
) -> None:
    from pcapline.engine import NoWorker, NoWorkerLeft, SchedulerGone, first_done

    window = IN_FLIGHT_PER_WORKER * max(sum(client.nthreads().values()), 1)
    pending = iter(paths)
    in_flight = {client.submit(task, p, pure=False): p for p in _take(pending, window)}
    no_worker = NoWorker(client, patience)
    while in_flight:
        try:
            done = first_done(in_flight, no_worker)
        except SchedulerGone as exc:
            why = f"{LOST_SCHEDULER} ({exc.detail})" if exc.detail else LOST_SCHEDULER
            _give_up(in_flight, pending, why, deliver)
            return
        except NoWorkerLeft:
            _give_up(
                in_flight,
                pending,
                f"not analysed: the Dask cluster had no worker for {patience:g} s "
                "(workers died or were stopped)",
                deliver,
            )
            return
        for future in done:
            path = in_flight.pop(future)
            deliver(_dask_result(future, path))
            future.release()
            nxt = next(pending, None)
            if nxt is not None:
                in_flight[client.submit(task, nxt, pure=False)] = nxt


def _dask_result(future: Any, path: str) -> CaptureSummary:
    from distributed import KilledWorker

    try:
        summary: CaptureSummary = future.result()
    except KilledWorker:
        how = "KilledWorker: every Dask worker that tried it died"
        return CaptureSummary(path, error=worker_died(path, how), lost=True)
    except Exception as exc:  # the task never ran to completion: say why, scan the rest
        return CaptureSummary(
            path, error=f"Dask task failed: {type(exc).__name__}: {one_line(exc)}", lost=True
        )
    return summary


def _give_up(
    in_flight: dict[Any, str], pending: Iterator[str], why: str, deliver: Progress
) -> None:
    for future, path in in_flight.items():
        with contextlib.suppress(Exception):
            future.cancel()
        deliver(CaptureSummary(path, error=why, lost=True))
    in_flight.clear()
    for path in pending:
        deliver(CaptureSummary(path, error=why, lost=True))


def _take(items: Iterator[str], n: int) -> list[str]:
    out = []
    for item in items:
        out.append(item)
        if len(out) >= n:
            break
    return out
