"""A server pause inside a pipelined HTTP/1.1 burst, the client closing right after it.

The packets are those of a real exchange (Python sockets on Linux 6.18 in two network
namespaces, captured at the server): the client sends two GET requests in one segment, the
server answers the first at once, its application sleeps 1.5 s, then answers the second; the
client closes as soon as it has both. No client data follows the second answer, so only its
status line shows that the first answer had ended and the server held the next one.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from builders.conversation import CLIENT, SERVER, Conversation, pcap_bytes

import pcapline
from pcapline.delays import DelaysTable
from pcapline.model import SlowTag

REQUESTS = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n"
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nhello\n"


def _burst(second: bytes = ANSWER) -> Conversation:
    c = Conversation(conn=0, client=("10.253.0.1", 40260), server=("10.253.0.2", 8080))
    c.syn(0.0).synack(0.00002).ack(CLIENT, 0.00004)
    c.data(CLIENT, 0.000214, len(REQUESTS), payload=REQUESTS)
    c.ack(SERVER, 0.000220)
    c.data(SERVER, 0.000244, len(ANSWER), payload=ANSWER)
    c.ack(CLIENT, 0.000248)
    c.data(SERVER, 1.502761, len(second), payload=second)
    c.ack(CLIENT, 1.502790)
    c.fin(CLIENT, 1.502868).fin(SERVER, 1.510011).ack(CLIENT, 1.510036)
    return c


#: The second answer less the client's ACK of the first, less the capture point's loop to
#: the server (the SYN -> SYN+ACK, 20 us).
PAUSE_S = 1.502761 - 0.000248 - 0.00002


def _delays(tmp_path: Path, c: Conversation) -> DelaysTable:
    path = tmp_path / "pipelined.pcap"
    path.write_bytes(pcap_bytes(c))
    lost = pcapline.analyze(str(path)).delays
    assert isinstance(lost, DelaysTable)
    return lost


def test_a_pause_before_a_pipelined_answer_is_tagged(tmp_path: Path) -> None:
    lost = _delays(tmp_path, _burst())
    assert lost[0].response_judged == "every_turn"
    assert lost[0].app_pause_s == pytest.approx(PAUSE_S, abs=1e-6)
    assert lost[0].slow == (SlowTag.APP_PAUSE,)


def test_data_after_the_pause_that_starts_no_response_is_not_tagged(tmp_path: Path) -> None:
    """The same shape whose later data begins no status line (the first answer's body, a
    stream): nothing shows the answer had ended, so the pause is measured, not judged."""
    lost = _delays(tmp_path, _burst(b"more of the body, no status line\n"))
    assert lost[0].app_pause_s == pytest.approx(PAUSE_S, abs=1e-6)
    assert lost[0].slow == ()


def test_the_words_say_the_server_held_a_response_to_a_request_already_sent(
    tmp_path: Path,
) -> None:
    """Not "in the middle of an answer": the first answer had ended, the next began with
    its status line."""
    path = tmp_path / "pipelined-words.pcap"
    path.write_bytes(pcap_bytes(_burst()))
    (row,) = pcapline.analyze(str(path)).to_dict()["connections"]
    assert "in the middle of an answer" not in row["explanation"]
    assert (
        "Slow: the server's application paused 1.5 s before a response (its status line "
        "begins the data after the pause) to a request the client had already sent "
        "(pipelined, or the same request after an interim 1xx answer)" in row["explanation"]
    )


def test_the_capture_summary_names_a_pause_before_a_pipelined_answer() -> None:
    from pcapline.delays import SlowSummary
    from pcapline.explain import slow_summary

    words = slow_summary(SlowSummary(SlowTag.APP_PAUSE, 1, 1, (1.5,), 0, threshold_s=1.0))
    assert (
        "had the server's application pause in the middle of an answer, or before one to a "
        "request already sent (pipelined) (over 1 s): longest pause" in words
    )


def test_a_timeout_reply_after_an_idle_keepalive_is_no_pipelined_answer(tmp_path: Path) -> None:
    """One request, answered at once; the connection then idles until the server's
    keep-alive timeout, and the server sends 408 Request Timeout and closes (RFC 9110
    15.5.9): a status line after a pause, but no request was waiting for it."""
    c = Conversation(conn=0, client=("10.253.0.1", 40262), server=("10.253.0.2", 8080))
    c.syn(0.0).synack(0.00002).ack(CLIENT, 0.00004)
    c.data(CLIENT, 0.000214, 28, payload=REQUESTS[:28])
    c.ack(SERVER, 0.000220)
    c.data(SERVER, 0.000244, len(ANSWER), payload=ANSWER)
    c.ack(CLIENT, 0.000248)
    timeout = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    c.data(SERVER, 5.000244, len(timeout), payload=timeout)
    c.ack(CLIENT, 5.000270)
    c.fin(SERVER, 5.000300).fin(CLIENT, 5.000400).ack(SERVER, 5.000420)
    lost = _delays(tmp_path, c)
    assert lost[0].app_pause_s == pytest.approx(5.000244 - 0.000248 - 0.00002, abs=1e-6)
    assert lost[0].slow == ()
