"""The HTML report (pcapline/render/html.py, palette.py, figures/, templates/).

Built from ``html_scenarios``: connections written packet by packet the way Linux sends them
(SYN backoff 1/2/4/8/16 s, RTO doubling from 200 ms, keepalive and persist probes), so the
numbers asserted here (gaps, frames, counts) follow from that traffic, not from the renderer.
"""

from __future__ import annotations

import base64
import gzip
import json
import random
import re
import threading
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from builders import html_scenarios as hs

from pcapline.model import Finding
from pcapline.render import html as report
from pcapline.render import palette
from pcapline.render.figures import capture_timeline
from pcapline.timeline import connection_timeline


class Page(HTMLParser):
    """Every element with its attributes, and the text of every <script>."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._script: dict[str, str | None] | None = None
        self._buf: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        if tag == "script":
            self._script, self._buf = dict(attrs), []

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._buf.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._script is not None:
            self.scripts.append((self._script, "".join(self._buf)))
            self._script = None

    def tags(self, name: str) -> list[dict[str, str | None]]:
        return [attrs for tag, attrs in self.elements if tag == name]

    def script_text(self, element_id: str) -> str:
        """A data script's JSON text, unpacked when the page gzip-packed it."""
        for attrs, text in self.scripts:
            if attrs.get("id") == element_id:
                if attrs.get("data-encoding") == "gzip":
                    return gzip.decompress(base64.b64decode(text)).decode("utf-8")
                return text
        raise KeyError(element_id)

    def json_script(self, element_id: str) -> object:
        return json.loads(self.script_text(element_id))


@pytest.fixture(scope="module")
def analysis():
    return hs.scenario()


@pytest.fixture(scope="module")
def page_text(analysis) -> str:
    return report.render_html(analysis)


@pytest.fixture(scope="module")
def page(page_text) -> Page:
    return Page(page_text)


def _by_id(page: Page, element_id: str) -> dict[str, str | None]:
    return next(attrs for _, attrs in page.elements if attrs.get("id") == element_id)


def _text_of(page_text: str, element_id: str) -> str:
    """Visible text of one element (tags stripped), for wording checks."""
    m = re.search(rf'id="{element_id}"[^>]*>(.*?)</(header|section|article)>', page_text, re.S)
    assert m, element_id
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", m.group(1)))


# ------------------------------------------------------------------ self-contained


def test_plotly_embedded_once_and_nothing_is_fetched(page: Page, page_text: str) -> None:
    from plotly.offline import get_plotlyjs

    packed = [text for attrs, text in page.scripts if attrs.get("id") == "plotly-gzip"]
    assert len(packed) == 1
    assert gzip.decompress(base64.b64decode(packed[0])).decode() == get_plotlyjs()
    # Nothing that a browser would load: no src/href to a network address, no stylesheet link.
    for tag, attrs in page.elements:
        for name in ("src", "href", "action", "data", "poster"):
            value = (attrs.get(name) or "").strip().lower()
            assert not re.match(r"^(https?:|wss?:|//)", value), (tag, name, value)
    assert page.tags("link") == [] and page.tags("iframe") == [] and page.tags("img") == []
    assert "@import" not in page_text and "url(" not in page_text.split('id="plotly-gzip"')[0]
    config = page.json_script("plotly-config")
    assert config["typesetMath"] is False and config["topojsonURL"] == ""


def test_inline_bundle_option(analysis) -> None:
    """For browsers without DecompressionStream: nothing packed, plotly.js as a plain script."""
    text = report.render_html(analysis, plotly_js="inline", max_sections=1)
    p = Page(text)
    assert not any(a.get("id") == "plotly-gzip" for a, _ in p.scripts)
    assert not any(a.get("data-encoding") for a, _ in p.scripts)
    bundles = [t for a, t in p.scripts if "Plotly" in t and len(t) > 1_000_000]
    assert len(bundles) == 1


# ------------------------------------------------------------------ verdict and facts


def test_verdict_counts_failures_first_with_explanations_and_links(
    page: Page, page_text: str
) -> None:
    verdict = _text_of(page_text, "verdict")
    assert "5 of 11 connections failed." in verdict
    assert "1 cross-connection finding." in verdict
    # Problems are the failing fates in report order, never the orderly ones.
    problems = re.findall(
        r'<li class="problem" style="--c: [^"]+">\s*<h2><span class="fate"[^>]*>(\w+)</span>',
        page_text,
    )
    assert problems == [
        "connect_timeout",
        "refused",
        "retransmit_timeout",
        "persist_timeout",
        "keepalive_timeout",
    ]
    assert "net.ipv4.tcp_syn_retries=5" in verdict  # the connection's explanation is shown
    assert 'href="#conn-1"' in page_text.split('id="verdict"')[1].split("</header>")[0]
    assert _by_id(page, "conn-1")  # ...and the link target exists


def test_verdict_without_failures() -> None:
    healthy = hs.build([hs._closed(0, 40000, hs.T0), hs._closed(1, 40001, hs.T0 + hs.S)])
    text = report.render_html(healthy)
    assert '<header class="verdict good" id="verdict">' in text
    assert "None of the 2 connections failed." in _text_of(text, "verdict")
    assert 'class="problem"' not in text


def test_verdict_never_counts_an_ending_the_capture_cannot_tell_as_not_failed() -> None:
    # A capture filtered to payload: an open connection's FIN or RST may have been dropped by
    # the filter (confidence unknown), so "none failed" is more than the capture shows.
    def unsure(cid: int, t: int) -> hs.Conn:
        c = hs._midstream_open(cid, t)
        c.confidence = "unknown"
        return c

    both = report.render_html(hs.build([unsure(0, hs.T0), unsure(1, hs.T0 + hs.S)]))
    verdict = _text_of(both, "verdict")
    assert "None of the 2 connections failed." not in verdict
    assert (
        "No connection is shown to have failed, but the capture cannot tell how any of the 2 "
        "ended." in verdict
    )
    one = report.render_html(hs.build([hs._closed(0, 40000, hs.T0), unsure(1, hs.T0 + hs.S)]))
    assert "cannot tell how 1 of the 2 ended." in _text_of(one, "verdict")
    failed = report.render_html(
        hs.build([hs._refused(0, hs.T0), unsure(1, hs.T0 + hs.S), unsure(2, hs.T0 + 2 * hs.S)])
    )
    verdict = _text_of(failed, "verdict")
    assert "1 of 3 connections failed." in verdict
    assert "How 2 others ended the capture cannot tell." in verdict


def test_verdict_sentences_stay_apart() -> None:
    # bench.pcap's report read "4 more may have: the capture cannot tell.How 19 others ended
    # the capture cannot tell.": the template's line break after one sentence's block was
    # trimmed, so the next sentence ran into it.
    unsure_open = hs._midstream_open(2, hs.T0 + 2 * hs.S)
    unsure_open.confidence = "unknown"
    analysis = hs.build([hs._refused(0, hs.T0), hs._connect_timeout(1, hs.T0 + hs.S), unsure_open])
    conns = analysis.connections
    conns.loc[conns["id"] == 1, "confidence"] = "unknown"
    verdict = _text_of(report.render_html(analysis), "verdict")
    assert "1 more may have: the capture cannot tell. How 1 other ended" in verdict


def test_capture_facts(page_text: str, analysis) -> None:
    facts = _text_of(page_text, "capture")
    assert "scenario.pcapng" in facts and "pcapng" in facts and "EN10MB" in facts
    n = analysis.capture.tcp_frames
    assert f"{n + 3:,} in the file: {n:,} TCP analysed, 3 skipped" in facts
    assert "not_tcp 2, truncated_record 1" in facts
    assert "2025-11-21 04:40:00.000000 UTC" in facts and "(31.200 s)" in facts
    assert "file ends inside the last record" in facts


def test_no_connections_still_renders() -> None:
    empty = hs.build([])  # no segments at all
    text = report.render_html(empty)
    assert "No TCP connections in this capture." in text
    assert Page(text).json_script("conn-data")["rows"] == []


# ------------------------------------------------------------------ charts


def test_capture_timeline_bars_and_event_marks(page: Page, analysis) -> None:
    fig = page.json_script("fig-timeline")
    names = [t.get("name") for t in fig["data"]]
    assert "closed (5)" in names and "connect_timeout (1)" in names
    assert "SYN / SYN+ACK retry (5)" in names
    assert "retransmission (6)" in names and "RST (4)" in names
    assert all(t["type"] == "scatter" for t in fig["data"])  # 11 bars: SVG, not WebGL
    hover = next(t for t in fig["data"] if t.get("name") == "connect_timeout" and "customdata" in t)
    assert "10.0.0.1:40101 → 10.0.0.9:5432" in hover["hovertext"][0]


def _decode(arr):
    """plotly 6+ serialises numpy arrays as {"dtype", "bdata"} (base64 typed arrays)."""
    import numpy as np

    if isinstance(arr, dict) and "bdata" in arr:
        out = np.frombuffer(base64.b64decode(arr["bdata"]), dtype=np.dtype(arr["dtype"]))
        return (
            out.reshape(arr["shape"]) if "shape" in arr and isinstance(arr["shape"], list) else out
        )
    return np.asarray(arr)


def test_backoff_gaps_show_syn_and_rto_doubling(page: Page) -> None:
    syn = page.json_script("fig-backoff-1")["data"]
    assert [t["name"] for t in syn] == ["SYN (client)"]
    assert _decode(syn[0]["y"]).tolist() == pytest.approx([1, 2, 4, 8, 16])
    rto = page.json_script("fig-backoff-3")["data"]
    assert [t["name"] for t in rto] == ["RTO of seq 1 (client)"]
    assert _decode(rto[0]["y"]).tolist() == pytest.approx([0.2, 0.4, 0.8, 1.6, 3.2, 6.4])
    assert rto[0]["text"][1] == "0.4 s ×2"
    keepalive = page.json_script("fig-backoff-4")["data"]
    assert _decode(keepalive[0]["y"]).tolist() == pytest.approx([3.0, 3.0])  # TCP_KEEPINTVL


def test_time_sequence_graph_marks_retransmissions_on_their_segments(page: Page, analysis) -> None:
    fig = page.json_script("fig-tsg-3")
    rtx = next(t for t in fig["data"] if t.get("name") == "retransmission")
    frames = analysis.events[(analysis.events.conn == 3) & (analysis.events.kind == "retransmit")][
        "frame"
    ]
    assert _decode(rtx["customdata"]).tolist() == frames.tolist()
    # Every retransmission re-sends seq 1..1001: plotted at seq_end 1001.
    assert set(_decode(rtx["y"]).tolist()) == {1001}
    ack = next(t for t in fig["data"] if t.get("name") == "peer's ACK")
    assert max(_decode(ack["y"]).tolist()) == 1  # the server never ACKed the data
    # No graph for a connection that sent no data or FIN (connect_timeout): backoff only.
    with pytest.raises(KeyError):
        page.json_script("fig-tsg-1")


def test_time_sequence_legend_once_per_kind_across_panels(page: Page) -> None:
    data = page.json_script("fig-tsg-0")["data"]  # closed: FINs in both panels
    fins = [t for t in data if t.get("name") == "FIN"]
    assert [t["yaxis"] for t in fins] == ["y", "y2"]
    assert [t.get("showlegend", True) for t in fins] == [True, False]
    refused = page.json_script("fig-tsg-5")["data"]  # persist timeout: the client RST, one panel
    rst = [t for t in refused if t.get("name") == "RST"]
    assert len(rst) == 1 and rst[0].get("showlegend", True) is True


def test_time_sequence_view_fits_data_when_the_window_dwarfs_it(page: Page, page_text: str) -> None:
    # #4 sends 40 bytes under a 64 KB window (502 << 7): the view is fitted to the data.
    layout = page.json_script("fig-tsg-4")["layout"]
    low, high = layout["yaxis"]["range"]
    assert low < 0 and 41 < high < 100
    assert "the view is fitted to the data" in _text_of(page_text, "conn-4")
    # #5 filled the peer's window: the zero-window edge (ack + 0 = 8689) stays in the view.
    low, high = page.json_script("fig-tsg-5")["layout"]["yaxis"]["range"]
    assert low < 1 and high > 6 * 1448 + 1


def test_figures_are_valid_plotly(monkeypatch, analysis) -> None:
    """The report builds figures unvalidated for speed; with validation on they must pass."""
    monkeypatch.setattr(palette, "VALIDATE", True)
    report.render_html(analysis, max_sections=50)


def test_timeline_switches_to_webgl_and_samples_with_a_note() -> None:
    big = hs.large(capture_timeline.WEBGL_ABOVE + 100)
    plan = capture_timeline.plan_timeline(big.connections)
    assert plan.webgl and "WebGL" in plan.note and len(plan.rows) == len(big.connections)
    small_cap = capture_timeline.plan_timeline(big.connections, max_bars=300)
    failing = big.connections["fate"].isin(["connect_timeout", "refused", "retransmit_timeout"])
    assert len(small_cap.rows) == 300 or len(small_cap.rows) == int(failing.sum())
    assert set(big.connections[failing]["id"]) <= set(small_cap.rows["id"])
    assert f"{len(big.connections):,} connections" in small_cap.note and not small_cap.webgl


# ------------------------------------------------------------------ table and sections


def test_connection_table_rows(page: Page, analysis) -> None:
    data = page.json_script("conn-data")
    cols = data["columns"]
    rows = {r[cols.index("id")]: dict(zip(cols, r, strict=True)) for r in data["rows"]}
    assert sorted(rows) == list(range(11))
    r = rows[3]
    assert (r["client_ip"], r["client_port"], r["server_ip"], r["server_port"]) == (
        "10.0.0.1",
        40303,
        "10.0.0.3",
        443,
    )
    assert r["fate"] == "retransmit_timeout" and r["retries"] == 6 and r["who"] == "RST by client"
    assert r["start"] == pytest.approx(1.0) and r["section"] is True
    assert rows[0]["who"] == "FIN first by client"
    assert data["colours"]["closed"] == palette.FATE_COLOURS["closed"]


def test_connection_table_is_the_same_laid_out_a_chunk_at_a_time(
    analysis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks of 1, 4 and 11 connections, and none: the same text as one ``json.dumps`` of
    the whole table (with the script-safe escapes), which the page test above reads."""
    conns = analysis.connections
    sections = frozenset({3, 7})
    texts = {}
    for rows in (1, 4, 11, 10_000):
        monkeypatch.setattr(report, "TABLE_CHUNK_ROWS", rows)
        texts[rows] = "".join(report.connection_table_pieces(conns, 0, sections))
    assert len(set(texts.values())) == 1
    whole = json.loads(texts[1])
    assert list(whole) == ["columns", "rows", "colours"]
    assert [r[0] for r in whole["rows"]] == conns["id"].tolist()
    assert [r[whole["columns"].index("section")] for r in whole["rows"]] == [
        i in sections for i in conns["id"].tolist()
    ]
    assert texts[1] == str(report.script_json(whole))
    empty = json.loads("".join(report.connection_table_pieces(conns.iloc[:0], 0, sections)))
    assert empty == {**whole, "rows": []}


@pytest.mark.parametrize("size", [0, 10, 32_000, 32_001, 300_000])
def test_packed_pieces_are_one_gzip_of_the_whole_text(size: int) -> None:
    """Compressed a piece at a time: the bytes ``gzip.compress(text, 6, mtime=0)`` gives
    (what ``pack`` wrote before), under and over ``PACK_ABOVE``, in pieces of every size."""
    rng = random.Random(size)
    text = "".join(rng.choice('{}[],:"0123456789abcdefé✓ ') for _ in range(size))
    cuts = sorted(rng.sample(range(size + 1), min(size + 1, 7)))
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, size], strict=True)]
    got = report.pack_pieces(pieces, allowed=True)
    if size <= report.PACK_ABOVE:
        assert (got.encoding, str(got.text)) == ("json", text)
    else:
        assert got.encoding == "gzip"
        whole = gzip.compress(text.encode("utf-8"), compresslevel=6, mtime=0)
        assert base64.b64decode(str(got.text)) == whole
    assert report.pack_pieces(pieces, allowed=False) == report.Payload(report.Markup(text))


def test_packed_pieces_in_order_with_more_pieces_than_wait() -> None:
    """Many pieces, deflated on their own thread while the next ones are made: still one
    gzip of the text in order."""
    pieces = [f"[{k},{'x' * (k % 97)}]," * 900 for k in range(4 * report._PIECES_AHEAD + 5)]
    got = report.pack_pieces(iter(pieces), allowed=True)
    assert got.encoding == "gzip"
    text = "".join(pieces).encode("utf-8")
    assert base64.b64decode(str(got.text)) == gzip.compress(text, compresslevel=6, mtime=0)


def test_a_failing_piece_stops_the_packing() -> None:
    """An error while the pieces are made is the caller's, and no deflating thread is left."""

    def pieces() -> Iterator[str]:
        for k in range(50):
            if k == 20:
                raise ValueError("piece 20")
            yield "y" * 40_000

    with pytest.raises(ValueError, match="piece 20"):
        report.pack_pieces(pieces(), allowed=True)
    assert not [t for t in threading.enumerate() if t.name.startswith("pcapline-pack")]


def test_wireshark_filters() -> None:
    assert report.wireshark_filter("10.0.0.1", 40000, "10.0.0.2", 443) == (
        "((ip.src eq 10.0.0.1 and tcp.srcport eq 40000) and (ip.dst eq 10.0.0.2 and tcp.dstport eq 443)) or "
        "((ip.src eq 10.0.0.2 and tcp.srcport eq 443) and (ip.dst eq 10.0.0.1 and tcp.dstport eq 40000))"
    )
    assert report.wireshark_filter("2001:db8::1", 5, "2001:db8::2", 22).startswith(
        "((ipv6.src eq 2001:db8::1 and tcp.srcport eq 5) and (ipv6.dst eq 2001:db8::2"
    )


def test_sections_failures_first_with_filters_and_timeline(page_text: str) -> None:
    order = [int(m) for m in re.findall(r'<article class="conn" id="conn-(\d+)"', page_text)]
    assert order[:5] == [1, 2, 3, 5, 4]  # failing fates in report order
    assert sorted(order) == list(range(11))  # small capture: every connection has a section
    sec = _text_of(page_text, "conn-4")
    assert "[2001:db8::1]:50004 → [2001:db8::2]:22" in sec
    assert "tcp.stream eq 4" in sec and "ipv6.src eq 2001:db8::1 and tcp.srcport eq 50004" in sec
    assert "Keepalive idle (TCP_KEEPIDLE) 5 s" in sec and "Keepalive probes (TCP_KEEPCNT) 3" in sec
    assert sec.count("keepalive probe ") == 3  # the detector's notes in the annotated timeline
    assert "ESTABLISHED" in sec and "CLOSED" in sec


def test_sections_capped_failures_first_with_a_note() -> None:
    big = hs.large(300)
    ids, left_out = report.choose_sections(big.connections, 10)
    failing = big.connections[big.connections["fate"] != "closed"]
    assert len(ids) == 10 and left_out == len(failing) - 10
    assert set(ids) <= set(failing["id"])
    # Every failing fate gets a section even when one fate alone would fill the cap.
    assert set(big.connections.set_index("id").loc[ids, "fate"]) == set(failing["fate"])
    ids3, _ = report.choose_sections(big.connections, 3)
    assert sorted(big.connections.set_index("id").loc[ids3, "fate"]) == sorted(
        ["connect_timeout", "refused", "retransmit_timeout"]
    )
    text = report.render_html(big, max_sections=10)
    assert (
        f"{left_out:,} more failing or eventful connection" in text
        and "not shown in detail" in text
    )


def test_long_timeline_folds_quiet_stretches() -> None:
    from pcapline.timeline import build_timeline

    conn = hs._closed(0, 40000, hs.T0)
    for i in range(400):  # a long quiet bulk transfer before the close
        conn.pkts.insert(
            8, hs._Pkt(conn.pkts[7].t_ns + i, False, hs.ACK, conn.sisn + 1, conn.cisn + 121, 0)
        )
    a = hs.build([conn])
    rows = build_timeline(a.segments, a.connections.iloc[0], a.events)
    lines = report.fold_timeline(rows)
    shown = [ln.row for ln in lines if ln.row]
    assert len(rows) > report.MAX_TIMELINE_ROWS >= len(lines)
    folded = sum(ln.skipped for ln in lines)
    assert folded + len(shown) == len(rows)
    assert {ln.kind for r in shown for ln in r.labels} >= {"syn", "synack", "fin"}


def test_large_payloads_are_packed() -> None:
    big = hs.large(capture_timeline.WEBGL_ABOVE + 100)
    p = Page(report.render_html(big, max_sections=2))
    packed = {a.get("id") for a, _ in p.scripts if a.get("data-encoding") == "gzip"}
    assert {"conn-data", "fig-timeline"} <= packed
    assert len(p.json_script("conn-data")["rows"]) == len(big.connections)
    webgl = p.json_script("fig-timeline")["data"]
    assert {t["type"] for t in webgl} == {"scattergl"}
    bars = next(t for t in webgl if t.get("mode") == "markers" and t["name"] == "closed")
    assert _decode(bars["x"]).dtype.name == "float32"
    # Busy timeline: only the failing connections' marks are visible by default.
    marks = {
        t["name"].split(" (")[0]: t.get("visible", True)
        for t in webgl
        if "customdata" in t and "," in t["name"]
    }
    assert marks["RST, failing"] is True and marks["SYN / SYN+ACK retry, failing"] is True
    assert marks["FIN, others"] == "legendonly"
    failing = set(big.connections.loc[big.connections["fate"] != "closed", "id"])
    for t in webgl:
        if "," in t["name"] and t.get("visible", True) is True:
            assert set(_decode(t["customdata"]).tolist()) <= failing, t["name"]


def test_write_report(tmp_path, analysis) -> None:
    out = report.write_report(analysis, tmp_path / "r.html", max_sections=2)
    assert out.read_text(encoding="utf-8").startswith("<!doctype html>")


# ------------------------------------------------------------------ escaping


def test_hostile_strings_are_escaped_everywhere(analysis) -> None:
    evil = hs.hostile(analysis)
    text = report.render_html(evil)
    for s in hs.HOSTILE:
        assert s not in text, s
        for fragment in ("<script>alert", "<img src=x", "<svg onload", "<!--<script"):
            assert fragment not in text
    p = Page(text)
    # Only our own elements: no injected img/svg/iframe, no inline event handlers.
    assert p.tags("img") == [] and p.tags("svg") == [] and p.tags("iframe") == []
    assert all(not k.startswith("on") for _, attrs in p.elements for k in attrs)
    ids = sorted(str(a.get("id")) for a, _ in p.scripts)
    expected = {"conn-data", "plotly-config", "plotly-template", "plotly-gzip", "None"}
    assert set(ids) - expected <= {i for i in ids if i.startswith("fig-")}
    assert ids.count("None") == 1  # the report script, nothing else without an id
    # JSON in scripts escapes <, >, & and the line separators, and still round-trips.
    for attrs, body in p.scripts:
        if attrs.get("type") == "application/json":
            if attrs.get("data-encoding") == "gzip":
                assert re.fullmatch(r"[A-Za-z0-9+/=]+", body), attrs.get("id")
            data = p.script_text(str(attrs["id"]))
            assert not re.search("[<>&\u2028\u2029]", data), attrs.get("id")
            json.loads(data)
    # The text arrives intact for the reader (escaped, not dropped).
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_hostile_strings_reach_every_field(analysis) -> None:
    """The hostile fixture really puts its strings where the page shows them."""
    evil = hs.hostile(analysis)
    text = report.render_html(evil)
    escaped = [
        s.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&#34;")
        .replace("'", "&#39;")
        for s in hs.HOSTILE
    ]
    for field in ("capture", "verdict", "findings", "conn-3"):
        section = text.split(f'id="{field}"', 1)[1][:200_000]
        assert any(e in section for e in escaped), field


def test_icmp_errors_get_their_own_timeline_rows() -> None:
    """Real kernel (nftables on the router rejects the client's SYNs with ICMP admin
    prohibited, captured at the client): the HTML timeline shows both errors between the
    SYNs they quote, drawn toward the client."""
    from pathlib import Path

    from pcapline.analysis import analyze

    capture = Path(__file__).resolve().parents[2] / "sample_captures"
    page = report.render_html(analyze(capture / "icmp-reject-admin-prohibited-at-client.pcap"))
    rows = re.findall(r'<tr class="(\w+) has-event icmp">\s*<td class="num">(\d+)</td>', page)
    assert rows == [("s2c", "4"), ("s2c", "6")]
    frames = [int(f) for f in re.findall(r'<tr class="[^"]*">\s*<td class="num">(\d+)</td>', page)]
    assert frames == sorted(frames)


def test_notices_are_never_folded_away() -> None:
    """An ICMP error inside a folded quiet stretch still gets its row, before the next row
    shown after it."""
    from pcapline.model import Side
    from pcapline.timeline import EventLabel, NoticeRow, build_timeline

    conn = hs._closed(0, 40000, hs.T0)
    for i in range(400):  # a long quiet bulk transfer before the close
        conn.pkts.insert(
            8, hs._Pkt(conn.pkts[7].t_ns + i, False, hs.ACK, conn.sisn + 1, conn.cisn + 121, 0)
        )
    a = hs.build([conn])
    lines = report.fold_timeline(build_timeline(a.segments, a.connections.iloc[0], a.events))
    fold = next(i for i, line in enumerate(lines) if line.skipped)
    before, after = lines[fold - 1].row, lines[fold + 1].row
    assert before is not None and after is not None and after.frame - before.frame > 2
    notice = NoticeRow(before.frame + 2, 0.0, Side.SERVER, (EventLabel("icmp_error", "x"),))
    placed = report.with_notices(lines, [notice])
    assert len(placed) == len(lines) + 1
    assert placed[fold + 1].notice == notice  # after the fold, before the next shown row
    assert placed[fold + 2].row == after


def test_the_packed_plotly_bundle_is_kept_in_the_user_cache_and_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gzip+base64 bundle is packed once per plotly.js, then read from
    $XDG_CACHE_HOME/pcapline; a damaged file is packed again, never embedded."""
    source = "var plotly = 'stand-in bundle';\n" * 2000
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    packed = report._packed_plotly(source)
    assert gzip.decompress(base64.b64decode(packed)).decode() == source
    (kept,) = (tmp_path / "pcapline").iterdir()
    assert kept.read_text(encoding="ascii") == packed
    kept.write_text(packed[: len(packed) // 2], encoding="ascii")  # a half-written file
    assert report._packed_plotly(source) == packed
    assert kept.read_text(encoding="ascii") == packed  # written whole again
    kept.write_text(base64.b64encode(gzip.compress(b"alert(1)")).decode(), encoding="ascii")
    assert report._packed_plotly(source) == packed  # not this bundle: never embedded
    # A cache folder that cannot be made (a file stands in its way): packed each time.
    monkeypatch.setenv("XDG_CACHE_HOME", str(kept))
    assert report._packed_plotly(source) == packed


def test_problem_card_says_when_its_failures_are_not_proven() -> None:
    # slice of bench.pcap: the headline said "6 more may have: the capture cannot tell" while
    # the card read "connect_timeout 6 connections", the hedge only at the end of a long
    # explanation. The card now says how many the capture does not prove.
    analysis = hs.build(
        [
            hs._connect_timeout(0, hs.T0),
            hs._connect_timeout(1, hs.T0 + hs.S),
            hs._closed(2, 40002, hs.T0 + 2 * hs.S),
        ]
    )
    conns = analysis.connections
    conns.loc[conns["id"] == 1, "confidence"] = "unknown"
    (card,) = report.problems(conns, frozenset())
    assert (card.fate, card.count, card.uncertain) == ("connect_timeout", 2, 1)
    banner = _text_of(report.render_html(analysis), "verdict")
    assert "1 of 3 connections failed. 1 more may have: the capture cannot tell." in banner
    assert "connect_timeout 2 connections (1 not proven: the capture cannot tell)" in banner
    conns.loc[conns["id"] == 0, "confidence"] = "unknown"
    banner = _text_of(report.render_html(analysis), "verdict")
    assert "connect_timeout 2 connections (none proven: the capture cannot tell)" in banner
    conns["confidence"] = "proven"
    assert "not proven" not in _text_of(report.render_html(analysis), "verdict")


def test_failure_card_names_the_finding_that_explains_its_connections() -> None:
    # crafted-nat-tw-recycle: the connect_timeout card gave #12's generic SYN-timeout checks
    # (server up? firewall? conntrack? listen queue?) while the nat_timestamp finding, with
    # its fix (net.ipv4.tcp_tw_recycle=0), holds exactly those 5 connections.
    import pcapline

    sample = (
        Path(__file__).resolve().parents[2]
        / "sample_captures"
        / "nat"
        / "crafted-nat-tw-recycle.pcap"
    )
    analysis = pcapline.analyze(sample)
    text = report.render_html(analysis)
    banner = _text_of(text, "verdict")
    assert (
        "connect_timeout 5 connections All 5 are in a cross-connection finding: nat_timestamp "
        "5 connection(s) from 203.0.113.50 to 10.20.0.10:80 had SYNs dropped"
    ) in banner
    assert '<a href="#finding-1">What it means and what to do</a>' in text
    assert 'id="finding-1"' in text
    # A finding that holds a card's connections among many others (most of them healthy)
    # is not named on the card.
    conns = analysis.connections
    cards = report.problems(conns, frozenset())
    closed = conns.loc[conns["fate"] == "closed", "id"].astype(int).tolist()[:20]
    churn = Finding("time_wait_churn", "20 short connection(s)", tuple([12, 17, *closed]))
    (card,) = report.with_findings(cards, conns, [churn])
    assert card.findings == ()
    (card,) = report.with_findings(cards, conns, list(analysis.findings))
    assert [(n, k, held) for n, k, _, held in card.findings] == [(1, "nat_timestamp", 5)]


def test_timeline_marks_the_frames_the_verdict_rests_on() -> None:
    # retransmit-timeout-retries2-4: the verdict rests on frame 66 (the data that timed out)
    # and its four timed-out copies 81-84; the rows were red like every other event row.
    import pcapline

    sample = (
        Path(__file__).resolve().parents[2]
        / "sample_captures"
        / "retransmit-timeout-retries2-4.pcap"
    )
    analysis = pcapline.analyze(sample)
    text = report.render_html(analysis)
    marked = re.findall(r'<tr class="[^"]*\bevidence"[^>]*>\s*<td class="num">(\d+)</td>', text)
    assert marked == ["66", "81", "82", "83", "84"]
    assert text.count('<span class="verdict-mark" title="the verdict (retransmit_timeout)') == 5
    assert "a frame the verdict rests on (highlighted)" in text
    # Folding never hides an evidence frame, even a quiet one far from any event.
    rows = connection_timeline(analysis, 0)
    quiet = next(r for r in rows[40:] if not r.labels and not r.client_state_changed)
    lines = report.fold_timeline(rows, limit=30, evidence=frozenset({quiet.frame}))
    kept = [ln for ln in lines if ln.row is not None and ln.row.frame == quiet.frame]
    assert len(kept) == 1 and kept[0].evidence
    assert not report.fold_timeline(rows, limit=30)[0].evidence
