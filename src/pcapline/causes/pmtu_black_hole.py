"""Path-MTU black hole: full-size segments vanish, smaller ones cross, no ICMP comes back.

Reads the path_mtu detector's stall (``Evidence.path_mtu``: full-size segments sent 3+ times,
never acknowledged, while smaller ones of the same sender were) and the ICMP errors: a
fragmentation-needed / packet-too-big quoting the connection means the path did speak
(``icmp_packet_too_big`` names that). Named for the death (``retransmit_timeout``) and for the
recovery (MTU probing shrank the segments and the peer acknowledged them: any fate, slow not
failed). Not named when the capture point lost segments or saw one direction: the missing
ACKs may then be the capture's.

That no ICMP is in the capture means none arrived only if the capture point is on the
sender's side of the router that dropped the segments; the explanation says so.
"""

from __future__ import annotations

from pcapline.evidence import Evidence
from pcapline.model import Cause, Decision, Fate


def recognise(e: Evidence, d: Decision) -> Cause | None:
    stall = e.path_mtu
    if stall is None or any(i.too_big for i in e.icmp):
        return None
    if e.seen.lossy_capture or e.seen.one_direction or e.seen.acks_filtered:
        return None  # the ACKs of the full-size segments may be what the capture lacks
    if stall.recovered_frame is not None:
        return Cause.PMTU_BLACK_HOLE
    series = e.retransmit.last_series
    if d.fate is Fate.RETRANSMIT_TIMEOUT and series is not None and series.side is stall.side:
        return Cause.PMTU_BLACK_HOLE  # the side that died is the one whose segments stalled
    return None


__all__ = ["recognise"]
