#!/usr/bin/env python3
"""Build a large benchmark capture from real kernel TCP traffic in network namespaces.

Needs root (ip netns, nftables, tc, tcpdump). Topology, all in namespaces prefixed ``plb-``::

    plb-cli 10.77.1.2-5 --veth-- plb-rtr (10.77.1.1 | 10.77.2.1) --veth-- plb-srv 10.77.2.2

The router forwards and spoils the path, because this kernel has no netem qdisc:

* loss: nftables ``numgen random mod 1000 < N drop`` in the forward hook (both directions);
* delay and a bottleneck: a tbf qdisc on the router's client-facing egress (server->client
  bulk data queues there, so everything sharing the link sees queueing delay);
* a blackholed port (SYN retransmissions, ``TCP_SYNCNT``), a refused port (RST/ACK), and a
  port whose server->client direction is cut after a few seconds (keepalive probes go
  unanswered until the kernel gives up with a RST).

The capture is taken with tcpdump on the router's client-facing interface (``-s 96``: 14 bytes
Ethernet + 20 IPv4 + up to 60 TCP with options, headers only), so client->server losses show
as a seen packet plus its retransmission and server->client losses as a gap. Offloads are
turned off on every veth so the wire carries MSS-sized segments, not 64 KB GSO blobs.

Traffic, from one asyncio client and one asyncio server (both under ``nice``):

* short connections (thousands): connect, 1-3 small request/response exchanges, then a close
  by the client, by the server, or an abort (SO_LINGER 0 -> RST) by either side;
* refused connections (closed port) and a few SYN-blackholed ones;
* bulk transfers of several MB, two at a time, through the tbf bottleneck;
* idle connections with and without keepalive (TCP_KEEPIDLE 5 s), and "dead peer"
  keepalive connections whose answers the router drops;
* zero-window stalls: a server with a tiny SO_RCVBUF that stops reading for a few seconds.

The run stops when tcpdump has written ``--packets-target`` packets (``tcpdump -c``) or after
``--seconds``, whichever comes first. A sidecar ``CAPTURE.json`` records the recipe, the
client's connection counts and tcpdump's drop counters. Namespaces are deleted in ``finally``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

PREFIX = "plb-"
NS_CLIENT, NS_ROUTER, NS_SERVER = "plb-cli", "plb-rtr", "plb-srv"
CLIENT_IPS = ["10.77.1.2", "10.77.1.3", "10.77.1.4", "10.77.1.5"]
SERVER_IP = "10.77.2.2"

# Server ports, one per behaviour (readable in the capture: the port says what the flow was).
PORT_RR = 8080  # request/response, short connections
PORT_BULK = 8081  # server sends N bytes
PORT_IDLE = 8082  # accept and hold
PORT_SINK = 8083  # tiny receive buffer, stops reading: zero-window persist probes
PORT_DEADPEER = 8084  # router drops server->client after a few seconds: keepalive gives up
PORT_BLACKHOLE = 8098  # router drops SYNs: SYN retransmissions then ETIMEDOUT
PORT_REFUSED = 8099  # nothing listens: RST/ACK

IP_BIND_ADDRESS_NO_PORT = 24  # linux/in.h: pick the ephemeral port at connect(), per 4-tuple
LINGER_ABORT = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST

DEFAULT_OUTPUT = Path("/tmp/pcapline-bench/bench.pcap")


@dataclass(frozen=True)
class Recipe:
    """Everything that shapes the generated traffic (written to the sidecar JSON)."""

    packets_target: int
    seconds: int
    loss_per_mille: int
    tbf_rate: str
    tbf_latency: str
    snaplen: int
    short_workers: int
    bulk_workers: int
    bulk_mb: tuple[int, int]
    idle_conns: int
    deadpeer_conns: int
    seed: int


def run(cmd: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=check, text=True, capture_output=True)


def in_ns(ns: str, cmd: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(["ip", "netns", "exec", ns, *cmd], check=check)


# ----------------------------------------------------------------------------------------------
# Topology
# ----------------------------------------------------------------------------------------------


def delete_namespaces() -> None:
    """Delete every namespace we own (prefix ``plb-``); their veths go with them."""
    listing = run(["ip", "netns", "list"], check=False).stdout
    for line in listing.splitlines():
        name = line.split()[0] if line.split() else ""
        if name.startswith(PREFIX):
            run(["ip", "netns", "del", name], check=False)


def disable_offloads(ns: str, dev: str) -> None:
    """MSS-sized segments on the wire: no TSO/GSO/GRO on the veths (ethtool, else gso_max_segs)."""
    if shutil.which("ethtool"):
        in_ns(ns, ["ethtool", "-K", dev, "tso", "off", "gso", "off", "gro", "off"], check=False)
    else:
        in_ns(ns, ["ip", "link", "set", "dev", dev, "gso_max_segs", "1"], check=False)


def build_topology(recipe: Recipe) -> None:
    for ns in (NS_CLIENT, NS_ROUTER, NS_SERVER):
        run(["ip", "netns", "add", ns])
        in_ns(ns, ["ip", "link", "set", "lo", "up"])
    run(
        [
            "ip",
            "link",
            "add",
            "plb-c0",
            "netns",
            NS_CLIENT,
            "type",
            "veth",
            "peer",
            "name",
            "plb-r0",
            "netns",
            NS_ROUTER,
        ]
    )
    run(
        [
            "ip",
            "link",
            "add",
            "plb-s0",
            "netns",
            NS_SERVER,
            "type",
            "veth",
            "peer",
            "name",
            "plb-r1",
            "netns",
            NS_ROUTER,
        ]
    )
    for _i, ip in enumerate(CLIENT_IPS):
        in_ns(NS_CLIENT, ["ip", "addr", "add", f"{ip}/24", "dev", "plb-c0"])
    in_ns(NS_ROUTER, ["ip", "addr", "add", "10.77.1.1/24", "dev", "plb-r0"])
    in_ns(NS_ROUTER, ["ip", "addr", "add", "10.77.2.1/24", "dev", "plb-r1"])
    in_ns(NS_SERVER, ["ip", "addr", "add", f"{SERVER_IP}/24", "dev", "plb-s0"])
    for ns, dev in (
        (NS_CLIENT, "plb-c0"),
        (NS_ROUTER, "plb-r0"),
        (NS_ROUTER, "plb-r1"),
        (NS_SERVER, "plb-s0"),
    ):
        disable_offloads(ns, dev)
        in_ns(ns, ["ip", "link", "set", dev, "up"])
    in_ns(NS_CLIENT, ["ip", "route", "add", "default", "via", "10.77.1.1"])
    in_ns(NS_SERVER, ["ip", "route", "add", "default", "via", "10.77.2.1"])
    in_ns(NS_ROUTER, ["sysctl", "-qw", "net.ipv4.ip_forward=1"])
    # Client: wide ephemeral range and TIME_WAIT reuse, or thousands of short connections
    # per minute exhaust the 4-tuples (net.ipv4.ip_local_port_range, tcp_tw_reuse).
    in_ns(NS_CLIENT, ["sysctl", "-qw", "net.ipv4.ip_local_port_range=1024 65000"])
    in_ns(NS_CLIENT, ["sysctl", "-qw", "net.ipv4.tcp_tw_reuse=1"])
    in_ns(NS_SERVER, ["sysctl", "-qw", "net.core.somaxconn=4096"])
    in_ns(NS_SERVER, ["sysctl", "-qw", "net.ipv4.tcp_max_syn_backlog=4096"])
    nft_rules = f"""
table inet plb {{
  chain spoil {{
    type filter hook forward priority 0; policy accept;
    tcp dport {PORT_BLACKHOLE} drop
    numgen random mod 1000 < {recipe.loss_per_mille} drop
  }}
}}
"""
    subprocess.run(
        ["ip", "netns", "exec", NS_ROUTER, "nft", "-f", "-"], input=nft_rules, text=True, check=True
    )
    # tbf: bottleneck + queueing delay on the path towards the client (where bulk data goes).
    in_ns(
        NS_ROUTER,
        [
            "tc",
            "qdisc",
            "add",
            "dev",
            "plb-r0",
            "root",
            "tbf",
            "rate",
            recipe.tbf_rate,
            "burst",
            "64kb",
            "latency",
            recipe.tbf_latency,
        ],
    )


def cut_deadpeer_replies() -> None:
    """From now on the router drops server->client on the dead-peer port (keepalive unanswered)."""
    in_ns(
        NS_ROUTER,
        [
            "nft",
            "insert",
            "rule",
            "inet",
            "plb",
            "spoil",
            "tcp",
            "sport",
            str(PORT_DEADPEER),
            "drop",
        ],
    )


# ----------------------------------------------------------------------------------------------
# Server (runs inside plb-srv)
# ----------------------------------------------------------------------------------------------


def listener(port: int, rcvbuf: int | None = None) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if rcvbuf is not None:
        # Set before listen(): accepted sockets inherit it, and the window in the SYN/ACK is
        # sized from it, so a sender fills it quickly and the kernel advertises window 0.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.bind((SERVER_IP, port))
    sock.listen(4096)
    sock.setblocking(False)
    return sock


async def read_line(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> bytes:
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = await loop.sock_recv(sock, 256)
        if not chunk:
            return b""
        buf += chunk
    return buf


async def drain_until_eof(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    while await loop.sock_recv(sock, 65536):
        pass


async def serve_rr(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    """Request lines ``<size> <mode>``; mode c: client closes, s: server closes, r: server RST."""
    try:
        while True:
            line = await read_line(loop, sock)
            if not line:
                break
            size_s, mode = line.split()
            await loop.sock_sendall(sock, b"x" * int(size_s))
            if mode == b"s":
                break
            if mode == b"r":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_ABORT)
                break
    except OSError:
        pass
    finally:
        sock.close()


async def serve_bulk(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    chunk = b"b" * 262144
    try:
        line = await read_line(loop, sock)
        remaining = int(line) if line else 0
        while remaining > 0:
            piece = chunk[: min(remaining, len(chunk))]
            await loop.sock_sendall(sock, piece)
            remaining -= len(piece)
    except OSError:
        pass
    finally:
        sock.close()


async def serve_idle(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    try:
        await drain_until_eof(loop, sock)
    except OSError:
        pass
    finally:
        sock.close()


async def serve_sink(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    """Stop reading long enough for the window to hit zero, then drain and close."""
    try:
        await asyncio.sleep(random.uniform(4.0, 8.0))
        await drain_until_eof(loop, sock)
    except OSError:
        pass
    finally:
        sock.close()


async def accept_loop(loop: asyncio.AbstractEventLoop, lsock: socket.socket, handler) -> None:  # type: ignore[no-untyped-def]
    while True:
        conn, _ = await loop.sock_accept(lsock)
        conn.setblocking(False)
        loop.create_task(handler(loop, conn))


async def server_main() -> None:
    loop = asyncio.get_running_loop()
    tasks = [
        accept_loop(loop, listener(PORT_RR), serve_rr),
        accept_loop(loop, listener(PORT_BULK), serve_bulk),
        accept_loop(loop, listener(PORT_IDLE), serve_idle),
        accept_loop(loop, listener(PORT_SINK, rcvbuf=4096), serve_sink),
        accept_loop(loop, listener(PORT_DEADPEER), serve_idle),
    ]
    await asyncio.gather(*tasks)


# ----------------------------------------------------------------------------------------------
# Client (runs inside plb-cli)
# ----------------------------------------------------------------------------------------------


@dataclass
class ClientStats:
    started: Counter[str] = field(default_factory=Counter)
    outcome: Counter[str] = field(default_factory=Counter)
    bulk_bytes: int = 0


# How the client names a failed attempt in its counters ("rr_refused", "bulk_reset", ...).
ERROR_NAMES: dict[type[OSError], str] = {
    ConnectionRefusedError: "refused",
    ConnectionResetError: "reset",
    TimeoutError: "timeout",
}


@contextlib.contextmanager
def attempt(stats: ClientStats, kind: str, sock: socket.socket):  # type: ignore[no-untyped-def]
    """Count one connection of ``kind``; a socket error ends it as ``<kind>_<error>``; always close."""
    stats.started[kind] += 1
    try:
        yield
    except OSError as exc:
        stats.outcome[f"{kind}_{ERROR_NAMES.get(type(exc), type(exc).__name__)}"] += 1
    finally:
        sock.close()


def client_socket(src_ip: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
    sock.bind((src_ip, 0))
    sock.setblocking(False)
    return sock


def set_keepalive(sock: socket.socket, idle: int, intvl: int, cnt: int) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, idle)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, intvl)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, cnt)


async def recv_exact(loop: asyncio.AbstractEventLoop, sock: socket.socket, size: int) -> int:
    got = 0
    while got < size:
        chunk = await loop.sock_recv(sock, min(65536, size - got))
        if not chunk:
            break
        got += len(chunk)
    return got


async def one_short(
    loop: asyncio.AbstractEventLoop, rng: random.Random, stats: ClientStats
) -> None:
    roll = rng.random()
    src = rng.choice(CLIENT_IPS)
    sock = client_socket(src)
    if roll < 0.01:
        kind, port = "refused", PORT_REFUSED
    elif roll < 0.0015 + 0.01:
        kind, port = "blackhole", PORT_BLACKHOLE
        sock.setsockopt(
            socket.IPPROTO_TCP, socket.TCP_SYNCNT, 2
        )  # SYNs at 0, 1 s, 3 s (RTO doubles); ETIMEDOUT at ~7 s
    else:
        kind, port = "rr", PORT_RR
    with attempt(stats, kind, sock):
        await loop.sock_connect(sock, (SERVER_IP, port))
        exchanges = rng.choice((1, 1, 1, 2, 3))
        close_roll = rng.random()
        # c: client closes first; s: server closes first; a: client aborts (RST); r: server aborts.
        mode = (
            "c"
            if close_roll < 0.55
            else "s"
            if close_roll < 0.90
            else "a"
            if close_roll < 0.95
            else "r"
        )
        for i in range(exchanges):
            last = i == exchanges - 1
            size = rng.choice((120, 512, 1400, 3000, 8000, 24000))
            wire_mode = mode if last and mode in "sr" else "c"
            await loop.sock_sendall(sock, f"{size} {wire_mode}\n".encode())
            await recv_exact(loop, sock, size)
        if mode == "a":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_ABORT)
        elif mode in "sr":
            await drain_until_eof(loop, sock)
        stats.outcome[f"rr_close_{mode}"] += 1


async def short_worker(
    loop: asyncio.AbstractEventLoop, rng: random.Random, stats: ClientStats
) -> None:
    while True:
        await one_short(loop, rng, stats)


async def bulk_worker(
    loop: asyncio.AbstractEventLoop,
    rng: random.Random,
    stats: ClientStats,
    mb_range: tuple[int, int],
) -> None:
    while True:
        sock = client_socket(rng.choice(CLIENT_IPS))
        size = rng.randint(*mb_range) * 1_000_000
        with attempt(stats, "bulk", sock):
            await loop.sock_connect(sock, (SERVER_IP, PORT_BULK))
            await loop.sock_sendall(sock, f"{size}\n".encode())
            got = await recv_exact(loop, sock, size)
            stats.bulk_bytes += got
            stats.outcome["bulk_done" if got == size else "bulk_short"] += 1


async def hold(
    loop: asyncio.AbstractEventLoop,
    stats: ClientStats,
    kind: str,
    port: int,
    keepalive: tuple[int, int, int] | None,
) -> None:
    sock = client_socket(CLIENT_IPS[0])
    if keepalive:
        set_keepalive(sock, *keepalive)
    with attempt(stats, kind, sock):
        await loop.sock_connect(sock, (SERVER_IP, port))
        await loop.sock_sendall(sock, b"hello\n")
        await drain_until_eof(loop, sock)
        stats.outcome[f"{kind}_eof"] += 1


async def zero_window_worker(
    loop: asyncio.AbstractEventLoop, rng: random.Random, stats: ClientStats
) -> None:
    while True:
        await asyncio.sleep(rng.uniform(3.0, 8.0))
        sock = client_socket(rng.choice(CLIENT_IPS))
        with attempt(stats, "zero_window", sock):
            await loop.sock_connect(sock, (SERVER_IP, PORT_SINK))
            await loop.sock_sendall(sock, b"z" * 400_000)
            stats.outcome["zero_window_sent"] += 1


async def client_main(recipe: Recipe, stats_path: Path) -> None:
    loop = asyncio.get_running_loop()
    rng = random.Random(recipe.seed)
    stats = ClientStats()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    tasks = []
    for i in range(recipe.idle_conns):
        ka = (5, 3, 3) if i % 2 == 0 else None  # half idle with keepalive, half silent
        tasks.append(
            loop.create_task(
                hold(loop, stats, "idle_keepalive" if ka else "idle_silent", PORT_IDLE, ka)
            )
        )
    for _ in range(recipe.deadpeer_conns):
        tasks.append(loop.create_task(hold(loop, stats, "deadpeer", PORT_DEADPEER, (6, 2, 3))))
    tasks.append(loop.create_task(zero_window_worker(loop, random.Random(rng.random()), stats)))
    for _ in range(recipe.bulk_workers):
        tasks.append(
            loop.create_task(bulk_worker(loop, random.Random(rng.random()), stats, recipe.bulk_mb))
        )
    for _ in range(recipe.short_workers):
        tasks.append(loop.create_task(short_worker(loop, random.Random(rng.random()), stats)))

    async def write_stats() -> None:
        while True:
            stats_path.write_text(
                json.dumps(
                    {
                        "started": stats.started,
                        "outcome": stats.outcome,
                        "bulk_bytes": stats.bulk_bytes,
                    },
                    sort_keys=True,
                )
            )
            await asyncio.sleep(1.0)

    writer = loop.create_task(write_stats())
    await stop.wait()
    writer.cancel()
    stats_path.write_text(
        json.dumps(
            {"started": stats.started, "outcome": stats.outcome, "bulk_bytes": stats.bulk_bytes},
            sort_keys=True,
        )
    )
    os._exit(0)  # open sockets are closed by the kernel; the capture has already stopped


# ----------------------------------------------------------------------------------------------
# Controller
# ----------------------------------------------------------------------------------------------


def spawn_role(ns: str, role: str, recipe: Recipe, extra: list[str]) -> subprocess.Popen[bytes]:
    cmd = [
        "ip",
        "netns",
        "exec",
        ns,
        "nice",
        "-n",
        "10",
        sys.executable,
        os.path.abspath(__file__),
        "--role",
        role,
        "--recipe",
        json.dumps(asdict(recipe)),
        *extra,
    ]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_for_listening(proc: subprocess.Popen[bytes]) -> None:
    """tcpdump writes 'listening on ...' to stderr once its socket is attached."""
    assert proc.stderr is not None
    line = proc.stderr.readline()
    if b"listening on" not in line:
        raise RuntimeError(f"tcpdump did not start: {line.decode(errors='replace').strip()}")


def stop(proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM) -> None:
    if proc is not None and proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def tcpdump_summary(stderr: bytes) -> dict[str, int]:
    """'N packets captured', 'N packets received by filter', 'N packets dropped by kernel'."""
    out: dict[str, int] = {}
    for line in stderr.decode(errors="replace").splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] == "packets" and parts[0].isdigit():
            out[" ".join(parts[2:])] = int(parts[0])
    return out


def generate(recipe: Recipe, output: Path) -> dict[str, object]:
    output.parent.mkdir(parents=True, exist_ok=True)
    stats_path = output.with_suffix(".client-stats.json")
    delete_namespaces()
    server = client = dump = None
    t0 = time.monotonic()
    try:
        build_topology(recipe)
        server = spawn_role(NS_SERVER, "server", recipe, [])
        dump = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                NS_ROUTER,
                "tcpdump",
                "-i",
                "plb-r0",
                "-s",
                str(recipe.snaplen),
                "-B",
                "65536",
                "-U",
                "-n",
                "-c",
                str(recipe.packets_target),
                "-w",
                str(output),
                "tcp",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        wait_for_listening(dump)
        time.sleep(0.5)
        client = spawn_role(NS_CLIENT, "client", recipe, ["--stats", str(stats_path)])
        cut_done = False
        deadline = time.monotonic() + recipe.seconds
        while dump.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
            if not cut_done and time.monotonic() - t0 > 4.0:
                cut_deadpeer_replies()
                cut_done = True
            if client.poll() is not None:
                raise RuntimeError(
                    f"client died: {client.stderr.read().decode() if client.stderr else ''}"
                )
        stop(dump, signal.SIGINT)
        elapsed = time.monotonic() - t0
        dump_err = dump.stderr.read() if dump.stderr else b""
        stop(client)
        stop(server)
    finally:
        for proc in (client, server, dump):
            stop(proc)
        delete_namespaces()
    client_stats = json.loads(stats_path.read_text()) if stats_path.exists() else {}
    stats_path.unlink(missing_ok=True)
    return {
        "recipe": asdict(recipe),
        "capture": str(output),
        "bytes": output.stat().st_size,
        "generation_seconds": round(elapsed, 1),
        "tcpdump": tcpdump_summary(dump_err),
        "client": client_stats,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help=f"capture path (default {DEFAULT_OUTPUT}; keep it out of the repo)",
    )
    parser.add_argument(
        "--packets-target", type=int, default=2_500_000, help="stop after this many packets"
    )
    parser.add_argument(
        "--seconds", type=int, default=300, help="stop after this long at the latest"
    )
    parser.add_argument("--small", action="store_true", help="~200k packets for quick checks")
    parser.add_argument(
        "--loss-per-mille", type=int, default=7, help="random drop on the router (0.7%% default)"
    )
    parser.add_argument("--tbf-rate", default="120mbit")
    parser.add_argument("--tbf-latency", default="40ms")
    parser.add_argument("--short-workers", type=int, default=48)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--role", choices=("server", "client"), help=argparse.SUPPRESS)
    parser.add_argument("--recipe", help=argparse.SUPPRESS)
    parser.add_argument("--stats", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.role:
        recipe = Recipe(
            **{**json.loads(args.recipe), "bulk_mb": tuple(json.loads(args.recipe)["bulk_mb"])}
        )
        random.seed(recipe.seed)
        asyncio.run(server_main() if args.role == "server" else client_main(recipe, args.stats))
        return

    if os.geteuid() != 0:
        sys.exit("make_capture.py: needs root (ip netns, nft, tc, tcpdump)")
    for tool in ("ip", "nft", "tc", "tcpdump"):
        if not shutil.which(tool):
            sys.exit(f"make_capture.py: {tool} not found")
    recipe = Recipe(
        packets_target=200_000 if args.small else args.packets_target,
        seconds=args.seconds,
        loss_per_mille=args.loss_per_mille,
        tbf_rate=args.tbf_rate,
        tbf_latency=args.tbf_latency,
        snaplen=96,
        short_workers=args.short_workers,
        bulk_workers=2,
        bulk_mb=(3, 20),
        idle_conns=20,
        deadpeer_conns=6,
        seed=args.seed,
    )
    try:
        summary = generate(recipe, args.output)
    except KeyboardInterrupt:
        args.output.with_suffix(".client-stats.json").unlink(missing_ok=True)
        sys.exit("make_capture.py: interrupted; namespaces removed, the capture is incomplete")
    if shutil.which("capinfos"):
        info = run(["capinfos", "-c", "-d", "-u", "-M", str(args.output)], check=False).stdout
        summary["capinfos"] = info.strip()
    sidecar = args.output.with_name(args.output.name + ".json")
    sidecar.write_text(json.dumps(summary, indent=2, sort_keys=True))
    print(json.dumps(summary, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
