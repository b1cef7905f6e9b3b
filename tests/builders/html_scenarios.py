"""A realistic ``Analysis`` with segments, for the HTML report tests (render and browser).

Each connection is written packet by packet the way a Linux peer sends it (handshake, data,
retransmissions with RTO doubling from 200 ms, SYN backoff 1 s/2 s/4 s..., keepalive probes
at snd_una - 1, a zero-window persist series), then the segments of all connections are
interleaved by time and numbered like Wireshark's frame.number. Events, counts and verdicts
are the ones the detectors and classifier are specified to produce for such traffic; the HTML
tests only check that the report shows them, the fates themselves are proven elsewhere on
real captures.

``hostile()`` returns the same analysis with attacker-controlled text in every string field
that reaches the page.
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from builders.segments import segment_table
from pcapline.analysis import Analysis
from pcapline.detect import run_all
from pcapline.model import (
    ACK,
    CONNECTION_COLUMNS,
    EVENT_COLUMNS,
    FIN,
    PSH,
    RST,
    SYN,
    CaptureInfo,
    EventKind,
    Finding,
)

T0 = 1_763_700_000_000_000_000  # 2025-11-21 04:40:00 UTC, ns
S = 1_000_000_000


@dataclass
class _Pkt:
    t_ns: int
    from_client: bool
    flags: int
    seq: int
    ack: int
    length: int = 0
    window: int = 502
    wscale: int = -1
    mss: int = 0
    events: list[tuple[str, str, float | None]] = field(default_factory=list)


@dataclass
class Conn:
    """One connection being written; ``send`` appends a packet, ``mark`` an event on it."""

    cid: int
    client: str
    cport: int
    server: str
    sport: int
    start_ns: int
    fate: str
    explanation: str = ""
    closer: str | None = None
    reset_by: str | None = None
    inferred: dict[str, Any] = field(default_factory=dict)
    client_guessed: bool = False
    confidence: str = "proven"
    pkts: list[_Pkt] = field(default_factory=list)
    cisn: int = 1_000_000
    sisn: int = 3_000_000_000

    def send(
        self,
        dt_s: float,
        from_client: bool,
        flags: int,
        seq: int,
        ack: int,
        length: int = 0,
        **kw: Any,
    ) -> _Pkt:
        base_c, base_s = self.cisn, self.sisn
        own, peer = (base_c, base_s) if from_client else (base_s, base_c)
        p = _Pkt(
            self.start_ns + round(dt_s * S),
            from_client,
            flags,
            (own + seq) % 2**32,
            (peer + ack) % 2**32 if flags & ACK else 0,
            length,
            **kw,
        )
        self.pkts.append(p)
        return p

    def client_syn(self, dt_s: float) -> _Pkt:
        """The client's SYN (or a resend of it) as Linux writes it: MSS 1460, window 64240,
        window scale 7."""
        return self.send(dt_s, True, SYN, 0, 0, window=64240, wscale=7, mss=1460)

    def handshake(self, rtt: float = 0.001) -> None:
        self.client_syn(0).events.append(("syn", "", None))
        self.send(rtt, False, SYN | ACK, 0, 1, window=65160, wscale=7, mss=1460).events.append(
            ("synack", "", None)
        )
        self.send(rtt * 2, True, ACK, 1, 1).events.append(("handshake_ack", "", None))


def _closed(
    cid: int, cport: int, t: int, client: str = "10.0.0.1", server: str = "10.0.0.2"
) -> Conn:
    c = Conn(
        cid,
        client,
        cport,
        server,
        443,
        t,
        "closed",
        closer="client",
        explanation="The client closed the connection; both sides sent FIN and it ended normally.",
    )
    c.handshake()
    c.send(0.003, True, ACK | PSH, 1, 1, 120)
    c.send(0.004, False, ACK, 1, 121)
    c.send(0.010, False, ACK | PSH, 1, 121, 1448)
    c.send(0.010, False, ACK | PSH, 1449, 121, 600)
    c.send(0.011, True, ACK, 121, 2049)
    c.send(0.050, True, FIN | ACK, 121, 2049).events.append(("fin", "", None))
    c.send(0.051, False, FIN | ACK, 2049, 122).events.append(("fin", "", None))
    c.send(0.052, True, ACK, 122, 2050)
    return c


def _connect_timeout(cid: int, t: int) -> Conn:
    c = Conn(
        cid,
        "10.0.0.1",
        40100 + cid,
        "10.0.0.9",
        5432,
        t,
        "connect_timeout",
        explanation="The SYN and 5 retransmissions got no answer (1, 2, 4, 8, 16 s apart: "
        "net.ipv4.tcp_syn_retries=5). Nothing came back from 10.0.0.9:5432: a firewall dropping "
        "packets, a host that is down, or a route that goes nowhere.",
        inferred={"syn_retries": 5, "syn_backoff": [1.0, 2.0, 4.0, 8.0, 16.0]},
    )
    at = 0.0
    c.client_syn(at).events.append(("syn", "", None))
    gap = 1.0
    for _ in range(5):
        at += gap
        c.client_syn(at).events.append(("syn_retransmit", f"gap {gap:.1f} s", gap))
        gap *= 2
    return c


def _refused(cid: int, t: int) -> Conn:
    c = Conn(
        cid,
        "10.0.0.1",
        40200 + cid,
        "10.0.0.2",
        8080,
        t,
        "refused",
        reset_by="server",
        explanation="Nothing listened on 10.0.0.2:8080: the SYN was answered by RST.",
    )
    c.client_syn(0).events.append(("syn", "", None))
    c.send(0.0002, False, RST | ACK, 0, 1, window=0).events.append(("rst", "answers the SYN", None))
    return c


def _retransmit_timeout(cid: int, t: int) -> Conn:
    c = Conn(
        cid,
        "10.0.0.1",
        40300 + cid,
        "10.0.0.3",
        443,
        t,
        "retransmit_timeout",
        reset_by="client",
        explanation="The client's data was retransmitted 6 times with the timeout doubling "
        "(0.2 s to 6.4 s) and never acknowledged; the client gave up and reset the connection. "
        "Check the path to 10.0.0.3 (firewall state, MTU black hole) and net.ipv4.tcp_retries2.",
        inferred={"rto": {"initial": 0.2, "series": [0.2, 0.4, 0.8, 1.6, 3.2, 6.4]}},
    )
    c.handshake()
    c.send(0.003, True, ACK | PSH, 1, 1, 1000)
    at, gap = 0.003, 0.2
    for _ in range(6):
        at += gap
        c.send(at, True, ACK | PSH, 1, 1, 1000).events.append(
            ("retransmit", f"RTO {gap:.1f} s", gap)
        )
        gap *= 2
    c.send(at + gap, True, RST | ACK, 1001, 1).events.append(("rst", "", None))
    return c


def _keepalive_timeout(cid: int, t: int) -> Conn:
    c = Conn(
        cid,
        "2001:db8::1",
        50000 + cid,
        "2001:db8::2",
        22,
        t,
        "keepalive_timeout",
        reset_by="client",
        explanation="The connection was idle; the client's 3 keepalive probes (5 s idle, then every 3 s) "
        "went unanswered and it aborted with RST. The peer or a middlebox is gone.",
        inferred={"keepalive": {"idle": 5.0, "interval": 3.0, "count": 3, "by": "client"}},
    )
    c.handshake()
    c.send(0.010, True, ACK | PSH, 1, 1, 40)
    c.send(0.011, False, ACK, 1, 41)
    at = 5.011
    for i in range(3):
        c.send(at, True, ACK, 40, 1).events.append(("keepalive", f"probe {i + 1}", None))
        at += 3.0
    c.send(at, True, RST | ACK, 41, 1).events.append(("rst", "", None))
    return c


def _persist(cid: int, t: int) -> Conn:
    c = Conn(
        cid,
        "10.0.0.1",
        40400 + cid,
        "10.0.0.4",
        9000,
        t,
        "persist_timeout",
        reset_by="client",
        explanation="The server advertised a zero window and never reopened it; the client's window "
        "probes backed off and it aborted.",
        inferred={"persist": {"probes": 4}},
    )
    c.handshake()
    seq = 1
    for i in range(6):
        c.send(0.003 + i * 0.0001, True, ACK, seq, 1, 1448)
        seq += 1448
    c.send(0.005, False, ACK, seq, 1, window=0).events.append(("zero_window", "", None))
    at, gap = 0.005, 0.2
    for _ in range(4):
        at += gap
        c.send(at, True, ACK, seq - 1, 1).events.append(("window_probe", f"gap {gap:.1f} s", gap))
        c.send(at + 0.0005, False, ACK, seq, 1, window=0)
        gap *= 2
    c.send(at + gap, True, RST | ACK, seq, 1).events.append(("rst", "", None))
    return c


def _midstream_open(cid: int, t: int) -> Conn:
    c = Conn(
        cid,
        "10.0.0.7",
        55000,
        "10.0.0.8",
        6379,
        t,
        "open",
        client_guessed=True,
        explanation="Still open at the end of the capture (its start was not captured).",
    )
    for i in range(5):
        c.send(i * 0.5, True, ACK | PSH, 1 + 30 * i, 1 + 10 * i, 30)
        c.send(i * 0.5 + 0.0003, False, ACK | PSH, 1 + 10 * i, 31 + 30 * i, 10)
    return c


def scenario_connections(extra_closed: int = 3) -> list[Conn]:
    conns = [
        _closed(0, 40000, T0),
        _connect_timeout(1, T0 + int(0.2 * S)),
        _refused(2, T0 + int(0.5 * S)),
        _retransmit_timeout(3, T0 + int(1.0 * S)),
        _keepalive_timeout(4, T0 + int(1.5 * S)),
        _persist(5, T0 + int(2.0 * S)),
        _midstream_open(6, T0 + int(2.5 * S)),
    ]
    for i in range(extra_closed):
        cid = len(conns)
        conns.append(_closed(cid, 41000 + i, T0 + int((3 + 0.3 * i) * S)))
    conns.append(
        _closed(len(conns), 42000, T0 + int(4 * S), client="2001:db8::10", server="2001:db8::20")
    )
    return conns


def build(
    conns: list[Conn], findings: list[Finding] | None = None, path: str = "scenario.pcapng"
) -> Analysis:
    """Interleave the connections' packets by time into one Analysis."""
    flat = [(p.t_ns, c.cid, i, c, p) for c in conns for i, p in enumerate(c.pkts)]
    flat.sort(key=lambda x: (x[0], x[1], x[2]))
    seg_rows, ev_rows = [], []
    frames: dict[int, list[int]] = {c.cid: [] for c in conns}
    for frame, (t, cid, _i, c, p) in enumerate(flat, start=1):
        src, dst = (c.client, c.server) if p.from_client else (c.server, c.client)
        sport, dport = (c.cport, c.sport) if p.from_client else (c.sport, c.cport)
        shi, slo = _halves(src)
        dhi, dlo = _halves(dst)
        seg_rows.append(
            {
                "frame": frame,
                "time_ns": t,
                "ip_version": 6 if ":" in src else 4,
                "src_hi": shi,
                "src_lo": slo,
                "dst_hi": dhi,
                "dst_lo": dlo,
                "sport": sport,
                "dport": dport,
                "ip_id": frame % 65536,
                "ttl": 64,
                "seq": p.seq,
                "ack": p.ack,
                "flags": p.flags,
                "window": p.window,
                "seg_len": p.length,
                "mss": p.mss,
                "wscale": p.wscale,
                "sack_perm": bool(p.flags & SYN),
                "has_ts": False,
                "ts_val": 0,
                "ts_ecr": 0,
                "sack_blocks": 0,
                "sack_le": 0,
                "sack_re": 0,
                "conn": cid,
                "from_client": p.from_client,
            }
        )
        frames[cid].append(frame)
        for kind, note, value in p.events:
            ev_rows.append(
                {
                    "conn": cid,
                    "frame": frame,
                    "time_ns": t,
                    "side": "client" if p.from_client else "server",
                    "kind": kind,
                    "note": note,
                    "value": value,
                }
            )
    segments = segment_table(seg_rows)  # already in time order: frames stay as numbered
    events = (
        pd.DataFrame(ev_rows, columns=list(EVENT_COLUMNS))
        .sort_values(["conn", "frame"])
        .reset_index(drop=True)
    )
    conn_rows = []
    kinds_of: dict[int, Counter[str]] = {c.cid: Counter() for c in conns}
    for c in conns:
        for p in c.pkts:
            kinds_of[c.cid].update(kind for kind, _, _ in p.events)
    for c in conns:
        k = kinds_of[c.cid]
        pk = c.pkts
        conn_rows.append(
            {
                "id": c.cid,
                "client_ip": c.client,
                "client_port": c.cport,
                "server_ip": c.server,
                "server_port": c.sport,
                "client_guessed": c.client_guessed,
                "first_frame": min(frames[c.cid]),
                "last_frame": max(frames[c.cid]),
                "start_ns": min(p.t_ns for p in pk),
                "end_ns": max(p.t_ns for p in pk),
                "packets": len(pk),
                "bytes_client": sum(p.length for p in pk if p.from_client and not _is_rtx(p, pk)),
                "bytes_server": sum(p.length for p in pk if not p.from_client),
                "fate": c.fate,
                "closer": c.closer,
                "reset_by": c.reset_by,
                "syn_retransmits": k[EventKind.SYN_RETRANSMIT],
                "synack_retransmits": k[EventKind.SYNACK_RETRANSMIT],
                "retransmits": k[EventKind.RETRANSMIT],
                "keepalive_probes": k[EventKind.KEEPALIVE],
                "zero_window_probes": k[EventKind.WINDOW_PROBE],
                "resets": k[EventKind.RST],
                "inferred": c.inferred,
                "explanation": c.explanation,
                "confidence": c.confidence,
                "caveats": [],
            }
        )
    connections = pd.DataFrame(conn_rows, columns=list(CONNECTION_COLUMNS))
    n = len(segments)
    capture = CaptureInfo(
        path=path,
        format="pcapng",
        link_types=["EN10MB"],
        frames=n + 3,
        tcp_frames=n,
        first_time_ns=int(segments["time_ns"].min()) if n else None,
        last_time_ns=int(segments["time_ns"].max()) if n else None,
        skipped={"not_tcp": 2, "truncated_record": 1},
        warnings=["file ends inside the last record (truncated record counted as skipped)"],
    )
    # The report's graphs read what detection recorded (facts, per-connection detections), as
    # analyze() leaves it; the events and verdicts above stay the hand-written ones.
    detected = run_all(segments, capture_end_ns=capture.last_time_ns)
    return Analysis(
        capture=capture,
        segments=segments,
        connections=connections,
        events=events,
        findings=list(findings or []),
        facts=detected.facts,
        detections=detected.detections,
    )


def _is_rtx(p: _Pkt, pkts: list[_Pkt]) -> bool:
    return any(
        q is not p
        and q.from_client == p.from_client
        and q.seq == p.seq
        and q.length
        and q.t_ns < p.t_ns
        for q in pkts
    )


def _halves(ip: str) -> tuple[int, int]:
    value = int(ipaddress.ip_address(ip))
    return value >> 64, value & (2**64 - 1)


def scenario(extra_closed: int = 3) -> Analysis:
    return build(
        scenario_connections(extra_closed),
        findings=[
            Finding(
                "nat_timestamp",
                "SYNs from 10.0.0.1 with TCP timestamps going backwards were dropped "
                "(tw_recycle-style NAT drops)",
                (1,),
                {"ip": "10.0.0.1", "regressions": 2},
            )
        ],
    )


HOSTILE = [
    "</script><script>alert(1)</script>",
    '"><img src=x onerror=alert(2)>',
    "' onmouseover='alert(3)' x='",
    "\u2028</ScRiPt ><svg onload=alert(4)>\u2029",
    "<!--<script>alert(5)//-->",
    "&lt;b&gt;{{7*7}}${7*7}",
]


def hostile(analysis: Analysis) -> Analysis:
    """The same analysis with hostile text in every string that reaches the page."""
    h = iter(HOSTILE * 50)
    cap = dataclasses.replace(
        analysis.capture,
        path=next(h) + "/capture.pcap",
        link_types=[next(h), "EN10MB"],
        warnings=[next(h), next(h)],
        skipped={next(h): 1, **analysis.capture.skipped},
    )
    conns = analysis.connections.copy()
    conns["explanation"] = [next(h) for _ in range(len(conns))]
    inferred: list[dict[str, object]] = [
        {next(h): next(h), "nested": {"k": next(h)}, "series": [next(h), 1.0]}
        for _ in range(len(conns))
    ]
    conns["inferred"] = pd.Series(inferred, index=conns.index, dtype=object)
    events = analysis.events.copy()
    events["note"] = [next(h) for _ in range(len(events))]
    findings = [
        Finding(next(h), next(h), (0, 1), {"ip": next(h), next(h): [next(h)]}),
        Finding("nat_timestamp", next(h), (2,), {"detail": next(h)}),
    ]
    return dataclasses.replace(
        analysis, capture=cap, connections=conns, events=events, findings=findings
    )


@functools.cache
def large(n_conns: int, *, seed: int = 7) -> Analysis:
    """Many connections (mostly closed, some failing) with few segments each: timeline scale.

    Cached: several tests share one (they must not modify it)."""
    rng = np.random.default_rng(seed)
    conns: list[Conn] = []
    for i in range(n_conns):
        t = T0 + int(rng.uniform(0, 600) * S)
        r = rng.random()
        if r < 0.02:
            conns.append(_connect_timeout(i, t))
        elif r < 0.04:
            conns.append(_refused(i, t))
        elif r < 0.05:
            conns.append(_retransmit_timeout(i, t))
        else:
            conns.append(
                _closed(
                    i,
                    10000 + i % 50000,
                    t,
                    client=f"10.{1 + i // 60000}.{(i // 250) % 250}.{i % 250 + 1}",
                )
            )
    return build(conns, path="large-synthetic.pcap")
