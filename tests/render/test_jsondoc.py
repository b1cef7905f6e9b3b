"""render/jsondoc.py: the pcapline/1 document, checked against the contract in DESIGN.md."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
from contract_pcapline1 import check_document
from synthetic_analysis import T0, connection_row, make_analysis

from pcapline.model import Finding, Side
from pcapline.render.jsondoc import document, dumps, plain


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
    assert refused["fate"] == "refused" and refused["closer"] is None and refused["reset_by"] == "server"
    assert refused["duration"] == pytest.approx(0.0003)
    assert refused["counts"]["resets"] == 1
    assert refused["events"] == [
        {"frame": 11, "time": (T0 + 11_000_000) / 1e9, "from": "client", "kind": "syn", "note": ""},
        {"frame": 12, "time": (T0 + 12_000_000) / 1e9, "from": "server", "kind": "rst", "note": "answered the SYN"},
    ]
    ka = doc["connections"][2]
    assert ka["client"] == {"ip": "2001:db8::1", "port": 40002}
    assert ka["inferred"] == {"keepalive": {"idle": 5.0, "interval": 3.0, "count": 3}}
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
        {"kind": "nat_timestamp", "summary": "SYNs from 192.0.2.7 dropped", "connections": [0, 2], "ip": "192.0.2.7"}
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
