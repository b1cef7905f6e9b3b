"""Connect checks: one client connects to one port again and again, sends nothing, and
aborts each connection with a RST: a TCP health check.

A TCP health check (HAProxy's ``check`` without a send rule, a load balancer's or monitor's
TCP monitor) reads "port open" from the completed handshake and closes at once; many close
with ``SO_LINGER {1, 0}`` so that no TIME_WAIT socket is left on the checker, and the kernel
then ends the connection with a RST instead of a FIN (``tcp_close`` ->
``tcp_send_active_reset``). A backend's capture holds one "reset by the client" per check,
every few seconds, each true and harmless; together they say who checks the port and how
often, and that the port answered every time.

Wire signature: per client address, server address and port, at least ``MIN_CHECKS``
connections whose handshake completed (``connect_s``), that carried no payload either way,
and that the client reset (fate ``reset``, ``reset_by`` client). Their period, when the gaps
agree (``repeats.Repeats``).
"""

from __future__ import annotations

import numpy as np

from pcapline.findings.base import Finder, FindingInput
from pcapline.findings.repeats import COLUMNS, Repeats, repeat_findings
from pcapline.model import Fate, Finding, Side

KIND = "connect_checks"
#: Checks that make a pattern: a health checker runs every few seconds.
MIN_CHECKS = 3

EXPLANATION = (
    "One client connected to one port again and again, sent nothing, and reset each "
    "connection as soon as it was open: a TCP health check (HAProxy's check, a load "
    "balancer's or monitor's TCP monitor), which reads 'port open' from the handshake and "
    "closes with SO_LINGER 0 so that it keeps no TIME_WAIT socket (the RST is that close). "
    "The server accepted every one: these resets are no failures. If a check is expected to "
    "send a request (an HTTP check), it is not sending one; a regular period is the checker's "
    "interval."
)

#: The connections-table columns ``find`` reads beside ``repeats.COLUMNS``.
READS = {"fate", "reset_by", "connect_s", "bytes_client", "bytes_server"}


def find(data: FindingInput) -> list[Finding]:
    conns = data.connections
    if conns.empty or not READS | set(COLUMNS) <= set(conns.columns):
        return []
    checks = (
        (conns["fate"].astype(str).to_numpy() == Fate.RESET.value)
        & (conns["reset_by"].astype(object).to_numpy() == Side.CLIENT.value)
        & ~np.isnan(conns["connect_s"].to_numpy(dtype=float))
        & (conns["bytes_client"].to_numpy(np.int64) == 0)
        & (conns["bytes_server"].to_numpy(np.int64) == 0)
    )
    return repeat_findings(
        KIND,
        conns,
        checks,
        least=MIN_CHECKS,
        count_key="checks",
        summary=_summary,
        explanation=EXPLANATION,
    )


def _summary(client: str, server: str, port: int, repeats: Repeats) -> str:
    return (
        f"{client} connected to {server}:{port} {repeats.count} times {repeats.over}, sending "
        "nothing and resetting each: a TCP health check, not failing connections"
    )


FINDER = Finder(KIND, find)
