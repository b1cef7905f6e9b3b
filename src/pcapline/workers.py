"""Local worker processes and the signals that stop a run.

Three kinds of run use a local process pool: ``analyze --jobs N`` (``engine.LocalPool``),
its memory-bounded path (``bounded.Workers``) and ``scan`` (``scan.run``). They stop the same
way: the parent alone decides. Workers ignore Ctrl-C (the terminal sends SIGINT to the whole
process group; a worker would otherwise print a traceback), and the parent kills the busy
ones at once (``stop_pool``) instead of waiting for the partition or capture in hand.

SIGTERM (``kill``, ``timeout``, systemd, Kubernetes) and SIGHUP (the terminal closed) reach
the parent alone as often as not, and their default action ends it on the spot: its workers
then finish their work orphaned and a memory-bounded run's spill folder (hundreds of MB for a
large capture) stays in ``TMPDIR``. The console command turns them into ``Terminated``, a
``KeyboardInterrupt``, so every clean-up path Ctrl-C takes runs for them too
(``stop_on_termination``).
"""

from __future__ import annotations

import contextlib
import ctypes
import mmap
import os
import select
import signal
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from types import FrameType

from pcapline.procfs import finished, stat_fields

__all__ = [
    "TERMINATING_SIGNALS",
    "Holding",
    "Terminated",
    "die_with_parent",
    "forked_pool",
    "kill_children",
    "served_worker_init",
    "signals_deferred",
    "stop_on_termination",
    "stop_pool",
    "worker_init",
]

#: The signals the console command stops on as on Ctrl-C (exit 128 + the signal's number).
TERMINATING_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGHUP)


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived: stop as Ctrl-C does."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name


def _raise_terminated(signum: int, _frame: FrameType | None) -> None:
    raise Terminated(signum)


def stop_on_termination() -> None:
    """In the console command's main thread: SIGTERM and SIGHUP raise ``Terminated``. A
    signal the caller set to be ignored (``nohup`` ignores SIGHUP) stays ignored."""
    for signum in TERMINATING_SIGNALS:
        if signal.getsignal(signum) is signal.SIG_DFL:
            signal.signal(signum, _raise_terminated)


def forked_pool(jobs: int, partitions: int) -> tuple[ProcessPoolExecutor, Holding]:
    """Up to ``jobs`` workers forked from this process when the first task is submitted
    (they inherit what it holds then: the caller's job in its module's globals), each ending
    with it (``worker_init``); and the ``Holding`` of its ``partitions``, made now, before
    the workers that share its pages."""
    import multiprocessing

    holding = Holding(partitions)
    pool = ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=multiprocessing.get_context("fork"),
        initializer=worker_init,
        initargs=(os.getpid(),),
    )
    return pool, holding


def worker_init(parent: int | None = None) -> None:
    """A pool worker leaves Ctrl-C to its parent (which stops it: no traceback from each
    worker) and dies of SIGTERM or SIGHUP at once, as a process without handlers does (a
    forked worker inherits the parent's ``Terminated`` handlers; inside ``Holding.held`` a
    SIGTERM waits for the bytecode that runs, a long C call's end), and with the process
    that started it (``parent``: its pid, when it is this one's parent; ``die_with_parent``)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for signum in TERMINATING_SIGNALS:
        signal.signal(signum, signal.SIG_DFL)
    die_with_parent(parent)


def served_worker_init(command: int) -> None:
    """``worker_init`` for a fork server's worker (``scan``). Its parent is the server,
    which lives on while any of its workers does (each holds the server's liveness pipe)
    and they wait for a command that is gone: a ``kill -9`` of the scan left the server and
    its workers (a GB each) behind. The worker watches ``command``'s process instead."""
    worker_init()
    threading.Thread(target=_exit_without, args=(command,), daemon=True).start()


#: How often a fork server's worker looks whether its command is still there (seconds).
COMMAND_WATCH_S = 0.5


def _exit_without(command: int) -> None:
    """Exit when process ``command`` does: a pidfd readable at its end (Linux 5.3+; held
    from now on, a reused pid cannot fool it), else a look every ``COMMAND_WATCH_S``."""
    try:
        handle = os.pidfd_open(command)
    except ProcessLookupError:
        os._exit(1)  # gone already
    except (AttributeError, OSError):
        while _running(command):
            time.sleep(COMMAND_WATCH_S)
        os._exit(1)
    waiting = select.poll()
    waiting.register(handle, select.POLLIN)
    while not waiting.poll():
        pass
    os._exit(1)


#: prctl(2)'s option naming the signal a process gets when its parent dies (Linux).
_PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int | None = None) -> None:
    """SIGKILL this process when its parent dies (``prctl(PR_SET_PDEATHSIG)``; elsewhere
    nothing). A parent killed outright (``kill -9``, the OOM killer, a CI job's timeout)
    cannot stop its workers, and a worker waiting on its task queue never sees it go (it
    holds the queue's write end too): it kept its hundreds of MB until someone killed it.
    ``parent``: the pid expected as this one's parent; another means it died before this
    ran. A scan worker's parent is the fork server, which outlives the command while its
    workers live: they watch the command itself (``served_worker_init``)."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return
    prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if parent is not None and os.getppid() != parent:
        os._exit(1)


class Holding:
    """Which partition each forked worker is busy with: a slot per partition holding the pid
    of the worker on it (0: none), in memory the workers share with their parent (made
    before they are forked). A worker that dies breaks the whole pool, which then fails
    every task at once without saying whose it was (``lost`` does)."""

    def __init__(self, count: int) -> None:
        # An anonymous shared mapping: a forked child writes the parent's pages (no file).
        self._pids = memoryview(mmap.mmap(-1, 8 * max(count, 1))).cast("q")

    @contextlib.contextmanager
    def held(self, number: int) -> Iterator[None]:
        """In the worker, around partition ``number``'s task. SIGTERM is how the pool stops
        the workers left after one died (and a user stops them all): the slot is let go
        first, so only a worker that died of something else is blamed."""

        def stopped(signum: int, _frame: FrameType | None) -> None:
            self._pids[number] = 0
            os._exit(128 + signum)

        # The handler before the slot, the slot let go before the handler: a SIGTERM at any
        # point finds no slot of this worker's, or a handler that lets it go.
        previous = signal.signal(signal.SIGTERM, stopped)
        self._pids[number] = os.getpid()
        try:
            yield
        finally:
            self._pids[number] = 0
            signal.signal(signal.SIGTERM, previous)

    def lost(self, wait: float = 1.0) -> list[int]:
        """The partitions whose worker is dead or dying (killed while on it). The pool can
        say a worker died a moment before the kernel does (its pipes close first on the way
        out): none found, it is asked again for up to ``wait`` seconds."""
        deadline = time.monotonic() + wait
        while True:
            # Read again after: a worker the pool stops lets its slot go before it exits.
            found = [
                n
                for n, pid in enumerate(self._pids)
                if pid and not _running(pid) and self._pids[n] == pid
            ]
            if found or time.monotonic() >= deadline:
                return found
            time.sleep(0.01)  # waiting for the kernel to finish the dead worker's exit


def _running(pid: int) -> bool:
    """Is process ``pid`` alive: not gone, not exiting, not a zombie waiting to be reaped
    (``/proc``; without it, whatever a signal 0 says)?"""
    if not os.path.isdir("/proc/self"):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except OSError:
            pass  # someone else's: alive
        return True
    try:
        fields = stat_fields(pid)
    except FileNotFoundError:
        return False
    except OSError:
        return True  # cannot tell: not blamed
    return not finished(fields)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold a Ctrl-C (or SIGTERM, SIGHUP) that arrives inside the block; raise it after.
    Around ``pool.submit``: a submit may start a worker, and a worker started but not yet
    registered in the pool would escape ``stop_pool``."""
    caught: list[int] = []

    def hold(signum: int, _frame: FrameType | None) -> None:
        caught.append(signum)

    handled: tuple[int, ...] = (signal.SIGINT, *TERMINATING_SIGNALS, signal.SIGUSR2)
    try:
        previous = {signum: signal.signal(signum, hold) for signum in handled}
    except ValueError:  # not the main thread: signals are not ours to handle
        yield
        return
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    for signum in caught:
        handler = previous[signum]
        if callable(handler):
            handler(signum, None)  # what it would have done (raise, or a caller's own)
        elif handler == signal.SIG_DFL and signum == signal.SIGINT:
            raise KeyboardInterrupt
        elif handler == signal.SIG_DFL:
            signal.raise_signal(signum)


def stop_pool(pool: ProcessPoolExecutor) -> None:
    """Stop at once: cancel queued work and kill the workers still busy (on success they are
    idle and exit as usual; on Ctrl-C nobody waits for work in flight)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    manager = getattr(pool, "_executor_manager_thread", None)
    if manager is not None:
        _quiet(manager)
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.kill()
    for process in processes:
        process.join(timeout=5)
    # The pool's manager thread sees its workers gone and closes its wakeup pipe; wait for it
    # here. Left running, it can close the pipe while the interpreter's exit hook is writing to
    # it (concurrent.futures' ``_ThreadWakeup.wakeup`` checks ``_closed`` without a lock, here
    # on CPython 3.11), and a Ctrl-C'd scan once printed "Exception ignored ... Bad file
    # descriptor" after its one error line.
    if manager is not None:
        manager.join(timeout=5)


def kill_children(keep: frozenset[int] = frozenset()) -> None:
    """Kill every process this one started with multiprocessing that is still there (but
    those whose pid is in ``keep``: a library caller's own), and reap them: after Ctrl-C,
    SIGTERM or SIGHUP nobody waits for their work. A pool's workers are stopped by
    ``stop_pool``, but one an interrupted pool was starting can escape it (about 1 ``scan``
    in 5 left one idle, found by the exit handler's join, which then waited for ever on a
    worker waiting for the command to end)."""
    import multiprocessing

    children = [c for c in multiprocessing.active_children() if c.pid not in keep]
    for child in children:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            child.kill()
    for child in children:
        with contextlib.suppress(OSError, ValueError, AssertionError):
            child.join(timeout=2)


def _quiet(thread: threading.Thread) -> None:
    """An exception that ends ``thread`` prints nothing (``threading.excepthook``; any other
    thread's still does). For a pool's manager thread once its workers are killed on
    purpose: it may trip over their closed pipes, and a Ctrl-C'd scan under load once
    printed its traceback ("Exception in thread Thread-1") after the one error line. One
    hook for every such thread (a hook per pool would nest one call deeper per ``scan`` in a
    long-lived process)."""
    _QUIETED.add(thread)
    if not isinstance(threading.excepthook, _QuietHook):
        threading.excepthook = _QuietHook(threading.excepthook)


#: The threads ``_quiet`` silenced, held weakly: the hook outlives the pools, and a pool's
#: manager thread holds its worker processes, whose pipes would stay open with it (six
#: descriptors per ``scan``).
_QUIETED: weakref.WeakSet[threading.Thread] = weakref.WeakSet()


class _QuietHook:
    """``threading.excepthook`` that passes every thread's exception on to ``previous`` but
    those of the threads in ``_QUIETED``."""

    def __init__(self, previous: Callable[[threading.ExceptHookArgs], object]) -> None:
        self.previous = previous

    def __call__(self, args: threading.ExceptHookArgs) -> None:
        if args.thread is None or args.thread not in _QUIETED:
            self.previous(args)
