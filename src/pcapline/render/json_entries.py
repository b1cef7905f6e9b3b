"""The JSON document's connection entries on the bounded-memory path (bounded.py): laid out
where each partition was analysed, kept as UTF-8 bytes, written in id order.

A partition's entries are two files: their bytes one after another in id order, and an
index (their ids and where each ends). ``Merge`` puts every partition's entries in id order
and knows where each one is in its file and where it goes in the document. A partition's
entries between two ids lie next to each other in its file, so a piece of the document is
read as one span per partition and written out without ever becoming Python text: no
unpickling, no re-encoding (the 30 M-packet capture's 2.2 GB of entries took 9 s that way,
most of the parent's time after its workers were done).

Written to a regular file (``-o FILE``, or standard output redirected to one), the pieces go
where they belong (``os.pwritev``) from several threads at once; the reads and writes let go
of the GIL. Anywhere else (a pipe, a terminal, a ``StringIO``) they go out in order.
"""

from __future__ import annotations

import fcntl
import itertools
import os
import stat
import threading
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, TextIO

import numpy as np

from pcapline.render.jsondoc import Outline

#: Bytes of entries read and written at a time by one writer (a little more for an entry
#: bigger than this: a giant connection's entry is never cut).
PIECE_BYTES = 8 << 20

#: Buffers per ``os.pwritev`` call (Linux's IOV_MAX).
_IOV_MAX = 1024


@dataclass(frozen=True, slots=True)
class Entries:
    """One partition's entries: ``data[ends[k - 1]:ends[k]]`` is connection ``ids[k]``'s."""

    ids: np.ndarray  # int64, ascending
    ends: np.ndarray  # int64
    data: bytes

    @classmethod
    def of_texts(cls, ids: np.ndarray, texts: Sequence[str]) -> Entries:
        """The entries ``texts`` (laid out, by id) of the connections ``ids``."""
        encoded = [text.encode() for text in texts]
        sizes = np.fromiter((len(b) for b in encoded), np.int64, len(encoded))
        return cls(np.asarray(ids, np.int64), np.cumsum(sizes), b"".join(encoded))

    def save(self, path: str) -> None:
        """Its bytes to ``path``, its index beside them (``Merge.of`` reads both)."""
        with open(path, "wb") as f:
            f.write(self.data)
        with open(_index(path), "wb") as f:
            np.save(f, np.stack([self.ids, self.ends]))


def _index(path: str) -> str:
    return path + ".index"


@dataclass(frozen=True, slots=True)
class Merge:
    """Every partition's entries (``Entries.save`` files) in id order: entry k is bytes
    ``start[k]:end[k]`` of file ``paths[part[k]]``."""

    paths: list[str]
    part: np.ndarray  # int64
    start: np.ndarray  # int64
    end: np.ndarray  # int64
    #: ``before[k]``: bytes of the entries before entry k (``before[-1]``: all of them).
    before: np.ndarray

    @classmethod
    def of(cls, paths: Sequence[str]) -> Merge:
        ids, part, start, end = [], [], [], []
        for number, path in enumerate(paths):
            with open(_index(path), "rb") as f:
                own_ids, ends = np.load(f)
            ids.append(own_ids)
            part.append(np.full(len(own_ids), number, np.int64))
            start.append(ends - np.diff(ends, prepend=0))  # none for an empty partition
            end.append(ends)
        if not paths:
            ids = part = start = end = [np.zeros(0, np.int64)]
        by_id = np.argsort(np.concatenate(ids), kind="stable")
        starts, ends = np.concatenate(start)[by_id], np.concatenate(end)[by_id]
        before = np.concatenate([[0], np.cumsum(ends - starts)]).astype(np.int64)
        return cls(list(paths), np.concatenate(part)[by_id], starts, ends, before)

    def __len__(self) -> int:
        return len(self.part)

    def pieces(self, lo: int, hi: int, *, size: int = 0) -> list[tuple[int, int]]:
        """Entries ``lo:hi`` cut into runs of about ``size`` bytes (``PIECE_BYTES`` when 0; at
        least one entry each)."""
        size = size or PIECE_BYTES
        return self._cut(lo, hi, np.arange(int(self.before[lo]) + size, int(self.before[hi]), size))

    def shares(self, writers: int) -> list[tuple[int, int]]:
        """Every entry, cut into at most ``writers`` runs of about equal bytes."""
        total = int(self.before[-1])
        return self._cut(0, len(self), np.array([total * k // writers for k in range(1, writers)]))

    def _cut(self, lo: int, hi: int, marks: np.ndarray) -> list[tuple[int, int]]:
        """Entries ``lo:hi`` cut at the first entry starting at or after each byte mark."""
        if lo >= hi:
            return []
        cuts = np.clip(np.searchsorted(self.before, marks), lo + 1, hi).tolist()
        return list(itertools.pairwise(sorted({lo, hi, *cuts})))

    def buffers(self, lo: int, hi: int, files: Sequence[int], sep: bytes) -> list[Any]:
        """Entries ``lo:hi`` as the document holds them, each after ``sep`` but the first
        entry of all: buffers in order, read one span per partition from ``files`` (its
        open descriptors)."""
        part = self.part[lo:hi]
        spans: dict[int, memoryview] = {}
        first: dict[int, int] = {}
        for number in np.unique(part).tolist():
            mine = np.flatnonzero(part == number)
            at, to = int(self.start[lo + mine[0]]), int(self.end[lo + mine[-1]])
            spans[number] = memoryview(_read(files[number], to - at, at))
            first[number] = at
        out: list[Any] = []
        rows = zip(part.tolist(), self.start[lo:hi].tolist(), self.end[lo:hi].tolist(), strict=True)
        for number, at, to in rows:
            if out or lo:
                out.append(sep)
            span, base = spans[number], first[number]
            out.append(span[at - base : to - base])
        return out


def write(out: TextIO, merge: Merge, around: Outline, *, writers: int = 1) -> None:
    """The document (``around`` the entries of ``merge``) to ``out``: where ``out`` is a
    regular file, written in place by up to ``writers`` threads; elsewhere in order."""
    fd = _positional(out)
    files = [os.open(path, os.O_RDONLY) for path in merge.paths]
    try:
        if fd is None:
            _write_in_order(out, merge, around, files)
        else:
            out.flush()  # what the text layer holds goes first
            _write_in_place(fd, merge, around, files, writers)
    finally:
        for f in files:
            os.close(f)


def _positional(out: TextIO) -> int | None:
    """``out``'s descriptor when bytes can be written anywhere in it: a regular file not
    opened to append (Linux's ``pwrite`` appends whatever the offset in that mode)."""
    try:
        fd = out.fileno()
    except (AttributeError, OSError, ValueError):  # StringIO: io.UnsupportedOperation
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode) or fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_APPEND:
        return None
    return fd


def _write_in_order(out: TextIO, merge: Merge, around: Outline, files: Sequence[int]) -> None:
    sep = around.sep.encode()
    out.write(around.head + ("[" if len(merge) else "[]"))
    binary = getattr(out, "buffer", None)
    if binary is not None:
        out.flush()  # what the text layer holds goes first
    for lo, hi in merge.pieces(0, len(merge)):
        data = b"".join(merge.buffers(lo, hi, files, sep))
        if binary is None:
            out.write(data.decode())
        else:
            binary.write(data)
    out.write((around.close if len(merge) else "") + around.tail)


def _write_in_place(
    fd: int, merge: Merge, around: Outline, files: Sequence[int], writers: int
) -> None:
    """The document at ``fd``'s position: its head and tail from here, its entries by
    ``writers`` threads, each a run of entries of about equal bytes; then ``fd``'s position
    at its end (what a write of it in order would leave)."""
    sep = around.sep.encode()
    n = len(merge)
    head = (around.head + ("[" if n else "[]")).encode()
    tail = ((around.close if n else "") + around.tail).encode()
    base = os.lseek(fd, 0, os.SEEK_CUR)
    entries_at = base + len(head)

    def at(k: int) -> int:
        """Where entry k (its separator first, but for the first entry) goes."""
        return entries_at + int(merge.before[k]) + max(k - 1, 0) * len(sep)

    end = at(n)  # after the last entry
    _pwrite_all(fd, [head], base)
    stop = threading.Event()

    def run(lo: int, hi: int) -> None:
        for a, b in merge.pieces(lo, hi):
            if stop.is_set():
                return
            _pwrite_all(fd, merge.buffers(a, b, files, sep), at(a))

    shares = merge.shares(max(1, writers))
    with ThreadPoolExecutor(max_workers=len(shares) or 1) as pool:
        futures = [pool.submit(run, lo, hi) for lo, hi in shares]
        try:
            wait(futures, return_when=FIRST_EXCEPTION)
            for future in futures:
                future.result()
        except BaseException:  # Ctrl-C or a failed write: the others stop at their next piece
            stop.set()
            raise
    _pwrite_all(fd, [tail], end)
    os.lseek(fd, end + len(tail), os.SEEK_SET)


def _read(fd: int, size: int, offset: int) -> bytes:
    data = os.pread(fd, size, offset)
    while len(data) < size:  # a regular file reads short only at its end: never, here
        more = os.pread(fd, size - len(data), offset + len(data))
        if not more:
            raise OSError(f"an entries file ended early ({len(data)} of {size} bytes)")
        data += more
    return data


def _pwrite_all(fd: int, buffers: Sequence[Any], offset: int) -> None:
    """``buffers`` one after another at ``offset``, in calls of at most IOV_MAX buffers."""
    for k in range(0, len(buffers), _IOV_MAX):
        group = buffers[k : k + _IOV_MAX]
        size = sum(len(b) for b in group)
        done = os.pwritev(fd, group, offset)
        if done < size:  # short (a signal, a full disk on the next call): the rest in one
            rest = memoryview(b"".join(group))[done:]
            while len(rest):
                written = os.pwrite(fd, rest, offset + done)
                rest, done = rest[written:], done + written
        offset += size
