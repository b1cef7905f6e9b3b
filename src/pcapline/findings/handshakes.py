"""Per-SYN and per-connection handshake facts the cross-connection finders share.

Computed once per capture with plain numpy over the whole segments table (no pandas groupby:
a scan calls this for thousands of small captures, where per-call overhead is what counts).
Nothing here decides anything; it describes what the wire shows:

- per client SYN (SYN without ACK/RST, sent by the client): whether *this* SYN was answered
  (``answered``: a server SYN+ACK in the same connection after it and before the client's next
  SYN) or got any reply at all (``replied``: also a RST or a challenge ACK; an unreplied SYN was
  silently dropped or lost). A retransmitted SYN carries the same ISN and a fresh TSval (Linux),
  so each SYN is judged on its own, as the server's ``tcp_conn_request()`` does.
- per connection (aligned with the connections table's rows): whether the client completed the
  handshake (a non-SYN ACK from the client), whether a RST was seen, who sent the first FIN,
  the last client TSval with its time (what a Linux server keeps as ``ts_recent`` /
  ``ts_recent_stamp``), the time of the client's first ACK, the raw seq and ack of its
  first segment past the handshake, and the IP TTL of the server side's first RST. The accept-queue-overflow
  signatures are the handshake detector's (``detect/handshake.py``), read by
  ``listen_overflow.py`` from the typed detections, not worked out again here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import pandas as pd

from pcapline.facts import extreme_per_key
from pcapline.model import ACK, FIN, RST, SYN

NO_TIME = np.iinfo(np.int64).max
TIME_MIN = np.iinfo(np.int64).min
GROUP_KEYS: tuple[str, ...] = ("server_ip", "server_port", "client_ip")
CONN_COLUMNS: tuple[str, ...] = (
    "id",
    "server_ip",
    "server_port",
    "client_ip",
    "client_port",
    "start_ns",
    "end_ns",
)


@dataclass(frozen=True, slots=False)
class Handshakes:
    """Columnar facts; ``syns`` and ``conns`` DataFrames are built only when a finder asks."""

    connections: pd.DataFrame
    syn_row: np.ndarray  # per SYN: row of its connection in ``connections``
    syn_frame: np.ndarray
    syn_ns: np.ndarray
    syn_has_ts: np.ndarray
    syn_ts: np.ndarray
    syn_isn: np.ndarray  # per SYN: its sequence number (the client's ISN), as on the wire
    syn_ttl: np.ndarray  # per SYN: its IP TTL (IPv6: hop limit)
    syn_ip_id: np.ndarray  # per SYN: its IPv4 ID (IPv6: 0)
    syn_answered: np.ndarray
    syn_replied: np.ndarray
    conn_facts: dict[str, np.ndarray]  # per connection row, see ``conns``
    synack_row: np.ndarray  # per server SYN+ACK: connection row
    synack_ns: np.ndarray
    synack_isn: np.ndarray  # per server SYN+ACK: its sequence number (the server's ISN)
    synack_ttl: np.ndarray  # per server SYN+ACK: its IP TTL (IPv6: hop limit)

    @cached_property
    def syns(self) -> pd.DataFrame:
        """One row per client SYN: conn, frame, time_ns, has_ts, ts_val, answered, replied + group keys."""
        # Only the columns read below: the connections table holds every verdict column too,
        # and taking its rows whole copied them all (most of this table's cost).
        keys = self.connections[["id", *GROUP_KEYS]].iloc[self.syn_row]
        frame = pd.DataFrame(
            {
                "conn": keys["id"].to_numpy(),
                "frame": self.syn_frame,
                "time_ns": self.syn_ns,
                "has_ts": self.syn_has_ts,
                "ts_val": self.syn_ts,
                "answered": self.syn_answered,
                "replied": self.syn_replied,
            }
        )
        for key in GROUP_KEYS:
            # ``.array`` (positional, no index): the addresses stay Arrow strings; through
            # ``to_numpy`` each became a Python str and then an Arrow string again, about
            # 300 MB at the peak of a capture with a million SYNs.
            frame[key] = keys[key].array
        return frame

    @cached_property
    def conns(self) -> pd.DataFrame:
        """The connections' identity columns plus every per-connection fact."""
        frame = self.connections[list(CONN_COLUMNS)].reset_index(drop=True)
        for name, values in self.conn_facts.items():
            frame[name] = values
        return frame

    def any_fact(self, name: str) -> bool:
        return bool(self.conn_facts[name].any())

    def only(self, keep: np.ndarray) -> Handshakes:
        """These facts for the connections rows where ``keep`` holds (rows renumbered)."""
        new_row = np.cumsum(keep) - 1
        syns, synacks = keep[self.syn_row], keep[self.synack_row]
        return Handshakes(
            connections=self.connections[keep].reset_index(drop=True),
            syn_row=new_row[self.syn_row[syns]],
            syn_frame=self.syn_frame[syns],
            syn_ns=self.syn_ns[syns],
            syn_has_ts=self.syn_has_ts[syns],
            syn_ts=self.syn_ts[syns],
            syn_isn=self.syn_isn[syns],
            syn_ttl=self.syn_ttl[syns],
            syn_ip_id=self.syn_ip_id[syns],
            syn_answered=self.syn_answered[syns],
            syn_replied=self.syn_replied[syns],
            conn_facts={name: values[keep] for name, values in self.conn_facts.items()},
            synack_row=new_row[self.synack_row[synacks]],
            synack_ns=self.synack_ns[synacks],
            synack_isn=self.synack_isn[synacks],
            synack_ttl=self.synack_ttl[synacks],
        )


def _rows_of_ids(ids: np.ndarray, order: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """``order[min(searchsorted(ids, wanted, sorter=order), n - 1)]`` (``order`` sorts
    ``ids``): the row of each wanted id, an absent one clipped as the search clips it.
    A partition's segments are in frame order, its connections' ids spread over the whole
    capture's: searched one by one that cost 25 ms per 300 k segments; looked up in a table
    of the ids' span, searched once per value of the span, 4 ms."""
    n = len(ids)
    lo, hi = (int(ids[order[0]]), int(ids[order[-1]])) if n else (0, 0)
    if not n or hi - lo > 2 * len(wanted) or not _ID_MIN < lo <= hi < _ID_MAX:
        # few segments for a wide span (the table would cost more than the search and its
        # temporaries would weigh), or ids at int64's ends (no slot beside them)
        pos = np.searchsorted(ids, wanted, sorter=order)
        return order[np.minimum(pos, n - 1, out=pos)]
    # Every id below the span searches to 0, every id above it to n: one slot each.
    pos = np.searchsorted(ids, np.arange(lo - 1, hi + 2, dtype=np.int64), sorter=order)
    table = order[np.minimum(pos, n - 1, out=pos)]
    del pos
    found: np.ndarray = table[np.clip(wanted, lo - 1, hi + 1) - (lo - 1)]
    return found


_ID_MIN, _ID_MAX = int(np.iinfo(np.int64).min) + 1, int(np.iinfo(np.int64).max) - 1


def summarize(segments: pd.DataFrame, connections: pd.DataFrame) -> Handshakes:
    conns = connections.reset_index(drop=True)
    ids = conns["id"].to_numpy(dtype=np.int64)
    order = np.argsort(ids, kind="stable")
    n = len(ids)
    # connections row of every segment (ids 0..n-1 in order: its id, clipped)
    row = _rows_of_ids(ids, order, segments["conn"].to_numpy(dtype=np.int64))
    frame = segments["frame"].to_numpy(dtype=np.int64)
    time_ns = segments["time_ns"].to_numpy(dtype=np.int64)
    flags = segments["flags"].to_numpy()  # its own narrow type: the flag tests read less
    from_client = segments["from_client"].to_numpy(dtype=bool)
    has_ts = segments["has_ts"].to_numpy(dtype=bool)
    ts_val = segments["ts_val"].to_numpy()  # widened at the few rows kept
    seq = segments["seq"].to_numpy()

    is_syn = from_client & ((flags & (SYN | ACK | RST)) == SYN)
    is_synack = ~from_client & ((flags & (SYN | ACK | RST)) == (SYN | ACK))
    is_client_ack = from_client & ((flags & ACK) != 0) & ((flags & (SYN | RST)) == 0)
    is_rst = (flags & RST) != 0

    syn_idx = np.flatnonzero(is_syn)
    syn_idx = syn_idx[np.lexsort((frame[syn_idx], time_ns[syn_idx], row[syn_idx]))]
    answered = _replied(row, time_ns, syn_idx, is_synack, n)
    replied = _replied(row, time_ns, syn_idx, ~from_client, n)

    first_ack = extreme_per_key(np.minimum, row[is_client_ack], time_ns[is_client_ack], n, NO_TIME)

    fin_idx = np.flatnonzero((flags & FIN) != 0)
    first_fin_from_client = np.zeros(n, dtype=bool)
    has_fin = np.zeros(n, dtype=bool)
    fin_rows, first = np.unique(row[fin_idx], return_index=True)  # rows are in frame order
    has_fin[fin_rows] = True
    first_fin_from_client[fin_rows] = from_client[fin_idx[first]]

    ts_idx = np.flatnonzero(from_client & has_ts)
    # Each connection's latest such segment (segments are in frame order). A maximum, not a
    # plain scatter: numpy does not promise which of repeated indices a scatter keeps.
    last_of_row = extreme_per_key(np.maximum, row[ts_idx], ts_idx, n, -1)
    has_client_ts = last_of_row >= 0
    last_rows, last = np.flatnonzero(has_client_ts), last_of_row[has_client_ts]
    last_client_ts = np.zeros(n, dtype=np.int64)
    last_client_ts_ns = np.full(n, NO_TIME, dtype=np.int64)
    last_client_ts[last_rows] = ts_val[last].astype(np.int64)
    last_client_ts_ns[last_rows] = time_ns[last]

    # Each connection's first client segment past the handshake (ACK set, no SYN or RST): its
    # raw seq and ack say whose byte stream it carries on (``nat_remap``).
    ack_idx = np.flatnonzero(is_client_ack)
    first_of_row = extreme_per_key(np.minimum, row[ack_idx], ack_idx, n, len(frame))
    has_ack_row = first_of_row < len(frame)
    ack_rows, ack_first = np.flatnonzero(has_ack_row), first_of_row[has_ack_row]
    first_client_seq = np.full(n, -1, dtype=np.int64)
    first_client_ack = np.full(n, -1, dtype=np.int64)
    if "ack" in segments.columns:  # tables built for one finder may lack it: then unknown
        first_client_seq[ack_rows] = seq[ack_first].astype(np.int64)
        first_client_ack[ack_rows] = segments["ack"].to_numpy()[ack_first].astype(np.int64)

    # Each connection's first RST from the server's side: its TTL (``path_resets``).
    rst_idx = np.flatnonzero(is_rst & ~from_client)
    first_rst = extreme_per_key(np.minimum, row[rst_idx], rst_idx, n, len(frame))
    has_rst = first_rst < len(frame)
    server_rst_ttl = np.full(n, -1, dtype=np.int64)
    ttl = segments["ttl"].to_numpy()
    server_rst_ttl[has_rst] = ttl[first_rst[has_rst]].astype(np.int64)
    # ... and the lowest TTL any RST from that side arrived with: the first RST's copy past a
    # forwarding hop, when the capture holds both sides of one (``seen_again_lower``).
    low = extreme_per_key(np.minimum, row[rst_idx], ttl[rst_idx].astype(np.int64), n, 256)
    server_rst_low_ttl = np.where(has_rst, low, -1)

    facts = {
        "syns": np.bincount(row[syn_idx], minlength=n),
        "client_acked": _any(row, is_client_ack, n),
        "synack_sent": _any(row, is_synack, n),
        "rst": _any(row, is_rst, n),
        "server_closed_first": has_fin & ~first_fin_from_client,
        "has_client_ts": has_client_ts,
        "last_client_ts": last_client_ts,
        "last_client_ts_ns": last_client_ts_ns,
        "first_client_ack_ns": first_ack,
        "first_client_seq": first_client_seq,  # -1: no client ACK segment
        "first_client_ack": first_client_ack,
        "server_rst_ttl": server_rst_ttl,  # -1: no RST from the server's side
        "server_rst_low_ttl": server_rst_low_ttl,  # its lowest sighting (-1: none)
    }
    return Handshakes(
        connections=conns,
        syn_row=row[syn_idx],
        syn_frame=frame[syn_idx],
        syn_ns=time_ns[syn_idx],
        syn_has_ts=has_ts[syn_idx],
        syn_ts=ts_val[syn_idx].astype(np.int64),
        syn_isn=seq[syn_idx].astype(np.int64),
        syn_ttl=ttl[syn_idx].astype(np.int64),
        syn_ip_id=segments["ip_id"].to_numpy()[syn_idx].astype(np.int64),
        syn_answered=answered,
        syn_replied=replied,
        conn_facts=facts,
        synack_row=row[is_synack],
        synack_ns=time_ns[is_synack],
        synack_isn=seq[is_synack].astype(np.int64),
        synack_ttl=ttl[is_synack].astype(np.int64),
    )


def concat(parts: Sequence[Handshakes], connections: pd.DataFrame) -> Handshakes:
    """``summarize`` of a whole capture from its parts' (each over the segments and
    connections of whole 4-tuples, as the bounded-memory engine analyses them): every fact is
    one connection's or one SYN's, so only the rows move. ``connections``: every part's
    connections (any columns the finders read), by id. Per-connection facts follow its rows,
    SYNs are ordered by connection row, time and frame as ``summarize`` orders them; SYN+ACKs
    keep their parts' order, each part's in frame order (``nat_timestamp`` asks whether any
    falls in a span; ``nat_copies`` takes each connection's first, and a connection's rows
    are all in one part)."""
    conns = connections.reset_index(drop=True)
    ids = conns["id"].to_numpy(dtype=np.int64)
    parts = [p for p in parts if len(p.connections)]
    if len(parts) == 1 and np.array_equal(parts[0].connections["id"].to_numpy(np.int64), ids):
        # One part holding every connection, in the same rows (a capture analysed in one
        # piece): its rows are the capture's and its SYNs already in summarize's order.
        return replace(parts[0], connections=conns)
    by_id = np.argsort(ids, kind="stable")

    def rows(part: Handshakes, local: np.ndarray) -> np.ndarray:
        """Rows of ``conns`` of a part's connection rows."""
        wanted = part.connections["id"].to_numpy(dtype=np.int64)[local]
        found: np.ndarray = by_id[np.searchsorted(ids, wanted, sorter=by_id)]
        return found

    n = len(ids)
    names = list(parts[0].conn_facts) if parts else []
    facts: dict[str, np.ndarray] = {}
    for name in names:
        values = [p.conn_facts[name] for p in parts]
        column = np.zeros(n, dtype=np.result_type(*values))
        for part, value in zip(parts, values, strict=True):
            column[rows(part, np.arange(len(part.connections)))] = value
        facts[name] = column

    def joined(name: str) -> np.ndarray:
        if not parts:
            return np.zeros(0, np.int64)
        return np.concatenate([getattr(p, name) for p in parts])

    syn_row = np.concatenate([rows(p, p.syn_row) for p in parts]) if parts else joined("syn_row")
    syn_frame, syn_ns = joined("syn_frame"), joined("syn_ns")
    order = np.lexsort((syn_frame, syn_ns, syn_row))
    synack_row = (
        np.concatenate([rows(p, p.synack_row) for p in parts]) if parts else joined("synack_row")
    )
    return Handshakes(
        connections=conns,
        syn_row=syn_row[order],
        syn_frame=syn_frame[order],
        syn_ns=syn_ns[order],
        syn_has_ts=joined("syn_has_ts")[order].astype(bool),
        syn_ts=joined("syn_ts")[order],
        syn_isn=joined("syn_isn")[order],
        syn_ttl=joined("syn_ttl")[order],
        syn_ip_id=joined("syn_ip_id")[order],
        syn_answered=joined("syn_answered")[order].astype(bool),
        syn_replied=joined("syn_replied")[order].astype(bool),
        conn_facts=facts,
        synack_row=synack_row,
        synack_ns=joined("synack_ns"),
        synack_isn=joined("synack_isn"),
        synack_ttl=joined("synack_ttl"),
    )


def _any(row: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros(n, dtype=bool)
    out[row[mask]] = True
    return out


def _replied(
    row: np.ndarray, time_ns: np.ndarray, syn_idx: np.ndarray, reply_mask: np.ndarray, n: int
) -> np.ndarray:
    """Per SYN (``syn_idx``, sorted by connection then time): a reply row in the same connection
    at or after it and before that connection's next SYN. A connection's only SYN needs just
    its latest reply; the few connections with several SYNs are sorted (``_replied_between``)."""
    if len(syn_idx) == 0:
        return np.zeros(0, dtype=bool)
    reply_idx = np.flatnonzero(reply_mask)
    syn_rows = row[syn_idx]
    several = np.zeros(n, dtype=bool)
    several[syn_rows[1:][syn_rows[1:] == syn_rows[:-1]]] = True
    reply_rows, reply_ns = row[reply_idx], time_ns[reply_idx]
    timed = reply_ns < NO_TIME  # what the next-SYN bound (NO_TIME: none) lets through
    latest = extreme_per_key(np.maximum, reply_rows[timed], reply_ns[timed], n, TIME_MIN)
    out = np.asarray(latest[syn_rows] >= time_ns[syn_idx])
    again = several[syn_rows]
    if again.any():
        replies = reply_idx[several[reply_rows]]
        out[again] = _replied_between(row, time_ns, syn_idx[again], replies)
    return out


def _replied_between(
    row: np.ndarray, time_ns: np.ndarray, syn_idx: np.ndarray, reply_idx: np.ndarray
) -> np.ndarray:
    """``_replied`` by one sorted stream of SYNs and replies (any number of SYNs per
    connection; ``reply_idx``: the replies of the SYNs' connections)."""
    # One sorted stream of SYNs (kind 0) and replies (kind 1) by connection, time, kind.
    rows = np.concatenate([row[syn_idx], row[reply_idx]])
    times = np.concatenate([time_ns[syn_idx], time_ns[reply_idx]])
    kind = np.concatenate([np.zeros(len(syn_idx), np.int8), np.ones(len(reply_idx), np.int8)])
    order = np.lexsort((kind, times, rows))
    rows, times, kind = rows[order], times[order], kind[order]
    # Index of the next reply at or after each position (then checked to be in the same connection).
    big = len(order)
    candidate = np.where(kind == 1, np.arange(big), big)
    next_reply = np.minimum.accumulate(candidate[::-1])[::-1]
    syn_pos = np.flatnonzero(kind == 0)  # SYNs in (row, time) order == syn_idx order
    found = next_reply[syn_pos]
    ok = found < big
    safe = np.minimum(found, big - 1)
    ok &= rows[safe] == rows[syn_pos]
    syn_rows = rows[syn_pos]
    next_syn = np.full(len(syn_pos), NO_TIME, dtype=np.int64)
    same = syn_rows[1:] == syn_rows[:-1]
    next_syn[:-1][same] = times[syn_pos][1:][same]
    return np.asarray(ok & (times[safe] < next_syn))
