"""The shipped JSON Schemas (src/pcapline/schemas/) against real output.

Every sample capture's ``pcapline/1`` document (whole and filtered), the small behaviour
captures of tests/captures/, the corpus (when present) and a scan of the samples must
validate; the schemas are closed objects, so a key docs/contract.md does not list fails.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import analysed
import corpus_analysis
import jsonschema
import pytest
from contract_pcapline1 import check_document
from needs import CORPUS, CORPUS_MARKS

from pcapline import Analysis, analyze
from pcapline.cli import run
from pcapline.model import SCAN_SCHEMA, SCHEMA, EventKind, Fate, SkipReason
from pcapline.schemas import FILES, load, schema_text

REPO = Path(__file__).resolve().parents[1]
SAMPLES = sorted(
    p
    for p in (REPO / "sample_captures").rglob("*")
    if p.is_file() and not p.name.endswith((".json", ".md", ".txt", ".py"))
)
SMALL = sorted((REPO / "tests" / "captures").glob("*.pcap*"))


def validator(name: str) -> jsonschema.Draft202012Validator:
    schema = load(name)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


PCAPLINE1 = validator(SCHEMA)
SCAN1 = validator(SCAN_SCHEMA)


def errors(v: jsonschema.Draft202012Validator, doc: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in v.iter_errors(doc)]


def test_shipped_schemas_are_what_the_generator_writes() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "tools" / "make_schemas.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_schemas_carry_the_model_vocabularies() -> None:
    conn = load(SCHEMA)["properties"]["connections"]["items"]["properties"]
    assert conn["fate"]["enum"] == [f.value for f in Fate]
    assert conn["events"]["items"]["properties"]["kind"]["enum"] == [k.value for k in EventKind]
    skipped = load(SCHEMA)["properties"]["capture"]["properties"]["skipped"]
    assert skipped["propertyNames"]["enum"] == [r.value for r in SkipReason]


def test_our_objects_are_closed() -> None:
    """additionalProperties false on every object schema except the maps keyed by vocabulary."""

    def walk(node: Any, where: str) -> list[str]:
        open_ = []
        if isinstance(node, dict):
            closed = node.get("additionalProperties") is False
            if node.get("type") == "object" and "propertyNames" not in node and not closed:
                open_.append(where)
            for key, value in node.items():
                open_ += walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                open_ += walk(value, f"{where}/{i}")
        return open_

    for name in FILES:
        assert walk(load(name), name) == []


@pytest.mark.parametrize("name", list(FILES))
def test_schema_command_prints_the_shipped_file(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["schema", name]) == 0
    out = capsys.readouterr().out
    assert out == schema_text(name)
    assert json.loads(out)["$id"].endswith(FILES[name])


def test_schema_command_default_and_unknown(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["schema"]) == 0
    assert json.loads(capsys.readouterr().out)["properties"]["schema"]["const"] == SCHEMA
    assert run(["schema", "pcapline/2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("pcapline: error: unknown schema")


def test_a_key_outside_the_contract_fails() -> None:
    """Closed objects make the schema a real check: an extra key anywhere is an error."""
    doc = analyze(REPO / "sample_captures" / "closed-client-first.pcap").to_dict()
    assert errors(PCAPLINE1, doc) == []
    doc["connections"][0]["ja3"] = "771,4865-4866,0-23,29,0"
    doc["capture"]["comment"] = "x"
    doc["capture"]["quality"]["pcap_drops"] = 0
    found = errors(PCAPLINE1, doc)
    assert len(found) == 3, found
    assert all("Additional properties" in e for e in found), found


def test_keepalive_idle_may_be_unknown_and_nothing_else_may_be_null() -> None:
    keepalive = load(SCHEMA)["properties"]["connections"]["items"]["properties"]["inferred"]
    ka = keepalive["properties"]["keepalive"]
    doc = {"idle": None, "interval": None, "count": None}
    assert not list(jsonschema.Draft202012Validator(ka).iter_errors(doc))
    assert list(jsonschema.Draft202012Validator(ka).iter_errors({**doc, "idle": "2"}))


@pytest.mark.parametrize("path", SAMPLES + SMALL, ids=lambda p: p.name)
def test_every_sample_validates(path: Path) -> None:
    analysis = analysed.whole(path)
    doc = json.loads(analysis.to_json())
    assert errors(PCAPLINE1, doc) == []
    check_document(doc)
    if len(analysis.connections):
        first = int(analysis.connections["id"].iloc[0])
        filtered = json.loads(analysis.select(stream=first).to_json())
        assert errors(PCAPLINE1, filtered) == []
        check_document(filtered)
        assert filtered["filter"] == {
            "host": None,
            "port": None,
            "streams": [first],
            "connections_in_capture": len(analysis.connections),
        }


def test_scan_of_the_samples_validates(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["scan", str(REPO / "sample_captures"), "--workers", "1", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert errors(SCAN1, doc) == []
    assert len(doc["captures"]) == len(SAMPLES)
    assert any(c["findings"] for c in doc["captures"])  # the nat/ captures: findings validated


def test_scan_error_rows_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.pcap").write_bytes(b"not a capture at all")
    assert run(["scan", str(tmp_path), "--format", "json"]) == 2  # not one capture analysed
    doc = json.loads(capsys.readouterr().out)
    assert errors(SCAN1, doc) == []
    assert doc["captures"][0]["error"] and doc["captures"][0]["quality"] is None


@pytest.mark.slow
@pytest.mark.xdist_group("corpus-analysis")  # one shared analysis of the corpus (one worker)
@pytest.mark.parametrize("marks", [pytest.param(None, marks=CORPUS_MARKS)])
def test_every_corpus_capture_with_tcp_validates(marks: None) -> None:
    """Read in place (never copied): every corpus capture tshark finds TCP in."""
    captures = corpus_analysis.answers(_SCHEMA)
    assert len(captures) > 500
    bad = {}
    for capture in captures:  # a CaptureError (refused) is allowed; anything else is listed
        if capture.error is not None:
            bad[str(capture.path)] = [capture.error]
        elif not capture.refused and capture.by_check[_SCHEMA] is not None:
            bad[str(capture.path.relative_to(CORPUS))] = capture.by_check[_SCHEMA]
    assert bad == {}


def _schema_errors(path: Path, analysis: Analysis) -> list[str] | None:
    """One corpus capture's JSON against the schema (run on the shared corpus analysis,
    tests/corpus_analysis.py): None when it validates, else its first errors."""
    found = errors(PCAPLINE1, json.loads(analysis.to_json()))
    return found[:3] if found else None


_SCHEMA = "schemas: the pcapline/1 document validates"
corpus_analysis.register(_SCHEMA, _schema_errors)
