"""cli.py: commands, output files, --fail-on and exit codes; bad input is one stderr line."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from builders.captures import two_connections_pcap
from click.testing import CliRunner
from contract_pcapline1 import check_document
from needs import CORPUS, needs_corpus

from pcapline.cli import cli, run


@pytest.fixture(scope="module")
def two_conns(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return two_connections_pcap(tmp_path_factory.mktemp("cap") / "two.pcap")


def _invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


# --- bad input: exit 2, one line, no traceback -------------------------------------------


def _bad_inputs(tmp: Path) -> dict[str, Path]:
    (tmp / "empty.pcap").write_bytes(b"")
    (tmp / "text.txt").write_text("GET / HTTP/1.1\r\nHost: example\r\n\r\n" * 20)
    (tmp / "adir").mkdir()
    return {
        "missing": tmp / "no-such-file.pcap",
        "empty": tmp / "empty.pcap",
        "not a capture": tmp / "text.txt",
        "directory": tmp / "adir",
    }


@pytest.mark.parametrize("case", ["missing", "empty", "not a capture", "directory"])
def test_bad_input_is_one_line_and_exit_2(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _bad_inputs(tmp_path)[case]
    assert run(["analyze", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("pcapline: error: ")
    assert "Traceback" not in err


def test_bad_input_in_a_real_process(tmp_path: Path) -> None:
    path = _bad_inputs(tmp_path)["not a capture"]
    proc = subprocess.run(
        [sys.executable, "-m", "pcapline", "analyze", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PCAPLINE_DEBUG": "0"},
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1 and proc.stderr.startswith("pcapline: error: ")


@pytest.mark.parametrize(
    "args",
    [
        ["analyze"],  # missing CAPTURE
        ["analyze", "x.pcap", "--format", "yaml"],
        ["analyze", "x.pcap", "--fail-on", "closed,exploded"],
        ["analyze", "x.pcap", "--port", "70000"],
        ["no-such-command"],
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(args) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("pcapline: error: "), err


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (
            ["analyze", "x.pcap", "-o", ""],
            "Invalid value for '-o' / '--output': an empty file name",
        ),
        (["report", "x.pcap", "-o", ""], "Invalid value for '-o' / '--output': an empty file name"),
        (
            ["analyze", "x.pcap", "--spill-dir", ""],
            "Invalid value for '--spill-dir': an empty folder name",
        ),
        (
            ["analyze", "x.pcap", "--spill-dir", "/dev/null"],
            "Invalid value for '--spill-dir': /dev/null is not a folder",
        ),
    ],
)
def test_an_empty_or_wrong_kind_of_path_says_what_is_wrong(
    args: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """They said "cannot write : Is a directory", "No such file or directory" (naming
    nothing) and "/dev/null: File exists"."""
    assert run(args) == 2
    command = f"pcapline {args[0]}"
    assert capsys.readouterr().err == f"pcapline: error: {said} (see '{command} --help')\n"


@pytest.mark.parametrize("bounded", [False, True])
def test_parquet_tables_to_a_file_that_is_no_folder_say_so(
    bounded: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    capture = str(
        Path(__file__).resolve().parents[1] / "sample_captures" / "closed-client-first.pcap"
    )
    argv = ["analyze", capture, "--format", "parquet", "-o", "/dev/null"]
    assert run([*argv, *(["--memory-bounded"] * bounded)]) == 2
    assert capsys.readouterr().err == (
        "pcapline: error: cannot write the Parquet tables to /dev/null: it is not a folder (-o "
        "DIR for the connections and events tables, or -o FILE.parquet for the connections "
        "table alone)\n"
    )


def test_pcapline_alone_prints_its_help_as_laid_out(capsys: pytest.CaptureFixture[str]) -> None:
    """No command: the usage and the commands, line by line (it was folded into one error
    line of "\\x0a"s), and exit 2 as any usage error."""
    assert run([]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Usage: pcapline [OPTIONS] COMMAND [ARGS]...\n")
    assert "\\x0a" not in err and "\n  analyze     Summarise every TCP connection" in err


@pytest.mark.parametrize(
    "args,option",
    [
        (["analyze", "--host", "bogus"], "--host"),
        (["analyze", "--host", "10.14.0.01"], "--host"),  # leading zero: octal or decimal? refused
        (["analyze", "--host", "10.0.0.256"], "--host"),
        (["report", "-o", "x.html", "--host", "2001:db8::g"], "--host"),
        (["analyze", "--fail-on", ""], "--fail-on"),  # e.g. an unset CI variable
        (["analyze", "--fail-on", " , "], "--fail-on"),
    ],
)
def test_bad_host_or_fail_on_value_is_exit_2(
    args: list[str], option: str, two_conns: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run([args[0], str(two_conns), *args[1:]]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.splitlines()) == 1 and err.startswith(
        f"pcapline: error: Invalid value for '{option}'"
    ), err


def test_bad_host_and_empty_fail_on_are_refused_before_reading(
    two_conns: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: --host bogus selected nothing and --fail-on passed (exit 0, "no TCP connections").
    assert run(["analyze", str(two_conns), "--host", "bogus", "--fail-on", "refused"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        (
            "pcapline: error: Invalid value for '--host': 'bogus' is not an IPv4 or IPv6 address "
            "(see 'pcapline analyze --help')"
        )
    ]
    assert run(["analyze", str(two_conns), "--fail-on", ""]) == 2
    assert "--fail-on': no fate given" in capsys.readouterr().err


def test_host_accepts_ipv4_and_any_spelling_of_ipv6(two_conns: Path, tmp_path: Path) -> None:
    assert _invoke("analyze", str(two_conns), "--host", "10.0.0.2", "--fail-on", "refused")[0] == 1
    v6 = Path(__file__).resolve().parents[1] / "sample_captures" / "ipv6-refused.pcap"
    doc = json.loads(_invoke("analyze", str(v6), "--format", "json")[1])
    server = doc["connections"][0]["server"]["ip"]
    shouting = server.upper().replace("::", ":0::", 1) if "::" in server else server.upper()
    code, out, _ = _invoke(
        "analyze", str(v6), "--format", "json", "--host", shouting, "--fail-on", "refused"
    )
    assert code == 1
    assert [c["server"]["ip"] for c in json.loads(out)["connections"]] == [server]


def test_unknown_fate_names_the_choices(capsys: pytest.CaptureFixture[str]) -> None:
    run(["analyze", "x.pcap", "--fail-on", "exploded"])
    err = capsys.readouterr().err
    assert "unknown fate 'exploded'" in err and "keepalive_timeout" in err


def test_unexpected_exception_is_exit_3_without_traceback(
    monkeypatch: pytest.MonkeyPatch, two_conns: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*_a: object, **_k: object) -> None:
        raise ZeroDivisionError("boom")

    monkeypatch.setattr("pcapline.engine.analyse", broken)
    monkeypatch.delenv("PCAPLINE_DEBUG", raising=False)
    assert run(["analyze", str(two_conns)]) == 3
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "pcapline: error: internal error: ZeroDivisionError: boom "
        "(this is a bug, please report it; PCAPLINE_DEBUG=1 shows the traceback)"
    ]


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--version"]) == 0
    assert capsys.readouterr().out.startswith("pcapline, version ")
    assert run(["--help"]) == 0
    out = capsys.readouterr().out
    assert "analyze" in out and "report" in out and "timeline" in out


# --- a real (crafted) capture through the whole pipeline ---------------------------------


def test_text_summary(two_conns: Path) -> None:
    code, out, err = _invoke("analyze", str(two_conns))
    assert code == 0 and err == ""
    assert "12 frames: 11 TCP, 1 skipped (not_tcp 1)" in out
    assert "2 connections: 1 refused, 1 closed" in out
    # the rows (the "why" of each may sit on the lines under it, indented)
    body = [line for line in out.split("\n\n", 1)[1].splitlines() if not line.startswith("    ")]
    assert body[1].split()[:4] == [
        "1",
        "10.0.0.1:40001",
        "10.0.0.2:81",
        "+90.0ms",
    ]  # failures first; frame 10 at 0.09 s
    assert body[2].split()[0] == "0"


def test_json_meets_the_contract(two_conns: Path) -> None:
    code, out, _ = _invoke("analyze", str(two_conns), "--format", "json")
    assert code == 0
    doc = json.loads(out)
    check_document(doc)
    assert [(c["id"], c["fate"]) for c in doc["connections"]] == [(0, "closed"), (1, "refused")]
    closed, refused = doc["connections"]
    assert (closed["first_frame"], closed["last_frame"], closed["packets"]) == (1, 9, 9)
    assert (closed["bytes_client"], closed["bytes_server"], closed["closer"]) == (5, 5, "client")
    assert (refused["reset_by"], refused["counts"]["resets"]) == ("server", 1)
    assert doc["capture"]["skipped"] == {"not_tcp": 1}


def test_csv_parses_with_pandas(two_conns: Path) -> None:
    code, out, _ = _invoke("analyze", str(two_conns), "--format", "csv")
    assert code == 0
    table = pd.read_csv(io.StringIO(out))
    assert table["fate"].tolist() == ["closed", "refused"]
    assert table["server_port"].tolist() == [80, 81]


@pytest.mark.parametrize(
    "fmt,check", [("json", json.loads), ("csv", lambda t: pd.read_csv(io.StringIO(t)))]
)
def test_output_file_is_written_and_stdout_stays_empty(
    two_conns: Path, tmp_path: Path, fmt: str, check
) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / f"out.{fmt}"
    code, out, _ = _invoke("analyze", str(two_conns), "--format", fmt, "-o", str(target))
    assert code == 0 and out == ""
    check(target.read_text())


def test_output_into_a_missing_directory_is_exit_2(
    two_conns: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["analyze", str(two_conns), "-o", str(tmp_path / "nope" / "x.txt")]) == 2
    assert capsys.readouterr().err.startswith("pcapline: error: cannot write ")


def test_parquet_needs_an_output_file(
    two_conns: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["analyze", str(two_conns), "--format", "parquet"]) == 2
    assert "needs -o DIR" in capsys.readouterr().err
    pytest.importorskip("pyarrow")
    target = tmp_path / "c.parquet"
    assert run(["analyze", str(two_conns), "--format", "parquet", "-o", str(target)]) == 0
    assert pd.read_parquet(target)["fate"].tolist() == ["closed", "refused"]


@pytest.mark.parametrize(
    "fail_on,expected",
    [
        (["--fail-on", "refused"], 1),
        (["--fail-on", "reset,connect_timeout"], 0),
        (["--fail-on", "reset", "--fail-on", "refused"], 1),
        (["--fail-on", "failures"], 1),
        (["--fail-on", "closed"], 1),
        ([], 0),
    ],
)
def test_fail_on(two_conns: Path, fail_on: list[str], expected: int) -> None:
    code, _, err = _invoke("analyze", str(two_conns), "--format", "json", *fail_on)
    assert code == expected
    assert ("--fail-on matched" in err) == (expected == 1)


def test_fail_on_sees_only_selected_connections(two_conns: Path) -> None:
    code, _, _ = _invoke("analyze", str(two_conns), "--port", "80", "--fail-on", "refused")
    assert code == 0
    code, _, _ = _invoke("analyze", str(two_conns), "--stream", "1", "--fail-on", "refused")
    assert code == 1


def test_filters_keep_wireshark_ids(two_conns: Path) -> None:
    _code, out, _ = _invoke("analyze", str(two_conns), "--format", "json", "--port", "81")
    doc = json.loads(out)
    assert [c["id"] for c in doc["connections"]] == [1]
    assert doc["capture"]["frames"] == 12  # capture facts describe the whole file
    _, out, _ = _invoke("analyze", str(two_conns), "--format", "json", "--host", "10.0.0.9")
    assert json.loads(out)["connections"] == []


def test_truncated_tail_is_a_warning_and_the_report_still_comes(
    two_conns: Path, tmp_path: Path
) -> None:
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(two_conns.read_bytes()[:-10])  # the file ends inside the last (UDP) record
    code, out, err = _invoke("analyze", str(cut), "--format", "json")
    assert code == 0
    assert err.startswith("pcapline: warning: ") and len(err.splitlines()) == 1
    doc = json.loads(out)
    check_document(doc)
    assert doc["capture"]["skipped"] == {"truncated_record": 1}
    assert doc["capture"]["warnings"] == [err.removeprefix("pcapline: warning: ").strip()]
    assert [c["fate"] for c in doc["connections"]] == ["closed", "refused"]


def test_unknown_stream_is_exit_2(two_conns: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["analyze", str(two_conns), "--stream", "7"]) == 2
    assert "no connection with id 7" in capsys.readouterr().err


def test_filtered_text_describes_the_whole_capture_then_the_selection(two_conns: Path) -> None:
    # Before: "conns    no TCP connections" for a host that matches nothing.
    code, out, _ = _invoke("analyze", str(two_conns), "--host", "10.99.9.9")
    assert code == 0
    assert out.splitlines()[-2:] == [
        "conns    2 connections: 1 refused, 1 closed",
        "         no connection matches --host 10.99.9.9",
    ]
    _, out, _ = _invoke("analyze", str(two_conns), "--port", "80", "--host", "10.0.0.1")
    assert (
        "         showing 1 of 2 connections (filter: --host 10.0.0.1 --port 80): 1 closed"
        in out.splitlines()
    )
    _, out, _ = _invoke("analyze", str(two_conns))
    assert "showing" not in out and "conns    2 connections: 1 refused, 1 closed" in out


def test_stream_text_appends_the_timeline(two_conns: Path) -> None:
    code, out, _ = _invoke("analyze", str(two_conns), "--stream", "1")
    assert code == 0
    assert "conns    2 connections: 1 refused, 1 closed" in out
    assert "showing 1 of 2 connections (filter: --stream 1): 1 refused" in out
    assert "connection 1: client 10.0.0.1:40001" in out


def test_stdin_and_compressed_input(two_conns: Path) -> None:
    packed = gzip.compress(two_conns.read_bytes())
    result = CliRunner().invoke(cli, ["analyze", "-", "--format", "json"], input=packed)
    assert result.exit_code == 0, result.output
    assert [c["fate"] for c in json.loads(result.stdout)["connections"]] == ["closed", "refused"]


def test_python_dash_m_runs_the_cli(two_conns: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pcapline", "analyze", str(two_conns), "--fail-on", "refused"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "2 connections: 1 refused, 1 closed" in proc.stdout
    assert proc.stderr == "pcapline: --fail-on matched 1 connection(s): 1 refused\n"


# --- HTML -----------------------------------------------------------------------------------


def test_report_and_format_html_write_the_same_kind_of_page(
    two_conns: Path, tmp_path: Path
) -> None:
    report = tmp_path / "report.html"
    code, out, _ = _invoke("report", str(two_conns), "-o", str(report))
    assert code == 0 and out == ""
    page = report.read_text()
    assert page.lstrip().lower().startswith("<!doctype html")
    assert "refused" in page and "10.0.0.1" in page
    via_analyze = tmp_path / "a.html"
    assert _invoke("analyze", str(two_conns), "--format", "html", "-o", str(via_analyze))[0] == 0
    assert via_analyze.read_text().lower().startswith("<!doctype html")


def test_report_requires_an_output_file(
    capsys: pytest.CaptureFixture[str], two_conns: Path
) -> None:
    assert run(["report", str(two_conns)]) == 2
    assert "'-o'" in capsys.readouterr().err


# --- real captures from the shared corpus: a report or exit 2, never a crash ----------------


def _corpus_sample() -> list[Path]:
    """Every 40th capture under 300 kB in MANIFEST order: ~50 files, many link types."""
    import csv

    with (CORPUS / "MANIFEST.tsv").open(newline="") as manifest:
        rows = [
            r for r in csv.DictReader(manifest, delimiter="\t") if int(r["size_bytes"]) < 300_000
        ]
    return [CORPUS / r["path"] for r in rows[::40]]


@needs_corpus
@pytest.mark.slow
def test_corpus_sample_gives_a_contract_document_or_one_error_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    outcomes: dict[int, int] = {}
    for path in _corpus_sample():
        code = run(["analyze", str(path), "--format", "json"])
        out, err = capsys.readouterr()
        outcomes[code] = outcomes.get(code, 0) + 1
        assert code in (0, 2), (path, err)
        if code == 0:
            check_document(json.loads(out))
        else:
            assert len(err.splitlines()) == 1 and err.startswith("pcapline: error: "), (path, err)
    assert outcomes.get(0, 0) >= 45, outcomes


@pytest.mark.parametrize(
    ("command", "output", "why"),
    [
        (["analyze"], "missing/out.json", "missing: no such folder"),
        (["analyze", "--format", "csv"], "a-file/out.csv", "a-file: not a folder"),
        (["analyze", "--format", "parquet"], "a-file/tables", "a-file: not a folder"),
        (["report"], "missing/r.html", "missing: no such folder"),
        (["scan"], "missing/s.txt", "missing: no such folder"),
    ],
)
def test_an_output_that_cannot_be_written_is_refused_before_the_capture_is_read(
    tmp_path: Path, command: list[str], output: str, why: str
) -> None:
    """-o into a missing folder came out as "cannot write" after the whole analysis
    (minutes for a big capture). The capture here is a FIFO nobody writes to, refused with
    an error of its own when it is read: the output's error must come before."""
    (tmp_path / "a-file").write_text("x")
    capture = tmp_path / "never.pcap"
    os.mkfifo(capture)
    target = tmp_path / output
    name, *options = command
    proc = subprocess.run(
        [sys.executable, "-m", "pcapline", name, str(capture), *options, "-o", str(target)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == f"pcapline: error: cannot write {target}: {tmp_path}/{why}\n"
    assert not target.exists()


def test_a_folder_that_refuses_new_files_is_said_so(tmp_path: Path) -> None:
    """/proc passes ``access(W_OK)`` for root and refuses every new file: "No such file or
    directory" for /proc/version, which exists, read as nonsense."""
    from pcapline import cli as command
    from pcapline.cli import OutputError

    if not Path("/proc/version").is_file():
        pytest.skip("no /proc/version here")
    with pytest.raises(
        OutputError, match=r"^cannot write /proc/version: cannot create a file in /proc \("
    ):
        command._output_writable("/proc/version")
    command._output_writable(str(tmp_path / "fine.json"))
    assert list(tmp_path.iterdir()) == []  # the probe file is gone again


@pytest.mark.parametrize("command", ["analyze", "scan"])
def test_a_spill_dir_that_did_not_exist_is_made_and_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    capture = Path(__file__).resolve().parents[1] / "sample_captures" / "app-tls-http.pcap"
    spill = tmp_path / "typo" / "spill"
    argv = [command, str(capture), "--spill-dir", str(spill), "-o", str(tmp_path / "out")]
    assert run(argv) == 0
    note = f"pcapline: note: --spill-dir {spill} did not exist: made it\n"
    assert capsys.readouterr().err == note
    assert spill.is_dir() and list(spill.iterdir()) == []  # its work folder removed
    assert run(argv) == 0
    assert capsys.readouterr().err == ""  # there now: nothing to say


def test_a_parquet_dataset_folder_may_be_made_on_the_way(tmp_path: Path) -> None:
    """A dataset's -o is a folder, made with its parents: only the nearest that exists must
    be a folder one may write in."""
    pytest.importorskip("pyarrow")
    target = tmp_path / "new" / "tables"
    capture = Path(__file__).resolve().parents[1] / "sample_captures" / "app-tls-http.pcap"
    assert run(["analyze", str(capture), "--format", "parquet", "-o", str(target)]) == 0
    assert sorted(p.name for p in target.iterdir()) == ["connections.parquet", "events.parquet"]


def test_the_early_output_check_follows_how_the_output_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A device is written as it is (``/dev`` itself is not writable for a user), a file
    beside its real path (a symlink's target's folder), a folder is no file."""
    from pcapline import cli as command
    from pcapline.cli import OutputError

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    link = tmp_path / "link.json"
    link.symlink_to(elsewhere / "real.json")
    writable = {"/dev/null", str(tmp_path)}  # as a user sees them: not /dev, nor elsewhere
    monkeypatch.setattr(os, "access", lambda path, _mode: os.fspath(path) in writable)
    command._output_writable("/dev/null")
    command._output_writable(str(tmp_path / "new.json"))
    with pytest.raises(OutputError, match=rf"^cannot write {link}: {elsewhere}: not writable"):
        command._output_writable(str(link))
    with pytest.raises(OutputError, match=rf"^cannot write {tmp_path}: it is a folder$"):
        command._output_writable(str(tmp_path))
    command._output_writable(str(tmp_path), dataset=True)  # a Parquet dataset's folder


def test_dash_o_dev_stdout_on_a_pipe_is_written() -> None:
    """/dev/stdout naming a pipe: its real path (``pipe:[N]`` under /proc) is no file; the
    early -o check takes the device as it is."""
    capture = Path(__file__).resolve().parents[1] / "sample_captures" / "app-tls-http.pcap"
    argv = ["analyze", str(capture), "--format", "json", "-o", "/dev/stdout"]
    proc = subprocess.run(
        [sys.executable, "-m", "pcapline", *argv],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["schema"] == "pcapline/1"
