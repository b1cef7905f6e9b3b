"""pcapline/one_way_turns.py: response times from a capture of one direction, on crafted
conversations whose other direction was sent but not captured (``captured=False``).

Crafted rows prove the small pieces only; the real-kernel proof is the
``slow-response-one-direction-at-server`` sample (tests/test_samples.py, its expected file).
Every test reads the JSON ``delays`` (``as_dict``), so it fails, not errors, before the
one-direction forms existed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from builders.conversation import CLIENT, SERVER, Conversation, pcap_bytes

import pcapline
from pcapline.delays import SlowTag

#: The client's request, the server's answer (bytes).
ASK, ANSWER = 100, 1000


def _analyse(tmp_path: Path, c: Conversation) -> Any:
    path = tmp_path / "one-way.pcap"
    path.write_bytes(pcap_bytes(c))
    return pcapline.analyze(path)


def _opened(*, server: bool, rtt: float = 0.002) -> Conversation:
    """A handshake at 0 of which only the server's (``server``) or the client's packets are
    captured."""
    c = Conversation()
    c.syn(0.0, captured=not server)
    c.synack(rtt / 2, captured=server)
    c.ack(CLIENT, rtt, captured=not server)
    return c


def _server_sees(
    tmp_path: Path, *, ack_at: float | None, answer_at: float, more_at: float | None = None
) -> Any:
    """The server's packets only: a 100 B request at 0.010 (not captured), the server's bare
    ACK of it at ``ack_at`` (None: none, the answer carries the first ACK), ``more_at``: 50 B
    more of the request (not captured) and the server's ACK of them 1 ms later, then the
    answer at ``answer_at``; the client's ACK of it (not captured)."""
    c = _opened(server=True)
    c.data(CLIENT, 0.010, ASK, captured=False)
    if ack_at is not None:
        c.ack(SERVER, ack_at)
    if more_at is not None:
        c.data(CLIENT, more_at, 50, captured=False)
        c.ack(SERVER, more_at + 0.001)
    c.data(SERVER, answer_at, ANSWER)
    c.ack(CLIENT, answer_at + 0.001, captured=False)
    return _analyse(tmp_path, c)


def test_server_packets_time_the_answer_from_the_servers_ack_of_the_request(
    tmp_path: Path,
) -> None:
    """The server ACKs the request 40 ms after it (a delayed ACK) and answers 1.5 s after
    that ACK, with the same ACK number: at least 1.5 s of the server's, judged (first turn,
    no round trip taken off: none is in it), slow_response; frames: the ACK (2), the
    answer (3)."""
    analysis = _server_sees(tmp_path, ack_at=0.050, answer_at=1.550)
    d = analysis.delays[0]
    doc = d.as_dict()
    assert doc["response_s"] == pytest.approx(1.5, abs=1e-6)
    assert doc["response_from"] == "server_ack"
    assert doc["response_judged"] == "first_turn"
    assert (doc["responses"], doc["longest_silence_side"]) == (1, "server")
    assert d.slow == (SlowTag.SLOW_RESPONSE,)
    text = analysis.verdicts[0].explanation.text
    assert "the server took at least 1.5 s to answer the first request" in text
    assert "its first ACK covering the request (frame 2)" in text
    assert "its answer (frame 3)" in text and "the client's direction was not" in text


def test_an_answer_carrying_the_first_ack_of_the_request_is_quick(tmp_path: Path) -> None:
    """No bare ACK before the answer: the answer left within a delayed ACK of the request,
    so its lower bound is 0: measured, not slow (the seen gap from the SYN+ACK, 1.5 s, is
    not the server's)."""
    d = _server_sees(tmp_path, ack_at=None, answer_at=1.5).delays[0]
    assert (d.as_dict()["response_s"], d.as_dict()["response_from"]) == (0.0, "server_ack")
    assert d.slow == ()


def test_the_bound_starts_at_the_ack_that_reached_the_answers_ack_number(
    tmp_path: Path,
) -> None:
    """More of the request came 1 s after its first part (the server ACKed both): the
    server waited for it, so the bound starts at the ACK covering it (0.5 s before the
    answer), not at the first ACK (1.5 s before): no slow_response."""
    d = _server_sees(tmp_path, ack_at=0.05, more_at=1.049, answer_at=1.55).delays[0]
    assert d.as_dict()["response_s"] == pytest.approx(0.5, abs=1e-6)
    assert d.slow == ()


def test_server_data_without_new_client_bytes_answers_nothing(tmp_path: Path) -> None:
    """The server speaks first (a greeting) and again 2 s later, its ACK number unmoved (no
    client byte came): no turn, nothing timed, no slow_response."""
    c = _opened(server=True)
    c.data(SERVER, 0.010, ANSWER)
    c.ack(CLIENT, 0.011, captured=False)
    c.data(SERVER, 2.010, ANSWER)
    d = _analyse(tmp_path, c).delays[0]
    doc = d.as_dict()
    assert (doc["response_s"], doc["responses"], doc["response_from"]) == (None, 0, None)
    assert d.slow == ()


def test_no_form_without_the_servers_synack(tmp_path: Path) -> None:
    """The capture began after the handshake: the roles are guessed, no turn is timed."""
    c = Conversation()
    c.syn(0.0, captured=False).synack(0.001, captured=False).ack(CLIENT, 0.002, captured=False)
    c.data(CLIENT, 0.010, ASK, captured=False)
    c.ack(SERVER, 0.050)
    c.data(SERVER, 1.550, ANSWER)
    doc = _analyse(tmp_path, c).delays[0].as_dict()
    assert (doc["response_s"], doc["response_from"]) == (None, None)


def _client_sees(tmp_path: Path, *, answer_at: float, rtt: float = 0.002) -> Any:
    """The client's packets only: SYN, handshake ACK (``rtt`` after it), a 100 B request
    10 ms later, the answer at ``answer_at`` (not captured) and the client's ACK of it 40 ms
    later (a delayed ACK)."""
    c = _opened(server=False, rtt=rtt)
    c.data(CLIENT, rtt + 0.010, ASK)
    c.ack(SERVER, rtt + 0.011, captured=False)
    c.data(SERVER, answer_at, ANSWER, captured=False)
    c.ack(CLIENT, answer_at + 0.040)
    return _analyse(tmp_path, c)


def test_client_packets_bound_the_answer_by_the_clients_ack_less_a_delayed_ack(
    tmp_path: Path,
) -> None:
    """The client ACKs the answer at 1.85 s: the answer arrived no earlier than 1.35 s (less
    the longest delayed ACK RFC 1122 allows, 500 ms); less the request (0.110) and the
    handshake's round trip (0.1 s) the server took at least 1.14 s: slow_response; frames:
    the request (3), the client's ACK of the answer (4)."""
    analysis = _client_sees(tmp_path, answer_at=1.810, rtt=0.1)
    d = analysis.delays[0]
    doc = d.as_dict()
    assert doc["response_s"] == pytest.approx(1.85 - 0.5 - 0.110 - 0.1, abs=1e-6)
    assert (doc["response_from"], doc["response_judged"]) == ("client_ack", "first_turn")
    assert d.slow == (SlowTag.SLOW_RESPONSE,)
    text = analysis.verdicts[0].explanation.text
    assert "the server took at least 1.14 s to answer the first request" in text
    assert "the request's last byte (frame 3)" in text
    assert "new server bytes (frame 4)" in text and "the server's direction was not" in text


def test_client_packets_claim_nothing_when_the_bound_is_not_positive(tmp_path: Path) -> None:
    """An answer acknowledged 90 ms after the request: within a delayed ACK and a round
    trip of it, the capture proves no server time at all: null, not 0."""
    d = _client_sees(tmp_path, answer_at=0.062).delays[0]
    doc = d.as_dict()
    assert (doc["response_s"], doc["responses"], doc["response_from"]) == (None, 0, None)
    assert d.slow == ()


def test_a_sack_of_the_answer_proves_it_arrived_before_its_resend(tmp_path: Path) -> None:
    """The answer's first segment is lost on the way, its second arrives at 0.8 s and the
    client SACKs it; the first is resent at 1.8 s and ACKed then. The SACK proves the
    answer (the server's part of the wait) came by 0.8 s: 0.8 - 0.5 - 0.012 - 0.002, not
    slow; the ACK alone would have said 1.29 s, slow_response for a lost segment."""
    c = _opened(server=False)
    c.data(CLIENT, 0.012, ASK)
    c.ack(SERVER, 0.013, captured=False)
    answer = c.nxt(SERVER)
    c.data(SERVER, 0.79, ANSWER, captured=False)  # lost before the client
    c.data(SERVER, 0.7901, ANSWER, captured=False)
    c.ack(CLIENT, 0.8, ack=answer, sack_edges=(answer + ANSWER, answer + 2 * ANSWER))
    c.data(SERVER, 1.8, ANSWER, seq=answer, captured=False)
    c.ack(CLIENT, 1.801)
    d = _analyse(tmp_path, c).delays[0]
    assert d.as_dict()["response_s"] == pytest.approx(0.8 - 0.5 - 0.012 - 0.002, abs=1e-6)
    assert d.slow == ()


def test_a_request_lost_and_resent_times_no_turn(tmp_path: Path) -> None:
    """The request is lost and the client's timer resends it at 1.8 s; the server answers in
    2 ms. From the request's last new byte the client's ACK came 1.79 s later, but that
    wait held the client's retransmission timer: no lower bound of the server's time, no
    turn (it read 'the server took at least 1.59 s ... its application was slow')."""
    c = _opened(server=False)
    start = c.nxt(CLIENT)
    c.data(CLIENT, 0.010, ASK)
    c.data(CLIENT, 1.8, ASK, seq=start)  # the timer's resend
    c.ack(SERVER, 1.801, captured=False)
    c.data(SERVER, 1.802, ANSWER, captured=False)
    c.ack(CLIENT, 1.803)
    d = _analyse(tmp_path, c).delays[0]
    assert d.as_dict()["response_s"] is None
    assert SlowTag.SLOW_RESPONSE not in d.slow


def test_a_client_ack_of_a_server_fin_alone_is_no_answer(tmp_path: Path) -> None:
    """The server closes 5 s after the request without a byte: the client's ACK moves by 1
    (the FIN), no answer: no turn, no slow_response (a 5 s 'answer' would be a false
    alarm)."""
    c = _opened(server=False)
    c.data(CLIENT, 0.010, ASK)
    c.ack(SERVER, 0.011, captured=False)
    c.fin(SERVER, 5.0, captured=False)
    c.ack(CLIENT, 5.001)
    d = _analyse(tmp_path, c).delays[0]
    assert (d.as_dict()["response_s"], d.as_dict()["response_from"]) == (None, None)
    assert d.slow == ()


def test_both_directions_are_timed_from_the_request(tmp_path: Path) -> None:
    """The same exchange captured both ways: the request's last byte -> the answer, as
    before, and ``response_from`` says so."""
    c = Conversation().handshake(0.0, rtt=0.002)
    c.data(CLIENT, 0.010, ASK)
    c.ack(SERVER, 0.050)
    c.data(SERVER, 1.550, ANSWER)
    doc = _analyse(tmp_path, c).delays[0].as_dict()
    assert doc["response_s"] == pytest.approx(1.54, abs=1e-6)
    assert doc["response_from"] == "request"


def _one_side_of(capture: Path, source: str, out: Path) -> Path:
    """The frames of ``capture`` sent by ``source`` (an IPv4 address), as a new pcap: the
    capture a tap on one direction would have made."""
    import socket

    import dpkt

    with capture.open("rb") as f, out.open("wb") as g:
        reader = dpkt.pcap.Reader(f)
        writer = dpkt.pcap.Writer(g, snaplen=reader.snaplen, linktype=reader.datalink())
        for ts, frame in reader:
            ip = dpkt.ethernet.Ethernet(frame).data
            if isinstance(ip, dpkt.ip.IP) and socket.inet_ntoa(ip.src) == source:
                writer.writepkt(frame, ts)
    return out


def test_the_server_side_of_the_real_turns_capture(tmp_path: Path) -> None:
    """slow-response-turns (real kernel; the server sleeps 0, 0.2, 1.2, 0.2, 0 s) kept to the
    server's packets: five turns timed from its ACKs, the third at least ~1.2 s; the first
    (quick) is judged: no slow_response, the third said not judged, as captured both ways."""
    turns = Path(__file__).resolve().parents[1] / "sample_captures" / "slow-response-turns.pcap"
    one_side = _one_side_of(turns, "10.48.0.2", tmp_path / "server-side.pcap")
    d = pcapline.analyze(one_side).delays[0]
    doc = d.as_dict()
    assert (doc["response_from"], doc["response_judged"]) == ("server_ack", "first_turn")
    assert doc["responses"] == 5 and doc["response_max_turn"] == 3
    assert doc["response_s"] < 0.01
    assert doc["response_max_s"] == pytest.approx(1.2, abs=0.05)
    assert d.slow == () and d.response_unjudged


def test_the_reports_say_a_one_direction_answer_is_a_lower_bound(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """On the real-kernel server-side sample: the text summary says how many slow answers
    were timed in one direction, and the HTML slow table's response cell says 'at least'."""
    from pcapline.cli import run

    sample = (
        Path(__file__).resolve().parents[1]
        / "sample_captures"
        / "slow-response-one-direction-at-server.pcap"
    )
    assert run(["analyze", str(sample)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "1 captured in one direction: at least that, from the captured side's ACKs" in out
    page = tmp_path / "report.html"
    assert run(["analyze", str(sample), "--format", "html", "-o", str(page)]) == 0
    assert "at least 1.5" in page.read_text()
