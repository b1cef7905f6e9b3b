"""One default-pipeline analysis of every corpus TCP capture, shared by the sweeps that
need one (tests/test_delays.py, tests/test_schemas.py).

Each of those sweeps used to run ``pcapline.analyze`` on the same ~900 captures again; now
``answers()`` analyses each capture once (on every core, tests/fanout.py), each sweep's check
runs on that one analysis inside the worker, and only the small answers come back. The
tests keep their names and assertions; an answer names its capture, so a failing capture
still names itself in the failing test. Cached for the session: whichever test asks first
pays, the others read the same answers (never an Analysis: nothing shared can be mutated).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fanout import over_files
from needs import corpus_tcp_files

import pcapline
import pcapline.errors

#: A check run on one capture's analysis: (path, analysis) -> a small picklable answer.
Check = Callable[[Path, Any], Any]

#: The checks of the shared sweep, by name; the test modules register theirs at import.
CHECKS: dict[str, Check] = {}


@dataclass(frozen=True)
class Answers:
    """What the checks said about one capture. ``refused``: the reader rejected it with a
    CaptureError (allowed: no check ran); ``error``: analysis raised anything else (repr)."""

    path: Path
    refused: bool
    error: str | None
    by_check: dict[str, Any]


def register(name: str, check: Check) -> None:
    CHECKS[name] = check


def _analyse_once(path: Path) -> Answers:
    try:
        analysis = pcapline.analyze(path)
    except pcapline.errors.CaptureError:
        return Answers(path, refused=True, error=None, by_check={})
    except Exception as exc:  # listed by every sweep as this capture's failure
        return Answers(path, refused=False, error=repr(exc), by_check={})
    return Answers(
        path,
        refused=False,
        error=None,
        by_check={name: check(path, analysis) for name, check in sorted(CHECKS.items())},
    )


@functools.cache
def _all(names: frozenset[str]) -> tuple[Answers, ...]:
    return tuple(over_files(_analyse_once, corpus_tcp_files()))


def answers(name: str) -> list[Answers]:
    """Every corpus TCP capture's answers (in corpus_tcp_files() order); ``name`` must be a
    registered check. The sweep runs once per set of registered checks."""
    assert name in CHECKS, f"check {name!r} not registered"
    return list(_all(frozenset(CHECKS)))
