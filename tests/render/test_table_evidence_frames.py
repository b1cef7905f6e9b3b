"""``evidence_frames`` in the flat tables: space-separated in CSV (as ``caveats`` and ``seen``),
a list of integers in Parquet and ``Analysis.connection_table()``, equal to the JSON's."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

import pcapline
from pcapline.render.tables import connections_table, to_csv, write_parquet

SAMPLES = Path(__file__).resolve().parent.parent.parent / "sample_captures"
CAPTURE = SAMPLES / "nat-lookalike-firewall-drops-one-hosts-syns.pcap"


def test_csv_and_parquet_name_each_verdicts_frames(tmp_path: Path) -> None:
    """Connection 0 closed by the FINs of frames 10 and 11, connection 1's unanswered SYNs at
    frames 13 and 14 (connect_timeout): the JSON's lists, in the last column."""
    analysis = pcapline.analyze(str(CAPTURE))
    rows = list(csv.DictReader(io.StringIO(to_csv(analysis))))
    assert list(rows[0])[-1] == "evidence_frames"
    assert [(r["fate"], r["evidence_frames"]) for r in rows[:2]] == [
        ("closed", "10 11"),
        ("connect_timeout", "13 14"),
    ]
    table = connections_table(analysis)
    assert table["evidence_frames"].iloc[:2].tolist() == [[10, 11], [13, 14]]
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "c.parquet"
    write_parquet(analysis, str(path))
    back = pq.read_table(path)
    assert str(back.schema.field("evidence_frames").type) == "list<element: int64>"
    assert back.column("evidence_frames").to_pylist()[:2] == [[10, 11], [13, 14]]
