"""Copies of one packet: the same segment seen twice, not sent twice (``facts.is_dup``).

A capture holds some packets twice: ``-i any`` on bridges, veth pairs and VLANs, two merged
taps, a fabric (Cisco FabricPath) or a switch that floods a frame on two ports, a path that
duplicates. A copy is identical to the packet it repeats: same IP ID, seq, ack, length, flags,
window and TSval. A retransmission can be identical too (IP ID 0, no timestamps), so a copy
is recognised by what the sender could NOT have done in the gap between the two:

- Within ``DUPLICATE_WINDOW_NS`` (1 ms) of the original with nothing from the peer in
  between: no timer fires that soon (the minimum RTO is 200 ms, a loss probe's 2 ms) and a
  resend on duplicate ACKs or SACK (fast retransmit, RACK) needs one of them to arrive first.
  Where the round trip is sub-millisecond (a data centre, two namespaces) such a resend follows
  the original by a fraction of a millisecond, byte for byte (IPv6 has no IP ID, and TSval
  ticks in milliseconds): the peer's segment between the two is what tells it from a copy.
  Seen at the same instant, two identical packets are one whatever came between. A RST
  answers a segment, not a loss signal: a host answers each segment that reaches a socket
  that is gone with a RST of its own (Linux ``tcp_v4_send_reset``, IP ID 0), so the peer's
  data and FIN sent back to back draw two identical RSTs microseconds apart, and at the
  peer nothing comes between them. Two such RSTs are two packets when more segments they
  could answer were captured before them than identical RSTs (``_answered_apart``), unless
  an IP ID, the same instant or a TTL one hop lower proves one packet.
- A numbered sender (its segments carry different IP IDs: Linux counts per socket,
  ``ip_select_ident``; Windows counts globally) gives every transmission a new IP ID: the
  same non-zero IP ID sooner than ``RTO_FLOOR_S`` (no retransmission timer fires sooner, and the
  counter cannot have come round) is the same packet, whatever the gap.
- A numbered sender's same IP ID one or two router hops apart (the TTL one lower past each)
  is one packet seen on both sides of a router, up to ``STAMPED_WINDOW_NS`` apart: two
  captures merged whose clocks differ, without TCP timestamps to match (a resend has a new
  IP ID). A SYN+ACK without IP ID or timestamp (Linux: IP ID 0) seen at two TTLs sooner
  than its timer is counted per capture point (``_count_per_point``).
- A numbered sender's same IP ID with the same TCP timestamp is the same packet up to
  ``STAMPED_WINDOW_NS`` apart: a transmission stamps TSval when it leaves (Linux
  ``tcp_skb_timestamp_ts``, a millisecond clock), so a resend carries a later one and a new
  IP ID both, and a counter come round would also have to meet the very same TSval, seq and
  ack. Two taps merged across a deep queue (a bottleneck's buffer holds a packet seconds
  between them) or across hosts whose clocks differ repeat a flow that far apart.
- A SYN is resent only by its timer (TCP_TIMEOUT_INIT, 1 s, on Linux; 3 s on Windows and old
  stacks) or after an answer (Windows retries a refused connect after the RST, half a second
  later; a stale peer's challenge ACK draws the client's RST and a retry milliseconds later):
  the same SYN sooner than ``SYN_COPY_BEFORE_S`` with no news from the server in between is a
  copy (a SYN+ACK is news only if the client rejected it with a RST); so is the same SYN
  sooner than ``RTO_FLOOR_S`` without a RST between, a numbered client's same
  SYN sooner than ``RTO_FLOOR_S`` whatever came between (a resent SYN has a new IP ID like
  any other transmission), and the same SYN after the client ACKed a SYN+ACK (connected, it
  never sends it again). News: a numbered sender's segment whose twin (same IP ID) was seen
  before the pair began repeats what the sender knew (two merged taps, ``-i any`` over a
  bridge interleave the copies); without IP IDs every segment is news.
- A SYN+ACK is resent by its timer (TCP_TIMEOUT_INIT, 1 s: no RTT sample exists yet, and no
  stack's timer is shorter than the round trip) or on a resent SYN (``tcp_check_req`` answers
  it at once, so a timer's SYN+ACK and that answer can leave microseconds apart, both real).
  The same SYN+ACK sooner than that timer, with only one SYN from the client so far, is a
  copy when sooner than the handshake's round trip, or, with the same timestamp, than any
  retransmission timer (200 ms: two taps merged milliseconds apart). Linux sends SYN+ACKs with IP ID 0, so within 1 ms a SYN+ACK after a resent
  SYN is a copy only when its TTL changed (the same packet seen on both sides of a router) or
  it has the very same timestamp (one host's two transmissions are never seen at the same
  instant).
- A SYN or SYN+ACK with the same TSval (not 0) is one transmission however far apart when its
  TTL differs (one packet seen on both sides of a router: a client's and a server's capture
  merged with clocks 0.3 s or 2 s apart, ``-i any`` on the router), when a numbered client's
  SYN repeats its IP ID, or past ``SLOWEST_TS_TICK_NS`` (RFC 7323's slowest clock): every
  stack stamps a resend when it leaves. Where the server's two real SYN+ACKs (the timer's
  and the answer to a resent SYN, one millisecond tick) are seen at two TTLs, each TTL is a
  capture point that sees each transmission once: the sightings beyond another point's
  count are the copies.

- A segment without IP ID (IPv6, or IP ID 0) of a direction seen at two TTLs one or two hops
  apart: each TTL is a capture point that sees each transmission once, so its identical
  sightings are counted per point (``_count_per_near_point``), whatever the time between
  them (a router's egress queue) and whatever came between (a second duplicate ACK a
  fraction of a millisecond after the first is a second transmission, seen again at the
  same point).

A copy is judged against the nearest identical segment of its direction, up to
``LOOK_BACK_ROWS`` segments back: not only its neighbour, since a router's egress queue, a
mirror of several VLANs or two merged taps put other segments between the copies. Columnar
over the grouped rows of ``facts.compute_facts``; only the few identical pairs are looked at
one by one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pcapline.model import FIN, RST, SYN
from pcapline.read import native
from pcapline.timers import RTO_FLOOR_S, SLACK_FRACTION, TCP_TIMEOUT_INIT_S

#: Two identical packets closer than this are one packet seen twice, whoever sent them.
DUPLICATE_WINDOW_NS = 1_000_000
#: A numbered sender's IP ID repeated sooner than this is the same packet (see module docstring).
NUMBERED_WINDOW_NS = round(RTO_FLOOR_S * 1e9)
#: A numbered sender's IP ID and TSval both repeated sooner than this are the same packet (see
#: module docstring): wider than any queue or clock offset between two merged taps.
STAMPED_WINDOW_NS = 60 * 10**9
#: No stack retransmits a SYN or a SYN+ACK on its timer sooner than TCP_TIMEOUT_INIT, less the
#: timer slack for where the capture sits.
SYN_COPY_BEFORE_S = (1 - SLACK_FRACTION) * TCP_TIMEOUT_INIT_S
_SYN_WINDOW_NS = round(SYN_COPY_BEFORE_S * 1e9)
#: The slowest timestamp clock RFC 7323 allows ticks once a second (section 5.4): two
#: transmissions of one host this far apart never carry the same TSval.
SLOWEST_TS_TICK_NS = 1_000_000_000
#: Router hops between two capture points whose sightings of one numbered packet (same IP
#: ID) are one packet whatever the time between them (two taps merged, ``-i any`` on a
#: router or on a host that forwards twice).
MAX_POINT_HOPS = 2
#: How far back a copy's original is looked for, in segments of its connection. The copies
#: of one packet need not be neighbours: ``-i any`` on a router sees a packet as it comes in
#: and again as it leaves, after the egress queue (a queue of 40 segments puts 40 others
#: between the two), and a mirror of several VLANs or two merged taps repeat a whole flow
#: tens of milliseconds later. 4,096 segments is a queue of 6 MB, deeper than the time
#: windows above allow at any rate a capture keeps up with.
LOOK_BACK_ROWS = 4096

#: Copies of one packet on two interfaces of a forwarding host are microseconds apart; a full
#: egress queue holds the outgoing copy up to its latency (300 ms seen behind tbf). A SYN
#: retry comes no sooner than 1 s (TCP_TIMEOUT_INIT), with a fresh TSval and IP ID anyway.
COPY_WINDOW_NS = 1_000_000_000


def seen_again_lower(
    row: np.ndarray, seq: np.ndarray, ttl: np.ndarray, time_ns: np.ndarray
) -> np.ndarray:
    """Per packet (parallel arrays: connection row, sequence number, IP TTL, time): the same
    packet is captured again in its connection, 1 to ``MAX_POINT_HOPS`` hops lower (``ip_forward``
    takes one off each hop) within ``COPY_WINDOW_NS``: seen before a forwarding hop, and past
    it (``tcpdump -i any`` on a router, two capture points merged)."""
    order = np.lexsort((time_ns, row))
    r, q, t, ns = row[order], seq[order], ttl[order], time_ns[order]
    hops = t[:-1] - t[1:]
    pair = (
        (r[1:] == r[:-1])
        & (q[1:] == q[:-1])
        & (hops >= 1)
        & (hops <= MAX_POINT_HOPS)
        & (ns[1:] - ns[:-1] <= COPY_WINDOW_NS)
    )
    again = np.zeros(len(row), dtype=bool)
    again[order[:-1][pair]] = True
    return again


@dataclass(frozen=True, slots=True)
class Rows:
    """The per-row columns the copy rule reads (grouped order: connection, then frame)."""

    keys: tuple[np.ndarray, ...]  # ip_id, seq, ack, seg_len, flags, window, ts_val (this order)
    ip_id: np.ndarray
    ttl: np.ndarray
    time_ns: np.ndarray
    syn: np.ndarray
    ack: np.ndarray
    from_client: np.ndarray
    conn_index: np.ndarray
    starts: np.ndarray  # each connection's first row, then the row count
    dir_key: np.ndarray  # connection * 2 + from_client
    rst: np.ndarray
    sack_blocks: np.ndarray
    has_ts: np.ndarray  # the segment carries a TCP timestamp (its TSval is one of ``keys``)
    #: the highest SACK block's right edge (relative; any value where ``sack_blocks`` is 0):
    #: two duplicate ACKs whose SACK blocks differ are two (``_dupack_drawn_between``)
    sack_right: np.ndarray | None = None


def copies(r: Rows) -> np.ndarray:
    """Per row: a copy of an earlier segment of its direction (its nearest identical one,
    ``LOOK_BACK_ROWS`` segments back at most)."""
    out = np.zeros(len(r.time_ns), dtype=bool)
    later, earlier = _identical_pairs(r)
    if not len(later):
        return out
    gap = r.time_ns[later] - r.time_ns[earlier]
    syn, ack = r.syn[later], r.ack[later]
    numbered = (r.ip_id[later] != 0) & _numbered_direction(r, r.dir_key[later])
    # Same IP ID and the same TSval (one of the keys): one transmission, however far apart.
    stamped = numbered & r.has_ts[later]
    # Same IP ID one or two router hops apart (the TTL one lower past each): one packet seen
    # on both sides of a router, however far apart the two points' clocks stamp it (a
    # resend gets a new IP ID; a per-socket counter comes round only 65,536 packets later).
    hops = np.abs(r.ttl[later].astype(np.int64) - r.ttl[earlier].astype(np.int64))
    hopped = numbered & (hops >= 1) & (hops <= MAX_POINT_HOPS)
    same_packet = stamped | hopped | (numbered & (gap < NUMBERED_WINDOW_NS))
    # When each row's nearest twin was seen (none: the latest time there is), for rows of a
    # numbered sender only, whose fresh segments never repeat an IP ID: a peer segment between
    # a pair that repeats one seen before the pair began is no news to the sender (two merged
    # taps, ``-i any`` over a bridge interleave the peer's copies with ours). Without IP IDs
    # (IPv6, IP ID 0) a fresh segment can be byte-identical to an earlier one (a second RST,
    # a duplicate ACK within one timestamp tick): each is news.
    seen_ns = np.full(len(r.time_ns), np.iinfo(np.int64).max, dtype=np.int64)
    seen_ns[later[same_packet]] = r.time_ns[earlier[same_packet]]
    same_instant = gap == 0
    soon = ~syn & (gap <= DUPLICATE_WINDOW_NS) & ~same_instant
    if soon.any():
        # Between a segment and its resend on duplicate ACKs or SACK lies one of those; a
        # RST answers any segment of the peer (each one that reaches a closed socket).
        rst = r.rst[later[soon]]
        answered = np.where(
            rst,
            _nothing_between(r, earlier[soon], later[soon], seen_ns),
            ~_signalled_between(r, earlier[soon], later[soon], seen_ns),
        )
        # An ACK is never resent: a second identical one without IP ID is a second duplicate
        # ACK when the receiver was answering a segment of the peer's between the two.
        bare = ~numbered[soon] & (r.keys[3][later[soon]] == 0)
        bare &= (r.keys[4][later[soon]] & (SYN | FIN | RST)) == 0
        if bare.any():
            answered[bare] &= ~_dupack_drawn_between(
                r, earlier[soon][bare], later[soon][bare], seen_ns
            )
        soon[soon] = answered
    plain = ~syn & (soon | same_instant | same_packet)
    syn_copy = syn & ~ack & (gap < _SYN_WINDOW_NS)
    if syn_copy.any():
        first, then = earlier[syn_copy], later[syn_copy]
        # A client that ACKed a SYN+ACK is connected: it never sends that SYN again. Sooner
        # than any retransmission timer, only a RST is followed by the same SYN
        # (TCP_TIMEOUT_MIN later): its own (of a stale peer's challenge ACK or an unacceptable
        # SYN+ACK) or the peer's RST|ACK with an unacceptable ACK number, which SYN_SENT
        # ignores and rearms its timer on (tcp_rcv_synsent_state_process); a refused connect
        # is retried half a second later at the soonest (Windows).
        connected = np.zeros(len(first), dtype=bool)
        connected[_own_between(r, first, then, r.ack & ~r.syn & ~r.rst)] = True
        unprompted = gap[syn_copy] < NUMBERED_WINDOW_NS
        unprompted[_retry_prompts_between(r, first, then)] = False
        quiet = _nothing_between(r, first, then, seen_ns, answers_syn=True)
        syn_copy[syn_copy] = connected | unprompted | quiet
    # A numbered client gives a resent SYN a new IP ID too (Linux: the connecting socket's
    # counter, inet_id), so its same IP ID sooner than any timer is the same SYN even after
    # the server answered (a copy seen after the handshake: a mirror's or a merged tap's).
    syn_copy |= syn & ~ack & same_packet
    ttl_changed = r.ttl[later] != r.ttl[earlier]
    # A SYN or SYN+ACK carrying the same TSval (not 0) as its twin: a resend is stamped when
    # it leaves (Linux tcp_make_synack, tcp_transmit_skb; a millisecond clock), so the same
    # TSval is one transmission when the twin's TTL differs (one packet seen on both sides of
    # a router: the client's and the server's captures merged, ``-i any`` on the router),
    # when the sender numbers that SYN (its IP ID, not 0: a resent SYN gets a new one), or
    # past the slowest timestamp clock's tick. Two merged captures whose clocks are 0.3 s or
    # 2 s apart repeat every SYN and SYN+ACK that much later, past every timer rule above.
    stamped_syn = syn & r.has_ts[later] & (r.keys[6][later] != 0)
    stamped_syn &= ttl_changed | (gap >= SLOWEST_TS_TICK_NS)
    stamped_syn |= syn & ~ack & r.has_ts[later] & (r.keys[6][later] != 0) & (r.ip_id[later] != 0)
    syn_copy |= ~ack & stamped_syn
    synack = syn & ack
    synack_copy = synack & (
        same_packet
        | stamped_syn
        | ((gap <= DUPLICATE_WINDOW_NS) & ((r.ip_id[later] != 0) | ttl_changed | same_instant))
    )
    found = plain | syn_copy | synack_copy
    out[later[found]] = True
    # SYN+ACKs left: sooner than their timer, or with the same TSval (``_synack_copy``), with
    # no resent SYN to answer.
    same_ts = r.has_ts[later] & (r.keys[6][later] != 0)
    maybe = synack & ~found & ((gap < _SYN_WINDOW_NS) | same_ts)
    if maybe.any():
        clean_syns = r.syn & ~r.ack & r.from_client & ~out
        for row, gap_ns in zip(later[maybe].tolist(), gap[maybe].tolist(), strict=True):
            out[row] = _synack_copy(r, clean_syns, row, gap_ns)
    _count_per_point(r, out, later[syn & same_ts], earlier[syn & same_ts])
    # SYN+ACKs without IP ID or timestamp (Linux sends IP ID 0) at two TTLs, sooner than
    # their timer: each TTL a capture point that sees each transmission once.
    unstamped = synack & ~same_ts & (r.ip_id[later] == 0) & ttl_changed & (gap < _SYN_WINDOW_NS)
    _count_per_point(r, out, later[unstamped], earlier[unstamped])
    # Segments without IP ID (IPv6, or IP ID 0) of a direction seen at two TTLs one or two
    # hops apart: one capture point nearer the sender, one past a router (``-i any`` on it,
    # two taps merged), whose copy comes as late as the router's egress queue or the other
    # point's clock says, past every time rule above, and whose nothing but the TTL tells a
    # copy from a resend (the same TSval, where there is one, is in the keys). A sender's own
    # packets reach one point at one TTL, so each TTL is a capture point that sees each
    # transmission once (``_count_per_point``): a resend, or a second duplicate ACK, is seen
    # there again within the millisecond, a copy is not. (A numbered sender's twin one or
    # two hops away is ``hopped`` above; SYNs and RSTs have their own rules.)
    low = _lowest_ttls(r, r.dir_key[later])
    unnumbered = ~syn & ~r.rst[later] & ~numbered & (low[r.dir_key[later]] >= 0)
    out[later[unnumbered]] = False
    _count_per_near_point(r, out, later[unnumbered], earlier[unnumbered], low)
    # RSTs called copies by the time rule alone (no IP ID tells them apart, one clock tick,
    # one hop): each may answer its own segment of the peer's, all captured before them.
    unproven = found & r.rst[later] & ~same_packet & ~same_instant & ~ttl_changed
    for row in later[unproven].tolist():  # in row order: an earlier RST's answer counts
        out[row] = not _answered_apart(r, out, row)
    # RSTs of a connection seen at two points (a copy of another of its packets at another
    # TTL): Linux sends a RST with IP ID 0 and no timestamp, so nothing but the TTL tells its
    # copy from a second RST, and the copy comes as late as the other point's clock says. A
    # host's own RSTs reach one point at one TTL: count each point's RSTs (``_count_per_point``).
    # One point only (no such copy): a RST at another TTL may be a middlebox's, injected.
    two_point = np.zeros(len(r.starts), dtype=bool)
    two_point[r.conn_index[later[out[later] & ttl_changed & ~r.rst[later]]]] = True
    rst_pairs = r.rst[later] & ~out[later] & two_point[r.conn_index[later]]
    _count_per_point(r, out, later[rst_pairs], earlier[rst_pairs])
    return out


def pieces(
    r: Rows, resent: np.ndarray, rel_seq: np.ndarray, seg_len: np.ndarray, longest: np.ndarray
) -> np.ndarray:
    """Per row of ``resent`` (segments that repeat bytes already seen): one piece of a larger
    segment captured before it, cut up on the way, not sent again. ``longest``: per row, the
    longest segment its peer's MSS allows (0: not known).

    A router or host captured on ``-i any`` sees a packet as it comes in, merged with the
    next ones by GRO (one segment longer than the MSS, carrying the first one's IP ID), and
    again as it leaves, cut back into MSS-sized pieces by GSO, which numbers them on from
    that IP ID (IPv4: ``inet_gso_segment``). Piece k of a whole then starts k pieces into
    it, has the whole's IP ID + k, its ACK and its TSval, and leaves before any timer could
    resend it (``NUMBERED_WINDOW_NS``). A sender numbering its packets gives a resent one a
    new IP ID (``ip_select_ident``): past every piece's, except for the tail a loss probe
    resends after a TSO segment, whose IP ID is the next one and whose bytes end the
    segment. So the last, shorter piece is a piece only when the piece before it (IP ID - 1,
    the size of the others, ending where it starts) is in the capture too. An IP ID counter
    that wraps inside a whole's pieces is not followed (those pieces count as resends)."""
    found = np.zeros(len(resent), dtype=bool)
    asked = np.flatnonzero(r.ip_id[resent] != 0)
    asked = asked[_numbered_direction(r, r.dir_key[resent[asked]])]
    if not len(asked):
        return found
    rows = resent[asked]
    n_dirs = 2 * (len(r.starts) - 1)
    in_dir = np.zeros(n_dirs, dtype=bool)
    in_dir[r.dir_key[rows]] = True
    # the wholes: segments of those directions that brought new bytes, longer than the MSS
    # where it is known (GRO and TSO make nothing else); a piece is never one
    is_whole = in_dir[r.dir_key] & (seg_len > longest)
    is_whole[resent] = False
    wholes = np.flatnonzero(is_whole)
    if not len(wholes):
        return found
    keys = _dir_ip_id(r.dir_key[wholes], r.ip_id[wholes])
    by_key = np.argsort(keys, kind="stable")  # by (direction, IP ID), then row
    keys, wholes = keys[by_key], wholes[by_key]
    # every whole whose IP ID lies up to MAX_PIECES - 1 below the row's: one pair each
    ids = r.ip_id[rows] & 0xFFFF
    dirs = r.dir_key[rows].astype(np.int64) * 65536
    lo = np.searchsorted(keys, dirs + np.maximum(ids - (MAX_PIECES - 1), 0), side="left")
    hi = np.searchsorted(keys, dirs + ids, side="right")
    counts = hi - lo
    asker = np.repeat(np.arange(len(rows)), counts)
    at = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    whole = wholes[np.repeat(lo, counts) + at]
    row = rows[asker]
    k = ids[asker] - (r.ip_id[whole] & 0xFFFF)
    into = rel_seq[row] - rel_seq[whole]
    length = seg_len[row]
    ack, ts_val = r.keys[2], r.keys[6]
    ok = (whole < row) & (seg_len[whole] > length) & (into >= 0)
    ok &= into + length <= seg_len[whole]
    ok &= (ack[row] == ack[whole]) & (ts_val[row] == ts_val[whole])
    ok &= (r.time_ns[row] - r.time_ns[whole]) < NUMBERED_WINDOW_NS
    full = ok & (into == k * length)  # piece k starts k pieces in, each as long as this one
    last = ok & ~full & (k > 0) & (into + length == seg_len[whole])
    last &= into % np.maximum(k, 1) == 0
    if last.any():
        # ... the last, shorter one: only after piece k - 1, as long as the others
        held = whole[full] * MAX_PIECES + k[full]
        by_held = np.argsort(held, kind="stable")
        held, held_len = held[by_held], length[full][by_held]
        want = whole[last] * MAX_PIECES + k[last] - 1
        place = np.minimum(np.searchsorted(held, want), max(len(held) - 1, 0))
        before = (
            (held[place] == want) & (held_len[place] * k[last] == into[last])
            if len(held)
            else np.zeros(len(want), dtype=bool)
        )
        last[last] = before
    found[asked[np.unique(asker[full | last])]] = True
    return found


#: Pieces of one segment looked for (``pieces``): GRO and TSO make segments of up to 64 KB,
#: 45 pieces of 1,448 bytes; a smaller MSS makes more, and this many is where it stops.
MAX_PIECES = 64


def _dir_ip_id(dir_key: np.ndarray, ip_id: np.ndarray) -> np.ndarray:
    return np.asarray(dir_key, np.int64) * 65536 + (np.asarray(ip_id, np.int64) & 0xFFFF)


def _identical_pairs(r: Rows) -> tuple[np.ndarray, np.ndarray]:
    """(later, earlier) row pairs: each row and the nearest earlier row of its direction with
    the same keys, when that row is at most ``LOOK_BACK_ROWS`` rows before it (rows of its
    connection) and within the widest window any rule allows; in row order. One walk in the
    compiled core when it is built (``read.native``), else numpy (the reference,
    ``_identical_pairs_numpy``)."""
    if not native.active:
        return _identical_pairs_numpy(r)
    found = native.core.identical_pairs(
        tuple(native.int64s(k) for k in r.keys),
        native.int64s(r.dir_key),
        native.int64s(r.time_ns),
        STAMPED_WINDOW_NS,
        LOOK_BACK_ROWS,
    )
    later, earlier = (np.frombuffer(rows, dtype=np.int64) for rows in found)
    return later, earlier


def _identical_pairs_numpy(r: Rows) -> tuple[np.ndarray, np.ndarray]:
    """``_identical_pairs`` with numpy only: the rows sorted stably by a hash of their
    direction and keys put each row right after its nearest twin; the keys themselves are
    compared for every such neighbour (two different rows may share a hash)."""
    n = len(r.dir_key)
    if n < 2:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    h = _mixed(np.full(n, 0x9E3779B97F4A7C15, dtype=np.uint64) ^ _unsigned(r.dir_key))
    for key in r.keys:
        h = _mixed(h ^ _unsigned(key))
    by_hash = np.argsort(h, kind="stable")  # twins in row order
    later, earlier = by_hash[1:], by_hash[:-1]
    same = (h[later] == h[earlier]) & (r.dir_key[later] == r.dir_key[earlier])
    same &= (later - earlier) <= LOOK_BACK_ROWS
    same &= (r.time_ns[later] - r.time_ns[earlier]) < STAMPED_WINDOW_NS
    later, earlier = later[same], earlier[same]
    for key in r.keys:
        equal = key[later] == key[earlier]
        later, earlier = later[equal], earlier[equal]
    by_row = np.argsort(later, kind="stable")
    return later[by_row].astype(np.int64), earlier[by_row].astype(np.int64)


def _unsigned(values: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(values, dtype=np.int64).view(np.uint64)


def _mixed(h: np.ndarray) -> np.ndarray:
    """murmur3's 64-bit finaliser, a uint64 array at a time (only groups twins here: the
    compiled core hashes rows its own way)."""
    with np.errstate(over="ignore"):
        h = h ^ (h >> np.uint64(33))
        h = h * np.uint64(0xFF51AFD7ED558CCD)
        h = h ^ (h >> np.uint64(33))
        h = h * np.uint64(0xC4CEB9FE1A85EC53)
        mixed: np.ndarray = h ^ (h >> np.uint64(33))
    return mixed


def _numbered_direction(r: Rows, dirs: np.ndarray) -> np.ndarray:
    """Per direction of ``dirs`` (``dir_key`` values): its segments carry more than one IP ID
    (a counter). Only those directions' rows are read: the pairs are few, mostly."""
    n_dirs = 2 * (len(r.starts) - 1)
    asked = np.zeros(n_dirs, dtype=bool)
    asked[dirs] = True
    rows = np.flatnonzero(asked[r.dir_key])
    keys, ids = r.dir_key[rows], r.ip_id[rows]
    # Two IP IDs in a direction <=> some row's differs from one (any one) of its rows'.
    some_id = np.zeros(n_dirs, dtype=np.int64)
    some_id[keys] = ids
    numbered = np.zeros(n_dirs, dtype=bool)
    numbered[keys[ids != some_id[keys]]] = True
    return np.asarray(numbered[dirs])


def _between(
    r: Rows, earlier: np.ndarray, later: np.ndarray, seen_ns: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The other side's segments between each pair (two rows of one direction, grouped
    order) that are news to the pair's sender: (pair index, row) per such segment. A segment
    whose twin was seen before the pair began (``seen_ns``) repeats what the sender knew."""
    pair, rows = _rows_between(earlier, later)
    theirs = r.from_client[rows] != r.from_client[later[pair]]
    pair, rows = pair[theirs], rows[theirs]
    news = seen_ns[rows] > r.time_ns[earlier[pair]]
    return pair[news], rows[news]


def _dupack_drawn_between(
    r: Rows, earlier: np.ndarray, later: np.ndarray, seen_ns: np.ndarray
) -> np.ndarray:
    """Per pair of identical bare ACKs (no data, SYN, FIN or RST) of a sender without IP
    IDs: the second is a duplicate ACK of its own. A receiver answers each segment above the
    hole at once with a duplicate ACK (RFC 5681 4.2), SACKing it (RFC 2018): two whose SACK
    blocks differ in number or where the highest ends are two ACKs (a copy repeats its
    options); without SACK, a
    segment of the peer's between the two, carrying data or a FIN that does not start at the
    ACK number (out of order, or old: news to the receiver, ``_between``), drew the
    second."""
    found = r.sack_blocks[earlier] != r.sack_blocks[later]  # a copy repeats its options
    sacked = (r.sack_blocks[earlier] > 0) & (r.sack_blocks[later] > 0)
    if r.sack_right is not None:
        found |= sacked & (r.sack_right[earlier] != r.sack_right[later])
    pair, rows = _between(r, earlier, later, seen_ns)
    seq, ack, seg_len, flags = r.keys[1], r.keys[2], r.keys[3], r.keys[4]
    drew = ((seg_len[rows] > 0) | ((flags[rows] & FIN) != 0)) & (seq[rows] != ack[later[pair]])
    found[np.unique(pair[drew & ~sacked[pair]])] = True
    return np.asarray(found)


def _signalled_between(
    r: Rows, earlier: np.ndarray, later: np.ndarray, seen_ns: np.ndarray
) -> np.ndarray:
    """Per pair (two rows of one direction, grouped order): a segment of the other side that
    can draw a resend lies between them (``_loss_signals``, asked of those rows only), and is
    news to the sender (``_between``)."""
    found = np.zeros(len(earlier), dtype=bool)
    pair, rows = _between(r, earlier, later, seen_ns)
    if len(rows):
        found[np.unique(pair[_loss_signals(r, rows)])] = True
    return found


def _loss_signals(r: Rows, rows: np.ndarray) -> np.ndarray:
    """Per row of ``rows``: it carries SACK blocks, or it is a duplicate ACK (an ACK with no
    data, SYN, FIN or RST whose ACK number repeats its sender's previous segment's: what
    fast retransmit counts, RFC 5681). Only the rows of their connections are read."""
    from pcapline.facts import rows_of_connections  # (facts imports this module)

    flags, ack, seg_len = r.keys[4], r.keys[2], r.keys[3]
    near = rows_of_connections(r.starts, np.unique(r.conn_index[rows]))
    by_dir = near[np.argsort(r.dir_key[near], kind="stable")]  # frame order inside each
    previous = np.full(len(near), -1, dtype=np.int64)  # by position in ``near``
    same = r.dir_key[by_dir[1:]] == r.dir_key[by_dir[:-1]]
    previous[np.searchsorted(near, by_dir[1:][same])] = by_dir[:-1][same]
    before = previous[np.searchsorted(near, rows)]
    bare = r.ack[rows] & (seg_len[rows] == 0) & ((flags[rows] & (SYN | FIN | RST)) == 0)
    duplicate_ack = bare & (before >= 0) & (ack[rows] == ack[np.maximum(before, 0)])
    return np.asarray((r.sack_blocks[rows] > 0) | duplicate_ack)


def _nothing_between(
    r: Rows,
    earlier: np.ndarray,
    later: np.ndarray,
    seen_ns: np.ndarray,
    *,
    answers_syn: bool = False,
) -> np.ndarray:
    """Per pair (two rows of one direction, grouped order): no segment of the other side
    that is news to the sender (``_between``) lies between the two rows. ``answers_syn``:
    the pair is a client's SYN twice, and a SYN+ACK between counts only when the client
    rejected it with a RST between too (an acceptable one is ACKed, never answered by a new
    SYN; an unacceptable one draws a RST and a retry, as a stale peer's challenge ACK does)."""
    pair, rows = _between(r, earlier, later, seen_ns)
    if answers_syn and len(rows):
        synack = r.syn[rows] & r.ack[rows]
        rejected = np.zeros(len(earlier), dtype=bool)
        rejected[_own_between(r, earlier, later, r.rst)] = True
        keep = ~synack | rejected[pair]
        pair = pair[keep]
    answered = np.zeros(len(earlier), dtype=bool)
    answered[pair] = True
    return ~answered


def _own_between(r: Rows, earlier: np.ndarray, later: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The pair indexes with a row of the pair's own side where ``mask`` holds between the
    pair's two rows."""
    pair, rows = _rows_between(earlier, later)
    own = (r.from_client[rows] == r.from_client[later[pair]]) & mask[rows]
    return np.unique(pair[own])


def _retry_prompts_between(r: Rows, earlier: np.ndarray, later: np.ndarray) -> np.ndarray:
    """The pair indexes (a client's SYN twice) with a RST between that draws a SYN retry at
    once: the client's own, or the server's with an ACK number other than the SYN's next
    sequence number (SYN_SENT ignores it and rearms its timer to TCP_TIMEOUT_MIN). The
    server's acceptable RST refuses the connect: no retry sooner than half a second."""
    pair, rows = _rows_between(earlier, later)
    keep = r.rst[rows]
    pair, rows = pair[keep], rows[keep]
    seq, ack = r.keys[1], r.keys[2]
    refusal = ~r.from_client[rows] & (ack[rows] == (seq[later[pair]] + 1) % (1 << 32))
    return np.unique(pair[~refusal])


def _rows_between(earlier: np.ndarray, later: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(pair index, row) of every row strictly between each pair's two rows."""
    spans = np.maximum(later - earlier - 1, 0)
    pair = np.repeat(np.arange(len(earlier)), spans)
    offsets = np.cumsum(spans) - spans
    rows = np.repeat(earlier + 1 - offsets, spans) + np.arange(int(spans.sum()))
    return pair, rows


def _answered_apart(r: Rows, out: np.ndarray, row: int) -> bool:
    """A RST identical to an earlier one, with nothing of the peer's between the two, that
    can still be a packet of its own: more of the peer's segments it could answer were
    captured since its sender's last segment other than a RST than identical RSTs before it
    (copies aside), ``LOOK_BACK_ROWS`` rows back at most (a RST storm stays linear). A host
    answers every segment that reaches a socket that is gone with a RST of its own (Linux
    ``tcp_v4_send_reset``: seq = the segment's ACK number and no ACK flag when it carried
    one, else an ACK of its last sequence number; IP ID 0 and no timestamp), so segments
    the peer sent back to back draw identical RSTs microseconds apart, and where the RSTs
    are captured (at the peer, before the RSTs' sender saw the peer's second segment)
    nothing comes between them."""
    start = max(int(r.starts[int(r.conn_index[row])]), row - LOOK_BACK_ROWS)
    side = bool(r.from_client[row])
    own = r.from_client[start:row] == side
    normal = np.flatnonzero(own & ~r.rst[start:row])
    first = start + (int(normal[-1]) + 1 if len(normal) else 0)
    if first >= row:
        return False
    span = slice(first, row)
    seq, ack, seg_len, flags = r.keys[1], r.keys[2], r.keys[3], r.keys[4]
    theirs = (r.from_client[span] != side) & ~r.rst[span] & ~out[span]
    if r.ack[row]:  # answers a segment without an ACK: acknowledges its end
        end = seq[span] + seg_len[span] + ((flags[span] & SYN) != 0) + ((flags[span] & FIN) != 0)
        answerable = theirs & ~r.ack[span] & (end % (1 << 32) == ack[row])
    else:
        answerable = theirs & r.ack[span] & (ack[span] == seq[row])
    same = (r.from_client[span] == side) & r.rst[span] & ~out[span]
    for key in r.keys:
        same &= key[span] == key[row]
    return int(answerable.sum()) > int(same.sum())


def _lowest_ttls(r: Rows, dirs: np.ndarray) -> np.ndarray:
    """Per direction (``dir_key``), of those in ``dirs``: its lowest TTL when its segments
    carry two or more TTLs at most ``MAX_POINT_HOPS`` apart (seen at two capture points with
    a router between); -1 otherwise."""
    n_dirs = 2 * (len(r.starts) - 1)
    asked = np.zeros(n_dirs, dtype=bool)
    asked[dirs] = True
    rows = np.flatnonzero(asked[r.dir_key])
    ttl = np.asarray(r.ttl[rows], np.int64)
    high = np.full(n_dirs, -1, np.int64)
    low = np.full(n_dirs, 1 << 16, np.int64)
    np.maximum.at(high, r.dir_key[rows], ttl)
    np.minimum.at(low, r.dir_key[rows], ttl)
    spread = high - low
    return np.where(asked & (spread >= 1) & (spread <= MAX_POINT_HOPS), low, -1)


def _count_per_near_point(
    r: Rows, out: np.ndarray, later: np.ndarray, earlier: np.ndarray, low: np.ndarray
) -> None:
    """``_count_per_point`` for directions whose TTLs lie within ``MAX_POINT_HOPS`` of their
    lowest (``low``), columnar: a sighting is a copy when another TTL already saw as many of
    its chain of identical rows as its own TTL has (counting it)."""
    if not len(later):
        return
    rows = np.unique(np.concatenate((later, earlier)))
    parent = np.arange(len(rows))
    parent[np.searchsorted(rows, later)] = np.searchsorted(rows, earlier)
    while True:  # each row's chain's first row (pointer jumping)
        grand = parent[parent]
        if np.array_equal(grand, parent):
            break
        parent = grand
    order = np.lexsort((rows, parent))  # chain by chain, in row (time) order
    rows, chain = rows[order], parent[order]
    point = np.asarray(r.ttl[rows], np.int64) - low[r.dir_key[rows]]
    seen = np.zeros((len(rows), MAX_POINT_HOPS + 1), dtype=np.int64)
    seen[np.arange(len(rows)), point] = 1
    seen = np.cumsum(seen, axis=0)
    first = np.flatnonzero(np.r_[True, chain[1:] != chain[:-1]])
    before = np.zeros_like(seen)
    before[first[1:]] = seen[first[1:] - 1]
    seen -= np.maximum.accumulate(before, axis=0)  # counts within the chain so far
    own = seen[np.arange(len(rows)), point]
    seen[np.arange(len(rows)), point] = -1
    out[rows[own <= seen.max(axis=1)]] = True


def _count_per_point(r: Rows, out: np.ndarray, later: np.ndarray, earlier: np.ndarray) -> None:
    """Marks in ``out`` the copies among identical segments seen at two TTLs (SYNs or
    SYN+ACKs with one TSval, RSTs, unnumbered segments). ``later``, ``earlier``: pairs of
    such identical rows (each row's nearest twin).

    A server answers a resent SYN at once and its timer's SYN+ACK leaves microseconds away
    (``tcp_check_req``), in the same millisecond tick: two real SYN+ACKs, byte for byte the
    same. Seen at two capture points (the TTL one lower past a router), the four sightings'
    nearest twins pair the second point's two with each other, and the second of them looks
    like a packet of its own. Each TTL is one capture point: a point sees each transmission
    once, so a sighting is a copy when another point already saw as many as this one has
    (counting it); the point that saw most holds every transmission."""
    if not len(later):
        return
    root: dict[int, int] = {}
    for row, twin in sorted(zip(later.tolist(), earlier.tolist(), strict=True)):
        root[row] = root.get(twin, twin)
    groups: dict[int, list[int]] = {}
    for row, first in root.items():
        groups.setdefault(first, [first]).append(row)
    for members in groups.values():
        ttls = r.ttl[members].tolist()
        if len(set(ttls)) < 2:
            continue
        seen: dict[int, int] = {}
        for row, ttl in zip(members, ttls, strict=True):
            seen[ttl] = seen.get(ttl, 0) + 1
            most_elsewhere = max((n for t, n in seen.items() if t != ttl), default=0)
            if seen[ttl] <= most_elsewhere:
                out[row] = True


def _synack_copy(r: Rows, clean_syns: np.ndarray, row: int, gap_ns: int) -> bool:
    """A SYN+ACK identical to one ``gap_ns`` earlier, sooner than the
    SYN+ACK timer (TCP_TIMEOUT_INIT): a copy when the client had sent one SYN only (no resent
    SYN to answer: ``tcp_check_req`` answers one at once, microseconds from the timer's own
    SYN+ACK, both real) and the gap is shorter than the handshake's round trip at the capture
    point (no stack's SYN+ACK timer is shorter: a BPF program may set it to milliseconds) or,
    with the same timestamp (not 0), however far apart: a resend would carry a later TSval
    (the timer fires after 1 s at the soonest, when every timestamp clock has ticked; a BPF
    program shortens it on Linux only, whose clock ticks each millisecond), two taps merged
    milliseconds or seconds apart repeat the same one."""
    k = int(r.conn_index[row])
    start = int(r.starts[k])
    syn_rows = np.flatnonzero(clean_syns[start:row]) + start
    if len(syn_rows) > 1:
        return False
    if r.has_ts[row] and r.keys[6][row] != 0:
        return True  # the same TSval: stamped in the same clock tick, no timer's resend
    if gap_ns >= _SYN_WINDOW_NS:
        return False  # its timer may have fired
    synacks = np.flatnonzero(r.syn[start:row] & r.ack[start:row] & ~r.from_client[start:row])
    first_synack = start + int(synacks[0])
    client_acks = np.flatnonzero(
        r.from_client[first_synack:row] & r.ack[first_synack:row] & ~r.syn[first_synack:row]
    )
    if not len(client_acks):
        return True  # no ACK back yet: the round trip is longer than the gap
    acked_ns = int(r.time_ns[first_synack + int(client_acks[0])])
    sent_ns = int(r.time_ns[syn_rows[0]]) if len(syn_rows) else int(r.time_ns[first_synack])
    return gap_ns < acked_ns - sent_ns


__all__ = [
    "DUPLICATE_WINDOW_NS",
    "SLOWEST_TS_TICK_NS",
    "STAMPED_WINDOW_NS",
    "SYN_COPY_BEFORE_S",
    "Rows",
    "copies",
    "pieces",
]
