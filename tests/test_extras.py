"""Optional extras: ``dask`` (scan --scheduler) and ``parquet`` (pyarrow).

Without them pcapline still analyses and scans locally, and a feature that needs one fails
with one ``pcapline: error:`` line naming the extra to install (exit 2), never a traceback.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from builders.captures import two_connections_pcap

from pcapline.cli import run

ROOT = Path(__file__).resolve().parents[1]
NAT = ROOT / "sample_captures" / "nat"

#: Run in a fresh interpreter where importing dask, distributed or pyarrow fails, as on an
#: installation without the extras.
WITHOUT_EXTRAS = """
import importlib.abc, sys
class Missing(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"dask", "distributed", "pyarrow"}:
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None
sys.meta_path.insert(0, Missing())
from pcapline.cli import run
status = run(sys.argv[1:])
assert not {"dask", "distributed", "pyarrow"} & set(sys.modules), "an extra was imported"
sys.exit(status)
"""


def _without_extras(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_EXTRAS, *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        timeout=120,
    )


def test_scan_without_dask_runs_inline_and_in_a_process_pool() -> None:
    for workers in ("1", "2"):
        done = _without_extras("scan", str(NAT), "--workers", workers, "--format", "json")
        assert done.returncode == 0, done.stderr
        assert '"schema": "pcapline-scan/1"' in done.stdout


def test_scheduler_without_dask_is_one_error_line() -> None:
    done = _without_extras("scan", str(NAT), "--scheduler", "tcp://127.0.0.1:1")
    assert done.returncode == 2
    assert done.stderr == (
        "pcapline: error: --scheduler needs Dask's distributed package: "
        "pip install 'pcapline[dask]'\n"
    )


def test_parquet_without_pyarrow_is_one_error_line(tmp_path: Path) -> None:
    capture = two_connections_pcap(tmp_path / "two.pcap")
    done = _without_extras(
        "analyze", str(capture), "--format", "parquet", "-o", str(tmp_path / "x.parquet")
    )
    assert done.returncode == 2
    assert done.stderr == (
        "pcapline: error: Parquet output needs pyarrow: pip install 'pcapline[parquet]'\n"
    )
    done = _without_extras("analyze", str(capture))
    assert done.returncode == 0 and "2 connections" in done.stdout


def test_missing_distributed_in_process(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import raises ImportError
    assert run(["scan", str(NAT), "--scheduler", "tcp://127.0.0.1:1"]) == 2
    assert "pip install 'pcapline[dask]'" in capsys.readouterr().err


def test_analyze_scheduler_without_dask_is_one_error_line() -> None:
    capture = ROOT / "sample_captures" / "closed-client-first.pcap"
    done = _without_extras("analyze", str(capture), "--scheduler", "tcp://127.0.0.1:1")
    assert done.returncode == 2
    assert done.stderr == (
        "pcapline: error: --scheduler needs Dask's distributed package: "
        "pip install 'pcapline[dask]'\n"
    )


def test_analyze_without_dask_uses_a_local_pool() -> None:
    capture = ROOT / "sample_captures" / "lossy-40-connections-3pct-drop.pcap"
    done = _without_extras("analyze", str(capture), "--jobs", "2", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert '"schema": "pcapline/1"' in done.stdout
