"""Causes that come from the network path: a router namespace between client and server.

Each scenario puts the cause in the ROUTER (``make_routed``), the way a firewall, a tunnel or
a NAT box does it, and captures at more than one point (client, router, server), so the
expected files say what each point can and cannot show:

- ICMP reject: nftables ``reject with icmp type admin-prohibited`` (IPv4) / ``icmpx
  port-unreachable`` (IPv6) on the router's forward hook; Linux aborts a connect() on an ICMP
  unreachable in SYN_SENT (tcp_v4_err / tcp_v6_err: EHOSTUNREACH / ECONNREFUSED).
- Path-MTU black hole: the router's link toward the server has MTU 1280, the client's 1500;
  Linux sets DF on TCP, so full-size segments need an ICMP fragmentation-needed that the
  router's own nftables output hook drops. With tcp_mtu_probing=0 the connection dies
  (tcp_retries2); with tcp_mtu_probing=1 the kernel enables MTU probing after tcp_retries1
  (3) timeouts and falls back to tcp_base_mss (1024): slow, not failed.
- ICMPv6 packet too big: the same link, ICMP not filtered: the client shrinks its segments at
  once (RFC 8201).
- Middlebox idle timeout: conntrack on the router with nf_conntrack_tcp_timeout_established=5
  and nf_conntrack_tcp_loose=0: after 8 s idle the client's next segment has no state and is
  ``ct state invalid``: dropped, or answered by the router with a RST in the server's name.
- Injected RST: ``reject with tcp reset`` added on the router mid-transfer: the client gets a
  RST in the server's name with the router's TTL (64, the server's packets arrive with 63).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from tools.samplegen import steps as st
from tools.samplegen.expected import ANY_SLL2, ETHERNET, Conn, Expected, bound, clean
from tools.samplegen.netns import Lab, Pair, Routed, make_pair, make_routed
from tools.samplegen.scenario import Ctx

PORT = 40021
#: The router's link toward the server in the path-MTU scenarios (the IPv6 minimum).
NARROW_MTU = 1280
#: Ten full-size segments (MSS 1460 - 12 bytes of timestamps): all fit the initial cwnd of 10,
#: so nothing smaller than full size is sent until the first of them is acknowledged.
TEN_SEGMENTS = 14480
CONNTRACK_TIMEOUT_S = 5
IDLE_S = 8


def _reject_admin_v4() -> str:
    return f"""table ip fw {{
  chain forward_path {{
    type filter hook forward priority 0;
    tcp dport {st.SERVER_PORT} reject with icmp type admin-prohibited
  }}
}}
"""


def _reject_port_v6() -> str:
    return f"""table inet fw {{
  chain forward_path {{
    type filter hook forward priority 0;
    meta nfproto ipv6 tcp dport {st.SERVER_PORT} reject with icmpx type port-unreachable
  }}
}}
"""


def icmp_reject_v4(ctx: Ctx, net: int) -> list[Expected]:
    name = "icmp-reject-admin-prohibited-at-client.pcap"
    with Lab(ctx.tag) as lab:
        topo = make_routed(lab, net)
        topo.router.nft(_reject_admin_v4())
        ctx.capture(topo.client, "eth0", name)
        cli = ctx.actor(topo.client, st.connect(topo.server_ip, PORT, tolerate=True), "client")
        cli.expect("finished")
        ctx.finish(cli, linger=1.5)  # nothing more: the client gave up
    return [
        Expected(
            name,
            "connect() through a router whose firewall rejects the port with ICMP "
            "administratively prohibited",
            "client",
            {"router_nft": "forward: tcp dport 8080 reject with icmp type admin-prohibited"},
            [
                Conn(
                    {"client_port": PORT},
                    "refused",
                    counts=clean(syn_retransmits=bound(0, 1)),
                    cause="icmp_reject",
                    explanation_keywords=["ICMP", "prohibited", f"10.{net}.1.254", "firewall"],
                    note="the router answers each SYN with ICMP destination unreachable code 13 "
                    "quoting it; tcp_v4_err aborts a SYN_SENT socket on it (connect() fails "
                    "with EHOSTUNREACH), no RST. The first error usually arrives while "
                    "connect() still holds the socket lock and is only kept as a soft error, "
                    "so the abort comes with the SYN retry's error, about 1 s later",
                )
            ],
            notes="The ICMP error comes from the router's address, not the server's.",
            capture_format=ETHERNET,
            observed_by_sockets=ctx.socket_events(),
        )
    ]


def icmp_reject_v6(ctx: Ctx, net: int) -> list[Expected]:
    names = {
        "client": "icmp-reject-v6-port-unreachable-at-client.pcap",
        "router": "icmp-reject-v6-port-unreachable-at-router.pcap",
    }
    with Lab(ctx.tag) as lab:
        topo = make_routed(lab, net, ipv6=True)
        topo.router.nft(_reject_port_v6())
        _warm(topo)
        ctx.capture(topo.client, "eth0", names["client"])
        ctx.capture(topo.router, "rc", names["router"])
        time.sleep(0.3)
        assert topo.server_ip6 is not None
        cli = ctx.actor(
            topo.client,
            st.connect(topo.server_ip6, PORT, family=6, tolerate=True),
            "client",
        )
        cli.expect("finished")
        ctx.finish(cli, linger=1.5)
    conn = Conn(
        {"client_port": PORT},
        "refused",
        counts=clean(syn_retransmits=bound(0, 1)),
        cause="icmp_reject",
        explanation_keywords=["ICMP", "port unreachable", f"fd00:{net}:1::fe"],
        note="the router's nftables answer the SYN with ICMPv6 destination unreachable code 4 "
        "(icmpx port-unreachable); tcp_v6_err aborts the SYN_SENT socket (ECONNREFUSED); as "
        "in IPv4 the first error may arrive while connect() holds the socket lock, and the "
        "abort comes with the SYN retry's error",
    )
    scen = "IPv6 connect() through a router that rejects the port with icmpx port-unreachable"
    settings = {"router_nft": "forward: tcp dport 8080 reject with icmpx type port-unreachable"}
    return [
        Expected(
            names["client"],
            scen,
            "client",
            settings,
            [conn],
            capture_format=ETHERNET,
            observed_by_sockets=ctx.socket_events(),
        ),
        Expected(
            names["router"],
            scen + " - router interface facing the client",
            "router",
            settings,
            [conn],
            notes="The router's capture holds the SYN it received and the ICMPv6 error it sent.",
            capture_format=ETHERNET,
            observed_by_sockets=ctx.socket_events(),
        ),
    ]


def _drop_frag_needed() -> str:
    """The router's own ICMP fragmentation-needed / packet-too-big never leave it."""
    return """table inet pmtu {
  chain out {
    type filter hook output priority 0;
    icmp type destination-unreachable icmp code frag-needed drop
    icmpv6 type packet-too-big drop
  }
}
"""


def _udp_probe(topo: Routed, ip: str) -> None:
    """One UDP datagram from the client to ``ip`` (port 9, nothing listens: the answer is an
    ICMP port unreachable). The lab has no ping binary; this resolves neighbours the same way."""
    family = "AF_INET6" if ":" in ip else "AF_INET"
    code = (
        f"import socket; s = socket.socket(socket.{family}, socket.SOCK_DGRAM); "
        f"s.sendto(b'x', ({ip!r}, 9))"
    )
    topo.client.run(["python3", "-c", code])
    time.sleep(0.2)


def _warm(topo: Routed) -> None:
    """Resolve the neighbours before the capture (IPv6 neighbour discovery on a fresh router
    can hold, and once duplicated, the first SYN): a datagram to the server."""
    for ip in (topo.server_ip6, topo.server_ip):
        if ip is not None:
            _udp_probe(topo, ip)


def _mark_end(topo: Routed) -> None:
    """After the client gave up: 1.5 s later it sends a datagram to the router, so the capture
    runs on past the RTO that never fired (the give-up is silence: Linux sends nothing when it
    aborts)."""
    time.sleep(1.5)
    _udp_probe(topo, f"{topo.client_ip.rsplit('.', 1)[0]}.254")


def _narrow(topo: Routed) -> None:
    topo.router.run(["ip", "link", "set", topo.router_server_dev, "mtu", str(NARROW_MTU)])


def _upload_steps(
    topo: Routed, family: int, *, finish: bool, size: int = TEN_SEGMENTS
) -> tuple[list[st.Step], list[st.Step]]:
    """Client: a small request and answer, then ``size`` bytes (ten full-size segments);
    server: the same. ``finish``: a 100 B answer and an orderly close (else the client waits
    for its socket's error)."""
    ip = topo.server_ip if family == 4 else topo.server_ip6
    assert ip is not None
    client = [
        *st.connect(ip, PORT, family=family),
        st.send(100),
        st.recv(100),
        st.send(size),
    ]
    server = [*st.listen(family=family), st.accept(), st.recv(100, "c"), st.send(100, "c")]
    server.append(st.recv(size, "c"))
    if finish:
        client += [st.recv(100), st.close()]
        server += [st.send(100, "c"), st.recv_eof("c"), st.close("c")]
    else:
        client.append(st.wait_error())
    return client, server


def pmtu_black_hole(ctx: Ctx, net: int) -> list[Expected]:
    names = {
        "client": "pmtu-black-hole-at-client.pcap",
        "router": "pmtu-black-hole-at-router-server-side.pcap",
    }
    with Lab(ctx.tag) as lab:
        topo = make_routed(lab, net)
        _narrow(topo)
        topo.router.nft(_drop_frag_needed())
        topo.client.sysctl("net.ipv4.tcp_mtu_probing", 0)
        topo.client.sysctl("net.ipv4.tcp_retries2", 4)
        ctx.capture(topo.client, "eth0", names["client"])
        ctx.capture(topo.router, topo.router_server_dev, names["router"])
        client, server = _upload_steps(topo, 4, finish=False)
        srv = ctx.server(topo.server, server)
        cli = ctx.actor(topo.client, client, "client")
        cli.expect("wait_error", timeout=30)
        _mark_end(topo)
        ctx.finish(cli, srv, linger=0.5)
    settings = {
        "client": {"net.ipv4.tcp_mtu_probing": 0, "net.ipv4.tcp_retries2": 4},
        "router": f"rs (toward the server) mtu {NARROW_MTU}; output: icmp frag-needed dropped",
    }
    scen = (
        f"client uploads {TEN_SEGMENTS} B through a router whose next link has MTU {NARROW_MTU} "
        "and whose ICMP fragmentation-needed is dropped (path-MTU black hole)"
    )
    return [
        Expected(
            names["client"],
            scen,
            "client",
            settings,
            [
                Conn(
                    {"client_port": PORT},
                    "retransmit_timeout",
                    counts=clean(retransmits=bound(3, 6)),
                    inferred={"give_up_after_s": 6.2},
                    cause="pmtu_black_hole",
                    explanation_keywords=[
                        "MTU/MSS",
                        "ICMP",
                        "tcp_mtu_probing",
                        "1448-byte",
                        "100-byte",
                    ],
                    note="the 100-byte request and answer cross the router; the 1500-byte "
                    "segments (DF set) exceed the 1280 link, the router's fragmentation-needed "
                    "is dropped by its own nftables, the client retransmits full size until "
                    "tcp_retries2=4 gives up (6.2 s) and reports ETIMEDOUT",
                )
            ],
            capture_format=ETHERNET,
            observed_by_sockets=ctx.socket_events(),
        ),
        Expected(
            names["router"],
            scen + " - router interface toward the server",
            "router",
            settings,
            [
                Conn(
                    {"client_port": PORT},
                    "open",
                    counts=clean(),
                    no_cause=True,
                    note="past the narrow link only the small exchange is seen; the full-size "
                    "segments never got here, so nothing shows the black hole: open, no cause",
                )
            ],
            capture_format=ETHERNET,
            observed_by_sockets=ctx.socket_events(),
        ),
    ]


def pmtu_black_hole_v6(ctx: Ctx, net: int) -> list[Expected]:
    """The IPv6 black hole, captured in the middle: at the router's interface facing the client,
    where the full-size segments arrive and the router's own packet-too-big never leaves."""
    name = "pmtu-black-hole-v6-at-router-client-side.pcap"
    with Lab(ctx.tag) as lab:
        topo = make_routed(lab, net, ipv6=True)
        _narrow(topo)
        topo.router.nft(_drop_frag_needed())
        topo.client.sysctl("net.ipv4.tcp_mtu_probing", 0)  # IPv4 and IPv6 TCP alike
        topo.client.sysctl("net.ipv4.tcp_retries2", 4)
        _warm(topo)
        ctx.capture(topo.router, topo.router_client_dev, name)
        client, server = _upload_steps(topo, 6, finish=False)
        srv = ctx.server(topo.server, server)
        cli = ctx.actor(topo.client, client, "client")
        cli.expect("wait_error", timeout=30)
        _mark_end(topo)
        ctx.finish(cli, srv, linger=0.5)
    return [
        Expected(
            name,
            f"IPv6 upload through a router whose next link has MTU {NARROW_MTU} and whose "
            "ICMPv6 packet-too-big is dropped by its own nftables - router interface facing "
            "the client",
            "router",
            {
                "client": {"net.ipv4.tcp_mtu_probing": 0, "net.ipv4.tcp_retries2": 4},
                "router": f"rs mtu {NARROW_MTU}; output: icmpv6 packet-too-big dropped",
            },
            [
                Conn(
                    {"client_port": PORT},
                    "retransmit_timeout",
                    counts=clean(retransmits=bound(3, 6)),
                    inferred={"give_up_after_s": 6.2},
                    cause="pmtu_black_hole",
                    explanation_keywords=["MTU/MSS", "ICMP", "tcp_mtu_probing", "100-byte"],
                    note="the small exchange crosses; the client's full-size segments (1500-byte "
                    "IPv6 packets) reach the router, which cannot forward them into the 1280 "
                    "link and whose packet-too-big its own nftables drop: the client "
                    "retransmits full size until tcp_retries2=4 gives up",
                )
            ],
            notes="The router's packet-too-big is dropped in its output hook, before this "
            "interface: the capture holds no ICMPv6, as a capture at the client would not.",
            capture_format=ETHERNET,
            observed_by_sockets=ctx.socket_events(),
        )
    ]


def pmtu_probing_recovers(ctx: Ctx, net: int) -> list[Expected]:
    name = "pmtu-black-hole-mtu-probing-recovers-at-client.pcap"
    with Lab(ctx.tag) as lab:
        topo = make_routed(lab, net)
        _narrow(topo)
        topo.router.nft(_drop_frag_needed())
        topo.client.sysctl("net.ipv4.tcp_mtu_probing", 1)
        ctx.capture(topo.client, "eth0", name)
        client, server = _upload_steps(topo, 4, finish=True)
        srv = ctx.server(topo.server, server)
        ctx.run_client(topo.client, client, srv, timeout=30, server_timeout=30)
    return [
        Expected(
            name,
            "the path-MTU black hole of pmtu-black-hole, with tcp_mtu_probing=1 on the client",
            "client",
            {
                "client": {"net.ipv4.tcp_mtu_probing": 1},
                "router": f"rs mtu {NARROW_MTU}; output: icmp frag-needed dropped",
            },
            [
                Conn(
                    {"client_port": PORT},
                    "closed",
                    closer="client",
                    counts=clean(retransmits=bound(3, None)),
                    cause="pmtu_black_hole",
                    explanation_keywords=[
                        "MTU",
                        "tcp_mtu_probing",
                        "recovered",
                        "Slow, not failed",
                    ],
                    note="after tcp_retries1 (3) timeouts the kernel enables MTU probing and "
                    "falls back to tcp_base_mss (1024): the smaller retransmissions cross "
                    "the narrow link, the upload completes and the client closes first",
                )
            ],
            capture_format=ETHERNET,
            observed_by_sockets=ctx.socket_events(),
        )
    ]


def packet_too_big_v6(ctx: Ctx, net: int) -> list[Expected]:
    names = {
        "client": "icmpv6-packet-too-big-at-client.pcap",
        "server": "icmpv6-packet-too-big-at-server.pcap",
    }
    with Lab(ctx.tag) as lab:
        topo = make_routed(lab, net, ipv6=True)
        _narrow(topo)
        _warm(topo)
        ctx.capture(topo.client, "eth0", names["client"])
        ctx.capture(topo.server, "eth0", names["server"])
        time.sleep(0.3)
        client, server = _upload_steps(topo, 6, finish=True)
        srv = ctx.server(topo.server, server)
        ctx.run_client(topo.client, client, srv, timeout=30, server_timeout=30)
    settings = {"router": f"rs (toward the server) mtu {NARROW_MTU}, ICMPv6 not filtered"}
    scen = f"IPv6 upload through a router whose next link has MTU {NARROW_MTU}"
    return [
        Expected(
            names["client"],
            scen,
            "client",
            settings,
            [
                Conn(
                    {"client_port": PORT},
                    "closed",
                    closer="client",
                    counts=clean(retransmits=bound(1, None)),
                    cause="icmp_packet_too_big",
                    explanation_keywords=["packet too big", "1280", f"fd00:{net}:1::fe"],
                    note="the router answers the first full-size segment with ICMPv6 packet "
                    "too big (MTU 1280); the client lowers its path MTU and resends the data "
                    "in smaller segments at once (RFC 8201), the upload completes",
                )
            ],
            capture_format=ETHERNET,
            observed_by_sockets=ctx.socket_events(),
        ),
        Expected(
            names["server"],
            scen + " - at the server",
            "server",
            settings,
            [
                Conn(
                    {"client_port": PORT},
                    "closed",
                    closer="client",
                    counts=clean(retransmits=bound(1, None)),
                    no_cause=True,
                    note="the server sees only the resized segments: nothing here shows the "
                    "ICMP, so no cause is named. The client's last, small segment of the first "
                    "flight crossed the narrow link first, so the resized resends of the bytes "
                    "before it arrive below the highest sequence seen: they are resends (the "
                    "originals died at the router), counted as retransmissions",
                )
            ],
            capture_format=ETHERNET,
            observed_by_sockets=ctx.socket_events(),
        ),
    ]


#: The IPv4 upload of ``packet_too_big_v4``: four full-size segments (1448 B each, MSS 1460
#: less 12 bytes of timestamps), all in the initial window.
FOUR_SEGMENTS = 4 * 1448


def packet_too_big_v4(ctx: Ctx, net: int) -> list[Expected]:
    """IPv4 upload through a router whose next link has MTU 1280, ICMP not filtered.

    The router answers each 1500-byte packet (DF set) with ICMP fragmentation needed naming
    MTU 1280; the client lowers its path MTU and resends the bytes in smaller segments at
    once (tcp_v4_err -> tcp_v4_mtu_reduced -> tcp_simple_retransmit): no timeout, no loss
    probe. Captured at the client, headers only (the folder stays small).
    """
    name = "icmp-frag-needed-v4-at-client.pcap"
    with Lab(ctx.tag) as lab:
        topo = make_routed(lab, net)
        _narrow(topo)
        topo.client.sysctl("net.ipv4.tcp_mtu_probing", 0)  # the default: no probing
        ctx.capture(topo.client, "eth0", name, "-s", "96")
        client, server = _upload_steps(topo, 4, finish=True, size=FOUR_SEGMENTS)
        srv = ctx.server(topo.server, server)
        ctx.run_client(topo.client, client, srv, timeout=30, server_timeout=30)
    return [
        Expected(
            name,
            f"IPv4 upload of {FOUR_SEGMENTS} B through a router whose next link has MTU "
            f"{NARROW_MTU}, ICMP fragmentation needed not filtered; captured at the client, "
            "headers only",
            "client",
            {
                "client": {"net.ipv4.tcp_mtu_probing": 0},
                "router": f"rs (toward the server) mtu {NARROW_MTU}, ICMP not filtered",
            },
            [
                Conn(
                    {"client_port": PORT},
                    "closed",
                    closer="client",
                    counts=clean(retransmits=bound(4, None)),
                    delays={"rto_episodes": 0},
                    cause="icmp_packet_too_big",
                    explanation_keywords=[
                        "fragmentation needed",
                        "1280",
                        "after the ICMP error, in smaller segments",
                    ],
                    note="the router answers each full-size segment with ICMP fragmentation "
                    "needed (MTU 1280); the client lowers its path MTU and resends the bytes in "
                    "smaller segments within a millisecond of the error (tcp_v4_mtu_reduced -> "
                    "tcp_simple_retransmit): no timeout and no tail loss probe; the upload "
                    "completes",
                )
            ],
            capture_format={
                "format": "pcap",
                "link_type": "EN10MB",
                "tool": "tcpdump -s 96",
                "snaplen": 96,
            },
            observed_by_sockets=ctx.socket_events(),
        )
    ]


def _conntrack_script(verdict: str) -> str:
    return f"""table inet idle {{
  chain forward_path {{
    type filter hook forward priority 0;
    meta l4proto tcp ct state invalid {verdict}
  }}
}}
"""


def _masquerade_script(topo: Routed) -> str:
    return f"""table ip remap {{
  chain post {{
    type nat hook postrouting priority 100;
    oifname "{topo.router_server_dev}" masquerade fully-random
  }}
}}
"""


def _idle_conntrack(
    ctx: Ctx,
    net: int,
    names: dict[str, str],
    *,
    ipv6: bool,
    verdict: str,
    after_idle: int = 100,
    snaplen: tuple[str, ...] = (),
    masquerade: bool = False,
) -> tuple[Routed, list[str]]:
    """Request/answer (100 B each), ``IDLE_S`` idle, then a request of ``after_idle`` bytes
    through a router whose conntrack entry expired meanwhile; captured at ``names``.
    ``masquerade``: instead of ``verdict``, the router masquerades (fully-random) toward the
    server and picks the flow up again after the idle (nf_conntrack_tcp_loose=1, the default):
    under a new source port."""
    with Lab(ctx.tag) as lab:
        topo = make_routed(lab, net, ipv6=ipv6)
        # Either table loads conntrack in the router namespace.
        topo.router.nft(_masquerade_script(topo) if masquerade else _conntrack_script(verdict))
        topo.router.sysctl(
            "net.netfilter.nf_conntrack_tcp_timeout_established", CONNTRACK_TIMEOUT_S
        )
        topo.router.sysctl("net.netfilter.nf_conntrack_tcp_loose", 1 if masquerade else 0)
        topo.client.sysctl("net.ipv4.tcp_retries2", 4)
        _warm(topo)
        for label, name in names.items():
            ns, dev = {
                "client": (topo.client, "eth0"),
                "router_rc": (topo.router, topo.router_client_dev),
                "router_rs": (topo.router, topo.router_server_dev),
                "server": (topo.server, "eth0"),
            }[label]
            ctx.capture(ns, dev, name, *snaplen)
        time.sleep(0.3)
        family = 6 if ipv6 else 4
        ip = topo.server_ip6 if ipv6 else topo.server_ip
        assert ip is not None
        server = [
            *st.listen(family=family),
            st.accept(),
            st.recv(100, "c"),
            st.send(100, "c"),
            st.recv(100, "c"),
        ]
        client = [
            *st.connect(ip, PORT, family=family),
            st.send(100),
            st.recv(100),
            st.sleep(IDLE_S),
            st.send(after_idle),
            st.wait_error(),
        ]
        srv = ctx.server(topo.server, server)
        cli = ctx.actor(topo.client, client, "client")
        cli.expect("wait_error", timeout=40)
        _mark_end(topo)
        ctx.finish(cli, srv, linger=0.5)
    return topo, ctx.socket_events()


_CT_SETTINGS = {
    "router": {
        "net.netfilter.nf_conntrack_tcp_timeout_established": CONNTRACK_TIMEOUT_S,
        "net.netfilter.nf_conntrack_tcp_loose": 0,
    },
    "client": {"net.ipv4.tcp_retries2": 4, "idle_s": IDLE_S},
}


def idle_timeout_drop(ctx: Ctx, net: int) -> list[Expected]:
    names = {
        "client": "middlebox-idle-timeout-drop-at-client.pcap",
        "router_rs": "middlebox-idle-timeout-drop-at-router-server-side.pcap",
    }
    _topo, events = _idle_conntrack(ctx, net, names, ipv6=False, verdict="drop")
    settings = {**_CT_SETTINGS, "router_nft": "forward: ct state invalid drop"}
    scen = (
        f"request/answer, {IDLE_S} s idle, next request: the router's conntrack entry expired "
        f"after {CONNTRACK_TIMEOUT_S} s and the segment is dropped as invalid"
    )
    return [
        Expected(
            names["client"],
            scen,
            "client",
            settings,
            [
                Conn(
                    {"client_port": PORT},
                    "retransmit_timeout",
                    counts=clean(retransmits=bound(3, 6)),
                    inferred={"give_up_after_s": 6.2},
                    cause="middlebox_idle_timeout",
                    explanation_keywords=[
                        "idle",
                        "nf_conntrack_tcp_timeout_established",
                        "keepalive",
                        "NAT",
                    ],
                    note="the first segment after the 8 s idle gap finds no conntrack entry "
                    "(expired at 5 s, loose=0: invalid) and is dropped with every "
                    "retransmission until tcp_retries2=4 gives up",
                )
            ],
            capture_format=ETHERNET,
            observed_by_sockets=events,
        ),
        Expected(
            names["router_rs"],
            scen + " - router interface toward the server",
            "router",
            settings,
            [
                Conn(
                    {"client_port": PORT},
                    "open",
                    counts=clean(),
                    no_cause=True,
                    note="beyond the router the connection just goes quiet: open, no cause",
                )
            ],
            capture_format=ETHERNET,
            observed_by_sockets=events,
        ),
    ]


#: The request after the idle gap in ``idle_timeout_drop_larger``: larger than the first
#: (100 B), smaller than what every path carries (path_mtu.SMALLEST_PATH_MSS).
LARGER_AFTER_IDLE = 600


def idle_timeout_drop_larger(ctx: Ctx, net: int) -> list[Expected]:
    """``idle_timeout_drop`` with a 600-byte request after the gap: the sender's largest
    segment, never acknowledged, while its 100-byte one was. The conntrack entry's expiry
    dropped it, not the path's MTU (every path carries 600 bytes): no pmtu_black_hole."""
    names = {"client": "middlebox-idle-timeout-drop-larger-request-at-client.pcap"}
    _topo, events = _idle_conntrack(
        ctx,
        net,
        names,
        ipv6=False,
        verdict="drop",
        after_idle=LARGER_AFTER_IDLE,
        snaplen=("-s", "96"),
    )
    settings = {**_CT_SETTINGS, "router_nft": "forward: ct state invalid drop"}
    return [
        Expected(
            names["client"],
            f"request/answer (100 B), {IDLE_S} s idle, then a {LARGER_AFTER_IDLE} B request: "
            f"the router's conntrack entry expired after {CONNTRACK_TIMEOUT_S} s and every copy "
            "is dropped as invalid",
            "client",
            {**settings, "client": {**_CT_SETTINGS["client"], "after_idle": LARGER_AFTER_IDLE}},
            [
                Conn(
                    {"client_port": PORT},
                    "retransmit_timeout",
                    counts=clean(retransmits=bound(3, 6)),
                    inferred={"give_up_after_s": 6.2},
                    cause="middlebox_idle_timeout",
                    explanation_keywords=["idle", "nf_conntrack_tcp_timeout_established"],
                    note=f"the {LARGER_AFTER_IDLE} B request is the client's largest segment, "
                    "never acknowledged while the 100 B one was: the signature a path-MTU black "
                    "hole leaves for full-size segments, but 600 B cross every path; the "
                    "expired conntrack entry dropped it",
                )
            ],
            capture_format=ETHERNET,
            observed_by_sockets=events,
        )
    ]


def nat_remap_after_idle(ctx: Ctx, net: int) -> list[Expected]:
    """Request/answer, ``IDLE_S`` idle, next request through a router that masquerades
    (fully-random): its conntrack entry expired after ``CONNTRACK_TIMEOUT_S``, conntrack picks
    the flow up again (loose=1) and masquerade gives it a new source port. The server, whose
    socket for the first port is still open, answers the unknown 4-tuple with a RST. Captured
    at the server: two streams, the later one carrying the first one's sequence numbers on."""
    names = {"server": "nat-remap-after-idle-at-server.pcap"}
    _topo, events = _idle_conntrack(
        ctx, net, names, ipv6=False, verdict="", snaplen=("-s", "96"), masquerade=True
    )
    settings = {
        "router": {
            "net.netfilter.nf_conntrack_tcp_timeout_established": CONNTRACK_TIMEOUT_S,
            "net.netfilter.nf_conntrack_tcp_loose": 1,
        },
        "router_nft": "postrouting: oifname rs masquerade fully-random",
        "client": {"net.ipv4.tcp_retries2": 4, "idle_s": IDLE_S},
    }
    return [
        Expected(
            names["server"],
            f"request/answer, {IDLE_S} s idle, next request: the masquerading router's conntrack "
            f"entry expired after {CONNTRACK_TIMEOUT_S} s and it translates the segment anew, "
            "from another source port; the server answers it with RST",
            "server",
            settings,
            [
                Conn(
                    {"index": 0},
                    "open",
                    counts=clean(),
                    no_cause=True,
                    note="the server's socket for the first source port: idle, never closed",
                ),
                Conn(
                    {"index": 1},
                    "reset",
                    reset_by="server",
                    counts=clean(resets=1),
                    no_cause=True,
                    note="the client's next request arrives from a new source port without a "
                    "handshake, its seq and ack continuing stream 0's; the server's stack has no "
                    "socket for it and answers RST without ACK (tcp_v4_send_reset); the router "
                    "returns it to the client, whose connect reads ECONNRESET",
                ),
            ],
            capture_format={
                "format": "pcap",
                "link_type": "EN10MB",
                "tool": "tcpdump -s 96",
                "snaplen": 96,
            },
            observed_by_sockets=events,
            findings=["nat_remap"],
        )
    ]


def idle_timeout_rst_v6(ctx: Ctx, net: int) -> list[Expected]:
    names = {
        "client": "middlebox-idle-timeout-rst-v6-at-client.pcap",
        "router_rc": "middlebox-idle-timeout-rst-v6-at-router.pcap",
    }
    _topo, events = _idle_conntrack(ctx, net, names, ipv6=True, verdict="reject with tcp reset")
    settings = {**_CT_SETTINGS, "router_nft": "forward: ct state invalid reject with tcp reset"}
    scen = (
        f"IPv6 request/answer, {IDLE_S} s idle, next request: the router's conntrack entry "
        f"expired after {CONNTRACK_TIMEOUT_S} s and the router answers with a RST in the "
        "server's name"
    )
    conn = Conn(
        {"client_port": PORT},
        "reset",
        reset_by="server",
        counts=clean(resets=1),
        cause="middlebox_idle_timeout",
        explanation_keywords=["idle", "nf_conntrack_tcp_timeout_established", "hop limit"],
        note="the router's RST (hop limit 64) claims to come from the server, whose packets "
        "arrive with 63: nf_send_reset6 answers the client's first segment after the idle gap",
    )
    return [
        Expected(
            names["client"],
            scen,
            "client",
            settings,
            [conn],
            capture_format=ETHERNET,
            observed_by_sockets=events,
        ),
        Expected(
            names["router_rc"],
            scen + " - router interface facing the client",
            "router",
            settings,
            [conn],
            notes="At the router's client-side interface the server's forwarded packets have "
            "hop limit 63 and the router's own RST 64, as at the client.",
            capture_format=ETHERNET,
            observed_by_sockets=events,
        ),
    ]


def _inject_reset_v4() -> str:
    return f"""table ip inj {{
  chain forward_path {{
    type filter hook forward priority 0;
    tcp dport {st.SERVER_PORT} reject with tcp reset
  }}
}}
"""


def injected_rst(ctx: Ctx, net: int) -> list[Expected]:
    names = {
        "client": "injected-rst-router-at-client.pcap",
        "server": "injected-rst-router-at-server.pcap",
    }
    with Lab(ctx.tag) as lab:
        topo = make_routed(lab, net)
        ctx.capture(topo.client, "eth0", names["client"])
        ctx.capture(topo.server, "eth0", names["server"])
        cli, srv = ctx.start_stream(topo.client, topo.server, topo.server_ip, PORT, 2000)
        topo.router.nft(_inject_reset_v4())
        cli.expect("send_failed", timeout=10)
        ctx.finish(cli, srv, linger=1.0)
    events = ctx.socket_events()
    settings = {"router_nft": "0.6 s into the stream: forward tcp dport 8080 reject with tcp reset"}
    scen = "client streams to a server; 0.6 s in, the router starts answering with TCP resets"
    return [
        Expected(
            names["client"],
            scen,
            "client",
            settings,
            [
                Conn(
                    {"client_port": PORT},
                    "reset",
                    reset_by="server",
                    counts=clean(resets=bound(1, None)),
                    cause="injected_rst",
                    explanation_keywords=["TTL 64", "63", "middlebox", "nft"],
                    note="the RST is the router's (nf_send_reset: TTL 64) in the server's "
                    "name; the server's own packets arrive with TTL 63; send() fails "
                    "with ECONNRESET",
                )
            ],
            capture_format=ETHERNET,
            observed_by_sockets=events,
        ),
        Expected(
            names["server"],
            scen + " - at the server",
            "server",
            settings,
            [
                Conn(
                    {"client_port": PORT},
                    "open",
                    counts=clean(),
                    no_cause=True,
                    note="the server never sees the RST: its stream just stops (open)",
                )
            ],
            capture_format=ETHERNET,
            observed_by_sockets=events,
        ),
    ]


def load_balancer_one_backend_refuses(ctx: Ctx, net: int) -> list[Expected]:
    """A load balancer (the router's round-robin DNAT of a virtual address) over two backends,
    one of which has nothing listening: every other connect() is refused.

    The client connects to 10.<net>.9.9:8080 seven times in turn; the router's DNAT sends
    them alternately to 10.<net>.2.1:8080 (listening) and 10.<net>.2.1:8081 (nothing
    listens: the server host answers RST, which conntrack turns back into the virtual
    address). Captured at the client: the same address and port accepts, refuses, accepts...
    """
    name = "lb-one-backend-refuses-at-client.pcap"
    vip = f"10.{net}.9.9"
    ports = tuple(range(PORT, PORT + 7))
    with Lab(ctx.tag) as lab:
        topo = make_routed(lab, net)
        topo.router.nft(
            "table ip lb {\n  chain pre {\n    type nat hook prerouting priority -100;\n"
            f"    ip daddr {vip} tcp dport {st.SERVER_PORT} dnat to {topo.server_ip} : "
            f"numgen inc mod 2 map {{ 0 : {st.SERVER_PORT}, 1 : {st.SERVER_PORT + 1} }}\n"
            "  }\n}\n"
        )
        ctx.capture(topo.client, "eth0", name)
        srv = ctx.server(topo.server, st.echo_server(count=4))
        steps: list[st.Step] = []
        for i, port in enumerate(ports):
            if i % 2:
                steps += st.connect(vip, port, sock=f"s{i}", tolerate=True)
            else:
                steps += st.echo_client(vip, port, sock=f"s{i}")
        ctx.run_client(topo.client, steps, srv)
    conns = [
        Conn(
            {"client_port": port},
            "closed",
            closer="client",
            counts=clean(),
            note="DNAT sent it to port 8080 (listening): 100 B asked, 1000 B answered",
        )
        if i % 2 == 0
        else Conn(
            {"client_port": port},
            "refused",
            reset_by="server",
            counts=clean(resets=1),
            note="DNAT sent it to port 8081, where nothing listens: RST from the virtual address",
        )
        for i, port in enumerate(ports)
    ]
    exp = Expected(
        name,
        "seven connect()s in turn to a load balancer's virtual address whose round-robin DNAT "
        "alternates between a listening backend and a port with nothing listening",
        "client",
        {
            "router_nft": f"nat prerouting: ip daddr {vip} tcp dport 8080 dnat to "
            "server:(numgen inc mod 2 map {0: 8080, 1: 8081})",
        },
        conns,
        notes="One address and port refuses every other connection: more than one host (here "
        "backend) answers for it. Expected finding: intermittent_connect (3 refused in 3 runs, "
        "each between connections that connected).",
        capture_format=ETHERNET,
        observed_by_sockets=ctx.socket_events(),
        findings=["intermittent_connect"],
    )
    return [exp]


def _probes_then_echo(
    ctx: Ctx,
    net: int,
    name: str,
    at: str,
    probes: Callable[[Pair], list[st.Step]],
    echo_from: int,
    *,
    addresses: Sequence[str] = (),
    server_first: Sequence[st.Step] = (),
) -> None:
    """A pair whose server runs ``server_first`` then the echo server (with ``addresses``
    added to it), captured at ``at`` ("client", "server"): the client's ``probes`` steps, then
    one ordinary connection from port ``echo_from``."""
    with Lab(ctx.tag) as lab:
        pair = make_pair(lab, net)
        for address in addresses:
            lab.addr(pair.server, "eth0", f"{address}/24")
        ctx.capture(pair.client if at == "client" else pair.server, "eth0", name)
        srv = ctx.server(pair.server, [*server_first, *st.echo_server(count=1)])
        steps = [*probes(pair), *st.echo_client(pair.server_ip, echo_from)]
        ctx.run_client(pair.client, steps, srv)


def _connect_each(targets: Sequence[tuple[str, int]], sock: str) -> Callable[[Pair], list[st.Step]]:
    """The client's connect() to each (address, port) in turn, from port PORT + its place
    (socket ``sock`` + its place, as the socket events name it), a refusal tolerated."""

    def steps(_pair: Pair) -> list[st.Step]:
        return [
            step
            for k, (host, port) in enumerate(targets)
            for step in st.connect(host, PORT + k, sock=f"{sock}{k}", port=port, tolerate=True)
        ]

    return steps


def _refused(targets: Sequence[tuple[str, int]], what: Callable[[str, int], str]) -> list[Conn]:
    """Each of ``_connect_each``'s attempts refused by the kernel where nothing listens
    (``what``: the target in the note)."""
    return [
        Conn(
            {"client_port": PORT + k},
            "refused",
            reset_by="server",
            counts=clean(resets=1),
            note=f"connect() to {what(host, port)}, where nothing listens: RST, ECONNREFUSED",
        )
        for k, (host, port) in enumerate(targets)
    ]


def _echo_conn(client_port: int, note: str) -> Conn:
    """The ordinary connection ``_probes_then_echo`` ends with: 100 B asked, 1000 B answered,
    the client closing first."""
    return Conn({"client_port": client_port}, "closed", closer="client", counts=clean(), note=note)


def port_scan_refused(ctx: Ctx, net: int) -> list[Expected]:
    """A client sweeps twelve ports of a server where nothing listens (a connect() to each in
    turn, as ``nmap -sT`` does), then makes one ordinary connection to the port that listens.

    Captured at the client: twelve SYNs to ports 9000-9011 each answered by the server
    kernel's RST (no listener), then a normal exchange with port 8080.
    """
    name = "port-scan-refused-at-client.pcap"
    scanned = tuple(range(9000, 9012))
    targets = [(f"10.{net}.0.2", port) for port in scanned]
    _probes_then_echo(ctx, net, name, "client", _connect_each(targets, "p"), PORT + len(scanned))
    conns = _refused(targets, lambda _host, port: f"port {port}")
    conns.append(
        _echo_conn(PORT + len(scanned), "the listening port 8080: 100 B asked, 1000 B answered")
    )
    exp = Expected(
        name,
        "connect() to twelve ports of a server in turn, nothing listening on them (a port "
        "sweep), then one ordinary connection to the port that listens",
        "client",
        {"addresses": f"10.{net}.0.1 -> 10.{net}.0.2 ports 9000-9011, then 8080"},
        conns,
        notes="One client, one server, twelve ports refused within milliseconds: a port scan. "
        "Expected finding: port_scan (12 ports, 12 refused).",
        capture_format=ETHERNET,
        observed_by_sockets=ctx.socket_events(),
        findings=["port_scan"],
    )
    return [exp]


def host_sweep_refused(ctx: Ctx, net: int) -> list[Expected]:
    """A client tries port 9000 on twelve addresses of a subnet in turn (a connect() to each,
    as ``nmap -sT -p 9000`` over a range does, or a client walking a stale list of backends),
    then makes one ordinary connection to the host that serves port 8080.

    Captured at the client: twelve SYNs to 10.<net>.0.10-21 port 9000 (all held by the server
    namespace, where nothing listens on 9000), each answered by its kernel's RST, then a
    normal exchange with 10.<net>.0.2:8080.
    """
    name = "host-sweep-refused-at-client.pcap"
    hosts = [f"10.{net}.0.{10 + k}" for k in range(12)]
    targets = [(host, 9000) for host in hosts]
    sweep = _connect_each(targets, "h")
    _probes_then_echo(ctx, net, name, "client", sweep, PORT + len(hosts), addresses=hosts)
    conns = _refused(targets, lambda host, port: f"{host}:{port}")
    conns.append(
        _echo_conn(PORT + len(hosts), "the host that serves 8080: 100 B asked, 1000 B answered")
    )
    exp = Expected(
        name,
        "connect() to port 9000 on twelve addresses in turn, nothing listening there (a host "
        "sweep), then one ordinary connection",
        "client",
        {"addresses": f"10.{net}.0.1 -> 10.{net}.0.10-21:9000, then 10.{net}.0.2:8080"},
        conns,
        notes="One client, one port, twelve hosts refused within milliseconds: a sweep. "
        "Expected finding: host_sweep (12 hosts, 12 refused).",
        capture_format=ETHERNET,
        observed_by_sockets=ctx.socket_events(),
        findings=["host_sweep"],
    )
    return [exp]


def half_open_probes(ctx: Ctx, net: int) -> list[Expected]:
    """A half-open health check: a monitor on the client host sends a SYN to the listening
    port every 0.3 s from a raw socket (as a load balancer's half-open TCP check or
    ``nmap -sS`` does), five times, then an application makes one ordinary connection.

    Captured at the server: each SYN answered by the listener's SYN+ACK, each SYN+ACK by the
    client kernel's RST (no socket of its TCP was connecting: no ACK bit, seq = the SYN+ACK's
    ACK number). The SYNs are the only packets not made by a kernel's TCP.
    """
    name = "half-open-probes-at-server.pcap"
    probes = 5

    def checks(pair: Pair) -> list[st.Step]:
        return [
            step
            for k in range(probes)
            for step in (st.raw_tcp(pair.client_ip, pair.server_ip, PORT + k), st.sleep(0.3))
        ]

    _probes_then_echo(ctx, net, name, "server", checks, PORT + probes)
    conns = [
        Conn(
            {"client_port": PORT + k},
            "reset",
            reset_by="client",
            counts=clean(resets=1),
            cause="half_open_probe",
            explanation_keywords=["half-open probe", "raw socket", "bare RST"],
            note="a raw socket's SYN; the listener's SYN+ACK; the client kernel's RST (no socket)",
        )
        for k in range(probes)
    ]
    conns.append(
        _echo_conn(PORT + probes, "the application's connection: 100 B asked, 1000 B answered")
    )
    exp = Expected(
        name,
        "five SYNs from a raw socket to a listening port, 0.3 s apart (a half-open health "
        "check), then one ordinary connection",
        "server",
        {"addresses": f"10.{net}.0.1 ports {PORT}-{PORT + probes - 1} -> 10.{net}.0.2:8080"},
        conns,
        notes="Each probe is SYN, SYN+ACK, then a RST from the client's kernel, which had no "
        "socket for it: the server is healthy; nothing on it failed. Expected finding: "
        "half_open_probes (5 probes, every 0.3 s).",
        capture_format=ETHERNET,
        observed_by_sockets=ctx.socket_events(),
        findings=["half_open_probes"],
    )
    return [exp]


def connect_checks(ctx: Ctx, net: int) -> list[Expected]:
    """A TCP health check, as HAProxy runs one without a send rule: every 0.3 s the checker
    connects to the backend's port 8081, sends nothing, and closes with SO_LINGER {1, 0} (no
    TIME_WAIT left on the checker: the kernel resets the connection instead of sending a
    FIN), five times; then an application makes one ordinary connection to port 8080.

    Captured at the server: each check a full handshake (the listener on 8081 never accepts:
    the kernel completes it) and the checker kernel's RST + ACK.
    """
    name = "connect-checks-at-server.pcap"
    checks = 5
    check_port = 8081
    listener = [
        {"op": "socket", "sock": "hc", "family": 4, "opts": [st.reuse()]},
        {"op": "bind", "sock": "hc", "port": check_port},
        {"op": "listen", "sock": "hc", "backlog": 16},
    ]
    abort = [st.opt("SO_LINGER", [1, 0])]

    def check(pair: Pair) -> list[st.Step]:
        return [
            step
            for k in range(checks)
            for step in (
                *st.connect(pair.server_ip, PORT + k, sock=f"c{k}", port=check_port, opts=abort),
                st.close(f"c{k}"),
                st.sleep(0.3),
            )
        ]

    _probes_then_echo(ctx, net, name, "server", check, PORT + checks, server_first=listener)
    conns = [
        Conn(
            {"client_port": PORT + k},
            "reset",
            reset_by="client",
            counts=clean(resets=1),
            note="connect(), nothing sent, close() with SO_LINGER {1, 0}: the checker's RST",
        )
        for k in range(checks)
    ]
    conns.append(
        _echo_conn(PORT + checks, "the application's connection: 100 B asked, 1000 B answered")
    )
    exp = Expected(
        name,
        "five TCP health checks 0.3 s apart (connect, nothing sent, abort with SO_LINGER 0), "
        "then one ordinary connection",
        "server",
        {"addresses": f"10.{net}.0.1 -> 10.{net}.0.2:{check_port}, then 10.{net}.0.2:8080"},
        conns,
        notes="Each check is a full handshake and the checker's RST: the backend answered "
        "every one; nothing failed. Expected finding: connect_checks (5 checks, every 0.3 s).",
        capture_format=ETHERNET,
        observed_by_sockets=ctx.socket_events(),
        findings=["connect_checks"],
    )
    return [exp]


def stealth_scan(ctx: Ctx, net: int) -> list[Expected]:
    """A stealth port scan (``nmap -sF``, ``-sN``, ``-sX``): a scanner on the client host sends
    probes without SYN, ACK or RST from a raw socket to twelve ports of a server, one of which
    listens, then an application makes one ordinary connection.

    Captured at the server: ten FIN probes, one NULL and one Xmas probe. The server's kernel
    answers each probe of a port with no socket by RST + ACK (seq 0, ack = the probe's end) and
    drops the probe of the listening port 8080 silently. The probes are the only packets not
    made by a kernel's TCP.
    """
    name = "stealth-scan-at-server.pcap"
    closed = list(range(9000, 9011))
    probes = [(port, st.RAW_FIN) for port in closed[:9]]
    probes += [(closed[9], st.RAW_NULL), (closed[10], st.RAW_XMAS), (st.SERVER_PORT, st.RAW_FIN)]

    def scan(pair: Pair) -> list[st.Step]:
        sent = [
            step
            for k, (port, flags) in enumerate(probes)
            for step in (
                st.raw_tcp(pair.client_ip, pair.server_ip, PORT + k, port, flags),
                st.sleep(0.01),
            )
        ]
        return [*sent, st.sleep(0.2)]

    _probes_then_echo(ctx, net, name, "server", scan, PORT + len(probes))
    names = {st.RAW_FIN: "FIN", st.RAW_NULL: "NULL", st.RAW_XMAS: "Xmas"}
    conns = []
    for k, (port, flags) in enumerate(probes):
        listening = port == st.SERVER_PORT
        conns.append(
            Conn(
                {"client_port": PORT + k},
                "half_closed" if listening else "reset",
                closer="client" if listening else None,
                reset_by=None if listening else "server",
                counts=clean(resets=0 if listening else 1),
                cause="scan_probe",
                explanation_keywords=[
                    f"Port scan probe ({names[flags]}",
                    "unanswered" if listening else "nothing listens there",
                ],
                note=f"a {names[flags]} probe to port {port}: "
                + ("it listens, the kernel drops the probe" if listening else "RST + ACK"),
            )
        )
    conns.append(
        _echo_conn(PORT + len(probes), "the application's connection: 100 B asked, 1000 B answered")
    )
    exp = Expected(
        name,
        "FIN, NULL and Xmas probes from a raw socket to twelve ports of a server, one of which "
        "listens (a stealth port scan), then one ordinary connection",
        "server",
        {"addresses": f"10.{net}.0.1 -> 10.{net}.0.2 ports 9000-9010 and 8080, then 8080"},
        conns,
        notes="No probe opened a connection and none failed; the capture did not begin inside "
        "any. Expected finding: port_scan (12 ports: 11 refused, 1 unanswered).",
        capture_format=ETHERNET,
        observed_by_sockets=ctx.socket_events(),
        findings=["port_scan"],
    )
    return [exp]


def ack_scan(ctx: Ctx, net: int) -> list[Expected]:
    """An ACK and Maimon port scan (``nmap -sA`` / ``-sW``, ``-sM``): a scanner on the client
    host sends ACK probes to ten ports of a server and FIN + ACK probes to two, from a raw
    socket (one listens: 8080), then an application makes one ordinary connection.

    Captured at the server. A Linux host answers each probe with a RST without the ACK bit
    whose sequence number is the probe's ACK number (RFC 793 reset generation,
    ``tcp_v4_send_reset``), whether a port listens or not: no connection matches the probe,
    and a listening socket answers a segment with ACK by that RST too
    (``tcp_rcv_state_process`` in LISTEN). So the RSTs say which ports a firewall lets
    through, not which listen; each probe's connection shows a lone segment and its RST, the
    capture seeming to begin inside it. The probes are the only packets not made by a
    kernel's TCP.
    """
    name = "ack-scan-at-server.pcap"
    closed = list(range(9000, 9010))
    probes = [(port, st.RAW_ACK) for port in [*closed[:9], st.SERVER_PORT]]
    probes += [(closed[9], st.RAW_MAIMON), (9010, st.RAW_MAIMON)]
    acked = 0x5A5A0000

    def scan(pair: Pair) -> list[st.Step]:
        sent = [
            step
            for k, (port, flags) in enumerate(probes)
            for step in (
                st.raw_tcp(pair.client_ip, pair.server_ip, PORT + k, port, flags, acked + k),
                st.sleep(0.01),
            )
        ]
        return [*sent, st.sleep(0.2)]

    _probes_then_echo(ctx, net, name, "server", scan, PORT + len(probes))
    names = {st.RAW_ACK: "ACK", st.RAW_MAIMON: "FIN + ACK"}
    conns = [
        Conn(
            {"client_port": PORT + k},
            "reset",
            reset_by="server",
            counts=clean(resets=1),
            no_cause=True,
            explanation_keywords=["It carries no ACK bit", "nmap -sA"],
            note=f"a {names[flags]} probe to port {port}"
            + (" (it listens)" if port == st.SERVER_PORT else "")
            + ": RST without ACK, seq = the probe's ACK number",
        )
        for k, (port, flags) in enumerate(probes)
    ]
    conns.append(
        _echo_conn(PORT + len(probes), "the application's connection: 100 B asked, 1000 B answered")
    )
    exp = Expected(
        name,
        "ACK and FIN + ACK probes from a raw socket to twelve ports of a server, one of which "
        "listens (an ACK / Maimon port scan), then one ordinary connection",
        "server",
        {"addresses": f"10.{net}.0.1 -> 10.{net}.0.2 ports 9000-9010 and 8080, then 8080"},
        conns,
        notes="Every probe drew the server kernel's RST, the listening port's too; no "
        "connection existed. Expected finding: port_scan (12 ports, every probe reset).",
        capture_format=ETHERNET,
        observed_by_sockets=ctx.socket_events(),
        findings=["port_scan"],
    )
    return [exp]


def icmp_load_balancer_dead_backend(ctx: Ctx, net: int) -> list[Expected]:
    """A load balancer (the router's DNAT of a virtual address) sends a connection to a
    backend that is gone: the router's neighbour lookup for it fails.

    The client connects to the virtual address 10.<net>.9.9:8080; the router DNATs it to
    10.<net>.2.77, an address on its server-side link that nothing holds. The router queues the
    SYNs while it asks ARP (3 probes, 0.5 s apart here: net.ipv4.neigh mcast_solicit,
    retrans_time_ms), then answers each queued SYN with ICMP host unreachable; conntrack turns the error's source
    back into the virtual address. The first error aborts the SYN_SENT socket (tcp_v4_err:
    connect() fails with EHOSTUNREACH, no RST); the others answer SYNs of a connect that has
    already failed. Captured at the client, which sees the error come from the very address
    it connected to: a device answering for it, or that host's own REJECT rule (the capture
    cannot tell which).
    """
    name = "icmp-host-unreachable-load-balancer-dead-backend-at-client.pcap"
    vip, backend = f"10.{net}.9.9", f"10.{net}.2.77"
    with Lab(ctx.tag) as lab:
        topo = make_routed(lab, net)
        # ARP gives up after 3 probes 0.5 s apart (1.5 s, not the default 3 s): two SYNs wait.
        topo.router.sysctl("net.ipv4.neigh.rs.retrans_time_ms", 500)
        topo.router.nft(
            "table ip lb {\n  chain pre {\n    type nat hook prerouting priority -100;\n"
            f"    ip daddr {vip} tcp dport {st.SERVER_PORT} dnat to {backend}\n  }}\n}}\n"
        )
        ctx.capture(topo.client, "eth0", name)
        cli = ctx.actor(topo.client, st.connect(vip, PORT, tolerate=True), "client")
        cli.expect("finished", timeout=30)
        ctx.finish(cli, linger=1.5)
    return [
        Expected(
            name,
            "connect() to a load balancer's virtual address whose backend is gone (the "
            "router's DNAT target does not answer ARP)",
            "client",
            {
                "router_nft": f"nat prerouting: ip daddr {vip} tcp dport 8080 dnat to {backend}",
                "router": {"net.ipv4.neigh.rs.retrans_time_ms": 500},
            },
            [
                Conn(
                    {"client_port": PORT},
                    "refused",
                    counts=clean(syn_retransmits=bound(0, None)),
                    cause="icmp_reject",
                    explanation_keywords=[
                        "host unreachable",
                        vip,
                        "load balancer or NAT in front of it",
                        "load balancer",
                    ],
                    note="the SYNs wait in the router's neighbour queue while ARP for the "
                    "backend fails (about 1.5 s); then each gets ICMP host unreachable, its "
                    "source rewritten to the virtual address by conntrack; the first aborts "
                    "connect() (EHOSTUNREACH)",
                )
            ],
            notes="The ICMP errors carry the virtual address the client connected to as their "
            "source: a device answering for it (here the router's DNAT), not the host.",
            capture_format=ETHERNET,
            observed_by_sockets=ctx.socket_events(),
        )
    ]


#: The client port whose SYNs the router rejects (``path_reset_router``).
REJECTED_PORT = 45101


def _reject_one_port_with_reset() -> str:
    return f"""table inet pathrej {{
  chain forward_path {{
    type filter hook forward priority 0;
    tcp dport {st.SERVER_PORT} tcp sport {REJECTED_PORT} tcp flags & (syn | ack) == syn reject with tcp reset
  }}
}}
"""


def _one_rejected_of_three(rst_hops: str) -> list[Conn]:
    """The router-reject scenarios' truth: the middle client port refused by the router's RST
    (``rst_hops``: how its TTL or hop limit reads, 64 against the server's 63), the other two
    closed normally."""
    passed = "the server accepted it: request, answer, the client's close first"
    return [
        Conn({"client_port": REJECTED_PORT - 1}, "closed", "client", counts=clean(), note=passed),
        Conn(
            {"client_port": REJECTED_PORT},
            "refused",
            reset_by="server",
            counts=clean(resets=1),
            note="the router's reject rule answered the SYN with a RST+ACK in the server's "
            f"name ({rst_hops}: one hop closer than the server's 63); connect() failed with "
            "ECONNREFUSED and the server never saw the SYN",
            cause="path_reset",
        ),
        Conn({"client_port": REJECTED_PORT + 1}, "closed", "client", counts=clean(), note=passed),
    ]


def _reject_settings() -> dict[str, object]:
    return {
        "router_nft": f"forward: tcp dport {st.SERVER_PORT} tcp sport {REJECTED_PORT} "
        "tcp flags & (syn | ack) == syn reject with tcp reset",
        "clients": f"{REJECTED_PORT - 1}, {REJECTED_PORT}, {REJECTED_PORT + 1}, one after the other",
    }


def path_reset_router(ctx: Ctx, net: int) -> list[Expected]:
    """A router rejects one client port's SYNs with a RST in the server's name.

    nftables ``reject with tcp reset`` on the router's forward hook answers the SYN from
    45101 itself (nf_send_reset: a RST+ACK from the server's address, built with the
    router's own TTL, 64, IP ID 0); the SYN never goes on toward the server. 45100 and
    45102 pass: the server's SYN+ACKs arrive at the client with 63 (one hop). Captured at the
    client (eth0) and on the router's ``any``: there the server's packets show twice, 64 on
    rs then 63 on rc, the forwarded SYNs twice (64, then 63), and the refused SYN and the
    router's RST once each.
    """
    names = {
        "client": "path-reset-router-reject-at-client.pcap",
        "router_any": "path-reset-router-reject-router-any.pcap",
    }
    with Lab(ctx.tag) as lab:
        topo = make_routed(lab, net)
        topo.router.nft(_reject_one_port_with_reset())
        srv = ctx.server(topo.server, st.echo_server(count=2))
        ctx.capture(topo.client, "eth0", names["client"])
        ctx.capture(topo.router, "any", names["router_any"])
        steps = [
            *st.echo_client(topo.server_ip, REJECTED_PORT - 1, sock="a"),
            *st.connect(topo.server_ip, REJECTED_PORT, sock="b", tolerate=True),
            *st.echo_client(topo.server_ip, REJECTED_PORT + 1, sock="c"),
        ]
        ctx.run_client(topo.client, steps, srv)
    events = ctx.socket_events()
    conns = _one_rejected_of_three("its TTL 64")
    settings = _reject_settings()
    scen = (
        "three connections through a router whose nftables rule rejects the middle one's SYN "
        "with a RST in the server's name"
    )
    return [
        Expected(
            names["client"],
            scen,
            "client",
            settings,
            conns,
            notes="The RST arrives with TTL 64, the server's SYN+ACKs with 63: its sender is one "
            "hop closer than the server.",
            capture_format=ETHERNET,
            observed_by_sockets=events,
            findings=["path_reset"],
        ),
        Expected(
            names["router_any"],
            scen + " - router 'any' (both interfaces, SLL2)",
            "router",
            settings,
            conns,
            notes="Each forwarded packet appears twice (in on one interface, out on the other, one "
            "hop lower). The refused connection's SYN appears once, in on rc, and the router's "
            "own RST once, out on rc with TTL 64: the server's packets leave on rc with 63. The "
            "SYN never went out toward the server: the router answered it itself.",
            capture_format=ANY_SLL2,
            observed_by_sockets=events,
            findings=["path_reset"],
        ),
    ]


#: Client ports whose first SYN the server drops (``syn_retry_forwarded``).
FIRST_SYN_PORTS = (45200, 45201, 45202)


def _drop_first_syn_per_port() -> str:
    first, last = FIRST_SYN_PORTS[0], FIRST_SYN_PORTS[-1]
    return f"""table inet firstsyn {{
  set seen {{ type inet_service; }}
  chain in {{
    type filter hook input priority 0;
    tcp dport {st.SERVER_PORT} tcp sport {first}-{last} tcp flags & (syn | ack) == syn tcp sport != @seen add @seen {{ tcp sport }} drop
  }}
}}
"""


def syn_retry_forwarded(ctx: Ctx, net: int) -> list[Expected]:
    """The server drops each client port's first SYN; the router forwarded every one.

    The server's nftables input hook drops the first SYN from each of three client ports
    (a set remembers the port; its retry passes). The client's SYN timer resends it after
    1 s (TCP_TIMEOUT_INIT) and the handshake completes. Captured on the router's ``any``:
    every SYN is seen coming in on rc (TTL 64) and going out on rs one hop lower (63),
    the dropped ones included: the drop was beyond the router, at the server.
    """
    name = "syn-retry-forwarded-router-any.pcap"
    with Lab(ctx.tag) as lab:
        topo = make_routed(lab, net)
        topo.server.nft(_drop_first_syn_per_port())
        srv = ctx.server(topo.server, st.echo_server(count=len(FIRST_SYN_PORTS)))
        ctx.capture(topo.router, "any", name)
        steps = [
            step
            for k, port in enumerate(FIRST_SYN_PORTS)
            for step in st.echo_client(topo.server_ip, port, sock=f"s{k}")
        ]
        ctx.run_client(topo.client, steps, srv)
    conns = [
        Conn(
            {"client_port": port},
            "closed",
            "client",
            counts=clean(syn_retransmits=1),
            inferred={"syn_forwarded_hops": 1},
            note="first SYN dropped by the server's input hook after the router forwarded it "
            "(seen again one hop lower); the retry 1 s later was answered",
        )
        for port in FIRST_SYN_PORTS
    ]
    return [
        Expected(
            name,
            "three connections through a router whose server drops each one's first SYN; "
            "captured on the router's 'any'",
            "router",
            {
                "server_nft": f"input: the first SYN from each of ports {FIRST_SYN_PORTS[0]}-"
                f"{FIRST_SYN_PORTS[-1]} dropped (a set of ports seen)",
                "clients": ", ".join(str(p) for p in FIRST_SYN_PORTS) + ", one after the other",
            },
            conns,
            notes="Every packet appears twice (in on one interface, out on the other, one hop "
            "lower), the dropped SYNs included: the router forwarded them, the server dropped "
            "them.",
            capture_format=ANY_SLL2,
            observed_by_sockets=ctx.socket_events(),
            findings=["syn_retry_burst"],
        )
    ]


def path_reset_router_v6(ctx: Ctx, net: int) -> list[Expected]:
    """``path_reset_router`` over IPv6: the router's RST carries its own hop limit.

    nftables ``reject with tcp reset`` answers the SYN from 45101 with a RST in the server's
    name (nf_send_reset6: the route's hop limit, 64); the server's SYN+ACKs to 45100 and
    45102 arrive at the client with 63 (one hop). Captured at the client.
    """
    name = "path-reset-router-reject-v6-at-client.pcap"
    with Lab(ctx.tag) as lab:
        topo = make_routed(lab, net, ipv6=True, prefix6=f"fd86:{net}")
        topo.router.nft(_reject_one_port_with_reset())
        assert topo.server_ip6 is not None
        srv = ctx.server(topo.server, st.echo_server(family=6, count=2))
        ctx.capture(topo.client, "eth0", name)
        steps = [
            *st.echo_client(topo.server_ip6, REJECTED_PORT - 1, family=6, sock="a"),
            *st.connect(topo.server_ip6, REJECTED_PORT, sock="b", family=6, tolerate=True),
            *st.echo_client(topo.server_ip6, REJECTED_PORT + 1, family=6, sock="c"),
        ]
        ctx.run_client(topo.client, steps, srv)
    conns = _one_rejected_of_three("hop limit 64")
    return [
        Expected(
            name,
            "three IPv6 connections through a router whose nftables rule rejects the middle "
            "one's SYN with a RST in the server's name",
            "client",
            _reject_settings(),
            conns,
            notes="The RST arrives with hop limit 64, the server's SYN+ACKs with 63: its sender "
            "is one hop closer than the server.",
            capture_format=ETHERNET,
            observed_by_sockets=ctx.socket_events(),
            findings=["path_reset"],
        )
    ]
