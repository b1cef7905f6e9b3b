"""Orderly closes, RST closes, half-closes and connections still open at the end.

All on one lossless veth pair (client ns <-> server ns), captured at the client's eth0.
On a lossless veth nothing is retransmitted: a single in-flight segment gets its tail
loss probe only after >= 200 ms (TCP_DELACK_MAX is added to the PTO), and every exchange
here is acknowledged within microseconds, so the clean counts (all 0) are known.
"""

from __future__ import annotations

import time

from tools.samplegen import steps as st
from tools.samplegen.expected import ETHERNET, TUN_HEADERS, Conn, Expected, bound, clean
from tools.samplegen.netns import Lab, make_pair
from tools.samplegen.scenario import Ctx, run_pair

PORT = 40001


def closed_client_first(ctx: Ctx, net: int) -> list[Expected]:
    name = "closed-client-first.pcap"
    server = [
        *st.listen(),
        st.accept(),
        st.recv(100, "c"),
        st.send(1000, "c"),
        st.recv_eof("c"),
        st.close("c"),
    ]
    client = [*st.connect(f"10.{net}.0.2", PORT), st.send(100), st.recv(1000), st.close()]
    run_pair(ctx, net, name, client, server)
    return [
        Expected(
            name,
            "request/response, then the client closes first; the server closes after reading EOF",
            "client",
            {
                "client": "connect, send 100 B, read 1000 B, close()",
                "server": "accept, read, reply, read EOF, close()",
            },
            [
                Conn(
                    {"client_port": PORT},
                    "closed",
                    closer="client",
                    counts=clean(),
                    note="client's close() sends the first FIN; server answers with its own FIN after EOF",
                )
            ],
            capture_format=ETHERNET,
        )
    ]


def closed_server_first(ctx: Ctx, net: int) -> list[Expected]:
    name = "closed-server-first.pcap"
    server = [*st.listen(), st.accept(), st.recv(100, "c"), st.send(1000, "c"), st.close("c")]
    client = [
        *st.connect(f"10.{net}.0.2", PORT),
        st.send(100),
        st.recv(1000),
        st.recv_eof(),
        st.close(),
    ]
    run_pair(ctx, net, name, client, server)
    return [
        Expected(
            name,
            "request/response, the server replies and closes first; the client closes after EOF",
            "client",
            {
                "client": "connect, send 100 B, read until EOF, close()",
                "server": "accept, read, reply, close()",
            },
            [
                Conn(
                    {"client_port": PORT},
                    "closed",
                    closer="server",
                    counts=clean(),
                    note="server's close() right after its reply sends the first FIN",
                )
            ],
            capture_format=ETHERNET,
        )
    ]


def closed_simultaneous(ctx: Ctx, net: int) -> list[Expected]:
    """Both sides shut down while neither can see the other's FIN: the FINs cross.

    A cross cannot be forced by timing on a veth (a FIN is delivered within microseconds),
    so both namespaces drop *incoming* FINs in their nft input hook while both sides call
    shutdown(SHUT_WR). tcpdump taps before the input hook, so both first FINs are on the
    wire, each acknowledging none of the other's FIN (crossed). The rules are then removed
    and each side's RTO retransmits its FIN, which now arrives: both go FIN_WAIT_1 ->
    CLOSING -> TIME_WAIT (RFC 793 simultaneous close).
    """
    name = "closed-simultaneous.pcap"
    drop_fin = """table inet crossfin {
  chain in {
    type filter hook input priority 0;
    tcp flags & fin == fin drop
  }
}
"""
    with Lab(ctx.tag) as lab:
        pair = make_pair(lab, net)
        ctx.capture(pair.client, "eth0", name)
        srv = ctx.server(
            pair.server,
            [
                *st.listen(),
                st.accept(),
                st.recv(100, "c"),
                st.send(100, "c"),
                st.signal("ready"),
                st.wait("fin"),
                st.shutdown_wr("c"),
                st.recv_eof("c"),
                st.close("c"),
            ],
        )
        cli = ctx.actor(
            pair.client,
            [
                *st.connect(pair.server_ip, PORT),
                st.send(100),
                st.recv(100),
                st.signal("ready"),
                st.wait("fin"),
                st.shutdown_wr(),
                st.recv_eof(),
                st.close(),
            ],
            "client",
        )
        cli.expect("ready")
        srv.expect("ready")
        pair.client.nft(drop_fin)
        pair.server.nft(drop_fin)
        cli.tell("fin")
        time.sleep(0.01)
        srv.tell("fin")
        time.sleep(0.08)  # both FINs are on the wire and dropped at the receivers
        pair.client.nft_flush()
        pair.server.nft_flush()
        cli.expect("finished", timeout=10)
        srv.expect("finished", timeout=10)
        time.sleep(0.3)
        ctx.finish(cli, srv, linger=0.3)
    counts = clean(retransmits=bound(2, 4))
    return [
        Expected(
            name,
            "simultaneous close: both sides shutdown(SHUT_WR) while incoming FINs are dropped by nft, so the FINs cross",
            "client",
            {
                "nft": "both namespaces: input hook, tcp flags & fin == fin drop, for ~90 ms around the two shutdown() calls"
            },
            [
                Conn(
                    {"client_port": PORT},
                    "closed",
                    closer="both",
                    counts=counts,
                    note="the first FIN of each side acknowledges none of the other's FIN (crossed); each FIN is "
                    "retransmitted by RTO (>= 200 ms) once the nft rule is gone: 1 retransmission per side "
                    "expected, bound 2..4 in total because an RTO may fire before the rule removal",
                )
            ],
            notes="The crossing is made with nft (input-hook FIN drop), not by timing; tcpdump sees packets before "
            "the input hook, so the dropped FINs are on the wire.",
            capture_format=ETHERNET,
        )
    ]


def refused(ctx: Ctx, net: int) -> list[Expected]:
    name = "refused-no-listener.pcap"
    with Lab(ctx.tag) as lab:
        pair = make_pair(lab, net)
        ctx.capture(pair.client, "eth0", name)
        cli = ctx.actor(
            pair.client, st.connect(pair.server_ip, PORT, port=9, tolerate=True), "client"
        )
        cli.expect("finished")
        ctx.finish(cli, linger=0.3)
    counts = clean(resets=1)
    return [
        Expected(
            name,
            "connect() to a port with no listener",
            "client",
            {"server": "nothing listens on port 9"},
            [
                Conn(
                    {"client_port": PORT},
                    "refused",
                    reset_by="server",
                    counts=counts,
                    note="the server kernel answers the SYN with RST+ACK; connect() fails with ECONNREFUSED",
                )
            ],
            capture_format=ETHERNET,
            observed_by_sockets=ctx.socket_events(),
        )
    ]


def reset_linger0(ctx: Ctx, net: int) -> list[Expected]:
    name = "reset-client-linger0.pcap"
    server = [
        *st.listen(),
        st.accept(),
        st.recv(100, "c"),
        st.send(500, "c"),
        st.wait_error("c"),
    ]
    client = [
        *st.connect(f"10.{net}.0.2", PORT),
        st.send(100),
        st.recv(500),
        st.linger0(),
        st.close(),
    ]
    run_pair(ctx, net, name, client, server)
    counts = clean(resets=1)
    return [
        Expected(
            name,
            "abortive close: the client sets SO_LINGER {on, 0} and close()s",
            "client",
            {"client": "SO_LINGER l_onoff=1 l_linger=0, then close()"},
            [
                Conn(
                    {"client_port": PORT},
                    "reset",
                    reset_by="client",
                    counts=counts,
                    note="close() with linger 0 sends RST instead of FIN (tcp_disconnect); server's recv() gets ECONNRESET",
                )
            ],
            capture_format=ETHERNET,
            observed_by_sockets=ctx.socket_events(),
        )
    ]


def reset_linger0_after_client_fin(ctx: Ctx, net: int) -> list[Expected]:
    name = "reset-server-linger0-after-client-fin.pcap"
    # The exchange is over: the client close()s (FIN) and the server, on EOF, closes with
    # linger 0, as Windows services and some proxies end finished connections.
    server = [
        *st.listen(),
        st.accept(),
        st.recv(100, "c"),
        st.send(500, "c"),
        st.recv_eof("c"),
        st.linger0("c"),
        st.close("c"),
    ]
    client = [*st.connect(f"10.{net}.0.2", PORT), st.send(100), st.recv(500), st.close()]
    run_pair(ctx, net, name, client, server)
    return [
        Expected(
            name,
            "the client close()s a finished exchange; the server, on EOF, sets SO_LINGER {on, 0} "
            "and close()s: RST instead of its FIN",
            "client",
            {"server": "on EOF: SO_LINGER l_onoff=1 l_linger=0, then close()"},
            [
                Conn(
                    {"client_port": PORT},
                    "reset",
                    reset_by="server",
                    counts=clean(resets=1),
                    note="close() with linger 0 sends RST instead of FIN (tcp_disconnect) after "
                    "the client's FIN: every byte was acknowledged, nothing was cut short",
                    explanation_keywords=[
                        "answered the client's close",
                        "not a transfer cut short",
                    ],
                )
            ],
            capture_format=ETHERNET,
            observed_by_sockets=ctx.socket_events(),
        )
    ]


def reset_idle_timeout_linger0(ctx: Ctx, net: int) -> list[Expected]:
    """A keep-alive server that drops idle connections with an abortive close: the answer,
    2 s of silence, then the server's RST+ACK on its own (nothing of the client's to answer)."""
    name = "reset-idle-timeout-linger0.pcap"
    server = [
        *st.listen(),
        st.accept(),
        st.recv(100, "c"),
        st.send(500, "c"),
        st.sleep(2.0),
        st.linger0("c"),
        st.close("c"),
    ]
    client = [
        *st.connect(f"10.{net}.0.2", PORT),
        st.send(100),
        st.recv(500),
        st.wait_error(),
    ]
    run_pair(ctx, net, name, client, server)
    return [
        Expected(
            name,
            "a keep-alive server's idle timeout: after answering, 2 s of silence, then it sets "
            "SO_LINGER {on, 0} and close()s",
            "client",
            {"server": "sleeps 2 s after its answer, SO_LINGER l_onoff=1 l_linger=0, close()"},
            [
                Conn(
                    {"client_port": PORT},
                    "reset",
                    reset_by="server",
                    counts=clean(resets=1),
                    note="the RST+ACK answers no segment: the server's application aborted "
                    "(tcp_disconnect), 2 s after the last segment; the client's recv() gets "
                    "ECONNRESET",
                )
            ],
            capture_format=ETHERNET,
            observed_by_sockets=ctx.socket_events(),
        )
    ]


def reset_goodbye_after_close(ctx: Ctx, net: int) -> list[Expected]:
    """A server that answers the client's close with last words (an IRC "ERROR :Closing
    link", a TLS close_notify) and its own FIN; the client had close()d, so its kernel answers
    those bytes with RST. No race: the server wrote because the connection was closing."""
    name = "reset-goodbye-after-close.pcap"
    server = [
        *st.listen(),
        st.accept(),
        st.recv(100, "c"),
        st.send(100, "c"),
        st.recv_eof("c"),
        st.send(31, "c"),
        st.close("c"),
    ]
    client = [
        *st.connect(f"10.{net}.0.2", PORT),
        st.send(100),
        st.recv(100),
        st.sleep(1.5),
        st.close(),
    ]
    run_pair(ctx, net, name, client, server)
    return [
        Expected(
            name,
            "the client close()s an idle connection after 1.5 s; the server answers the EOF with "
            "31 B of last words and its FIN; the client's closed socket resets them",
            "client",
            {"server": "on EOF sends 31 B, then close()"},
            [
                Conn(
                    {"client_port": PORT},
                    "reset",
                    reset_by="client",
                    counts=clean(resets=1),
                    note="data reaching a close()d socket draws a RST (TcpExtTCPAbortOnData); the "
                    "server wrote in answer to the FIN (its data ACKs it, its FIN follows): not a "
                    "keep-alive race",
                )
            ],
            capture_format=ETHERNET,
            observed_by_sockets=ctx.socket_events(),
        )
    ]


def reset_unread(ctx: Ctx, net: int) -> list[Expected]:
    name = "reset-server-close-unread.pcap"
    # The server reads only the first 100 B; 400 B more are left unread when it close()s.
    server = [
        *st.listen(),
        st.accept(),
        st.recv(100, "c"),
        st.send(200, "c"),
        st.sleep(0.3),
        st.close("c"),
    ]
    client = [
        *st.connect(f"10.{net}.0.2", PORT),
        st.send(100),
        st.recv(200),
        st.send(400),
        st.wait_error(),
    ]
    run_pair(ctx, net, name, client, server)
    counts = clean(resets=1)
    return [
        Expected(
            name,
            "the server close()s with 400 B of received data unread",
            "client",
            {"server": "reads 100 of 500 received bytes, then close()"},
            [
                Conn(
                    {"client_port": PORT},
                    "reset",
                    reset_by="server",
                    counts=counts,
                    note="tcp_close(): unread data in the receive queue -> RST instead of FIN (RFC 2525 2.17)",
                )
            ],
            capture_format=ETHERNET,
            observed_by_sockets=ctx.socket_events(),
        )
    ]


def half_closed(ctx: Ctx, net: int) -> list[Expected]:
    name = "half-closed-client-shutdown.pcap"
    with Lab(ctx.tag) as lab:
        pair = make_pair(lab, net)
        ctx.capture(pair.client, "eth0", name)
        srv = ctx.server(
            pair.server, [*st.listen(), st.accept(), st.recv_eof("c"), st.send(300, "c")]
        )
        cli = ctx.actor(
            pair.client,
            [*st.connect(pair.server_ip, PORT), st.send(100), st.shutdown_wr(), st.recv(300)],
            "client",
        )
        cli.expect("finished")
        srv.expect("finished")
        time.sleep(1.0)  # the server keeps its side open; the capture ends first
        ctx.finish(cli, srv, linger=0.3)
    return [
        Expected(
            name,
            "client shutdown(SHUT_WR) after its request; the server replies but never closes",
            "client",
            {
                "client": "send 100 B, shutdown(SHUT_WR), read 300 B",
                "server": "read to EOF, send 300 B, keep socket open",
            },
            [
                Conn(
                    {"client_port": PORT},
                    "half_closed",
                    closer="client",
                    counts=clean(),
                    note="only the client's FIN is in the capture; the server's data after it is normal (CLOSE_WAIT)",
                )
            ],
            capture_format=ETHERNET,
        )
    ]


def open_idle(ctx: Ctx, net: int) -> list[Expected]:
    name = "open-idle-at-end.pcap"
    with Lab(ctx.tag) as lab:
        pair = make_pair(lab, net)
        ctx.capture(pair.client, "eth0", name)
        srv = ctx.server(
            pair.server, [*st.listen(), st.accept(), st.recv(100, "c"), st.send(100, "c")]
        )
        cli = ctx.actor(
            pair.client, [*st.connect(pair.server_ip, PORT), st.send(100), st.recv(100)], "client"
        )
        cli.expect("finished")
        time.sleep(1.5)
        ctx.finish(cli, srv, linger=0.3)
    return [
        Expected(
            name,
            "one request/response, then the connection stays idle until the capture ends",
            "client",
            {"keepalive": "off"},
            [
                Conn(
                    {"client_port": PORT},
                    "open",
                    counts=clean(),
                    note="no FIN, no RST: both sockets are still ESTABLISHED when tcpdump stops",
                )
            ],
            capture_format=ETHERNET,
        )
    ]


def open_midstream(ctx: Ctx, net: int) -> list[Expected]:
    """tcpdump starts after two connections were established and had exchanged data."""
    name = "midstream-start.pcap"
    a, b = PORT, PORT + 1
    with Lab(ctx.tag) as lab:
        pair = make_pair(lab, net)
        srv = ctx.server(
            pair.server,
            [
                *st.listen(),
                st.accept("a"),
                st.accept("b"),
                st.recv(1000, "a"),
                st.recv(1000, "b"),
                st.send(1000, "a"),
                st.send(1000, "b"),
                st.wait("more"),
                st.recv(500, "a"),
                st.recv(500, "b"),
                st.send(500, "a"),
                st.send(500, "b"),
                st.recv_eof("a"),
                st.close("a"),
            ],
        )
        cli = ctx.actor(
            pair.client,
            [
                *st.connect(pair.server_ip, a, sock="a"),
                *st.connect(pair.server_ip, b, sock="b"),
                st.send(1000, "a"),
                st.send(1000, "b"),
                st.recv(1000, "a"),
                st.recv(1000, "b"),
                st.signal("warm"),
                st.wait("more"),
                st.send(500, "a"),
                st.send(500, "b"),
                st.recv(500, "a"),
                st.recv(500, "b"),
                st.close("a"),
            ],
            "client",
        )
        cli.expect("warm")
        time.sleep(0.3)
        ctx.capture(pair.client, "eth0", name)
        cli.tell("more")
        srv.tell("more")
        cli.expect("finished")
        srv.expect("finished")
        time.sleep(0.5)
        ctx.finish(cli, srv, linger=0.3)
    return [
        Expected(
            name,
            "capture starts mid-connection: two connections established and used before tcpdump started",
            "client",
            {"tcpdump": "started 0.3 s after both handshakes and a 1000 B exchange each"},
            [
                Conn(
                    {"client_port": a},
                    "closed",
                    closer="client",
                    counts=clean(),
                    note="no SYN in the capture; 500 B each way, then the client closes, the server closes after EOF",
                ),
                Conn(
                    {"client_port": b},
                    "open",
                    counts=clean(),
                    note="no SYN in the capture; 500 B each way, then idle until the capture ends",
                ),
            ],
            notes="Client/server roles here are known from the scenario; from the capture alone they must be guessed "
            "(server port 8080, client ports 40001/40002).",
            capture_format=ETHERNET,
        )
    ]


def reset_after_fin(ctx: Ctx, net: int) -> list[Expected]:
    """The server replies and close()s; the client, not having read the FIN, sends more data.

    The server socket is fully closed (orphaned in FIN_WAIT_2): data arriving after the
    application closed the receive side is answered with RST (tcp_rcv_state_process(),
    'data after close' -> tcp_reset + RST, LINUX_MIB_TCPABORTONDATA).
    """
    name = "reset-data-after-server-fin.pcap"
    server = [*st.listen(), st.accept(), st.recv(100, "c"), st.send(200, "c"), st.close("c")]
    client = [
        *st.connect(f"10.{net}.0.2", PORT),
        st.send(100),
        st.recv(200),
        st.sleep(0.2),
        st.send(300),
        st.sleep(0.2),
        st.wait_error(),
    ]
    run_pair(ctx, net, name, client, server)
    return [
        Expected(
            name,
            "server replies and close()s; the client then sends 300 B more; the server answers RST",
            "client",
            {
                "server": "close() right after its reply",
                "client": "send 300 B 0.2 s after the server's FIN",
            },
            [
                Conn(
                    {"client_port": PORT},
                    "reset",
                    reset_by="server",
                    counts=clean(resets=1),
                    note="FIN from the server first, the client never sends FIN; its later data hits a closed socket "
                    "and the server kernel answers RST. Not 'closed' (one FIN only) and not 'half_closed' "
                    "(a RST ended it): reset by the server",
                )
            ],
            capture_format=ETHERNET,
            observed_by_sockets=ctx.socket_events(),
        )
    ]


#: Two answers to a closed socket: the server's data and its FIN, each drawing a RST.
TWO_RSTS_ONE_WAY_S = 0.010
TWO_RSTS_PORT = 40135
TWO_RSTS_DATA_B = 31


def two_rsts_after_close(ctx: Ctx, net: int) -> list[Expected]:
    """The client sends a request and close()s; once its FIN arrives the server writes 31 B
    and close()s: its data and its FIN leave back to back, a round trip (10 ms each way, a
    tun link) before the client's answers come back.

    The client socket, orphaned in FIN_WAIT, takes data after its application closed: it
    resets (TCPAbortOnData) and answers the data with a RST; the FIN then finds no socket
    and draws a RST of its own (tcp_v4_send_reset). Both RSTs carry seq = the server
    segment's ACK number (neither ACKed anything new), no ACK flag and IP ID 0 (Linux
    sends DF packets without a socket with 0): byte for byte the same, two packets. At the
    server they arrive microseconds apart with nothing between (audit-kernel46 s13, where
    pcapline took the second for a copy)."""
    from tools.samplegen.scenarios.linktypes import tun_pair

    names = [f"reset-twice-data-and-fin-after-close-at-{w}.pcap" for w in ("client", "server")]
    server: list[st.Step] = [
        *st.listen(),
        st.accept("c"),
        st.recv(100, "c"),
        st.recv_eof("c"),
        st.send(TWO_RSTS_DATA_B, "c"),
        st.close("c"),
    ]
    client: list[st.Step] = [
        *st.connect(f"192.168.{net}.2", TWO_RSTS_PORT),
        st.send(100),
        st.close(),
        st.sleep(0.3),
        st.signal("done"),
    ]
    with Lab(ctx.tag) as lab:
        c, s = tun_pair(ctx, lab, net, delay_s=TWO_RSTS_ONE_WAY_S)
        ctx.capture(c, "tun0", names[0], "-s", "96")
        ctx.capture(s, "tun0", names[1], "-s", "96")
        srv = ctx.server(s, server)
        ctx.run_client(c, client, srv, timeout=10, until="done")
        ctx.cleanup()
    return [
        Expected(
            name,
            f"the client sends 100 B and close()s; after its FIN the server sends "
            f"{TWO_RSTS_DATA_B} B and close()s; each of the two reaches a client socket that is "
            f"gone and draws a RST (identical, IP ID 0); captured at the {where}",
            where,
            {
                "link": f"tun, {TWO_RSTS_ONE_WAY_S * 1000:.0f} ms one-way delay in the forwarder",
                "client": "send 100 B, close()",
                "server": f"read to EOF, send {TWO_RSTS_DATA_B} B, close()",
            },
            [
                Conn(
                    {"client_port": TWO_RSTS_PORT},
                    "closed" if where == "server" else "reset",
                    closer="client" if where == "server" else None,
                    reset_by="client",
                    counts=clean(resets=2),
                    note="two RSTs, one per server segment (the data: TCPAbortOnData; the FIN: "
                    "no socket), the same bytes and IP ID 0: two packets, neither a copy. "
                    + (
                        "At the server both FINs left before either RST came back: a close "
                        "that RSTs followed"
                        if where == "server"
                        else "At the client the first RST (the socket aborted on the data) "
                        "leaves before the server's FIN arrives: reset by the client"
                    ),
                )
            ],
            capture_format=TUN_HEADERS,
        )
        for name, where in zip(names, ("client", "server"), strict=True)
    ]


def stale_peer_challenge_ack(ctx: Ctx, net: int) -> list[Expected]:
    """The client host 'reboots' (its socket vanishes silently) and reconnects from the same port.

    1. Connection A (client port 40001) exchanges data and stays open.
    2. nft drops the client's output while the client aborts A with SO_LINGER {1,0}: the RST never
       leaves, the client forgets A, the server still has A ESTABLISHED (a half-open peer).
    3. The rule goes; a new socket binds 40001 and connects: the SYN (new ISN) hits the server's
       ESTABLISHED A, which answers with a challenge ACK (RFC 5961 4.2; the ACK carries A's
       sequence numbers). The client, in SYN_SENT, answers that unacceptable ACK with a RST
       (seq = the ACK's ack number), which resets A on the server (its recv() -> ECONNRESET).
    4. The client's SYN is retransmitted almost at once - tcp_rcv_synsent_state_process() re-arms
       the SYN timer with TCP_TIMEOUT_MIN after an unacceptable ACK ("previous FIN/ACK or RST/ACK
       might be ignored") - and now opens connection B normally.
    """
    name = "stale-peer-challenge-ack.pcap"
    block = """table inet silent {
  chain out {
    type filter hook output priority 0;
    meta l4proto tcp drop
  }
}
"""
    linger0: st.Step = st.linger0("a")
    with Lab(ctx.tag) as lab:
        pair = make_pair(lab, net)
        ctx.capture(pair.client, "eth0", name)
        srv = ctx.server(
            pair.server,
            [
                *st.listen(),
                st.accept("a"),
                st.recv(100, "a"),
                st.send(100, "a"),
                st.wait_error("a"),
                st.accept("b"),
                st.recv(100, "b"),
                st.send(1000, "b"),
                st.recv_eof("b"),
                st.close("b"),
            ],
        )
        cli = ctx.actor(
            pair.client,
            [
                *st.connect(pair.server_ip, PORT, sock="a"),
                st.send(100, "a"),
                st.recv(100, "a"),
                st.signal("a_up"),
                st.wait("crash"),
                linger0,
                st.close("a"),
                st.signal("forgotten"),
                st.wait("reconnect"),
                *st.echo_client(pair.server_ip, PORT, sock="b"),
            ],
            "client",
        )
        cli.expect("a_up")
        time.sleep(0.3)
        pair.client.nft(block)
        cli.tell("crash")
        cli.expect("forgotten")
        time.sleep(0.1)
        pair.client.nft_flush()
        cli.tell("reconnect")
        cli.expect("finished", timeout=10)
        srv.expect("finished", timeout=10)
        ctx.finish(cli, srv, linger=0.3)
    return [
        Expected(
            name,
            "half-open server connection met by a reconnect from the same client port: challenge ACK, "
            "client RST, SYN retry",
            "client",
            {
                "client": "aborts connection A while nft drops its output (RST never sent), reconnects from port 40001",
                "server": "still ESTABLISHED on A when the new SYN arrives",
            },
            [
                Conn(
                    {"index": 0},
                    "reset",
                    reset_by="client",
                    counts=clean(resets=1),
                    note="connection A: 100 B each way, then silence; it ends when the server's challenge ACK (in "
                    "A's sequence space) draws a RST from the client, which resets A on the server "
                    "(server recv() -> ECONNRESET)",
                ),
                Conn(
                    {"index": 1},
                    "closed",
                    closer="client",
                    counts=clean(syn_retransmits=1),
                    note="connection B: its first SYN was answered by the challenge ACK (not a refusal, not a "
                    "SYN+ACK); the same SYN (same ISN) is retransmitted a few ms later (TCP_TIMEOUT_MIN after "
                    "an unacceptable ACK in SYN_SENT) and opens B; 100 B / 1000 B; client closes first",
                ),
            ],
            notes="Both connections share the 4-tuple; rows are matched by index. The challenge ACK and the "
            "client's RST carry connection A's sequence numbers although they follow B's first SYN in "
            "time: by sequence space they belong to A (Wireshark 4.0 puts both into stream 1, B). "
            "tcp-facts.md: 'A SYN answered by a bare ACK ... followed by a client RST and a SYN retry, is "
            "stale peer state, not a refusal'.",
            capture_format=ETHERNET,
            observed_by_sockets=ctx.socket_events(),
            known_tshark_differences=[
                "{'index': 0}: resets=0, expected 1",
                "{'index': 0}: no RST from client",
                "{'index': 1}: resets=1, expected 0",
            ],
        )
    ]
