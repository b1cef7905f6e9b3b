"""A userspace tunnel endpoint pair, for the tunnels this kernel cannot make itself.

The test kernel has vxlan devices (the VXLAN scenarios use them) but no gre, gretap,
erspan, ipip, sit, ip6tnl, geneve or gtp devices. This forwarder stands in the way a
userspace tunnel daemon does: in each endpoint namespace a tun (or, for the tunnels that
carry Ethernet frames, a tap) device holds the inner traffic; every packet the kernel routes
into it is wrapped in the tunnel header and sent to the peer over a real socket of the
underlay (a raw IP socket for IP-in-IP / GRE, a UDP socket for Geneve / GTP-U / Teredo), so
the kernel writes the outer IP (and UDP) header; the peer's socket receives it, the header
is stripped, and the inner packet is written to the peer's tun/tap. The TCP/IP inside is
the endpoints' own kernel traffic; captured on the underlay veth, it is what a real tunnel
puts on the wire.

Run as ``python -m tools.samplegen.wire encap KIND NS_A NS_B ADDR_A ADDR_B``; prints
``ready`` and forwards until its stdin closes.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import struct
import sys
from dataclasses import dataclass

from tools.samplegen.wire import enter_netns, tun_fd

IPPROTO_GRE = 47
#: linux/in.h: the socket option and the value that clear DF and let the kernel fragment.
IP_MTU_DISCOVER, IP_PMTUDISC_DONT = 10, 0


@dataclass(frozen=True)
class Kind:
    """How one tunnel kind wraps an inner packet and where it travels."""

    header: bytes  # prepended to every inner packet
    transport: str  # "ip" (raw socket of ``proto``) or "udp"
    proto: int = 0  # IP protocol of the raw socket
    ports: tuple[int, int] = (0, 0)  # UDP ports of endpoint A and B
    tap: bool = False  # the inner traffic is Ethernet frames (a tap device)
    #: The outer IPv4 header without DF (IP_PMTUDISC_DONT): the kernel fragments an outer
    #: packet larger than the underlay's MTU (RFC 791), as a tunnel with ``nopmtudisc`` does.
    fragments: bool = False


def _gre(protocol: int, *, key: int | None = None, seq: bool = False) -> bytes:
    flags = (0x2000 if key is not None else 0) | (0x1000 if seq else 0)
    out = struct.pack("!HH", flags, protocol)
    if key is not None:
        out += struct.pack("!I", key)
    if seq:
        out += struct.pack("!I", 0)  # a constant sequence number: the decoder only steps over it
    return out


#: ERSPAN type II header (version 1, VLAN 0, session 5) and type III (version 2, session 5,
#: timestamp 0, frame type 0 = Ethernet, no platform subheader).
ERSPAN_II = struct.pack("!HHI", 0x1000, 5, 0)
ERSPAN_III = struct.pack("!HHIHH", 0x2000, 5, 0, 0, 0)
#: GTPv1-U G-PDU with E set: sequence word, then one PDU session container extension
#: (length 1 unit: type/QFI bytes) and no next extension.
GTP_FLAGS, GTP_G_PDU = 0x34, 255
GTP_EXTENSION = struct.pack("!HBB", 0, 0, 0x85) + bytes([1, 0x00, 0x09, 0])
#: Teredo origin indication: port 40001 and 192.0.2.1, both bit-inverted (RFC 4380 5.1.1).
TEREDO_ORIGIN = struct.pack("!HH4s", 0, 0xFFFF ^ 40001, bytes(b ^ 0xFF for b in (192, 0, 2, 1)))

KINDS: dict[str, Kind] = {
    "ipip": Kind(b"", "ip", proto=4),
    "sit": Kind(b"", "ip", proto=41),
    "gre": Kind(_gre(0x0800, key=1001, seq=True), "ip", proto=IPPROTO_GRE),
    "gre-fragmenting": Kind(
        _gre(0x0800, key=1001, seq=True), "ip", proto=IPPROTO_GRE, fragments=True
    ),
    "gretap": Kind(_gre(0x6558, key=7), "ip", proto=IPPROTO_GRE, tap=True),
    "erspan2": Kind(_gre(0x88BE, seq=True) + ERSPAN_II, "ip", proto=IPPROTO_GRE, tap=True),
    "erspan3": Kind(_gre(0x22EB, seq=True) + ERSPAN_III, "ip", proto=IPPROTO_GRE, tap=True),
    "geneve": Kind(
        struct.pack("!BBHI", 0, 0, 0x6558, 42 << 8), "udp", ports=(6081, 6081), tap=True
    ),
    "gtpu": Kind(b"", "udp", ports=(2152, 2152)),  # header built per packet (length field)
    "teredo": Kind(TEREDO_ORIGIN, "udp", ports=(40544, 3544)),
}


def _wrap(kind_name: str, kind: Kind, packet: bytes) -> bytes:
    if kind_name == "gtpu":
        body = GTP_EXTENSION + packet
        return struct.pack("!BBHI", GTP_FLAGS, GTP_G_PDU, len(body), 0x1234) + body
    return kind.header + packet


def _unwrap(kind_name: str, kind: Kind, datagram: bytes) -> bytes:
    if kind_name == "gtpu":
        return datagram[8 + len(GTP_EXTENSION) :]
    return datagram[len(kind.header) :]


def _socket(kind: Kind, ns: str, local: str, port: int) -> socket.socket:
    enter_netns(ns)
    family = socket.AF_INET6 if ":" in local else socket.AF_INET
    if kind.transport == "udp":
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.bind((local, port))
    else:
        sock = socket.socket(family, socket.SOCK_RAW, kind.proto)
        sock.bind((local, 0))
    if kind.fragments:
        sock.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DONT)
    return sock


def run_encap(kind_name: str, ns_a: str, ns_b: str, addr_a: str, addr_b: str, dev: str) -> None:
    kind = KINDS[kind_name]
    ends = {}
    for ns, local, remote, port, peer_port in (
        (ns_a, addr_a, addr_b, kind.ports[0], kind.ports[1]),
        (ns_b, addr_b, addr_a, kind.ports[1], kind.ports[0]),
    ):
        fd = tun_fd(ns, dev, tap=kind.tap)
        ends[ns] = (fd, _socket(kind, ns, local, port), (remote, peer_port))
    by_fd = {}
    for fd, sock, peer in ends.values():
        by_fd[fd] = ("tun", fd, sock, peer)
        by_fd[sock.fileno()] = ("sock", fd, sock, peer)
    stdin = sys.stdin.fileno()
    print("ready", flush=True)
    while True:
        ready, _, _ = select.select([*by_fd, stdin], [], [])
        for r in ready:
            if r == stdin:
                if not os.read(stdin, 4096):
                    return
                continue
            what, fd, sock, peer = by_fd[r]
            if what == "tun":
                # No route to the peer yet: dropped, as a down link would.
                with contextlib.suppress(OSError):
                    sock.sendto(_wrap(kind_name, kind, os.read(fd, 65535)), peer)
                continue
            datagram = sock.recv(65535)
            if kind.transport == "ip" and sock.family == socket.AF_INET:
                datagram = datagram[(datagram[0] & 0x0F) * 4 :]  # raw IPv4 sockets see the header
            # The peer's tun/tap is not up yet (EIO): dropped, as a down link would.
            with contextlib.suppress(OSError):
                os.write(fd, _unwrap(kind_name, kind, datagram))
