"""Batch.first / first_from / first_after / last: per connection, relative rows where a mask
holds, NO_ROW where none does, whatever lies in the other connections' rows."""

from __future__ import annotations

from typing import cast

import numpy as np

from pcapline.detect import NO_ROW, Batch
from pcapline.facts import SegmentRows

# Three connections: rows 0-2, 3-4 (two rows), 5-8.
STARTS = np.array([0, 3, 5, 9], dtype=np.int64)


def _batch() -> Batch:
    conn_index = np.repeat(np.arange(3), np.diff(STARTS))
    return Batch(cast(SegmentRows, None), STARTS, conn_index)


def _mask(*rows: int) -> np.ndarray:
    mask = np.zeros(9, dtype=bool)
    mask[list(rows)] = True
    return mask


def test_first_and_last_per_connection() -> None:
    batch = _batch()
    mask = _mask(1, 2, 6)  # none in the middle connection
    assert batch.first(mask).tolist() == [1, NO_ROW, 1]
    assert batch.last(mask).tolist() == [2, NO_ROW, 1]


def test_first_from_never_reads_past_its_connection() -> None:
    batch = _batch()
    mask = _mask(0, 3, 8)
    start = np.array([1, 0, NO_ROW], dtype=np.int64)
    # connection 0 from its row 1: its only set row (0) is before; the next set row (3) is
    # the next connection's. Connection 2 asked from NO_ROW: none.
    assert batch.first_from(mask, start).tolist() == [NO_ROW, 0, NO_ROW]
    assert batch.first_after(mask, np.array([NO_ROW, NO_ROW, 2])).tolist() == [
        NO_ROW,
        NO_ROW,
        3,
    ]


def test_no_row_set_anywhere() -> None:
    batch = _batch()
    none = np.zeros(9, dtype=bool)
    assert batch.first(none).tolist() == [NO_ROW] * 3
    assert batch.last(none).tolist() == [NO_ROW] * 3
    assert batch.first(none).dtype == np.int64 and batch.last(none).dtype == np.int64


def test_last_row_of_the_batch() -> None:
    batch = _batch()
    mask = _mask(8)  # the batch's very last row: no row follows it
    assert batch.first(mask).tolist() == [NO_ROW, NO_ROW, 3]
    assert batch.last(mask).tolist() == [NO_ROW, NO_ROW, 3]
