"""Verdicts the audit of real corpus captures found wrong (problems 5, 6, 7, 8, 10), asserted on
the corpus captures read in place (never copied into the repository); each rule also has a
unit test on crafted segments next to its module's tests."""

from __future__ import annotations

from typing import Any

import pytest
from needs import CORPUS, CORPUS_MARKS

import pcapline

pytestmark = list(CORPUS_MARKS)


def _connections(rel: str) -> dict[int, dict[str, Any]]:
    doc = pcapline.analyze(str(CORPUS / rel)).to_dict()
    return {c["id"]: c for c in doc["connections"]}


@pytest.mark.parametrize(
    ("rel", "stream", "by", "idle", "peer_by", "peer_idle"),
    [
        # a Windows 10 client probes every 30 s, the Windows SMB server after 120 s idle
        ("arkime/wireshark-smb-on-windows10.pcap", 7, "server", 120.007, "client", 30.004),
        ("zeek/smb/smb_v2_only_non_zero_reserved1.pcap", 1, "client", 29.982, "server", 120.004),
    ],
)
def test_keepalives_of_both_sides_are_each_their_own(
    rel: str, stream: int, by: str, idle: float, peer_by: str, peer_idle: float
) -> None:
    inferred = _connections(rel)[stream]["inferred"]
    assert inferred["keepalive"]["by"] == by and inferred["keepalive"]["idle"] == idle
    assert inferred["keepalive_peer"]["by"] == peer_by
    assert inferred["keepalive_peer"]["idle"] == peer_idle


def test_a_reply_to_the_servers_bye_is_no_request_the_client_gave_up_on() -> None:
    # arkime/gtp-iphone.pcap stream 2: the server's SIP BYE (frame 80) 10.5 s after the
    # client's last data, the client's 200 OK (frame 86) answering it, the client's FIN 32 s
    # later (frame 92): an idle close, not a client that gave up waiting.
    c = _connections("arkime/gtp-iphone.pcap")[2]
    assert (c["fate"], c["closer"], c["cause"]) == ("closed", "client", None)
    assert "gave up waiting" not in c["explanation"]


@pytest.mark.parametrize(("stream", "rst_frame"), [(0, 30), (1, 33)])
def test_a_windows_rst_at_the_next_backoff_step_is_the_stack_giving_up(
    stream: int, rst_frame: int
) -> None:
    # arkime/CVE-2018-6794.pcap: a Windows client's request and FIN resent at 0.3 .. 4.8 s
    # gaps, never acknowledged, then its RST 9.59 s (2 x 4.8 s) after the last copy.
    c = _connections("arkime/CVE-2018-6794.pcap")[stream]
    assert (c["fate"], c["reset_by"]) == ("retransmit_timeout", "client")
    assert f"sent RST (frame {rst_frame})" in c["explanation"]
    assert "its TCP stack gave up retransmitting" in c["explanation"]
    assert "application aborted" not in c["explanation"]


def test_a_stateless_rst_after_the_servers_own_rst_is_no_injection_hint() -> None:
    # zeek/ssh/ssh.pcap stream 4: the server's RST+ACK (frame 264, IP ID continuing its
    # counter), then its RST without ACK (265) from the socket-less stack, an unrelated IP ID.
    c = _connections("zeek/ssh/ssh.pcap")[4]
    assert (c["fate"], c["reset_by"], c["cause"]) == ("reset", "server", None)
    assert not [e for e in c["events"] if e["kind"] == "injected_rst_hint"]
    assert "injected" not in c["explanation"]


def test_the_first_rst_that_ended_it_not_a_later_answer_carries_the_verdict() -> None:
    # zeek/tcp/rst-inject-rae.pcap: a forged RST (frame 2, TTL 46) during the handshake; the
    # server's RST+ACK (7, TTL 49) ends the connection; the client's crossing data (8) draws
    # the socket-less stack's RST (9). Frame 7 ended it; the TTL hint stays with frame 2.
    c = _connections("zeek/tcp/rst-inject-rae.pcap")[0]
    assert (c["fate"], c["reset_by"], c["cause"]) == ("reset", "server", None)
    assert c["explanation"].startswith("Reset by the server (frame 7)")
    assert "its TTL" not in c["explanation"] and "frame 2 (TTL 46" in c["explanation"]
    assert "later RST(s) (frame(s) 9)" in c["explanation"]


def test_the_request_line_names_the_client_of_a_mid_stream_capture() -> None:
    # pcapplusplus/examples/http-packets.pcap: no handshake captured, all 12 connections
    # between 172.16.30.190 (ports 8868...) and 172.16.210.84:31600; the GETs come from
    # 172.16.30.190 (frame 33: 8870 -> 31600), the 200s from port 31600. Ids stay tshark's.
    conns = _connections("pcapplusplus/examples/http-packets.pcap")
    assert len(conns) == 12
    for c in conns.values():
        assert c["client"]["ip"] == "172.16.30.190" and c["server"]["port"] == 31600
        assert c["client_guessed"] and c["app"]["http"]["method"] == "GET"
    assert conns[2]["client"]["port"] == 8870


@pytest.mark.parametrize(
    "rel", ["arkime/ldap-simpleauth.pcap", "zeek/ldap/simpleauth-diff-port.pcap"]
)
def test_a_boxs_rst_after_minutes_of_silence_is_its_idle_timer(rel: str) -> None:
    # The handshake was answered in the client's name by a box (TTL 251 on the SYN and the
    # bare ACK, 52 on the client's data); 181 s after the last segment a RST with TTL 251
    # answers nothing: the box's idle timer, not a firewall's reject. It read injected_rst.
    c = _connections(rel)[0]
    assert (c["fate"], c["cause"]) == ("reset", "middlebox_idle_timeout")
    assert "after 181 s idle, answering nothing" in c["explanation"]
