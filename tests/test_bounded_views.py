"""Views of a capture analysed on the bounded-memory path: the HTML report, timelines and the
filters (``Bounded.drawn``, ``cli._on_disk_view``) give what the in-memory path gives.

The drawn connections are analysed again from their own 4-tuples' rows with the capture-wide
inputs of the partitions' final run (``bounded.Redraw``); these tests hold that to the whole
capture's analysis, byte for byte, in one and several partitions, on every sample capture and
on the corpus captures with reused 4-tuples, clocks stepping back and tunnels.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from needs import CORPUS, CORPUS_MARKS
from test_engine import CORPUS_CAPTURES, SAMPLE_CAPTURES, SAMPLES

from pcapline import bounded, engine
from pcapline.analysis import Analysis
from pcapline.cli import run
from pcapline.engine import Kept
from pcapline.render.html import page_reads, render_html
from pcapline.render.timeline import connection_timeline_text

OUTPUTS = frozenset({"text", "drawn"})


def _in_memory(path: Path) -> Analysis:
    """What ``report`` analyses on the in-memory path."""
    return engine.analyse(path, keep_facts=False, detections=Kept.DRAWN).analysis


def _page_and_timelines(analysis: Analysis) -> tuple[str, list[str]]:
    ids = analysis.connections["id"].astype(int).tolist()
    every = analysis.with_facts_of(ids) if analysis.facts is None else analysis
    return render_html(analysis), [connection_timeline_text(every, i) for i in ids]


def _same_views(path: Path, spill: Path, ways: tuple[tuple[int, int], ...]) -> None:
    expected = _page_and_timelines(_in_memory(path))
    for partitions, jobs in ways:
        with bounded.analyse(
            path, partitions=partitions, jobs=jobs, outputs=OUTPUTS, spill_dir=str(spill)
        ) as result:
            whole = result.text_analysis(worded=False)  # the page words a few rows
            reads = page_reads(whole.connections)
            worded = result.worded(whole, reads.worded)
            page = render_html(result.drawn(worded, events_of=reads.marked, drawn=reads.sections))
            assert page == expected[0], (partitions, jobs)
            ids = whole.connections["id"].astype(int).tolist()
            every = result.drawn(result.text_analysis(), events_of=ids, drawn=ids)
            timelines = [connection_timeline_text(every, i) for i in ids]
            assert timelines == expected[1], (partitions, jobs)
        assert os.listdir(spill) == []  # the split capture went with the work folder


@pytest.mark.parametrize("path", SAMPLE_CAPTURES, ids=lambda p: p.name)
def test_report_and_timelines_on_disk_equal_in_memory_on_samples(
    path: Path, tmp_path: Path
) -> None:
    """Every sample read back from disk in one partition; several partitions on two workers
    are the corpus captures' and the three samples' below."""
    _same_views(path, tmp_path, ((1, 1),))


@pytest.mark.parametrize("name", [pytest.param(n, marks=CORPUS_MARKS) for n in CORPUS_CAPTURES])
def test_report_and_timelines_on_disk_equal_in_memory_on_corpus(name: str, tmp_path: Path) -> None:
    _same_views(CORPUS / name, tmp_path, ((1, 1), (7, 2)))


@pytest.mark.parametrize(
    "name",
    [
        "port-reuse-same-4tuple-3x.pcap",
        "syn-flood-cookies-and-a-client-at-server.pcap",
        "lossy-40-connections-3pct-drop.pcap",
    ],
)
def test_more_partitions_and_workers_draw_the_same(name: str, tmp_path: Path) -> None:
    """Port reuse (incarnations decided together), a listener's SYN+ACK retries read across
    partitions, a lossy tap (the capture-wide quality flags): 7 partitions on 2 workers."""
    _same_views(SAMPLES / name, tmp_path, ((7, 2),))


@pytest.mark.parametrize(
    ("name", "drawn", "analysed"),
    [("port-reuse-same-4tuple-3x.pcap", 1, [0, 1, 2]), ("slow-rto-storm-six-streams.pcap", 2, [2])],
)
def test_redraw_reads_only_the_drawn_connections_4_tuples(
    name: str, drawn: int, analysed: list[int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A drawn connection is analysed again with every incarnation of its 4-tuple (the
    three of a reused port pair) and nothing else (one of six streams to one server)."""
    seen: list[list[int]] = []
    analyse_partition = engine.analyse_partition

    def spy(part: engine.Partition, settings: engine.Settings) -> engine.PartResult:
        seen.append(sorted(set(part.segments["conn"].tolist())))
        return analyse_partition(part, settings)

    with bounded.analyse(SAMPLES / name, outputs=OUTPUTS, spill_dir=str(tmp_path)) as result:
        whole = result.text_analysis()
        assert len(whole.connections) > len(analysed) or len(analysed) == 3
        monkeypatch.setattr(engine, "analyse_partition", spy)
        again = result.drawn(whole, events_of=[drawn], drawn=[drawn])
    assert seen == [analysed]
    assert set(again.segments["conn"].tolist()) == {drawn}
    assert set(again.events["conn"].tolist()) == {drawn}
    assert np.all(np.diff(again.segments["frame"].to_numpy()) > 0)
    assert list(again.detections) in ([], [drawn])


@pytest.mark.parametrize("name", [pytest.param("arkime/IKEv1.pcap", marks=CORPUS_MARKS)])
def test_a_capture_without_tcp_reports_the_same_on_disk(name: str, tmp_path: Path) -> None:
    """No partition holds a connection: the typed empty tables of an empty partition."""
    assert _in_memory(CORPUS / name).connections.empty
    _same_views(CORPUS / name, tmp_path, ((1, 1), (3, 1)))


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = run(argv)
    got = capsys.readouterr()
    return code, got.out, got.err


@pytest.mark.parametrize(
    "argv",
    [
        ["timeline", "{path}", "3"],
        ["analyze", "{path}", "--stream", "2", "--stream", "4"],
        ["analyze", "{path}", "--stream", "1", "--format", "json"],
        ["analyze", "{path}", "--host", "{server}", "--format", "csv"],
        ["analyze", "{path}", "--port", "{port}", "--format", "json", "--fail-on", "failures"],
        ["analyze", "{path}", "--format", "html"],
    ],
    ids=["timeline", "text-streams", "json-stream", "csv-host", "json-port-fail-on", "html"],
)
def test_cli_views_of_a_big_capture_are_read_back_from_disk(
    argv: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """A capture over ``BOUNDED_MIN_BYTES`` with a filter, a timeline or HTML: the bounded
    path runs (its work folder in $TMPDIR, gone at the end), silently, with the output and
    exit code of the in-memory path."""
    path = SAMPLES / "slow-rto-storm-six-streams.pcap"
    conns = _in_memory(path).connections
    words = {
        "path": str(path),
        "server": str(conns["server_ip"].iloc[0]),
        "port": str(int(conns["client_port"].iloc[2])),
    }
    argv = [a.format(**words) for a in argv]
    expected = _cli(argv, capsys)
    assert expected[0] in (0, 1) and expected[1]
    monkeypatch.setattr(bounded, "BOUNDED_MIN_BYTES", path.stat().st_size)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    split: list[int] = []
    monkeypatch.setattr(bounded, "split", _counting(bounded.split, split))
    assert _cli([*argv, "--jobs", "2"], capsys) == expected
    assert split == [2]  # analysed on disk, in two partitions (one per worker)
    assert os.listdir(tmp_path) == []


def _counting(split, calls: list[int]):  # type: ignore[no-untyped-def]
    def counted(source, count, directory, **options):  # type: ignore[no-untyped-def]
        calls.append(count)
        return split(source, count, directory, **options)

    return counted


def test_cli_report_memory_bounded_writes_the_same_page(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(SAMPLES / "syn-flood-cookies-and-a-client-at-server.pcap")
    memory, disk, spill = tmp_path / "memory.html", tmp_path / "disk.html", tmp_path / "spill"
    spill.mkdir()  # there already: no note that it was made
    assert run(["report", path, "-o", str(memory), "--port", "80"]) == 0
    expected = capsys.readouterr()
    argv = ["report", path, "-o", str(disk), "--port", "80", "--spill-dir", str(spill)]
    assert run([*argv, "--jobs", "2"]) == 0
    assert capsys.readouterr() == expected
    assert disk.read_bytes() == memory.read_bytes()
    assert os.listdir(spill) == []
    # An unknown connection is the same usage error on both paths; nothing is left behind.
    assert run(["timeline", path, "999", "--memory-bounded", "--spill-dir", str(spill)]) == 2
    assert "no connection with id 999" in capsys.readouterr().err
    assert os.listdir(spill) == []


def test_a_timeline_reads_only_the_partition_of_its_connection(tmp_path: Path) -> None:
    """``text_analysis(of=...)``: a timeline of one connection of a huge capture holds one
    partition's rows, not every connection's (some 3 KB each)."""
    path = SAMPLES / "lossy-40-connections-3pct-drop.pcap"
    with bounded.analyse(path, partitions=7, outputs=OUTPUTS, spill_dir=str(tmp_path)) as result:
        every = result.text_analysis()
        assert result.redraw is not None
        for conn in (0, 17, 39):
            (number,) = [n for n, ids in enumerate(result.redraw.ids) if conn in ids]
            some = result.text_analysis(of=[conn])
            assert sorted(some.connections["id"]) == sorted(result.redraw.ids[number])
            row = every.connections[every.connections["id"] == conn].reset_index(drop=True)
            mine = some.connections[some.connections["id"] == conn].reset_index(drop=True)
            assert mine.equals(row)
        assert result.text_analysis(of=[1000]).connections.empty


def test_the_text_analysis_holds_each_delay_value_once(tmp_path: Path) -> None:
    """The report's rows of a capture of many partitions hold the delays as the merged
    ``DelaysTable`` does, not a copy: the rows' delay columns are its arrays, the turns'
    per-connection columns are its columns, its records are columns
    (``delays.VisitedColumns``); and they equal the in-memory analysis's."""
    from pcapline.delays import DELAY_COLUMNS, DelaysTable, VisitedColumns

    path = SAMPLES / "lossy-40-connections-3pct-drop.pcap"
    expected = _in_memory(path)
    with bounded.analyse(path, partitions=5, outputs=OUTPUTS, spill_dir=str(tmp_path)) as result:
        whole = result.text_analysis()
        lost = whole.delays
        assert isinstance(lost, DelaysTable) and isinstance(lost.stalls, VisitedColumns)
        assert lost.turns is not None
        for name in ("connect_s", "response_s", "stalled_s", "slow"):
            assert np.shares_memory(whole.connections[name].to_numpy(), lost.columns[name])
        assert lost.columns["responses"] is lost.turns.count
        assert lost.columns["response_s"] is lost.turns.first_s
        rows = whole.connections[list(DELAY_COLUMNS)]
        assert rows.equals(expected.connections[list(DELAY_COLUMNS)])
        assert len(lost.stalls) > 10  # the lossy capture's connections lost time
        for conn in expected.connections["id"].tolist():
            assert lost[conn] == expected.delays[conn]


@pytest.mark.parametrize(
    "command", [["timeline", "{path}", "{n}"], ["analyze", "{path}", "--stream", "{n}"]]
)
def test_an_id_past_int64_is_no_connection_on_disk_too(
    command: list[str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """``timeline big.pcap 99999999999999999999``: the in-memory path's usage error (exit 2),
    not an OverflowError (exit 3) from the ids read back (``text_analysis(of=...)``)."""
    words = {"path": str(SAMPLES / "app-tls-http.pcap"), "n": str(10**20)}
    argv = [a.format(**words) for a in command]
    expected = _cli(argv, capsys)
    assert expected[0] == 2 and "no connection with id 100000000000000000000" in expected[2]
    assert _cli([*argv, "--spill-dir", str(tmp_path)], capsys) == expected
    assert os.listdir(tmp_path) == []


def test_a_page_words_only_its_sections_and_failing_fates_examples(tmp_path: Path) -> None:
    """The report of a capture with more connections than sections: the bounded path reads
    back the explanations, inferred values and caveats of the sectioned connections and of
    each failing fate's example (``html.page_reads``), holds None for the other rows, and
    the page is the in-memory one."""
    path = SAMPLES / "listen-overflow-backlog2-abort0.pcap"  # 5: 2 failing, 2 fates
    expected = render_html(_in_memory(path), max_sections=1)
    with bounded.analyse(path, partitions=4, outputs=OUTPUTS, spill_dir=str(tmp_path)) as result:
        whole = result.text_analysis(worded=False)
        assert whole.connections["explanation"].isna().all() and whole.verdicts == {}
        reads = page_reads(whole.connections, max_sections=1)
        # one section: the other failing fate's example is worded without one
        assert len(reads.sections) == 1 and len(reads.worded) == 2
        view = result.worded(whole, reads.worded)
        conns = view.connections.set_index("id")
        told = conns["explanation"].notna()
        assert sorted(conns.index[told]) == reads.worded and len(reads.worded) < len(conns)
        assert conns.loc[reads.worded, "inferred"].map(type).eq(dict).all()
        page = render_html(
            result.drawn(view, events_of=reads.marked, drawn=reads.sections), max_sections=1
        )
    assert page == expected


def test_the_text_report_words_only_the_rows_it_shows(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """``analyze --limit 1`` of five connections with two failing fates: the bounded path
    reads back the shown row's verdict and each failing fate's example explanation
    (``terminal.worded_connections``), and prints what the in-memory path prints."""
    from pcapline.render.terminal import worded_connections

    path = SAMPLES / "listen-overflow-backlog2-abort0.pcap"
    analysis = _in_memory(path)
    conns = analysis.connections
    fates = dict(zip(conns["id"].tolist(), conns["fate"].astype(str).tolist(), strict=True))
    words = worded_connections(analysis, 1)
    assert {fates[i] for i in words} == {"listen_overflow", "connect_timeout"}
    assert len(words) == 2 < len(conns)
    argv = ["analyze", str(path), "--limit", "1"]
    expected = _cli(argv, capsys)
    assert "1 more" not in expected[1] and "more, use --limit 0" in expected[1]
    assert _cli([*argv, "--spill-dir", str(tmp_path)], capsys) == expected
    assert os.listdir(tmp_path) == []


def test_the_text_report_words_the_syn_schedule_its_slow_line_names(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The slow line names the SYN retry schedule of the connections that retried most
    (``delays.syn_schedule_sources``), read from their ``inferred``: on the bounded path with
    ``--limit 1`` those rows are read back although not shown ("doubling from 1 s")."""
    from pcapline.delays import DelaysTable, syn_schedule_sources

    path = SAMPLES / "slow-syn-retries-then-success.pcap"
    analysis = _in_memory(path)
    assert isinstance(analysis.delays, DelaysTable)
    sources = syn_schedule_sources(analysis.delays, analysis.connections).tolist()
    assert sources and 0 not in sources  # the one row shown is connection 0
    argv = ["analyze", str(path), "--limit", "1"]
    expected = _cli(argv, capsys)
    assert "(doubling from 1 s (Linux" in expected[1].replace("\n", " ")
    assert _cli([*argv, "--spill-dir", str(tmp_path)], capsys) == expected
