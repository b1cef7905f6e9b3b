"""nagle: small writes held by Nagle until the peer's delayed ACK (part of delays).

Two kernel rules meet when an application writes one message in several small writes and
then waits for the answer (write-write-read):

- Nagle (RFC 896; Linux ``tcp_nagle_check`` with Minshall's variant, ``tcp_minshall_check``):
  a segment smaller than a full-sized one is held while an earlier small segment is in
  flight, until it is acknowledged (unless TCP_NODELAY is set).
- Delayed ACK (RFC 1122 4.2.3.2, RFC 9293 3.8.6.3; Linux ``tcp_send_delayed_ack``): a
  receiver with nothing to send acknowledges a lone small segment only when its delayed-ACK
  timer fires: at least TCP_DELACK_MIN (40 ms) on Linux, up to 200 ms on Windows, always
  under 500 ms. The receiver waits for the rest of the request; the sender holds the rest
  until that ACK: every such message costs the timer, once per round.

Where the capture point sits is read from the handshake (``handshake_loops``): SYN ->
SYN+ACK is its loop to the server and back, SYN+ACK -> ACK its loop to the client and back
(at the client the first is the round trip and the second about 0; at the server the other
way round). An episode is the wait, proven when the capture shows all of it:

- a small segment A of new data, and the same sender's next new data B, also small (Nagle
  holds only a partial segment); the window had room for B when A left (else the full window
  held it: window_full.py);
- the peer's first segment after A is a pure ACK of everything up to A's end, and nothing
  the peer sent between A and B carries data or a FIN (B may answer that);
- the ACK came a delayed ACK's time after A: ACK - A less the capture point's loop to the
  receiver is at least ``DELACK_FLOOR_NS`` and at most ``DELACK_CEILING_NS``;
- B followed the ACK at once: B - ACK is about the capture point's loop to the sender
  (at most ``REACTION_LOOPS`` of it, plus ``REACTION_SLACK_NS``): at the sender's capture
  point the kernel sends the held data the moment the ACK arrives; at the receiver's, B
  arrives one round trip after the ACK left, never sooner. An application cannot see a
  pure ACK: B waited for it;
- B left after the sender got the ACK: B's timestamp echo (TSecr, RFC 7323: the latest
  TSval it received) is the ACK's TSval or later, and the ACK's TSval is newer than the
  peer's segment before it (else that one's echo looks the same). That proof needs no
  floor: the handshake's loop may be longer than the data's (a load balancer's or OVS's
  first-packet slow path), and a B one data round trip after the ACK is sooner than it.
  Only the capture point at the sender shows it without timestamps (B leaves there within
  ``REACTION_SLACK_NS`` of the ACK); further away a writer on its own timer can put a B
  one loop after the ACK, so no wait is claimed there: a B sooner than ``EARLIEST_LOOPS``
  of the handshake's loop to the sender, less that slack, left before the ACK got there
  (none), a later one may have waited for the ACK or for its writer (untold);
- the sender resent nothing before B in the connection: after a timeout a congestion window
  of one segment also holds B until the ACK, and that is not Nagle's doing.

The stall is A -> B, with the sender as the side that waited. Two look-alikes the packets
cannot tell apart, so the explanation says "likely": a sender whose congestion window
allows one segment (a route's ``cwnd lock 1``, a window cut to one) holds B for the same
ACK; and a writer on its own timer whose tick falls within a millisecond of a delayed ACK
(once in a while: it rarely repeats, and a lone wait of 40 ms earns no tag). A queue that
delays the ACK beyond the handshake's loop still has Nagle holding B for that ACK.

Unknown (``seconds`` NaN): a connection that carried data with no handshake round trip
measured (SYN or SYN+ACK not both captured, or retried: Karn): the waits cannot be told from
the path's own time; and a connection with waits of the right shape, none proven, some
untold (above): "none found" would claim what the capture cannot show.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from pcapline.facts import per_connection_max
from pcapline.model import Side, StallCause
from pcapline.timers import DELACK_CEILING_S

if TYPE_CHECKING:
    from pcapline.delays import Stall, Waits
    from pcapline.facts import Facts, NewData

#: The least and most a delayed ACK waits beyond the path. Linux's timer starts at
#: TCP_DELACK_MIN (40 ms, at jiffy resolution: 36 ms and up at HZ=250); the floor sits below
#: that and well above a healthy path's jitter. RFC 1122 caps the delay at 500 ms.
DELACK_FLOOR_NS = 30_000_000
DELACK_CEILING_NS = round(DELACK_CEILING_S * 1e9)
#: B follows the releasing ACK within this many of the capture point's loops to the sender
#: plus ``REACTION_SLACK_NS`` (the loop itself, a quarter more for jitter).
REACTION_LOOPS = 1.25
REACTION_SLACK_NS = 1_000_000
#: ... and, unless B's TSecr proves it left after the ACK, no sooner than nine tenths of that
#: loop less the slack: the ACK has to reach the sender and B come back (a path's round trip
#: varies, mostly by less than that; a handshake on a first-packet slow path by more). A periodic writer
#: captured at its receiver, 60 B every 90 ms over 50 ms with delayed ACKs, puts a B 42.6 ms
#: after each ACK: half a loop let it through.
EARLIEST_LOOPS = 0.9
#: TCP options take at most this many bytes of a segment: a sender that never sent a
#: segment this close to the peer's MSS sent only small ones.
MAX_OPTIONS_B = 40


def nagle_waits(
    facts: Facts,
    sent: NewData,
    loops: tuple[np.ndarray, np.ndarray],
    ts_ecr: np.ndarray | None = None,
) -> Waits:
    """Nagle/delayed-ACK episodes of every connection (module docstring): columnar over
    every segment; Python builds the few episodes found. ``loops``: the capture point's
    loops to the server and to the client, ns per connection (``handshake_loops``);
    ``ts_ecr``: the segments table's TSecr column (``facts.order`` indexes it), None when
    not at hand (then only a capture point at the sender shows a wait)."""
    new = sent.mask
    unknown = np.isnan(loops[0]) & (per_connection_max(new, facts.starts) > 0)  # both or none
    small = new & ~facts.fin
    rows = np.flatnonzero(small)
    small[rows[~_small(facts, (sent.largest, _own_mss(facts)), rows)]] = False
    pairs = [_held(facts, new, small, loops, ts_ecr, client) for client in (True, False)]
    a = np.concatenate([p[0] for p in pairs])
    b = np.concatenate([p[1] for p in pairs])
    # A wait of the right shape whose B the capture cannot place after the ACK: with none
    # proven in its connection, the connection's Nagle time is unknown, not none.
    untold = np.zeros(len(facts.conn_ids), dtype=bool)
    for p in pairs:
        untold[facts.conn_index[p[2]]] = True
    untold[facts.conn_index[a]] = False
    unknown |= untold
    order = np.lexsort((facts.time_ns[a], facts.conn_index[a]))
    episodes: dict[int, list[Stall]] = {}
    from pcapline.delays import Stall, Waits

    for i, j in zip(a[order].tolist(), b[order].tolist(), strict=True):
        side = Side.CLIENT if facts.from_client[i] else Side.SERVER
        stall = Stall(
            StallCause.NAGLE,
            side,
            int(facts.time_ns[i]),
            int(facts.time_ns[j]),
            True,
            int(facts.frame[i]),
        )
        episodes.setdefault(int(facts.conn[i]), []).append(stall)
    return Waits(unknown, {conn: tuple(found) for conn, found in episodes.items()})


def _small(facts: Facts, sizes: tuple[np.ndarray, np.ndarray], rows: np.ndarray) -> np.ndarray:
    """At ``rows`` (segments of new data): shorter than their sender's full-sized one."""
    return np.asarray(facts.seg_len[rows] < _full_size(facts, sizes, rows))


def _full_size(facts: Facts, sizes: tuple[np.ndarray, np.ndarray], rows: np.ndarray) -> np.ndarray:
    """At ``rows``: their sender's full-sized segment. Linux sends at most ``mss_cache``: the
    peer's MSS, or less when the sender's own path is narrower (its interface MTU, which the
    MSS it announced in its own SYN shows). The largest new data it sent when that came
    within the options' room of that MSS; else the MSS less that room (a sender that sent
    only small segments); 0 (nothing is small) when the peer announced no MSS."""
    side = facts.conn_index[rows] * 2 + facts.from_client[rows]
    largest, own = sizes[0][side], sizes[1][side]
    peer = facts.peer_mss[rows].astype(np.int64)
    mss = np.where((own > 0) & (own < peer), own, peer)
    near_mss = largest >= mss - MAX_OPTIONS_B
    return np.asarray(np.where(mss > 0, np.where(near_mss, largest, mss - MAX_OPTIONS_B), 0))


def _own_mss(facts: Facts) -> np.ndarray:
    """Per connection and side (``conn_index * 2 + from_client``): the MSS it announced in
    its own SYN or SYN+ACK, 0 when none was captured."""
    announced = np.where(facts.syn, facts.mss, 0)
    own = np.zeros(2 * len(facts.conn_ids), dtype=np.int64)
    own[0::2] = per_connection_max(np.where(facts.from_client, 0, announced), facts.starts)
    own[1::2] = per_connection_max(np.where(facts.from_client, announced, 0), facts.starts)
    return own


def _held(
    facts: Facts,
    new: np.ndarray,
    small: np.ndarray,
    loops: tuple[np.ndarray, np.ndarray],
    ts_ecr: np.ndarray | None,
    client: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (A, B) row pairs of one sender side's episodes (module docstring), and the A rows
    of the waits of that shape the capture cannot tell (``_after_the_ack`` untold)."""
    from pcapline.facts import UNKNOWN

    conn = facts.conn_index
    mine = facts.from_client == client
    data = np.flatnonzero(new & mine)
    peer = np.flatnonzero(~mine)
    spoke = np.flatnonzero(~mine & ((facts.seg_len > 0) | facts.fin))  # the peer's data, FINs
    a = np.flatnonzero(small & mine)
    nxt = np.searchsorted(data, a, side="right")
    reply = np.searchsorted(peer, a, side="right")
    keep = (nxt < len(data)) & (reply < len(peer))
    a, nxt, reply = a[keep], nxt[keep], reply[keep]
    b, p = data[nxt], peer[reply]
    # the peer's segment before P (-1: none in the connection): was P's TSval new?
    before = np.where(reply > 0, peer[np.maximum(reply - 1, 0)], -1)
    keep = (conn[b] == conn[a]) & (conn[p] == conn[a]) & (p < b) & small[b]
    a, b, p, before = a[keep], b[keep], p[keep], before[keep]
    before[(before >= 0) & (conn[np.maximum(before, 0)] != conn[a])] = -1
    # Nothing the peer said between A and B: B may answer data or a FIN.
    said = np.searchsorted(spoke, a, side="right")
    first_said = np.append(spoke, len(facts))[said]
    keep = first_said > b
    a, b, p, before = a[keep], b[keep], p[keep], before[keep]
    # The peer's first word after A is a pure ACK of everything up to A's end.
    end = facts.rel_seq[a] + facts.seg_len[a]
    pure = (facts.seg_len[p] == 0) & facts.ack[p] & ~(facts.syn[p] | facts.fin[p] | facts.rst[p])
    keep = pure & (facts.rel_ack[p] == end)
    # The window had room for B when A left.
    known = (facts.snd_una[a] != UNKNOWN) & (facts.peer_window[a] != UNKNOWN)
    room = facts.snd_una[a] + facts.peer_window[a] - end
    keep &= known & (room >= facts.seg_len[b])
    to_server, to_client = loops
    to_receiver = (to_client if not client else to_server)[conn[a]]
    to_sender = (to_client if client else to_server)[conn[a]]
    delay = facts.time_ns[p] - facts.time_ns[a] - to_receiver  # the receiver's own wait
    keep &= ~np.isnan(to_receiver) & (delay >= DELACK_FLOOR_NS) & (delay <= DELACK_CEILING_NS)
    reaction = facts.time_ns[b] - facts.time_ns[p]
    keep &= reaction <= REACTION_LOOPS * to_sender + REACTION_SLACK_NS
    # B left after the ACK got to its sender: proven by B's TSecr (then the handshake's loop
    # sets no floor: a path's first packets may take a slower one than its data), disproven
    # by it, or, without timestamps, shown only at the sender's capture point. Else no
    # sooner than the ACK could reach the sender and B come back (the handshake's loop):
    # a B that passed the capture point sooner left before the ACK got there; one that came
    # later may have waited for it or for its writer: the capture cannot tell.
    after = _after_the_ack(facts, p, b, before, ts_ecr, to_sender)
    soon_enough = reaction >= EARLIEST_LOOPS * to_sender - REACTION_SLACK_NS
    clean = _none_resent_before(facts, mine, b)
    held = keep & (after == PROVEN) & clean
    untold = keep & (after == UNTOLD) & soon_enough & clean
    return a[held], b[held], a[untold]


#: ``_after_the_ack``'s answers: B left after its sender got the ACK, before it, or the
#: capture cannot tell.
PROVEN, DISPROVEN, UNTOLD = 1, -1, 0


def _after_the_ack(
    facts: Facts,
    p: np.ndarray,
    b: np.ndarray,
    before: np.ndarray,
    ts_ecr: np.ndarray | None,
    to_sender: np.ndarray,
) -> np.ndarray:
    """Per pair: did B leave after its sender got the ACK P (``PROVEN``, ``DISPROVEN``,
    ``UNTOLD``)? B's TSecr is the latest TSval the sender had received (RFC 7323 4.3): P's
    or a later one proves it when P's TSval is newer than the peer's segment before it
    (``before``, -1: none), else that segment's echo looks the same (a clock ticking slower
    than the segments: untold); an older one disproves it. Compared modulo 2**32. Without
    timestamps on both, only a capture point at the sender (B within the slack of P) shows
    it; elsewhere it is untold."""
    at_sender = to_sender <= REACTION_SLACK_NS
    shown = np.where(at_sender, PROVEN, UNTOLD)
    if ts_ecr is None:
        return np.asarray(shown)
    stamped = facts.has_ts[p] & facts.has_ts[b]
    echo = ts_ecr[facts.order[b]].astype(np.int64)
    tsval = facts.ts_val[p].astype(np.int64)
    since = (echo - tsval) % 2**32
    prior = np.maximum(before, 0)
    prior_stamped = (before >= 0) & facts.has_ts[prior]
    new_tsval = ~prior_stamped | ((tsval - facts.ts_val[prior].astype(np.int64)) % 2**32 != 0)
    answer = np.where(since < 2**31, np.where(new_tsval, PROVEN, UNTOLD), DISPROVEN)
    return np.asarray(np.where(stamped, answer, shown))


def _none_resent_before(facts: Facts, mine: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """For ``rows`` (of one side): that side resent nothing earlier in its connection."""
    resent = np.cumsum(facts.is_retrans & mine)
    first = facts.starts[facts.conn_index[rows]]
    before_connection = resent[first] - (facts.is_retrans[first] & mine[first])
    return np.asarray(resent[rows] - before_connection == 0)
