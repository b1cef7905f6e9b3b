"""SYN-retry bursts against one server: clients that connected only after resending their SYN.

Kernel rule (net/ipv4/tcp_input.c ``tcp_conn_request``, tcp-facts.md): a listener drops a SYN
without a word when its accept queue is full (``sk_acceptq_is_full``: TcpExtListenOverflows
and TcpExtListenDrops), when its SYN queue is full and SYN cookies are off, or when a
firewall, a rate limiter (``hashlimit``, a cloud SYN limit) or a full conntrack table
(``nf_conntrack: table full, dropping packet`` in the kernel log) drops it on the way. The
client's kernel retries after its SYN timer (1 s, then doubling; Linux 6.5+ linear first;
Windows 3 s), so each dropped SYN costs the application a whole second or more in connect().
One such connection is ordinary loss; many to the same server in the same minute, while
the server answered the others at once, is a server (or a box before it) refusing SYNs.

Wire signature: connections to one server ip:port that completed the handshake (the server
is alive and answering) after ``syn_retries`` > 0 (the delays stage's columns, from the
handshake detector). Thresholds (conservative, so random loss stays quiet): at least
``MIN_BURST`` such connections within ``WINDOW_S`` seconds, and at least ``MIN_SHARE`` of all
connections to that server that opened while the SYNs were being dropped (first SYN within
the burst's longest connect time of its first or last SYN; 3 % random loss retries about
3 % of the SYNs). Connections that never got an answer are counted apart
(``unanswered``): a server that answers nobody is a connect timeout, told by the fates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pcapline.findings.base import Finder, FindingInput, server_bursts
from pcapline.loopback import on_one_host
from pcapline.model import Finding

KIND = "syn_retry_burst"
MIN_BURST = 3
MIN_SHARE = 0.2
WINDOW_S = 60

EXPLANATION = (
    "These clients reached the server only after resending their SYN: the first SYN(s) were "
    "dropped without an answer while the server answered other connections, each drop costing "
    "connect() a retry timer (1 s, then doubling). Check on the server: the listen queue "
    "(`nstat -az TcpExtListenOverflows TcpExtListenDrops` rising, `ss -lnt`: Recv-Q reaching "
    "Send-Q on the listener; raise the listen() backlog and net.core.somaxconn, accept() "
    "faster), a SYN rate limiter or firewall rule, and a full conntrack table on the server or "
    "any stateful box on the path (`dmesg | grep 'nf_conntrack: table full'`, "
    "`conntrack -S`, net.netfilter.nf_conntrack_max)."
)


def find(data: FindingInput) -> list[Finding]:
    conns = data.connections
    if "connect_s" not in conns.columns or "syn_retransmits" not in conns.columns:
        return []
    retried = conns["syn_retransmits"].to_numpy() > 0
    answered = ~np.isnan(conns["connect_s"].to_numpy(dtype=float))
    hits = conns[retried & answered]
    if len(hits) < MIN_BURST:
        return []
    findings = []
    for hit in server_bursts(hits, "start_ns", WINDOW_S, MIN_BURST):
        group = hit.group
        first_ns, last_ns = int(group["start_ns"].min()), int(group["start_ns"].max())
        to_server = conns[
            (conns["server_ip"] == hit.server_ip) & (conns["server_port"] == hit.server_port)
        ]
        # The connections that opened while SYNs were being dropped: within the longest
        # connect of the burst before its first SYN or after its last.
        reach = round(float(group["connect_s"].max()) * 1e9)
        starts = to_server["start_ns"].to_numpy()
        in_span = to_server[(starts >= first_ns - reach) & (starts <= last_ns + reach)]
        share = len(group) / max(len(in_span), 1)
        if share < MIN_SHARE:
            continue
        never = np.isnan(in_span["connect_s"].to_numpy(dtype=float))
        unanswered = int(((in_span["syn_retransmits"].to_numpy() > 0) & never).sum())
        connect = np.sort(group["connect_s"].to_numpy(dtype=float))
        # The window: the burst's first SYN -> the last of its handshakes to complete.
        connected_ns = int((group["start_ns"] + group["connect_s"] * 1e9).max())
        p50 = float(np.percentile(connect, 50, method="lower"))
        summary = (
            f"{len(group)} of {len(in_span)} connection(s) to {hit.server} connected only after "
            f"SYN retries within {(connected_ns - first_ns) / 1e9:.1f} s (connect p50 {p50:.2f} s, "
            f"max {connect[-1]:.2f} s): {_where_dropped(group)}"
        )
        findings.append(
            hit.finding(
                KIND,
                summary,
                EXPLANATION,
                of_connections=len(in_span),
                share=round(share, 3),
                window={"start": first_ns / 1e9, "end": connected_ns / 1e9},
                connect_p50_s=round(p50, 6),
                connect_max_s=round(float(connect[-1]), 6),
                syn_retries_max=int(group["syn_retransmits"].max()),
                unanswered=unanswered,
            )
        )
    return findings


def _where_dropped(group: pd.DataFrame) -> str:
    """Where the SYNs were dropped: with every client on the server's own host (loopback.py)
    no box on a path can have, only the server's host."""
    if on_one_host(group, group["id"].to_numpy()).all():
        return (
            "SYNs dropped by the server's own host (client and server on one host: loopback, "
            "no network between them)"
        )
    return "SYNs dropped at or before the server"


FINDER = Finder(KIND, find)
