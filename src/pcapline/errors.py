"""Exceptions pcapline raises on purpose.

Every exception here carries a one-line, user-facing message: the CLI prints it on
stderr and exits with status 2, never a traceback. Damaged input that still holds
usable frames is not an exception: the reader keeps what it could read and adds a
warning (``Capture.warnings``); frames it cannot analyse are counted by
``model.SkipReason`` instead.

::

    PcaplineError                 base class: anything pcapline raises deliberately
    +-- CaptureError              the input is not a usable capture
    |   |                         (not pcap/pcapng, empty, unknown compression,
    |   |                          bad version, unreadable file, nothing valid in it)
    |   +-- CompressionError      a compressed stream could not be opened at all
    +-- UsageError                the caller asked for something impossible
                                  (bad option combination, missing argument)
"""

from __future__ import annotations

from pcapline.model import SkipReason

__all__ = [
    "CaptureError",
    "CompressionError",
    "PcaplineError",
    "SkipReason",
    "SpillUnavailable",
    "UsageError",
    "one_line",
]


def one_line(exc: BaseException) -> str:
    """What an unexpected exception says, on one line (its type's name when it says
    nothing): for an error row or message that quotes it."""
    return " ".join(str(exc).split()) or type(exc).__name__


class PcaplineError(Exception):
    """Base class of every deliberate pcapline error; ``str(e)`` is one line."""

    def __init__(self, message: str) -> None:
        # One line only: the CLI prints it as-is after "pcapline: ".
        super().__init__(" ".join(str(message).split()))

    @property
    def message(self) -> str:
        return str(self)


class CaptureError(PcaplineError):
    """The input cannot be read as a packet capture."""


class CompressionError(CaptureError):
    """The input looks compressed but the stream cannot be opened."""


class UsageError(PcaplineError):
    """Invalid request from the caller (CLI options, API arguments)."""


class SpillUnavailable(PcaplineError):
    """The bounded-memory path's temporary files cannot be written where asked (the disk is
    full, or not writable): a run that chose that path for speed alone analyses in memory
    instead (``cli.analyze``)."""
