"""GRE (IP protocol 47, or UDP port 4754) -> the EtherType and position of its payload.

The base header (``headers.Gre``) is followed by optional 4-byte words: checksum (C or R),
key (K), sequence number (S), and in enhanced GRE (version 1, PPTP, RFC 2637) the
acknowledgment number (A). What the protocol field names comes next:

* IPv4, IPv6, MPLS (0x8847/0x8848): the packet itself;
* 0x6558 transparent Ethernet bridging (gretap): an Ethernet frame;
* 0x88BE ERSPAN: type II (``headers.ErspanII``) when the sequence number is present, else
  type I (no header); an Ethernet frame follows, as Wireshark reads them;
* 0x22EB ERSPAN type III (``headers.ErspanIII``, plus 8 bytes when its O bit is set): an
  Ethernet frame (frame type 0) or an IP packet (frame type 2);
* 0x883E WCCP redirection: a 4-byte redirect header unless the payload starts with an IPv4
  version nibble (Wireshark's test), then IPv4;
* 0x880B PPP (PPTP): a PPP frame.

Other protocols (keepalives, Aruba's 802.11-in-GRE...) and RFC 1701 source routing are
counted as tunnelled.
"""

from __future__ import annotations

import numpy as np

from pcapline.decode.headers import Block, ErspanII, ErspanIII, FrameCursor, Gre, Ipv4, read
from pcapline.decode.link import (
    ETH_IPV4,
    ETH_IPV6,
    MPLS_TYPES,
    ip_by_version,
    ppp_frames,
)
from pcapline.model import SkipReason

TRANSPARENT_ETHERNET = 0x6558
ERSPAN_I_II, ERSPAN_III, WCCP, PPP = 0x88BE, 0x22EB, 0x883E, 0x880B
ERSPAN_III_PLATFORM = 8  # bytes of the platform-specific subheader (O bit)
ERSPAN_FRAME_ETHERNET, ERSPAN_FRAME_IP = 0, 2
KNOWN = (ETH_IPV4, ETH_IPV6, TRANSPARENT_ETHERNET, *MPLS_TYPES, ERSPAN_I_II, ERSPAN_III, WCCP, PPP)


def gre_payload(
    cur: FrameCursor, idx: np.ndarray, at: np.ndarray, l3: np.ndarray, etype: np.ndarray
) -> np.ndarray:
    """GRE headers at ``at`` (one per frame of ``idx``): set ``l3``/``etype`` to what they
    carry (0x6558 for an Ethernet frame); returns the frames that carry something we read."""
    idx, at, hdr = cur.header_at(idx, at, Gre)
    version = hdr.read(Gre.version)
    routing = hdr.read(Gre.routing_present) == 1
    with_seq = hdr.read(Gre.sequence_present) == 1
    words = (
        (hdr.read(Gre.checksum_present) | hdr.read(Gre.routing_present))
        + hdr.read(Gre.key_present)
        + with_seq
        + np.where(version == 1, hdr.read(Gre.ack_present), 0)
    ).astype(np.int64)
    proto = hdr.read(Gre.protocol)
    readable = (version <= 1) & ~(routing & (version == 0)) & np.isin(proto, KNOWN)
    cur.skip(idx[~readable], SkipReason.TUNNELLED)
    idx, at, proto, with_seq = idx[readable], at[readable], proto[readable], with_seq[readable]
    l3[idx] = at + Gre.SIZE + 4 * words[readable]
    etype[idx] = proto

    erspan2 = idx[(proto == ERSPAN_I_II) & with_seq]
    ok = cur.need(erspan2, l3[erspan2], ErspanII.SIZE)
    erspan2 = erspan2[ok]
    l3[erspan2] += ErspanII.SIZE
    etype[idx[proto == ERSPAN_I_II]] = TRANSPARENT_ETHERNET  # type I: no header at all
    _erspan3(cur, idx[proto == ERSPAN_III], l3, etype)

    wccp = idx[proto == WCCP]
    ok = cur.need(wccp, l3[wccp], 1)
    wccp = wccp[ok]
    redirect_header = read(cur.data, l3[wccp], Ipv4.version) != 4
    l3[wccp[redirect_header]] += 4
    ip_by_version(cur, wccp, l3[wccp], l3, etype)

    ppp_frames(cur, idx[proto == PPP], l3, l3, etype)
    out: np.ndarray = cur.alive(idx)
    return out


def _erspan3(cur: FrameCursor, idx: np.ndarray, l3: np.ndarray, etype: np.ndarray) -> None:
    ok = cur.need(idx, l3[idx], ErspanIII.SIZE)
    idx = idx[ok]
    hdr = Block(cur.data, l3[idx], ErspanIII)
    frame_type = hdr.read(ErspanIII.frame_type)
    l3[idx] += ErspanIII.SIZE + ERSPAN_III_PLATFORM * hdr.read(ErspanIII.optional).astype(np.int64)
    etype[idx[frame_type == ERSPAN_FRAME_ETHERNET]] = TRANSPARENT_ETHERNET
    ip = idx[frame_type == ERSPAN_FRAME_IP]
    ip_by_version(cur, ip, l3[ip], l3, etype)
    cur.skip(
        idx[~np.isin(frame_type, (ERSPAN_FRAME_ETHERNET, ERSPAN_FRAME_IP))], SkipReason.TUNNELLED
    )
