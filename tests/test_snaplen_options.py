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


def _one_direction_cut(tmp_path: Path, client_cut: int, server_cut: int | None = None) -> Path:
    """A conversation whose client frames (and server frames, with ``server_cut``) the
    snaplen cut at that many bytes."""
    c = Conversation().handshake(0.0)
    for k in range(4):
        c.data(CLIENT, 0.01 + k * 0.01, 500).ack(SERVER, 0.015 + k * 0.01)
    c.fin(CLIENT, 0.1).fin(SERVER, 0.1001).ack(CLIENT, 0.1002)
    frames = []
    for row in c.rows:
        f = c.frame_bytes(row)
        cut = client_cut if row["from_client"] else server_cut
        frames.append(f if cut is None else (f[:cut], len(f)))
    path = tmp_path / f"cut-{client_cut}-{server_cut}.pcap"
    path.write_bytes(pcap(frames, times_ns=[T0_NS + row["time_ns"] for row in c.rows]))
    return path


def test_frames_cut_inside_the_tcp_header_are_counted_apart(tmp_path: Path) -> None:
    """The TCP header's first 20 bytes cut: truncated_tcp_header (the compiled core and the
    numpy layers alike); an IP header cut stays truncated_header."""
    tcp_cut = read_capture(str(_one_direction_cut(tmp_path, 14 + 20 + 12)))
    for common in (True, False):
        assert decode(tcp_cut, common=common).skipped == {"truncated_tcp_header": 8}
    ip_cut = read_capture(str(_one_direction_cut(tmp_path, 14 + 12)))
    assert decode(ip_cut).skipped == {"truncated_header": 8}


def test_a_direction_the_snaplen_cut_is_not_blamed_on_routing(tmp_path: Path) -> None:
    """The client's frames cut inside the TCP header (IPv6 extension headers make them longer
    than the server's): the capture says the snaplen cut them, and the one-direction warning
    no longer says only that one direction was captured (asymmetric routing)."""
    a = pcapline.analyze(str(_one_direction_cut(tmp_path, 14 + 20 + 12)))
    assert a.capture.skipped == {"truncated_tcp_header": 8}
    warnings = a.capture.warnings
    assert warnings[0] == (
        "the snaplen (46 bytes captured per frame) cut 8 TCP frames inside the TCP header: not "
        "analysed (truncated_tcp_header): a connection may show one direction only, or none "
        "at all; capture with a larger snaplen (tcpdump -s 0)"
    )
    (one_sided,) = [w for w in warnings if "from one side only" in w]
    assert (
        "1 of 1 connections hold packets from one side only: 8 TCP frame(s) were cut" in one_sided
    )


def test_every_frame_cut_inside_the_tcp_header_says_why_there_is_no_connection(
    tmp_path: Path,
) -> None:
    a = pcapline.analyze(str(_one_direction_cut(tmp_path, 14 + 20 + 12, 14 + 20 + 12)))
    assert len(a.connections) == 0
    assert a.capture.skipped == {"truncated_tcp_header": 14}
    assert any("cut 14 TCP frames inside the TCP header" in w for w in a.capture.warnings)


def test_one_frame_cut_inside_the_tcp_header_is_said_in_the_singular() -> None:
    from pcapline.analysis import tcp_header_cut_warning

    assert tcp_header_cut_warning({"truncated_tcp_header": 1}) == [
        "1 TCP frame ends inside the TCP header (cut by the capture's snaplen, or shorter than "
        "its IP header says): not analysed (truncated_tcp_header): a connection may show one "
        "direction only, or none at all"
    ]
    assert tcp_header_cut_warning({"truncated_tcp_header": 2})[0].startswith(
        "2 TCP frames end inside the TCP header (cut by the capture's snaplen, or shorter than "
        "their IP header says)"
    )
