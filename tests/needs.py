"""What some tests need from outside the repository, as pytest marks that also skip cleanly.

- The capture corpus (2,000+ real captures from other projects, under their own licences; not
  in this repository): ``PCAPLINE_CORPUS`` when set, else ``../shared/corpus`` beside the
  repository. Only corpus-wide sweeps use it; a behaviour seen first in one corpus capture is
  tested on our own crafted copy of its packet pattern in tests/captures/.
- tshark, for the comparisons with Wireshark.

``@needs_corpus`` / ``@needs_tshark`` mark a test (``corpus`` / ``tshark``, registered in
pyproject.toml) and skip it with the reason when the resource is missing;
``CORPUS_MARKS`` / ``TSHARK_MARKS`` do the same for ``pytestmark`` or ``pytest.param(marks=...)``.
"""

from __future__ import annotations

import csv
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("PCAPLINE_CORPUS") or REPO.parent / "shared" / "corpus")
HAVE_CORPUS = (CORPUS / "MANIFEST.tsv").is_file()
HAVE_TSHARK = shutil.which("tshark") is not None

CORPUS_MARKS = (
    pytest.mark.corpus,
    pytest.mark.skipif(
        not HAVE_CORPUS,
        reason=f"capture corpus not found at {CORPUS} (no MANIFEST.tsv; set PCAPLINE_CORPUS)",
    ),
)
TSHARK_MARKS = (
    pytest.mark.tshark,
    pytest.mark.skipif(not HAVE_TSHARK, reason="tshark not installed"),
)

Test = TypeVar("Test", bound=Callable[..., object])


def needs_corpus(test: Test) -> Test:
    for mark in CORPUS_MARKS:
        test = mark(test)
    return test


def needs_tshark(test: Test) -> Test:
    for mark in TSHARK_MARKS:
        test = mark(test)
    return test


def corpus_manifest() -> dict[str, dict[str, str]]:
    """The corpus's MANIFEST.tsv rows by path (relative to the corpus); empty without it."""
    manifest = CORPUS / "MANIFEST.tsv"
    if not manifest.is_file():
        return {}
    with manifest.open(newline="") as fh:
        return {row["path"]: row for row in csv.DictReader(fh, delimiter="\t")}


def corpus_tcp_files() -> list[Path]:
    """Every corpus capture tshark finds TCP in (MANIFEST.tsv's ``tcp_packets`` > 0)."""
    return [
        CORPUS / rel
        for rel, row in corpus_manifest().items()
        if row["tcp_packets"].strip().isdigit() and int(row["tcp_packets"]) > 0
    ]
