"""The report's look: fate colours and order, event marks, and the plotly pieces every figure shares.

One colour per fate is used by every chart and (via CSS variables) by the page itself; one
mark per event family is used by the capture timeline and the time-sequence graphs, so a
retransmission looks the same wherever it is drawn. The figures themselves live in
``render/figures/`` (one module each); this module holds no data and draws nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go

from pcapline.model import EventKind, Fate, StallCause

#: One colour per fate, used by every chart and (via CSS variables) by the page itself.
FATE_COLOURS: dict[str, str] = {
    Fate.CONNECT_TIMEOUT: "#b71c1c",
    Fate.REFUSED: "#e53935",
    Fate.HANDSHAKE_TIMEOUT: "#ad1457",
    Fate.LISTEN_OVERFLOW: "#6a1b9a",
    Fate.RETRANSMIT_TIMEOUT: "#d84315",
    Fate.PERSIST_TIMEOUT: "#8e24aa",
    Fate.KEEPALIVE_TIMEOUT: "#795548",
    Fate.RESET: "#ef6c00",
    Fate.HALF_CLOSED: "#9e9d24",
    Fate.OPEN: "#1e88e5",
    Fate.CLOSED: "#2e7d32",
}

#: Report order: failures first (the ones that cost users most first), then the rest.
FATE_ORDER: tuple[Fate, ...] = (
    Fate.CONNECT_TIMEOUT,
    Fate.REFUSED,
    Fate.HANDSHAKE_TIMEOUT,
    Fate.LISTEN_OVERFLOW,
    Fate.RETRANSMIT_TIMEOUT,
    Fate.PERSIST_TIMEOUT,
    Fate.KEEPALIVE_TIMEOUT,
    Fate.RESET,
    Fate.HALF_CLOSED,
    Fate.OPEN,
    Fate.CLOSED,
)
assert set(FATE_ORDER) == set(Fate), "every fate needs a place in the report order"

UNKNOWN_FATE_COLOUR = "#757575"


def fate_colour(fate: str) -> str:
    return FATE_COLOURS.get(fate, UNKNOWN_FATE_COLOUR)


@dataclass(frozen=True, slots=True)
class MarkStyle:
    label: str
    symbol: str
    colour: str
    kinds: frozenset[str]


#: Event marks shared by the capture timeline and the time-sequence graphs.
MARKS: tuple[MarkStyle, ...] = (
    MarkStyle(
        "SYN / SYN+ACK retry",
        "diamond",
        "#b71c1c",
        frozenset({EventKind.SYN_RETRANSMIT, EventKind.SYNACK_RETRANSMIT}),
    ),
    MarkStyle(
        "retransmission",
        "triangle-up",
        "#d50000",
        frozenset(
            {
                EventKind.RETRANSMIT,
                EventKind.FAST_RETRANSMIT,
                EventKind.SPURIOUS_RETRANSMIT,
                EventKind.FIN_RETRANSMIT,
                EventKind.RETRANSMIT_UNKNOWN,
            }
        ),
    ),
    MarkStyle("keepalive probe", "circle-open", "#6d4c41", frozenset({EventKind.KEEPALIVE})),
    MarkStyle(
        "zero window / probe",
        "square",
        "#8e24aa",
        frozenset({EventKind.ZERO_WINDOW, EventKind.WINDOW_PROBE}),
    ),
    MarkStyle("RST", "x", "#000000", frozenset({EventKind.RST})),
    MarkStyle("FIN", "line-ns-open", "#37474f", frozenset({EventKind.FIN})),
)

#: One colour per stall cause (``model.StallCause``): the capture timeline's stall strip.
STALL_COLOURS: dict[str, str] = {
    StallCause.SYN_RETRY: "#b71c1c",
    StallCause.SYNACK_RETRY: "#ad1457",
    StallCause.RTO: "#ef6c00",
    StallCause.ZERO_WINDOW: "#8e24aa",
    StallCause.WINDOW_FULL: "#5e35b1",
    StallCause.NAGLE: "#00838f",
}
assert set(STALL_COLOURS) == set(StallCause), "every stall cause needs a colour"

#: The delay distributions' curves: connect time, response time.
DELAY_COLOURS: dict[str, str] = {"connect": "#1565c0", "response": "#2e7d32", "limit": "#9e9e9e"}

#: Bar colours of the backoff series (one per series, in order).
SERIES_COLOURS = ("#1565c0", "#ef6c00", "#6a1b9a", "#2e7d32", "#c62828", "#00838f")

FONT: dict[str, Any] = dict(
    family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", size=12
)

#: Plotly validates every property of every trace in Python (~3 ms per trace), which made a
#: 50-section report take 10 s. The figures are fixed code, not user input, so the report
#: builds them unvalidated; the tests turn validation on (``VALIDATE = True``) to prove them valid.
VALIDATE = False


def trace(kind: type[Any], **props: Any) -> Any:
    """A plotly trace of ``kind`` (``go.Scatter``, ``go.Bar``...), validated only in tests."""
    return kind(_validate=VALIDATE, **props)


def figure(data: Any = None, layout: Any = None) -> go.Figure:
    return go.Figure(data=data, layout=layout, _validate=VALIDATE)


def layout(**kwargs: Any) -> dict[str, Any]:
    """Layout shared by every chart. No template here: the page applies plotly_white once to
    every figure (setting it per figure costs ~0.5 s of plotly validation and ~8 KB each)."""
    base: dict[str, Any] = dict(
        template=None,
        font=FONT,
        margin=dict(l=60, r=20, t=40, b=45),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0),
        hovermode="closest",
    )
    base.update(kwargs)
    return base
