"""SIGTERM and SIGHUP stop the console command as Ctrl-C does (pcapline.workers).

``kill``, ``timeout``, systemd and Kubernetes send SIGTERM to the command's process alone;
closing the terminal sends SIGHUP. Their default action would end the parent on the spot,
leave its workers running orphaned and a memory-bounded run's spill folder in TMPDIR. Here
the parent alone gets the signal while its workers are held inside a partition (they say so,
and give their pid, by creating a file), and must exit 128 + the signal's number with one
line, its workers gone and its folder removed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import click
import pytest
from builders.terminal import foreground_job
from test_engine import SAMPLES

from pcapline import cli, workers

CAPTURE = str(SAMPLES / "lossy-40-connections-3pct-drop.pcap")

# The held task by path: the memory-bounded pool runs ``bounded.analyse_numbered``, the
# in-memory pool ``engine.analyse_partition``.
HOLD = """
import os, sys, time
from pcapline import bounded, cli, engine
def held(real):
    def hold(*args):
        open(os.path.join({held!r}, str(os.getpid())), "w").close()
        time.sleep(120)
        return real(*args)
    return hold
bounded.analyse_numbered = held(bounded.analyse_numbered)
engine.analyse_partition = held(engine.analyse_partition)
engine.POOL_MIN_SEGMENTS = 0  # a small capture on the in-memory pool too
cli.main({argv!r})
"""


def _as_a_service_runs() -> None:
    """A terminal's job (own group), with SIGTERM and SIGHUP at their default actions (a test
    runner under ``nohup`` would pass SIGHUP on ignored)."""
    foreground_job()
    for signum in workers.TERMINATING_SIGNALS:
        signal.signal(signum, signal.SIG_DFL)


def start_held(
    argv: list[str],
    held: Path,
    temporary: Path,
    *,
    preexec_fn: Callable[[], None],
    output: int = subprocess.PIPE,
) -> subprocess.Popen[bytes]:
    """``pcapline argv`` started with ``TMPDIR`` at ``temporary``, returned once one of its
    workers is held inside a partition (each says so with a file named by its pid in
    ``held``)."""
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(HOLD.format(held=str(held), argv=argv))],
        stdout=output,
        stderr=output,
        preexec_fn=preexec_fn,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "TMPDIR": str(temporary)},
    )
    deadline = time.monotonic() + 60
    while not os.listdir(held) and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)  # waiting for the condition (a worker inside a partition)
    assert os.listdir(held), "no worker reached a partition"
    return child


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize(
    "bounded, signum",
    [(True, signal.SIGTERM), (False, signal.SIGTERM), (False, signal.SIGHUP)],
    ids=["memory-bounded-SIGTERM", "in-memory-SIGTERM", "in-memory-SIGHUP"],
)
def test_sigterm_to_the_parent_alone_stops_its_workers_and_removes_its_files(
    tmp_path: Path, bounded: bool, signum: signal.Signals
) -> None:
    spill, held, temporary = tmp_path / "spill", tmp_path / "held", tmp_path / "tmp"
    held.mkdir()
    spill.mkdir()  # there already: no note that it was made
    temporary.mkdir()  # TMPDIR: where the in-memory pool's results folder goes
    argv = ["analyze", CAPTURE, "--format", "json", "--jobs", "2"]
    if bounded:
        argv += ["--memory-bounded", "--spill-dir", str(spill)]
    child = start_held(argv, held, temporary, preexec_fn=_as_a_service_runs)
    worker_pids = [int(name) for name in os.listdir(held)]
    sent = time.monotonic()
    child.send_signal(signum)  # the parent alone, as kill and timeout do
    out, err = child.communicate(timeout=30)
    took = time.monotonic() - sent
    assert child.returncode == 128 + signum, err.decode()
    # One line: no blank line before it in a log (click writes one for a terminal's ^C).
    assert err.decode() == f"pcapline: error: terminated ({signum.name})\n"
    assert out == b""
    assert took < 1.5, f"stopped {took:.2f} s after {signum.name}"  # typically 0.2 s
    assert not any(_alive(pid) for pid in worker_pids)  # killed and reaped, not orphaned
    if bounded:
        assert os.listdir(spill) == []
    assert os.listdir(temporary) == []


@pytest.mark.parametrize("bounded", [True, False], ids=["memory-bounded", "in-memory"])
def test_workers_die_with_a_parent_killed_outright(tmp_path: Path, bounded: bool) -> None:
    """SIGKILL (the OOM killer, kill -9, a CI job's timeout) gives the parent no chance to
    stop its workers; blocked on their task queue they never saw it go and kept their memory
    (hundreds of MB each) until someone killed them. They die with it now."""
    held, temporary = tmp_path / "held", tmp_path / "tmp"
    held.mkdir()
    temporary.mkdir()
    argv = ["analyze", CAPTURE, "--format", "json", "--jobs", "2", "-q"]
    if bounded:
        argv += ["--memory-bounded", "--spill-dir", str(tmp_path / "spill")]
    child = start_held(argv, held, temporary, preexec_fn=_as_a_service_runs)
    worker_pids = [int(name) for name in os.listdir(held)]
    child.kill()
    child.communicate(timeout=30)
    deadline = time.monotonic() + 10
    while any(workers._running(pid) for pid in worker_pids) and time.monotonic() < deadline:
        time.sleep(0.05)  # waiting for the kernel to deliver the parent-death signal
    assert not any(workers._running(pid) for pid in worker_pids)  # gone, or a zombie


def test_signals_deferred_holds_sigterm_until_the_block_ends() -> None:
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        workers.stop_on_termination()
        reached_the_end = False
        with pytest.raises(workers.Terminated) as stopped, workers.signals_deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.01)  # the handler runs between bytecodes: it would by now
            reached_the_end = True
        assert reached_the_end
        assert stopped.value.signum == signal.SIGTERM and stopped.value.name == "SIGTERM"
        assert signal.getsignal(signal.SIGTERM) is workers._raise_terminated  # restored
    finally:
        signal.signal(signal.SIGTERM, previous)


def _raising(exc: BaseException) -> object:
    def main(**_kwargs: object) -> None:
        raise exc

    return main


def _wrapped_interrupt() -> RuntimeError:
    """What Python raises when a Ctrl-C lands while a class is created (during an import)."""
    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as interrupt:
            raise RuntimeError("Error calling __set_name__") from interrupt
    except RuntimeError as wrapped:
        return wrapped


def _cleanup_failing_after(signum: int) -> OSError:
    """An error from clean-up that a SIGTERM interrupted (a spill file already removed)."""
    try:
        try:
            raise workers.Terminated(signum)
        finally:
            raise FileNotFoundError(2, "No such file or directory", "segments-00000.bin")
    except OSError as failed:
        return failed


@pytest.mark.parametrize(
    "raised, status, line",
    [
        (KeyboardInterrupt(), 130, "pcapline: error: interrupted"),
        (click.Abort(), 130, "pcapline: error: interrupted"),
        (_wrapped_interrupt(), 130, "pcapline: error: interrupted"),
        (workers.Terminated(signal.SIGHUP), 129, "pcapline: error: terminated (SIGHUP)"),
        (_cleanup_failing_after(signal.SIGTERM), 143, "pcapline: error: terminated (SIGTERM)"),
        (
            FileNotFoundError(2, "No such file or directory", "x.pcap"),
            2,
            "pcapline: error: x.pcap: No such file or directory",
        ),
    ],
    ids=["ctrl-c", "click-abort", "ctrl-c-in-an-import", "sighup", "cleanup-after-sigterm", "os"],
)
def test_an_interruption_is_reported_as_one_whatever_wrapped_it(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    raised: BaseException,
    status: int,
    line: str,
) -> None:
    monkeypatch.setattr(cli.cli, "main", _raising(raised))
    assert cli.run(["analyze", CAPTURE]) == status
    assert capsys.readouterr().err == line + "\n"


@pytest.mark.parametrize("on_a_terminal", [True, False])
def test_ctrl_c_inside_a_command_is_one_line_after_the_carets_line_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], on_a_terminal: bool
) -> None:
    """Through click (which would write an empty line first, in a log too): on a terminal
    the line after the ``^C`` it echoed; elsewhere the one line alone."""

    def analysing(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli.analyze, "callback", analysing)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: on_a_terminal)
    assert cli.run(["analyze", CAPTURE]) == 130
    assert capsys.readouterr().err == "\n" * on_a_terminal + "pcapline: error: interrupted\n"

    def terminated(*_args: object, **_kwargs: object) -> None:
        raise workers.Terminated(signal.SIGTERM)

    monkeypatch.setattr(cli.analyze, "callback", terminated)
    assert cli.run(["analyze", CAPTURE]) == 143
    # Not from the terminal: no ^C there to end the line of.
    assert capsys.readouterr().err == "pcapline: error: terminated (SIGTERM)\n"


def test_a_stopped_pools_manager_thread_fails_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``stop_pool`` kills busy workers on purpose; the pool's manager thread may then trip
    over their closed pipes. Its traceback (printed after the one error line by a Ctrl-C'd
    scan under load) is nothing a user can act on: quiet. Any other thread's still prints."""
    import threading
    from concurrent.futures import ProcessPoolExecutor

    shown: list[str] = []  # the threads whose exception reached the hook that prints

    def record(args: threading.ExceptHookArgs) -> None:
        shown.append(args.thread.name if args.thread is not None else "")

    monkeypatch.setattr(threading, "excepthook", record)
    pool = ProcessPoolExecutor(1)
    pool.submit(time.sleep, 30)
    manager = pool._executor_manager_thread  # type: ignore[attr-defined]
    started = time.monotonic()
    workers.stop_pool(pool)
    assert time.monotonic() - started < 5 and not manager.is_alive()

    def fails(release: threading.Event) -> None:
        release.wait()
        raise OSError(9, "Bad file descriptor")

    # A thread quieted as stop_pool quiets the manager (its exception ends it), and one not.
    release = threading.Event()
    quiet = threading.Thread(target=fails, args=(release,), name="quieted")
    loud = threading.Thread(target=fails, args=(release,), name="not-quieted")
    quiet.start()
    loud.start()
    workers._quiet(quiet)
    release.set()
    quiet.join()
    loud.join()
    # the hook stop_pool left, asked about the manager thread itself
    error = OSError(9, "Bad file descriptor")
    threading.excepthook(threading.ExceptHookArgs((OSError, error, None, manager)))  # type: ignore[call-arg]
    assert shown == ["not-quieted"]
    # ... holds it weakly: the thread holds the pool's processes and their pipes
    import gc
    import weakref

    gone = weakref.ref(manager)
    del manager, pool
    gc.collect()
    assert gone() is None
    # ... and is one hook however many threads it quiets (not one more call deep each)
    hook = threading.excepthook
    for thread in (quiet, loud):
        workers._quiet(thread)
    assert threading.excepthook is hook and getattr(hook, "previous", None) is record


#: Scripts that send the console command a signal at a moment of its start-up.
SIGNALLED_AT = {
    # numpy loads here in a real run (a tenth of a second): the signal arrives meanwhile
    "setting_up": """
import os, signal
from pcapline import cli
cli._without_huge_page_advice = lambda: os.kill(os.getpid(), signal.{name})
cli.main(["analyze", {capture!r}])
""",
    # the start-up guard has ended, the run has not begun
    "guard_handing_over": """
import os, signal
from pcapline import cli
handlers_on = cli.stop_on_termination
def then_a_signal():
    handlers_on()
    os.kill(os.getpid(), signal.{name})
cli.stop_on_termination = then_a_signal
cli.main(["analyze", {capture!r}])
""",
}


@pytest.mark.parametrize("moment", sorted(SIGNALLED_AT))
@pytest.mark.parametrize(
    ("name", "status", "words"),
    [
        ("SIGINT", 130, "interrupted"),
        ("SIGTERM", 143, "terminated (SIGTERM)"),
        ("SIGHUP", 129, "terminated (SIGHUP)"),
    ],
)
def test_a_signal_while_the_process_starts_is_one_line_and_its_exit_code(
    moment: str, name: str, status: int, words: str
) -> None:
    """Before ``run`` takes over (the libraries still loading, or the start-up guard handing
    the signals over), a signal ends the command with the line and the exit code it gets
    later in the run, not a traceback and exit 1 (which ``--fail-on`` uses). The guard holds
    the signals blocked from its end until ``run`` releases them (SIGINT between the two was
    a KeyboardInterrupt traceback)."""
    code = SIGNALLED_AT[moment].format(name=name, capture=CAPTURE)
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=_as_a_service_runs,
    )
    assert (done.returncode, done.stderr) == (status, f"pcapline: error: {words}\n")


def test_a_held_signal_waits_and_what_was_blocked_before_stays_blocked() -> None:
    from pcapline import startup

    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
    try:
        startup.guard_start()
        startup.guard_end(held=True)
        assert {signal.SIGINT, signal.SIGTERM, signal.SIGHUP} <= signal.pthread_sigmask(
            signal.SIG_BLOCK, set()
        )
        startup.release_held()
        still = signal.pthread_sigmask(signal.SIG_BLOCK, set())
        assert signal.SIGHUP in still and not {signal.SIGINT, signal.SIGTERM} & still
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def test_the_start_up_guard_leaves_an_ignored_signal_ignored_and_gives_handlers_back() -> None:
    from pcapline import startup

    # SIGINT as the process started with it: Python's handler, or SIG_IGN when the suite
    # runs as a background job (the shell ignores SIGINT there); either must come back.
    interrupt = signal.getsignal(signal.SIGINT)
    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        startup.guard_start()
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN  # nohup's choice stands
        assert signal.getsignal(signal.SIGTERM) is startup._leave_now
        startup.guard_end()
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
        assert signal.getsignal(signal.SIGINT) is interrupt
    finally:
        startup.guard_end()
        signal.signal(signal.SIGHUP, before)
