"""analysis.py: the Analysis record, its filters and accessors, and analyze() on a capture."""

from __future__ import annotations

from pathlib import Path

import pytest
from builders.analysis import connection_row, event_row, make_analysis
from builders.captures import two_connections_pcap

from pcapline.model import CONNECTION_COLUMNS, EVENT_COLUMNS, EventKind, Finding, Side


def test_connection_by_id_and_missing_id() -> None:
    analysis = make_analysis()
    assert analysis.connection(2)["fate"] == "keepalive_timeout"
    with pytest.raises(KeyError):
        analysis.connection(42)


def test_connection_events_are_that_connections_only() -> None:
    events = make_analysis().connection_events(0)
    assert events["frame"].tolist() == [1, 2, 3, 8, 9]
    assert set(events["conn"]) == {0}


def test_select_by_host_matches_either_end_and_any_ipv6_spelling() -> None:
    analysis = make_analysis()
    assert analysis.select(host="10.0.0.2").connections["id"].tolist() == [0, 1]
    assert analysis.select(host="2001:DB8:0::1").connections["id"].tolist() == [2]
    assert analysis.select(host="192.0.2.1").connections.empty


def test_select_combines_filters_and_keeps_ids() -> None:
    analysis = make_analysis()
    assert analysis.select(host="10.0.0.1", port=81).connections["id"].tolist() == [1]
    assert analysis.select(port=22).connections["id"].tolist() == [2]
    assert analysis.select(stream=[0, 2]).connections["id"].tolist() == [0, 2]
    assert analysis.select(stream=2, port=80).connections.empty


def test_select_carries_events_and_whole_capture_facts() -> None:
    rows = [connection_row(i) for i in range(3)]
    events = [event_row(i, 1 + 10 * i, Side.CLIENT, EventKind.SYN) for i in range(3)]
    findings = [Finding("time_wait_churn", "ports reused", (0, 1))]
    picked = make_analysis(rows=rows, events=events, findings=findings).select(stream=2)
    assert picked.events["conn"].tolist() == [2]
    assert picked.findings == []
    assert picked.capture.frames == 35


def test_to_dict_is_the_json_document() -> None:
    analysis = make_analysis()
    assert analysis.to_dict()["schema"] == "pcapline/1"
    assert [c["id"] for c in analysis.to_dict()["connections"]] == [0, 1, 2]


def test_analyze_runs_every_stage(tmp_path: Path) -> None:
    from pcapline import analyze

    analysis = analyze(two_connections_pcap(tmp_path / "two.pcap"))
    assert list(analysis.connections.columns[: len(CONNECTION_COLUMNS)]) == list(CONNECTION_COLUMNS)
    assert list(analysis.events.columns[: len(EVENT_COLUMNS)]) == list(EVENT_COLUMNS)
    assert analysis.connections["fate"].tolist() == ["closed", "refused"]
    info = analysis.capture
    assert (info.path, info.format, info.link_types) == (
        str(tmp_path / "two.pcap"),
        "pcap",
        ["EN10MB"],
    )
    assert (info.frames, info.tcp_frames, info.skipped) == (12, 11, {"not_tcp": 1})
    assert info.first_time_ns == 1_700_000_000_000_000_000
    assert info.last_time_ns == 1_700_000_001_000_000_000
    # every analysed frame belongs to exactly one connection
    assert len(analysis.segments) == 11 and set(analysis.segments["conn"]) == {0, 1}


def test_connections_table_is_built_from_the_verdicts(tmp_path: Path) -> None:
    from pcapline import Fate, Side, analyze

    analysis = analyze(two_connections_pcap(tmp_path / "two.pcap"))
    assert sorted(analysis.verdicts) == [0, 1]
    for row in analysis.connections.to_dict("records"):
        v = analysis.verdicts[row["id"]]
        assert row["fate"] == v.fate.value and row["explanation"] == str(v.explanation)
        assert row["closer"] == (v.closer.value if v.closer else None)
        assert row["resets"] == v.counts.resets and row["inferred"] == v.inferred
    refused = analysis.verdicts[1]
    assert (refused.fate, refused.reset_by) == (Fate.REFUSED, Side.SERVER)
    assert refused.explanation.label == "Refused"
    assert list(analysis.select(stream=1).verdicts) == [1]


def test_analyze_filters_after_analysis(tmp_path: Path) -> None:
    from pcapline import analyze

    analysis = analyze(two_connections_pcap(tmp_path / "two.pcap"), port=81)
    assert analysis.connections["id"].tolist() == [1]
    assert analysis.connections["fate"].tolist() == ["refused"]
    assert set(analysis.events["conn"]) <= {1}


def test_to_json_and_write_json_are_dumps_of_to_dict() -> None:
    import io

    from pcapline.render.jsondoc import dumps

    analysis = make_analysis()
    for indent in (2, None):
        stream = io.StringIO()
        analysis.write_json(stream, indent=indent)
        assert (
            stream.getvalue()
            == analysis.to_json(indent=indent)
            == dumps(analysis.to_dict(), indent=indent)
        )
    assert analysis.to_json().startswith(
        '{\n  "schema": "pcapline/1",\n  "capture": {\n    "path": "synthetic.pcapng"'
    )
