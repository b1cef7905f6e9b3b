"""What every cross-connection finder receives, and how findings list their connections."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pcapline.findings.handshakes import Handshakes
from pcapline.fmt import endpoint
from pcapline.model import Finding

if TYPE_CHECKING:
    from pcapline.delays import DelaysTable
    from pcapline.detect import ConnDetections
    from pcapline.findings.nat_copies import Copies

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
    #: What each connection lost (the delays stage): stalls and request/response turns; None
    #: when the caller measured none (the slow findings then find nothing).
    delays: DelaysTable | None = None
    #: Streams that are later copies of a connection captured before and after a NAT
    #: (``nat_copies``); every finder but that one gets the capture without them.
    copies: Copies | None = None
    #: The capture holds only SYN/FIN/RST segments (``quality.CaptureWide.flag_filtered``): a
    #: missing bare ACK is the filter's, so no finder reads a handshake as unfinished from it.
    flag_filtered: bool = False


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


@dataclass(frozen=True, slots=True)
class ServerBurst:
    """One server ip:port's share of the connections a finder selected, and their busiest stretch."""

    server_ip: object
    server_port: object
    group: pd.DataFrame  # the selected connections-table rows to this server, by row order
    burst: Burst
    window_s: int

    @property
    def server(self) -> str:
        return endpoint(self.server_ip, self.server_port)

    def finding(self, kind: str, summary: str, explanation: str, **details: object) -> Finding:
        """A finding listing ``group``; its details name the ``server`` first and the ``burst``
        last, the finder's own ``details`` between them."""
        return make_finding(
            kind,
            summary,
            self.group["id"].tolist(),
            explanation,
            server=self.server,
            **details,
            burst=self.burst.to_dict(self.window_s),
        )


def server_bursts(
    selected: pd.DataFrame, times_ns: str, window_s: int, at_least: int
) -> Iterator[ServerBurst]:
    """Per server ip:port (in address order), the ``selected`` connections to it whose column
    ``times_ns`` puts at least ``at_least`` of them within one ``window_s`` stretch."""
    for (server_ip, server_port), group in selected.groupby(
        ["server_ip", "server_port"], sort=True
    ):
        burst = densest_window(group[times_ns].to_numpy(), window_s * 10**9)
        if burst.count >= at_least:
            yield ServerBurst(server_ip, server_port, group, burst, window_s)
