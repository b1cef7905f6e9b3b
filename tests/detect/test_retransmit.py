"""detect/retransmit.py: RTO series, fast and spurious retransmissions, give-up evidence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from builders.captures import CAPTURES
from builders.conversation import CLIENT, SERVER, Conversation
from builders.segments import segments

import pcapline
from pcapline.detect import conn_view
from pcapline.detect.retransmit import detect
from pcapline.facts import compute_facts
from pcapline.icmp import IcmpError
from pcapline.model import EventKind, Side


def _run(*convs: Conversation):  # type: ignore[no-untyped-def]
    return detect(conn_view(compute_facts(segments(*convs)), 0))


def _resent(gaps: tuple[float, ...]) -> tuple[Conversation, float]:
    """A client's 100 bytes at 10 ms, sent again after each of ``gaps``; and the last time."""
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.010, 100)
    seq = c.nxt(CLIENT) - 100
    t = 0.010
    for gap in gaps:
        t += gap
        c.data(CLIENT, t, 100, seq=seq)
    return c, t


def test_rto_series_doubling_never_acked_then_silence() -> None:
    c, t = _resent((0.2, 0.4, 0.8, 1.6))
    later = Conversation(conn=1).syn(t + 10.0)  # the capture goes on 10 s: no more retries came
    d = _run(c, later)
    s = d.inferred.last_series
    assert [round(g, 3) for g in s.gaps] == [0.2, 0.4, 0.8, 1.6]
    assert s.doubling and not s.acked and s.gave_up is True
    assert round(s.give_up_after_s, 3) == 6.2  # 3.0 s of backoff + the next 3.2 s RTO
    assert [e.kind for e in d.events] == [EventKind.RETRANSMIT] * 4
    assert d.inferred.rto == 4


def test_capture_ending_mid_backoff_is_not_a_give_up() -> None:
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.010, 100)
    seq = c.nxt(CLIENT) - 100
    c.data(CLIENT, 0.210, 100, seq=seq).data(CLIENT, 0.610, 100, seq=seq)
    s = _run(c).inferred.last_series
    # Linux retries up to tcp_retries2 (15): after 2 timeouts the next RTO is no give-up.
    assert s.gave_up is None and s.give_up_after_s is None


def test_series_at_the_tcp_retries2_limit_predicts_the_abort_at_the_next_rto() -> None:
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.010, 100)
    seq = c.nxt(CLIENT) - 100
    t, gap = 0.010, 0.2
    for _ in range(15):  # 0.2 s doubling, capped at TCP_RTO_MAX
        t += gap
        c.data(CLIENT, t, 100, seq=seq)
        gap = min(2 * gap, 120.0)
    s = _run(c).inferred.last_series
    assert s.retransmissions == 15 and s.gave_up is None
    assert round(s.give_up_after_s, 1) == round(t - 0.010 + 120.0, 1)


def test_resend_clocked_by_an_advancing_ack_is_not_a_timeout() -> None:
    # The smtp.pcap shape: after a path MTU drop the sender resends the window in smaller
    # segments, each tens of microseconds after an ACK that advanced snd.una. The original
    # went out 0.4 s before, but the RTO restarted on that ACK: no timer fired.
    c = Conversation().handshake(0.0, rtt=0.3)
    c.data(CLIENT, 0.400, 1000).data(CLIENT, 0.4001, 1000)
    first = c.client_isn + 1
    c.ack(SERVER, 0.800, ack=first + 1000)
    c.data(CLIENT, 0.80004, 1000, seq=first + 1000)
    d = _run(c)
    assert [e.kind for e in d.events] == [EventKind.FAST_RETRANSMIT]
    assert d.events[0].note.startswith("sent 40 us after the peer's ACK advanced snd.una")
    assert (d.inferred.rto, d.inferred.fast) == (0, 1)
    assert d.inferred.last_series.retransmissions == 0  # no timer-driven step


def test_bytes_with_no_earlier_copy_captured_are_no_timeout() -> None:
    c = Conversation().handshake(0.0)
    first = c.client_isn + 1
    c.data(CLIENT, 0.010, 100, captured=False)  # the capture missed the first copy
    c.data(CLIENT, 0.011, 100)
    c.data(CLIENT, 0.600, 100, seq=first)  # the gap's bytes, first seen here
    c.ack(SERVER, 0.700, ack=first + 200)
    d = _run(c)
    assert [e.kind for e in d.events] == [EventKind.RETRANSMIT_UNKNOWN]
    assert d.events[0].value is None and "no earlier copy captured" in d.events[0].note
    assert (d.inferred.rto, d.inferred.unknown, d.inferred.total) == (0, 1, 1)


def test_a_copy_further_back_than_tcp_rto_max_is_no_backoff_step() -> None:
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.010, 100)
    seq = c.nxt(CLIENT) - 100
    c.data(CLIENT, 300.0, 100, seq=seq)  # a time jump, or captures joined
    c.data(CLIENT, 300.3, 100, seq=seq).data(CLIENT, 300.9, 100, seq=seq)
    d = _run(c)
    kinds = [e.kind for e in d.events]
    assert kinds == [EventKind.RETRANSMIT_UNKNOWN, EventKind.RETRANSMIT, EventKind.RETRANSMIT]
    s = d.inferred.last_series
    assert [round(g, 3) for g in s.gaps] == [0.3, 0.6] and s.doubling
    assert s.frames[0] == d.events[0].frame  # the series starts after the jump


def test_backoff_runs_from_the_tail_loss_probe() -> None:
    # xmpp-dialback-starttls.pcap: data, then the FIN; a TLP resends the FIN 167 ms later and
    # rearms the RTO (tcp_send_loss_probe -> tcp_rearm_rto); the data's RTO copies then come
    # 0.284, 0.568, 1.136 s apart: doubling once measured from the probe.
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.805, 31)
    seq = c.nxt(CLIENT) - 31
    c.fin(CLIENT, 0.8051)
    c.fin(CLIENT, 0.972, seq=c.nxt(CLIENT) - 1)
    for t in (1.256, 1.824, 2.960):
        c.data(CLIENT, t, 31, seq=seq)
    s = _run(c).inferred.last_series
    assert [round(g, 3) for g in s.gaps] == [0.284, 0.568, 1.136]
    assert s.doubling


def test_fin_repeated_on_the_ack_of_the_peers_fin_is_no_resend() -> None:
    # ssh.client-side-half-duplex.pcap: FIN, then 50 us later the FIN again carrying the ACK
    # of the server's FIN (the server's direction is not in the capture).
    c = Conversation().handshake(0.0)
    c.data(SERVER, 0.010, 100, captured=False).ack(CLIENT, 0.011)
    c.fin(CLIENT, 1.0)
    c.fin(SERVER, 1.00001, captured=False)
    c.fin(CLIENT, 1.00005, seq=c.nxt(CLIENT) - 1)
    d = _run(c)
    assert [e.kind for e in d.events] == [EventKind.FIN_RETRANSMIT]
    assert "repeated on the ACK" in d.events[0].note and "50 us" in d.events[0].note
    assert d.inferred.last_series is None and d.inferred.fin_on_ack == 1  # nothing was lost


def test_one_direction_captured_makes_no_acknowledgement_claim() -> None:
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.010, 100)
    seq = c.nxt(CLIENT) - 100
    c.data(CLIENT, 0.310, 100, seq=seq)
    seg = segments(c)
    one_sided = seg[seg.from_client].reset_index(drop=True)
    s = detect(conn_view(compute_facts(one_sided), 0)).inferred.last_series
    assert s.acks_unseen and not s.acked
    assert s.gave_up is None and s.give_up_after_s is None  # silence proves nothing here


def test_one_direction_captured_own_ack_rising_shows_the_peer_answered() -> None:
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.010, 100)
    seq = c.nxt(CLIENT) - 100
    c.data(CLIENT, 0.310, 100, seq=seq)
    c.data(SERVER, 0.400, 500).ack(CLIENT, 0.401)  # the client ACKs the server's answer
    seg = segments(c)
    one_sided = seg[seg.from_client].reset_index(drop=True)
    s = detect(conn_view(compute_facts(one_sided), 0)).inferred.last_series
    assert s.acks_unseen and s.acked


def test_fast_retransmit_after_duplicate_acks() -> None:
    c = Conversation().handshake(0.0, rtt=0.01)
    for k in range(4):
        c.data(CLIENT, 0.020 + k * 0.0001, 1000)
    first = c.client_isn + 1
    c.ack(SERVER, 0.030, ack=first + 1000)
    for k in range(3):  # segment 2 lost: three duplicate ACKs
        c.ack(SERVER, 0.0301 + k * 0.0001, ack=first + 1000, sack=True)
    c.data(CLIENT, 0.0305, 1000, seq=first + 1000)
    c.ack(SERVER, 0.040, ack=first + 4000)
    d = _run(c)
    assert [e.kind for e in d.events] == [EventKind.FAST_RETRANSMIT]
    assert d.inferred.last_series.acked
    assert d.inferred.rtt_ms is not None


def test_spurious_and_fin_retransmissions() -> None:
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.01, 100).ack(SERVER, 0.02)
    c.data(CLIENT, 0.30, 100, seq=c.nxt(CLIENT) - 100)  # already ACKed
    c.fin(SERVER, 1.0)
    c.fin(SERVER, 1.2, seq=c.nxt(SERVER) - 1)
    kinds = [e.kind for e in _run(c).events]
    assert kinds == [EventKind.SPURIOUS_RETRANSMIT, EventKind.FIN_RETRANSMIT]


# --- small captures of patterns first seen in real ones (tests/captures/README.md) ----------


def _capture(name: str) -> pcapline.Analysis:
    return pcapline.analyze(str(CAPTURES / name))


def test_last_ack_fin_retries_are_a_close_not_a_dying_transfer() -> None:
    # Server FIN (46), client ACK + FIN (47, 48), then the client's FIN alone 5 more times.
    a = _capture("last-ack-fin-retries.pcap")
    conn = a.connections.iloc[0]
    assert conn.fate == "closed" and conn.closer == "server"
    assert "rto" not in conn.inferred
    text = conn.explanation
    assert "client (passive closer) retransmitted its FIN 5 time(s)" in text
    assert "LAST_ACK" in text and "same data" not in text
    kinds = a.events[a.events.frame.between(49, 53)].kind.tolist()
    assert kinds == ["fin_retransmit"] * 5


def _sack_hole(resend_at: float) -> tuple[Conversation, int]:
    """Server sends 4 x 1000 B; segment 2 lost; the client ACKs 1 and SACKs 3-4 at once."""
    c = Conversation().handshake(0.0, rtt=0.0002)
    for k in range(4):
        c.data(SERVER, 0.010 + k * 0.0001, 1000)
    first = c.server_isn + 1
    c.ack(CLIENT, 0.0102, ack=first + 1000)
    c.ack(CLIENT, 0.0104, ack=first + 1000, sack_edges=(first + 2000, first + 3000))
    c.ack(CLIENT, 0.0105, ack=first + 1000, sack_edges=(first + 2000, first + 4000))
    c.data(SERVER, resend_at, 1000, seq=first + 1000)
    c.ack(CLIENT, resend_at + 0.0002, ack=first + 4000)
    return c, first


def test_resend_sooner_than_min_rto_with_sack_is_loss_recovery() -> None:
    # 40 ms after the last ACK (a queue before the capture point delayed it): far beyond the
    # RTT, but below Linux's 200 ms minimum RTO, so it cannot be a timeout.
    c, _ = _sack_hole(0.0505)
    d = _run(c)
    assert [e.kind for e in d.events] == [EventKind.FAST_RETRANSMIT]
    assert "40 ms after the last advancing ACK" in d.events[0].note
    assert (d.inferred.rto, d.inferred.fast) == (0, 1)


def test_a_sack_older_than_the_original_did_not_draw_the_resend() -> None:
    """pcapplusplus one_tcp_stream.pcap f24: the client's last segment of a burst sent again
    30 ms later with nothing from the server since the burst; the server's latest segment
    is a D-SACK of a keepalive byte 5 s before. It said "after SACK": that SACK answered
    something else. A tail loss probe."""
    c = Conversation().handshake(0.0, rtt=0.0002)
    c.data(SERVER, 0.01, 100).ack(CLIENT, 0.0102)
    first = c.client_isn + 1
    c.ack(SERVER, 10.23, ack=first, sack_edges=(first - 1, first))  # D-SACK, 5 s before
    c.data(CLIENT, 15.4407, 1420).data(CLIENT, 15.4408, 1397)
    c.data(CLIENT, 15.4706, 1397, seq=first + 1420)
    d = _run(c)
    (resend,) = [e for e in d.events if e.kind is EventKind.FAST_RETRANSMIT]
    assert resend.note.startswith("tail loss probe: 30 ms after the original")


def test_resend_after_min_rto_is_still_a_timeout() -> None:
    c, _ = _sack_hole(0.2605)
    assert [e.kind for e in _run(c).events] == [EventKind.RETRANSMIT]


def test_resend_of_already_sacked_tail_is_a_tail_loss_probe() -> None:
    c = Conversation().handshake(0.0, rtt=0.0002)
    c.data(SERVER, 0.010, 1448).data(SERVER, 0.0101, 104)
    first = c.server_isn + 1
    c.ack(CLIENT, 0.0103, ack=first, sack_edges=(first + 1448, first + 1552))
    c.data(SERVER, 0.026, 104, seq=first + 1448)  # TLP: the last segment again, not the hole
    d = _run(c)
    assert [e.kind for e in d.events] == [EventKind.SPURIOUS_RETRANSMIT]
    assert "tail loss probe" in d.events[0].note and "already SACKed" in d.events[0].note


def test_data_reordered_behind_its_fin_at_the_capture_point_is_not_a_retransmission() -> None:
    a = _capture("data-behind-its-fin.pcap")
    assert a.events[a.events.frame == 8].kind.tolist() == []  # never-seen data, 9 us after the FIN
    assert int(a.connections.iloc[0].retransmits) == 0


SAMPLES = Path(__file__).resolve().parents[2] / "sample_captures"


def test_no_give_up_time_claimed_past_the_peer_rst() -> None:
    # Connection 2: the client's data RTO series ends with the listener's RST at 13.3 s.
    conn = pcapline.analyze(str(SAMPLES / "listen-overflow-backlog2-abort0.pcap")).connections.iloc[
        2
    ]
    assert conn.fate == "listen_overflow" and conn.reset_by == "server"
    assert conn.inferred["rto"]["gave_up"] is False and conn.inferred["rto"]["give_up_s"] is None


def test_own_rst_after_the_series_is_the_give_up_time() -> None:
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.010, 100)
    seq = c.nxt(CLIENT) - 100
    c.data(CLIENT, 0.210, 100, seq=seq).data(CLIENT, 0.610, 100, seq=seq)
    c.rst(CLIENT, 0.900)
    s = _run(c).inferred.last_series
    assert s.gave_up is True and round(s.give_up_after_s, 3) == 0.89


def test_tail_loss_probe_is_no_rto_step() -> None:
    # The last data segment resent 7 ms after the original (no duplicate ACK): a TLP. The
    # receiver (a real Linux kernel, its buffer filling) D-SACKs it in frame 11: it held the
    # original, its ACK came after the probe timeout. No loss, so a spurious retransmission.
    a = pcapline.analyze(str(SAMPLES / "zero-window-recovers.pcap"))
    event = a.events[a.events.frame == 10].iloc[0]
    assert event.kind == "spurious_retransmit" and event.note.startswith("tail loss probe: 7 ms")
    assert "D-SACKed by frame 11" in event.note
    conn = a.connections.iloc[0]
    assert "rto" not in conn.inferred and "spurious_rtos" not in conn.inferred
    assert "(1 spurious), all D-SACKed: nothing was lost" in conn.explanation
    assert "after timeout" not in conn.explanation


def test_rto_series_leaves_out_a_copy_sooner_than_the_minimum_rto() -> None:
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.010, 100)
    seq = c.nxt(CLIENT) - 100
    for t in (0.020, 0.220, 0.620, 1.420):  # a TLP 10 ms after the original, then RTOs
        c.data(CLIENT, t, 100, seq=seq)
    d = _run(c)
    s = d.inferred.last_series
    assert [round(g, 3) for g in s.gaps] == [0.2, 0.4, 0.8] and len(s.frames) == 5 and s.doubling
    assert [e.kind for e in d.events] == [EventKind.FAST_RETRANSMIT] + [EventKind.RETRANSMIT] * 3


def _judged_one_by_one(  # type: ignore[no-untyped-def]
    gap, since_adv, spurious, already_sacked, fin_only, recovers_hole, soon, sacked,
    dupacks, clocked, echoed, peer_unseen, tail, peer_cut,
) -> list[int]:  # fmt: skip
    """What each resend is (``retransmit._SPURIOUS``...), the rule read one resend at a
    time: the if-chain ``_judged``'s column-wise selection replaced."""
    from pcapline.detect import retransmit as r
    from pcapline.timers import RTO_CEILING_S, RTO_FLOOR_S

    def fmin(a: float, b: float) -> float:
        if a != a:
            return b
        return a if b != b or a <= b else b

    found = []
    for k, g in enumerate(gap):
        candidate = recovers_hole[k] and (soon[k] or fmin(since_adv[k], g) < RTO_FLOOR_S)
        if spurious[k]:
            found.append(r._SPURIOUS)
        elif already_sacked[k]:
            found.append(r._SACKED_PROBE)
        elif fin_only[k]:
            found.append(r._FIN)
        elif candidate and (dupacks[k] >= 2 or sacked[k]):
            found.append(r._ON_DUPACKS)
        elif g < RTO_FLOOR_S and not tail[k]:
            found.append(r._EARLY_HOLE)
        elif g < RTO_FLOOR_S:
            found.append(r._EARLY_PROBE)
        elif clocked[k]:
            found.append(r._CLOCKED)
        elif g != g:
            found.append(r._NO_COPY)
        elif g > RTO_CEILING_S:
            found.append(r._TOO_LATE)
        else:
            found.append(r._TIMEOUT)
    return found


@pytest.mark.parametrize("seed", range(4))
def test_judged_column_wise_equals_the_rule_read_one_resend_at_a_time(seed: int) -> None:
    from pcapline.detect.retransmit import _KIND_OF, _judged, _note

    rng = np.random.default_rng(seed)
    n = 4000
    # Gaps and times since the last advancing ACK around every threshold (the minimum RTO,
    # TCP_RTO_MAX, microseconds), some not measured (NaN).
    scale = rng.choice([1e-5, 1e-2, 0.2, 1.0, 150.0], size=(2, n))
    gap, since_adv = rng.uniform(0.0, 2.0, size=(2, n)) * scale
    gap[rng.random(n) < 0.15] = np.nan
    since_adv[rng.random(n) < 0.3] = np.nan
    odds = np.array([0.05, 0.05, 0.1, 0.5, 0.5, 0.3, 0.2, 0.3, 0.2, 0.7, 0.3])
    flags = rng.random((11, n)) < odds[:, None]
    spurious, already_sacked, fin_only, recovers_hole, soon, sacked, clocked, echoed = flags[:8]
    alone, tail, cut = flags[8:]
    dupacks = rng.integers(0, 4, size=n)
    args = (gap, since_adv, spurious, already_sacked, fin_only, recovers_hole, soon, sacked,
            dupacks, clocked, echoed, alone, tail, cut)  # fmt: skip
    found = _judged_one_by_one(*(a.tolist() for a in args))
    assert len(set(found)) == 10  # every case came up
    kinds, notes, _ = _judged(*args)
    assert kinds == [_KIND_OF[what] for what in found]
    since = np.fmin(since_adv, gap)
    assert notes == [
        _note(what, g, a, s, d, o, e, u, c)
        for what, g, a, s, d, o, e, u, c in zip(
            found, gap, since_adv, since, dupacks.tolist(), soon, echoed, alone, cut, strict=True
        )
    ]


def test_one_dsack_reports_one_duplicate_the_latest_resend_before_it() -> None:
    """The original lost, the first resend on the timer arrives (its ACK lost on the way back),
    the backed-off second resend draws a D-SACK: one duplicate, the second resend's; the first
    repaired a real loss. A D-SACK credited to both said "none repaired a loss"."""
    c = Conversation()
    c.syn(0.0, sack_perm=True).synack(0.025, sack_perm=True).ack(CLIENT, 0.05)
    s = c.nxt(CLIENT)
    c.data(CLIENT, 0.1, 1000)
    c.data(CLIENT, 0.4, 1000, seq=s)
    c.ack(SERVER, 0.425, captured=False)
    c.data(CLIENT, 1.0, 1000, seq=s)
    c.ack(SERVER, 1.025, sack_edges=(s, s + 1000))
    d = detect(conn_view(compute_facts(segments(c)), 0))
    found = d.inferred
    assert (found.rto, found.spurious, found.dsacked, found.dsacked_timeouts) == (1, 1, 1, 1)
    assert [e.kind for e in d.events] == [EventKind.RETRANSMIT, EventKind.SPURIOUS_RETRANSMIT]
    # The D-SACKed copy is still a step of the backoff: the timer fired.
    assert [round(g, 3) for g in found.last_series.gaps] == [0.3, 0.6]


def _dsacked_probe(*, covered: bool = True) -> Conversation:
    """The client's last two segments; the second resent 20 ms later (a tail loss probe: no
    duplicate ACK, sooner than the minimum RTO); the server's delayed ACK of both comes after
    the probe, with a D-SACK of the probe's bytes (``covered``; else of only half of them)."""
    c = Conversation()
    c.syn(0.0, sack_perm=True).synack(0.025, sack_perm=True).ack(CLIENT, 0.05)
    c.data(CLIENT, 0.1, 1000).data(CLIENT, 0.1001, 1000)
    s = c.nxt(CLIENT) - 1000
    c.data(CLIENT, 0.12, 1000, seq=s)
    c.ack(SERVER, 0.14, sack_edges=(s, s + (1000 if covered else 500)))
    return c


def test_tail_loss_probe_the_receiver_dsacks_is_spurious_nothing_lost() -> None:
    """RFC 8985 probe, RFC 2883 D-SACK: the original had arrived, the probe timeout fired
    before the receiver's delayed ACK came back. No loss: spurious, not fast recovery."""
    d = _run(_dsacked_probe())
    (event,) = d.events
    assert event.kind is EventKind.SPURIOUS_RETRANSMIT
    assert event.note.startswith("tail loss probe: 20 ms") and "D-SACKed by frame 7" in event.note
    found = d.inferred
    assert (found.fast, found.spurious, found.total) == (0, 1, 1)
    assert (found.dsacked, found.dsacked_timeouts, found.dsacked_probes) == (1, 0, 1)
    assert found.dsacked_fast == 0


def test_a_dsack_covering_part_of_the_probe_proves_nothing() -> None:
    d = _run(_dsacked_probe(covered=False))
    assert [e.kind for e in d.events] == [EventKind.FAST_RETRANSMIT]
    assert (d.inferred.fast, d.inferred.dsacked) == (1, 0)


def test_fast_retransmit_the_receiver_dsacks_is_spurious_reordering() -> None:
    """Three duplicate ACKs (a segment reordered, not lost), the fast retransmit, then the
    late original fills the hole and the resend arrives as a duplicate: D-SACK."""
    c = Conversation()
    c.syn(0.0, sack_perm=True).synack(0.025, sack_perm=True).ack(CLIENT, 0.05)
    s = c.nxt(CLIENT)
    for k in range(5):
        c.data(CLIENT, 0.1 + k * 1e-4, 1000)
    for k in range(1, 4):  # dup ACKs for the segments after the first, SACKing them
        c.ack(SERVER, 0.13 + k * 1e-4, ack=s, sack_edges=(s + 1000, s + 1000 * (k + 1)))
    c.data(CLIENT, 0.1304, 1000, seq=s)
    c.ack(SERVER, 0.131, ack=s + 5000)  # the late original filled the hole
    c.ack(SERVER, 0.1312, ack=s + 5000, sack_edges=(s, s + 1000))  # the resend: duplicate
    d = _run(c)
    (event,) = d.events
    assert event.kind is EventKind.SPURIOUS_RETRANSMIT
    assert event.note.startswith("after 2 duplicate ACKs")  # the first ACK is no duplicate
    assert (d.inferred.fast, d.inferred.dsacked_probes, d.inferred.dsacked_fast) == (0, 0, 1)


def test_each_dsack_credits_its_own_probe() -> None:
    """Two probes of two exchanges, each D-SACKed in turn; a D-SACK never reaches back past
    the latest resend it covers, and the work per D-SACK is bounded (DSACK_SEARCH)."""
    c = Conversation()
    c.syn(0.0, sack_perm=True).synack(0.025, sack_perm=True).ack(CLIENT, 0.05)
    for t in (0.1, 1.1):
        c.data(CLIENT, t, 1000)
        s = c.nxt(CLIENT) - 1000
        c.data(CLIENT, t + 0.02, 1000, seq=s)
        c.ack(SERVER, t + 0.04, sack_edges=(s, s + 1000))
        c.data(SERVER, t + 0.05, 100)
        c.ack(CLIENT, t + 0.06)
    d = _run(c)
    assert [e.kind for e in d.events] == [EventKind.SPURIOUS_RETRANSMIT] * 2
    assert "D-SACKed by frame 6 " in d.events[0].note
    assert "D-SACKed by frame 11 " in d.events[1].note
    assert d.inferred.dsacked == 2


def test_a_dsack_before_the_resend_is_not_its() -> None:
    """A D-SACK of the same bytes that came before the resend (a duplicate of the original,
    the path duplicating) says nothing of the later copy."""
    c = Conversation()
    c.syn(0.0, sack_perm=True).synack(0.025, sack_perm=True).ack(CLIENT, 0.05)
    c.data(CLIENT, 0.1, 1000)
    s = c.nxt(CLIENT) - 1000
    c.ack(SERVER, 0.11, ack=s, sack_edges=(s - 1, s))  # a D-SACK below, of other bytes
    c.data(CLIENT, 0.12, 1000, seq=s)
    d = _run(c)
    assert [e.kind for e in d.events] == [EventKind.FAST_RETRANSMIT]
    assert d.inferred.dsacked == 0


SAMPLES = Path(__file__).resolve().parents[2] / "sample_captures"


@pytest.mark.parametrize(
    ("capture", "probe_frame", "series", "dsacked"),
    [
        # After 8 s idle, the request's one segment: the probe at 208 ms, then the RTO rearmed
        # from it (208 ms), doubling from there until tcp_retries2=4 gives up.
        ("middlebox-idle-timeout-drop-at-client.pcap", 9, [0.208, 0.428, 0.832, 1.664], 0),
        # The router drops the server's packets (its ACKs): the last timeout's copy arrives
        # as a duplicate, D-SACKed in frame 18 (spurious; still a step of the backoff).
        ("slow-answers-lost-3s-at-client.pcap", 11, [0.208, 0.424, 0.832, 1.664], 1),
    ],
)
def test_a_tail_loss_probe_at_the_rtos_time_is_no_backoff_step(
    capture: str, probe_frame: int, series: list[float], dsacked: int
) -> None:
    """One segment in flight: Linux's loss probe fires at about the RTO's time (2 * SRTT +
    TCP_RTO_MIN, capped at the RTO) and rearms the RTO without backing off, so the gaps read
    g, g, 2g...; the first was listed as an RTO step ("RTO gaps 208 ms, 208 ms, 428 ms"),
    and its event called a timeout after the series had stopped counting it as one."""
    analysis = pcapline.analyze(str(SAMPLES / capture))
    found = analysis.detections[0].retransmit.inferred
    s = found.last_series
    assert s is not None
    assert [round(g, 3) for g in s.gaps] == series
    assert s.frames[1] == probe_frame == s.probe_frame and probe_frame not in s.step_frames
    assert s.doubling
    # The probe is loss recovery in the events and the counts; the four timer steps stay.
    events = analysis.events.set_index("frame")
    assert events.loc[probe_frame, "kind"] == "fast_retransmit"
    assert str(events.loc[probe_frame, "note"]).startswith("tail loss probe: 0.208 s after")
    steps = events.loc[list(s.step_frames), "kind"].tolist()
    assert steps == ["retransmit"] * (4 - dsacked) + ["spurious_retransmit"] * dsacked
    assert (found.rto, found.fast, found.spurious) == (4 - dsacked, 1, dsacked)
    assert found.dsacked == found.dsacked_timeouts == dsacked
    # One outage, the timer's: from the original's send, not a fast recovery episode of
    # its own beside a timeout episode starting at the probe.
    delays = analysis.delays.get(0)
    assert (delays.rto_episodes, delays.fast_recovery_episodes) == (1, 0)
    assert delays.stalls[0].frame == s.frames[0]


def test_a_bare_fins_copies_at_g_g_2g_stay_fin_retransmits() -> None:
    """A FIN resent at g, g, 2g: the series leaves the first resend out as it would a probe,
    but its event stays ``fin_retransmit`` (what was resent, whatever resent it), and no
    loss recovery episode appears in the delays."""
    c = Conversation().handshake(0.0, 0.002)
    c.data(CLIENT, 0.01, 100).ack(SERVER, 0.012)
    fin_seq = c.nxt(CLIENT)
    t = 1.0
    c.fin(CLIENT, t)
    for gap in (0.208, 0.208, 0.416, 0.832):
        t += gap
        c.fin(CLIENT, t, seq=fin_seq)
    d = _run(c)
    assert (d.inferred.rto, d.inferred.fast, d.inferred.fin) == (0, 0, 4)
    assert {e.kind.value for e in d.events} == {"fin_retransmit"}


def test_thin_linear_timeouts_keep_every_step() -> None:
    """Equal gaps more than twice (tcp_thin_linear_timeouts) are timers, not a probe first."""
    c, _ = _resent((0.21, 0.21, 0.21, 0.21))
    s = _run(c).inferred.last_series
    assert [round(g, 2) for g in s.gaps] == [0.21] * 4


def test_a_copy_stamped_before_its_original_times_no_timer() -> None:
    """The same bytes captured again with an earlier timestamp (captures joined, a clock
    step back): it read "-1381533734993065 us after the original, sooner than the 200 ms
    minimum RTO: loss recovery" (tcpdump of10_inv_OFPST_FLOW.pcap)."""
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 2.0, 100)
    c.data(CLIENT, 5.0, 100, seq=c.nxt(CLIENT) - 100)
    rows = segments(c)
    rows["time_ns"] = rows["time_ns"].to_numpy()[[0, 1, 2, 4, 3]]  # the copy stamped earlier
    events = detect(conn_view(compute_facts(rows), 0)).events
    resent = [e for e in events if e.frame == 5]
    assert [e.kind for e in resent] == [EventKind.RETRANSMIT_UNKNOWN]
    assert resent[0].note.startswith("stamped 3 s before the earlier copy: the capture's clock")


def test_real_kernel_tail_loss_probes_the_receiver_dsacks_lose_nothing() -> None:
    """tail-loss-probes-dsacked.pcap (Linux 6.18, captured at the sender): two small segments
    in flight, the receiver's delayed ACK later than the probe timeout; each probe is
    D-SACKed at once. Every resend is spurious: no fast recovery or RTO time, no loss words."""
    a = pcapline.analyze(str(SAMPLES / "tail-loss-probes-dsacked.pcap"))
    resent = a.events[a.events.kind.str.contains("retransmit")]
    assert len(resent) >= 1 and set(resent.kind) == {"spurious_retransmit"}
    assert all(n.startswith("tail loss probe") and "D-SACKed by frame" in n for n in resent.note)
    found = a.detections[0].retransmit.inferred
    assert found.dsacked == found.dsacked_probes == found.total == len(resent)
    delays = a.delays[0]
    assert (delays.rto_episodes, delays.fast_recovery_episodes) == (0, 0)
    assert not delays.slow
    explanation = a.connections.iloc[0].explanation
    assert "all D-SACKed: nothing was lost" in explanation and "recovered" not in explanation


def _lone_answer_resent(gaps: tuple[float, ...], *, acked: bool = True) -> Conversation:
    """The server's one-segment answer (one segment in flight) sent again after each of
    ``gaps``, then acknowledged by the client (``acked``)."""
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.010, 10).ack(SERVER, 0.011)
    c.data(CLIENT, 0.100, 10).ack(SERVER, 0.101)
    c.data(SERVER, 0.160, 1000)
    seq = c.nxt(SERVER) - 1000
    t = 0.160
    for gap in gaps:
        t += gap
        c.data(SERVER, t, 1000, seq=seq)
    if acked:
        c.ack(CLIENT, t + 0.0001)
    return c


def test_a_loss_probe_at_the_rtos_time_then_one_timeout_is_a_probe_and_a_timeout() -> None:
    """The real kernel's tlp-then-rto shape (Linux 6.18, a router dropping the server's
    one-segment answer twice): the loss probe fires at about the RTO's time (2 x SRTT +
    TCP_RTO_MIN capped at the RTO) and rearms the RTO without backing it off, so the RTO's
    copy comes the same gap later. Both read "timeout" and the series [0.207, 0.208] before."""
    d = _run(_lone_answer_resent((0.207, 0.208)))
    assert [e.kind for e in d.events] == [EventKind.FAST_RETRANSMIT, EventKind.RETRANSMIT]
    assert d.events[0].note.startswith("tail loss probe: 0.207 s after the original")
    assert d.events[1].note.startswith("timeout: 0.208 s after the tail loss probe")
    r = d.inferred
    assert (r.rto, r.fast, r.probes) == (1, 1, 1)
    s = r.last_series
    assert [round(g, 3) for g in s.gaps] == [0.208]  # the backoff counts from the RTO
    assert s.probe_frame == d.events[0].frame and s.step_frames == (d.events[1].frame,)


def test_timeouts_that_double_have_no_probe_first() -> None:
    d = _run(_lone_answer_resent((0.207, 0.414)))
    assert [e.kind for e in d.events] == [EventKind.RETRANSMIT] * 2
    assert (d.inferred.rto, d.inferred.probes) == (2, 0)
    assert [round(g, 3) for g in d.inferred.last_series.gaps] == [0.207, 0.414]


def test_a_probe_is_the_last_segment_sent_not_the_head_of_several() -> None:
    """The RTO resends the first unacknowledged segment, a loss probe the last one: a copy
    of the head while more was in flight is no probe, whatever the gaps."""
    c = Conversation().handshake(0.0)
    c.data(SERVER, 0.100, 1000).data(SERVER, 0.1001, 1000)
    seq = c.nxt(SERVER) - 2000
    c.data(SERVER, 0.307, 1000, seq=seq).data(SERVER, 0.515, 1000, seq=seq)
    d = _run(c)
    assert d.inferred.probes == 0
    assert [e.kind for e in d.events] == [EventKind.RETRANSMIT] * 2


def _too_big(frame: int, t: float, quoted_frame: int | None, *, side: Side = Side.CLIENT):  # type: ignore[no-untyped-def]
    """An ICMP fragmentation needed (MTU 1280) from a router, quoting ``quoted_frame``."""
    return IcmpError(
        frame=frame,
        time_ns=round(t * 1e9),
        kind="fragmentation_needed",
        sender="10.0.0.254",
        from_peer=False,
        quoted_side=side,
        quoted_frame=quoted_frame,
        quoted_syn=False,
        quoted_len=1448,
        mtu=1280,
    )


def _upload_too_big() -> Conversation:
    """The real kernel's shape (ptb-v4, Linux 6.18): two 1448 B segments a router cannot
    forward into its 1280 link; 100 us later the client resends their bytes in 1228 B and
    220 B segments (frames 6..9), then the server acknowledges everything."""
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.0100, 1448).data(CLIENT, 0.01001, 1448)  # frames 4, 5
    first = c.client_isn + 1
    for k, (off, n) in enumerate(((0, 1228), (1228, 1228), (2456, 440))):
        c.data(CLIENT, 0.0101 + k * 1e-6, n, seq=first + off)  # frames 6, 7, 8
    c.ack(SERVER, 0.0102, ack=first + 2896)
    return c


def test_resends_after_an_icmp_fragmentation_needed_are_named_so() -> None:
    """They read "tail loss probe: 0 ms after the original" (12 of them on the real capture):
    Linux resent at once on the error (tcp_v4_mtu_reduced -> tcp_simple_retransmit)."""
    c = _upload_too_big()
    view = conn_view(compute_facts(segments(c)), 0)
    # Without the errors (not captured): no probe is claimed, the shrunk copies say why.
    alone = detect(view)
    assert (alone.inferred.probes, alone.inferred.after_icmp, alone.inferred.fast) == (0, 0, 3)
    assert all("smaller than the copy it repeats" in e.note for e in alone.events)
    assert alone.events[0].note.startswith("100 us after the original and smaller than the copy")
    # The errors (not TCP: frames 100 and 101 of the capture) came before the resends.
    d = detect(view, (_too_big(100, 0.01005, 4), _too_big(101, 0.01006, 5)))
    assert [e.kind for e in d.events] == [EventKind.FAST_RETRANSMIT] * 3
    assert [e.note.split(" said ")[0] for e in d.events] == [
        "resent 50 us after the ICMP fragmentation needed of frame 100 (MTU 1280, from 10.0.0.254)",
        "resent 51 us after the ICMP fragmentation needed of frame 100 (MTU 1280, from 10.0.0.254)",
        "resent 42 us after the ICMP fragmentation needed of frame 101 (MTU 1280, from 10.0.0.254)",
    ]
    assert "tcp_v4_mtu_reduced -> tcp_simple_retransmit" in d.events[0].note
    r = d.inferred
    assert (r.fast, r.after_icmp, r.probes, r.rto) == (3, 3, 0, 0)


def test_an_icmp_error_about_the_other_side_names_nothing() -> None:
    c = _upload_too_big()
    view = conn_view(compute_facts(segments(c)), 0)
    d = detect(view, (_too_big(100, 0.01005, None, side=Side.SERVER),))
    assert d.inferred.after_icmp == 0 and d.inferred.fast == 3


def test_a_tail_loss_probe_of_the_same_size_stays_a_probe() -> None:
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.010, 1448).data(CLIENT, 0.01001, 1448)
    c.data(CLIENT, 0.015, 1448, seq=c.nxt(CLIENT) - 1448)
    d = detect(conn_view(compute_facts(segments(c)), 0))
    assert d.events[0].note.startswith("tail loss probe: 5 ms after the original")
    assert d.inferred.probes == 1


def test_a_resend_on_an_icmp_error_from_far_away_is_no_timeout() -> None:
    """The error came 250 ms after the segment (a far router): the resend 1 ms after the
    error is 251 ms after the original, the RTO's time, but the error drew it; it is no step
    of the backoff."""
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.010, 1448)
    first = c.client_isn + 1
    c.data(CLIENT, 0.261, 1228, seq=first).data(CLIENT, 0.26101, 220, seq=first + 1228)
    view = conn_view(compute_facts(segments(c)), 0)
    assert detect(view).events[0].kind is EventKind.RETRANSMIT  # the old reading
    d = detect(view, (_too_big(100, 0.260, 4),))
    assert [e.kind for e in d.events] == [EventKind.FAST_RETRANSMIT] * 2
    assert d.inferred.rto == 0 and d.inferred.last_series.gaps == ()


def test_a_probe_dsacked_above_the_ack_is_spurious_the_hole_s_resend_is_not() -> None:
    """No timestamps (no Eifel evidence): the client's first segment is lost on the way, its
    second arrives above the hole; the tail loss probe resends the second before the SACK of
    it is back, and the receiver reports the copy as a duplicate: a D-SACK above its ACK,
    first and within the block that holds it (RFC 2883 section 4, Linux tcp_check_dsack;
    ``facts.dsack`` as the decoder marks it). The probe repaired nothing (spurious); the
    resend of the hole's bytes after the SACK is the real loss's repair."""
    c = Conversation()
    c.syn(0.0, sack_perm=True).synack(0.010, sack_perm=True).ack(CLIENT, 0.020)
    s = c.nxt(CLIENT)
    c.data(CLIENT, 0.100, 1000)  # lost after the capture point
    c.data(CLIENT, 0.101, 1000)
    c.data(CLIENT, 0.130, 1000, seq=s + 1000)  # the tail loss probe of the last segment
    c.ack(SERVER, 0.131, ack=s, sack_edges=(s + 1000, s + 2000))  # the SACK of the second
    c.ack(SERVER, 0.141, ack=s, sack_edges=(s + 1000, s + 2000))  # the D-SACK of the probe
    c.rows[-1].update(sack_blocks=2, dsack=True)
    c.data(CLIENT, 0.142, 1000, seq=s)  # the hole's bytes, on the SACK
    c.ack(SERVER, 0.152, ack=s + 2000)
    d = detect(conn_view(compute_facts(segments(c)), 0))
    assert [e.kind for e in d.events] == [
        EventKind.SPURIOUS_RETRANSMIT,
        EventKind.FAST_RETRANSMIT,
    ]
    assert "D-SACKed by frame" in d.events[0].note
    assert (d.inferred.spurious, d.inferred.dsacked, d.inferred.dsacked_probes) == (1, 1, 1)
