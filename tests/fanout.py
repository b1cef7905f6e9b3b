"""Corpus sweeps on every core: ``over_files(check, items)`` is ``[check(i) for i in items]``
run in forked worker processes (items: capture paths, or any picklable cases).

A sweep analyses ~900 corpus captures one after the other on one core while the other idles;
in workers it takes about half the time (the suite has to stay well under ten minutes). Each
``check`` is a module-level function (pickled by name) that returns a small picklable answer,
so only answers cross the pipe; the test asserts on them in order, as if it had looped.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

T = TypeVar("T")
Item = TypeVar("Item")

#: Enough for the CI machine's cores; more workers than cores only add memory.
MAX_WORKERS = 4


def over_files(check: Callable[[Item], T], paths: Sequence[Item]) -> list[T]:
    """``check(path)`` for every path (or item), answers in ``paths`` order."""
    workers = min(os.cpu_count() or 1, MAX_WORKERS, len(paths))
    if workers < 2:
        return [check(path) for path in paths]
    # fork: the workers start with the test modules (and their check functions) imported.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        return list(pool.map(check, paths, chunksize=4))
