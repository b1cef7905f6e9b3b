"""Metamorphic sweep: damage every sample capture the ways real captures are damaged and check
that no verdict on a damaged copy claims more than its packets show.

For each real-kernel sample (``sample_captures/*.pcap`` with its ``*.expected.json``) the sweep
writes damaged variants, analyses each in-process and compares every connection's verdict
with the whole capture's (a variant connection is matched to the original connection that
holds its first frame):

- ``head-N``/``tail-N``: the capture started / stopped N % of the way into its frames;
- ``no-client``/``no-server``: one direction removed (one-sided tap, asymmetric routing);
- ``loss-1``/``loss-5``: the tap lost 1 % / 5 % of TCP frames (seeded);
- ``snap-54``/``snap-64``: snaplen cut inside the headers;
- ``jitter``: ``-i any`` timestamps, a few percent of frames stamped up to 0.5 ms early;
- ``no-bare-acks``/``flags-only``: capture filters ``not (bare ACK)`` and
  ``tcp[tcpflags] & (syn|fin|rst) != 0``.

Flags (kind): ``crash`` (an exception anywhere, also in the HTML report and the timeline),
``proven-contradicts`` (``proven`` on the variant, fate or cause differs from the whole
capture's), ``likely-uncaveated`` (``likely``, differs, and no caveat names what the damage
removed), ``jobs-differ`` (``--jobs 2`` with partitions gives another JSON than jobs 1).
Triage is by hand: a flag may be a correct reading of what the variant shows.

    PYTHONPATH=src python tools/damage_sweep.py --out /tmp/sweep [--only NAME] [--jobs-every 5]
"""

from __future__ import annotations

import argparse
import json
import random
import struct
import sys
import traceback
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

SYN, FIN, RST = 0x02, 0x01, 0x04
ROOT = Path(__file__).resolve().parent.parent
#: Caveats that say the capture lacks packets, per damage: a ``likely`` verdict that differs
#: from the whole capture's must carry one of them.
MISSING_CAVEATS = {
    "capture_ended",
    "capture_ended_after_fin",
    "capture_lossy",
    "capture_dropped",
    "flag_filtered",
    "acks_filtered",
    "one_sided",
    "end_not_captured",
    "peer_fin_inferred",
    "handshake_not_captured",
    "rst_only",
    "lone_syn",
    "lone_synack",
    "handshake_acked_unseen",
    "ack_unconfirmed",
    "silent_sender",
    "pmtu_stall_unfinished",
}


@dataclass(frozen=True, slots=True)
class Record:
    """One captured frame: its number in the original capture (1-based) and its bytes."""

    frame: int
    ts_ns: int
    data: bytes
    origlen: int


@dataclass(frozen=True, slots=True)
class Pcap:
    linktype: int
    nanos: bool
    snaplen: int
    records: tuple[Record, ...]


def read_pcap(path: Path) -> Pcap:
    """A classic pcap file (either byte order, micro- or nanosecond stamps) or a pcapng file
    of one interface (its Enhanced and Simple Packet Blocks)."""
    raw = path.read_bytes()
    magic = raw[:4]
    if magic == b"\x0a\x0d\x0d\x0a":
        return _read_pcapng(path, raw)
    order = {b"\xd4\xc3\xb2\xa1": "<", b"\x4d\x3c\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">"}
    order |= {b"\xa1\xb2\x3c\x4d": ">"}
    if magic not in order:
        raise ValueError(f"{path.name}: not a pcap or pcapng file")
    e = order[magic]
    nanos = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    snaplen, linktype = struct.unpack(e + "II", raw[16:24])
    records: list[Record] = []
    at = 24
    while at + 16 <= len(raw):
        sec, frac, incl, orig = struct.unpack(e + "IIII", raw[at : at + 16])
        data = raw[at + 16 : at + 16 + incl]
        ts = sec * 10**9 + (frac if nanos else frac * 1000)
        records.append(Record(len(records) + 1, ts, data, orig))
        at += 16 + incl
    return Pcap(linktype & 0xFFFF, nanos, snaplen, tuple(records))


def _read_pcapng(path: Path, raw: bytes) -> Pcap:
    e = "<" if raw[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
    linktypes: list[int] = []
    snaplen, resolution = 0, 10**3  # if_tsresol default: microseconds (ns per tick)
    records: list[Record] = []
    at = 0
    while at + 12 <= len(raw):
        kind, length = struct.unpack(e + "II", raw[at : at + 8])
        body = raw[at + 8 : at + length - 4]
        if kind == 1:  # Interface Description Block
            linktype, _, snap = struct.unpack(e + "HHI", body[:8])
            linktypes.append(linktype)
            snaplen = snaplen or snap
            resolution = _tsresol(body[8:], e) or resolution
        elif kind == 6:  # Enhanced Packet Block
            _, hi, lo, incl, orig = struct.unpack(e + "IIIII", body[:20])
            ts = ((hi << 32) | lo) * resolution
            records.append(Record(len(records) + 1, ts, body[20 : 20 + incl], orig))
        at += length
    if len(set(linktypes)) != 1:
        raise ValueError(f"{path.name}: pcapng of {len(linktypes)} interfaces")
    return Pcap(linktypes[0], True, snaplen or 262144, tuple(records))


def _tsresol(options: bytes, e: str) -> int | None:
    """ns per tick of an IDB's if_tsresol option (9: 10**-6 s ... ), None when absent."""
    at = 0
    while at + 4 <= len(options):
        code, length = struct.unpack(e + "HH", options[at : at + 4])
        if code == 0:
            return None
        if code == 9:
            value = int(options[at + 4])
            if value & 0x80:
                return None  # a power of two: not used by the samples
            ticks: int = 10 ** max(0, 9 - value)
            return ticks
        at += 4 + (length + 3) // 4 * 4
    return None


def write_pcap(pcap: Pcap, path: Path) -> None:
    """Little-endian pcap with ``pcap``'s stamp precision and link type."""
    magic = 0xA1B23C4D if pcap.nanos else 0xA1B2C3D4
    out = [struct.pack("<IHHiIII", magic, 2, 4, 0, 0, pcap.snaplen, pcap.linktype)]
    for r in pcap.records:
        sec, rest = divmod(r.ts_ns, 10**9)
        frac = rest if pcap.nanos else rest // 1000
        out.append(struct.pack("<IIII", sec, frac, len(r.data), r.origlen) + r.data)
    path.write_bytes(b"".join(out))


@dataclass(frozen=True, slots=True)
class Segment:
    """What the damage rules read of a TCP frame (from the whole capture's analysis)."""

    conn: int
    from_client: bool
    flags: int
    seg_len: int

    @property
    def bare_ack(self) -> bool:
        return self.seg_len == 0 and not self.flags & (SYN | FIN | RST)


Damage = Callable[[Pcap, dict[int, Segment]], Pcap]


def keep(pcap: Pcap, wanted: Callable[[Record], bool]) -> Pcap:
    return replace(pcap, records=tuple(r for r in pcap.records if wanted(r)))


def head_cut(share: float) -> Damage:
    return lambda p, _s: replace(p, records=p.records[int(len(p.records) * share) :])


def tail_cut(share: float) -> Damage:
    return lambda p, _s: replace(p, records=p.records[: int(len(p.records) * share)])


def one_direction_removed(client: bool) -> Damage:
    def damage(p: Pcap, segs: dict[int, Segment]) -> Pcap:
        return keep(p, lambda r: r.frame not in segs or segs[r.frame].from_client != client)

    return damage


def tap_loss(share: float, seed: int) -> Damage:
    def damage(p: Pcap, segs: dict[int, Segment]) -> Pcap:
        rng = random.Random(seed)
        return keep(p, lambda r: r.frame not in segs or rng.random() >= share)

    return damage


def snaplen(length: int) -> Damage:
    def damage(p: Pcap, _s: dict[int, Segment]) -> Pcap:
        cut = tuple(replace(r, data=r.data[:length]) for r in p.records)
        return replace(p, snaplen=length, records=cut)

    return damage


def any_jitter(share: float, seed: int) -> Damage:
    """``-i any``: each CPU stamps the packets it handles, so a few frames carry a time up to
    0.5 ms earlier than their own, before the frame written ahead of them when that one is
    that close."""

    def damage(p: Pcap, _s: dict[int, Segment]) -> Pcap:
        rng = random.Random(seed)
        early = (
            replace(r, ts_ns=r.ts_ns - rng.randint(1_000, 500_000)) if rng.random() < share else r
            for r in p.records
        )
        return replace(p, records=tuple(early))

    return damage


def resets_lost(p: Pcap, segs: dict[int, Segment]) -> Pcap:
    """The tap lost every RST (the capture goes on with the rest)."""
    return keep(p, lambda r: r.frame not in segs or not segs[r.frame].flags & RST)


def resets_lost_capture_went_on(p: Pcap, segs: dict[int, Segment]) -> Pcap:
    """The tap lost every RST and the capture went on 30 s more (the first frame that is no
    TCP segment, an ARP request most often, again at the end): a sender's timer, had it run
    on, would have shown itself in that time."""
    lost = resets_lost(p, segs)
    other = next((r for r in p.records if r.frame not in segs), None)
    if other is None or not lost.records:
        return lost
    later = replace(other, frame=p.records[-1].frame + 1, ts_ns=lost.records[-1].ts_ns + 30 * 10**9)
    return replace(lost, records=(*lost.records, later))


def bare_acks_filtered(p: Pcap, segs: dict[int, Segment]) -> Pcap:
    return keep(p, lambda r: r.frame not in segs or not segs[r.frame].bare_ack)


def flags_only(p: Pcap, segs: dict[int, Segment]) -> Pcap:
    return keep(p, lambda r: r.frame in segs and bool(segs[r.frame].flags & (SYN | FIN | RST)))


VARIANTS: dict[str, Damage] = {
    **{f"head-{n}": head_cut(n / 100) for n in (5, 20, 50)},
    **{f"tail-{n}": tail_cut(n / 100) for n in (30, 60, 85, 97)},
    "no-client": one_direction_removed(client=True),
    "no-server": one_direction_removed(client=False),
    **{f"loss-{n}-s{s}": tap_loss(n / 100, s) for n in (1, 5) for s in (1, 2)},
    "snap-54": snaplen(54),
    "snap-64": snaplen(64),
    "jitter": any_jitter(0.04, 7),
    "jitter-s2": any_jitter(0.08, 2),
    "rst-lost": resets_lost,
    "rst-lost-went-on": resets_lost_capture_went_on,
    "no-bare-acks": bare_acks_filtered,
    "flags-only": flags_only,
}


@dataclass(frozen=True, slots=True)
class Flag:
    sample: str
    variant: str
    kind: str
    conn: int | None
    detail: str

    def line(self) -> str:
        at = f" conn {self.conn}" if self.conn is not None else ""
        return f"{self.kind:18} {self.sample} [{self.variant}]{at}: {self.detail}"


def segments_of(analysis: Any) -> dict[int, Segment]:
    seg: pd.DataFrame = analysis.segments
    cols = zip(
        seg["frame"], seg["conn"], seg["from_client"], seg["flags"], seg["seg_len"], strict=True
    )
    return {int(f): Segment(int(c), bool(fc), int(fl), int(n)) for f, c, fc, fl, n in cols}


def verdict_flags(
    sample: str, variant: str, whole: dict[int, dict[str, Any]], doc: dict[str, Any], kept: Pcap
) -> Iterator[Flag]:
    """Each connection of the variant ``doc`` against the whole capture's (``whole``, by id);
    the variant's frame n is ``kept.records[n - 1]``."""
    segs = doc["connections"]
    for c in segs:
        original = kept.records[c["first_frame"] - 1].frame
        full = whole.get(original)
        if full is None:
            continue
        fate_differs = c["fate"] != full["fate"]
        cause_differs = c["cause"] is not None and c["cause"] != full["cause"]
        if not (fate_differs or cause_differs):
            continue
        said = f"{full['fate']}/{full['cause']} -> {c['fate']}/{c['cause']} {c['confidence']}"
        said += f" {c['caveats']}"
        if c["confidence"] == "proven":
            why = ended_first(variant, c, full, kept)
            kind = "proven-contradicts" if why is None else "read-correctly"
            yield Flag(sample, variant, kind, c["id"], said + (f" ({why})" if why else ""))
        elif c["confidence"] == "likely" and not MISSING_CAVEATS & set(c["caveats"]):
            yield Flag(sample, variant, "likely-uncaveated", c["id"], said)


def ended_first(variant: str, conn: dict[str, Any], full: dict[str, Any], kept: Pcap) -> str | None:
    """Why a proven verdict that differs is what the variant shows, when a rule says so:
    ``open`` / ``half_closed`` where the capture stopped before the frames the whole
    capture's verdict rests on (``open`` means "no end by the capture's end"). None: triage
    by hand."""
    if conn["fate"] not in ("open", "half_closed"):
        return None
    last = max(r.frame for r in kept.records)
    if any(f > last for f in full["evidence_frames"]):
        return "the capture stopped before what ended it"
    return None


def whole_by_first_frame(analysis: Any, segs: dict[int, Segment]) -> dict[int, dict[str, Any]]:
    """The whole capture's connections, by every frame they hold (a variant's connection
    begins at any of them)."""
    by_id = {c["id"]: c for c in analysis.to_dict()["connections"]}
    return {f: by_id[s.conn] for f, s in segs.items() if s.conn in by_id}


def sweep_one(path: Path, out: Path, jobs_check: bool, renders: bool) -> Iterator[Flag]:
    import pcapline

    pcap = read_pcap(path)
    whole = pcapline.analyze(path)
    segs = segments_of(whole)
    by_frame = whole_by_first_frame(whole, segs)
    for name, damage in VARIANTS.items():
        damaged = damage(pcap, segs)
        if not damaged.records:
            continue
        file = out / f"{path.stem}.{name}.pcap"
        write_pcap(damaged, file)
        try:
            a = pcapline.analyze(file)
            text = a.to_json()
            doc = json.loads(text)
            if renders:
                shown = pcapline.analyze(file, keep_facts=False)
                shown.to_html()
                for conn in doc["connections"][:3]:
                    _timeline(file, conn["id"])
        except Exception:
            yield Flag(path.stem, name, "crash", None, traceback.format_exc(limit=-3))
            continue
        yield from verdict_flags(path.stem, name, by_frame, doc, damaged)
        if jobs_check:
            try:
                two = pcapline.analyze(file, jobs=2, partitions=3).to_json()
            except Exception:
                yield Flag(path.stem, name, "crash", None, "jobs 2: " + traceback.format_exc(-3))
                continue
            if two != text:
                yield Flag(path.stem, name, "jobs-differ", None, _first_difference(text, two))


def _timeline(file: Path, conn: int) -> None:
    """``pcapline timeline FILE N`` in-process (the CLI keeps no facts): exit 0 or a flag."""
    import contextlib
    import io

    from pcapline.cli import run

    said = io.StringIO()
    with contextlib.redirect_stderr(said), contextlib.redirect_stdout(io.StringIO()):
        status = run(["timeline", str(file), str(conn)])
    if status != 0:
        raise RuntimeError(f"timeline {conn}: exit {status}: {said.getvalue()[-300:]}")


def _first_difference(a: str, b: str) -> str:
    for i, (x, y) in enumerate(zip(a.splitlines(), b.splitlines(), strict=False)):
        if x != y:
            return f"line {i}: {x.strip()[:80]} | {y.strip()[:80]}"
    return "lengths differ"


def samples(root: Path, only: Sequence[str]) -> list[Path]:
    """The real-kernel samples: classic pcap files with expectations beside them."""
    found = sorted(
        p
        for p in [*root.glob("*.pcap"), *root.glob("*.pcapng")]
        if p.with_suffix(".expected.json").exists()
    )
    return [p for p in found if not only or any(o in p.stem for o in only)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=Path, default=ROOT / "sample_captures")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--only", action="append", default=[])
    parser.add_argument("--jobs-every", type=int, default=6, help="jobs-2 check on every Nth")
    parser.add_argument("--shard", default="0/1", help="K/N: every Nth capture from the Kth")
    parser.add_argument("--renders", action="store_true", help="also HTML report and timeline")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    kinds: Counter[str] = Counter()
    k, n_shards = (int(x) for x in args.shard.split("/"))
    paths = samples(args.samples, args.only)[k::n_shards]
    for n, path in enumerate(paths):
        try:
            read_pcap(path)
        except ValueError as exc:
            print(f"skipped: {exc}")
            continue
        for flag in sweep_one(path, args.out, n % args.jobs_every == 0, args.renders):
            kinds[flag.kind] += 1
            print(flag.line(), flush=True)
    print(f"{len(paths)} captures x {len(VARIANTS)} variants; flags: {dict(kinds)}")
    return 1 if kinds else 0


if __name__ == "__main__":
    sys.exit(main())
