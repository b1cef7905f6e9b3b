"""Retry schedules: naming the gaps between retransmissions of one segment.

Used for SYN, SYN+ACK, data (RTO) and persist-probe series. Kernel facts (tcp-facts.md,
anchors.md 5.2/5.3):

- classic exponential backoff: each gap doubles (SYN: 1, 2, 4, 8 s from a 1 s initial RTO;
  data: from the measured RTO, min 200 ms), capped at 120 s (``TCP_RTO_MAX``);
- Linux 6.5+ SYNs (``net.ipv4.tcp_syn_linear_timeouts``, default 4) and macOS: several 1 s
  gaps, then doubling (1, 1, 1, 1, 1, 2, 4, ...);
- Windows: 3 s initial RTO then doubling (SYNs at 0, 3, 9 s).

Timer jitter is tolerated: two gaps "match" within max(20 ms, 10 %) (``timers.close_to``).
"""

from __future__ import annotations

from dataclasses import dataclass

from pcapline.timers import (
    MAX_INITIAL_SYN_RTO_S,
    RTO_MAX_S,
    TCP_TIMEOUT_INIT_S,
    close_to,
    cut_short,
    next_backoff,
)


@dataclass(frozen=True, slots=True)
class Schedule:
    """The shape of a retry series."""

    name: str  # "doubling from 1 s", "linear then doubling", "linear", "irregular", ...
    doubling: bool  # every gap after the linear part doubles the previous one (cap allowed)
    linear_gaps: (
        int  # how many leading gaps equal the first one (1 when the series doubles at once)
    )
    next_gap_s: float | None  # the gap the pattern predicts after the last retry
    #: The gaps follow a timer's pattern (doubling, linear, or linear then doubling); False:
    #: "irregular" (gaps that shrink or jump: no kernel timer sends those, or the capture
    #: missed transmissions), so no give-up moment is predicted from them.
    regular: bool = True


def _doubles(prev: float, gap: float) -> bool:
    return close_to(gap, next_backoff(prev)) or (
        not cut_short(prev, RTO_MAX_S) and close_to(gap, RTO_MAX_S)
    )


#: A single transmission's schedule (most connections' SYN and SYN+ACK): made once.
NO_RETRY = Schedule("no retry", False, 0, None)


def name_schedule(gaps: list[float], *, syn: bool = False) -> Schedule:
    """Name the backoff pattern of ``gaps`` (seconds between consecutive transmissions)."""
    if not gaps:
        return NO_RETRY
    first = gaps[0]
    linear = 1
    while linear < len(gaps) and close_to(gaps[linear], first):
        linear += 1
    rest_doubles = all(_doubles(gaps[i - 1], gaps[i]) for i in range(linear, len(gaps)))
    if len(gaps) == 1:
        return Schedule(f"one retry after {_round(first)} s", False, 1, next_backoff(first))
    if linear == 1 and rest_doubles:
        return Schedule(
            f"doubling from {_round(first)} s{_origin(first, syn)}",
            True,
            1,
            next_backoff(gaps[-1]),
        )
    if linear >= 2 and rest_doubles and linear < len(gaps):
        origin = " (Linux 6.5+ tcp_syn_linear_timeouts, or macOS)" if syn else ""
        return Schedule(
            f"linear then doubling: {linear} gaps of {_round(first)} s{origin}",
            True,
            linear,
            next_backoff(gaps[-1]),
        )
    if linear == len(gaps):
        # Still in the linear part: the next gap is the same or the first doubled one.
        origin = " (Linux 6.5+ tcp_syn_linear_timeouts, or macOS)" if syn else ""
        return Schedule(f"linear: every {_round(first)} s{origin}", False, linear, 2 * first)
    return Schedule("irregular", False, linear, max(gaps), regular=False)


def _round(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.0f}" if close_to(seconds, round(seconds)) else f"{seconds:.1f}"
    return f"{seconds:.2f}".rstrip("0").rstrip(".")


def _origin(first: float, syn: bool) -> str:
    if not syn:
        return ""
    if close_to(first, TCP_TIMEOUT_INIT_S):
        return " (Linux before 6.5, or 6.5+ with tcp_syn_linear_timeouts=0)"
    if close_to(first, MAX_INITIAL_SYN_RTO_S):
        return " (Windows, or old Linux with a 3 s initial RTO)"
    return ""
