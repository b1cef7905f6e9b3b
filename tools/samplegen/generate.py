"""Runs scenarios (in parallel: they are mostly waiting for kernel timers) and writes the index.

Usable as ``python -m tools.samplegen`` or ``python tools/samplegen/generate.py``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``tools.samplegen`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import shutil

from tools.samplegen.expected import Expected, stem_of
from tools.samplegen.index import write_index
from tools.samplegen.netns import Lab
from tools.samplegen.registry import SCENARIOS
from tools.samplegen.sanity import check_file
from tools.samplegen.scenario import Ctx, Scenario

REPO = Path(__file__).resolve().parents[2]


def run_one(sc: Scenario, out: Path) -> tuple[str, list[Expected], list[str], float]:
    ctx = Ctx(out, sc.name)
    started = time.monotonic()
    try:
        expectations = sc.build(ctx, sc.net)
        for exp in expectations:
            exp.write(out)
        return sc.name, expectations, ctx.log_lines, time.monotonic() - started
    finally:
        ctx.cleanup()
        Lab(sc.name).__exit__(None, None, None)  # namespaces, even if build() died half-way


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m tools.samplegen", description=__doc__)
    ap.add_argument("--only", nargs="*", default=None, help="scenario names (default: all)")
    ap.add_argument("--jobs", type=int, default=6, help="scenarios run at once (default 6)")
    ap.add_argument("--out", type=Path, default=REPO / "sample_captures")
    ap.add_argument("--list", action="store_true", help="list scenario names and exit")
    ap.add_argument(
        "--no-sanity", action="store_true", help="skip the tshark read-back of each capture"
    )
    ap.add_argument(
        "--retries", type=int, default=1, help="re-runs of failed/suspicious scenarios (default 1)"
    )
    args = ap.parse_args(argv)
    if args.list:
        for sc in SCENARIOS:
            print(f"{sc.name:45s} ~{sc.seconds:.0f}s")
        return
    if os.geteuid() != 0:
        sys.exit("samplegen: needs root (network namespaces, nftables, tcpdump)")
    chosen = [sc for sc in SCENARIOS if args.only is None or sc.name in args.only]
    unknown = set(args.only or []) - {sc.name for sc in SCENARIOS}
    if unknown:
        sys.exit(f"samplegen: unknown scenario(s): {', '.join(sorted(unknown))}")
    args.out.mkdir(parents=True, exist_ok=True)
    chosen.sort(key=lambda sc: -sc.seconds)  # long timers first, short ones fill in
    started = time.monotonic()
    failed, suspicious = run_batch(chosen, args.out, args.jobs, not args.no_sanity)
    for attempt in range(args.retries):
        again = [sc for sc in chosen if sc.name in failed or sc.name in suspicious]
        if not again:
            break
        print(f"retry {attempt + 1}: {', '.join(sc.name for sc in again)}")
        failed, suspicious = run_batch(again, args.out, args.jobs, not args.no_sanity)
    write_index(args.out)
    print(
        f"done in {time.monotonic() - started:.1f}s; failed: {sorted(failed) or 'none'}; "
        f"capture differs from the scenario's intent: {sorted(suspicious) or 'none'}"
    )
    if failed or suspicious:
        sys.exit(1)


def run_batch(
    chosen: list[Scenario], out: Path, jobs: int, sanity: bool
) -> tuple[set[str], set[str]]:
    """Run scenarios in parallel; returns (failed, suspicious) scenario names.

    Suspicious = the sanity check (tshark read-back) found the capture does not show what the
    scenario built, e.g. a timer raced a slow nft call on a loaded machine: worth a re-run.
    """
    failed: set[str] = set()
    suspicious: set[str] = set()
    sanity = sanity and shutil.which("tshark") is not None
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(run_one, sc, out): sc for sc in chosen}
        for fut in as_completed(futures):
            sc = futures[fut]
            try:
                name, exps, logs, took = fut.result()
            except Exception:
                failed.add(sc.name)
                print(f"FAIL {sc.name}\n{traceback.format_exc()}", file=sys.stderr)
                continue
            for line in logs:
                print(line)
            print(f"ok   {name:45s} {took:5.1f}s  " + ", ".join(e.capture for e in exps))
            if sanity:
                for exp in exps:
                    for problem in check_file(out / f"{stem_of(exp.capture)}.expected.json"):
                        suspicious.add(sc.name)
                        print(f"  SANITY {exp.capture}: {problem}")
    return failed, suspicious


if __name__ == "__main__":
    main()
