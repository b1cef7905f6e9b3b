"""Copies of segments without IP ID (IPv6) seen at two capture points (duplicates.py).

A real kernel's IPv6 bulk download through a router with a tbf queue (20 Mbit/s, 50 ms
latency) on its client-facing egress, captured with ``tcpdump -i any`` on the router: each
packet seen as it comes in (hop limit 64) and again as it leaves (63), the server's data up
to tens of milliseconds later, behind the queue. IPv6 has no IP ID; with TCP timestamps off
nothing but the hop limit tells a copy from a resend. Counted as new packets, the copies
of the server's data (2,062 in two connections) read as 1,243 retransmissions where the
server sent 212 (642 of them "tail loss probes"), while 462 real duplicate ACKs within a
millisecond of their twins read as copies. Each hop limit is a capture point that sees each
transmission once: a resend, or a second duplicate ACK, is seen there again, a copy is not.
"""

from __future__ import annotations

from builders.conversation import CLIENT, SERVER, Conversation
from builders.segments import segments

from pcapline.facts import compute_facts
from pcapline.model import ACK


def _at_two_points(c: Conversation, side: bool, t: float, queue: float, **kw: object) -> None:
    """One packet of ``side`` (IP ID 0, no timestamp) seen nearer its sender (TTL 64) and,
    ``queue`` seconds later, past the router (63); ``queue`` None: lost in between."""
    seq = kw.pop("seq", c.nxt(side))
    c.send(side, t, ACK, ip_id=0, ttl=64, seq=seq, **kw)  # type: ignore[arg-type]
    if queue is not None:
        c.send(side, t + queue, ACK, ip_id=0, ttl=63, seq=seq, **kw)  # type: ignore[arg-type]


def test_unnumbered_copies_behind_a_queue_are_copies_and_resends_are_not() -> None:
    c = Conversation().handshake(0.0)
    _at_two_points(c, SERVER, 0.01, 0.03, length=1448)  # a copy 30 ms later
    lost = c.nxt(SERVER)
    _at_two_points(c, SERVER, 0.011, None, length=1448)  # dropped by the router's queue
    _at_two_points(c, SERVER, 0.012, 0.03, length=1448)
    # The client's two duplicate ACKs (identical: no SACK), 100 us apart, each seen twice.
    _at_two_points(c, CLIENT, 0.045, 0.00002, ack=lost)
    _at_two_points(c, CLIENT, 0.0451, 0.00002, ack=lost)
    _at_two_points(c, SERVER, 0.3, 0.0005, length=1448, seq=lost)  # the resend
    f = compute_facts(segments(c))
    rows = f.is_dup.tolist()[3:]  # in time order
    assert rows == [
        False,  # data 1 at 64
        False,  # data 2 at 64 (dropped behind the router: not seen at 63)
        False,  # data 3 at 64
        True,  # data 1 at 63, 30 ms later: a copy
        True,  # data 3 at 63: a copy
        False,  # dupACK 1 at 64
        True,  # its copy at 63
        False,  # dupACK 2 at 64: a second transmission, not a copy of the first
        True,  # its copy at 63
        False,  # the resend of data 2 at 64
        True,  # ... and its copy at 63
    ]
    assert f.is_retrans.tolist()[3:].count(True) == 1  # the resend alone


def test_unnumbered_copies_at_one_ttl_keep_the_time_rule() -> None:
    """One TTL for the direction (a bridge, a veth pair on ``-i any``): the 1 ms rule alone,
    as before (two points are not told apart)."""
    c = Conversation().handshake(0.0)
    c.send(SERVER, 0.01, ACK, ip_id=0, length=100)
    c.send(SERVER, 0.01001, ACK, ip_id=0, length=100, seq=c.nxt(SERVER) - 100)
    c.send(SERVER, 0.3, ACK, ip_id=0, length=100, seq=c.nxt(SERVER) - 100)
    assert compute_facts(segments(c)).is_dup.tolist()[3:] == [False, True, False]


def test_duplicate_acks_without_ip_id_are_two_acks_not_a_copy() -> None:
    """One capture point (one TTL), IPv6: a receiver answers each segment above a hole at
    once with a duplicate ACK, a fraction of a millisecond apart on a fast path. An ACK is
    never resent: the peer's out-of-order segment between two identical ones, or their SACK
    blocks ending apart, make them two; a copy (``-i any`` over a bridge) comes with nothing
    of that between, and repeats its SACK block."""
    c = Conversation().handshake(0.0)
    c.data(SERVER, 0.01, 1000, ip_id=0)
    hole = c.nxt(SERVER)
    c.data(SERVER, 0.0101, 1000, ip_id=0, captured=False)  # lost before the capture point
    above = c.nxt(SERVER)
    c.data(SERVER, 0.0102, 1000, ip_id=0)
    c.ack(CLIENT, 0.0103, ack=hole, ip_id=0)  # duplicate ACK 1 (no SACK)
    c.data(SERVER, 0.0104, 1000, ip_id=0)  # out of order: draws ...
    c.ack(CLIENT, 0.0105, ack=hole, ip_id=0)  # ... duplicate ACK 2
    c.ack(CLIENT, 0.01051, ack=hole, ip_id=0)  # a copy of it: nothing between
    c.ack(CLIENT, 0.0106, ack=hole, ip_id=0, sack_edges=(above, above + 2000))
    c.ack(CLIENT, 0.0107, ack=hole, ip_id=0, sack_edges=(above, above + 3000))  # a third
    c.ack(CLIENT, 0.01071, ack=hole, ip_id=0, sack_edges=(above, above + 3000))  # a copy
    dup = compute_facts(segments(c)).is_dup.tolist()[3:]
    assert dup == [False, False, False, False, False, True, False, False, True]
