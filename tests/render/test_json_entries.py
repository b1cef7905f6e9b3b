"""The JSON document's entries written from the partitions' files (render/json_entries.py):
in id order, byte for byte what writing them in order gives, wherever the output goes.

The entries here are made up (a unit test of the merge and the writes); that the bounded
path's documents equal the whole-file analysis' on real-kernel captures is
tests/test_engine_bounded.py's.
"""

from __future__ import annotations

import io
import itertools
import os
from pathlib import Path

import numpy as np
import pytest

from pcapline.render import json_entries
from pcapline.render.json_entries import Entries, Merge
from pcapline.render.jsondoc import Outline

AROUND = Outline(head='{\n  "connections": ', sep=",", close="\n  ]", tail="\n}\n")


def _parts(tmp_path: Path, count: int, partitions: int, seed: int) -> tuple[Merge, str]:
    """``count`` entries of random sizes (some not ASCII, one of megabytes) spread over
    ``partitions`` files at random; the document they make, written in order by hand."""
    rng = np.random.default_rng(seed)
    texts = [
        f'\n    {{"id": {i}, "x": "{"é" * int(rng.integers(0, 3))}{"a" * int(rng.integers(0, 900))}"}}'
        for i in range(count)
    ]
    if count:
        texts[count // 2] += "b" * (3 << 20)  # bigger than a piece: never cut
    owner = rng.integers(0, partitions, count)
    paths = []
    for number in range(partitions):
        ids = np.flatnonzero(owner == number)
        path = str(tmp_path / f"json-{number}")
        Entries.of_texts(ids, [texts[i] for i in ids]).save(path)
        paths.append(path)
    body = "[" + ",".join(texts) + AROUND.close if count else "[]"
    return Merge.of(paths), AROUND.head + body + AROUND.tail


@pytest.mark.parametrize(
    ("count", "partitions", "writers"), [(0, 2, 2), (1, 3, 2), (2, 1, 1), (700, 5, 3), (700, 5, 1)]
)
def test_written_in_place_by_threads_it_is_the_document(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, count: int, partitions: int, writers: int
) -> None:
    monkeypatch.setattr(json_entries, "PIECE_BYTES", 20_000)  # many pieces per writer
    merge, expected = _parts(tmp_path, count, partitions, seed=count)
    out_path = tmp_path / "out.json"
    with open(out_path, "w", encoding="utf-8") as out:
        out.write("before ")  # standard output redirected after something else was written
        json_entries.write(out, merge, AROUND, writers=writers)
        out.write(" after")  # the position is left at the document's end
    assert out_path.read_text(encoding="utf-8") == "before " + expected + " after"


def test_a_file_opened_to_append_is_written_in_order(tmp_path: Path) -> None:
    merge, expected = _parts(tmp_path, 300, 4, seed=1)
    out_path = tmp_path / "out.json"
    out_path.write_text("old\n", encoding="utf-8")
    with open(out_path, "a", encoding="utf-8") as out:  # ``>>``: pwrite would append anyway
        assert json_entries._positional(out) is None
        json_entries.write(out, merge, AROUND, writers=2)
    assert out_path.read_text(encoding="utf-8") == "old\n" + expected


@pytest.mark.parametrize("binary", [True, False], ids=["text-over-bytes", "stringio"])
def test_a_stream_gets_them_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, binary: bool
) -> None:
    monkeypatch.setattr(json_entries, "PIECE_BYTES", 20_000)
    merge, expected = _parts(tmp_path, 300, 4, seed=2)
    raw, text = io.BytesIO(), io.StringIO()
    out = io.TextIOWrapper(raw, encoding="utf-8") if binary else text
    out.write("x")
    json_entries.write(out, merge, AROUND, writers=2)
    out.flush()
    assert (raw.getvalue().decode() if binary else text.getvalue()) == "x" + expected


def test_a_pipe_gets_them_in_order(tmp_path: Path) -> None:
    merge, expected = _parts(tmp_path, 50, 3, seed=3)
    read_end, write_end = os.pipe()
    with open(write_end, "w", encoding="utf-8") as out:
        assert json_entries._positional(out) is None
        pid = os.fork()
        if pid == 0:  # the reader, so that the pipe never fills
            os.close(write_end)
            with open(read_end, "rb") as f, open(tmp_path / "got", "wb") as g:
                g.write(f.read())
            os._exit(0)
        os.close(read_end)
        json_entries.write(out, merge, AROUND)
    os.waitpid(pid, 0)
    assert (tmp_path / "got").read_text(encoding="utf-8") == expected


def test_pieces_cut_by_bytes_and_never_inside_an_entry(tmp_path: Path) -> None:
    merge, _ = _parts(tmp_path, 700, 5, seed=4)
    pieces = merge.pieces(0, len(merge), size=50_000)
    assert pieces[0][0] == 0 and pieces[-1][1] == len(merge)
    assert all(a < b for a, b in pieces)
    assert all(x[1] == y[0] for x, y in itertools.pairwise(pieces))
    sizes = [int(merge.before[b] - merge.before[a]) for a, b in pieces]
    giant = 350  # the entry of megabytes (id 350) is in one piece, whole
    assert max(sizes) > 3 << 20
    ordinary = [size for (a, b), size in zip(pieces, sizes, strict=True) if not a <= giant < b]
    assert ordinary and max(ordinary) < 50_000 + 1_000  # the size, and at most one entry over


def test_a_failed_write_stops_every_writer_and_is_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk met by one writer: its error reaches the caller (the CLI turns it into one
    line and removes the unfinished file), nothing waits forever."""
    monkeypatch.setattr(json_entries, "PIECE_BYTES", 20_000)
    merge, _ = _parts(tmp_path, 700, 5, seed=5)
    calls = []
    real = os.pwritev

    def full(fd: int, buffers: list[bytes], offset: int) -> int:
        calls.append(offset)
        if len(calls) == 4:
            raise OSError(28, "No space left on device")
        return real(fd, buffers, offset)

    monkeypatch.setattr(os, "pwritev", full)
    with (
        open(tmp_path / "out.json", "w", encoding="utf-8") as out,
        pytest.raises(OSError, match="No space left"),
    ):
        json_entries.write(out, merge, AROUND, writers=3)
    assert len(calls) >= 4


def test_an_empty_partition_before_others_shifts_nothing(tmp_path: Path) -> None:
    """A partition without entries (its index empty) before one with several: each entry
    still starts where the one before it in its own file ended."""
    texts = ['\n    {"id": 0}', '\n    {"id": 1, "x": "yy"}', '\n    {"id": 2}']
    paths = [str(tmp_path / "json-0"), str(tmp_path / "json-1")]
    Entries.of_texts(np.zeros(0, np.int64), []).save(paths[0])
    Entries.of_texts(np.arange(3), texts).save(paths[1])
    out = io.StringIO()
    json_entries.write(out, Merge.of(paths), AROUND)
    assert out.getvalue() == AROUND.head + "[" + ",".join(texts) + AROUND.close + AROUND.tail
