"""detect/close.py: closer, crossed FINs, the RST that ended a connection, injected-RST hints."""

from __future__ import annotations

from segment_builder import CLIENT, SERVER, Conversation, segments

from pcapline.detect import conn_view
from pcapline.detect.close import detect
from pcapline.facts import compute_facts
from pcapline.model import EventKind, Side


def _run(c: Conversation):  # type: ignore[no-untyped-def]
    return detect(conn_view(compute_facts(segments(c)), 0))


def test_orderly_close_server_first() -> None:
    c = Conversation().handshake(0.0)
    c.fin(SERVER, 0.1).fin(CLIENT, 0.2).ack(SERVER, 0.3)
    r = _run(c).inferred
    assert r.closer is Side.SERVER and r.time_wait is Side.SERVER and r.ending_reset is None


def test_crossed_fins_are_both() -> None:
    c = Conversation().handshake(0.0)
    server_nxt = c.nxt(SERVER)
    c.fin(CLIENT, 0.1)
    c.fin(SERVER, 0.1001, ack=c.nxt(CLIENT) - 1)  # sent before it saw the client's FIN
    assert server_nxt
    assert _run(c).inferred.closer is Side.BOTH


def test_reset_after_idle_and_injected_ttl() -> None:
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.01, 10).ack(SERVER, 0.02)
    c.rst(SERVER, 30.0, ttl=250)
    d = _run(c)
    r = d.inferred.ending_reset
    assert r.side is Side.SERVER and r.state == "established" and round(r.idle_s, 1) == 30.0
    assert [e.kind for e in d.events] == [EventKind.INJECTED_RST_HINT]


def test_rst_followed_by_new_syn_ended_nothing() -> None:
    c = Conversation().syn(0.0)
    c.send(SERVER, 0.0001, 0x10, seq=777, ack=999)
    c.rst(CLIENT, 0.0002, with_ack=False, seq=999)
    c.syn(1.0).synack(1.0001).ack(CLIENT, 1.0002)
    assert _run(c).inferred.ending_reset is None
