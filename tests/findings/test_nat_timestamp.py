"""nat_timestamp on the crafted tw_recycle captures (truth: tools/natcraft.py's simulation) and
on every real-kernel sample capture (must stay silent), plus the clock and cache rules."""

from __future__ import annotations

import json
from pathlib import Path

import analysed
import numpy as np
import pandas as pd
import pytest
from builders.wire import SYN, T0, S, Wire

import pcapline
from pcapline.findings import find_all
from pcapline.findings.handshakes import summarize
from pcapline.findings.nat_timestamp import cluster_clocks, replay_cache

SAMPLES = Path(__file__).resolve().parents[2] / "sample_captures"
NAT = SAMPLES / "nat"
EXPECTED = sorted(NAT.glob("*.expected.json"))
OTHER_SAMPLES = sorted(
    p
    for p in SAMPLES.rglob("*")
    if p.is_file()
    and NAT not in p.parents
    and p.name.endswith((".pcap", ".pcapng", ".pcap.gz", ".pcapng.gz"))
)


@pytest.mark.parametrize(
    "expected_path", EXPECTED, ids=lambda p: p.name.removesuffix(".expected.json")
)
def test_crafted_nat_captures_give_exactly_the_expected_findings(expected_path: Path) -> None:
    expected = json.loads(expected_path.read_text())
    capture = expected_path.with_name(expected_path.name.replace(".expected.json", ".pcap"))
    analysis = pcapline.analyze(capture)
    got = [
        {
            "kind": f.kind,
            "ip": f.details.get("ip"),
            "server": f.details.get("server"),
            "connections": list(f.connections),
        }
        for f in analysis.findings
        if f.kind == "nat_timestamp"
    ]
    assert got == expected["findings"]
    assert len(analysis.connections) == len(expected["connections"])


def test_positive_capture_details() -> None:
    analysis = pcapline.analyze(NAT / "crafted-nat-tw-recycle.pcap")
    (finding,) = [f for f in analysis.findings if f.kind == "nat_timestamp"]
    expected = json.loads((NAT / "crafted-nat-tw-recycle.expected.json").read_text())
    hosts: dict[str, set[int]] = {}
    for c in expected["connections"]:
        if c["client_ip"] == "203.0.113.50":
            hosts.setdefault(c["host"], set()).add(c["id"])
    clocks = {frozenset(c["connections"]) for c in finding.details["clocks"]}
    assert clocks == {frozenset(ids) for ids in hosts.values()}  # one clock per NATed host
    assert all(c["rate_hz"] == 1000 and c["confirmed"] for c in finding.details["clocks"])
    assert finding.details["dropped_syns"] == sum(
        c["paws_dropped_syns"] for c in expected["connections"]
    )
    answered = {
        c["id"]
        for c in expected["connections"]
        if c["client_ip"] == "203.0.113.50" and c["answered"]
    }
    assert set(finding.details["answered"]) == answered
    assert "tcp_tw_recycle" in finding.details["explanation"]
    assert "PAWSPassiveRejected" in finding.details["explanation"]
    dropped = analysis.connections.set_index("id").loc[list(finding.connections), "fate"]
    assert set(dropped) == {"connect_timeout"}


@pytest.mark.skipif(not OTHER_SAMPLES, reason="no real-kernel sample captures yet")
@pytest.mark.parametrize("capture", OTHER_SAMPLES, ids=lambda p: str(p.relative_to(SAMPLES)))
def test_no_false_findings_on_real_kernel_samples(capture: Path) -> None:
    """No nat_timestamp on any real-kernel capture; the other finders' thresholds are conservative:
    nothing at all except, possibly, listen_overflow on a listen-overflow capture, and the
    findings a scenario was built to show (its expected file's ``findings``)."""
    analysis = analysed.whole(capture)
    allowed = {"listen_overflow"} if capture.name.startswith("listen-overflow") else set()
    expected = capture.parent / f"{capture.name.split('.pcap', 1)[0]}.expected.json"
    if expected.exists():  # a scenario built to show a finding names it (the slow samples)
        allowed |= set(json.loads(expected.read_text()).get("findings") or []) - {"nat_timestamp"}
    assert [f.summary for f in analysis.findings if f.kind not in allowed] == []


def _clock_samples(points: list[tuple[int, float, int]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "conn": [c for c, _, _ in points],
            "frame": range(1, len(points) + 1),
            "time_ns": [T0 + int(t * S) for _, t, _ in points],
            "ts_val": np.array([v & 0xFFFFFFFF for _, _, v in points], dtype=np.uint32),
        }
    )


def test_clocks_wrap_and_mixed_rates() -> None:
    wrap = [(0, t, (1 << 32) - 3000 + int(t * 1000)) for t in (0.0, 1.0, 3.0, 7.0)]  # wraps at 3 s
    old_kernel = [(1, t, 777_000 + int(t * 250)) for t in (0.5, 1.5, 3.5, 7.5, 15.5)]  # HZ=250
    modern = [(2, 2.0, 2_000_000_000), (2, 2.01, 2_000_000_010), (3, 9.0, 2_000_007_000)]
    clocks = cluster_clocks(_clock_samples(wrap + old_kernel + modern))
    by_conns = {c.connections: (c.rate_hz, c.confirmed) for c in clocks}
    assert by_conns == {(0,): (1000, True), (1,): (250, True), (2, 3): (1000, True)}


def test_lone_short_connection_is_an_unconfirmed_clock() -> None:
    clocks = cluster_clocks(_clock_samples([(0, 0.0, 0), (0, 0.5, 2), (1, 4.0, 0), (1, 4.6, 2)]))
    assert [c.confirmed for c in clocks] == [False, False]


def test_cache_replay_follows_the_kernel_rule() -> None:
    w = Wire()
    w.conn(0, "192.0.2.9", 40000)
    w.handshake_close(0, 0.0, ts=10_000)  # server closes: cache = 10_006 at t=0.006
    w.conn(1, "192.0.2.9", 40001)
    w.seg(1, 1.0, True, SYN, ts=10_005)  # behind by 1: inside TCP_PAWS_WINDOW, passes
    w.conn(2, "192.0.2.9", 40002)
    w.seg(2, 2.0, True, SYN, ts=10_004)  # behind by 2: rejected
    w.conn(3, "192.0.2.9", 40003)
    w.seg(3, 61.0, True, SYN, ts=500)  # entry older than 60 s: passes
    w.conn(4, "192.0.2.9", 40004)
    w.seg(4, 3.0, True, SYN)  # no timestamp while the entry is fresh: rejected
    hs = summarize(*w.tables()[:2])
    syns = hs.syns.sort_values(["time_ns", "frame"])
    replay = replay_cache(syns, hs.conns)
    assert dict(zip(syns["conn"], replay.regressed, strict=False)) == {
        0: False,
        1: False,
        2: True,
        4: True,
        3: False,
    }


def test_client_closing_first_does_not_feed_the_cache() -> None:
    w = Wire()
    w.conn(0, "192.0.2.9", 40000)
    w.handshake_close(0, 0.0, ts=10_000, server_closes=False)
    w.conn(1, "192.0.2.9", 40001)
    w.seg(1, 2.0, True, SYN, ts=5)
    hs = summarize(*w.tables()[:2])
    assert not replay_cache(hs.syns.sort_values("time_ns"), hs.conns).regressed.any()


def _nat_wire(*, behind_answered: bool) -> Wire:
    """Host A (clock 2e9) keeps the cache fresh; host B (clock 7e8) sends SYNs behind it."""
    w = Wire()
    cid = 0
    for k in range(12):
        w.conn(cid, "198.51.100.50", 41000 + cid)
        w.handshake_close(cid, 5.0 * k, ts=2_000_000_000 + 5000 * k)
        cid += 1
    for start in (12.0, 31.0):
        w.conn(cid, "198.51.100.50", 41000 + cid)
        if behind_answered:
            w.handshake_close(cid, start, ts=700_000_000 + int(start * 1000))
        else:
            for offset in (0, 1, 3, 7):
                w.seg(cid, start + offset, True, SYN, ts=700_000_000 + int((start + offset) * 1000))
        cid += 1
    return w


def test_find_all_on_tables() -> None:
    findings = find_all(*_nat_wire(behind_answered=False).tables())
    (finding,) = findings
    assert finding.kind == "nat_timestamp" and finding.details["ip"] == "198.51.100.50"
    assert list(finding.connections) == [12, 13]
    assert finding.details["dropped_syns"] == 8
    assert find_all(*_nat_wire(behind_answered=True).tables()) == []


def test_the_rule_must_explain_the_unanswered_syns_too() -> None:
    """Per-host PAWS drops exactly the SYNs behind the cache. A firewall dropping by port drops
    SYNs ahead of it as readily (about half of any SYNs regress when each connection has its own
    timestamp offset, as on Linux 6.18): a real-kernel capture of that (one host, no NAT, 4 of
    10 ports' SYNs dropped) made the finding fire. Rows: SYNs in time order."""
    from pcapline.findings.nat_timestamp import _explained_drops

    # tw_recycle: the regressed SYNs, and only they, go unanswered
    regressed = np.array([0, 1, 1, 0, 1, 1, 1, 0, 0, 0], bool)
    replied = ~regressed
    assert _explained_drops(regressed, replied).tolist() == regressed.tolist()
    # the firewall: 4 connections x 3 SYNs unanswered, 3 of those SYNs ahead of the cache
    unanswered = np.array([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0], bool)
    regressed = np.array([0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0], bool)
    assert _explained_drops(regressed, ~unanswered) is None
    # one unanswered SYN of ten ahead of the cache: ordinary loss beside the rule's drops
    regressed = np.array([1] * 9 + [0] + [0] * 5, bool)
    replied = np.array([0] * 10 + [1] * 5, bool)
    assert int(_explained_drops(regressed, replied).sum()) == 9
