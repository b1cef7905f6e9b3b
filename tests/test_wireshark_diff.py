"""Wireshark cross-check: our events against tshark's tcp.analysis flags, frame by frame.

Three layers:

1. ``compare()`` on small hand-made tables (no tshark needed): the mapping rules and the
   reasoned exceptions do what wireshark_oracle.py says, and anything else is reported.
2. The premises of the exceptions, checked against the installed tshark on tiny crafted
   captures (e.g. that Wireshark really labels a Linux 0-byte zero-window probe Keep-Alive).
3. Every capture in ``sample_captures/`` (real-kernel, plus the crafted NAT ones): no
   unexplained disagreement, connection ids equal ``tcp.stream``, and the exceptions that
   fire are the ones pinned per capture with the reason we are right.

tshark-dependent tests skip cleanly when tshark is absent.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from needs import needs_tshark
from tshark_sweep import TSHARK, Ahead

from pcapline.crosscheck.oracle import (
    EXCEPTIONS,
    MAPPING,
    TSHARK_PREFS,
    WIRESHARK_FLAGS,
    compare,
    crosscheck,
    parse_tshark_fields,
    read_wireshark,
    run_tshark,
    tshark_version,
)
from pcapline.model import ACK, FIN, PSH, SYN, EventKind

K = EventKind
SAMPLES = Path(__file__).resolve().parent.parent / "sample_captures"


# ---------------------------------------------------------------------------------------
# 1. compare() on hand-made tables
# ---------------------------------------------------------------------------------------


def frames(*rows: tuple[int, bool, int, int, int]) -> pd.DataFrame:
    """(frame, from_client, seg_len, tcp flags, window) for connection 0."""
    return pd.DataFrame(
        [
            {"frame": f, "conn": 0, "from_client": fc, "seg_len": n, "flags": fl, "window": w}
            for f, fc, n, fl, w in rows
        ]
    )


def ws(*rows: tuple[int, set[str]], stream: int = 0) -> pd.DataFrame:
    out = []
    for frame, flags in rows:
        row: dict[str, Any] = {"frame": frame, "stream": stream}
        row.update({f: f in flags for f in WIRESHARK_FLAGS})
        out.append(row)
    return pd.DataFrame(out)


def events(*rows: tuple[int, str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "conn": [0] * len(rows),
            "frame": [f for f, _ in rows],
            "time_ns": [0] * len(rows),
            "side": ["client"] * len(rows),
            "kind": [k for _, k in rows],
            "note": [""] * len(rows),
            "value": [None] * len(rows),
        }
    )


def test_naming_mapping_is_agreement() -> None:
    segs = frames(
        (1, True, 0, SYN, 100),
        (2, True, 0, SYN, 100),
        (3, True, 10, PSH | ACK, 100),
        (4, True, 10, PSH | ACK, 100),
    )
    theirs = ws(
        (1, set()),
        (2, {"retransmission"}),
        (3, set()),
        (4, {"retransmission", "fast_retransmission"}),
    )
    ours = events((1, "syn"), (2, "syn_retransmit"), (4, "fast_retransmit"))
    result = compare(segs, ours, theirs)
    assert result.unexplained == []
    assert dict(result.agreed) == {"retransmission": 1, "fast_retransmission": 1}
    assert result.frames_compared == 4 and result.stream_mismatches == []


def test_retransmission_kind_mismatch_is_reported_both_ways() -> None:
    """Wireshark's fast retransmission against our RTO retransmit is NOT waved through."""
    segs = frames((5, True, 100, ACK, 100))
    result = compare(
        segs, events((5, "retransmit")), ws((5, {"retransmission", "fast_retransmission"}))
    )
    assert sorted((d.source, d.label) for d in result.unexplained) == [
        ("pcapline", "retransmit"),
        ("wireshark", "fast_retransmission"),
    ]
    assert "frame 5 (conn 0): wireshark says fast_retransmission" in str(result.unexplained[0])


def test_missing_event_and_extra_event_are_unexplained() -> None:
    segs = frames((1, True, 0, ACK, 100), (2, False, 0, ACK, 100))
    result = compare(segs, events((2, "keepalive")), ws((1, {"keep_alive"}), (2, set())))
    assert [(d.frame, d.source, d.label) for d in result.unexplained] == [
        (1, "wireshark", "keep_alive"),
        (2, "pcapline", "keepalive"),
    ]


def test_linux_zero_window_probe_explained_both_ways() -> None:
    segs = frames(
        (10, False, 0, ACK, 0),  # receiver closes its window
        (11, True, 0, ACK, 500),  # Linux probe: 0 bytes, snd_una - 1
        (12, False, 0, ACK, 0),  # answer, window still 0
        (13, False, 0, ACK, 0),  # a later zero-window ACK we do not report again
    )
    theirs = ws(
        (10, {"zero_window"}), (11, {"keep_alive"}), (12, {"zero_window"}), (13, {"zero_window"})
    )
    ours = events((10, "zero_window"), (11, "window_probe"), (12, "window_probe_ack"))
    result = compare(segs, ours, theirs)
    assert result.unexplained == []
    assert dict(result.agreed) == {"zero_window": 2}
    assert dict(result.explained) == {"linux_zero_window_probe": 2, "zero_window_repeat": 1}
    assert result.explained_frames["zero_window_repeat"] == [13]


def test_zero_window_repeat_needs_a_window_still_closed() -> None:
    """A zero window after our window_update is a new closing: we must report it."""
    segs = frames((10, False, 0, ACK, 0), (11, False, 0, ACK, 300), (12, False, 0, ACK, 0))
    theirs = ws((10, {"zero_window"}), (11, {"window_update"}), (12, {"zero_window"}))
    result = compare(segs, events((10, "zero_window"), (11, "window_update")), theirs)
    assert [(d.frame, d.label) for d in result.unexplained] == [(12, "zero_window")]


def test_one_byte_window_probe_is_not_the_linux_exception() -> None:
    """A 1-byte probe that Wireshark calls Keep-Alive is not explained by the 0-byte rule."""
    segs = frames((10, False, 0, ACK, 0), (11, True, 1, ACK, 500))
    result = compare(
        segs,
        events((10, "zero_window"), (11, "window_probe")),
        ws((10, {"zero_window"}), (11, {"keep_alive"})),
    )
    assert {(d.frame, d.label) for d in result.unexplained} == {
        (11, "keep_alive"),
        (11, "window_probe"),
    }


def copy_pair(ip_id: int, answer_ids: tuple[int, int], copy_after_us: int = 8) -> pd.DataFrame:
    """Server SYN+ACK (frame 2), the client's ACK (3), the same SYN+ACK again (4), a client ACK (5)."""
    base = {"conn": 0, "ip_version": 4, "window": 500, "seg_len": 0}
    synack = {
        **base,
        "from_client": False,
        "seq": 5000,
        "ack": 1001,
        "flags": SYN | ACK,
        "ip_id": ip_id,
    }
    answer = {**base, "from_client": True, "seq": 1001, "ack": 5001, "flags": ACK}
    return pd.DataFrame(
        [
            {**synack, "frame": 2, "time_ns": 0},
            {**answer, "frame": 3, "time_ns": 3_000, "ip_id": answer_ids[0]},
            {**synack, "frame": 4, "time_ns": copy_after_us * 1_000},
            {**answer, "frame": 5, "time_ns": 20_000, "ip_id": answer_ids[1]},
        ]
    )


def test_capture_duplicate_explains_wireshark_retransmission() -> None:
    theirs = ws((2, set()), (3, set()), (4, {"retransmission"}), (5, set()))
    # A datagram with a real IP ID seen twice: a capture copy.
    result = compare(copy_pair(0x1234, (0x77, 0x78)), events((4, "duplicate")), theirs)
    assert result.unexplained == [] and dict(result.explained) == {"capture_duplicate": 1}
    # IP ID 0 (RFC 6864), and the client's answer was copied too (same IP ID): a capture copy.
    result = compare(copy_pair(0, (0x77, 0x77)), events((4, "duplicate")), theirs)
    assert result.unexplained == [] and dict(result.explained) == {"capture_duplicate": 1}


def test_two_real_synacks_with_ip_id_0_are_not_a_capture_copy() -> None:
    """Linux SYN+ACKs carry IP ID 0: two real ones drew two client ACKs (new IP IDs)."""
    theirs = ws((2, set()), (3, set()), (4, {"retransmission"}), (5, set()))
    result = compare(copy_pair(0, (0x77, 0x78), copy_after_us=50), events((4, "duplicate")), theirs)
    assert [(d.frame, d.source, d.label) for d in result.unexplained] == [
        (4, "wireshark", "retransmission")
    ]
    # Too far apart to be one packet seen twice, whatever the IP ID.
    result = compare(
        copy_pair(0x1234, (0x77, 0x77), copy_after_us=2_000), events((4, "duplicate")), theirs
    )
    assert [(d.frame, d.label) for d in result.unexplained] == [(4, "retransmission")]


@pytest.mark.parametrize(("second_ts", "explained"), [(900, True), (3300, False)])
def test_same_ip_id_and_tsval_seconds_apart_is_a_capture_copy(
    second_ts: int, explained: bool
) -> None:
    # Two taps merged across a 2.4 s queue: the client's data segment seen twice with its IP
    # ID and TSval; a real resend would carry a new IP ID and a later TSval.
    base = {"conn": 0, "ip_version": 4, "window": 500, "from_client": True, "has_ts": True}
    data = {**base, "seq": 1001, "ack": 5001, "flags": PSH | ACK, "seg_len": 100}
    segs = pd.DataFrame(
        [
            {**data, "frame": 1, "time_ns": 0, "ip_id": 0x20, "ts_val": 900},
            {**data, "frame": 2, "time_ns": 1_000_000, "ip_id": 0x21, "ts_val": 901, "seq": 1101},
            {**data, "frame": 3, "time_ns": 2_400_000_000, "ip_id": 0x20, "ts_val": second_ts},
        ]
    )
    theirs = ws((1, set()), (2, set()), (3, {"retransmission"}))
    result = compare(segs, events((3, "duplicate")), theirs)
    assert (result.unexplained == []) is explained
    if explained:
        assert dict(result.explained) == {"capture_duplicate": 1}


def test_one_byte_retransmission_labelled_keepalive() -> None:
    segs = frames((7, True, 1, PSH | ACK, 100))
    result = compare(segs, events((7, "retransmit")), ws((7, {"keep_alive"})))
    assert result.unexplained == []
    assert dict(result.explained) == {"one_byte_retransmission": 2}


def seg(
    frame: int,
    from_client: bool,
    seq: int,
    ack: int,
    length: int = 0,
    flags: int = ACK,
    sack: tuple[int, int] | None = None,
) -> dict[str, Any]:
    return {
        "frame": frame,
        "conn": 0,
        "from_client": from_client,
        "seq": seq,
        "ack": ack,
        "seg_len": length,
        "flags": flags,
        "window": 500,
        "sack_blocks": 1 if sack else 0,
        "sack_le": sack[0] if sack else 0,
        "sack_re": sack[1] if sack else 0,
    }


def test_spurious_fin_explained() -> None:
    segs = pd.DataFrame(
        [
            seg(1, False, 3001, 8, flags=FIN | ACK),
            seg(
                2, True, 8, 3002, flags=FIN | ACK
            ),  # client ACKs the FIN (lost after the capture point)
            seg(3, False, 3001, 8, flags=FIN | ACK),  # server resends it
        ]
    )
    result = compare(
        segs,
        events((1, "fin"), (2, "fin"), (3, "spurious_retransmit")),
        ws((1, set()), (2, set()), (3, {"retransmission"})),
    )
    assert result.unexplained == [] and dict(result.explained) == {"spurious_fin": 2}


def sack_recovery(resend_seq: int) -> pd.DataFrame:
    """Server data 1001.. with 1001-2449 lost; client SACKs 2449-5345; server resends."""
    return pd.DataFrame(
        [
            seg(1, False, 2449, 8, 1448),
            seg(2, False, 3897, 8, 1448),
            seg(3, True, 8, 1001, sack=(2449, 3897)),
            seg(4, True, 8, 1001, sack=(2449, 5345)),
            seg(5, False, resend_seq, 8, 1448),
        ]
    )


def test_fast_retransmit_at_sack_hole_explained() -> None:
    theirs = ws((1, set()), (2, set()), (3, set()), (4, set()), (5, {"retransmission"}))
    result = compare(sack_recovery(1001), events((5, "fast_retransmit")), theirs)
    assert result.unexplained == []
    assert dict(result.explained) == {"sack_recovery_vs_dupack_rule": 2}
    ooo = ws((1, set()), (2, set()), (3, set()), (4, set()), (5, {"out_of_order"}))
    result = compare(sack_recovery(1001), events((5, "fast_retransmit")), ooo)
    assert result.unexplained == [] and dict(result.explained) == {"original_not_captured": 1}


def test_fast_retransmit_of_sacked_data_is_not_explained() -> None:
    """Resending data the peer SACKed is no hole repair: the exception must not cover it."""
    theirs = ws((1, set()), (2, set()), (3, set()), (4, set()), (5, {"retransmission"}))
    result = compare(sack_recovery(3897), events((5, "fast_retransmit")), theirs)
    assert {(d.source, d.label) for d in result.unexplained} == {
        ("wireshark", "retransmission"),
        ("pcapline", "fast_retransmit"),
    }


def one_sided_resend(*, with_peer: bool) -> pd.DataFrame:
    """Client data 1001.. (three segments), then 1001 again 90 us after the newest: all a
    one-sided tap saw, or (``with_peer``) with the server's ACK of the first segment too."""
    rows = [
        {**seg(1, True, 1001, 8, 1448), "time_ns": 0},
        {**seg(2, True, 2449, 8, 1448), "time_ns": 10_000},
        {**seg(3, True, 3897, 8, 1448), "time_ns": 20_000},
        {**seg(5, True, 1001, 8, 1448), "time_ns": 110_000},
    ]
    if with_peer:
        rows.insert(3, {**seg(4, False, 8, 2449), "time_ns": 60_000})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("ours", ["fast_retransmit", "retransmit", "retransmit_unknown"])
def test_a_resend_wireshark_calls_out_of_order_in_a_one_sided_capture(ours: str) -> None:
    """Without the peer's ACKs Wireshark calls a resend right after new data Out-Of-Order and
    labels nothing we compare; explained only when the peer's segments are not captured."""
    theirs = ws((1, set()), (2, set()), (3, set()), (5, {"out_of_order"}))
    result = compare(one_sided_resend(with_peer=False), events((5, ours)), theirs)
    assert result.unexplained == [] and dict(result.explained) == {"one_direction_captured": 1}
    theirs = ws((1, set()), (2, set()), (3, set()), (4, set()), (5, {"out_of_order"}))
    result = compare(one_sided_resend(with_peer=True), events((5, ours)), theirs)
    assert [(d.source, d.label) for d in result.unexplained] == [("pcapline", ours)]


@pytest.mark.parametrize("with_peer", [False, True])
def test_a_probe_shape_with_the_peers_window_unseen_is_named_by_neither_kind(
    with_peer: bool,
) -> None:
    """Keepalive or Linux zero-window probe (0 bytes at snd.una - 1): only the peer's window
    tells which, so with the peer not captured we name neither and Wireshark's Keep-Alive is
    a known difference; with the peer captured, naming neither is a real disagreement."""
    rows = [{**seg(1, True, 1001, 8, 100), "time_ns": 0}]
    if with_peer:
        rows.append({**seg(2, False, 8, 1101), "time_ns": 1_000_000})
    rows.append({**seg(3, True, 1100, 8), "time_ns": 400_000_000})
    theirs = ws(*((r["frame"], {"keep_alive"} if r["frame"] == 3 else set()) for r in rows))
    result = compare(pd.DataFrame(rows), events(), theirs)
    if with_peer:
        assert [(d.source, d.label) for d in result.unexplained] == [("wireshark", "keep_alive")]
    else:
        assert result.unexplained == []
        assert dict(result.explained) == {"probe_of_an_unseen_window": 1}


@pytest.mark.parametrize(
    ("resend_seq", "resend_len", "after_ns", "explained"),
    [
        (2209, 1208, 300_000, True),  # the rest of the first segment, cut at a smaller MSS
        (1001, 1208, 300_000, True),  # its start, shorter
        (1001, 1448, 300_000, False),  # the very same segment: no new cut (tail_loss_probe's)
        (2209, 1208, 250_000_000, False),  # past the minimum RTO: a timer may have sent it
    ],
)
def test_bytes_resent_cut_otherwise_soon_are_a_resegmented_resend(
    resend_seq: int, resend_len: int, after_ns: int, explained: bool
) -> None:
    """After an ICMP 'packet too big' Linux resends what is in flight at once, cut at the new
    MSS (tcp_simple_retransmit): Wireshark's plain retransmission, our fast_retransmit."""
    segs = pd.DataFrame(
        [
            {**seg(1, True, 1001, 8, 1448), "time_ns": 0},
            {**seg(2, True, 2449, 8, 1448), "time_ns": 10_000},
            {**seg(3, True, resend_seq, 8, resend_len), "time_ns": after_ns},
        ]
    )
    theirs = ws((1, set()), (2, set()), (3, {"retransmission"}))
    result = compare(segs, events((3, "fast_retransmit")), theirs)
    fired = dict(result.explained)
    if explained:
        assert result.unexplained == [] and fired == {"resegmented_resend": 2}
    else:
        assert "resegmented_resend" not in fired


def test_keepalive_ack_that_wireshark_names_otherwise() -> None:
    segs = frames(
        (1, True, 0, ACK, 500),
        (2, False, 0, ACK, 600),
        (3, True, 0, ACK, 500),
        (4, False, 0, FIN | ACK, 600),
    )
    theirs = ws((1, {"keep_alive"}), (2, {"window_update"}), (3, {"keep_alive"}), (4, set()))
    ours = events((1, "keepalive"), (2, "keepalive_ack"), (3, "keepalive"), (4, "keepalive_ack"))
    result = compare(segs, ours, theirs)
    assert result.unexplained == []
    assert dict(result.explained) == {
        "keepalive_ack_updates_window": 1,
        "keepalive_answered_by_fin": 1,
    }
    # A plain ACK with neither excuse stays unexplained.
    result = compare(
        segs, ours, ws((1, {"keep_alive"}), (2, set()), (3, {"keep_alive"}), (4, set()))
    )
    assert [(d.frame, d.label) for d in result.unexplained] == [(2, "keepalive_ack")]


def test_a_keepalive_probe_that_opens_the_capture() -> None:
    # Mid-stream: the client's probe opens the capture; Wireshark has no earlier segment to
    # measure it against and calls its answer "ACKed unseen segment".
    segs = frames((1, True, 0, ACK, 500), (2, False, 0, ACK, 600), (3, True, 0, FIN | ACK, 500))
    ours = events((1, "capture_start"), (1, "keepalive"), (2, "keepalive_ack"))
    theirs = ws((1, set()), (2, {"ack_lost_segment"}), (3, {"lost_segment"}))
    result = compare(segs, ours, theirs)
    assert result.unexplained == []
    assert dict(result.explained) == {"probe_opens_the_capture": 2}
    # A keepalive inside the capture that Wireshark does not call one stays unexplained.
    result = compare(
        segs, events((1, "keepalive"), (2, "keepalive_ack")), ws((1, set()), (2, set()))
    )
    assert [(d.frame, d.label) for d in result.unexplained] == [
        (1, "keepalive"),
        (2, "keepalive_ack"),
    ]


def test_window_update_checked_one_way() -> None:
    segs = frames((3, False, 0, ACK, 300), (4, False, 50, ACK, 300), (5, False, 0, ACK, 300))
    theirs = ws((3, {"window_update"}), (4, set()), (5, set()))
    result = compare(
        segs, events((3, "window_update"), (4, "window_update"), (5, "window_update")), theirs
    )
    # 3 matches, 4 carries data (Wireshark only flags pure ACKs), 5 is ours alone.
    assert [(d.frame, d.label) for d in result.unexplained] == [(5, "window_update")]


def test_stream_ids_compared_and_undecoded_frames_counted() -> None:
    segs = frames((1, True, 0, SYN, 100), (2, True, 0, SYN, 100))
    theirs = pd.concat([ws((1, set())), ws((2, set()), stream=1), ws((3, set()), stream=1)])
    result = compare(segs, events(), theirs)
    assert result.stream_mismatches == [(2, 1, 0)]
    assert (result.only_wireshark, result.only_pcapline, result.frames_compared) == (1, 0, 2)


def test_phantom_wireshark_streams_are_reported_not_mismatched() -> None:
    """SOCKS/FTP dissectors make frameless conversations that take a tcp.stream number."""
    segs = pd.concat(
        [frames((1, True, 0, SYN, 100)), frames((2, True, 0, SYN, 100)).assign(conn=1)]
    )
    theirs = pd.concat([ws((1, set())), ws((2, set()), stream=2)])
    result = compare(segs, events(), theirs)
    assert result.stream_mismatches == [] and result.phantom_streams == [1]
    wrong = pd.concat([ws((1, set()), stream=1), ws((2, set()), stream=3)])  # ranks 0, 1 still fine
    assert compare(segs, events(), wrong).stream_mismatches == []
    swapped = pd.concat([ws((1, set()), stream=2), ws((2, set()), stream=0)])
    assert compare(segs, events(), swapped).stream_mismatches == [(1, 1, 0), (2, 0, 1)]


def test_fin_retransmission_of_any_trigger_is_fin_retransmit() -> None:
    segs = frames((8, False, 0, FIN | ACK, 100))
    result = compare(
        segs, events((8, "fin_retransmit")), ws((8, {"retransmission", "fast_retransmission"}))
    )
    assert result.unexplained == [] and dict(result.agreed) == {"fast_retransmission": 1}


def test_every_exception_and_rule_is_documented() -> None:
    assert all(len(e.why) > 40 for e in EXCEPTIONS)
    assert all(r.why for r in MAPPING)
    labels = {r.wireshark for r in MAPPING}
    kinds = {str(k) for r in MAPPING for k in r.ours} | {str(K.WINDOW_UPDATE)}
    for exc in EXCEPTIONS:
        assert exc.wireshark <= labels and exc.ours <= kinds, exc.name


# ---------------------------------------------------------------------------------------
# 2. The premises, checked against the installed tshark on tiny crafted captures
# ---------------------------------------------------------------------------------------

CLIENT, SERVER = "10.0.0.1", "10.0.0.2"
C_ISN, S_ISN = 1000, 5000


def write_pcap(
    path: Path, packets: list[tuple[float, bool, int, int, int, int, bytes, int]]
) -> Path:
    """(time, from_client, flags, seq, ack, window, payload, ip_id) -> Ethernet pcap."""
    import socket

    import dpkt

    with path.open("wb") as fh:
        writer = dpkt.pcap.Writer(fh)
        for t, from_client, flags, seq, ack, window, payload, ip_id in packets:
            src, dst = (CLIENT, SERVER) if from_client else (SERVER, CLIENT)
            sport, dport = (40000, 80) if from_client else (80, 40000)
            tcp = dpkt.tcp.TCP(
                sport=sport, dport=dport, seq=seq, ack=ack, flags=flags, win=window, data=payload
            )
            ip = dpkt.ip.IP(
                src=socket.inet_aton(src),
                dst=socket.inet_aton(dst),
                p=6,
                id=ip_id,
                ttl=64,
                data=tcp,
            )
            ip.len = len(ip)
            writer.writepkt(
                bytes(dpkt.ethernet.Ethernet(data=ip, type=0x0800)), ts=1_700_000_000 + t
            )
    return path


def handshake_packets() -> list[tuple[float, bool, int, int, int, int, bytes, int]]:
    return [
        (0.0, True, SYN, C_ISN, 0, 64240, b"", 1),
        (0.001, False, SYN | ACK, S_ISN, C_ISN + 1, 65160, b"", 2),
        (0.002, True, ACK, C_ISN + 1, S_ISN + 1, 502, b"", 3),
    ]


def labels_by_frame(path: Path) -> dict[int, set[str]]:
    table = read_wireshark(path)
    return {
        int(row.frame): {f for f in WIRESHARK_FLAGS if getattr(row, f)}
        for row in table.itertuples(index=False)
    }


@needs_tshark
def test_premise_linux_zero_window_probe_is_keepalive_to_wireshark(tmp_path: Path) -> None:
    """0-byte probe at snd_una - 1 while the peer's window is 0: Wireshark says Keep-Alive."""
    pkts = [
        *handshake_packets(),
        (0.010, True, PSH | ACK, C_ISN + 1, S_ISN + 1, 502, b"x" * 100, 4),
        (0.011, False, ACK, S_ISN + 1, C_ISN + 101, 0, b"", 5),  # window closes
        (0.250, True, ACK, C_ISN + 100, S_ISN + 1, 502, b"", 6),  # Linux persist probe
        (0.251, False, ACK, S_ISN + 1, C_ISN + 101, 0, b"", 7),  # still 0
        (0.700, True, ACK, C_ISN + 100, S_ISN + 1, 502, b"", 8),
        (0.701, False, ACK, S_ISN + 1, C_ISN + 101, 0, b"", 9),
    ]
    got = labels_by_frame(write_pcap(tmp_path / "zwp.pcap", pkts))
    assert got[5] == {"zero_window"}
    assert "keep_alive" in got[6] and "zero_window_probe" not in got[6]
    assert "keep_alive" in got[8] and "zero_window_probe" not in got[8]
    assert "zero_window" in got[7] and "zero_window_probe_ack" not in got[7]


@needs_tshark
def test_premise_one_byte_retransmission_is_keepalive_to_wireshark(tmp_path: Path) -> None:
    pkts = [
        *handshake_packets(),
        (0.010, True, PSH | ACK, C_ISN + 1, S_ISN + 1, 502, b"x", 4),
        (0.220, True, PSH | ACK, C_ISN + 1, S_ISN + 1, 502, b"x", 5),  # RTO: same byte again
    ]
    got = labels_by_frame(write_pcap(tmp_path / "onebyte.pcap", pkts))
    assert "keep_alive" in got[5] and "retransmission" not in got[5]


@needs_tshark
def test_premise_capture_duplicate_is_retransmission_to_wireshark(tmp_path: Path) -> None:
    """Same IP ID, same everything, 8 µs apart: one packet captured twice."""
    pkts = [
        *handshake_packets(),
        (0.01, True, PSH | ACK, C_ISN + 1, S_ISN + 1, 502, b"x" * 100, 4),
        (0.010008, True, PSH | ACK, C_ISN + 1, S_ISN + 1, 502, b"x" * 100, 4),
    ]
    got = labels_by_frame(write_pcap(tmp_path / "dup.pcap", pkts))
    assert "retransmission" in got[5]


@needs_tshark
def test_premise_syn_retransmission_is_plain_retransmission(tmp_path: Path) -> None:
    pkts = [(t, True, SYN, C_ISN, 0, 64240, b"", i + 1) for i, t in enumerate([0.0, 1.0, 2.0])]
    got = labels_by_frame(write_pcap(tmp_path / "syn.pcap", pkts))
    assert got[1] == set()
    assert got[2] == {"retransmission"} and got[3] == {"retransmission"}


# ---------------------------------------------------------------------------------------
# 3. Every sample capture
# ---------------------------------------------------------------------------------------

CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".pcap.gz", ".pcapng.gz", ".pcap.zst", ".pcapng.zst")


def sample_captures() -> list[Path]:
    """sample_captures/**: the real-kernel captures, and the crafted NAT ones too (crafted-*:
    not a kernel's output, but hundreds of connections reusing 4-tuples, a good check that our
    connection ids are Wireshark's tcp.stream)."""
    if not SAMPLES.is_dir():
        return []
    return sorted(
        p for p in SAMPLES.rglob("*") if p.is_file() and p.name.endswith(CAPTURE_SUFFIXES)
    )


#: Which known differences fire on each capture (path relative to sample_captures/). Each is
#: a place where Wireshark and pcapline label a frame differently and EXCEPTIONS says why we
#: are right; a capture not listed must agree with Wireshark everywhere.
PINNED: dict[str, frozenset[str]] = {
    # Linux persist probes (0 bytes at snd_una - 1) that Wireshark calls Keep-Alive; their
    # zero-window answers agree (zero_window / window_probe_ack).
    # Both also resend their last data segment 7-8 ms after the original: a tail loss probe
    # (RFC 8985) that the receiver, its buffer filling, D-SACKs (RFC 2883: its ACK came after
    # the probe): spurious, where Wireshark calls it a plain Retransmission.
    "persist-timeout-retries2-3.pcap": frozenset({"linux_zero_window_probe", "dsacked_resend"}),
    "zero-window-recovers.pcap": frozenset({"linux_zero_window_probe", "dsacked_resend"}),
    # One segment in flight: the tail loss probe fires at about the RTO's own time, then the
    # RTO comes the same gap later and doubles from there (copies g, g, 2g..., or g, g and
    # the ACK); Wireshark calls the probe a retransmission.
    "listen-overflow-backlog2-abort0.pcap": frozenset({"tail_loss_probe_at_rto_time"}),
    "tail-loss-probe-then-rto-at-server.pcap": frozenset({"tail_loss_probe_at_rto_time"}),
    "slow-answers-lost-3s-at-server.pcap": frozenset({"tail_loss_probe_at_rto_time"}),
    "middlebox-idle-timeout-drop-at-client.pcap": frozenset({"tail_loss_probe_at_rto_time"}),
    "middlebox-idle-timeout-drop-larger-request-at-client.pcap": frozenset(
        {"tail_loss_probe_at_rto_time"}
    ),
    "slow-accept-queue-first-data.pcap": frozenset({"tail_loss_probe_at_rto_time"}),
    # ... and the last timeout's copy arrives as a duplicate (the router dropped the server's
    # ACKs, not the data): the server D-SACKs it.
    "slow-answers-lost-3s-at-client.pcap": frozenset(
        {"tail_loss_probe_at_rto_time", "dsacked_resend"}
    ),
    # Timeouts on a queue's delay, not a loss: the receiver D-SACKs the copies.
    "slow-queue-spurious-timeouts.pcap": frozenset({"dsacked_resend"}),
    # Tail loss probes sent before the receiver's delayed ACK, each D-SACKed at once.
    "tail-loss-probes-dsacked.pcap": frozenset({"dsacked_resend"}),
    # The dying transfers start with a tail loss probe 5-9 ms after the original, then RTOs.
    "retransmit-timeout-retries2-4.pcap": frozenset({"tail_loss_probe"}),
    "retransmit-timeout-router-drop-at-client.pcap": frozenset({"tail_loss_probe"}),
    "retransmit-timeout-router-drop-at-router-client-side.pcap": frozenset({"tail_loss_probe"}),
    "retransmit-timeout-user-timeout-3000ms.pcap": frozenset({"tail_loss_probe"}),
    "retransmit-give-up-user-timeout-3000ms-at-client.pcap": frozenset({"tail_loss_probe"}),
    # tcpdump -i any on the router sees every forwarded packet twice (in and out): Wireshark
    # calls each data copy a Retransmission; facts.py's duplicate rule (same IP ID, < 1 ms) knows.
    "retransmit-timeout-router-drop-router-any.pcap": frozenset(
        {"capture_duplicate", "tail_loss_probe"}
    ),
    # The same on a router whose egress queues (tbf): the copies are a queue apart, and GRO
    # merged the client's segments coming in, GSO cut them going out (pieces: IP ID + k).
    "duplicates-router-any-egress-queue.pcap": frozenset({"capture_duplicate"}),
    # The same copies (in on one interface, out on the other) of handshakes and exchanges
    # through a router: its own refusing RST, and SYNs the server dropped after it.
    "path-reset-router-reject-router-any.pcap": frozenset({"capture_duplicate"}),
    "syn-retry-forwarded-router-any.pcap": frozenset({"capture_duplicate"}),
    # 3 % random loss through a router: SACK recovery that Wireshark 4.0's dup-ACK rule calls a
    # plain retransmission or (original dropped before the capture point) Out-Of-Order, and
    # FINs resent after the peer had ACKed them (Wireshark's spurious rule needs payload).
    "lossy-40-connections-3pct-drop.pcap": frozenset(
        {"original_not_captured", "sack_recovery_vs_dupack_rule", "spurious_fin"}
    ),
    # Timed blackouts (nft drops before the capture point) that recover: each episode opens
    # with a tail loss probe, then RTOs resend segments whose originals never reached the
    # capture (Wireshark: Out-Of-Order); six streams share the blackouts in the storm sample,
    # and its SACK recovery is what Wireshark 4.0's dup-ACK rule calls a plain retransmission.
    "slow-rto-episodes-recover.pcap": frozenset({"original_not_captured", "tail_loss_probe"}),
    "slow-rto-storm-six-streams.pcap": frozenset(
        {"original_not_captured", "sack_recovery_vs_dupack_rule", "tail_loss_probe"}
    ),
    # Path-MTU black hole: the full-size segment's first resend is a tail loss probe, then RTOs.
    "pmtu-black-hole-at-client.pcap": frozenset({"tail_loss_probe"}),
    # With tcp_mtu_probing the sender then shrinks its segments; once the smaller resend is
    # ACKed, each ACK clocks out the rest of the window (loss recovery, no timer).
    "pmtu-black-hole-mtu-probing-recovers-at-client.pcap": frozenset(
        {"ack_clocked_resend", "tail_loss_probe"}
    ),
    # IPv6 (MSS 1428): the upload's 200-byte tail crosses and is SACKed; the first full-size
    # segment is fast-retransmitted at once (Wireshark: Out-Of-Order), then RTOs.
    "pmtu-black-hole-v6-at-router-client-side.pcap": frozenset({"original_not_captured"}),
    # A 50 ms path, 4 % of the client's data dropped at the server: captured at the client,
    # each fast retransmit leaves microseconds after the third duplicate ACK, within
    # Wireshark's iRTT of the newest segment (Out-Of-Order to it).
    "slow-path-50ms-rtt-data-loss.pcap": frozenset({"original_not_captured"}),
    # A 15 ms path, 3 % of the server's data dropped at the client: captured at the server,
    # fast retransmits leave microseconds after the SACK that asks for them (Out-Of-Order to
    # Wireshark), and SACK recovery Wireshark 4.0's dup-ACK rule calls plain retransmissions.
    "slow-transfer-loss.pcap": frozenset({"original_not_captured", "sack_recovery_vs_dupack_rule"}),
    # A 4 Mbit/s policer (tbf with room for one frame) on a 40 ms path, captured at the
    # server: the holes it leaves are resent microseconds after the SACK that names them
    # (Out-Of-Order to Wireshark) or in SACK recovery Wireshark 4.0's dup-ACK rule calls plain
    # retransmissions; one segment of the initial window's tail (frame 37) is resent 120 ms
    # after its original on an ACK that advanced (RACK: a resend sent after it was delivered),
    # sooner than any RTO, which Wireshark, with no duplicate ACK, calls a retransmission.
    "slow-transfer-policer.pcap": frozenset(
        {"original_not_captured", "sack_recovery_vs_dupack_rule", "tail_loss_probe"}
    ),
    # ICMPv6 packet too big: the client resends the data in smaller segments at once, within
    # the RTT of the originals (Wireshark: Out-Of-Order; at the server the originals never
    # arrived), and fills the rest of the hole under SACK, which Wireshark 4.0's dup-ACK rule
    # calls plain retransmissions.
    "icmpv6-packet-too-big-at-client.pcap": frozenset(
        {"original_not_captured", "sack_recovery_vs_dupack_rule"}
    ),
    "icmpv6-packet-too-big-at-server.pcap": frozenset(
        {"original_not_captured", "sack_recovery_vs_dupack_rule"}
    ),
    # ICMP fragmentation needed (IPv4): the client resends the bytes cut into smaller
    # segments tens of microseconds after each error (tcp_v4_mtu_reduced ->
    # tcp_simple_retransmit); Wireshark calls them plain retransmissions.
    "icmp-frag-needed-v4-at-client.pcap": frozenset({"resegmented_resend"}),
}

#: Captures made with random loss: regenerating them loses other packets, so any subset of
#: their pinned differences may fire (but nothing outside it).
RANDOM_LOSS: frozenset[str] = frozenset(
    {"lossy-40-connections-3pct-drop.pcap", "slow-transfer-loss.pcap"}
)

#: Captures whose disagreements point at a pcapline bug: (reason, frames). strict xfail, so
#: the fix makes the test fail until the entry is removed.
DETECTOR_BUGS: dict[str, str] = {
    # (fixed: facts.is_dup no longer calls a same-TTL SYN+ACK with IP ID 0 a capture copy)
}


def _capture_id(path: Path) -> str:
    return str(path.relative_to(SAMPLES))


@functools.cache
def _tshark_version() -> str | None:
    return tshark_version()


def _signature(capture: Path) -> list[Any]:
    return [
        hashlib.sha256(capture.read_bytes()).hexdigest(),
        _tshark_version(),
        list(TSHARK_PREFS),
        list(WIRESHARK_FLAGS),
    ]


def _cached_fields(capture: Path, cache: pytest.Cache | None) -> str | None:
    hit = cache.get("pcapline/tshark/" + _capture_id(capture), None) if cache else None
    if isinstance(hit, dict) and hit.get("signature") == _signature(capture):
        return str(hit["fields"])
    return None


#: tshark's fields of the sample captures, run ahead on the idle core (conftest.py starts it
#: when this file's sweep is selected): tshark's start-up, a quarter of a second a capture,
#: is most of this sweep's time.
AHEAD: Ahead | None = None


def fields_ahead(captures: list[Path], cache: pytest.Cache | None) -> Ahead:
    """``AHEAD`` for ``captures`` (those not in pytest's cache yet), to start in a thread."""
    global AHEAD
    todo = [capture for capture in captures if _cached_fields(capture, cache) is None]
    AHEAD = Ahead(todo, lambda capture: run_tshark(capture, tshark=TSHARK))
    return AHEAD


def wireshark_table(capture: Path, cache: pytest.Cache | None) -> pd.DataFrame:
    """tshark's flags for ``capture``, kept in pytest's cache keyed by the capture's content,
    the tshark version and the fields asked (tshark start-up dominates this test's time)."""
    text = _cached_fields(capture, cache)
    if text is not None:
        return parse_tshark_fields(text)
    text = AHEAD.answer(capture) if AHEAD is not None else run_tshark(capture)
    if cache is not None:
        key = "pcapline/tshark/" + _capture_id(capture)
        cache.set(key, {"signature": _signature(capture), "fields": text})
    return parse_tshark_fields(text)


@needs_tshark
@pytest.mark.parametrize(
    "capture",
    [
        pytest.param(
            p,
            id=_capture_id(p),
            marks=[pytest.mark.xfail(reason=DETECTOR_BUGS[_capture_id(p)], strict=True)]
            if _capture_id(p) in DETECTOR_BUGS
            else [],
        )
        for p in sample_captures()
    ]
    or [pytest.param(None, marks=pytest.mark.skip(reason="no captures in sample_captures/"))],
)
def test_sample_capture_agrees_with_wireshark(
    capture: Path, request: pytest.FixtureRequest
) -> None:
    result = crosscheck(
        capture, wireshark=wireshark_table(capture, getattr(request.config, "cache", None))
    )
    assert result.frames_compared > 0
    assert result.only_pcapline == 0, "frames we analysed that tshark does not show as TCP"
    assert result.stream_mismatches == [], result.summary()
    assert result.unexplained == [], result.summary()
    fired = frozenset(result.explained)
    expected = PINNED.get(_capture_id(capture), frozenset())
    random_loss = _capture_id(capture) in RANDOM_LOSS  # any subset may fire, nothing else
    assert fired == expected or (random_loss and fired <= expected), (
        f"known differences on {_capture_id(capture)}: {sorted(fired)}, pinned: {sorted(expected)} "
        f"(frames: {result.explained_frames}); review them and update PINNED"
    )


# ---------------------------------------------------------------------------------------
# 4. One direction of a sample capture
# ---------------------------------------------------------------------------------------

#: Samples rewritten with one side's frames only (a one-sided tap, asymmetric routing), and
#: the known differences that fire on each: every difference explained. Before those rules,
#: 103 frames of these stayed UNEXPLAINED (resends Wireshark calls Out-Of-Order without the
#: peer's ACKs, persist probes it calls Keep-Alive, a resend cut at a smaller MSS).
ONE_DIRECTION: dict[tuple[str, str], frozenset[str]] = {
    ("lossy-40-connections-3pct-drop.pcap", "client"): frozenset(
        {"one_direction_captured", "tail_loss_probe"}
    ),
    ("lossy-40-connections-3pct-drop.pcap", "server"): frozenset(
        {"capture_duplicate", "one_direction_captured"}
    ),
    ("slow-rto-episodes-recover.pcap", "client"): frozenset(
        {"one_direction_captured", "tail_loss_probe"}
    ),
    ("slow-path-50ms-rtt-data-loss.pcap", "client"): frozenset({"one_direction_captured"}),
    ("icmpv6-packet-too-big-at-client.pcap", "client"): frozenset(
        {"one_direction_captured", "resegmented_resend"}
    ),
    ("zero-window-recovers.pcap", "client"): frozenset(
        {"probe_of_an_unseen_window", "tail_loss_probe"}
    ),
    ("persist-timeout-retries2-3.pcap", "client"): frozenset(
        {"probe_of_an_unseen_window", "tail_loss_probe"}
    ),
}


@needs_tshark
@pytest.mark.parametrize(("name", "side"), sorted(ONE_DIRECTION))
def test_one_direction_of_a_sample_agrees_with_wireshark(
    name: str, side: str, tmp_path: Path
) -> None:
    import numpy as np

    import pcapline
    from pcapline.read import read_capture
    from tests.builders.capture_files import rewrite

    path = SAMPLES / name
    segments = pcapline.analyze(str(path)).segments
    kept = set(segments.loc[segments["from_client"] == (side == "client"), "frame"].tolist())
    frames = np.arange(1, read_capture(str(path)).frames + 1)
    one_sided = tmp_path / f"{side}-only.pcapng"
    rewrite(path, np.isin(frames, list(kept)), one_sided)
    result = crosscheck(one_sided)
    assert result.unexplained == [], result.summary()
    fired = frozenset(result.explained)
    expected = ONE_DIRECTION[name, side]
    random_loss = name in RANDOM_LOSS
    assert fired == expected or (random_loss and fired <= expected), sorted(fired)
