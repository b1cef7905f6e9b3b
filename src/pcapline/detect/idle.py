"""Idle: the first segment after a long silence went unanswered or drew a RST.

Kernel and middlebox rules: a stateful middlebox (Linux conntrack, a NAT gateway, a cloud
load balancer, a firewall) keeps per-connection state with an idle timeout
(``nf_conntrack_tcp_timeout_established``, 5 days by default; AWS NAT gateway 350 s, Azure
load balancer 4 min, GCP Cloud NAT 20 min; firewalls often 30-60 min). An established
connection silent longer than that loses its state; the next segment is then dropped as
invalid (``ct state invalid drop``, conntrack with ``nf_conntrack_tcp_loose=0``, a NAT with no
mapping) or answered by the middlebox with a RST in the peer's name. The endpoints know
nothing: the sender retransmits with backoff (``tcp_retries2``) or gets the RST. Keepalive
probes shorter than the timeout keep the state alive.

The wire signature: the connection was established and quiet in both directions for at least
``MIN_IDLE_S``, everything before the silence was acknowledged, and the first segment after it
was never acknowledged by the peer (its answer, if any, was a RST). This detector reports the
longest such silence; the cause recogniser (``pcapline.causes``) decides whether the fate
fits it.

Emits: idle_gap (at the first segment after the silence, when it went unanswered).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pcapline.detect import NOTHING, Batch, ConnView, Detection, Detector
from pcapline.model import EventKind, Side

EMITS = frozenset({EventKind.IDLE_GAP})

#: The shortest silence we report: conntrack's timeout can be set this low, and real
#: middleboxes' idle timeouts are minutes; a shorter silence is an application's think time.
MIN_IDLE_S = 5.0


@dataclass(frozen=True, slots=True)
class IdleGap:
    """A long silence after which the first segment was never acknowledged."""

    gap_s: float  # both directions silent this long
    before_frame: int  # the last segment before it
    after_frame: int  # the first segment after it
    after_side: Side  # who spoke first after it
    peer_rst_frame: int | None  # the RST (in the peer's name) that answered it, if one did


def detect(view: ConnView) -> Detection[IdleGap | None]:
    if not view.batch.of(_long_silence)[view.at]:
        return NOTHING
    n = len(view)
    if n < 3 or not view.syn.any():
        return NOTHING  # no handshake captured: "established" is not known
    gaps = np.diff(view.time_ns) / 1e9
    i = int(np.argmax(gaps))
    if gaps[i] < MIN_IDLE_S:
        return NOTHING
    after = i + 1
    side = bool(view.from_client[after])
    if view.syn[: after + 1].any() and not _established(view, after):
        return NOTHING
    if (view.seg_len[after] == 0 and not view.fin[after]) or view.is_retrans[after]:
        return NOTHING  # a bare ACK needs no answer; a resend ends a backoff
    if not _all_acknowledged(view, after):
        return NOTHING  # a silence with data in flight is a stall, not idle
    peer_after = np.flatnonzero(view.from_client[after + 1 :] != side) + after + 1
    acked = peer_after[
        view.ack[peer_after]
        & ~view.rst[peer_after]
        & (view.rel_ack[peer_after] > view.rel_seq[after])
    ]
    if len(acked):
        return NOTHING
    rsts = peer_after[view.rst[peer_after]]
    gap = IdleGap(
        gap_s=float(gaps[i]),
        before_frame=int(view.frame[i]),
        after_frame=int(view.frame[after]),
        after_side=view.side(after),
        peer_rst_frame=int(view.frame[rsts[0]]) if len(rsts) else None,
    )
    note = f"first segment after {gap.gap_s:.1f} s idle, never acknowledged"
    return Detection((view.event(after, EventKind.IDLE_GAP, note, gap.gap_s),), gap)


def _long_silence(batch: Batch) -> list[bool]:
    """Per connection of a batch: a silence of at least ``MIN_IDLE_S`` between two of its
    rows (without one, ``detect`` has nothing to say)."""
    t = batch.rows.time_ns
    long = np.zeros(len(t), dtype=bool)  # per row: a long silence before it
    long[1:] = (np.diff(t) / 1e9) >= MIN_IDLE_S  # the same float test as ``detect``'s
    long[batch.starts[:-1][batch.starts[:-1] < len(t)]] = False  # a connection's first row
    return batch.any(long)


def _all_acknowledged(view: ConnView, upto: int) -> bool:
    """Before row ``upto``, each side's data and FINs were acknowledged by the other."""
    before = np.arange(len(view)) < upto
    for side in (True, False):
        sent = before & (view.from_client == side) & ((view.seg_len > 0) | view.fin)
        if not sent.any():
            continue
        acks = before & (view.from_client != side) & view.ack & ~view.rst
        if not acks.any() or view.rel_ack[acks].max() < view.seq_end[sent].max():
            return False
    return True


def _established(view: ConnView, upto: int) -> bool:
    """The handshake completed before row ``upto``: a client ACK of the server's SYN."""
    rows = np.arange(upto)
    return bool(np.any(view.from_client[rows] & view.ack[rows] & ~view.syn[rows]))


# No screen: an unanswered segment is retransmitted (the retransmit screen) or drew a RST
# (the close screen).
DETECTOR: Detector[IdleGap | None] = Detector("idle", EMITS, detect)

__all__ = ["DETECTOR", "MIN_IDLE_S", "IdleGap"]
