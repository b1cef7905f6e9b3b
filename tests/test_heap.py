"""The CLI process keeps freed memory for reuse (pcapline/heap.py): measured as page faults,
in fresh subprocesses, because the allocator's settings are per process and cannot be undone."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.confstr("CS_GNU_LIBC_VERSION") is None,
    reason="glibc's mallopt",
)

# Ten rounds of: allocate and touch four 16 MiB blocks, then free them all (an analysis
# does this stage after stage with its columns). Under glibc's defaults the blocks end on the
# heap (the mmap threshold adapts to the first freed one), but the 64 MiB then free at the
# heap's top is over the trim threshold (twice the mmap threshold) and goes back to the
# kernel: every round faults its pages in again. Kept, they are faulted in once.
PROBE = textwrap.dedent(
    """
    import resource
    def probe():
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(10):
            blocks = [bytearray(16 << 20) for _ in range(4)]
            for block in blocks:
                block[::4096] = b"x" * len(block[::4096])
            del blocks, block
        print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
        return 0
    """
)
ROUNDS_OF_FAULTS = 10 * 4 * (16 << 20) // 4096


def _faults(code: str, env: dict[str, str] | None = None) -> int:
    done = subprocess.run(
        [sys.executable, "-c", PROBE + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=True,
        env={**_clean_env(), **(env or {})},
    )
    return int(done.stdout.split()[-1])


def _clean_env() -> dict[str, str]:
    # Without the user's allocator tuning, which the settings respect: some libraries set it
    # in the test process's own environment (Dask's nanny sets MALLOC_TRIM_THRESHOLD_).
    return {
        k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES" and not k.startswith("MALLOC_")
    }


def test_defaults_fault_every_round() -> None:
    # The premise: without the settings each round faults its pages in again.
    assert _faults("probe()") > ROUNDS_OF_FAULTS // 2


def test_keep_freed_memory_faults_once() -> None:
    code = "from pcapline.heap import keep_freed_memory\nassert keep_freed_memory()\nprobe()"
    assert _faults(code) < ROUNDS_OF_FAULTS // 10


def test_cli_main_keeps_freed_memory() -> None:
    # main() sets it up before running the command (here replaced by the probe).
    code = (
        "import pcapline.cli as cli\ncli.run = lambda argv, **how: probe()\n"
        "try:\n    cli.main([])\nexcept SystemExit:\n    pass"
    )
    assert _faults(code) < ROUNDS_OF_FAULTS // 10


def test_user_tuning_is_left_alone() -> None:
    code = "from pcapline.heap import keep_freed_memory\nassert not keep_freed_memory()\nprobe()"
    assert _faults(code, {"MALLOC_ARENA_MAX": "2"}) > ROUNDS_OF_FAULTS // 2
