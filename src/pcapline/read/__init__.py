"""Read stage: a capture file (or stdin, or a file object) -> ``Capture``.

``read_capture`` sniffs compression and file format from magic bytes, then walks the
records of classic pcap (``pcap.py``) or pcapng (``pcapng.py``). Damage that leaves
usable frames becomes a warning; input with nothing usable raises ``CaptureError``.
"""

from __future__ import annotations

import os
from typing import BinaryIO

from pcapline.errors import CaptureError
from pcapline.read.capture import Capture, backwards_time_warning
from pcapline.read.open import TELL_BYTES, not_a_capture, open_source
from pcapline.read.pcap import is_pcap, read_pcap
from pcapline.read.pcapng import is_pcapng, read_pcapng

__all__ = ["Capture", "read_capture"]


def read_capture(source: str | os.PathLike[str] | BinaryIO) -> Capture:
    """Read every frame record of a pcap/pcapng capture (optionally compressed)."""
    raw = open_source(source)
    data = raw.data
    path = raw.path
    if data.shape[0] == 0:
        raise CaptureError(f"{path}: empty file")
    head = data[:8].tobytes()
    if is_pcap(head):
        fmt, records = "pcap", read_pcap(data, path)
    elif is_pcapng(head):
        fmt, records = "pcapng", read_pcapng(data, path)
    else:
        raise CaptureError(not_a_capture(path, data[:TELL_BYTES].tobytes()))
    backwards = backwards_time_warning(records.time_ns)
    capture = Capture.of_records(path, fmt, records, data)
    capture.warnings = raw.warnings + records.warnings + ([backwards] if backwards else [])
    capture.compression = raw.compression
    return capture
