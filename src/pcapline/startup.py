"""The console command's first moments: a signal while the program loads ends it at once.

Loading the command line (click, then numpy and pandas as ``cli.main`` sets the process up)
takes a tenth of a second or more, before ``cli.run`` can turn a signal into its one line and
exit code. A SIGTERM from ``timeout`` or a service manager, a SIGHUP or a Ctrl-C in that time
printed a Python traceback and exited 1 (the ``--fail-on`` code) or -2. Nothing has been
opened or written yet then, so the run can end on the spot: one line and the exit code a
later signal gets (130, 143, 129). ``guard_start`` puts that handler on, ``guard_end`` gives
the signals back to whatever handled them before; ``cli.main`` holds them blocked meanwhile
(``held=True``), installs its own, and ``cli.run`` releases them inside the code that turns
them into a line and an exit code.

A signal the caller set to be ignored (``nohup`` ignores SIGHUP) stays ignored.
"""

from __future__ import annotations

import contextlib
import os
import signal
from types import FrameType
from typing import Any, NoReturn

#: Signal -> (exit status, what the error line says): as ``cli._interrupted`` and
#: ``cli._terminated`` report the same signals later in the run.
_EXITS: dict[int, tuple[int, str]] = {
    signal.SIGINT: (130, "interrupted"),
    signal.SIGTERM: (128 + signal.SIGTERM, "terminated (SIGTERM)"),
    signal.SIGHUP: (128 + signal.SIGHUP, "terminated (SIGHUP)"),
}

#: The handlers ``guard_start`` replaced, by signal (empty: no guard on).
_REPLACED: dict[int, Any] = {}
#: The signals ``guard_end(held=True)`` blocked, until ``release_held``.
_HELD: set[int] = set()


def _leave_now(signum: int, _frame: FrameType | None) -> None:
    status, words = _EXITS[signum]
    with contextlib.suppress(OSError):  # no stderr to say it on: the exit status says it
        os.write(2, f"pcapline: error: {words}\n".encode())
    os._exit(status)


def guard_start() -> None:
    """Until ``guard_end``: SIGINT, SIGTERM and SIGHUP end the process at once with one line
    (a no-op for a signal already guarded or ignored)."""
    for signum in _EXITS:
        current = signal.getsignal(signum)
        if signum in _REPLACED or current is signal.SIG_IGN:
            continue
        _REPLACED[signum] = current
        signal.signal(signum, _leave_now)


def guard_end(*, held: bool = False) -> None:
    """The guarded signals back to their handlers from before ``guard_start``. ``held``:
    blocked first, until ``release_held`` (one that comes meanwhile waits): the caller puts
    its own handlers on and enters the code that handles what they raise, and no signal
    falls in between to a default handler (a traceback, or a death without a word)."""
    if held:
        wanted = set(_EXITS)
        _HELD.update(wanted - signal.pthread_sigmask(signal.SIG_BLOCK, wanted))
    while _REPLACED:
        signum, handler = _REPLACED.popitem()
        signal.signal(signum, handler)


def release_held() -> None:
    """Unblock what ``guard_end(held=True)`` blocked (not what was blocked before it); a
    signal that came meanwhile is handled now, by the handlers in place."""
    if _HELD:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _HELD)
        _HELD.clear()


def main() -> NoReturn:
    """The ``pcapline`` console script: guarded from its first line (``cli.main`` ends the
    guard once the process is set up)."""
    guard_start()
    from pcapline.cli import main as cli_main

    cli_main()
