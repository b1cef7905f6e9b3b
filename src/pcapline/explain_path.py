"""explain_path: the words for the causes that come from the network path.

ICMP reject, ICMP packet too big, path-MTU black hole, middlebox idle timeout, injected RST
(``pcapline.causes``). ``explain.explain`` calls ``word`` once with the fate's story: a cause
that changes what the story must say (a refusal by ICMP has no RST; a RST a middlebox sent is
not the peer's) replaces it; the others add a paragraph before the side notes. Each names the
cause, the frames and times, the settings involved and what to check, and says what the
capture point cannot show.
"""

from __future__ import annotations

from dataclasses import replace

from pcapline.causes.icmp_packet_too_big import too_big
from pcapline.causes.icmp_reject import rejection, soft_syn_errors
from pcapline.detect.close import Reset
from pcapline.detect.handshake import Handshake
from pcapline.evidence import Evidence
from pcapline.fmt import gap
from pcapline.icmp import IcmpError
from pcapline.model import Cause, Decision, Explanation, Fate, Side
from pcapline.ttl import hops_closer

#: Idle timeouts an idle gap is compared with (documented defaults).
IDLE_TIMEOUTS = (
    "Linux conntrack net.netfilter.nf_conntrack_tcp_timeout_established (default 5 days, often "
    "lowered on firewalls), AWS NAT gateway 350 s, Azure load balancer 4 min, GCP Cloud NAT "
    "20 min, many firewalls 30-60 min"
)


def inferred_keys(e: Evidence) -> dict[str, object]:
    """The ``inferred`` keys of the network path (present only when relevant):

    - ``icmp``: [{frame, kind, from, from_peer, quoted_frame, mtu}] the ICMP errors quoting the
      connection's segments (``kind``: decode/icmp.py KINDS; ``mtu`` null unless too big).
    - ``pmtu_stall``: {side, full_size, largest_acked, unanswered, shrunk_to, recovered,
      stall_s} full-size segments never acknowledged while smaller ones were.
    - ``idle_gap``: {idle_s, before_frame, after_frame, side, rst_frame} the first segment after
      a long idle gap, never acknowledged (``rst_frame``: the RST that answered it, or null).
    """
    out: dict[str, object] = {}
    if e.icmp:
        out["icmp"] = [i.as_inferred() for i in e.icmp]
    stall = e.path_mtu
    if stall is not None:
        out["pmtu_stall"] = {
            "side": stall.side.value,
            "full_size": stall.full_size,
            "largest_acked": stall.largest_acked,
            "unanswered": stall.unanswered,
            "shrunk_to": stall.shrunk_to,
            "recovered": stall.recovered_frame is not None,
            "stall_s": round(stall.stall_s, 3),
        }
    idle = e.idle
    if idle is not None:
        out["idle_gap"] = {
            "idle_s": round(idle.gap_s, 3),
            "before_frame": idle.before_frame,
            "after_frame": idle.after_frame,
            "side": idle.after_side.value,
            "rst_frame": idle.peer_rst_frame,
        }
    return out


def word(d: Decision, e: Evidence, story: Explanation) -> Explanation:
    """The fate's ``story`` with this module's cause in it (unchanged for other causes)."""
    if d.cause is Cause.ICMP_REJECT:
        return _icmp_reject(d, e, story)
    if d.cause is Cause.ICMP_PACKET_TOO_BIG:
        return _with_paragraph(story, _packet_too_big(d, e))
    if d.cause is Cause.PMTU_BLACK_HOLE:
        return _with_paragraph(story, _black_hole(e))
    if d.cause is Cause.MIDDLEBOX_IDLE_TIMEOUT:
        return _idle_timeout(d, e, story)
    if d.cause is Cause.INJECTED_RST:
        return _injected(e)
    if d.cause is Cause.PATH_RESET:
        return _path_reset(e, story)
    return story


def _with_paragraph(story: Explanation, text: str) -> Explanation:
    return replace(story, notes=(text, *story.notes))


#: Errors about the destination host itself being unreachable (sent by a router or a device
#: in front of it, never by the host).
_ABOUT_THE_HOST = frozenset({"host_unreachable", "net_unreachable"})


def _sender(error: IcmpError, target: Side) -> str:
    if error.from_peer and error.kind in _ABOUT_THE_HOST:
        # From the address itself: the host's own REJECT rule (reject with host-unreachable
        # answers from the local address), or a device answering for it (a load balancer or
        # NAT whose backend did not answer ARP, the error's source rewritten by conntrack).
        return (
            f"{error.sender} (the {target}'s own address: its own firewall rejecting with "
            "host unreachable, or a load balancer or NAT in front of it answering for it)"
        )
    if error.from_peer:
        return f"{error.sender} (the {target} host itself)"
    return f"{error.sender} (a router or firewall on the path, not the {target})"


def _icmp_reject(d: Decision, e: Evidence, story: Explanation) -> Explanation:
    error = rejection(e, d)
    assert error is not None
    if d.fate is not Fate.REFUSED:
        return _with_paragraph(
            story,
            f"The {error.quoted_side}'s segments drew ICMP {error.words} from "
            f"{_sender(error, error.quoted_side.other)} (frame {error.frame}): the path "
            "rejected them; Linux keeps retrying on such errors in an established connection "
            "and reports them when it gives up. Check: the routes and firewall rules at that "
            "address (nft list ruleset / iptables -S for REJECT rules).",
        )
    h = e.handshake
    quoted = f", quoting the SYN of frame {error.quoted_frame}" if error.quoted_frame else ""
    retries = ""
    soft, hard = soft_syn_errors(e)
    if h.syn is not None and h.syn.retries and soft:
        retries = (
            f" The SYN was sent {h.syn.retries + 1} times: an error that arrives while connect() "
            "still holds the socket is kept as a soft error, and the next one aborts it."
        )
    later = [i.frame for i in hard if i.frame > error.frame]
    if later:
        retries += (
            f" {len(later)} more error(s) came after it (frame {later[0]} first), for SYNs the "
            "device had held: the connect() had already failed."
        )
    errno = _errno(error)
    who = "A firewall or router rejected the connection"
    check = (
        f"Check: the REJECT rules at {error.sender} (nft list ruleset: 'reject with icmp' / "
        "'icmpx'; iptables -S: REJECT --reject-with), and the route to the server "
        "(traceroute -T -p <port>)."
    )
    if error.kind == "net_unreachable" and not error.from_peer:
        # A router's "no route" (ICMP code 0; ICMPv6 "no route to destination"): a routing
        # table without the server's network is the usual source, a reject rule the other.
        who = "A router had no route to the server's network, or a firewall rejected it so"
        check = (
            f"Check: the routes at {error.sender} (ip route get <server address>: "
            "'unreachable', a blackhole, or no route at all), then its REJECT rules ('reject "
            "with icmp net-unreachable' / 'icmpv6 no-route'), and the route to the server "
            "(traceroute -T -p <port>)."
        )
    if error.from_peer and error.kind in _ABOUT_THE_HOST:
        who = "That address rejected the connection or could not reach the host behind it"
        check = (
            f"Check: the REJECT rules on {error.sender} itself (nft list ruleset, iptables -S), "
            "or, if a load balancer or NAT serves that address (DNAT rules, conntrack -L), the "
            "backend it chose and its neighbour entry there (ip neigh: FAILED or INCOMPLETE)."
        )
    return Explanation(
        f"ICMP {error.words} from {_sender(error, Side.SERVER)} answered the SYN "
        f"(frame {error.frame}{quoted})",
        "Refused",
        f". {who} (no RST was sent): Linux aborts a connect() on it (tcp_v4_err / "
        f"tcp_v6_err), which fails with {errno}.{retries}",
        check,
    )


def _errno(error: IcmpError) -> str:
    """What connect() reports for the error (net/ipv4/icmp.c icmp_err_convert,
    net/ipv6/icmp.c icmpv6_err_convert)."""
    if error.kind == "port_unreachable":
        return "ECONNREFUSED"
    if error.kind == "net_unreachable":
        return "ENETUNREACH"
    if error.kind == "protocol_unreachable":
        return "ENOPROTOOPT"
    if error.kind == "admin_prohibited" and ":" in error.sender:
        return "EACCES"
    return "EHOSTUNREACH"


def _packet_too_big(d: Decision, e: Evidence) -> str:
    error = too_big(e)
    assert error is not None
    size = f" {error.quoted_len}-byte" if error.quoted_len else ""
    mtu = f" MTU {error.mtu}" if error.mtu else " a smaller MTU"
    outcome = (
        "the sender lowered its path MTU and resent the data in smaller segments: the "
        "retransmissions are that, not loss"
        if d.fate not in (Fate.RETRANSMIT_TIMEOUT, Fate.RESET)
        else "the sender still did not get its data through"
    )
    return (
        f"ICMP {error.words} from {_sender(error, error.quoted_side.other)} (frame "
        f"{error.frame}) named{mtu}: the {error.quoted_side}'s{size} segments did not fit a "
        f"link on the path (RFC 1191 / RFC 8201); {outcome}. Check: the MTU of the links and "
        "tunnels between the hosts (ip link; VPN, GRE, VXLAN and PPPoE lower it), MSS clamping "
        "on the router (nft: tcp option maxseg size set rt mtu)."
    )


def _black_hole(e: Evidence) -> str:
    stall = e.path_mtu
    assert stall is not None
    who = stall.side
    head = (
        f"{stall.full_size}-byte (full-size) segments, first frame {stall.first_frame}, "
        f"were sent {stall.unanswered} times and never acknowledged while its "
        f"{stall.largest_acked}-byte ones were, and no ICMP fragmentation-needed / "
        "packet-too-big quoting them is in the capture"
    )
    where = (
        f" (that none arrived holds if this capture was taken on the {who}'s side of the "
        "router that dropped them: a capture beyond it cannot see that ICMP)"
    )
    check = (
        "Check: the MTU/MSS of the path (tracepath; ping -M do -s <size> on IPv4), ICMP "
        "filtering on its firewalls (fragmentation-needed / packet-too-big must pass), MSS "
        "clamping on the router (nft: tcp option maxseg size set rt mtu), or "
        "net.ipv4.tcp_mtu_probing=1 on the sender."
    )
    if stall.recovered_frame is not None:
        return (
            f"Slow, not failed: a path-MTU black hole the {who} recovered from: its {head}{where}. "
            f"After {gap(stall.stall_s)} it resent the bytes in {stall.shrunk_to}-byte segments "
            f"(frame {stall.shrunk_frame}; Linux MTU probing, net.ipv4.tcp_mtu_probing=1 falls "
            f"back to tcp_base_mss after tcp_retries1 timeouts), which were acknowledged "
            f"(frame {stall.recovered_frame}): the transfer recovered. {check}"
        )
    return f"Likely a path-MTU black hole: the {who}'s {head}{where}. {check}"


def _idle_timeout(d: Decision, e: Evidence, story: Explanation) -> Explanation:
    idle = e.idle
    reset = e.close.ending_reset
    if d.fate is Fate.RESET and reset is not None and not reset.answers_peer:
        return _reset_on_its_timer(e, reset, story)
    assert idle is not None
    peer = idle.after_side.other
    timeouts = (
        f"Compare the {gap(idle.gap_s)} idle gap with the idle timeouts of the middleboxes on "
        f"the path: {IDLE_TIMEOUTS}."
    )
    fix = (
        "Fix: TCP keepalive below the shortest of them (SO_KEEPALIVE with TCP_KEEPIDLE, "
        "net.ipv4.tcp_keepalive_time) or application heartbeats; check conntrack -L / the "
        "NAT's and load balancer's idle-timeout settings."
    )
    if d.fate is Fate.RESET:
        reset = e.close.ending_reset
        assert reset is not None
        why = _why_injected(e, reset)
        return Explanation(
            f"reset in the {peer}'s name (frame {reset.frame}) after {gap(idle.gap_s)} idle",
            "Middlebox idle timeout",
            f". The connection was idle from frame {idle.before_frame} to frame "
            f"{idle.after_frame}; the RST answered the {idle.after_side}'s first segment after "
            f"the gap, and its TTL / hop limit is unlike the {peer}'s own packets ({why}): a "
            f"stateful middlebox (firewall, NAT, load balancer) sent it, not the {peer}, after "
            f"its state for the connection expired while idle. {timeouts}",
            fix,
            story.notes,
        )
    return _with_paragraph(
        story,
        f"Likely a middlebox idle timeout: the connection was idle for {gap(idle.gap_s)} "
        f"(frames {idle.before_frame} -> {idle.after_frame}), everything before it was "
        f"acknowledged, and the {idle.after_side}'s first segment after the gap was never "
        f"acknowledged: a stateful firewall, NAT or load balancer that forgot the connection "
        f"while it was idle drops its segments (the {peer} may never have seen them). "
        f"{timeouts} {fix}",
    )


def _reset_on_its_timer(e: Evidence, reset: Reset, story: Explanation) -> Explanation:
    """``causes.middlebox_idle_timeout``'s RST that answered nothing, after a silence."""
    quiet = reset.idle_s or 0.0
    return Explanation(
        f"reset in the {reset.side}'s name (frame {reset.frame}) after {gap(quiet)} idle, "
        "answering nothing",
        "Middlebox idle timeout",
        f". Nothing was sent for {gap(quiet)} before the RST, and its TTL / hop limit is unlike "
        f"the {reset.side}'s own packets ({_why_injected(e, reset)}): a stateful middlebox (a "
        "load balancer, firewall or proxy that resets idle flows rather than dropping them) "
        f"sent it when its idle timer for the connection ran out, not the {reset.side}. "
        f"Compare the {gap(quiet)} with the idle timeouts on the path: {IDLE_TIMEOUTS}.",
        "Fix: TCP keepalive or application heartbeats more often than that timeout "
        "(SO_KEEPALIVE with TCP_KEEPIDLE), or raise the device's idle timeout.",
        story.notes,
    )


def _why_injected(e: Evidence, reset: Reset) -> str:
    return e.close.injected().get(reset.frame, "")


def _injected(e: Evidence) -> Explanation:
    reset = e.close.ending_reset
    assert reset is not None
    peer = reset.side
    state = {"handshake": "during the handshake", "established": "while established"}.get(
        reset.state, reset.state
    )
    flowing = ", while data was flowing" if reset.during_transfer else ""
    return Explanation(
        f"reset in the {peer}'s name (frame {reset.frame}) {state}{flowing}",
        "Injected RST",
        f". The RST's TTL / hop limit is unlike the {peer}'s own packets "
        f"({_why_injected(e, reset)}): a middlebox on the path sent it (a firewall's 'reject with "
        f"tcp reset', an IPS, a load balancer, a censor), not the {peer}. The {peer} may still "
        "hold the connection open: a capture on its side shows whether it ever saw the RST.",
        "Check: firewalls and IPSs between the hosts (nft list ruleset / iptables -S for "
        "'reject with tcp reset' / REJECT --reject-with tcp-reset), load balancer logs, and a "
        f"capture at the {peer}.",
    )


def refusal(h: Handshake, who: str, about: str = "") -> str:
    """What the refusing RST answered, one clause for every refusal's story (``explain``'s
    and ``_path_reset``'s; ``who``: the RST's sender as the capture can name it, ``about``:
    added after its frames): each of the client's SYNs when it tried again after each RST
    (told in that order: "RST after N SYN retransmissions" would tell it backwards), a SYN
    the capture does not hold, or the SYN after its retransmissions."""
    syn = h.syn
    if syn is not None and syn.refusals:
        n = syn.retries + 1
        frames = ", ".join(str(f) for f in syn.refusals)
        each = f"each of the {n} SYNs" if len(syn.refusals) == n else f"each of {n - 1} SYNs"
        return (
            f"{who} answered {each} with RST (frames {frames}{about}); the client sent "
            f"{syn.schedule.name} (a stack that retries a refused connect: Windows does, "
            "0.5 s later)"
        )
    if syn is None:
        return (
            f"a RST from {who} (frame {h.answer_frame}{about}) answers a SYN the capture does "
            "not hold: its sequence number is 0, the reset of a segment without ACK"
        )
    tries = f" after {syn.retries} SYN retransmission(s)" if syn.retries else ""
    return f"{who} answered the SYN with RST{tries} (frame {h.answer_frame}{about})"


def path_reset_inferred(e: Evidence) -> dict[str, object]:
    """``inferred.path_reset`` of a connection with cause ``path_reset``: the RST's TTL and
    the server's SYN+ACKs' (most common, lowest, highest), and whether that TTL is stable."""
    p = e.path_rst
    assert p is not None
    return {
        "rst_ttl": p.rst_ttl,
        "server_ttl": p.server_ttl,
        "server_ttls": [p.server_lo, p.server_hi],
        "stable": p.stable,
    }


def _path_reset(e: Evidence, story: Explanation) -> Explanation:
    """``causes.path_reset``: the refusal's RST came from closer than the server."""
    p = e.path_rst
    assert p is not None
    if p.server_lo == p.server_hi:
        server = f"TTL {p.server_ttl}: the RST's sender is {hops_closer(p.rst_ttl, p.server_ttl)}"
    else:
        server = f"TTL {p.server_lo}-{p.server_hi}"
    compared = {
        "": "its SYN+ACKs on other connections to this port",
        "one": "the one SYN+ACK of it in the capture",
        "varies": "its SYN+ACKs, whose TTL varies: route changes, ECMP, several backends",
        "ports": "its SYN+ACKs on its other ports only: a port forward may send those to "
        "another host",
    }[p.basis]
    who = "A device in the path" if p.stable else "Probably a device in the path"
    answered = refusal(e.handshake, "the server's address", f", IP TTL {p.rst_ttl}")
    return Explanation(
        f"{answered}; the server's own packets arrive with {server}",
        "Refused",
        f". {who} sent the RST in the server's name, not the server (compared with "
        f"{compared}): a host starts every packet with one TTL and the route takes the same "
        "hops off, so a higher TTL from the same initial TTL comes from fewer hops away. A "
        "router or firewall rejecting the SYN (nftables 'reject with tcp reset', iptables "
        "REJECT --reject-with tcp-reset, a cloud security group or ACL), or a load balancer "
        "with no healthy backend for the port. The server never saw this SYN: its ss -lnt and "
        "logs say nothing about it.",
        "Check: the reject rules on the routers and firewalls between the capture point and "
        "the server, nearest the capture point first (nft list ruleset / iptables -S: REJECT "
        "--reject-with tcp-reset, and the rule's counters), the load balancer's backend health "
        "and listener for the port, a firewall's policy for this client; traceroute -T -p "
        "<port> to the server shows where the path stops.",
        story.notes,
    )


__all__ = ["IDLE_TIMEOUTS", "inferred_keys", "path_reset_inferred", "refusal", "word"]
