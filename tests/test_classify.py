"""classify.py: rule order, the columnar fast path agreeing with the rules, the table contract.

Fates are proven on real captures (test_samples.py); these crafted cases pin the decision
procedure itself.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent / "detect"))
from builders.conversation import CLIENT, SERVER, Conversation
from builders.segments import connections, segments, verdict_table

from pcapline import classify, explain
from pcapline.detect import DetectResult, run_all
from pcapline.evidence import StalePeerReset
from pcapline.model import CONNECTION_COLUMNS, RST, Counts, Decision, Fate, Side

_table = verdict_table


def test_rule_order_is_documented_in_the_docstring() -> None:
    doc = classify.__doc__ or ""
    positions = [doc.index(f"``{name}``") for name, _ in classify.RULES if name != "open"]
    assert positions == sorted(positions)
    assert [name for name, _ in classify.RULES][-1] == "open"


def test_table_has_contract_columns_and_types() -> None:
    t = _table(Conversation().syn(0.0).rst(SERVER, 0.001))
    assert list(t.reset_index().columns[: len(CONNECTION_COLUMNS)]) == list(CONNECTION_COLUMNS)
    row = t.loc[0]
    assert (row.fate, row.reset_by, row.closer) == ("refused", "server", None)
    assert row.resets == 1 and row.syn_retransmits == 0
    assert isinstance(row.inferred, dict) and row.explanation.startswith("Refused")


def test_fast_path_matches_rules_for_healthy_connections() -> None:
    closed = Conversation(conn=0).handshake(0.0)
    # (The server answers before its FIN: a server's close right after the client's data,
    # unanswered, is screened: an HTTP request closed on so failed, ``Close.unanswered``.)
    closed.data(CLIENT, 0.01, 10).data(SERVER, 0.02, 20).ack(CLIENT, 0.025)
    closed.fin(SERVER, 0.03).fin(CLIENT, 0.04).ack(SERVER, 0.05)
    half = Conversation(conn=1).handshake(0.0)
    half.fin(CLIENT, 0.1).ack(SERVER, 0.11)
    still = Conversation(conn=2).handshake(0.0)
    segs = segments(closed, half, still)
    conns = connections(segs)
    detected = run_all(segs)
    assert not detected.visited.any()
    fast = classify.classify(segs, conns, detected)
    assert not fast.evidence  # every connection decided columnar
    # The same connections through the full rule list give the same decisions.
    ruled = classify.classify(segs, conns, run_all(segs, visit_all=True))
    assert set(ruled.evidence) == {0, 1, 2}
    assert [ruled.decisions[i] for i in range(3)] == [
        Decision(fate, closer=closer, evidence_frames=frames, confidence=sure, caveats=why)
        for fate, closer, frames, sure, why in zip(
            fast.fate, fast.closer, fast.evidence_frames, fast.confidence, fast.caveats, strict=True
        )
    ]
    # The capture ended 10 ms after the half close's FIN (1 s floor): not proven, both ways.
    assert ruled.decisions[1].caveats == ("capture_ended_after_fin",)
    assert fast.fate.tolist() == [Fate.CLOSED, Fate.HALF_CLOSED, Fate.OPEN]
    assert fast.closer.tolist() == [Side.SERVER, Side.CLIENT, None]


def test_recovered_loss_then_close_is_closed_not_a_failure() -> None:
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.01, 100)
    c.data(CLIENT, 0.21, 100, seq=c.nxt(CLIENT) - 100)
    c.data(CLIENT, 0.61, 100, seq=c.nxt(CLIENT) - 100)
    c.data(CLIENT, 1.41, 100, seq=c.nxt(CLIENT) - 100)
    c.ack(SERVER, 1.42).fin(CLIENT, 1.5).fin(SERVER, 1.51).ack(CLIENT, 1.52)
    row = _table(c).loc[0]
    assert row.fate == "closed" and row.retransmits == 3
    assert row.inferred["rto"]["doubling"] is True


def test_keepalive_death_beats_the_generic_reset() -> None:
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.01, 10).ack(SERVER, 0.02)
    for t in (2.02, 3.02, 4.02):
        c.probe(CLIENT, t)
    c.rst(CLIENT, 5.02)
    row = _table(c).loc[0]
    assert (row.fate, row.reset_by, row.keepalive_probes, row.resets) == (
        "keepalive_timeout",
        "client",
        3,
        1,
    )
    assert row.inferred["keepalive"] == {"idle": 2.0, "interval": 1.0, "count": 3, "by": "client"}


def test_a_lone_syn_at_the_end_of_the_capture_is_still_connecting() -> None:
    row = _table(Conversation().syn(0.0)).loc[0]
    assert row.fate == "open"
    assert "Still connecting" in row.explanation


def test_reset_after_one_fin_is_reset_not_half_closed() -> None:
    c = Conversation().handshake(0.0)
    c.fin(SERVER, 0.1).data(CLIENT, 0.2, 300).rst(SERVER, 0.2001, with_ack=False)
    row = _table(c).loc[0]
    assert (row.fate, row.reset_by, row.closer) == ("reset", "server", None)


def test_verdicts_are_model_verdicts() -> None:
    segs = segments(Conversation().syn(0.0).rst(SERVER, 0.001))
    conns = connections(segs)
    verdicts = explain.verdicts(classify.classify(segs, conns, run_all(segs)))
    v = verdicts[0]
    assert v.fate is Fate.REFUSED and v.reset_by is Side.SERVER and v.evidence_frames == (2,)
    assert v.counts == Counts(resets=1)
    assert v.explanation.label == "Refused"
    assert str(v.explanation).startswith("Refused: the server answered the SYN with RST")


# --- handshake review fixes, on real captures -------------------------------------------

SAMPLES = Path(__file__).resolve().parents[1] / "sample_captures"
CAPTURES = Path(__file__).resolve().parent / "captures"
ONE_SIDED_NOTE = "Only one direction was captured (asymmetric routing or a one-sided tap)"


def _analyze(path: Path) -> pd.DataFrame:
    import pcapline

    return pcapline.analyze(str(path)).connections.set_index("id")


def _one_direction(src: Path, keep_ip: str, out: Path) -> Path:
    """A copy of ``src`` holding only the packets ``keep_ip`` sent (a one-sided tap)."""
    import socket

    import dpkt

    with src.open("rb") as f_in, out.open("wb") as f_out:
        reader = dpkt.pcap.Reader(f_in)
        writer = dpkt.pcap.Writer(f_out, linktype=reader.datalink())
        for ts, buf in reader:
            ip = dpkt.ethernet.Ethernet(buf).data
            if isinstance(ip, dpkt.ip.IP) and socket.inet_ntoa(ip.src) == keep_ip:
                writer.writepkt(buf, ts)
    return out


def test_client_only_capture_is_not_a_connect_timeout() -> None:
    # SYN, then the client's handshake ACK, a POST and ACKs of 15 s of server data: the
    # SYN+ACK and the data arrived although the capture holds none of the server's packets.
    t = _analyze(CAPTURES / "client-side-only.pcap")
    row = t.loc[0]
    assert row.fate == "open"
    assert ONE_SIDED_NOTE in row.explanation
    assert "Still connecting" not in row.explanation
    assert "syn" not in row.inferred  # answered (proven): no unanswered-SYN series, no give-up


def test_server_only_capture_is_closed_not_a_handshake_timeout() -> None:
    # The server ACKs client data, then ACKs the client's FIN (ack + 1) in its own FIN.
    t = _analyze(CAPTURES / "server-side-only.pcap")
    assert list(t.fate) == ["closed", "closed"]
    assert list(t.closer) == ["client", "client"]
    assert "inferred from the server's ACK of it (frame 3)" in t.loc[0].explanation
    assert "synack" not in t.loc[0].inferred


def test_one_direction_copies_of_a_closed_connection_are_closed(tmp_path: Path) -> None:
    src = SAMPLES / "closed-client-first.pcap"
    for keep, frame in (("10.11.0.1", 6), ("10.11.0.2", 4)):
        t = _analyze(_one_direction(src, keep, tmp_path / f"{keep}.pcap"))
        row = t.loc[0]
        assert (row.fate, row.closer, row.reset_by) == ("closed", "client", None), keep
        assert frame in row.evidence_frames
        assert ONE_SIDED_NOTE in row.explanation


def test_client_ack_of_the_wrong_number_is_not_a_listen_overflow() -> None:
    # Connection 1: the client's ACK carries ack 1000000 where the server ISN + 1 (6001) was
    # due; the server's SYN+ACK retransmissions are a plain handshake timeout.
    t = _analyze(CAPTURES / "wrong-handshake-acks.pcap")
    row = t.loc[1]
    assert row.fate == "handshake_timeout"
    assert "frame 6" in row.explanation and "not of the SYN+ACK" in row.explanation
    # Connection 4: a wrong ACK, then the client's own RST: the client aborted, a reset.
    assert (t.loc[4].fate, t.loc[4].reset_by) == ("reset", "client")


def test_fin_exchange_then_rst_is_not_abort_on_overflow() -> None:
    # FIN+ACK at seq = ISN answering the SYN+ACK, RST 300 ms later: a close, not an overflow.
    t = _analyze(CAPTURES / "fin-before-synack.pcap")
    row = t.loc[0]
    assert row.fate != "listen_overflow"
    assert "abort_on_overflow" not in row.explanation


def test_syn_retries_are_a_lower_bound_when_the_give_up_is_not_seen() -> None:
    # 8 SYNs at 0,1,2,3,4,5,7,11 s (6.18 kernel, TCP_SYNCNT=3 + tcp_syn_linear_timeouts=4);
    # the capture ends before the give-up at ~19 s.
    row = _analyze(SAMPLES / "connect-timeout-syncnt3-linear4.pcap").loc[0]
    assert row.fate == "connect_timeout"
    assert "at least 3 retries" in row.explanation
    assert "about 3 retries" not in row.explanation
    assert (
        "the capture ended before the client gave up; with 3 retries it would give up at about 19 s"
        in row.explanation
    )


def test_handshake_timeout_advice_and_syn_cookie_inferred() -> None:
    t = _analyze(SAMPLES / "syn-flood-backlog8-syncookies.pcap")
    assert set(t.fate) == {"handshake_timeout"}
    assert not t.explanation.str.contains("TcpExtTCPReqQFullDrop").any()
    assert t.explanation.str.contains("TcpExtTCPSynRetrans").all()
    cookie = t[t.synack_retransmits == 0]
    assert len(cookie)
    assert all(inf["synack"]["retries"] == 0 for inf in cookie.inferred)


def test_stale_peer_explained_and_old_connection_reset_by_its_sequence_number() -> None:
    # Connection 1's first SYN met connection 0 still open on the server: challenge ACK (frame
    # 11) and client RST (frame 12, seq = connection 0's next client seq), both grouped into 1.
    t = _analyze(SAMPLES / "stale-peer-challenge-ack.pcap")
    old, new = t.loc[0], t.loc[1]
    assert (old.fate, old.reset_by, old.resets, list(old.evidence_frames)) == (
        "reset",
        "client",
        1,
        [12],
    )
    assert "frame 12" in old.explanation
    assert (new.fate, new.resets) == ("closed", 0)
    assert (
        "answered by a bare ACK for an older connection on the same ports (challenge ACK, frame 11"
        in new.explanation
    )
    assert "the client reset it (frame 12) and retried at once" in new.explanation


def test_capture_warns_when_most_connections_are_one_sided() -> None:
    import pcapline

    path = CAPTURES / "server-side-only.pcap"
    warnings = pcapline.analyze(str(path)).capture.warnings
    assert any("2 of 2 connections hold packets from one side only" in w for w in warnings)
    both = pcapline.analyze(str(SAMPLES / "closed-client-first.pcap")).capture.warnings
    assert not any("one side only" in w for w in both)


def test_stale_peer_reset_is_a_rule_fed_by_the_cross_connection_pre_pass() -> None:
    from pcapline.decode import decode
    from pcapline.flows import build_flows
    from pcapline.read import read_capture

    capture = read_capture(str(SAMPLES / "stale-peer-challenge-ack.pcap"))
    segs, conns = build_flows(decode(capture).segments)
    detected = run_all(segs)
    assert not detected.screened[0]  # nothing unusual in the old connection on its own
    classified = classify.classify(segs, conns, detected)
    old = classified.evidence[0]  # decided through RULES all the same
    assert old.stale_peer_rst is not None and old.stale_peer_rst.rst_frame == 12
    assert classify.decide(old) == classified.decisions[0]
    assert classify.stale_peer_reset(old) == classified.decisions[0]
    assert classified.counts["resets"].tolist() == [1, 0]


def test_classify_and_explain_do_not_import_each_other() -> None:
    import ast

    import pcapline

    root = Path(pcapline.__file__).parent

    def imports(module: str) -> set[str]:
        tree = ast.parse((root / f"{module}.py").read_text())
        found = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
        return found

    assert not {"pcapline.explain", "pcapline.classify"} & imports("classify")
    assert not {"pcapline.explain", "pcapline.classify"} & imports("explain")
    assert not {"pcapline.explain", "pcapline.classify"} & imports("evidence")


def test_lone_synack_in_a_flag_filtered_capture_decides_no_handshake_timeout() -> None:
    # wikipedia-filtered-plus-udp.pcap: a capture keeping only SYN/FIN/RST holds SYN and
    # SYN+ACK of each connection and never the ACK. The filter removed it: no
    # handshake_timeout, no SYN-cookie story; open, unknown, the filter named.
    convs = [Conversation(conn=k).syn(0.01 * k).synack(0.01 * k + 0.06) for k in range(3)]
    t = _table(*convs, Conversation(conn=9).syn(5.0).synack(5.06))
    assert set(t.fate) == {"open"}
    assert set(t.confidence) == {"unknown"}
    assert all(list(c) == ["flag_filtered"] for c in t.caveats)
    assert not any("cookie" in x for x in t.explanation)


def test_synack_retried_in_a_flag_filtered_capture_is_still_a_handshake_timeout() -> None:
    # The server's own retries are on the wire whatever the filter: it was missing the ACK.
    c = Conversation(conn=0).syn(0.0).synack(0.06).synack(1.06).synack(3.06)
    t = _table(c, Conversation(conn=1).syn(0.5).synack(0.56), Conversation(conn=2).syn(20.0))
    row = t.loc[0]
    assert (row.fate, row.confidence) == ("handshake_timeout", "unknown")
    assert "flag_filtered" in list(row.caveats)


def _flood_listener(k: int) -> Conversation:
    """SYN+ACK resent at 1 s and 3 s, then dropped (tcp_synack_retries=2): the limit."""
    t = 0.01 * k
    return Conversation(conn=k).syn(t).synack(t + 0.001).synack(t + 1.001).synack(t + 3.001)


def _stopped_short(k: int) -> Conversation:
    """SYN+ACK resent once at 1 s, then none: its handshake's ACK came, out of the capture."""
    t = 0.01 * k
    return Conversation(conn=k).syn(t).synack(t + 0.001).synack(t + 1.001)


def _lone(k: int) -> Conversation:
    t = 0.01 * k
    return Conversation(conn=k).syn(t).synack(t + 0.001)


def _late(k: int) -> Conversation:
    """A handshake 9 s on: the SYN-filtered capture went on past every resend due."""
    return Conversation(conn=k).syn(9.0).synack(9.001)


def test_a_listener_that_stopped_short_takes_no_timeout_from_a_filtered_capture() -> None:
    t = _table(*(_flood_listener(k) for k in range(3)), _stopped_short(3), _lone(4), _late(5))
    rows = {
        int(c): (f, s, tuple(v))
        for c, f, s, v in zip(t.index, t.fate, t.confidence, t.caveats, strict=True)
    }
    assert rows[0] == ("handshake_timeout", "unknown", ("flag_filtered",))
    for conn in (3, 4):
        assert rows[conn] == ("open", "unknown", ("flag_filtered", "handshake_acked_unseen"))
    # Its answer not due yet when the capture ended: no claim either way.
    assert rows[5] == ("open", "unknown", ("flag_filtered",))
    assert "completes handshakes out of this filtered capture's sight" in t.explanation.loc[4]


def test_a_flood_listener_keeps_its_lone_synacks_timeouts() -> None:
    """Every resent series ran to one count: nothing shows an ACK out of sight, and a lone
    SYN+ACK there is a SYN cookie as well as anything (syn-flood-backlog8-syncookies)."""
    t = _table(*(_flood_listener(k) for k in range(3)), _lone(3), _late(4))
    lone = t.loc[3]
    assert (lone.fate, lone.confidence) == ("handshake_timeout", "unknown")
    assert list(lone.caveats) == ["lone_synack", "flag_filtered"]


def test_one_resend_then_none_proves_nothing_without_a_listener_limit_of_two() -> None:
    """tcp_synack_retries=1 stops every series after one resend: no series reached 2, so a
    stop after one is the limit's as well as an ACK's."""
    t = _table(*(_stopped_short(k) for k in range(3)), _lone(3), _late(4))
    assert set(t.fate[t.index <= 3]) == {"handshake_timeout"}
    assert not any("handshake_acked_unseen" in c for c in t.caveats)


def test_refused_retries_are_told_in_the_order_the_packets_show() -> None:
    # pop3.pcap stream 0 (Windows): every SYN answered by RST, a new SYN 0.5 s after each.
    c = Conversation()
    for t in (0.0, 0.549, 1.110):
        c.syn(t).rst(SERVER, t + 0.05, ack=c.client_isn + 1)
    row = _table(c).loc[0]
    assert row.fate == "refused"
    assert row.explanation.startswith(
        "Refused: the server answered each of the 3 SYNs with RST (frames 2, 4, 6); the client "
        "sent a new SYN 499-511 ms after each RST"
    )
    assert "retransmission" not in row.explanation


def test_fin_frames_per_connection() -> None:
    """Both FINs in frame order, the one FIN, or none (0: no FIN from that side)."""
    client = np.array([5, 9, 0, 3, 0], dtype=np.int64)
    server = np.array([7, 2, 4, 0, 0], dtype=np.int64)
    assert classify._fin_frames(client, server) == [(5, 7), (2, 9), (4,), (3,), ()]


def _stale_peer_resets_literally(
    segments: pd.DataFrame, connections: pd.DataFrame, detected: DetectResult
) -> dict[int, StalePeerReset]:
    """``classify.stale_peer_resets``' rule read one exchange at a time (scans of the whole
    tables per exchange: what the one-pass look-ups replaced)."""
    from pcapline import seqnum
    from pcapline.model import FIN, SYN

    keys = ["client_ip", "client_port", "server_ip", "server_port"]
    facts = detected.facts
    out: dict[int, StalePeerReset] = {}
    for conn, found in detected.detections.items():
        rst_frame = found.handshake.inferred.stale_rst_frame
        if rst_frame is None:
            continue
        me = connections[connections["id"] == conn]
        same = (connections[keys] == me[keys].iloc[0]).all(axis=1) & (connections["id"] < conn)
        if not same.any():
            continue
        older = int(connections.loc[same, "id"].max())
        rst = segments[segments["frame"] == rst_frame]
        old_client = segments[(segments["conn"] == older) & segments["from_client"]]
        if not len(rst) or not len(old_client):
            continue
        flags = old_client["flags"].to_numpy(np.int64)
        ends = seqnum.wrap(
            old_client["seq"].to_numpy(np.int64)
            + old_client["seg_len"].to_numpy(np.int64)
            + ((flags & SYN) != 0)
            + ((flags & FIN) != 0)
        )
        if int(rst["seq"].iloc[0]) not in set(ends.tolist()):
            continue
        i_old = int(np.searchsorted(facts.conn_ids, older))
        last_ns = int(facts.time_ns[facts.starts[i_old + 1] - 1])
        idle = (int(rst["time_ns"].iloc[0]) - last_ns) / 1e9
        out.setdefault(older, StalePeerReset(rst_frame=rst_frame, newer_conn=conn, idle_s=idle))
    return out


def _port_reuse_captures() -> list[Path]:
    """Sample and test captures, and the corpus's when it is at hand, whose connections
    share a 4-tuple (where a stale-peer exchange can name an older connection)."""
    import os

    from builders.pipeline import flowed_segments

    roots = [SAMPLES, SAMPLES.parent / "tests" / "captures"]
    if os.environ.get("PCAPLINE_CORPUS"):
        roots.append(Path(os.environ["PCAPLINE_CORPUS"]))
    found = []
    for root in roots:
        for path in sorted(p for p in root.rglob("*.pcap*") if p.is_file()):
            named = any(word in path.name for word in ("reuse", "stale", "lost-state"))
            if named and flowed_segments(path) is not None:
                found.append(path)
    return found


@pytest.mark.parametrize("path", _port_reuse_captures(), ids=lambda p: p.name)
def test_stale_peer_resets_equal_the_rule_read_one_exchange_at_a_time(path: Path) -> None:
    from builders.pipeline import flowed_segments

    from pcapline.flows import build_flows

    flowed = flowed_segments(path)
    assert flowed is not None
    segs, end = flowed
    _, conns = build_flows(segs[[c for c in segs.columns if c not in ("conn", "from_client")]])
    detected = run_all(segs, capture_end_ns=end)
    found = classify.stale_peer_resets(segs, conns, detected)
    assert found == _stale_peer_resets_literally(segs, conns, detected)
    if path.name == "stale-peer-challenge-ack.pcap":
        assert list(found) == [0] and found[0].newer_conn == 1  # one exchange, found
    ids = conns["id"].tolist()
    keys = ["client_ip", "client_port", "server_ip", "server_port"]
    literal = []
    for conn in ids:
        me = conns[conns["id"] == conn]
        same = (conns[keys] == me[keys].iloc[0]).all(axis=1) & (conns["id"] < conn)
        literal.append(int(conns.loc[same, "id"].max()) if same.any() else None)
    assert classify._previous_on_4tuple(conns, ids) == literal


@pytest.mark.parametrize(
    ("capture", "confidence", "caveats"),
    [
        ("listen-overflow-backlog2-abort0.pcap", "likely", ["ack_unconfirmed"]),
        ("listen-overflow-backlog2-abort1.pcap", "proven", []),
    ],
)
def test_an_overflow_read_from_a_retried_synack_is_likely_a_listener_rst_proven(
    capture: str, confidence: str, caveats: list[str]
) -> None:
    """A SYN+ACK retried after the client's ACK is what a full accept queue does
    (tcp_abort_on_overflow=0) and what a server the ACK never reached does (a stateful
    firewall on an asymmetric path: the client-side capture is the same, packet for packet).
    The listener's RST (=1) answers the ACK: that one arrived."""
    import pcapline

    samples = Path(__file__).resolve().parents[1] / "sample_captures"
    table = pcapline.analyze(samples / capture).connections
    overflows = table[table.fate == "listen_overflow"]
    assert len(overflows) >= 1
    assert set(overflows.confidence) == {confidence}
    assert all(list(c) == caveats for c in overflows.caveats)
    worded = "a full accept queue drops the ACK it got" in overflows.explanation.iloc[0]
    assert worded == (confidence == "likely")


@pytest.mark.parametrize(
    ("rst_at", "fate"),
    [
        # right after its SYN+ACK resend: it answered the client's ACK (abort_on_overflow)
        (1.0004, "reset"),
        # 4 s after the resend at 1 s, past the next one due at 3 s: its timer's own end
        (5.0, "handshake_timeout"),
    ],
)
def test_a_server_rst_sooner_than_its_next_synack_answers_the_client(
    rst_at: float, fate: str
) -> None:
    """A Linux request socket whose SYN+ACK resends run out ends silently
    (reqsk_timer_handler); a RST from it before its next resend was due answers a client
    segment the capture lacks (its ACK meeting a full accept queue with
    tcp_abort_on_overflow 1, sample listen-overflow-backlog2-abort1 with its bare ACKs
    filtered out): the client answered, so no handshake timeout, "the server gave up"."""
    c = Conversation().syn(0.0).synack(0.0001).synack(1.0001)
    c.send(SERVER, rst_at, RST, seq=c.server_isn + 1)
    row = _table(c).loc[0]
    assert (row.fate, row.reset_by) == (fate, "server")
