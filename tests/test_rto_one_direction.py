"""An RTO episode in a capture of one direction, payload only."""

from __future__ import annotations

from pathlib import Path

import pytest
from builders.conversation import CLIENT, Conversation, pcap_bytes

import pcapline

PSH_ACK = 0x18


def test_a_resent_request_stalls_to_its_resend_not_to_the_next_request(tmp_path: Path) -> None:
    """pcapplusplus 4KHttpRequests, connection 7: only the client's data segments were
    captured (mid-connection, a payload filter): a 1098-byte request at 0, resent by the timer
    0.307 s later, the next request at 0.902 s, its ACK number 10561 higher (the response came
    in between). The RTO stall ran to that next request (0.902 s), the server's answer and the
    client's next turn inside it; the capture shows the timer's wait, 0.307 s."""
    c = Conversation()
    seq, ack = c.client_isn + 1, c.server_isn + 1
    c.send(CLIENT, 0.0, PSH_ACK, length=1098, seq=seq, ack=ack)
    c.send(CLIENT, 0.306922, PSH_ACK, length=1098, seq=seq, ack=ack)
    c.send(CLIENT, 0.901601, PSH_ACK, length=1123, seq=seq + 1098, ack=ack + 10561)
    path = tmp_path / "c.pcap"
    path.write_bytes(pcap_bytes(c))
    delays = pcapline.analyze(path).delays[0]
    assert delays.rto_episodes == 1
    assert delays.rto_s == pytest.approx(0.306922, abs=1e-6)
