"""The HTML report in a real browser: headless Chromium (Debian's package) via playwright.

Skips cleanly when playwright or /usr/bin/chromium is missing. Never downloads a browser
(no ``playwright install``): CI installs Debian's ``chromium``.

Checks: the page loads from file:// with no console error and no request to the network;
every chart is drawn and holds data; the connection table sorts, filters, and a row click
reaches the connection's section; the table's Wireshark filter (built in JS) is the one the
Python side builds; a screenshot is written to a temporary directory (path printed).
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[2]))

from builders import html_scenarios as hs

from pcapline.render import html as report
from pcapline.render.figures import capture_timeline
from tools.make_reports import BROWSER_ARGS as ARGS

CHROMIUM = os.environ.get("PCAPLINE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
SAMPLE = Path(__file__).parents[2] / "sample_captures" / "listen-overflow-backlog2-abort0.pcap"
#: One xdist group: one browser and one set of module pages, in one worker.
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("browser")]

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
if not Path(CHROMIUM).exists():
    pytest.skip("chromium is not installed", allow_module_level=True)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory) -> Path:
    """Reports and screenshots: $PCAPLINE_ARTIFACTS when set (CI keeps them), else a tmp dir."""
    wanted = os.environ.get("PCAPLINE_ARTIFACTS")
    if wanted:
        path = Path(wanted)
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp("report-browser")


class Loaded:
    """A report opened in a fresh page, with everything it requested and complained about."""

    def __init__(self, browser, path: Path) -> None:
        self.page = browser.new_page(viewport={"width": 1400, "height": 1000})
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        start = time.perf_counter()
        self.page.goto(path.as_uri())
        self.page.wait_for_function(
            "document.getElementById('plot-timeline')?.dataset.state === 'drawn'", timeout=60_000
        )
        self.load_seconds = time.perf_counter() - start

    def draw_all(self) -> None:
        self.page.evaluate("window.pcaplineDrawAll()")
        self.page.wait_for_function(
            "[...document.querySelectorAll('.plot[data-fig]')].every(d => d.dataset.state === 'drawn' || d.dataset.state === 'error')",
            timeout=60_000,
        )

    def network_requests(self) -> list[str]:
        return [u for u in self.requests if not u.startswith(("file:", "data:", "blob:", "about:"))]


@pytest.fixture(scope="module")
def scenario_page(browser, artefacts):
    path = artefacts / "scenario.html"
    report.write_report(hs.scenario(), path)
    loaded = Loaded(browser, path)
    yield loaded
    loaded.page.close()


def test_loads_offline_without_errors_and_draws_every_chart(
    scenario_page: Loaded, artefacts: Path
) -> None:
    scenario_page.draw_all()
    assert scenario_page.errors == []
    assert scenario_page.network_requests() == []
    assert any(u.startswith("file:") for u in scenario_page.requests)
    states = scenario_page.page.evaluate(
        "[...document.querySelectorAll('.plot[data-fig]')].map(d => [d.dataset.fig, d.dataset.state, "
        "(d.calcdata || []).reduce((n, trace) => n + trace.length, 0)])"
    )
    assert len(states) >= 1 + 8  # the timeline + time-sequence and backoff charts
    for fig, state, points in states:
        assert state == "drawn", fig
        assert points > 0, fig
    shot = artefacts / "scenario.png"
    scenario_page.page.screenshot(path=str(shot), full_page=True)
    print(f"\nscreenshot: {shot} (page loaded in {scenario_page.load_seconds:.2f} s)")
    assert shot.stat().st_size > 10_000


def test_timeline_holds_every_connection(scenario_page: Loaded) -> None:
    # _fullData holds the decoded arrays (data keeps the base64 typed-array specs as sent).
    ids = scenario_page.page.evaluate(
        "document.getElementById('plot-timeline')._fullData.filter(t => t.hovertext && t.mode === 'markers')"
        ".flatMap(t => Array.from(t.customdata))"
    )
    assert sorted(ids) == list(range(11))


def test_row_click_reaches_its_section(scenario_page: Loaded) -> None:
    page = scenario_page.page
    page.locator("#conn-table tbody tr[data-conn='3'] td.addr").first.click()
    page.wait_for_function("location.hash === '#conn-3'")
    page.locator("#conn-3").wait_for(state="visible")
    # The page scrolls smoothly: wait until the section's top has arrived near the top.
    page.wait_for_function(
        "Math.abs(document.getElementById('conn-3').getBoundingClientRect().top) < 120",
        timeout=10_000,
    )
    assert page.evaluate("document.querySelector(':target')?.id") == "conn-3"


def test_timeline_click_opens_the_connection(scenario_page: Loaded) -> None:
    page = scenario_page.page
    page.evaluate("location.hash = ''")
    # What plotly emits for a click on bar #5's start marker (SVG: customdata is the id).
    page.evaluate(
        "document.getElementById('plot-timeline').emit('plotly_click', {points: [{customdata: 5}]})"
    )
    page.wait_for_function("location.hash === '#conn-5'")
    # WebGL bars carry [id, duration] as customdata.
    page.evaluate(
        "document.getElementById('plot-timeline').emit('plotly_click', {points: [{customdata: [7, 0.05]}]})"
    )
    page.wait_for_function("location.hash === '#conn-7'")


def test_copy_button_copies_the_filter(scenario_page: Loaded) -> None:
    page = scenario_page.page
    button = page.locator("#conn-3 button.copy").first
    assert button.get_attribute("data-copy") == "tcp.stream eq 3"
    button.click()
    page.wait_for_function(
        "document.querySelector('#conn-3 button.copy').classList.contains('done')"
    )


def test_table_filters_and_sorts(scenario_page: Loaded) -> None:
    page = scenario_page.page
    page.fill("#table-filter", "connect_timeout")
    assert page.inner_text("#table-count").startswith("1 of 11")
    page.fill("#table-filter", "2001:db8::")
    assert page.inner_text("#table-count").startswith("2 of 11")
    page.fill("#table-filter", "")
    page.select_option("#table-fate", "closed")
    assert page.inner_text("#table-count").startswith("5 of 11")
    page.select_option("#table-fate", "")
    page.click("#conn-table th[data-key='duration']")
    page.click("#conn-table th[data-key='duration']")  # second click: longest first
    first = page.locator("#conn-table tbody tr").first.get_attribute("data-conn")
    assert first == "1"  # the connect timeout: 31 s of SYN retries


def test_js_wireshark_filter_matches_python(scenario_page: Loaded) -> None:
    a = hs.scenario()
    for row in a.connections.itertuples():
        expected = report.wireshark_filter(
            row.client_ip, row.client_port, row.server_ip, row.server_port
        )
        assert scenario_page.page.evaluate(f"window.pcaplineWiresharkFilter({row.id})") == expected


def test_hostile_report_runs_no_injected_script(browser, artefacts: Path) -> None:
    path = artefacts / "hostile.html"
    report.write_report(hs.hostile(hs.scenario()), path)
    loaded = Loaded(browser, path)
    try:
        dialogs: list[str] = []
        loaded.page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        loaded.draw_all()
        loaded.page.mouse.move(300, 300)
        assert dialogs == [] and loaded.errors == []
        injected = loaded.page.evaluate(
            "document.querySelectorAll('img, iframe, object, embed, [onerror], [onload], [onmouseover]').length"
        )
        assert injected == 0
        scripts = loaded.page.evaluate("[...document.scripts].map(s => s.id || s.type || 'main')")
        assert scripts.count("main") == 1  # the report's own script, and no other without an id
        assert all(
            s in ("main", "conn-data", "plotly-config", "plotly-template", "plotly-gzip")
            or s.startswith("fig-")
            for s in scripts
        )
        assert loaded.page.evaluate("typeof window.alert") == "function"
        text = loaded.page.inner_text("#capture")
        assert "</script><script>alert(1)</script>" in text  # shown as text, not run
    finally:
        loaded.page.close()


def test_large_report_uses_webgl_and_stays_responsive(browser, artefacts: Path) -> None:
    n = capture_timeline.WEBGL_ABOVE * 2
    a = hs.large(n)
    start = time.perf_counter()
    path = report.write_report(a, artefacts / "large.html")
    build = time.perf_counter() - start
    loaded = Loaded(browser, path)
    try:
        types = loaded.page.evaluate(
            "document.getElementById('plot-timeline').data.map(t => t.type)"
        )
        assert set(types) == {"scattergl"}
        assert loaded.errors == [] and loaded.network_requests() == []
        assert "Drawn with WebGL" in loaded.page.inner_text("#timeline")
        # A bar without a detail section opens its row in the table instead.
        closed = int(a.connections.loc[a.connections["fate"] == "closed", "id"].iloc[0])
        assert loaded.page.locator(f"#conn-{closed}").count() == 0
        loaded.page.wait_for_function(
            "document.getElementById('conn-table').dataset.state === 'ready'"
        )
        loaded.page.evaluate(
            "document.getElementById('plot-timeline').emit('plotly_click', "
            f"{{points: [{{customdata: [{closed}, 0.05]}}]}})"
        )
        rows = loaded.page.locator("#conn-table tbody tr")
        assert rows.count() == 1 and rows.first.get_attribute("data-conn") == str(closed)
        assert loaded.page.inner_text("#table-count").startswith(f"1 of {n:,}")
        print(
            f"\n{n} connections: built in {build:.2f} s, {path.stat().st_size / 1e6:.2f} MB, "
            f"loaded in {loaded.load_seconds:.2f} s"
        )
        assert loaded.load_seconds < 30
    finally:
        loaded.page.close()


@pytest.mark.skipif(not SAMPLE.exists(), reason="sample capture not present")
def test_real_capture_report(browser, artefacts: Path) -> None:
    import pcapline

    a = pcapline.analyze(SAMPLE)
    path = report.write_report(a, artefacts / "sample.html")
    loaded = Loaded(browser, path)
    try:
        loaded.draw_all()
        assert loaded.errors == [] and loaded.network_requests() == []
        drawn = loaded.page.evaluate(
            "[...document.querySelectorAll('.plot[data-fig]')].map(d => d.dataset.state)"
        )
        assert drawn and set(drawn) == {"drawn"}
        rows = loaded.page.locator("#conn-table tbody tr").count()
        assert rows == len(a.connections)
    finally:
        loaded.page.close()
