"""Verdicts that must blame the right side: the one that gave up, not the one that still owed
an answer; and words that claim no more than the capture holds."""

from __future__ import annotations

from typing import Any

from builders.conversation import CLIENT, SERVER, Conversation
from builders.segments import connections, segments

from pcapline import classify, explain
from pcapline.detect import run_all


def verdict(c: Conversation) -> Any:
    segs = segments(c)
    conns = connections(segs)
    return next(iter(explain.verdicts(classify.classify(segs, conns, run_all(segs))).values()))


def test_a_client_that_gave_up_before_the_late_answer_is_app_gave_up_not_close_wait() -> None:
    """The real-kernel shape (a client under `timeout 12` behind which the server answered
    15 s late): the request acknowledged, the client's FIN 11.8 s later, the server's answer
    2.9 s after that, the orphan's RST. The late data is the answer the server owed; blaming a
    CLOSE_WAIT application on the server was wrong."""
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.01, 33).ack(SERVER, 0.0101)
    c.fin(CLIENT, 11.83).ack(SERVER, 11.87)
    answer_ack = c.nxt(CLIENT)
    c.data(SERVER, 14.72, 240)
    c.rst(CLIENT, 14.7201, with_ack=False, seq=answer_ack)
    v = verdict(c)
    assert (v.fate, v.reset_by, v.cause) == ("reset", "client", "app_gave_up")
    text = v.explanation.text
    assert "CLOSE_WAIT" not in text
    assert "no response came for 12 s, then the client closed it (FIN) (frame 6)" in text
    assert "The server sent the answer it still owed 2.89 s after the client's FIN (frame 8)" in (
        text
    )


def test_an_answered_client_that_closed_and_got_late_data_is_still_orphaned_fin_wait2() -> None:
    """The same ending after the server had answered: nothing was owed, the late write is a
    CLOSE_WAIT application's."""
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.01, 33).ack(SERVER, 0.0101)
    c.data(SERVER, 0.02, 240).ack(CLIENT, 0.0201)
    c.fin(CLIENT, 11.83).ack(SERVER, 11.87)
    answer_ack = c.nxt(CLIENT)
    c.data(SERVER, 14.72, 240)
    c.rst(CLIENT, 14.7201, with_ack=False, seq=answer_ack)
    v = verdict(c)
    assert (v.fate, v.reset_by, v.cause) == ("reset", "client", "orphaned_fin_wait2")
