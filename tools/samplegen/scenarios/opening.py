"""Connections that fail while opening: SYN unanswered, SYN+ACK unanswered, accept queue full."""

from __future__ import annotations

import sys
import time

from tools.samplegen import steps as st
from tools.samplegen.expected import ETHERNET, Conn, Expected, bound, clean
from tools.samplegen.netns import Lab, make_pair
from tools.samplegen.scenario import Ctx

PORT = 40001

DROP_SYN_IN = """table inet nosyn {
  chain in {
    type filter hook input priority 0;
    tcp dport 8080 tcp flags & (syn | ack) == syn drop
  }
}
"""

#: The client sends its SYNs and nothing else to port 8080 (its handshake ACKs, data and RSTs
#: are dropped on the way out), so the server's SYN+ACKs go unanswered: the handshake-timeout
#: and SYN-flood scenarios.
DROP_CLIENT_AFTER_SYN = """table inet ackless {
  chain out {
    type filter hook output priority 0;
    tcp dport 8080 tcp flags & (syn | ack) != syn drop
  }
}
"""


def _connect_timeout(
    ctx: Ctx,
    net: int,
    name: str,
    client_sysctls: dict[str, int],
    sock_opts: list[st.Opt],
    *capture_args: str,
    mark_end_after: float | None = None,
) -> list[str]:
    """``mark_end_after``: seconds after connect() failed, one UDP datagram to the server: a
    frame that shows the capture still running past the retry a schedule would send next (a
    pcap has no end time)."""
    with Lab(ctx.tag) as lab:
        pair = make_pair(lab, net)
        for key, value in client_sysctls.items():
            pair.client.sysctl(key, value)
        pair.server.nft(DROP_SYN_IN)  # the server host silently drops SYNs (a firewall DROP rule)
        ctx.capture(pair.client, "eth0", name, *capture_args)
        srv = ctx.server(pair.server, st.listen())
        cli = ctx.actor(
            pair.client, st.connect(pair.server_ip, PORT, opts=sock_opts, tolerate=True), "client"
        )
        cli.expect("finished", timeout=60)
        if mark_end_after is not None:
            time.sleep(mark_end_after)
            udp = f"import socket; socket.socket(2, 2).sendto(b'end', ('{pair.server_ip}', 9))"
            pair.client.run([sys.executable, "-c", udp])
        ctx.finish(cli, srv, linger=0.5)
    return ctx.socket_events()


def connect_timeout_linear(ctx: Ctx, net: int) -> list[Expected]:
    """TCP_SYNCNT=3 with the Linux 6.5+ default tcp_syn_linear_timeouts=4.

    Kernel rule (net/ipv4/tcp_timer.c, 6.5+): in SYN_SENT the RTO is not doubled while
    ``total_rto <= tcp_syn_linear_timeouts`` (so 5 gaps of 1 s), then doubles; the attempt
    expires when ``retransmits >= syn_retries + linear_timeouts`` (3 + 4 = 7) or when the
    time since the first SYN reaches tcp_model_timeout(syn_retries=3, 1 s) = 15 s.
    SYNs at 0,1,2,3,4,5,7,11 s (the 7th retransmission at 11 s is allowed: 6 < 7 and 11 < 15),
    give-up at 19 s (7 >= 7) -> 7 retransmissions, connect() ETIMEDOUT at ~19 s.
    """
    name = "connect-timeout-syncnt3-linear4.pcap"
    events = _connect_timeout(ctx, net, name, {}, [st.opt("TCP_SYNCNT", 3)])
    counts = clean(syn_retransmits=7)
    return [
        Expected(
            name,
            "server drops every SYN (nft input drop); client TCP_SYNCNT=3, tcp_syn_linear_timeouts=4 (default)",
            "client",
            {
                "client": {"TCP_SYNCNT": 3, "net.ipv4.tcp_syn_linear_timeouts": 4},
                "server_nft": "input: tcp dport 8080 tcp flags & (syn|ack) == syn drop",
            },
            [
                Conn(
                    {"client_port": PORT},
                    "connect_timeout",
                    counts=counts,
                    inferred={
                        "syn_schedule": {
                            "send_times_s": [0, 1, 2, 3, 4, 5, 7, 11],
                            "shape": "linear then doubling",
                            "give_up_s": 19,
                        }
                    },
                    # connect() waits from the first SYN until ETIMEDOUT at ~19 s
                    delays={"syn_retries": 7, "stalled_s": 19.0},
                    slow=["syn_retry"],
                    note="8 SYNs, same ISN: 5 linear 1 s gaps then 2, 4; max retransmits = TCP_SYNCNT + "
                    "tcp_syn_linear_timeouts = 7; connect() fails with ETIMEDOUT ~19 s after the first SYN "
                    "(tcp-facts.md quotes 0,1,2,3,4,6,10 from another kernel; the 6.x code gives 5 linear gaps)",
                )
            ],
            capture_format=ETHERNET,
            observed_by_sockets=events,
        )
    ]


def connect_timeout_syncnt1(ctx: Ctx, net: int) -> list[Expected]:
    """TCP_SYNCNT=1 with the Linux 6.5+ default tcp_syn_linear_timeouts=4: the time limit.

    Kernel rule (net/ipv4/tcp_timer.c tcp_write_timeout, 6.5+): SYN_SENT expires at the first
    timer expiry where retransmits >= syn_retries + linear_timeouts (1 + 4 = 5, the count) OR
    the time since the first SYN reaches tcp_model_timeout(1, 1 s) = 3 s (the time). The RTO
    stays 1 s (linear), so SYNs at 0, 1, 2 s (the retry at 2 s is allowed: 1 < 5 and 2 < 3)
    and the expiry at 3 s ends it by the time limit: connect() ETIMEDOUT at ~3 s, after 2
    retransmissions, not 5. Headers only (-s 96).
    """
    name = "connect-timeout-syncnt1-time-limit.pcap"
    events = _connect_timeout(
        ctx, net, name, {}, [st.opt("TCP_SYNCNT", 1)], "-s", "96", mark_end_after=2.0
    )  # the datagram at ~5 s: past the retry a linear schedule would send next (due 2 s after)
    return [
        Expected(
            name,
            "server drops every SYN (nft input drop); client TCP_SYNCNT=1, tcp_syn_linear_timeouts=4 (default)",
            "client",
            {
                "client": {"TCP_SYNCNT": 1, "net.ipv4.tcp_syn_linear_timeouts": 4},
                "server_nft": "input: tcp dport 8080 tcp flags & (syn|ack) == syn drop",
            },
            [
                Conn(
                    {"client_port": PORT},
                    "connect_timeout",
                    counts=clean(syn_retransmits=2),
                    inferred={
                        "syn_schedule": {
                            "send_times_s": [0, 1, 2],
                            "shape": "linear",
                            "give_up_s": 3,
                        }
                    },
                    # connect() waits from the first SYN until ETIMEDOUT at ~3 s
                    delays={"syn_retries": 2, "stalled_s": 3.0},
                    slow=["syn_retry"],
                    note="3 SYNs, same ISN, 1 s apart; the 3 s time limit of TCP_SYNCNT=1 "
                    "(tcp_model_timeout) expires before the count limit (1 + 4 = 5 retransmissions): "
                    "connect() fails with ETIMEDOUT ~3 s after the first SYN",
                )
            ],
            capture_format={
                "format": "pcap",
                "link_type": "EN10MB",
                "tool": "tcpdump -s 96",
                "snaplen": 96,
            },
            observed_by_sockets=events,
        )
    ]


def connect_timeout_classic(ctx: Ctx, net: int) -> list[Expected]:
    """tcp_syn_linear_timeouts=0 and tcp_syn_retries=2: the classic doubling from 1 s.

    SYNs at 0, 1, 3 s; expiry at 7 s (retransmits 2 >= 2; tcp_model_timeout(2, 1 s) = 7 s).
    """
    name = "connect-timeout-synretries2-doubling.pcap"
    events = _connect_timeout(
        ctx, net, name, {"net.ipv4.tcp_syn_linear_timeouts": 0, "net.ipv4.tcp_syn_retries": 2}, []
    )
    counts = clean(syn_retransmits=2)
    return [
        Expected(
            name,
            "server drops every SYN; client ns tcp_syn_retries=2, tcp_syn_linear_timeouts=0 (pre-6.5 shape)",
            "client",
            {
                "client": {"net.ipv4.tcp_syn_retries": 2, "net.ipv4.tcp_syn_linear_timeouts": 0},
                "server_nft": "input: tcp dport 8080 tcp flags & (syn|ack) == syn drop",
            },
            [
                Conn(
                    {"client_port": PORT},
                    "connect_timeout",
                    counts=counts,
                    inferred={
                        "syn_schedule": {
                            "send_times_s": [0, 1, 3],
                            "shape": "doubling from 1 s",
                            "give_up_s": 7,
                        }
                    },
                    # connect() waits from the first SYN until ETIMEDOUT at ~7 s
                    delays={"syn_retries": 2, "syn_gaps_s": [1.0, 2.0], "stalled_s": 7.0},
                    slow=["syn_retry"],
                    note="3 SYNs with the same ISN, RTO 1 s doubling; connect() ETIMEDOUT ~7 s after the first SYN",
                )
            ],
            capture_format=ETHERNET,
            observed_by_sockets=events,
        )
    ]


def handshake_timeout(ctx: Ctx, net: int) -> list[Expected]:
    """The client's ACK never leaves its host: the server's SYN+ACK is never acknowledged.

    The client ns drops (output hook, before tcpdump would see it) every TCP segment to
    the server that is not a pure SYN. The server's request socket (SYN_RECV) retransmits
    SYN+ACK tcp_synack_retries=2 times (1 s, then 2 s later) and is dropped silently at 7 s
    (inet_csk reqsk_timer_handler: expire when num_timeout >= synack_retries).
    Wire at the server: SYN, SYN+ACK, SYN+ACK, SYN+ACK, silence. The same picture as a
    spoofed-source SYN or a client whose ACKs are lost on the way.
    """
    name = "handshake-timeout-synack-retries2.pcap"
    with Lab(ctx.tag) as lab:
        pair = make_pair(lab, net)
        pair.server.sysctl("net.ipv4.tcp_synack_retries", 2)
        pair.client.nft(DROP_CLIENT_AFTER_SYN)
        ctx.capture(pair.server, "eth0", name)
        srv = ctx.server(pair.server, st.listen())
        cli = ctx.actor(pair.client, st.connect(pair.server_ip, PORT), "client")
        cli.expect("connected")  # the client's kernel saw the SYN+ACK: connect() succeeded
        time.sleep(8.5)
        ctx.finish(cli, srv, linger=0.3)
    counts = clean(synack_retransmits=2)
    return [
        Expected(
            name,
            "server's SYN+ACK never acknowledged (client's ACKs dropped at the client's output hook)",
            "server",
            {
                "server": {"net.ipv4.tcp_synack_retries": 2},
                "client_nft": "output: tcp dport 8080 tcp flags & (syn|ack) != syn drop",
            },
            [
                Conn(
                    {"client_port": PORT},
                    "handshake_timeout",
                    counts=counts,
                    inferred={"synack_schedule": {"send_times_s": [0, 1, 3], "give_up_s": 7}},
                    # the SYN+ACKs wait from the first until the request expires at ~7 s
                    delays={"synack_retries": 2, "synack_gaps_s": [1.0, 2.0], "stalled_s": 7.0},
                    slow=["synack_retry"],
                    note="SYN+ACK sent at 0 s and retransmitted at ~1 s and ~3 s, then the server forgets the request "
                    "at ~7 s without sending anything; the client never appears again on the wire",
                )
            ],
            notes="The client application's connect() succeeded (its kernel got the SYN+ACK); only the wire at the "
            "server shows the failure.",
            capture_format=ETHERNET,
            observed_by_sockets=ctx.socket_events(),
        )
    ]


def _listen_overflow(ctx: Ctx, net: int, name: str, abort_on_overflow: int) -> dict[str, object]:
    """Fill a backlog-2 accept queue that is never accept()ed; one handshake lands on the full queue.

    Order (client ports): 41001, 41002 complete (accept queue 2 of backlog+1 = 3).
    41003 connects while nft at the SERVER input drops its non-SYN segments, so its
    request socket stays in SYN_RECV (the SYN was answered: accept queue not full then).
    41004 completes -> accept queue 3 = full (sk_acceptq_is_full: 3 > 2).
    The nft rule is removed: every later segment of 41003 reaches tcp_check_req(), whose
    child creation fails on the full queue (TcpExtListenOverflows):
    - tcp_abort_on_overflow=0: the ACK is dropped and marked acked, SYN+ACK keeps being
      retransmitted (tcp_synack_retries=2: at ~1 s and ~3 s), the request expires at ~7 s;
      the client's data retransmission after that hits the bare listener -> RST.
    - tcp_abort_on_overflow=1: the next client ACK is answered with RST.
    41005 connects last: its SYN meets the full accept queue and is dropped
    (tcp_conn_request: sk_acceptq_is_full -> drop), so it sees connect_timeout.
    """
    gate = """table inet gate {
  chain in {
    type filter hook input priority 0;
    tcp sport 41003 tcp flags & syn == 0 drop
  }
}
"""
    client_data = (
        abort_on_overflow == 0
    )  # with abort=1 the client stays quiet: its ACK meets the RST
    with Lab(ctx.tag) as lab:
        pair = make_pair(lab, net)
        s = pair.server
        s.sysctl("net.ipv4.tcp_abort_on_overflow", abort_on_overflow)
        s.sysctl("net.ipv4.tcp_synack_retries", 2)
        pair.client.sysctl("net.ipv4.tcp_syn_linear_timeouts", 0)

        def client(
            port: int,
            *,
            data: bool,
            extra: list[st.Opt] | None = None,
            end: list[st.Step] | None = None,
        ) -> list[st.Step]:
            # Started early and parked on "go", so the orchestrator's order is the wire's order
            # (starting a Python process takes longer than the timers involved).
            sock = f"p{port}"
            return [
                st.wait("go"),
                *st.connect(pair.server_ip, port, sock=sock, opts=extra, tolerate=True),
                *([st.send(200, sock)] if data else []),
                st.signal(f"done{port}"),
                *(end or []),
            ]

        first = ctx.actor(
            pair.client, [*client(41001, data=True), *client(41002, data=True)], "clients-1-2"
        )
        third = ctx.actor(
            pair.client,
            client(41003, data=client_data, end=[st.wait_error("p41003")]),
            "client-41003",
        )
        fourth = ctx.actor(pair.client, client(41004, data=True), "client-41004")
        fifth = ctx.actor(
            pair.client, client(41005, data=False, extra=[st.opt("TCP_SYNCNT", 2)]), "client-41005"
        )
        srv = ctx.server(s, st.listen(backlog=2))  # never accept()s
        time.sleep(1.0)  # every actor is parked on "go"
        before = s.nstat("TcpExtListenOverflows", "TcpExtListenDrops")
        cap = ctx.capture(pair.client, "eth0", name)
        first.tell("go")
        first.tell("go")
        first.expect("done41002")
        s.nft(gate)
        third.tell("go")
        third.expect("done41003")
        time.sleep(0.05)
        fourth.tell("go")
        fourth.expect("done41004")
        s.run(["nft", "delete", "table", "inet", "gate"])
        fifth.tell("go")
        # 41003 ends with the server's RST: abort=1 at the ~1 s SYN+ACK retransmission;
        # abort=0 when a data retransmission reaches the listener after the request expired (~7 s).
        third.expect("wait_error", timeout=30)
        fifth.expect("connect_failed", timeout=15)  # ETIMEDOUT ~7 s after its first SYN
        time.sleep(0.5)
        after = s.nstat("TcpExtListenOverflows", "TcpExtListenDrops")
        cap.stop()
        for a in (first, third, fourth, fifth):
            a.stop()
        srv.stop()
    return {"before": before, "after": after}


def listen_overflow_noabort(ctx: Ctx, net: int) -> list[Expected]:
    name = "listen-overflow-backlog2-abort0.pcap"
    counters = _listen_overflow(ctx, net, name, 0)
    return [
        Expected(
            name,
            "accept queue full (listen backlog 2, never accept()ed), tcp_abort_on_overflow=0",
            "client",
            _settings(0),
            [
                Conn(
                    {"client_port": 41001},
                    "open",
                    counts=clean(),
                    note="completed handshake, sits in the accept queue; its 200 B are ACKed by the kernel",
                ),
                Conn({"client_port": 41002}, "open", counts=clean(), note="as 41001"),
                Conn(
                    {"client_port": 41003},
                    "listen_overflow",
                    reset_by="server",
                    counts={
                        "syn_retransmits": 0,
                        "synack_retransmits": 2,
                        "retransmits": bound(3, 8),
                        "keepalive_probes": 0,
                        "zero_window_probes": 0,
                        "resets": 1,
                    },
                    note="client ACK + 200 B data never taken: the server retransmits SYN+ACK ~1 s and ~3 s after "
                    "the SYN (tcp_synack_retries=2), each answered by a client (challenge) ACK that is dropped "
                    "again; the client retransmits its data with RTO backoff (tail loss probe + RTOs doubling "
                    "from ~0.2 s); the request expires ~7 s after the SYN and the next data retransmission "
                    "(~12-14 s) reaches the bare listener, which answers with RST",
                ),
                Conn(
                    {"client_port": 41004},
                    "open",
                    counts=clean(),
                    note="third entry: fills the queue (3 > 2)",
                ),
                Conn(
                    {"client_port": 41005},
                    "connect_timeout",
                    counts=clean(syn_retransmits=2),
                    note="SYN dropped by the full accept queue; TCP_SYNCNT=2 with linear timeouts 0: SYNs at 0, 1, 3 s",
                ),
            ],
            notes=_overflow_notes(counters),
            capture_format=ETHERNET,
            observed_by_sockets=ctx.socket_events(),
        )
    ]


def listen_overflow_abort(ctx: Ctx, net: int) -> list[Expected]:
    name = "listen-overflow-backlog2-abort1.pcap"
    counters = _listen_overflow(ctx, net, name, 1)
    return [
        Expected(
            name,
            "accept queue full (listen backlog 2, never accept()ed), tcp_abort_on_overflow=1",
            "client",
            _settings(1),
            [
                Conn({"client_port": 41001}, "open", counts=clean(), note="in the accept queue"),
                Conn({"client_port": 41002}, "open", counts=clean(), note="in the accept queue"),
                Conn(
                    {"client_port": 41003},
                    "listen_overflow",
                    reset_by="server",
                    counts={
                        "syn_retransmits": 0,
                        "synack_retransmits": 1,
                        "retransmits": 0,
                        "keepalive_probes": 0,
                        "zero_window_probes": 0,
                        "resets": 1,
                    },
                    note="the client sends no data; its handshake ACK was held back (nft), the server retransmits "
                    "SYN+ACK at ~1 s, the client's ACK to it meets the full queue and is answered by RST "
                    "(tcp_abort_on_overflow=1)",
                ),
                Conn({"client_port": 41004}, "open", counts=clean(), note="fills the queue"),
                Conn(
                    {"client_port": 41005},
                    "connect_timeout",
                    counts=clean(syn_retransmits=2),
                    note="SYN dropped by the full accept queue; SYNs at 0, 1, 3 s",
                ),
            ],
            notes=_overflow_notes(counters),
            capture_format=ETHERNET,
            observed_by_sockets=ctx.socket_events(),
        )
    ]


def _settings(abort: int) -> dict[str, object]:
    return {
        "server": {
            "listen_backlog": 2,
            "accept": "never",
            "net.ipv4.tcp_abort_on_overflow": abort,
            "net.ipv4.tcp_synack_retries": 2,
            "net.ipv4.tcp_syncookies": "1 (default)",
        },
        "client": {"net.ipv4.tcp_syn_linear_timeouts": 0, "41005": {"TCP_SYNCNT": 2}},
        "server_nft": "input: tcp sport 41003 tcp flags & syn == 0 drop, only while 41004 connects",
    }


def _overflow_notes(counters: dict[str, object]) -> str:
    return (
        "Linux admits backlog+1 = 3 connections to the accept queue. The order 'SYN answered while the queue had "
        "room, ACK arrives when it is full' cannot be produced by timing on a veth (handshakes finish in "
        "microseconds), so 41003's first ACK is held back by an nft rule while 41004 fills the queue; every later "
        "segment of 41003 is refused by the kernel's overflow logic itself. Server nstat before/after: "
        f"{counters['before']} -> {counters['after']}. Connections still in the accept queue are 'open' because "
        "tcpdump stops before any process exits."
    )


def syn_flood_cookies(ctx: Ctx, net: int) -> list[Expected]:
    """30 handshakes whose final ACK never leaves the client: a SYN flood as the server sees it.

    The client namespace drops every non-SYN segment to the server in its output hook (as in
    handshake_timeout), and opens 30 connections in a row from ports 44000..44029. The server
    (listen backlog 8, never accept()s, tcp_synack_retries=2, tcp_syncookies=1 default) keeps a
    request socket per SYN until its SYN queue is over the backlog; from then on
    (tcp_conn_request: inet_csk_reqsk_queue_is_full -> tcp_syn_flood_action) it answers with a
    SYN cookie: a SYN+ACK that is never retransmitted because no request socket remembers it.
    How many got cookies is read from the server's own counter (TcpExtSyncookiesSent), not
    from the capture; the SYNs arrive in port order, so the cookies went to the last ports.
    """
    name = "syn-flood-backlog8-syncookies.pcap"
    count, first = 30, 44000
    with Lab(ctx.tag) as lab:
        pair = make_pair(lab, net)
        pair.server.sysctl("net.ipv4.tcp_synack_retries", 2)
        pair.client.nft(DROP_CLIENT_AFTER_SYN)
        srv = ctx.server(pair.server, st.listen(backlog=8))
        steps: list[st.Step] = []
        for i in range(count):
            steps += st.connect(pair.server_ip, first + i, sock=f"p{i}")
        cli = ctx.actor(pair.client, [st.wait("go"), *steps], "client")
        time.sleep(0.8)  # the client process is up and parked
        ctx.capture(pair.server, "eth0", name)
        before = pair.server.nstat("TcpExtSyncookiesSent")["TcpExtSyncookiesSent"]
        cli.tell("go")
        cli.expect("finished", timeout=10)
        time.sleep(8.5)  # request sockets expire ~7 s after their SYN
        cookies = pair.server.nstat("TcpExtSyncookiesSent")["TcpExtSyncookiesSent"] - before
        ctx.finish(cli, srv, linger=0.3)
    normal = count - cookies
    conns = []
    for i in range(count):
        port = first + i
        if i < normal:
            conns.append(
                Conn(
                    {"client_port": port},
                    "handshake_timeout",
                    counts=clean(synack_retransmits=2),
                    note="request socket kept: SYN+ACK retransmitted at ~1 s and ~3 s, then dropped at "
                    "~7 s (tcp_synack_retries=2)",
                )
            )
        else:
            conns.append(
                Conn(
                    {"client_port": port},
                    "handshake_timeout",
                    counts=clean(),
                    note="SYN queue over the backlog: answered with a SYN cookie, which is never "
                    "retransmitted (no request socket); the SYN+ACK simply goes unanswered",
                )
            )
    return [
        Expected(
            name,
            "30 handshakes never completed (client's ACKs dropped at its output): SYN queue overflow with "
            "SYN cookies, seen at the server",
            "server",
            {
                "server": {
                    "listen_backlog": 8,
                    "net.ipv4.tcp_synack_retries": 2,
                    "net.ipv4.tcp_syncookies": 1,
                },
                "client_nft": "output: tcp dport 8080 tcp flags & (syn|ack) != syn drop",
                "clients": f"ports {first}..{first + count - 1}, one after the other",
            },
            conns,
            notes=f"Server counter TcpExtSyncookiesSent rose by {cookies}: the first {normal} SYNs got request "
            f"sockets (SYN+ACK retransmitted twice), the last {cookies} got SYN cookies (one SYN+ACK each, "
            "never retransmitted; a cookie ISN encodes the MSS and a timestamp). Every SYN+ACK stays "
            "unanswered: a SYN flood (or spoofed sources / lost ACKs) from the server's point of view. "
            "'handshake_timeout' is the nearest fate for the cookie ones although the server never "
            "retransmitted their SYN+ACK.",
            capture_format=ETHERNET,
        )
    ]


#: The application's own connect timeout (SO_SNDTIMEO on a blocking connect()), shorter than
#: Linux's SYN schedule: it closes the socket before the kernel gives up.
APP_CONNECT_TIMEOUT_S = 2.5
#: A listener the firewall lets through, for the exchange that ends the capture.
LATER_PORT = st.SERVER_PORT + 1


def connect_abandoned_by_the_application(ctx: Ctx, net: int) -> list[Expected]:
    """The server drops every SYN; the application gives up first, after 2.5 s.

    SO_SNDTIMEO bounds a blocking connect() (net/ipv4/af_inet.c: ``sock_sndtimeo``): it
    returns EINPROGRESS after 2.5 s and the application closes the socket, which in SYN_SENT
    sends nothing (tcp_close: no RST). The kernel's own schedule (Linux 6.5+ default,
    tcp_syn_linear_timeouts=4) had SYNs at 0, 1, 2, 3, 4, 5 s and more to come: the capture
    shows 3 SYNs 1 s apart, then silence. No timer ran out: the give-up is the application's.
    """
    name = "connect-abandoned-by-app-2500ms.pcap"
    with Lab(ctx.tag) as lab:
        pair = make_pair(lab, net)
        pair.server.nft(DROP_SYN_IN)
        ctx.capture(pair.client, "eth0", name)
        srv = ctx.server(pair.server, st.listen())
        opts = [st.opt("SO_SNDTIMEO", APP_CONNECT_TIMEOUT_S)]
        steps = [*st.connect(pair.server_ip, PORT, opts=opts, tolerate=True), st.close()]
        cli = ctx.actor(pair.client, steps, "client")
        cli.expect("finished", timeout=30)
        # Past the next SYN (3 s) and the doubled one (4 s): none comes. A later exchange on
        # another port shows the capture still running then (a pcap has no end time).
        time.sleep(3.0)
        later = ctx.server(
            pair.server, [*st.listen(LATER_PORT), st.accept(), st.close("c")], "later"
        )
        bye = ctx.actor(
            pair.client,
            [
                *st.connect(pair.server_ip, PORT + 1, port=LATER_PORT, sock="t"),
                st.recv_eof("t"),  # the server closes first
                st.close("t"),
            ],
            "bye",
        )
        bye.expect("finished", timeout=10)
        later.expect("finished", timeout=10)
        ctx.finish(cli, srv, later, bye, linger=0.5)
    return [
        Expected(
            name,
            "server drops every SYN (nft input drop); the client application gives up after "
            f"{APP_CONNECT_TIMEOUT_S} s (SO_SNDTIMEO on connect()) and closes the socket",
            "client",
            {
                "client": {
                    "SO_SNDTIMEO": APP_CONNECT_TIMEOUT_S,
                    "net.ipv4.tcp_syn_linear_timeouts": 4,
                },
                "server_nft": "input: tcp dport 8080 tcp flags & (syn|ack) == syn drop",
            },
            [
                Conn(
                    {"client_port": PORT},
                    "connect_timeout",
                    counts=clean(syn_retransmits=2),
                    explanation_keywords=["no timer ran out", "connect timeout"],
                    note="SYNs at 0, 1, 2 s (linear); connect() returns EINPROGRESS at 2.5 s and "
                    "close() ends SYN_SENT silently: the kernel never gave up",
                ),
                Conn(
                    {"client_port": PORT + 1},
                    "closed",
                    closer="server",
                    counts=clean(),
                    note="a connection to another port 5.5 s later: the capture ran past the "
                    "SYN the kernel would have sent next",
                ),
            ],
            capture_format=ETHERNET,
            observed_by_sockets=ctx.socket_events(),
        )
    ]


#: The client's first bare ACK from each port of 45003..45005 is dropped on the way out (the
#: port is remembered in a set, so its later ACKs pass); every segment but the SYN from
#: 45000..45002 is dropped; 45006..45011 pass untouched.
DROP_FIRST_OR_EVERY_ACK = """table inet acks {
  set acked_once { type inet_service; }
  chain out {
    type filter hook output priority 0;
    tcp dport 8080 tcp sport 45000-45002 tcp flags & (syn | ack) != syn drop
    tcp dport 8080 tcp sport 45003-45005 tcp flags & (syn | ack | fin | rst) == ack tcp sport != @acked_once add @acked_once { tcp sport } drop
  }
}
"""

#: ``tcpdump``'s filter of a capture that keeps every segment with SYN set: SYNs and SYN+ACKs.
SYN_ONLY_FILTER = "tcp[tcpflags] & tcp-syn != 0"


def syn_filter_acked_unseen(ctx: Ctx, net: int) -> list[Expected]:
    """A capture filtered on SYN at the server: handshakes that completed out of its sight.

    tcp_synack_retries=2 on the server. Its request socket resends an unacknowledged SYN+ACK
    at 1 s and 3 s (reqsk_timer_handler) and drops the request at 7 s; the handshake's ACK
    ends the resends. 45000..45002 never get their ACK out (client nft): SYN+ACK at 0, 1, 3 s,
    the limit. 45003..45005 lose their first ACK only: the client, established, answers the
    SYN+ACK resent at 1 s with a challenge ACK (RFC 5961, tcp_validate_incoming), which the
    server takes as the handshake's ACK: two SYN+ACKs, then none, short of the limit the first
    three reached. 45006..45011 complete at once: one SYN+ACK each; 45012 connects 9 s later,
    so the file (filter 'tcp[tcpflags] & tcp-syn != 0': SYNs and SYN+ACKs only) shows it ran
    past every resend due.
    """
    name = "syn-filter-handshakes-acked-unseen-at-server.pcap"
    first, count = 45000, 12
    with Lab(ctx.tag) as lab:
        pair = make_pair(lab, net)
        pair.server.sysctl("net.ipv4.tcp_synack_retries", 2)
        pair.client.nft(DROP_FIRST_OR_EVERY_ACK)
        srv = ctx.server(pair.server, st.listen(backlog=64))
        steps: list[st.Step] = []
        for i in range(count):
            steps += st.connect(pair.server_ip, first + i, sock=f"p{i}")
        # A last handshake at 9 s: a SYN-filtered file ends at its last SYN, so only a later
        # one shows the capture went on past every resend due.
        steps += [st.sleep(9.0), *st.connect(pair.server_ip, first + count, sock="last")]
        cli = ctx.actor(pair.client, [st.wait("go"), *steps], "client")
        time.sleep(0.8)  # the client process is up and parked
        ctx.capture(pair.server, "eth0", name, SYN_ONLY_FILTER)
        cli.tell("go")
        cli.expect("finished", timeout=20)
        ctx.finish(cli, srv, linger=0.3)
    conns = []
    for i in range(count):
        port = first + i
        if i < 3:
            conns.append(
                Conn(
                    {"client_port": port},
                    "handshake_timeout",
                    counts=clean(synack_retransmits=2),
                    note="every ACK dropped at the client: SYN+ACK at 0, 1, 3 s, then the request "
                    "socket expires at ~7 s (tcp_synack_retries=2)",
                )
            )
        elif i < 6:
            conns.append(
                Conn(
                    {"client_port": port},
                    "open",
                    counts=clean(synack_retransmits=1),
                    note="first ACK dropped at the client; the SYN+ACK resent at 1 s drew a "
                    "challenge ACK that completed the handshake (not in the capture): no resend "
                    "at 3 s. Established, never closed while the capture ran",
                )
            )
        else:
            conns.append(
                Conn(
                    {"client_port": port},
                    "open",
                    counts=clean(),
                    note="handshake completed at once; its ACK is not in the SYN-filtered capture. "
                    "Established, never closed while the capture ran",
                )
            )
    conns.append(
        Conn(
            {"client_port": first + count},
            "open",
            counts=clean(),
            note="handshake completed at once, 9 s after the others, just before the capture "
            "stopped: it shows the capture ran past every resend due",
        )
    )
    return [
        Expected(
            name,
            "12 handshakes at a server captured with a SYN filter: 3 whose ACKs never leave the "
            "client, 3 whose first ACK is lost, 6 that complete at once; a 13th 9 s later",
            "server",
            {
                "server": {"listen_backlog": 64, "net.ipv4.tcp_synack_retries": 2},
                "client_nft": "output: 45000-45002 every segment but the SYN dropped; "
                "45003-45005 the first bare ACK dropped",
                "capture_filter": SYN_ONLY_FILTER,
                "clients": f"ports {first}..{first + count - 1}, one after the other; "
                f"{first + count} 9 s later",
            },
            conns,
            notes="The capture holds only segments with SYN set: every ACK, data segment and FIN "
            "is the filter's to drop. What the server's SYN+ACKs show: 45000..45002 resent to "
            "the limit (2), 45003..45005 resent once and stopped although the capture went on "
            "past the second resend (3 s): their handshakes ended out of sight. A SYN+ACK sent "
            "once at that listener was acknowledged out of sight or was a SYN cookie (none "
            "here: the SYN queue stayed far below its backlog).",
            capture_format=ETHERNET,
            observed_by_sockets=ctx.socket_events(),
        )
    ]
