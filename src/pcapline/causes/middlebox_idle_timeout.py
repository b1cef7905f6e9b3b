"""Middlebox idle timeout: state on the path expired while the connection was idle.

Reads the idle detector's gap (``Evidence.idle``: quiet in both directions for at least
``detect.idle.MIN_IDLE_S``, everything acknowledged before it, the first segment after it
never acknowledged). The fate must be what that segment met:

- ``retransmit_timeout`` whose resent segment is that first segment after the gap: the
  middlebox dropped it and every resend (conntrack ``ct state invalid drop``, a NAT without the
  mapping);
- ``reset`` by the peer's address, answering that segment, with the RST's TTL / hop limit
  unlike the peer's own packets (the close detector's injected hint by TTL, ``Close.
  injected_by_ttl``; an IP ID jump after a silence proves nothing): the middlebox answered
  in the peer's name. A RST from the peer itself after idle (it lost the connection) is another
  cause;
- ``reset`` by a RST shown injected by its TTL / hop limit that answers nothing (it came at
  least ``detect.close.ANSWER_WITHIN_S`` after the last segment, and that silence lasted
  ``detect.idle.MIN_IDLE_S`` or more): the middlebox's own idle timer ran out and it reset the
  flow (load balancers and firewalls that reset idle connections rather than drop them).
"""

from __future__ import annotations

from pcapline.detect.idle import MIN_IDLE_S
from pcapline.evidence import Evidence
from pcapline.model import Cause, Decision, Fate


def recognise(e: Evidence, d: Decision) -> Cause | None:
    if _reset_on_its_timer(e, d):
        return Cause.MIDDLEBOX_IDLE_TIMEOUT
    gap = e.idle
    if gap is None:
        return None
    if d.fate is Fate.RETRANSMIT_TIMEOUT:
        series = e.retransmit.last_series
        if series is not None and series.frames and series.frames[0] == gap.after_frame:
            return Cause.MIDDLEBOX_IDLE_TIMEOUT
        return None
    if d.fate is Fate.RESET and gap.peer_rst_frame is not None:
        reset = e.close.ending_reset
        if (
            reset is not None
            and reset.frame == gap.peer_rst_frame
            and reset.frame in e.close.injected_by_ttl
        ):
            return Cause.MIDDLEBOX_IDLE_TIMEOUT
    return None


def _reset_on_its_timer(e: Evidence, d: Decision) -> bool:
    """A RST after a silence of ``MIN_IDLE_S`` or more, answering nothing captured, whose TTL
    shows another box (``Close.injected_by_another_box``: a one-hop difference may be the
    host's own RST after a route change during that very silence), in a capture that holds
    both directions and lost nothing (else it may answer a segment the capture lacks)."""
    reset = e.close.ending_reset
    return (
        d.fate is Fate.RESET
        and reset is not None
        and reset.frame in e.close.injected_by_another_box
        and not reset.answers_peer
        and reset.idle_s is not None
        and reset.idle_s >= MIN_IDLE_S
        and not (e.seen.lossy or e.seen.one_direction or e.seen.one_sided_capture)
        and not (e.seen.filtered or e.seen.dropped)
    )


__all__ = ["recognise"]
