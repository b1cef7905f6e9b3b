"""Half-open probes: one client's SYNs to one listening port, each reset by its own kernel.

Kernel rule (``causes/half_open_probe.py``): a connecting socket acknowledges a SYN+ACK; only a
host with no socket for the connection answers it with a bare RST. A load balancer's or
monitor's half-open TCP check (and a SYN scanner) sends SYNs from a raw socket, reads the
SYN+ACK as "port open" and leaves that RST to its kernel. A server capture then holds one
"reset during the handshake" per check: dozens of resets an hour, all healthy, which an
on-call engineer should not chase one by one. Seen together they say who checks the port and
how often.

Wire signature: per client address, server address and port, at least ``MIN_PROBES``
connections whose cause is ``half_open_probe``. Their starts say how often: when the gaps
between them are alike (``repeats.Repeats``), the finding names the period.
"""

from __future__ import annotations

from pcapline.findings.base import Finder, FindingInput
from pcapline.findings.repeats import COLUMNS, Repeats, repeat_findings
from pcapline.model import Cause, Finding

KIND = "half_open_probes"
#: Probes that make a pattern: a health check runs every few seconds; one or two may be a
#: client that closed its socket early.
MIN_PROBES = 3

EXPLANATION = (
    "One client sent SYNs to one listening port again and again, and each time its own kernel "
    "answered the server's SYN+ACK with a RST: it had no socket for them, so they came from a "
    "raw socket, a half-open health check (a load balancer's or monitor's TCP check that "
    "reads the SYN+ACK as 'port open') or a SYN port scanner. The server listened and "
    "answered every one: these resets are no failures. To tell which, find the tool on the "
    "client host; a regular period is a health check's interval."
)


def find(data: FindingInput) -> list[Finding]:
    conns = data.connections
    if conns.empty or not {"cause", *COLUMNS} <= set(conns.columns):
        return []
    probe = conns["cause"].to_numpy(dtype=object) == Cause.HALF_OPEN_PROBE.value
    return repeat_findings(
        KIND,
        conns,
        probe,
        least=MIN_PROBES,
        count_key="probes",
        summary=_summary,
        explanation=EXPLANATION,
    )


def _summary(client: str, server: str, port: int, repeats: Repeats) -> str:
    return (
        f"{client} sent {repeats.count} half-open probes to {server}:{port} {repeats.over} "
        "(SYN, SYN+ACK, then its own kernel's RST): a health check or a SYN scanner, not "
        "failing connections"
    )


FINDER = Finder(KIND, find)
