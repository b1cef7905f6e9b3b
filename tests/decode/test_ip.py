"""IPv4 options, IPv6 extension headers, fragments, tunnels, lengths from the header."""

from __future__ import annotations

import io
import struct

import pytest
from builders.capture_files import pcap
from builders.frames import ACK, SYN, ethernet, ipv4, ipv6, tcp

from pcapline.decode import decode
from pcapline.model import SEGMENT_COLUMNS
from pcapline.read import read_capture

PAYLOAD = b"x" * 1000
SEG = tcp(seq=1, ack=2, flags=ACK, payload=PAYLOAD)


def _decode(frames, linktype: int = 1):
    return decode(read_capture(io.BytesIO(pcap(frames, linktype=linktype))))


def test_columns_and_dtypes_are_the_contract() -> None:
    seg = _decode([ethernet(ipv4(SEG))]).segments
    assert list(seg.columns) == list(SEGMENT_COLUMNS)
    assert {c: str(t) for c, t in seg.dtypes.items()} == SEGMENT_COLUMNS


def test_ipv4_fields_and_addresses() -> None:
    frame = ethernet(ipv4(SEG, src="192.0.2.1", dst="198.51.100.2", ttl=57, ident=0xBEEF))
    row = _decode([frame]).segments.iloc[0]
    assert row["src_lo"] == 0xC0000201 and row["dst_lo"] == 0xC6336402
    assert row["src_hi"] == 0 and row["dst_hi"] == 0
    assert (row["ttl"], row["ip_id"], row["seg_len"]) == (57, 0xBEEF, 1000)


def test_ipv4_options_move_the_tcp_header() -> None:
    options = b"\x07\x07\x04" + b"\x00" * 4 + b"\x01"  # record route (7 bytes) + NOP
    row = _decode([ethernet(ipv4(SEG, options=options))]).segments.iloc[0]
    assert (row["seq"], row["ack"], row["seg_len"]) == (1, 2, 1000)


def test_snaplen_cut_keeps_the_segment_length_from_the_ip_header() -> None:
    frame = ethernet(ipv4(SEG))
    dec = _decode([(frame[: 54 + 10], len(frame))])  # headers + 10 payload bytes captured
    assert dec.segments["seg_len"].tolist() == [1000]


def test_ip_length_beyond_the_frame_is_clipped_to_the_wire_length() -> None:
    frame = ethernet(ipv4(SEG, total_length=3000))
    assert _decode([frame]).segments["seg_len"].tolist() == [1000]


def test_zero_total_length_means_tso_rest_of_frame() -> None:
    frame = ethernet(ipv4(SEG, total_length=0))
    assert _decode([frame]).segments["seg_len"].tolist() == [1000]


def test_ethernet_padding_is_not_payload() -> None:
    frame = ethernet(ipv4(tcp(flags=SYN))) + b"\x00" * 6  # 60-byte minimum frame
    assert _decode([frame]).segments["seg_len"].tolist() == [0]


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (ethernet(ipv4(SEG, total_length=10)), "malformed"),  # shorter than its own header
        (ethernet(bytes([0x44]) + ipv4(SEG)[1:]), "malformed"),  # IHL 4
        (ethernet(bytes([0x55]) + ipv4(SEG)[1:]), "malformed"),  # version 5
        # cut by the snaplen (captured length, length on the wire)
        ((ethernet(ipv4(SEG))[: 14 + 19], 1068), "truncated_header"),
        (
            (ethernet(ipv4(SEG))[: 14 + 20 + 19], 1068),
            "truncated_tcp_header",
        ),  # inside TCP fixed header
        (
            (ethernet(ipv4(SEG, options=b"\x01" * 8))[: 14 + 24], 1076),
            "truncated_header",
        ),  # IP options
        (ethernet(ipv4(b"\x00" * 8, proto=17)), "not_tcp"),
        (ethernet(ipv4(b"\x00" * 8, proto=1)), "not_tcp"),
        # tunnels we do not open (the others: tests/decode/test_tunnels.py)
        (ethernet(ipv4(b"\x30\x00" + ipv4(SEG), proto=97)), "tunnelled"),  # EtherIP
        (ethernet(ipv4(b"\x00" * 12 + ipv4(SEG), proto=115)), "tunnelled"),  # L2TPv3
        (ethernet(ipv4(SEG, frag=0x2000)), "ip_fragment"),  # MF, offset 0: first fragment
        (ethernet(ipv4(SEG, frag=0x0010)), "ip_fragment"),  # a later fragment
    ],
)
def test_skip_reasons(frame: bytes | tuple[bytes, int], reason: str) -> None:
    dec = _decode([frame])
    assert dec.skipped == {reason: 1} and dec.segments.empty


def test_dont_fragment_bit_is_not_a_fragment() -> None:
    assert len(_decode([ethernet(ipv4(SEG, frag=0x4000))]).segments) == 1


def test_tcp_header_length_beyond_the_ip_payload_is_malformed() -> None:
    seg = bytearray(tcp(flags=SYN))
    seg[12] = 0xF0  # 60-byte header claimed, 20 present
    assert _decode([ethernet(ipv4(bytes(seg)))]).skipped == {"malformed": 1}


def _ext(next_header: int, body_len8: int = 0) -> bytes:
    """A generic extension header of (body_len8 + 1) * 8 bytes."""
    return bytes([next_header, body_len8]) + b"\x01\x04\x00\x00\x00\x00" + b"\x00" * (8 * body_len8)


def test_ipv6_fields() -> None:
    frame = ethernet(ipv6(SEG, src="2001:db8::1", dst="fe80::2", hop_limit=33), ethertype=0x86DD)
    row = _decode([frame]).segments.iloc[0]
    assert row["src_hi"] == 0x20010DB800000000 and row["src_lo"] == 1
    assert row["dst_hi"] == 0xFE80000000000000 and row["dst_lo"] == 2
    assert (row["ttl"], row["ip_id"], row["seg_len"]) == (33, 0, 1000)


def test_ipv6_extension_header_chain() -> None:
    chain = (
        _ext(43)  # hop-by-hop, 8 bytes -> routing
        + _ext(60, 1)  # routing, 16 bytes -> destination options
        + _ext(44)  # destination options, 8 bytes -> fragment
        + bytes([51, 0, 0, 0, 0, 0, 0, 1])  # atomic fragment (offset 0, M=0) -> AH
        + bytes([6, 4])
        + b"\x00" * 22  # AH: (4 + 2) * 4 = 24 bytes -> TCP
    )
    frame = ethernet(ipv6(SEG, next_header=0, ext=chain), ethertype=0x86DD)
    row = _decode([frame]).segments.iloc[0]
    assert (row["seq"], row["ack"], row["seg_len"]) == (1, 2, 1000)


def test_ipv6_fragments_and_tunnels() -> None:
    frag_first = ethernet(
        ipv6(SEG, next_header=44, ext=bytes([6, 0, 0, 1, 0, 0, 0, 9])), ethertype=0x86DD
    )
    frag_later = ethernet(
        ipv6(SEG, next_header=44, ext=bytes([6, 0]) + struct.pack("!H", 8 << 3) + b"\0\0\0\x09"),
        ethertype=0x86DD,
    )
    tunnel = ethernet(ipv6(b"\x30\x00" + ipv4(SEG), next_header=97), ethertype=0x86DD)  # EtherIP
    no_next = ethernet(ipv6(b"", next_header=59), ethertype=0x86DD)
    dec = _decode([frag_first, frag_later, tunnel, no_next])
    assert dec.skipped == {"ip_fragment": 2, "tunnelled": 1, "not_tcp": 1}


def test_ipv6_extension_header_past_payload_is_malformed() -> None:
    frame = ethernet(
        ipv6(SEG, next_header=60, ext=_ext(6, 200)[:8], payload_length=40), ethertype=0x86DD
    )
    assert _decode([frame]).skipped == {"malformed": 1}
