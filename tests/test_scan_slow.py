"""``pcapline scan`` and the slow tags (issue 10): rows count the slow connections, and
``--fail-on`` takes the tags next to fates and finding kinds."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from pcapline.cli import run
from pcapline.errors import UsageError
from pcapline.scan import fail_on_names, matched, render, scan

SAMPLES = Path(__file__).resolve().parents[1] / "sample_captures"
BURST = str(SAMPLES / "slow-accept-queue-burst.pcap")
FINE = str(SAMPLES / "closed-client-first.pcap")
FAILING = str(SAMPLES / "connect-timeout-synretries2-doubling.pcap")


def test_rows_count_slow_connections_and_tags() -> None:
    burst, fine, failing = (scan([p], workers=1)[0] for p in (BURST, FINE, FAILING))
    assert burst.slow_connections == 4 and burst.slow == {"syn_retry": 4, "slow_connect": 4}
    assert fine.slow_connections == 0 and fine.slow == {}
    # a connect timeout retried its SYNs too, but it failed: tagged, not "slow, not failed"
    assert failing.slow == {"syn_retry": 1} and failing.slow_connections == 0
    doc = json.loads(render([burst, fine], "json"))
    assert [(c["slow_connections"], c["slow"]) for c in doc["captures"]] == [
        (4, {"syn_retry": 4, "slow_connect": 4}),
        (0, {}),
    ]
    rows = list(csv.DictReader(io.StringIO(render([burst], "csv"))))
    assert (rows[0]["slow_connections"], rows[0]["slow_tags"]) == (
        "4",
        "syn_retry=4;slow_connect=4",
    )
    assert '<td class="n">4</td>' in render([burst], "html")


def test_fail_on_takes_slow_tags(capsys: pytest.CaptureFixture[str]) -> None:
    assert fail_on_names(["syn_retry,refused", "rto_storm"]) == {
        "syn_retry",
        "refused",
        "rto_storm",
    }
    with pytest.raises(UsageError, match="slow tag"):
        fail_on_names(["sloow"])
    summaries = scan([BURST, FINE], workers=1)
    assert matched(summaries, frozenset({"syn_retry", "zero_window_stall"})) == {"syn_retry": 4}
    assert run(["scan", BURST, FINE, "--fail-on", "slow_connect"]) == 1
    assert "--fail-on matched 4 slow_connect" in capsys.readouterr().err
    assert run(["scan", BURST, FINE, "--fail-on", "zero_window_stall,rto_stall"]) == 0
    assert run(["scan", FINE, "--fail-on", "nope"]) == 2


def test_rows_count_transfers_by_what_paced_them() -> None:
    """A scan row counts the capture's bulk transfers by pace (the real-kernel transfer
    samples, each built slow for one reason), ``not_known`` where the capture cannot tell,
    and none for a capture without one."""
    paths = [
        SAMPLES / "slow-transfer-loss.pcap",
        SAMPLES / "slow-transfer-bottleneck-at-client.pcap",
        SAMPLES / "slow-path-50ms-rtt-data-loss.pcap",  # far from the sender: window unknown
        Path(FINE),
    ]
    rows = [scan([str(p)], workers=1)[0] for p in paths]
    assert [r.transfers for r in rows] == [
        {"loss": 1},
        {"bottleneck": 1},
        {"not_known": 1},
        {},
    ]
    doc = json.loads(render(rows[:1], "json"))
    assert doc["captures"][0]["transfers"] == {"loss": 1}
