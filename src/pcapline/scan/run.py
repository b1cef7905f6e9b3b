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

import glob
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from pcapline.errors import PcaplineError, UsageError
from pcapline.model import Fate

#: Names a directory walk picks up (explicit file arguments are always scanned).
CAPTURE_SUFFIXES: tuple[str, ...] = (".pcap", ".pcapng", ".cap", ".dmp", ".pcap0", ".ntar")
COMPRESSION_SUFFIXES: tuple[str, ...] = ("", ".gz", ".bz2", ".xz", ".zst", ".zstd")
#: Captures in flight per worker: one running, the rest queued so no worker waits for a round trip.
IN_FLIGHT_PER_WORKER = 2


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
    # What the capture can show (pcapline/1 ``capture``): a capture with frames and no
    # connection must say why (unsupported link, truncated, one-sided, lossy, flag-filtered).
    tcp_frames: int = 0
    link_types: list[str] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    quality: dict[str, Any] | None = None  # capture.quality; None when not analysed

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "frames": self.frames,
            "connections": self.connections,
            "fates": dict(self.fates),
            "findings": list(self.findings),
            "error": self.error,
            "warnings": list(self.warnings),
            "quality": None if self.quality is None else dict(self.quality),
            "link_types": list(self.link_types),
            "tcp_frames": self.tcp_frames,
            "skipped": dict(self.skipped),
        }


def summarize_capture(path: str) -> CaptureSummary:
    """Analyse one capture; never raises (the error becomes ``summary.error``, one line)."""
    from pcapline.analysis import analyze
    from pcapline.render.jsondoc import plain, skip_order

    started = time.perf_counter()
    try:
        analysis = analyze(path)
    except PcaplineError as exc:
        return CaptureSummary(path, error=str(exc), seconds=time.perf_counter() - started)
    except OSError as exc:
        return CaptureSummary(
            path, error=exc.strerror or str(exc), seconds=time.perf_counter() - started
        )
    except Exception as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        return CaptureSummary(
            path,
            error=f"internal error: {type(exc).__name__}: {message}",
            seconds=time.perf_counter() - started,
        )
    info = analysis.capture
    counts = analysis.connections["fate"].astype(str).value_counts()
    fates = {fate.value: int(counts[fate.value]) for fate in Fate if counts.get(fate.value, 0)}
    return CaptureSummary(
        path=path,
        frames=int(analysis.capture.frames),
        connections=len(analysis.connections),
        fates=fates,
        findings=[plain(f.to_dict()) for f in analysis.findings],
        seconds=time.perf_counter() - started,
        tcp_frames=int(info.tcp_frames),
        link_types=[str(name) for name in info.link_types],
        skipped={r: int(info.skipped[r]) for r in skip_order(info.skipped)},
        warnings=[str(w) for w in info.warnings],
        quality=plain(info.quality),
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


def is_capture_name(name: str) -> bool:
    lowered = name.lower()
    return any(lowered.endswith(c + z) for c in CAPTURE_SUFFIXES for z in COMPRESSION_SUFFIXES)


def _walk(directory: str) -> Iterator[str]:
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        for name in sorted(files):
            if is_capture_name(name):
                yield os.path.join(root, name)


Progress = Callable[[CaptureSummary], None]


def run(
    paths: Sequence[str],
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    on_result: Progress | None = None,
) -> list[CaptureSummary]:
    """Summaries of every capture in ``paths`` (already expanded), sorted by path."""
    if scheduler:
        results = _run_dask(paths, scheduler, on_result)
    else:
        count = workers or os.cpu_count() or 1
        results = (
            _run_inline(paths, on_result)
            if count == 1 or len(paths) == 1
            else _run_pool(paths, count, on_result)
        )
    return sorted(results, key=lambda s: s.path)


def _run_inline(paths: Sequence[str], on_result: Progress | None) -> list[CaptureSummary]:
    out = []
    for path in paths:
        summary = summarize_capture(path)
        out.append(summary)
        if on_result:
            on_result(summary)
    return out


def _run_pool(
    paths: Sequence[str], workers: int, on_result: Progress | None
) -> list[CaptureSummary]:
    out: list[CaptureSummary] = []
    pending = iter(paths)
    # forkserver, not fork: the progress bar runs a thread, and forking a threaded process can
    # leave a lock (stderr's) held forever in the child. The server preloads the pipeline once.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["pcapline.analysis", "pcapline.scan.run"])
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        in_flight: set[Future[CaptureSummary]] = set()
        for path in pending:
            in_flight.add(pool.submit(summarize_capture, path))
            if len(in_flight) >= IN_FLIGHT_PER_WORKER * workers:
                break
        while in_flight:
            done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                summary = future.result()
                out.append(summary)
                if on_result:
                    on_result(summary)
                nxt = next(pending, None)
                if nxt is not None:
                    in_flight.add(pool.submit(summarize_capture, nxt))
    return out


def _run_dask(
    paths: Sequence[str], address: str, on_result: Progress | None
) -> list[CaptureSummary]:
    try:
        from distributed import Client, as_completed
    except ImportError as exc:  # an optional extra: local scans (the default) never need it
        raise UsageError(
            "--scheduler needs Dask's distributed package: pip install 'pcapline[dask]'"
        ) from exc
    try:
        client = Client(address, timeout="5s")  # type: ignore[no-untyped-call]
    except (OSError, TimeoutError, ValueError) as exc:
        raise UsageError(
            f"cannot reach Dask scheduler {address}: {' '.join(str(exc).split())}"
        ) from exc
    out: list[CaptureSummary] = []
    try:
        window = IN_FLIGHT_PER_WORKER * max(sum(client.nthreads().values()), 1)  # type: ignore[no-untyped-call]
        pending = iter(paths)
        first = [client.submit(summarize_capture, p, pure=False) for p in _take(pending, window)]
        stream = as_completed(first)  # type: ignore[no-untyped-call]
        for future in stream:
            summary = future.result()
            future.release()
            out.append(summary)
            if on_result:
                on_result(summary)
            nxt = next(pending, None)
            if nxt is not None:
                stream.add(client.submit(summarize_capture, nxt, pure=False))  # type: ignore[no-untyped-call]
    finally:
        client.close()  # type: ignore[no-untyped-call]
    return out


def _take(items: Iterator[str], n: int) -> list[str]:
    out = []
    for item in items:
        out.append(item)
        if len(out) >= n:
            break
    return out
