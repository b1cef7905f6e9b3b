from pathlib import Path
from typing import Any

import pytest
from builders.conversation import Conversation, pcap_bytes
from builders.wire import ACK, SYN, Wire

import pcapline
import pcapline.bounded
from pcapline import engine, findings
from pcapline.findings import find_all
from pcapline.findings.syn_flood import MIN_HALF_OPEN, MIN_SOURCES

SAMPLES = Path(__file__).resolve().parents[2] / "sample_captures"


def _flood(sources: int, count: int, spacing_s: float = 0.01) -> Wire:
    w = Wire()
    for cid in range(count):
        w.conn(cid, f"203.0.113.{cid % sources + 1}", 1024 + cid, server_port=443)
        w.seg(cid, cid * spacing_s, True, SYN)
        w.seg(cid, cid * spacing_s + 0.0001, False, SYN | ACK)  # cookie SYN+ACK, never ACKed
    return w


def test_many_half_open_from_many_sources() -> None:
    w = _flood(sources=50, count=150)
    w.conn(1000, "192.0.2.1", 50000, server_port=443)
    w.handshake_close(1000, 0.5)
    (finding,) = find_all(*w.tables())
    assert finding.kind == "syn_flood"
    assert finding.details["connection_count"] == 150
    assert finding.details["sources"] == 50
    assert finding.details["synack_sent"] == 150
    assert 1000 not in finding.connections


def test_thresholds() -> None:
    assert find_all(*_flood(sources=MIN_SOURCES - 1, count=150).tables()) == []
    assert find_all(*_flood(sources=50, count=MIN_HALF_OPEN - 1).tables()) == []
    # as many, but spread over far more than the window: a trickle of failed handshakes
    assert find_all(*_flood(sources=50, count=150, spacing_s=1.0).tables()) == []


def test_completed_handshakes_are_not_half_open() -> None:
    w = _flood(sources=50, count=150)
    for cid in range(150):
        w.seg(cid, cid * 0.01 + 0.0002, True, ACK)
    assert find_all(*w.tables()) == []


def test_a_flag_filtered_capture_counts_only_what_its_filter_keeps() -> None:
    """A capture of only SYN/FIN/RST segments holds no bare ACK: 150 handshakes from 50
    sources with one SYN+ACK each may all have completed. The server's resent SYN+ACKs (a
    request socket retries only while unacknowledged) and SYNs it never answered still say
    the handshake did not complete."""
    assert find_all(*_flood(sources=50, count=150).tables(), flag_filtered=True) == []
    resent = _flood(sources=50, count=150)
    for cid in range(150):
        resent.seg(cid, cid * 0.01 + 1.0001, False, SYN | ACK)
    (finding,) = find_all(*resent.tables(), flag_filtered=True)
    assert finding.details["connection_count"] == 150
    assert finding.summary.endswith(
        "(the capture holds only SYN/FIN/RST segments: counted are the handshakes whose "
        "SYN+ACK the server resent, or whose SYN it never answered)"
    )
    unanswered = Wire()
    for cid in range(150):
        unanswered.conn(cid, f"203.0.113.{cid % 50 + 1}", 1024 + cid, server_port=443)
        unanswered.seg(cid, cid * 0.01, True, SYN)
    (finding,) = find_all(*unanswered.tables(), flag_filtered=True)
    assert finding.details["connection_count"] == 150


@pytest.mark.parametrize("bounded", [False, True], ids=["in-memory", "on-disk"])
def test_the_engines_tell_the_finders_the_capture_is_flag_filtered(
    bounded: bool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The sample holds no segment without SYN, FIN or RST (its clients' ACKs were dropped at
    # the client): what a flag filter leaves.
    path = SAMPLES / "syn-flood-backlog8-syncookies.pcap"
    told: list[bool] = []
    real = findings.find_all

    def spy(*args: Any, **kwargs: Any) -> Any:
        told.append(kwargs["flag_filtered"])
        return real(*args, **kwargs)

    monkeypatch.setattr(findings, "find_all", spy)
    if bounded:
        with pcapline.bounded.analyse(
            path, partitions=1, jobs=1, outputs=frozenset({"text"}), spill_dir=str(tmp_path)
        ) as result:
            assert result.text_analysis().capture.quality["flag_filtered"] is True
    else:
        assert engine.analyse(path).analysis.capture.quality["flag_filtered"] is True
    assert told == [True]


def test_a_flag_filtered_capture_leaves_out_handshakes_completed_unseen(tmp_path: Path) -> None:
    """A listener that resent 120 SYN+ACKs to its limit (1 s, 3 s: tcp_synack_retries 2) and
    60 others once only, the capture going on past their second resend: those 60 ended on an
    ACK the filter dropped (their verdicts: open, caveat handshake_acked_unseen), not
    half-open; the finding counts the 120."""
    convs = []
    for k in range(180):
        t = 0.01 * k
        c = Conversation(conn=k, client=(f"203.0.113.{k % 50 + 1}", 20000 + k))
        c.syn(t).synack(t + 0.001).synack(t + 1.001)
        if k % 3:
            c.synack(t + 3.001)
        convs.append(c)
    # a SYN+ACK sent once, never resent: what makes the capture read as flag-filtered
    convs.append(Conversation(conn=180, client=("198.51.100.2", 30001)).syn(0.5).synack(0.501))
    # and one at 9 s: the capture goes on past every second resend due
    convs.append(Conversation(conn=181, client=("198.51.100.3", 30002)).syn(9.0).synack(9.001))
    path = tmp_path / "flood.pcap"
    path.write_bytes(pcap_bytes(*convs))
    analysis = pcapline.analyze(path)
    assert analysis.capture.quality["flag_filtered"]
    (finding,) = [f for f in analysis.findings if f.kind == "syn_flood"]
    assert finding.details["connection_count"] == 120
    conns = analysis.connections
    flood = conns[conns["client_ip"].str.startswith("203.0.113.")]
    stopped = flood[(flood["client_port"] - 20000) % 3 == 0]
    assert len(stopped) == 60
    assert not set(finding.connections) & set(stopped["id"].tolist())
