"""One whole-file analysis of each capture for the whole test session.

The sweeps over every sample capture (the engines' identity tests, the degraded-capture
checks, the samples' expectations) compare other paths with ``pcapline.analyze(path)``, the
pipeline as it always ran; each capture's is made once here and shared. What these return is
read only: a test that changes a table must analyse its own copy.

Under pytest-xdist each worker is a process of its own, and the tests of one capture are
spread over all of them: conftest points ``SHARED`` at a folder of this session's that every
worker sees, and the first worker to analyse a capture leaves it there (pickled; written to a
temporary name, then renamed, so a worker never reads half a file) for the others to load in
a tenth of the time.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import pickle
from pathlib import Path

import pcapline
from pcapline.analysis import Analysis
from pcapline.engine import canonical_tuples
from pcapline.render.tables import to_csv

#: This session's folder of analyses shared by its xdist workers; None: kept in this process.
SHARED: Path | None = None


def whole(path: Path | str) -> Analysis:
    """``pcapline.analyze(path)``: one partition in this process, facts kept."""
    return _whole(*_key(path))


def whole_json(path: Path | str) -> str:
    """The JSON document of ``whole(path)``."""
    return _whole_json(*_key(path))


def four_tuples(path: Path | str) -> int:
    """How many 4-tuples ``whole(path)``'s connections use (both orientations one): the
    partitioned paths deal whole 4-tuples out, so with one there is one partition."""
    connections = whole(path).connections
    return len(set(canonical_tuples(connections).tolist())) if len(connections) else 0


def whole_csv(path: Path | str) -> str:
    """The CSV table of ``whole(path)``."""
    return to_csv(whole(path))


def _key(path: Path | str) -> tuple[Path, int, int]:
    """The file as it is now (a file written again under the same name is another capture),
    by the name the test gives: the JSON says the capture's path, and a corpus reached
    through a symbolic link must keep the link's name there."""
    named = Path(path)
    stat = named.stat()
    return named, stat.st_size, stat.st_mtime_ns


@functools.cache
def _whole(path: Path, size: int, mtime_ns: int) -> Analysis:
    if SHARED is None:
        return pcapline.analyze(str(path))
    stored = SHARED / (
        hashlib.sha256(f"{path}\0{size}\0{mtime_ns}".encode()).hexdigest() + ".pickle"
    )
    try:
        with stored.open("rb") as fh:
            analysis: Analysis = pickle.load(fh)
            return analysis
    except FileNotFoundError:
        pass
    analysis = pcapline.analyze(str(path))
    partial = stored.with_name(f"{stored.name}.{os.getpid()}.partial")
    with partial.open("wb") as fh:
        pickle.dump(analysis, fh, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(partial, stored)  # two workers may both analyse it: either whole file wins
    return analysis


@functools.cache
def _whole_json(path: Path, size: int, mtime_ns: int) -> str:
    out = io.StringIO()
    _whole(path, size, mtime_ns).write_json(out)
    return out.getvalue()
