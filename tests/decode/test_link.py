"""Every supported link layer leads to the same TCP segment; others are counted."""

from __future__ import annotations

import io

import numpy as np
import pytest
from builders.capture_files import pcap
from builders.frames import ACK, SYN, ethernet, ipv4, ipv6, null, sll, sll2, tcp

from pcapline.decode import decode
from pcapline.read import read_capture

SEG = tcp(sport=40000, dport=443, seq=7, flags=SYN)
V4 = ipv4(SEG, src="192.0.2.1", dst="198.51.100.2")
V6 = ipv6(SEG)


def _decode(frames: list[bytes], linktype: int):
    return decode(read_capture(io.BytesIO(pcap(frames, linktype=linktype))))


@pytest.mark.parametrize(
    ("linktype", "frame", "version"),
    [
        (1, ethernet(V4), 4),
        (1, ethernet(V6, ethertype=0x86DD), 6),
        (113, sll(V4), 4),
        (113, sll(V6, protocol=0x86DD), 6),
        (276, sll2(V4), 4),
        (276, sll2(V6, protocol=0x86DD), 6),
        (101, V4, 4),
        (101, V6, 6),
        (12, V4, 4),
        (14, V6, 6),
        (228, V4, 4),
        (229, V6, 6),
        (0, null(V4, af=2, order="<"), 4),
        (0, null(V4, af=2, order=">"), 4),
        (0, null(V6, af=24), 6),
        (0, null(V6, af=28, order=">"), 6),
        (0, null(V6, af=30), 6),
        (108, null(V4, af=2, order=">"), 4),
    ],
)
def test_link_types(linktype: int, frame: bytes, version: int) -> None:
    dec = _decode([frame], linktype)
    assert dec.skipped == {}
    row = dec.segments.iloc[0]
    assert (row["ip_version"], row["sport"], row["dport"], row["seq"]) == (version, 40000, 443, 7)


def test_link_type_names_in_order_of_appearance() -> None:
    assert _decode([ethernet(V4)], 1).link_types == ["EN10MB"]
    assert _decode([sll2(V4)], 276).link_types == ["LINUX_SLL2"]
    assert _decode([V4], 101).link_types == ["RAW"]
    assert _decode([null(V4)], 0).link_types == ["NULL"]


@pytest.mark.parametrize(
    "vlans",
    [
        [(0x8100, 10)],
        [(0x88A8, 100), (0x8100, 200)],  # 802.1ad QinQ
        [(0x9100, 1), (0x8100, 2), (0x8100, 3)],  # pre-standard outer TPID, three tags
    ],
)
def test_vlan_tags(vlans) -> None:
    dec = _decode([ethernet(V4, vlans=vlans)], 1)
    assert dec.skipped == {} and len(dec.segments) == 1
    assert dec.segments["dport"].iloc[0] == 443


def _pppoe(ppp_payload: bytes, protocol: bytes = b"\x00\x21") -> bytes:
    """A PPPoE session header (RFC 2516): its LENGTH counts the PPP frame, protocol included."""
    return b"\x11\x00\x00\x01" + (len(ppp_payload) + 2).to_bytes(2, "big") + protocol + ppp_payload


def test_pppoe_and_mpls() -> None:
    pppoe = _pppoe(V4)
    # Label stack entries: label (20 bits), TC (3), bottom-of-stack (1), TTL (8).
    mpls = (
        ((16 << 4) | 0).to_bytes(3, "big")
        + b"\x40"
        + ((17 << 4) | 1).to_bytes(3, "big")
        + b"\x40"
        + V4
    )
    dec = _decode([ethernet(pppoe, ethertype=0x8864), ethernet(mpls, ethertype=0x8847)], 1)
    assert dec.skipped == {} and len(dec.segments) == 2


def test_pppoe_length_ends_the_datagram_before_the_ethernet_padding() -> None:
    """An IP total length past the PPPoE payload claims the frame's padding (zeek's
    pppoe-over-qinq.pcap, frame 81: total length 46 in a 42-byte PPP payload): those bytes are
    not payload. Wireshark reads tcp.len 0 there; so do we (it was 6, then a bogus 235 s
    'retransmission' of the next segment)."""
    ack = tcp(sport=40000, dport=443, seq=7, flags=ACK)
    claims_more = ipv4(ack, total_length=46)
    padded = _pppoe(claims_more) + bytes(6)
    whole = ethernet(_pppoe(ipv4(ack + b"abcdef")), ethertype=0x8864)
    dec = _decode([ethernet(padded, ethertype=0x8864), whole], 1)
    assert dec.skipped == {}
    assert dec.segments["seg_len"].tolist() == [0, 6]


@pytest.mark.parametrize(
    ("linktype", "frame"),
    [
        (9, b"\xff\x03\x00\x21" + V4),  # PPP with address/control
        (9, b"\x00\x57" + V6),  # PPP, IPv6, no address/control
        (50, b"\xff\x03\x00\x21" + V4),  # PPP in HDLC-like framing
        (9, b"\x21" + V4),  # protocol-field compression
        (
            9,
            b"\xff\x03\x02\x81" + ((16 << 4) | 1).to_bytes(3, "big") + b"\x40" + V4,
        ),  # MPLS over PPP
        (104, b"\x0f\x00\x08\x00" + V4),  # Cisco HDLC
        (
            1,
            ethernet(b"\xaa\xaa\x03\x00\x00\x00\x08\x00" + V4, ethertype=8 + len(V4)),
        ),  # 802.3 + SNAP
    ],
)
def test_ppp_hdlc_and_snap(linktype: int, frame: bytes) -> None:
    dec = _decode([frame], linktype)
    assert dec.skipped == {} and dec.segments["dport"].tolist() == [443]


def test_not_ip_and_unsupported_link() -> None:
    arp = ethernet(b"\x00" * 28, ethertype=0x0806)
    llc = ethernet(b"\x42\x42\x03" + b"\x00" * 40, ethertype=60)  # 802.3 length field
    assert _decode([arp, llc], 1).skipped == {"not_ip": 2}
    assert _decode([V4], 129).skipped == {"unsupported_link": 1}  # ARCNET_LINUX
    assert _decode([null(V4, af=7)], 0).skipped == {"not_ip": 1}


@pytest.mark.parametrize(
    ("linktype", "frame"),
    [
        (1, ethernet(V4)[:13]),
        (1, ethernet(V4, vlans=[(0x8100, 1)])[:16]),
        (113, sll(V4)[:15]),
        (276, sll2(V4)[:19]),
    ],
)
def test_cut_inside_link_header(linktype: int, frame: bytes) -> None:
    assert _decode([frame], linktype).skipped == {"truncated_header": 1}


def test_acked_segment_from_every_link_has_ack_flag() -> None:
    frame = ethernet(ipv4(tcp(flags=ACK, ack=99)))
    seg = _decode([frame], 1).segments.iloc[0]
    assert seg["flags"] == ACK and seg["ack"] == 99


def test_link_type_names_of_a_window_with_several() -> None:
    """One name per link type, by first appearance, when a window's frames mix them (a
    pcapng with several interfaces), whether or not the types share a name (12 and 101 are
    both raw IP): the one-type shortcut must not hide the others."""
    from types import SimpleNamespace

    from pcapline.decode import _link_names

    def names(types: list[int]) -> list[str]:
        return _link_names(SimpleNamespace(link_type=np.array(types, np.int64)))  # type: ignore[arg-type]

    assert names([101, 1, 101, 113, 1]) == ["RAW", "EN10MB", "LINUX_SLL"]
    assert names([12, 1, 101]) == ["RAW", "EN10MB"]
    assert names([1, 1, 1]) == ["EN10MB"]
    assert names([]) == []
