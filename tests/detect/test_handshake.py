"""detect/handshake.py on crafted openings (fates themselves are proven on real captures)."""

from __future__ import annotations

import numpy as np
from builders.conversation import CLIENT, SERVER, Conversation
from builders.segments import segments

from pcapline.detect import conn_view
from pcapline.detect.handshake import detect, handshake_rtts, one_sided, rows
from pcapline.facts import compute_facts
from pcapline.model import ACK, SYN, EventKind


def _detect(c: Conversation, *, capture_until: float | None = None):  # type: ignore[no-untyped-def]
    if capture_until is not None:
        other = Conversation(conn=99).syn(capture_until)
        facts = compute_facts(segments(c, other))
    else:
        facts = compute_facts(segments(c))
    return detect(conn_view(facts, 0))


def test_linux_65_linear_then_doubling_schedule_and_give_up() -> None:
    c = Conversation()
    for t in (0, 1, 2, 3, 4, 6, 10):
        c.syn(float(t))
    d = _detect(c, capture_until=40.0)
    syn = d.inferred.syn
    assert syn.retries == 6
    assert syn.schedule.name.startswith("linear then doubling: 4 gaps of 1 s")
    assert syn.gave_up is True
    assert syn.give_up_after_s == 18.0
    assert [e.kind for e in d.events] == [EventKind.SYN_RETRANSMIT] * 6
    assert d.events[-1].value == 4.0


def test_classic_doubling_and_capture_ending_mid_retry() -> None:
    c = Conversation()
    for t in (0, 1, 3, 7):
        c.syn(float(t))
    d = _detect(c, capture_until=9.0)
    assert d.inferred.syn.schedule.name.startswith("doubling from 1 s")
    assert d.inferred.syn.gave_up is None  # next SYN due at 15 s, capture ended at 9 s


def test_windows_three_second_schedule() -> None:
    c = Conversation()
    for t in (0, 3, 9):
        c.syn(float(t))
    d = _detect(c, capture_until=30.0)
    assert d.inferred.syn.schedule.name.startswith("doubling from 3 s")


def test_refused_answer() -> None:
    c = Conversation().syn(0.0).rst(SERVER, 0.0001, ack=1001)
    d = _detect(c)
    assert d.inferred.answer == "rst"
    assert d.inferred.synack is None


def test_challenge_ack_then_reset_and_retry_is_stale_peer() -> None:
    c = Conversation().syn(0.0)
    c.send(SERVER, 0.0001, 0x10, seq=777777, ack=424242)  # bare ACK: a TIME_WAIT/half-open peer
    c.rst(CLIENT, 0.0002, with_ack=False, seq=424242)
    c.syn(1.0).synack(1.0001).ack(CLIENT, 1.0002)
    d = _detect(c)
    assert d.inferred.answer == "challenge_ack"
    assert d.inferred.stale_peer and d.inferred.stale_rst_frame == 3
    assert EventKind.CHALLENGE_ACK in [e.kind for e in d.events]


def test_listen_overflow_synack_after_client_ack() -> None:
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.002, 100)
    c.synack(1.0).ack(CLIENT, 1.0001)
    c.synack(3.0).ack(CLIENT, 3.0001)
    d = _detect(c)
    h = d.inferred
    assert h.client_acked and h.client_sent_data
    assert h.synack_after_ack == 2
    assert not h.server_acked_data
    assert h.synack.retries == 2


def test_overflow_rst_without_ack_flag() -> None:
    c = Conversation().handshake(0.0)
    c.rst(SERVER, 0.0011, with_ack=False)
    assert _detect(c).inferred.overflow_rst_frame == 4


def test_handshake_rtt_from_syn_to_ack() -> None:
    c = Conversation().handshake(0.0, rtt=0.004)
    assert abs(_detect(c).inferred.rtt_ms - 4.0) < 1e-6


def test_handshake_ack_must_acknowledge_server_isn_plus_one() -> None:
    c = Conversation().syn(0.0).synack(0.001)
    c.ack(CLIENT, 0.002, ack=5000 + 994000)  # acknowledges nothing the server sent
    c.synack(1.0).synack(3.0)
    h = _detect(c).inferred
    assert not h.client_acked and h.synack_after_ack == 0
    assert h.bad_ack_frame == 3


def test_listener_rst_after_a_client_fin_is_not_an_overflow_rst() -> None:
    c = Conversation().syn(0.0).synack(0.001)
    c.fin(CLIENT, 0.002)
    c.rst(SERVER, 0.3, with_ack=False)
    h = _detect(c).inferred
    assert h.client_acked and h.overflow_rst_frame is None


def test_acknowledgements_prove_unseen_packets() -> None:
    # Client-only copy: its ACK after the SYN proves the SYN+ACK; the last +1 step of its ACK
    # after its own FIN proves the server's FIN.
    full = Conversation().handshake(0.0)
    full.data(CLIENT, 0.01, 100).data(SERVER, 0.02, 300).ack(CLIENT, 0.03)
    full.fin(CLIENT, 0.04).fin(SERVER, 0.05).ack(CLIENT, 0.06)
    client_only = Conversation()
    client_only.rows = [r for r in full.rows if r["from_client"]]
    h = _detect(client_only).inferred
    assert h.synack is None and h.synack_proven == 2
    assert h.one_sided is not None and h.one_sided.captured.value == "client"
    assert h.one_sided.peer_fin_ack_frame == 6 and not h.one_sided.peer_closed_first
    server_only = Conversation()
    server_only.rows = [r for r in full.rows if not r["from_client"]]
    h = _detect(server_only).inferred
    assert not h.client_acked and h.ack_proven == 2
    assert h.one_sided is not None and h.one_sided.peer_fin_ack_frame == 3
    assert h.one_sided.peer_closed_first


def test_one_sided_screen_is_columnar_and_needs_a_moving_ack() -> None:
    moving = Conversation(conn=0).data(CLIENT, 0.0, 10).ack(CLIENT, 0.1, ack=5100)
    still = Conversation(conn=1).data(CLIENT, 0.0, 10).data(CLIENT, 0.1, 10)
    both = Conversation(conn=2).handshake(0.0).data(SERVER, 0.01, 10).ack(CLIENT, 0.02)
    facts = compute_facts(segments(moving, still, both))
    assert one_sided(facts).tolist() == [True, False, False]


def test_a_fin_acknowledging_the_synack_is_no_handshake_ack() -> None:
    # bro.org-filtered.pcap stream 8 (a capture keeping only SYN/FIN/RST): SYN, SYN+ACK, the
    # client's FIN 6 s later. The FIN proves the SYN+ACK arrived, but the kernel acknowledged
    # it at once (tcp_rcv_synsent_state_process): the ACK itself was not captured.
    c = Conversation().syn(0.0).synack(0.107)
    c.fin(CLIENT, 6.0, ack=c.server_isn + 1)
    d = _detect(c)
    assert d.inferred.client_acked and d.inferred.rtt_ms is None
    facts = compute_facts(segments(c))
    kinds = rows(facts)["kind"].tolist()
    assert EventKind.HANDSHAKE_ACK.value not in kinds
    assert np.isnan(handshake_rtts(facts)).all()


def test_no_handshake_ack_after_the_rst_that_ended_the_attempt() -> None:
    # modbus-and-non-modbus-p502.pcap stream 4: SYN, SYN+ACK, the client's RST, then 15.6 s
    # later an ACK with a GET (a scanner's own stack reset the connection it did not know).
    c = Conversation().syn(0.0).synack(0.00006)
    c.rst(CLIENT, 0.117, with_ack=False, seq=c.client_isn + 1)
    c.data(CLIENT, 15.7, 109, seq=c.client_isn + 1, ack=c.server_isn + 1)
    d = _detect(c, capture_until=16.0)
    h = d.inferred
    assert not h.client_acked and h.rtt_ms is None
    assert h.synack_reset == 3
    # The RST answered the SYN+ACK: the server's request socket is gone, no give-up to claim.
    assert h.synack is not None and h.synack.gave_up is None


def test_syns_retried_after_each_rst_are_no_timer_series() -> None:
    # pop3.pcap streams 0/1 (Windows): SYN, RST, 0.5 s, SYN, RST, 0.5 s, SYN, RST.
    c = Conversation()
    for t in (0.0, 0.549, 1.110):
        c.syn(t).rst(SERVER, t + 0.05, ack=c.client_isn + 1)
    syn = _detect(c, capture_until=5.0).inferred.syn
    assert syn.retries == 2 and not syn.timed
    assert syn.refusals == (2, 4, 6)
    assert syn.schedule.name == "a new SYN 499-511 ms after each RST"


def test_syns_sooner_than_any_syn_timer_are_named_so() -> None:
    # bgp-shutdown-msg-variations.pcap: three different SYNs 1 ms apart (crafted): no
    # schedule of a timer ("linear: every 0 s" was wrong), no give-up predicted from it.
    c = Conversation()
    for t, n in ((0.0, 41), (0.00123, 22), (0.00217, 32)):
        c.send(CLIENT, t, 2, seq=c.client_isn, length=n)
    syn = _detect(c, capture_until=0.003).inferred.syn
    assert not syn.timed and syn.schedule.name.startswith("no timer: 1 ms apart")
    assert syn.give_up_after_s is None and syn.gave_up is None
    # Real timer gaps still get their schedule.
    timed = Conversation()
    for t in (0.0, 1.0, 3.0):
        timed.syn(t)
    assert _detect(timed, capture_until=4.0).inferred.syn.timed


def test_a_synack_with_a_new_isn_counts_only_when_it_answers_the_first_syn() -> None:
    """handshake.syn_masks: a SYN+ACK with another ISN that answers the first SYN's ISN (a
    load balancer sent the retried SYN to another backend) is a second SYN+ACK of the same
    handshake; one answering a SYN the capture never showed (a new connection on the same
    4-tuple) is not."""
    lb = Conversation(client_isn=1000, server_isn=5000)
    lb.syn(0.0).synack(0.001).syn(1.0).send(SERVER, 1.001, SYN | ACK, seq=9000, mss=1460)
    assert _detect(lb).inferred.synack.retries == 1
    reused = Conversation(client_isn=1000, server_isn=5000)
    reused.syn(0.0).synack(0.001).ack(CLIENT, 0.002).rst(CLIENT, 0.5)
    reused.send(SERVER, 1.001, SYN | ACK, seq=9000, ack=7001, mss=1460)
    found = _detect(reused).inferred.synack
    assert found is None or found.retries == 0


def _think(*, ack_captured: bool, request_at: float) -> Conversation:
    """SYN, SYN+ACK 10 ms later, the client's pure ACK 10 ms after that (``ack_captured``:
    in the capture), its request at ``request_at`` (acknowledging the SYN+ACK only)."""
    c = Conversation().syn(0.0).synack(0.010)
    c.ack(CLIENT, 0.020, captured=ack_captured)
    return c.data(CLIENT, request_at, 20)


def test_a_request_after_a_think_time_is_no_handshake_ack() -> None:
    """A client acknowledges the SYN+ACK at once, or with the data of a pending write within
    TCP_DELACK_MAX (200 ms): data 330 ms after it, its pure ACK not captured, is the
    application's think time, no round trip (was 330 ms); within the delayed ACK it may
    carry the ACK (a write pending at connect), and is taken."""
    rtt = handshake_rtts(compute_facts(segments(_think(ack_captured=True, request_at=0.33))))
    assert rtt.tolist() == [20.0]
    late = handshake_rtts(compute_facts(segments(_think(ack_captured=False, request_at=0.33))))
    assert np.isnan(late).tolist() == [True]
    soon = handshake_rtts(compute_facts(segments(_think(ack_captured=False, request_at=0.15))))
    assert soon.tolist() == [150.0]


def test_synacks_answering_resent_syns_are_no_server_timer() -> None:
    # zeek ssh.pcap stream 18: the client resent its SYN twice; the server answered each copy
    # at once (tcp_check_req -> inet_rtx_syn_ack). Its SYN+ACK timer resent nothing: no
    # synack_retry stall on the server.
    c = Conversation()
    for t in (0.0, 0.112, 0.213):
        c.syn(t).synack(t + 0.00004)
    c.ack(CLIENT, 0.214)
    synack = _detect(c).inferred.synack
    assert synack.retries == 2 and not synack.timed
    assert synack.schedule.name == "answers to the client's resent SYNs, 101-112 ms apart"
    # The server's own timer: SYN+ACKs 1 s and 2 s apart with no SYN before them.
    own = Conversation().syn(0.0).synack(0.0001).synack(1.0001).synack(3.0001)
    assert _detect(own, capture_until=4.0).inferred.synack.timed
    # A SYN+ACK of the timer beside an answer (two after one SYN): not one answer each.
    both = Conversation().syn(0.0).synack(0.0001).syn(1.0).synack(1.0001).synack(1.0002)
    assert _detect(both, capture_until=2.0).inferred.synack.timed


def test_synacks_answering_syns_held_up_together_are_no_server_timer() -> None:
    # sample lossy-40-connections-3pct-drop, stream 3, at the client: the first SYN was held
    # up on the way in for a second, the client's timer resent it, both copies reached the
    # listener together and each drew its SYN+ACK at once (43 us apart): both SYN+ACKs come
    # after both SYNs. No timer of the server's is that quick (TCP_TIMEOUT_INIT 1 s).
    held = Conversation().syn(0.0).syn(1.0).synack(1.0002).synack(1.00025)
    held.ack(CLIENT, 1.0003)
    synack = _detect(held).inferred.synack
    assert synack.retries == 1 and not synack.timed
    assert synack.schedule.name == "answers to the client's resent SYNs, under 1 ms apart"
    # Two SYN+ACKs 1 s apart after the two SYNs: the second is the server's timer.
    timer = Conversation().syn(0.0).syn(1.0).synack(1.0002).synack(2.0002)
    assert _detect(timer, capture_until=3.0).inferred.synack.timed
    # More SYN+ACKs than SYNs: one at least was the timer's.
    more = Conversation().syn(0.0).synack(0.0001).synack(0.0002)
    assert _detect(more, capture_until=1.0).inferred.synack.timed


def _given_up(times: tuple[float, ...]):  # type: ignore[no-untyped-def]
    c = Conversation()
    for t in times:
        c.syn(t)
    syn = _detect(c, capture_until=60.0).inferred.syn
    assert syn.gave_up is True
    return syn


def test_linux_syn_give_up_is_the_first_of_the_count_and_the_time_limit() -> None:
    """Series a 6.18 kernel sent into a SYN-dropping peer (TCP_SYNCNT / linear_timeouts ->
    SYNs; ETIMEDOUT): 1/4 -> 0,1,2 (3.1 s); 2/4 -> 0..5 (7.1 s); 3/4 -> 0..5,7,11 (19.5 s);
    2/2 -> 0,1,2,3,5 (9.4 s); 2/0 -> 0,1,3 (7.1 s). tcp_write_timeout expires a connect at
    retransmits >= TCP_SYNCNT + linear_timeouts OR (2^(TCP_SYNCNT+1) - 1) s from the first
    SYN, whichever a timer expiry reaches first."""
    one = _given_up((0.0, 1.0, 2.0))
    assert not one.cut_short and one.give_up_after_s == 3.0
    assert one.limits is not None
    assert (one.limits.setting, one.limits.count, one.limits.time) == (1, False, True)
    two = _given_up((0.0, 1.0, 2.0, 3.0, 4.0, 5.0))
    assert two.give_up_after_s == 7.0 and two.limits is not None
    assert (two.limits.setting, two.limits.linear, two.limits.count) == (2, 4, False)
    three = _given_up((0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 7.0, 11.0))
    assert three.give_up_after_s == 19.0 and three.limits is not None
    assert (three.limits.setting, three.limits.count, three.limits.time) == (3, True, True)
    assert three.limits.time_limit_s == 15.0
    lin2 = _given_up((0.0, 1.0, 2.0, 3.0, 5.0))
    assert lin2.give_up_after_s == 9.0 and lin2.limits is not None
    assert (lin2.limits.setting, lin2.limits.linear) == (2, 2)
    classic = _given_up((0.0, 1.0, 3.0))
    assert classic.limits is not None and (classic.limits.setting, classic.limits.linear) == (2, 0)
    # 4 SYNs 1 s apart: no setting stops there (1 stops after 3 SYNs, 2 after 6): the
    # application's own connect timeout (or TCP_USER_TIMEOUT) closed the socket.
    four = _given_up((0.0, 1.0, 2.0, 3.0))
    assert four.cut_short and four.limits is None and four.give_up_after_s is None
