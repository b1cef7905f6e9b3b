"""What every cross-connection finder receives, and how findings list their connections."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pcapline.findings.handshakes import Handshakes
from pcapline.model import Finding

if TYPE_CHECKING:
    from pcapline.detect import ConnDetections

#: A finding names at most this many connection ids; ``connection_count`` has the total and
#: ``connections_truncated`` is set, so a 100k-connection SYN flood stays a small JSON object.
MAX_LISTED_CONNECTIONS = 1000


@dataclass(frozen=True, slots=True)
class FindingInput:
    segments: pd.DataFrame  # model.SEGMENT_COLUMNS + model.FLOW_COLUMNS
    connections: pd.DataFrame  # connections table (fate columns when classify ran)
    events: pd.DataFrame  # model.EVENT_COLUMNS
    handshakes: Handshakes  # shared per-SYN / per-connection facts
    #: What the detectors found per visited connection (a connection no screen selected showed
    #: none of the phenomena findings look for), typed: findings never re-derive a signature.
    detections: Mapping[int, ConnDetections] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Finder:
    name: str  # == the finding kind it emits, == the module name
    find: Callable[[FindingInput], list[Finding]]


def make_finding(
    kind: str, summary: str, ids: Sequence[int], explanation: str, **details: object
) -> Finding:
    """A Finding listing at most MAX_LISTED_CONNECTIONS ids, with ``connection_count`` and ``explanation``."""
    listed, truncated = capped_ids(ids)
    extra: dict[str, object] = {**details, "connection_count": len(ids)}
    if truncated:
        extra["connections_truncated"] = True
    extra["explanation"] = explanation
    return Finding(kind=kind, summary=summary, connections=tuple(listed), details=extra)


def capped_ids(ids: Sequence[int]) -> tuple[list[int], bool]:
    """The first MAX_LISTED_CONNECTIONS ids (sorted) and whether some were left out."""
    ordered = sorted(int(i) for i in ids)
    return ordered[:MAX_LISTED_CONNECTIONS], len(ordered) > MAX_LISTED_CONNECTIONS


@dataclass(frozen=True, slots=True)
class Burst:
    """The busiest ``window_ns`` stretch of a set of event times."""

    count: int
    start_ns: int

    def to_dict(self, window_s: int) -> dict[str, object]:
        return {"connections": self.count, "window_s": window_s, "start": self.start_ns / 1e9}


def densest_window(times_ns: np.ndarray, window_ns: int) -> Burst:
    """Most times inside any ``[t, t + window_ns]`` with ``t`` one of the times."""
    if len(times_ns) == 0:
        return Burst(0, 0)
    ordered = np.sort(np.asarray(times_ns, dtype=np.int64))
    ends = np.searchsorted(ordered, ordered + window_ns, side="right")
    best = int(np.argmax(ends - np.arange(len(ordered))))
    return Burst(int(ends[best] - best), int(ordered[best]))
