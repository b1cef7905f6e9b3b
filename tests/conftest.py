"""Suite-wide hooks: the background tshark sweep of the corpus (tests/tshark_sweep.py)."""

from __future__ import annotations

import shutil

import pytest
from needs import HAVE_CORPUS
from tshark_sweep import USERS, Sweep

_sweep: Sweep | None = None


def _needs_sweep(item: pytest.Item) -> bool:
    return item.path.name in USERS and "tshark_streams" in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Start the sweep when a selected test needs it, and run those tests last, so the sweep
    has the whole suite's time on the idle core before anyone waits for it."""
    global _sweep
    users = [item for item in items if _needs_sweep(item)]
    if not users or not HAVE_CORPUS or shutil.which("tshark") is None:
        return
    items[:] = [item for item in items if not _needs_sweep(item)] + users
    _sweep = Sweep(getattr(config, "cache", None))
    _sweep.start()


@pytest.fixture(scope="session")
def tshark_sweep() -> Sweep:
    """The started sweep (tests that need tshark skip before asking when it is absent)."""
    if _sweep is None:
        pytest.skip("tshark or the corpus is absent, or no test asked for the sweep")
    return _sweep
