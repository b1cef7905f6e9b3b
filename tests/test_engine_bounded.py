"""The bounded-memory path (bounded.py) gives the whole-file analysis byte for byte.

Every sample capture and the corpus captures of ``test_engine.py`` (reused 4-tuples, clocks
stepping back, tunnels) are analysed a partition at a time, in 1 and 7 partitions (the corpus
captures in 3 too), in this process and on two forked workers; the JSON document (findings included), the CSV and
the Parquet tables must equal the whole-file analysis', and the work folder must be gone.
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import analysed
import numpy as np
import pandas as pd
import pytest
from builders import capture_files, frames
from builders.terminal import foreground_job
from needs import CORPUS, CORPUS_MARKS
from test_engine import CORPUS_CAPTURES, SAMPLE_CAPTURES, SAMPLES, capture_point_loss

from pcapline import bounded
from pcapline.analysis import analyze
from pcapline.cli import run
from pcapline.errors import PcaplineError


def _whole(path: Path) -> tuple[str, str]:
    return analysed.whole_json(path), analysed.whole_csv(path)


#: (partitions, jobs): one partition; several in this process's pool; several on two workers.
EVERY_WAY = ((1, 1), (3, 1), (7, 2))
#: The samples skip the middle way: it is the last one with fewer partitions and no second
#: worker, so it adds no case the corpus captures do not run, at a third of the samples' cost.
SAMPLE_WAYS = ((1, 1), (7, 2))
#: A sample of one 4-tuple (most of them) lands whole in one partition however many are
#: asked for, the others empty (the split deals whole 4-tuples out): on forked workers it adds
#: nothing the samples with several 4-tuples and the corpus captures do not run, at two thirds
#: of this sweep's cost.
ONE_TUPLE_WAYS = ((1, 1),)


def _every_way(path: Path, tmp: Path, ways: tuple[tuple[int, int], ...] = EVERY_WAY) -> None:
    expected_json, expected_csv = _whole(path)
    spill = tmp / "spill"
    spill.mkdir()
    for partitions, jobs in ways:
        outputs = frozenset({"json", "table"})
        with bounded.analyse(
            path, partitions=partitions, jobs=jobs, outputs=outputs, spill_dir=str(spill)
        ) as result:
            assert len(os.listdir(spill)) == 1  # the work folder, until closed
            out = io.StringIO()
            result.write_json(out)
            assert out.getvalue() == expected_json, (partitions, jobs)
            with open(tmp / "out.json", "w", encoding="utf-8") as file:
                result.write_json(file)  # a regular file: written in place, ``jobs`` threads
            assert (tmp / "out.json").read_text(encoding="utf-8") == expected_json
            csv = io.StringIO()
            result.write_csv(csv)
            assert csv.getvalue() == expected_csv, (partitions, jobs)
        assert os.listdir(spill) == []


@pytest.mark.parametrize("path", SAMPLE_CAPTURES, ids=lambda p: p.name)
def test_bounded_path_gives_the_same_json_and_csv_on_samples(path: Path, tmp_path: Path) -> None:
    _every_way(path, tmp_path, SAMPLE_WAYS if analysed.four_tuples(path) > 1 else ONE_TUPLE_WAYS)


@pytest.mark.parametrize("name", [pytest.param(n, marks=CORPUS_MARKS) for n in CORPUS_CAPTURES])
def test_bounded_path_gives_the_same_json_and_csv_on_corpus(name: str, tmp_path: Path) -> None:
    _every_way(CORPUS / name, tmp_path)


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A real Dask cluster: a scheduler and two worker processes."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as local:
        yield local.scheduler_address


def test_a_report_whose_partitions_ran_on_dask_is_the_same(cluster: str, tmp_path: Path) -> None:
    """``analyze --scheduler`` on a big capture with ``--format html``: pass 2 on the cluster,
    the drawn connections analysed again here; the page is the in-memory one."""
    from pcapline.engine import Kept, analyse
    from pcapline.render.html import page_reads, render_html

    path = SAMPLES / "syn-flood-cookies-and-a-client-at-server.pcap"
    expected = render_html(analyse(path, keep_facts=False, detections=Kept.DRAWN).analysis)
    outputs = frozenset({"text", "drawn"})
    with bounded.analyse(
        path, scheduler=cluster, partitions=5, outputs=outputs, spill_dir=str(tmp_path)
    ) as result:
        whole = result.text_analysis()
        reads = page_reads(whole.connections)
        assert render_html(result.drawn(whole, events_of=reads.marked, drawn=reads.sections)) == (
            expected
        )
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("bounded_path", [[], ["--memory-bounded"]], ids=["in-memory", "bounded"])
def test_report_and_timeline_on_a_dask_cluster_write_what_they_write_here(
    bounded_path: list[str], cluster: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``report --scheduler`` and ``timeline --scheduler``: the partitions analysed on the
    cluster (both paths), the same page and the same timeline as on this machine."""
    path = str(SAMPLES / "slow-rto-storm-six-streams.pcap")
    here, there = tmp_path / "here.html", tmp_path / "there.html"
    assert run(["report", path, "-o", str(here)]) == 0
    assert run(["timeline", path, "4"]) == 0
    expected = capsys.readouterr()
    remote = ["--scheduler", cluster, *bounded_path]
    assert run(["report", path, "-o", str(there), *remote]) == 0
    assert run(["timeline", path, "4", *remote]) == 0
    assert capsys.readouterr() == expected
    assert there.read_bytes() == here.read_bytes()


#: Text columns of the connections table, some of them empty in every capture above.
TEXT_COLUMNS = ("fate", "closer", "reset_by", "cause", "explanation", "app_tls_sni", "seen")


@pytest.mark.parametrize(
    "name",
    [
        "lossy-40-connections-3pct-drop.pcap",
        "syn-flood-cookies-and-a-client-at-server.pcap",
        "port-reuse-same-4tuple-3x.pcap",
        "slow-rto-storm-six-streams.pcap",
    ],
)
def test_bounded_path_on_dask_gives_the_same_json(name: str, cluster: str, tmp_path: Path) -> None:
    path = SAMPLES / name
    expected_json, expected_csv = _whole(path)
    outputs = frozenset({"json", "table"})
    with bounded.analyse(
        path, scheduler=cluster, partitions=5, outputs=outputs, spill_dir=str(tmp_path)
    ) as result:
        out, csv = io.StringIO(), io.StringIO()
        result.write_json(out)
        result.write_csv(csv)
    assert out.getvalue() == expected_json
    assert csv.getvalue() == expected_csv
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    "name",
    [
        "lossy-40-connections-3pct-drop.pcap",
        "syn-flood-cookies-and-a-client-at-server.pcap",
        "app-tls-http.pcap",
        "icmp-reject-admin-prohibited-at-client.pcap",
    ],
)
def test_bounded_parquet_dataset_is_the_whole_files(name: str, tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    path = SAMPLES / name
    assert run(["analyze", str(path), "--format", "parquet", "-o", str(tmp_path / "a")]) == 0
    spill = tmp_path / "spill"
    argv = ["analyze", str(path), "--format", "parquet", "-o", str(tmp_path / "b")]
    assert run([*argv, "--spill-dir", str(spill), "--jobs", "2"]) == 0
    assert os.listdir(spill) == []
    for table in ("connections", "events"):
        expected = pd.read_parquet(tmp_path / "a" / f"{table}.parquet")
        got = pd.read_parquet(tmp_path / "b" / f"{table}.parquet")
        pd.testing.assert_frame_equal(got, expected)
        assert len(got)
        # The same Arrow schema, whatever the capture holds: every text column `string`
        # (was: `large_string` in memory, `string` here, `null` where no row had a value),
        # so tables of several captures, either path, make one dataset.
        import pyarrow.parquet as pq

        schema = pq.read_schema(tmp_path / "b" / f"{table}.parquet")
        assert schema.equals(pq.read_schema(tmp_path / "a" / f"{table}.parquet"))
        assert not [f.name for f in schema if str(f.type) in ("null", "large_string")]
        if table == "connections":
            assert all(str(schema.field(name).type) == "string" for name in TEXT_COLUMNS)


def test_a_capture_without_tcp_gets_the_same_typed_empty_parquet_tables(tmp_path: Path) -> None:
    """No connection and no event: both paths write typed empty tables (the bounded path
    wrote every column as Arrow ``null``), so they union with other captures' tables."""
    pq = pytest.importorskip("pyarrow.parquet")
    udp_only = tmp_path / "udp-only.pcap"
    udp_only.write_bytes(capture_files.pcap([frames.ethernet(frames.ipv4(frames.udp(), proto=17))]))
    assert run(["analyze", str(udp_only), "--format", "parquet", "-o", str(tmp_path / "a")]) == 0
    argv = ["analyze", str(udp_only), "--format", "parquet", "-o", str(tmp_path / "b")]
    assert run([*argv, "--memory-bounded"]) == 0
    for table in ("connections", "events"):
        schema = pq.read_schema(tmp_path / "b" / f"{table}.parquet")
        assert schema.equals(pq.read_schema(tmp_path / "a" / f"{table}.parquet"))
        assert str(schema.field("id").type) == "int64"
        assert not [f.name for f in schema if str(f.type) in ("null", "large_string")]


@pytest.mark.parametrize("fmt", ["json", "csv", "text"])
def test_cli_memory_bounded_prints_what_the_in_memory_path_prints(
    fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(SAMPLES / "syn-flood-cookies-and-a-client-at-server.pcap")
    assert run(["analyze", path, "--format", fmt]) == 0
    expected = capsys.readouterr()
    assert run(["analyze", path, "--format", fmt, "--memory-bounded", "--jobs", "2"]) == 0
    got = capsys.readouterr()
    assert got.out == expected.out
    assert got.err == expected.err


def test_stream_ids_rank_first_frames_across_partitions() -> None:
    ids = bounded.stream_ids([np.array([3, 10]), np.array([], np.int64), np.array([1, 7, 12])])
    assert [i.tolist() for i in ids] == [[1, 3], [], [0, 2, 4]]


def test_merged_runs_interleave_by_key_and_keep_a_runs_order(tmp_path: Path) -> None:
    first = pd.DataFrame({"id": [0, 0, 3, 8], "v": ["a", "b", "c", "d"]})
    second = pd.DataFrame({"id": [1, 2, 9], "v": ["x", "y", "z"]})
    paths = []
    for n, table in enumerate((first, second)):
        paths.append(str(tmp_path / f"run-{n}"))
        bounded.write_run(paths[-1], table)
    rows = pd.concat(list(bounded.merged(paths, "id")), ignore_index=True)
    assert rows["id"].tolist() == [0, 0, 1, 2, 3, 8, 9]
    assert rows["v"].tolist() == ["a", "b", "x", "y", "c", "d", "z"]


@pytest.mark.parametrize("seed", range(6))
def test_merged_runs_of_many_chunks_give_every_row_once_in_key_order(
    tmp_path: Path, seed: int
) -> None:
    """Runs of uneven chunks (a key's rows may span chunks; some runs end early, one is
    empty): the merge is the stable sort of all rows by key, whatever the chunking."""
    rng = np.random.default_rng(seed)
    owner = rng.integers(0, 5, 400)  # which run holds each key
    repeats = rng.integers(1, 6, 400)  # rows per key
    owner[owner == 4] = 0  # run 4 is empty
    tables, paths = [], []
    for n in range(5):
        keys = np.repeat(np.flatnonzero(owner == n), repeats[owner == n])
        table = pd.DataFrame({"id": keys, "v": [f"{n}:{i}" for i in range(len(keys))]})
        tables.append(table)
        paths.append(str(tmp_path / f"run-{n}"))
        bounded.write_run(paths[-1], table, rows=int(rng.integers(1, 40)))
    expected = pd.concat(tables, ignore_index=True)
    expected = expected.iloc[np.argsort(expected["id"].to_numpy(), kind="stable")]
    chunks = list(bounded.merged(paths, "id"))
    rows = pd.concat(chunks, ignore_index=True)
    assert rows["id"].tolist() == expected["id"].tolist()
    assert rows["v"].tolist() == expected["v"].tolist()
    # Steps of about a chunk of every run, not a few rows each: far fewer than the chunks.
    assert len(chunks) < sum(1 for p in paths for _ in bounded.read_run(p))


def test_big_files_take_the_bounded_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = SAMPLES / "closed-client-first.pcap"
    assert not bounded.wanted(path)
    size = path.stat().st_size
    monkeypatch.setattr(bounded, "BOUNDED_MIN_BYTES", size)
    assert bounded.wanted(path)
    assert not bounded.wanted("-")
    assert bounded.partition_count(size, jobs=2) == 2
    # by size, then up to a multiple of the jobs: the workers finish together
    assert bounded.partition_count(10 * bounded.BYTES_PER_PARTITION + 1, jobs=1) == 11
    assert bounded.partition_count(10 * bounded.BYTES_PER_PARTITION + 1, jobs=2) == 12
    # a few partitions per job where each keeps MIN_PARTITION_BYTES: 248 MB in 8, not 5
    assert bounded.partition_count(248_262_086, jobs=2) == 8
    assert bounded.partition_count(248_262_086, jobs=1) == 5
    assert bounded.partition_count(40 << 20, jobs=2) == 4  # 3 of 16 MiB, then 4
    assert bounded.partition_count(2_979_144_768, jobs=2) == 60  # by size: unchanged


def _small_thresholds(monkeypatch: pytest.MonkeyPatch, size: int) -> None:
    """``PARALLEL_MIN_BYTES`` at ``size`` and partitions of a byte: a sample capture counts
    as big enough to be analysed faster on the bounded path by two jobs."""
    monkeypatch.setattr(bounded, "PARALLEL_MIN_BYTES", size)
    monkeypatch.setattr(bounded, "MIN_PARTITION_BYTES", 1)


def test_with_two_jobs_a_streamed_output_takes_the_bounded_path_sooner(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = SAMPLES / "closed-client-first.pcap"
    size = path.stat().st_size
    _small_thresholds(monkeypatch, size)
    assert bounded.faster_with(path, 2)
    assert not bounded.faster_with(path, 1)  # nothing to run beside
    assert not bounded.wanted(path)  # not needed for memory: only the outputs written whole
    # from the runs take it for speed (the command line's choice, tested below)
    assert not bounded.faster_with("-", 2)
    packed = tmp_path / "packed.pcap.gz"
    packed.write_bytes(gzip.compress(path.read_bytes()))
    monkeypatch.setattr(bounded, "PARALLEL_MIN_BYTES", 1)
    assert not bounded.faster_with(packed, 2)  # decompressed to disk either way: not measured
    # a partition of MIN_PARTITION_BYTES for each job, or the in-memory path
    monkeypatch.setattr(bounded, "MIN_PARTITION_BYTES", size // 2)
    assert bounded.faster_with(path, 2) and not bounded.faster_with(path, 3)
    # spill files that would not fit twice over: the in-memory path, which works
    usage = shutil.disk_usage(str(tmp_path))
    monkeypatch.setattr(shutil, "disk_usage", lambda _where: usage._replace(free=3 * size - 1))
    assert not bounded.faster_with(path, 2)


def _taken_on_disk(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """A record of the ``bounded.analyse`` calls (the bounded-memory path taken)."""
    taken: list[bool] = []
    real = bounded.analyse

    def spied(*args: object, **kwargs: object) -> bounded.Bounded:
        taken.append(True)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(bounded, "analyse", spied)
    return taken


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_two_jobs_write_a_big_enough_capture_from_disk_with_the_same_bytes(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    fmt: str,
) -> None:
    path = SAMPLES / "lossy-40-connections-3pct-drop.pcap"
    whole = tmp_path / f"whole.{fmt}"
    assert run(["analyze", str(path), "--format", fmt, "-o", str(whole), "--jobs", "2"]) == 0
    _small_thresholds(monkeypatch, path.stat().st_size)
    taken = _taken_on_disk(monkeypatch)
    text = tmp_path / f"text.{fmt}"
    assert run(["analyze", str(path), "--format", "text", "-o", str(text), "--jobs", "2"]) == 0
    assert taken == []  # a page reads connections back: in memory
    one = tmp_path / f"one.{fmt}"
    assert run(["analyze", str(path), "--format", fmt, "-o", str(one), "--jobs", "1"]) == 0
    assert taken == []  # one job: nothing to run beside it
    parts = tmp_path / f"parts.{fmt}"
    assert run(["analyze", str(path), "--format", fmt, "-o", str(parts), "--jobs", "2"]) == 0
    assert taken == [True]
    assert parts.read_bytes() == whole.read_bytes() == one.read_bytes()
    assert capsys.readouterr().err == ""


def test_a_temporary_folder_that_cannot_be_written_costs_the_speed_not_the_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Chosen for speed alone, the bounded path gives way to the in-memory one when its
    files cannot be written; asked for (``--memory-bounded``), it is an error."""
    path = SAMPLES / "lossy-40-connections-3pct-drop.pcap"
    expected = tmp_path / "expected.json"
    assert run(["analyze", str(path), "--format", "json", "-o", str(expected)]) == 0
    _small_thresholds(monkeypatch, path.stat().st_size)
    missing = tmp_path / "missing"
    monkeypatch.setattr("tempfile.tempdir", str(missing))
    # (disk_usage of a missing folder fails: the speed-only choice would stay in memory)
    roomy = shutil.disk_usage(str(tmp_path))._replace(free=1 << 40)
    monkeypatch.setattr(shutil, "disk_usage", lambda _where: roomy)
    got = tmp_path / "got.json"
    argv = ["analyze", str(path), "--format", "json", "-o", str(got), "--jobs", "2"]
    assert run(argv) == 0
    assert got.read_bytes() == expected.read_bytes()
    said = capsys.readouterr().err
    assert said == (
        f"pcapline: warning: cannot create spill files in {missing}: no such file or directory "
        "(use --spill-dir DIR on a disk you can write to): analysing in memory instead\n"
    )
    got.unlink()
    assert run([*argv, "--memory-bounded"]) == 2
    assert not got.exists()
    assert capsys.readouterr().err.startswith(
        f"pcapline: error: cannot create spill files in {missing}"
    )


def test_ctrl_c_stops_a_pool_analysis_at_once(tmp_path: Path) -> None:
    """Ctrl-C while forked workers analyse partitions: exit 130 within a second, one line,
    no traceback, the work folder removed. The workers are held inside a partition (they
    say so by creating a file) so the signal lands mid-analysis."""
    spill, held = tmp_path / "spill", tmp_path / "held"
    held.mkdir()
    spill.mkdir()  # there already: no note that it was made
    script = textwrap.dedent(
        f"""
        import os, sys, time
        from pcapline import bounded, cli
        real = bounded.analyse_numbered
        def hold(job, number, ids, settings):
            open(os.path.join({str(held)!r}, str(number)), "w").close()
            time.sleep(120)
            return real(job, number, ids, settings)
        bounded.analyse_numbered = hold
        sys.exit(cli.run(["analyze", {str(SAMPLES / "lossy-40-connections-3pct-drop.pcap")!r},
                          "--format", "json", "--spill-dir", {str(spill)!r}, "--jobs", "2"]))
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=foreground_job,  # its own process group, as a terminal's foreground job
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    deadline = time.monotonic() + 60
    while not os.listdir(held) and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)  # waiting for the condition (a worker inside a partition)
    assert os.listdir(held), "no worker reached a partition"
    sent = time.monotonic()
    os.killpg(child.pid, signal.SIGINT)  # what Ctrl-C sends: the whole group
    out, err = child.communicate(timeout=30)
    took = time.monotonic() - sent
    assert child.returncode == 130, err.decode()
    assert err.decode().strip() == "pcapline: error: interrupted"  # no traceback
    assert out == b""
    assert took < 1.5, f"stopped {took:.2f} s after Ctrl-C"  # typically 0.5 s on a busy box
    assert os.listdir(spill) == []


def test_a_full_disk_is_one_error_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import errno

    def full(job: bounded.Job, number: int, made: bounded.Made) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", job.path("json", number))

    monkeypatch.setattr(bounded, "write_outputs", full)
    path = str(SAMPLES / "lossy-40-connections-3pct-drop.pcap")
    spill = tmp_path / "spill"
    spill.mkdir()  # there already: no note that it was made
    argv = ["analyze", path, "--format", "json", "--spill-dir", str(spill), "--jobs", "1"]
    assert run(argv) == 2
    err = capsys.readouterr().err.splitlines()
    # one line naming the folder to free space in and what to do, as a full disk while
    # splitting gives (it was a spill file's path and a bare "No space left on device",
    # then the run's own work folder, gone by the time the line is read)
    assert err == [
        f"pcapline: error: no space left in {spill} for the spill files of the capture (they "
        "take up to about 1.5 times the capture's size: free space there, or use --spill-dir "
        "DIR on a bigger disk)"
    ]
    assert os.listdir(spill) == []


@pytest.mark.parametrize("task", ["number_streams", "analyse_numbered"])
def test_a_dead_worker_is_one_error_naming_its_partition(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, task: str
) -> None:
    """What the OOM killer does: the worker vanishes (SIGKILL); no partial output. The pool
    then fails every task at once, the busy worker's too: the error names the partition the
    dead one held, not the first failed task (``workers.Holding``)."""
    real = getattr(bounded, task)

    def killed(job: bounded.Job, number: int, *args: object) -> object:
        if number == 0:
            time.sleep(30)  # busy when the other dies (then killed with the pool)
        if number == 1:
            time.sleep(0.5)  # partition 1 is surely held by now
            os.kill(os.getpid(), signal.SIGKILL)
        return real(job, number, *args)

    monkeypatch.setattr(bounded, task, killed)  # forked workers inherit it
    path = SAMPLES / "lossy-40-connections-3pct-drop.pcap"
    doing = {"number_streams": "numbering the streams of", "analyse_numbered": "analysing"}[task]
    started = time.monotonic()
    with pytest.raises(bounded.PartitionLost) as lost:
        bounded.analyse(path, partitions=3, jobs=2, spill_dir=str(tmp_path))
    assert str(lost.value) == (
        f"a worker process died {doing} partition 2 of 3 (killed, or out of memory: try "
        "fewer --jobs)"
    )
    assert time.monotonic() - started < 20  # the busy one was not waited for
    assert os.listdir(tmp_path) == []


def test_runs_are_chunked_by_rows(tmp_path: Path) -> None:
    table = pd.DataFrame({"id": np.arange(10), "text": ["x" * 300] * 10})
    path = str(tmp_path / "run")
    bounded.write_run(path, table, rows=4)
    chunks = list(bounded.read_run(path))
    assert [len(c) for c in chunks] == [4, 4, 2]
    assert pd.concat(chunks)["id"].tolist() == list(range(10))
    bounded.write_run(path, table.iloc[:0], rows=4)
    assert list(bounded.read_run(path)) == []


def test_cli_memory_bounded_fail_on_exits_as_the_in_memory_path(
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = str(SAMPLES / "slow-syn-retries-then-success.pcap")
    argv = ["analyze", path, "--format", "csv", "--fail-on", "failures,syn_retry"]
    expected = run(argv)
    said = capsys.readouterr()
    assert expected == 1  # the capture has connections that retried their SYN
    assert run([*argv, "--memory-bounded"]) == expected
    assert capsys.readouterr() == said


def test_a_spill_folder_that_cannot_be_made_is_one_line_saying_what_to_do(
    tmp_path: Path,
) -> None:
    """It was the would-be work folder's name (``DIR/pcapline-3mf_o1f1: Permission
    denied``), a path that never existed, and no hint."""
    not_a_dir = tmp_path / "file"
    not_a_dir.write_bytes(b"")
    with pytest.raises(PcaplineError) as raised:
        bounded.analyse(SAMPLES / "persist-timeout-retries2-3.pcap", spill_dir=str(not_a_dir))
    assert str(raised.value) == (
        f"cannot create spill files in {not_a_dir}: not a directory (use --spill-dir DIR on a "
        "disk you can write to)"
    )


def test_the_reading_stage_counts_bytes_up_to_the_whole_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The split reports the bytes read after every window, up to the capture's size, on the
    progress line (32 MiB windows in use; 64 KiB here, for several on a sample capture)."""
    import functools

    from pcapline import engine, spill
    from pcapline.engine import Progress

    monkeypatch.setattr(engine, "_REDRAW_S", 0.0)  # every count drawn
    path = SAMPLES / "lossy-40-connections-3pct-drop.pcap"
    size = path.stat().st_size
    monkeypatch.setattr(
        spill, "spill_capture", functools.partial(spill.spill_capture, window_bytes=64 << 10)
    )
    seen: list[tuple[int, int]] = []

    class Counted(Progress):
        def read(self, done: int, total: int) -> None:
            seen.append((done, total))
            super().read(done, total)

    out = io.StringIO()
    shown = Counted(enabled=True, out=out, size=size)
    with bounded.analyse(path, partitions=2, spill_dir=str(tmp_path), progress=shown):
        pass
    assert len(seen) >= size // (64 << 10)  # one per window (a record may end one early)
    assert [total for _, total in seen] == [size] * len(seen)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert seen[-1][0] == size
    assert "reading and splitting in 2 partitions: 0.1 of 0.5 MB read, ETA " in out.getvalue()


@pytest.mark.parametrize("how", ["decompressed", "copied"])
def test_a_source_put_on_disk_first_counts_its_bytes_then_reads_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """A .gz is decompressed, a stream copied, to disk before its windows are read: the line
    counts those bytes too, up to the whole source, then the reading."""
    from pcapline import engine
    from pcapline.engine import Progress

    monkeypatch.setattr(engine, "_REDRAW_S", 0.0)
    plain = SAMPLES / "lossy-40-connections-3pct-drop.pcap"
    source: Path | io.BytesIO = tmp_path / "capture.pcap.gz"
    if how == "decompressed":
        assert isinstance(source, Path)
        source.write_bytes(gzip.compress(plain.read_bytes()))
    else:
        source = io.BytesIO(plain.read_bytes())
    calls: list[tuple[str, int]] = []

    class Counted(Progress):
        def unpacked(self, verb: str, done: int) -> None:
            calls.append((verb, done))
            super().unpacked(verb, done)

        def read(self, done: int, total: int) -> None:
            calls.append(("read", done))
            super().read(done, total)

    out = io.StringIO()
    with bounded.analyse(
        source, partitions=2, spill_dir=str(tmp_path), progress=Counted(enabled=True, out=out)
    ):
        pass
    size = plain.stat().st_size
    unpacking = [done for verb, done in calls if verb == how]
    assert unpacking and unpacking == sorted(unpacking) and unpacking[-1] == size
    assert calls[-1] == ("read", size)  # the reading comes after, up to the same bytes
    assert {verb for verb, _ in calls} == {how, "read"}
    assert f"MB {how} to disk so far" in out.getvalue()


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled-reads", "python-reads"])
@pytest.mark.parametrize("change", ["cut", "rewritten", "grown"])
def test_a_capture_changed_after_the_split_is_an_error_not_missing_payloads(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, compiled: bool, change: str
) -> None:
    """The numbering pass reads the first payloads back from the capture (TLS SNI, HTTP
    Host). A file rotated or truncated after the split (logrotate's copytruncate, tcpdump
    -C -W's next turn) was read as zeros or as other packets' bytes: every connection's
    "app" null with exit 0. Cut short or written again, it is one clear error; a capture
    still being written (only grown) is analysed as it was when opened."""
    from pcapline.read import native

    if compiled and not native.active:
        pytest.skip("the compiled read core is not built")
    capture = tmp_path / "rotated.pcap"
    shutil.copy(SAMPLES / "app-tls-http.pcap", capture)
    whole = analyze(capture)
    assert whole.connections["app"].notna().sum() >= 2  # what the payloads name
    size = capture.stat().st_size
    real = bounded.number_streams

    def after_a_change(job: bounded.Job, number: int) -> bounded.Streams:
        if change == "grown":
            with open(capture, "ab") as f:
                f.write(os.urandom(4096))  # the next packets, half of one
        else:
            os.truncate(capture, 24)  # the pcap file header alone
        if change == "rewritten":
            with open(capture, "ab") as f:
                f.write(os.urandom(size))  # the ring's next turn, past where it was
        return real(job, number)

    monkeypatch.setattr(bounded, "number_streams", after_a_change)
    monkeypatch.setattr(native, "active", compiled)
    if change == "grown":
        with bounded.analyse(capture, partitions=2, fork=False) as grown:
            written = io.StringIO()
            grown.write_json(written)
        assert written.getvalue() == whole.to_json()  # the apps named, as before
        return
    said = {"cut": "shrank while being read", "rewritten": "was rewritten while being read"}
    with pytest.raises(PcaplineError, match=rf"rotated\.pcap: the file {said[change]}"):
        bounded.analyse(capture, partitions=2, fork=False).close()


@pytest.mark.slow
@pytest.mark.parametrize("bounded_path", [True, False], ids=["memory-bounded", "in-memory"])
def test_a_dask_cluster_without_workers_is_an_error_not_a_wait_forever(
    tmp_path: Path, bounded_path: bool
) -> None:
    """Before: a scheduler whose workers were all gone made ``analyze --scheduler`` wait
    forever, its progress line's clock stopped. Now, after PCAPLINE_DASK_NO_WORKER_TIMEOUT
    seconds without a worker, one line naming the partitions left, and nothing written."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
    ) as local:
        local.scale(0)
        with distributed.Client(local.scheduler_address) as client:
            deadline = time.monotonic() + 60
            while client.scheduler_info()["workers"] and time.monotonic() < deadline:
                time.sleep(0.2)  # waiting for the worker to be gone
        out = tmp_path / "out.json"
        argv = [
            "analyze",
            str(SAMPLES / "lossy-40-connections-3pct-drop.pcap"),
            "--scheduler",
            local.scheduler_address,
            "--format",
            "json",
            "-o",
            str(out),
            *(["--memory-bounded"] if bounded_path else []),
        ]
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "pcapline", *argv],
            capture_output=True,
            text=True,
            timeout=120,
            env={
                **os.environ,
                "PYTHONPATH": os.pathsep.join(sys.path),
                "PCAPLINE_DASK_NO_WORKER_TIMEOUT": "2",
                "TMPDIR": str(tmp_path),
            },
        )
        took = time.monotonic() - started
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith(
        f"pcapline: error: the Dask cluster at {local.scheduler_address} had no worker for 2 s "
        "(workers died or were stopped): partition"
    )
    assert done.stderr.endswith("not analysed; nothing was written\n")
    assert took < 60
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # no work folder left


def test_an_unreachable_scheduler_is_said_before_the_capture_is_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A wrong --scheduler address came out after the whole split (minutes on a big capture)."""
    pytest.importorskip("distributed")
    from pcapline.errors import UsageError

    def not_yet(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the capture was read before the scheduler was reached")

    monkeypatch.setattr(bounded, "split", not_yet)
    monkeypatch.setattr("pcapline.engine.SCHEDULER_CONNECT_TIMEOUT_S", 1)
    with pytest.raises(
        UsageError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:9"
    ):
        bounded.analyse(
            SAMPLES / "lossy-40-connections-3pct-drop.pcap", scheduler="tcp://127.0.0.1:9"
        )


@pytest.mark.parametrize(
    "name",
    [
        # real kernel: each connection captured in one direction only (``one_sided``)
        "slow-response-one-direction-at-client.pcap",
        # a connection whose middle segment the capture point missed (``lossy``) beside a
        # clean one on another 4-tuple
        "capture-point-loss",
    ],
)
def test_partitions_first_run_on_the_flags_pass_1_measured(name: str, tmp_path: Path) -> None:
    """The capture-wide quality flags every connection's confidence weighs are measured in
    pass 1 (``engine.measured_flags``), so a capture showing one of them is analysed once
    per partition, as a clean one is, with the whole-file analysis' JSON."""
    from pcapline.engine import Progress

    path = capture_point_loss(tmp_path) if name == "capture-point-loss" else SAMPLES / name
    expected = analysed.whole_json(path)
    shown = io.StringIO()
    progress = Progress(enabled=True, out=shown)
    with bounded.analyse(path, partitions=2, spill_dir=str(tmp_path), progress=progress) as result:
        out = io.StringIO()
        result.write_json(out)
    assert "analysing again" not in shown.getvalue()
    assert out.getvalue() == expected


def test_partitions_go_to_the_workers_biggest_first() -> None:
    assert bounded.biggest_first([5, 40, 0, 40, 12]) == [1, 3, 4, 0, 2]
    assert bounded.biggest_first([]) == []


def test_both_passes_hand_out_the_partitions_biggest_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The order each pass runs the partitions in (in this process here; a pool hands them
    out in the same order): most segment rows first, so the last ones left are small."""
    path = SAMPLES / "connect-checks-at-server.pcap"  # 4-tuples in 4 of 5 partitions
    seen: dict[str, list[int]] = {"number_streams": [], "analyse_numbered": []}
    sizes: list[list[int]] = []
    for task in seen:
        real = getattr(bounded, task)

        def recorded(
            job: bounded.Job, number: int, *args: object, _real: Any = real, _task: str = task
        ) -> Any:
            if not sizes:
                sizes.append(job.parts.segment_rows)
            seen[_task].append(number)
            return _real(job, number, *args)

        monkeypatch.setattr(bounded, task, recorded)
    with bounded.analyse(path, partitions=5, spill_dir=str(tmp_path), fork=False) as result:
        result.write_json(io.StringIO())
    rows = sizes[0]
    assert rows == [14, 0, 4, 8, 4]  # not in number order: the order says something
    by_size = sorted(range(5), key=lambda n: (-rows[n], n))
    assert seen["number_streams"] == by_size
    assert seen["analyse_numbered"] == [n for n in by_size if rows[n]]


def test_forked_workers_import_nothing_their_parent_could_have(tmp_path: Path) -> None:
    """What a partition's tasks import is imported before the fork (``engine.
    import_before_fork``): a worker inheriting it does not spend its own CPU importing it
    again (two workers each imported dpkt, classify, explain... on their first partition)."""
    script = textwrap.dedent(
        f"""
        import os, sys
        from pcapline import bounded
        at_fork = set()
        os.register_at_fork(after_in_child=lambda: at_fork.update(sys.modules))
        for task in ("number_streams", "analyse_numbered"):
            def recorded(*args, _real=getattr(bounded, task)):
                out = _real(*args)
                late = sorted(m for m in set(sys.modules) - at_fork
                              if m.startswith(("pcapline", "dpkt")))
                with open({str(tmp_path / "late")!r}, "a") as f:
                    f.write(" ".join(late) + "\\n")
                return out
            setattr(bounded, task, recorded)
        with bounded.analyse({str(SAMPLES / "closed-client-first.pcap")!r}, partitions=2,
                             jobs=2, spill_dir={str(tmp_path)!r}) as result:
            pass
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    lines = (tmp_path / "late").read_text().splitlines()
    assert len(lines) >= 2  # both passes ran on a worker
    assert all(line == "" for line in lines), lines
