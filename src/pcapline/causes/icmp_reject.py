"""ICMP reject: a firewall or router (or the host) answered the connection with an ICMP error.

Kernel rule: Linux aborts a socket in SYN_SENT on an ICMP destination unreachable quoting its
SYN (``tcp_v4_err`` / ``tcp_v6_err``: ECONNREFUSED for port unreachable, EHOSTUNREACH for host
unreachable and administratively prohibited, ENETUNREACH...), unless the error arrives while
connect() still holds the socket lock: then it is kept as a soft error and the SYN retry's
error aborts it (about 1 s later). nftables ``reject with icmp type admin-prohibited`` /
``icmpx type port-unreachable`` and iptables ``REJECT --reject-with icmp-*`` make these. In an
established connection the same errors are soft: the sender keeps retransmitting until its
timer gives up, and the error is what it reports.

The fate rule is ``classify.refused_by_icmp`` (a connect answered by a reject is ``refused``);
this module finds the error and names the cause, for that fate and for timeouts whose
segments drew reject errors.
"""

from __future__ import annotations

from pcapline.evidence import Evidence
from pcapline.icmp import IcmpError
from pcapline.model import Cause, Decision, Fate, Side

#: Fates a reject error explains: a refused connect, and a sender that kept trying after
#: (soft) errors until it gave up.
_TIMEOUTS = frozenset({Fate.CONNECT_TIMEOUT, Fate.RETRANSMIT_TIMEOUT, Fate.HANDSHAKE_TIMEOUT})


def syn_rejection(e: Evidence) -> IcmpError | None:
    """The last reject error quoting a captured client SYN, when no SYN+ACK or RST answered."""
    h = e.handshake
    if h.synack is not None or h.synack_proven is not None or h.answer == "rst":
        return None
    found = [i for i in e.icmp if i.rejects and i.quoted_side is Side.CLIENT and i.quoted_syn]
    return found[-1] if found else None


def rejection(e: Evidence, d: Decision) -> IcmpError | None:
    """The reject error behind decision ``d``, if one is."""
    if d.fate is Fate.REFUSED and d.reset_by is None:
        return syn_rejection(e)
    if d.fate in _TIMEOUTS:
        found = [i for i in e.icmp if i.rejects]
        return found[-1] if found else None
    return None


def recognise(e: Evidence, d: Decision) -> Cause | None:
    return Cause.ICMP_REJECT if rejection(e, d) is not None else None


__all__ = ["recognise", "rejection", "syn_rejection"]
