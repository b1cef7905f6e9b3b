"""detect/keepalive.py: probes, keepalive ACKs, idle/interval/count inference."""

from __future__ import annotations

from builders.captures import CAPTURES
from builders.conversation import CLIENT, SERVER, Conversation
from builders.segments import segments

import pcapline
from pcapline.detect import conn_view
from pcapline.detect.keepalive import detect
from pcapline.facts import compute_facts
from pcapline.model import EventKind, Side


def _run(c: Conversation):  # type: ignore[no-untyped-def]
    return detect(conn_view(compute_facts(segments(c)), 0))


def test_unanswered_probes_then_prober_rst() -> None:
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.01, 10).ack(SERVER, 0.02)
    for t in (5.02, 8.02, 11.02):  # idle 5, interval 3, count 3
        c.probe(CLIENT, t)
    c.rst(CLIENT, 14.02)
    d = _run(c)
    k = d.inferred
    assert k.prober is Side.CLIENT
    assert (round(k.idle_s, 3), round(k.interval_s, 3), k.count) == (5.0, 3.0, 3)
    assert k.gave_up and k.rst_frame == 9
    assert k.as_inferred() == {"idle": 5.0, "interval": 3.0, "count": 3, "by": "client"}
    assert k.peer is None
    assert [e.kind for e in d.events] == [EventKind.KEEPALIVE] * 3


def test_answered_probes_are_healthy() -> None:
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.01, 10).ack(SERVER, 0.02)
    c.probe(CLIENT, 2.02).ack(SERVER, 2.021)
    c.probe(CLIENT, 4.021).ack(SERVER, 4.022)
    d = _run(c)
    k = d.inferred
    assert k.answered == 2 and k.unanswered_tail == 0 and k.count is None and k.interval_s is None
    assert round(k.idle_s, 3) == 2.0
    assert [e.kind for e in d.events] == [EventKind.KEEPALIVE, EventKind.KEEPALIVE_ACK] * 2


def test_both_sides_probing_keep_their_own_settings() -> None:
    # Each socket runs its own keepalive timer (audit 6: a Windows client every 30 s, the
    # server after 120 s): the server's idle counts from the last segment it received that was
    # not a probe (a probe lies below its window and restarts no timer), never merged.
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.01, 10).ack(SERVER, 0.02)
    c.probe(CLIENT, 30.02).ack(SERVER, 30.021)
    c.probe(CLIENT, 60.021).ack(SERVER, 60.022)
    c.probe(SERVER, 120.01).ack(CLIENT, 120.011)
    k = _run(c).inferred
    assert (k.prober, k.probes, k.answered) == (Side.SERVER, 1, 1)
    assert round(k.idle_s, 3) == 120.0  # from the client's data at 0.01, not its probe at 60.021
    assert k.peer is not None
    assert (k.peer.side, k.peer.probes, k.peer.answered) == (Side.CLIENT, 2, 2)
    assert round(k.peer.idle_s, 3) == 30.0
    assert k.peer.as_inferred() == {"by": "client", "idle": 30.0, "interval": None, "count": None}


def test_a_probe_right_after_answering_the_peers_probe_is_a_probe() -> None:
    """Both timers due together (smb_v2_only_non_zero_reserved1.pcap, docker-http-upgrade):
    the server probes, the client answers it, then sends its own probe 20 ms later. The
    server's probe lies below the client's window and restarts no timer of the client's
    (keepalive_time_elapsed counts from what it received): a keepalive, not an ACK. Each
    side's notes count from its own previous probe."""
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.01, 10).ack(SERVER, 0.02)
    c.probe(CLIENT, 30.02).ack(SERVER, 30.021)
    c.probe(SERVER, 45.0).ack(CLIENT, 45.0001)
    c.probe(CLIENT, 45.02).ack(SERVER, 45.021)
    c.probe(SERVER, 90.0).ack(CLIENT, 90.0001)
    d = _run(c)
    probes = [e for e in d.events if e.kind is EventKind.KEEPALIVE]
    assert [(e.side, e.note) for e in probes] == [
        (Side.CLIENT, "first probe"),
        (Side.SERVER, "first probe"),
        (Side.CLIENT, "15 s after the previous probe"),
        (Side.SERVER, "45 s after the previous probe"),
    ]
    k = d.inferred
    assert k.peer is not None and (k.peer.side, k.peer.probes) == (Side.CLIENT, 2)


def test_peer_answering_with_rst_is_recorded() -> None:
    c = Conversation().handshake(0.0)
    c.data(SERVER, 0.01, 10).ack(CLIENT, 0.02)
    c.probe(SERVER, 7200.0).rst(CLIENT, 7200.001, with_ack=False)
    assert _run(c).inferred.peer_rst_frame == 7


def test_probe_shaped_ack_sooner_than_one_second_is_not_keepalive() -> None:
    # TCP_KEEPIDLE and TCP_KEEPINTVL are >= 1 s on Linux: 85 ms after data it is just an ACK.
    c = Conversation().handshake(0.0)
    c.data(SERVER, 0.01, 1348).ack(CLIENT, 0.011)
    c.probe(SERVER, 0.096).ack(CLIENT, 0.0961)
    d = _run(c)
    assert d.inferred is None and d.events == ()


def test_capture_probe_85_ms_after_data_is_not_keepalive() -> None:
    # Frame 28: 0 bytes at snd.nxt - 1 (a window update) 85 ms after data; 29: its ACK.
    a = pcapline.analyze(str(CAPTURES / "probe-shaped-ack-85ms-after-data.pcap"))
    assert (
        not a.events[a.events.frame.isin([28, 29])].kind.isin(["keepalive", "keepalive_ack"]).any()
    )
    assert "keepalive" not in a.connections.set_index("id").loc[0, "explanation"]


def _verdict(c: Conversation):  # type: ignore[no-untyped-def]
    from builders.segments import connections

    from pcapline import classify, explain
    from pcapline.detect import run_all

    segs = segments(c)
    verdicts = explain.verdicts(classify.classify(segs, connections(segs), run_all(segs)))
    return next(iter(verdicts.values()))


def test_one_probe_then_rst_names_a_user_timeout_of_at_most_idle_plus_interval() -> None:
    """Real kernel (6.18): TCP_KEEPIDLE 2, TCP_KEEPINTVL 1, TCP_KEEPCNT 9, TCP_USER_TIMEOUT
    1500 ms, the peer gone: one probe at 2 s, the RST 1.02 s later (the next keepalive timer:
    elapsed >= user timeout with a probe out). With one probe there is no gap between probes,
    so the note naming both TCP_KEEPCNT = 1 and a user timeout was left out, and the reader
    was pointed at TCP_KEEPCNT 1 only. The probe -> RST gap is one TCP_KEEPINTVL, and a user
    timeout below TCP_KEEPIDLE fits too (the first probe always leaves)."""
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.01, 3).ack(SERVER, 0.011).data(SERVER, 0.012, 6).ack(CLIENT, 0.013)
    c.probe(CLIENT, 2.013)
    c.rst(CLIENT, 3.033)
    k = _run(c).inferred
    assert (k.count, k.interval_s, round(k.rst_after_s, 3)) == (1, None, 1.02)
    v = _verdict(c)
    assert v.fate == "keepalive_timeout"
    assert (
        "On the wire 1 unanswered probe and the abort 3.02 s after the last segment the client "
        "received fit TCP_KEEPCNT = 1"
    ) in v.explanation.text
    assert "TCP_USER_TIMEOUT of at most 3.02 s (even one below TCP_KEEPIDLE" in v.explanation.text


def test_a_capture_begun_inside_the_probe_series_gives_no_keepalive_count() -> None:
    """Real kernel (6.18), tcpdump -G 3 (a ring buffer): TCP_KEEPCNT 3, the first unanswered
    probe in the previous file; the last file holds two probes 1.02 s apart and the RST. It
    read "aborted with RST after 2 unanswered probe(s)", count 2 (as TCP_KEEPCNT)."""
    c = Conversation()
    c.probe(CLIENT, 0.0)
    c.probe(CLIENT, 1.024)
    c.rst(CLIENT, 2.048)
    k = _run(c).inferred
    assert (k.unanswered_tail, k.count, k.series_start_unseen) == (2, None, True)
    v = _verdict(c)
    assert v.fate == "keepalive_timeout"
    assert "aborted with RST after at least 2 unanswered probe(s)" in v.explanation.text
    assert "earlier probes, and so TCP_KEEPCNT, are not in it" in v.explanation.text


def test_a_half_closed_sockets_probes_after_its_acknowledged_fin_are_keepalive_probes() -> None:
    """Real kernel (6.18): the client (SO_KEEPALIVE, idle 1, interval 1, count 3) calls
    shutdown(SHUT_WR) after its answer; the server stays in CLOSE_WAIT, answers three probes,
    then vanishes. FIN_WAIT2 keeps the keepalive timer (tcp_keepalive_timer skips CLOSE and
    SYN_SENT only): 0-byte probes at the FIN's seq, then the give-up RST. The probes were
    ignored ("after its own FIN a side sends no probes") and the RST read as "an abortive close
    by its application or a proxy (SO_LINGER {1, 0}) ... Check the application logs"."""
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.001, 3).ack(SERVER, 0.002).data(SERVER, 0.003, 2).ack(CLIENT, 0.004)
    c.fin(CLIENT, 0.005).ack(SERVER, 0.044)
    for t in (1.056, 2.088, 3.112):
        c.probe(CLIENT, t).ack(SERVER, t + 0.0001)
    for t in (4.136, 5.160, 6.184):
        c.probe(CLIENT, t)
    c.rst(CLIENT, 7.208)
    k = _run(c).inferred
    assert (k.probes, k.answered, k.count, round(k.interval_s, 3)) == (6, 3, 3, 1.024)
    assert _verdict(c).fate == "keepalive_timeout"


def test_a_windows_garbage_byte_at_the_fins_seq_is_a_keepalive_not_a_resend() -> None:
    """Windows' keepalive is one byte at snd.nxt - 1; after its acknowledged FIN that is the
    FIN's own seq, where no data stands: it was read as a spurious retransmission."""
    from pcapline.model import ACK

    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.01, 100).ack(SERVER, 0.011).data(SERVER, 0.02, 500).ack(CLIENT, 0.021)
    c.fin(CLIENT, 0.5).ack(SERVER, 0.501)
    fin_seq = c.nxt(CLIENT) - 1
    for t in (2.5, 4.5, 6.5):
        c.send(CLIENT, t, ACK, seq=fin_seq, length=1).ack(SERVER, t + 0.001)
    facts = compute_facts(segments(c))
    assert facts.is_keepalive.tolist()[-6:] == [True, False] * 3
    assert not facts.is_retrans.any()
