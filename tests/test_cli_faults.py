"""Faults around the analysis: out of memory, a full disk, interrupted or failed writes.

Real conditions: an address-space limit (RLIMIT_AS) makes numpy's allocations fail, /dev/full
and a tiny tmpfs (when this user may mount one) fill up; the CLI runs as a subprocess.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from builders.terminal import foreground_job
from test_engine import SAMPLES

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_captures" / "persist-timeout-retries2-3.pcap"


def _cli(*args: str, limit_mb: int | None = None) -> subprocess.CompletedProcess[str]:
    def limit() -> None:
        if limit_mb is not None:
            resource.setrlimit(resource.RLIMIT_AS, (limit_mb << 20, limit_mb << 20))

    return subprocess.run(
        [sys.executable, "-m", "pcapline", *args],
        capture_output=True,
        text=True,
        timeout=600,
        preexec_fn=limit,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )


@pytest.mark.slow
def test_out_of_memory_is_one_line_and_exit_2(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    import make_giant

    big = tmp_path / "big.pcap"
    # 240 k frames: about 0.53 GB resident and between 0.75 and 1 GB of address space to
    # analyse; start-up needs about 0.4 GB of address space. The limit sits between.
    make_giant.keepalive(big, 120_000)
    assert _cli("analyze", str(SAMPLE), limit_mb=600).returncode == 0  # start-up fits
    result = _cli("analyze", "--format", "json", "-o", os.devnull, str(big), limit_mb=600)
    assert result.returncode == 2
    assert result.stderr == (
        "pcapline: error: out of memory: the capture needs more memory than this process may "
        "use (analyse a slice of it: editcap -r, or tcpdump -r ... -w with a filter)\n"
    )


def test_full_disk_is_one_clear_error() -> None:
    to_file = _cli("analyze", "--format", "json", "-o", "/dev/full", str(SAMPLE))
    assert (to_file.returncode, to_file.stderr) == (
        2,
        "pcapline: error: cannot write /dev/full: No space left on device\n",
    )
    with open("/dev/full", "w") as full:
        piped = subprocess.run(
            [sys.executable, "-m", "pcapline", "analyze", str(SAMPLE)],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        )
    assert (piped.returncode, piped.stderr) == (
        2,
        "pcapline: error: cannot write standard output: No space left on device\n",
    )


@contextlib.contextmanager
def _tiny_filesystem(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs at ``tmp_path/tiny`` (a disk that fills up at once), unmounted after;
    the test is skipped where this user may not mount one."""
    tiny = tmp_path / "tiny"
    tiny.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(tiny)], capture_output=True
    )
    if mounted.returncode:
        pytest.skip("cannot mount a tmpfs here (not root)")
    try:
        yield tiny
    finally:
        subprocess.run(["umount", str(tiny)], check=True)


def test_a_full_filesystem_leaves_no_partial_report(tmp_path: Path) -> None:
    with _tiny_filesystem(tmp_path) as tiny:
        report = tiny / "report.json"
        report.write_text("the previous report\n")
        result = _cli("analyze", "--format", "json", "-o", str(report), str(SAMPLE))
        big = ROOT / "sample_captures" / "lossy-40-connections-3pct-drop.pcap"
        fails = _cli("analyze", "--format", "json", "-o", str(report), str(big))
        leftovers = sorted(p.name for p in tiny.iterdir())
        kept = report.read_text()
    assert result.returncode == 0  # a small report fits
    assert (fails.returncode, fails.stderr) == (
        2,
        f"pcapline: error: cannot write {report}: No space left on device\n",
    )
    assert leftovers == ["report.json"]  # no temporary .part file left behind
    assert json.loads(kept)["schema"] == "pcapline/1"  # the earlier report, whole


def test_ctrl_c_leaves_no_temporary_file(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    import make_giant

    plain = tmp_path / "long.pcap"
    make_giant.keepalive(plain, 400_000)  # ~15 s of analysis: still running when interrupted
    packed = tmp_path / "long.pcap.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes(), compresslevel=1))
    plain.unlink()
    spill = tmp_path / "tmp"
    spill.mkdir()
    out = tmp_path / "out" / "report.json"
    out.parent.mkdir()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pcapline",
            "analyze",
            "--format",
            "json",
            "-o",
            str(out),
            str(packed),
        ],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src"), "TMPDIR": str(spill)},
        preexec_fn=foreground_job,  # its own process group, as a terminal's foreground job
    )
    time.sleep(3)  # reading or analysing
    assert process.poll() is None
    os.killpg(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert (process.returncode, err.strip()) == (130, "pcapline: error: interrupted")
    assert list(spill.iterdir()) == [] and list(out.parent.iterdir()) == []


def test_report_file_modes_and_symlinks_are_kept(tmp_path: Path) -> None:
    new = tmp_path / "new.json"
    assert _cli("analyze", "--format", "json", "-o", str(new), str(SAMPLE)).returncode == 0
    umask = os.umask(0)
    os.umask(umask)
    assert new.stat().st_mode & 0o777 == 0o666 & ~umask  # as open() would have made it
    new.chmod(0o600)
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    for path in (new, link):
        assert _cli("analyze", "--format", "json", "-o", str(path), str(SAMPLE)).returncode == 0
    assert new.stat().st_mode & 0o777 == 0o600
    assert link.is_symlink() and json.loads(real.read_text())["schema"] == "pcapline/1"


@pytest.mark.parametrize(
    "command",
    [
        ["analyze", "{capture}", "--format", "json", "-o", "{output}"],
        ["analyze", "{capture}", "--memory-bounded", "-o", "{output}"],
        ["report", "{capture}", "-o", "{output}"],
        ["timeline", "{capture}", "0", "-o", "{output}"],
    ],
    ids=["analyze", "analyze-bounded", "report", "timeline"],
)
@pytest.mark.parametrize("through_a_link", [False, True], ids=["same-name", "symlink"])
def test_the_report_is_never_written_over_the_capture_it_reads(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
    through_a_link: bool,
) -> None:
    """``-o`` completed to the input's name would replace the evidence with the report."""
    from pcapline.cli import run

    capture = tmp_path / "incident.pcap"
    original = (SAMPLES / "lossy-40-connections-3pct-drop.pcap").read_bytes()
    capture.write_bytes(original)
    output = capture
    if through_a_link:
        output = tmp_path / "latest.pcap"
        output.symlink_to(capture.name)
    argv = [part.format(capture=capture, output=output) for part in command]
    assert run(argv) == 2
    assert capsys.readouterr().err.strip() == (
        f"pcapline: error: {output} is the capture being read: refusing to write the report "
        "over it (choose another -o)"
    )
    assert capture.read_bytes() == original


@pytest.mark.parametrize(
    "command",
    [
        ["analyze", "-", "--format", "json", "-o", "{output}"],
        ["report", "-", "-o", "{output}"],
        ["timeline", "-", "0", "-o", "{output}"],
    ],
    ids=["analyze", "report", "timeline"],
)
def test_the_report_is_never_written_over_the_capture_on_standard_input(
    tmp_path: Path, command: list[str]
) -> None:
    """``pcapline analyze - -o FILE < FILE``: standard input is that very file."""
    capture = tmp_path / "incident.pcap"
    original = (SAMPLES / "lossy-40-connections-3pct-drop.pcap").read_bytes()
    capture.write_bytes(original)

    def fed(output: Path) -> subprocess.CompletedProcess[str]:
        with capture.open("rb") as stdin:
            return subprocess.run(
                [sys.executable, "-m", "pcapline", *[p.format(output=output) for p in command]],
                stdin=stdin,
                capture_output=True,
                text=True,
                timeout=600,
                env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
            )

    done = fed(capture)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"pcapline: error: {capture} is the capture being read: refusing to write the report "
        "over it (choose another -o)"
    )
    assert capture.read_bytes() == original
    other = tmp_path / "report.out"  # another -o is fine
    assert fed(other).returncode == 0 and other.stat().st_size > 0


def test_scan_never_writes_its_report_over_one_of_its_captures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pcapline.cli import run

    original = (SAMPLES / "lossy-40-connections-3pct-drop.pcap").read_bytes()
    for name in ("a.pcap", "b.pcap"):
        (tmp_path / name).write_bytes(original)
    output = tmp_path / "b.pcap"
    assert run(["scan", str(tmp_path), "--workers", "1", "-o", str(output)]) == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith(
            f"{output} is the capture being read: refusing to write the report over it "
            "(choose another -o)"
        )
    )
    assert output.read_bytes() == original


@pytest.mark.parametrize(
    "command",
    [
        ["analyze", "{capture}", "--format", "json", "-o", "{out}"],
        ["analyze", "{capture}", "--format", "json", "--memory-bounded", "-o", "{out}"],
        ["analyze", "{capture}", "--format", "html", "-o", "{out}"],
        ["scan", "{folder}", "--format", "json", "--workers", "1", "-o", "{out}"],
    ],
    ids=["json", "json-bounded", "html", "scan-json"],
)
def test_a_file_name_that_is_not_utf8_is_shown_escaped(tmp_path: Path, command: list[str]) -> None:
    """A Latin-1 name from a Windows share (byte 0xe9, not UTF-8): Python keeps the byte as a
    lone surrogate, which no UTF-8 document can hold. It failed the whole write (exit 3, for a
    scan every capture's row); now the name shows as ``ls -b`` shows it."""
    from pcapline.cli import run

    folder = tmp_path / "captures"
    folder.mkdir()
    capture = os.path.join(folder, os.fsdecode(b"r\xe9seau <1>.pcap"))
    with open(capture, "wb") as f:
        f.write((SAMPLES / "lossy-40-connections-3pct-drop.pcap").read_bytes())
    out = tmp_path / "out"
    argv = [part.format(capture=capture, folder=folder, out=out) for part in command]
    assert run(argv) == 0
    text = out.read_text(encoding="utf-8")
    shown = str(folder) + "/r\\xe9seau <1>.pcap"
    if command[0] == "scan":
        assert json.loads(text)["captures"][0]["path"] == shown
    elif "html" in command:
        assert "r\\xe9seau &lt;1&gt;.pcap" in text
    else:
        assert json.loads(text)["capture"]["path"] == shown


def _with_closed(fds: tuple[int, ...], *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI started with ``fds`` closed, as ``>&-``, ``2>&-`` or ``<&-`` leave them
    (Python then starts with ``sys.stdout`` ... ``None``); stderr is captured when open."""

    def close() -> None:
        for fd in fds:
            os.close(fd)

    return subprocess.run(
        [sys.executable, "-m", "pcapline", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
        preexec_fn=close,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )


@pytest.mark.parametrize(
    "command",
    [["analyze"], ["analyze", "--format", "json"], ["timeline", "--", "0"], ["scan"]],
    ids=["text", "json", "timeline", "scan"],
)
def test_a_closed_standard_output_is_one_line_and_exit_2(command: list[str]) -> None:
    name, *rest = command
    result = _with_closed((1,), name, str(SAMPLE), *rest)
    assert (result.returncode, result.stderr) == (
        2,
        "pcapline: error: cannot write standard output: standard output is closed (the "
        "command ran with >&-): give it a file or use -o FILE\n",
    )


def test_a_closed_standard_output_does_not_fail_a_run_writing_to_a_file(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    result = _with_closed((1,), "analyze", "--format", "json", "-o", str(out), str(SAMPLE))
    assert (result.returncode, result.stderr) == (0, "")
    assert json.loads(out.read_text())["schema"] == "pcapline/1"


def test_a_closed_standard_input_is_one_line_and_exit_2() -> None:
    result = _with_closed((0,), "analyze", "-")
    assert (result.returncode, result.stderr) == (
        2,
        "pcapline: error: standard input is closed (the command ran with <&-): give it a file\n",
    )


@pytest.mark.parametrize("bounded", [[], ["--memory-bounded", "--jobs", "2"]], ids=["", "bounded"])
def test_a_closed_standard_error_loses_the_messages_not_the_run(
    tmp_path: Path, bounded: list[str]
) -> None:
    """With stderr closed a warning line (a truncated capture) must not end the run."""
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(SAMPLE.read_bytes()[:-10])
    out = tmp_path / "out.json"
    ok = _with_closed((2,), "analyze", *bounded, "--format", "json", "-o", str(out), str(cut))
    assert ok.returncode == 0
    assert json.loads(out.read_text())["capture"]["warnings"] != []
    assert _with_closed((2,), "analyze", str(tmp_path / "missing.pcap")).returncode == 2


@pytest.mark.parametrize("bounded", [[], ["--memory-bounded"]], ids=["in-memory", "bounded"])
def test_parquet_on_a_full_filesystem_leaves_no_partial_table(
    tmp_path: Path, bounded: list[str]
) -> None:
    """Parquet output is written whole or not at all, as the other formats: a failed write
    keeps the earlier dataset as it was and leaves no truncated table (a 0-byte
    connections.parquet) or empty folder behind."""
    parquet = [*bounded, "--format", "parquet", str(SAMPLE), "-o"]
    with _tiny_filesystem(tmp_path) as tiny:
        first = _cli("analyze", *parquet, str(tiny / "ds"))  # about 36 kB: fits
        earlier = {p.name: p.read_bytes() for p in (tiny / "ds").iterdir()}
        again = _cli("analyze", *parquet, str(tiny / "ds"))  # the new one beside it does not
        kept = {p.name: p.read_bytes() for p in (tiny / "ds").iterdir()}
        fresh = _cli("analyze", *parquet, str(tiny / "new"))
        single = _cli("analyze", *parquet, str(tiny / "c.parquet"))
        leftovers = sorted(p.name for p in tiny.iterdir())
    assert first.returncode == 0
    assert sorted(earlier) == ["connections.parquet", "events.parquet"]
    for failed, where in ((again, "ds"), (fresh, "new"), (single, "c.parquet")):
        assert failed.returncode == 2
        assert failed.stderr.startswith(f"pcapline: error: cannot write {tiny / where}: ")
        assert "No space left on device" in failed.stderr
    assert kept == earlier
    assert leftovers == ["ds"]


@pytest.mark.parametrize(
    "command",
    [
        ["analyze", "--memory-bounded", "--format", "json", "--jobs", "5"],
        ["scan", "--format", "json", "--workers", "5"],
    ],
    ids=["analyze", "scan"],
)
def test_more_workers_than_twice_the_cores_are_lowered_with_a_warning(
    command: list[str],
) -> None:
    """``--jobs 10000`` forked thousands of processes (partitions are made per worker, even
    for a 16-frame capture) until the machine ran out of memory. Here on one core."""
    name, *options = command
    capture = str(ROOT / "sample_captures" / "persist-timeout-retries2-3.pcap")
    single = subprocess.run(
        [sys.executable, "-m", "pcapline", name, capture, *options[:-1], "1"],
        capture_output=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    many = subprocess.run(
        [sys.executable, "-m", "pcapline", name, capture, *options],
        capture_output=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        preexec_fn=lambda: os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}),
    )
    option = options[-2]
    assert (many.returncode, many.stderr.decode()) == (
        0,
        f"pcapline: warning: {option} 5 is more than 2 per core this process may use (1): "
        "using 2\n",
    )
    assert many.stdout == single.stdout


@pytest.mark.parametrize(("term", "coloured"), [("xterm-256color", True), ("dumb", False)])
def test_no_colour_codes_on_a_dumb_terminal(term: str, coloured: bool) -> None:
    """``TERM=dumb`` (Emacs' shell, some CI log viewers) shows escape codes raw."""
    import pty

    main, side = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    done = subprocess.run(
        [sys.executable, "-m", "pcapline", "analyze", "--quiet", str(SAMPLE)],
        stdout=side,
        stderr=subprocess.PIPE,
        timeout=60,
        env={**env, "TERM": term, "PYTHONPATH": str(ROOT / "src")},
    )
    os.close(side)
    shown = b""
    with contextlib.suppress(OSError):  # EIO once the terminal's other side is closed
        while chunk := os.read(main, 65536):
            shown += chunk
    os.close(main)
    assert done.returncode == 0
    assert b"persist_timeout" in shown
    assert (b"\x1b[" in shown) is coloured


def test_capture_shrinking_while_read_is_one_error_line(tmp_path) -> None:
    # tcpdump -C/-W rotating its ring of files, or logrotate's copytruncate, cuts a capture
    # while pcapline reads it from a memory map: the next page past the new end raises
    # SIGBUS. Before: the process died with "Bus error" (exit 135) and nothing on stderr.
    from pcapline.read import native

    if not native.active:
        pytest.skip("the compiled core handles SIGBUS; without it the default action remains")
    path = tmp_path / "ring\x1b[31m.pcap"
    path.write_bytes(SAMPLE.read_bytes())
    code = (
        "import os, sys\n"
        "from pcapline.read import read_capture\n"
        "cap = read_capture(sys.argv[1])\n"
        "os.truncate(sys.argv[1], 0)\n"
        "print(int(cap.data[-1]))\n"  # the page is gone: SIGBUS
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == (
        f"pcapline: error: {tmp_path}/ring\\x1b[31m.pcap: the capture file shrank while it was "
        "being read (rotated or truncated by the program writing it?); copy it and analyse "
        "the copy\n"
    )


def test_a_full_stderr_loses_the_warnings_not_the_run(tmp_path: Path) -> None:
    """stderr on a full disk (cron or a service logging to a full /var): a capture cut inside
    its last record warns, and the warning cannot be written. Before: exit 2 and no output
    file; the run's result does not depend on its warnings reaching anyone."""
    cut = tmp_path / "cut.pcap"
    cut.write_bytes((SAMPLES / "closed-client-first.pcap").read_bytes()[:1500])
    out = tmp_path / "out.json"
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pcapline",
                "analyze",
                str(cut),
                "--format",
                "json",
                "-o",
                str(out),
            ],
            stderr=full,
            timeout=60,
        )
    assert done.returncode == 0
    doc = json.loads(out.read_text())
    assert any("ends inside frame" in w for w in doc["capture"]["warnings"])
