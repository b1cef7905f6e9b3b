"""Copies of one packet: the same segment seen twice, not sent twice (``facts.is_dup``).

A capture holds some packets twice: ``-i any`` on bridges, veth pairs and VLANs, two merged
taps, a fabric (Cisco FabricPath) or a switch that floods a frame on two ports, a path that
duplicates. A copy is identical to the packet it repeats: same IP ID, seq, ack, length, flags,
window and TSval. A retransmission can be identical too (IP ID 0, no timestamps), so a copy
is recognised by what the sender could NOT have done in the gap between the two:

- Within ``DUPLICATE_WINDOW_NS`` (1 ms) of the original: no timer fires that soon (the minimum
  RTO is 200 ms) and a resend on duplicate ACKs waits for a round trip of them.
- A numbered sender (its segments carry different IP IDs: Linux counts per socket,
  ``ip_select_ident``; Windows counts globally) gives every transmission a new IP ID: the
  same non-zero IP ID sooner than ``RTO_FLOOR_S`` (no retransmission timer fires sooner, and the
  counter cannot have come round) is the same packet, whatever the gap.
- A SYN is resent only by its timer (TCP_TIMEOUT_INIT, 1 s, on Linux; 3 s on Windows and old
  stacks) or after an answer (Windows retries a refused connect after the RST, a stale peer's
  challenge ACK draws a RST and a retry): the same SYN sooner than
  ``SYN_COPY_BEFORE_S`` with nothing from the server in between is a copy.
- A SYN+ACK is resent by its timer (TCP_TIMEOUT_INIT, 1 s: no RTT sample exists yet, and no
  stack's timer is shorter than the round trip) or on a resent SYN (``tcp_check_req`` answers
  it at once, so a timer's SYN+ACK and that answer can leave microseconds apart, both real).
  The same SYN+ACK sooner than that timer and sooner than the handshake's round trip, with
  only one SYN from the client so far, is a copy. Linux sends SYN+ACKs with IP ID 0, so within
  1 ms a SYN+ACK after a resent SYN is a copy only when its TTL changed (the same packet seen on
  both sides of a router) or it has the very same timestamp (one host's two transmissions are
  never seen at the same instant).

Columnar over the grouped rows of ``facts.compute_facts``; only the few identical pairs are
looked at one by one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pcapline.read import native
from pcapline.timers import RTO_FLOOR_S, SLACK_FRACTION, TCP_TIMEOUT_INIT_S

#: Two identical packets closer than this are one packet seen twice, whoever sent them.
DUPLICATE_WINDOW_NS = 1_000_000
#: A numbered sender's IP ID repeated sooner than this is the same packet (see module docstring).
NUMBERED_WINDOW_NS = round(RTO_FLOOR_S * 1e9)
#: No stack retransmits a SYN or a SYN+ACK on its timer sooner than TCP_TIMEOUT_INIT, less the
#: timer slack for where the capture sits.
SYN_COPY_BEFORE_S = (1 - SLACK_FRACTION) * TCP_TIMEOUT_INIT_S
_SYN_WINDOW_NS = round(SYN_COPY_BEFORE_S * 1e9)


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
    dir_order: np.ndarray  # rows sorted by dir_key, frame order inside each


def copies(r: Rows) -> np.ndarray:
    """Per row: a copy of one of the two previous segments of its direction."""
    out = np.zeros(len(r.time_ns), dtype=bool)
    later, earlier = _identical_pairs(r)
    if not len(later):
        return out
    gap = r.time_ns[later] - r.time_ns[earlier]
    syn, ack = r.syn[later], r.ack[later]
    numbered = (r.ip_id[later] != 0) & _numbered_direction(r, r.dir_key[later])
    plain = ~syn & ((gap <= DUPLICATE_WINDOW_NS) | (numbered & (gap < NUMBERED_WINDOW_NS)))
    syn_copy = syn & ~ack & (gap < _SYN_WINDOW_NS)
    if syn_copy.any():
        syn_copy[syn_copy] = _nothing_between(r, earlier[syn_copy], later[syn_copy])
    same_instant = gap == 0
    ttl_changed = r.ttl[later] != r.ttl[earlier]
    synack = syn & ack
    synack_copy = synack & (
        (numbered & (gap < NUMBERED_WINDOW_NS))
        | ((gap <= DUPLICATE_WINDOW_NS) & ((r.ip_id[later] != 0) | ttl_changed | same_instant))
    )
    found = plain | syn_copy | synack_copy
    out[later[found]] = True
    # SYN+ACKs left: sooner than their timer, before a second SYN, within the round trip.
    maybe = synack & ~found & (gap < _SYN_WINDOW_NS)
    if maybe.any():
        clean_syns = r.syn & ~r.ack & r.from_client & ~out
        for row, gap_ns in zip(later[maybe].tolist(), gap[maybe].tolist(), strict=True):
            out[row] = _synack_copy(r, clean_syns, row, gap_ns)
    return out


def _identical_pairs(r: Rows) -> tuple[np.ndarray, np.ndarray]:
    """(later, earlier) row pairs: identical keys, one or two segments apart in the direction,
    within the widest window any rule allows; each later row once, with its nearest original,
    in row order. One walk in the compiled core when it is built (``read.native``), else
    numpy (the reference, ``_identical_pairs_numpy``)."""
    if not native.active:
        return _identical_pairs_numpy(r)
    keys = tuple(native.int64s(k) for k in r.keys)
    found = native.core.identical_pairs(
        keys,
        native.int64s(r.dir_key),
        native.int64s(r.dir_order),
        native.int64s(r.time_ns),
        _SYN_WINDOW_NS,
    )
    later, earlier = (np.frombuffer(rows, dtype=np.int64) for rows in found)
    by_row = np.argsort(later, kind="stable")  # found in direction order
    return later[by_row], earlier[by_row]


def _identical_pairs_numpy(r: Rows) -> tuple[np.ndarray, np.ndarray]:
    """``_identical_pairs`` with numpy only. Sequence and ACK numbers are compared first over
    the whole direction-ordered rows (they differ between most neighbours, unlike the time
    window), then the few pairs left key by key."""
    rows = r.dir_order
    same_dir = r.dir_key[rows]
    t = r.time_ns[rows]
    seq, ack = r.keys[1][rows], r.keys[2][rows]
    later_all, earlier_all = [], []
    for lag in (1, 2):
        if len(rows) <= lag:
            break
        same = (seq[lag:] == seq[:-lag]) & (ack[lag:] == ack[:-lag])
        same &= same_dir[lag:] == same_dir[:-lag]
        same &= (t[lag:] - t[:-lag]) < _SYN_WINDOW_NS
        pairs = np.flatnonzero(same)
        later, earlier = rows[pairs + lag], rows[pairs]
        for key in r.keys:
            equal = key[later] == key[earlier]
            later, earlier = later[equal], earlier[equal]
        later_all.append(later)
        earlier_all.append(earlier)
    if not later_all:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    later, earlier = np.concatenate(later_all), np.concatenate(earlier_all)
    # Judge each row against its nearest original (lag 1 before lag 2 for one row).
    order = np.lexsort((-earlier, later))
    later, earlier = later[order], earlier[order]
    first = np.ones(len(later), dtype=bool)
    first[1:] = later[1:] != later[:-1]
    return later[first], earlier[first]


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


def _nothing_between(r: Rows, earlier: np.ndarray, later: np.ndarray) -> np.ndarray:
    """Per pair (two rows of one direction, grouped order): no segment of the other side
    between the two rows."""
    clients = np.cumsum(r.from_client, dtype=np.int64)  # client rows up to each row
    rows = later - earlier + 1
    client_rows = clients[later] - clients[earlier] + r.from_client[earlier]
    theirs = np.where(r.from_client[later], rows - client_rows, client_rows)
    return np.asarray(theirs == 0)


def _synack_copy(r: Rows, clean_syns: np.ndarray, row: int, gap_ns: int) -> bool:
    """A SYN+ACK identical to one ``gap_ns`` earlier, sooner than the SYN+ACK timer: a copy
    when the client had sent one SYN only (no resent SYN to answer) and the gap is shorter than
    the handshake's round trip at the capture point (no timer is shorter)."""
    k = int(r.conn_index[row])
    start = int(r.starts[k])
    syn_rows = np.flatnonzero(clean_syns[start:row]) + start
    if len(syn_rows) > 1:
        return False
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


__all__ = ["DUPLICATE_WINDOW_NS", "SYN_COPY_BEFORE_S", "Rows", "copies"]
