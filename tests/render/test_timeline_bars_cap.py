"""The capture timeline of a big capture draws every failing connection and a sample of the
rest, at most ``MAX_TIMELINE_BARS`` (10,000) bars in all."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pcapline.render.figures.capture_timeline import MAX_TIMELINE_BARS, plan_timeline


def test_a_58k_connection_capture_draws_10k_bars_failures_first() -> None:
    n = 58_000
    fate = np.where(np.arange(n) % 10 == 0, "reset", "closed")  # 5,800 failing
    conns = pd.DataFrame({"id": np.arange(n), "start_ns": np.arange(n) * 1000, "fate": fate})
    plan = plan_timeline(conns)
    assert MAX_TIMELINE_BARS == 10_000
    assert len(plan.rows) == 10_000 and plan.webgl
    assert (plan.rows["fate"] == "reset").sum() == 5_800
    assert plan.note.startswith(
        "58,000 connections: the timeline draws all 5,800 failing ones and an evenly spaced "
        "sample of the others (10,000 bars in all)"
    )
