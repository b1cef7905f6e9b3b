"""Scan rows carry each capture's warnings and quality (text, JSON, CSV, HTML): a capture with
frames and no connection says why, and a truncated or lossy one does not look healthy."""

from __future__ import annotations

import csv
import io
import json
import struct
from pathlib import Path

import pytest

from pcapline.cli import run

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "sample_captures"


@pytest.fixture
def captures(tmp_path: Path) -> Path:
    data = bytearray((SAMPLES / "refused-no-listener.pcap").read_bytes())
    struct.pack_into("<I", data, 20, 147)  # LINKTYPE_USER0: nothing pcapline decodes
    (tmp_path / "unsupported.pcap").write_bytes(bytes(data))
    whole = (SAMPLES / "closed-client-first.pcap").read_bytes()
    (tmp_path / "truncated.pcap").write_bytes(whole[:-10])
    (tmp_path / "clean.pcap").write_bytes(whole)
    return tmp_path


def _scan(folder: Path, fmt: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert run(["scan", str(folder), "--workers", "1", "--format", fmt]) == 0
    return capsys.readouterr().out


def test_text_rows_say_what_the_capture_cannot_show(
    captures: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    out = _scan(captures, "text", capsys)
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.startswith("│")}
    row = next(v for k, v in rows.items() if k.endswith("unsupported.pcap"))
    assert "unsupported link (4 frames)" in row
    assert "truncated; 1 warning" in next(
        v for k, v in rows.items() if k.endswith("truncated.pcap")
    )
    clean = next(v for k, v in rows.items() if k.endswith("clean.pcap"))
    assert [cell.strip() for cell in clean.split("│")][-2] == ""  # the quality cell: nothing
    assert f"{captures / 'truncated.pcap'}: warning: file ends inside frame" in out


def test_json_csv_and_html_carry_warnings_and_quality(
    captures: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = json.loads(_scan(captures, "json", capsys))
    by_name = {Path(c["path"]).name: c for c in doc["captures"]}
    assert by_name["unsupported.pcap"]["skipped"] == {"unsupported_link": 4}
    assert by_name["unsupported.pcap"]["tcp_frames"] == 0
    assert by_name["truncated.pcap"]["warnings"][0].startswith("file ends inside frame")
    assert by_name["truncated.pcap"]["skipped"]["truncated_record"] == 1
    assert by_name["clean.pcap"]["warnings"] == [] and by_name["clean.pcap"]["quality"] == {
        "segments_not_captured": 0,
        "acked_unseen": 0,
        "lossy_connections": 0,
        "first_missing_frames": [],
        "flag_filtered": False,
        "acks_filtered": False,
        "one_sided_connections": 0,
        "mid_stream_connections": 0,
        "acks_before_data": 0,
        "clocks_apart_ms": None,
        "captured_twice": 0,
        "two_point_connections": 0,
        "snaplen": 262144,
        "frames_cut_by_snaplen": 0,
        "interface_drops": None,
        "os_drops": None,
    }
    table = {
        Path(r["path"]).name: r for r in csv.DictReader(io.StringIO(_scan(captures, "csv", capsys)))
    }
    assert table["unsupported.pcap"]["quality"] == "unsupported link (4 frames)"
    assert table["truncated.pcap"]["warnings"].startswith("file ends inside frame")
    page = _scan(captures, "html", capsys)
    assert "unsupported link (4 frames)" in page and "warning: file ends inside frame" in page
