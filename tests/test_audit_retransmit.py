"""Retransmission claims on the real corpus captures the audit named (problems 1, 3, 4, 11).

Read in place from the corpus (never copied here); each asserts the verdict the packets show.
"""

from __future__ import annotations

from typing import Any

from needs import CORPUS, needs_corpus

import pcapline


def _conn(path: str, conn: int) -> dict[str, Any]:
    doc = pcapline.analyze(str(CORPUS / path)).select(stream=[conn]).to_dict()
    (found,) = doc["connections"]
    return found


def _kinds(c: dict[str, Any], frames: range | tuple[int, ...]) -> list[str]:
    return [e["kind"] for e in c["events"] if e["frame"] in frames and "retransmit" in e["kind"]]


@needs_corpus
def test_resends_clocked_by_acks_after_an_mtu_drop_are_no_timeouts() -> None:
    # zeek/smtp.pcap frames 31-36: each resend 30-90 us after an ACK that advanced snd.una.
    c = _conn("zeek/smtp.pcap", 0)
    assert _kinds(c, (32, 33, 35, 36)) == ["fast_retransmit"] * 4
    assert "rto_stall" not in c["slow"] and c["delays"]["rto_episodes"] == 0
    assert "after timeout" not in c["explanation"]


@needs_corpus
def test_data_reordered_behind_a_bare_fin_is_no_retransmission() -> None:
    # many-protocols.pcap stream 90: FIN at 2598, the data + FIN before it 1.2 us later.
    c = _conn("pcapplusplus/examples/many-protocols.pcap", 90)
    assert _kinds(c, (2599,)) == []
    assert c["counts"]["retransmits"] == 0 and "rto_stall" not in c["slow"]


@needs_corpus
def test_bytes_first_seen_after_a_capture_gap_are_no_timeout() -> None:
    for stream, frame in ((1, 618), (2, 656)):
        c = _conn("pcapplusplus/examples/http-packets.pcap", stream)
        assert _kinds(c, (frame,)) == ["retransmit_unknown"]
        assert "rto_stall" not in c["slow"]


@needs_corpus
def test_one_direction_captured_never_says_never_acknowledged() -> None:
    c = _conn("pcapplusplus/pcap/650HttpResponses.pcap", 205)
    assert "never acknowledged" not in c["explanation"]
    assert "cannot be seen" in c["explanation"] and c["delays"]["rto_unrecovered"] == 0
    # 4KHttpRequests stream 7: the client's next GET acknowledges 10,561 bytes of response.
    c = _conn("pcapplusplus/pcap/4KHttpRequests.pcap", 7)
    assert "never acknowledged" not in c["explanation"]
    assert c["delays"]["rto_unrecovered"] == 0
    assert [s["recovered"] for s in c["delays"]["stalls"]] == [True]


@needs_corpus
def test_fin_repeated_on_the_ack_of_the_peers_fin_is_no_timer_resend() -> None:
    c = _conn("zeek/ssh/ssh.client-side-half-duplex.pcap", 2)
    (event,) = [e for e in c["events"] if e["frame"] == 85]
    assert event["kind"] == "fin_retransmit" and "repeated on the ACK" in event["note"]
    assert "never acknowledged" not in c["explanation"]
    assert "nothing was lost" in c["explanation"]


@needs_corpus
def test_backoff_after_a_tail_loss_probe_doubles_and_no_give_up_is_predicted() -> None:
    c = _conn("zeek/tls/xmpp-dialback-starttls.pcap", 0)
    rto = c["inferred"]["rto"]
    assert rto["series"] == [0.284, 0.568, 1.14, 2.276, 4.552] and rto["doubling"]
    assert rto["give_up_s"] is None and "aborts by the next RTO" not in c["explanation"]
    (stall,) = [s for s in c["delays"]["stalls"] if s["cause"] == "rto"]
    # Frame 30 (0.805 s) to the capture's end (9.792 s): never past it.
    assert round(stall["seconds"], 2) == 8.99 and not stall["recovered"]


@needs_corpus
def test_gaps_beyond_tcp_rto_max_are_no_backoff_steps() -> None:
    for path in ("pcapplusplus/packet/Ftp.pcap", "pcapplusplus/packet/Smtp.pcap"):
        doc = pcapline.analyze(str(CORPUS / path)).to_dict()
        for c in doc["connections"]:
            assert all(s["seconds"] < 120 for s in c["delays"]["stalls"]), path
            assert all(g <= 132 for g in c["inferred"].get("rto", {}).get("series", [])), path
    # Frame 81's "6 bytes" 235 s before frame 82 were Ethernet padding (the PPPoE length ends
    # the datagram: tests/decode/test_link.py), so frame 82 is the first copy of its bytes.
    c = _conn("zeek/pppoe-over-qinq.pcap", 0)
    assert _kinds(c, (81, 82)) == []
    assert c["inferred"]["rto"]["series"] == [0.31, 0.61, 1.21, 2.41]
