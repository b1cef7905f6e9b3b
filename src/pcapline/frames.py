"""Small-table helpers: the same DataFrames as the plain pandas idioms, without their fixed
cost on tables of a few rows.

A scan of a folder of small captures (tcpdump rotations, a test suite's captures) pays every
pandas step once per capture whatever its size: ``frame[name] = column`` re-checks the index
and rebuilds the column index for each column (~0.1 ms each), and a stable sort of rows
already in order still gathers every column. On a capture of a few dozen packets these fixed
costs were most of its analysis.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = ["in_order", "is_sorted", "joined", "with_columns"]


def with_columns(
    frame: pd.DataFrame, columns: Mapping[str, pd.Series | np.ndarray]
) -> pd.DataFrame:
    """``frame`` with ``columns`` (Series on its index, or arrays of its length: typed as
    ``pd.Series(array)`` types them) set, as ``frame[name] = column`` one by one on a copy
    would leave it: a column already there keeps its place, new ones go last, in
    ``columns`` order."""
    if len(columns) < 2:  # one insert costs less than a concat
        out = frame.copy()
        for name, column in columns.items():
            out[name] = column
        return out
    added = pd.DataFrame(dict(columns), index=frame.index)
    replaced = [name for name in columns if name in frame.columns]
    if not replaced:
        return pd.concat([frame, added], axis=1)
    order = [*frame.columns, *(name for name in columns if name not in frame.columns)]
    return pd.concat([frame.drop(columns=replaced), added], axis=1)[order]


def in_order(frame: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """``frame.sort_values(keys, kind="stable").reset_index(drop=True)``: the rows by
    ``keys`` (integer columns), numbered from 0; ``frame`` itself when it already is (a
    stable sort of sorted rows keeps them as they are, and pandas copy-on-write keeps a
    later change to either table from showing in the other)."""
    if is_sorted(frame, keys) and _numbered(frame.index):
        return frame
    return frame.sort_values(list(keys), kind="stable").reset_index(drop=True)


def joined(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """``pd.concat(frames, ignore_index=True)``; the one frame itself when there is one and
    its rows are numbered from 0 already (a capture analysed in one partition)."""
    if len(frames) == 1 and _numbered(frames[0].index):
        return frames[0]
    return pd.concat(frames, ignore_index=True)


def _numbered(index: pd.Index) -> bool:
    """A RangeIndex 0, 1, 2, ... (what ``reset_index(drop=True)`` makes)."""
    return (
        isinstance(index, pd.RangeIndex)
        and index.start == 0
        and index.step == 1
        and index.stop == len(index)
    )


def is_sorted(frame: pd.DataFrame, keys: Sequence[str]) -> bool:
    """Are the rows in ascending (lexicographic) order of ``keys``? Ties count as ordered."""
    if len(frame) < 2:
        return True
    # Per pair of neighbours: still undecided (every key so far equal), then ordered.
    undecided = np.ones(len(frame) - 1, dtype=bool)
    for key in keys:
        column = frame[key].to_numpy()
        if column.dtype.kind not in "iub":
            return False  # only integer keys are compared here; pandas sorts the rest
        before, after = column[:-1], column[1:]
        if np.any(undecided & (after < before)):
            return False
        undecided &= after == before
    return True
