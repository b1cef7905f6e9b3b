"""Port scans: one client tries many ports of one server within seconds, most of them closed.

Kernel rule: a Linux host answers a SYN to a port where nothing listens with RST
(``tcp_v4_send_reset``: ``__inet_lookup_listener`` finds no socket), and a firewall that drops
answers nothing. An application talks to the few ports its services listen on; a client that
opens connections to many different ports of one host within seconds, most of them refused or
unanswered, is sweeping ports: a port scanner (``nmap -sT``/``-sS``, a vulnerability scanner,
an inventory or monitoring tool probing a port range). Each of its connections' verdicts says
that nothing listens on that port, which is true and expected: they are no services failing,
and an on-call engineer should not chase them one by one.

Wire signature: per client address and server address, the connections that failed to
connect (fate ``refused`` or ``connect_timeout``) and a scanner's FIN, NULL or Xmas probes
(cause ``scan_probe``: refused when answered by RST), one per server port (the port's first);
at least ``MIN_PORTS`` such ports whose attempts start within ``WINDOW_S`` seconds. The
finding counts every connection of that client to that server in the stretch: refused,
unanswered, and those that connected (the open ports the scan found).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pcapline.findings.base import Finder, FindingInput, densest_window, make_finding
from pcapline.fmt import seconds
from pcapline.model import Cause, Fate, Finding

KIND = "port_scan"
#: Distinct failed server ports that make a scan: more than any client's handful of services.
MIN_PORTS = 10
WINDOW_S = 60
FAILED_FATES = (Fate.REFUSED.value, Fate.CONNECT_TIMEOUT.value)

EXPLANATION = (
    "One client opened connections to many different ports of one server within seconds, "
    "and most were refused (RST: nothing listens there) or went unanswered (a firewall drops "
    "them): the client is sweeping ports, a port scanner (nmap, a vulnerability scanner, an "
    "inventory or monitoring tool probing a port range), not an application. Its refused "
    "connections are no services failing, whatever each verdict says about its own port. If "
    "the scan is not expected, find who runs it on the client host (`ss -tnp`, the security "
    "team's scanners) or filter it; the ports that connected are the ones the scan found open."
)


def find(data: FindingInput) -> list[Finding]:
    conns = data.connections
    wanted = {"fate", "connect_s", "client_ip", "server_ip", "server_port", "start_ns"}
    if conns.empty or not wanted <= set(conns.columns):
        return []
    fate = conns["fate"].astype(str).to_numpy()
    cause = (
        conns["cause"].to_numpy(dtype=object)
        if "cause" in conns
        else np.full(len(conns), None, dtype=object)
    )
    # A FIN, NULL or Xmas probe (nmap -sF/-sN/-sX) tried its port too: answered by RST (its
    # fate is reset) nothing listens there; unanswered, something does or a firewall drops it.
    stealth = cause == Cause.SCAN_PROBE.value
    failed = np.isin(fate, FAILED_FATES) | stealth
    if np.count_nonzero(failed) < MIN_PORTS:
        return []
    table = conns[["id", "client_ip", "server_ip", "server_port", "start_ns"]].copy()
    table["failed"] = failed
    # An open port found by a SYN scan (nmap -sS) is a half-open probe: its SYN+ACK came,
    # and the scanner's kernel reset it.
    probed = cause == Cause.HALF_OPEN_PROBE.value
    connected = ~np.isnan(conns["connect_s"].to_numpy(dtype=float)) | probed
    table["connected"] = connected & ~failed
    table["refused"] = (fate == Fate.REFUSED.value) | (stealth & (fate == Fate.RESET.value))
    findings = []
    for (client, server), group in table.groupby(["client_ip", "server_ip"], sort=True):
        span = _sweep(group.sort_values(["start_ns", "id"], kind="stable"))
        if span is not None:
            findings.append(_finding(str(client), str(server), span))
    return findings


def _sweep(group: pd.DataFrame) -> pd.DataFrame | None:
    """The group's connections from the first to the last failed port of its busiest
    ``WINDOW_S`` stretch, when that stretch holds ``MIN_PORTS`` failed ports."""
    tried = group[group["failed"].to_numpy(dtype=bool)].drop_duplicates("server_port")
    if len(tried) < MIN_PORTS:
        return None
    times = tried["start_ns"].to_numpy(np.int64)
    burst = densest_window(times, WINDOW_S * 10**9)
    if burst.count < MIN_PORTS:
        return None
    last = int(times[np.searchsorted(times, burst.start_ns) + burst.count - 1])
    at = group["start_ns"].to_numpy(np.int64)
    return group[(at >= burst.start_ns) & (at <= last)]


def _finding(client: str, server: str, span: pd.DataFrame) -> Finding:
    failed = span["failed"].to_numpy(dtype=bool)
    refused = int(np.count_nonzero(span["refused"].to_numpy(dtype=bool)))
    connected = span["connected"].to_numpy(dtype=bool)
    ports = span["server_port"].astype(int)
    start_ns, end_ns = int(span["start_ns"].min()), int(span["start_ns"].max())
    summary = (
        f"{client} tried {ports.nunique()} ports of {server} within "
        f"{seconds((end_ns - start_ns) / 1e9)} ({refused} refused, "
        f"{int(np.count_nonzero(failed)) - refused} unanswered, "
        f"{int(np.count_nonzero(connected))} connected): a port scan, not failing services"
    )
    return make_finding(
        KIND,
        summary,
        span["id"].tolist(),
        EXPLANATION,
        client=client,
        server=server,
        ports=int(ports.nunique()),
        port_range=[int(ports.min()), int(ports.max())],
        refused=refused,
        unanswered=int(np.count_nonzero(failed)) - refused,
        connected=int(np.count_nonzero(connected)),
        window={"start": start_ns / 1e9, "end": end_ns / 1e9},
    )


FINDER = Finder(KIND, find)
