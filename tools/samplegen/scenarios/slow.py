"""Connections that succeed, slowly: SYNs dropped then retried, a server that answers late.

Slow is not dead: every connection here closes normally, and the capture shows what each
one lost (pcapline's ``delays`` and ``slow`` tags, issue 10).
"""

from __future__ import annotations

import time

from tools.samplegen import steps as st
from tools.samplegen.expected import (
    ETHERNET,
    TUN_HEADERS,
    Conn,
    Expected,
    bound,
    bound_s,
    clean,
)
from tools.samplegen.netns import Lab, Pair, make_pair, make_routed
from tools.samplegen.scenario import Ctx, run_pair

#: Client ports and how many of each connection's SYNs the server drops. ``numgen inc`` keeps
#: one counter per rule, and each rule sees only its own port's SYNs, so "drop while the
#: counter mod (n+1) < n" drops exactly the first ``n`` SYNs of that connection.
SYN_DROPS: dict[int, int] = {42001: 1, 42002: 2, 42003: 0, 42004: 0, 42005: 1}
#: The server waits this long before answering 42004's request (a slow backend).
SLOW_ANSWER_PORT = 42004
SLOW_ANSWER_S = 1.5


def _drop_first_syns() -> str:
    rules = "\n".join(
        f"    tcp sport {port} tcp flags & (syn | ack) == syn numgen inc mod {n + 1} < {n} drop"
        for port, n in SYN_DROPS.items()
        if n
    )
    return f"""table inet firstsyns {{
  chain in {{
    type filter hook input priority 0;
{rules}
  }}
}}
"""


def syn_retries_succeed(ctx: Ctx, net: int) -> list[Expected]:
    """Five request/response connections, one after the other, captured at the client.

    Kernel rule (net/ipv4/tcp_timer.c): an unanswered SYN is retransmitted after the initial
    RTO of 1 s, doubling (``tcp_syn_linear_timeouts=0``: the pre-6.5 shape): SYNs at 0, 1, 3 s.
    The server host drops the first SYN (42001, 42005) or the first two (42002) of a
    connection with nft, so the handshake completes right after the 2nd or 3rd SYN: connect
    ~1 s or ~3 s after the first SYN. 42003 is the fast control; 42004 connects at once but
    the server sleeps 1.5 s between reading the 100 B request and sending its 1000 B answer.
    """
    name = "slow-syn-retries-then-success.pcap"
    server_ip = f"10.{net}.0.2"
    server: list[st.Step] = [*st.listen()]
    client: list[st.Step] = []
    for k, port in enumerate(SYN_DROPS):
        sock = f"c{k}"
        server += [
            st.accept(sock),
            st.recv(100, sock),
            *([st.sleep(SLOW_ANSWER_S)] if port == SLOW_ANSWER_PORT else []),
            st.send(1000, sock),
            st.recv_eof(sock),
            st.close(sock),
        ]
        csock = f"s{k}"
        client += [
            *st.connect(server_ip, port, sock=csock),
            st.send(100, csock),
            st.recv(1000, csock),
            st.close(csock),
            st.sleep(0.3),
        ]

    def prepare(pair: Pair) -> None:
        pair.client.sysctl("net.ipv4.tcp_syn_linear_timeouts", 0)  # the classic doubling
        pair.server.nft(_drop_first_syns())

    run_pair(ctx, net, name, client, server, prepare=prepare, client_timeout=60)
    connect_s = {0: 0.0, 1: 1.0, 2: 3.0}  # doubling from 1 s: SYNs at 0, 1, 3 s
    conns = []
    for port, drops in SYN_DROPS.items():
        slow = ["syn_retry", "slow_connect"] if drops else []
        delays: dict[str, object] = {"syn_retries": drops, "synack_retries": 0, "rto_episodes": 0}
        delays["connect_s"] = connect_s[drops]
        if port == SLOW_ANSWER_PORT:
            slow = ["slow_response"]
            delays["response_s"] = SLOW_ANSWER_S
        what = {
            0: "no SYN dropped: the fast control"
            if port != SLOW_ANSWER_PORT
            else f"connects at once; the server sleeps {SLOW_ANSWER_S} s before its answer",
            1: "first SYN dropped by the server's nft: retry at 1 s completes the handshake",
            2: "first two SYNs dropped: the retry at 3 s (1 s, then 2 s) completes it",
        }[drops]
        conns.append(
            Conn(
                {"client_port": port},
                "closed",
                closer="client",
                counts=clean(syn_retransmits=drops),
                delays=delays,
                slow=slow,
                note=f"{what}; 100 B request, 1000 B answer, the client closes first",
            )
        )
    return [
        Expected(
            name,
            "five sequential connections; the server drops the first SYN (42001, 42005) or the "
            "first two (42002); 42004's server answers 1.5 s late; all close normally",
            "client",
            {
                "client": {"net.ipv4.tcp_syn_linear_timeouts": 0},
                "server_nft": "input: tcp sport P tcp flags & (syn|ack) == syn numgen inc mod "
                "(n+1) < n drop, per client port P (n = SYNs dropped)",
                "server": f"accept, read 100 B, (42004: sleep {SLOW_ANSWER_S} s), send 1000 B, "
                "read EOF, close()",
            },
            conns,
            findings=["syn_retry_burst"],  # three of five connections retried their SYN
            capture_format=ETHERNET,
        )
    ]


#: The accept-queue burst: client ports, one SYN every ``BURST_GAP_S``; the listener's backlog
#: and when the server starts accepting (seconds after the first client's SYN).
BURST_PORTS: tuple[int, ...] = (45001, 45002, 45003, 45004, 45005, 45006)
BURST_GAP_S = 0.05
BURST_BACKLOG = 1
BURST_ACCEPT_AFTER_S = 1.5


def accept_queue_burst(ctx: Ctx, net: int) -> list[Expected]:
    """Six clients connect 50 ms apart to a listener (backlog 1) that starts accepting at 1.5 s.

    Kernel rule (net/ipv4/tcp_input.c, tcp_conn_request): a SYN that finds the accept queue
    full (``sk_acceptq_is_full``: more than ``backlog`` = 1 established children waiting,
    so 2 fit) is dropped silently and counted in TcpExtListenOverflows and TcpExtListenDrops.
    The first two clients complete their handshake into the queue (microseconds on a veth);
    the SYNs of the four others are dropped, retried 1 s later (``tcp_syn_linear_timeouts=0``:
    doubling from 1 s), at 1.10..1.25 s, still before the server accepts: dropped again;
    the retry 2 s later (3.10..3.25 s) finds an empty queue (the server accept()s from 1.5 s
    and serves each connection in microseconds): connect ~3 s after the first SYN, 2 retries.
    Each connection: the server sends 1000 B after accept(), the client reads them and
    closes first (no request, so no response time to judge).
    """
    return _accept_queue_burst(ctx, net, loopback=False)


def loopback_accept_queue_burst(ctx: Ctx, net: int) -> list[Expected]:
    """``accept_queue_burst`` with client and server in one namespace over 127.0.0.1, captured
    on lo (a sidecar and its application): the same dropped SYNs, and no network that could
    have dropped them (loopback.py), which each verdict must say."""
    return _accept_queue_burst(ctx, net, loopback=True)


def _accept_queue_burst(ctx: Ctx, net: int, *, loopback: bool) -> list[Expected]:
    name = "loopback-accept-queue-burst.pcap" if loopback else "slow-accept-queue-burst.pcap"
    count = len(BURST_PORTS)
    with Lab(ctx.tag) as lab:
        if loopback:
            one = lab.namespace("host")
            pair = Pair(one, one, "127.0.0.1", "127.0.0.1")
            iface = "lo"
        else:
            pair = make_pair(lab, net)
            iface = "eth0"
        pair.client.sysctl("net.ipv4.tcp_syn_linear_timeouts", 0)  # the classic doubling
        srv = ctx.server(
            pair.server,
            [
                *st.listen(backlog=BURST_BACKLOG),
                st.wait("accept"),
                {"op": "bulk_server", "sock": "l", "count": count, "up": 0, "down": 1000},
            ],
        )
        cli = ctx.actor(
            pair.client,
            [
                st.wait("go"),
                {
                    "op": "bulk_clients",
                    "addr": pair.server_ip,
                    "port": st.SERVER_PORT,
                    "first_port": BURST_PORTS[0],
                    "count": count,
                    "up": 0,
                    "down": 1000,
                    "stagger": BURST_GAP_S,
                },
            ],
            "clients",
        )
        time.sleep(0.8)  # the client process is up and parked on "go"
        counters = ("TcpExtListenOverflows", "TcpExtListenDrops")
        before = pair.server.nstat(*counters)
        ctx.capture(pair.client, iface, name, *(("-s", "96") if loopback else ()))
        time.sleep(0.3)
        cli.tell("go")
        time.sleep(BURST_ACCEPT_AFTER_S)
        srv.tell("accept")
        done = cli.expect("bulk_done", timeout=15)
        srv.expect("bulk_served", timeout=10)
        time.sleep(0.3)
        after = pair.server.nstat(*counters)
        ctx.finish(cli, srv, linger=0.3)
    if done.strip() != "failures=none":
        raise RuntimeError(f"accept-queue burst: some clients failed: {done}")
    overflows = after["TcpExtListenOverflows"] - before["TcpExtListenOverflows"]
    queued = BURST_BACKLOG + 1
    retried = count - queued
    if overflows != 2 * retried:  # two dropped SYNs per retried client, counted by the kernel
        raise RuntimeError(f"accept-queue burst: {overflows} listen overflows, not {2 * retried}")
    conns = []
    for k, port in enumerate(BURST_PORTS):
        if k < queued:
            conns.append(
                Conn(
                    {"client_port": port},
                    "closed",
                    closer="client",
                    counts=clean(),
                    delays={"syn_retries": 0, "synack_retries": 0, "connect_s": 0.0},
                    slow=[],
                    note="handshake into the (not yet full) accept queue at once; waits there "
                    f"until the server accept()s at ~{BURST_ACCEPT_AFTER_S} s, then gets 1000 B",
                )
            )
        else:
            conns.append(
                Conn(
                    {"client_port": port},
                    "closed",
                    closer="client",
                    counts=clean(syn_retransmits=2),
                    delays={
                        "syn_retries": 2,
                        "syn_gaps_s": [1.0, 2.0],
                        "synack_retries": 0,
                        "connect_s": 3.0,
                    },
                    slow=["syn_retry", "slow_connect"],
                    note="SYN and its 1 s retry dropped by the full accept queue (ListenOverflows); "
                    "the retry at 3 s (doubling) finds the queue emptied by accept()",
                    # On lo no network can have dropped them: the verdict says the host did.
                    explanation_keywords=["Both ends are on this host", "TcpExtListenOverflows"]
                    if loopback
                    else [],
                )
            )
    where = " in one namespace over 127.0.0.1, captured on lo" if loopback else ""
    return [
        Expected(
            name,
            f"{count} clients 50 ms apart against a listener with backlog {BURST_BACKLOG} that "
            f"accept()s only from {BURST_ACCEPT_AFTER_S} s{where}: the accept queue overflows, "
            f"{retried} clients connect after two SYN retries",
            "client",
            {
                "server": {
                    "listen_backlog": BURST_BACKLOG,
                    "accept": f"from {BURST_ACCEPT_AFTER_S} s after the first SYN, then at once",
                },
                "client": {"net.ipv4.tcp_syn_linear_timeouts": 0},
                "clients": f"ports {BURST_PORTS[0]}..{BURST_PORTS[-1]}, "
                f"{BURST_GAP_S * 1000:.0f} ms apart, read 1000 B then close",
            },
            conns,
            findings=["syn_retry_burst"],
            notes=f"Server nstat before/after: {before} -> {after}: {overflows} SYNs dropped on the "
            f"full accept queue ({retried} clients x 2 drops). A SYN meeting a full accept queue "
            "is dropped without a trace on the wire: only the client's retries show it.",
            capture_format=ETHERNET,
            observed_by_sockets=ctx.socket_events(),
        )
    ]


#: The RTO scenario: blackouts (start after the stream began, length) of the client's segments.
BLACKOUTS_S: tuple[tuple[float, float], ...] = ((0.6, 1.0), (2.6, 0.5))
#: Linux's minimum RTO (TCP_RTO_MIN, 200 ms): on a veth (RTT ~0.1 ms) the RTO is 200 ms.
RTO_MIN_S = 0.2


#: Clients of ``accept_queue_first_data``, connecting together.
FIRST_DATA_PORTS: tuple[int, ...] = tuple(range(43100, 43112))
#: Its server accept()s one connection this often, serving each before the next.
FIRST_DATA_ACCEPT_EVERY_S = 0.12


def accept_queue_first_data(ctx: Ctx, net: int) -> list[Expected]:
    """Twelve clients connect at once and send their request at once to a listener (backlog
    1, ``tcp_abort_on_overflow=0``) that accept()s one connection every 120 ms.

    Kernel rule (tcp_check_req / tcp_v4_syn_recv_sock): a handshake ACK that finds the
    accept queue full is dropped, and so is the data after it, while the SYN+ACK already made
    the client established: its first data goes unacknowledged and is resent on its RTO
    (200 ms, doubling) until accept() makes room. SYNs that find the queue full are dropped
    too (retried 1 s later). Nothing is lost on the path: a storm of RTO stalls, each on a
    connection's first data, is the listener's.
    """
    name = "slow-accept-queue-first-data.pcap"
    with Lab(ctx.tag) as lab:
        pair = make_pair(lab, net)
        pair.server.sysctl("net.ipv4.tcp_abort_on_overflow", 0)
        serve: list[st.Step] = [*st.listen(backlog=1)]
        for i in range(len(FIRST_DATA_PORTS)):
            c = f"c{i}"
            serve += [
                st.sleep(FIRST_DATA_ACCEPT_EVERY_S),
                st.accept(c),
                st.recv(100, c),
                st.send(1000, c),
                st.recv_eof(c),
                st.close(c),
            ]
        srv = ctx.server(pair.server, serve)
        clients = [
            ctx.actor(
                pair.client,
                [st.wait("go"), *st.echo_client(pair.server_ip, port), st.signal("done")],
                f"client-{port}",
            )
            for port in FIRST_DATA_PORTS
        ]
        time.sleep(1.0)  # every client is parked on "go"
        cap = ctx.capture(pair.client, "eth0", name)
        time.sleep(0.3)
        for c in clients:
            c.tell("go")
        for c in clients:
            c.expect("done", timeout=40)
        srv.expect("finished", timeout=20)
        cap.stop(linger=0.5)
        for a in [*clients, srv]:
            a.stop()
    conns = [
        Conn(
            {"client_port": port},
            "closed",
            closer="client",
            counts=clean(syn_retransmits=bound(0, 2), retransmits=bound(0, None)),
            note="connects when its SYN finds room in the accept queue (else retried after "
            "1 s); its 100-byte request, sent at once, is dropped with the handshake's last ACK "
            "while the queue is full and resent on its RTO until accept() makes room",
        )
        for port in FIRST_DATA_PORTS
    ]
    exp = Expected(
        name,
        "twelve clients connect and send a request at once to a backlog-1 listener that "
        "accept()s one connection every 120 ms (tcp_abort_on_overflow=0)",
        "client",
        {
            "server": {"listen_backlog": 1, "net.ipv4.tcp_abort_on_overflow": 0},
            "accept_every_s": FIRST_DATA_ACCEPT_EVERY_S,
            "clients": f"ports {FIRST_DATA_PORTS[0]}..{FIRST_DATA_PORTS[-1]}, together",
        },
        conns,
        notes="Nothing is dropped on the path: the SYNs and first data the server drops are its "
        "full accept queue's. Expected findings: syn_retry_burst, and an rto_storm whose "
        "stalled connections each stalled on their first data right after the handshake "
        "(on_first_data: all of them), which names the accept queue before the path.",
        capture_format=ETHERNET,
        observed_by_sockets=ctx.socket_events(),
        findings=["syn_retry_burst", "rto_storm"],
    )
    return [exp]


def _recovered_after(blackout_s: float) -> float:
    """The RTO that gets through: retransmissions at 0.2, 0.6, 1.4 s... after the first lost
    send (the timer doubles from RTO_MIN, tcp_retransmit_timer); the first one after the
    blackout ended carries the data, and its ACK ends the episode."""
    t, rto = 0.0, RTO_MIN_S
    while t <= blackout_s:
        t += rto
        rto *= 2
    return t


def rto_episodes_recover(ctx: Ctx, net: int) -> list[Expected]:
    """A client streams 4000 B every 50 ms; twice, the server's host drops everything from it
    for a while (1.0 s, then 0.5 s: an nft rule added and deleted), then the path heals.

    Kernel rule (tcp_timer.c, tcp_retransmit_timer): the unacknowledged head is retransmitted
    when the RTO (200 ms, the minimum, on a veth) expires, the timer doubling each time; the
    tail loss probe before it does not move the RTO's deadline (tcp_rearm_rto counts from the
    head's send). Retransmissions at ~0.2, 0.6, 1.4 s after the first lost send: a 1.0 s
    blackout ends at the third (~1.4 s), a 0.5 s one at the second (~0.6 s). Each episode is
    recovered by the ACK of that retransmission; the stream goes on and closes normally.
    """
    name = "slow-rto-episodes-recover.pcap"
    port = 46001
    drop = f"""table inet blackout {{
  chain in {{
    type filter hook input priority 0;
    tcp sport {port} drop
  }}
}}
"""
    with Lab(ctx.tag) as lab:
        pair = make_pair(lab, net)
        ctx.capture(pair.client, "eth0", name)
        srv = ctx.server(pair.server, st.sink_server(close_after=True))
        cli = ctx.actor(
            pair.client, [*st.streaming_client(pair.server_ip, port, 4000), st.close()], "client"
        )
        cli.expect("streaming")
        started = time.monotonic()
        for at, length in BLACKOUTS_S:
            time.sleep(max(0.0, started + at - time.monotonic()))
            pair.server.nft(drop)
            time.sleep(length)
            pair.server.run(["nft", "delete", "table", "inet", "blackout"])
        time.sleep(1.0)
        cli.tell("stop")
        srv.expect("finished", timeout=10)
        ctx.finish(cli, srv, linger=0.5)
    episodes = [_recovered_after(length) for _at, length in BLACKOUTS_S]
    return [
        Expected(
            name,
            "a client streams; the server host drops all its segments for 1.0 s, later for "
            "0.5 s; both RTO episodes recover; orderly close",
            "client",
            {
                "server_nft": f"input: tcp sport {port} drop, added then deleted: "
                + ", ".join(f"{length} s from {at} s" for at, length in BLACKOUTS_S),
                "client": "4000 B every 50 ms, close() when told",
            },
            [
                Conn(
                    {"client_port": port},
                    "closed",
                    closer="client",
                    counts=clean(retransmits=bound(len(BLACKOUTS_S), None)),
                    delays={
                        "rto_episodes": len(BLACKOUTS_S),
                        "rto_unrecovered": 0,
                        "rto_s": round(sum(episodes), 3),
                    },
                    slow=["rto_stall"],
                    note="each blackout: tail loss probe and RTO retransmissions of the head "
                    "(200 ms doubling) until one gets through after the rule is deleted: "
                    + " and ".join(f"~{e:.1f} s" for e in episodes)
                    + " from the first lost send to the ACK; the later lost segments are resent "
                    "in the same recovery",
                )
            ],
            findings=[],  # one connection: no cross-connection story
            notes="Loss made with an nft drop rule on the server's input for a fixed time (no "
            "netem on this kernel); the blackouts start 0.6 s and 2.6 s after the stream began.",
            capture_format=ETHERNET,
            observed_by_sockets=ctx.socket_events(),
        )
    ]


#: The keep-alive scenario: how long the server thinks before each of its answers.
TURN_DELAYS_S: tuple[float, ...] = (0.0, 0.2, 1.2, 0.2, 0.0)


def response_turns(ctx: Ctx, net: int) -> list[Expected]:
    """One connection, five request/response turns; the server sleeps before some answers.

    Each turn: the client sends 100 B and reads 1000 B; the server reads the 100 B, sleeps
    ``TURN_DELAYS_S[k]``, sends 1000 B (one write; on a veth the answer leaves at once, so the
    response time at the client is the sleep plus microseconds). The turns' statistics: 5
    responses, max ~1.2 s (turn 3), median ~0.2 s. The bytes are no protocol pcapline
    recognises, so nothing shows that the third server write answered the third client write
    (a server speaking on its own timer looks the same): ``slow_response`` judges only the
    first turn, which is quick, and the tag is not given (``http_keepalive_turns`` is the same
    shape in HTTP/1.1, where it is).
    """
    name = "slow-response-turns.pcap"
    port = 42101
    server: list[st.Step] = [*st.listen(), st.accept("c")]
    client: list[st.Step] = [*st.connect(f"10.{net}.0.2", port)]
    for delay in TURN_DELAYS_S:
        server += [st.recv(100, "c"), *([st.sleep(delay)] if delay else []), st.send(1000, "c")]
        client += [st.send(100), st.recv(1000), st.sleep(0.05)]
    server += [st.recv_eof("c"), st.close("c")]
    client += [st.close()]
    run_pair(ctx, net, name, client, server)
    ordered = sorted(TURN_DELAYS_S)
    return [
        Expected(
            name,
            "one connection, five request/response turns; the server answers after "
            + ", ".join(f"{d} s" for d in TURN_DELAYS_S),
            "client",
            {
                "server": "per turn: read 100 B, sleep, send 1000 B",
                "client": "send 100 B, read 1000 B",
            },
            [
                Conn(
                    {"client_port": port},
                    "closed",
                    closer="client",
                    counts=clean(),
                    delays={
                        "responses": len(TURN_DELAYS_S),
                        "response_s": TURN_DELAYS_S[0],
                        "response_max_s": max(TURN_DELAYS_S),
                        "response_median_s": ordered[len(ordered) // 2],
                        "response_max_turn": TURN_DELAYS_S.index(max(TURN_DELAYS_S)) + 1,
                        "response_judged": "first_turn",
                    },
                    slow=[],
                    note="the third answer is 1.2 s late (over the 1 s default), but the raw "
                    "bytes show no request/response protocol: only the first turn (immediate) "
                    "is judged, no slow_response",
                )
            ],
            capture_format=ETHERNET,
        )
    ]


#: The one-direction scenario: how long the server thinks before each answer of its two
#: connections (the first answer of the first connection is the slow one; the second
#: connection is the quick control).
ONE_DIRECTION_DELAYS_S: tuple[tuple[float, ...], ...] = ((1.5, 0.0), (0.0, 0.0))
ONE_DIRECTION_PORTS: tuple[int, ...] = (42121, 42122)


def response_one_direction(ctx: Ctx, net: int) -> list[Expected]:
    """Two connections in turn, each two request/response turns (100 B asked, 1000 B
    answered); the server sleeps 1.5 s before the first answer of the first connection and
    answers everything else at once. Captured in one direction only, headers only
    (snaplen 96): ``tcpdump -Q out`` on the server's eth0 (the server's packets: SYN+ACK, its
    ACKs of each request, its answers, its FIN) and on the client's eth0 (the client's: SYN,
    the handshake ACK, requests, its ACKs of the answers).

    At the server: Linux acknowledges the 100 B request at once or within its delayed-ACK
    timer (the connection is in quickack mode at its start), whatever the application does,
    and the answer leaves 1.5 s after that bare ACK with the same ACK number: the capture
    proves the server held the request at least ~1.5 s (``delays.response_from``
    ``server_ack``), over the 1 s default: ``slow_response``. The control's answer follows its
    ACK by microseconds: quick. At the client: its first ACK of the slow answer comes ~1.5 s
    after the request's last byte; less the longest delayed ACK RFC 1122 allows (500 ms) and
    the handshake's round trip, at least ~1 s of the server's (``client_ack``):
    ``slow_response``; the
    control's ACK proves no server time (nothing timed). Only the first turn is judged
    (``first_turn``): the bytes show no request/response protocol.
    """
    names = (
        "slow-response-one-direction-at-server.pcap",
        "slow-response-one-direction-at-client.pcap",
    )
    socks = ("c", "d")
    server: list[st.Step] = [*st.listen()]
    client: list[st.Step] = []
    for port, sock, delays in zip(ONE_DIRECTION_PORTS, socks, ONE_DIRECTION_DELAYS_S, strict=True):
        server.append(st.accept(sock))
        client += st.connect(f"10.{net}.0.2", port, sock=sock)
        for delay in delays:
            server += [
                st.recv(100, sock),
                *([st.sleep(delay)] if delay else []),
                st.send(1000, sock),
            ]
            client += [st.send(100, sock), st.recv(1000, sock), st.sleep(0.05)]
        server += [st.recv_eof(sock), st.close(sock)]
        client += [st.close(sock), st.sleep(0.1)]
    one_way = ["-Q", "out", "-s", "96", "tcp"]
    with Lab(ctx.tag) as lab:
        pair = make_pair(lab, net)
        ctx.capture(pair.server, "eth0", names[0], *one_way)
        ctx.capture(pair.client, "eth0", names[1], *one_way)
        srv = ctx.server(pair.server, server)
        ctx.run_client(pair.client, client, srv, timeout=30, server_timeout=30)
    fmt = {"format": "pcap", "link_type": "EN10MB", "tool": "tcpdump -Q out -s 96", "snaplen": 96}
    settings = {
        "server": "per connection: per turn read 100 B, sleep (1.5 s before the first answer "
        "of the first connection, else none), send 1000 B; read EOF, close()",
        "client": "per connection: per turn send 100 B, read 1000 B, sleep 50 ms; close()",
        "tcpdump": "-Q out -s 96 tcp on the capturing host's eth0 (its own packets only)",
    }
    slow_conn = Conn(
        {"client_port": ONE_DIRECTION_PORTS[0]},
        "closed",
        closer="client",
        counts=clean(),
        delays={
            "response_s": bound_s(1.4, 1.6),
            "response_from": "server_ack",
            "response_judged": "first_turn",
        },
        slow=["slow_response"],
        note="only the server's packets: its bare ACK of the first request, then its answer "
        "1.5 s later with the same ACK number: the server held the request at least ~1.5 s "
        "(a lower bound): slow_response on the first turn",
    )
    quick_conn = Conn(
        {"client_port": ONE_DIRECTION_PORTS[1]},
        "closed",
        closer="client",
        counts=clean(),
        delays={
            "response_s": bound_s(0.0, 0.1),
            "response_from": "server_ack",
            "response_judged": "first_turn",
        },
        slow=[],
        note="the control: the answer follows the server's ACK of the request at once",
    )
    slow_at_client = Conn(
        {"client_port": ONE_DIRECTION_PORTS[0]},
        "closed",
        closer="client",
        counts=clean(),
        delays={
            "response_s": bound_s(0.9, 1.2),
            "response_from": "client_ack",
            "response_judged": "first_turn",
        },
        slow=["slow_response"],
        note="only the client's packets: its first ACK of the answer comes 1.5 s after the "
        "request's last byte; less the longest delayed ACK (500 ms, RFC 1122) and the "
        "handshake's round trip the server held the request at least ~1 s: slow_response on "
        "the first turn",
    )
    quick_at_client = Conn(
        {"client_port": ONE_DIRECTION_PORTS[1]},
        "closed",
        closer="client",
        counts=clean(),
        delays={"response_s": None, "response_from": None, "response_judged": None},
        slow=[],
        note="the control: the client ACKs the answer within a delayed ACK and a round trip of "
        "its request, so the capture proves no server time at all: nothing timed, no tag",
    )
    # tshark sees only the captured side's FIN (the other is inferred from its ACK).
    differences = {
        "server": ["closed but FINs from ['server']", "closer server, expected client"],
        "client": ["closed but FINs from ['client']"],
    }
    return [
        Expected(
            name,
            "two connections, two request/response turns each; the server thinks 1.5 s before "
            f"the first answer of the first; captured at the {where}, its own packets only "
            "(tcpdump -Q out)",
            where,
            settings,
            conns,
            notes=f"One direction only (the {other}'s packets were never captured): the "
            f"{other}'s bytes show as the {where}'s ACK number advancing. tshark counts only "
            f"the {where}'s FIN (the {other}'s is inferred from the ACK of it).",
            capture_format=fmt,
            known_tshark_differences=[
                f"{{'client_port': {port}}}: {line}"
                for port in ONE_DIRECTION_PORTS
                for line in differences[where]
            ],
        )
        for name, where, other, conns in (
            (names[0], "server", "client", [slow_conn, quick_conn]),
            (names[1], "client", "server", [slow_at_client, quick_at_client]),
        )
    ]


def _keepalive_gets(net: int, port: int, host: str, paths: list[str]) -> list[st.Step]:
    """An HTTP/1.1 keep-alive client (http.client on one socket): GET each path, read the
    whole answer, sleep 50 ms; then close."""
    client: list[st.Step] = [*st.connect(f"10.{net}.0.2", port)]
    for path in paths:
        client += [
            {"op": "http_request", "sock": "s", "host": host, "path": path},
            st.sleep(0.05),
        ]
    return [*client, st.close()]


#: The HTTP keep-alive scenario: the paths requested in turn, and how long the server thinks
#: before answering each (the third is the slow one).
HTTP_TURNS: tuple[tuple[str, float], ...] = (
    ("/one", 0.0),
    ("/two", 0.0),
    ("/three", 1.2),
    ("/four", 0.0),
    ("/five", 0.0),
)


def http_keepalive_turns(ctx: Ctx, net: int) -> list[Expected]:
    """One HTTP/1.1 keep-alive connection in clear text, five GETs in turn; the server (the
    standard library's ``http.server``, HTTP/1.1: it serves requests until the client closes)
    sleeps 1.2 s before answering the third.

    The client (``http.client`` on the same socket) sends each request line and ``Host`` in
    one write and reads the whole answer (status line, headers, 1000 B body) before the next
    request, 50 ms later. The bytes show HTTP/1.1 requests and a 200 status line: each server
    reply answers a request (RFC 9112), so ``slow_response`` judges every turn, and the third
    (1.2 s, over the 1 s default) earns it: response_max_turn 3.
    """
    name = "slow-response-http-keepalive.pcap"
    port = 42111
    server: list[st.Step] = [
        *st.listen(),
        st.accept("c"),
        {"op": "http_serve", "sock": "c", "sleeps": {p: d for p, d in HTTP_TURNS if d}},
        st.close("c"),
    ]
    client = _keepalive_gets(net, port, "keepalive.example.test", [p for p, _d in HTTP_TURNS])
    run_pair(ctx, net, name, client, server)
    delays = [d for _p, d in HTTP_TURNS]
    return [
        Expected(
            name,
            "one HTTP/1.1 keep-alive connection in clear text, five GETs in turn; the server "
            "sleeps 1.2 s before answering the third",
            "client",
            {
                "server": "http.server (HTTP/1.1 keep-alive): per request sleep ("
                + ", ".join(f"{d} s" for d in delays)
                + "), then 200 with a 1000 B body",
                "client": "http.client on one socket: GET, read the answer, sleep 50 ms",
            },
            [
                Conn(
                    {"client_port": port},
                    "closed",
                    closer="client",
                    counts=clean(),
                    delays={
                        "responses": len(HTTP_TURNS),
                        "response_s": delays[0],
                        "response_max_s": max(delays),
                        "response_max_turn": delays.index(max(delays)) + 1,
                        "response_judged": "every_turn",
                    },
                    slow=["slow_response"],
                    app={
                        "protocol": "http",
                        "tls": None,
                        "http": {
                            "method": "GET",
                            "host": "keepalive.example.test",
                            "path": HTTP_TURNS[0][0],
                            "version": "HTTP/1.1",
                            "status": 200,
                            "reason": "OK",
                        },
                    },
                    note="HTTP/1.1 in clear text: every turn is judged; the third answer is "
                    "1.2 s late (over the 1 s default): slow_response on turn 3, though the "
                    "first is immediate",
                )
            ],
            capture_format=ETHERNET,
        )
    ]


#: The paused-answer scenario: the paths requested in turn, and how long the server waits in
#: the middle of each answer's body (the second stalls), and the body's size.
PAUSED_TURNS: tuple[tuple[str, float], ...] = (("/first", 0.0), ("/stalls", 1.5), ("/last", 0.0))
PAUSED_BODY = 20_000


def app_pause_mid_answer(ctx: Ctx, net: int) -> list[Expected]:
    """One HTTP/1.1 keep-alive connection in clear text, three GETs in turn; the server
    (``http.server``) answers the second at once with its status line, headers and the first
    10,000 B of a 20,000 B body, sleeps 1.5 s, then writes the rest.

    Kernel rules: the first half leaves at once (nothing holds it) and the client acknowledges
    it (every second full segment at once, the last odd one within the delayed-ACK timer,
    >= 40 ms); then the server has nothing in flight and the client's window is wide open, so
    nothing in TCP holds its next write: the 1.5 s gap is its application's. The answer starts
    at once: no slow_response (the first byte is what it judges), but the client's next request
    shows the paused answer had ended: app_pause, on HTTP/1.x whose every turn is judged.
    Captured at the client.
    """
    name = "slow-app-pause-mid-answer.pcap"
    port = 42121
    server: list[st.Step] = [
        *st.listen(),
        st.accept("c"),
        {
            "op": "http_serve",
            "sock": "c",
            "body": PAUSED_BODY,
            "pauses": {path: pause for path, pause in PAUSED_TURNS if pause},
        },
        st.close("c"),
    ]
    client = _keepalive_gets(net, port, "paused.example.test", [p for p, _d in PAUSED_TURNS])
    run_pair(ctx, net, name, client, server)
    pause = max(p for _path, p in PAUSED_TURNS)
    return [
        Expected(
            name,
            "one HTTP/1.1 keep-alive connection in clear text, three GETs in turn; the server "
            f"pauses {pause} s after the first half of the second answer's body",
            "client",
            {
                "server": f"http.server (HTTP/1.1 keep-alive): 200 with a {PAUSED_BODY} B body; "
                f"for the second request it writes the headers and half the body, sleeps "
                f"{pause} s, then writes the rest",
                "client": "http.client on one socket: GET, read the answer, sleep 50 ms",
            },
            [
                Conn(
                    {"client_port": port},
                    "closed",
                    closer="client",
                    counts=clean(),
                    delays={
                        "responses": len(PAUSED_TURNS),
                        "response_judged": "every_turn",
                        # less the client's delayed ACK of the first half (40-200 ms) at most
                        "app_pause_s": bound_s(round(pause - 0.2, 3), round(pause + 0.05, 3)),
                        "app_pause_side": "server",
                        "rto_episodes": 0,
                        "zero_window_s": 0.0,
                    },
                    slow=["app_pause"],
                    note=f"the server's application stalls {pause} s mid-answer with all it sent "
                    "acknowledged and the window open: app_pause (server); every answer began "
                    "at once, so no slow_response",
                )
            ],
            capture_format=ETHERNET,
            observed_by_sockets=ctx.socket_events(),
        )
    ]


#: The pipelined scenario: the paths asked in one write, and how long the server thinks
#: before answering each (the second is the slow one); each body's size.
PIPELINED_TURNS: tuple[tuple[str, float], ...] = (("/a", 0.0), ("/b", 1.5))
PIPELINED_BODY = 100


def app_pause_pipelined(ctx: Ctx, net: int) -> list[Expected]:
    """One HTTP/1.1 connection in clear text: the client sends two GETs in one write
    (pipelined, RFC 9112 9.3.2), reads both answers and closes at once; the server
    (``http.server``, which reads and answers requests one after the other) answers the first
    at once and sleeps 1.5 s before answering the second.

    Kernel rules: both requests leave in one segment; the first answer leaves at once and the
    client acknowledges it; then the server has nothing in flight and the client's window is
    open, so nothing in TCP holds its next write: the 1.5 s gap is its application's. No
    client data follows (the client FINs as soon as it has both answers), so only the second
    answer's status line, at the start of the data after the pause, shows that the first
    answer had ended and the server held the next: app_pause. Captured at the client.
    """
    name = "slow-app-pause-pipelined.pcap"
    port = 42131
    server: list[st.Step] = [
        *st.listen(),
        st.accept("c"),
        {
            "op": "http_serve",
            "sock": "c",
            "body": PIPELINED_BODY,
            "sleeps": {path: pause for path, pause in PIPELINED_TURNS if pause},
        },
        st.close("c"),
    ]
    client: list[st.Step] = [
        *st.connect(f"10.{net}.0.2", port),
        {
            "op": "http_pipeline",
            "sock": "s",
            "host": "pipelined.example.test",
            "paths": [path for path, _pause in PIPELINED_TURNS],
        },
        st.close(),
    ]
    run_pair(ctx, net, name, client, server)
    pause = max(p for _path, p in PIPELINED_TURNS)
    return [
        Expected(
            name,
            "one HTTP/1.1 connection in clear text, two GETs pipelined in one write; the server "
            f"answers the first at once and the second {pause} s later; the client closes "
            "as soon as it has both",
            "client",
            {
                "server": f"http.server (HTTP/1.1): 200 with a {PIPELINED_BODY} B body; it "
                f"sleeps {pause} s before answering the second request",
                "client": "both GETs in one sendall(), read the two answers, close()",
            },
            [
                Conn(
                    {"client_port": port},
                    "closed",
                    closer="client",
                    counts=clean(),
                    delays={
                        "response_judged": "every_turn",
                        "app_pause_s": bound_s(round(pause - 0.05, 3), round(pause + 0.05, 3)),
                        "app_pause_side": "server",
                        "rto_episodes": 0,
                        "zero_window_s": 0.0,
                    },
                    slow=["app_pause"],
                    note=f"the server's application holds the second answer {pause} s with "
                    "all it sent acknowledged and the window open; the data after the pause "
                    "begins with a status line (a new response): app_pause (server), though "
                    "the client sends nothing after it",
                )
            ],
            capture_format=ETHERNET,
            observed_by_sockets=ctx.socket_events(),
        )
    ]


#: The unprompted-speaker scenario: each peer's 19-byte messages (a BGP KEEPALIVE's size) on
#: its own timer. The client sends at these times (s after its OPEN) ...
PEER_CLIENT_AT_S: tuple[float, ...] = (0.4, 2.4, 4.4)
#: ... and the server this long after each of the client's: never in answer to it.
PEER_SERVER_AFTER_S: tuple[float, ...] = (1.5, 1.8, 1.6)
PEER_MESSAGE = 19


def unprompted_peers(ctx: Ctx, net: int) -> list[Expected]:
    """Two BGP-like peers: after an OPEN the server answers at once, each side sends a
    19-byte message on its own timer, never reading the other's until the end.

    The client: OPEN (19 B), read the server's OPEN, then a message at 0.4, 2.4 and 4.4 s,
    then read the server's three and close. The server: read the OPEN, answer it at once,
    then sleep 1.9, 2.3 and 1.8 s between its messages (each one 1.5, 1.8, 1.6 s after the
    client's latest), then read the client's three, EOF, close. Every server message follows
    a client message: four turns in pcapline's measure (the first ~0 s, then 1.5, 1.8 and
    1.6 s: response_max_turn 3), but the server answers none of the later ones. The bytes are
    no protocol pcapline recognises, so only the first turn (the OPEN's answer, immediate) is
    judged: no ``slow_response``, and the text says why the 1.8 s reply is not called slow.
    """
    name = "slow-response-unprompted-peers.pcap"
    port = 42121
    client: list[st.Step] = [
        *st.connect(f"10.{net}.0.2", port),
        st.send(PEER_MESSAGE),
        st.recv(PEER_MESSAGE),
    ]
    clock = 0.0
    for at in PEER_CLIENT_AT_S:
        client += [st.sleep(round(at - clock, 3)), st.send(PEER_MESSAGE)]
        clock = at
    client += [st.recv(PEER_MESSAGE * len(PEER_SERVER_AFTER_S)), st.close()]
    server: list[st.Step] = [
        *st.listen(),
        st.accept("c"),
        st.recv(PEER_MESSAGE, "c"),
        st.send(PEER_MESSAGE, "c"),
    ]
    clock = 0.0
    for at, after in zip(PEER_CLIENT_AT_S, PEER_SERVER_AFTER_S, strict=True):
        server += [st.sleep(round(at + after - clock, 3)), st.send(PEER_MESSAGE, "c")]
        clock = at + after
    server += [
        st.recv(PEER_MESSAGE * len(PEER_CLIENT_AT_S), "c"),
        st.recv_eof("c"),
        st.close("c"),
    ]
    run_pair(ctx, net, name, client, server)
    slowest = max(PEER_SERVER_AFTER_S)
    return [
        Expected(
            name,
            "two BGP-like peers: an OPEN answered at once, then each side sends a 19 B message "
            "on its own timer, the server's 1.5, 1.8, 1.6 s after the client's",
            "client",
            {
                "client": "send 19 B, read 19 B, send 19 B at +0.4, +2.4, +4.4 s, read 57 B, "
                "close()",
                "server": "read 19 B, send 19 B, then send 19 B at +1.9, +4.2, +6.0 s without "
                "reading, read 57 B, EOF, close()",
            },
            [
                Conn(
                    {"client_port": port},
                    "closed",
                    closer="client",
                    counts=clean(),
                    delays={
                        "responses": 1 + len(PEER_SERVER_AFTER_S),
                        "response_s": 0.0,
                        "response_max_s": slowest,
                        "response_max_turn": 2 + PEER_SERVER_AFTER_S.index(slowest),
                        "response_judged": "first_turn",
                    },
                    slow=[],
                    note="the server speaks on its own timer 1.5-1.8 s after the client: "
                    "measured as turns, not judged (no request/response protocol in the "
                    "bytes); the first turn (the OPEN's answer) is immediate: no slow_response",
                )
            ],
            capture_format=ETHERNET,
        )
    ]


#: The RTO storm: concurrent streams, and one blackout of the server's TCP input.
STORM_PORTS: tuple[int, ...] = (46101, 46102, 46103, 46104, 46105, 46106)
STORM_BLACKOUT_S = 1.0


def rto_storm(ctx: Ctx, net: int) -> list[Expected]:
    """Six clients stream to one server at once; the server's host drops all TCP input for
    1.0 s (an outage on the shared path), then the path heals.

    Every stream is inside an RTO episode during the blackout (each streams 4000 B every
    50 ms, so each has data in flight when the rule goes in): the RTO ladder of 200 ms
    doubling (tcp_retransmit_timer) gets through at its third step, ~1.4 s after each one's
    first lost send (``_recovered_after``), all in the same seconds. The cross-connection
    finding ``rto_storm`` names the six together.
    """
    name = "slow-rto-storm-six-streams.pcap"
    drop = """table inet outage {
  chain in {
    type filter hook input priority 0;
    meta l4proto tcp drop
  }
}
"""
    count = len(STORM_PORTS)
    with Lab(ctx.tag) as lab:
        pair = make_pair(lab, net)
        cap = ctx.capture(pair.client, "eth0", name)
        srv = ctx.server(
            pair.server,
            [
                *st.listen(),
                {"op": "bulk_server", "sock": "l", "count": count, "up": 0, "down": 0},
            ],
        )
        streams = [
            ctx.actor(
                pair.client,
                [*st.streaming_client(pair.server_ip, port, 4000), st.close()],
                f"stream-{port}",
            )
            for port in STORM_PORTS
        ]
        for a in streams:
            a.expect("streaming")
        time.sleep(0.8)
        pair.server.nft(drop)
        time.sleep(STORM_BLACKOUT_S)
        pair.server.run(["nft", "delete", "table", "inet", "outage"])
        time.sleep(1.5)
        for a in streams:
            a.tell("stop")
        srv.expect("bulk_served", timeout=15)
        cap.stop(linger=0.5)
        for a in streams:
            a.stop()
        srv.stop()
    episode = _recovered_after(STORM_BLACKOUT_S)
    conns = [
        Conn(
            {"client_port": port},
            "closed",
            closer="client",
            counts=clean(retransmits=bound(1, None)),
            delays={"rto_episodes": 1, "rto_unrecovered": 0, "rto_s": round(episode, 3)},
            slow=["rto_stall"],
            note=f"inside the {STORM_BLACKOUT_S} s blackout with the five others: RTOs at 0.2, "
            f"0.6, 1.4 s; the third gets through (~{episode:.1f} s episode), recovered",
        )
        for port in STORM_PORTS
    ]
    return [
        Expected(
            name,
            f"{count} concurrent streams; the server host drops all TCP input for "
            f"{STORM_BLACKOUT_S} s; every stream stalls on RTOs at once and recovers",
            "client",
            {
                "server_nft": f"input: meta l4proto tcp drop, for {STORM_BLACKOUT_S} s",
                "clients": f"ports {STORM_PORTS[0]}..{STORM_PORTS[-1]}, 4000 B every 50 ms each",
            },
            conns,
            findings=["rto_storm"],
            capture_format=ETHERNET,
            observed_by_sockets=ctx.socket_events(),
        )
    ]


#: The response-time step: how many quick answers, then how many slow ones, and how slow.
JUMP_FAST, JUMP_SLOW, JUMP_SLOW_S = 10, 10, 0.3


def response_jump(ctx: Ctx, net: int) -> list[Expected]:
    """Two connections to one server, used in turn; the server answers its first
    ``JUMP_FAST`` requests at once and every later one after ``JUMP_SLOW_S`` s (a backend that
    slowed down at one moment). The cross-connection finding ``response_jump`` names the
    moment: median ~0 s before, ~0.3 s after."""
    name = "slow-response-jump.pcap"
    ports = (42201, 42202)
    server: list[st.Step] = [*st.listen(), st.accept("c0"), st.accept("c1")]
    client: list[st.Step] = []
    for k, port in enumerate(ports):
        client += st.connect(f"10.{net}.0.2", port, sock=f"s{k}")
    for turn in range(JUMP_FAST + JUMP_SLOW):
        k = turn % len(ports)
        delay = JUMP_SLOW_S if turn >= JUMP_FAST else 0.0
        server += [
            st.recv(100, f"c{k}"),
            *([st.sleep(delay)] if delay else []),
            st.send(1000, f"c{k}"),
        ]
        client += [st.send(100, f"s{k}"), st.recv(1000, f"s{k}"), st.sleep(0.02)]
    for k in range(len(ports)):
        client += [st.close(f"s{k}")]
        server += [st.recv_eof(f"c{k}"), st.close(f"c{k}")]
    run_pair(ctx, net, name, client, server)
    per_conn = (JUMP_FAST + JUMP_SLOW) // len(ports)
    conns = [
        Conn(
            {"client_port": port},
            "closed",
            closer="client",
            counts=clean(),
            delays={"responses": per_conn, "response_max_s": JUMP_SLOW_S},
            slow=[],
            note=f"{per_conn} request/response turns, alternating with the other connection; "
            f"the server's answers from the {JUMP_FAST + 1}th request on come {JUMP_SLOW_S} s late "
            "(the first answer is quick: no slow tag)",
        )
        for port in ports
    ]
    return [
        Expected(
            name,
            f"two connections, {JUMP_FAST + JUMP_SLOW} requests in turn; the server answers the "
            f"first {JUMP_FAST} at once, the rest {JUMP_SLOW_S} s late",
            "client",
            {
                "server": f"read 100 B, (from request {JUMP_FAST + 1}: sleep {JUMP_SLOW_S} s), send 1000 B"
            },
            conns,
            findings=["response_jump"],
            capture_format=ETHERNET,
        )
    ]


#: The paced reader: what the client sends, the server's receive buffer, and how it reads.
PACED_BYTES = 800_000
PACED_RCVBUF = 8192
PACED_CHUNK = 4096
PACED_INTERVAL_S = 0.01


def window_full_paced_reader(ctx: Ctx, net: int) -> list[Expected]:
    """A client sends 800 kB to a server with a small receive buffer that reads 4096 B every
    10 ms until EOF: slower than the sender, but it never stops, so the window fills and
    opens again, and never closes.

    Kernel rules: SO_RCVBUF 8192 (set on the listener, so the accepted socket has it and
    autotuning is off: SOCK_RCVBUF_LOCK) gives a window of a few kB. While the application does
    not read, the receiver does not ACK at once (tcp_input.c, __tcp_ack_snd_check: the window
    would not advance) but schedules a delayed ACK (>= 40 ms, TCP_DELACK_MIN); each 10 ms
    read sends that ACK with the window it freed (tcp_cleanup_rbuf), so the window never
    reaches 0 (it would only if the delayed-ACK timer fired before a read). The sender fills
    each opening and waits for the next read: a full, non-zero window. Tail loss probes are
    off on the sender (net.ipv4.tcp_early_retrans=0): with them, a probe 2 ms into each wait
    would resend data the receiver holds (a spurious retransmission answered at once, with a
    zero window). The client close()s after its last write; the server closes at EOF.
    """
    name = "slow-window-full-paced-reader.pcap"
    port = 46201
    server: list[st.Step] = [
        *st.listen(opts=[st.opt("SO_RCVBUF", PACED_RCVBUF)]),
        st.accept("c"),
        {"op": "recv_paced", "sock": "c", "chunk": PACED_CHUNK, "interval": PACED_INTERVAL_S},
        st.close("c"),
    ]
    client: list[st.Step] = [
        *st.connect(f"10.{net}.0.2", port),
        st.send(PACED_BYTES),
        st.close(),
    ]

    def prepare(pair: Pair) -> None:
        pair.client.sysctl("net.ipv4.tcp_early_retrans", 0)

    run_pair(ctx, net, name, client, server, prepare=prepare)
    # Every byte past what the receive buffer holds (at most 2 x SO_RCVBUF, the kernel's
    # doubling) waits for a read; reads are at least PACED_INTERVAL_S apart.
    reads_waited = (PACED_BYTES - 2 * PACED_RCVBUF) // PACED_CHUNK
    paced_s = round(reads_waited * PACED_INTERVAL_S, 3)
    blocked_min_s = round(paced_s * WINDOW_FULL_SHARE, 3)
    return [
        Expected(
            name,
            f"a client sends {PACED_BYTES:,} B to a server (SO_RCVBUF {PACED_RCVBUF}) that reads "
            f"{PACED_CHUNK} B every {PACED_INTERVAL_S * 1000:g} ms until EOF; the window fills "
            "and reopens at each read, never closes; orderly close",
            "client",
            {
                "server": {
                    "SO_RCVBUF": PACED_RCVBUF,
                    "reads": f"recv({PACED_CHUNK}), sleep {PACED_INTERVAL_S} s, until EOF",
                },
                "client": {"net.ipv4.tcp_early_retrans": 0, "send": PACED_BYTES},
            },
            [
                Conn(
                    {"client_port": port},
                    "closed",
                    closer="client",
                    counts=clean(),
                    delays={
                        "zero_window_s": 0.0,
                        "rto_episodes": 0,
                        "window_full_s": bound_s(blocked_min_s, None),
                        "window_full_episodes": bound(reads_waited // 2, None),
                    },
                    slow=["window_full_stall"],
                    note=f"at least {reads_waited} reads of {PACED_CHUNK} B, {PACED_INTERVAL_S} s "
                    f"apart, release the bytes past the receive buffer: the sender waits on a "
                    f"full window for >= {paced_s} s in all; window_full_s >= "
                    f"{WINDOW_FULL_SHARE:g} of it ({blocked_min_s} s) and at least one "
                    "episode per two reads (an opening too small for a full-sized segment is "
                    "waited through, not claimed); no zero window, no retransmission",
                )
            ],
            findings=[],
            notes="The window_full_s bound is a floor, not a value: every wait between reads is "
            "time the full window held the sender, but a wait whose opening the capture cannot "
            "show is not claimed. Wireshark flags tcp.analysis.window_full on the segment that "
            "begins each wait.",
            capture_format=ETHERNET,
            observed_by_sockets=ctx.socket_events(),
        )
    ]


#: The share of the read pacing the measured window-full time must reach (the floor): the
#: sender's own sending between waits takes microseconds on a veth, so nearly all of the
#: pacing is waiting; the rest of the share is room for waits the capture cannot show.
WINDOW_FULL_SHARE = 0.8


#: The blackout: requests of one keep-alive connection, and how long the router drops every
#: server -> client packet after the first answer.
BLACKOUT_REQUESTS = 4
BLACKOUT_GAP_S = 0.5
BLACKOUT_S = 3.0


def answers_lost_for_a_while(ctx: Ctx, net: int) -> list[Expected]:
    """A keep-alive connection whose answers are lost for 3 s; the server answers each at once.

    Four 100 B requests 0.5 s apart, each answered with 1000 B as soon as it is read. After the
    first answer the router drops every packet from the server for ``BLACKOUT_S`` (an nft rule
    added, then deleted): the server's answers and ACKs are lost, so the server retransmits its
    answers on its RTO (200 ms doubling, tcp_retransmit_timer) and the client, whose requests
    go unacknowledged, retransmits them (spurious: the server had them). Captured at the
    server and at the client. Every request is answered once, at once: four request/answer
    turns and no slow answer at either point; the time went to retransmission timeouts.
    """
    names = ("slow-answers-lost-3s-at-server.pcap", "slow-answers-lost-3s-at-client.pcap")
    port = 42801
    server: list[st.Step] = [*st.listen(), st.accept("c")]
    client: list[st.Step] = [*st.connect(f"10.{net}.2.1", port)]
    for k in range(BLACKOUT_REQUESTS):
        server += [st.recv(100, "c"), st.send(1000, "c")]
        client += [st.send(100), st.recv(1000), st.signal(f"answered{k}"), st.sleep(BLACKOUT_GAP_S)]
    server += [st.recv_eof("c"), st.close("c")]
    client += [st.close(), st.signal("done")]
    blackout = (
        "table inet blackout {\n  chain lost {\n    type filter hook forward priority 0;\n"
        f'    iifname "rs" tcp sport {st.SERVER_PORT} drop\n  }}\n}}\n'
    )
    with Lab(ctx.tag) as lab:
        topo = make_routed(lab, net)
        ctx.capture(topo.server, "eth0", names[0])
        ctx.capture(topo.client, "eth0", names[1])
        srv = ctx.server(topo.server, server)
        cli = ctx.actor(topo.client, client, "client")
        cli.expect("answered0", timeout=10)
        time.sleep(0.2)
        topo.router.nft(blackout)
        time.sleep(BLACKOUT_S)
        topo.router.run(["nft", "delete", "table", "inet", "blackout"])
        cli.expect("done", timeout=60)
        srv.expect("finished", timeout=10)
        ctx.finish(cli, srv, linger=0.5)
    out = []
    for name, where in zip(names, ("server", "client"), strict=True):
        conn = Conn(
            {"client_port": port},
            "closed",
            closer="client",
            counts=clean(retransmits=bound(2, None)),
            delays={"responses": BLACKOUT_REQUESTS},
            slow=["rto_stall"],
            note=f"{BLACKOUT_REQUESTS} requests, each answered at once; the router dropped "
            f"every server packet for {BLACKOUT_S} s after the first answer: the answers "
            "and the requests were retransmitted on timeouts, nothing answered slowly",
        )
        out.append(
            Expected(
                name,
                f"one keep-alive connection, {BLACKOUT_REQUESTS} requests {BLACKOUT_GAP_S} s "
                f"apart, each answered at once; a router drops every server packet for "
                f"{BLACKOUT_S} s after the first answer; captured at the {where}",
                where,
                {
                    "router_nft": f'forward: iifname "rs" tcp sport {st.SERVER_PORT} drop, '
                    f"for {BLACKOUT_S} s from 0.2 s after the first answer",
                    "server": "read 100 B, send 1000 B, per request; read EOF, close()",
                    "client": f"send 100 B, read 1000 B, sleep {BLACKOUT_GAP_S} s, per request",
                },
                [conn],
                capture_format=ETHERNET,
            )
        )
    return out


#: The queue: a router's link toward the client, slow and deep (tbf never drops: the limit
#: holds the whole download), and the two connections that share it.
QUEUE_TC_TOWARD_CLIENT = ("tbf", "rate", "1mbit", "burst", "5kb", "limit", "1000kb")
QUEUED_REQUESTS = 5
QUEUED_GAP_S = 0.6
QUEUED_DOWNLOAD = 400_000


def spurious_timeouts_behind_a_queue(ctx: Ctx, net: int) -> list[Expected]:
    """Bufferbloat: a keep-alive connection's answers wait behind a download in a deep queue.

    The router's link toward the client is 1 Mbit/s with a 1000 kB queue (tbf: nothing is
    dropped, the queue holds the whole 400 kB download). Connection 1 (port 42901) sends 5
    requests of 100 B, 0.6 s apart, each answered at once with 1000 B; 0.3 s after it opens,
    connection 2 (42902, server port 8081) downloads 400 kB through the same link. The
    answers and ACKs toward the client now wait seconds in the queue, longer than the RTO: the
    client resends its requests and the server its answers on timeouts, although nothing was
    lost; each side's copies arrive as duplicates and the receiver says so with D-SACK
    (RFC 2883, net.ipv4.tcp_dsack=1). Captured at the client.
    """
    name = "slow-queue-spurious-timeouts.pcap"
    ask_port, bulk_port, bulk_server_port = 42901, 42902, st.SERVER_PORT + 1
    server: list[st.Step] = [*st.listen(), st.accept("c")]
    asker: list[st.Step] = [*st.connect(f"10.{net}.2.1", ask_port)]
    for k in range(QUEUED_REQUESTS):
        server += [st.recv(100, "c"), st.send(1000, "c")]
        asker += [st.send(100), st.recv(1000), st.sleep(QUEUED_GAP_S)]
        if k == 0:
            asker.append(st.signal("opened"))
    server += [st.recv_eof("c"), st.close("c")]
    asker += [st.close(), st.signal("done")]
    source = [
        *st.listen(bulk_server_port),
        st.accept("c"),
        st.send(QUEUED_DOWNLOAD, "c"),
        st.close("c"),
    ]
    getter = [
        *st.connect(f"10.{net}.2.1", bulk_port, port=bulk_server_port),
        st.recv(QUEUED_DOWNLOAD),
        st.recv_eof(),
        st.close(),
        st.signal("done"),
    ]
    with Lab(ctx.tag) as lab:
        topo = make_routed(lab, net)
        topo.router.run(["tc", "qdisc", "add", "dev", "rc", "root", *QUEUE_TC_TOWARD_CLIENT])
        ctx.capture(topo.client, "eth0", name)
        answering = ctx.server(topo.server, server)
        sending = ctx.server(topo.server, source, "source")
        asking = ctx.actor(topo.client, asker, "asker")
        asking.expect("opened", timeout=10)
        time.sleep(0.3)
        getting = ctx.actor(topo.client, getter, "getter")
        getting.expect("done", timeout=60)
        asking.expect("done", timeout=60)
        ctx.finish(asking, getting, answering, sending, linger=0.5)
    return [
        Expected(
            name,
            "a keep-alive connection's requests and answers wait behind a 400 kB download in "
            "a 1 Mbit/s, 1000 kB queue toward the client (tbf never drops); captured at the "
            "client",
            "client",
            {
                "router_tc": "rc: " + " ".join(QUEUE_TC_TOWARD_CLIENT),
                "asker": f"{QUEUED_REQUESTS} x (send 100 B, read 1000 B, sleep {QUEUED_GAP_S} s)",
                "getter": f"reads {QUEUED_DOWNLOAD} B from port {bulk_server_port}",
            },
            [
                Conn(
                    {"client_port": ask_port},
                    "closed",
                    closer="client",
                    counts=clean(retransmits=bound(1, None)),
                    inferred={"spurious_rtos_min": 1},
                    note="nothing dropped (tbf limit above the download): every retransmission "
                    "was sent on a timeout the queue's delay caused, and reported duplicate",
                ),
                Conn(
                    {"client_port": bulk_port},
                    "closed",
                    closer="server",
                    counts=clean(retransmits=bound(0, None)),
                    note="the download that fills the queue",
                ),
            ],
            capture_format=ETHERNET,
        )
    ]


#: A path with a round trip: the tun link's one-way delay, and the share of the client's data
#: segments the server's firewall drops at random (the data RTT is measured where data was lost).
PATH_ONE_WAY_S = 0.025
PATH_DROP_PERCENT = 4
PATH_BYTES = 300_000


def data_rtt_on_a_long_path(ctx: Ctx, net: int) -> list[Expected]:
    """Both sides send 300 kB over a 50 ms round trip; the server drops 4 % of the client's data.

    The client and the server talk over a tun link whose forwarder holds every packet
    ``PATH_ONE_WAY_S`` (25 ms) each way: a 50 ms round trip. The server's nft input rule drops
    about 4 % of the client's data segments at random (``numgen random``), so the client
    retransmits and the connection's data round trip is measured (Karn: from data sent once).
    Captured at the client (tun0: LINKTYPE_RAW). The round trip is the path's 50 ms, plus
    the hosts' own ACK delays: never the microseconds the client takes to ACK the server's
    data, which is no round trip.
    """
    from tools.samplegen.scenarios.linktypes import tun_pair

    name = "slow-path-50ms-rtt-data-loss.pcap"
    port = 42951
    drop = (
        "table inet lossy {\n  chain in {\n    type filter hook input priority 0;\n"
        f'    iifname "tun0" tcp dport {st.SERVER_PORT} ip length > 100 '
        f"numgen random mod 100 < {PATH_DROP_PERCENT} drop\n  }}\n}}\n"
    )
    with Lab(ctx.tag) as lab:
        c, s = tun_pair(ctx, lab, net, delay_s=PATH_ONE_WAY_S)
        s.nft(drop)
        ctx.capture(c, "tun0", name, "-s", "96")  # headers only: the sample folder stays small
        srv = ctx.server(
            s,
            [
                *st.listen(),
                st.accept("c"),
                st.recv(PATH_BYTES, "c"),
                st.send(PATH_BYTES, "c"),
                st.recv_eof("c"),
                st.close("c"),
            ],
        )
        ctx.run_client(
            c,
            [
                *st.connect(f"192.168.{net}.2", port),
                st.send(PATH_BYTES),
                st.recv(PATH_BYTES),
                st.close(),
                st.signal("done"),
            ],
            srv,
            timeout=60,
            until="done",
        )
        ctx.cleanup()
    rtt_ms = 2 * PATH_ONE_WAY_S * 1000
    return [
        Expected(
            name,
            f"client and server each send {PATH_BYTES // 1000} kB over a tun link with "
            f"{PATH_ONE_WAY_S * 1000:.0f} ms each way; the server drops {PATH_DROP_PERCENT} % "
            "of the client's data at random; captured at the client",
            "client",
            {
                "link": f"tun, {PATH_ONE_WAY_S * 1000:.0f} ms one-way delay in the forwarder",
                "server_nft": f'input: iifname "tun0" tcp dport {st.SERVER_PORT} ip length > '
                f"100 numgen random mod 100 < {PATH_DROP_PERCENT} drop",
            },
            [
                Conn(
                    {"client_port": port},
                    "closed",
                    closer="client",
                    counts=clean(retransmits=bound(1, None)),
                    delays={"data_rtt_ms": bound_s(rtt_ms * 0.9, rtt_ms + 45)},
                    note=f"a {rtt_ms:.0f} ms round trip; the client's lost data resent",
                )
            ],
            notes="The client's fast retransmits follow the server's duplicate ACKs within "
            "microseconds at this capture point; Wireshark calls a segment that comes less than "
            "its iRTT after the previous one out-of-order, not a retransmission.",
            known_tshark_differences=[
                "{'client_port': 42951}: retransmits=0, expected {'min': 1, 'max': None}"
            ],
            capture_format=TUN_HEADERS,
        )
    ]


#: The Nagle/delayed-ACK pair: rounds per connection, the request's two writes and the answer.
NAGLE_ROUNDS = 20
NAGLE_HALF_B = 60
NAGLE_ANSWER_B = 200
NAGLE_PORT, NODELAY_PORT = 42301, 42302


def nagle_delayed_ack(ctx: Ctx, net: int) -> list[Expected]:
    """Two connections, each ``NAGLE_ROUNDS`` rounds of write-write-read: the client writes a
    request in two small writes, the server reads both and answers.

    Kernel rules: Nagle (RFC 896; Linux ``tcp_nagle_check``, on unless TCP_NODELAY) holds the
    second small write while the first is unacknowledged; the server, waiting for the rest of
    the request, has nothing to send, so it acknowledges the first half only when its delayed
    ACK timer fires (``tcp_send_delayed_ack``: at least TCP_DELACK_MIN, 40 ms). The second
    half leaves the moment that ACK arrives: every round past the receiver's quick-ACK start
    costs ~40 ms. The second connection sets TCP_NODELAY: both halves leave at once, the
    server answers at once, no round waits.
    """
    name = "slow-nagle-delayed-ack.pcap"
    server_ip = f"10.{net}.0.2"
    server: list[st.Step] = [*st.listen()]
    client: list[st.Step] = []
    for k, (port, opts) in enumerate(
        ((NAGLE_PORT, []), (NODELAY_PORT, [st.opt("TCP_NODELAY", 1)]))
    ):
        sock, csock = f"c{k}", f"s{k}"
        server.append(st.accept(sock))
        client += st.connect(server_ip, port, sock=csock, opts=opts)
        for _ in range(NAGLE_ROUNDS):
            server += [st.recv(2 * NAGLE_HALF_B, sock), st.send(NAGLE_ANSWER_B, sock)]
            client += [
                st.send(NAGLE_HALF_B, csock),
                st.send(NAGLE_HALF_B, csock),
                st.recv(NAGLE_ANSWER_B, csock),
            ]
        server += [st.recv_eof(sock), st.close(sock)]
        client += [st.close(csock), st.sleep(0.3)]
    run_pair(ctx, net, name, client, server)
    # Linux starts a connection in quick-ACK mode (``tcp_incr_quickack``): the first rounds'
    # halves are acknowledged at once. Every later round waits for the timer.
    waits = bound(NAGLE_ROUNDS - 4, NAGLE_ROUNDS - 1)
    floor_s = (NAGLE_ROUNDS - 4) * 0.036  # TCP_DELACK_MIN at HZ=250 jiffies: 36 ms and up
    request = f"{NAGLE_ROUNDS} rounds: two {NAGLE_HALF_B} B writes, read {NAGLE_ANSWER_B} B"
    return [
        Expected(
            name,
            "two connections of write-write-read rounds; the first with Nagle on (the default): "
            "every round past the quick-ACK start waits for the server's delayed ACK (~40 ms); "
            "the second sets TCP_NODELAY and never waits",
            "client",
            {
                "client": f"{NAGLE_PORT}: {request}; {NODELAY_PORT}: TCP_NODELAY, the same",
                "server": f"per round: read {2 * NAGLE_HALF_B} B, send {NAGLE_ANSWER_B} B",
            },
            [
                Conn(
                    {"client_port": NAGLE_PORT},
                    "closed",
                    closer="client",
                    counts=clean(),
                    delays={"nagle_episodes": waits, "nagle_s": bound_s(floor_s, None)},
                    slow=["nagle_stall"],
                    note="Nagle holds each second half until the first half's delayed ACK",
                ),
                Conn(
                    {"client_port": NODELAY_PORT},
                    "closed",
                    closer="client",
                    counts=clean(),
                    delays={"nagle_episodes": 0, "nagle_s": 0.0},
                    slow=[],
                    note="TCP_NODELAY: both halves leave at once, nothing waits",
                ),
            ],
            capture_format=ETHERNET,
        )
    ]


#: The Nagle rounds again over a path with a round trip of its own, captured at both ends.
NAGLE_PATH_ONE_WAY_S = 0.010
NAGLE_PATH_ROUNDS = 10
NAGLE_PATH_PORT = 42303


def nagle_delayed_ack_on_a_path(ctx: Ctx, net: int) -> list[Expected]:
    """``nagle_delayed_ack``'s Nagle connection over a tun link holding every packet 10 ms
    each way (a 20 ms round trip), captured at the client and at the server.

    Where the capture is taken moves the held part: at the client it leaves the moment the
    server's delayed ACK arrives; at the server it arrives one round trip after that ACK left.
    From the first part to the second is the round trip plus the delayed ACK at both ends
    (A -> server, the timer, ACK -> client, B -> server is one loop), so both captures show
    every round past the quick-ACK start waiting ~40 ms beyond the round trip.
    """
    from tools.samplegen.scenarios.linktypes import tun_pair

    names = [f"slow-nagle-delayed-ack-20ms-path-at-{where}.pcap" for where in ("client", "server")]
    server: list[st.Step] = [*st.listen(), st.accept("c")]
    client: list[st.Step] = [*st.connect(f"192.168.{net}.2", NAGLE_PATH_PORT)]
    for _ in range(NAGLE_PATH_ROUNDS):
        server += [st.recv(2 * NAGLE_HALF_B, "c"), st.send(NAGLE_ANSWER_B, "c")]
        client += [st.send(NAGLE_HALF_B), st.send(NAGLE_HALF_B), st.recv(NAGLE_ANSWER_B)]
    server += [st.recv_eof("c"), st.close("c")]
    client += [st.close(), st.signal("done")]
    with Lab(ctx.tag) as lab:
        c, s = tun_pair(ctx, lab, net, delay_s=NAGLE_PATH_ONE_WAY_S)
        ctx.capture(c, "tun0", names[0], "-s", "96")
        ctx.capture(s, "tun0", names[1], "-s", "96")
        srv = ctx.server(s, server)
        ctx.run_client(c, client, srv, timeout=30, until="done")
        ctx.cleanup()
    rtt_s = 2 * NAGLE_PATH_ONE_WAY_S
    rounds = NAGLE_PATH_ROUNDS
    # each wait: the round trip plus TCP_DELACK_MIN (36 ms and up at HZ=250)
    floor_s = (rounds - 4) * (rtt_s + 0.036)
    return [
        Expected(
            name,
            f"one connection of {rounds} write-write-read rounds (two {NAGLE_HALF_B} B writes, "
            f"read {NAGLE_ANSWER_B} B) with Nagle on, over a {rtt_s * 1000:.0f} ms round trip; "
            f"captured at the {where}",
            where,
            {
                "link": f"tun, {NAGLE_PATH_ONE_WAY_S * 1000:.0f} ms one-way delay in the forwarder",
                "server": f"per round: read {2 * NAGLE_HALF_B} B, send {NAGLE_ANSWER_B} B",
            },
            [
                Conn(
                    {"client_port": NAGLE_PATH_PORT},
                    "closed",
                    closer="client",
                    counts=clean(),
                    delays={
                        "nagle_episodes": bound(rounds - 4, rounds - 1),
                        "nagle_s": bound_s(floor_s, None),
                    },
                    slow=["nagle_stall"],
                    note="each second half waits for the first half's delayed ACK",
                )
            ],
            capture_format=TUN_HEADERS,
        )
        for name, where in zip(names, ("client", "server"), strict=True)
    ]


#: The server writes its answer as a header and a body (two send()s, Nagle on) over a
#: 30 ms path whose handshake takes a slower way (a first-packet slow path): audit-kernel46 s5.
SERVER_NAGLE_ONE_WAY_S = 0.015
SERVER_NAGLE_SYN_EXTRA_S = 0.003
SERVER_NAGLE_ROUNDS = 15
SERVER_NAGLE_REQUEST_B = 60
SERVER_NAGLE_HEADER_B, SERVER_NAGLE_BODY_B = 55, 300
SERVER_NAGLE_PORT = 42304


def server_nagle_slow_handshake_path(ctx: Ctx, net: int) -> list[Expected]:
    """A server answering each GET with a 55 B header and a 300 B body in two send()s, Nagle
    on, over a tun link holding every packet 15 ms each way and the SYN and SYN+ACK 3 ms
    more each (a load balancer's or OVS's first-packet slow path): the handshake's round
    trip is 36 ms, the data's 30 ms. Captured at the client and at the server.

    Every body waits for the header's ACK; once the client leaves quick-ACK mode that ACK is
    its delayed ACK (TCP_DELACK_MIN, 40 ms). At the client the body arrives one data round
    trip (30 ms) after that ACK left: less than nine tenths of the handshake's loop, yet its
    TSecr echoes the ACK's TSval, which proves it left after the ACK reached the server.
    """
    from tools.samplegen.scenarios.linktypes import tun_pair

    names = [
        f"slow-nagle-server-header-body-slow-handshake-at-{w}.pcap" for w in ("client", "server")
    ]
    answer = SERVER_NAGLE_HEADER_B + SERVER_NAGLE_BODY_B
    server: list[st.Step] = [*st.listen(), st.accept("c")]
    client: list[st.Step] = [*st.connect(f"192.168.{net}.2", SERVER_NAGLE_PORT)]
    for _ in range(SERVER_NAGLE_ROUNDS):
        server += [
            st.recv(SERVER_NAGLE_REQUEST_B, "c"),
            st.send(SERVER_NAGLE_HEADER_B, "c"),
            st.send(SERVER_NAGLE_BODY_B, "c"),
        ]
        client += [st.send(SERVER_NAGLE_REQUEST_B), st.recv(answer), st.sleep(0.05)]
    server += [st.recv_eof("c"), st.close("c")]
    client += [st.close(), st.signal("done")]
    with Lab(ctx.tag) as lab:
        c, s = tun_pair(
            ctx, lab, net, delay_s=SERVER_NAGLE_ONE_WAY_S, syn_extra_s=SERVER_NAGLE_SYN_EXTRA_S
        )
        ctx.capture(c, "tun0", names[0], "-s", "96")
        ctx.capture(s, "tun0", names[1], "-s", "96")
        srv = ctx.server(s, server)
        ctx.run_client(c, client, srv, timeout=30, until="done")
        ctx.cleanup()
    rounds = SERVER_NAGLE_ROUNDS
    return [
        Expected(
            name,
            f"one connection of {rounds} GETs ({SERVER_NAGLE_REQUEST_B} B), each answered with a "
            f"{SERVER_NAGLE_HEADER_B} B header and a {SERVER_NAGLE_BODY_B} B body in two send()s, "
            f"Nagle on, over a {2 * SERVER_NAGLE_ONE_WAY_S * 1000:.0f} ms round trip whose SYN "
            f"and SYN+ACK take {SERVER_NAGLE_SYN_EXTRA_S * 1000:.0f} ms more each; captured at "
            f"the {where}",
            where,
            {
                "link": f"tun, {SERVER_NAGLE_ONE_WAY_S * 1000:.0f} ms one-way delay in the "
                f"forwarder, SYN and SYN+ACK {SERVER_NAGLE_SYN_EXTRA_S * 1000:.0f} ms more",
                "server": f"per GET: send {SERVER_NAGLE_HEADER_B} B, send {SERVER_NAGLE_BODY_B} B",
                "client": f"per GET: send {SERVER_NAGLE_REQUEST_B} B, read {answer} B, 50 ms think",
            },
            [
                Conn(
                    {"client_port": SERVER_NAGLE_PORT},
                    "closed",
                    closer="client",
                    counts=clean(),
                    delays={
                        "nagle_episodes": bound(3, rounds - 1),
                        "nagle_s": bound_s(3 * (2 * SERVER_NAGLE_ONE_WAY_S + 0.036), None),
                    },
                    slow=["nagle_stall"],
                    note="each body waits for the header's ACK; past the quick-ACK start that ACK "
                    "is the client's delayed ACK (the server is the side that waited)",
                )
            ],
            capture_format=TUN_HEADERS,
        )
        for name, where in zip(names, ("client", "server"), strict=True)
    ]


#: The bottleneck: a router's link toward the server, slow and deep (tbf never drops: the
#: limit holds the whole upload), and what crosses it.
UPLOAD_TC_TOWARD_SERVER = ("tbf", "rate", "512kbit", "burst", "10kb", "limit", "3mb")
UPLOAD_BYTES = 400_000
UPLOAD_ASKS = 3
UPLOAD_ASK_GAP_S = 0.5
UPLOAD_ASKER_AFTER_S = 2.0
UPLOAD_SNAPLEN = 96


def answers_behind_an_upload(ctx: Ctx, net: int) -> list[Expected]:
    """Bufferbloat toward the server: requests wait behind an upload in a deep queue.

    The router's link toward the server is 512 kbit/s with a 3 MB queue (tbf: nothing is
    dropped). Connection 1 (port 42911, server port 8081) uploads 400 kB, and the server
    answers 100 B once it has read it all; 2 s later connection 2 (42912, port 8080) sends
    3 requests of 100 B, 0.5 s apart, each answered at once with 1000 B. Its SYN, requests and
    ACKs wait seconds in the queue: the server answers each within a millisecond of getting
    it, and its kernel's bare ACK of a request leaves with the answer, seconds after the
    client sent it. Captured at the client (answers 1.7-2.7 s "late") and at the server
    (answered at once).
    """
    names = (
        "slow-answers-behind-an-upload-at-client.pcap",
        "slow-answers-behind-an-upload-at-server.pcap",
    )
    up_port, ask_port, up_server_port = 42911, 42912, st.SERVER_PORT + 1
    answering: list[st.Step] = [*st.listen(), st.accept("c")]
    asker: list[st.Step] = [*st.connect(f"10.{net}.2.1", ask_port)]
    for _ in range(UPLOAD_ASKS):
        answering += [st.recv(100, "c"), st.send(1000, "c")]
        asker += [st.send(100), st.recv(1000), st.sleep(UPLOAD_ASK_GAP_S)]
    answering += [st.recv_eof("c"), st.close("c")]
    asker += [st.close(), st.signal("done")]
    sink = [
        *st.listen(up_server_port),
        st.accept("c"),
        st.recv(UPLOAD_BYTES, "c"),
        st.send(100, "c"),
        st.recv_eof("c"),
        st.close("c"),
    ]
    uploader = [
        *st.connect(f"10.{net}.2.1", up_port, port=up_server_port),
        st.signal("opened"),
        st.send(UPLOAD_BYTES),
        st.recv(100),
        st.close(),
        st.signal("done"),
    ]
    with Lab(ctx.tag) as lab:
        topo = make_routed(lab, net)
        topo.router.run(["tc", "qdisc", "add", "dev", "rs", "root", *UPLOAD_TC_TOWARD_SERVER])
        # Headers only (the upload's payload would make the files 600 kB each).
        ctx.capture(topo.client, "eth0", names[0], "-s", str(UPLOAD_SNAPLEN))
        ctx.capture(topo.server, "eth0", names[1], "-s", str(UPLOAD_SNAPLEN))
        answers = ctx.server(topo.server, answering)
        reading = ctx.server(topo.server, sink, "sink")
        uploading = ctx.actor(topo.client, uploader, "uploader")
        uploading.expect("opened", timeout=10)
        time.sleep(UPLOAD_ASKER_AFTER_S)
        asking = ctx.actor(topo.client, asker, "asker")
        asking.expect("done", timeout=60)
        uploading.expect("done", timeout=60)
        ctx.finish(asking, uploading, answers, reading, linger=0.5)
    settings = {
        "router_tc": "rs: " + " ".join(UPLOAD_TC_TOWARD_SERVER),
        "uploader": f"sends {UPLOAD_BYTES} B to port {up_server_port}, reads 100 B",
        "asker": f"{UPLOAD_ASKS} x (send 100 B, read 1000 B, sleep {UPLOAD_ASK_GAP_S} s), "
        f"{UPLOAD_ASKER_AFTER_S} s after the upload began",
        "server": "answers each request at once (no think time)",
    }
    out = []
    for name, at in zip(names, ("client", "server"), strict=True):
        late = at == "client"
        words = ["the request reached the server late", "not the server's application"]
        out.append(
            Expected(
                name,
                "requests and an upload share a 512 kbit/s link with a 3 MB queue toward the "
                f"server (tbf never drops); the server answers at once; captured at the {at}",
                at,
                settings,
                [
                    Conn(
                        {"client_port": up_port},
                        "closed",
                        closer="client",
                        counts=clean(retransmits=bound(0, None)),
                        explanation_keywords=words if late else [],
                        note="the upload that fills the queue; the server answers 100 B as soon "
                        "as it has read the last byte",
                    ),
                    Conn(
                        {"client_port": ask_port},
                        "closed",
                        closer="client",
                        counts=clean(
                            syn_retransmits=bound(0, None),
                            synack_retransmits=bound(0, None),
                            retransmits=bound(0, None),
                        ),
                        explanation_keywords=words if late else [],
                        note="requests answered within a millisecond of reaching the server; "
                        + (
                            "each waited seconds in the queue on the way there"
                            if late
                            else "at the server no answer is late"
                        ),
                    ),
                ],
                capture_format={
                    "format": "pcap",
                    "link_type": "EN10MB",
                    "tool": f"tcpdump -s {UPLOAD_SNAPLEN}",
                    "snaplen": UPLOAD_SNAPLEN,
                },
            )
        )
    return out


#: Probes the receiver D-SACKs: rounds of two small writes (two segments in flight, less
#: than a full segment together) to a receiver that reads nothing yet, so it delays its ACK
#: once out of quick-ACK mode.
PROBED_WRITE = 100  # small: the sample stays small (tests/test_sample_expectations.py)
PROBED_ROUNDS = 30
PROBED_GAP_S = 0.1
PROBED_PORT = 42125


def tail_loss_probes_dsacked(ctx: Ctx, net: int) -> list[Expected]:
    """Tail loss probes that lose nothing: the receiver's delayed ACK comes after the probe.

    The client (TCP_NODELAY) writes 100 B twice, 30 times, 0.1 s apart: two segments in
    flight, 200 B together, less than a full segment; the server reads nothing until the
    writes are over. The receiver ACKs at once only in quick-ACK mode or when more than a full
    segment is unacknowledged (__tcp_ack_snd_check), or when the application reads a short
    segment (tcp_cleanup_rbuf); its first 16 ACKs are quick (TCP_MAX_QUICKACKS), after that
    it waits for its delayed-ACK timer (40 ms and up). The sender's probe timeout with more
    than one segment in flight is 2 * SRTT + 2 ms (tcp_schedule_loss_probe, RFC 8985): on a
    veth path a few ms, so it resends the last segment before the ACK comes; the receiver
    holds those bytes already and answers the copy at once with a D-SACK (RFC 2883,
    tcp_dsack_set), back in quick-ACK mode for the next 16 ACKs (a duplicate re-arms it):
    a probe every 16 rounds or so. Captured at the client (the sender).
    """
    name = "tail-loss-probes-dsacked.pcap"
    server: list[st.Step] = [*st.listen(), st.accept("c")]
    client: list[st.Step] = [
        *st.connect(f"10.{net}.0.2", PROBED_PORT, opts=[st.opt("TCP_NODELAY", 1)])
    ]
    for _ in range(PROBED_ROUNDS):
        client += [st.send(PROBED_WRITE), st.send(PROBED_WRITE), st.sleep(PROBED_GAP_S)]
    client += [st.close()]
    # The server reads nothing until the writes are over: reading would ACK small segments
    # at once (tcp_cleanup_rbuf, ICSK_ACK_PUSHED).
    server += [
        st.sleep(PROBED_ROUNDS * PROBED_GAP_S + 0.5),
        st.recv(PROBED_ROUNDS * 2 * PROBED_WRITE, "c"),
        st.recv_eof("c"),
        st.close("c"),
    ]
    run_pair(ctx, net, name, client, server)
    return [
        Expected(
            name,
            f"{PROBED_ROUNDS} x two writes of {PROBED_WRITE} B (TCP_NODELAY), {PROBED_GAP_S} s "
            "apart: less than a full segment in flight, so the receiver's ACK waits for its "
            "delayed-ACK timer and the sender's tail loss probe goes first; captured at the client",
            "client",
            {
                "client": f"TCP_NODELAY; {PROBED_ROUNDS} x (send {PROBED_WRITE} B, send "
                f"{PROBED_WRITE} B, sleep {PROBED_GAP_S} s), close()",
                "server": f"sleep {PROBED_ROUNDS * PROBED_GAP_S + 0.5:g} s, read "
                f"{PROBED_ROUNDS * 2 * PROBED_WRITE} B, read EOF, close()",
            },
            [
                Conn(
                    {"client_port": PROBED_PORT},
                    "closed",
                    closer="client",
                    counts=clean(retransmits=bound(1, None)),
                    delays={"rto_episodes": 0, "fast_recovery_episodes": 0},
                    slow=[],
                    note="nothing dropped: every retransmission is a tail loss probe the "
                    "receiver D-SACKed (its delayed ACK came after the probe timeout), so no "
                    "loss recovery or RTO time is counted",
                )
            ],
            capture_format=ETHERNET,
        )
    ]


#: A tail loss probe, then the RTO: four requests, each answered with one segment; the
#: router lets the first two answers through and drops the next two copies (the third
#: answer and its loss probe), then lets everything through again.
PROBED_THEN_RTO_PORT = 42131
PROBED_THEN_RTO_TURNS = 4
PROBED_THEN_RTO_ANSWER = 1000  # one segment; its IPv4 packet is 1052 B


def _answers_dropped_by_count(kept: int, dropped: int) -> str:
    """nft on the router's forward hook: the server's answer segments (data, no SYN/FIN/RST,
    IPv4 length > 900) pass ``kept`` times, are dropped the next ``dropped`` times (nft
    ``quota`` counts their bytes), then pass again."""
    size = PROBED_THEN_RTO_ANSWER + 52
    match = (
        f'iifname "rs" tcp sport {st.SERVER_PORT} tcp flags & (syn|fin|rst) == 0 ip length > 900'
    )
    return (
        "table inet tail {\n  chain answers {\n    type filter hook forward priority 0;\n"
        f"    {match} quota until {kept * size + 50} bytes accept\n"
        f"    {match} quota until {dropped * size + 50} bytes drop\n  }}\n}}\n"
    )


def tail_loss_probe_then_rto(ctx: Ctx, net: int) -> list[Expected]:
    """A tail loss probe at the RTO's own time, unanswered, then the retransmission timeout.

    Four 10 B requests 50 ms apart; the server answers each 60 ms after reading it (its ACK
    of the request goes first) with one 1000 B segment: one segment in flight. The router
    drops the third answer and the next copy of it. With one segment in flight Linux arms
    the loss probe 2 x SRTT + TCP_RTO_MIN after the send, capped at the RTO
    (tcp_schedule_loss_probe; net.ipv4.tcp_early_retrans=3, the default): on this short path
    it fires at about the RTO's own time (~207 ms), resends the segment and rearms the RTO
    from there without backing it off (tcp_send_loss_probe -> tcp_rearm_rto); the RTO then
    fires ~208 ms later, its copy gets through. Gaps read g, g: a probe and one timeout, the
    backoff series [g] counted from the RTO. Captured at the server (the sender), headers
    only.
    """
    name = "tail-loss-probe-then-rto-at-server.pcap"
    server: list[st.Step] = [*st.listen(), st.accept("c")]
    client: list[st.Step] = [*st.connect(f"10.{net}.2.1", PROBED_THEN_RTO_PORT)]
    for _ in range(PROBED_THEN_RTO_TURNS):
        server += [st.recv(10, "c"), st.sleep(0.06), st.send(PROBED_THEN_RTO_ANSWER, "c")]
        client += [st.send(10), st.recv(PROBED_THEN_RTO_ANSWER), st.sleep(0.05)]
    server += [st.recv_eof("c"), st.close("c")]
    client += [st.close()]
    with Lab(ctx.tag) as lab:
        topo = make_routed(lab, net)
        topo.router.nft(_answers_dropped_by_count(2, 2))
        topo.server.sysctl("net.ipv4.tcp_early_retrans", 3)  # the default: loss probes on
        ctx.capture(topo.server, "eth0", name, "-s", "96")
        srv = ctx.server(topo.server, server)
        ctx.run_client(topo.client, client, srv, timeout=20)
    return [
        Expected(
            name,
            f"{PROBED_THEN_RTO_TURNS} requests, each answered with one {PROBED_THEN_RTO_ANSWER} B "
            "segment; a router drops the third answer and its next copy (the tail loss probe); "
            "the RTO's copy gets through; captured at the server, headers only",
            "server",
            {
                "router_nft": "forward: the server's answer segments pass twice, are dropped "
                "twice (quota), then pass",
                "server": f"per request: read 10 B, sleep 60 ms, send {PROBED_THEN_RTO_ANSWER} B",
                "client": f"per request: send 10 B, read {PROBED_THEN_RTO_ANSWER} B, sleep 50 ms",
                "sysctl": {"net.ipv4.tcp_early_retrans": 3},
            },
            [
                Conn(
                    {"client_port": PROBED_THEN_RTO_PORT},
                    "closed",
                    closer="client",
                    counts=clean(retransmits=2),
                    delays={"rto_episodes": 1, "fast_recovery_episodes": 0},
                    slow=["rto_stall"],
                    explanation_keywords=["1 after timeout", "1 tail loss probe"],
                    note="the third answer is lost twice: the tail loss probe goes at about the "
                    "RTO's time and is lost too; the RTO, rearmed by the probe without backoff, "
                    "fires the same gap later and its copy is acknowledged: one probe, one "
                    "timeout",
                )
            ],
            capture_format={
                "format": "pcap",
                "link_type": "EN10MB",
                "tool": "tcpdump -s 96",
                "snaplen": 96,
            },
        )
    ]
