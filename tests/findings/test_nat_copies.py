"""nat_copies: a connection captured on both sides of a NAT is one connection to the findings.

The real-kernel sample (a masquerading router captured on ``any``) proves the finding and the
counts; crafted conversations prove the guards (a forwarded copy has a lower TTL; a tool that
sends every SYN with one ISN makes no copies).
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from builders.conversation import CLIENT, SERVER, Conversation, pcap_bytes

import pcapline
from pcapline import engine
from pcapline.findings import nat_copies

SAMPLE = Path(__file__).resolve().parents[2] / "sample_captures" / "nat-gateway-any-copies.pcap"


def _by_kind(analysis: pcapline.Analysis) -> dict[str, pcapline.Finding]:
    return {f.kind: f for f in analysis.findings}


@pytest.mark.parametrize("partitions", [None, 3])
def test_a_nat_gateways_any_capture_counts_each_connection_once(partitions: int | None) -> None:
    """Three connections, six streams. Before, syn_retry_burst read "6 of 6": it fires at
    three, so a NAT host's capture met it with half the connections it needs. (Every engine
    path gives the same JSON: tests/test_engine.py sweeps the samples.)"""
    analysis = engine.analyse(str(SAMPLE), partitions=partitions).analysis
    found = _by_kind(analysis)
    assert list(found) == ["nat_copies", "syn_retry_burst"]
    copies = found["nat_copies"].details
    assert copies["copies"] == [[0, 1], [2, 3], [4, 5]]
    assert copies["translations"] == [{"change": "client 10.80.1.1 -> 10.80.2.254", "copies": 3}]
    assert copies["connection_count"] == 6
    burst = found["syn_retry_burst"]
    assert burst.connections == (0, 2, 4)
    assert burst.summary.startswith("3 of 3 connection(s) to 10.80.2.1:8080")


def _copies(*legs: tuple[str, int, int]) -> bytes:
    """One connection captured once per leg (client address, TTL, client ISN), 20 us apart,
    the port kept."""
    copies = []
    for k, (client, ttl, isn) in enumerate(legs):
        offset = 20e-6 * k
        c = Conversation(
            conn=len(copies), client=(client, 40000), server=("10.9.9.9", 80), client_isn=isn
        )
        c.syn(0.0 + offset, ttl=ttl, timestamps=(500, 0))
        c.synack(0.001 + offset, ttl=ttl, timestamps=(900, 500))
        c.ack(CLIENT, 0.002 + offset, ttl=ttl, timestamps=(501, 900))
        c.fin(CLIENT, 0.003 + offset, ttl=ttl, timestamps=(502, 900))
        c.fin(SERVER, 0.004 + offset, ttl=ttl, timestamps=(901, 502))
        c.ack(CLIENT, 0.005 + offset, ttl=ttl, timestamps=(503, 901))
        copies.append(c)
    return pcap_bytes(*copies)


@pytest.mark.parametrize(
    ("later_ttl", "same_isn", "paired"),
    [
        (63, True, True),  # forwarded: one hop less
        (64, True, False),  # same TTL: one ISN sent twice by a tool, not a NAT's copy
        (63, False, False),  # another ISN: another connection
    ],
)
def test_copies_need_the_same_isn_and_a_forwarded_ttl(
    later_ttl: int, same_isn: bool, paired: bool
) -> None:
    legs = [("10.0.0.1", 64, 1000), ("192.0.2.1", later_ttl, 1000 if same_isn else 7777)]
    analysis = pcapline.analyze(io.BytesIO(_copies(*legs)))
    assert [f.kind for f in analysis.findings] == (["nat_copies"] if paired else [])


def test_every_later_copy_names_the_connections_first_one() -> None:
    """Translated twice (two hops of NAT on the capture host): both later streams are copies
    of the first, not the third a copy of the second."""
    legs = [("10.0.0.1", 64, 1000), ("172.16.0.1", 63, 1000), ("192.0.2.1", 62, 1000)]
    (found,) = pcapline.analyze(io.BytesIO(_copies(*legs))).findings
    assert found.kind == nat_copies.KIND
    assert found.details["copies"] == [[0, 1], [0, 2]]
    assert found.details["translations"] == [
        {"change": "client 10.0.0.1 -> 172.16.0.1", "copies": 1},
        {"change": "client 10.0.0.1 -> 192.0.2.1", "copies": 1},
    ]
