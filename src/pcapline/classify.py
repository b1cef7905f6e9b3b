"""classify: evidence -> one decision per connection. The only place a fate is set.

One ordered list of named rules (``RULES``); the first rule that matches decides, as in Zeek's
``conn_state()``. Reading the list top to bottom is reading the decision procedure:

1. ``refused``            the server answered a SYN with RST before any SYN+ACK.
2. ``refused_by_icmp``    an ICMP destination unreachable (port/host unreachable,
                          administratively prohibited...) quoting the client's SYN answered it,
                          and no SYN+ACK or RST came: refused by the firewall, router or host
                          that sent the error (Linux aborts a SYN_SENT socket on it). No RST:
                          ``reset_by`` stays null.
3. ``connect_timeout``    SYNs never answered by SYN+ACK or RST, and the capture shows at least
                          one retry or runs past the time the first retry was due. (A lone SYN
                          at the very end of the capture is still connecting: ``open``,
                          unknown: its answer or retry was not due yet. A
                          client ACK after the SYN proves an unseen SYN+ACK: not this fate.)
4. ``listen_overflow``    the client ACKed the SYN+ACK but the server acted as if it had not:
                          it retransmitted the SYN+ACK after that ACK (tcp_abort_on_overflow=0)
                          or answered it with a listener RST (=1), and it never acknowledged
                          client data nor sent any (an overflow the server recovered from is
                          not the fate; the explanation still mentions it).
5. ``handshake_timeout``  the server retransmitted its SYN+ACK and the client never ACKed it
                          (a later server segment other than SYN+ACK/RST proves an unseen ACK).
                          In a capture filtered on SYN/FIN/RST a lone SYN+ACK decides nothing
                          (the filter drops the ACK, ``quality.flag_filtered``) unless its
                          listener retried other SYN+ACKs (``listeners.retrying``), and
                          neither it nor one resent once then stopped short decides anything
                          where that listener completes handshakes out of the capture's
                          sight (``acked_out_of_sight``: ``open``, unknown). One
                          SYN+ACK, never retried, whose SYN the capture lacks shows no server
                          retrying or giving up (a frame a switch flooded): ``open``, unknown.
6. ``keepalive_timeout``  keepalive probes unanswered at the end and the prober gave up (RST or
                          silence past one interval), or 3+ unanswered when the capture ended.
7. ``persist_timeout``    window probes unanswered at the end and the prober gave up, or 3+
                          unanswered when the capture ended; or the prober's kernel answered
                          the window's reopening with a stateless RST (``persist_freed``: its
                          persist timer had freed the socket, answered probes or not).
8. ``retransmit_timeout`` the last retransmitted data was never acknowledged, nothing new
                          followed, the peer did not reset, and either the sender was seen
                          giving up (2+ retransmissions, then silence past the next expected RTO
                          or its own RST) or the capture ended mid-backoff after 3+.
9. ``reset``              a RST ended the connection (before both FINs were exchanged); likely
                          after 200 ms of silence in a filtered capture (the filter drops the
                          probes a timer sends before its RST).
10. ``closed``            FIN from both sides.
11. ``stale_peer_reset``  a later connection on the same 4-tuple drew a client RST carrying this
                          connection's next sequence number (``Evidence.stale_peer_rst``, set by
                          the cross-connection pre-pass ``stale_peer_resets``): reset by the client.
12. ``half_closed``       FIN from exactly one side (proven only when the capture went on past
                          the peer's answer to it: ``fin_answer_wait_ns``).
                          (10, 12: in a one-sided capture the captured side's ACK of the peer's
                          FIN stands for that unseen FIN, ``Handshake.one_sided``; so does, in a
                          capture whose capture point lost a FIN, the peer's ACK of it,
                          ``Close.unseen_fins``, one per side; where the peer acknowledged
                          more than a FIN past the captured bytes, ``Close.unseen_ends``, the
                          capture point lost that side's end: unknown, ``end_not_captured``,
                          for ``half_closed`` and ``open`` alike.)
13. ``open``              nothing ended it within the capture.

Precedence rationale: handshake fates first (a connection that never opened cannot have died
of anything later); then the established-phase deaths, each of which also explains the RST or
silence that ends it (so they beat the generic ``reset``); a lossy transfer that recovered and
closed fails every death rule because its data was acknowledged, so it is ``closed``.

``closer`` is set only for closed/half_closed; ``reset_by`` whenever a RST ended the
connection (refused by RST: the server, by ICMP: none; keepalive: usually the prober). Counts follow DESIGN.md and are
computed columnar from ``facts`` for every connection.

Confidence: each rule returns, with its fate, how sure the capture makes it
(``Decision.confidence``, ``model.CAVEATS`` codes for why not proven). A fate shown by packets
(a RST, both FINs) is proven. A death read from silence (``_silence``) is proven when the capture
shows the silence past the next timer and its capture point lost nothing (``quality.py``);
likely when the capture ended after 3+ unanswered transmissions; unknown when it ended sooner,
when the capture point lost segments, when one SYN or SYN+ACK was never retried (its answer may
be unseen), when a flag filter would drop the missing ACKs, when a filter on payload would
(``quality.acks_filtered``: no bare segment in the whole capture; a RST-ended connection is then
likely, ``open`` unknown), or when only one direction holds the answers. An absent FIN or RST
(``open``, ``half_closed``) is likely where the capture point lost segments, the file states
dropped packets, or the file ends inside a record (``_end_absent``). Resent data the peer had already acknowledged is no retransmit_timeout at all.

Rules decide; they write no prose (``explain.py`` words a decision from the same ``Evidence``).

Speed: connections no detector screened in (one SYN, one SYN+ACK, no RST, no retransmission,
no probe, no zero window) can only be closed / half_closed / open; their decision comes from
columnar aggregates (``_healthy``), rules 9, 11 and 12 in vectorised form. It calls the same
functions as the per-connection path for the FIN and closer rule (``detect.close.counted_fins``,
``fins_crossed``, ``closer_code``) and the handshake-RTT rule
(``detect.handshake.handshake_rtt_ms``); tests/test_fast_path.py runs every sample and corpus
capture through both paths and finds the same verdicts.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pcapline import seqnum
from pcapline.causes import name_cause
from pcapline.causes.icmp_reject import syn_rejection
from pcapline.detect import ConnDetections, DetectResult, conn_view, detect_connection
from pcapline.detect.close import Close, first_fins_and_closer
from pcapline.detect.handshake import handshake_loops, syn_masks
from pcapline.detect.silent_sender import needed_s
from pcapline.detect.zero_window import persist_freed
from pcapline.evidence import Classified, Columnar, Evidence, StalePeerReset
from pcapline.facts import UNKNOWN as NO_SEQ
from pcapline.facts import Facts, reduce_per_connection, rows_per_connection
from pcapline.listeners import (
    ListenerRetries,
    acking_unseen,
    by_listener,
    retrying,
    stopped_short,
)
from pcapline.loopback import on_one_host
from pcapline.model import FIN, SYN, Cause, Confidence, Counts, Decision, Fate, Side
from pcapline.quality import CaptureQuality, CaptureWide, measure
from pcapline.timers import RTO_MIN_S, TCP_TIMEOUT_INIT_S, overdue

if TYPE_CHECKING:
    from pcapline.causes.path_reset import PathRst

#: Unanswered probes / retransmissions that count as a death even when the capture ended
#: before the sender's give-up could be seen.
MIDWAY_THRESHOLD = 3


Rule = Callable[[Evidence], Decision | None]


def refused(e: Evidence) -> Decision | None:
    h = e.handshake
    if h.answer == "rst" and h.synack is None:
        # The RST is on the wire: proven.
        d = Decision(Fate.REFUSED, reset_by=Side.SERVER, evidence_frames=_frames(h.answer_frame))
        if h.syn is None:
            # Only the RST's shape (sequence number 0: it reset a segment without ACK) says it
            # answered a SYN; the SYN, and whatever else came before, was not captured.
            return _sure(d, (Confidence.LIKELY, ("handshake_not_captured",)))
        return d
    return None


def refused_by_icmp(e: Evidence) -> Decision | None:
    error = syn_rejection(e)
    if error is None:
        return None
    # The error is on the wire and quotes the SYN: proven. No RST, so no reset_by.
    return Decision(Fate.REFUSED, evidence_frames=(error.frame,))


def connect_timeout(e: Evidence) -> Decision | None:
    h = e.handshake
    if h.syn is None or h.synack is not None or h.answer == "rst":
        return None
    if h.synack_proven is not None:  # the client ACKed a SYN+ACK the capture did not hold
        return None
    # A retry no timer sent (sooner than any SYN timer) does not show the timer running out.
    if (h.syn.retries >= 1 and h.syn.timed) or h.syn.gave_up:
        # SYNs resent on the kernel's own schedule are the client's word that no SYN+ACK
        # reached it: a SYN+ACK the capture point lost on its way to the client would have
        # stopped them (the client's ACK, the capture's proof, follows it). Losses of the
        # capture point elsewhere put in doubt only whether the server sent one that the
        # path lost: the network's doing, the same timeout for the client.
        own = h.syn.retries >= 1 and h.syn.timed and h.syn.schedule.regular
        sure = _silence(e, gave_up=h.syn.gave_up, unanswered=len(h.syn.frames), own_retries=own)
        if h.syn.retries == 0:
            # Linux retransmits an unanswered SYN after 1 s (3 s elsewhere): a lone SYN never
            # retried although the retry was due was answered (a RST the capture did not
            # hold) or closed by its application; the wire cannot tell which.
            sure = _weaker(sure, (Confidence.UNKNOWN, ("lone_syn",)))
        if not h.syn.schedule.regular and not h.syn.gave_up:
            # Gaps no SYN timer makes (shrinking, uneven): an application or a tool sent
            # these SYNs, or the capture missed some; when they would stop is not known.
            sure = _weaker(sure, (Confidence.UNKNOWN, ("irregular_retries",)))
        if e.seen.one_sided_capture:
            # The capture holds one direction of other connections: the answers to these
            # SYNs (a SYN+ACK, a RST) may be in the direction it did not keep.
            sure = _weaker(sure, (Confidence.UNKNOWN, ("one_sided",)))
        return _sure(Decision(Fate.CONNECT_TIMEOUT, evidence_frames=h.syn.frames), sure)
    return None


def listen_overflow(e: Evidence) -> Decision | None:
    h = e.handshake
    if not h.client_acked or h.server_acked_data or _server_spoke(e):
        return None
    # The server's answer to the ACK is on the wire; "never accepted" rests on the server's
    # silence afterwards, as good as the capture.
    sure = _silence(e, gave_up=True, unanswered=0)
    if h.overflow_rst_frame is not None:
        return _sure(
            Decision(
                Fate.LISTEN_OVERFLOW,
                reset_by=Side.SERVER,
                evidence_frames=_frames(h.overflow_rst_frame),
            ),
            sure,
        )
    if h.synack_after_ack:
        # The server acted as if the ACK never came. A full accept queue drops the ACK it got
        # (tcp_abort_on_overflow=0) and retries its SYN+ACK; so does a server the ACK never
        # reached: lost after the capture point (a stateful firewall on an asymmetric path,
        # the server's own input rules). Same packets at any capture point: likely at best.
        # (A listener RST above answers the ACK, so the ACK did arrive.)
        sure = _weaker(sure, (Confidence.LIKELY, ("ack_unconfirmed",)))
        frames = h.synack.frames if h.synack is not None else ()
        return _sure(
            Decision(Fate.LISTEN_OVERFLOW, reset_by=_reset_side(e), evidence_frames=frames), sure
        )
    return None


def handshake_timeout(e: Evidence) -> Decision | None:
    h = e.handshake
    if h.synack is None or h.client_acked or h.ack_proven is not None:
        return None  # ack_proven: the server went on as established, so the ACK arrived unseen
    if _reset_side(e) is Side.CLIENT:
        return None  # the client aborted the handshake itself: a reset, not a timeout
    if _reset_side(e) is Side.SERVER and _rst_answered_the_client(e):
        return None  # the server's RST answered the client: the ``reset`` rule tells it
    if acked_out_of_sight(e):
        return None  # no timeout shown: ``still_open`` says why it stays unknown
    filtered = e.seen.filtered
    if h.synack.retries == 0 and filtered and not e.listener_retried_synack:
        # A capture that keeps only SYN/FIN/RST segments, or only segments with data, cannot
        # hold the handshake ACK (Linux sends it bare): its
        # absence is the filter's, and one SYN+ACK never retried shows nothing else. Only the
        # server can: a listener that retried other SYN+ACKs was missing their ACKs (a flood
        # it answered with SYN cookies looks like this capture). Otherwise no fate from it:
        # the connection stays open, unknown.
        return None
    if h.synack.retries >= 1 or h.synack.gave_up:
        sure = _silence(e, gave_up=h.synack.gave_up, unanswered=len(h.synack.frames))
        if h.synack.retries == 0:
            # Linux retransmits an unacknowledged SYN+ACK after 1 s: one never retried although
            # the retry was due was acknowledged unseen, or was a SYN cookie (no request socket
            # to retry from), or tcp_synack_retries is 0; the wire cannot tell which.
            sure = _weaker(sure, (Confidence.UNKNOWN, ("lone_synack",)))
        if h.syn is None:
            # The SYN was not captured, so neither can the client's answer be trusted to be.
            sure = _weaker(sure, (Confidence.UNKNOWN, ("handshake_not_captured",)))
        if e.seen.flag_filtered:
            # A flag filter drops the handshake ACK. The retransmissions do not prove it never
            # came: a server whose accept queue overflowed (tcp_abort_on_overflow=0) drops the
            # ACK it got and retransmits its SYN+ACK the same way (listen_overflow).
            sure = _weaker(sure, (Confidence.UNKNOWN, ("flag_filtered",)))
        return _sure(
            Decision(
                Fate.HANDSHAKE_TIMEOUT, reset_by=_reset_side(e), evidence_frames=h.synack.frames
            ),
            sure,
        )
    return None


def _rst_answered_the_client(e: Evidence) -> bool:
    """The server's RST came before its next SYN+ACK resend was due: a request socket whose
    resends ran out ends silently (reqsk_timer_handler drops it, no RST), so a RST from it
    sooner than its timer answers a segment of the client's the capture does not hold: an
    ACK meeting a full accept queue with tcp_abort_on_overflow 1 (tcp_check_req), or one out
    of window. The client did answer: no handshake timeout."""
    sa, r = e.handshake.synack, e.close.ending_reset
    if sa is None or r is None or r.idle_s is None:
        return False
    # the resend timer's next wait: TCP_TIMEOUT_INIT first, then twice the one before
    wait = 2 * (sa.times[-1] - sa.times[-2]) if len(sa.times) > 1 else TCP_TIMEOUT_INIT_S
    return r.idle_s < wait


def acked_out_of_sight(e: Evidence) -> bool:
    """A capture whose filter drops the handshake ACK, of a listener that completes handshakes
    out of its sight (``listeners.ListenerRetries.acks_unseen``: it stopped resending a
    SYN+ACK short of the limit it ran others to, with no ACK or RST captured), and a SYN+ACK
    of that listener sent once (the capture going on past its resend due), or resent once
    then stopped short: its missing ACK shows no timeout. Sent once, it was acknowledged out of sight or was a SYN cookie (never resent);
    resent once, its request ended on an ACK or RST the capture does not hold."""
    sa = e.handshake.synack
    return (
        sa is not None
        and e.seen.filtered
        and e.listener_acks_unseen
        and ((sa.retries == 0 and sa.gave_up is True) or stopped_short(sa))
    )


def keepalive_timeout(e: Evidence) -> Decision | None:
    k = e.keepalive
    if k is None or not k.unanswered_tail or k.later_traffic or k.peer_rst_frame is not None:
        return None
    if k.gave_up or k.unanswered_tail >= MIDWAY_THRESHOLD:
        reset_by = k.prober if k.rst_frame is not None else None
        sure = _silence(
            e, gave_up=k.gave_up, rst_seen=k.rst_frame is not None, unanswered=k.unanswered_tail
        )
        return _sure(
            Decision(
                Fate.KEEPALIVE_TIMEOUT,
                reset_by=reset_by,
                # The peer's last keepalive ACK, the probes it left unanswered, the RST.
                evidence_frames=_sorted_frames(k.last_answer_frame, *k.tail_frames, k.rst_frame),
            ),
            _answers_unseen(e, sure),
        )
    return None


def persist_timeout(e: Evidence) -> Decision | None:
    z = e.zero_window
    if z is None:
        return None
    freed = e.close.ending_reset
    if freed is not None and persist_freed(z, freed):
        # The prober's kernel no longer had the socket when the window opened: its timer had
        # ended it (a death told by the RST its host sent afterwards, as a retransmission
        # give-up's is).
        sure = _silence(e, gave_up=True, rst_seen=True, unanswered=z.unanswered_tail)
        return _sure(
            Decision(
                Fate.PERSIST_TIMEOUT,
                reset_by=freed.side,
                # The last probe (the prober still alive), the window opening, the RST
                # answering it.
                evidence_frames=_sorted_frames(z.last_probe_frame, z.reopen_frame, freed.frame),
            ),
            _answers_unseen(e, sure),
        )
    if not z.unanswered_tail:
        return None
    if z.gave_up or z.unanswered_tail >= MIDWAY_THRESHOLD:
        reset_by = _reset_side(e) if z.rst_frame is not None else None
        sure = _silence(
            e, gave_up=z.gave_up, rst_seen=z.rst_frame is not None, unanswered=z.unanswered_tail
        )
        return _sure(
            Decision(
                Fate.PERSIST_TIMEOUT,
                reset_by=reset_by,
                # The receiver's last answer (window still 0), the probes it left unanswered,
                # the RST.
                evidence_frames=_sorted_frames(z.last_answer_frame, *z.tail_frames, z.rst_frame),
            ),
            _answers_unseen(e, sure),
        )
    return None


def retransmit_timeout(e: Evidence) -> Decision | None:
    s = e.retransmit.last_series
    if s is None or s.acked or s.later_traffic or s.peer_rst_frame is not None:
        return None
    if s.already_acked:
        # A sender resends only what it believes unacknowledged; the peer's ACK of these bytes
        # is on the wire, so the data arrived: no path or peer death follows from this series.
        return None
    if (s.gave_up and s.retransmissions >= 2) or s.retransmissions >= MIDWAY_THRESHOLD:
        reset_by = s.side if s.rst_frame is not None else None
        sure = _silence(
            e,
            gave_up=s.gave_up,
            rst_seen=s.rst_frame is not None,
            unanswered=s.retransmissions + 1,
        )
        stall = e.path_mtu
        if not s.gave_up and s.rst_frame is None and stall is not None and stall.side is s.side:
            # Full-size segments stalled while smaller ones got through: Linux with
            # tcp_mtu_probing=1 shrinks them after tcp_retries1 (3) timeouts and recovers, so
            # a capture that ended mid-backoff cannot call it a death.
            sure = _weaker(sure, (Confidence.UNKNOWN, ("pmtu_stall_unfinished",)))
        return _sure(
            Decision(Fate.RETRANSMIT_TIMEOUT, reset_by=reset_by, evidence_frames=s.frames),
            _answers_unseen(e, sure),
        )
    return None


def reset(e: Evidence) -> Decision | None:
    r = e.close.ending_reset
    if r is None or r.state == "after both FINs":
        return None
    decision = Decision(Fate.RESET, reset_by=r.side, evidence_frames=(r.frame,))
    if r.alone:
        # A RST and nothing else of the connection: that one existed, in what state, and what
        # the RST answered are not in the capture.
        return _sure(decision, (Confidence.UNKNOWN, ("rst_only",)))
    if e.seen.filtered and (r.idle_s is None or r.idle_s >= RTO_MIN_S):
        # A filter that kept only data, or only SYN/FIN/RST segments, drops the probes a timer
        # sends before its RST (keepalive, zero-window probes, retransmitted data: no timer
        # fires sooner than TCP_RTO_MIN): after such a silence the RST is on the wire,
        # whether a timeout sent it is not.
        filtered = "acks_filtered" if e.seen.acks_filtered else "flag_filtered"
        return _sure(decision, (Confidence.LIKELY, (filtered,)))
    if r.unacked_at_rst and r.idle_s is not None and r.idle_s >= _no_resend_s(e):
        # A sender with data in flight resends it within one retransmission timeout (RFC
        # 6298, tcp_retransmit_timer), and keepalives and window probes wait for it; here a
        # side's data went unresent for three RTOs, so the peer's ACK reached it out of the
        # capture's sight (a filter of bare ACKs, the capture point): the probes or retransmissions a
        # timer sent before its RST may be missing with it.
        return _sure(decision, (Confidence.LIKELY, ("capture_lossy",)))
    return decision


def _no_resend_s(e: Evidence) -> float:
    """The silence that proves a sender with data in flight did not resend it:
    ``silent_sender.needed_s`` of the connection's handshake round trip."""
    rtt_ms = e.handshake.rtt_ms
    _, need = needed_s(np.array([np.nan if rtt_ms is None else rtt_ms / 1e3]))
    return float(need[0])


def closed(e: Evidence) -> Decision | None:
    client_fin, server_fin, closer = _fins(e)
    if client_fin is None or server_fin is None:
        return None
    frames = tuple(sorted((client_fin, server_fin)))
    return _sure(
        Decision(Fate.CLOSED, closer=closer, reset_by=_reset_side(e), evidence_frames=frames),
        _fin_seen(e),
    )


def stale_peer_reset(e: Evidence) -> Decision | None:
    # After ``closed``: a connection both sides had closed was not "still open on the server".
    stale = e.stale_peer_rst
    if stale is None:
        return None
    # The RST is on the wire; that it ended THIS connection is read from its sequence number.
    return Decision(
        Fate.RESET,
        reset_by=Side.CLIENT,
        evidence_frames=(stale.rst_frame,),
        confidence=Confidence.LIKELY,
        caveats=("stale_peer_rst",),
    )


def half_closed(e: Evidence) -> Decision | None:
    client_fin, server_fin, closer = _fins(e)
    fin = client_fin if client_fin is not None else server_fin
    if fin is None:
        return None
    sure = _weaker(_fin_seen(e), _end_absent(e))
    if _ended_after_fin(e):
        sure = _weaker(sure, (Confidence.UNKNOWN, ("capture_ended_after_fin",)))
    if e.seen.acks_filtered:  # the other side's FIN may have been bare, and filtered out
        sure = _weaker(sure, (Confidence.UNKNOWN, ("acks_filtered",)))
    sure = _weaker(sure, sender_fell_silent(e))
    sure = _weaker(sure, _end_not_captured(e))
    return _sure(Decision(Fate.HALF_CLOSED, closer=closer, evidence_frames=(fin,)), sure)


def _end_not_captured(e: Evidence) -> Sure:
    """The capture point lost the last segments of a side without a captured FIN (its peer
    acknowledged them: ``Close.unseen_ends``): its FIN may have been among them, so that
    side's missing FIN shows nothing of it."""
    if e.close.unseen_ends:
        return Confidence.UNKNOWN, ("end_not_captured",)
    return Confidence.PROVEN, ()


#: The least time a capture must run past a FIN before the other side's missing FIN says its
#: application did not close. The peer's FIN follows its application's close(), which follows
#: its read of the EOF: no kernel timer bounds that, so the wait is the connection's own answer
#: times (``fin_answer_wait_ns``), and never less than TCP_TIMEOUT_INIT (1 s), the kernel's
#: own first wait for an answer it has no measure of.
FIN_ANSWER_FLOOR_S = TCP_TIMEOUT_INIT_S


def fin_answer_wait_ns(facts: Facts, first_fin_row: np.ndarray, rtt_ms: np.ndarray) -> np.ndarray:
    """Per connection (``facts.conn_ids`` order): how long after its first FIN (row
    ``first_fin_row``, -1: none) the capture must go on before the peer's missing answer is
    the peer's: the longest of its round trip at the capture point (``rtt_ms``, NaN:
    unknown), the peer's slowest answer seen in the connection and ``FIN_ANSWER_FLOOR_S``.
    An answer is a peer segment that carries data or a FIN, or follows a segment of the FIN's
    sender at once, timed from the last segment of the FIN's sender before it: its server's
    think time, delayed ACKs, a far server behind a near NAT."""
    floor = int(FIN_ANSWER_FLOOR_S * 1e9)
    rtt_ns = np.nan_to_num(np.asarray(rtt_ms, dtype=np.float64) * 1e6, nan=0.0)
    wait: np.ndarray = np.maximum(np.int64(floor), rtt_ns.astype(np.int64))
    has_fin = first_fin_row >= 0
    if len(facts.time_ns) < 2 or not has_fin.any():
        return wait
    ci = facts.conn_index
    rows = np.arange(len(ci))
    by_closer = facts.from_client == facts.from_client[np.maximum(first_fin_row, 0)][ci]
    last_closer = np.maximum.accumulate(np.where(by_closer, rows, -1))
    turn = np.zeros(len(ci), dtype=bool)
    turn[1:] = by_closer[:-1]
    answer = ~by_closer & has_fin[ci] & (last_closer >= facts.starts[:-1][ci])
    answer &= turn | (facts.seg_len > 0) | facts.fin
    gap = np.where(answer, facts.time_ns - facts.time_ns[np.maximum(last_closer, 0)], 0)
    slowest = reduce_per_connection(np.maximum, gap, facts.starts, empty=0, dtype=np.int64)
    waits: np.ndarray = np.maximum(wait, slowest)
    return waits


def ended_before_an_answer(
    fin_ns: np.ndarray, capture_end_ns: int, wait_ns: np.ndarray
) -> np.ndarray:
    """Per connection: the capture ended less than ``wait_ns`` (``fin_answer_wait_ns``)
    after its first FIN (``fin_ns``, -1: none), so the peer's answer to that FIN, its own
    FIN among it, need not have come yet: its absence shows nothing of the peer."""
    ended: np.ndarray = (fin_ns >= 0) & ((capture_end_ns - fin_ns) < wait_ns)
    return ended


def _ended_after_fin(e: Evidence) -> bool:
    """``ended_before_an_answer`` of one connection (``Evidence.fin_answer_wait_ns``, at
    least the floor and its handshake round trip)."""
    fin_ns, rtt = e.close.first_fin_ns, e.handshake.rtt_ms
    if fin_ns is None:
        return False
    wait = max(e.fin_answer_wait_ns, FIN_ANSWER_FLOOR_S * 1e9, (rtt or 0.0) * 1e6)
    return e.capture_end_ns - fin_ns < wait


def _end_absent(e: Evidence) -> Sure:
    """How sure the capture makes the absence of a FIN or RST ("half closed", "open"): not
    at all where the direction that would carry it may not be in the capture (only one side
    of the connection was captured, in a capture that lacks a direction of some connection),
    and not quite where the capture point lost segments, of this connection or another: a
    tap that drops packets drops FINs too, with the peer's ACK of them, leaving no trace in
    the connection itself (as ``_silence`` reads a death). Likewise where the file's interface
    statistics report dropped packets (the FIN may be one of them), where the file ends
    inside a packet record (it was cut while the capture went on: what ended the connection
    may be past the cut), and where the capture began inside the connection and a side sent
    no data in it (its FIN may be before the capture: ``quality.fin_may_precede``). The
    columnar twin for the connections no detector visited is
    ``_fast_confidence``."""
    if e.seen.one_direction and e.seen.one_sided_capture:
        return Confidence.UNKNOWN, ("one_sided",)
    caveats = (
        ("capture_lossy",) * (e.seen.lossy or e.seen.lossy_capture)
        + ("capture_dropped",) * e.seen.dropped
        + ("file_truncated",) * e.seen.truncated
        # A side that sent no data in a capture begun inside the connection may have sent
        # its FIN before the capture started (``quality.fin_may_precede``).
        + ("handshake_not_captured",) * e.seen.fin_may_precede
    )
    if caveats:
        return Confidence.LIKELY, caveats
    return Confidence.PROVEN, ()


def still_open(e: Evidence) -> Decision | None:
    acked = ("handshake_acked_unseen",) * acked_out_of_sight(e)
    if e.seen.flag_filtered:  # a SYN-only filter drops the FINs and RSTs that would end it
        return Decision(Fate.OPEN, confidence=Confidence.UNKNOWN, caveats=("flag_filtered", *acked))
    if e.seen.acks_filtered:  # a filter on payload drops bare FINs and RSTs
        return Decision(Fate.OPEN, confidence=Confidence.UNKNOWN, caveats=("acks_filtered", *acked))
    if lone_syn_overdue_on_linux(e):
        # Still connecting only if its stack waits longer than Linux's 1 s (Windows: 3 s);
        # a Linux client would have retried by now: it gave up, its answer was not
        # captured, or no socket sent it (a scanner's SYN).
        return Decision(Fate.OPEN, confidence=Confidence.UNKNOWN, caveats=("lone_syn",))
    if _lone_syn(e):
        # The capture ended before its answer or its first retry (TCP_TIMEOUT_INIT) was due:
        # whether it connected, was refused or timed out is after the capture.
        return Decision(Fate.OPEN, confidence=Confidence.UNKNOWN, caveats=("capture_ended",))
    if (lone := _lone_synack(e)) is not None:
        return Decision(Fate.OPEN, confidence=Confidence.UNKNOWN, caveats=lone)
    sure = _weaker(_end_absent(e), sender_fell_silent(e))
    return _sure(Decision(Fate.OPEN), _weaker(sure, _end_not_captured(e)))


def sender_fell_silent(e: Evidence) -> Sure:
    """A side's last data was never acknowledged and it sent nothing for three RTOs while the
    capture went on (``detect.silent_sender``): a live sender resends within one RTO, so the
    capture is missing this connection's later segments (its capture point dropped them, or
    everything was lost before it), and with them whatever ended it. "Open" or "half closed"
    is then read from an absence the capture cannot vouch for: unknown, not likely (a lossy
    capture point elsewhere leaves this connection's end merely likely; here its own missing
    segments are shown)."""
    if e.silent_sender is None:
        return Confidence.PROVEN, ()
    return Confidence.UNKNOWN, ("silent_sender",)


def _lone_syn(e: Evidence) -> bool:
    """One SYN, never answered nor retried (``lone_syn_overdue_on_linux`` less the wait)."""
    h = e.handshake
    if h.syn is None or h.syn.retries or h.synack is not None or h.answer != "none":
        return False
    return h.synack_proven is None


def _lone_synack(e: Evidence) -> tuple[str, ...] | None:
    """A SYN+ACK never retried nor acknowledged (``handshake_timeout`` left it: a server that
    never resent it was not seen timing out): why its connection's state is unknown. None: not
    such a connection."""
    h = e.handshake
    s = h.synack
    if s is None or s.retries or h.client_acked or h.ack_proven is not None:
        return None
    waited_s = (e.capture_end_ns - e.end_ns) / 1e9
    due = ("lone_synack",) if overdue(waited_s, TCP_TIMEOUT_INIT_S) else ("capture_ended",)
    return due + ("handshake_not_captured",) * (h.syn is None)


def lone_syn_overdue_on_linux(e: Evidence) -> bool:
    """One SYN, unanswered, and the capture ran past Linux's first retry (TCP_TIMEOUT_INIT,
    with the timer slack) without it."""
    h = e.handshake
    if h.syn is None or h.syn.retries or h.synack is not None or h.answer != "none":
        return False
    if h.synack_proven is not None:
        return False
    waited_s = (e.capture_end_ns - e.end_ns) / 1e9  # the SYN is the connection's last segment
    return overdue(waited_s, TCP_TIMEOUT_INIT_S)


# --- confidence: how sure the capture makes a fate -----------------------------------------

Sure = tuple[Confidence, tuple[str, ...]]
_ORDER = (Confidence.PROVEN, Confidence.LIKELY, Confidence.UNKNOWN)


def _sure(d: Decision, sure: Sure) -> Decision:
    if d.confidence is sure[0] and d.caveats == sure[1]:
        return d  # already so (the usual proven fate): no copy
    return replace(d, confidence=sure[0], caveats=sure[1])


def _weaker(a: Sure, b: Sure) -> Sure:
    """The less sure of two, with the caveats of both."""
    level = max(a[0], b[0], key=_ORDER.index)
    return level, tuple(dict.fromkeys(a[1] + b[1]))


def _silence(
    e: Evidence,
    *,
    gave_up: bool | None,
    unanswered: int,
    rst_seen: bool = False,
    own_retries: bool = False,
) -> Sure:
    """A death read from what did NOT come after ``unanswered`` transmissions of a timer.

    The sender's own RST ends it on the wire (proven). Otherwise the give-up is the silence
    past the next timer the backoff predicts: proven when the capture shows that silence and
    its capture point lost nothing; unknown when the capture point lost segments (the answer
    may be one of them). When the capture ended first, the backoff's shape is the evidence:
    likely after MIDWAY_THRESHOLD unanswered transmissions (one or two lost packets are
    ordinary loss the next retry repairs), unknown before. The sender's RST shows it gave up,
    not why: the answers it waited for may be among the segments the capture point lost from
    this connection (another connection's losses say nothing of them). Likewise
    ``own_retries``: a sender's retries on its kernel's schedule, in a connection that lost
    nothing at the capture point, show by themselves that no answer reached it (a SYN+ACK
    that did would have stopped the client's SYNs): the capture point's losses elsewhere
    cannot have taken that answer from the sender, only from the capture, so they weaken
    nothing. Drops its interface statistics report still do: they come in bursts when its
    buffer overflows, which can swallow a short connection's whole tail (an answer to the
    last SYN, the ACK, the data), so the silence after the last SYN proves nothing.
    """
    if e.seen.acks_filtered:
        # A filter that kept only data drops the bare ACKs and probes this silence is read
        # from (the answers may have come), and the bare RST of a give-up too.
        return Confidence.UNKNOWN, ("acks_filtered",)
    if rst_seen:
        if e.seen.lossy:
            return Confidence.UNKNOWN, ("capture_lossy",)
        return Confidence.PROVEN, ()
    if own_retries and not e.seen.lossy and not e.seen.dropped:
        pass  # the sender's own retries are the evidence (above)
    elif e.seen.lossy_capture:
        return Confidence.UNKNOWN, ("capture_lossy",)
    elif e.seen.dropped:
        return Confidence.UNKNOWN, ("capture_dropped",)
    if gave_up:
        return Confidence.PROVEN, ()
    if unanswered >= MIDWAY_THRESHOLD:
        return Confidence.LIKELY, ("capture_ended",)
    return Confidence.UNKNOWN, ("capture_ended",)


def _answers_unseen(e: Evidence, sure: Sure) -> Sure:
    """Established-phase deaths rest on the peer's missing ACKs: a capture of one direction
    cannot hold them."""
    if e.seen.one_direction:
        return _weaker(sure, (Confidence.UNKNOWN, ("one_sided",)))
    return sure


def _fin_seen(e: Evidence) -> Sure:
    one = e.handshake.one_sided
    if one is not None and one.peer_fin_ack_frame is not None:
        return Confidence.LIKELY, ("peer_fin_inferred",)
    if e.close.unseen_fins:
        return Confidence.LIKELY, ("peer_fin_inferred",)
    return Confidence.PROVEN, ()


#: The decision procedure, in order (module docstring).
RULES: tuple[tuple[str, Rule], ...] = (
    ("refused", refused),
    ("refused_by_icmp", refused_by_icmp),
    ("connect_timeout", connect_timeout),
    ("listen_overflow", listen_overflow),
    ("handshake_timeout", handshake_timeout),
    ("keepalive_timeout", keepalive_timeout),
    ("persist_timeout", persist_timeout),
    ("retransmit_timeout", retransmit_timeout),
    ("reset", reset),
    ("closed", closed),
    ("stale_peer_reset", stale_peer_reset),
    ("half_closed", half_closed),
    ("open", still_open),
)


def decide(e: Evidence) -> Decision:
    """The first rule that matches decides the fate; then ``causes`` may name why."""
    for _name, rule in RULES:
        decision = rule(e)
        if decision is not None:
            decision = _one_connection_or_likely(e, decision)
            cause = name_cause(e, decision)
            return decision if cause is None else replace(decision, cause=cause)
    raise AssertionError("the 'open' rule always matches")


def _one_connection_or_likely(e: Evidence, d: Decision) -> Decision:
    """Every rule reads the whole stream. When it holds a second connection whose SYN the
    capture lost (``Handshake.reopened_frame``), the first one's end and the second one's
    packets are read as one connection's: a RST or FIN of either may decide the fate."""
    if e.handshake.reopened_frame is None:
        return d
    return _sure(d, _weaker((d.confidence, d.caveats), (Confidence.LIKELY, ("two_connections",))))


def _frames(*frames: int | None) -> tuple[int, ...]:
    return tuple(f for f in frames if f is not None)


def _sorted_frames(*frames: int | None) -> tuple[int, ...]:
    """The distinct frames given, ascending (``Decision.evidence_frames``' order)."""
    return tuple(sorted({f for f in frames if f is not None}))


def _with_unseen_fins(c: Close) -> tuple[int | None, int | None, Side | None]:
    """``_fins`` with the FINs the capture point lost (``Close.unseen_fins``): the peer's ACK
    of each stands for it. A side closed first when its FIN was acknowledged before the
    peer's FIN (captured, or itself inferred) went by, else the peer did; a side whose FIN
    is neither captured nor inferred leaves the other as the closer."""
    fins = {Side.CLIENT: c.client_fin_frame, Side.SERVER: c.server_fin_frame}
    for unseen in c.unseen_fins:
        fins[unseen.side] = unseen.ack_frame
    first = c.unseen_fins[0]
    other = fins[first.side.other]
    closer = first.side if other is None or first.ack_frame <= other else first.side.other
    return fins[Side.CLIENT], fins[Side.SERVER], closer


def _reset_side(e: Evidence) -> Side | None:
    r = e.close.ending_reset
    return r.side if r is not None else None


def _fins(e: Evidence) -> tuple[int | None, int | None, Side | None]:
    """Client FIN frame, server FIN frame, closer. In a one-sided capture the unseen peer's FIN
    is proven by the captured side's ACK of it (its frame stands for the FIN)."""
    c = e.close
    one = e.handshake.one_sided
    if c.unseen_fins:
        return _with_unseen_fins(c)
    if one is None or one.peer_fin_ack_frame is None:
        return c.client_fin_frame, c.server_fin_frame, c.closer
    peer = Side.SERVER if one.captured is Side.CLIENT else Side.CLIENT
    closer = peer if one.peer_closed_first else one.captured
    if one.captured is Side.CLIENT:
        return c.client_fin_frame, one.peer_fin_ack_frame, closer
    return one.peer_fin_ack_frame, c.server_fin_frame, closer


def _server_spoke(e: Evidence) -> bool:
    """The server sent data or a FIN after the handshake: it had accepted the connection."""
    return e.close.server_fin_frame is not None or e.handshake.server_sent_data


# ----------------------------------------------------------------------------------------


def classify(
    segments: pd.DataFrame,
    connections: pd.DataFrame,
    detected: DetectResult,
    *,
    dropped: bool = False,
    truncated: bool = False,
    capture: CaptureWide | None = None,
    retried_by_listener: Mapping[str, ListenerRetries] | None = None,
    path_rsts: Mapping[int, PathRst] | None = None,
) -> Classified:
    """One decision per connection: RULES for visited ones, the fast path for the others.

    ``dropped``: the file's interface statistics report dropped packets (quality.ReadQuality),
    so no absence is proven; ``truncated``: the file ends inside a packet record (likewise).

    Cross-connection evidence comes first (``stale_peer_resets``): a connection it names is
    decided through RULES even when no detector screened it. ``capture``: the whole
    capture's quality flags when ``segments`` hold only some of its 4-tuples (``engine.py``:
    every connection of a 4-tuple together); None: they are the whole capture. Likewise
    ``retried_by_listener``: the whole capture's ``listeners.by_listener`` (a listener's
    connections span parts); None: counted over ``connections``. ``path_rsts``: per
    connection id, its RST from a device in the path (``causes.path_reset.judge_all``
    against the whole capture's server TTLs, ``engine.Settings.server_ttls``).
    """
    facts = detected.facts
    n = len(facts.conn_ids)
    counts = _counts(facts)
    stale = stale_peer_resets(segments, connections, detected)
    fast = _healthy(facts)
    visited = detected.visited.copy()
    detections: dict[int, ConnDetections] = dict(detected.detections)
    for conn in stale:
        index = int(np.searchsorted(facts.conn_ids, conn))
        if not visited[index]:  # no screen selected it: run the detectors for RULES
            detections[conn] = detect_connection(conn_view(facts, index))
            visited[index] = True
    screened = detected.screened if len(detected.screened) else detected.visited
    start = facts.time_ns[facts.starts[:-1]] if n else np.zeros(0, np.int64)
    end = facts.time_ns[np.maximum(facts.starts[1:] - 1, 0)] if n else start
    fate, closer, reset_by, frames = fast.fate, fast.closer, fast.reset_by, fast.evidence_frames
    quality = measure(facts, dropped=dropped, truncated=truncated, capture=capture)
    columnar = _columnar(facts)
    answer_wait = fin_answer_wait_ns(facts, fast.first_fin_row, columnar.rtt_ms)
    ended_early = ended_before_an_answer(fast.first_fin_ns, facts.capture_end_ns, answer_wait)
    confidence, caveats = _fast_confidence(fate, quality, ended_early)
    cause: list[Cause | None] = [None] * n  # healthy connections name no cause
    evidence: dict[int, Evidence] = {}
    decisions: dict[int, Decision] = {}
    own = by_listener(connections, facts.conn_ids, counts["synack_retransmits"], detections)
    listener_retried = retrying(
        connections, facts.conn_ids, counts["synack_retransmits"], whole=retried_by_listener
    )
    acks_unseen = acking_unseen(
        connections, facts.conn_ids, own if retried_by_listener is None else retried_by_listener
    )
    rows = np.flatnonzero(visited)
    visited_counts = np.column_stack([counts[name][rows] for name in Counts.__slots__]).tolist()
    # The visited rows' scalars as Python values once (not one numpy scalar read each).
    per_row = zip(
        rows.tolist(),
        facts.conn_ids[rows].tolist(),
        visited_counts,
        start[rows].tolist(),
        end[rows].tolist(),
        np.asarray(screened, dtype=bool)[rows].tolist(),
        listener_retried[rows].tolist(),
        acks_unseen[rows].tolist(),
        on_one_host(connections, facts.conn_ids[rows]).tolist(),
        answer_wait[rows].tolist(),
        strict=True,
    )
    for (
        index,
        conn,
        row_counts,
        start_ns,
        end_ns,
        was_screened,
        retried,
        unseen,
        local,
        wait,
    ) in per_row:
        e = Evidence.of(
            conn,
            Counts(*row_counts),
            detections[conn],
            start_ns=start_ns,
            end_ns=end_ns,
            capture_end_ns=facts.capture_end_ns,
            screened=was_screened,
            stale_peer_rst=stale.get(conn),
            seen=quality.seen(index),
            listener_retried_synack=retried,
            listener_acks_unseen=unseen,
            icmp=detected.icmp.get(conn, ()),
            one_host=local,
            fin_answer_wait_ns=wait,
            path_rst=path_rsts.get(conn) if path_rsts else None,
        )
        d = decide(e)
        evidence[conn], decisions[conn] = e, d
        fate[index], closer[index], reset_by[index] = d.fate, d.closer, d.reset_by
        frames[index] = d.evidence_frames
        confidence[index], caveats[index] = d.confidence, d.caveats
        cause[index] = d.cause
    _count_rst_with_the_connection_it_ended(facts, decisions, counts, stale)
    return Classified(
        conn_ids=facts.conn_ids,
        fate=fate,
        closer=closer,
        reset_by=reset_by,
        evidence_frames=frames,
        counts=counts,
        evidence=evidence,
        decisions=decisions,
        columnar=columnar,
        quality=quality,
        confidence=confidence,
        caveats=caveats,
        cause=cause,
        listeners=own,
    )


def _fast_confidence(
    fate: np.ndarray, quality: CaptureQuality, ended_early: np.ndarray
) -> tuple[list[Confidence], list[tuple[str, ...]]]:
    """``still_open``'s and the FIN rules' confidence, columnar: a FIN on the wire is proven;
    "open" in a flag- or payload-filtered capture is unknown (the filter drops what would end
    it), and so is "half closed" in a payload-filtered one (the other FIN may have been bare)."""
    n = len(fate)
    confidence = [Confidence.PROVEN] * n
    caveats: list[tuple[str, ...]] = [()] * n
    # ``_end_absent``: an absent FIN or RST, in a connection captured one way or lossy
    ending = (fate == Fate.OPEN) | (fate == Fate.HALF_CLOSED)
    one_way = ending & np.asarray(quality.one_direction, dtype=bool) & quality.one_sided_capture
    lossy = ending & ~one_way & (np.asarray(quality.lossy, dtype=bool) | quality.lossy_capture)
    for i in np.flatnonzero(one_way).tolist():
        confidence[i], caveats[i] = Confidence.UNKNOWN, ("one_sided",)
    for i in np.flatnonzero(lossy).tolist():
        confidence[i], caveats[i] = Confidence.LIKELY, ("capture_lossy",)
    # ... or where the file says it dropped packets, or ends inside a record
    said = ("capture_dropped",) * quality.dropped + ("file_truncated",) * quality.truncated
    for i in np.flatnonzero(ending & ~one_way).tolist() if said else ():
        confidence[i], caveats[i] = Confidence.LIKELY, (*caveats[i], *said)
    # ... or where a side of a connection the capture began inside may have closed before it
    for i in np.flatnonzero(ending & ~one_way & quality.fin_may_precede).tolist():
        confidence[i], caveats[i] = Confidence.LIKELY, (*caveats[i], "handshake_not_captured")
    for i in np.flatnonzero((fate == Fate.HALF_CLOSED) & ended_early).tolist():
        confidence[i] = Confidence.UNKNOWN
        caveats[i] = (*caveats[i], "capture_ended_after_fin")
    unsure = np.zeros(n, dtype=bool)
    if quality.flag_filtered:
        unsure |= fate == Fate.OPEN
    elif quality.acks_filtered:
        unsure |= ending
    filtered = "flag_filtered" if quality.flag_filtered else "acks_filtered"
    for i in np.flatnonzero(unsure).tolist():
        confidence[i] = Confidence.UNKNOWN
        caveats[i] = (*caveats[i], filtered) if fate[i] == Fate.HALF_CLOSED else (filtered,)
    return confidence, caveats


def _count_rst_with_the_connection_it_ended(
    facts: Facts,
    decisions: Mapping[int, Decision],
    counts: dict[str, np.ndarray],
    stale: Mapping[int, StalePeerReset],
) -> None:
    """A stale-peer RST that ended the older connection counts there, not in the newer one
    (where Wireshark's tcp.stream rule grouped it). In place."""
    resets = counts["resets"]
    for older, found in stale.items():
        if decisions[older].evidence_frames != (found.rst_frame,):
            continue  # an earlier rule decided the older connection: the RST ended nothing
        i_old, i_new = np.searchsorted(facts.conn_ids, [older, found.newer_conn]).tolist()
        resets[i_old] += 1
        resets[i_new] = max(int(resets[i_new]) - 1, 0)


def stale_peer_resets(
    segments: pd.DataFrame, connections: pd.DataFrame, detected: DetectResult
) -> dict[int, StalePeerReset]:
    """Cross-connection evidence on one 4-tuple, keyed by the OLDER connection's id.

    A stale-peer exchange (challenge ACK, client RST, SYN retry) is grouped with the NEW
    connection (Wireshark's tcp.stream rule), but its RST carries the OLD connection's next
    client sequence number (a client segment's end: seq + length + SYN + FIN), so it ends the
    old one on the server.
    """
    stale = [
        (conn, rst_frame)
        for conn, found in detected.detections.items()
        if (rst_frame := found.handshake.inferred.stale_rst_frame) is not None
    ]
    if not stale:
        return {}
    # Each look-up below is one pass over the tables for all the stale-peer exchanges: a
    # capture of a NAT or a load balancer can hold thousands of them.
    olders = _previous_on_4tuple(connections, [conn for conn, _ in stale])
    rst_rows = _rows_of_frames(segments, [frame for _, frame in stale])
    next_seqs = _client_next_seqs(segments, {older for older in olders if older is not None})
    seq = segments["seq"].to_numpy(np.int64)
    time_ns = segments["time_ns"].to_numpy(np.int64)
    facts = detected.facts
    out: dict[int, StalePeerReset] = {}
    for (conn, rst_frame), older in zip(stale, olders, strict=True):
        if older is None:
            continue
        rst, ends = rst_rows.get(rst_frame), next_seqs.get(older)
        if rst is None or not ends or int(seq[rst]) not in ends:
            continue
        i_old = int(np.searchsorted(facts.conn_ids, older))
        last_ns = int(facts.time_ns[facts.starts[i_old + 1] - 1])
        idle = (int(time_ns[rst]) - last_ns) / 1e9
        # Two later connections naming one older: the first RST ended it.
        out.setdefault(older, StalePeerReset(rst_frame=rst_frame, newer_conn=conn, idle_s=idle))
    return out


def _rows_of_frames(segments: pd.DataFrame, frames: list[int]) -> dict[int, int]:
    """The first segment row of each of ``frames`` (absent: not in ``segments``)."""
    frame = segments["frame"].to_numpy(np.int64)
    rows: dict[int, int] = {}
    for row in np.flatnonzero(np.isin(frame, frames)).tolist():
        rows.setdefault(int(frame[row]), row)
    return rows


def _client_next_seqs(segments: pd.DataFrame, conns: set[int]) -> dict[int, set[int]]:
    """Per connection of ``conns``: its client's next sequence numbers, one per client
    segment (seq + length + SYN + FIN, wrapped); a connection without client segment is
    left out."""
    conn = segments["conn"].to_numpy(np.int64)
    rows = np.flatnonzero(np.isin(conn, list(conns)) & segments["from_client"].to_numpy(bool))
    rows = rows[np.argsort(conn[rows], kind="stable")]
    flags = segments["flags"].to_numpy(np.int64)[rows]
    ends = seqnum.wrap(
        segments["seq"].to_numpy(np.int64)[rows]
        + segments["seg_len"].to_numpy(np.int64)[rows]
        + ((flags & SYN) != 0)
        + ((flags & FIN) != 0)
    )
    owners = conn[rows]
    starts = np.flatnonzero(np.append(True, owners[1:] != owners[:-1])) if len(rows) else rows
    bounds = np.append(starts, len(rows)).tolist()
    values = ends.tolist()
    return {int(owners[a]): set(values[a:b]) for a, b in itertools.pairwise(bounds)}


def _previous_on_4tuple(connections: pd.DataFrame, conns: list[int]) -> list[int | None]:
    """Per connection of ``conns``: the latest earlier connection (highest lower id) on its
    very 4-tuple, client and server ends alike (None: none, or not in ``connections``)."""
    keys = ["client_ip", "client_port", "server_ip", "server_port"]
    # Only connections on the asked ones' port pairs can share their 4-tuples: the addresses
    # (text) are grouped for those alone.
    ports = connections["client_port"].to_numpy(np.int64) << 16
    ports |= connections["server_port"].to_numpy(np.int64)
    asked = pd.Index(connections["id"]).get_indexer(conns)
    near = connections[np.isin(ports, ports[asked[asked >= 0]])]
    group = near.groupby(keys, sort=False).ngroup().to_numpy(np.int64)
    ids = near["id"].to_numpy(np.int64)
    order = np.lexsort((ids, group))  # tuple by tuple, ids ascending inside
    groups, ids_in_order = group[order], ids[order]
    out: list[int | None] = []
    for conn, row in zip(conns, pd.Index(ids).get_indexer(conns).tolist(), strict=True):
        if row < 0:
            out.append(None)
            continue
        lo = int(np.searchsorted(groups, group[row], side="left"))
        hi = int(np.searchsorted(groups, group[row], side="right"))
        at = lo + int(np.searchsorted(ids_in_order[lo:hi], conn))  # its tuple's ids below it
        out.append(int(ids_in_order[at - 1]) if at > lo else None)
    return out


def _counts(facts: Facts) -> dict[str, np.ndarray]:
    """The six DESIGN.md counts per connection (facts.conn_ids order), columnar, by
    ``Counts`` field name."""
    clean = ~facts.is_dup

    def per_conn(mask: np.ndarray) -> np.ndarray:
        return rows_per_connection(mask, facts.starts)

    syns, synacks = (
        per_conn(mask) for mask in syn_masks(facts, facts.starts)
    )  # the handshake's own
    columns = (
        np.maximum(syns - 1, 0),
        np.maximum(synacks - 1, 0),
        per_conn(facts.is_retrans),
        per_conn(facts.is_keepalive),
        per_conn(facts.is_window_probe),
        per_conn(facts.rst & clean),
    )
    return dict(zip(Counts.__slots__, columns, strict=True))


@dataclass(frozen=True, slots=True)
class Healthy:
    """Rules 9, 11 and 12 in columnar form, for connections no detector needed to visit
    (every connection, conn_ids order; classify then overwrites the visited ones)."""

    fate: np.ndarray  # object: Fate
    closer: np.ndarray  # object: Side or None (detect.close.first_fins_and_closer)
    reset_by: np.ndarray  # object: None (no RST in an unvisited connection)
    evidence_frames: list[tuple[int, ...]]  # the FINs that decided it
    first_fin_ns: np.ndarray  # int: when the first FIN was captured (-1: no FIN)
    first_fin_row: np.ndarray  # int: its row in the facts (-1: no FIN)


def _healthy(facts: Facts) -> Healthy:
    n = len(facts.conn_ids)
    client_row, server_row, closer = first_fins_and_closer(facts)
    client_fin = np.where(client_row >= 0, facts.frame[client_row], 0)
    server_fin = np.where(server_row >= 0, facts.frame[server_row], 0)
    has_c, has_s = client_row >= 0, server_row >= 0
    first_row = _first_fin_row(client_row, server_row)
    fate = np.empty(n, dtype=object)
    fate[:] = Fate.OPEN  # (numpy.full would store the str, not the enum member)
    fate[has_c | has_s] = Fate.HALF_CLOSED
    fate[has_c & has_s] = Fate.CLOSED
    return Healthy(
        fate=fate,
        closer=closer.copy(),  # ``decide`` writes the visited ones; the shared pass is read-only
        reset_by=np.full(n, None, dtype=object),
        evidence_frames=_fin_frames(client_fin, server_fin),
        first_fin_ns=np.where(first_row >= 0, facts.time_ns[np.maximum(first_row, 0)], -1),
        first_fin_row=first_row,
    )


def _first_fin_row(client_row: np.ndarray, server_row: np.ndarray) -> np.ndarray:
    """Per connection: the row of its first FIN (``Close.first_fin_ns``), -1 without one."""
    rows = np.where(client_row < 0, server_row, np.where(server_row < 0, client_row, 0))
    found: np.ndarray = np.where(
        (client_row >= 0) & (server_row >= 0), np.minimum(client_row, server_row), rows
    )
    return found


def _fin_frames(client_fin: np.ndarray, server_fin: np.ndarray) -> list[tuple[int, ...]]:
    """Per connection, the evidence of closed (both FINs, in frame order) or half_closed (the
    one FIN); 0: no FIN from that side. Tuples made by zip, not one call per connection."""
    out: list[tuple[int, ...]] = [()] * len(client_fin)
    both = (client_fin != 0) & (server_fin != 0)
    one = (client_fin != 0) != (server_fin != 0)
    first, last = np.minimum(client_fin, server_fin), np.maximum(client_fin, server_fin)
    pairs = zip(first[both].tolist(), last[both].tolist(), strict=True)
    for index, frames in zip(np.flatnonzero(both).tolist(), pairs, strict=True):
        out[index] = frames
    for index, frame in zip(np.flatnonzero(one).tolist(), zip(last[one].tolist()), strict=True):
        out[index] = frame
    return out


def _columnar(facts: Facts) -> Columnar:
    """What explain words a fast-path connection with, for every connection."""

    def per_conn(mask: np.ndarray) -> np.ndarray:
        return rows_per_connection(mask, facts.starts)

    # With the halves of the round trip, from the same pass: the delays stage reads both.
    rtt_ms, loops = handshake_loops(facts)
    return Columnar(
        rtt_ms=rtt_ms,
        loops=loops,
        capture_start=per_conn(facts.syn) == 0,
        duplicates=per_conn(facts.is_dup),
        super_segments=per_conn(facts.super_segment),
        fin_unacked=fin_unacknowledged(facts),
    )


def fin_unacknowledged(facts: Facts) -> np.ndarray:
    """Per connection: a FIN from one side only, and no segment of the other side's (RSTs
    aside) acknowledges it. A peer that got the FIN acknowledges it within its delayed-ACK
    time (tcp_fin: CLOSE_WAIT, the ACK scheduled), alone or with its own FIN or data; with
    none of that in the capture, the FIN may never have reached it (or its answer never
    reached the capture point), so neither its CLOSE_WAIT nor its application's missing
    close() is shown. With both FINs the question does not arise (closed)."""
    client_row, server_row, _ = first_fins_and_closer(facts)
    n = len(facts.conn_ids)
    one = (client_row >= 0) != (server_row >= 0)
    fin_row = np.where(client_row >= 0, client_row, server_row)
    out = np.zeros(n, dtype=bool)
    conns = np.flatnonzero(one)
    if not len(conns):
        return out
    rows = fin_row[conns]
    closer_is_client = facts.from_client[rows]
    fin_end = facts.seq_end[rows].astype(np.int64)
    ci = facts.conn_index
    peer = (facts.from_client != _closer_is_client_of(ci, conns, closer_is_client, n)) & facts.ack
    peer &= ~facts.rst & (facts.rel_ack != NO_SEQ)
    highest = reduce_per_connection(
        np.maximum, np.where(peer, facts.rel_ack, -1), facts.starts, empty=-1, dtype=np.int64
    )
    out[conns] = highest[conns] < fin_end
    return out


def _closer_is_client_of(
    ci: np.ndarray, conns: np.ndarray, closer_is_client: np.ndarray, n: int
) -> np.ndarray:
    """Per row: whether its connection's closer (``conns``' ``closer_is_client``) is the
    client; connections without one read False (no row of theirs is counted)."""
    side = np.zeros(n, dtype=bool)
    side[conns] = closer_is_client
    found: np.ndarray = side[ci]
    return found


__all__ = [
    "RULES",
    "Classified",
    "Decision",
    "Evidence",
    "classify",
    "decide",
    "stale_peer_resets",
]
