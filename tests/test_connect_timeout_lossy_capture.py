"""A connect timeout read from the client's own SYN retries in a capture whose capture point
lost segments of another connection (classify.connect_timeout, ``_silence(own_retries=)``)."""

from __future__ import annotations

from pathlib import Path

import pcapline
from pcapline.model import CAVEATS
from pcapline.read import read_capture
from tests.builders.capture_files import rewrite

SAMPLES = Path(__file__).resolve().parent.parent / "sample_captures"


def test_other_connections_losses_leave_a_syn_retry_timeout_proven(tmp_path: Path) -> None:
    """nat-lookalike-firewall-drops-one-hosts-syns: connection 0's server data (frame 8) cut
    from the file, the client's ACK of it (frame 9) shows the capture point lost it. The
    SYNs of connection 1, resent after 1 s and given up on (a 6.x client with
    tcp_syn_retries=1), still prove its connect timed out: a SYN+ACK that reached the client
    would have stopped them, whatever the capture point lost elsewhere."""
    path = SAMPLES / "nat-lookalike-firewall-drops-one-hosts-syns.pcap"
    capture = read_capture(str(path))
    out = tmp_path / "lost-data.pcapng"
    rewrite(path, capture.frame != 8, out)
    t = pcapline.analyze(str(out)).connections.set_index("id")
    assert t.loc[0, "fate"] == "closed"
    assert (t.loc[0, "confidence"], list(t.loc[0, "caveats"])) == ("proven", [])
    assert (t.loc[1, "fate"], t.loc[1, "confidence"]) == ("connect_timeout", "proven")
    assert list(t.loc[1, "caveats"]) == []
    assert "Confidence" not in t.loc[1, "explanation"]


def test_the_lossy_caveat_fits_gaps_as_well_as_unseen_acks() -> None:
    """A capture whose losses are gaps never filled (no ACK of unseen bytes) reads the same
    caveat: its words must not claim ACKs of bytes never seen."""
    words = CAVEATS["capture_lossy"]
    assert "gap in a sender's bytes" in words and "ACKs bytes the capture never saw" in words
    assert "may be among them" in words and "peers ACK" not in words


def test_the_capture_warning_says_what_a_gap_leaves_in_doubt(tmp_path: Path) -> None:
    """The warning over the same capture: missing segments, not a claim that silence
    proves nothing where a client's retries do prove its connect timed out."""
    path = SAMPLES / "nat-lookalike-firewall-drops-one-hosts-syns.pcap"
    capture = read_capture(str(path))
    out = tmp_path / "lost-data.pcapng"
    rewrite(path, capture.frame != 8, out)
    (warning,) = [w for w in pcapline.analyze(str(out)).capture.warnings if "missing" in w]
    assert warning.startswith("the capture is missing segments of 1 connection (1 ACK of bytes")
    assert "proves nothing by itself; a verdict that rests on one says so" in warning
    assert "a client's own SYN retries still prove its connect timed out" in warning
