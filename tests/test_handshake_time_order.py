"""The server's answer to a SYN is read in time order, not file order."""

from __future__ import annotations

from pathlib import Path

from builders.capture_files import T0_NS, pcap
from builders.conversation import CLIENT, SERVER, Conversation

import pcapline


def test_a_synack_filed_before_its_syn_answers_it_not_the_next_ack(tmp_path: Path) -> None:
    """zeek ipv6-http-atomic-frag: the SYN+ACK (frame 1 here) is stamped 30 us after the SYN
    it answers but filed before it; the server's first segment filed after the SYN is its
    ACK of the request (frame 4, filed before the request). That ACK was read as the bare answer to the SYN, a
    challenge ACK (RFC 5961 4), on a connection that opened and closed normally."""
    c = Conversation()
    c.syn(0.0).synack(0.00003).ack(CLIENT, 0.01314)
    c.data(CLIENT, 0.02921, 15).ack(SERVER, 0.029237)
    c.data(SERVER, 0.029454, 88).fin(SERVER, 0.029516).ack(CLIENT, 0.044864)
    c.fin(CLIENT, 0.06098).ack(SERVER, 0.060995)
    # Filed as zeek's capture: the SYN+ACK before the SYN, the request after the server's
    # ACK of it and its answer.
    order = [1, 0, 2, 4, 5, 3, *range(6, len(c.rows))]
    rows = [c.rows[k] for k in order]
    path = tmp_path / "c.pcap"
    path.write_bytes(
        pcap([c.frame_bytes(r) for r in rows], times_ns=[T0_NS + r["time_ns"] for r in rows])
    )
    analysis = pcapline.analyze(path)
    kinds = set(analysis.connection_events(0)["kind"].astype(str))
    assert "challenge_ack" not in kinds
    assert {"syn", "synack", "handshake_ack"} <= kinds
    assert analysis.connection(0)["fate"] == "closed"
