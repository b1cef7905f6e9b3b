"""detect/idle.py: the first segment after a long idle gap was never acknowledged."""

from __future__ import annotations

from builders.conversation import CLIENT, SERVER, Conversation
from builders.segments import segments

from pcapline.detect import conn_view
from pcapline.detect.idle import DETECTOR, MIN_IDLE_S, IdleGap
from pcapline.facts import compute_facts
from pcapline.model import EventKind, Side


def _run(c: Conversation) -> IdleGap | None:
    d = DETECTOR.detect(conn_view(compute_facts(segments(c)), 0))
    assert [e.kind for e in d.events] == ([EventKind.IDLE_GAP] if d.inferred else [])
    return d.inferred


def _exchange_then_idle(idle_s: float) -> Conversation:
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.01, 100).ack(SERVER, 0.02).data(SERVER, 0.03, 100).ack(CLIENT, 0.04)
    c.data(CLIENT, 0.04 + idle_s, 100)
    return c


def test_unanswered_segment_after_idle() -> None:
    c = _exchange_then_idle(8.0)
    for t in (8.25, 8.65):
        c.data(CLIENT, t, 100, seq=c.nxt(CLIENT) - 100)
    gap = _run(c)
    assert gap is not None
    assert (gap.after_side, round(gap.gap_s, 1), gap.peer_rst_frame) == (Side.CLIENT, 8.0, None)


def test_rst_answering_it_is_recorded() -> None:
    c = _exchange_then_idle(8.0)
    c.rst(SERVER, 8.05, with_ack=False)
    gap = _run(c)
    assert gap is not None and gap.peer_rst_frame == 9


def test_answered_after_idle_is_nothing() -> None:
    c = _exchange_then_idle(8.0).ack(SERVER, 8.05)
    assert _run(c) is None


def test_a_short_silence_is_think_time() -> None:
    assert _run(_exchange_then_idle(MIN_IDLE_S - 1)) is None


def test_a_silence_with_data_in_flight_is_a_stall_not_idle() -> None:
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.01, 100)  # never acknowledged: the next gap is a backoff
    c.data(CLIENT, 8.0, 100)
    assert _run(c) is None
