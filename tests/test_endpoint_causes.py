"""The endpoint causes (pcapline.causes, issue 9) against the real-kernel captures that must NOT
name them: each cause's look-alike. (The captures that must name them assert it in their
expected files: ``cause`` and ``explains``, tests/test_samples.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from needs import CORPUS, needs_corpus

import pcapline

SAMPLES = Path(__file__).resolve().parent.parent / "sample_captures"

#: Sample capture -> why none of its connections may name a cause.
LOOK_ALIKES = {
    # An application abort: RST+ACK at the sender's own sequence number, not a lost state.
    "reset-client-linger0.pcap": "SO_LINGER {1, 0} abort",
    "reset-server-close-unread.pcap": "close() with unread data",
    # Data after the server's close(), 0.2 s after a FIN that followed its reply at once: no
    # idle before the FIN (no keep-alive race), not late (no orphaned FIN_WAIT2).
    "reset-data-after-server-fin.pcap": "data after close, no idle, not late",
    # The server answers the client's close after 1.5 s idle with 31 B that ACK the FIN: an
    # answer to the close, or a request its application wrote before noticing the EOF; only
    # data that crossed the FIN proves a keep-alive race.
    "reset-goodbye-after-close.pcap": "data that acknowledges the FIN",
    # A keep-alive server's idle timeout closing with SO_LINGER {1, 0}: RST+ACK on its own.
    "reset-idle-timeout-linger0.pcap": "an abort after idle, not a lost state",
    # A cookie SYN+ACK without SACK / window scaling from a server with tcp_syncookies=2 and a
    # client without timestamps: a server with both off looks the same.
    "syn-cookies-forced-ipv6-at-server.pcap": "options-less SYN+ACK proves no cookie",
    # The SYN flood seen with only SYN/SYN+ACK segments: the missing ACKs may be a filter's.
    "syn-flood-backlog8-syncookies.pcap": "flag-filtered-looking capture",
    # A keepalive give-up: TCP_KEEPCNT or TCP_USER_TIMEOUT, the wire cannot tell.
    "keepalive-client-idle2-intvl1-cnt9-user-timeout-4500ms.pcap": "keepalive grid",
    # A give-up on the doubling grid: tcp_retries2 or TCP_USER_TIMEOUT alike.
    "retransmit-give-up-user-timeout-3000ms-at-client.pcap": "retries2 or user timeout",
    "listen-overflow-backlog2-abort1.pcap": "a listener's RST, not a lost peer",
    "stale-peer-challenge-ack.pcap": "the stale-peer rule's own story",
}


@pytest.mark.parametrize("name", sorted(LOOK_ALIKES))
def test_look_alikes_name_no_cause(name: str) -> None:
    analysis = pcapline.analyze(str(SAMPLES / name))
    named = {c: analysis.verdicts[c].cause for c in analysis.verdicts}
    assert not any(named.values()), (LOOK_ALIKES[name], named)


@needs_corpus
def test_a_request_after_908_s_idle_drawing_a_bare_rst_is_a_peer_that_lost_state() -> None:
    """arkime/long-session.pcap: handshake, 908 s idle, 5 bytes from the client, the server's
    RST without ACK at the client's ACK number (same TTL as its SYN+ACK)."""
    v = pcapline.analyze(str(CORPUS / "arkime" / "long-session.pcap")).verdicts[0]
    assert (v.fate, v.reset_by, v.cause) == ("reset", "server", "peer_lost_state")
    assert "no longer knew this connection" in v.explanation.text
    # The silence before the answered segment is the story, not the 5 ms from it to the RST.
    assert "while data was flowing" not in v.explanation.text
    assert "after 908 s of silence on both sides" in v.explanation.headline
    assert "answering the client's first segment since (frame 4)" in v.explanation.headline
    assert "idle timeouts of the server's application" in v.explanation.text
    # At the client a NAT that lost its conntrack entry during the silence (masquerade then
    # sends the segment from another port) draws the very same RST from a server whose socket
    # is still open: the words name it beside a lost server.
    assert "Or the server never lost it: a NAT between here and the server" in v.explanation.text
    assert "nf_conntrack_tcp_timeout_established" in v.explanation.text


@needs_corpus
def test_a_one_way_stream_closed_after_silence_is_no_app_gave_up() -> None:
    """arkime/modbus.pcap: clients that push messages the server only ACKs, then close."""
    analysis = pcapline.analyze(str(CORPUS / "arkime" / "modbus.pcap"))
    assert analysis.verdicts[5].cause is None and analysis.verdicts[2].cause is None


@needs_corpus
def test_rsts_after_both_fins_name_the_first_as_the_one_that_ended_it() -> None:
    """arkime/https2-301-get.pcap: both FINs (frames 17, 19; the server's acknowledges 614, not
    the client's FIN: each sent before seeing the other's), then three RSTs from the client
    (frames 21-23). The RST that ended the connection is the first; the text used to call it
    "the final one"."""
    v = pcapline.analyze(str(CORPUS / "arkime" / "https2-301-get.pcap")).verdicts[0]
    assert (v.fate, v.closer) == ("closed", "both")
    assert "3 RST(s) followed" in v.explanation.headline
    assert "the first came from the client (frame 21)" in v.explanation.text
    assert "final one" not in v.explanation.text


@needs_corpus
def test_last_words_and_a_fin_answering_the_close_are_no_keepalive_race() -> None:
    """zeek/tls/irc-starttls.pcap: the client's FIN after 2.5 s idle (frame 16); 334 ms later
    (a round trip) the server's 31 bytes ACK that FIN (frame 17) and its own FIN follows
    (frame 19); the client's closed socket resets. It was named keepalive_race, "the server
    sent a new request": the server answered the close."""
    v = pcapline.analyze(str(CORPUS / "zeek" / "tls" / "irc-starttls.pcap")).verdicts[0]
    assert (v.fate, v.reset_by, v.cause) == ("reset", "client", None)
    assert "the server answered the close with last words and its own FIN (frame 17" in (
        v.explanation.text
    )


def test_a_request_that_crossed_the_fin_is_a_keepalive_race_unless_a_fin_follows() -> None:
    """The race's proof is a request that does not acknowledge the closer's FIN; the same
    request followed at once by the requester's own FIN was a peer closing too."""
    from builders.conversation import CLIENT, SERVER, Conversation
    from builders.segments import connections, segments

    from pcapline import classify, explain
    from pcapline.detect import run_all

    def cause(with_fin: bool) -> object:
        c = Conversation().handshake(0.0)
        c.data(CLIENT, 0.01, 100).data(SERVER, 0.02, 500).ack(CLIENT, 0.03)
        c.fin(SERVER, 2.5)
        request_ack = c.nxt(SERVER) - 1  # sent before the FIN arrived: crosses it
        c.data(CLIENT, 2.5005, 100, ack=request_ack)
        c.rst(SERVER, 2.5006, with_ack=False, seq=request_ack)
        if with_fin:  # left before the RST reached the client: captured after it at the server
            c.fin(CLIENT, 2.5007, ack=request_ack)
        segs = segments(c)
        conns = connections(segs)
        verdict = next(
            iter(explain.verdicts(classify.classify(segs, conns, run_all(segs))).values())
        )
        assert (verdict.fate, verdict.reset_by) == ("reset", "server")
        return verdict.cause

    assert cause(with_fin=False) == "keepalive_race"
    assert cause(with_fin=True) is None


def test_the_race_seen_at_the_requester_over_a_long_path_is_a_keepalive_race() -> None:
    """At the client, over a 200 ms round trip: the request leaves 50 ms before the server's
    FIN arrives (the FIN does not acknowledge it: the server sent it first), the client ACKs the
    FIN, and the server's RST (no ACK, seq = the request's ACK number) arrives a round trip
    after the request, after that ACK. It was reset with no cause, "its sequence number is its
    own": it was compared with the ACK of the FIN, which crossed it."""
    from builders.conversation import CLIENT, SERVER, Conversation
    from builders.segments import connections, segments

    from pcapline import classify, explain
    from pcapline.detect import run_all

    c = Conversation().handshake(0.0, rtt=0.2)
    c.data(CLIENT, 0.201, 100).ack(SERVER, 0.401).data(SERVER, 0.4011, 500).ack(CLIENT, 0.4012)
    request_ack = c.nxt(SERVER)
    c.data(CLIENT, 2.35, 100)
    c.fin(SERVER, 2.40, ack=c.nxt(CLIENT) - 100)
    c.ack(CLIENT, 2.4001)
    c.rst(SERVER, 2.5501, with_ack=False, seq=request_ack)
    segs = segments(c)
    verdict = next(
        iter(explain.verdicts(classify.classify(segs, connections(segs), run_all(segs))).values())
    )
    assert (verdict.fate, verdict.reset_by, verdict.cause) == ("reset", "server", "keepalive_race")
    text = verdict.explanation.text
    assert "its sequence number is its own" not in text
    assert "new request on it (frame 8, sent before the FIN reached it)" in text
    # What the idle time was measured from: the server's own last segment (its answer).
    assert "2 s after its own last segment (frame 6)" in text


def test_the_real_kernel_race_at_the_client_and_at_the_server_tell_one_story() -> None:
    """keepalive-race-idle-close-200ms-path-at-client.pcap (tun link, 100 ms each way): the
    request (frame 8) leaves 60 ms before the server's FIN arrives, the client ACKs the FIN,
    then the server's RST (no ACK, seq = the request's ACK number) arrives a round trip after
    the request. The idle time is the server's own: from its answer (frame 6) to its FIN, as
    at the server (keepalive-race-idle-close-at-server.pcap, frame 6)."""
    for name, request, answer in (
        ("keepalive-race-idle-close-200ms-path-at-client.pcap", 8, 6),
        ("keepalive-race-idle-close-at-server.pcap", 9, 6),
    ):
        analysis = pcapline.analyze(str(SAMPLES / name))
        v = analysis.verdicts[0]
        assert (v.fate, v.reset_by, v.cause) == ("reset", "server", "keepalive_race"), name
        text = v.explanation.text
        assert f"new request on it (frame {request}, sent before the FIN reached it)" in text
        assert f"after its own last segment (frame {answer})" in text
        assert "its sequence number is its own" not in text


@needs_corpus
def test_a_routers_no_route_points_at_its_routes_first() -> None:
    """arkime/ospf.pcap: ICMPv6 "no route to destination" (code 0) from 2001:bef::2 answers the
    SYN; it read "check the REJECT rules" first, where a routing table is the usual source."""
    v = pcapline.analyze(str(CORPUS / "arkime" / "ospf.pcap")).verdicts[0]
    assert (v.fate, v.cause) == ("refused", "icmp_reject")
    text = v.explanation.text
    assert "A router had no route to the server's network" in text
    assert text.index("Check: the routes at 2001:bef::2") < text.index("REJECT rules")


def test_a_lost_state_says_it_rests_on_a_fin_the_capture_does_not_hold() -> None:
    # A keep-alive race whose FIN the tap missed looks the same (a closed socket answers late
    # data with the same bare RST): the words say what the cause rests on.
    a = pcapline.analyze(str(SAMPLES / "peer-lost-state-ipv6-at-client.pcap"))
    (text,) = a.connections.loc[a.connections["cause"] == "peer_lost_state", "explanation"]
    assert "This rests on the capture holding no FIN of the server's" in text
    assert "keep-alive race" in text


def test_a_zero_window_senders_stateless_rst_to_the_window_update_is_no_app_gave_up() -> None:
    """Real kernel (6.18, namespaces): the receiver (SO_RCVBUF 4096) stops reading for 7 s; the
    sender has TCP_USER_TIMEOUT 4000 and 60 kB to send. Its window probes are answered with
    window 0 at 0.21, 0.64, 1.51, 3.2 s after the window closed, none is due by the doubling
    when the user timeout frees the socket silently (ETIMEDOUT at 4.27 s,
    TcpExtTCPAbortOnTimeout 1, no RST: tcp_probe_timer); when the receiver reads, its window
    update draws the sender's kernel's RST without ACK at the update's ACK number. It was
    named app_gave_up ("the client gave up waiting ... its request or read timeout is about
    7 s. Check: ... the server application's logs and latency"): no application aborted (that
    RST carries ACK) and no answer was awaited (the data was held back by the closed window)."""
    from builders.conversation import CLIENT, SERVER, Conversation
    from builders.segments import connections, segments

    from pcapline import classify, explain
    from pcapline.detect import run_all

    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.010, 1448).data(CLIENT, 0.0101, 1448).data(CLIENT, 0.0102, 1448)
    c.ack(SERVER, 0.050, window=0)
    for t in (0.26, 0.69, 1.56, 3.25):  # answered probes: 0.43, 0.87, 1.69 s apart
        c.probe(CLIENT, t).ack(SERVER, t + 0.0001, window=0)
    c.ack(SERVER, 7.0, window=2896)  # the receiver reads again: the window update
    c.rst(CLIENT, 7.0001, with_ack=False, seq=c.nxt(CLIENT))
    segs = segments(c)
    conns = connections(segs)
    verdict = next(iter(explain.verdicts(classify.classify(segs, conns, run_all(segs))).values()))
    assert (verdict.fate, verdict.reset_by, verdict.cause) == ("persist_timeout", "client", None)
    text = verdict.explanation.text
    assert "from the server's window update it answers (frame 16)" in text
    assert (
        "its window probes had stopped: the last came 3.75 s before, past the next one its "
        "backoff had due (3.38 s)"
    ) in text
    assert "TCP_USER_TIMEOUT runs out while the window stays closed" in text
    assert "Check: the client's TCP_USER_TIMEOUT (ss -o shows the persist timer)" in text
    assert "read timeout" not in text
