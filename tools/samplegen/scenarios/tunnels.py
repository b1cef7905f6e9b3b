"""One normal connection inside each kind of tunnel, captured on the underlay.

The exchange is the link-type scenarios' one (client port 40001 -> 8080: 100 B request,
1000 B reply, client closes first), between inner addresses that only exist inside the
tunnel; the capture is taken on the client's underlay veth, so every TCP segment in the
file is encapsulated. VXLAN uses the kernel's own vxlan device; the other tunnels, which
this kernel has no devices for, use the userspace tunnel endpoints of
``tools/samplegen/encap.py`` (real sockets of the underlay carry the encapsulated packets,
the kernel writes the outer headers).
"""

from __future__ import annotations

from tools.samplegen.expected import Expected
from tools.samplegen.netns import Lab, Namespace
from tools.samplegen.scenario import Ctx
from tools.samplegen.scenarios.linktypes import _exchange, _normal

INNER_MTU = "1400"  # leaves room for any of the headers on a 1500-byte underlay

ENCAP_NOTES = (
    "This kernel has no {what} devices, so a userspace tunnel endpoint pair "
    "(tools/samplegen/encap.py) stands in: each endpoint namespace has a {dev} device for the "
    "inner traffic, and the forwarder sends each packet, wrapped in the tunnel header, over a "
    "real {transport} socket of the underlay (the kernel writes the outer headers). The TCP "
    "inside is the endpoints' own kernel traffic. Captured on the client's underlay eth0: every "
    "TCP segment is encapsulated; {extra}"
)


def _underlay(lab: Lab, net: int, *, ipv6: bool) -> tuple[Namespace, Namespace, str, str]:
    c = lab.namespace("c", ipv6=True)
    s = lab.namespace("s", ipv6=True)
    lab.veth(c, "eth0", s, "eth0")
    if ipv6:
        a, b = f"fd00:{net}::1", f"fd00:{net}::2"
        lab.addr(c, "eth0", f"{a}/64")
        lab.addr(s, "eth0", f"{b}/64")
    else:
        a, b = f"10.{net}.0.1", f"10.{net}.0.2"
        lab.addr(c, "eth0", f"{a}/24")
        lab.addr(s, "eth0", f"{b}/24")
    return c, s, a, b


def _inner_addresses(net: int, inner6: bool) -> tuple[str, str]:
    return (
        (f"fd01:{net}::1", f"fd01:{net}::2") if inner6 else (f"192.168.{net}.1", f"192.168.{net}.2")
    )


def _configure_inner(
    ns: Namespace, dev: str, here: str, there: str, *, point_to_point: bool
) -> None:
    ns.run(["ip", "link", "set", dev, "mtu", INNER_MTU])
    if ":" not in here:
        # An IPv4-only tunnel: no IPv6 link-local chatter wrapped as if it were IPv4.
        ns.sysctl(f"net.ipv6.conf.{dev}.disable_ipv6", 1)
    if point_to_point and ":" not in here:
        ns.run(["ip", "addr", "add", here, "peer", there, "dev", dev])
    else:  # a /64 on a tun device routes without neighbour discovery (NOARP)
        Lab.addr(ns, dev, f"{here}/{64 if ':' in here else 24}")
    ns.run(["ip", "link", "set", dev, "up"])


def _encap(
    ctx: Ctx,
    net: int,
    name: str,
    kind: str,
    *,
    scenario: str,
    settings: dict[str, object],
    encapsulation: str,
    what: str,
    under6: bool = False,
    inner6: bool = False,
    tap: bool = False,
    transport: str = "raw IP",
    extra: str = "",
    underlay_mtu: int | None = None,
    big: int = 0,
) -> list[Expected]:
    """``underlay_mtu``: the veth's MTU when smaller than the tunnel's packets need;
    ``big``: bytes the reply carries beyond the usual 1000."""
    dev = "tap0" if tap else "tun0"
    with Lab(ctx.tag) as lab:
        c, s, ua, ub = _underlay(lab, net, ipv6=under6)
        if underlay_mtu is not None:
            for ns in (c, s):
                ns.run(["ip", "link", "set", "eth0", "mtu", str(underlay_mtu)])
        ctx.forwarder("encap", kind, c.name, s.name, ua, ub, dev)
        ia, ib = _inner_addresses(net, inner6)
        _configure_inner(c, dev, ia, ib, point_to_point=not tap)
        _configure_inner(s, dev, ib, ia, point_to_point=not tap)
        cap = ctx.capture(c, "eth0", name)
        _exchange(ctx, c, s, ib, family=6 if inner6 else 4, big=big)
        cap.stop(linger=0.3)
        ctx.cleanup()
    notes = ENCAP_NOTES.format(
        what=what, dev=dev, transport=transport, extra=extra or "nothing else crosses it."
    )
    reply = f"100 B request, {1000 + big} B reply, client close() first"
    return [
        Expected(
            name,
            scenario,
            "client",
            {"tunnel": settings},
            [_normal(reply)],
            notes=notes,
            capture_format={
                "format": "pcap",
                "link_type": "EN10MB",
                "encapsulation": encapsulation,
                "tool": "tcpdump -i eth0 (underlay)",
                "snaplen": 262144,
            },
        )
    ]


def _vxlan(ctx: Ctx, net: int, name: str, *, under6: bool) -> list[Expected]:
    with Lab(ctx.tag) as lab:
        c, s, ua, ub = _underlay(lab, net, ipv6=under6)
        ia, ib = _inner_addresses(net, False)
        for ns, local, remote, here in ((c, ua, ub, ia), (s, ub, ua, ib)):
            vxlan_args = ["id", "42", "dstport", "4789", "local", local, "remote", remote]
            ns.run(["ip", "link", "add", "vx0", "type", "vxlan", *vxlan_args, "dev", "eth0"])
            _configure_inner(ns, "vx0", here, "", point_to_point=False)
        cap = ctx.capture(c, "eth0", name)
        _exchange(ctx, c, s, ib)
        cap.stop(linger=0.3)
        ctx.cleanup()
    under = "IPv6" if under6 else "IPv4"
    return [
        Expected(
            name,
            f"a normal connection inside a kernel VXLAN tunnel (VNI 42, UDP 4789) over {under}",
            "client",
            {"vxlan": {"vni": 42, "dstport": 4789, "underlay": under, "mtu": int(INNER_MTU)}},
            [_normal()],
            notes="The kernel's vxlan devices on both ends (unicast remote); captured on the "
            "client's underlay eth0. The inner Ethernet frames include ARP; the outer UDP source "
            "port is the kernel's flow hash.",
            capture_format={
                "format": "pcap",
                "link_type": "EN10MB",
                "encapsulation": f"{under} / UDP 4789 / VXLAN / Ethernet / IPv4",
                "tool": "tcpdump -i eth0 (underlay)",
                "snaplen": 262144,
            },
        )
    ]


def vxlan(ctx: Ctx, net: int) -> list[Expected]:
    return _vxlan(ctx, net, "tunnel-vxlan.pcap", under6=False)


def vxlan_ipv6(ctx: Ctx, net: int) -> list[Expected]:
    return _vxlan(ctx, net, "tunnel-vxlan-over-ipv6.pcap", under6=True)


def ipip(ctx: Ctx, net: int) -> list[Expected]:
    return _encap(
        ctx,
        net,
        "tunnel-ipip.pcap",
        "ipip",
        scenario="a normal connection inside an IPv4-in-IPv4 tunnel (IP protocol 4)",
        settings={"kind": "ipip"},
        encapsulation="IPv4 / IPv4",
        what="ipip",
    )


def sit(ctx: Ctx, net: int) -> list[Expected]:
    return _encap(
        ctx,
        net,
        "tunnel-6in4.pcap",
        "sit",
        inner6=True,
        scenario="a normal IPv6 connection inside an IPv6-in-IPv4 tunnel (IP protocol 41, sit)",
        settings={"kind": "sit"},
        encapsulation="IPv4 / IPv6",
        what="sit",
        extra="IPv6 neighbour/router chatter of the tun devices may cross it too.",
    )


def four_in_six(ctx: Ctx, net: int) -> list[Expected]:
    return _encap(
        ctx,
        net,
        "tunnel-4in6.pcap",
        "ipip",
        under6=True,
        scenario="a normal IPv4 connection inside an IPv4-in-IPv6 tunnel (next header 4, ip6tnl)",
        settings={"kind": "ip6tnl ipip6"},
        encapsulation="IPv6 / IPv4",
        what="ip6tnl",
    )


def gre(ctx: Ctx, net: int) -> list[Expected]:
    return _encap(
        ctx,
        net,
        "tunnel-gre-key-seq.pcap",
        "gre",
        scenario="a normal connection inside a GRE tunnel with key 1001 and sequence numbers",
        settings={"kind": "gre", "key": 1001, "sequence_numbers": True},
        encapsulation="IPv4 / GRE (K, S) / IPv4",
        what="gre",
    )


#: The fragmenting underlay: inner packets of up to INNER_MTU (1400) bytes plus GRE (12) and
#: the outer IPv4 header (20) do not fit in 800 bytes, so each full-size segment leaves in
#: two outer fragments (offsets 0 and 776).
FRAGMENTING_MTU = 800
FRAGMENTING_REPLY = 20_000


def gre_fragmented_underlay(ctx: Ctx, net: int) -> list[Expected]:
    return _encap(
        ctx,
        net,
        "tunnel-gre-fragmented-underlay.pcap",
        "gre-fragmenting",
        scenario="a normal connection inside a GRE tunnel whose outer packets are fragmented "
        f"(DF clear, {FRAGMENTING_MTU}-byte underlay, {INNER_MTU}-byte tunnel MTU)",
        settings={
            "kind": "gre",
            "key": 1001,
            "sequence_numbers": True,
            "outer_df": False,
            "underlay_mtu": FRAGMENTING_MTU,
            "tunnel_mtu": int(INNER_MTU),
        },
        encapsulation="IPv4 (fragmented) / GRE (K, S) / IPv4",
        what="gre",
        underlay_mtu=FRAGMENTING_MTU,
        big=FRAGMENTING_REPLY,
        extra=f"the forwarder's raw socket clears DF (IP_PMTUDISC_DONT), so the kernel splits "
        f"every outer packet over {FRAGMENTING_MTU} bytes into IPv4 fragments (RFC 791), as a "
        "kernel GRE tunnel with nopmtudisc does: each full-size TCP segment of the reply is "
        "in two frames, the TCP header in the first and the rest of its payload in the "
        "second. Wireshark reassembles them and shows the segment on the frame of the "
        "fragment that completed it; so must pcapline. Nothing else crosses it.",
    )


def gretap(ctx: Ctx, net: int) -> list[Expected]:
    return _encap(
        ctx,
        net,
        "tunnel-gretap.pcap",
        "gretap",
        tap=True,
        scenario="a normal connection inside a gretap tunnel (GRE 0x6558, Ethernet bridging, key 7)",
        settings={"kind": "gretap", "key": 7},
        encapsulation="IPv4 / GRE 0x6558 / Ethernet / IPv4",
        what="gretap",
        extra="the inner ARP crosses it too.",
    )


def erspan2(ctx: Ctx, net: int) -> list[Expected]:
    return _encap(
        ctx,
        net,
        "tunnel-erspan-ii.pcap",
        "erspan2",
        tap=True,
        scenario="a normal connection carried in ERSPAN type II (GRE 0x88BE with sequence numbers)",
        settings={"kind": "erspan", "version": 1, "session": 5},
        encapsulation="IPv4 / GRE 0x88BE / ERSPAN II / Ethernet / IPv4",
        what="erspan",
        extra="the inner ARP crosses it too. A real ERSPAN session carries mirrored copies; here "
        "the mirror is the only path, so each segment appears once.",
    )


def erspan3(ctx: Ctx, net: int) -> list[Expected]:
    return _encap(
        ctx,
        net,
        "tunnel-erspan-iii.pcap",
        "erspan3",
        tap=True,
        scenario="a normal connection carried in ERSPAN type III (GRE 0x22EB)",
        settings={"kind": "erspan", "version": 2, "session": 5},
        encapsulation="IPv4 / GRE 0x22EB / ERSPAN III / Ethernet / IPv4",
        what="erspan",
        extra="the inner ARP crosses it too. A real ERSPAN session carries mirrored copies; here "
        "the mirror is the only path, so each segment appears once.",
    )


def geneve(ctx: Ctx, net: int) -> list[Expected]:
    return _encap(
        ctx,
        net,
        "tunnel-geneve.pcap",
        "geneve",
        tap=True,
        transport="UDP (port 6081)",
        scenario="a normal connection inside a Geneve tunnel (UDP 6081, VNI 42, Ethernet payload)",
        settings={"kind": "geneve", "vni": 42},
        encapsulation="IPv4 / UDP 6081 / Geneve / Ethernet / IPv4",
        what="geneve",
        extra="the inner ARP crosses it too.",
    )


def gtpu(ctx: Ctx, net: int) -> list[Expected]:
    return _encap(
        ctx,
        net,
        "tunnel-gtp-u.pcap",
        "gtpu",
        transport="UDP (port 2152)",
        scenario="a normal connection inside GTP-U (UDP 2152, G-PDU with a PDU session container "
        "extension header)",
        settings={"kind": "gtp-u", "teid": "0x1234", "extension": "PDU session container"},
        encapsulation="IPv4 / UDP 2152 / GTP-U (E) / IPv4",
        what="gtp",
    )


def teredo(ctx: Ctx, net: int) -> list[Expected]:
    return _encap(
        ctx,
        net,
        "tunnel-teredo.pcap",
        "teredo",
        inner6=True,
        transport="UDP (client 40544, server 3544)",
        scenario="a normal IPv6 connection inside Teredo (UDP 3544, every packet with an origin "
        "indication)",
        settings={"kind": "teredo", "origin_indication": True},
        encapsulation="IPv4 / UDP 3544 / Teredo origin / IPv6",
        what="Teredo",
        extra="IPv6 neighbour/router chatter of the tun devices may cross it too.",
    )
