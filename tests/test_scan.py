"""``pcapline scan``: path expansion, broken files, output formats, --fail-on, local vs Dask."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from needs import CORPUS, needs_corpus

from pcapline import engine
from pcapline.cli import run
from pcapline.errors import UsageError
from pcapline.scan import (
    document,
    expand_paths,
    fail_on_names,
    one_path_per_file,
    render,
    scan,
)
from pcapline.scan.run import is_capture_name

ROOT = Path(__file__).resolve().parents[1]
NAT = ROOT / "sample_captures" / "nat"
#: Corpus scan: every Nth file (deterministic); PCAPLINE_CORPUS_STRIDE=1 scans all of it.
CORPUS_STRIDE = int(os.environ.get("PCAPLINE_CORPUS_STRIDE", "8"))


def _folder(tmp_path: Path) -> Path:
    """Good captures (a NAT capture, two corpus-style files), garbage, an empty file, a text file."""
    folder = tmp_path / "caps"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(NAT / "crafted-nat-tw-recycle.pcap", folder / "nat.pcap")
    shutil.copy(NAT / "crafted-nat-no-drops.pcap", folder / "sub" / "fine.pcap")
    (folder / "broken.pcap").write_bytes(b"this is not a capture at all\n" * 4)
    (folder / "empty.pcapng").write_bytes(b"")
    (folder / "notes.txt").write_text("not picked up by the directory walk")
    return folder


def test_a_file_named_twice_is_scanned_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _folder(tmp_path)
    (folder / "latest.pcap").symlink_to("nat.pcap")
    os.link(folder / "sub" / "fine.pcap", folder / "sub" / "fine-copy.pcap")
    given = [str(folder), str(folder / "sub" / ".." / "nat.pcap"), str(folder / "nat.pcap")]
    kept, repeats = one_path_per_file(expand_paths(given))
    named = {Path(r.path).relative_to(folder).as_posix(): r.same_as for r in repeats}
    assert named == {  # each kept under its first name in sorted order
        "nat.pcap": str(folder / "latest.pcap"),
        "sub/../nat.pcap": str(folder / "latest.pcap"),
        "sub/fine.pcap": str(folder / "sub" / "fine-copy.pcap"),
    }
    assert [Path(p).name for p in kept] == [
        "broken.pcap",
        "empty.pcapng",
        "latest.pcap",
        "fine-copy.pcap",
    ]
    out = tmp_path / "scan.json"
    assert run(["scan", *given, "-j", "1", "--format", "json", "-o", str(out)]) == 0
    assert len(json.loads(out.read_text())["captures"]) == 4
    err = capsys.readouterr().err
    assert "nat.pcap and 2 more named a file listed already" in err
    assert run(["scan", *given, "-j", "1", "-q", "--format", "json", "-o", str(out)]) == 0
    assert "named a file listed already" in capsys.readouterr().err  # -q: no progress only


def test_expand_paths_walks_folders_for_capture_names(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    assert [Path(p).relative_to(folder).as_posix() for p in expand_paths([str(folder)])] == [
        "broken.pcap",
        "empty.pcapng",
        "nat.pcap",
        "sub/fine.pcap",
    ]
    assert expand_paths([str(folder / "**" / "*.pcap")]) == sorted(
        str(folder / p) for p in ("broken.pcap", "nat.pcap", "sub/fine.pcap")
    )
    assert expand_paths([str(folder / "notes.txt")]) == [
        str(folder / "notes.txt")
    ]  # explicit: always
    with pytest.raises(UsageError):
        expand_paths([str(folder / "*.nothing")])
    assert (
        is_capture_name("x.PCAPNG.zst")
        and is_capture_name("a.cap.gz")
        and not is_capture_name("a.json")
    )


def test_scan_takes_jobs_and_quiet_as_analyze_does(tmp_path: Path) -> None:
    """``-j/--jobs`` is ``--workers`` (the name every other command uses) and ``-q`` is taken."""
    folder = _folder(tmp_path)
    outs = [tmp_path / "workers.json", tmp_path / "jobs.json"]
    assert run(["scan", str(folder), "--workers", "1", "--format", "json", "-o", str(outs[0])]) == 0
    assert run(["scan", str(folder), "-j", "1", "-q", "--format", "json", "-o", str(outs[1])]) == 0
    assert outs[0].read_text() == outs[1].read_text()
    assert json.loads(outs[1].read_text())["captures"]


def test_scan_reports_broken_files_and_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _folder(tmp_path)
    out = tmp_path / "scan.json"
    status = run(["scan", str(folder), "--workers", "2", "--format", "json", "-o", str(out)])
    err = capsys.readouterr().err
    assert status == 0
    assert "Traceback" not in err
    doc = json.loads(out.read_text())
    assert doc["schema"] == "pcapline-scan/1"
    by_name = {Path(c["path"]).name: c for c in doc["captures"]}
    assert list(by_name) == ["broken.pcap", "empty.pcapng", "nat.pcap", "fine.pcap"]
    assert "not a pcap or pcapng" in by_name["broken.pcap"]["error"]
    assert by_name["empty.pcapng"]["error"]
    assert "\n" not in by_name["broken.pcap"]["error"]
    nat = by_name["nat.pcap"]
    assert nat["error"] is None
    assert (nat["frames"], nat["connections"]) == (963, 97)
    assert nat["fates"] == {"closed": 92, "connect_timeout": 5}
    assert [f["kind"] for f in nat["findings"]] == ["nat_timestamp"]
    assert by_name["fine.pcap"]["findings"] == []
    (top,) = doc["findings"]
    assert top["capture"] == nat["path"] and top["ip"] == "203.0.113.50"
    assert (
        top["connections"]
        == json.loads((NAT / "crafted-nat-tw-recycle.expected.json").read_text())["findings"][0][
            "connections"
        ]
    )


def test_text_csv_and_html_outputs(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    hostile = folder / "<img src=x onerror=alert(1)>.pcap"
    shutil.copy(NAT / "crafted-single-host-overload.pcap", hostile)
    seen: list[str] = []
    captures = scan(
        [str(folder)], workers=1, progress=True, on_result=lambda c: seen.append(c.path)
    )
    assert sorted(seen) == [c.path for c in captures]
    text = render(captures, "text", width=200)
    # 2 findings: nat.pcap's nat_timestamp, and the overloaded server of the hostile-named copy
    # (crafted-single-host-overload: ~40 % of SYNs dropped) is a syn_retry_burst
    assert "5 capture(s), 2 unreadable, 297 connection(s), 2 finding(s)" in text
    assert "92 closed, 5 connect_timeout" in text
    csv_lines = render(captures, "csv").splitlines()
    assert csv_lines[0].startswith("path,frames,connections,closed,refused,")
    nat_row = next(line for line in csv_lines if line.endswith("nat.pcap") or "nat.pcap," in line)
    assert ",963,97,92,0,5," in nat_row and "nat_timestamp" in nat_row
    html = render(captures, "html")
    assert "<img" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;.pcap" in html
    assert html.count("<section") == 5


def test_csv_cells_escape_control_characters_of_file_names(tmp_path: Path) -> None:
    """A file name's ESC, OSC and BEL (set a terminal's colours or title) are escapes in the
    CSV as in every other output."""
    names = ["w\x1b[31m.pcap", "e\x1b]0;T\x07.pcap"]
    for name in names:
        shutil.copy(NAT / "crafted-single-host-overload.pcap", tmp_path / name)
    (tmp_path / "x\x1b[2J.pcap").write_bytes(b"")  # unreadable: its error names it too
    csv_text = render(scan([str(tmp_path)], workers=1), "csv")
    assert not any(c in csv_text for c in "\x1b\x07")
    assert "w\\x1b[31m.pcap" in csv_text and "e\\x1b]0;T\\x07.pcap" in csv_text
    assert "x\\x1b[2J.pcap" in csv_text


@pytest.mark.parametrize(
    ("fail_on", "status", "matched"),
    [
        ("nat_timestamp", 1, "1 nat_timestamp"),
        ("syn_flood,refused", 0, None),
        ("connect_timeout", 1, "5 connect_timeout"),
    ],
)
def test_fail_on_finding_kinds_and_fates(
    fail_on: str,
    status: int,
    matched: str | None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["scan", str(NAT), "--workers", "1", "--fail-on", fail_on, "-o", str(tmp_path / "o")]
    assert run(argv) == status
    said = capsys.readouterr().err.splitlines()
    assert said == ([] if matched is None else [f"pcapline: --fail-on matched {matched}"])


def test_fail_on_an_unknown_name_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["scan", str(NAT), "--fail-on", "bogus"]) == 2
    assert "unknown finding kind, fate or slow tag 'bogus'" in capsys.readouterr().err
    assert fail_on_names(["failures"]) >= {"connect_timeout", "listen_overflow"}


def test_no_captures_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["scan", str(tmp_path)]) == 2
    assert "no capture files" in capsys.readouterr().err


def test_a_missing_path_is_a_usage_error_like_an_empty_glob(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: a missing PATH became an error row and exit 0, while an empty glob was exit 2.
    missing = tmp_path / "no-such-dir"
    assert run(["scan", str(NAT), str(missing)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [f"pcapline: error: {missing}: no such file or directory"]
    assert run(["scan", str(tmp_path / "*.pcap")]) == 2
    assert len(capsys.readouterr().err.splitlines()) == 1
    with pytest.raises(UsageError, match="no such file or directory"):
        expand_paths([str(missing / "x.pcap")])


def test_a_scan_that_read_no_capture_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every capture unreadable: the rows are written, one line says none was analysed, exit
    2 (before: exit 0, a cron job's "nothing found"). One readable among them: exit 0."""
    junk = [tmp_path / "a.pcap", tmp_path / "b\x1b[31m.pcap"]
    junk[0].write_bytes(b"not a capture at all, just text\n" * 4)
    junk[1].write_bytes(b"")
    out = tmp_path / "scan.json"
    assert run(["scan", str(junk[0]), str(junk[1]), "--format", "json", "-o", str(out)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(
        f"pcapline: error: none of the 2 capture(s) could be analysed: {junk[0]}: "
    )
    assert line.endswith(" (and 1 more; see their error)")
    assert line.count(str(junk[0])) == 1  # the error names the capture; not said twice
    rows = json.loads(out.read_text())["captures"]
    assert [bool(r["error"]) for r in rows] == [True, True]
    assert run(["scan", str(junk[1]), "--fail-on", "failures"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "\x1b" not in line and "b\\x1b[31m.pcap" in line  # the name escaped
    assert run(["scan", str(junk[0]), str(NAT), "-q"]) == 0
    assert capsys.readouterr().err == ""


def test_empty_fail_on_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["scan", str(NAT), "--fail-on", ""]) == 2
    assert "no finding kind, fate or slow tag given" in capsys.readouterr().err
    with pytest.raises(UsageError):
        fail_on_names([" , "])
    assert fail_on_names([]) == frozenset()


@pytest.mark.slow
def test_local_and_dask_give_identical_results() -> None:
    distributed = pytest.importorskip("distributed")
    paths = [str(NAT)]
    if (CORPUS / "MANIFEST.tsv").is_file():
        paths += [str(CORPUS / "dpkt"), str(CORPUS / "tcpdump" / "of10_pf5240.pcap")]
    local = scan(paths, workers=2)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=50
    ) as cluster:
        remote = scan(paths, scheduler=cluster.scheduler_address)
    assert render(remote, "json") == render(local, "json")
    assert [c.path for c in remote] == sorted(c.path for c in remote)
    kinds = sorted(f["kind"] for c in remote for f in c.findings)
    # nat_timestamp on crafted-nat-tw-recycle; syn_retry_burst on the two crafted captures whose
    # server drops ~35-40 % of SYNs at random (crafted-nat-overload-drops, -single-host-overload)
    assert kinds == ["nat_timestamp", "syn_retry_burst", "syn_retry_burst"]


@pytest.mark.slow
def test_unreachable_scheduler_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "SCHEDULER_CONNECT_TIMEOUT_S", 0.5)  # refused: no need to wait 5 s
    assert run(["scan", str(NAT), "--scheduler", "tcp://127.0.0.1:1"]) == 2
    err = capsys.readouterr().err
    # the words of analyze --scheduler's (engine.dask_client): one way to connect for both
    assert (
        err.startswith("pcapline: error: cannot reach the Dask scheduler at tcp://127.0.0.1:1: ")
        and err.count("\n") == 1
    )


@needs_corpus
@pytest.mark.slow
def test_corpus_scan_completes_without_traceback() -> None:
    files = expand_paths([str(CORPUS)])[::CORPUS_STRIDE]
    started = time.perf_counter()
    captures = scan(files, workers=2)
    elapsed = time.perf_counter() - started
    assert len(captures) == len(files)
    bugs = [(c.path, c.error) for c in captures if c.error and c.error.startswith("internal error")]
    assert bugs == []
    assert sum(1 for c in captures if not c.error) >= 0.9 * len(files)
    assert not [c.path for c in captures if any(f["kind"] == "nat_timestamp" for f in c.findings)]
    doc = document(captures)
    json.dumps(doc)  # plain JSON all the way down
    print(f"corpus scan: {len(files)} captures in {elapsed:.1f} s")


def test_cli_in_a_real_process(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "pcapline", "scan", str(folder), "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "nat_timestamp" in proc.stdout and "2 unreadable" in proc.stdout


def test_fork_server_preloads_everything_analysing_a_capture_imports() -> None:
    """A worker imports nothing of pcapline on its first capture: the fork server did."""
    script = (
        "import importlib, sys\n"
        "from pcapline.scan.run import PIPELINE_MODULES, summarize_capture\n"
        "for name in PIPELINE_MODULES: importlib.import_module(name)\n"
        "before = set(sys.modules)\n"
        f"for name in ('app-tls-http.pcap', 'icmp-reject-admin-prohibited-at-client.pcap'):\n"
        f"    summarize_capture({str(ROOT / 'sample_captures')!r} + '/' + name)\n"
        "print(sorted(m for m in set(sys.modules) - before if m.startswith('pcapline')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, env=os.environ
    )
    assert done.stdout.strip() == "[]"
