"""The ``Capture`` record: what the read stage hands to decode."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


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
    compression: str | None = None  # "gzip" | "bzip2" | "xz" | "zstd" | None

    @property
    def frames(self) -> int:
        return int(self.frame.shape[0])

    @property
    def truncated_mask(self) -> np.ndarray:
        """Boolean per frame: the file ended inside this record."""
        mask = np.zeros(self.frames, dtype=bool)
        if self.truncated_records:
            mask[self.frames - self.truncated_records :] = True
        return mask


def frame_arrays(
    n: int,
) -> dict[str, np.ndarray]:
    """Empty per-frame columns of length ``n`` (used by both file formats)."""
    return {
        "time_ns": np.zeros(n, dtype=np.int64),
        "link_type": np.zeros(n, dtype=np.int32),
        "offset": np.zeros(n, dtype=np.int64),
        "caplen": np.zeros(n, dtype=np.int64),
        "origlen": np.zeros(n, dtype=np.int64),
    }
