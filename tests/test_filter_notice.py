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


@pytest.mark.parametrize("bounded", [[], ["--memory-bounded"]], ids=["in-memory", "on-disk"])
def test_a_stream_the_other_filters_drop_draws_no_timeline(
    bounded: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """``--stream 2 --port 1``: connection 2 exists but is not on port 1, so nothing is
    selected and no timeline is drawn (it was an internal error: KeyError 2)."""
    assert run(["analyze", CAPTURE, "--stream", "2", "--port", "1", *bounded]) == 0
    got = capsys.readouterr()
    assert got.err == ""
    assert got.out.endswith("no connection matches --port 1 --stream 2\n")
    argv = ["analyze", CAPTURE, "--stream", "2", "--stream", "3", "--port", "41003", *bounded]
    assert run(argv) == 0
    both = capsys.readouterr().out
    assert run(["analyze", CAPTURE, "--stream", "2", "--port", "41003"]) == 0
    one = capsys.readouterr().out
    # connection 3 is not on 41003: 2's timeline only, the last part
    timeline = one[one.index("\nconnection 2: client") :]
    assert both.endswith(timeline) and "\nconnection 3: " not in both
