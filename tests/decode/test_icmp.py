"""ICMP / ICMPv6 errors quoting a TCP segment: decoded, matched to their connection, counted
as analysed; everything else ICMP stays not_tcp (decode/icmp.py, pcapline/icmp.py)."""

from __future__ import annotations

import io
import struct

import pytest
from builders.capture_files import pcap
from builders.frames import ACK, SYN, ethernet, ipv4, ipv6, tcp, udp

import pcapline
from pcapline.decode import decode
from pcapline.decode.icmp import ICMP_COLUMNS
from pcapline.read import read_capture

SYN_SEG = tcp(sport=40000, dport=8080, seq=1000, flags=SYN)
CLIENT, SERVER, ROUTER = "10.0.0.1", "10.0.1.2", "10.0.0.254"
CLIENT6, SERVER6, ROUTER6 = "2001:db8::1", "2001:db8:1::2", "2001:db8::fe"


def icmp4(typ: int, code: int, quoted: bytes, rest: bytes = b"\x00" * 4) -> bytes:
    return struct.pack("!BBH", typ, code, 0) + rest + quoted


def icmp6(typ: int, code: int, quoted: bytes, rest: bytes = b"\x00" * 4) -> bytes:
    return struct.pack("!BBH", typ, code, 0) + rest + quoted


def _syn_v4() -> bytes:
    return ipv4(SYN_SEG, src=CLIENT, dst=SERVER)


def _syn_v6() -> bytes:
    return ipv6(SYN_SEG, src=CLIENT6, dst=SERVER6)


def _error_v4(typ: int, code: int, quoted: bytes, rest: bytes = b"\x00" * 4) -> bytes:
    return ethernet(ipv4(icmp4(typ, code, quoted, rest), src=ROUTER, dst=CLIENT, proto=1))


def _error_v6(typ: int, code: int, quoted: bytes, rest: bytes = b"\x00" * 4) -> bytes:
    inner = icmp6(typ, code, quoted, rest)
    return ethernet(ipv6(inner, src=ROUTER6, dst=CLIENT6, next_header=58), ethertype=0x86DD)


def _decode(frames: list[bytes]):  # type: ignore[no-untyped-def]
    return decode(read_capture(io.BytesIO(pcap(frames))))


def _analyze(frames: list[bytes]) -> pcapline.Analysis:
    return pcapline.analyze(io.BytesIO(pcap(frames, step_ns=300_000_000)))


@pytest.mark.parametrize(
    ("frame", "kind", "mtu"),
    [
        (_error_v4(3, 13, _syn_v4()), "admin_prohibited", 0),
        (_error_v4(3, 3, _syn_v4()), "port_unreachable", 0),
        (_error_v4(3, 1, _syn_v4()), "host_unreachable", 0),
        (_error_v4(3, 4, _syn_v4(), b"\x00\x00\x05\x00"), "fragmentation_needed", 1280),
        (_error_v4(11, 0, _syn_v4()), "time_exceeded", 0),
        (_error_v6(1, 4, _syn_v6()), "port_unreachable", 0),
        (_error_v6(1, 1, _syn_v6()), "admin_prohibited", 0),
        (_error_v6(2, 0, _syn_v6(), struct.pack("!I", 1280)), "packet_too_big", 1280),
        (_error_v6(3, 0, _syn_v6()), "time_exceeded", 0),
    ],
)
def test_errors_quoting_tcp_are_decoded_with_the_quote(frame: bytes, kind: str, mtu: int) -> None:
    d = _decode([frame])
    assert d.skipped == {} and len(d.segments) == 0
    row = d.icmp.iloc[0]
    assert (row["kind"], row["mtu"]) == (kind, mtu)
    assert (row["q_sport"], row["q_dport"], row["q_seq"]) == (40000, 8080, 1000)
    assert list(d.icmp.columns) == list(ICMP_COLUMNS)


def test_only_eight_quoted_tcp_bytes_are_enough() -> None:
    quoted = ipv4(SYN_SEG, src=CLIENT, dst=SERVER)[: 20 + 8]  # RFC 792: IP header + 8 bytes
    assert len(_decode([_error_v4(3, 3, quoted)]).icmp) == 1


@pytest.mark.parametrize(
    "frame",
    [
        ethernet(ipv4(icmp4(8, 0, b"ping"), src=CLIENT, dst=SERVER, proto=1)),  # echo
        _error_v4(3, 3, ipv4(udp(), src=CLIENT, dst=SERVER, proto=17)),  # quotes UDP
        _error_v4(3, 3, _syn_v4()[:24]),  # too short to hold ports and seq
        ethernet(ipv4(icmp6(1, 4, _syn_v6()), src=ROUTER, dst=CLIENT, proto=58)),  # v6 in v4
    ],
    ids=["echo", "quotes-udp", "short-quote", "icmpv6-in-ipv4"],
)
def test_other_icmp_stays_not_tcp(frame: bytes) -> None:
    d = _decode([frame])
    assert d.skipped == {"not_tcp": 1} and len(d.icmp) == 0


def test_every_frame_is_a_segment_an_icmp_error_or_skipped() -> None:
    frames = [
        ethernet(_syn_v4()),
        _error_v4(3, 13, _syn_v4()),
        ethernet(ipv4(icmp4(8, 0, b"ping"), src=CLIENT, dst=SERVER, proto=1)),
    ]
    a = _analyze(frames)
    info = a.capture
    assert (info.frames, info.tcp_frames, info.icmp_frames, info.skipped) == (
        3,
        1,
        1,
        {"not_tcp": 1},
    )


def test_a_syn_answered_by_an_icmp_reject_is_refused_by_that_router() -> None:
    a = _analyze([ethernet(_syn_v4()), _error_v4(3, 13, _syn_v4())])
    v = a.verdicts[0]
    assert (v.fate, v.reset_by, v.cause, v.evidence_frames) == (
        "refused",
        None,
        "icmp_reject",
        (2,),
    )
    assert ROUTER in str(v.explanation) and "not the server" in str(v.explanation)
    events = a.events[a.events["kind"] == "icmp_error"]
    assert events["frame"].tolist() == [2] and events["side"].tolist() == ["server"]
    assert "quoting frame 1" in events["note"].iloc[0]


def test_a_reject_from_the_server_itself_says_so() -> None:
    error = ethernet(ipv4(icmp4(3, 3, _syn_v4()), src=SERVER, dst=CLIENT, proto=1))
    v = _analyze([ethernet(_syn_v4()), error]).verdicts[0]
    assert v.cause == "icmp_reject" and "the server host itself" in str(v.explanation)


def test_an_error_quoting_another_connection_belongs_to_none() -> None:
    other = ipv4(tcp(sport=40001, dport=8080, seq=5, flags=SYN), src=CLIENT, dst=SERVER)
    a = _analyze([ethernet(_syn_v4()), _error_v4(3, 13, other)])
    assert a.capture.icmp_frames == 1
    assert "icmp_error" not in set(a.events["kind"])
    assert a.verdicts[0].fate != "refused"


def test_a_synack_after_the_error_means_it_was_not_refused() -> None:
    synack = ipv4(
        tcp(sport=8080, dport=40000, seq=7000, ack=1001, flags=SYN | ACK), src=SERVER, dst=CLIENT
    )
    a = _analyze([ethernet(_syn_v4()), _error_v4(3, 1, _syn_v4()), ethernet(synack)])
    assert a.verdicts[0].fate != "refused" and a.verdicts[0].cause is None


def test_each_error_names_the_resend_it_quotes_by_its_ip_id() -> None:
    """A load balancer whose backend is gone holds the SYNs while its ARP fails, then answers
    each (real-kernel sample): the resends share a sequence number, their IP IDs tell which
    one each error quotes; the first error ended the connect (EHOSTUNREACH after 3.06 s, as
    the socket reported), the later ones came after."""
    from pathlib import Path

    sample = (
        Path(__file__).resolve().parents[2]
        / "sample_captures"
        / "icmp-host-unreachable-load-balancer-dead-backend-at-client.pcap"
    )
    errors = pcapline.analyze(str(sample)).connections.inferred[0]["icmp"]
    quoted = [e["quoted_frame"] for e in errors]
    assert quoted == sorted(set(quoted)) and len(quoted) == len(errors) >= 2
    row = pcapline.analyze(str(sample)).connections.iloc[0]
    assert f"(frame {errors[0]['frame']}, quoting the SYN of frame {quoted[0]})" in row.explanation
