"""Connections that succeed, slowly: SYNs dropped then retried, a server that answers late.

Slow is not dead: every connection here closes normally, and the capture shows what each
one lost (pcapline's ``delays`` and ``slow`` tags, issue 10).
"""

from __future__ import annotations

from tools.samplegen import steps as st
from tools.samplegen.expected import ETHERNET, Conn, Expected, clean
from tools.samplegen.netns import Pair
from tools.samplegen.scenario import Ctx, run_pair

#: Client ports and how many of each connection's SYNs the server drops. ``numgen inc`` keeps
#: one counter per rule, and each rule sees only its own port's SYNs, so "drop while the
#: counter mod (n+1) < n" drops exactly the first ``n`` SYNs of that connection.
SYN_DROPS: dict[int, int] = {42001: 1, 42002: 2, 42003: 0, 42004: 0, 42005: 1}
#: The server waits this long before answering 42004's request (a slow backend).
SLOW_ANSWER_PORT = 42004
SLOW_ANSWER_S = 1.5


def _drop_first_syns() -> str:
    rules = "\n".join(
        f"    tcp sport {port} tcp flags & (syn | ack) == syn numgen inc mod {n + 1} < {n} drop"
        for port, n in SYN_DROPS.items()
        if n
    )
    return f"""table inet firstsyns {{
  chain in {{
    type filter hook input priority 0;
{rules}
  }}
}}
"""


def syn_retries_succeed(ctx: Ctx, net: int) -> list[Expected]:
    """Five request/response connections, one after the other, captured at the client.

    Kernel rule (net/ipv4/tcp_timer.c): an unanswered SYN is retransmitted after the initial
    RTO of 1 s, doubling (``tcp_syn_linear_timeouts=0``: the pre-6.5 shape): SYNs at 0, 1, 3 s.
    The server host drops the first SYN (42001, 42005) or the first two (42002) of a
    connection with nft, so the handshake completes right after the 2nd or 3rd SYN: connect
    ~1 s or ~3 s after the first SYN. 42003 is the fast control; 42004 connects at once but
    the server sleeps 1.5 s between reading the 100 B request and sending its 1000 B answer.
    """
    name = "slow-syn-retries-then-success.pcap"
    server_ip = f"10.{net}.0.2"
    server: list[st.Step] = [*st.listen()]
    client: list[st.Step] = []
    for k, port in enumerate(SYN_DROPS):
        sock = f"c{k}"
        server += [
            st.accept(sock),
            st.recv(100, sock),
            *([st.sleep(SLOW_ANSWER_S)] if port == SLOW_ANSWER_PORT else []),
            st.send(1000, sock),
            st.recv_eof(sock),
            st.close(sock),
        ]
        csock = f"s{k}"
        client += [
            *st.connect(server_ip, port, sock=csock),
            st.send(100, csock),
            st.recv(1000, csock),
            st.close(csock),
            st.sleep(0.3),
        ]

    def prepare(pair: Pair) -> None:
        pair.client.sysctl("net.ipv4.tcp_syn_linear_timeouts", 0)  # the classic doubling
        pair.server.nft(_drop_first_syns())

    run_pair(ctx, net, name, client, server, prepare=prepare, client_timeout=60)
    connect_s = {0: 0.0, 1: 1.0, 2: 3.0}  # doubling from 1 s: SYNs at 0, 1, 3 s
    conns = []
    for port, drops in SYN_DROPS.items():
        slow = ["syn_retry", "slow_connect"] if drops else []
        delays: dict[str, object] = {"syn_retries": drops, "synack_retries": 0, "rto_episodes": 0}
        delays["connect_s"] = connect_s[drops]
        if port == SLOW_ANSWER_PORT:
            slow = ["slow_response"]
            delays["response_s"] = SLOW_ANSWER_S
        what = {
            0: "no SYN dropped: the fast control"
            if port != SLOW_ANSWER_PORT
            else f"connects at once; the server sleeps {SLOW_ANSWER_S} s before its answer",
            1: "first SYN dropped by the server's nft: retry at 1 s completes the handshake",
            2: "first two SYNs dropped: the retry at 3 s (1 s, then 2 s) completes it",
        }[drops]
        conns.append(
            Conn(
                {"client_port": port},
                "closed",
                closer="client",
                counts=clean(syn_retransmits=drops),
                delays=delays,
                slow=slow,
                note=f"{what}; 100 B request, 1000 B answer, the client closes first",
            )
        )
    return [
        Expected(
            name,
            "five sequential connections; the server drops the first SYN (42001, 42005) or the "
            "first two (42002); 42004's server answers 1.5 s late; all close normally",
            "client",
            {
                "client": {"net.ipv4.tcp_syn_linear_timeouts": 0},
                "server_nft": "input: tcp sport P tcp flags & (syn|ack) == syn numgen inc mod "
                "(n+1) < n drop, per client port P (n = SYNs dropped)",
                "server": f"accept, read 100 B, (42004: sleep {SLOW_ANSWER_S} s), send 1000 B, "
                "read EOF, close()",
            },
            conns,
            capture_format=ETHERNET,
        )
    ]
