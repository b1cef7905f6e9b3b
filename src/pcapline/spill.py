"""Read and decode a capture of any size in bounded memory, its rows split into partitions
on disk: the streaming ``PartitionedCapture`` (partitioned.py) of the bounded-memory engine.

    source --(windows of a few tens of MB)--> records --> decode --> rows --> partition files

The source is read one window at a time with ``os.pread`` into one reused buffer (never
mapped: a mapped file counts in RSS as its pages are touched), so peak memory is a window
and its decoded rows whatever the capture's size. Compressed input, stdin and FIFOs are
first streamed onto disk (``read.open.open_source_file``), in bounded pieces. The record
walkers (``read.pcap.PcapWalker``, ``read.pcapng.PcapngWalker``) carry what a file's
header, sections and interfaces say from window to window and leave a record cut by the
window's end to the next one; they are the very code ``read_capture`` runs over one window
holding the whole file, so the frames, frame numbers, times and warnings are the same.

Each window's frames are decoded as a chunk ``Capture`` (frame numbers continue, offsets
relative to the window), placed with ``partitioned.table_partitions`` and appended to one
spill file per partition (segments) and one per partition (ICMP errors). A spill file is a
sequence of blocks, one per window that gave the partition rows::

    int64 rows | each column in schema order, written the smallest of four ways for its
                 values in this block (spill_format.py: raw, one constant, narrowed to
                 offsets from the minimum, or sparse rows apart from it)

(a private format: numpy buffers out with a plain ``write``, back with ``frombuffer``.
Measured on 1.28 M bench rows in 32 partitions: raw columns were written in 0.84 s where
Arrow IPC streams take 1.3 s and pickled frames 1.0 s; read back in 0.27 s, Arrow 0.14 s
with its thread pool, pickle 0.75 s. Writing is the part every row pays while reading the
capture, and the columns' packing halves what is written.)
Everything lives in one temporary directory, removed on ``close`` and whenever building
fails (error, Ctrl-C).
"""

from __future__ import annotations

import errno
import os
import shutil
import struct
import tempfile
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from types import TracebackType
from typing import BinaryIO

import numpy as np
import pandas as pd

from pcapline import spill_format
from pcapline.decode import REASON_NAMES, Decoded, Defragmenter, decode, linktype_name
from pcapline.decode.icmp import ICMP_COLUMNS
from pcapline.errors import CaptureError, SpillUnavailable
from pcapline.model import SEGMENT_COLUMNS, CaptureInfo, SkipReason
from pcapline.partitioned import PLACEMENT_COLUMNS, table_partitions
from pcapline.quality import ReadQuality
from pcapline.read.capture import BackwardSteps, Capture
from pcapline.read.open import (
    TELL_BYTES,
    SourceFile,
    Unpacked,
    not_a_capture,
    open_source_file,
    source_shrank,
)
from pcapline.read.pcap import PcapWalker, Records, is_pcap, pcap_header
from pcapline.read.pcapng import MAX_BLOCK_LEN, PcapngWalker, is_pcapng
from pcapline.tempdirs import make_folder

__all__ = ["DEFAULT_WINDOW_BYTES", "SpilledCapture", "spill_capture"]

#: Bytes of the source read per window: large enough that the per-window costs (a decode
#: call, one write per partition) vanish, small enough that a window and its decoded rows
#: stay a few hundred MB at most.
DEFAULT_WINDOW_BYTES = 32 << 20
#: The smallest window (tests use tiny windows to put boundaries everywhere); a window grows
#: past ``window_bytes`` only as far as one record / block needs.
MIN_WINDOW_BYTES = 64

SEGMENT_SCHEMA: dict[str, str] = {**SEGMENT_COLUMNS, **PLACEMENT_COLUMNS}

#: ``progress(bytes_read, bytes_total)``: called after every window of the source.
Progress = Callable[[int, int], None]


class _PartitionFiles:
    """One append-only spill file per partition for one table (the block format above)."""

    def __init__(self, directory: str, name: str, count: int, schema: dict[str, str]) -> None:
        self.paths = [os.path.join(directory, f"{name}-{n:05d}.bin") for n in range(count)]
        self.schema = schema
        self.rows = [0] * count

    def append(self, table: Mapping[str, np.ndarray], part: np.ndarray) -> None:
        """Append each row of ``table`` (schema name -> column) to its partition's file
        (``part``: row -> partition number)."""
        if not len(part):
            return
        # Partition numbers in the narrowest type that holds them: numpy's stable sort of
        # 8- and 16-bit integers is a radix sort, about 5x faster on a window's rows than its
        # merge sort of int64 (frame order is kept inside a partition either way).
        numbers = part.astype(np.min_scalar_type(max(len(self.rows) - 1, 0)))
        order = np.argsort(numbers, kind="stable")
        bounds = np.searchsorted(numbers[order], np.arange(len(self.rows) + 1))
        columns = [np.asarray(table[name])[order] for name in self.schema]
        for number in np.flatnonzero(np.diff(bounds)).tolist():
            lo, hi = int(bounds[number]), int(bounds[number + 1])
            pieces = [struct.pack("<q", hi - lo)]
            for values, dtype in zip(columns, self.schema.values(), strict=True):
                pieces.extend(spill_format.encode(values[lo:hi], dtype))
            with open(self.paths[number], "ab") as out:
                out.write(b"".join(pieces))
            self.rows[number] += hi - lo

    def read(self, number: int) -> pd.DataFrame:
        """Every row of partition ``number``, in the order appended, index 0..n-1."""
        total = self.rows[number]
        columns = {name: np.empty(total, dtype) for name, dtype in self.schema.items()}
        if total:
            with open(self.paths[number], "rb") as spilled:
                blob = memoryview(spilled.read())
            pos = at = 0
            while pos < len(blob):
                rows = struct.unpack_from("<q", blob, pos)[0]
                pos += 8
                if rows <= 0 or at + rows > total:
                    raise ValueError(f"spill file {self.paths[number]}: a block of {rows} rows")
                for name, dtype in self.schema.items():
                    pos = spill_format.decode(blob, pos, rows, dtype, columns[name][at : at + rows])
                at += rows
            if at != total:
                raise ValueError(f"spill file {self.paths[number]}: {at} rows of {total}")
        # One block per column, no copy (a text column stays object, not pandas' str).
        return pd.DataFrame(
            {
                name: values if dtype != "object" else pd.Series(values, dtype=object)
                for (name, dtype), values in zip(self.schema.items(), columns.values(), strict=True)
            },
            copy=False,
        )


@dataclass(eq=False)
class SpilledCapture:
    """``PartitionedCapture`` whose partitions are files in ``directory`` (a context manager:
    leaving it removes them)."""

    count: int
    info: CaptureInfo
    read: ReadQuality
    last_frame_ns: int
    #: The temporary directory holding the partition files (and the decompressed source).
    directory: str
    source: SourceFile
    _segments: _PartitionFiles
    _icmp: _PartitionFiles
    closed: bool = field(default=False)

    @property
    def segment_rows(self) -> list[int]:
        """How many segment rows each partition holds (to schedule the big ones first)."""
        return list(self._segments.rows)

    def segments(self, number: int) -> pd.DataFrame:
        return self._segments.read(number)

    def icmp(self, number: int) -> pd.DataFrame:
        return self._icmp.read(number)

    def payload(self, at: int, length: int) -> bytes:
        return self.source.read_at(at, length)

    def payload_file(self) -> int | None:
        return self.source.file.fileno()

    def source_unchanged(self) -> None:
        self.source.check_unchanged()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.source.close()
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> SpilledCapture:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def spill_capture(
    source: str | os.PathLike[str] | BinaryIO,
    count: int,
    *,
    directory: str | os.PathLike[str] | None = None,
    window_bytes: int = DEFAULT_WINDOW_BYTES,
    progress: Progress | None = None,
    write_behind: bool = False,
    unpacked: Unpacked | None = None,
    recount: Callable[[int], int] | None = None,
) -> SpilledCapture:
    """Read and decode ``source`` a window at a time into ``count`` partitions on disk, in a
    new temporary directory under ``directory`` (default: tempfile's); with
    ``write_behind`` a window's rows are written on a thread of its own while the next
    window is read and decoded (``_WriteBehind``: two cores busy, not one). ``progress``:
    the bytes read of the source after each window; ``unpacked``: the bytes of a compressed
    or streamed source written to disk before that (``open_source_file``). Raises what
    ``read_capture`` raises for the same input; a disk that is full or not writable is a
    ``PcaplineError`` naming the directory. Nothing is left on disk when this raises.
    ``recount(size)``: the partitions a source of ``size`` bytes needs, asked again once a
    compressed or streamed source is on disk (its size was a guess, or unknown: a gzip
    bomb's few MB hold GBs, and a partition holding GBs is no bounded memory); ``count``
    is raised to it."""
    where = os.fspath(directory) if directory is not None else tempfile.gettempdir()
    try:
        spill_dir = make_folder("pcapline-spill-", where)
    except OSError as exc:
        raise cannot_create_spill(where, exc) from None
    try:
        src = open_source_file(source, spill_dir, unpacked)
        if recount is not None and src.spilled is not None:
            count = max(count, recount(src.size))
        try:
            return _spill(
                src,
                max(1, count),
                spill_dir,
                max(window_bytes, MIN_WINDOW_BYTES),
                progress,
                _WriteBehind(write_behind),
            )
        except BaseException:
            src.close()
            raise
    except OSError as exc:
        shutil.rmtree(spill_dir, ignore_errors=True)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise no_space_for_spill(where) from None
        if exc.errno in (errno.EACCES, errno.EROFS, errno.EPERM):
            raise SpillUnavailable(f"cannot write spill files in {where}: {_why(exc)}") from None
        raise
    except BaseException:
        shutil.rmtree(spill_dir, ignore_errors=True)
        raise


def cannot_create_spill(where: str, exc: OSError) -> SpillUnavailable:
    """The one line for a spill folder that cannot be made (no permission, missing, full)."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return no_space_for_spill(where)
    return SpillUnavailable(
        f"cannot create spill files in {where}: {_why(exc)} (use --spill-dir DIR on a disk "
        "you can write to)"
    )


#: The spill files take at most about this many times the capture's size: a capture of
#: minimal frames whose every column varies. Real traffic packs smaller (spill_format.py):
#: 0.54 times on the real-kernel bench capture of small IPv4 frames.
SPILL_RATIO = 1.5


def no_space_for_spill(where: str) -> SpillUnavailable:
    """The one line for a spill folder whose disk filled up, saying what to do."""
    return SpillUnavailable(
        f"no space left in {where} for the spill files of the capture (they take up to about "
        f"{SPILL_RATIO:g} times the capture's size: free space there, or use --spill-dir DIR "
        "on a bigger disk)"
    )


def _why(exc: OSError) -> str:
    return (exc.strerror or str(exc)).lower()


@dataclass
class _Totals:
    """The whole file's facts, accumulated window by window (``capture_info`` / ``read_quality``
    of the whole capture at the end)."""

    frames: int = 0
    tcp_frames: int = 0
    icmp_frames: int = 0
    first_ns: int | None = None
    last_ns: int | None = None
    skipped: dict[str, int] = field(default_factory=dict)
    link_types: list[str] = field(default_factory=list)
    cut_by_snaplen: int = 0
    #: The largest captured length of a frame the snaplen cut inside its TCP header
    #: (``analysis.tcp_cut_length``), None while there is none.
    tcp_cut_at: int | None = None
    backwards: BackwardSteps = field(default_factory=BackwardSteps)
    #: IP fragments still waiting for their other pieces, carried into the next window.
    fragments: Defragmenter = field(default_factory=Defragmenter)

    def add(self, records: Records, decoded: Decoded) -> None:
        n = len(records.offset)
        self.frames += n
        self.backwards.add(records.time_ns)
        timed = records.time_ns[:-1] if records.last_time_unknown else records.time_ns
        if len(timed):
            low, high = int(timed.min()), int(timed.max())
            self.first_ns = low if self.first_ns is None else min(self.first_ns, low)
            self.last_ns = high if self.last_ns is None else max(self.last_ns, high)
        whole = n - records.truncated_records
        self.cut_by_snaplen += int(
            np.count_nonzero(records.caplen[:whole] < records.origlen[:whole])
        )
        for reason, k in decoded.skipped.items():
            self.skipped[reason] = self.skipped.get(reason, 0) + k
        if decoded.skipped.get(SkipReason.TRUNCATED_TCP_HEADER.value):
            from pcapline.analysis import tcp_cut_length

            cut = tcp_cut_length(records.caplen, records.origlen, decoded.frame_reason)
            if cut is not None:
                self.tcp_cut_at = max(cut, self.tcp_cut_at or 0)
        if decoded.reassembled_earlier:  # fragments of earlier windows, now in a packet
            self._reassembled(decoded.reassembled_earlier)
        self.link_types += [name for name in decoded.link_types if name not in self.link_types]

    def _reassembled(self, frames: int) -> None:
        """``frames`` counted as ``ip_fragment`` in an earlier window made a packet since."""
        was, now = SkipReason.IP_FRAGMENT.value, SkipReason.IP_FRAGMENT_REASSEMBLED.value
        self.skipped[was] -= frames
        self.skipped[now] = self.skipped.get(now, 0) + frames


def _spill(
    src: SourceFile,
    count: int,
    spill_dir: str,
    window_bytes: int,
    progress: Progress | None,
    behind: _WriteBehind,
) -> SpilledCapture:
    path = src.path
    fmt, walker = record_walker(src)
    segments = _PartitionFiles(spill_dir, "segments", count, SEGMENT_SCHEMA)
    icmp = _PartitionFiles(spill_dir, "icmp", count, ICMP_COLUMNS)
    totals = _Totals()
    records = None
    try:
        for records, window, base in read_windows(src, walker, window_bytes, progress):
            if len(records.offset):
                behind.run(_place(fmt, path, records, window, base, totals, segments, icmp, count))
        behind.wait()
    finally:
        behind.stop()
    assert records is not None  # read_windows yields at least once
    backwards = totals.backwards.warning()
    declared = dict.fromkeys(linktype_name(t) for t in records.declared_link_types)
    info = CaptureInfo(
        path=str(path),
        format=fmt,
        link_types=totals.link_types or list(declared),
        frames=totals.frames,
        tcp_frames=totals.tcp_frames,
        icmp_frames=totals.icmp_frames,
        first_time_ns=totals.first_ns,
        last_time_ns=totals.last_ns,
        skipped={
            name: totals.skipped[name] for name in REASON_NAMES.values() if totals.skipped.get(name)
        },
        warnings=src.warnings + records.warnings + ([backwards] if backwards else []),
    )
    from pcapline.analysis import tcp_header_cut_warning

    info.warnings.extend(tcp_header_cut_warning(info.skipped, totals.tcp_cut_at))
    read = ReadQuality(
        records.snaplen,
        totals.cut_by_snaplen,
        records.if_drops,
        records.os_drops,
        records.truncated_records > 0,  # the last window's: where the file ends
    )
    return SpilledCapture(
        count=count,
        info=info,
        read=read,
        last_frame_ns=totals.last_ns or 0,
        directory=spill_dir,
        source=src,
        _segments=segments,
        _icmp=icmp,
    )


def record_walker(src: SourceFile) -> tuple[str, PcapWalker | PcapngWalker]:
    """The file format ("pcap" / "pcapng") and a walker for its records; the errors of
    ``read_capture`` for an empty file, a file of neither format or a bad pcap header."""
    if src.size == 0:
        raise CaptureError(f"{src.path}: empty file")
    head = np.frombuffer(src.read_at(0, TELL_BYTES), np.uint8)
    magic = head[:8].tobytes()
    if is_pcap(magic):
        return "pcap", PcapWalker(pcap_header(head, src.path), src.path)
    if is_pcapng(magic):
        return "pcapng", PcapngWalker(src.path)
    raise CaptureError(not_a_capture(src.path, head.tobytes()))


def read_windows(
    src: SourceFile,
    walker: PcapWalker | PcapngWalker,
    window_bytes: int,
    progress: Progress | None = None,
) -> Iterator[tuple[Records, np.ndarray, int]]:
    """Walk ``src`` one window at a time: each window's records (offsets relative to the
    window), the window's bytes (a view of one reused buffer, valid until the next window)
    and where it starts in the source. The last one yielded holds the whole file's metadata
    (warnings, declared link types, snaplen, drop counters)."""
    buffer = np.empty(window_bytes, np.uint8)
    pos = 0
    if progress is not None:
        progress(0, src.size)  # the reading starts (after a decompression: its pace from here)
    while True:
        window = _read_window(src, pos, buffer)
        final = pos + len(window) == src.size
        records, used = walker.window(window, pos, final)
        yield records, window, pos
        if progress is not None:
            progress(src.size if final else pos + used, src.size)
        if final or walker.done:
            return
        if used == 0:  # one record / block is bigger than the window: grow it to hold it
            buffer = np.empty(min(2 * len(buffer), MAX_BLOCK_LEN + len(buffer)), np.uint8)
        pos += used


def _read_window(src: SourceFile, pos: int, buffer: np.ndarray) -> np.ndarray:
    """The source's bytes from ``pos`` into ``buffer`` (as many as fit), as a view of it."""
    want = min(len(buffer), src.size - pos)
    view = buffer.data[:want]
    got = 0
    fd = src.file.fileno()
    while got < want:
        n = os.preadv(fd, [view[got:]], pos + got)
        if n == 0:
            raise source_shrank(src.path)
        got += n
    return buffer[:want]


def _place(
    fmt: str,
    path: str,
    records: Records,
    window: np.ndarray,
    base: int,
    totals: _Totals,
    segments: _PartitionFiles,
    icmp: _PartitionFiles,
    count: int,
) -> Callable[[], None]:
    """Decode one window's frames and place its rows in partitions; what is returned
    appends them to their partitions' files (it reads no byte of ``window``: the next
    window may already be in its buffer when it runs)."""
    first_frame = totals.frames + 1
    capture = Capture.of_records(path, fmt, records, window, first_frame)
    decoded = decode(capture, defragmenter=totals.fragments)
    totals.add(records, decoded)
    seg = decoded.segments
    totals.tcp_frames += len(seg)
    totals.icmp_frames += len(decoded.icmp)
    columns = {name: seg[name].to_numpy() for name in SEGMENT_COLUMNS}
    row = columns["frame"] - first_frame
    columns["frame_at"] = base + records.offset[row]
    columns["caplen"] = records.caplen[row]
    segment_parts = table_partitions(seg, "", count)
    errors = decoded.icmp
    error_columns = {name: errors[name].to_numpy() for name in ICMP_COLUMNS}
    error_parts = table_partitions(errors, "q_", count)

    def write() -> None:
        segments.append(columns, segment_parts)
        icmp.append(error_columns, error_parts)

    return write


class _WriteBehind:
    """Runs each window's appends (``_place``'s answer) on a thread of its own while this
    one reads and decodes the next window, or at once when not ``background``. The
    appends (a stable sort by partition, the columns gathered, file writes) and the reading
    and decoding (``pread``, the compiled walk and decode) spend most of their time with
    the GIL released, so the two overlap on two cores: on the 30 M-packet capture
    (3 GB) reading and splitting took about 60 % of the time it takes one after the
    other. At most one window's appends wait: memory holds two windows' rows, not one.
    ``wait`` raises what an append raised; ``stop`` (always called) waits for the one under
    way, so no write outlives the spill folder that an error removes."""

    def __init__(self, background: bool) -> None:
        self.pool: ThreadPoolExecutor | None = None
        if background:
            self.pool = ThreadPoolExecutor(1, thread_name_prefix="pcapline-spill")
        self.pending: Future[None] | None = None

    def run(self, write: Callable[[], None]) -> None:
        if self.pool is None:
            write()
            return
        self.wait()
        self.pending = self.pool.submit(write)

    def wait(self) -> None:
        pending, self.pending = self.pending, None
        if pending is not None:
            pending.result()

    def stop(self) -> None:
        """Wait for the appends under way (on success ``wait`` came first; on an error or
        Ctrl-C their own error no longer matters) and end the thread."""
        if self.pool is not None:
            self.pool.shutdown(wait=True)
