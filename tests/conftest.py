"""Suite-wide hooks: the background tshark sweep of the corpus (tests/tshark_sweep.py), and no
signal state left behind by one test for the next.

The suite runs on every core through pytest-xdist (``-n auto --dist loadgroup`` in
pyproject.toml). There each worker collects every test and no core is idle to sweep on: no
background thread starts in a worker; the sweep's users are one ``xdist_group`` (test_corpus.py),
which loadgroup hands out among the first (largest groups first), so the worker that gets them
runs the whole sweep then (``Sweep.answers``, two sharkd at a time) while the others run the
rest. Run without workers (``-n 0``), the sweep uses the idle core as below."""

from __future__ import annotations

import shutil
import signal
import threading
from collections.abc import Iterator
from typing import Any

import analysed
import pytest
from needs import HAVE_CORPUS
from tshark_sweep import USERS, Ahead, Sweep

_sweep: Sweep | None = None


def _needs_sweep(item: pytest.Item) -> bool:
    return item.path.name in USERS and "tshark_streams" in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Start the sweep when a selected test needs it, and run those tests last, so the sweep
    has the whole suite's time on the idle core before anyone waits for it. Before the
    corpus, the same core runs tshark on the sample captures the Wireshark comparison reads
    (``test_wireshark_diff.AHEAD``), one tshark at a time."""
    global _sweep
    if shutil.which("tshark") is None:
        return
    cache = getattr(config, "cache", None)
    if _in_xdist_worker(config):
        if HAVE_CORPUS and any(_needs_sweep(item) for item in items):
            _sweep = Sweep(cache)  # not started: its users' worker runs it when they ask
        return
    ahead = _sample_fields_ahead(items, cache)
    users = [item for item in items if _needs_sweep(item)]
    if users and HAVE_CORPUS:
        items[:] = [item for item in items if not _needs_sweep(item)] + users
        _sweep = Sweep(cache)
    if ahead is not None or _sweep is not None:
        threading.Thread(target=_in_turn, args=(ahead, _sweep), daemon=True).start()


def _in_xdist_worker(config: pytest.Config) -> bool:
    """A pytest-xdist worker (it has the controller's ``workerinput``)."""
    return hasattr(config, "workerinput")


def _sample_fields_ahead(items: list[pytest.Item], cache: Any) -> Ahead | None:
    comparing = [
        item
        for item in items
        if item.path.name == "test_wireshark_diff.py"
        and getattr(item, "originalname", "") == "test_sample_capture_agrees_with_wireshark"
        and getattr(item, "callspec", None) is not None
        and item.callspec.params.get("capture") is not None
    ]
    if not comparing:
        return None
    module = comparing[0].module  # type: ignore[attr-defined]
    ahead: Ahead = module.fields_ahead(
        [item.callspec.params["capture"] for item in comparing], cache
    )  # type: ignore[attr-defined]
    return ahead


def _in_turn(ahead: Ahead | None, sweep: Sweep | None) -> None:
    if ahead is not None:
        ahead.work()
    if sweep is not None:
        sweep.start()


@pytest.fixture(scope="session", autouse=True)
def _analyses_shared_by_the_workers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """In an xdist worker, ``analysed`` shares its whole-file analyses with the other workers
    through their common base folder (``pytest-N/``; each worker's own is ``pytest-N/popen-gwK``),
    which is this session's alone: no analysis outlives the code that made it."""
    if _in_xdist_worker(request.config):
        shared = tmp_path_factory.getbasetemp().parent / "analysed"
        shared.mkdir(exist_ok=True)
        analysed.SHARED = shared


@pytest.fixture(scope="session")
def tshark_sweep() -> Sweep:
    """The started sweep (tests that need tshark skip before asking when it is absent)."""
    if _sweep is None:
        pytest.skip("tshark or the corpus is absent, or no test asked for the sweep")
    return _sweep


@pytest.fixture(autouse=True)
def _no_terminal_width_from_the_runner(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI takes its width from $COLUMNS when stdout is no terminal (else 120): a width
    the runner exports (pytest-xdist's workers get COLUMNS=80) must not rewrap what the tests
    read; a test that wants a width sets COLUMNS itself."""
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("LINES", raising=False)


@pytest.fixture(autouse=True)
def _no_signal_state_left_by_earlier_tests() -> Iterator[None]:
    """An asyncio loop an earlier test ran in this process (pyshark's, Dask's, the MCP
    client's) can leave a signal wakeup fd and a SIGCHLD handler behind, with nobody reading
    the fd. Every child that exits then writes a byte to it (the background tshark sweep starts
    hundreds), and once it is full Python reports "Exception ignored ... BlockingIOError" in
    whatever test runs, or on the stderr of forked workers that CLI tests read. A fresh
    ``pcapline`` process has neither (the stale state is not put back: its fd may be closed)."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    yield
