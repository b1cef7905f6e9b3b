"""Connection attempts refused by RST, to many ports or many hosts: the port_scan and
host_sweep finders' unit-test captures."""

from __future__ import annotations

from collections.abc import Sequence

from builders.conversation import CLIENT, SERVER, Conversation, pcap_bytes
from pcapline.model import ACK, RST


def refusals(
    targets: Sequence[tuple[str, int]],
    *,
    clients: int = 1,
    gap_s: float = 0.01,
    opened: tuple[int, ...] = (),
) -> bytes:
    """A SYN to each (address, port) of ``targets``, ``gap_s`` apart, refused by the server
    kernel's RST (those at the places ``opened`` connect and close instead), from ``clients``
    client addresses in turn."""
    convs = []
    for k, server in enumerate(targets):
        client = (f"10.0.1.{1 + k % clients}", 40000 + k)
        c = Conversation(conn=k, client=client, server=server)
        t = gap_s * k
        if k in opened:
            c.handshake(t).fin(CLIENT, t + 0.002).fin(SERVER, t + 0.003).ack(CLIENT, t + 0.004)
        else:
            c.syn(t).send(SERVER, t + 0.0002, RST | ACK, seq=0, window=0)
        convs.append(c)
    return pcap_bytes(*convs)
