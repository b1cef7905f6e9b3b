"""``scan`` analyses a capture too big for memory on the bounded-memory path, in its worker.

``scan`` used to analyse every capture whole in memory (some 500 bytes a packet, the
per-segment facts kept besides): a folder holding a few ring-buffer files of tens of millions
of packets took tens of GB per worker. A capture over ``bounded.BOUNDED_MIN_BYTES`` now takes
``analyze``'s bounded-memory path, one partition at a time in the worker's own process (a
Dask worker is a daemon process and may not start children). The summary must be the same
either way; the peak memory on a 30 M-packet capture is measured by the bench
(``bench/run.py --scan``).
"""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import pytest
from test_engine import SAMPLES

from pcapline import bounded
from pcapline.analysis import analyze
from pcapline.scan.run import summarize_capture

CAPTURES = sorted(SAMPLES.glob("*.pcap*"))


def _summary(path: Path) -> dict[str, Any]:
    summary = summarize_capture(str(path)).to_dict()
    summary.pop("seconds", None)  # wall time: never the same
    return summary


def test_summaries_on_the_bounded_path_are_the_in_memory_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert len(CAPTURES) >= 30
    in_memory = {path.name: _summary(path) for path in CAPTURES}
    taken: list[int] = []
    real = bounded.analyse

    def counted(*args: Any, **kwargs: Any) -> bounded.Bounded:
        result = real(*args, **kwargs)
        taken.append(len(result.numbers))
        return result

    monkeypatch.setattr(bounded, "analyse", counted)
    monkeypatch.setattr(bounded, "BOUNDED_MIN_BYTES", 0)  # every capture is "big"
    monkeypatch.setattr(bounded, "BYTES_PER_PARTITION", 64 << 10)  # and split in several
    on_disk = {path.name: _summary(path) for path in CAPTURES}
    assert len(taken) == len(CAPTURES) and max(taken) >= 4  # the bounded path, partitioned
    assert on_disk == in_memory
    # summaries of substance: every fate, findings, slow tags, degraded captures
    assert len({fate for s in on_disk.values() for fate in s["fates"]}) >= 10
    assert sum(len(s["findings"]) for s in on_disk.values()) >= 3
    assert sum(s["slow_connections"] for s in on_disk.values()) >= 5
    assert any(s["quality"]["flag_filtered"] for s in on_disk.values())
    assert any(s["quality"]["mid_stream_connections"] for s in on_disk.values())


def _in_a_daemon(path: str, send: Any) -> None:
    with bounded.analyse(path, outputs=frozenset(), partitions=3, fork=False) as result:
        send.send([str(f) for f in result.analysis().connections["fate"].tolist()])


def test_the_bounded_path_runs_in_a_daemon_process_when_told_not_to_fork() -> None:
    """A Dask worker is a daemon process: starting a pool there raises."""
    path = str(SAMPLES / "lossy-40-connections-3pct-drop.pcap")
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_in_a_daemon, args=(path, send), daemon=True)
    child.start()
    assert receive.poll(60), "no answer from the daemon process"
    fates = receive.recv()
    child.join(30)
    assert child.exitcode == 0
    assert fates == [str(f) for f in analyze(path).connections["fate"].tolist()]
