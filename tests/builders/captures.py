"""Named crafted captures, written with ``Conversation`` (our own bytes, no copied capture).

``two_connections_pcap`` is the plumbing capture of the CLI and ``analyze()`` tests. The
others reproduce, segment for segment, a packet pattern a behaviour test needs and that a
real capture in the corpus showed first; they are committed as tests/captures/NAME.pcap so the
tests run without the corpus (tests/captures/README.md says what each one shows).
Regenerate them from tests/: ``python -m builders.captures``; tests/test_captures.py fails when
a committed file differs from what its generator writes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from builders.conversation import CLIENT, SERVER, Conversation, pcap_bytes
from builders.frames import ethernet, ipv4, udp
from pcapline.model import ACK, FIN, RST, SYN

CAPTURES = Path(__file__).resolve().parents[1] / "captures"


def two_connections() -> bytes:
    """Ethernet/IPv4 frames, 10 ms apart:

    frames 1-9   connection 0, 10.0.0.1:40000 -> 10.0.0.2:80: handshake, 5 bytes each way,
                 client FIN first, server FIN, last ACK (an orderly close)
    frames 10-11 connection 1, 10.0.0.1:40001 -> 10.0.0.2:81: SYN answered by RST+ACK (refused)
    frame 12     a UDP datagram at 1 s (skipped as not_tcp)
    """
    c = Conversation(client=("10.0.0.1", 40000), server=("10.0.0.2", 80))
    c.syn(0.00).synack(0.01).ack(CLIENT, 0.02).data(CLIENT, 0.03, 5).data(SERVER, 0.04, 5)
    c.fin(CLIENT, 0.05).ack(SERVER, 0.06).fin(SERVER, 0.07).ack(CLIENT, 0.08)
    r = Conversation(1, 7000, 0, client=("10.0.0.1", 40001), server=("10.0.0.2", 81))
    r.syn(0.09).send(SERVER, 0.10, RST | ACK, seq=0, window=0)

    def datagram() -> list[tuple[int, bytes]]:
        return [(10**9, ethernet(ipv4(udp(payload=b"x"), "10.0.0.1", "10.0.0.2", proto=17)))]

    return pcap_bytes(c, r, extra=datagram)


def two_connections_pcap(path: Path) -> Path:
    path.write_bytes(two_connections())
    return path


# --- tests/captures/*.pcap: the packet patterns behaviour tests need ----------------------


def last_ack_fin_retries() -> bytes:
    """The passive closer's FIN retransmitted in LAST_ACK (pattern first seen in zeek/socks.pcap).

    7 SYNs (1 s apart, then 2 s: linear, then doubling) before the SYN+ACK (frames 1-8), the
    handshake ACK (9), 9 request/response rounds (10-45), the server's FIN (46), the client's
    ACK and FIN (47, 48), then the client's FIN alone 5 more times, the gaps backing off
    (49-53): the server's last ACK never came.
    """
    c = Conversation(client=("10.0.0.55", 53994), server=("192.0.2.214", 8124))
    syn_times = (0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 7.0)
    for t in syn_times:
        c.syn(t, wscale=1)
    c.synack(9.45, wscale=0).ack(CLIENT, 9.4501)
    t = 9.4502
    c.data(CLIENT, t, 3).ack(SERVER, t + 0.4).data(SERVER, t + 0.6, 2).ack(CLIENT, t + 0.6001)
    for length in (21, 553, 551, 552, 503, 553, 571, 553):
        t += 0.7
        c.data(CLIENT, t, length).ack(SERVER, t + 0.4)
        c.data(SERVER, t + 0.55, 207).ack(CLIENT, t + 0.5501)
    t += 2.0
    c.fin(SERVER, t).ack(CLIENT, t + 0.0001).fin(CLIENT, t + 0.0002)
    fin_seq = c.nxt(CLIENT) - 1
    for gap in (24.0, 48.0, 64.0, 64.0, 64.0):
        t += gap
        c.fin(CLIENT, t, seq=fin_seq)
    return pcap_bytes(c)


def data_behind_its_fin() -> bytes:
    """Data reordered behind its own FIN at the capture point (first seen in arkime/aerospike.pcap).

    A client-side tap: handshake (frames 1-3), a request (4) whose answer and the server's FIN
    the capture missed (only the client's ACKs of them: 5, 6), then the client's next request
    and FIN leave 9 us apart but the FIN is captured first (7) and the data after it (8): data
    never seen before, not a retransmission. The server, closed, answers with RST, captured
    twice (9, 10).
    """
    c = Conversation(client=("10.0.0.1", 53226), server=("10.0.0.2", 3000))
    c.syn(0.0, wscale=5).synack(0.0006, wscale=7).ack(CLIENT, 0.0039)
    c.data(CLIENT, 7.9306, 43)
    c.data(SERVER, 7.9330, 40, captured=False)
    c.ack(CLIENT, 7.9354)
    c.fin(SERVER, 68.8900, captured=False)
    c.ack(CLIENT, 68.8937)
    request = c.nxt(CLIENT)
    c.fin(CLIENT, 74.680030, seq=request + 43)
    c.data(CLIENT, 74.680039, 43, seq=request)
    server_seq = c.nxt(SERVER)
    for t in (74.680280, 74.680281):
        c.send(SERVER, t, RST, seq=server_seq, ack=0, window=0, ip_id=0)
    return pcap_bytes(c)


def crossed_fins_then_rsts() -> bytes:
    """Both FINs cross, then 3 RSTs (first seen in zeek/postgresql/psql-aws-ssl-require.pcap).

    Handshake (frames 1-3), 10 request/response rounds (4-23), the client's last request
    (24) and its FIN with the final bytes (25); the server's answer to the request (26)
    arrives after the client's close(), so the client resets (27); the server's FIN (28),
    sent before it saw the client's, draws a second client RST (29); the server's RST (30).
    """
    c = Conversation(client=("10.0.0.132", 36934), server=("192.0.2.167", 5432))
    c.syn(0.0, wscale=7).synack(0.115, wscale=10).ack(CLIENT, 0.1150)
    t = 0.1154
    for k in range(10):
        c.data(CLIENT, t, 8 + 10 * k).data(SERVER, t + 0.115, 40 + k)
        t += 0.116
    c.data(CLIENT, t, 34)
    c.send(CLIENT, t + 0.0001, FIN | ACK, length=31)
    answered = c.nxt(CLIENT) - 32  # the server has not seen the last 31 bytes nor the FIN yet
    c.data(SERVER, t + 0.11, 31, ack=answered)
    c.send(CLIENT, t + 0.1101, RST, ack=0, window=0)
    c.send(SERVER, t + 0.113, FIN | ACK, ack=answered)
    c.send(CLIENT, t + 0.1131, RST, ack=0, window=0)
    c.send(SERVER, t + 0.1165, RST, seq=c.nxt(SERVER) - 32, ack=0, window=0)
    return pcap_bytes(c)


def probe_shaped_ack_85ms_after_data() -> bytes:
    """A 0-byte ACK at snd.nxt - 1, 85 ms after data (first seen in pcapplusplus example.pcap).

    Handshake (frames 1-3), a request and its answer (4-7), 10 server segments of 1348 bytes
    each ACKed by the client (8-27); 85 ms later the server sends 0 bytes at snd.nxt - 1 with a
    larger window (28: a window update shaped like a keepalive probe) and the client ACKs it
    (29); the transfer goes on (30-35). Keepalive idle and interval are >= 1 s on Linux, so
    this is no keepalive.
    """
    c = Conversation(client=("10.0.0.6", 43212), server=("192.0.2.162", 80))
    c.syn(0.0, wscale=4).synack(0.1007, wscale=7, window=14480).ack(CLIENT, 0.1008, window=913)
    c.data(CLIENT, 0.2502, 413, window=913).ack(SERVER, 0.3511, window=122)
    c.data(SERVER, 0.3518, 302, window=122).ack(CLIENT, 0.3519, window=980)
    t = 0.3526
    for _ in range(10):
        c.send(SERVER, t, ACK, length=1348, window=122).ack(CLIENT, t + 0.00001, window=1161)
        t += 0.0007
    t += 0.085
    c.probe(SERVER, t, window=512).ack(CLIENT, t + 0.00007, window=2247)
    for _ in range(3):
        t += 0.0017
        c.send(SERVER, t, ACK, length=1348, window=512).ack(CLIENT, t + 0.00002, window=2428)
    return pcap_bytes(c)


def client_side_only() -> bytes:
    """Only the client's packets, one of them missing too (first seen in pcapplusplus
    unidirectional_tcp_stream_with_missing_packet.pcap).

    The SYN (frame 1), the handshake ACK (2): the SYN+ACK arrived though the capture lacks it;
    a request of 1420 + (1420 not captured) + 31 bytes (3, 4) and ACKs of the server's answer
    (5, 6); 15 s later a second request of 5 segments (7-11) and ACKs of 6916 more server bytes
    (12-14). No FIN or RST: the connection is open at the end.
    """
    c = Conversation(client=("10.0.0.1", 61541), server=("192.0.2.80", 80))
    c.syn(0.0, wscale=8, window=8192)
    c.synack(0.0155, wscale=8, captured=False).ack(CLIENT, 0.01564, window=260)
    c.send(CLIENT, 0.01626, ACK, length=1420, window=260)
    c.send(CLIENT, 0.01627, ACK, length=1420, window=260, captured=False)
    c.data(CLIENT, 0.01628, 31, window=260)
    for t, length in ((0.1964, 2720), (0.2139, 2808)):
        c.data(SERVER, t, length, captured=False).ack(CLIENT, t + 0.0001, window=260)
    t = 15.440755
    for length in (1420, 1420, 1420, 1420, 1397):
        c.send(CLIENT, t, ACK, length=length, window=260)
        t += 0.000004
    for t, length in ((15.6575, 2720), (15.6594, 2720), (15.6604, 1476)):
        c.data(SERVER, t, length, captured=False).ack(CLIENT, t + 0.0001, window=260)
    return pcap_bytes(c)


def server_side_only() -> bytes:
    """Only the servers' packets of two short connections (first seen in zeek one-sided-2745.pcap).

    Each: the SYN+ACK (frames 1, 4), the server's ACK of the client's request (2, 5), then its
    FIN whose ack covers the client's FIN (3, 6): the client closed first, and neither the
    client's packets nor the last ACK are in the capture.
    """
    conversations = []
    for conn, (server, start, request) in enumerate(
        ((("192.0.2.133", 1433), 0.0, 52), (("192.0.2.131", 281), 100.0, 67))
    ):
        c = Conversation(conn, client=("10.0.0.9", 2745), server=server, window=16430)
        c.syn(start, wscale=0, captured=False).synack(start + 0.0001, wscale=0)
        c.ack(CLIENT, start + 0.0002, captured=False)
        c.data(CLIENT, start + 0.0003, request, captured=False).ack(SERVER, start + 0.04)
        c.fin(CLIENT, start + 10.5, captured=False).fin(SERVER, start + 10.59)
        c.ack(CLIENT, start + 10.6, captured=False)
        conversations.append(c)
    return pcap_bytes(*conversations)


def wrong_handshake_acks() -> bytes:
    """Handshakes answered with the wrong ACK number (first seen in arkime
    tcp_handshake_synthetic.pcap, itself crafted), one connection each, 100 ms apart:

    0 (frames 1-3)    a normal handshake
    1 (frames 4-8)    the client's ACK acknowledges a number far from the server's ISN + 1
                      (6); the server retransmits its SYN+ACK twice (7, 8)
    2 (frames 9, 10)  SYN, SYN+ACK, nothing more
    3 (frames 11-13)  a new SYN on connection 2's ports, answered by a bare ACK for the older
                      connection (a challenge ACK, 12) and then a SYN+ACK carrying that ack (13)
    4 (frames 14-17)  a wrong ACK (16), then the client's own RST (17)
    """
    client, server = "192.0.2.10", ("198.51.100.5", 8080)

    def conn(cid: int, port: int, cisn: int, sisn: int) -> Conversation:
        return Conversation(cid, cisn, sisn, window=8192, client=(client, port), server=server)

    def syn(c: Conversation, t: float) -> Conversation:
        return c.send(CLIENT, t, SYN, seq=c.client_isn)  # no options

    def synack(c: Conversation, t: float, ack: int | None = None) -> Conversation:
        return c.send(SERVER, t, SYN | ACK, seq=c.server_isn, ack=ack, window=65535)

    c0 = conn(0, 40001, 11_000, 61_000)
    syn(c0, 0.0)
    synack(c0, 0.001).ack(CLIENT, 0.002)
    c1 = conn(1, 40002, 12_000, 62_000)
    syn(c1, 0.1)
    synack(c1, 0.101).ack(CLIENT, 0.102, ack=c1.server_isn + 994_000)
    synack(c1, 0.15)
    synack(c1, 0.25)
    c2 = conn(2, 40003, 13_000, 63_000)
    syn(c2, 0.3)
    synack(c2, 0.301)
    c3 = conn(3, 40003, 2_500_000_000, 64_000)
    syn(c3, 0.4)
    stale = c2.client_isn + 1  # what the server still expects on these ports
    c3.send(SERVER, 0.401, ACK, seq=c2.server_isn + 1, ack=stale, window=65535)
    synack(c3, 0.5, ack=stale)
    c4 = conn(4, 40004, 14_000, 64_000)
    syn(c4, 0.6)
    synack(c4, 0.601).ack(CLIENT, 0.602, ack=c4.server_isn + 123_448_790)
    c4.send(CLIENT, 0.7, RST, ack=0)
    return pcap_bytes(c0, c1, c2, c3, c4)


def fin_before_synack() -> bytes:
    """A FIN sent before the handshake completed, then a RST (first seen in zeek
    fin_retransmission.pcap).

    SYN (frame 1); the client's bare FIN at its ISN 290 ms later (2); the SYN+ACK (3); the
    client's FIN+ACK at seq = ISN, answering it (4); the server's RST 300 ms later (5).
    """
    c = Conversation(client=("10.0.0.117", 55344), server=("192.0.2.62", 443))
    c.syn(0.0, wscale=4, timestamps=(1_000_000, 0))
    c.send(CLIENT, 0.2907, FIN, seq=c.client_isn, ack=0, timestamps=(1_000_290, 0))
    c.send(SERVER, 0.3049, SYN | ACK, seq=c.server_isn, mss=1360, wscale=4, window=8190)
    c.send(CLIENT, 0.3071, FIN | ACK, seq=c.client_isn, window=16384)
    c.send(SERVER, 0.6104, RST, seq=c.server_isn + 1, ack=123_456_789, window=8201)
    return pcap_bytes(c)


#: tests/captures/NAME.pcap -> the function that writes it.
GENERATORS: dict[str, Callable[[], bytes]] = {
    "last-ack-fin-retries.pcap": last_ack_fin_retries,
    "data-behind-its-fin.pcap": data_behind_its_fin,
    "crossed-fins-then-rsts.pcap": crossed_fins_then_rsts,
    "probe-shaped-ack-85ms-after-data.pcap": probe_shaped_ack_85ms_after_data,
    "client-side-only.pcap": client_side_only,
    "server-side-only.pcap": server_side_only,
    "wrong-handshake-acks.pcap": wrong_handshake_acks,
    "fin-before-synack.pcap": fin_before_synack,
}


def main() -> None:
    CAPTURES.mkdir(exist_ok=True)
    for name, make in GENERATORS.items():
        (CAPTURES / name).write_bytes(make())
        print(f"wrote {CAPTURES / name}")


if __name__ == "__main__":
    main()
