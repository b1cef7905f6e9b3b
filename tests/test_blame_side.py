"""Verdicts that must blame the right side: the one that gave up, not the one that still owed
an answer; and words that claim no more than the capture holds."""

from __future__ import annotations

from typing import Any

from builders.conversation import CLIENT, SERVER, Conversation, pcap_bytes
from builders.frames import ethernet, ipv4, tcp
from builders.segments import connections, segments

import pcapline
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


def _server_closes_after_request(after_s: float) -> Conversation:
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.01, 27).ack(SERVER, 0.0101)
    c.fin(SERVER, 0.01 + after_s).fin(CLIENT, 0.0105 + after_s).ack(SERVER, 0.011 + after_s)
    return c


def test_a_server_that_closed_on_an_unanswered_request_is_not_closed_normally() -> None:
    """The real-kernel shape (a proxy whose backend was dead): the client's request
    acknowledged, 2.5 s of silence, the server's FIN with no byte of an answer. The fate is
    closed (both FINs), the words must say the request went unanswered."""
    v = verdict(_server_closes_after_request(2.5))
    assert (v.fate, v.closer, v.confidence) == ("closed", "server", "proven")
    text = v.explanation.text
    assert "Closed normally" not in text
    assert text.startswith(
        "Closed: the server closed first (FIN, frame 6) 2.5 s after the client's last data "
        "(frame 4), which its kernel acknowledged (frame 5), without sending anything after "
        "it; the client then closed its side. The server waited 2.5 s, then closed without "
        "answering: if that data asked for an answer, the request failed"
    )
    assert "A last message that needs no answer (a QUIT, a logout, a notification)" in text


def test_a_close_right_after_the_clients_last_message_claims_nothing() -> None:
    """A QUIT answered by the server's close at once: without an HTTP request recognised, the
    packets cannot tell it from a failure, so the close stays normal."""
    v = verdict(_server_closes_after_request(0.0005))
    assert v.explanation.text.startswith("Closed normally: the server sent the first FIN")


class _Http(Conversation):
    """A conversation whose client data segments carry an HTTP request."""

    def frame_bytes(self, row: dict[str, Any]) -> bytes:
        if not (row["from_client"] and row["seg_len"]):
            return super().frame_bytes(row)
        payload = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
        assert len(payload) == row["seg_len"]
        segment = tcp(40000, 80, row["seq"], row["ack"], row["flags"], row["window"], b"", payload)
        return ethernet(ipv4(segment, "10.0.0.1", "10.0.0.2", ttl=64, ident=row["ip_id"]))


def test_an_http_request_closed_on_at_once_is_said_unanswered(tmp_path: Any) -> None:
    """The real-kernel shape of a proxy refused by its backend: GET acknowledged, the proxy's
    FIN 0.2 ms later, no response. The recognised HTTP request with no response is the proof
    that an answer was owed, however soon the close came."""
    c = _Http().handshake(0.0)
    c.data(CLIENT, 0.01, 27).ack(SERVER, 0.0101)
    c.fin(SERVER, 0.0102).fin(CLIENT, 0.0103).ack(SERVER, 0.0104)
    path = tmp_path / "refused-backend.pcap"
    path.write_bytes(pcap_bytes(c))
    v = pcapline.analyze(str(path)).verdicts[0]
    assert (v.fate, v.closer) == ("closed", "server")
    assert v.explanation.text.startswith(
        "Closed: the server closed first (FIN, frame 6) 0.2 ms after the client's HTTP request "
        "(frame 4) without a response: its kernel acknowledged the request (frame 5) and no "
        "byte of a response came; the client then closed its side. The connection closed "
        "cleanly but the request failed"
    )
    assert "QUIT" not in v.explanation.text


def test_a_close_after_server_bytes_the_capture_lacks_claims_nothing() -> None:
    """The server's FIN sits past bytes of its the capture never held (its answer, lost at the
    capture point): nothing says the request went unanswered."""
    c2 = Conversation().handshake(0.0)
    c2.data(CLIENT, 0.01, 27).ack(SERVER, 0.0101)
    c2.data(SERVER, 1.0, 500, captured=False)
    c2.fin(SERVER, 2.51).fin(CLIENT, 2.5105).ack(SERVER, 2.511)
    v = verdict(c2)
    assert v.fate == "closed"
    assert "without sending anything" not in v.explanation.text


def _deferred(client_first: bool) -> Conversation:
    """A TCP_DEFER_ACCEPT listener: the bare handshake ACK ignored, the SYN+ACK resent 7.1 s
    later (its held-back timer), the client's ACK again, then the conversation."""
    c = Conversation().handshake(0.0)
    c.synack(7.1155).ack(CLIENT, 7.1156)
    if client_first:
        c.data(CLIENT, 7.2, 20).ack(SERVER, 7.2001).data(SERVER, 7.21, 16).ack(CLIENT, 7.2101)
    else:  # a server that speaks first (an SMTP banner), then the client's QUIT
        c.data(SERVER, 7.1158, 16).ack(CLIENT, 7.1159).data(CLIENT, 7.1196, 6).ack(SERVER, 7.1197)
    c.fin(SERVER, 7.1198).fin(CLIENT, 7.1275).ack(SERVER, 7.1276)
    return c


def test_a_deferred_accept_in_front_of_a_server_that_speaks_first_is_named() -> None:
    """The real-kernel shape (server nstat TcpExtTCPDeferAcceptDrop 1, no listen overflow):
    the client's QUIT after the banner used to turn the TCP_DEFER_ACCEPT reading off ("the
    client never sent data"), leaving "that ACK was lost, or ... a full accept queue"."""
    v = verdict(_deferred(client_first=False))
    text = v.explanation.text
    assert "the client had sent no data before that: a listener with TCP_DEFER_ACCEPT" in text
    assert "Its first resend came 7.12 s after the first SYN+ACK, later than the 1 s" in text
    assert "The server spoke first once the connection went on" in text


def test_data_before_the_resend_rules_out_a_deferred_accept() -> None:
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.01, 20)
    c.synack(1.0).ack(CLIENT, 1.0001).ack(SERVER, 1.0002)
    c.data(SERVER, 1.01, 16).ack(CLIENT, 1.0101)
    c.fin(SERVER, 1.02).fin(CLIENT, 1.03).ack(SERVER, 1.04)
    text = verdict(c).explanation.text
    assert "TCP_DEFER_ACCEPT" not in text
    assert "that ACK was lost, or dropped by a briefly full accept queue" in text


def test_a_reset_in_a_capture_begun_inside_the_connection_is_no_connect_scan() -> None:
    """No SYN captured: "neither side having sent data" is unknown (the connection may have
    carried data before the capture began), so no connect-scan words. (A capture that began
    2 s after the connect, real kernel.)"""
    # (The server's ISN is the real capture's: with the server's side not captured, the
    # RST's ACK number cannot show data flowed.)
    c = Conversation(server_isn=3643251126).handshake(0.0)
    c.rows.clear()  # the opening happened before the capture began
    c.ack(CLIENT, 2.0)
    c.rst(CLIENT, 3.02)
    v = verdict(c)
    assert (v.fate, v.reset_by) == ("reset", "client")
    assert "connect scan" not in v.explanation.text
    full = Conversation().handshake(0.0)
    full.rst(CLIENT, 1.2)
    assert "a connect scan (nmap -sT)" in verdict(full).explanation.text


def test_bare_acks_one_below_a_later_rst_are_keepalive_probes_without_the_opening() -> None:
    """The keepalive timeout seen from a capture begun inside the connection: three identical
    bare ACKs about 1 s apart (TCP_KEEPINTVL), then the RST one sequence number higher. The
    probes sit at snd.nxt - 1, the RST at snd.nxt (tcp_send_active_reset): the RST tells the
    snd.nxt the capture never showed."""
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.5, 100).ack(SERVER, 0.51).data(SERVER, 0.6, 50).ack(CLIENT, 0.61)
    c.rows.clear()  # captured from 2 s on
    nxt = c.nxt(CLIENT)
    for t in (2.0, 3.02, 4.04):
        c.ack(CLIENT, t, seq=nxt - 1)
    c.rst(CLIENT, 5.06, seq=nxt)
    v = verdict(c)
    assert v.fate == "keepalive_timeout"
    assert v.counts.keepalive_probes == 3
    assert "connect scan" not in v.explanation.text
    # One bare ACK before the RST is not enough to call it a probe.
    one = Conversation().handshake(0.0)
    one.data(CLIENT, 0.5, 100).ack(SERVER, 0.51)
    one.rows.clear()
    one.ack(CLIENT, 2.0, seq=one.nxt(CLIENT) - 1)
    one.rst(CLIENT, 3.02, seq=one.nxt(CLIENT))
    assert verdict(one).fate == "reset"


def test_a_server_only_capture_knows_the_client_isn_from_the_synack() -> None:
    """Only the server's side captured: its SYN+ACK acknowledges the client's ISN + 1, so its
    later ACK of 18 bytes proves the handshake done and data received; the RST came while
    established, not "during the handshake". (The server's ISN is unimportant; the client's
    is the real capture's order of magnitude, where the raw ACK number read against base 0
    never looked like data.)"""
    c = Conversation(client_isn=3_000_000_000)
    c.syn(0.0, captured=False)
    c.synack(0.0001)
    c.ack(CLIENT, 0.0002, captured=False)
    c.data(CLIENT, 0.0003, 18, captured=False)
    c.ack(SERVER, 0.0004)
    c.rst(SERVER, 0.3)
    v = verdict(c)
    assert (v.fate, v.reset_by) == ("reset", "server")
    assert "during the handshake" not in v.explanation.text
    assert v.explanation.text.startswith("Reset by the server (frame 3) while established")


def test_a_one_sided_close_whose_last_ack_may_hold_the_peers_fin_names_no_first_closer() -> None:
    """Only the server's side: its last ACK that moved covers the client's last data and,
    as far as the capture can tell, the client's FIN with it; then the server's FIN. Saying
    "the server sent FIN, the client had not" claimed an order the capture does not show."""
    c = Conversation()
    c.syn(0.0, captured=False).synack(0.0001).ack(CLIENT, 0.0002, captured=False)
    c.data(CLIENT, 0.01, 1000, captured=False).ack(SERVER, 0.011)
    c.data(CLIENT, 0.02, 712, captured=False).fin(CLIENT, 0.02, captured=False)
    c.ack(SERVER, 0.021)
    c.data(SERVER, 0.03, 11).fin(SERVER, 0.035)
    v = verdict(c)
    assert v.fate == "half_closed"
    text = v.explanation.text
    assert "whether the client closed first is not known" in text
    assert "the client had not sent its FIN" not in text
