"""window_full: time a sender waited on a full, non-zero receive window (part of delays).

A sender may have in flight at most what the peer's latest ACK allows: the right edge is
that ACK plus its (scaled) window (RFC 9293 3.8.6; Linux ``tcp_snd_wnd_test``: a segment
leaves only if it ends within ``snd_una + snd_wnd``). Sender-side silly window syndrome
avoidance (RFC 9293 3.8.6.2.1) holds back a segment smaller than a full-sized one while data
is in flight, so a segment that leaves less than one full-sized segment of room *fills* the
window (Wireshark's ``tcp.analysis.window_full`` is the case of no room at all). The sender
then waits until an ACK moves the right edge.

An episode is that wait: from the window-full segment to the sender's next new data, kept
only when the capture shows the window opening and the sender reacting to it:

- a peer segment between the two moved the right edge past where it stood at the full
  segment (the *opening*: a window update, or an ACK whose ack + window is higher);
- the new data followed the latest such opening within the path's round trip (at most twice
  the handshake round trip plus 1 ms: at the sender's capture point the kernel sends the moment
  the ACK arrives (``tcp_data_snd_check``); at the receiver's, the data needs one round trip
  to come back). Later than that the sender had nothing to send (an application pause is not
  the receiver's doing), and no episode is claimed.

Not counted as window full: a zero window (the zero_window detector measures that stall,
from the closing advertisement), retransmissions, probes and capture duplicates. Where a
window-full wait overlaps a loss or a closed window, those win (``delays._visit`` clips the
episodes): the ACK that would have opened the window was held back by the loss, and a closed
window is the same receiver wait in its extreme form, measured by its own detector.

Every time is as seen at the capture point. A capture near the receiver sees ACKs before the
sender does, so the room there looks larger than the sender's: episodes may be missed there,
never invented. Where the capture point is ``AWAY_FROM_SENDER_NS`` or more from a sender (the
handshake's loop to it), finding no episode proves nothing once that sender's flights came
near the window (``_unseen_from_here``): a receiver that opens its window more often than once
per loop to the sender shows every arriving segment room the sender never saw, and a queue on
the path makes that loop longer than the handshake's. Such a connection without an episode
is unknown, not 0; one with episodes keeps what they show (a lower bound). On a LAN (loops of
microseconds) either end sees the window the sender saw.

Unknown (``seconds`` NaN): a connection that carried data without both SYNs captured whole
(``facts.scale_known``: a SYN missing, or its options cut by the snaplen before its window
scale; the window scale is unknown: a raw window of 512 may be 512 bytes or 2 MB, so a full
window cannot be told from a roomy one), or one whose segments filled the window while no handshake
round trip was measured (a SYN or SYN+ACK retried, Karn): the sender's reaction to the
opening cannot be judged then.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from pcapline.facts import full_size, per_connection_max
from pcapline.model import Side, StallCause

if TYPE_CHECKING:
    from pcapline.delays import Stall, Waits
    from pcapline.facts import Facts, NewData

#: The sender reacts to an opening within this many handshake round trips (plus
#: ``REACTION_SLACK_NS``): one round trip for a capture at the receiver, doubled for queueing.
REACTION_RTTS = 2
REACTION_SLACK_NS = 1_000_000
#: A capture point this far from a sender (its loop there and back) sees the receiver's
#: window a measurable time before the sender does (``_unseen_from_here``).
AWAY_FROM_SENDER_NS = 1_000_000


def window_full(
    facts: Facts, sent: NewData, handshake_rtt_ms: np.ndarray, loops: tuple[np.ndarray, np.ndarray]
) -> Waits:
    """Window-full episodes of every connection: which segments filled the window is
    columnar; the episodes are built for the few connections with such segments. ``loops``:
    the handshake's loops to the server and to the client (``handshake.handshake_loops``)."""
    from pcapline.facts import UNKNOWN

    conn = facts.conn_index
    fresh = sent.mask
    scale_known = facts.scale_known
    unknown = ~scale_known & (per_connection_max(fresh, facts.starts) > 0)  # sent data
    known = (facts.snd_una != UNKNOWN) & (facts.peer_window != UNKNOWN) & (facts.peer_window > 0)
    room = facts.snd_una + facts.peer_window - (facts.rel_seq + facts.seg_len)
    largest = sent.largest
    # No full-sized segment is larger than the largest one sent: a test of every row against
    # that bound first leaves a few rows to look their sender's full size up for.
    bound = int(largest.max()) if len(largest) else 0
    near = np.flatnonzero(fresh & known & scale_known[conn] & (room >= 0) & (room < bound))
    full = np.zeros(len(room), dtype=bool)
    full[near[room[near] < full_size(facts, largest, near)]] = True
    episodes: dict[int, tuple[Stall, ...]] = {}
    for index in np.unique(conn[full]).tolist():
        rtt_ms = float(handshake_rtt_ms[index])
        if rtt_ms != rtt_ms:  # NaN: no round trip to judge the reaction by
            unknown[index] = True
            continue
        slack_ns = round(REACTION_RTTS * rtt_ms * 1e6) + REACTION_SLACK_NS
        found = _episodes(facts, index, fresh, full, slack_ns)
        if found:
            episodes[int(facts.conn_ids[index])] = found
    nothing_found = np.ones(len(unknown), dtype=bool)
    nothing_found[np.searchsorted(facts.conn_ids, list(episodes))] = False
    unknown |= nothing_found & _unseen_from_here(facts, sent, loops)
    from pcapline.delays import Waits

    return Waits(unknown, episodes)


def _unseen_from_here(
    facts: Facts, sent: NewData, loops: tuple[np.ndarray, np.ndarray]
) -> np.ndarray:
    """Per connection: could a side have been held by a full window the capture point did not
    see? It sent from ``AWAY_FROM_SENDER_NS`` or more away from the capture point (the
    handshake's loop to it: there the receiver's window is up to that loop ahead of the
    sender's view), in a run of new data (nothing from the peer between) long enough to fill
    the smallest window the receiver offered: a flight is never more than the run it belongs
    to, and a window with a full-sized segment's room is not full. A keep-alive connection's
    short requests, however many, stay proven. NaN loops say nothing."""
    from pcapline.facts import UNKNOWN, extreme_per_key

    to_server, to_client = loops
    with np.errstate(invalid="ignore"):
        far = np.stack([to_server, to_client], axis=1) >= AWAY_FROM_SENDER_NS  # server, client
    n_keys = 2 * len(facts.conn_ids)
    rows = np.flatnonzero(sent.mask)
    key = facts.conn_index[rows] * 2 + facts.from_client[rows]  # per direction: 1 the client's
    starts = np.ones(len(rows), dtype=bool)
    starts[1:] = key[1:] != key[:-1]  # a run: the side's new data until the peer's
    run = np.cumsum(starts) - 1
    run_bytes = np.bincount(run, weights=facts.seg_len[rows]).astype(np.int64)
    longest = extreme_per_key(np.maximum, key[starts], run_bytes, n_keys, 0)
    known = facts.peer_window[rows] != UNKNOWN
    offered = extreme_per_key(np.minimum, key[known], facts.peer_window[rows][known], n_keys, 2**62)
    fills = (longest + sent.largest > offered).reshape(-1, 2)
    return np.asarray((fills & far).any(axis=1))


def _episodes(
    facts: Facts, index: int, new_data: np.ndarray, full: np.ndarray, slack_ns: int
) -> tuple[Stall, ...]:
    """One connection's episodes (module docstring), both directions, in time order."""
    from pcapline.delays import Stall

    lo, hi = int(facts.starts[index]), int(facts.starts[index + 1])
    time_ns = facts.time_ns[lo:hi]
    frame = facts.frame[lo:hi]
    client_rows = facts.from_client[lo:hi]
    edge_here = facts.snd_una[lo:hi] + facts.peer_window[lo:hi]  # slice first: one connection
    peer_edge = facts.rel_ack[lo:hi] + facts.window[lo:hi]
    acked = facts.ack[lo:hi]
    out: list[Stall] = []
    for client in (True, False):
        mine = client_rows == client
        fulls = np.flatnonzero(full[lo:hi] & mine)
        if not len(fulls):
            continue
        data = np.flatnonzero(new_data[lo:hi] & mine)
        peer = np.flatnonzero(~mine & acked)
        if not len(peer):
            continue
        running = np.maximum.accumulate(peer_edge[peer])  # the highest right edge so far
        raised = np.ones(len(peer), dtype=bool)
        raised[1:] = running[1:] > running[:-1]
        openings = peer[raised]  # peer segments that moved the right edge
        later = np.searchsorted(data, fulls, side="right")
        has_next = later < len(data)
        f, a = fulls[has_next], data[later[has_next]]
        # The edge the sender was held at: the one it saw, or the highest the peer had
        # offered before (a receiver never shrinks an offered window by default).
        seen = np.searchsorted(peer, f)
        prior = np.where(seen > 0, running[np.maximum(seen - 1, 0)], edge_here[f])
        held_at = np.maximum(edge_here[f], prior)
        last = np.searchsorted(openings, a) - 1  # the latest opening before the new data
        ok = last >= 0
        opening = openings[np.maximum(last, 0)]
        ok &= opening > f
        ok &= running[np.searchsorted(peer, opening)] > held_at
        ok &= time_ns[a] - time_ns[opening] <= slack_ns
        side = Side.CLIENT if client else Side.SERVER
        out += [
            Stall(
                StallCause.WINDOW_FULL, side, int(time_ns[i]), int(time_ns[j]), True, int(frame[i])
            )
            for i, j in zip(f[ok].tolist(), a[ok].tolist(), strict=True)
        ]
    out.sort(key=lambda s: (s.start_ns, s.end_ns))
    return tuple(out)


def clipped(episodes: tuple[Stall, ...], others: list[Stall]) -> tuple[Stall, ...]:
    """The episodes less the time loss or a closed window held the sender (those win: module
    docstring): an episode that began inside one is dropped, one that runs into one ends
    where it began. Seconds are never counted twice.

    Linear in episodes + others (log factor aside): a multi-GB transfer has a window-full
    episode per few segments and an RTO stall per loss, so comparing every pair is quadratic.
    """
    if not others or not episodes:
        return episodes
    from dataclasses import replace

    starts = np.array(sorted(o.start_ns for o in others), dtype=np.int64)
    # Per other (in start order): the latest end among it and those starting before it, so
    # "some other covers t" is one look-up at the last other starting at or before t.
    by_start = sorted(others, key=lambda o: o.start_ns)
    reach = np.maximum.accumulate(np.array([o.end_ns for o in by_start], dtype=np.int64))
    begin = np.array([e.start_ns for e in episodes], dtype=np.int64)
    at = np.searchsorted(starts, begin, side="right")  # others starting at or before each
    covered = (at > 0) & (reach[np.maximum(at - 1, 0)] > begin)
    # The first other that starts strictly after the episode began: where it is cut.
    nxt = np.where(at < len(starts), starts[np.minimum(at, len(starts) - 1)], -1)
    out = []
    for e, inside, cut in zip(episodes, covered.tolist(), nxt.tolist(), strict=True):
        if inside:
            continue
        out.append(replace(e, end_ns=cut) if e.start_ns < cut < e.end_ns else e)
    return tuple(out)
