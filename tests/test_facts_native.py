"""facts.py's whole-capture scans in the compiled core give exactly what numpy gives.

``facts._unwrap``, ``_exclusive_running_max``, ``_peer_running_max``, ``_peer_last`` and
``duplicates._identical_pairs`` each run in one walk of ``pcapline.read._native`` when it is
built, with their numpy version as the reference. Every ``Facts`` column (values and dtype)
is compared both ways on every sample capture and on real corpus captures (marker
``corpus``: port reuse, wraps, copies, one-sided captures), and the kernels refuse buffers of
the wrong size or rows out of range with a ValueError.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fanout import over_files
from needs import corpus_tcp_files, needs_corpus

from pcapline import facts
from pcapline.decode import decode
from pcapline.facts import Facts, compute_facts
from pcapline.flows import build_flows
from pcapline.read import native, read_capture

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = sorted(
    p for p in (ROOT / "sample_captures").iterdir() if ".pcap" in p.name and ".json" not in p.name
)

pytestmark = pytest.mark.skipif(native.core is None, reason="pcapline.read._native is not built")


def _segments(path: Path) -> pd.DataFrame:
    segments, _ = build_flows(decode(read_capture(path)).segments)
    return segments


def _both_ways(segments: pd.DataFrame) -> tuple[Facts, str | None]:
    """Facts with numpy, then with the core: the numpy ones, and the first column (value or
    dtype) the two disagree on (None: every column equal)."""
    saved = native.active
    try:
        native.active = False
        want = compute_facts(segments)
        native.active = True
        got = compute_facts(segments)
    finally:
        native.active = saved
    for f in dataclasses.fields(want):
        a, b = getattr(got, f.name), getattr(want, f.name)
        if isinstance(b, np.ndarray):
            if a.dtype != b.dtype or a.shape != b.shape or not np.array_equal(a, b):
                return want, f.name
        elif a != b:
            return want, f.name
    return want, None


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_sample_captures_give_the_same_facts(path: Path) -> None:
    assert _both_ways(_segments(path))[1] is None


def _corpus_check(path: Path) -> tuple[str | None, int, int] | None:
    """(the first differing column, copies, rows past a wrap) of one capture; None when it
    cannot be read or holds no TCP (unreadable captures are test_corpus's business)."""
    try:
        segments = _segments(path)
    except Exception:
        return None
    if not len(segments):
        return None
    facts, differs = _both_ways(segments)
    wrapped = int((facts.rel_seq >= 2**32).sum() + (facts.rel_seq < 0).sum())
    return differs, int(facts.is_dup.sum()), wrapped


@needs_corpus
def test_corpus_captures_give_the_same_facts() -> None:
    """Corpus captures under 3 MB that hold TCP; among them copies (is_dup), wraps of the
    sequence space and connections seen from one side only."""
    paths = [p for p in corpus_tcp_files() if p.stat().st_size < 3_000_000]
    answers = over_files(_corpus_check, paths)
    differing = [(path.name, a[0]) for path, a in zip(paths, answers, strict=True) if a and a[0]]
    assert differing == []
    dups = sum(a[1] for a in answers if a)
    wrapped = sum(a[2] for a in answers if a)
    assert len(paths) > 500, len(paths)
    assert dups > 0 and wrapped > 0, (dups, wrapped)


def test_unwrap_counts_through_the_wrap_and_skips_invalid_rows() -> None:
    values = np.array([2**32 - 2, 5, 3, 9, 2**32 - 1, 1], dtype=np.int64)
    keys = np.array([0, 1, 0, 1, 0, 0], dtype=np.int64)
    order = np.array([0, 2, 4, 5, 1, 3], dtype=np.int64)  # key 0's rows, then key 1's
    valid = np.array([True, True, True, True, False, True])
    base = np.array([2**32 - 4, 4], dtype=np.int64)
    out = np.full(6, -7, dtype=np.int64)
    native.core.unwrap_runs(values, base, keys, order, valid, out)
    # key 0: 2 from its base, then 3 is 5 past 2**32 - 2 (the wrap): 7; row 4 is not valid
    # (left as it was), so 1 steps from 3: -2, 5. key 1: 1 from its base, then +4: 5.
    assert out.tolist() == [2, 1, 7, 5, -7, 5]
    reference = facts._unwrap_numpy(values, base, keys, order, valid)
    assert reference.tolist() == [2, 1, 7, 5, 0, 5]


def test_peer_scan_restarts_at_each_connection() -> None:
    values = np.array([10, 30, 20, 5, 7], dtype=np.int64)
    side = np.array([True, False, True, False, True])
    group = np.array([0, 0, 0, 1, 1], dtype=np.int64)
    valid = np.array([True, True, True, True, True])
    out = np.zeros(5, dtype=np.int64)
    native.core.peer_scan(values, valid, side, group, -1, False, out)
    assert out.tolist() == [-1, 10, 30, -1, 5]
    native.core.peer_scan(values, valid, ~side, group, -1, True, out)
    assert out.tolist() == [-1, 10, 30, -1, 5]


def test_the_kernels_refuse_wrong_sizes_and_rows_out_of_range() -> None:
    n = np.zeros(4, dtype=np.int64)
    out = np.zeros(4, dtype=np.int64)
    with pytest.raises(ValueError):
        native.core.exclusive_running_max(n, n, np.zeros(3, dtype=np.int64), n, out)
    with pytest.raises(ValueError):
        native.core.exclusive_running_max(n, n, np.array([0, 1, 2, 4], dtype=np.int64), n, out)
    with pytest.raises(ValueError):
        native.core.unwrap_runs(
            n, n[:1], np.array([0, 0, 3, 0]), np.arange(4), np.ones(4, bool), out
        )
    with pytest.raises(ValueError):
        native.core.identical_pairs((n,), n, n[:3], 5, 8)


def test_group_order_is_a_stable_argsort() -> None:
    rng = np.random.default_rng(5)
    for n_keys in (1, 3, 50):
        keys = rng.integers(0, n_keys, 500).astype(np.int64)
        out = np.full(500, -1, dtype=np.int64)
        native.core.group_order(keys, n_keys, out)
        assert out.tolist() == np.argsort(keys, kind="stable").tolist()
    empty = np.zeros(0, dtype=np.int64)
    native.core.group_order(empty, 0, empty)
    with pytest.raises(ValueError):
        native.core.group_order(np.array([0, 3], dtype=np.int64), 3, np.zeros(2, np.int64))


def test_connection_order_counting_equals_lexsort() -> None:
    """Frame-ordered rows take the counting sort; others (and wide id spans) lexsort."""
    rng = np.random.default_rng(6)
    conn = rng.integers(10, 40, 300).astype(np.int64)
    frame = np.sort(rng.integers(0, 200, 300)).astype(np.int64)  # ties kept in row order
    want = np.lexsort((frame, conn))
    assert facts._connection_order(conn, frame).tolist() == want.tolist()
    shuffled = rng.permutation(frame)
    want = np.lexsort((shuffled, conn))
    assert facts._connection_order(conn, shuffled).tolist() == want.tolist()
    wide = conn * 10**6
    assert facts._connection_order(wide, frame).tolist() == np.lexsort((frame, wide)).tolist()


def test_a_refused_key_column_is_let_go() -> None:
    """A key column of the wrong size is refused, and its buffer released: a bytearray then
    still resizes (before: 'BufferError: Existing exports' for the rest of its life)."""
    n = np.zeros(4, dtype=np.int64)
    for call in (
        lambda key: native.core.identical_pairs((n, key), n, n, 5, 8),
        lambda key: native.core.first_seen_ids((n, key), np.zeros(4, dtype=np.int64)),
    ):
        key = bytearray(24)  # 3 rows where 4 are asked
        with pytest.raises(ValueError):
            call(key)
        key.extend(b"\0" * 8)
        assert len(key) == 32
