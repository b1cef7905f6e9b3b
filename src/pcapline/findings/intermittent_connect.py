"""Intermittent connects: one server port refuses some connections and accepts the ones in
between.

Kernel rule: a host with nothing listening on a port answers every SYN to it with RST
(``tcp_v4_send_reset``; ``__inet_lookup_listener`` finds no socket), and accepts every SYN
once something listens. One host refuses everyone or no one, until its service starts or
stops. So when SYNs to one address:port are refused and, in between, other SYNs to it are
accepted, either more than one host answers for that address (a load balancer, a DNAT rule
or a Kubernetes Service spreading connections over backends, one of which has the service
down), or a firewall rejects some clients (``reject with tcp reset`` by source), or the
listener restarts between them. A restart shows one stretch of refusals between successes; a
bad backend in a rotation shows many.

SYNs that go unanswered in between accepted ones are not counted: they have too many readings
(a firewall or rate limiter dropping some clients, a full conntrack table, tw_recycle behind a
NAT: ``nat_timestamp``) for one finding to name, and each such connection's verdict lists them.

Wire signature: per server ip:port, the connections in start order, each either connected
(its handshake completed: ``connect_s`` measured) or refused (fate ``refused``, confidence
proven or likely). Thresholds: at least ``MIN_FAILED`` refusals in at least ``MIN_RUNS``
separate runs, each run with a connected connection before and after it, the runs' starts
within ``WINDOW_S`` seconds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pcapline.findings.base import Finder, FindingInput, densest_window, make_finding
from pcapline.fmt import endpoint, seconds
from pcapline.model import Finding

KIND = "intermittent_connect"
MIN_FAILED = 3
MIN_RUNS = 3
WINDOW_S = 60
FAILED_FATES = ("refused",)

EXPLANATION = (
    "Connections to this server port were refused (a RST answered their SYN) while "
    "connections in between, to the same address and port, connected. A Linux host either "
    "listens on a port or does not, so: more than one host answers for this address (a load "
    "balancer, a DNAT rule or a Kubernetes Service sends some connections to a backend whose "
    "service is down or not ready), a firewall rejects some connections (a reject with tcp "
    "reset matching by source, or a per-client connection or rate limit: nft ct count, "
    "connlimit, hashlimit), the listener restarts between them, or a Windows server's listen "
    "backlog is full (Windows answers SYNs with RST then, Linux drops them). Check the "
    "load balancer's backend health and each backend (`ss -lnt` on it, `kubectl get "
    "endpoints`, the DNAT rule's targets with `nft list ruleset` / `iptables -t nat -S`, "
    "`ipvsadm -Ln`) and the reject rules on the server; the refused connections are listed "
    "here."
)


def find(data: FindingInput) -> list[Finding]:
    conns = data.connections
    if not {"fate", "connect_s", "reset_by"} <= set(conns.columns) or conns.empty:
        return []
    fate = conns["fate"].astype(str).to_numpy()
    sure = (
        conns["confidence"].astype(str).to_numpy() != "unknown"
        if "confidence" in conns.columns
        else np.ones(len(conns), dtype=bool)
    )
    # A RST from the server: an ICMP reject (``reset_by`` null) comes from a router or a
    # reject rule, and asks no listener.
    by_rst = conns["reset_by"].astype(str).to_numpy() == "server"
    failed = np.isin(fate, FAILED_FATES) & sure & by_rst
    if np.count_nonzero(failed) < MIN_FAILED:
        return []
    connected = ~np.isnan(conns["connect_s"].to_numpy(dtype=float)) & ~failed
    table = conns.loc[failed | connected, ["id", "server_ip", "server_port", "start_ns"]].copy()
    table["failed"] = failed[failed | connected]
    findings = []
    for (server_ip, server_port), group in table.groupby(["server_ip", "server_port"], sort=True):
        found = _interleaved(group.sort_values(["start_ns", "id"], kind="stable"))
        if found is not None:
            findings.append(_finding(endpoint(server_ip, server_port), found))
    return findings


def _interleaved(group: pd.DataFrame) -> pd.DataFrame | None:
    """The rows from the first to the last enclosed failure run, when ``MIN_RUNS`` runs of
    failures with a connection that connected on each side start within ``WINDOW_S``."""
    failed = group["failed"].to_numpy(dtype=bool)
    if np.count_nonzero(failed) < MIN_FAILED:
        return None
    starts = _run_starts(failed)
    ends = np.flatnonzero(failed & ~np.r_[failed[1:], False])  # its last row
    enclosed = (starts > 0) & (ends < len(failed) - 1)  # a connected row before and after
    starts, ends = starts[enclosed], ends[enclosed]
    if len(starts) < MIN_RUNS:
        return None
    times = group["start_ns"].to_numpy(np.int64)
    burst = densest_window(times[starts], WINDOW_S * 10**9)
    if burst.count < MIN_RUNS:
        return None
    first = int(np.searchsorted(times[starts], burst.start_ns))
    lo, hi = int(starts[first]) - 1, int(ends[first + burst.count - 1]) + 1
    span = group.iloc[lo : hi + 1]
    return span if np.count_nonzero(span["failed"].to_numpy(dtype=bool)) >= MIN_FAILED else None


def _finding(server: str, span: pd.DataFrame) -> Finding:
    failed = span[span["failed"].to_numpy(dtype=bool)]
    start_ns, end_ns = int(failed["start_ns"].min()), int(failed["start_ns"].max())
    summary = (
        f"{len(failed)} of {len(span)} connections to {server} were refused while the others, "
        f"in between, connected (the refusals within {seconds((end_ns - start_ns) / 1e9)}): a "
        "backend without the service behind one address, a reject rule or limit for some "
        "connections, or a restarting listener"
    )
    return make_finding(
        KIND,
        summary,
        failed["id"].tolist(),
        EXPLANATION,
        server=server,
        refused=len(failed),
        connected=len(span) - len(failed),
        failure_runs=len(_run_starts(span["failed"].to_numpy(dtype=bool))),
        window={"start": start_ns / 1e9, "end": end_ns / 1e9},
    )


def _run_starts(failed: np.ndarray) -> np.ndarray:
    """The first row of each run of refusals."""
    return np.flatnonzero(failed & ~np.r_[False, failed[:-1]])


FINDER = Finder(KIND, find)
