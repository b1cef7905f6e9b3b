"""The whole robustness corpus (PCAPLINE_CORPUS or ../shared/corpus, 2,000+ real captures) through read ->
decode -> flows, and our connection numbering against tshark 4.0's ``tcp.stream``.

Every TCP file has exactly tshark's TCP frames (tunnels, VLAN/PBB/VN-Tag/FabricPath shims and
the link types we decode included), except the files listed with their reason in
``corpus_tshark_differences.tsv``.

Marked ``corpus`` and ``slow``; skipped cleanly when the corpus (or tshark, for the comparison,
marked ``tshark``) is absent. Wireshark's answer for every TCP file comes from its daemon sharkd
(tshark's engine, one process for many files; tshark itself for a file sharkd cannot answer), in
the background while the rest of the suite runs (tests/tshark_sweep.py); the answers are cached
in pytest's cache directory keyed by file size and mtime and the Wireshark version, so only the
first run pays for them.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from fanout import over_files
from needs import CORPUS, CORPUS_MARKS, corpus_manifest, needs_tshark
from tshark_sweep import Sweep

from pcapline.decode import decode
from pcapline.errors import CaptureError
from pcapline.flows import build_flows
from pcapline.model import SkipReason
from pcapline.read import read_capture

NOT_CAPTURES = {"MANIFEST.tsv", "README.md", "provenance.tsv"}
DIFFERENCES = Path(__file__).with_name("corpus_tshark_differences.tsv")
OURS_ONLY = "ours_only"  # reason code in DIFFERENCES: frames we analyse and tshark does not

#: One xdist group: the session's corpus_results and tshark sweep are made once, in one worker.
pytestmark = [*CORPUS_MARKS, pytest.mark.slow, pytest.mark.xdist_group("corpus-read")]

#: Frames tshark dissects as TCP that we do not analyse, and why that is expected.
#: Such frames can open extra tshark streams, so ids may be shifted: for files with any
#: of them we require the same partition of our frames (same groups, same order) instead
#: of identical numbers.
#: ``reason_by_frame`` of an ICMP error quoting TCP (an analysed frame, not a skip reason).
ICMP_ERROR = "icmp_error"
TSHARK_ONLY_EXPLAINED: dict[str, str] = {
    SkipReason.TUNNELLED: "TCP inside a tunnel we do not open (Aruba 802.11-in-GRE, EtherIP, ...)",
    SkipReason.IP_FRAGMENT: "tshark reassembles overlapping IP fragments that disagree, or "
    "dissects a lone first fragment cut by the capture; we leave both unreassembled",
    SkipReason.UNSUPPORTED_LINK: "ARCNET, IPoIB, PPI, Juniper, ... link layers tshark decodes and we do not",
    SkipReason.NOT_TCP: "TCP quoted in an ICMP error or an sFlow sample, or inside IPComp",
    SkipReason.NOT_IP: "IP behind an encapsulation we do not unwrap",
    SkipReason.TRUNCATED_HEADER: "tshark shows the ports (and a stream) of a TCP header cut by the snaplen",
    SkipReason.TRUNCATED_TCP_HEADER: "tshark shows the ports (and a stream) of a TCP header cut by the snaplen",
    SkipReason.MALFORMED: "tshark still opens a stream for a segment with a bogus header length",
    ICMP_ERROR: "TCP quoted in an ICMP error: analysed as the error (pcapline.icmp), not a segment",
}


def _corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(
        p
        for p in CORPUS.rglob("*")
        if p.is_file()
        and p.name not in NOT_CAPTURES
        and "LICENSES" not in p.relative_to(CORPUS).parts
    )


@dataclass
class Result:
    frames: int
    tcp_frames: int
    conn_by_frame: dict[int, int]
    reason_by_frame: dict[int, str]


def _run(path: Path) -> Result | None:
    """None when the reader rejects the file with CaptureError (the only allowed error)."""
    try:
        cap = read_capture(path)
    except CaptureError:
        return None
    dec = decode(cap)
    assert cap.frames == len(dec.segments) + len(dec.icmp) + sum(dec.skipped.values()), path
    assert all(v > 0 for v in dec.skipped.values())
    seg, conns = build_flows(dec.segments)
    assert len(conns) == (seg["conn"].max() + 1 if len(seg) else 0)
    assert int(conns["packets"].sum()) == len(seg)
    skipped = np.flatnonzero(dec.frame_reason)
    return Result(
        frames=cap.frames,
        tcp_frames=len(seg),
        conn_by_frame=dict(zip(seg["frame"].tolist(), seg["conn"].tolist(), strict=True)),
        reason_by_frame={
            **dict(zip((skipped + 1).tolist(), dec.reason_of(skipped), strict=True)),
            **dict.fromkeys(dec.icmp["frame"].tolist(), ICMP_ERROR),
        },
    )


@pytest.fixture(scope="session")
def corpus_results() -> dict[str, Result | None]:
    files = _corpus_files()
    return {
        p.relative_to(CORPUS).as_posix(): result
        for p, result in zip(files, over_files(_run, files), strict=True)
    }


def test_every_file_reads_or_fails_cleanly(corpus_results: dict[str, Result | None]) -> None:
    # _run asserted the accounting identity for every readable file; any other exception
    # than CaptureError would have failed the fixture.
    readable = [r for r in corpus_results.values() if r is not None]
    assert len(corpus_results) >= 2000
    assert len(readable) >= 0.99 * len(corpus_results)


def test_frame_counts_match_capinfos(corpus_results: dict[str, Result | None]) -> None:
    """Files without notes (not damaged, all link types known to tshark): same frame count."""
    wrong = []
    for path, row in corpus_manifest().items():
        result = corpus_results.get(path)
        if row["notes"] or not row["packets"].isdigit() or result is None:
            continue
        if result.frames != int(row["packets"]):
            wrong.append((path, int(row["packets"]), result.frames))
    assert not wrong


@pytest.fixture(scope="session")
def tshark_streams(tshark_sweep: Sweep) -> dict[str, dict[int, int]]:
    """tshark's tcp.stream per frame of every corpus TCP file (tests/tshark_sweep.py)."""
    return tshark_sweep.answers()


def _compare(ours: Result, theirs: dict[int, int], tshark_malformed: bool) -> tuple[str, str]:
    """(outcome, detail). Outcomes: "exact" (same ids), "partition: <why>" (same groups
    in the same order, ids shifted for a known reason), "DIFFERENT"."""
    only_theirs = [f for f in theirs if f not in ours.conn_by_frame]
    only_ours = [f for f in ours.conn_by_frame if f not in theirs]
    unexplained = [
        f for f in only_theirs if ours.reason_by_frame.get(f) not in TSHARK_ONLY_EXPLAINED
    ]
    if unexplained:
        return (
            "DIFFERENT",
            f"tshark has TCP in frames {unexplained[:5]} we skipped without a known cause",
        )
    if only_ours and not tshark_malformed:
        return "DIFFERENT", f"we have TCP in frames {only_ours[:5]} tshark shows no stream for"
    shared = [f for f in ours.conn_by_frame if f in theirs]
    if all(ours.conn_by_frame[f] == theirs[f] for f in shared):
        return "exact", ""
    pairs = sorted({(ours.conn_by_frame[f], theirs[f]) for f in shared})
    ours_ids = [a for a, _ in pairs]
    their_ids = [b for _, b in pairs]
    same_groups = len(set(ours_ids)) == len(pairs) == len(set(their_ids)) and their_ids == sorted(
        their_ids
    )
    if not same_groups:
        return "DIFFERENT", f"grouping differs: (ours, tshark) pairs {pairs[:8]}"
    if only_theirs:
        # Extra TCP that tshark decodes (tunnels, fragments, ...) opens streams of its own.
        reasons = sorted({ours.reason_by_frame[f] for f in only_theirs})
        return f"partition: tshark-only TCP ({', '.join(reasons)})", ""
    if set(theirs.values()) != set(range(max(theirs.values()) + 1)):
        # Stream ids no frame carries: another dissector (SOCKS, FTP data, ...) registered
        # a TCP conversation of its own, which consumed a tcp.stream number.
        return "partition: tshark ids with gaps (conversations set up by other dissectors)", ""
    return "DIFFERENT", f"ids shifted without a cause: (ours, tshark) pairs {pairs[:8]}"


@needs_tshark
def test_streams_match_tshark(
    corpus_results: dict[str, Result | None], tshark_streams: dict[str, dict[int, int]]
) -> None:
    notes = {rel: row["notes"] for rel, row in corpus_manifest().items()}
    outcome: Counter[str] = Counter()
    problems = []
    tcp_files = 0
    for rel, theirs in tshark_streams.items():
        ours = corpus_results.get(rel)
        if ours is None:
            outcome["rejected"] += 1  # CaptureError (tshark refuses these files too)
            continue
        kind, detail = _compare(ours, theirs, "malformed" in notes[rel])
        outcome[kind] += 1
        tcp_files += 1
        if kind == "DIFFERENT":
            problems.append(f"{rel}: {detail}")
    print(f"\ntcp.stream agreement over {tcp_files} readable TCP files:")
    for kind, count in outcome.most_common():
        print(f"  {count:5d}  {kind}")
    assert not problems, "\n".join(problems[:20])
    assert outcome["exact"] > 0.85 * tcp_files


def _known_differences() -> dict[str, tuple[set[str], str]]:
    """corpus_tshark_differences.tsv: path -> (skip reasons allowed to differ, why)."""
    lines = [ln for ln in DIFFERENCES.read_text().splitlines() if ln and not ln.startswith("#")]
    rows = csv.DictReader(lines, delimiter="\t")
    return {row["path"]: (set(row["reasons"].split(",")), row["why"]) for row in rows}


def test_difference_list_is_well_formed() -> None:
    known = _known_differences()
    allowed = {r.value for r in SkipReason} | {OURS_ONLY, ICMP_ERROR}
    for path, (reasons, why) in known.items():
        assert reasons <= allowed, f"{path}: unknown reason in {reasons}"
        assert why.strip(), f"{path}: say why it differs"


@needs_tshark
def test_tcp_frames_match_tshark(
    corpus_results: dict[str, Result | None], tshark_streams: dict[str, dict[int, int]]
) -> None:
    """Per file, the frames we analyse as TCP are the frames tshark gives a tcp.stream
    (tunnelled TCP included), except the listed files, which differ only for their reason."""
    known = _known_differences()
    unexpected, stale, wrong_reason = [], [], []
    agree = 0
    for rel, theirs in tshark_streams.items():
        ours = corpus_results.get(rel)
        if ours is None:
            continue
        only_theirs = [f for f in theirs if f not in ours.conn_by_frame]
        only_ours = [f for f in ours.conn_by_frame if f not in theirs]
        reasons = {ours.reason_by_frame.get(f, "?") for f in only_theirs}
        if only_ours:
            reasons.add(OURS_ONLY)
        if not reasons:
            agree += 1
            if rel in known:
                stale.append(rel)
        elif rel not in known:
            unexpected.append(f"{rel}: {len(theirs)} tshark vs {ours.tcp_frames} ours ({reasons})")
        elif not reasons <= known[rel][0]:
            wrong_reason.append(f"{rel}: {reasons} not in {known[rel][0]}")
    print(f"\n{agree} of {agree + len(known)} TCP files have tshark's TCP frames exactly")
    assert not unexpected, "\n".join(unexpected)
    assert not stale, f"these now agree with tshark: drop them from {DIFFERENCES.name}: {stale}"
    assert not wrong_reason, "\n".join(wrong_reason)
