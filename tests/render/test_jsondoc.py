"""render/jsondoc.py: the pcapline/1 document, checked against the contract in DESIGN.md."""

from __future__ import annotations

import dataclasses
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from builders.analysis import T0, connection_row, event_row, make_analysis
from contract_pcapline1 import check_document

from pcapline import analyze
from pcapline.analysis import Analysis
from pcapline.model import EventKind, Finding, Side
from pcapline.render import jsondoc
from pcapline.render.jsondoc import (
    _in_order,
    connection_chunks,
    connection_texts,
    document,
    dumps,
    plain,
    write,
)


def test_document_meets_the_contract() -> None:
    check_document(document(make_analysis()))


def test_contract_checker_catches_a_missing_key() -> None:
    doc = document(make_analysis())
    del doc["connections"][0]["counts"]["resets"]
    with pytest.raises(AssertionError, match="counts"):
        check_document(doc)


def test_values_are_rendered_from_the_tables() -> None:
    doc = document(make_analysis())
    cap = doc["capture"]
    assert cap["first_time"] == T0 / 1e9
    assert cap["last_time"] == T0 / 1e9 + 16.0
    # skipped in SkipReason declaration order: not_tcp is declared before truncated_record
    assert list(cap["skipped"].items()) == [("not_tcp", 4), ("truncated_record", 1)]
    refused = doc["connections"][1]
    assert refused["server"] == {"ip": "10.0.0.2", "port": 81}
    assert (
        refused["fate"] == "refused"
        and refused["closer"] is None
        and refused["reset_by"] == "server"
    )
    assert refused["duration"] == pytest.approx(0.0003)
    assert refused["counts"]["resets"] == 1
    assert refused["events"] == [
        {"frame": 11, "time": (T0 + 11_000_000) / 1e9, "from": "client", "kind": "syn", "note": ""},
        {
            "frame": 12,
            "time": (T0 + 12_000_000) / 1e9,
            "from": "server",
            "kind": "rst",
            "note": "answered the SYN",
        },
    ]
    ka = doc["connections"][2]
    assert ka["client"] == {"ip": "2001:db8::1", "port": 40002}
    assert ka["inferred"] == {
        "keepalive": {"idle": 5.0, "interval": 3.0, "count": 3, "by": "client"}
    }
    assert ka["duration"] == pytest.approx(14.0)


def test_connections_sorted_by_id_whatever_the_table_order() -> None:
    rows = [connection_row(5), connection_row(2), connection_row(9)]
    doc = document(make_analysis(rows=rows, events=[]))
    assert [c["id"] for c in doc["connections"]] == [2, 5, 9]
    assert all(c["events"] == [] for c in doc["connections"])


def test_output_is_deterministic_and_strict_json() -> None:
    first = make_analysis().to_json()
    assert first == make_analysis().to_json()
    assert first.endswith("\n")
    json.loads(first)


def test_findings_carry_their_details() -> None:
    finding = Finding("nat_timestamp", "SYNs from 192.0.2.7 dropped", (0, 2), {"ip": "192.0.2.7"})
    doc = document(make_analysis(findings=[finding]))
    assert doc["findings"] == [
        {
            "kind": "nat_timestamp",
            "summary": "SYNs from 192.0.2.7 dropped",
            "connections": [0, 2],
            "ip": "192.0.2.7",
        }
    ]
    check_document(doc)


def test_finding_outside_the_selection_is_dropped_by_select() -> None:
    inside = Finding("listen_overflow", "accept queue full", (1,))
    outside = Finding("syn_flood", "many SYNs", (7,))
    global_one = Finding("time_wait_churn", "port reuse", ())
    selected = make_analysis(findings=[inside, outside, global_one]).select(stream=[1])
    assert [f.kind for f in selected.findings] == ["listen_overflow", "time_wait_churn"]


@dataclasses.dataclass(frozen=True)
class _Settings:
    idle: float
    interval: float
    count: int | None


def test_plain_turns_python_and_numpy_values_into_json() -> None:
    value = {
        "ka": _Settings(np.float64(7.5), 1.0, None),
        "side": Side.CLIENT,
        "series": (np.int64(1), 2),
        "nan": math.nan,
        "flag": np.bool_(True),
        3: {"x"},
    }
    assert plain(value) == {
        "ka": {"idle": 7.5, "interval": 1.0, "count": None},
        "side": "client",
        "series": [1, 2],
        "nan": None,
        "flag": True,
        "3": ["x"],
    }
    dumps(plain(value))  # strict: no NaN left


def test_missing_inferred_and_explanation_render_as_empty() -> None:
    rows = [connection_row(0, inferred=None, explanation=None)]
    doc = document(make_analysis(rows=rows, events=[]))
    assert doc["connections"][0]["inferred"] == {}
    assert doc["connections"][0]["explanation"] == ""


# --- the streamed writer: the same bytes as json.dumps of the whole document ----------------

SAMPLES = Path(__file__).resolve().parents[2] / "sample_captures"
# Closes, resets, timeouts, keepalive (inferred), zero-window, IPv6, a compressed file.
SAMPLE_NAMES = (
    "closed-client-first.pcap",
    "compressed-gz.pcap.gz",
    "connect-timeout-synretries2-doubling.pcap",
    "format-pcapng-ethernet-and-raw.pcapng",
    "half-closed-client-shutdown.pcap",
    "keepalive-client-idle2-intvl1-cnt3.pcap",
    "persist-timeout-retries2-3.pcap",
    "zero-window-recovers.pcap",
)


def _written(analysis: Analysis, indent: int | None) -> str:
    out = io.StringIO()
    write(analysis, out, indent=indent)
    return out.getvalue()


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_writer_gives_the_bytes_of_dumps_on_sample_captures(name: str) -> None:
    analysis = analyze(SAMPLES / name)
    assert len(analysis.connections) > 0
    for indent in (2, None):
        straightforward = dumps(document(analysis), indent=indent)
        assert _written(analysis, indent) == straightforward
        assert json.loads(analysis.to_json(indent=indent)) == json.loads(straightforward)


def test_the_samples_named_above_exist_and_cover_inferred_and_events() -> None:
    docs = [document(analyze(SAMPLES / n)) for n in SAMPLE_NAMES]
    conns = [c for d in docs for c in d["connections"]]
    assert any(c["inferred"] for c in conns)  # the json.dumps-at-depth part is exercised
    assert any(len(c["events"]) > 1 for c in conns)


@pytest.mark.parametrize("indent", [2, None, 0, 4])
def test_writer_matches_dumps_for_every_indent_on_awkward_values(indent: int | None) -> None:
    rows = [
        connection_row(3, explanation='say "{}" \\ {0} — ünïcode\nnew line', closer=None),
        connection_row(
            1, inferred={"keepalive": {"idle": 5.0, "count": None}, "series": [1, 2.5, "x"]}
        ),
        connection_row(
            2, client_guessed=True, inferred=None, explanation=None, fate="reset", reset_by="server"
        ),
    ]
    events = [
        event_row(3, 40, Side.SERVER, EventKind.RST, 'note with "quotes" and {braces}'),
        event_row(1, 12, Side.CLIENT, EventKind.FIN),
        event_row(1, 11, Side.CLIENT, EventKind.SYN),  # out of frame order: the writer sorts
        event_row(99, 5, Side.CLIENT, EventKind.SYN),  # no such connection: not in the document
    ]
    finding = Finding(
        "time_wait_churn", "ports reused", (1, 3), {"reuses": [1, 2], "ip": "10.0.0.1"}
    )
    analysis = make_analysis(rows=rows, events=events, findings=[finding])
    text = _written(analysis, indent)
    assert text == dumps(document(analysis), indent=indent)
    doc = json.loads(text)
    assert [c["id"] for c in doc["connections"]] == [1, 2, 3]
    assert [e["frame"] for e in doc["connections"][0]["events"]] == [11, 12]
    assert doc["connections"][2]["explanation"].endswith("ünïcode\nnew line")


def test_writer_with_no_connections_and_no_findings() -> None:
    analysis = make_analysis(rows=[], events=[])
    for indent in (2, None):
        assert _written(analysis, indent) == dumps(document(analysis), indent=indent)
    assert json.loads(_written(analysis, 2))["connections"] == []


def test_chunks_split_connections_and_their_events_correctly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    whole = dumps(document(make_analysis()))
    chunks = list(connection_chunks(make_analysis(), chunk=2))
    assert [[c["id"] for c in chunk] for chunk in chunks] == [[0, 1], [2]]
    assert [e["frame"] for e in chunks[1][0]["events"]] == [24, 30]
    monkeypatch.setattr(jsondoc, "CHUNK", 1)
    assert _written(make_analysis(), 2) == whole


def test_entries_written_a_few_at_a_time_give_the_same_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A chunk's entries go out in pieces of about WRITE_CHARS: one entry per piece, or a
    piece of two entries then one, the document is the same."""
    whole = {indent: dumps(document(make_analysis()), indent=indent) for indent in (2, None)}
    entries = connection_texts(make_analysis().connections, make_analysis().events, None)
    sizes = [len(text) for text in entries]
    for chars in (1, sizes[0] + sizes[1]):
        monkeypatch.setattr(jsondoc, "WRITE_CHARS", chars)
        for indent in (2, None):
            assert _written(make_analysis(), indent) == whole[indent]
    assert [len(p) for p in jsondoc._pieces(entries, sizes[0] + sizes[1])] == [2, 1]
    assert [len(p) for p in jsondoc._pieces(entries, 1)] == [1, 1, 1]
    assert list(jsondoc._pieces([], 1)) == []


def test_a_column_of_unexpected_values_falls_back_to_json_dumps() -> None:
    layout = jsondoc._Layout(2)
    assert layout._scalars([3, 4]) == ["3", "4"]
    # not all ints / a numpy float (a float subclass): the C loops step aside, json.dumps decides
    assert layout._scalars([3, True, None]) == ["3", "true", "null"]
    assert layout._scalars([0.5, np.float64(0.25)]) == ["0.5", "0.25"]
    assert layout._scalars([{"a": [1]}], 3) == [
        json.dumps({"a": [1]}, indent=2).replace("\n", "\n      ")
    ]
    with pytest.raises(ValueError):  # allow_nan=False still refuses the infinity
        layout._scalars([1.0, math.inf])
    with pytest.raises(ValueError):
        layout._scalars([1.0, None, math.nan])


def test_odd_values_in_the_tables_give_the_bytes_of_dumps() -> None:
    odd = {"client_guessed": 1, "packets": np.int64(10), "inferred": {"x": np.float64(0.5)}}
    rows = [connection_row(0, **odd), connection_row(1, explanation=None)]
    analysis = make_analysis(rows=rows, events=[])
    assert _written(analysis, 2) == dumps(document(analysis), indent=2)


@pytest.mark.parametrize(
    "column",
    [
        [1, None, 3],
        ["a", None, 'q"uote'],
        [0.5, None, -0.0, 1e-06, 1e16],
        [True, False, True],
        [1, True, None, "x", 2.5],  # mixed scalars: a look-up per value
        [None, None],
        [],
    ],
)
def test_scalar_columns_are_laid_out_as_json_dumps_writes_each_value(column: list[Any]) -> None:
    for indent in (2, None):
        layout = jsondoc._Layout(indent)
        assert layout._scalars(column) == [json.dumps(x, ensure_ascii=False) for x in column]


def test_slots_fill_refuses_columns_of_different_lengths() -> None:
    slots = jsondoc._Layout(2)._slots({"a": "a", "b": "b"}, 1)
    assert slots.fill({"a": ["1", "2"], "b": ["3", "4"]})[1] == '{\n  "a": 2,\n  "b": 4\n}'
    with pytest.raises(ValueError):
        slots.fill({"a": ["1", "2"], "b": ["3"]})


@pytest.mark.parametrize("seed", range(5))
def test_in_order_is_the_stable_sort(seed: int) -> None:
    """``_in_order`` gives what a stable sort by the keys gives, and the table itself (no
    copy) when it is in that order already."""
    rng = np.random.default_rng(seed)
    table = pd.DataFrame(
        {
            "conn": rng.integers(0, 5, size=40),
            "frame": rng.integers(0, 8, size=40),
            "note": [f"n{i}" for i in range(40)],
        }
    )
    expected = table.sort_values(["conn", "frame"], kind="stable")
    assert _in_order(table, "conn", "frame").equals(expected)
    assert _in_order(expected, "conn", "frame") is expected
    assert _in_order(expected, "conn") is expected
    by_frame = expected.sort_values("frame", kind="stable")
    assert _in_order(by_frame, "conn", "frame").equals(expected)
