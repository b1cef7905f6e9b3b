"""The slow findings (issue 10) on real-kernel samples built to show them, and quiet elsewhere.

syn_retry_burst: slow-accept-queue-burst (a full accept queue drops the SYNs of four of six
clients; nstat ListenOverflows +8 at generation) and slow-syn-retries-then-success (nft drops
the first SYNs of three of five). rto_storm: slow-rto-storm-six-streams (a 1 s outage under
six streams). response_jump: slow-response-jump (answers 0.3 s late from the 11th request).
The lossy capture (3 % random loss, 40 connections) and the single-connection samples show
none: random loss and one slow connection are not a cross-connection story.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import pcapline
from pcapline.findings import response_jump
from tests.contract_pcapline1 import check_document

SAMPLES = Path(__file__).resolve().parents[2] / "sample_captures"
SLOW_KINDS = {"syn_retry_burst", "rto_storm", "response_jump"}


def _slow_findings(name: str) -> list[Any]:
    analysis = pcapline.analyze(SAMPLES / name)
    check_document(json.loads(analysis.to_json()))
    return [f for f in analysis.findings if f.kind in SLOW_KINDS]


def test_accept_queue_burst_is_a_syn_retry_burst() -> None:
    (found,) = _slow_findings("slow-accept-queue-burst.pcap")
    assert found.kind == "syn_retry_burst"
    assert found.connections == (2, 3, 4, 5)  # the four clients whose SYNs met a full queue
    d = found.details
    assert d["server"] == "10.29.0.2:8080"
    assert (d["of_connections"], d["share"], d["syn_retries_max"], d["unanswered"]) == (
        6,
        0.667,
        2,
        0,
    )
    # first dropped SYN -> last handshake: 0.15 s of staggered starts + ~3 s (1 s, then 2 s)
    assert d["window"]["end"] - d["window"]["start"] == pytest.approx(3.19, abs=0.15)
    assert d["connect_max_s"] == pytest.approx(3.0, abs=0.15)
    assert "TcpExtListenDrops" in d["explanation"] and "nf_conntrack" in d["explanation"]


def test_dropped_first_syns_are_a_syn_retry_burst() -> None:
    (found,) = _slow_findings("slow-syn-retries-then-success.pcap")
    assert found.kind == "syn_retry_burst"
    assert found.connections == (0, 1, 4)
    assert found.details["of_connections"] == 5


def test_an_outage_under_six_streams_is_an_rto_storm() -> None:
    (found,) = _slow_findings("slow-rto-storm-six-streams.pcap")
    assert found.kind == "rto_storm"
    assert found.connections == (0, 1, 2, 3, 4, 5)
    d = found.details
    assert (d["server"], d["of_connections"], d["share"]) == ("10.49.0.2", 6, 1.0)
    # the 1 s blackout, and each stream's ladder (0.2, 0.6, 1.4 s) ending just after it
    assert d["window"]["end"] - d["window"]["start"] == pytest.approx(1.45, abs=0.15)


def test_a_stall_past_its_last_frame_still_counts_as_open() -> None:
    """An unrecovered RTO episode lasts until the sender's give-up, past the connection's last
    captured frame: such a connection is open at the storm's peak, so the share stays <= 1."""
    from pcapline.delays import DelaysTable
    from pcapline.findings import rto_storm
    from pcapline.findings.base import FindingInput
    from pcapline.findings.handshakes import summarize

    analysis = pcapline.analyze(SAMPLES / "slow-rto-storm-six-streams.pcap")
    (storm,) = [f for f in analysis.findings if f.kind == "rto_storm"]
    lost = analysis.delays
    assert isinstance(lost, DelaysTable)
    conns = analysis.connections.copy()
    at_ns = round(storm.details["at"] * 1e9)
    cut = conns["id"].isin([0, 1, 2])
    conns.loc[cut, "end_ns"] = at_ns - 10**6  # their last frames 1 ms before the peak
    data = FindingInput(
        analysis.segments,
        conns,
        analysis.events,
        summarize(analysis.segments, conns),
        analysis.detections,
        lost,
    )
    (found,) = rto_storm.find(data)
    assert (found.details["of_connections"], found.details["share"]) == (6, 1.0)


def test_a_server_that_slowed_down_is_a_response_jump() -> None:
    analysis = pcapline.analyze(SAMPLES / "slow-response-jump.pcap")
    (found,) = [f for f in analysis.findings if f.kind in SLOW_KINDS]
    assert found.kind == "response_jump"
    d = found.details
    assert (d["turns_before"], d["turns_after"]) == (10, 10)
    assert d["median_before_s"] < 0.01
    assert d["median_after_s"] == pytest.approx(0.3, abs=0.03)
    turns = analysis.delays.turns  # type: ignore[attr-defined]
    order = np.argsort(turns.answer_ns, kind="stable")
    assert d["at"] == pytest.approx(turns.answer_ns[order][10] / 1e9)  # the 11th answer


@pytest.mark.parametrize(
    "name",
    [
        "lossy-40-connections-3pct-drop.pcap",
        "slow-rto-episodes-recover.pcap",
        "slow-response-turns.pcap",
        "zero-window-recovers.pcap",
        "nat-masquerade-3-hosts.pcap",
    ],
)
def test_no_slow_finding_where_nothing_happened_across_connections(name: str) -> None:
    assert _slow_findings(name) == []


def test_expected_files_name_the_slow_findings() -> None:
    """Every sample whose expected file lists findings gets exactly those slow kinds."""
    checked = 0
    for expected in sorted(SAMPLES.glob("slow-*.expected.json")):
        doc = json.loads(expected.read_text())
        if doc.get("findings") is None:
            continue
        got = sorted(f.kind for f in _slow_findings(doc["capture"]))
        assert got == sorted(k for k in doc["findings"] if k in SLOW_KINDS), expected.name
        checked += 1
    assert checked >= 2


def test_no_jump_in_a_wide_but_steady_spread() -> None:
    rng = np.random.default_rng(7)
    steady = rng.lognormal(mean=-2.0, sigma=1.0, size=400)  # median ~0.14 s, long tail
    assert response_jump._jump(steady) is None
    stepped = np.concatenate([steady[:200] / 10, steady[200:] * 5])
    jump = response_jump._jump(stepped)
    assert jump is not None and abs(jump.split - 200) <= 3


@pytest.mark.parametrize(
    ("name", "queue"),
    [("slow-accept-queue-first-data.pcap", True), ("slow-rto-storm-six-streams.pcap", False)],
)
def test_an_rto_storm_on_first_data_names_the_accept_queue(name: str, queue: bool) -> None:
    """A listener whose accept queue is full drops the handshake's last ACK and the data after
    it: the clients' first data stalls on RTOs together, nothing lost on the path. That
    storm read "an outage on the path"; a real outage (the six streams' blackout, mid-transfer)
    still does."""
    (storm,) = [f for f in _slow_findings(name) if f.kind == "rto_storm"]
    stalled = storm.details["connection_count"]
    assert storm.details["on_first_data"] == (stalled if queue else 0)
    assert ("a full accept queue on the server" in storm.summary) is queue
    assert ("accept queue is full" in storm.details["explanation"]) is queue


def test_slow_requests_of_one_kind_among_fast_ones_are_no_jump() -> None:
    # pcapplusplus http-packets: static files keep answering in 4 ms while a KPI query takes
    # 0.2-3.9 s at the end: a slow endpoint, not a server that changed. Most answers after a
    # step must clear the earlier spread by STEP_MARGIN_S.
    fast = np.full(96, 0.004)
    mixed = np.array([1.6, 0.21, 0.021, 0.011, 1.7, 0.017, 0.008, 0.009, 0.013, 0.6, 3.6, 3.9])
    assert response_jump._jump(np.concatenate([fast, mixed])) is None
    stepped = np.concatenate([fast, np.full(12, 0.5) + np.linspace(0, 0.2, 12)])
    assert response_jump._jump(stepped) is not None
