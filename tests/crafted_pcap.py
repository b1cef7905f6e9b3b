"""Tiny hand-crafted captures for plumbing tests (CLI, analyze()): not truth for fates.

``two_connections_pcap(path)`` writes Ethernet/IPv4 frames:
  frames 1-9   connection 0, 10.0.0.1:40000 -> 10.0.0.2:80: handshake, 5 bytes each way,
               client FIN first, server FIN, last ACK (an orderly close)
  frames 10-11 connection 1, 10.0.0.1:40001 -> 10.0.0.2:81: SYN answered by RST+ACK (refused)
  frame 12     a UDP datagram (skipped as not_tcp)
"""

from __future__ import annotations

import socket
from pathlib import Path

import dpkt

T0 = 1_700_000_000.0
CLIENT, SERVER = "10.0.0.1", "10.0.0.2"
F, S, R, P, A = dpkt.tcp.TH_FIN, dpkt.tcp.TH_SYN, dpkt.tcp.TH_RST, dpkt.tcp.TH_PUSH, dpkt.tcp.TH_ACK


def _frame(src: str, dst: str, ip_payload: dpkt.Packet, proto: int) -> bytes:
    ip = dpkt.ip.IP(
        src=socket.inet_aton(src), dst=socket.inet_aton(dst), p=proto, ttl=64, data=ip_payload
    )
    ip.len = len(ip)
    eth = dpkt.ethernet.Ethernet(
        src=b"\x02\x00\x00\x00\x00\x01",
        dst=b"\x02\x00\x00\x00\x00\x02",
        type=dpkt.ethernet.ETH_TYPE_IP,
        data=ip,
    )
    return bytes(eth)


def _tcp(sport: int, dport: int, seq: int, ack: int, flags: int, data: bytes = b"") -> dpkt.tcp.TCP:
    tcp = dpkt.tcp.TCP(
        sport=sport, dport=dport, seq=seq, ack=ack, flags=flags, win=65535, data=data
    )
    if flags & S:
        tcp.opts = b"\x02\x04\x05\xb4"  # MSS 1460
        tcp.off = 6
    return tcp


def two_connections_pcap(path: Path) -> Path:
    c, s = 1000, 5000  # ISNs
    frames = [
        (CLIENT, SERVER, _tcp(40000, 80, c, 0, S)),
        (SERVER, CLIENT, _tcp(80, 40000, s, c + 1, S | A)),
        (CLIENT, SERVER, _tcp(40000, 80, c + 1, s + 1, A)),
        (CLIENT, SERVER, _tcp(40000, 80, c + 1, s + 1, P | A, b"hello")),
        (SERVER, CLIENT, _tcp(80, 40000, s + 1, c + 6, P | A, b"world")),
        (CLIENT, SERVER, _tcp(40000, 80, c + 6, s + 6, F | A)),
        (SERVER, CLIENT, _tcp(80, 40000, s + 6, c + 7, A)),
        (SERVER, CLIENT, _tcp(80, 40000, s + 6, c + 7, F | A)),
        (CLIENT, SERVER, _tcp(40000, 80, c + 7, s + 7, A)),
        (CLIENT, SERVER, _tcp(40001, 81, 7000, 0, S)),
        (SERVER, CLIENT, _tcp(81, 40001, 0, 7001, R | A)),
    ]
    with path.open("wb") as out:
        writer = dpkt.pcap.Writer(out, linktype=dpkt.pcap.DLT_EN10MB)
        for i, (src, dst, tcp) in enumerate(frames):
            writer.writepkt(_frame(src, dst, tcp, dpkt.ip.IP_PROTO_TCP), ts=T0 + i * 0.01)
        udp = dpkt.udp.UDP(sport=40999, dport=9999, data=b"x")
        udp.ulen = len(udp)
        writer.writepkt(_frame(CLIENT, SERVER, udp, dpkt.ip.IP_PROTO_UDP), ts=T0 + 1.0)
    return path
