"""How a reset's reasons are written."""

from __future__ import annotations

from builders.conversation import CLIENT, SERVER, Conversation
from builders.segments import connections, segments

from pcapline import classify, explain
from pcapline.detect import run_all


def test_the_clauses_after_a_semicolon_are_not_capitalised() -> None:
    """The server closes with the client's last bytes unread, right after the client's FIN:
    two reasons, one sentence. Each was capitalised ("...; Those were the client's last
    bytes"): only the sentence's first word is."""
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.010, 100).ack(SERVER, 0.0101)
    c.data(SERVER, 0.020, 100).ack(CLIENT, 0.0201)
    c.data(CLIENT, 0.030, 31).fin(CLIENT, 0.0301)
    c.rst(SERVER, 0.0302)
    segs = segments(c)
    found = run_all(segs)
    verdict = next(
        iter(explain.verdicts(classify.classify(segs, connections(segs), found)).values())
    )
    text = verdict.explanation.text
    assert verdict.fate == "reset"
    assert ". It sent RST instead of FIN right after receiving data: " in text
    assert "; those were the client's last bytes before its own FIN" in text
    assert "; Those" not in text
