"""pcapng files: sections, interfaces, and packet blocks, walked by hand.

dpkt's ``pcapng.Reader`` honours only the first Interface Description Block, so a file
with several interfaces (``dumpcap -i eth0 -i lo``) of different link types or timestamp
resolutions would be mis-decoded; this walker keeps a table of every interface of every
section (each Section Header Block starts a new table and may switch byte order).

Packet blocks: Enhanced (EPB, type 6), Simple (SPB, type 3, interface 0, no timestamp)
and the obsolete Packet Block (type 2). Other blocks are stepped over.
"""

from __future__ import annotations

import struct
from array import array
from dataclasses import dataclass

import numpy as np

from pcapline.errors import CaptureError
from pcapline.read.pcap import MAX_RECORD_LEN, Records

SHB = 0x0A0D0D0A
IDB, PB, SPB, EPB = 1, 2, 3, 6
BYTE_ORDER_MAGIC = 0x1A2B3C4D
OPT_END, IF_TSRESOL, IF_TSOFFSET = 0, 9, 14
#: SHB versions Wireshark 4.0 reads (1.0, and 1.2 which some writers used by mistake).
SUPPORTED_VERSIONS = {(1, 0), (1, 2)}
#: Largest block we believe; anything bigger means a damaged length field.
MAX_BLOCK_LEN = 16 * 1024 * 1024


def is_pcapng(head: bytes) -> bool:
    return head[:4] == b"\x0a\x0d\x0d\x0a"


@dataclass(frozen=True)
class Interface:
    link_type: int
    snaplen: int
    tsresol: int = 6  # exponent k: units are 10^-k s (or 2^-k s when ``binary``)
    binary: bool = False
    tsoffset: int = 0  # seconds added to every timestamp


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
    if IF_TSRESOL in opts and opts[IF_TSRESOL]:
        raw = opts[IF_TSRESOL][0]
        binary, tsresol = bool(raw & 0x80), raw & 0x7F
        if (not binary and tsresol > 19) or (binary and tsresol > 63):
            tsresol, binary = 6, False  # nonsense resolution: fall back to the default
    if IF_TSOFFSET in opts and len(opts[IF_TSOFFSET]) == 8:
        tsoffset = struct.unpack(order + "q", opts[IF_TSOFFSET])[0]
    return Interface(link_type=link_type, snaplen=snaplen, tsresol=tsresol, binary=binary, tsoffset=tsoffset)


def read_pcapng(data: np.ndarray, path: str) -> Records:
    """Walk every block; collect packet blocks as frames with their interface's settings."""
    buf = memoryview(data)
    size = len(buf)
    interfaces: list[Interface] = []
    section_base = 0  # index in ``interfaces`` of this section's interface 0
    order = "<"
    warnings: list[str] = []
    # Per packet: start of packet data, caplen, origlen, global interface index, ts high/low.
    starts, caps, origs, ifaces, ts_hi, ts_lo = (array("q") for _ in range(6))
    truncated = 0
    off = 0
    sections = 0
    stop: str | None = None
    while off + 8 <= size:
        if bytes(buf[off : off + 4]) == b"\x0a\x0d\x0d\x0a":
            if off + 12 > size:
                stop = f"section header at byte {off} cut short"
                break
            magic = bytes(buf[off + 8 : off + 12])
            if magic == b"\x4d\x3c\x2b\x1a":
                order = "<"
            elif magic == b"\x1a\x2b\x3c\x4d":
                order = ">"
            else:
                stop = f"section header at byte {off} has a bad byte-order magic"
                break
        btype, blen = struct.unpack_from(order + "II", buf, off)
        if blen < 12 or blen % 4 or blen > MAX_BLOCK_LEN:
            stop = f"block at byte {off} has an impossible length ({blen})"
            break
        end = off + blen
        complete = end <= size
        if btype == SHB:
            if not complete or blen < 28:
                stop = f"section header at byte {off} cut short"
                break
            major, minor = struct.unpack_from(order + "HH", buf, off + 12)
            if (major, minor) not in SUPPORTED_VERSIONS:
                stop = f"pcapng section version {major}.{minor} is not supported"
                if sections == 0:
                    raise CaptureError(f"{path}: {stop}")
                break
            sections += 1
            section_base = len(interfaces)
        elif sections == 0:
            raise CaptureError(f"{path}: pcapng file does not start with a section header")
        elif btype == IDB:
            if not complete or blen < 20:
                stop = f"interface description at byte {off} cut short"
                break
            interfaces.append(_interface(bytes(buf[off + 8 : end - 4]), order))
        elif btype in (EPB, PB, SPB):
            if btype == SPB:
                hdr_len = 12
                origlen = struct.unpack_from(order + "I", buf, off + 8)[0] if off + 12 <= size else 0
                iface, hi, lo = 0, 0, 0
                caplen = blen - 16
                if section_base < len(interfaces):
                    caplen = min(caplen, origlen, interfaces[section_base].snaplen or caplen)
            else:
                hdr_len = 28
                if off + hdr_len > size:
                    iface, hi, lo, caplen, origlen = 0, 0, 0, 0, 0
                elif btype == EPB:
                    iface, hi, lo, caplen, origlen = struct.unpack_from(order + "5I", buf, off + 8)
                else:
                    iface, _drops, hi, lo, caplen, origlen = struct.unpack_from(order + "HH4I", buf, off + 8)
            if caplen > MAX_RECORD_LEN or (complete and hdr_len + caplen + 4 > blen):
                stop = f"packet block at byte {off} has a bad captured length ({caplen})"
                break
            if section_base + iface >= len(interfaces):
                stop = f"packet block at byte {off} names interface {iface}, which was not described"
                break
            starts.append(off + hdr_len)
            caps.append(max(0, min(caplen, size - off - hdr_len)))
            origs.append(origlen)
            ifaces.append(section_base + iface)
            ts_hi.append(hi)
            ts_lo.append(lo)
            if not complete:
                truncated = 1
                warnings.append(f"file ends inside frame {len(starts)}")
        if not complete:
            break
        off = end
    else:
        if 0 < size - off and not stop:
            warnings.append(f"{size - off} stray bytes at the end of the file ignored")
    if stop is not None:
        if not starts:
            raise CaptureError(f"{path}: {stop}")
        warnings.append(stop + "; stopped reading there")
    if sections == 0:
        raise CaptureError(f"{path}: pcapng section header cut short")
    return _records(starts, caps, origs, ifaces, ts_hi, ts_lo, interfaces, warnings, truncated)


def _records(
    starts: array,
    caps: array,
    origs: array,
    ifaces: array,
    ts_hi: array,
    ts_lo: array,
    interfaces: list[Interface],
    warnings: list[str],
    truncated: int,
) -> Records:
    n = len(starts)
    iface = np.asarray(ifaces, dtype=np.int64)
    ticks = (np.asarray(ts_hi, dtype=np.uint64) << np.uint64(32)) | np.asarray(ts_lo, dtype=np.uint64)
    time_ns = np.zeros(n, dtype=np.int64)
    link_type = np.zeros(n, dtype=np.int32)
    for i in np.unique(iface):
        sel = iface == i
        time_ns[sel] = ticks_to_ns(ticks[sel], interfaces[i])
        link_type[sel] = interfaces[i].link_type
    return Records(
        time_ns=time_ns,
        link_type=link_type,
        offset=np.asarray(starts, dtype=np.int64),
        caplen=np.asarray(caps, dtype=np.int64),
        origlen=np.asarray(origs, dtype=np.int64),
        warnings=warnings,
        truncated_records=truncated,
    )
