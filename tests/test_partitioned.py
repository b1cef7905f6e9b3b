"""Which partition a segment goes to (partitioned.partition_of): the compiled core's hash
and numpy's agree on every row, and both directions of a 4-tuple land together."""

from __future__ import annotations

import numpy as np
import pytest

from pcapline.partitioned import _partition_of_numpy, partition_of
from pcapline.read import native


def _tuples(n: int, seed: int) -> dict[str, np.ndarray]:
    """4-tuples that collide in every column, with uint64 halves using all 64 bits."""
    rng = np.random.default_rng(seed)
    halves = np.array([0, 1, 0x0A000001, 2**63, 2**64 - 1], np.uint64)
    return {
        "ip_version": rng.choice(np.array([4, 6], np.uint8), n),
        "src_hi": rng.choice(halves, n),
        "src_lo": rng.choice(halves, n),
        "dst_hi": rng.choice(halves, n),
        "dst_lo": rng.choice(halves, n),
        "sport": rng.choice(np.array([0, 1, 80, 443, 65535], np.uint16), n),
        "dport": rng.choice(np.array([0, 1, 80, 443, 65535], np.uint16), n),
    }


@pytest.mark.parametrize("count", [2, 7, 8, 1000])
def test_the_core_and_numpy_place_every_row_alike(
    count: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    if native.core is None:
        pytest.skip("pcapline.read._native is not built")
    t = _tuples(20_000, seed=count)
    expected = _partition_of_numpy(tuple(t.values()), count)
    monkeypatch.setattr(native, "active", True)
    got = partition_of(*t.values(), count)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, expected)
    assert set(np.unique(got).tolist()) == set(range(count)) or count == 1000
    assert got.min() >= 0 and got.max() < count


@pytest.mark.parametrize("compiled", [False, True], ids=["numpy", "core"])
def test_both_directions_of_a_connection_land_together(
    compiled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if compiled and native.core is None:
        pytest.skip("pcapline.read._native is not built")
    monkeypatch.setattr(native, "active", compiled)
    t = _tuples(5_000, seed=1)
    reverse = {
        **t,
        "src_hi": t["dst_hi"],
        "src_lo": t["dst_lo"],
        "dst_hi": t["src_hi"],
        "dst_lo": t["src_lo"],
        "sport": t["dport"],
        "dport": t["sport"],
    }
    np.testing.assert_array_equal(partition_of(*t.values(), 8), partition_of(*reverse.values(), 8))
    assert partition_of(*t.values(), 1).tolist() == [0] * 5_000


def test_the_core_refuses_columns_of_another_length() -> None:
    if native.core is None:
        pytest.skip("pcapline.read._native is not built")
    eight = np.zeros(8, np.uint64).data
    out = np.zeros(8, np.int64)
    with pytest.raises(ValueError, match="dport"):
        native.core.partition_of(*[eight] * 6, np.zeros(3, np.uint64).data, 2, out.data)
    with pytest.raises(ValueError, match="count"):
        native.core.partition_of(*[eight] * 7, 0, out.data)
    with pytest.raises(OverflowError):  # never wrapped to a small count
        native.core.partition_of(*[eight] * 7, 2**64 + 3, out.data)
    native.core.partition_of(*[eight] * 7, np.int64(5), out.data)  # a numpy integer is one
    assert set(out.tolist()) <= set(range(5))
