"""Userspace links for link layers this kernel cannot make itself.

The test kernel has no 802.1Q/802.1ad devices, no VLAN-filtering bridge, no tc filters and
no IP-in-IP tunnels. Two small forwarders stand in, the way a switch or a VPN daemon would:

- ``vlan``: a two-port "switch" namespace. Frames from the client side are sent out on the
  trunk veth with VLAN tag(s) pushed (802.1Q, or 802.1ad + 802.1Q for QinQ); frames arriving
  on the trunk are forwarded untagged to the server side, and the reverse. The TCP/IP inside
  is the endpoints' own kernel traffic; only the tags come from this forwarder, exactly as
  they would from a switch on a trunk port.
- ``tun``: one tun device in each endpoint namespace, packets copied between them (a minimal
  VPN), optionally each a fixed time after it was read (a path with a one-way delay: the
  test kernel has no netem), and a SYN or SYN+ACK a little later still (a load balancer's
  or an OVS's first-packet slow path, which gives a handshake a longer round trip than the
  data after it). tcpdump on a tun device writes LINKTYPE_RAW (bare IP packets).
- ``encap``: a tunnel endpoint pair (GRE, ERSPAN, IP-in-IP, Geneve, GTP-U, Teredo...) whose
  encapsulated packets cross a real underlay link: ``encap.py``.

Run by the orchestrator as ``python -m tools.samplegen.wire MODE ...``; prints ``ready`` and
forwards until its stdin closes. Sockets and tun fds are opened inside each namespace via
setns(2) (os.setns needs Python 3.12; ctypes does it on 3.11).
"""

from __future__ import annotations

import collections
import ctypes
import fcntl
import os
import select
import socket
import struct
import sys
import time

CLONE_NEWNET = 0x40000000
ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
VLAN_TPIDS = (0x8100, 0x88A8)

_libc = ctypes.CDLL(None, use_errno=True)


def enter_netns(name: str) -> None:
    fd = os.open(f"/var/run/netns/{name}", os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {name}")
    finally:
        os.close(fd)


def packet_socket(ns: str, dev: str) -> socket.socket:
    enter_netns(ns)
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.bind((dev, ETH_P_ALL))
    return sock


def tun_fd(ns: str, dev: str, *, tap: bool = False) -> int:
    enter_netns(ns)
    fd = os.open("/dev/net/tun", os.O_RDWR)
    mode = IFF_TAP if tap else IFF_TUN
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", dev.encode(), mode | IFF_NO_PI))
    return fd


def push_tags(frame: bytes, tags: list[tuple[int, int]]) -> bytes:
    """Insert VLAN tags (outermost first) after the two MAC addresses."""
    header = b"".join(struct.pack("!HH", tpid, vid & 0x0FFF) for tpid, vid in tags)
    return frame[:12] + header + frame[12:]


def strip_tags(frame: bytes) -> bytes:
    """Remove in-line VLAN tags (the kernel already moved the outermost one to metadata)."""
    while len(frame) >= 18 and struct.unpack_from("!H", frame, 12)[0] in VLAN_TPIDS:
        frame = frame[:12] + frame[16:]
    return frame


def run_vlan(
    ns: str, access_a: str, trunk_a: str, trunk_b: str, access_b: str, tags: list[tuple[int, int]]
) -> None:
    socks = {name: packet_socket(ns, name) for name in (access_a, trunk_a, trunk_b, access_b)}
    # where a frame received on each port goes, and whether it gets tagged on the way
    routes = {
        access_a: (trunk_a, True),
        trunk_a: (access_a, False),
        access_b: (trunk_b, True),
        trunk_b: (access_b, False),
    }
    by_fd = {s.fileno(): name for name, s in socks.items()}
    stdin = sys.stdin.fileno()
    print("ready", flush=True)
    while True:
        ready, _, _ = select.select([*by_fd, stdin], [], [])
        for r in ready:
            if r == stdin:
                if not os.read(stdin, 4096):
                    return
                continue
            name = by_fd[r]
            frame, addr = socks[name].recvfrom(65535)
            if addr[2] == PACKET_OUTGOING:
                continue  # our own transmissions, looped back to the packet socket
            out, tag = routes[name]
            frame = strip_tags(frame)
            socks[out].send(push_tags(frame, tags) if tag else frame)


def run_tun(ns_a: str, ns_b: str, dev: str, delay_s: float = 0.0, syn_extra_s: float = 0.0) -> None:
    """Copy packets between the two tun devices, each ``delay_s`` after it was read (a path
    with a one-way delay: this kernel has no netem), an IPv4 SYN or SYN+ACK ``syn_extra_s``
    later still (a first-packet slow path). Order is kept: a packet read behind a held SYN
    waits for it (nothing else crosses during a handshake)."""
    fd_a, fd_b = tun_fd(ns_a, dev), tun_fd(ns_b, dev)
    peer = {fd_a: fd_b, fd_b: fd_a}
    stdin = sys.stdin.fileno()
    due: collections.deque[tuple[float, int, bytes]] = collections.deque()
    print("ready", flush=True)
    while True:
        wait = max(0.0, due[0][0] - time.monotonic()) if due else None
        ready, _, _ = select.select([fd_a, fd_b, stdin], [], [], wait)
        for r in ready:
            if r == stdin:
                if not os.read(stdin, 4096):
                    return
                continue
            packet = os.read(r, 65535)
            extra = syn_extra_s if _ipv4_syn(packet) else 0.0
            due.append((time.monotonic() + delay_s + extra, peer[r], packet))
        while due and due[0][0] <= time.monotonic():
            _, out, packet = due.popleft()
            os.write(out, packet)


def _ipv4_syn(packet: bytes) -> bool:
    """A bare IPv4 packet carrying a TCP segment with SYN set (a SYN or a SYN+ACK)."""
    if len(packet) < 20 or packet[0] >> 4 != 4 or packet[9] != 6:
        return False
    flags_at = (packet[0] & 0x0F) * 4 + 13
    return len(packet) > flags_at and bool(packet[flags_at] & 0x02)


def main() -> None:
    mode, *args = sys.argv[1:]
    if mode == "vlan":
        ns, a, ta, tb, b, spec = args
        tags = [(int(t.split(":")[0], 16), int(t.split(":")[1])) for t in spec.split(",")]
        run_vlan(ns, a, ta, tb, b, tags)
    elif mode == "tun":
        ns_a, ns_b, dev, *delays = args
        run_tun(ns_a, ns_b, dev, *(float(d) for d in delays[:2]))
    elif mode == "encap":  # tunnels: tools/samplegen/encap.py
        from tools.samplegen.encap import run_encap

        kind, ns_a, ns_b, addr_a, addr_b, dev = args
        run_encap(kind, ns_a, ns_b, addr_a, addr_b, dev)
    else:
        sys.exit(f"wire: unknown mode {mode}")


if __name__ == "__main__":
    main()
