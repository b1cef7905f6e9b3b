"""TCP timer constants and the slack we allow when matching timers seen on the wire.

The detectors judge retransmission, persist and keepalive series by the timers that sent
them (tcp-facts.md, anchors.md 5.2-5.4). The kernel values live here once, with the two
tolerances every detector uses:

- ``close_to``: two intervals are "the same timer" within max(20 ms, 10 %);
- ``overdue``: the capture stayed silent past a timer's due time by more than 10 % + 20 ms,
  so the timer fired and nothing was sent: the sender gave up.
- ``cut_short``: an interval ended more than 10 % before the timer was due: not jitter.

Why 10 % and 20 ms: a kernel timer never fires early but often late. Linux rounds a timeout
up to whole jiffies (4 ms at HZ=250, 10 ms at HZ=100) and its timer wheel files long timers
into coarser buckets, so the lateness grows with the timeout (the proportional part); softirq
scheduling and queues between the sender and the capture point add a few milliseconds
whatever the timeout (the fixed part).
"""

from __future__ import annotations

#: Linux TCP_RTO_MIN (HZ/5): no retransmission timer (RTO, persist) is shorter.
RTO_MIN_S = 0.2
#: Linux TCP_RTO_MAX: exponential backoff stops doubling here.
RTO_MAX_S = 120.0
#: TCP_TIMEOUT_INIT (RFC 6298 2.1): the first RTO before any RTT sample, e.g. a SYN+ACK's.
TCP_TIMEOUT_INIT_S = 1.0
#: The first SYN RTO on every stack we know is at most 3 s (Windows, Linux before 3.1 with
#: RFC 2988's 3 s initial RTO); a capture that goes on longer than this after a lone SYN
#: shows that no retry came.
MAX_INITIAL_SYN_RTO_S = 3.0
#: Linux TCP_KEEPIDLE and TCP_KEEPINTVL are at least 1 s (tcp_sock_set_keepidle rejects 0).
KEEPALIVE_MIN_S = 1.0

#: Linux TCP_DELACK_MAX (Windows' delayed ACK too): the usual longest a receiver holds an ACK.
DELACK_MAX_S = 0.2
#: RFC 1122 4.2.3.2's cap on any delayed ACK (Linux HZ/2 outside quick-ACK mode).
DELACK_CEILING_S = 0.5
#: Timer slack, proportional part (see the module docstring).
SLACK_FRACTION = 0.1
#: Timer slack, fixed part in seconds (see the module docstring).
SLACK_S = 0.02

#: Below this time since the last ACK that advanced snd.una, a resend cannot be Linux's RTO
#: (TCP_RTO_MIN, rearmed by each such ACK), less 10 % for where the capture sits (the
#: original may have waited in a queue before the capture point, the resend not).
RTO_FLOOR_S = (1 - SLACK_FRACTION) * RTO_MIN_S
#: Above this gap between two copies of a segment, no retransmission timer sent the later one:
#: the backoff stops doubling at TCP_RTO_MAX (plus the usual slack): a longer gap is a time
#: jump or captures joined together, not a backoff step.
RTO_CEILING_S = RTO_MAX_S * (1 + SLACK_FRACTION) + SLACK_S
#: net.ipv4.tcp_retries2 default: Linux aborts a connection whose data stays unacknowledged
#: once the backoff of 15 retransmissions from TCP_RTO_MIN would have run out
#: (retransmits_timed_out, tcp_model_timeout): about 924.6 s after the first retransmission.
TCP_RETRIES2 = 15
TCP_RETRIES2_BUDGET_S = 924.6
#: tcp_orphan_retries 0 means 8 (tcp_orphan_retries()): the limit once the application has
#: closed the socket (orphaned, e.g. data and FIN still unacknowledged after close()).
TCP_ORPHAN_RETRIES = 8
#: A keepalive probe comes at least KEEPALIVE_MIN_S after the connection's previous segment,
#: less 10 % for timer and capture-point jitter.
KEEPALIVE_MIN_IDLE_NS = round((1 - SLACK_FRACTION) * KEEPALIVE_MIN_S * 1e9)


def close_to(observed: float, expected: float) -> bool:
    """Within max(20 ms, 10 %) of ``expected``: the same timer, seen with jitter."""
    return abs(observed - expected) <= max(SLACK_S, SLACK_FRACTION * expected)


def overdue(silence_s: float, due_s: float) -> bool:
    """A timer due ``due_s`` after the last transmission has surely fired by ``silence_s``
    (10 % + 20 ms late at most): when nothing was sent, the sender gave up."""
    return silence_s > due_s * (1 + SLACK_FRACTION) + SLACK_S


def cut_short(observed: float, expected: float) -> bool:
    """``observed`` ended more than 10 % before ``expected``: more than a timer's jitter
    explains, so something else ended the wait (TCP_USER_TIMEOUT, the next timer...)."""
    return observed < (1 - SLACK_FRACTION) * expected


def next_backoff(gap_s: float) -> float:
    """The gap after ``gap_s`` in an exponential backoff: doubled, capped at TCP_RTO_MAX."""
    return min(2 * gap_s, RTO_MAX_S)
