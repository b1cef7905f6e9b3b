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
import signal
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from types import FrameType

__all__ = [
    "TERMINATING_SIGNALS",
    "Terminated",
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


def worker_init() -> None:
    """A pool worker leaves Ctrl-C to its parent (which stops it: no traceback from each
    worker) and dies of SIGTERM or SIGHUP at once, as a process without handlers does (a
    forked worker inherits the parent's ``Terminated`` handlers)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for signum in TERMINATING_SIGNALS:
        signal.signal(signum, signal.SIG_DFL)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold a Ctrl-C (or SIGTERM, SIGHUP) that arrives inside the block; raise it after.
    Around ``pool.submit``: a submit may start a worker, and a worker started but not yet
    registered in the pool would escape ``stop_pool``."""
    caught: list[int] = []

    def hold(signum: int, _frame: FrameType | None) -> None:
        caught.append(signum)

    handled: tuple[int, ...] = (signal.SIGINT, *TERMINATING_SIGNALS)
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
    manager = getattr(pool, "_executor_manager_thread", None)
    if manager is not None:
        manager.join(timeout=5)
