"""ICMP and ICMPv6 errors that quote a TCP segment -> one row per error.

A router or host that cannot deliver a segment answers its sender with an ICMP error quoting
the start of the segment: the IP header and at least the first 8 bytes of TCP (RFC 792: ports
and sequence number; RFC 4443 2.4: as much of the packet as fits in 1280 bytes). That quote
names the connection (4-tuple) and the segment (sequence number), so the error belongs to the
connection (``pcapline.icmp`` matches it) instead of being a ``not_tcp`` frame.

Errors decoded (anything else, and errors quoting UDP or another protocol, stay ``not_tcp``):

* ICMPv4 type 3 destination unreachable (code 0 net, 1 host, 2 protocol, 3 port, 4
  fragmentation needed with the next-hop MTU (RFC 1191), 9/10 net/host administratively
  prohibited, 13 communication administratively prohibited (RFC 1812), ...), type 11 time
  exceeded;
* ICMPv6 type 1 destination unreachable (code 0 no route, 1 administratively prohibited, 3
  address unreachable, 4 port unreachable, 5 source address failed policy, 6 reject route),
  type 2 packet too big (with the MTU), type 3 time exceeded.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pcapline.decode.headers import Block, Field, FrameCursor, Header, Ipv4, Ipv6, Tcp, read
from pcapline.model import SkipReason

PROTO_ICMP, PROTO_ICMPV6 = 1, 58
PROTO_TCP = 6
#: Error types per IP version (others, such as echo, are not errors).
ICMP_UNREACHABLE, ICMP_TIME_EXCEEDED = 3, 11
ICMPV6_UNREACHABLE, ICMPV6_PACKET_TOO_BIG, ICMPV6_TIME_EXCEEDED = 1, 2, 3
#: Quoted TCP bytes an error must carry: ports and sequence number (RFC 792).
QUOTED_TCP = 8


class Icmp(Header):
    """ICMP / ICMPv6 error header (RFC 792, RFC 4443 2.1): the quoted packet follows."""

    SIZE = 8
    type = Field(0, 1, doc="3 unreachable / 11 time exceeded (v4); 1, 2, 3 (v6)")
    code = Field(1, 1, doc="why (port, host, admin prohibited, fragmentation needed...)")
    checksum = Field(2, 2, doc="not verified")
    next_hop_mtu = Field(6, 2, doc="ICMPv4 fragmentation needed: the next hop's MTU")
    mtu = Field(4, 4, doc="ICMPv6 packet too big: the next link's MTU")


#: (ip version, type, code) -> the error's name; (version, type, -1) covers any code.
KINDS: dict[tuple[int, int, int], str] = {
    (4, 3, 0): "net_unreachable",
    (4, 3, 1): "host_unreachable",
    (4, 3, 2): "protocol_unreachable",
    (4, 3, 3): "port_unreachable",
    (4, 3, 4): "fragmentation_needed",
    (4, 3, 9): "admin_prohibited",
    (4, 3, 10): "admin_prohibited",
    (4, 3, 13): "admin_prohibited",
    (4, 3, -1): "unreachable",
    (4, 11, -1): "time_exceeded",
    (6, 1, 0): "net_unreachable",
    (6, 1, 1): "admin_prohibited",
    (6, 1, 3): "host_unreachable",
    (6, 1, 4): "port_unreachable",
    (6, 1, 5): "admin_prohibited",
    (6, 1, 6): "admin_prohibited",
    (6, 1, -1): "unreachable",
    (6, 2, -1): "packet_too_big",
    (6, 3, -1): "time_exceeded",
}
#: Errors that reject: a segment answered with one of these was refused by the sender of it.
REJECTS = frozenset(
    {
        "net_unreachable",
        "host_unreachable",
        "protocol_unreachable",
        "port_unreachable",
        "admin_prohibited",
        "unreachable",
    }
)
#: Errors that say the segment was too big for the path (RFC 1191, RFC 8201).
TOO_BIG = frozenset({"fragmentation_needed", "packet_too_big"})

#: Columns of the ICMP errors table (one row per analysed ICMP error frame).
ICMP_COLUMNS: dict[str, str] = {
    "frame": "int64",
    "time_ns": "int64",
    "ip_version": "uint8",
    "src_hi": "uint64",  # who sent the error (a router or the peer host)
    "src_lo": "uint64",
    "kind": "object",  # a KINDS value
    "icmp_type": "uint8",
    "icmp_code": "uint8",
    "mtu": "uint32",  # fragmentation needed / packet too big: the MTU it names, else 0
    # The quoted segment: its sender (src) and receiver (dst), ports and sequence number.
    "q_src_hi": "uint64",
    "q_src_lo": "uint64",
    "q_dst_hi": "uint64",
    "q_dst_lo": "uint64",
    "q_sport": "uint16",
    "q_dport": "uint16",
    "q_seq": "uint32",
    "q_ip_id": "uint16",  # the quoted IPv4 header's IP ID (0 for IPv6: it has none)
}


@dataclass
class IcmpFrames:
    """The ICMP errors of a capture, per frame index (``idx``) and as columns."""

    idx: np.ndarray  # frame indices (0-based) decoded as ICMP errors quoting TCP
    columns: dict[str, np.ndarray]  # ICMP_COLUMNS minus frame/time_ns


def empty_table() -> pd.DataFrame:
    """No ICMP error, typed: a copy of one table built once per process (building it costs
    ~1.7 ms of pandas set-up, paid by every capture without ICMP errors: most of a scan's)."""
    return _empty_template().copy()


@functools.cache
def _empty_template() -> pd.DataFrame:
    return pd.DataFrame({name: np.empty(0, dtype=dtype) for name, dtype in ICMP_COLUMNS.items()})


def icmp_layer(
    cur: FrameCursor,
    idx: np.ndarray,
    l4: np.ndarray,
    ip_version: np.ndarray,
    src_hi: np.ndarray,
    src_lo: np.ndarray,
) -> IcmpFrames:
    """Decode the ICMP frames ``idx`` (their header at ``l4``): errors quoting TCP are kept,
    every other frame is skipped as not_tcp (an echo, an error about UDP...)."""
    idx = cur.alive(idx)
    ok = cur.need(idx, l4[idx], Icmp.SIZE)
    idx = idx[ok]
    pos = l4[idx]
    hdr = Block(cur.data, pos, Icmp)
    version = ip_version[idx].astype(np.int64)
    typ = hdr.read(Icmp.type).astype(np.int64)
    code = hdr.read(Icmp.code).astype(np.int64)
    kind = _kinds(version, typ, code)
    error = kind != ""
    cur.skip(idx[~error], SkipReason.NOT_TCP)
    idx, pos, version, typ, code, kind = (
        idx[error],
        pos[error],
        version[error],
        typ[error],
        code[error],
        kind[error],
    )
    mtu = np.where(
        kind == "fragmentation_needed",
        read(cur.data, pos, Icmp.next_hop_mtu).astype(np.int64),
        np.where(kind == "packet_too_big", read(cur.data, pos, Icmp.mtu).astype(np.int64), 0),
    )
    inner = pos + Icmp.SIZE
    v4, v6 = version == 4, version == 6
    quoted = np.zeros(len(idx), np.int64)  # start of the quoted TCP header
    proto = np.zeros(len(idx), np.int64)
    q = {name: np.zeros(len(idx), np.uint64) for name in ("src_hi", "src_lo", "dst_hi", "dst_lo")}
    quoted_ip_id = np.zeros(len(idx), np.uint16)
    # A quote too short to hold the IP header and 8 TCP bytes is not a usable error: not_tcp
    # (it is not a truncated capture of something we decode).
    fits4 = v4 & (inner + Ipv4.SIZE <= cur.end[idx])
    if fits4.any():
        at = inner[fits4]
        ihl = read(cur.data, at, Ipv4.ihl).astype(np.int64) * 4
        quoted[fits4] = at + ihl
        proto[fits4] = np.where(ihl >= Ipv4.SIZE, read(cur.data, at, Ipv4.protocol), 0)
        q["src_lo"][fits4] = read(cur.data, at, Ipv4.src)
        q["dst_lo"][fits4] = read(cur.data, at, Ipv4.dst)
        quoted_ip_id[fits4] = read(cur.data, at, Ipv4.identification)
    fits6 = v6 & (inner + Ipv6.SIZE <= cur.end[idx])
    if fits6.any():
        at = inner[fits6]
        quoted[fits6] = at + Ipv6.SIZE
        proto[fits6] = read(cur.data, at, Ipv6.next_header)  # extension headers: not followed
        for name, f in (
            ("src_hi", Ipv6.src_hi),
            ("src_lo", Ipv6.src_lo),
            ("dst_hi", Ipv6.dst_hi),
            ("dst_lo", Ipv6.dst_lo),
        ):
            q[name][fits6] = read(cur.data, at, f)
    usable = (fits4 | fits6) & (proto == PROTO_TCP) & (quoted + QUOTED_TCP <= cur.end[idx])
    cur.skip(idx[~usable], SkipReason.NOT_TCP)
    at = quoted[usable]
    return IcmpFrames(
        idx=idx[usable],
        columns={
            "ip_version": version[usable].astype(np.uint8),
            "src_hi": src_hi[idx[usable]],
            "src_lo": src_lo[idx[usable]],
            "kind": kind[usable].astype(object),
            "icmp_type": typ[usable].astype(np.uint8),
            "icmp_code": code[usable].astype(np.uint8),
            "mtu": mtu[usable].astype(np.uint32),
            **{f"q_{name}": values[usable] for name, values in q.items()},
            "q_sport": read(cur.data, at, Tcp.sport).astype(np.uint16),
            "q_dport": read(cur.data, at, Tcp.dport).astype(np.uint16),
            "q_seq": read(cur.data, at, Tcp.seq).astype(np.uint32),
            "q_ip_id": quoted_ip_id[usable],
        },
    )


def _kinds(version: np.ndarray, typ: np.ndarray, code: np.ndarray) -> np.ndarray:
    """The KINDS name of each (version, type, code), "" when it is not an error we decode."""
    out = np.full(len(typ), "", dtype=object)
    for (v, t, c), name in sorted(KINDS.items(), key=lambda item: item[0][2]):  # -1 first
        hit = (version == v) & (typ == t)
        if c >= 0:
            hit &= code == c
        out[hit] = name
    return out


__all__ = ["ICMP_COLUMNS", "REJECTS", "TOO_BIG", "IcmpFrames", "empty_table", "icmp_layer"]
