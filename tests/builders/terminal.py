"""Start a child as a terminal's foreground job, for the Ctrl-C tests.

A terminal's Ctrl-C sends SIGINT to the foreground job's whole process group, and the job
runs with SIGINT at its default action. A test runner started in the background of a
non-interactive shell (``pytest &``) inherits SIGINT ignored, and POSIX keeps an ignored
signal ignored across exec: CPython then installs no KeyboardInterrupt handler, the child
never sees the Ctrl-C and the test would fail for a reason that has nothing to do with
pcapline. So the child gets its own process group and SIGINT back at its default.
"""

from __future__ import annotations

import os
import signal


def foreground_job() -> None:
    """``preexec_fn`` for ``subprocess.Popen``: its own process group, SIGINT at default."""
    os.setsid()
    signal.signal(signal.SIGINT, signal.SIG_DFL)
