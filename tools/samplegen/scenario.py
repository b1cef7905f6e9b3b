"""What a scenario is, and the context it runs in."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tools.samplegen import steps as st
from tools.samplegen.expected import Expected
from tools.samplegen.netns import Lab, Namespace, Pair, make_pair
from tools.samplegen.processes import Actor, Capture, Forwarder
from tools.samplegen.steps import Step


@dataclass
class Ctx:
    """Where a scenario writes, and the processes it started (stopped on exit, by PID)."""

    out: Path
    tag: str
    actors: list[Actor] = field(default_factory=list)
    captures: list[Capture] = field(default_factory=list)
    forwarders: list[Forwarder] = field(default_factory=list)
    log_lines: list[str] = field(default_factory=list)

    def log(self, text: str) -> None:
        self.log_lines.append(f"[{self.tag}] {text}")

    def actor(self, ns: Namespace, steps: list[dict[str, object]], label: str) -> Actor:
        a = Actor(ns, steps, f"{self.tag}/{label}").start()
        self.actors.append(a)
        return a

    def server(self, ns: Namespace, steps: list[dict[str, object]], label: str = "server") -> Actor:
        """An actor that listens first: started, and back once its listen() is done."""
        a = self.actor(ns, steps, label)
        a.expect("listening")
        return a

    def finish(self, *actors: Actor, linger: float = 0.3) -> None:
        """Stop the captures ``linger`` s from now, then the actors in the order given (their
        sockets close when they exit, after the capture)."""
        self.stop_captures(linger=linger)
        for a in actors:
            a.stop()

    def capture(
        self, ns: Namespace, dev: str | list[str], name: str, *extra: str, tool: str = "tcpdump"
    ) -> Capture:
        devs = [dev] if isinstance(dev, str) else dev
        c = Capture(ns, self.out / name, devs, list(extra), tool).start()
        self.captures.append(c)
        return c

    def forwarder(self, *args: str) -> Forwarder:
        f = Forwarder(list(args)).start()
        self.forwarders.append(f)
        return f

    def run_client(
        self,
        ns: Namespace,
        steps: list[Step],
        server: Actor,
        *,
        timeout: float = 20,
        until: str = "finished",
        server_timeout: float = 10,
    ) -> None:
        """One client actor through ``steps`` while ``server`` serves: wait for the client's
        ``until`` event (its last step done, or a ``signal`` step) and the server's finish,
        then stop the captures (0.5 s after) and both actors."""
        client = self.actor(ns, steps, "client")
        client.expect(until, timeout=timeout)
        server.expect("finished", timeout=server_timeout)
        self.finish(client, server, linger=0.5)

    def stop_captures(self, linger: float = 0.3) -> None:
        time.sleep(linger)
        for c in self.captures:
            c.stop(linger=0)

    def cleanup(self) -> None:
        for c in self.captures:
            if c.proc is not None and c.proc.poll() is None:
                c.proc.kill()
                c.proc.wait()
        for a in self.actors:
            a.kill()
        for f in self.forwarders:
            f.stop()

    def socket_events(self) -> list[str]:
        """Everything the socket API reported, for the expected file's ``observed_by_sockets``."""
        out = []
        for a in self.actors:
            for line in a.events():
                parts = line.split(" ", 3)
                if parts[1] in {
                    "connect_failed",
                    "send_failed",
                    "wait_error",
                    "so_error",
                    "error",
                    "bulk_done",
                    "blocked",
                    "paced_reads",
                }:
                    out.append(
                        f"{a.label.split('/', 1)[1]}: {parts[1]} {parts[3] if len(parts) > 3 else ''}".strip()
                    )
        return out

    def start_stream(
        self,
        client: Namespace,
        server: Namespace,
        server_ip: str,
        client_port: int,
        chunk: int,
        *,
        opts: list[st.Opt] | None = None,
    ) -> tuple[Actor, Actor]:
        """A sink server and a client streaming ``chunk`` B every 50 ms to it
        (``steps.streaming_client``); back 0.6 s into the stream, when a scenario cuts the
        path. Returns (client, server)."""
        srv = self.server(server, st.sink_server())
        cli = self.actor(
            client, st.streaming_client(server_ip, client_port, chunk, opts=opts), "client"
        )
        cli.expect("streaming")
        time.sleep(0.6)
        return cli, srv


@dataclass(frozen=True)
class Scenario:
    name: str  # also the namespace tag: short, unique
    net: int  # 10.<net>.x.x addresses: unique per scenario so parallel runs never collide
    build: Callable[[Ctx, int], list[Expected]]
    seconds: float  # rough wall time, to schedule the long ones first


def run_pair(
    ctx: Ctx,
    net: int,
    name: str,
    client: list[Step],
    server: list[Step],
    *,
    settle: float = 0.5,
    prepare: Callable[[Pair], None] | None = None,
    client_timeout: float = 30,
) -> None:
    """Server first, then the client; capture at the client's eth0 until both are done.

    ``prepare`` sets up the pair (sysctls, nftables) before the capture starts;
    ``client_timeout`` is how long the client's steps may take (SYN retries need more).
    """
    with Lab(ctx.tag) as lab:
        pair = make_pair(lab, net)
        if prepare is not None:
            prepare(pair)
        cap = ctx.capture(pair.client, "eth0", name)
        srv = ctx.server(pair.server, server)
        cli = ctx.actor(pair.client, client, "client")
        cli.expect("finished", timeout=client_timeout)
        srv.expect("finished", timeout=30)
        time.sleep(settle)
        cap.stop()
        cli.stop()
        srv.stop()
