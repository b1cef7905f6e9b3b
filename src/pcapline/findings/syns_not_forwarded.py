"""SYNs not forwarded: a forwarding host captured with ``-i any`` took SYNs in and never sent
them on, while it forwarded other connections' to the same server.

Kernel rule: a router or NAT host forwards a packet out of its other interface microseconds
after it came in, one hop lower (``ip_forward`` decrements the TTL), translated if it NATs
(``nat_copies``); a capture on every interface (``tcpdump -i any``) holds both copies. A SYN it
drops is captured once, coming in: Linux drops a new connection's SYN when the conntrack table
is full (``nf_conntrack: table full, dropping packet``; ``conntrack -S`` drop), when SNAT or
masquerade finds no free source port for it (``conntrack -S`` insert_failed: the port range
exhausted, its entries held in TIME_WAIT), or by a firewall rule. The client sees only SYN
retries and a connect timeout, as from a dead server; the capture on the forwarding host proves
where they died.

Wire signature: a connection whose client SYNs (at least ``MIN_SYNS``, none answered or
replied) each appear once - no copy one or two hops lower in the same stream, no NAT copy in
another - towards a server address and port to which this capture shows the host forwarding
other connections' SYNs (a copy one or two hops lower within ``COPY_WINDOW_NS`` in the same
stream, or a ``nat_copies`` pair). Two captures merged from both sides of a box show the same:
the box between them dropped the SYNs.
"""

from __future__ import annotations

import numpy as np

from pcapline.duplicates import seen_again_lower
from pcapline.findings.base import Finder, FindingInput, make_finding
from pcapline.fmt import endpoint
from pcapline.model import Finding

KIND = "syns_not_forwarded"
#: SYNs a connection must have sent, all never forwarded: one lost capture copy is no pattern.
MIN_SYNS = 2

EXPLANATION = (
    "The capture host (a router, NAT gateway or Docker/Kubernetes node captured with "
    "tcpdump -i any; or the box between two merged captures) received these connections' "
    "SYNs and never sent them on, while it forwarded other connections' SYNs to the same "
    "server: it dropped them. The clients saw SYN retries and a connect timeout, as from a "
    "dead server; the server never saw them. On Linux: the conntrack table full (dmesg "
    "'nf_conntrack: table full, dropping packet'; conntrack -S drop; raise "
    "net.netfilter.nf_conntrack_max or shorten the timeouts that fill it), SNAT/masquerade "
    "out of source ports for that destination (conntrack -S insert_failed; widen the port "
    "range or add addresses, reuse connections instead of opening one per request), or a "
    "firewall rule (nft list ruleset; nft monitor trace)."
)


def find(data: FindingInput) -> list[Finding]:
    hs = data.handshakes
    conns = hs.connections
    n = len(conns)
    if n < 2 or len(hs.syn_row) < 2:
        return []
    ids = conns["id"].to_numpy(np.int64)
    row_of = {int(c): r for r, c in enumerate(ids.tolist())}
    copy_of = data.copies.copy_of if data.copies else {}
    forwarded = np.zeros(n, dtype=bool)
    later_copy = np.zeros(n, dtype=bool)
    for later, first in copy_of.items():
        if first in row_of and later in row_of:
            forwarded[row_of[first]] = True
            later_copy[row_of[later]] = True
    # Copies in the same stream: the same SYN again one or two hops lower, soon after.
    again = seen_again_lower(hs.syn_row, hs.syn_isn, hs.syn_ttl, hs.syn_ns)
    forwarded[hs.syn_row[again]] = True
    syns = np.bincount(hs.syn_row, minlength=n)
    replied = np.zeros(n, dtype=bool)
    replied[hs.syn_row[hs.syn_replied]] = True
    stuck = (
        (syns >= MIN_SYNS)
        & ~replied
        & ~forwarded
        & ~later_copy
        & ~hs.conn_facts["synack_sent"].astype(bool)
    )
    if not stuck.any() or not forwarded.any():
        return []
    server = [
        endpoint(ip, port)
        for ip, port in zip(
            conns["server_ip"].astype(str).tolist(), conns["server_port"].tolist(), strict=True
        )
    ]
    client_ip = conns["client_ip"].astype(str).tolist()
    client_port = conns["client_port"].tolist()
    via = {server[r] for r in np.flatnonzero(forwarded).tolist()}
    found: list[Finding] = []
    for target in sorted(via):
        dropped = [r for r in np.flatnonzero(stuck).tolist() if server[r] == target]
        if not dropped:
            continue
        passed = [r for r in np.flatnonzero(forwarded).tolist() if server[r] == target]
        ports = sorted(
            {
                int(client_port[row_of[later]])
                for later, first in copy_of.items()
                if later in row_of and first in row_of and server[row_of[first]] == target
            }
        )
        clients = sorted({client_ip[r] for r in dropped})
        translated = (
            f", those through a NAT from {len(ports)} source port(s) ({ports[0]}-{ports[-1]})"
            if ports
            else ""
        )
        summary = (
            f"{len(dropped)} connection(s) from {', '.join(clients[:3])}"
            f"{' and others' if len(clients) > 3 else ''} to {target}: every SYN was captured "
            "coming in and never going out, while this capture shows the host forwarding "
            f"{len(passed)} other connection(s) to it{translated}: the capture host dropped "
            "them (conntrack table full, NAT source ports exhausted, or a firewall rule), "
            "not the server"
        )
        found.append(
            make_finding(
                KIND,
                summary,
                [int(ids[r]) for r in dropped],
                EXPLANATION,
                server=target,
                forwarded=len(passed),
                translated_ports=ports[:100],
            )
        )
    return found


FINDER = Finder(KIND, find)
