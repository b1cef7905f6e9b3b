"""pcapng files: sections, interfaces, and packet blocks, walked by hand.

dpkt's ``pcapng.Reader`` honours only the first Interface Description Block, so a file
with several interfaces (``dumpcap -i eth0 -i lo``) of different link types or timestamp
resolutions would be mis-decoded; this walker keeps a table of every interface of every
section (each Section Header Block starts a new table and may switch byte order).

Packet blocks: Enhanced (EPB, type 6), Simple (SPB, type 3, interface 0, no timestamp)
and the obsolete Packet Block (type 2). Interface Statistics Blocks (ISB, type 5) give the
packets an interface dropped (isb_ifdrop) and the OS or capture buffer dropped (isb_osdrop):
counters since the capture started, so the last block of each interface counts. Other blocks
are stepped over.
"""

from __future__ import annotations

import struct
from array import array
from dataclasses import dataclass

import numpy as np

from pcapline.errors import CaptureError
from pcapline.read import native
from pcapline.read.capture import words_at
from pcapline.read.pcap import MAX_RECORD_LEN, Records

SHB = 0x0A0D0D0A
IDB, PB, SPB, ISB, EPB = 1, 2, 3, 5, 6
BYTE_ORDER_MAGIC = 0x1A2B3C4D
OPT_END, IF_TSRESOL, IF_TSOFFSET = 0, 9, 14
ISB_IFDROP, ISB_OSDROP = 5, 7
#: SHB versions Wireshark 4.0 reads (1.0, and 1.2 which some writers used by mistake).
SUPPORTED_VERSIONS = {(1, 0), (1, 2)}
#: Largest block we believe; anything bigger means a damaged length field.
MAX_BLOCK_LEN = 16 * 1024 * 1024
#: Largest believable if_tsoffset (seconds): about 290 years, so ns times stay in int64.
MAX_TSOFFSET = 1 << 33


def is_pcapng(head: bytes) -> bool:
    return head[:4] == b"\x0a\x0d\x0d\x0a"


@dataclass(frozen=True)
class Interface:
    link_type: int
    snaplen: int
    tsresol: int = 6  # exponent k: units are 10^-k s (or 2^-k s when ``binary``)
    binary: bool = False
    tsoffset: int = 0  # seconds added to every timestamp


#: The latest time int64 nanoseconds since the epoch can hold (2262-04-11).
MAX_NS = 2**63 - 1


def last_tick(iface: Interface) -> int:
    """The largest timestamp (in ``iface``'s units) whose time ``ticks_to_ns`` can give:
    a 64-bit pcapng timestamp reaches far past what int64 nanoseconds since the epoch hold
    (year 2262), and numpy's integer arithmetic wraps it round (a damaged block's all-ones
    timestamp becomes -1000 ns, before every other frame). Exact for decimal resolutions;
    for binary ones it gives up the last second before the limit."""
    most = MAX_NS - max(0, iface.tsoffset) * 1_000_000_000  # ns before adding the offset
    k = iface.tsresol
    if iface.binary:
        seconds = (most - 999_999_999) // 1_000_000_000
        tick = ((seconds + 1) << k) - 1
    elif k <= 9:
        tick = most // 10 ** (9 - k)
    else:
        tick = (most + 1) * 10 ** (k - 9) - 1
    return min(tick, 2**64 - 1)


def ticks_to_ns(ticks: np.ndarray, iface: Interface) -> np.ndarray:
    """Interface timestamp units -> int64 ns, in integer arithmetic (no float rounding)."""
    t = ticks.astype(np.uint64)
    k = iface.tsresol
    if iface.binary:
        sec = (t >> np.uint64(k)).astype(np.int64)
        frac = (t & np.uint64((1 << k) - 1)).astype(object if k > 32 else np.int64)
        ns = sec * 1_000_000_000 + np.asarray((frac * 1_000_000_000) >> k, dtype=np.int64)
    elif k <= 9:
        ns = t.astype(np.int64) * (10 ** (9 - k))
    else:
        ns = (t // np.uint64(10 ** (k - 9))).astype(np.int64)
    return ns + iface.tsoffset * 1_000_000_000


def _options(body: bytes, order: str) -> dict[int, bytes]:
    """Option code -> value (first occurrence); stops quietly at a malformed option."""
    out: dict[int, bytes] = {}
    pos = 0
    while pos + 4 <= len(body):
        code, length = struct.unpack_from(order + "HH", body, pos)
        if code == OPT_END:
            break
        value = body[pos + 4 : pos + 4 + length]
        if len(value) < length:
            break
        out.setdefault(code, value)
        pos += 4 + ((length + 3) & ~3)
    return out


def _interface(body: bytes, order: str) -> Interface:
    link_type, _reserved, snaplen = struct.unpack_from(order + "HHI", body, 0)
    opts = _options(body[8:], order)
    tsresol, binary, tsoffset = 6, False, 0
    if opts.get(IF_TSRESOL):
        raw = opts[IF_TSRESOL][0]
        binary, tsresol = bool(raw & 0x80), raw & 0x7F
        if (not binary and tsresol > 19) or (binary and tsresol > 63):
            tsresol, binary = 6, False  # nonsense resolution: fall back to the default
    if IF_TSOFFSET in opts and len(opts[IF_TSOFFSET]) == 8:
        tsoffset = struct.unpack(order + "q", opts[IF_TSOFFSET])[0]
        if abs(tsoffset) > MAX_TSOFFSET:
            tsoffset = 0  # a damaged option; ns since 1970 would overflow int64
    return Interface(
        link_type=link_type, snaplen=snaplen, tsresol=tsresol, binary=binary, tsoffset=tsoffset
    )


@dataclass
class _Context:
    """What packet blocks from a given packet index on are read with."""

    first_packet: int  # index among every packet block of the file
    order: str
    section_base: int  # global index of the section's interface 0
    interfaces: int  # interfaces described so far (global count)


def read_pcapng(data: np.ndarray, path: str) -> Records:
    """Walk every block; collect packet blocks as frames with their interface's settings."""
    records, _ = PcapngWalker(path).window(data, 0, final=True)
    return records


@dataclass
class _Tally:
    """Packet blocks of one kind across windows: how many, and the first one's frame number."""

    count: int = 0
    first: int | None = None

    def add(self, flags: np.ndarray, first_frame: int) -> None:
        rows = np.flatnonzero(flags)
        if len(rows) and self.first is None:
            self.first = int(rows[0]) + first_frame
        self.count += len(rows)


class PcapngWalker:
    """Walks the blocks of one pcapng file, one window of its bytes at a time.

    The loop only records where packet blocks are (one unpack per block, or one C loop over
    a run of enhanced packet blocks when the compiled core is built); their fields are
    gathered and checked afterwards with numpy, per byte order. ``window(data, base, final)``
    reads the blocks that lie wholly inside ``data`` (the file's bytes from offset ``base``)
    and says how many bytes it consumed: a block cut by the window's end is left for the next
    window. Sections, interfaces, drop counters, frame numbers and byte offsets in warnings
    carry across windows, so any windowing gives what one window over the whole file gives.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.interfaces: list[Interface] = []
        self.contexts: list[_Context] = []
        self.section_base = 0
        self.order = "<"
        self.sections = 0
        self.packets = 0  # packet blocks walked in earlier windows
        self.frames = 0  # frames kept from earlier windows
        self.last_time_ns = 0  # time of the last of them
        self.too_late = 0  # frames whose timestamp is past MAX_NS (``last_tick``)
        self.too_late_frames: list[int] = []  # the first three of them
        self.trailers_differ = _Tally()  # packet blocks whose trailing length is not theirs
        self.simple = _Tally()  # frames from Simple Packet Blocks (no timestamp)
        self.if_drops: dict[int, int] = {}  # interface -> its last ISB's counter
        self.os_drops: dict[int, int] = {}
        self.warnings: list[str] = []  # what the walk found, in file order
        self.stop: str | None = None  # why the walk stopped early
        self.bad: str | None = None  # the first invalid packet block: no frame from it on
        self.done = False  # the walk stopped: no more windows

    def window(self, data: np.ndarray, base: int, final: bool) -> tuple[Records, int]:
        """The frames of this window (offsets relative to ``data``), and the bytes consumed."""
        offsets, others, off = self._walk(data, base, final)
        contexts, interfaces = self.contexts, self.interfaces
        first_packet = self.packets
        self.packets += len(offsets)
        if self.bad is None:
            fields, bad_at, why = _packet_fields(
                data, offsets, others, contexts, interfaces, first_packet, base
            )
            if bad_at is not None:
                self.bad = why
                fields = {k: v[:bad_at] for k, v in fields.items()}
        else:  # after an invalid packet block the walk goes on for its warnings only
            fields, _, _ = _packet_fields(data, offsets[:0], {}, contexts, interfaces, 0, base)
        n = fields["start"].shape[0]
        self.frames += n
        warnings = list(self.warnings)
        ending = final or self.done
        if ending and self.sections == 0:  # why the first section header was refused
            raise CaptureError(f"{self.path}: pcapng {self.stop or 'section header cut short'}")
        stop = self.bad or self.stop
        if ending and stop is not None:
            if self.frames == 0:
                raise CaptureError(f"{self.path}: {stop}")
            warnings.append(stop + "; stopped reading there")
        truncated = int(ending and n > 0 and bool(fields["cut"][-1]))
        if truncated:
            warnings.append(_cut_warning(fields, self.frames, data.shape[0]))
        records, too_late = _records(fields, interfaces, warnings, truncated, self.last_time_ns)
        late = np.flatnonzero(too_late)
        self.too_late += len(late)
        self.too_late_frames += (
            late[: 3 - len(self.too_late_frames)] + self.frames - n + 1
        ).tolist()
        if ending and self.too_late:
            warnings.append(_too_late_warning(self.too_late, self.too_late_frames))
        first_frame = self.frames - n + 1  # this window's first frame number
        self.trailers_differ.add(fields["trailer_differs"], first_frame)
        self.simple.add(fields["simple"], first_frame)
        if ending and self.trailers_differ.count:
            warnings.append(
                f"{self.trailers_differ.count:,} packet block(s) end with a length other than "
                f"their own (the first is frame {self.trailers_differ.first}): the file is "
                "damaged there; each was read by its leading length"
            )
        if ending and self.simple.count:
            warnings.append(
                f"{self.simple.count:,} Simple Packet Block(s) carry no timestamp (the first is "
                f"frame {self.simple.first}): each is given the time of the frame before it "
                "(none before it: 0, 1970)"
            )
        if n:
            self.last_time_ns = int(records.time_ns[-1])
        records.if_drops = sum(self.if_drops.values()) if self.if_drops else None
        records.os_drops = sum(self.os_drops.values()) if self.os_drops else None
        return records, off

    def _walk(
        self, data: np.ndarray, base: int, final: bool
    ) -> tuple[np.ndarray, dict[int, int], int]:
        """Block offsets of this window's packet blocks (EPB / SPB / PB), the rare SPB / PB
        among them (index -> type) and where the next window starts."""
        buf = data.data  # memoryview over the numpy buffer (struct reads it without a copy)
        size = len(buf)
        interfaces = self.interfaces
        packets = array("q")
        append = packets.append
        others: dict[int, int] = {}
        order = self.order
        unpack = struct.Struct(order + "II").unpack_from
        off = 0
        while off + 8 <= size:
            btype, blen = unpack(buf, off)
            if btype == EPB and 32 <= blen <= MAX_BLOCK_LEN and not blen & 3 and off + blen <= size:
                # The common case: a complete enhanced packet block. The compiled core walks
                # it and every such block after it in one C loop (``native``).
                if native.active:
                    run, off = native.core.epb_run(buf, off, order == ">", MAX_BLOCK_LEN)
                    packets.frombytes(run)
                    continue
                append(off)
                off += blen
                continue
            at = base + off
            if btype == SHB or btype == 0x0A0D0D0A:
                if off + 12 > size:
                    if not final:
                        break
                    self.stop = f"section header at byte {at} cut short"
                    break
                magic = bytes(buf[off + 8 : off + 12])
                if magic not in (b"\x4d\x3c\x2b\x1a", b"\x1a\x2b\x3c\x4d"):
                    self.stop = f"section header at byte {at} has a bad byte-order magic"
                    break
                order = "<" if magic == b"\x4d\x3c\x2b\x1a" else ">"
                unpack = struct.Struct(order + "II").unpack_from
                btype, blen = unpack(buf, off)
            if blen < 12 or blen % 4 or blen > MAX_BLOCK_LEN:
                self.stop = f"block at byte {at} has an impossible length ({blen})"
                break
            end = off + blen
            complete = end <= size
            if not complete and not final:
                break  # cut by the window: the next one starts with it
            packet_index = self.packets + len(packets)
            if btype == SHB:
                if not complete or blen < 28:
                    self.stop = f"section header at byte {at} cut short"
                    break
                major, minor = struct.unpack_from(order + "HH", buf, off + 12)
                if (major, minor) not in SUPPORTED_VERSIONS:
                    self.stop = f"pcapng section version {major}.{minor} is not supported"
                    if self.sections == 0:
                        raise CaptureError(f"{self.path}: {self.stop}")
                    break
                self.sections += 1
                self.section_base = len(interfaces)
                self.contexts.append(
                    _Context(packet_index, order, self.section_base, len(interfaces))
                )
            elif self.sections == 0:
                raise CaptureError(f"{self.path}: pcapng file does not start with a section header")
            elif btype == IDB:
                if not complete or blen < 20:
                    self.stop = f"interface description at byte {at} cut short"
                    break
                interfaces.append(_interface(bytes(buf[off + 8 : end - 4]), order))
                self.contexts.append(
                    _Context(packet_index, order, self.section_base, len(interfaces))
                )
            elif btype == ISB and complete and blen >= 24:
                iface_id = struct.unpack_from(order + "I", buf, off + 8)[0] + self.section_base
                options = _options(bytes(buf[off + 20 : end - 4]), order)
                for code, counters in ((ISB_IFDROP, self.if_drops), (ISB_OSDROP, self.os_drops)):
                    if len(options.get(code, b"")) == 8:
                        counters[iface_id] = struct.unpack(order + "Q", options[code])[0]
            elif btype in (EPB, PB, SPB):
                if btype != EPB:
                    others[len(packets)] = btype
                append(off)  # a short or cut packet block: its fields are checked below
            elif not complete:
                # A cut name-resolution, statistics, comment or custom block holds no frame,
                # but the file is still truncated: say so (a cut packet block says it below).
                self.warnings.append(
                    f"file ends inside {_block_name(btype)} at byte {at} "
                    f"({size - off} of {blen} bytes); the capture may be incomplete"
                )
            if not complete:
                break
            off = end
        else:
            if final and size - off > 0 and not self.stop:
                self.warnings.append(f"{size - off} stray bytes at the end of the file ignored")
        if self.stop is not None or final:
            self.done = True
        self.order = order
        offsets = np.frombuffer(packets, dtype=np.int64) if packets else np.zeros(0, np.int64)
        return offsets, others, off


#: Non-packet block types by name (pcapng draft, section 10: "Block Type Codes").
_BLOCK_NAMES = {
    4: "a name resolution block",
    5: "an interface statistics block",
    9: "a systemd journal export block",
    10: "a decryption secrets block",
    0x00000BAD: "a custom block",
    0x40000BAD: "a custom block",
}


def _block_name(btype: int) -> str:
    return _BLOCK_NAMES.get(btype, f"a block of type {btype:#x}")


def _cut_warning(fields: dict[str, np.ndarray], n: int, size: int) -> str:
    """Where the file ends inside the last packet block: its header, or its packet bytes."""
    start, hdr_len = int(fields["start"][-1]), int(fields["hdr_len"][-1])
    if start > size:
        return f"file ends inside the header of record {n} ({size - (start - hdr_len)} of {hdr_len} bytes)"
    return f"file ends inside frame {n} ({int(fields['caplen'][-1])} of {int(fields['incl'][-1])} captured bytes present)"


def _packet_fields(
    data: np.ndarray,
    offsets: np.ndarray,
    others: dict[int, int],
    contexts: list[_Context],
    interfaces: list[Interface],
    first_packet: int = 0,
    at_byte: int = 0,
) -> tuple[dict[str, np.ndarray], int | None, str]:
    """Gather and check the fields of every packet block (vectorised per byte order).

    ``offsets`` are relative to ``data``, which starts at byte ``at_byte`` of the file and
    holds the packet blocks from index ``first_packet`` on. Returns the per-packet columns,
    the index of the first invalid block (None if all are fine) and why it is invalid.
    """
    n = offsets.shape[0]
    size = data.shape[0]
    buf = data.data
    ctx_at = (
        np.searchsorted(
            [c.first_packet for c in contexts],
            np.arange(first_packet, first_packet + n),
            side="right",
        )
        - 1
    )
    little = np.array([c.order == "<" for c in contexts], bool)[ctx_at] if n else np.zeros(0, bool)
    base = (
        np.array([c.section_base for c in contexts], np.int64)[ctx_at]
        if n
        else np.zeros(0, np.int64)
    )
    known = (
        np.array([c.interfaces for c in contexts], np.int64)[ctx_at] if n else np.zeros(0, np.int64)
    )
    # type, block length, then EPB: interface, ts high, ts low, caplen, origlen (7 x u32).
    words = np.zeros((n, 7), np.int64)
    whole = offsets + 28 <= size
    for is_little in (True, False):
        sel = whole & (little == is_little)
        words[sel] = words_at(data, offsets[sel], "<" if is_little else ">", 7)
    for cut in np.flatnonzero(~whole).tolist():  # the last block, cut inside its 28-byte header
        o = int(offsets[cut])
        words[cut, :2] = struct.unpack_from(("<" if little[cut] else ">") + "II", buf, o)
    blen = words[:, 1]
    iface, ts_hi, ts_lo, caplen, origlen = (words[:, i].copy() for i in range(2, 7))
    hdr_len = np.full(n, 28, np.int64)
    for i, btype in others.items():
        o = int(offsets[i])
        fmt = "<" if little[i] else ">"
        if btype == SPB:
            hdr_len[i] = 12
            blen[i] = struct.unpack_from(fmt + "I", buf, o + 4)[0] if o + 8 <= size else 0
            orig = struct.unpack_from(fmt + "I", buf, o + 8)[0] if o + 12 <= size else 0
            snap = interfaces[base[i]].snaplen if base[i] < len(interfaces) else 0
            iface[i], ts_hi[i], ts_lo[i], origlen[i] = 0, 0, 0, orig
            caplen[i] = min(max(blen[i] - 16, 0), orig, snap or orig)
        elif o + 28 <= size:  # obsolete PB: 2-byte interface id and drops count
            iface[i] = struct.unpack_from(fmt + "H", buf, o + 8)[0]
    cut = offsets + blen > size
    # A block's length is written again as its last word: two that differ say the bytes
    # there are damaged (Wireshark refuses the block). The leading one frames the walk.
    trailer_differs = np.zeros(n, bool)
    for is_little in (True, False):
        sel = np.flatnonzero(~cut & (blen >= 12) & (little == is_little))
        trailer = words_at(data, offsets[sel] + blen[sel] - 4, "<" if is_little else ">", 1)
        trailer_differs[sel] = trailer[:, 0] != blen[sel]
    start = offsets + hdr_len
    bad_len = (caplen > MAX_RECORD_LEN) | (~cut & (hdr_len + caplen + 4 > blen))
    bad_iface = base + iface >= known
    first_bad: int | None = None
    why = ""
    bad = np.flatnonzero(bad_len | bad_iface)
    if bad.size:
        first_bad = int(bad[0])
        o = at_byte + int(offsets[first_bad])
        why = (
            f"packet block at byte {o} has a bad captured length ({int(caplen[first_bad])})"
            if bad_len[first_bad]
            else f"packet block at byte {o} names interface {int(iface[first_bad])}, which was not described"
        )
    fields = {
        "start": start,
        "caplen": np.clip(np.minimum(caplen, size - start), 0, None),
        "origlen": origlen,
        "iface": base + iface,
        "ticks": (ts_hi.astype(np.uint64) << np.uint64(32)) | ts_lo.astype(np.uint64),
        "cut": cut,
        "incl": caplen,
        "hdr_len": hdr_len,
        # EPB/PB cut inside their 28-byte header: the timestamp words were not read.
        # No time: the last block cut inside its header, and every SPB (it has no timestamp)
        "untimed": (~whole & (hdr_len == 28)) | (hdr_len == 12),
        "simple": hdr_len == 12,
        "trailer_differs": trailer_differs,
    }
    return fields, first_bad, why


def _records(
    fields: dict[str, np.ndarray],
    interfaces: list[Interface],
    warnings: list[str],
    truncated: int,
    previous_ns: int = 0,
) -> tuple[Records, np.ndarray]:
    iface = fields["iface"]
    n = iface.shape[0]
    time_ns = np.zeros(n, dtype=np.int64)
    link_type = np.zeros(n, dtype=np.int32)
    too_late = np.zeros(n, dtype=bool)
    for i in np.unique(iface):
        sel = iface == i
        ticks = fields["ticks"][sel]
        time_ns[sel] = ticks_to_ns(ticks, interfaces[i])
        # Said, not mended: such times wrap round (numpy's arithmetic), and where a writer put
        # "negative" timestamps on one interface the differences between its frames still
        # hold (a corpus capture's second interface: 100 frames 505 s before 1970).
        too_late[sel] = ticks > np.uint64(last_tick(interfaces[i]))
        link_type[sel] = interfaces[i].link_type
    untimed_rows = fields["untimed"]
    if untimed_rows.any():
        # Not 1970: the time of the frame before it (an SPB follows it in the file; a cut last
        # block's time is unknown, and Capture.timed_ns leaves a lone one out). Before any
        # frame with a time it stays 0: a window cannot wait for a later one, and the frames
        # must not depend on the windows they are read in.
        timed_before = np.maximum.accumulate(np.where(untimed_rows, -1, np.arange(n)))
        before = timed_before[untimed_rows]
        time_ns[untimed_rows] = np.where(before >= 0, time_ns[np.maximum(before, 0)], previous_ns)
    # the last frame's time unknown: only a block cut inside its header (an SPB's is given)
    untimed = bool(n and untimed_rows[-1] and not fields["simple"][-1])
    records = Records(
        time_ns=time_ns,
        link_type=link_type,
        offset=fields["start"].astype(np.int64),
        caplen=fields["caplen"].astype(np.int64),
        origlen=fields["origlen"].astype(np.int64),
        warnings=warnings,
        truncated_records=truncated,
        last_time_unknown=untimed,
        declared_link_types=tuple(described.link_type for described in interfaces),
        snaplen=min((i.snaplen for i in interfaces if i.snaplen), default=None),
    )
    return records, too_late


def _too_late_warning(count: int, frames: list[int]) -> str:
    listed = ", ".join(map(str, frames)) + (", ..." if count > len(frames) else "")
    which = "frame" if count == 1 else "frames"
    return (
        f"{count:,} frame(s) carry a timestamp past the year 2262, which no clock wrote ({which} "
        f"{listed}): their times are not real (they wrap round), nor are durations that use them"
    )
