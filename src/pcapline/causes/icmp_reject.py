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
    """The reject error that ended the connect, when no SYN+ACK or RST answered: the first
    quoting a captured client SYN after which the client sent no SYN again. One followed by
    another SYN was kept as a soft error (none after the last SYN: the connect went on
    retrying and timed out, the soft error its errno: ``rejection`` names it for the
    timeout); errors after the ending one came too late (a device that queued the SYNs,
    waiting for ARP, answers each one at the end)."""
    h = e.handshake
    if h.synack is not None or h.synack_proven is not None or h.answer == "rst":
        return None
    found = soft_syn_errors(e)[1]
    return found[0] if found else None


def soft_syn_errors(e: Evidence) -> tuple[list[IcmpError], list[IcmpError]]:
    """The reject errors quoting a captured client SYN: those the client sent a SYN after
    (kept as soft errors), and the others, in capture order."""
    found = [i for i in e.icmp if i.rejects and i.quoted_side is Side.CLIENT and i.quoted_syn]
    last_syn = max(e.handshake.syn.frames) if e.handshake.syn is not None else 0
    soft = [i for i in found if i.frame < last_syn]
    return soft, [i for i in found if i.frame > last_syn]


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
