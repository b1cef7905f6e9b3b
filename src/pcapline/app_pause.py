"""app_pause: a side whose application paused in the middle of what it was sending (part of
delays).

TCP sends what the application wrote as soon as the receive window, the congestion window
and Nagle let it (RFC 9293 3.8.6; Linux ``tcp_write_xmit``). When the peer had acknowledged
everything a side had sent and its last window had room, nothing in TCP held that side: no
data in flight for a congestion window or Nagle to wait on, no loss to recover, no window to
open. If the side's next new data still came only seconds later, with nothing from the peer
in between, its application had written nothing for those seconds: a server that flushed its
headers and then waited on a database or an upstream for the body; a client uploading what it
reads from a slow source. The network is cleared; the pause is the host's.

A pause, between two consecutive new-data segments A and B of one side of a connection:

- the peer sent no data and no FIN between A and B (B continues the same message; data from
  the peer would make B an answer, timed as a turn by ``delays._turns``), and the capture
  missed none (``facts.across_a_hole``: no unseen bytes of the side's before B, no unseen
  peer bytes that B acknowledges);
- at B, the peer had acknowledged all the side had sent (``snd_una >= next_seq``, as the
  capture point saw it) and the peer's last window had room for a full-sized segment
  (``window_full.full_size``: a smaller opening is held by the sender's silly window
  syndrome avoidance until its persist timer, RFC 9293 3.8.6.2.1);
- the pause runs from the later of A and the peer's last segment before B (the ACK that
  emptied the pipe, or a window update) to B, less the capture point's loop to the side
  (``handshake.handshake_loops``): a capture point near the other end sees B that loop after
  the side could first have sent it. A queue on the path that delays B beyond the
  handshake's loop makes the pause look longer by that delay.

Per connection: the longest pause and whose it was. Unknown (NaN) for a connection that
carried data with no handshake round trip measured (the loops are unknown).

Judged (``judged``, for the ``app_pause`` tag in ``delays.slow_tags``): a server's pause in
the middle of an answer (the client had sent data before A) that the client followed with a
new request later (the answer had ended: a stream that never ends, such as server-sent
events, is not an answer paused), where the bytes show that every server reply answers a
request (``delays.response_judged`` ``every_turn``: HTTP/1.x in clear text).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from pcapline.facts import (
    UNKNOWN,
    across_a_hole,
    largest_segments,
    new_data,
    per_connection_max,
)
from pcapline.window_full import full_size

if TYPE_CHECKING:
    from pcapline.facts import Facts

#: No such row (before the first row of the capture, or after its last).
_NONE = -1


@dataclass(frozen=True, slots=True)
class Pauses:
    """Per connection (``facts.conn_ids`` order)."""

    seconds: np.ndarray  # float: the longest pause, 0.0 none, NaN the capture cannot tell
    side: np.ndarray  # int: 1 the client paused, 0 the server, -1 no pause
    judged: np.ndarray  # bool: that pause was a server's, mid-answer, and the answer ended


def app_pauses(facts: Facts, loops: tuple[np.ndarray, np.ndarray]) -> Pauses:
    """Every connection's longest pause (module docstring), columnar over all segments."""
    n = len(facts.conn_ids)
    seconds = np.zeros(n)
    side = np.full(n, -1, dtype=np.int64)
    judged = np.zeros(n, dtype=bool)
    fresh = new_data(facts)
    to_server, to_client = loops
    sent_data = per_connection_max(fresh, facts.starts) > 0
    seconds[sent_data & (np.isnan(to_server) | np.isnan(to_client))] = np.nan
    rows = np.flatnonzero(fresh)
    if len(rows) < 2:
        return Pauses(seconds, side, judged)
    a, b = rows[:-1], rows[1:]
    client = facts.from_client
    conn = facts.conn_index
    # Everything acknowledged at B first: in a transfer most segments leave with data in
    # flight, so this leaves few pairs for the searches below.
    drained = (facts.snd_una[b] != UNKNOWN) & (facts.snd_una[b] >= facts.next_seq[b])
    same = drained & (conn[a] == conn[b]) & (client[a] == client[b])
    a, b = a[same], b[same]
    # Room for a full-sized segment: into a smaller window the sender's silly window
    # syndrome avoidance holds data back until its persist timer (RFC 9293 3.8.6.2.1).
    full = full_size(facts, largest_segments(facts, fresh), b)
    room = (facts.peer_window[b] != UNKNOWN) & (
        facts.peer_window[b] >= np.maximum(facts.seg_len[b], full)
    )
    a, b = a[room], b[room]
    # The peer's last word (data or FIN) and last segment of any kind before B: rows are
    # grouped by connection, so one before the connection's first row is older than A and
    # rules nothing out.
    spoke = ((facts.seg_len > 0) | facts.fin) & ~facts.is_dup
    quiet = (_last_before(spoke, client, b) < a) & ~across_a_hole(facts, b)
    a, b = a[quiet], b[quiet]
    last_peer = _last_before(~facts.is_dup, client, b)
    from_client = client[b]
    start = np.maximum(a, last_peer)
    loop = np.where(from_client, to_client[conn[b]], to_server[conn[b]])
    pause_ns = facts.time_ns[b] - facts.time_ns[start] - loop
    found = np.flatnonzero(pause_ns > 0)  # NaN loops compare False: no pause claimed
    if not len(found):
        return Pauses(seconds, side, judged)
    a, b, from_client, pause_ns = a[found], b[found], from_client[found], pause_ns[found]
    # The longest per connection: sorted by connection, then pause; the last of each wins.
    order = np.lexsort((pause_ns, conn[b]))
    longest = order[np.r_[conn[b][order][1:] != conn[b][order][:-1], True]]
    where = conn[b[longest]]
    seconds[where] = pause_ns[longest] / 1e9
    side[where] = from_client[longest]
    judged[where] = ~from_client[longest] & _mid_answer(facts, fresh, a[longest], b[longest])
    return Pauses(seconds, side, judged)


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


def _mid_answer(facts: Facts, fresh: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For server pauses A -> B: had the client sent new data before A (a request), and did
    it send new data after B (a later request: the paused answer had ended)?"""
    asked = np.flatnonzero(fresh & facts.from_client)
    if not len(asked):
        return np.zeros(len(a), dtype=bool)
    first, end = facts.starts[facts.conn_index[a]], facts.starts[facts.conn_index[a] + 1]
    before = np.searchsorted(asked, a)  # how many client requests' rows come before A
    requested = (before > 0) & (asked[np.maximum(before - 1, 0)] >= first)
    later = np.append(asked, len(facts.conn_index))[np.searchsorted(asked, b)]
    return np.asarray(requested & (later < end))
