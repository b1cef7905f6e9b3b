"""port_scan: one client tries many ports of one server within seconds, most of them closed."""

from __future__ import annotations

from pathlib import Path

import pytest
from builders.refusals import refusals

import pcapline
from pcapline.findings import port_scan

SAMPLE = (
    Path(__file__).resolve().parents[2] / "sample_captures" / "port-scan-refused-at-client.pcap"
)


def test_a_real_kernels_refusals_of_a_port_sweep_are_one_scan() -> None:
    """connect() to twelve ports where nothing listens (the server kernel's RST each time),
    then one ordinary connection: one finding, the twelve refusals, not twelve outages."""
    analysis = pcapline.analyze(str(SAMPLE))
    (found,) = [f for f in analysis.findings if f.kind == "port_scan"]
    d = found.details
    assert (d["client"], d["server"]) == ("10.83.0.1", "10.83.0.2")
    assert (d["ports"], d["port_range"], d["refused"], d["unanswered"], d["connected"]) == (
        12,
        [9000, 9011],
        12,
        0,
        0,
    )
    assert found.connections == tuple(range(12))
    assert found.summary.startswith("10.83.0.1 tried 12 ports of 10.83.0.2 within ")


@pytest.mark.parametrize(
    ("ports", "clients", "gap_s", "opened", "found"),
    [
        (list(range(9000, 9010)), 1, 0.01, (), 10),  # ten closed ports: a scan
        (list(range(9000, 9012)), 1, 0.01, (3, 4), 12),  # two open ones among them: counted
        (list(range(9000, 9009)), 1, 0.01, (), 0),  # nine: fewer than MIN_PORTS
        ([9000] * 20, 1, 0.01, (), 0),  # one port refused twenty times: not a sweep
        (list(range(9000, 9020)), 20, 0.01, (), 0),  # twenty clients, a port each
        (list(range(9000, 9010)), 1, 10.0, (), 0),  # ten ports over 90 s: no 60 s stretch
    ],
)
def test_a_sweep_needs_ten_failed_ports_from_one_client_within_a_minute(
    tmp_path: Path,
    ports: list[int],
    clients: int,
    gap_s: float,
    opened: tuple[int, ...],
    found: int,
) -> None:
    path = tmp_path / "scan.pcap"
    targets = [("10.0.0.2", port) for port in ports]
    path.write_bytes(refusals(targets, clients=clients, gap_s=gap_s, opened=opened))
    scans = [f for f in pcapline.analyze(str(path)).findings if f.kind == port_scan.KIND]
    assert [f.details["ports"] for f in scans] == ([found] if found else [])
    if found:
        assert scans[0].details["connected"] == len(opened)
        assert scans[0].details["refused"] == found - len(opened)


def test_a_real_kernels_rsts_to_ack_and_maimon_probes_are_one_scan() -> None:
    """Ten ACK and two FIN + ACK probes from a raw socket (nmap -sA / -sM), the listening
    port 8080 among them, captured at the server: its kernel answered every one with a RST
    without ACK (seq = the probe's ACK number), the listener's too. Each connection is a lone
    segment and its RST, no SYN; together they are a scan, counted as probes reset (neither
    refused, which would say nothing listens, nor unanswered). They were twelve "reset by the
    server while established" verdicts and no finding."""
    analysis = pcapline.analyze(str(SAMPLE.parent / "ack-scan-at-server.pcap"))
    (found,) = [f for f in analysis.findings if f.kind == "port_scan"]
    d = found.details
    assert (d["ports"], d["refused"], d["unanswered"], d["connected"], d["probes_reset"]) == (
        12,
        0,
        0,
        0,
        12,
    )
    assert found.connections == tuple(range(12))
    assert "12 ACK or FIN + ACK probes reset, 0 refused" in found.summary
    assert "which ports a firewall lets through, not which listen" in d["explanation"]


def test_a_sweep_of_connects_counts_no_probes() -> None:
    # connect() refusals (SYN, RST + ACK) are no lone probes: the real-kernel port sweep's
    # counts stay as they were.
    analysis = pcapline.analyze(str(SAMPLE))
    (found,) = [f for f in analysis.findings if f.kind == "port_scan"]
    assert found.details["probes_reset"] == 0
    assert "probes reset" not in found.summary
