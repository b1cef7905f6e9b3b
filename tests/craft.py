"""Byte-exact builders for small test captures (pcap, pcapng, link/IP/TCP headers).

Tests build the exact bytes they need instead of storing capture files: every field a
test asserts on is visible in the test itself.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable, Sequence

FIN, SYN, RST, PSH, ACK = 1, 2, 4, 8, 16


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


def pcap(
    frames: Iterable[bytes | tuple[bytes, int]],
    linktype: int = 1,
    order: str = "<",
    nano: bool = False,
    snaplen: int = 262144,
    start_ns: int = 1_700_000_000_000_000_000,
    step_ns: int = 1_000_000,
) -> bytes:
    """A classic pcap; a frame given as (bytes, origlen) was cut by the snaplen."""
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = [struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)]
    for i, item in enumerate(frames):
        data, orig = item if isinstance(item, tuple) else (item, len(item))
        t = start_ns + i * step_ns
        frac = t % 1_000_000_000 if nano else (t % 1_000_000_000) // 1000
        out.append(struct.pack(order + "IIII", t // 1_000_000_000, frac, len(data), orig) + data)
    return b"".join(out)


def _block(btype: int, body: bytes, order: str) -> bytes:
    body = body + b"\x00" * (-len(body) % 4)
    length = len(body) + 12
    return struct.pack(order + "II", btype, length) + body + struct.pack(order + "I", length)


def _option(code: int, value: bytes, order: str) -> bytes:
    return struct.pack(order + "HH", code, len(value)) + value + b"\x00" * (-len(value) % 4)


def shb(order: str = "<", version: tuple[int, int] = (1, 0)) -> bytes:
    return _block(0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, *version, -1), order)


def idb(
    linktype: int, order: str = "<", tsresol: int | None = None, tsoffset: int | None = None
) -> bytes:
    opts = b""
    if tsresol is not None:
        opts += _option(9, bytes([tsresol]), order)
    if tsoffset is not None:
        opts += _option(14, struct.pack(order + "q", tsoffset), order)
    if opts:
        opts += struct.pack(order + "HH", 0, 0)
    return _block(1, struct.pack(order + "HHI", linktype, 0, 262144) + opts, order)


def epb(iface: int, ticks: int, data: bytes, order: str = "<", origlen: int | None = None) -> bytes:
    body = struct.pack(
        order + "IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF, len(data), origlen or len(data)
    )
    return _block(6, body + data, order)


def spb(data: bytes, order: str = "<") -> bytes:
    return _block(3, struct.pack(order + "I", len(data)) + data, order)


def obsolete_pb(iface: int, ticks: int, data: bytes, order: str = "<") -> bytes:
    body = struct.pack(
        order + "HHIIII", iface, 0, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data)
    )
    return _block(2, body + data, order)
