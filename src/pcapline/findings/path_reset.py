"""Refusals sent by a device in the path: the RST answering a SYN arrives with another IP TTL
than the server's own packets.

Kernel rule: a host starts every packet it sends with one TTL (Linux
``net.ipv4.ip_default_ttl``, 64; Windows 128; many routers 255) and each router on the way
takes one off, so at one capture point all of one host's packets over one route arrive with
one TTL. A Linux server with nothing listening answers a SYN with a RST built with that TTL
(``tcp_v4_send_reset``), as does a reject rule on the server itself (``nf_send_reset`` takes
the route's hop limit, the default). A router or firewall in the path rejecting the SYN
(nftables ``tcp flags syn reject with tcp reset``, iptables ``REJECT --reject-with
tcp-reset``) sends its own RST, with the source address of the server, from fewer hops away
(or with another initial TTL): it arrives with another TTL than the server's SYN+ACKs.

Wire signature: a connection refused by a RST from the server's side (fate ``refused``,
``reset_by`` server) whose RST's TTL is above every TTL the server's SYN+ACKs arrive with on
other connections to the same address and port (or, when the port answered none, to other
ports of that address), from the same initial TTL (the first of 32, 64, 128, 255 at or above
it): its sender is fewer hops from the capture point. Not counted: a RST from another
initial TTL (a listener's own ``IP_TTL`` sets its SYN+ACKs' TTL while the kernel's RSTs
take the default: a BGP daemon's GTSM SYN+ACKs arrive with 255, its RSTs before it listened
with 64, tcpdump's bgp-bgpsec capture) nor a RST from farther away than the server (no
device between the capture point and the server). The IPv4 ID tells nothing here: Linux
sends SYN+ACKs, RSTs answering SYNs and netfilter's RSTs all with ID 0.


How sure: the TTL proves another sender only when the server's TTL is stable (at least
``STABLE_SYNACKS`` SYN+ACKs to that port, all with one TTL). One SYN+ACK, the server's
other ports only (a port forward may send them to another host), or SYN+ACKs with several
TTLs (route changes, ECMP, a load balancer's backends at different distances; a RST outside
their range still counts): the summary says "probably". A capture on the rejecting device
itself (``tcpdump -i any``) sees the server's SYN+ACKs with two TTLs, before and after the
hop: they are compared by their last sighting, the RST by its lowest, and a RST seen once
for a SYN that went on toward the server is not judged (``causes.path_reset.rst_ttls``).
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from pcapline.causes.path_reset import (
    STABLE_SYNACKS,
    SynackTtls,
    judge,
    last_sightings,
    rst_ttls,
    server_ttls,
)
from pcapline.findings.base import Finder, FindingInput, make_finding
from pcapline.fmt import endpoint
from pcapline.model import Finding
from pcapline.ttl import hops_closer

KIND = "path_reset"
EXPLANATION = (
    "The RST that refused these connections arrived with another IP TTL than the server's "
    "own packets (its SYN+ACKs on other connections): a host starts all its packets with one "
    "TTL and the route takes the same hops off them, so another box sent the RST with the "
    "server's address: a router, firewall or load balancer in the path rejecting the SYN "
    "(nftables `reject with tcp reset`, iptables `REJECT --reject-with tcp-reset`, a cloud "
    "security group or ACL), often for one port or one set of clients. The server never saw "
    "these SYNs: its `ss -lnt` and logs say nothing about them. Check the reject rules on "
    "the routers and firewalls between this capture point and the server (`nft list "
    "ruleset`, `iptables -S`, the rejecting device's counters), starting with the one the "
    "TTL puts closest to the capture point; a traceroute to the server's port "
    "(`traceroute -T -p PORT`) shows where the path stops."
)


def find(data: FindingInput) -> list[Finding]:
    hs = data.handshakes
    conns = hs.connections
    if conns.empty or not {"fate", "reset_by"} <= set(conns.columns):
        return []
    rst_ttl = rst_ttls(hs)
    refused = (
        (conns["fate"].astype(str).to_numpy() == "refused")
        & (conns["reset_by"].astype(str).to_numpy() == "server")
        & (rst_ttl >= 0)
    )
    if not refused.any() or not len(hs.synack_row):
        return []
    ips = conns["server_ip"].astype(str).to_numpy()
    ports = conns["server_port"].to_numpy(np.int64)
    by_port: dict[tuple[str, int], list[int]] = {}
    by_ip: dict[str, list[tuple[int, int]]] = {}
    last = last_sightings(hs)
    for row, ttl in zip(hs.synack_row[last].tolist(), hs.synack_ttl[last].tolist(), strict=True):
        by_port.setdefault((ips[row], int(ports[row])), []).append(ttl)
        by_ip.setdefault(ips[row], []).append((int(ports[row]), ttl))
    summary = SynackTtls(server_ttls(hs))
    ids = conns["id"].to_numpy(np.int64)
    groups: dict[tuple[str, int], list[tuple[int, int]]] = {}
    for row in np.flatnonzero(refused).tolist():
        groups.setdefault((ips[row], int(ports[row])), []).append(
            (int(ids[row]), int(rst_ttl[row]))
        )
    findings = []
    for (ip, port), refusals in sorted(groups.items()):
        same_port = by_port.get((ip, port), [])
        seen = same_port or [ttl for p, ttl in by_ip.get(ip, []) if p != port]
        if not seen:
            continue
        # Above what the server's packets arrive with (their range when they spread), from
        # the same initial TTL: fewer hops away (the per-connection cause's rule).
        odd = [(c, t) for c, t in refusals if judge(ip, port, t, summary) is not None]
        if odd:
            findings.append(_finding(endpoint(ip, port), odd, same_port, seen))
    return findings


def _finding(
    server: str, odd: list[tuple[int, int]], same_port: list[int], seen: list[int]
) -> Finding:
    rst_ttl = Counter(t for _, t in odd).most_common(1)[0][0]
    ttls = Counter(seen)
    server_ttl = ttls.most_common(1)[0][0]
    stable = len(same_port) >= STABLE_SYNACKS and len(ttls) == 1
    where = f"TTL {rst_ttl}, the server's packets arrive with TTL {server_ttl}"
    if len(ttls) > 1:
        where = f"TTL {rst_ttl}, the server's packets arrive with TTL {min(seen)}-{max(seen)}"
    else:
        where += f": {hops_closer(rst_ttl, server_ttl)}"
    n = len(odd)
    what = f"{n} connection{'s' if n != 1 else ''} to {server} refused"
    if stable:
        summary = f"{what}: reset by a device in the path ({where})."
    else:
        basis = (
            "one SYN+ACK of the server to compare with"
            if len(seen) == 1
            else "the server's TTL varies"
            if len(ttls) > 1
            else "compared with the server's other ports only"
        )
        summary = f"{what}: probably reset by a device in the path ({where}; {basis})."

    return make_finding(
        KIND,
        summary,
        [c for c, _ in odd],
        EXPLANATION,
        server=server,
        rst_ttl=rst_ttl,
        server_ttls=sorted(ttls)[:10],
        synacks=len(seen),
        server_ttl_stable=stable,
    )


FINDER = Finder(KIND, find)

__all__ = ["EXPLANATION", "FINDER", "KIND", "find"]
