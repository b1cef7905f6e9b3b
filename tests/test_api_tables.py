"""The Python API's tables carry the JSON/CSV names and units (Analysis.connection_table,
Analysis.event_table) and an Analysis shows a compact, escaped summary in Jupyter."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from pcapline import analyze
from pcapline.model import CaptureInfo
from pcapline.render.tables import EVENT_TABLE_COLUMNS, TABLE_COLUMNS

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample_captures" / "listen-overflow-backlog2-abort0.pcap"


@pytest.fixture(scope="module")
def analysis():  # type: ignore[no-untyped-def]
    return analyze(SAMPLE)


def test_connection_table_matches_the_json(analysis) -> None:  # type: ignore[no-untyped-def]
    table = analysis.connection_table()
    assert tuple(table.columns) == TABLE_COLUMNS
    doc = json.loads(analysis.to_json())
    assert table["id"].tolist() == [c["id"] for c in doc["connections"]]
    for row, conn in zip(table.to_dict("records"), doc["connections"], strict=True):
        assert row["start"] == conn["start"] and row["end"] == conn["end"]
        assert row["duration"] == pytest.approx(conn["duration"])
        assert row["client_ip"] == conn["client"]["ip"]
        assert row["server_port"] == conn["server"]["port"]
        assert row["inferred"] == conn["inferred"]  # a dict, not the CSV's JSON text
        assert row["caveats"] == conn["caveats"] and row["slow"] == conn["slow"]
        assert row["retransmits"] == conn["counts"]["retransmits"]
    assert "start_ns" in analysis.connections.columns  # the pipeline's table is unchanged


def test_event_table_matches_the_json(analysis) -> None:  # type: ignore[no-untyped-def]
    events = analysis.event_table()
    assert tuple(events.columns) == EVENT_TABLE_COLUMNS
    doc = json.loads(analysis.to_json())
    expected = [{"id": c["id"], **e} for c in doc["connections"] for e in c["events"]]
    got = events.drop(columns=["value"]).to_dict("records")
    assert got == expected
    assert len(events) == len(analysis.events) > 10


def test_repr_html_is_compact_and_escaped(analysis) -> None:  # type: ignore[no-untyped-def]
    page = analysis._repr_html_()
    assert "5 connections: 1 connect_timeout, 1 listen_overflow, 3 open" in page
    assert page.count("<tr>") == 1 + 2  # header + the two failing connections
    hostile = replace(
        analysis,
        capture=CaptureInfo(path="<img src=x onerror=alert(1)>\u202e.pcap", format="pcap"),
    )
    shown = hostile._repr_html_()
    assert "<img" not in shown and "\u202e" not in shown
    assert "&lt;img src=x onerror=alert(1)&gt;\\u202e.pcap" in shown
    filtered = analysis.select(stream=[2])._repr_html_()
    assert "<b>Filtered</b> (--stream 2): 1 of 5 connections" in filtered
