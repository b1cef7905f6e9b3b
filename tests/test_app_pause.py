"""app_pause.py: a side whose application paused mid-message, nothing in TCP holding it.

The real-kernel sample (slow-app-pause-mid-answer: http.server sleeping 1.5 s in the middle
of its second answer's body) is asserted from its expected file in tests/test_samples.py;
here: small crafted conversations for each rule (everything acknowledged, room in the
window, nothing from the peer between, the capture point's loop, the judgement).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from builders.conversation import CLIENT, SERVER, Conversation, pcap_bytes

import pcapline
from pcapline.app_pause import Pauses, app_pauses
from pcapline.delays import Delays
from pcapline.detect.handshake import handshake_loops
from pcapline.facts import NewData
from pcapline.model import Side, SlowTag

SAMPLES = Path(__file__).resolve().parents[1] / "sample_captures"
REQUEST = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"


def _answer(
    *,
    ack_at: float = 0.0201,
    window: int = 65535,
    peer_speaks: bool = False,
    seen: bool = True,
) -> Conversation:
    """Captured at the server (a 0.2 ms loop to the client): a request at 10 ms, the
        server's first half at 20 ms (acknowledged at ``ack_at``, ``window`` left), its second
        half at 1.52 s, then another turn; ``peer_speaks``: the client sends data at 1 s (``seen``:
    and the capture holds it)."""
    c = Conversation()
    c.syn(0.0).synack(0.0).ack(CLIENT, 0.0002)
    c.data(CLIENT, 0.010, 100)
    c.data(SERVER, 0.020, 1000).ack(CLIENT, ack_at, window=window)
    if peer_speaks:
        c.data(CLIENT, 1.0, 10, captured=seen)
    c.data(SERVER, 1.52, 1000).ack(CLIENT, 1.5201)
    return c.data(CLIENT, 1.6, 100).data(SERVER, 1.61, 500)


def _delays(tmp_path: Path, c: Conversation) -> Delays:
    path = tmp_path / "c.pcap"
    path.write_bytes(pcap_bytes(c))
    return pcapline.analyze(path).delays[0]


def test_a_pause_with_everything_acknowledged_and_the_window_open(tmp_path: Path) -> None:
    d = _delays(tmp_path, _answer())
    assert d.app_pause_s == pytest.approx(1.52 - 0.0201, abs=1e-6)  # the ACK -> the rest
    assert d.app_pause_side is Side.SERVER


def test_a_sender_waiting_on_an_ack_or_a_small_window_did_not_pause(tmp_path: Path) -> None:
    """The first half acknowledged only 10 ms before the second left: the server may have
    waited on that ACK (a congestion window, Nagle), so only those 10 ms are its own; a
    window left too small for a full-sized segment holds the sender (silly window syndrome
    avoidance): no pause at all."""
    late = _delays(tmp_path, _answer(ack_at=1.51))
    assert late.app_pause_s == pytest.approx(0.01, abs=1e-4)
    small = _delays(tmp_path, _answer(window=500))
    assert (small.app_pause_s, small.app_pause_side) == (0.0, None)


def test_data_from_the_peer_in_between_makes_a_turn_not_a_pause(tmp_path: Path) -> None:
    """Seen, or only acknowledged by the second half (lost at the capture point: a corpus
    capture with drops showed a 14 s "pause" answering a request the tap missed)."""
    for seen in (True, False):
        d = _delays(tmp_path, _answer(peer_speaks=True, seen=seen))
        assert (d.app_pause_s, d.app_pause_side) == (0.0, None), seen


def _far_from_the_server(*, b_sent: float, b_arrives: float, unseen: int = 0) -> Conversation:
    """Captured at the client, 100 ms each way from the server, both stamping (the server's
    clock: 1 ms ticks from its own send times). The server answers at 0.31 s (seen 0.41 s),
    the client ACKs at once (the server has it at 0.51 s); the second half leaves the server
    at ``b_sent`` and is seen at ``b_arrives``; ``unseen``: packets the server sent between
    that the capture never saw (copies lost before it: its IP IDs skip them)."""

    def stamp(sent: float) -> tuple[int, int]:
        return (5000 + round(sent * 1000), 0)

    c = Conversation()
    c.syn(0.0, timestamps=(1, 0)).synack(0.2, timestamps=stamp(0.1))
    c.ack(CLIENT, 0.2001, timestamps=(2, 0)).data(CLIENT, 0.3, 100, timestamps=(3, 0))
    c.data(SERVER, 0.41, 1000, timestamps=stamp(0.31)).ack(CLIENT, 0.4101, timestamps=(4, 0))
    for _ in range(unseen):
        c.send(SERVER, 1.0, 0, captured=False)  # only its IP ID counts
    c.data(SERVER, b_arrives, 1000, timestamps=stamp(b_sent))
    return c.ack(CLIENT, b_arrives + 0.0001, timestamps=(5, 0))


def test_far_from_the_side_its_ids_and_clock_prove_the_pause(tmp_path: Path) -> None:
    """At the client: the ACK leaves at 0.41 s and reaches the server at 0.51 s, which writes
    the rest 1.5 s later; it arrives at 2.11 s. Seen 1.7 s apart, less the loop: the
    server's own 1.5 s, its IP IDs consecutive and its clock 1.7 s on since the first half.
    The same arrival, but the server's clock shows both halves sent in the same millisecond:
    they waited in a queue on the path, not at the server (two ticks of the server's clock at
    most, its rate read over the connection, the queue included). Its IP IDs
    skipping packets the capture never saw (a tail resent on timeouts, lost before the
    capture point): the capture cannot prove a pause; none is counted."""
    real = _delays(tmp_path, _far_from_the_server(b_sent=2.0101, b_arrives=2.1101))
    assert real.app_pause_s == pytest.approx(1.5, abs=1e-6) and real.app_pause_side is Side.SERVER
    queued = _delays(tmp_path, _far_from_the_server(b_sent=0.311, b_arrives=2.1101))
    assert queued.app_pause_s is not None and queued.app_pause_s < 0.05  # two ticks at most
    resent = _delays(tmp_path, _far_from_the_server(b_sent=2.0101, b_arrives=2.1101, unseen=4))
    assert (resent.app_pause_s, resent.app_pause_side) == (0.0, None)
    unstamped = _far_from_the_server(b_sent=2.0101, b_arrives=2.1101)
    for row in unstamped.rows:
        row["has_ts"] = False
    assert _delays(tmp_path, unstamped).app_pause_s == 0.0  # no clock: not proven away


def _pauses(tmp_path: Path, c: Conversation) -> Pauses:
    path = tmp_path / "c.pcap"
    path.write_bytes(pcap_bytes(c))
    facts = pcapline.analyze(path).facts
    assert facts is not None
    return app_pauses(facts, NewData.of(facts), handshake_loops(facts)[1])


def test_judged_only_mid_answer_when_the_client_asked_again_with_the_answer(
    tmp_path: Path,
) -> None:
    """Judged (the tag's measure): a server pause between a request and the client's next
    request that acknowledges it. A timeout reply crossing the client's next request (sent
    before the reply reached it: it does not acknowledge it) is no paused answer; a longer
    pause of the client's own does not hide a judged one."""
    assert _pauses(tmp_path, _answer()).judged_s[0] == pytest.approx(1.4999, abs=1e-6)
    c = Conversation()
    c.syn(0.0).synack(0.0).ack(CLIENT, 0.0002)
    c.data(CLIENT, 0.01, 100).data(SERVER, 0.02, 1000).ack(CLIENT, 0.0201)
    c.data(SERVER, 5.02, 100)  # "408 Request Timeout", 5 s on: a pause, no answer paused
    c.data(CLIENT, 5.0201, 100, ack=c.nxt(SERVER) - 100)  # the next request, sent before it
    raced = _pauses(tmp_path, c)
    assert raced.seconds[0] == pytest.approx(5.0, abs=1e-3) and raced.judged_s[0] == 0.0
    c = Conversation()

    def stamp(t: float) -> tuple[int, int]:  # the client's clock (seen at the server)
        return (100 + round(t * 1000), 0)

    c.syn(0.0, timestamps=stamp(0.0)).synack(0.0).ack(CLIENT, 0.0002, timestamps=stamp(0.0))
    c.data(CLIENT, 0.01, 100, timestamps=stamp(0.01)).ack(SERVER, 0.011)
    c.data(CLIENT, 3.0, 100, timestamps=stamp(3.0))  # a slow upload's last part, 3 s on
    c.data(SERVER, 3.01, 1000).ack(CLIENT, 3.0101, timestamps=stamp(3.01))
    c.data(SERVER, 4.51, 1000).ack(CLIENT, 4.5101, timestamps=stamp(4.51))
    c.data(CLIENT, 4.6, 100, timestamps=stamp(4.6))
    both = _pauses(tmp_path, c)
    assert both.side[0] == 1 and both.seconds[0] == pytest.approx(2.989, abs=1e-3)
    assert both.judged_s[0] == pytest.approx(1.4999, abs=1e-3)


def test_without_a_handshake_round_trip_the_pause_is_unknown(tmp_path: Path) -> None:
    c = _answer()
    c.rows = c.rows[3:]  # the capture began after the handshake
    d = _delays(tmp_path, c)
    assert d.app_pause_s is None and d.app_pause_side is None and d.slow == ()


def test_tagged_only_mid_answer_on_http_when_the_answer_ended(tmp_path: Path) -> None:
    """The raw bytes of the crafted conversation show no request/response protocol: the
    pause is measured, not judged. The sample's HTTP/1.1 answers are; its pause earns
    app_pause, and the explanation says whose and where to look."""
    assert _delays(tmp_path, _answer()).slow == ()
    analysis = pcapline.analyze(SAMPLES / "slow-app-pause-mid-answer.pcap")
    d = analysis.delays[0]
    assert d.slow == (SlowTag.APP_PAUSE,) and d.app_pause_side is Side.SERVER
    assert d.response_max_s is not None and d.response_max_s < 0.1  # each answer began at once
    words = analysis.connections.loc[0, "explanation"]
    assert "the server's application paused 1.5 s in the middle of an answer" in words
    lenient = pcapline.analyze(
        SAMPLES / "slow-app-pause-mid-answer.pcap",
        slow=pcapline.SlowThresholds(response_s=2.0),
    )
    assert lenient.delays[0].slow == ()
