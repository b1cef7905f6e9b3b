"""One column of one spill block, packed (spill_format.py): every value reads back exactly,
each way is chosen where it is the smallest, and real-kernel traffic spills far less than
its raw columns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pcapline.decode.icmp import ICMP_COLUMNS
from pcapline.spill import SEGMENT_SCHEMA, spill_capture
from pcapline.spill_format import CONST, NARROW, RAW, SPARSE, decode, encode

SAMPLES = Path(__file__).resolve().parents[1] / "sample_captures"
FIXED_TYPES = sorted({t for t in (*SEGMENT_SCHEMA.values(), *ICMP_COLUMNS.values())} - {"object"})


def packed(values: np.ndarray, dtype: str) -> tuple[bytes, np.ndarray]:
    """``values`` written and read back; the bytes, and what was read (whole blob used).
    Read into a slice of a longer column, as a partition's blocks are: its neighbours stay
    untouched."""
    blob = b"".join(encode(values, dtype))
    column = np.full(len(values) + 2, _NEIGHBOUR.get(dtype, 7), np.dtype(dtype))
    end = decode(memoryview(blob), 0, len(values), dtype, column[1:-1])
    assert end == len(blob)
    assert column[[0, -1]].tolist() == [_NEIGHBOUR.get(dtype, 7)] * 2
    with pytest.raises(ValueError, match="read into"):  # a slice of another length
        decode(memoryview(blob), 0, len(values), dtype, column)
    return blob, column[1:-1]


#: What the cells beside a decoded slice hold (a value the tests' blocks never hold there).
_NEIGHBOUR: dict[str, object] = {"object": None, "bool": True, "float64": -7.5}


def extremes(dtype: str) -> list[int | bool]:
    if dtype == "bool":
        return [False, True]
    info = np.iinfo(np.dtype(dtype))
    return [info.min, info.min + 1, 0, 1, info.max - 1, info.max]


@pytest.mark.parametrize("dtype", FIXED_TYPES)
def test_every_value_reads_back_whatever_the_way(dtype: str) -> None:
    ends = np.array(extremes(dtype), dtype)
    rng = np.random.default_rng(7)
    if dtype == "bool":
        wide = rng.integers(0, 2, 5000).astype(bool)
    else:
        info = np.iinfo(np.dtype(dtype))
        wide = rng.integers(info.min, info.max, 5000, dtype=np.dtype(dtype), endpoint=True)
    blocks = {
        "empty": np.zeros(0, dtype),
        "one row": ends[-1:],
        "constant": np.full(300, ends[-1], dtype),
        "type's ends": np.tile(ends, 50),
        "random": wide.astype(dtype),
        "near the top": np.full(400, ends[-1], dtype) - np.arange(400).astype(dtype) % 3,
        "mostly the minimum": np.where(np.arange(1000) % 97 == 0, ends[-1], ends[0]).astype(dtype),
    }
    for name, values in blocks.items():
        _, out = packed(values, dtype)
        assert out.dtype == np.dtype(dtype), name
        np.testing.assert_array_equal(out, values, err_msg=name)


def test_a_float_column_is_written_as_it_is() -> None:
    """Offsets from the minimum are for integers: a float block is raw, NaN and all."""
    values = np.array([0.5, -1.25, np.nan, 1e300, 0.5], np.float64)
    blob, out = packed(values, "float64")
    assert blob[0] == RAW and len(blob) == 1 + values.nbytes
    np.testing.assert_array_equal(out, values)


def test_text_columns_read_back() -> None:
    notes = np.array(["", "port unreachable", "ünïcode"] * 5, dtype=object)
    _, out = packed(notes, "object")
    assert out.dtype == object and out.tolist() == notes.tolist()


@pytest.mark.parametrize(
    ("values", "dtype", "kind", "size"),
    [
        # IPv4's high address word: one value for the block.
        (np.zeros(1000, np.uint64), "uint64", CONST, 1 + 8),
        # Frame numbers across a window: 2 bytes from the first.
        (np.arange(10_000, 60_000, dtype=np.int64), "int64", NARROW, 2 + 8 + 50_000 * 2),
        # Caplens under 256 bytes above the smallest.
        (np.arange(1000, dtype=np.int64) % 200 + 54, "int64", NARROW, 2 + 8 + 1000),
        # The MSS option: on SYNs only.
        (
            np.where(np.arange(1000) % 100 == 0, 1460, 0).astype(np.uint16),
            "uint16",
            SPARSE,
            2 + 2 + 8 + 10 * (4 + 2),
        ),
        # Sequence numbers span the whole type: raw.
        (np.array([0, 2**32 - 1] * 500, np.uint32), "uint32", RAW, 1 + 1000 * 4),
        # Window scale: -1 (no option) on every row but the handshake's.
        (
            np.where(np.arange(500) < 2, 7, -1).astype(np.int8),
            "int8",
            SPARSE,
            2 + 1 + 8 + 2 * (4 + 1),
        ),
    ],
    ids=["constant", "frame numbers", "caplens", "mss", "sequence numbers", "window scale"],
)
def test_each_way_is_taken_where_it_is_smallest(
    values: np.ndarray, dtype: str, kind: int, size: int
) -> None:
    blob, out = packed(values, dtype)
    assert blob[0] == kind
    assert len(blob) == size
    np.testing.assert_array_equal(out, values)


@pytest.mark.parametrize(
    ("values", "dtype", "kind"),
    [
        (np.array([0, 70_000], np.int64), "int64", RAW),  # narrowed: 18 bytes, raw 17
        (np.array([-(2**63), 2**63 - 1] * 4, np.int64), "int64", RAW),
        (np.array([0] * 13 + [1], np.uint8), "uint8", RAW),
        (np.array([0] * 10 + [5, 9], np.int64), "int64", NARROW),  # sparse 28, narrowed 22
    ],
)
def test_a_small_block_never_takes_more_than_its_raw_bytes(
    values: np.ndarray, dtype: str, kind: int
) -> None:
    """The ways are weighed whole, heads included."""
    blob, out = packed(values, dtype)
    assert blob[0] == kind
    assert len(blob) <= 1 + values.nbytes
    np.testing.assert_array_equal(out, values)


def test_signed_offsets_wrap_and_come_back() -> None:
    """A span across zero near a signed type's ends (offsets taken modulo the width)."""
    values = np.array([2**63 - 1, 2**63 - 200, 2**63 - 3] * 10, np.int64)
    blob, out = packed(values, "int64")
    assert blob[:2] == bytes([NARROW, 1])
    np.testing.assert_array_equal(out, values)
    negative = np.array([-(2**63), -(2**63) + 70_000, -(2**63) + 5], np.int64)
    blob, out = packed(negative, "int64")
    assert blob[:2] == bytes([NARROW, 4])
    np.testing.assert_array_equal(out, negative)


def test_an_unknown_way_is_an_error_not_a_guess() -> None:
    with pytest.raises(ValueError, match="unknown column kind 9"):
        decode(memoryview(bytes([9, 1]) + bytes(16)), 0, 2, "uint32", np.zeros(2, np.uint32))


def test_real_kernel_traffic_spills_under_half_its_raw_columns(tmp_path: Path) -> None:
    """A real-kernel capture of 40 lossy connections (IPv4, SACK on the resends): every
    partition reads back what was read, in well under half the bytes of raw columns."""
    capture = SAMPLES / "lossy-40-connections-3pct-drop.pcap"
    raw_row = sum(np.dtype(t).itemsize for t in SEGMENT_SCHEMA.values())
    with spill_capture(capture, 3, directory=tmp_path) as spilled:
        rows = sum(spilled.segment_rows)
        written = sum(Path(p).stat().st_size for p in spilled._segments.paths)
        assert rows == 5000  # the capture holds only TCP
        assert written < 0.5 * rows * raw_row, (written, rows * raw_row)
