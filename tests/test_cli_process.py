"""What the console entry point sets for its own process (cli.main), beyond arguments."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = """
import gc, numpy
from pcapline import cli
try:
    cli.main(["--version"])
except SystemExit:
    pass
print(gc.get_threshold(), numpy._core.multiarray._get_madvise_hugepage())
"""


def _probe(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


def test_main_collects_garbage_less_often_and_asks_for_no_huge_pages() -> None:
    assert _probe() == "(50000, 20, 100) False"


@pytest.mark.parametrize("value, advised", [("1", "True"), ("0", "False")])
def test_a_users_numpy_madvise_hugepage_setting_is_kept(value: str, advised: str) -> None:
    assert _probe(NUMPY_MADVISE_HUGEPAGE=value) == f"(50000, 20, 100) {advised}"
