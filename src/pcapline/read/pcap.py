"""Classic libpcap files: header checks and a fast record walker.

The walker only follows the chain of record lengths (in C when the compiled core is built,
``read/native.py``; else one ``struct.unpack_from`` per record); timestamps and lengths are
then gathered for all records at once with numpy. Checks follow libpcap/Wireshark (wiretap
``libpcap.c``) so we stop where tshark stops.
"""

from __future__ import annotations

import struct
from array import array
from dataclasses import dataclass

import numpy as np

from pcapline.errors import CaptureError
from pcapline.read import native
from pcapline.read.capture import gather_rows

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
    records, _ = PcapWalker(pcap_header(data, path), path).window(data, 0, final=True)
    return records


@dataclass(frozen=True)
class PcapHeader:
    """What the 24-byte file header says every record is read with."""

    order: str  # "<" or ">"
    nano: bool  # nanosecond timestamps
    rec_len: int  # record header length (16; 24 for the "modified" libpcap)
    link_type: int
    snaplen: int


def pcap_header(data: np.ndarray, path: str) -> PcapHeader:
    """Check and parse the file header at the start of ``data``."""
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
    return PcapHeader(order, nano, rec_len, linkfield & LINKTYPE_MASK, snaplen)


class PcapWalker:
    """Walks the records of one pcap file, one window of its bytes at a time.

    ``window(data, base, final)`` reads the records that lie wholly inside ``data`` (the
    file's bytes from offset ``base``) and says how many bytes it consumed: a record cut by
    the window's end is left for the next window, which starts where it starts. Only the
    ``final`` window (the one holding the end of the file) reads a record the file ends in.
    Frame numbers, byte offsets in warnings and the previous frame's time carry across
    windows, so any windowing gives what one window over the whole file gives.
    """

    def __init__(self, header: PcapHeader, path: str) -> None:
        self.header = header
        self.path = path
        self.frames = 0  # records read in earlier windows
        self.last_time_ns = 0  # time of the last of them
        self.done = False  # a damaged record stopped the walk: no more windows
        self.warnings: list[str] = []
        self.impossible = ImpossibleFractions()

    def window(self, data: np.ndarray, base: int, final: bool) -> tuple[Records, int]:
        """The records of this window (offsets relative to ``data``), and the bytes consumed."""
        h = self.header
        size = int(data.shape[0])
        first = FILE_HEADER_LEN if base == 0 else 0
        offsets, stop, end = _walk(data, h.order, h.rec_len, first, base, self.frames, final)
        joined = None
        if stop is None and not final and len(offsets) and self._may_be_a_header(data, offsets):
            # Read with the record after it, in the next window: a second file header must
            # be known for one before it is handed on as a frame (``_joined_at``).
            end, offsets = int(offsets[-1]), offsets[:-1]
        if stop is not None and (joined := self._joined_at(data, base, offsets, end)) is not None:
            stop = (
                f"a second pcap file header at byte {joined} (captures joined with cat? "
                "join them with 'mergecap -w OUT.pcap A.pcap B.pcap')"
            )
        if stop is not None:
            self.warnings.append(stop + ", stopped reading there")
            self.done = True
        n = len(offsets)
        truncated = 0
        last_time_unknown = False
        if n:
            # Only the last record can be cut inside its header (the walk stops there): the
            # others' words are gathered as one slice, the cut one's stay 0.
            whole = n if int(offsets[-1]) + 16 <= size else n - 1
            words = gather_rows(data, offsets[:whole], 16).view(h.order + "u4")
            if whole < n:
                words = np.concatenate([words, np.zeros((1, 4), words.dtype)])
            # Each column widened once, straight from the gathered words (in place after that:
            # these are the four biggest arrays of the read stage).
            time_ns, frac, incl, orig = (words[:, k].astype(np.int64) for k in range(4))
            self.impossible.add(frac[:whole], self.frames, h.nano)
            time_ns *= 1_000_000_000
            if not h.nano:
                frac *= 1000
            time_ns += frac
            del frac
            start = offsets + h.rec_len
            caplen = np.minimum(incl, size - start)
            np.maximum(caplen, 0, out=caplen)
            truncated = int((start + incl > size).sum())
            last_time_unknown = whole < n
            total = self.frames + n
            if stop is not None and joined is not None:
                # The header walked as a record of 0 bytes stays a frame, as Wireshark counts
                # it, but its "time" is the magic number read as seconds (2055, 29 years after
                # the capture): a frame without a time, as one cut inside its header.
                last_time_unknown = True
            if last_time_unknown:
                # The file ended inside the last record header: a frame we know nothing about
                # except that it exists; give it the previous frame's time (Capture.timed_ns
                # leaves it out of first/last time when there is no previous frame).
                time_ns[-1] = time_ns[-2] if n > 1 else self.last_time_ns
            if start[-1] > size:
                present = size - int(offsets[-1])
                self.warnings.append(
                    f"file ends inside the header of record {total} ({present} of {h.rec_len} bytes)"
                )
            elif truncated:
                self.warnings.append(
                    f"file ends inside frame {total} ({int(caplen[-1])} of {int(incl[-1])} captured bytes present)"
                )
            self.frames = total
            self.last_time_ns = int(time_ns[-1])
        else:
            time_ns = np.zeros(0, dtype=np.int64)
            start = caplen = orig = np.zeros(0, dtype=np.int64)
        if stop is not None and self.frames == 0:
            raise CaptureError(f"{self.path}: {stop}")
        records = Records(
            time_ns=time_ns.astype(np.int64, copy=False),
            link_type=np.full(n, h.link_type, dtype=np.int32),
            offset=start.astype(np.int64, copy=False),
            caplen=caplen.astype(np.int64, copy=False),
            origlen=orig.astype(np.int64, copy=False),
            warnings=self.warnings + self.impossible.warnings(),
            truncated_records=truncated,
            last_time_unknown=last_time_unknown,
            declared_link_types=(h.link_type,),
            snaplen=h.snaplen or None,
        )
        return records, end

    def _may_be_a_header(self, data: np.ndarray, offsets: np.ndarray) -> bool:
        """The window's last record starts with a pcap magic number (a file header read as a
        record, maybe)."""
        if self.header.rec_len != 16:
            return False
        last = int(offsets[-1])
        return data[last : last + 4].tobytes() in PCAP_MAGICS

    def _joined_at(self, data: np.ndarray, base: int, offsets: np.ndarray, end: int) -> int | None:
        """File offset of a pcap file header read as the record just before the damaged one
        at ``end`` (``cat a.pcap b.pcap``: the 24-byte header reads as a record of 0 bytes,
        the next "record" claims the first real timestamp as its length), else None."""
        if self.header.rec_len != 16:
            return None
        at = base + end - 16
        # Never the previous window's last record: ``window`` holds such a one back.
        if len(offsets) and int(offsets[-1]) == end - 16:
            head = data[end - 16 : end - 12].tobytes()
        else:
            return None
        return at if head in PCAP_MAGICS else None


@dataclass
class ImpossibleFractions:
    """Record timestamps whose fraction field is a whole second or more (microseconds
    >= 10^6, nanoseconds >= 10^9): the writer's bug, not the network's. They are read as
    tcpdump reads them (the excess carried into the seconds), and said in one warning: a
    connection timed across such a frame may show seconds that never passed."""

    count: int = 0
    first_frame: int = 0  # frame number of the first such record
    nano: bool = False

    def add(self, fractions: np.ndarray, before: int, nano: bool) -> None:
        """``fractions``: one window's fraction fields; ``before``: frames in earlier windows."""
        bad = np.flatnonzero(fractions >= (1_000_000_000 if nano else 1_000_000))
        if bad.size and not self.count:
            self.first_frame = before + int(bad[0]) + 1
        self.count += int(bad.size)
        self.nano = nano

    def warnings(self) -> list[str]:
        if not self.count:
            return []
        unit = "nanoseconds field 1,000,000,000" if self.nano else "microseconds field 1,000,000"
        frames = f"{self.count:,} frames carry" if self.count > 1 else "1 frame carries"
        return [
            f"{frames} an impossible timestamp ({unit} or more; first at frame "
            f"{self.first_frame}), written so by the capture's writer: read with the excess "
            "carried into the seconds, so times and delays across such a frame may hold "
            "seconds that never passed"
        ]


def _walk(
    data: np.ndarray, order: str, rec_len: int, first: int, base: int, before: int, final: bool
) -> tuple[np.ndarray, str | None, int]:
    """Offsets of every record header from ``first`` on (the loop reads only each record's
    length), why the walk stopped early (None: it did not) and where the next window starts.
    ``base``/``before``: the window's offset in the file and the records before it (for the
    words of the warning). Outside the ``final`` window a record must lie wholly inside.
    The compiled core's loop when it is built (``native``), else ``_walk_python``."""
    if not native.active:
        return _walk_python(data, order, rec_len, first, base, before, final)
    found, incl, off = native.core.walk_pcap(
        data.data, order == ">", rec_len, first, final, MAX_RECORD_LEN
    )
    offsets = np.frombuffer(found, dtype=np.int64)
    stop = None if incl is None else _damaged(before + len(offsets) + 1, base + off, incl)
    return offsets, stop, off


def _damaged(record: int, at: int, incl: int) -> str:
    """Why the walk stops at a record whose length field is beyond belief."""
    return f"record {record} at byte {at} claims {incl} captured bytes; file damaged"


def _walk_python(
    data: np.ndarray, order: str, rec_len: int, first: int, base: int, before: int, final: bool
) -> tuple[np.ndarray, str | None, int]:
    """``_walk`` in Python: the reference the compiled core is tested against."""
    buf = data.data  # memoryview over the numpy buffer (struct reads it without a copy)
    size = len(buf)
    unpack_len = struct.Struct(order + "I").unpack_from
    offsets = array("q")
    append = offsets.append
    stop: str | None = None
    off = first
    last = size - 16
    while off <= last:
        incl = unpack_len(buf, off + 8)[0]
        if incl > MAX_RECORD_LEN:
            stop = _damaged(before + len(offsets) + 1, base + off, incl)
            break
        append(off)
        off += rec_len + incl
    else:
        # Outside the final window, a record the window ends in is the next window's first.
        if off > size and not final:
            off = offsets.pop()  # its captured bytes are cut by the window
        elif off < size and final:
            append(off)  # the file ends inside this record header
    return (
        np.frombuffer(offsets, dtype=np.int64) if offsets else np.zeros(0, np.int64),
        stop,
        off,
    )
