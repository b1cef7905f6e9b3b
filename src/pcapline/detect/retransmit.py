"""Data retransmission: RTO backoff series versus fast and spurious retransmission.

Kernel rules (tcp-facts.md "ESTABLISHED, busy"; anchors.md 5.3):

- Unacknowledged data is resent when the retransmission timer (RTO) fires. RTO comes from
  the measured RTT (min 200 ms on Linux, max 120 s) and DOUBLES on each consecutive timeout of
  the same segment: the same seq resent at gaps of roughly 0.2, 0.4, 0.8 s ...
- Fast retransmit (after 2-3 duplicate ACKs or SACK) and tail loss probes are normal loss
  recovery: they follow a peer ACK within about an RTT.
- A spurious retransmission resends data the peer had already acknowledged, or data the peer
  reports afterwards as a duplicate with a D-SACK (RFC 2883, net.ipv4.tcp_dsack=1: a SACK
  block at or below the ACK number covering the resend): the earlier copy had arrived, so
  nothing was lost, whatever resent it. A tail loss probe is D-SACKed when the receiver's
  delayed ACK comes after the sender's probe timeout (2 * SRTT + 2 ms with more than one
  segment in flight, tcp_schedule_loss_probe); a timeout when the ACKs were late.
- ``net.ipv4.tcp_retries2`` (15, about 924.6 s of backoff) or ``TCP_USER_TIMEOUT`` end the
  connection; Linux then frees the socket WITHOUT a RST: the wire shows a doubling series of
  the same seq, never acknowledged, then silence. With TCP_USER_TIMEOUT the last gap can be
  shorter than the doubling predicts.

Look-alikes ruled out in ``facts.py``: capture duplicates (same IP ID, within 1 ms), keepalive
and window probes (seq = snd.nxt - 1 / snd.una - 1).

This detector reports the final retransmission series (the one that decides whether the
connection died of it): who sent it, its gaps, whether they double, whether the data was ever
acknowledged, and whether the capture shows the sender giving up or ends mid-backoff.

- A tail loss probe (RFC 8985, net.ipv4.tcp_early_retrans=3) with one segment in flight fires
  2 x SRTT + TCP_RTO_MIN after the send, capped at the RTO (tcp_schedule_loss_probe): on a
  short path at about the RTO's own time. It rearms the RTO without backing it off, so the
  copies read g, g, 2g...: the first is the probe, the backoff counts from the second
  (``_probes_at_rto``).
- An ICMP fragmentation needed / packet too big makes Linux lower the path MTU and resend at
  once in smaller segments (tcp_v4_mtu_reduced / tcp_v6_mtu_reduced -> tcp_simple_retransmit):
  neither a timeout nor a probe (``_after_too_big``, when the capture holds the error; without
  it, an early resend smaller than its copy says the MSS dropped).

Emits: retransmit (RTO), fast_retransmit, spurious_retransmit, fin_retransmit,
retransmit_unknown (no earlier copy captured, or one beyond TCP_RTO_MAX: the capture cannot
show what resent it).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pcapline.detect import (
    Batch,
    ConnView,
    Detection,
    Detector,
    EventColumns,
    EventRows,
    per_connection,
)
from pcapline.detect._backoff import name_schedule
from pcapline.facts import (
    UNKNOWN,
    Facts,
    SegmentRows,
    first_at_least,
    nearest_rows,
    next_peer_ack_cut,
    peer_max_before,
    running_max_before,
)
from pcapline.fmt import seconds
from pcapline.icmp import IcmpError
from pcapline.model import EventKind, Side
from pcapline.timers import (
    RTO_CEILING_S,
    RTO_FLOOR_S,
    RTO_MIN_S,
    SLACK_FRACTION,
    SLACK_S,
    TCP_RETRIES2,
    TCP_RETRIES2_BUDGET_S,
    close_to,
    cut_short,
    next_backoff,
    overdue,
)

EMITS = frozenset(
    {
        EventKind.RETRANSMIT,
        EventKind.FAST_RETRANSMIT,
        EventKind.SPURIOUS_RETRANSMIT,
        EventKind.FIN_RETRANSMIT,
        EventKind.RETRANSMIT_UNKNOWN,
    }
)

#: Data segments per side sampled for the RTT (the first ones: enough for a path RTT, and
#: keeps big transfers cheap).
RTT_SAMPLES = 256
#: How far back (rows) to look for an earlier copy that started at another seq.
SEARCH_BACK_ROWS = 2048
#: A connection with at least this many rows gets its row links alone (``_Links.of``): the
#: batch's column-wise pass saves the per-call cost of small connections, and a long one's
#: own calls cost little next to their work (and it needs no copy of its rows in the pass).
ALONE_ROWS = 1024


@dataclass(frozen=True, slots=True)
class RtoSeries:
    """The last retransmitted segment's transmissions (original first)."""

    side: Side  # who retransmitted
    seq: int  # relative seq of the segment
    frames: tuple[int, ...]
    gaps: tuple[float, ...]  # seconds between consecutive transmissions
    doubling: bool
    acked: bool  # the peer acknowledged it later
    gave_up: bool | None  # silence past the next expected RTO; None: capture ended first
    #: First transmission -> the abort: when the capture shows it (its RST, or silence past
    #: the next RTO: at the latest that timer's expiry), or predicted only when the series
    #: reached the retry limit (tcp_retries2); None: the capture cannot say.
    give_up_after_s: float | None
    user_timeout_shape: bool  # last gap shorter than the doubling predicts
    later_traffic: bool  # the sender sent anything else (not a retransmission) afterwards
    rst_frame: int | None  # a RST from the retransmitting side after the series
    peer_rst_frame: int | None  # a RST from the peer after the series
    fin_only: bool = False  # the resent segment is a bare FIN (no data)
    #: The transmission ending each of ``gaps`` (one per gap; the copy before it in ``frames``
    #: starts the gap): the timer-driven steps, which the report's backoff chart draws.
    step_frames: tuple[int, ...] = ()
    #: The peer had acknowledged the resent bytes before the last copy went out (a spurious
    #: series: its ACKs were lost on the way to the sender, or the capture saw them and the
    #: sender did not): the data reached the peer, whatever came next.
    already_acked: bool = False
    #: The peer's direction is not in the capture: its ACKs cannot be seen. ``acked`` then
    #: means the sender's own ACK number rose afterwards (the peer answered), and a missing
    #: ACK proves nothing (``gave_up`` and ``give_up_after_s`` stay None).
    acks_unseen: bool = False
    #: The first resend, taken for a tail loss probe (``_probe_first``): no step of the
    #: backoff, and named a probe in the events, not a timeout (None: none was).
    probe_frame: int | None = None

    @property
    def retransmissions(self) -> int:
        return len(self.gaps)

    def as_inferred(self) -> dict[str, object]:
        return {
            "series": [round(g, 3) for g in self.gaps],
            "doubling": self.doubling,
            "gave_up": self.gave_up,
            "user_timeout_shape": self.user_timeout_shape,
            "give_up_s": None if self.give_up_after_s is None else round(self.give_up_after_s, 3),
        }


@dataclass(frozen=True, slots=True)
class Retransmissions:
    """Retransmissions in one connection (the detector's ``inferred``)."""

    rto: int
    fast: int
    spurious: int
    fin: int
    last_series: RtoSeries | None
    rtt_ms: float | None  # smallest data -> ACK time (Karn); measured only when there was loss
    #: Resends whose trigger the capture cannot show (``EventKind.RETRANSMIT_UNKNOWN``).
    unknown: int = 0
    #: Of ``fin``: FINs repeated on the ACK of the peer's data or FIN (``_Resends.ack_rose``,
    #: sooner than any timer): no loss.
    fin_on_ack: int = 0
    #: Resends the peer reported as duplicates (D-SACK, RFC 2883; ``_dsacks_of``), whatever
    #: resent them: the bytes had arrived, nothing was lost. Their events are
    #: spurious_retransmit, so they are counted in ``spurious``, not in ``rto`` or ``fast``.
    dsacked: int = 0
    #: Of ``dsacked``: those the retransmission timer sent (a delay longer than the RTO).
    dsacked_timeouts: int = 0
    #: Of ``dsacked``: tail loss probes (RFC 8985): the receiver's ACK came after the
    #: sender's probe timeout (its delayed ACK, a slow return path).
    dsacked_probes: int = 0
    #: Of ``fast``: tail loss probes (RFC 8985; sooner than the minimum RTO, or at about the
    #: RTO's own time with one segment in flight, ``_probes_at_rto``): loss recovery, not a
    #: timeout, and no fast retransmit on duplicate ACKs or SACK either.
    probes: int = 0
    #: Of ``fast``: resends after an ICMP fragmentation needed / packet too big
    #: (``_after_too_big``): the sender lowered its path MTU and resent in smaller segments.
    after_icmp: int = 0
    #: Of ``dsacked``: fast retransmits (on SACK or duplicate ACKs, or clocked out by an ACK):
    #: the path reordered segments, the resent ones were late, not lost. (The rest of
    #: ``dsacked`` resent data already acknowledged, or data whose earlier copy the capture
    #: missed.)
    dsacked_fast: int = 0
    #: Fast retransmits and tail loss probes whose peer's next ACK had its options cut by the
    #: snaplen (``undecided_resends``): spurious or real, the capture cannot tell.
    undecided: int = 0
    #: Of ``dsacked_timeouts``: shown spurious by the timestamp the ACK of their bytes
    #: echoes (an earlier copy's: Eifel, RFC 3522), not by a D-SACK.
    eifel: int = 0

    @property
    def total(self) -> int:
        return self.rto + self.fast + self.spurious + self.fin + self.unknown


def detect(view: ConnView, icmp: Sequence[IcmpError] = ()) -> Detection[Retransmissions]:
    """The connection's retransmissions; ``icmp``: the ICMP errors quoting its segments
    (``pcapline.icmp``): resends after a fragmentation needed / packet too big are named so
    (``_after_too_big``)."""
    if not view.batch.of(_resent_counts)[view.at]:
        return _NONE_RESENT
    linked = _Linked.of(view)
    resends, lo, hi = linked.resends, linked.lo, linked.hi
    kinds, gaps = resends.kind[lo:hi], resends.gap[lo:hi]  # what resent each (``_judged``)
    too_big = [e for e in icmp if e.too_big]
    after_icmp = _after_too_big(view, linked, too_big) if too_big else {}
    if after_icmp:
        kinds = [
            EventKind.FAST_RETRANSMIT if k in after_icmp else kind for k, kind in enumerate(kinds)
        ]
    # Rows the RTO timer sent: timeouts, and FINs resent a timer's gap after the previous copy
    # (a FIN is resent by the same RTO; fin_retransmit names only what was resent). A D-SACKed
    # timeout is still a step of the backoff: the timer fired.
    timed = {
        i
        for i, kind, gap in zip(resends.rows[lo:hi], kinds, gaps, strict=True)
        if kind is EventKind.RETRANSMIT
        or (kind is EventKind.FIN_RETRANSMIT and RTO_FLOOR_S <= gap <= RTO_CEILING_S)
    }  # NaN compares False
    probed = {i for i, p in zip(resends.rows[lo:hi], resends.at_rto[lo:hi], strict=True) if p}
    series = _last_series(view, linked, timed, probed) if linked.series_of >= 0 else None
    events = EventColumns(linked.events, lo, hi, view.conn)
    probe_frame = None if series is None else series.probe_frame
    dsacked = resends.dsacked[lo:hi]
    # The probe's entry (a probe at the RTO's time: ``_probe_first``; -1: none).
    at = -1 if probe_frame is None else linked.events.frame[lo:hi].tolist().index(probe_frame)
    if at >= 0:
        events = _probe_named(events, at)
    if after_icmp:
        events = _renamed(events, after_icmp)
    # The events' kinds: a D-SACKed resend is spurious (``_dsacked_named``), a probe at the
    # RTO's time loss recovery.
    shown = [EventKind(kind) for kind in events.source.kind[events.lo : events.hi].tolist()]
    # What resent the D-SACKed ones: the timer, a tail loss probe (sooner than the minimum
    # RTO, or at the RTO's time: ``_probe_named``), or fast recovery on SACK or duplicate
    # ACKs. A resend of data already acknowledged, or of unknown trigger, is none of them.
    probe = [p and k not in after_icmp for k, p in enumerate(resends.probe[lo:hi])]
    timer = [k is EventKind.RETRANSMIT for k in kinds]
    fast = [k is EventKind.FAST_RETRANSMIT and not p for k, p in zip(kinds, probe, strict=True)]
    if at >= 0:
        probe[at], timer[at], fast[at] = True, False, False  # slices: the batch's stay
    report = Retransmissions(
        rto=shown.count(EventKind.RETRANSMIT),
        fast=shown.count(EventKind.FAST_RETRANSMIT),
        spurious=shown.count(EventKind.SPURIOUS_RETRANSMIT),
        fin=shown.count(EventKind.FIN_RETRANSMIT),
        unknown=shown.count(EventKind.RETRANSMIT_UNKNOWN),
        fin_on_ack=sum(
            kind is EventKind.FIN_RETRANSMIT and e
            for kind, e in zip(kinds, resends.echoed[lo:hi], strict=True)
        ),
        last_series=series,
        rtt_ms=linked.rtt_ms,
        dsacked=sum(dsacked),
        dsacked_timeouts=sum(d and t for d, t in zip(dsacked, timer, strict=True)),
        dsacked_probes=sum(d and p for d, p in zip(dsacked, probe, strict=True)),
        dsacked_fast=sum(d and f for d, f in zip(dsacked, fast, strict=True)),
        undecided=sum(resends.undecided[lo:hi]),
        eifel=sum(resends.eifel[lo:hi]),
        probes=sum(k is EventKind.FAST_RETRANSMIT and p for k, p in zip(shown, probe, strict=True)),
        after_icmp=sum(shown[k] is EventKind.FAST_RETRANSMIT for k in after_icmp),
    )
    return Detection(events, report)


def _after_too_big(view: ConnView, linked: _Linked, errors: list[IcmpError]) -> dict[int, str]:
    """The connection's resends (positions among its ``linked.resends`` entries) that the
    ICMP fragmentation needed / packet too big ``errors`` drew, with their notes.

    Kernel rule (RFC 1191, RFC 8201): Linux sends TCP with DF set; the router that cannot
    forward a segment answers with the error naming its MTU, and the sender lowers its path
    MTU and resends at once in smaller segments (tcp_v4_err -> tcp_v4_mtu_reduced,
    tcp_v6_mtu_reduced -> tcp_simple_retransmit), as many as the window allows, the rest as
    the ACKs come back: no timer and no loss probe sent them. A resend of the side whose
    segment an error quoted, whose earlier copy went out before that error, is one of those
    when it came within about a round trip of the error (the error's way back to the
    sender; 1.5 x the data RTT, at least 20 ms: the RTT is the whole path's), or when it
    resends bytes of a segment an error quoted and was loss recovery, not a timeout (a
    resend clocked out by the ACKs). Not a D-SACKed copy (the bytes had arrived), nor a FIN."""
    resends, lo, hi = linked.resends, linked.lo, linked.hi
    rtt_s = None if linked.rtt_ms is None else linked.rtt_ms / 1e3
    soon_s = max(SLACK_S, 1.5 * rtt_s) if rtt_s is not None else SLACK_S
    quoted = {}  # quoted frame -> (its row)
    for e in errors:
        if e.quoted_frame is not None:
            rows = np.flatnonzero(view.frame == e.quoted_frame)
            if len(rows):
                quoted[e.quoted_frame] = int(rows[0])
    out: dict[int, str] = {}
    for k in range(hi - lo):
        n = lo + k
        kind = resends.kind[n]
        if kind not in (EventKind.FAST_RETRANSMIT, EventKind.RETRANSMIT) or resends.dsacked[n]:
            continue
        side = Side.CLIENT if resends.from_client[n] else Side.SERVER
        t_ns, gap = resends.time_ns[n], resends.gap[n]
        if gap != gap:  # NaN: no earlier copy captured
            continue
        copy_ns = t_ns - round(gap * 1e9)
        mine = [e for e in errors if e.quoted_side is side and copy_ns <= e.time_ns <= t_ns]
        if not mine:
            continue
        seq = resends.seq[n]
        covering = [
            e
            for e in mine
            if e.quoted_frame in quoted
            and view.rel_seq[quoted[e.quoted_frame]] <= seq < view.seq_end[quoted[e.quoted_frame]]
        ]
        # The error that quoted these bytes, else the latest one before the resend.
        why = covering[-1] if covering else mine[-1]
        since = (t_ns - why.time_ns) / 1e9
        if not (since <= soon_s or (covering and kind is EventKind.FAST_RETRANSMIT)):
            continue
        lowered = (
            "tcp_v4_mtu_reduced" if why.kind == "fragmentation_needed" else "tcp_v6_mtu_reduced"
        )
        said = f"frame {why.quoted_frame}" if why.quoted_frame is not None else "a segment"
        out[k] = (
            f"resent {_short(since) if since < 1 else seconds(since)} after the ICMP "
            f"{why.words} of frame {why.frame} (MTU {why.mtu}, from {why.sender}) said "
            f"{said} was too big: the {side} lowered its path MTU and resent in smaller "
            f"segments ({lowered} -> tcp_simple_retransmit"
            + ("" if since <= soon_s else ", the rest as the peer's ACKs came back")
            + "), not a timeout or a tail loss probe"
        )
    return out


def _renamed(events: EventColumns, notes: dict[int, str]) -> EventColumns:
    """The connection's events with the resends at positions ``notes`` named loss recovery
    (fast_retransmit) with those notes: copies of its own, the batch's columns stay as they
    are. (A D-SACKed copy stays spurious: ``_after_too_big`` leaves those out.)"""
    own = events.source.at(np.arange(events.lo, events.hi))
    for k, note in notes.items():
        own.kind[k] = EventKind.FAST_RETRANSMIT.value
        own.note[k] = note
    return EventColumns(own, 0, len(own), events.conn)


def _probe_named(events: EventColumns, k: int) -> EventColumns:
    """The connection's events with its ``k``-th resend named a tail loss probe (loss
    recovery), not a timeout: copies of its own, the batch's columns stay as they are
    (another call on the same batch must find what this one found). (A D-SACKed copy is
    never one: the D-SACK's ACK covers it, so no later timeout is a step of its series.)"""
    own = events.source.at(np.arange(events.lo, events.hi))
    if own.kind[k] != EventKind.RETRANSMIT.value:
        return events  # a bare FIN's copies stay fin_retransmit, whatever resent them
    own.kind[k] = EventKind.FAST_RETRANSMIT.value
    own.note[k] = (
        f"tail loss probe: {own.value[k]:.3f} s after the original; the timeouts double "
        "from it (Linux probes a lone segment in flight at about the RTO's own time and "
        "rearms the timer without backing it off)"
    )
    return EventColumns(own, 0, len(own), events.conn)


#: A connection without a retransmission (most visited ones): one shared, immutable record.
_NONE_RESENT = Detection((), Retransmissions(0, 0, 0, 0, None, None))


def _resent_counts(batch: Batch) -> list[int]:
    """Per connection of the batch: how many retransmissions (``facts.is_retrans``)."""
    counts: list[int] = batch.count(batch.rows.is_retrans).tolist()
    return counts


#: Cells of the (retransmission x candidate copy) table ``_latest_cover`` compares at once:
#: bounds its memory when many copies start near the same seq.
_COVER_CELLS = 1 << 20
#: A resend with more candidate copies by seq than this is searched among the rows of its
#: window instead (at most SEARCH_BACK_ROWS): the work per resend stays bounded.
_SEQ_CANDIDATES = SEARCH_BACK_ROWS


def _covering_copies(view: ConnView, rows: np.ndarray) -> np.ndarray:
    """Per row of ``rows`` (relative): the latest earlier transmission by the same side that
    covered its first byte (-1: none); ``_covering_in`` over this connection's rows."""
    return _covering_in(
        view.rel_seq,
        view.seq_end,
        view.from_client,
        np.zeros(len(view), dtype=np.int64),
        _covers_bytes(view.rel_seq, view.seq_end, view.is_dup, view.probe_shape),
        rows,
    )


def _covers_bytes(
    rel_seq: np.ndarray, seq_end: np.ndarray, is_dup: np.ndarray, probe_shape: np.ndarray
) -> np.ndarray:
    """Per row: a transmission that covers any byte (data, SYN or FIN), capture duplicates
    and probes aside."""
    return np.asarray(~is_dup & ~probe_shape & (seq_end > rel_seq))


def _covering_in(
    rel_seq: np.ndarray,
    seq_end: np.ndarray,
    client: np.ndarray,
    conn: np.ndarray,
    covering: np.ndarray,
    asked: np.ndarray,
) -> np.ndarray:
    """Per row of ``asked``: the latest earlier row of its connection sent by the same side
    with ``covering`` set (``_covers_bytes``) that covered its first byte (-1: none).

    Rows are grouped by connection (``conn``, ascending), frame order inside; all of a batch's
    connections are searched at once. Repacketised segments (the earlier copy started
    elsewhere) are searched among the SEARCH_BACK_ROWS rows before each only: bounded work on
    long transfers, and an older copy means a gap far beyond any RTO the note could help with.
    """
    out = np.full(len(asked), -1, dtype=np.int64)
    tx = np.flatnonzero(covering)
    if not len(asked) or not len(tx):
        return out
    # The candidates of each resend: its (connection, side)'s transmissions in seq order
    # (frame order among equal seqs); the copies that can cover byte ``seq`` start after
    # ``seq`` less that side's longest transmission and at most at ``seq``. When those
    # outnumber the rows of the search window, the transmissions among the window's rows
    # instead (work stays bounded by the window).
    group = conn * 2 + client  # per row: its connection and side
    by_seq = tx[np.lexsort((tx, rel_seq[tx], group[tx]))]
    keys, starts = group[by_seq], rel_seq[by_seq]
    heads = np.flatnonzero(np.append(True, keys[1:] != keys[:-1]))  # each group's first
    longest = np.maximum.reduceat(seq_end[by_seq] - starts, heads)
    lo = np.searchsorted(keys, group[asked], side="left")  # the resend's group: lo:hi
    hi = np.searchsorted(keys, group[asked], side="right")
    reach = np.zeros(len(asked), dtype=np.int64)
    seen = hi > lo
    reach[seen] = longest[np.searchsorted(heads, lo[seen])]
    seq = rel_seq[asked]
    first = first_at_least(starts, lo, hi, seq - reach + 1)
    past = first_at_least(starts, lo, hi, seq + 1)
    near = past - first <= _SEQ_CANDIDATES
    if near.any():
        out[near] = _latest_cover(rel_seq, seq_end, asked[near], by_seq, first[near], past[near])
    if not near.all():
        by_row = tx[np.argsort(group[tx], kind="stable")]  # each group's rows, frame order
        far = asked[~near]
        window = first_at_least(by_row, lo[~near], hi[~near], far - SEARCH_BACK_ROWS)
        before = first_at_least(by_row, lo[~near], hi[~near], far)
        out[~near] = _latest_cover(rel_seq, seq_end, far, by_row, window, before)
    return out


def _latest_cover(
    rel_seq: np.ndarray,
    seq_end: np.ndarray,
    resent: np.ndarray,
    copies: np.ndarray,
    first: np.ndarray,
    past: np.ndarray,
) -> np.ndarray:
    """Per row of ``resent``: the latest of its candidates ``copies[first:past]`` sent among
    the SEARCH_BACK_ROWS rows before it that covers its first byte (-1: none).

    A table of resend x candidate, in bands of resends with about as many candidates (powers
    of two): one resend with many candidates does not widen every other's row."""
    out = np.full(len(resent), -1, dtype=np.int64)
    band = np.frexp(np.maximum(past - first, 1))[1]
    for b in np.unique(band).tolist():
        members = np.flatnonzero(band == b)
        width = int((past[members] - first[members]).max())
        step = max(1, _COVER_CELLS // max(width, 1))
        for c in range(0, len(members), step):
            part = members[c : c + step]
            at = first[part, None] + np.arange(width)
            valid = at < past[part, None]
            copy = copies[np.where(valid, at, 0)]
            i = resent[part, None]
            seq = rel_seq[i]
            covers = valid & (rel_seq[copy] <= seq) & (seq_end[copy] > seq)
            covers &= (copy < i) & (copy >= i - SEARCH_BACK_ROWS)
            out[part] = np.where(covers, copy, -1).max(axis=1, initial=-1)
    return out


#: What ``_judged`` can find a retransmission to be (``_KIND_OF``: its event kind).
_SPURIOUS, _SACKED_PROBE, _FIN, _ON_DUPACKS, _EARLY_PROBE, _NO_COPY, _CLOCKED, _TOO_LATE = range(8)
_TIMEOUT = 8
_CLOCK_BACK = 9
#: A tail loss probe at about the RTO's own time (``_probes_at_rto``), found after ``_judged``.
_RTO_PROBE = 10
#: Sooner than the minimum RTO and smaller than the copy it repeats (``_resends``): the
#: sender's segment size dropped (a path MTU drop), no tail loss probe.
_SHRUNK = 11
#: Sooner than the minimum RTO after the original and not the sender's last segment: no
#: tail loss probe (it resends only the last one), so loss recovery marked it lost.
_EARLY_HOLE = 12
#: Bytes by which a resend must be smaller than its earlier copy to show a lower MSS: more
#: than the TCP options a segment may add or drop (SACK blocks: up to 36 bytes).
SHRUNK_BY = 40
_KIND_OF = (
    EventKind.SPURIOUS_RETRANSMIT,
    EventKind.SPURIOUS_RETRANSMIT,
    EventKind.FIN_RETRANSMIT,
    EventKind.FAST_RETRANSMIT,
    EventKind.FAST_RETRANSMIT,
    EventKind.RETRANSMIT_UNKNOWN,
    EventKind.FAST_RETRANSMIT,
    EventKind.RETRANSMIT_UNKNOWN,
    EventKind.RETRANSMIT,
    EventKind.RETRANSMIT_UNKNOWN,
    EventKind.FAST_RETRANSMIT,
    EventKind.FAST_RETRANSMIT,
    EventKind.FAST_RETRANSMIT,
)


def _judged(
    gap: np.ndarray,
    since_adv: np.ndarray,
    spurious: np.ndarray,
    already_sacked: np.ndarray,
    fin_only: np.ndarray,
    recovers_hole: np.ndarray,
    soon: np.ndarray,
    sacked: np.ndarray,
    dupacks: np.ndarray,
    clocked: np.ndarray,
    echoed: np.ndarray,
    peer_unseen: np.ndarray,
    tail: np.ndarray,
    peer_cut: np.ndarray,
) -> tuple[list[EventKind], list[str], np.ndarray]:
    """Kind and note of each retransmission (``_Resends``' columns, every connection of a
    batch at once; ``gap``: ``_Resends.gap``; ``echoed``: a FIN repeated on an ACK;
    ``peer_unseen``: its connection's peer direction is not in the capture; ``tail``: it
    reaches the sender's snd.nxt; ``peer_cut``: the snaplen cut the options of the peer's
    segment it reacted to), and what it was found to be (``_SPURIOUS`` ... ``_CLOCK_BACK``, one of ``_KIND_OF``'s positions)."""
    # The RTO timer restarts on every ACK that advances snd.una and is also (re)armed by the
    # original's send: a resend sooner than the minimum RTO after either is loss recovery,
    # not a timeout (NaN: nothing to measure from; it compares False).
    since = np.fmin(since_adv, gap)
    candidate = recovers_hole & (soon | (since < RTO_FLOOR_S))
    tests = [  # (what it is, when), tried in this order: the first that holds names it
        (_SPURIOUS, spurious),
        (_SACKED_PROBE, already_sacked),
        (_FIN, fin_only),
        (_ON_DUPACKS, candidate & ((dupacks >= 2) | sacked)),
        # Stamped before the copy it repeats: the capture's clock stepped back (captures
        # joined, a clock step), so the gap times no timer.
        (_CLOCK_BACK, gap < 0),
        # No RTO fires sooner than TCP_RTO_MIN after the original went out: with no duplicate
        # ACK or SACK to react to, this is the probe timeout (2 x SRTT) of RFC 8985.
        # A tail loss probe resends the sender's last segment (tcp_send_loss_probe: new data,
        # else the tail of the retransmission queue): an early resend of bytes below it was
        # marked lost by loss recovery (RACK's reordering timer, RFC 8985; SACK or duplicate
        # ACKs, RFC 6675), whose trigger the capture may not show (SACK blocks the snaplen
        # cut, ACKs lost before the capture point).
        (_EARLY_HOLE, (gap < RTO_FLOOR_S) & ~tail),
        (_EARLY_PROBE, gap < RTO_FLOOR_S),
        # Clocked out by an ACK that advanced snd.una: the RTO restarted on that ACK, so no
        # timer sent it, whether or not the capture holds the earlier copy (one dropped
        # before the capture point, a capture behind the bottleneck, is not in it).
        (_CLOCKED, clocked),
        (_NO_COPY, np.isnan(gap)),  # the capture holds no earlier copy of these bytes
        (_TOO_LATE, gap > RTO_CEILING_S),
    ]
    code = np.select([when for _, when in tests], [what for what, _ in tests], _TIMEOUT)
    codes = code.tolist()
    notes = [
        _note(what, *values)
        for what, *values in zip(
            codes,
            gap.tolist(),
            since_adv.tolist(),
            since.tolist(),
            dupacks.tolist(),
            soon.tolist(),
            echoed.tolist(),
            peer_unseen.tolist(),
            peer_cut.tolist(),
            strict=True,
        )
    ]
    return [_KIND_OF[what] for what in codes], notes, code


def _probes_at_rto(
    found: np.ndarray,
    gap: np.ndarray,
    at: np.ndarray,
    prev_tx: np.ndarray,
    is_retrans: np.ndarray,
    tail: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The retransmissions ``_judged`` found timeouts (``found``) that were tail loss probes
    at about the RTO's own time, and the timeout after each: two arrays of positions among
    the retransmissions (linked rows ``at``), a probe and its timeout at the same place.

    ``gap``: per retransmission, seconds since its previous copy; ``prev_tx``: per linked
    row, the previous copy at the same seq (-1: none); ``is_retrans``: per linked row;
    ``tail``: per retransmission, its end reaches the sender's snd.nxt (the last segment).

    Linux arms the loss probe 2 x SRTT + TCP_RTO_MIN after the send when one segment is in
    flight (2 x SRTT + 2 ms with more), capped at the time the RTO would fire
    (tcp_schedule_loss_probe): on a short path it fires at about the RTO's time. It resends
    the last segment (tcp_send_loss_probe) and rearms the RTO from there WITHOUT backing it
    off (tcp_rearm_rto): a lone segment's copies read g, g, 2g..., where the RTO's own would
    read g, 2g, 4g. So a copy of the last segment sent the timer's gap after the original,
    whose next copy came about the same gap later (not twice it), was the probe and the
    next copy the timeout, from which the backoff counts. Not when a third copy repeats the
    gap again: thin-stream linear timeouts (tcp_thin_linear_timeouts) keep it more than twice."""
    none = np.zeros(0, dtype=np.int64)
    timeout = np.flatnonzero(found == _TIMEOUT)
    if len(timeout) < 2:
        return none, none
    entry_of = np.full(len(prev_tx), -1, dtype=np.int64)
    entry_of[at] = np.arange(len(at))
    next_tx = np.full(len(prev_tx), -1, dtype=np.int64)
    copies = np.flatnonzero(prev_tx >= 0)
    next_tx[prev_tx[copies]] = copies

    def following(entries: np.ndarray) -> np.ndarray:
        """Per entry: the entry of the next copy at the same seq (-1: none, or no resend)."""
        later = next_tx[at[entries]]
        return np.where(later >= 0, entry_of[np.maximum(later, 0)], -1)

    def same(observed: np.ndarray, expected: np.ndarray) -> np.ndarray:
        """``timers.close_to``, column-wise (NaN compares False)."""
        slack = np.maximum(SLACK_S, SLACK_FRACTION * expected)
        return np.asarray(np.abs(observed - expected) <= slack)

    prev = prev_tx[at[timeout]]
    original = (prev >= 0) & ~is_retrans[np.maximum(prev, 0)]
    j = following(timeout)
    jj = np.maximum(j, 0)
    g, h = gap[timeout], gap[jj]
    probe = original & tail[timeout] & (j >= 0) & (found[jj] == _TIMEOUT)
    probe &= same(h, g) & ~same(h, 2 * g)
    third = following(jj)
    probe &= ~((third >= 0) & same(gap[np.maximum(third, 0)], h))  # linear timeouts
    return timeout[probe], j[probe]


def _note(
    what: int,
    gap: float,
    since_adv: float,
    since: float,
    dupacks: int,
    soon: bool,
    echoed: bool,
    peer_unseen: bool,
    peer_cut: bool = False,
) -> str:
    """The note of a retransmission ``_judged`` found to be ``what``."""
    if what == _TIMEOUT:
        return f"timeout: {gap:.3f} s after the previous copy"
    if what == _SPURIOUS:
        return "data the peer had already acknowledged"
    if what == _SACKED_PROBE:
        return (
            "tail loss probe: resent the last segment, which the peer had already SACKed "
            "(no hole repaired)"
        )
    if what == _FIN:
        if echoed:
            return (
                f"FIN repeated on the ACK of the peer's data or FIN, {_short(gap)} after the "
                "first copy (sooner than any retransmission timer): not a timer resend"
            )
        if peer_unseen:
            return "FIN sent again (the peer's direction is not in the capture)"
        return "FIN sent again: not acknowledged"
    if what == _ON_DUPACKS:
        note = f"after {dupacks} duplicate ACKs" if dupacks >= 2 else "after SACK"
        if not soon:
            note += (
                f" ({since * 1e3:.0f} ms after the last advancing ACK or send: sooner "
                "than the 200 ms minimum RTO, so loss recovery, not a timeout)"
            )
        return note
    if what == _EARLY_HOLE:
        if peer_unseen:
            return (
                f"{_short(gap)} after the original, sooner than the 200 ms minimum RTO, and "
                "below the sender's last segment, which a tail loss probe resends: loss "
                "recovery (a fast retransmit, or a resend after a path MTU drop: the peer's "
                "ACKs are not in the capture)"
            )
        if peer_cut:
            seen = (
                f"{'no' if dupacks == 0 else dupacks} duplicate ACK{'' if dupacks == 1 else 's'} "
                "before it, whose SACK blocks the snaplen cut"
            )
        else:
            seen = "its trigger is not in the capture"
        return (
            f"loss recovery: {_short(gap)} after the original, sooner than the 200 ms minimum "
            "RTO, and below the sender's last segment, which a tail loss probe resends "
            "(tcp_send_loss_probe): marked lost on SACK or duplicate ACKs (RFC 6675) or by "
            f"RACK's reordering timer (RFC 8985); {seen}"
        )
    if what == _EARLY_PROBE:
        if peer_unseen:  # its SACKs and duplicate ACKs are not in the capture either
            return (
                f"{_short(gap)} after the original, sooner than the 200 ms minimum RTO: loss "
                "recovery (a fast retransmit, a tail loss probe, or a resend after a path MTU "
                "drop: the peer's ACKs are not in the capture)"
            )
        return (
            f"tail loss probe: {gap * 1e3:.0f} ms after the original, sooner than the 200 ms "
            "minimum RTO"
        )
    if what == _NO_COPY:
        return (
            "no earlier copy captured (missed by the capture, or lost before it): whether "
            "a timer or loss recovery resent it cannot be told"
        )
    if what == _CLOCKED:
        note = (
            f"sent {_short(since_adv)} after the peer's ACK advanced snd.una: the "
            "RTO restarts on that ACK (at least 200 ms), so the ACK clocked it out (loss "
            "recovery), not the timer"
        )
        if math.isnan(gap):
            note += (
                " (no earlier copy captured: it was lost before the capture point, or the "
                "capture missed it)"
            )
        return note
    if what == _CLOCK_BACK:
        return (
            f"stamped {_short(-gap) if -gap < 1 else seconds(-gap)} before the earlier copy: "
            "the capture's clock stepped back "
            "(captures joined, a clock step), so no timer can be read from the gap"
        )
    assert what == _TOO_LATE, what
    return (
        f"{gap:.3f} s after the previous copy: longer than any retransmission timer "
        "(TCP_RTO_MAX 120 s), so no backoff step (a time jump, or captures joined)"
    )


def _short(seconds: float) -> str:
    """A sub-second interval for a note: microseconds or milliseconds."""
    return f"{seconds * 1e6:.0f} us" if seconds < 1e-3 else f"{seconds * 1e3:.0f} ms"


@dataclass(frozen=True, slots=True)
class _Links:
    """Row links of one connection (relative rows), so each retransmission is judged in O(1)."""

    last_peer: np.ndarray  # the other side's latest row before this one (-1: none)
    prev_tx: np.ndarray  # previous transmission starting at the same seq, same side (-1: none)
    last_advance: np.ndarray  # the other side's latest ACK that raised its ACK number (-1: none)
    last_sack: np.ndarray  # the other side's latest row carrying a SACK block (-1: none)
    # What follows each row (``_last_series``), so the end of a series is read in O(1):
    peer_ack_after: np.ndarray  # the other side's highest ACK number later (UNKNOWN: none)
    own_rst_after: np.ndarray  # this side's first later RST, duplicates aside (-1: none)
    peer_rst_after: np.ndarray  # the other side's first later RST (-1: none)
    #: This side's first later segment that is no retransmission, RST or duplicate and
    #: carries data, SYN or FIN: the sender went on with something else (-1: none).
    own_fresh_after: np.ndarray

    @staticmethod
    def of(view: ConnView) -> tuple[_Links, float | None]:
        """The connection's row links, and its data RTT (``_data_rtt_ms``; None: none)."""
        every, k = _linked_in(view)
        lo = every.offset[k]
        hi = lo + len(view)
        links = _Links(*(getattr(every.links, name)[lo:hi] for name in _Links.__slots__))
        return links, _Linked.of(view).rtt_ms


@dataclass(frozen=True, slots=True)
class _Resends:
    """Per retransmitted row (frame order, connection after connection in a batch): what
    ``detect`` and ``_last_series`` read of it, found column-wise by ``_resends`` (which
    judges it, ``_judged``), as Python lists (a numpy scalar read costs more than the test
    that reads it)."""

    rows: list[int]  # the row, relative to its connection
    time_ns: list[int]
    from_client: list[bool]
    seq: list[int]  # its first byte (relative)
    #: Its first byte was below the peer's ACK already (``facts.snd_una``).
    already_acked: list[bool]
    #: Seconds since the previous copy: at the same seq, else the latest that covered the
    #: first byte (``_covering_in``; NaN: none captured).
    gap: list[float]
    fin_only: list[bool]  # a bare FIN
    #: A bare FIN repeated on the ACK of the peer's data or FIN, sooner than any
    #: retransmission timer: no resend at all.
    echoed: list[bool]
    kind: list[EventKind]  # what resent it (``_judged``)
    #: The peer reported its bytes as a duplicate (``_dsacks_of``): its event is a
    #: spurious_retransmit, whatever resent it (``kind``).
    dsacked: list[bool]
    #: Of ``dsacked``: a timeout shown spurious by the timestamp its ACK echoes
    #: (``facts.echo_older``), not by a D-SACK.
    eifel: list[bool]
    #: A tail loss probe sooner than the minimum RTO (``_judged``: ``_EARLY_PROBE``), or at
    #: about the RTO's own time (``_probes_at_rto``).
    probe: list[bool]
    #: A fast retransmit or tail loss probe not D-SACKed whose peer's next ACK had its TCP
    #: options cut by the snaplen (``facts.next_peer_ack_cut``): a D-SACK saying the copy
    #: was needless cannot be seen, so whether it repaired a loss the capture cannot tell.
    undecided: list[bool]
    #: Of ``probe``: at about the RTO's own time (``_probes_at_rto``).
    at_rto: list[bool]
    # What followed it (``_Links``, read at the end of the last series):
    peer_ack_after: list[int]
    own_rst_after: list[int]
    peer_rst_after: list[int]
    own_fresh_after: list[int]


@dataclass(frozen=True, slots=True)
class _Linked:
    """What the batch pass (``_batch_links``) found for one connection."""

    rtt_ms: float | None  # ``_data_rtt_ms`` (None: not measured)
    resends: _Resends  # the batch's: this connection's are entries ``lo:hi``
    events: EventRows  # the batch's, as ``resends`` (no ``conn``)
    lo: int
    hi: int
    peer_unseen: bool  # only one direction is in the capture (the peer's is unseen)
    series: _Series  # the final series' transmissions
    series_of: int  # the batch's ``resends`` entry resent last in that series (-1: no series)

    @staticmethod
    def of(view: ConnView) -> _Linked:
        """The connection's data RTT and resends (it has a retransmission)."""
        every, k = _linked_in(view)
        rtt_ms = every.rtt_ms[k]
        return _Linked(
            None if rtt_ms != rtt_ms else rtt_ms,  # NaN: not measured
            every.resends,
            every.events,
            every.resend_bounds[k],
            every.resend_bounds[k + 1],
            every.peer_unseen[k],
            every.series.part(every.series_bounds[k], every.series_bounds[k + 1]),
            every.series_of[k],
        )


def _linked_in(view: ConnView) -> tuple[_BatchLinks, int]:
    """The batch pass that linked the connection (it has a retransmission), and its position
    there: its batch's pass, or its own when it is long."""
    if len(view) < ALONE_ROWS:
        return view.batch.of(_links), view.at
    # A long connection alone: its own numpy calls cost little next to their work.
    return _batch_links(Batch.one(view), np.ones(1, dtype=bool)), 0


@dataclass(frozen=True, slots=True)
class _BatchLinks:
    """``_Links`` of every connection of a batch with a retransmission, end to end: the rows
    of connection k start at ``offset[k]`` (-1: not linked, no retransmission)."""

    links: _Links
    offset: list[int]
    rtt_ms: list[float]  # per connection of the batch: ``_data_rtt_ms`` (NaN: none, not linked)
    #: Every linked connection's retransmitted rows: connection k's are entries
    #: ``resend_bounds[k]:resend_bounds[k + 1]`` (none when not linked).
    resends: _Resends
    events: EventRows  # the events of ``resends``' entries (no ``conn``: -1)
    resend_bounds: list[int]
    peer_unseen: list[bool]  # per connection of the batch: one direction captured only
    #: Every linked connection's final series: connection k's are entries
    #: ``series_bounds[k]:series_bounds[k + 1]``.
    series: _Series
    series_bounds: list[int]
    #: Per connection of the batch: the ``resends`` entry whose series ``series`` holds (-1:
    #: none, no dying data transfer).
    series_of: list[int]


@dataclass(frozen=True, slots=True)
class _Series:
    """The transmissions of the last resend of a dying data transfer (the last resend that is
    no LAST_ACK FIN retry and no FIN repeated on an ACK), original first: the sender's rows up
    to it covering its first byte, capture duplicates and probes aside (``_final_series``)."""

    rows: list[int]  # relative to the connection
    time_ns: list[int]
    frame: list[int]

    def part(self, lo: int, hi: int) -> _Series:
        """One connection's entries ``lo:hi``."""
        return _Series(self.rows[lo:hi], self.time_ns[lo:hi], self.frame[lo:hi])


#: Below every real ACK number: "no ACK yet" in running maxima.
_NO_ACK = np.iinfo(np.int64).min


def _links(batch: Batch) -> _BatchLinks:
    """The row links of the batch's connections with a retransmission and fewer than
    ``ALONE_ROWS`` rows (``_Links.of`` links a longer one alone)."""
    sizes = np.diff(batch.starts)
    return _batch_links(batch, (batch.count(batch.rows.is_retrans) > 0) & (sizes < ALONE_ROWS))


class _LinkedRows:
    """The rows of a batch's linked connections, end to end: ``SegmentRows``' columns at
    ``rows``, each gathered once, when first read. When every row is linked (a long
    connection alone) the columns are the batch's own, not copied."""

    def __init__(self, of: SegmentRows, rows: np.ndarray) -> None:
        self._of = of
        self._rows = None if len(rows) == len(of) else rows  # every row (ascending): as is
        self._n = len(rows)

    def __len__(self) -> int:
        return self._n

    def __getattr__(self, name: str) -> np.ndarray:
        """The column ``name`` (a ``SegmentRows`` field) at the linked rows."""
        if name.startswith("_"):
            raise AttributeError(name)
        column: np.ndarray = getattr(self._of, name)
        if self._rows is not None:
            column = column[self._rows]
        setattr(self, name, column)  # read as a plain attribute from now on
        return column


def _batch_links(batch: Batch, linked: np.ndarray) -> _BatchLinks:
    """The row links of the ``linked`` connections of a batch, column-wise: walks over the rows
    of all those connections (``facts.nearest_rows``, running maxima), each result kept inside its
    own connection."""
    r = _LinkedRows(batch.rows, np.flatnonzero(linked[batch.conn_index]))
    sizes = np.diff(batch.starts)[linked]
    firsts = np.cumsum(sizes) - sizes  # each linked connection's first row in ``r``
    offset = np.full(len(linked), -1, dtype=np.int64)
    offset[linked] = firsts
    conn = np.repeat(np.arange(len(sizes)), sizes)  # per linked row: its connection
    first = np.repeat(firsts, sizes)  # per linked row: its connection's first row
    n = len(r)
    client = r.from_client
    everyone, nobody = np.ones(n, dtype=bool), np.zeros(n, dtype=bool)

    def relative(found: np.ndarray) -> np.ndarray:
        """Linked-row numbers -> rows of their connection (-1: none in the connection)."""
        return np.where(found >= first, found - first, -1)

    def latest_peer(mask: np.ndarray) -> np.ndarray:
        """Per row: the other side's latest earlier row of its connection where ``mask``
        holds (relative; -1: none)."""
        return relative(nearest_rows(conn, client, nobody, mask, later=False))

    # An ACK "advances" when it is above every earlier ACK of its sender in the connection:
    # running maxima per (connection, side), in frame order within each (one walk).
    has_ack = r.ack
    acks = np.where(has_ack, r.rel_ack, _NO_ACK)
    key = conn * 2 + client
    by_side = np.argsort(key, kind="stable")  # each (connection, side)'s rows, frame order
    before = running_max_before(acks, key, by_side, _NO_ACK)
    advance = has_ack & (acks > before)
    # The previous transmission of the same first byte by the same side (ordered by
    # connection, side, seq, then frame).
    sent = ((r.seg_len > 0) | r.fin) & ~r.is_dup & ~r.probe_shape
    tx = np.flatnonzero(sent)
    seq = r.rel_seq
    ordered = tx[np.lexsort((tx, seq[tx], client[tx], conn[tx]))]
    prev_tx = np.full(n, -1, dtype=np.int64)
    if len(ordered) > 1:
        later, earlier = ordered[1:], ordered[:-1]
        same = (seq[later] == seq[earlier]) & (client[later] == client[earlier])
        same &= conn[later] == conn[earlier]
        prev_tx[later[same]] = earlier[same]
    retrans = r.is_retrans
    # After each row: the peer's highest later ACK (the peer walk over the rows reversed),
    # the next RSTs and the sender's next fresh segment (``facts.nearest_rows``).
    back = slice(None, None, -1)
    later_acks = peer_max_before(r.rel_ack[back], has_ack[back], client[back], conn[back])

    def next_row(own: np.ndarray, peer: np.ndarray) -> np.ndarray:
        """Per row: the first later row of its connection sent by its own side where ``own``
        holds, or by the other side where ``peer`` holds (relative; -1: none)."""
        return relative(nearest_rows(conn, client, own, peer, later=True))

    dup, rst = r.is_dup, r.rst
    pure_ack = (r.seg_len == 0) & ~r.syn & ~r.fin & ~rst
    dupacks = _dupacks_ending(r.rel_ack, pure_ack, key, by_side)
    fresh = ~dup & ~retrans & ~rst & ((r.seg_len > 0) | r.fin | r.syn)
    links = _Links(
        last_peer=latest_peer(everyone),
        prev_tx=relative(prev_tx),
        last_advance=latest_peer(advance),
        last_sack=latest_peer(r.sack_blocks > 0),
        peer_ack_after=later_acks[back],
        own_rst_after=next_row(rst & ~dup, nobody),
        peer_rst_after=next_row(nobody, rst),
        own_fresh_after=next_row(fresh, nobody),
    )
    # Karn: no RTT sample from data sent again (the earlier copy of each retransmission).
    resent = np.zeros(n, dtype=bool)
    resent[prev_tx[retrans][prev_tx[retrans] >= 0]] = True
    ack_so_far = np.maximum(before, acks)  # per row: its side's highest ACK up to it
    data = (r.seg_len > 0) & ~retrans & ~r.is_dup & ~resent
    rtt_ms = np.full(len(linked), np.nan)
    rtt_ms[linked] = _data_rtt_ms(r, conn, len(sizes), data, ack_so_far)
    clients = np.zeros(len(linked), dtype=np.int64)
    clients[linked] = np.bincount(conn[client], minlength=len(sizes))
    peer_unseen = (clients == 0) | (clients == np.diff(batch.starts))  # one direction only
    resends, events, dying = _resends(
        r, first, conn, links, prev_tx, rtt_ms[linked][conn], dupacks, peer_unseen[linked][conn]
    )
    retransmitted = np.flatnonzero(retrans)  # linked rows of ``resends``' entries
    series, series_of = _final_series(r, conn, len(sizes), retransmitted, dying)
    resend_of = np.full(len(linked), -1, dtype=np.int64)
    resend_of[linked] = series_of

    def bounds(of_rows: np.ndarray) -> list[int]:
        """Per connection of the batch, where its entries start (``of_rows``: linked rows,
        one per entry, ascending), then the end."""
        per_conn = np.zeros(len(linked), dtype=np.int64)
        per_conn[linked] = np.bincount(conn[of_rows], minlength=len(sizes))
        found: list[int] = np.concatenate(([0], np.cumsum(per_conn))).tolist()
        return found

    return _BatchLinks(
        links,
        offset.tolist(),
        rtt_ms.tolist(),
        resends,
        events,
        bounds(retransmitted),
        peer_unseen.tolist(),
        _Series(
            (series - first[series]).tolist(),
            r.time_ns[series].tolist(),
            r.frame[series].tolist(),
        ),
        bounds(series),
        resend_of.tolist(),
    )


def _resends(
    r: _LinkedRows,
    first: np.ndarray,
    conn: np.ndarray,
    links: _Links,
    prev_tx: np.ndarray,
    rtt_ms: np.ndarray,
    dupacks: np.ndarray,
    peer_unseen: np.ndarray,
) -> tuple[_Resends, EventRows, np.ndarray]:
    """``_Resends`` of every retransmitted row among the linked rows ``r``, column-wise, and
    their events.

    Per linked row: ``first``, its connection's first linked row; ``links``, its links
    (relative); ``prev_tx``, the previous copy at the same seq (a linked row; -1: none);
    ``rtt_ms``, its connection's data RTT (NaN: none); ``dupacks``, ``_dupacks_ending``;
    ``peer_unseen``, its connection's peer direction is not in the capture.
    Also, per entry: a resend of a dying data transfer (``_final_series``' candidates)."""
    at = np.flatnonzero(r.is_retrans)  # linked rows of the retransmissions
    i, base = at, first[at]

    def row_of(relative: np.ndarray) -> np.ndarray:
        """Relative rows (-1: none) -> linked rows (the connection's first for none)."""
        return np.asarray(base + np.maximum(relative, 0))

    time_ns, seq, ack = r.time_ns[i], r.rel_seq[i], r.rel_ack[i]
    spurious = r.is_spurious[i]
    fin_only = (r.seg_len[i] == 0) & r.fin[i]
    prev = prev_tx[at]
    earlier = np.maximum(prev, 0)
    # The previous copy: at the same seq, else (repacketised) one that covered the first byte.
    missing = np.flatnonzero(prev < 0)
    covered = np.full(len(at), -1, dtype=np.int64)
    if len(missing):
        seqs, ends = r.rel_seq, r.seq_end
        covering = _covers_bytes(seqs, ends, r.is_dup, r.probe_shape)
        covered[missing] = _covering_in(seqs, ends, r.from_client, conn, covering, at[missing])
    copy = np.where(prev >= 0, prev, covered)
    gap = np.where(copy >= 0, (time_ns - r.time_ns[np.maximum(copy, 0)]) / 1e9, np.nan)
    # Sent within about an RTT of the peer's latest segment, at the hole that segment's ACK
    # shows: loss recovery reacting to the peer (fast retransmit, SACK recovery).
    last = links.last_peer[at]
    peer = row_of(last)
    rtt_s = np.where(np.isnan(rtt_ms[at]), RTO_MIN_S, rtt_ms[at] / 1e3)
    soon = (last >= 0) & ((time_ns - r.time_ns[peer]) / 1e9 <= np.maximum(0.02, 1.5 * rtt_s))
    recovers_hole = ~spurious & ~fin_only & (last >= 0) & (seq >= r.rel_ack[peer])
    # The RTO restarts on every ACK that advances snd.una (tcp_rearm_rto) and is at least
    # TCP_RTO_MIN: a resend sooner than that after such an ACK went out on the ACK, not on
    # the timer (the rest of a window in loss recovery, smaller segments after a path MTU drop).
    adv = links.last_advance[at]
    since_adv = np.where(adv >= 0, (time_ns - r.time_ns[row_of(adv)]) / 1e9, np.nan)
    clocked = (adv >= 0) & (since_adv < RTO_FLOOR_S) & recovers_hole
    # A tail loss probe resends the last segment; if the peer had SACKed it already, it
    # repaired no hole (the peer's D-SACK confirms the copy was not needed).
    sack = links.last_sack[at]
    sr = row_of(sack)
    already_sacked = (sack >= 0) & (r.sack_left[sr] <= seq) & (r.seq_end[i] <= r.sack_right[sr])
    already_sacked &= ~spurious & ~fin_only & (r.seg_len[i] > 0)
    # A FIN repeated on an ACK of the peer's new data or FIN carries a higher ACK number than
    # the previous copy (``detect`` adds: sooner than any retransmission timer).
    ack_rose = fin_only & (ack > np.where(prev >= 0, r.rel_ack[earlier], ack))
    # ... and sooner than any retransmission timer: no resend at all (NaN compares False).
    echoed = ack_rose & (gap < RTO_FLOOR_S)
    # A FIN resent after its sender had ACKed the peer's FIN is a LAST_ACK retry (the final
    # ACK was lost, or the peer is gone): close.py reports it; it is no dying data transfer.
    # Nor is a FIN repeated on an ACK.
    last_ack_fin = _last_ack_fins(r, first, at, fin_only)
    # The peer's latest segment can have drawn this resend only if it came after the
    # original it repeats was sent: a SACK or duplicate ACKs from before answered something
    # else (a D-SACK of a keepalive byte seconds earlier is no reason to resend a burst's
    # tail). A copy that is itself a resend is no original: the reaction may predate it.
    held = np.maximum(copy, 0)
    original = (copy >= 0) & ~r.is_retrans[held]
    # With no earlier copy captured, the capture shows the hole only where the peer's
    # latest ACK asks for exactly these bytes (its cumulative ACK at their first byte), or
    # for the first of the resends right before it that this one follows up the sequence
    # space (one ACK clocking out several, tcp_xmit_retransmit_queue walking the holes in
    # order), after the sender's data above them went by: bytes first
    # seen far above the peer's ACK may fill a stretch the capture missed, and bytes the
    # peer had not yet been sent anything above may be an original overtaken on the way
    # (reordering).
    blind = np.flatnonzero(copy < 0)
    if len(blind):
        above = peer_max_before(r.seq_end, (r.seg_len > 0) & ~r.is_dup, r.from_client, conn)
        asked = (r.rel_ack[peer] == seq) & (above[peer] > r.seq_end[i])
        for k in blind.tolist():
            j = k - 1  # the resend just before, the same connection's previous row
            if asked[k] or k == 0 or at[j] != at[k] - 1 or last[k] != last[j]:
                continue
            asked[k] = bool(
                r.from_client[at[j]] == r.from_client[at[k]]
                and r.seq_end[at[j]] <= seq[k]
                and (asked[j] if copy[j] < 0 else clocked[j])
                and above[peer[k]] > r.seq_end[at[k]]
            )
        clocked[blind] &= asked[blind]
    reacting = (last >= 0) & (~original | (r.time_ns[peer] > r.time_ns[held]))
    sacked = reacting & (r.sack_blocks[peer] > 0)  # that segment carries a SACK block
    # Duplicate ACKs ending at the peer's latest segment (``_dupacks_ending``; 0: none).
    peer_dupacks = np.where(reacting, dupacks[base + np.maximum(last, 0)], 0)
    kinds, notes, found = _judged(
        gap,
        since_adv,
        spurious,
        already_sacked,
        fin_only,
        recovers_hole,
        soon,
        sacked,
        peer_dupacks,
        clocked,
        echoed,
        peer_unseen[at],
        r.seq_end[i] >= r.next_seq[i],
        reacting & r.options_cut[peer],
    )
    # Sooner than the minimum RTO, and smaller than the copy it repeats: a loss probe
    # resends the last segment whole (tcp_send_loss_probe), so the sender's MSS dropped: a
    # path MTU drop (tcp_v4_mtu_reduced / tcp_v6_mtu_reduced resend at once in smaller
    # segments), whether or not its ICMP error is in the capture.
    before = r.seg_len[held]
    # (With the peer's direction unseen ``_note`` names every candidate already.)
    early = (found == _EARLY_PROBE) | (found == _EARLY_HOLE)
    shrunk = early & (copy >= 0) & (r.seg_len[i] + SHRUNK_BY < before)
    shrunk &= ~peer_unseen[at]
    for k in np.flatnonzero(shrunk).tolist():
        found[k] = _SHRUNK
        notes[k] = (
            f"{_short(gap[k])} after the original and smaller than the copy it repeats "
            f"({int(r.seg_len[i][k])} B, was {int(before[k])} B): the sender's segment size "
            "dropped, as after an ICMP fragmentation needed / packet too big lowers the path "
            "MTU (tcp_v4_mtu_reduced / tcp_v6_mtu_reduced resend at once in smaller "
            "segments); a tail loss probe resends the last segment whole"
        )
    # A tail loss probe at about the RTO's own time, then the RTO (``_probes_at_rto``).
    probes, rtos = _probes_at_rto(
        found, gap, at, prev_tx, r.is_retrans, r.seq_end[i] >= r.next_seq[i]
    )
    for k, j in zip(probes.tolist(), rtos.tolist(), strict=True):
        found[k], kinds[k], kinds[j] = _RTO_PROBE, EventKind.FAST_RETRANSMIT, EventKind.RETRANSMIT
        notes[k] = (
            f"tail loss probe: {gap[k]:.3f} s after the original, at about the RTO's own time "
            "(one segment in flight: Linux probes 2 x SRTT + 200 ms after it, capped at the "
            "RTO), not a timeout"
        )
        notes[j] = (
            f"timeout: {gap[j]:.3f} s after the tail loss probe (the probe rearmed the RTO "
            "without backing it off); the backoff counts from here"
        )
    dsack = _dsacks_of(r, conn, at, ~fin_only & (r.seq_end[i] > seq))
    shown, notes = _dsacked_named(kinds, notes, r.frame[np.maximum(dsack, 0)], dsack >= 0)
    # A timeout no D-SACK reported whose bytes the peer acknowledged echoing an earlier
    # copy's timestamp (``facts.echo_older``: Eifel, RFC 3522): spurious all the same.
    timeout = np.array([k is EventKind.RETRANSMIT for k in shown], dtype=bool)
    eifel = timeout & (dsack < 0) & r.echo_older[i]
    if eifel.any():
        shown = list(shown)  # ``kinds`` stays what resent each
    for k in np.flatnonzero(eifel).tolist():
        shown[k] = EventKind.SPURIOUS_RETRANSMIT
        notes[k] = f"{notes[k]}; {EIFEL_NOTE}"
    undecided = undecided_resends(
        r.from_client, r.ack, r.options_cut, conn, at, shown, r.seg_len[i] > 0, r.echo_older[i]
    )
    for k in np.flatnonzero(undecided).tolist():
        notes[k] = f"{notes[k]}; {UNDECIDED_NOTE}"
    client = r.from_client[i]
    snd_una = r.snd_una[i]
    resends = _Resends(
        rows=(at - base).tolist(),
        time_ns=time_ns.tolist(),
        from_client=client.tolist(),
        seq=seq.tolist(),
        already_acked=((snd_una != UNKNOWN) & (snd_una > seq)).tolist(),
        gap=gap.tolist(),
        fin_only=fin_only.tolist(),
        echoed=echoed.tolist(),
        kind=kinds,
        dsacked=((dsack >= 0) | eifel).tolist(),
        eifel=eifel.tolist(),
        # With the peer's direction unseen an early resend may as well be a fast retransmit
        # (its duplicate ACKs and SACKs are not in the capture): no probe is claimed.
        probe=(((found == _EARLY_PROBE) & ~peer_unseen[at]) | (found == _RTO_PROBE)).tolist(),
        at_rto=(found == _RTO_PROBE).tolist(),
        undecided=undecided.tolist(),
        peer_ack_after=links.peer_ack_after[at].tolist(),
        own_rst_after=links.own_rst_after[at].tolist(),
        peer_rst_after=links.peer_rst_after[at].tolist(),
        own_fresh_after=links.own_fresh_after[at].tolist(),
    )
    events = EventRows(
        conn=np.full(len(at), -1, dtype=np.int64),  # ``EventColumns`` knows each one's
        frame=r.frame[i],
        time_ns=time_ns,
        side=_SIDE_OF[client.astype(np.intp)],
        kind=np.array([kind.value for kind in shown], dtype=object),
        note=np.array(notes, dtype=object),
        value=gap,
    )
    return resends, events, ~last_ack_fin & ~echoed


#: The note of a timeout whose bytes' ACK echoes an earlier copy's timestamp.
EIFEL_NOTE = (
    "the peer's ACK of these bytes echoes the timestamp of an earlier copy (TSecr older than "
    "this copy's TSval: Eifel detection, RFC 3522): that copy had arrived, the ACKs were "
    "late, nothing was lost (Linux undoes the loss state, TcpExtTCPLossUndo)"
)

#: The note of a resend whose D-SACK the snaplen would have cut (``undecided_resends``).
UNDECIDED_NOTE = (
    "the snaplen cut the options of the peer's ACK after it, where a D-SACK (RFC 2883) would "
    "show the copy needless: whether a loss was repaired the capture cannot tell"
)


def undecided_resends(
    from_client: np.ndarray,
    ack: np.ndarray,
    options_cut: np.ndarray,
    conn: np.ndarray,
    rows: np.ndarray,
    kinds: list[EventKind],
    with_bytes: np.ndarray,
    answered_earlier: np.ndarray | None = None,
) -> np.ndarray:
    """Per resend (``rows``, its event kind in ``kinds``, D-SACKed ones already
    spurious_retransmit): a fast retransmit or tail loss probe of data whose peer's next
    ACK had its options cut by the snaplen (``facts.next_peer_ack_cut``). A D-SACK there
    would have shown the earlier copy arrived (nothing lost, as a full capture of the same
    traffic shows: tcpdump -s 54 drops every option byte); unseen, it proves nothing either
    way. The delays stage leaves them out of the fast-recovery (loss) time."""
    fast = np.array([k is EventKind.FAST_RETRANSMIT for k in kinds], dtype=bool)
    fast &= with_bytes
    out = np.zeros(len(rows), dtype=bool)
    if fast.any():
        earlier = None if answered_earlier is None else answered_earlier[fast]
        out[fast] = next_peer_ack_cut(from_client, ack, options_cut, conn, rows[fast], earlier)
    return out


#: ``Side`` values by "sent by the client", as objects (the events table's ``side`` column
#: holds objects, not fixed-width strings).
_SIDE_OF = np.array([Side.SERVER.value, Side.CLIENT.value], dtype=object)

#: The resends of the other side a D-SACK is matched against, the latest first
#: (``_dsacks_of``): bounded work per D-SACK. A receiver answers a duplicate at once (Linux
#: tcp_send_dupack, without delay), so the resend it reports is among the last few.
DSACK_SEARCH = 8


def _dsacks_of(
    r: _LinkedRows, conn: np.ndarray, at: np.ndarray, with_bytes: np.ndarray
) -> np.ndarray:
    """Per retransmission (linked rows ``at``; ``with_bytes``: it carries data): the linked
    row of the peer's D-SACK that reported its bytes as a duplicate (-1: none).

    A D-SACK (RFC 2883) is the first SACK block when it lies below the cumulative ACK or
    within the second block (``facts.dsack``, Linux tcp_check_dsack): the receiver already
    held those bytes when another copy came, in order or above a hole (a tail loss probe of
    the last segment, which the receiver held out of order, draws a D-SACK above the ACK). Covering a whole resend, it proves that two
    copies of the bytes arrived: nothing was lost, whatever resent them (a tail loss probe,
    RFC 8985, whose probe timeout fired just before the receiver's delayed ACK came back; a
    fast retransmit on reordering; a timeout on a delay longer than the RTO). Linux counts it
    (TcpExtTCPDSACKRecv) and undoes the congestion window cut (tcp_try_undo_dsack,
    tcp_try_undo_loss). One D-SACK reports one duplicate arrival: it is credited to the latest
    resend before it that it covers (an earlier copy may have repaired a real loss, its own
    ACK lost or late), among the DSACK_SEARCH latest of that side. A lone block at or below
    the ACK counts too, first or not.
    Column-wise over the batch: a sort of the resends and a few searches, linear in rows."""
    out = np.full(len(at), -1, dtype=np.int64)
    sack_right, rel_ack = r.sack_right, r.rel_ack
    dsacks = np.flatnonzero(
        r.ack & (r.sack_blocks > 0) & (rel_ack != UNKNOWN) & (r.dsack | (sack_right <= rel_ack))
    )
    entries = np.flatnonzero(with_bytes)  # the resends a D-SACK can report
    if not len(dsacks) or not len(entries):
        return out
    n = len(r)
    client = r.from_client
    rows = at[entries]  # ascending: grouped by connection, frame order inside
    # Resends ordered by (connection, side), frame order inside, as one sortable key.
    placed = (conn[rows] * 2 + client[rows]) * n + rows
    order = np.argsort(placed, kind="stable")
    placed = placed[order]
    resender = conn[dsacks] * 2 + ~client[dsacks]  # the D-SACK's peer: the resending side
    first = np.searchsorted(placed, resender * n)  # that side's first resend
    before = np.searchsorted(placed, resender * n + dsacks)  # its resends before the D-SACK
    left, right = r.sack_left[dsacks], sack_right[dsacks]
    credited = np.full(len(dsacks), -1, dtype=np.int64)  # per D-SACK: the entry it reports
    for back in range(1, DSACK_SEARCH + 1):
        k = before - back
        open_ = (k >= first) & (credited < 0)
        if not open_.any():
            break
        entry = entries[order[np.maximum(k, 0)]]
        row = at[entry]
        covers = open_ & (left <= r.rel_seq[row]) & (r.seq_end[row] <= right)
        credited[covers] = entry[covers]
    _one_each(credited, before, first, left, right, entries, order, at, r)
    hit = credited >= 0
    # A resend reported by several D-SACKs keeps the first (frame order: written last);
    # ``_one_each`` leaves none such where another covered resend was free.
    out[credited[hit][::-1]] = dsacks[hit][::-1]
    return out


def _one_each(
    credited: np.ndarray,
    before: np.ndarray,
    first: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    entries: np.ndarray,
    order: np.ndarray,
    at: np.ndarray,
    r: _LinkedRows,
) -> None:
    """``_dsacks_of``: a later D-SACK credited to a resend an earlier one already reports
    moves to the next resend before it that it covers and no D-SACK reports (-1: none), in
    place. Each duplicate arrival draws its own D-SACK (tcp_data_queue -> tcp_dsack_set,
    sent once): two D-SACKs of one block after two timeouts of one segment report both copies
    (the ACKs were late; the kernel undoes, TcpExtTCPLossUndo), not the last one twice."""
    hit = np.flatnonzero(credited >= 0)
    if len(np.unique(credited[hit])) == len(hit):
        return
    taken: set[int] = set()
    for d in hit.tolist():  # frame order
        c = int(credited[d])
        if c not in taken:
            taken.add(c)
            continue
        credited[d] = -1
        for back in range(1, DSACK_SEARCH + 1):
            k = int(before[d]) - back
            if k < first[d]:
                break
            entry = int(entries[order[k]])
            row = at[entry]
            if entry in taken or not (left[d] <= r.rel_seq[row] and r.seq_end[row] <= right[d]):
                continue
            credited[d] = entry
            taken.add(entry)
            break


def _dsacked_named(
    kinds: list[EventKind], notes: list[str], dsack_frame: np.ndarray, dsacked: np.ndarray
) -> tuple[list[EventKind], list[str]]:
    """The event kind and note of each retransmission: a D-SACKed one (``_dsacks_of``) is a
    spurious_retransmit, its note saying what resent it and which frame proved the copy
    needless; the others as ``_judged`` named them."""
    if not dsacked.any():
        return kinds, notes
    shown, named = list(kinds), list(notes)
    for k in np.flatnonzero(dsacked).tolist():
        shown[k] = EventKind.SPURIOUS_RETRANSMIT
        named[k] = (
            f"{notes[k]}; D-SACKed by frame {int(dsack_frame[k])} (RFC 2883): the peer already "
            "held these bytes, nothing was lost"
        )
    return shown, named


def _final_series(
    r: _LinkedRows,
    conn: np.ndarray,
    n_conns: int,
    resent: np.ndarray,
    dying: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Per linked connection, its final series (``_Series``): the linked rows of every series,
    connection after connection, and per connection the entry of ``resent`` (linked rows of
    the retransmissions) that ends it (-1: none, no entry of ``dying``).

    The series of a resend: its sender's transmissions up to it covering its first byte,
    capture duplicates and probes aside (``_last_series`` reads the backoff from them)."""
    ends = np.full(n_conns, -1, dtype=np.int64)
    entries = np.flatnonzero(dying)  # ascending: each connection's last one is written last
    ends[conn[resent[entries]]] = entries
    last = np.where(ends >= 0, resent[np.maximum(ends, 0)], -1)  # per connection, a linked row
    at = np.maximum(last, 0)
    seq, side = r.rel_seq[at][conn], r.from_client[at][conn]  # per linked row
    covers = (np.arange(len(r)) <= last[conn]) & (r.rel_seq <= seq)
    covers &= (r.seq_end > seq) & (r.from_client == side)
    covers &= ~r.is_dup & ~r.probe_shape
    return np.flatnonzero(covers), ends


def _last_ack_fins(
    r: _LinkedRows, first: np.ndarray, at: np.ndarray, fin_only: np.ndarray
) -> np.ndarray:
    """Per retransmission (linked rows ``at``; ``fin_only``: a bare FIN): a FIN resent after
    its sender had acknowledged the peer's first FIN (the passive closer in LAST_ACK)."""
    out = np.zeros(len(at), dtype=bool)
    if not fin_only.any():
        return out
    # Per linked row: its connection's first FIN from each side (-1: none), read at the
    # bare-FIN resends only.
    fins = np.flatnonzero(r.fin)[::-1]  # reversed: the earliest FIN is written last
    client = r.from_client
    first_fin = np.full((len(r), 2), -1, dtype=np.int64)  # [row, sender is client]
    first_fin[first[fins], client[fins].astype(np.int64)] = fins
    asked = at[fin_only]
    peer_fin = first_fin[first[asked], (~client[asked]).astype(np.int64)]
    ended = np.maximum(peer_fin, 0)
    out[fin_only] = (peer_fin >= 0) & (peer_fin < asked) & (r.rel_ack[asked] >= r.seq_end[ended])
    return out


def _dupacks_ending(
    ack: np.ndarray, pure_ack: np.ndarray, key: np.ndarray, by_side: np.ndarray, enough: int = 3
) -> np.ndarray:
    """Per row: the duplicate ACKs ending at it, up to ``enough``: its side's pure ACKs (no
    data, SYN, FIN or RST) among its side's latest rows repeating its ACK number, less the
    first (the ACK they duplicate): what fast retransmit counts against dupthresh
    (tcp_fastretrans_alert, 3). Other rows repeating the ACK number (data) do not end the run.

    ``key``: per row, its (connection, side); ``by_side``: the rows of each key together,
    frame order inside (a stable argsort of ``key``)."""
    acks, keys, pure = ack[by_side], key[by_side], pure_ack[by_side]
    fresh = np.ones(len(acks), dtype=bool)  # a run of one side's rows repeating an ACK starts
    fresh[1:] = (keys[1:] != keys[:-1]) | (acks[1:] != acks[:-1])
    counted = np.cumsum(pure)  # pure ACKs so far (all keys)
    run_first = np.flatnonzero(fresh)[np.cumsum(fresh) - 1]  # per row: its run's first row
    in_run = counted - counted[run_first] + pure[run_first]
    out = np.empty(len(acks), dtype=np.int64)
    out[by_side] = np.clip(in_run - 1, 0, enough)
    return out


def _last_series(view: ConnView, linked: _Linked, timed: set[int], probed: set[int]) -> RtoSeries:
    """The final series (``linked.series``: the transmissions of the segment resent by
    ``linked.resends`` entry ``linked.series_of``); ``timed``: the rows the RTO timer sent
    (``_judged``): only those are steps of the backoff; ``probed``: the rows that were tail
    loss probes at about the RTO's own time (``_probes_at_rto``)."""
    resends, acks_unseen, which = linked.resends, linked.peer_unseen, linked.series_of  # batch's
    last, side, seq = resends.rows[which], resends.from_client[which], resends.seq[which]
    after = slice(last + 1, None)  # rows after the copy
    tx, frames = linked.series.rows, linked.series.frame
    times = [t / 1e9 for t in linked.series.time_ns]
    # No backoff step is longer than TCP_RTO_MAX: a copy further back belongs to another
    # stretch of time (a time jump, captures joined), so the series starts after it.
    start = max(
        (k for k in range(1, len(times)) if times[k] - times[k - 1] > RTO_CEILING_S), default=0
    )
    tx, times, frames = tx[start:], times[start:], frames[start:]
    # A copy sooner than the minimum RTO after the previous one (tail loss probe, fast
    # retransmit) or clocked out by an ACK is no step of the RTO backoff: the series counts
    # timer-driven gaps only (the copies ``_judged`` named timeouts).
    pairs = enumerate(itertools.pairwise(times), start=1)
    steps = [k for k, (a, b) in pairs if b - a >= RTO_FLOOR_S and tx[k] in timed]
    gaps = [times[k] - _timer_start(view, side, tx[k - 1], tx[k]) for k in steps]
    probe = steps[:1] == [1] and _probe_first(gaps)
    if probe:
        steps, gaps = steps[1:], gaps[1:]
    schedule = name_schedule(gaps)
    if acks_unseen:
        # One direction captured: the peer's ACKs are not in the capture. The sender's own ACK
        # number rising after its last copy shows the peer sent more afterwards (it was
        # receiving and answering); without that, nothing can be said about the
        # acknowledgement.
        answered = (view.from_client[after] == side) & ~view.is_dup[after] & view.ack[after]
        acked = bool(np.any(answered & (view.rel_ack[after] > view.rel_ack[last])))
    else:
        acked = resends.peer_ack_after[which] > seq  # UNKNOWN (none) is below any seq
    own_rst, peer_rst = resends.own_rst_after[which], resends.peer_rst_after[which]
    next_gap = next_backoff(gaps[-1]) if gaps else None
    gave_up: bool | None = None
    give_up_after: float | None = None
    if acks_unseen or acked or next_gap is None:
        pass  # nothing to give up on, or the capture cannot show it
    elif peer_rst >= 0:
        gave_up = False  # the peer's RST ended it: the sender's timer never ran out
    elif own_rst >= 0:
        gave_up = True  # it aborted with its own RST, then and there
        give_up_after = float(view.time_ns[own_rst]) / 1e9 - times[0]
    else:
        silence = (view.capture_end_ns - resends.time_ns[which]) / 1e9
        if overdue(silence, next_gap):
            # Silence past the next timer: the sender stopped (tcp_retries2, TCP_USER_TIMEOUT),
            # at the latest when that timer fired.
            gave_up = True
            give_up_after = times[-1] - times[0] + next_gap
        elif _last_retry(gaps, times[-1] - times[0] + next_gap):
            # Linux gives up only after tcp_retries2 (orphaned sockets: tcp_orphan_retries) or
            # the user timeout: only a series at that limit predicts the abort at the next timer.
            give_up_after = times[-1] - times[0] + next_gap
    shortened = not acked and len(gaps) >= 2 and cut_short(gaps[-1], next_backoff(gaps[-2]))
    shortened &= all(close_to(gaps[k], next_backoff(gaps[k - 1])) for k in range(1, len(gaps) - 1))
    return RtoSeries(
        side=Side.CLIENT if side else Side.SERVER,
        seq=seq,
        frames=tuple(frames),
        gaps=tuple(gaps),
        doubling=schedule.doubling or (len(gaps) == 2 and close_to(gaps[1], 2 * gaps[0])),
        acked=acked,
        gave_up=gave_up,
        give_up_after_s=give_up_after,
        user_timeout_shape=bool(shortened),
        later_traffic=resends.own_fresh_after[which] >= 0,
        rst_frame=int(view.frame[own_rst]) if own_rst >= 0 else None,
        peer_rst_frame=int(view.frame[peer_rst]) if peer_rst >= 0 else None,
        fin_only=resends.fin_only[which],
        step_frames=tuple(frames[k] for k in steps),
        already_acked=resends.already_acked[which],
        acks_unseen=acks_unseen,
        probe_frame=frames[1]
        if probe
        else next((frames[k] for k in range(1, len(tx)) if tx[k] in probed), None),
    )


def _probe_first(gaps: list[float]) -> bool:
    """The first resend was a tail loss probe, not the RTO: with one segment in flight Linux
    probes after 2 * SRTT + TCP_RTO_MIN, capped at the RTO (``tcp_schedule_loss_probe``), so
    at about the RTO's own time, and rearms the RTO from the probe without backing it off
    (``tcp_send_loss_probe`` -> ``tcp_rearm_rto``). Only the timer doubles: gaps g, g, 2g...
    have the probe first. (Thin-stream linear timeouts repeat g more than twice.)"""
    return (
        len(gaps) >= 3
        and close_to(gaps[1], gaps[0])
        and close_to(gaps[2], next_backoff(gaps[1]))
        and not close_to(gaps[1], next_backoff(gaps[0]))
    )


def _timer_start(view: ConnView, side: bool, before: int, copy: int) -> float:
    """When the retransmission timer that sent ``copy`` started: at the previous copy
    ``before``, or later when the sender resent anything in between at least TCP_RTO_MIN before
    ``copy``: a tail loss probe rearms the RTO when it goes out (tcp_send_loss_probe ends in
    tcp_rearm_rto), so the backoff runs from the probe."""
    mine = view.from_client[before + 1 : copy] == side
    between = np.flatnonzero(mine & view.is_retrans[before + 1 : copy])  # never a duplicate
    start = int(view.time_ns[before])
    floor_ns = int(view.time_ns[copy]) - round(RTO_FLOOR_S * 1e9)
    for r in (before + 1 + between).tolist():
        if int(view.time_ns[r]) <= floor_ns:
            start = max(start, int(view.time_ns[r]))
    return start / 1e9


def _last_retry(gaps: list[float], give_up_s: float) -> bool:
    """The series reached Linux's default retry limit: tcp_retries2 retransmissions, or a next
    timer beyond the backoff budget tcp_retries2 allows (retransmits_timed_out)."""
    return len(gaps) >= TCP_RETRIES2 or give_up_s >= TCP_RETRIES2_BUDGET_S


def _data_rtt_ms(
    r: _LinkedRows,
    conn: np.ndarray,
    n_conns: int,
    data: np.ndarray,
    ack_so_far: np.ndarray,
) -> np.ndarray:
    """Per connection: the round trip at the capture point (ms; NaN: none), from the smallest
    time from a data segment to the first peer ACK covering it, per direction, over the first
    RTT_SAMPLES data segments of each side.

    Each direction's smallest time is the part of the round trip beyond the capture point
    from that direction's sender: at an endpoint one of them is the local host's own ACK
    turnaround (microseconds) and the other the whole round trip; in the middle of the path
    each is one part. Their sum is the round trip wherever the capture was made (as the
    handshake's SYN -> SYN+ACK -> ACK is); the smaller alone was the local turnaround at an
    endpoint. One direction measured: that one's time.

    Karn's rule: ``data`` (per linked row of ``r``) leaves out data that was sent again, whose
    ACK is ambiguous. ``conn``: per row, its connection (grouped, 0 .. n_conns - 1);
    ``ack_so_far``: per row, the highest ACK its sender had sent up to it.
    """
    none = np.iinfo(np.int64).max
    per_side = []
    client = r.from_client
    for side in (True, False):
        smallest = np.full(n_conns, none, dtype=np.int64)
        per_side.append(smallest)
        sent = np.flatnonzero(data & (client == side))
        in_conn = np.arange(len(sent)) - np.searchsorted(conn[sent], conn[sent])
        sent = sent[in_conn < RTT_SAMPLES]
        acks = np.flatnonzero((client != side) & r.ack)
        if not len(sent) or not len(acks):
            continue
        # The first ACK after the data whose running ACK covers its end: the running ACK
        # only rises within a connection, so a binary search over the connection's ACKs
        # from the first one after the data (by_time) to its connection's last.
        by_time = np.searchsorted(acks, sent, side="right")
        conn_end = np.searchsorted(conn[acks], conn[sent], side="right")
        j = first_at_least(ack_so_far[acks], by_time, conn_end, r.seq_end[sent])
        ok = j < conn_end
        rtt = r.time_ns[acks[j[ok]]] - r.time_ns[sent[ok]]
        fine = rtt >= 0  # an ACK stamped before its data: a timestamp step back
        np.minimum.at(smallest, conn[sent[ok]][fine], rtt[fine])
    ms = [np.where(smallest < none, smallest / 1e6, np.nan) for smallest in per_side]
    both = ~np.isnan(ms[0]) & ~np.isnan(ms[1])
    return np.where(both, ms[0] + ms[1], np.fmax(ms[0], ms[1]))


def screen(facts: Facts) -> np.ndarray:
    """Connections with any data or FIN retransmission."""
    return per_connection(facts, facts.is_retrans)


DETECTOR: Detector[Retransmissions] = Detector("retransmit", EMITS, detect, screen=screen)

__all__ = ["DETECTOR", "Retransmissions", "RtoSeries"]
