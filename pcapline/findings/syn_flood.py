"""SYN flood: many half-open connections from many sources to one server port.

Kernel rule (anchors.md 5.5): each SYN creates a request sock in the listener's SYN queue
(``net.ipv4.tcp_max_syn_backlog``); the server retransmits its SYN+ACK
(``tcp_synack_retries``, default 5) until the client's ACK arrives. When the queue is full,
``net.ipv4.tcp_syncookies=1`` (default) answers with stateless cookie SYN+ACKs that are never
retransmitted; without cookies new SYNs are dropped (``TcpExtTCPReqQFullDrop``). A flood
(often with spoofed sources) never completes the handshake.

Half-open connection: a client SYN, no client ACK of the handshake and no RST either way.
Threshold (conservative, an incident and not a few lost handshakes): at least
``MIN_HALF_OPEN`` half-open connections to one server ip:port within ``WINDOW_S`` seconds,
from at least ``MIN_SOURCES`` distinct source addresses.
"""

from __future__ import annotations

import numpy as np

from pcapline.findings.base import Finder, FindingInput, densest_window, make_finding
from pcapline.fmt import endpoint
from pcapline.model import Finding

KIND = "syn_flood"
MIN_HALF_OPEN = 100
MIN_SOURCES = 10
WINDOW_S = 10

EXPLANATION = (
    "Many connection attempts to this port never completed the handshake (SYN, maybe SYN+ACK, "
    "then nothing) and came from many source addresses: the shape of a SYN flood (often spoofed "
    "sources) or of a large population of clients that cannot receive the server's SYN+ACK. "
    "Check on the server: `nstat -az TcpExtSyncookiesSent TcpExtListenDrops TcpExtTCPReqQFullDrop`, "
    "`ss -n state syn-recv sport = :PORT | wc -l`; keep net.ipv4.tcp_syncookies=1, size "
    "net.ipv4.tcp_max_syn_backlog, and filter upstream if the sources are spoofed."
)


def find(data: FindingInput) -> list[Finding]:
    hs = data.handshakes
    facts = hs.conn_facts
    is_half_open = (facts["syns"] > 0) & ~facts["client_acked"] & ~facts["rst"]
    if np.count_nonzero(is_half_open) < MIN_HALF_OPEN:
        return []
    half_open = hs.conns[is_half_open]
    findings = []
    for (server_ip, server_port), group in half_open.groupby(
        ["server_ip", "server_port"], sort=True
    ):
        if len(group) < MIN_HALF_OPEN:
            continue
        sources = int(group["client_ip"].nunique())
        burst = densest_window(group["start_ns"].to_numpy(), WINDOW_S * 10**9)
        if sources < MIN_SOURCES or burst.count < MIN_HALF_OPEN:
            continue
        server = endpoint(server_ip, server_port)
        answered = int(group["synack_sent"].sum())
        summary = (
            f"{len(group)} half-open connection(s) to {server} from {sources} sources "
            f"(up to {burst.count} within {WINDOW_S} s): SYN flood or clients unable to complete the handshake"
        )
        findings.append(
            make_finding(
                KIND,
                summary,
                group["id"].tolist(),
                EXPLANATION,
                server=server,
                sources=sources,
                synack_sent=answered,
                burst=burst.to_dict(WINDOW_S),
            )
        )
    return findings


FINDER = Finder(KIND, find)
