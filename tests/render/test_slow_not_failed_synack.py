"""The "slow, not failed" listing of a synack_retry connection gives what was slow: the
server's wait for the client's ACK (``delays.synack_wait``), not the client's connect time."""

from __future__ import annotations

from pathlib import Path

import pcapline
from pcapline.render.terminal import slow_not_failed_lines

SAMPLES = Path(__file__).resolve().parents[2] / "sample_captures"


def test_synack_retry_lists_the_servers_wait() -> None:
    """slow-answers-behind-an-upload-at-client: connection 1's client connected after 2.28 s
    (two SYN retries); the server resent its SYN+ACK and waited 2.04 s for the ACK. The
    listing read "synack_retry (connect time): connection(s) 1 (2.28 s)"."""
    analysis = pcapline.analyze(SAMPLES / "slow-answers-behind-an-upload-at-client.pcap")
    lines = [line.plain for line in slow_not_failed_lines(analysis)]
    assert "  syn_retry (connect time): connection(s) 1 (2.28 s)" in lines
    assert (
        "  synack_retry (the server's wait for the client's ACK): connection(s) 1 (2.04 s)" in lines
    )
