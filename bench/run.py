#!/usr/bin/env python3
"""Time pcapline against tshark, tcptrace and bare dpkt loops on one capture, in the same run.

Each tool runs ``--runs`` times (default 3) as a fresh subprocess, round-robin (one pass of
every tool, then the next pass) so a noisy neighbour on the shared machine hurts all tools
alike. Wall time comes from ``time.perf_counter`` around the child; CPU time and peak RSS from
``/usr/bin/time -v`` (user + sys; "Maximum resident set size": the largest single process,
which is what GNU time reports, and the whole tree for the single-process tools).

pcapline forks workers (``--jobs``, the bounded path), so its memory is also measured as the
peak of the summed memory of the whole process tree: PSS on Linux (``smaps_rollup``: pages a
forked worker shares with its parent counted once), sampled every 100 ms (misses spikes shorter
than a sample). Sampling is not free: reading ``smaps_rollup`` walks every page table of a
process of a gigabyte, about 2.4 CPU s over one 6 s analysis of the bench capture on the
2-core bench box, and it contends with the measured process for the same cores. So the timed
runs are never sampled; after them each pcapline command runs ``--memory-runs`` more times
(default 1) with the sampler, for the "tree MB" column and the memory assertion only.
The table shows medians, packets/s and each tool's time and memory as a multiple of
pcapline's.

pcapline runs twice per pass: ``--jobs 1`` (one process) and ``--jobs 2`` (both cores of
the bench machine). After the table, the issue 11 targets are printed as measured against
the same run: pcapline's CPU seconds against tcptrace's, packets/s with both cores against
1 M/s, the speed-up over ``tshark -2``, and with ``--max-rss-mb`` the peak memory of
pcapline on this capture, ``analyze`` and (with ``--report``) ``report`` (the script exits 1
when one is above: the large-capture assertion),
with ``--rate-of-3m`` the throughput against the 3 M capture's figure (within 20 %).

Usage::

    python bench/run.py /tmp/pcapline-bench/bench.pcap [--runs 3] [--json results.json]
    python bench/run.py /tmp/pcapline-bench/big.pcap --runs 3 --max-rss-mb 1500 \
        --rate-of-3m 160000 --memory-limit-mb 12000 --timeout 1800
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

try:
    import psutil  # type: ignore[import-untyped]
except ImportError:  # the tree sampler is optional; /usr/bin/time -v is enough for the table
    psutil = None

GNU_TIME = "/usr/bin/time"
#: What pcapline's JSON run is measured with: one process, and every core of the bench box.
PCAPLINE_JOBS = (1, 2)
REPO = Path(__file__).resolve().parent.parent

# A bare dpkt loop: object decode of Ethernet/IPv4/TCP, touching the fields a TCP analyser
# needs. Segment length from the IP total length, not len(tcp.data): under snaplen truncation
# dpkt keeps only the captured bytes (anchors.md, dpkt pitfalls).
DPKT_LOOP = r"""
import sys, dpkt
n = 0
flows = set()
with open(sys.argv[1], "rb") as f:
    for ts, buf in dpkt.pcap.Reader(f):
        n += 1
        eth = dpkt.ethernet.Ethernet(buf)
        ip = eth.data
        if not isinstance(ip, dpkt.ip.IP):
            continue
        tcp = ip.data
        if not isinstance(tcp, dpkt.tcp.TCP):
            continue
        seglen = ip.len - ip.hl * 4 - tcp.off * 4
        fields = (ts, tcp.seq, tcp.ack, tcp.flags, tcp.win, seglen, tcp.opts)
        a, b = (ip.src, tcp.sport), (ip.dst, tcp.dport)
        flows.add((a, b) if a < b else (b, a))
print(n, len(flows))
"""

# Hand-unpacked baseline: dpkt's pcap reader for records, struct.unpack_from for the headers.
STRUCT_LOOP = r"""
import sys, struct, dpkt
n = 0
flows = set()
ip_hdr = struct.Struct("!BxHxxxxxBxx4s4s")
tcp_hdr = struct.Struct("!HHIIBBH")
with open(sys.argv[1], "rb") as f:
    for ts, buf in dpkt.pcap.Reader(f):
        n += 1
        if buf[12:14] != b"\x08\x00":
            continue
        vihl, total, proto, src, dst = ip_hdr.unpack_from(buf, 14)
        if proto != 6:
            continue
        ihl = (vihl & 0x0F) * 4
        sport, dport, seq, ack, off, flags, win = tcp_hdr.unpack_from(buf, 14 + ihl)
        seglen = total - ihl - (off >> 4) * 4
        a, b = (src, sport), (dst, dport)
        flows.add((a, b) if a < b else (b, a))
print(n, len(flows))
"""


@dataclass(frozen=True)
class Tool:
    name: str
    argv: list[str]
    # Reads the tool's stdout (or output file) after the run: connections it reported.
    count_connections: str
    #: Runs worker processes: its tree's memory is measured in extra, sampled runs.
    forks: bool = False


@dataclass
class Sample:
    seconds: float
    cpu_seconds: float | None
    max_rss_mb: float | None
    tree_peak_mb: float | None
    exit_code: int


@dataclass
class ToolResult:
    name: str
    command: str
    samples: list[Sample] = field(default_factory=list)
    connections: int | None = None
    error: str | None = None
    failed_peak_mb: float | None = None  # the peak memory of a failed run, when measured
    #: The memory runs (``Tool.forks``): sampled, never part of the timing medians.
    memory_samples: list[Sample] = field(default_factory=list)

    def failed(self, sample: Sample, stderr: str, what: str) -> bool:
        """Record a run that did not exit 0 (the tool is not run again); False if it did."""
        if sample.exit_code == 0:
            return False
        last = stderr.strip().splitlines()[-1] if stderr.strip() else ""
        self.error = f"{what} {sample.exit_code}: {last}"
        self.failed_peak_mb = sample.tree_peak_mb or sample.max_rss_mb
        return True

    def tree_peak_mb(self) -> float | None:
        """The process tree's peak (PSS) over the memory runs; a single-process tool's
        peak RSS otherwise."""
        peaks = [s.tree_peak_mb for s in self.memory_samples if s.tree_peak_mb is not None]
        return max(peaks) if peaks else None

    def median(self, attr: str) -> float | None:
        values = [getattr(s, attr) for s in self.samples if getattr(s, attr) is not None]
        return statistics.median(values) if values else None


def pcapline_argv() -> list[str] | None:
    """`python -m pcapline` from the interpreter running this script, if pcapline imports."""
    probe = subprocess.run(
        [sys.executable, "-c", "import pcapline.cli"],
        capture_output=True,
        cwd=REPO,
        env=child_env(),
    )
    return [sys.executable, "-m", "pcapline"] if probe.returncode == 0 else None


def child_env() -> dict[str, str]:
    """The environment of every child: this checkout's pcapline first on the path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO / "src"), env.get("PYTHONPATH", "")) if p
    )
    return env


def build_tools(
    capture: Path,
    outdir: Path,
    only: set[str] | None,
    *,
    report: bool = False,
    scan: bool = False,
) -> tuple[list[Tool], list[str]]:
    tools: list[Tool] = []
    notes: list[str] = []
    pl = pcapline_argv()
    if pl and scan:
        # `scan` of this one capture (one capture: analysed in the scan's own process, as a
        # worker would): a capture over 512 MiB takes the bounded-memory path there, one
        # partition at a time.
        argv = [*pl, "scan", str(capture), "--format", "json", "-o", str(outdir / "scan.json")]
        tools.append(Tool("pcapline scan", [*argv, "--quiet"], "none", True))
    if pl and report:
        # The HTML report a user attaches to a ticket (a capture over 512 MiB: on the
        # bounded-memory path, its sections' connections analysed again from disk).
        most = str(max(PCAPLINE_JOBS))
        argv = [*pl, "report", str(capture), "-o", str(outdir / "report.html")]
        tools.append(
            Tool(f"pcapline report --jobs {most}", [*argv, "--jobs", most, "--quiet"], "none", True)
        )
    if pl:
        for jobs in PCAPLINE_JOBS:
            tools.append(
                Tool(
                    f"pcapline --jobs {jobs}",
                    [
                        *pl,
                        "analyze",
                        str(capture),
                        "--format",
                        "json",
                        "-o",
                        str(outdir / "pcapline.json"),
                        "--jobs",
                        str(jobs),
                        "--quiet",
                    ],
                    "pcapline_json",
                    forks=True,
                )
            )
    else:
        notes.append("pcapline: skipped (python -m pcapline does not import)")
    if shutil.which("tshark"):
        tools.append(
            Tool(
                "tshark -2 conv,tcp",
                ["tshark", "-2", "-q", "-z", "conv,tcp", "-r", str(capture)],
                "tshark_conv",
            )
        )
    else:
        notes.append("tshark: skipped (not installed)")
    if shutil.which("tcptrace"):
        tools.append(Tool("tcptrace -l -n", ["tcptrace", "-l", "-n", str(capture)], "tcptrace"))
    else:
        notes.append("tcptrace: skipped (not installed)")
    if subprocess.run([sys.executable, "-c", "import dpkt"], capture_output=True).returncode == 0:
        tools.append(
            Tool("dpkt object loop", [sys.executable, "-c", DPKT_LOOP, str(capture)], "loop")
        )
        tools.append(
            Tool("dpkt+struct loop", [sys.executable, "-c", STRUCT_LOOP, str(capture)], "loop")
        )
    else:
        notes.append("dpkt loops: skipped (dpkt not importable)")
    if only:
        tools = [t for t in tools if any(t.name.startswith(o) for o in only)]
    return tools, notes


def count_packets(capture: Path) -> int:
    """Count once: the sidecar written by make_capture.py, else capinfos, else a dpkt pass."""
    sidecar = capture.with_name(capture.name + ".json")
    if sidecar.exists():
        meta = json.loads(sidecar.read_text())
        if meta.get("bytes") == capture.stat().st_size:
            return int(meta["tcpdump"]["captured"])
    if shutil.which("capinfos"):
        out = subprocess.run(
            ["capinfos", "-c", "-M", str(capture)], capture_output=True, text=True
        ).stdout
        match = re.search(r"Number of packets:\s+(\d+)", out)
        if match:
            return int(match.group(1))
    import dpkt  # last resort

    with capture.open("rb") as f:
        return sum(1 for _ in dpkt.pcap.UniversalReader(f))


def count_connections(kind: str, stdout: str, outdir: Path) -> int | None:
    """What each tool says it found, as a sanity check that all did the same job."""
    if kind == "pcapline_json":
        doc = json.loads((outdir / "pcapline.json").read_text())
        conns = doc.get("connections")
        return len(conns) if isinstance(conns, list) else None
    if kind == "tshark_conv":
        return sum(1 for line in stdout.splitlines() if "<->" in line)
    if kind == "tcptrace":
        match = re.search(r"(\d+) TCP connections traced", stdout)
        return int(match.group(1)) if match else None
    if kind == "loop":
        parts = stdout.split()
        return int(parts[1]) if len(parts) == 2 else None
    return None


class TreeSampler(threading.Thread):
    """Peak of the summed memory of a process and all its descendants, sampled every 100 ms.

    Summed RSS counts twice the pages a forked worker shares with its parent (copy-on-write),
    so on Linux the sum is of PSS (``/proc/PID/smaps_rollup``: each shared page divided among
    the processes mapping it), the memory the tree really occupies; RSS elsewhere."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0
        self.done = threading.Event()

    def run(self) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        while not self.done.is_set():
            total = 0
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.Error:
                break
            for proc in procs:
                with contextlib.suppress(psutil.Error, OSError):
                    total += _pss(proc.pid) or proc.memory_info().rss
            self.peak = max(self.peak, total)
            self.done.wait(0.1)


def _pss(pid: int) -> int | None:
    """Proportional set size in bytes (Linux), None where the kernel does not say."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def run_once(
    tool: Tool,
    outdir: Path,
    *,
    memory_limit_mb: int | None = None,
    timeout: float | None = None,
    sample_tree: bool = False,
) -> tuple[Sample, str, str]:
    use_time = os.access(GNU_TIME, os.X_OK)
    time_file = outdir / "time.txt"
    argv = [GNU_TIME, "-v", "-o", str(time_file), *tool.argv] if use_time else tool.argv

    def limit() -> None:  # in the child: address space cap, so a tool fails instead of the box
        if memory_limit_mb:
            import resource

            cap = memory_limit_mb * 2**20
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    start = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=child_env(),
        preexec_fn=limit if memory_limit_mb else None,
    )
    sampler = TreeSampler(proc.pid) if psutil and sample_tree else None
    if sampler:
        sampler.start()
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()  # our own child, by its handle
        stdout, stderr = proc.communicate()
        stderr += f"\ntimed out after {timeout:.0f} s"
    seconds = time.perf_counter() - start
    if sampler:
        sampler.done.set()
        sampler.join()
    max_rss = cpu = None
    if use_time and time_file.exists():
        report = time_file.read_text()
        match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", report)
        max_rss = int(match.group(1)) / 1024 if match else None
        user = re.search(r"User time \(seconds\): ([\d.]+)", report)
        system = re.search(r"System time \(seconds\): ([\d.]+)", report)
        cpu = float(user.group(1)) + float(system.group(1)) if user and system else None
    tree = sampler.peak / 2**20 if sampler and sampler.peak else None
    return Sample(seconds, cpu, max_rss, tree, proc.returncode), stdout, stderr


def _rate(packets: int, seconds: float | None) -> float | None:
    return packets / seconds if seconds else None


def fmt(value: float | None, spec: str) -> str:
    digits = re.match(r"\d*", spec)  # always matches (maybe nothing)
    width = int(digits.group() or 0) if digits else 0
    return "-".rjust(width) if value is None else format(value, spec)


def render_table(results: list[ToolResult], packets: int, reference: str) -> str:
    usable = [r for r in results if r.samples and not r.error]
    ref = next((r for r in usable if r.name == reference), usable[0] if usable else None)
    reference = ref.name if ref else reference
    ref_time = ref.median("seconds") if ref else None
    ref_rss = ref.median("max_rss_mb") if ref else None
    ref_cpu = ref.median("cpu_seconds") if ref else None
    head = (
        f"{'tool':<20} {'median s':>9} {'min s':>7} {'max s':>7} {'pkt/s':>10} {'CPU s':>8} {'pkt/CPU-s':>10} "
        f"{'peak RSS MB':>11} {'tree MB':>8} {'time x':>7} {'CPU x':>6} {'RSS x':>6} {'conns':>7}"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        if r.error:
            peak = f" (peak {r.failed_peak_mb:,.0f} MB)" if r.failed_peak_mb else ""
            lines.append(f"{r.name:<20} FAILED{peak}: {r.error}")
            continue
        secs = [s.seconds for s in r.samples]
        med = r.median("seconds")
        rss = r.median("max_rss_mb")
        rate = packets / med if med else None
        cpu = r.median("cpu_seconds")
        cpu_rate = packets / cpu if cpu else None
        cx = cpu / ref_cpu if cpu and ref_cpu else None
        tx = med / ref_time if med and ref_time else None
        rx = rss / ref_rss if rss and ref_rss else None
        lines.append(
            f"{r.name:<20} {fmt(med, '9.2f')} {min(secs):7.2f} {max(secs):7.2f} {fmt(rate, '10,.0f')} "
            f"{fmt(cpu, '8.2f')} {fmt(cpu_rate, '10,.0f')} "
            f"{fmt(rss, '11.0f')} {fmt(r.tree_peak_mb(), '8.0f')} {fmt(tx, '7.2f')} {fmt(cx, '6.2f')} "
            f"{fmt(rx, '6.2f')} "
            f"{r.connections if r.connections is not None else '-':>7}"
        )
    lines.append(
        f"time x / CPU x / RSS x: median wall time / user+sys CPU time / peak RSS as a multiple of {reference}'s "
        f"(<1 = faster/smaller than {reference}). conns: connections the tool reported "
        "(the two loops count distinct 4-tuples, so a reused 4-tuple counts once)."
    )
    return "\n".join(lines)


def git_commit() -> str | None:
    """The pcapline commit measured (each run imports the working tree as it is at that moment)."""
    done = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    return done.stdout.strip() or None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("capture", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--only", help="comma-separated tool names (pcapline,tshark,tcptrace,dpkt)")
    parser.add_argument(
        "--reference", default="pcapline --jobs 1", help="tool the ratios are relative to"
    )
    parser.add_argument(
        "--max-rss-mb",
        type=float,
        help="assert pcapline's peak memory (process tree) on this capture: exit 1 above it",
    )
    parser.add_argument(
        "--rate-of-3m", type=float, help="pcapline's packets/s on the 3 M capture (both cores)"
    )
    parser.add_argument(
        "--memory-limit-mb", type=int, help="address-space cap for every tool (RLIMIT_AS)"
    )
    parser.add_argument("--timeout", type=float, help="seconds before a run is killed")
    parser.add_argument(
        "--report",
        action="store_true",
        help="also time `pcapline report` (the HTML page) and sample its tree's peak memory",
    )
    parser.add_argument(
        "--scan",
        action="store_true",
        help="also time `pcapline scan` of the capture and sample its tree's peak memory",
    )
    parser.add_argument(
        "--memory-runs",
        type=int,
        default=1,
        help="sampled runs of each pcapline command for its process tree's peak memory, "
        "after the timed runs (0: none; the timed runs are never sampled)",
    )
    args = parser.parse_args()
    if not args.capture.is_file():
        print(
            f"run.py: {args.capture}: no such capture (build one with bench/make_capture.py)",
            file=sys.stderr,
        )
        sys.exit(2)

    packets = count_packets(args.capture)
    commit = git_commit()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="pcapline-bench-") as tmp:
        outdir = Path(tmp)
        tools, notes = build_tools(
            args.capture,
            outdir,
            set(args.only.split(",")) if args.only else None,
            report=args.report,
            scan=args.scan,
        )
        results = {
            t.name: ToolResult(t.name, " ".join(t.argv) if "-c" not in t.argv else t.name)
            for t in tools
        }
        for run_no in range(args.runs):
            for tool in tools:
                res = results[tool.name]
                if res.error:
                    continue
                sample, stdout, stderr = run_once(
                    tool, outdir, memory_limit_mb=args.memory_limit_mb, timeout=args.timeout
                )
                print(
                    f"run {run_no + 1}/{args.runs} {tool.name:<20} {sample.seconds:8.2f} s "
                    f"cpu {fmt(sample.cpu_seconds, '.1f')} s rss {fmt(sample.max_rss_mb, '.0f')} MB "
                    f"tree {fmt(sample.tree_peak_mb, '.0f')} MB exit {sample.exit_code}",
                    file=sys.stderr,
                )
                if res.failed(sample, stderr, "exit"):
                    continue
                res.samples.append(sample)
                if res.connections is None:
                    res.connections = count_connections(tool.count_connections, stdout, outdir)
        for run_no in range(args.memory_runs):
            for tool in tools:
                res = results[tool.name]
                if res.error or not tool.forks:
                    continue
                sample, _, stderr = run_once(
                    tool,
                    outdir,
                    memory_limit_mb=args.memory_limit_mb,
                    timeout=args.timeout,
                    sample_tree=True,
                )
                print(
                    f"memory run {run_no + 1}/{args.memory_runs} {tool.name:<20} "
                    f"{sample.seconds:8.2f} s tree {fmt(sample.tree_peak_mb, '.0f')} MB "
                    f"exit {sample.exit_code}",
                    file=sys.stderr,
                )
                if not res.failed(sample, stderr, "memory run exit"):
                    res.memory_samples.append(sample)

    reference = args.reference if args.reference in results else next(iter(results), args.reference)
    ordered = list(results.values())
    print(
        f"capture: {args.capture} ({args.capture.stat().st_size / 1e6:.0f} MB, {packets:,} packets), "
        f"{args.runs} runs each, {os.cpu_count()} CPUs, Python {platform.python_version()}, pcapline {commit}, "
        f"load average {load_before[0]:.1f} before / {os.getloadavg()[0]:.1f} after"
    )
    print(render_table(ordered, packets, reference), flush=True)
    for note in notes:
        print(f"note: {note}")
    lines, met = targets(results, packets, args.max_rss_mb, args.rate_of_3m)
    print("\n".join(lines), flush=True)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "date": datetime.now(UTC).isoformat(timespec="seconds"),
                    "capture": str(args.capture),
                    "capture_bytes": args.capture.stat().st_size,
                    "packets": packets,
                    "runs": args.runs,
                    "pcapline_commit": commit,
                    "load_average_before_after": [load_before[0], os.getloadavg()[0]],
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "reference": reference,
                    "notes": notes,
                    "results": [
                        {
                            **asdict(r),
                            "median_seconds": r.median("seconds"),
                            "median_max_rss_mb": r.median("max_rss_mb"),
                            "median_cpu_seconds": r.median("cpu_seconds"),
                            "tree_peak_mb": r.tree_peak_mb(),
                            "packets_per_second": _rate(packets, r.median("seconds")),
                        }
                        for r in ordered
                    ],
                },
                indent=2,
            )
        )
    if not met:
        print("run.py: peak memory above --max-rss-mb", file=sys.stderr)
        sys.exit(1)


def targets(
    results: dict[str, ToolResult],
    packets: int,
    max_rss_mb: float | None,
    rate_of_3m: float | None,
) -> tuple[list[str], bool]:
    """The issue 11 targets, measured in this run; the bool is False when the memory
    assertion (``--max-rss-mb``) failed."""
    both = results.get(f"pcapline --jobs {max(PCAPLINE_JOBS)}")
    one = results.get(f"pcapline --jobs {min(PCAPLINE_JOBS)}")
    report = results.get(f"pcapline report --jobs {max(PCAPLINE_JOBS)}")  # with --report
    scan = results.get("pcapline scan")  # with --scan
    tcptrace = results.get("tcptrace -l -n")
    tshark = results.get("tshark -2 conv,tcp")
    lines = ["targets (this run, medians):"]

    def row(what: str, value: str, ok: bool | None) -> None:
        mark = "-" if ok is None else ("met" if ok else "NOT met")
        lines.append(f"  {what:<52} {value:<34} {mark}")

    def med(r: ToolResult | None, attr: str) -> float | None:
        return r.median(attr) if r and r.samples and not r.error else None

    cpu = min((c for c in (med(one, "cpu_seconds"), med(both, "cpu_seconds")) if c), default=None)
    cpu_tt = med(tcptrace, "cpu_seconds")
    row(
        "CPU s <= tcptrace's",
        f"{fmt(cpu, '.1f')} vs {fmt(cpu_tt, '.1f')} ({fmt(cpu / cpu_tt if cpu and cpu_tt else None, '.1f')}x)",
        cpu <= cpu_tt if cpu and cpu_tt else None,
    )
    wall = med(both, "seconds")
    rate = packets / wall if wall else None
    row(
        "packets/s with both cores >= 1,000,000",
        f"{fmt(rate, ',.0f')}",
        rate >= 1e6 if rate else None,
    )
    wall_ts = med(tshark, "seconds")
    row(
        "at least 8x faster than tshark -2 -q -z conv,tcp",
        f"{fmt(wall_ts / wall if wall and wall_ts else None, '.1f')}x",
        wall_ts / wall >= 8 if wall and wall_ts else None,
    )
    met = True
    if max_rss_mb is not None:
        # analyze at every --jobs, and the report when it ran: each is a command a user runs
        # on the big capture, and each must stay within the bound
        asserted = [r for r in (one, both, report, scan) if r is not None]
        peaks = [
            p for r in asserted for p in (r.tree_peak_mb(), *(s.max_rss_mb for s in r.samples))
        ]
        failed = [r.failed_peak_mb for r in asserted if r.error]
        worst = max((p for p in peaks + failed if p), default=None)
        ok = worst is not None and worst <= max_rss_mb and not failed
        met = ok
        what = ", ".join(
            name
            for name, r in (("analyze", one or both), ("report", report), ("scan", scan))
            if r is not None
        )
        row(
            f"peak RSS <= {max_rss_mb:,.0f} MB (asserted: {what})",
            f"{fmt(worst, ',.0f')} MB",
            ok,
        )
    if rate_of_3m is not None:
        row(
            "throughput within 20 % of the 3 M capture's",
            f"{fmt(rate, ',.0f')} vs {rate_of_3m:,.0f}",
            rate >= 0.8 * rate_of_3m if rate else False,
        )
    return lines, met


if __name__ == "__main__":
    main()
