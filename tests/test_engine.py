"""The partitioned engine (engine.py) gives the whole-file analysis byte for byte.

Every sample capture (real kernels) and corpus captures with reused ports (several
connections on one 4-tuple: stale-peer evidence crosses them) and odd stream numbering (clock
steps, tunnels) go through one partition in this process (the pipeline as it always ran),
several partitions in this process, a local process pool (``jobs=2``) and a Dask cluster of
separate worker processes; the JSON documents must be equal, and so must the merged facts.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import fields, replace
from pathlib import Path

import analysed
import numpy as np
import pandas as pd
import pytest
from builders.conversation import CLIENT, SERVER, Conversation, pcap_bytes
from needs import CORPUS, CORPUS_MARKS

from pcapline import engine
from pcapline.analysis import Analysis, analyze
from pcapline.cli import run
from pcapline.errors import PcaplineError
from pcapline.facts import Facts
from pcapline.findings import detections_read
from pcapline.quality import CaptureWide
from pcapline.render.figures.backoff import draws
from pcapline.render.html import render_html
from pcapline.render.jsondoc import write

SAMPLES = Path(__file__).resolve().parents[1] / "sample_captures"
SAMPLE_CAPTURES = sorted(
    p for p in SAMPLES.iterdir() if ".pcap" in p.name and not p.name.endswith(".json")
)

#: Corpus captures whose numbering is hard to keep: reused 4-tuples (several connections per
#: port pair, some split by Wireshark's SYN rule), clocks stepping back (kday*: merged
#: captures), RSTs with data and MPTCP resets.
CORPUS_CAPTURES = (
    "arkime/tcp_handshake_synthetic.pcap",
    "arkime/tcp-reassembly-synthetic.pcap",
    "tcpdump/kday1.pcap",
    "tcpdump/kday6.pcap",
    "tcpdump/tcp_rst_data.pcap",
    "tcpdump/mptcp-tcprst.pcap",
)


def _json(analysis: Analysis) -> str:
    out = io.StringIO()
    analysis.write_json(out)
    return out.getvalue()


def _same_facts(a: Facts | None, b: Facts | None, *, but: tuple[str, ...] = ()) -> None:
    assert a is not None and b is not None
    for f in fields(Facts):
        if f.name in but:
            continue
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype, f.name
            assert np.array_equal(x, y), f.name
        else:
            assert x == y, f.name


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A real Dask cluster: a scheduler and two worker processes."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as local:
        yield local.scheduler_address


def _every_path(path: Path, scheduler: str) -> None:
    whole = analysed.whole(path)
    expected = analysed.whole_json(path)
    if analysed.four_tuples(path) > 1:  # with one, three partitions are one: ``whole``'s run
        parted = analyze(path, partitions=3)
        assert _json(parted) == expected
        _same_facts(parted.facts, whole.facts)
        # The records the text, timeline and HTML renderers read beside the JSON's columns.
        assert list(parted.verdicts.items()) == list(whole.verdicts.items())
        assert list(parted.delays.items()) == list(whole.delays.items())
    # The CLI's JSON: each partition lays out its own connections' entries and hands back
    # only the detections the findings read.
    outcome = engine.analyse(
        path, partitions=4, jobs=2, keep_facts=False, detections=engine.Kept.READ, json_entries=True
    )
    out = io.StringIO()
    write(outcome.analysis, out, connections=outcome.json_entries)
    assert out.getvalue() == expected
    assert outcome.analysis.detections == detections_read(whole.detections)
    # The CLI's HTML: no facts kept (a section computes its connection's from the segments)
    # and, of the detections, those the findings read and those a chart draws. Which are
    # kept does not depend on where the partitions ran: in this process (the workers' path
    # is the JSON's above).
    drawn = engine.analyse(
        path, partitions=4, jobs=1, keep_facts=False, detections=engine.Kept.DRAWN
    ).analysis
    read = detections_read(whole.detections)
    assert drawn.detections == {
        conn: found for conn, found in whole.detections.items() if conn in read or draws(found)
    }
    assert drawn.facts is None
    again = drawn.with_facts_of(drawn.connections["id"].tolist()).facts
    _same_facts(again, whole.facts, but=("capture_end_ns",))  # only detectors read that one
    assert _json(analyze(path, scheduler=scheduler, partitions=3, keep_facts=False)) == expected


@pytest.mark.parametrize("path", SAMPLE_CAPTURES, ids=lambda p: p.name)
def test_every_path_gives_the_same_json_on_samples(path: Path, cluster: str) -> None:
    _every_path(path, cluster)


@pytest.mark.parametrize("name", [pytest.param(n, marks=CORPUS_MARKS) for n in CORPUS_CAPTURES])
def test_every_path_gives_the_same_json_on_corpus(name: str, cluster: str) -> None:
    _every_path(CORPUS / name, cluster)


@pytest.mark.parametrize(
    "name",
    [
        "retransmit-timeout-router-drop-at-router-client-side.pcap",  # an RTO backoff chart
        "slow-syn-retries-then-success.pcap",  # a SYN backoff chart
        "app-tls-http.pcap",
    ],
)
def test_the_reports_partitions_keep_what_its_sections_draw(name: str) -> None:
    """``report`` on many cores keeps no facts and only the detections a chart draws: the
    page is the one the whole analysis gives, graphs and backoff charts included."""
    path = SAMPLES / name
    whole = render_html(analyze(path))
    parted = engine.analyse(
        path, partitions=3, jobs=2, keep_facts=False, detections=engine.Kept.DRAWN
    ).analysis
    assert "backoff-" in whole or name == "app-tls-http.pcap"
    assert render_html(parted) == whole


def test_reused_ports_stay_in_one_partition() -> None:
    """The incarnations of one 4-tuple (either side as client) share a partition."""
    connections = pd.DataFrame(
        {
            "id": [0, 1, 2, 3],
            "client_ip": ["10.0.0.1", "10.0.0.2", "10.0.0.1", "10.0.0.3"],
            "client_port": [40000, 80, 40000, 5],
            "server_ip": ["10.0.0.2", "10.0.0.1", "10.0.0.2", "10.0.0.4"],
            "server_port": [80, 40000, 80, 6],
            "packets": [10, 1, 5, 100],
        }
    )
    segments = pd.DataFrame({"conn": [3, 0, 1, 2, 3]})
    tuples = engine.canonical_tuples(connections)
    assert tuples.tolist() == [0, 0, 0, 1]
    the_plan = engine.plan(segments, connections, 2)
    assert the_plan.part_of_conn.tolist() == [1, 1, 1, 0]  # the biggest tuple goes first
    assert the_plan.part_of_row.tolist() == [0, 1, 1, 1, 0]


def test_a_wrong_guess_of_the_capture_flags_is_run_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """Partitions whose first run took a lossy capture (measured wrong here): a clean one is
    analysed again with its real flags, so its connections keep the confidence the
    whole-file analysis gives them."""
    real = engine.measured_flags

    def lossy(segments: pd.DataFrame, capture_end_ns: int) -> CaptureWide:
        return replace(real(segments, capture_end_ns), lossy=True)

    monkeypatch.setattr(engine, "measured_flags", lossy)
    path = SAMPLES / "listen-overflow-backlog2-abort0.pcap"  # 5 connections, none lossy
    out = io.StringIO()
    shown = engine.Progress(enabled=True, out=out)
    parted = analyze(path, partitions=2, progress=shown)
    assert "analysing again" in out.getvalue()
    assert parted.capture.quality == analyze(path).capture.quality
    assert parted.capture.quality is not None
    assert parted.capture.quality["lossy_connections"] == 0


def capture_point_loss(folder: Path) -> Path:
    """A capture (written in ``folder``) of a connection whose middle segment the capture
    point missed (the client ACKs past it: ``CaptureWide.lossy``) beside a clean one on
    another 4-tuple."""
    lost = Conversation().handshake(0.0)
    lost.data(CLIENT, 0.01, 7).data(SERVER, 0.02, 1448)
    lost.data(SERVER, 0.0201, 1448, captured=False).data(SERVER, 0.0202, 1448)
    lost.ack(CLIENT, 0.021, ack=lost.nxt(SERVER)).rst(SERVER, 0.022)
    clean = Conversation(client=("10.0.0.3", 40001)).handshake(0.0)
    clean.data(CLIENT, 0.01, 10).ack(SERVER, 0.011).ack(CLIENT, 5.0)
    path = folder / "capture-point-loss.pcap"
    path.write_bytes(pcap_bytes(lost, clean))
    return path


@pytest.mark.parametrize("jobs", [1, 2])
@pytest.mark.parametrize(
    "name", ["slow-response-one-direction-at-client.pcap", "capture-point-loss"]
)
def test_partitions_first_run_on_the_measured_flags(name: str, jobs: int, tmp_path: Path) -> None:
    """The capture-wide quality flags every connection's confidence weighs (here a connection
    captured in one direction, a real kernel's; a segment the capture point missed) are
    measured over the partitions first (``engine.measured_flags``), so a capture showing one
    is analysed once per partition, in this process and on forked workers."""
    path = capture_point_loss(tmp_path) if name == "capture-point-loss" else SAMPLES / name
    shown = io.StringIO()
    parted = analyze(
        path, partitions=3, jobs=jobs, progress=engine.Progress(enabled=True, out=shown)
    )
    assert "analysing again" not in shown.getvalue()
    assert _json(parted) == _json(analyze(path))


def test_a_listener_split_across_partitions_is_run_again_with_its_whole_retries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SYN cookies are told by the listener: another connection to it had its SYN+ACK
    retried (listeners.retrying). Spread over 20 partitions, most of the flood's
    connections share a partition with no retried one; those partitions are analysed again
    with the whole capture's counts. The capture flags are guessed right here, so that rerun
    is the listener's alone."""
    path = SAMPLES / "syn-flood-cookies-and-a-client-at-server.pcap"
    whole = analyze(path)
    one = engine.plan(whole.segments, whole.connections, 1).partition(0)
    real_flags = engine.analyse_partition(
        one, engine.Settings(capture_end_ns=0, slow=None, keep_facts=False)
    ).quality.own
    monkeypatch.setattr(engine, "GUESS", real_flags)
    rerun: list[list[int]] = []
    real = engine._to_rerun

    def spy(*args: object) -> list[int]:
        rerun.append(real(*args))  # type: ignore[arg-type]
        return rerun[-1]

    monkeypatch.setattr(engine, "_to_rerun", spy)
    assert _json(analyze(path, partitions=20)) == _json(whole)
    assert len(rerun) == 1 and len(rerun[0]) > 1  # some partitions, for the listener only
    monkeypatch.setattr(engine, "_to_rerun", lambda *args: [])
    assert _json(analyze(path, partitions=20)) != _json(whole)  # the rerun was needed


def test_a_filtered_capture_reads_each_listeners_whole_series_in_every_partition(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """In a SYN-filtered capture a SYN+ACK sent once is no handshake timeout where its
    listener stopped resending another short of its limit (listeners.acking_unseen), a
    connection no partition of one connection sees. Even with the capture flags guessed
    right, every partition of a filtered capture is analysed again with the whole
    capture's listeners."""
    path = SAMPLES / "syn-filter-handshakes-acked-unseen-at-server.pcap"
    whole = analyze(path)
    one = engine.plan(whole.segments, whole.connections, 1).partition(0)
    real_flags = engine.analyse_partition(
        one, engine.Settings(capture_end_ns=0, slow=None, keep_facts=False)
    ).quality.own
    assert real_flags.flag_filtered
    monkeypatch.setattr(engine, "GUESS", real_flags)
    assert _json(analyze(path, partitions=13)) == _json(whole)


def test_a_filtered_capture_reruns_the_partitions_whose_fate_read_a_listener_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """In a capture of SYN/FIN/RST segments only, one SYN+ACK never retried is a handshake
    timeout only when its listener retried other SYN+ACKs (``classify.handshake_timeout``);
    counted over a partition alone the connection stays open. Such a partition runs again
    with the whole capture's counts although no fate it gave was a handshake timeout. The
    capture flags are guessed right here, so that rerun is the listener's alone."""
    path = SAMPLES / "syn-flood-backlog8-syncookies.pcap"
    whole = analyze(path)
    one = engine.plan(whole.segments, whole.connections, 1).partition(0)
    real_flags = engine.analyse_partition(
        one, engine.Settings(capture_end_ns=0, slow=None, keep_facts=False)
    ).quality.own
    assert real_flags.flag_filtered
    monkeypatch.setattr(engine, "GUESS", real_flags)
    assert _json(analyze(path, partitions=20)) == _json(whole)


def test_progress_is_one_line_rewritten_in_place() -> None:
    out = io.StringIO()
    shown = engine.Progress(enabled=True, out=out, size=2_000_000)
    shown.stage("analysing 10 connections", total=4)
    shown.step()
    shown.done()
    text = out.getvalue()
    assert text.startswith("\rpcapline: 2 MB: analysing 10 connections 0/4")
    assert "1/4, ETA" in text and "\n" not in text
    assert text.endswith("\r")  # the line is wiped at the end


def test_progress_counts_the_bytes_read_with_an_eta_until_the_next_stage(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The bounded path's reading stage (minutes on a big capture) moves with the bytes read;
    the count goes with the stage."""
    monkeypatch.setattr(engine, "_REDRAW_S", 0.0)  # every count drawn
    out = io.StringIO()
    shown = engine.Progress(enabled=True, out=out, size=3_000_000_000)
    shown.stage("reading and splitting in 60 partitions")
    shown.read(0, 3_000_000_000)
    shown.read(1_500_000_000, 3_000_000_000)
    shown.stage("numbering streams", total=60)
    lines = out.getvalue().split("\r")[1:]
    assert lines[1].startswith(
        "pcapline: 3,000 MB: reading and splitting in 60 partitions: 0 of 3,000 MB read ("
    )
    assert lines[2].startswith(
        "pcapline: 3,000 MB: reading and splitting in 60 partitions: 1,500 of 3,000 MB read, ETA "
    )
    assert lines[3].startswith("pcapline: 3,000 MB: numbering streams 0/60 (")


def test_progress_counts_a_compressed_source_put_on_disk_then_its_bytes_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Decompressing a big .gz to disk comes before the windows are read: its own count."""
    monkeypatch.setattr(engine, "_REDRAW_S", 0.0)
    out = io.StringIO()
    shown = engine.Progress(enabled=True, out=out, size=1_000_000_000)
    shown.stage("reading and splitting in 60 partitions")
    shown.unpacked("decompressed", 2_500_000_000)
    shown.read(1_000_000, 9_000_000_000)
    lines = out.getvalue().split("\r")[1:]
    assert lines[1].startswith(
        "pcapline: 1,000 MB: reading and splitting in 60 partitions: 2,500 MB decompressed to "
        "disk so far ("
    )
    assert ": 1 of 9,000 MB read, ETA " in lines[2]


def test_the_reading_eta_is_paced_from_the_end_of_the_unpacking(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """60 s of decompressing, then a tenth of the capture read in 10 s: 90 s left, not 630."""
    now = [0.0]
    monkeypatch.setattr(engine.time, "monotonic", lambda: now[0])
    out = io.StringIO()
    shown = engine.Progress(enabled=True, out=out)
    shown.stage("reading and splitting in 60 partitions")
    now[0] = 60.0
    shown.unpacked("decompressed", 9_000_000_000)
    shown.read(0, 9_000_000_000)
    now[0] = 70.0
    shown.read(900_000_000, 9_000_000_000)
    assert "900 of 9,000 MB read, ETA 90 s" in out.getvalue()


def test_progress_counts_are_drawn_ten_times_a_second_at_most() -> None:
    """A decompressor reports every piece it writes: thousands of lines a second unthrottled."""
    out = io.StringIO()
    shown = engine.Progress(enabled=True, out=out)
    shown.stage("reading and splitting in 2 partitions")
    for k in range(1, 1001):
        shown.unpacked("copied", k)
    assert out.getvalue().count("\r") <= 3  # the stage, then one or two counts


@pytest.mark.parametrize("bounded", [False, True])
def test_the_findings_stage_counts_its_finders(tmp_path: Path, bounded: bool) -> None:
    """The findings of a 30 M-packet capture take seconds: the stage steps finder by finder
    rather than sit still."""
    from pcapline import bounded as on_disk
    from pcapline import findings

    path = SAMPLES / "lossy-40-connections-3pct-drop.pcap"
    out = io.StringIO()
    shown = engine.Progress(enabled=True, out=out)
    if bounded:
        with on_disk.analyse(path, partitions=2, spill_dir=str(tmp_path), progress=shown):
            pass
    else:
        analyze(path, partitions=2, progress=shown)
    n = len(findings.FINDERS)
    steps = [line for line in out.getvalue().split("\r") if "cross-connection findings" in line]
    assert [line.split("findings ")[1].split(",")[0].split(" ")[0] for line in steps] == [
        f"{k}/{n}" for k in range(n + 1)
    ]


def test_progress_never_wraps_on_a_narrow_terminal() -> None:
    """A line wider than the terminal wraps, and "\r" then rewrites only its last row: on a
    30-column pane every update left another copy of it above the report."""
    import fcntl
    import struct
    import termios

    main, side = os.openpty()
    fcntl.ioctl(side, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 30, 0, 0))
    with os.fdopen(side, "w") as terminal:
        shown = engine.Progress(enabled=True, out=terminal, size=2_000_000)
        shown.stage("analysing 10,000 connections", total=4)
        shown.step()
        shown.done()
    text = os.read(main, 4096).decode()
    os.close(main)
    rows = text.split("\r")
    assert rows[1] == "pcapline: 2 MB: analysing 10,"  # 29 columns: the last one kept free
    assert max(len(row) for row in rows) == 29


def _stderr_on_a_terminal(argv: list[str]) -> tuple[int, str]:
    """``pcapline ARGV`` run with its stderr on a pseudo-terminal: its exit code and what the
    terminal got (standard output thrown away)."""
    import subprocess
    import sys

    main, side = os.openpty()
    done = subprocess.run(
        [sys.executable, "-m", "pcapline", *argv],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=side,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(SAMPLES.parent / "src")},
    )
    os.close(side)
    shown = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the terminal's other end is closed: all read
            break
        if not chunk:
            break
        shown += chunk
    os.close(main)
    return done.returncode, shown.decode()


def _lines(shown: str) -> list[str]:
    return [line.strip() for line in shown.split("\r") if line.strip()]


@pytest.mark.parametrize("quiet", [False, True])
def test_report_shows_its_progress_on_a_terminal_until_the_page_is_written(
    tmp_path: Path, quiet: bool
) -> None:
    """report: analyze's progress line on a terminal, then a last stage while the page is
    built (seconds for a large capture), wiped at the end; nothing with --quiet."""
    page = tmp_path / "r.html"
    argv = ["report", str(SAMPLES / "app-tls-http.pcap"), "-o", str(page), *(["-q"] * quiet)]
    code, shown = _stderr_on_a_terminal(argv)
    assert code == 0 and page.stat().st_size > 0
    lines = _lines(shown)
    if quiet:
        assert lines == []
    else:
        # The elapsed seconds are the box's business: a loaded one takes a second or more.
        assert re.fullmatch(r"pcapline: 0 MB: reading \(\d+ s\)", lines[0])
        assert re.fullmatch(r"pcapline: 0 MB: writing the report \(\d+ s\)", lines[-1])
        assert shown.endswith("\r")  # wiped: the line ends blank


@pytest.mark.parametrize(
    ("fmt", "written"), [("json", "the JSON document"), ("csv", "the CSV table")]
)
@pytest.mark.parametrize("bounded", [False, True])
def test_analyze_shows_a_last_stage_while_its_output_file_is_written(
    tmp_path: Path, fmt: str, written: str, bounded: bool
) -> None:
    """A big capture's output takes seconds to write (a merge of every partition's rows for
    CSV): the line says so, then is wiped. Written to standard output, no such stage (on a
    terminal it would land in the output)."""
    capture = str(SAMPLES / "lossy-40-connections-3pct-drop.pcap")
    options = ["--format", fmt, *(["--memory-bounded"] * bounded)]
    code, shown = _stderr_on_a_terminal(["analyze", capture, *options, "-o", str(tmp_path / "out")])
    assert code == 0 and (tmp_path / "out").stat().st_size > 0
    assert re.fullmatch(rf"pcapline: 0 MB: writing {written} \(\d+ s\)", _lines(shown)[-1])
    assert shown.endswith("\r")
    for device in ([], ["-o", "/dev/null"]):  # standard output, or a device named by -o
        code, shown = _stderr_on_a_terminal(["analyze", capture, *options, *device])
        assert code == 0
        assert "writing" not in shown and shown.endswith("\r")


def test_cli_is_quiet_when_stderr_is_not_a_terminal(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = SAMPLES / "closed-client-first.pcap"
    assert run(["analyze", str(path), "--format", "json", "--jobs", "2"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert captured.out.rstrip("\n") == analyze(path).to_json().rstrip("\n")


def test_parquet_dataset_holds_connections_and_events(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    path = SAMPLES / "keepalive-client-idle2-intvl1-cnt3.pcap"
    target = tmp_path / "dataset"
    assert run(["analyze", str(path), "--format", "parquet", "-o", str(target)]) == 0
    conns = pd.read_parquet(target / "connections.parquet")
    events = pd.read_parquet(target / "events.parquet")
    doc = analyze(path).to_dict()
    assert conns["id"].tolist() == [c["id"] for c in doc["connections"]]
    assert conns["fate"].tolist() == [c["fate"] for c in doc["connections"]]
    expected = [
        (c["id"], e["frame"], e["time"], e["from"], e["kind"], e["note"])
        for c in doc["connections"]
        for e in c["events"]
    ]
    named = events[["id", "frame", "time", "from", "kind", "note"]]  # and ``value``
    assert list(named.itertuples(index=False, name=None)) == expected
    assert "keepalive" in set(events["kind"])


def test_an_unreachable_scheduler_is_one_error_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("distributed")
    monkeypatch.setattr(engine, "SCHEDULER_CONNECT_TIMEOUT_S", 0.5)  # refused: no need to wait 5 s
    path = SAMPLES / "closed-client-first.pcap"
    assert run(["analyze", str(path), "--scheduler", "tcp://127.0.0.1:1"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1
    assert err[0].startswith(
        "pcapline: error: cannot reach the Dask scheduler at tcp://127.0.0.1:1"
    )


@pytest.mark.parametrize("bounded", [[], ["--memory-bounded"]], ids=["in-memory", "bounded"])
def test_a_malformed_scheduler_address_is_one_error_line(
    capsys: pytest.CaptureFixture[str], bounded: list[str]
) -> None:
    """It was an internal error (exit 3, ``ValueError: invalid literal for int()``)."""
    pytest.importorskip("distributed")
    path = str(SAMPLES / "closed-client-first.pcap")
    assert run(["analyze", path, *bounded, "--scheduler", "tcp://host:notaport"]) == 2
    assert capsys.readouterr().err == (
        "pcapline: error: cannot reach the Dask scheduler at tcp://host:notaport: invalid "
        "literal for int() with base 10: 'notaport'\n"
    )


@pytest.mark.parametrize("scheme", ["tls", "ucx"])
def test_a_scheduler_scheme_other_than_tcp_is_one_error_line(
    capsys: pytest.CaptureFixture[str], scheme: str
) -> None:
    """tls:// (certificates pcapline is not given) and ucx:// (a package it does not install)
    failed inside Dask: an internal error, exit 3."""
    pytest.importorskip("distributed")
    path = str(SAMPLES / "closed-client-first.pcap")
    assert run(["analyze", path, "--scheduler", f"{scheme}://127.0.0.1:1"]) == 2
    assert capsys.readouterr().err == (
        f"pcapline: error: --scheduler {scheme}://127.0.0.1:1: pcapline connects to Dask "
        "schedulers over tcp:// only (e.g. tcp://host:8786)\n"
    )


@pytest.mark.parametrize("command", ["analyze", "scan"])
def test_a_port_that_accepts_but_is_no_scheduler_is_given_up_on(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    """A web server, or a service that accepts and says nothing, on the --scheduler port:
    Dask's client waited for its first answer for ever (its timeout covers the connection)."""
    import socket
    import time

    pytest.importorskip("distributed")
    monkeypatch.setattr(engine, "SCHEDULER_CONNECT_TIMEOUT_S", 0.5)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        address = f"tcp://127.0.0.1:{server.getsockname()[1]}"
        started = time.monotonic()
        assert (
            run([command, str(SAMPLES / "closed-client-first.pcap"), "--scheduler", address]) == 2
        )
        took = time.monotonic() - started
    assert capsys.readouterr().err == (
        f"pcapline: error: cannot reach the Dask scheduler at {address}: it accepted the "
        "connection but gave no Dask answer within 1 s (a Dask scheduler listens on port "
        "8786 unless told otherwise)\n"
    )
    assert took < 30, took


@pytest.mark.parametrize("command", ["analyze", "scan", "report", "timeline"])
def test_an_empty_scheduler_address_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """``--scheduler "$DASK_SCHEDULER"`` with the variable unset: analyze failed with an
    internal error (exit 3), scan ran locally without a word."""
    assert run([command, str(SAMPLES / "closed-client-first.pcap"), "--scheduler", ""]) == 2
    assert capsys.readouterr().err == (
        "pcapline: error: Invalid value for '--scheduler': an empty address (expected "
        f"tcp://HOST:PORT) (see 'pcapline {command} --help')\n"
    )


def test_a_dead_pool_worker_is_one_error_naming_its_partition(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """What the OOM killer does: the worker vanishes (SIGKILL); no partial analysis."""
    import os
    import signal
    import time

    def killed(part: engine.Partition, settings: engine.Settings) -> engine.PartResult:
        if part.number == 0:
            time.sleep(30)  # busy when the other dies (then killed with the pool)
        if part.number == 1:
            time.sleep(0.5)  # partition 0 is surely held by now
            os.kill(os.getpid(), signal.SIGKILL)
        return real(part, settings)

    real = engine.analyse_partition
    monkeypatch.setattr(engine, "analyse_partition", killed)  # forked workers inherit it
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    path = SAMPLES / "lossy-40-connections-3pct-drop.pcap"
    with pytest.raises(engine.PartitionLost) as lost:
        analyze(path, partitions=3, jobs=2)
    # The dead worker's partition, not the busy one's (the pool fails both at once).
    assert str(lost.value) == (
        "a worker process died analysing partition 2 of 3 (killed, or out of memory: try "
        "fewer --jobs)"
    )
    assert list(tmp_path.iterdir()) == []  # the results the others left are gone


def test_pool_results_come_through_files_removed_with_the_pool(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Each partition's result is left in a file of the run's folder (``engine.hand_over``),
    read back and removed; the folder goes with the pool. Without a folder (the temporary
    folder cannot be written), the pipe carries them: the same analysis either way."""
    handed: list[str] = []
    real = engine.picked_up

    def picked_up(result: object) -> object:
        if isinstance(result, engine.Handed):
            handed.append(os.path.basename(result.path))
        return real(result)

    monkeypatch.setattr(engine, "picked_up", picked_up)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    path = SAMPLES / "lossy-40-connections-3pct-drop.pcap"
    expected = _json(analyze(path))
    assert _json(analyze(path, partitions=3, jobs=2)) == expected
    # (a set: a capture that contradicts the first run's ``GUESS`` hands each one twice)
    assert set(handed) == {f"partition-{n}.pickle" for n in range(3)}
    assert list(tmp_path.iterdir()) == []
    handed.clear()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "missing"))
    assert _json(analyze(path, partitions=3, jobs=2)) == expected
    assert handed == []


def test_a_result_that_cannot_be_written_comes_back_itself(tmp_path: Path) -> None:
    result = {"rows": np.arange(5)}
    assert engine.hand_over(result, str(tmp_path / "missing" / "partition-0.pickle")) is result
    handed = engine.hand_over(result, str(tmp_path / "partition-0.pickle"))
    assert handed == engine.Handed(str(tmp_path / "partition-0.pickle"))
    back = engine.picked_up(handed)
    assert list(back) == ["rows"] and np.array_equal(back["rows"], np.arange(5))
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(PcaplineError, match=r"read back .*partition-0\.pickle \(No such file"):
        engine.picked_up(handed)  # gone: a clean-up of the temporary folder
    cut = engine.hand_over(result, str(tmp_path / "partition-1.pickle"))
    assert isinstance(cut, engine.Handed)
    os.truncate(cut.path, 40)  # a worker killed while it wrote
    with pytest.raises(PcaplineError, match=r"read back .*partition-1\.pickle"):
        engine.picked_up(cut)


def test_a_lost_dask_scheduler_is_one_error_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """The scheduler stopped mid-run: the client cancels every future. It was an internal
    error (exit 3, ``FutureCancelledError``) after a logged asyncio traceback, in-memory and
    ``--memory-bounded``."""
    distributed = pytest.importorskip("distributed")
    from pcapline import bounded

    class Cancelled:
        def result(self) -> None:
            raise distributed.client.FutureCancelledError("part-1", "scheduler-connection-lost")

    def wait(futures: list[object], **_kwargs: object) -> tuple[set[object], set[object]]:
        return set(futures), set()  # distributed.wait: every future is done

    class Client:
        def submit(self, *_args: object, **_kwargs: object) -> Cancelled:
            return Cancelled()

        def scheduler_info(self) -> dict[str, object]:
            return {}

    monkeypatch.setattr(distributed, "wait", wait)
    monkeypatch.setattr(bounded, "numbered", lambda *_args: None)
    address = "tcp://10.0.0.9:8786"
    expected = (
        f"lost the connection to the Dask scheduler at {address} (stopped or "
        "unreachable) before every partition was analysed: nothing was written; run again"
    )
    cluster = engine.DaskCluster.__new__(engine.DaskCluster)
    cluster.plan = type("Plan", (), {"partition": lambda _self, n: n})()  # type: ignore[assignment]
    cluster.address, cluster.client = address, Client()
    cluster.watch = engine.WorkerWatch(cluster.client, address, 1)
    with pytest.raises(engine.PartitionLost) as raised:
        list(cluster.run([0], None, lambda: None))  # type: ignore[arg-type]
    assert str(raised.value) == expected
    dask_pass = bounded.DaskPass.__new__(bounded.DaskPass)
    job = type("Job", (), {"outputs": frozenset(), "parts": type("P", (), {"count": 1})()})()
    dask_pass.address, dask_pass.client, dask_pass.tick = address, Client(), lambda: None
    dask_pass.patience = 60.0
    with pytest.raises(engine.PartitionLost) as raised:
        list(dask_pass.run(job, [(0, None, None)], lambda: None))  # type: ignore[arg-type,list-item]
    assert str(raised.value) == expected


def test_dask_submit_drops_only_the_large_graph_advice() -> None:
    """Dask warned "Sending large graph of size 22 MiB ..." (six lines) for every partition:
    60 lines on stderr for the bench capture, around the capture's own warnings."""
    import warnings

    class Client:
        def submit(self, function: object, *args: object, pure: bool) -> tuple[object, ...]:
            warnings.warn("Sending large graph of size 22.02 MiB.", UserWarning, stacklevel=1)
            warnings.warn("something else", UserWarning, stacklevel=1)
            return (function, *args, pure)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert engine.dask_submit(Client(), len, "x") == (len, "x", False)
    assert [str(w.message) for w in caught] == ["something else"]


def test_a_dask_connection_closed_in_a_gather_is_a_lost_scheduler() -> None:
    """The scheduler killed late in a run: the result's gather raised ``CommClosedError``
    ("in <TCP (closed) ConnectionPool.gather ...>: Stream is closed"), which came out as
    that text; it is the lost scheduler's one line."""
    comm = pytest.importorskip("distributed.comm.core")

    class Gone:
        def result(self) -> None:
            raise comm.CommClosedError("in <TCP (closed) ConnectionPool.gather>: Stream is closed")

    class Client:
        def scheduler_info(self) -> dict[str, object]:
            return {"workers": {"tcp://w": {}}}

    watch = engine.WorkerWatch(Client(), "tcp://10.0.0.1:8786", 8)
    with pytest.raises(engine.PartitionLost) as lost:
        watch.result(Gone(), 3)
    assert str(lost.value) == engine.lost_scheduler("tcp://10.0.0.1:8786")


def test_a_dask_client_whose_event_loop_did_not_start_is_tried_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """distributed asserts its event-loop thread started within 10 s; on a busy CI box it
    once had not (exit 3, ``AssertionError``). Started again; twice is one error line."""
    distributed = pytest.importorskip("distributed")
    from pcapline.errors import UsageError

    monkeypatch.setattr(engine, "_answers_as_dask", lambda _address, _timeout: None)

    starts: list[str] = []

    def slow_then_fine(address: str, **_kwargs: object) -> str:
        starts.append(address)
        if len(starts) == 1:
            raise AssertionError
        return "client"

    monkeypatch.setattr(distributed, "Client", slow_then_fine)
    assert engine.dask_client("tcp://10.0.0.1:8786") == "client" and len(starts) == 2

    def never(address: str, **_kwargs: object) -> str:
        raise AssertionError

    monkeypatch.setattr(distributed, "Client", never)
    with pytest.raises(UsageError, match="Dask's client failed to start"):
        engine.dask_client("tcp://10.0.0.1:8786")
