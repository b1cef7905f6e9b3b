"""IPv4 and IPv6 (with extension headers) -> TCP header position and lengths.

Lengths come from the IP header (IPv4 total length, IPv6 payload length), never from
the captured bytes: with a snaplen cut the payload is missing but the segment length is
still known. As Wireshark does, a length field larger than the frame on the wire is
clipped to the frame, and a zero length (TSO/GSO output captured on the sender, IPv6
jumbograms) means "the rest of the frame".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pcapline.decode.headers import (
    FrameCursor,
    Ipv4,
    Ipv6,
    Ipv6Extension,
    Ipv6Fragment,
    kept,
    read,
)
from pcapline.decode.link import ETH_IPV4, ETH_IPV6
from pcapline.model import SkipReason

PROTO_TCP = 6
#: ICMP errors quote TCP segments: kept alive for decode/icmp.py (ICMPv4 in IPv4, ICMPv6 in IPv6).
PROTO_ICMP = {4: 1, 6: 58}
#: IP protocols that carry another network layer: IPv4-in-IP, IPv6-in-IP, GRE, EtherIP,
#: L2TPv3, MPLS-in-IP. ``tunnels.py`` opens the first three; a frame still holding one of
#: them after it (an undecoded kind, or nested too deep) is counted as tunnelled.
TUNNEL_PROTOCOLS = (4, 41, 47, 97, 115, 137)
#: IPv6 extension headers we step over (hop-by-hop, routing, destination options,
#: mobility, HIP, shim6); fragment (44) and AH (51) are handled on their own.
IPV6_EXT_GENERIC = (0, 43, 60, 135, 139, 140)
IPV6_FRAGMENT, IPSEC_AH = 44, 51
MAX_IPV6_EXT = 8


@dataclass
class NetworkLayer:
    """Per-frame network-layer facts (full-length arrays; valid where the frame is alive)."""

    ip_version: np.ndarray  # uint8
    src_hi: np.ndarray
    src_lo: np.ndarray
    dst_hi: np.ndarray
    dst_lo: np.ndarray
    ip_id: np.ndarray  # uint32
    ttl: np.ndarray  # uint8
    protocol: np.ndarray  # uint8 IP protocol of the transport header at ``l4``
    l4: np.ndarray  # int64 position of the transport header (TCP, UDP, a tunnel...)
    l4_len: np.ndarray  # int64 bytes of transport header + payload per the IP header

    @classmethod
    def empty(cls, n: int) -> NetworkLayer:
        return cls(
            ip_version=np.zeros(n, np.uint8),
            src_hi=np.zeros(n, np.uint64),
            src_lo=np.zeros(n, np.uint64),
            dst_hi=np.zeros(n, np.uint64),
            dst_lo=np.zeros(n, np.uint64),
            ip_id=np.zeros(n, np.uint32),
            ttl=np.zeros(n, np.uint8),
            protocol=np.zeros(n, np.uint8),
            l4=np.full(n, -1, np.int64),
            l4_len=np.zeros(n, np.int64),
        )

    def clear(self, idx: np.ndarray) -> None:
        """Forget frames ``idx``'s header (before an inner header of a tunnel replaces it)."""
        for array in vars(self).values():
            array[idx] = 0
        self.l4[idx] = -1


def network_layer(
    cur: FrameCursor,
    l3: np.ndarray,
    etype: np.ndarray,
    *,
    net: NetworkLayer | None = None,
    idx: np.ndarray | None = None,
) -> NetworkLayer:
    """The IP header of frames ``idx`` (all alive frames by default) at ``l3``, into ``net``
    (a new one by default; a tunnel's inner header overwrites its outer one)."""
    alive = cur.alive_frames() if idx is None else cur.alive(idx)
    if net is None:
        net = NetworkLayer.empty(l3.shape[0])
    else:
        net.clear(alive)
    et = etype[alive]
    cur.skip(alive[(et != ETH_IPV4) & (et != ETH_IPV6)], SkipReason.NOT_IP)
    _ipv4(cur, alive[et == ETH_IPV4], l3, net)
    _ipv6(cur, alive[et == ETH_IPV6], l3, net)
    return net


def skip_non_tcp(cur: FrameCursor, net: NetworkLayer) -> None:
    """After the tunnels were opened: what is still not TCP or ICMP is counted (tunnels we do
    not open as tunnelled, everything else as not_tcp)."""
    idx = cur.alive(np.flatnonzero(net.l4 >= 0))
    proto = net.protocol[idx]
    cur.skip(idx[np.isin(proto, TUNNEL_PROTOCOLS)], SkipReason.TUNNELLED)
    # ICMP stays alive for decode/icmp.py: an error quoting a TCP segment belongs to it.
    icmp = proto == np.where(net.ip_version[idx] == 6, PROTO_ICMP[6], PROTO_ICMP[4])
    cur.skip(idx[(proto != PROTO_TCP) & ~icmp], SkipReason.NOT_TCP)


def _wire_left(cur: FrameCursor, idx: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Bytes from ``pos`` to the end of the frame as it was on the wire."""
    left: np.ndarray = cur.wire_end[idx] - pos
    return left


def _ipv4(cur: FrameCursor, idx: np.ndarray, l3: np.ndarray, net: NetworkLayer) -> None:
    pos = l3[idx]
    idx, pos, hdr = cur.header_at(idx, pos, Ipv4)
    ihl = hdr.read(Ipv4.ihl).astype(np.int64) * 4  # 32-bit words -> bytes
    total = hdr.read(Ipv4.total_length).astype(np.int64)
    wire = _wire_left(cur, idx, pos)
    total = np.where(total == 0, wire, np.minimum(total, np.maximum(wire, 0)))
    bad = (hdr.read(Ipv4.version) != 4) | (ihl < Ipv4.SIZE) | (total < ihl)
    ok = pos + ihl <= cur.end[idx]  # options must be there to find the TCP header
    # MF set or a non-zero offset: a fragment; we do not reassemble.
    frag = hdr.read(Ipv4.fragment) != 0
    cur.skip(idx[bad], SkipReason.MALFORMED)
    cur.skip(idx[~bad & ~ok], SkipReason.TRUNCATED_HEADER)
    cur.skip(idx[frag], SkipReason.IP_FRAGMENT)
    keep = ~bad & ok & ~frag
    idx, pos, ihl, total = kept(keep, idx, pos, ihl, total)
    hdr = hdr.keep(keep)
    net.protocol[idx] = hdr.read(Ipv4.protocol)
    net.ip_version[idx] = 4
    net.src_lo[idx] = hdr.read(Ipv4.src)
    net.dst_lo[idx] = hdr.read(Ipv4.dst)
    net.ip_id[idx] = hdr.read(Ipv4.identification)
    net.ttl[idx] = hdr.read(Ipv4.ttl)
    net.l4[idx] = pos + ihl
    net.l4_len[idx] = total - ihl
    _ipv4_ah(cur, idx[net.protocol[idx] == IPSEC_AH], net)


def _ipv4_ah(cur: FrameCursor, idx: np.ndarray, net: NetworkLayer) -> None:
    """IPsec AH in IPv4 (RFC 4302): step over it to the protocol it authenticates (its
    length is in 4-byte units minus 2, as in IPv6)."""
    ok = cur.need(idx, net.l4[idx], Ipv6Extension.SIZE)
    idx = idx[ok]
    at = net.l4[idx]
    length = (read(cur.data, at, Ipv6Extension.length).astype(np.int64) + 2) * 4
    past = length > net.l4_len[idx]
    cur.skip(idx[past], SkipReason.MALFORMED)
    idx, at, length = idx[~past], at[~past], length[~past]
    net.protocol[idx] = read(cur.data, at, Ipv6Extension.next_header)
    net.l4[idx] = at + length
    net.l4_len[idx] -= length


def _ipv6(cur: FrameCursor, idx: np.ndarray, l3: np.ndarray, net: NetworkLayer) -> None:
    pos = l3[idx]
    idx, pos, hdr = cur.header_at(idx, pos, Ipv6)
    bad = hdr.read(Ipv6.version) != 6
    cur.skip(idx[bad], SkipReason.MALFORMED)
    good = ~bad
    idx, pos = idx[good], pos[good]
    payload = hdr.read(Ipv6.payload_length)[good].astype(np.int64)
    wire = np.maximum(_wire_left(cur, idx, pos) - Ipv6.SIZE, 0)
    payload = np.where(payload == 0, wire, np.minimum(payload, wire))
    net.ip_version[idx] = 6
    net.src_hi[idx] = hdr.read(Ipv6.src_hi)[good]
    net.src_lo[idx] = hdr.read(Ipv6.src_lo)[good]
    net.dst_hi[idx] = hdr.read(Ipv6.dst_hi)[good]
    net.dst_lo[idx] = hdr.read(Ipv6.dst_lo)[good]
    net.ttl[idx] = hdr.read(Ipv6.hop_limit)[good]
    nxt = hdr.read(Ipv6.next_header)[good]
    cursor = pos + Ipv6.SIZE  # start of the next header
    _ipv6_chain(cur, idx, pos, payload, nxt, cursor, net)


def _ipv6_chain(
    cur: FrameCursor,
    idx: np.ndarray,
    pos: np.ndarray,
    payload: np.ndarray,
    nxt: np.ndarray,
    cursor: np.ndarray,
    net: NetworkLayer,
) -> None:
    """Walk extension headers (vectorised over the frames that still have one)."""
    data = cur.data
    for _ in range(MAX_IPV6_EXT + 1):
        ext = np.isin(nxt, (*IPV6_EXT_GENERIC, IPV6_FRAGMENT, IPSEC_AH))
        done = ~ext
        d_idx = idx[done]
        used = cursor[done] - pos[done] - Ipv6.SIZE
        net.protocol[d_idx] = nxt[done]
        net.l4[d_idx] = cursor[done]
        net.l4_len[d_idx] = payload[done] - used
        idx, pos, payload, nxt, cursor = idx[ext], pos[ext], payload[ext], nxt[ext], cursor[ext]
        if not idx.size:
            return
        ok = cur.need(idx, cursor, Ipv6Extension.SIZE)
        idx, pos, payload, nxt, cursor = idx[ok], pos[ok], payload[ok], nxt[ok], cursor[ok]
        units = read(data, cursor, Ipv6Extension.length).astype(np.int64)
        hdr_len = (units + 1) * 8
        hdr_len = np.where(nxt == IPSEC_AH, (units + 2) * 4, hdr_len)
        hdr_len = np.where(nxt == IPV6_FRAGMENT, Ipv6Fragment.SIZE, hdr_len)
        # Fragment offset and M flag both zero: an "atomic" fragment, i.e. a whole datagram.
        frag = (nxt == IPV6_FRAGMENT) & (read(data, cursor, Ipv6Fragment.fragment) != 0)
        cur.skip(idx[frag], SkipReason.IP_FRAGMENT)
        new_cursor = cursor + hdr_len
        past = (new_cursor - pos - Ipv6.SIZE) > payload
        cur.skip(idx[past & ~frag], SkipReason.MALFORMED)
        keep = ~frag & ~past
        nxt = read(data, cursor[keep], Ipv6Extension.next_header)
        idx, pos, payload, cursor = idx[keep], pos[keep], payload[keep], new_cursor[keep]
    cur.skip(idx, SkipReason.MALFORMED)  # absurdly long extension chain
