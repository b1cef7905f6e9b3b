"""RTO storms: many connections to one server stalled on retransmission timeouts at once.

Kernel rule (net/ipv4/tcp_timer.c ``tcp_retransmit_timer``): a sender whose data (or whose
peer's ACKs) stop getting through waits a whole RTO (200 ms at least on Linux, doubling on
each retry) before it resends; fast retransmit only helps while later segments still get
through. Random loss makes a connection stall now and then, each at its own moment; a path
that stops carrying packets for a while (a link flap, a routing change, a full queue on a
middlebox, a failover) makes every connection on it stall in the same seconds.

Wire signature: the delays stage's RTO stalls (``Stall.cause == rto``: first send of the lost
data -> the ACK that ended the episode, or the give-up). Per server host (the far end of the
path, any port), the moment the most connections were inside an RTO stall at the same time.
Thresholds (conservative, so random loss stays quiet): at least ``MIN_CONNECTIONS``
connections stalled at that same instant, and at least ``MIN_SHARE`` of the connections to
that host open at that instant.

A full accept queue makes the same storm without any loss on the path: with
``tcp_abort_on_overflow=0`` the listener drops the ACK that completes a handshake, and the
data after it, until ``accept()`` makes room (``tcp_check_req`` finds no room for the child);
the client, established since the SYN+ACK, resends its first data on its RTO. When at least
``FIRST_DATA_SHARE`` of a storm's connections stalled on their first data, sent within
``FIRST_DATA_NS`` of their handshake ACK, the finding says that reading first
(``on_first_data``). A path outage stalls connections in any phase.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from pcapline.findings.base import Finder, FindingInput, make_finding
from pcapline.findings.handshakes import NO_TIME
from pcapline.model import Finding, Side, StallCause

if TYPE_CHECKING:
    import pandas as pd

KIND = "rto_storm"
MIN_CONNECTIONS = 5
MIN_SHARE = 0.5
#: A client stall beginning this soon after its handshake ACK is on its first data: sooner
#: than TCP_RTO_MIN, before any timer of the new connection could have fired.
FIRST_DATA_NS = 200_000_000
FIRST_DATA_SHARE = 0.8

EXPLANATION = (
    "Many connections to this host waited for a retransmission timeout in the same seconds: "
    "their packets (or the ACKs coming back) stopped getting through for a while, on a part of "
    "the path they share. One connection stalling is ordinary loss; all of them at once is an "
    "outage on the path: a link or interface flapping, a routing or failover change, a "
    "policer or a queue dropping everything, a middlebox (NAT, firewall, load balancer) losing "
    "state. Check interface counters and logs on both hosts and the boxes between them "
    "(`ip -s link`, `nstat -az TcpExtTCPTimeouts`, switch and firewall logs) around the time "
    "of the storm."
)
ACCEPT_QUEUE = (
    " Here the stalled connections had each just opened and lost their first data: that is "
    "also what a server whose accept queue is full does (tcp_abort_on_overflow=0 drops the "
    "handshake's last ACK and the data after it until accept() makes room; the client, "
    "established since the SYN+ACK, resends on its RTO). Check the listener first: `ss -lnt` "
    "(Recv-Q reaching Send-Q), `nstat -az TcpExtListenOverflows TcpExtListenDrops`, the "
    "listen() backlog and net.core.somaxconn, how fast the application calls accept()."
)


@dataclass(frozen=True, slots=True)
class _Storm:
    at_ns: int  # the instant the most connections were stalled together
    stalled: tuple[int, ...]  # the connections stalled at that instant
    start_ns: int  # the earliest start of their stalls
    end_ns: int  # the latest end of their stalls


def _busiest(spans: list[tuple[int, int, int]]) -> _Storm:
    """The instant covered by the most stall spans (start, end, conn), by a sweep."""
    starts = np.array([s for s, _e, _c in spans], dtype=np.int64)
    ends = np.array([e for _s, e, _c in spans], dtype=np.int64)
    times = np.concatenate([starts, ends])
    steps = np.concatenate([np.ones(len(starts)), -np.ones(len(ends))])
    order = np.lexsort((-steps, times))  # at a tie a start comes first: touching spans overlap
    depth = np.cumsum(steps[order])
    at = int(times[order][int(np.argmax(depth))])
    hit = [(s, e, c) for s, e, c in spans if s <= at <= e]
    return _Storm(
        at,
        tuple(sorted({c for _s, _e, c in hit})),
        min(s for s, _e, _c in hit),
        max(e for _s, e, _c in hit),
    )


def find(data: FindingInput) -> list[Finding]:
    lost = data.delays
    conns = data.connections
    if lost is None or conns.empty:
        return []
    server_of = _servers_of(conns, lost.stalls)
    spans: dict[object, list[tuple[int, int, int]]] = defaultdict(list)
    for conn in lost.stalls:
        if conn not in server_of:
            continue
        for stall in lost.stalls_of(conn):
            if stall.cause is StallCause.RTO:
                spans[server_of[conn]].append((stall.start_ns, stall.end_ns, conn))
    findings = []
    for server in sorted(spans, key=str):
        mine = spans[server]
        if len({c for _s, _e, c in mine}) < MIN_CONNECTIONS:
            continue
        storm = _busiest(mine)
        if len(storm.stalled) < MIN_CONNECTIONS:
            continue
        to_server = conns[conns["server_ip"] == server]
        # A stalled connection is open at ``at`` even past its last captured frame: an
        # unrecovered RTO episode lasts until the sender's give-up (tcp_retries2), so the
        # share is never above 1.
        open_then = int(
            (
                (
                    (to_server["start_ns"].to_numpy() <= storm.at_ns)
                    & (to_server["end_ns"].to_numpy() >= storm.at_ns)
                )
                | to_server["id"].isin(storm.stalled).to_numpy()
            ).sum()
        )
        share = len(storm.stalled) / max(open_then, 1)
        if share < MIN_SHARE:
            continue
        seconds = (storm.end_ns - storm.start_ns) / 1e9
        first_data = _on_first_data(data, storm)
        queue = first_data >= FIRST_DATA_SHARE * len(storm.stalled)
        cause = (
            "each on its first data right after its handshake: a full accept queue on the "
            "server, or an outage on the path"
            if queue
            else "an outage on the path"
        )
        summary = (
            f"{len(storm.stalled)} of {open_then} open connection(s) to {server!s} stalled on "
            f"retransmission timeouts at the same time (within {seconds:.1f} s): {cause}"
        )
        findings.append(
            make_finding(
                KIND,
                summary,
                list(storm.stalled),
                EXPLANATION + (ACCEPT_QUEUE if queue else ""),
                server=str(server),
                of_connections=open_then,
                share=round(share, 3),
                window={"start": storm.start_ns / 1e9, "end": storm.end_ns / 1e9},
                at=storm.at_ns / 1e9,
                on_first_data=first_data,
            )
        )
    return findings


def _on_first_data(data: FindingInput, storm: _Storm) -> int:
    """How many of the storm's connections stalled, at its instant, on the client's data
    sent within ``FIRST_DATA_NS`` of its handshake ACK (``handshakes``' first client ACK)."""
    lost = data.delays
    assert lost is not None
    hs = data.handshakes
    row_of = {conn: row for row, conn in enumerate(hs.connections["id"].tolist())}
    acked = hs.conn_facts["first_client_ack_ns"]
    count = 0
    for conn in storm.stalled:
        row = row_of.get(conn)
        if row is None or acked[row] == NO_TIME:
            continue
        for stall in lost.stalls_of(conn):
            covers = stall.start_ns <= storm.at_ns <= stall.end_ns
            if covers and stall.cause is StallCause.RTO and stall.side is Side.CLIENT:
                count += 0 <= stall.start_ns - int(acked[row]) <= FIRST_DATA_NS
                break
    return count


def _servers_of(conns: pd.DataFrame, stalled: Iterable[int]) -> dict[int, object]:
    """The server address of each ``stalled`` connection in ``conns`` (by id): a dict of
    those only, not of every connection (a few hundred, not hundreds of thousands)."""
    ids = conns["id"].to_numpy(np.int64)
    rows = np.isin(ids, np.fromiter(stalled, np.int64))
    servers = conns["server_ip"].to_numpy()[rows]
    return dict(zip(ids[rows].tolist(), servers.tolist(), strict=True))


FINDER = Finder(KIND, find)
