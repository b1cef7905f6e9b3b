"""A peer that lost all state (crash, reboot, failover to a host without the connection).

Kernel rule (RFC 793 "Reset Generation" 1; Linux tcp_v4_send_reset / tcp_v6_send_reset): a
host that has no socket for a segment's 4-tuple answers it with a RST without the ACK bit whose
sequence number is the segment's ACK number. A live socket that aborts (SO_LINGER {1, 0},
close() with unread data, a timer's give-up) sends RST+ACK at its own snd.nxt instead
(tcp_send_active_reset). So a connection that was established, whose end is such a stateless
answer to the peer's segment, before the RST's sender had closed its side, ended because that
host no longer knew it. (Data after the sender's own FIN draws the same shape from its closed
socket: that is ``orphaned_fin_wait2`` or ``keepalive_race``, not this; so the connection's
opening must be captured and none of its segments missing, or that FIN may be what the capture
lacks.) The answered segment must carry data, a FIN or a keepalive probe: a bare ACK answers
something the capture lacks, or completes a handshake a full listener never accepted
(tcp_abort_on_overflow=1 answers that ACK in the same shape).
"""

from __future__ import annotations

from pcapline.evidence import Evidence
from pcapline.model import Cause, Decision, Fate


def recognise(e: Evidence, d: Decision) -> Cause | None:
    r = e.close.ending_reset
    if d.fate is not Fate.RESET or r is None or d.evidence_frames != (r.frame,):
        return None
    if r.state != "established" or not r.stateless or not r.answers_payload:
        return None
    if e.seen.mid_stream or e.seen.lossy or e.seen.acks_filtered:
        return None  # the sender's FIN (a closed socket answers the same) may be uncaptured
    if e.close.injected_hints:
        return None  # a RST with a TTL / IP ID unlike its sender's: another box may be at work
    return Cause.PEER_LOST_STATE
