"""The ``Capture`` record: what the read stage hands to decode."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.lib.stride_tricks import as_strided

from pcapline.read import native

if TYPE_CHECKING:
    from pcapline.read.pcap import Records


@dataclass
class Capture:
    """Every frame record of one capture file, as columns over one byte buffer.

    One entry per frame record in file order; ``frame`` is 1-based like Wireshark's
    ``frame.number``. ``offset``/``caplen`` locate the captured bytes inside ``data``;
    ``origlen`` is the length on the wire. The last ``truncated_records`` entries are
    records the file ended inside: they are frames (counted, numbered) whose bytes are
    incomplete, and decode skips them as ``truncated_record``.
    """

    path: str
    format: str  # "pcap" | "pcapng"
    frame: np.ndarray  # int64, 1-based
    time_ns: np.ndarray  # int64 ns since the epoch
    link_type: np.ndarray  # int32 LINKTYPE_* value (low 16 bits of the header field)
    offset: np.ndarray  # int64 start of the captured bytes in ``data``
    caplen: np.ndarray  # int64 captured bytes available in ``data``
    origlen: np.ndarray  # int64 length on the wire
    data: np.ndarray  # uint8 view of the whole (decompressed) file
    warnings: list[str] = field(default_factory=list)
    truncated_records: int = 0
    compression: str | None = (
        None  # "gzip" | "bzip2" | "xz" | "zstd" | None; "gzip+gzip" when nested
    )
    #: The file ends before the last frame's timestamp (inside its record header): that frame
    #: carries the previous frame's time, and counts in no first/last time (``timed_ns``).
    last_time_unknown: bool = False
    #: LINKTYPE_* values the file header / interface blocks declare, even with no frame at all.
    declared_link_types: tuple[int, ...] = ()
    #: The declared snapshot length (None: no limit declared) and the pcapng interface
    #: statistics' drop counters (None: not stated), as ``read.pcap.Records`` has them.
    snaplen: int | None = None
    if_drops: int | None = None
    os_drops: int | None = None

    @classmethod
    def of_records(
        cls, path: str, fmt: str, records: Records, data: np.ndarray, first_frame: int = 1
    ) -> Capture:
        """The frames a walker found in ``data`` (records' offsets are into it), numbered from
        ``first_frame``, with what the records say of the file (its warnings excepted: the
        caller knows which belong to the whole file)."""
        n = records.offset.shape[0]
        return cls(
            path=path,
            format=fmt,
            frame=np.arange(first_frame, first_frame + n, dtype=np.int64),
            time_ns=records.time_ns,
            link_type=records.link_type,
            offset=records.offset,
            caplen=records.caplen,
            origlen=records.origlen,
            data=data,
            truncated_records=records.truncated_records,
            last_time_unknown=records.last_time_unknown,
            declared_link_types=records.declared_link_types,
            snaplen=records.snaplen,
            if_drops=records.if_drops,
            os_drops=records.os_drops,
        )

    @property
    def frames(self) -> int:
        return int(self.frame.shape[0])

    @property
    def timed_ns(self) -> np.ndarray:
        """Timestamps of the frames whose time the file holds (for first/last capture time)."""
        return self.time_ns[:-1] if self.last_time_unknown else self.time_ns

    @property
    def truncated_mask(self) -> np.ndarray:
        """Boolean per frame: the file ended inside this record."""
        mask = np.zeros(self.frames, dtype=bool)
        if self.truncated_records:
            mask[self.frames - self.truncated_records :] = True
        return mask


BACKWARDS_WARN_NS = 1_000_000


def backwards_time_warning(time_ns: np.ndarray) -> str | None:
    """One warning when timestamps step backwards in file order by more than 1 ms, else None.

    Merged captures (``mergecap -a``) and clock steps (NTP, VM migration) do it; durations
    then come from the earliest/latest times, not the first/last frames (flows._time_span).
    Steps of a few microseconds are normal on one interface (multi-queue NICs timestamp on
    several CPUs; seen in our own real-kernel bench capture) and are not worth a warning.
    One vectorised comparison: about 10 ms for 2.5 million frames.
    """
    steps = BackwardSteps()
    steps.add(time_ns)
    return steps.warning()


@dataclass
class BackwardSteps:
    """``backwards_time_warning`` over a capture read in pieces: ``add`` each piece's
    timestamps in file order (the step from one piece into the next counts too)."""

    count: int = 0  # steps back by more than BACKWARDS_WARN_NS
    first_frame: int = 0  # frame number after the first such step
    largest: int = 0  # the largest step back (ns), over every step
    frames: int = 0  # frames added so far
    last_ns: int | None = None  # the time of the last of them

    def add(self, time_ns: np.ndarray) -> None:
        times = time_ns.astype(np.int64)
        if self.last_ns is not None:
            times = np.concatenate([np.array([self.last_ns], np.int64), times])
        step = times[:-1] - times[1:]
        back = np.flatnonzero(step > BACKWARDS_WARN_NS)
        if back.size:
            before = self.frames - (1 if self.last_ns is not None else 0)
            if not self.count:
                self.first_frame = before + int(back[0]) + 2
            self.count += int(back.size)
        if step.size:
            self.largest = max(self.largest, int(step.max()))
        if times.size:
            self.last_ns = int(times[-1])
        self.frames += int(time_ns.shape[0])

    def warning(self) -> str | None:
        if not self.count:
            return None
        times = "time" if self.count == 1 else "times"
        return (
            f"timestamps go backwards {self.count:,} {times} by more than 1 ms (first at frame "
            f"{self.first_frame}, largest {self.largest / 1e9:.3f} s): merged or clock-stepped "
            "capture; durations use earliest/latest times"
        )


def gather_rows(data: np.ndarray, pos: np.ndarray, width: int) -> np.ndarray:
    """``width`` bytes at each position, as an (n, width) uint8 array: one C loop of row
    copies when the compiled core is built (``native``; about 30 % less CPU: both are bound
    by reading the capture's memory), else ONE fancy-index operation over a zero-copy
    sliding-window view of the buffer (about 10x faster than one gather per byte).
    Callers guarantee ``pos + width <= len(data)``."""
    if pos.shape[0] == 0 or data.shape[0] < width:
        return np.zeros((0, width), dtype=np.uint8)
    if native.active and _plain(data, pos, width):
        rows = np.empty((pos.shape[0], width), dtype=np.uint8)
        at = np.ascontiguousarray(pos, dtype=np.int64)
        if native.core.gather_rows(data.data, at.data, width, rows.data):
            return rows
        # A position out of range: the numpy path below raises (or wraps) as it always did.
    return gather_rows_numpy(data, pos, width)


def _plain(data: np.ndarray, pos: np.ndarray, width: int) -> bool:
    """What the core's ``gather_rows`` takes: a contiguous byte buffer and integer positions
    (it sees them as raw buffers; anything else keeps numpy's indexing rules)."""
    return (
        data.ndim == 1
        and data.dtype == np.uint8
        and data.flags.c_contiguous
        and pos.ndim == 1
        and pos.dtype.kind in "iu"
        and width > 0
    )


def gather_rows_numpy(data: np.ndarray, pos: np.ndarray, width: int) -> np.ndarray:
    """``gather_rows`` with numpy only: the reference the compiled core is tested against."""
    if pos.shape[0] == 0 or data.shape[0] < width:
        return np.zeros((0, width), dtype=np.uint8)
    step = data.strides[0]
    windows = as_strided(
        data, shape=(data.shape[0] - width + 1, width), strides=(step, step), writeable=False
    )
    out: np.ndarray = windows[pos]
    return out


def words_at(data: np.ndarray, pos: np.ndarray, order: str, count: int) -> np.ndarray:
    """``count`` consecutive 32-bit words (byte order ``order``) at each position, (n, count) int64."""
    return gather_rows(data, pos, 4 * count).view(order + "u4").astype(np.int64).reshape(-1, count)
