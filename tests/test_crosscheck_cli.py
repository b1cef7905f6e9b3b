"""``pcapline crosscheck``: the Wireshark oracle (pcapline.crosscheck.oracle) as a command."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from needs import CORPUS, needs_corpus, needs_tshark

from pcapline.cli import cli, run

SAMPLES = Path(__file__).resolve().parent.parent / "sample_captures"
APP = SAMPLES / "app-tls-http.pcap"


@needs_tshark
def test_dissect_names_the_same_protocols_as_pcapline() -> None:
    pytest.importorskip("pyshark")
    out = CliRunner().invoke(cli, ["crosscheck", str(APP), "--dissect", "--format", "json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    assert doc["schema"] == "pcapline-crosscheck/1"
    assert doc["unexplained"] == 0 and doc["stream_mismatches"] == []
    named = {d["conn"]: (d["wireshark"], d["pcapline"]) for d in doc["dissected"]}
    assert named == {
        0: ("tls", "tls"),
        1: ("tls", "tls"),
        2: ("tls", "tls"),
        3: ("http", "http"),
        4: ("http", "http"),
    }


@needs_tshark
def test_each_disagreement_is_listed_by_frame_with_its_reason() -> None:
    capture = SAMPLES / "zero-window-recovers.pcap"
    out = CliRunner().invoke(cli, ["crosscheck", str(capture), "--format", "json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    assert doc["frames_compared"] > 0
    assert doc["differences"], "the premise: this capture has explained differences"
    for row in doc["differences"]:
        assert row["reason"] is not None and row["why"], row
    assert sum(doc["explained"].values()) == len(doc["differences"])
    text = CliRunner().invoke(cli, ["crosscheck", str(capture), "--limit", "1"]).output
    first = doc["differences"][0]
    assert f"frame {first['frame']:>7}" in text and first["reason"] in text


def test_without_tshark_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("pcapline.crosscheck.shutil.which", lambda _name: None)
    assert run(["crosscheck", str(APP)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pcapline: error: ") and err.count("\n") == 1 and "tshark" in err


@needs_tshark
def test_dissect_without_pyshark_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "pyshark", None)  # import pyshark -> ImportError
    assert run(["crosscheck", str(APP), "--dissect"]) == 2
    err = capsys.readouterr().err
    assert "pip install 'pcapline[wireshark]'" in err and err.count("\n") == 1


@needs_tshark
@needs_corpus
def test_socks_phantom_streams_are_named_not_called_equal() -> None:
    """arkime/socks-http-example.pcap: three SOCKS connections to port 1080 are tcp.stream 0,
    2 and 4 (Wireshark's SOCKS dissector takes 1 and 3 for the proxied conversations); ours are
    0, 1, 2. The text must not say the ids equal tcp.stream."""
    capture = CORPUS / "arkime" / "socks-http-example.pcap"
    doc = json.loads(
        CliRunner().invoke(cli, ["crosscheck", str(capture), "--format", "json"]).output
    )
    assert (doc["phantom_streams"], doc["stream_mismatches"]) == ([1, 3], [])
    text = CliRunner().invoke(cli, ["crosscheck", str(capture)]).output
    assert "Wireshark numbers 1, 3 carry no frame" in text
    assert "every connection id equals Wireshark's tcp.stream\n" not in text


@needs_tshark
def test_a_capture_cut_short_is_compared_on_its_whole_frames(tmp_path) -> None:
    # A capture copied while tcpdump was still writing it ends inside a frame: tshark prints
    # every whole frame, then exits 2 ("cut short in the middle of a packet"). Before:
    # "internal error: TsharkUnavailable: tshark failed on ... (this is a bug, please report
    # it)", exit 3. pcapline skips the cut frame too, so the whole frames compare.
    capture = tmp_path / "still-writing.pcap"
    whole = (SAMPLES / "zero-window-recovers.pcap").read_bytes()
    capture.write_bytes(whole[:-5])
    out = CliRunner().invoke(cli, ["crosscheck", str(capture), "--format", "json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    full = json.loads(
        CliRunner()
        .invoke(cli, ["crosscheck", str(SAMPLES / "zero-window-recovers.pcap"), "--format", "json"])
        .output
    )
    assert doc["frames_compared"] == full["frames_compared"] - 1
    assert doc["stream_mismatches"] == []


@needs_tshark
def test_a_capture_tshark_cannot_read_is_one_error_line(tmp_path, capsys) -> None:
    # tshark reads no bzip2 (pcapline does): before, exit 3 "internal error:
    # TsharkUnavailable ... (this is a bug, please report it)" with tshark's stderr in it.
    import bz2

    capture = tmp_path / "capture.pcap.bz2"
    capture.write_bytes(bz2.compress(APP.read_bytes()))
    assert run(["crosscheck", str(capture)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"pcapline: error: {capture}: tshark cannot read this capture (tshark: The file "
        f'"{capture}" isn\'t a capture file in a format TShark understands.); crosscheck '
        "compares with what tshark reads: decompress bzip2 or xz first, or rewrite a damaged "
        "file with 'editcap IN OUT'\n"
    )
