"""Link layers -> position of the network header and its EtherType.

Supported (LINKTYPE_* numbers as in pcap headers / pcapng IDBs):

* EN10MB (1): Ethernet II, any stack of 802.1Q/802.1ad/QinQ tags, 802.1ah PBB I-TAGs,
  Cisco VN-Tags and FabricPath headers, PPPoE session, MPLS
* FDDI (10): FDDI MAC header, then LLC/SNAP
* NFLOG (239): Linux netfilter log (``tcpdump -i nflog``): the payload attribute
* LINUX_SLL (113, 16-byte header, ``tshark -i any``), LINUX_SLL2 (276, 20 bytes, ``tcpdump -i any``)
* RAW (101; 12 and 14 are DLT_RAW on some BSDs), IPV4 (228), IPV6 (229): IP version nibble
* NULL (0, AF in the writer's byte order) and LOOP (108, network order): BSD/macOS ``lo0``
* PPP (9), PPP_HDLC (50), Cisco HDLC (104)
* IEEE802_11 (105) and IEEE802_11_RADIOTAP (127): unprotected data frames (``wlan.py``)

Everything else is counted as ``unsupported_link``. Tunnels that carry a whole Ethernet
frame (VXLAN, Geneve, GRE transparent bridging, ERSPAN) come back here through
``ethernet_frames`` and ``unwrap`` (``tunnels.py``).
"""

from __future__ import annotations

import numpy as np

from pcapline.decode.headers import (
    BsdLoopback,
    CiscoHdlc,
    Ethernet,
    FabricPath,
    Fddi,
    FrameCursor,
    Ipv4,
    LinuxSll,
    LinuxSll2,
    LlcSnap,
    MplsLabel,
    Nflog,
    NflogTlv,
    PbbItag,
    PppoeSession,
    VlanTag,
    VnTag,
    be16,
    is_snap,
    read,
    u8,
)
from pcapline.decode.wlan import IEEE802_11, RADIOTAP, wlan_layer
from pcapline.model import SkipReason

ETH_IPV4, ETH_IPV6 = 0x0800, 0x86DD
#: 802.1Q, 802.1ad, and the pre-standard QinQ TPIDs (Cisco/Juniper): 4-byte tags.
VLAN_TPIDS = (0x8100, 0x88A8, 0x9100, 0x9200, 0x9300)
PPPOE_SESSION = 0x8864
ETH_MAX_LENGTH = 1500  # type/length field values up to this are 802.3 lengths
MPLS_TYPES = (0x8847, 0x8848)
PPP_IPV4, PPP_IPV6, PPP_MPLS, PPP_MPLS_MC = 0x0021, 0x0057, 0x0281, 0x0283
#: 802.1ah I-TAG, Cisco VN-Tag and Cisco FabricPath EtherTypes.
PBB_ITAG, VN_TAG, FABRICPATH = 0x88E7, 0x8926, 0x8903
#: What ``unwrap`` peels (each followed by another EtherType) before the network layer.
SHIM_TYPES = (*VLAN_TPIDS, PPPOE_SESSION, *MPLS_TYPES, PBB_ITAG, VN_TAG, FABRICPATH)

LINKTYPE_NAMES: dict[int, str] = {
    0: "NULL",
    1: "EN10MB",
    9: "PPP",
    10: "FDDI",
    239: "NFLOG",
    50: "PPP_HDLC",
    104: "C_HDLC",
    12: "RAW",
    14: "RAW",
    101: "RAW",
    105: "IEEE802_11",
    108: "LOOP",
    113: "LINUX_SLL",
    127: "IEEE802_11_RADIOTAP",
    228: "IPV4",
    229: "IPV6",
    276: "LINUX_SLL2",
}
ETHERNET, SLL, SLL2, NULL, LOOP, C_HDLC, FDDI, NFLOG = 1, 113, 276, 0, 108, 104, 10, 239
NFULA_PAYLOAD = 9
#: Linux address families in the NFLOG header.
NFLOG_FAMILIES = {2: ETH_IPV4, 10: ETH_IPV6}
#: NFLOG attributes we step over looking for the payload (a packet has about a dozen).
MAX_NFLOG_TLVS = 32
#: PPP (9) and PPP in HDLC-like framing (50), as pppd/tcpdump on ppp0 write them.
PPP_TYPES = (9, 50)
RAW_TYPES = (12, 14, 101, 228, 229)
LINKTYPE_RAW = 101
#: BSD address families for IPv6 differ by OS: 24 (NetBSD/OpenBSD), 28 (FreeBSD), 30 (macOS).
AF_INET, AF_INET6 = (2,), (24, 28, 30)
#: Most nested tags/labels we follow; deeper stacks are not real traffic.
MAX_ENCAPS = 8


def linktype_name(link_type: int) -> str:
    return LINKTYPE_NAMES.get(int(link_type), f"LINKTYPE_{int(link_type)}")


def link_layer(
    cur: FrameCursor, start: np.ndarray, link_type: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Network-layer position and EtherType per frame (-1/0 where unknown or skipped)."""
    n = start.shape[0]
    l3 = np.full(n, -1, dtype=np.int64)
    etype = np.zeros(n, dtype=np.uint16)
    alive = cur.alive_frames()
    if not alive.size:  # the compiled core decoded every frame: ~30 numpy calls saved
        return l3, etype
    lt = link_type[alive]

    eth = ethernet_frames(cur, alive[lt == ETHERNET], start, l3, etype)

    fddi = alive[lt == FDDI]
    ok = cur.need(fddi, start[fddi], Fddi.SIZE)
    fddi = fddi[ok]
    l3[fddi] = start[fddi] + Fddi.SIZE
    _llc_snap(cur, fddi, l3, etype)  # FDDI has no EtherType: always LLC

    sll = alive[lt == SLL]
    ok = cur.need(sll, start[sll], LinuxSll.SIZE)
    sll = sll[ok]
    l3[sll] = start[sll] + LinuxSll.SIZE
    etype[sll] = read(cur.data, start[sll], LinuxSll.protocol)

    sll2 = alive[lt == SLL2]
    ok = cur.need(sll2, start[sll2], LinuxSll2.SIZE)
    sll2 = sll2[ok]
    l3[sll2] = start[sll2] + LinuxSll2.SIZE
    etype[sll2] = read(cur.data, start[sll2], LinuxSll2.protocol)

    raw = alive[np.isin(lt, RAW_TYPES)]
    ip_by_version(cur, raw, start[raw], l3, etype)

    null = alive[(lt == NULL) | (lt == LOOP)]
    ok = cur.need(null, start[null], BsdLoopback.SIZE)
    null = null[ok]
    v_le = read(cur.data, start[null], BsdLoopback.family.other_byte_order())
    v_be = read(cur.data, start[null], BsdLoopback.family)
    # The AF is a 32-bit integer in the writer's byte order (NULL) or network order (LOOP);
    # real AF values are small, so the reading with zero upper bytes is the right one.
    af = np.where(v_le <= 0xFFFF, v_le, v_be)
    l3[null] = start[null] + BsdLoopback.SIZE
    etype[null] = np.where(
        np.isin(af, AF_INET), ETH_IPV4, np.where(np.isin(af, AF_INET6), ETH_IPV6, 0)
    )

    chdlc = alive[lt == C_HDLC]
    ok = cur.need(chdlc, start[chdlc], CiscoHdlc.SIZE)
    chdlc = chdlc[ok]
    l3[chdlc] = start[chdlc] + CiscoHdlc.SIZE
    etype[chdlc] = read(cur.data, start[chdlc], CiscoHdlc.protocol)

    ppp = ppp_frames(cur, alive[np.isin(lt, PPP_TYPES)], start, l3, etype)

    _nflog(cur, alive[lt == NFLOG], start, l3, etype)

    wlan = wlan_layer(cur, alive[np.isin(lt, (IEEE802_11, RADIOTAP))], start, link_type, l3, etype)

    known = np.isin(
        lt,
        (
            ETHERNET,
            FDDI,
            NFLOG,
            SLL,
            SLL2,
            NULL,
            LOOP,
            C_HDLC,
            IEEE802_11,
            RADIOTAP,
            *PPP_TYPES,
            *RAW_TYPES,
        ),
    )
    cur.skip(alive[~known], SkipReason.UNSUPPORTED_LINK)

    unwrap(cur, cur.alive(np.concatenate([eth, fddi, sll, sll2, chdlc, ppp, wlan])), l3, etype)
    return l3, etype


def ethernet_frames(
    cur: FrameCursor, idx: np.ndarray, pos: np.ndarray, l3: np.ndarray, etype: np.ndarray
) -> np.ndarray:
    """Ethernet frames of ``idx`` starting at ``pos[idx]``: set the EtherType (after LLC/SNAP
    for an 802.3 length) and where its payload starts; returns the frames that had a header.
    Tags and shims behind it are left to ``unwrap``."""
    ok = cur.need(idx, pos[idx], Ethernet.SIZE)
    idx = idx[ok]
    at = pos[idx]
    etype[idx] = read(cur.data, at, Ethernet.ethertype)
    l3[idx] = at + Ethernet.SIZE
    _llc_snap(cur, idx[etype[idx] <= ETH_MAX_LENGTH], l3, etype)
    return idx


def _nflog(
    cur: FrameCursor, idx: np.ndarray, start: np.ndarray, l3: np.ndarray, etype: np.ndarray
) -> None:
    """NFLOG: walk the attributes (4-byte aligned) to the payload one; its value is the IP
    packet of the family the header names. A frame without one is not IP."""
    ok = cur.need(idx, start[idx], Nflog.SIZE)
    idx = idx[ok]
    family = read(cur.data, start[idx], Nflog.family)
    at = start[idx] + Nflog.SIZE
    for _ in range(MAX_NFLOG_TLVS):
        fits = at + NflogTlv.SIZE <= cur.end[idx]
        cur.skip(idx[~fits], SkipReason.NOT_IP)  # attributes ran out: no packet
        idx, at, family = idx[fits], at[fits], family[fits]
        length = read(cur.data, at, NflogTlv.length).astype(np.int64)
        payload = read(cur.data, at, NflogTlv.type) == NFULA_PAYLOAD
        bad = length < NflogTlv.SIZE
        cur.skip(idx[bad & ~payload], SkipReason.MALFORMED)
        found = idx[payload]
        l3[found] = at[payload] + NflogTlv.SIZE
        etype[found] = _nflog_ethertype(family[payload])
        more = ~payload & ~bad
        idx, at, family = idx[more], (at + ((length + 3) & ~3))[more], family[more]
        if not idx.size:
            return
    cur.skip(idx, SkipReason.MALFORMED)


def _nflog_ethertype(family: np.ndarray) -> np.ndarray:
    out = np.zeros(family.shape[0], np.uint16)
    for af, ether in NFLOG_FAMILIES.items():
        out[family == af] = ether
    return out


def _llc_snap(cur: FrameCursor, idx: np.ndarray, l3: np.ndarray, etype: np.ndarray) -> None:
    """IEEE 802.3 frames (a length, not an EtherType): IP only behind LLC SNAP
    (AA AA 03, 3-byte OUI, then the EtherType); other LLC payloads are not IP."""
    snap = np.zeros(idx.shape[0], bool)
    fits = l3[idx] + LlcSnap.SIZE <= cur.end[idx]
    snap[fits] = is_snap(cur.data, l3[idx[fits]])
    etype[idx[~snap]] = 0
    idx = idx[snap]
    etype[idx] = read(cur.data, l3[idx], LlcSnap.ethertype)
    l3[idx] += LlcSnap.SIZE


def ppp_frames(
    cur: FrameCursor, idx: np.ndarray, start: np.ndarray, l3: np.ndarray, etype: np.ndarray
) -> np.ndarray:
    """PPP frames of ``idx`` starting at ``start[idx]`` (a link type, or PPTP's GRE payload):
    optional FF 03 (address, control), then the protocol: 2 bytes, or 1 when
    compressed (odd first byte, RFC 1661 protocol-field compression)."""
    pos = start[idx]
    ok = cur.need(idx, pos, 4)
    idx, pos = idx[ok], pos[ok]
    pos = np.where(be16(cur.data, pos) == 0xFF03, pos + 2, pos)
    first = u8(cur.data, pos)
    compressed = (first & 1) == 1
    proto = np.where(compressed, first.astype(np.uint16), be16(cur.data, pos))
    l3[idx] = pos + np.where(compressed, 1, 2)
    etype[idx] = _ppp_ethertype(proto)
    return idx


def _ppp_ethertype(proto: np.ndarray) -> np.ndarray:
    """PPP protocol numbers -> EtherTypes (IPv4, IPv6, MPLS unicast/multicast; else 0)."""
    out = np.zeros(proto.shape[0], np.uint16)
    for ppp, ether in (
        (PPP_IPV4, ETH_IPV4),
        (PPP_IPV6, ETH_IPV6),
        (PPP_MPLS, MPLS_TYPES[0]),
        (PPP_MPLS_MC, MPLS_TYPES[1]),
    ):
        out[proto == ppp] = ether
    return out


def ip_by_version(
    cur: FrameCursor, idx: np.ndarray, pos: np.ndarray, l3: np.ndarray, etype: np.ndarray
) -> None:
    """Raw IP (no link header) at ``pos`` (one per ``idx``): the version nibble says IPv4
    or IPv6 (EtherType 0 otherwise: ``not_ip``)."""
    ok = cur.need(idx, pos, 1)
    idx, pos = idx[ok], pos[ok]
    version = read(cur.data, pos, Ipv4.version)  # the same nibble in IPv6
    l3[idx] = pos
    etype[idx] = np.where(version == 4, ETH_IPV4, np.where(version == 6, ETH_IPV6, 0))


def unwrap(cur: FrameCursor, idx: np.ndarray, l3: np.ndarray, etype: np.ndarray) -> None:
    """Peel VLAN tags, PBB I-TAGs, VN-Tags, FabricPath headers, PPPoE and MPLS until an
    EtherType for IP (or something else) shows."""
    for _ in range(MAX_ENCAPS):
        et = etype[idx]
        if not np.isin(et, SHIM_TYPES).any():
            return
        # Fixed shims: a header of known size whose last two bytes are the next EtherType.
        fixed = []
        for types, size, next_type in (
            (VLAN_TPIDS, VlanTag.SIZE, VlanTag.ethertype),  # 802.1Q tag: TCI, EtherType
            ((PBB_ITAG,), PbbItag.SIZE, PbbItag.ethertype),  # I-TAG, customer MACs, EtherType
            ((VN_TAG,), VnTag.SIZE, VnTag.ethertype),  # VN-Tag (4 bytes), EtherType
            ((FABRICPATH,), FabricPath.SIZE, FabricPath.ethertype),  # FTag/TTL, MACs, EtherType
        ):
            shim = idx[np.isin(et, types)]
            ok = cur.need(shim, l3[shim], size)
            shim = shim[ok]
            etype[shim] = read(cur.data, l3[shim], next_type)
            l3[shim] += size
            fixed.append(shim)
        pppoe = idx[et == PPPOE_SESSION]
        mpls = idx[np.isin(et, MPLS_TYPES)]
        # PPPoE session: 6-byte PPPoE header, then the 2-byte PPP protocol.
        ok = cur.need(pppoe, l3[pppoe], PppoeSession.SIZE)
        pppoe = pppoe[ok]
        proto = read(cur.data, l3[pppoe], PppoeSession.ppp_protocol)
        etype[pppoe] = _ppp_ethertype(proto)
        # The PPPoE length ends the PPP payload: bytes after it are the Ethernet frame's
        # padding (a 60-byte minimum), never part of the datagram, whatever the inner IP length
        # claims (Wireshark bounds the datagram the same way; a tunnel's outer length does too).
        length = read(cur.data, l3[pppoe], PppoeSession.length).astype(np.int64)
        said = pppoe[length > 0]
        ends = l3[said] + (PppoeSession.SIZE - 2) + length[length > 0]
        cur.wire_end[said] = np.minimum(cur.wire_end[said], ends)
        l3[pppoe] += PppoeSession.SIZE
        # MPLS: 4-byte label entries until the bottom-of-stack bit; IP version nibble after.
        ok = cur.need(mpls, l3[mpls], MplsLabel.SIZE)
        mpls = mpls[ok]
        bottom = read(cur.data, l3[mpls], MplsLabel.bottom_of_stack).astype(bool)
        l3[mpls] += MplsLabel.SIZE
        done = mpls[bottom]
        ip_by_version(cur, done, l3[done], l3, etype)
        idx = cur.alive(np.concatenate([*fixed, pppoe, done]))
        idx = idx[np.isin(etype[idx], SHIM_TYPES)]
        # MPLS entries that are not bottom-of-stack keep their EtherType and loop again.
        idx = np.concatenate([idx, mpls[~bottom]])
    cur.skip(idx, SkipReason.MALFORMED)
