"""detect/zero_window.py: zero-window episodes, Linux 0-byte and BSD 1-byte window probes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from builders.conversation import CLIENT, SERVER, Conversation
from builders.pipeline import flowed_segments
from builders.segments import segments

import pcapline
from pcapline.detect import conn_view
from pcapline.detect.zero_window import DETECTOR, detect
from pcapline.facts import compute_facts
from pcapline.model import EventKind, Side

SAMPLES = Path(__file__).resolve().parents[2] / "sample_captures"


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


def _closing_ack_lost(first_probe_at: float) -> Conversation:
    """The real kernel's shape (Linux 6.18, receiver not reading, route rto_min 1 s; the
    ACK announcing window 0 deleted from the capture with editcap): the last captured ACK
    shows an open window, the sender's persist probes come RTO-spaced, doubling, and the
    receiver answers each with window 0."""
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.01, 1000).ack(SERVER, 0.011, window=2000)
    c.data(CLIENT, 0.012, 1000)
    c.ack(SERVER, 0.05, window=0, captured=False)  # the lost ACK that closed the window
    t = first_probe_at
    for _ in range(3):
        c.probe(CLIENT, t).ack(SERVER, t + 0.0001, window=0)
        t += 2 * (t - 0.05)
    return c


def test_a_probe_answered_with_window_0_is_a_window_probe_though_the_closing_ack_was_lost() -> None:
    """The first probe, 1.03 s after the lost ACK, read "keepalive" (idle 1.05 s inferred)."""
    facts = compute_facts(segments(_closing_ack_lost(1.08)))
    assert not facts.is_keepalive.any()
    probes = np.flatnonzero(facts.is_window_probe)
    assert len(probes) == 3 and probes[0] == 6  # the first probe, with the open window before it
    d = detect(conn_view(facts, 0))
    first = next(e for e in d.events if e.kind is EventKind.WINDOW_PROBE)
    assert first.note.startswith("first probe; sent while the last captured window was open")
    assert "answered with window 0 (frame 8)" in first.note
    z = d.inferred
    assert (z.probes, z.answered) == (3, 3)
    # The stall is measured from the first probe: the window was closed by then at the latest.
    assert round(z.stalled_s, 4) == round(facts.capture_end_ns / 1e9 - 1.08, 4)


def test_a_short_first_probe_is_counted_too() -> None:
    """Without rto_min the first probe comes ~0.2 s after the lost ACK: it read as nothing at
    all (neither keepalive nor window probe) and the count was one short."""
    facts = compute_facts(segments(_closing_ack_lost(0.266)))
    assert np.count_nonzero(facts.is_window_probe) == 3 and not facts.is_keepalive.any()


def test_a_keepalive_answered_with_an_open_window_stays_a_keepalive() -> None:
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.01, 1000).ack(SERVER, 0.011, window=2000)
    c.probe(CLIENT, 5.0).ack(SERVER, 5.0001, window=2000)
    facts = compute_facts(segments(c))
    assert facts.is_keepalive.tolist()[-2] and not facts.is_window_probe.any()


def test_a_persist_timeout_whose_closing_ack_the_capture_lost_is_still_one() -> None:
    """The real persist-timeout-retries2-3 sample (Linux, the receiver stops reading, then
    answers nothing) less frame 13, its only zero-window ACK (a capture loss). The probes
    stand at a byte the capture never saw acknowledged: the first 212 ms after the sender
    sent that byte (no keepalive comes sooner than 1 s after what it received last), the
    next two at the persist timer's doubling gaps (0.436 s, 0.864 s). The first two were
    nothing, the third a keepalive ("1 keepalive probe after 1.72 s idle", fate open)."""
    flowed = flowed_segments(SAMPLES / "persist-timeout-retries2-3.pcap")
    assert flowed is not None
    segs, end = flowed
    segs = segs[segs["frame"] != 13].reset_index(drop=True)
    facts = compute_facts(segs, capture_end_ns=end)
    assert not facts.is_keepalive.any()
    assert facts.frame[facts.is_window_probe].tolist() == [14, 15, 16]
    d = detect(conn_view(facts, 0))
    z = d.inferred
    assert z is not None and z.receiver is Side.SERVER and z.advertisements == 0
    assert (z.probes, z.unanswered_tail, z.recovered) == (3, 3, False)
    first = next(e for e in d.events if e.kind is EventKind.WINDOW_PROBE)
    assert "at a byte the capture never saw acknowledged" in first.note
    # The stall is measured from the first probe (the window was closed by then).
    assert round(z.stalled_s, 3) == round((end - int(facts.time_ns[facts.frame == 14][0])) / 1e9, 3)


def test_a_keepalive_long_after_data_whose_ack_the_capture_lost_stays_a_keepalive() -> None:
    """The same missing ACK, but the probe comes 10 s after the data: the keepalive timer
    can have sent it (TCP_KEEPIDLE after that ACK), the persist timer's backoff evidence is
    absent: a keepalive."""
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.01, 1000).ack(SERVER, 0.011, window=2000)
    c.data(CLIENT, 0.012, 1000)
    c.ack(SERVER, 0.05, captured=False)
    c.probe(CLIENT, 10.05)
    facts = compute_facts(segments(c))
    assert facts.is_keepalive.tolist()[-1] and not facts.is_window_probe.any()


def test_its_fate_follows_the_evidence(tmp_path: Path) -> None:
    """The whole pipeline on that capture (frame 13 removed, as editcap would): persist
    timeout, as with the frame; the words say the announcing ACK is not in the capture."""
    import dpkt

    edited = tmp_path / "persist-timeout-missed-zero-window-ack.pcap"
    with (SAMPLES / "persist-timeout-retries2-3.pcap").open("rb") as src, edited.open("wb") as dst:
        reader = dpkt.pcap.Reader(src)
        writer = dpkt.pcap.Writer(dst, snaplen=reader.snaplen, linktype=reader.datalink())
        for number, (ts, buf) in enumerate(reader, start=1):
            if number != 13:
                writer.writepkt(buf, ts)
    (c,) = pcapline.analyze(str(edited)).to_dict()["connections"]
    assert c["fate"] == "persist_timeout"
    assert (c["counts"]["zero_window_probes"], c["counts"]["keepalive_probes"]) == (3, 0)
    assert "the ACK that announced window 0 is not in the capture" in c["explanation"]


def test_unanswered_probes_at_doubling_gaps_are_window_probes_whenever_the_first_came() -> None:
    """Real kernel (6.18): the sender's route has rto_min 1500 ms, the receiver (SO_RCVBUF
    4096) stops reading and then vanishes; the ACK that closed its window is cut from the
    capture (editcap). The sender's probes at the byte before the first one the capture never
    saw acknowledged come 1.58 s after its data, then 3.23 s and 6.14 s apart, unanswered:
    the persist timer's doubling. They were read as keepalive probes ("after 1.58 s idle every
    4.69 s", fate keepalive_timeout, advice TCP_KEEPIDLE/INTVL/CNT): the first came later than
    the 1 s that proves no keepalive, but unanswered keepalive probes repeat TCP_KEEPINTVL
    apart, evenly."""
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.0001, 1448).ack(SERVER, 0.0002, window=2896)
    c.data(CLIENT, 0.0003, 1448).data(CLIENT, 0.0004, 1448)
    c.ack(SERVER, 0.036, window=0, captured=False)
    for t in (1.583, 4.815, 10.959):
        c.probe(CLIENT, t)
    facts = compute_facts(segments(c), capture_end_ns=round(11.0e9))
    assert not facts.is_keepalive.any()
    assert facts.frame[facts.is_window_probe].tolist() == [8, 9, 10]
    d = detect(conn_view(facts, 0))
    z = d.inferred
    assert z is not None and (z.probes, z.unanswered_tail, z.recovered) == (3, 3, False)
    first = next(e for e in d.events if e.kind is EventKind.WINDOW_PROBE)
    assert "repeated 3.23 s then 6.14 s later, unanswered: a doubling backoff" in first.note


def test_unanswered_keepalive_probes_at_even_gaps_stay_keepalive_probes() -> None:
    """The same shape with TCP_KEEPINTVL's even gaps (1.58 s, then 1 s and 1 s): keepalive."""
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.0001, 1448).ack(SERVER, 0.0002, window=2896)
    c.data(CLIENT, 0.0003, 1448)
    c.ack(SERVER, 0.036, captured=False)
    for t in (1.583, 2.583, 3.583):
        c.probe(CLIENT, t)
    facts = compute_facts(segments(c), capture_end_ns=round(4.0e9))
    assert facts.is_keepalive.tolist()[-3:] == [True, True, True]
    assert not facts.is_window_probe.any()
