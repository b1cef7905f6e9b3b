"""Zero window: a full receiver, the sender's persist (window) probes, and the recovery.

Kernel rules (tcp-facts.md "ESTABLISHED, receiver full"; anchors.md 5.3/5.4):

- A receiver whose buffer is full (the application does not read) advertises window 0.
- The sender's persist timer sends window probes, backing off like the RTO (doubling, capped
  at 120 s; ``next_probe_due``: the doubling also stops at ``net.ipv4.tcp_retries2``). Linux probes have the keepalive shape (0 bytes, seq = snd.una - 1,
  ``tcp_xmit_probe_skb``); BSD/Windows send 1 byte of new data at snd.nxt.
- A live receiver answers each probe with an ACK still showing window 0, or with a window
  update when it has room again. Probing is unbounded while the receiver answers; without
  answers the sender gives up after about ``net.ipv4.tcp_retries2`` probes (or
  ``TCP_USER_TIMEOUT``) and frees the socket silently (no RST on Linux).

``facts.py`` decides which probe-shaped segments are window probes (the peer's last advertised
window was 0); Wireshark calls the Linux ones "Keep-Alive", we do not.

Emits: window_probe, window_probe_ack, window_update (per connection) and zero_window (each
advertisement of a closed window after an open one, for all connections, columnar).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from pcapline.detect import (
    NOTHING,
    Batch,
    ConnView,
    Detection,
    Detector,
    EventRows,
    per_connection,
    probe_answers,
    row_events,
)
from pcapline.detect.close import Reset
from pcapline.facts import Facts
from pcapline.model import FIN, RST, SYN, Event, EventKind, Side
from pcapline.timers import RTO_MIN_S, close_to, next_backoff, overdue

EMITS = frozenset(
    {
        EventKind.ZERO_WINDOW,
        EventKind.WINDOW_PROBE,
        EventKind.WINDOW_PROBE_ACK,
        EventKind.WINDOW_UPDATE,
    }
)


@dataclass(frozen=True, slots=True)
class ZeroWindow:
    """Zero-window episodes of one connection (the detector's ``inferred``)."""

    receiver: Side | None  # who advertised window 0 (last episode)
    advertisements: int  # zero-window segments
    stalled_s: float  # total time spent with a closed window (to the capture end if never reopened)
    probes: int
    answered: int
    recovered: bool  # the window opened again after the last zero advertisement
    unanswered_tail: int  # probes at the end that got no answer
    gave_up: bool | None  # the prober aborted after unanswered probes (RST or silence)
    rst_frame: int | None  # prober's RST after the probes
    probe_gaps: tuple[float, ...]
    #: The receiver's first advertisement of an open window after the last probe (frame),
    #: how long after that probe it came, and whether the prober had sent nothing since and
    #: its next probe, due by the backoff (double the last gap), was overdue by then: the
    #: persist timer had stopped (the socket was freed: TCP_USER_TIMEOUT, orphan retries).
    reopen_frame: int | None = None
    reopen_after_s: float | None = None
    probing_stopped: bool = False
    #: The unanswered probes at the end (``unanswered_tail`` of them, in order), the
    #: receiver's last window-0 advertisement before them (its answer to the last answered
    #: probe, else what closed the window; None: not captured) and the last probe (None: no
    #: probe): the frames a persist timeout rests on, with ``rst_frame`` or the reopening.
    tail_frames: tuple[int, ...] = ()
    last_answer_frame: int | None = None
    last_probe_frame: int | None = None

    def as_inferred(self) -> dict[str, object]:
        return {
            "stalled_s": round(self.stalled_s, 3),
            "probes": self.probes,
            "recovered": self.recovered,
        }


def _advertising(facts_flags: np.ndarray) -> np.ndarray:
    """Segments whose window field means something (not SYN/FIN/RST: RFC 9293; Zeek too)."""
    return np.asarray((facts_flags & (SYN | FIN | RST)) == 0)


def detect(view: ConnView) -> Detection[ZeroWindow | None]:
    if not view.batch.of(_closed_or_probed)[view.at]:
        return NOTHING
    idx = np.arange(len(view))
    adv = _advertising(view.flags)
    zero = adv & (view.window == 0)
    probes = np.flatnonzero(view.is_window_probe)
    if not np.any(zero) and not len(probes):
        return NOTHING
    events: list[Event] = []
    stalled = 0.0
    receiver: Side | None = None
    recovered = True
    # Window probes sent while the last captured window was open (``facts._closed_unseen``:
    # the ACK that closed it is missing from the capture): the window was closed at the
    # latest when such a probe went out, whether or not a zero window was captured later.
    unseen = view.is_window_probe & (view.peer_window > 0)
    for side in (True, False):
        own = adv & (view.from_client == side)
        rows = np.flatnonzero(own | (unseen & (view.from_client != side)))
        closed_since: int | None = None  # its start, ns
        for i in rows.tolist():
            closes = not own[i] or view.window[i] == 0  # a probe of the peer's, or window 0
            if closes and closed_since is None:
                closed_since = int(view.time_ns[i])
                receiver = Side.CLIENT if side else Side.SERVER
            elif own[i] and view.window[i] > 0 and closed_since is not None:
                stalled += _elapsed(closed_since, view.time_ns[i])
                events.append(
                    view.event(
                        i,
                        EventKind.WINDOW_UPDATE,
                        f"window opens: {int(view.window[i])} bytes",
                        float(view.window[i]),
                    )
                )
                closed_since = None
        if closed_since is not None:
            stalled += _elapsed(closed_since, view.capture_end_ns)
            recovered = False
    answered = 0
    answered_flags: list[bool] = []
    answers = probe_answers(view, probes).tolist()
    for n, i in enumerate(probes.tolist()):
        ok = answers[n] >= 0 and not view.rst[answers[n]]
        gap = _elapsed(view.time_ns[probes[n - 1]], view.time_ns[i]) if n else None
        note = f"{gap:.3g} s after the previous probe" if gap is not None else "first probe"
        if unseen[i] and ok and view.window[answers[n]] == 0:
            note += (
                f"; sent while the last captured window was open, answered with window 0 "
                f"(frame {int(view.frame[answers[n]])}): the ACK that closed the window is "
                "missing from the capture (Linux never shrinks a window it offered), so a "
                "window probe, not a keepalive"
            )
        elif unseen[i] and not n and _doubles(view, probes) and max(answers[:2]) < 0:
            g1, g2 = (
                _elapsed(view.time_ns[probes[0]], view.time_ns[probes[1]]),
                _elapsed(view.time_ns[probes[1]], view.time_ns[probes[2]]),
            )
            note += (
                f"; sent while the last captured window was open, at a byte the capture never "
                f"saw acknowledged, and repeated {g1:.3g} s then {g2:.3g} s later, unanswered: "
                "a doubling backoff, the persist timer's (unanswered keepalive probes repeat "
                "TCP_KEEPINTVL apart, evenly): the ACK that closed the window is missing from "
                "the capture, so a window probe, not a keepalive"
            )
        elif unseen[i] and not n:
            note += (
                "; sent while the last captured window was open, at a byte the capture never "
                "saw acknowledged and sooner after its sending than any keepalive (1 s at "
                "least): the ACK that closed the window is missing from the capture, so a "
                "window probe (the persist timer's), not a keepalive"
            )
        events.append(view.event(i, EventKind.WINDOW_PROBE, note, gap))
        if ok:
            answered += 1
            j = answers[n]
            events.append(
                view.event(
                    j,
                    EventKind.WINDOW_PROBE_ACK,
                    f"window {int(view.window[j])}",
                    float(view.window[j]),
                )
            )
        answered_flags.append(ok)
    tail = 0
    for flag in answered_flags[::-1]:
        if flag:
            break
        tail += 1
    last_answer: int | None = None
    if tail:
        # The receiver's last window-0 advertisement before the tail (its answer to the last
        # answered probe, else what closed the window): it was alive, the window shut.
        first = int(probes[len(probes) - tail])
        said = np.flatnonzero(zero[:first] & (view.from_client[:first] != view.from_client[first]))
        last_answer = int(view.frame[said[-1]]) if len(said) else None
    gaps = tuple(_elapsed(view.time_ns[a], view.time_ns[b]) for a, b in itertools.pairwise(probes))
    gave_up: bool | None = None
    rst_frame: int | None = None
    if tail:
        last = int(probes[-1])
        mine = (view.from_client == view.from_client[last]) & (idx > last)
        rst = np.flatnonzero(mine & view.rst)
        rst_frame = int(view.frame[rst[0]]) if len(rst) else None
        expected = next_probe_due(gaps)
        silence = _elapsed(view.time_ns[last], view.capture_end_ns)
        later = bool(np.any((idx > last) & (view.seg_len > 0) & ~view.is_window_probe))
        if not later and (rst_frame is not None or overdue(silence, expected)):
            gave_up = True
    reopen_frame: int | None = None
    reopen_after_s: float | None = None
    stopped = False
    if len(probes):
        last = int(probes[-1])
        prober = view.from_client == view.from_client[last]
        opens = np.flatnonzero((idx > last) & ~prober & adv & (view.window > 0))
        if len(opens):
            j = int(opens[0])
            reopen_frame = int(view.frame[j])
            reopen_after_s = _elapsed(view.time_ns[last], view.time_ns[j])
            quiet = not np.any(prober & (idx > last) & (idx < j))
            stopped = quiet and bool(gaps) and overdue(reopen_after_s, next_probe_due(gaps))
    report = ZeroWindow(
        receiver=receiver,
        advertisements=int(np.count_nonzero(zero)),
        stalled_s=stalled,
        probes=len(probes),
        answered=answered,
        recovered=recovered,
        unanswered_tail=tail,
        gave_up=gave_up,
        rst_frame=rst_frame,
        probe_gaps=gaps,
        reopen_frame=reopen_frame,
        reopen_after_s=reopen_after_s,
        probing_stopped=stopped,
        tail_frames=tuple(int(f) for f in view.frame[probes[len(probes) - tail :]]),
        last_answer_frame=last_answer,
        last_probe_frame=int(view.frame[probes[-1]]) if len(probes) else None,
    )
    return Detection(tuple(events), report)


def persist_freed(z: ZeroWindow | None, r: Reset | None) -> bool:
    """``r``, the RST that ended the connection, shows a zero-window sender's persist timer had
    freed its socket (classify's ``persist_timeout``; explain words it).

    Kernel rule: a sender probing a closed window gives up in tcp_probe_timer, which frees the
    socket without a RST (tcp_write_err). Probes the receiver answers never use up
    tcp_retries2 (tcp_ack resets icsk_probes_out, RFC 1122 4.2.2.17): TCP_USER_TIMEOUT
    (counted from the first probe) or, after close(), tcp_orphan_retries ends it. When the
    receiver's window opens again, its update reaches a host without the connection, whose
    kernel answers it in RFC 793's reset generation shape (tcp_v4_send_reset: no ACK bit, seq
    = the update's ACK number); an application's abort would carry ACK
    (tcp_send_active_reset). So: the side that was probing its peer's zero window ends the
    connection with that stateless RST, answering the peer's first open-window segment after
    its last probe, a bare update (data or a FIN the receiver sent on its own would be
    another story). Its host restarting in that window looks the same (said in the words).
    """
    if z is None or r is None or not z.probes or z.reopen_frame is None:
        return False
    if not r.stateless or r.state == "handshake" or not r.sender_synchronized:
        return False
    return (
        z.receiver is r.side.other and r.answers_frame == z.reopen_frame and not r.answers_payload
    )


def next_probe_due(gaps: tuple[float, ...]) -> float:
    """When the persist timer's next probe was due after the last one, from the gaps between
    the captured probes (the first from at least TCP_RTO_MIN). Linux backs it off like the RTO
    (tcp_send_probe0: icsk_backoff + 1 per probe, the gap rto << icsk_backoff, at most
    TCP_RTO_MAX), but icsk_backoff stops growing at net.ipv4.tcp_retries2: probes the receiver
    answers for long enough (they never use up tcp_retries2) then come at a flat gap, rto <<
    tcp_retries2 (3.58 s with tcp_retries2=4 on a 224 ms RTO, real kernel), and unanswered ones
    keep it up to the give-up. Two equal last gaps show that flat backoff: the next is due
    after the same gap, not twice it (doubling would read a give-up as still waiting)."""
    if not gaps:
        return RTO_MIN_S
    if len(gaps) >= 2 and close_to(gaps[-1], gaps[-2]):
        return gaps[-1]
    return next_backoff(gaps[-1])


def _doubles(view: ConnView, probes: np.ndarray) -> bool:
    """The first three window probes came at the same seq, the second gap about twice the
    first (``facts._doubling_runs``: the rule that made them window probes)."""
    if len(probes) < 3:
        return False
    a, b, z = (int(p) for p in probes[:3])
    if not view.rel_seq[a] == view.rel_seq[b] == view.rel_seq[z]:
        return False
    g1 = _elapsed(view.time_ns[a], view.time_ns[b])
    return g1 > 0 and close_to(_elapsed(view.time_ns[b], view.time_ns[z]), 2 * g1)


def _elapsed(start_ns: int, end_ns: int) -> float:
    """Seconds from ``start_ns`` to ``end_ns``, never negative: a timestamp stepping back
    (a merged or clock-stepped capture, which the capture's warning names) measures no
    time, in a stall, between probes or after the last one."""
    return max(0.0, float(end_ns - start_ns) / 1e9)


def _closed_or_probed(batch: Batch) -> list[bool]:
    """Per connection of a batch: a zero-window advertisement (capture duplicates included,
    as ``detect`` counts them) or a window probe (without, ``detect`` has nothing to say)."""
    r = batch.rows
    return batch.any((_advertising(r.flags) & (r.window == 0)) | r.is_window_probe)


def _zero_advertisements(facts: Facts) -> np.ndarray:
    return np.asarray(_advertising(facts.flags) & (facts.window == 0) & ~facts.is_dup)


def screen(facts: Facts) -> np.ndarray:
    """Connections with a zero-window advertisement or a window probe."""
    return per_connection(facts, _zero_advertisements(facts) | facts.is_window_probe)


def rows(facts: Facts) -> EventRows:
    """A zero_window event where a side closes its window (its previous advertisement was open)."""
    zero = _zero_advertisements(facts)
    adv = _advertising(facts.flags) & ~facts.is_dup
    opening = np.zeros(len(facts), dtype=bool)
    for side in (False, True):
        # One side's advertisements in grouped order: each direction's, in frame order.
        order = np.flatnonzero(adv & (facts.from_client == side))
        z = zero[order]
        conn = facts.conn_index[order]
        prev_zero = np.zeros(len(order), dtype=bool)
        prev_zero[1:] = z[:-1] & (conn[1:] == conn[:-1])
        opening[order[z & ~prev_zero]] = True
    return row_events(facts, opening, EventKind.ZERO_WINDOW, "window 0: receiver buffer full")


DETECTOR: Detector[ZeroWindow | None] = Detector(
    "zero_window", EMITS, detect, screen=screen, rows=rows
)

__all__ = ["DETECTOR", "ZeroWindow", "next_probe_due", "persist_freed"]
