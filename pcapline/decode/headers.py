"""Header fields as tables, and the vectorised byte gathers every decoder uses.

Each decoder works on an index array ``idx`` (the frames still alive at its layer) and a
matching array of absolute header positions inside ``Capture.data``; it reads a field of
all those frames at once with one fancy-indexing gather per byte. Callers guarantee
``pos + width <= end`` of the captured bytes before gathering (``FrameCursor.need``), so a
gather never reads past a frame (and never past the buffer).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pcapline.model import SkipReason
from pcapline.read.capture import gather_rows

#: Skip reasons as small integer codes (0 = still alive); decode turns them back into names.
REASON_CODES: dict[SkipReason, int] = {reason: i + 1 for i, reason in enumerate(SkipReason)}
ALIVE = 0


def u8(data: np.ndarray, pos: np.ndarray) -> np.ndarray:
    return data[pos]


def be16(data: np.ndarray, pos: np.ndarray) -> np.ndarray:
    return (data[pos].astype(np.uint16) << 8) | data[pos + 1]


def le16(data: np.ndarray, pos: np.ndarray) -> np.ndarray:
    return (data[pos + 1].astype(np.uint16) << 8) | data[pos]


def be32(data: np.ndarray, pos: np.ndarray) -> np.ndarray:
    return (be16(data, pos).astype(np.uint32) << 16) | be16(data, pos + 2)


def le32(data: np.ndarray, pos: np.ndarray) -> np.ndarray:
    return (le16(data, pos + 2).astype(np.uint32) << 16) | le16(data, pos)


def be64(data: np.ndarray, pos: np.ndarray) -> np.ndarray:
    return (be32(data, pos).astype(np.uint64) << np.uint64(32)) | be32(data, pos + 4)


class Block:
    """Fixed-size header bytes of many frames; big-endian fields by offset."""

    def __init__(self, data: np.ndarray, pos: np.ndarray, width: int) -> None:
        self.rows = gather_rows(data, pos, width)

    def u8(self, at: int) -> np.ndarray:
        return self.rows[:, at]

    def be16(self, at: int) -> np.ndarray:
        return (self.rows[:, at].astype(np.uint16) << 8) | self.rows[:, at + 1]

    def be32(self, at: int) -> np.ndarray:
        return (self.be16(at).astype(np.uint32) << 16) | self.be16(at + 2)

    def le32(self, at: int) -> np.ndarray:
        r = self.rows[:, at : at + 4].astype(np.uint32)
        return r[:, 0] | (r[:, 1] << 8) | (r[:, 2] << 16) | (r[:, 3] << 24)

    def be64(self, at: int) -> np.ndarray:
        return (self.be32(at).astype(np.uint64) << np.uint64(32)) | self.be32(at + 4)


@dataclass
class FrameCursor:
    """Per-frame decoding state shared by the layers (all arrays have one entry per frame)."""

    data: np.ndarray  # uint8, the whole capture buffer
    end: np.ndarray  # int64, one past the last captured byte of each frame
    wire_end: np.ndarray  # int64, where the frame would end with all its bytes (origlen)
    reason: np.ndarray  # int8, 0 while a frame is alive, else a REASON_CODES value

    def alive(self, idx: np.ndarray) -> np.ndarray:
        return idx[self.reason[idx] == ALIVE]

    def skip(self, idx: np.ndarray, why: SkipReason) -> None:
        """Mark frames ``idx`` as skipped (the first reason given wins)."""
        if idx.size:
            fresh = idx[self.reason[idx] == ALIVE]
            self.reason[fresh] = REASON_CODES[why]

    def need(self, idx: np.ndarray, pos: np.ndarray, nbytes: int | np.ndarray) -> np.ndarray:
        """Boolean mask over ``idx``: ``nbytes`` at ``pos`` were captured. Others are
        skipped as truncated_header (the snaplen or the file cut the header)."""
        ok = pos + nbytes <= self.end[idx]
        self.skip(idx[~ok], SkipReason.TRUNCATED_HEADER)
        return ok
