"""Accept-queue overflow bursts on one server port.

Kernel rule (anchors.md 5.5, tcp-facts.md): when a listener's accept queue is full
(``listen()`` backlog, capped by ``net.core.somaxconn``, 4096 since 5.4, 128 before) at the
client's final handshake ACK, Linux with ``net.ipv4.tcp_abort_on_overflow=0`` (default) drops
that ACK and keeps retransmitting the SYN+ACK although the client ACKed (the client believes it
is connected and may send data); with ``=1`` it answers the ACK with a RST. Counters:
``nstat -az TcpExtListenOverflows TcpExtListenDrops``; ``ss -ltn`` shows Recv-Q (queued) against
Send-Q (backlog).

Marked connections: those classify.py gave the fate ``listen_overflow`` (it checks that the
client's data then went unacknowledged); only when no fates exist, the bare signatures the
handshake detector recorded (``Handshake.synack_after_ack``: server SYN+ACKs after the client's
handshake ACK; ``Handshake.overflow_rst_frame``: a listener RST answering that ACK, see
detect/handshake.py). The signatures are reported as details either way. Look-alikes: a lost
ACK (one connection, not a burst); TCP_DEFER_ACCEPT (no client data). Threshold: at least
``MIN_BURST`` marked connections to one server ip:port within ``WINDOW_S`` seconds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from pcapline.findings.base import Finder, FindingInput, server_bursts
from pcapline.model import Fate, Finding

if TYPE_CHECKING:
    from pcapline.detect import ConnDetections

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
    "net.ipv4.tcp_abort_on_overflow=1 turns the silent drops into RSTs. A retried SYN+ACK alone "
    "does not prove the ACK arrived: one lost on the way after the capture point (a stateful "
    "firewall on an asymmetric path) looks the same; those counters stay at zero then."
)


def signed(found: ConnDetections) -> bool:
    """Did the handshake detector record an overflow signature on this connection (a SYN+ACK
    after the client's handshake ACK, or a listener RST answering that ACK)?"""
    h = found.handshake.inferred
    return h.synack_after_ack > 0 or h.overflow_rst_frame is not None


def overflow_signatures(data: FindingInput) -> tuple[np.ndarray, np.ndarray]:
    """Per connections-table row: (SYN+ACK after the client's handshake ACK, listener RST to
    that ACK), as the handshake detector recorded them (False for unvisited connections: a
    single SYN+ACK, no RST)."""
    ids = data.handshakes.connections["id"].tolist()
    synack_after_ack = np.zeros(len(ids), dtype=bool)
    rst_to_final_ack = np.zeros(len(ids), dtype=bool)
    for row, conn in enumerate(ids):
        found = data.detections.get(int(conn))
        if found is not None:
            h = found.handshake.inferred
            synack_after_ack[row] = h.synack_after_ack > 0
            rst_to_final_ack[row] = h.overflow_rst_frame is not None
    return synack_after_ack, rst_to_final_ack


def _fates(data: FindingInput) -> np.ndarray | None:
    """Per connections-table row: the verdict's fate, or None when classify did not run."""
    conns = data.handshakes.connections
    if "fate" in conns.columns:
        return conns["fate"].astype(str).to_numpy()
    return None


def find(data: FindingInput) -> list[Finding]:
    hs = data.handshakes
    synack_after_ack, rst_to_final_ack = overflow_signatures(data)
    fates = _fates(data)
    if fates is not None:
        # classify.py decides per connection, with the evidence a bare signature lacks (was the
        # client's data then acknowledged?). A SYN+ACK captured just after the client's ACK is
        # often only the server's own SYN+ACK timer crossing that ACK on a lossy path: the
        # real-kernel bench capture had 56 such connections, all served normally.
        fate_marked = fates == Fate.LISTEN_OVERFLOW.value
        marked = fate_marked
    else:
        fate_marked = np.zeros(len(synack_after_ack), dtype=bool)
        marked = synack_after_ack | rst_to_final_ack
    if np.count_nonzero(marked) < MIN_BURST:
        return []
    conns = hs.conns.assign(
        fate_marked=fate_marked,
        marked=marked,
        synack_after_ack=synack_after_ack,
        rst_to_final_ack=rst_to_final_ack,
    )
    hits = conns[conns["marked"]]
    # When the overflow showed: the client's handshake ACK the listener dropped (or reset), else
    # the connection's start.
    no_ack = np.iinfo(np.int64).max
    hits = hits.assign(
        overflow_ns=np.where(
            hits["first_client_ack_ns"] < no_ack, hits["first_client_ack_ns"], hits["start_ns"]
        )
    )
    findings = []
    for hit in server_bursts(hits, "overflow_ns", WINDOW_S, MIN_BURST):
        group = hit.group
        ip, port = hit.server_ip, hit.server_port
        total = int(((conns["server_ip"] == ip) & (conns["server_port"] == port)).sum())
        # A listener RST answers the ACK (it arrived); a retried SYN+ACK alone does not say.
        why = (
            "the listener's backlog was full"
            if group["rst_to_final_ack"].any()
            else "the listener's backlog full, or the clients' ACKs lost before it (a firewall, "
            "an asymmetric path): nstat TcpExtListenOverflows on the server tells"
        )
        summary = (
            f"{len(group)} of {total} connection(s) to {hit.server} show accept-queue overflow "
            f"(up to {hit.burst.count} within {WINDOW_S} s): {why}"
        )
        signatures = {
            "listen_overflow_fate": int(group["fate_marked"].sum()),
            "synack_after_ack": int(group["synack_after_ack"].sum()),
            "rst_to_final_ack": int(group["rst_to_final_ack"].sum()),
        }
        findings.append(
            hit.finding(KIND, summary, EXPLANATION, of_connections=total, signatures=signatures)
        )
    return findings


FINDER = Finder(KIND, find)
