"""Path MTU: full-size segments that never get through while smaller ones do.

Kernel rules (RFC 1191, RFC 8201, RFC 4821; Linux ``tcp_mtu_probing``):

- Linux sends TCP with DF set (IPv6 never fragments on the path): a segment larger than a
  link on the path is dropped by that router, which answers with ICMP fragmentation needed /
  packet too big naming the MTU; the sender lowers its MSS and resends at once. When that ICMP
  is filtered (a firewall dropping all ICMP, an asymmetric tunnel), nothing comes back: a
  path-MTU black hole. Small segments (a request, ACKs) still cross; every full-size one is
  lost, and the sender retransmits it at full size with exponential backoff until
  ``tcp_retries2`` gives up.
- With ``net.ipv4.tcp_mtu_probing=1`` the kernel enables MTU probing after ``tcp_retries1``
  (3) timeouts and falls back to ``tcp_base_mss`` (1024): the resends shrink and get through,
  the connection recovers after seconds (slow, not failed); with ``=2`` it probes from the
  start.

The wire signature, per sending side: its segments up to some size were acknowledged, then the
first segment of the largest size it ever sent (full size, larger than everything acknowledged
and than ``SMALLEST_PATH_MSS``, which practically every path carries) was sent 3+ times at that size without
the peer acknowledging any byte of it. ``recovered``
when a smaller resend of those bytes followed and the peer acknowledged them. Whether an ICMP
arrived is not this detector's business (``Evidence.icmp``): the recogniser in
``pcapline.causes`` reads both. Segments captured before segmentation offload (super-segments)
say nothing about the wire: no signature then.

Emits: pmtu_stall (at the first unacknowledged full-size transmission).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pcapline.detect import NOTHING, Batch, ConnView, Detection, Detector
from pcapline.facts import reduce_per_connection
from pcapline.model import EventKind, Side

EMITS = frozenset({EventKind.PMTU_STALL})

#: Payload bytes every path carries: Linux MTU probing falls back to ``tcp_base_mss`` (1024)
#: after ``tcp_retries1`` timeouts because RFC 4821 (7.2) takes 1024 as the floor of its
#: search, a size practically every path carries (IPv6 guarantees 1280-byte packets, RFC 8200
#: 5). A sender's largest segment no larger than this did not stall on the path's MTU: a
#: 300-byte request after an idle gap, never acknowledged, met a box that dropped it (an
#: expired conntrack entry) or a peer that is gone, whatever size it was.
SMALLEST_PATH_MSS = 1024

#: Full-size transmissions of the same bytes, none acknowledged, before we call it a stall:
#: the original and two timer-driven resends (one loss is ordinary, the backoff repairs it).
MIN_UNANSWERED = 3


@dataclass(frozen=True, slots=True)
class PathMtuStall:
    """Full-size segments the peer never acknowledged while smaller ones got through."""

    side: Side  # who sent them
    full_size: int  # payload bytes of the unacknowledged segment
    largest_acked: int  # the largest payload of this side the peer had acknowledged before
    first_frame: int  # its first transmission
    unanswered: int  # transmissions of those bytes at full size, none acknowledged
    shrunk_frame: int | None  # a smaller resend of the same bytes (MTU probing, a lower MSS)
    shrunk_to: int | None  # its payload bytes
    recovered_frame: int | None  # the peer's ACK of those bytes after the smaller resend
    stall_s: float  # first transmission -> recovery ACK (or -> the last full-size resend)


def detect(view: ConnView) -> Detection[PathMtuStall | None]:
    if not view.batch.of(_resent_enough)[view.at]:
        return NOTHING
    if np.any(view.super_segment):
        return NOTHING
    for side in (True, False):
        stall = _stall(view, side)
        if stall is not None:
            i = int(np.flatnonzero(view.frame == stall.first_frame)[0])
            note = (
                f"{stall.full_size} B segments never acknowledged, "
                f"{stall.largest_acked} B ones were"
            )
            return Detection((view.event(i, EventKind.PMTU_STALL, note),), stall)
    return NOTHING


def _resent_enough(batch: Batch) -> list[bool]:
    """Per connection of a batch: no super-segment, and a side that sent the first of its
    largest segments MIN_UNANSWERED times at that size, what a stall needs (without,
    ``_stall`` finds none).

    ``_stall``'s full-size copies are that side's data segments of its largest size
    starting where the first of them starts: each after the first resends bytes already
    sent, so it is a retransmission (``facts.is_retrans``; ``facts._reordered`` only spares
    bytes never sent before). On a lossy capture most connections resend something, few the
    same full-size segment again and again: this keeps ``_stall`` off the others."""
    r = batch.rows
    enough = np.zeros(len(batch.starts) - 1, dtype=bool)
    for side in (True, False):
        mine = (r.from_client == side) & (r.seg_len > 0) & ~r.is_dup & ~r.rst  # ``_stall``'s
        largest = reduce_per_connection(
            np.maximum, np.where(mine, r.seg_len, 0), batch.starts, empty=0, dtype=np.int64
        )
        full = mine & (r.seg_len == largest[batch.conn_index])
        # the first full-size segment's seq (-1: the side sent no data, nothing matches)
        start = batch.at_rows(r.rel_seq, batch.first(full), -1)
        copies = full & r.is_retrans & (r.rel_seq == start[batch.conn_index])
        enough |= batch.count(copies) >= MIN_UNANSWERED - 1
    found: list[bool] = (enough & (batch.count(r.super_segment) == 0)).tolist()
    return found


def _stall(view: ConnView, side: bool) -> PathMtuStall | None:
    # A stall is MIN_UNANSWERED full-size copies of the same bytes: every copy after the first
    # is a retransmission (facts.is_retrans), so a side with fewer resends shows none.
    if np.count_nonzero(view.is_retrans & (view.from_client == side)) < MIN_UNANSWERED - 1:
        return None
    mine = (view.from_client == side) & (view.seg_len > 0) & ~view.is_dup & ~view.rst
    rows = np.flatnonzero(mine)
    if not len(rows):
        return None
    full = int(view.seg_len[rows].max())
    if full <= SMALLEST_PATH_MSS:
        return None  # practically every path carries it: its loss is no MTU's
    big = rows[view.seg_len[rows] == full]
    first = int(big[0])
    start = int(view.rel_seq[first])
    peer = np.flatnonzero((view.from_client != side) & view.ack)
    # What the peer had acknowledged before the first full-size segment: only smaller ones.
    before = rows[rows < first]
    acked_before = before[view.seq_end[before] <= view.snd_una[first]]
    largest_acked = int(view.seg_len[acked_before].max()) if len(acked_before) else 0
    if largest_acked == 0 or largest_acked >= full:
        return None
    # The peer's ACKs that cover the first byte of it, ever (none: never acknowledged).
    covering = peer[(peer > first) & (view.rel_ack[peer] > start)]
    acked_at = int(covering[0]) if len(covering) else len(view)
    copies = rows[(view.rel_seq[rows] == start) & (rows < acked_at)]
    full_copies = copies[view.seg_len[copies] >= full]
    if len(full_copies) < MIN_UNANSWERED:
        return None
    smaller = copies[view.seg_len[copies] < full]
    shrunk = int(smaller[0]) if len(smaller) else None
    if shrunk is None and acked_at < len(view):
        return None  # a full-size copy got through after all: loss, not a size limit
    recovered = acked_at if shrunk is not None and acked_at < len(view) else None
    end = recovered if recovered is not None else int(full_copies[-1])
    return PathMtuStall(
        side=view.side(first),
        full_size=full,
        largest_acked=largest_acked,
        first_frame=int(view.frame[first]),
        unanswered=len(full_copies),
        shrunk_frame=int(view.frame[shrunk]) if shrunk is not None else None,
        shrunk_to=int(view.seg_len[shrunk]) if shrunk is not None else None,
        recovered_frame=int(view.frame[recovered]) if recovered is not None else None,
        stall_s=view.seconds(first, end),
    )


# No screen: a stall means retransmissions, which the retransmit detector's screen selects.
DETECTOR: Detector[PathMtuStall | None] = Detector("path_mtu", EMITS, detect)

__all__ = ["DETECTOR", "MIN_UNANSWERED", "PathMtuStall"]
