"""Handshake ACKs a capture lost: a server that speaks first (an SMTP or SSH banner), and a
client that thinks before it writes, each with a copy without the client's handshake ACK.

The server sends its banner as soon as ``accept()`` returns, so its first data follows the
client's handshake ACK by the one-way delay (at the client). A capture that lost that ACK
shows the client's next segment only after the banner: the derived copy deletes the ACK
from the real capture (a small pcap rewrite, ``drop_handshake_ack``), so the file is the
real kernel's packets with exactly one frame missing; its expected file says
``derived_from``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.samplegen import steps as st
from tools.samplegen.expected import TUN_HEADERS, Conn, Expected, bound_s, clean
from tools.samplegen.netns import Lab
from tools.samplegen.scenario import Ctx

BANNER_ONE_WAY_S = 0.010
BANNER_B, COMMAND_B, REPLY_B = 40, 20, 30
BANNER_THINK_S = 0.3
BANNER_PORT = 43170
#: pcap link types of a raw-IP capture (tcpdump on a tun device writes LINKTYPE_RAW, 101).
LINKTYPE_RAW = (101, 12, 14)
SYN, ACK = 0x02, 0x10


def _tcp_of(frame: bytes) -> tuple[int, int, int] | None:
    """(source port, TCP flags, payload bytes) of a raw IPv4 TCP frame, the payload from the
    IP total length (the frame itself may be cut by the snaplen); None for anything else."""
    if len(frame) < 20 or frame[0] >> 4 != 4 or frame[9] != 6:
        return None
    ihl = (frame[0] & 0x0F) * 4
    total = struct.unpack_from("!H", frame, 2)[0]
    if len(frame) < ihl + 14:
        return None
    sport = struct.unpack_from("!H", frame, ihl)[0]
    offset = (frame[ihl + 12] >> 4) * 4
    return sport, frame[ihl + 13], total - ihl - offset


def drop_handshake_ack(src: Path, dst: Path, client_port: int) -> int:
    """Copy a raw-IP pcap without the client's pure ACK of the SYN+ACK: the first segment from
    ``client_port`` after the server's SYN+ACK, when it has the ACK flag, no SYN and no
    payload. Returns the deleted frame's number (1-based); raises if the capture lacks it."""
    data = src.read_bytes()
    endian = {b"\xd4\xc3\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">"}.get(data[:4])
    if endian is None:
        raise ValueError(f"{src.name}: expected a microsecond pcap")
    linktype = struct.unpack_from(endian + "I", data, 20)[0]
    if linktype not in LINKTYPE_RAW:
        raise ValueError(f"{src.name}: expected a raw-IP pcap, link type {linktype}")
    out, off, number = [data[:24]], 24, 0
    synack_seen, dropped = False, 0
    while off + 16 <= len(data):
        incl = struct.unpack_from(endian + "I", data, off + 8)[0]
        record = data[off : off + 16 + incl]
        off += 16 + incl
        number += 1
        tcp = _tcp_of(record[16:])
        if tcp is not None and not dropped:
            sport, flags, payload = tcp
            if sport != client_port and flags & (SYN | ACK) == SYN | ACK:
                synack_seen = True
            elif sport == client_port and synack_seen:
                if flags & (SYN | ACK) != ACK or payload != 0:
                    raise ValueError(f"{src.name}: frame {number} is not a pure ACK")
                dropped = number
                continue
        out.append(record)
    if not dropped:
        raise ValueError(f"{src.name}: no client segment after the SYN+ACK")
    dst.write_bytes(b"".join(out))
    return dropped


def server_banner_first(ctx: Ctx, net: int) -> list[Expected]:
    """The server accept()s and at once sends a 40 B banner; the client reads it, thinks
    0.3 s, sends a 20 B command, reads a 30 B reply and close()s first; the server reads to
    EOF and close()s. Over a tun link holding every packet 10 ms each way (a 20 ms round
    trip), captured at the client; then the same file without the client's handshake ACK.

    The client's kernel ACKs the SYN+ACK at once (``tcp_rcv_synsent_state_process``: no
    write pending, ``tcp_send_ack``); the server's application gets the socket from
    ``accept()`` only once that ACK arrived (``tcp_check_req`` creates the child then), so
    the banner leaves a one-way delay after it and reaches the client a round trip after
    the ACK left. The connect time is the SYN -> SYN+ACK round trip seen at the client
    (20 ms plus the hosts' microseconds). Without the ACK, the client's later segments (its
    ACK of the banner at once, its command 0.3 s on) come after the server's data and
    acknowledge it (ISN + 41): none of them is the handshake ACK, so the copy has no connect
    time to show.
    """
    name = "server-banner-first-at-client.pcap"
    derived = "server-banner-first-handshake-ack-missed.pcap"
    server, client = _command_reply(net, BANNER_PORT, banner=True)
    dropped = _captured_over_tun(ctx, net, name, derived, server, client, BANNER_PORT)
    rtt_ms = 2 * BANNER_ONE_WAY_S * 1000
    settings = {
        "link": f"tun, {BANNER_ONE_WAY_S * 1000:.0f} ms one-way delay in the forwarder",
        "server": f"accept(), send {BANNER_B} B at once, read {COMMAND_B} B, send {REPLY_B} B, "
        "read to EOF, close()",
        "client": f"connect(), read {BANNER_B} B, sleep {BANNER_THINK_S} s, send {COMMAND_B} B, "
        f"read {REPLY_B} B, close()",
    }
    scenario = (
        f"a server that speaks first: a {BANNER_B} B banner at accept(), the client's "
        f"{COMMAND_B} B command {BANNER_THINK_S} s after it and a {REPLY_B} B reply, client "
        f"close() first, over a {rtt_ms:.0f} ms round trip; captured at the client"
    )
    return _expected_pair(
        Captured(name, derived, dropped, BANNER_PORT, scenario, settings),
        full_note=f"the handshake's round trip is the path's {rtt_ms:.0f} ms (the client ACKs "
        "the SYN+ACK at once); the banner arrives a round trip after that ACK",
        lost="the handshake ACK of a server that speaks first",
        derived_note="no connect time: the handshake ACK is not in the file, and every "
        "later client segment follows the server's banner, which a server sends only from an "
        "established socket (accept() returns it once the handshake ACK arrived: "
        f"tcp_check_req), so none of them is that ACK (each also acknowledges the banner: ISN "
        f"+ {BANNER_B + 1}, not the SYN+ACK's ISN + 1 alone); the command {BANNER_THINK_S} s "
        "later is no round trip",
    )


THINK_PORT = 43171


def client_thinks_first(ctx: Ctx, net: int) -> list[Expected]:
    """The client connect()s, thinks 0.3 s, then sends a 20 B request; the server answers
    30 B at once; the client close()s first. Over a tun link holding every packet 10 ms each
    way, captured at the client; then the same file without the client's handshake ACK.

    The client's kernel ACKs the SYN+ACK at once (no write pending:
    ``tcp_rcv_synsent_state_process`` -> ``tcp_send_ack``); with a write pending at connect it
    would hold that ACK at most ``TCP_DELACK_MAX`` (200 ms) for the write to carry it. Without
    the pure ACK in the file, the request is the client's first segment after the SYN+ACK and
    acknowledges its ISN + 1 alone, 0.3 s after it: later than any ACK a client holds, so it
    is no handshake ACK: the copy has no connect time to show (not the 0.3 s think time).
    """
    name = "client-think-first-at-client.pcap"
    derived = "client-think-first-handshake-ack-missed.pcap"
    server, client = _command_reply(net, THINK_PORT, banner=False)
    dropped = _captured_over_tun(ctx, net, name, derived, server, client, THINK_PORT)
    rtt_ms = 2 * BANNER_ONE_WAY_S * 1000
    settings = {
        "link": f"tun, {BANNER_ONE_WAY_S * 1000:.0f} ms one-way delay in the forwarder",
        "server": f"accept(), read {COMMAND_B} B, send {REPLY_B} B, read to EOF, close()",
        "client": f"connect(), sleep {BANNER_THINK_S} s, send {COMMAND_B} B, read {REPLY_B} B, "
        "close()",
    }
    scenario = (
        f"a client that thinks {BANNER_THINK_S} s after connect() before its {COMMAND_B} B "
        f"request, a {REPLY_B} B answer at once, client close() first, over a {rtt_ms:.0f} ms "
        "round trip; captured at the client"
    )
    return _expected_pair(
        Captured(name, derived, dropped, THINK_PORT, scenario, settings),
        full_note=f"the handshake's round trip is the path's {rtt_ms:.0f} ms (the client ACKs "
        "the SYN+ACK at once, then thinks)",
        lost="the handshake ACK of a client that thinks before it writes",
        derived_note="no connect time: the handshake ACK is not in the file, and the "
        f"client's request, {BANNER_THINK_S} s after the SYN+ACK and acknowledging its ISN + 1 "
        "alone, comes later than any ACK a client holds back for a pending write "
        "(TCP_DELACK_MAX, 200 ms): it is the application's think time, no round trip",
    )


def _command_reply(net: int, port: int, *, banner: bool) -> tuple[list[st.Step], list[st.Step]]:
    """(server, client) steps: the server sends its ``BANNER_B`` B banner at once (when
    ``banner``); the client reads it, thinks ``BANNER_THINK_S`` s, sends its ``COMMAND_B`` B
    command and reads the ``REPLY_B`` B reply, then close()s first and signals ``done``."""
    server: list[st.Step] = [
        *st.listen(),
        st.accept("c"),
        *([st.send(BANNER_B, "c")] if banner else []),
        st.recv(COMMAND_B, "c"),
        st.send(REPLY_B, "c"),
        st.recv_eof("c"),
        st.close("c"),
    ]
    client: list[st.Step] = [
        *st.connect(f"192.168.{net}.2", port),
        *([st.recv(BANNER_B)] if banner else []),
        st.sleep(BANNER_THINK_S),
        st.send(COMMAND_B),
        st.recv(REPLY_B),
        st.close(),
        st.sleep(0.2),
        st.signal("done"),
    ]
    return server, client


def _captured_over_tun(
    ctx: Ctx,
    net: int,
    name: str,
    derived: str,
    server: list[st.Step],
    client: list[st.Step],
    port: int,
) -> int:
    """Run the two actors over a tun link holding every packet ``BANNER_ONE_WAY_S`` each way,
    captured at the client (headers only: the sample folder stays small), then write the
    copy without the client's handshake ACK; returns the deleted frame's number."""
    from tools.samplegen.scenarios.linktypes import tun_pair

    with Lab(ctx.tag) as lab:
        c, s = tun_pair(ctx, lab, net, delay_s=BANNER_ONE_WAY_S)
        ctx.capture(c, "tun0", name, "-s", "96")
        srv = ctx.server(s, server)
        ctx.run_client(c, client, srv, timeout=10, until="done")
        ctx.cleanup()
    return drop_handshake_ack(ctx.out / name, ctx.out / derived, port)


@dataclass(frozen=True)
class Captured:
    """A capture at the client and its copy without the handshake ACK (``_captured_over_tun``)."""

    name: str
    derived: str
    dropped: int  # the deleted frame's number
    port: int  # the client's port
    scenario: str
    settings: dict[str, Any]


def _expected_pair(c: Captured, *, full_note: str, lost: str, derived_note: str) -> list[Expected]:
    """The capture's expected file (a connect time of the path's round trip) and its copy's
    (none: ``connect_s`` and ``handshake_rtt_ms`` null), both closed by the client."""

    def connection(delays: dict[str, Any], note: str) -> Conn:
        return Conn(
            {"client_port": c.port}, "closed", closer="client", counts=clean(), delays=delays,
            note=note,
        )  # fmt: skip

    return [
        Expected(
            c.name,
            c.scenario,
            "client",
            c.settings,
            [
                connection(
                    {"connect_s": bound_s(0.019, 0.045), "handshake_rtt_ms": bound_s(19, 45)},
                    full_note,
                )
            ],
            capture_format=TUN_HEADERS,
        ),
        Expected(
            c.derived,
            f"{c.name} without frame {c.dropped}, the client's ACK of the SYN+ACK (a capture "
            f"that lost {lost})",
            "client",
            {
                **c.settings,
                "rewrite": f"frame {c.dropped} (the client's pure ACK of the SYN+ACK) "
                "deleted; every other frame and timestamp unchanged",
            },
            [connection({"connect_s": None, "handshake_rtt_ms": None}, derived_note)],
            derived_from=c.name,
            notes=f"DERIVED, not captured: {c.name} with frame {c.dropped} deleted "
            "(tools/samplegen/scenarios/server_first.py drop_handshake_ack).",
            capture_format=TUN_HEADERS,
        ),
    ]
