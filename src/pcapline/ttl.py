"""IP TTLs as evidence of where a packet was sent from.

Kernel rule: a host starts every packet it sends with one TTL (Linux and macOS
``net.ipv4.ip_default_ttl`` 64, Windows 128, many network devices 255; 32 on a few old
stacks) and each router on the way takes one off (``ip_forward`` decrements before the
packet leaves). So a TTL that arrives names its initial TTL (the lowest in use at or above
it: paths are far shorter than the gaps between them) and how many routers it crossed.
A packet that arrives with an initial TTL itself crossed no router: it was sent by the
capturing host (``tcpdump -i any`` on a router sees its own packets leave) or by a device
on the captured link.
"""

from __future__ import annotations

#: Initial TTLs in use (a host's guessed from the first at or above what arrived).
INITIAL_TTLS = (32, 64, 128, 255)
#: Initial TTLs an arriving TTL can be only as sent: 32 is also 64 after 32 hops.
UNROUTED_TTLS = (64, 128, 255)


def initial_ttl(ttl: int) -> int:
    """The initial TTL a TTL that arrived was sent with (the lowest in use at or above it)."""
    return next((start for start in INITIAL_TTLS if ttl <= start), 255)


def hops_closer(ttl: int, farther_ttl: int) -> str:
    """Words for a sender ``ttl - farther_ttl`` hops closer to the capture point than the
    one whose packets arrive with ``farther_ttl`` (same initial TTL), naming a sender whose
    packet crossed no router."""
    closer = ttl - farther_ttl
    words = f"{closer} hop{'s' if closer != 1 else ''} closer to the capture point"
    if ttl in UNROUTED_TTLS:
        words += (
            f", with no router between them ({ttl} is a starting TTL): the capturing host "
            "itself or a device on its link"
        )
    return words


__all__ = ["INITIAL_TTLS", "UNROUTED_TTLS", "hops_closer", "initial_ttl"]
