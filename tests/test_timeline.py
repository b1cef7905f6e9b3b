"""Tests for pcapline/timeline.py (rows, per-side TCP states, numbers from the facts) and
pcapline/render/timeline.py (the text).

Segments are small hand-written tables shaped like the pipeline's (SEGMENT_COLUMNS subset +
``conn`` + ``from_client``); each scenario is a real kernel sequence from tcp-facts.md.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import analysed as shared
import pandas as pd
import pytest

from pcapline.fmt import duration
from pcapline.model import ACK, CWR, ECE, FIN, PSH, RST, SYN, URG, Side
from pcapline.render.timeline import render_timeline_text, timeline_title
from pcapline.timeline import (
    EventLabel,
    Numbering,
    TcpState,
    TimelineRow,
    build_timeline,
    connection_timeline,
    tcpdump_flags,
)

S = TcpState
T0 = 1_700_000_000_000_000_000  # ns
C_ISN = 1000
S_ISN = 5000


def seg(
    frame: int,
    t: float,
    from_client: bool,
    flags: int,
    seq: int,
    ack: int = 0,
    length: int = 0,
    window: int = 500,
    wscale: int = -1,
    conn: int = 0,
) -> dict[str, Any]:
    return {
        "frame": frame,
        "time_ns": T0 + round(t * 1e9),
        "conn": conn,
        "from_client": from_client,
        "flags": flags,
        "seq": seq % (1 << 32),
        "ack": ack % (1 << 32),
        "seg_len": length,
        "window": window,
        "wscale": wscale,
    }


def table(*rows: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(list(rows))


def conn_row(conn: int = 0, start: float | None = 0.0) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": conn,
        "client_ip": "10.0.0.1",
        "client_port": 40000,
        "server_ip": "10.0.0.2",
        "server_port": 80,
        "client_guessed": False,
        "fate": "closed",
    }
    if start is not None:
        row["start_ns"] = T0 + round(start * 1e9)
    return row


def states(rows: list[TimelineRow]) -> list[tuple[str, str]]:
    return [(str(r.client_state), str(r.server_state)) for r in rows]


def handshake(wscale: int = 7) -> list[dict[str, Any]]:
    return [
        seg(1, 0.000, True, SYN, C_ISN, window=64240, wscale=wscale),
        seg(2, 0.001, False, SYN | ACK, S_ISN, C_ISN + 1, window=65160, wscale=wscale),
        seg(3, 0.002, True, ACK, C_ISN + 1, S_ISN + 1, window=502),
    ]


def test_orderly_close_client_first_walks_both_state_machines() -> None:
    segs = table(
        *handshake(),
        seg(4, 0.010, True, PSH | ACK, C_ISN + 1, S_ISN + 1, length=100, window=502),
        seg(5, 0.011, False, ACK, S_ISN + 1, C_ISN + 101, window=509),
        seg(6, 0.020, True, FIN | ACK, C_ISN + 101, S_ISN + 1, window=502),
        seg(7, 0.021, False, ACK, S_ISN + 1, C_ISN + 102, window=509),
        seg(8, 0.030, False, FIN | ACK, S_ISN + 1, C_ISN + 102, window=509),
        seg(9, 0.031, True, ACK, C_ISN + 102, S_ISN + 2, window=502),
    )
    rows = build_timeline(segs, conn_row(), None)
    assert states(rows) == [
        ("SYN-SENT", "?"),
        ("SYN-SENT", "SYN-RECV"),
        ("ESTABLISHED", "ESTABLISHED"),
        ("ESTABLISHED", "ESTABLISHED"),
        ("ESTABLISHED", "ESTABLISHED"),
        ("FIN-WAIT-1", "ESTABLISHED"),
        ("FIN-WAIT-2", "CLOSE-WAIT"),  # the server's ACK of the FIN: both move
        ("FIN-WAIT-2", "LAST-ACK"),
        ("TIME-WAIT", "CLOSED"),
    ]
    assert [r.client_state_changed for r in rows] == [
        True,
        False,
        True,
        False,
        False,
        True,
        True,
        False,
        True,
    ]
    assert [r.server_state_changed for r in rows] == [
        False,
        True,
        True,
        False,
        False,
        False,
        True,
        True,
        True,
    ]
    assert [r.flags for r in rows] == ["S", "S.", ".", "P.", ".", "F.", ".", "F.", "."]
    assert [r.side for r in rows] == [Side.CLIENT, Side.SERVER] + [Side.CLIENT] * 2 + [
        Side.SERVER,
        Side.CLIENT,
    ] + [Side.SERVER] * 2 + [Side.CLIENT]
    # Relative numbers as tcpdump prints them: SYN 0, first data byte 1, FIN after 100 bytes.
    assert [(r.seq, r.ack) for r in rows] == [
        (0, None),
        (0, 1),
        (1, 1),
        (1, 1),
        (1, 101),
        (101, 1),
        (1, 102),
        (1, 102),
        (102, 2),
    ]
    assert all(r.seq_relative for r in rows)
    assert all(r.ack_relative == (r.ack is not None) for r in rows)
    assert rows[3].length == 100
    # Both SYNs offered wscale 7: SYN windows raw, later windows shifted.
    assert [r.window for r in rows[:4]] == [64240, 65160, 502 << 7, 502 << 7]
    assert all(r.window_scale_known for r in rows)
    assert rows[4].time_s == pytest.approx(0.011)
    assert rows[4].delta_s == pytest.approx(0.001)
    assert rows[0].delta_s == 0.0


def test_server_closes_first_and_fin_piggybacks_the_ack() -> None:
    """Passive close answered by FIN+ACK in one segment: CLOSE-WAIT and LAST-ACK on one row."""
    segs = table(
        *handshake(),
        seg(4, 0.5, False, FIN | ACK, S_ISN + 1, C_ISN + 1),
        seg(5, 0.6, True, FIN | ACK, C_ISN + 1, S_ISN + 2),
        seg(6, 0.7, False, ACK, S_ISN + 2, C_ISN + 2),
    )
    rows = build_timeline(segs, conn_row(), None)
    assert states(rows)[3:] == [
        ("ESTABLISHED", "FIN-WAIT-1"),
        ("LAST-ACK", "FIN-WAIT-2"),
        ("CLOSED", "TIME-WAIT"),
    ]


def test_simultaneous_close_goes_through_closing() -> None:
    segs = table(
        *handshake(),
        seg(4, 1.0, True, FIN | ACK, C_ISN + 1, S_ISN + 1),
        seg(5, 1.0001, False, FIN | ACK, S_ISN + 1, C_ISN + 1),  # crossed: ACKs nothing new
        seg(6, 1.001, True, ACK, C_ISN + 2, S_ISN + 2),  # client ACKs the server's FIN
        seg(7, 1.001, False, ACK, S_ISN + 2, C_ISN + 2),  # server ACKs the client's FIN
    )
    rows = build_timeline(segs, conn_row(), None)
    assert states(rows)[3:] == [
        ("FIN-WAIT-1", "ESTABLISHED"),
        ("FIN-WAIT-1", "FIN-WAIT-1"),  # the server's FIN does not ACK the client's: crossed
        ("CLOSING", "FIN-WAIT-2"),  # client got the FIN before the ACK of its own
        ("TIME-WAIT", "TIME-WAIT"),
    ]


def test_refused_syn_answered_by_rst() -> None:
    segs = table(
        seg(1, 0.0, True, SYN, C_ISN, wscale=7),
        seg(2, 0.0001, False, RST | ACK, 0, C_ISN + 1, window=0),
    )
    rows = build_timeline(segs, conn_row(), None)
    assert states(rows) == [("SYN-SENT", "?"), ("CLOSED", "CLOSED")]
    assert [r.flags for r in rows] == ["S", "R."]
    assert (rows[1].ack, rows[1].ack_from) == (1, Numbering.ISN)
    # The server sent no SYN: its seq counts from the first one captured (facts.rel_seq; the
    # RST's own seq 0 here), and the window scale is unknown.
    assert (rows[1].seq, rows[1].seq_from) == (0, Numbering.FIRST_SEEN)
    assert not rows[1].window_scale_known


def test_connect_timeout_server_never_seen() -> None:
    segs = table(*(seg(i + 1, t, True, SYN, C_ISN) for i, t in enumerate([0, 1, 3, 7])))
    rows = build_timeline(segs, conn_row(), None)
    assert states(rows) == [("SYN-SENT", "?")] * 4
    assert [r.client_state_changed for r in rows] == [True, False, False, False]
    assert [r.delta_s for r in rows] == pytest.approx([0, 1, 2, 4])


def test_handshake_timeout_client_never_acks_stays_syn_sent() -> None:
    """A SYN+ACK the client never answers (dropped after the capture point) changes nothing."""
    segs = table(
        seg(1, 0.0, True, SYN, C_ISN),
        seg(2, 0.001, False, SYN | ACK, S_ISN, C_ISN + 1),
        seg(3, 1.001, False, SYN | ACK, S_ISN, C_ISN + 1),
    )
    rows = build_timeline(segs, conn_row(), None)
    assert states(rows) == [("SYN-SENT", "?"), ("SYN-SENT", "SYN-RECV"), ("SYN-SENT", "SYN-RECV")]


def test_listen_overflow_server_drawn_back_in_syn_recv() -> None:
    segs = table(
        *handshake(),
        seg(4, 0.003, True, PSH | ACK, C_ISN + 1, S_ISN + 1, length=10),
        seg(5, 1.001, False, SYN | ACK, S_ISN, C_ISN + 1),
        seg(6, 1.002, True, ACK, C_ISN + 11, S_ISN + 1),
        seg(7, 2.0, False, ACK, S_ISN + 1, C_ISN + 11),  # accept() finally: a full socket
    )
    rows = build_timeline(segs, conn_row(), None)
    assert states(rows)[2:] == [
        ("ESTABLISHED", "ESTABLISHED"),
        ("ESTABLISHED", "ESTABLISHED"),
        ("ESTABLISHED", "SYN-RECV"),
        ("ESTABLISHED", "SYN-RECV"),  # after a dropped ACK, the client's re-ACK proves nothing
        ("ESTABLISHED", "ESTABLISHED"),  # the server's own ACK does
    ]
    assert rows[4].server_state_changed


def test_capture_started_mid_connection() -> None:
    segs = table(
        seg(10, 0.0, False, ACK, 777_000, 999_000),  # pure ACK: proves nothing
        seg(11, 0.5, True, PSH | ACK, 999_000, 777_000, length=20),
        seg(12, 0.6, False, PSH | ACK, 777_000, 999_020, length=5),
        seg(13, 0.7, True, RST, 999_020),
    )
    rows = build_timeline(segs, conn_row(start=None), None)
    assert states(rows) == [
        ("?", "?"),
        ("ESTABLISHED", "?"),
        ("ESTABLISHED", "ESTABLISHED"),
        ("CLOSED", "CLOSED"),
    ]
    # No SYN: each side counts from the first seq captured of it, as facts.rel_seq does.
    first = Numbering.FIRST_SEEN
    assert [(r.seq, r.seq_from, r.ack, r.ack_from) for r in rows] == [
        (0, first, 0, first),
        (0, first, 0, first),
        (0, first, 20, first),
        (20, first, None, None),
    ]
    assert all(not r.window_scale_known and r.window == 500 for r in rows)
    assert rows[0].time_s == 0.0  # no start_ns: first frame is time 0


def test_relative_numbers_wrap_around_2_32() -> None:
    isn = (1 << 32) - 10
    segs = table(
        seg(1, 0.0, True, SYN, isn),
        seg(2, 0.1, False, SYN | ACK, S_ISN, isn + 1),
        seg(3, 0.2, True, PSH | ACK, isn + 1, S_ISN + 1, length=50),
        seg(4, 0.3, False, ACK, S_ISN + 1, isn + 51),
    )
    rows = build_timeline(segs, conn_row(), None)
    assert [r.seq for r in rows] == [0, 0, 1, 1]
    assert [r.ack for r in rows] == [None, 1, 1, 51]


def test_window_unscaled_when_one_side_did_not_offer_scaling() -> None:
    segs = table(
        seg(1, 0.0, True, SYN, C_ISN, wscale=7),
        seg(2, 0.1, False, SYN | ACK, S_ISN, C_ISN + 1, wscale=-1),
        seg(3, 0.2, True, ACK, C_ISN + 1, S_ISN + 1, window=502),
    )
    rows = build_timeline(segs, conn_row(), None)
    assert (rows[2].window, rows[2].window_scale_known) == (502, True)


def test_labels_come_from_this_connections_events_only() -> None:
    segs = table(*handshake(), seg(9, 5.0, True, SYN, 1, conn=1))
    events = pd.DataFrame(
        {
            "conn": [0, 0, 0, 1],
            "frame": [1, 2, 2, 9],
            "time_ns": [T0, T0, T0, T0],
            "side": ["client", "server", "server", "client"],
            "kind": ["syn", "synack", "zero_window", "syn"],
            "note": ["", "gap 1.0 s", None, "other"],
            "value": [None, 1.0, None, None],
        }
    )
    rows = build_timeline(segs, conn_row(), events)
    assert [r.frame for r in rows] == [1, 2, 3]
    assert rows[0].labels == (EventLabel("syn", ""),)
    assert rows[1].labels == (EventLabel("synack", "gap 1.0 s"), EventLabel("zero_window", ""))
    assert rows[2].labels == ()
    other = build_timeline(segs, conn_row(conn=1), events)
    assert [(r.frame, r.labels) for r in other] == [(9, (EventLabel("syn", "other"),))]


def test_as_dict_is_json_ready() -> None:
    events = pd.DataFrame({"conn": [0], "frame": [2], "kind": ["synack"], "note": ["SYN+ACK"]})
    rows = build_timeline(table(*handshake()), conn_row(), events)
    doc = json.loads(json.dumps([r.as_dict() for r in rows]))
    assert doc[1] == {
        "frame": 2,
        "time_s": 0.001,
        "delta_s": 0.001,
        "from": "server",
        "arrow": "←",
        "flags": "S.",
        "seq": 0,
        "seq_from": "isn",
        "ack": 1,
        "ack_from": "isn",
        "len": 0,
        "window": 65160,
        "window_scale_known": True,
        "events": [{"kind": "synack", "note": "SYN+ACK"}],
        "client_state": "SYN-SENT",
        "server_state": "SYN-RECV",
        "client_state_changed": False,
        "server_state_changed": True,
    }
    assert doc[0]["ack"] is None and doc[0]["ack_from"] is None
    assert doc[2]["window"] == 502 << 7


def test_unknown_connection_gives_no_rows() -> None:
    assert build_timeline(table(*handshake()), conn_row(conn=7), None) == []


@pytest.mark.parametrize(
    ("flags", "text"),
    [  # what tcpdump 4.99 printed for the same flag bytes
        (SYN, "S"),
        (SYN | ACK, "S."),
        (ACK, "."),
        (PSH | ACK, "P."),
        (FIN | ACK, "F."),
        (RST, "R"),
        (RST | ACK, "R."),
        (FIN | PSH | ACK, "FP."),
        (SYN | ECE | CWR, "SEW"),
        (SYN | ACK | ECE, "S.E"),
        (ACK | URG, ".U"),
        (0, "none"),
        (FIN, "F"),
        (FIN | SYN | RST | PSH | ACK, "FSRP."),
    ],
)
def test_tcpdump_flags(flags: int, text: str) -> None:
    assert tcpdump_flags(flags) == text


def test_render_text_shows_states_only_on_change_and_is_deterministic() -> None:
    segs = table(
        *handshake(),
        seg(4, 2.0, True, FIN | ACK, C_ISN + 1, S_ISN + 1, window=502),
    )
    events = pd.DataFrame(
        {
            "conn": [0],
            "frame": [4],
            "time_ns": [T0],
            "side": ["client"],
            "kind": ["fin"],
            "note": ["client closes"],
            "value": [None],
        }
    )
    rows = build_timeline(segs, conn_row(), events)
    text = render_timeline_text(rows, title=timeline_title(conn_row()))
    assert text == render_timeline_text(
        build_timeline(segs, conn_row(), events), title=timeline_title(conn_row())
    )
    lines = text.splitlines()
    assert lines[0] == "connection 0: client 10.0.0.1:40000 → server 10.0.0.2:80, fate closed"
    header = lines[1].split()
    assert header == [
        "frame",
        "time",
        "delta",
        "dir",
        "flags",
        "seq",
        "ack",
        "len",
        "win",
        "client",
        "server",
        "events",
    ]
    body = [line.split() for line in lines[2:6]]
    assert body[0] == ["1", "0.000000", "0s", "→", "S", "0", "0", "64240", "SYN-SENT"]
    assert body[1] == ["2", "0.001000", "1.0ms", "←", "S.", "0", "1", "0", "65160", "SYN-RECV"]
    assert body[2] == [
        "3",
        "0.002000",
        "1.0ms",
        "→",
        ".",
        "1",
        "1",
        "0",
        "64256",
        "ESTABLISHED",
        "ESTABLISHED",
    ]
    assert body[3] == [
        "4",
        "2.000000",
        "2.00s",
        "→",
        "F.",
        "1",
        "1",
        "0",
        "64256",
        "FIN-WAIT-1",
        "fin",
        "(client",
        "closes)",
    ]
    # Columns line up: every state sits under its header.
    client_col = lines[1].index("client")
    server_col = lines[1].index("server")
    assert lines[2][client_col:].startswith("SYN-SENT")
    assert lines[3][server_col:].startswith("SYN-RECV")
    assert lines[-1].startswith("→ client to server, ← server to client")
    assert "*" not in text and "~" not in text


def test_render_ascii_and_first_seen_markers() -> None:
    segs = table(
        seg(10, 0.0, True, PSH | ACK, 999_000, 777_000, length=20),
        seg(11, 0.1, False, ACK, 777_000, 999_020),
    )
    rows = build_timeline(segs, conn_row(start=None), None)
    text = render_timeline_text(rows, ascii_only=True)
    assert text.isascii()
    lines = text.splitlines()
    assert lines[1].split()[3:9] == ["->", "P.", "0'", "0'", "20", "500~"]
    assert lines[2].split()[3:7] == ["<-", ".", "0'", "20'"]
    assert "' seq/ack counted from the first one captured" in lines[-1]
    assert "~ raw window" in lines[-1] and "*" not in text


def test_one_sided_capture_shows_the_raw_ack() -> None:
    """Only the client's segments were captured: the server's numbers have no base at all, so
    the client's ACK is shown as the header carries it."""
    segs = table(
        seg(1, 0.0, True, PSH | ACK, 999_000, 777_000, length=20),
        seg(2, 0.2, True, PSH | ACK, 999_020, 777_100, length=20),
    )
    rows = build_timeline(segs, conn_row(start=None), None)
    assert [(r.seq, r.seq_from, r.ack, r.ack_from) for r in rows] == [
        (0, Numbering.FIRST_SEEN, 777_000, Numbering.RAW),
        (20, Numbering.FIRST_SEEN, 777_100, Numbering.RAW),
    ]
    text = render_timeline_text(rows)
    assert "777000*" in text and "* absolute seq/ack" in text.splitlines()[-1]


def test_data_before_the_first_seen_seq_counts_below_zero() -> None:
    """Mid-stream, a retransmission of bytes sent before the capture began: the facts count it
    below the first seq captured, and so does the timeline (no SYN: nothing is "before ISN")."""
    segs = table(
        seg(1, 0.0, True, PSH | ACK, 50_000, 9_000, length=100),
        seg(2, 0.3, True, PSH | ACK, 49_900, 9_000, length=100),
    )
    rows = build_timeline(segs, conn_row(start=None), None)
    assert [(r.seq, r.seq_from) for r in rows] == [
        (0, Numbering.FIRST_SEEN),
        (-100, Numbering.FIRST_SEEN),
    ]


def test_render_empty() -> None:
    assert "(no frames)" in render_timeline_text([])


def test_stale_peer_challenge_ack_client_stays_syn_sent() -> None:
    """SYN answered by a TIME-WAIT socket's bare ACK; the client's RST kills that socket, the
    client stays SYN-SENT and resends its SYN; the old incarnation's numbers stay absolute."""
    old_seq, old_ack = 3_000_000_000, 4_000_000_000
    segs = table(
        seg(10, 0.0, True, SYN, C_ISN),
        seg(11, 0.0001, False, ACK, old_seq, old_ack),  # challenge ACK from the old socket
        seg(12, 0.0002, True, RST, old_ack),
        seg(13, 0.012, True, SYN, C_ISN),
        seg(14, 0.0121, False, SYN | ACK, S_ISN, C_ISN + 1),
        seg(15, 0.0122, True, ACK, C_ISN + 1, S_ISN + 1),
    )
    rows = build_timeline(segs, conn_row(), None)
    assert states(rows) == [
        ("SYN-SENT", "?"),
        ("SYN-SENT", "?"),
        ("SYN-SENT", "CLOSED"),
        ("SYN-SENT", "CLOSED"),
        ("SYN-SENT", "SYN-RECV"),
        ("ESTABLISHED", "ESTABLISHED"),  # not mistaken for a dropped ACK
    ]
    assert (rows[1].seq, rows[1].seq_relative, rows[1].ack, rows[1].ack_relative) == (
        old_seq,
        False,
        old_ack,
        False,
    )
    assert (rows[2].seq, rows[2].seq_relative) == (old_ack, False)


# ---------------------------------------------------------------------------------------
# Real-kernel captures: the final states must fit what the kernel did (expected.json)
# ---------------------------------------------------------------------------------------

SAMPLES = Path(__file__).resolve().parent.parent / "sample_captures"


def final_states(
    fate: str, closer: str | None, reset_by: str | None, cause: str | None = None
) -> tuple[str, str] | None:
    """Each side's state at the end of the capture for a kernel-confirmed fate; None when the
    fate alone does not pin it (open, listen_overflow without RST; a scanner's probes, whose
    fate names no socket's state: the prober had none)."""
    if cause == "scan_probe" and reset_by is None:
        return None
    if reset_by is not None:
        return ("CLOSED", "CLOSED")  # the RST's receiver is assumed to accept it
    return {
        ("closed", "client"): ("TIME-WAIT", "CLOSED"),
        ("closed", "server"): ("CLOSED", "TIME-WAIT"),
        ("closed", "both"): ("TIME-WAIT", "TIME-WAIT"),
        ("half_closed", "client"): ("FIN-WAIT-2", "CLOSE-WAIT"),
        ("half_closed", "server"): ("CLOSE-WAIT", "FIN-WAIT-2"),
        ("connect_timeout", None): ("SYN-SENT", "?"),
        ("handshake_timeout", None): ("SYN-SENT", "SYN-RECV"),
        # Linux gives up silently (no RST) on these: both still ESTABLISHED on the wire.
        ("retransmit_timeout", None): ("ESTABLISHED", "ESTABLISHED"),
        ("persist_timeout", None): ("ESTABLISHED", "ESTABLISHED"),
        ("keepalive_timeout", None): ("ESTABLISHED", "ESTABLISHED"),
    }.get((fate, closer))


def sample_cases() -> list[Any]:
    cases = []
    for expected_path in sorted(SAMPLES.glob("*.expected.json")):
        capture = expected_path.with_name(expected_path.name.replace(".expected.json", ".pcap"))
        if not capture.exists():
            continue
        expected = json.loads(expected_path.read_text())
        for conn in expected.get("connections", []):
            want = final_states(
                conn["fate"], conn.get("closer"), conn.get("reset_by"), conn.get("cause")
            )
            port = conn.get("match", {}).get("client_port")
            # A capture of one direction (tcpdump -Q): the timeline draws states from the
            # packets seen only, and the other side sent none of them ("?", never its FIN).
            one_way = "-Q" in expected.get("capture_format", {}).get("tool", "")
            marks = [pytest.mark.skip(reason="one direction captured")] if one_way else []
            if want is not None and port is not None:
                cases.append(
                    pytest.param(capture, int(port), want, id=f"{capture.stem}-{port}", marks=marks)
                )
    return cases or [
        pytest.param(None, 0, None, marks=pytest.mark.skip(reason="no sample captures"))
    ]


def analysed(capture: Path) -> Any:
    return shared.whole(capture)


@pytest.mark.parametrize(("capture", "client_port", "want"), sample_cases())
def test_final_states_on_real_captures(
    capture: Path, client_port: int, want: tuple[str, str]
) -> None:
    analysis = analysed(capture)
    conns = analysis.connections[analysis.connections["client_port"] == client_port]
    if len(conns) != 1:
        pytest.skip(f"{len(conns)} connections from port {client_port}: match is ambiguous")
    rows = connection_timeline(analysis, int(conns.iloc[0]["id"]))
    assert (str(rows[-1].client_state), str(rows[-1].server_state)) == want
    # Every row is a frame of this connection, in order, each shown once.
    frames = [r.frame for r in rows]
    assert frames == sorted(set(frames)) and len(frames) == int(conns.iloc[0]["packets"])


@pytest.mark.parametrize(
    "name",
    ["midstream-start", "stale-peer-challenge-ack", "refused-no-listener", "closed-client-first"],
)
def test_numbers_are_the_facts_and_both_entry_points_agree(name: str) -> None:
    """The timeline counts seq/ack as facts.py does (no arithmetic of its own), whether it
    reads the Analysis' facts or computes one connection's facts from the tables."""
    capture = SAMPLES / f"{name}.pcap"
    if not capture.exists():
        pytest.skip("sample capture missing")
    analysis = analysed(capture)
    facts = analysis.facts
    assert facts is not None
    for index, conn_id in enumerate(facts.conn_ids.tolist()):
        rows = connection_timeline(analysis, conn_id)
        row = analysis.connection(conn_id)
        assert rows == build_timeline(analysis.segments, row, analysis.events)
        lo, hi = facts.starts[index], facts.starts[index + 1]
        assert [r.frame for r in rows] == facts.frame[lo:hi].tolist()
        for r, rel_seq, rel_ack, window in zip(
            rows, facts.rel_seq[lo:hi], facts.rel_ack[lo:hi], facts.window[lo:hi], strict=True
        ):
            assert r.window == window
            if r.seq_from is not Numbering.RAW:
                assert r.seq == rel_seq
            if r.ack_from is not None and r.ack_from is not Numbering.RAW:
                assert r.ack == rel_ack


def test_analysis_without_facts_gets_them_computed() -> None:
    capture = SAMPLES / "midstream-start.pcap"
    if not capture.exists():
        pytest.skip("sample capture missing")
    analysis = analysed(capture)
    bare = dataclasses.replace(analysis, facts=None)
    assert connection_timeline(bare, 0) == connection_timeline(analysis, 0)
    with pytest.raises(KeyError):
        connection_timeline(bare, 99)


def test_listen_overflow_capture_shows_server_back_in_syn_recv() -> None:
    capture = SAMPLES / "listen-overflow-backlog2-abort0.pcap"
    if not capture.exists():
        pytest.skip("sample capture missing")
    analysis = analysed(capture)
    overflowed = analysis.connections[analysis.connections["fate"] == "listen_overflow"]
    assert len(overflowed) >= 1
    rows = connection_timeline(analysis, int(overflowed.iloc[0]["id"]))
    server_path = [str(r.server_state) for r in rows if r.server_state_changed]
    assert server_path[:3] == ["SYN-RECV", "ESTABLISHED", "SYN-RECV"]
    resent = [r for r in rows if r.server_state_changed and r.server_state is TcpState.SYN_RECV][1]
    assert resent.flags == "S." and any(lab.kind == "synack_retransmit" for lab in resent.labels)


def test_cli_timeline_and_missing_stream(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    capture = SAMPLES / "refused-no-listener.pcap"
    if not capture.exists():
        pytest.skip("sample capture missing")
    from pcapline.cli import run

    assert run(["timeline", str(capture), "0", "--ascii"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("connection 0: client ") and lines[0].endswith("fate refused")
    assert lines[2].split()[3:5] == ["->", "S"] and lines[3].split()[3:5] == ["<-", "R."]
    assert run(["timeline", str(capture), "7"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no connection with id 7" in err
    target = tmp_path / "t.txt"
    assert run(["timeline", str(capture), "0", "-o", str(target)]) == 0
    assert target.read_text(encoding="utf-8").splitlines()[2].split()[3] == "→"


def test_icmp_errors_are_drawn_between_the_segments_they_quote() -> None:
    """Real kernel: nftables on the router rejects the client's SYNs with ICMP admin
    prohibited (captured at the client). Both errors travel to the client and sit between
    the SYN they quote and the next frame; they change no drawn state."""
    from pcapline.analysis import analyze
    from pcapline.render.timeline import connection_timeline_text
    from pcapline.timeline import connection_notices

    analysis = analyze(SAMPLES / "icmp-reject-admin-prohibited-at-client.pcap")
    notices = connection_notices(analysis, 0)
    assert [n.frame for n in notices] == [4, 6]
    assert {n.side for n in notices} == {Side.SERVER}  # drawn toward the client
    assert all(n.labels[0].kind == "icmp_error" for n in notices)
    assert "quoting frame 3" in notices[0].labels[0].note
    lines = connection_timeline_text(analysis, 0).splitlines()
    frames = [line.split()[0] for line in lines[2:-1]]
    assert frames == ["3", "4", "5", "6"]
    icmp_line = lines[3].split()
    assert icmp_line[3:5] == ["←", "ICMP"]
    # the delta counts from the line above: the SYN of frame 3 at time 0
    assert icmp_line[2] == duration(float(icmp_line[1]))
    assert "ICMP: an ICMP error" in lines[-1]


def test_timeline_without_icmp_has_no_notice_lines() -> None:
    from pcapline.analysis import analyze
    from pcapline.render.timeline import connection_timeline_text
    from pcapline.timeline import connection_notices

    analysis = analyze(SAMPLES / "refused-no-listener.pcap")
    assert connection_notices(analysis, 0) == []
    text = connection_timeline_text(analysis, 0)
    assert "ICMP" not in text
