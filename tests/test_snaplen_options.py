"""A snaplen that cuts the TCP options: a D-SACK cannot be seen, so no loss is proven.

Real case: ``tcpdump -s 54`` (and ``-s 64``) of a Linux bulk upload, next to a full capture of
the same traffic. The full capture shows the client's tail loss probe (RFC 8985) D-SACKed by
the server's next ACK (RFC 2883: nothing was lost; client nstat TcpExtTCPDSACKRecv +1); in the
cut captures that ACK's options (the SACK blocks) are gone, and the probe read as a real,
recovered loss ("1 retransmission(s) (1 fast); the losses were recovered", one fast-recovery
episode, 44 ms of loss time). The exchange is rebuilt below with the same shape.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from builders.capture_files import T0_NS, pcap
from builders.conversation import CLIENT, SERVER, Conversation

import pcapline
from pcapline.decode import decode
from pcapline.model import ACK
from pcapline.read import read_capture

MSS = 1448


def _tail_loss_probe_dsacked() -> Conversation:
    c = Conversation(client_isn=1000, server_isn=5000)
    c.syn(0.0, wscale=7, sack_perm=True).synack(0.00006, wscale=7, sack_perm=True)
    c.ack(CLIENT, 0.00007)
    first = c.nxt(CLIENT)
    c.data(CLIENT, 0.0067, MSS).ack(SERVER, 0.00682)
    c.data(CLIENT, 0.00683, MSS).data(CLIENT, 0.00684, MSS)
    tail = first + 2 * MSS
    c.send(CLIENT, 0.0185, ACK, length=MSS, seq=tail)  # the probe: the last segment again
    # The server's delayed ACK of both, with a D-SACK of the probe's bytes.
    c.ack(SERVER, 0.0506, sack_edges=(tail, tail + MSS))
    c.data(CLIENT, 0.0507, MSS).ack(SERVER, 0.0909)
    c.data(SERVER, 0.1, 11).ack(CLIENT, 0.1001)
    c.fin(CLIENT, 0.2).fin(SERVER, 0.2001).ack(CLIENT, 0.2002)
    return c


def _write(c: Conversation, path: Path, snaplen: int | None) -> Path:
    frames = [c.frame_bytes(row) for row in c.rows]
    cut = [f if snaplen is None else (f[:snaplen], len(f)) for f in frames]
    times = [T0_NS + row["time_ns"] for row in c.rows]
    path.write_bytes(pcap(cut, snaplen=snaplen or 262144, times_ns=times))
    return path


def test_decode_marks_the_segments_whose_options_the_snaplen_cut(tmp_path: Path) -> None:
    c = _tail_loss_probe_dsacked()
    for snaplen, expected in ((None, 0), (54, 3), (64, 3)):
        # Options here: the SYNs' (MSS, SACK_PERM, WS) and the D-SACK ACK's; -s 54 leaves none,
        # -s 64 ten bytes of them, short of each of those three option lists.
        path = _write(c, tmp_path / f"s{snaplen}.pcap", snaplen)
        segments = decode(read_capture(str(path))).segments
        cut = segments["options_cut"].to_numpy(bool)
        assert int(cut.sum()) == expected
        if expected:
            assert segments.loc[cut, "frame"].tolist() == [1, 2, 9]


def test_a_tail_loss_probe_d_sacked_is_spurious_in_the_whole_capture(tmp_path: Path) -> None:
    a = pcapline.analyze(str(_write(_tail_loss_probe_dsacked(), tmp_path / "whole.pcap", None)))
    probe = a.events[a.events["frame"] == 8]
    assert probe["kind"].astype(str).tolist() == ["spurious_retransmit"]
    assert "all D-SACKed: nothing was lost" in a.connections.explanation.iloc[0]


def test_where_the_snaplen_cut_the_ack_options_no_loss_is_proven(tmp_path: Path) -> None:
    for snaplen in (54, 64):
        path = _write(_tail_loss_probe_dsacked(), tmp_path / f"s{snaplen}.pcap", snaplen)
        a = pcapline.analyze(str(path))
        (conn,) = a.connections.itertuples()
        probe = a.events[a.events["frame"] == 8]
        assert probe["kind"].astype(str).tolist() == ["fast_retransmit"]
        assert "whether a loss was repaired the capture cannot tell" in probe["note"].iloc[0]
        assert conn.retransmits == 1
        assert "the losses were recovered" not in conn.explanation
        assert "needless copies the capture cannot tell" in conn.explanation
        d = a.delays[0]
        assert (d.fast_recovery_episodes, d.fast_recovery_s) == (0, 0.0)


def test_a_cut_ack_before_a_resend_changes_nothing_after_it() -> None:
    """Only the peer's next ACK after the resend is asked: cut options elsewhere do not
    make a resend undecided."""
    from pcapline.facts import next_peer_ack_cut

    from_client = np.array([True, False, True, False])
    ack = np.ones(4, dtype=bool)
    cut = np.array([False, True, False, False])
    conn = np.zeros(4, dtype=np.int64)
    assert next_peer_ack_cut(from_client, ack, cut, conn, np.array([0, 2])).tolist() == [
        True,
        False,
    ]
