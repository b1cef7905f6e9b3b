"""NAT copies: one TCP connection captured twice, before and after address translation.

Kernel rule: Linux NAT (nftables/iptables ``masquerade``, ``snat``, ``dnat``; Docker and
Kubernetes use them) rewrites addresses and ports, never sequence numbers, TCP options or
payload (``nf_nat_manip_pkt``; only the FTP/SIP helpers adjust sequence numbers). A capture on
every interface of the host that translates (``tcpdump -i any`` on a NAT gateway, a Docker or
Kubernetes node) holds each forwarded packet twice: once as it came in, once as it left,
microseconds apart, under two 4-tuples, so two ``tcp.stream`` ids. Counted as two
connections, every cross-connection threshold is met at half the connections it needs (three
SYN retries become "6 of 6"), and the summary doubles.

Wire signature (``copies``): client SYNs in different streams with the same ISN and the same
TSval (no TSval: the same ISN alone), sent within ``COPY_WINDOW_NS`` of each other. A client
picks a fresh ISN per connection (RFC 6528: a hash of the 4-tuple and a clock), and a
retransmitted SYN stays in its own stream, so two streams share one only as copies. Guarded
against tools that send every SYN with one ISN (hping3, scanners, crafted test captures): the
later copy has a lower TTL (it was forwarded: ``ip_forward`` decrements it); at most
``MAX_COPIES`` streams per SYN; the two 4-tuples keep the client port or the server's address
and port (the part a source or destination NAT leaves alone); and where both copies hold a
SYN+ACK, it carries the same server ISN.

The first copy seen is the connection's own: it is the one nearer the client (a forwarded
SYN leaves after it came in). ``find_all`` gives the other finders the capture without the
later copies, so they count each connection once; this finder says what it set aside.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from pcapline.findings.base import Finder, FindingInput, make_finding
from pcapline.findings.handshakes import Handshakes
from pcapline.fmt import endpoint
from pcapline.model import Finding

KIND = "nat_copies"
#: Copies of one SYN on two interfaces of the translating host are microseconds apart (a NAT
#: box under load: a few ms; its egress qdisc may hold one tens of ms): far below any SYN
#: retry (1 s), and a retry carries a fresh TSval anyway.
COPY_WINDOW_NS = 100_000_000
#: Streams one SYN may appear in: the way in and the way out, and a bridge port or a second
#: translation (SNAT and DNAT on different interfaces). More is one ISN reused by a tool.
MAX_COPIES = 3
#: At most this many (connection, copy) pairs are listed in the finding.
MAX_LISTED_PAIRS = 100

EXPLANATION = (
    "The same TCP connection appears under two address pairs: same ISNs and TCP timestamps, "
    "microseconds apart. The capture was taken on several interfaces of a host that "
    "translates addresses (tcpdump -i any on a NAT gateway, a Docker or Kubernetes node: "
    "masquerade, DNAT to a container or pod), so it holds each forwarded packet twice, once "
    "per side. Each copy's verdict is that leg's own. The other findings count each "
    "connection once (the first copy, nearer the client). A packet in one copy and not in the "
    "other was dropped by this host between its interfaces (its firewall rules, conntrack, "
    "an egress queue), not by the network. To see one side only, capture one interface "
    "(tcpdump -i eth0)."
)


@dataclass(frozen=True, slots=True)
class Copies:
    """Which streams are later copies of which connection (ids, ``tcp.stream``)."""

    copy_of: dict[int, int]  # a later copy's id -> the id of the connection's first copy

    def __bool__(self) -> bool:
        return bool(self.copy_of)


def copies(hs: Handshakes) -> Copies:
    """The streams that carry a connection already seen in another stream (module docstring)."""
    if len(hs.syn_row) < 2:
        return Copies({})
    ts = np.where(hs.syn_has_ts, hs.syn_ts, -1)
    order = np.lexsort((-hs.syn_ttl, hs.syn_ns, ts, hs.syn_isn))  # at one time: higher TTL first
    isn, ts, ns, row = hs.syn_isn[order], ts[order], hs.syn_ns[order], hs.syn_row[order]
    ttl = hs.syn_ttl[order]
    new_group = np.r_[True, (isn[1:] != isn[:-1]) | (ts[1:] != ts[:-1])]
    new_group[1:] |= (ns[1:] - ns[:-1]) > COPY_WINDOW_NS
    group = np.cumsum(new_group) - 1
    # Groups holding SYNs of more than one stream: the only candidates (few, looped over).
    two_streams = np.flatnonzero(~new_group & (row != np.r_[-1, row[:-1]]))
    candidates = np.unique(group[two_streams])
    if not len(candidates):
        return Copies({})
    starts = np.searchsorted(group, candidates).tolist()
    ends = np.searchsorted(group, candidates + 1).tolist()
    server_isn = _first_synack_isn(hs)
    ends_of = _Ends.of(hs.connections)
    ids: list[int] = hs.connections["id"].to_numpy(np.int64).tolist()
    copy_of: dict[int, int] = {}
    for lo, hi in zip(starts, ends, strict=True):
        rows, ttls = row[lo:hi].tolist(), ttl[lo:hi].tolist()  # in time order
        if not 2 <= len(set(rows)) <= MAX_COPIES:
            continue
        for later, later_ttl in zip(rows[1:], ttls[1:], strict=True):
            # The later copy was forwarded: one hop (or more) less to live. Copies with the
            # same TTL are SYNs a tool sent with one ISN (a crafted capture), not a NAT's.
            forwarded = later != rows[0] and later_ttl < ttls[0]
            if forwarded and _same_connection(ends_of, server_isn, rows[0], later):
                copy_of.setdefault(ids[later], ids[rows[0]])
    # A copy of a copy names the connection's first copy.
    for later, first in list(copy_of.items()):
        seen = {later}
        while first in copy_of and first not in seen:  # a crafted capture may loop
            seen.add(first)
            first = copy_of[first]
        copy_of[later] = first
    return Copies(copy_of)


def _first_synack_isn(hs: Handshakes) -> dict[int, int]:
    """Per connection row holding a SYN+ACK: the server ISN of its first one."""
    out: dict[int, int] = {}
    for r, isn in zip(hs.synack_row.tolist(), hs.synack_isn.tolist(), strict=True):
        out.setdefault(r, isn)
    return out


@dataclass(frozen=True, slots=True)
class _Ends:
    """The connections' two ends, by row: what a NAT may have rewritten."""

    client_ip: list[str]
    client_port: list[int]
    server_ip: list[str]
    server_port: list[int]

    @staticmethod
    def of(conns: pd.DataFrame) -> _Ends:
        def column(name: str) -> list[Any]:
            values: list[Any] = conns[name].astype(str if name.endswith("_ip") else int).tolist()
            return values

        return _Ends(
            *(column(name) for name in ("client_ip", "client_port", "server_ip", "server_port"))
        )

    def client(self, row: int) -> tuple[str, int]:
        return self.client_ip[row], self.client_port[row]

    def server(self, row: int) -> tuple[str, int]:
        return self.server_ip[row], self.server_port[row]


def _same_connection(ends: _Ends, server_isn: dict[int, int], a: int, b: int) -> bool:
    """Streams ``a`` and ``b`` (rows) can be one connection translated: a NAT rewrites one
    end (source NAT keeps the client port where it is free; destination NAT keeps the
    client), and it leaves the server's ISN alone."""
    if a in server_isn and b in server_isn and server_isn[a] != server_isn[b]:
        return False
    return ends.client_port[a] == ends.client_port[b] or ends.server(a) == ends.server(b)


def without_copies(data: FindingInput) -> FindingInput:
    """``data`` with only the first copy of each connection: what the other finders count."""
    if not data.copies:
        return data
    keep = ~data.connections["id"].isin(list(data.copies.copy_of)).to_numpy()
    return replace(
        data,
        connections=data.connections[keep].reset_index(drop=True),
        handshakes=data.handshakes.only(keep),
        copies=Copies({}),
    )


def find(data: FindingInput) -> list[Finding]:
    found = data.copies
    if not found:
        return []
    ends = _Ends.of(data.connections)
    row_of = {conn: row for row, conn in enumerate(data.connections["id"].tolist())}
    pairs = sorted(found.copy_of.items(), key=lambda p: (p[1], p[0]))
    changes: Counter[str] = Counter()
    for later, first in pairs:
        changes[_translation(ends, row_of[first], row_of[later])] += 1
    firsts = sorted(set(found.copy_of.values()))
    seen = ", ".join(f"{change} ({n})" for change, n in changes.most_common(3))
    summary = (
        f"{len(firsts)} connection(s) captured on both sides of an address translation "
        f"({len(pairs)} later cop{'y' if len(pairs) == 1 else 'ies'}: {seen}): the capture host "
        "NATs them; the other findings count each connection once"
    )
    return [
        make_finding(
            KIND,
            summary,
            sorted({i for pair in pairs for i in pair}),
            EXPLANATION,
            copies=[[first, later] for later, first in pairs[:MAX_LISTED_PAIRS]],
            translations=[{"change": c, "copies": n} for c, n in changes.most_common()],
        )
    ]


def _translation(ends: _Ends, first: int, later: int) -> str:
    """What the NAT rewrote between two copies (rows), as "client 10.0.0.2 -> 192.0.2.1"
    (ports named where they changed)."""
    parts = []
    for side, of in (("client", ends.client), ("server", ends.server)):
        (ip_a, port_a), (ip_b, port_b) = of(first), of(later)
        if (ip_a, port_a) == (ip_b, port_b):
            continue
        if port_a == port_b:
            parts.append(f"{side} {ip_a} -> {ip_b}")
        else:
            parts.append(f"{side} {endpoint(ip_a, port_a)} -> {endpoint(ip_b, port_b)}")
    return ", ".join(parts)


FINDER = Finder(KIND, find)
