"""``pcapline scan`` when things go wrong: dead workers, lost Dask workers, Ctrl-C, odd files.

Real processes throughout: the CLI runs as a subprocess, pool workers are killed with SIGKILL
(as the OOM killer does) through the test hook ``PCAPLINE_TEST_KILL_WORKER_FOR`` (read only
in worker processes: ``pcapline.scan.run.KILL_WORKER_ENV``), Dask runs as a ``LocalCluster``
of separate worker processes, Ctrl-C is a SIGINT to the scan's whole process group.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from builders.terminal import foreground_job

from pcapline.scan import scan
from pcapline.scan.run import KILL_WORKER_ENV

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_captures"
NAMES = (
    "closed-client-first.pcap",
    "closed-server-first.pcap",
    "refused-no-listener.pcap",
    "keepalive-healthy-idle2-answered.pcap",
    "reset-client-linger0.pcap",
)


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "caps"
    folder.mkdir()
    for name in NAMES:
        shutil.copy(SAMPLES / name, folder / name)
    return folder


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT / "src"), **extra}


def _scan(
    *args: str, env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pcapline", "scan", *args, "--format", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def _rows(stdout: str) -> dict[str, dict[str, object]]:
    return {Path(c["path"]).name: c for c in json.loads(stdout)["captures"]}


def test_a_killed_pool_worker_costs_only_its_capture(tmp_path: Path) -> None:
    # Before: exit 3 "BrokenProcessPool" and no output at all.
    folder = _folder(tmp_path)
    victim = "closed-server-first.pcap"
    result = _scan(str(folder), "--workers", "2", env=_env(**{KILL_WORKER_ENV: victim}))
    assert result.returncode == 4, result.stderr
    assert "Traceback" not in result.stderr
    rows = _rows(result.stdout)
    assert sorted(rows) == sorted(NAMES)
    size = (SAMPLES / victim).stat().st_size
    assert rows[victim]["error"] == (
        "the worker process analysing it died (killed by SIGKILL): likely out of memory "
        f"(capture {size / 1e3:.1f} kB)"
    )
    assert all(
        rows[n]["error"] is None and rows[n]["connections"] == 1 for n in NAMES if n != victim
    )
    assert result.stderr == (
        f"pcapline: error: 1 of {len(NAMES)} capture(s) not analysed: {rows[victim]['error']} "
        f"({folder / victim})\n"
    )
    same = _scan(str(folder), "--workers", "2", env=_env())
    assert same.returncode == 0
    assert {n: r for n, r in _rows(same.stdout).items() if n != victim} == {
        n: r for n, r in rows.items() if n != victim
    }


def test_a_scan_in_a_long_lived_process_leaves_no_descriptor_open() -> None:
    """``scan`` called again and again (a service, the test suite) must not leave the pools'
    pipes behind: six per call once made a process run out of select(2)'s 1,024."""
    import importlib

    scan_run = importlib.import_module("pcapline.scan.run")
    paths = [str(SAMPLES / name) for name in NAMES[:3]]

    def open_descriptors() -> int:
        return len(os.listdir("/proc/self/fd"))

    scan_run.run(paths, workers=2)  # the fork server and resource tracker stay: started once
    before = open_descriptors()
    for _ in range(3):
        assert not [s.error for s in scan_run.run(paths, workers=2) if s.error]
    assert open_descriptors() == before


def test_big_captures_sharing_the_workers_survive_a_killed_worker(tmp_path: Path) -> None:
    """Fewer big captures than workers: each is analysed on its share of them, all in
    flight at once, so one killed worker sends both back to be run alone. There each runs
    in one process (a daemon, which may not start workers): the victim gets its row, the
    other its summary, not an "internal error: AssertionError: daemonic processes..."."""
    folder = tmp_path / "two"
    folder.mkdir()
    names = ("closed-server-first.pcap", "lossy-40-connections-3pct-drop.pcap")
    for name in names:
        shutil.copy(SAMPLES / name, folder / name)
    victim = names[0]
    # These captures are "big" here: shared out on two workers each, on the bounded path.
    program = (
        "import sys; from pcapline import bounded, cli; bounded.PARALLEL_MIN_BYTES = 0; "
        "cli.main(sys.argv[1:])"
    )
    argv = ["scan", str(folder), "--workers", "4", "--memory-bounded", "--format", "json"]
    result = subprocess.run(
        [sys.executable, "-c", program, *argv],
        capture_output=True,
        text=True,
        env=_env(**{KILL_WORKER_ENV: victim}),
        timeout=300,
    )
    assert result.returncode == 4, result.stderr
    rows = _rows(result.stdout)
    assert str(rows[victim]["error"]).startswith("the worker process analysing it died")
    assert rows[names[1]]["error"] is None and rows[names[1]]["connections"] == 40


@pytest.fixture(scope="module")
def slow_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four captures of about 10 s of analysis each."""
    sys.path.insert(0, str(ROOT / "bench"))
    import make_giant

    folder = tmp_path_factory.mktemp("slow")
    for n in range(4):
        make_giant.keepalive(folder / f"long-{n}.pcap", 200_000)
    return folder


@pytest.mark.xdist_group("scan-slow-folder")  # slow_folder made once, in one worker
def test_ctrl_c_stops_at_once_without_traceback(slow_folder: Path) -> None:
    # Before: a 24-line worker traceback, and up to 98 s waiting for captures in flight.
    process = subprocess.Popen(
        [sys.executable, "-m", "pcapline", "scan", str(slow_folder), "--workers", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        preexec_fn=foreground_job,  # its own process group, as a terminal's foreground job
    )
    assert _workers_started(process.pid, within=30)
    time.sleep(1)  # the workers are reading their captures
    assert process.poll() is None
    sent = time.monotonic()
    os.killpg(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=60)
    stopped = time.monotonic() - sent
    assert process.returncode == 130
    assert err.strip() == "pcapline: error: interrupted"
    assert stopped < 5, stopped  # about 1 s on a quiet box; the CI box is shared
    assert _group_gone(process.pid, within=15)  # no worker outlived the scan (zombies reaped)


@pytest.mark.xdist_group("scan-slow-folder")  # slow_folder made once, in one worker
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_stopped_memory_bounded_scan_removes_its_workers_spill_folders(
    slow_folder: Path, tmp_path: Path, signum: signal.Signals
) -> None:
    """Ctrl-C, SIGTERM or SIGHUP to the group of ``scan --memory-bounded``: its workers die
    mid-capture and cannot remove their spill folders (~150 MB for a large capture); they
    stayed until the next run's sweep (8 runs of 8). SIGHUP also killed the resource tracker,
    whose relaunch printed a warning and tracebacks after the one line."""
    spill = tmp_path / "spill"
    spill.mkdir()
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "pcapline", "scan", str(slow_folder), "--workers", "2"),
            *("--memory-bounded", "--spill-dir", str(spill)),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        preexec_fn=foreground_job,
    )
    # Workers start on a fork server that imports pcapline first: seconds on a quiet box,
    # over 30 s once on a shared one with a load of 9 on 2 cores (it failed there).
    deadline = time.monotonic() + 120
    while (
        not list(spill.glob("pcapline-*"))
        and process.poll() is None
        and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    assert process.poll() is None, process.communicate()  # the scan must still be running
    assert list(spill.glob("pcapline-*")), "no worker made its spill folder"
    time.sleep(0.5)
    os.killpg(process.pid, signum)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signum
    words = "interrupted" if signum == signal.SIGINT else f"terminated ({signum.name})"
    assert err.strip() == f"pcapline: error: {words}"
    assert list(spill.iterdir()) == []
    assert _group_gone(process.pid, within=15)


@pytest.mark.xdist_group("scan-slow-folder")  # slow_folder made once, in one worker
def test_a_scan_killed_outright_leaves_no_process_behind(slow_folder: Path, tmp_path: Path) -> None:
    """kill -9 of the scan alone (the OOM killer, a CI job's timeout). Its workers are the
    fork server's children, and the server lives while they do: they waited forever for a
    scan that was gone, a GB each. They watch the scan's process now. (The fork server's
    socket folder, multiprocessing's ``pymp-*``, stays in TMPDIR: nothing removes it.)"""
    process = subprocess.Popen(
        [sys.executable, "-m", "pcapline", "scan", str(slow_folder), "--workers", "2", "-q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=_env(TMPDIR=str(tmp_path)),
        preexec_fn=foreground_job,  # its own process group: what it leaves is found by it
    )
    assert _workers_started(process.pid, within=30)
    time.sleep(1)  # the workers are reading their captures
    process.kill()  # the scan alone
    process.wait(timeout=30)
    assert _group_gone(process.pid, within=15)  # workers, fork server, resource tracker


def _workers_started(pgid: int, within: float) -> bool:
    """True once the scan's process group holds a worker beside the scan itself."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        members = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            members += int(fields[2]) == pgid  # field 5 of /proc/PID/stat: the process group
        if members >= 2:
            return True
        time.sleep(0.1)
    return False


def _group_gone(pgid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    return False


def test_fifo_and_unreadable_folder_are_error_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: the FIFO hung the scan; the unreadable folder was skipped without a word.
    folder = _folder(tmp_path)
    os.mkfifo(folder / "stuck.pcap")
    locked = folder / "locked"
    locked.mkdir()
    shutil.copy(SAMPLES / NAMES[0], locked / "hidden.pcap")
    locked.chmod(0)
    try:
        if os.geteuid() == 0:
            # root reads any folder: make listing it fail as it does for everyone else
            real_scandir = os.scandir

            def scandir(path: object = ".") -> object:
                if os.fspath(path) == str(locked):  # type: ignore[arg-type]
                    raise PermissionError(13, "Permission denied", os.fspath(path))  # type: ignore[arg-type]
                return real_scandir(path)  # type: ignore[arg-type]

            monkeypatch.setattr(os, "scandir", scandir)
        summaries = {Path(s.path).name: s for s in scan([str(folder)], workers=1)}
    finally:
        locked.chmod(0o755)
    assert summaries["stuck.pcap"].error == "not a regular file (a FIFO (named pipe)): not scanned"
    assert summaries["locked"].error == (
        "folder not scanned: Permission denied; captures in it were not analysed"
    )
    assert not summaries["locked"].lost and not summaries["stuck.pcap"].lost
    assert all(summaries[n].error is None for n in NAMES)
    assert "hidden.pcap" not in summaries


def _cluster(**kwargs: object):  # type: ignore[no-untyped-def]
    pytest.importorskip("distributed")
    from distributed import LocalCluster

    return LocalCluster(
        threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=50, **kwargs
    )


@pytest.mark.slow
def test_dask_worker_killed_on_every_try_is_an_error_row(tmp_path: Path) -> None:
    # Before: the scan ended with KilledWorker and no output.
    pytest.importorskip("distributed")  # before config.set: its defaults must outlive the block
    import dask

    folder = _folder(tmp_path)
    victim = "refused-no-listener.pcap"
    os.environ[KILL_WORKER_ENV] = victim  # the worker processes the cluster spawns inherit it
    try:
        with (
            # One task on the worker at a time: a capture queued beside the victim when the
            # worker dies is counted as a suspect too (Dask's allowed-failures counts every
            # task the dead worker held), which with one allowed failure fails it as well.
            dask.config.set(
                {
                    "distributed.scheduler.allowed-failures": 1,
                    "distributed.scheduler.worker-saturation": 1.0,
                }
            ),
            _cluster(n_workers=1) as cluster,
        ):
            result = _scan(str(folder), "--scheduler", cluster.scheduler_address, env=_env())
    finally:
        del os.environ[KILL_WORKER_ENV]
    assert result.returncode == 4, result.stderr
    rows = _rows(result.stdout)
    assert rows[victim]["error"].startswith(
        "the worker process analysing it died (KilledWorker: every Dask worker that tried it "
        "died): likely out of memory (capture "
    )
    assert all(
        rows[n]["error"] is None and rows[n]["connections"] == 1 for n in NAMES if n != victim
    )
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_dask_without_workers_gives_up_instead_of_waiting_forever(tmp_path: Path) -> None:
    # Before: a scheduler whose only worker was gone made the scan wait forever.
    folder = _folder(tmp_path)
    with _cluster(n_workers=1) as cluster:
        cluster.scale(0)
        deadline = time.monotonic() + 60
        from distributed import Client

        with Client(cluster.scheduler_address) as client:
            while client.scheduler_info()["workers"] and time.monotonic() < deadline:
                time.sleep(0.2)
        started = time.monotonic()
        result = _scan(
            str(folder),
            "--scheduler",
            cluster.scheduler_address,
            env=_env(PCAPLINE_DASK_NO_WORKER_TIMEOUT="3"),
            timeout=120,
        )
        took = time.monotonic() - started
    assert result.returncode == 4, result.stderr
    rows = _rows(result.stdout)
    assert sorted(rows) == sorted(NAMES)
    assert {r["error"] for r in rows.values()} == {
        "not analysed: the Dask cluster had no worker for 3 s (workers died or were stopped)"
    }
    assert took < 60


def test_a_lost_dask_scheduler_gives_error_rows_not_an_internal_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scheduler stopped mid-scan: the client cancels every future and ``wait`` raises
    ``FuturesCancelledError``. It was exit 3 (internal error) and no output although half the
    captures were done; now the captures left are rows that say so (exit 4)."""
    distributed = pytest.importorskip("distributed")
    import importlib

    scan_run = importlib.import_module("pcapline.scan.run")

    class Future:
        def __init__(self, path: str) -> None:
            self.path = path

        def cancel(self) -> None:
            pass

        def release(self) -> None:
            pass

        def result(self) -> scan_run.CaptureSummary:
            return scan_run.CaptureSummary(self.path, frames=1)

    class Client:
        def nthreads(self) -> dict[str, int]:
            return {"tcp://worker": 1}

        def submit(self, _function: object, path: str, pure: bool) -> Future:
            return Future(path)

    waits = iter([True, False])

    def wait(futures: list[Future], **_kwargs: object) -> tuple[set[Future], set[Future]]:
        if next(waits):
            return {futures[0]}, set(futures[1:])
        raise distributed.client.FuturesCancelledError([])

    monkeypatch.setattr(distributed, "wait", wait)
    out: list[scan_run.CaptureSummary] = []
    paths = [f"c{n}.pcap" for n in range(5)]
    scan_run._dask_loop(Client(), paths, out.append, patience=60.0)
    assert [(s.path, s.error, s.lost) for s in out] == [
        ("c0.pcap", None, False),
        *((p, scan_run.LOST_SCHEDULER, True) for p in ("c1.pcap", "c2.pcap", "c3.pcap", "c4.pcap")),
    ]


def test_a_scheduler_gone_between_two_waits_gives_rows_that_say_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No result within a poll, then asking the scheduler for its workers fails: the scan
    waits no more (``engine.first_done``, as ``analyze --scheduler``); the captures left are
    rows that say so and why, in one line."""
    distributed = pytest.importorskip("distributed")
    import importlib

    scan_run = importlib.import_module("pcapline.scan.run")

    class Future:
        def cancel(self) -> None:
            pass

    class Client:
        def nthreads(self) -> dict[str, int]:
            return {"tcp://worker": 1}

        def submit(self, _function: object, _path: str, pure: bool) -> Future:
            return Future()

        def scheduler_info(self) -> dict[str, object]:
            raise OSError("Timed out trying to connect to\n tcp://10.0.0.9:8786")

    def wait(_futures: list[Future], **_kwargs: object) -> tuple[set[Future], set[Future]]:
        raise TimeoutError  # nothing done within the poll

    monkeypatch.setattr(distributed, "wait", wait)
    out: list[scan_run.CaptureSummary] = []
    scan_run._dask_loop(Client(), ["a.pcap", "b.pcap", "c.pcap"], out.append, patience=60.0)
    why = f"{scan_run.LOST_SCHEDULER} (Timed out trying to connect to tcp://10.0.0.9:8786)"
    assert [(s.path, s.error, s.lost) for s in out] == [
        ("a.pcap", why, True),
        ("b.pcap", why, True),
        ("c.pcap", why, True),
    ]


@pytest.mark.parametrize(
    ("ending", "error"),
    [
        (
            lambda: os.kill(os.getpid(), signal.SIGKILL),
            "the worker process analysing it died (killed by SIGKILL): likely out of memory "
            "(capture 9 bytes)",
        ),
        (
            lambda: os._exit(2),  # the compiled reader's end when the file shrank while read
            "the worker process analysing it exited with status 2 (its reason is on stderr; "
            "2: the capture file changed while it was read)",
        ),
    ],
    ids=["killed", "exited"],
)
def test_a_capture_run_alone_says_how_its_process_ended(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ending: Callable[[], None], error: str
) -> None:
    """Only a kill can be the OOM killer: a worker that exits on its own is not called out of
    memory."""
    import importlib
    import multiprocessing

    scan_run = importlib.import_module("pcapline.scan.run")  # the package exports run()
    capture = tmp_path / "x.pcap"
    capture.write_bytes(b"123456789")
    monkeypatch.setattr(scan_run, "_alone_child", lambda *_args: ending())
    got = scan_run._run_alone(str(capture), multiprocessing.get_context("fork"))
    assert (got.error, got.lost) == (error, True)
