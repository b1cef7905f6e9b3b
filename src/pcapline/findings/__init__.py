"""Cross-connection findings: what only shows when many connections are looked at together.

``FINDERS`` is the explicit, ordered registry; ``find_all`` runs each over one capture's tables
(used by ``analyze`` for one capture and, through it, by ``scan`` for many):

- ``nat_copies``: connections captured twice, before and after a NAT on the capture host (run
  first: every other finder gets the capture with each connection once)
- ``nat_timestamp``: tw_recycle / per-host PAWS SYN drops behind a NAT (the flagship finding)
- ``syns_not_forwarded``: a forwarding host captured with ``-i any`` took SYNs in and never
  sent them on while it forwarded others to the same server (conntrack full, NAT ports
  exhausted, a firewall) (reads the copies: runs on the whole capture)
- ``nat_remap``: a connection's byte stream carried on under another client address or port
  without a handshake (a NAT that lost its conntrack entry translated it anew)
- ``listen_overflow``: bursts of accept-queue overflow on one server port
- ``syn_flood``: many half-open connections from many sources to one server port
- ``time_wait_churn``: connection-per-request churn, 4-tuples reused within TIME_WAIT,
  client port-range pressure
- ``syn_retry_burst``: many connections to one server that connected only after SYN retries
- ``intermittent_connect``: one server port refuses connections and accepts the ones in
  between (a load balancer with a bad backend)
- ``path_reset``: refusals whose RST arrives with another TTL than the server's SYN+ACKs (a
  router or firewall in the path rejecting the SYN)
- ``port_scan``: one client tries many ports of one server within seconds, most refused or
  unanswered (a scanner's refusals are no failing services)
- ``rto_storm``: many connections to one server stalled on retransmission timeouts at once
- ``response_jump``: a server whose response times jumped at some moment

Each finder's module docstring states the kernel rule, the wire signature and its thresholds.
Findings come out in registry order, and by server/client inside one finder, so output is
deterministic.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pcapline.findings import (
    connect_checks,
    half_open_probes,
    host_sweep,
    intermittent_connect,
    listen_overflow,
    nat_copies,
    nat_remap,
    nat_timestamp,
    path_reset,
    port_scan,
    response_jump,
    rto_storm,
    syn_flood,
    syn_retry_burst,
    syns_not_forwarded,
    time_wait_churn,
)
from pcapline.findings.base import Finder, FindingInput
from pcapline.findings.handshakes import CONN_COLUMNS, Handshakes, summarize
from pcapline.model import Finding

if TYPE_CHECKING:
    from pcapline.delays import DelaysTable
    from pcapline.detect import ConnDetections

__all__ = [
    "CONNECTION_COLUMNS",
    "FINDERS",
    "Finder",
    "detections_read",
    "find_all",
    "finder_rows",
]

FINDERS: tuple[Finder, ...] = (
    nat_copies.FINDER,
    nat_timestamp.FINDER,
    nat_remap.FINDER,
    syns_not_forwarded.FINDER,
    listen_overflow.FINDER,
    syn_flood.FINDER,
    time_wait_churn.FINDER,
    syn_retry_burst.FINDER,
    intermittent_connect.FINDER,
    path_reset.FINDER,
    port_scan.FINDER,
    host_sweep.FINDER,
    half_open_probes.FINDER,
    connect_checks.FINDER,
    rto_storm.FINDER,
    response_jump.FINDER,
)

#: The finders that read the capture with its NAT copies (the others get each connection once).
_WITH_COPIES = (nat_copies.FINDER, syns_not_forwarded.FINDER)

#: The connections-table columns the finders read (directly, or through ``handshakes``):
#: a caller that keeps a light table for them (the bounded-memory engine) keeps these.
CONNECTION_COLUMNS: tuple[str, ...] = (
    *CONN_COLUMNS,
    "fate",  # listen_overflow
    "syn_retransmits",  # syn_retry_burst
    "connect_s",  # syn_retry_burst, intermittent_connect, port_scan, host_sweep
    "confidence",  # intermittent_connect
    "reset_by",  # intermittent_connect, port_scan (lone probes)
    "cause",  # half_open_probes, port_scan, host_sweep
    "bytes_client",  # connect_checks, port_scan (lone probes), nat_remap
    "bytes_server",  # connect_checks, port_scan (lone probes), nat_remap
    "packets",  # port_scan (lone probes)
    "resets",  # port_scan (lone probes)
)


def find_all(
    segments: pd.DataFrame,
    connections: pd.DataFrame,
    events: pd.DataFrame,
    *,
    detections: Mapping[int, ConnDetections] | None = None,
    delays: DelaysTable | None = None,
    handshakes: Handshakes | None = None,
    after_each: Callable[[], object] | None = None,
    flag_filtered: bool = False,
) -> list[Finding]:
    """Every cross-connection finding in one capture, in ``FINDERS`` order.

    ``detections``: what the detectors found per visited connection (``analyze`` passes them;
    without them the detectors run here). Fates come from the connections table's ``fate``
    column (built from the verdicts) when it has one. ``delays``: the delays stage's table
    (the slow findings read its stalls and turns; without it they find nothing).
    ``handshakes``: ``handshakes.summarize(segments, connections)`` when the caller has it
    (the bounded-memory engine merges its parts' with ``handshakes.concat``); ``segments``
    then needs to hold only ``finder_rows`` (of every part of the capture). ``after_each``:
    called after each finder (the bounded-memory engine gives the pages a finder's
    temporaries freed back, so that the next one's do not pile on top of them).
    ``flag_filtered``: the whole capture holds only SYN/FIN/RST segments (its quality).
    """
    if connections.empty or (handshakes is None and segments.empty):
        return []
    if detections is None:
        from pcapline.detect import run_all

        detections = run_all(segments).detections
    if handshakes is None:
        handshakes = summarize(segments, connections)
    data = FindingInput(
        segments,
        connections,
        events,
        handshakes,
        detections=detections,
        delays=delays,
        copies=nat_copies.copies(handshakes),
        flag_filtered=flag_filtered,
    )
    once = nat_copies.without_copies(data)
    found: list[Finding] = []
    for finder in FINDERS:
        found.extend(finder.find(data if finder in _WITH_COPIES else once))
        if after_each is not None:
            after_each()
    return found


def finder_rows(segments: pd.DataFrame) -> pd.DataFrame:
    """The segment rows the finders read beyond ``handshakes.summarize``: each connection's
    first and last timestamped client segment (``nat_timestamp``'s clock samples), with the
    columns it reads. Taken per part of a capture and concatenated, they stand in for the
    whole segments table (beside ``handshakes.concat`` of the parts' summaries)."""
    columns = ["conn", "frame", "time_ns", "ts_val", "from_client", "has_ts"]
    timed = segments.loc[
        segments["from_client"].to_numpy(dtype=bool) & segments["has_ts"].to_numpy(dtype=bool),
        columns,
    ]
    conn = timed["conn"].to_numpy(np.int64)
    order = np.lexsort((timed["frame"].to_numpy(np.int64), conn))  # by connection, frame
    conn = conn[order]
    first = np.r_[True, conn[1:] != conn[:-1]] if len(conn) else np.zeros(0, bool)
    last = np.r_[conn[1:] != conn[:-1], True] if len(conn) else np.zeros(0, bool)
    rows: pd.DataFrame = timed.iloc[order[first | last]].reset_index(drop=True)
    return rows


def detections_read(detections: Mapping[int, ConnDetections]) -> dict[int, ConnDetections]:
    """The detections the finders read (``find_all(detections=)``): those of connections
    showing an accept-queue overflow signature (``listen_overflow.signed``); for every other
    connection the finders read what no detection is. Taken per part of a capture and
    merged, they stand in for all of them: a partition's result then carries a few records
    back instead of one per visited connection."""
    return {conn: found for conn, found in detections.items() if listen_overflow.signed(found)}
