"""Byte-exact tunnel and shim headers, each wrapping a payload (for the decoder's unit
tests; the real captures of these tunnels are made by tools/samplegen's tunnel scenarios)."""

from __future__ import annotations

import struct

from builders.frames import udp

MAC_A, MAC_B = b"\x02\x00\x00\x00\x00\x0a", b"\x02\x00\x00\x00\x00\x0b"


def inner_ethernet(payload: bytes, ethertype: int = 0x0800) -> bytes:
    return MAC_B + MAC_A + struct.pack("!H", ethertype) + payload


def gre(
    payload: bytes,
    protocol: int = 0x0800,
    *,
    checksum: bool = False,
    key: int | None = None,
    seq: int | None = None,
    version: int = 0,
    ack: int | None = None,
    routing: bool = False,
) -> bytes:
    flags = (
        (0x8000 if checksum else 0)
        | (0x4000 if routing else 0)
        | (0x2000 if key is not None else 0)
        | (0x1000 if seq is not None else 0)
        | (0x0080 if ack is not None else 0)
        | version
    )
    out = struct.pack("!HH", flags, protocol)
    if checksum or routing:
        out += b"\x00\x00\x00\x00"
    for word in (key, seq, ack if version == 1 else None):
        if word is not None:
            out += struct.pack("!I", word)
    return out + payload


def erspan2(frame: bytes, session: int = 7) -> bytes:
    return struct.pack("!HHI", 0x1000 | 100, session, 3) + frame


def erspan3(frame: bytes, *, frame_type: int = 0, platform: bool = False) -> bytes:
    word = (frame_type << 10) | (1 if platform else 0)
    head = struct.pack("!HHIHH", 0x2000 | 100, 7, 123456, 0, word)
    return head + (b"\x00" * 8 if platform else b"") + frame


def vxlan(frame: bytes, vni: int = 42, sport: int = 51000) -> bytes:
    return udp(sport, 4789, struct.pack("!II", 0x08000000, vni << 8) + frame)


def geneve(
    payload: bytes, protocol: int = 0x6558, options: bytes = b"", sport: int = 51000
) -> bytes:
    head = struct.pack("!BBHI", len(options) // 4, 0, protocol, 42 << 8)
    return udp(sport, 6081, head + options + payload)


def gtp_u(packet: bytes, *, extensions: tuple[bytes, ...] = (), message_type: int = 255) -> bytes:
    """GTPv1-U; each extension is its content (padded so length byte + content + next type
    fill 4-byte units)."""
    flags = 0x30 | (0x04 if extensions else 0)
    body = b""
    if extensions:
        body += struct.pack("!HBB", 0, 0, 0x85)  # sequence, N-PDU, next: PDU session container
        for i, content in enumerate(extensions):
            units = (len(content) + 2 + 3) // 4
            padded = content.ljust(4 * units - 2, b"\x00")
            nxt = 0x85 if i + 1 < len(extensions) else 0
            body += bytes([units]) + padded + bytes([nxt])
    body += packet
    return udp(2152, 2152, struct.pack("!BBHI", flags, message_type, len(body), 0x1234) + body)


def teredo(ipv6_packet: bytes, *, origin: bool = False, auth: bool = False) -> bytes:
    head = b""
    if auth:
        head += struct.pack("!HBB", 1, 3, 2) + b"cid" + b"au" + b"\x00" * 8 + b"\x00"
    if origin:
        head += struct.pack(
            "!HH4s", 0, 0xFFFF ^ 40000, bytes(b ^ 0xFF for b in b"\xc0\x00\x02\x01")
        )
    return udp(51000, 3544, head + ipv6_packet)


def ayiya(packet: bytes, next_header: int = 41) -> bytes:
    # identity 2**4 = 16 bytes, signature 5 words = 20 bytes, forward opcode
    head = struct.pack("!BBBBI", 0x41, 0x52, 0x11, next_header, 0)
    return udp(5072, 5072, head + b"\x00" * 16 + b"\x00" * 20 + packet)


def pbb(frame_after_tpid: bytes, isid: int = 0x1EBB30) -> bytes:
    """802.1ah: I-TAG then the customer MACs; ``frame_after_tpid`` starts at the customer
    EtherType."""
    return struct.pack("!I", isid) + MAC_B + MAC_A + frame_after_tpid


def vntag(rest: bytes) -> bytes:
    return struct.pack("!HH", 0x0033, 0x0000) + rest


def fabricpath(rest: bytes) -> bytes:
    """After the outer EtherType 0x8903: FTag/TTL, the classic MACs, ``rest`` from the
    classic EtherType on."""
    return struct.pack("!H", 0x0041) + MAC_B + MAC_A + rest


def fddi(llc_payload: bytes) -> bytes:
    return bytes([0x50]) + MAC_B + MAC_A + llc_payload


def l2tp(ppp_frame: bytes, *, length: bool = True, sequence: bool = True, offset: int = 0) -> bytes:
    """An L2TPv2 data message on UDP 1701 (optional fields as the flags say)."""
    flags = 0x0002 | (0x4000 if length else 0) | (0x0800 if sequence else 0)
    flags |= 0x0200 if offset else 0
    body = struct.pack("!HH", 7, 9) + (struct.pack("!HH", 1, 2) if sequence else b"")
    if offset:
        body += struct.pack("!H", offset) + b"\x00" * offset
    head = struct.pack("!H", flags)
    if length:
        head += struct.pack("!H", 2 + 2 + len(body) + len(ppp_frame))
    return udp(50000, 1701, head + body + ppp_frame)


def ah(payload: bytes, next_header: int = 6) -> bytes:
    """IPsec AH with a 12-byte ICV: (4 + 2) * 4 = 24 bytes."""
    return bytes([next_header, 4, 0, 0]) + struct.pack("!II", 0x100, 1) + b"\x00" * 12 + payload


def nflog(packet: bytes, family: int = 2) -> bytes:
    """NFLOG: header, a prefix attribute, the payload attribute (little-endian TLVs)."""
    prefix = struct.pack("<HH", 4 + 3, 10) + b"ab\x00" + b"\x00"  # padded to 8
    payload = struct.pack("<HH", 4 + len(packet), 9) + packet
    return struct.pack("!BBH", family, 0, 42) + prefix + payload
