"""Handshake claims and copies on the corpus captures an audit named (read in place).

Each test asserts what the packets show (frame numbers are Wireshark's)."""

from __future__ import annotations

from typing import Any

from needs import CORPUS, needs_corpus

import pcapline


def _connections(name: str) -> dict[int, dict[str, Any]]:
    doc = pcapline.analyze(str(CORPUS / name)).to_dict()
    return {c["id"]: c for c in doc["connections"]}


@needs_corpus
def test_flag_filtered_capture_has_no_connect_time_from_a_fin() -> None:
    # bro.org-filtered stream 8: SYN 28, SYN+ACK 34, client FIN 44 6 s later: the handshake
    # ACK was filtered out; the FIN is no handshake ACK and 5.99 s no connect time.
    conns = _connections("zeek/http/bro.org-filtered.pcap")
    for conn in (8, 9, 10, 11, 12):
        c = conns[conn]
        assert c["delays"]["connect_s"] is None
        assert "slow_connect" not in c["slow"]
        assert "handshake_ack" not in {e["kind"] for e in c["events"]}
        assert c["fate"] == "closed"  # both FINs are on the wire
    # Stream 7: SYN and SYN+ACK only. The filter drops the ACK: no handshake_timeout.
    seven = conns[7]
    assert (seven["fate"], seven["confidence"]) == ("open", "unknown")
    assert seven["caveats"] == ["flag_filtered"]


@needs_corpus
def test_flag_filtered_handshakes_are_not_syn_cookies() -> None:
    conns = _connections("zeek/wikipedia-filtered-plus-udp.pcap")
    assert len(conns) == 9
    for c in conns.values():
        assert (c["fate"], c["confidence"], c["caveats"]) == ("open", "unknown", ["flag_filtered"])
        assert "cookie" not in c["explanation"].lower()


@needs_corpus
def test_no_connect_time_past_the_rst_that_ended_the_attempt() -> None:
    # modbus stream 4: SYN 62, SYN+ACK 63, client RST 64, then the ACK with a GET 15.6 s later.
    c = _connections("zeek/modbus/modbus-and-non-modbus-p502.pcap")[4]
    assert (c["fate"], c["reset_by"]) == ("reset", "client")
    assert c["delays"]["connect_s"] is None and c["delays"]["handshake_rtt_ms"] is None
    assert "slow_connect" not in c["slow"]
    assert "rtt_ms" not in c["inferred"] and "synack" not in c["inferred"]


@needs_corpus
def test_synack_copies_sooner_than_any_timer_are_no_synack_retry() -> None:
    # many-protocols streams 21, 41, 50, 95: the same SYN+ACK (IP ID 0) 10-65 ms after the
    # first, one SYN, round trip 18-105 ms: copies, not retransmissions.
    conns = _connections("pcapplusplus/examples/many-protocols.pcap")
    for conn in (21, 41, 50, 95):
        c = conns[conn]
        assert c["counts"]["synack_retransmits"] == 0, conn
        assert "synack_retry" not in c["slow"], conn
        assert "accept queue" not in c["explanation"], conn
        assert c["inferred"]["duplicates"] == 1, conn


@needs_corpus
def test_windows_refused_retries_in_packet_order() -> None:
    conns = _connections("zeek/pop3/pop3.pcap")
    for conn, frames in ((0, "2, 4, 6"), (1, "8, 10, 12")):
        c = conns[conn]
        assert c["fate"] == "refused"
        assert f"answered each of the 3 SYNs with RST (frames {frames})" in c["explanation"]
        assert "after each RST" in c["explanation"]
        assert "retransmission" not in c["explanation"]
        assert "syn_retry" not in c["slow"]  # every SYN was answered: none was lost
        assert "linear" not in c["inferred"]["syn"]["schedule"]


@needs_corpus
def test_fabricpath_copies_past_one_ms_are_duplicates() -> None:
    # cisco-fabric-path: the same SYN (IP ID 1, identical TCP) 0.93-1.02 ms apart, seen twice
    # on the fabric: one SYN, not a retry and no connect timeout.
    conns = _connections("zeek/cisco-fabric-path.pcap")
    assert len(conns) == 16
    for c in conns.values():
        assert c["fate"] == "open" and c["counts"]["syn_retransmits"] == 0
        assert c["inferred"]["duplicates"] == 1


@needs_corpus
def test_syns_a_millisecond_apart_get_no_timer_schedule() -> None:
    c = _connections("tcpdump/bgp-shutdown-msg-variations.pcap")[0]
    schedule = c["inferred"]["syn"]["schedule"]
    assert "every 0 s" not in schedule and schedule.startswith("no timer")
    assert c["fate"] == "open" and "syn_retry" not in c["slow"]
