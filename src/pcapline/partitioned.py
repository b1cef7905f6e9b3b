"""A capture decoded and split into partitions of whole 4-tuples: what the bounded-memory
engine analyses one partition at a time.

    read + decode (in chunks)  ->  rows of each partition  ->  flows, detect, ... per partition

``PartitionedCapture`` is the contract between the two halves. Its rows are the decode
stage's (``model.SEGMENT_COLUMNS`` plus ``frame_at``/``caplen``: where the frame's captured
bytes start in the source and how many there are, so the application stage can read the
first payloads back without holding the capture). A partition holds every segment of the
unordered 4-tuples that ``partition_of`` gives it, in frame order, and the ICMP errors whose
quoted segment belongs to one of those 4-tuples: everything flows, ``icmp.match`` and the
detectors need about a connection is in one partition (all incarnations of a reused port
pair too, since they share the 4-tuple).

``split_in_memory`` builds one from a whole-capture decode: the reference the streaming
reader (``spill.py``) must equal, and the small-capture path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

from pcapline.model import CaptureInfo
from pcapline.quality import ReadQuality
from pcapline.read import native

#: Columns a partition's segment rows carry beyond ``model.SEGMENT_COLUMNS``.
PLACEMENT_COLUMNS: dict[str, str] = {
    "frame_at": "int64",  # where the frame's captured bytes start in the (decompressed) source
    "caplen": "int64",  # how many captured bytes the frame has
}


class PartitionedCapture(Protocol):
    """A decoded capture, its TCP segments and ICMP errors split by ``partition_of``."""

    #: How many partitions (``partition_of``'s ``count``); some may be empty.
    count: int
    #: The ``capture`` facts of the whole file, exactly as ``analysis.capture_info`` gives
    #: them (frames, tcp/icmp frames, first/last time, skipped counts, link types, warnings).
    info: CaptureInfo
    #: What the file says it lost or cut (``quality.read_quality`` of the whole file).
    read: ReadQuality
    #: The latest timestamp of any frame whose time the file holds (0: no such frame).
    last_frame_ns: int

    @property
    def segment_rows(self) -> list[int]:
        """How many segment rows each partition holds (to schedule the big ones first)."""
        ...

    def segments(self, number: int) -> pd.DataFrame:
        """Partition ``number``'s TCP segment rows (SEGMENT_COLUMNS + PLACEMENT_COLUMNS), in
        frame order, index 0..n-1."""
        ...

    def icmp(self, number: int) -> pd.DataFrame:
        """Partition ``number``'s ICMP errors (``decode.icmp.ICMP_COLUMNS``), in frame order."""
        ...

    def payload(self, at: int, length: int) -> bytes:
        """``length`` captured bytes of the source from offset ``at`` (application context)."""
        ...

    def payload_file(self) -> int | None:
        """The descriptor of the file ``payload`` reads, by the same offsets (``os.pread``
        on it reads what ``payload`` returns); None when the source is not one."""
        ...

    def source_unchanged(self) -> None:
        """Raise ``CaptureError`` if the file ``payload`` reads is no longer the capture that
        was split (cut short, or truncated and written again); what was read from it since
        then cannot be trusted."""
        ...

    def close(self) -> None:
        """Remove whatever the capture spilled to disk (idempotent)."""
        ...


_MIX = np.uint64(0x9E3779B97F4A7C15)


def _mix(h: np.ndarray, value: np.ndarray) -> np.ndarray:
    """One splitmix64-style round: ``h`` absorbs ``value`` (uint64, wrapping arithmetic)."""
    h = (h ^ value.astype(np.uint64)) * _MIX
    mixed: np.ndarray = h ^ (h >> np.uint64(29))
    return mixed


def partition_of(
    ip_version: np.ndarray,
    src_hi: np.ndarray,
    src_lo: np.ndarray,
    dst_hi: np.ndarray,
    dst_lo: np.ndarray,
    sport: np.ndarray,
    dport: np.ndarray,
    count: int,
) -> np.ndarray:
    """Partition number (int64, 0..count-1) of each row's unordered 4-tuple: both directions
    of a connection, and every incarnation of a reused port pair, land together. A hash, not
    an order of appearance, so a chunk of the capture is placed without knowing the others."""
    n = len(src_hi)
    if count <= 1 or n == 0:
        return np.zeros(n, np.int64)
    columns = (ip_version, src_hi, src_lo, dst_hi, dst_lo, sport, dport)
    if native.active:
        out = np.empty(n, np.int64)
        v, sh, sl, dh, dl, sp, dp = (np.ascontiguousarray(c, np.uint64).data for c in columns)
        native.core.partition_of(v, sh, sl, dh, dl, sp, dp, count, out.data)
        return out
    return _partition_of_numpy(columns, count)


def _partition_of_numpy(columns: tuple[np.ndarray, ...], count: int) -> np.ndarray:
    """``partition_of`` of ``columns`` (its seven, in its order) with numpy only: the
    reference the compiled core follows."""
    ip_version, src_hi, src_lo, dst_hi, dst_lo, sport, dport = (
        np.asarray(c, np.uint64) for c in columns
    )
    # The same "low end first" order as flows.tuple_keys.
    forward = (src_hi < dst_hi) | (
        (src_hi == dst_hi) & ((src_lo < dst_lo) | ((src_lo == dst_lo) & (sport <= dport)))
    )
    with np.errstate(over="ignore"):
        h = ip_version + np.uint64(1)
        for low, high in ((src_hi, dst_hi), (src_lo, dst_lo), (sport, dport)):
            h = _mix(h, np.where(forward, low, high))
            h = _mix(h, np.where(forward, high, low))
    return (h % np.uint64(count)).astype(np.int64)


def table_partitions(table: pd.DataFrame, prefix: str, count: int) -> np.ndarray:
    """``partition_of`` each row of a segments table (``prefix`` "") or of an ICMP errors
    table (``prefix`` "q_": the quoted segment's 4-tuple)."""

    def col(name: str) -> np.ndarray:
        return table[prefix + name].to_numpy()

    return partition_of(
        table["ip_version"].to_numpy(),
        col("src_hi"),
        col("src_lo"),
        col("dst_hi"),
        col("dst_lo"),
        col("sport"),
        col("dport"),
        count,
    )


@dataclass
class InMemoryPartitions:
    """``PartitionedCapture`` over a whole-capture decode held in memory."""

    count: int
    info: CaptureInfo
    read: ReadQuality
    last_frame_ns: int
    rows: pd.DataFrame  # every segment row, frame order, with PLACEMENT_COLUMNS
    part_of_row: np.ndarray
    icmp_rows: pd.DataFrame
    part_of_icmp: np.ndarray
    data: np.ndarray  # the capture's bytes

    @property
    def segment_rows(self) -> list[int]:
        rows: list[int] = np.bincount(self.part_of_row, minlength=self.count).tolist()
        return rows

    def segments(self, number: int) -> pd.DataFrame:
        rows: pd.DataFrame = self.rows[self.part_of_row == number]
        return rows.reset_index(drop=True)

    def icmp(self, number: int) -> pd.DataFrame:
        rows: pd.DataFrame = self.icmp_rows[self.part_of_icmp == number]
        return rows.reset_index(drop=True)

    def payload(self, at: int, length: int) -> bytes:
        return self.data[at : at + length].tobytes()

    def payload_file(self) -> int | None:
        return None  # held in memory

    def source_unchanged(self) -> None:
        pass  # held in memory

    def close(self) -> None:
        pass


def split_in_memory(source: object, count: int) -> InMemoryPartitions:
    """Read and decode the whole capture in memory, then split it (the reference path)."""
    from pcapline.analysis import capture_info
    from pcapline.decode import decode
    from pcapline.quality import read_quality
    from pcapline.read import read_capture

    capture = read_capture(source)  # type: ignore[arg-type]
    decoded = decode(capture)
    seg = decoded.segments
    frame_index = seg["frame"].to_numpy(np.int64) - 1
    rows = seg.assign(
        frame_at=capture.offset[frame_index].astype(np.int64),
        caplen=capture.caplen[frame_index].astype(np.int64),
    )
    icmp = decoded.icmp
    times = capture.timed_ns
    return InMemoryPartitions(
        count=max(1, count),
        info=capture_info(capture, decoded),
        read=read_quality(capture),
        last_frame_ns=int(times.max()) if len(times) else 0,
        rows=rows,
        part_of_row=table_partitions(seg, "", count),
        icmp_rows=icmp,
        part_of_icmp=table_partitions(icmp, "q_", count),
        data=capture.data,
    )


__all__ = [
    "PLACEMENT_COLUMNS",
    "InMemoryPartitions",
    "PartitionedCapture",
    "partition_of",
    "split_in_memory",
    "table_partitions",
]
