"""The HTML connection table says times as the text report's table does (fmt.duration), in
headless Chromium. Skips as test_report_browser.py does without playwright or chromium."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[2]))

from builders import html_scenarios as hs

from pcapline.fmt import duration
from pcapline.render import html as report
from tools.make_reports import BROWSER_ARGS as ARGS

CHROMIUM = os.environ.get("PCAPLINE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [pytest.mark.browser, pytest.mark.slow]

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
if not Path(CHROMIUM).exists():
    pytest.skip("chromium is not installed", allow_module_level=True)

#: No value exactly halfway at the printed precision (JS toFixed rounds such halves up,
#: Python's format to even: the two differ there only).
VALUES = [0.0, 0.000029, 0.0004996, 0.0011, 0.0551, 0.999, 1.0, 12.12, 59.994, 61.2, 3725.4]


def test_the_table_says_times_as_the_text_report(tmp_path: Path) -> None:
    path = report.write_report(hs.scenario(), tmp_path / "times.html")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page()
            page.goto(path.as_uri())
            page.wait_for_function("document.querySelectorAll('#conn-table tbody tr').length > 0")
            said = page.evaluate(f"{VALUES}.map(window.pcaplineDuration)")
            assert said == [duration(v) for v in VALUES]
            cells = page.evaluate(
                "[...document.querySelectorAll('#conn-table tbody tr')].map("
                "tr => [tr.children[4].textContent, tr.children[5].textContent])"
            )
            assert cells and all(s.startswith("+") for s, _ in cells)
            assert not any(d.endswith(".000") for _, d in cells)  # no more raw seconds
        finally:
            browser.close()
