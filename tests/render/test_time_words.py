"""Times in the text timeline and the HTML report: frame times exact (Wireshark's
``tcp.time_relative``, to find the frame), gaps and axes in the text's units (``fmt``), the
wall-clock time the relative times count from said once."""

from __future__ import annotations

import re
from pathlib import Path

import pcapline
from pcapline.render.html import render_html
from pcapline.render.timeline import connection_timeline_text

SAMPLES = Path(__file__).resolve().parent.parent.parent / "sample_captures"
#: Keepalive probes 2.00 s then 1.02 s apart (TCP_KEEPIDLE 2, TCP_KEEPINTVL 1).
CAPTURE = SAMPLES / "keepalive-client-idle2-intvl1-cnt3.pcap"
START = "2026-11-21 23:15:00.833658 UTC"  # the connection's first frame (the SYN, frame 3)


def test_the_text_timeline_keeps_frame_times_exact_and_says_gaps_in_units() -> None:
    text = connection_timeline_text(pcapline.analyze(str(CAPTURE)), 0)
    rows = {line.split()[0]: line.split()[:3] for line in text.splitlines()[2:-1]}
    assert rows["4"] == ["4", "0.000016", "16us"]
    assert rows["6"] == ["6", "0.026822", "26.8ms"]
    assert rows["10"] == ["10", "2.041032", "2.00s"]
    assert f"time: seconds since {START}; delta: since the line above" in text.splitlines()[-1]


def test_the_html_report_says_gaps_in_units_and_where_its_times_count_from() -> None:
    page = render_html(pcapline.analyze(str(CAPTURE)))
    assert '<td class="num">2.041032</td>\n          <td class="num">2.00s</td>' in page
    assert f"title=\"seconds since the connection's first frame, {START} (Wireshark" in page
    assert '"title":{"text":"seconds since capture start, 2026-11-21 23:15:00.833625 UTC"}' in page
    assert f'"title":"seconds since connection start, {START}"' in page
    ticks = re.search(r'"ticktext":\["100 us","1 ms","10 ms","100 ms","1 s"\]', page)
    assert ticks is not None  # the delay distribution's decades, not 0.0001 ... 1
