from builders.wire import ACK, RST, SYN, Wire

from pcapline.detect import run_all
from pcapline.findings import detections_read, find_all


def _overflowed(w: Wire, cid: int, t: float, port: int = 8080, *, abort: bool = False) -> None:
    w.conn(cid, f"192.0.2.{cid + 1}", 40000 + cid, server_port=port)
    w.seg(cid, t, True, SYN)
    w.seg(cid, t + 0.001, False, SYN | ACK)
    w.seg(cid, t + 0.002, True, ACK)
    w.seg(cid, t + 0.003, True, ACK, length=100)
    if abort:  # tcp_abort_on_overflow=1
        w.seg(cid, t + 0.0025, False, RST)
    else:  # the listener dropped the ACK: SYN+ACK again, 1 s later
        w.seg(cid, t + 1.001, False, SYN | ACK)
        w.seg(cid, t + 1.002, True, ACK)


def test_burst_on_one_port_is_reported() -> None:
    w = Wire()
    for cid in range(3):
        _overflowed(w, cid, cid * 2.0, abort=cid == 2)
    w.conn(3, "192.0.2.99", 45000)
    w.handshake_close(3, 1.0)
    (finding,) = find_all(*w.tables())
    assert finding.kind == "listen_overflow"
    assert list(finding.connections) == [0, 1, 2]
    assert finding.details["server"] == "10.0.0.1:8080"
    assert finding.details["signatures"] == {
        "listen_overflow_fate": 0,
        "synack_after_ack": 2,
        "rst_to_final_ack": 1,
    }
    assert "somaxconn" in finding.details["explanation"]


def test_isolated_marks_are_not_a_burst() -> None:
    w = Wire()
    _overflowed(w, 0, 0.0)
    _overflowed(w, 1, 100.0)
    _overflowed(w, 2, 200.0)  # three, but never within 60 s of each other
    assert find_all(*w.tables()) == []


def test_fate_from_classify_counts() -> None:
    w = Wire()
    for cid in range(3):
        w.conn(cid, "192.0.2.1", 40000 + cid)
        w.handshake_close(cid, float(cid))
    seg, conns, events = w.tables()
    conns["fate"] = ["listen_overflow", "listen_overflow", "closed"]
    assert find_all(seg, conns, events) == []  # two is below the burst threshold
    conns["fate"] = "listen_overflow"
    (finding,) = find_all(seg, conns, events)
    assert finding.details["signatures"]["listen_overflow_fate"] == 3


def test_signatures_of_served_connections_are_not_overflow() -> None:
    # The real-kernel bench capture: on a lossy path a SYN+ACK from the server's own timer is
    # captured just after the client's ACK, yet the server then serves the request. classify
    # (which sees the data being acknowledged) called them closed: no burst to report.
    w = Wire()
    for cid in range(3):
        _overflowed(w, cid, cid * 2.0)
    seg, conns, events = w.tables()
    conns["fate"] = "closed"
    assert find_all(seg, conns, events) == []
    conns["fate"] = "listen_overflow"
    (finding,) = find_all(seg, conns, events)
    assert finding.details["signatures"]["synack_after_ack"] == 3


def test_the_detections_findings_read_give_the_same_findings() -> None:
    """A partition hands back only ``detections_read`` (engine.py, bounded.py): the
    connections with an overflow signature, and the same findings as all detections give."""
    w = Wire()
    for cid in range(3):
        _overflowed(w, cid, cid * 2.0, abort=cid == 2)
    w.conn(3, "192.0.2.99", 45000)
    w.handshake_close(3, 1.0)
    seg, conns, events = w.tables()
    every = run_all(seg).detections
    kept = detections_read(every)
    assert sorted(every) == [0, 1, 2, 3]
    assert sorted(kept) == [0, 1, 2]
    (finding,) = find_all(seg, conns, events, detections=kept)
    assert [finding] == find_all(seg, conns, events, detections=every)
    assert finding.details["signatures"]["synack_after_ack"] == 2
    assert finding.details["signatures"]["rst_to_final_ack"] == 1
