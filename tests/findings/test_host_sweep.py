"""host_sweep: one client tries one port on many hosts within a minute, most failing."""

from __future__ import annotations

from pathlib import Path

import pytest
from builders.refusals import refusals
from needs import CORPUS, HAVE_CORPUS

import pcapline
from pcapline.findings import host_sweep, port_scan

SAMPLE = (
    Path(__file__).resolve().parents[2] / "sample_captures" / "host-sweep-refused-at-client.pcap"
)


def test_a_real_kernels_refusals_of_a_host_sweep_are_one_finding() -> None:
    """connect() to port 9000 on twelve addresses where nothing listens (each answered by the
    server kernel's RST), then one ordinary connection: one finding, not twelve outages."""
    analysis = pcapline.analyze(str(SAMPLE))
    (found,) = [f for f in analysis.findings if f.kind == host_sweep.KIND]
    d = found.details
    assert (d["client"], d["port"], d["hosts"]) == ("10.86.0.1", 9000, 12)
    assert (d["refused"], d["unanswered"], d["connected"]) == (12, 0, 0)
    assert found.connections == tuple(range(12))
    assert found.summary.startswith("10.86.0.1 tried port 9000 on 12 hosts within ")
    assert not [f for f in analysis.findings if f.kind == port_scan.KIND]


@pytest.mark.corpus
@pytest.mark.skipif(not HAVE_CORPUS, reason=f"capture corpus not found at {CORPUS}")
def test_a_broken_route_is_no_sweep() -> None:
    """A browser's capture whose IPv6 route is broken: one router answers every SYN, to a
    dozen websites' addresses on port 80 within a minute, with ICMP network unreachable.
    The hosts never answered: no sweep (the corpus capture arkime/ospf.pcap)."""
    analysis = pcapline.analyze(str(CORPUS / "arkime" / "ospf.pcap"))
    causes = analysis.connections["cause"].tolist()
    assert causes.count("icmp_reject") >= 12  # the refusals are the router's, not the hosts'
    assert [f.kind for f in analysis.findings if f.kind == host_sweep.KIND] == []


@pytest.mark.parametrize(
    ("hosts", "clients", "gap_s", "opened", "found"),
    [
        (10, 1, 0.01, (), 10),  # ten hosts refusing: a sweep
        (12, 1, 0.01, (3, 4), 12),  # two that serve the port among them: counted
        (9, 1, 0.01, (), 0),  # nine: fewer than MIN_HOSTS
        (20, 20, 0.01, (), 0),  # twenty clients, a host each
        (10, 1, 10.0, (), 0),  # ten hosts over 90 s: no 60 s stretch
    ],
)
def test_a_sweep_needs_ten_failed_hosts_from_one_client_within_a_minute(
    tmp_path: Path, hosts: int, clients: int, gap_s: float, opened: tuple[int, ...], found: int
) -> None:
    path = tmp_path / "sweep.pcap"
    targets = [(f"10.0.2.{1 + k}", 9000) for k in range(hosts)]
    path.write_bytes(refusals(targets, clients=clients, gap_s=gap_s, opened=opened))
    sweeps = [f for f in pcapline.analyze(str(path)).findings if f.kind == host_sweep.KIND]
    assert [f.details["hosts"] for f in sweeps] == ([found] if found else [])
    if found:
        assert sweeps[0].details["connected"] == len(opened)
        assert sweeps[0].details["refused"] == found - len(opened)
