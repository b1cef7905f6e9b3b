"""A half close's words claim no peer state the capture does not show."""

from __future__ import annotations

from builders.conversation import CLIENT, SERVER, Conversation
from builders.segments import connections, segments

from pcapline import classify, explain
from pcapline.detect import run_all


def _text(c: Conversation, capture_end_s: float) -> tuple[str, str]:
    segs = segments(c)
    found = run_all(segs, capture_end_ns=int(capture_end_s * 1e9))
    verdict = next(
        iter(explain.verdicts(classify.classify(segs, connections(segs), found)).values())
    )
    return verdict.fate, verdict.explanation.text


def test_a_fin_the_peer_never_acknowledged_claims_no_close_wait() -> None:
    """zeek ldap-max-recursion (synthetic): the client sends its request and FIN, the server
    acknowledges neither while the capture goes on 99 s. That the FIN reached the server is
    not shown, so "look for CLOSE_WAIT on the server" (its application never called close())
    claimed a state no packet proves."""
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.001, 884).fin(CLIENT, 0.0011)
    fate, text = _text(c, capture_end_s=5.0)
    assert fate == "half_closed"
    assert text.startswith(
        "Half closed: the client sent FIN, and the capture holds neither the server's FIN nor "
        "its ACK of that one; "
    )
    assert "whether it reached the server is not shown" in text
    assert "CLOSE_WAIT" not in text


def test_a_fin_the_peer_acknowledged_keeps_the_close_wait_advice() -> None:
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.001, 884).fin(CLIENT, 0.0011).ack(SERVER, 0.0012)
    fate, text = _text(c, capture_end_s=5.0)
    assert fate == "half_closed"
    assert "look for CLOSE_WAIT in ss -tan on the server" in text
