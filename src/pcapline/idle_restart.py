"""idle_restart: a sender's congestion window restarted after an idle (slow start again).

Kernel rule (``tcp_event_data_sent`` -> ``tcp_cwnd_restart``, tcp_output.c; RFC 2861, RFC
7661): with ``net.ipv4.tcp_slow_start_after_idle`` 1, the default, a socket that sends data
with nothing in flight and more than its retransmission timeout since it last sent data
lowers its congestion window first: halved for each RTO the idle lasted, down to
``min(initial window, cwnd)`` (10 segments, or a route's ``initcwnd``). It then slow-starts
again: about that many segments in the first round trip, twice as many in the next. A kept-
alive connection (HTTP keep-alive, gRPC, a database pool) whose answers are large pays those
round trips again after every pause longer than the RTO (at least 200 ms more than the
round trip), however large a window it had reached before. BBR paces after an idle at the
bandwidth it measured and shows no such ramp.

What the capture shows, at any capture point (the segments of one round trip pass every
point of the path within that round trip of the first; the handshake's loop is the round
trip, ``delays.handshake_rtt_ms``):

- a side's new data resumes after a silence of its data of at least ``RTO_FLOOR_S`` plus the
  round trip, with everything it had sent acknowledged (the kernel's "nothing in flight");
- in the round trip that follows it sends at most ``SHRUNK`` of the most it had sent in one
  round trip of its answer just before the idle (``flight_before``: the window it went idle
  with, at least; an earlier answer's larger one was lowered by the idles since), though the
  peer's window offered more and it had more to send: its data went on, the next round trip
  carrying ``GROWTH`` times as much or more (slow start), not a trickle an application wrote;
- the ramp: the round trips the window grew back in, each ``GROWTH`` times the one before or
  more, until one carried about ``flight_before`` again (or the growth stopped: what held
  the data then, a queue, the receiver, the application, is not the restart's; or the data
  ended). ``extra_s``, a lower bound of what the restart cost: those round trips less the
  ones ``flight_before`` a round trip needed for the same bytes, times the round trip (the
  ramp's own, when shorter than the handshake's: a slow path for a flow's first packets
  lengthens the handshake, not the data's round trips). A
  restart that cost no round trip, or whose first round trip held under
  ``MIN_FIRST_SEGMENTS`` full-sized segments (an application's small write), is none.

Not read (unknown, NaN): no round trip measured (the handshake not captured, or retried:
Karn), or one under ``MIN_RTT_MS``, where a capture's timestamps cannot split round trips and
a ramp costs microseconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from pcapline.facts import UNKNOWN, Facts, NewData
from pcapline.model import Side
from pcapline.timers import RTO_FLOOR_S

#: Round trips shorter than this (ms) are not read: too short to split by timestamps.
MIN_RTT_MS = 2.0
#: The first round trip after the idle carried at most this share of the most before.
SHRUNK = 0.5
#: A round trip of the ramp carried at least this times the one before (slow start
#: doubles; a delayed ACK per two segments or a relay's jitter between rounds take some off).
GROWTH = 1.5
#: A round trip carrying this share of ``flight_before`` ends the ramp.
REGAINED = 0.9
#: The first round trip's full-sized segments, at least: the window restarts at
#: min(initial window, cwnd), 10 segments on Linux (RFC 6928), 2 to 4 on the oldest stacks.
MIN_FIRST_SEGMENTS = 2


@dataclass(frozen=True, slots=True)
class Restart:
    """One answer that slow-started again after its sender's idle."""

    side: Side  # the sender
    frame: int  # its first segment after the idle
    idle_s: float  # the sender's silence before it (its last data -> this segment)
    first_segments: int  # full-sized segments it sent in the first round trip
    before_segments: int  # the most it sent in one round trip of its answer before the idle
    rounds: int  # round trips of the ramp (until one carried about ``before_segments``)
    ramp_s: float  # their time
    extra_s: float  # lower bound of the cost (module docstring)


@dataclass(frozen=True, slots=True)
class Restarts:
    """Per connection (``facts.conn_ids`` order): how many answers restarted, their summed
    ``extra_s`` (NaN: the capture cannot tell), and the costliest, by connection id."""

    count: np.ndarray
    extra_s: np.ndarray
    costliest: dict[int, Restart]

    def columns(self, conn_ids: np.ndarray) -> dict[str, np.ndarray]:
        """The delays stage's columns (``conn_ids``: ``facts.conn_ids``): ``idle_restarts``,
        ``idle_restart_s`` and the costliest restart's fields (``restart_of`` reads them
        back; ``idle_restart_side`` -1: none), so that partitions join like every column."""
        n = len(conn_ids)
        out: dict[str, np.ndarray] = {
            "idle_restarts": self.count,
            "idle_restart_s": self.extra_s,
            "idle_restart_side": np.full(n, -1, dtype=np.int8),
            **{name: np.zeros(n, dtype=np.int64) for name in _INT_FIELDS},
            **{name: np.zeros(n) for name in _FLOAT_FIELDS},
        }
        at = np.searchsorted(conn_ids, np.fromiter(self.costliest, np.int64, len(self.costliest)))
        for i, r in zip(at.tolist(), self.costliest.values(), strict=True):
            out["idle_restart_side"][i] = 1 if r.side is Side.CLIENT else 0
            for name in _INT_FIELDS:
                out[name][i] = getattr(r, name.removeprefix("idle_restart_"))
            for name in _FLOAT_FIELDS:
                out[name][i] = getattr(r, name.removeprefix("idle_restart_"))
        return out


_INT_FIELDS = (
    "idle_restart_frame",
    "idle_restart_first_segments",
    "idle_restart_before_segments",
    "idle_restart_rounds",
)
_FLOAT_FIELDS = ("idle_restart_idle_s", "idle_restart_ramp_s", "idle_restart_extra_s")


def restart_of(columns: Mapping[str, np.ndarray], i: int) -> Restart | None:
    """Row ``i``'s costliest restart from ``Restarts.columns`` (None: none)."""
    side = int(columns["idle_restart_side"][i])
    if side < 0:
        return None
    return Restart(
        side=Side.CLIENT if side else Side.SERVER,
        frame=int(columns["idle_restart_frame"][i]),
        idle_s=float(columns["idle_restart_idle_s"][i]),
        first_segments=int(columns["idle_restart_first_segments"][i]),
        before_segments=int(columns["idle_restart_before_segments"][i]),
        rounds=int(columns["idle_restart_rounds"][i]),
        ramp_s=float(columns["idle_restart_ramp_s"][i]),
        extra_s=float(columns["idle_restart_extra_s"][i]),
    )


def idle_restarts(
    facts: Facts, sent: NewData, rtt_ms: np.ndarray, loops: tuple[np.ndarray, np.ndarray]
) -> Restarts:
    """Every connection's restarts after idle (module docstring); ``rtt_ms``: its
    handshake's round trip (NaN: not measured), ``loops``: the capture point's loops to the
    server and to the client (ns, ``handshake.handshake_loops``). Which rows follow a long
    enough silence with nothing in flight is columnar; the round trips are read for those
    few."""
    n = len(facts.conn_ids)
    count = np.zeros(n, dtype=np.int64)
    extra = np.where(np.nan_to_num(rtt_ms, nan=0.0) >= MIN_RTT_MS, 0.0, np.nan)
    costliest: dict[int, Restart] = {}
    for index, rows in _candidates(facts, sent, rtt_ms).items():
        # a side's rows, ACK clock and answers read once per connection, not per candidate:
        # a day-long connection idles thousands of times (issue 11: no connection too long)
        sides: dict[bool, _SideRows] = {}
        found = []
        for row, previous in rows:
            client = bool(facts.from_client[row])
            if client not in sides:
                sides[client] = _SideRows.of(
                    facts, sent, index, client, float(rtt_ms[index]), _loop(loops, facts, row)
                )
            r = _restart(facts, sent, sides[client], row, previous)
            if r is not None:
                found.append(r)
        if found:
            count[index] = len(found)
            extra[index] = sum(r.extra_s for r in found)
            costliest[int(facts.conn_ids[index])] = max(found, key=lambda r: r.extra_s)
    return Restarts(count, extra, costliest)


def _candidates(
    facts: Facts, sent: NewData, rtt_ms: np.ndarray
) -> dict[int, list[tuple[int, int]]]:
    """By connection index: its rows of new data that follow a silence of their side's data
    of ``RTO_FLOOR_S`` plus the round trip or more, with all that side sent acknowledged,
    each with the side's data row before it (where the silence began)."""
    data = np.flatnonzero(facts.seg_len > 0)
    pairs = []
    for client in (False, True):
        # one side's data rows: grouped by connection, in frame order within one (facts'
        # order), so a row's predecessor of its side is the row before it in the same
        # connection: no sort
        rows = data[facts.from_client[data] == client]
        conn = facts.conn_index[rows]
        same = conn[1:] == conn[:-1]
        pairs.append((rows[1:][same], rows[:-1][same]))
    after = np.concatenate([a for a, _ in pairs])
    previous = np.concatenate([b for _, b in pairs])
    gap_ns = facts.time_ns[after] - facts.time_ns[previous]
    index = facts.conn_index[after]
    rtt_ns = np.nan_to_num(rtt_ms[index], nan=0.0) * 1e6
    una = facts.snd_una[after]
    wanted = (
        sent.mask[after]
        & (rtt_ns >= MIN_RTT_MS * 1e6)
        & (gap_ns >= RTO_FLOOR_S * 1e9 + rtt_ns)
        & (una != UNKNOWN)
        & (una >= facts.rel_seq[after])
    )
    out: dict[int, list[tuple[int, int]]] = {}
    order = np.argsort(after[wanted])  # frame order within each connection
    for row, before in zip(
        after[wanted][order].tolist(), previous[wanted][order].tolist(), strict=True
    ):
        out.setdefault(int(facts.conn_index[row]), []).append((row, before))
    return out


@dataclass(frozen=True, slots=True)
class _SideRows:
    """One side of one connection, read once for all its candidates: its rows of new data
    (ascending), split into answers at its silences, and the peer's ACK clock."""

    mine: np.ndarray
    answers: list[np.ndarray]
    answer_at: dict[int, int]  # an answer's first row -> its position in ``answers``
    clock: _AckClock
    rtt_ns: int
    client: bool

    @staticmethod
    def of(
        facts: Facts, sent: NewData, index: int, client: bool, rtt_ms: float, loop_ns: int
    ) -> _SideRows:
        lo, hi = int(facts.starts[index]), int(facts.starts[index + 1])
        mine = np.flatnonzero(sent.mask[lo:hi] & (facts.from_client[lo:hi] == client)) + lo
        rtt_ns = round(rtt_ms * 1e6)
        answers = _answers(facts, mine, rtt_ns)
        return _SideRows(
            mine,
            answers,
            {int(a[0]): k for k, a in enumerate(answers) if len(a)},
            _AckClock.of(facts, lo, hi, client, loop_ns),
            rtt_ns,
            client,
        )

    def around(self, facts: Facts, row: int) -> tuple[np.ndarray, np.ndarray] | None:
        """The answer beginning at ``row`` and the one before it (None: none before). A
        candidate begins an answer (the silence before it splits them); should a rounding of
        the round trip leave it inside one, the rows are split from it as before."""
        k = self.answer_at.get(row)
        if k is not None:
            return (self.answers[k], self.answers[k - 1]) if k else None
        before = self.mine[self.mine < row]
        if not len(before):
            return None
        after = self.mine[self.mine >= row]
        return _answers(facts, after, self.rtt_ns)[0], _answers(facts, before, self.rtt_ns)[-1]


def _restart(
    facts: Facts, sent: NewData, side: _SideRows, row: int, previous: int
) -> Restart | None:
    """The restart that begins at ``row`` (a candidate; ``previous``: the side's data row
    before it), None when its round trips do not show one (module docstring)."""
    index, client, rtt_ns, clock = int(facts.conn_index[row]), side.client, side.rtt_ns, side.clock
    pair = side.around(facts, row)
    if pair is None:
        return None
    answer, before_answer = pair
    flights, starts = clock.rounds(answer)
    # the window this idle restarts is the one the sender had when it went idle
    # (tcp_cwnd_restart lowers snd_cwnd as it was): the answer just before's rounds show
    # it, at least; an earlier answer's larger window was itself lowered by the idle after
    # it (or by a loss since), and would claim round trips no window of this idle carried
    most_before = int(clock.rounds(before_answer)[0].max())
    window = int(facts.peer_window[row])
    if (
        len(flights) < 2
        or flights[0] > SHRUNK * most_before
        or flights[1] < GROWTH * flights[0]
        or window == UNKNOWN
        or window < flights[0] / SHRUNK
    ):
        return None
    # the ramp: round trips the window was still growing back in (each GROWTH times the one
    # before: the window held them, nothing else), up to the first that carried about the
    # most before; what holds the data after growth stops (a queue, the receiver, the
    # application) is not the restart's
    grew = np.append(True, flights[1:] >= GROWTH * flights[:-1])
    regained = np.flatnonzero((flights >= REGAINED * most_before) | ~grew)
    ramp = int(regained[0]) if len(regained) else len(flights)
    ramp_bytes = int(flights[:ramp].sum())
    needed = -(-ramp_bytes // most_before)
    segment = int(sent.largest[index * 2 + int(client)]) or 1
    if ramp <= needed or flights[0] < MIN_FIRST_SEGMENTS * segment:
        # no round trip lost, or a first flight no restarted window is that small (Linux
        # restarts at min(initial window, cwnd), 10 segments): an application's small write
        return None
    t0 = int(facts.time_ns[row])
    ramp_end = int(starts[ramp]) if ramp < len(starts) else t0 + ramp * rtt_ns
    # a round trip lost is one the ramp's window waited on: the handshake's loop may be
    # longer than the data's (a middlebox's or the server's slow path for the first
    # packets of a flow, a SYN queued behind others), never a larger cost than its rounds
    round_ns = min(rtt_ns, (ramp_end - t0) // ramp)
    idle_ns = t0 - int(facts.time_ns[previous])
    return Restart(
        Side.CLIENT if client else Side.SERVER,
        int(facts.frame[row]),
        idle_ns / 1e9,
        -(-int(flights[0]) // segment),
        -(-most_before // segment),
        ramp,
        (ramp_end - t0) / 1e9,
        (ramp - needed) * round_ns / 1e9,
    )


def _loop(loops: tuple[np.ndarray, np.ndarray], facts: Facts, row: int) -> int:
    """The capture point's loop to the sender of ``row`` (ns; 0 when not measured: the
    next round is then cut at the ACK itself, as at the sender)."""
    loop = float(loops[int(facts.from_client[row])][facts.conn_index[row]])
    return 0 if loop != loop else round(loop)


def _answers(facts: Facts, rows: np.ndarray, rtt_ns: int) -> list[np.ndarray]:
    """``rows`` (one side's new data, ascending) split at its silences long enough for a
    restart: each part an answer the side sent without pausing."""
    gaps = np.diff(facts.time_ns[rows])
    return np.split(rows, np.flatnonzero(gaps >= RTO_FLOOR_S * 1e9 + rtt_ns) + 1)


@dataclass(frozen=True, slots=True)
class _AckClock:
    """The peer's ACKs of one side's data in one connection, to cut its data in round trips
    the way its sender's window sees them (ACK-clocked, not by a fixed period: a relay's or
    a host's jitter shifts whole rounds, and a fixed grid would split them)."""

    times: np.ndarray  # the peer's ACK rows' times, ascending
    acked: np.ndarray  # the highest ACK number up to each of them
    data_times: np.ndarray  # the side's rows' times (all of the connection's rows)
    rel_seq: np.ndarray
    seg_len: np.ndarray
    loop_ns: int

    @staticmethod
    def of(facts: Facts, lo: int, hi: int, client: bool, loop_ns: int) -> _AckClock:
        peer = np.flatnonzero(facts.ack[lo:hi] & (facts.from_client[lo:hi] != client)) + lo
        return _AckClock(
            facts.time_ns[peer],
            np.maximum.accumulate(facts.rel_ack[peer]) if len(peer) else facts.rel_ack[peer],
            facts.time_ns,
            facts.rel_seq,
            facts.seg_len,
            loop_ns,
        )

    def rounds(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bytes of ``rows`` (one answer's new data, ascending) per round trip, and when each
        round began. A round's first segment is ACKed as it reaches the receiver; that ACK
        passes the capture point and the data it releases comes back a loop to the sender
        later: the next round begins with the first segment at or after that (three
        quarters of the loop: a loop measured a little long must not merge two rounds).
        Every segment before it left on the window of the round before."""
        times = self.data_times[rows]
        flights: list[int] = []
        starts: list[int] = []
        i = 0
        while i < len(rows):
            end = int(self.rel_seq[rows[i]] + self.seg_len[rows[i]])
            k = int(np.searchsorted(self.acked, end))
            nxt = len(rows)
            if k < len(self.times):
                at = int(self.times[k]) + self.loop_ns * 3 // 4
                nxt = max(int(np.searchsorted(times, at)), i + 1)
            flights.append(int(self.seg_len[rows[i:nxt]].sum()))
            starts.append(int(times[i]))
            i = nxt
        return np.asarray(flights, dtype=np.int64), np.asarray(starts, dtype=np.int64)


__all__ = ["Restart", "Restarts", "idle_restarts", "restart_of"]
