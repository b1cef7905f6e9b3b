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

import importlib
import json
import multiprocessing
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from builders.terminal import foreground_job
from test_engine import SAMPLES

from pcapline import bounded, tempdirs
from pcapline.analysis import analyze
from pcapline.scan.run import summarize_capture

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = sorted(SAMPLES.glob("*.pcap*"))


def _summary(path: Path) -> dict[str, Any]:
    summary = summarize_capture(str(path)).to_dict()
    summary.pop("seconds", None)  # wall time: never the same
    return summary


def _without_tcp(folder: Path) -> list[Path]:
    """A capture with no frame at all and one with a UDP datagram only (crafted: only the
    empty-table paths are under test)."""
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)  # Ethernet
    udp = (
        b"\x02" * 6
        + b"\x04" * 6
        + b"\x08\x00"  # Ethernet, IPv4
        + bytes.fromhex("4500001c0001000040110000c0000201c0000202")  # 192.0.2.1 > .2, UDP
        + struct.pack("!HHHH", 5353, 53, 8, 0)
    )
    empty, datagram = folder / "no-frames.pcap", folder / "udp-only.pcap"
    empty.write_bytes(header)
    datagram.write_bytes(header + struct.pack("<IIII", 1, 0, len(udp), len(udp)) + udp)
    return [empty, datagram]


def test_summaries_on_the_bounded_path_are_the_in_memory_ones(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert len(CAPTURES) >= 30
    captures = [*CAPTURES, *_without_tcp(tmp_path)]
    in_memory = {path.name: _summary(path) for path in captures}
    assert in_memory["udp-only.pcap"]["frames"] == 1 and not in_memory["udp-only.pcap"]["error"]
    taken: list[int] = []
    real = bounded.analyse

    def counted(*args: Any, **kwargs: Any) -> bounded.Bounded:
        result = real(*args, **kwargs)
        taken.append(len(result.numbers))
        return result

    monkeypatch.setattr(bounded, "analyse", counted)
    monkeypatch.setattr(bounded, "BOUNDED_MIN_BYTES", 0)  # every capture is "big"
    monkeypatch.setattr(bounded, "BYTES_PER_PARTITION", 64 << 10)  # and split in several
    on_disk = {path.name: _summary(path) for path in captures}
    assert len(taken) == len(captures) and max(taken) >= 4  # the bounded path, partitioned
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


def _scan_json(*args: str, env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "pcapline", "scan", *args, "--format", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    for capture in document["captures"]:
        capture.pop("seconds", None)
    return document


def test_scan_memory_bounded_gives_the_same_document(tmp_path: Path) -> None:
    folder = tmp_path / "caps"
    folder.mkdir()
    for path in CAPTURES[::3]:
        shutil.copy(path, folder / path.name)
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "TMPDIR": str(temporary)}
    in_memory = _scan_json(str(folder), "--workers", "2", env=env)
    assert _scan_json(str(folder), "--workers", "2", "--memory-bounded", env=env) == in_memory
    assert len(in_memory["captures"]) >= 10
    assert list(temporary.iterdir()) == []  # every work folder removed


def test_a_deep_tmpdir_still_scans(tmp_path: Path) -> None:
    """A $TMPDIR too deep for the fork server's AF_UNIX socket (its path: the folder plus
    /pymp-XXXXXXXX/listener-XXXXXXXX, 107 bytes at most) failed the whole scan with "AF_UNIX
    path too long": its socket goes to /tmp then, and nothing of the scan's stays behind."""
    folder = tmp_path / "caps"
    folder.mkdir()
    for name in ("closed-client-first.pcap", "refused-no-listener.pcap"):
        shutil.copy(SAMPLES / name, folder / name)
    deep = tmp_path / ("d" * (110 - len(str(tmp_path))))
    deep.mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "TMPDIR": str(deep)}
    document = _scan_json(str(folder), "--workers", "2", env=env)
    assert [c["error"] for c in document["captures"]] == [None, None]
    assert list(deep.iterdir()) == []


def test_ctrl_c_on_a_memory_bounded_scan_leaves_no_work_folder(tmp_path: Path) -> None:
    """The workers busy at Ctrl-C are killed, with no chance to remove their work folders
    (in ``--spill-dir``, which implies ``--memory-bounded``): the scan removes them before it
    exits."""
    sys.path.insert(0, str(ROOT / "bench"))
    import make_giant

    folder, temporary, spill = tmp_path / "slow", tmp_path / "tmp", tmp_path / "spill"
    folder.mkdir()
    spill.mkdir()  # there already: no note that it was made
    temporary.mkdir()  # TMPDIR: nothing goes there
    for n in range(3):
        make_giant.keepalive(folder / f"long-{n}.pcap", 200_000)  # ~10 s of analysis each
    argv = ["scan", str(folder), "--workers", "2", "--spill-dir", str(spill)]
    process = subprocess.Popen(
        [sys.executable, "-m", "pcapline", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "TMPDIR": str(temporary)},
        preexec_fn=foreground_job,  # its own process group, as a terminal's foreground job
    )
    marked = f"pcapline-*/{tempdirs.OWNER_FILE}"  # a folder is made, then its marker
    deadline = time.monotonic() + 60
    while len(list(spill.glob(marked))) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)  # waiting for the condition: both workers inside a capture
    assert len(list(spill.glob(marked))) == 2
    time.sleep(0.5)  # splitting and analysing
    assert process.poll() is None
    os.killpg(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert (process.returncode, err.strip()) == (130, "pcapline: error: interrupted")
    assert list(spill.iterdir()) == [] and list(temporary.iterdir()) == []


@pytest.mark.slow
def test_a_memory_bounded_scan_on_dask_workers_is_the_local_one() -> None:
    """``--memory-bounded`` reaches Dask's workers (daemon processes: the bounded path runs
    there in the worker's own process) and their summaries are the local ones."""
    distributed = pytest.importorskip("distributed")
    from pcapline.scan import render, scan

    paths = [str(path) for path in CAPTURES[::4]]
    local = scan(paths, workers=2)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=50
    ) as cluster:
        remote = scan(paths, scheduler=cluster.scheduler_address, memory_bounded=True)
    assert not [c.error for c in remote if c.error]
    assert render(remote, "json") == render(local, "json")


def test_a_capture_too_big_for_its_workers_share_of_memory_takes_the_bounded_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Several workers each analyse a capture at once: one whose in-memory analysis might
    not fit its share of the memory available goes a partition at a time instead."""
    scan_run = importlib.import_module("pcapline.scan.run")  # the package exports run()
    paths = [str(path) for path in CAPTURES[::5]]
    roomy = {s.path: s.to_dict() for s in scan_run.run(paths, workers=1)}
    taken: list[str] = []
    real = bounded.analyse

    def spied(source: str, **kwargs: Any) -> bounded.Bounded:
        taken.append(source)
        return real(source, **kwargs)

    monkeypatch.setattr(bounded, "analyse", spied)
    monkeypatch.setattr(scan_run, "memory_available", lambda: 1)  # nothing fits
    tight = {s.path: s.to_dict() for s in scan_run.run(paths, workers=1)}
    assert sorted(taken) == sorted(paths)
    for summary in (*roomy.values(), *tight.values()):
        summary.pop("seconds", None)  # wall time (not in every rendering of a summary)
    assert tight == roomy
    # each of N local workers gets 1/N of what is available
    handed: list[Any] = []
    monkeypatch.setattr(scan_run, "memory_available", lambda: 8_000_000_000)
    monkeypatch.setattr(
        scan_run, "_run_pool", lambda paths, count, on_result, task: handed.append(task) or []
    )
    scan_run.run(paths, workers=4)
    assert handed[0].keywords["memory_budget"] == 2_000_000_000


@pytest.mark.parametrize("threaded", [False, True])
def test_a_scan_of_one_capture_analyses_it_on_every_worker(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, threaded: bool
) -> None:
    """One capture has nothing to share the workers with: ``analyze --jobs``'s forked
    partitions, not one process with the other cores idle. Same summary as one worker. Not
    from a threaded caller (a library's): forking a threaded process can leave a lock held."""
    from pcapline import memguard
    from pcapline.scan.run import run

    # The test runner may run threads of its own (the tshark sweep): as many as asked here.
    monkeypatch.setattr(memguard, "busy_threads", lambda: int(threaded))

    path = str(SAMPLES / "lossy-40-connections-3pct-drop.pcap")
    alone = run([path], workers=1)[0].to_dict()
    pids = tmp_path / "pids"
    pids.mkdir()
    taken: list[dict[str, Any]] = []
    real_analyse, real_task = bounded.analyse, bounded.analyse_numbered

    def recorded(*args: Any, **kwargs: Any) -> bounded.Bounded:
        taken.append(kwargs)
        return real_analyse(*args, **kwargs)

    def in_a_worker(*args: Any) -> Any:
        (pids / str(os.getpid())).touch()  # a forked worker inherits this module's patch
        return real_task(*args)

    monkeypatch.setattr(bounded, "analyse", recorded)
    monkeypatch.setattr(bounded, "analyse_numbered", in_a_worker)
    monkeypatch.setattr(bounded, "BYTES_PER_PARTITION", 64 << 10)
    shared = run([path], workers=2, memory_bounded=True)[0].to_dict()
    workers = {int(p.name) for p in pids.iterdir()}
    if threaded:
        assert [(k["jobs"], k["fork"]) for k in taken] == [(1, False)]
        assert workers == {os.getpid()}
    else:
        assert [(k["jobs"], k["fork"]) for k in taken] == [(2, True)]
        assert len(workers) >= 1 and os.getpid() not in workers
    assert shared == alone and alone["connections"] == 40


def test_fewer_captures_than_workers_share_the_workers_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two big captures and four workers: each analysed on two (its bounded path's
    partitions forked from its pool worker), not one process each while two workers' cores
    idle; the same summaries as one worker. As many captures as workers, or small ones
    (forking would cost more than it gains): one worker each, as before."""
    scan_run = importlib.import_module("pcapline.scan.run")  # the package exports run()
    two = [
        str(SAMPLES / "lossy-40-connections-3pct-drop.pcap"),
        str(SAMPLES / "nat-masquerade-3-hosts.pcap"),
    ]
    alone = [s.to_dict() for s in scan_run.run(two, workers=1, memory_bounded=True)]
    monkeypatch.setattr(bounded, "PARALLEL_MIN_BYTES", 0)  # these are big enough here
    shared = [s.to_dict() for s in scan_run.run(two, workers=4, memory_bounded=True)]
    for summary in (*alone, *shared):
        assert summary.pop("error", None) is None
        summary.pop("seconds", None)  # wall time
    assert shared == alone and alone[0]["connections"] == 40
    assert scan_run.run([], workers=4) == []

    planned: list[tuple[int, dict[str, Any]]] = []

    def plan(paths: Any, count: int, on_result: Any, task: Any) -> list[Any]:
        planned.append((count, task.keywords))
        return []

    monkeypatch.setattr(scan_run, "memory_available", lambda: 12_000_000_000)
    monkeypatch.setattr(scan_run, "_run_pool", plan)
    scan_run.run(two, workers=4)  # a pool of two, each capture on two workers
    scan_run.run([*two, two[0]], workers=4)  # three: a worker each (4 // 3)
    scan_run.run([*two, *two], workers=4)  # as many as workers: one each
    monkeypatch.setattr(bounded, "PARALLEL_MIN_BYTES", 128 << 20)
    scan_run.run(two, workers=4)  # small captures: one worker each
    assert [(n, k.get("jobs"), k["memory_budget"]) for n, k in planned] == [
        (2, 2, 6_000_000_000),
        (3, 1, 4_000_000_000),
        (4, None, 3_000_000_000),
        (2, None, 6_000_000_000),
    ]


def test_a_scan_of_one_capture_on_a_terminal_shows_its_analysis_stages(tmp_path: Path) -> None:
    """Not a bar at 0 of 1: the stages of the one analysis (``analyze``'s line), wiped."""
    from test_engine import _lines, _stderr_on_a_terminal

    capture = str(SAMPLES / "lossy-40-connections-3pct-drop.pcap")
    argv = ["scan", capture, "--workers", "2", "--memory-bounded", "-o", str(tmp_path / "s")]
    code, shown = _stderr_on_a_terminal(argv)
    assert code == 0 and (tmp_path / "s").stat().st_size > 0
    stages = [line.split(": ", 2)[-1] for line in _lines(shown)]
    assert any(s.startswith("reading and splitting in ") for s in stages), stages
    assert any(s.startswith("analysing 40 connections") for s in stages), stages
    assert "scanning" not in shown
    assert shown.endswith("\r")


def test_a_scan_of_one_capture_whose_worker_dies_marks_it_not_analysed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The one capture's own partition worker killed (the OOM killer): a capture not
    analysed (``lost``: exit 4), not an unreadable one (exit 2)."""
    from pcapline import memguard
    from pcapline.scan.run import run

    monkeypatch.setattr(memguard, "busy_threads", lambda: 0)
    real = bounded.analyse_numbered

    def killed(job: bounded.Job, number: int, *args: Any) -> Any:
        if number == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(job, number, *args)

    monkeypatch.setattr(bounded, "analyse_numbered", killed)
    monkeypatch.setattr(bounded, "BYTES_PER_PARTITION", 64 << 10)
    path = str(SAMPLES / "lossy-40-connections-3pct-drop.pcap")
    summary = run([path], workers=2, memory_bounded=True)[0]
    assert summary.lost
    assert summary.error is not None
    assert summary.error.startswith("a worker process died analysing partition 2 of ")


def test_an_error_in_a_callers_callback_kills_none_of_its_processes(tmp_path: Path) -> None:
    """An interrupted scan kills the workers it started; a library caller's own processes
    are not its to kill, nor is an ordinary exception an interruption."""
    import multiprocessing

    from pcapline.scan.run import run

    own = multiprocessing.get_context("fork").Process(target=time.sleep, args=(30,))
    own.start()
    try:

        def fails(_summary: Any) -> None:
            raise ValueError("the caller's own error")

        paths = [str(SAMPLES / n) for n in ("closed-client-first.pcap", "refused-no-listener.pcap")]
        with pytest.raises(ValueError, match="own error"):
            run(paths, workers=2, on_result=fails)
        assert own.is_alive()
    finally:
        own.kill()
        own.join()


def test_partitions_given_are_kept_for_a_compressed_capture(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A compressed source's partitions are counted again from its size on disk (here, at
    1 KB a partition, many), unless the caller fixed them."""
    made: list[int] = []
    real = bounded.split

    def split(*args: Any, **kwargs: Any) -> Any:
        parts = real(*args, **kwargs)
        made.append(parts.count)
        return parts

    monkeypatch.setattr(bounded, "split", split)
    monkeypatch.setattr(bounded, "BYTES_PER_PARTITION", 1024)
    path = str(SAMPLES / "compressed-gz.pcap.gz")
    with bounded.analyse(path, partitions=2):
        pass
    with bounded.analyse(path):
        pass
    assert made[0] == 2 and made[1] > 2, made
