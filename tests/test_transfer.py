"""transfer.py: a bulk transfer's rate, and what set its pace.

Real-kernel samples, each built to be slow for one reason, asserted from how it was built:
a 512 kbit/s tbf with a 3 MB queue that never drops under an upload, seen at the sender and
at the receiver (slow-answers-behind-an-upload-*); a receiver reading 4096 B every 10 ms
through an 8 KB buffer (slow-window-full-paced-reader); the server's reply written in chunks
on a veth (tso-super-segments-at-sender). Crafted conversations for the run's bounds, and the
small pieces (spans, the stamps' clock rate) alone.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from builders.conversation import CLIENT, SERVER, Conversation, pcap_bytes

import pcapline
from pcapline.model import Side, TransferPace
from pcapline.transfer import (
    MIN_BYTES,
    FlightTrend,
    Transfer,
    _clip,
    _clock_rate,
    _minus,
    _over_time,
    _tick_steps,
)

SAMPLES = Path(__file__).resolve().parents[1] / "sample_captures"

#: slow-answers-behind-an-upload-*: tbf rate 512kbit on the router toward the server; a
#: segment of 1448 payload bytes is 1514 on the wire there (Ethernet, IPv4, TCP with
#: timestamps), so the payload rate is at most that share of it (the bucket's 10 kB burst
#: goes at once: a little above over 400 kB).
UPLOAD_RATE_BPS = 512_000 * 1448 / 1514


def _transfer(name: str) -> Transfer:
    (t,) = [d.transfer for d in pcapline.analyze(SAMPLES / name).delays.values() if d.transfer]
    assert t is not None
    return t


@pytest.mark.parametrize("at", ["client", "server"])
def test_an_upload_through_a_bottleneck_is_paced_by_its_queue(at: str) -> None:
    """Seen at the sender (the client), the loaded round trip shows the queue; at the
    receiver (the server) the client's TCP timestamps do: its one-way delay grows."""
    t = _transfer(f"slow-answers-behind-an-upload-at-{at}.pcap")
    assert t.side is Side.CLIENT and t.bytes == 400_000
    assert t.rate_bps is not None
    assert 0.95 * UPLOAD_RATE_BPS <= t.rate_bps <= 1.05 * UPLOAD_RATE_BPS
    assert t.paced_by is TransferPace.BOTTLENECK
    assert t.queue_ms is not None and t.queue_ms >= 500  # 400 kB behind 64 kB/s, never dropped
    assert t.loss_s == 0.0 and t.receive_window_s == 0.0
    if at == "client":
        assert t.rtt_loaded_ms is not None and t.rtt_loaded_ms >= 500
        assert t.sender_s is not None and t.sender_s < 0.01
    else:  # nearer the receiver: an idle client and the queue look alike
        assert t.sender_s is None and t.rtt_loaded_ms is None


def test_a_slow_reader_paces_the_transfer_by_its_window() -> None:
    t = _transfer("slow-window-full-paced-reader.pcap")
    assert t.side is Side.CLIENT and t.bytes == 800_000
    assert t.paced_by is TransferPace.RECEIVE_WINDOW
    # 191 reads or more, 10 ms apart, release what the buffer cannot hold (the sample's own
    # floor for window_full_s is 0.8 of that)
    assert t.receive_window_s is not None and t.receive_window_s >= 1.528
    assert t.network_s is not None
    assert t.receive_window_s + t.network_s + t.loss_s == pytest.approx(t.seconds, abs=1e-6)


def test_on_a_lan_the_sender_idle_time_is_not_claimed() -> None:
    """The reply was written in chunks (the capture at the server shows everything
    acknowledged and 27 ms of nothing), but the handshake's two halves are alike on a veth:
    the capture point is not provably the sender's, so its idle time is not claimed."""
    t = _transfer("tso-super-segments-at-sender.pcap")
    assert t.side is Side.SERVER and t.sender_s is None
    assert t.paced_by is TransferPace.NETWORK


def _answers(*, second_request: bool, chatter: bool) -> Conversation:
    """Captured in the middle of a 1 ms path: a request, a 300 kB answer in 1000-byte
    segments (each acknowledged 0.2 ms later), then (``second_request``) another request and
    a 100 kB answer; ``chatter``: the client sends 10 bytes in the middle of the first
    answer, acknowledging all but its latest segment (still on its way to the client)."""
    c = Conversation().handshake(rtt=0.001)
    c.data(CLIENT, 0.002, 100)
    t = 0.003
    for k in range(300):
        c.data(SERVER, t, 1000)
        if chatter and k == 150:  # sent before the segment above arrived: not acknowledged
            c.data(CLIENT, t + 0.0001, 10, ack=c.nxt(SERVER) - 1000)
        c.ack(CLIENT, t + 0.0002)
        t += 0.001
    if second_request:
        c.data(CLIENT, t, 100)
        for _ in range(100):
            t += 0.001
            c.data(SERVER, t, 1000).ack(CLIENT, t + 0.0002)
    return c


@pytest.mark.parametrize(
    ("second_request", "chatter", "size"),
    [(True, False, 300_000), (False, True, 300_000), (True, True, 300_000)],
)
def test_the_transfer_is_one_run_of_an_answer(
    tmp_path: Path, second_request: bool, chatter: bool, size: int
) -> None:
    """A new request with the answer acknowledged ends the run; the peer's data while the
    answer is in flight (an HTTP/2 WINDOW_UPDATE) does not."""
    path = tmp_path / "c.pcap"
    path.write_bytes(pcap_bytes(_answers(second_request=second_request, chatter=chatter)))
    t = pcapline.analyze(path).delays[0].transfer
    assert t is not None and t.side is Side.SERVER and t.bytes == size


def test_under_256_kib_in_one_run_is_no_transfer(tmp_path: Path) -> None:
    c = Conversation().handshake(rtt=0.001)
    t = 0.002
    for _ in range(MIN_BYTES // 1000):  # 262 segments: 262,000 B, just under 262,144
        c.data(SERVER, t, 1000).ack(CLIENT, t + 0.0002)
        t += 0.001
    path = tmp_path / "c.pcap"
    path.write_bytes(pcap_bytes(c))
    assert pcapline.analyze(path).delays[0].transfer is None


def test_span_arithmetic() -> None:
    assert _clip([(0, 10), (5, 20), (30, 40)], (2, 35)) == [(2, 20), (30, 35)]
    assert _minus([(0, 100)], [(10, 20), (50, 60)]) == [(0, 10), (20, 50), (60, 100)]
    assert _minus([(0, 10), (20, 30)], [(5, 25)]) == [(0, 5), (25, 30)]
    assert _minus([(0, 10)], [(0, 10)]) == []


def test_the_stamps_clock_rate() -> None:
    second = 1_000_000_000
    assert _clock_rate(1000, second) == 1000.0  # Linux: 1 kHz
    assert _clock_rate(470, second) == 1000.0  # arrivals stretched by a growing queue
    assert _clock_rate(1_000_000, second) == 1_000_000.0  # usec stamps (tcp_usec_ts)
    assert _clock_rate(250, second) is None  # 4 ms ticks: too coarse for a 5 ms queue
    assert _clock_rate(10, second) is None
    assert _clock_rate(1700, second) is None  # no clock rate reads so high
    assert _clock_rate(100, second // 10) is None  # 100 ms of stamps tell no rate


def test_tick_steps_cross_the_wrap() -> None:
    stamps = np.array([2**32 - 2, 2**32 - 1, 0, 3], dtype=np.int64)
    assert _tick_steps(stamps).tolist() == [1, 1, 3]


def _note(name: str) -> str:
    """The Transfer note of the sample's one transfer."""
    analysis = pcapline.analyze(SAMPLES / name)
    (conn,) = [c for c, d in analysis.delays.items() if d.transfer]
    text = str(analysis.verdicts[conn].explanation)
    return text[text.index("Transfer: ") :]


@pytest.mark.parametrize(
    ("name", "words"),
    [
        # tbf's queue, seen beyond the capture point (at the sender) and before it (at the
        # receiver, in the server's TCP timestamps)
        ("slow-transfer-bottleneck-at-server.pcap", ["A bottleneck", "ACKs came back"]),
        ("slow-transfer-bottleneck-at-client.pcap", ["A bottleneck", "TCP timestamps"]),
        # 90 ms path, 1 MiB: slow start never ends, the flight still doubling
        ("slow-transfer-long-path.pcap", ["The round trip set the pace", "slow start"]),
        # random drops: each recovery cuts the congestion window, no queue stands
        ("slow-transfer-loss.pcap", ["Loss set the pace", "cut its congestion window"]),
        ("slow-transfer-receive-window.pcap", ["The server's receive window set the pace"]),
        ("slow-transfer-sender-limited.pcap", ["The server set the pace"]),
    ],
)
def test_the_note_says_what_the_scenario_built(name: str, words: list[str]) -> None:
    note = _note(name)
    for word in words:
        assert word in note, (word, note)


def test_slow_start_is_a_flight_still_doubling() -> None:
    t = _transfer("slow-transfer-long-path.pcap")
    assert t.trend is FlightTrend.DOUBLING and t.paced_by is TransferPace.ROUND_TRIP
    assert t.in_flight_bytes is not None and t.in_flight_bytes > 100_000  # 7 doublings of 10


def test_a_burst_of_samples_does_not_outvote_time() -> None:
    """A round trip read per segment: 90 samples of 10 ms in the first 0.1 s (slow start
    alone on the link), then 10 samples of 150 ms over the next 5 s (sharing it): over
    time the connection waited 150 ms, whatever the count."""
    fast = np.arange(90) * 1_000_000
    slow = 100_000_000 + np.arange(10) * 500_000_000
    values = np.concatenate([np.full(90, 10.0), np.full(10, 150.0)])
    times = np.concatenate([fast, slow])
    assert float(np.median(values)) == 10.0
    assert _over_time(values, times, 50) == (150.0,)
    # several percentiles from one sort: the burst's 0.1 s is the first 2 % of the time
    assert _over_time(values, times, 1, 50) == (10.0, 150.0)


def _over_time_stably(values: np.ndarray, times: np.ndarray, *qs: float) -> tuple[float, ...]:
    """``_over_time`` by its definition: both orders sorted stably, the running weight read
    where it reaches each percentile."""
    order = np.argsort(times, kind="stable")
    values, times = values[order], times[order]
    gaps = np.diff(times).astype(np.float64)
    weights = np.append(gaps, np.median(gaps))
    by_value = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[by_value])
    found = np.searchsorted(cumulative, cumulative[-1] * np.array(qs) / 100)
    return tuple(float(values[by_value][min(int(k), len(values) - 1)]) for k in found)


@pytest.mark.parametrize("in_order", [True, False])
def test_equal_samples_in_any_order_give_the_same_percentiles(in_order: bool) -> None:
    """Round trips read to the microsecond repeat a lot: whatever order the sort leaves
    equal values in, each percentile is the one the stable order gives (the weights are
    whole nanoseconds, their running sums exact), in time order or not."""
    rng = np.random.default_rng(7)
    for size in (2, 3, 50, 5000):
        values = rng.integers(0, 6, size) / 1e3  # a handful of distinct values, many ties
        times = 1_700_000_000 * 10**9 + np.cumsum(rng.integers(0, 3_000_000, size))
        if not in_order:
            times = rng.permutation(times)
        qs = (1, 25, 50, 90, 99)
        assert _over_time(values, times, *qs) == _over_time_stably(values, times, *qs)


def test_the_capture_line_is_the_same_on_the_bounded_path() -> None:
    """The text summary's and HTML header's transfer line read the connections table's
    transfer columns, which the bounded-memory path keeps for every connection too."""
    from pcapline import bounded
    from pcapline.render.terminal import transfer_line

    path = SAMPLES / "slow-transfer-loss.pcap"
    whole = transfer_line(pcapline.analyze(path))
    with bounded.analyse(str(path), outputs=frozenset()) as result:
        assert transfer_line(result.analysis()) == whole
    assert "paced by loss" in whole


def test_a_transfer_of_no_time_has_no_pace(tmp_path: Path) -> None:
    """Every segment stamped at one instant (a replayed or rewritten capture): bytes, no
    time, no rate and nothing to pace (before, every part 0 read 'paced by loss')."""
    c = Conversation().handshake(rtt=0.001)
    for _ in range(300):
        c.data(SERVER, 0.002, 1000).ack(CLIENT, 0.002)
    path = tmp_path / "c.pcap"
    path.write_bytes(pcap_bytes(c))
    analysis = pcapline.analyze(path)
    t = analysis.delays[0].transfer
    assert t is not None and t.bytes == 300_000 and t.seconds == 0.0
    assert t.paced_by is None and t.rate_bps is None
    assert "less than a round trip" in str(analysis.verdicts[0].explanation)


def test_where_the_pace_is_unknown_a_proven_sender_pause_is_said() -> None:
    """Real kernel (20 ms each way): a server wrote 300 kB, slept 3 s, wrote 300 kB. At the
    client the pace cannot be told (the capture is far from the sender: its window view
    lags), yet app_pause proved a 2.9 s pause of the server's application (IP IDs and TCP
    timestamps); the note said only "What set the pace the capture cannot show"."""
    from dataclasses import replace

    from pcapline.explain_transfer import transfer_note

    a = pcapline.analyze(SAMPLES / "slow-transfer-sender-limited.pcap")
    (d,) = [d for d in a.delays.values() if d.transfer]
    assert d.transfer is not None
    unknown = replace(d, transfer=replace(d.transfer, paced_by=None))
    paused = replace(unknown, app_pause_s=2.9, app_pause_side=d.transfer.side)
    note = transfer_note(paused)
    assert "What set the pace the capture cannot show" in note
    side, other = d.transfer.side.value, d.transfer.side.other
    assert (
        f"Yet the {side}'s application held its data once for 2.9 s in this connection with "
        f"all it had sent acknowledged and the {other}'s window open"
    ) in note
    # the peer's pause, or a short one, is not the sender's time
    assert "Yet" not in transfer_note(replace(paused, app_pause_side=d.transfer.side.other))
    assert "Yet" not in transfer_note(replace(paused, app_pause_s=0.5))
