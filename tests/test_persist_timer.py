"""The persist timer's schedule and its give-up, on crafted packets with a real kernel's
timings (Linux 6.x in network namespaces, SO_RCVBUF 4096 receiver that stops reading)."""

from __future__ import annotations

from builders.conversation import CLIENT, SERVER, Conversation
from builders.segments import connections, segments

from pcapline import classify, explain
from pcapline.detect import run_all

#: Real kernel, the sender's net.ipv4.tcp_retries2=4: answered window probes 0.44, 0.90, 1.76
#: s apart, then flat at 3.58 s (icsk_backoff stops at tcp_retries2: rto << 4).
ANSWERED = (0.22, 0.66, 1.56, 3.32, 6.90, 10.48)


def _zero_window_opening() -> Conversation:
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.010, 1448).data(CLIENT, 0.0101, 1448).data(CLIENT, 0.0102, 1448)
    c.ack(SERVER, 0.050, window=0)
    return c


def _verdict(c: Conversation, capture_end_s: float | None = None):  # type: ignore[no-untyped-def]
    segs = segments(c)
    end = None if capture_end_s is None else int(capture_end_s * 1e9)
    found = run_all(segs, capture_end_ns=end)
    decisions = classify.classify(segs, connections(segs), found)
    return next(iter(explain.verdicts(decisions).values()))


def test_unanswered_probes_at_the_capped_gap_then_silence_are_a_give_up() -> None:
    """Real kernel: with tcp_retries2=4, probes answered until the gap reached its cap (3.58 s),
    then the receiver vanished: 4 unanswered probes 3.58 s apart and the abort (ETIMEDOUT)
    3.58 s after the last, silently. The capture went on 5 s past the last probe: the next probe
    was due after the same flat gap, not after twice it (7.16 s), so the give-up is seen."""
    c = _zero_window_opening()
    for t in ANSWERED:
        c.probe(CLIENT, t).ack(SERVER, t + 0.0001, window=0)
    for t in (14.06, 17.64, 21.22, 24.80):
        c.probe(CLIENT, t)
    verdict = _verdict(c, capture_end_s=29.8)
    assert (verdict.fate, verdict.confidence) == ("persist_timeout", "proven")
    assert "the sender gave up silently" in verdict.explanation.text


def test_a_stateless_rst_to_the_reopening_after_answered_probes_is_a_persist_timeout() -> None:
    """Real kernel: the sender has TCP_USER_TIMEOUT 4000; its window probes are answered with
    window 0 (0.45, 0.90, 1.76 s apart; one unanswered: the receiver rate-limits its answers
    to out-of-window probes) and the user timeout frees the socket silently (ETIMEDOUT 4.39 s
    after the window closed: tcp_probe_timer, no RST). When the receiver reads, 3.54 s after
    the last probe, its window update draws the sender's kernel's RST without ACK at the
    update's ACK number. The sender's timer ended the connection: persist_timeout, reset by
    the sender (whose host sent that RST), not a generic reset."""
    c = _zero_window_opening()
    c.probe(CLIENT, 0.27).ack(SERVER, 0.2701, window=0)
    c.probe(CLIENT, 0.72)
    for t in (1.62, 3.38):
        c.probe(CLIENT, t).ack(SERVER, t + 0.0001, window=0)
    c.ack(SERVER, 6.92, window=2896)  # the receiver reads again: the window update
    c.rst(CLIENT, 6.9201, with_ack=False, seq=c.nxt(CLIENT))
    verdict = _verdict(c)
    assert (verdict.fate, verdict.reset_by, verdict.confidence) == (
        "persist_timeout",
        "client",
        "proven",
    )
    assert verdict.evidence_frames == (13, 15, 16)  # last probe, the reopening, the RST
    text = verdict.explanation.text
    assert text.startswith("Persist timeout: the server advertised window 0 and stayed stalled")
    assert "the client's RST (frame 16) answered the reopening" in text
    assert "TCP_USER_TIMEOUT runs out while the window stays closed" in text
    assert "Check: the client's TCP_USER_TIMEOUT (ss -o shows the persist timer)" in text
    assert "vanished" not in text


def test_answered_probes_at_the_capped_gap_then_a_late_reopening_show_probing_stopped() -> None:
    """tcp_retries2=4 and TCP_USER_TIMEOUT: answered probes at the flat 3.58 s gap, the user
    timeout ends it, the window reopens 5 s after the last probe: past the next probe (due
    3.58 s after the last, not 7.16 s), so the probing had stopped."""
    c = _zero_window_opening()
    for t in ANSWERED:
        c.probe(CLIENT, t).ack(SERVER, t + 0.0001, window=0)
    c.ack(SERVER, 15.48, window=2896)
    c.rst(CLIENT, 15.4801, with_ack=False, seq=c.nxt(CLIENT))
    verdict = _verdict(c)
    assert verdict.fate == "persist_timeout"
    assert (
        "its window probes had stopped: the last came 5 s before, past the next one its "
        "backoff had due (3.58 s)"
    ) in verdict.explanation.text
