"""Established connections whose peer vanishes: keepalive, retransmission and persist timeouts.

"The peer vanishes" = nft in the PEER's namespace drops all its TCP in both directions
(input and output hooks), so nothing from it reaches the wire and nothing reaches it:
the capture at the prober/sender shows unanswered probes, exactly as for a host that
lost power. For the middle-hop variant the router drops instead.
"""

from __future__ import annotations

import time

from tools.samplegen import steps as st
from tools.samplegen.expected import (
    ANY_SLL2,
    ETHERNET,
    Conn,
    Expected,
    Where,
    bound,
    bound_s,
    clean,
)
from tools.samplegen.netns import Lab, isolate_host_script, make_pair, make_routed, vanish_script
from tools.samplegen.scenario import Ctx

PORT = 40001


# --- keepalive ----------------------------------------------------------------------------
def _keepalive_dead(
    ctx: Ctx,
    net: int,
    name: str,
    idle: int,
    intvl: int,
    cnt: int,
    prober: Where,
    *,
    user_timeout_ms: int | None = None,
    wait_s: float | None = None,
) -> list[str]:
    """Exchange once, go idle, the non-prober vanishes 0.5 s later; wait out the keepalive
    (``wait_s``, by default the whole probe train and 10 s more) for the prober's error."""
    ka = st.keepalive_opts(idle, intvl, cnt)
    if user_timeout_ms is not None:
        ka.append(st.opt("TCP_USER_TIMEOUT", user_timeout_ms))
    with Lab(ctx.tag) as lab:
        pair = make_pair(lab, net)
        prober_ns, peer_ns = (
            (pair.client, pair.server) if prober == "client" else (pair.server, pair.client)
        )
        ctx.capture(prober_ns, "eth0", name)
        srv = ctx.server(
            pair.server,
            [
                *st.listen(),
                st.accept(opts=ka if prober == "server" else []),
                st.recv(100, "c"),
                st.send(100, "c"),
                st.wait_error("c"),
            ],
        )
        cli = ctx.actor(
            pair.client,
            [
                *st.connect(pair.server_ip, PORT, opts=ka if prober == "client" else []),
                st.send(100),
                st.recv(100),
                st.signal("idle"),
                st.wait_error(),
            ],
            "client",
        )
        cli.expect("idle")
        time.sleep(0.5)
        peer_ns.nft(isolate_host_script())
        prober_actor = cli if prober == "client" else srv
        prober_actor.expect(
            "wait_error", timeout=idle + intvl * cnt + 10 if wait_s is None else wait_s
        )
        ctx.finish(cli, srv, linger=1.0)
    return ctx.socket_events()


def _keepalive_expected(
    name: str, idle: int, intvl: int, cnt: int, prober: Where, events: list[str]
) -> Expected:
    counts = clean(keepalive_probes=cnt, resets=1)
    probe_times = [idle + i * intvl for i in range(cnt)]
    return Expected(
        name,
        f"{prober}-side keepalive idle {idle} s, interval {intvl} s, count {cnt}; the peer vanishes while idle",
        prober,
        {
            prober: {
                "SO_KEEPALIVE": 1,
                "TCP_KEEPIDLE": idle,
                "TCP_KEEPINTVL": intvl,
                "TCP_KEEPCNT": cnt,
            },
            "peer_nft": "0.5 s after the last exchange: input+output meta l4proto tcp drop (host vanished)",
        },
        [
            Conn(
                {"client_port": PORT},
                "keepalive_timeout",
                reset_by=prober,
                counts=counts,
                inferred={"keepalive": {"idle": idle, "interval": intvl, "count": cnt}},
                note=f"probes (0 B, seq = snd_nxt - 1) at {probe_times} s after the last packet received; at "
                f"{idle + cnt * intvl} s probes_out >= TCP_KEEPCNT and tcp_keepalive_timer() sends RST "
                "(tcp_send_active_reset) and reports ETIMEDOUT",
            )
        ],
        capture_format=ETHERNET,
        observed_by_sockets=events,
    )


def keepalive_client_2_1_3(ctx: Ctx, net: int) -> list[Expected]:
    name = "keepalive-client-idle2-intvl1-cnt3.pcap"
    events = _keepalive_dead(ctx, net, name, 2, 1, 3, "client")
    return [_keepalive_expected(name, 2, 1, 3, "client", events)]


def keepalive_client_3_2_2(ctx: Ctx, net: int) -> list[Expected]:
    name = "keepalive-client-idle3-intvl2-cnt2.pcap"
    events = _keepalive_dead(ctx, net, name, 3, 2, 2, "client")
    return [_keepalive_expected(name, 3, 2, 2, "client", events)]


def keepalive_client_1_1_1(ctx: Ctx, net: int) -> list[Expected]:
    """One probe, then the abort: no gap between probes shows TCP_KEEPINTVL, the probe -> RST
    gap does (tcp_keepalive_timer re-arms by the interval after the probe and, its count
    spent, sends the RST when it fires)."""
    name = "keepalive-client-idle1-intvl1-cnt1.pcap"
    events = _keepalive_dead(ctx, net, name, 1, 1, 1, "client")
    return [_keepalive_expected(name, 1, 1, 1, "client", events)]


def keepalive_server_2_1_2(ctx: Ctx, net: int) -> list[Expected]:
    name = "keepalive-server-idle2-intvl1-cnt2.pcap"
    events = _keepalive_dead(ctx, net, name, 2, 1, 2, "server")
    return [_keepalive_expected(name, 2, 1, 2, "server", events)]


def keepalive_healthy(ctx: Ctx, net: int) -> list[Expected]:
    """Keepalive on, the peer answers every probe, then an orderly close.

    idle 2 s: a probe at 2 s, answered; the answer restarts the idle clock
    (keepalive_time_elapsed() counts from the last received segment), so the next probe is
    at ~4 s; the client closes at 5 s -> exactly 2 probes, 2 keepalive ACKs.
    """
    name = "keepalive-healthy-idle2-answered.pcap"
    ka = st.keepalive_opts(2, 1, 3)
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
                st.recv_eof("c"),
                st.close("c"),
            ],
        )
        cli = ctx.actor(
            pair.client,
            [
                *st.connect(pair.server_ip, PORT, opts=ka),
                st.send(100),
                st.recv(100),
                st.sleep(5.0),
                st.close(),
            ],
            "client",
        )
        cli.expect("finished", timeout=15)
        srv.expect("finished")
        ctx.finish(cli, srv, linger=0.5)
    counts = clean(keepalive_probes=2)
    return [
        Expected(
            name,
            "client keepalive idle 2 s on a healthy connection: probes answered, then orderly close",
            "client",
            {
                "client": {
                    "SO_KEEPALIVE": 1,
                    "TCP_KEEPIDLE": 2,
                    "TCP_KEEPINTVL": 1,
                    "TCP_KEEPCNT": 3,
                }
            },
            [
                Conn(
                    {"client_port": PORT},
                    "closed",
                    closer="client",
                    counts=counts,
                    inferred={"keepalive": {"idle": 2, "interval": None, "count": None}},
                    note="probes at ~2 s and ~4 s after the exchange, each answered by a keepalive ACK (which restarts "
                    "the idle clock, so the interval is never seen); client close() at 5 s. Answered probes are "
                    "not a failure",
                )
            ],
            capture_format=ETHERNET,
        )
    ]


# --- retransmission timeout ---------------------------------------------------------------
RETRIES2_NOTE = (
    "tcp_retries2 is time-based (retransmits_timed_out): the sender gives up at the first RTO firing "
    "after tcp_model_timeout(retries2, 200 ms) = ((2 << retries2) - 1) * 200 ms = 6.2 s for retries2=4, counted "
    "from the first transmission of the head segment. The RTO doubles from the measured one (>= 200 ms; about "
    "0.2-0.45 s here because the RTT estimate includes delayed ACKs), so 3 or 4 RTO retransmissions of the head "
    "segment fit before 6.2 s, and a tail loss probe may add one: bound 3..5. No RST: tcp_write_err() -> "
    "tcp_done() frees the socket silently; send() reports ETIMEDOUT."
)


def _retransmit_dead(
    ctx: Ctx,
    net: int,
    name: str,
    sender_sysctls: dict[str, int],
    sock_opts: list[st.Opt],
    wait_s: float,
) -> list[str]:
    with Lab(ctx.tag) as lab:
        pair = make_pair(lab, net)
        for key, value in sender_sysctls.items():
            pair.client.sysctl(key, value)
        ctx.capture(pair.client, "eth0", name)
        cli, srv = ctx.start_stream(
            pair.client, pair.server, pair.server_ip, PORT, 4000, opts=sock_opts
        )
        pair.server.nft(isolate_host_script())
        cli.expect("send_failed", timeout=wait_s + 10)
        ctx.finish(cli, srv, linger=1.0)
    return ctx.socket_events()


def retransmit_retries2(ctx: Ctx, net: int) -> list[Expected]:
    name = "retransmit-timeout-retries2-4.pcap"
    events = _retransmit_dead(ctx, net, name, {"net.ipv4.tcp_retries2": 4}, [], 7.0)
    counts = clean(retransmits=bound(3, 5))
    return [
        Expected(
            name,
            "client streams 4000 B every 50 ms; the server host vanishes mid-transfer; client tcp_retries2=4",
            "client",
            {
                "client": {"net.ipv4.tcp_retries2": 4},
                "server_nft": "0.6 s into the stream: input+output tcp drop",
            },
            [
                Conn(
                    {"client_port": PORT},
                    "retransmit_timeout",
                    counts=counts,
                    inferred={"give_up_after_s": 6.2},
                    # one RTO episode, never ACKed: the first send -> the capture's last packet
                    # (the silent abort at ~6.2 s is after it, in no capture): at least the
                    # 0.2 + 0.4 + 0.8 + 1.6 s of a backoff from the 200 ms minimum RTO
                    delays={"rto_episodes": 1, "rto_unrecovered": 1, "rto_s": bound_s(3.0, 6.2)},
                    slow=["rto_stall"],
                    note=RETRIES2_NOTE,
                )
            ],
            notes="After the abort the socket is gone silently; the capture ends ~1 s later.",
            capture_format=ETHERNET,
            observed_by_sockets=events,
        )
    ]


def retransmit_user_timeout(ctx: Ctx, net: int) -> list[Expected]:
    name = "retransmit-timeout-user-timeout-3000ms.pcap"
    events = _retransmit_dead(ctx, net, name, {}, [st.opt("TCP_USER_TIMEOUT", 3000)], 4.0)
    counts = clean(retransmits=bound(3, 5))
    return [
        Expected(
            name,
            "client streams; the server host vanishes mid-transfer; client TCP_USER_TIMEOUT=3000 ms",
            "client",
            {
                "client": {
                    "TCP_USER_TIMEOUT": 3000,
                    "net.ipv4.tcp_retries2": "15 (default, overridden)",
                },
                "server_nft": "0.6 s into the stream: input+output tcp drop",
            },
            [
                Conn(
                    {"client_port": PORT},
                    "retransmit_timeout",
                    counts=counts,
                    inferred={"user_timeout_s": 3.0},
                    note="RTO retransmissions doubling from the measured RTO (0.2-0.45 s here); the timer is "
                    "clamped to the time left (tcp_clamp_rto_to_user_timeout), and when 3000 ms have passed "
                    "without an ACK the connection is aborted without sending: 2-4 RTO retransmissions plus a "
                    "possible tail loss probe -> bound 3..5; no RST; send() reports ETIMEDOUT",
                )
            ],
            capture_format=ETHERNET,
            observed_by_sockets=events,
        )
    ]


def retransmit_router(ctx: Ctx, net: int) -> list[Expected]:
    """The middle hop: the router drops everything to/from the server mid-transfer.

    Captured at four points at once: client eth0, router rc (client side), router rs
    (server side), server eth0; plus the router's ``any`` (SLL2), where every forwarded
    packet appears twice (in on rc, out on rs) - a duplicate, not a retransmission.
    """
    names = {
        "client": "retransmit-timeout-router-drop-at-client.pcap",
        "router_rc": "retransmit-timeout-router-drop-at-router-client-side.pcap",
        "router_rs": "retransmit-timeout-router-drop-at-router-server-side.pcap",
        "server": "retransmit-timeout-router-drop-at-server.pcap",
        "router_any": "retransmit-timeout-router-drop-router-any.pcap",
    }
    with Lab(ctx.tag) as lab:
        topo = make_routed(lab, net)
        topo.client.sysctl("net.ipv4.tcp_retries2", 4)
        ctx.capture(topo.client, "eth0", names["client"])
        ctx.capture(topo.router, "rc", names["router_rc"])
        ctx.capture(topo.router, "rs", names["router_rs"])
        ctx.capture(topo.server, "eth0", names["server"])
        ctx.capture(topo.router, "any", names["router_any"])
        cli, srv = ctx.start_stream(topo.client, topo.server, topo.server_ip, PORT, 4000)
        topo.router.nft(vanish_script(topo.server_ip))
        cli.expect("send_failed", timeout=20)
        ctx.finish(cli, srv, linger=1.0)
    events = ctx.socket_events()
    counts = clean(retransmits=bound(3, 5))
    settings = {
        "client": {"net.ipv4.tcp_retries2": 4},
        "router_nft": "0.6 s into the stream: forward ip saddr/daddr <server> drop",
    }
    dying = Conn(
        {"client_port": PORT},
        "retransmit_timeout",
        counts=counts,
        inferred={"give_up_after_s": 6.2},
        note=RETRIES2_NOTE,
    )
    server_side = Conn(
        {"client_port": PORT},
        "open",
        counts=clean(),
        note="beyond the drop the stream simply stops: the server saw every segment it got "
        "acknowledged, no retransmission and no close reach it -> still open from here",
    )
    scen = "client streams to a server behind a router; the router drops all server traffic mid-transfer (retries2=4)"
    return [
        Expected(
            names["client"],
            scen,
            "client",
            settings,
            [dying],
            capture_format=ETHERNET,
            observed_by_sockets=events,
        ),
        Expected(
            names["router_rc"],
            scen + " - router interface facing the client",
            "router",
            settings,
            [dying],
            notes="Ingress capture sees the client's retransmissions before the forward-hook drop.",
            capture_format=ETHERNET,
            observed_by_sockets=events,
        ),
        Expected(
            names["router_rs"],
            scen + " - router interface facing the server",
            "router",
            settings,
            [server_side],
            notes="Nothing passes the router after the drop.",
            capture_format=ETHERNET,
        ),
        Expected(
            names["server"],
            scen + " - at the server",
            "server",
            settings,
            [server_side],
            capture_format=ETHERNET,
        ),
        Expected(
            names["router_any"],
            scen + " - router 'any' (both interfaces, SLL2)",
            "router",
            settings,
            [dying],
            notes="Until the drop every packet appears twice (received on rc, sent on rs or the reverse), same "
            "IP ID and seq, microseconds apart: duplicates, not retransmissions. After the drop the "
            "client's retransmissions appear once (only on rc).",
            capture_format=ANY_SLL2,
            observed_by_sockets=events,
        ),
    ]


# --- zero window / persist -------------------------------------------------------------------
def _zero_window(ctx: Ctx, net: int, name: str, *, recover: bool) -> list[str]:
    """The receiver (server) has SO_RCVBUF 4096 and stops reading; the client fills the window."""
    with Lab(ctx.tag) as lab:
        pair = make_pair(lab, net)
        if not recover:
            pair.client.sysctl("net.ipv4.tcp_retries2", 3)
        cap = ctx.capture(pair.client, "eth0", name)
        rcv = [st.opt("SO_RCVBUF", 4096)]
        server = [
            *st.listen(opts=rcv),
            st.accept(),
            st.wait("read"),
            st.recv_eof("c"),
            st.close("c"),
        ]
        srv = ctx.server(pair.server, server)
        client = [
            *st.connect(pair.server_ip, PORT, opts=[st.opt("SO_SNDBUF", 16384)]),
            {"op": "send_until_blocked", "sock": "s", "settle": 0.05},
            {"op": "wait_zero_window", "sock": "s"},
        ]
        if recover:
            client += [st.wait("finish"), st.close()]
        else:
            client += [st.wait_error()]
        cli = ctx.actor(pair.client, client, "client")
        # The receiver's window may first shrink to less than an MSS (it never shrinks an offered
        # window); the sender fills it and the next ACK carries window 0: only then go on.
        cli.expect("zero_window", timeout=5)
        if recover:
            time.sleep(2.5)
            srv.tell("read")
            time.sleep(0.5)
            cli.tell("finish")
            srv.expect("finished", timeout=10)
            cap.stop(linger=0.5)
        else:
            pair.server.nft(isolate_host_script())
            cli.expect("wait_error", timeout=15)
            cap.stop(linger=1.0)
        cli.stop()
        srv.stop()
    return ctx.socket_events()


ZERO_WINDOW_NOTES = (
    "While the tiny receive buffer fills, the receiver's ACKs are slow enough for the sender's tail loss probe to "
    "fire: a spurious retransmission (answered with D-SACK) may appear before the zero window, hence "
    "retransmits 0..2. Wireshark labels the Linux 0-byte zero-window probes 'TCP keep-alive'."
)


def zero_window_recovers(ctx: Ctx, net: int) -> list[Expected]:
    name = "zero-window-recovers.pcap"
    events = _zero_window(ctx, net, name, recover=True)
    counts = clean(zero_window_probes=bound(2, 5), retransmits=bound(0, 2))
    return [
        Expected(
            name,
            "receiver (SO_RCVBUF 4096) stops reading; the window goes to 0; it resumes reading ~2.5 s later; "
            "orderly close",
            "client",
            {
                "server": {
                    "SO_RCVBUF": 4096,
                    "reads": "none until ~2.5 s after the window closed, then everything",
                },
                "client": {"SO_SNDBUF": 16384},
            },
            [
                Conn(
                    {"client_port": PORT},
                    "closed",
                    closer="client",
                    counts=counts,
                    # the window stays closed from its 0 advertisement until the read ~2.5 s later
                    delays={"zero_window_s": 2.5},
                    slow=["zero_window_stall"],
                    note="zero-window probes (0 B, seq = snd_una - 1) at ~0.2, 0.6, 1.4 s after the window closed "
                    "(probe0 backoff), each answered with window 0 (icsk_probes_out reset by every ACK, so no "
                    "abort); at ~2.5 s the server reads, a window update reopens the flow, the rest is sent and "
                    "the client close()s. 3 probes expected; bound 2..5 for timer slack. A probe may stay "
                    "unanswered although the receiver is alive: its reply is a duplicate ACK to an out-of-window "
                    "segment, rate limited to one per tcp_invalid_ratelimit (500 ms)",
                )
            ],
            notes=ZERO_WINDOW_NOTES,
            capture_format=ETHERNET,
            observed_by_sockets=events,
        )
    ]


def persist_timeout(ctx: Ctx, net: int) -> list[Expected]:
    name = "persist-timeout-retries2-3.pcap"
    events = _zero_window(ctx, net, name, recover=False)
    counts = clean(zero_window_probes=3, retransmits=bound(0, 2))
    return [
        Expected(
            name,
            "receiver stops reading (window 0), then its host vanishes before the first zero-window probe; "
            "sender tcp_retries2=3",
            "client",
            {
                "server": {"SO_RCVBUF": 4096, "reads": "never"},
                "client": {"SO_SNDBUF": 16384, "net.ipv4.tcp_retries2": 3},
                "server_nft": "as soon as the sender's TCP_INFO shows snd_wnd 0 with nothing in flight: input+output "
                "tcp drop",
            },
            [
                Conn(
                    {"client_port": PORT},
                    "persist_timeout",
                    counts=counts,
                    slow=["zero_window_stall"],
                    note="tcp_probe_timer(): 0-byte probes (seq = snd_una - 1) with probe0 backoff doubling from the "
                    "RTO (>= 200 ms); none answered, so icsk_probes_out reaches 3 = tcp_retries2 and the next "
                    "firing aborts via tcp_write_err(): exactly 3 probes, no RST. Before the window reached 0 "
                    "the receiver had offered a window smaller than an MSS (it never shrinks an offered window); "
                    "the sender filled it with a short data segment: that is data, not a zero-window probe",
                )
            ],
            notes=ZERO_WINDOW_NOTES,
            capture_format=ETHERNET,
            observed_by_sockets=events,
        )
    ]


def keepalive_user_timeout(ctx: Ctx, net: int) -> list[Expected]:
    """Keepalive idle 2, interval 1, count 9, but TCP_USER_TIMEOUT 4500 ms decides.

    tcp_keepalive_timer(): with a user timeout the count is ignored; the connection is
    reset at the first firing where (time since the last received segment) >= user timeout
    and at least one probe is out: probes at 2, 3, 4 s, RST at 5 s.
    """
    name = "keepalive-client-idle2-intvl1-cnt9-user-timeout-4500ms.pcap"
    events = _keepalive_dead(ctx, net, name, 2, 1, 9, "client", user_timeout_ms=4500, wait_s=15)
    counts = clean(keepalive_probes=3, resets=1)
    return [
        Expected(
            name,
            "client keepalive idle 2 / interval 1 / count 9 with TCP_USER_TIMEOUT 4500 ms; the peer vanishes",
            "client",
            {
                "client": {
                    "SO_KEEPALIVE": 1,
                    "TCP_KEEPIDLE": 2,
                    "TCP_KEEPINTVL": 1,
                    "TCP_KEEPCNT": 9,
                    "TCP_USER_TIMEOUT": 4500,
                },
                "peer_nft": "0.5 s after the exchange: input+output tcp drop",
            },
            [
                Conn(
                    {"client_port": PORT},
                    "keepalive_timeout",
                    reset_by="client",
                    counts=counts,
                    inferred={"keepalive": {"idle": 2, "interval": 1, "count": 3}},
                    # the wire cannot tell TCP_KEEPCNT 3 from a user timeout in (4, 5] s: no
                    # cause may be claimed, both settings must be named
                    explanation_keywords=["TCP_KEEPCNT = 3", "TCP_USER_TIMEOUT between 4", "5"],
                    note="probes at 2, 3, 4 s; at 5 s the user timeout (4.5 s since the last received segment, one "
                    "probe out) fires and the client sends RST. The wire shows count 3; the configured "
                    "TCP_KEEPCNT 9 is invisible because TCP_USER_TIMEOUT overrode it",
                )
            ],
            capture_format=ETHERNET,
            observed_by_sockets=events,
        )
    ]
