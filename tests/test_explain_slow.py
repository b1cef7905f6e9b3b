"""explain_slow.py: a slow connection's explanation says what it lost, from its delays.

On real-kernel samples whose expected files name the slow tags: each tag the fate's own words
do not tell gets one note, with the numbers the JSON ``delays`` holds; a connection that was
not slow gets none, and retried handshakes keep their own words (no second note).
"""

from __future__ import annotations

from pathlib import Path

import pcapline
from pcapline.fmt import seconds

SAMPLES = Path(__file__).resolve().parents[1] / "sample_captures"


def _explained(name: str) -> dict[int, tuple[str, tuple[str, ...]]]:
    a = pcapline.analyze(SAMPLES / name)
    return {
        int(row.id): (str(row.explanation), tuple(row.slow)) for row in a.connections.itertuples()
    }


def test_a_late_answer_names_its_turn_and_time() -> None:
    """The server slept 1.5 s before answering port 42004's request (slow_syn_retries)."""
    a = pcapline.analyze(SAMPLES / "slow-syn-retries-then-success.pcap")
    rows = a.connections.set_index("client_port")
    text = str(rows.loc[42004, "explanation"])
    d = a.delays[int(rows.loc[42004, "id"])]
    assert (
        f"Slow answer: the server took {seconds(d.response_s)} to answer the first request" in text
    )
    assert seconds(d.response_s) == "1.5 s"
    # the retried connects are told once, by the handshake's words (the SYN retries)
    retried = str(rows.loc[42002, "explanation"])
    assert "The client sent its SYN 3 times" in retried and "Slow connect" not in retried


def test_nagle_and_the_full_window_say_who_waited_and_what_to_set() -> None:
    nagle = _explained("slow-nagle-delayed-ack.pcap")
    text, slow = nagle[0]
    assert slow == ("nagle_stall",)
    assert "Slow: the client's small writes waited" in text and "(19 times" in text
    assert "Set TCP_NODELAY on the client's socket" in text
    control, slow = nagle[1]
    assert slow == () and "Slow" not in control
    text, slow = _explained("slow-window-full-paced-reader.pcap")[0]
    assert slow == ("window_full_stall",)
    assert "for the server's full receive window to open" in text and "SO_RCVBUF" in text


def test_every_turn_of_clear_text_http_names_the_slowest() -> None:
    """HTTP/1.1 keep-alive: every turn judged; the third answer was the late one."""
    text, slow = _explained("slow-response-http-keepalive.pcap")[0]
    assert slow == ("slow_response",)
    assert "to answer request 3 of 5" in text


def test_requests_queued_on_the_path_are_not_blamed_on_the_server() -> None:
    """Real kernel: a 512 kbit/s link with a 3 MB queue toward the server; an upload fills
    it, and requests wait seconds behind it although the server answers each at once. At
    the client the answers came 1.5 and 2.7 s after the requests, but the server's bare ACK
    of each request came with its answer: its kernel (which acknowledges within a delayed
    ACK, 200 ms at most) got the request only then. It read "its application, or what it
    waits on, was slow". At the server nothing is late."""
    at_client = _explained("slow-answers-behind-an-upload-at-client.pcap")
    for text, slow in at_client.values():
        assert "slow_response" in slow
        assert "the request reached the server late" in text
        assert "its application, or what it waits on, was slow" not in text
    at_server = _explained("slow-answers-behind-an-upload-at-server.pcap")
    assert all("slow_response" not in slow for _, slow in at_server.values())
    # There the client's resent SYNs arrive after the server answered the first: they were
    # held on the way in (the queue), not only the answers on the way back.
    text, _ = at_server[1]
    assert "the SYNs or the answers were held up (a queue)" in text
    assert "the answers did not reach the client in time" not in text


def test_an_answer_that_carries_the_only_ack_proves_no_queue(tmp_path: Path) -> None:
    # Without a bare ACK of the request (a stack that only acknowledges with its answer, a
    # synthetic capture) the late ACK says nothing about the path: the old words stay. With
    # a bare ACK long after the request, just before the answer, the wait was the path's.
    from builders.conversation import CLIENT, SERVER, Conversation, pcap_bytes

    texts = {}
    for bare in (False, True):
        c = Conversation().handshake(0.0)
        c.data(CLIENT, 0.01, 100)
        if bare:
            c.ack(SERVER, 1.509)
        c.data(SERVER, 1.51, 500).ack(CLIENT, 1.52)
        c.fin(CLIENT, 1.6).fin(SERVER, 1.61).ack(CLIENT, 1.62)
        path = tmp_path / f"bare-{bare}.pcap"
        path.write_bytes(pcap_bytes(c))
        texts[bare] = str(pcapline.analyze(path).connections.iloc[0].explanation)
    assert "Slow answer: the server took 1.5 s to answer the first request" in texts[False]
    assert "the request reached the server late" in texts[True]


def test_the_wait_is_placed_on_the_half_of_the_path_the_handshake_shows() -> None:
    """At the capture point SYN -> SYN+ACK is the loop to the server and back, SYN+ACK -> ACK
    the loop to the client (arkime socks5-reverse: 7 ms, then 1.38 s). A slow connect whose
    client half took the time is not a server slow to answer; a slow answer at the server's
    capture point holds no round trip (the TLS 1.2 audit capture read '40 ms of it the round
    trip' there)."""
    from dataclasses import replace

    from pcapline.explain_slow import _slow_connect, _slow_response

    a = pcapline.analyze(SAMPLES / "slow-syn-retries-then-success.pcap")
    rows = a.connections.set_index("client_port")
    d = a.delays[int(rows.loc[42004, "id"])]
    # measured, and the halves add up to the round trip (at the client: all in the first)
    assert d.server_loop_ms is not None and d.client_loop_ms is not None
    assert d.handshake_rtt_ms is not None
    assert abs(d.server_loop_ms + d.client_loop_ms - d.handshake_rtt_ms) < 1e-6
    at_client = replace(d, handshake_rtt_ms=40.0, server_loop_ms=40.0, client_loop_ms=0.01)
    at_server = replace(d, handshake_rtt_ms=40.0, server_loop_ms=0.01, client_loop_ms=40.0)
    assert "40 ms of it the round trip to the server" in _slow_response(at_client)
    assert "round trip" not in _slow_response(at_server)
    slow = replace(d, connect_s=1.388, server_loop_ms=7.0, client_loop_ms=1381.0)
    words = _slow_connect(slow)
    assert "the client's ACK came 1.38 s after that answer" in words
    assert "between the capture point and the client" in words
    assert "server slow to answer its SYN" not in words
    server_half = replace(d, connect_s=1.388, server_loop_ms=1381.0, client_loop_ms=7.0)
    assert "a server slow to answer its SYN" in _slow_connect(server_half)


def test_a_late_504_is_a_gateways_upstream_timeout(tmp_path: Path) -> None:
    # Lab: a proxy with a 1.5 s upstream timeout in front of a backend that needed 3 s; at the
    # client the proxy's 504 came 1.54 s after the request. That time is the proxy's timeout,
    # the slow party its upstream: a late 200 keeps the server's own words.
    from builders.conversation import CLIENT, SERVER, Conversation, pcap_bytes

    texts = {}
    for status in (b"200 OK", b"504 Gateway Timeout"):
        c = Conversation().handshake(0.0)
        c.data(CLIENT, 0.01, 0, payload=b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        c.ack(SERVER, 0.0101)
        c.data(SERVER, 1.55, 0, payload=b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\n\r\n")
        c.ack(CLIENT, 1.5501).fin(SERVER, 1.56).fin(CLIENT, 1.57).ack(SERVER, 1.58)
        path = tmp_path / "gateway.pcap"
        path.write_bytes(pcap_bytes(c))
        row = pcapline.analyze(path).connections.iloc[0]
        assert "slow_response" in row.slow
        texts[status[:3]] = str(row.explanation)
    assert "Slow answer: the server took 1.54 s to answer" in texts[b"200"]
    assert "Gateway Timeout" not in texts[b"200"]
    gateway = texts[b"504"]
    assert "the answer is HTTP 504 Gateway Timeout" in gateway
    assert "the 1.54 s is about its upstream timeout (nginx proxy_read_timeout" in gateway
    assert "the server took" not in gateway


def test_without_a_handshake_round_trip_the_servers_ack_takes_the_path_out(
    tmp_path: Path,
) -> None:
    """Real kernel (RTT 300 ms through a delay line, the first SYN dropped at the router, the
    server sleeping 0.8 s): at the client the answer came 1.1 s after the request; with the
    SYN resent no handshake round trip is measured (Karn) and nothing was taken off: it read
    "Slow answer: the server took 1.1 s ... its application ... was slow", while the same
    connection at the server took 0.8 s. The server's bare ACK of the request (300 ms after
    it: the loop to the server) now stands for the round trip; an answer that carried the
    server's first ACK separates nothing (the path may hold all of it: a round trip over the
    1 s initial RTO resends every SYN) and is not judged."""
    from builders.conversation import CLIENT, SERVER, Conversation, pcap_bytes

    def captured(think: float, bare: bool) -> tuple[str, tuple[str, ...], float | None]:
        c = Conversation()
        c.syn(0.0).syn(1.0).synack(1.3).ack(CLIENT, 1.3)
        c.data(CLIENT, 1.31, 100)
        if bare:
            c.ack(SERVER, 1.61)
        c.data(SERVER, 1.31 + 0.3 + think, 500).ack(CLIENT, 1.62 + think)
        c.fin(CLIENT, 3.5).fin(SERVER, 3.8).ack(CLIENT, 3.8)
        path = tmp_path / f"syn-resent-{think}-{bare}.pcap"
        path.write_bytes(pcap_bytes(c))
        a = pcapline.analyze(path)
        row = a.connections.iloc[0]
        d = a.delays[int(row.id)]
        assert d.handshake_rtt_ms is None and d.syn_retries == 1
        return str(row.explanation), tuple(row.slow), d.response_s

    text, slow, response_s = captured(0.8, bare=True)
    assert response_s is not None and abs(response_s - 1.1) < 1e-6
    assert "syn_retry" in slow and "slow_response" not in slow
    assert "Slow answer" not in text
    text, slow, _ = captured(1.5, bare=True)
    assert "slow_response" in slow
    assert "the server took 1.8 s to answer the first request" in text
    assert "the server's TCP acknowledged the request 300 ms after it" in text
    assert "about 1.5 s of it was the server's" in text
    text, slow, _ = captured(0.8, bare=False)
    assert "slow_response" not in slow and "Slow answer" not in text


def test_the_synack_retry_line_names_a_deferred_accept() -> None:
    # Apache's default (AcceptFilter http data: TCP_DEFER_ACCEPT) resends its SYN+ACK 4 s
    # after a browser's data-less connection (zeek var-services-std-ports.pcap conn 2): the
    # connection's verdict says so; the capture's line must not say only "lost".
    from pcapline.delays import SlowSummary
    from pcapline.explain import slow_summary
    from pcapline.model import SlowTag

    words = slow_summary(
        SlowSummary(
            tag=SlowTag.SYNACK_RETRY, connections=1, total=6, values_s=(0.0001,), first=2,
            retries=(1, 1),
        )
    )  # fmt: skip
    assert "1 of 6 connections needed SYN+ACK retries" in words
    assert "TCP_DEFER_ACCEPT waited for data the client had not sent, nothing lost" in words
