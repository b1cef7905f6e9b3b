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

from tools.samplegen.expected import Expected  # noqa: E402
from tools.samplegen.index import write_index  # noqa: E402
from tools.samplegen.netns import Lab  # noqa: E402
from tools.samplegen.registry import SCENARIOS  # noqa: E402
from tools.samplegen.scenario import Ctx, Scenario  # noqa: E402

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
    failed: list[str] = []
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {pool.submit(run_one, sc, args.out): sc for sc in chosen}
        for fut in as_completed(futures):
            sc = futures[fut]
            try:
                name, exps, logs, took = fut.result()
            except Exception:  # noqa: BLE001 - report every scenario, keep the others running
                failed.append(sc.name)
                print(f"FAIL {sc.name}\n{traceback.format_exc()}", file=sys.stderr)
                continue
            for line in logs:
                print(line)
            print(f"ok   {name:45s} {took:5.1f}s  " + ", ".join(e.capture for e in exps))
    write_index(args.out)
    print(f"done in {time.monotonic() - started:.1f}s; failed: {failed or 'none'}")
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
