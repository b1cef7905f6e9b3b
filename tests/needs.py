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


def corpus_tcp_files() -> list[Path]:
    """Every corpus capture tshark finds TCP in (MANIFEST.tsv's TCP frame count, column 13)."""
    manifest = CORPUS / "MANIFEST.tsv"
    if not manifest.is_file():
        return []
    out = []
    for line in manifest.read_text().splitlines()[1:]:
        cols = line.split("\t")
        if len(cols) > 12 and cols[12].strip() not in ("", "0"):
            out.append(CORPUS / cols[0])
    return out
