"""``pcapline crosscheck``: the Wireshark oracle (pcapline.crosscheck.oracle) as a command."""

from __future__ import annotations

import asyncio
import bz2
import gzip
import json
import lzma
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from needs import CORPUS, needs_corpus, needs_tshark

from pcapline.cli import cli, run

SAMPLES = Path(__file__).resolve().parent.parent / "sample_captures"
APP = SAMPLES / "app-tls-http.pcap"


@needs_tshark
@pytest.mark.parametrize("after_asyncio_run", [False, True])
def test_dissect_names_the_same_protocols_as_pcapline(after_asyncio_run: bool) -> None:
    pytest.importorskip("pyshark")
    if after_asyncio_run:
        # asyncio.run (an MCP session, a notebook cell) leaves the thread without a current
        # event loop; pyshark's own default then failed: "There is no current event loop".
        asyncio.run(asyncio.sleep(0))
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


def _crosscheck_json(args: list[str], stdin: bytes | None = None) -> dict[str, object]:
    out = CliRunner().invoke(cli, ["crosscheck", *args, "--format", "json"], input=stdin)
    assert out.exit_code == 0, out.output
    return json.loads(out.stdout)


@needs_tshark
@pytest.mark.parametrize(
    "compress", [bz2.compress, lzma.compress, lambda b: gzip.compress(gzip.compress(b))]
)
def test_compression_tshark_cannot_read_is_compared_like_the_plain_file(
    tmp_path: Path, compress: Callable[[bytes], bytes]
) -> None:
    """pcapline reads bzip2, xz and nested gzip; tshark reads none of them: it gets the
    decompressed bytes (was: exit 3, "internal error: TsharkUnavailable")."""
    packed = tmp_path / "capture.pcap.z"
    packed.write_bytes(compress(APP.read_bytes()))
    plain = _crosscheck_json([str(APP)])
    doc = _crosscheck_json([str(packed)])
    assert doc["frames_compared"] == plain["frames_compared"] == 104
    assert (doc["only_wireshark"], doc["only_pcapline"]) == (0, 0)
    assert doc["capture"] == str(packed) and doc["warnings"] == []


@needs_tshark
def test_stdin_is_compared_not_read_twice() -> None:
    """`crosscheck -`: pcapline read stdin, tshark then found it empty: "0 TCP frames
    compared ... nothing flagged", exit 0, a comparison that never happened."""
    doc = _crosscheck_json(["-"], stdin=APP.read_bytes())
    assert doc["frames_compared"] == 104 and doc["only_pcapline"] == 0


@needs_tshark
def test_a_cut_capture_compares_what_both_read_and_says_so(tmp_path: Path) -> None:
    """tshark exits 2 on a file cut inside a record, after printing every frame before it:
    those are compared, with warnings (was: exit 3, "internal error")."""
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(APP.read_bytes()[:5000])
    doc = _crosscheck_json([str(cut)])
    assert doc["frames_compared"] == 19 and doc["only_pcapline"] == 0
    warnings = doc["warnings"]
    assert isinstance(warnings, list) and len(warnings) == 2
    assert warnings[0].startswith("file ends inside frame 22")
    assert warnings[1].startswith("tshark stopped early") and str(cut) in warnings[1]
    text = CliRunner().invoke(cli, ["crosscheck", str(cut)]).output
    assert "warning     file ends inside frame 22" in text


def test_a_file_tshark_refuses_is_one_line_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """tshark refusing a capture pcapline reads is not a pcapline bug (was: exit 3)."""
    fake = tmp_path / "tshark"
    fake.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = -v ]; then echo "TShark (Wireshark) 4.0.17"; exit 0; fi\n'
        'echo \'Running as user "root" and group "root". This could be dangerous.\' >&2\n'
        "echo 'tshark: The file isn'\"'\"'t a capture file in a format TShark understands.' >&2\n"
        "exit 2\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert run(["crosscheck", str(APP)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"pcapline: error: tshark could not read {APP}: tshark: The file")
    assert "Running as user" not in err


@needs_tshark
def test_the_file_name_is_escaped_in_the_text(tmp_path: Path) -> None:
    """README: file names are shown escaped in text output; crosscheck printed them raw, so a
    name could retitle or clear the terminal (ESC ] ... BEL) or reverse itself (U+202E)."""
    named = tmp_path / "evil\x1b]0;pwn\x07\u202e.pcap"
    named.write_bytes(APP.read_bytes())
    text = CliRunner().invoke(cli, ["crosscheck", str(named)]).output
    assert "evil\\x1b]0;pwn\\x07\\u202e.pcap" in text.splitlines()[0]
    assert "\x1b" not in text and "\u202e" not in text
