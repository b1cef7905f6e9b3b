"""window_full.py: time a sender waited on a full, non-zero receive window.

The real-kernel sample (slow-window-full-paced-reader: a reader of 4096 B every 10 ms behind
an 8 kB receive buffer) is asserted from its expected file in tests/test_samples.py; here:
what that sample shows beyond the floor, and small crafted conversations for each rule (the
opening, the sender's reaction, the unknown window scale, loss and a closed window winning).
"""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from builders.conversation import CLIENT, SERVER, Conversation, pcap_bytes

import pcapline
from pcapline.delays import Stall
from pcapline.facts import per_connection_max
from pcapline.model import Side, SlowTag, StallCause
from pcapline.window_full import clipped

SAMPLES = Path(__file__).resolve().parents[1] / "sample_captures"
PACED = SAMPLES / "slow-window-full-paced-reader.pcap"


def _paced_reads_s() -> float:
    """How long the server's paced reads took, as its socket calls reported them."""
    doc = json.loads(PACED.with_name("slow-window-full-paced-reader.expected.json").read_text())
    line = next(x for x in doc["observed_by_sockets"] if "paced_reads" in x)
    return float(line.rsplit(" over ", 1)[1].removesuffix("s"))


def test_the_paced_reader_holds_the_sender_for_nearly_all_of_its_reads() -> None:
    """Every wait between two reads is a window-full episode: their sum is close to the time
    the reads took (as the reader's own clock measured it), the window never closed, nothing
    was retransmitted, and the episodes never overlap."""
    analysis = pcapline.analyze(PACED)
    d = analysis.delays[0]
    assert d.zero_window_s == 0.0 and d.rto_episodes == 0 and d.fast_recovery_episodes == 0
    assert d.window_full_s is not None
    assert d.window_full_s == pytest.approx(_paced_reads_s(), rel=0.1)
    stalls = [s for s in d.stalls if s.cause is StallCause.WINDOW_FULL]
    assert len(stalls) == d.window_full_episodes == len(d.stalls)
    assert all(s.side is Side.CLIENT and s.recovered for s in stalls)
    assert all(a.end_ns <= b.start_ns for a, b in itertools.pairwise(stalls))
    assert d.stalled_s == pytest.approx(d.window_full_s, abs=1e-6)
    assert d.biggest is not None and d.biggest.cause is StallCause.WINDOW_FULL
    assert d.slow == (SlowTag.WINDOW_FULL_STALL,)


@pytest.mark.tshark
@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_each_episode_begins_where_wireshark_flags_window_full() -> None:
    """On the sample (full-sized segments, a window of whole segments) the segment that fills
    the window leaves no room at all: Wireshark's tcp.analysis.window_full, frame for frame."""
    analysis = pcapline.analyze(PACED)
    ours = sorted(s.frame for s in analysis.delays[0].stalls)
    out = subprocess.run(
        [*WIRESHARK_FRAMES, str(PACED)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert ours == sorted(int(f) for f in out)


#: tshark printing the frame numbers Wireshark flags as filling the window.
WIRESHARK_FRAMES = (
    "tshark",
    "-Y",
    "tcp.analysis.window_full",
    "-T",
    "fields",
    "-e",
    "frame.number",
    "-r",
)


# --- crafted conversations: each rule on its own ------------------------------------------

WINDOW = 4000  # the server's window: two full segments and a short one fill it
MSS = 1460


def _filled(c: Conversation, t: float) -> Conversation:
    """The client fills the server's window (1460 + 1460 + 1080 B): the third leaves no room."""
    return c.data(CLIENT, t, MSS).data(CLIENT, t + 0.0001, MSS).data(CLIENT, t + 0.0002, 1080)


def _opened(
    c: Conversation, *, opening: float, then: float, zero_at: float | None = None
) -> Conversation:
    """The server ACKs the first two segments at once, leaving the edge where it was (window
    1080, non-zero), optionally closes the window, and opens it at ``opening`` (ACK of
    everything, window 4000); the client sends its next segment at ``then``."""
    c.ack(SERVER, 0.013, ack=c.client_isn + 1 + 2 * MSS, window=WINDOW - 2 * MSS)
    if zero_at is not None:
        c.ack(SERVER, zero_at, window=0)
    return c.ack(SERVER, opening, window=WINDOW).data(CLIENT, then, MSS)


def _conversation(*, handshake: bool = True) -> Conversation:
    c = Conversation(window=WINDOW)
    if handshake:
        c.syn(0.0, wscale=0).synack(0.0005, wscale=0).ack(CLIENT, 0.001)
    return _filled(c, 0.01)


def _analyse(tmp_path: Path, c: Conversation) -> pcapline.Analysis:
    path = tmp_path / "c.pcap"
    path.write_bytes(pcap_bytes(c))
    return pcapline.analyze(path)


def test_a_wait_from_the_full_segment_to_the_data_the_opening_allowed(tmp_path: Path) -> None:
    c = _opened(_conversation(), opening=1.5, then=1.5001)
    d = _analyse(tmp_path, c).delays[0]
    assert d.window_full_episodes == 1
    assert d.window_full_s == pytest.approx(1.5001 - 0.0102, abs=1e-6)
    (stall,) = d.stalls
    assert stall.cause is StallCause.WINDOW_FULL and stall.side is Side.CLIENT
    assert stall.frame == 6  # SYN, SYN+ACK, ACK, two full segments, then the one that filled
    assert d.slow == (SlowTag.WINDOW_FULL_STALL,)  # 1.49 s: past the 1 s default


def test_a_sender_with_nothing_to_send_was_not_held(tmp_path: Path) -> None:
    """The window opened at 0.5 s; the client sent again only at 5 s: far later than its
    kernel reacts to an opening (about a round trip): it had nothing to send. No episode."""
    c = _opened(_conversation(), opening=0.5, then=5.0)
    d = _analyse(tmp_path, c).delays[0]
    assert d.window_full_s == 0.0 and d.window_full_episodes == 0 and d.slow == ()


def test_without_the_handshake_the_window_scale_is_unknown(tmp_path: Path) -> None:
    """Mid-stream: the raw window may be scaled by any factor; the same wait is not claimed."""
    c = _opened(_conversation(handshake=False), opening=1.5, then=1.5001)
    analysis = _analyse(tmp_path, c)
    d = analysis.delays[0]
    assert d.window_full_s is None and d.window_full_episodes == 0 and d.slow == ()
    doc = json.loads(analysis.to_json())["connections"][0]["delays"]
    assert doc["window_full_s"] is None and doc["window_full_episodes"] == 0


def test_a_closed_window_takes_its_own_seconds(tmp_path: Path) -> None:
    """Full at 0.0102 s, window 0 at 0.3 s, reopened at 1.5 s: the zero-window stall has
    0.3 -> 1.5 s, the full window only what came before it; no second counted twice."""
    c = _opened(_conversation(), opening=1.5, then=1.5001, zero_at=0.3)
    d = _analyse(tmp_path, c).delays[0]
    assert d.zero_window_s == pytest.approx(1.2, abs=1e-6)
    assert d.window_full_s == pytest.approx(0.3 - 0.0102, abs=1e-6)
    assert d.stalled_s == pytest.approx(1.5 - 0.0102, abs=1e-6)
    assert [s.cause for s in d.stalls] == [StallCause.WINDOW_FULL, StallCause.ZERO_WINDOW]


def _stall(cause: StallCause, start: int, end: int) -> Stall:
    return Stall(cause, Side.CLIENT, start, end, True, 1)


def test_loss_and_closed_windows_win_over_a_full_window() -> None:
    full = (
        _stall(StallCause.WINDOW_FULL, 10, 20),  # runs into an RTO episode at 15: cut there
        _stall(StallCause.WINDOW_FULL, 30, 40),  # begins inside a zero window: dropped
        _stall(StallCause.WINDOW_FULL, 50, 60),  # nothing else then: kept whole
    )
    others = [_stall(StallCause.RTO, 15, 25), _stall(StallCause.ZERO_WINDOW, 28, 45)]
    assert [(s.start_ns, s.end_ns) for s in clipped(full, others)] == [(10, 15), (50, 60)]
    assert clipped(full, []) == full


def test_clipping_reads_overlapping_stalls_and_their_edges() -> None:
    """Others that overlap (a long RTO stall holding a short zero window), episodes starting on
    an other's first or last instant, and an other starting exactly where an episode ends."""
    others = [
        _stall(StallCause.RTO, 100, 200),  # covers 100..199 although a later one ends at 130
        _stall(StallCause.ZERO_WINDOW, 110, 130),
        _stall(StallCause.RTO, 300, 310),
    ]
    full = (
        _stall(StallCause.WINDOW_FULL, 90, 105),  # runs into 100: cut there
        _stall(StallCause.WINDOW_FULL, 100, 150),  # begins on an other's first instant: dropped
        _stall(StallCause.WINDOW_FULL, 150, 160),  # inside 100..200 (past the 110..130 one)
        _stall(StallCause.WINDOW_FULL, 200, 300),  # begins as the RTO ends; 300 is its end: whole
        _stall(StallCause.WINDOW_FULL, 305, 320),  # inside 300..310: dropped
        _stall(StallCause.WINDOW_FULL, 310, 320),  # after everything: whole
    )
    assert [(s.start_ns, s.end_ns) for s in clipped(full, others)] == [
        (90, 100),
        (200, 300),
        (310, 320),
    ]


@pytest.mark.parametrize("seed", range(5))
def test_per_connection_max_equals_a_scatter_into_each_connection(seed: int) -> None:
    """``_per_connection_max`` over contiguous rows (``facts.starts``, empty connections
    included) gives what ``np.maximum.at`` into a per-connection slot gives."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(0, 4, size=50)  # some connections without a row
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    values = rng.integers(0, 1500, size=int(starts[-1])) * rng.integers(0, 2, size=int(starts[-1]))
    expected = np.zeros(len(sizes), dtype=np.int64)
    np.maximum.at(expected, np.repeat(np.arange(len(sizes)), sizes), values)
    assert per_connection_max(values, starts).tolist() == expected.tolist()
    assert per_connection_max(values > 0, starts).tolist() == (expected > 0).tolist()


def _room_every_time(
    loops: tuple[float, float], total: int, *, answered: bool = False
) -> Conversation:
    """The client sends ``total`` bytes in 1000 B segments 20 ms apart; the server ACKs each at
    once, its edge always 4000 B ahead: never a full window as this capture point sees it.
    ``loops``: the capture point's loops to the client and to the server (the handshake's
    SYN+ACK -> ACK and SYN -> SYN+ACK); ``answered``: the server answers each segment with
    data (each its own request/response turn)."""
    to_client, to_server = loops
    c = Conversation(window=WINDOW)
    c.syn(0.0, wscale=0).synack(to_server, wscale=0).ack(CLIENT, to_server + to_client)
    for k in range(total // 1000):
        t = 0.1 + 0.02 * k
        c.data(CLIENT, t, 1000)
        if answered:
            c.data(SERVER, t + 0.0001, 10)
        else:
            c.ack(SERVER, t + 0.0001)
    return c


def test_a_capture_away_from_the_sender_proves_no_full_window(tmp_path: Path) -> None:
    """window_full._unseen_from_here: the same segments, captured at the sender (20 ms from
    the server, the receiver), prove no full window (0.0); captured 20 ms from the sender they
    prove nothing, because the receiver's window there is up to that loop ahead of what the
    sender saw (unknown, None), in the middle too, whichever end is a little nearer. Within a
    millisecond of the sender (a LAN) the window is the sender's; a 3000 B run never fills a
    4000 B window; nor do 20 requests of 1000 B, each answered before the next."""
    for loops, total, answered, expected in [
        ((0.00001, 0.02), 10_000, False, 0.0),  # at the client (the sender)
        ((0.02, 0.00001), 10_000, False, None),  # at the server (the receiver)
        ((0.0201, 0.02), 10_000, False, None),  # in the middle, a bit nearer the server
        ((0.02, 0.0201), 10_000, False, None),  # in the middle, a bit nearer the client
        ((0.0005, 0.00001), 10_000, False, 0.0),  # at the server of a LAN
        ((0.02, 0.00001), 3000, False, 0.0),
        ((0.02, 0.00001), 20_000, True, 0.0),
    ]:
        d = _analyse(tmp_path, _room_every_time(loops, total, answered=answered)).delays[0]
        assert (d.window_full_s, d.window_full_episodes) == (expected, 0), (loops, total)


def _snapped(src: Path, dst: Path, snaplen: int) -> None:
    """A copy of a little-endian microsecond pcap with every frame cut to ``snaplen`` bytes
    (as ``tcpdump -s`` would have captured it)."""
    import struct

    data = src.read_bytes()
    out, off = [data[:24]], 24
    while off + 16 <= len(data):
        sec, usec, incl, orig = struct.unpack_from("<IIII", data, off)
        frame = data[off + 16 : off + 16 + incl][:snaplen]
        out.append(struct.pack("<IIII", sec, usec, len(frame), orig) + frame)
        off += 16 + incl
    dst.write_bytes(b"".join(out))


def test_a_snaplen_that_cuts_the_syns_options_leaves_the_window_scale_unknown(
    tmp_path: Path,
) -> None:
    """The paced reader's capture cut to 54 bytes (Ethernet, IPv4 and a TCP header without
    its options): the SYNs' window-scale options are gone, and Linux sends that option last,
    so whether the windows were scaled is not known: no full window is claimed (a raw
    window of 64 may be 64 bytes or 8 KB). Before, a missing option read as "not scaled"."""
    cut = tmp_path / "paced-54.pcap"
    _snapped(PACED, cut, 54)
    d = pcapline.analyze(cut).delays[0]
    assert d.window_full_s is None and SlowTag.WINDOW_FULL_STALL not in d.slow
    whole = pcapline.analyze(PACED).delays[0]
    assert whole.window_full_s is not None and whole.window_full_s > 1.5
