"""Path reset: a SYN refused by a device in the path, told by the RST's IP TTL.

Kernel rule: a host starts every packet it sends with one TTL (Linux
``net.ipv4.ip_default_ttl``, 64; Windows 128; many routers 255) and each router on the way
takes one off, so at one capture point all of one host's packets over one route arrive with
one TTL. A Linux server with nothing listening answers a SYN with a RST built with that TTL
(``tcp_v4_send_reset``), as does a reject rule on the server itself. A router or firewall in
the path rejecting the SYN (nftables ``tcp flags syn reject with tcp reset``, iptables
``REJECT --reject-with tcp-reset``, a load balancer without a healthy backend) sends its own
RST with the server's address from fewer hops away: it arrives with a higher TTL than the
server's SYN+ACKs (``findings.path_reset`` tells the same capture-wide, per server).

A capture holding both sides of a forwarding hop (``tcpdump -i any`` on a router, two capture
points merged) sees each forwarded packet twice, the second time a hop lower
(``duplicates.seen_again_lower``): the server's SYN+ACKs are compared by their last
sighting, nearer the client, and the RST by its lowest. A router's own RST answering a SYN
it never forwarded leaves once, with the router's TTL, beside the server's packets leaving
one hop lower: a device in the path, the capture host itself. Where the refused SYN was
seen going on toward the server and its RST only once, that one sighting is on the far side
of the hop: nothing to compare it with, no verdict.

The server's TTL is a capture-wide summary (its SYN+ACKs on other connections): the engine
hands each partition the whole capture's (``ServerTtls``, ``engine.Settings.server_ttls``)
and reruns a partition whose refusals it judged otherwise from its own SYN+ACKs
(``engine._to_rerun``), as it does for listeners' SYN+ACK retries.

How sure: the TTL proves another sender only when the server's TTL is stable (at least
``STABLE_SYNACKS`` SYN+ACKs to that port, all with one TTL); else (one SYN+ACK, the server's
other ports only, SYN+ACKs with several TTLs) the words say "probably". A RST from another
initial TTL (a listener's own ``IP_TTL``: BGP's GTSM) or from farther away than the server is
no evidence. The refusal itself (fate ``refused``) is proven either way: a RST answered.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pcapline.duplicates import seen_again_lower
from pcapline.evidence import Evidence
from pcapline.model import Cause, Decision, Fate, Side, Verdicts
from pcapline.ttl import initial_ttl

if TYPE_CHECKING:
    from pcapline.findings.handshakes import Handshakes

#: SYN+ACKs with one TTL, on the same port, that make the server's TTL stable.
STABLE_SYNACKS = 2

#: Per listener (``"server_ip|server_port"``): how many of its SYN+ACKs arrived with each TTL.
ServerTtls = Mapping[str, Mapping[int, int]]


@dataclass(frozen=True, slots=True)
class PathRst:
    """A RST from the server's side whose TTL puts its sender closer than the server. Every
    field goes into the words: two summaries that give equal ``PathRst`` give equal verdicts."""

    rst_ttl: int
    server_ttl: int  # the TTL most of the server's SYN+ACKs arrived with (lowest on a tie)
    server_lo: int
    server_hi: int
    stable: bool  # 2+ SYN+ACKs to this port, one TTL: the TTL proves another sender
    #: Why not stable: "one" (one SYN+ACK to compare with), "varies" (several TTLs), "ports"
    #: (the server's other ports only); "" when stable.
    basis: str


def key(ip: str, port: int) -> str:
    return f"{ip}|{port}"


def last_sightings(hs: Handshakes) -> np.ndarray:
    """Per SYN+ACK of ``hs``: its last sighting, not seen again a hop or two lower (a capture
    holding both sides of a forwarding hop sees the server's packets twice: the later copy,
    nearer the client, is where a refusal's RST would be seen beside them)."""
    again = seen_again_lower(hs.synack_row, hs.synack_isn, hs.synack_ttl, hs.synack_ns)
    last: np.ndarray = ~again
    return last


def rst_ttls(hs: Handshakes) -> np.ndarray:
    """Per connection of ``hs``: the TTL its RST from the server's side is judged by (-1:
    none, or nothing to judge). Its lowest sighting, as the server's SYN+ACKs' last ones
    (``last_sightings``). Where the capture saw the refused SYN go on past a forwarding hop
    (``seen_again_lower``) and the RST only once, that one sighting was on the far side of
    the hop, the SYN+ACKs' last ones on the near side: no comparison, no verdict."""
    first = hs.conn_facts["server_rst_ttl"]
    low = hs.conn_facts["server_rst_low_ttl"]
    forwarded = np.zeros(len(first), dtype=bool)
    again = seen_again_lower(hs.syn_row, hs.syn_isn, hs.syn_ttl, hs.syn_ns)
    forwarded[hs.syn_row[again]] = True
    once = low == first
    out: np.ndarray = np.where(forwarded & once, -1, low)
    return out


def server_ttls(hs: Handshakes) -> dict[str, dict[int, int]]:
    """``ServerTtls`` of the SYN+ACKs in ``hs`` (a partition's or the whole capture's): their
    last sightings (``last_sightings``)."""
    out: dict[str, dict[int, int]] = {}
    if not len(hs.synack_row):
        return out
    last = last_sightings(hs)
    rows = hs.synack_row[last]
    counted = pd.DataFrame(
        {
            "ip": hs.connections["server_ip"].astype(str).to_numpy()[rows],
            "port": hs.connections["server_port"].to_numpy(np.int64)[rows],
            "ttl": hs.synack_ttl[last].astype(np.int64),
        }
    ).value_counts(sort=False)
    index = counted.index
    for ip, port, ttl, n in zip(
        index.get_level_values(0).tolist(),
        index.get_level_values(1).tolist(),
        index.get_level_values(2).tolist(),
        counted.tolist(),
        strict=True,
    ):
        out.setdefault(key(ip, port), {})[ttl] = n
    return out


def summed(parts: Iterable[ServerTtls]) -> dict[str, dict[int, int]]:
    """The whole capture's ``ServerTtls`` from its partitions'."""
    out: dict[str, dict[int, int]] = {}
    for part in parts:
        for listener, counts in part.items():
            into = out.setdefault(listener, {})
            for ttl, n in counts.items():
                into[ttl] = into.get(ttl, 0) + n
    return out


class SynackTtls:
    """``ServerTtls`` arranged for ``judge``: per listener, and per server address."""

    def __init__(self, ttls: ServerTtls) -> None:
        self.port: dict[str, Counter[int]] = {k: Counter(v) for k, v in ttls.items() if v}
        self.ip: dict[str, Counter[int]] = {}
        for listener, counts in self.port.items():
            self.ip.setdefault(listener.rsplit("|", 1)[0], Counter()).update(counts)


def judge(ip: str, port: int, rst_ttl: int, seen: SynackTtls) -> PathRst | None:
    """The RST of TTL ``rst_ttl`` from ``ip:port``'s side, against the server's SYN+ACKs: a
    device in the path sent it (``PathRst``), or nothing tells (None). The SYN+ACKs of that
    port; when it answered none, those of the server's other ports."""
    if rst_ttl < 0:
        return None
    same = seen.port.get(key(ip, port), Counter())
    ttls = same or seen.ip.get(ip, Counter())
    if not ttls:
        return None
    lo, hi = min(ttls), max(ttls)
    # Above what the server's packets arrive with, from the same initial TTL: fewer hops
    # away. Another initial TTL is no proof of another host (a listener's own IP_TTL).
    if rst_ttl <= hi or initial_ttl(rst_ttl) != initial_ttl(lo):
        return None
    stable = sum(same.values()) >= STABLE_SYNACKS and len(same) == 1
    basis = (
        ""
        if stable
        else "one"
        if sum(ttls.values()) == 1
        else "varies"
        if len(ttls) > 1
        else "ports"
    )
    server_ttl = min(ttls, key=lambda t: (-ttls[t], t))
    return PathRst(rst_ttl, server_ttl, lo, hi, stable, basis)


def judge_all(hs: Handshakes, ttls: ServerTtls) -> dict[int, PathRst]:
    """Per connection id of ``hs`` with a RST from the server's side: ``judge`` of it
    (``rst_ttls``)."""
    rst_ttl = rst_ttls(hs)
    rows = np.flatnonzero(rst_ttl >= 0)
    if not len(rows) or not ttls:
        return {}
    conns = hs.connections
    ips = conns["server_ip"].astype(str).to_numpy()[rows]
    ports = conns["server_port"].to_numpy(np.int64)[rows]
    ids = conns["id"].to_numpy(np.int64)[rows]
    seen = SynackTtls(ttls)
    out = {}
    for conn, ip, port, ttl in zip(
        ids.tolist(), ips.tolist(), ports.tolist(), rst_ttl[rows].tolist(), strict=True
    ):
        found = judge(ip, port, ttl, seen)
        if found is not None:
            out[conn] = found
    return out


def refusals(hs: Handshakes, refused: np.ndarray) -> frozenset[tuple[str, int, int]]:
    """(server ip, port, RST TTL) of the connections ``refused`` (ids: fate ``refused``,
    ``reset_by`` server) of ``hs``: what ``judge`` reads of the connections it may name (the
    engine's rerun check, ``engine._to_rerun``)."""
    rst_ttl = rst_ttls(hs)
    conns = hs.connections
    rows = np.flatnonzero(np.isin(conns["id"].to_numpy(np.int64), refused) & (rst_ttl >= 0))
    if not len(rows):
        return frozenset()
    ips = conns["server_ip"].astype(str).to_numpy()[rows]
    ports = conns["server_port"].to_numpy(np.int64)[rows]
    return frozenset(zip(ips.tolist(), ports.tolist(), rst_ttl[rows].tolist(), strict=True))


def named(verdicts: Verdicts) -> np.ndarray:
    """Per connection (``verdicts.ids`` order): could ``recognise`` name it? Fate
    ``refused``, reset by the server's side."""
    fate = np.asarray(verdicts.fate, dtype=object)
    by = np.asarray(verdicts.reset_by, dtype=object)
    return np.asarray((fate == Fate.REFUSED) & (by == Side.SERVER), dtype=bool)


def recognise(e: Evidence, d: Decision) -> Cause | None:
    if d.fate is Fate.REFUSED and d.reset_by is Side.SERVER and e.path_rst is not None:
        return Cause.PATH_RESET
    return None


__all__ = [
    "STABLE_SYNACKS",
    "PathRst",
    "ServerTtls",
    "SynackTtls",
    "judge",
    "judge_all",
    "last_sightings",
    "named",
    "recognise",
    "refusals",
    "rst_ttls",
    "server_ttls",
    "summed",
]
