"""The detectors' row walks in the compiled core give exactly what their numpy versions give.

``facts.nearest_rows`` (the row links: previous row of a side, the peer's latest row,
the next RST or fresh segment) and ``facts.first_at_least`` (grouped binary searches)
run in ``pcapline.read._native`` when it is built, with their numpy version as the reference.
Both are compared on random connections (sides, masks and ranges drawn at random, edge sizes
included), every sample capture's detections are compared both ways, and the kernels refuse
buffers of the wrong size or ranges out of bounds with a ValueError.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from builders.pipeline import flowed_segments

from pcapline import facts as facts_module
from pcapline.detect import run_all
from pcapline.read import native

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted(
    p
    for p in (ROOT / "sample_captures").iterdir()
    if p.is_file() and p.suffix not in (".json", ".md", ".txt", ".py")
)

pytestmark = pytest.mark.skipif(native.core is None, reason="pcapline.read._native is not built")


@contextmanager
def _native(on: bool) -> Iterator[None]:
    saved = native.active
    native.active = on
    try:
        yield
    finally:
        native.active = saved


def _connections(rng: np.random.Generator, n_conns: int) -> np.ndarray:
    """Per row: its connection (ascending, some connections of one row)."""
    sizes = rng.integers(1, 12, size=n_conns)
    return np.repeat(np.arange(n_conns), sizes)


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("later", [False, True])
def test_nearest_rows_both_ways(seed: int, later: bool) -> None:
    rng = np.random.default_rng(seed)
    conn = _connections(rng, int(rng.integers(0, 30)))
    n = len(conn)
    client = rng.random(n) < rng.random()
    own, peer = rng.random(n) < rng.random(), rng.random(n) < rng.random()
    want = facts_module._nearest_rows_numpy(conn, client, own, peer, later=later)
    with _native(True):
        got = facts_module.nearest_rows(conn, client, own, peer, later=later)
    assert got.dtype == want.dtype == np.int64
    assert np.array_equal(got, want)


@pytest.mark.parametrize("seed", range(40))
def test_first_at_least_both_ways(seed: int) -> None:
    rng = np.random.default_rng(seed)
    conn = _connections(rng, int(rng.integers(1, 30)))
    # Values ascending within each connection (the callers' promise), with ties.
    values = np.cumsum(rng.integers(0, 3, size=len(conn))) - 5 * conn
    ends = np.searchsorted(conn, conn, side="right")
    asked = rng.integers(0, len(conn), size=int(rng.integers(0, 50)))
    lo = asked + rng.integers(-1, 3, size=len(asked))  # empty or reversed ranges included
    lo = np.clip(lo, 0, len(conn))
    hi = ends[asked]
    target = rng.integers(int(values.min()) - 2, int(values.max()) + 3, size=len(asked))
    want = facts_module._first_at_least_numpy(values, lo, hi, target)
    with _native(True):
        got = facts_module.first_at_least(values, lo, hi, target)
    assert np.array_equal(got, want)


def test_kernels_refuse_bad_buffers() -> None:
    core = native.core
    eight = np.zeros(8, dtype=np.int64)
    out = np.empty(8, dtype=np.int64)
    with pytest.raises(ValueError):
        core.nearest_rows(eight.data, np.zeros(7, np.bool_).data, eight.data, eight.data, 0, out)
    with pytest.raises(ValueError):  # a range past the values
        core.first_at_least(
            eight[:2].data, eight[:1].data, np.array([3]).data, eight[:1].data, out[:1].data
        )


def _detections_both_ways(path: Path) -> tuple[list[object], list[object]] | None:
    flowed = flowed_segments(path)
    if flowed is None:
        return None
    segments, end = flowed
    found = []
    for on in (False, True):
        with _native(on):
            result = run_all(segments, capture_end_ns=end, visit_all=True)
            found.append([result.detections[c] for c in sorted(result.detections)])
    return found[0], found[1]


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_sample_detections_both_ways(path: Path) -> None:
    both = _detections_both_ways(path)
    if both is None:
        pytest.skip("no TCP")
    assert both[0] == both[1]
