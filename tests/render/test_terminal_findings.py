"""The text report points a failure at the cross-connection finding that explains it, as the
HTML report's failure card does (``terminal.explaining_findings``)."""

from __future__ import annotations

from pathlib import Path

import pcapline
from pcapline.model import Finding
from pcapline.render.terminal import explained_failures, explaining_findings, render_text

SAMPLE = (
    Path(__file__).resolve().parents[2] / "sample_captures" / "nat" / "crafted-nat-tw-recycle.pcap"
)


def test_a_failure_is_pointed_at_the_finding_that_explains_it() -> None:
    """crafted-nat-tw-recycle: the 5 connect timeouts are the nat_timestamp finding's 5
    connections; the text gave only connection 12's generic SYN-timeout checks."""
    analysis = pcapline.analyze(SAMPLE)
    text = render_text(analysis)
    at = text.index("connect_timeout (connection 12 and 4 more): Connect timeout:")
    after = " ".join(text[at:].split())
    assert (
        "All 5 are in a cross-connection finding, nat_timestamp (findings, above): Connections "
        "from this source IP carry unrelated TCP timestamp clocks" in after
    )
    assert "Fix: set net.ipv4.tcp_tw_recycle=0" in after


def test_a_finding_over_mostly_healthy_connections_is_not_named() -> None:
    analysis = pcapline.analyze(SAMPLE)
    conns = analysis.connections
    fate_of = dict(zip(conns["id"].astype(int), conns["fate"].astype(str), strict=True))
    closed = [i for i, f in fate_of.items() if f == "closed"][:20]
    churn = Finding("time_wait_churn", "20 short connections", (12, 17, *closed))
    assert explaining_findings("connect_timeout", fate_of, [churn]) == []
    lines = [line.plain for line in explained_failures(conns, [churn])]
    assert len(lines) == 1 and lines[0].startswith("connect_timeout (connection 12 and 4 more)")
    three = Finding("nat_timestamp", "3 of them", (12, 17, closed[0], closed[1]))
    (named,) = explaining_findings("connect_timeout", fate_of, [churn, three])
    assert (named[0], named[2]) == (2, 2)
    lines = [line.plain for line in explained_failures(conns, [three])]
    assert (
        lines[1]
        == "  2 of them are in a cross-connection finding, nat_timestamp (findings, above): 3 of them"
    )
