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
