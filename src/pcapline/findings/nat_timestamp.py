"""tw_recycle / per-host PAWS: SYNs from one NAT address dropped because timestamps go backwards.

Kernel rule (Linux <= 4.11 with ``net.ipv4.tcp_tw_recycle=1``; removed in 4.12, commit
4396e46187ca; tcp-facts.md "tw_recycle and NAT", anchors.md 5.6):

- When the server closes first and enters TIME_WAIT, ``tcp_remember_stamp()`` stores the peer
  IP's last TSval (``ts_recent``) and when it arrived (``ts_recent_stamp``) in the per-IP TCP
  metrics entry, if it is not older than the cached value or the cached value is stale (> 60 s).
- ``tcp_conn_request()`` -> ``tcp_peer_is_proven(req, dst, paws_check=true)`` silently drops a
  SYN when that entry is < TCP_PAWS_MSL (60 s) old and ``(s32)(cached - syn_tsval) >
  TCP_PAWS_WINDOW (1)``, or the SYN has no timestamp (counter PAWSPassiveRejected).
- Hosts behind one NAT address each have their own timestamp clock (random per-host offset,
  1 kHz on modern Linux, HZ on older kernels), so the hosts whose clock is "behind" have every
  SYN dropped while another host keeps the entry fresh; they retransmit and time out.

Wire signature we require (all of it, per server ip:port and client IP):

1. at least two confirmed timestamp clocks behind the client IP (samples clustered by offset
   ``TSval - rate * t`` at the usual tick rates, modulo 2**32; confirmed = samples spanning at
   least 1 s agree, so a stack that starts every connection's clock at 0 or at a random value
   does not count as many hosts);
2. replaying the kernel's cache from the connections the server closed first, SYNs that got
   no reply at all (no SYN+ACK, no RST) while their TSval was behind a fresh entry ("regressed");
3. the rule explains the drops, both ways: regressed SYNs are (nearly) all unanswered, so an
   overloaded server dropping SYNs at random (regressed SYNs answered too) is not reported;
   and unanswered SYNs are (nearly) all regressed, so a firewall dropping some SYNs is not
   reported either: with clocks that look random across connections about half of any SYNs
   regress (Linux 6.18, which made the sample captures, gives each connection its own
   offset);
4. the server was alive: it sent SYN+ACKs on that port within 60 s of the drops.

Look-alikes ruled out: one host with one clock (it never goes backwards); a NAT whose SYNs are
all answered (no tw_recycle); drops whose TSval is above the cache (overload, firewall). Clocks
are counted, not taken for hosts: one host's connections may each have their own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pcapline import seqnum
from pcapline.findings.base import Finder, FindingInput, capped_ids, make_finding
from pcapline.findings.handshakes import GROUP_KEYS
from pcapline.fmt import endpoint
from pcapline.model import Finding

KIND = "nat_timestamp"
TCP_PAWS_MSL_NS = 60 * 10**9  # a per-host timestamp cache entry counts for 60 s
TCP_PAWS_WINDOW = 1  # TSval ticks of slack before a SYN counts as behind the cache
#: Timestamp clock rates to try: 1 kHz (Linux >= 4.13, BSD, macOS) and the jiffies HZ of older kernels.
TICK_RATES_HZ: tuple[int, ...] = (1000, 250, 100, 300)
#: Offset tolerance: queueing between sender and tap (TSval is taken at send time) plus drift.
JITTER_S = 0.25
DRIFT = 2e-4
#: Condition 3: share of regressed SYNs that may have been answered and still count as explained.
MAX_ANSWERED_REGRESSED = 0.2
#: Condition 3, the other way: share of unanswered SYNs that may have been ahead of the cache
#: (ordinary loss) while the rule explains the rest.
MAX_UNEXPLAINED_DROPS = 0.2

EXPLANATION = (
    "Connections from this source IP carry unrelated TCP timestamp clocks: several hosts behind a "
    "NAT, each with its own clock, or one host that starts each connection's clock at its own "
    "random offset (recent Linux kernels do). SYNs whose "
    "timestamp was behind the last one the server had seen from this IP within 60 s got no SYN+ACK, "
    "while the server answered other SYNs: per-host PAWS rejection, as done by Linux <= 4.11 with "
    "net.ipv4.tcp_tw_recycle=1 (or a middlebox/load balancer applying the same rule). "
    "Check on the server: `netstat -s | grep -i 'time stamp'` (\"passive connections rejected because "
    'of time stamp") or `nstat -az TcpExtPAWSPassiveRejected` rising with the failures, and '
    "`sysctl net.ipv4.tcp_tw_recycle`. Fix: set net.ipv4.tcp_tw_recycle=0 (or upgrade: it was removed "
    "in Linux 4.12); never enable it on servers facing NATed clients."
)


@dataclass(frozen=True, slots=True)
class Clock:
    """One TCP timestamp clock seen behind a client IP."""

    rate_hz: int
    first_tsval: int
    first_frame: int
    connections: tuple[int, ...]
    confirmed: bool  # its samples span >= 1 s and agree on the rate (not one short connection)

    def to_dict(self) -> dict[str, object]:
        return {
            "rate_hz": self.rate_hz,
            "confirmed": self.confirmed,
            "first_tsval": self.first_tsval,
            "first_frame": self.first_frame,
            "connections": list(self.connections),
        }


@dataclass(frozen=True, slots=True)
class Replay:
    """Per-SYN outcome of replaying the kernel's per-IP timestamp cache."""

    regressed: np.ndarray  # bool per SYN: behind a fresh cache entry (or no timestamp)
    cached_tsval: np.ndarray  # the entry it was compared with (0 when none)


def find(data: FindingInput) -> list[Finding]:
    hs = data.handshakes
    if (
        hs.syn_replied.all()
        or not (hs.conn_facts["server_closed_first"] & hs.conn_facts["has_client_ts"]).any()
    ):
        return []  # cheap screen: no silently dropped SYN, or nothing that could feed the cache
    keys = list(GROUP_KEYS)
    syns, conns = hs.syns, hs.conns
    unanswered = syns.loc[~syns["replied"], keys].drop_duplicates()
    feeders = conns.loc[
        conns["server_closed_first"] & conns["has_client_ts"], keys
    ].drop_duplicates()
    candidates = unanswered.merge(feeders, on=keys)
    if candidates.empty:
        return []
    # Phase 1, cheap, every candidate group: replay the kernel's cache; keep groups whose
    # unreplied SYNs it explains. Phase 2, only those: clocks and the server-alive check.
    group_syns = syns.merge(candidates, on=keys).sort_values(
        [*keys, "time_ns", "frame"], kind="stable"
    )
    group_feeders = conns.loc[
        conns["server_closed_first"] & conns["has_client_ts"],
        [*keys, "last_client_ts_ns", "last_client_ts"],
    ].merge(candidates, on=keys)
    group_feeders = group_feeders.sort_values([*keys, "last_client_ts_ns"], kind="stable")
    feeder_rows = group_feeders.groupby(keys, sort=True).indices
    feed_ns, feed_ts = (
        group_feeders["last_client_ts_ns"].to_numpy(),
        group_feeders["last_client_ts"].to_numpy(),
    )
    syn_ns, syn_ts = (
        group_syns["time_ns"].to_numpy(),
        group_syns["ts_val"].to_numpy().astype(np.int64),
    )
    syn_has_ts, syn_replied = (
        group_syns["has_ts"].to_numpy(dtype=bool),
        group_syns["replied"].to_numpy(dtype=bool),
    )
    explained: list[tuple[tuple[object, ...], pd.DataFrame, pd.Series, np.ndarray]] = []
    for key, rows in group_syns.groupby(keys, sort=True).indices.items():
        feeds = feeder_rows[key]
        regressed = _replay(
            feed_ns[feeds], feed_ts[feeds], syn_ns[rows], syn_ts[rows], syn_has_ts[rows]
        ).regressed
        dropped = _explained_drops(regressed, syn_replied[rows])
        if dropped is not None:
            g_conns = conns.loc[(conns[keys] == pd.Series(key, index=keys)).all(axis=1), "id"]
            group_key = key if isinstance(key, tuple) else (key,)
            explained.append((group_key, group_syns.iloc[rows], g_conns, dropped))
    if not explained:
        return []
    samples = _clock_samples(data.segments, pd.concat([g[2] for g in explained]))
    synack_server = np.array(
        [
            f"{ip}|{port}"
            for ip, port in zip(
                conns["server_ip"].to_numpy()[hs.synack_row],
                conns["server_port"].to_numpy()[hs.synack_row],
                strict=False,
            )
        ],
        dtype=object,
    )
    findings: list[Finding] = []
    for key, g_syns, g_conns, dropped in explained:
        server_ip, server_port, _client_ip = key
        synacks = hs.synack_ns[synack_server == f"{server_ip}|{server_port}"]
        finding = _judge(key, g_syns, dropped, samples[samples["conn"].isin(g_conns)], synacks)
        if finding is not None:
            findings.append(finding)
    return findings


def _explained_drops(regressed: np.ndarray, replied: np.ndarray) -> np.ndarray | None:
    """The SYNs the kernel rule dropped, if the rule explains this group's drops (conditions
    2, 3), both ways: the regressed SYNs went unanswered, and the unanswered SYNs regressed.
    Unanswered SYNs whose timestamp was ahead of the cache were dropped by something else (a
    firewall, an overloaded server), which drops regressed SYNs as readily: with timestamps
    that look random across connections (each Linux connection's own offset), about half of
    any SYNs regress."""
    dropped: np.ndarray = regressed & ~replied
    n_regressed = int(regressed.sum())
    n_unanswered = int((~replied).sum())
    n_dropped = int(dropped.sum())
    if (
        not dropped.any()
        or (n_regressed - n_dropped) > MAX_ANSWERED_REGRESSED * n_regressed
        or (n_unanswered - n_dropped) > MAX_UNEXPLAINED_DROPS * n_unanswered
    ):
        return None
    return dropped


def _judge(
    key: tuple[object, ...],
    syns: pd.DataFrame,
    dropped: np.ndarray,
    samples: pd.DataFrame,
    synack_ns: np.ndarray,
) -> Finding | None:
    server_ip, server_port, client_ip = key
    drop_times = syns["time_ns"].to_numpy()[dropped]
    alive = (
        (synack_ns >= drop_times.min() - TCP_PAWS_MSL_NS)
        & (synack_ns <= drop_times.max() + TCP_PAWS_MSL_NS)
    ).any()
    if not alive:
        return None
    clocks = cluster_clocks(samples)
    if sum(clock.confirmed for clock in clocks) < 2:
        return None
    answered = syns["answered"].to_numpy(dtype=bool)
    dropped_ids = sorted(set(syns["conn"].to_numpy()[dropped].tolist()))
    answered_ids = sorted(set(syns["conn"].to_numpy()[answered].tolist()))
    server = endpoint(server_ip, server_port)
    summary = (
        f"{len(dropped_ids)} connection(s) from {client_ip} to {server} had SYNs dropped while their TCP "
        f"timestamp was behind the last one the server kept for that IP ({len(clocks)} timestamp "
        "clocks behind it): consistent with tcp_tw_recycle / per-host PAWS"
    )
    return make_finding(
        KIND,
        summary,
        dropped_ids,
        EXPLANATION,
        ip=str(client_ip),
        server=server,
        clocks=[clock.to_dict() for clock in clocks],
        dropped_syns=int(dropped.sum()),
        answered=capped_ids(answered_ids)[0],
    )


def replay_cache(syns: pd.DataFrame, conns: pd.DataFrame) -> Replay:
    """Replay ``tcp_remember_stamp()`` / ``tcp_peer_is_proven()`` over one client IP, in time order.

    Cache updates come from connections the server closed first (it entered TIME_WAIT), at the
    time of the client's last timestamped segment (``ts_recent_stamp``). ``syns`` must be in time order.
    """
    feeders = conns[conns["server_closed_first"] & conns["has_client_ts"]].sort_values(
        "last_client_ts_ns", kind="stable"
    )
    return _replay(
        feeders["last_client_ts_ns"].to_numpy(),
        feeders["last_client_ts"].to_numpy().astype(np.int64),
        syns["time_ns"].to_numpy(),
        syns["ts_val"].to_numpy().astype(np.int64),
        syns["has_ts"].to_numpy(dtype=bool),
    )


def _replay(
    update_ns: np.ndarray,
    update_ts: np.ndarray,
    syn_ns: np.ndarray,
    syn_ts: np.ndarray,
    has_ts: np.ndarray,
) -> Replay:
    """The replay over plain arrays: cache updates (time-sorted) and SYNs (time-sorted).

    The cache is a state machine, replayed in one loop; the loop only notes which entry each
    SYN met, and the PAWS comparison of each SYN with its entry is one vectorised step."""
    cached = np.zeros(len(syn_ns), dtype=np.int64)
    met = np.zeros(len(syn_ns), dtype=bool)  # a live cache entry was there for the SYN
    entry_ts: int | None = None
    entry_ns = 0
    u = 0
    updates = [(int(n), int(t)) for n, t in zip(update_ns, update_ts, strict=False)]
    for i, now in enumerate(syn_ns.tolist()):
        while u < len(updates) and updates[u][0] <= now:
            stamp, ts = updates[u]
            if (
                entry_ts is None
                or seqnum.seq_le(entry_ts, ts)
                or (stamp - entry_ns > TCP_PAWS_MSL_NS and entry_ns <= stamp)
            ):
                entry_ts, entry_ns = ts, stamp
            u += 1
        if entry_ts is None or now - entry_ns >= TCP_PAWS_MSL_NS:
            continue
        cached[i] = entry_ts
        met[i] = True
    behind = seqnum.distance(cached, syn_ts[: len(cached)]) > TCP_PAWS_WINDOW
    regressed = met & (~has_ts[: len(cached)] | behind)
    return Replay(regressed=regressed, cached_tsval=cached)


def cluster_clocks(samples: pd.DataFrame) -> list[Clock]:
    """Group timestamp samples (conn, frame, time_ns, ts_val) into clocks.

    Each clock is ``TSval = offset + rate * t (mod 2**32)``. For each candidate rate, samples
    whose offsets agree within the tolerance form a cluster; a cluster counts when it spans at
    least a second (so the rate is actually tested). The rate whose counting clusters cover the
    most samples wins; its clusters become clocks and the rest is tried again. Samples never
    confirmed (short, lone connections) join a clock at 1 kHz when one fits, or make their own.
    A connection belongs to the clock of its first sample.
    """
    if samples.empty:
        return []
    samples = samples.sort_values(["time_ns", "frame"], kind="stable")
    t0 = int(samples["time_ns"].iloc[0])
    t = (samples["time_ns"].to_numpy() - t0) / 1e9
    v = samples["ts_val"].to_numpy().astype(np.int64)
    span = float(t.max()) if len(t) else 0.0
    label = np.full(len(t), -1, dtype=np.int64)
    rate_of: list[int] = []
    confirmed_of: list[bool] = []
    while True:
        best: tuple[int, int, np.ndarray] | None = None
        free = np.flatnonzero(label < 0)
        if len(free) < 2:
            break
        for rate in TICK_RATES_HZ:
            groups = _offset_clusters(t[free], v[free], rate, span)
            confirmed = [g for g in groups if len(g) >= 2 and np.ptp(t[free][g]) >= 1.0]
            covered = sum(len(g) for g in confirmed)
            if confirmed and (best is None or covered > best[0]):
                best = (covered, rate, np.array([free[i] for g in confirmed for i in g]))
                best_groups = [free[g] for g in confirmed]
        if best is None:
            break
        for members in best_groups:
            label[members] = len(rate_of)
            rate_of.append(best[1])
            confirmed_of.append(True)
    rest = np.flatnonzero(label < 0)
    if len(
        rest
    ):  # unconfirmed samples: join a confirmed 1 kHz clock with the same offset, or stand alone
        known = {
            c: _offset(t[label == c][:1], v[label == c][:1], 1000)[0]
            for c, r in enumerate(rate_of)
            if r == 1000
        }
        tol = 1000 * (JITTER_S + DRIFT * span)
        for group in _offset_clusters(t[rest], v[rest], 1000, span):
            members = rest[group]
            offset = _offset(t[members[:1]], v[members[:1]], 1000)[0]
            fit = [
                c for c, ref in known.items() if abs(seqnum.distance(int(offset), int(ref))) <= tol
            ]
            if fit:
                label[members] = fit[0]
            else:
                label[members] = len(rate_of)
                rate_of.append(1000)
                confirmed_of.append(False)
    conn = samples["conn"].to_numpy()
    frame = samples["frame"].to_numpy()
    first_of_conn = ~pd.Series(conn).duplicated().to_numpy()
    clocks = []
    for c, rate in enumerate(rate_of):
        members = first_of_conn & (label == c)
        if not members.any():
            continue
        first = int(np.flatnonzero(label == c)[0])
        clocks.append(
            Clock(
                rate,
                int(v[first]),
                int(frame[first]),
                tuple(sorted(set(conn[members].tolist()))),
                confirmed_of[c],
            )
        )
    return clocks


def _offset_clusters(t: np.ndarray, v: np.ndarray, rate: int, span: float) -> list[np.ndarray]:
    """Indices grouped by circular offset ``(v - rate*t) mod 2**32`` with gaps above the tolerance."""
    offsets = _offset(t, v, rate)
    order = np.argsort(offsets, kind="stable")
    sorted_off = offsets[order]
    tol = max(2.0, rate * (JITTER_S + DRIFT * span))
    gaps = np.diff(np.concatenate([sorted_off, [sorted_off[0] + seqnum.SEQ_MOD]]))
    breaks = np.flatnonzero(gaps > tol)
    if len(breaks) == 0:
        return [order]
    # rotate so the cluster that wraps past 2**32 stays whole
    start = breaks[-1] + 1
    rotated = np.roll(order, -start)
    cut = (breaks - start) % len(order) + 1
    return [g for g in np.split(rotated, np.sort(cut)[:-1]) if len(g)]


def _offset(t: np.ndarray, v: np.ndarray, rate: int) -> np.ndarray:
    """Each sample's clock offset ``(TSval - rate * t) mod 2**32``."""
    return seqnum.wrap(v - np.round(t * rate).astype(np.int64))


def _clock_samples(segments: pd.DataFrame, conn_ids: pd.Series) -> pd.DataFrame:
    """First and last timestamped client segment of each connection: one clock sample each."""
    seg = segments.loc[
        segments["from_client"].to_numpy(dtype=bool)
        & segments["has_ts"].to_numpy(dtype=bool)
        & segments["conn"].isin(conn_ids).to_numpy(),
        ["conn", "frame", "time_ns", "ts_val"],
    ].sort_values(["conn", "frame"], kind="stable")
    by_conn = seg.groupby("conn", sort=False)
    samples: pd.DataFrame = pd.concat([by_conn.head(1), by_conn.tail(1)]).drop_duplicates()
    return samples


FINDER = Finder(KIND, find)
