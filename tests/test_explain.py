"""explain.py: explanations carry the numbers and the settings to check."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import analysed
import pytest

sys.path.insert(0, str(Path(__file__).parent / "detect"))
from builders.conversation import CLIENT, SERVER, Conversation
from builders.segments import verdict_table

from pcapline import explain
from pcapline.model import Fate, Side


def _row(*convs: Conversation):  # type: ignore[no-untyped-def]
    return verdict_table(*convs).iloc[0]


def test_connect_timeout_names_schedule_retries_and_give_up() -> None:
    c = Conversation()
    for t in (0, 1, 2, 3, 4, 5, 7, 11):
        c.syn(float(t))
    row = _row(c, Conversation(conn=1).syn(40.0))
    text = row.explanation
    assert "8 SYNs at 0, 1, 2, 3, 4, 5, 7, 11 s" in text
    assert "linear then doubling" in text and "about 3 retries" in text
    assert "gave up at about 19 s" in text
    assert "tcp_syn_retries" in text and "nft list ruleset" in text
    assert row.inferred["syn"]["give_up_s"] == 19.0


def _given_up_syns(times: tuple[float, ...]) -> str:
    c = Conversation()
    for t in times:
        c.syn(t)
    row = _row(c, Conversation(conn=1).syn(60.0))
    assert row.fate == "connect_timeout"
    return str(row.explanation)


def test_connect_timeout_the_time_limit_ended_names_both_limits() -> None:
    """A 6.18 kernel with TCP_SYNCNT=2 (tcp_syn_linear_timeouts=4) sent 6 SYNs 1 s apart and
    failed at 7.1 s: the 7 s time limit, before the count limit (2 + 4 = 6 retries). It said
    "about 5 retries"; with TCP_SYNCNT=1 (3 SYNs, 3.1 s) it said no timer ran out."""
    two = _given_up_syns((0.0, 1.0, 2.0, 3.0, 4.0, 5.0))
    assert "about 2 retries (TCP_SYNCNT or net.ipv4.tcp_syn_retries = 2)" in two
    assert "the count (2 plus net.ipv4.tcp_syn_linear_timeouts, default 4, retries)" in two
    assert "the time (7 s from the first SYN" in two
    assert "the time limit comes first, after 5 retries 1 s apart, at about 7 s" in two
    assert "Or no timer ran out: the application's own connect timeout closed" in two
    assert "the capture cannot tell them apart; no further SYN came." in two
    assert "about 5 retries" not in two
    one = _given_up_syns((0.0, 1.0, 2.0))
    assert "about 1 retry (TCP_SYNCNT or net.ipv4.tcp_syn_retries = 1)" in one
    assert "the time (3 s from the first SYN" in one and "at about 3 s. Or no timer" in one
    assert "only 2 retries" not in one
    four = _given_up_syns((0.0, 1.0, 2.0, 3.0))
    assert "only 3 retries 1 s apart, where no Linux setting stops" in four
    assert "No timer ran out here" in four and "tcp_syn_linear_timeouts was lowered" not in four


def test_retransmit_timeout_says_no_rst_on_linux_give_up() -> None:
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.01, 100)
    seq = c.nxt(CLIENT) - 100
    t = 0.01
    for gap in (0.2, 0.4, 0.8):
        t += gap
        c.data(CLIENT, t, 100, seq=seq)
    row = _row(c, Conversation(conn=1).syn(t + 20))
    assert row.fate == "retransmit_timeout"
    assert "without a RST" in row.explanation and "tcp_retries2" in row.explanation
    assert "200 ms, 400 ms, 800 ms" in row.explanation


def _series_then_client_rst(rst_after_last_copy: float):  # type: ignore[no-untyped-def]
    """A Windows-like client: request, FIN, the request resent at 0.3, 0.6, 1.2 s gaps, never
    acknowledged, then its RST ``rst_after_last_copy`` s after the last copy."""
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.01, 100).fin(CLIENT, 0.011)
    seq = c.nxt(CLIENT) - 101
    t = 0.01
    for gap in (0.3, 0.6, 1.2):
        t += gap
        c.data(CLIENT, t, 100, seq=seq)
    c.rst(CLIENT, t + rst_after_last_copy)
    return _row(c)


def test_a_rst_at_the_next_backoff_step_is_the_stack_giving_up() -> None:
    # Audit 8 (CVE-2018-6794): the RST came when the next timer was due (2 x 1.2 s): the
    # stack's give-up (Windows TcpMaxDataRetransmissions), the application had closed (FIN).
    row = _series_then_client_rst(2.4)
    assert row.fate == "retransmit_timeout" and row.reset_by == "client"
    text = row.explanation
    assert "2.4 s after its last copy, when the next backoff step was due (2.4 s)" in text
    assert "its TCP stack gave up retransmitting" in text
    assert "not its application, which had closed already (FIN, frame 5)" in text
    assert "application aborted" not in text


def test_a_rst_off_the_backoff_schedule_is_an_abort() -> None:
    row = _series_then_client_rst(0.5)
    assert row.fate == "retransmit_timeout"
    assert "500 ms after its last copy, off the backoff schedule" in row.explanation
    assert "stack gave up" not in row.explanation


def test_an_injected_hint_is_said_of_the_rst_that_carries_it() -> None:
    # Audit 10 (rst-inject-rae): a forged RST early (TTL 50) does not make the server's own
    # RST that ended the connection (TTL 63) "possibly injected".
    c = Conversation().syn(0.0).synack(0.0005, ttl=63).ack(CLIENT, 0.001)
    c.rst(SERVER, 0.002, ttl=50)
    for k in range(2):
        c.data(CLIENT, 0.01 + k * 0.01, 10).ack(SERVER, 0.015 + k * 0.01, ttl=63)
    c.rst(SERVER, 2.0, ttl=63)
    row = _row(c)
    assert row.fate == "reset" and row.evidence_frames == [9]
    assert "its TTL" not in row.explanation
    assert "; another RST in the sender's name looks injected: frame 4 (TTL 50" in row.explanation


def test_a_rst_with_unread_data_says_how_long_after_that_data() -> None:
    """close() with unread data sends the RST when the application closes: right after the
    data, or a minute later (retransmit-fast009.pcap said "right after receiving data" of a
    RST 60 s after the last data)."""

    def reset_after(wait_s: float) -> str:
        c = Conversation().handshake(0.0)
        c.data(CLIENT, 0.01, 10).data(SERVER, 0.02, 20).ack(CLIENT, 0.03)
        c.rst(CLIENT, 0.02 + wait_s)
        row = _row(c)
        assert row.fate == "reset"
        return str(row.explanation)

    assert "RST instead of FIN right after receiving data" in reset_after(0.05)
    assert "RST instead of FIN 30 s after its peer's last data" in reset_after(30.0)


def test_syns_the_server_answered_at_once_were_not_dropped() -> None:
    """zeek ssh.pcap stream 18, captured by the server: three SYNs 0.11 s apart, each
    answered by a SYN+ACK within 50 us, then the client's ACKs. The SYNs arrived: the
    answers were lost or late on the way back, and 0.11 s is no SYN timer. (It said "the
    first SYN(s) were dropped ... check the listen queue" and "linear: every 0.11 s (Linux
    6.5+ tcp_syn_linear_timeouts)".)"""
    c = Conversation()
    for k in range(3):
        c.send(CLIENT, 0.11 * k, 2, seq=c.client_isn)
        c.send(SERVER, 0.11 * k + 0.00005, 2 | 16, seq=c.server_isn, ack=c.client_isn + 1)
    c.ack(CLIENT, 0.5)
    c.data(CLIENT, 0.6, 10).ack(SERVER, 0.61)
    row = _row(c)
    assert row.inferred["syn"]["schedule"] == "no timer: 110 ms apart, sooner than any SYN timer"
    assert "although the server had answered every earlier one with a SYN+ACK" in row.explanation
    assert "the SYNs or the answers were held up (a queue), or the answers lost" in row.explanation
    assert "were dropped" not in row.explanation and "listen queue" not in row.explanation
    assert "The server sent its SYN+ACK" not in row.explanation


def test_a_lone_syn_past_linuxs_first_retry_is_not_proven_still_connecting() -> None:
    """zeek nmap-vsn.pcap: a lone SYN with 1.8 s of capture after it was "open, proven: the
    capture stopped before the first retry was due". Linux's was due after 1 s and never
    came: still connecting only on a stack that waits 3 s; the confidence says unknown."""
    lone = Conversation()
    lone.send(CLIENT, 0.0, 2, seq=lone.client_isn)
    other = Conversation(conn=1, client=("10.0.0.3", 40002)).handshake(0.0).data(CLIENT, 1.8, 10)
    row = _row(lone, other)
    assert (row.fate, row.confidence, list(row.caveats)) == ("open", "unknown", ["lone_syn"])
    assert "no retry in the 1.8 s the capture went on, though Linux retries after 1 s" in (
        row.explanation
    )
    soon = Conversation(conn=1, client=("10.0.0.3", 40003)).handshake(0.0).data(CLIENT, 0.9, 10)
    row = _row(lone, soon)  # 0.9 s: no retry was due yet, nor is anything proven
    assert (row.fate, row.confidence, list(row.caveats)) == ("open", "unknown", ["capture_ended"])
    assert "the capture stopped before the first retry was due" in row.explanation


def test_a_syn_the_server_never_answered_was_dropped_though_later_ones_were_answered() -> None:
    """Captured at the server: SYN at 0 unanswered, SYN at 1 answered, the server's own
    SYN+ACK timer at 2, SYN at 3 answered. The first SYN was dropped (the listen-queue
    advice stands); counting SYN+ACKs said the server had answered every earlier one."""
    c = Conversation()
    c.send(CLIENT, 0.0, 2, seq=c.client_isn)
    c.send(CLIENT, 1.0, 2, seq=c.client_isn)
    c.send(SERVER, 1.0001, 2 | 16, seq=c.server_isn, ack=c.client_isn + 1)
    c.send(SERVER, 2.0001, 2 | 16, seq=c.server_isn, ack=c.client_isn + 1)
    c.send(CLIENT, 3.0, 2, seq=c.client_isn)
    c.send(SERVER, 3.0001, 2 | 16, seq=c.server_isn, ack=c.client_isn + 1)
    c.ack(CLIENT, 3.0002)
    c.data(CLIENT, 3.1, 10).ack(SERVER, 3.11)
    row = _row(c)
    assert "the first SYN(s) were dropped" in row.explanation
    assert "had answered every earlier one" not in row.explanation


def test_healthy_texts_are_shared_and_name_time_wait() -> None:
    a = explain.healthy(Fate.CLOSED, Side.CLIENT, False)
    assert "client holds TIME_WAIT" in a.text and a.label == "Closed normally"
    assert a.headline == "the client sent the first FIN, the server answered with its own"
    assert a.text.startswith("Closed normally: the client sent the first FIN")
    assert str(explain.healthy(Fate.CLOSED, Side.BOTH, False)).startswith(
        "Closed normally: both sides"
    )
    assert "CLOSE_WAIT" in str(explain.healthy(Fate.HALF_CLOSED, Side.CLIENT, False))
    started = explain.healthy(Fate.OPEN, None, True)
    assert started.headline == "Capture began inside this connection (no SYN seen)"
    assert started.text == (
        "Capture began inside this connection (no SYN seen). Still open when the capture "
        "ended: no FIN or RST, nothing unusual."
    )


def test_a_one_sentence_explanation_keeps_its_full_stop_in_the_headline() -> None:
    # The terminal's "why" column shows the headline: the whole sentence when that is all.
    still = explain.healthy(Fate.OPEN, None, False)
    assert (still.label, still.headline, still.body) == (
        "Still open when the capture ended",
        "no FIN or RST, nothing unusual.",
        "",
    )
    assert still.text == "Still open when the capture ended: no FIN or RST, nothing unusual."


def test_refused_mentions_listener_and_firewall() -> None:
    row = _row(Conversation().syn(0.0).rst(SERVER, 0.001))
    assert "ss -lnt" in row.explanation and "REJECT" in row.explanation


def test_unanswered_fin_of_the_active_closer_says_fin_not_data() -> None:
    # The client closes first; its FIN is never acknowledged and is resent with backoff
    # (FIN_WAIT1, tcp_orphan_retries): a dying connection, but no data was outstanding.
    c = Conversation().handshake(0.0)
    c.fin(CLIENT, 0.01)
    seq = c.nxt(CLIENT) - 1
    t = 0.01
    for gap in (0.2, 0.4, 0.8):
        t += gap
        c.fin(CLIENT, t, seq=seq)
    row = _row(c, Conversation(conn=1).syn(t + 10.0))
    assert row.fate == "retransmit_timeout"
    assert "sent the same FIN (no data) 4 times" in row.explanation


def test_stale_peer_rst_before_the_handshake_does_not_spoil_the_close() -> None:
    # Real-kernel sample: the client's RST (frame 12) cleared the server's stale state before
    # connection 1's handshake; connection 1 then closed normally and its text must say so.
    import pcapline

    sample = (
        Path(__file__).resolve().parents[1] / "sample_captures" / "stale-peer-challenge-ack.pcap"
    )
    conn = pcapline.analyze(sample).connections.set_index("id").loc[1]
    assert conn["fate"] == Fate.CLOSED
    assert conn["explanation"].startswith("Closed normally: the client sent the first FIN")
    assert "RST(s) followed" not in conn["explanation"]
    assert "challenge ACK, frame 11" in conn["explanation"]


SAMPLES = Path(__file__).resolve().parent.parent / "sample_captures"


def test_a_rst_after_silence_that_answers_nothing_is_an_abort_not_lost_state() -> None:
    """A keep-alive server's idle timeout closing with SO_LINGER {1, 0} (real kernel): its
    RST+ACK comes 2 s after the client's last ACK. It read "it answered the peer's first
    segment after a long silence: that host no longer had this connection", for a RST that
    answered nothing (a RST answering a segment follows it within the round trip)."""
    import pcapline

    row = pcapline.analyze(str(SAMPLES / "reset-idle-timeout-linger0.pcap")).connections.iloc[0]
    assert (row.fate, row.reset_by, row.cause) == ("reset", "server", None)
    assert "after 2 s of silence. It answered nothing captured: an abortive close" in (
        row.explanation
    )
    assert "no longer had this connection" not in row.explanation


@pytest.mark.parametrize(
    ("rst_after", "with_ack", "words"),
    [
        (3.0, True, "It answered nothing captured: an abortive close"),
        (3.0, False, "Without the ACK bit it answers a segment the capture lacks"),
        (0.005, True, None),  # right after the peer's data: it may answer it
    ],
)
def test_a_rst_long_after_the_peers_last_segment_answers_nothing(
    rst_after: float, with_ack: bool, words: str | None
) -> None:
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.01, 100).data(SERVER, 0.02, 500).ack(CLIENT, 0.03)
    c.rst(SERVER, 0.03 + rst_after, with_ack=with_ack)
    text = _row(c).explanation
    if words is None:
        assert "answered nothing captured" not in text and "capture lacks" not in text
    else:
        assert words in text


@pytest.mark.parametrize("with_ack", [True, False])
def test_a_connection_of_rsts_only_blames_no_application(with_ack: bool) -> None:
    """A RST and nothing else of its 4-tuple (a capture begun just before it, backscatter):
    it read "Reset by the client while established, proven. Check the application logs"."""
    from pcapline.model import CAVEATS

    c = Conversation()
    c.rst(CLIENT, 1.0, with_ack=with_ack, seq=5000)
    row = _row(c)
    assert (row.fate, row.confidence, list(row.caveats)) == ("reset", "unknown", ["rst_only"])
    assert row.explanation.startswith(
        "Reset: a RST from the client (frame 1) is all the capture holds of this connection"
    )
    assert "application logs" not in row.explanation and "established" not in row.explanation
    assert ("RFC 793 reset generation" in row.explanation) is (not with_ack)
    assert "rst_only" in CAVEATS


def test_a_client_reset_before_any_data_names_scans_and_health_checks() -> None:
    """Connect, send nothing, reset (real kernel: a TCP health check closing with SO_LINGER
    {1, 0}, as nmap -sT does): it read only "check the application logs". An abort after data
    (reset-client-linger0) is not told so."""
    import pcapline

    checks = pcapline.analyze(str(SAMPLES / "connect-checks-at-server.pcap")).connections
    resets = checks[checks.fate == "reset"]
    assert len(resets) >= 3
    for text in resets.explanation:
        assert "neither side having sent data: a connect scan (nmap -sT) or a TCP health" in text
    other = pcapline.analyze(str(SAMPLES / "reset-client-linger0.pcap")).connections
    assert "neither side having sent data" not in other.explanation.iloc[0]


@pytest.mark.parametrize(
    ("times", "confidence", "caveats", "give_up_s"),
    [
        # crafted SYNs (zeek tcp/option-sack.pcap): the gaps shrink, no SYN timer does that
        ((0.0, 6.45, 9.29, 12.1), "unknown", ["capture_ended", "irregular_retries"], None),
        # Linux doubling from 1 s, cut by the end of the capture: a backoff's shape
        ((0.0, 1.0, 3.0, 7.0), "likely", ["capture_ended"], 15.0),
    ],
)
def test_syn_retries_with_no_timers_shape_predict_no_give_up(
    times: tuple[float, ...], confidence: str, caveats: list[str], give_up_s: float | None
) -> None:
    c = Conversation()
    for t in times:
        c.syn(t)
    row = _row(c, Conversation(conn=1).syn(times[-1] + 0.5))
    assert (row.fate, row.confidence, list(row.caveats)) == ("connect_timeout", confidence, caveats)
    assert row.inferred["syn"]["give_up_s"] == give_up_s
    assert ("would give up at about" in row.explanation) is (give_up_s is not None)


def test_data_unanswered_after_the_peers_fin_says_a_host_would_have_answered() -> None:
    """The client's FIN, then the server's last data retransmitted with backoff and never
    answered (zeek tls/xmpp-dialback-starttls, pppoe-over-qinq): a peer answers data after its
    FIN (ACK or RST), so the silence is its host gone or the path dropping the flow."""
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.01, 100).data(SERVER, 0.02, 100).fin(CLIENT, 0.5)
    c.ack(SERVER, 0.5005)
    seq = c.nxt(SERVER)
    t = 0.6
    for gap in (0.0, 0.3, 0.6, 1.2, 2.4):
        t += gap
        c.data(SERVER, t, 31, seq=seq)
    row = _row(c, Conversation(conn=1).syn(t + 3.0))
    assert row.fate == "retransmit_timeout"
    assert "The client had sent its FIN before (frame 6)" in row.explanation
    assert "a host answers data, with an ACK or a RST: none came" in row.explanation
    assert "The peer or the path is gone" not in row.explanation


def test_a_stateless_rst_in_a_capture_begun_mid_stream_blames_no_application(
    tmp_path: Path,
) -> None:
    """The real-kernel sample of a server that lost its connection (restarted: its kernel
    answers the client's data with a RST without ACK, seq = the data's ACK number), captured
    from the first data on: ``peer_lost_state`` needs the opening, but the RST's shape still
    says that the server host held no connection for the segment (RFC 793 reset generation),
    not that its application aborted one (a live socket's RST carries ACK). It read "Check the
    application logs on that side around this time"."""
    import numpy as np
    from builders.capture_files import rewrite

    import pcapline
    from pcapline.read import read_capture

    sample = SAMPLES / "peer-lost-state-ipv6-at-client.pcap"
    frames = read_capture(str(sample)).time_ns
    keep = np.arange(len(frames)) >= 3  # the handshake's three frames cut away
    cut = tmp_path / "mid-stream.pcapng"
    rewrite(sample, keep, cut)
    row = pcapline.analyze(str(cut)).connections.iloc[0]
    assert (row.fate, row.reset_by, row.cause) == ("reset", "server", None)
    assert "It carries no ACK bit and takes its sequence number from the client's segment it " in (
        row.explanation
    )
    assert (
        "That host had closed the connection before (the capture began inside the connection)"
        in (row.explanation)
    )
    assert "Check: when the server last restarted or failed over" in row.explanation
    assert "application logs" not in row.explanation


def test_a_syn_sent_socket_refusing_a_bare_ack_points_at_a_stale_connection() -> None:
    # RFC 9293 3.10.7.3: in SYN-SENT an ACK that does not acknowledge the SYN draws
    # <SEQ=SEG.ACK><CTL=RST>; a server still holding an older connection on the 4-tuple
    # answers the new SYN with such an ACK (a challenge ACK, RFC 5961 4).
    c = Conversation().syn(0.0)
    c.send(SERVER, 0.001, 0x10, seq=77_000, ack=123_456)
    c.rst(CLIENT, 0.0011, with_ack=False, seq=123_456)
    row = _row(c)
    assert (row.fate, row.reset_by) == ("reset", "client")
    assert "the RST of a SYN-SENT socket refusing an ACK that does not acknowledge its SYN" in (
        row.explanation
    )
    assert "a TIME_WAIT socket" in row.explanation
    assert row.explanation.endswith(
        "TIME-WAIT ones included (ss -tan), for one with this client address and port."
    )


def test_a_reset_with_a_cause_has_only_the_causes_check() -> None:
    # Real kernel: the server's keep-alive idle timeout closed the connection while the
    # client sent a request; the fix is on the client, not in the server's logs.
    import pcapline

    row = pcapline.analyze(str(SAMPLES / "keepalive-race-idle-close-at-server.pcap")).connections
    text = row.set_index("id").loc[0, "explanation"]
    assert "Fix on the client" in text
    assert "Check the application logs" not in text


@pytest.mark.parametrize(
    ("acked_at_end", "stuck"),
    [(False, True), (True, False)],
)
def test_last_ack_is_stuck_only_while_no_ack_of_the_resent_fin_follows(
    acked_at_end: bool, stuck: bool
) -> None:
    # RFC 9293 3.10.7.4: LAST-ACK ends when the FIN's ACK arrives. The server FINs first and
    # resends its FIN twice on ACKs (not its timer); the client's FIN is resent twice. Stuck
    # only when nothing acknowledges the client's FIN after its last copy, and the count is
    # the passive closer's resends (2), not both sides' (4).
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.01, 100).ack(SERVER, 0.02)
    server_fin = c.nxt(SERVER)
    c.fin(SERVER, 0.1)
    c.fin(SERVER, 0.11, seq=server_fin).fin(SERVER, 0.12, seq=server_fin)
    client_fin = c.nxt(CLIENT)
    c.fin(CLIENT, 0.2)
    c.fin(CLIENT, 0.4, seq=client_fin).fin(CLIENT, 0.8, seq=client_fin)
    if acked_at_end:
        c.ack(SERVER, 0.81)
    row = _row(c, Conversation(conn=1).syn(5.0))
    assert row.fate == "closed"
    assert ("stuck in LAST_ACK" in row.explanation) is stuck
    if stuck:
        assert "retransmitted its FIN 2 time(s)" in row.explanation


@pytest.mark.parametrize(("echo", "late"), [(100, True), (1100, False)])
def test_a_synack_echoing_an_earlier_syn_proves_that_syn_arrived(echo: int, late: bool) -> None:
    # RFC 7323 / tcp_synack_options: the SYN+ACK's TSecr is the TSval of the first SYN the
    # listener got. Echoing the first of two SYNs, it proves the first was not dropped; echoing
    # the resent one, the first may have been.
    c = Conversation()
    c.send(CLIENT, 0.0, 0x02, seq=c.client_isn, timestamps=(100, 0))
    c.send(CLIENT, 1.0, 0x02, seq=c.client_isn, timestamps=(1100, 0))
    c.send(SERVER, 1.4, 0x12, seq=c.server_isn, ack=c.client_isn + 1, timestamps=(9, echo))
    c.ack(CLIENT, 1.401, timestamps=(1500, 9))
    c.data(CLIENT, 1.41, 100, timestamps=(1510, 9)).ack(SERVER, 1.42, timestamps=(20, 1510))
    row = _row(c)
    assert ("echoes the timestamp of the SYN of frame 1" in row.explanation) is late
    assert ("the first SYN(s) were dropped" in row.explanation) is not late
    if late:
        assert "The first SYN+ACK came 1.4 s after that SYN." in row.explanation


def test_a_real_kernels_synack_answering_the_first_syn_after_a_retry() -> None:
    """Real kernel, 3 % loss on the path: connection 3's first SYN+ACK was lost; the client
    resent its SYN after 1 s and the listener answered with a SYN+ACK echoing the FIRST SYN's
    timestamp (tcp_check_req keeps req->ts_recent). It read "the first SYN(s) were dropped
    (... check the listen queue)": the SYN had arrived."""
    import pcapline

    row = pcapline.analyze(str(SAMPLES / "lossy-40-connections-3pct-drop.pcap")).connections
    text = row.set_index("id").loc[3, "explanation"]
    assert "echoes the timestamp of the SYN of frame 380" in text
    assert "were dropped" not in text


@pytest.mark.parametrize("server_closed_first", [False, True])
def test_a_rst_without_ack_is_no_applications_abort(server_closed_first: bool) -> None:
    # zeek ssl.v3 / mpls-basic: a RST without the ACK bit, its sequence number past what the
    # capture holds (its own, not the answered ACK's): no Linux or Windows abort (those carry
    # ACK, tcp_send_active_reset) and no host without the connection (that one takes the
    # ACK's number): a stack that still knew it refused the segment. It read "close() with
    # unread received data ... check the application logs".
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.01, 100).data(SERVER, 0.02, 500).ack(CLIENT, 0.03)
    if server_closed_first:  # then a late bare ACK (data would be TCPAbortOnData's)
        c.fin(SERVER, 0.04).ack(CLIENT, 0.05).ack(CLIENT, 17.0)
    else:
        c.data(CLIENT, 17.0, 23)
    c.rst(SERVER, 17.18, with_ack=False, seq=c.nxt(SERVER) + 24)
    row = _row(c)
    assert (row.fate, row.reset_by) == ("reset", "server")
    assert "It carries no ACK bit, which Linux's and Windows' aborts carry" in row.explanation
    assert "the server's stack still knew the connection" in row.explanation
    assert "unread received data" not in row.explanation
    assert "application logs" not in row.explanation and "restarted" not in row.explanation
    assert ("it had closed (its FIN came first)" in row.explanation) is server_closed_first


@pytest.mark.parametrize(
    ("quiet_s", "ttl", "cause"),
    [(181.0, 251, "middlebox_idle_timeout"), (2.0, 251, None), (181.0, 63, "injected_rst")],
)
def test_an_injected_rst_after_a_long_silence_is_a_middlebox_timer(
    quiet_s: float, ttl: int, cause: str | None
) -> None:
    # A RST in the client's name with a TTL none of the client's packets carry (they have
    # 64), answering nothing after minutes of silence: a load balancer's or firewall's idle
    # timer reset the flow. After 2 s it is no idle timeout: the injected-RST words stay. One
    # hop fewer (63) may be the client's own RST after a route change during the silence:
    # no middlebox timer is named.
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.01, 100).data(SERVER, 0.02, 500).ack(CLIENT, 0.03)
    c.rst(CLIENT, 0.03 + quiet_s, ttl=ttl)
    row = _row(c)
    assert row.fate == "reset"
    if cause == "middlebox_idle_timeout":
        assert row.cause == cause
        assert "answering nothing" in row.explanation
    else:
        assert row.cause == "injected_rst"
        assert "idle timer" not in row.explanation


@pytest.mark.parametrize("client_data", [None, "after", "before"])
def test_synack_resent_after_a_bare_ack_names_defer_accept_when_no_data_came(
    client_data: str | None,
) -> None:
    # zeek var-services-std-ports #2: the client's bare ACK, the SYN+ACK again 4 s later, no
    # data ever: a listener with TCP_DEFER_ACCEPT ignores a bare ACK (tcp_check_req). Data
    # after the resend (an answer to a server that speaks first) does not rule it out; data
    # before it does (a deferring listener accepts on data).
    c = Conversation().handshake(0.0)
    if client_data == "before":
        c.data(CLIENT, 0.5, 100)
    c.send(SERVER, 4.0, 0x12, seq=c.server_isn, ack=c.client_isn + 1)
    c.ack(CLIENT, 4.001)
    if client_data == "after":
        c.data(CLIENT, 4.01, 100).ack(SERVER, 4.02)
    elif client_data == "before":
        c.ack(SERVER, 4.002)
    c.fin(SERVER, 20.0).fin(CLIENT, 20.01).ack(SERVER, 20.02)
    row = _row(c)
    assert row.fate == "closed"
    assert ("TCP_DEFER_ACCEPT" in row.explanation) is (client_data != "before")


def test_all_dsacked_resends_are_worded_as_no_loss_by_what_sent_them() -> None:
    """RFC 2883: every resend D-SACKed, so nothing was lost; the words say why each went
    out (a probe timeout, reordering, a late ACK past the RTO), never "losses recovered"."""
    from pcapline.detect.retransmit import Retransmissions
    from pcapline.explain import _all_dsacked, _dsack_words

    probes = Retransmissions(0, 0, 2, 0, None, None, dsacked=2, dsacked_probes=2)
    assert _all_dsacked(probes) == (
        "all D-SACKed: nothing was lost, the receiver's ACK came after the sender's probe "
        "timeout (tail loss probe, RFC 8985)"
    )
    fast = Retransmissions(0, 0, 1, 0, None, None, dsacked=1, dsacked_fast=1)
    assert "the path reordered segments" in _all_dsacked(fast)
    mixed = Retransmissions(1, 0, 2, 0, None, None, dsacked=2, dsacked_timeouts=1, dsacked_probes=1)
    words = _dsack_words(mixed)
    assert "1 tail loss probe(s) or fast retransmit(s) as duplicates" in words
    assert "1 of the 2 resent after a timeout" in words


def test_unanswered_resends_in_a_data_only_capture_are_not_called_unacknowledged(
    tmp_path: Path,
) -> None:
    # pcapplusplus tls2 / Ftp / Smtp: a capture filtered to data segments (no bare segment in
    # it at all) cannot show whether a resend was acknowledged: it read "never acknowledged".
    from builders.conversation import pcap_bytes

    import pcapline

    c = Conversation()
    c.data(CLIENT, 0.0, 100).data(SERVER, 0.01, 500).data(CLIENT, 0.02, 100)
    resend_at = c.nxt(SERVER)
    c.data(SERVER, 0.03, 300)
    c.data(SERVER, 0.3, 300, seq=resend_at)
    path = tmp_path / "data-only.pcap"
    path.write_bytes(pcap_bytes(c))
    text = str(pcapline.analyze(str(path)).connections.iloc[0].explanation)
    assert "cannot be seen (the capture holds no bare ACKs" in text
    assert "never acknowledged" not in text


def test_resends_with_nothing_from_the_peer_do_not_blame_the_capture(tmp_path: Path) -> None:
    # A ring-buffer file began inside a connection whose server had gone quiet: three copies
    # of the client's data, nothing of the server's. It read "the server's direction was not
    # captured", though the other connection shows both directions were.
    from builders.conversation import pcap_bytes

    import pcapline

    quiet = Conversation(conn=0)
    for t in (0.0, 0.8, 2.4):
        quiet.data(CLIENT, t, 1000, seq=quiet.client_isn + 1)
    both = Conversation(conn=1, client=("10.0.0.1", 40001)).handshake(0.1)
    both.data(CLIENT, 0.2, 100).data(SERVER, 0.3, 200)
    path = tmp_path / "quiet.pcap"
    path.write_bytes(pcap_bytes(quiet, both))
    text = str(pcapline.analyze(str(path)).connections.iloc[0].explanation)
    assert (
        "(the capture holds nothing the server sent in this connection: its direction was not "
        "captured, or it sent nothing)"
    ) in text
    assert "direction was not captured)" not in text


def test_a_rst_in_a_capture_filtered_on_flags_claims_no_silence(tmp_path: Path) -> None:
    # A keepalive give-up filtered with 'tcp[tcpflags] & (tcp-syn|tcp-fin|tcp-rst) != 0': the
    # SYN, the SYN+ACK and the client's RST 5 s later. The data, ACKs and probes between are
    # the filter's: it read "while established, neither side having sent data" / "after 5.11 s
    # of silence ... answered nothing captured: an abortive close", and "during the handshake"
    # before that, though the RST's seq and ACK show data had flowed both ways.
    from builders.conversation import pcap_bytes

    import pcapline

    c = Conversation().syn(0.0).synack(0.0005).ack(CLIENT, 0.001, captured=False)
    c.data(CLIENT, 0.01, 100, captured=False).data(SERVER, 0.02, 500, captured=False)
    c.rst(CLIENT, 5.1)
    path = tmp_path / "flags-only.pcap"
    path.write_bytes(pcap_bytes(c))
    text = str(pcapline.analyze(str(path)).connections.iloc[0].explanation)
    assert "while established, 5.1 s after the last segment this filtered capture kept" in text
    assert "silence" not in text and "neither side" not in text and "answered nothing" not in text


def test_a_boxs_rst_after_a_complete_close_leaves_the_close_as_it_was() -> None:
    # zeek Teredo #1: both FINs acknowledged, then 16 s later a RST in the server's name
    # with TTL 255 (the server's packets have 53). It read "so this close did not end in the
    # usual TIME_WAIT", blaming the server's kernel.
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.01, 100, ttl=53).data(SERVER, 0.02, 500, ttl=53).ack(CLIENT, 0.03)
    c.fin(SERVER, 4.0, ttl=53).ack(CLIENT, 4.001).fin(CLIENT, 11.0).ack(SERVER, 11.1, ttl=53)
    c.rst(SERVER, 27.0, ttl=255)
    row = _row(c)
    assert row.fate == "closed"
    assert "a middlebox's" in row.explanation
    assert "did not end in the usual TIME_WAIT" not in row.explanation


def test_one_keepalive_probe_then_the_abort_names_the_interval() -> None:
    # Real kernel, TCP_KEEPIDLE 1, TCP_KEEPINTVL 1, TCP_KEEPCNT 1: one probe, no gap between
    # probes; the RST one interval after it is the timer's next firing. It read "sent
    # keepalive probes after 1 s idle; they went unanswered" with no interval.
    row = analysed.whole(SAMPLES / "keepalive-client-idle1-intvl1-cnt1.pcap").connections.iloc[0]
    assert row["fate"] == "keepalive_timeout"
    text = row["explanation"]
    interval = r"(9\d\d ms|1(\.\d+)? s)"  # 1 s, within the timer's jitter
    assert re.search(f"the client sent a keepalive probe after {interval} idle; it went", text)
    assert re.search(
        f"aborted with RST {interval} after it, .*\\(TCP_KEEPINTVL {interval}\\)", text
    )
    assert "TCP_KEEPCNT = 1" in text
