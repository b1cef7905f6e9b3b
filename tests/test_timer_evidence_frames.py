"""The frames a keepalive or persist timeout rests on (``Decision.evidence_frames``) when no
RST ends it: the prober's unanswered probes and the peer's last word before them, on crafted
packets with a real kernel's timings (Linux 6.x in network namespaces)."""

from __future__ import annotations

from builders.conversation import CLIENT, SERVER, Conversation
from builders.segments import connections, segments

from pcapline import classify, explain
from pcapline.detect import run_all


def _verdict(c: Conversation, capture_end_s: float):  # type: ignore[no-untyped-def]
    segs = segments(c)
    found = run_all(segs, capture_end_ns=int(capture_end_s * 1e9))
    decisions = classify.classify(segs, connections(segs), found)
    return next(iter(explain.verdicts(decisions).values()))


def test_a_keepalive_timeout_without_rst_names_its_unanswered_probes() -> None:
    """TCP_KEEPIDLE 2, TCP_KEEPINTVL 1: the server's reply (frame 6) is the last thing the
    client hears; its probes at 2.04, 3.06 and 4.09 s (frames 8-10) go unanswered and the
    capture ends 0.4 s after the last, before the RST: three unanswered probes are the
    death (MIDWAY_THRESHOLD), and those four frames are what it rests on."""
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.027, 100).ack(SERVER, 0.0271)
    c.data(SERVER, 0.037, 100).ack(CLIENT, 0.0373)
    for t in (2.041, 3.065, 4.089):
        c.probe(CLIENT, t)
    verdict = _verdict(c, capture_end_s=4.5)
    assert (verdict.fate, verdict.reset_by) == ("keepalive_timeout", None)
    assert verdict.evidence_frames == (6, 8, 9, 10)


def test_a_silent_persist_timeout_names_the_closed_window_and_the_unanswered_probes() -> None:
    """tcp_retries2=2: the receiver advertises window 0 (frame 7) and then answers nothing;
    the sender probes 0.21, 0.65 and 1.51 s later (frames 8-10) and frees the socket without
    a RST (tcp_probe_timer -> tcp_write_err). The window-0 ACK and the three probes are the
    evidence; before, the list was empty."""
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.010, 1448).data(CLIENT, 0.0101, 1448).data(CLIENT, 0.0102, 1448)
    c.ack(SERVER, 0.050, window=0)
    for t in (0.262, 0.698, 1.562):
        c.probe(CLIENT, t)
    verdict = _verdict(c, capture_end_s=6.0)
    assert verdict.fate == "persist_timeout"
    assert verdict.evidence_frames == (7, 8, 9, 10)


def test_the_peers_own_probes_are_not_the_last_word_a_keepalive_timeout_names() -> None:
    """Both sides probe: the server's probe at 1.0 s (frame 8, answered by frame 9) lies below
    the client's window and restarts no idle timer of the client's, so the client's unanswered
    probes (frames 10-12) are named with the server's data of frame 6, the last segment that
    did."""
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.027, 100).ack(SERVER, 0.0271)
    c.data(SERVER, 0.037, 100).ack(CLIENT, 0.0373)
    c.probe(SERVER, 1.0).ack(CLIENT, 1.0001)
    for t in (2.041, 3.065, 4.089):
        c.probe(CLIENT, t)
    verdict = _verdict(c, capture_end_s=4.5)
    assert verdict.fate == "keepalive_timeout"
    assert verdict.evidence_frames == (6, 10, 11, 12)
