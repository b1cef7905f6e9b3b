"""The report's look: fate colours and order, event marks, and the plotly pieces every figure shares.

One colour per fate is used by every chart and (via CSS variables) by the page itself; one
mark per event family is used by the capture timeline and the time-sequence graphs, so a
retransmission looks the same wherever it is drawn. The figures themselves live in
``render/figures/`` (one module each); this module holds no data and draws nothing.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, replace
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


@dataclass(frozen=True, slots=True)
class Trace:
    """A plotly trace of ``kind`` (``go.Scatter``, ``go.Bar``...) as the properties given."""

    kind: type[Any]
    props: dict[str, Any]
    #: Added by ``Figure.add_trace``, which validates it as ``go.Figure.add_trace`` always
    #: does: its nested objects (``marker``, ``line``...) become plotly objects.
    validated: bool = False

    def to_go(self) -> Any:
        return self.kind(_validate=VALIDATE, **self.props)

    def plotly_dict(self) -> dict[str, Any]:
        """The trace as ``go.Figure.to_dict`` holds it: the properties set, in the order the
        trace class sets them (its ``__init__``'s), ``None`` left out, ``type`` last; nested
        dicts as given, or (``validated``) in their own class's order."""
        if self.validated:
            out = _coerced(self.kind, self.props)
        else:
            order = _property_order(self.kind)
            keys = sorted(
                (k for k, v in self.props.items() if v is not None), key=order.__getitem__
            )
            out = {k: _fresh(self.props[k]) for k in keys}
        out["type"] = self.kind._path_str
        return out


def trace(kind: type[Any], **props: Any) -> Trace:
    """A plotly trace of ``kind`` (``go.Scatter``, ``go.Bar``...); validated only in tests
    (``VALIDATE``), when it becomes a plotly object."""
    unknown = set(props) - set(_property_order(kind))
    if unknown:
        raise ValueError(f"not a {kind._path_str} property: {sorted(unknown)}")
    return Trace(kind, props)


class Figure:
    """A plotly figure kept as the dicts its JSON is made of.

    Building ``go.Figure`` objects (even unvalidated) and their ``to_dict`` deep copies took
    most of a small report's rendering (~1 ms per trace). The page needs only the JSON:
    ``to_json`` writes what ``plotly.io.to_json(go.Figure(...))`` writes, byte for byte (the
    same key order, the same typed arrays, the same encoder). ``data`` and ``layout`` build the
    plotly figure on first use (tests read traces by attribute); with ``VALIDATE`` the JSON
    comes from it, so the tests prove the figures valid."""

    def __init__(self, data: list[Trace] | None = None, layout: dict[str, Any] | None = None):
        self.traces: list[Trace] = list(data or ())
        self._layout = dict(layout or {})
        self._updates: list[dict[str, Any]] = []
        self._go: go.Figure | None = None

    def add_trace(self, t: Trace) -> Figure:
        """Append ``t`` (after the traces given to ``figure``), validated."""
        self.traces.append(replace(t, validated=True))
        self._go = None
        return self

    def update_layout(self, **props: Any) -> Figure:
        self._updates.append(props)
        self._go = None
        return self

    def to_go(self) -> go.Figure:
        if self._go is None:
            given = [t.to_go() for t in self.traces if not t.validated]
            fig = go.Figure(data=given, layout=self._layout, _validate=VALIDATE)
            for t in self.traces[len(given) :]:
                fig.add_trace(t.to_go())
            for props in self._updates:
                fig.update_layout(**props)
            self._go = fig
        return self._go

    @property
    def data(self) -> Any:
        return self.to_go().data

    @property
    def layout(self) -> Any:
        return self.to_go().layout

    def to_json(self) -> str:
        """The figure's JSON without its template (``"template": null``: the page applies it
        once), as ``plotly.io.to_json(fig, validate=False, engine="json")`` writes it."""
        from _plotly_utils.utils import convert_to_base64  # type: ignore[import-untyped]
        from plotly.io._json import to_json_plotly

        if VALIDATE:
            fig = self.to_go()
            fig.layout.template = None
            return str(to_json_plotly(fig.to_dict(), engine="json"))
        # go.Layout sets the properties given in its __init__'s order, its template last;
        # update_layout then merges into them, appending new keys in the order given.
        # Subplot axes (yaxis2...) come after them, before the template, each a validated
        # axis object: its keys in the axis class's order, a title string as {"text": ...}.
        order = _property_order(go.Layout)
        given = [k for k, v in self._layout.items() if v is not None and k != "template"]
        layout: dict[str, Any] = {
            k: _fresh(self._layout[k])
            for k in sorted(set(given) & set(order), key=order.__getitem__)
        }
        for key in given:
            if key not in order:
                layout[key] = _subplot_axis(key, self._layout[key])
        layout["template"] = None
        for props in self._updates:
            _merge(layout, props)
        res = {"data": [t.plotly_dict() for t in self.traces], "layout": layout}
        convert_to_base64(res)
        return str(to_json_plotly(res, engine="json"))


def figure(data: list[Trace] | None = None, layout: dict[str, Any] | None = None) -> Figure:
    return Figure(data=data, layout=layout)


_ORDERS: dict[str, dict[str, int]] = {}


def _property_order(kind: type[Any]) -> dict[str, int]:
    """A plotly class's properties in the order its ``__init__`` sets them (once per process)."""
    order = _ORDERS.get(kind.__name__)
    if order is None:
        names = list(inspect.signature(kind.__init__).parameters)
        order = {n: i for i, n in enumerate(names) if n not in ("self", "arg", "kwargs")}
        _ORDERS[kind.__name__] = order
    return order


def _fresh(value: Any) -> Any:
    """``value`` with its dicts and lists copied (``convert_to_base64`` replaces arrays in the
    dicts it is given), arrays and scalars shared."""
    if isinstance(value, dict):
        return {k: _fresh(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_fresh(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_fresh(v) for v in value)
    return value


_CHILDREN: dict[tuple[str, str], type[Any] | None] = {}


def _child(kind: type[Any], prop: str) -> type[Any] | None:
    """The plotly class a compound property of ``kind`` holds (None: a plain value)."""
    key = (kind.__module__ + "." + kind.__name__, prop)
    if key not in _CHILDREN:
        validator = kind(_validate=False)._get_validator(prop)
        _CHILDREN[key] = getattr(validator, "data_class", None)
    return _CHILDREN[key]


def _coerced(kind: type[Any], props: dict[str, Any]) -> dict[str, Any]:
    """``props`` as a validated ``kind`` holds them: keys in its ``__init__``'s order, ``None``
    left out, nested dicts of compound properties coerced alike."""
    order = _property_order(kind)
    out: dict[str, Any] = {}
    for k in sorted((k for k, v in props.items() if v is not None), key=order.__getitem__):
        v = props[k]
        child = _child(kind, k) if isinstance(v, dict) else None
        out[k] = _coerced(child, v) if child is not None else _fresh(v)
    return out


def _subplot_axis(key: str, props: dict[str, Any]) -> dict[str, Any]:
    """A subplot axis (``yaxis2``...) as ``go.Layout`` coerces it."""
    kind = {"x": go.layout.XAxis, "y": go.layout.YAxis}.get(key[:1])
    if kind is None or not key[1:].startswith("axis") or not key[5:].isdigit():
        raise ValueError(f"not a layout property: {key}")
    order = _property_order(kind)
    out: dict[str, Any] = {}
    for k in sorted((k for k, v in props.items() if v is not None), key=order.__getitem__):
        v = props[k]
        out[k] = {"text": v} if k == "title" and isinstance(v, str) else _fresh(v)
    return out


def _merge(layout: dict[str, Any], props: dict[str, Any]) -> None:
    """``go.Figure.update_layout(**props)`` on the dicts (validated: ``None`` sets nothing, an
    axis ``title`` string becomes ``{"text": ...}``)."""
    for key, value in props.items():
        if value is None:
            continue
        if isinstance(value, dict):
            into = layout.setdefault(key, {})
            for sub, v in value.items():
                if v is None:
                    continue
                into[sub] = {"text": v} if sub == "title" and isinstance(v, str) else _fresh(v)
        else:
            layout[key] = _fresh(value)


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
