"""A half-open probe whose tool sends data after its kernel's RST (a banner grab)."""

from __future__ import annotations

from builders.conversation import CLIENT, SERVER, Conversation
from builders.segments import connections, segments

from pcapline import classify, explain
from pcapline.detect import run_all


def _verdict(c: Conversation):  # type: ignore[no-untyped-def]
    segs = segments(c)
    decisions = classify.classify(segs, connections(segs), run_all(segs))
    return next(iter(explain.verdicts(decisions).values()))


def test_data_after_the_kernels_rst_is_the_scanners_not_an_application() -> None:
    """zeek modbus-and-non-modbus-p502: SYN, SYN+ACK, the client's bare RST at the SYN+ACK's
    ACK number 117 ms later (its kernel had no socket), then 15.6 s later 109 bytes at that
    same sequence number, which the server resets. It read "Reset by the client during the
    handshake. Check the application logs on that side": no application had a socket."""
    c = Conversation().syn(0.0).synack(0.000058)
    c.rst(CLIENT, 0.117322, with_ack=False, seq=c.nxt(CLIENT))
    c.data(CLIENT, 15.708457, 109)
    c.rst(SERVER, 15.708511, with_ack=False)
    verdict = _verdict(c)
    assert (verdict.fate, verdict.reset_by, verdict.cause) == ("reset", "client", "half_open_probe")
    text = verdict.explanation.text
    assert "The client's data after it (frame 4) came from no kernel socket either" in text
    assert "masscan --banners" in text
    assert "Check the application logs" not in text


def test_data_before_the_rst_is_no_probe() -> None:
    c = Conversation().syn(0.0).synack(0.000058)
    c.data(CLIENT, 0.05, 10)
    c.rst(CLIENT, 0.117322, with_ack=False, seq=c.nxt(CLIENT))
    assert _verdict(c).cause is None
