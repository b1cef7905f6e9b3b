import numpy as np
from builders.wire import ACK, RST, SYN, Wire

from pcapline.detect import run_all
from pcapline.findings import handshakes
from pcapline.findings.base import FindingInput
from pcapline.findings.handshakes import summarize
from pcapline.findings.listen_overflow import overflow_signatures


def test_each_syn_is_judged_on_its_own_reply():
    w = Wire()
    w.conn(0, "192.0.2.1", 40000)
    w.seg(0, 0.0, True, SYN, ts=100)  # dropped
    w.seg(0, 1.0, True, SYN, ts=1100)  # answered
    w.seg(0, 1.001, False, SYN | ACK)
    w.seg(0, 1.002, True, ACK, ts=1102)
    w.conn(1, "192.0.2.2", 40001)
    w.seg(1, 2.0, True, SYN)  # refused: replied, not answered
    w.seg(1, 2.001, False, RST | ACK)
    hs = summarize(*w.tables()[:2])
    syns = hs.syns.sort_values("frame")
    assert syns["answered"].tolist() == [False, True, False]
    assert syns["replied"].tolist() == [False, True, True]
    conns = hs.conns.set_index("id")
    assert conns.loc[0, "client_acked"] and not conns.loc[1, "client_acked"]
    assert conns.loc[1, "rst"] and not conns.loc[0, "rst"]
    assert conns["syns"].tolist() == [2, 1]


def test_server_closed_first_and_last_client_timestamp():
    w = Wire()
    w.conn(0, "192.0.2.1", 40000)
    w.handshake_close(0, 0.0, ts=5000, server_closes=True)
    w.conn(1, "192.0.2.1", 40001)
    w.handshake_close(1, 1.0, ts=9000, server_closes=False)
    conns = summarize(*w.tables()[:2]).conns.set_index("id")
    assert conns["server_closed_first"].tolist() == [True, False]
    # server closes: the client's FIN (6 ms in) is its last timestamped segment
    assert conns.loc[0, "last_client_ts"] == 5006
    assert conns.loc[1, "last_client_ts"] == 9007


def test_accept_queue_overflow_marks():
    w = Wire()
    w.conn(0, "192.0.2.1", 40000)  # tcp_abort_on_overflow=0: SYN+ACK again after the client's ACK
    w.seg(0, 0.0, True, SYN)
    w.seg(0, 0.001, False, SYN | ACK)
    w.seg(0, 0.002, True, ACK)
    w.seg(0, 0.003, True, ACK, length=100)
    w.seg(0, 1.001, False, SYN | ACK)
    w.conn(1, "192.0.2.1", 40001)  # tcp_abort_on_overflow=1: bare RST to the final ACK
    w.seg(1, 0.0, True, SYN)
    w.seg(1, 0.001, False, SYN | ACK)
    w.seg(1, 0.002, True, ACK)
    w.seg(1, 0.0021, False, RST)
    w.conn(2, "192.0.2.1", 40002)  # server answered data, then reset: not the overflow shape
    w.seg(2, 0.0, True, SYN)
    w.seg(2, 0.001, False, SYN | ACK)
    w.seg(2, 0.002, True, ACK, length=10)
    w.seg(2, 0.003, False, ACK, length=10)
    w.seg(2, 0.004, False, RST)
    segs, conns, events = w.tables()
    # The overflow signatures are the handshake detector's, read typed (not re-derived).
    data = FindingInput(
        segs, conns, events, summarize(segs, conns), detections=run_all(segs).detections
    )
    synack_after_ack, rst_to_final_ack = overflow_signatures(data)
    assert synack_after_ack.tolist() == [True, False, False]
    assert rst_to_final_ack.tolist() == [False, True, False]


def test_replied_by_latest_reply_equals_the_sorted_stream() -> None:
    """``_replied`` asks a connection's only SYN for its latest reply and sorts only the
    connections with several SYNs; the sorted stream over every SYN is the reference."""
    rng = np.random.default_rng(3)
    for _ in range(50):
        n = int(rng.integers(1, 8))
        size = int(rng.integers(0, 60))
        row = rng.integers(0, n, size)
        time_ns = rng.integers(0, 20, size)
        syn = rng.random(size) < 0.3
        syn_idx = np.flatnonzero(syn)
        syn_idx = syn_idx[np.lexsort((syn_idx, time_ns[syn_idx], row[syn_idx]))]
        reply = ~syn & (rng.random(size) < 0.5)
        want = handshakes._replied_between(row, time_ns, syn_idx, np.flatnonzero(reply))
        got = handshakes._replied(row, time_ns, syn_idx, reply, n)
        assert got.tolist() == want.tolist()


def _same_summary(a: handshakes.Handshakes, b: handshakes.Handshakes) -> None:
    assert a.connections.equals(b.connections)
    for name in ("syn_row", "syn_frame", "syn_ns", "syn_has_ts", "syn_ts", "syn_answered"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
        assert getattr(a, name).dtype == getattr(b, name).dtype, name
    for name in ("syn_replied", "synack_row", "synack_ns"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert list(a.conn_facts) == list(b.conn_facts)
    for name, values in a.conn_facts.items():
        assert (
            np.array_equal(values, b.conn_facts[name]) and values.dtype == b.conn_facts[name].dtype
        )


def test_concat_of_one_part_holding_every_connection_is_its_summary() -> None:
    """One part in the capture's rows (the whole capture in one piece) is taken as it is;
    the same connections in another row order go through the general join."""
    from pathlib import Path

    import pandas as pd

    from pcapline.analysis import analyze

    capture = analyze(Path(__file__).resolve().parents[2] / "sample_captures" / "app-tls-http.pcap")
    whole = summarize(capture.segments, capture.connections)
    _same_summary(handshakes.concat([whole], capture.connections), whole)
    # Reversed rows: the general path maps every connection to its row in the new order.
    backwards = capture.connections.iloc[::-1].reset_index(drop=True)
    joined = handshakes.concat([whole], backwards)
    assert joined.connections["id"].tolist() == backwards["id"].tolist()
    n = len(backwards)
    assert np.array_equal(joined.conn_facts["syns"], whole.conn_facts["syns"][::-1])
    assert sorted((n - 1 - joined.syn_row).tolist()) == sorted(whole.syn_row.tolist())
    assert isinstance(joined.connections, pd.DataFrame)


def test_rows_of_ids_is_the_clipped_search_for_any_ids() -> None:
    """A partition's ids are spread over the capture's (``summarize`` looks its segments'
    connections up in a table of their span): each id's row, and an id that is not there
    where ``searchsorted`` would put it, dense span or sparse."""
    from pcapline.findings.handshakes import _rows_of_ids

    rng = np.random.default_rng(3)
    for trial in range(300):
        span = 40 if trial % 2 else 100_000  # dense: a table; sparse: the search itself
        ids = rng.choice(np.arange(-5, span), int(rng.integers(1, 30)), replace=trial % 5 == 0)
        order = np.argsort(ids, kind="stable")
        wanted = rng.integers(-20, span + 20, int(rng.integers(0, 200)))
        if trial % 3 == 0:
            wanted = rng.choice(ids, 100)  # the usual case: every id is there
        n = len(ids)
        expected = order[np.minimum(np.searchsorted(ids, wanted, sorter=order), n - 1)]
        got = _rows_of_ids(ids, order, wanted)
        np.testing.assert_array_equal(got, expected)
        if trial % 3 == 0:
            np.testing.assert_array_equal(ids[got], wanted)
    none = np.zeros(0, np.int64)
    assert len(_rows_of_ids(none, none, none)) == 0  # a partition without a connection
    top = np.iinfo(np.int64)
    ids = np.array([top.min, 0, top.max], np.int64)  # no slot beside int64's ends: searched
    wanted = np.array([top.max, top.min, 0, 5], np.int64)
    assert _rows_of_ids(ids, np.arange(3), wanted).tolist() == [2, 0, 1, 2]
