"""Slow bulk transfers, each slow for one known reason: what paced the largest sender.

Every scenario moves 1 MiB in one connection (a 100 B request then a 1 MiB answer, or a
1 MiB upload then a 100 B answer) and is slow for ONE cause it built: a narrow link with a
queue in front of it (tbf on a router), a small locked receive buffer on a 30 ms path, an
application that writes 32 KiB every 20 ms, slow start on a 90 ms path, random loss; and,
on tun paths through a router: BBR through a narrow link with a deep queue, an application
that writes 8 KiB every 10 ms on a 40 ms path, a policer (a tbf with room for one frame).
The expected ``transfer_*`` delays follow from that build and the kernel rule that turns it
into packets (each note names it); nothing is read back from a capture.

Kernel rules shared by all of them:

- The sending socket uses CUBIC (``TCP_CONGESTION``, set by root per socket: a namespace may
  only default to the allowed list, reno and bbr on this host), but for the BBR scenario.
  CUBIC starts with 10 segments (TCP_INIT_CWND), grows by one segment per segment ACKed in
  slow start (tcp_slow_start: it doubles per round trip) and does not pace (no fq qdisc):
  the pacing there is the path's, the receiver's, the application's or the loss
  recovery's, never the congestion control's own.
- Offloads are off on the veths (netns.py ``_link_quiet``) and on the routed tun links:
  every data segment is one MSS, 1448 B with timestamps, 725 segments per MiB (724 full +
  one of 224 B).
- tcpdump ``-s 96`` on Ethernet, ``-s 80`` on the routed tun links (raw IP: the same headers
  with up to three SACK blocks, fewer payload bytes), so the files stay small.
"""

from __future__ import annotations

from typing import Any

from tools.samplegen import steps as st
from tools.samplegen.expected import TUN_HEADERS, Conn, Expected, bound, bound_s, clean
from tools.samplegen.netns import Lab, Namespace, make_pair, make_routed
from tools.samplegen.scenario import Ctx

#: What every scenario moves: the bulk side's new payload, and the other side's message.
BULK = 1 << 20
REQUEST = 100
SNAPLEN = 96
MSS = 1448
#: 725 segments: 724 of MSS and one of 224 B.
SEGMENTS = -(-BULK // MSS)
CUBIC = st.opt("TCP_CONGESTION", "cubic")
BBR = st.opt("TCP_CONGESTION", "bbr")

ETH_HEADERS: dict[str, Any] = {
    "format": "pcap",
    "link_type": "EN10MB",
    "tool": f"tcpdump -i eth0 -s {SNAPLEN}",
    "snaplen": SNAPLEN,
}


def _download(
    server_ip: str, port: int, sending: list[st.Step], congestion: st.Opt = CUBIC
) -> tuple[list[st.Step], list[st.Step]]:
    """The server reads a 100 B request and sends 1 MiB (``sending``: the writes) with
    ``congestion`` (its TCP_CONGESTION); the client reads it all and closes first; the server
    closes at EOF."""
    server = [
        *st.listen(),
        st.accept("c", opts=[congestion]),
        st.recv(REQUEST, "c"),
        *sending,
        st.recv_eof("c"),
        st.close("c"),
    ]
    client = [
        *st.connect(server_ip, port),
        st.send(REQUEST),
        st.recv(BULK),
        st.close(),
        st.signal("done"),
    ]
    return server, client


def _run(
    ctx: Ctx,
    server_ns: Namespace,
    client_ns: Namespace,
    server: list[st.Step],
    client: list[st.Step],
) -> None:
    srv = ctx.server(server_ns, server)
    ctx.run_client(client_ns, client, srv, timeout=60, until="done")
    ctx.cleanup()


def _rate_bps(seconds: float) -> int:
    """The rate of the whole bulk moved in ``seconds``."""
    return int(BULK * 8 / seconds)


#: The bottleneck: the router's link toward the client (the receiver). tbf's queue holds
#: rate x latency + burst = 166 kB, 150 ms at 8 Mbit/s.
BOTTLENECK_RATE_BPS = 8_000_000
BOTTLENECK_BURST_B = 16 * 1024
BOTTLENECK_TC = ("tbf", "rate", "8mbit", "burst", "16kb", "latency", "150ms")
#: A full segment on the wire tbf measures (veth: Ethernet header, no FCS) and the last one.
WIRE_FULL_B, WIRE_LAST_B = MSS + 66, BULK - (SEGMENTS - 1) * MSS + 66


def bottleneck(ctx: Ctx, net: int) -> list[Expected]:
    """A 1 MiB download through a router whose link toward the client is 8 Mbit/s (tbf, a
    150 ms queue), captured at the server (the sender) and at the client (the receiver).

    Kernel rules: tbf sends at most ``rate`` bytes of frames (1514 B per full segment) after
    its first ``burst``; CUBIC's window grows past the path's tiny veth round trip at once, so
    the link is never idle and the rest of the window waits in tbf's queue: the sender's data
    round trip is the queue's delay (tens of ms), its handshake round trip the veths' (tens of
    microseconds). CUBIC leaves slow start by HyStart's delay test (the round trip grows by
    more than 4 ms, once the window holds 16 segments) and then grows by about a segment per
    round trip: in the second it takes the window never passes the ~110 segments tbf's queue
    holds, so nothing is dropped. The receiver's window (autotuned, hundreds of kB) never
    binds; the server's application writes the whole MiB at once (never idle).
    """
    names = (
        "slow-transfer-bottleneck-at-server.pcap",
        "slow-transfer-bottleneck-at-client.pcap",
    )
    port = 45001
    server, client = _download(f"10.{net}.2.1", port, [st.send(BULK, "c")])
    with Lab(ctx.tag) as lab:
        topo = make_routed(lab, net)
        topo.router.run(["tc", "qdisc", "add", "dev", "rc", "root", *BOTTLENECK_TC])
        ctx.capture(topo.server, "eth0", names[0], "-s", str(SNAPLEN))
        ctx.capture(topo.client, "eth0", names[1], "-s", str(SNAPLEN))
        _run(ctx, topo.server, topo.client, server, client)
    # The fastest tbf allows: every frame of the bulk at the rate, less the first burst.
    wire_b = (SEGMENTS - 1) * WIRE_FULL_B + WIRE_LAST_B
    fastest_s = (wire_b - BOTTLENECK_BURST_B) * 8 / BOTTLENECK_RATE_BPS
    slowest_s = 1.3  # 15 % for the start (handshake of the window) and the last ACK's delay
    settings = {
        "router_tc": "rc (toward the client): " + " ".join(BOTTLENECK_TC),
        "server": f"reads {REQUEST} B, writes {BULK} B at once (TCP_CONGESTION cubic), "
        "closes at EOF",
        "client": f"sends {REQUEST} B, reads {BULK} B, close()",
    }
    out = []
    for name, at in zip(names, ("server", "client"), strict=True):
        at_sender = at == "server"
        delays: dict[str, Any] = {
            "transfer_side": "server",
            "transfer_bytes": BULK,
            "transfer_s": bound_s(round(fastest_s * 0.97, 3), slowest_s),
            "transfer_rate_bps": bound(_rate_bps(slowest_s), BOTTLENECK_RATE_BPS),
            "transfer_network_s": bound_s(0.9, None),
            "transfer_receive_window_s": 0.0,
            "transfer_loss_s": 0.0,
            "transfer_sender_s": 0.0 if at_sender else None,
            "transfer_rtt_min_ms": bound_s(0.0, 2.0),
            "transfer_rtt_loaded_ms": None,
            "transfer_queue_ms": bound_s(10.0, 170.0),
            "transfer_paced_by": "bottleneck",
            "rto_episodes": 0,
        }
        where = (
            "At the sender: each data segment's ACK comes back after the tbf queue's delay, "
            "the handshake's loop to the client is the veths' (microseconds): the queue is "
            "that growth. On veths the handshake's two halves are alike (each host's own "
            "handling outweighs the wire), so the capture point is not placed by them and the "
            "loaded round trip is not named one (null); the server's TCP timestamps show its "
            "one-way delay to the capture point flat (the capture is on its host), so its "
            "idle time is measured (0)"
            if at_sender
            else "At the receiver: each segment is ACKed within microseconds of arriving; the "
            "server's TCP timestamps (1 kHz) show its one-way delay to the capture point "
            "growing by the queue's delay, so the queue is seen there, and the server's idle "
            "time cannot be told from the queue (null)"
        )
        out.append(
            Expected(
                name,
                f"a {BULK} B download through an 8 Mbit/s link with a 150 ms queue (tbf on the "
                f"router, toward the client); captured at the {at}",
                at,
                settings,
                [
                    Conn(
                        {"client_port": port},
                        "closed",
                        closer="client",
                        counts=clean(),
                        delays=delays,
                        note=f"rate: tbf passes at most {BOTTLENECK_RATE_BPS // 1_000_000} Mbit/s "
                        f"of frames (1514 B carry 1448 B of payload) after a {BOTTLENECK_BURST_B} B "
                        f"burst: the bulk's {wire_b} B of frames take >= {fastest_s:.3f} s "
                        f"(payload rate <= {_rate_bps(fastest_s)} b/s; the bound's ceiling is the "
                        f"tbf rate itself); the floor allows {slowest_s} s for the start and the "
                        "last ACK. The link is never idle and never drops (CUBIC's window stays "
                        "under tbf's 110-segment queue), the receiver's window never binds and "
                        "the application writes everything at once: the network part is the "
                        "transfer (>= 0.9 s), the others zero. Loaded round trip: CUBIC's window "
                        "past HyStart's 16 segments keeps >= 16 frames queued (>= 24 ms at 8 "
                        "Mbit/s), at most tbf's 150 ms latency + the burst. " + where,
                    )
                ],
                notes="The router's tbf is the only slow thing on the path: veths, no delay. "
                "The first ACK covering the last byte ends the transfer; it crosses no queue "
                "(tbf is only on the link toward the client).",
                capture_format=ETH_HEADERS,
                observed_by_sockets=ctx.socket_events(),
            )
        )
    return out


#: The receive window: the server's buffer (the kernel doubles it: 32 KiB), and the path.
WINDOW_RCVBUF = 16384
WINDOW_ONE_WAY_S = 0.015
#: The share of the minimal transfer time the sender must wait on the full window (floor).
WINDOW_FULL_SHARE = 0.8


def receive_window(ctx: Ctx, net: int) -> list[Expected]:
    """A 1 MiB upload to a server whose receive buffer is 16 KiB, locked, over a 30 ms path;
    the server reads as fast as it can. Captured at the client (the sender), on tun0.

    Kernel rules: SO_RCVBUF set on the listener is inherited by the accepted socket, doubled
    (sk_rcvbuf = 32 KiB) and locked (SOCK_RCVBUF_LOCK: no autotuning), so the window the
    server advertises never exceeds 32 KiB (in practice about half: tcp_win_from_space keeps
    the rest for overhead). The path's round trip is 30 ms (the tun relay holds each packet 15
    ms each way), so the client sends a window, waits a round trip for the ACKs, each of
    which opens room for the segments it acknowledges, which leave at once: the sender is
    on a full window all the time except the microseconds it takes to send. CUBIC's window
    grows past the receiver's within a few round trips and no loss makes it shrink.
    """
    from tools.samplegen.scenarios.linktypes import tun_pair

    name = "slow-transfer-receive-window.pcap"
    port = 45002
    server = [
        *st.listen(opts=[st.opt("SO_RCVBUF", WINDOW_RCVBUF)]),
        st.accept("c"),
        st.recv(BULK, "c"),
        st.send(REQUEST, "c"),
        st.recv_eof("c"),
        st.close("c"),
    ]
    client = [
        *st.connect(f"192.168.{net}.2", port, opts=[CUBIC]),
        st.send(BULK),
        st.recv(REQUEST),
        st.close(),
        st.signal("done"),
    ]
    with Lab(ctx.tag) as lab:
        c, s = tun_pair(ctx, lab, net, delay_s=WINDOW_ONE_WAY_S)
        ctx.capture(c, "tun0", name, "-s", str(SNAPLEN))
        _run(ctx, s, c, server, client)
    rtt_s = 2 * WINDOW_ONE_WAY_S
    rtt_ms = rtt_s * 1000
    buffer_b = 2 * WINDOW_RCVBUF
    fastest_s = BULK / buffer_b * rtt_s  # a whole doubled buffer per round trip
    slowest_s = BULK / (buffer_b / 4) * rtt_s  # a quarter of it
    full_min_s = round(fastest_s * WINDOW_FULL_SHARE, 3)
    return [
        Expected(
            name,
            f"a client uploads {BULK} B over a {rtt_ms:.0f} ms round trip to a server whose "
            f"receive buffer is SO_RCVBUF {WINDOW_RCVBUF} (locked), read as fast as it "
            "can; the server answers 100 B; captured at the client (the sender)",
            "client",
            {
                "link": f"tun, {WINDOW_ONE_WAY_S * 1000:.0f} ms one-way delay in the forwarder",
                "server": {
                    "SO_RCVBUF": WINDOW_RCVBUF,
                    "reads": f"recv until {BULK} B, then sends {REQUEST} B, closes at EOF",
                },
                "client": f"TCP_CONGESTION cubic; sends {BULK} B at once, reads {REQUEST} B, "
                "close()",
            },
            [
                Conn(
                    {"client_port": port},
                    "closed",
                    closer="client",
                    counts=clean(),
                    delays={
                        "transfer_side": "client",
                        "transfer_bytes": BULK,
                        "transfer_s": bound_s(round(fastest_s, 3), round(slowest_s, 3)),
                        "transfer_rate_bps": bound(_rate_bps(slowest_s), _rate_bps(fastest_s)),
                        "transfer_receive_window_s": bound_s(full_min_s, None),
                        "transfer_loss_s": 0.0,
                        "transfer_sender_s": 0.0,
                        "transfer_rtt_min_ms": bound_s(rtt_ms * 0.95, rtt_ms + 10),
                        "transfer_rtt_loaded_ms": bound_s(rtt_ms * 0.95, rtt_ms + 15),
                        "transfer_paced_by": "receive_window",
                        "zero_window_s": 0.0,
                        "window_full_s": bound_s(full_min_s, None),
                        "rto_episodes": 0,
                    },
                    slow=["window_full_stall"],
                    note=f"the window never exceeds the doubled buffer ({buffer_b} B: "
                    f"SO_RCVBUF x 2, locked), so at most {buffer_b} B cross per {rtt_ms:.0f} ms "
                    f"round trip: >= {fastest_s:.2f} s, rate <= {_rate_bps(fastest_s)} b/s; the "
                    f"floor allows a window of a quarter of it (tcp_win_from_space keeps part "
                    f"for overhead; the reader never falls behind, so the window never "
                    f"shrinks below that nor closes). Between ACKs the sender waits on a full "
                    f"window: receive_window_s (and window_full_s, the same waits) >= "
                    f"{WINDOW_FULL_SHARE:g} of the shortest possible transfer ({full_min_s} s), a floor not a share of the measured "
                    "one: a wait the capture cannot show as full (an ACK opening less than a "
                    "segment) is left to the network part. No loss; the application wrote "
                    "the MiB at once. Both round trips are the path's (no queue: the relay "
                    "holds every packet the same 15 ms each way)",
                )
            ],
            notes="The server's 100 B answer is ACKed by the client within microseconds: no "
            "round trip (the round trips are the handshake's and the upload's data).",
            capture_format=TUN_HEADERS,
            observed_by_sockets=ctx.socket_events(),
        )
    ]


#: The application's pacing: one write every PACED_EVERY_S until the MiB is written.
PACED_WRITE = 32 * 1024
PACED_EVERY_S = 0.02
PACED_WRITES = BULK // PACED_WRITE
#: The share of the sleeps the sender must be seen idle for (floor): on a veth a 32 KiB
#: write is sent and ACKed within a millisecond or two of the 20 ms.
PACED_IDLE_SHARE = 0.8


def sender_limited(ctx: Ctx, net: int) -> list[Expected]:
    """A 1 MiB download the server's application writes 32 KiB at a time, 20 ms apart, over
    a veth (round trip: tens of microseconds). Captured at the server (the sender).

    Kernel rules: each write is sent at once (the window, 10 segments at first, grows in the
    first microsecond round trips past the 23 segments of a write; CUBIC does not pace) and
    ACKed within microseconds; the sender then has nothing to send until the next write:
    all acknowledged, the window open. The idle gaps (< 20 ms) are far below the RTO (200 ms
    minimum), so tcp_slow_start_after_idle never restarts the window.
    """
    name = "slow-transfer-sender-limited.pcap"
    port = 45003
    writes: list[st.Step] = []
    for k in range(PACED_WRITES):
        writes.append(st.send(PACED_WRITE, "c"))
        if k < PACED_WRITES - 1:
            writes.append(st.sleep(PACED_EVERY_S))
    server, client = _download(f"10.{net}.0.2", port, writes)
    with Lab(ctx.tag) as lab:
        pair = make_pair(lab, net)
        ctx.capture(pair.server, "eth0", name, "-s", str(SNAPLEN))
        _run(ctx, pair.server, pair.client, server, client)
    sleeps_s = (PACED_WRITES - 1) * PACED_EVERY_S
    slowest_s = 1.05  # each sleep overrunning by up to 2/3 on a loaded machine
    idle_min_s = round(sleeps_s * PACED_IDLE_SHARE, 3)
    return [
        Expected(
            name,
            f"the server writes {PACED_WRITE} B every {PACED_EVERY_S * 1000:g} ms until "
            f"{BULK} B, over a veth; captured at the server (the sender)",
            "server",
            {
                "server": f"reads {REQUEST} B, then {PACED_WRITES} x (send {PACED_WRITE} B, "
                f"sleep {PACED_EVERY_S} s) (TCP_CONGESTION cubic), closes at EOF",
                "client": f"sends {REQUEST} B, reads {BULK} B, close()",
            },
            [
                Conn(
                    {"client_port": port},
                    "closed",
                    closer="client",
                    counts=clean(),
                    delays={
                        "transfer_side": "server",
                        "transfer_bytes": BULK,
                        "transfer_s": bound_s(sleeps_s, slowest_s),
                        "transfer_rate_bps": bound(_rate_bps(slowest_s), _rate_bps(sleeps_s)),
                        "transfer_sender_s": bound_s(idle_min_s, None),
                        "transfer_receive_window_s": 0.0,
                        "transfer_loss_s": 0.0,
                        "transfer_rtt_min_ms": bound_s(0.0, 2.0),
                        "transfer_rtt_loaded_ms": None,  # veths: not placed by the handshake
                        "transfer_queue_ms": bound_s(0.0, 2.0),
                        "transfer_paced_by": "sender",
                        "rto_episodes": 0,
                    },
                    note=f"{PACED_WRITES - 1} sleeps of {PACED_EVERY_S} s lie between the first "
                    f"write and the last: >= {sleeps_s:.2f} s, rate <= {_rate_bps(sleeps_s)} "
                    f"b/s; the ceiling {slowest_s} s allows the sleeps to overrun. Each "
                    "write is sent and ACKed within a millisecond or two on the veth, then "
                    f"nothing is in flight until the next: sender_s >= {PACED_IDLE_SHARE:g} of "
                    f"the sleeps ({idle_min_s} s). The receiver's window (autotuned) never "
                    "binds, nothing is lost",
                )
            ],
            capture_format=ETH_HEADERS,
            observed_by_sockets=ctx.socket_events(),
        )
    ]


#: The long path: the tun relay's one-way delay.
LONG_ONE_WAY_S = 0.045
LONG_IW = 10


def _slow_start_rounds(segments: int, iw: int) -> int:
    """Round trips of slow start from ``iw`` segments, doubling, until ``segments`` are sent."""
    rounds, sent, window = 0, 0, iw
    while sent < segments:
        sent += window
        window *= 2
        rounds += 1
    return rounds


def long_path(ctx: Ctx, net: int) -> list[Expected]:
    """A 1 MiB download over a 90 ms round trip, default buffers, no loss. Captured at the
    server (the sender), on tun0.

    Kernel rules: slow start from an initial window of 10 segments (TCP_INIT_CWND), one
    more segment per segment ACKed (tcp_slow_start, with byte-counted ACKs: a delayed ACK of
    two segments adds two): the window doubles each round trip, 10, 20, 40, ... segments, so
    the 725 segments need 7 rounds (10 + 20 + ... + 640 = 1270 >= 725 > 630). The last round
    leaves 6 round trips after the first segment and its ACK comes one round trip later:
    >= 7 round trips. The receiver's window (tcp_rmem 131072 at first, grown by
    tcp_grow_window by two segments per segment received, then by autotuning) stays ahead
    of the congestion window; the relay holds each packet 45 ms without queueing it (it reads
    the tun as fast as packets come), so the round trip under load is the path's.
    """
    from tools.samplegen.scenarios.linktypes import tun_pair

    name = "slow-transfer-long-path.pcap"
    port = 45004
    server, client = _download(f"192.168.{net}.2", port, [st.send(BULK, "c")])
    with Lab(ctx.tag) as lab:
        c, s = tun_pair(ctx, lab, net, delay_s=LONG_ONE_WAY_S)
        ctx.capture(s, "tun0", name, "-s", str(SNAPLEN))
        _run(ctx, s, c, server, client)
    rtt_s = 2 * LONG_ONE_WAY_S
    rtt_ms = rtt_s * 1000
    rounds = _slow_start_rounds(SEGMENTS, LONG_IW)
    fastest_s = (rounds - 0.1) * rtt_s
    slowest_rounds = 12  # HyStart leaving slow start early, delayed ACKs slowing the growth
    slowest_s = slowest_rounds * rtt_s
    return [
        Expected(
            name,
            f"a {BULK} B download over a {rtt_ms:.0f} ms round trip (tun relay), default "
            "buffers, no loss; captured at the server (the sender)",
            "server",
            {
                "link": f"tun, {LONG_ONE_WAY_S * 1000:.0f} ms one-way delay in the forwarder",
                "server": f"reads {REQUEST} B, writes {BULK} B at once (TCP_CONGESTION cubic), "
                "closes at EOF",
                "client": f"sends {REQUEST} B, reads {BULK} B, close() (default tcp_rmem)",
            },
            [
                Conn(
                    {"client_port": port},
                    "closed",
                    closer="client",
                    counts=clean(),
                    delays={
                        "transfer_side": "server",
                        "transfer_bytes": BULK,
                        "transfer_s": bound_s(round(fastest_s, 3), round(slowest_s, 3)),
                        "transfer_rate_bps": bound(_rate_bps(slowest_s), _rate_bps(fastest_s)),
                        "transfer_network_s": bound_s(round(fastest_s * 0.8, 3), None),
                        "transfer_receive_window_s": 0.0,
                        "transfer_loss_s": 0.0,
                        "transfer_sender_s": 0.0,
                        "transfer_rtt_min_ms": bound_s(rtt_ms * 0.98, rtt_ms + 10),
                        "transfer_rtt_loaded_ms": bound_s(rtt_ms * 0.98, rtt_ms + 30),
                        "transfer_paced_by": "round_trip",
                        "rto_episodes": 0,
                    },
                    note=f"slow start from {LONG_IW} segments doubling per round trip needs "
                    f"{rounds} rounds for {SEGMENTS} segments: >= {rounds} round trips of "
                    f"{rtt_ms:.0f} ms (the bound: {rounds - 0.1:g}, {fastest_s:.3f} s, rate <= "
                    f"{_rate_bps(fastest_s)} b/s); the floor allows {slowest_rounds} round "
                    "trips (HyStart may leave slow start early). The whole transfer is the "
                    "congestion window's growth (network part >= 0.8 of the shortest); the "
                    "receiver's window stays ahead, nothing is lost, the application wrote "
                    "everything at once. No queue: the loaded round trip is the path's, "
                    "under twice the minimum: 'round_trip'",
                )
            ],
            capture_format=TUN_HEADERS,
            observed_by_sockets=ctx.socket_events(),
        )
    ]


#: The lossy path: a short round trip, and the share of the server's data the client drops.
LOSS_ONE_WAY_S = 0.0075
LOSS_PERCENT = 3


def loss(ctx: Ctx, net: int) -> list[Expected]:
    """A 1 MiB download over a 15 ms round trip whose receiver drops 3 % of the data at
    random. Captured at the server (the sender), on tun0: the capture sees every segment
    leave, the drop is after it (the client's nft input rule, ``numgen random``).

    Kernel rules: the client's SACKs name the holes; the sender resends them in fast
    recovery (RFC 6675 / RACK-TLP, tcp_fastretrans_alert), each episode lasting at least a
    round trip (the resent segment's); a resend dropped again, or the tail of the transfer
    lost, waits for a probe or the RTO. CUBIC cuts its window to 0.7 after each episode and
    grows it back over the round trips that follow: the time after a loss is paced by the
    congestion window, not by the recovery, so which part is the largest is not pinned.
    """
    from tools.samplegen.scenarios.linktypes import tun_pair

    name = "slow-transfer-loss.pcap"
    port = 45005
    drop = (
        "table inet lossy {\n  chain in {\n    type filter hook input priority 0;\n"
        f'    iifname "tun0" tcp sport {st.SERVER_PORT} ip length > 100 '
        f"numgen random mod 100 < {LOSS_PERCENT} drop\n  }}\n}}\n"
    )
    server, client = _download(f"192.168.{net}.2", port, [st.send(BULK, "c")])
    with Lab(ctx.tag) as lab:
        c, s = tun_pair(ctx, lab, net, delay_s=LOSS_ONE_WAY_S)
        c.nft(drop)
        ctx.capture(s, "tun0", name, "-s", str(SNAPLEN))
        _run(ctx, s, c, server, client)
    rtt_s = 2 * LOSS_ONE_WAY_S
    rtt_ms = rtt_s * 1000
    return [
        Expected(
            name,
            f"a {BULK} B download over a {rtt_ms:g} ms round trip; the client drops "
            f"{LOSS_PERCENT} % of the server's data at random; captured at the server (the "
            "sender)",
            "server",
            {
                "link": f"tun, {LOSS_ONE_WAY_S * 1000:g} ms one-way delay in the forwarder",
                "client_nft": f'input: iifname "tun0" tcp sport {st.SERVER_PORT} ip length > '
                f"100 numgen random mod 100 < {LOSS_PERCENT} drop",
                "server": f"reads {REQUEST} B, writes {BULK} B at once (TCP_CONGESTION cubic), "
                "closes at EOF",
            },
            [
                Conn(
                    {"client_port": port},
                    "closed",
                    closer="client",
                    counts=clean(retransmits=bound(1, None)),
                    delays={
                        "transfer_side": "server",
                        "transfer_bytes": BULK,
                        "transfer_loss_s": bound_s(round(rtt_s * 0.9, 4), None),
                        "transfer_receive_window_s": 0.0,
                        "transfer_rtt_min_ms": bound_s(rtt_ms * 0.95, rtt_ms + 10),
                    },
                    note=f"about {LOSS_PERCENT} % of {SEGMENTS} segments dropped (at random: "
                    "none dropped has a chance below 1e-9), each resent: retransmits >= 1, "
                    "and at least one recovery, which lasts at least the resent segment's "
                    f"round trip ({rtt_ms:g} ms, floor 0.9 of it). transfer_bytes counts the "
                    "new payload once, resends aside. paced_by is left out: after each "
                    "recovery CUBIC's reduced window paces the transfer (the network part), "
                    "and whether that or the recoveries is larger depends on where the drops "
                    "fall. The receiver's window (autotuned) never binds",
                )
            ],
            notes="Fast retransmits follow the SACKs within microseconds at this capture point; "
            "Wireshark calls some of them out-of-order rather than retransmissions (less than "
            "its iRTT after the previous segment), so its count is lower than the resends.",
            capture_format=TUN_HEADERS,
            observed_by_sockets=ctx.socket_events(),
        )
    ]


#: The snaplen of the captures on a tun device (raw IP, no link header): 80 B keep a data
#: segment's headers (IP 20 + TCP 20 + timestamps 12) and a bare ACK's with three SACK
#: blocks (IP 20 + TCP 20 + timestamps 12 + SACK 28 = 80), as ``-s 96`` does on Ethernet,
#: with fewer payload bytes: a smaller file.
TUN_SNAPLEN = 80
TUN_HEADERS_80: dict[str, Any] = {
    "format": "pcap",
    "link_type": "RAW",
    "tool": f"tcpdump -i tun0 -s {TUN_SNAPLEN}",
    "snaplen": TUN_SNAPLEN,
}


def _tun_routed(
    ctx: Ctx, lab: Lab, net: int, one_way_s: float, router_tc: tuple[str, ...]
) -> tuple[Namespace, Namespace]:
    """server --tun (the relay holds each packet ``one_way_s``)-- router --veth-- client, with
    ``router_tc`` the root qdisc of the router's veth toward the client (the only place a
    queue can build: the relay reads its tun as fast as packets come). The server is
    192.168.<net>.2, the client 10.<net>.1.1; returns the server and client namespaces."""
    server = lab.namespace("s")
    router = lab.namespace("r")
    client = lab.namespace("c")
    lab.veth(router, "rc", client, "eth0")
    lab.addr(client, "eth0", f"10.{net}.1.1/24")
    lab.addr(router, "rc", f"10.{net}.1.254/24")
    ctx.forwarder("tun", server.name, router.name, "tun0", str(one_way_s))
    for ns, here, there in ((server, 2, 1), (router, 1, 2)):
        peer = ["peer", f"192.168.{net}.{there}"]
        ns.run(["ip", "addr", "add", f"192.168.{net}.{here}", *peer, "dev", "tun0"])
        ns.run(["ethtool", "-K", "tun0", "tso", "off", "gso", "off", "gro", "off"], check=False)
        ns.run(["ip", "link", "set", "tun0", "up"])
    server.run(["ip", "route", "add", f"10.{net}.1.0/24", "via", f"192.168.{net}.1"])
    client.run(["ip", "route", "add", "default", "via", f"10.{net}.1.254"])
    router.sysctl("net.ipv4.ip_forward", 1)
    router.run(["tc", "qdisc", "add", "dev", "rc", "root", *router_tc])
    return server, client


#: BBR through a deep tbf queue on a 100 ms path: the link's rate, and the path.
BBR_ONE_WAY_S = 0.05
BBR_RATE_BPS = 10_000_000
BBR_BURST_B = 3000
BBR_TC = ("tbf", "rate", "10mbit", "burst", str(BBR_BURST_B), "latency", "300ms")
#: BBR v1's STARTUP gain (2/ln 2, tcp_bbr.c ``bbr_high_gain``) on its pacing rate and window.
BBR_HIGH_GAIN = 2.885


def bbr_shallow_queue(ctx: Ctx, net: int) -> list[Expected]:
    """A 1 MiB download from a server whose socket uses BBR, through a router whose link
    toward the client is 10 Mbit/s (tbf, a small burst, room for 300 ms of queue), on a 100
    ms round trip (the tun relay between the server and the router). Captured at the server
    (the sender), on tun0.

    Kernel rules (tcp_bbr.c, BBR v1): STARTUP paces at 2.89 x its delivery-rate estimate
    (about doubling the rate each round trip) and caps its window at 2.89 x the estimated
    bandwidth-delay product; it leaves STARTUP only after three round trips in which that
    estimate grew by less than 25 % (``bbr_check_full_bw_reached``), then DRAINs the queue
    it built and cycles PROBE_BW, whose queue stays under a round trip. Here the pipe (10
    Mbit/s x 100 ms: 125 kB, 86 segments) fills in about four round trips from 10 segments;
    from then on the estimate is the link's rate, the window stops at its cap (2.89 x 125
    kB: ~360 kB, 250 segments) and the link sends at its rate with a queue standing behind
    it that grows by the flight's excess over the pipe, to ~230 kB (~190 ms). The three
    round trips STARTUP still waits lengthen with that queue (~125, ~175, ~250 ms): the MiB
    is all sent before they end, so this transfer is STARTUP throughout, never PROBE_BW (a
    check run's ``ss -ti``: pacing_gain 2.88672 to the end, cwnd 250). tbf has room for 378
    kB (rate x 300 ms + burst): nothing is dropped. The receiver's window (autotuned) grows
    ahead of BBR's flight; the server writes the whole MiB at once.
    """
    name = "slow-transfer-bbr-shallow-queue.pcap"
    port = 45006
    server, client = _download(f"192.168.{net}.2", port, [st.send(BULK, "c")], BBR)
    with Lab(ctx.tag) as lab:
        s, c = _tun_routed(ctx, lab, net, BBR_ONE_WAY_S, BBR_TC)
        ctx.capture(s, "tun0", name, "-s", str(TUN_SNAPLEN))
        _run(ctx, s, c, server, client)
    rtt_s = 2 * BBR_ONE_WAY_S
    rtt_ms = rtt_s * 1000
    wire_b = (SEGMENTS - 1) * WIRE_FULL_B + WIRE_LAST_B
    fastest_s = (wire_b - BBR_BURST_B) * 8 / BBR_RATE_BPS
    # STARTUP takes ~4 round trips to fill the pipe from 10 segments, then the last ACK
    # crosses the queue: 10 round trips of margin for both.
    slowest_s = round(fastest_s + 10 * rtt_s, 3)
    pipe_b = BBR_RATE_BPS // 8 * rtt_s
    cap_b = BBR_HIGH_GAIN * pipe_b
    queue_top_ms = (cap_b - pipe_b) * 8 / BBR_RATE_BPS * 1000
    return [
        Expected(
            name,
            f"a {BULK} B download from a BBR sender through a 10 Mbit/s link with room for "
            f"300 ms of queue (tbf on the router, toward the client) on a {rtt_ms:.0f} ms round "
            "trip; captured at the server (the sender)",
            "server",
            {
                "link": f"server tun0 -- relay, {BBR_ONE_WAY_S * 1000:.0f} ms each way -- router",
                "router_tc": "rc (toward the client): " + " ".join(BBR_TC),
                "server": f"reads {REQUEST} B, writes {BULK} B at once (TCP_CONGESTION bbr), "
                "closes at EOF",
                "client": f"sends {REQUEST} B, reads {BULK} B, close()",
            },
            [
                Conn(
                    {"client_port": port},
                    "closed",
                    closer="client",
                    counts=clean(),
                    delays={
                        "transfer_side": "server",
                        "transfer_bytes": BULK,
                        "transfer_s": bound_s(round(fastest_s * 0.97, 3), slowest_s),
                        "transfer_rate_bps": bound(_rate_bps(slowest_s), BBR_RATE_BPS),
                        "transfer_receive_window_s": 0.0,
                        "transfer_loss_s": 0.0,
                        "transfer_sender_s": 0.0,
                        "transfer_rtt_min_ms": bound_s(rtt_ms * 0.98, rtt_ms + 10),
                        "transfer_queue_ms": bound_s(5.0, 300.0),
                        "transfer_paced_by": "bottleneck",
                        "rto_episodes": 0,
                    },
                    note=f"rate: tbf passes at most {BBR_RATE_BPS // 1_000_000} Mbit/s of "
                    f"frames (1514 B carry 1448 B) after a {BBR_BURST_B} B burst: the bulk's "
                    f"{wire_b} B of frames take >= {fastest_s:.3f} s of the link (the bound's "
                    f"ceiling is the tbf rate itself); the floor allows 10 round trips more "
                    f"({slowest_s} s) for STARTUP's ramp and the last ACK. BBR stays in "
                    "STARTUP: its window doubles for about four round trips until the pipe "
                    f"({pipe_b / 1000:.0f} kB) is full, then stops at its cap (~"
                    f"{cap_b / 1000:.0f} kB) while the link sends at its rate with a queue "
                    f"standing behind it, growing toward ~{queue_top_ms:.0f} ms, to the "
                    "end: the link is busy for the larger part of the transfer (its "
                    f"{fastest_s:.2f} s of frames against the ~0.4 s ramp) and the flight is "
                    "no longer doubling there: 'bottleneck'. Queue: a floor of 5 ms (four "
                    "1514 B frames at 10 Mbit/s), not a value: it stands from the cap on and "
                    "grows the whole time, so any one figure for it (a median over time, "
                    "over samples that end when the new data does) depends on where the cap "
                    "falls; the ceiling is tbf's 300 ms latency. Nothing drops (tbf's room "
                    "exceeds the queue), the receiver's window never binds and the "
                    "application wrote everything at once: loss, receive-window and sender "
                    "parts zero",
                )
            ],
            notes="The relay holds every packet the same 50 ms each way and reads its tun as "
            "fast as packets come: the only queue is tbf's, on the router's link toward the "
            "client. The handshake's round trip is the path's with that queue empty. The "
            "name says what BBR is built for (PROBE_BW keeps its queue under a round trip); "
            "a MiB on this path ends before BBR leaves STARTUP, whose queue here reaches "
            "about two round trips.",
            capture_format=TUN_HEADERS_80,
            observed_by_sockets=ctx.socket_events(),
        )
    ]


#: The application's pacing on a 40 ms round trip: 8 KiB every 10 ms until the MiB.
APP_ONE_WAY_S = 0.02
APP_WRITE = 8 * 1024
APP_EVERY_S = 0.01
APP_WRITES = BULK // APP_WRITE


def app_limited_writes(ctx: Ctx, net: int) -> list[Expected]:
    """A 1 MiB download the server's application writes 8 KiB at a time, 10 ms apart, over a
    40 ms round trip (tun relay, no queue). Captured at the server (the sender), on tun0.

    Kernel rules: each write leaves at once (CUBIC does not pace; its window, 10 segments
    at first, grows in slow start past the ~23 segments a round trip of writes holds) and is
    ACKed a round trip later, by which time three more writes have left: data is always in
    flight (the sender is never idle), about 4 writes (32 KiB) of it, steady. Linux grows the
    congestion window only while it limits the sender (tcp_is_cwnd_limited: in slow start,
    while cwnd < 2 x the largest flight), so once it passes twice the writes' flight it
    stops: the application, not the window, sets the flight (ss: app_limited). The receiver's
    window (tcp_rmem 131072 at first) is above that flight from the start; nothing queues
    (the relay holds every packet the same 20 ms) and nothing drops.
    """
    from tools.samplegen.scenarios.linktypes import tun_pair

    name = "slow-transfer-app-limited-writes.pcap"
    port = 45007
    writes: list[st.Step] = []
    for k in range(APP_WRITES):
        writes.append(st.send(APP_WRITE, "c"))
        if k < APP_WRITES - 1:
            writes.append(st.sleep(APP_EVERY_S))
    server, client = _download(f"192.168.{net}.2", port, writes)
    with Lab(ctx.tag) as lab:
        c, s = tun_pair(ctx, lab, net, delay_s=APP_ONE_WAY_S)
        ctx.capture(s, "tun0", name, "-s", str(TUN_SNAPLEN))
        _run(ctx, s, c, server, client)
    rtt_s = 2 * APP_ONE_WAY_S
    rtt_ms = rtt_s * 1000
    sleeps_s = (APP_WRITES - 1) * APP_EVERY_S
    fastest_s = sleeps_s  # the last write leaves >= the sleeps after the first
    slowest_s = round(sleeps_s * 1.6 + rtt_s, 3)  # sleeps overrunning, and the last ACK
    return [
        Expected(
            name,
            f"the server writes {APP_WRITE} B every {APP_EVERY_S * 1000:g} ms until {BULK} B, "
            f"over a {rtt_ms:.0f} ms round trip (tun relay); captured at the server (the "
            "sender)",
            "server",
            {
                "link": f"tun, {APP_ONE_WAY_S * 1000:.0f} ms one-way delay in the forwarder",
                "server": f"reads {REQUEST} B, then {APP_WRITES} x (send {APP_WRITE} B, sleep "
                f"{APP_EVERY_S} s) (TCP_CONGESTION cubic), closes at EOF",
                "client": f"sends {REQUEST} B, reads {BULK} B, close()",
            },
            [
                Conn(
                    {"client_port": port},
                    "closed",
                    closer="client",
                    counts=clean(),
                    delays={
                        "transfer_side": "server",
                        "transfer_bytes": BULK,
                        "transfer_s": bound_s(round(fastest_s, 3), slowest_s),
                        "transfer_rate_bps": bound(_rate_bps(slowest_s), _rate_bps(fastest_s)),
                        "transfer_receive_window_s": 0.0,
                        "transfer_loss_s": 0.0,
                        "transfer_sender_s": 0.0,
                        "transfer_rtt_min_ms": bound_s(rtt_ms * 0.95, rtt_ms + 10),
                        "transfer_rtt_loaded_ms": bound_s(rtt_ms * 0.95, rtt_ms + 10),
                        "transfer_queue_ms": bound_s(0.0, 5.0),
                        "transfer_paced_by": "network",
                        "rto_episodes": 0,
                    },
                    note=f"{APP_WRITES - 1} sleeps of {APP_EVERY_S} s lie between the first "
                    f"write and the last: >= {sleeps_s:.2f} s, rate <= {_rate_bps(sleeps_s)} "
                    f"b/s ({APP_WRITE} B per {APP_EVERY_S * 1000:g} ms); the ceiling "
                    f"{slowest_s} s allows the sleeps to overrun and the last ACK. A write's "
                    f"ACK comes a round trip ({rtt_ms:.0f} ms) after it, when three more "
                    "have left: data is always in flight, so the sender is never seen idle "
                    "(sender 0), and the flight holds steady near four writes with no queue "
                    "and no loss: no congestion window held it (Linux grows it only while "
                    "cwnd-limited, tcp_is_cwnd_limited), so the pace is the network part's "
                    "with a flat flight: 'network', whose explanation names the application. "
                    "The receiver's window (autotuned) never binds",
                    explanation_keywords=["application", "tcp_is_cwnd_limited"],
                )
            ],
            capture_format=TUN_HEADERS_80,
            observed_by_sockets=ctx.socket_events(),
        )
    ]


#: The policer: a tbf with room for one frame (drops instead of queueing), on a 40 ms path.
#: 4 Mbit/s, not 10: at 10 Mbit/s the path holds 34 segments and CUBIC, once the initial
#: window's burst has lost most of its segments, regrows past them only after the MiB has
#: gone (a second loss or none: the pace would turn on chance).
POLICER_ONE_WAY_S = 0.02
POLICER_RATE_BPS = 4_000_000
POLICER_BURST_B = 3000
POLICER_TC = ("tbf", "rate", "4mbit", "burst", str(POLICER_BURST_B), "limit", "3000")


def policer(ctx: Ctx, net: int) -> list[Expected]:
    """A 1 MiB download through a router whose link toward the client is 4 Mbit/s with room
    for one frame (tbf ``burst 3000 limit 3000``: a policer, it drops what it cannot send at
    once), on a 40 ms round trip (the tun relay between the server and the router). Captured
    at the server (the sender), on tun0.

    Kernel rules: tbf sends a frame when its bucket holds the frame's length (3000 B at
    most: one 1514 B frame at once) and queues the next while the queue's bytes stay within
    ``limit`` (3000 B: one 1514 B frame); the rest is dropped (qdisc_drop). CUBIC's initial
    window leaves in one burst of 10 segments, which the relay delivers back to back: about
    8 of them are dropped at once. The client's SACKs name the holes; the sender resends
    them in fast recovery (RFC 6675 / RACK), each episode at least a round trip, and CUBIC
    cuts its window (to 0.7) and grows it back. The path holds 20 kB (4 Mbit/s x 40 ms, 14
    segments) plus the one queued frame: whenever the window passes that, tbf drops again.
    The MiB takes >= 2.2 s at 4 Mbit/s, 55 round trips, and CUBIC's growth (at least its
    Reno-friendly half a segment per round trip) passes 15 segments again within them: two
    episodes at least, a run of them in practice. The queue never holds more than one frame
    (3 ms at 4 Mbit/s).
    """
    name = "slow-transfer-policer.pcap"
    port = 45008
    server, client = _download(f"192.168.{net}.2", port, [st.send(BULK, "c")])
    with Lab(ctx.tag) as lab:
        s, c = _tun_routed(ctx, lab, net, POLICER_ONE_WAY_S, POLICER_TC)
        ctx.capture(s, "tun0", name, "-s", str(TUN_SNAPLEN))
        _run(ctx, s, c, server, client)
    rtt_s = 2 * POLICER_ONE_WAY_S
    rtt_ms = rtt_s * 1000
    wire_b = (SEGMENTS - 1) * WIRE_FULL_B + WIRE_LAST_B
    fastest_s = (wire_b - POLICER_BURST_B) * 8 / POLICER_RATE_BPS
    pipe_segments = POLICER_RATE_BPS / 8 * rtt_s / MSS
    return [
        Expected(
            name,
            f"a {BULK} B download through a 4 Mbit/s policer (tbf with room for one frame on "
            f"the router, toward the client) on a {rtt_ms:.0f} ms round trip; captured at the "
            "server (the sender)",
            "server",
            {
                "link": f"server tun0 -- relay, {POLICER_ONE_WAY_S * 1000:.0f} ms each way -- "
                "router",
                "router_tc": "rc (toward the client): " + " ".join(POLICER_TC),
                "server": f"reads {REQUEST} B, writes {BULK} B at once (TCP_CONGESTION cubic), "
                "closes at EOF",
                "client": f"sends {REQUEST} B, reads {BULK} B, close()",
            },
            [
                Conn(
                    {"client_port": port},
                    "closed",
                    closer="client",
                    counts=clean(retransmits=bound(1, None)),
                    delays={
                        "transfer_side": "server",
                        "transfer_bytes": BULK,
                        "transfer_s": bound_s(round(fastest_s * 0.97, 3), None),
                        "transfer_rate_bps": bound(None, POLICER_RATE_BPS),
                        "transfer_loss_s": bound_s(round(2 * rtt_s * 0.9, 4), None),
                        "transfer_receive_window_s": 0.0,
                        "transfer_sender_s": 0.0,
                        "transfer_rtt_min_ms": bound_s(rtt_ms * 0.95, rtt_ms + 10),
                        "transfer_queue_ms": bound_s(0.0, 5.0),
                        "transfer_paced_by": "loss",
                    },
                    note=f"tbf passes at most {POLICER_RATE_BPS // 1_000_000} Mbit/s of frames: "
                    f">= {fastest_s:.3f} s for the bulk's {wire_b} B of frames (rate <= the tbf "
                    "rate). The initial window's burst loses most of its 10 segments, and "
                    f"CUBIC's window passes the path's {pipe_segments:.0f} segments and one "
                    "frame of queue again and again after: tbf drops, the sender resends "
                    "(retransmits >= 1) in two recoveries at least, each at least the "
                    f"resent segment's round trip ({rtt_ms:.0f} ms; floor 2 x 0.9 of it). "
                    "The queue holds one frame at most (3 ms): under 5 ms, no queue stood, "
                    "and the losses and the regrowth after each are the pace: 'loss'. The "
                    "receiver's window (autotuned) never binds; the application wrote "
                    "everything at once",
                )
            ],
            notes="The relay holds every packet the same 20 ms each way: tbf's one frame of "
            "room is the only queue on the path. Fast retransmits follow the SACKs within "
            "microseconds at this capture point; Wireshark calls some out-of-order.",
            capture_format=TUN_HEADERS_80,
            observed_by_sockets=ctx.socket_events(),
        )
    ]


#: The idle between a kept-alive connection's two answers: several RTOs (~0.5 s each here).
IDLE_S = 3.0
#: Its path: a 200 ms round trip (an intercontinental one), long against the relay's jitter
#: under load, which blurs the rounds of a shorter one.
IDLE_ONE_WAY_S = 0.1


def idle_restart(ctx: Ctx, net: int) -> list[Expected]:
    """Two 1 MiB answers on one kept-alive connection over a 200 ms round trip, 3 s apart,
    with the kernel's default ``net.ipv4.tcp_slow_start_after_idle`` 1; captured at the
    client (the receiver), on tun0.

    Kernel rules: the first answer slow-starts from 10 segments (10, 20, 40, 80, 160, 320,
    then the rest: 7 round trips, as ``long_path``). The client then idles 3 s, several of
    the server's RTOs (200 ms + the round trip and its variance), with everything
    acknowledged, so when the second request is answered ``tcp_event_data_sent`` ->
    ``tcp_cwnd_restart`` halves the window once per RTO elapsed, down to min(initial window,
    cwnd) = 10 segments at the lowest: the second answer slow-starts again, 10 to 40
    segments and doubling, though the connection had reached a flight of about 320 segments
    a round trip. Its ramp to that flight takes 3 to 5 round trips where the old window
    needed 1 or 2 for those bytes: 2 to 4 round trips lost (the bound: 2 to 6).
    """
    return _two_answers(ctx, net, "slow-idle-restart-at-client.pcap", restart=True)


#: The middle answer of ``idle_restart_after_small``: 70 segments, three rounds of a
#: restarted window (10, 20, 40).
SMALL_ANSWER = 100 * 1024


def idle_restart_after_small(ctx: Ctx, net: int) -> list[Expected]:
    """Three answers on one kept-alive connection, 1 MiB, 100 KiB, 1 MiB, ``IDLE_S`` apart
    over a 200 ms round trip, ``net.ipv4.tcp_slow_start_after_idle`` 1; captured at the
    server (the sender), on tun0.

    Kernel rules: the first answer slow-starts to a flight of about 320 segments a round
    trip. Each 3 s idle is several RTOs with nothing in flight, so ``tcp_cwnd_restart``
    halves the window once per RTO elapsed, down to 10 segments. The 100 KiB answer then
    leaves in 10, 20, 40 segments (3 round trips where the window of before needed 1: 2
    lost) and ends with a window of about 80; the second idle restarts that window, not
    the first answer's, so the third answer's 10, 20 before a round carries the middle
    answer's 40 again is 1 round trip lost against what the middle answer showed (2 against
    the 80 it ended with). Measured against the first answer's 320 instead, its ramp to
    160 would claim 4: 6 round trips in all, beyond the bound (2 to 4)."""
    from tools.samplegen.scenarios.linktypes import tun_pair

    name = "slow-idle-restart-after-small-answer-at-server.pcap"
    port = 45012
    server, client = _kept_alive(net, port, [BULK, SMALL_ANSWER, BULK])
    with Lab(ctx.tag) as lab:
        c, s = tun_pair(ctx, lab, net, delay_s=IDLE_ONE_WAY_S)
        s.sysctl("net.ipv4.tcp_slow_start_after_idle", 1)
        ctx.capture(s, "tun0", name, "-s", str(SNAPLEN))
        _run(ctx, s, c, server, client)
    rtt_s = 2 * IDLE_ONE_WAY_S
    setting = "net.ipv4.tcp_slow_start_after_idle 1"
    return [
        Expected(
            name,
            f"three answers ({BULK}, {SMALL_ANSWER}, {BULK} B) on one connection over a "
            f"{rtt_s * 1000:.0f} ms round trip (tun relay), {IDLE_S:g} s apart, {setting} on "
            "the server; captured at the server (the sender)",
            "server",
            {
                "link": f"tun, {IDLE_ONE_WAY_S * 1000:.0f} ms one-way delay in the forwarder",
                "server": f"{setting}; reads {REQUEST} B, writes each answer at once "
                "(TCP_CONGESTION cubic), closes at EOF",
                "client": f"sends {REQUEST} B, reads the answer; three times, {IDLE_S:g} s "
                "apart; close()",
            },
            [
                _restarted(
                    port,
                    2,
                    (2, 4),
                    rtt_s,
                    "the middle and the last answer slow-start again: 2 round trips lost by "
                    "the middle one against the first's ~320-segment flight, 1 by the last "
                    "against the middle's 40 (the window it went idle with)",
                )
            ],
            capture_format=TUN_HEADERS,
            observed_by_sockets=ctx.socket_events(),
        )
    ]


#: The answers of ``idle_restart_middle`` (the samples' size budget).
MIDDLE_ANSWER = 512 * 1024


def idle_restart_middle(ctx: Ctx, net: int) -> list[Expected]:
    """``idle_restart`` captured in the middle of the path: a router between two tun links
    of 50 ms each way (the same 200 ms round trip), on its client-facing tun0.

    Kernel rules: as ``idle_restart`` (the second answer slow-starts again after 3 s idle,
    from 10 to 40 segments). At a middle point the server's rounds arrive half a round trip
    after they left and the client's ACKs half a round trip before they reach the server;
    the rounds are cut by those ACKs and the loop to the server the handshake measured
    there (SYN -> SYN+ACK, 100 ms). Answers of 512 KiB (the samples' size budget): the first
    reaches a flight of about 160 segments, the second's 10, 20, 40, 80 before one carries
    it again take 4 round trips for what that flight sent in 1 or 2: 2 to 3 round trips
    lost (the bound: 2 to 6)."""
    from tools.samplegen.scenarios.linktypes import tun_chain

    name = "slow-idle-restart-at-middle.pcap"
    port = 45013
    server, client = _kept_alive(net, port, [MIDDLE_ANSWER, MIDDLE_ANSWER])
    with Lab(ctx.tag) as lab:
        c, r, s = tun_chain(ctx, lab, net, delay_s=IDLE_ONE_WAY_S / 2)
        s.sysctl("net.ipv4.tcp_slow_start_after_idle", 1)
        ctx.capture(r, "tun0", name, "-s", str(SNAPLEN))
        _run(ctx, s, c, server, client)
    rtt_s = 2 * IDLE_ONE_WAY_S
    setting = "net.ipv4.tcp_slow_start_after_idle 1"
    return [
        Expected(
            name,
            f"two {MIDDLE_ANSWER} B answers on one connection over a {rtt_s * 1000:.0f} ms round trip "
            f"(two tun relays and a router), {IDLE_S:g} s apart, {setting} on the server; "
            "captured at the router, in the middle of the path",
            "router",
            {
                "link": f"tun, {IDLE_ONE_WAY_S * 500:.0f} ms one-way delay in each of two "
                "forwarders (client - router - server)",
                "server": f"{setting}; reads {REQUEST} B, writes {MIDDLE_ANSWER} B at once, twice "
                "(TCP_CONGESTION cubic), closes at EOF",
                "client": f"sends {REQUEST} B, reads {MIDDLE_ANSWER} B, sleeps {IDLE_S:g} s, again, close()",
            },
            [
                _restarted(
                    port,
                    1,
                    (2, 6),
                    rtt_s,
                    f"the second answer slow-starts again after {IDLE_S:g} s idle, seen half a "
                    "round trip from each end: 2 to 3 round trips lost (bound 2 to 6)",
                )
            ],
            capture_format=TUN_HEADERS,
            observed_by_sockets=ctx.socket_events(),
        )
    ]


def idle_no_restart(ctx: Ctx, net: int) -> list[Expected]:
    """``idle_restart`` with ``net.ipv4.tcp_slow_start_after_idle`` 0 on the server, captured
    at the server (the sender): the window survives the idle, so the second answer leaves in
    about one round trip; no restart may be claimed."""
    return _two_answers(ctx, net, "slow-idle-no-restart-sysctl0-at-server.pcap", restart=False)


def _kept_alive(net: int, port: int, answers: list[int]) -> tuple[list[st.Step], list[st.Step]]:
    """Server and client steps of one kept-alive connection over the tun link: a request,
    then an answer of each size in ``answers`` written at once (CUBIC), ``IDLE_S`` apart."""
    server = [*st.listen(), st.accept("c", opts=[CUBIC])]
    client = [*st.connect(f"192.168.{net}.2", port)]
    for k, size in enumerate(answers):
        server += [st.recv(REQUEST, "c"), st.send(size, "c")]
        client += [*([st.sleep(IDLE_S)] if k else []), st.send(REQUEST), st.recv(size)]
    return [*server, st.recv_eof("c"), st.close("c")], [*client, st.close(), st.signal("done")]


def _restarted(
    port: int,
    restarts: int,
    rounds: tuple[int, int],
    rtt_s: float,
    note: str,
    *,
    words: list[str] | None = None,
) -> Conn:
    """The expectation of a kept-alive connection whose answers slow-started again after an
    idle: closed by the client, nothing resent, ``restarts`` restarts costing ``rounds``
    (fewest, most) round trips of ``rtt_s`` in all, the ``idle_restart`` tag, and an
    explanation saying "restarted" (and ``words``)."""
    lo, hi = rounds
    return Conn(
        {"client_port": port},
        "closed",
        closer="client",
        counts=clean(),
        delays={
            "idle_restarts": restarts,
            "idle_restart_s": bound_s(round(lo * rtt_s, 3), round(hi * rtt_s, 3)),
            "rto_episodes": 0,
        },
        slow=["idle_restart"],
        explanation_keywords=["restarted", *(words or [])],
        note=note,
    )


def _two_answers(ctx: Ctx, net: int, name: str, *, restart: bool) -> list[Expected]:
    from tools.samplegen.scenarios.linktypes import tun_pair

    port = 45011
    server, client = _kept_alive(net, port, [BULK, BULK])
    with Lab(ctx.tag) as lab:
        c, s = tun_pair(ctx, lab, net, delay_s=IDLE_ONE_WAY_S)
        s.sysctl("net.ipv4.tcp_slow_start_after_idle", 1 if restart else 0)
        ctx.capture(c if restart else s, "tun0", name, "-s", str(SNAPLEN))
        _run(ctx, s, c, server, client)
    rtt_s = 2 * IDLE_ONE_WAY_S
    setting = f"net.ipv4.tcp_slow_start_after_idle {1 if restart else 0}"
    if restart:
        expected = _restarted(
            port,
            1,
            (2, 6),
            rtt_s,
            f"the second answer slow-starts again after {IDLE_S:g} s idle ({setting}): 2 to 4 "
            f"round trips of {rtt_s * 1000:.0f} ms lost against the ~320-segment flight the "
            "first answer reached (bound: 2 to 6 round trips)",
            words=["tcp_slow_start_after_idle=0 on the server"],
        )
    else:
        expected = Conn(
            {"client_port": port},
            "closed",
            closer="client",
            counts=clean(),
            delays={"idle_restarts": 0, "idle_restart_s": 0.0, "rto_episodes": 0},
            slow=[],
            note=f"{setting}: the window survives the idle, the second answer leaves at once",
        )
    where = "client (the receiver)" if restart else "server (the sender)"
    return [
        Expected(
            name,
            f"two {BULK} B answers on one connection over a {rtt_s * 1000:.0f} ms round trip "
            f"(tun relay), {IDLE_S:g} s apart, {setting} on the server; captured at the {where}",
            "client" if restart else "server",
            {
                "link": f"tun, {IDLE_ONE_WAY_S * 1000:.0f} ms one-way delay in the forwarder",
                "server": f"{setting}; reads {REQUEST} B, writes {BULK} B at once, twice "
                "(TCP_CONGESTION cubic), closes at EOF",
                "client": f"sends {REQUEST} B, reads {BULK} B, sleeps {IDLE_S:g} s, again, close()",
            },
            [expected],
            capture_format=TUN_HEADERS,
            observed_by_sockets=ctx.socket_events(),
        )
    ]
