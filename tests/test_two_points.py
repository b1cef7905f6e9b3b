"""Captures holding two capture points (a client's and a server's capture merged, ``-i any``
on a router): each point stamps packets by its own clock, and a packet lost between the two
is seen at one point only."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from builders.conversation import CLIENT, SERVER, Conversation, pcap_bytes
from builders.segments import segments

import pcapline
from pcapline.analysis import analyze
from pcapline.facts import compute_facts
from pcapline.model import ACK, PSH, SYN

OFFSET_S = 0.5  # the client's capture stamps 0.5 s later than the server's


def _at_two_points(c: Conversation, sent: list[Any], offset_s: float) -> Conversation:
    """``sent`` (sender, time, flags, seq, ack, length, ip_id, tsval, points) as the client's
    point ("c": TTL 64 on the client's packets, its clock ``offset_s`` later) and the
    server's ("s": TTL 63 on them) saw it, 20 us of wire between the two."""
    seen = []
    for side, t, flags, seq, ack, length, ip_id, tsval, points in sent:
        near_client = (t + offset_s + (0 if side else 2e-5), 64 if side else 63)
        near_server = (t + (2e-5 if side else 0), 63 if side else 64)
        for point, (at, ttl) in zip("cs", (near_client, near_server), strict=True):
            if point in points:
                seen.append((at, side, flags, seq, ack, length, ip_id, tsval, ttl))
    return c.sightings(seen)


def _dropped_between(offset_s: float = OFFSET_S, conn: int = 0) -> Conversation:
    """A client streams 3 x 1000 B through a router that drops its second segment (the
    client's point saw it, the server's did not); the server's SACK draws a fast resend.
    Captured at the client (TTL 64 on its packets) and at the server (TTL 63), the client's
    capture ``offset_s`` later. Each packet carries one TSval, stamped when it was sent."""
    c = Conversation(conn=conn, client=("10.0.0.1", 40000 + conn))
    ci, si = c.client_isn, c.server_isn
    sent = [  # (sender, time, flags, seq, ack, length, ip_id, tsval, points)
        (CLIENT, 0.0, SYN, ci, 0, 0, 0x100, 100, "cs"),
        (SERVER, 0.00004, SYN | ACK, si, ci + 1, 0, 0, 500, "cs"),
        (CLIENT, 0.00006, ACK, ci + 1, si + 1, 0, 0x101, 100, "cs"),
        (CLIENT, 0.002, ACK | PSH, ci + 1, si + 1, 1000, 0x102, 102, "cs"),
        (SERVER, 0.00202, ACK, si + 1, ci + 1001, 0, 0x900, 502, "cs"),
        (CLIENT, 0.004, ACK | PSH, ci + 1001, si + 1, 1000, 0x103, 104, "c"),  # dropped
        (CLIENT, 0.006, ACK | PSH, ci + 2001, si + 1, 1000, 0x104, 106, "cs"),
        (SERVER, 0.00603, ACK, si + 1, ci + 1001, 0, 0x901, 506, "cs"),  # dup ACK (SACK)
        (CLIENT, 0.00605, ACK | PSH, ci + 1001, si + 1, 1000, 0x105, 106, "cs"),  # resend
        (SERVER, 0.0062, ACK, si + 1, ci + 3001, 0, 0x902, 506, "cs"),
    ]
    return _at_two_points(c, sent, offset_s)


def test_a_segment_dropped_between_two_points_is_no_retransmission_of_its_resend() -> None:
    """m-0.5 (s50 two-point build: client, router, server namespaces; the router's nft drops
    one data segment; the client's capture shifted +0.5 s, mergecap): the original, seen only
    at the client's point and stamped by its clock after its own resend, read
    'spurious_retransmit' and 2 retransmissions for 1. Its TSval is below the resend's: a
    sender never stamps a later transmission with an earlier TSval (RFC 7323 5.4), so it
    was sent first."""
    f = compute_facts(segments(_dropped_between()))
    original = (f.seg_len > 0) & (f.ttl == 64) & (f.ts_val == 104)
    assert int(original.sum()) == 1
    assert not f.is_retrans[original].any()
    assert int(f.is_retrans.sum()) == 1  # the resend's first sighting (the server's point)
    assert int(f.is_spurious.sum()) == 0


def test_the_dropped_segment_reads_one_fast_retransmission(tmp_path: Path) -> None:
    path = tmp_path / "two-points.pcap"
    path.write_bytes(pcap_bytes(_dropped_between()))
    conn = pcapline.analyze(path).to_dict()["connections"][0]
    assert conn["counts"]["retransmits"] == 1
    # The server's ACK at 2 ms advanced snd.una (restarting the RTO: at least 200 ms) and its
    # duplicate asks for exactly these bytes; the resend follows 20 us later and is not the
    # sender's last segment (no tail loss probe): loss recovery drawn by ACKs, not a timer.
    kinds = [e["kind"] for e in conn["events"] if "retransmit" in e["kind"]]
    assert kinds == ["fast_retransmit"]
    assert "spurious" not in conn["explanation"]


def _syn_dropped_between(offset_s: float) -> Conversation:
    """The router drops the client's first SYN (seen at the client's point only); its retry
    1 s later opens the connection. The client's capture stamps ``offset_s`` later."""
    c = Conversation()
    ci, si = c.client_isn, c.server_isn
    sent = [  # (sender, time, flags, seq, ack, length, ip_id, tsval, points)
        (CLIENT, 0.0, SYN, ci, 0, 0, 0x100, 100, "c"),  # dropped by the router
        (CLIENT, 1.0, SYN, ci, 0, 0, 0x101, 1100, "cs"),
        (SERVER, 1.00004, SYN | ACK, si, ci + 1, 0, 0, 500, "cs"),
        (CLIENT, 1.00008, ACK, ci + 1, si + 1, 0, 0x102, 1100, "cs"),
        (CLIENT, 1.001, ACK | PSH, ci + 1, si + 1, 5, 0x103, 1101, "cs"),
        (SERVER, 1.00104, ACK, si + 1, ci + 6, 0, 0x900, 501, "cs"),
    ]
    return _at_two_points(c, sent, offset_s)


@pytest.mark.parametrize("offset_s", [0.3, -0.3, 0.003])
def test_a_syn_dropped_between_two_points_is_timed_at_one_point(
    tmp_path: Path, offset_s: float
) -> None:
    """b-m0.3 (s50 two-point build: the router's nft drops the first SYN; the client's
    capture shifted +0.3 s, mergecap): the dropped SYN is seen at the client's point only,
    its retry first at the server's, 0.3 s sooner by that clock: 'sent its SYN 2 times (at
    0, 0.701 s) ... no timer: 701 ms apart, sooner than any SYN timer', connect_s 0.7, no
    syn_retry tag. One sender's packets carrying one TTL were seen at one point: the retry
    and the handshake ACK are timed by their sightings at the dropped SYN's point."""
    path = tmp_path / "syn-dropped.pcap"
    path.write_bytes(pcap_bytes(_syn_dropped_between(offset_s)))
    conn = pcapline.analyze(path).to_dict()["connections"][0]
    delays = conn["delays"]
    assert delays["syn_gaps_s"] == [1.0]
    assert delays["connect_s"] == pytest.approx(1.00008, abs=1e-6)
    assert "syn_retry" in conn["slow"]
    assert "no timer" not in conn["explanation"]


def _nat_legs(offset_s: float) -> tuple[Conversation, Conversation]:
    """One connection through a masquerading router, captured at the client (leg 10.0.0.1)
    and at the server (leg 10.0.0.9, the router's address), the client's capture
    ``offset_s`` later; 20 us between the points. A NAT rewrites neither ISN, TSval nor IP
    ID."""
    near_client = Conversation(client=("10.0.0.1", 40000))
    near_server = Conversation(client=("10.0.0.9", 40000))
    sent = [  # (sender, time, flags, length, ip_id, tsval)
        (CLIENT, 0.0, SYN, 0, 0x100, 100),
        (SERVER, 0.00004, SYN | ACK, 0, 0, 500),
        (CLIENT, 0.00008, ACK, 0, 0x101, 100),
        (CLIENT, 0.001, ACK | PSH, 5, 0x102, 101),
        (SERVER, 0.00104, ACK, 0, 0x900, 501),
    ]
    for side, t, flags, length, ip_id, tsval in sent:
        at_client = t + offset_s + (0 if side else 2e-5)
        at_server = t + (2e-5 if side else 0)
        for leg, at, ttl in (
            (near_client, at_client, 64 if side else 63),
            (near_server, at_server, 63 if side else 64),
        ):
            leg.send(side, at, flags, length=length, ip_id=ip_id, ttl=ttl, timestamps=(tsval, 0))
    return near_client, near_server


@pytest.mark.parametrize(("offset_s", "words"), [(0.3, "300 ms earlier"), (-2.0, "2 s later")])
def test_a_merged_nat_capture_states_the_clocks_offset(
    tmp_path: Path, offset_s: float, words: str
) -> None:
    """n-m0.3 (s50 two-point build: the router masquerades; captures at the client and the
    server merged, the client's +0.3 s): nat_copies paired the two legs and said 'the
    capture host NATs them', with no word of the 0.3 s between the clocks. The client's SYN
    and the server's SYN+ACK, each seen on both legs, bound it as for copies in one stream."""
    path = tmp_path / "nat-merged.pcap"
    path.write_bytes(pcap_bytes(*_nat_legs(offset_s)))
    (found,) = [f for f in pcapline.analyze(path).findings if f.kind == "nat_copies"]
    assert found.details["clocks_apart_ms"] == pytest.approx(abs(offset_s) * 1000, abs=0.05)
    assert "the capture host NATs them" not in found.summary
    assert f"stamped at least {words} than the one nearer the clients" in found.summary


def test_a_nat_hosts_own_capture_has_one_clock(tmp_path: Path) -> None:
    path = tmp_path / "nat-any.pcap"
    path.write_bytes(pcap_bytes(*_nat_legs(0.0)))
    (found,) = [f for f in pcapline.analyze(path).findings if f.kind == "nat_copies"]
    assert found.details["clocks_apart_ms"] is None
    assert "the capture host NATs them" in found.summary


@pytest.mark.parametrize(("offset_s", "noted"), [(0.5, True), (-0.5, True), (0.0, False)])
def test_timings_across_two_points_clocks_are_hedged(
    tmp_path: Path, offset_s: float, noted: bool
) -> None:
    """a-m0.5 (s50 two-point build): the connection lasted 15 ms and read 515 ms, its
    explanation silent: only the capture-wide warning said the clocks differ. Its packets
    were seen at both points (the dropped segment at the client's only), so each time between
    two of them may carry the offset: the explanation says so. One clock: no note."""
    path = tmp_path / "two-points.pcap"
    path.write_bytes(pcap_bytes(_dropped_between(offset_s)))
    words = pcapline.analyze(path).to_dict()["connections"][0]["explanation"]
    note = (
        "Timings: this connection's packets were seen at two capture points whose clocks "
        "differ by at least 500 ms (captures merged)"
    )
    assert (note in words) is noted
    assert ("Timings:" in words) is noted


def test_each_connections_timing_note_is_its_own_in_any_partition(tmp_path: Path) -> None:
    """Two connections whose copies bound the clocks' offset apart (0.5 s, 0.3 s): each note
    says its own connection's bound, so two partitions word them as one does (``--jobs``
    must not change a byte). A median over the capture's connections made each note depend
    on which connections shared its partition (one: 400 ms for both; two: 500 and 300)."""
    path = tmp_path / "two-connections.pcap"
    path.write_bytes(pcap_bytes(_dropped_between(0.5), _dropped_between(0.3, conn=1)))
    whole = analyze(path)
    words = [row["explanation"] for row in whole.to_dict()["connections"]]
    assert "differ by at least 500 ms" in words[0] and "differ by at least 300 ms" in words[1]
    assert analyze(path, partitions=2).to_json() == whole.to_json()


def _copy_check(
    rows: Any, frame: int, *, seq: int, seg_len: int, flags: int, client: bool, window: int
) -> Any:
    """The crosscheck's question for ``frame``: Wireshark calls it a retransmission, pcapline
    a duplicate (a capture copy) of connection 0, whose segments are ``rows``."""
    from pcapline.crosscheck.oracle import ConnContext, FrameCheck
    from pcapline.model import EventKind

    return FrameCheck(
        frame=frame,
        conn=0,
        wireshark=frozenset({"retransmission"}),
        wireshark_flags=frozenset({"retransmission"}),
        ours=frozenset({EventKind.DUPLICATE}),
        seq=seq,
        seg_len=seg_len,
        tcp_flags=flags,
        from_client=client,
        window=window,
        context=ConnContext(segments=rows),
    )


def test_crosscheck_a_synack_seen_at_two_points_half_a_second_apart_is_a_copy() -> None:
    """a-m0.5 frame 20: the SYN+ACK's copy at the client's point, 0.5 s after the server's
    point saw it (IP ID 0, same TSval, TTL one lower): Wireshark's retransmission against
    pcapline's duplicate was UNEXPLAINED (the 1 ms window and the IP ID rule miss it)."""
    from dataclasses import replace

    import pandas as pd

    from pcapline.crosscheck.oracle import ConnContext, _capture_copy

    def row(
        frame: int, at_s: float, side: bool, flags: int, ip_id: int, ttl: int
    ) -> dict[str, object]:
        seq, ack = (1000, 0) if side else (5000, 1001)
        return {
            "frame": frame, "time_ns": round(at_s * 1e9), "from_client": side,
            "ip_id": ip_id, "seq": seq, "ack": ack, "seg_len": 0, "flags": flags,
            "window": 65160, "has_ts": True, "ts_val": 3806734198 if not side else 1504032938,
            "ttl": ttl,
        }  # fmt: skip

    rows = pd.DataFrame(
        [
            row(1, 0.0, True, SYN, 0x1560, 63),
            row(2, 0.000016, False, SYN | ACK, 0, 64),
            row(19, 0.49998, True, SYN, 0x1560, 64),
            row(20, 0.500018, False, SYN | ACK, 0, 63),
        ]
    )
    check = _copy_check(rows, 20, seq=5000, seg_len=0, flags=SYN | ACK, client=False, window=65160)
    assert _capture_copy(check)
    resent = rows.copy()
    resent.loc[3, "ts_val"] = 3806735198  # a timer's resend, stamped 1 s later
    assert not _capture_copy(replace(check, context=ConnContext(segments=resent)))


def _dropped_between_untimed(offset_s: float) -> Conversation:
    """``_dropped_between`` without TCP timestamps (tcp_timestamps=0 on both hosts): the
    client numbers its packets (Linux: a per-socket IP ID), the server's SYN+ACK has IP ID
    0."""
    timed = _dropped_between(offset_s)
    c = Conversation()
    for row in sorted(timed.rows, key=lambda r: r["time_ns"]):
        c.send(
            row["from_client"],
            row["time_ns"] / 1e9,
            row["flags"],
            seq=row["seq"],
            ack=row["ack"],
            length=row["seg_len"],
            ip_id=row["ip_id"],
            ttl=row["ttl"],
        )
    return c


@pytest.mark.parametrize("offset_s", [0.5, 0.005])
def test_untimed_packets_seen_at_two_points_are_copies(offset_s: float) -> None:
    """t-m0.5 / t-m0.005 (s50 two-point build with tcp_timestamps=0): without TSvals the
    copies 0.5 s apart were new packets: 9 retransmissions (8 'spurious') and a SYN+ACK
    retransmission for one fast retransmit; 5 ms apart, the SYN+ACK's copy (IP ID 0) was
    still a retransmission. A numbered sender's same IP ID one hop lower is one packet seen
    on both sides of the router; the SYN+ACKs are counted per point (TTL)."""
    f = compute_facts(segments(_dropped_between_untimed(offset_s)))
    assert int(f.is_dup.sum()) == 9  # every packet but the dropped one, seen twice
    synacks = f.syn & f.ack
    assert int((synacks & ~f.is_dup).sum()) == 1
    assert int(f.is_retrans.sum()) == 1
    assert int(f.is_spurious.sum()) == 0


def test_crosscheck_a_numbered_copy_one_hop_lower_half_a_second_later_is_a_copy() -> None:
    """t-m0.5 (no timestamps): the client's data copy at the other point 0.5 s later, same
    IP ID, TTL one lower: Wireshark's retransmission against pcapline's duplicate was
    UNEXPLAINED (the numbered rule's 200 ms window). A resend has a new IP ID: no copy."""
    from dataclasses import replace

    import pandas as pd

    from pcapline.crosscheck.oracle import ConnContext, _capture_copy

    def row(frame: int, at_s: float, ip_id: int, seq: int, ttl: int) -> dict[str, object]:
        return {
            "frame": frame, "time_ns": round(at_s * 1e9), "from_client": True,
            "ip_id": ip_id, "seq": seq, "ack": 1, "seg_len": 1000, "flags": ACK | PSH,
            "window": 63, "has_ts": False, "ts_val": 0, "ttl": ttl,
        }  # fmt: skip

    rows = pd.DataFrame(
        [
            row(4, 0.002, 0x1562, 1, 63),
            row(6, 0.004, 0x1563, 1001, 63),
            row(22, 0.502, 0x1562, 1, 64),
        ]
    )
    check = _copy_check(rows, 22, seq=1, seg_len=1000, flags=ACK | PSH, client=True, window=63)
    assert _capture_copy(check)
    resent = rows.copy()
    resent.loc[2, "ip_id"] = 0x1570
    assert not _capture_copy(replace(check, context=ConnContext(segments=resent)))


@pytest.mark.parametrize("offset_s", [0.5, -0.5])
def test_the_timing_note_names_the_offsets_upper_bound(tmp_path: Path, offset_s: float) -> None:
    """The note named only the offset's lower bound ("at least 500 ms ... off by as much").
    Each side's copies were seen 20 us apart (client -> server and back), so the offset is
    500 ms to 500.04 ms whichever clock is ahead: the note says the 40 us it may add."""
    path = tmp_path / "two-points-bound.pcap"
    path.write_bytes(pcap_bytes(_dropped_between(offset_s)))
    words = pcapline.analyze(path).to_dict()["connections"][0]["explanation"]
    assert (
        "clocks differ by at least 500 ms (captures merged), and by at most 40 us more "
        "(the copies of its packets seen at both points bound the offset both ways), so a "
        "time between packets seen at different points (a round trip, a response time, the "
        "duration) is off by that much" in words
    )
