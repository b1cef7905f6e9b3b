"""One normal connection per link type / file format, for the decoder.

Each capture holds the same exchange (client port 40001 -> 8080: 100 B request,
1000 B reply, client closes first), so the only thing that varies is how it was captured.
"""

from __future__ import annotations

from tools.samplegen import steps as st
from tools.samplegen.expected import ANY_SLL2, Conn, Expected, clean
from tools.samplegen.netns import Lab, Namespace, make_pair
from tools.samplegen.scenario import Ctx

PORT = 40001


def _normal(note: str = "100 B request, 1000 B reply, client close() first") -> Conn:
    return Conn({"client_port": PORT}, "closed", closer="client", counts=clean(), note=note)


def _exchange(
    ctx: Ctx,
    client_ns: Namespace,
    server_ns: Namespace,
    server_ip: str,
    *,
    port: int = PORT,
    family: int = 4,
    big: int = 0,
) -> None:
    """Run the normal exchange (optionally with a ``big`` download first) and wait for both ends."""
    server = [
        *st.listen(family=family),
        st.accept(),
        st.recv(100, "c"),
        st.send(1000 + big, "c"),
        st.recv_eof("c"),
        st.close("c"),
    ]
    client = [
        *st.connect(server_ip, port, family=family),
        st.send(100),
        st.recv(1000 + big),
        st.close(),
    ]
    srv = ctx.server(server_ns, server, f"server-{port}")
    cli = ctx.actor(client_ns, client, f"client-{port}")
    cli.expect("finished", timeout=15)
    srv.expect("finished", timeout=15)
    cli.stop()  # both sockets are closed already; this frees the listener for the next exchange
    srv.stop()


def _simple(
    ctx: Ctx,
    net: int,
    name: str,
    dev: str,
    extra: list[str],
    fmt: dict[str, object],
    scenario: str,
    *,
    big: int = 0,
    notes: str = "",
) -> list[Expected]:
    with Lab(ctx.tag) as lab:
        pair = make_pair(lab, net)
        cap = ctx.capture(pair.client, dev, name, *extra)
        _exchange(ctx, pair.client, pair.server, pair.server_ip, big=big)
        cap.stop(linger=0.3)
        ctx.cleanup()
    note = f"100 B request, {1000 + big} B reply, client close() first"
    return [
        Expected(
            name,
            scenario,
            "client",
            {"tcpdump": " ".join(["-i", dev, *extra])},
            [_normal(note)],
            notes=notes,
            capture_format=fmt,
        )
    ]


def sll2_any(ctx: Ctx, net: int) -> list[Expected]:
    return _simple(
        ctx,
        net,
        "linktype-sll2-any.pcap",
        "any",
        [],
        ANY_SLL2,
        "a normal connection captured with tcpdump -i any (Linux cooked v2)",
        notes="Only eth0 carries traffic in the namespace, so every packet appears once.",
    )


def sll1_any(ctx: Ctx, net: int) -> list[Expected]:
    return _simple(
        ctx,
        net,
        "linktype-sll1-any.pcap",
        "any",
        ["-y", "LINUX_SLL"],
        {
            "format": "pcap",
            "link_type": "LINUX_SLL",
            "tool": "tcpdump -i any -y LINUX_SLL",
            "snaplen": 262144,
        },
        "a normal connection captured with tcpdump -i any -y LINUX_SLL (Linux cooked v1)",
    )


def nanosecond(ctx: Ctx, net: int) -> list[Expected]:
    return _simple(
        ctx,
        net,
        "format-pcap-nanosecond.pcap",
        "eth0",
        ["--time-stamp-precision=nano"],
        {
            "format": "pcap",
            "link_type": "EN10MB",
            "tool": "tcpdump --time-stamp-precision=nano",
            "time_precision": "ns",
            "snaplen": 262144,
        },
        "a normal connection in a nanosecond-precision pcap (magic a1b23c4d)",
    )


def snaplen96(ctx: Ctx, net: int) -> list[Expected]:
    return _simple(
        ctx,
        net,
        "format-snaplen-96.pcap",
        "eth0",
        ["-s", "96"],
        {"format": "pcap", "link_type": "EN10MB", "tool": "tcpdump -s 96", "snaplen": 96},
        "a normal connection with a 20 KB reply, captured with snaplen 96",
        big=20000,
        notes="Every full-size segment is cut at 96 bytes: payload lengths must come from the IP "
        "header (bytes_server = 21000, bytes_client = 100).",
    )


def loopback(ctx: Ctx, net: int) -> list[Expected]:
    name = "linktype-loopback-lo.pcap"
    with Lab(ctx.tag) as lab:
        ns = lab.namespace("c")
        cap = ctx.capture(ns, "lo", name)
        _exchange(ctx, ns, ns, "127.0.0.1")
        cap.stop(linger=0.3)
        ctx.cleanup()
    return [
        Expected(
            name,
            "client and server in one namespace over 127.0.0.1, captured on lo",
            "any",
            {"tcpdump": "-i lo"},
            [_normal()],
            notes="Linux lo is LINKTYPE_ETHERNET with all-zero MACs; libpcap drops the outgoing copy on "
            "lo, so each packet appears once.",
            capture_format={
                "format": "pcap",
                "link_type": "EN10MB",
                "tool": "tcpdump -i lo",
                "snaplen": 262144,
            },
        )
    ]


def tso_super_segments(ctx: Ctx, net: int) -> list[Expected]:
    """Offloads left ON: the sender's capture shows TSO/GSO segments larger than the MSS."""
    name = "tso-super-segments-at-sender.pcap"
    with Lab(ctx.tag) as lab:
        pair = make_pair(lab, net, offloads=True)
        cap = ctx.capture(pair.server, "eth0", name, "-s", "128")
        _exchange(ctx, pair.client, pair.server, pair.server_ip, big=300000)
        cap.stop(linger=0.3)
        ctx.cleanup()
    return [
        Expected(
            name,
            "a 301 KB reply captured at the SENDER (server) with TSO/GSO on: super-segments",
            "server",
            {"ethtool": "defaults (tso/gso on)", "tcpdump": "-s 128"},
            [
                _normal(
                    "100 B request, 301000 B reply, client close() first; the server's data leaves "
                    "in segments up to 64 KB (TSO), which the wire would split by MSS"
                )
            ],
            notes="Segments larger than the MSS are an artefact of capturing on the sending host; they "
            "are not retransmissions and need no reassembly.",
            capture_format={
                "format": "pcap",
                "link_type": "EN10MB",
                "tool": "tcpdump -s 128",
                "snaplen": 128,
            },
        )
    ]


# --- userspace links: VLAN trunk, QinQ, tun (RAW) -------------------------------------------
def _vlan(ctx: Ctx, net: int, name: str, tags: str) -> None:
    """client eth0 <-> [sc | switch ns (userspace) | ss] <-> server eth0; trunk nt <-> ft inside the switch."""
    with Lab(ctx.tag) as lab:
        c, sw, s = lab.namespace("c"), lab.namespace("w"), lab.namespace("s")
        lab.veth(c, "eth0", sw, "sc")
        lab.veth(s, "eth0", sw, "ss")
        lab.veth(sw, "nt", sw, "ft")
        for ns in (c, s):
            # The userspace switch copies frames as bytes: checksums must be complete (no offload)
            # and tags must fit the veth MTU.
            ns.run(["ethtool", "-K", "eth0", "tx", "off"], check=False)
            ns.run(["ip", "link", "set", "eth0", "mtu", "1400"])
        lab.addr(c, "eth0", f"10.{net}.0.1/24")
        lab.addr(s, "eth0", f"10.{net}.0.2/24")
        ctx.forwarder("vlan", sw.name, "sc", "nt", "ft", "ss", tags)
        cap = ctx.capture(sw, "nt", name)
        _exchange(ctx, c, s, f"10.{net}.0.2")
        cap.stop(linger=0.3)
        ctx.cleanup()


VLAN_NOTES = (
    "This kernel has no VLAN devices, VLAN-filtering bridge or tc vlan action, so the tags are pushed by a "
    "userspace two-port switch (tools/samplegen/wire.py) onto a veth trunk; the TCP/IP inside is the endpoints' "
    "own kernel traffic. Captured on the trunk: both directions are tagged (libpcap re-inserts the tag the "
    "receiving veth moved into metadata). ARP frames are tagged too. Endpoint MTU 1400, tx checksum offload off."
)


def vlan_8021q(ctx: Ctx, net: int) -> list[Expected]:
    name = "linktype-vlan-8021q.pcap"
    _vlan(ctx, net, name, "8100:100")
    return [
        Expected(
            name,
            "a normal connection on an 802.1Q trunk (VLAN 100)",
            "router",
            {"vlan": {"tpid": "0x8100", "vid": 100}},
            [_normal()],
            notes=VLAN_NOTES,
            capture_format={
                "format": "pcap",
                "link_type": "EN10MB",
                "encapsulation": "802.1Q vid 100",
                "snaplen": 262144,
            },
        )
    ]


def vlan_qinq(ctx: Ctx, net: int) -> list[Expected]:
    name = "linktype-vlan-qinq.pcap"
    _vlan(ctx, net, name, "88a8:200,8100:100")
    return [
        Expected(
            name,
            "a normal connection on a QinQ trunk (802.1ad S-tag 200 outside, 802.1Q C-tag 100 "
            "inside)",
            "router",
            {
                "vlan": {
                    "outer": {"tpid": "0x88a8", "vid": 200},
                    "inner": {"tpid": "0x8100", "vid": 100},
                }
            },
            [_normal()],
            notes=VLAN_NOTES,
            capture_format={
                "format": "pcap",
                "link_type": "EN10MB",
                "encapsulation": "802.1ad vid 200 + 802.1Q vid 100",
                "snaplen": 262144,
            },
        )
    ]


def tun_pair(
    ctx: Ctx, lab: Lab, net: int, *, delay_s: float = 0.0, syn_extra_s: float = 0.0
) -> tuple[Namespace, Namespace]:
    """client/server namespaces joined by a veth (10.<net>.0.0/24) AND a tun link
    (192.168.<net>.0/30), whose packets wait ``delay_s`` each way (a round trip of twice it),
    SYNs and SYN+ACKs ``syn_extra_s`` more (a first-packet slow path)."""
    pair = make_pair(lab, net)
    wire = ["tun", pair.client.name, pair.server.name, "tun0", str(delay_s)]
    ctx.forwarder(*wire, *([str(syn_extra_s)] if syn_extra_s else []))
    for ns, here, there in ((pair.client, 1, 2), (pair.server, 2, 1)):
        _tun_peer(ns, "tun0", net, here, there)
    return pair.client, pair.server


def _tun_peer(ns: Namespace, dev: str, net: int, here: int, there: int) -> None:
    """``dev`` (a tun the forwarder made in ``ns``) up as 192.168.<net>.<here>, its peer
    .<there> at the link's other end."""
    ns.run(
        ["ip", "addr", "add", f"192.168.{net}.{here}", "peer", f"192.168.{net}.{there}", "dev", dev]
    )
    ns.run(["ip", "link", "set", dev, "up"])


def tun_chain(
    ctx: Ctx, lab: Lab, net: int, *, delay_s: float
) -> tuple[Namespace, Namespace, Namespace]:
    """client tun0 192.168.<net>.1 <-> router tun0 .3 | router tun1 .4 <-> server tun1 .2:
    two tun links, each packet waiting ``delay_s`` on each (a round trip of four times it),
    so that a capture on the router's tun0 sits in the middle of the path."""
    c, r, s = lab.namespace("c"), lab.namespace("r"), lab.namespace("s")
    ctx.forwarder("tun", c.name, r.name, "tun0", str(delay_s))
    ctx.forwarder("tun", r.name, s.name, "tun1", str(delay_s))
    for ns, dev, here, there in (
        (c, "tun0", 1, 3),
        (r, "tun0", 3, 1),
        (r, "tun1", 4, 2),
        (s, "tun1", 2, 4),
    ):
        _tun_peer(ns, dev, net, here, there)
    c.run(["ip", "route", "add", f"192.168.{net}.2", "dev", "tun0"])
    s.run(["ip", "route", "add", f"192.168.{net}.1", "dev", "tun1"])
    r.sysctl("net.ipv4.ip_forward", 1)
    return c, r, s


def raw_tun(ctx: Ctx, net: int) -> list[Expected]:
    name = "linktype-raw-ip-tun.pcap"
    with Lab(ctx.tag) as lab:
        c, s = tun_pair(ctx, lab, net)
        cap = ctx.capture(c, "tun0", name)
        _exchange(ctx, c, s, f"192.168.{net}.2")
        cap.stop(linger=0.3)
        ctx.cleanup()
    return [
        Expected(
            name,
            "a normal connection over a tun link (no link header: LINKTYPE_RAW)",
            "client",
            {"tun": "tools/samplegen/wire.py copies packets between tun0 in each namespace"},
            [_normal()],
            notes="The kernel here has no ipip/gre devices; a tun device gives the same raw-IP link type.",
            capture_format={
                "format": "pcap",
                "link_type": "RAW",
                "tool": "tcpdump -i tun0",
                "snaplen": 262144,
            },
        )
    ]


def pcapng_two_interfaces(ctx: Ctx, net: int) -> list[Expected]:
    """dumpcap on eth0 (Ethernet) and tun0 (raw IP) at once: a pcapng with two IDBs of different link types."""
    name = "format-pcapng-ethernet-and-raw.pcapng"
    with Lab(ctx.tag) as lab:
        c, s = tun_pair(ctx, lab, net)
        cap = ctx.capture(c, ["eth0", "tun0"], name, tool="dumpcap")
        _exchange(ctx, c, s, f"10.{net}.0.2", port=PORT)
        _exchange(ctx, c, s, f"192.168.{net}.2", port=PORT + 1)
        cap.stop(linger=0.5)
        ctx.cleanup()
    return [
        Expected(
            name,
            "two connections, one on eth0 (Ethernet) and one on tun0 (raw IP), one pcapng file",
            "client",
            {"dumpcap": "-i eth0 -i tun0"},
            [
                _normal("on eth0 (interface 0, EN10MB): 10.x addresses"),
                Conn(
                    {"client_port": PORT + 1},
                    "closed",
                    closer="client",
                    counts=clean(),
                    note="on tun0 (interface 1, RAW): 192.168.x addresses",
                ),
            ],
            notes="Interface 0 also carries ARP. Each connection is on one interface only (the tun "
            "traffic never crosses eth0 here).",
            capture_format={
                "format": "pcapng",
                "link_types": ["EN10MB", "RAW"],
                "tool": "dumpcap",
                "interfaces": ["eth0", "tun0"],
            },
        )
    ]
