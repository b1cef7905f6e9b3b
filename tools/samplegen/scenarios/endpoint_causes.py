"""Endpoint causes (issue 9, section 2): why a host ended a connection, as on-call meets it.

Each scenario makes the cause with real sockets and per-namespace sysctls / nftables, and
captures it where the scenario says (client, server or both), so the expected cause and the
words its explanation must hold are known from how it was built:

- a peer that lost all state (crash, reboot, failover): its socket vanishes without a FIN or
  RST reaching the other side, and the other side's next segment draws a RST from the kernel
  that no longer knows the 4-tuple (tcp_v4_send_reset / tcp_v6_send_reset: no socket ->
  RST with seq = the segment's ACK number, no ACK flag, RFC 793 "Reset Generation" 1);
- an orphaned FIN_WAIT2: the closer called close() (orphan) with net.ipv4.tcp_fin_timeout 3;
  the peer's late data draws a RST (data after close, or no socket once the timer freed it),
  and its late FIN draws a RST only once the socket is gone (FIN_WAIT2 would accept it);
- the application gave up waiting: the request is acknowledged by the server's kernel, the
  server's application never answers, the client closes (FIN) or aborts (RST) after 3 s;
- the keep-alive race: the server closes a connection idle for 2 s while the client sends a
  new request on it; the request reaches a closed socket and draws a RST.
"""

from __future__ import annotations

import time

from tools.samplegen import steps as st
from tools.samplegen.expected import ETHERNET, TUN_HEADERS, Conn, Expected, bound, clean
from tools.samplegen.netns import Lab, isolate_host_script, make_pair
from tools.samplegen.scenario import Ctx

PORT = 40001

#: nft rule: the host sends no TCP RST and no FIN (its socket dies without telling the peer).
SILENT_DEATH = """table inet silent {
  chain out {
    type filter hook output priority 0;
    tcp flags & (rst | fin) != 0 drop
  }
}
"""

#: nft rule: the host does not receive FINs (the peer's FIN is on the wire, the socket does
#: not see it: the client's request crosses the server's FIN).
DEAF_TO_FIN = """table inet deaf {
  chain in {
    type filter hook input priority 0;
    tcp flags & fin == fin drop
  }
}
"""


def peer_lost_state(ctx: Ctx, net: int) -> list[Expected]:
    """IPv6. Exchange, the server's socket dies silently, the client's next request draws RST.

    The server aborts its socket (SO_LINGER {1, 0}: the socket is freed at once) while an
    output rule drops its RST, so the client never hears of it: on the wire it is a crash or
    reboot. The rule is removed and the listener stays (the restarted service). 2 s later the
    client sends 100 B; the server kernel has no socket for the 4-tuple and answers with RST
    (seq = the segment's ACK number, no ACK bit). Captured at both ends (same packets).
    """
    at_client = "peer-lost-state-ipv6-at-client.pcap"
    at_server = "peer-lost-state-ipv6-at-server.pcap"
    with Lab(ctx.tag) as lab:
        pair = make_pair(lab, net, ipv6=True)
        assert pair.server_ip6 is not None
        ctx.capture(pair.client, "eth0", at_client, "tcp")
        ctx.capture(pair.server, "eth0", at_server, "tcp")
        srv = ctx.server(
            pair.server,
            [
                *st.listen(family=6),
                st.accept(),
                st.recv(100, "c"),
                st.send(100, "c"),
                st.signal("served"),
                st.wait("crash"),
                st.linger0("c"),
                st.close("c"),
                st.signal("crashed"),
            ],
        )
        cli = ctx.actor(
            pair.client,
            [
                *st.connect(pair.server_ip6, PORT, family=6),
                st.send(100),
                st.recv(100),
                st.signal("idle"),
                st.wait("request"),
                st.send(100),
                st.wait_error(),
            ],
            "client",
        )
        cli.expect("idle")
        srv.expect("served")
        pair.server.nft(SILENT_DEATH)
        srv.tell("crash")
        srv.expect("crashed")
        time.sleep(0.3)
        pair.server.nft_flush()
        time.sleep(1.7)
        cli.tell("request")
        cli.expect("wait_error")
        ctx.finish(cli, srv, linger=0.5)
    events = ctx.socket_events()
    settings = {
        "server": "SO_LINGER {1, 0} close() 0.3 s after the exchange with an nft output rule "
        "dropping its RST/FIN (the socket is gone, the client is not told); rule removed",
        "client": "100 B request, 100 B reply, idle ~2 s, then 100 B more",
    }
    conn = Conn(
        {"client_port": PORT},
        "reset",
        reset_by="server",
        counts=clean(resets=1),
        cause="peer_lost_state",
        explanation_keywords=["no longer knew", "seq", "reboot", "abort"],
        note="the client's segment after ~2 s idle reaches a server kernel without a socket for "
        "the 4-tuple: RST without ACK, its seq = the segment's ACK number (tcp_v6_send_reset); "
        "send()/recv() report ECONNRESET",
    )
    return [
        Expected(
            name,
            "IPv6: the server's socket vanishes without a FIN/RST reaching the client (crash, "
            "reboot, failover); the client's next request draws a RST",
            where,
            settings,
            [conn],
            capture_format={**ETHERNET, "filter": "tcp"},
            observed_by_sockets=events,
        )
        for name, where in ((at_client, "client"), (at_server, "server"))
    ]


def orphaned_fin_wait2(ctx: Ctx, net: int) -> list[Expected]:
    """The server close()s two connections after its reply; tcp_fin_timeout is 3 s there.

    Both server sockets are orphans in FIN_WAIT2 (the client ACKed the FINs but, its
    application idle, sends no FIN: CLOSE_WAIT). 5 s later (past the 3 s fin timeout, which
    frees the FIN_WAIT2 socket, tcp_fin_time()) the client writes 100 B on the first (RST:
    no socket) and close()s the second (its FIN draws a RST: a FIN_WAIT2 socket would have
    accepted it and gone to TIME_WAIT). Captured at the client.
    """
    name = "orphaned-fin-wait2-fin-timeout-3s.pcap"
    second = PORT + 1
    with Lab(ctx.tag) as lab:
        pair = make_pair(lab, net)
        pair.server.sysctl("net.ipv4.tcp_fin_timeout", 3)
        ctx.capture(pair.client, "eth0", name, "tcp")
        srv = ctx.server(
            pair.server,
            [
                *st.listen(),
                st.accept("c0"),
                st.recv(100, "c0"),
                st.send(100, "c0"),
                st.close("c0"),
                st.accept("c1"),
                st.recv(100, "c1"),
                st.send(100, "c1"),
                st.close("c1"),
            ],
        )
        cli = ctx.actor(
            pair.client,
            [
                *st.connect(pair.server_ip, PORT, sock="a"),
                st.send(100, "a"),
                st.recv(100, "a"),
                *st.connect(pair.server_ip, second, sock="b"),
                st.send(100, "b"),
                st.recv(100, "b"),
                st.signal("close_wait"),
                st.sleep(5.0),
                st.send(100, "a"),
                st.close("b"),
                st.wait_error("a"),
            ],
            "client",
        )
        cli.expect("wait_error", timeout=20)
        ctx.finish(cli, srv, linger=0.5)
    settings = {
        "server": {"net.ipv4.tcp_fin_timeout": 3, "app": "reply 100 B, close()"},
        "client": "100 B request, reads the reply, then idle 5 s in CLOSE_WAIT; then 100 B on "
        f"port {PORT}, close() on port {second}",
    }
    return [
        Expected(
            name,
            "the server closed (orphaned FIN_WAIT2, tcp_fin_timeout 3 s); the client's late "
            "data and late FIN, 5 s later, draw RSTs",
            "client",
            settings,
            [
                Conn(
                    {"client_port": PORT},
                    "reset",
                    reset_by="server",
                    counts=clean(resets=1),
                    cause="orphaned_fin_wait2",
                    explanation_keywords=["tcp_fin_timeout", "FIN_WAIT2", "CLOSE_WAIT", "5"],
                    note="server FIN acknowledged; 5 s later the client's 100 B reach no socket "
                    "(freed 3 s after the FIN): RST",
                ),
                Conn(
                    {"client_port": second},
                    "closed",
                    closer="server",
                    reset_by="server",
                    counts=clean(resets=1),
                    cause="orphaned_fin_wait2",
                    explanation_keywords=["tcp_fin_timeout", "FIN_WAIT2", "gone"],
                    note="server FIN acknowledged; the client's FIN 5 s later reaches no socket "
                    "(a FIN_WAIT2 socket would have ACKed it): RST",
                ),
            ],
            capture_format={**ETHERNET, "filter": "tcp"},
            observed_by_sockets=ctx.socket_events(),
        )
    ]


def app_gave_up(ctx: Ctx, net: int) -> list[Expected]:
    """The server reads two requests and never answers; the client waits 3 s, then gives up.

    On the first connection the client close()s (FIN; the server, reading EOF, closes too),
    on the second it aborts (SO_LINGER {1, 0}: RST). The server's kernel ACKs each request
    at once (the delayed ACK). Captured at the client and at the server.
    """
    at_client = "app-gave-up-3s-at-client.pcap"
    at_server = "app-gave-up-3s-at-server.pcap"
    second = PORT + 1
    with Lab(ctx.tag) as lab:
        pair = make_pair(lab, net)
        ctx.capture(pair.client, "eth0", at_client, "tcp")
        ctx.capture(pair.server, "eth0", at_server, "tcp")
        srv = ctx.server(
            pair.server,
            [
                *st.listen(),
                st.accept("c0"),
                st.recv(100, "c0"),
                st.accept("c1"),
                st.recv(100, "c1"),
                st.recv_eof("c0"),
                st.close("c0"),
                st.wait_error("c1"),
            ],
        )
        ctx.run_client(
            pair.client,
            [
                *st.connect(pair.server_ip, PORT, sock="a"),
                st.send(100, "a"),
                st.sleep(3.0),
                st.close("a"),
                *st.connect(pair.server_ip, second, sock="b", opts=[st.opt("SO_LINGER", [1, 0])]),
                st.send(100, "b"),
                st.sleep(3.0),
                st.close("b"),
            ],
            srv,
            timeout=20,
        )
    settings = {
        "client": "100 B request, waits 3 s for an answer that never comes, then close() "
        f"(port {PORT}) or SO_LINGER {{1, 0}} close() (port {second})",
        "server": "reads the requests, never answers; closes the first after EOF",
    }
    conns = [
        Conn(
            {"client_port": PORT},
            "closed",
            closer="client",
            counts=clean(),
            cause="app_gave_up",
            explanation_keywords=["3", "client", "server", "no response", "timeout"],
            note="request ACKed by the server kernel, no answer; the client's FIN 3 s later",
        ),
        Conn(
            {"client_port": second},
            "reset",
            reset_by="client",
            counts=clean(resets=1),
            cause="app_gave_up",
            explanation_keywords=["3", "client", "server", "no response", "timeout"],
            note="request ACKed, no answer; the client's abortive close (RST+ACK) 3 s later",
        ),
    ]
    return [
        Expected(
            name,
            "the server acknowledges the request and never answers; the client gives up "
            "after 3 s (close, then abort)",
            where,
            settings,
            conns,
            capture_format={**ETHERNET, "filter": "tcp"},
            observed_by_sockets=ctx.socket_events(),
        )
        for name, where in ((at_client, "client"), (at_server, "server"))
    ]


def app_gave_up_late_answer(ctx: Ctx, net: int) -> list[Expected]:
    """The client gives up waiting and closes; the server's answer comes after it.

    The server reads the 100 B request (its kernel ACKs it at once) and answers 3 s later;
    the client waits 1.5 s, then close()s (FIN, acknowledged: its orphaned socket sits in
    FIN_WAIT2). The late answer reaches the orphan, which answers data with RST (no ACK bit,
    seq = the answer's ACK number: tcp_rcv_state_process, TcpExtTCPAbortOnData). The RST is
    the orphan's, but the client gave up: the answer was owed, not a CLOSE_WAIT write.
    Captured at the client, headers only (``-s 96``).
    """
    name = "app-gave-up-late-answer-at-client.pcap"
    with Lab(ctx.tag) as lab:
        pair = make_pair(lab, net)
        ctx.capture(pair.client, "eth0", name, "-s", "96", "tcp")
        srv = ctx.server(
            pair.server,
            [
                *st.listen(),
                st.accept("c0"),
                st.recv(100, "c0"),
                st.sleep(3.0),
                st.send(200, "c0"),
                st.wait_error("c0"),
            ],
        )
        cli = ctx.actor(
            pair.client,
            [
                *st.connect(pair.server_ip, PORT, sock="a"),
                st.send(100, "a"),
                st.sleep(1.5),
                st.close("a"),
            ],
            "client",
        )
        cli.expect("finished", timeout=20)
        srv.expect("wait_error", timeout=20)
        ctx.finish(cli, srv, linger=0.5)
    settings = {
        "client": "100 B request, waits 1.5 s, then close()",
        "server": "reads the request, answers 200 B 3 s later",
    }
    return [
        Expected(
            name,
            "the client gives up after 1.5 s and closes; the server's answer 1.5 s after the "
            "client's FIN draws its orphaned socket's RST",
            "client",
            settings,
            [
                Conn(
                    {"index": 0},
                    "reset",
                    reset_by="client",
                    counts=clean(resets=1),
                    cause="app_gave_up",
                    explanation_keywords=["gave up", "still owed", "orphan"],
                    note="request ACKed; the client's FIN 1.5 s later; the server's answer 1.5 s "
                    "after it; the orphan's RST (no ACK, seq = the answer's ACK number)",
                ),
            ],
            capture_format={**ETHERNET, "tool": "tcpdump -s 96", "snaplen": 96, "filter": "tcp"},
            observed_by_sockets=ctx.socket_events(),
        )
    ]


def keepalive_race(ctx: Ctx, net: int) -> list[Expected]:
    """The server closes a connection idle for 2 s while the client sends a new request.

    The race is made certain: the client's input hook drops FINs, so the server's FIN is on
    the wire but the client's socket has not seen it when it sends its request (the request
    does not acknowledge the FIN: they crossed). The server's socket, closed (orphan in
    FIN_WAIT1), answers the data with RST (tcp_rcv_state_process, TcpExtTCPAbortOnData).
    Captured at the server.
    """
    name = "keepalive-race-idle-close-at-server.pcap"
    with Lab(ctx.tag) as lab:
        pair = make_pair(lab, net)
        ctx.capture(pair.server, "eth0", name, "tcp")
        srv = ctx.server(
            pair.server,
            [
                *st.listen(),
                st.accept(),
                st.recv(100, "c"),
                st.send(1000, "c"),
                st.signal("served"),
                st.wait("idle_timeout"),
                st.close("c"),
            ],
        )
        cli = ctx.actor(
            pair.client,
            [
                *st.connect(pair.server_ip, PORT),
                st.send(100),
                st.recv(1000),
                st.signal("idle"),
                st.wait("request"),
                st.send(100),
                st.wait_error(),
            ],
            "client",
        )
        cli.expect("idle")
        srv.expect("served")
        time.sleep(2.0)
        pair.client.nft(DEAF_TO_FIN)
        srv.tell("idle_timeout")
        srv.expect("finished")
        time.sleep(0.005)
        cli.tell("request")
        cli.expect("wait_error")
        pair.client.nft_flush()
        ctx.finish(cli, srv, linger=0.5)
    return [
        Expected(
            name,
            "keep-alive race: the server closes a connection idle for 2 s while the client "
            "sends a new request on it",
            "server",
            {
                "server": "100 B request, 1000 B reply, close() after 2 s idle",
                "client": "new 100 B request right after the server's FIN left (client input "
                "drops FINs, so its request does not acknowledge the FIN)",
            },
            [
                Conn(
                    {"client_port": PORT},
                    "reset",
                    reset_by="server",
                    counts=clean(resets=1),
                    cause="keepalive_race",
                    explanation_keywords=["idle", "keep-alive", "retry", "2"],
                    note="server FIN after 2 s idle; the client's request crosses it and is "
                    "answered with RST",
                )
            ],
            capture_format={**ETHERNET, "filter": "tcp"},
            observed_by_sockets=ctx.socket_events(),
        )
    ]


#: The keep-alive race over a long path: each way's delay in the tun forwarder (a 200 ms
#: round trip), and how long after the server's FIN left the client sends its request (the
#: FIN is then still on its way: the request crosses it, with no rule holding the FIN back).
RACE_ONE_WAY_S = 0.1
RACE_REQUEST_AFTER_FIN_S = 0.04


def keepalive_race_long_path(ctx: Ctx, net: int) -> list[Expected]:
    """The keep-alive race over a 200 ms round trip, captured at the client.

    A tun link whose forwarder holds each packet ``RACE_ONE_WAY_S`` (100 ms) each way. The
    server answers a request, idles 2 s and close()s; 40 ms after its FIN left, the client
    sends a new request. Nothing is dropped: the FIN is still on its way, so the request does
    not acknowledge it, and the FIN does not acknowledge the request. The request reaches the
    closed socket (orphan in FIN_WAIT1) 140 ms after the FIN left, which answers it with RST
    (tcp_rcv_state_process, TcpExtTCPAbortOnData; tcp_v4_send_reset: no ACK bit, seq = the
    request's ACK number). At the client that RST comes a round trip after the request, and
    the client's ACK of the FIN, sent when the FIN arrived, lies between them: the RST and
    that ACK crossed. (The ACK then draws the server's second RST, for a socket already gone.)
    """
    from tools.samplegen.scenarios.linktypes import tun_pair

    name = "keepalive-race-idle-close-200ms-path-at-client.pcap"
    port = PORT + 1
    with Lab(ctx.tag) as lab:
        c, s = tun_pair(ctx, lab, net, delay_s=RACE_ONE_WAY_S)
        ctx.capture(c, "tun0", name, "-s", "96", "tcp")  # headers only: the folder stays small
        srv = ctx.server(
            s,
            [
                *st.listen(),
                st.accept(),
                st.recv(100, "c"),
                st.send(500, "c"),
                st.signal("served"),
                st.wait("idle_timeout"),
                st.close("c"),
            ],
        )
        cli = ctx.actor(
            c,
            [
                *st.connect(f"192.168.{net}.2", port),
                st.send(100),
                st.recv(500),
                st.signal("idle"),
                st.wait("request"),
                st.send(100),
                st.wait_error(),
            ],
            "client",
        )
        cli.expect("idle", timeout=10)
        srv.expect("served")
        time.sleep(2.0)
        srv.tell("idle_timeout")
        srv.expect("finished")
        time.sleep(RACE_REQUEST_AFTER_FIN_S)
        cli.tell("request")
        cli.expect("wait_error", timeout=10)
        ctx.finish(cli, srv, linger=0.8)  # the second RST comes 300 ms after the first
        ctx.cleanup()
    rtt_ms = 2 * RACE_ONE_WAY_S * 1000
    return [
        Expected(
            name,
            f"keep-alive race over a {rtt_ms:.0f} ms round trip: the server closes a connection "
            "idle for 2 s while the client's new request is on its way; captured at the client",
            "client",
            {
                "link": f"tun, {RACE_ONE_WAY_S * 1000:.0f} ms one-way delay in the forwarder",
                "server": "100 B request, 500 B reply, close() after 2 s idle",
                "client": f"new 100 B request {RACE_REQUEST_AFTER_FIN_S * 1000:.0f} ms after "
                "the server's FIN left (the FIN still on its way: nothing dropped)",
            },
            [
                Conn(
                    {"client_port": port},
                    "reset",
                    reset_by="server",
                    counts=clean(resets=2),  # the answer to the request, then to the ACK
                    cause="keepalive_race",
                    explanation_keywords=[
                        "idle",
                        "keep-alive",
                        "retry",
                        "2",
                        "sent before the FIN reached it",
                    ],
                    note="the request leaves before the server's FIN arrives; the server's RST "
                    "(no ACK, seq = the request's ACK number) comes after the client's ACK of "
                    "the FIN, which crossed it",
                )
            ],
            capture_format={**TUN_HEADERS, "filter": "tcp"},
            observed_by_sockets=ctx.socket_events(),
        )
    ]


def syn_cookies_forced(ctx: Ctx, net: int) -> list[Expected]:
    """IPv6, server tcp_syncookies=2 (every SYN answered with a cookie), client timestamps off.

    Without timestamps a cookie cannot carry SACK or window scaling (cookie_init_timestamp
    stores them in the TSval), so the SYN+ACK has MSS only although the SYN offered both; a
    server with SACK and window scaling off looks the same, so nothing may claim cookies from
    this alone. The handshake completes (cookie_v6_check), the exchange and close are normal:
    a cookie is not a listen overflow. Captured at the server.
    """
    name = "syn-cookies-forced-ipv6-at-server.pcap"
    with Lab(ctx.tag) as lab:
        pair = make_pair(lab, net, ipv6=True)
        assert pair.server_ip6 is not None
        pair.server.sysctl("net.ipv4.tcp_syncookies", 2)
        pair.client.sysctl("net.ipv4.tcp_timestamps", 0)
        ctx.capture(pair.server, "eth0", name, "tcp")
        srv = ctx.server(pair.server, st.echo_server(family=6))
        cli = ctx.actor(pair.client, st.echo_client(pair.server_ip6, PORT, family=6), "client")
        cli.expect("finished")
        srv.expect("finished")
        ctx.finish(cli, srv, linger=0.5)
        cookies = pair.server.nstat("TcpExtSyncookiesSent", "TcpExtSyncookiesRecv")
    return [
        Expected(
            name,
            "IPv6: the server answers with a SYN cookie (tcp_syncookies=2), the client has "
            "timestamps off; the connection completes and closes normally",
            "server",
            {
                "server": {"net.ipv4.tcp_syncookies": 2},
                "client": {"net.ipv4.tcp_timestamps": 0},
            },
            [
                Conn(
                    {"client_port": PORT},
                    "closed",
                    closer="client",
                    counts=clean(),
                    note="cookie SYN+ACK (MSS only), handshake completed from the cookie; 100 B "
                    "request, 1000 B reply, client closes first. Not a listen overflow. "
                    f"Server counters: {cookies}",
                )
            ],
            capture_format={**ETHERNET, "filter": "tcp"},
            observed_by_sockets=ctx.socket_events(),
        )
    ]


def syn_flood_cookies_and_a_client(ctx: Ctx, net: int) -> list[Expected]:
    """A SYN flood fills the SYN queue; the listener answers later SYNs with cookies, and a
    normal client that comes during the flood completes its handshake from a cookie.

    Flood: 20 handshakes from ports 44000..44019 whose final ACK the client's output hook drops
    (a SYN flood as the server sees it). The server (listen backlog 8, tcp_synack_retries 2,
    tcp_syncookies 1) keeps a request socket per SYN until the SYN queue is over the backlog and
    retransmits those SYN+ACKs; from then on it answers with SYN cookies, never retransmitted
    (tcp_conn_request: inet_csk_reqsk_queue_is_full -> want_cookie). Then a normal client on
    port 40001 connects (a cookie too), sends 100 B, reads 1000 B and closes. The capture holds
    completed traffic, so it is no flag-filtered capture, and the same listener retried other
    SYN+ACKs: the unretried ones had no request socket. Captured at the server.
    """
    name = "syn-flood-cookies-and-a-client-at-server.pcap"
    count, first = 20, 44000
    drop_flood_acks = f"""table inet flood {{
  chain out {{
    type filter hook output priority 0;
    tcp dport 8080 tcp sport {first}-{first + count - 1} tcp flags & (syn | ack) != syn drop
  }}
}}
"""
    with Lab(ctx.tag) as lab:
        pair = make_pair(lab, net)
        pair.server.sysctl("net.ipv4.tcp_synack_retries", 2)
        pair.server.sysctl("net.ipv4.tcp_syncookies", 1)
        pair.client.nft(drop_flood_acks)
        srv = ctx.server(
            pair.server,
            [
                *st.listen(backlog=8),
                st.accept(),
                st.recv(100, "c"),
                st.send(1000, "c"),
                st.recv_eof("c"),
                st.close("c"),
            ],
        )
        flood: list[st.Step] = []
        for i in range(count):
            flood += st.connect(pair.server_ip, first + i, sock=f"p{i}")
        flooder = ctx.actor(pair.client, [st.wait("go"), *flood], "flood")
        time.sleep(0.8)
        ctx.capture(pair.server, "eth0", name, "tcp")
        before = pair.server.nstat("TcpExtSyncookiesSent")["TcpExtSyncookiesSent"]
        flooder.tell("go")
        flooder.expect("finished", timeout=10)
        time.sleep(0.5)
        cli = ctx.actor(pair.client, st.echo_client(pair.server_ip, PORT), "client")
        cli.expect("finished", timeout=10)
        srv.expect("finished", timeout=10)
        time.sleep(8.0)  # request sockets expire ~7 s after their SYN
        cookies = pair.server.nstat("TcpExtSyncookiesSent")["TcpExtSyncookiesSent"] - before
        ctx.finish(cli, flooder, srv, linger=0.3)
    flood_cookies = cookies - 1  # the normal client's SYN got one too
    normal = count - flood_cookies
    conns = [
        Conn(
            {"client_port": first + i},
            "handshake_timeout",
            counts=clean(synack_retransmits=2),
            cause=None,
            explanation_keywords=["tcp_synack_retries"],
            note="request socket kept: SYN+ACK retransmitted at ~1 s and ~3 s, then dropped",
        )
        if i < normal
        else Conn(
            {"client_port": first + i},
            "handshake_timeout",
            counts=clean(),
            cause="syn_cookies",
            explanation_keywords=[
                "SYN cookie",
                "tcp_syncookies",
                "TcpExtSyncookiesSent",
                "SYN queue",
            ],
            note="SYN queue over the backlog: a SYN cookie, never retransmitted, never answered",
        )
        for i in range(count)
    ]
    conns.append(
        Conn(
            {"client_port": PORT},
            "closed",
            closer="client",
            counts=clean(),
            note="a normal client during the flood: cookie SYN+ACK, its ACK completes the "
            "handshake from the cookie (cookie_v4_check); 100 B / 1000 B, client closes first. "
            "Not a listen overflow",
        )
    )
    return [
        Expected(
            name,
            "SYN flood over a backlog of 8 with SYN cookies, and a normal client completing "
            "its handshake from a cookie during the flood",
            "server",
            {
                "server": {
                    "listen_backlog": 8,
                    "net.ipv4.tcp_synack_retries": 2,
                    "net.ipv4.tcp_syncookies": 1,
                },
                "client_nft": f"output: sport {first}..{first + count - 1} to 8080, only SYNs",
                "clients": f"flood from ports {first}..{first + count - 1}, then port {PORT}",
            },
            conns,
            notes=f"Server counter TcpExtSyncookiesSent rose by {cookies}: the first {normal} "
            f"flood SYNs got request sockets (SYN+ACK retransmitted twice), the last "
            f"{flood_cookies} and the normal client's SYN got SYN cookies.",
            capture_format={**ETHERNET, "filter": "tcp"},
            observed_by_sockets=ctx.socket_events(),
        )
    ]


def retransmit_user_timeout_give_up(ctx: Ctx, net: int) -> list[Expected]:
    """TCP_USER_TIMEOUT 3000 ms on a streaming client whose server vanishes; the capture runs
    on 6 s past the abort, so the give-up (no RST: tcp_write_err) shows as silence past the next
    RTO (a UDP datagram at the end is the capture's last frame). With the default tcp_retries2 (15) the client would retry for about 15 minutes; the
    give-up after ~3 s fits a user timeout and equally net.ipv4.tcp_retries2 = 3 or 4: the wire
    cannot tell the two, so both must be named and no cause claimed (the doubling is not cut
    short on the wire: the clamped timer fires for the abort, not for a retransmission).
    Captured at the client.
    """
    name = "retransmit-give-up-user-timeout-3000ms-at-client.pcap"
    with Lab(ctx.tag) as lab:
        pair = make_pair(lab, net)
        ctx.capture(pair.client, "eth0", name)
        cli, srv = ctx.start_stream(
            pair.client,
            pair.server,
            pair.server_ip,
            PORT,
            4000,
            opts=[st.opt("TCP_USER_TIMEOUT", 3000)],
        )
        pair.server.nft(isolate_host_script())
        cli.expect("send_failed", timeout=15)
        time.sleep(6.0)
        # Other traffic on the wire after the silence (a UDP datagram to the discard port): a
        # capture shows how long it ran only by its last frame.
        send_udp = (
            "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM)"
            f".sendto(b'end', ('{pair.server_ip}', 9))"
        )
        pair.client.run(["python3", "-c", send_udp])
        ctx.finish(cli, srv, linger=0.2)
    return [
        Expected(
            name,
            "client streams with TCP_USER_TIMEOUT 3000 ms; the server host vanishes; the capture "
            "runs 6 s past the silent give-up",
            "client",
            {
                "client": {"TCP_USER_TIMEOUT": 3000, "net.ipv4.tcp_retries2": 15},
                "server_nft": "0.6 s into the stream: input+output tcp drop",
            },
            [
                Conn(
                    {"client_port": PORT},
                    "retransmit_timeout",
                    counts=clean(retransmits=bound(3, 6)),
                    inferred={"user_timeout_s": 3.0},
                    cause=None,
                    explanation_keywords=[
                        "TCP_USER_TIMEOUT of at most",
                        "tcp_retries2 = ",
                        "default",
                    ],
                    note="RTO doubling from ~200 ms; the user timeout (3 s, counted from the "
                    "retransmission stamp) aborts at the clamped timer after the last "
                    "retransmission, silently (send() ETIMEDOUT)",
                )
            ],
            capture_format=ETHERNET,
            observed_by_sockets=ctx.socket_events(),
        )
    ]
