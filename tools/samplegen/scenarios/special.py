"""Port reuse, IPv6, and many connections over a lossy, rate-limited path."""

from __future__ import annotations

import time

from tools.samplegen import steps as st
from tools.samplegen.expected import ANY_SLL2, ETHERNET, Conn, CountValue, Expected, bound, clean
from tools.samplegen.netns import Lab, Pair, make_pair, make_routed
from tools.samplegen.scenario import Ctx, run_pair

PORT = 42000


def port_reuse(ctx: Ctx, net: int) -> list[Expected]:
    """One client 4-tuple used three times in a row (client bound to port 42000, SO_REUSEADDR).

    0: the client aborts with SO_LINGER {1,0} -> RST, no TIME_WAIT on either side.
    1: same port at once; the server closes first, so the SERVER holds TIME_WAIT.
    2: same port again 0.3 s later: the SYN meets the server's TIME_WAIT socket, which
       accepts it as a new connection (tcp_timewait_state_process -> TCP_TW_SYN: newer
       timestamp / higher ISN). Each SYN has a new ISN.
    """
    name = "port-reuse-same-4tuple-3x.pcap"
    server = [*st.listen()]
    for i in range(3):
        c = f"c{i}"
        server += [st.accept(c), st.recv(100, c), st.send(1000, c)]
        server += [st.wait_error(c)] if i == 0 else [st.close(c)]
    linger0 = st.linger0("a")
    with Lab(ctx.tag) as lab:
        pair = make_pair(lab, net)
        ctx.capture(pair.client, "eth0", name)
        srv = ctx.server(pair.server, server)
        client = [
            *st.connect(pair.server_ip, PORT, sock="a"),
            st.send(100, "a"),
            st.recv(1000, "a"),
            linger0,
            st.close("a"),
            st.sleep(0.2),
            *st.connect(pair.server_ip, PORT, sock="b"),
            st.send(100, "b"),
            st.recv(1000, "b"),
            st.recv_eof("b"),
            st.close("b"),
            st.sleep(0.3),
            *st.connect(pair.server_ip, PORT, sock="d"),
            st.send(100, "d"),
            st.recv(1000, "d"),
            st.recv_eof("d"),
            st.close("d"),
        ]
        cli = ctx.actor(pair.client, client, "client")
        cli.expect("finished", timeout=15)
        srv.expect("finished", timeout=15)
        ctx.finish(cli, srv, linger=0.5)
    rst = clean(resets=1)
    return [
        Expected(
            name,
            "the same 4-tuple (client port 42000 -> 8080) used by three connections in a row",
            "client",
            {
                "client": {"bind": 42000, "SO_REUSEADDR": 1, "first close": "SO_LINGER {1,0}"},
                "server": "closes first in connections 1 and 2",
            },
            [
                Conn(
                    {"index": 0},
                    "reset",
                    reset_by="client",
                    counts=rst,
                    note="abortive close by the client (linger 0): RST, no TIME_WAIT anywhere",
                ),
                Conn(
                    {"index": 1},
                    "closed",
                    closer="server",
                    counts=clean(),
                    note="new SYN (new ISN) on the same 4-tuple 0.2 s after the RST; the server closes first",
                ),
                Conn(
                    {"index": 2},
                    "closed",
                    closer="server",
                    counts=clean(),
                    note="new SYN 0.3 s later while the server holds TIME_WAIT for this 4-tuple: accepted as a "
                    "new connection (newer TSval, higher ISN)",
                ),
            ],
            notes="Rows are matched by index (first-packet order == Wireshark tcp.stream), since all three share "
            "client_port 42000.",
            capture_format=ETHERNET,
            observed_by_sockets=ctx.socket_events(),
        )
    ]


def ipv6_closed(ctx: Ctx, net: int) -> list[Expected]:
    name = "ipv6-closed.pcap"
    with Lab(ctx.tag) as lab:
        pair = make_pair(lab, net, ipv6=True)
        assert pair.server_ip6 is not None
        ctx.capture(pair.client, "eth0", name, "ip6")  # only IPv6: no ARP/IPv4 noise
        srv = ctx.server(pair.server, st.echo_server(family=6))
        cli = ctx.actor(pair.client, st.echo_client(pair.server_ip6, 40001, family=6), "client")
        cli.expect("finished")
        srv.expect("finished")
        ctx.finish(cli, srv, linger=0.3)
    return [
        Expected(
            name,
            "a normal request/response over IPv6 (fd00::/8 ULA), client closes first",
            "client",
            {"addresses": f"fd00:{net}::1 -> fd00:{net}::2", "tcpdump_filter": "ip6"},
            [
                Conn(
                    {"client_port": 40001},
                    "closed",
                    closer="client",
                    counts=clean(),
                    note="100 B request, 1000 B reply, client close() first",
                )
            ],
            notes="The capture filter 'ip6' keeps neighbour discovery (ICMPv6) but no IPv4; ICMPv6 frames are "
            "not TCP.",
            capture_format={**ETHERNET, "filter": "ip6"},
        )
    ]


def ipv6_refused(ctx: Ctx, net: int) -> list[Expected]:
    name = "ipv6-refused.pcap"
    with Lab(ctx.tag) as lab:
        pair = make_pair(lab, net, ipv6=True)
        assert pair.server_ip6 is not None
        ctx.capture(pair.client, "eth0", name, "ip6")
        cli = ctx.actor(
            pair.client,
            st.connect(pair.server_ip6, 40001, port=9, family=6, tolerate=True),
            "client",
        )
        cli.expect("finished")
        ctx.finish(cli, linger=0.3)
    return [
        Expected(
            name,
            "connect() over IPv6 to a port with no listener",
            "client",
            {"addresses": f"fd00:{net}::1 -> fd00:{net}::2 port 9"},
            [
                Conn(
                    {"client_port": 40001},
                    "refused",
                    reset_by="server",
                    counts=clean(resets=1),
                    note="SYN answered by RST+ACK; connect() ECONNREFUSED",
                )
            ],
            capture_format={**ETHERNET, "filter": "ip6"},
            observed_by_sockets=ctx.socket_events(),
        )
    ]


def lossy_mix(ctx: Ctx, net: int) -> list[Expected]:
    """40 concurrent connections through a router dropping 3 % of TCP at random, rate-limited by tbf.

    Every connection completes (upload 30 KB, download 60 KB, client closes first): all
    expected fates are ``closed``. The losses are repaired by fast retransmit, SACK, tail
    loss probes and the occasional RTO - normal recovery, never a failure fate.
    """
    name = "lossy-40-connections-3pct-drop.pcap"
    count, first = 40, 43000
    loss = """table inet lossy {
  chain forward_path {
    type filter hook forward priority 0;
    meta l4proto tcp numgen random mod 100 < 3 drop
  }
}
"""
    with Lab(ctx.tag) as lab:
        topo = make_routed(lab, net)
        topo.router.nft(loss)
        for dev in ("rc", "rs"):  # queueing delay: 40 Mbit/s, up to 20 ms of queue
            topo.router.run(
                [
                    "tc",
                    "qdisc",
                    "add",
                    "dev",
                    dev,
                    "root",
                    "tbf",
                    "rate",
                    "40mbit",
                    "burst",
                    "32kb",
                    "latency",
                    "20ms",
                ]
            )
        ctx.capture(topo.client, "eth0", name, "-s", "96")
        srv = ctx.server(
            topo.server,
            [
                *st.listen(backlog=64),
                {"op": "bulk_server", "sock": "l", "count": count, "up": 30000, "down": 60000},
            ],
        )
        cli = ctx.actor(
            topo.client,
            [
                {
                    "op": "bulk_clients",
                    "addr": topo.server_ip,
                    "port": st.SERVER_PORT,
                    "first_port": first,
                    "count": count,
                    "up": 30000,
                    "down": 60000,
                    "stagger": 0.01,
                }
            ],
            "clients",
        )
        done = cli.expect("bulk_done", timeout=60)
        srv.expect("bulk_served", timeout=30)
        if done.strip() != "failures=none":
            raise RuntimeError(f"lossy mix: some clients failed: {done}")
        ctx.finish(cli, srv, linger=3.0)  # a lost last FIN/ACK is retransmitted within a few RTOs
    counts: dict[str, CountValue] = {
        "resets": 0,
        "keepalive_probes": 0,
        "zero_window_probes": 0,
        "retransmits": bound(0, None),
        "syn_retransmits": bound(0, None),
        "synack_retransmits": bound(0, None),
    }
    conns = [
        Conn(
            {"client_port": first + i},
            "closed",
            closer="client",
            counts=dict(counts),
            note="30 KB up, 60 KB down over 3 % random loss; client closes after reading everything",
        )
        for i in range(count)
    ]
    return [
        Expected(
            name,
            "40 concurrent connections through a router with 3 % random TCP loss and a tbf rate limit",
            "client",
            {
                "router_nft": "forward: meta l4proto tcp numgen random mod 100 < 3 drop",
                "router_tc": "tbf rate 40mbit burst 32kb latency 20ms on both router interfaces",
                "clients": f"ports {first}..{first + count - 1}, 10 ms apart",
            },
            conns,
            notes="Losses are recovered by fast retransmit / SACK / TLP / RTO: retransmissions are expected but "
            "every connection ends with an orderly close. A lost SYN or SYN+ACK is retransmitted too (1 s "
            "timers), still 'closed'. Snaplen 96: payload bytes are cut, lengths come from the IP header.",
            capture_format={**ETHERNET, "snaplen": 96},
        )
    ]


def nat_three_clocks(ctx: Ctx, net: int) -> list[Expected]:
    """Three client hosts behind one masquerading router: one source IP, unrelated TSvals.

    With tcp_timestamps=1 Linux adds a random offset to TSval (secure_tcp_ts_off); on this
    kernel the offset differs from connection to connection even for one host, so after
    masquerade the server sees TSval jump back and forth between consecutive connections from
    one IP. Nothing is dropped for it on a current kernel (tcp_tw_recycle and its per-host PAWS
    check are gone since 4.12): a real-kernel control for the nat_timestamp finding.
    """
    name = "nat-masquerade-3-hosts.pcap"
    hosts, rounds = 3, 3
    with Lab(ctx.tag) as lab:
        router = lab.namespace("r")
        server = lab.namespace("s")
        lab.veth(server, "eth0", router, "rs")
        lab.addr(server, "eth0", f"10.{net}.9.1/24")
        lab.addr(router, "rs", f"10.{net}.9.254/24")
        server.run(["ip", "route", "add", "default", "via", f"10.{net}.9.254"])
        router.sysctl("net.ipv4.ip_forward", 1)
        router.nft(
            "table ip nat {\n  chain post {\n    type nat hook postrouting priority 100;\n"
            '    oifname "rs" masquerade\n  }\n}\n'
        )
        clients = []
        for h in range(1, hosts + 1):
            c = lab.namespace(f"c{h}")
            lab.veth(c, "eth0", router, f"h{h}")
            lab.addr(c, "eth0", f"10.{net}.{h}.1/24")
            lab.addr(router, f"h{h}", f"10.{net}.{h}.254/24")
            c.run(["ip", "route", "add", "default", "via", f"10.{net}.{h}.254"])
            clients.append(c)
        cap = ctx.capture(server, "eth0", name)
        srv = ctx.server(server, st.echo_server(count=hosts * rounds))
        actors = []
        for h, c in enumerate(clients, start=1):
            steps: list[st.Step] = []
            for r in range(rounds):
                steps += [
                    st.wait(f"go{r}"),
                    *st.echo_client(f"10.{net}.9.1", 45000 + 100 * h + r, sock=f"r{r}"),
                    st.signal(f"done{r}"),
                ]
            actors.append(ctx.actor(c, steps, f"host{h}"))
        time.sleep(0.8)
        for r in range(rounds):  # interleave: host1, host2, host3, host1, ...
            for a in actors:
                a.tell(f"go{r}")
                a.expect(f"done{r}", timeout=10)
        srv.expect("finished", timeout=10)
        cap.stop(linger=0.5)
        for a in [*actors, srv]:
            a.stop()
    conns = [
        Conn(
            {"client_port": 45000 + 100 * h + r},
            "closed",
            closer="client",
            counts=clean(),
            note=f"host {h} (10.{net}.{h}.1 before NAT), round {r}; seen from 10.{net}.9.254",
        )
        for r in range(rounds)
        for h in range(1, hosts + 1)
    ]
    exp = Expected(
        name,
        "three hosts behind one masquerading router connect in turn; captured at the server",
        "server",
        {
            "router_nft": "ip nat postrouting oifname rs masquerade",
            "clients": "host h uses ports 45h00, 45h01, 45h02 (h = 1..3), in the order h1 h2 h3 h1 h2 h3 ...",
            "net.ipv4.tcp_timestamps": "1 (default: per address-pair random offset)",
        },
        conns,
        notes="One client IP; TSvals of consecutive connections are unrelated (random per-connection offsets on "
        "this kernel, three hosts behind NAT), so they go backwards although nothing is wrong. Every SYN is "
        "answered at once (no SYN retransmissions): no nat_timestamp finding (and no other) is expected.",
        capture_format=ETHERNET,
        findings=[],
    )
    return [exp]


def nat_gateway_captured_on_any(ctx: Ctx, net: int) -> list[Expected]:
    """A masquerading router captured on ``any``: every connection twice, before and after NAT.

    Three connections in turn; the server host's firewall drops every other SYN, so each
    connects after one SYN retry. The router forwards and translates each packet, and its
    capture holds it on both interfaces, under the client's address (10.<net>.1.1) and under
    the router's (10.<net>.2.254): six streams for three connections, the copies the same
    packets (ISNs, TSvals, IP IDs, payload) one hop apart. The syn_retry_burst finding needs
    three connections: counted once each, they are exactly three.
    """
    name = "nat-gateway-any-copies.pcap"
    ports = (46100, 46101, 46102)
    with Lab(ctx.tag) as lab:
        topo = make_routed(lab, net)
        topo.router.nft(
            "table ip nat {\n  chain post {\n    type nat hook postrouting priority 100;\n"
            '    oifname "rs" masquerade\n  }\n}\n'
        )
        topo.server.nft(
            "table inet fw {\n  chain in {\n    type filter hook input priority 0;\n"
            f"    tcp dport {st.SERVER_PORT} tcp flags & (syn | ack) == syn "
            "numgen inc mod 2 == 0 drop\n  }\n}\n"
        )
        ctx.capture(topo.router, "any", name)
        srv = ctx.server(topo.server, st.echo_server(count=len(ports)))
        steps: list[st.Step] = []
        for i, port in enumerate(ports):
            steps += [*st.echo_client(topo.server_ip, port, sock=f"s{i}")]
        ctx.run_client(topo.client, steps, srv)
    conns = [
        Conn(
            {"index": 2 * i + copy},
            "closed",
            closer="client",
            counts=clean(syn_retransmits=1),
            note=f"client port {port}, "
            + ("as it came in from the client" if copy == 0 else "as it left, translated")
            + ": its first SYN dropped by the server's firewall (numgen inc mod 2), the retry "
            "1 s later answered",
        )
        for i, port in enumerate(ports)
        for copy in (0, 1)
    ]
    exp = Expected(
        name,
        "three connections in turn through a masquerading router, the server's firewall "
        "dropping every other SYN; captured on the router's 'any'",
        "router",
        {
            "router_nft": "ip nat postrouting oifname rs masquerade",
            "server_nft": f"inet fw input: tcp dport {st.SERVER_PORT} syn, numgen inc mod 2 == 0 drop",
            "clients": ", ".join(map(str, ports)) + ", one after the other",
        },
        conns,
        notes="Each connection is two streams: the client's 4-tuple on rc, the router's address "
        "(masquerade keeps the port) on rs; the second copy of each packet is one hop (TTL) "
        "lower and microseconds later. Expected findings: nat_copies (3 connections, 3 later "
        "copies) and syn_retry_burst counting each connection once (3 of 3, its minimum).",
        capture_format=ANY_SLL2,
        observed_by_sockets=ctx.socket_events(),
        findings=["nat_copies", "syn_retry_burst"],
    )
    return [exp]


#: The router's queue toward the server in ``copies_behind_a_queue``.
QUEUE_TC = ["tbf", "rate", "20mbit", "burst", "16kb", "limit", "1mb"]


def copies_behind_a_queue(ctx: Ctx, net: int) -> list[Expected]:
    """A router captured on ``any`` while its link toward the server queues (tbf, 20 Mbit/s).

    Every forwarded packet is captured twice: as it comes in on one interface and as it leaves
    on the other. The client's segments leave after the queue, so other segments of the flow
    come between the two copies of each (up to the window in flight: the server's SO_RCVBUF
    of 32 KB keeps it under the queue's 1 MB limit, so tbf never drops). Copies, not
    retransmissions: with tcpdump -i any on a router or a Kubernetes node this is the
    common case, not the exception.
    """
    name = "duplicates-router-any-egress-queue.pcap"
    port = PORT + 300
    with Lab(ctx.tag) as lab:
        topo = make_routed(lab, net)
        topo.router.run(["tc", "qdisc", "add", "dev", "rs", "root", *QUEUE_TC])
        ctx.capture(topo.router, "any", name)
        srv = ctx.server(
            topo.server,
            [
                *st.listen(opts=[st.opt("SO_RCVBUF", 32768)]),
                st.accept(),
                st.recv_eof("c"),
                st.close("c"),
            ],
        )
        cli = ctx.actor(
            topo.client,
            [
                *st.connect(topo.server_ip, port),
                st.send(400_000),
                st.shutdown_wr(),
                st.recv_eof(),
                st.close(),
                st.signal("done"),
            ],
            "client",
        )
        cli.expect("done", timeout=20)
        ctx.finish(cli, srv, linger=0.5)
    return [
        Expected(
            name,
            "client sends 400 KB through a router whose link toward the server queues "
            "(tbf 20 Mbit/s); captured on the router's 'any': every packet twice, the copies "
            "apart by the queue",
            "router",
            {
                "router_tc": "rs: " + " ".join(QUEUE_TC),
                "server": {"SO_RCVBUF": 32768},
            },
            [
                Conn(
                    {"client_port": port},
                    "closed",
                    closer="client",
                    counts=clean(retransmits=bound(0, 1)),
                    inferred={"captured_twice_min": 138},
                    note="no packet is lost (the window in flight stays under the tbf limit), so "
                    "nothing is resent but for a possible tail loss probe of the last segment; every "
                    "forwarded packet appears twice (in on one interface, out on the other), the "
                    "client's copies up to a window of segments apart, merged by GRO coming in (one "
                    "segment of several, with the first one's IP ID) and cut back by tbf going out "
                    "(pieces numbered on from that IP ID). At least 138 copies: the server ACKs at "
                    "least every second full segment of the 400 KB (tcp_ack_snd_check), and each pure "
                    "ACK is seen twice, unmerged",
                )
            ],
            notes="tcpdump -i any on the router: each forwarded packet is seen on rc and on rs; "
            "the egress copy of a client segment waits in the tbf queue, so later segments' "
            "ingress copies come between the two. A copy has the same IP ID, seq, ack, length "
            "and TSval (the TTL differs by the hop), or is a piece of a GRO-merged segment seen "
            "coming in: its bytes, the merged segment's IP ID plus its place, the same ack and "
            "TSval.",
            capture_format=ANY_SLL2,
            observed_by_sockets=ctx.socket_events(),
        )
    ]


#: One host's client ports, connecting in turn; the server host's firewall drops every SYN of
#: the odd ones (4 of 10).
LOOKALIKE_PORTS: tuple[int, ...] = tuple(range(47000, 47010))
LOOKALIKE_DROPPED: tuple[int, ...] = (47001, 47003, 47005, 47007)


def firewall_drops_one_hosts_syns(ctx: Ctx, net: int) -> list[Expected]:
    """One client host, no NAT: the server's firewall drops every SYN of 4 of its 10 ports.

    A look-alike of tw_recycle's per-host PAWS drops (the nat_timestamp finding): one source
    IP, connections the server closes first (it keeps TIME_WAIT, the state the old rule read),
    TSvals that jump back and forth between connections (this kernel gives each connection its
    own random offset, secure_tcp_ts_off), and SYNs that go unanswered while others from that
    IP are answered. But the drops are the firewall's: they follow the port, not the
    timestamp, so about half the unanswered SYNs are ahead of the last TSval the server saw.
    Each dropped connection sends 2 SYNs (TCP_SYNCNT=1, ``tcp_syn_linear_timeouts=0``: SYNs at
    0 and 1 s) and gives up at 3 s (ETIMEDOUT).
    """
    name = "nat-lookalike-firewall-drops-one-hosts-syns.pcap"
    server_ip = f"10.{net}.0.2"
    accepted = [p for p in LOOKALIKE_PORTS if p not in LOOKALIKE_DROPPED]
    server: list[st.Step] = [*st.listen()]
    for k in range(len(accepted)):
        sock = f"c{k}"
        server += [st.accept(sock), st.recv(100, sock), st.send(100, sock), st.close(sock)]
    client: list[st.Step] = []
    for k, port in enumerate(LOOKALIKE_PORTS):
        sock = f"s{k}"
        if port in LOOKALIKE_DROPPED:
            client += [
                *st.connect(
                    server_ip, port, sock=sock, opts=[st.opt("TCP_SYNCNT", 1)], tolerate=True
                ),
                st.close(sock),
            ]
        else:
            client += [
                *st.connect(server_ip, port, sock=sock),
                st.send(100, sock),
                st.recv(100, sock),
                st.recv_eof(sock),  # the server closes first: TIME_WAIT is the server's
                st.close(sock),
            ]
        client.append(st.sleep(0.1))
    dropped = " ".join(str(p) for p in LOOKALIKE_DROPPED)

    def prepare(pair: Pair) -> None:
        pair.client.sysctl("net.ipv4.tcp_syn_linear_timeouts", 0)
        pair.server.nft(
            "table inet fw {\n  chain in {\n    type filter hook input priority 0;\n"
            f"    tcp sport {{ {', '.join(map(str, LOOKALIKE_DROPPED))} }} "
            "tcp flags & (syn | ack) == syn drop\n  }\n}\n"
        )

    run_pair(ctx, net, name, client, server, prepare=prepare, client_timeout=60)
    conns = [
        Conn(
            {"client_port": port},
            "connect_timeout",
            counts=clean(syn_retransmits=1),
            note="every SYN dropped by the server host's nft input rule (by port): SYNs at 0 and "
            "1 s, the client gives up at 3 s (TCP_SYNCNT=1)",
        )
        if port in LOOKALIKE_DROPPED
        else Conn(
            {"client_port": port},
            "closed",
            closer="server",
            counts=clean(),
            note="100 B each way; the server closes first (TIME_WAIT at the server)",
        )
        for port in LOOKALIKE_PORTS
    ]
    exp = Expected(
        name,
        "one client host connects from 10 ports in turn; the server's firewall drops every SYN "
        f"of {dropped}; the server closes the others first; captured at the client",
        "client",
        {
            "client": {
                "net.ipv4.tcp_syn_linear_timeouts": 0,
                "TCP_SYNCNT": f"1 on {dropped}",
                "net.ipv4.tcp_timestamps": "1 (default: a random offset per connection here)",
            },
            "server_nft": f"input: tcp sport {{ {dropped} }} tcp flags & (syn|ack) == syn drop",
            "server": "accept, read 100 B, send 100 B, close() first",
        },
        conns,
        notes="One host, no NAT, no tw_recycle (removed in 4.12): the unanswered SYNs are the "
        "firewall's, chosen by port. No nat_timestamp finding is expected (nor any other).",
        capture_format=ETHERNET,
        findings=[],
    )
    return [exp]
