#!/usr/bin/env python3
"""Craft the tw_recycle / NAT captures in ``sample_captures/nat/`` (they are CRAFTED, not real).

Why crafted: ``net.ipv4.tcp_tw_recycle`` was removed in Linux 4.12 (commit 4396e46187ca), so a
current kernel cannot produce these captures. This script simulates, packet by packet, what a
Linux <= 4.11 server with ``tcp_tw_recycle=1`` does, seen from a tap next to the server:

* The server keeps one TCP-metrics entry per peer **IP** (``tcp_metrics.c``). When the server
  closes first and enters TIME_WAIT (``tcp_time_wait()`` -> ``tcp_remember_stamp()``), the entry
  takes the peer's ``ts_recent`` (the last TSval received) and ``ts_recent_stamp`` (when it was
  received), but only if the new value is not older than the cached one or the cached one is
  stale (> TCP_PAWS_MSL = 60 s)::

      if ((s32)(tm->tcpm_ts - tp->rx_opt.ts_recent) <= 0 ||
          (now - tm->tcpm_ts_stamp > TCP_PAWS_MSL && tm->tcpm_ts_stamp <= ts_recent_stamp))
              tm->tcpm_ts_stamp = ts_recent_stamp, tm->tcpm_ts = ts_recent;

* On every SYN (``tcp_conn_request()`` -> ``tcp_peer_is_proven(req, dst, true, saw_tstamp)``)
  the SYN is silently dropped (LINUX_MIB_PAWSPASSIVEREJECTED) when the entry is fresh and the
  SYN's TSval is more than TCP_PAWS_WINDOW (1) behind it::

      now - tm->tcpm_ts_stamp < TCP_PAWS_MSL &&
      ((s32)(tm->tcpm_ts - req->ts_recent) > TCP_PAWS_WINDOW || !saw_tstamp)

* Clients behind one NAT IP are different hosts, each with its own TCP timestamp clock
  (1 kHz, own random offset, as ``secure_tcp_ts_off()`` gives per host pair). A dropped client
  retransmits its SYN with the same ISN and a fresh TSval on the Linux schedule (doubling
  1, 2, 4 ... s with ``tcp_syn_retries=6``, or the >= 6.5 linear shape) and gives up silently
  (connect timeout, no RST).

Server behaviour for an accepted connection: SYN+ACK, the client's ACK and a short request,
the response, then the server closes first (HTTP/1.0 style), so the server enters TIME_WAIT and
feeds the cache. Output: classic little-endian pcap, Ethernet, IPv4, microsecond timestamps,
proper IP and TCP checksums (Wireshark shows no errors).

Next to each capture goes ``NAME.expected.json`` with the exact expected findings, known from
the simulation (which SYNs the modelled kernel dropped), plus the crafting facts per host.
Connection ids are Wireshark ``tcp.stream`` numbers: every attempt uses its own NAT source
port, so streams are numbered in order of each attempt's first SYN.

Usage: ``python tools/natcraft.py [OUTDIR]`` (default ``sample_captures/nat``); deterministic.
"""

from __future__ import annotations

import heapq
import ipaddress
import json
import random
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

EPOCH = 1_457_956_800.0  # 2016-03-14 12:00:00 UTC: the Linux 4.4 era, when tw_recycle existed
TCP_PAWS_MSL = 60.0  # s: how long a per-host timestamp cache entry counts (include/net/tcp.h)
TCP_PAWS_WINDOW = 1  # ticks of slack before a SYN's TSval counts as older than the cache
ONE_WAY_S = 0.010  # client <-> server one-way delay (the tap sits at the server)
SERVER_TS_OFFSET = 3_141_592_653
MASK32 = 0xFFFFFFFF

#: Client SYN send times relative to the first SYN, and when connect() gives up (seconds).
SYN_SCHEDULES: dict[str, tuple[tuple[float, ...], float]] = {
    # tcp_syn_retries=6, initial RTO 1 s doubling: 0 1 3 7 15 31 63, ETIMEDOUT at 127 s
    "doubling": ((0, 1, 3, 7, 15, 31, 63), 127.0),
    # Linux >= 6.5, tcp_syn_linear_timeouts=4: four 1 s retries, then doubling; ~131 s
    "linear": ((0, 1, 2, 3, 4, 5, 7, 11, 19, 35, 67), 131.0),
}


def s32(value: int) -> int:
    """The kernel's ``(s32)`` cast: TSval comparisons are modulo 2**32."""
    value &= MASK32
    return value - (1 << 32) if value >= 1 << 31 else value


@dataclass(frozen=True, slots=True)
class Host:
    """A client machine: its own TS clock (offset at capture start, ticks per second)."""

    name: str
    ts_offset: int
    ts_rate: int = 1000
    syn_schedule: str = "doubling"

    def tsval(self, t: float) -> int:
        return (self.ts_offset + int(t * self.ts_rate)) & MASK32


@dataclass(frozen=True, slots=True)
class Attempt:
    host: Host
    public_ip: str  # the NAT address (or the host's own)
    sport: int
    start: float  # seconds after capture start


@dataclass(slots=True)
class CacheEntry:
    ts: int
    stamp: float


@dataclass(slots=True)
class Server:
    ip: str
    port: int
    tw_recycle: bool
    #: extra, non-PAWS drops (an overloaded server): called per SYN, True = drop
    overload_drop: Callable[[], bool] = lambda: False
    cache: dict[str, CacheEntry] = field(default_factory=dict)

    def paws_rejects(self, ip: str, tsval: int, now: float) -> bool:
        """``tcp_peer_is_proven(..., paws_check=true)`` returning false."""
        entry = self.cache.get(ip)
        if not self.tw_recycle or entry is None:
            return False
        return now - entry.stamp < TCP_PAWS_MSL and s32(entry.ts - tsval) > TCP_PAWS_WINDOW

    def remember_stamp(self, ip: str, ts_recent: int, ts_recent_stamp: float, now: float) -> None:
        """``tcp_remember_stamp()`` when the server enters TIME_WAIT (only with tw_recycle)."""
        if not self.tw_recycle:
            return
        entry = self.cache.get(ip)
        if entry is None:
            self.cache[ip] = CacheEntry(ts_recent, ts_recent_stamp)
        elif s32(entry.ts - ts_recent) <= 0 or (
            now - entry.stamp > TCP_PAWS_MSL and entry.stamp <= ts_recent_stamp
        ):
            entry.ts, entry.stamp = ts_recent, ts_recent_stamp


# --------------------------------------------------------------------------- packets


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return int(~total & 0xFFFF)


FIN, SYN, RST, PSH, ACK = 1, 2, 4, 8, 16
MAC_SERVER = bytes.fromhex("525400000001")
MAC_ROUTER = bytes.fromhex("525400000002")


@dataclass(frozen=True, slots=True)
class Packet:
    time: float  # at the tap
    src: str
    dst: str
    sport: int
    dport: int
    seq: int
    ack: int
    flags: int
    window: int
    tsval: int
    tsecr: int
    payload_len: int = 0
    ttl: int = 64
    ip_id: int = 0

    def frame(self) -> bytes:
        syn = bool(self.flags & SYN)
        if syn:  # Linux SYN / SYN+ACK option order: MSS, SACK_PERM, TS, NOP, WS
            opts = struct.pack("!BBH", 2, 4, 1460) + b"\x04\x02"
            opts += struct.pack("!BBII", 8, 10, self.tsval, self.tsecr) + b"\x01" + b"\x03\x03\x07"
        else:
            opts = b"\x01\x01" + struct.pack("!BBII", 8, 10, self.tsval, self.tsecr)
        payload = bytes((0x41 + i % 26) for i in range(self.payload_len))
        offset = (20 + len(opts)) // 4
        tcp = (
            struct.pack(
                "!HHIIBBHHH",
                self.sport,
                self.dport,
                self.seq & MASK32,
                self.ack & MASK32,
                offset << 4,
                self.flags,
                self.window,
                0,
                0,
            )
            + opts
            + payload
        )
        src, dst = ipaddress.IPv4Address(self.src).packed, ipaddress.IPv4Address(self.dst).packed
        pseudo = src + dst + struct.pack("!BBH", 0, 6, len(tcp))
        tcp = tcp[:16] + struct.pack("!H", _checksum(pseudo + tcp)) + tcp[18:]
        ip = struct.pack(
            "!BBHHHBBH4s4s",
            0x45,
            0,
            20 + len(tcp),
            self.ip_id & 0xFFFF,
            0x4000,
            self.ttl,
            6,
            0,
            src,
            dst,
        )
        ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
        to_server = self.dport < self.sport
        eth = (MAC_SERVER + MAC_ROUTER) if to_server else (MAC_ROUTER + MAC_SERVER)
        return eth + b"\x08\x00" + ip + tcp


def write_pcap(path: Path, packets: list[Packet]) -> None:
    with path.open("wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        for pkt in packets:
            data = pkt.frame()
            t = EPOCH + pkt.time
            sec = int(t)
            usec = round((t - sec) * 1e6)
            if usec == 1_000_000:
                sec, usec = sec + 1, 0
            out.write(struct.pack("<IIII", sec, usec, len(data), len(data)) + data)


# --------------------------------------------------------------------------- simulation


@dataclass(slots=True)
class Outcome:
    attempt: Attempt
    first_syn: float
    syns: list[tuple[float, int, bool]] = field(default_factory=list)  # (time, tsval, paws-dropped)
    answered: bool = False


@dataclass(frozen=True, slots=True)
class SynArrival:
    outcome: Outcome
    n: int  # 0 = first SYN, then retransmissions


@dataclass(frozen=True, slots=True)
class CacheUpdate:
    ip: str
    ts: int
    stamp: float


@dataclass(slots=True)
class Simulation:
    server: Server
    rng: random.Random
    packets: list[Packet] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    _ip_ids: dict[str, int] = field(default_factory=dict)

    def _ip_id(self, who: str) -> int:
        self._ip_ids[who] = self._ip_ids.get(who, self.rng.randrange(1 << 16)) + 1
        return self._ip_ids[who]

    def run(self, attempts: list[Attempt]) -> None:
        # Event queue: (time, order, kind, payload). SYN arrivals and cache updates interleave
        # across connections, so each SYN sees the cache exactly as the kernel would.
        queue: list[tuple[float, int, SynArrival | CacheUpdate]] = []
        order = 0
        for attempt in attempts:
            outcome = Outcome(attempt, attempt.start)
            self.outcomes.append(outcome)
            heapq.heappush(queue, (attempt.start + ONE_WAY_S, order, SynArrival(outcome, 0)))
            order += 1
        isns: dict[int, int] = {}
        while queue:
            now, _, event = heapq.heappop(queue)
            if isinstance(event, CacheUpdate):
                self.server.remember_stamp(event.ip, event.ts, event.stamp, now)
                continue
            outcome, n = event.outcome, event.n
            attempt = outcome.attempt
            schedule, _give_up = SYN_SCHEDULES[attempt.host.syn_schedule]
            sent = attempt.start + schedule[n]
            tsval = attempt.host.tsval(sent)
            isn = isns.setdefault(id(outcome), self.rng.randrange(1 << 32))
            c = self.server
            self.packets.append(
                Packet(
                    now,
                    attempt.public_ip,
                    c.ip,
                    attempt.sport,
                    c.port,
                    isn,
                    0,
                    SYN,
                    29200,
                    tsval,
                    0,
                    ttl=62,
                    ip_id=self._ip_id(attempt.host.name),
                )
            )
            paws = c.paws_rejects(attempt.public_ip, tsval, now)
            dropped = paws or c.overload_drop()
            outcome.syns.append((now, tsval, paws))
            if dropped:
                if n + 1 < len(schedule):
                    heapq.heappush(
                        queue,
                        (
                            attempt.start + schedule[n + 1] + ONE_WAY_S,
                            order,
                            SynArrival(outcome, n + 1),
                        ),
                    )
                    order += 1
                continue  # after the last SYN the client gives up silently (ETIMEDOUT)
            outcome.answered = True
            update = self._exchange(outcome, now, isn)
            heapq.heappush(queue, (update.stamp, order, update))
            order += 1

    def _exchange(self, outcome: Outcome, t: float, isn: int) -> CacheUpdate:
        """Handshake, request, response, server FIN first, client FIN; returns the cache update."""
        a, c, host = outcome.attempt, self.server, outcome.attempt.host
        server_isn = self.rng.randrange(1 << 32)
        rtt = 2 * ONE_WAY_S
        req, resp = 120 + self.rng.randrange(60), 600 + self.rng.randrange(900)
        last_client_ts = 0

        def srv_ts(at: float) -> int:
            return (SERVER_TS_OFFSET + int(at * 1000)) & MASK32

        def client(at: float, seq: int, ack: int, flags: int, length: int = 0) -> None:
            nonlocal last_client_ts
            last_client_ts = host.tsval(at - ONE_WAY_S)
            self.packets.append(
                Packet(
                    at,
                    a.public_ip,
                    c.ip,
                    a.sport,
                    c.port,
                    seq,
                    ack,
                    flags,
                    229,
                    last_client_ts,
                    srv_ts(at - rtt),
                    length,
                    62,
                    self._ip_id(host.name),
                )
            )

        def server(
            at: float, seq: int, ack: int, flags: int, length: int = 0, window: int = 227
        ) -> None:
            self.packets.append(
                Packet(
                    at,
                    c.ip,
                    a.public_ip,
                    c.port,
                    a.sport,
                    seq,
                    ack,
                    flags,
                    window,
                    srv_ts(at),
                    last_client_ts,
                    length,
                    64,
                    self._ip_id("server"),
                )
            )

        last_client_ts = host.tsval(t - ONE_WAY_S)  # the SYN's TSval, echoed in the SYN+ACK
        server(t + 0.00005, server_isn, isn + 1, SYN | ACK, window=28960)
        client(t + rtt, isn + 1, server_isn + 1, ACK)
        client(t + rtt + 0.0001, isn + 1, server_isn + 1, PSH | ACK, req)
        server(t + rtt + 0.0002, server_isn + 1, isn + 1 + req, ACK)
        server(t + rtt + 0.0012, server_isn + 1, isn + 1 + req, PSH | ACK, resp)
        server(t + rtt + 0.0013, server_isn + 1 + resp, isn + 1 + req, FIN | ACK)
        client(t + 2 * rtt + 0.0013, isn + 1 + req, server_isn + 2 + resp, ACK)
        fin_at = t + 2 * rtt + 0.0015
        client(fin_at, isn + 1 + req, server_isn + 2 + resp, FIN | ACK)
        stamp_ts = last_client_ts
        # FIN_WAIT2 + the client's FIN -> TIME_WAIT: tcp_time_wait() -> tcp_remember_stamp()
        server(fin_at + 0.00005, server_isn + 2 + resp, isn + 2 + req, ACK)
        return CacheUpdate(a.public_ip, stamp_ts, fin_at)


# --------------------------------------------------------------------------- scenarios

SERVER_IP, SERVER_PORT = "10.20.0.10", 80
NAT_IP = "203.0.113.50"
DIRECT_IPS = ("198.51.100.7", "198.51.100.8")


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str
    tw_recycle: bool
    overload_drop_rate: float
    attempts: Callable[[random.Random], list[Attempt]]
    expect_finding: bool


def _periodic(start: float, stop: float, every: float, rng: random.Random) -> list[float]:
    out, t = [], start
    while t < stop:
        out.append(round(t, 6))
        t += every * (0.6 + 0.8 * rng.random())
    return out


def _with_ports(plan: list[tuple[Host, str, float]], rng: random.Random) -> list[Attempt]:
    """Source ports as a NAT (or a host) hands them out: increasing in time, per public IP."""
    next_port: dict[str, int] = {}
    attempts = []
    for host, ip, start in sorted(plan, key=lambda p: p[2]):
        next_port[ip] = next_port.get(ip, 32768 + rng.randrange(4000)) + 1 + rng.randrange(7)
        attempts.append(Attempt(host, ip, next_port[ip], start))
    return attempts


# Three machines behind one NAT address. Offsets are far apart, as random per-host offsets are;
# "wrap" starts 100 s before its 32-bit clock wraps (the detector must compare modulo 2**32).
AHEAD = Host("ahead", 2_000_000_000)
BEHIND = Host("behind", 700_000_000)
WRAP = Host("wrap", (1 << 32) - 100_000, syn_schedule="linear")
DIRECT = (Host("direct-a", 123_456_789), Host("direct-b", 3_500_000_000))


def _nat_traffic(rng: random.Random) -> list[Attempt]:
    plan = [(BEHIND, NAT_IP, 0.5)]  # before any cache entry: accepted
    plan += [(AHEAD, NAT_IP, t) for t in _periodic(2.0, 200.0, 4.5, rng)]
    plan += [(BEHIND, NAT_IP, t) for t in (40.0, 90.0, 150.0, 265.0)]
    plan += [(WRAP, NAT_IP, t) for t in (25.0, 120.0)]
    plan += [(AHEAD, NAT_IP, 275.0)]
    for host, ip, every in zip(DIRECT, DIRECT_IPS, (10.0, 20.0), strict=False):
        plan += [(host, ip, t) for t in _periodic(1.0 + every / 3, 295.0, every, rng)]
    return _with_ports(plan, rng)


def _single_host_traffic(rng: random.Random) -> list[Attempt]:
    plan = [(AHEAD, NAT_IP, t) for t in _periodic(1.0, 240.0, 3.0, rng)]
    plan += [(DIRECT[0], DIRECT_IPS[0], t) for t in _periodic(2.0, 240.0, 10.0, rng)]
    return _with_ports(plan, rng)


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "crafted-nat-tw-recycle",
        "Three hosts behind NAT 203.0.113.50, each with its own 1 kHz TCP timestamp clock, and a "
        "Linux <= 4.11 server with net.ipv4.tcp_tw_recycle=1 that closes first. SYNs from the hosts "
        "whose clock is behind the cached TSval are dropped (PAWSPassiveRejected) while the cache "
        "entry is under 60 s old; they retransmit and time out. Two direct clients connect fine.",
        tw_recycle=True,
        overload_drop_rate=0.0,
        attempts=_nat_traffic,
        expect_finding=True,
    ),
    Scenario(
        "crafted-nat-no-drops",
        "Control: the same three NATed hosts with their own clocks, but the server has "
        "tcp_tw_recycle=0: every SYN is answered. Several clocks behind one IP is not a problem by itself.",
        tw_recycle=False,
        overload_drop_rate=0.0,
        attempts=_nat_traffic,
        expect_finding=False,
    ),
    Scenario(
        "crafted-nat-overload-drops",
        "Control: the same NATed hosts; the server has tcp_tw_recycle=0 but is overloaded and drops "
        "about a third of all SYNs at random. Drops happen whatever the TSval, and SYNs whose TSval "
        "is behind are answered too, so the drops are not explained by timestamps.",
        tw_recycle=False,
        overload_drop_rate=0.35,
        attempts=_nat_traffic,
        expect_finding=False,
    ),
    Scenario(
        "crafted-single-host-overload",
        "Control: one host with one clock behind 203.0.113.50 and a tw_recycle=1 server that is "
        "overloaded (drops about 40% of SYNs at random). A single clock never goes backwards, so "
        "every dropped SYN's TSval is above the cached one: no timestamp regression.",
        tw_recycle=True,
        overload_drop_rate=0.40,
        attempts=_single_host_traffic,
        expect_finding=False,
    ),
)


def craft(scenario: Scenario, outdir: Path, seed: int = 4_11) -> dict[str, object]:
    rng = random.Random(f"{scenario.name}:{seed}")
    drop_rng = random.Random(f"{scenario.name}:drops:{seed}")
    server = Server(
        SERVER_IP,
        SERVER_PORT,
        scenario.tw_recycle,
        overload_drop=lambda: drop_rng.random() < scenario.overload_drop_rate,
    )
    sim = Simulation(server, rng)
    sim.run(scenario.attempts(rng))
    packets = sorted(sim.packets, key=lambda p: p.time)
    write_pcap(outdir / f"{scenario.name}.pcap", packets)

    # tcp.stream order: each attempt has its own 4-tuple, numbered by its first packet.
    ordered = sorted(sim.outcomes, key=lambda o: o.syns[0][0])
    stream = {id(o): i for i, o in enumerate(ordered)}
    dropped = sorted(stream[id(o)] for o in ordered if any(paws for _, _, paws in o.syns))
    findings: list[dict[str, object]] = []
    if dropped:
        findings.append(
            {
                "kind": "nat_timestamp",
                "ip": NAT_IP,
                "server": f"{SERVER_IP}:{SERVER_PORT}",
                "connections": dropped,
            }
        )
    assert bool(findings) == scenario.expect_finding, scenario.name
    expected = {
        "crafted": True,
        "generator": "python tools/natcraft.py (simulated Linux <= 4.11 tcp_tw_recycle; see its docstring)",
        "description": scenario.description,
        "server": {
            "ip": SERVER_IP,
            "port": SERVER_PORT,
            "tcp_tw_recycle": scenario.tw_recycle,
            "overload_drop_rate": scenario.overload_drop_rate,
        },
        "findings": findings,
        "connections": [
            {
                "id": stream[id(o)],
                "client_ip": o.attempt.public_ip,
                "client_port": o.attempt.sport,
                "host": o.attempt.host.name,
                "ts_offset": o.attempt.host.ts_offset,
                "syn_schedule": o.attempt.host.syn_schedule,
                "syns": len(o.syns),
                "paws_dropped_syns": sum(paws for _, _, paws in o.syns),
                "answered": o.answered,
            }
            for o in ordered
        ],
    }
    (outdir / f"{scenario.name}.expected.json").write_text(json.dumps(expected, indent=2) + "\n")
    return expected


def main(argv: list[str]) -> None:
    outdir = (
        Path(argv[1])
        if len(argv) > 1
        else Path(__file__).resolve().parents[1] / "sample_captures" / "nat"
    )
    outdir.mkdir(parents=True, exist_ok=True)
    for scenario in SCENARIOS:
        expected = craft(scenario, outdir)
        conns, findings = expected["connections"], expected["findings"]
        assert isinstance(conns, list) and isinstance(findings, list)
        print(
            f"{scenario.name}: {len(conns)} connections, "
            f"findings {[(f['kind'], len(f['connections'])) for f in findings]}"
        )


if __name__ == "__main__":
    main(sys.argv)
