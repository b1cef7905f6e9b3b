"""nagle.py: small writes held by Nagle until the peer's delayed ACK.

The real-kernel sample (slow-nagle-delayed-ack: write-write-read rounds, Nagle on and with
TCP_NODELAY) is asserted from its expected file in tests/test_samples.py; here: what that
sample shows beyond the bounds, and small crafted conversations for each rule (the pure ACK,
the sender's reaction, the delayed ACK's time, partial segments only, no handshake round trip,
a resend before, the receiver's capture point).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from builders.conversation import CLIENT, SERVER, Conversation, pcap_bytes

import pcapline
from pcapline.model import Side, SlowTag, StallCause

SAMPLES = Path(__file__).resolve().parents[1] / "sample_captures"
SAMPLE = SAMPLES / "slow-nagle-delayed-ack.pcap"


def test_every_held_second_half_is_an_episode_and_the_nodelay_control_has_none() -> None:
    """Nagle on: each episode starts at a first half (60 B) and ends at the second half, which
    leaves the moment the server's pure ACK of the first arrives; each waited one delayed-ACK
    timer (TCP_DELACK_MIN, 40 ms, at jiffy resolution) and never as long as the 200 ms
    maximum. The TCP_NODELAY connection's halves leave together: no episode."""
    analysis = pcapline.analyze(SAMPLE)
    held, control = analysis.delays[0], analysis.delays[1]
    stalls = [s for s in held.stalls if s.cause is StallCause.NAGLE]
    assert len(stalls) == held.nagle_episodes == len(held.stalls)
    assert all(s.side is Side.CLIENT and s.recovered for s in stalls)
    assert all(0.036 <= s.seconds < 0.2 for s in stalls)
    assert all(a.end_ns <= b.start_ns for a, b in itertools.pairwise(stalls))
    assert held.nagle_s == pytest.approx(sum(s.seconds for s in stalls), abs=1e-9)
    assert SlowTag.NAGLE_STALL in held.slow
    assert control.nagle_episodes == 0 and control.nagle_s == 0.0 and control.stalls == ()


HALF = 60
RTT = 0.0005  # the handshake's round trip, captured at the client


def _conversation(*, handshake: bool = True) -> Conversation:
    c = Conversation()
    if handshake:
        c.handshake(0.0, rtt=RTT)
    return c


def _round(
    c: Conversation,
    t: float,
    *,
    ack_after: float = 0.040,
    then: float = 0.00003,
    second: int = HALF,
    peer_data: int = 0,
) -> Conversation:
    """The client sends a small first part at ``t``; the server's first word comes
    ``RTT + ack_after`` later (a pure ACK, or ``peer_data`` bytes); the client's second part
    (``second`` bytes) ``then`` after that; the server answers it at once."""
    c.data(CLIENT, t, HALF)
    at = t + RTT + ack_after
    if peer_data:
        c.data(SERVER, at, peer_data)
    else:
        c.ack(SERVER, at)
    c.data(CLIENT, at + then, second)
    return c.data(SERVER, at + then + RTT, 200).ack(CLIENT, at + then + RTT + 0.0001)


def _delays(tmp_path: Path, c: Conversation) -> pcapline.Analysis:
    path = tmp_path / "c.pcap"
    path.write_bytes(pcap_bytes(c))
    return pcapline.analyze(path)


def test_a_second_part_sent_the_moment_the_delayed_ack_came_was_held(tmp_path: Path) -> None:
    c = _round(_conversation(), 0.01)
    d = _delays(tmp_path, c).delays[0]
    assert d.nagle_episodes == 1
    (stall,) = d.stalls
    assert stall.cause is StallCause.NAGLE and stall.side is Side.CLIENT
    assert stall.frame == 4  # SYN, SYN+ACK, ACK, then the first part
    assert stall.seconds == pytest.approx(RTT + 0.040 + 0.00003, abs=1e-6)
    assert d.slow == ()  # one wait of 40 ms: measured, under the 0.2 s tag


def test_five_rounds_of_it_make_the_connection_slow(tmp_path: Path) -> None:
    c = _conversation()
    for k in range(5):
        _round(c, 0.01 + 0.1 * k)
    d = _delays(tmp_path, c).delays[0]
    assert d.nagle_episodes == 5
    assert d.nagle_s == pytest.approx(5 * (RTT + 0.040 + 0.00003), abs=1e-5)
    assert d.slow == (SlowTag.NAGLE_STALL,)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"then": 0.005}, "5 ms after the ACK: written later, not held (the kernel sends at once)"),
        ({"ack_after": 0.010}, "an ACK 10 ms past the round trip: no delayed-ACK timer"),
        ({"ack_after": 0.600}, "600 ms past the round trip: longer than any delayed ACK"),
        ({"peer_data": 30}, "the peer spoke: the second part may answer it"),
        ({"second": 1460}, "a full-sized second part: Nagle holds only partial segments"),
    ],
)
def test_no_episode_where_a_rule_fails(tmp_path: Path, change: dict[str, float], why: str) -> None:
    c = _round(_conversation(), 0.01, **change)  # type: ignore[arg-type]
    d = _delays(tmp_path, c).delays[0]
    assert d.nagle_episodes == 0 and d.nagle_s == 0.0, why


def test_without_a_handshake_round_trip_the_capture_cannot_tell(tmp_path: Path) -> None:
    """Mid-stream: no round trip to tell a delayed ACK from the path's own time."""
    analysis = _delays(tmp_path, _round(_conversation(handshake=False), 0.01))
    d = analysis.delays[0]
    assert d.nagle_s is None and d.nagle_episodes == 0 and d.slow == ()
    doc = json.loads(analysis.to_json())["connections"][0]["delays"]
    assert doc["nagle_s"] is None and doc["nagle_episodes"] == 0


def test_after_a_resend_the_wait_is_not_laid_on_nagle(tmp_path: Path) -> None:
    """A timeout leaves a congestion window of one segment, which holds the next segment until
    the ACK the same way: the sender resent its first part, so no episode is claimed."""
    c = _conversation()
    first = c.nxt(CLIENT)
    c.data(CLIENT, 0.005, HALF).ack(SERVER, 0.0056)
    c.data(CLIENT, 0.006, HALF, seq=first)  # a copy of the data already acknowledged
    d = _delays(tmp_path, _round(c, 0.01)).delays[0]
    assert d.nagle_episodes == 0


@pytest.mark.parametrize(
    ("echo", "held"), [(500, True), (90, False), (None, False)], ids=["echoed", "older", "none"]
)
def test_at_the_receivers_capture_point_the_held_part_echoes_the_ack(
    tmp_path: Path, echo: int | None, held: bool
) -> None:
    """Captured at the server: the first part arrives, the server's ACK leaves 40 ms later
    (TSval 500), the second part arrives one round trip (20 ms) after that. It was held for
    that ACK only if it echoes the ACK's TSval (RFC 7323: TSecr is the latest TSval its sender
    got); echoing an older one, it left before the ACK reached the client (a writer on its
    own timer); without timestamps, a capture away from the sender cannot tell."""
    rtt = 0.020
    c = Conversation()
    c.syn(0.0).synack(0.00001).ack(CLIENT, rtt)  # at the server: SYN+ACK at once, ACK one RTT on
    c.data(CLIENT, 0.05, HALF, timestamps=(1000, 90)).ack(SERVER, 0.09, timestamps=(500, 1000))
    stamps = None if echo is None else (1060, echo)
    c.data(CLIENT, 0.09 + rtt, HALF, timestamps=stamps).data(SERVER, 0.09 + rtt + 0.0001, 200)
    d = _delays(tmp_path, c).delays[0]
    assert d.nagle_episodes == int(held)
    if held:
        assert d.stalls[0].seconds == pytest.approx(0.040 + rtt, abs=1e-6)
    # an older echo proves B left before the ACK came (none); no echo proves nothing (unknown)
    assert (d.nagle_s is None) == (echo is None)
    assert (d.nagle_s == 0.0) == (echo == 90)


def _server_nagle_at_client(*, echo_the_ack: bool) -> Conversation:
    """audit-kernel46 s5, captured at the client: the handshake's loop to the server is 39 ms,
    the data's 30 ms (a path's first packets may take a slower way: a load balancer's or
    OVS's first-packet path). Five GETs; the server writes a 55 B header and a 300 B body,
    Nagle on: the header arrives a data round trip after the GET, the client's delayed ACK
    42 ms later, the body 30.4 ms after that, under nine tenths of the handshake's loop. The
    body's TSecr echoes the ACK's TSval (``echo_the_ack``) or the GET's."""
    c = Conversation()
    c.syn(0.0, timestamps=(100, 0)).synack(0.039, timestamps=(7000, 100))
    c.ack(CLIENT, 0.03901, timestamps=(139, 7000))
    for k in range(5):
        t, ms = 0.1 + 0.2 * k, 200 + 200 * k
        c.data(CLIENT, t, 80, timestamps=(ms, 7000 + ms))
        c.data(SERVER, t + 0.030, 55, timestamps=(7015 + ms, ms))
        c.ack(CLIENT, t + 0.072, timestamps=(ms + 72, 7015 + ms))
        c.data(SERVER, t + 0.1024, 300, timestamps=(7072 + ms, ms + 72 if echo_the_ack else ms))
        c.ack(CLIENT, t + 0.1025, timestamps=(ms + 102, 7072 + ms))
    return c


def test_a_body_echoing_the_ack_was_held_whatever_the_handshakes_loop(tmp_path: Path) -> None:
    """The body's TSecr proves it left after the ACK reached the server: the handshake's
    slower loop sets no floor under it. Echoing the GET's TSval instead, it left before the
    ACK got there: judged, none."""
    held = _delays(tmp_path, _server_nagle_at_client(echo_the_ack=True)).delays[0]
    assert held.nagle_episodes == 5
    assert [s.side for s in held.stalls] == [Side.SERVER] * 5
    assert held.nagle_s == pytest.approx(5 * 0.0724, abs=1e-5)
    assert held.slow == (SlowTag.NAGLE_STALL,)
    not_held = _delays(tmp_path, _server_nagle_at_client(echo_the_ack=False)).delays[0]
    assert not_held.nagle_episodes == 0 and not_held.nagle_s == 0.0


def test_the_server_is_the_side_that_waited_when_it_wrote_in_parts(tmp_path: Path) -> None:
    c = _conversation()
    c.data(CLIENT, 0.01, 100)  # the request
    c.data(SERVER, 0.011, 271).ack(CLIENT, 0.011 + RTT + 0.040)  # a first small write
    c.data(SERVER, 0.011 + RTT + 0.04003, 900)  # the rest of the answer, held
    d = _delays(tmp_path, c).delays[0]
    assert [(s.cause, s.side) for s in d.stalls] == [(StallCause.NAGLE, Side.SERVER)]


def test_both_ends_of_a_20ms_path_measure_the_same_waits() -> None:
    """The same connection captured at the client and at the server (a tun link holding each
    packet 10 ms each way): the held part leaves the client the moment the ACK arrives, and
    reaches the server a round trip after the ACK left it; from the first part to the second
    is the round trip plus the delayed ACK at either end, so both see the same waits."""
    ends = [
        pcapline.analyze(SAMPLES / f"slow-nagle-delayed-ack-20ms-path-at-{where}.pcap").delays[0]
        for where in ("client", "server")
    ]
    client, server = ([s.seconds for s in d.stalls if s.cause is StallCause.NAGLE] for d in ends)
    assert len(client) == len(server) == ends[0].nagle_episodes == ends[1].nagle_episodes
    assert all(abs(a - b) < 0.005 for a, b in zip(client, server, strict=True))
    rtt_s = (ends[0].handshake_rtt_ms or 0) / 1000
    assert all(rtt_s + 0.036 <= s < rtt_s + 0.2 for s in client)  # the round trip + the timer


def test_a_writer_on_its_own_timer_is_not_held_by_the_ack(tmp_path: Path) -> None:
    """Captured at the client over a 200 ms round trip: 60 B every 300 ms, each ACKed at once
    by the server. B - A less the round trip looks like a delayed ACK (100 ms), but B left
    100 ms after the ACK came: at the sender's capture point a held segment leaves at once."""
    rtt = 0.200
    c = Conversation()
    c.syn(0.0).synack(rtt).ack(CLIENT, rtt + 0.00001)
    for k in range(5):
        t = 0.5 + 0.3 * k
        c.data(CLIENT, t, HALF).ack(SERVER, t + rtt)
    d = _delays(tmp_path, c).delays[0]
    assert d.nagle_episodes == 0 and d.slow == ()


def test_a_request_sent_after_the_answer_is_not_held_by_the_ack_before_it(tmp_path: Path) -> None:
    """A slow server over a 50 ms round trip, captured at the client: its delayed ACK of each
    request, its answer 5 ms later, and the client's next request 0.5 ms after that. The
    request answers the server's data, not the ACK before it."""
    rtt = 0.050
    c = Conversation()
    c.syn(0.0).synack(rtt).ack(CLIENT, rtt + 0.00001)
    t = 0.1
    for _ in range(4):
        c.data(CLIENT, t, HALF).ack(SERVER, t + rtt + 0.040)
        c.data(SERVER, t + rtt + 0.045, 100)
        t += rtt + 0.0455
    d = _delays(tmp_path, c).delays[0]
    assert d.nagle_episodes == 0 and d.slow == ()


def test_a_wait_the_full_window_explains_is_counted_once(tmp_path: Path) -> None:
    """A 100 B window: the 60 B first part leaves 40 B of room, so the full window held the
    30 B second part (window_full.py) as much as Nagle did: the window wins, the seconds are
    counted once, whether or not a detector visited the connection."""
    c = Conversation(window=100)
    c.handshake(0.0, rtt=RTT)
    c.data(CLIENT, 0.01, HALF).ack(SERVER, 0.01 + RTT + 0.040, window=100)
    c.data(CLIENT, 0.01 + RTT + 0.04003, 30)
    d = _delays(tmp_path, c).delays[0]
    assert d.window_full_episodes == 1 and d.nagle_episodes == 0 and d.nagle_s == 0.0
    assert d.stalled_s == pytest.approx(d.window_full_s or 0.0, abs=1e-9)


def test_a_segment_that_crossed_the_ack_on_the_way_was_not_held_by_it(tmp_path: Path) -> None:
    """Captured at the client, 140 ms from the server (arkime's fbzero-android.pcap): the
    server's small segment, the client's delayed ACK 38 ms later, the server's next segment
    10 ms after that. The ACK needed 140 ms to reach the server and come back as B: B left
    before the ACK got there."""
    loop = 0.140
    c = Conversation()
    c.syn(0.0).synack(loop).ack(CLIENT, loop + 0.003)
    c.data(CLIENT, 0.2, 100).data(SERVER, 0.2 + loop, 38)
    c.ack(CLIENT, 0.2 + loop + 0.038).data(SERVER, 0.2 + loop + 0.048, 236)
    d = _delays(tmp_path, c).delays[0]
    assert d.nagle_episodes == 0
