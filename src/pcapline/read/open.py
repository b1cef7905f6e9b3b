"""Open a capture source and hand back its whole content as one numpy byte buffer.

Compression is recognised by its magic bytes, never by the file name (a ``.pcap`` that
is really gzip is common after a careless ``mv``). Uncompressed regular files are
memory-mapped, so a multi-gigabyte capture costs address space, not RAM. Compressed input
is decompressed as a stream, in bounded pieces, into an anonymous temporary file (the OS
removes it whatever happens: success, error, Ctrl-C, SIGKILL) that is then memory-mapped
like a plain capture. Decompression stops at ``max_decompressed()`` bytes (a quarter of the
machine's RAM by default; ``PCAPLINE_MAX_DECOMPRESSED`` or ``--max-decompressed``): a
decompression bomb or a capture too big to analyse gives the analysis of what was read, with
a warning. A damaged or cut compressed tail does the same. Stdin is read into memory once.

``open_source_file`` is the same for the windowed reader (spill.py), with the bytes left on
disk: a plain file is read in place, compressed input is decompressed (same cap, errors and
warnings) and stdin / FIFOs / file objects are copied, in bounded pieces, into a file of the
caller's directory; nothing is memory-mapped, so nothing of the capture counts in RSS.

Only regular files are memory-mapped or read by path; a FIFO is read as a stream when a
writer holds it open (``pcapline analyze <(zcat x.gz)``), and is an error when none does
(a FIFO named ``*.pcap`` would otherwise block forever); devices and sockets are errors.
"""

from __future__ import annotations

import bz2
import errno
import hashlib
import io
import lzma
import mmap
import os
import re
import stat
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, cast

import numpy as np

from pcapline.errors import CaptureError, CompressionError, one_line
from pcapline.fmt import printable
from pcapline.read import native

#: Magic bytes of the compressed containers we open transparently.
COMPRESSION_MAGIC: dict[str, bytes] = {
    "gzip": b"\x1f\x8b",
    "bzip2": b"BZh",
    "xz": b"\xfd7zXZ\x00",
    "zstd": b"\x28\xb5\x2f\xfd",
}

#: Other compressors people try; we name them in the error instead of "not a capture".
UNSUPPORTED_MAGIC: dict[str, bytes] = {
    "lz4": b"\x04\x22\x4d\x18",
    "zip": b"PK\x03\x04",
    "7z": b"7z\xbc\xaf\x27\x1c",
}

#: Other files people attach as captures, by what starts them: what to do instead.
OTHER_FORMATS: tuple[tuple[bytes, str], ...] = (
    (b"GMBU", "a Microsoft Network Monitor capture: convert it with 'editcap -F pcapng IN OUT'"),
    (b"snoop\0\0\0", "a Solaris snoop capture: convert it with 'editcap -F pcapng IN OUT'"),
    (b"\x52\x54\x53\x53", "a Windows Sniffer capture: convert it with 'editcap -F pcapng IN OUT'"),
)
#: Bytes ``not_a_capture`` looks at (a tar header's "ustar" is at byte 257).
TELL_BYTES = 512


def not_a_capture(path: str, head: bytes) -> str:
    """The error for a file that is neither pcap nor pcapng: what it looks like when we can
    tell (another capture format, a tar archive, text such as tcpdump's printed output),
    else its first bytes."""
    what = f"starts with {head[:4].hex()}"
    for magic, words in OTHER_FORMATS:
        if head.startswith(magic):
            what = words
    if head[257:262] == b"ustar":
        what = "a tar archive: extract the capture from it first (tar -xf)"
    elif _is_text(head):
        what = (
            "text, not packets (tcpdump's printed output? write a capture with 'tcpdump -w FILE')"
        )
    return f"{path}: not a pcap or pcapng capture ({what})"


def _is_text(head: bytes) -> bool:
    """Printable ASCII/UTF-8 with line breaks: a log, a listing or an HTML error page."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:
            return False
        text = head[: exc.start].decode("utf-8")  # a character cut where ``head`` ends
    return len(text) >= 16 and all(c.isprintable() or c in "\r\n\t" for c in text)


#: ``unpacked(verb, size)``: the bytes of a compressed or streamed source written to disk so
#: far ("decompressed" or "copied"), called as they are written (a progress line's count).
Unpacked = Callable[[str, int], None]

_CHUNK = 1 << 20
#: Largest piece a decompressor may produce from one call (bounded memory whatever the ratio).
_PIECE = 4 << 20
#: Compressed input fed per call (zstd's output per call is bounded only by its input).
_FEED = 1 << 16
#: Environment variable holding the decompression cap (bytes; K/M/G/T suffixes, powers of 1024).
MAX_DECOMPRESSED_ENV = "PCAPLINE_MAX_DECOMPRESSED"
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
#: The smallest decompression cap taken: below it not even a capture's file header and one
#: record header fit (pcap: 24 + 16 bytes; pcapng: a 28-byte section header and a 20-byte
#: interface block), so a smaller cap could only end in a "header cut short" error that does
#: not say the cap caused it.
MIN_DECOMPRESSED = 64


def parse_size(text: str) -> int:
    """``"4G"`` -> 4 * 2**30 bytes; raises ValueError on anything else."""
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"not a size: {text!r} (e.g. 500M, 4G)")
    scale = 1024 ** " kmgt".index((match.group(2) or " ").lower())
    return int(float(match.group(1)) * scale)


def parse_cap(text: str) -> int:
    """``parse_size`` for the decompression cap: at least ``MIN_DECOMPRESSED`` bytes."""
    cap = parse_size(text)
    if cap < MIN_DECOMPRESSED:
        raise ValueError(
            f"{text.strip()} is less than {MIN_DECOMPRESSED} bytes, too little to hold a "
            "capture's header"
        )
    return cap


def max_decompressed() -> int:
    """The decompression cap in bytes: ``PCAPLINE_MAX_DECOMPRESSED``, else a quarter of RAM.

    The analysis needs several times the capture's size in memory (issue 11 measured about
    470 bytes per packet on top of the bytes), so a decompressed capture beyond a quarter of
    RAM could not be analysed whole anyway; stopping there keeps the machine usable.
    """
    given = os.environ.get(MAX_DECOMPRESSED_ENV)
    if given:
        try:
            return parse_cap(given)
        except ValueError as exc:
            raise CaptureError(f"{MAX_DECOMPRESSED_ENV}: {exc}") from None
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        ram = 16 << 30
    return max(ram // 4, 256 << 20)


def _human(size: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


#: Compression layers opened transparently. A ``.pcap.gz`` compressed again (``gzip -r`` over a
#: folder, a log shipper, a mail gateway) is common and unambiguous from the magic bytes, so we
#: unwrap it rather than make the user do it; the limit stops a crafted file from nesting forever.
MAX_LAYERS = 3


@dataclass
class RawSource:
    """The bytes of a capture source, decompressed."""

    path: str
    data: np.ndarray  # uint8, the whole (decompressed) content
    compression: str | None = None
    warnings: list[str] = field(default_factory=list)


def sniff_compression(head: bytes, path: str) -> str | None:
    """Name of the compression whose magic starts ``head``; None for plain data. A compressor
    we do not open is a CompressionError naming ``path``."""
    for name, magic in COMPRESSION_MAGIC.items():
        if head.startswith(magic):
            return name
    for name, magic in UNSUPPORTED_MAGIC.items():
        if head.startswith(magic):
            raise CompressionError(
                f"{path}: {name}-compressed input is not supported; decompress it first"
            )
    return None


def _decompressor(kind: str) -> Any:
    """A fresh incremental decompressor (one per gzip member / bz2 stream / zstd frame)."""
    if kind == "gzip":
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if kind == "bzip2":
        return bz2.BZ2Decompressor()
    if kind == "xz":
        return lzma.LZMADecompressor()
    import zstandard  # imported lazily: only zstd input needs it

    return zstandard.ZstdDecompressor().decompressobj()


def _finished(dec: Any) -> bool:
    return bool(getattr(dec, "eof", False))


def _pieces(kind: str, dec: Any, data: Any) -> Iterator[bytes]:
    """Decompress one small input in pieces of at most ``_PIECE`` bytes (a bomb never lands
    in RAM)."""
    if kind == "gzip":
        yield dec.decompress(data, _PIECE)
        while dec.unconsumed_tail and not dec.eof:
            yield dec.decompress(dec.unconsumed_tail, _PIECE)
    elif kind in ("bzip2", "xz"):
        yield dec.decompress(data, _PIECE)
        while not dec.eof and not dec.needs_input:
            yield dec.decompress(b"", _PIECE)
    else:  # zstd's decompressobj has no output bound: the small input bounds it
        yield dec.decompress(data)


class _Spill:
    """Decompressed bytes, written to a temporary file: by default an anonymous one (unlinked
    from the start: the OS frees it when the process lets go, whatever the exit) that is then
    memory-mapped; or ``file``, one the caller owns in ``directory`` (``open_source_file``)."""

    def __init__(
        self,
        limit: int,
        file: BinaryIO | None = None,
        directory: str = "",
        unpacked: Unpacked | None = None,
    ) -> None:
        self.file: BinaryIO = file or tempfile.TemporaryFile(prefix="pcapline-")  # noqa: SIM115 - owned here
        self.directory = directory or tempfile.gettempdir()
        self.size = 0
        self.limit = limit
        self.unpacked = unpacked

    def write(self, data: bytes) -> bool:
        """Append ``data``; False once the cap is reached (what fits is kept)."""
        room = self.limit - self.size
        if len(data) > room:
            data = data[:room]
        self.file.write(data)
        self.size += len(data)
        if self.unpacked is not None:
            self.unpacked("decompressed", self.size)
        return self.size < self.limit

    def array(self) -> np.ndarray:
        try:
            self.file.flush()
            if self.size == 0:
                return np.zeros(0, dtype=np.uint8)
            mm = mmap.mmap(self.file.fileno(), 0, access=mmap.ACCESS_READ)
            return np.frombuffer(mm, dtype=np.uint8)  # the mapping keeps the data alive
        finally:
            self.file.close()

    def close(self) -> None:
        self.file.close()


def decompresses_to_at_least(path: str, kind: str, limit: int, budget_s: float = 0.5) -> bool:
    """Does the ``kind``-compressed file at ``path`` decompress to ``limit`` bytes or more?
    Counted, not kept, by the reader's own walk (``_decompress_into``: members, padding,
    trailing data and a damaged tail as it reads them), and only until it does: a few KB of
    a small capture, ``limit`` bytes of a large one; past ``budget_s`` seconds (bzip2 and xz
    give 50-100 MB/s) the ratio so far, times the file's size, answers. Data that cannot be
    read at all answers False (the reader says why)."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as raw:
            count = _Count(limit, budget_s)
            _decompress_into(kind, raw, path, count)
            if count.size >= limit:
                return True
            consumed = raw.tell()
    except (CaptureError, OSError, EOFError, MemoryError):
        return False
    return count.timed_out and count.size * size >= limit * max(consumed, 1)


class _Count(_Spill):
    """A ``_Spill`` that keeps nothing: it counts the decompressed bytes up to ``limit``, for
    ``budget_s`` seconds at most (``decompresses_to_at_least``)."""

    def __init__(self, limit: int, budget_s: float) -> None:
        super().__init__(limit, file=io.BytesIO())
        self.deadline = time.monotonic() + budget_s
        self.timed_out = False

    def write(self, data: bytes) -> bool:
        self.size += len(data)
        if self.size >= self.limit:
            return False
        self.timed_out = time.monotonic() > self.deadline
        return not self.timed_out


def _decompress(kind: str, raw: BinaryIO, path: str) -> RawSource:
    """Decompress ``raw`` into an anonymous temporary file, memory-mapped."""
    out = _Spill(max_decompressed())
    warnings = _decompress_into(kind, raw, path, out)
    return RawSource(path=path, data=out.array(), compression=kind, warnings=warnings)


def _decompress_into(kind: str, raw: BinaryIO, path: str, out: _Spill) -> list[str]:
    """Decompress everything readable into ``out``, chunk by chunk, so a damaged or cut tail
    keeps the data before it (a capture copied while still being written is common).
    Returns the warnings; ``out`` is closed when this raises."""
    limit = out.limit
    warnings: list[str] = []
    dec: Any = None  # None between members: concatenated gzip/bz2/xz/zstd (``cat a.gz b.gz``)
    capped = trailing = False
    magic = COMPRESSION_MAGIC[kind]
    # Where the input stands (offsets in ``raw``), for ``_salvage``: the next byte of
    # ``chunk``, the current member's first byte, the last input fed and the output before it.
    start = raw.tell() if raw.seekable() else None
    at = member_at = feed_at = start or 0
    feed_end = out_before_feed = 0
    try:
        while not capped and not trailing and (block := raw.read(_CHUNK)):
            # Fed in small inputs: damage further on loses only the output of the last input
            # (a decompressor that raises returns nothing of that call; ``_salvage`` then
            # takes that input again a few bytes at a time).
            chunk = memoryview(block)
            while len(chunk) and not capped:
                if dec is None and chunk[0] == 0:
                    # Zero bytes where a member could start are padding (a file copied off a
                    # block device or a tape, or preallocated), never data: no compressed
                    # format starts with one. gzip(1) skips them too.
                    padding = len(chunk) - len(bytes(chunk).lstrip(b"\0"))
                    chunk, at = chunk[padding:], at + padding
                    continue
                if dec is None and out.size and not magic.startswith(bytes(chunk[: len(magic)])):
                    # A whole member, then bytes that cannot start another: trailing data
                    # (a tool's footer, an appended note), not damage. gzip(1) ignores it too.
                    trailing = True
                    break
                if dec is None:
                    dec, member_at = _decompressor(kind), at
                data, chunk = chunk[:_FEED], chunk[_FEED:]
                feed_at, feed_end, out_before_feed = at, at + len(data), out.size
                at = feed_end
                for piece in _pieces(kind, dec, data):
                    if not out.write(piece):
                        capped = True
                        break
                if _finished(dec):  # the next member starts in what this one left
                    left = bytes(dec.unused_data)
                    chunk, dec, at = memoryview(left + bytes(chunk)), None, at - len(left)
        if trailing:
            warnings.append(
                f"{kind} data ends after {out.size} bytes; what follows it is not {kind} data "
                "and was ignored"
            )
        if capped:
            warnings.append(
                f"{kind} data decompresses to more than {_human(limit)} (the "
                f"{MAX_DECOMPRESSED_ENV} / --max-decompressed limit); analysed the first "
                f"{_human(limit)} only"
            )
        elif dec is not None:
            if out.size == 0:
                raise CompressionError(f"{path}: {kind} stream ends before any data")
            warnings.append(
                f"{kind} stream ends early after {out.size} bytes; read what came before"
            )
    except CompressionError:
        out.close()
        raise
    except OSError as exc:
        if exc.errno is not None:
            out.close()
            raise _unwritable(path, out, exc) from None
        damage: Exception = exc  # the bz2 module's "Invalid data stream": damage, not I/O
    except MemoryError:
        out.close()
        raise
    except Exception as exc:
        damage = exc
    else:
        return warnings
    if start is not None:
        try:
            _salvage(kind, raw, (member_at, feed_at, feed_end), out, out_before_feed)
        except OSError as exc:
            out.close()
            raise _unwritable(path, out, exc) from None
    return _damaged(kind, path, out, damage, warnings)


def _unwritable(path: str, out: _Spill, exc: OSError) -> Exception:
    """A failed write of decompressed data: a full disk in one line, else ``exc``."""
    if exc.errno == errno.ENOSPC:
        return CaptureError(
            f"{path}: no space left in {out.directory} for the decompressed "
            "capture (set TMPDIR to a bigger disk, or decompress it first)"
        )
    return exc


#: Input fed per call when ``_salvage`` takes a failed input again: a byte, so the data's
#: last byte comes out before the checksum's first is looked at (64 Ki calls at most, only
#: for a damaged stream).
_SALVAGE_FEED = 1


def _salvage(
    kind: str, raw: BinaryIO, where: tuple[int, int, int], out: _Spill, out_before_feed: int
) -> None:
    """Keep what the input that raised held before its damage. ``where``: the damaged
    member's first byte, then the failed input's first byte and end (offsets in ``raw``).

    A decompressor that raises returns nothing of that call, and the damage is often at the
    very end of a member: a gzip CRC or length, a zstd checksum, an xz index, checked when
    their bytes come in, after every byte of data decompressed fine. So the member is
    decompressed again up to that input (its output, written already, thrown away), then
    that input a byte at a time, writing what comes out past what the failed call had
    written, until it fails again. (libzstd keeps a frame's last block, 128 KiB at most,
    until it has checked the checksum after it: that block is lost.) Only a seekable ``raw``
    (a file, or a layer in memory) is read again. A write that fails (a full disk) raises."""
    member_at, feed_at, feed_end = where
    written = out.size - out_before_feed  # of the failed input's output, before it raised
    try:
        raw.seek(member_at)
        dec = _decompressor(kind)
        left = feed_at - member_at
        while left > 0:
            data = raw.read(min(_FEED, left))
            if not data:
                return
            left -= len(data)
            for _ in _pieces(kind, dec, data):
                pass  # written before
        failed = raw.read(feed_end - feed_at)
        for k in range(0, len(failed), _SALVAGE_FEED):
            for piece in _pieces(kind, dec, failed[k : k + _SALVAGE_FEED]):
                skip = min(written, len(piece))
                written -= skip
                if len(piece) > skip and not out.write(piece[skip:]):
                    return
    except OSError as exc:
        if exc.errno is not None:  # the disk, not the damage
            raise
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception:  # the damage again: what came before it is kept
        return


def _damaged(
    kind: str, path: str, out: _Spill, exc: BaseException, warnings: list[str]
) -> list[str]:
    """The warnings of a stream damaged after ``out.size`` bytes (what came before is kept);
    nothing came before: a CompressionError (``out`` closed)."""
    if out.size == 0:
        out.close()
        raise CompressionError(f"{path}: cannot decompress {kind} data ({_short(exc)})") from None
    warnings.append(
        f"{kind} stream damaged after {out.size} bytes ({_short(exc)}); read what came before"
    )
    return warnings


class _ArrayReader(io.RawIOBase):
    """Read a numpy byte buffer as a stream, without copying it whole (nested layers)."""

    def __init__(self, data: np.ndarray) -> None:
        self._view = data.data
        self._at = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), len(self._view) - self._at)
        buffer[:n] = self._view[self._at : self._at + n]
        self._at += n
        return n

    # Seekable (a buffer in memory): ``_salvage`` reads a damaged inner layer again.
    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._at, io.SEEK_END: len(self._view)}[whence]
        self._at = min(max(base + offset, 0), len(self._view))
        return self._at

    def tell(self) -> int:
        return self._at


def _unwrap(kind: str, raw: BinaryIO, path: str) -> RawSource:
    """Decompress ``raw``, then any compressed layer found inside, up to ``MAX_LAYERS``."""
    source = _decompress(kind, raw, path)
    kinds = [kind]
    while (inner := sniff_compression(source.data[:8].tobytes(), path)) is not None:
        kinds.append(inner)
        if len(kinds) > MAX_LAYERS:
            nested = " inside ".join(reversed(kinds))
            raise CompressionError(
                f"{path}: compressed more than {MAX_LAYERS} times ({nested}); decompress it first"
            )
        layer = _decompress(inner, io.BufferedReader(_ArrayReader(source.data), _CHUNK), path)
        source = RawSource(path, layer.data, warnings=source.warnings + layer.warnings)
    source.compression = "+".join(kinds)
    return source


def _short(exc: BaseException) -> str:
    return one_line(exc)[:120]


def _read_stream(stream: BinaryIO, path: str) -> RawSource:
    head = stream.read(8) or b""
    kind = sniff_compression(head, path)
    rest = _Prefixed(head, stream)
    if kind is not None:
        return _unwrap(kind, rest, path)  # type: ignore[arg-type]
    content = rest.readall()
    return RawSource(path=path, data=np.frombuffer(content, dtype=np.uint8))


class _Prefixed(io.RawIOBase):
    """A non-seekable stream with some already-read bytes put back in front."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self._head = head
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        chunk = self._stream.read(len(buffer))
        if not chunk:
            return 0
        buffer[: len(chunk)] = chunk
        return len(chunk)


def _open_file(path: str) -> RawSource:
    fd, kind_of_file = _open_fd(path)
    if kind_of_file == "fifo":
        with _fifo_stream(fd, path) as fifo:
            return _read_stream(fifo, path)  # type: ignore[arg-type]
    with os.fdopen(fd, "rb") as fh:
        head = fh.read(8)
        kind = sniff_compression(head, path)
        if kind is not None:
            fh.seek(0)
            return _unwrap(kind, fh, path)
        try:
            size = os.fstat(fh.fileno()).st_size
        except OSError:
            size = 0
        if size > 0:
            # mmap: the page cache is the buffer; numpy views it without a copy.
            _say_when_shrunk(path)
            mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
            return RawSource(path=path, data=np.frombuffer(mm, dtype=np.uint8))
        fh.seek(0)
        return _read_stream(fh, path)


def _say_when_shrunk(path: str) -> None:
    """A mapped file cut shorter by its writer while we read it (tcpdump -C/-W rotating its
    ring, logrotate's copytruncate) kills the process with SIGBUS on the next page past its new
    end: with the compiled core, one error line naming the file and exit 2 instead of a bare
    "Bus error" (no Python handler can run there)."""
    if native.active:
        native.core.on_mapped_file_shrunk(
            (
                f"pcapline: error: {printable(path)}: the capture file shrank while it was "
                "being read (rotated or truncated by the program writing it?); copy it and "
                "analyse the copy\n"
            ).encode("utf-8", "backslashreplace")
        )


def _open_fd(path: str) -> tuple[int, str]:
    """A read-only descriptor of ``path`` and its kind ("file" or "fifo"; a FIFO is opened
    without blocking, ``_fifo_stream`` waits for its writer)."""
    kind_of_file = _check_file_kind(path)
    flags = os.O_RDONLY | (os.O_NONBLOCK if kind_of_file == "fifo" else 0)
    try:
        return os.open(path, flags), kind_of_file
    except FileNotFoundError:
        raise CaptureError(f"{path}: no such file") from None
    except PermissionError:
        raise CaptureError(f"{path}: permission denied") from None
    except OSError as exc:
        raise CaptureError(f"{path}: cannot open ({exc.strerror or exc})") from None


def _check_file_kind(path: str) -> str:
    """ "file" or "fifo"; anything else that exists (device, socket) is a CaptureError."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return "file"  # open() below says what is wrong
    if stat.S_ISDIR(mode):
        raise CaptureError(f"{path}: is a directory, not a capture file")
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISFIFO(mode):
        return "fifo"
    raise CaptureError(f"{path}: not a regular file ({file_kind(mode)}), not a capture file")


def file_kind(mode: int) -> str:
    """Words for a non-regular file's type (error messages)."""
    for test, words in (
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a directory"),
    ):
        if test(mode):
            return words
    return "not a regular file"


def _fifo_stream(fd: int, path: str) -> _PrefixedFile:
    """A FIFO opened without blocking, as a blocking stream when a writer holds it open
    (process substitution); else say so instead of waiting forever for one."""
    import select

    # poll(2), not select(2): select refuses a descriptor past FD_SETSIZE (1024), which a
    # long-lived caller with many files open (a service scanning captures) reaches.
    waiting = select.poll()
    waiting.register(fd, select.POLLIN)
    ready = waiting.poll(FIFO_WRITER_WAIT_S * 1000)
    head = os.read(fd, 8) if ready else b""
    if not head:
        os.close(fd)
        raise CaptureError(
            f"{path}: a FIFO (named pipe) with no writer, not a capture file "
            "(to read a pipe, write to it, or use 'pcapline analyze -' with stdin)"
        )
    os.set_blocking(fd, True)
    return _PrefixedFile(head, os.fdopen(fd, "rb"))


#: How long a FIFO may stay silent after opening before it counts as having no writer.
FIFO_WRITER_WAIT_S = 2.0


class _PrefixedFile(io.RawIOBase):
    """``head`` put back in front of ``fh`` (the bytes read to see whether a writer is there)."""

    def __init__(self, head: bytes, fh: BinaryIO) -> None:
        self._head = head
        self._fh = fh

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            out, self._head = self._head + self._fh.read(), b""
            return out
        if self._head:
            out, self._head = self._head[:size], self._head[size:]
            return out
        return self._fh.read(size)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._fh.close()
        super().close()


def open_source(source: str | os.PathLike[str] | BinaryIO) -> RawSource:
    """Read ``source`` (path, ``"-"`` for stdin, or a binary file object) into memory/mmap."""
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if path == "-":
            return _read_stream(sys.stdin.buffer, "-")
        return _open_file(path)
    read: Callable[..., bytes] | None = getattr(source, "read", None)
    if read is None:
        raise CaptureError(f"cannot read a capture from {type(source).__name__}")
    name = getattr(source, "name", None)
    path = name if isinstance(name, str) else "<stream>"
    return _read_stream(source, path)


def source_shrank(path: str) -> CaptureError:
    """The error for a capture file found shorter than when it was opened (log rotation, a
    ``copytruncate``, a ring buffer's next turn): its bytes are not the ones analysed."""
    return CaptureError(f"{path}: the file shrank while being read")


#: How much of a capture file's start ``SourceFile`` remembers: a file truncated and written
#: again (a ring buffer's next turn, ``tcpdump -C -W``) differs there from its first packet
#: on; one only appended to (a capture still being written) does not.
HEAD_BYTES = 64 << 10


def _head_digest(fd: int, size: int) -> bytes:
    """A digest of the first ``HEAD_BYTES`` (of ``size``), read to the end of them (a read
    may return fewer bytes than asked: FUSE, network file systems)."""
    want = min(size, HEAD_BYTES)
    head = b""
    while len(head) < want:
        more = os.pread(fd, want - len(head), len(head))
        if not more:
            break  # cut short: the digest differs, as the file does
        head += more
    return hashlib.blake2b(head, digest_size=16).digest()


@dataclass
class SourceFile:
    """A capture source as a file of its (decompressed) bytes, read a window at a time with
    ``os.pread``: what ``open_source`` gives, without holding the content in memory. A plain
    regular file is read in place; compressed input, stdin and FIFOs are first streamed into a
    file of ``open_source_file``'s directory (``spilled``), in bounded pieces."""

    path: str
    file: BinaryIO  # open for reading; its first ``size`` bytes are the capture's
    size: int
    compression: str | None = None
    warnings: list[str] = field(default_factory=list)
    spilled: str | None = None  # the file holding the decompressed / copied bytes, if any
    #: A digest of the first ``HEAD_BYTES`` of a capture file read in place, as opened
    #: (``check_unchanged``); None for a file of pcapline's own (``spilled``).
    head: bytes | None = None

    def read_at(self, at: int, length: int) -> bytes:
        """``length`` bytes from offset ``at`` (fewer past the end of the capture as it was
        opened). The file's end before it: the file shrank since (rotated, truncated), and
        what was read of it no longer holds."""
        want = max(0, min(length, self.size - at))
        data = os.pread(self.file.fileno(), want, at)
        while len(data) < want:
            more = os.pread(self.file.fileno(), want - len(data), at + len(data))
            if not more:
                raise source_shrank(self.path)
            data += more
        return data

    def check_unchanged(self) -> None:
        """``CaptureError`` if the file is not the one opened any more: shorter, or its
        first bytes rewritten (truncated, then written again past where it was read)."""
        if os.fstat(self.file.fileno()).st_size < self.size:
            raise source_shrank(self.path)
        if self.head is not None and _head_digest(self.file.fileno(), self.size) != self.head:
            raise CaptureError(f"{self.path}: the file was rewritten while being read")

    def close(self) -> None:
        self.file.close()


def open_source_file(
    source: str | os.PathLike[str] | BinaryIO, directory: str, unpacked: Unpacked | None = None
) -> SourceFile:
    """``open_source``'s checks and decompression (same errors, same warnings), but the bytes
    stay on disk: decompressed or copied (stdin, FIFO, file object) into ``directory``;
    ``unpacked("decompressed" or "copied", bytes so far)`` as they are written."""
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if path == "-":
            return _stream_to_file(sys.stdin.buffer, "-", directory, unpacked)
        fd, kind_of_file = _open_fd(path)
        if kind_of_file == "fifo":
            with _fifo_stream(fd, path) as fifo:
                return _stream_to_file(fifo, path, directory, unpacked)  # type: ignore[arg-type]
        fh = os.fdopen(fd, "rb")
        try:
            kind = sniff_compression(fh.read(8), path)
            if kind is None:
                size = os.fstat(fh.fileno()).st_size
                if size > 0:
                    return SourceFile(path, fh, size, head=_head_digest(fh.fileno(), size))
            fh.seek(0)
            with fh:
                if kind is not None:
                    return _unwrap_to_file(kind, fh, path, directory, unpacked)
                return _stream_to_file(fh, path, directory, unpacked)
        except BaseException:
            fh.close()
            raise
    read: Callable[..., bytes] | None = getattr(source, "read", None)
    if read is None:
        raise CaptureError(f"cannot read a capture from {type(source).__name__}")
    name = getattr(source, "name", None)
    where = name if isinstance(name, str) else "<stream>"
    return _stream_to_file(source, where, directory, unpacked)


def _spill_file(directory: str) -> BinaryIO:
    """A new file in ``directory`` (removed with it by its owner)."""
    owned = tempfile.NamedTemporaryFile(prefix="source-", dir=directory, delete=False)  # noqa: SIM115 - the SourceFile owns it
    return cast(BinaryIO, owned)


def _stream_to_file(
    stream: BinaryIO, path: str, directory: str, unpacked: Unpacked | None = None
) -> SourceFile:
    """``_read_stream`` onto disk: decompressed when compressed, else copied as it comes."""
    head = stream.read(8) or b""
    kind = sniff_compression(head, path)
    rest = _Prefixed(head, stream)
    if kind is not None:
        return _unwrap_to_file(kind, rest, path, directory, unpacked)  # type: ignore[arg-type]
    out = _spill_file(directory)
    size = 0
    try:
        while block := rest.read(_CHUNK):
            out.write(block)
            size += len(block)
            if unpacked is not None:
                unpacked("copied", size)
        out.flush()
    except OSError as exc:
        out.close()
        if exc.errno == errno.ENOSPC:
            raise CaptureError(
                f"{path}: no space left in {directory} for the capture read from a stream "
                "(set TMPDIR to a bigger disk)"
            ) from None
        raise
    return SourceFile(path, out, size, spilled=out.name)


def _unwrap_to_file(
    kind: str, raw: BinaryIO, path: str, directory: str, unpacked: Unpacked | None = None
) -> SourceFile:
    """``_unwrap`` onto disk: each compression layer decompressed into a file of
    ``directory`` (the one before it removed), with the same cap, errors and warnings."""
    out = _Spill(max_decompressed(), _spill_file(directory), directory, unpacked)
    warnings = _decompress_into(kind, raw, path, out)
    kinds = [kind]
    while True:
        out.file.flush()
        inner = sniff_compression(os.pread(out.file.fileno(), 8, 0), path)
        if inner is None:
            break
        kinds.append(inner)
        layer = _Spill(out.limit, _spill_file(directory), directory, unpacked)
        try:
            if len(kinds) > MAX_LAYERS:
                nested = " inside ".join(reversed(kinds))
                raise CompressionError(
                    f"{path}: compressed more than {MAX_LAYERS} times ({nested}); decompress it first"
                )
            out.file.seek(0)
            warnings += _decompress_into(inner, out.file, path, layer)
        finally:
            out.close()
            os.unlink(out.file.name)
        out = layer
    out.file.seek(0)
    return SourceFile(path, out.file, out.size, "+".join(kinds), warnings, spilled=out.file.name)
