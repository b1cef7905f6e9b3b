"""Flows stage: TCP segments -> connections, numbered exactly like Wireshark's ``tcp.stream``.

Rows are grouped by their unordered 4-tuple (address/port pairs in either direction).
One 4-tuple becomes several connections only by Wireshark 4.0's port-reuse rule
(``dissect_tcp()`` in packet-tcp.c): a pure SYN (SYN without ACK) whose sequence number
differs from the conversation's stored base sequence for its direction starts a new
conversation. A SYN with the same ISN is a retransmission and stays. The base sequence
of a direction is set by the first segment that can set it, whichever comes first:

* a segment sent in that direction: its seq if it is a SYN, else seq - 1;
* a segment with ACK sent the other way: ack - 1.

A SYN+ACK whose seq differs from its direction's base does not start a conversation,
but it flags "port numbers reused" and RESETS that base to its seq (tshark 4.0.17 then
shows it with relative seq 0), so a later SYN is compared with the new value. Wireshark
4.0 does not split on a SYN after FIN/RST with the same ISN (newer versions do).
Stream ids are given in order of each connection's first segment.

Who is the client:

1. the sender of the connection's first pure SYN; else
2. the receiver of its first SYN+ACK; else
2b. the receiver of its first RST+ACK with sequence number 0: a RST answering a segment
   without ACK takes sequence number 0 (RFC 793 3.4, Linux ``tcp_v4_send_reset``), so it
   reset a SYN, sent by the side it goes to (a RST-only capture, one direction captured);
   else (``client_guessed`` = True)
3. the side whose first payload is a client's message (an HTTP request line, a TLS
   ClientHello) or that received a server's (status line, ServerHello), as ``app``
   recognised them (``with_app_roles``, applied once ``app`` has read the payloads); else
4. the side whose peer's port is a well-known service port at or above 1024
   (``SERVICE_PORTS``: DNP3 20000, IEC 60870-5-104 2404, OPC UA 4840, ... , MySQL 3306)
   while its own is not, nor below 1024: a Windows client's ephemeral port (1025-5000 before
   Vista) lies below such a service's, so rule 5 would turn it around; else
5. the side with the higher port (ephemeral ports are above the service port; with
   equal ports, the sender of the first segment).

``build_flows`` applies rules 1, 2, 4 and 5; the engine then hands ``app``'s finding to
``with_app_roles``, which turns the port guesses it contradicts. Stream ids never change.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Collection, Sequence

import numpy as np
import pandas as pd

from pcapline import seqnum
from pcapline.facts import extreme_per_key
from pcapline.model import ACK, CONNECTION_COLUMNS, FLOW_COLUMNS, RST, SYN
from pcapline.read import native

#: The connections columns this stage fills (identity and volume); classify adds the rest.
CONNECTION_ID_COLUMNS: tuple[str, ...] = CONNECTION_COLUMNS[
    : CONNECTION_COLUMNS.index("bytes_server") + 1
]


def build_flows(segments: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Add ``conn``/``from_client`` to the segments; return them and the connections table."""
    if not segments["frame"].is_monotonic_increasing:
        segments = segments.sort_values("frame", kind="stable")
    segments = segments.reset_index(drop=True)
    n = len(segments)
    if n == 0:
        return _without_segments(segments), _empty_connections()
    key, forward = tuple_keys(segments)
    conn = _split_port_reuse(segments, key, forward)
    from_client, guessed = _client_side(segments, conn, forward)
    out = segments.copy(deep=False)  # new columns only: the segments' own are shared, not copied
    out["conn"] = conn.astype(FLOW_COLUMNS["conn"])
    out["from_client"] = from_client.astype(FLOW_COLUMNS["from_client"])
    return out, _connections(out, guessed)


def tuple_keys(segments: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Id of each row's unordered 4-tuple (in order of first appearance), and whether the
    row goes from the tuple's "low" endpoint to its "high" one."""
    src_hi = segments["src_hi"].to_numpy()
    src_lo = segments["src_lo"].to_numpy()
    dst_hi = segments["dst_hi"].to_numpy()
    dst_lo = segments["dst_lo"].to_numpy()
    sport = segments["sport"].to_numpy()
    dport = segments["dport"].to_numpy()
    version = segments["ip_version"].to_numpy()
    # IPv4 only (every high half 0): the order and the keys need the low halves alone.
    narrow = not (src_hi.any() or dst_hi.any())
    forward = (src_lo < dst_lo) | ((src_lo == dst_lo) & (sport <= dport))
    if not narrow:
        forward = (src_hi < dst_hi) | ((src_hi == dst_hi) & forward)
    a_lo, b_lo = np.where(forward, src_lo, dst_lo), np.where(forward, dst_lo, src_lo)
    a_port, b_port = np.where(forward, sport, dport), np.where(forward, dport, sport)
    # The version and both ports in one word: an IPv6 ::a.b.c.d end (version 6, high half 0)
    # never joins the IPv4 tuple of the same numbers.
    ends = (version.astype(np.int64) << 32) | (a_port.astype(np.int64) << 16) | b_port
    if narrow and len(version) and int(max(a_lo.max(), b_lo.max())) >> 32 == 0:
        addresses = (a_lo.astype(np.uint64, copy=False) << np.uint64(32)) | b_lo
        return first_seen_ids([addresses, ends]), forward
    a_hi, b_hi = np.where(forward, src_hi, dst_hi), np.where(forward, dst_hi, src_hi)
    return first_seen_ids([a_hi, a_lo, b_hi, b_lo, ends]), forward


def first_seen_ids(columns: Sequence[np.ndarray]) -> np.ndarray:
    """Each row's number among the distinct rows of ``columns`` (equal length, 64-bit
    integers), numbered in order of first appearance: ``groupby(sort=False).ngroup()``.

    The compiled core does it in one walk with a hash table of the distinct rows; numpy,
    the reference, factorizes each column and then the pairs of numbers, one column at a time
    (a pair of numbers below n fits one int64 as ``first * n + second``)."""
    if native.active:
        out = np.empty(len(columns[0]), np.int64)
        native.core.first_seen_ids(tuple(_int64_view(c) for c in columns), out.data)
        return out
    key, _ = pd.factorize(columns[0])
    for column in columns[1:]:
        codes, distinct = pd.factorize(column)
        key, _ = pd.factorize(key.astype(np.int64) * len(distinct) + codes)
    return np.asarray(key, np.int64)


def _int64_view(column: np.ndarray) -> memoryview:
    """A 64-bit integer column as the core reads it, its bits unchanged (uint64 addresses
    are viewed, not converted)."""
    if column.dtype == np.uint64:
        column = column.view(np.int64)
    return native.int64s(column)


def _split_port_reuse(segments: pd.DataFrame, key: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """Connection id per row: 4-tuple groups, split where Wireshark 4.0 starts a new stream."""
    flags = segments["flags"].to_numpy()
    pure_syn = (flags & (SYN | ACK)) == SYN
    # Only tuples with a pure SYN that is not their first row can split (tuple ids are in
    # order of first appearance, so ``first_rows`` finds each tuple's first row).
    tuple_starts = first_rows(key)
    later = np.ones(len(key), bool)
    later[tuple_starts] = False
    candidates = np.unique(key[pure_syn & later])
    if not candidates.size:
        return key  # no port reuse: tuple ids are already in order of first appearance
    # Tuple ids are 0..max: a lookup table marks the candidates (np.isin hashes or sorts).
    marked = np.zeros(len(tuple_starts), dtype=bool)
    marked[candidates] = True
    involved = np.flatnonzero(marked[key])
    order = involved[np.argsort(key[involved], kind="stable")]  # tuple by tuple, frame order
    tuple_first = np.ones(order.size, bool)
    tuple_first[1:] = key[order[1:]] != key[order[:-1]]
    # Only the rows of the tuples walked are widened, not the whole columns.
    seq = segments["seq"].to_numpy()[order].astype(np.int64)
    ack = segments["ack"].to_numpy()[order].astype(np.int64)
    cut_at = _reuse_cuts(flags[order], seq, ack, forward[order], tuple_first)
    if not cut_at.size:
        return key
    cut = np.zeros(order.size, np.int64)
    cut[cut_at] = 1
    # nth connection of its tuple = cuts so far in the tuple (a tuple's first row is
    # never a cut, so the running count there is what earlier tuples used up).
    cuts_so_far = np.cumsum(cut)
    starts = np.flatnonzero(tuple_first)
    segment_no = np.zeros(len(key), np.int64)  # which connection of its tuple a row belongs to
    segment_no[order] = cuts_so_far - np.repeat(
        cuts_so_far[starts], np.diff(starts, append=order.size)
    )
    return _numbered_connections(key, segment_no, tuple_starts, order[cut_at])


def _numbered_connections(
    key: np.ndarray, segment_no: np.ndarray, tuple_starts: np.ndarray, cut_rows: np.ndarray
) -> np.ndarray:
    """Connection id per row, (tuple, nth connection of the tuple) numbered in order of
    first appearance. A connection's first row is its tuple's first row or a cut, so ranking
    those rows numbers the connections (no hashing of the pairs, as ``pd.factorize`` would)."""
    connections_of = np.bincount(key[cut_rows], minlength=len(tuple_starts)) + 1
    base = np.cumsum(connections_of) - connections_of  # each tuple's first slot
    slot = base[key] + segment_no  # one slot per (tuple, nth connection)
    firsts = np.union1d(tuple_starts, cut_rows)  # every connection's first row, in order
    ids = np.empty(len(firsts), np.int64)
    ids[slot[firsts]] = np.arange(len(firsts), dtype=np.int64)
    return np.asarray(ids[slot])


def _reuse_cuts(
    flags: np.ndarray, seq: np.ndarray, ack: np.ndarray, forward: np.ndarray, first: np.ndarray
) -> np.ndarray:
    """Rows where a new conversation starts, over rows grouped by 4-tuple in frame order
    (``first`` marks each tuple's first row).

    A direction's base sequence at row p of the current conversation is the seq of its
    latest SYN+ACK before p (a SYN+ACK either matches the base or resets it), else the value
    of the first row of the conversation able to set it (see the module docstring). A cut
    moves the conversation start later SYNs are compared against, so the pure-SYN rows are
    walked in one Python loop; what each step looks up is found for all rows beforehand:
    per direction, the latest SYN+ACK before each row (a running max of positions) and the
    first row at or after each row able to set the base (a running min from the end).
    """
    n = flags.size
    position = np.arange(n)
    syn = flags & SYN != 0
    has_ack = flags & ACK != 0
    tuple_start = np.maximum.accumulate(np.where(first, position, 0))
    pure = np.flatnonzero(syn & ~has_ack)
    # Per direction, per pure SYN: the latest SYN+ACK row before it and that SYN+ACK's seq;
    # the first base setter (row, value) at or after the SYN and at or after its tuple's
    # first row (where the conversation starts after a cut, or at the tuple's beginning).
    synack_at: list[list[int]] = []
    synack_seq: list[list[int]] = []
    setter_from_syn: list[list[tuple[int, int]]] = []
    setter_from_tuple: list[list[tuple[int, int]]] = []
    for direction in (False, True):
        own = forward == direction
        latest = np.maximum.accumulate(np.where(own & syn & has_ack, position, -1))
        before = np.concatenate(([-1], latest[:-1]))[pure]  # strictly before the SYN
        synack_at.append(before.tolist())
        synack_seq.append(seq[np.maximum(before, 0)].tolist())
        can_set = own | (~own & has_ack)
        value = seqnum.wrap(np.where(own, np.where(syn, seq, seq - 1), ack - 1))
        next_setter = np.minimum.accumulate(np.where(can_set, position, n)[::-1])[::-1]
        for found, at in ((setter_from_syn, pure), (setter_from_tuple, tuple_start[pure])):
            where = next_setter[at]
            values = value[np.minimum(where, n - 1)]  # where == n: no setter (never used)
            found.append(list(zip(where.tolist(), values.tolist(), strict=True)))
    cuts: list[int] = []
    start = -1  # the current conversation's first row
    setter = ((n, 0), (n, 0))  # its first base setter (row, value), per direction
    walk = zip(
        pure.tolist(),
        tuple_start[pure].tolist(),
        forward[pure].tolist(),
        seq[pure].tolist(),
        strict=True,
    )
    for k, (p, tuple_at, way, syn_seq) in enumerate(walk):
        if tuple_at > start:  # the first pure SYN of the next tuple
            start = tuple_at
            setter = (setter_from_tuple[0][k], setter_from_tuple[1][k])
        if p == start:
            continue
        d = int(way)
        base: int | None = None
        if synack_at[d][k] >= start:
            base = synack_seq[d][k]
        elif setter[d][0] < p:
            base = setter[d][1]
        if base is not None and base != syn_seq:
            cuts.append(p)
            start = p
            setter = (setter_from_syn[0][k], setter_from_syn[1][k])
    return np.asarray(cuts, dtype=np.int64)


def first_rows(conn: np.ndarray) -> np.ndarray:
    """Row index of each connection's first segment. Ids are numbered in order of first
    appearance over frame-ordered rows, so a first row is where the id exceeds every id
    before it (O(n), no sort)."""
    if conn.size == 0:
        return np.zeros(0, np.int64)
    seen_max = np.maximum.accumulate(conn)
    return np.flatnonzero(np.r_[True, conn[1:] > seen_max[:-1]])


def last_rows(conn: np.ndarray, n_conn: int) -> np.ndarray:
    """Row index of each connection's last segment: rows written in order, so each
    connection's slot keeps its last row (as ``facts._direction_first_at`` relies on)."""
    last = np.zeros(n_conn, np.int64)
    last[conn] = np.arange(conn.size, dtype=np.int64)
    return last


#: Service ports at or above 1024 whose clients' ephemeral ports may lie below them (rule 4).
#: Industrial: DNP3 20000, IEC 60870-5-104 2404, OPC UA 4840, BACnet/IP 47808, EtherNet/IP
#: 44818, Omron FINS 9600, HART-IP 5094, Niagara Fox 1911 and 4911 (Modbus 502 and S7 / MMS
#: 102 are below 1024: rule 5 already finds them). Common others: MS SQL 1433, Oracle 1521,
#: MySQL 3306, RDP 3389, PostgreSQL 5432, AMQP 5672, VNC 5900, Redis 6379, HTTP 8080 and
#: 8443, Kafka 9092, Elasticsearch 9200, memcached 11211, MongoDB 27017.
_INDUSTRIAL_PORTS = (1911, 2404, 4840, 4911, 5094, 9600, 20000, 44818, 47808)
_DATABASE_PORTS = (1433, 1521, 3306, 5432, 6379, 9200, 11211, 27017)
_OTHER_PORTS = (3389, 5672, 5900, 8080, 8443, 9092)
SERVICE_PORTS = np.array(sorted((*_INDUSTRIAL_PORTS, *_DATABASE_PORTS, *_OTHER_PORTS)), np.int64)


def sender_is_client(sport: np.ndarray, dport: np.ndarray) -> np.ndarray:
    """Rules 4 and 5 for a connection's first segment, by its ports: is its sender the
    client? A well-known service port at or above 1024 facing a port that is neither one nor
    below 1024 is the server's; else the higher port is the client's."""
    known_s, known_d = np.isin(sport, SERVICE_PORTS), np.isin(dport, SERVICE_PORTS)
    to_service = known_d & ~known_s & (sport >= 1024)
    from_service = known_s & ~known_d & (dport >= 1024)
    out: np.ndarray = np.where(to_service, True, np.where(from_service, False, sport >= dport))
    return out


def _client_side(
    segments: pd.DataFrame, conn: np.ndarray, forward: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per row: sent by the client? Per connection: was the client guessed?"""
    flags = segments["flags"].to_numpy()
    syn_kind = flags & (SYN | ACK)
    n_conn = int(conn.max()) + 1
    # Direction (forward flag) in which the client sends, decided per connection.
    client_forward = np.zeros(n_conn, bool)
    decided = np.zeros(n_conn, bool)
    refusals = ((flags & (RST | ACK)) == (RST | ACK)) & (segments["seq"].to_numpy() == 0)
    for rows, client_is_sender in (
        (np.flatnonzero(syn_kind == SYN), True),
        (np.flatnonzero(syn_kind == SYN | ACK), False),
        (np.flatnonzero(refusals & ((flags & SYN) == 0)), False),
    ):
        rows = rows[~decided[conn[rows]]]
        first_conn, first_at = np.unique(conn[rows], return_index=True)  # rows are in frame order
        client_forward[first_conn] = forward[rows[first_at]] == client_is_sender
        decided[first_conn] = True
    guessed = ~decided
    if guessed.any():
        first_at = first_rows(conn)
        first_conn = conn[first_at]
        sport = segments["sport"].to_numpy()[first_at].astype(np.int64)
        dport = segments["dport"].to_numpy()[first_at].astype(np.int64)
        fwd = forward[first_at]
        guess = np.where(sender_is_client(sport, dport), fwd, ~fwd)

        client_forward[first_conn[guessed[first_conn]]] = guess[guessed[first_conn]]
    return forward == client_forward[conn], guessed


def with_app_roles(
    segments: pd.DataFrame, connections: pd.DataFrame, other_way: Collection[int]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rule 3: the guessed connections among ``other_way`` (``app.Recognised.other_way``: the
    side flows took for the server sent the request or ClientHello) get their roles turned:
    ``from_client`` flipped on their rows, client and server (address, port, bytes) swapped.
    A connection whose SYN or SYN+ACK was captured keeps the client its handshake shows."""
    if not len(other_way) or connections.empty:
        return segments, connections
    ids = connections["id"].to_numpy()
    turn = np.isin(ids, np.fromiter(other_way, np.int64)) & connections["client_guessed"].to_numpy()
    if not turn.any():
        return segments, connections
    rows = np.isin(segments["conn"].to_numpy(), ids[turn])
    out = segments.copy(deep=False)
    out["from_client"] = (out["from_client"].to_numpy() ^ rows).astype(FLOW_COLUMNS["from_client"])
    table = connections.copy()
    for a, b in (
        ("client_ip", "server_ip"),
        ("client_port", "server_port"),
        ("bytes_client", "bytes_server"),
    ):
        left, right = table[a].to_numpy().copy(), table[b].to_numpy().copy()
        table[a] = np.where(turn, right, left).astype(left.dtype)
        table[b] = np.where(turn, left, right).astype(right.dtype)
    return out, table


def _ip_text(version: np.ndarray, hi: np.ndarray, lo: np.ndarray) -> list[str]:
    """Each address as text; a capture holds many connections of few hosts, so each distinct
    address is formatted once."""
    texts: dict[tuple[int, int, int], str] = {}
    out: list[str] = []
    for address in zip(version.tolist(), hi.tolist(), lo.tolist(), strict=True):
        text = texts.get(address)
        if text is None:
            v, h, low = address
            ip = ipaddress.IPv4Address(low) if v == 4 else ipaddress.IPv6Address((h << 64) | low)
            text = texts[address] = str(ip)
        out.append(text)
    return out


def _connections(seg: pd.DataFrame, guessed: np.ndarray) -> pd.DataFrame:
    conn = seg["conn"].to_numpy()
    from_client = seg["from_client"].to_numpy()
    first_at = first_rows(conn)
    first_conn = conn[first_at]
    last_at = last_rows(conn, first_conn.size)
    fc = from_client[first_at]

    def first(name: str) -> np.ndarray:
        """Column ``name`` at each connection's first row (not ``seg.iloc``: that gathers
        every column of the segments, ~0.5 ms even for a few rows)."""
        column: np.ndarray = seg[name].to_numpy()[first_at]
        return column

    version = first("ip_version")
    src = (first("src_hi"), first("src_lo"))
    dst = (first("dst_hi"), first("dst_lo"))
    c_hi, c_lo = np.where(fc, src[0], dst[0]), np.where(fc, src[1], dst[1])
    s_hi, s_lo = np.where(fc, dst[0], src[0]), np.where(fc, dst[1], src[1])
    sport, dport = first("sport"), first("dport")
    seg_len = seg["seg_len"].to_numpy()
    n = first_conn.size
    frames = seg["frame"].to_numpy()
    times = seg["time_ns"].to_numpy()
    start_ns, end_ns = _time_span(conn, times, first_at, last_at, n)
    # Byte sums in float64 (bincount's weights) are exact integers below 2**53 bytes.
    bytes_all = np.bincount(conn, weights=seg_len, minlength=n)
    bytes_client = np.bincount(conn[from_client], weights=seg_len[from_client], minlength=n)
    return pd.DataFrame(
        {
            "id": first_conn.astype(np.int64),
            "client_ip": _ip_text(version, c_hi, c_lo),
            "client_port": np.where(fc, sport, dport).astype(np.uint16),
            "server_ip": _ip_text(version, s_hi, s_lo),
            "server_port": np.where(fc, dport, sport).astype(np.uint16),
            "client_guessed": guessed[first_conn],
            "first_frame": frames[first_at].astype(np.int64),
            "last_frame": frames[last_at].astype(np.int64),
            "start_ns": start_ns,
            "end_ns": end_ns,
            "packets": np.bincount(conn, minlength=n).astype(np.int64),
            "bytes_client": bytes_client.astype(np.int64),
            "bytes_server": (bytes_all - bytes_client).astype(np.int64),
        }
    )


def _time_span(
    conn: np.ndarray, times: np.ndarray, first_at: np.ndarray, last_at: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each connection's earliest and latest timestamp.

    In file order the first and last frames carry them, unless the capture's clock steps
    backwards (merged captures, NTP steps: tcpdump's kday*.pcap tests do it); then a
    connection could end before it starts, so take the true minimum and maximum.
    """
    times = times.astype(np.int64, copy=False)
    if times.size < 2 or bool(np.all(times[1:] >= times[:-1])):
        return times[first_at], times[last_at]
    start = extreme_per_key(np.minimum, conn, times, n, np.iinfo(np.int64).max)
    end = extreme_per_key(np.maximum, conn, times, n, np.iinfo(np.int64).min)
    return start, end


#: The empty segments table with the flow columns, per layout of the segments' columns.
_NO_SEGMENTS: dict[tuple[tuple[str, str], ...], pd.DataFrame] = {}


def _without_segments(segments: pd.DataFrame) -> pd.DataFrame:
    """``segments`` (no row) with the flow columns: a copy of one built once per process
    (most captures a scan reads hold no TCP; the copy and two inserts cost ~1 ms each time)."""
    layout = tuple((str(name), str(dtype)) for name, dtype in segments.dtypes.items())
    if layout not in _NO_SEGMENTS:
        out = segments.copy()
        for name, dtype in FLOW_COLUMNS.items():
            out[name] = pd.Series(dtype=dtype)
        _NO_SEGMENTS[layout] = out
    return _NO_SEGMENTS[layout].copy()


def _empty_connections() -> pd.DataFrame:
    """No connection, typed: a copy of one table built once per process (``pd.Series(dtype=)``
    per column costs ~1 ms, paid by every capture without TCP a scan reads)."""
    return _empty_connections_template().copy()


@functools.cache
def _empty_connections_template() -> pd.DataFrame:
    dtypes = {
        "id": "int64",
        "client_ip": "object",
        "client_port": "uint16",
        "server_ip": "object",
        "server_port": "uint16",
        "client_guessed": "bool",
        "first_frame": "int64",
        "last_frame": "int64",
        "start_ns": "int64",
        "end_ns": "int64",
        "packets": "int64",
        "bytes_client": "int64",
        "bytes_server": "int64",
    }
    return pd.DataFrame({c: pd.Series(dtype=dtypes[c]) for c in CONNECTION_ID_COLUMNS})
