"""What a SYN retry before the answer is said to show."""

from __future__ import annotations

from builders.conversation import CLIENT, Conversation
from builders.segments import connections, segments

from pcapline import classify, explain
from pcapline.detect import run_all


def test_a_synack_without_timestamps_may_answer_the_first_syn_on_a_slow_path() -> None:
    """SYN at 0 and 1 s (the SYN timer), the SYN+ACK 1.3 s after the first: on a path with a
    1.3 s round trip it answers the first SYN, and without a timestamp echo the capture cannot
    say which. "The first SYN(s) were dropped ... check the listen queue" claimed a drop."""
    c = Conversation().syn(0.0).syn(1.0).synack(1.3).ack(CLIENT, 2.6)
    c.data(CLIENT, 2.7, 10).fin(CLIENT, 2.8)
    segs = segments(c)
    found = run_all(segs, capture_end_ns=int(10e9))
    verdict = next(
        iter(explain.verdicts(classify.classify(segs, connections(segs), found)).values())
    )
    text = verdict.explanation.text
    assert "The client sent its SYN 2 times (at 0, 1 s) before the server's answer came" in text
    assert "or their answer was held up past the retry" in text
    assert "the SYN+ACK carries no timestamp echo to say which SYN it answers" in text
