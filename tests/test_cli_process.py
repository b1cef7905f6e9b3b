"""What the console entry point sets for its own process (cli.main), beyond arguments."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

# Printed by an exit handler: cli.main ends the process itself (``_leave``) after running them.
PROBE = """
import atexit, gc, numpy
from pcapline import cli
atexit.register(
    lambda: print(gc.get_threshold(), numpy._core.multiarray._get_madvise_hugepage())
)
cli.main(["--version"])
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
    assert _probe() == "(1000000, 20, 100) False"


@pytest.mark.parametrize("value, advised", [("1", "True"), ("0", "False")])
def test_a_users_numpy_madvise_hugepage_setting_is_kept(value: str, advised: str) -> None:
    assert _probe(NUMPY_MADVISE_HUGEPAGE=value) == f"(1000000, 20, 100) {advised}"


# numpy loaded after cli.main, as an analysis loads it: how many threads the process has then.
BLAS_PROBE = """
import atexit, os, sys
if sys.argv[1:] == ["numpy first"]:
    import numpy
from pcapline import cli
def report():
    import threading
    import numpy
    # threads of the OS that are not Python's (the memory guard is one of Python's)
    native = len(os.listdir("/proc/self/task")) - threading.active_count()
    print(os.environ.get("OPENBLAS_NUM_THREADS"), native)
atexit.register(report)
cli.main(["--version"])
"""
_BLAS_VARIABLES = ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS")


def _blas_probe(*args: str, **env: str) -> list[str]:
    clean = {k: v for k, v in os.environ.items() if k not in _BLAS_VARIABLES}
    done = subprocess.run(
        [sys.executable, "-c", BLAS_PROBE, *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1].split()


def test_numpy_loads_without_openblas_threads() -> None:
    # OpenBLAS would start a spinning thread per core (pcapline does no linear algebra).
    setting, native_threads = _blas_probe()
    assert setting == "1"
    if (os.cpu_count() or 1) > 1:  # one core: OpenBLAS starts no thread of its own anyway
        assert native_threads == "0"


def test_a_users_openblas_thread_count_is_kept() -> None:
    assert _blas_probe(OPENBLAS_NUM_THREADS="3")[0] == "3"
    assert _blas_probe(OMP_NUM_THREADS="2")[0] == "None"  # OpenBLAS reads that one too
    assert _blas_probe("numpy first")[0] == "None"  # too late to matter: left alone


SAMPLE = os.path.join(os.path.dirname(__file__), "..", "sample_captures", "app-tls-http.pcap")


def _pcapline(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "pcapline", *args], capture_output=True)


def test_the_quick_exit_keeps_the_whole_output_and_the_exit_status() -> None:
    from pcapline import cli

    # ``_leave`` ends the process without the interpreter's teardown: what was written to a
    # pipe must all be there, byte for byte what an in-process run writes.
    piped = _pcapline("analyze", SAMPLE, "--format", "json")
    assert piped.returncode == 0
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            f"from pcapline import cli; cli.run(['analyze', {SAMPLE!r}, '--format', 'json'])",
        ],
        capture_output=True,
        check=True,
    ).stdout
    assert len(piped.stdout) > 10_000 and piped.stdout == out
    failing = _pcapline("analyze", SAMPLE, "--fail-on", "closed")
    assert failing.returncode == 1
    assert failing.stderr.decode().startswith("pcapline: --fail-on matched")
    assert _pcapline("analyze", "/no/such.pcap").returncode == cli.EXIT_INPUT


def test_exit_handlers_run_and_their_output_is_flushed() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import atexit, sys\n"
            "atexit.register(lambda: sys.stdout.write('handler ran'))\n"
            "from pcapline.cli import main\n"
            f"main(['analyze', {SAMPLE!r}, '--quiet', '--fail-on', 'closed'])",
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert done.stdout.endswith("handler ran")


@pytest.mark.parametrize(
    "options",
    [
        ["--format", "json"],
        ["--format", "json", "--memory-bounded", "--jobs", "1"],
        ["--format", "csv", "--memory-bounded", "--jobs", "1"],
        ["--format", "text"],
        ["--format", "json", "-o", "/dev/stdout"],
    ],
    ids=["json", "json-bounded", "csv-bounded", "text", "json-o-dev-stdout"],
)
def test_a_reader_that_leaves_early_is_not_an_error(options: list[str]) -> None:
    """``pcapline analyze big.pcap | head``: the write fails with EPIPE, and click turns an
    OSError leaving a command into exit 1; the command must say nothing and exit 0, also
    when the pipe is named by a path (``-o /dev/stdout``, written as a device). The pipe
    is shrunk to one page so a sample capture's output overflows it."""
    import fcntl

    from test_engine import SAMPLES

    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, 1031, 4096)  # F_SETPIPE_SZ (Linux)
    capture = str(SAMPLES / "lossy-40-connections-3pct-drop.pcap")
    child = subprocess.Popen(
        [sys.executable, "-m", "pcapline", "analyze", capture, *options],
        stdout=write_end,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    os.close(write_end)
    assert len(os.read(read_end, 10)) == 10  # the reader takes a little, then leaves
    os.close(read_end)
    _, err = child.communicate(timeout=120)
    assert (child.returncode, err.decode()) == (0, "")
