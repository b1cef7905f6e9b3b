"""Standard streams the caller closed (``pcapline analyze cap >&-``, ``2>&-`` in a cron job,
``<&-``).

Python starts with ``sys.stdout`` (``sys.stderr``, ``sys.stdin``) set to ``None`` when that
descriptor is closed, and every ``print``, ``isatty()`` or flush on it is an
``AttributeError``: a traceback and exit 1 or 3 after a run that worked. Worse, the lowest
free descriptor is what the next ``open`` returns, so the output file or a spill file would
become descriptor 1 or 2 and take whatever a library writes there. ``reopen_closed()`` puts
``/dev/null`` on every closed descriptor first, then:

- stderr: messages go nowhere; the exit code still tells;
- stdout: writing the report there fails as writing to a closed descriptor does (one line,
  exit 2), so a report that went nowhere is never presented as written;
- stdin: ``-`` (read the capture from standard input) fails the same way.
"""

from __future__ import annotations

import errno
import fcntl
import io
import os
import sys

_STDIN, _STDOUT, _STDERR = 0, 1, 2


class _Closed(io.RawIOBase):
    """A standard descriptor the caller closed: reading or writing is ``EBADF``, named."""

    def __init__(self, name: str, fd: int) -> None:
        super().__init__()
        self._name = name
        self._fd = fd

    def _fail(self) -> OSError:
        redirect = "<" if self._fd == _STDIN else ">"
        return OSError(
            errno.EBADF,
            f"standard {self._name} is closed (the command ran with {redirect}&-): "
            f"give it a file{'' if self._fd == _STDIN else ' or use -o FILE'}",
        )

    def fileno(self) -> int:
        return self._fd

    def isatty(self) -> bool:
        return False

    def readable(self) -> bool:
        return self._fd == _STDIN

    def writable(self) -> bool:
        return self._fd != _STDIN

    def readinto(self, _buffer: bytearray) -> int:  # type: ignore[override]
        raise self._fail()

    def write(self, _data: object) -> int:
        raise self._fail()


def _is_open(fd: int) -> bool:
    """Open, and for stderr open for writing: a launcher that leaves a read-only descriptor
    as 2 (a shell script's own file, when it ran with ``2>&-``) would make every warning
    line an error that ends the run."""
    try:
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    except OSError:
        return False
    return fd != _STDERR or flags & os.O_ACCMODE != os.O_RDONLY


def reopen_closed() -> None:
    """``/dev/null`` on each closed standard descriptor, and a stream in ``sys`` for it."""
    closed = [fd for fd in (_STDIN, _STDOUT, _STDERR) if not _is_open(fd)]
    for fd in closed:  # lowest first: os.open takes the lowest free descriptor
        opened = os.open(os.devnull, os.O_RDONLY if fd == _STDIN else os.O_WRONLY)
        if opened != fd:
            os.dup2(opened, fd)
            os.close(opened)
    if _STDIN in closed:
        sys.stdin = io.TextIOWrapper(io.BufferedReader(_Closed("input", _STDIN)))
    if _STDOUT in closed:
        sys.stdout = io.TextIOWrapper(_Closed("output", _STDOUT), write_through=True)
    if _STDERR in closed:  # nothing to tell the message to: it goes to /dev/null
        sys.stderr = open(_STDERR, "w", encoding="utf-8", errors="backslashreplace", closefd=False)  # noqa: SIM115
