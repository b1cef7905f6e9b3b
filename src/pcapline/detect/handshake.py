"""Handshake: SYN and SYN+ACK retransmissions, their backoff, refusals, listen-queue overflow.

Kernel rules (tcp-facts.md "Opening"):

- An unanswered SYN is retransmitted with the SAME ISN (``net.ipv4.tcp_syn_retries``, default
  6, per socket ``TCP_SYNCNT``); Linux before 6.5 doubles from 1 s (SYNs at 0, 1, 3, 7, 15,
  31, 63 s), Linux 6.5+ makes the first gaps linear (``tcp_syn_linear_timeouts``, default 4,
  added to the retry count: 0, 1, 2, 3, 4, 5, 7, 11, ... s), Windows starts at 3 s. A new ISN
  is a new connection (``flows`` splits those).
- The server retransmits an unacknowledged SYN+ACK (``net.ipv4.tcp_synack_retries``, default
  5: 1, 2, 4, 8, 16 s gaps).
- Accept queue full (``listen()`` backlog / ``net.core.somaxconn``): with
  ``tcp_abort_on_overflow=0`` the server drops the client's final ACK and keeps retransmitting
  SYN+ACK although the client ACKed (and maybe sent data); with ``=1`` it answers the ACK with
  a RST (sent by the listener, so without the ACK flag). Look-alike: ``TCP_DEFER_ACCEPT``
  (server ignores a bare ACK until data arrives), possible only when the client sent no data.
- A SYN answered by RST(+ACK): refused. A SYN answered by a bare ACK (challenge ACK from a
  TIME_WAIT or half-open peer), then the client's RST and a SYN retry: stale peer state.
- What a side acknowledges proves what its peer sent, seen or not (asymmetric routing, a
  one-sided tap): a client in SYN-SENT sends no plain ACK until a SYN+ACK arrived, and a server
  sends nothing but SYN+ACKs until the handshake ACK arrived (``OneSided``, ``synack_proven``,
  ``ack_proven``). An ACK advancing by exactly 1 as the last step acknowledges the peer's FIN.

Wire signature used: the client's SYNs (no ACK), the server's SYN+ACKs, the first client ACK
of the SYN+ACK (ack = server ISN + 1 exactly: an ACK of anything else does not complete the
handshake; before the connection's first RST, which ended the attempt; not a FIN: the client
acknowledges a SYN+ACK at once or with its first data, so a FIN acknowledging it means the
handshake ACK was not captured, as in a capture filtered on SYN/FIN/RST), server rows before
any SYN+ACK.

Emits: syn_retransmit, synack_retransmit, challenge_ack (per connection), and syn, synack
(the first of each) and handshake_ack (the client's ACK of the SYN+ACK), for all connections,
columnar.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pcapline import points
from pcapline.detect import (
    NO_ROW,
    Batch,
    ConnView,
    Detection,
    Detector,
    EventRows,
    RowSets,
    first_rows,
    per_connection,
    row_events,
    row_or_none,
)
from pcapline.detect._backoff import Schedule, name_schedule
from pcapline.duplicates import SYN_COPY_BEFORE_S
from pcapline.facts import (
    Facts,
    SegmentRows,
    any_per_connection,
    made_once,
    rows_of_connections,
    rows_per_connection,
)
from pcapline.model import ACK, FIN, PSH, SYN, URG, Event, EventKind, Side
from pcapline.timers import (
    DELACK_MAX_S,
    MAX_INITIAL_SYN_RTO_S,
    RTO_MIN_S,
    TCP_TIMEOUT_INIT_S,
    close_to,
    overdue,
)

EMITS = frozenset(
    {
        EventKind.SYN,
        EventKind.SYNACK,
        EventKind.SYN_RETRANSMIT,
        EventKind.SYNACK_RETRANSMIT,
        EventKind.HANDSHAKE_ACK,
        EventKind.CHALLENGE_ACK,
    }
)

#: Linux retransmits a SYN+ACK after TCP_TIMEOUT_INIT (1 s); a SYN cookie answer is never
#: retransmitted (no request socket), so one unanswered SYN+ACK with no retry after 1 s is
#: either a cookie or a server with tcp_synack_retries=0.
INITIAL_SYNACK_RTO_S = TCP_TIMEOUT_INIT_S


@dataclass(frozen=True, slots=True)
class SynLimits:
    """The Linux SYN_SENT setting a given-up SYN series matches (``linux_syn_limits``).

    ``tcp_write_timeout`` ends a connect at the first timer expiry past EITHER limit: the
    count (``setting + linear`` retransmissions; ``linear`` is tcp_syn_linear_timeouts, 0
    before Linux 6.5) or the time (``tcp_model_timeout(setting, 1 s)``: the classic doubling
    schedule's give-up, (2^(setting+1) - 1) s after the first SYN)."""

    setting: int  # TCP_SYNCNT or net.ipv4.tcp_syn_retries
    linear: int  # tcp_syn_linear_timeouts: the default (4) if the gaps fit it, else the least
    give_up_s: float  # the timer expiry that ended it, from the first SYN
    last_gap_s: float  # from the last SYN to that expiry
    time_limit_s: float
    count: bool  # the count limit was reached
    time: bool  # the time limit had passed


@dataclass(frozen=True, slots=True)
class RetrySeries:
    """SYN or SYN+ACK transmissions of one connection, as seen on the wire."""

    times: tuple[float, ...]  # seconds from the first transmission
    frames: tuple[int, ...]
    schedule: Schedule
    retries: int  # transmissions after the first
    gave_up: bool | None  # True: the capture went on past the next retry due and none came
    give_up_after_s: (
        float | None
    )  # unanswered: when the last timer expires (ETIMEDOUT), from the first
    #: The retries can be the retransmission timer's: False when one came sooner than any SYN
    #: or SYN+ACK timer fires, or every one followed a RST answering the previous SYN (a stack
    #: that tries a refused connect again: Windows, 0.5 s after each RST), or every SYN+ACK
    #: answered its own resent SYN (``_answering``).
    timed: bool = True
    #: The server's RST answering each SYN before the next one was sent (and the last SYN's,
    #: if any), when every retry followed one (``timed`` is then False); () otherwise.
    refusals: tuple[int, ...] = ()
    #: Unanswered SYNs 1 s apart that stopped where no Linux limit stops them
    #: (``_cut_short_linear``): no timer ran out, so no give-up time is predicted.
    cut_short: bool = False
    #: A seen give-up whose SYN times are exactly what a Linux setting sends
    #: (``linux_syn_limits``): which setting, and which of its limits ended the connect.
    limits: SynLimits | None = None

    def as_inferred(self) -> dict[str, object]:
        return {
            "times": [round(t, 3) for t in self.times],
            "schedule": self.schedule.name,
            "retries": self.retries,
            "gave_up": self.gave_up,
            "give_up_s": None if self.give_up_after_s is None else round(self.give_up_after_s, 3),
        }


@dataclass(frozen=True, slots=True)
class OneSided:
    """Only one side's packets were captured; the other side's are inferred from its ACKs."""

    captured: Side  # the side whose packets the capture holds
    peer_fin_ack_frame: int | None  # the captured side's ACK of the peer's (unseen) FIN
    peer_closed_first: bool  # that FIN came before the captured side's own FIN (or it sent none)
    #: Without ``peer_fin_ack_frame``: the captured side's last ACK advance (frame), by more
    #: than one: the peer's last data, and maybe its FIN with it (data and FIN acknowledged
    #: together look the same), so who closed first is not known. None: no such advance.
    fin_may_hide_frame: int | None = None


@dataclass(frozen=True, slots=True)
class Handshake:
    """What the opening of one connection looked like (the detector's ``inferred``)."""

    syn: RetrySeries | None
    synack: RetrySeries | None
    answer: str  # "synack", "rst", "challenge_ack" or "none": the server's first reply to a SYN
    answer_frame: int | None
    client_acked: bool  # the client acknowledged the SYN+ACK (a FIN included), before any RST
    client_sent_data: bool
    synack_after_ack: int  # SYN+ACKs the server sent after the client's ACK (overflow sign)
    overflow_rst_frame: int | None  # server RST without ACK right after the client's ACK/data
    server_acked_data: bool  # the server ever acknowledged client data
    server_sent_data: bool  # the server sent any payload
    stale_peer: bool  # challenge ACK, client RST, SYN retry
    rtt_ms: float | None  # SYN -> SYN+ACK -> ACK at the capture point
    #: Frame of a client ACK after its SYN: the SYN+ACK reached the client, seen or not.
    synack_proven: int | None = None
    #: Frame of a server segment other than SYN+ACK/RST after its SYN+ACK: the server got the
    #: handshake ACK (it had a full socket), seen or not.
    ack_proven: int | None = None
    one_sided: OneSided | None = None
    #: No handshake ACK, but a client ACK after the SYN+ACK acknowledging something else.
    bad_ack_frame: int | None = None
    #: Stale peer: the client's RST answering the challenge ACK (in the OLD connection's
    #: sequence space: it ends that connection on the server, classify.stale_peer_resets).
    stale_rst_frame: int | None = None
    #: The client answered the SYN+ACK with a RST before acknowledging it (a scanner, a client
    #: that gave up): the attempt ended there.
    synack_reset: int | None = None
    #: With ``synack_reset``: what the SYN, the first SYN+ACK and the RST looked like.
    synack_reset_shape: SynackReset | None = None
    #: The server's answer to a SYN the capture does not hold (``facts.reopens``): from this
    #: frame on the stream holds another connection on the same 4-tuple.
    reopened_frame: int | None = None
    #: How the connection before ``reopened_frame`` ended, as the capture shows it: the last
    #: RST before it ("the client's RST (frame 10)"), both sides' FINs, or None: no end.
    earlier_end: str | None = None
    #: No handshake at all: a port scanner's probes (``Facts.scan_probe``).
    probe: ScanProbe | None = None
    #: The first SYN+ACK echoes (TSecr) the timestamp of an earlier SYN than the last one
    #: sent before it: that SYN's frame. The server received it and answered; the answer
    #: came after the client's retry timer.
    answered_syn: int | None = None
    answered_syn_wait_s: float | None = None  # that SYN -> the first SYN+ACK
    #: The first SYN+ACK echoes (TSecr) the last SYN sent before it: it answered that one, so
    #: the earlier SYNs got no answer that reached the capture point (``_answers_last_syn``).
    answered_last_syn: bool = False
    #: With ``synack_after_ack``: the client had sent data before the first of those
    #: SYN+ACKs. Without it a TCP_DEFER_ACCEPT listener looks the same: it drops the bare
    #: ACK and resends its SYN+ACK when its defer period ends (data sent later, such as an
    #: answer to a server that speaks first, does not tell them apart).
    data_before_resend: bool = False
    #: With ``synack_after_ack`` and no ``data_before_resend``: the server's data came first
    #: after that resend (a protocol where the server speaks first: SMTP, FTP, SSH, POP3).
    server_spoke_first: bool = False
    #: With ``client_sent_data``: the frame of the client's first segment with data.
    client_data_frame: int | None = None
    #: Every client SYN was captured again this many hops (1 or 2) lower soon after (a
    #: capture of two points: tcpdump -i any on a forwarding host, or two captures merged):
    #: the path up to the farther point forwarded them. None: not seen so.
    syn_forwarded_hops: int | None = None


def detect(view: ConnView) -> Detection[Handshake]:
    opening = view.batch.of(_opening)
    k = view.at
    syn_rows = opening.syn_rows.at(k)
    synack_rows = opening.synack_rows.at(k)
    events: list[Event] = []
    answer, answer_row = _server_answer(view, opening, syn_rows, synack_rows)
    acked_row = row_or_none(opening.acked_row[k])
    # The client's RST before any acknowledgement answered the SYN+ACK: the server drops its
    # request socket (tcp_check_req), so no retry is due and none is missing.
    synack_reset = _frame(view, opening.client_rst[k]) if acked_row is None else None
    reset_shape = None
    if synack_reset is not None and synack_rows:
        reset_shape = _synack_reset_shape(view, syn_rows, synack_rows, opening.client_rst[k])
    synack_proven = _frame(view, opening.synack_proven[k])
    client_ack = row_or_none(opening.synack_proven[k])
    if answer == "challenge_ack" and client_ack is not None and answer_row is not None:
        # A challenge ACK (RFC 5961 4.2: a SYN that hits an established socket, answered in
        # the OLD connection's sequence space) draws the client's RST, then its SYN again.
        # A client that instead acknowledged a SYN+ACK, before any captured one and before
        # any RST or SYN of its own after that bare ACK, got one the capture does not hold
        # and went on as established: the bare ACK acknowledges that connection's segments.
        after = answer_row + 1
        again = np.flatnonzero(view.from_client[after:] & (view.rst[after:] | view.syn[after:]))
        if client_ack < min([*synack_rows, after + int(again[0]) if len(again) else len(view)]):
            answer, answer_row = "none", None
    ack_proven = _frame(view, opening.ack_proven[k])
    # An answer proven by the other side's ACKs is an answer: no give-up to predict.
    syn = _series(
        view,
        syn_rows,
        opening.syn_sent.at(k),
        answered=answer_row is not None or synack_proven is not None,
        syn=True,
        refusals=_refusals(view, syn_rows),
    )
    synack_answered = acked_row is not None or ack_proven is not None or synack_reset is not None
    synack = _series(
        view,
        synack_rows,
        opening.synack_sent.at(k),
        answered=synack_answered,
        syn=False,
        syn_rows=syn_rows,
        opened=bool(syn_rows),
    )

    events.extend(_retry_events(view, syn_rows, EventKind.SYN_RETRANSMIT))
    events.extend(_retry_events(view, synack_rows, EventKind.SYNACK_RETRANSMIT))
    if answer == "challenge_ack" and answer_row is not None:
        events.append(view.event(answer_row, EventKind.CHALLENGE_ACK, "SYN answered by a bare ACK"))

    after_ack = [i for i in synack_rows if i > acked_row] if acked_row is not None else []
    data_before_resend = server_spoke_first = False
    if after_ack:
        data_rows = np.flatnonzero(view.seg_len > 0)
        client_rows = data_rows[view.from_client[data_rows]]
        data_before_resend = bool(len(client_rows)) and int(client_rows[0]) < after_ack[0]
        later = data_rows[data_rows > after_ack[0]]
        server_spoke_first = (
            not data_before_resend and bool(len(later)) and not view.from_client[later[0]]
        )
    stale_rst = (
        _client_reset_then_retry(view, answer_row, syn_rows) if answer == "challenge_ack" else None
    )
    rtt_ms = opening.rtt_ms[k]
    late_syn = _answered_syn(view, syn_rows, synack_rows)
    handshake = Handshake(
        syn=syn,
        synack=synack,
        answer=answer,
        answer_frame=int(view.frame[answer_row]) if answer_row is not None else None,
        client_acked=acked_row is not None,
        client_sent_data=opening.client_sent_data[k],
        client_data_frame=_frame_or_none(view, opening.client_data_row[k]),
        synack_after_ack=len(after_ack),
        data_before_resend=data_before_resend,
        server_spoke_first=server_spoke_first,
        # Only a listener's RST (no ACK flag) can be an overflow answer: no such RST, no need
        # to look.
        overflow_rst_frame=_overflow_rst(view, acked_row) if opening.bare_server_rst[k] else None,
        server_acked_data=opening.server_acked_data[k],
        server_sent_data=opening.server_sent_data[k],
        stale_peer=stale_rst is not None,
        rtt_ms=None if rtt_ms != rtt_ms else rtt_ms,  # NaN: not measurable
        synack_proven=synack_proven,
        ack_proven=ack_proven,
        one_sided=_one_sided(view) if opening.one_side_only[k] else None,
        bad_ack_frame=None if acked_row is not None else _frame(view, opening.bad_ack[k]),
        stale_rst_frame=stale_rst,
        synack_reset=synack_reset,
        synack_reset_shape=reset_shape,
        reopened_frame=_frame(view, opening.reopened_row[k]),
        earlier_end=_earlier_end(view, row_or_none(opening.reopened_row[k])),
        probe=_probe(view) if view.batch.of(_probes)[k] else None,
        answered_syn=None if late_syn is None else int(view.frame[late_syn]),
        answered_last_syn=_answers_last_syn(view, syn_rows, synack_rows),
        answered_syn_wait_s=None if late_syn is None else view.seconds(late_syn, synack_rows[0]),
        syn_forwarded_hops=_forwarded_hops(view, syn_rows, opening.syn_copies.at(k)),
    )
    return Detection(tuple(events), handshake)


#: The hops a copy of a SYN seen at a second capture point may lie below it (nat_copies'
#: MAX_HOPS: one router, or a host and its container bridge).
_COPY_HOPS = (1, 2)


def _forwarded_hops(
    view: ConnView, syn_rows: Sequence[int], syn_copies: Sequence[int]
) -> int | None:
    """``Handshake.syn_forwarded_hops``: each of ``syn_rows`` followed, before the next, by
    a copy of it (one of ``syn_copies``, the same sequence number) with a TTL 1 or 2 lower."""
    if not syn_rows or not syn_copies:
        return None
    copies = np.asarray(syn_copies, dtype=np.int64)
    hops = set()
    bounds = [*syn_rows[1:], len(view)]
    for i, end in zip(syn_rows, bounds, strict=True):
        mine = copies[(copies > i) & (copies < end)]
        mine = mine[view.rel_seq[mine] == view.rel_seq[i]]
        drop = {int(view.ttl[i]) - int(view.ttl[j]) for j in mine.tolist()}
        found = sorted(drop & set(_COPY_HOPS))
        if not found:
            return None
        hops.add(found[0])
    return max(hops)


def _answered_syn(
    view: ConnView, syn_rows: Sequence[int], synack_rows: Sequence[int]
) -> int | None:
    """Row of the SYN the first SYN+ACK answers by its timestamp, when an earlier one than
    the last SYN before it. RFC 7323 4.3 / Linux tcp_synack_options: a SYN+ACK's TSecr is the
    TSval of the SYN it answers, and each SYN (a retransmission too: tcp_skb_timestamp_ts)
    carries its own. So the server got that SYN: not dropped, but answered late (the SYN or
    its SYN+ACK held on the path, a deep queue), the retries the client's timer only."""
    if not synack_rows or len(syn_rows) < 2:
        return None
    first = synack_rows[0]
    before = [i for i in syn_rows if i < first and view.has_ts[i]]
    if len(before) < 2 or not view.has_ts[first]:
        return None
    echo = int(view.synack_ts_ecr[first])
    sent = [int(view.ts_val[i]) for i in before]
    if echo == 0 or sent.count(echo) != 1 or sent.index(echo) == len(sent) - 1:
        return None  # the last SYN's, none or an ambiguous one: nothing to add
    return before[sent.index(echo)]


def _answers_last_syn(view: ConnView, syn_rows: Sequence[int], synack_rows: Sequence[int]) -> bool:
    """The first SYN+ACK's TSecr is the TSval of the last SYN before it (``_answered_syn``'s
    rule): it answered the retry, not an earlier SYN held up on a slow path."""
    if not synack_rows or not syn_rows:
        return False
    first = synack_rows[0]
    before = [i for i in syn_rows if i < first]
    if not before or not view.has_ts[first] or not view.has_ts[before[-1]]:
        return False
    echo = int(view.synack_ts_ecr[first])
    sent = [int(view.ts_val[i]) for i in before if view.has_ts[i]]
    return echo != 0 and sent.count(echo) == 1 and sent[-1] == echo


@dataclass(frozen=True, slots=True)
class SynackReset:
    """The client's RST answering the first SYN+ACK (``Handshake.synack_reset``), measured
    for ``causes.half_open_probe``."""

    syn_to_synack_s: float | None  # the client's last SYN before it -> the first SYN+ACK
    synack_to_rst_s: float  # the first SYN+ACK -> the RST
    #: That SYN carried the timestamps option: a kernel's connect() SYN (Linux and macOS send
    #: it by default), not a raw socket's (nmap and masscan send MSS at most).
    syn_timestamps: bool
    #: The SYN+ACK acknowledges exactly that SYN (ISN + 1). A connecting socket answers an
    #: unacceptable one with the same bare RST and stays connecting
    #: (``tcp_rcv_synsent_state_process``: reset_and_undo).
    acks_syn: bool
    server_syn: bool  # the server sent a SYN without ACK too: a simultaneous open


def _synack_reset_shape(
    view: ConnView, syn_rows: Sequence[int], synack_rows: Sequence[int], rst_row: int
) -> SynackReset:
    first = synack_rows[0]
    before = [i for i in syn_rows if i < first]
    syn = before[-1] if before else None
    return SynackReset(
        syn_to_synack_s=None if syn is None else view.seconds(syn, first),
        synack_to_rst_s=view.seconds(first, rst_row),
        syn_timestamps=syn is not None and bool(view.has_ts[syn]),
        acks_syn=int(view.rel_ack[first]) == 1,
        server_syn=bool(np.any(~view.from_client & view.syn & ~view.ack)),
    )


@dataclass(frozen=True, slots=True)
class ScanProbe:
    """The first of a scanner's probes: its name by flags (``probe_name``), frame, sender."""

    name: str
    frame: int
    by: Side


def _probe(view: ConnView) -> ScanProbe:
    return ScanProbe(probe_name(int(view.flags[0])), int(view.frame[0]), view.side(0))


def _probes(batch: Batch) -> list[bool]:
    return batch.any(batch.rows.scan_probe)


#: nmap's names for its probes without SYN, ACK or RST (``-sF``, ``-sN``, ``-sX``).
_PROBE_NAMES = {FIN: "FIN", 0: "NULL", FIN | PSH | URG: "Xmas"}


def probe_name(flags: int) -> str:
    """A scan probe by its TCP flags (ECN and NS bits aside): nmap's name, else the flags."""
    core = flags & 0x3F
    return _PROBE_NAMES.get(core, f"flags 0x{core:02x}")


@dataclass(frozen=True, slots=True)
class _Opening:
    """What ``detect`` asks of every connection of a batch, answered column-wise (rows are
    relative to each connection, ``NO_ROW``: none). Each field's comment says the rule."""

    syn_rows: RowSets  # the client's SYNs (no ACK), capture duplicates aside
    syn_copies: RowSets  # the capture duplicates of the client's SYNs (``_forwarded_hops``)
    synack_rows: RowSets  # the server's SYN+ACKs, capture duplicates aside
    #: Per SYN of ``syn_rows`` (SYN+ACK of ``synack_rows``): its (time_ns, frame), read once
    #: for the batch (``_series`` reads them as Python ints).
    syn_sent: Sent
    synack_sent: Sent
    #: The server's first SYN+ACK, RST or ACK after the client's first SYN (``_server_answer``).
    reply_row: list[int]
    #: The handshake ACK: the client's first ACK after the first SYN+ACK with ack = server
    #: ISN + 1 exactly (an ACK of anything else does not complete the handshake), no FIN, before
    #: any RST (``_handshake_acks``).
    ack_row: list[int]
    #: The client's first segment acknowledging the SYN+ACK, a FIN included (``_acks_synack``):
    #: the SYN+ACK reached the client.
    acked_row: list[int]
    #: A client ACK after its first SYN: the SYN+ACK reached the client, seen or not.
    synack_proven: list[int]
    #: A server segment other than SYN+ACK / RST after its first SYN+ACK: the server got the
    #: handshake ACK (it had a full socket), seen or not.
    ack_proven: list[int]
    #: A client ACK (of anything) after the first SYN+ACK (``Handshake.bad_ack_frame``).
    bad_ack: list[int]
    #: The client's first RST after the first SYN+ACK (``Handshake.synack_reset``).
    client_rst: list[int]
    client_sent_data: list[bool]
    client_data_row: list[int]  # the client's first segment with data (``NO_ROW``: none)
    server_sent_data: list[bool]
    server_acked_data: list[bool]  # a server ACK (not its SYN+ACK) beyond the client's SYN
    bare_server_rst: list[bool]  # a server RST without ACK (``_overflow_rst``'s candidate)
    one_side_only: list[bool]  # every row from one side (``_one_sided``'s precondition)
    rtt_ms: list[float]  # ``handshake_rtt_ms`` (NaN: not measurable)
    reopened_row: list[int]  # the first of ``facts.reopens`` (``Handshake.reopened_frame``)
    server_first_row: list[int]  # the server's first segment (``_server_answer`` without SYN)
    #: The server sent one segment and the client nothing before it (``_server_answer``).
    lone_server_reset: list[bool]


def _past_handshake(r: SegmentRows) -> np.ndarray:
    """Per row: a RST whose numbers only an established socket sends. Its sequence number is
    past the sender's ISN + 1 (a socket in SYN_RECV has sent nothing after its SYN+ACK: an
    established one aborting sends its snd_nxt, and a RST answering a segment after the
    socket is gone takes that segment's ACK of the bytes the socket had sent), or it
    acknowledges the peer's bytes past its ISN + 1 (only an established socket takes data: a
    request socket's RST answers with the segment's own numbers). Seen in a capture filtered
    on SYN/FIN/RST, where the handshake ACK and the data are filtered out, on a server's
    abort after its answer."""
    past: np.ndarray = r.rst & ((r.rel_seq > 1) | (r.ack & (r.rel_ack > 1)))
    return past


def _opening(batch: Batch) -> _Opening:
    r = batch.rows
    client, server = r.from_client, ~r.from_client
    syn, synack = syn_masks(r, batch.starts)
    syn_rows, synack_rows = batch.first(syn), batch.first(synack)
    plain_ack = r.ack & ~r.syn & ~r.rst
    n_conns = len(batch.starts) - 1
    ack_row = batch.first_after(_handshake_acks(r, batch.conn_index, n_conns), synack_rows)
    n_client = batch.count(client)
    n_rows = np.diff(batch.starts)
    server_first = batch.first(server)
    rtt = handshake_rtt_ms(
        batch.count(syn),
        batch.count(synack),
        batch.at_rows(r.time_ns, syn_rows, 0),  # no SYN: time 0, as handshake_rtts
        batch.at_rows(r.time_ns, ack_row, -1),
    )
    return _Opening(
        syn_rows=batch.row_sets(syn),
        syn_copies=batch.row_sets(r.is_dup & r.syn & ~r.ack & client),
        synack_rows=batch.row_sets(synack),
        syn_sent=_sent(batch, syn),
        synack_sent=_sent(batch, synack),
        reply_row=batch.first_after(server & (r.syn | r.rst | r.ack), syn_rows).tolist(),
        ack_row=ack_row.tolist(),
        acked_row=batch.first_after(
            _acks_synack(r, batch.conn_index, n_conns), synack_rows
        ).tolist(),
        synack_proven=batch.first_after(client & plain_ack, syn_rows).tolist(),
        ack_proven=batch.first_after(
            server & ~r.syn & (~r.rst | _past_handshake(r)), synack_rows
        ).tolist(),
        bad_ack=batch.first_after(client & plain_ack, synack_rows).tolist(),
        client_rst=batch.first_after(client & r.rst, synack_rows).tolist(),
        client_sent_data=batch.any(client & (r.seg_len > 0)),
        client_data_row=batch.first(client & (r.seg_len > 0)).tolist(),
        server_sent_data=batch.any(server & (r.seg_len > 0)),
        server_acked_data=batch.any(server & r.ack & ~r.syn & (r.rel_ack > 1)),
        bare_server_rst=batch.any(server & r.rst & ~r.ack),
        one_side_only=((n_client == 0) | (n_client == n_rows)).tolist(),
        rtt_ms=np.asarray(rtt, dtype=np.float64).tolist(),
        reopened_row=batch.first(r.reopens).tolist(),
        server_first_row=server_first.tolist(),
        lone_server_reset=_lone_server_segment(
            batch.first(client), server_first, n_rows - n_client
        ).tolist(),
    )


def _lone_server_segment(
    client_first: np.ndarray, server_first: np.ndarray, n_server: np.ndarray
) -> np.ndarray:
    """Per connection (its first client row, its first server row, how many server rows): one
    server segment, and no client segment before it."""
    after = (client_first == NO_ROW) | (client_first > server_first)
    return np.asarray((n_server == 1) & after)


@dataclass(frozen=True, slots=True)
class Sent:
    """When and in which frame each of a batch's rows of one kind was sent (``RowSets``' rows
    of the same mask, in the same order)."""

    time_ns: list[int]
    frame: list[int]
    bounds: list[int]  # connection k's rows are entries bounds[k]:bounds[k + 1]

    def at(self, k: int) -> tuple[list[int], list[int]]:
        """Connection ``k``'s times (ns) and frames."""
        lo, hi = self.bounds[k], self.bounds[k + 1]
        return self.time_ns[lo:hi], self.frame[lo:hi]


def _sent(batch: Batch, mask: np.ndarray) -> Sent:
    """Each row's time at the capture point that saw its connection's first row of the kind:
    in a capture of two points whose clocks differ, a SYN dropped between the points is seen
    at one of them only and its retry first at the other (``points.one_point_times``)."""
    rows = np.flatnonzero(mask)
    r = batch.rows
    bounds: list[int] = np.searchsorted(rows, batch.starts).tolist()
    times: list[int] = r.time_ns[rows].tolist()
    copied = batch.count(r.is_dup & r.syn) > 0
    for k in np.flatnonzero(copied & (np.diff(bounds) > 1)).tolist():
        lo, hi = int(batch.starts[k]), int(batch.starts[k + 1])
        at = rows[bounds[k] : bounds[k + 1]]
        times[bounds[k] : bounds[k + 1]] = points.one_point_times(r, lo, hi, at)
    return Sent(times, r.frame[rows].tolist(), bounds)


def _earlier_end(view: ConnView, reopened: int | None) -> str | None:
    """How the stream's connection before ``reopened`` ended (``Handshake.earlier_end``)."""
    if reopened is None:
        return None
    rst = np.flatnonzero(view.rst[:reopened])
    if len(rst):
        r = int(rst[-1])
        return f"the {'client' if view.from_client[r] else 'server'}'s RST (frame {view.frame[r]})"
    fins = np.flatnonzero(view.fin[:reopened])
    if len(fins) and len(set(view.from_client[fins].tolist())) == 2:
        return f"FINs from both sides (frames {view.frame[fins[0]]}, {view.frame[fins[-1]]})"
    return None


def _frame(view: ConnView, row: int) -> int | None:
    return None if row == NO_ROW else int(view.frame[row])


def _plain_ack(view: ConnView) -> np.ndarray:
    return np.asarray(view.ack & ~view.syn & ~view.rst)


def _one_sided(view: ConnView) -> OneSided | None:
    """One side only, with an ACK field that moves: the peer is alive but unseen.

    The peer's FIN is proven when the captured side's ACK last advanced by exactly 1 (a FIN
    takes one sequence number); a single byte of data would look the same, hence "inferred".
    """
    n_client = int(np.count_nonzero(view.from_client))
    if 0 < n_client < len(view) or not len(view):
        return None
    captured = Side.CLIENT if n_client else Side.SERVER
    rows = np.flatnonzero(_plain_ack(view) | (view.syn & view.ack))
    if len(rows) < 2:
        return None
    acks = view.rel_ack[rows]
    peak = np.maximum.accumulate(acks)
    steps = np.flatnonzero(acks[1:] > peak[:-1]) + 1
    if not len(steps):
        return None  # the ACK never moved: nothing proves the peer is there
    last = int(steps[-1])
    if int(acks[last] - peak[last - 1]) != 1:
        return OneSided(captured, None, False, int(view.frame[rows[last]]))
    fin_row = int(rows[last])
    own_fin = np.flatnonzero(view.fin & ~view.is_dup)
    peer_first = not len(own_fin) or int(own_fin[0]) >= fin_row
    return OneSided(captured, int(view.frame[fin_row]), peer_first)


def _server_answer(
    view: ConnView, opening: _Opening, syn_rows: list[int], synack_rows: list[int]
) -> tuple[str, int | None]:
    """The server's first segment after a SYN: SYN+ACK, RST, or a bare (challenge) ACK."""
    if not syn_rows:
        if synack_rows:
            return "synack", synack_rows[0]
        first = row_or_none(opening.server_first_row[view.at])
        if first is not None and view.refusal_shape[first] and opening.lone_server_reset[view.at]:
            # A SYN the capture does not hold was reset: sequence number 0 answers a segment
            # without ACK, and nothing else is in the stream but what the client sent after
            # it (a filter on RSTs, a tap that missed the client's side). A client segment
            # before it may be the one reset (a FIN scan's FIN), and more from the server
            # is another connection's (the 4-tuple reused).
            return "rst", first
        return "none", None
    i = row_or_none(opening.reply_row[view.at])  # its first SYN, RST or ACK after the first SYN
    i = _earlier_in_time(view, syn_rows[0], i)
    if i is None:
        return "none", None
    if view.syn[i]:
        return "synack", i
    if view.rst[i]:
        return "rst", i
    return "challenge_ack", i


def _frame_or_none(view: ConnView, row: int) -> int | None:
    i = row_or_none(row)
    return int(view.frame[i]) if i is not None else None


def _earlier_in_time(view: ConnView, syn: int, reply: int | None) -> int | None:
    """The server's first SYN, RST or ACK at or after the client's first SYN in time, given
    ``reply``, the first filed after it. A capture whose frames are out of time order (merged
    files, two capture points, a stack's timestamping racing the tap) can file the SYN+ACK
    before the SYN that it answers (zeek ipv6-http-atomic-frag: SYN+ACK frame 3, 30 us after
    the SYN of frame 4): then the first server segment filed after the SYN is a later ACK,
    which read as a bare answer to the SYN (a challenge ACK) though the SYN+ACK answered it.
    A server segment filed before the SYN but stamped at or after it answers it if it comes
    first in time (ties: the one filed first)."""
    if syn == 0:
        return reply  # nothing filed before the SYN
    t0 = view.time_ns[syn]
    head = slice(0, syn)
    before = np.flatnonzero(
        ~view.from_client[head]
        & (view.syn[head] | view.rst[head] | view.ack[head])
        & (view.time_ns[head] >= t0)
    )
    if not len(before):
        return reply
    j = int(before[np.argmin(view.time_ns[before])])  # argmin: the first of equal times
    if reply is None or view.time_ns[j] <= view.time_ns[reply]:
        return j
    return reply


#: Linux 6.5+ (``net.ipv4.tcp_syn_linear_timeouts``, default 4, on top of
#: ``tcp_syn_retries``) sends SYN retries 1 s apart this many times before it doubles
#: (``total_rto <= tcp_syn_linear_timeouts``: 5 gaps of 1 s; sample connect-timeout-syncnt3-linear4).
LINEAR_SYN_GAPS = 5


#: net.ipv4.tcp_syn_linear_timeouts' default (Linux 6.5+).
DEFAULT_SYN_LINEAR_TIMEOUTS = 4


def _syn_time_limit(setting: int) -> float:
    """``tcp_model_timeout(setting, rto_base=1 s)``: doubling from 1 s, capped at TCP_RTO_MAX
    (120 s) past 6 doublings."""
    return float((2 << setting) - 1 if setting <= 6 else 127 + (setting - 6) * 120)


def _linux_syn_run(setting: int, linear: int) -> tuple[tuple[float, ...], SynLimits]:
    """The SYN times a Linux SYN_SENT socket sends with TCP_SYNCNT ``setting`` and
    tcp_syn_linear_timeouts ``linear``, and how it gives up (net/ipv4/tcp_timer.c: the RTO
    stays 1 s while retransmissions <= ``linear``, then doubles; ``tcp_write_timeout``).
    Proven on a 6.18 kernel: 1/4 -> 0,1,2 s, ETIMEDOUT at 3.1 s; 2/4 -> 0..5 s, 7.1 s;
    3/4 -> 0..5,7,11 s, 19.5 s; 2/2 -> 0,1,2,3,5 s, 9.4 s; 2/0 -> 0,1,3 s, 7.1 s."""
    limit = _syn_time_limit(setting)
    times, t, k = [0.0], 0.0, 0
    while True:
        fire = t + (1.0 if k <= linear else float(min(2 ** (k - linear), 120)))
        count = k >= setting + linear
        timed = k > 0 and fire >= limit  # retransmits_timed_out: never before a retry
        if count or timed:
            return tuple(times), SynLimits(setting, linear, fire, fire - t, limit, count, timed)
        t, k = fire, k + 1
        times.append(t)


#: Every (setting, linear) pair's run, by SYN count: settings 1-15, linear 0-8.
_LINUX_SYN_RUNS: dict[int, list[tuple[tuple[float, ...], SynLimits]]] = {}
for _linear in range(9):
    for _setting in range(1, 16):
        _run = _linux_syn_run(_setting, _linear)
        _LINUX_SYN_RUNS.setdefault(len(_run[0]), []).append(_run)


def linux_syn_limits(times: Sequence[float]) -> SynLimits | None:
    """The Linux setting whose SYNs are ``times`` (seconds from the first, all of a given-up
    series), preferring tcp_syn_linear_timeouts' default when the gaps allow several; None
    when no setting sends that series (another stack, or the application closed the
    socket first), or when settings that fit disagree on the count."""
    if len(times) < 2:
        return None
    fits = [
        lim
        for run, lim in _LINUX_SYN_RUNS.get(len(times), [])
        if all(close_to(seen, due) for seen, due in zip(times[1:], run[1:], strict=True))
    ]
    chosen = [lim for lim in fits if lim.linear == DEFAULT_SYN_LINEAR_TIMEOUTS] or fits
    if len({lim.setting for lim in chosen}) != 1:
        return None
    return chosen[0]


def _cut_short_linear(schedule: Schedule, gaps: int, syn: bool) -> bool:
    """SYNs 1 s apart that stopped where no Linux setting stops them (3 or 4 gaps: with
    TCP_SYNCNT=1 the 3 s time limit ends a connect after 2 gaps, with 2 the 7 s one after 5):
    no kernel timer ran out there. The application closed the socket (its own connect
    timeout, which sends nothing), or TCP_USER_TIMEOUT did: the give-up time is not the
    SYN timer's."""
    return syn and not schedule.doubling and 2 <= schedule.linear_gaps == gaps < LINEAR_SYN_GAPS


def _series(
    view: ConnView,
    rows: list[int],
    sent: tuple[list[int], list[int]],
    *,
    answered: bool,
    syn: bool,
    refusals: tuple[int, ...] = (),
    syn_rows: list[int] | None = None,
    opened: bool = True,
) -> RetrySeries | None:
    """The retry series of ``rows`` (``sent``: their times in ns and frames); for SYN+ACKs,
    ``syn_rows``: the client's SYNs, and ``opened``: the SYN this series answers is in the
    capture."""
    if not rows:
        return None
    sent_ns, frames = sent
    times = [(t - sent_ns[0]) / 1e9 for t in sent_ns]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    untimed = (
        _untimed(view, rows, gaps, refusals) if syn else _answering(rows, syn_rows or [], gaps)
    )
    schedule = untimed or name_schedule(gaps, syn=syn)
    gave_up: bool | None = None
    give_up_after: float | None = None
    limits: SynLimits | None = None
    cut_short = False
    if not answered:
        first_rto = MAX_INITIAL_SYN_RTO_S if syn else INITIAL_SYNACK_RTO_S
        due = schedule.next_gap_s if schedule.next_gap_s is not None else first_rto
        waited = float(view.capture_end_ns - view.time_ns[rows[-1]]) / 1e9
        # One SYN+ACK and no SYN: nothing shows a request socket the server would retry from
        # and give up on (a switch flooding one frame to the capture port, a handshake
        # captured from its middle, a SYN cookie): its missing retry shows no give-up.
        lone = not syn and not opened and len(rows) == 1
        if overdue(waited, due) and not lone:
            gave_up = True
        # Linux ends a connect at the first of two limits, the count and the time: a given-up
        # series a setting sends exactly says which setting and when it gave up.
        limits = linux_syn_limits(times) if syn and gave_up else None
        cut_short = limits is None and _cut_short_linear(schedule, len(gaps), syn)
        # The kernel aborts when the timer after the last retry fires (ETIMEDOUT), whether or
        # not the capture lasted that long; "gave up" is only claimed when the capture went
        # on past the retry the pattern predicts and none came.
        if limits is not None and not limits.count:
            # The time limit: its expiry can come sooner than the schedule's next gap.
            give_up_after = times[-1] + limits.last_gap_s
        elif schedule.next_gap_s is not None and schedule.regular and not cut_short:
            give_up_after = times[-1] + schedule.next_gap_s
    return RetrySeries(
        times=tuple(times),
        frames=tuple(frames),
        schedule=schedule,
        retries=len(rows) - 1,
        gave_up=gave_up,
        give_up_after_s=give_up_after,
        timed=untimed is None,
        refusals=refusals,
        cut_short=cut_short,
        limits=limits,
    )


def _refusals(view: ConnView, syn_rows: list[int]) -> tuple[int, ...]:
    """The server's RST answering each SYN (its first segment after the SYN, before the next
    one), when every retry followed one; the last SYN's too when it has one. () when any
    retry came without a RST before it."""
    if len(syn_rows) < 2:
        return ()
    server = np.flatnonzero(~view.from_client)
    found = []
    for sent, retry in itertools.pairwise([*syn_rows, len(view)]):
        at = int(np.searchsorted(server, sent, side="right"))
        if at == len(server) or server[at] > retry or not view.rst[server[at]]:
            if retry == len(view):
                break  # the last SYN: its answer is not needed to prove the order
            return ()
        found.append(int(server[at]))
    return tuple(int(view.frame[i]) for i in found)


def _untimed(
    view: ConnView, rows: list[int], gaps: list[float], refusals: tuple[int, ...]
) -> Schedule | None:
    """A SYN series no retransmission timer sent: every retry after a RST answering the
    previous SYN, or, with nothing from the server between, a retry sooner than any SYN timer
    fires (TCP_TIMEOUT_INIT less the timer slack: SYNs that differ, crafted or replayed).
    None: name it by its gaps. (Not for SYN+ACKs:
    a server answers a resent SYN at once, microseconds from its own timer's SYN+ACK.)"""
    if refusals:
        frame_row = {int(view.frame[i]): i for i in range(len(view))}
        waits = [
            view.seconds(frame_row[rst], retry)
            for rst, retry in zip(refusals, rows[1:], strict=False)
        ]
        return Schedule(f"a new SYN {_gaps_text(waits)} after each RST", False, 0, None)
    if not gaps or min(gaps) >= SYN_COPY_BEFORE_S:
        return None
    # A server segment between two SYNs may draw a retry at once when it acknowledges
    # something else (a challenge ACK: tcp_rcv_synsent_state_process answers it with a RST
    # and rearms the SYN timer at TCP_TIMEOUT_MIN). A SYN+ACK acknowledging the SYN cannot:
    # arrived, it ends SYN_SENT; a retry after it says it did not arrive in time.
    answers_syn = view.syn & view.ack & (view.rel_ack == 1)
    server = np.flatnonzero(~view.from_client & ~answers_syn)
    answered = any(np.any((server > a) & (server < b)) for a, b in itertools.pairwise(rows))
    if not answered:
        return Schedule(
            f"no timer: {_gaps_text(gaps)} apart, sooner than any SYN timer", False, 0, None
        )
    return None


def _answering(synack_rows: list[int], syn_rows: list[int], gaps: list[float]) -> Schedule | None:
    """SYN+ACKs no timer of the server's sent: each answered its own SYN, one after each SYN
    and before the next (a listener answers every copy of a pending request's SYN at once:
    tcp_check_req -> inet_rtx_syn_ack). The client's resent SYNs are the retries that cost
    time (its timer, or no timer at all: ``_untimed``); the server lost nothing. None: name
    the series by its gaps."""
    if not gaps or not synack_rows or len(synack_rows) > len(syn_rows):
        return None
    if not (_interleaved(synack_rows, syn_rows) or _answered_together(synack_rows, syn_rows, gaps)):
        return None
    return Schedule(
        f"answers to the client's resent SYNs, {_gaps_text(gaps)} apart", False, 0, None
    )


def _interleaved(synack_rows: list[int], syn_rows: list[int]) -> bool:
    """One SYN+ACK after each SYN and before the next."""
    if len(synack_rows) != len(syn_rows):
        return False
    nexts = [*syn_rows[1:], None]
    return all(
        syn < synack and (after is None or synack < after)
        for syn, synack, after in zip(syn_rows, synack_rows, nexts, strict=True)
    )


def _answered_together(synack_rows: list[int], syn_rows: list[int], gaps: list[float]) -> bool:
    """SYN+ACKs sent in one burst, the k-th after the k-th SYN: SYNs held up on the way in (a
    queue, a relay) reached the listener together and each copy drew its answer at once. No
    timer of the server's sent them: its SYN+ACK timer starts at TCP_TIMEOUT_INIT (1 s), and
    no TCP timer is shorter than TCP_RTO_MIN."""
    return max(gaps) < RTO_MIN_S and all(
        syn < synack for syn, synack in zip(syn_rows, synack_rows, strict=False)
    )


def _gaps_text(seconds: list[float]) -> str:
    low, high = min(seconds), max(seconds)
    if high < 0.0005:
        return "under 1 ms"
    if high < 1:
        low_ms, high_ms = round(low * 1000), round(high * 1000)
        return f"{low_ms} ms" if low_ms == high_ms else f"{low_ms}-{high_ms} ms"
    return f"{low:.3g} s" if round(low, 1) == round(high, 1) else f"{low:.3g}-{high:.3g} s"


def _retry_events(view: ConnView, rows: list[int], kind: EventKind) -> list[Event]:
    """An event for each transmission after the first of ``rows``."""
    events = []
    for position in range(1, len(rows)):
        i = rows[position]
        gap = view.seconds(rows[position - 1], i)
        since_first = view.seconds(rows[0], i)
        note = (
            f"retry {position}: {gap:.3g} s after the previous, {since_first:.3g} s after the first"
        )
        events.append(view.event(i, kind, note, gap))
    return events


def _client_reset_then_retry(
    view: ConnView, answer_row: int | None, syn_rows: list[int]
) -> int | None:
    """Frame of the client's RST after the challenge ACK, when a SYN retry followed."""
    if answer_row is None:
        return None
    later = np.arange(len(view)) > answer_row
    client_rst = np.flatnonzero(view.from_client & view.rst & later)
    if len(client_rst) and any(i > answer_row for i in syn_rows):
        return int(view.frame[client_rst[0]])
    return None


def _overflow_rst(view: ConnView, ack_row: int | None) -> int | None:
    """A listener RST answering the client's ACK of a SYN+ACK (tcp_abort_on_overflow=1).

    The listener answers with a RST built by ``tcp_v4_send_reset`` (no ACK flag, seq = the
    client's ack) and it is the server's direct reply to the client's ACK of the latest
    SYN+ACK: no other client segment in between. With ``tcp_abort_on_overflow=0`` a bare RST
    may also come, much later, when a client retransmission reaches the listener after the
    request expired; that one follows client retransmissions, not the ACK.
    """
    if ack_row is None:
        return None
    # The server's first segment after the ACK that accepted the connection (data, or an ACK
    # of client data) or is a bare RST decides: one search, not a walk over its rows.
    after = slice(ack_row + 1, len(view))
    accepted = (view.seg_len[after] > 0) | (
        view.ack[after] & ~view.syn[after] & (view.rel_ack[after] > 1)
    )
    bare_rst = view.rst[after] & ~view.ack[after]
    found = np.flatnonzero(~view.from_client[after] & (accepted | bare_rst))
    if not len(found) or accepted[found[0]]:
        return None  # no such RST, or the server accepted the connection first
    i = ack_row + 1 + int(found[0])
    idx = np.arange(len(view))
    synacks = np.flatnonzero(~view.from_client & view.syn & (idx < i))
    if not len(synacks):
        return None
    between = np.flatnonzero(view.from_client & (idx > synacks[-1]) & (idx < i))
    # The RST answers the ACK itself, a pure ACK or data: a FIN is a close, not an
    # overflow (a listener also resets a FIN it has no socket for).
    if len(between) == 1 and not view.fin[between[0]]:
        return int(view.frame[i])
    return None


def handshake_rtt_ms(syns: Any, synacks: Any, syn_ns: Any, ack_ns: Any) -> Any:
    """SYN -> SYN+ACK plus SYN+ACK -> ACK in ms, both halves seen at the capture point; NaN
    when not measurable. Ints for one connection (the detector) or per-connection arrays
    (classify's fast path, ``handshake_rtts``): the one RTT rule of both.

    ``syn_ns``: the SYN's time; ``ack_ns``: the client's first ACK of the SYN+ACK
    (``_acks_synack``), negative if none. Karn's rule: only when neither the SYN nor the
    SYN+ACK answered was a retransmission (exactly one of each, capture duplicates aside).
    """
    # A round trip cannot be negative: an ACK stamped before its SYN crossed a timestamp
    # step back (merged or clock-stepped capture) and measures nothing.
    measurable = (syns == 1) & (synacks == 1) & (ack_ns >= 0) & (ack_ns >= syn_ns)
    return np.where(measurable, (ack_ns - syn_ns) / 1e9 * 1e3, np.nan)


def _acks_synack_in(rows: SegmentRows, conn_index: np.ndarray, n: int) -> np.ndarray:
    """Client segments acknowledging the SYN+ACK (ack = server ISN + 1 exactly), FIN included,
    before the first RST after the SYN+ACK: that RST ended the attempt, so no later segment
    completes it (a stateless scanner's data after its own stack's RST, a client that gave
    up). A RST before the SYN+ACK belongs to an older attempt (a stale peer's challenge ACK
    answered by the client)."""
    first_synack = _first_synack(rows, conn_index, n)
    resets = np.flatnonzero(rows.rst & ~rows.is_dup)
    ended = resets[resets > first_synack[conn_index[resets]]]
    first_rst = _first_of(ended, conn_index, n, len(rows))
    acks = rows.from_client & rows.ack & ~rows.syn & ~rows.rst & (rows.rel_ack == 1)
    return _keep_before(acks, first_rst, conn_index)


#: ``_acks_synack_in``, made once for a whole ``Facts`` (the screen, ``rows``, the batch
#: pass and ``_handshake_acks`` ask for it).
_acks_synack = made_once(_acks_synack_in)


def _handshake_acks_in(rows: SegmentRows, conn_index: np.ndarray, n: int) -> np.ndarray:
    """Candidates for the handshake ACK: ``_acks_synack`` without FIN, and one carrying data
    only within the delayed-ACK time of the SYN+ACK before it.

    The client acknowledges a SYN+ACK at once, or with its first data within the delayed-ACK
    time (``tcp_rcv_synsent_state_process``: ``tcp_send_ack``, or, when a write is pending,
    the ACK held ``TCP_DELACK_MAX`` for that write to carry it); a close comes later. So a
    FIN that is the first client segment to acknowledge the SYN+ACK, or data later than
    ``TCP_DELACK_MAX`` after it (at the capture point, ``HANDSHAKE_DATA_SLACK_S`` more),
    proves the SYN+ACK arrived but means the handshake ACK itself was not captured (lost at
    the capture point, or a capture filtered on SYN/FIN/RST): the time to that segment is
    the application's (a request written after a think time), no connect time. (A client
    that answers a server speaking first acknowledges the server's data too, never the
    SYN+ACK's ISN + 1 alone: no candidate.)"""
    acks = _acks_synack(rows, conn_index, n) & ~rows.fin
    found = np.flatnonzero(acks & (rows.seg_len > 0))
    if len(found):
        synacks = np.append(np.flatnonzero(~rows.from_client & rows.syn & rows.ack), 0)
        k = np.searchsorted(synacks[:-1], found) - 1  # the last SYN+ACK before each (-1: none)
        before = synacks[k]  # k = -1 reads the 0 appended: checked by ``own``
        own = (k >= 0) & (conn_index[before] == conn_index[found])
        waited = rows.time_ns[found] - rows.time_ns[before]
        late = ~own | (waited > round((DELACK_MAX_S + HANDSHAKE_DATA_SLACK_S) * 1e9))
        acks[found[late]] = False
    return np.asarray(acks)


#: How much later than ``TCP_DELACK_MAX`` after the SYN+ACK (at the capture point) a
#: client's data may still carry the handshake ACK: the timer's own slack (jiffies) and the
#: client's loop from a capture point near the server; a longer path's piggybacked ACK is
#: missed (no round trip claimed), never a think time taken for one.
HANDSHAKE_DATA_SLACK_S = 0.05


#: ``_handshake_acks_in``, made once for a whole ``Facts`` (``rows``, the batch pass and
#: ``handshake_loops`` ask for it).
_handshake_acks = made_once(_handshake_acks_in)


def _first_synack(rows: SegmentRows, conn_index: np.ndarray, n: int) -> np.ndarray:
    """Per connection: its first SYN+ACK row (capture duplicates aside), len(rows): none."""
    synack = ~rows.from_client & rows.syn & rows.ack & ~rows.is_dup
    return _first_row(synack, conn_index, n, len(rows))


def _keep_before(mask: np.ndarray, bound: np.ndarray, conn_index: np.ndarray) -> np.ndarray:
    """``mask`` on the rows before their connection's ``bound`` row only (in place; asks only
    the rows where ``mask`` holds, not every row)."""
    found = np.flatnonzero(mask)
    mask[found[found >= bound[conn_index[found]]]] = False
    return mask


def _keep_after(mask: np.ndarray, bound: np.ndarray, conn_index: np.ndarray) -> np.ndarray:
    """``mask`` on the rows after their connection's ``bound`` row only (in place)."""
    found = np.flatnonzero(mask)
    mask[found[found <= bound[conn_index[found]]]] = False
    return mask


def _first_row(mask: np.ndarray, conn_index: np.ndarray, n: int, none: int) -> np.ndarray:
    """Per connection: its first row where ``mask`` holds, ``none`` if there is none."""
    return _first_of(np.flatnonzero(mask), conn_index, n, none)


def _first_of(found: np.ndarray, conn_index: np.ndarray, n: int, none: int) -> np.ndarray:
    """Per connection: its first row among ``found`` (ascending), ``none`` if none is."""
    first = np.full(n, none, dtype=np.int64)
    first[conn_index[found[::-1]]] = found[::-1]  # the first row is written last
    return first


# --- vectorised parts -----------------------------------------------------------------


def syn_masks(rows: SegmentRows, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The client's SYNs (no ACK) and the server's SYN+ACKs, capture duplicates aside
    (``starts``: the connections' first rows, as ``Facts.starts``).

    A SYN+ACK that opens a new connection (``facts.reopens``) is left out: a retransmitted
    SYN+ACK is the same request sock's (Linux ``inet_rtx_syn_ack`` resends ``snt_isn``), and
    one answering a SYN the first handshake never sent belongs to a new connection on the
    same 4-tuple whose SYN the capture lost (Wireshark keeps it in the old stream). A new ISN
    answering the same SYN stays (a load balancer that sent the retried SYN to another
    backend, a request sock that expired)."""
    clean = ~rows.is_dup
    synack = rows.syn & rows.ack & ~rows.from_client & clean & ~rows.reopens
    return rows.syn & ~rows.ack & rows.from_client & clean, synack


def handshake_rtts(facts: Facts) -> np.ndarray:
    """``handshake_rtt_ms`` of every connection (``facts.conn_ids`` order), NaN if none."""
    syns, synacks, syn_ns, _, ack_ns = _handshake_times(facts)
    return np.asarray(handshake_rtt_ms(syns, synacks, syn_ns, ack_ns))


def handshake_loops(facts: Facts) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """``handshake_rtts``, and per connection (``facts.conn_ids`` order) the two halves of
    that round trip as the capture point saw them, in ns: SYN -> SYN+ACK (the loop to the
    server and back) and SYN+ACK -> ACK (the loop to the client and back); NaN where the
    round trip is. At the client the first is the whole round trip and the second about 0;
    at the server the other way round; in the middle each is the capture point's distance
    to that host. One pass over the handshake's rows for both."""
    syns, synacks, syn_ns, synack_ns, ack_ns = _handshake_times(facts)
    rtt_ms = np.asarray(handshake_rtt_ms(syns, synacks, syn_ns, ack_ns))
    measured = ~np.isnan(rtt_ms)
    server = np.where(measured & (synack_ns >= syn_ns), synack_ns - syn_ns, np.nan)
    client = np.where(measured & (ack_ns >= synack_ns), ack_ns - synack_ns, np.nan)
    both = ~np.isnan(server) & ~np.isnan(client)  # a step back in time measures neither
    return rtt_ms, (np.where(both, server, np.nan), np.where(both, client, np.nan))


def _handshake_times(
    facts: Facts,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per connection: its SYNs and SYN+ACKs (counts), the first SYN's and SYN+ACK's times and
    the client's first ACK of the SYN+ACK (``_handshake_acks``; -1: none)."""
    n = len(facts.conn_ids)
    ci = facts.conn_index
    syn, synack = syn_masks(facts, facts.starts)
    first_syn = _first_row(syn, ci, n, len(facts))
    first_synack = _first_synack(facts, ci, n)
    ack_row = _first_row(facts.once(_handshake_acks_after_synack), ci, n, -1)
    time_ns = np.append(facts.time_ns, 0)  # row -1 / len(facts): no such row
    return (
        rows_per_connection(syn, facts.starts),
        rows_per_connection(synack, facts.starts),
        time_ns[first_syn],
        np.where(first_synack < len(facts), time_ns[first_synack], -1),
        np.where(ack_row >= 0, time_ns[ack_row], -1),
    )


def screen(facts: Facts) -> np.ndarray:
    """Connections whose opening is not one SYN answered by one SYN+ACK (a scan probe's
    included: it has no opening)."""
    syn, synack = syn_masks(facts, facts.starts)
    n = len(facts.conn_ids)
    n_syn = rows_per_connection(syn, facts.starts)
    n_synack = rows_per_connection(synack, facts.starts)
    # A SYN+ACK the client never acknowledged (SYN flood, lost ACKs, SYN cookies).
    client_ack = facts.from_client & ((facts.flags & (ACK | SYN)) == ACK) & ~facts.is_dup
    n_client_ack = rows_per_connection(client_ack, facts.starts)
    # Client ACKs that all acknowledge something else count as none (``Handshake.client_acked``)
    # unless the server went on as established (``Handshake.ack_proven``).
    first_synack = _first_synack(facts, facts.conn_index, n)
    server_went_on = ~facts.from_client & ~facts.syn & ~facts.rst
    went_on_or_acked = server_went_on | _acks_synack(facts, facts.conn_index, n)
    acked = per_connection(facts, _keep_after(went_on_or_acked, first_synack, facts.conn_index))
    unanswered_synack = (n_synack > 0) & ((n_client_ack == 0) | ~acked)
    return np.asarray(
        (n_syn > 1)
        | (n_synack > 1)
        | ((n_syn > 0) & (n_synack == 0))
        | unanswered_synack
        | one_sided(facts)
        | (rows_per_connection(facts.reopens, facts.starts) > 0)
        | any_per_connection(facts.scan_probe, facts.starts)
    )


def one_sided(facts: Facts) -> np.ndarray:
    """Per connection: every packet from one side while that side's ACK field moves (the
    other direction exists but was not captured: asymmetric routing, a one-sided tap). Made
    once per ``Facts`` (the screen, capture quality and the engine ask for it)."""
    return facts.once(_one_sided_in)


def _one_sided_in(facts: Facts) -> np.ndarray:
    n_client = rows_per_connection(facts.from_client, facts.starts)
    one_way = np.flatnonzero((n_client == 0) | (n_client == np.diff(facts.starts)))
    out = np.zeros(len(facts.conn_ids), dtype=bool)
    rows = rows_of_connections(facts.starts, one_way)  # the few one-way connections' rows
    rows = rows[facts.ack[rows] & ~facts.rst[rows]]  # grouped by connection, frame order
    conn = facts.conn_index[rows]
    ack = facts.rel_ack[rows]
    moved = (conn[1:] == conn[:-1]) & (ack[1:] != ack[:-1])
    out[conn[1:][moved]] = True
    return out


def _handshake_acks_after_synack(facts: Facts) -> np.ndarray:
    """``_handshake_acks`` after their connection's first SYN+ACK only (made once per
    ``Facts``: the handshake events and ``handshake_loops`` read it)."""
    n = len(facts.conn_ids)
    # Per connection: its first SYN+ACK row (or past the end: none).
    synack_at = _first_synack(facts, facts.conn_index, n)
    acks = _handshake_acks(facts, facts.conn_index, n).copy()  # the shared pass is read-only
    return _keep_after(acks, synack_at, facts.conn_index)


def rows(facts: Facts) -> EventRows:
    """The first SYN, the first SYN+ACK and the client's ACK of it, for every connection."""
    syn, synack = syn_masks(facts, facts.starts)
    first_synack = first_rows(facts, synack)
    acks = facts.once(_handshake_acks_after_synack)
    return EventRows.joined(
        [
            row_events(facts, first_rows(facts, syn), EventKind.SYN, "SYN"),
            row_events(facts, first_synack, EventKind.SYNACK, "SYN+ACK"),
            row_events(
                facts, first_rows(facts, acks), EventKind.HANDSHAKE_ACK, "client ACKs the SYN+ACK"
            ),
        ]
    )


DETECTOR: Detector[Handshake] = Detector("handshake", EMITS, detect, screen=screen, rows=rows)

__all__ = [
    "DETECTOR",
    "Handshake",
    "OneSided",
    "RetrySeries",
    "handshake_rtt_ms",
    "handshake_rtts",
    "one_sided",
]
