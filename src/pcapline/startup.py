"""The console command's first moments: a signal while the program loads ends it at once.

Loading the command line (click, then numpy and pandas as ``cli.main`` sets the process up)
takes a tenth of a second or more, before ``cli.run`` can turn a signal into its one line and
exit code. A SIGTERM from ``timeout`` or a service manager, a SIGHUP or a Ctrl-C in that time
printed a Python traceback and exited 1 (the ``--fail-on`` code) or -2. Nothing has been
opened or written yet then, so the run can end on the spot: one line and the exit code a
later signal gets (130, 143, 129). ``guard_start`` puts that handler on, ``guard_end`` gives
the signals back to whatever handled them before (``cli.main`` then installs its own).

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


def guard_end() -> None:
    """The guarded signals back to their handlers from before ``guard_start``."""
    while _REPLACED:
        signum, handler = _REPLACED.popitem()
        signal.signal(signum, handler)


def main() -> NoReturn:
    """The ``pcapline`` console script: guarded from its first line (``cli.main`` ends the
    guard once the process is set up)."""
    guard_start()
    from pcapline.cli import main as cli_main

    cli_main()
