"""Delay distributions: connect times and response times, as CDFs on a log time axis.

Two curves, each the share of measures at or below a time: the connect time of every
connection whose handshake was seen (``delays.connect_s``) and every request/response turn's
response time (``DelaysTable.turns``; the first turn per connection when the turns are not
at hand). SYN retries show as steps at 1 s, 3 s, 7 s (doubling) or 1, 2, 3 s (linear), far
right of the healthy round trips; the ``--slow-connect`` / ``--slow-response`` thresholds
are dashed lines. A log axis needs positive times: a measure under 1 µs (two frames with the
same timestamp) is drawn at 1 µs. Large captures are drawn from at most ``MAX_POINTS``
quantiles per curve (the exact measures are in the JSON and CSV).
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

from pcapline.fmt import gap, seconds
from pcapline.render.palette import DELAY_COLOURS, Figure, figure, layout, trace

MAX_POINTS = 2000
FLOOR_S = 1e-6


def _cdf(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(times, share at or below) of the finite values, at most MAX_POINTS points."""
    v = np.sort(np.maximum(values[np.isfinite(values)], FLOOR_S))
    share = np.arange(1, len(v) + 1) / len(v)
    if len(v) > MAX_POINTS:
        pick = np.unique(np.linspace(0, len(v) - 1, MAX_POINTS).astype(np.int64))
        v, share = v[pick], share[pick]
    return v, share


#: Below this many measures a curve also marks each one (a single measure is no line).
FEW_POINTS = 20


def delay_distribution(
    connect_s: np.ndarray,
    response_s: np.ndarray,
    *,
    connect_limit_s: float | None = None,
    response_limit_s: float | None = None,
) -> Figure | None:
    """CDF of connect and response times (log x); None when neither was measured."""
    curves = []
    every: list[np.ndarray] = []
    for name, values, limit, what in (
        ("connect", np.asarray(connect_s, dtype=float), connect_limit_s, "connections"),
        ("response", np.asarray(response_s, dtype=float), response_limit_s, "answers"),
    ):
        if not np.isfinite(values).any():
            continue
        x, y = _cdf(values)
        every.append(x)
        n = int(np.isfinite(values).sum())
        curves.append(
            trace(
                go.Scatter,
                x=x,
                y=y,
                # A step line needs two points: one measure drew nothing (the keepalive and
                # zero-window samples' single connect time). Few measures show as markers too.
                mode="lines+markers" if n < FEW_POINTS else "lines",
                marker=dict(color=DELAY_COLOURS[name], size=7),
                line=dict(color=DELAY_COLOURS[name], width=2, shape="hv"),
                name=f"{name} time ({n:,} {what if n != 1 else what[:-1]})",
                hovertemplate=f"{name}: %{{y:.1%}} within %{{x:.4g}} s<extra></extra>",
            )
        )
        if limit is not None:
            curves.append(
                trace(
                    go.Scatter,
                    x=[limit, limit],
                    y=[0, 1],
                    mode="lines",
                    line=dict(color=DELAY_COLOURS[name], width=1, dash="dash"),
                    name=f"slow {name} threshold ({gap(limit)})",
                    hoverinfo="skip",
                )
            )
    if not curves:
        return None
    limits = [x for x in (connect_limit_s, response_limit_s) if x is not None and x > 0]
    times = np.concatenate([*every, np.asarray(limits, dtype=float)])
    low, high = float(times.min()), float(times.max())
    lo, hi = math.log10(low) - 0.3, math.log10(max(high, low * 10)) + 0.3
    # One tick per decade, said as the text says times (1 ms, 10 ms, 1 s), not 0.001.
    ticks = [10.0**k for k in range(math.ceil(lo), math.floor(hi) + 1)]
    return figure(
        data=curves,
        layout=layout(
            height=300,
            showlegend=True,
            xaxis=dict(
                title="time, log scale (at the capture point)",
                type="log",
                range=[lo, hi],
                tickvals=ticks,
                ticktext=[seconds(t) for t in ticks],
            ),
            yaxis=dict(title="share at or below", tickformat=".0%", range=[0, 1.02]),
        ),
    )
