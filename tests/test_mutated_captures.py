"""Mutated captures through the whole command line: no traceback, one clear line, valid JSON
(tests/read/test_fuzz.py fuzzes the reader alone, with crafted seeds).

A fixed seed makes a bounded, repeatable set of damaged files from the sample captures:
truncations (anywhere, and inside the last block), bit flips, and corrupted length fields
(pcap record lengths, pcapng block and captured lengths). For each, ``pcapline analyze
--format json`` must exit 0 (stderr: only ``pcapline: warning:`` lines) or 2 (stderr: exactly
one ``pcapline: error:`` line), never 3 (a bug); any JSON written validates against the
shipped schema and the contract checks; the text and CSV renderers run on it too.
``FUZZ_CASES`` sets how many (default 200; the ``slow`` test runs 300 more from another seed).
The seeds are fixed, so a run repeats the same files and guards against regressions; the slow
set ran 1,000 cases until the suite had to stay well under ten minutes. Raise FUZZ_CASES for a
deeper local run.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import struct
import tempfile
from pathlib import Path

import jsonschema
import pytest
from contract_pcapline1 import check_document
from fanout import over_files

from pcapline import analyze
from pcapline.cli import run
from pcapline.errors import PcaplineError
from pcapline.model import SCHEMA
from pcapline.render.tables import to_csv
from pcapline.render.terminal import TextOptions, render_text
from pcapline.schemas import load

REPO = Path(__file__).resolve().parents[1]
#: Uncompressed sample captures, small ones first (the mutations are of the file bytes).
SEEDS = sorted(
    (
        p
        for p in (REPO / "sample_captures").rglob("*")
        if p.suffix in (".pcap", ".pcapng") and p.stat().st_size < 40_000
    ),
    key=lambda p: (p.stat().st_size, p.name),
)
VALIDATOR = jsonschema.Draft202012Validator(load(SCHEMA))


def length_fields(data: bytes) -> list[tuple[int, str]]:
    """Offsets of the 32-bit length fields (and their byte order) of a pcap or pcapng file."""
    out: list[tuple[int, str]] = []
    if data[:4] == b"\x0a\x0d\x0d\x0a":  # pcapng: block total length, EPB captured length
        order = "<" if data[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
        off = 0
        while off + 12 <= len(data):
            btype, blen = struct.unpack_from(order + "II", data, off)
            out.append((off + 4, order))
            if btype == 6 and off + 24 <= len(data):
                out.append((off + 20, order))
            if blen < 12 or off + blen > len(data):
                break
            out.append((off + blen - 4, order))
            off += blen
        return out
    order = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    off = 24
    while off + 16 <= len(data):  # pcap: incl_len and orig_len of every record
        incl = struct.unpack_from(order + "I", data, off + 8)[0]
        out += [(off + 8, order), (off + 12, order)]
        off += 16 + incl
    return out


def mutate(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    kind = rng.choice(("truncate", "truncate_tail", "bitflip", "length", "length"))
    buf = bytearray(data)
    if kind == "truncate":
        return kind, bytes(buf[: rng.randrange(0, len(buf))])
    if kind == "truncate_tail":  # inside the last ~100 bytes: the last block or record
        return kind, bytes(buf[: max(0, len(buf) - rng.randrange(1, 100))])
    if kind == "bitflip":
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(len(buf))
            buf[i] ^= 1 << rng.randrange(8)
        return kind, bytes(buf)
    fields = length_fields(data)
    if not fields:
        return kind, bytes(buf)
    at, order = rng.choice(fields)
    value = rng.choice(
        (0, 1, 7, 0xFFFFFFFF, 0x7FFFFFFF, rng.randrange(1 << 32), rng.randrange(0, 70000))
    )
    struct.pack_into(order + "I", buf, at, value)
    return kind, bytes(buf)


def cases(count: int, seed: int) -> list[tuple[str, str, bytes]]:
    rng = random.Random(seed)
    seeds = [(p.name, p.read_bytes()) for p in SEEDS]
    out = []
    for _ in range(count):
        name, data = rng.choice(seeds)
        kind, mutated = mutate(data, rng)
        out.append((name, kind, mutated))
    return out


def check_case(case: tuple[str, str, bytes]) -> str | None:
    """One damaged file through the command line (in a fanout worker); what went wrong, or
    None."""
    name, kind, data = case
    with tempfile.TemporaryDirectory() as tmp:
        capture = Path(tmp) / ("fuzz" + Path(name).suffix)
        capture.write_bytes(data)
        out = Path(tmp) / "out.json"
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr):
            status = run(["analyze", str(capture), "--format", "json", "-o", str(out)])
        err = stderr.getvalue()
        where = f"{name} ({kind}, {len(data)} bytes)"
        try:
            _check_outcome(capture, data, status, err, out, where)
        except AssertionError as exc:
            return f"{where}: {exc}"
    return None


def _check_outcome(
    capture: Path, data: bytes, status: int, err: str, out: Path, where: str
) -> None:
    assert status in (0, 2), f"exit {status}: {err}"
    lines = err.splitlines()
    if status == 2:
        assert len(lines) == 1 and lines[0].startswith("pcapline: error: "), err
        assert "Traceback" not in err
        return
    assert all(line.startswith("pcapline: warning: ") for line in lines), err
    doc = json.loads(out.read_text(encoding="utf-8"))
    problems = [f"{list(e.absolute_path)}: {e.message[:160]}" for e in VALIDATOR.iter_errors(doc)]
    assert problems == [], str(problems[:3])
    check_document(doc)
    if len(doc["connections"]) and sum(data) % 4 == 0:  # a quarter of them: the text and CSV too
        try:
            analysis = analyze(capture)
        except PcaplineError as exc:  # pragma: no cover - the CLI just read it
            raise AssertionError("read by the CLI, refused by analyze()") from exc
        render_text(analysis, TextOptions(width=80, limit=0))
        to_csv(analysis)


def _failures(count: int, seed: int) -> list[str]:
    return [f for f in over_files(check_case, cases(count, seed)) if f is not None]


def test_mutated_captures() -> None:
    failures = _failures(int(os.environ.get("FUZZ_CASES", "200")), seed=20261203)
    assert failures == [], "\n".join(failures[:5])


@pytest.mark.slow
def test_mutated_captures_many() -> None:
    failures = _failures(300, seed=12)
    assert failures == [], "\n".join(failures[:5])


def test_length_fields_are_found() -> None:
    """The mutator really hits lengths: every record/block of a seed is listed."""
    pcap = (REPO / "sample_captures" / "refused-no-listener.pcap").read_bytes()
    assert len(length_fields(pcap)) == 2 * 4  # four records: incl_len and orig_len each
    ng = (REPO / "sample_captures" / "format-pcapng-ethernet-and-raw.pcapng").read_bytes()
    fields = length_fields(ng)
    assert len(fields) > 20 and all(struct.unpack_from("<I", ng, at)[0] > 0 for at, _ in fields)


def test_pcapng_cut_inside_a_name_resolution_block_warns(tmp_path: Path) -> None:
    """The file ends inside a non-packet block (NRB, type 4): no frame is lost, but the
    capture is incomplete and says so (it used to read silently)."""
    ng = (REPO / "sample_captures" / "format-pcapng-ethernet-and-raw.pcapng").read_bytes()
    record = struct.pack("<HH", 1, 8) + bytes([10, 0, 0, 1]) + b"a.b\x00" + struct.pack("<HH", 0, 0)
    nrb = struct.pack("<II", 4, 12 + len(record)) + record + struct.pack("<I", 12 + len(record))
    whole = tmp_path / "nrb.pcapng"
    whole.write_bytes(ng + nrb)
    assert analyze(whole).capture.warnings == []
    cut = tmp_path / "nrb-cut.pcapng"
    cut.write_bytes(ng + nrb[:-6])
    analysis = analyze(cut)
    assert analysis.capture.frames == analyze(whole).capture.frames
    assert analysis.capture.warnings == [
        f"file ends inside a name resolution block at byte {len(ng)} ({len(nrb) - 6} of "
        f"{len(nrb)} bytes); the capture may be incomplete"
    ]
