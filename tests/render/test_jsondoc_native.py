"""render/jsondoc.py in the compiled core (``_native.json_text`` and ``fill``) against its
Python path and json.dumps: the same text for every value either one meets, and the same
outcome (a text or an exception) where the core steps aside for the Python path."""

from __future__ import annotations

import io
import json
import math
import random
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from builders.analysis import T0, connection_row, event_row, make_analysis
from hypothesis import given, settings
from hypothesis import strategies as st

from pcapline import analyze
from pcapline.analysis import Analysis
from pcapline.model import EventKind, Side
from pcapline.read import native
from pcapline.render import jsondoc
from pcapline.render.jsondoc import connection_texts, document, dumps, write

pytestmark = pytest.mark.skipif(native.core is None, reason="pcapline.read._native not built")

SAMPLES = Path(__file__).resolve().parents[2] / "sample_captures"

FLOATS = [
    0.0,
    -0.0,
    1e16,
    1e-7,
    0.1 + 0.2,
    5e-324,
    1.7976931348623157e308,
    2.2250738585072014e-308,
    1e-4,
    9.999999999999999e-05,
    9007199254740992.0,  # 2**53: the end of the core's own float path
    9007199254740991.0,
    4503599627370496.0,  # 2**52
    2.0**50 + 0.25,  # halfway cases: the general algorithm decides them
    0.5,
    2.5,
    1796386881.119733,
    T0 / 1e9,
    123456789012345.6,
    1e15,
    0.000123,
]
INTS = [0, -1, 2**63 - 1, -(2**63), 2**63, -(2**63) - 1, 2**64, 10**30, -(10**30)]
STRINGS = [
    "",
    'q"uote \\ back',
    "\x00\x01\x1f\x7f \b\f\n\r\t",
    "ünïcode — \u2028\u2029",
    "\U0001f600 astral",
    "lone \ud800 surrogate",
    "latin-1 only: é" * 50,
    'latin-1 é, then "escapes"\t\x02 mid-way',
    "no escape in a long run " * 40,
]
NESTED = [
    {},
    [],
    (),
    {"a": []},
    {"a": {}, "b": [{}], "c": [[]]},
    {"keepalive": {"idle": 5.097, "interval": None, "count": None, "by": "client"}},
    [1, 2.5, "x", None, True, False, (3, [4, {"k": "v"}])],
    {"é\n": ["\U0001f600", -0.0, 2**70]},
    ["\U0001f600 first: the text is wide", 'then one byte "quoted"\n', "plain"],
]
INDENTS = [2, None, 0, 4, -1]


@pytest.fixture
def python_path(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Callable[[], Any]], Any]]:
    """``python_path(call)``: ``call()`` with the compiled core switched off."""

    def run(call: Callable[[], Any]) -> Any:
        monkeypatch.setattr(native, "active", False)
        try:
            return call()
        finally:
            monkeypatch.setattr(native, "active", True)

    monkeypatch.setattr(native, "active", True)
    yield run


def _utf8(texts: str | list[str]) -> bytes:
    """The bytes written out: a str built with a wrong kind (ASCII holding Latin-1) compares
    equal to the right one but encodes differently."""
    joined = texts if isinstance(texts, str) else "".join(texts)
    return joined.encode("utf-8", "surrogatepass")


def _outcome(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except Exception as error:  # the exception is the outcome compared
        return type(error)


@pytest.mark.parametrize("indent", INDENTS)
@pytest.mark.parametrize("value", FLOATS + INTS + STRINGS + NESTED, ids=repr)
def test_json_text_is_the_python_layout_and_json_dumps(value: Any, indent: int | None) -> None:
    python = jsondoc._Layout(indent)._nested
    for depth in (0, 3):
        in_c = native.core.json_text(value, depth, indent)
        assert in_c == python(value, depth)
        assert _utf8(in_c) == _utf8(python(value, depth))
    dumped = json.dumps(value, indent=indent, ensure_ascii=False, allow_nan=False)
    assert native.core.json_text(value, 0, indent) == dumped


@pytest.mark.parametrize("value", [*FLOATS, *(-x for x in FLOATS)], ids=repr)
def test_float_text_is_float_repr(value: float) -> None:
    assert native.core.json_text(value, 0, None) == float.__repr__(value)


@settings(max_examples=3000, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_any_finite_float_is_written_as_repr(value: float) -> None:
    assert native.core.json_text(value, 0, None) == float.__repr__(value)


def test_many_floats_of_every_kind_are_written_as_repr() -> None:
    """Bit patterns, capture times (ns / 1e9), rounded measures and dyadic values near the
    core's own path's edges, a hundred thousand of them in one ``fill`` column."""
    rng = random.Random(11)
    values: list[float] = []
    while len(values) < 100_000:
        pick = len(values) % 5
        if pick == 0:
            x = struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]
            if not math.isfinite(x):
                continue
        elif pick == 1:
            x = rng.randrange(T0, T0 + 10**18, rng.choice([1, 1000])) / 1e9
        elif pick == 2:
            x = round(rng.uniform(0, 10 ** rng.randint(-4, 15)), rng.randint(0, 9))
        elif pick == 3:
            x = math.ldexp(rng.getrandbits(53) | 1, rng.randint(-70, 2))
        else:
            x = rng.randrange(0, 10**13) / 1e9
        values.append(x)
    texts = native.core.fill(("", ""), (values,), (0,), None)
    assert texts == list(map(float.__repr__, values))


@pytest.mark.parametrize(
    "value",
    [math.nan, math.inf, -math.inf, [1.0, math.nan], {"x": math.inf}],
    ids=repr,
)
def test_json_text_refuses_what_json_dumps_refuses(value: Any) -> None:
    with pytest.raises(ValueError):
        native.core.json_text(value, 0, 2)
    with pytest.raises(ValueError):
        json.dumps(value, allow_nan=False)


@pytest.mark.parametrize(
    "value",
    [np.float64(0.5), np.int64(3), {1: "int key"}, {None: 1}, {"s": {1, 2}}, object(), b"x"],
    # An object's repr holds its address: name it by its type so every run collects the same ids.
    ids=lambda value: type(value).__name__ if type(value) is object else repr(value),
)
def test_json_text_leaves_what_is_not_json_native_to_python(value: Any) -> None:
    with pytest.raises(TypeError):
        native.core.json_text(value, 0, 2)


@pytest.mark.parametrize(
    "value",
    [math.nan, np.float64(0.25), {1: "int key"}, {"x": [np.int64(7)]}, {"x": math.inf}, 7],
    ids=repr,
)
def test_layout_value_has_one_outcome_on_both_paths(
    value: Any, python_path: Callable[[Callable[[], Any]], Any]
) -> None:
    layout = jsondoc._Layout(2)
    assert _outcome(lambda: layout.value(value, 3)) == python_path(
        lambda: _outcome(lambda: layout.value(value, 3))
    )


def _texts(analysis: Analysis, indent: int | None) -> list[str]:
    return connection_texts(analysis.connections, analysis.events, analysis.delays, indent=indent)


def _written(analysis: Analysis, indent: int | None) -> str:
    out = io.StringIO()
    write(analysis, out, indent=indent)
    return out.getvalue()


@pytest.mark.parametrize(
    "name",
    [
        "closed-client-first.pcap",
        "keepalive-client-idle2-intvl1-cnt3.pcap",
        "persist-timeout-retries2-3.pcap",
        "zero-window-recovers.pcap",
        "format-pcapng-ethernet-and-raw.pcapng",
        "connect-timeout-synretries2-doubling.pcap",
    ],
)
def test_sample_capture_entries_are_the_same_in_c_and_python(
    name: str,
    python_path: Callable[[Callable[[], Any]], Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    analysis = analyze(SAMPLES / name)
    filled = []
    core_fill = native.core.fill

    def spy(*args: Any) -> Any:
        filled.append(len(args[1]))
        return core_fill(*args)

    monkeypatch.setattr(native.core, "fill", spy)
    for indent in (2, None):
        in_c = _texts(analysis, indent)
        assert in_c == python_path(lambda: _texts(analysis, indent))  # noqa: B023
        assert _written(analysis, indent) == dumps(document(analysis), indent=indent)
    # the core laid the entries out (events, delays and the entry itself per chunk)
    assert len(filled) >= 6 and len(in_c) == len(analysis.connections)


def _edge_analysis() -> Analysis:
    rows = [
        connection_row(
            0,
            packets=2**63 - 1,
            bytes_client=-(2**63),
            explanation='say "{}" \\ {0} — ünïcode\nnew line\x01 \U0001f600',
            inferred={"floats": FLOATS, "ints": INTS, "texts": STRINGS},
        ),
        connection_row(1, client_ip="2001:db8::é", inferred=None, explanation=None),  # no events
        connection_row(2, inferred={"nested": NESTED}, caveats=["one", "two \t"]),
    ]
    events = [
        event_row(0, 1, Side.CLIENT, EventKind.SYN, 'q"uote ü \U0001f600'),
        event_row(0, 2**40, Side.SERVER, EventKind.RST, "\x00"),
        event_row(2, 7, Side.CLIENT, EventKind.FIN),
        event_row(2, 8, Side.SERVER, EventKind.FIN, None),  # type: ignore[arg-type]
    ]
    return make_analysis(rows=rows, events=events)


@pytest.mark.parametrize("indent", [2, None, 0])
def test_edge_values_in_the_tables_are_the_same_in_c_and_python(
    indent: int | None, python_path: Callable[[Callable[[], Any]], Any]
) -> None:
    analysis = _edge_analysis()
    in_c = _texts(analysis, indent)
    in_python = python_path(lambda: _texts(analysis, indent))
    assert in_c == in_python and _utf8(in_c) == _utf8(in_python)
    no_events = json.loads(in_c[1])
    assert no_events["events"] == [] and no_events["inferred"] == {}
    assert [e["note"] for e in json.loads(in_c[2])["events"]] == ["", ""]  # a missing note: ""
    assert _written(analysis, indent) == dumps(document(analysis), indent=indent)


@pytest.mark.parametrize(
    "odd",
    [
        {"inferred": {"x": math.nan}},  # plain turns it into null
        {"inferred": {"x": np.float64(0.5)}},
        {"caveats": [3, "text"]},  # str() of each
        {"caveats": ("a", "b")},
        {"packets": np.int64(10), "client_guessed": 1},
    ],
    ids=repr,
)
def test_cells_the_core_steps_aside_for_give_the_python_text(
    odd: dict[str, Any], python_path: Callable[[Callable[[], Any]], Any]
) -> None:
    analysis = make_analysis(rows=[connection_row(0, **odd), connection_row(1)], events=[])
    for indent in (2, None):
        assert _texts(analysis, indent) == python_path(lambda: _texts(analysis, indent))  # noqa: B023
        assert _written(analysis, indent) == dumps(document(analysis), indent=indent)


def test_fill_lays_out_rows_and_groups_as_the_python_slots() -> None:
    layout = jsondoc._Layout(2)
    slots = layout._slots({"a": "a", "b": "b"}, 1)
    values = {"a": [1, 2.5, "x"], "b": [None, [True], {"k": -0.0}]}
    rows = layout._fill(slots, values, {}, in_c=False)
    assert layout._fill(slots, values, {}, in_c=True) == rows
    groups = ([0, 1, 1, 3], [1, 1, 3, 3], ",", "\n]")
    grouped = layout._fill(slots, values, {}, in_c=True, groups=groups)
    assert grouped == layout._fill(slots, values, {}, in_c=False, groups=groups)
    assert grouped == ["[" + rows[0] + "\n]", "[]", "[" + rows[1] + "," + rows[2] + "\n]", "[]"]
    texts = {"b": ["<b0>", "<b1>", "<b2>"]}  # a laid-out text goes in as it is
    assert layout._fill(slots, values, texts, in_c=True)[2] == '{\n  "a": "x",\n  "b": <b2>\n}'


@pytest.mark.parametrize(
    ("columns", "groups", "error"),
    [
        (([1, 2], [3]), None, ValueError),  # columns of different lengths
        (([1, 2], [3, 4]), ([0], [3], ",", "]"), ValueError),  # a group past the rows
        (([1, 2], [3, 4]), ([-1], [1], ",", "]"), ValueError),
        (([1, 2], [3, 4]), ([0, 1], [1], ",", "]"), ValueError),  # starts and ends differ
        (([1, 2], (3, 4)), None, TypeError),  # a column that is not a list
    ],
)
def test_fill_refuses_inconsistent_columns_and_groups(
    columns: tuple[Any, ...], groups: Any, error: type[Exception]
) -> None:
    with pytest.raises(error):
        native.core.fill(("{", ",", "}"), columns, (1, 1), 2, groups)


def test_fill_takes_only_str_as_laid_out_text() -> None:
    with pytest.raises(TypeError):
        native.core.fill(("{", "}"), ([1],), (-1,), 2)
    assert native.core.fill(("{", "}"), (["é"],), (-1,), None) == ["{é}"]


def test_fill_reads_int64_and_float64_arrays_as_the_lists_they_hold() -> None:
    """A numpy column is laid out as its ``tolist`` would be, NaN as null (``_listed``)."""
    layout = jsondoc._Layout(2)
    slots = layout._slots({"i": "i", "f": "f"}, 1)
    ints = np.array([0, -1, 2**63 - 1, -(2**63), 10**18], dtype=np.int64)
    floats = np.array([1796386881.119733, -0.0, 5e-324, 1e17, np.nan], dtype=np.float64)
    as_lists = {"i": jsondoc._listed(ints), "f": jsondoc._listed(floats)}
    assert as_lists["f"][-1] is None
    expected = layout._fill(slots, as_lists, {}, in_c=False)
    arrays = {"i": ints, "f": floats}
    assert layout._fill(slots, arrays, {}, in_c=True) == expected
    assert layout._fill(slots, arrays, {}, in_c=False) == expected
    groups = ([0, 2], [2, 5], ",", "\n]")
    assert layout._fill(slots, arrays, {}, in_c=True, groups=groups) == layout._fill(
        slots, as_lists, {}, in_c=False, groups=groups
    )


@pytest.mark.parametrize(
    ("column", "error"),
    [
        (np.array([1.0, np.inf]), ValueError),  # json.dumps refuses it: the Python path decides
        (np.array([1, 2], dtype=np.int32), TypeError),
        (np.array([1.0, 2.0], dtype=np.float32), TypeError),
        (np.array([[1, 2]], dtype=np.int64).T, TypeError),  # two dimensions
        (np.arange(4, dtype=np.int64)[::2], TypeError),  # strided
    ],
)
def test_fill_refuses_arrays_it_does_not_read(column: np.ndarray, error: type[Exception]) -> None:
    with pytest.raises(error):
        native.core.fill(("{", "}"), (column,), (1,), 2)
    with pytest.raises(TypeError):  # an array is never a laid-out text
        native.core.fill(("{", "}"), (np.zeros(2, dtype=np.int64),), (-1,), 2)


def test_values_as_arrays_hold_the_values_of_the_lists() -> None:
    """``_values(arrays=True)`` (the layout's) and the lists ``connection_doc`` reads agree,
    and columns an int64 cannot hold exactly stay lists."""
    rows = [connection_row(3), connection_row(4)]
    table = make_analysis(rows=rows, events=[]).connections.assign(
        packets=np.array([2**64 - 1, 1], dtype=np.uint64),  # past int64: a list
        bytes_client=np.array([7, 8], dtype=np.int32),
        start_ns=np.array([1796386881119733000, 5], dtype=np.int64),
        end_ns=np.array([1796387032306902123, 2**62], dtype=np.int64),
    )
    lists = jsondoc._values(table)
    arrays = jsondoc._values(table, arrays=True)
    assert isinstance(arrays["start"], np.ndarray) and isinstance(
        arrays["bytes_client"], np.ndarray
    )
    assert isinstance(arrays["packets"], list)
    for key, column in lists.items():
        assert jsondoc._listed(arrays[key]) == column, key
    before_1970 = table.assign(start_ns=np.array([-5, 0], dtype=np.int64))
    times = jsondoc._values(before_1970, arrays=True)
    assert isinstance(times["duration"], list)  # an int64 difference might overflow
    assert times["duration"] == jsondoc._values(before_1970)["duration"]
