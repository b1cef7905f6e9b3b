"""render/figures/backoff.py: the chart draws the series the detectors recorded, nothing else."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from builders import html_scenarios as hs

from pcapline.render.figures.backoff import GapSeries, backoff, gap_series

#: Frame -> seconds since the connection start, for hand-made series.
AT = {10: 0.0, 11: 0.05, 12: 0.45, 13: 1.25, 20: 0.0, 21: 1.0, 22: 3.0}


def seconds_at(frames: Sequence[int]) -> np.ndarray:
    return np.array([AT[f] for f in frames], dtype=float)


@pytest.fixture(scope="module")
def analysis():
    return hs.scenario()


def test_rto_steps_start_at_the_copy_before_them(analysis) -> None:
    """A tail loss probe (frame 11, 50 ms after the original) is no bar; the RTO after it is
    timed from the probe, the copy before it on the wire, as the detector measured it."""
    found = analysis.detections[3]
    rto = found.retransmit.inferred.last_series
    assert rto is not None
    with_tlp = dataclasses.replace(
        rto, frames=(10, 11, 12, 13), step_frames=(12, 13), gaps=(0.4, 0.8)
    )
    found = dataclasses.replace(
        found,
        retransmit=dataclasses.replace(
            found.retransmit,
            inferred=dataclasses.replace(found.retransmit.inferred, last_series=with_tlp),
        ),
    )
    series = gap_series(found, seconds_at)
    assert series[-1] == GapSeries("RTO of seq 1 (client)", pytest.approx((0.4, 0.8)), (12, 13))


def test_handshake_series_come_from_the_handshake_record(analysis) -> None:
    syn = analysis.detections[1].handshake.inferred.syn
    assert syn is not None and syn.retries == 5
    (series,) = gap_series(analysis.detections[1], lambda f: np.asarray(syn.times))
    assert series.label == "SYN (client)" and series.frames == syn.frames[1:]
    assert series.gaps == pytest.approx([1, 2, 4, 8, 16])


def test_connections_no_detector_visited_have_no_chart(analysis) -> None:
    from pcapline.render import html as report

    page = report.render_html(analysis)
    unvisited = set(analysis.connections["id"]) - set(analysis.detections)
    assert unvisited  # the healthy closed connections
    for conn_id in unvisited:
        assert f'id="fig-backoff-{conn_id}"' not in page


def test_no_chart_without_a_positive_gap() -> None:
    assert backoff([]) is None
    assert backoff([GapSeries("SYN (client)", (), ())]) is None
    assert backoff([GapSeries("SYN (client)", (0.0,), (21,))]) is None
    assert backoff([GapSeries("SYN (client)", (1.0, 2.0), (21, 22))]) is not None
