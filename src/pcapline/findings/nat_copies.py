"""NAT copies: one TCP connection captured twice, before and after address translation.

Kernel rule: Linux NAT (nftables/iptables ``masquerade``, ``snat``, ``dnat``; Docker and
Kubernetes use them) rewrites addresses and ports, never sequence numbers, TCP options or
payload (``nf_nat_manip_pkt``; only the FTP/SIP helpers adjust sequence numbers). A capture on
every interface of the host that translates (``tcpdump -i any`` on a NAT gateway, a Docker or
Kubernetes node) holds each forwarded packet twice: once as it came in, once as it left,
microseconds apart (behind a full egress queue, up to its latency), under two 4-tuples, so
two ``tcp.stream`` ids. Counted as two connections, every cross-connection threshold is met
at half the connections it needs (three SYN retries become "6 of 6"), and the summary
doubles. The same holds for captures taken on both sides of a NAT and merged.

Wire signature (``copies``): client SYNs in different streams with the same ISN, the same
TSval (or none) and the same IPv4 ID, sent within ``COPY_WINDOW_NS`` of each other (with a
TSval, ``STAMPED_WINDOW_NS``: two hosts' captures merged with clocks seconds apart). A client
picks a fresh ISN per connection (RFC 6528: a hash of the 4-tuple and a clock), a
retransmitted SYN stays in its own stream (and Linux gives it a fresh TSval), and a NAT
rewrites neither ISN, TSval nor IP ID: two streams share all three only as copies. Guarded
against tools that send SYNs with one ISN (hping3, nmap, Mirai-style scanners, crafted test
captures), whose IP IDs change from probe to probe:

- an address changed (a NAT rewrites one; a port alone is a tool's next probe);
- the later copy's TTL is one or two lower (routed: ``ip_forward`` decrements it), or the
  same where both carry the same TSval (bridged: ``br_netfilter`` NATs a bridged packet, a
  same-node pod-to-Service connection on a Kubernetes bridge, without decrementing);
- the two 4-tuples keep the client port or the server's address and port (the part a source
  or destination NAT leaves alone);
- where both copies hold a SYN+ACK, it carries the same server ISN;
- at most ``MAX_COPIES`` streams per SYN.

The copy with the highest TTL is the connection's own: it is the one nearer the client (a
forwarded SYN leaves after it came in, one hop lower; where two hosts' captures were merged,
the point nearer the server may stamp its copy first). ``find_all`` gives the other finders the capture without the
later copies, so they count each connection once; this finder says what it set aside.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from pcapline.duplicates import COPY_WINDOW_NS, MAX_POINT_HOPS, STAMPED_WINDOW_NS
from pcapline.findings.base import Finder, FindingInput, make_finding
from pcapline.findings.handshakes import Handshakes
from pcapline.fmt import endpoint
from pcapline.model import Finding
from pcapline.quality import CLOCKS_APART_NS, span_words

KIND = "nat_copies"
#: Hops a copy may be behind the first: one forwarding, or two (SNAT and DNAT on a path
#: through two namespaces of one host).
MAX_HOPS = MAX_POINT_HOPS
#: Streams one SYN may appear in: the way in and the way out, and a bridge port or a second
#: translation (SNAT and DNAT on different interfaces). More is one ISN reused by a tool.
MAX_COPIES = 3
#: At most this many (connection, copy) pairs are listed in the finding.
MAX_LISTED_PAIRS = 100

EXPLANATION = (
    "The same TCP connection appears under two address pairs: same ISNs, TCP timestamps "
    "and IP IDs. The capture was taken on several interfaces of a host that translates "
    "addresses (tcpdump -i any on a NAT gateway, a Docker or Kubernetes node: masquerade, "
    "DNAT to a container or pod), or captures from both sides of a NAT were merged: it holds "
    "each forwarded packet twice, once per side. Each copy's verdict is that leg's own. The "
    "other findings count each connection once (the first copy, nearer the client). A packet "
    "in one copy and not in the other was lost between the two capture points: on one host "
    "capturing both sides, by that host itself (its firewall rules, conntrack, an egress "
    "queue), not by the network. To see one side only, capture one interface "
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
    # By ISN, TSval and IP ID, then time (at one time: the higher TTL, nearer the client).
    order = np.lexsort((-hs.syn_ttl, hs.syn_ns, hs.syn_ip_id, ts, hs.syn_isn))
    isn, ts, ns, row = hs.syn_isn[order], ts[order], hs.syn_ns[order], hs.syn_row[order]
    ttl, ip_id = hs.syn_ttl[order], hs.syn_ip_id[order]
    new_group = np.r_[True, (isn[1:] != isn[:-1]) | (ts[1:] != ts[:-1]) | (ip_id[1:] != ip_id[:-1])]
    # Copies carrying a TSval may be further apart: two hosts' captures merged with their
    # clocks seconds apart (a resent SYN has a new TSval and IP ID anyway).
    window = np.where(ts[1:] > 0, STAMPED_WINDOW_NS, COPY_WINDOW_NS)
    new_group[1:] |= (ns[1:] - ns[:-1]) > window
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
        # The highest TTL first: the copy nearer the client, even where the other point's
        # clock is behind and stamps its copy first (merged captures).
        nearest = sorted(range(len(rows)), key=lambda i: -ttls[i])
        rows, ttls = [rows[i] for i in nearest], [ttls[i] for i in nearest]
        stamped = bool(ts[lo] >= 0)
        for later, later_ttl in zip(rows[1:], ttls[1:], strict=True):
            hops = ttls[0] - later_ttl
            passed = 0 < hops <= MAX_HOPS or (hops == 0 and stamped)  # routed, or bridged
            if (
                later != rows[0]
                and passed
                and _same_connection(ends_of, server_isn, rows[0], later, stamped=stamped)
            ):
                copy_of.setdefault(ids[later], ids[rows[0]])
    return Copies(_to_first(copy_of))


def _to_first(copy_of: dict[int, int]) -> dict[int, int]:
    """Each later copy mapped to the connection's first copy (a copy of a copy names the
    first). A loop (only a crafted capture makes one) pairs nothing."""
    out: dict[int, int] = {}
    for later, first in copy_of.items():
        seen = {later}
        while first in copy_of and first not in seen:
            seen.add(first)
            first = copy_of[first]
        if first not in seen:
            out[later] = first
    return out


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


def _same_connection(
    ends: _Ends, server_isn: dict[int, int], a: int, b: int, *, stamped: bool
) -> bool:
    """Streams ``a`` and ``b`` (rows) can be one connection translated: a NAT rewrites an
    address and leaves the server's ISN alone. Without a TSval to share, the SYNs match on
    ISN and IP ID alone: then one end must be kept as a single NAT keeps it (source NAT
    keeps the client port where it is free; destination NAT keeps the client)."""
    if a in server_isn and b in server_isn and server_isn[a] != server_isn[b]:
        return False
    if ends.client_ip[a] == ends.client_ip[b] and ends.server_ip[a] == ends.server_ip[b]:
        return False  # no address rewritten: another probe from the same tool, not a NAT's copy
    if stamped:
        return True  # ISN, TSval and IP ID alike: SNAT and DNAT together (kube-proxy) too
    return ends.client_port[a] == ends.client_port[b] or ends.server(a) == ends.server(b)


def without_copies(data: FindingInput) -> FindingInput:
    """``data`` with only the first copy of each connection: what the other finders count."""
    if not data.copies:
        return data
    keep = _not_copies(data.connections, data.copies.copy_of)
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
    offset = _legs_offset_ns(data.handshakes, [(row_of[f], row_of[la]) for la, f in pairs])
    if offset is not None and abs(offset) > CLOCKS_APART_NS:
        later_words = "later" if offset > 0 else "earlier"
        who = (
            "captures from both sides of the translation were merged, and the copy nearer the "
            f"servers is stamped at least {span_words(abs(offset))} {later_words} than the "
            "one nearer the clients (their SYNs and SYN+ACKs bound it): the two capture "
            "points' clocks differ by that much, so times across the two copies are off by "
            "as much"
        )
    else:
        who = "the capture host NATs them"
    summary = (
        f"{len(firsts)} connection(s) captured on both sides of an address translation "
        f"({len(pairs)} later cop{'y' if len(pairs) == 1 else 'ies'}: {seen}): {who}; the "
        "other findings count each connection once"
    )
    apart = (
        round(abs(offset) / 1e6, 3)
        if offset is not None and abs(offset) > CLOCKS_APART_NS
        else None
    )
    found_copies = make_finding(
        KIND,
        summary,
        sorted({i for pair in pairs for i in pair}),
        EXPLANATION,
        copies=[[first, later] for later, first in pairs[:MAX_LISTED_PAIRS]],
        translations=[{"change": c, "copies": n} for c, n in changes.most_common()],
        clocks_apart_ms=apart,
    )
    return [replace(found_copies, set_aside=tuple(sorted(found.copy_of)))]


def _legs_offset_ns(hs: Handshakes, pairs: list[tuple[int, int]]) -> int | None:
    """At least how much later the copy nearer the servers is stamped than the one nearer
    the clients (ns; negative: earlier), over the ``pairs`` (rows: the first copy, nearer
    the clients, then the later one) whose streams each hold one SYN+ACK and whose first
    SYNs are one transmission (same TSval and IP ID). As ``quality._copy_points``: the
    client's SYN reaches the point nearer the servers offset + transit later, the server's
    SYN+ACK reaches the point nearer the clients transit after the other saw it (offset -
    transit); a transit is never negative, so the offset lies between the two (the median
    of each bound over the pairs). 0: the bounds allow one clock; None: no such pair."""
    first_syn: dict[int, int] = {}
    for i, r in enumerate(hs.syn_row.tolist()):
        first_syn.setdefault(r, i)
    synacks = Counter(hs.synack_row.tolist())
    synack_at = {
        r: int(t) for r, t in zip(hs.synack_row.tolist(), hs.synack_ns.tolist(), strict=True)
    }
    low, high = [], []
    for near_client, near_server in pairs:
        a, b = first_syn.get(near_client), first_syn.get(near_server)
        if a is None or b is None or synacks[near_client] != 1 or synacks[near_server] != 1:
            continue
        if (hs.syn_ts[a], hs.syn_ip_id[a]) != (hs.syn_ts[b], hs.syn_ip_id[b]):
            continue
        high.append(int(hs.syn_ns[b]) - int(hs.syn_ns[a]))
        low.append(synack_at[near_server] - synack_at[near_client])
    if not low:
        return None
    lo, hi = int(np.median(low)), int(np.median(high))
    if lo > 0 and hi > 0:
        return min(lo, hi)
    if lo < 0 and hi < 0:
        return max(lo, hi)
    return 0


def legs_clocks_apart_ms(findings: Iterable[Finding]) -> float | None:
    """The clocks' offset (ms, beyond 1 ms) ``nat_copies`` measured between the capture
    points of a NAT's two legs (None: no such finding, or one clock as far as it shows):
    what ``quality.with_legs_clocks`` adds to ``capture.quality``."""
    for f in findings:
        if f.kind == KIND and f.details.get("clocks_apart_ms") is not None:
            return float(f.details["clocks_apart_ms"])
    return None


def later_copies(findings: Iterable[Finding]) -> frozenset[int]:
    """The connections ``nat_copies`` found to be later copies of others (none: no such
    finding): what the capture's connection counts leave out."""
    return frozenset(i for f in findings if f.kind == KIND for i in f.set_aside)


def counted_once(connections: pd.DataFrame, copies: frozenset[int]) -> pd.DataFrame:
    """The rows of ``connections`` but those of ``copies`` (``later_copies``): each
    connection once, for the counts a summary gives; all of them when every row is a copy
    (a filter kept only copies: each is the one connection shown)."""
    if not copies or connections.empty:
        return connections
    kept = connections[_not_copies(connections, copies)]
    return kept if len(kept) else connections


def _not_copies(connections: pd.DataFrame, later: Iterable[int]) -> np.ndarray:
    """Per row of ``connections``: its id is none of ``later`` (the later copies)."""
    return np.asarray(~connections["id"].isin(list(later)).to_numpy())


def _translation(ends: _Ends, first: int, later: int) -> str:
    """What the NAT rewrote between two copies (rows), as "client 10.0.0.2 -> 192.0.2.1":
    addresses, and "port changed" where it did (a source NAT's ports differ from connection
    to connection; a destination NAT's port is the service's, named)."""
    parts = []
    for side, of in (("client", ends.client), ("server", ends.server)):
        (ip_a, port_a), (ip_b, port_b) = of(first), of(later)
        if (ip_a, port_a) == (ip_b, port_b):
            continue
        if port_a == port_b:
            parts.append(f"{side} {ip_a} -> {ip_b}")
        elif side == "client":
            parts.append(f"client {ip_a} -> {ip_b} (port changed)")
        else:
            parts.append(f"server {endpoint(ip_a, port_a)} -> {endpoint(ip_b, port_b)}")
    return ", ".join(parts)


FINDER = Finder(KIND, find)
