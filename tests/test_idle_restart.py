"""idle_restart: slow start again after an idle, read by its round trips (small crafted
pieces; the kernel's own restart, and its absence with the sysctl at 0, are proven on the
real-kernel samples slow-idle-restart-at-client and slow-idle-no-restart-sysctl0-at-server).

Each conversation is seen at the client (the receiver): the server's rounds arrive one round
trip after the client's ACK of the round before's first segment, as ACK clocking makes them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from builders.conversation import CLIENT, SERVER, Conversation, pcap_bytes

import pcapline
from pcapline.delays import Delays

MSS = 1448
RTT = 0.1
#: What the server sent, per round trip, in the answer before the idle.
RAMP = [10, 20, 40, 80, 160]


def _answer(
    c: Conversation, t: float, rounds: list[int], jitter: list[float] | None = None
) -> float:
    """The server's answer, ``rounds[k]`` segments in round trip k, the client ACKing every
    two at once; round k + 1 arrives a round trip (plus ``jitter[k]``: a relay's or a host's
    delay) after the ACK of round k's first segment. Returns when the last ACK left."""
    for k, count in enumerate(rounds):
        first_ack = None
        for j in range(count):
            c.data(SERVER, t + j * 0.0002, MSS)
            if j % 2 or j == count - 1:
                at = t + j * 0.0002 + 0.00005
                c.ack(CLIENT, at)
                first_ack = at if first_ack is None else first_ack
        assert first_ack is not None
        t = first_ack + RTT + (jitter[k] if jitter else 0.0)
    return t


def _delays(
    tmp_path: Path, after: list[int], *, idle: float = 2.0, rtt: float = RTT, **kw: object
) -> Delays:
    c = Conversation(server=("10.0.0.2", 8080))
    c.syn(0.0, wscale=7).synack(rtt, wscale=7).ack(CLIENT, rtt)
    c.data(CLIENT, rtt + 0.001, 100)
    end = _answer(c, rtt + 0.001 + rtt, RAMP)
    c.data(CLIENT, end + idle, 100)
    _answer(c, end + idle + rtt, after, **kw)  # type: ignore[arg-type]
    path = tmp_path / "c.pcap"
    path.write_bytes(pcap_bytes(c))
    return pcapline.analyze(path).delays[0]


def test_a_window_restarted_after_idle_costs_the_round_trips_of_its_ramp(tmp_path: Path) -> None:
    """10, 20, 40, 80 segments before a round carries the 160 of before again: 4 round
    trips for 150 segments the old window sent in 1: 3 round trips lost."""
    d = _delays(tmp_path, RAMP)
    assert d.idle_restarts == 1
    assert d.idle_restart_s == pytest.approx(3 * RTT, abs=1e-6)
    r = d.idle_restart
    assert r is not None
    assert (r.first_segments, r.before_segments, r.rounds) == (10, 160, 4)
    # the server's silence: its last segment (159 x 0.2 ms into its last round) to its next,
    # a round trip after the request that came 2 s after the ACK that released that round
    assert r.idle_s == pytest.approx(0.00025 + RTT + 2.0 + RTT - 159 * 0.0002, abs=1e-6)
    assert "idle_restart" in d.slow


def test_rounds_are_cut_by_the_acks_not_by_a_fixed_period(tmp_path: Path) -> None:
    """Rounds shifted by a third of a round trip (a relay starved of CPU) are still rounds:
    the same ramp, the same cost (a fixed grid of round trips from the first segment splits
    them and sees the growth stop)."""
    d = _delays(tmp_path, RAMP, jitter=[0.03, 0.035, 0.03, 0.03, 0.0])
    assert d.idle_restarts == 1
    assert d.idle_restart_s == pytest.approx(3 * RTT, abs=1e-6)


def test_the_window_lost_is_the_one_the_sender_had_before_this_idle(tmp_path: Path) -> None:
    """Three answers 2 s apart: 160 segments a round trip in the first, then two restarts.
    Each idle restarts the window the sender had when it went idle (tcp_cwnd_restart lowers
    snd_cwnd, the one it had then), not the largest of the connection's history: the third
    answer's 10, 20 before a round carries the 40 of the second again costs 1 round trip
    (30 segments the second's rounds sent in 1), not 3 against the first's 160."""
    c = Conversation(server=("10.0.0.2", 8080))
    c.syn(0.0, wscale=7).synack(RTT, wscale=7).ack(CLIENT, RTT)
    t = RTT + 0.001
    for rounds in (RAMP, [10, 20, 40], [10, 20, 40, 80]):
        c.data(CLIENT, t, 100)
        t = _answer(c, t + RTT, rounds) + 2.0
    path = tmp_path / "c.pcap"
    path.write_bytes(pcap_bytes(c))
    d = pcapline.analyze(path).delays[0]
    assert d.idle_restarts == 2
    # second answer: 10, 20, 40 (data ended) for 70 segments the first's 160 sent in 1: 2
    # round trips; third: 10, 20 before 40 again, for 30 segments: 1
    assert d.idle_restart_s == pytest.approx(3 * RTT, abs=1e-6)


def test_a_handshake_slower_than_the_data_does_not_lengthen_the_cost(tmp_path: Path) -> None:
    """A handshake of 120 ms (a first-packet slow path in a middlebox) on a path whose data
    round trips take 100 ms: the 3 round trips lost are the ramp's own, 0.3 s, not 0.36."""
    d = _delays(tmp_path, RAMP, rtt=0.12)
    assert d.idle_restarts == 1
    assert d.idle_restart_s == pytest.approx(3 * RTT, abs=1e-3)


@pytest.mark.parametrize(
    ("after", "idle", "why"),
    [
        ([10, 10, 10, 10, 10], 2.0, "an application writing a little each round trip"),
        ([1, 2, 4, 8], 2.0, "a first round trip no restarted window is that small"),
        ([160, 160], 2.0, "the window kept (tcp_slow_start_after_idle 0)"),
        (RAMP, 0.0, "an idle shorter than the RTO (180 ms + the round trip) cannot restart"),
    ],
)
def test_no_restart_claimed(tmp_path: Path, after: list[int], idle: float, why: str) -> None:
    d = _delays(tmp_path, after, idle=idle)
    assert (d.idle_restarts, d.idle_restart_s, d.idle_restart) == (0, 0.0, None), why
    assert "idle_restart" not in d.slow


def test_a_lan_round_trip_is_not_read(tmp_path: Path) -> None:
    """A round trip under 2 ms: the capture cannot tell (null), and a ramp costs nothing."""
    d = _delays(tmp_path, RAMP, rtt=0.0005)
    assert (d.idle_restarts, d.idle_restart_s) == (0, None)
