"""The frames a verdict rests on (``Decision.evidence_frames``), in the JSON
(``connections[].evidence_frames``) and marked in the text timeline, as in the HTML's."""

from __future__ import annotations

import json
from pathlib import Path

import pcapline
from pcapline.render import jsondoc
from pcapline.render.jsondoc import CONNECTION_KEYS, _Layout, connection_chunks, dumps
from pcapline.render.timeline import connection_timeline_text

SAMPLES = Path(__file__).resolve().parent.parent / "sample_captures"
CAPTURE = SAMPLES / "nat-lookalike-firewall-drops-one-hosts-syns.pcap"


def test_the_json_names_each_verdicts_frames() -> None:
    """Connection 1: SYNs at frames 13 and 14, never answered (connect_timeout); connection 0
    closed by the FINs of frames 10 and 11. The key comes last, after ``seen``."""
    analysis = pcapline.analyze(str(CAPTURE))
    doc = json.loads(dumps(jsondoc.document(analysis)))
    by_id = {c["id"]: c for c in doc["connections"]}
    assert (by_id[1]["fate"], by_id[1]["evidence_frames"]) == ("connect_timeout", [13, 14])
    assert (by_id[0]["fate"], by_id[0]["evidence_frames"]) == ("closed", [10, 11])
    assert list(by_id[0]) == list(CONNECTION_KEYS) and CONNECTION_KEYS[-1] == "evidence_frames"


def test_the_laid_out_json_matches_the_documents() -> None:
    """The column-at-a-time layout (compiled or Python) writes the same key as the dicts."""
    analysis = pcapline.analyze(str(CAPTURE))
    docs = [d for chunk in connection_chunks(analysis) for d in chunk]
    parts = list(jsondoc._parts(analysis.connections, analysis.events, analysis.delays))
    laid = _Layout(2).connections(parts[0])
    assert [json.loads(text)["evidence_frames"] for text in laid] == [
        d["evidence_frames"] for d in docs
    ]


def test_the_text_timeline_marks_the_verdicts_frames() -> None:
    analysis = pcapline.analyze(str(CAPTURE))
    text = connection_timeline_text(analysis, 1)
    lines = {line.split()[0]: line for line in text.splitlines()[2:4]}
    assert lines["13"].rstrip().endswith("◆ connect_timeout; syn (SYN)")
    assert "◆ connect_timeout; syn_retransmit (retry 1:" in lines["14"]
    assert "◆ connect_timeout: a frame the verdict rests on" in text.splitlines()[-1]
    ascii_text = connection_timeline_text(analysis, 0, ascii_only=True)
    marked = [line.split()[0] for line in ascii_text.splitlines() if "# closed;" in line]
    assert marked == ["10", "11"]
