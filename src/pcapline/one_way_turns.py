"""one_way_turns: request/response turns of a connection captured in one direction only.

A capture of one direction (``tcpdump -Q out`` or ``-Q in`` on a host, a SPAN or tap on an
asymmetric path) holds no data of one side, so ``delays._turns`` finds no turn in it. The
captured side's ACK numbers still tell when the other side's bytes came, and a receiver's
kernel acknowledges data within its delayed-ACK timer whatever its application does (Linux
``TCP_DELACK_MAX``, 200 ms; RFC 1122 allows 500 ms: ``timers.DELACK_CEILING_S``, the bound
taken). From that, a lower bound of the
server's time per turn, never more (tcp-facts.md, "Capture start or end inside a
connection": the other side's packets are inferred from the acknowledgements):

- ``ResponseFrom.SERVER_ACK``, the server's packets only (its SYN+ACK captured, so the roles
  are known): new client bytes show as the server's ACK number advancing. An answer is the
  server's new data whose ACK covers client bytes its previous new data (or its SYN+ACK) did
  not. The request had arrived by the server's *first* segment whose ACK reached the
  answer's ACK number, so that segment -> the answer is a lower bound of the server's time;
  the answer's ACK number being the same proves no client bytes came in between (the
  server was not waiting for more of the request). An answer that carries that first ACK
  itself left within a delayed ACK of the request's arrival: 0, quick.
- ``ResponseFrom.CLIENT_ACK``, the client's packets only (its SYN and the handshake ACK
  captured: the handshake's round trip is SYN -> that ACK at the client, or the whole loop
  from any point between the client and the server): an answer shows as the client's ACK
  number advancing over server bytes it had not acknowledged when it sent its request's
  last byte (by 2 or more: a server FIN alone takes 1), or a SACK block above them. The
  client acknowledged within its delayed-ACK timer, so the answer arrived no earlier than
  that ACK less ``DELACK_CEILING_S``; less the request's last byte and the round trip, what
  stays is a lower bound of the server's time, claimed only when it is positive (NaN
  otherwise: nothing proven).

Not a bound of the server's time, so no turn (NaN): one whose interval holds a resend of the
captured side's data (a request lost and resent: the wait holds the client's retransmission
timer; a server resending an earlier answer). Not told apart, and said in the contract: an
answer lost on the way and resent whole, unseen (the client form: nothing of it SACKed; the
server form at a tap on the path: its first copy lost before the tap), whose resend's wait
counts as the server's.

Every array is over the whole capture (numpy, ``Facts`` grouped order); no per-connection
Python. The turns are measured; which one ``slow_response`` judges is the delays stage's
choice (``delays._judged_turns``: only the first, the bytes show no request/response).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from pcapline.facts import (
    UNKNOWN,
    across_a_hole,
    any_per_connection,
    rows_of_connections,
    rows_per_connection,
)
from pcapline.model import ResponseFrom
from pcapline.timers import DELACK_CEILING_S

if TYPE_CHECKING:
    from pcapline.facts import Facts

#: ``OneWayTurns.form`` codes (``delays.DelaysTable.columns["response_from"]`` too).
NO_FORM, REQUEST, SERVER_ACK, CLIENT_ACK = 0, 1, 2, 3
FORM_OF_CODE: dict[int, ResponseFrom | None] = {
    NO_FORM: None,
    REQUEST: ResponseFrom.REQUEST,
    SERVER_ACK: ResponseFrom.SERVER_ACK,
    CLIENT_ACK: ResponseFrom.CLIENT_ACK,
}

#: A client ACK advancing by 1 may acknowledge a server FIN alone, no answer (RFC 9293 3.4).
MIN_ANSWER_ADVANCE = 2


@dataclass(frozen=True, slots=True)
class OneWayTurns:
    """The turns of the one-direction connections of a capture, one row per turn (connection
    then time order): what each was timed from and to, and its lower bound in seconds (NaN:
    nothing proven, or the capture has a hole there)."""

    conn: np.ndarray  # connection index (``facts.conn_ids`` position) of each turn
    form: np.ndarray  # int8, SERVER_ACK or CLIENT_ACK
    bound_s: np.ndarray  # the lower bound of the server's time; NaN: not measured
    answer_ns: np.ndarray  # when the answer (SERVER_ACK) or the client's ACK of it began
    from_frame: np.ndarray  # SERVER_ACK: the server's first ACK of the request; CLIENT_ACK:
    #                         the request's last data segment
    to_frame: np.ndarray  # SERVER_ACK: the answer; CLIENT_ACK: the client's ACK of it

    @staticmethod
    def of(facts: Facts, peer_end: np.ndarray | None = None) -> OneWayTurns:
        """Both forms' turns, joined in connection then time order; ``peer_end``:
        ``facts.peer_data_end(facts)`` when the caller has it."""
        server, client = server_ack_turns(facts, peer_end), client_ack_turns(facts, peer_end)
        order = np.argsort(np.concatenate([server.conn, client.conn]), kind="stable")
        return OneWayTurns(
            *(
                np.concatenate([getattr(server, name), getattr(client, name)])[order]
                for name in ("conn", "form", "bound_s", "answer_ns", "from_frame", "to_frame")
            )
        )


def _new_data(facts: Facts, rows: np.ndarray) -> np.ndarray:
    """Which of ``rows`` carry new data: a payload neither resent, nor a capture copy, nor a
    probe (as ``delays._turns`` reads data)."""
    return np.asarray(
        (facts.seg_len[rows] > 0)
        & ~facts.is_dup[rows]
        & ~facts.probe_shape[rows]
        & ~facts.is_window_probe[rows]
        & ~facts.is_retrans[rows]
    )


def _acking(facts: Facts, rows: np.ndarray) -> np.ndarray:
    """Which of ``rows`` carry an ACK number the turns may read: ACK set, known, no RST (a
    reset's ACK field says nothing of what arrived), no capture copy."""
    return np.asarray(
        facts.ack[rows] & ~facts.rst[rows] & ~facts.is_dup[rows] & (facts.rel_ack[rows] != UNKNOWN)
    )


def _one_way(facts: Facts, *, client: bool, opener: np.ndarray) -> np.ndarray:
    """Positions (``facts.conn_ids``) of the connections whose every packet is from the client
    (``client``) or the server, and that hold an ``opener`` row (the roles are known)."""
    from_client = rows_per_connection(facts.from_client, facts.starts)
    sizes = np.diff(facts.starts)
    alone = from_client == sizes if client else from_client == 0
    return np.flatnonzero(alone & (sizes > 0) & any_per_connection(opener, facts.starts))


def server_ack_turns(facts: Facts, peer_end: np.ndarray | None = None) -> OneWayTurns:
    """``ResponseFrom.SERVER_ACK`` turns (module docstring): connections of server packets
    only whose SYN+ACK was captured."""
    synack = facts.syn & facts.ack & ~facts.from_client & ~facts.is_dup
    rows = rows_of_connections(facts.starts, _one_way(facts, client=False, opener=synack))
    rows = rows[_acking(facts, rows)]
    if not len(rows):
        return _none()
    conn = facts.conn_index[rows]
    ack = facts.rel_ack[rows]
    data = _new_data(facts, rows)
    # Boundaries: the SYN+ACK (it covers no client byte) and each new data segment.
    bounds = np.flatnonzero(data | synack[rows])
    same = conn[bounds[1:]] == conn[bounds[:-1]]
    # An answer: new data whose ACK covers client bytes the previous boundary's did not.
    answer = same & data[bounds[1:]] & (ack[bounds[1:]] > ack[bounds[:-1]])
    at, before = bounds[1:][answer], bounds[:-1][answer]
    # The server's first segment after ``before`` whose ACK reached the answer's: every row
    # from ``before`` on is held to the ACK number of the next boundary at or after it, and
    # the first row after the last one short of it is where the request had arrived (a later
    # row than the true first when ACKs went back and forth: a smaller bound, never larger).
    position = np.arange(len(rows))
    next_bound = np.full(len(rows), len(rows) - 1)
    next_bound[bounds] = bounds
    next_bound = np.minimum.accumulate(next_bound[::-1])[::-1]
    short = ack < ack[next_bound]
    last_short = np.maximum.accumulate(np.where(short, position, -1))
    first_reached = np.maximum(last_short[at] + 1, before + 1)
    time_ns = facts.time_ns[rows]
    bound_s = (time_ns[at] - time_ns[first_reached]) / 1e9
    # Bytes of the answer before the seen ones never captured: the wait went by unseen.
    bound_s[across_a_hole(facts, rows[at], peer_end) | (bound_s < 0)] = np.nan
    # The server resent data in between (an earlier answer lost): the wait holds its
    # retransmission timer, not only its application's time (``_timed``).
    return _timed(facts, rows, SERVER_ACK, first_reached, at, bound_s)


def client_ack_turns(facts: Facts, peer_end: np.ndarray | None = None) -> OneWayTurns:
    """``ResponseFrom.CLIENT_ACK`` turns (module docstring): connections of client packets
    only whose SYN and handshake ACK were captured."""
    syn = facts.syn & ~facts.ack & facts.from_client & ~facts.is_dup
    rows = rows_of_connections(facts.starts, _one_way(facts, client=True, opener=syn))
    conn = facts.conn_index[rows]
    time_ns = facts.time_ns[rows]
    # The handshake's round trip at the client: its first SYN -> its first ACK (no SYN,
    # FIN or RST: a FIN first means the handshake ACK was not captured). A retried SYN makes
    # it longer, so the bound smaller: never larger.
    n = len(facts.conn_ids)
    syn_ns = _first_time(conn, time_ns, syn[rows], n)
    acks = _acking(facts, rows) & ~facts.syn[rows]
    handshake = acks & ~facts.fin[rows]
    first_ack_row = _first_position(conn, handshake, n)
    if not len(rows):
        return _none()
    rtt_ns = np.where(first_ack_row >= 0, time_ns[first_ack_row] - syn_ns, -1)
    # Turns: the request's last new data segment (``q``), then the client's first ACK after
    # it that advanced over server bytes not acknowledged at ``q`` (``s``).
    data = _new_data(facts, rows)
    position = np.arange(len(rows))
    last_data = np.maximum.accumulate(np.where(data, position, -1))
    known = last_data >= 0
    last_data_conn = np.where(known, conn[np.maximum(last_data, 0)], -1)
    ack = facts.rel_ack[rows]
    base = ack[np.maximum(last_data, 0)]  # the server bytes acknowledged with the request
    # A SACK block above that proves server bytes arrived too (the answer's first segment
    # lost on the way: its later ones are SACKed before the resend is ACKed; the earlier
    # time makes the bound smaller, never larger).
    sacked = (facts.sack_right[rows] != UNKNOWN) & (facts.sack_right[rows] > base)
    advanced = (
        acks
        & known
        & (last_data_conn == conn)
        & (position > last_data)
        & ((ack >= base + MIN_ANSWER_ADVANCE) | sacked)
    )
    candidates = np.flatnonzero(advanced)
    _, first = np.unique(last_data[candidates], return_index=True)
    s = candidates[first]  # in row order: last_data grows along the rows
    q = last_data[s]
    rtt = rtt_ns[conn[s]]
    bound_ns = time_ns[s] - round(DELACK_CEILING_S * 1e9) - time_ns[q] - rtt
    bound_s = np.where((rtt >= 0) & (bound_ns > 0), bound_ns / 1e9, np.nan)
    # The request's own bytes before it never captured: not its last byte's time.
    bound_s[across_a_hole(facts, rows[q], peer_end)] = np.nan
    # The client resent request bytes after its last new one (the request lost on the way):
    # the answer waited for that resend, the client's retransmission timer (``_timed``).
    return _timed(facts, rows, CLIENT_ACK, q, s, bound_s)


def _timed(
    facts: Facts,
    rows: np.ndarray,
    form: int,
    start: np.ndarray,
    end: np.ndarray,
    bound_s: np.ndarray,
) -> OneWayTurns:
    """The turns of ``form`` timed from position ``start`` to ``end`` (positions into
    ``rows``, one connection each), ``bound_s`` their lower bounds: NaN (no bound) where a
    retransmitted data segment of the captured side lies between the two, whose wait then
    holds a retransmission timer, not the server's time."""
    resent = facts.is_retrans[rows] & (facts.seg_len[rows] > 0) & ~facts.is_dup[rows]
    last_resent = np.maximum.accumulate(np.where(resent, np.arange(len(rows)), -1))
    bound_s[last_resent[np.maximum(end - 1, 0)] > start] = np.nan
    return OneWayTurns(
        facts.conn_index[rows[end]],
        np.full(len(end), form, dtype=np.int8),
        bound_s,
        facts.time_ns[rows[end]],
        facts.frame[rows[start]],
        facts.frame[rows[end]],
    )


def _none() -> OneWayTurns:
    """No turn."""
    empty = np.zeros(0, dtype=np.int64)
    return OneWayTurns(empty, empty.astype(np.int8), empty.astype(float), empty, empty, empty)


def _first_position(conn: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    """Per connection index in [0, n): the first position where ``mask`` holds, -1: none."""
    out = np.full(n, -1, dtype=np.int64)
    where = np.flatnonzero(mask)
    out[conn[where[::-1]]] = where[::-1]  # written last wins: the first
    return out


def _first_time(conn: np.ndarray, time_ns: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    """Per connection index: the time of its first row where ``mask`` holds, 0: none."""
    first = _first_position(conn, mask, n)
    if not len(time_ns):
        return np.zeros(n, dtype=np.int64)
    return np.where(first >= 0, time_ns[np.maximum(first, 0)], 0)
