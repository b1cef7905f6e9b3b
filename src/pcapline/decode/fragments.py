"""IP fragments -> the whole packet, as Wireshark's IP defragmentation makes it.

The IP layer (``ip.py``) skips every fragment as ``ip_fragment``; a capture holding any goes
through here afterwards (fragments are rare: the common case pays one scan of the skip
codes). Fragments are gathered in frame order per datagram, whose key is RFC 791 3.2's
(source, destination, protocol, identification) for IPv4 and RFC 8200 4.5's (source,
destination, identification) for IPv6 (Wireshark keys both alike; it also adds the VLAN id,
which we leave out). A datagram is whole when the fragment without More Fragments has
arrived and the pieces cover every byte before its end; the packet is then the first
fragment's unfragmentable part (IPv4 header; IPv6 header and the extension headers before
the Fragment header) with its lengths and next header set, followed by the payload in
offset order. Like Wireshark, the packet belongs to the frame of the fragment that completed
it (not necessarily the last in offset); the other fragments were consumed into it
(``ip_fragment_reassembled``). Fragments that never make a whole packet stay ``ip_fragment``:
a piece missing (or cut by the snaplen), overlapping pieces whose bytes disagree, two ends,
a piece past the end, or a packet over 65,535 bytes (fragments of it that come later start
a new datagram). Overlapping pieces whose bytes agree (a fragment captured twice) are
accepted, as Wireshark accepts them. No timeout: Wireshark keeps a datagram open for the
whole capture; we keep at most ``MAX_PENDING_BYTES`` of unfinished datagrams, dropping the
oldest first (the same rule in every path, so a capture read in windows gives the answer of
one read whole).

Each piece is copied once into its datagram's payload buffer, and the byte ranges covered so
far are kept sorted and merged: a piece costs its own bytes, a binary search of the ranges
and the merge of those it touches (each range is merged away at most once), where the whole
datagram used to be rebuilt per piece (O(n^2): minutes for a flood of 8-byte fragments). A
datagram of more than ``MAX_PIECES`` pieces fails like one too long.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field

import numpy as np

from pcapline.decode.headers import Field, FrameCursor, Ipv4, Ipv6, Ipv6Extension, Ipv6Fragment
from pcapline.decode.ip import IPSEC_AH, IPV6_EXT_GENERIC, IPV6_FRAGMENT, MAX_IPV6_EXT
from pcapline.decode.link import ETH_IPV4, ETH_IPV6

#: The largest IP packet (IPv4 total length and IPv6 payload length are 16-bit): a datagram
#: whose pieces reach past it is not reassembled (RFC 791 3.1, RFC 8200 4.5).
MAX_PACKET = 65_535
#: Bytes of unfinished datagrams kept while waiting for their other pieces: their payload
#: buffers and headers, plus what their bookkeeping holds (the two overheads below).
MAX_PENDING_BYTES = 64 << 20
#: Bytes charged per pending datagram on top of its payload and header: its key (a tuple of
#: two addresses), dict entry, object and the headers of its buffers and lists, ~680 B (IPv4)
#: to ~700 B (IPv6) measured with tracemalloc for datagrams of one 8-byte fragment. Counting
#: payload bytes alone let such a flood hold some 75 times ``MAX_PENDING_BYTES``.
DATAGRAM_OVERHEAD = 768
#: Bytes charged per pending piece: its frame number and, while it stands apart from the
#: others, its covered range (~90 B measured per 8-byte piece laid every other 8 bytes).
PIECE_OVERHEAD = 128
#: Pieces one datagram may have: all but the last carry a multiple of 8 bytes (RFC 791 3.2,
#: RFC 8200 4.5), so 8,192 pieces of 8 bytes already cover the largest packet; a datagram of
#: more pieces makes no packet (a fragment flood, or pieces sent again and again) and fails.
MAX_PIECES = (MAX_PACKET + 7) // 8  # 8,192
#: IPv4 flags/offset word: More Fragments and the 13-bit offset in 8-byte units (RFC 791 3.1).
IPV4_MF, IPV4_OFFSET = 0x2000, 0x1FFF
#: IPv6 Fragment header offset/M word (RFC 8200 4.5): offset in the top 13 bits, M the lowest.
IPV6_M, IPV6_OFFSET = 0x0001, 0xFFF8

#: A datagram's identity: IP version, source, destination, identification, protocol.
Key = tuple[int, bytes, bytes, int, int]


@dataclass(frozen=True, slots=True)
class Fragment:
    """One captured fragment, copied out of its frame."""

    frame: int  # frame number (Wireshark's frame.number)
    key: Key
    offset: int  # where ``data`` goes in the fragmentable part (bytes)
    more: bool  # IPv4 MF / IPv6 M: pieces follow
    data: bytes  # this fragment's piece of the payload
    head: bytes  # the unfragmentable part, next header already the payload's (IPv6)
    data_at: int  # where ``data`` starts, counted from the frame's first captured byte
    caplen: int  # the frame's captured bytes

    @property
    def end(self) -> int:
        return self.offset + len(self.data)


@dataclass(frozen=True, slots=True)
class Reassembled:
    """A whole packet, made when fragment ``last`` arrived."""

    packet: bytes  # the IP packet, header first
    last: Fragment  # the fragment that completed it: the packet is its frame's
    consumed: tuple[int, ...]  # frame numbers of the other fragments it is made of


def payload_in_frames(
    packets: list[Reassembled], of: np.ndarray, at: np.ndarray, length: np.ndarray
) -> np.ndarray:
    """Where bytes ``at`` (``length`` of them) of packets ``of`` are in the frame each
    belongs to, for the app stage: inside the completing fragment's piece, else past the
    frame's captured bytes (nothing to read there: those bytes are spread over frames)."""
    last = [p.last for p in packets]
    piece = np.array([len(f.head) + f.offset for f in last], np.int64)[of]
    size = np.array([len(f.data) for f in last], np.int64)[of]
    data_at = np.array([f.data_at for f in last], np.int64)[of]
    caplen = np.array([f.caplen for f in last], np.int64)[of]
    inside = (at >= piece) & (at + length <= piece + size)
    out: np.ndarray = np.where(inside, data_at + at - piece, caplen)
    return out


class Spoiled(Exception):
    """The pieces cannot make one packet (disagreeing overlap, two ends, too long)."""


@dataclass(slots=True)
class _Datagram:
    """The pieces of one datagram so far, laid where they go in its payload."""

    #: The payload up to the furthest piece end (the gaps zero, not yet covered).
    payload: bytearray = field(default_factory=bytearray)
    #: The covered byte ranges [start, end), sorted, neither overlapping nor touching.
    starts: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    covered: int = 0  # bytes in those ranges
    final: int | None = None  # where the piece without More Fragments ends
    head: bytes | None = None  # the unfragmentable part of the first piece at offset 0
    frames: array[int] = field(default_factory=lambda: array("q"))  # the pieces' frames

    @property
    def size(self) -> int:
        """Bytes charged to ``MAX_PENDING_BYTES``."""
        head = len(self.head) if self.head is not None else 0
        bookkeeping = DATAGRAM_OVERHEAD + PIECE_OVERHEAD * len(self.frames)
        return len(self.payload) + head + bookkeeping

    def add(self, fragment: Fragment) -> None:
        """Lay ``fragment`` in; raises Spoiled when the pieces can make no packet."""
        if len(self.frames) == MAX_PIECES:
            raise Spoiled("more pieces than the largest packet has")
        self.frames.append(fragment.frame)
        self._lay(fragment.offset, fragment.data)
        self._check_end(fragment)
        if fragment.offset == 0 and self.head is None:
            self.head = fragment.head
        if self.head is not None and (
            len(self.head) + len(self.payload) - _fixed(fragment.key) > MAX_PACKET
        ):
            raise Spoiled("longer than an IP packet")

    def packet(self, version: int) -> bytes | None:
        """The whole packet, None while a piece is missing (or the end is not known)."""
        # No piece reaches past ``final`` (_check_end): covering that many bytes is all.
        if self.final is None or self.head is None or self.covered < self.final:
            return None
        return _packet(version, self.head, bytes(self.payload))

    def _lay(self, at: int, data: bytes) -> None:
        """Copy ``data`` to ``at``, comparing first the bytes other pieces already cover.
        RFC 791's reassembly lets a later piece overwrite, RFC 5722 has IPv6 discard a
        datagram with any overlap. We keep a piece that repeats bytes already there (a
        fragment captured twice), as Wireshark does, and fail the datagram when they differ."""
        end = at + len(data)
        if end > len(self.payload):
            self.payload.extend(bytes(end - len(self.payload)))
        if not data:
            return
        # The ranges that overlap or touch [at, end): they merge with it into one.
        lo, hi = bisect_left(self.ends, at), bisect_right(self.starts, end)
        overlap = 0
        for start, stop in zip(self.starts[lo:hi], self.ends[lo:hi], strict=True):
            a, b = max(start, at), min(stop, end)
            if a < b and self.payload[a:b] != data[a - at : b - at]:
                raise Spoiled("overlapping fragments disagree")
            overlap += max(b - a, 0)
        self.payload[at:end] = data
        self.covered += len(data) - overlap
        if lo < hi:
            at, end = min(at, self.starts[lo]), max(end, self.ends[hi - 1])
        self.starts[lo:hi], self.ends[lo:hi] = [at], [end]

    def _check_end(self, fragment: Fragment) -> None:
        """Note where the last piece ends: one end only, no piece past it."""
        if not fragment.more:
            if self.final is not None and self.final != fragment.end:
                raise Spoiled("two final fragments")
            self.final = fragment.end
        if self.final is not None and len(self.payload) > self.final:
            raise Spoiled("a fragment past the final one")


@dataclass
class Defragmenter:
    """Unfinished datagrams by key, oldest first; one per capture (kept from window to window
    when a capture is decoded in pieces)."""

    pending: dict[Key, _Datagram] = field(default_factory=dict)
    pending_bytes: int = 0

    def add(self, fragment: Fragment) -> Reassembled | None:
        """Take ``fragment``: the packet it completes, else None."""
        datagram = self.pending.get(fragment.key)
        if datagram is None:
            datagram = self.pending[fragment.key] = _Datagram()
        else:
            self.pending_bytes -= datagram.size  # charged again below if it stays
        try:
            datagram.add(fragment)
        except Spoiled:
            del self.pending[fragment.key]
            return None
        packet = datagram.packet(fragment.key[0])
        if packet is None:
            self.pending_bytes += datagram.size
            self._bound()
            return None
        del self.pending[fragment.key]
        consumed = tuple(datagram.frames[:-1])  # every piece's frame but this one's (the last)
        return Reassembled(packet=packet, last=fragment, consumed=consumed)

    def _drop(self, key: Key) -> None:
        self.pending_bytes -= self.pending.pop(key).size

    def _bound(self) -> None:
        while self.pending_bytes > MAX_PENDING_BYTES and len(self.pending) > 1:
            self._drop(next(iter(self.pending)))


def _fixed(key: Key) -> int:
    """Header bytes outside the 16-bit length field's count (IPv6's fixed header)."""
    return Ipv6.SIZE if key[0] == 6 else 0


def _packet(version: int, head: bytes, payload: bytes) -> bytes:
    """The unfragmentable part with the lengths of the whole packet, then the payload."""
    out = bytearray(head)
    if version == 4:
        _put(out, Ipv4.total_length, len(head) + len(payload))
        # No longer a fragment: MF and offset cleared, DF kept (RFC 791 3.2 reassembly).
        _put(out, Ipv4.fragment, 0)
    else:
        _put(out, Ipv6.payload_length, len(head) - Ipv6.SIZE + len(payload))
    return bytes(out) + payload


def _put(buf: bytearray, f: Field, value: int) -> None:
    """Write field ``f`` of the header at the start of ``buf`` (its other bits kept)."""
    at = slice(f.offset, f.offset + f.width)
    word = int.from_bytes(buf[at], "big") & ~_mask(f) | (value << f.shift) & _mask(f)
    buf[at] = word.to_bytes(f.width, "big")


def _get(buf: bytes, at: int, f: Field) -> int:
    """Field ``f`` of the header at ``at`` in ``buf`` (one packet's: no numpy gather)."""
    return (
        int.from_bytes(buf[at + f.offset : at + f.offset + f.width], "big") & _mask(f)
    ) >> f.shift


def _mask(f: Field) -> int:
    return f.mask if f.mask is not None else (1 << 8 * f.width) - 1


def fragments_of(
    cur: FrameCursor,
    idx: np.ndarray,
    l3: np.ndarray,
    etype: np.ndarray,
    frame_start: np.ndarray,
    frame: np.ndarray,
) -> list[Fragment]:
    """The fragments in frames ``idx`` (skipped as ``ip_fragment``; their IP header at
    ``l3``), in frame order; a fragment not captured whole is left out (it stays skipped)."""
    data = cur.data
    out: list[Fragment] = []
    for i in idx.tolist():
        end = min(int(cur.end[i]), int(cur.wire_end[i]))
        raw = data[int(l3[i]) : end].tobytes()
        start = int(frame_start[i])
        where = _Where(int(frame[i]), int(l3[i]) - start, int(cur.end[i]) - start)
        fragment = _PARSERS[int(etype[i])](raw, where)
        if fragment is not None:
            out.append(fragment)
    return out


@dataclass(frozen=True, slots=True)
class _Where:
    frame: int
    l3: int  # the IP header, from the frame's first captured byte
    caplen: int


def _ipv4(raw: bytes, where: _Where) -> Fragment | None:
    if len(raw) < Ipv4.SIZE:
        return None
    ihl = _get(raw, 0, Ipv4.ihl) * 4
    total = _get(raw, 0, Ipv4.total_length)
    if ihl < Ipv4.SIZE or total < ihl or total > len(raw):
        return None  # a length that lies, or a fragment the capture cut: not used
    word = _get(raw, 0, Ipv4.fragment)
    key: Key = (4, raw[12:16], raw[16:20], _get(raw, 0, Ipv4.identification), raw[9])
    return Fragment(
        frame=where.frame,
        key=key,
        offset=(word & IPV4_OFFSET) * 8,
        more=bool(word & IPV4_MF),
        data=raw[ihl:total],
        head=raw[:ihl],
        data_at=where.l3 + ihl,
        caplen=where.caplen,
    )


def _ipv6(raw: bytes, where: _Where) -> Fragment | None:
    if len(raw) < Ipv6.SIZE:
        return None
    total = Ipv6.SIZE + _get(raw, 0, Ipv6.payload_length)
    if total == Ipv6.SIZE or total > len(raw):
        return None  # a jumbogram or a fragment the capture cut: not used
    found = _fragment_header(raw, total)
    if found is None:
        return None
    at, next_at = found
    head = bytearray(raw[:at])
    head[next_at] = _get(raw, at, Ipv6Fragment.next_header)  # the payload's protocol now
    word = int.from_bytes(raw[at + 2 : at + 4], "big")
    ident = _get(raw, at, Ipv6Fragment.identification)
    key: Key = (6, raw[8:24], raw[24:40], ident, 0)
    return Fragment(
        frame=where.frame,
        key=key,
        offset=word & IPV6_OFFSET,  # 8-byte units in the top 13 bits: already bytes
        more=bool(word & IPV6_M),
        data=raw[at + Ipv6Fragment.SIZE : total],
        head=bytes(head),
        data_at=where.l3 + at + Ipv6Fragment.SIZE,
        caplen=where.caplen,
    )


def _fragment_header(raw: bytes, total: int) -> tuple[int, int] | None:
    """Where the Fragment header is, and where the next-header byte that names it is (the
    extension headers before it are the unfragmentable part, RFC 8200 4.5)."""
    nxt, at, next_at = raw[6], Ipv6.SIZE, 6
    for _ in range(MAX_IPV6_EXT + 1):
        if nxt == IPV6_FRAGMENT:
            return (at, next_at) if at + Ipv6Fragment.SIZE <= total else None
        if nxt not in (*IPV6_EXT_GENERIC, IPSEC_AH) or at + Ipv6Extension.SIZE > total:
            return None
        units = raw[at + 1]
        length = (units + 2) * 4 if nxt == IPSEC_AH else (units + 1) * 8
        nxt, next_at, at = raw[at], at, at + length
    return None


_PARSERS = {ETH_IPV4: _ipv4, ETH_IPV6: _ipv6}

__all__ = ["Defragmenter", "Fragment", "Reassembled", "fragments_of", "payload_in_frames"]
