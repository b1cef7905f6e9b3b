"""detect/close.py: closer, crossed FINs, the RST that ended a connection, injected-RST hints."""

from __future__ import annotations

from pathlib import Path

import pytest
from builders.captures import CAPTURES
from builders.conversation import CLIENT, SERVER, Conversation
from builders.segments import segments
from needs import CORPUS, needs_corpus

import pcapline
from pcapline.detect import conn_view
from pcapline.detect.close import detect
from pcapline.facts import compute_facts
from pcapline.model import ACK, FIN, EventKind, Side


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


def test_fins_stamped_out_of_order_keep_the_order_their_acks_show() -> None:
    # Two taps merged with the server's clock 5 ms behind: the server's FIN is stamped before
    # the client's, yet acknowledges it. No host acknowledges a FIN before it was sent: the
    # client closed first (it read "both sides sent FIN at the same time").
    c = Conversation().handshake(0.0)
    client_fin_end = c.nxt(CLIENT) + 1
    c.send(SERVER, 0.095, FIN | ACK, ack=client_fin_end)  # stamped by the lagging clock
    c.fin(CLIENT, 0.1)
    r = _run(c).inferred
    assert r.closer is Side.CLIENT and r.time_wait is Side.CLIENT


def test_copies_stamped_after_the_rst_do_not_keep_the_connection_open() -> None:
    # Two taps merged 1 ms apart: every packet twice, the copies of the client's data and
    # ACK stamped after its RST. A copy is no segment of its own (it read 'open, proven').
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.010, 100).ack(SERVER, 0.0101).data(SERVER, 0.0102, 500)
    c.ack(CLIENT, 0.0103).rst(CLIENT, 0.0104)
    c.rows.extend([{**row, "time_ns": row["time_ns"] + 1_000_000} for row in c.rows[3:]])
    r = _run(c).inferred.ending_reset
    assert r is not None and r.side is Side.CLIENT


def test_a_rst_its_receiver_outlived_ended_nothing() -> None:
    # zeek heartbleed-encrypted-success: the client's FIN, then its RST at the FIN's own
    # sequence number (below the server's rcv.nxt: discarded); the server goes on and resends
    # its data on its timer 0.2 s later. A socket a RST tore down sends nothing more.
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.01, 100).data(SERVER, 0.02, 1448)
    fin_seq = c.nxt(CLIENT)
    c.fin(CLIENT, 0.03)
    c.rst(CLIENT, 0.0301, with_ack=False, seq=fin_seq)
    resent = c.nxt(SERVER)
    c.data(SERVER, 0.031, 1448)
    c.data(SERVER, 0.24, 1448, seq=resent)  # the retransmission timer's resend
    close = _run(c).inferred
    assert close.ending_reset is None and close.ignored_reset == (7, 9)
    # Data in flight when the RST arrived (sooner than any timer) proves nothing.
    c.rows.pop()
    c.data(SERVER, 0.035, 1448, seq=resent)
    close = _run(c).inferred
    assert close.ending_reset is not None and close.ignored_reset is None


def test_reset_after_idle_and_injected_ttl() -> None:
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.01, 10).ack(SERVER, 0.02)
    c.rst(SERVER, 30.0, ttl=250)
    d = _run(c)
    r = d.inferred.ending_reset
    assert r.side is Side.SERVER and r.state == "established" and round(r.idle_s, 1) == 30.0
    assert [e.kind for e in d.events] == [EventKind.INJECTED_RST_HINT]


def test_a_rst_acknowledging_data_the_capture_lacks_ended_an_established_connection() -> None:
    # A capture filtered on SYN/FIN/RST: the handshake ACK and the data are not in it, but
    # the RST's own seq and ACK (its sender's snd.nxt and rcv.nxt) show data had flowed.
    c = Conversation().syn(0.0).synack(0.0005).ack(CLIENT, 0.001, captured=False)
    c.data(CLIENT, 0.01, 500, captured=False).data(SERVER, 0.02, 200, captured=False)
    c.rst(SERVER, 0.4)
    r = _run(c).inferred.ending_reset
    assert r is not None and r.state == "established"
    refused = Conversation().syn(0.0).rst(SERVER, 0.0005)
    assert _run(refused).inferred.ending_reset.state == "handshake"


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
    """The server's data crossing the client's RST, then the client's RST+ACK to it (a live
    socket's abort: the first RST did not end the client's socket): the later one ends it."""
    c = Conversation().handshake(0.0)
    c.rst(CLIENT, 0.03)
    c.data(SERVER, 0.031, 10)
    c.rst(CLIENT, 0.032)
    r = _run(c).inferred
    assert r.ending_reset is not None and r.ending_reset.frame == 6 and r.later_resets == ()


def test_a_stateless_answer_to_data_after_a_rst_shows_the_first_rst_ended_it() -> None:
    """Audit 10 (rst-inject-rae): the server's RST+ACK, the client's data crossing it, then the
    server's RST without ACK at that data's ACK number (tcp_v4_send_reset: no socket any
    more). The socket was gone since the first RST: it ended the connection."""
    c = Conversation().handshake(0.0)
    c.rst(CLIENT, 0.03)
    c.data(SERVER, 0.031, 10)
    c.rst(CLIENT, 0.032, with_ack=False)
    r = _run(c).inferred
    assert r.ending_reset is not None and r.ending_reset.frame == 4 and r.later_resets == (6,)


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


# --- the injected-RST hint: a RST unlike its claimed sender (close._injected) ---------------


def _hint(c: Conversation) -> list[str]:
    return [e.note for e in _run(c).events if e.kind is EventKind.INJECTED_RST_HINT]


def _server_talks(ttls: list[int], ids: list[int] | None = None) -> Conversation:
    first = {} if ids is None else {"ip_id": ids[0] - 1}
    c = Conversation().syn(0.0).synack(0.0005, ttl=ttls[0], **first).ack(CLIENT, 0.001)
    for k, ttl in enumerate(ttls):
        c.data(CLIENT, 0.01 + k * 0.01, 10)
        ident = {} if ids is None else {"ip_id": ids[k]}
        c.ack(SERVER, 0.015 + k * 0.01, ttl=ttl, **ident)
    return c


def test_a_rst_one_hop_nearer_than_the_sender_is_a_hint() -> None:
    # A router's 'reject with tcp reset': TTL 64, the server's forwarded packets arrive with 63.
    c = _server_talks([63, 63, 63])
    c.rst(SERVER, 1.0, ttl=64)
    assert _hint(c) == ["TTL 64, the sender's other packets have 63"]


def test_a_rst_with_the_senders_own_ttl_is_not_a_hint() -> None:
    c = _server_talks([63, 63, 63])
    c.rst(SERVER, 1.0, ttl=63)
    assert _hint(c) == []


def test_a_route_change_widens_what_the_sender_may_use() -> None:
    # TTLs already spread over 60..63 (a route change): a RST at 62 or 65 is that sender.
    for rst_ttl in (62, 65):
        c = _server_talks([63, 63, 60, 60])
        c.rst(SERVER, 1.0, ttl=rst_ttl)
        assert _hint(c) == [], rst_ttl
    c = _server_talks([63, 63, 60, 60])
    c.rst(SERVER, 1.0, ttl=120)
    assert _hint(c) == ["TTL 120, the sender's other packets have 60-63"]


def test_ip_id_jump_counts_only_on_a_continuous_counter() -> None:
    # Linux: a per-connection counter (steps of 1): a RST far from it is another stack.
    c = _server_talks([63, 63, 63], ids=[100, 101, 102])
    c.rst(SERVER, 1.0, ttl=63, ip_id=40000)
    assert _hint(c) == ["IP ID 40000 far from the sender's previous 102"]
    # A global counter (Windows, a busy host): jumps are normal, a RST's jump proves nothing.
    c = _server_talks([63, 63, 63], ids=[100, 5000, 12000])
    c.rst(SERVER, 1.0, ttl=63, ip_id=40000)
    assert _hint(c) == []
    # Linux's stateless RSTs carry IP ID 0: not a different stack.
    c = _server_talks([63, 63, 63], ids=[100, 101, 102])
    c.rst(SERVER, 1.0, ttl=63, ip_id=0)
    assert _hint(c) == []


def test_a_stateless_rst_after_the_senders_own_rst_keeps_its_own_ip_id() -> None:
    # Audit 10 (ssh.pcap stream 4): the server's RST+ACK continues its counter; the client's
    # FIN then draws a RST without ACK from the socket-less stack (tcp_v4_send_reset) with an
    # unrelated IP ID: normal, no hint. A RST without ACK is that path even before any RST.
    c = _server_talks([63, 63, 63], ids=[100, 101, 102])
    c.rst(SERVER, 0.05, ttl=63, ip_id=103)
    c.fin(CLIENT, 0.0501)
    c.rst(SERVER, 0.0502, ttl=63, ip_id=40000, with_ack=False, seq=c.nxt(SERVER))
    assert _hint(c) == []
    c = _server_talks([63, 63, 63], ids=[100, 101, 102])
    c.data(CLIENT, 0.05, 10)
    c.rst(SERVER, 0.0502, ttl=63, ip_id=40000, with_ack=False, seq=c.nxt(SERVER))
    assert _hint(c) == []
    # The TTL still tells: the stateless path sends with the host's TTL too.
    c = _server_talks([63, 63, 63], ids=[100, 101, 102])
    c.data(CLIENT, 0.05, 10)
    c.rst(SERVER, 0.0502, ttl=64, ip_id=40000, with_ack=False, seq=c.nxt(SERVER))
    assert _hint(c) == ["TTL 64, the sender's other packets have 63"]


def _second_turn_then_client_fin(server_turn_at: float) -> Conversation:
    """Client request, server answer, then a server turn ``server_turn_at`` s after the
    client's last data, the client's reply to it 60 ms later, acknowledged, and the client's
    FIN 32 s after that."""
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.01, 300).data(SERVER, 0.02, 200).ack(CLIENT, 0.03)
    c.data(CLIENT, 0.04, 100).ack(SERVER, 0.05)
    c.data(SERVER, 0.04 + server_turn_at, 400).data(CLIENT, 0.1 + server_turn_at, 500)
    c.ack(SERVER, 0.11 + server_turn_at)
    return c.fin(CLIENT, 32.0 + server_turn_at)


def test_a_reply_to_the_servers_unprompted_turn_is_owed_nothing() -> None:
    # Audit 7 (gtp-iphone stream 2): the server's BYE came 10.5 s after the client's last
    # data, the client's 200 OK answered it, the client closed 32 s later: an idle close.
    assert _run(_second_turn_then_client_fin(10.5)).inferred.waited is None


def test_a_new_request_after_a_prompt_answer_can_wait() -> None:
    # The server's turn came 0.3 s after the client's data: an answer; the client's next
    # turn is a new request, acknowledged and never answered: the client gave up waiting.
    w = _run(_second_turn_then_client_fin(0.3)).inferred.waited
    assert w is not None and w.request_frame == 10 and round(w.waited_s, 3) == 31.9


def test_a_client_speaking_long_after_the_servers_turn_can_wait() -> None:
    # zeek/dnp3 stream 1: the outstation's unsolicited 17 bytes at connect, the master's
    # request 17 s later (not a reaction to them), acknowledged, unanswered, FIN 3.3 s later.
    c = Conversation().handshake(0.0)
    c.data(SERVER, 0.01, 17).ack(CLIENT, 0.2)
    c.data(CLIENT, 17.0, 24).ack(SERVER, 17.1).fin(CLIENT, 20.3)
    w = _run(c).inferred.waited
    assert w is not None and w.request_frame == 6 and round(w.waited_s, 3) == 3.3


def test_a_reply_to_a_server_greeting_is_not_judged() -> None:
    # The server spoke first (a greeting): the client's words may answer it; the bytes alone
    # cannot tell an answer from a request, so nobody is said to have waited.
    c = Conversation().handshake(0.0)
    c.data(SERVER, 0.01, 50).ack(CLIENT, 0.02).data(CLIENT, 0.03, 20).ack(SERVER, 0.04)
    c.fin(CLIENT, 5.0)
    assert _run(c).inferred.waited is None


@pytest.mark.parametrize(
    ("rst_ttl", "hinted"),
    [(251, True), (52, False), (53, False)],
)
def test_a_rst_with_the_ttl_of_a_handshake_a_box_answered_is_a_hint(
    rst_ttl: int, hinted: bool
) -> None:
    """A SYN proxy completes the handshake in the client's name (its SYN and ACK: TTL 251),
    then splices the client's data (TTL 52) (zeek ldap/simpleauth-diff-port.pcap). The box's
    idle-timeout RST has 251: inside the side's whole range 52-251, it was missed."""
    c = Conversation().syn(0.0, ttl=251).synack(0.0005).ack(CLIENT, 0.002, ttl=251)
    for k in range(3):
        c.data(CLIENT, 0.01 + k * 0.01, 50, ttl=52)
        c.ack(SERVER, 0.015 + k * 0.01)
    c.rst(CLIENT, 181.0, ttl=rst_ttl)
    notes = _hint(c)
    if hinted:
        assert notes == [
            "TTL 251, the sender's data packets have 52; 251 is on its packets without data "
            "only: a box answered the handshake in its name (a SYN proxy, a firewall or load "
            "balancer that splices the flow)"
        ]
    else:
        assert notes == []


def _race_seen_at_client(*, rst_with_ack: bool = False) -> Conversation:
    """The keep-alive race captured at the client over a 200 ms round trip: the request leaves
    (its ACK does not cover the server's FIN, which is still on its way), the FIN arrives 50 ms
    later (its ACK does not cover the request: the server sent it first), the client ACKs it,
    and the server's RST, its closed socket's answer to the request (no ACK bit, seq = the
    request's ACK number), arrives a round trip after the request left: after the FIN's ACK
    in capture order, which crossed it."""
    c = Conversation().handshake(0.0, rtt=0.2)
    c.data(CLIENT, 0.201, 100).ack(SERVER, 0.401).data(SERVER, 0.4011, 500).ack(CLIENT, 0.4012)
    request_ack = c.nxt(SERVER)
    c.data(CLIENT, 2.35, 100)
    c.fin(SERVER, 2.40, ack=c.nxt(CLIENT) - 100)
    c.ack(CLIENT, 2.4001)
    c.rst(SERVER, 2.5501, with_ack=rst_with_ack, seq=request_ack)
    return c


def test_a_stateless_rst_answers_the_segment_whose_ack_it_carries_not_the_row_before_it() -> None:
    """Linux resets data reaching a closed socket with no ACK bit and seq = that segment's ACK
    number (tcp_v4_send_reset after tcp_rcv_state_process, TcpExtTCPAbortOnData). At the
    requester's capture point the RST comes a round trip after the request, and the
    requester's ACK of the FIN (sent after the RST left) lies between them: the RST answers
    the request (frame 8), not the row before it. The request left before the FIN arrived and
    the FIN does not acknowledge it: data that reached the server after its close."""
    r = _run(_race_seen_at_client()).inferred.ending_reset
    assert r is not None and r.side is Side.SERVER
    assert r.stateless and r.answers_frame == 8 and r.answers_payload
    assert r.data_after_close == 8 and r.late_frame == 8 and r.late_crossed_fin
    assert not r.late_is_fin and not r.late_then_fin
    # Idle before the FIN: the crossing request aside, the client's ACK 2.0 s before it; the
    # server's own last segment (its answer, frame 6) 2.0 s before it too.
    assert r.idle_before_fin_s is not None and round(r.idle_before_fin_s, 1) == 2.0
    assert r.own_quiet_before_fin_s is not None and round(r.own_quiet_before_fin_s, 1) == 2.0
    assert r.own_last_frame == 6
    # The same RST with an ACK bit is no kernel answer to a segment (those carry none).
    r = _run(_race_seen_at_client(rst_with_ack=True)).inferred.ending_reset
    assert r is not None and not r.stateless and r.answers_frame == 10


def test_a_segment_its_sender_acknowledged_is_not_what_a_later_rst_answers() -> None:
    """A RST without ACK 100 ms after the handshake, at the client's own next sequence number:
    the SYN+ACK carries that ACK number too, but the client acknowledged it (frame 3), so the
    RST does not answer it (a host resets a segment instead of acknowledging it); and a bare
    ACK, which occupies no sequence space, cannot show whether its receiver had it."""
    c = Conversation().handshake(0.0)
    c.rst(CLIENT, 0.1, with_ack=False)
    r = _run(c).inferred.ending_reset
    assert r is not None and not r.stateless
    c = Conversation().handshake(0.0)
    c.data(SERVER, 0.01, 10).ack(CLIENT, 0.02)
    acked = c.nxt(SERVER)
    c.data(SERVER, 0.03, 10)
    c.rst(SERVER, 0.04, with_ack=False, seq=acked)  # the client's bare ACK's (frame 5) number
    r = _run(c).inferred.ending_reset
    assert r is not None and not r.stateless


def test_a_rst_whose_forwarded_copy_has_the_senders_ttl_is_not_a_hint() -> None:
    # tcpdump -i any on a masquerading router whose conntrack entry expired: the server's own
    # RST to the client's untranslated address is captured coming in (TTL 64) and going out
    # (63), while the server's earlier packets of this 4-tuple were captured only going out
    # (63; their incoming copies carry the translated address). The RST is the server's.
    c = _server_talks([63, 63, 63])
    c.rst(SERVER, 1.0, ttl=64, ip_id=0, with_ack=False, seq=c.nxt(SERVER))
    c.rst(SERVER, 1.000004, ttl=63, ip_id=0, with_ack=False, seq=c.nxt(SERVER))
    assert _hint(c) == []
    # A RST the router made itself is seen once, going out: still a hint; so is one whose
    # every copy is unlike the sender (a box further on).
    c = _server_talks([63, 63, 63])
    c.rst(SERVER, 1.0, ttl=64, ip_id=0, with_ack=False, seq=c.nxt(SERVER))
    assert _hint(c) == ["TTL 64, the sender's other packets have 63"]
    c = _server_talks([62, 62, 62])
    c.rst(SERVER, 1.0, ttl=65, ip_id=0, with_ack=False, seq=c.nxt(SERVER))
    c.rst(SERVER, 1.000004, ttl=64, ip_id=0, with_ack=False, seq=c.nxt(SERVER))
    assert _hint(c) == ["TTL 65, the sender's other packets have 62"]
