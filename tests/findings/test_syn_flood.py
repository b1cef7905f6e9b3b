from builders.wire import ACK, SYN, Wire

from pcapline.findings import find_all
from pcapline.findings.syn_flood import MIN_HALF_OPEN, MIN_SOURCES


def _flood(sources: int, count: int, spacing_s: float = 0.01) -> Wire:
    w = Wire()
    for cid in range(count):
        w.conn(cid, f"203.0.113.{cid % sources + 1}", 1024 + cid, server_port=443)
        w.seg(cid, cid * spacing_s, True, SYN)
        w.seg(cid, cid * spacing_s + 0.0001, False, SYN | ACK)  # cookie SYN+ACK, never ACKed
    return w


def test_many_half_open_from_many_sources() -> None:
    w = _flood(sources=50, count=150)
    w.conn(1000, "192.0.2.1", 50000, server_port=443)
    w.handshake_close(1000, 0.5)
    (finding,) = find_all(*w.tables())
    assert finding.kind == "syn_flood"
    assert finding.details["connection_count"] == 150
    assert finding.details["sources"] == 50
    assert finding.details["synack_sent"] == 150
    assert 1000 not in finding.connections


def test_thresholds() -> None:
    assert find_all(*_flood(sources=MIN_SOURCES - 1, count=150).tables()) == []
    assert find_all(*_flood(sources=50, count=MIN_HALF_OPEN - 1).tables()) == []
    # as many, but spread over far more than the window: a trickle of failed handshakes
    assert find_all(*_flood(sources=50, count=150, spacing_s=1.0).tables()) == []


def test_completed_handshakes_are_not_half_open() -> None:
    w = _flood(sources=50, count=150)
    for cid in range(150):
        w.seg(cid, cid * 0.01 + 0.0002, True, ACK)
    assert find_all(*w.tables()) == []
