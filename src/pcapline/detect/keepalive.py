"""Keepalive: probes on an idle connection, their ACKs, and the idle/interval/count settings.

Kernel rules (tcp-facts.md "ESTABLISHED, idle"; anchors.md 5.3/5.4):

- ``SO_KEEPALIVE`` with ``TCP_KEEPIDLE`` (``net.ipv4.tcp_keepalive_time``, 7200 s),
  ``TCP_KEEPINTVL`` (``tcp_keepalive_intvl``, 75 s) and ``TCP_KEEPCNT``
  (``tcp_keepalive_probes``, 9). The idle time counts from the last segment *received*.
- A probe is seq = snd.nxt - 1 with 0 bytes (Linux, BSD) or 1 garbage byte (Windows), no
  SYN/FIN/RST, sent only when nothing is outstanding. A live peer answers with an ACK of the
  current sequence (the keepalive ACK), which restarts the idle timer: answered probes come
  every KEEPIDLE, unanswered ones every KEEPINTVL.
- After KEEPCNT unanswered probes (or TCP_USER_TIMEOUT after the first probe) Linux sends a
  RST and reports ETIMEDOUT.

Each side's keepalive timer is its own socket's (SO_KEEPALIVE and the TCP_KEEP* options are per
socket; Windows sends 1-byte probes with its own KeepAliveTime/KeepAliveInterval): when both
sides probe, each side's probes, idle and interval are measured on its own probes and the idle
time from what *it* received. A probe received from the peer does not restart the idle timer:
it lies below the receiver's window (seq = snd.nxt - 1), so ``tcp_validate_incoming`` drops it
after the duplicate ACK and neither ``rcv_tstamp`` nor ``icsk_ack.lrcvtime`` moves.

Look-alike: the Linux zero-window probe has exactly this shape; ``facts.py`` calls a probe a
window probe when the peer's last advertised window was 0 (Wireshark labels those
"Keep-Alive"; we do not), so this detector only sees ``facts.is_keepalive`` rows.

Emits: keepalive, keepalive_ack.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pcapline.detect import (
    NOTHING,
    Batch,
    ConnView,
    Detection,
    Detector,
    per_connection,
    probe_answers,
)
from pcapline.facts import Facts
from pcapline.model import Event, EventKind, Side
from pcapline.timers import overdue

EMITS = frozenset({EventKind.KEEPALIVE, EventKind.KEEPALIVE_ACK})


@dataclass(frozen=True, slots=True)
class PeerProbes:
    """The keepalive probes of the side that did not send the last probe (both sides probed)."""

    side: Side
    probes: int
    answered: int
    idle_s: float | None  # its last received segment -> its first probe (its TCP_KEEPIDLE)
    interval_s: float | None  # gap between its unanswered probes (its TCP_KEEPINTVL)

    def as_inferred(self) -> dict[str, object]:
        return {
            "by": self.side.value,
            "idle": _round(self.idle_s),
            "interval": _round(self.interval_s),
            "count": None,
        }


@dataclass(frozen=True, slots=True)
class Keepalive:
    """Keepalive activity of one connection (the detector's ``inferred``): the probes of the
    side that sent the last probe, and the other side's own probes if it probed too."""

    prober: Side  # who sent the last probe; every field below up to ``peer`` is its own
    probes: int
    answered: int
    idle_s: float | None  # last segment received by the prober -> first probe (TCP_KEEPIDLE)
    interval_s: float | None  # gap between unanswered probes (TCP_KEEPINTVL)
    unanswered_tail: int  # unanswered probes at the end of the connection
    gave_up: bool | None  # the prober aborted after the tail (RST, or silence past one interval)
    count: int | None  # unanswered probes before giving up (TCP_KEEPCNT); None if it did not
    rst_frame: int | None  # the prober's RST after the unanswered tail
    peer_rst_frame: int | None  # the peer answered a probe with RST (it lost the connection)
    later_traffic: bool  # data/FIN after the last probe: the connection went on
    peer: PeerProbes | None = None  # the other side's own probes; None: it sent none
    #: The last unanswered probe -> the prober's RST: one TCP_KEEPINTVL (tcp_keepalive_timer
    #: re-arms by it after a probe and aborts when it fires), the interval when one probe is all.
    rst_after_s: float | None = None
    #: The capture began inside the connection and the prober's first probe is the first thing
    #: it holds of it after nothing received: earlier probes of the series may be outside the
    #: capture (a ring buffer's earlier file), so the unanswered tail is a lower bound.
    series_start_unseen: bool = False
    #: The prober's unanswered probes at the end (``unanswered_tail`` of them, in order), and
    #: the last segment it received before them (the keepalive ACK of its last answered probe,
    #: else where its idle time began; None: none captured): the frames a keepalive timeout
    #: rests on, with ``rst_frame``.
    tail_frames: tuple[int, ...] = ()
    last_answer_frame: int | None = None

    @property
    def timer_interval_s(self) -> float | None:
        """TCP_KEEPINTVL as the wire shows it: the gap between unanswered probes, or, when one
        probe went out before the abort, the probe -> RST gap (tcp_keepalive_timer re-arms by
        the interval after each probe and sends the RST when it fires with the count spent:
        the RST is one interval after the last probe whatever the count)."""
        if self.interval_s is not None:
            return self.interval_s
        if self.count is None or self.rst_frame is None:
            return None
        return self.rst_after_s

    def as_inferred(self) -> dict[str, object]:
        return {
            "idle": _round(self.idle_s),
            "interval": _round(self.timer_interval_s),
            "count": self.count,
            "by": self.prober.value,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def detect(view: ConnView) -> Detection[Keepalive | None]:
    if not view.batch.of(_probed)[view.at]:
        return NOTHING
    probes = np.flatnonzero(view.is_keepalive)
    idx = np.arange(len(view))
    events: list[Event] = []
    answered_flags: list[bool] = []
    peer_rst: int | None = None
    answers = probe_answers(view, probes).tolist()
    last_probe: dict[bool, int] = {}  # per side: each runs its own keepalive timer
    for n, i in enumerate(probes.tolist()):
        answer = answers[n] if answers[n] >= 0 else None
        ok = (
            answer is not None
            and not view.rst[answer]
            and view.ack[answer]
            and view.rel_ack[answer] >= view.next_seq[i]
        )
        if answer is not None and view.rst[answer] and peer_rst is None:
            peer_rst = int(view.frame[answer])
        answered_flags.append(bool(ok))
        side = bool(view.from_client[i])
        gap = view.seconds(last_probe[side], i) if side in last_probe else None
        last_probe[side] = i
        note = f"{gap:.3g} s after the previous probe" if gap is not None else "first probe"
        events.append(view.event(i, EventKind.KEEPALIVE, note, gap))
        if ok and answer is not None:
            events.append(view.event(answer, EventKind.KEEPALIVE_ACK, "peer is alive"))
    last_side = view.from_client[probes[-1]]
    flags = np.array(answered_flags)
    mine_probe = view.from_client[probes] == last_side
    run, answered = probes[mine_probe], flags[mine_probe]
    tail = 0
    for flag in answered[::-1]:
        if flag:
            break
        tail += 1
    last_answer: int | None = None
    if tail:
        # The prober's last segment received before the tail (the keepalive ACK of its last
        # answered probe, else where its idle time began): the peer alive until then. Not
        # the peer's own probes: below the window, they restart no idle timer (see above).
        first = int(run[len(run) - tail])
        heard = np.flatnonzero((view.from_client[:first] != last_side) & ~view.is_keepalive[:first])
        last_answer = int(view.frame[heard[-1]]) if len(heard) else None
    interval = _interval(view, run, answered)
    idle = _idle(view, int(run[0]))
    last = int(run[-1])
    after = idx > last
    mine = view.from_client == last_side
    rst_mine = np.flatnonzero(mine & after & view.rst)
    later = bool(np.any(after & ~view.is_keepalive & ~view.rst & (view.seg_len > 0)))
    gave_up: bool | None = None
    if tail and not later:
        silence = float(view.capture_end_ns - view.time_ns[last]) / 1e9
        if len(rst_mine) or (interval is not None and overdue(silence, interval)):
            gave_up = True
    rst_row = int(rst_mine[0]) if len(rst_mine) else None
    rst_after = view.seconds(last, rst_row) if rst_row is not None else None
    # No SYN and nothing received before the first probe: the series may have begun before.
    unseen_start = idle is None and not bool(np.any(view.syn)) and tail == len(run)
    report = Keepalive(
        prober=_side(bool(last_side)),
        probes=len(run),
        answered=int(answered.sum()),
        idle_s=idle,
        interval_s=interval,
        unanswered_tail=tail,
        gave_up=gave_up,
        count=tail if gave_up and not unseen_start else None,
        rst_frame=int(view.frame[rst_mine[0]]) if len(rst_mine) else None,
        peer_rst_frame=peer_rst,
        later_traffic=later,
        peer=_peer_probes(view, probes[~mine_probe], flags[~mine_probe]),
        rst_after_s=rst_after if rst_after is None or rst_after >= 0 else None,
        series_start_unseen=unseen_start,
        tail_frames=tuple(int(f) for f in view.frame[run[len(run) - tail :]]),
        last_answer_frame=last_answer,
    )
    return Detection(tuple(events), report)


def _side(from_client: bool) -> Side:
    return Side.CLIENT if from_client else Side.SERVER


def _peer_probes(view: ConnView, run: np.ndarray, answered: np.ndarray) -> PeerProbes | None:
    """The other side's probes, measured on its own timer (never merged with the prober's)."""
    if not len(run):
        return None
    return PeerProbes(
        side=_side(bool(view.from_client[run[0]])),
        probes=len(run),
        answered=int(answered.sum()),
        idle_s=_idle(view, int(run[0])),
        interval_s=_interval(view, run, answered),
    )


def _interval(view: ConnView, run: np.ndarray, answered: np.ndarray) -> float | None:
    """Median gap to a probe whose predecessor went unanswered (KEEPINTVL)."""
    gaps = [
        view.seconds(int(run[k - 1]), int(run[k]))
        for k in range(1, len(run))
        if not answered[k - 1]
    ]
    interval = float(np.median(gaps)) if gaps else None
    # A negative gap is a timestamp step back, not a timer: the interval is then unknown.
    return interval if interval is None or interval >= 0 else None


def _probed(batch: Batch) -> list[bool]:
    """Per connection of the batch: does it hold a keepalive probe? (Most visited connections
    hold none: one column-wise pass answers them all.)"""
    return batch.any(batch.rows.is_keepalive)


def _idle(view: ConnView, first_probe: int) -> float | None:
    """Time from the prober's last received segment to its first probe (TCP_KEEPIDLE); the
    peer's own keepalive probes do not count as received (they restart no timer)."""
    prober = view.from_client[first_probe]
    received = (view.from_client != prober) & ~view.is_keepalive
    before = np.flatnonzero(received & (np.arange(len(view)) < first_probe))
    if not len(before):
        return None  # the prober received nothing in the capture before its first probe
    idle = view.seconds(int(before[-1]), first_probe)
    return idle if idle >= 0 else None  # stamped before what it follows: a step back


def screen(facts: Facts) -> np.ndarray:
    """Connections with any keepalive-shaped probe (peer window open)."""
    return per_connection(facts, facts.is_keepalive)


DETECTOR: Detector[Keepalive | None] = Detector("keepalive", EMITS, detect, screen=screen)

__all__ = ["DETECTOR", "Keepalive", "PeerProbes"]
