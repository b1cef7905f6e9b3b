"""classify's columnar fast path against its rules, on every sample and corpus capture.

Connections no detector's screen selects are decided columnar (``classify._healthy``). Here
every connection is also run through the detectors and ``RULES`` (``run_all(visit_all=True)``)
and the two verdicts must be the same: fate, closer, reset_by, counts, evidence frames,
inferred settings and explanation. The sample captures are always present; the corpus
(``PCAPLINE_CORPUS``, or ../shared/corpus beside the repository: tests/needs.py) is used when it is there.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from fanout import over_files
from needs import corpus_tcp_files, needs_corpus

from pcapline import classify, explain
from pcapline.decode import decode
from pcapline.detect import run_all
from pcapline.errors import PcaplineError
from pcapline.flows import build_flows
from pcapline.model import Verdict
from pcapline.read import read_capture

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_captures"
_SKIP_SUFFIXES = (".json", ".md", ".txt", ".py")


def _sample_captures() -> list[Path]:
    return sorted(p for p in SAMPLES.rglob("*") if p.is_file() and p.suffix not in _SKIP_SUFFIXES)


def _verdicts(
    segments: pd.DataFrame, connections: pd.DataFrame, end: int | None, *, visit_all: bool
) -> dict[int, Verdict]:
    detected = run_all(segments, capture_end_ns=end, visit_all=visit_all)
    return explain.verdicts(classify.classify(segments, connections, detected))


def _differences(path: Path) -> list[str]:
    try:
        capture = read_capture(str(path))
    except PcaplineError:
        return []  # not a usable capture: nothing to compare
    # One read, decode and flows for both ways (the detectors and classify only read them).
    segments, connections = build_flows(decode(capture).segments)
    end = int(capture.timed_ns.max()) if len(capture.timed_ns) else None
    fast = _verdicts(segments, connections, end, visit_all=False)
    ruled = _verdicts(segments, connections, end, visit_all=True)
    assert fast.keys() == ruled.keys()
    out = []
    for conn, verdict in fast.items():
        other = ruled[conn]
        for name in Verdict.__slots__:
            a, b = getattr(verdict, name), getattr(other, name)
            if a != b:
                out.append(f"{path.name} conn {conn} {name}: fast {a!r} rules {b!r}")
    return out


@pytest.mark.parametrize("path", _sample_captures(), ids=lambda p: p.name)
def test_fast_path_equals_rules_on_sample_captures(path: Path) -> None:
    found = _differences(path)
    assert not found, "\n".join(found)


@pytest.mark.slow
@needs_corpus
def test_fast_path_equals_rules_oncorpus_tcp_files() -> None:
    captures = corpus_tcp_files()
    found = [
        d for one in over_files(_differences, [p for p in captures if p.is_file()]) for d in one
    ]
    assert not found, f"{len(found)} verdict(s) differ:\n" + "\n".join(found[:20])
