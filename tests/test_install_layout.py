"""The installed package wins over whatever the working directory holds.

`git clone` makes a folder named ``pcapline``. Run from the clone's parent, ``''`` (the working
directory) comes first on ``sys.path``, and that folder used to shadow the editable install:
``import pcapline`` found the clone as a namespace package (``no attribute 'analyze'``) and
``scan``'s worker processes died with ``BrokenProcessPool``. The ``src/`` layout keeps the
package out of the clone's top level; these tests run the real commands from such a parent.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import pcapline

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_captures" / "closed-client-first.pcap"


@pytest.fixture
def clone_parent(tmp_path: Path) -> Path:
    """A folder holding ``pcapline/`` shaped like a fresh clone (top-level names only)."""
    clone = tmp_path / "pcapline"
    for entry in ROOT.iterdir():
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            (clone / entry.name).mkdir(parents=True)
        else:
            clone.mkdir(exist_ok=True)
            (clone / entry.name).write_bytes(b"")
    (clone / "src" / "pcapline").mkdir(parents=True, exist_ok=True)
    return tmp_path


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_import_from_the_clones_parent_is_the_installed_package(clone_parent: Path) -> None:
    proc = _run(
        [sys.executable, "-c", "import pcapline; print(pcapline.__file__); pcapline.analyze"],
        clone_parent,
    )
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()) == Path(pcapline.__file__).resolve()


def test_scan_from_the_clones_parent_runs_its_workers(clone_parent: Path) -> None:
    folder = clone_parent / "captures"
    folder.mkdir()
    for name in ("a.pcap", "b.pcap"):
        shutil.copy(SAMPLE, folder / name)
    proc = _run(
        [sys.executable, "-m", "pcapline", "scan", str(folder), "--workers", "2"], clone_parent
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "BrokenProcessPool" not in proc.stderr
    assert "2 capture(s), 0 unreadable, 2 connection(s)" in proc.stdout, proc.stdout


def test_the_package_lives_under_src() -> None:
    # The layout itself: a flat ./pcapline package at the repository root would bring the
    # shadowing back for anyone running from the root's parent.
    assert not (ROOT / "pcapline" / "__init__.py").exists()
    assert (ROOT / "src" / "pcapline" / "__init__.py").exists()
