"""The ``scan --format html`` page shows file names (and anything quoting them) escaped as the
text table does: no raw control or bidi character reaches the page (README "Output you
cannot be tricked by")."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from markupsafe import escape

from pcapline.cli import run
from pcapline.fmt import printable
from pcapline.scan import render, scan
from pcapline.scan.run import CaptureSummary

ROOT = Path(__file__).resolve().parents[1]
GOOD = ROOT / "sample_captures" / "closed-client-first.pcap"

#: C0/C1 controls and the bidi controls ``fmt.printable`` escapes; tab and newline are the
#: page's own layout, never from a name (a name's own would be ``\x09``, ``\x0a``).
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")

ESC_NAME = "a\x1b[2Jb.pcap"
RLO_NAME = "inv\u202egpj.pcap"
BROKEN_NAME = "x\x1b]0;owned\x07<b>.pcap"


def test_scan_page_escapes_control_and_bidi_in_names(tmp_path: Path) -> None:
    folder = tmp_path / "caps"
    folder.mkdir()
    shutil.copy(GOOD, folder / ESC_NAME)
    shutil.copy(GOOD, folder / RLO_NAME)
    (folder / BROKEN_NAME).write_bytes(b"this is not a capture at all\n" * 4)
    captures = scan([str(folder)], workers=1)
    page = render(captures, "html")
    assert not RAW.findall(page)
    esc = f"{folder}/a\\x1b[2Jb.pcap"
    rlo = f"{folder}/inv\\u202egpj.pcap"
    broken = f"{folder}/x\\x1b]0;owned\\x07<b>.pcap"
    # the same escaped form as the text table
    table = render(captures, "text", width=400)
    assert esc in table and rlo in table and broken in table
    # the table's link, the section's heading, the "pcapline report" line
    for name in (esc, rlo):
        assert page.count(f">{name}</a>") == 1
        assert page.count(f"<h2>{name}</h2>") == 1
        assert page.count(f"<code>pcapline report {name} -o report.html</code>") == 1
    # the unreadable one: its name and the error quoting it, escaped, HTML escaping kept
    broken_html = escape(broken)
    assert page.count(f"<h2>{broken_html}</h2>") == 1
    assert "<b>" not in page
    error = next(c.error for c in captures if c.error)
    assert error is not None
    assert error.startswith(str(folder / BROKEN_NAME))
    assert f"Not analysed: {escape(printable(error))}</p>" in page
    assert broken_html in escape(printable(error))


def test_scan_page_escapes_warnings_findings_and_errors() -> None:
    """Every other capture-derived string on the page: warnings, finding text, errors."""
    finding = {
        "kind": "nat_timestamp",
        "summary": "server \u202e10.0.0.1",
        "explanation": "see \x1b[31mred",
        "connections": [1, 2],
    }
    captures = [
        CaptureSummary(
            path="w\u2066.pcap",
            frames=3,
            connections=1,
            fates={"closed": 1},
            findings=[finding],
            warnings=["w\u2066.pcap: cut \x9b inside <its> last record"],
        ),
        CaptureSummary(path="e\x7f.pcap", error="e\x7f.pcap: not a \u200fcapture & more"),
    ]
    page = render(captures, "html")
    assert not RAW.findall(page)
    assert "<h2>w\\u2066.pcap</h2>" in page
    assert "warning: w\\u2066.pcap: cut \\x9b inside &lt;its&gt; last record</p>" in page
    assert "<strong>nat_timestamp</strong>: server \\u202e10.0.0.1" in page
    assert "<p>see \\x1b[31mred</p>" in page
    assert "connections (Wireshark tcp.stream): 1, 2" in page
    assert "error: e\\x7f.pcap: not a \\u200fcapture &amp; more</td>" in page
    assert "Not analysed: e\\x7f.pcap: not a \\u200fcapture &amp; more</p>" in page


def test_scan_cli_html_file_holds_no_raw_control(tmp_path: Path) -> None:
    folder = tmp_path / "caps"
    folder.mkdir()
    shutil.copy(GOOD, folder / ESC_NAME)
    shutil.copy(GOOD, folder / RLO_NAME)
    out = tmp_path / "scan.html"
    assert run(["scan", str(folder), "--format", "html", "-o", str(out), "-q", "-j", "1"]) == 0
    page = out.read_text(encoding="utf-8")
    assert "\x1b" not in page and "\u202e" not in page
    assert f"<h2>{folder}/a\\x1b[2Jb.pcap</h2>" in page
    assert f"<h2>{folder}/inv\\u202egpj.pcap</h2>" in page
