"""Open a capture source and hand back its whole content as one numpy byte buffer.

Compression is recognised by its magic bytes, never by the file name (a ``.pcap`` that
is really gzip is common after a careless ``mv``). Uncompressed regular files are
memory-mapped, so a multi-gigabyte capture costs address space, not RAM. Compressed
input and stdin are read into memory once.
"""

from __future__ import annotations

import bz2
import io
import lzma
import mmap
import os
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import numpy as np

from pcapline.errors import CaptureError, CompressionError

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

_CHUNK = 1 << 20
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


def sniff_compression(head: bytes) -> str | None:
    """Name of the compression whose magic starts ``head``; None for plain data."""
    for name, magic in COMPRESSION_MAGIC.items():
        if head.startswith(magic):
            return name
    for name, magic in UNSUPPORTED_MAGIC.items():
        if head.startswith(magic):
            raise CompressionError(f"{name}-compressed input is not supported; decompress it first")
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


def _decompress(kind: str, raw: BinaryIO, path: str) -> RawSource:
    """Decompress everything readable, chunk by chunk, so a damaged or cut tail keeps
    the data before it (a capture copied while still being written is common)."""
    out = io.BytesIO()
    warnings: list[str] = []
    dec: Any = None  # None between members: concatenated gzip/bz2/xz/zstd (``cat a.gz b.gz``)
    try:
        while chunk := raw.read(_CHUNK):
            while chunk:
                dec = dec or _decompressor(kind)
                out.write(dec.decompress(chunk))
                if not _finished(dec):
                    break
                chunk, dec = dec.unused_data, None
        if dec is not None:
            if out.tell() == 0:
                raise CompressionError(f"{path}: {kind} stream ends before any data")
            warnings.append(
                f"{kind} stream ends early after {out.tell()} bytes; read what came before"
            )
    except CompressionError:
        raise
    except Exception as exc:
        if out.tell() == 0:
            raise CompressionError(
                f"{path}: cannot decompress {kind} data ({_short(exc)})"
            ) from None
        warnings.append(
            f"{kind} stream damaged after {out.tell()} bytes ({_short(exc)}); read what came before"
        )
    data = np.frombuffer(out.getbuffer(), dtype=np.uint8)
    return RawSource(path=path, data=data, compression=kind, warnings=warnings)


def _unwrap(kind: str, raw: BinaryIO, path: str) -> RawSource:
    """Decompress ``raw``, then any compressed layer found inside, up to ``MAX_LAYERS``."""
    source = _decompress(kind, raw, path)
    kinds = [kind]
    while (inner := sniff_compression(source.data[:8].tobytes())) is not None:
        kinds.append(inner)
        if len(kinds) > MAX_LAYERS:
            nested = " inside ".join(reversed(kinds))
            raise CompressionError(
                f"{path}: compressed more than {MAX_LAYERS} times ({nested}); decompress it first"
            )
        layer = _decompress(inner, io.BytesIO(source.data.tobytes()), path)
        source = RawSource(path, layer.data, warnings=source.warnings + layer.warnings)
    source.compression = "+".join(kinds)
    return source


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:120]


def _read_stream(stream: BinaryIO, path: str) -> RawSource:
    head = stream.read(8) or b""
    kind = sniff_compression(head)
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
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below or owned by the mmap
    except IsADirectoryError:
        raise CaptureError(f"{path}: is a directory, not a capture file") from None
    except FileNotFoundError:
        raise CaptureError(f"{path}: no such file") from None
    except PermissionError:
        raise CaptureError(f"{path}: permission denied") from None
    except OSError as exc:
        raise CaptureError(f"{path}: cannot open ({exc.strerror or exc})") from None
    with fh:
        head = fh.read(8)
        kind = sniff_compression(head)
        if kind is not None:
            fh.seek(0)
            return _unwrap(kind, fh, path)
        try:
            size = os.fstat(fh.fileno()).st_size
        except OSError:
            size = 0
        if size > 0 and os.path.isfile(path):
            # mmap: the page cache is the buffer; numpy views it without a copy.
            mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
            return RawSource(path=path, data=np.frombuffer(mm, dtype=np.uint8))
        fh.seek(0)
        return _read_stream(fh, path)  # a FIFO or /dev/stdin-like path


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
