"""detect.Batch: the column-wise passes over the connections detected together give every
connection exactly what the same passes give it alone (a batch of one connection), on every
sample capture (real kernels) and on two crafted captures of several connections each.

A pass that let one connection's rows leak into another's answers (a running maximum, a
"first row after", a count) shows here as a difference between the two ways.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from builders.conversation import CLIENT, SERVER, Conversation
from builders.pipeline import flowed_segments
from builders.segments import segments

from pcapline.detect import (
    NO_ROW,
    Batch,
    ConnDetections,
    conn_view,
    detect_connection,
    retransmit,
    run_all,
)
from pcapline.facts import Facts, compute_facts

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "sample_captures"
_SKIP_SUFFIXES = (".json", ".md", ".txt", ".py")


def _sample_captures() -> list[Path]:
    return sorted(p for p in SAMPLES.rglob("*") if p.is_file() and p.suffix not in _SKIP_SUFFIXES)


def _facts(path: Path) -> Facts | None:
    flowed = flowed_segments(path)
    if flowed is None:
        return None  # a capture without TCP: nothing to detect
    segs, end = flowed
    return run_all(segs, capture_end_ns=end, visit_all=True).facts


def _together_and_alone(facts: Facts) -> list[tuple[ConnDetections, ConnDetections]]:
    batch = Batch.of_facts(facts)
    return [
        (
            detect_connection(conn_view(facts, index, batch)),
            detect_connection(conn_view(facts, index)),
        )
        for index in range(len(facts.conn_ids))
    ]


@pytest.mark.parametrize("path", _sample_captures(), ids=lambda p: p.name)
def test_batch_answers_equal_one_connection_alone(path: Path) -> None:
    facts = _facts(path)
    if facts is None or not len(facts.conn_ids):
        pytest.skip("no TCP connection")
    for together, alone in _together_and_alone(facts):
        assert together == alone


def _neighbours() -> Facts:
    """Four connections back to back: retransmissions, crossed FINs, RSTs, a late SYN+ACK
    retry, a one-sided resend, so every pass has something on both sides of each connection
    boundary."""
    a = Conversation(conn=0, client=("10.0.0.1", 40001)).handshake(0.0)
    a.data(CLIENT, 0.01, 100).data(CLIENT, 0.02, 100)
    a.data(CLIENT, 0.25, 100, seq=a.nxt(CLIENT) - 200).ack(SERVER, 0.26)
    a.data(CLIENT, 0.3, 1448).data(CLIENT, 0.5, 1448, seq=a.nxt(CLIENT) - 1448)
    a.data(CLIENT, 0.9, 1448, seq=a.nxt(CLIENT) - 1448).rst(SERVER, 1.0)
    b = Conversation(conn=1, client=("10.0.0.1", 40002)).handshake(2.0)
    b.data(SERVER, 2.1, 300).fin(CLIENT, 2.2).fin(SERVER, 2.2001).ack(CLIENT, 2.3)
    c = Conversation(conn=2, client=("10.0.0.1", 40003)).syn(3.0).synack(3.001).synack(4.001)
    c.data(CLIENT, 12.0, 10).rst(SERVER, 12.001)
    # Captured mid-way, one direction only: a resend with no earlier peer row in its own
    # connection (the batch's previous retransmitting connection has plenty).
    d = Conversation(conn=3, client=("10.0.0.1", 40004))
    d.data(CLIENT, 13.0, 100).data(CLIENT, 13.3, 100, seq=d.nxt(CLIENT) - 100)
    return compute_facts(segments(a, b, c, d))


def test_batch_of_crafted_neighbours_equals_each_alone() -> None:
    facts = _neighbours()
    assert len(facts.conn_ids) == 4
    pairs = _together_and_alone(facts)
    for together, alone in pairs:
        assert together == alone
    assert pairs[0][0].retransmit.inferred.total >= 2  # the passes had something to link


def test_long_connection_linked_alone_equals_linked_in_the_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """retransmit links a connection of ALONE_ROWS rows or more on its own: the answers must
    not depend on which way a connection was linked."""
    facts = _neighbours()
    in_batch = [d.retransmit for d, _alone in _together_and_alone(facts)]
    monkeypatch.setattr(retransmit, "ALONE_ROWS", 1)
    alone = [d.retransmit for d, _alone in _together_and_alone(facts)]
    assert in_batch == alone
    assert np.any([d.inferred.total for d in alone])


def test_row_links_of_each_connection_equal_its_links_alone() -> None:
    """retransmit's row links themselves (not only what the detector makes of them): a link
    leaking into a neighbouring connection can hide behind a later test in the detector."""
    facts = _neighbours()
    batch = Batch.of_facts(facts)
    linked = 0
    rtts: list[float | None] = []
    for index in range(len(facts.conn_ids)):
        together = conn_view(facts, index, batch)
        if not together.is_retrans.any():
            continue
        linked += 1
        (mine, rtt), (own, own_rtt) = (
            retransmit._Links.of(together),
            retransmit._Links.of(conn_view(facts, index)),
        )
        for name in retransmit._Links.__slots__:
            assert getattr(mine, name).tolist() == getattr(own, name).tolist(), name
        assert rtt == own_rtt  # the data RTT is measured in the same pass
        rtts.append(rtt)
    assert linked == 2
    assert any(rtt is not None for rtt in rtts)


def _covering_row_by_row(view, i: int) -> int:  # type: ignore[no-untyped-def]
    """The rule of ``retransmit._covering_copies`` read literally: the latest earlier row of
    the same side among the SEARCH_BACK_ROWS before ``i`` covering its first byte."""
    lo = max(0, i - retransmit.SEARCH_BACK_ROWS)
    seq = view.rel_seq[i]
    covers = (view.from_client[lo:i] == view.from_client[i]) & (view.rel_seq[lo:i] <= seq)
    covers &= (view.seq_end[lo:i] > seq) & ~view.is_dup[lo:i] & ~view.probe_shape[lo:i]
    found = np.flatnonzero(covers)
    return lo + int(found[-1]) if len(found) else -1


@pytest.mark.parametrize("by_seq", [True, False])
@pytest.mark.parametrize("window", [None, 1, 13, 18])
@pytest.mark.parametrize(
    "name",
    [
        "icmpv6-packet-too-big-at-client.pcap",  # resent in smaller segments (found)
        "pmtu-black-hole-mtu-probing-recovers-at-client.pcap",  # the same after MTU probing
        "lossy-40-connections-3pct-drop.pcap",  # originals lost before the capture point
    ],
)
def test_covering_copies_equal_a_row_by_row_search(
    name: str, window: int | None, by_seq: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Repacketised resends (no earlier copy at the same seq): the copies found by seq, or
    among the rows of the search window (resends with many candidates by seq), are the
    row-by-row search's, on real-kernel captures."""
    if window is not None:  # copies 13 and 19 rows back: at the edge, just outside
        monkeypatch.setattr(retransmit, "SEARCH_BACK_ROWS", window)
    if not by_seq:  # every resend searched among its window's rows
        monkeypatch.setattr(retransmit, "_SEQ_CANDIDATES", 0)
    facts = _facts(SAMPLES / name)
    assert facts is not None
    asked = found = 0
    for index in range(len(facts.conn_ids)):
        view = conn_view(facts, index)
        links, _rtt = retransmit._Links.of(view)
        rows = np.flatnonzero(view.is_retrans)
        rows = rows[links.prev_tx[rows] < 0]
        got = retransmit._covering_copies(view, rows).tolist()
        assert got == [_covering_row_by_row(view, int(i)) for i in rows]
        asked += len(rows)
        found += sum(row >= 0 for row in got)
    assert asked
    if window is None and name != "lossy-40-connections-3pct-drop.pcap":
        assert found


def _previous_of_same_side(from_client: list[bool]) -> list[int]:
    """Per row: the previous row sent by the same side (-1: none)."""
    latest = {True: -1, False: -1}
    found = []
    for i, side in enumerate(from_client):
        found.append(latest[side])
        latest[side] = i
    return found


def _dupacks_row_by_row(view, prev_same: list[int], last: int) -> int:  # type: ignore[no-untyped-def]
    """The duplicate-ACK rule read literally: walk back over the side's rows repeating the ACK
    number of row ``last``, counting pure ACKs (up to 4), less the one they duplicate."""
    ack, count, j = view.rel_ack[last], 0, last
    while j >= 0 and count <= 3 and view.rel_ack[j] == ack:
        pure = view.seg_len[j] == 0 and not (view.syn[j] or view.fin[j] or view.rst[j])
        count += int(pure)
        j = prev_same[j]
    return max(count - 1, 0)


@pytest.mark.parametrize(
    "name", ["lossy-40-connections-3pct-drop.pcap", "icmpv6-packet-too-big-at-client.pcap"]
)
def test_dupacks_equal_a_row_by_row_walk(name: str) -> None:
    """``retransmit._dupacks_ending`` (column-wise) counts what a walk back over each row's
    side counts, at every row of every connection."""
    facts = _facts(SAMPLES / name)
    assert facts is not None
    seen = 0
    for index in range(len(facts.conn_ids)):
        view = conn_view(facts, index)
        links, _rtt = retransmit._Links.of(view) if view.is_retrans.any() else (None, None)
        if links is None:
            continue
        key = view.from_client.astype(np.int64)
        pure = (view.seg_len == 0) & ~view.syn & ~view.fin & ~view.rst
        got = retransmit._dupacks_ending(view.rel_ack, pure, key, np.argsort(key, kind="stable"))
        prev_same = _previous_of_same_side(view.from_client.tolist())
        assert got.tolist() == [_dupacks_row_by_row(view, prev_same, i) for i in range(len(view))]
        seen += int(np.count_nonzero(got >= 2))
    assert seen or name != "lossy-40-connections-3pct-drop.pcap"  # fast retransmits there


@pytest.mark.parametrize("seed", range(20))
def test_batch_last_equals_each_connections_last_row(seed: int) -> None:
    """``Batch.last``: each connection's last row where a mask holds, relative, NO_ROW when
    none (empty connections and masks included)."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(0, 6, size=int(rng.integers(1, 12)))
    starts = np.concatenate(([0], np.cumsum(sizes)))
    batch = Batch(None, starts, np.repeat(np.arange(len(sizes)), sizes))  # type: ignore[arg-type]
    mask = rng.random(int(starts[-1])) < rng.random()
    want = []
    for lo, hi in zip(starts[:-1].tolist(), starts[1:].tolist(), strict=True):
        rows = np.flatnonzero(mask[lo:hi])
        want.append(int(rows[-1]) if len(rows) else NO_ROW)
    assert batch.last(mask).tolist() == want


@pytest.mark.parametrize("seed", range(20))
def test_batch_at_rows_reads_each_connections_row_or_missing(seed: int) -> None:
    """``Batch.at_rows``: a column at each connection's relative row (``Batch.first``'s), the
    missing value where there is none (empty connections, a trailing one included)."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(0, 6, size=int(rng.integers(1, 12)))
    starts = np.concatenate(([0], np.cumsum(sizes)))
    batch = Batch(None, starts, np.repeat(np.arange(len(sizes)), sizes))  # type: ignore[arg-type]
    values = rng.integers(100, 200, size=int(starts[-1]))
    rows = batch.first(rng.random(int(starts[-1])) < rng.random())
    want = [
        int(values[lo + row]) if row != NO_ROW else -7
        for lo, row in zip(starts[:-1].tolist(), rows.tolist(), strict=True)
    ]
    assert batch.at_rows(values, rows, -7).tolist() == want
