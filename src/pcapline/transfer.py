"""transfer: a connection's bulk transfer, its rate, and what set its pace (part of delays).

Linux keeps, for each socket, how long the sender was busy and how much of that the receive
window or the send buffer held it (``tcp_info``'s ``tcpi_busy_time``, ``tcpi_rwnd_limited``,
``tcpi_sndbuf_limited``: the ``busy:``, ``rwnd_limited:`` and ``sndbuf_limited:`` of
``ss -i``; ``tcp_chrono_start`` in tcp_output.c). A capture splits a transfer the same way,
from the packets, into four parts that add up to its time:

- ``loss``: the sender's retransmission-timeout and fast-recovery episodes (the delays
  stage's: from the first copy of the lost data to the ACK that covered it);
- ``receive_window``: the receiver's window held the sender, closed (zero_window) or full
  (window_full.py), outside loss;
- ``sender``: the sender had nothing to send: the peer had acknowledged all it had sent and
  its next new data came later than that ACK could have drawn it (the gap less the capture
  point's loop to the sender, ``handshake.handshake_loops``): its application wrote no more
  for a while. This is the time outside Linux's ``busy`` (``tcpi_busy_time``), not
  ``sndbuf_limited``: that one runs while data is in flight and the application is blocked
  on a full send buffer (``tcp_cwnd_validate``), time this split counts as network;
- ``network``: the rest: data in flight, the window open, no loss.

The transfer is the longest run of one side's new data (``MIN_BYTES`` at least): the run
ends where the peer sends new data while it holds everything the side sent (a request after
an answer, in a keep-alive connection), not at the peer's small messages while data is in
flight (HTTP/2 WINDOW_UPDATE frames, TLS alerts). A capture at the receiver sees those
acknowledge all that arrived and ends the run there too: a transfer seen from there may be
split in parts (each with its true rate), never joined across a request. It lasts from its
first new-data segment to the first peer ACK covering its last byte (to that segment when
the capture holds no such ACK), at the capture point.

The sender's pipe is seen (the ``sender`` part measured) where the capture point is nearer
the sender (``NEAR_RATIO``: its loop to the sender under half its loop to the receiver), or
on a LAN (that loop under ``LAN_LOOP_NS``, where each host's handling of the SYN outweighs
the wire and the two halves come out alike) where the sender's TCP timestamps show its
one-way delay to the capture point flat (``STAMPS_FLAT_MS``): nothing queued between them.
Elsewhere the receiver acknowledges what it got at once, and the next data may have waited
in a queue, or crossed a slow link, on the way, neither of which the handshake's loop
(measured with the queue empty) covers: an idle sender and a slow path look the same, the
network part holds both, and ``sender`` is unknown.

What the network part was is told by the queue the path held while the data flowed
(``queue_ms``), measured two ways, the larger kept (``QueueSeen``):

- beyond the capture point, from anywhere: a new-data segment -> the first ACK covering it
  is the loop from the capture point to the receiver and back (the round trip at the
  sender, the receiver's own turnaround at the receiver), read where the capture point sees
  the sender's pipe (below). Its ``QUEUE_QUANTILE`` under load less its
  least (the smallest sample, or the handshake's loop to the receiver, taken with the queue
  empty). A sample is a segment with more new data sent after it before that ACK came (the
  receiver had two segments to acknowledge at once: Linux ``__tcp_ack_snd_check``, so no
  delayed-ACK wait is in it), no retransmission between the two (Karn: the ACK may be for
  the copy), and no loss, window or idle sender between them (its wait would be theirs).
  At a capture point nearer the sender the median is the loaded round trip
  (``rtt_loaded_ms``);
- before the capture point, from anywhere: the growth of the sender's one-way delay to the
  capture point, read from its TCP timestamps (``_upstream_queue_ms``).

Both are read over time (``_over_time``), not over segments: a short burst of many segments
(slow start, a moment alone on a shared link) would outvote the long phase that set the
pace; at ``QUEUE_QUANTILE``, a queue that stood a quarter of the time (queues build as a
sender overdrives a link: the time before they stood would hide them at the median). Only
bare ACKs time the data (a receiver of a bulk transfer has nothing to send): a capture that
kept data alone (a filter) has none, and no such measure.

What set the pace (``_pace``) is the largest part; for the network part, by the queue and the
sender's flight (``_trend``: how its largest flight per round trip moved):

- a queue of ``QUEUE_MIN_MS`` or more (and ``QUEUE_MIN_SHARE`` of the round trip) that stood
  a quarter of the time (``QUEUE_QUANTILE``): ``bottleneck``. A standing queue keeps the link
  before it busy, whatever the window; BBR keeps its queue under a round trip by design
  and a shallow buffer caps it, so no doubling of the round trip is asked for;
- no queue, and loss recovery took ``LOSS_SHARE`` of the time in ``LOSS_MIN_EPISODES``
  episodes or more: ``loss`` (each recovery episode cut the congestion window: CUBIC to 0.7
  of it, Reno to half; the regrowth was theirs: a policer, a lossy link);
- the flight still doubling (slow start on a path long for the transfer's size) or growing
  by segments (congestion avoidance), where the sender's pipe is seen: ``round_trip``;
- else ``network``: a flight held steady with no queue and no loss is no congestion window's
  (Linux grows it only while it limits the sender, ``tcp_is_cwnd_limited``): the sender's
  application, its send buffer, or a congestion control pacing itself at the rate it
  measured (BBR) held it, which the packets do not tell apart; or the sender's pipe is not
  seen at all.

No pace either for a transfer shorter than the smallest round trip (a crafted or replayed
capture): no round trip of it to pace.

Unknown, never guessed: the receive-window part (and so the network part, the rest) where
window_full.py cannot tell a full window (the window scale unknown, or a capture point far
from the sender); the sender part where the pipe cannot be seen. The pace is then named only
when a known part holds over half the time, or a queue stood. Bytes (what the sequence
numbers span: bytes the capture point missed count), time and rate are always measured.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from pcapline.facts import UNKNOWN
from pcapline.model import Side, StallCause, TransferPace

if TYPE_CHECKING:
    from pcapline.delays import Stall
    from pcapline.facts import Facts, NewData

#: A run of new data smaller than this is no transfer to pace: with the initial window of
#: 10 segments (RFC 6928) doubling every round trip, 256 KiB is four or five round trips.
MIN_BYTES = 256 * 1024
#: The loaded round trip must exceed the smallest by this much to show a queue (besides
#: doubling it): a host's scheduling and a LAN's jitter stay well under it.
QUEUE_MIN_MS = 5.0
#: The capture point is nearer the sender when its loop there (the handshake's half toward
#: it) is under a half of its loop to the receiver. The halves also hold each
#: host's own handling of the SYN (tens of microseconds): on a LAN they come out about equal
#: at either end, and such a capture shows neither end's view for sure.
NEAR_RATIO = 2
#: On a LAN (the capture point's loop to the sender under this) the handshake's halves
#: cannot place the capture point; there the sender's pipe is seen when its TCP stamps show
#: its one-way delay to the capture point flat (under ``STAMPS_FLAT_MS``: a tick of a 1 kHz
#: clock and its reading): nothing queued between them.
LAN_LOOP_NS = 1_000_000
STAMPS_FLAT_MS = 2.0
#: A last third of round trips whose largest flight is this many times the middle third's
#: was still doubling (``_trend``: slow start doubles it every round trip).
DOUBLING = 1.5
#: ... and one that grew by this many segments, and this share of the middle third's, was
#: growing (congestion avoidance adds a segment a round trip); less is a steady flight's
#: own jitter (an application's writes, ACKs arriving in pairs).
GROWTH_SEGMENTS = 3
GROWTH_SHARE = 0.1
#: A queue standing this share of the smallest round trip or more, and ``QUEUE_MIN_MS`` at
#: least, is a bottleneck's (``_pace``): BBR keeps its queue under a round trip by design,
#: and a shallow buffer caps it, yet the link before it is busy all the same. Less is a
#: burst's passing queue, which any path shows (a relay, a switch; HyStart ends slow start
#: on a rise of 4 ms): an audit measured 6-11 ms of those on 40 ms paths with no bottleneck.
QUEUE_MIN_SHARE = 0.3
#: Loss recovery this share of the transfer or more, with ``LOSS_MIN_EPISODES`` episodes,
#: paces it where no queue stood (``_pace``): each recovery episode cut the congestion window
#: (CUBIC to 0.7 of it, Reno to half), and
#: the regrowth the network part measures is the losses' doing (a policer, a lossy link).
LOSS_SHARE = 0.1
LOSS_MIN_EPISODES = 2
#: A round trip under this is a LAN's: too short to read a flight's rounds from.
LAN_RTT_MS = 1.0
#: Fewer round-trip samples than this show no median worth a word.
MIN_SAMPLES = 10
#: The clock rates TCP timestamps tick at (RFC 7323 leaves it to the host: Linux 1 kHz since
#: 4.13, and 1 MHz on routes with ``tcp_usec_ts`` since 6.7; older Linux at HZ; Windows
#: 10 Hz or 1 kHz), and how far above one the measured rate may read (a queue that drains
#: while the stamps flow squeezes the arrivals together: ``_clock_rate``).
TS_RATES_HZ = (1_000_000.0, 1000.0, 250.0, 100.0, 10.0)
TS_RATE_SLACK = 1.5
#: ... and how far below: arrivals stretched this much mean a queue that grew by three
#: quarters of the time they span; more is no clock of the list.
TS_MAX_STRETCH = 4.0
#: A clock slower than this ticks too coarsely for a queue of ``QUEUE_MIN_MS``.
TS_MIN_HZ = 1000.0
#: Stamps over a shorter span than this cannot tell a rate.
TS_MIN_SPAN_NS = 200_000_000
#: Both queue measures are read at this percentile over the transfer's time: a queue that
#: stood for a quarter of it or more, not one segment's jitter. Queues build as a sender
#: overdrives a link (slow start, BBR's startup at a pacing gain of 2.89, a window growing
#: into a deep buffer): the time before they stood would hide them at the median.
QUEUE_QUANTILE = 75

#: ``TransferPace`` by its code in the ``transfer_paced_by`` column (0: none).
PACE_OF_CODE: dict[int, TransferPace | None] = {
    0: None,
    **{k + 1: pace for k, pace in enumerate(TransferPace)},
}
_CODE_OF_PACE: dict[TransferPace, int] = {
    pace: code for code, pace in PACE_OF_CODE.items() if pace is not None
}

#: The parts, in the order a tie is settled (the cause the sender could do least about first).
PARTS: tuple[str, ...] = ("loss", "receive_window", "sender", "network")

#: The ``connections[].delays`` keys of a transfer, in contract order (``transfer_doc``).
TRANSFER_DOC_KEYS: tuple[str, ...] = (
    "transfer_side",
    "transfer_bytes",
    "transfer_s",
    "transfer_rate_bps",
    "transfer_paced_by",
    "transfer_network_s",
    "transfer_receive_window_s",
    "transfer_loss_s",
    "transfer_sender_s",
    "transfer_rtt_min_ms",
    "transfer_rtt_loaded_ms",
    "transfer_queue_ms",
    "transfer_in_flight_bytes",
)

#: ``transfers``' float columns (NaN: unknown or no transfer): the times and round trips.
FLOAT_COLUMNS: tuple[str, ...] = tuple(k for k in TRANSFER_DOC_KEYS if k.endswith(("_s", "_ms")))


Span = tuple[int, int]


class FlightTrend(enum.IntEnum):
    """How the sender's flight moved over its last round trips (``_trend``; the
    ``transfer_flight_trend`` column codes, 0: not known)."""

    DOUBLING = 1  # 1.5 times the round trip before or more: slow start
    GROWING = 2  # by a segment or more over two round trips: congestion avoidance
    FLAT = 3  # neither: held steady


class QueueSeen(enum.IntEnum):
    """Where ``Transfer.queue_ms`` came from (``transfer_queue_seen`` column codes)."""

    ACKS = 1  # data -> its ACK at the capture point grew: a queue beyond the capture point
    STAMPS = 2  # the sender's one-way delay grew (its TCP timestamps): a queue before it


@dataclass(frozen=True, slots=True)
class Transfer:
    """One connection's bulk transfer (module docstring)."""

    side: Side
    bytes: int  # new payload bytes in the run
    seconds: float  # first new data -> the ACK of its last byte, at the capture point
    network_s: float | None  # the parts; None: unknown (the module docstring says when)
    receive_window_s: float | None
    loss_s: float | None
    sender_s: float | None
    rtt_min_ms: float | None
    rtt_loaded_ms: float | None  # None: not measured (capture nearer the receiver, few samples)
    queue_ms: float | None  # the queue the capture shows on the path; None: it cannot tell
    paced_by: TransferPace | None
    #: The median of the sender's bytes in flight over the transfer's last third (its network
    #: part), where the capture sees its pipe; None elsewhere, or too few sends to tell.
    in_flight_bytes: int | None = None
    #: How the queue was seen (not in the JSON: the explanation says it); None: no queue measure
    queue_seen: QueueSeen | None = None
    #: How the flight moved over its last round trips (``_trend``); None: not known. Not in
    #: the JSON: the explanation says it.
    trend: FlightTrend | None = None

    @property
    def rate_bps(self) -> int | None:
        return round(self.bytes * 8 / self.seconds) if self.seconds > 0 else None


def transfers(
    facts: Facts,
    sent: NewData,
    stalls: Mapping[int, Sequence[Stall]],
    handshake_rtt_ms: np.ndarray,
    loops: tuple[np.ndarray, np.ndarray],
    window_unknown: np.ndarray,
) -> dict[str, np.ndarray]:
    """Per connection (``facts.conn_ids`` order), its transfer as columns: ``transfer_side``
    (-1 none, 0 server, 1 client), ``transfer_bytes`` (0: none), ``FLOAT_COLUMNS``,
    ``transfer_pace_code`` (``PACE_OF_CODE``), ``transfer_queue_seen`` (``QueueSeen``, 0:
    none), ``transfer_in_flight_bytes`` (-1: none), ``transfer_flight_trend``
    (``FlightTrend``, 0: not known), and for the connections table and CSV
    ``transfer_rate_bps`` (NaN: none) and ``transfer_paced_by`` (the pace's name, "": none).
    Which side sent ``MIN_BYTES`` is columnar; the split runs for those few connections. ``stalls``: by connection id, the delays stage's
    stalls and its fast-recovery episodes (``delays._episodes``: cause ``rto`` too)."""
    n = len(facts.conn_ids)
    out: dict[str, np.ndarray] = {
        "transfer_side": np.full(n, -1, dtype=np.int8),
        "transfer_bytes": np.zeros(n, dtype=np.int64),
        **{name: np.full(n, np.nan) for name in FLOAT_COLUMNS},
        "transfer_pace_code": np.zeros(n, dtype=np.int8),
        "transfer_queue_seen": np.zeros(n, dtype=np.int8),
        "transfer_in_flight_bytes": np.full(n, -1, dtype=np.int64),
        "transfer_flight_trend": np.zeros(n, dtype=np.int8),
        "transfer_rate_bps": np.full(n, np.nan),
        "transfer_paced_by": np.full(n, "", dtype=object),
    }
    rows = np.flatnonzero(sent.mask)
    slot = facts.conn_index[rows] * 2 + facts.from_client[rows]
    sent_bytes = np.bincount(slot, weights=facts.seg_len[rows], minlength=2 * n).reshape(n, 2)
    for index in np.flatnonzero(sent_bytes.max(axis=1) >= MIN_BYTES).tolist():
        # each side that sent enough in all: the longer of their longest runs
        runs = [
            _Run.of(facts, index, sent.mask, client)
            for client in (False, True)
            if sent_bytes[index, int(client)] >= MIN_BYTES
        ]
        run = max(runs, key=lambda r: r.bytes)
        client = run.side is Side.CLIENT
        conn = int(facts.conn_ids[index])
        sender_loop, receiver_loop = (loops[1][index], loops[0][index])[:: 1 if client else -1]
        t = _transfer(
            run,
            stalls.get(conn, ()),
            float(handshake_rtt_ms[index]),
            None if np.isnan(sender_loop) else (int(sender_loop), int(receiver_loop)),
            window_known=not window_unknown[index],
        )
        if t is None:
            continue
        out["transfer_side"][index] = 1 if client else 0
        out["transfer_bytes"][index] = t.bytes
        values = (
            t.seconds,
            t.network_s,
            t.receive_window_s,
            t.loss_s,
            t.sender_s,
            t.rtt_min_ms,
            t.rtt_loaded_ms,
            t.queue_ms,
        )
        for name, value in zip(FLOAT_COLUMNS, values, strict=True):
            out[name][index] = np.nan if value is None else value
        if t.rate_bps is not None:
            out["transfer_rate_bps"][index] = t.rate_bps
        if t.paced_by is not None:
            out["transfer_pace_code"][index] = _CODE_OF_PACE[t.paced_by]
            out["transfer_paced_by"][index] = t.paced_by.value
        if t.queue_seen is not None:
            out["transfer_queue_seen"][index] = t.queue_seen
        if t.in_flight_bytes is not None:
            out["transfer_in_flight_bytes"][index] = t.in_flight_bytes
        if t.trend is not None:
            out["transfer_flight_trend"][index] = t.trend
    return out


def transfer_of(columns: Mapping[str, np.ndarray], i: int) -> Transfer | None:
    """Row ``i`` of the ``transfers`` columns as a record (None: no transfer)."""
    side = int(columns["transfer_side"][i])
    if side < 0:
        return None

    def opt(name: str) -> float | None:
        value = float(columns[name][i])
        return None if value != value else value

    seconds = opt("transfer_s")
    return Transfer(
        side=Side.CLIENT if side else Side.SERVER,
        bytes=int(columns["transfer_bytes"][i]),
        seconds=0.0 if seconds is None else seconds,
        network_s=opt("transfer_network_s"),
        receive_window_s=opt("transfer_receive_window_s"),
        loss_s=opt("transfer_loss_s"),
        sender_s=opt("transfer_sender_s"),
        rtt_min_ms=opt("transfer_rtt_min_ms"),
        rtt_loaded_ms=opt("transfer_rtt_loaded_ms"),
        queue_ms=opt("transfer_queue_ms"),
        paced_by=PACE_OF_CODE[int(columns["transfer_pace_code"][i])],
        queue_seen=QueueSeen(seen) if (seen := int(columns["transfer_queue_seen"][i])) else None,
        in_flight_bytes=flight
        if (flight := int(columns["transfer_in_flight_bytes"][i])) >= 0
        else None,
        trend=FlightTrend(trend) if (trend := int(columns["transfer_flight_trend"][i])) else None,
    )


def transfer_doc(t: Transfer | None) -> dict[str, object]:
    """The ``TRANSFER_DOC_KEYS`` of ``connections[].delays`` (every one null: no transfer)."""
    if t is None:
        return dict.fromkeys(TRANSFER_DOC_KEYS)

    def rounded(value: float | None, digits: int = 6) -> float | None:
        return None if value is None else round(value, digits)

    return {
        "transfer_side": t.side.value,
        "transfer_bytes": t.bytes,
        "transfer_s": round(t.seconds, 6),
        "transfer_rate_bps": t.rate_bps,
        "transfer_paced_by": None if t.paced_by is None else t.paced_by.value,
        "transfer_network_s": rounded(t.network_s),
        "transfer_receive_window_s": rounded(t.receive_window_s),
        "transfer_loss_s": rounded(t.loss_s),
        "transfer_sender_s": rounded(t.sender_s),
        "transfer_rtt_min_ms": rounded(t.rtt_min_ms, 3),
        "transfer_rtt_loaded_ms": rounded(t.rtt_loaded_ms, 3),
        "transfer_queue_ms": rounded(t.queue_ms, 3),
        "transfer_in_flight_bytes": t.in_flight_bytes,
    }


@dataclass(frozen=True, slots=True)
class _Run:
    """One connection's rows, and the sender's longest run of new data in them."""

    side: Side
    time_ns: np.ndarray  # the connection's rows
    mine: np.ndarray  # sent by the transfer's side
    peer_ack: np.ndarray  # the peer's ACK number (relative to the side's ISN), -1: no ACK
    pure: np.ndarray  # the peer's rows that are a bare ACK (no payload, SYN, FIN or RST)
    resent: np.ndarray  # the side's retransmissions
    run: np.ndarray  # rows of the run's new data (local, ascending)
    ends: np.ndarray  # each one's end (rel_seq + payload)
    pipe_empty: np.ndarray  # each one: the peer had acknowledged all the side sent before it
    in_flight: np.ndarray  # each one: the side's bytes unacknowledged once it left (-1: unknown)
    bytes: int
    segment: int  # the run's median payload: a full-sized segment, bar TSO and holes
    stamped: np.ndarray  # the side's rows with a TCP timestamp, up to the run's last
    ts_val: np.ndarray  # their TSval, in the sender's clock ticks (uint32, as sent)

    @staticmethod
    def of(facts: Facts, index: int, new_data: np.ndarray, client: bool) -> _Run:
        lo, hi = int(facts.starts[index]), int(facts.starts[index + 1])
        mine = facts.from_client[lo:hi] == client
        new = new_data[lo:hi]
        seg_len = facts.seg_len[lo:hi].astype(np.int64)
        ends = facts.rel_seq[lo:hi] + seg_len
        acks = facts.ack[lo:hi] & ~mine
        peer_ack = np.where(acks, facts.rel_ack[lo:hi], -1)
        # The side's highest byte sent so far: a peer's new data with all of it acknowledged
        # begins a new exchange (a request after an answer), and ends the run.
        sent_end = np.maximum.accumulate(np.where(mine & (seg_len > 0), ends, 0))
        breaks = new & ~mine & acks & (peer_ack >= sent_end)
        run_id = np.cumsum(breaks)
        own = np.flatnonzero(new & mine)
        per_run = np.bincount(run_id[own], weights=seg_len[own])
        best = int(np.argmax(per_run))
        run = own[run_id[own] == best]
        snd_una = facts.snd_una[lo:hi][run]
        stamped = np.flatnonzero(mine & facts.has_ts[lo:hi])
        stamped = stamped[stamped <= run[-1]]
        return _Run(
            side=Side.CLIENT if client else Side.SERVER,
            time_ns=facts.time_ns[lo:hi],
            mine=mine,
            peer_ack=peer_ack,
            pure=acks & (seg_len == 0) & ~facts.syn[lo:hi] & ~facts.fin[lo:hi] & ~facts.rst[lo:hi],
            resent=np.flatnonzero(facts.is_retrans[lo:hi] & mine),
            run=run,
            ends=ends[run],
            pipe_empty=snd_una >= facts.rel_seq[lo:hi][run],
            in_flight=np.where(snd_una != UNKNOWN, ends[run] - snd_una, -1),
            # what the sequence numbers span: bytes the capture point missed count too
            bytes=max(int(per_run[best]), int(ends[run].max() - facts.rel_seq[lo:hi][run].min())),
            segment=max(int(np.median(seg_len[run])), 1),
            stamped=stamped,
            ts_val=facts.ts_val[lo:hi][stamped],
        )

    def acked_at(self, ends: np.ndarray, *, bare: bool = False) -> np.ndarray:
        """For each end: the first peer row whose ACK covers it (-1: none in the capture);
        ``bare``: the first bare ACK covering it."""
        peer = np.flatnonzero((self.peer_ack >= 0) & (self.pure if bare else True))
        if not len(peer):
            return np.full(len(ends), -1, dtype=np.int64)
        running = np.maximum.accumulate(self.peer_ack[peer])
        k = np.searchsorted(running, ends)
        return np.where(k < len(peer), peer[np.minimum(k, len(peer) - 1)], -1)


def _transfer(
    r: _Run,
    stalls: Sequence[Stall],
    handshake_rtt_ms: float,
    loops: tuple[int, int] | None,
    *,
    window_known: bool,
) -> Transfer | None:
    """The run's transfer (None: under ``MIN_BYTES``); ``loops``: the capture point's loops
    to the sender and to the receiver (ns), None when unknown; ``window_known``: whether a
    full window can be told (window_full.py)."""
    if r.bytes < MIN_BYTES:
        return None
    acked = int(r.acked_at(r.ends[-1:])[0])
    start_ns = int(r.time_ns[r.run[0]])
    end_ns = int(r.time_ns[acked if acked > r.run[-1] else r.run[-1]])
    within = (start_ns, end_ns)
    hs_rtt = None if handshake_rtt_ms != handshake_rtt_ms else handshake_rtt_ms
    losses = [span for span in _spans(stalls, r.side, {StallCause.RTO}) if _meets(span, within)]
    loss = _clip(losses, within)
    waits = _spans(stalls, r.side, {StallCause.ZERO_WINDOW, StallCause.WINDOW_FULL})
    window = _minus(_clip(waits, within), loss)
    upstream = _upstream_queue_ms(r)
    near_sender = loops is not None and loops[0] * NEAR_RATIO < loops[1]
    # the sender's pipe is seen where the capture point is nearer the sender, or on a LAN
    # where the sender's stamps show no queue between them (module docstring); elsewhere an
    # idle sender and a queue or a slow link on the way look alike
    visible = near_sender or (
        loops is not None
        and loops[0] < LAN_LOOP_NS
        and upstream is not None
        and upstream < STAMPS_FLAT_MS
    )
    idle: list[Span] = []
    if loops is not None and visible:
        idle = _minus(_minus(_clip(_idle(r, loops[0]), within), loss), window)
    parts = {"loss": _length(loss), "receive_window": _length(window), "sender": _length(idle)}
    parts["network"] = max(end_ns - start_ns - sum(parts.values()), 0)
    # the network part is the rest: it holds any full window the capture cannot tell (then
    # neither is known), and the sender's idle time where that cannot be seen (then the
    # network part is "the path or the sender", and the sender's own is not known)
    known = {"loss": True, "receive_window": window_known, "sender": True, "network": window_known}
    held = [*loss, *window, *idle]
    loaded, stood, smallest = _round_trips(r, held)
    rtt_min = min(
        (x for x in (hs_rtt, smallest if near_sender else None) if x is not None), default=None
    )
    # data -> ACK times the path only where the capture sees the sender's pipe: at the
    # receiver it is its own turnaround plus the next segment's spacing (a policer's, a
    # slow link's), no queue on the path
    queue, seen = _queue(stood if visible else None, smallest, upstream, loops)
    flight, trend = _trend(r, within, held, rtt_min) if visible else (None, None)

    def seconds_of(part: str) -> float | None:
        return parts[part] / 1e9 if known[part] else None

    seconds = max(end_ns - start_ns, 0) / 1e9
    shown = Shown(parts, known, len(losses), queue, rtt_min, trend, visible=visible)
    return Transfer(
        r.side,
        r.bytes,
        seconds,
        network_s=seconds_of("network"),
        receive_window_s=seconds_of("receive_window"),
        loss_s=seconds_of("loss"),
        sender_s=seconds_of("sender") if visible else None,
        rtt_min_ms=rtt_min,
        rtt_loaded_ms=loaded if near_sender else None,
        queue_ms=queue,
        paced_by=_pace(shown) if long_enough(seconds, rtt_min) else None,
        in_flight_bytes=flight,
        queue_seen=seen,
        trend=trend,
    )


def long_enough(seconds: float, rtt_min_ms: float | None) -> bool:
    """A transfer that lasted at least a round trip (any time, the round trip unknown) has a
    pace to read; a shorter one (a reused connection's window sent at once, a replayed
    capture) has none."""
    return seconds > 0 and (rtt_min_ms is None or seconds * 1e3 >= rtt_min_ms)


def standing(queue_ms: float | None, rtt_min_ms: float | None) -> bool:
    """A queue stood (``QUEUE_MIN_MS``, and ``QUEUE_MIN_SHARE`` of the smallest round trip);
    never without a round trip to weigh it against."""
    if queue_ms is None or rtt_min_ms is None:
        return False
    return queue_ms >= max(QUEUE_MIN_MS, QUEUE_MIN_SHARE * rtt_min_ms)


def _queue(
    loaded: float | None,
    smallest: float | None,
    upstream: float | None,
    loops: tuple[int, int] | None,
) -> tuple[float | None, QueueSeen | None]:
    """The queue the path held while the data flowed (ms), the larger of the two measures,
    and which it was. Data -> its ACK at the capture point is the loop from there to the
    receiver and back, wherever the capture point is (a round trip at the sender, the
    receiver's own turnaround at the receiver): its growth under load, against its least
    (the smallest sample, or the handshake's loop to the receiver: the same loop, taken with
    the queue empty), is the queue beyond the capture point; the sender's stamps show the
    queue before it (``upstream``)."""
    least = min((x for x in (smallest, loops and loops[1] / 1e6) if x is not None), default=None)
    downstream = None if loaded is None or least is None else max(loaded - least, 0.0)
    measured = [(q, how) for q, how in ((downstream, QueueSeen.ACKS), (upstream, QueueSeen.STAMPS))]
    found = [(q, how) for q, how in measured if q is not None]
    if not found:
        return None, None
    return max(found, key=lambda qh: qh[0])


@dataclass(frozen=True, slots=True)
class Shown:
    """What ``_pace`` judges from: the parts (ns), which are known, the sender's loss
    episodes, the queue (ms), the smallest round trip (ms), the flight's trend, and whether
    the capture sees the sender's pipe."""

    parts: Mapping[str, int]
    known: Mapping[str, bool]
    loss_episodes: int
    queue_ms: float | None
    rtt_min_ms: float | None
    trend: FlightTrend | None
    visible: bool

    @property
    def queued(self) -> bool:
        return standing(self.queue_ms, self.rtt_min_ms)


def _pace(s: Shown) -> TransferPace | None:
    """What set the pace (module docstring): the largest part; with a part unknown, a known
    part over half the time, else a standing queue's bottleneck, else None. The network part
    by the queue and the flight:

    - a queue stood: ``bottleneck``. A queue standing
      before a link keeps the link sending all the time (a queue is served while it holds a
      packet): the transfer went at that link's pace, and a window, full or not, only set
      how long the queue stood;
    - no queue, and loss recovery took ``LOSS_SHARE`` of the time in ``LOSS_MIN_EPISODES``
      episodes or more: ``loss`` (each recovery cut the congestion window: the regrowth was
      theirs);
    - the flight still doubling (slow start) or growing (congestion avoidance), where the
      capture sees the sender's pipe: ``round_trip``;
    - else ``network``: a flight held steady with no queue and no loss is no congestion
      window's (Linux grows it only while it limits the sender, ``tcp_is_cwnd_limited``): the
      sender's application, its send buffer, or a congestion control that paces itself at
      the rate it measured (BBR) held it, which the packets do not tell apart."""
    parts, known = s.parts, s.known
    total = sum(parts.values())
    if all(known.values()):
        largest = max(PARTS, key=lambda name: parts[name])  # the first of equals
    else:
        over_half = [name for name in PARTS if known[name] and 2 * parts[name] > total]
        if not over_half:
            return TransferPace.BOTTLENECK if s.queued else None
        largest = over_half[0]
    if largest != "network":
        return TransferPace(largest)
    if s.queued:
        return TransferPace.BOTTLENECK
    lossy = parts["loss"] >= LOSS_SHARE * total and s.loss_episodes >= LOSS_MIN_EPISODES
    if lossy:
        return TransferPace.LOSS
    if s.visible and s.trend in (FlightTrend.DOUBLING, FlightTrend.GROWING):
        return TransferPace.ROUND_TRIP
    return TransferPace.NETWORK


def _idle(r: _Run, sender_loop_ns: int) -> list[Span]:
    """Where the sender had nothing to send: before each of its new-data segments sent with
    everything acknowledged, from the later of its previous segment and the peer's last
    segment before it, less the loop to the sender (an ACK the capture point saw reaches the
    sender that much later, and the data it drew comes back that much later)."""
    peer_rows = np.flatnonzero(~r.mine)
    out: list[Span] = []
    for k in np.flatnonzero(r.pipe_empty[1:]).tolist():
        row, before = int(r.run[k + 1]), int(r.run[k])
        p = int(np.searchsorted(peer_rows, row)) - 1
        last_peer = int(peer_rows[p]) if p >= 0 else before
        begin = int(r.time_ns[max(before, last_peer)]) + sender_loop_ns
        end = int(r.time_ns[row])
        if end > begin:
            out.append((begin, end))
    return out


def _round_trips(r: _Run, held: Sequence[Span]) -> tuple[float | None, float | None, float | None]:
    """(the median loaded sample, its ``QUEUE_QUANTILE``, the smallest sample) of data -> its
    ACK at the capture point, over time, in ms (module docstring); None where not measured.
    ``held``: where loss, a window or an idle sender held the data: a sample whose data
    waited across one of them measures that wait, not the path."""
    if len(r.run) < 2:
        return None, None, None
    # A receiver of a bulk transfer acknowledges it with bare ACKs (it has nothing to send):
    # a capture without them (a filter that kept data) times the peer's next message instead
    acked = r.acked_at(r.ends, bare=True)
    sent = r.run
    # more new data went out before the covering ACK came: no delayed-ACK wait in the sample
    followed = np.append(sent[1:], np.iinfo(np.int64).max) < acked
    # no retransmission between the segment and its ACK (Karn)
    clean = np.searchsorted(r.resent, sent) == np.searchsorted(r.resent, acked)
    ok = (acked > sent) & followed & clean  # an ACK before its data: reordered, no sample
    if not ok.any():
        return None, None, None
    sent_ns = r.time_ns[sent[ok]]
    acked_ns = r.time_ns[acked[ok]]
    rtt_ms = (acked_ns - sent_ns) / 1e6
    smallest = float(rtt_ms.min())
    free = ~_overlapping(sent_ns, acked_ns, _merged(list(held)))
    if np.count_nonzero(free) < MIN_SAMPLES:
        return None, None, smallest
    median, stood = _over_time(rtt_ms[free], sent_ns[free], 50, QUEUE_QUANTILE)
    return median, stood, smallest


def _trend(
    r: _Run, within: Span, held: Sequence[Span], rtt_min_ms: float | None
) -> tuple[int | None, FlightTrend | None]:
    """The sender's bytes in flight as its new data left, outside ``held`` (loss, windows,
    idle): their median over the transfer's last third, and how the flight moved: the
    largest flight of each round trip (``rtt_min_ms`` long, from the transfer's start; the
    last ones left out while the flight shrinks: the data runs out there), the median round
    of the last third of them against the middle third's. Slow start doubles the flight every round
    trip; congestion avoidance adds about a segment (Reno, CUBIC near its plateau); a flight
    that holds steady is capped. None where fewer than ``MIN_SAMPLES`` sends are left, fewer
    than six round trips, or a LAN's round trip (under ``LAN_RTT_MS``)."""
    times = r.time_ns[r.run]
    free = (r.in_flight >= 0) & ~_overlapping(times, times, _merged(list(held)))
    if np.count_nonzero(free) < MIN_SAMPLES:
        return None, None
    last_third = free & (times >= within[0] + (within[1] - within[0]) * 2 / 3)
    flight = round(float(np.median(r.in_flight[last_third]))) if last_third.any() else None
    if rtt_min_ms is None or rtt_min_ms < LAN_RTT_MS:  # a LAN's round trips: too short to read
        return flight, None
    rounds = ((times[free] - within[0]) // round(rtt_min_ms * 1e6)).astype(np.int64)
    largest = np.zeros(int(rounds.max()) + 1, dtype=np.int64)
    np.maximum.at(largest, rounds, r.in_flight[free])
    largest = largest[largest > 0]  # rounds with a send
    while len(largest) > 1 and largest[-1] < largest[-2]:
        largest = largest[:-1]  # the flight shrinking as the data runs out
    if len(largest) < 6:
        return flight, None
    third = len(largest) // 3
    # the median round of each third: one round's burst (an application's two writes at
    # once, ACKs arriving in pairs) is no trend
    middle = float(np.median(largest[third : 2 * third]))
    last = float(np.median(largest[2 * third :]))
    segment = r.segment
    if last >= DOUBLING * middle:
        return flight, FlightTrend.DOUBLING
    if last >= middle + max(GROWTH_SEGMENTS * segment, GROWTH_SHARE * middle):
        return flight, FlightTrend.GROWING
    return flight, FlightTrend.FLAT


#: ``_over_time``: weights (ns, halves at most) below this total add up exactly in float64.
_EXACT_WEIGHTS = 2.0**52


def _over_time(values: np.ndarray, times: np.ndarray, *qs: float) -> tuple[float, ...]:
    """The ``q``-th percentile of ``values`` over time, not over samples, for each ``q`` of
    ``qs`` (both orders are sorted once for all of them): each weighs the time until the next
    (the last, the median gap). A burst of many segments in a short phase (slow start, a
    moment alone on a link) would outvote the long phase that set the pace."""
    if not (times[1:] >= times[:-1]).all():  # mostly in time order already: no sort then
        order = np.argsort(times, kind="stable")
        values, times = values[order], times[order]
    gaps = np.diff(times).astype(np.float64)
    weights = np.append(gaps, np.median(gaps) if len(gaps) else 1.0)
    total = weights.sum()
    if total <= 0:
        return tuple(float(np.percentile(values, q)) for q in qs)
    # Equal values may come in any order when the weights add up exactly: whole nanoseconds
    # (the median gap: a half at most) whose total is below 2**52. Then the running sum at the
    # end of each run of equal values is the same whatever the order inside it, and so is
    # the run (the value) each percentile lands in; the unstable sort is several times faster.
    exact = times.dtype.kind in "iu" and total < _EXACT_WEIGHTS
    by_value = np.argsort(values, kind=None if exact else "stable")
    cumulative = np.cumsum(weights[by_value])
    ranked = values[by_value]
    found = np.searchsorted(cumulative, cumulative[-1] * np.array(qs) / 100).tolist()
    return tuple(float(ranked[min(k, len(values) - 1)]) for k in found)


def _upstream_queue_ms(r: _Run) -> float | None:
    """How much the one-way delay from the sender to the capture point grew while the run
    flowed (ms; ``QUEUE_QUANTILE`` of it over the run's time, from the least of any of
    the side's stamped segments before): a queue between the two. The sender stamps each
    segment with its clock (TSval, RFC 7323); arrival time less that stamp is the one-way
    delay plus a constant. None where the capture cannot tell: fewer than ``MIN_SAMPLES``
    stamped segments, or a clock that ticks slower than ``TS_MIN_HZ`` or at no rate
    ``TS_RATES_HZ`` holds."""
    if len(r.stamped) < MIN_SAMPLES:
        return None
    ticks = np.concatenate(([0], np.cumsum(_tick_steps(r.ts_val))))
    at_ns = r.time_ns[r.stamped].astype(np.int64)
    span_ns = int(at_ns[-1] - at_ns[0])
    hz = _clock_rate(int(ticks[-1]), span_ns)
    if hz is None:
        return None
    delay_ns = at_ns - ticks * (1e9 / hz)
    in_run = r.stamped >= r.run[0]
    if np.count_nonzero(in_run) < MIN_SAMPLES:
        return None
    tick_ns = 1e9 / hz  # a stamp is up to one tick behind the clock it reads
    (stood,) = _over_time(delay_ns[in_run], at_ns[in_run], QUEUE_QUANTILE)
    grown = stood - delay_ns.min() - tick_ns
    return max(float(grown), 0.0) / 1e6


def _tick_steps(ts_val: np.ndarray) -> np.ndarray:
    """Consecutive TSval differences through the 2**32 wrap (RFC 7323 compares them so)."""
    steps = np.mod(np.diff(ts_val.astype(np.int64)), np.int64(2**32))
    return np.asarray(np.where(steps >= 2**31, steps - 2**32, steps))


def _clock_rate(ticks: int, span_ns: int) -> float | None:
    """The rate the sender's stamps tick at: of ``TS_RATES_HZ``, the slowest that is at least
    the measured rate (``ticks`` over ``span_ns`` of arrivals) less ``TS_RATE_SLACK``. A
    queue that grows while the stamps flow stretches the arrivals, so the measured rate
    reads low (by ``TS_MAX_STRETCH`` at most: the queue grew by three quarters of the span),
    never high but by a queue that drains (the slack); a slower clock than the true one
    would show the delay shrinking, never a queue. None: no rate fits, the span too short to
    tell (under ``TS_MIN_SPAN_NS``), or a clock slower than ``TS_MIN_HZ``."""
    if span_ns < TS_MIN_SPAN_NS or ticks <= 0:
        return None
    measured = ticks * 1e9 / span_ns
    fits = [hz for hz in TS_RATES_HZ if measured / TS_RATE_SLACK <= hz]
    if not fits or measured * TS_MAX_STRETCH < min(fits):
        return None
    hz = min(fits)
    return hz if hz >= TS_MIN_HZ else None


def _spans(stalls: Sequence[Stall], side: Side, causes: set[StallCause]) -> list[Span]:
    """The stalls of ``side`` with one of ``causes``."""
    return [(s.start_ns, s.end_ns) for s in stalls if s.side is side and s.cause in causes]


def _meets(span: Span, within: Span) -> bool:
    return span[0] < within[1] and span[1] > within[0]


def _merged(spans: list[Span]) -> list[Span]:
    out: list[Span] = []
    for a, b in sorted(spans):
        if b <= a:
            continue
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _clip(spans: list[Span], within: Span) -> list[Span]:
    lo, hi = within
    return _merged([(max(a, lo), min(b, hi)) for a, b in spans])


def _minus(spans: list[Span], taken: list[Span]) -> list[Span]:
    """``spans`` less the time ``taken`` covers (both merged and sorted). One walk of the two
    lists together: a multi-GB transfer holds thousands of window-full waits and hundreds of
    loss episodes, and comparing every pair would be quadratic."""
    out: list[Span] = []
    first = 0  # the first taken span that may still meet a later span
    for a, b in spans:
        while first < len(taken) and taken[first][1] <= a:
            first += 1
        k = first
        while k < len(taken) and taken[k][0] < b:
            x, y = taken[k]
            if x > a:
                out.append((a, x))
            a = max(a, y)
            if a >= b:
                break
            k += 1
        if a < b:
            out.append((a, b))
    return out


def _length(spans: list[Span]) -> int:
    return sum(b - a for a, b in spans)


def _overlapping(lo: np.ndarray, hi: np.ndarray, spans: list[Span]) -> np.ndarray:
    """Per interval ``lo[k]``-``hi[k]``: does one of the (merged, sorted) spans meet it?"""
    if not spans:
        return np.zeros(len(lo), dtype=bool)
    starts = np.array([a for a, _ in spans], dtype=np.int64)
    ends = np.array([b for _, b in spans], dtype=np.int64)
    k = np.searchsorted(starts, hi, side="right") - 1  # the last span starting by hi
    return np.asarray((k >= 0) & (ends[np.maximum(k, 0)] > lo))


__all__ = [
    "MIN_BYTES",
    "PACE_OF_CODE",
    "TRANSFER_DOC_KEYS",
    "Transfer",
    "transfer_doc",
    "transfer_of",
    "transfers",
]
