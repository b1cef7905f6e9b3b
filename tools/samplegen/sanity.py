"""Sanity check of the SCENARIOS (not of pcapline): did the kernel do what the scenario meant?

The expected files are written from how a scenario was built; this reads the captures back
with tshark, only to catch a run where timing went wrong (a loaded machine, a slow nft call)
and the capture no longer shows the intended behaviour. It never writes expectations.

    python -m tools.samplegen.sanity [sample_captures]

Wireshark facts this relies on: ``tcp.analysis.keep_alive`` marks 0-byte seq-1 segments,
i.e. Linux keepalive AND zero-window probes alike, so the two counts are checked as a sum.
Files captured with duplicates (``-i any`` on a router) are skipped for counts.
"""

from __future__ import annotations

import functools
import json
import operator
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FIELDS = [
    "tcp.stream",
    "tcp.srcport",
    "tcp.dstport",
    "tcp.flags",
    "tcp.seq_raw",
    "tcp.ack_raw",
    "tcp.len",
    "tcp.analysis.keep_alive",
    "tcp.analysis.retransmission",
    "tcp.analysis.fast_retransmission",
]
FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10


@dataclass
class Seg:
    sport: int
    dport: int
    flags: int
    seq: int
    ack: int
    length: int
    keep_alive: bool
    retrans: bool


@dataclass
class Stream:
    segs: list[Seg] = field(default_factory=list)
    server_port: int = 0

    def from_client(self, s: Seg) -> bool:
        return s.dport == self.server_port


def read_streams(path: Path) -> list[Stream]:
    out = subprocess.run(
        [
            "tshark",
            "-r",
            str(path),
            "-Y",
            "tcp && !icmp && !icmpv6",  # an ICMP error's quoted TCP header is not a segment
            "-T",
            "fields",
            *functools.reduce(operator.iadd, (["-e", f] for f in FIELDS), []),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    streams: dict[int, Stream] = defaultdict(Stream)
    for line in out.splitlines():
        v = line.split("\t")
        s = Seg(
            int(v[1]),
            int(v[2]),
            int(v[3], 16),
            int(v[4]),
            int(v[5] or 0),
            int(v[6] or 0),
            bool(v[7]),
            bool(v[8] or v[9]),
        )
        streams[int(v[0])].segs.append(s)
    result = [streams[k] for k in sorted(streams)]
    for st in result:
        first = st.segs[0]
        syn = next((s for s in st.segs if s.flags & (SYN | ACK) == SYN), None)
        if syn is not None:
            st.server_port = syn.dport
        else:  # midstream: the well-known side
            st.server_port = (
                min(first.sport, first.dport) if 8080 not in (first.sport, first.dport) else 8080
            )
    return result


def _within(actual: int, want: Any) -> bool:
    if isinstance(want, int):
        return actual == want
    lo, hi = want["min"], want["max"]
    return (lo is None or actual >= lo) and (hi is None or actual <= hi)


def _end(value: Any, key: str) -> int | None:
    return value if isinstance(value, int) else value[key]


def _sum_bounds(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int):
        return a + b
    los, his = (_end(a, "min"), _end(b, "min")), (_end(a, "max"), _end(b, "max"))
    return {
        "min": None if None in los else sum(x or 0 for x in los),
        "max": None if None in his else sum(x or 0 for x in his),
    }


def check_connection(st: Stream, want: dict[str, Any], skip_counts: bool) -> list[str]:
    problems: list[str] = []
    segs = st.segs
    syns = [s for s in segs if s.flags & (SYN | ACK) == SYN]
    synacks = [s for s in segs if s.flags & (SYN | ACK) == SYN | ACK]
    rsts = [s for s in segs if s.flags & RST]
    fins = [s for s in segs if s.flags & FIN]
    fin_sides = {("client" if st.from_client(s) else "server") for s in fins}
    counts = want["counts"]
    actual = {
        "syn_retransmits": max(len(syns) - 1, 0),
        "synack_retransmits": max(len(synacks) - 1, 0),
        "resets": len(rsts),
        "retransmits": sum(1 for s in segs if s.retrans and not s.flags & SYN and not s.keep_alive),
    }
    if not skip_counts:
        for key, value in actual.items():
            if key in counts and not _within(value, counts[key]):
                problems.append(f"{key}={value}, expected {counts[key]}")
        if "keepalive_probes" in counts and "zero_window_probes" in counts:
            probes = sum(1 for s in segs if s.keep_alive)
            want_probes = _sum_bounds(counts["keepalive_probes"], counts["zero_window_probes"])
            if not _within(probes, want_probes):
                problems.append(f"probes (keepalive+zero-window)={probes}, expected {want_probes}")
    fate = want["fate"]
    if fate == "closed" and fin_sides != {"client", "server"}:
        problems.append(f"closed but FINs from {sorted(fin_sides)}")
    if fate == "half_closed" and len(fin_sides) != 1:
        problems.append(f"half_closed but FINs from {sorted(fin_sides)}")
    if fate in {"closed", "half_closed"} and fins:
        first = fins[0]
        first_side = "client" if st.from_client(first) else "server"
        other = next((s for s in fins if st.from_client(s) != st.from_client(first)), None)
        crossed = other is not None and (other.ack - first.seq) % 2**32 < 1 + first.length
        side = "both" if crossed else first_side
        if side != want["closer"]:
            problems.append(f"closer {side}, expected {want['closer']}")
    if want["reset_by"] is not None:
        by = {("client" if st.from_client(s) else "server") for s in rsts}
        if want["reset_by"] not in by:
            problems.append(f"no RST from {want['reset_by']}")
    if (
        fate
        in {
            "open",
            "retransmit_timeout",
            "persist_timeout",
            "keepalive_timeout",
            "connect_timeout",
            "handshake_timeout",
        }
        and fins
    ):
        problems.append(f"{fate} but FIN seen")
    return problems


def _pick(streams: list[Stream], match: dict[str, int]) -> Stream | None:
    if "index" in match:
        return streams[match["index"]] if match["index"] < len(streams) else None
    port = match["client_port"]
    hits = [s for s in streams if any((x.sport == port or x.dport == port) for x in s.segs[:1])]
    return hits[0] if len(hits) == 1 else None


def check_file(expected_path: Path) -> list[str]:
    exp = json.loads(expected_path.read_text())
    if "compression" in exp["capture_format"]:
        return []  # byte-identical to its (checked) source; tshark 4.0 cannot open bz2/xz
    capture = expected_path.parent / exp["capture"]
    streams = read_streams(capture)
    skip_counts = (
        "any" in str(exp["capture_format"].get("tool", "")) and exp["captured_at"] == "router"
    )
    problems = []
    if len(streams) != exp["connection_count"]:
        problems.append(f"{len(streams)} streams, expected {exp['connection_count']}")
    for want in exp["connections"]:
        st = _pick(streams, want["match"])
        if st is None:
            problems.append(f"{want['match']}: no unique stream")
            continue
        problems += [f"{want['match']}: {p}" for p in check_connection(st, want, skip_counts)]
    known = set(exp.get("known_tshark_differences", []))
    return [p for p in problems if p not in known]


def main() -> None:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "sample_captures")
    bad = 0
    for path in sorted(folder.glob("*.expected.json")):
        problems = check_file(path)
        if problems:
            bad += 1
            print(f"{path.name}:")
            for p in problems:
                print(f"    {p}")
    print(f"sanity: {bad} file(s) with differences")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
