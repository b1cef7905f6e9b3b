"""Processes the orchestrator starts inside namespaces: socket actors and packet capturers.

Both are stopped by their own PID (SIGINT for capturers so they flush, then kill), never by
name. ``ip netns exec`` execs its command, so ``Popen.pid`` is the program itself.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from tools.samplegen.netns import Namespace

REPO = Path(__file__).resolve().parents[2]


def _end(proc: subprocess.Popen[str] | None) -> None:
    """Close the program's stdin (its cue to exit), then make sure it is gone (by its PID)."""
    if proc is None:
        return
    try:
        if proc.stdin is not None:
            proc.stdin.close()
    except OSError:
        pass
    try:
        proc.wait(timeout=3)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _pump(stream: IO[str], sink: queue.Queue[str], log: list[str]) -> None:
    for line in stream:
        log.append(line.rstrip("\n"))
        sink.put(line.rstrip("\n"))


@dataclass
class Actor:
    """One socket program (``tools.samplegen.actor``) running in a namespace."""

    ns: Namespace
    steps: list[dict[str, Any]]
    label: str
    proc: subprocess.Popen[str] | None = None
    lines: queue.Queue[str] = field(default_factory=queue.Queue)
    log: list[str] = field(default_factory=list)

    def start(self) -> Actor:
        self.proc = subprocess.Popen(
            self.ns.exec_args(["python3", "-m", "tools.samplegen.actor", json.dumps(self.steps)]),
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        assert self.proc.stdout is not None
        threading.Thread(
            target=_pump, args=(self.proc.stdout, self.lines, self.log), daemon=True
        ).start()
        return self

    def expect(self, name: str, timeout: float = 30.0) -> str:
        """Wait for ``EV <name>``; returns the rest of the line. Raises on timeout or an error event."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.label}: no '{name}' within {timeout}s; log: {self.log}")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[0] == "EV":
                if parts[1] == name:
                    return parts[3] if len(parts) > 3 else ""
                if parts[1] == "error" and name != "error":
                    raise RuntimeError(f"{self.label}: {line}; log: {self.log}")

    def tell(self, line: str) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        """Let the program exit (its sockets close now), then make sure it is gone."""
        _end(self.proc)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def events(self) -> list[str]:
        return [line for line in self.log if line.startswith("EV ")]


@dataclass
class Capture:
    """tcpdump (pcap) or dumpcap (pcapng) writing ``path`` from inside a namespace."""

    ns: Namespace
    path: Path
    interfaces: list[str]
    extra: list[str] = field(default_factory=list)
    tool: str = "tcpdump"
    proc: subprocess.Popen[str] | None = None
    stderr_log: list[str] = field(default_factory=list)

    def command(self) -> list[str]:
        if self.tool == "dumpcap":
            args = ["dumpcap", "-q", "-w", str(self.path)]
            for dev in self.interfaces:
                args += ["-i", dev]
            return args + self.extra
        (dev,) = self.interfaces
        return [
            "tcpdump",
            "-i",
            dev,
            "-w",
            str(self.path),
            "-U",
            "--immediate-mode",
            "-Z",
            "root",
            "-B",
            "16384",
            *self.extra,
        ]

    def start(self) -> Capture:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            self.path.unlink()
        self.proc = subprocess.Popen(
            self.ns.exec_args(self.command()),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stderr is not None
        ready: queue.Queue[str] = queue.Queue()
        threading.Thread(
            target=_pump, args=(self.proc.stderr, ready, self.stderr_log), daemon=True
        ).start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                line = ready.get(timeout=0.2)
            except queue.Empty as exc:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"capture died: {self.stderr_log}") from exc
                continue
            if "listening on" in line or "Capturing on" in line or "File:" in line:
                # dumpcap prints its banner before the ring is open; give it a moment.
                time.sleep(0.3 if self.tool == "dumpcap" else 0.1)
                return self
        raise RuntimeError(f"capture not ready: {self.stderr_log}")

    def stop(self, linger: float = 0.3) -> None:
        time.sleep(linger)
        if self.proc is None:
            return
        os.kill(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        time.sleep(0.1)
        if self.path.exists():
            self.path.chmod(0o644)  # dumpcap creates 0600 files
        dropped = [
            line
            for line in self.stderr_log
            if "dropped by kernel" in line and not line.startswith("0 ")
        ]
        if dropped:
            raise RuntimeError(f"capture {self.path.name} lost packets: {self.stderr_log}")


@dataclass
class Forwarder:
    """``tools.samplegen.wire`` (a userspace VLAN switch or tun link), run in the root namespace."""

    args: list[str]
    proc: subprocess.Popen[str] | None = None

    def start(self) -> Forwarder:
        self.proc = subprocess.Popen(
            ["python3", "-m", "tools.samplegen.wire", *self.args],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            raise RuntimeError(f"wire {self.args} did not start: {line} {self.proc.stdout.read()}")
        return self

    def stop(self) -> None:
        _end(self.proc)
