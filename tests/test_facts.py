"""facts.py: relative sequence space, snd.una, peer window, duplicates, probe shapes."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent / "detect"))
from builders.conversation import CLIENT, SERVER, Conversation
from builders.segments import segments

from pcapline.facts import UNKNOWN, compute_facts
from pcapline.model import ACK


def test_relative_seq_and_ack_follow_each_direction() -> None:
    c = Conversation(client_isn=2**32 - 10).handshake(0.0)
    c.data(CLIENT, 0.01, 100).ack(SERVER, 0.02)
    f = compute_facts(segments(c))
    assert f.rel_seq.tolist() == [0, 0, 1, 1, 1]
    assert f.seq_end.tolist() == [1, 1, 1, 101, 1]
    # The server's last ACK acknowledges 100 bytes + SYN, across the 2**32 wrap.
    assert f.rel_ack[-1] == 101
    assert f.snd_una[3] == 1  # the client's data: the server had ACKed the SYN only
    assert f.next_seq[3] == 1


def test_window_scaled_only_when_both_syns_carry_wscale() -> None:
    c = Conversation()
    c.send(CLIENT, 0.0, 2, seq=c.client_isn, wscale=7, window=64240)
    c.send(SERVER, 0.001, 2 | ACK, seq=c.server_isn, wscale=7, window=65160)
    c.ack(CLIENT, 0.002, window=502)
    c.ack(SERVER, 0.003, window=0)
    f = compute_facts(segments(c))
    assert f.window.tolist() == [64240, 65160, 502 * 128, 0]
    assert f.peer_window[2] == 65160  # SYN windows are never scaled
    assert f.peer_window[0] == UNKNOWN


def test_capture_duplicate_is_not_a_retransmission() -> None:
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.010, 50, ip_id=777)
    c.data(CLIENT, 0.0100005, 50, seq=c.nxt(CLIENT) - 50, ip_id=777)  # same packet again
    c.data(CLIENT, 0.300, 50, seq=c.nxt(CLIENT) - 50)  # a real retransmission: new IP ID
    f = compute_facts(segments(c))
    assert f.is_dup.tolist() == [False, False, False, False, True, False]
    assert f.is_retrans.tolist() == [False, False, False, False, False, True]


def test_probe_shape_keepalive_versus_window_probe() -> None:
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.01, 10).ack(SERVER, 0.02)
    c.probe(CLIENT, 10.0)  # keepalive: server window open
    c.ack(SERVER, 10.001)
    c.ack(SERVER, 11.0, window=0)
    c.probe(CLIENT, 11.5)  # window probe: same shape, server window 0
    f = compute_facts(segments(c))
    assert np.flatnonzero(f.probe_shape).tolist() == [5, 8]
    assert np.flatnonzero(f.is_keepalive).tolist() == [5]
    assert np.flatnonzero(f.is_window_probe).tolist() == [8]
    assert not f.is_retrans.any()


def test_one_byte_resend_of_unacked_byte_is_a_retransmission_not_a_probe() -> None:
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.01, 1)
    c.data(CLIENT, 0.25, 1, seq=c.nxt(CLIENT) - 1)
    f = compute_facts(segments(c))
    assert not f.probe_shape.any()
    assert f.is_retrans.tolist()[-1]


def test_spurious_retransmission_of_acked_data() -> None:
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.01, 100).ack(SERVER, 0.02)
    c.data(CLIENT, 0.3, 100, seq=c.nxt(CLIENT) - 100)
    f = compute_facts(segments(c))
    assert f.is_spurious.tolist()[-1] and f.is_retrans.tolist()[-1]


def test_connections_are_grouped_and_do_not_leak_state() -> None:
    a = Conversation(conn=0).handshake(0.0)
    a.data(CLIENT, 0.01, 5000).ack(SERVER, 0.02)
    b = Conversation(conn=1).handshake(0.005)
    b.data(SERVER, 0.015, 10)
    f = compute_facts(segments(a, b))
    assert f.conn.tolist() == [0] * 5 + [1] * 4
    assert f.starts.tolist() == [0, 5, 9]
    # Connection 1's client had no ACK from its peer before the SYN+ACK.
    assert f.snd_una[5] == UNKNOWN
    assert f.snd_una[8] == 1  # server data: the client ACKed the SYN+ACK only


def test_ack_after_own_fin_is_not_a_probe() -> None:
    c = Conversation().handshake(0.0)
    c.data(SERVER, 0.01, 100)
    c.fin(CLIENT, 0.02)
    c.ack(CLIENT, 0.0200002, seq=c.nxt(CLIENT) - 1)  # an ACK overtaken by the FIN
    f = compute_facts(segments(c))
    assert not f.probe_shape.any() and not f.is_keepalive.any()


def test_never_seen_data_right_behind_the_segment_that_jumped_it_is_reordering() -> None:
    # arkime aerospike.pcap frames 7/8: the client's FIN at 87, then 9 us later its data 44-87.
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.01, 43)
    gap_start = c.nxt(CLIENT)
    c.fin(CLIENT, 1.0, seq=gap_start + 43)
    c.data(CLIENT, 1.000009, 43, seq=gap_start)
    f = compute_facts(segments(c))
    assert not f.is_retrans.any()


def test_resend_of_seen_data_right_after_a_later_segment_is_still_a_retransmission() -> None:
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.01, 43).data(CLIENT, 0.02, 43)
    c.data(CLIENT, 0.0200005, 43, seq=c.nxt(CLIENT) - 86)  # bytes seen at 0.01: a real resend
    f = compute_facts(segments(c))
    assert np.flatnonzero(f.is_retrans).tolist() == [5]


def _synack_twice(second_after_s: float) -> list[bool]:
    """SYN, then two byte-identical SYN+ACKs with IP ID 0 (Linux), ``second_after_s`` apart."""
    c = Conversation()
    c.send(CLIENT, 0.0, 2, seq=c.client_isn)
    for t in (0.001, 0.001 + second_after_s):
        c.send(SERVER, t, 2 | ACK, seq=c.server_isn, ack=c.client_isn + 1, ip_id=0)
    return compute_facts(segments(c)).is_dup.tolist()


def test_identical_synacks_at_one_instant_are_one_packet_captured_twice() -> None:
    # A capture point stamps each frame as it sees it: one host's two transmissions never
    # share a timestamp, so these are a capture copy (not a SYN+ACK retransmission).
    assert _synack_twice(0.0) == [False, False, True]
    # 50 us apart with IP ID 0 and the same TTL: two real SYN+ACKs (timer + resent SYN).
    assert _synack_twice(50e-6) == [False, False, False]
