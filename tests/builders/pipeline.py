"""A capture file run through read -> decode -> flows, as the detector tests start from it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pcapline.decode import decode
from pcapline.errors import PcaplineError
from pcapline.flows import build_flows
from pcapline.read import read_capture


def flowed_segments(path: Path) -> tuple[pd.DataFrame, int | None] | None:
    """The capture's segments with flows' columns and its last timestamp (``run_all``'s
    ``capture_end_ns``); None for a file the reader refuses or one without TCP."""
    try:
        capture = read_capture(str(path))
        segments, _connections = build_flows(decode(capture).segments)
    except PcaplineError:
        return None
    end = int(capture.timed_ns.max()) if len(capture.timed_ns) else None
    return segments, end
