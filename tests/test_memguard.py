"""memguard.py: running out of memory is one clear line, not the OOM killer's silent SIGKILL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pcapline import memguard
from pcapline.memguard import Machine, Thresholds

ROOT = Path(__file__).resolve().parents[1]
GIB = 1 << 30
LIMITS = Thresholds(low_bytes=256 << 20, low_share=0.03, ours_share=0.5)


def _check(available: int, own: int, children: dict[int, int]) -> tuple[bool, int | None]:
    held = {"self": own, **children}
    return memguard.check(
        LIMITS,
        read_machine=lambda: Machine(total=24 * GIB, available=available),
        children=lambda: list(children),
        held_by=lambda pid: held[pid],
    )


def test_nothing_is_stopped_while_the_machine_has_memory() -> None:
    assert _check(available=8 * GIB, own=14 * GIB, children={}) == (False, None)


def test_another_programs_hunger_is_not_ours_to_stop() -> None:
    # 0.5 GiB left (below 3 % of 24 GiB), but this run holds 4 GiB of 24: someone else's
    assert _check(available=GIB // 2, own=3 * GIB, children={101: GIB}) == (False, None)


def test_the_biggest_worker_is_killed_first() -> None:
    # a bounded run's parent holds 2 GiB, its workers 6 and 9: the 9 GiB one goes
    found = _check(available=GIB // 2, own=2 * GIB, children={101: 6 * GIB, 102: 9 * GIB})
    assert found == (True, 102)


def test_this_process_raises_when_it_is_the_biggest() -> None:
    assert _check(available=GIB // 2, own=20 * GIB, children={101: GIB}) == (True, None)


def test_a_run_the_guard_stops_says_out_of_memory_and_exits_2(tmp_path: Path) -> None:
    """With thresholds no machine meets (the test hook), the guard stops the command the
    way it would on a starved machine: one line, exit 2, no output file left."""
    out = tmp_path / "out.json"
    capture = ROOT / "sample_captures" / "closed-client-first.pcap"
    done = subprocess.run(
        [sys.executable, "-m", "pcapline", "analyze", str(capture), "-o", str(out)],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT / "src"),
            memguard.TEST_THRESHOLDS_ENV: f"{1 << 60},0",
        },
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("pcapline: error: out of memory:")
    assert len(done.stderr.splitlines()) == 1
    assert not out.exists()


def test_a_disarmed_guard_does_not_start() -> None:
    """``pcapline mcp`` disarms it: a server answers each request's MemoryError itself."""
    try:
        memguard.disarm()
        assert memguard.start() is None
    finally:
        memguard._DISARMED.clear()


def test_the_biggest_share_is_counted_not_pages_shared_or_cached() -> None:
    """A forked worker shares its parent's pages and a memory-mapped capture sits in the
    page cache: neither is this run's to free. Anonymous memory, proportionally shared."""
    held = memguard.resident("self")
    assert 0 < held < 4 * GIB
    assert memguard.resident(2**22 + 12345) == 0  # no such process
