"""detect/path_mtu.py: full-size segments never acknowledged while smaller ones were."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from builders.conversation import CLIENT, SERVER, Conversation
from builders.pipeline import flowed_segments
from builders.segments import segments

from pcapline.detect import Batch, conn_view
from pcapline.detect.path_mtu import DETECTOR, PathMtuStall, _resent_enough, _stall
from pcapline.facts import compute_facts
from pcapline.model import EventKind, Side

SAMPLES = Path(__file__).resolve().parents[2] / "sample_captures"
#: Black holes captured where the sender's full-size resends are seen (behind the router, on
#: its far side, they never show).
SEEN_STALLING = frozenset(
    {
        "pmtu-black-hole-at-client.pcap",
        "pmtu-black-hole-mtu-probing-recovers-at-client.pcap",
        "pmtu-black-hole-v6-at-router-client-side.pcap",
    }
)


def _run(c: Conversation) -> PathMtuStall | None:
    d = DETECTOR.detect(conn_view(compute_facts(segments(c)), 0))
    assert [e.kind for e in d.events] == ([EventKind.PMTU_STALL] if d.inferred else [])
    return d.inferred


def _small_then_full(resends: tuple[float, ...]) -> Conversation:
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.01, 100).ack(SERVER, 0.02)
    c.data(CLIENT, 0.03, 1448)
    for t in resends:
        c.data(CLIENT, t, 1448, seq=c.nxt(CLIENT) - 1448)
    return c


def test_full_size_resent_unanswered_after_small_ones_got_through() -> None:
    stall = _run(_small_then_full((0.25, 0.65, 1.45)))
    assert stall is not None
    assert (stall.side, stall.full_size, stall.largest_acked, stall.unanswered) == (
        Side.CLIENT,
        1448,
        100,
        4,
    )
    assert stall.recovered_frame is None and stall.shrunk_frame is None


@pytest.mark.parametrize(("size", "stalls"), [(600, False), (1024, False), (1025, True)])
def test_a_segment_every_path_carries_stalls_on_no_mtu(size: int, stalls: bool) -> None:
    # tcp_base_mss (RFC 4821 7.2): a 600-byte request after a 100-byte one, never
    # acknowledged, met a dead peer or an expired conntrack entry, not the path's MTU.
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.01, 100).ack(SERVER, 0.02)
    c.data(CLIENT, 0.03, size)
    for t in (0.25, 0.65, 1.45):
        c.data(CLIENT, t, size, seq=c.nxt(CLIENT) - size)
    assert (_run(c) is not None) is stalls


def test_one_resend_is_ordinary_loss() -> None:
    assert _run(_small_then_full((0.25,))) is None


def test_smaller_resends_acknowledged_are_a_recovery() -> None:
    c = _small_then_full((0.25, 0.65, 1.45))
    start = c.nxt(CLIENT) - 1448
    c.data(CLIENT, 3.0, 1024, seq=start).ack(SERVER, 3.01)
    stall = _run(c)
    assert stall is not None and stall.shrunk_to == 1024
    assert stall.recovered_frame is not None and round(stall.stall_s, 2) == 2.98


def test_full_size_segments_that_got_through_before_are_no_black_hole() -> None:
    # A stream of full-size segments, acknowledged, then the path dies: a dead path.
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.01, 1448).ack(SERVER, 0.02)
    c.data(CLIENT, 0.03, 1448)
    for t in (0.25, 0.65, 1.45):
        c.data(CLIENT, t, 1448, seq=c.nxt(CLIENT) - 1448)
    assert _run(c) is None


def test_nothing_acknowledged_before_says_nothing_about_size() -> None:
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.03, 1448)
    for t in (0.25, 0.65, 1.45):
        c.data(CLIENT, t, 1448, seq=c.nxt(CLIENT) - 1448)
    assert _run(c) is None


def test_a_full_size_copy_acknowledged_at_last_is_loss_not_a_size_limit() -> None:
    c = _small_then_full((0.25, 0.65))
    c.ack(SERVER, 0.7)  # the third full-size copy got through (corpus pppoe-over-qinq)
    assert _run(c) is None


def _stalls_and_screen(path: Path) -> tuple[list[bool], list[bool]] | None:
    """Per connection of a capture: does ``_stall`` find a stall on either side (asked of
    every connection), and does the batch screen keep it."""
    flowed = flowed_segments(path)
    if flowed is None:
        return None
    facts = compute_facts(flowed[0], capture_end_ns=flowed[1])
    batch = Batch.of_facts(facts)
    kept = _resent_enough(batch)
    stalled = [
        any(_stall(conn_view(facts, k, batch), side) is not None for side in (True, False))
        for k in range(len(facts.conn_ids))
    ]
    return stalled, kept


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.pcap*")), ids=lambda p: p.name)
def test_the_batch_screen_keeps_every_connection_with_a_stall(path: Path) -> None:
    """The screen only spares ``_stall`` connections where it finds nothing: on every sample
    capture (real kernels), each connection ``_stall`` finds a stall in is kept."""
    found = _stalls_and_screen(path)
    if found is None:
        pytest.skip("no TCP")
    stalled, kept = found
    assert all(k for s, k in zip(stalled, kept, strict=True) if s)
    if path.name in SEEN_STALLING:
        assert any(stalled)  # the scenario's stall, found and kept


def test_the_batch_screen_spares_connections_that_only_resent_other_segments() -> None:
    """Resends of a small segment twice: the old screen (two resends on a side) kept it."""
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.01, 1448).ack(SERVER, 0.02)
    c.data(CLIENT, 0.03, 100)
    for t in (0.25, 0.65):
        c.data(CLIENT, t, 100, seq=c.nxt(CLIENT) - 100)
    c.ack(SERVER, 0.7)
    facts = compute_facts(segments(c))
    assert int(np.count_nonzero(facts.is_retrans)) == 2
    assert _resent_enough(Batch.of_facts(facts)) == [False]
    full = _small_then_full((0.25, 0.65))
    assert _resent_enough(Batch.of_facts(compute_facts(segments(full)))) == [True]


def _screened(c: Conversation) -> bool:
    return _resent_enough(Batch.of_facts(compute_facts(segments(c))))[0]


def test_the_batch_screen_asks_for_the_first_full_size_segment_at_full_size() -> None:
    """``_stall`` reads the copies of the side's first full-size segment only, at full size:
    a later full-size segment resent twice, or the first one resent twice but smaller, is
    no stall and the screen spares it; the first one resent twice at full size is kept."""
    later = Conversation().handshake(0.0)
    later.data(CLIENT, 0.01, 100).ack(SERVER, 0.02)
    later.data(CLIENT, 0.03, 1448).ack(SERVER, 0.04)
    later.data(CLIENT, 0.05, 1448)
    for t in (0.25, 0.65):
        later.data(CLIENT, t, 1448, seq=later.nxt(CLIENT) - 1448)
    assert _run(later) is None and not _screened(later)
    shrunk = _small_then_full(())
    for t in (0.25, 0.65):
        shrunk.data(CLIENT, t, 1000, seq=shrunk.nxt(CLIENT) - 1448)
    assert _run(shrunk) is None and not _screened(shrunk)
    kept = _small_then_full((0.25, 0.65))
    assert _run(kept) is not None and _screened(kept)
