"""UDP tunnels -> the EtherType and position of the packet inside.

Which tunnel a UDP datagram carries is told by its port, as Wireshark does it: the lower of
the two ports first, then the higher. Registered ports:

* 4789 VXLAN (RFC 7348): 8-byte header, an Ethernet frame;
* 6081 Geneve (RFC 8926): 8 bytes + options, the payload its protocol field names;
* 2152 GTP-U (3GPP TS 29.281): G-PDU messages only (type 255; echo and error indications
  are signalling), 8 bytes, 4 more when E/S/PN is set, then the chain of extension headers
  (length in 4-byte units first, next type last), then an IP packet;
* 3544 Teredo (RFC 4380): an optional authentication indicator (0x0001), an optional
  origin indication (0x0000), then IPv6; a datagram that is not IPv6 behind them stays UDP;
* 5072 AYIYA: 8 bytes, identity and signature of announced lengths, the packet its
  next-header field names (forward opcode only);
* 4754 GRE-in-UDP (RFC 8086): a GRE header (``gre.py``);
* 1701 L2TPv2 (RFC 2661): data messages (not control), whose optional fields the flags
  announce, carry a PPP frame.

A datagram on one of these ports that is not the tunnel (a GTP echo, a version we do not
know) stays UDP and is counted as not_tcp.
"""

from __future__ import annotations

import numpy as np

from pcapline.decode.gre import TRANSPARENT_ETHERNET, gre_payload
from pcapline.decode.headers import (
    Ayiya,
    Block,
    FrameCursor,
    Geneve,
    GtpU,
    GtpUOptional,
    Ipv4,
    L2tpV2,
    TeredoAuth,
    TeredoOrigin,
    Udp,
    Vxlan,
    be16,
    read,
    u8,
)
from pcapline.decode.link import ETH_IPV4, ETH_IPV6, ip_by_version, ppp_frames
from pcapline.model import SkipReason

VXLAN, GENEVE, GTP_U, TEREDO, AYIYA, GRE_IN_UDP, L2TP = 4789, 6081, 2152, 3544, 5072, 4754, 1701
PORTS = (VXLAN, GENEVE, GTP_U, TEREDO, AYIYA, GRE_IN_UDP, L2TP)
L2TP_V2 = 2
GTP_V1, GTP_G_PDU = 1, 255
TEREDO_AUTH, TEREDO_ORIGIN = 0x0001, 0x0000
TEREDO_NONCE_AND_CONFIRMATION = 9
AYIYA_FORWARD = 1
AYIYA_NEXT = {4: ETH_IPV4, 41: ETH_IPV6}
#: GTP-U extension headers we step over before giving up (real ones chain two or three).
MAX_GTP_EXTENSIONS = 8


def tunnel_port(sport: np.ndarray, dport: np.ndarray) -> np.ndarray:
    """The tunnel port a datagram uses (0 for none): the lower port if it is one, else the
    higher (Wireshark's "try the low port first")."""
    low, high = np.minimum(sport, dport), np.maximum(sport, dport)
    out: np.ndarray = np.where(np.isin(low, PORTS), low, np.where(np.isin(high, PORTS), high, 0))
    return out


def udp_payload(
    cur: FrameCursor, idx: np.ndarray, at: np.ndarray, l3: np.ndarray, etype: np.ndarray
) -> np.ndarray:
    """UDP headers at ``at`` (one per frame of ``idx``): for tunnels, set ``l3``/``etype``
    to the packet inside (0x6558 for an Ethernet frame); returns those frames."""
    idx, at, hdr = cur.header_at(idx, at, Udp)
    port = tunnel_port(hdr.read(Udp.sport), hdr.read(Udp.dport))
    at = at + Udp.SIZE
    opened = [
        _vxlan(cur, idx[port == VXLAN], at[port == VXLAN], l3, etype),
        _geneve(cur, idx[port == GENEVE], at[port == GENEVE], l3, etype),
        _gtp_u(cur, idx[port == GTP_U], at[port == GTP_U], l3, etype),
        _teredo(cur, idx[port == TEREDO], at[port == TEREDO], l3, etype),
        _ayiya(cur, idx[port == AYIYA], at[port == AYIYA], l3, etype),
        gre_payload(cur, idx[port == GRE_IN_UDP], at[port == GRE_IN_UDP], l3, etype),
        _l2tp(cur, idx[port == L2TP], at[port == L2TP], l3, etype),
    ]
    return np.concatenate(opened)


def _vxlan(
    cur: FrameCursor, idx: np.ndarray, at: np.ndarray, l3: np.ndarray, etype: np.ndarray
) -> np.ndarray:
    ok = cur.need(idx, at, Vxlan.SIZE)
    idx = idx[ok]
    l3[idx] = at[ok] + Vxlan.SIZE
    etype[idx] = TRANSPARENT_ETHERNET
    return idx


def _geneve(
    cur: FrameCursor, idx: np.ndarray, at: np.ndarray, l3: np.ndarray, etype: np.ndarray
) -> np.ndarray:
    idx, at, hdr = cur.header_at(idx, at, Geneve)
    v0 = hdr.read(Geneve.version) == 0  # another version is not a Geneve we know: stays UDP
    idx, at = idx[v0], at[v0]
    l3[idx] = at + Geneve.SIZE + 4 * hdr.read(Geneve.option_length)[v0].astype(np.int64)
    etype[idx] = hdr.read(Geneve.protocol)[v0]
    return idx


def _gtp_u(
    cur: FrameCursor, idx: np.ndarray, at: np.ndarray, l3: np.ndarray, etype: np.ndarray
) -> np.ndarray:
    idx, at, hdr = cur.header_at(idx, at, GtpU)
    g_pdu = (
        (hdr.read(GtpU.version) == GTP_V1)
        & (hdr.read(GtpU.protocol_type) == 1)
        & (hdr.read(GtpU.message_type) == GTP_G_PDU)
    )
    optional = (
        hdr.read(GtpU.has_extension) | hdr.read(GtpU.has_sequence) | hdr.read(GtpU.has_npdu)
    ) != 0
    extension = hdr.read(GtpU.has_extension)[g_pdu] != 0
    idx, at, optional = idx[g_pdu], at[g_pdu] + GtpU.SIZE, optional[g_pdu]
    ok = cur.need(idx, at, np.where(optional, GtpUOptional.SIZE, 0))
    idx, at, optional, extension = idx[ok], at[ok], optional[ok], extension[ok]
    following = np.zeros(idx.size, np.uint8)
    following[extension] = read(cur.data, at[extension], GtpUOptional.next_extension)
    at = at + np.where(optional, GtpUOptional.SIZE, 0)
    # Extension headers: the first byte is the length in 4-byte units, the last byte the
    # type of the next one (0: the payload follows).
    for _ in range(MAX_GTP_EXTENSIONS):
        more = following != 0
        if not more.any():
            break
        fits = at + 1 <= cur.end[idx]
        units = np.zeros(idx.size, np.int64)
        units[more & fits] = u8(cur.data, at[more & fits])
        bad = more & fits & (units == 0)
        cur.skip(idx[bad], SkipReason.MALFORMED)
        cur.skip(idx[more & ~fits], SkipReason.TRUNCATED_HEADER)
        step = more & fits & ~bad
        ends = at + 4 * units
        fits = ends <= cur.end[idx]
        cur.skip(idx[step & ~fits], SkipReason.TRUNCATED_HEADER)
        step &= fits
        following[step] = u8(cur.data, ends[step] - 1)
        at = np.where(step, ends, at)
        keep = step | ~more
        idx, at, following = idx[keep], at[keep], following[keep]
    cur.skip(idx[following != 0], SkipReason.MALFORMED)  # an endless chain
    idx, at = idx[following == 0], at[following == 0]
    ip_by_version(cur, idx, at, l3, etype)
    return idx


def _teredo(
    cur: FrameCursor, idx: np.ndarray, at: np.ndarray, l3: np.ndarray, etype: np.ndarray
) -> np.ndarray:
    # Authentication indicator first, then origin indication (RFC 4380 5.1.1), both optional.
    fits = at + TeredoAuth.SIZE <= cur.end[idx]
    auth = np.zeros(idx.size, bool)
    auth[fits] = be16(cur.data, at[fits]) == TEREDO_AUTH
    head = Block(cur.data, at[auth], TeredoAuth)
    at[auth] += (
        TeredoAuth.SIZE
        + head.read(TeredoAuth.id_length).astype(np.int64)
        + head.read(TeredoAuth.auth_length)
        + TEREDO_NONCE_AND_CONFIRMATION
    )
    fits = at + TeredoOrigin.SIZE <= cur.end[idx]
    origin = np.zeros(idx.size, bool)
    origin[fits] = read(cur.data, at[fits], TeredoOrigin.indicator) == TEREDO_ORIGIN
    at[origin] += TeredoOrigin.SIZE
    fits = at + 1 <= cur.end[idx]
    ipv6 = np.zeros(idx.size, bool)
    ipv6[fits] = read(cur.data, at[fits], Ipv4.version) == 6  # the same nibble in IPv6
    idx = idx[ipv6]
    l3[idx] = at[ipv6]
    etype[idx] = ETH_IPV6
    return idx


def _ayiya(
    cur: FrameCursor, idx: np.ndarray, at: np.ndarray, l3: np.ndarray, etype: np.ndarray
) -> np.ndarray:
    idx, at, hdr = cur.header_at(idx, at, Ayiya)
    nxt = hdr.read(Ayiya.next_header)
    forward = (hdr.read(Ayiya.opcode) == AYIYA_FORWARD) & np.isin(nxt, list(AYIYA_NEXT))
    identity = np.left_shift(1, hdr.read(Ayiya.id_length).astype(np.int64))
    signature = 4 * hdr.read(Ayiya.signature_length).astype(np.int64)
    idx = idx[forward]
    l3[idx] = (at + Ayiya.SIZE + identity + signature)[forward]
    etype[idx] = np.where(nxt[forward] == 4, ETH_IPV4, ETH_IPV6)
    return idx


def _l2tp(
    cur: FrameCursor, idx: np.ndarray, at: np.ndarray, l3: np.ndarray, etype: np.ndarray
) -> np.ndarray:
    idx, at, hdr = cur.header_at(idx, at, L2tpV2)
    data = (hdr.read(L2tpV2.version) == L2TP_V2) & (hdr.read(L2tpV2.is_control) == 0)
    idx, at = idx[data], at[data]  # control messages and L2TPv3 stay UDP
    with_offset = hdr.read(L2tpV2.has_offset)[data] == 1
    # flags, [length], tunnel id, session id, [Ns, Nr], [offset size]
    at = (
        at
        + L2tpV2.SIZE
        + 2 * hdr.read(L2tpV2.has_length)[data]
        + 4
        + 4 * hdr.read(L2tpV2.has_sequence)[data]
    )
    ok = cur.need(idx, at, np.where(with_offset, 2, 0))
    idx, at, with_offset = idx[ok], at[ok], with_offset[ok]
    padding = np.zeros(idx.size, np.int64)
    padding[with_offset] = be16(cur.data, at[with_offset])
    l3[idx] = at + 2 * with_offset + padding
    return ppp_frames(cur, idx, l3, l3, etype)
