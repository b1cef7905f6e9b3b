"""Words for the endpoint causes (``pcapline.causes``: peer lost state, orphaned FIN_WAIT2,
keep-alive race, application gave up, user timeout, SYN cookies) and for the endpoint settings the wire
cannot tell apart (TCP_KEEPCNT or TCP_USER_TIMEOUT, tcp_retries2 or TCP_USER_TIMEOUT).

``explain.explain`` calls ``endpoint_note`` once per connection decided through the rules; the
note names the cause, the times, the settings and what to check. Like explain, it reads the
decision and its ``Evidence`` only.
"""

from __future__ import annotations

from pcapline.causes.orphaned_fin_wait2 import gave_up_before_fin
from pcapline.evidence import Evidence
from pcapline.fmt import gap as _gap
from pcapline.fmt import seconds as _s
from pcapline.model import Cause, Decision, Fate
from pcapline.timers import next_backoff

#: net.ipv4.tcp_retries2's default, and the RTO_MIN and RTO_MAX its time limit is modelled on
#: (tcp_model_timeout: doubling from 200 ms up to 120 s, then 120 s per retry).
DEFAULT_RETRIES2 = 15
_RTO_MIN_S, _RTO_MAX_S = 0.2, 120.0


def endpoint_note(d: Decision, e: Evidence) -> str:
    """The cause in words, then what the wire cannot tell apart; "" when neither applies."""
    parts = [
        _CAUSE_WORDS[d.cause](d, e) if d.cause in _CAUSE_WORDS else "",
        _keepalive_settings(d, e),
        _retransmit_settings(d, e),
        _later_resets(e),
    ]
    return " ".join(p for p in parts if p)


def _peer_lost_state(d: Decision, e: Evidence) -> str:
    r = e.close.ending_reset
    assert r is not None
    peer = r.side.other
    gap = e.idle
    after_idle = gap is not None and gap.peer_rst_frame == r.frame
    silence = r.quiet_before_answered_s
    quiet = f" after {_s(silence)} of silence" if silence is not None and silence >= 1 else ""
    if after_idle:
        assert gap is not None
        quiet = f", the first after {_s(gap.gap_s)} of silence on both sides,"
    lost = (
        f"The {r.side}'s state was lost while the connection sat idle: an idle timeout first "
        f"(of whatever held the connection in the {r.side}'s name: the {r.side} itself, or a "
        "proxy or load balancer terminating TCP in front of it, which answers with its own "
        "stack), then a crash, reboot or failover during the silence. Or the "
        f"{r.side} never lost it: a NAT between here and the {r.side} whose conntrack entry "
        "expired during the silence translates the segment anew (masquerade gives it another "
        "source port, or an INVALID segment leaves untranslated), the "
        f"{r.side}'s stack has no socket for that 4-tuple and answers like this while its "
        "socket for this one stays open (a capture behind the NAT shows the segment as "
        "another stream carrying these sequence numbers: the nat_remap finding)"
        if after_idle
        else f"The {r.side}'s state was lost without a FIN or RST reaching the {peer}: a host, "
        "VM or container crash or reboot, a failover to a host without the connection, or a "
        "connection table flushed on the way"
    )
    timeouts = (
        f"the idle timeouts of the {r.side}'s application and of any proxy or load balancer in "
        f"front of it (one shorter than {_s(gap.gap_s)}?), "
        if after_idle and gap is not None
        else ""
    )
    conntrack = (
        "the idle timeout of any NAT or firewall on the path (Linux: conntrack -L, "
        "net.netfilter.nf_conntrack_tcp_timeout_established)"
        if after_idle
        else "conntrack on the path"
    )
    return (
        f"Cause: the {r.side} no longer knew this connection. Its RST (frame {r.frame}) answers "
        f"the {peer}'s segment (frame {r.answers_frame}){quiet} with no ACK bit and seq = that "
        "segment's ACK number: the answer of a host that has no socket for the 4-tuple (RFC 793; "
        f"Linux tcp_v4/v6_send_reset). {lost}. An application "
        f"abort looks different: RST+ACK at the {r.side}'s own sequence number, usually right "
        f"after its own last segment. This rests on the capture holding no FIN of the "
        f"{r.side}'s: had the capture point missed one, a socket that had closed answers late "
        f"data the same way (the keep-alive race). Check: {timeouts}the {r.side}'s uptime "
        f"and logs at that time, failover or load-balancer events, {conntrack}."
    )


def _orphaned_fin_wait2(d: Decision, e: Evidence) -> str:
    r = e.close.ending_reset
    assert r is not None
    closer, peer = r.side, r.side.other
    late = _s(r.late_after_fin_s)
    if r.late_is_fin:
        return (
            f"Cause: orphaned FIN_WAIT2, expired: the {closer} had closed (its FIN acknowledged) "
            f"and the {peer} sent its own FIN {late} later (frame {r.late_frame}); the {closer} "
            f"answered it with RST (frame {r.frame}), so its socket was gone: a socket in "
            "FIN_WAIT2 acknowledges the FIN and enters TIME_WAIT. The orphaned socket was freed "
            f"after net.ipv4.tcp_fin_timeout (default 60 s) on the {closer}, shorter than the "
            f"{late} the {peer} stayed in CLOSE_WAIT. Check: ss -tan state close-wait on the "
            f"{peer} (its application reads EOF late), tcp_fin_timeout on the {closer}."
        )
    gone = (
        f" ({late} is past the default 60 s: the socket was most likely gone)"
        if r.late_after_fin_s is not None and r.late_after_fin_s >= 60
        else ""
    )
    return (
        f"Cause: orphaned FIN_WAIT2: the {closer} had closed the connection (FIN acknowledged by "
        f"the {peer}), the {peer} stayed in CLOSE_WAIT and wrote {late} later (frame "
        f"{r.late_frame}); the {closer}'s application had close()d its socket, and an orphan "
        "answers new data with RST, whether still in FIN_WAIT2 or already freed after "
        f"net.ipv4.tcp_fin_timeout (default 60 s){gone}. The {peer}'s application used a "
        f"connection the {closer} had ended: it should read the EOF (recv() returns 0) and "
        f"close. Check: ss -tan state close-wait on the {peer}, tcp_fin_timeout on the {closer}."
    )


def _keepalive_race(d: Decision, e: Evidence) -> str:
    r = e.close.ending_reset
    assert r is not None
    closer, peer = r.side, r.side.other
    when = (
        "sent before the FIN reached it"
        if r.late_crossed_fin
        else f"{_s(r.late_after_fin_s)} after the FIN"
    )
    # Say what was measured from what: the closer's own last segment to its FIN is its own
    # quiet time at any capture point; the quiet on the wire before the FIN depends on where
    # the capture was taken (the peer's last ACK reaches the closer up to a round trip later).
    quiet = (
        f"{_s(r.own_quiet_before_fin_s)} after its own last segment (frame {r.own_last_frame})"
        if r.own_quiet_before_fin_s is not None
        else f"after {_s(r.idle_before_fin_s)} with nothing on the wire"
    )
    return (
        f"Cause: keep-alive race: the {closer} closed the connection {quiet} (an idle "
        f"timeout, counted from its last write or from the {peer}'s last segment it received, "
        "or its application ending the session: the wire shows when, not why), "
        f"while the {peer} sent a new request "
        f"on it (frame {r.late_frame}, {when}); the closed socket answered the request with RST "
        f"(frame {r.frame}), so the {peer} got ECONNRESET for a request the {closer} never read. "
        f"Fix on the {peer}: retry idempotent requests that fail on a reused connection, and "
        f"close pooled connections before the {closer}'s keep-alive idle timeout (keep the "
        f"{peer}'s pool idle timeout shorter than, e.g., nginx keepalive_timeout or Apache "
        "KeepAliveTimeout)."
    )


def _app_gave_up(d: Decision, e: Evidence) -> str:
    w = e.close.waited
    assert w is not None
    how = "aborted it (RST)" if w.by_rst else "closed it (FIN)"
    r = e.close.ending_reset
    late = ""
    if r is not None and gave_up_before_fin(e):
        what = "its FIN" if r.late_is_fin else "the answer it still owed"
        late = (
            f" The server sent {what} {_s(r.late_after_fin_s)} after the client's FIN (frame "
            f"{r.late_frame}); the client's socket, closed by its application, answered it with "
            f"RST (frame {r.frame}: an orphan answers data with RST). The server is not at "
            "fault for writing it: the client had stopped waiting."
        )
    return (
        f"Cause: the client gave up waiting: its request (frame {w.request_frame}) was "
        f"acknowledged by the server's kernel (frame {w.ack_frame}) but no response came for "
        f"{_s(w.waited_s)}, then the client {how} (frame {w.end_frame}).{late} The client "
        "waited and the server's application was silent (busy, blocked, or waiting on something "
        "of its own): the network delivered the request. Unless the client expected no answer, "
        f"its request or read timeout is about {_s(w.waited_s)}. Check: the client's timeout "
        "settings, the server application's logs and latency for this request."
    )


def _user_timeout(d: Decision, e: Evidence) -> str:
    s = e.retransmit.last_series
    assert s is not None
    return (
        f"Cause: TCP_USER_TIMEOUT: the {s.side}'s last retransmission gap is shorter than the "
        "doubling backoff predicts, because the kernel clamps the timer to the time the user "
        "timeout has left (tcp_clamp_rto_to_user_timeout), and gives up when it fires: the "
        f"user timeout is about {_s(s.give_up_after_s)}. Check the application's "
        "TCP_USER_TIMEOUT socket option."
    )


def _syn_cookies(d: Decision, e: Evidence) -> str:
    sa = e.handshake.synack
    assert sa is not None
    return (
        "Cause: SYN cookie: this SYN+ACK was never retransmitted although unanswered past the "
        "1 s retry, while the same listener retransmitted other connections' SYN+ACKs: it kept "
        "no request socket for this one because its SYN queue was full, and answered with a SYN "
        "cookie (net.ipv4.tcp_syncookies). A client that answers a cookie still connects; "
        "this one never did (a SYN flood, spoofed sources, or a lost return path). Check: nstat "
        "-az TcpExtSyncookiesSent TcpExtSyncookiesRecv TcpExtListenDrops, the listen() backlog "
        "and net.ipv4.tcp_max_syn_backlog, the sources of the unanswered SYNs."
    )


def _half_open_probe(d: Decision, e: Evidence) -> str:
    h = e.handshake
    shape = h.synack_reset_shape
    assert shape is not None and shape.syn_to_synack_s is not None
    # SYN -> RST at any capture point is the client's own wait: one way, the server's
    # delay, the way back.
    waited = shape.syn_to_synack_s + shape.synack_to_rst_s
    if h.client_data_frame is not None:
        # Data after the RST (the cause allows no data before it): no socket sent it.
        return (
            "Cause: a half-open probe: the server answered the SYN with its SYN+ACK in "
            f"{_gap(shape.syn_to_synack_s)} (it listens), and the client's kernel answered that "
            f"with a bare RST (frame {h.synack_reset}, {_gap(shape.synack_to_rst_s)} later: no "
            "ACK bit, sequence number = the SYN+ACK's ACK number), the answer of a host with no "
            "socket for the connection. The client's data after it (frame "
            f"{h.client_data_frame}) came from no kernel socket either: the SYN, sent once and without "
            "the timestamps option a kernel's connect() adds, and that data came from a raw "
            "socket, a scanner grabbing banners with its own TCP (masscan --banners). "
            "Nothing failed on the server. Check: which host and tool send these SYNs (the "
            "client address: a security scanner, an inventory tool)."
        )
    return (
        "Cause: a half-open probe: the server answered the SYN with its SYN+ACK in "
        f"{_gap(shape.syn_to_synack_s)} (it listens), and the client's kernel answered that "
        f"with a bare RST (frame {h.synack_reset}, {_gap(shape.synack_to_rst_s)} later: no ACK "
        "bit, sequence number = the SYN+ACK's ACK number), the answer of a host with no socket "
        "for the connection; a client still connecting would have acknowledged it. The SYN, "
        "sent once and without the timestamps option a kernel's connect() adds, came from a "
        "raw socket: a SYN port scanner (nmap -sS, masscan) or a half-open health check (a "
        "load balancer's or monitor's TCP check that reads the SYN+ACK as 'port open'); or "
        f"from a client that closed its socket within {_gap(waited)} of its SYN, before the "
        "answer came. Nothing failed on the server. Check: which host and tool send these "
        "SYNs (the client address: a load balancer, a monitoring or security scanner); if it "
        "is an application, its connect timeout."
    )


_CAUSE_WORDS = {
    Cause.HALF_OPEN_PROBE: _half_open_probe,
    Cause.PEER_LOST_STATE: _peer_lost_state,
    Cause.ORPHANED_FIN_WAIT2: _orphaned_fin_wait2,
    Cause.KEEPALIVE_RACE: _keepalive_race,
    Cause.APP_GAVE_UP: _app_gave_up,
    Cause.USER_TIMEOUT: _user_timeout,
    Cause.SYN_COOKIES: _syn_cookies,
}


def _keepalive_settings(d: Decision, e: Evidence) -> str:
    """A keepalive give-up after n probes: TCP_KEEPCNT n, or a larger count cut short by
    TCP_USER_TIMEOUT (tcp_keepalive_timer checks the user timeout only when a probe is due, so
    it aborts on the same idle + n x interval grid). Both are named; the wire fixes neither."""
    k = e.keepalive
    if d.fate is not Fate.KEEPALIVE_TIMEOUT or k is None or k.count is None:
        return ""
    interval = k.timer_interval_s
    if k.idle_s is None or interval is None or k.rst_frame is None:
        return ""
    low = k.idle_s + (k.count - 1) * interval
    high = k.idle_s + k.count * interval
    # The first timer (at TCP_KEEPIDLE) sends a probe whatever the user timeout: it aborts
    # only once a probe is out (icsk_probes_out > 0), so after one probe any shorter user
    # timeout, even one below TCP_KEEPIDLE, ends it on the next timer.
    bound = (
        f"of at most {_s(high)} (even one below TCP_KEEPIDLE: a first probe always leaves)"
        if k.count == 1
        else f"between {_s(low)} and {_s(high)}"
    )
    return (
        f"On the wire {k.count} unanswered probe{'s' if k.count != 1 else ''} and the abort {_s(high)} after the last "
        f"segment the {k.prober} received fit TCP_KEEPCNT = {k.count} (or "
        f"net.ipv4.tcp_keepalive_probes), and equally a larger TCP_KEEPCNT cut short by a "
        f"TCP_USER_TIMEOUT {bound}: the user timeout is checked only "
        "when a probe is due. Check both on the prober's socket."
    )


def _retries2_limit(retries: int) -> float:
    """tcp_model_timeout(retries, TCP_RTO_MIN): when tcp_retries2 = ``retries`` gives up, in s
    after the first transmission (the doubling from 200 ms, linear once at TCP_RTO_MAX)."""
    boundary = 9  # ilog2(TCP_RTO_MAX / TCP_RTO_MIN)
    if retries <= boundary:
        return ((2 << retries) - 1) * _RTO_MIN_S
    return ((2 << boundary) - 1) * _RTO_MIN_S + (retries - boundary) * _RTO_MAX_S


def _retransmit_settings(d: Decision, e: Evidence) -> str:
    """A silent retransmission give-up: between the last retransmission and the timer after it.
    tcp_retries2 = r gives up at the first timer past its time limit (tcp_model_timeout, from the
    first transmission); a TCP_USER_TIMEOUT clamps that timer and gives up when its time is
    spent (counted from the kernel's retransmission stamp, so only its upper bound is known).
    Name the r that fits (if any) and the user timeout's bound: the wire cannot tell them."""
    s = e.retransmit.last_series
    if d.fate is not Fate.RETRANSMIT_TIMEOUT or s is None or d.cause is Cause.USER_TIMEOUT:
        return ""
    if not s.gave_up or s.rst_frame is not None or s.give_up_after_s is None or not s.gaps:
        return ""
    last = s.give_up_after_s - next_backoff(s.gaps[-1])
    high = s.give_up_after_s
    fits = [r for r in range(DEFAULT_RETRIES2 + 1) if last < _retries2_limit(r) <= high]
    default = _retries2_limit(DEFAULT_RETRIES2)
    which = (
        f"net.ipv4.tcp_retries2 = {fits[0]} (its limit is {_s(_retries2_limit(fits[0]))}) or a "
        f"TCP_USER_TIMEOUT of at most {_s(high)}"
        if fits
        else f"a TCP_USER_TIMEOUT of at most {_s(high)} (no tcp_retries2 value ends there)"
    )
    return (
        f"The {s.side} gave up between {_s(last)} and {_s(high)} after the first transmission, "
        f"sooner than the default tcp_retries2 = {DEFAULT_RETRIES2} would (about "
        f"{_s(default)}): {which}; the wire cannot tell which, check both on the {s.side}."
    )


def _later_resets(e: Evidence) -> str:
    later = e.close.later_resets
    r = e.close.ending_reset
    if not later or r is None:
        return ""
    frames = ", ".join(str(f) for f in later[:5]) + (" ..." if len(later) > 5 else "")
    return (
        f"{len(later)} later RST(s) (frame(s) {frames}) came after the RST that ended it "
        f"(frame {r.frame}): answers to segments that arrived after it (in flight when it was "
        "sent, retransmitted, or a scanner's late probe) for a connection already gone; they do "
        "not change who ended it."
    )


__all__ = ["endpoint_note"]
