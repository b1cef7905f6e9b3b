"""32-bit sequence-number arithmetic (RFC 1982 serial numbers), for numpy arrays and ints.

TCP sequence and acknowledgement numbers, SACK edges and timestamp values (TSval, RFC 7323
5.2) are 32-bit counters that wrap: ``0x00000005`` comes *after* ``0xFFFFFFF0``. Two values
are compared through their difference taken modulo 2**32 and read as a signed 32-bit
number, so any two values less than 2**31 apart compare correctly across the wrap (the
kernel's ``before()``/``after()`` in include/net/tcp.h do exactly this with ``(s32)``).

Every function takes a Python ``int`` or an integer numpy array (int64 recommended: a
difference of two uint32 arrays must not wrap in uint32 first) and returns the same kind.

- ``wrap(x)``: ``x`` modulo 2**32 (a sequence number again after adding a length).
- ``signed(delta)``: a difference read as signed 32-bit, in [-2**31, 2**31).
- ``distance(a, b)``: how far ``a`` is ahead of ``b`` (negative: behind).
- ``seq_ge``/``seq_gt``/``seq_le``/``seq_lt``: serial comparisons.
- ``unwrap(values, base, first)``: runs of values turned into plain, ever-growing integers
  relative to a base (what ``facts.py`` calls relative sequence numbers).
"""

from __future__ import annotations

from typing import overload

import numpy as np

SEQ_BITS = 32
#: Sequence space size: values live in [0, SEQ_MOD).
SEQ_MOD = 1 << SEQ_BITS
SEQ_MASK = SEQ_MOD - 1
#: Half the space: two values at most this far apart compare correctly.
SEQ_HALF = 1 << (SEQ_BITS - 1)


@overload
def wrap(value: int) -> int: ...
@overload
def wrap(value: np.ndarray) -> np.ndarray: ...
def wrap(value: int | np.ndarray) -> int | np.ndarray:
    """``value`` modulo 2**32 (negative values wrap from the top, as in C unsigned math)."""
    return value & SEQ_MASK


@overload
def signed(delta: int) -> int: ...
@overload
def signed(delta: np.ndarray) -> np.ndarray: ...
def signed(delta: int | np.ndarray) -> int | np.ndarray:
    """A 32-bit difference as a signed step in [-2**31, 2**31) (the kernel's ``(s32)``)."""
    return ((delta + SEQ_HALF) & SEQ_MASK) - SEQ_HALF


@overload
def distance(a: int, b: int) -> int: ...
@overload
def distance(a: np.ndarray, b: np.ndarray | int) -> np.ndarray: ...
@overload
def distance(a: int, b: np.ndarray) -> np.ndarray: ...
def distance(a: int | np.ndarray, b: int | np.ndarray) -> int | np.ndarray:
    """How far ``a`` is ahead of ``b`` in sequence space (negative: ``a`` is behind)."""
    return signed(a - b)


@overload
def seq_ge(a: int, b: int) -> bool: ...
@overload
def seq_ge(a: np.ndarray, b: np.ndarray | int) -> np.ndarray: ...
@overload
def seq_ge(a: int, b: np.ndarray) -> np.ndarray: ...
def seq_ge(a: int | np.ndarray, b: int | np.ndarray) -> bool | np.ndarray:
    """``a`` is at or after ``b`` (the kernel's ``!before(a, b)``)."""
    return distance(a, b) >= 0


@overload
def seq_gt(a: int, b: int) -> bool: ...
@overload
def seq_gt(a: np.ndarray, b: np.ndarray | int) -> np.ndarray: ...
@overload
def seq_gt(a: int, b: np.ndarray) -> np.ndarray: ...
def seq_gt(a: int | np.ndarray, b: int | np.ndarray) -> bool | np.ndarray:
    """``a`` is after ``b`` (the kernel's ``after(a, b)``)."""
    return distance(a, b) > 0


@overload
def seq_lt(a: int, b: int) -> bool: ...
@overload
def seq_lt(a: np.ndarray, b: np.ndarray | int) -> np.ndarray: ...
@overload
def seq_lt(a: int, b: np.ndarray) -> np.ndarray: ...
def seq_lt(a: int | np.ndarray, b: int | np.ndarray) -> bool | np.ndarray:
    """``a`` is before ``b`` (the kernel's ``before(a, b)``)."""
    return distance(a, b) < 0


@overload
def seq_le(a: int, b: int) -> bool: ...
@overload
def seq_le(a: np.ndarray, b: np.ndarray | int) -> np.ndarray: ...
@overload
def seq_le(a: int, b: np.ndarray) -> np.ndarray: ...
def seq_le(a: int | np.ndarray, b: int | np.ndarray) -> bool | np.ndarray:
    """``a`` is at or before ``b``."""
    return distance(a, b) <= 0


def unwrap(values: np.ndarray, base: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Unwrapped ``values - base`` along runs of rows (int64).

    ``values`` are raw 32-bit numbers in the order they were sent, as int64; ``first`` marks
    the first row of each run (one run per direction of a connection; ``first[0]`` must be
    True) and ``base[i]`` is the run's base where ``first[i]`` holds (ignored elsewhere).
    Each row steps from the previous row of its run by ``distance``, so a run that wraps past
    2**32 keeps counting up (and a value just below the base comes out negative).
    """
    out = np.zeros(len(values), dtype=np.int64)
    if len(values) == 0:
        return out
    step = np.empty(len(values), dtype=np.int64)
    step[1:] = signed(values[1:] - values[:-1])
    step[first] = signed(values[first] - base[first])
    total = np.cumsum(step)
    # Subtract, in each run, the running total reached before the run started (repeated
    # over the run's length).
    starts = np.flatnonzero(first)
    run_length = np.diff(starts, append=len(values))
    out[:] = total - np.repeat(total[starts] - step[starts], run_length)
    return out
