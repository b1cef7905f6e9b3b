"""Tunnels and shims: the inner TCP segment is what gets decoded, whatever carries it.

Crafted frames only test each header parser; the tunnels are proven on real captures in
sample_captures/ (tools/samplegen tunnel scenarios) and against tshark over the corpus.
"""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path

import pytest
from builders.capture_files import pcap
from builders.frames import SYN, ethernet, ipv4, ipv6, tcp, udp
from builders.tunnels import (
    ah,
    ayiya,
    erspan2,
    erspan3,
    fabricpath,
    fddi,
    geneve,
    gre,
    gtp_u,
    inner_ethernet,
    l2tp,
    nflog,
    pbb,
    teredo,
    vntag,
    vxlan,
)

from pcapline import analyze
from pcapline.decode import decode
from pcapline.decode.tunnels import MAX_TUNNEL_DEPTH
from pcapline.decode.udp_tunnels import tunnel_port
from pcapline.read import read_capture

SEG = tcp(sport=40000, dport=443, seq=7, flags=SYN)
INNER4 = ipv4(SEG, src="192.0.2.1", dst="198.51.100.2", ttl=33)
INNER6 = ipv6(SEG, src="2001:db8:1::1", dst="2001:db8:2::2", hop_limit=33)
OUTER = {"src": "10.0.0.1", "dst": "10.0.0.2"}
SNAP = b"\xaa\xaa\x03\x00\x00\x00"


def _decode(frames: list[bytes], linktype: int = 1):
    return decode(read_capture(io.BytesIO(pcap(frames, linktype=linktype))))


def _over4(payload: bytes, proto: int) -> bytes:
    return ethernet(ipv4(payload, proto=proto, ttl=64, **OUTER))


def _over6(payload: bytes, next_header: int) -> bytes:
    return ethernet(ipv6(payload, next_header=next_header), ethertype=0x86DD)


CASES = {
    # IP in IP
    "ipip": (_over4(INNER4, 4), 4),
    "6in4": (_over4(INNER6, 41), 6),
    "4in6": (_over6(INNER4, 4), 4),
    "6in6": (_over6(INNER6, 41), 6),
    # GRE and what rides on it
    "gre-ipv4": (_over4(gre(INNER4), 47), 4),
    "gre-ipv6-key-seq-checksum": (
        _over4(gre(INNER6, 0x86DD, checksum=True, key=5, seq=9), 47),
        6,
    ),
    "gre-over-ipv6": (_over6(gre(INNER4, key=1), 47), 4),
    "gretap": (_over4(gre(inner_ethernet(INNER4), 0x6558, key=3), 47), 4),
    "gretap-vlan": (
        _over4(
            gre(
                inner_ethernet(struct.pack("!H", 10) + struct.pack("!H", 0x0800) + INNER4, 0x8100),
                0x6558,
            ),
            47,
        ),
        4,
    ),
    "gre-mpls": (_over4(gre(struct.pack("!I", (16 << 12) | 0x1FF) + INNER4, 0x8847), 47), 4),
    "erspan-i": (_over4(gre(inner_ethernet(INNER4), 0x88BE), 47), 4),
    "erspan-ii": (_over4(gre(erspan2(inner_ethernet(INNER4)), 0x88BE, seq=1), 47), 4),
    "erspan-iii": (_over4(gre(erspan3(inner_ethernet(INNER6, 0x86DD)), 0x22EB, seq=1), 47), 6),
    "erspan-iii-platform": (
        _over4(gre(erspan3(inner_ethernet(INNER4), platform=True), 0x22EB, seq=1), 47),
        4,
    ),
    "erspan-iii-ip": (_over4(gre(erspan3(INNER4, frame_type=2), 0x22EB, seq=1), 47), 4),
    "wccp-redirect": (_over4(gre(b"\x05\x59\x00\x48" + INNER4, 0x883E), 47), 4),
    "wccp-plain": (_over4(gre(INNER4, 0x883E), 47), 4),
    "pptp": (
        _over4(
            gre(b"\xff\x03\x00\x21" + INNER4, 0x880B, key=0x00400001, seq=1, version=1, ack=0), 47
        ),
        4,
    ),
    # UDP tunnels
    "vxlan": (_over4(vxlan(inner_ethernet(INNER4)), 17), 4),
    "vxlan-ipv6-underlay": (_over6(vxlan(inner_ethernet(INNER6, 0x86DD)), 17), 6),
    "geneve": (_over4(geneve(inner_ethernet(INNER4)), 17), 4),
    "geneve-options": (
        _over4(geneve(inner_ethernet(INNER4), options=b"\x01\x02\x03\x02" + b"\x00" * 8), 17),
        4,
    ),
    "geneve-ip": (_over4(geneve(INNER6, 0x86DD), 17), 6),
    "gtp-u": (_over4(gtp_u(INNER4), 17), 4),
    "gtp-u-extensions": (_over4(gtp_u(INNER6, extensions=(b"\x00\x01", b"\x10" * 6)), 17), 6),
    "teredo": (_over4(teredo(INNER6), 17), 6),
    "teredo-origin": (_over4(teredo(INNER6, origin=True), 17), 6),
    "teredo-auth-origin": (_over4(teredo(INNER6, auth=True, origin=True), 17), 6),
    "ayiya": (_over4(ayiya(INNER6), 17), 6),
    "gre-in-udp": (_over4(udp(50000, 4754, gre(INNER4)), 17), 4),
    "l2tp-ppp": (_over4(l2tp(b"\xff\x03\x00\x21" + INNER4), 17), 4),
    "l2tp-bare-offset": (
        _over4(l2tp(b"\x00\x57" + INNER6, length=False, sequence=False, offset=3), 17),
        6,
    ),
    "ah-tunnel-mode-ipv4": (_over4(ah(INNER4, next_header=4), 51), 4),
    # nested
    "vxlan-in-vlan": (
        ethernet(ipv4(vxlan(inner_ethernet(INNER4)), proto=17, **OUTER), vlans=[(0x8100, 5)]),
        4,
    ),
    "vxlan-in-gre-in-ipv6": (
        _over6(gre(ipv4(vxlan(inner_ethernet(INNER4)), proto=17, **OUTER)), 47),
        4,
    ),
}


@pytest.mark.parametrize("frame,version", CASES.values(), ids=CASES.keys())
def test_inner_segment_is_decoded(frame: bytes, version: int) -> None:
    dec = _decode([frame])
    assert dec.skipped == {}
    row = dec.segments.iloc[0]
    assert (row["ip_version"], row["sport"], row["dport"], row["seq"]) == (version, 40000, 443, 7)
    assert row["ttl"] == 33  # the inner header's, not the tunnel's
    if version == 4:
        assert (row["src_hi"], row["src_lo"]) == (0, 0xC0000201)  # 192.0.2.1
        assert row["ip_id"] == 1
    else:
        assert (row["src_hi"], row["src_lo"], row["ip_id"]) == (0x20010DB800010000, 1, 0)
    assert row["seg_len"] == 0


LINKS = {
    "pbb": (
        ethernet(pbb(struct.pack("!H", 0x0800) + INNER4), ethertype=0x88E7, vlans=[(0x88A8, 3)]),
        1,
    ),
    "pbb-customer-vlan": (
        ethernet(pbb(struct.pack("!HHH", 0x8100, 7, 0x0800) + INNER4), ethertype=0x88E7),
        1,
    ),
    "vntag": (ethernet(vntag(struct.pack("!H", 0x0800) + INNER4), ethertype=0x8926), 1),
    "vntag-vlan-sandwich": (
        ethernet(
            vntag(struct.pack("!HHH", 0x8100, 250, 0x0800) + INNER4),
            ethertype=0x8926,
            vlans=[(0x8100, 250)],
        ),
        1,
    ),
    "fabricpath": (ethernet(fabricpath(struct.pack("!H", 0x0800) + INNER4), ethertype=0x8903), 1),
    "fddi": (fddi(SNAP + struct.pack("!H", 0x0800) + INNER4), 10),
    "nflog-ipv4": (nflog(INNER4), 239),
    "nflog-ipv6": (
        nflog(INNER6, family=10),
        239,
    ),
}


@pytest.mark.parametrize("frame,linktype", LINKS.values(), ids=LINKS.keys())
def test_link_shims(frame: bytes, linktype: int) -> None:
    dec = _decode([frame], linktype)
    assert dec.skipped == {}
    row = dec.segments.iloc[0]
    assert (row["sport"], row["seq"], row["ttl"]) == (40000, 7, 33)
    assert row["src_lo"] == (0xC0000201 if row["ip_version"] == 4 else 1)


def test_nflog_without_a_payload_attribute_is_not_ip() -> None:
    only_prefix = nflog(b"")[: 4 + 8]
    assert _decode([only_prefix], 239).skipped == {"not_ip": 1}
    assert _decode([only_prefix], 239).link_types == ["NFLOG"]


def test_fddi_without_snap_is_not_ip() -> None:
    assert _decode([fddi(b"\x42\x42\x03" + b"\x00" * 40)], 10).skipped == {"not_ip": 1}
    assert _decode([fddi(b"")], 10).link_types == ["FDDI"]


SKIPS = {
    "vxlan-arp": (_over4(vxlan(inner_ethernet(b"\x00" * 28, 0x0806)), 17), "not_ip"),
    "vxlan-udp": (_over4(vxlan(inner_ethernet(ipv4(udp(), proto=17))), 17), "not_tcp"),
    "gtp-echo": (_over4(gtp_u(b"", message_type=1), 17), "not_tcp"),
    "gtp-endless-extensions": (
        _over4(
            udp(2152, 2152, struct.pack("!BBHIHBB", 0x34, 255, 8, 1, 0, 0, 0x85) + b"\x00" * 4), 17
        ),
        "malformed",
    ),
    "teredo-bubble-not-ipv6": (_over4(teredo(b"\x00\x01\x02"), 17), "not_tcp"),
    "plain-udp": (_over4(udp(1234, 53, b"\x00" * 12), 17), "not_tcp"),
    "gre-unknown-protocol": (_over4(gre(b"\x00" * 40, 0x8200), 47), "tunnelled"),
    "gre-version-2": (_over4(gre(INNER4, version=2), 47), "tunnelled"),
    "gre-source-routing": (_over4(gre(INNER4, routing=True), 47), "tunnelled"),
    "erspan-iii-other-frame": (
        _over4(gre(erspan3(INNER4, frame_type=3), 0x22EB, seq=1), 47),
        "tunnelled",
    ),
    "etherip": (_over4(b"\x30\x00" + inner_ethernet(INNER4), 97), "tunnelled"),
    "gre-cut": (_over4(gre(INNER4), 47)[: 14 + 20 + 2], "truncated_header"),
    "inner-fragment": (_over4(ipv4(SEG, frag=0x2000), 4), "ip_fragment"),
    "inner-not-ip": (_over4(gre(b"\x00" * 40, 0x0800), 47), "malformed"),
    "l2tp-control": (_over4(udp(1701, 1701, b"\xc8\x02" + b"\x00" * 18), 17), "not_tcp"),
    "ah-longer-than-payload": (_over4(bytes([6, 200]) + b"\x00" * 30, 51), "malformed"),
}


@pytest.mark.parametrize("frame,reason", SKIPS.values(), ids=SKIPS.keys())
def test_tunnel_skip_reasons(frame: bytes, reason: str) -> None:
    dec = _decode([frame])
    assert dec.skipped == {reason: 1} and dec.segments.empty


def test_nesting_is_bounded() -> None:
    packet = INNER4
    for _ in range(MAX_TUNNEL_DEPTH):
        packet = ipv4(packet, proto=4, **OUTER)
    assert _decode([ethernet(packet)]).skipped == {}
    assert _decode([ethernet(ipv4(packet, proto=4, **OUTER))]).skipped == {"tunnelled": 1}


def test_inner_length_ends_with_the_outer_payload() -> None:
    """Ethernet padding after a tunnel must not count as inner payload: the inner IPv4
    says total length 0 (TSO), so its length is the rest of the outer packet."""
    inner = ipv4(SEG + b"x" * 5, src="192.0.2.1", dst="198.51.100.2", total_length=0)
    frame = ethernet(ipv4(inner, proto=4, **OUTER)) + b"\x00" * 30  # trailer
    row = _decode([frame]).segments.iloc[0]
    assert row["seg_len"] == 5


def test_the_lower_port_decides_like_wireshark() -> None:
    import numpy as np

    got = tunnel_port(
        np.array([51000, 4789, 2152, 80, 3544]), np.array([4789, 6081, 2152, 81, 60000])
    )
    assert got.tolist() == [4789, 4789, 2152, 0, 3544]


SAMPLES = Path(__file__).resolve().parents[2] / "sample_captures"
TUNNEL_SAMPLES = sorted(SAMPLES.glob("tunnel-*.pcap"))


def test_every_tunnel_kind_has_a_real_capture() -> None:
    names = {p.name for p in TUNNEL_SAMPLES}
    assert len(names) == 13, names  # 12 kinds, and GRE again over a fragmenting underlay


@pytest.mark.parametrize("path", TUNNEL_SAMPLES, ids=lambda p: p.stem)
def test_real_tunnel_captures_analyse_the_inner_connection(path: Path) -> None:
    """Made by tools/samplegen (tunnels scenarios): the one connection is between the inner
    addresses (192.168.<net>.x or fd01:<net>::x), every TCP segment came out of the tunnel
    (nothing is left tunnelled), and its fate is the expected file's."""
    expected = json.loads(path.with_name(path.stem + ".expected.json").read_text())
    analysis = analyze(str(path))
    assert "tunnelled" not in analysis.capture.skipped
    (conn,) = analysis.connections.itertuples()
    assert conn.client_ip.startswith(("192.168.", "fd01:")), conn.client_ip
    assert conn.server_ip.startswith(("192.168.", "fd01:")), conn.server_ip
    assert conn.client_port == expected["connections"][0]["match"]["client_port"]
    assert (conn.fate, conn.closer) == ("closed", "client")
    inner6 = "IPv6" in expected["capture_format"]["encapsulation"].split(" / ")[-1]
    assert (":" in conn.client_ip) == inner6


def test_a_tunnel_over_a_fragmenting_underlay_is_reassembled_first() -> None:
    """tunnel-gre-fragmented-underlay: every full-size segment's outer packet is in two
    IPv4 fragments; the segment is analysed once, in the second one's frame (Wireshark's
    frame.number), and the first is counted as ip_fragment_reassembled, none left over."""
    analysis = analyze(str(SAMPLES / "tunnel-gre-fragmented-underlay.pcap"))
    skipped = analysis.capture.skipped
    assert "ip_fragment" not in skipped and skipped["ip_fragment_reassembled"] >= 10
    (conn,) = analysis.connections.itertuples()
    assert (conn.fate, conn.bytes_server) == ("closed", 21_000)
