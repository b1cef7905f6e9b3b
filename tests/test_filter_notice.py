"""A filtered report says what was filtered and how many connections the capture holds, in
JSON (``filter``), HTML (a banner above "1 of 1 connection failed") and text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pcapline.cli import run

CAPTURE = str(
    Path(__file__).resolve().parents[1] / "sample_captures" / "listen-overflow-backlog2-abort0.pcap"
)


def test_json_names_the_filter(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["analyze", CAPTURE, "--format", "json", "--stream", "2", "--port", "8080"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [c["id"] for c in doc["connections"]] == [2]
    assert list(doc)[-1] == "filter"
    assert doc["filter"] == {
        "host": None,
        "port": 8080,
        "streams": [2],
        "connections_in_capture": 5,
    }
    assert run(["analyze", CAPTURE, "--format", "json"]) == 0
    assert "filter" not in json.loads(capsys.readouterr().out)


def test_html_banner_says_the_report_is_filtered(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.html"
    assert run(["report", CAPTURE, "--stream", "2", "-o", str(out)]) == 0
    page = out.read_text()
    assert "1 of 1 connection failed" in " ".join(page.split())
    assert "<b>Filtered:</b> 1 of the capture's 5 connections match <code>--stream 2</code>" in page
    assert run(["report", CAPTURE, "-o", str(out)]) == 0
    assert "Filtered:" not in out.read_text()


def test_text_says_showing_n_of_m(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["analyze", CAPTURE, "--stream", "2"]) == 0
    out = capsys.readouterr().out
    assert "showing 1 of 5 connections (filter: --stream 2): 1 listen_overflow" in out
