"""The socket program that runs INSIDE a namespace: a tiny step interpreter.

A scenario describes what each endpoint does as a list of steps (plain JSON), and the
orchestrator starts ``ip netns exec NS python -m tools.samplegen.actor '<json>'``.
Steps are real socket calls (connect, send, shutdown, SO_LINGER ...), so every packet in
a capture is made by the kernel's own TCP, never crafted.

Talking to the orchestrator (line based, so timing stays in the scenario):
- stdout: ``EV <name> <monotonic-seconds> [detail]`` after ``signal`` steps and on errors;
- stdin:  one line per ``wait`` step (the orchestrator writes the awaited name).

What the socket API reports (connect() -> ETIMEDOUT after 19.1 s, send() -> ECONNRESET)
is printed as an event too: it is ground truth from the kernel, independent of the capture.
One exception to "never crafted": ``raw_tcp`` sends a SYN or a FIN / NULL / Xmas probe from a
raw socket, as port scanners and half-open health checks do; the answers are the kernels'.
"""

from __future__ import annotations

import errno
import http.client
import http.server
import json
import select
import socket
import ssl
import struct
import sys
import threading
import time
from typing import Any

Step = dict[str, Any]

# Socket options scenarios use, by name (the json stays readable).
_LEVELS = {"SOL_SOCKET": socket.SOL_SOCKET, "IPPROTO_TCP": socket.IPPROTO_TCP}
_OPTS = {
    "SO_REUSEADDR": socket.SO_REUSEADDR,
    "SO_KEEPALIVE": socket.SO_KEEPALIVE,
    "SO_LINGER": socket.SO_LINGER,
    "SO_RCVBUF": socket.SO_RCVBUF,
    "SO_SNDBUF": socket.SO_SNDBUF,
    "SO_SNDTIMEO": socket.SO_SNDTIMEO,  # seconds; a blocking connect() gives up after it
    "TCP_SYNCNT": socket.TCP_SYNCNT,
    "TCP_USER_TIMEOUT": 18,  # linux/tcp.h; socket.TCP_USER_TIMEOUT is absent on some builds
    "TCP_KEEPIDLE": socket.TCP_KEEPIDLE,
    "TCP_KEEPINTVL": socket.TCP_KEEPINTVL,
    "TCP_KEEPCNT": socket.TCP_KEEPCNT,
    "TCP_NODELAY": socket.TCP_NODELAY,
    "TCP_MAXSEG": socket.TCP_MAXSEG,
    "TCP_CONGESTION": socket.TCP_CONGESTION,  # a name: "cubic" (a namespace may only default to
    # the allowed list, bbr here; root may pick any built-in algorithm per socket)
}


def emit(name: str, detail: str = "") -> None:
    print(f"EV {name} {time.monotonic():.6f} {detail}".rstrip(), flush=True)


def _set_opts(sock: socket.socket, opts: list[list[Any]]) -> None:
    for level, name, value in opts:
        if name == "SO_LINGER":
            raw = struct.pack("ii", int(value[0]), int(value[1]))
            sock.setsockopt(_LEVELS[level], _OPTS[name], raw)
        elif name == "TCP_CONGESTION":
            sock.setsockopt(_LEVELS[level], _OPTS[name], str(value).encode())
        elif name == "SO_SNDTIMEO":  # struct timeval
            seconds = float(value)
            raw = struct.pack("ll", int(seconds), int((seconds % 1) * 1e6))
            sock.setsockopt(_LEVELS[level], _OPTS[name], raw)
        else:
            sock.setsockopt(_LEVELS[level], _OPTS[name], int(value))


def _read_exactly(sock: socket.socket, want: int) -> None:
    """Read ``want`` bytes (or up to EOF)."""
    while want > 0:
        got = sock.recv(min(65536, want))
        if not got:
            break
        want -= len(got)


def _tcp_segment(
    src: str, dst: str, sport: int, dport: int, seq: int, flags: int, ack: int = 0
) -> bytes:
    """A TCP header as nmap sends it (window 1024; a SYN with the MSS option 1460), checksummed
    over the IPv4 pseudo-header (the kernel adds the IP header of a raw IPPROTO_TCP socket)."""
    options = struct.pack("!BBH", 2, 4, 1460) if flags & 0x02 else b""
    offset = (5 + len(options) // 4) << 4
    header = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, offset, flags, 1024, 0, 0)
    segment = header + options
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(segment))
    data = pseudo + segment
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return segment[:16] + struct.pack("!H", ~total & 0xFFFF) + segment[18:]


def _payload(n: int) -> bytes:
    return (b"pcapline-sample " * (n // 16 + 1))[:n]


class Program:
    """Runs one list of steps; named sockets live in ``self.socks``."""

    def __init__(self) -> None:
        self.socks: dict[str, socket.socket] = {}
        self.stdin_lock = threading.Lock()

    def run(self, steps: list[Step]) -> None:
        for step in steps:
            op = step["op"]
            try:
                getattr(self, "op_" + op)(step)
            except OSError as exc:
                name = errno.errorcode.get(exc.errno or 0, str(exc))
                emit("error", f"{op}:{step.get('sock', '')}:{name}")
                if not step.get("tolerate", False):
                    return

    # --- socket life -------------------------------------------------------------
    def op_socket(self, s: Step) -> None:
        fam = socket.AF_INET6 if s.get("family", 4) == 6 else socket.AF_INET
        sock = socket.socket(fam, socket.SOCK_STREAM)
        _set_opts(sock, s.get("opts", []))
        self.socks[s.get("sock", "s")] = sock

    def op_setsockopt(self, s: Step) -> None:
        _set_opts(self.socks[s.get("sock", "s")], s["opts"])

    def op_bind(self, s: Step) -> None:
        self.socks[s.get("sock", "s")].bind((s.get("addr", ""), s["port"]))

    def op_listen(self, s: Step) -> None:
        self.socks[s.get("sock", "s")].listen(s.get("backlog", 16))
        emit("listening")

    def op_accept(self, s: Step) -> None:
        conn, peer = self.socks[s.get("sock", "s")].accept()
        _set_opts(conn, s.get("opts", []))
        self.socks[s.get("as", "c")] = conn
        emit("accepted", f"{peer[0]}:{peer[1]}")

    def op_connect(self, s: Step) -> None:
        sock = self.socks[s.get("sock", "s")]
        started = time.monotonic()
        try:
            sock.connect((s["addr"], s["port"]))
        except OSError as exc:
            name = errno.errorcode.get(exc.errno or 0, str(exc))
            emit(
                "connect_failed",
                f"{s.get('sock', 's')} {name} after {time.monotonic() - started:.3f}s",
            )
            if not s.get("tolerate", False):
                raise
            return
        emit("connected", s.get("sock", "s"))

    def op_raw_tcp(self, s: Step) -> None:
        """One TCP segment from a raw socket, as a port scanner or a half-open health check
        sends it (a SYN, or a FIN / NULL / Xmas probe): no socket of this host's TCP owns it,
        so its kernel resets a SYN+ACK that answers it. The only packets in a capture this
        file makes by hand; every answer to them is the kernels'."""
        segment = _tcp_segment(
            s["src"],
            s["dst"],
            s["sport"],
            s["port"],
            s.get("seq", 0x1F2E3D4C),
            s["flags"],
            s.get("ack", 0),
        )
        with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP) as raw:
            raw.sendto(segment, (s["dst"], 0))
        emit("raw_tcp", f"{s['sport']}->{s['port']} flags 0x{s['flags']:02x}")

    def op_send(self, s: Step) -> None:
        self.socks[s.get("sock", "s")].sendall(_payload(s["n"]))

    def op_recv(self, s: Step) -> None:
        """Read exactly ``n`` bytes (or up to EOF)."""
        _read_exactly(self.socks[s.get("sock", "s")], s["n"])

    def op_recv_paced(self, s: Step) -> None:
        """Read at most ``chunk`` bytes, sleep ``interval`` s, again, until EOF: a reader
        slower than its sender that never stops (the receive window fills, never closes)."""
        sock = self.socks[s.get("sock", "s")]
        total = reads = 0
        started = time.monotonic()
        while True:
            got = sock.recv(s["chunk"])
            if not got:
                break
            total += len(got)
            reads += 1
            time.sleep(s["interval"])
        emit(
            "paced_reads", f"{total} bytes in {reads} reads over {time.monotonic() - started:.3f}s"
        )

    def op_recv_eof(self, s: Step) -> None:
        sock = self.socks[s.get("sock", "s")]
        while sock.recv(65536):
            pass
        emit("eof", s.get("sock", "s"))

    def op_shutdown(self, s: Step) -> None:
        how = {"wr": socket.SHUT_WR, "rd": socket.SHUT_RD, "rdwr": socket.SHUT_RDWR}[
            s.get("how", "wr")
        ]
        self.socks[s.get("sock", "s")].shutdown(how)

    def op_close(self, s: Step) -> None:
        self.socks.pop(s.get("sock", "s")).close()

    # --- sending patterns -----------------------------------------------------------
    def op_send_until_blocked(self, s: Step) -> None:
        """Fill the peer's receive window and our send buffer, then report how much fitted."""
        sock = self.socks[s.get("sock", "s")]
        sock.setblocking(False)
        total, chunk = 0, _payload(s.get("chunk", 4096))
        deadline = time.monotonic() + s.get("settle", 0.5)
        while time.monotonic() < deadline:
            try:
                total += sock.send(chunk)
            except BlockingIOError:
                select.select([], [sock], [], 0.05)
        sock.setblocking(True)
        emit("blocked", f"{total}")

    def op_send_stream(self, s: Step) -> None:
        """Send ``chunk`` bytes every ``interval`` s until ``stop`` arrives on stdin or a send fails."""
        sock = self.socks[s.get("sock", "s")]
        chunk, sent = _payload(s.get("chunk", 8192)), 0
        stop = threading.Event()
        threading.Thread(
            target=self._await_line, args=(s.get("stop", "stop"), stop), daemon=True
        ).start()
        sock.settimeout(s.get("send_timeout", 120.0))
        while not stop.is_set():
            try:
                sock.sendall(chunk)
            except OSError as exc:
                emit(
                    "send_failed",
                    errno.errorcode.get(exc.errno or 0, str(exc)) + f" after {sent} bytes",
                )
                return
            sent += len(chunk)
            time.sleep(s.get("interval", 0.02))
        emit("stream_stopped", str(sent))

    def op_wait_zero_window(self, s: Step) -> None:
        """Poll TCP_INFO until the peer's advertised window is 0 and nothing is in flight.

        struct tcp_info (linux/tcp.h, 6.x): tcpi_unacked at byte 24, tcpi_snd_wnd at 228.
        """
        sock = self.socks[s.get("sock", "s")]
        deadline = time.monotonic() + s.get("timeout", 5.0)
        while time.monotonic() < deadline:
            info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
            if len(info) < 232:
                emit("error", "wait_zero_window:tcp_info too short")
                return
            unacked = struct.unpack_from("I", info, 24)[0]
            snd_wnd = struct.unpack_from("I", info, 228)[0]
            if snd_wnd == 0 and unacked == 0:
                emit("zero_window")
                return
            time.sleep(0.002)
        emit("error", "wait_zero_window:timeout")

    def op_wait_error(self, s: Step) -> None:
        """Block until the socket reports an error (ETIMEDOUT, ECONNRESET...) or EOF."""
        sock = self.socks[s.get("sock", "s")]
        started = time.monotonic()
        try:
            data = sock.recv(1)
            emit(
                "wait_error",
                ("eof" if not data else "data") + f" after {time.monotonic() - started:.3f}s",
            )
        except OSError as exc:
            name = errno.errorcode.get(exc.errno or 0, str(exc))
            emit("wait_error", f"{name} after {time.monotonic() - started:.3f}s")

    def op_so_error(self, s: Step) -> None:
        sock = self.socks[s.get("sock", "s")]
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        emit("so_error", errno.errorcode.get(err, str(err)))

    # --- many connections at once (the lossy mix) -------------------------------
    def op_bulk_server(self, s: Step) -> None:
        """Accept ``count`` connections; each: read ``up`` bytes, send ``down`` bytes, read EOF, close."""
        lsock = self.socks[s.get("sock", "s")]

        def serve(conn: socket.socket) -> None:
            with conn:
                _read_exactly(conn, s["up"])
                conn.sendall(_payload(s["down"]))
                while conn.recv(65536):
                    pass

        threads = []
        for _ in range(s["count"]):
            conn, _peer = lsock.accept()
            t = threading.Thread(target=serve, args=(conn,))
            t.start()
            threads.append(t)
        for t in threads:
            t.join()
        emit("bulk_served", str(len(threads)))

    def op_bulk_clients(self, s: Step) -> None:
        """``count`` clients from ports first_port.. : send ``up``, read ``down``, close first."""
        failures: list[str] = []

        def client(port: int) -> None:
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as c:
                    c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    c.bind(("", port))
                    c.connect((s["addr"], s["port"]))
                    c.sendall(_payload(s["up"]))
                    _read_exactly(c, s["down"])
            except OSError as exc:
                failures.append(f"{port}:{errno.errorcode.get(exc.errno or 0, str(exc))}")

        threads = [
            threading.Thread(target=client, args=(s["first_port"] + i,)) for i in range(s["count"])
        ]
        for t in threads:
            t.start()
            time.sleep(s.get("stagger", 0.0))
        for t in threads:
            t.join()
        emit("bulk_done", "failures=" + (",".join(failures) or "none"))

    # --- application protocols (real TLS and HTTP/1.1 from the standard library) -----------
    def op_tls_accept(self, s: Step) -> None:
        """Server side of a TLS handshake on an accepted socket (cert/key files, ALPN offered)."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(s["cert"], s["key"])
        ctx.set_alpn_protocols(s.get("alpn", []))
        name = s.get("sock", "c")
        tls = ctx.wrap_socket(self.socks[name], server_side=True)
        self.socks[name] = tls
        emit("tls_accepted", f"{tls.version()} alpn={tls.selected_alpn_protocol()}")

    def op_tls_connect(self, s: Step) -> None:
        """Client side: verify the server's throw-away certificate for ``sni``, offer ``alpn``;
        ``max_version`` "1.2" caps the client at TLS 1.2 (no supported_versions extension)."""
        ctx = ssl.create_default_context(cafile=s["ca"])
        if s.get("max_version") == "1.2":
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_alpn_protocols(s.get("alpn", []))
        name = s.get("sock", "s")
        tls = ctx.wrap_socket(self.socks[name], server_hostname=s["sni"])
        self.socks[name] = tls
        emit("tls_connected", f"{tls.version()} alpn={tls.selected_alpn_protocol()}")

    def op_tls_close(self, s: Step) -> None:
        """Send close_notify and wait for the peer's (SSL_shutdown): the TCP socket remains.
        Without it, a TLS server answers the client's FIN with its own close_notify, and the
        client's kernel, its socket gone, resets the connection."""
        name = s.get("sock", "s")
        self.socks[name] = self.socks[name].unwrap()

    def op_http_request(self, s: Step) -> None:
        """One HTTP/1.1 request (http.client) on the socket as it is (plain or TLS)."""
        conn = http.client.HTTPConnection(s["host"])
        conn.sock = self.socks[s.get("sock", "s")]
        conn.putrequest(s.get("method", "GET"), s["path"], skip_host=True)
        conn.putheader("Host", s["host"])
        conn.endheaders()
        answer = conn.getresponse()
        answer.read()
        emit("http_status", str(answer.status))

    def op_http_pipeline(self, s: Step) -> None:
        """HTTP/1.1 requests pipelined (RFC 9112 9.3.2): a GET for each of ``paths`` in one
        write, then the answers read in order (each its status line, headers and
        Content-Length body) on the socket as it is."""
        sock = self.socks[s.get("sock", "s")]
        head = "".join(f"GET {path} HTTP/1.1\r\nHost: {s['host']}\r\n\r\n" for path in s["paths"])
        sock.sendall(head.encode())
        got = b""
        for _ in s["paths"]:
            while b"\r\n\r\n" not in got:
                got += sock.recv(65536)
            fields, got = got.split(b"\r\n\r\n", 1)
            length = next(
                int(line.split(b":", 1)[1])
                for line in fields.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            while len(got) < length:
                got += sock.recv(65536)
            got = got[length:]
            emit("http_status", fields.split(b" ", 2)[1].decode())

    def op_http_serve(self, s: Step) -> None:
        """Answer HTTP/1.1 requests (http.server) until the client closes: ``statuses`` maps
        a path to its status (200 otherwise), with a small body; ``sleeps`` maps a path to
        the seconds the server thinks before it answers (a slow backend); ``pauses`` maps a
        path to the seconds it waits after writing the status line, the headers and the first
        half of the body, before it writes the rest (a backend that stalls mid-answer)."""
        statuses: dict[str, int] = s.get("statuses", {})
        sleeps: dict[str, float] = s.get("sleeps", {})
        pauses: dict[str, float] = s.get("pauses", {})

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                if self.path in sleeps:
                    time.sleep(sleeps[self.path])
                status = statuses.get(self.path, 200)
                body = _payload(s.get("body", 1000))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.path in pauses:
                    self.wfile.write(body[: len(body) // 2])
                    time.sleep(pauses[self.path])
                    body = body[len(body) // 2 :]
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        sock = self.socks[s.get("sock", "c")]
        Handler(sock, ("", 0), None)  # type: ignore[arg-type]  # serves until EOF
        emit("eof", s.get("sock", "c"))

    # --- synchronisation -----------------------------------------------------------
    def op_sleep(self, s: Step) -> None:
        time.sleep(s["s"])

    def op_signal(self, s: Step) -> None:
        emit(s["name"])

    def _await_line(self, name: str, done: threading.Event | None = None) -> None:
        while True:
            with self.stdin_lock:
                line = sys.stdin.readline()
            if not line or line.strip() == name:
                break
        if done is not None:
            done.set()

    def op_wait(self, s: Step) -> None:
        self._await_line(s["name"])


def main() -> None:
    steps = json.loads(sys.argv[1])
    program = Program()
    program.run(steps)
    emit("finished")
    # Keep the sockets alive until the orchestrator says so (a line or EOF on stdin):
    # process exit closes sockets (FIN, or RST with unread data), so the scenario,
    # not the program, decides when that happens - normally after the capture stopped.
    program._await_line("exit")


if __name__ == "__main__":
    main()
