"""The public API is exactly ``pcapline.__all__``; everything else may change freely."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import pcapline
from pcapline import errors, model

PUBLIC_API = {
    "Analysis",
    "CaptureError",
    "CaptureInfo",
    "EventKind",
    "Explanation",
    "Fate",
    "Finding",
    "PcaplineError",
    "Side",
    "SkipReason",
    "SlowTag",
    "SlowThresholds",
    "Verdict",
    "__version__",
    "analyze",
}


def test_all_is_the_public_api() -> None:
    assert set(pcapline.__all__) == PUBLIC_API
    assert len(pcapline.__all__) == len(PUBLIC_API)


def test_every_exported_name_resolves_to_the_real_object() -> None:
    from pcapline.analysis import Analysis, analyze

    assert pcapline.analyze is analyze
    assert pcapline.Analysis is Analysis
    names = ("CaptureInfo", "EventKind", "Explanation", "Fate", "Finding", "Side", "SkipReason")
    for name in (*names, "Verdict"):
        assert getattr(pcapline, name) is getattr(model, name)
    assert isinstance(pcapline.__version__, str) and pcapline.__version__.count(".") == 2
    assert pcapline.CaptureError is errors.CaptureError
    assert pcapline.PcaplineError is errors.PcaplineError


def test_unusable_input_is_catchable_as_the_exported_errors(tmp_path: Path) -> None:
    not_a_capture = tmp_path / "notes.pcap"
    not_a_capture.write_text("hello\n" * 10)
    with pytest.raises(pcapline.CaptureError, match="not a pcap or pcapng capture"):
        pcapline.analyze(not_a_capture)
    with pytest.raises(pcapline.PcaplineError):
        pcapline.analyze(tmp_path / "missing.pcap")


def test_unknown_attribute_raises() -> None:
    with pytest.raises(AttributeError, match="no_such_thing"):
        pcapline.no_such_thing  # type: ignore[attr-defined]  # noqa: B018


def test_import_does_not_load_the_pipeline() -> None:
    # `import pcapline` (and so `pcapline --help`) must not pay for pandas and every stage.
    code = (
        "import sys, pcapline; print('pcapline.analysis' in sys.modules, 'pandas' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["False", "False"]


def test_version_matches_the_installed_metadata() -> None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version("pcapline")
    except PackageNotFoundError:
        pytest.skip("running from a source tree without `pip install -e .`")
    assert installed == pcapline.__version__
