"""A worse capture of the same traffic never proves a failure the full capture does not show.

Real captures come filtered, lossy at the capture point, one-sided, and cut at both ends. Each
sample capture is degraded the way those capture points degrade it, by rewriting it (pcapng,
the original frames' bytes and times) with the frames such a capture point would have kept:

- ``syn_only``: the filter ``tcp[tcpflags] & tcp-syn != 0`` (SYNs and SYN+ACKs only);
- ``payload_only``: the filter ``tcp.len > 0`` (or ``greater 100``): segments with data only,
  no bare ACK, SYN, FIN, RST, keepalive or window probe;
- ``drop_5pct``: 5 % of the frames lost at random, as tcpdump drops or a mirror port would;
- ``client_only``: one direction only (asymmetric routing, a one-sided tap);
- ``cut_head`` / ``cut_tail``: the first / the last second not captured.

Every connection of the degraded capture that gets a failure fate with ``proven`` or ``likely``
confidence must have had that same failure fate in the full capture (connections matched by
4-tuple, either orientation, and time: the degraded connection starts within the full one).
Anything else must come with ``unknown`` confidence: the capture cannot tell. And no degraded
connection names a cause (``connections[].cause``) the full capture does not name for it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import analysed
import numpy as np
import pandas as pd
import pytest
from needs import CORPUS, needs_corpus

import pcapline
from pcapline.model import FAILURE_FATES, FIN, RST, SYN
from pcapline.read import read_capture
from tests.builders.capture_files import epb, idb, rewrite, shb

SAMPLES = Path(__file__).resolve().parent.parent / "sample_captures"
CAPTURES = sorted(
    p
    for p in SAMPLES.rglob("*")
    if p.is_file() and ".pcap" in p.name and not p.name.endswith(".json")
)
SEED = 20261203
CUT_NS = 1_000_000_000
DROP_SHARE = 0.05
DROP_ROUNDS = 5  # small captures lose no frame in many draws: several draws per capture

Keep = Callable[[pd.DataFrame, np.ndarray, np.ndarray], np.ndarray]


def _syn_only(tcp: pd.DataFrame, frames: np.ndarray, times: np.ndarray) -> np.ndarray:
    syn = set(tcp.loc[(tcp["flags"].to_numpy() & SYN) != 0, "frame"].tolist())
    return np.array([int(f) in syn for f in frames.tolist()], dtype=bool)


def _payload_only(tcp: pd.DataFrame, frames: np.ndarray, times: np.ndarray) -> np.ndarray:
    wanted = set(tcp.loc[tcp["seg_len"].to_numpy() > 0, "frame"].tolist())
    return np.array([int(f) in wanted for f in frames.tolist()], dtype=bool)


def _dropping(round_: int) -> Keep:
    """5 % of the frames lost at random (the ``round_``-th draw from the fixed seed)."""

    def keep(tcp: pd.DataFrame, frames: np.ndarray, times: np.ndarray) -> np.ndarray:
        rng = random.Random(SEED + round_)
        return np.array([rng.random() >= DROP_SHARE for _ in range(len(frames))], dtype=bool)

    return keep


def _client_only(tcp: pd.DataFrame, frames: np.ndarray, times: np.ndarray) -> np.ndarray:
    client = set(tcp.loc[tcp["from_client"], "frame"].tolist())
    return np.array([int(f) in client for f in frames.tolist()], dtype=bool)


def _cut_head(tcp: pd.DataFrame, frames: np.ndarray, times: np.ndarray) -> np.ndarray:
    return np.asarray(times >= times.min() + CUT_NS)


def _cut_tail(tcp: pd.DataFrame, frames: np.ndarray, times: np.ndarray) -> np.ndarray:
    return np.asarray(times <= times.max() - CUT_NS)


DEGRADATIONS: dict[str, Keep] = {
    "syn_only": _syn_only,
    "payload_only": _payload_only,
    **{f"drop_5pct_{k}": _dropping(k) for k in range(DROP_ROUNDS)},
    "client_only": _client_only,
    "cut_head": _cut_head,
    "cut_tail": _cut_tail,
}


def overclaims(full: pcapline.Analysis, degraded: pcapline.Analysis) -> list[str]:
    """Degraded connections with a proven/likely failure fate the full capture did not give."""
    failing = {f.value for f in FAILURE_FATES}
    whole = full.connections
    out = []
    for row in degraded.connections.to_dict("records"):
        if row["fate"] not in failing or row["confidence"] == "unknown":
            continue
        ends = {(row["client_ip"], row["client_port"]), (row["server_ip"], row["server_port"])}
        same = whole[
            [
                {(c_ip, c_port), (s_ip, s_port)} == ends
                for c_ip, c_port, s_ip, s_port in zip(
                    whole["client_ip"],
                    whole["client_port"],
                    whole["server_ip"],
                    whole["server_port"],
                    strict=True,
                )
            ]
        ]
        during = same[(same["start_ns"] <= row["start_ns"]) & (row["start_ns"] <= same["end_ns"])]
        if row["fate"] in set(during["fate"].tolist()):
            continue
        if row["fate"] == "refused" and set(during["cause"].tolist()) == {"scan_probe"}:
            # The probe lost, its RST + ACK (seq 0, ack = the probe's end) is the very answer
            # to a SYN of an unused port (tcp_v4_send_reset): both verdicts say that nothing
            # listens there; only which segment drew it is beyond the degraded capture.
            continue
        if row["fate"] == "reset" and row["reset_by"] in set(during["reset_by"].tolist()):
            # ``reset`` claims only that this side's RST ended it (on the wire); a capture
            # missing the connection's earlier part cannot name the timer that led to it.
            continue
        was = ", ".join(f"{i}:{f}" for i, f in zip(during["id"], during["fate"], strict=True))
        out.append(
            f"conn {row['id']} {row['fate']} ({row['confidence']}); full capture: {was or 'none'}"
        )
    return out


#: A cause that includes another: the less specific one is no overclaim when the full capture
#: names the more specific. A middlebox that forgot an idle connection and answered with its
#: own RST injected that RST (causes/__init__.py orders idle timeout before injected RST); a
#: degraded capture that no longer shows the idle gap still shows the RST's foreign TTL.
IMPLIED: dict[str, frozenset[str]] = {"middlebox_idle_timeout": frozenset({"injected_rst"})}


def cause_overclaims(full: pcapline.Analysis, degraded: pcapline.Analysis) -> list[str]:
    """Degraded connections naming a cause (connections[].cause) that no connection on the same
    endpoints names in the full capture: a cause is a claim from packets, never from gaps."""
    named = {
        (frozenset({(c_ip, c_port), (s_ip, s_port)}), cause)
        for c_ip, c_port, s_ip, s_port, cause in zip(
            full.connections["client_ip"],
            full.connections["client_port"],
            full.connections["server_ip"],
            full.connections["server_port"],
            full.connections["cause"],
            strict=True,
        )
    }
    out = []
    for row in degraded.connections.to_dict("records"):
        if row["cause"] is None:
            continue
        ends = frozenset(
            {(row["client_ip"], row["client_port"]), (row["server_ip"], row["server_port"])}
        )
        implied = {(e, c) for e, full_cause in named for c in IMPLIED.get(str(full_cause), ())}
        if (ends, row["cause"]) not in named | implied:
            out.append(f"conn {row['id']} cause {row['cause']} not named in the full capture")
    return out


@pytest.mark.parametrize("path", CAPTURES, ids=[p.name for p in CAPTURES])
def test_a_degraded_capture_proves_no_failure_the_full_one_does_not(
    path: Path, tmp_path: Path
) -> None:
    full = analysed.whole(path)
    capture = read_capture(str(path))
    frames, times = capture.frame, capture.time_ns
    problems = []
    for name, keep_of in DEGRADATIONS.items():
        keep = keep_of(full.segments, frames, times)
        if not keep.any() or keep.all():
            continue
        out = tmp_path / f"{name}.pcapng"
        rewrite(path, keep, out)
        degraded = pcapline.analyze(str(out))
        problems += [f"{name}: {p}" for p in overclaims(full, degraded)]
        problems += [f"{name}: {p}" for p in cause_overclaims(full, degraded)]
    assert not problems, "\n".join(problems)


def merged_with_itself(path: Path, shift_ns: int, out: Path) -> None:
    """A pcapng of ``path``'s frames twice, the second copy ``shift_ns`` later: two taps (or
    two interfaces of ``-i any``) that saw every packet, merged by time."""
    capture = read_capture(str(path))
    links = sorted(set(capture.link_type.tolist()))
    iface = {link: i for i, link in enumerate(links)}
    records = []
    for copy in (0, 1):
        for i in range(capture.frames):
            lo, n = int(capture.offset[i]), int(capture.caplen[i])
            when = int(capture.time_ns[i]) + copy * shift_ns
            records.append((when, copy, i, lo, n))
    blocks = [shb(), *(idb(link, tsresol=9) for link in links)]
    data = capture.data
    for when, _, i, lo, n in sorted(records):
        link = iface[int(capture.link_type[i])]
        blocks.append(epb(link, when, bytes(data[lo : lo + n]), origlen=int(capture.origlen[i])))
    out.write_bytes(b"".join(blocks))


SINGLE_FILE_SAMPLES = sorted(SAMPLES.glob("*.pcap"))


@pytest.mark.parametrize("shift_us", [10, 2000])
def test_two_taps_merged_retry_no_syn_nor_synack(shift_us: int, tmp_path: Path) -> None:
    """Every packet captured twice, microseconds or milliseconds apart (two taps merged, a
    bridge's ports under ``-i any``): the copies of SYNs and SYN+ACKs are copies. Handshake
    retries counted in the merged capture were those of the full one. Two exceptions the
    packets cannot settle: a SYN+ACK repeated after a resent SYN (the timer's and the answer to
    the resent SYN leave microseconds apart, both real), and, without timestamps, one repeated
    later than the handshake's round trip (a BPF program may shorten the SYN+ACK timer to
    milliseconds; with timestamps a resend carries a later TSval)."""
    problems = []
    for path in SINGLE_FILE_SAMPLES:
        analysis = analysed.whole(path)
        full = analysis.connections
        stamped = set(analysis.segments.loc[analysis.segments["has_ts"], "conn"].tolist())
        out = tmp_path / "merged.pcapng"
        merged_with_itself(path, shift_us * 1000, out)
        twice = pcapline.analyze(str(out)).connections
        for was, now in zip(full.to_dict("records"), twice.to_dict("records"), strict=True):
            syn = (was["syn_retransmits"], now["syn_retransmits"])
            synack = (was["synack_retransmits"], now["synack_retransmits"])
            settled = was["syn_retransmits"] == 0 and (was["id"] in stamped or shift_us < 1000)
            if syn[0] != syn[1] or (synack[0] != synack[1] and settled):
                problems.append(f"{path.name} conn {was['id']}: SYN {syn}, SYN+ACK {synack}")
    assert not problems, "\n".join(problems)


def test_a_give_up_rst_in_a_capture_that_lost_segments_proves_no_timeout(tmp_path: Path) -> None:
    """The prober's RST shows that it gave up, not why: in a capture whose capture point lost
    segments, the answers it waited for may be among them. The server's answer to the request
    (frame 8) not captured, the client's ACK of it shows the loss."""
    path = SAMPLES / "keepalive-client-idle2-intvl1-cnt3.pcap"
    full = pcapline.analyze(str(path)).connections
    assert (full.fate[0], full.confidence[0]) == ("keepalive_timeout", "proven")
    capture = read_capture(str(path))
    out = tmp_path / "lost-answer.pcapng"
    rewrite(path, capture.frame != 8, out)
    lossy = pcapline.analyze(str(out)).connections
    assert (lossy.fate[0], lossy.confidence[0]) == ("keepalive_timeout", "unknown")
    assert list(lossy.caveats[0]) == ["capture_lossy"]


def test_a_fin_the_capture_point_lost_is_inferred_from_its_ack(tmp_path: Path) -> None:
    """The client's FIN not captured, the server's FIN acknowledging it: closed by the
    client, likely (the FIN inferred), not half closed by the server, proven, with a hunt for
    CLOSE_WAIT on the client."""
    path = SAMPLES / "keepalive-healthy-idle2-answered.pcap"
    full = pcapline.analyze(str(path))
    assert (full.connections.fate[0], full.connections.closer[0]) == ("closed", "client")
    seg = full.segments
    client_fin = int(seg.loc[seg["from_client"] & ((seg["flags"] & FIN) != 0), "frame"].iloc[0])
    capture = read_capture(str(path))
    out = tmp_path / "lost-fin.pcapng"
    rewrite(path, capture.frame != client_fin, out)
    row = pcapline.analyze(str(out)).connections.iloc[0]
    assert (row.fate, row.closer, row.confidence) == ("closed", "client", "likely")
    assert list(row.caveats) == ["peer_fin_inferred"]
    assert "the capture point lost it" in row.explanation


def test_a_synack_the_capture_point_lost_leaves_no_challenge_ack(tmp_path: Path) -> None:
    """The SYN+ACK not captured: the client's ACK and data show it went on as established, so
    the server's bare ACK of that data is no challenge ACK to its SYN (RFC 5961: one answers
    a SYN in an old connection's sequence space, and the client resets it)."""
    path = SAMPLES / "closed-client-first.pcap"
    seg = pcapline.analyze(str(path)).segments
    synack = (seg["flags"] & SYN != 0) & ~seg["from_client"]
    capture = read_capture(str(path))
    out = tmp_path / "lost-synack.pcapng"
    rewrite(path, capture.frame != int(seg.loc[synack, "frame"].iloc[0]), out)
    degraded = pcapline.analyze(str(out))
    assert degraded.connections.fate.tolist() == ["closed"]
    assert "challenge_ack" not in set(degraded.events["kind"].astype(str))
    assert degraded.detections[0].handshake.inferred.answer == "none"


def test_a_challenge_ack_stays_one_when_the_next_synack_was_lost(tmp_path: Path) -> None:
    """The stale peer's new SYN drew a challenge ACK; the client reset it and sent its SYN
    again, whose SYN+ACK the capture point lost. The client's later ACK acknowledges that
    SYN+ACK, not the challenge: connection 0 is still the stale peer reset by the client."""
    path = SAMPLES / "stale-peer-challenge-ack.pcap"
    seg = pcapline.analyze(str(path)).segments
    synacks = seg.loc[(seg["flags"] & SYN != 0) & ~seg["from_client"], "frame"].tolist()
    capture = read_capture(str(path))
    out = tmp_path / "lost-second-synack.pcapng"
    rewrite(path, capture.frame != int(synacks[-1]), out)
    degraded = pcapline.analyze(str(out))
    first = degraded.connections.iloc[0]
    assert (first.fate, first.reset_by) == ("reset", "client")
    assert "challenge_ack" in set(degraded.events["kind"].astype(str))


def test_unanswered_syns_in_a_one_direction_capture_prove_no_connect_timeout(
    tmp_path: Path,
) -> None:
    """Only the client's packets kept (asymmetric routing, a one-sided tap): other connections
    show it (their ACKs move with nothing from the server), so a SYN with no answer in the
    capture may have had its answer in the other direction. A connect timeout the full
    capture proves is unknown there, in the whole-file analysis and across partitions."""
    from pcapline import engine

    path = SAMPLES / "listen-overflow-backlog2-abort0.pcap"
    full = pcapline.analyze(str(path))
    timeouts = full.connections[full.connections.fate == "connect_timeout"]
    assert len(timeouts) == 1 and timeouts.confidence.iloc[0] != "unknown"
    capture = read_capture(str(path))
    out = tmp_path / "client-only.pcapng"
    rewrite(path, _client_only(full.segments, capture.frame, capture.time_ns), out)
    for one in (pcapline.analyze(str(out)), engine.analyse(str(out), partitions=3).analysis):
        rows = one.connections[one.connections.fate == "connect_timeout"]
        assert len(rows) == 1
        assert (rows.confidence.iloc[0], list(rows.caveats.iloc[0])) == ("unknown", ["one_sided"])


@pytest.mark.parametrize(
    "capture", ["refused-no-listener.pcap", "lb-one-backend-refuses-at-client.pcap"]
)
def test_only_rsts_captured_a_refusal_is_likely_refused_not_a_reset(
    capture: str, tmp_path: Path
) -> None:
    """Only RSTs kept (the filter ``tcp[tcpflags] & tcp-rst != 0`` people use to hunt
    resets): a refusal's RST alone was "reset by the server while established, proven". Its
    sequence number 0 shows it reset a segment without ACK, a SYN: refused, likely (the SYN
    and what came before are unseen). The load balancer's connections that connected leave
    no RST, so only its three refusals remain."""
    path = SAMPLES / capture
    full = pcapline.analyze(str(path))
    refused = full.connections[full.connections.fate == "refused"]
    seg = full.segments
    capture_rows = read_capture(str(path))
    out = tmp_path / "rst-only.pcapng"
    rsts = seg.loc[(seg["flags"] & RST) != 0, "frame"].to_numpy()
    rewrite(path, np.isin(capture_rows.frame, rsts), out)
    rows = pcapline.analyze(str(out)).connections
    assert len(rows) == len(refused)
    assert rows.client_port.tolist() == refused.client_port.tolist()
    assert set(rows.fate) == {"refused"} and set(rows.confidence) == {"likely"}
    assert all(list(c) == ["handshake_not_captured"] for c in rows.caveats)
    assert all("answers a SYN the capture does not hold" in t for t in rows.explanation)


def test_a_reused_4tuples_synack_with_a_new_isn_is_no_synack_retry(tmp_path: Path) -> None:
    """The same 4-tuple three times; the capture point lost the second connection's SYN, so
    Wireshark (and pcapline) keep its SYN+ACK in the first stream. That SYN+ACK carries a new
    ISN: it answers a new SYN, it is no retransmission of the first SYN+ACK (which resends the
    same ISN), so no SYN+ACK retry is counted, listed or explained."""
    degraded = _reused_4tuple_second_syn_lost(tmp_path)
    first = degraded.connections.iloc[0]
    assert len(degraded.connections) == 2  # the second connection joined the first stream
    assert first.synack_retransmits == 0
    assert "synack_retransmit" not in set(degraded.events["kind"].astype(str))
    note = str(first.explanation).split(" From frame ")[0]  # the story before the reopening note
    assert "SYN+ACK" not in note


def test_a_stream_holding_two_connections_proves_neither_ones_fate(tmp_path: Path) -> None:
    """The same capture: stream 0 now holds the first connection (reset by the client) and
    the second (closed by FINs). Read as one, it is "closed", proven, and the reset is
    gone. The fate stays what the packets of both give, but only likely, and the
    explanation names the frame where the second connection begins."""
    full = pcapline.analyze(str(SAMPLES / "port-reuse-same-4tuple-3x.pcap")).connections
    assert full.fate.tolist()[:2] == ["reset", "closed"]
    degraded = _reused_4tuple_second_syn_lost(tmp_path)
    first, second = degraded.connections.iloc[0], degraded.connections.iloc[1]
    assert (first.confidence, list(first.caveats)) == ("likely", ["two_connections"])
    seg = degraded.segments
    synacks = seg.loc[(seg["flags"] & SYN != 0) & ~seg["from_client"], "frame"].tolist()
    reopened = degraded.detections[0].handshake.inferred.reopened_frame
    assert reopened == synacks[1]  # the new ISN's SYN+ACK, after the first SYN and SYN+ACK
    assert f"From frame {reopened} on, this stream is another connection" in first.explanation
    ended = int(degraded.segments.loc[(degraded.segments["flags"] & RST) != 0, "frame"].iloc[0])
    assert f"the earlier one ended with the client's RST (frame {ended})" in first.explanation
    assert (second.fate, second.confidence, list(second.caveats)) == ("closed", "proven", [])


def _reused_4tuple_second_syn_lost(tmp_path: Path) -> pcapline.Analysis:
    """port-reuse-same-4tuple-3x.pcap without the second connection's SYN, analysed."""
    path = SAMPLES / "port-reuse-same-4tuple-3x.pcap"
    seg = pcapline.analyze(str(path)).segments
    syns = seg.loc[(seg["flags"] & SYN != 0) & seg["from_client"], "frame"].tolist()
    capture = read_capture(str(path))
    out = tmp_path / "lost-second-syn.pcapng"
    rewrite(path, capture.frame != int(syns[1]), out)
    return pcapline.analyze(str(out))


def _frames_until(path: Path, last_frame: int) -> np.ndarray:
    return np.arange(1, read_capture(str(path)).frames + 1) <= last_frame


def test_a_capture_stopped_at_a_fin_proves_no_half_close(tmp_path: Path) -> None:
    """closed-client-first cut right after the client's FIN (frame 10): the server's FIN came
    145 us later, so "the server had not sent its FIN" is not what the capture shows; it ended
    before the server could answer. (A half close the capture outlasts stays proven:
    tests/test_end_of_capture.py.)"""
    path = SAMPLES / "closed-client-first.pcap"
    out = tmp_path / "cut-at-fin.pcapng"
    rewrite(path, _frames_until(path, 10), out)
    row = pcapline.analyze(str(out)).connections.iloc[0]
    assert (row.fate, row.confidence, list(row.caveats)) == (
        "half_closed",
        "unknown",
        ["capture_ended_after_fin"],
    )


def test_a_half_close_seen_from_one_side_is_unknown(tmp_path: Path) -> None:
    """half-closed-client-shutdown with the client's frames only: the server's FIN, if it
    came, would be in the direction the capture lacks (and the file ends 0.1 ms after it)."""
    path = SAMPLES / "half-closed-client-shutdown.pcap"
    tcp = pcapline.analyze(str(path)).segments
    frames = np.arange(1, read_capture(str(path)).frames + 1)
    out = tmp_path / "client-only.pcapng"
    rewrite(path, _client_only(tcp, frames, np.zeros(len(frames))), out)
    row = pcapline.analyze(str(out)).connections.iloc[0]
    assert (row.fate, row.confidence, list(row.caveats)) == (
        "half_closed",
        "unknown",
        ["one_sided", "capture_ended_after_fin"],
    )


@needs_corpus
def test_an_absent_end_in_a_lossy_connection_is_not_proven() -> None:
    """arkime/kafka.pcap: frame 5 ACKs 71 server bytes the capture never saw (the server's FIN
    may be lost the same way), and the capture stops at the client's FIN (0 ms after it, a
    141 ms round trip). zeek/erspan.pcap: open connections whose peers ACK bytes never seen
    (connections 0-3, gaps tshark sees too); connection 4, whole once the underlay's IP
    fragments are reassembled, is only likely too: a capture point that lost segments of
    the others may have lost its FIN and the ACK of it."""
    row = pcapline.analyze(str(CORPUS / "arkime" / "kafka.pcap")).connections.iloc[0]
    assert (row.fate, row.confidence, list(row.caveats)) == (
        "half_closed",
        "unknown",
        ["capture_lossy", "capture_ended_after_fin", "end_not_captured"],
    )
    rows = pcapline.analyze(str(CORPUS / "zeek" / "erspan.pcap")).connections
    opened = rows[rows.fate == "open"].set_index("id")
    verdicts = {
        int(i): (c, tuple(v))
        for i, c, v in zip(opened.index, opened.confidence, opened.caveats, strict=True)
    }
    assert verdicts == {i: ("likely", ("capture_lossy",)) for i in (0, 1, 2, 3, 4)}
