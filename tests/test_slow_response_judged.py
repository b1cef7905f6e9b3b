"""Which turns ``slow_response`` judges (delays.answers_requests, delays._judged_turns).

Small pieces on crafted segments: one keep-alive-shaped conversation (a quick first answer,
a 3 s third one) measured as clear-text HTTP/1.1, as TLS, as switched or tunnelled HTTP and as
nothing recognised. The real-kernel truth is in the samples (slow-response-http-keepalive,
slow-response-unprompted-peers, slow-response-turns: tests/test_samples.py and the end of
this file).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from builders.conversation import CLIENT, SERVER, Conversation
from builders.segments import segments

import pcapline
from pcapline import delays, detect
from pcapline.app import App, http, tls
from pcapline.cli import run
from pcapline.model import ResponseJudged, SlowTag

SAMPLES = Path(__file__).resolve().parents[1] / "sample_captures"

GET = http.Request(method="GET", path="/", host="example.test", version="HTTP/1.1")
OK = http.Response(status=200, reason="OK", version="HTTP/1.1")
SWITCHED = http.Response(status=101, reason="Switching Protocols", version="HTTP/1.1")
CONNECT = http.Request(method="CONNECT", path="db:5432", host="db:5432", version="HTTP/1.1")


def _keep_alive(first_s: float = 0.01) -> Conversation:
    """Handshake (1 ms), then three turns: answers after ``first_s``, 0.01 s and 3 s."""
    c = Conversation().handshake(0.0)
    t = 0.1
    for wait in (first_s, 0.01, 3.0):
        c.data(CLIENT, t, 100).data(SERVER, t + wait, 1000).ack(CLIENT, t + wait + 0.001)
        t += wait + 0.2
    return c.fin(CLIENT, t).fin(SERVER, t + 0.001).ack(CLIENT, t + 0.002)


def _measure(c: Conversation, app: App | None) -> delays.Delays:
    segs = segments(c)
    found = detect.run_all(segs, visit_all=True)
    counts = {"syn_retransmits": [0], "synack_retransmits": [0]}
    apps = {} if app is None else {0: app}
    table = delays.measure(found.facts, found.detections, found.events, counts, apps=apps)
    return table[0]


def test_clear_text_http_judges_every_turn() -> None:
    d = _measure(_keep_alive(), App("http", 4, request=GET, response=OK))
    assert (d.responses, d.response_max_turn) == (3, 3)
    assert d.response_max_s == pytest.approx(3.0)
    assert d.response_judged is ResponseJudged.EVERY_TURN
    assert d.slow == (SlowTag.SLOW_RESPONSE,) and not d.response_unjudged


@pytest.mark.parametrize(
    "app",
    [
        None,  # bytes no protocol pcapline recognises (BGP, SSH, IRC, ...)
        App("tls", 4, client_hello=tls.ClientHello("example.test", ("h2",), "TLS 1.3")),
        App("http", 4, request=GET, response=SWITCHED),  # a WebSocket / h2c upgrade
        App("http", 4, request=CONNECT, response=OK),  # a tunnel through a proxy
        App("http", 4, request=GET, response=None),  # status line not captured
        App("http", 4, request=None, response=OK),  # request line not captured
    ],
    ids=["unrecognised", "tls", "switched-101", "connect-tunnel", "no-status", "no-request"],
)
def test_elsewhere_only_the_first_turn_is_judged(app: App | None) -> None:
    """The measures stay; the 3 s third turn is not judged (and is marked as such)."""
    d = _measure(_keep_alive(), app)
    assert (d.responses, d.response_max_turn) == (3, 3)
    assert d.response_max_s == pytest.approx(3.0)
    assert d.response_judged is ResponseJudged.FIRST_TURN
    assert d.slow == () and d.response_unjudged


def test_the_first_turn_is_judged_for_every_protocol() -> None:
    """A slow first answer is slow_response whatever the bytes: the request that opened the
    conversation was answered late. The later 3 s turn is then the slowest, not judged."""
    d = _measure(_keep_alive(first_s=1.5), None)
    assert d.response_s == pytest.approx(1.5)
    assert d.response_judged is ResponseJudged.FIRST_TURN
    assert d.slow == (SlowTag.SLOW_RESPONSE,) and d.response_unjudged


def test_no_judgement_without_the_opening() -> None:
    """Without the handshake nothing is judged, HTTP or not (roles guessed); its late answer
    is said as not judged (the reports name it) rather than passed over."""
    c = _keep_alive()
    c.rows = c.rows[3:]
    d = _measure(c, App("http", 1, request=GET, response=OK))
    assert d.responses == 3 and d.connect_s is None
    assert d.response_judged is None and d.slow == () and d.response_unjudged


def test_answers_requests_reads_only_the_bytes() -> None:
    """HTTP/1.x with both lines captured and no switch; never HTTP/2's preface, TLS, or
    nothing; a refused CONNECT (407) stays request/response."""
    assert delays.answers_requests(App("http", 1, request=GET, response=OK))
    refused = http.Response(status=407, reason="Proxy Authentication Required", version="HTTP/1.1")
    assert delays.answers_requests(App("http", 1, request=CONNECT, response=refused))
    preface = http.Request(method="PRI", path="*", host=None, version="HTTP/2.0")
    assert not delays.answers_requests(App("http", 1, request=preface, response=OK))
    assert not delays.answers_requests(App("tls", 1))
    assert not delays.answers_requests(None)


def test_unprompted_peers_sample_says_why_it_is_not_slow(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """BGP-like peers (real kernel): the server's messages 1.5-1.8 s after the client's are
    measured as turns, not judged; the text and the JSON say so."""
    capture = SAMPLES / "slow-response-unprompted-peers.pcap"
    d = pcapline.analyze(capture).delays[0]
    assert d.responses == 4 and d.response_max_turn == 3
    assert d.response_max_s == pytest.approx(1.8, abs=0.05)
    assert d.slow == () and d.response_unjudged
    assert run(["analyze", str(capture), "--fail-on", "slow_response"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    said = "answers not judged for slow_response: connection(s) 0 (turn 3 of 4: the server"
    assert f"{said} spoke 1.8" in out
    assert "a server that speaks unprompted (keepalives, pushes, streams) looks the same" in out
    assert run(["analyze", str(capture), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["connections"][0]["delays"]["response_judged"] == "first_turn"


def test_http_keepalive_sample_is_slow_on_turn_three(capsys: pytest.CaptureFixture[str]) -> None:
    capture = SAMPLES / "slow-response-http-keepalive.pcap"
    assert run(["analyze", str(capture), "--fail-on", "slow_response"]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "slow_response (judged response time): connection(s) 0 (turn 3 of 5: 1.2 s" in out
    assert "answers not judged for slow_response" not in out


@pytest.mark.parametrize("lost", ["request", "answer"])
def test_a_first_exchange_the_tap_lost_leaves_no_first_turn(lost: str) -> None:
    """Real kernel (DNS over TCP, two queries on one connection, the server sleeping 1.5 s
    on the second; 20 ms each way): not slow, only the first turn is judged on a protocol
    pcapline does not recognise. With the first query (or its answer) deleted from the
    capture (editcap: a tap that dropped one frame) the second exchange became "the first
    request": slow_response, "the server took 1.54 s to answer the first request". The
    server's bare ACK of the second query acknowledged the lost bytes: no first turn then."""
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.1, 31, captured=lost != "request")
    c.data(SERVER, 0.15, 47, captured=lost != "answer").ack(CLIENT, 0.151)
    c.data(CLIENT, 0.2, 31).ack(SERVER, 0.24).data(SERVER, 1.7, 47).ack(CLIENT, 1.701)
    c.fin(CLIENT, 1.8).fin(SERVER, 1.801).ack(CLIENT, 1.802)
    d = _measure(c, None)
    assert d.response_max_s == pytest.approx(1.5)
    assert d.response_s is None and d.response_judged is None
    assert SlowTag.SLOW_RESPONSE not in d.slow
    whole = Conversation().handshake(0.0)
    whole.data(CLIENT, 0.1, 31).data(SERVER, 0.15, 47).ack(CLIENT, 0.151)
    whole.data(CLIENT, 0.2, 31).ack(SERVER, 0.24).data(SERVER, 1.7, 47).ack(CLIENT, 1.701)
    d = _measure(whole, None)
    assert d.response_s == pytest.approx(0.05) and d.slow == ()
