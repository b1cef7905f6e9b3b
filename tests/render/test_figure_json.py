"""The report's figures are written from plain dicts (``palette.Figure``), byte for byte as
plotly writes the same figure built as ``go.Figure`` (key order, typed arrays, coerced axis
titles): the page is the same, without building plotly objects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import plotly.io as pio
import pytest

import pcapline
from pcapline.render import html as report
from pcapline.render.palette import Figure

SAMPLES = Path(__file__).resolve().parent.parent.parent / "sample_captures"


@pytest.mark.parametrize(
    ("name", "panels"),
    [
        # timeline (add_trace, update_layout), delays, two-panel time-sequence (yaxis2), backoff
        ("keepalive-client-idle2-intvl1-cnt3.pcap", 2),
        # a stall strip, a one-panel time-sequence
        ("retransmit-timeout-router-drop-at-client.pcap", 1),
    ],
)
def test_each_figure_is_written_as_plotly_writes_it(
    name: str, panels: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    figures: list[Figure] = []
    original = report.figure_json

    def keep(fig: Figure) -> Any:
        figures.append(fig)
        return original(fig)

    monkeypatch.setattr(report, "figure_json", keep)
    report.render_html(pcapline.analyze(str(SAMPLES / name)))
    assert len(figures) >= 4
    for fig in figures:
        ours = fig.to_json()
        plotly_fig = fig.to_go()
        plotly_fig.layout.template = None
        assert ours == pio.to_json(plotly_fig, validate=False, pretty=False, engine="json")
    (tsg,) = [f.to_json() for f in figures if '"relative seq"' in f.to_json()]
    assert tsg.count('"relative seq"') == panels
    assert ('"yaxis2":{"anchor":"x","domain":' in tsg) == (panels == 2)
