"""A capture filtered on TCP flags (``tcp[tcpflags] & (tcp-syn|tcp-fin|tcp-rst) != 0``, kept
to cut volume on busy servers) holds no bare ACK: what the words say must not rest on one.

- A connection that needed SYN retries and then closed (its FINs are in the capture) completed
  its handshake: only the ACK that would time the connect is filtered out, so the slow line
  must not count it among those that "never completed the handshake".
- A handshake_timeout told from SYN+ACKs alone says that no ACK is in the capture, and a lone
  SYN+ACK's words name both readings (acknowledged out of sight, or a SYN cookie).
- A lone SYN the capture went on past was answered out of its sight or closed by its
  application (a kernel resends an unanswered SYN after 1 s): not "never answered".
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import analysed
import numpy as np
import pytest
from builders.conversation import SERVER, Conversation
from builders.segments import verdict_table

import pcapline
from pcapline.cli import run
from pcapline.decode import decode
from pcapline.model import FIN, RST, SYN
from pcapline.read import read_capture
from tests.builders.capture_files import rewrite

SAMPLES = Path(__file__).resolve().parent.parent / "sample_captures"


def _flag_filtered(path: Path, out: Path) -> Path:
    """``path`` with only the frames a SYN/FIN/RST flag filter keeps."""
    capture = read_capture(str(path))
    segments = decode(capture).segments
    kept = segments["frame"].to_numpy()[(segments["flags"].to_numpy() & (SYN | FIN | RST)) != 0]
    rewrite(path, np.isin(capture.frame, kept), out)
    return out


def test_syn_retries_then_a_close_are_no_unfinished_handshake(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sample = SAMPLES / "slow-syn-retries-then-success.pcap"
    assert run(["analyze", str(sample)]) == 0
    full = capsys.readouterr().out
    assert "needed SYN retries" in full and "never completed" not in full
    filtered = _flag_filtered(sample, tmp_path / "flags.pcapng")
    assert run(["analyze", str(filtered), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["capture"]["quality"]["flag_filtered"] is True
    # Five connections, three after SYN retries (the server dropped their first SYNs), all
    # closed normally: the FINs are in the capture, the handshake ACKs are not.
    assert [c["fate"] for c in doc["connections"]] == ["closed"] * 5
    retried = [c for c in doc["connections"] if "syn_retry" in c["slow"]]
    assert [c["id"] for c in retried] == [0, 1, 4]
    assert all(c["delays"]["connect_s"] is None for c in retried)  # its ACK was filtered out
    assert run(["analyze", str(filtered)]) == 0
    words = " ".join(capsys.readouterr().out.split())
    assert "3 of 5 connections needed SYN retries" in words
    assert "never completed the handshake" not in words
    assert (
        "3 completed the handshake out of the capture's sight (a FIN or RST followed; its "
        "last packet is not in the capture: not timed)" in words
    )


def test_handshake_timeouts_without_a_bare_segment_say_no_ack_is_in_the_capture() -> None:
    # Seen at the server: 30 handshakes whose client ACKs were dropped at the client, a backlog
    # of 8 (8 SYN+ACKs retried, the rest SYN cookies). No segment without SYN, FIN or RST:
    # the capture looks like a flag-filtered one, so the ACKs' absence cannot be read.
    doc = json.loads(analysed.whole_json(SAMPLES / "syn-flood-backlog8-syncookies.pcap"))
    assert doc["capture"]["quality"]["flag_filtered"] is True
    timeouts = [c for c in doc["connections"] if c["fate"] == "handshake_timeout"]
    assert len(timeouts) == 30
    lone = [c for c in timeouts if c["counts"]["synack_retransmits"] == 0]
    retried = [c for c in timeouts if c["counts"]["synack_retransmits"] == 2]
    assert (len(lone), len(retried)) == (21, 9)
    for c in timeouts:
        assert "the client never ACKed it" not in c["explanation"]
        assert (
            "no ACK of it is in the capture, which holds only SYN/FIN/RST segments"
            in (c["explanation"])
        )
    for c in lone:
        assert "was acknowledged (the filter hides the ACK" in c["explanation"]
        assert "If no ACK came, the client never completed the handshake" in c["explanation"]


def test_a_refusal_whose_rst_a_syn_filter_dropped_is_said_to_be_out_of_sight() -> None:
    # A filter on SYN alone ('tcp[tcpflags] & tcp-syn != 0'): SYNs and SYN+ACKs only. A SYN to
    # a port nothing listens on was answered by a RST (dropped by the filter), which stopped
    # the client's timer: one SYN, never resent, while the capture went on for seconds.
    answered = [Conversation(conn=k).syn(0.5 * k).synack(0.5 * k + 0.06) for k in range(1, 4)]
    refused = Conversation(conn=0).syn(0.0)
    table = _table(refused, *answered, Conversation(conn=9).syn(5.0).synack(5.06))
    row = table.loc[0]
    assert (row.fate, row.confidence) == ("connect_timeout", "unknown")
    assert "never answered" not in row.explanation
    assert row.explanation.startswith("Connect timeout: 1 SYN at 0 s, no answer in the capture;")
    assert (
        "no further SYN came, although an unanswered SYN is resent after 1 s: the application "
        "closed the socket first (its own connect timeout), or an answer reached the client "
        "that the capture does not hold (a RST: this capture holds only SYN/FIN/RST segments, "
        "and a filter on SYN alone drops it)" in row.explanation
    )


def test_a_servers_abort_after_its_answer_is_a_reset_not_a_handshake_timeout() -> None:
    # Seen on a flag-filtered slice of the real-kernel bench capture: SYN, SYN+ACK, then the
    # server's RST+ACK at seq ISN+3001, ack ISN+8 (it had sent 3000 bytes and taken 7: a
    # server abort after its answer), and bare RSTs answering the client's ACKs of those
    # bytes. The handshake ACK and the data were filtered out. A socket in SYN_RECV has sent
    # nothing past its SYN+ACK and taken no data: those numbers prove it established.
    aborted = Conversation(conn=0).syn(0.0).synack(0.001)
    aborted.rst(SERVER, 0.027, seq=aborted.server_isn + 3001, ack=aborted.client_isn + 8)
    aborted.rst(SERVER, 0.058, with_ack=False, seq=aborted.server_isn + 1449)
    answered = [Conversation(conn=k).syn(0.5 * k).synack(0.5 * k + 0.06) for k in range(1, 4)]
    resent = Conversation(conn=8).syn(0.2).synack(0.21).synack(1.21)  # its listener retries
    table = _table(aborted, *answered, resent, Conversation(conn=9).syn(5.0).synack(5.06))
    row = table.loc[0]
    assert (row.fate, row.reset_by, row.confidence) == ("reset", "server", "proven")
    assert row.explanation.startswith("Reset by the server (frame 3) while established.")
    # A listener's RST at ISN+1 (tcp_abort_on_overflow, an unacceptable segment in SYN_RECV)
    # proves nothing of the kind: a reset during the handshake. Nor a handshake timeout: a
    # request socket whose resends run out ends silently, so a RST before its first resend
    # was due answered a client segment the filter dropped.
    early = Conversation(conn=0).syn(0.0).synack(0.001)
    early.rst(SERVER, 0.027, with_ack=False, seq=early.server_isn + 1)
    table = _table(early, *answered, resent, Conversation(conn=9).syn(5.0).synack(5.06))
    assert (table.loc[0].fate, table.loc[0].reset_by) == ("reset", "server")
    assert table.loc[0].explanation.startswith("Reset by the server (frame 3) during the handshake")


def test_a_flag_filtered_capture_shows_no_capture_point_loss(tmp_path: Path) -> None:
    # lossy-40-connections-3pct-drop: 40 connections through a router dropping 3 %. Filtered on
    # SYN/FIN/RST, every data segment and bare ACK is gone: the gaps in each byte stream and
    # the ACKs of bytes never captured are the filter's. The capture said "missing segments
    # of 40 connections: the capture point may have lost packets" and marked verdicts
    # capture_lossy; nothing in such a capture tells a tap's drop from the filter's.
    filtered = _flag_filtered(
        SAMPLES / "lossy-40-connections-3pct-drop.pcap", tmp_path / "f.pcapng"
    )
    whole = pcapline.analyze(filtered)
    quality = whole.capture.quality
    assert quality is not None and quality["flag_filtered"] is True
    assert (quality["lossy_connections"], quality["segments_not_captured"]) == (0, 0)
    assert quality["acked_unseen"] == 0 and quality["first_missing_frames"] == []
    assert not any("missing segments" in w for w in whole.capture.warnings)
    assert not any("capture_lossy" in c for c in whole.connections["caveats"])
    parted = pcapline.analyze(filtered, partitions=3)  # the flag known only once all are read
    assert _json(parted) == _json(whole)


def _json(analysis: pcapline.Analysis) -> str:
    out = io.StringIO()
    analysis.write_json(out)
    return out.getvalue()


_table = verdict_table
