"""Port scans: one client tries many ports of one server within seconds, most of them closed.

Kernel rule (``sweeps``): a host answers a SYN, or a scanner's FIN, NULL or Xmas probe, to a
port where nothing listens with RST, and a firewall that drops answers nothing. An application
talks to the few ports its services listen on; a client that opens connections to many
different ports of one host within seconds, most of them refused or unanswered, is sweeping
ports: a port scanner (``nmap -sT``/``-sS``/``-sF``, a vulnerability scanner, an inventory or
monitoring tool probing a port range). Each of its connections' verdicts says that nothing
listens on that port, which is true and expected: they are no services failing, and an
on-call engineer should not chase them one by one.

An ACK or FIN + ACK probe's lone segment and its RST count as attempts too (``sweeps``).

Wire signature: per client address and server address, the failed attempts
(``sweeps.attempts``), one per server port (the port's first); at least ``MIN_PORTS`` such
ports whose attempts start within ``sweeps.WINDOW_S`` seconds. The finding counts every
connection of that client to that server in the stretch: refused, unanswered, and those that
connected (the open ports the scan found).
"""

from __future__ import annotations

import pandas as pd

from pcapline.findings.base import Finder, FindingInput, make_finding
from pcapline.findings.sweeps import Tally, sweeps
from pcapline.model import Finding

KIND = "port_scan"
#: Distinct failed server ports that make a scan: more than any client's handful of services.
MIN_PORTS = 10

EXPLANATION = (
    "One client opened connections to many different ports of one server within seconds, "
    "and most were refused (RST: nothing listens there) or went unanswered (a firewall drops "
    "them; a FIN, NULL or Xmas probe also goes unanswered where something listens): the "
    "client is sweeping ports, a port scanner (nmap, a vulnerability scanner, an "
    "inventory or monitoring tool probing a port range), not an application. Its refused "
    "connections are no services failing, whatever each verdict says about its own port. If "
    "the scan is not expected, find who runs it on the client host (`ss -tnp`, the security "
    "team's scanners) or filter it; the ports that connected are the ones the scan found open."
)

ACK_PROBES = (
    " Its ACK and FIN + ACK probes (nmap -sA, -sW, -sM: a lone segment each, so each "
    "connection seems to begin before the capture) drew RSTs: a Linux host answers them "
    "whether the port listens or not (no connection matches the probe), so there they show "
    "which ports a firewall lets through, not which listen (a window scan reads the RSTs' "
    "windows, and some BSD stacks drop a FIN + ACK probe to an open port)."
)


def find(data: FindingInput) -> list[Finding]:
    found = sweeps(data.connections, ["client_ip", "server_ip"], "server_port", MIN_PORTS)
    return [_finding(str(client), str(server), span) for (client, server), span in found]


def _finding(client: str, server: str, span: pd.DataFrame) -> Finding:
    tally = Tally.of(span)
    ports = span["server_port"].astype(int)
    summary = (
        f"{client} tried {ports.nunique()} ports of {server} within {tally.within} "
        f"({tally.counts}): a port scan, not failing services"
    )
    return make_finding(
        KIND,
        summary,
        span["id"].tolist(),
        EXPLANATION + (ACK_PROBES if tally.probed else ""),
        client=client,
        server=server,
        ports=int(ports.nunique()),
        port_range=[int(ports.min()), int(ports.max())],
        **tally.keys(),
    )


FINDER = Finder(KIND, find)
