"""Out of memory as one clear error, not a silent kill.

On Linux an allocation rarely fails: the kernel overcommits, and when the machine runs out it
is the OOM killer that ends the biggest process, with SIGKILL and no word (exit 137). A
capture that needs more memory than the machine has (a decompression bomb of SYNs: 1 GiB of
them holds 15 M connections, about 16 GB of analysis) then dies as if pcapline had crashed.

The console command watches the machine's available memory (``/proc/meminfo``
MemAvailable) a few times a second. When it falls below ``LOW_SHARE`` of the total (at least
``LOW_MIN_BYTES``) while this run's own processes hold ``OURS_SHARE`` of it or more (another
program's hunger is not ours to stop), it stops the biggest of them first, as the OOM killer
would, but so that the run says why:

- a worker process (``analyze --jobs``, a memory-bounded partition, a ``scan`` capture): it is
  killed, and the run's own handling of a dead worker names it (``a worker process died
  analysing partition N ... out of memory``; ``scan``: that capture's error row);
- this process: ``MemoryError`` is raised in its main thread (a signal handler), which the
  command turns into its one ``out of memory`` line, exit 2, after the usual clean-up.

It cannot help where one C call allocates past the machine before returning (the handler runs
between bytecodes), and it watches only where ``/proc`` exists.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import FrameType

#: Stop when the machine's available memory falls below this share of its total ...
LOW_SHARE = 0.03
#: ... or this many bytes, whichever is more,
LOW_MIN_BYTES = 256 << 20
#: while this run's processes hold at least this share of the total.
OURS_SHARE = 0.5
#: How often memory is looked at (seconds), and how long after stopping one process the
#: next may be stopped (its memory takes a moment to come back).
INTERVAL_S = 0.2
SETTLE_S = 2.0
#: The signal that raises ``MemoryError`` in the main thread.
MEMORY_SIGNAL = signal.SIGUSR2
#: Tests only: ``LOW_BYTES,OURS_SHARE`` instead of the defaults (a floor above any machine's
#: memory and a share of 0 stop the run at once).
TEST_THRESHOLDS_ENV = "PCAPLINE_TEST_MEMORY_GUARD"

#: The watcher thread's name (``busy_threads`` leaves it out).
GUARD_THREAD = "pcapline-memory-guard"


def busy_threads() -> int:
    """Threads running besides the main one and this guard's watcher: what decides whether
    the process may fork safely or end at once (the watcher holds no lock a child could
    inherit held, and never needs its work finished)."""
    main = threading.main_thread()
    return sum(1 for t in threading.enumerate() if t is not main and t.name != GUARD_THREAD)


@dataclass(frozen=True, slots=True)
class Machine:
    total: int  # bytes of RAM
    available: int  # bytes the kernel could give without swapping (MemAvailable)


def machine() -> Machine | None:
    """``/proc/meminfo``'s MemTotal and MemAvailable; None where it cannot be read."""
    found: dict[str, int] = {}
    try:
        with open("/proc/meminfo", "rb") as info:
            for line in info:
                name, _, rest = line.partition(b":")
                if name in (b"MemTotal", b"MemAvailable"):
                    found[name.decode()] = int(rest.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    if len(found) < 2:
        return None
    return Machine(found["MemTotal"], found["MemAvailable"])


def resident(pid: int | str) -> int:
    """Bytes of anonymous memory process ``pid`` holds in RAM, its share of what it shares
    with others (``/proc/PID/smaps_rollup``'s Pss_Anon, else Pss; 0 when it is gone). Not
    the resident size: that counts the page cache of a memory-mapped capture, which the
    kernel frees at will, and counts every page a forked worker shares with its parent
    once for each of them."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as rollup:
            fields = dict(line.split(b":", 1) for line in rollup if b":" in line)
    except OSError:
        return 0
    for name in (b"Pss_Anon", b"Pss"):
        if name in fields:
            with contextlib.suppress(ValueError, IndexError):
                return int(fields[name].split()[0]) * 1024
    return 0


def _children() -> list[int]:
    """The worker processes this one started (multiprocessing's, when it is loaded)."""
    mp = sys.modules.get("multiprocessing")
    if mp is None:
        return []
    with contextlib.suppress(Exception):  # a child starting or ending as we look
        return [p.pid for p in mp.active_children() if p.pid is not None]
    return []


@dataclass(frozen=True, slots=True)
class Thresholds:
    low_bytes: int
    low_share: float
    ours_share: float

    def starved(self, m: Machine) -> bool:
        return m.available < max(self.low_bytes, self.low_share * m.total)

    def ours(self, held: int, m: Machine) -> bool:
        return held >= self.ours_share * m.total


def thresholds() -> Thresholds:
    given = os.environ.get(TEST_THRESHOLDS_ENV)
    if given:
        low, share = given.split(",")
        return Thresholds(int(low), 0.0, float(share))
    return Thresholds(LOW_MIN_BYTES, LOW_SHARE, OURS_SHARE)


def pick(own: int, children: Iterable[tuple[int, int]]) -> int | None:
    """The process to stop: the child holding the most, if it holds more than this process
    (its pid), else None (this process: raise here)."""
    biggest = max(children, key=lambda c: c[1], default=None)
    if biggest is not None and biggest[1] > own:
        return biggest[0]
    return None


def check(
    limits: Thresholds,
    read_machine: Callable[[], Machine | None] = machine,
    children: Callable[[], list[int]] = _children,
    held_by: Callable[[int | str], int] = resident,
) -> tuple[bool, int | None]:
    """(stop something?, the child to kill: None for this process)."""
    m = read_machine()
    if m is None or not limits.starved(m):
        return False, None
    own = held_by("self")
    sizes = [(pid, held_by(pid)) for pid in children()]
    if not limits.ours(own + sum(size for _, size in sizes), m):
        return False, None
    return True, pick(own, sizes)


def _raise_memory_error(_signum: int, _frame: FrameType | None) -> None:
    raise MemoryError("the machine ran out of memory")


#: Set by ``disarm``: the watcher stops (a long-lived server answers each request's own
#: out-of-memory error; stopping the whole server would fail every later request too).
_DISARMED = threading.Event()


def disarm() -> None:
    """Stop watching (``pcapline mcp``)."""
    _DISARMED.set()


def start() -> threading.Thread | None:
    """Watch memory for the console command (module docstring); None where it cannot. Call
    it where a ``MemoryError`` is handled (the command's ``run``): the watcher may look at
    once."""
    if machine() is None or _DISARMED.is_set():
        return None
    try:
        signal.signal(MEMORY_SIGNAL, _raise_memory_error)
    except ValueError:  # not the main thread: its signals are not ours
        return None
    limits = thresholds()
    main = threading.main_thread().ident
    watcher = threading.Thread(target=_watch, args=(limits, main), name=GUARD_THREAD, daemon=True)
    watcher.start()
    return watcher


def _watch(limits: Thresholds, main: int | None) -> None:
    while not _DISARMED.is_set():
        stop, child = check(limits)
        if not stop:
            time.sleep(INTERVAL_S)
            continue
        if child is not None:
            with contextlib.suppress(OSError):
                os.kill(child, signal.SIGKILL)  # as the OOM killer would: the run says why
            time.sleep(SETTLE_S)
            continue
        if main is not None:
            with contextlib.suppress(OSError, ValueError):
                signal.pthread_kill(main, MEMORY_SIGNAL)
        return  # once: a second MemoryError would land in the clean-up of the first


__all__ = ["busy_threads", "check", "disarm", "pick", "start", "thresholds"]
