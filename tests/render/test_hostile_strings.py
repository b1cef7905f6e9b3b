"""Output people cannot be tricked by: strings from outside pcapline (file names, a capture's
own comments and interface names) never act on a terminal, a browser or a spreadsheet."""

from __future__ import annotations

import csv
import io
import json
import struct
from pathlib import Path

import pytest
from builders.analysis import connection_row, make_analysis

from pcapline import analyze
from pcapline.cli import run
from pcapline.fmt import csv_text, printable
from pcapline.render.tables import to_csv
from pcapline.scan.render import text as scan_text
from pcapline.scan.render import to_csv as scan_csv
from pcapline.scan.render import to_html as scan_html
from pcapline.scan.run import CaptureSummary, summarize_capture

REPO = Path(__file__).resolve().parents[2]
#: An OSC 8 hyperlink (ESC ] ... BEL: a terminal swallows what is between), a screen clear,
#: and a right-to-left override that shows "report\u202egpj.exe" as "reportexe.jpg".
HOSTILE = "report\u202egpj.exe\x1b]8;;http://x/\x07\x1b[2J<script>alert(1)</script>"
ESCAPED = "report\\u202egpj.exe\\x1b]8;;http://x/\\x07\\x1b[2J<script>alert(1)</script>"


def test_printable_escapes_controls_and_bidi_only() -> None:
    assert printable(HOSTILE) == ESCAPED
    assert printable("café ünïcode → ok\\path") == "café ünïcode → ok\\path"
    assert printable("a\nb\rc\x9bd\x7f") == "a\\x0ab\\x0dc\\x9bd\\x7f"


def _options(code: int, text: bytes) -> bytes:
    padded = text + b"\0" * (-len(text) % 4)
    return struct.pack("<HH", code, len(text)) + padded


def _block(btype: int, body: bytes) -> bytes:
    length = 12 + len(body)
    return struct.pack("<II", btype, length) + body + struct.pack("<I", length)


def hostile_pcapng(path: Path) -> None:
    """refused-no-listener.pcap's frames in a pcapng whose section comment, interface name
    and interface description are hostile strings."""
    data = (REPO / "sample_captures" / "refused-no-listener.pcap").read_bytes()
    link = struct.unpack_from("<I", data, 20)[0]
    word = HOSTILE.encode()
    shb = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + _options(1, word) + _options(0, b"")
    idb = (
        struct.pack("<HHI", link, 0, 65535)
        + _options(2, word)  # if_name
        + _options(3, word)  # if_description
        + _options(0, b"")
    )
    blocks = [_block(0x0A0D0D0A, shb), _block(1, idb)]
    off = 24
    while off + 16 <= len(data):
        sec, usec, incl, orig = struct.unpack_from("<IIII", data, off)
        frame = data[off + 16 : off + 16 + incl]
        ticks = sec * 1_000_000 + usec
        epb = struct.pack("<IIIII", 0, ticks >> 32, ticks & 0xFFFFFFFF, incl, orig)
        epb += frame + b"\0" * (-incl % 4) + _options(1, word) + _options(0, b"")
        blocks.append(_block(6, epb))
        off += 16 + incl
    path.write_bytes(b"".join(blocks))


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    path = tmp_path / (HOSTILE.replace("/", "_") + ".pcapng")
    hostile_pcapng(path)
    return path


def test_hostile_name_and_pcapng_strings_in_text(
    hostile: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # the long temporary path on one line
    assert run(["analyze", str(hostile)]) == 0
    out = capsys.readouterr().out
    assert "refused" in out  # the frames were read
    assert "\x1b" not in out and "\u202e" not in out and "\x07" not in out
    assert printable(str(hostile)) in out


def test_hostile_name_in_html_is_escaped(hostile: Path) -> None:
    html = analyze(hostile).to_html()
    assert "<script>alert(1)</script>" not in html
    # the name is shown, escaped ("/" cannot be in a file name: the fixture wrote "_")
    assert "&lt;script&gt;alert(1)&lt;_script&gt;" in html
    # the name is shown escaped: a bidi override would reorder it in the browser too
    assert "\x1b" not in html and "\u202e" not in html
    assert "report\\u202egpj.exe" in html


def test_hostile_text_in_a_warning_is_shown_escaped_in_html() -> None:
    """A warning quotes what it is about (a path, a decompressor's message): in the report's
    warnings list too, as the text output shows it."""
    analysis = analyze(REPO / "sample_captures" / "refused-no-listener.pcap")
    analysis.capture.warnings.append(f"about {HOSTILE}")
    html = analysis.to_html()
    assert "\x1b" not in html and "\u202e" not in html and "\x07" not in html
    assert "<li>about report\\u202egpj.exe\\x1b]8;;http://x/\\x07\\x1b[2J&lt;script&gt;" in html


def test_hostile_name_in_json_is_a_plain_string(hostile: Path) -> None:
    text = analyze(hostile).to_json()
    assert "\x1b" not in text  # JSON escapes every control character
    assert json.loads(text)["capture"]["path"] == str(hostile)


def test_error_line_for_a_hostile_missing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "gone\x1b]0;owned\x07.pcap"
    assert run(["analyze", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("pcapline: error: ")
    assert "\x1b" not in err and "gone\\x1b]0;owned\\x07.pcap" in err


def test_scan_text_csv_and_html_escape_hostile_paths(hostile: Path) -> None:
    summary = summarize_capture(str(hostile))
    bad = CaptureSummary(path='=HYPERLINK("http://x")\x1b]0;t\x07.pcap', error="bad\x1b[2J")
    rows = [summary, bad]
    text = scan_text(rows, width=200, color=True)
    assert "\x1b]" not in text and "\u202e" not in text and "\x07" not in text
    assert "\\x1b]0;t\\x07" in text
    table = list(csv.reader(io.StringIO(scan_csv(rows))))
    assert table[2][0].startswith("'=HYPERLINK")
    html = scan_html(rows)
    assert "<script>alert(1)</script>" not in html


def test_csv_neutralises_formulas_in_text_cells_only() -> None:
    assert [csv_text(v) for v in ("=1+2", "+1", "-cmd", "@SUM(A1)", "\tx", "\rx")] == [
        "'=1+2",
        "'+1",
        "'-cmd",
        "'@SUM(A1)",
        "'\tx",
        "'\rx",
    ]
    assert [csv_text(v) for v in ("closed", "", -1, -0.5, 3)] == ["closed", "", -1, -0.5, 3]
    rows = [connection_row(0, explanation='=HYPERLINK("http://evil","click")')]
    table = list(csv.DictReader(io.StringIO(to_csv(make_analysis(rows=rows, events=[])))))
    assert table[0]["explanation"].startswith("'=HYPERLINK")
    assert table[0]["start"] == "1700000000.0" and table[0]["id"] == "0"  # numbers untouched
