"""detect/zero_window.py: zero-window episodes, Linux 0-byte and BSD 1-byte window probes."""

from __future__ import annotations

import numpy as np
from builders.conversation import CLIENT, SERVER, Conversation
from builders.segments import segments

from pcapline.detect import conn_view
from pcapline.detect.zero_window import DETECTOR, detect
from pcapline.facts import compute_facts
from pcapline.model import EventKind, Side


def _stalled(c: Conversation) -> Conversation:
    c.handshake(0.0)
    c.data(CLIENT, 0.01, 1000)
    c.ack(SERVER, 0.02, window=0)
    return c


def test_linux_probes_answered_then_window_opens() -> None:
    c = _stalled(Conversation())
    c.probe(CLIENT, 0.22).ack(SERVER, 0.2201, window=0)
    c.probe(CLIENT, 0.62).ack(SERVER, 0.6201, window=0)
    c.ack(SERVER, 1.02, window=5000)
    d = detect(conn_view(compute_facts(segments(c)), 0))
    z = d.inferred
    assert z.receiver is Side.SERVER and z.recovered and z.probes == 2 and z.answered == 2
    assert round(z.stalled_s, 3) == 1.0
    kinds = [e.kind for e in d.events]
    assert kinds.count(EventKind.WINDOW_PROBE) == 2 and kinds.count(EventKind.WINDOW_UPDATE) == 1


def test_unanswered_probes_then_silence() -> None:
    c = _stalled(Conversation())
    for t in (0.22, 0.62, 1.42):
        c.probe(CLIENT, t)
    other = Conversation(conn=1).syn(10.0)
    z = detect(conn_view(compute_facts(segments(c, other)), 0)).inferred
    assert z.unanswered_tail == 3 and z.gave_up is True and not z.recovered


def test_one_byte_persist_probe_at_next_seq() -> None:
    c = _stalled(Conversation())
    c.data(CLIENT, 0.5, 1)  # BSD/Windows: one byte of new data while the window is 0
    facts = compute_facts(segments(c))
    assert facts.is_window_probe.tolist()[-1]
    assert not facts.is_keepalive.any()


def test_zero_window_event_once_per_episode() -> None:
    c = _stalled(Conversation())
    c.ack(SERVER, 0.5, window=0).ack(SERVER, 0.6, window=100).ack(SERVER, 0.7, window=0)
    ev = DETECTOR.rows(compute_facts(segments(c)))  # type: ignore[misc]
    assert ev["frame"].tolist() == [5, 8]


def test_a_timestamp_stepping_back_inside_a_stall_measures_no_negative_time() -> None:
    """The window update stamped 2 s before the zero window it ends (a merged or clock-stepped
    capture): that stall counts nothing, the next one its own time (the JSON schema and every
    threshold read a duration of zero or more)."""
    c = _stalled(Conversation())  # the zero window at 0.02 s
    c.ack(SERVER, 0.5, window=5000)
    c.ack(SERVER, 3.0, window=0).ack(SERVER, 3.5, window=5000)
    table = segments(c)
    update = int(np.flatnonzero(table["window"].to_numpy() == 5000)[0])
    table.loc[update, "time_ns"] = round(-1.98e9)  # in frame order, stamped 2 s earlier
    z = detect(conn_view(compute_facts(table), 0)).inferred
    assert z.recovered and round(z.stalled_s, 3) == 0.5


def test_probe_gaps_across_a_timestamp_step_back_are_not_negative() -> None:
    """The second probe stamped before the first: its gap (the backoff's input, and the
    probe event's value) is 0 s, not -0.22 s."""
    c = _stalled(Conversation())
    c.probe(CLIENT, 0.22).ack(SERVER, 0.2201, window=0)
    c.probe(CLIENT, 0.62).ack(SERVER, 0.6201, window=0)
    table = segments(c)
    second = int(np.flatnonzero(table["frame"].to_numpy() == 8)[0])  # the second probe
    table.loc[second, "time_ns"] = 0
    d = detect(conn_view(compute_facts(table), 0))
    assert d.inferred.probe_gaps == (0.0,)
    probes = [e for e in d.events if e.kind is EventKind.WINDOW_PROBE]
    assert [e.value for e in probes] == [None, 0.0]
