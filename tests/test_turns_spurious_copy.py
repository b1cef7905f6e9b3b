"""Request/response turns and a request copy the server had already acknowledged."""

from __future__ import annotations

from pathlib import Path

import pytest
from builders.conversation import CLIENT, SERVER, Conversation, pcap_bytes

import pcapline
from pcapline.model import SlowTag

REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


def _turn(tmp_path: Path, *, acked_first: bool) -> pcapline.Delays:
    """Captured at the server: the request at 10 ms, its copy at 0.5 s (the client's timer),
    the answer at 1.3 s; ``acked_first``: the server acknowledged the request at 10.1 ms, so
    the copy was spurious; else its ACK came only with the copy (the first send was lost)."""
    c = Conversation(conn=0, client=("10.0.0.5", 40001), server=("10.0.0.2", 80))
    c.syn(0.0).synack(0.0001).ack(CLIENT, 0.0002)
    c.data(CLIENT, 0.01, 0, payload=REQUEST, captured=acked_first)
    if acked_first:
        c.ack(SERVER, 0.0101)
    c.data(CLIENT, 0.5, 0, payload=REQUEST, seq=c.client_isn + 1)
    c.ack(SERVER, 0.5001)
    c.data(SERVER, 1.3, 0, payload=ANSWER).ack(CLIENT, 1.3001)
    path = tmp_path / "turn.pcap"
    path.write_bytes(pcap_bytes(c))
    return pcapline.analyze(str(path)).delays[0]


def test_a_spurious_request_copy_does_not_shorten_the_wait(tmp_path: Path) -> None:
    d = _turn(tmp_path, acked_first=True)
    assert d.response_s == pytest.approx(1.29, abs=1e-6)  # from the request the ACK covered
    assert d.responses == 1
    assert SlowTag.SLOW_RESPONSE in d.slow


def test_a_copy_that_carried_the_lost_request_still_ends_it(tmp_path: Path) -> None:
    """The first send never reached the capture point: the copy is what arrived."""
    d = _turn(tmp_path, acked_first=False)
    assert d.response_s == pytest.approx(0.8, abs=1e-6)
    assert SlowTag.SLOW_RESPONSE not in d.slow
