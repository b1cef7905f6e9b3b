"""How one column of one spill block is written to disk and read back (spill.py's files).

Most spilled columns say little per block: IPv4's high address words and IP version are one
value, frame numbers and file offsets span a window, a caplen fits 16 bits, the SYN-only
options (MSS, window scale, SACK-permitted) and the SACK edges are zero on almost every row.
Written raw, a row took 116 bytes, more than the capture's own bytes for small frames (a
3 GB capture spilled 3.5 GB, written once and read twice). Each column of a block is
written the smallest of four ways, chosen from its values (exact for every value: the
tests round-trip each dtype's extremes)::

    kind RAW     | rows values (the column's dtype, native byte order)
    kind CONST   | one value: every row holds it
    kind NARROW  | width w | base | rows offsets (value - base), unsigned w bytes
    kind SPARSE  | width w | base | int64 k | k uint32 rows | k offsets, unsigned w bytes
                 (every other row holds base)

``kind`` and ``w`` are one byte each; ``base`` is one value of the column's dtype (its
minimum). Offsets are taken modulo 2**(8 w), so a signed column or one near its type's ends
reads back as written. On the real-kernel bench capture (2.5 M IPv4 segments) a row takes
54 bytes instead of 116, and choosing costs a min, a max and a count per column and block.

Float columns (none is spilled today) are written raw. Text columns (ICMP errors' notes)
keep their own layout: rows int32 UTF-8 lengths, then the
UTF-8 bytes.
"""

from __future__ import annotations

import struct

import numpy as np

RAW, CONST, NARROW, SPARSE = 0, 1, 2, 3

#: Offset widths a narrowed or sparse column may take, and their unsigned types.
_UNSIGNED: dict[int, type[np.unsignedinteger]] = {
    1: np.uint8,
    2: np.uint16,
    4: np.uint32,
    8: np.uint64,
}
#: Row numbers of a sparse column are uint32: a block never holds this many rows (a window
#: is tens of MB and a record at least 16 bytes), but a bigger one is written another way.
_MAX_SPARSE_ROWS = 1 << 32


def encode(values: np.ndarray, dtype: str) -> list[bytes]:
    """The bytes of one block of column ``values`` (``dtype``: the schema's), as pieces."""
    if dtype == "object":
        texts = [str(v).encode() for v in values]
        lengths = np.array([len(t) for t in texts], np.int32)
        return [lengths.tobytes(), b"".join(texts)]
    values = np.ascontiguousarray(values, dtype)
    if not len(values) or values.dtype.kind not in "biu":  # floats are written as they are
        return [bytes([RAW]), values.tobytes()]
    numbers = _as_numbers(values)
    lo, hi = numbers.min(), numbers.max()
    if lo == hi:
        return [bytes([CONST]), numbers[:1].tobytes()]
    item = numbers.dtype.itemsize
    width = _width(int(hi) - int(lo))
    base = numbers[:1].copy()
    base[0] = lo
    # Whole sizes, heads included: a small block never takes more than its raw bytes.
    raw_size = 1 + len(numbers) * item
    narrow_size = 2 + item + len(numbers) * width if width < item else raw_size
    odd = numbers != lo
    k = int(np.count_nonzero(odd))
    sparse_size = 2 + item + 8 + k * (4 + width)
    if sparse_size < min(narrow_size, raw_size) and len(numbers) < _MAX_SPARSE_ROWS:
        rows = np.flatnonzero(odd)
        offsets = _offsets(numbers[rows], lo, width)
        head = bytes([SPARSE, width]) + base.tobytes() + struct.pack("<q", k)
        return [head, rows.astype(np.uint32).tobytes(), offsets.tobytes()]
    if narrow_size < raw_size:
        return [bytes([NARROW, width]) + base.tobytes(), _offsets(numbers, lo, width).tobytes()]
    return [bytes([RAW]), values.tobytes()]


def decode(blob: memoryview, pos: int, rows: int, dtype: str, out: np.ndarray) -> int:
    """One block of a column written by ``encode`` (``rows`` long) at ``pos`` of ``blob``,
    into ``out`` (``rows`` values of ``dtype``: a slice of the partition's whole column, its
    blocks laid side by side as they are read, not gathered and joined after); the position
    after it."""
    if len(out) != rows:
        raise ValueError(f"spill block of {rows} rows read into {len(out)}")
    if dtype == "object":
        lengths = np.frombuffer(blob, np.int32, rows, pos).tolist()
        pos += 4 * rows
        for i, length in enumerate(lengths):
            out[i] = bytes(blob[pos : pos + length]).decode()
            pos += length
        return pos
    kind = blob[pos]
    pos += 1
    numbers_type = _numbers_type(np.dtype(dtype))
    item = numbers_type.itemsize
    target = out.view(numbers_type)
    if kind == RAW:
        target[...] = np.frombuffer(blob, numbers_type, rows, pos)
        return pos + rows * item
    if kind == CONST:
        target[...] = np.frombuffer(blob, numbers_type, 1, pos)[0]
        return pos + item
    width = blob[pos]
    base = np.frombuffer(blob, numbers_type, 1, pos + 1)[0]
    pos += 1 + item
    unsigned = _UNSIGNED[width]
    if kind == NARROW:
        # The offsets widened to the column's type, then the base added, modulo the type's
        # size (the offsets were taken the same way), in one pass.
        offsets = np.frombuffer(blob, unsigned, rows, pos)
        np.add(offsets, base, out=target, dtype=numbers_type, casting="unsafe")
        return pos + rows * width
    if kind != SPARSE:
        raise ValueError(f"spill block: unknown column kind {kind}")
    k: int = struct.unpack_from("<q", blob, pos)[0]
    pos += 8
    at = np.frombuffer(blob, np.uint32, k, pos)
    pos += 4 * k
    offsets = np.frombuffer(blob, unsigned, k, pos).astype(numbers_type)
    offsets += base
    target[...] = base
    target[at] = offsets
    return pos + k * width


def _as_numbers(values: np.ndarray) -> np.ndarray:
    """``values`` as integers (a bool column as its bytes), no copy."""
    return values.view(np.uint8) if values.dtype == np.bool_ else values


def _numbers_type(dtype: np.dtype) -> np.dtype:
    return np.dtype(np.uint8) if dtype == np.bool_ else dtype


def _width(span: int) -> int:
    """The fewest bytes (1, 2, 4, 8) holding every offset from the minimum (0..span)."""
    for width in (1, 2, 4):
        if span < 1 << (8 * width):
            return width
    return 8


def _offsets(numbers: np.ndarray, lo: np.generic, width: int) -> np.ndarray:
    """``numbers - lo`` as unsigned ``width``-byte integers (exact: the span fits)."""
    # The subtraction wraps in the column's own type (int8 -1 - (-128) is 127, uint64 never
    # goes below zero): modulo 2**(8 width) it is the true offset, which fits.
    with np.errstate(over="ignore"):
        offsets: np.ndarray = (numbers - lo).astype(_UNSIGNED[width])
    return offsets
