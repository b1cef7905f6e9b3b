"""ICMP packet too big: the path told the sender its segments were too large.

RFC 1191 / RFC 8201: a router that cannot forward a DF packet (IPv4) or any too-large packet
(IPv6) drops it and answers with ICMP fragmentation needed / packet too big naming the next
link's MTU; the sender lowers its path MTU and resends in smaller segments at once
(``tcp_v4_mtu_reduced`` / ``tcp_v6_mtu_reduced``). The error quoting the connection's segment
explains the resends (and any stall); when the sender kept its segment size anyway (a tunnel
that lies, an error the host filtered), it explains the death.

Named when such an error quotes one of the connection's segments and the connection resent
data or failed.
"""

from __future__ import annotations

from pcapline.evidence import Evidence
from pcapline.icmp import IcmpError
from pcapline.model import FAILURE_FATES, Cause, Decision


def too_big(e: Evidence) -> IcmpError | None:
    """The first fragmentation-needed / packet-too-big error quoting the connection."""
    return next((i for i in e.icmp if i.too_big), None)


def recognise(e: Evidence, d: Decision) -> Cause | None:
    if too_big(e) is None:
        return None
    if e.counts.retransmits or d.fate in FAILURE_FATES:
        return Cause.ICMP_PACKET_TOO_BIG
    return None


__all__ = ["recognise", "too_big"]
