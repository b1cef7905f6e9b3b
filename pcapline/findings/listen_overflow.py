"""Accept-queue overflow bursts on one server port.

Kernel rule (anchors.md 5.5, tcp-facts.md): when a listener's accept queue is full
(``listen()`` backlog, capped by ``net.core.somaxconn``, 4096 since 5.4, 128 before) at the
client's final handshake ACK, Linux with ``net.ipv4.tcp_abort_on_overflow=0`` (default) drops
that ACK and keeps retransmitting the SYN+ACK although the client ACKed (the client believes it
is connected and may send data); with ``=1`` it answers the ACK with a RST. Counters:
``nstat -az TcpExtListenOverflows TcpExtListenDrops``; ``ss -ltn`` shows Recv-Q (queued) against
Send-Q (backlog).

Marked connections: those classify.py gave the fate ``listen_overflow`` (it checks that the
client's data then went unacknowledged); only when no fates exist, the bare signatures (a server
SYN+ACK after the client's handshake ACK; a server RST without ACK flag within 1 s of that ACK
before any server data). The signatures are reported as details either way. Look-alikes: a lost ACK (one connection, not a burst); TCP_DEFER_ACCEPT (no
client data). Threshold: at least ``MIN_BURST`` marked connections to one server ip:port within
``WINDOW_S`` seconds.
"""

from __future__ import annotations

import numpy as np

from pcapline.findings.base import Finder, FindingInput, densest_window, make_finding
from pcapline.fmt import endpoint
from pcapline.model import Fate, Finding

KIND = "listen_overflow"
MIN_BURST = 3
WINDOW_S = 60

EXPLANATION = (
    "Clients completed the TCP handshake but the server behaved as if they had not: it retransmitted "
    "its SYN+ACK after the client's ACK (or reset it), the wire sign of a full accept queue: the "
    "application is not calling accept() fast enough for the arrival rate, or its listen() backlog is "
    "too small. Check on the server: `nstat -az TcpExtListenOverflows TcpExtListenDrops` rising, "
    "`ss -ltn` (Recv-Q reaching Send-Q on the listener); raise the backlog passed to listen() and "
    "net.core.somaxconn (128 before Linux 5.4, 4096 after) and make the accept loop faster. "
    "net.ipv4.tcp_abort_on_overflow=1 turns the silent drops into RSTs."
)


def find(data: FindingInput) -> list[Finding]:
    hs = data.handshakes
    signature = hs.conn_facts["synack_after_ack"] | hs.conn_facts["rst_to_final_ack"]
    if "fate" in hs.connections.columns:
        # classify.py decides per connection, with the evidence a bare signature lacks (was the
        # client's data then acknowledged?). A SYN+ACK captured just after the client's ACK is
        # often only the server's own SYN+ACK timer crossing that ACK on a lossy path: the
        # real-kernel bench capture had 56 such connections, all served normally.
        fate_marked = (hs.connections["fate"].astype(str) == Fate.LISTEN_OVERFLOW.value).to_numpy()
        marked = fate_marked
    else:
        fate_marked = np.zeros(len(signature), dtype=bool)
        marked = signature
    if np.count_nonzero(marked) < MIN_BURST:
        return []
    conns = hs.conns.assign(fate_marked=fate_marked, marked=marked)
    hits = conns[conns["marked"]]
    findings = []
    for (server_ip, server_port), group in hits.groupby(["server_ip", "server_port"], sort=True):
        when = np.where(
            group["first_client_ack_ns"] < np.iinfo(np.int64).max,
            group["first_client_ack_ns"],
            group["start_ns"],
        )
        burst = densest_window(when, WINDOW_S * 10**9)
        if burst.count < MIN_BURST:
            continue
        server = endpoint(server_ip, server_port)
        total = int(
            ((conns["server_ip"] == server_ip) & (conns["server_port"] == server_port)).sum()
        )
        summary = (
            f"{len(group)} of {total} connection(s) to {server} show accept-queue overflow "
            f"(up to {burst.count} within {WINDOW_S} s): the listener's backlog was full"
        )
        signatures = {
            "listen_overflow_fate": int(group["fate_marked"].sum()),
            "synack_after_ack": int(group["synack_after_ack"].sum()),
            "rst_to_final_ack": int(group["rst_to_final_ack"].sum()),
        }
        findings.append(
            make_finding(
                KIND,
                summary,
                group["id"].tolist(),
                EXPLANATION,
                server=server,
                of_connections=total,
                signatures=signatures,
                burst=burst.to_dict(WINDOW_S),
            )
        )
    return findings


FINDER = Finder(KIND, find)
