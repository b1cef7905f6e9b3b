"""detect/silent_sender.py: a side silent with data unacknowledged while the capture went on;
classify's ``silent_sender`` caveat and explain's words for it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from builders.conversation import CLIENT, SERVER, Conversation
from builders.segments import segments, verdict_table

import pcapline
from pcapline.detect import conn_view
from pcapline.detect.silent_sender import (
    DETECTOR,
    MAX_SILENCE_S,
    MIN_SILENCE_S,
    SilentSender,
    needed_s,
)
from pcapline.facts import compute_facts
from pcapline.model import Side

SAMPLE = Path(__file__).resolve().parents[2] / "sample_captures" / "silent-sender-tail-cut.pcap"


def _download(tail_acked: bool = False) -> Conversation:
    """A request, 3 x 1000 B of reply; the client ACKs the first 2000 B only."""
    c = Conversation().handshake(0.0, rtt=0.01)
    c.data(CLIENT, 0.02, 100).ack(SERVER, 0.021)
    c.data(SERVER, 0.03, 1000).data(SERVER, 0.0301, 1000)
    c.ack(CLIENT, 0.04)
    c.data(SERVER, 0.0302, 1000)
    if tail_acked:
        c.ack(CLIENT, 0.05)
    return c


def _end(c: Conversation, after_s: float) -> int:
    """The capture's end ``after_s`` after the connection's last segment (other traffic)."""
    return int(segments(c)["time_ns"].max()) + round(after_s * 1e9)


def _found(c: Conversation, after_s: float) -> SilentSender | None:
    facts = compute_facts(segments(c), capture_end_ns=_end(c, after_s))
    found = DETECTOR.detect(conn_view(facts, 0))
    assert not found.events
    assert DETECTOR.screen is not None
    # The screen is the signature itself: a connection is visited only when it shows it.
    assert DETECTOR.screen(facts).tolist() == [found.inferred is not None]
    return found.inferred


def test_sender_silent_with_data_unacknowledged() -> None:
    s = _found(_download(), 5.0)
    assert s is not None
    assert (s.side, s.unacked_bytes, s.fin_unacked, s.last_frame, s.ack_frame) == (
        Side.SERVER,
        1000,
        False,
        8,
        9,
    )
    assert s.silent_s == pytest.approx(5.0 + 0.0098, abs=1e-3)
    # The handshake's 10 ms: Linux's first RTO is rtt + max(2 rtt, 200 ms)
    assert s.rtt_ms == pytest.approx(10.0)
    assert s.rto_s == pytest.approx(0.21)


def test_the_capture_ended_within_a_few_rtos_says_nothing() -> None:
    assert _found(_download(), MIN_SILENCE_S - 0.1) is None
    assert _found(_download(), MIN_SILENCE_S + 0.1) is not None


def test_the_rto_estimate_grows_with_the_round_trip() -> None:
    rto, need = needed_s(np.array([np.nan, 0.001, 0.5, 2.0]))
    assert rto.tolist() == pytest.approx([1.0, 0.201, 1.5, 6.0])
    # three RTOs (1 + 2: two resends) with the timer slack, never under MIN_SILENCE_S
    assert need.tolist() == pytest.approx([3.32, 3.0, 4.97, 19.82])


def test_a_silence_longer_than_any_capture_is_a_stitched_file() -> None:
    assert _found(_download(), MAX_SILENCE_S + 1) is None


def test_everything_acknowledged_is_nothing() -> None:
    assert _found(_download(tail_acked=True), 30.0) is None


def test_keepalive_idle_with_nothing_outstanding_is_nothing() -> None:
    c = _download(tail_acked=True)
    c.probe(CLIENT, 10.0).ack(SERVER, 10.001)
    assert _found(c, 30.0) is None


def test_a_sender_in_rto_backoff_is_the_retransmit_detectors() -> None:
    c = _download()
    for t in (0.25, 0.65, 1.45):
        c.data(SERVER, t, 1000, seq=c.nxt(SERVER) - 1000)
    assert _found(c, 5.0) is None


def test_a_zero_window_is_the_persist_timers_wait() -> None:
    c = Conversation().handshake(0.0, rtt=0.01)
    c.data(CLIENT, 0.02, 100).ack(SERVER, 0.021)
    c.data(SERVER, 0.03, 1000).ack(CLIENT, 0.04, window=0)
    c.data(SERVER, 0.05, 1000)  # past the window the client advertised last: it waits
    assert _found(c, 10.0) is None


def test_one_direction_captured_is_nothing() -> None:
    c = Conversation().syn(0.0).synack(0.005)
    c.data(SERVER, 0.03, 1000).data(SERVER, 0.031, 1000)
    rows = segments(c)
    server_only = rows[~rows["from_client"]].reset_index(drop=True)
    facts = compute_facts(server_only, capture_end_ns=int(rows["time_ns"].max()) + 10**10)
    assert DETECTOR.detect(conn_view(facts, 0)).inferred is None


def test_peer_acks_only_on_its_data_is_an_ack_filtered_capture() -> None:
    """No bare ACK of the peer in the capture: a filter that kept data (its ACKs ride on
    its data only), so the missing ACK proves nothing."""
    c = Conversation().syn(0.0).synack(0.005)
    c.data(CLIENT, 0.02, 100).data(SERVER, 0.03, 1000)
    c.data(CLIENT, 0.04, 100).data(SERVER, 0.05, 1000)
    assert _found(c, 10.0) is None


def test_a_rst_or_both_fins_end_it() -> None:
    c = _download()
    c.rst(CLIENT, 0.06)
    assert _found(c, 10.0) is None
    c = _download()
    c.fin(SERVER, 0.06).fin(CLIENT, 0.07)
    assert _found(c, 10.0) is None


def test_its_unacknowledged_fin_counts() -> None:
    c = _download(tail_acked=True)
    c.fin(SERVER, 0.06)
    s = _found(c, 10.0)
    assert s is not None
    assert (s.side, s.unacked_bytes, s.fin_unacked) == (Side.SERVER, 0, True)


def _verdicts(c: Conversation, after_s: float) -> pd.DataFrame:
    return verdict_table(c, capture_end_ns=_end(c, after_s))


def test_open_is_unknown_and_says_why() -> None:
    row = _verdicts(_download(), 5.0).loc[0]
    assert (row.fate, row.confidence, row.caveats) == ("open", "unknown", ["silent_sender"])
    assert "The server's last 1,000 bytes (up to frame 8) were never acknowledged" in (
        row.explanation
    )
    assert "packets dropped by kernel" in row.explanation and "-B buffer" in row.explanation
    assert "nothing unusual" not in row.explanation
    assert row.inferred["silent_sender"] == {
        "side": "server",
        "last_frame": 8,
        "ack_frame": 9,
        "unacked_bytes": 1000,
        "fin_unacked": False,
        "silent_s": pytest.approx(5.01, abs=0.01),
        "rto_s": 0.21,
    }


def test_half_closed_is_unknown_too() -> None:
    c = _download()
    c.fin(CLIENT, 0.05)  # the client closed its side; the server's data still unacknowledged
    row = _verdicts(c, 5.0).loc[0]
    assert (row.fate, row.closer, row.confidence) == ("half_closed", "client", "unknown")
    assert row.caveats == ["silent_sender"]


def test_a_capture_that_ended_soon_after_stays_proven() -> None:
    row = _verdicts(_download(), 1.0).loc[0]
    assert (row.fate, row.confidence, row.caveats) == ("open", "proven", [])
    assert "nothing unusual" in row.explanation


@pytest.mark.skipif(not SAMPLE.exists(), reason="sample capture not present")
def test_real_kernel_tail_deleted_by_editcap() -> None:
    """Real Linux: a 20 KB download whose frames after the server's middle data segment were
    deleted with editcap (both FINs among them), while another connection went on 5 s."""
    conns = pcapline.analyze(str(SAMPLE)).connections.set_index("client_port")
    cut, ticker = conns.loc[40236], conns.loc[40237]
    assert (cut.fate, cut.confidence, list(cut.caveats)) == ("open", "unknown", ["silent_sender"])
    silent = cut.inferred["silent_sender"]
    assert (silent["side"], silent["unacked_bytes"], silent["fin_unacked"]) == (
        "server",
        1448,
        False,
    )
    assert silent["silent_s"] > MIN_SILENCE_S
    assert (ticker.fate, ticker.confidence, list(ticker.caveats)) == ("closed", "proven", [])
