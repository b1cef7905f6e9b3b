"""facts.py: relative sequence space, snd.una, peer window, duplicates, probe shapes."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent / "detect"))
from builders.conversation import CLIENT, SERVER, Conversation
from builders.segments import segments

from pcapline import duplicates, facts
from pcapline.facts import UNKNOWN, compute_facts
from pcapline.model import ACK, FIN, RST


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


def _synack_twice(second_after_s: float, *, syns: int = 2) -> list[bool]:
    """``syns`` SYNs 1 s apart (the client's timer), then two byte-identical SYN+ACKs with IP
    ID 0 (Linux), ``second_after_s`` apart."""
    c = Conversation()
    for k in range(syns):
        c.send(CLIENT, float(k), 2, seq=c.client_isn)
    start = syns - 1 + 0.001
    for t in (start, start + second_after_s):
        c.send(SERVER, t, 2 | ACK, seq=c.server_isn, ack=c.client_isn + 1, ip_id=0)
    return compute_facts(segments(c)).is_dup.tolist()


def test_identical_synacks_at_one_instant_are_one_packet_captured_twice() -> None:
    # A capture point stamps each frame as it sees it: one host's two transmissions never
    # share a timestamp, so these are a capture copy (not a SYN+ACK retransmission).
    assert _synack_twice(0.0) == [False, False, False, True]
    # 50 us apart with IP ID 0 and the same TTL after a resent SYN: two real SYN+ACKs (the
    # server's timer, and tcp_check_req answering the resent SYN).
    assert _synack_twice(50e-6) == [False, False, False, False]


def test_synack_repeated_sooner_than_any_timer_without_a_second_syn_is_a_copy() -> None:
    # many-protocols.pcap stream 21: one SYN, SYN+ACK, the same SYN+ACK (IP ID 0) 29.5 ms
    # later. Nothing could resend it: its timer starts at 1 s (TCP_TIMEOUT_INIT) and no
    # second SYN asked for it. A copy made on the path, not a retransmission.
    assert _synack_twice(0.0295, syns=1) == [False, False, True]
    # 1.0 s later, it is the server's timer: a real retransmission.
    assert _synack_twice(1.0, syns=1) == [False, False, False]


def test_synack_copy_must_come_sooner_than_the_round_trip() -> None:
    # The client's ACK came back 10 ms after its SYN (the round trip): a timer on any stack
    # is no shorter than that, but a SYN+ACK 30 ms after the first might be one. Not a copy.
    c = Conversation()
    c.send(CLIENT, 0.0, 2, seq=c.client_isn)
    c.send(SERVER, 0.005, 2 | ACK, seq=c.server_isn, ack=c.client_isn + 1, ip_id=0)
    c.send(CLIENT, 0.010, ACK, seq=c.client_isn + 1, ack=c.server_isn + 1)
    c.send(SERVER, 0.035, 2 | ACK, seq=c.server_isn, ack=c.client_isn + 1, ip_id=0)
    assert compute_facts(segments(c)).is_dup.tolist() == [False, False, False, False]


def test_same_ip_id_from_a_numbering_sender_is_a_copy_past_one_ms() -> None:
    # cisco-fabric-path.pcap: the same SYN (IP ID 1) 1.018 ms later, seen twice on the
    # fabric. A SYN timer fires after 1 s at the soonest: a copy, not a retry.
    c = Conversation()
    c.send(CLIENT, 0.0, 2, seq=c.client_isn, ip_id=1)
    c.send(CLIENT, 0.001018, 2, seq=c.client_isn, ip_id=1)
    assert compute_facts(segments(c)).is_dup.tolist() == [False, True]
    # Data: a sender numbering its packets resends with a new IP ID; the same ID 50 ms later
    # (sooner than any RTO) is the same packet.
    c = Conversation().handshake(0.0)
    c.send(CLIENT, 0.1, ACK, seq=c.client_isn + 1, ack=c.server_isn + 1, length=10, ip_id=7)
    c.send(CLIENT, 0.15, ACK, seq=c.client_isn + 1, ack=c.server_isn + 1, length=10, ip_id=7)
    assert compute_facts(segments(c)).is_dup.tolist()[-1] is True


@pytest.mark.parametrize(
    ("second_ts", "copy"),
    [
        ((1000, 500), True),  # the same TSval 2.4 s later: the same transmission
        ((3400, 500), False),  # a later TSval: a resend (its IP ID alone cannot say)
        (None, False),  # no timestamps: past 200 ms a counter may have come round
    ],
)
def test_same_ip_id_and_tsval_is_a_copy_however_far_apart(
    second_ts: tuple[int, int] | None, copy: bool
) -> None:
    # Two taps merged across a bottleneck's 2.4 s queue (a real kernel's, mergecap of the
    # client's and the server's captures): each segment is seen twice, seconds apart, with
    # its IP ID and TSval. A Linux resend carries a new IP ID and a later TSval.
    c = Conversation().handshake(0.0)
    first_ts = (1000, 500) if second_ts is not None else None
    for t, ts in ((0.1, first_ts), (2.5, second_ts)):
        c.send(
            CLIENT,
            t,
            ACK,
            seq=c.client_isn + 1,
            ack=c.server_isn + 1,
            length=1448,
            ip_id=7,
            timestamps=ts,
        )
    assert compute_facts(segments(c)).is_dup.tolist()[-1] is copy


def test_a_syn_sent_again_after_a_rst_is_no_copy() -> None:
    # Windows retries a refused connect 0.5 s after the RST with the same ISN: with IP ID 0
    # (IPv6) the two SYNs are byte-identical, yet the RST between them asked for the second.
    c = Conversation()
    c.send(CLIENT, 0.0, 2, seq=c.client_isn, ip_id=0)
    c.send(SERVER, 0.05, RST | ACK, seq=0, ack=c.client_isn + 1, ip_id=0)
    c.send(CLIENT, 0.55, 2, seq=c.client_isn, ip_id=0)
    assert compute_facts(segments(c)).is_dup.tolist() == [False, False, False]


def _random_rows(seed: int, n: int = 400, conns: int = 12) -> duplicates.Rows:
    """Grouped rows (connection, then frame) with random sides and few IP IDs."""
    rng = np.random.default_rng(seed)
    conn_index = np.sort(rng.integers(0, conns, n))
    from_client = rng.random(n) < 0.5
    ip_id = rng.integers(0, 3, n) * rng.integers(0, 2, conns)[conn_index]  # some never count
    dir_key = conn_index * 2 + from_client
    starts = np.searchsorted(conn_index, np.arange(conns + 1))
    zeros = np.zeros(n, dtype=np.int64)
    return _rows((ip_id,), ip_id, zeros, from_client, conn_index, starts, dir_key)


def _rows(
    keys: tuple[np.ndarray, ...],
    ip_id: np.ndarray,
    time_ns: np.ndarray,
    from_client: np.ndarray,
    conn_index: np.ndarray,
    starts: np.ndarray,
    dir_key: np.ndarray,
) -> duplicates.Rows:
    """``duplicates.Rows`` of these columns; the other keys and flags all zero."""
    zeros = np.zeros(len(ip_id), dtype=np.int64)
    return duplicates.Rows(
        keys=(*keys, *[zeros] * (7 - len(keys))),
        ip_id=ip_id,
        ttl=zeros,
        time_ns=time_ns,
        syn=zeros.astype(bool),
        ack=zeros.astype(bool),
        from_client=from_client,
        conn_index=conn_index,
        starts=starts,
        dir_key=dir_key,
        rst=zeros.astype(bool),
        sack_blocks=zeros,
        has_ts=zeros.astype(bool),
    )


def test_copy_rule_helpers_read_only_the_asked_rows_yet_answer_as_a_whole_scan() -> None:
    """``_numbered_direction`` and ``_nothing_between`` look at the paired rows' directions
    and spans only; they give what a scan of every row gives."""
    for seed in range(20):
        r = _random_rows(seed)
        n = len(r.time_ns)
        dirs = np.unique(np.random.default_rng(seed).integers(0, 2 * (len(r.starts) - 1), 9))
        counting = [len(set(r.ip_id[r.dir_key == d].tolist())) > 1 for d in dirs.tolist()]
        assert duplicates._numbered_direction(r, dirs).tolist() == counting
        later = np.array([i for i in range(n) if (r.dir_key[:i] == r.dir_key[i]).any()])
        earlier = np.array([np.flatnonzero(r.dir_key[:i] == r.dir_key[i])[0] for i in later])
        alone = [
            bool((r.from_client[e : lt + 1] == r.from_client[lt]).all())
            for e, lt in zip(earlier.tolist(), later.tolist(), strict=True)
        ]
        never = np.full(n, np.iinfo(np.int64).max)  # no row repeats one seen before
        assert duplicates._nothing_between(r, earlier, later, never).tolist() == alone


def _twin_rows(seed: int, n: int = 300) -> duplicates.Rows:
    """Grouped rows whose keys take few values (many twins), at random times, frame order
    kept inside each direction's rows."""
    rng = np.random.default_rng(seed)
    conn_index = np.sort(rng.integers(0, 5, n))
    from_client = rng.random(n) < 0.5
    dir_key = conn_index * 2 + from_client
    keys = tuple(rng.integers(0, 2, n) for _ in range(3))
    time_ns = np.cumsum(rng.integers(0, duplicates.STAMPED_WINDOW_NS // 4, n))
    starts = np.searchsorted(conn_index, np.arange(6))
    return _rows(keys, keys[0], time_ns, from_client, conn_index, starts, dir_key)


def _nearest_twins(r: duplicates.Rows, look_back: int) -> list[tuple[int, int]]:
    """Row by row: the nearest earlier row of its direction with every key equal, kept when
    at most ``look_back`` rows back and inside the widest window."""
    pairs = []
    for row in range(len(r.dir_key)):
        for e in range(row - 1, -1, -1):
            if r.dir_key[e] == r.dir_key[row] and all(key[e] == key[row] for key in r.keys):
                if (
                    row - e <= look_back
                    and r.time_ns[row] - r.time_ns[e] < duplicates.STAMPED_WINDOW_NS
                ):
                    pairs.append((row, e))
                break
    return pairs


@pytest.mark.parametrize("look_back", [1, 2, 3, 7, 4096])
def test_a_copy_is_paired_with_its_nearest_twin_within_the_look_back(
    monkeypatch: pytest.MonkeyPatch, look_back: int
) -> None:
    """Compiled core and numpy both give, for each row, its nearest identical row of its
    direction when it lies at most ``LOOK_BACK_ROWS`` rows back (the core's two tables turn
    over many times at a look-back of 1 to 7)."""
    from pcapline.read import native

    monkeypatch.setattr(duplicates, "LOOK_BACK_ROWS", look_back)
    for seed in range(12):
        r = _twin_rows(seed)
        want = _nearest_twins(r, look_back)
        assert len(want) >= 10  # not a vacuous comparison
        ways = [False, True] if native.core is not None else [False]
        for active in ways:
            monkeypatch.setattr(native, "active", active)
            later, earlier = duplicates._identical_pairs(r)
            assert list(zip(later.tolist(), earlier.tolist(), strict=True)) == want, active


def test_copies_with_other_segments_between_them_are_still_copies() -> None:
    """A router's ``-i any`` capture: every client segment seen as it came in, and again
    after the egress queue, four segments later; same IP ID, 3 ms apart. No resend."""
    c = Conversation().handshake(0.0)
    seq = c.client_isn + 1
    sent = []
    for k in range(8):
        sent.append((0.1 + k * 0.001, seq + 100 * k, 100 + k))
    rows = sorted([(t, s, i) for t, s, i in sent] + [(t + 0.003 + 1e-6, s, i) for t, s, i in sent])
    for t, s, ip_id in rows:
        c.send(CLIENT, t, ACK, seq=s, ack=c.server_isn + 1, length=100, ip_id=ip_id)
    f = compute_facts(segments(c))
    assert int(f.is_dup.sum()) == 8
    assert not f.is_retrans.any()


def test_pieces_of_a_merged_segment_seen_leaving_are_copies() -> None:
    """A router on ``-i any``: two client segments merged by GRO coming in (2,000 bytes, the
    first one's IP ID 40), then, after a segment that came in meanwhile, the two pieces
    leaving (IP IDs 40 and 41, 1,000 bytes each). The pieces are copies; a resend of the
    second piece with a new IP ID (43) is a retransmission."""
    c = Conversation().handshake(0.0)
    seq, ack = c.client_isn + 1, c.server_isn + 1
    c.send(CLIENT, 0.100, ACK, seq=seq, ack=ack, length=2000, ip_id=40)
    c.send(CLIENT, 0.101, ACK, seq=seq + 2000, ack=ack, length=1000, ip_id=42)
    c.send(CLIENT, 0.104, ACK, seq=seq, ack=ack, length=1000, ip_id=40)
    c.send(CLIENT, 0.105, ACK, seq=seq + 1000, ack=ack, length=1000, ip_id=41)
    c.send(CLIENT, 0.150, ACK, seq=seq + 1000, ack=ack, length=1000, ip_id=43)
    f = compute_facts(segments(c))
    assert f.is_dup.tolist()[-5:] == [False, False, True, True, False]
    assert f.is_retrans.tolist()[-5:] == [False, False, False, False, True]


def test_a_loss_probe_of_a_tso_segments_tail_is_no_piece() -> None:
    """A Linux server's TSO segment of two (1,448 + 500 bytes, IP ID 9100: the wire pieces
    take 9100 and 9101); the tail is lost, and the loss probe resends it with the socket's
    next IP ID, 9102, the same ack, no timestamps (a Windows client). It ends the segment
    and its IP ID fits 'piece 2 of a 974-byte cut': a resend all the same, since no piece 1
    of that size is in the capture. (Found by review: the last-piece rule alone took it.)"""
    c = Conversation().handshake(0.0, rtt=0.02)
    c.data(CLIENT, 0.03, 100)
    s, a = c.server_isn + 1, c.client_isn + 101
    c.send(SERVER, 0.031, ACK, seq=s, ack=a, length=1948, ip_id=9100)
    c.send(CLIENT, 0.051, ACK, seq=a, ack=s + 1448, ip_id=200)
    c.send(SERVER, 0.073, ACK, seq=s + 1448, ack=a, length=500, ip_id=9102)
    f = compute_facts(segments(c))
    assert (f.is_dup.tolist()[-1], f.is_retrans.tolist()[-1]) == (False, True)


def test_the_last_shorter_piece_is_a_piece_after_the_one_before_it() -> None:
    """GRO merged 1,000 + 1,000 + 500 bytes (IP ID 40); the three pieces leave after the
    queue (40, 41, 42): the last, shorter one is a copy because piece 1 (1,000 bytes,
    ending where it starts) is in the capture."""
    c = Conversation().handshake(0.0)
    seq, ack = c.client_isn + 1, c.server_isn + 1
    c.send(CLIENT, 0.100, ACK, seq=seq, ack=ack, length=2500, ip_id=40)
    for k, length in enumerate((1000, 1000, 500)):
        c.send(
            CLIENT,
            0.104 + k * 0.0001,
            ACK,
            seq=seq + 1000 * k,
            ack=ack,
            length=length,
            ip_id=40 + k,
        )
    f = compute_facts(segments(c))
    assert f.is_dup.tolist()[-4:] == [False, True, True, True]


def test_a_direction_whose_only_data_comes_after_its_fin_has_no_whole_to_cut() -> None:
    # ssl-to-http-server.pcap: the server's FIN is captured before its only data segment,
    # whose bytes then lie below the highest seq seen: the piece search has no whole segment
    # to look in, and says so (no copy) instead of failing.
    c = Conversation().handshake(0.0)
    c.send(SERVER, 0.10, ACK | FIN, seq=c.server_isn + 342, ack=c.client_isn + 1, ip_id=0x1B8A)
    c.send(SERVER, 0.11, ACK, seq=c.server_isn + 1, ack=c.client_isn + 1, length=341, ip_id=0x1B89)
    f = compute_facts(segments(c))
    assert f.is_dup.tolist()[-2:] == [False, False]


def test_copies_without_ip_id_stay_copies_across_an_advancing_ack() -> None:
    """A router's ``any`` with no IP IDs (IPv6, or ID 0): each server segment seen coming in
    and again 30 us later, the client's ACK of the previous segment between the two. That
    ACK advances: it can draw no resend, so the second sighting is a copy. (Found by review:
    'any peer segment between' made these five retransmissions.)"""
    c = Conversation().handshake(0.0, rtt=0.02)
    s, a = c.server_isn + 1, c.client_isn + 1
    for k in range(6):
        t, seq = 0.1 + k * 0.001, s + 1000 * k
        c.send(SERVER, t, ACK, seq=seq, ack=a, length=1000, ip_id=0)
        if k:
            c.send(CLIENT, t + 0.00001, ACK, seq=a, ack=seq, ip_id=0)
        c.send(SERVER, t + 0.00003, ACK, seq=seq, ack=a, length=1000, ip_id=0)
    f = compute_facts(segments(c))
    data = np.flatnonzero(~f.from_client & (f.seg_len > 0))
    assert (int(f.is_dup[data].sum()), int(f.is_retrans[data].sum())) == (6, 0)


def _syn_again(at: float, ip_id: int) -> list[bool]:
    """A client SYN (IP ID 0x0df8), the SYN+ACK, the client's ACK, then the same SYN again
    ``at`` s after the first with IP ID ``ip_id``: each row's ``is_dup``."""
    c = Conversation()
    c.send(CLIENT, 0.0, 2, seq=c.client_isn, ip_id=0x0DF8)
    c.send(SERVER, 0.002, 2 | ACK, seq=c.server_isn, ack=c.client_isn + 1, ip_id=0)
    c.send(CLIENT, 0.003, ACK, seq=c.client_isn + 1, ack=c.server_isn + 1, ip_id=0x0DF9)
    c.send(CLIENT, at, 2, seq=c.client_isn, ip_id=ip_id)
    return list(compute_facts(segments(c)).is_dup.tolist())


def test_a_numbered_clients_syn_seen_again_after_the_handshake_is_a_copy() -> None:
    # wireshark-retrans.pcap: the client's SYN (IP ID 0x0df8) again 5.6 ms later, after the
    # SYN+ACK and the client's ACK: a mirror's copy, not a retry (a resent SYN has a new IP ID).
    assert _syn_again(0.0056, 0x0DF8) == [False, False, False, True]
    # The same SYN with a new IP ID is a retry, even 0.1 s later (sooner than any SYN timer:
    # the answer never arrived and something retried it; a copy keeps its IP ID).
    assert _syn_again(0.1, 0x0DFA) == [False, False, False, False]


def test_per_connection_reductions_equal_counting_each_rows_connection() -> None:
    """``rows_per_connection`` / ``any_per_connection`` / ``reduce_per_connection`` reduce
    contiguous rows; a bincount of each row's connection number (a mask of its rows for the
    max) is the reference, empty connections included."""
    rng = np.random.default_rng(7)
    for sizes in ([3, 0, 2, 0], [0, 0], [5], [], [0, 4, 1, 0, 0, 6]):
        starts = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
        conn_index = np.repeat(np.arange(len(sizes)), sizes)
        for density in (0.5, 0.05):  # the summing pass and the sparse mask's binary search
            mask = rng.random(int(starts[-1])) < density
            want = np.bincount(conn_index[mask], minlength=len(sizes))
            got = facts.rows_per_connection(mask, starts)
            assert got.dtype == np.int64 and got.tolist() == want.tolist()
            assert facts.any_per_connection(mask, starts).tolist() == (want > 0).tolist()
        values = rng.integers(-5, 100, int(starts[-1]))
        largest = facts.reduce_per_connection(np.maximum, values, starts, empty=-1, dtype=np.int64)
        assert largest.tolist() == [
            int(values[conn_index == k].max()) if size else -1 for k, size in enumerate(sizes)
        ]
        which = np.flatnonzero(rng.random(len(sizes)) < 0.5)
        rows = facts.rows_of_connections(starts, which)
        assert rows.tolist() == np.flatnonzero(np.isin(conn_index, which)).tolist()


@pytest.mark.parametrize("ufunc", [np.maximum, np.minimum])
def test_extreme_per_key_equals_ufunc_at(ufunc: np.ufunc) -> None:
    """``extreme_per_key`` gives ``ufunc.at``'s answer on values in order, out of order and
    reversed, keys without values included."""
    rng = np.random.default_rng(3)
    none = np.iinfo(np.int64).min if ufunc is np.maximum else np.iinfo(np.int64).max
    for n_values, n_keys in ((0, 3), (1, 1), (50, 7), (2000, 300)):
        keys = rng.integers(0, n_keys, n_values)
        steady = np.cumsum(rng.integers(0, 5, n_values)) + 10**18
        for values in (steady, steady[::-1].copy(), rng.permutation(steady)):
            want = np.full(n_keys, none, dtype=np.int64)
            ufunc.at(want, keys, values)
            got = facts.extreme_per_key(ufunc, keys, values, n_keys, none)
            assert got.dtype == np.int64 and got.tolist() == want.tolist()


def test_a_fresh_segment_byte_identical_to_an_earlier_one_is_news() -> None:
    """Without IP IDs (IPv6, IP ID 0) a fresh segment can repeat an earlier one byte for byte:
    Windows retries a refused connect twice, 0.5 s apart, with the same ISN, each RST answering
    one SYN; the second RST is news, and the third SYN a retry, not a copy."""
    c = Conversation()
    for t in (0.0, 0.5, 1.0):
        c.syn(t, ip_id=0)
        c.rst(SERVER, t + 0.0002, ip_id=0, seq=0, ack=1001)
    assert compute_facts(segments(c)).is_dup.tolist() == [False] * 6


def test_a_syn_resent_on_a_stale_rst_ack_is_no_copy() -> None:
    """A RST|ACK whose ACK number SYN_SENT cannot accept is ignored and the SYN timer rearmed
    to TCP_TIMEOUT_MIN (tcp_rcv_synsent_state_process): the same SYN leaves 2 ms later, with
    no RST of the client's between."""
    c = Conversation()
    c.syn(0.0, ip_id=0)
    c.rst(SERVER, 0.0003, ip_id=0, seq=100, ack=99999)
    c.syn(0.0025, ip_id=0)
    assert compute_facts(segments(c)).is_dup.tolist() == [False, False, False]


def test_a_syn_and_synack_seen_twice_two_milliseconds_apart_are_copies() -> None:
    """Two taps merged 2 ms apart: every packet twice. The client ACKed the SYN+ACK between
    its SYN and the SYN's copy (connected: it never sends that SYN again), and the SYN+ACK's
    copy carries the same timestamp 2 ms later with one SYN so far (no timer's resend). The
    bare ACK's twin, without an IP ID, may be a fresh duplicate ACK: not called a copy."""
    c = Conversation()
    c.syn(0.0, ip_id=0, timestamps=(100, 0))
    c.synack(0.00002, ip_id=0, timestamps=(5000, 100))
    c.ack(CLIENT, 0.00004, ip_id=0, timestamps=(100, 5000))
    c.syn(0.002, ip_id=0, timestamps=(100, 0))
    c.synack(0.00202, ip_id=0, timestamps=(5000, 100))
    c.ack(CLIENT, 0.00204, ip_id=0, timestamps=(100, 5000))
    assert compute_facts(segments(c)).is_dup.tolist() == [False, False, False, True, True, False]


def _two_rsts_answering(*, peer_segments: int, ttl: int = 64) -> list[bool]:
    """The client close()s (its FIN); the server's 31 B then its FIN (``peer_segments`` = 2),
    or the 31 B only (1), reach a socket that is gone: each draws the kernel's own RST
    (tcp_v4_send_reset: no ACK flag, seq = the segment's ACK number, IP ID 0 as Linux sends
    DF packets without a socket), the same bytes since neither server segment ACKed anything
    new. Captured at the server, both RSTs come in 24 us apart after the two segments; the
    second RST's TTL is ``ttl``. Each row's ``is_dup``."""
    c = Conversation().handshake(0.0)
    c.fin(CLIENT, 0.100)
    c.data(SERVER, 0.1001, 31, ip_id=11342)
    if peer_segments == 2:
        c.fin(SERVER, 0.1002, ip_id=11343)
    rst_seq = c.nxt(CLIENT)
    c.rst(CLIENT, 0.140, with_ack=False, seq=rst_seq, ack=0, ip_id=0)
    c.rst(CLIENT, 0.140024, with_ack=False, seq=rst_seq, ack=0, ip_id=0, ttl=ttl)
    return list(compute_facts(segments(c)).is_dup.tolist())


def test_two_identical_no_socket_rsts_answering_two_segments_are_two_packets() -> None:
    """tls12-slow-serverhello (audit-kernel46 s13): two RSTs, byte for byte the same, 24 us
    apart with nothing between at the server, answer the server's data and its FIN, both
    captured before them: two packets. An IP ID of 0 names no packet."""
    assert _two_rsts_answering(peer_segments=2) == [False] * 8
    # One server segment to answer: the second RST is that one seen twice.
    assert _two_rsts_answering(peer_segments=1) == [False] * 6 + [True]
    # A TTL one lower: the same RST seen on both sides of a router, whatever it answered.
    assert _two_rsts_answering(peer_segments=2, ttl=63) == [False] * 7 + [True]


def test_two_rsts_each_captured_twice_count_two_copies() -> None:
    """``-i any`` over a bridge: the server's data and FIN, and the client's two RSTs that
    answer them, each seen twice a few microseconds apart, same TTL. Which RST of a pair is
    the copy the bytes cannot say, but two segments answered leave room for two RSTs: two
    packets and two copies."""
    c = Conversation().handshake(0.0)
    c.fin(CLIENT, 0.100)
    c.data(SERVER, 0.1001, 31, ip_id=11342)
    c.data(SERVER, 0.100105, 31, seq=c.nxt(SERVER) - 31, ip_id=11342)
    c.fin(SERVER, 0.1002, ip_id=11343)
    c.fin(SERVER, 0.100205, seq=c.nxt(SERVER) - 1, ip_id=11343)
    rst_seq = c.nxt(CLIENT)
    for t in (0.140, 0.140005, 0.140024, 0.140029):
        c.rst(CLIENT, t, with_ack=False, seq=rst_seq, ack=0, ip_id=0)
    f = compute_facts(segments(c))
    assert f.is_dup.tolist()[:8] == [False] * 5 + [True, False, True]
    assert int(f.is_dup[f.rst].sum()) == 2


def _merged_handshake(offset_s: float) -> list[bool]:
    """The client's and the server's captures merged (mergecap), the server's clock
    ``offset_s`` ahead: the client's SYN (TTL 64 at the client, 63 past the router) and the
    server's SYN+ACK (IP ID 0, as Linux sends it; TTL 64 at the server, 63 at the client),
    each seen once per capture point with its own TSval. Each row's ``is_dup``."""
    c = Conversation()
    syn = {"ip_id": 0x23FD, "timestamps": (920924143, 0)}
    synack = {"ip_id": 0, "timestamps": (2098744714, 920924143)}
    c.syn(0.0, ttl=64, **syn)
    c.synack(0.000013, ttl=63, **synack)
    c.ack(CLIENT, 0.000027, ip_id=0x23FE, timestamps=(920924143, 2098744714))
    c.syn(offset_s + 0.000005, ttl=63, **syn)
    c.synack(offset_s + 0.000008, ttl=64, **synack)
    c.ack(CLIENT, offset_s + 0.000032, ip_id=0x23FE, ttl=63, timestamps=(920924143, 2098744714))
    return list(compute_facts(segments(c)).is_dup.tolist())


@pytest.mark.parametrize("offset_s", [0.005, 0.3, 2.0])
def test_a_handshake_seen_at_two_points_with_clocks_apart_is_copied_not_retried(
    offset_s: float,
) -> None:
    """m_0.3.pcap / m_2.pcap (s49 merge audit, real kernels): mergecap of a client's and a
    server's capture with the server's clock 0.3 s or 2 s ahead read every SYN+ACK as
    retried. A resend is stamped when it leaves (Linux tcp_make_synack: a new TSval), so
    the same TSval at another TTL is one packet seen at two points, however far apart."""
    assert _merged_handshake(offset_s) == [False, False, False, True, True, True]


def test_a_refused_syn_seen_at_two_points_is_no_retry() -> None:
    """m_0.3.pcap stream 4: the refused SYN (IP ID 0x23fd, TSval) and the server's RST,
    again 0.3 s later from the server's capture. A numbered client's SYN with the same IP ID
    and TSval is one transmission, RST between or not (a retry has a new IP ID and TSval)."""
    c = Conversation()
    c.syn(0.0, ip_id=0x23FD, timestamps=(7000, 0))
    c.rst(SERVER, 0.00004, ip_id=0, ttl=63, seq=0, ack=c.client_isn + 1)
    c.syn(0.300023, ip_id=0x23FD, ttl=63, timestamps=(7000, 0))
    assert compute_facts(segments(c)).is_dup.tolist() == [False, False, True]
    # The same SYN with its timestamp 0 and IP ID 0 (no number to go by) after the RST: a
    # stack retrying a refused connect, as before.
    c = Conversation()
    c.syn(0.0, ip_id=0)
    c.rst(SERVER, 0.05, ip_id=0, seq=0, ack=c.client_isn + 1)
    c.syn(0.55, ip_id=0)
    assert compute_facts(segments(c)).is_dup.tolist() == [False, False, False]


def test_two_real_synacks_seen_at_two_points_leave_two_not_three() -> None:
    """dm_0.3.pcap (the first SYN+ACK dropped by the router): the server answers the resent
    SYN and its timer fires within one millisecond, two identical SYN+ACKs (IP ID 0, one
    TSval), each seen at the client (TTL 63) and, 0.3 s later by the server's clock, at the
    server (TTL 64). Each point saw both: the server's two are the copies."""
    c = Conversation()
    synack = {"ip_id": 0, "timestamps": (5024, 4000)}
    c.syn(0.0, ip_id=0x44EE, timestamps=(4000, 0))
    c.syn(1.0158, ip_id=0x44EF, timestamps=(5016, 0))
    c.synack(1.015910, ttl=63, **synack)
    c.synack(1.015942, ttl=63, **synack)
    c.synack(1.315817, ttl=64, **synack)
    c.synack(1.315920, ttl=64, **synack)
    assert compute_facts(segments(c)).is_dup.tolist() == [False] * 4 + [True, True]
    # One point only (one TTL): the two SYN+ACKs 32 us apart are both real, as before.
    c = Conversation()
    c.syn(0.0, ip_id=0x44EE, timestamps=(4000, 0))
    c.syn(1.0158, ip_id=0x44EF, timestamps=(5016, 0))
    c.synack(1.015910, ttl=63, **synack)
    c.synack(1.015942, ttl=63, **synack)
    assert compute_facts(segments(c)).is_dup.tolist() == [False] * 4


@pytest.mark.parametrize("offset_s", [0.005, 0.3])
def test_a_refused_connects_rst_seen_at_two_points_is_one_rst(offset_s: float) -> None:
    """m_0.005.pcap stream 4 (s49 merge audit): the refused SYN and the server's RST (IP ID
    0, no timestamp: tcp_v4_send_reset), each seen at the client's and at the server's
    capture point, the server's clock 5 ms ahead: 'resets 2' and '1 later RST(s) ... came
    after the RST that ended it'. The SYN's copy at another TTL shows two points; a host's
    RSTs reach one point at one TTL, so the RST at the other TTL is its copy."""
    c = Conversation()
    syn = {"ip_id": 0x23FD, "timestamps": (7000, 0)}
    rst = {"ip_id": 0, "seq": 0, "ack": c.client_isn + 1}
    c.syn(0.0, ttl=64, **syn)
    c.rst(SERVER, 0.00004, ttl=63, **rst)
    c.syn(offset_s + 0.000023, ttl=63, **syn)
    c.rst(SERVER, offset_s + 0.000035, ttl=64, **rst)
    assert compute_facts(segments(c)).is_dup.tolist() == [False, False, True, True]
    # One point only: a RST at another TTL (a middlebox's, injected) stays a packet.
    c = Conversation()
    c.syn(0.0, ttl=64, **syn)
    c.rst(SERVER, 0.00004, ttl=63, **rst)
    c.rst(SERVER, offset_s + 0.000035, ttl=50, **rst)
    assert compute_facts(segments(c)).is_dup.tolist() == [False, False, False]


def test_keepalive_probes_seen_at_two_points_are_still_keepalives() -> None:
    """m_0.3.pcap stream 0 (s49 merge audit): a connection idle with SO_KEEPALIVE
    (TCP_KEEPIDLE 1 s, TCP_KEEPINTVL 1 s), captured at the client and at the server whose
    clock is 0.3 s ahead: 'keepalive_probes 0' (truth 3). The server's answer copied 0.3 s
    later looked like news 0.7 s before the next probe; a copy is no packet the client's
    socket received (keepalive_time_elapsed counts from its last receipt)."""
    c = Conversation()
    ci, si = c.client_isn, c.server_isn
    sent = [  # (sender, time, flags, seq, ack, length, ip_id)
        (CLIENT, 0.0, 2, ci, 0, 0, 0x100),
        (SERVER, 0.00004, 2 | ACK, si, ci + 1, 0, 0),
        (CLIENT, 0.00006, ACK, ci + 1, si + 1, 0, 0x101),
        (CLIENT, 0.0001, ACK, ci + 1, si + 1, 5, 0x102),
        (SERVER, 0.0011, ACK, si + 1, ci + 6, 10, 0x900),
        (CLIENT, 0.0012, ACK, ci + 6, si + 11, 0, 0x103),
        (CLIENT, 1.0065, ACK, ci + 5, si + 11, 0, 0x104),  # keepalive: seq snd.nxt - 1
        (SERVER, 1.0066, ACK, si + 11, ci + 6, 0, 0x901),
        (CLIENT, 2.0305, ACK, ci + 5, si + 11, 0, 0x105),
        (SERVER, 2.0306, ACK, si + 11, ci + 6, 0, 0x902),
    ]
    seen = []
    for side, t, flags, seq, ack, length, ip_id in sent:
        stamp = (1000 if side else 5000) + round(t * 1000)  # TSval: stamped once, when sent
        near_client, near_server = (t, 64 if side else 63), (t + 0.3 + 4e-5, 63 if side else 64)
        for at, ttl in (near_client, near_server):
            seen.append((at, side, flags, seq, ack, length, ip_id, stamp, ttl))
    c.sightings(seen)
    f = compute_facts(segments(c))
    assert int(f.is_dup.sum()) == 10
    assert int((f.is_keepalive & ~f.is_dup).sum()) == 2
    assert int(f.is_retrans.sum()) == 0
