"""SYN cookies: the listener answered with a cookie because its SYN queue was full.

Kernel rules (tcp_conn_request, tcp_synack_timer): a listener keeps a request socket per SYN and
retransmits its SYN+ACK while unacknowledged (net.ipv4.tcp_synack_retries, the first after 1 s).
When the SYN queue is full (a SYN flood, a tiny backlog) and net.ipv4.tcp_syncookies is 1 (or
always with 2), it answers with a SYN cookie instead: a SYN+ACK whose ISN encodes what it needs,
with no request socket, so it is never retransmitted. A client that answers still completes the
handshake from the cookie; a cookie is not a listen overflow.

The wire shows a cookie only by contrast: a SYN+ACK never retransmitted although unanswered past
the 1 s retry, from a listener that retransmitted other connections' SYN+ACKs (so retries are
on). Not claimed when the capture may hold the missing ACK out of sight (flag filter, capture
point losses or drops): the lone SYN+ACK may then have been acknowledged. A cookie SYN+ACK
without SACK and window scaling is never evidence alone: a server with both off looks the same,
and Linux's per-connection timestamp offset hides the options a cookie stores in TSval.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pcapline.evidence import Evidence
from pcapline.model import Cause, Decision, Fate


def weighs_listener(fates: Sequence[Fate | str]) -> np.ndarray:
    """Per fate: could ``recognise`` read ``Evidence.listener_retried_synack``? Only for a
    handshake timeout (its first test). The engine reruns a partition with the whole
    capture's listener counts only where this is true (``engine._to_rerun``)."""
    return np.fromiter((f == Fate.HANDSHAKE_TIMEOUT for f in fates), bool, len(fates))


def recognise(e: Evidence, d: Decision) -> Cause | None:
    sa = e.handshake.synack
    if d.fate is not Fate.HANDSHAKE_TIMEOUT or sa is None or sa.retries or not sa.gave_up:
        return None
    if not e.listener_retried_synack:
        return None
    seen = e.seen
    if (
        seen.flag_filtered
        or seen.acks_filtered
        or seen.lossy_capture
        or seen.dropped
        or seen.one_direction
    ):
        return None
    return Cause.SYN_COOKIES
