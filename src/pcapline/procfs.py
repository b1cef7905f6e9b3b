"""What Linux's ``/proc`` says about a process, read one way for every caller (``tempdirs``:
who owns a work folder; ``workers``: whether a worker is still running)."""

from __future__ import annotations


def stat_fields(pid: int | str) -> list[bytes]:
    """``/proc/PID/stat``'s fields from field 3 (the state) on: ``[0]`` the state, ``[6]``
    the flags, ``[19]`` the start time in clock ticks after boot. The command name (field
    2) is in parentheses and may hold spaces or ')': the fields after its last ')' are
    these. An ``OSError`` as ``open`` raises it (``FileNotFoundError``: no such process)."""
    with open(f"/proc/{pid}/stat", "rb") as stat:
        text = stat.read()
    return text[text.rfind(b")") + 2 :].split()


#: ``/proc/PID/stat``'s flag of a process on its way out (the kernel's PF_EXITING).
PF_EXITING = 0x4


def finished(fields: list[bytes]) -> bool:
    """Is the process of these ``stat_fields`` done: a zombie waiting to be reaped (its
    parent gone, it waits for init), dead, or on its way out? It runs no more code."""
    try:
        return fields[0] in (b"Z", b"X") or bool(int(fields[6]) & PF_EXITING)
    except (IndexError, ValueError):
        return False
