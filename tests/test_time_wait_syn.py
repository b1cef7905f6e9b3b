"""A SYN that reaches a port still in TIME_WAIT, answered with the old connection's ACK.

Kernel rule (Linux tcp_timewait_state_process, no TCP timestamps): a SYN whose ISN is not
above the TIME_WAIT socket's rcv_nxt is answered with an ACK of the OLD connection (its
snd_nxt, its rcv_nxt). The client, in SYN-SENT, finds that ACK unacceptable (RFC 9293
3.10.7.3: only ack = ISS + 1 is) and answers ``<SEQ=SEG.ACK><CTL=RST>``; the RST ends the
TIME_WAIT socket and the client's SYN, sent again, is accepted. The ACK and the RST count in
the old connection's sequence space: they acknowledge and send nothing of the new one.

The numbers below are those of a real exchange (two namespaces, tcp_timestamps=0 both ends,
the client bound to port 40000 uploaded 4 MB, the server closed first, the client connected
again from port 40000 50 ms later; server nstat TcpExtTW 2): frames 496-508 of that capture.
"""

from __future__ import annotations

from pathlib import Path

from builders.conversation import CLIENT, SERVER, Conversation, pcap_bytes
from builders.segments import segments

import pcapline
from pcapline.delays import summarise
from pcapline.explain import slow_summary
from pcapline.facts import UNKNOWN, compute_facts
from pcapline.model import RST, SlowTag
from pcapline.quality import measure

CLIENT_ISN, SERVER_ISN = 2732522883, 4267478409
OLD_SERVER_NXT, OLD_CLIENT_NXT = 4266385964, 2735603837  # the TIME_WAIT socket's numbers


def _reconnect() -> tuple[Conversation, Conversation]:
    """The new connection, and the old one's two segments (the same 4-tuple)."""
    new = Conversation(client_isn=CLIENT_ISN, server_isn=SERVER_ISN)
    new.syn(0.0, wscale=10, sack_perm=True)
    old = Conversation(client_isn=OLD_CLIENT_NXT, server_isn=OLD_SERVER_NXT)
    old.ack(SERVER, 0.000056, seq=OLD_SERVER_NXT, ack=OLD_CLIENT_NXT, window=645)
    old.send(CLIENT, 0.000064, RST, seq=OLD_CLIENT_NXT, window=0)
    new.syn(0.011118, wscale=10, sack_perm=True)
    new.synack(0.011174, wscale=10, sack_perm=True)
    new.ack(CLIENT, 0.011188)
    new.data(CLIENT, 0.011403, 1000)
    new.ack(SERVER, 0.011427)
    new.data(SERVER, 0.011496, 59)
    new.ack(CLIENT, 0.011508)
    new.fin(SERVER, 0.011533)
    new.fin(CLIENT, 0.011567)
    new.ack(SERVER, 0.011589)
    return new, old


def _rows() -> Conversation:
    new, old = _reconnect()
    merged = Conversation(client_isn=CLIENT_ISN, server_isn=SERVER_ISN)
    merged.rows = sorted(new.rows + old.rows, key=lambda row: row["time_ns"])
    return merged


def test_the_time_wait_ack_and_the_rst_to_it_count_in_the_old_connections_space() -> None:
    facts = compute_facts(segments(_rows()))
    assert facts.stale_numbers.tolist()[:4] == [False, True, True, False]
    assert not facts.stale_numbers[4:].any()
    # The ACK acknowledges nothing of the new connection; the RST sends nothing of it.
    assert facts.rel_ack[1] == facts.snd_una[2] == UNKNOWN  # no ACK of the new one yet
    assert facts.snd_una[6] == 1  # the SYN+ACK's, not the TIME_WAIT socket's
    data = 6  # the client's 1000 bytes, sent once
    assert (facts.rel_seq[data], facts.next_seq[data]) == (1, 1)
    assert not facts.is_retrans.any() and not facts.is_spurious.any()
    assert measure(facts).acked_unseen.tolist() == [0]


def test_an_ack_of_the_syn_itself_is_this_connections_even_without_a_synack() -> None:
    """The SYN+ACK lost at the capture point, the server's ACK of the SYN (ack = ISS + 1) is
    acceptable in SYN-SENT: it is this connection's, not another's."""
    c = Conversation().syn(0.0).synack(0.0005, captured=False)
    c.ack(SERVER, 0.0006)
    facts = compute_facts(segments(c))
    assert not facts.stale_numbers.any()
    assert facts.rel_ack.tolist()[1] == 1


def test_a_syn_answered_from_time_wait_is_no_loss_and_no_retransmission(tmp_path: Path) -> None:
    new, old = _reconnect()
    path = tmp_path / "time-wait-reconnect.pcap"
    path.write_bytes(pcap_bytes(new, old))
    a = pcapline.analyze(str(path))
    (conn,) = a.connections.itertuples()
    assert (conn.fate, conn.retransmits, conn.syn_retransmits) == ("closed", 0, 1)
    assert "retransmission" not in conn.explanation
    assert "bare ACK for an older connection" in conn.explanation
    kinds = a.events["kind"].astype(str).tolist()
    assert "challenge_ack" in kinds and "spurious_retransmit" not in kinds
    assert a.capture.quality["acked_unseen"] == 0
    assert a.capture.quality["lossy_connections"] == 0
    assert not any("lost segments" in w for w in a.capture.warnings)
    # The slow line says what the connection's words say: no SYN was dropped.
    stale = a.events["conn"].to_numpy()[(a.events["kind"] == "challenge_ack").to_numpy()]
    (retry,) = [s for s in summarise(a.delays, a.connections, stale) if s.tag is SlowTag.SYN_RETRY]
    assert retry.stale_peer == 1
    words = slow_summary(retry)
    assert "the SYN was dropped" not in words
    assert "answered by a bare ACK for an older connection on the same ports" in words
    assert "no SYN was dropped" in words


def test_the_slow_line_names_the_stale_peer_among_dropped_syns() -> None:
    from pcapline.delays import SlowSummary

    mixed = SlowSummary(
        tag=SlowTag.SYN_RETRY, connections=3, total=5, values_s=(1.0, 1.0, 0.011), first=0,
        schedule="one retry after 1 s", retries=(1, 1), stale_peer=1,
    )  # fmt: skip
    words = slow_summary(mixed)
    assert "the SYN was dropped" in words
    assert "in 1 of them the first SYN was answered by a bare ACK for an older connection" in words
