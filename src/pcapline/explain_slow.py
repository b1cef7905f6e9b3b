"""explain_slow: a slow connection's explanation says what it lost, and where to look.

The fate's own words already tell the waits its detectors decided (SYN and SYN+ACK retries,
RTO episodes, a zero window). The waits the delays stage measures (``delays.py``) get a note
each here, from the connection's ``Delays`` record, never measured again: a late answer
(``slow_response``), a slow connect without a retry (``slow_connect``), a full receive window
(``window_full_stall``), small writes held for a delayed ACK (``nagle_stall``) and a server
application's pause mid-answer (``app_pause``). Only the
connections the thresholds tagged get one; the numbers are the ones the JSON ``delays`` holds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from statistics import median

from pcapline.delays import Delays, DelaysTable, Stall
from pcapline.fmt import seconds as _s
from pcapline.model import Explanation, ResponseFrom, ResponseJudged, Side, SlowTag, StallCause
from pcapline.timers import DELACK_CEILING_S, DELACK_MAX_S


def with_slow_notes(
    words: Sequence[Explanation],
    ids: Sequence[int],
    lost: Mapping[int, Delays],
    statuses: Mapping[int, int] | None = None,
) -> list[Explanation]:
    """``words`` (one per connection of ``ids``) with a note per slow tag the fate's words
    do not tell (module docstring). A ``DelaysTable`` is asked only for the connections its
    columns tag (a record built for each of 57,000 connections cost a second).
    ``statuses``: the HTTP status of each connection's first captured response (``app``):
    a late 504 is a gateway's timeout, not the server's own slowness (``_gateway_timeout``)."""
    out = list(words)
    for i, conn in _tagged(ids, lost):
        d = lost.get(conn)
        if d is None or not d.slow:
            continue
        status = None if statuses is None else statuses.get(conn)
        gateway = status == GATEWAY_TIMEOUT and _first_turn(d)
        notes = [
            _gateway_timeout(d) if gateway and tag is SlowTag.SLOW_RESPONSE else note(d)
            for tag, note in _NOTES.items()
            if tag in d.slow and _told_here(tag, d)
        ]
        if notes:
            out[i] = replace(out[i], notes=(*out[i].notes, *notes))
    return out


def _tagged(ids: Sequence[int], lost: Mapping[int, Delays]) -> list[tuple[int, int]]:
    """(position in ``ids``, connection id) of the connections that may be tagged."""
    if not isinstance(lost, DelaysTable):
        return list(enumerate(ids))
    noted = set(_NOTES)
    tags = lost.columns["slow"]
    where = {int(c): i for i, c in enumerate(ids)}
    return [
        (where[conn], conn)
        for conn, tagged in zip(lost.ids.tolist(), tags.tolist(), strict=True)
        if tagged and not noted.isdisjoint(tagged) and conn in where
    ]


def _told_here(tag: SlowTag, d: Delays) -> bool:
    """A slow connect with a SYN or SYN+ACK retry is the retries' story, told with the fate."""
    retried = SlowTag.SYN_RETRY in d.slow or SlowTag.SYNACK_RETRY in d.slow
    return not (tag is SlowTag.SLOW_CONNECT and retried)


def _slow_connect(d: Delays) -> str:
    head = (
        f"Slow connect: {_s(d.connect_s)} from the first SYN to the handshake's ACK without a retry"
    )
    server, client = d.server_loop_ms, d.client_loop_ms
    if server is not None and client is not None and client > server:
        # SYN+ACK -> ACK is the loop from the capture point to the client and back: the wait
        # was on the client's side of the capture point, whatever the server did.
        return (
            f"{head}; the server answered the SYN {_s(server / 1000)} after it (at the capture "
            f"point) and the client's ACK came {_s(client / 1000)} after that answer: the wait "
            "was between the capture point and the client (its path, a queue on its side, or "
            "a loaded client host), not the server."
        )
    rtt = "" if d.handshake_rtt_ms is None else f" (round trip {_s(d.handshake_rtt_ms / 1000)})"
    return (
        f"{head}{rtt}: a long path, or a server slow to answer its SYN (a loaded host, a "
        "queue on the way)."
    )


def _slow_response(d: Delays) -> str:
    if d.response_from in (ResponseFrom.SERVER_ACK, ResponseFrom.CLIENT_ACK):
        return _slow_one_way(d)
    if d.response_judged is ResponseJudged.EVERY_TURN and d.response_max_turn is not None:
        seconds, which = d.response_max_s, f"request {d.response_max_turn} of {d.responses}"
        acked = d.response_max_acked_s
    else:
        seconds, which = d.response_s, "the first request"
        acked = d.response_acked_s
    rtt_ms = d.handshake_rtt_ms
    if seconds is not None and acked is not None and _reached_late(seconds, acked):
        before = seconds - acked
        with_answer = (
            "just before answering" if before < 0.001 else f"{_s(before)} before answering"
        )
        handshake = (
            ""
            if rtt_ms is None or rtt_ms < 1
            else f" (the handshake's round trip: {_s(rtt_ms / 1000)})"
        )
        return (
            f"Slow answer: the answer to {which} came {_s(seconds)} after the request's last "
            f"byte, and the server's TCP acknowledged that byte (a bare ACK) only then, "
            f"{_s(acked)} after it was sent, {with_answer}. A receiver's kernel acknowledges "
            "data within its delayed-ACK timer whatever its application does (Linux: usually "
            "40-200 ms, 500 ms at most; Windows 200 ms), so the request reached the server late "
            "or that ACK came back late, and its application answered within a fraction of a "
            f"second: the time went on the path{handshake}: a long path, or a queue on a slow "
            "or busy link (bufferbloat; this connection's bytes waiting behind other traffic), "
            "not the server's application (unless its TCP acknowledges only when the "
            "application reads, as some embedded stacks do). Check the queues on the path (tc "
            "-s qdisc at the bottleneck; ping during the transfer shows the round trip growing)."
        )
    # The loop from the capture point to the server and back (the handshake's SYN -> SYN+ACK
    # there) is in the wait: the whole round trip at the client, none at the server. Under a
    # millisecond (a LAN, or a capture at the server): not said.
    loop = d.server_loop_ms if d.server_loop_ms is not None else rtt_ms
    rtt = (
        ""
        if loop is None or loop < 1
        else f", {_s(loop / 1000)} of it the round trip to the server"
    )
    if loop is None and seconds is not None and acked is not None and acked >= 0.001:
        # No handshake round trip (a SYN or SYN+ACK was resent: Karn): the server's first bare
        # ACK of the request is the loop to it (and a delayed ACK at most), taken off.
        rtt = (
            f"; the handshake's round trip was not measured (a SYN or SYN+ACK resent), and the "
            f"server's TCP acknowledged the request {_s(acked)} after it (the round trip to the "
            f"server, and its delayed ACK at most): about {_s(seconds - acked)} of it was the "
            "server's"
        )
    return (
        f"Slow answer: the server took {_s(seconds)} to answer {which} (the request's last byte "
        f"to the answer's first, at the capture point{rtt}): its application, or what it "
        "waits on, was slow; check the server's request latency and logs at that time."
    )


#: HTTP 504 Gateway Timeout (RFC 9110 15.6.5): a gateway or proxy did not receive a timely
#: response from the upstream server it needed, and answered itself.
GATEWAY_TIMEOUT = 504


def _first_turn(d: Delays) -> bool:
    """The slow answer is the first request's (the one ``app`` read the status of)."""
    if d.response_judged is ResponseJudged.EVERY_TURN and d.response_max_turn is not None:
        return d.response_max_turn == 1
    return True


def _gateway_timeout(d: Delays) -> str:
    seconds = d.response_max_s if d.response_max_s is not None else d.response_s
    return (
        f"Slow answer: {_s(seconds)} from the request's last byte to the answer's first, and "
        "the answer is HTTP 504 Gateway Timeout: the server here is a proxy or gateway (a load "
        "balancer, nginx, HAProxy, an API gateway) that gave up waiting for its upstream and "
        f"answered itself, so the {_s(seconds)} is about its upstream timeout (nginx proxy_read_timeout, HAProxy "
        "timeout server, the load balancer's response timeout), not its own work: the slow "
        "party is the upstream behind it. Check the upstream's latency and logs at that time, "
        "and whether that timeout is meant to be this short."
    )


def _slow_one_way(d: Delays) -> str:
    """A first answer timed in a one-direction capture (``one_way_turns``): a lower bound,
    said as one, with the two frames that prove it and the direction that was missing."""
    seconds, proof, to = d.response_s, d.response_from_frame, d.response_to_frame
    if d.response_from is ResponseFrom.SERVER_ACK:
        how = (
            f"only the server's packets were captured (the client's direction was not): its "
            f"first ACK covering the request (frame {proof}) came {_s(seconds)} before its "
            f"answer (frame {to}), which carries the same ACK number. A receiver's kernel "
            "acknowledges data within its delayed-ACK timer whatever its application does "
            f"(Linux: {_s(DELACK_MAX_S)} at most), so the request had arrived by that ACK, "
            "and no more of the client's bytes came before the answer"
        )
    else:
        how = (
            f"only the client's packets were captured (the server's direction was not): from "
            f"the request's last byte (frame {proof}) to the client's first ACK of new server "
            f"bytes (frame {to}), less the longest a client's kernel delays an ACK ("
            f"{_s(DELACK_CEILING_S)}, RFC 1122; Linux: {_s(DELACK_MAX_S)}; the answer had "
            "arrived by then) and the handshake's round "
            "trip (the SYN to the client's ACK of the SYN+ACK)"
        )
    return (
        f"Slow answer: the server took at least {_s(seconds)} to answer the first request: "
        f"{how}. Its application, or what it waits on, was slow; check the server's request "
        "latency and logs at that time."
    )


def _reached_late(seconds: float, acked: float) -> bool:
    """The server's first ACK of the request came with its answer (within a delayed ACK of
    it), later than twice the longest delayed ACK after the request: its application
    answered within a delayed ACK or so of getting the request, and the rest of the wait was
    the path's (``_slow_response``)."""
    # An answer within DELACK_MAX_S of the ACK left the server with it; an ACK later than
    # twice the longest any delayed ACK waits came late for reasons of the path.
    return seconds - acked <= DELACK_MAX_S and acked > 2 * DELACK_CEILING_S


def _window_full(d: Delays) -> str:
    side, episodes = _waiter(d, StallCause.WINDOW_FULL)
    return (
        f"Slow: the {side.value} waited {_s(d.window_full_s)} in all ({len(episodes)} times) for "
        f"the {side.other}'s full receive window to open: the {side.other}'s application "
        "read slowly, or its receive buffer is small for the path (SO_RCVBUF, "
        "net.ipv4.tcp_rmem)."
    )


def _nagle(d: Delays) -> str:
    side, episodes = _waiter(d, StallCause.NAGLE)
    each = _s(median(s.seconds for s in episodes)) if episodes else "?"
    return (
        f"Slow: the {side.value}'s small writes waited {_s(d.nagle_s)} in all "
        f"({len(episodes)} times, about {each} each) for the {side.other}'s delayed ACK: "
        "likely Nagle meeting delayed ACK (a message sent in several writes, then a wait for "
        "the answer; the capture shows each held segment leave as that ACK came, not the "
        f"socket option). Set TCP_NODELAY on the {side.value}'s socket, or write each message "
        "at once."
    )


def _app_pause(d: Delays) -> str:
    if d.app_pause_pipelined:
        return (
            f"Slow: the server's application paused {_s(d.app_pause_answer_s)} before a "
            "response (its status line begins the data after the pause) to a request the "
            "client had already sent (pipelined, or the same request after an interim 1xx "
            "answer), with all it had sent "
            "acknowledged and the client's window open: nothing in the network held it. "
            "Check what the server waits on for that request (a database, an upstream, a "
            "lock, garbage collection) at that time."
        )
    return (
        f"Slow: the server's application paused {_s(d.app_pause_answer_s)} in the middle of an "
        "answer, with all it had sent acknowledged and the client's window open: nothing in "
        "the network held it. Check what the server waits on mid-response (a database, an "
        "upstream, a lock, garbage collection) at that time, or a pacing rate or TCP_CORK it "
        "sets, which hold data the same way."
    )


def _idle_restart(d: Delays) -> str:
    r = d.idle_restart
    assert r is not None  # the tag is earned only where a restart was found
    more = (
        f" ({d.idle_restarts} answers restarted so, {_s(d.idle_restart_s)} in all)"
        if d.idle_restarts > 1
        else ""
    )
    return (
        f"Slow: the {r.side.value}'s data resumed at frame {r.frame} after {_s(r.idle_s)} "
        f"idle with its congestion window restarted: {r.first_segments} segment(s) in the "
        f"first round trip, against {r.before_segments} in one round trip before the idle, "
        f"then doubling (slow start) for {r.rounds} round trips ({_s(r.ramp_s)}): at least "
        f"{_s(r.extra_s)} more than with the window it had{more}. Linux restarts the "
        "congestion window when a socket sends after an idle longer than its retransmission "
        "timeout (net.ipv4.tcp_slow_start_after_idle 1, the default). Set "
        f"net.ipv4.tcp_slow_start_after_idle=0 on the {r.side.value} (common for HTTP/2, "
        "gRPC and database servers on kept-alive connections), or keep the connection from "
        "idling."
    )


_NOTES: dict[SlowTag, Callable[[Delays], str]] = {
    SlowTag.SLOW_CONNECT: _slow_connect,
    SlowTag.SLOW_RESPONSE: _slow_response,
    SlowTag.WINDOW_FULL_STALL: _window_full,
    SlowTag.NAGLE_STALL: _nagle,
    SlowTag.APP_PAUSE: _app_pause,
    SlowTag.IDLE_RESTART: _idle_restart,
}


def _waiter(d: Delays, cause: StallCause) -> tuple[Side, list[Stall]]:
    """The side that waited most often in the stalls of ``cause``, and those stalls."""
    stalls = [s for s in d.stalls if s.cause is cause]
    sides = Counter(s.side for s in stalls)
    side = sides.most_common(1)[0][0] if sides else Side.CLIENT
    return side, [s for s in stalls if s.side is side]
