import numpy as np

from pcapline.findings.base import (
    MAX_LISTED_CONNECTIONS,
    Burst,
    densest_window,
    make_finding,
)


def test_densest_window_counts_the_busiest_stretch() -> None:
    times = np.array([0, 5, 9, 10, 30, 31, 32, 33], dtype=np.int64) * 10**9
    assert densest_window(times, 10 * 10**9) == Burst(4, 0)  # 0, 5, 9, 10 (both ends inclusive)
    assert densest_window(times, 3 * 10**9) == Burst(4, 30 * 10**9)
    assert densest_window(np.array([], dtype=np.int64), 10) == Burst(0, 0)


def test_make_finding_caps_the_listed_connections() -> None:
    ids = list(range(MAX_LISTED_CONNECTIONS + 5, 0, -1))
    finding = make_finding("syn_flood", "s", ids, "why", server="x")
    assert list(finding.connections) == list(range(1, MAX_LISTED_CONNECTIONS + 1))
    assert finding.details == {
        "server": "x",
        "connection_count": MAX_LISTED_CONNECTIONS + 5,
        "connections_truncated": True,
        "explanation": "why",
    }
    assert "connections_truncated" not in make_finding("k", "s", [3, 1], "why").details
