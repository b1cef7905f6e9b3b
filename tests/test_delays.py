"""pcapline/delays.py on real-kernel samples: what slow connections lost, and no false alarm.

The measured values per sample are asserted from each scenario's expected file
(tests/test_samples.py, ``delays`` and ``slow``); here: the tags across the captures, the
CLI thresholds and ``--fail-on`` with tags, the JSON/CSV/text surfaces, and small pieces.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import analysed
import corpus_analysis
import numpy as np
import pandas as pd
import pytest
from needs import CORPUS_MARKS

import pcapline
import pcapline.errors
from pcapline.cli import run
from pcapline.delays import SlowTag, SlowThresholds, Stall, StallCause, _union_s, slow_tags
from pcapline.model import Side
from pcapline.render.tables import to_csv
from tests.contract_pcapline1 import check_document

SAMPLES = Path(__file__).resolve().parents[1] / "sample_captures"
SLOW = SAMPLES / "slow-syn-retries-then-success.pcap"
LOSSY = SAMPLES / "lossy-40-connections-3pct-drop.pcap"


def _expected(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


def test_slow_sample_says_so_first_and_lists_the_slow_connections(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(["analyze", str(SLOW)]) == 0
    out = capsys.readouterr().out
    head = out.split("\n\n", 1)[0]  # the summary, before the table
    flat = " ".join(head.split())  # the summary wraps at the terminal width
    assert (
        "3 of 5 connections needed SYN retries (1 to 2 each): connect p50 1.02 s, max 3.02 s"
        in flat
    )
    # the schedule of the connection that retried most, not of the commonest (one retry)
    assert "(doubling from 1 s (Linux before 6.5" in flat
    assert "one retry after" not in flat
    assert "a full listen queue (nstat TcpExtListenDrops, ss -lnt), a firewall" in flat
    assert "'nf_conntrack: table full'" in flat
    assert (
        "1 of 5 connections waited long for an answer (over 1 s): slowest answer p50 1.5 s" in flat
    )
    assert "slow, not failed: 4 (4 closed)" in out
    assert "syn_retry (connect time): connection(s) 0 (1.01 s), 1 (3.02 s), 4 (1.02 s)" in out


def test_closed_connection_with_syn_retries_says_so() -> None:
    analysis = pcapline.analyze(SLOW)
    text = analysis.verdicts[1].explanation.text
    assert text.startswith("Closed normally")
    assert "The client sent its SYN 3 times (at 0, 1.01, 3.02 s)" in text
    assert "SYN" not in analysis.verdicts[2].explanation.text  # the fast control


def test_fail_on_takes_slow_tags_next_to_fates(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["analyze", str(SLOW), "--fail-on", "syn_retry,slow_response", "-o", "-"]) == 1
    assert "4 connection(s): 1 slow_response, 3 syn_retry" in capsys.readouterr().err
    assert run(["analyze", str(SLOW), "--fail-on", "rto_stall,refused", "-o", "-"]) == 0
    # thresholds move the judgement: a 1.5 s answer is not slow against 2 s, slow against 500ms
    args = ["analyze", str(SLOW), "--format", "json", "--fail-on", "slow_response"]
    assert run([*args, "--slow-response", "2s"]) == 0
    assert run([*args, "--slow-response", "500ms"]) == 1
    connect = ["analyze", str(SLOW), "--format", "json", "--fail-on", "slow_connect"]
    assert run(connect) == 1
    assert run([*connect, "--slow-connect", "5s"]) == 0


@pytest.mark.parametrize("bad", ["abc", "-1s", "1h", "inf"])
def test_a_bad_duration_is_a_usage_error(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["analyze", str(SLOW), "--slow-connect", bad]) == 2
    assert "--slow-connect" in capsys.readouterr().err


def test_thresholds_from_the_api() -> None:
    lenient = pcapline.analyze(SLOW, slow=SlowThresholds(connect_s=5.0, response_s=2.0))
    tags = {c: lenient.delays[c].slow for c in lenient.delays}
    assert tags == {
        0: (SlowTag.SYN_RETRY,),
        1: (SlowTag.SYN_RETRY,),
        2: (),
        3: (),
        4: (SlowTag.SYN_RETRY,),
    }


def test_json_csv_and_filters_carry_the_delays(capsys: pytest.CaptureFixture[str]) -> None:
    analysis = pcapline.analyze(SLOW)
    doc = json.loads(analysis.to_json())
    check_document(doc)
    assert doc == analysis.to_dict()
    first = doc["connections"][1]
    assert first["slow"] == ["syn_retry", "slow_connect"]
    assert first["delays"]["syn_retries"] == 2
    assert first["delays"]["biggest_stall"]["cause"] == "syn_retry"
    table = pd.read_csv(io.StringIO(to_csv(analysis)))
    assert table["slow"].fillna("").tolist() == [
        "syn_retry;slow_connect",
        "syn_retry;slow_connect",
        "",
        "slow_response",
        "syn_retry;slow_connect",
    ]
    one = analysis.select(stream=3)
    assert list(one.delays) == [3] and one.delays[3].slow == (SlowTag.SLOW_RESPONSE,)
    assert json.loads(one.to_json())["connections"][0]["slow"] == ["slow_response"]


def test_no_slow_tag_on_healthy_fast_connections_of_the_lossy_capture() -> None:
    """False-positive check: 3 % random loss on 40 transfers, answered at once. A connection
    whose losses were all repaired by fast retransmission (no timeout, no SYN or SYN+ACK
    retry) lost about a round trip, not a stall: it is not slow. The tags that do appear are
    the loss tags only."""
    analysis = pcapline.analyze(LOSSY)
    conns = analysis.connections.set_index("id")
    no_timeout = [
        int(conn)
        for conn in conns.index
        if conns.at[conn, "syn_retransmits"] == 0
        and conns.at[conn, "synack_retransmits"] == 0
        and (
            conn not in analysis.detections
            or analysis.detections[conn].retransmit.inferred.rto == 0
        )
    ]
    assert len(no_timeout) >= 20  # most of them: the check has something to check
    for conn in no_timeout:
        assert analysis.delays[conn].slow == (), (conn, analysis.delays[conn])
    seen = {tag for conn in analysis.delays for tag in analysis.delays[conn].slow}
    assert seen <= {
        SlowTag.SYN_RETRY,
        SlowTag.SYNACK_RETRY,
        SlowTag.RTO_STALL,
        SlowTag.SLOW_CONNECT,
    }


def _short_clean_and_stalls(
    path: Path, analysis: pcapline.Analysis
) -> tuple[int, list[Any], list[Any]]:
    """One capture of the sweep below (run on the shared corpus analysis,
    tests/corpus_analysis.py): (short clean connections checked, those tagged slow, stalls
    outside their connection's span)."""
    limit_ns = SlowThresholds().zero_window_s * 1e9
    clean_counts = [
        "syn_retransmits",
        "synack_retransmits",
        "retransmits",
        "keepalive_probes",
        "zero_window_probes",
    ]
    checked, tagged, outside = 0, [], []
    conns = analysis.connections
    span = (conns["end_ns"] - conns["start_ns"]).to_numpy()
    clean = (conns[clean_counts].to_numpy() == 0).all(axis=1) & (span < limit_ns)
    for conn in conns["id"].to_numpy()[clean].tolist():
        checked += 1
        if analysis.delays[conn].slow:
            tagged.append((path.name, conn, analysis.delays[conn].slow))
    ends = dict(zip(conns["id"].tolist(), conns["end_ns"].tolist(), strict=True))
    starts = dict(zip(conns["id"].tolist(), conns["start_ns"].tolist(), strict=True))
    for conn in analysis.delays:
        for stall in analysis.delays.stalls_of(conn):
            ends_in_span = stall.end_ns <= ends[conn] or not stall.recovered
            if stall.start_ns < starts[conn] - 1_000_000_000 or not ends_in_span:
                outside.append((path.name, conn, stall))
    return checked, tagged, outside


_SHORT_CLEAN = "delays: short clean connections and stall spans"
corpus_analysis.register(_SHORT_CLEAN, _short_clean_and_stalls)


@pytest.mark.slow
@pytest.mark.xdist_group("corpus-analysis")  # one shared analysis of the corpus (one worker)
@pytest.mark.parametrize("marks", [pytest.param(None, marks=CORPUS_MARKS)])
def test_no_slow_tag_on_short_clean_corpus_connections(marks: None) -> None:
    """False positives across the corpus. A connection that lasted less than the smallest
    threshold (a zero window's 200 ms), with nothing retransmitted, no SYN or SYN+ACK retry and
    no probe, cannot have lost that much: it earns no tag (a measure claiming more time than
    the connection lasted would). And every stall, of any cause, lies within its connection's
    captured span (plus the kernel's give-up for an unanswered retry or RTO series)."""
    checked, tagged, outside, failed = 0, [], [], []
    for capture in corpus_analysis.answers(_SHORT_CLEAN):
        if capture.error is not None:  # only a CaptureError (refused) is allowed
            failed.append((capture.path.name, capture.error))
        if capture.refused or capture.error is not None:
            continue
        one = capture.by_check[_SHORT_CLEAN]
        checked += one[0]
        tagged += one[1]
        outside += one[2]
    assert failed == []
    assert checked > 1000  # the sweep has something to check
    assert tagged == []
    assert outside == []


def _clean_expectations() -> list[Any]:
    """Every real-kernel sample connection built clean (all counts 0) and not built slow."""
    cases = []
    for path in sorted(SAMPLES.glob("*.expected.json")):
        doc = _expected(path)
        for conn in doc["connections"]:
            counts = conn.get("counts") or {}
            if doc.get("crafted") or "slow" in conn or not counts:
                continue
            if all(v == 0 for v in counts.values()) and "client_port" in conn["match"]:
                port = conn["match"]["client_port"]
                cases.append(pytest.param(path, port, id=f"{path.stem}-{port}"))
    return cases


@pytest.mark.parametrize(("expected", "port"), _clean_expectations())
def test_connections_built_clean_are_not_slow(expected: Path, port: int) -> None:
    capture = next(p for p in SAMPLES.glob(_expected(expected)["capture"]))
    analysis = analysed.whole(capture)
    rows = analysis.connections[analysis.connections["client_port"] == port]
    for conn in rows["id"].tolist():
        assert analysis.delays[int(conn)].slow == (), (conn, analysis.delays[int(conn)])


def _stall(start: int, end: int) -> Stall:
    return Stall(StallCause.RTO, Side.CLIENT, start, end, True, 1)


def test_stalled_time_counts_overlaps_once() -> None:
    stalls = [_stall(0, 2_000_000_000), _stall(1_000_000_000, 3_000_000_000), _stall(5, 6)]
    assert _union_s(stalls) == pytest.approx(3.0)
    assert _union_s([_stall(0, 10), _stall(2, 5)]) == pytest.approx(10e-9)
    assert _union_s([]) == 0.0


def test_slow_response_needs_the_opening_and_discounts_the_round_trip() -> None:
    """``slow_response``: first answer less the handshake round trip >= the threshold, on a
    connection whose opening was captured. Rows: a slow server on a fast path; a synthetic
    capture spacing packets 1 s apart (handshake RTT 2 s, answer 1 s: not slow); a long path
    with an answer just one RTT late (2.2 s, RTT 2 s); a mid-stream connection (no handshake:
    roles guessed, no judgement); a SYN-retried handshake (RTT unknown: counted as 0)."""
    nan = float("nan")
    columns = {
        "syn_retries": np.array([0, 0, 0, 0, 1]),
        "synack_retries": np.zeros(5, dtype=int),
        "zero_window_s": np.zeros(5),
        "connect_s": np.array([0.0001, 2.0, 2.0, nan, 1.0]),
        "handshake_rtt_ms": np.array([0.1, 2000.0, 2000.0, nan, nan]),
        "response_s": np.array([1.5, 1.0, 2.2, 30.0, 1.2]),
    }
    tags = slow_tags(columns, np.zeros(5, dtype=int), SlowThresholds(connect_s=5.0))
    slow = [SlowTag.SLOW_RESPONSE in t for t in tags]
    assert slow == [True, False, False, False, True]


def test_response_turns_of_a_keep_alive_connection(capsys: pytest.CaptureFixture[str]) -> None:
    """Five turns, the server sleeping 0, 0.2, 1.2, 0.2, 0 s (slow-response-turns, from its
    expected file): every turn counted, the slowest and the median; the first answer is quick
    but the third is 1.2 s late. The raw bytes show no request/response protocol, so only the
    first turn is judged: no slow_response, and the text names the third as not judged."""
    capture = SAMPLES / "slow-response-turns.pcap"
    analysis = pcapline.analyze(capture)
    d = analysis.delays[0]
    assert d.responses == 5
    assert d.response_max_s == pytest.approx(1.2, abs=0.05)
    assert d.response_median_s == pytest.approx(0.2, abs=0.05)
    assert d.response_s is not None and d.response_s < 0.01
    assert d.longest_silence_s == d.response_max_s and d.longest_silence_side is Side.SERVER
    assert d.slow == () and d.response_unjudged
    assert d.response_max_turn == 3 and d.response_max_at_ns is not None
    # its answer began after turn 1 (0 s), the client's 50 ms pause, turn 2 (0.2 s), another
    # pause and the third's 1.2 s: 1.5 s into the connection
    start_ns = int(analysis.connections.loc[0, "start_ns"])
    assert (d.response_max_at_ns - start_ns) / 1e9 == pytest.approx(1.5, abs=0.1)
    assert run(["analyze", str(capture)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    said = "answers not judged for slow_response: connection(s) 0 (turn 3 of 5: the server"
    assert f"{said} spoke 1.2 s" in out
    assert "slow_response (" not in out
    # against a 2 s threshold the third turn would not have been slow either: nothing to say
    lenient = pcapline.analyze(capture, slow=SlowThresholds(response_s=2.0))
    assert lenient.delays[0].slow == () and not lenient.delays[0].response_unjudged


def test_connect_time_is_the_first_syn_to_the_handshake_ack() -> None:
    """delays._connect_s: per connection, SYN -> handshake ACK in seconds; NaN without both."""
    from typing import cast

    import numpy as np
    import pandas as pd

    from pcapline.delays import _connect_s
    from pcapline.facts import Facts

    class Ids:  # the one field of Facts it reads
        conn_ids = np.array([3, 5, 8], np.int64)

    events = pd.DataFrame(
        {
            "conn": np.array([3, 3, 5, 8, 8], np.int64),
            "time_ns": np.array([1_000, 251_000_000, 7, 2_000_000_000, 2_500_000_000], np.int64),
            "kind": ["syn", "handshake_ack", "syn", "handshake_ack", "syn"],
        }
    )
    got = _connect_s(cast(Facts, Ids()), events)
    assert got[0] == (251_000_000 - 1_000) / 1e9
    assert np.isnan(got[1])  # no handshake ACK
    assert got[2] == -0.5  # as measured: the events' order is not the handshake's


def _same_record(a: Any, b: Any) -> bool:
    """Equal, field by field, with the same Python type in each field and in each item of a
    tuple field (1 and 1.0 are equal but lay out apart in JSON)."""
    from dataclasses import fields

    for f in fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if x != y or type(x) is not type(y):
            return False
        if isinstance(x, tuple) and any(type(p) is not type(q) for p, q in zip(x, y, strict=True)):
            return False
    return True


@pytest.mark.parametrize(
    "name",
    [
        "lossy-40-connections-3pct-drop.pcap",
        "slow-syn-retries-then-success.pcap",
        "slow-rto-episodes-recover.pcap",
        "zero-window-recovers.pcap",
        "slow-window-full-paced-reader.pcap",
        "handshake-timeout-synack-retries2.pcap",
    ],
)
def test_visited_columns_give_back_every_record_as_stored(name: str) -> None:
    """``VisitedColumns`` (the bounded report's delay records as columns) builds each
    connection's record equal to the one the delays stage made, of the same types, whole
    or joined from parts in any order, and knows which connections have one."""
    from pcapline.delays import DelaysTable, VisitedColumns

    delays = pcapline.analyze(SAMPLES / name).delays
    assert isinstance(delays, DelaysTable)
    records = dict(delays.stalls)
    assert records, "the capture has connections that lost time"
    whole = VisitedColumns.of(records)
    ids = sorted(records)
    halves = [{k: records[k] for k in ids[1::2]}, {k: records[k] for k in ids[0::2]}]
    none = VisitedColumns.of({})  # a partition whose connections lost nothing
    assert len(none) == 0 and list(none) == [] and 0 not in none
    joined = VisitedColumns.joined([none, *(VisitedColumns.of(h) for h in halves), none])
    for table in (whole, joined):
        assert list(table) == ids and len(table) == len(records)
        for conn, record in records.items():
            assert conn in table
            assert _same_record(table[conn], record), conn
    missing = max(ids) + 1
    assert missing not in whole and whole.get(missing) is None and "1" not in whole
    assert sum(len(r.stalls) for r in records.values()) == sum(len(whole[c].stalls) for c in ids)


def _turn_across_a_hole(tmp_path: Path, *, answer_seen_from: int, request_tail: bool) -> Any:
    """A request answered at once by 10 segments 0.2 s apart, the capture missing the first
    ``answer_seen_from`` of them; ``request_tail``: the request's last 50 bytes go out 1.4 s
    after its first 100 and the capture misses them (the answer comes 5 ms after them)."""
    from builders.conversation import CLIENT, SERVER, Conversation, pcap_bytes

    c = Conversation().handshake(0.0, rtt=0.002)
    c.data(CLIENT, 0.010, 100)
    start = 0.011
    if request_tail:
        c.data(CLIENT, 1.410, 50, captured=False)
        start = 1.415
    for k in range(10):
        c.data(SERVER, start + 0.2 * k, 1000, captured=k >= answer_seen_from)
        c.ack(CLIENT, start + 0.2 * k + 0.001)
    path = tmp_path / "hole.pcap"
    path.write_bytes(pcap_bytes(c))
    return pcapline.analyze(path).delays[0]


def test_a_turn_timed_across_a_hole_in_the_capture_is_not_measured(tmp_path: Path) -> None:
    """delays._across_a_hole: a tap that lost the answer's first second (seen: its 1.2 s-late
    remainder), or the request's tail (seen: its head, 1.4 s before the answer), cannot time
    the wait: no response time and no slow_response, where the seen segments alone would say
    1.2 s and 1.4 s. The whole capture times the same turn at 1 ms."""
    whole = _turn_across_a_hole(tmp_path, answer_seen_from=0, request_tail=False)
    assert whole.response_s == pytest.approx(0.001, abs=1e-6) and whole.responses == 1
    for hole in (
        {"answer_seen_from": 6, "request_tail": False},
        {"answer_seen_from": 0, "request_tail": True},
    ):
        d = _turn_across_a_hole(tmp_path, **hole)
        assert (d.response_s, d.responses, d.slow) == (None, 0, ()), hole


def test_synack_retry_summary_says_how_long_the_server_waited(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """At the server, the client's first ACK lost: the client's connect() returned at once
    (its SYN+ACK came at 0.1 ms) while the listener resent its SYN+ACK on its 1 s timer. The
    summary's figure is that wait, not the client's connect time."""
    from builders.conversation import CLIENT, SERVER, Conversation, pcap_bytes

    c = Conversation().syn(0.0).synack(0.0001).synack(1.0001)
    c.ack(CLIENT, 1.0002).data(CLIENT, 1.0003, 10).ack(SERVER, 1.0004)
    c.fin(CLIENT, 1.0005).fin(SERVER, 1.0006).ack(CLIENT, 1.0007)
    path = tmp_path / "synack-timer.pcap"
    path.write_bytes(pcap_bytes(c))
    assert run(["analyze", str(path)]) == 0
    flat = " ".join(capsys.readouterr().out.split("\n\n", 1)[0].split())
    assert (
        "1 of 1 connections needed SYN+ACK retries: the server waited p50 1 s, max 1 s for the "
        "client's ACK" in flat
    )


def test_synacks_answering_resent_syns_cost_the_server_nothing(tmp_path: Path) -> None:
    """A listener answers every copy of a pending request's SYN at once (tcp_check_req): the
    client's resent SYNs, 1 s apart on its timer, cost the connect time (syn_retry); the
    SYN+ACKs that answered them are no server timer (no synack_retry, no server stall)."""
    from builders.conversation import CLIENT, Conversation, pcap_bytes

    c = Conversation()
    for t in (0.0, 1.0, 3.0):
        c.syn(t).synack(t + 0.0001)
    c.ack(CLIENT, 3.0002)
    path = tmp_path / "answers.pcap"
    path.write_bytes(pcap_bytes(c))
    delays = pcapline.analyze(path).delays[0]
    assert [tag.value for tag in delays.slow] == ["syn_retry", "slow_connect"]
    assert [(s.cause.value, s.side.value) for s in delays.stalls] == [("syn_retry", "client")]
