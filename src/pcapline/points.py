"""Times of one sender's packets at one capture point, in a capture holding two.

A capture of two points (a client's and a server's capture merged, ``-i any`` on a router)
holds most packets twice, each sighting stamped by its own point's clock; the first
sighting is the row the analysis keeps (the later one is a copy, ``facts.is_dup``). A
packet lost between the points is seen at one point only. When the points' clocks differ
(``quality.clocks_apart_ms``), the time between two packets whose kept rows were seen at
different points carries that difference: a SYN dropped by the router, seen only at the
client's point, then its retry, seen first at the server's point.

Kernel rule: a router lowers the TTL of every packet it forwards by one, and a sender
stamps one TTL on its packets, so the sightings of one sender's packets that carry the
same TTL were seen at the same point. The time between two packets of one sender is then
measured between their sightings at one point, wherever both were seen there: no clock
offset, however large, enters it.
"""

from __future__ import annotations

import numpy as np

from pcapline.facts import SegmentRows


def at_point_of(rows: SegmentRows, lo: int, hi: int, anchor: int, row: int) -> int:
    """The time (ns) of packet ``row``'s sighting at the capture point that saw ``anchor``
    (a packet of the same sender, the same connection's rows ``lo:hi``): ``row``'s own time
    when it carries ``anchor``'s TTL or has no copy with it, else its copy's (``is_dup``:
    the same sender, seq, ack, length, flags, IP ID and TSval)."""
    ttl = int(rows.ttl[anchor])
    if int(rows.ttl[row]) == ttl:
        return int(rows.time_ns[row])
    span = np.arange(row + 1, hi)
    same = span[
        rows.is_dup[span]
        & (rows.ttl[span] == ttl)
        & (rows.from_client[span] == rows.from_client[row])
        & (rows.rel_seq[span] == rows.rel_seq[row])
        & (rows.rel_ack[span] == rows.rel_ack[row])
        & (rows.seg_len[span] == rows.seg_len[row])
        & (rows.flags[span] == rows.flags[row])
        & (rows.ip_id[span] == rows.ip_id[row])
        & (rows.ts_val[span] == rows.ts_val[row])
    ]
    return int(rows.time_ns[same[0]]) if len(same) else int(rows.time_ns[row])


def one_point_times(rows: SegmentRows, lo: int, hi: int, sent: np.ndarray) -> list[int]:
    """Times (ns) of one sender's packets ``sent`` (rows of one connection ``lo:hi``, in
    frame order), each at the point that saw the first of them (``at_point_of``)."""
    if not len(sent):
        return []
    first = int(sent[0])
    return [at_point_of(rows, lo, hi, first, int(r)) for r in sent]
