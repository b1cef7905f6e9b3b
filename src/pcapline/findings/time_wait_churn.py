"""TIME_WAIT churn: a connection per request between the same two hosts.

Kernel rule (tcp-facts.md, anchors.md 5.1/5.6): the side that closes first holds the 4-tuple in
TIME_WAIT for 60 s (TCP_TIMEWAIT_LEN, not tunable). A client opening short connections to one
server ip:port at a high rate keeps thousands of sockets in TIME_WAIT and walks through
``net.ipv4.ip_local_port_range`` (32768-60999 by default: 28232 ports); when ports run out,
``connect()`` fails with EADDRNOTAVAIL, or a 4-tuple is reused while the old one may still be in
TIME_WAIT on one side (``net.ipv4.tcp_tw_reuse`` allows it for outgoing connections when
timestamps prove it safe).

Signature per (client IP, server ip:port): at least ``MIN_CONNECTIONS`` established
connections with a median duration of at most ``MAX_MEDIAN_DURATION_S``, and either at least
``MIN_PEAK_PER_MINUTE`` new connections within one 60 s window, or at least ``MIN_REUSES``
4-tuples reused less than 60 s after their previous connection ended. Conservative on purpose:
ordinary traffic and the sample captures produce none.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pcapline.findings.base import Finder, FindingInput, densest_window, make_finding
from pcapline.fmt import counted, endpoint, seconds
from pcapline.model import Finding

KIND = "time_wait_churn"
TIME_WAIT_NS = 60 * 10**9
LOCAL_PORT_RANGE = 60999 - 32768 + 1  # net.ipv4.ip_local_port_range default
MIN_CONNECTIONS = 100
MAX_MEDIAN_DURATION_S = 1.0
MIN_PEAK_PER_MINUTE = 500
MIN_REUSES = 5

EXPLANATION = (
    "This client opens a new short connection to the same server over and over (connection per "
    "request). Every connection leaves a socket in TIME_WAIT for 60 s on the side that closes first, "
    "and each one takes a client port from net.ipv4.ip_local_port_range (28232 ports by default): at "
    "high rates the ports run out (connect() fails with EADDRNOTAVAIL) or 4-tuples are reused within "
    "TIME_WAIT. Check: `ss -tan state time-wait | wc -l`, `sysctl net.ipv4.ip_local_port_range`. Fix: "
    "reuse connections (HTTP keep-alive, a connection pool); net.ipv4.tcp_tw_reuse=1 helps outgoing "
    "connections; never use tcp_tw_recycle."
)


def find(data: FindingInput) -> list[Finding]:
    hs = data.handshakes
    if np.count_nonzero(hs.conn_facts["client_acked"]) < MIN_CONNECTIONS:
        return []
    conns = hs.conns
    keys = ["client_ip", "server_ip", "server_port"]
    # Only the columns read below: the rows are copied several times (a third of the bytes).
    established = conns.loc[
        conns["client_acked"], ["id", *keys, "client_port", "start_ns", "end_ns"]
    ]
    sizes = established.groupby(keys, sort=True)["id"].transform("size")
    busy = established[sizes >= MIN_CONNECTIONS]
    if busy.empty:
        return []
    busy = busy.assign(reused=_reused_within_time_wait(busy, keys))
    findings = []
    for (client_ip, server_ip, server_port), group in busy.groupby(keys, sort=True):
        duration_s = (group["end_ns"] - group["start_ns"]).to_numpy() / 1e9
        median = float(np.median(duration_s))
        peak = densest_window(group["start_ns"].to_numpy(), TIME_WAIT_NS)
        reuses = int(group["reused"].sum())
        if median > MAX_MEDIAN_DURATION_S or (
            peak.count < MIN_PEAK_PER_MINUTE and reuses < MIN_REUSES
        ):
            continue
        span_s = max((int(group["start_ns"].max()) - int(group["start_ns"].min())) / 1e9, 1e-9)
        server = endpoint(server_ip, server_port)
        summary = churn_summary(len(group), str(client_ip), server, median, peak.count, reuses)
        findings.append(
            make_finding(
                KIND,
                summary,
                group["id"].tolist(),
                EXPLANATION,
                client_ip=str(client_ip),
                server=server,
                rate_per_s=round(len(group) / span_s, 2) if len(group) > 1 else None,
                median_duration_s=round(median, 6),
                peak_per_60s=peak.count,
                reused_within_time_wait=reuses,
                distinct_client_ports=int(group["client_port"].nunique()),
                port_range_used=round(peak.count / LOCAL_PORT_RANGE, 4),
            )
        )
    return findings


def churn_summary(
    connections: int, client_ip: str, server: str, median_s: float, peak: int, reuses: int
) -> str:
    """The finding's one line: how many, how short, the busiest minute against the client's
    ports (the default ip_local_port_range), the 4-tuples reused within TIME_WAIT (said only
    when some were), and what to do."""
    reused = f"; {counted(reuses, '4-tuple')} reused within TIME_WAIT" if reuses else ""
    share = peak / LOCAL_PORT_RANGE
    return (
        f"{counted(connections, 'short connection')} from {client_ip} to {server} (median "
        f"{seconds(median_s)}; up to {peak:,} opened within 60 s, the TIME_WAIT of the side "
        f"that closes first: {share:.0%} of the default {LOCAL_PORT_RANGE:,} client "
        f"ports{reused}): connection churn; reuse connections (HTTP keep-alive, a "
        "connection pool)"
    )


def _reused_within_time_wait(conns: pd.DataFrame, keys: list[str]) -> np.ndarray:
    """True for a connection whose 4-tuple's previous connection ended < 60 s before it started."""
    ordered = conns.sort_values([*keys, "client_port", "start_ns"], kind="stable")
    same = (
        ordered[[*keys, "client_port"]]
        .eq(ordered[[*keys, "client_port"]].shift())
        .all(axis=1)
        .to_numpy()
    )
    prev_end = ordered["end_ns"].shift().fillna(0).to_numpy(dtype=np.float64)
    gap = ordered["start_ns"].to_numpy(dtype=np.float64) - prev_end
    reused = pd.Series(same & (gap < TIME_WAIT_NS), index=ordered.index)
    out: np.ndarray = reused.reindex(conns.index).to_numpy(dtype=bool)
    return out


FINDER = Finder(KIND, find)
