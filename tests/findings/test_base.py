import numpy as np
import pandas as pd

from pcapline.findings.base import (
    MAX_LISTED_CONNECTIONS,
    Burst,
    densest_window,
    make_finding,
    server_bursts,
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


def test_server_bursts_keep_the_servers_with_enough_connections_in_one_window() -> None:
    s = 10**9
    selected = pd.DataFrame(
        {
            "id": [4, 1, 2, 3, 5],
            "server_ip": ["10.0.0.2", "10.0.0.1", "10.0.0.1", "10.0.0.1", "2001:db8::1"],
            "server_port": [80, 443, 443, 443, 80],
            "seen_ns": [0, 0, 5 * s, 100 * s, 0],
        }
    )
    (hit,) = server_bursts(selected, "seen_ns", 10, at_least=2)
    assert (hit.server, hit.burst) == ("10.0.0.1:443", Burst(2, 0))
    assert hit.group["id"].tolist() == [1, 2, 3]
    finding = hit.finding("k", "s", "why", of_connections=7)
    assert list(finding.details) == [
        "server",
        "of_connections",
        "burst",
        "connection_count",
        "explanation",
    ]
    assert finding.details["burst"] == {"connections": 2, "window_s": 10, "start": 0.0}
    assert [h.server for h in server_bursts(selected, "seen_ns", 10, at_least=1)] == [
        "10.0.0.1:443",
        "10.0.0.2:80",
        "[2001:db8::1]:80",
    ]
