from builders.wire import Wire

from pcapline.findings import find_all
from pcapline.findings.time_wait_churn import MIN_PEAK_PER_MINUTE, churn_summary


def _churn(count: int, every_s: float, ports: int) -> Wire:
    w = Wire()
    for cid in range(count):
        w.conn(cid, "192.0.2.7", 32768 + cid % ports, server_port=6379)
        w.handshake_close(cid, cid * every_s, server_closes=False)
    return w


def test_high_rate_of_short_connections() -> None:
    (finding,) = find_all(*_churn(600, 0.05, ports=28232).tables())
    assert finding.kind == "time_wait_churn"
    assert finding.details["client_ip"] == "192.0.2.7"
    assert finding.details["server"] == "10.0.0.1:6379"
    assert finding.details["peak_per_60s"] == 600
    assert finding.details["reused_within_time_wait"] == 0
    assert finding.details["rate_per_s"] == 20.03
    assert "tcp_tw_reuse" in finding.details["explanation"]


def test_reuse_after_time_wait_is_fine() -> None:
    # 1 connection/s over 100 ports: each port comes back after 100 s, past the 60 s TIME_WAIT
    assert find_all(*_churn(150, 1.0, ports=100).tables()) == []


def test_reuse_inside_time_wait_is_counted() -> None:
    (finding,) = find_all(*_churn(150, 0.5, ports=40).tables())  # each port back after 20 s
    assert finding.details["reused_within_time_wait"] == 110
    assert finding.details["distinct_client_ports"] == 40


def test_ordinary_rates_give_nothing() -> None:
    assert find_all(*_churn(MIN_PEAK_PER_MINUTE - 1, 0.1, ports=28232).tables()) == []
    assert find_all(*_churn(50, 0.01, ports=5).tables()) == []  # too few connections to judge


# The one-line summary: thousands separators, the reuses said only when some, advice.


def test_the_summary_counts_with_separators_and_advises() -> None:
    (finding,) = find_all(*_churn(1200, 0.04, ports=28232).tables())
    assert finding.summary.startswith("1,200 short connections from 192.0.2.7 to 10.0.0.1:6379")
    assert "up to 1,200 opened within 60 s" in finding.summary
    assert "4% of the default 28,232 client ports" in finding.summary
    assert "reuse" not in finding.summary.split("):")[0]  # no "0 4-tuple reuse(s)"
    assert finding.summary.endswith(
        "): connection churn; reuse connections (HTTP keep-alive, a connection pool)"
    )


def test_the_reuses_are_said_when_some() -> None:
    text = churn_summary(2351, "10.77.1.3", "10.77.2.2:8080", 0.0474, 2351, 46)
    assert text == (
        "2,351 short connections from 10.77.1.3 to 10.77.2.2:8080 (median 47 ms; up to 2,351 "
        "opened within 60 s, the TIME_WAIT of the side that closes first: 8% of the default "
        "28,232 client ports; 46 4-tuples reused within TIME_WAIT): connection churn; reuse "
        "connections (HTTP keep-alive, a connection pool)"
    )
    assert "1 4-tuple reused" in churn_summary(150, "a", "b:1", 0.1, 150, 1)
