"""The common frame, Ethernet II / IPv4 / TCP, decoded in one compiled walk.

Nearly every frame of a capture taken on a Linux host or router is exactly that. The numpy
layers (link.py -> ip.py -> tcp.py -> options.py) decode it in a dozen passes over every
frame, each gathering a few bytes from the whole capture; the compiled core
(``pcapline.read._native.ethernet_ipv4_tcp``) reads each such frame once, header after
header, and writes its segment columns (0.6 -> ~0.2 CPU s on the 2.5 M-packet bench capture).

It takes a frame only when the numpy layers would keep it with no decision of their own to
make: a complete record of link type Ethernet, EtherType IPv4 right after the addresses (no
VLAN tag or other shim), a whole IPv4 header that is no fragment and carries TCP, a whole TCP
header that fits the IP payload. Every other frame goes through the numpy layers as before,
which stay the reference: ``decode(..., common=False)`` is the numpy path alone, and
tests/decode/test_common_frames.py requires the same tables from both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pcapline.read import native
from pcapline.read.capture import Capture

#: The core's output columns, in its order (``_native.c``, ``cf_size``): segment column
#: names (``model.SEGMENT_COLUMNS``, same dtypes) and ``idx``, the frame's index.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("idx", "int64"),
    ("src_lo", "uint64"),
    ("dst_lo", "uint64"),
    ("sport", "uint16"),
    ("dport", "uint16"),
    ("ip_id", "uint32"),
    ("ttl", "uint8"),
    ("seq", "uint32"),
    ("ack", "uint32"),
    ("flags", "uint16"),
    ("window", "uint16"),
    ("seg_len", "uint32"),
    ("mss", "uint16"),
    ("wscale", "int8"),
    ("sack_perm", "bool"),
    ("has_ts", "bool"),
    ("ts_val", "uint32"),
    ("ts_ecr", "uint32"),
    ("sack_blocks", "uint8"),
    ("sack_le", "uint32"),
    ("sack_re", "uint32"),
    ("dsack", "bool"),
    ("payload_at", "uint32"),
)


@dataclass(frozen=True, slots=True)
class CommonFrames:
    """The frames the core decoded: ``idx`` (ascending frame indices) and, per segment
    column it fills, one value per such frame."""

    idx: np.ndarray
    columns: dict[str, np.ndarray]


def common_frames(capture: Capture) -> CommonFrames | None:
    """The Ethernet/IPv4/TCP frames of ``capture`` decoded by the compiled core; None when
    the core is not in use (the numpy layers then decode every frame)."""
    if not native.active or not _plain(capture.data):
        return None
    n = capture.frames
    out = {name: np.empty(n, dtype) for name, dtype in COLUMNS}
    rows = native.core.ethernet_ipv4_tcp(
        capture.data.data,
        native.int64s(capture.offset),
        native.int64s(capture.caplen),
        native.int64s(capture.origlen),
        np.ascontiguousarray(capture.link_type, dtype=np.int32).data,
        native.flags(capture.truncated_mask),
        tuple(column.data for column in out.values()),
    )
    # Views of the first ``rows`` values: a capture that is nearly all such frames (the
    # usual case) keeps its arrays without a copy.
    columns = {name: column[:rows] for name, column in out.items()}
    return CommonFrames(idx=columns.pop("idx"), columns=columns)


def _plain(data: np.ndarray) -> bool:
    return data.ndim == 1 and data.dtype == np.uint8 and data.flags.c_contiguous
