"""app_pause: a side that held its data with nothing in flight (part of delays).

TCP sends what the application wrote as soon as the receive window, the congestion window
and Nagle let it (RFC 9293 3.8.6; Linux ``tcp_write_xmit``). When the peer had acknowledged
everything a side had sent and its last window had room, none of those held that side: no
data in flight for a congestion window or Nagle to wait on, no loss to recover, no window to
open. If the side's next new data still came only seconds later, with nothing from the peer
in between, the side held it: almost always its application, which wrote nothing for those
seconds (a server that flushed its headers and then waited on a database or an upstream for
the body; a client uploading what it reads from a slow source). Two kernel settings an
application makes hold data the same way, and the packets cannot tell them from a pause: a
pacing rate (``SO_MAX_PACING_RATE``, or ``fq``'s ``maxrate``) and ``TCP_CORK`` (at most
200 ms). The network is cleared either way.

A pause, between two consecutive new-data segments A and B of one side of a connection:

- the peer sent no data and no FIN between A and B (B continues what the side was sending;
  data from the peer would make B an answer, timed as a turn by ``delays._turns``), and the
  capture missed none (``facts.across_a_hole``: no unseen bytes of the side's before B, no
  unseen peer bytes that B acknowledges);
- at B, the peer had acknowledged all the side had sent (``snd_una >= next_seq``, as the
  capture point saw it) and the peer's last window had room for a full-sized segment
  (``facts.full_size``: a smaller opening is held by the sender's silly window syndrome
  avoidance until its persist timer, RFC 9293 3.8.6.2.1);
- the pause runs from the later of A and the peer's last segment before B (the ACK that
  emptied the pipe, or a window update) to B, less the capture point's loop to the side
  (``handshake.handshake_loops``): a capture point near the other end sees B that loop after
  the side could first have sent it;
- the capture proves it the side's (``_proven``): what the capture point saw drained may not
  have been drained at the side (copies the side resent, lost before the capture point,
  leave nothing but B, late), and B may have waited in a queue on the path the handshake's
  loop (measured with the queue empty) does not cover. A capture point nearer the side than
  its peer sees every send as it leaves. Elsewhere the side's IPv4 IDs must show that it
  sent nothing unseen between A and B, and its TCP timestamps bound the time between them at
  the side: the pause is cut to that. Without both, the pause is not counted (a pause the
  capture cannot prove is missed, never invented).

Per connection: the longest pause (``PAUSE_MIN_NS`` at least) and whose it was. Unknown (NaN) for a connection that
carried data with no handshake round trip measured (the loops are unknown).

Judged (``judged_s``, for the ``app_pause`` tag in ``delays.slow_tags``): the longest of a
server's pauses in the middle of an answer: the client had sent new data before A, and its
next new data after B acknowledges B (it asked again after it had the answer: an answer that
ended, not a stream such as server-sent events, nor a request crossing a timeout reply),
where the bytes show that every server reply answers a request (``delays.response_judged``
``every_turn``: HTTP/1.x in clear text). Only the first request and answer are read for
that: a pipelined request or a protocol switch on a later request is not seen (the limit
``slow_response`` shares).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from pcapline.facts import (
    UNKNOWN,
    across_a_hole,
    extreme_per_key,
    full_size,
    per_connection_max,
)

if TYPE_CHECKING:
    from pcapline.facts import Facts, NewData

#: No such row (before the first row of the capture, or after its last).
_NONE = -1
#: The shortest span of a side's timestamps over which their rate is read (``_tick_ns``).
TICK_SPAN_MIN_NS = 200_000_000
#: Shorter pauses are not counted: a host's scheduling and timer noise, and the handshake's
#: loop measured once, are of that order.
PAUSE_MIN_NS = 1_000_000


@dataclass(frozen=True, slots=True)
class Pauses:
    """Per connection (``facts.conn_ids`` order)."""

    seconds: np.ndarray  # float: the longest pause, 0.0 none, NaN the capture cannot tell
    side: np.ndarray  # int: 1 the client paused, 0 the server, -1 no pause
    judged_s: np.ndarray  # float: the longest server pause mid-answer (module docstring), 0.0
    #: The earliest of the server's pauses that follows client data (a request before A):
    #: the client's last new-data row before A, and B's row; -1 for none (``asked_pause``).
    asked_row: np.ndarray
    resumed_row: np.ndarray
    #: ``judged_s``'s pause ended with a new response's status line (``_mid_answer``): the
    #: server held its answer to a request the client had already sent (pipelined).
    judged_pipelined: np.ndarray


def app_pauses(
    facts: Facts,
    sent: NewData,
    loops: tuple[np.ndarray, np.ndarray],
    peer_end: np.ndarray | None = None,
    status_frames: np.ndarray | None = None,
) -> Pauses:
    """Every connection's longest pause (module docstring), columnar over all segments;
    ``peer_end``: ``facts.peer_data_end(facts)`` when the caller has it; ``status_frames``:
    the frames whose payload begins an HTTP/1.x response with its status line
    (``app.App.status_frames``), None: none known."""
    n = len(facts.conn_ids)
    seconds = np.zeros(n)
    side = np.full(n, -1, dtype=np.int64)
    judged_s = np.zeros(n)
    judged_pipelined = np.zeros(n, dtype=bool)
    asked_row = np.full(n, _NONE, dtype=np.int64)
    resumed_row = np.full(n, _NONE, dtype=np.int64)
    fresh = sent.mask
    to_server, to_client = loops
    sent_data = per_connection_max(fresh, facts.starts) > 0
    seconds[sent_data & (np.isnan(to_server) | np.isnan(to_client))] = np.nan
    a, b = _held(facts, sent, peer_end)
    if not len(b):
        return Pauses(seconds, side, judged_s, asked_row, resumed_row, judged_pipelined)
    client, conn = facts.from_client, facts.conn_index
    last_peer = _last_before(~facts.is_dup, client, b)
    start = np.maximum(a, last_peer)
    loop = np.where(client[b], to_client[conn[b]], to_server[conn[b]])
    seen_ns = facts.time_ns[b] - facts.time_ns[start] - loop
    worth = np.flatnonzero(seen_ns >= PAUSE_MIN_NS)  # NaN (no loops) compares False
    a, b, seen_ns = a[worth], b[worth], seen_ns[worth]
    pause_ns = _proven(facts, a, b, seen_ns, loops)
    found = np.flatnonzero(pause_ns >= PAUSE_MIN_NS)  # NaN (not proven) compares False
    if not len(found):
        return Pauses(seconds, side, judged_s, asked_row, resumed_row, judged_pipelined)
    a, b, pause_s = a[found], b[found], pause_ns[found] / 1e9
    longest = _longest_per_connection(conn[b], pause_s)
    seconds[conn[b[longest]]] = pause_s[longest]
    side[conn[b[longest]]] = client[b[longest]]
    _asked_pause(facts, fresh, a, b, asked_row, resumed_row)
    mid = np.flatnonzero(~client[b] & _mid_answer(facts, fresh, a, b, status_frames))
    if len(mid):
        judged = mid[_longest_per_connection(conn[b[mid]], pause_s[mid])]
        judged_s[conn[b[judged]]] = pause_s[judged]
        if status_frames is not None and len(status_frames):
            judged_pipelined[conn[b[judged]]] = np.isin(facts.frame[b[judged]], status_frames)
    return Pauses(seconds, side, judged_s, asked_row, resumed_row, judged_pipelined)


def _held(
    facts: Facts, sent: NewData, peer_end: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The pairs A -> B where nothing in TCP held B (module docstring: the first two rules)."""
    rows = np.flatnonzero(sent.mask)
    client, conn = facts.from_client, facts.conn_index
    # Everything acknowledged at B first: in a transfer most segments leave with data in
    # flight, so this leaves few pairs for the searches below. Read on the new-data rows
    # once; A and B are then neighbours in them.
    una = facts.snd_una[rows]
    drained = np.flatnonzero((una[1:] != UNKNOWN) & (una[1:] >= facts.next_seq[rows[1:]]))
    a, b = rows[drained], rows[drained + 1]
    same = (conn[a] == conn[b]) & (client[a] == client[b])
    a, b = a[same], b[same]
    full = full_size(facts, sent.largest, b)
    room = (facts.peer_window[b] != UNKNOWN) & (
        facts.peer_window[b] >= np.maximum(facts.seg_len[b], full)
    )
    a, b = a[room], b[room]
    # The peer's last word (data or FIN) before B: rows are grouped by connection, so one
    # before the connection's first row is older than A and rules nothing out.
    spoke = ((facts.seg_len > 0) | facts.fin) & ~facts.is_dup
    quiet = (_last_before(spoke, client, b) < a) & ~across_a_hole(facts, b, peer_end)
    return a[quiet], b[quiet]


def _proven(
    facts: Facts,
    a: np.ndarray,
    b: np.ndarray,
    pause_ns: np.ndarray,
    loops: tuple[np.ndarray, np.ndarray],
) -> np.ndarray:
    """Per pair A -> B: ``pause_ns`` where the capture proves it the side's own, cut to the
    side's clock away from the side; NaN where it cannot (module docstring)."""
    to_server, to_client = loops
    conn, client = facts.conn_index[b], facts.from_client[b]
    own_loop = np.where(client, to_client[conn], to_server[conn])
    peer_loop = np.where(client, to_server[conn], to_client[conn])
    at_side = own_loop <= peer_loop  # NaN loops: False
    stamped = facts.has_ts[a] & facts.has_ts[b]
    tick_ns = _tick_ns(facts, conn * 2 + client)
    since_a = (facts.ts_val[b].astype(np.int64) - facts.ts_val[a].astype(np.int64)) % 2**32
    clock_ns = (since_a + 1) * tick_ns  # one tick more: the clock's granularity; NaN: no rate
    away = _ids_count_every_send(facts, a, b) & stamped & ~np.isnan(clock_ns)
    far = np.where(away, np.minimum(pause_ns, clock_ns), np.nan)
    return np.asarray(np.where(at_side, pause_ns, far))


def _ids_count_every_send(facts: Facts, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per pair: the side's IPv4 IDs show it sent nothing between A and B that the capture
    missed: B's ID is A's plus the packets A stood for (a TSO/GRO super-segment counts its
    full-sized segments) plus the side's packets seen between. False where they cannot show
    it: IPv6 and IDs of 0 carry no count, and a counter shared with other connections (a
    host-wide one) leaves gaps."""
    client = facts.from_client[b]
    counted = np.zeros(len(b), dtype=bool)
    for side in (True, False):
        mine = np.flatnonzero(client == side)
        sent = np.flatnonzero((facts.from_client == side) & ~facts.is_dup)
        between = np.searchsorted(sent, b[mine]) - np.searchsorted(sent, a[mine], side="right")
        ra = a[mine]
        mss = facts.peer_mss[ra]
        parts = np.where(mss > 0, -(-facts.seg_len[ra] // np.maximum(mss, 1)), 1)
        expected = (facts.ip_id[ra].astype(np.int64) + np.maximum(parts, 1) + between) % 2**16
        numbered = facts.ip_id[ra] != facts.ip_id[b[mine]]
        counted[mine] = numbered & (facts.ip_id[b[mine]].astype(np.int64) == expected)
    return counted


def _tick_ns(facts: Facts, keys: np.ndarray) -> np.ndarray:
    """Per direction key (``conn_index * 2 + from_client``) of ``keys``: how many ns one step
    of that side's TCP timestamp clock takes, read over its stamped segments (the span from
    its first to its last, at least ``TICK_SPAN_MIN_NS``); NaN where it cannot be read."""
    n_keys = 2 * len(facts.conn_ids)
    asked = np.zeros(n_keys, dtype=bool)
    asked[keys] = True
    dir_key = facts.conn_index * 2 + facts.from_client
    rows = np.flatnonzero(facts.has_ts & ~facts.is_dup & asked[dir_key])
    first = extreme_per_key(np.minimum, dir_key[rows], rows, n_keys, len(facts))
    last = extreme_per_key(np.maximum, dir_key[rows], rows, n_keys, _NONE)
    f, la = first[keys], last[keys]
    valid = (la > f) & (la != _NONE)
    f, la = np.where(valid, f, 0), np.where(valid, la, 0)
    span_ns = (facts.time_ns[la] - facts.time_ns[f]).astype(float)
    steps = (facts.ts_val[la].astype(np.int64) - facts.ts_val[f].astype(np.int64)) % 2**32
    ok = valid & (span_ns >= TICK_SPAN_MIN_NS) & (steps > 0)
    return np.where(ok, span_ns / np.maximum(steps, 1), np.nan)


def _longest_per_connection(conn: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Positions of the largest value per connection (``conn`` per position)."""
    order = np.lexsort((values, conn))
    return order[np.r_[conn[order][1:] != conn[order][:-1], True]]


def _last_before(mask: np.ndarray, client: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Per row of ``rows``, the last earlier row where ``mask`` holds sent by the other side
    (``_NONE``: none): a search of each side's few rows, not a pass over every row."""
    out = np.full(len(rows), _NONE, dtype=np.int64)
    for side in (True, False):
        theirs = np.flatnonzero(mask & (client != side))
        mine = np.flatnonzero(client[rows] == side)
        at = np.searchsorted(theirs, rows[mine]) - 1
        out[mine] = np.where(at >= 0, theirs[np.maximum(at, 0)] if len(theirs) else _NONE, _NONE)
    return out


def _mid_answer(
    facts: Facts,
    fresh: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    status_frames: np.ndarray | None = None,
) -> np.ndarray:
    """For server pauses A -> B: had the client sent new data before A (a request), and does
    its next new data after B acknowledge B (it asked again with the answer in hand), or does
    B begin with an HTTP/1.x status line (``status_frames``)? Such a B starts a response to a
    request the client had already sent (pipelined, RFC 9112 9.3.2): the answer before the
    pause had ended, and the server held the next one, whether or not the client asked again
    (it may close right after the burst's last answer)."""
    asked = np.flatnonzero(fresh & facts.from_client)
    if not len(asked):
        return np.zeros(len(a), dtype=bool)
    first, end = facts.starts[facts.conn_index[a]], facts.starts[facts.conn_index[a] + 1]
    before = np.searchsorted(asked, a)  # how many client requests' rows come before A
    requested = (before > 0) & (asked[np.maximum(before - 1, 0)] >= first)
    after = np.append(asked, len(facts.conn_index))[np.searchsorted(asked, b)]
    again = after < end
    at = np.where(again, after, 0)
    answered = facts.ack[at] & (facts.rel_ack[at] >= facts.seq_end[b]) & again
    if status_frames is not None and len(status_frames):
        answered |= np.isin(facts.frame[b], status_frames)
    return np.asarray(requested & answered)


def _asked_pause(
    facts: Facts,
    fresh: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    asked_row: np.ndarray,
    resumed_row: np.ndarray,
) -> None:
    """Per connection, of the server's proven pauses A -> B (``a``, ``b``: in row order) that
    follow client new data in the connection, the earliest: the client's last new-data row
    before A (nothing from the client came between it and B: ``_held``) into ``asked_row``,
    B's row into ``resumed_row``. A TLS 1.3 server's first records after the handshake may be
    session tickets, not an answer (``delays._after_tickets``)."""
    server = np.flatnonzero(~facts.from_client[b])
    asked = np.flatnonzero(fresh & facts.from_client)
    if not len(server) or not len(asked):
        return
    a, b = a[server], b[server]
    conn = facts.conn_index[b]
    before = np.searchsorted(asked, a)
    request = asked[np.maximum(before - 1, 0)]
    requested = (before > 0) & (request >= facts.starts[conn])
    a, b, conn, request = a[requested], b[requested], conn[requested], request[requested]
    # The earliest per connection: rows are in connection then time order, so the first of
    # each run of the same connection (written last wins, hence reversed).
    resumed_row[conn[::-1]] = b[::-1]
    asked_row[conn[::-1]] = request[::-1]
