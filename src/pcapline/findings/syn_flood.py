"""SYN flood: many half-open connections from many sources to one server port.

Kernel rule (anchors.md 5.5): each SYN creates a request sock in the listener's SYN queue
(``net.ipv4.tcp_max_syn_backlog``); the server retransmits its SYN+ACK
(``tcp_synack_retries``, default 5) until the client's ACK arrives. When the queue is full,
``net.ipv4.tcp_syncookies=1`` (default) answers with stateless cookie SYN+ACKs that are never
retransmitted; without cookies new SYNs are dropped (``TcpExtTCPReqQFullDrop``). A flood
(often with spoofed sources) never completes the handshake.

Half-open connection: a client SYN, no client ACK of the handshake and no RST either way. In a
capture that holds only SYN/FIN/RST segments (a flag filter) no bare ACK is captured, so the
missing ACK proves nothing there: only what the filter keeps counts, the server's own word
that the ACK did not come (its SYN+ACK resent: a request socket retries only while
unacknowledged) or a SYN never answered at all (a full SYN queue without cookies drops it).
A SYN+ACK resent once then no more, at a listener that resent others further, is not that
word: its request ended on an ACK out of the capture's sight (listeners.py), and its verdict
says so (caveat ``handshake_acked_unseen``): not counted.
Threshold (conservative, an incident and not a few lost handshakes): at least
``MIN_HALF_OPEN`` half-open connections to one server ip:port within ``WINDOW_S`` seconds,
from at least ``MIN_SOURCES`` distinct source addresses.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pcapline.findings.base import Finder, FindingInput, server_bursts
from pcapline.model import Finding

KIND = "syn_flood"
#: The caveat of a connection whose handshake its listener's resends show completed unseen.
ACKED_UNSEEN = "handshake_acked_unseen"
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
    if data.flag_filtered:
        synacks = np.bincount(hs.synack_row, minlength=len(is_half_open))
        is_half_open &= (synacks > 1) | ~facts["synack_sent"]
        is_half_open &= ~_acked_unseen(hs.connections)
    if np.count_nonzero(is_half_open) < MIN_HALF_OPEN:
        return []
    half_open = hs.conns[is_half_open]
    findings = []
    for hit in server_bursts(half_open, "start_ns", WINDOW_S, MIN_HALF_OPEN):
        group = hit.group
        sources = int(group["client_ip"].nunique())
        if sources < MIN_SOURCES:
            continue
        answered = int(group["synack_sent"].sum())
        summary = (
            f"{len(group)} half-open connection(s) to {hit.server} from {sources} sources "
            f"(up to {hit.burst.count} within {WINDOW_S} s): SYN flood or clients unable to complete the handshake"
        )
        if data.flag_filtered:
            summary += (
                " (the capture holds only SYN/FIN/RST segments: counted are the handshakes "
                "whose SYN+ACK the server resent, or whose SYN it never answered)"
            )
        findings.append(
            hit.finding(KIND, summary, EXPLANATION, sources=sources, synack_sent=answered)
        )
    return findings


def _acked_unseen(connections: pd.DataFrame) -> np.ndarray:
    """Per connection row: its verdict says its handshake completed out of the capture's
    sight (caveat ``handshake_acked_unseen``, classify.acked_out_of_sight: a listener that
    stopped resending this SYN+ACK short of the limit it ran others to). Without verdicts (a
    caller of the finders alone), none."""
    if "caveats" not in connections:
        return np.zeros(len(connections), dtype=bool)
    return np.fromiter(
        (ACKED_UNSEEN in caveats for caveats in connections["caveats"]),
        dtype=bool,
        count=len(connections),
    )


FINDER = Finder(KIND, find)
