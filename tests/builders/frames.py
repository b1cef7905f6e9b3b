"""Byte-exact link, IP, TCP and UDP headers: one frame's bytes, every field visible.

Decoder and reader tests build the exact bytes they need instead of storing capture files:
every field a test asserts on is visible in the test itself. Checksums stay 0 (pcapline, like
a capture taken with checksum offload, does not check them). ``capture_files`` wraps frames in
pcap/pcapng; ``conversation`` writes whole TCP conversations with these headers.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Sequence

FIN, SYN, RST, PSH, ACK = 1, 2, 4, 8, 16


def tcp_options(
    *,
    mss: int = 0,
    wscale: int = -1,
    sack_perm: bool = False,
    timestamps: tuple[int, int] | None = None,
    sack: tuple[int, int] | None = None,
) -> bytes:
    """Options in the order Linux writes them (MSS, SACK-permitted + timestamps, NOP, wscale)."""
    out = b""
    if mss:
        out += struct.pack("!BBH", 2, 4, mss)
    if sack_perm and timestamps is not None:
        out += struct.pack("!BBBBII", 4, 2, 8, 10, *timestamps)
    else:
        if sack_perm:
            out += b"\x01\x01\x04\x02"
        if timestamps is not None:
            out += struct.pack("!BBBBII", 1, 1, 8, 10, *timestamps)
    if wscale >= 0:
        out += struct.pack("!BBBB", 1, 3, 3, wscale)
    if sack is not None:
        out += struct.pack("!BBBBII", 1, 1, 5, 10, *sack)
    return out


def tcp(
    sport: int = 40000,
    dport: int = 80,
    seq: int = 1000,
    ack: int = 0,
    flags: int = SYN,
    window: int = 65535,
    options: bytes = b"",
    payload: bytes = b"",
) -> bytes:
    options = options + b"\x00" * (-len(options) % 4)
    doff = (20 + len(options)) // 4
    return (
        struct.pack("!HHIIHHHH", sport, dport, seq, ack, (doff << 12) | flags, window, 0, 0)
        + options
        + payload
    )


def ipv4(
    payload: bytes,
    src: str = "10.0.0.1",
    dst: str = "10.0.0.2",
    proto: int = 6,
    ttl: int = 64,
    ident: int = 1,
    frag: int = 0,
    options: bytes = b"",
    total_length: int | None = None,
) -> bytes:
    ihl = 5 + len(options) // 4
    total = ihl * 4 + len(payload) if total_length is None else total_length
    head = struct.pack(
        "!BBHHHBBH4s4s",
        0x40 | ihl,
        0,
        total,
        ident,
        frag,
        ttl,
        proto,
        0,
        ipaddress.IPv4Address(src).packed,
        ipaddress.IPv4Address(dst).packed,
    )
    return head + options + payload


def ipv6(
    payload: bytes,
    src: str = "2001:db8::1",
    dst: str = "2001:db8::2",
    next_header: int = 6,
    hop_limit: int = 64,
    ext: bytes = b"",
    payload_length: int | None = None,
) -> bytes:
    plen = len(ext) + len(payload) if payload_length is None else payload_length
    head = struct.pack("!IHBB", 0x60000000, plen, next_header, hop_limit)
    return (
        head + ipaddress.IPv6Address(src).packed + ipaddress.IPv6Address(dst).packed + ext + payload
    )


def ethernet(
    payload: bytes, ethertype: int = 0x0800, vlans: Sequence[tuple[int, int]] = ()
) -> bytes:
    """``vlans``: (TPID, VLAN id) outermost first."""
    head = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01"
    for tpid, vid in vlans:
        head += struct.pack("!HH", tpid, vid)
    return head + struct.pack("!H", ethertype) + payload


def sll(payload: bytes, protocol: int = 0x0800) -> bytes:
    return struct.pack("!HHH8sH", 0, 1, 6, b"\x02\x00\x00\x00\x00\x01\x00\x00", protocol) + payload


def sll2(payload: bytes, protocol: int = 0x0800) -> bytes:
    return (
        struct.pack("!HHIHBB8s", protocol, 0, 2, 1, 0, 6, b"\x02\x00\x00\x00\x00\x01\x00\x00")
        + payload
    )


def raw_ip(payload: bytes) -> bytes:
    return payload


def null(payload: bytes, af: int = 2, order: str = "<") -> bytes:
    return struct.pack(order + "I", af) + payload


def udp(sport: int = 40999, dport: int = 9999, payload: bytes = b"") -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
