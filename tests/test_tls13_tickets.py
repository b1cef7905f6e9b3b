"""A slow answer after a TLS 1.3 handshake: the server's session tickets end the turn.

The packets are those of a real exchange (Python ssl/OpenSSL on Linux 6.18 in two network
namespaces, captured at the server: the client's Finished, the server's first
NewSessionTicket, the client's 56-byte request held by Nagle until that ticket's ACK, the
second ticket, then the server's application sleeping 2 s before its answer), the
ServerHello's bytes as captured; the timings rounded.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from builders.conversation import CLIENT, SERVER, Conversation, pcap_bytes

import pcapline
from pcapline.delays import DelaysTable
from pcapline.explain import unjudged_answers
from pcapline.model import SlowTag

CLIENT_HELLO_HEAD = bytes.fromhex(
    "1603010200010001fc0303214c61a33e1ff83c4c6de5ac400b7664ffb39494868c773eff338b63b6db98c1"
)
#: The ServerHello record as OpenSSL 3 sent it (supported_versions: 0x0304, TLS 1.3).
SERVER_HELLO = bytes.fromhex(
    "160303007a02000076030376cb885d234529a05f28ee2d35818f4848cee890fe219cb2d0a7a353c203bf7f"
    "209d660aa65fae42c6b6a6380b65d78d7a5f0443015930b8e47ed53d91a4f069ca130200002e002b000203"
    "0400330024001d00200df1b1793156bd7aca782a2e46f7b86f59bd61cc59730ff913fa950f2cb1371d"
)


def _exchange(server_hello: bytes = SERVER_HELLO, answer_at: float = 2.0030) -> Conversation:
    c = Conversation(conn=0, client=("10.246.0.1", 46712), server=("10.246.0.2", 8443))
    c.syn(0.0).synack(0.00002).ack(CLIENT, 0.00004)
    c.data(CLIENT, 0.0005, 0, payload=CLIENT_HELLO_HEAD + bytes(517 - len(CLIENT_HELLO_HEAD)))
    c.ack(SERVER, 0.0006)
    c.data(SERVER, 0.0018, 0, payload=server_hello + bytes(1356 - len(server_hello)))
    c.ack(CLIENT, 0.0019)
    c.data(CLIENT, 0.0025, 80)  # ChangeCipherSpec + Finished
    c.data(SERVER, 0.0027, 255)  # NewSessionTicket
    c.data(CLIENT, 0.0028, 56)  # the request
    c.data(SERVER, 0.0029, 255)  # NewSessionTicket
    c.ack(CLIENT, 0.045)  # delayed ACK
    c.data(SERVER, answer_at, 65)  # the answer
    c.ack(CLIENT, answer_at + 0.0001)
    c.fin(SERVER, answer_at + 0.0002).fin(CLIENT, answer_at + 0.01).ack(SERVER, answer_at + 0.011)
    return c


def _analyze(tmp_path: Path, c: Conversation) -> pcapline.Analysis:
    path = tmp_path / "tls13.pcap"
    path.write_bytes(pcap_bytes(c))
    return pcapline.analyze(str(path))


def test_the_wait_after_the_session_tickets_is_said_with_its_time_and_not_judged(
    tmp_path: Path,
) -> None:
    analysis = _analyze(tmp_path, _exchange())
    lost = analysis.delays
    assert isinstance(lost, DelaysTable)
    (row,) = analysis.connections.to_dict("records")
    assert row["fate"] == "closed" and row["app"]["tls"]["version"] == "TLS 1.3"
    assert lost.columns["response_tls_wait_s"][0] == pytest.approx(2.0030 - 0.0028, abs=1e-6)
    # Every turn was quick (the tickets answered the Finished and the request): the wait is
    # in none of them.
    assert lost[0].response_max_s == pytest.approx(0.0013, abs=1e-6)
    assert SlowTag.SLOW_RESPONSE not in lost[0].slow and SlowTag.APP_PAUSE not in lost[0].slow
    ((conn, number, count, seconds, at_ns),) = lost.unjudged_replies(lost.ids)
    assert (conn, number, count) == (0, 0, 3)
    assert seconds == pytest.approx(2.0002, abs=1e-6)
    start_ns = int(analysis.connections["start_ns"][0])
    assert at_ns - start_ns == round(2.0030 * 1e9)
    words = unjudged_answers(lost.unjudged_replies(lost.ids), {0: start_ns})
    assert "0 (TLS 1.3: after its first records following the client's request" in words
    assert "session tickets (RFC 8446 4.6.1" in words
    assert "spoke again 2 s after the request, at +2 s)" in words


def test_a_quick_answer_after_the_tickets_is_not_said(tmp_path: Path) -> None:
    lost = _analyze(tmp_path, _exchange(answer_at=0.2)).delays
    assert isinstance(lost, DelaysTable)
    assert lost.unjudged_replies(lost.ids) == []


def test_no_tickets_to_pass_over_before_tls_1_3(tmp_path: Path) -> None:
    """A TLS 1.2 ServerHello (no supported_versions): its tickets come inside the handshake,
    and a late answer is a turn of its own (said as an unjudged later turn)."""
    tls12 = bytearray(SERVER_HELLO)
    at = tls12.index(bytes.fromhex("002b00020304")) + 4  # supported_versions: 1.3 -> 1.2
    tls12[at : at + 2] = b"\x03\x03"
    analysis = _analyze(tmp_path, _exchange(bytes(tls12)))
    assert analysis.connections["app"][0]["tls"]["version"] == "TLS 1.2"
    lost = analysis.delays
    assert isinstance(lost, DelaysTable)
    assert lost.columns["response_tls_wait_s"][0] != lost.columns["response_tls_wait_s"][0]
