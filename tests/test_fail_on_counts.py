"""``--fail-on`` and the scan's counts: a prober's connection fails nothing, and a stream
captured again after an address translation is one connection (real-kernel samples)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pcapline.cli import run

SAMPLES = Path(__file__).resolve().parents[1] / "sample_captures"
#: 5 half-open health checks (SYN, SYN+ACK, the client kernel's RST) and one real connection.
PROBED = SAMPLES / "half-open-probes-at-server.pcap"
#: 3 connections, each captured before and after the capture host's SNAT: 6 streams.
NAT_TWICE = SAMPLES / "nat-gateway-any-copies.pcap"
NOT_COUNTED = (
    "5 connection(s) of a matching fate were a scanner's or health check's probes: not counted"
)


@pytest.mark.parametrize(
    "fail_on,status,said",
    [
        ("failures", 0, f"pcapline: --fail-on: {NOT_COUNTED}"),
        ("reset", 0, f"pcapline: --fail-on: {NOT_COUNTED}"),
        (
            "reset,closed",
            1,
            f"pcapline: --fail-on matched 1 connection(s): 1 closed ({NOT_COUNTED})",
        ),
        ("closed", 1, "pcapline: --fail-on matched 1 connection(s): 1 closed"),
    ],
)
def test_analyze_fail_on_leaves_probes_out(
    fail_on: str, status: int, said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.json"
    assert (
        run(["analyze", str(PROBED), "--format", "json", "-o", str(out), "--fail-on", fail_on])
        == status
    )
    assert capsys.readouterr().err.splitlines() == [said]
    fates = [c["fate"] for c in json.loads(out.read_text())["connections"]]
    assert sorted(fates) == ["closed"] + ["reset"] * 5  # the document still lists every fate


def test_analyze_fail_on_counts_a_nat_copy_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.json"
    assert run(["analyze", str(NAT_TWICE), "-o", str(out), "--fail-on", "closed,syn_retry"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == ["pcapline: --fail-on matched 3 connection(s): 3 closed, 3 syn_retry"]


def test_scan_counts_each_connection_once_and_probes_apart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "scan.json"
    argv = ["scan", str(PROBED), str(NAT_TWICE), "--workers", "1", "--format", "json"]
    assert run([*argv, "-o", str(out), "--fail-on", "failures"]) == 0
    assert capsys.readouterr().err == ""
    rows = {Path(c["path"]).name: c for c in json.loads(out.read_text())["captures"]}
    probed, nat = rows[PROBED.name], rows[NAT_TWICE.name]
    assert (probed["fates"], probed["probes"]) == ({"closed": 1, "reset": 5}, {"reset": 5})
    assert (nat["connections"], nat["nat_copies"]) == (6, 3)
    assert (nat["fates"], nat["probes"]) == ({"closed": 3}, {})
    assert nat["slow"] == {"syn_retry": 3, "slow_connect": 3}
    assert nat["slow_connections"] == 3
    assert run([*argv, "-o", str(out), "--fail-on", "reset,closed"]) == 1
    assert capsys.readouterr().err == "pcapline: --fail-on matched 4 closed\n"


def test_scan_text_says_which_fates_were_probes(tmp_path: Path) -> None:
    out = tmp_path / "scan.txt"
    assert run(["scan", str(PROBED), "--workers", "1", "-o", str(out)]) == 0
    assert "1 closed, 5 reset (5 probes)" in " ".join(out.read_text().split())
