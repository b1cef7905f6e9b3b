"""Sequence arithmetic (pcapline.seqnum) and timer slack (pcapline.timers)."""

from __future__ import annotations

import numpy as np

from pcapline import seqnum, timers

TOP = seqnum.SEQ_MOD - 1


def test_wrap_and_signed_scalar() -> None:
    assert seqnum.wrap(TOP + 6) == 5
    assert seqnum.wrap(-1) == TOP
    assert seqnum.signed(TOP) == -1
    assert seqnum.signed(seqnum.SEQ_HALF) == -seqnum.SEQ_HALF
    assert seqnum.signed(seqnum.SEQ_HALF - 1) == seqnum.SEQ_HALF - 1
    assert seqnum.distance(5, TOP - 9) == 15  # 5 comes 15 after 0xFFFFFFF6


def test_comparisons_across_the_wrap() -> None:
    assert seqnum.seq_ge(5, TOP) and seqnum.seq_gt(5, TOP)
    assert seqnum.seq_lt(TOP, 5) and seqnum.seq_le(TOP, 5)
    assert seqnum.seq_ge(7, 7) and seqnum.seq_le(7, 7)
    assert not seqnum.seq_gt(7, 7) and not seqnum.seq_lt(7, 7)


def test_vectorised_forms_match_scalar_ones() -> None:
    rng = np.random.default_rng(1)
    a = rng.integers(0, seqnum.SEQ_MOD, 500, dtype=np.int64)
    b = rng.integers(0, seqnum.SEQ_MOD, 500, dtype=np.int64)
    dist = seqnum.distance(a, b)
    assert dist.tolist() == [seqnum.distance(int(x), int(y)) for x, y in zip(a, b, strict=True)]
    assert seqnum.seq_ge(a, b).tolist() == [
        seqnum.seq_ge(int(x), int(y)) for x, y in zip(a, b, strict=True)
    ]
    assert seqnum.wrap(a - b).tolist() == [
        (int(x) - int(y)) % seqnum.SEQ_MOD for x, y in zip(a, b, strict=True)
    ]


def test_unwrap_counts_up_through_the_wrap_per_run() -> None:
    values = np.array([TOP - 1, TOP, 3, 10, 100, 90], dtype=np.int64)
    base = np.array([TOP - 1, 0, 0, 0, 100, 0], dtype=np.int64)
    first = np.array([True, False, False, False, True, False])
    assert seqnum.unwrap(values, base, first).tolist() == [0, 1, 5, 12, 0, -10]
    assert seqnum.unwrap(values[:0], base[:0], first[:0]).tolist() == []


def test_timer_slack() -> None:
    assert timers.close_to(1.015, 1.0) and timers.close_to(10.9, 10.0)
    assert not timers.close_to(11.2, 10.0)
    # Due at 1 s: silence up to 1.12 s is still the timer's own lateness.
    assert not timers.overdue(1.12, 1.0) and timers.overdue(1.13, 1.0)
    assert timers.cut_short(8.9, 10.0) and not timers.cut_short(9.0, 10.0)
    assert timers.next_backoff(0.4) == 0.8 and timers.next_backoff(100.0) == timers.RTO_MAX_S
