"""A gap never filled: lost before the capture point (the receiver lacked it too) or by it.

Kernel rule (RFC 9293 3.10.7.4, RFC 5681 4.2, RFC 2018): a receiver acknowledges only the
bytes it holds in order and answers an out-of-order segment at once with a duplicate ACK for
the byte before the hole, SACKing the bytes after it. A gap whose receiver ACKs past it was
the capture point's loss; one it duplicate-ACKs was the network's, and the capture saw exactly
what the receiver got (``quality._lost_before_capture``).
"""

from __future__ import annotations

import io
from pathlib import Path

from builders.conversation import CLIENT, SERVER, Conversation, pcap_bytes
from builders.segments import segments

import pcapline
from pcapline.engine import Progress
from pcapline.facts import compute_facts
from pcapline.fmt import capture_quality
from pcapline.quality import measure, summary
from pcapline.quality import warnings as quality_warnings


def _aborted_after_a_gap(answer: str, c: Conversation | None = None) -> Conversation:
    """The server sends three segments, the middle one not captured, then aborts (RST);
    the client's ``answer`` to the third: "sack" (ACK of the gap's start, SACK of the third),
    "dupacks" (two ACKs of the gap's start, no SACK), "one_dupack", "acked_past" (ACK of
    all three), "sack_into_gap" (ACK of the gap's start, SACK from inside the gap)."""
    c = c or Conversation().handshake(0.0)
    c.data(CLIENT, 0.01, 7)
    c.data(SERVER, 0.02, 1448)
    hole = c.nxt(SERVER)
    c.data(SERVER, 0.0201, 1448, captured=False)
    above = c.nxt(SERVER)
    c.data(SERVER, 0.0202, 1448)
    end = c.nxt(SERVER)
    if answer == "sack":
        c.ack(CLIENT, 0.021, ack=hole, sack_edges=(above, end))
    elif answer == "dupacks":
        c.ack(CLIENT, 0.021, ack=hole).ack(CLIENT, 0.0211, ack=hole)
    elif answer == "one_dupack":
        c.ack(CLIENT, 0.021, ack=hole)
    elif answer == "acked_past":
        c.ack(CLIENT, 0.021, ack=end)
    elif answer == "sack_into_gap":
        c.ack(CLIENT, 0.021, ack=hole, sack_edges=(hole + 500, end))
    c.rst(SERVER, 0.022)
    return c


def test_a_gap_the_receiver_duplicate_acks_was_lost_before_the_capture_point() -> None:
    for answer in ("sack", "dupacks"):
        q = measure(compute_facts(segments(_aborted_after_a_gap(answer))))
        assert q.not_captured.tolist() == [0], answer
        assert q.lossy.tolist() == [False] and not q.lossy_capture, answer


def test_a_gap_the_receiver_got_or_may_have_got_is_the_capture_points() -> None:
    # ACKed past (or SACKed from inside the gap): the receiver got bytes the capture lacks.
    # One ACK of the gap's start without SACK may be the ACK of the bytes below the gap,
    # sent before the jumping segment arrived: it proves nothing, the gap stays counted.
    for answer in ("acked_past", "sack_into_gap", "one_dupack", "none"):
        q = measure(compute_facts(segments(_aborted_after_a_gap(answer))))
        assert q.not_captured.tolist() == [1], answer
        assert q.lossy.tolist() == [True] and q.lossy_capture, answer
        assert q.first_missing_frame.tolist() == [6], answer  # the segment after the gap


def test_a_network_loss_makes_no_other_connection_doubtful(tmp_path: Path) -> None:
    """An idle connection still open at the capture's end reads its fate from an absence
    (no FIN, no RST): a loss the network made before the capture point, on another
    connection, is no reason to doubt it; one the capture point made is."""
    for answer, confidence, caveats in (
        ("sack", "proven", []),
        ("acked_past", "likely", ["capture_lossy"]),
    ):
        lost = _aborted_after_a_gap(answer)
        idle = Conversation(client=("10.0.0.3", 40001)).handshake(0.0)
        idle.data(CLIENT, 0.01, 10).ack(SERVER, 0.011).ack(CLIENT, 5.0)
        path = tmp_path / f"{answer}.pcap"
        path.write_bytes(pcap_bytes(lost, idle))
        report = pcapline.analyze(path).to_dict()
        by_port = {c["client"]["port"]: c for c in report["connections"]}
        assert by_port[40001]["fate"] == "open"
        assert by_port[40001]["confidence"] == confidence, answer
        assert by_port[40001]["caveats"] == caveats, answer
        assert by_port[40000]["seen"]["segments_missing"] is (answer != "sack")
        assert report["capture"]["quality"]["segments_not_captured"] == (answer != "sack")


def test_the_missing_segments_warning_lists_only_what_was_seen() -> None:
    """The parenthetical names the kinds of evidence the capture holds, not zero counts."""
    gap = measure(compute_facts(segments(_aborted_after_a_gap("acked_past"))))
    assert quality_warnings(gap)[0].startswith(
        "the capture is missing segments of 1 connection (1 segment after a gap never "
        "filled; first at frame 6): "
    )
    assert capture_quality(summary(gap)).startswith(
        "segments missing at the capture point in 1 connection (1 gap never filled; first "
        "at frame 6)"
    )
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.01, 100, captured=False)
    c.ack(SERVER, 0.02)  # ACKs bytes the capture never saw; no gap after them
    unseen = measure(compute_facts(segments(c)))
    assert quality_warnings(unseen)[0].startswith(
        "the capture is missing segments of 1 connection (1 ACK of bytes never captured; "
        "first at frame 4): "
    )
    assert capture_quality(summary(unseen)).startswith(
        "segments missing at the capture point in 1 connection (1 ACK of bytes never "
        "captured; first at frame 4)"
    )


def test_a_capture_whose_losses_are_the_networks_is_analysed_once(tmp_path: Path) -> None:
    """Partitions first run on a guess of the capture-wide flags (``engine.GUESS``) and run
    again where it was wrong: a large capture shows the network's losses somewhere, none of
    them the capture point's, so the guess is a capture point that kept up."""
    lost = _aborted_after_a_gap("sack")
    idle = Conversation(client=("10.0.0.3", 40001)).handshake(0.0)
    idle.data(CLIENT, 0.01, 10).ack(SERVER, 0.011).ack(CLIENT, 5.0)
    path = tmp_path / "network-loss.pcap"
    path.write_bytes(pcap_bytes(lost, idle))
    out = io.StringIO()
    parted = pcapline.analyze(path, partitions=2, progress=Progress(enabled=True, out=out))
    assert "analysing again" not in out.getvalue()
    assert parted.to_dict() == pcapline.analyze(path).to_dict()
