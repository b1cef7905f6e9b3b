"""What resent a retransmission, where the capture shows it: its peer's ACKs before it.

Real case: an IPv6 download through a router's tbf queue, captured on the router with
``tcpdump -s 96``. On the server-facing interface (before the queue) every resend read
"fast"; on the client-facing one (after the queue, where the dropped originals never pass)
180 of 190 read "whose trigger the capture cannot show", though each followed the client's
ACK that advanced snd.una within a millisecond (SACK recovery, one resend per ACK), and
that ACK restarted the RTO (tcp_rearm_rto, at least 200 ms): no timer sent them. And a
resend of the hole below SACKed data, 58 ms after its original, after one duplicate ACK
whose SACK blocks the snaplen cut, read as a "tail loss probe", which only resends the
sender's last segment (tcp_send_loss_probe). The exchanges are rebuilt below.
"""

from __future__ import annotations

from pathlib import Path

from builders.capture_files import T0_NS, pcap
from builders.conversation import CLIENT, SERVER, Conversation

import pcapline

MSS = 1448


def _write(c: Conversation, path: Path, snaplen: int | None = None) -> Path:
    frames = [c.frame_bytes(row) for row in c.rows]
    cut = [f if snaplen is None else (f[:snaplen], len(f)) for f in frames]
    times = [T0_NS + row["time_ns"] for row in c.rows]
    path.write_bytes(pcap(cut, snaplen=snaplen or 262144, times_ns=times))
    return path


def _opened() -> tuple[Conversation, int]:
    c = Conversation(client_isn=1000, server_isn=5000)
    c.syn(0.0, sack_perm=True).synack(0.0002, sack_perm=True).ack(CLIENT, 0.0004)
    c.data(CLIENT, 0.001, 100).ack(SERVER, 0.0012)
    return c, c.nxt(SERVER)


def _behind_the_drop() -> Conversation:
    """Two segments dropped before the capture point (not in the capture), SACK recovery:
    the first resent after 3 duplicate ACKs, the second on the partial ACK."""
    c, s = _opened()
    for k in range(6):
        c.data(SERVER, 0.010 + k * 0.0006, MSS, captured=k not in (1, 2))
    seg = [s + k * MSS for k in range(7)]
    c.ack(CLIENT, 0.030, ack=seg[1])
    for k in (4, 5, 6):
        c.ack(CLIENT, 0.030 + k * 0.0006, ack=seg[1], sack_edges=(seg[3], seg[k]))
    c.send(SERVER, 0.034, 0x18, length=MSS, seq=seg[1])  # after 3 duplicate ACKs
    c.ack(CLIENT, 0.045, ack=seg[2], sack_edges=(seg[3], seg[6]))  # partial ACK
    c.send(SERVER, 0.0456, 0x18, length=MSS, seq=seg[2])  # clocked out by it
    c.ack(CLIENT, 0.057, ack=seg[6])
    c.fin(SERVER, 0.1).fin(CLIENT, 0.1002).ack(SERVER, 0.1004)
    return c


def test_a_resend_on_a_partial_ack_is_loss_recovery_without_its_original(
    tmp_path: Path,
) -> None:
    # -s 54 (as -s 96 over IPv6 and Linux cooked headers): the ACKs' SACK blocks are cut.
    a = pcapline.analyze(str(_write(_behind_the_drop(), tmp_path / "behind.pcap", 54)))
    resent = a.events[a.events["kind"].astype(str).str.contains("retransmit")]
    assert resent["kind"].astype(str).tolist() == ["fast_retransmit", "fast_retransmit"]
    first, second = resent["note"].tolist()
    assert first.startswith("after 3 duplicate ACKs")
    assert second.startswith("sent 600 us after the peer's ACK advanced snd.una")
    assert "no earlier copy captured" in second
    explanation = a.connections.explanation.iloc[0]
    assert "2 retransmission(s) (2 fast)" in explanation
    assert "cannot show" not in explanation


def _hole_after_one_dupack() -> Conversation:
    """Five segments captured, the second lost after the capture point: the client's ACK of
    the first SACKs the third, one duplicate ACK SACKs the fourth, and the sender resends
    the hole 22 ms after its original (RACK marks it lost, RFC 8985)."""
    c, s = _opened()
    for k in range(5):
        c.data(SERVER, 0.010 + k * 0.0006, MSS)
    seg = [s + k * MSS for k in range(6)]
    c.ack(CLIENT, 0.030, ack=seg[1], sack_edges=(seg[2], seg[3]))
    c.ack(CLIENT, 0.031, ack=seg[1], sack_edges=(seg[2], seg[4]))
    c.send(SERVER, 0.0326, 0x18, length=MSS, seq=seg[1])
    c.ack(CLIENT, 0.045, ack=seg[5])
    c.fin(SERVER, 0.1).fin(CLIENT, 0.1002).ack(SERVER, 0.1004)
    return c


def test_an_early_resend_of_a_hole_is_no_tail_loss_probe_when_the_sack_was_cut(
    tmp_path: Path,
) -> None:
    whole = pcapline.analyze(str(_write(_hole_after_one_dupack(), tmp_path / "whole.pcap")))
    (note,) = whole.events[whole.events["kind"].astype(str) == "fast_retransmit"]["note"]
    assert note == "after SACK"
    # -s 54: no option byte left; the duplicate ACK's SACK block is gone.
    cut = pcapline.analyze(str(_write(_hole_after_one_dupack(), tmp_path / "s54.pcap", 54)))
    resent = cut.events[cut.events["kind"].astype(str).str.contains("retransmit")]
    assert resent["kind"].astype(str).tolist() == ["fast_retransmit"]
    note = resent["note"].iloc[0]
    assert note.startswith("loss recovery: 22 ms after the original")
    assert "1 duplicate ACK before it, whose SACK blocks the snaplen cut" in note
    assert "tail loss probe" not in cut.connections.explanation.iloc[0]


def _fin_overtook_its_data() -> Conversation:
    """The server's FIN captured before the data it follows (reordered on the way): the data
    is no resend clocked out by the client's ACK of the request, 47 ms earlier, though that
    ACK asks for its first byte (zeek ssl-to-http-server.pcap)."""
    c, s = _opened()
    # FIN+ACK, captured twice (as there: two copies of each frame, same IP ID).
    c.send(SERVER, 0.048, 0x11, seq=s + 341, ip_id=7)
    c.send(SERVER, 0.048, 0x11, seq=s + 341, ip_id=7)
    c.data(SERVER, 0.0482, 341, seq=s)
    c.ack(CLIENT, 0.0485).fin(CLIENT, 0.1).ack(SERVER, 0.15)
    return c


def test_bytes_overtaken_by_the_fin_are_not_named_clocked_by_an_earlier_ack(
    tmp_path: Path,
) -> None:
    a = pcapline.analyze(str(_write(_fin_overtook_its_data(), tmp_path / "fin.pcap")))
    (note,) = a.events[a.events["kind"].astype(str).str.contains("retransmit")]["note"]
    assert note.startswith("no earlier copy captured")


def _two_holes_on_one_ack() -> Conversation:
    """Segments 1, 2 and 4 dropped before the capture point: 1 resent after 3 duplicate
    ACKs; the partial ACK asking for 2 clocks out 2 and then 4 (the SACK scoreboard walked
    in order; 3 had arrived, so the ACK number never names 4)."""
    c, s = _opened()
    for k in range(8):
        c.data(SERVER, 0.010 + k * 0.0006, MSS, captured=k not in (1, 2, 4))
    seg = [s + k * MSS for k in range(9)]
    c.ack(CLIENT, 0.030, ack=seg[1])
    for k in (4, 6, 7):
        c.ack(CLIENT, 0.030 + k * 0.0006, ack=seg[1], sack_edges=(seg[3], seg[k]))
    c.send(SERVER, 0.035, 0x18, length=MSS, seq=seg[1])
    c.ack(CLIENT, 0.046, ack=seg[2], sack_edges=(seg[5], seg[8]))
    c.send(SERVER, 0.0466, 0x18, length=MSS, seq=seg[2])
    c.send(SERVER, 0.0472, 0x18, length=MSS, seq=seg[4])
    c.ack(CLIENT, 0.058, ack=seg[8])
    c.fin(SERVER, 0.1).fin(CLIENT, 0.1002).ack(SERVER, 0.1004)
    return c


def test_one_partial_ack_clocks_out_the_holes_it_does_not_name(tmp_path: Path) -> None:
    a = pcapline.analyze(str(_write(_two_holes_on_one_ack(), tmp_path / "two.pcap", 54)))
    resent = a.events[a.events["kind"].astype(str).str.contains("retransmit")]
    assert resent["kind"].astype(str).tolist() == ["fast_retransmit"] * 3
    assert resent["note"].iloc[2].startswith("sent 1 ms after the peer's ACK advanced snd.una")


def _two_timeouts_two_dsacks() -> Conversation:
    """The ACKs stuck in a queue on the way back (nothing lost): the sender's RTO fires twice
    (0.22 s, then 0.44 s later) for one segment, then the delayed ACKs come, and two D-SACKs
    of that segment, one per duplicate the receiver got (real kernel: TcpExtTCPDSACKRecv
    counted each, TcpExtTCPLossUndo 1)."""
    c, s = _opened()
    c.data(SERVER, 0.010, MSS).data(SERVER, 0.0106, MSS)
    last = s + MSS
    c.send(SERVER, 0.230, 0x18, length=MSS, seq=last)
    c.send(SERVER, 0.670, 0x18, length=MSS, seq=last)
    c.ack(CLIENT, 1.0, ack=last + MSS)
    c.ack(CLIENT, 1.001, ack=last + MSS, sack_edges=(last, last + MSS))
    c.ack(CLIENT, 1.002, ack=last + MSS, sack_edges=(last, last + MSS))
    c.fin(SERVER, 1.1).fin(CLIENT, 1.1002).ack(SERVER, 1.1004)
    return c


def test_two_dsacks_of_one_block_report_both_timeout_copies(tmp_path: Path) -> None:
    a = pcapline.analyze(str(_write(_two_timeouts_two_dsacks(), tmp_path / "dsack.pcap")))
    resent = a.events[a.events["kind"].astype(str).str.contains("retransmit")]
    assert resent["kind"].astype(str).tolist() == ["spurious_retransmit"] * 2
    # One D-SACK each (frames 11 and 12), not the latest copy reported twice.
    reported = sorted(n.split("; ")[1].split(" (")[0] for n in resent["note"])
    assert reported == ["D-SACKed by frame 11", "D-SACKed by frame 12"]
    explanation = a.connections.explanation.iloc[0]
    assert "2 retransmission(s) (2 spurious), all D-SACKed: nothing was lost" in explanation


def _timeout_acked_with_the_original_stamp(echo_resend: bool) -> Conversation:
    """A segment resent by the RTO 220 ms after it; the ACK of its bytes comes 1 s later
    and echoes the original's TSval (the ACKs sat in a queue: the kernel's Eifel check,
    tcp_packet_delayed, undoes), or the resend's (the original was lost)."""
    c, s = _opened()
    c.data(SERVER, 0.010, MSS, timestamps=(1000, 50))
    c.data(SERVER, 0.230, MSS, seq=s, timestamps=(1220, 50))
    echo = 1220 if echo_resend else 1000
    c.ack(CLIENT, 1.2, ack=s + MSS, timestamps=(1300, echo))
    c.fin(SERVER, 1.3).fin(CLIENT, 1.3002).ack(SERVER, 1.3004)
    return c


def test_a_timeout_whose_ack_echoes_the_original_timestamp_is_spurious(tmp_path: Path) -> None:
    path = _write(_timeout_acked_with_the_original_stamp(False), tmp_path / "eifel.pcap")
    a = pcapline.analyze(str(path))
    (event,) = a.events[a.events["kind"].astype(str).str.contains("retransmit")].itertuples()
    assert str(event.kind) == "spurious_retransmit"
    assert "echoes the timestamp of an earlier copy" in event.note
    explanation = a.connections.explanation.iloc[0]
    assert "all D-SACKed or acknowledged with an earlier copy's timestamp" in explanation
    # The ACK echoing the resend's own TSval: the resend repaired a loss.
    path = _write(_timeout_acked_with_the_original_stamp(True), tmp_path / "lost.pcap")
    a = pcapline.analyze(str(path))
    kinds = a.events["kind"].astype(str)
    assert kinds[kinds.str.contains("retransmit")].tolist() == ["retransmit"]


def _probe_behind_queued_acks() -> Conversation:
    """A tail loss probe 20 ms after the last segment; the ACKs sat in a queue: the first
    covering the probe's bytes echoes an earlier segment's TSval (it answered the original),
    and the D-SACK of the probe rides on the next ACK, whose SACK block ``-s 66`` cuts."""
    c, s = _opened()
    c.data(SERVER, 0.010, MSS, timestamps=(1000, 50))
    c.data(SERVER, 0.0106, MSS, timestamps=(1000, 50))
    tail = s + MSS
    c.send(SERVER, 0.030, 0x18, length=MSS, seq=tail, timestamps=(1020, 50))
    c.ack(CLIENT, 1.0, ack=tail + MSS, timestamps=(1900, 1000))
    c.ack(CLIENT, 1.001, ack=tail + MSS, timestamps=(1901, 1020), sack_edges=(tail, tail + MSS))
    c.fin(SERVER, 1.1, timestamps=(2100, 1901)).fin(CLIENT, 1.1002, timestamps=(2000, 2100))
    c.ack(SERVER, 1.1004, timestamps=(2101, 2000))
    return c


def test_a_probe_whose_dsack_the_snaplen_cut_behind_queued_acks_proves_no_loss(
    tmp_path: Path,
) -> None:
    whole = pcapline.analyze(str(_write(_probe_behind_queued_acks(), tmp_path / "whole.pcap")))
    kinds = whole.events["kind"].astype(str)
    assert kinds[kinds.str.contains("retransmit")].tolist() == ["spurious_retransmit"]
    # -s 66: the timestamps stay, the D-SACK block is gone.
    cut = pcapline.analyze(str(_write(_probe_behind_queued_acks(), tmp_path / "s66.pcap", 66)))
    (event,) = cut.events[cut.events["kind"].astype(str) == "fast_retransmit"].itertuples()
    assert "whether a loss was repaired the capture cannot tell" in event.note
    explanation = cut.connections.explanation.iloc[0]
    assert "the resent bytes were acknowledged, but whether they repaired a loss" in explanation
