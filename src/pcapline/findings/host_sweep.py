"""Host sweeps: one client tries one port on many hosts within seconds, most of them failing.

Kernel rule (``sweeps``): a host where nothing listens on the port answers the SYN with RST,
an address nobody holds or a firewall answers nothing (or an ICMP error). A client that opens
connections to the same port of many different addresses within a minute, most refused or
unanswered, is sweeping hosts: a network scanner looking for a service (``nmap -p 22
10.0.0.0/24``, a discovery or inventory tool, a worm), or a client working through a list of
backends most of which are gone (stale service discovery, DNS or configuration). Each
connection's verdict is true on its own; together they say which of the two to look for.

Wire signature: per client address and server port, the attempts refused by the host itself
(its RST: ``sweeps.attempts``' ``host_refused``), one per server address (the address's
first); at least ``MIN_HOSTS`` such addresses whose attempts start within ``sweeps.WINDOW_S``
seconds. Unanswered attempts and a router's ICMP errors do not count towards it: a client
whose network is down or whose route is broken (one router rejecting every IPv6 destination,
seen on a browser's capture) fails on every host it tries, scanning nothing; only hosts that
answer "nothing listens here" make a sweep. The finding counts every connection of that
client to that port in the stretch: refused, unanswered, and those that connected (the hosts
that serve the port).
"""

from __future__ import annotations

import pandas as pd

from pcapline.findings.base import Finder, FindingInput, make_finding
from pcapline.findings.sweeps import Tally, sweeps
from pcapline.model import Finding

KIND = "host_sweep"
#: Distinct failed server addresses that make a sweep: more than a client's usual backends.
MIN_HOSTS = 10

EXPLANATION = (
    "One client tried the same port on many different hosts within a minute, and most "
    "attempts were refused (RST: nothing listens there) or went unanswered (no host at that "
    "address, or a firewall drops them). Either a scanner is sweeping addresses for a service "
    "(nmap, a discovery or inventory tool, a worm on the client host), or an application is "
    "working through a list of backends most of which are gone (stale service discovery, DNS "
    "records or configuration). Find the process on the client host (`ss -tnp`, its "
    "configuration); for an application, compare the addresses it tried with the backends "
    "that exist. The hosts that connected are the ones that serve the port."
)


def find(data: FindingInput) -> list[Finding]:
    found = sweeps(
        data.connections,
        ["client_ip", "server_port"],
        "server_ip",
        MIN_HOSTS,
        counted="host_refused",
    )
    return [_finding(str(client), span) for (client, _port), span in found]


def _finding(client: str, span: pd.DataFrame) -> Finding:
    tally = Tally.of(span)
    port = int(span["server_port"].iloc[0])
    hosts = int(span["server_ip"].nunique())
    summary = (
        f"{client} tried port {port} on {hosts} hosts within {tally.within} "
        f"({tally.counts}): a scanner sweeping addresses, or a client with a list of "
        "backends that are gone"
    )
    return make_finding(
        KIND,
        summary,
        span["id"].tolist(),
        EXPLANATION,
        client=client,
        port=port,
        hosts=hosts,
        **tally.keys(),
    )


FINDER = Finder(KIND, find)
