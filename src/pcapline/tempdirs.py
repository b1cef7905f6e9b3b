"""tempdirs: pcapline's temporary folders, and those of runs that were killed.

A run removes its own folders (the memory-bounded path's work folder, the worker pool's results
folder) on success, error, Ctrl-C, SIGTERM and SIGHUP. A SIGKILL (the OOM killer's signal) gives
it no chance: the folder stays in ``$TMPDIR`` (or ``--spill-dir``), holding a split copy of the
capture, and the next run may find the disk full. So every folder is made with an owner marker
(``OWNER_FILE``: the pid of the process that made it, that process's start time, the boot and
the pid namespace), and the command line sweeps the folder it is about to use before it starts
(``sweep``): a folder of ours, owned by this user, whose marker names a process that is gone
(no such pid, the pid reused by a process started at another time, or another boot) is removed.

Anything less certain is kept: a folder without a marker (an older pcapline's, or one whose
marker is not written yet), another user's, a symlink, a marker from another pid namespace (a
container sharing ``/tmp``: its pids mean nothing here), a live owner; and everything where
``/proc`` cannot tell (not Linux).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from enum import Enum

#: Names of the folders pcapline makes (``tempfile.mkdtemp`` prefixes: ``pcapline-``,
#: ``pcapline-results-``, ``pcapline-spill-``): only these are ever swept.
PREFIX = "pcapline-"
#: The marker inside each folder, naming its owner.
OWNER_FILE = ".owner"


@dataclass(frozen=True, slots=True)
class Owner:
    """A process, as ``/proc`` tells it apart from every other (a pid alone is reused)."""

    pid: int
    start_ticks: int  # /proc/PID/stat field 22: clock ticks after boot when it started
    boot_id: str  # /proc/sys/kernel/random/boot_id
    pid_namespace: str  # readlink /proc/self/ns/pid, e.g. "pid:[4026531836]"


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
    """The process's start time (/proc/PID/stat field 22), None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            text = stat.read()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces or ')': the fields
    # after its last ')' start at field 3.
    fields = text[text.rfind(b")") + 2 :].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


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
    return Owner(os.getpid(), ticks, boot_id, namespace)


def make_folder(prefix: str, directory: str | None = None) -> str:
    """A new temporary folder (``tempfile.mkdtemp``) with its owner marker. Raises
    ``OSError`` as ``mkdtemp`` does, and when the marker cannot be written (nothing is left
    behind then)."""
    folder = tempfile.mkdtemp(prefix=prefix, dir=directory)
    owner = this_process()
    if owner is None:
        return folder  # nothing to mark it with: never swept
    try:
        with open(os.path.join(folder, OWNER_FILE), "w") as marker:
            json.dump(
                {
                    "pid": owner.pid,
                    "start_ticks": owner.start_ticks,
                    "boot_id": owner.boot_id,
                    "pid_namespace": owner.pid_namespace,
                },
                marker,
            )
    except OSError:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder


def _marked_owner(folder: str) -> Owner | None:
    """The owner a folder's marker names; None without a readable, well-formed marker."""
    try:
        with open(os.path.join(folder, OWNER_FILE)) as marker:
            fields = json.load(marker)
        return Owner(
            int(fields["pid"]),
            int(fields["start_ticks"]),
            str(fields["boot_id"]),
            str(fields["pid_namespace"]),
        )
    except (OSError, ValueError, TypeError, KeyError):
        return None


def owner_state(owner: Owner, here: Owner) -> OwnerState:
    """Is ``owner`` still running, as seen from ``here`` (this process)?"""
    if owner.boot_id != here.boot_id:
        return OwnerState.GONE  # the machine rebooted since: every process of then is gone
    if owner.pid_namespace != here.pid_namespace:
        return OwnerState.UNKNOWN  # its pid names another process here, or none
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
