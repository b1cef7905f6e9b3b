"""Tunnels -> the packet inside, handed back to the link and IP layers.

After the IP layer, a frame whose transport header is a tunnel (IPv4-in-IP and IPv6-in-IPv4
or -IPv6, RFC 2003/4213/2473; GRE and what rides on it, ``gre.py``; the UDP tunnels VXLAN,
Geneve, GTP-U, Teredo, AYIYA, GRE-in-UDP and L2TPv2, ``udp_tunnels.py``) gets the position and
EtherType of the packet it carries, and the IP layer runs again on it: the connection
analysed is the inner one, as Wireshark's ``tcp.stream`` and Zeek do. The frame number
stays the frame's. A tunnel carrying an Ethernet frame (EtherType 0x6558: VXLAN, Geneve,
GRE transparent bridging, ERSPAN) goes through ``link.ethernet_frames`` and ``link.unwrap``
first, so VLAN tags inside a tunnel are peeled too.

Tunnels nest (VXLAN in GRE in IPv6...) up to ``MAX_TUNNEL_DEPTH``; a frame still inside a
tunnel after that is counted as ``tunnelled``, as is a tunnel whose payload we cannot read
(an unknown GRE protocol, ERSPAN carrying something else than Ethernet, EtherIP, L2TPv3).
A tunnel whose inner packet is IP but not TCP is ``not_tcp``, not IP at all ``not_ip``.
"""

from __future__ import annotations

import numpy as np

from pcapline.decode.gre import gre_payload
from pcapline.decode.headers import FrameCursor
from pcapline.decode.ip import NetworkLayer
from pcapline.decode.link import ETH_IPV4, ETH_IPV6, SHIM_TYPES, ethernet_frames, unwrap
from pcapline.decode.udp_tunnels import udp_payload
from pcapline.model import SkipReason

#: IP protocol numbers of the tunnels opened here.
IPV4_IN_IP, IPV6_IN_IP, GRE, UDP = 4, 41, 47, 17
#: EtherType of "an Ethernet frame follows" (GRE transparent Ethernet bridging, RFC 1701).
TRANSPARENT_ETHERNET = 0x6558
#: Tunnels inside tunnels we follow; real networks nest two or three (VXLAN over GRE over
#: IPsec-less IPv6...), more is a loop or a crafted packet.
MAX_TUNNEL_DEPTH = 4


def open_tunnels(
    cur: FrameCursor,
    net: NetworkLayer,
    l3: np.ndarray,
    etype: np.ndarray,
    idx: np.ndarray,
    *,
    too_deep: bool = False,
) -> np.ndarray:
    """Frames of ``idx`` (their IP header just decoded into ``net``) that carry a tunnel:
    point ``l3``/``etype`` at the inner packet and return them (alive) for the IP layer.
    With ``too_deep`` they are counted as tunnelled instead."""
    idx = cur.alive(idx)
    idx = idx[net.l4[idx] >= 0]
    if not idx.size:  # nothing to open (every frame the compiled core's, or no IP)
        return idx
    proto = net.protocol[idx]
    ipip = idx[proto == IPV4_IN_IP]
    etype[ipip] = ETH_IPV4
    ip6 = idx[proto == IPV6_IN_IP]
    etype[ip6] = ETH_IPV6
    direct = np.concatenate([ipip, ip6])
    l3[direct] = net.l4[direct]
    gre = idx[proto == GRE]
    gre = gre_payload(cur, gre, net.l4[gre], l3, etype)
    udp = idx[proto == UDP]
    udp = udp_payload(cur, udp, net.l4[udp], l3, etype)
    inner = cur.alive(np.sort(np.concatenate([direct, gre, udp])))
    if too_deep:
        cur.skip(inner, SkipReason.TUNNELLED)
        return inner[:0]
    # The inner packet ends where the outer payload does (not at the Ethernet padding).
    cur.wire_end[inner] = np.minimum(cur.wire_end[inner], net.l4[inner] + net.l4_len[inner])
    eth = inner[etype[inner] == TRANSPARENT_ETHERNET]
    ethernet_frames(cur, eth, l3, l3, etype)
    inner = cur.alive(inner)
    known = np.isin(etype[inner], (ETH_IPV4, ETH_IPV6, *SHIM_TYPES))
    # Behind Ethernet, anything is a frame of its own (ARP...: not_ip); straight in a tunnel,
    # a payload that is not IP, MPLS... is one we do not read.
    cur.skip(inner[~known & ~np.isin(inner, eth)], SkipReason.TUNNELLED)
    inner = cur.alive(inner)
    unwrap(cur, inner, l3, etype)
    out: np.ndarray = cur.alive(inner)
    return out
