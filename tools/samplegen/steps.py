"""Builders for actor step lists (see ``actor.py``), so scenarios read like the socket calls."""

from __future__ import annotations

from typing import Any

Step = dict[str, Any]
Opt = list[Any]

SERVER_PORT = 8080


def reuse() -> Opt:
    return ["SOL_SOCKET", "SO_REUSEADDR", 1]


def opt(name: str, value: Any) -> Opt:
    level = "IPPROTO_TCP" if name.startswith("TCP_") else "SOL_SOCKET"
    return [level, name, value]


def keepalive_opts(idle: int, intvl: int, cnt: int) -> list[Opt]:
    return [
        opt("SO_KEEPALIVE", 1),
        opt("TCP_KEEPIDLE", idle),
        opt("TCP_KEEPINTVL", intvl),
        opt("TCP_KEEPCNT", cnt),
    ]


def listen(
    port: int = SERVER_PORT, *, backlog: int = 16, family: int = 4, opts: list[Opt] | None = None
) -> list[Step]:
    return [
        {"op": "socket", "sock": "l", "family": family, "opts": [reuse(), *(opts or [])]},
        {"op": "bind", "sock": "l", "port": port},
        {"op": "listen", "sock": "l", "backlog": backlog},
    ]


def accept(name: str = "c", opts: list[Opt] | None = None) -> Step:
    return {"op": "accept", "sock": "l", "as": name, "opts": opts or []}


def connect(
    server_ip: str,
    client_port: int,
    *,
    sock: str = "s",
    port: int = SERVER_PORT,
    family: int = 4,
    opts: list[Opt] | None = None,
    tolerate: bool = False,
) -> list[Step]:
    """A client socket bound to a FIXED port, so expected rows can name it."""
    return [
        {"op": "socket", "sock": sock, "family": family, "opts": [reuse(), *(opts or [])]},
        {"op": "bind", "sock": sock, "port": client_port},
        {"op": "connect", "sock": sock, "addr": server_ip, "port": port, "tolerate": tolerate},
    ]


def send(n: int, sock: str = "s") -> Step:
    return {"op": "send", "sock": sock, "n": n}


def recv(n: int, sock: str = "s") -> Step:
    return {"op": "recv", "sock": sock, "n": n}


def recv_eof(sock: str = "s") -> Step:
    return {"op": "recv_eof", "sock": sock}


def shutdown_wr(sock: str = "s") -> Step:
    return {"op": "shutdown", "sock": sock, "how": "wr"}


def close(sock: str = "s") -> Step:
    return {"op": "close", "sock": sock}


def wait_error(sock: str = "s") -> Step:
    """Block until the socket reports an error (ETIMEDOUT, ECONNRESET...) or EOF."""
    return {"op": "wait_error", "sock": sock}


def linger0(sock: str = "s") -> Step:
    """SO_LINGER {1, 0}: the next close() sends a RST instead of a FIN (an abortive close)."""
    return {"op": "setsockopt", "sock": sock, "opts": [opt("SO_LINGER", [1, 0])]}


def signal(name: str) -> Step:
    return {"op": "signal", "name": name}


def wait(name: str) -> Step:
    return {"op": "wait", "name": name}


def sleep(seconds: float) -> Step:
    return {"op": "sleep", "s": seconds}


#: TCP flag bits of the segments ``raw_tcp`` sends.
RAW_SYN, RAW_FIN, RAW_NULL, RAW_XMAS = 0x02, 0x01, 0x00, 0x29
RAW_ACK, RAW_MAIMON = 0x10, 0x11  # nmap -sA / -sW, and -sM (FIN + ACK)


def raw_tcp(
    src: str, dst: str, sport: int, port: int = SERVER_PORT, flags: int = RAW_SYN, ack: int = 0
) -> Step:
    """A segment from a raw socket: a SYN (a SYN scanner's, a half-open health check's; no
    socket of the sending host connects, so its kernel resets the server's SYN+ACK), a FIN,
    NULL or Xmas probe (a stealth scanner's), or an ACK or FIN + ACK probe carrying ``ack``
    (an ACK, window or Maimon scanner's)."""
    return {
        "op": "raw_tcp",
        "src": src,
        "dst": dst,
        "sport": sport,
        "port": port,
        "flags": flags,
        "ack": ack,
    }


def echo_server(*, family: int = 4, count: int = 1, port: int = SERVER_PORT) -> list[Step]:
    """The plain server of 'a normal connection': per connection read 100 B, reply 1000 B, wait for EOF, close."""
    out = listen(port, family=family)
    for i in range(count):
        c = f"c{i}"
        out += [accept(c), recv(100, c), send(1000, c), recv_eof(c), close(c)]
    return out


def echo_client(
    server_ip: str, client_port: int, *, family: int = 4, sock: str = "s"
) -> list[Step]:
    """The client of 'a normal connection': send 100 B, read 1000 B, close first."""
    return [
        *connect(server_ip, client_port, sock=sock, family=family),
        send(100, sock),
        recv(1000, sock),
        close(sock),
    ]


def send_stream(chunk: int, *, interval: float = 0.05, sock: str = "s") -> Step:
    """Send ``chunk`` bytes every ``interval`` s until told to stop or a send fails."""
    return {"op": "send_stream", "sock": sock, "chunk": chunk, "interval": interval}


def sink_server(*, close_after: bool = False) -> list[Step]:
    """Accept one connection and read it to EOF without answering (then close(), if asked)."""
    return [*listen(), accept(), recv_eof("c"), *([close("c")] if close_after else [])]


def streaming_client(
    server_ip: str, client_port: int, chunk: int, *, opts: list[Opt] | None = None
) -> list[Step]:
    """Connect, signal ``streaming``, then stream ``chunk`` bytes every 50 ms until a send fails."""
    return [*connect(server_ip, client_port, opts=opts), signal("streaming"), send_stream(chunk)]
