"""The expected files in sample_captures/ are well-formed, and every capture they name exists.

Whether pcapline's verdicts MATCH these expectations is checked elsewhere; this module only
guards the ground truth itself (written by tools/samplegen from how each scenario was built).
"""

from __future__ import annotations

import json
import re
import zlib
from pathlib import Path
from typing import Any

import pytest

from pcapline.model import CAUSES, Counts, Fate, Side

SAMPLES = Path(__file__).resolve().parents[1] / "sample_captures"
EXPECTED = sorted(SAMPLES.glob("*.expected.json"))
COUNT_KEYS = set(Counts.__dataclass_fields__)
FATES = {f.value for f in Fate}
CAPTURE_SUFFIX = re.compile(r"\.(pcap|pcapng)(\.(gz|bz2|xz|zst))?$")
TOP_KEYS = {
    "capture",
    "scenario",
    "captured_at",
    "kernel",
    "settings",
    "capture_format",
    "connections",
    "connection_count",
    "notes",
    "observed_by_sockets",
}


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def test_there_are_expectations() -> None:
    assert len(EXPECTED) >= 20


@pytest.mark.parametrize("path", EXPECTED, ids=lambda p: p.name)
def test_expected_file_shape(path: Path) -> None:
    data = _load(path)
    assert set(data) >= TOP_KEYS, TOP_KEYS - set(data)
    assert CAPTURE_SUFFIX.search(data["capture"]), data["capture"]
    assert path.name == data["capture"].split(".pcap", 1)[0] + ".expected.json"
    assert data["captured_at"] in {"client", "server", "router", "any"}
    assert isinstance(data["settings"], dict)
    assert isinstance(data["connection_count"], int) and data["connection_count"] >= 1
    conns = data["connections"]
    assert conns, "at least one expected connection"
    assert len(conns) <= data["connection_count"]
    matches = [json.dumps(c["match"], sort_keys=True) for c in conns]
    assert len(set(matches)) == len(matches), "each expected row matches a different connection"
    for conn in conns:
        _check_connection(conn)


def _check_connection(conn: dict[str, Any]) -> None:
    match = conn["match"]
    assert set(match) in ({"client_port"}, {"index"}), match
    assert all(isinstance(v, int) and v >= 0 for v in match.values())
    assert conn["fate"] in FATES
    sides = {s.value for s in Side}
    # DESIGN.md: closer only for closed / half_closed; "both" only for closer.
    if conn["fate"] in {"closed", "half_closed"}:
        assert conn["closer"] in sides
    else:
        assert conn["closer"] is None
    assert conn["reset_by"] in {None, "client", "server"}
    assert set(conn["counts"]) <= COUNT_KEYS
    for key, value in conn["counts"].items():
        if isinstance(value, dict):
            assert set(value) == {"min", "max"}, (key, value)
            lo, hi = value["min"], value["max"]
            assert lo is None or (isinstance(lo, int) and lo >= 0)
            assert hi is None or (isinstance(hi, int) and hi >= 0)
            assert lo is None or hi is None or lo <= hi
        else:
            assert isinstance(value, int) and value >= 0, (key, value)
    if conn["reset_by"] is not None and "resets" in conn["counts"]:
        resets = conn["counts"]["resets"]
        assert (resets if isinstance(resets, int) else (resets["max"] or 1)) >= 1
    assert isinstance(conn["note"], str) and conn["note"]
    # The cause the scenario made (model.CAUSES; null: none may be claimed) and its words.
    assert conn.get("cause") is None or conn["cause"] in CAUSES, conn.get("cause")
    explains = conn.get("explains", [])
    assert isinstance(explains, list) and all(isinstance(w, str) and w for w in explains)


@pytest.mark.parametrize("path", EXPECTED, ids=lambda p: p.name)
def test_capture_exists_and_is_a_capture(path: Path) -> None:
    data = _load(path)
    capture = SAMPLES / data["capture"]
    assert capture.is_file(), f"{capture.name} missing"
    head = capture.read_bytes()[:6]
    magics = (
        b"\xd4\xc3\xb2\xa1",
        b"\xa1\xb2\xc3\xd4",
        b"\x4d\x3c\xb2\xa1",
        b"\xa1\xb2\x3c\x4d",  # pcap us/ns
        b"\x0a\x0d\x0d\x0a",  # pcapng
        b"\x1f\x8b",
        b"BZh",
        b"\xfd7zXZ",
        b"\x28\xb5\x2f\xfd",  # gzip, bzip2, xz, zstd
    )
    assert head.startswith(magics), f"{capture.name}: not a capture ({head!r})"


def test_every_capture_has_an_expected_file() -> None:
    named = {_load(p)["capture"] for p in EXPECTED}
    on_disk = {p.name for p in SAMPLES.iterdir() if CAPTURE_SUFFIX.search(p.name)}
    assert on_disk == named, {"without expected file": on_disk - named, "missing": named - on_disk}


def test_readme_lists_every_capture() -> None:
    readme = (SAMPLES / "README.md").read_text()
    for path in EXPECTED:
        assert f"`{_load(path)['capture']}`" in readme


def test_total_size_stays_small() -> None:
    # What a checkout holds, and what git stores (zlib): the payloads tools send are mostly
    # zeros, so the stored weight is a small fraction of the files' and the one that grows a
    # clone. Both stay bounded: keep new samples small (snaplen 96, few packets).
    files = [p for p in SAMPLES.iterdir() if p.is_file()]
    total = sum(p.stat().st_size for p in files)
    assert total < 8 * 1024 * 1024, total
    stored = sum(len(zlib.compress(p.read_bytes(), 6)) for p in files)
    assert stored < 1024 * 1024, stored


def test_every_fate_has_a_sample() -> None:
    seen = {c["fate"] for p in EXPECTED for c in _load(p)["connections"]}
    assert seen == FATES, FATES - seen
