"""Classic libpcap files: header checks and a fast record walker.

The walker only follows the chain of record lengths (one ``struct.unpack_from`` per
record); timestamps and lengths are then gathered for all records at once with numpy.
Checks follow libpcap/Wireshark (wiretap ``libpcap.c``) so we stop where tshark stops.
"""

from __future__ import annotations

import struct
from array import array
from dataclasses import dataclass

import numpy as np

from pcapline.errors import CaptureError
from pcapline.read.capture import words_at

# Magic number (as read little-endian) -> (byte order, ns resolution, record header length).
# 0xa1b2cd34 is Alexey Kuznetsov's "modified" libpcap: 8 more bytes per record header.
PCAP_MAGICS: dict[bytes, tuple[str, bool, int]] = {
    b"\xd4\xc3\xb2\xa1": ("<", False, 16),
    b"\xa1\xb2\xc3\xd4": (">", False, 16),
    b"\x4d\x3c\xb2\xa1": ("<", True, 16),
    b"\xa1\xb2\x3c\x4d": (">", True, 16),
    b"\x34\xcd\xb2\xa1": ("<", False, 24),
    b"\xa1\xb2\xcd\x34": (">", False, 24),
}

FILE_HEADER_LEN = 24
#: Largest record we believe (libpcap's MAXIMUM_SNAPLEN, Wireshark's standard maximum):
#: a bigger length field means the file is damaged, not that the packet is huge.
MAX_RECORD_LEN = 262144
#: Bits of the header's link type field: LINKTYPE in the low 16, FCS length info in the
#: top 6 (libpcap ``LT_FCS_*``), the 10 bits between are reserved and must be zero.
LINKTYPE_MASK = 0x0000FFFF
LINKTYPE_RESERVED = 0x03FF0000


@dataclass
class Records:
    """Frame records found by a walker (numpy columns) plus what went wrong."""

    time_ns: np.ndarray
    link_type: np.ndarray
    offset: np.ndarray
    caplen: np.ndarray
    origlen: np.ndarray
    warnings: list[str]
    truncated_records: int
    #: The file ends before the last record's timestamp: that frame's time is unknown (it
    #: carries the previous frame's time, or 0 when it is the only frame; Capture.timed_ns).
    last_time_unknown: bool = False
    #: Link types the file declares (pcap header, pcapng interface blocks), frames or not.
    declared_link_types: tuple[int, ...] = ()
    #: The snapshot length the file declares (pcap header; pcapng: the smallest interface's),
    #: None when none limits the frames (pcapng 0).
    snaplen: int | None = None
    #: pcapng Interface Statistics Blocks: packets the interface (isb_ifdrop) and the OS /
    #: capture buffer (isb_osdrop) dropped, the last block of each interface summed; None when
    #: no block states the counter (classic pcap has none).
    if_drops: int | None = None
    os_drops: int | None = None


def is_pcap(head: bytes) -> bool:
    return head[:4] in PCAP_MAGICS


def read_pcap(data: np.ndarray, path: str) -> Records:
    """Walk a classic pcap file held in ``data`` (uint8 numpy array)."""
    size = int(data.shape[0])
    if size < FILE_HEADER_LEN:
        raise CaptureError(
            f"{path}: pcap file header cut short ({size} of {FILE_HEADER_LEN} bytes)"
        )
    head = data[:FILE_HEADER_LEN].tobytes()
    order, nano, rec_len = PCAP_MAGICS[head[:4]]
    major, minor, _zone, _sigfigs, snaplen, linkfield = struct.unpack(order + "HHiIII", head[4:])
    if major < 2:
        raise CaptureError(f"{path}: pcap version {major}.{minor} is not supported")
    if linkfield & LINKTYPE_RESERVED:
        raise CaptureError(
            f"{path}: pcap link type field has reserved bits set (0x{linkfield:08x})"
        )
    link_type = linkfield & LINKTYPE_MASK

    offsets, warnings, stop = _walk(data, order, rec_len, path)
    n = len(offsets)
    truncated = 0
    last_time_unknown = False
    if n:
        complete = offsets + 16 <= size
        fields = np.zeros((n, 4), dtype=np.int64)
        fields[complete] = words_at(data, offsets[complete], order, 4)
        sec, frac, incl, orig = fields.T
        if not complete[-1]:
            # The file ended inside the last record header: a frame we know nothing about
            # except that it exists; give it the previous frame's time (Capture.timed_ns
            # leaves it out of first/last time when there is no previous frame).
            sec[-1], frac[-1] = (sec[-2], frac[-2]) if n > 1 else (0, 0)
        time_ns = sec * 1_000_000_000 + (frac if nano else frac * 1000)
        start = offsets + rec_len
        caplen = np.clip(np.minimum(incl, size - start), 0, None)
        truncated = int((start + incl > size).sum())
        last_time_unknown = not bool(complete[-1])
        if start[-1] > size:
            present = size - int(offsets[-1])
            warnings.append(
                f"file ends inside the header of record {n} ({present} of {rec_len} bytes)"
            )
        elif truncated:
            warnings.append(
                f"file ends inside frame {n} ({int(caplen[-1])} of {int(incl[-1])} captured bytes present)"
            )
    else:
        time_ns = np.zeros(0, dtype=np.int64)
        start = caplen = orig = np.zeros(0, dtype=np.int64)
    if stop is not None and n == 0:
        raise CaptureError(f"{path}: {stop}")
    return Records(
        time_ns=time_ns.astype(np.int64),
        link_type=np.full(n, link_type, dtype=np.int32),
        offset=start.astype(np.int64),
        caplen=caplen.astype(np.int64),
        origlen=orig.astype(np.int64),
        warnings=warnings,
        truncated_records=truncated,
        last_time_unknown=last_time_unknown,
        declared_link_types=(link_type,),
        snaplen=snaplen or None,
    )


def _walk(
    data: np.ndarray, order: str, rec_len: int, path: str
) -> tuple[np.ndarray, list[str], str | None]:
    """Offsets of every record header; the loop reads only each record's length."""
    buf = data.data  # memoryview over the numpy buffer (struct reads it without a copy)
    size = len(buf)
    unpack_len = struct.Struct(order + "I").unpack_from
    offsets = array("q")
    append = offsets.append
    warnings: list[str] = []
    stop: str | None = None
    off = FILE_HEADER_LEN
    last = size - 16
    while off <= last:
        incl = unpack_len(buf, off + 8)[0]
        if incl > MAX_RECORD_LEN:
            stop = f"record {len(offsets) + 1} at byte {off} claims {incl} captured bytes; file damaged"
            warnings.append(stop + ", stopped reading there")
            break
        append(off)
        off += rec_len + incl
    else:
        if off < size:
            append(off)  # the file ends inside this record header
    return (
        np.frombuffer(offsets, dtype=np.int64) if offsets else np.zeros(0, np.int64),
        warnings,
        stop,
    )
