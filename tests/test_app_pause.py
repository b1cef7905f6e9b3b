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
from pcapline.delays import Delays
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


def test_the_capture_points_loop_to_the_sender_is_not_the_senders(tmp_path: Path) -> None:
    """At the client, 100 ms each way from the server: the client's ACK of the first half
    leaves at 0.41 s and reaches the server at 0.51 s, which writes the rest 1.5 s later; it
    arrives at 2.11 s. Seen here 1.7 s apart, less the loop: the server's own 1.5 s."""
    c = Conversation()
    c.syn(0.0).synack(0.2).ack(CLIENT, 0.2001)
    c.data(CLIENT, 0.3, 100)
    c.data(SERVER, 0.41, 1000).ack(CLIENT, 0.4101)
    c.data(SERVER, 2.1101, 1000).ack(CLIENT, 2.1102)
    d = _delays(tmp_path, c)
    assert d.app_pause_s == pytest.approx(1.5, abs=1e-6) and d.app_pause_side is Side.SERVER


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
