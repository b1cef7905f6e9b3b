"""detect/close.py: closer, crossed FINs, the RST that ended a connection, injected-RST hints."""

from __future__ import annotations

from pathlib import Path

from builders.captures import CAPTURES
from builders.conversation import CLIENT, SERVER, Conversation
from builders.segments import segments
from needs import CORPUS, needs_corpus

import pcapline
from pcapline.detect import conn_view
from pcapline.detect.close import detect
from pcapline.facts import compute_facts
from pcapline.model import EventKind, Side


def _run(c: Conversation):  # type: ignore[no-untyped-def]
    return detect(conn_view(compute_facts(segments(c)), 0))


def test_orderly_close_server_first() -> None:
    c = Conversation().handshake(0.0)
    c.fin(SERVER, 0.1).fin(CLIENT, 0.2).ack(SERVER, 0.3)
    r = _run(c).inferred
    assert r.closer is Side.SERVER and r.time_wait is Side.SERVER and r.ending_reset is None


def test_crossed_fins_are_both() -> None:
    c = Conversation().handshake(0.0)
    server_nxt = c.nxt(SERVER)
    c.fin(CLIENT, 0.1)
    c.fin(SERVER, 0.1001, ack=c.nxt(CLIENT) - 1)  # sent before it saw the client's FIN
    assert server_nxt
    assert _run(c).inferred.closer is Side.BOTH


def test_reset_after_idle_and_injected_ttl() -> None:
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.01, 10).ack(SERVER, 0.02)
    c.rst(SERVER, 30.0, ttl=250)
    d = _run(c)
    r = d.inferred.ending_reset
    assert r.side is Side.SERVER and r.state == "established" and round(r.idle_s, 1) == 30.0
    assert [e.kind for e in d.events] == [EventKind.INJECTED_RST_HINT]


def test_rst_followed_by_new_syn_ended_nothing() -> None:
    c = Conversation().syn(0.0)
    c.send(SERVER, 0.0001, 0x10, seq=777, ack=999)
    c.rst(CLIENT, 0.0002, with_ack=False, seq=999)
    c.syn(1.0).synack(1.0001).ack(CLIENT, 1.0002)
    assert _run(c).inferred.ending_reset is None


SAMPLES = Path(__file__).resolve().parents[2] / "sample_captures"


def test_rst_answering_data_after_own_fin_is_a_closed_socket_not_a_missing_one() -> None:
    # Server FIN at frame 10 (FIN-WAIT-2), the client's 300 B at 12, the server's RST at 13
    # without ACK flag (Linux omits it when answering a segment that carried ACK).
    conn = pcapline.analyze(str(SAMPLES / "reset-data-after-server-fin.pcap")).connections.iloc[0]
    assert conn.fate == "reset" and conn.reset_by == "server"
    text = conn.explanation
    assert "server had already closed" in text and "(frame 12)" in text
    assert "TcpExtTCPAbortOnData" in text
    assert "no socket matched" not in text


def test_closed_connection_with_rsts_does_not_promise_time_wait() -> None:
    conn = pcapline.analyze(str(CAPTURES / "crossed-fins-then-rsts.pcap")).connections.iloc[0]
    assert (conn.fate, conn.closer, conn.reset_by, conn.resets) == ("closed", "both", "client", 3)
    text = conn.explanation
    assert "both go through TIME_WAIT" not in text and "holds TIME_WAIT" not in text
    assert "3 RST(s) followed" in text and "frame 29" in text


def test_a_late_segment_and_its_rst_do_not_rewrite_who_ended_it() -> None:
    """A scanner's client RSTs the connection; 15 s later its late segment on the same 4-tuple
    draws the server's stateless RST. The first RST ended it; the later one is noted."""
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.01, 10).ack(SERVER, 0.02)
    c.rst(CLIENT, 0.03)
    c.data(CLIENT, 15.03, 10)
    c.rst(SERVER, 15.031, with_ack=False, seq=c.nxt(SERVER))
    r = _run(c).inferred
    assert r.ending_reset is not None
    assert (r.ending_reset.side, r.ending_reset.frame) == (Side.CLIENT, 6)
    assert r.later_resets == (8,)


def test_a_peer_that_spoke_after_a_rst_keeps_the_later_rst_as_the_end() -> None:
    """The server's data crossing the client's RST, then the client's RST to it: both are the
    client's, the later one (after the server last spoke) ends it."""
    c = Conversation().handshake(0.0)
    c.rst(CLIENT, 0.03)
    c.data(SERVER, 0.031, 10)
    c.rst(CLIENT, 0.032, with_ack=False)
    r = _run(c).inferred
    assert r.ending_reset is not None and r.ending_reset.frame == 6 and r.later_resets == ()


def test_stateless_rst_shape() -> None:
    """No ACK bit and seq = the answered segment's ACK number: a host without the socket.
    RST+ACK at the sender's own snd.nxt is a live socket's abort."""
    lost = Conversation().handshake(0.0)
    lost.data(CLIENT, 0.01, 10).ack(SERVER, 0.02)
    lost.data(CLIENT, 3.0, 10)
    lost.rst(SERVER, 3.0001, with_ack=False, seq=lost.nxt(SERVER))
    r = _run(lost).inferred.ending_reset
    assert r is not None and r.stateless and r.answers_frame == 6
    abort = Conversation().handshake(0.0)
    abort.data(CLIENT, 0.01, 10).ack(SERVER, 0.02)
    abort.data(CLIENT, 3.0, 10)
    abort.rst(SERVER, 3.0001)
    r = _run(abort).inferred.ending_reset
    assert r is not None and not r.stateless


@needs_corpus
def test_a_scanners_late_probe_does_not_rewrite_who_ended_it_on_a_real_capture() -> None:
    """zeek/modbus/modbus-and-non-modbus-p502.pcap stream 4: SYN, SYN+ACK, the scanner's RST
    (64); 16 s later its data on the same 4-tuple draws the server's RST (66). The client's RST
    ended the connection during the handshake; the server's is noted as a later one."""
    path = CORPUS / "zeek" / "modbus" / "modbus-and-non-modbus-p502.pcap"
    analysis = pcapline.analyze(str(path))
    v = analysis.verdicts[4]
    assert (v.fate, v.reset_by, v.evidence_frames) == ("reset", "client", (64,))
    assert "later RST(s) (frame(s) 66)" in v.explanation.text
