"""tempdirs: pcapline's temporary folders, and those of runs that were killed.

A run removes its own folders (the memory-bounded path's work folder, the worker pool's results
folder) on success, error, Ctrl-C, SIGTERM and SIGHUP. A SIGKILL (the OOM killer's signal) gives
it no chance: the folder stays in ``$TMPDIR`` (or ``--spill-dir``), holding a split copy of the
capture, and the next run may find the disk full. So every folder is made with an owner marker
(``OWNER_FILE``: the machine, its boot, the pid namespace, the pid of the process that made it
and that process's start time), and the command line sweeps the folders it is about to use
before it starts (``sweep``): a folder of ours, owned by this user, whose marker names a
process that is gone (no such pid, the pid reused by a process started at another time, or
an earlier boot of this machine) is removed.

Anything less certain is kept: a folder without a marker (an older pcapline's, or one whose
marker is not written yet), another user's, a symlink, a marker from another machine (a
``--spill-dir`` on storage several machines share: their boots and pids mean nothing here),
from another pid namespace (a container sharing ``/tmp``), a live owner; and everything where
``/proc`` cannot tell (not Linux).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum

from pcapline.procfs import finished, stat_fields

#: Names of the folders pcapline makes (``tempfile.mkdtemp`` prefixes: ``pcapline-``,
#: ``pcapline-results-``, ``pcapline-spill-``): only these are ever swept.
PREFIX = "pcapline-"
#: The marker inside each folder, naming its owner.
OWNER_FILE = ".owner"


@dataclass(frozen=True, slots=True)
class Owner:
    """A process, as ``/proc`` tells it apart from every other (a pid alone is reused)."""

    machine: str  # /etc/machine-id and the host name: which machine's boots and pids
    boot_id: str  # /proc/sys/kernel/random/boot_id
    pid_namespace: str  # readlink /proc/self/ns/pid, e.g. "pid:[4026531836]"
    pid: int
    start_ticks: int  # /proc/PID/stat field 22: clock ticks after boot when it started


class OwnerState(Enum):
    ALIVE = "alive"
    GONE = "gone"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Swept:
    """What ``sweep`` removed from ``directory``."""

    directory: str
    folders: int
    size_bytes: int


def _start_ticks(pid: int | str) -> int | None:
    """The process's start time (/proc/PID/stat field 22), None when there is no such process
    or it is finished (a zombie: a worker killed with its fork server waits for init to reap
    it, and its folder is as orphaned as if it were gone)."""
    try:
        fields = stat_fields(pid)
    except OSError:
        return None
    if finished(fields):
        return None
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def _machine() -> str:
    """This machine: its machine id (systemd's, absent in some containers) and host name
    (alone not unique: two hosts may share one; with the id, a cloned image's hosts differ)."""
    try:
        with open("/etc/machine-id") as found:
            machine_id = found.read().strip()
    except OSError:
        machine_id = ""
    return f"{machine_id}/{socket.gethostname()}"


def this_process() -> Owner | None:
    """This process as an ``Owner``; None where ``/proc`` cannot tell (not Linux)."""
    ticks = _start_ticks("self")
    try:
        with open("/proc/sys/kernel/random/boot_id") as boot:
            boot_id = boot.read().strip()
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        return None
    if ticks is None or not boot_id:
        return None
    return Owner(_machine(), boot_id, namespace, os.getpid(), ticks)


def make_folder(prefix: str, directory: str | None = None) -> str:
    """A new temporary folder (``tempfile.mkdtemp``) with its owner marker. Raises
    ``OSError`` as ``mkdtemp`` does, and when the marker cannot be written; nothing is left
    behind then, nor on Ctrl-C between the two (a folder without a marker is never swept).
    ``prefix`` starts with ``PREFIX``: ``sweep`` looks at no other name."""
    if not prefix.startswith(PREFIX):
        raise ValueError(f"a pcapline temporary folder's name starts with {PREFIX!r}: {prefix!r}")
    folder = tempfile.mkdtemp(prefix=prefix, dir=directory)
    try:
        owner = this_process()
        if owner is not None:  # else nothing to mark it with: never swept
            with open(os.path.join(folder, OWNER_FILE), "w") as marker:
                json.dump(dataclasses.asdict(owner), marker)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder


@contextlib.contextmanager
def folder_for_a_while(prefix: str, directory: str | None = None) -> Iterator[str]:
    """``make_folder``'s folder, removed when the block ends (as
    ``tempfile.TemporaryDirectory``, with the owner marker a killed run's folder needs)."""
    folder = make_folder(prefix, directory)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _marked_owner(folder: str) -> Owner | None:
    """The owner a folder's marker names; None without a readable, well-formed marker."""
    try:
        with open(os.path.join(folder, OWNER_FILE)) as marker:
            fields = json.load(marker)
        owner = Owner(**fields)
    except (OSError, ValueError, TypeError):  # unreadable, not JSON, other or missing keys
        return None
    texts = (owner.machine, owner.boot_id, owner.pid_namespace)
    if not all(type(n) is int for n in (owner.pid, owner.start_ticks)) or not all(
        type(t) is str for t in texts
    ):
        return None  # a value of the wrong type: not a marker of ours
    return owner


def owner_state(owner: Owner, here: Owner) -> OwnerState:
    """Is ``owner`` still running, as seen from ``here`` (this process)?"""
    if owner.boot_id != here.boot_id:
        if owner.machine != here.machine:
            return OwnerState.UNKNOWN  # another machine (shared storage), or cannot tell
        return OwnerState.GONE  # this machine rebooted since: every process of then is gone
    # The same boot: the same kernel, whatever the container (a machine id or host name of
    # its own). Its pids are this pid namespace's, or mean nothing here.
    if owner.pid_namespace != here.pid_namespace:
        return OwnerState.UNKNOWN
    # (Start ticks count from boot in the reader's time namespace: one in another time
    # namespace is a container's, with a pid namespace of its own, so UNKNOWN above.)
    ticks = _start_ticks(owner.pid)
    if ticks is None:
        return OwnerState.GONE
    # The same pid started at another time: the pid was reused after the owner died.
    return OwnerState.ALIVE if ticks == owner.start_ticks else OwnerState.GONE


def _size(folder: str) -> int:
    """Bytes the folder's files take on disk (as ``du``)."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
    return total


def sweep(directory: str | None = None) -> Swept:
    """Remove from ``directory`` (default: the system's temporary folder) pcapline's folders
    whose owner process is gone (module docstring). Never raises: a folder that cannot be
    read or removed is left as it is."""
    where = directory if directory is not None else tempfile.gettempdir()
    here = this_process()
    folders = size = 0
    if here is None:
        return Swept(where, 0, 0)
    uid = os.getuid()
    try:
        entries = list(os.scandir(where))
    except OSError:
        return Swept(where, 0, 0)
    for entry in entries:
        if not entry.name.startswith(PREFIX):
            continue
        try:
            if (
                not entry.is_dir(follow_symlinks=False)
                or entry.stat(follow_symlinks=False).st_uid != uid
            ):
                continue
        except OSError:
            continue
        owner = _marked_owner(entry.path)
        if owner is None or owner_state(owner, here) is not OwnerState.GONE:
            continue
        taken = _size(entry.path)
        shutil.rmtree(entry.path, ignore_errors=True)
        if not os.path.lexists(entry.path):
            folders += 1
            size += taken
    return Swept(where, folders, size)
