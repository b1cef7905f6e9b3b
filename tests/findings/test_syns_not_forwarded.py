"""syns_not_forwarded: SYNs a forwarding host captured with -i any took in and never sent on."""

from __future__ import annotations

from pathlib import Path

from builders.conversation import CLIENT, Conversation, pcap_bytes

import pcapline
from pcapline.findings import syns_not_forwarded
from pcapline.model import SYN


def _forwarded(k: int, t: float) -> Conversation:
    """A connection through the router: each packet captured coming in and going out one hop
    lower (its client's SYN at TTL 64, then 63)."""
    c = Conversation(conn=k, client=("10.0.1.1", 40000 + k), server=("10.0.2.1", 8080))
    c.syn(t, ip_id=500 + k).send(
        CLIENT, t + 5e-6, SYN, seq=c.client_isn, mss=1460, ttl=63, ip_id=500 + k
    )
    c.synack(t + 0.0002, ttl=63).ack(CLIENT, t + 0.0003)
    return c


def _dropped(k: int, t: float, port: int = 8080) -> Conversation:
    """SYNs at 0, 1, 2 s captured coming in only."""
    c = Conversation(conn=k, client=("10.0.1.1", 40000 + k), server=("10.0.2.1", port))
    for retry in range(3):
        c.syn(t + retry, ip_id=600 + 10 * k + retry)
    return c


def _found(tmp_path: Path, *conversations: Conversation) -> list[pcapline.Finding]:
    path = tmp_path / "router-any.pcap"
    path.write_bytes(pcap_bytes(*conversations))
    return [f for f in pcapline.analyze(str(path)).findings if f.kind == syns_not_forwarded.KIND]


def test_syns_seen_only_coming_in_on_a_forwarding_host_are_its_drops(tmp_path: Path) -> None:
    (found,) = _found(tmp_path, _forwarded(0, 0.0), _forwarded(1, 0.1), _dropped(2, 0.2))
    assert found.connections == (2,)
    assert (found.details["server"], found.details["forwarded"]) == ("10.0.2.1:8080", 2)
    assert "the capture host dropped them" in found.summary


def test_without_forwarding_to_that_server_nothing_is_proven(tmp_path: Path) -> None:
    # Another port that nothing was forwarded to (a local service, or a dead route): no
    # proof of a drop here; and a capture without any copy (at the client) proves nothing.
    assert _found(tmp_path, _forwarded(0, 0.0), _dropped(1, 0.2, port=9090)) == []
    assert _found(tmp_path, _dropped(0, 0.0), _dropped(1, 0.2)) == []
