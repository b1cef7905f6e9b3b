"""Header fields as tables, and the vectorised byte gathers every decoder uses.

Each header we read is a ``Header`` subclass below: its ``Field``s in wire order, each with
its offset and width in bytes, the bits that belong to it (``mask``, then ``shift`` right)
and what it means. The tables are data, not objects per packet: a decoder holds an index
array ``idx`` (the frames still alive at its layer) and a matching array of absolute header
positions inside ``Capture.data``, and ``read(data, pos, Tcp.seq)`` cuts that field out of
all those frames at once (one fancy-indexing gather per byte), or ``Block`` gathers a fixed
header of every frame once and slices fields out of it. Callers guarantee
``pos + Header.SIZE <= end`` of the captured bytes before reading (``FrameCursor.need``), so
a gather never reads past a frame (and never past the buffer).

Fields are big-endian (network order) unless marked ``little_endian`` (radiotap, 802.11).
Fields 6 or 16 bytes wide (MAC addresses, the pad of a generic extension header) are in the
tables for completeness; nothing reads them. Layouts whose fields move (PPP with and without
address/control, the radiotap present-word chain, IPv6 extension header chains) are walked
in their decoder with the primitive gathers ``u8``/``be16``/``le32``... and a comment.

Order of the tables: link layers (``link.py``, ``wlan.py``), then IP (``ip.py``), then TCP
(``tcp.py``), then the tunnel headers (``tunnels.py``, ``gre.py``, ``udp_tunnels.py``); TCP
options are a kind/length list, decoded in ``options.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import ClassVar

import numpy as np

from pcapline.model import SkipReason
from pcapline.read.capture import gather_rows

#: Skip reasons as small integer codes (0 = still alive); decode turns them back into names.
REASON_CODES: dict[SkipReason, int] = {reason: i + 1 for i, reason in enumerate(SkipReason)}
ALIVE = 0


# --------------------------------------------------------------------- primitive gathers


def u8(data: np.ndarray, pos: np.ndarray) -> np.ndarray:
    out: np.ndarray = data[pos]
    return out


def be16(data: np.ndarray, pos: np.ndarray) -> np.ndarray:
    out: np.ndarray = (data[pos].astype(np.uint16) << 8) | data[pos + 1]
    return out


def le16(data: np.ndarray, pos: np.ndarray) -> np.ndarray:
    out: np.ndarray = (data[pos + 1].astype(np.uint16) << 8) | data[pos]
    return out


def be32(data: np.ndarray, pos: np.ndarray) -> np.ndarray:
    out: np.ndarray = (be16(data, pos).astype(np.uint32) << 16) | be16(data, pos + 2)
    return out


def le32(data: np.ndarray, pos: np.ndarray) -> np.ndarray:
    out: np.ndarray = (le16(data, pos + 2).astype(np.uint32) << 16) | le16(data, pos)
    return out


def be64(data: np.ndarray, pos: np.ndarray) -> np.ndarray:
    out: np.ndarray = (be32(data, pos).astype(np.uint64) << np.uint64(32)) | be32(data, pos + 4)
    return out


_GATHERS: dict[tuple[int, bool], Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    (1, False): u8,
    (1, True): u8,
    (2, False): be16,
    (2, True): le16,
    (4, False): be32,
    (4, True): le32,
    (8, False): be64,
}


# --------------------------------------------------------------------- tables


@dataclass(frozen=True, slots=True)
class Field:
    """One header field: ``width`` bytes at ``offset``, of which the bits in ``mask`` (all
    when None) belong to it, shifted right by ``shift``. Its name is the attribute name."""

    offset: int
    width: int
    mask: int | None = None
    shift: int = 0
    doc: str = ""
    little_endian: bool = False
    name: str = field(default="", compare=False)
    #: The mask clears bits the shift does not already drop (else it is skipped: hot path).
    _masks: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        top = ((1 << 8 * self.width) - 1) >> self.shift << self.shift
        object.__setattr__(self, "_masks", self.mask is not None and self.mask != top)

    def __set_name__(self, owner: type, name: str) -> None:
        object.__setattr__(self, "name", name)

    def cut(self, raw: np.ndarray) -> np.ndarray:
        """The field's value out of the ``width`` bytes read at ``offset``."""
        if self._masks:
            raw = raw & self.mask
        if self.shift:
            raw = raw >> self.shift
        return raw

    def other_byte_order(self) -> Field:
        """The same bytes read in the other byte order (BSD loopback's address family)."""
        return replace(self, little_endian=not self.little_endian)


class Header:
    """A fixed header layout: subclasses list their ``Field``s in wire order as class
    attributes and set ``SIZE`` (bytes a frame must have captured to read any field)."""

    SIZE: ClassVar[int]

    @classmethod
    def fields(cls) -> tuple[Field, ...]:
        return tuple(v for v in vars(cls).values() if isinstance(v, Field))


def read(data: np.ndarray, pos: np.ndarray, f: Field) -> np.ndarray:
    """Field ``f`` of the headers starting at ``pos`` (one gather per byte)."""
    gather = _GATHERS.get((f.width, f.little_endian))
    if gather is None:
        raise ValueError(f"field {f.name} ({f.width} bytes) is documentation only")
    return f.cut(gather(data, pos + f.offset))


#: The native unsigned type a big-endian field of each width is converted to (what the
#: byte-by-byte gathers above produce).
_NATIVE: dict[int, type] = {2: np.uint16, 4: np.uint32, 8: np.uint64}


class Block:
    """The fixed header ``header`` of many frames, gathered once; network-order fields are
    sliced out of it column by column."""

    def __init__(self, data: np.ndarray, pos: np.ndarray, header: type[Header]) -> None:
        self.rows = np.ascontiguousarray(gather_rows(data, pos, header.SIZE))

    def keep(self, mask: np.ndarray) -> Block:
        """The headers where ``mask`` holds (this block itself when it holds for all)."""
        if mask.all():
            return self
        kept = object.__new__(Block)
        kept.rows = self.rows[mask]
        return kept

    def read(self, f: Field) -> np.ndarray:
        if f.little_endian and f.width > 1:
            raise ValueError(f"Block reads network-order fields only ({f.name})")
        if f.width == 1:
            raw: np.ndarray = self.rows[:, f.offset]
        elif f.width in _NATIVE and f.offset % f.width == 0 and self.rows.shape[1] % f.width == 0:
            # A naturally aligned field (every IP and TCP field is): the gathered rows seen as
            # big-endian words, that one column converted to native order in a single pass
            # (instead of a gather, a widening, a shift and an OR per byte).
            words = self.rows.view(f">u{f.width}")
            raw = words[:, f.offset // f.width].astype(_NATIVE[f.width])
        elif f.width == 2:
            raw = self._be16(f.offset)
        elif f.width == 4:
            raw = self._be32(f.offset)
        elif f.width == 8:
            raw = (self._be32(f.offset).astype(np.uint64) << np.uint64(32)) | self._be32(
                f.offset + 4
            )
        else:
            raise ValueError(f"field {f.name} ({f.width} bytes) is documentation only")
        return f.cut(raw)

    def _be16(self, at: int) -> np.ndarray:
        out: np.ndarray = (self.rows[:, at].astype(np.uint16) << 8) | self.rows[:, at + 1]
        return out

    def _be32(self, at: int) -> np.ndarray:
        out: np.ndarray = (self._be16(at).astype(np.uint32) << 16) | self._be16(at + 2)
        return out


# Link layers ------------------------------------------------------------------------------


class Ethernet(Header):
    """Ethernet II / IEEE 802.3 MAC header (LINKTYPE_EN10MB)."""

    SIZE = 14
    dst = Field(0, 6, doc="destination MAC")
    src = Field(6, 6, doc="source MAC")
    ethertype = Field(12, 2, doc="EtherType; a value <= 1500 is an 802.3 length (LLC follows)")


class LlcSnap(Header):
    """IEEE 802.2 LLC with a SNAP header (RFC 1042): how 802.3 and 802.11 carry IP."""

    SIZE = 8
    dsap_ssap = Field(0, 2, doc="0xAAAA: SNAP")
    control = Field(2, 1, doc="0x03: unnumbered information")
    oui = Field(3, 3, doc="organisation code, 0 for an encapsulated EtherType")
    ethertype = Field(6, 2, doc="EtherType of the payload")


def is_snap(data: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """The LLC header at ``pos`` is SNAP (AA AA 03): an EtherType follows the OUI."""
    snap: np.ndarray = (read(data, pos, LlcSnap.dsap_ssap) == 0xAAAA) & (
        read(data, pos, LlcSnap.control) == 0x03
    )
    return snap


class LinuxSll(Header):
    """Linux cooked capture v1 (LINKTYPE_LINUX_SLL, ``tshark -i any``)."""

    SIZE = 16
    packet_type = Field(0, 2, doc="to us, broadcast, multicast, to another host, outgoing")
    arphrd = Field(2, 2, doc="ARPHRD_ device type")
    address_length = Field(4, 2, doc="link-layer address length")
    address = Field(6, 8, doc="link-layer address, zero-padded to 8 bytes")
    protocol = Field(14, 2, doc="EtherType")


class LinuxSll2(Header):
    """Linux cooked capture v2 (LINKTYPE_LINUX_SLL2, ``tcpdump -i any``)."""

    SIZE = 20
    protocol = Field(0, 2, doc="EtherType")
    reserved = Field(2, 2, doc="zero")
    ifindex = Field(4, 4, doc="interface index")
    arphrd = Field(8, 2, doc="ARPHRD_ device type")
    packet_type = Field(10, 1, doc="to us, broadcast, multicast, to another host, outgoing")
    address_length = Field(11, 1, doc="link-layer address length")
    address = Field(12, 8, doc="link-layer address, zero-padded to 8 bytes")


class BsdLoopback(Header):
    """BSD loopback (LINKTYPE_NULL: family in the writer's byte order; LINKTYPE_LOOP:
    network order). Real AF_ values are small, which tells the two byte orders apart."""

    SIZE = 4
    family = Field(0, 4, doc="AF_INET (2) or AF_INET6 (24, 28 or 30, by OS)")


class CiscoHdlc(Header):
    """Cisco HDLC (LINKTYPE_C_HDLC)."""

    SIZE = 4
    address = Field(0, 1, doc="0x0F unicast, 0x8F broadcast")
    control = Field(1, 1, doc="0")
    protocol = Field(2, 2, doc="EtherType")


class VlanTag(Header):
    """An 802.1Q / 802.1ad tag, after the TPID that announced it."""

    SIZE = 4
    priority = Field(0, 2, 0xE000, 13, doc="PCP")
    drop_eligible = Field(0, 2, 0x1000, 12, doc="DEI")
    vlan_id = Field(0, 2, 0x0FFF, doc="VID")
    ethertype = Field(2, 2, doc="inner EtherType (or the next tag's TPID)")


class PppoeSession(Header):
    """PPPoE session header (RFC 2516) and the PPP protocol field that follows it."""

    SIZE = 8
    version_type = Field(0, 1, doc="0x11")
    code = Field(1, 1, doc="0 for session data")
    session_id = Field(2, 2, doc="session id")
    length = Field(4, 2, doc="PPP payload length")
    ppp_protocol = Field(6, 2, doc="PPP protocol number (0x0021 IPv4, 0x0057 IPv6...)")


class MplsLabel(Header):
    """One MPLS label stack entry (RFC 3032); IP follows the bottom-of-stack entry."""

    SIZE = 4
    label = Field(0, 4, 0xFFFFF000, 12, doc="label value")
    traffic_class = Field(0, 4, 0x00000E00, 9, doc="TC (was EXP)")
    bottom_of_stack = Field(0, 4, 0x00000100, 8, doc="1 on the last entry")
    ttl = Field(0, 4, 0x000000FF, doc="TTL")


class Fddi(Header):
    """FDDI MAC header (LINKTYPE_FDDI); an 802.2 LLC header follows (IP behind SNAP)."""

    SIZE = 13
    frame_control = Field(0, 1, doc="frame class and type (0x50-0x57: LLC frames)")
    dst = Field(1, 6, doc="destination MAC (bit-swapped on some writers)")
    src = Field(7, 6, doc="source MAC")


class PbbItag(Header):
    """802.1ah provider backbone bridging: the I-TAG after its TPID 0x88E7, then the
    customer's MAC addresses and EtherType (a customer VLAN tag may follow)."""

    SIZE = 18
    priority = Field(0, 1, 0xE0, 5, doc="I-PCP")
    drop_eligible = Field(0, 1, 0x10, 4, doc="I-DEI")
    use_customer_address = Field(0, 1, 0x08, 3, doc="UCA")
    reserved = Field(0, 1, 0x07, doc="zero")
    isid = Field(1, 3, doc="backbone service instance id (I-SID)")
    customer_dst = Field(4, 6, doc="customer destination MAC")
    customer_src = Field(10, 6, doc="customer source MAC")
    ethertype = Field(16, 2, doc="EtherType of the customer frame")


class VnTag(Header):
    """Cisco VN-Tag (802.1Qbh precursor) after its TPID 0x8926."""

    SIZE = 6
    direction = Field(0, 2, 0x8000, 15, doc="d: 1 from the bridge to the interface")
    pointer = Field(0, 2, 0x4000, 14, doc="p: dst_vif is a list pointer")
    dst_vif = Field(0, 2, 0x3FFF, doc="destination virtual interface")
    looped = Field(2, 2, 0x8000, 15, doc="l: the frame returns to its source")
    reserved = Field(2, 2, 0x4000, 14, doc="zero")
    version = Field(2, 2, 0x3000, 12, doc="0")
    src_vif = Field(2, 2, 0x0FFF, doc="source virtual interface")
    ethertype = Field(4, 2, doc="EtherType of the payload (or a VLAN TPID)")


class FabricPath(Header):
    """Cisco FabricPath: after the outer MACs and EtherType 0x8903, the FTag/TTL word and
    the classic Ethernet frame's own MAC addresses and EtherType."""

    SIZE = 16
    ftag = Field(0, 2, 0xFFC0, 6, doc="forwarding tag (multidestination tree)")
    ttl = Field(0, 2, 0x003F, doc="hop limit inside the fabric")
    inner_dst = Field(2, 6, doc="classic Ethernet destination MAC")
    inner_src = Field(8, 6, doc="classic Ethernet source MAC")
    ethertype = Field(14, 2, doc="EtherType of the classic Ethernet frame")


class Nflog(Header):
    """Linux NFLOG header (LINKTYPE_NFLOG); type-length-value attributes follow, each
    length (of type, length and value) and type in the writer's byte order (little-endian
    here, as x86 and ARM hosts write them) and padded to 4 bytes. Type 9 is the packet."""

    SIZE = 4
    family = Field(0, 1, doc="AF_INET (2) or AF_INET6 (10)")
    version = Field(1, 1, doc="0")
    resource_id = Field(2, 2, doc="the nflog group")


class NflogTlv(Header):
    """One NFLOG attribute header; the value follows."""

    SIZE = 4
    length = Field(0, 2, little_endian=True, doc="bytes of header + value (before padding)")
    type = Field(2, 2, little_endian=True, doc="9 = NFULA_PAYLOAD, the packet")


class Radiotap(Header):
    """Radiotap header (LINKTYPE_IEEE802_11_RADIOTAP), little-endian; fields follow the
    chain of present words (bit 31: another word follows)."""

    SIZE = 8
    version = Field(0, 1, doc="0")
    pad = Field(1, 1, doc="0")
    length = Field(2, 2, little_endian=True, doc="whole radiotap header; the 802.11 frame follows")
    present = Field(4, 4, little_endian=True, doc="first present bitmap word")


class Dot11(Header):
    """IEEE 802.11 MAC header, the 24 bytes every data frame has. A fourth address (6 bytes)
    follows with both DS bits set, QoS control (2) on QoS data, HT control (4) on a QoS
    frame with the Order bit; then LLC/SNAP."""

    SIZE = 24
    subtype = Field(0, 1, 0xF0, 4, doc="bit 2 set: no payload (null data); bit 3: QoS")
    type = Field(0, 1, 0x0C, 2, doc="2 = data")
    protocol_version = Field(0, 1, 0x03, doc="0")
    flags = Field(1, 1, doc="To DS / From DS (0x03), Protected (0x40), Order (0x80)")
    duration = Field(2, 2, little_endian=True, doc="duration / AID")
    address1 = Field(4, 6, doc="receiver")
    address2 = Field(10, 6, doc="transmitter")
    address3 = Field(16, 6, doc="BSSID, source or destination (by DS bits)")
    sequence_control = Field(22, 2, little_endian=True, doc="fragment and sequence number")


# IP -----------------------------------------------------------------------------------------


class Ipv4(Header):
    """IPv4 header (RFC 791 3.1); options follow up to ``ihl`` * 4 bytes."""

    SIZE = 20
    version = Field(0, 1, 0xF0, 4, doc="4")
    ihl = Field(0, 1, 0x0F, doc="header length in 32-bit words (5..15)")
    tos = Field(1, 1, doc="DSCP and ECN")
    total_length = Field(2, 2, doc="header + payload bytes; 0 from TSO/GSO on the sender")
    identification = Field(4, 2, doc="IP ID: tells a resent datagram from a captured copy")
    reserved_flag = Field(6, 2, 0x8000, 15, doc="zero")
    dont_fragment = Field(6, 2, 0x4000, 14, doc="DF")
    fragment = Field(6, 2, 0x3FFF, doc="MF flag and 13-bit offset: non-zero in every fragment")
    ttl = Field(8, 1, doc="time to live")
    protocol = Field(9, 1, doc="6 = TCP")
    checksum = Field(10, 2, doc="not verified")
    src = Field(12, 4, doc="source address")
    dst = Field(16, 4, doc="destination address")


class Ipv6(Header):
    """IPv6 fixed header (RFC 8200 3); extension headers may follow."""

    SIZE = 40
    version = Field(0, 4, 0xF0000000, 28, doc="6")
    traffic_class = Field(0, 4, 0x0FF00000, 20, doc="DSCP and ECN")
    flow_label = Field(0, 4, 0x000FFFFF, doc="flow label")
    payload_length = Field(4, 2, doc="bytes after this header; 0 with a jumbogram or TSO")
    next_header = Field(6, 1, doc="6 = TCP, else an extension header or another protocol")
    hop_limit = Field(7, 1, doc="TTL")
    src_hi = Field(8, 8, doc="source address, high 64 bits")
    src_lo = Field(16, 8, doc="source address, low 64 bits")
    dst_hi = Field(24, 8, doc="destination address, high 64 bits")
    dst_lo = Field(32, 8, doc="destination address, low 64 bits")


class Ipv6Extension(Header):
    """The start every IPv6 extension header shares (RFC 8200 4.2)."""

    SIZE = 8
    next_header = Field(0, 1, doc="protocol of the header after this one")
    length = Field(1, 1, doc="8-byte units after the first 8 (AH: 4-byte units minus 2)")
    data = Field(2, 6, doc="options, routing data...")


class Ipv6Fragment(Header):
    """IPv6 fragment extension header (RFC 8200 4.5)."""

    SIZE = 8
    next_header = Field(0, 1, doc="protocol of the fragmented payload")
    reserved = Field(1, 1, doc="zero")
    fragment = Field(2, 2, 0xFFF9, doc="13-bit offset and M flag: both zero = atomic fragment")
    reserved_bits = Field(2, 2, 0x0006, 1, doc="zero")
    identification = Field(4, 4, doc="fragment identification")


# TCP ----------------------------------------------------------------------------------------


class Tcp(Header):
    """TCP fixed header (RFC 9293 3.1); options follow up to ``data_offset`` * 4 bytes."""

    SIZE = 20
    sport = Field(0, 2, doc="source port")
    dport = Field(2, 2, doc="destination port")
    seq = Field(4, 4, doc="sequence number of the first payload byte (or of the SYN/FIN)")
    ack = Field(8, 4, doc="next sequence number expected from the peer (when ACK is set)")
    data_offset = Field(12, 1, 0xF0, 4, doc="header length in 32-bit words (5..15)")
    reserved = Field(12, 2, 0x0E00, 9, doc="zero; dropped")
    flags = Field(12, 2, 0x01FF, doc="NS (RFC 3540, historic) CWR ECE URG ACK PSH RST SYN FIN")
    window = Field(14, 2, doc="receive window, unscaled (RFC 7323: << wscale except on SYN)")
    checksum = Field(16, 2, doc="not verified (offload leaves it wrong on the sender)")
    urgent = Field(18, 2, doc="urgent pointer")


# Tunnels (tunnels.py, gre.py, udp_tunnels.py) ---------------------------------------------


class Udp(Header):
    """UDP header (RFC 768): the carrier of VXLAN, Geneve, GTP-U, Teredo, AYIYA, GRE-in-UDP."""

    SIZE = 8
    sport = Field(0, 2, doc="source port")
    dport = Field(2, 2, doc="destination port")
    length = Field(4, 2, doc="header + payload bytes")
    checksum = Field(6, 2, doc="not verified")


class Gre(Header):
    """GRE base header (RFC 2784, keys and sequence numbers RFC 2890, enhanced GRE of PPTP
    RFC 2637 as version 1). Optional 4-byte words follow in this order: checksum+offset
    (C or R), key (K), sequence number (S), acknowledgment (A, version 1)."""

    SIZE = 4
    checksum_present = Field(0, 2, 0x8000, 15, doc="C")
    routing_present = Field(0, 2, 0x4000, 14, doc="R (RFC 1701 source routing: not decoded)")
    key_present = Field(0, 2, 0x2000, 13, doc="K")
    sequence_present = Field(0, 2, 0x1000, 12, doc="S (ERSPAN: set for type II, clear for I)")
    strict_route = Field(0, 2, 0x0800, 11, doc="s (RFC 1701)")
    recursion = Field(0, 2, 0x0700, 8, doc="recursion control (RFC 1701)")
    ack_present = Field(0, 2, 0x0080, 7, doc="A: acknowledgment number (version 1)")
    flags = Field(0, 2, 0x0078, 3, doc="zero")
    version = Field(0, 2, 0x0007, doc="0 = GRE, 1 = enhanced GRE (PPTP)")
    protocol = Field(2, 2, doc="EtherType of the payload (0x6558: an Ethernet frame)")


class ErspanII(Header):
    """ERSPAN type II header (GRE protocol 0x88BE with a sequence number): an Ethernet
    frame follows."""

    SIZE = 8
    version = Field(0, 2, 0xF000, 12, doc="1")
    vlan = Field(0, 2, 0x0FFF, doc="original VLAN")
    cos = Field(2, 2, 0xE000, 13, doc="class of service")
    encap_type = Field(2, 2, 0x1800, 11, doc="how the original VLAN was carried")
    truncated = Field(2, 2, 0x0400, 10, doc="the mirrored frame was cut")
    session_id = Field(2, 2, 0x03FF, doc="ERSPAN session")
    reserved = Field(4, 4, 0xFFF00000, 20, doc="zero")
    index = Field(4, 4, 0x000FFFFF, doc="port index")


class ErspanIII(Header):
    """ERSPAN type III header (GRE protocol 0x22EB); an 8-byte platform-specific subheader
    follows when ``optional`` is set, then the frame (Ethernet when ``frame_type`` is 0)."""

    SIZE = 12
    version = Field(0, 2, 0xF000, 12, doc="2")
    vlan = Field(0, 2, 0x0FFF, doc="original VLAN")
    cos = Field(2, 2, 0xE000, 13, doc="class of service")
    bso = Field(2, 2, 0x1800, 11, doc="bad/short/oversized frame")
    truncated = Field(2, 2, 0x0400, 10, doc="the mirrored frame was cut")
    session_id = Field(2, 2, 0x03FF, doc="ERSPAN session")
    timestamp = Field(4, 4, doc="timestamp, in units of ``granularity``")
    sgt = Field(8, 2, doc="security group tag")
    pdu = Field(10, 2, 0x8000, 15, doc="P: an Ethernet PDU")
    frame_type = Field(10, 2, 0x7C00, 10, doc="0 = Ethernet, 2 = IP")
    hardware_id = Field(10, 2, 0x03F0, 4, doc="hardware id")
    direction = Field(10, 2, 0x0008, 3, doc="0 ingress, 1 egress")
    granularity = Field(10, 2, 0x0006, 1, doc="timestamp granularity")
    optional = Field(10, 2, 0x0001, doc="O: an 8-byte platform-specific subheader follows")


class L2tpV2(Header):
    """L2TPv2 header flags (RFC 2661 3.1, UDP port 1701). Then: length (L), tunnel and
    session ids, Ns and Nr (S), offset size and padding (O); data messages carry PPP."""

    SIZE = 2
    is_control = Field(0, 2, 0x8000, 15, doc="T: a control message")
    has_length = Field(0, 2, 0x4000, 14, doc="L: the length field is present")
    reserved = Field(0, 2, 0x3000, 12, doc="zero")
    has_sequence = Field(0, 2, 0x0800, 11, doc="S: Ns and Nr are present")
    reserved2 = Field(0, 2, 0x0400, 10, doc="zero")
    has_offset = Field(0, 2, 0x0200, 9, doc="O: offset size (and padding) present")
    priority = Field(0, 2, 0x0100, 8, doc="P")
    reserved3 = Field(0, 2, 0x00F0, 4, doc="zero")
    version = Field(0, 2, 0x000F, doc="2")


class Vxlan(Header):
    """VXLAN header (RFC 7348, UDP port 4789): an Ethernet frame follows."""

    SIZE = 8
    flags = Field(0, 1, doc="0x08: the VNI is valid")
    reserved = Field(1, 3, doc="zero (group policy id in VXLAN-GBP)")
    vni = Field(4, 4, 0xFFFFFF00, 8, doc="VXLAN network identifier")
    reserved_low = Field(4, 4, 0x000000FF, doc="zero")


class Geneve(Header):
    """Geneve header (RFC 8926, UDP port 6081); ``option_length`` 4-byte words of options
    follow, then the payload named by ``protocol`` (0x6558: Ethernet)."""

    SIZE = 8
    version = Field(0, 1, 0xC0, 6, doc="0")
    option_length = Field(0, 1, 0x3F, doc="options length in 4-byte words")
    oam = Field(1, 1, 0x80, 7, doc="O: control packet")
    critical = Field(1, 1, 0x40, 6, doc="C: critical options present")
    reserved = Field(1, 1, 0x3F, doc="zero")
    protocol = Field(2, 2, doc="EtherType of the payload")
    vni = Field(4, 4, 0xFFFFFF00, 8, doc="virtual network identifier")
    reserved_low = Field(4, 4, 0x000000FF, doc="zero")


class GtpU(Header):
    """GTPv1-U header (3GPP TS 29.281, UDP port 2152). With any of E, S, PN set, the 4-byte
    ``GtpUOptional`` follows; each extension header then holds its length in 4-byte
    units in its first byte and the next extension type in its last."""

    SIZE = 8
    version = Field(0, 1, 0xE0, 5, doc="1")
    protocol_type = Field(0, 1, 0x10, 4, doc="1 = GTP (0 = GTP')")
    reserved = Field(0, 1, 0x08, 3, doc="zero")
    has_extension = Field(0, 1, 0x04, 2, doc="E: an extension header follows")
    has_sequence = Field(0, 1, 0x02, 1, doc="S: the sequence number is meaningful")
    has_npdu = Field(0, 1, 0x01, doc="PN: the N-PDU number is meaningful")
    message_type = Field(1, 1, doc="255 = G-PDU (user data: an IP packet)")
    length = Field(2, 2, doc="bytes after the first 8")
    teid = Field(4, 4, doc="tunnel endpoint identifier")


class GtpUOptional(Header):
    """The optional GTP-U word present when E, S or PN is set."""

    SIZE = 4
    sequence = Field(0, 2, doc="sequence number")
    npdu = Field(2, 1, doc="N-PDU number")
    next_extension = Field(3, 1, doc="type of the next extension header, 0 = none")


class TeredoAuth(Header):
    """Teredo authentication indicator (RFC 4380 5.1.1): client id, authentication value,
    8-byte nonce and 1-byte confirmation follow."""

    SIZE = 4
    indicator = Field(0, 2, doc="0x0001")
    id_length = Field(2, 1, doc="client identifier bytes")
    auth_length = Field(3, 1, doc="authentication value bytes")


class TeredoOrigin(Header):
    """Teredo origin indication (RFC 4380 5.1.1), after the authentication indicator."""

    SIZE = 8
    indicator = Field(0, 2, doc="0x0000")
    port = Field(2, 2, doc="origin UDP port, bits inverted")
    address = Field(4, 4, doc="origin IPv4 address, bits inverted")


class Ayiya(Header):
    """AYIYA header (Anything In Anything, UDP port 5072): 2**id_length bytes of identity
    and 4 * signature_length bytes of signature follow, then the ``next_header`` packet."""

    SIZE = 8
    id_length = Field(0, 1, 0xF0, 4, doc="identity length, log2 bytes")
    id_type = Field(0, 1, 0x0F, doc="identity type")
    signature_length = Field(1, 1, 0xF0, 4, doc="signature length in 4-byte words")
    hash_method = Field(1, 1, 0x0F, doc="hash method")
    auth_method = Field(2, 1, 0xF0, 4, doc="authentication method")
    opcode = Field(2, 1, 0x0F, doc="1 = forward (a packet follows)")
    next_header = Field(3, 1, doc="IP protocol number of the payload (41 IPv6, 4 IPv4)")
    epoch = Field(4, 4, doc="send time, seconds since 1970")


#: Every table, for the layout checks in tests/decode/test_headers.py.
TABLES: tuple[type[Header], ...] = (
    Ethernet,
    LlcSnap,
    LinuxSll,
    LinuxSll2,
    BsdLoopback,
    CiscoHdlc,
    VlanTag,
    PppoeSession,
    MplsLabel,
    Fddi,
    PbbItag,
    VnTag,
    FabricPath,
    Nflog,
    NflogTlv,
    Radiotap,
    Dot11,
    Ipv4,
    Ipv6,
    Ipv6Extension,
    Ipv6Fragment,
    Tcp,
    Udp,
    Gre,
    ErspanII,
    ErspanIII,
    L2tpV2,
    Vxlan,
    Geneve,
    GtpU,
    GtpUOptional,
    TeredoAuth,
    TeredoOrigin,
    Ayiya,
)


def kept(mask: np.ndarray, *columns: np.ndarray) -> list[np.ndarray]:
    """Each column's values where ``mask`` holds; the columns themselves (no copy) when it
    holds everywhere, as it does for nearly every frame of a real capture."""
    if mask.all():
        return list(columns)
    return [column[mask] for column in columns]


# --------------------------------------------------------------------- per-frame state


@dataclass
class FrameCursor:
    """Per-frame decoding state shared by the layers (all arrays have one entry per frame)."""

    data: np.ndarray  # uint8, the whole capture buffer
    end: np.ndarray  # int64, one past the last captured byte of each frame
    wire_end: np.ndarray  # int64, where the frame would end with all its bytes (origlen)
    reason: np.ndarray  # int8, 0 while a frame is alive, else a REASON_CODES value

    def alive(self, idx: np.ndarray) -> np.ndarray:
        out: np.ndarray = idx[self.reason[idx] == ALIVE]
        return out

    def alive_frames(self) -> np.ndarray:
        """Every frame still alive (``alive`` of all frames, without gathering them)."""
        return np.flatnonzero(self.reason == ALIVE)

    def skip(self, idx: np.ndarray, why: SkipReason) -> None:
        """Mark frames ``idx`` as skipped (the first reason given wins)."""
        if idx.size:
            fresh = idx[self.reason[idx] == ALIVE]
            self.reason[fresh] = REASON_CODES[why]

    def need(
        self,
        idx: np.ndarray,
        pos: np.ndarray,
        nbytes: int | np.ndarray,
        why: SkipReason = SkipReason.TRUNCATED_HEADER,
    ) -> np.ndarray:
        """Boolean mask over ``idx``: ``nbytes`` at ``pos`` were captured. Others are
        skipped as ``why``: truncated_header (the snaplen or the file cut the header), or
        truncated_tcp_header for the TCP header itself."""
        ok: np.ndarray = pos + nbytes <= self.end[idx]
        self.skip(idx[~ok], why)
        return ok

    def header_at(
        self, idx: np.ndarray, pos: np.ndarray, header: type[Header]
    ) -> tuple[np.ndarray, np.ndarray, Block]:
        """The frames of ``idx`` whose fixed ``header`` at ``pos`` was captured (the others
        skipped as truncated_header), their positions, and those headers gathered."""
        idx, pos = kept(self.need(idx, pos, header.SIZE), idx, pos)
        return idx, pos, Block(self.data, pos, header)
