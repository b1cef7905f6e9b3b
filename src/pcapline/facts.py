"""Per-segment facts every detector shares, computed once, vectorised, for the whole capture.

Detectors never read each other's events; what two of them both need lives here as a column,
so that (for instance) a Linux zero-window probe and a keepalive, which have exactly the same
shape on the wire (0 bytes, seq = snd_una - 1), are told apart in one place (tcp-facts.md,
"zero window and persist probes").

All arrays are in *grouped order*: rows of one connection together (connections by id),
frame order inside a connection. ``Facts.order`` maps back to the segments table rows.

Sequence numbers are made relative to each direction's ISN (the SYN's seq, or the first seq
seen when the capture started mid-connection) and unwrapped through 2**32, so comparisons are
plain integer comparisons. Sentinels are named constants, never bare -1.

Columns (one value per segment):

- ``rel_seq``, ``seq_end``: relative seq and seq + len (+1 for SYN, +1 for FIN).
- ``next_seq``: the sender's highest ``seq_end`` *before* this segment (snd.nxt as seen on the
  wire); for a direction's first segment, its own ``rel_seq``. A probe that opens its
  direction (``_opening_probes``) counts one above its seq: it was sent at snd.una - 1.
- ``rel_ack``: the ACK number relative to the peer's ISN (valid when the ACK flag is set).
- ``snd_una``: the highest ACK the peer had sent before this segment, i.e. the sender's
  snd.una as the capture point saw it; ``UNKNOWN`` before the peer ACKed anything.
- ``sack_left``, ``sack_right``: the highest SACK block's edges, relative like ``rel_ack``
  (``UNKNOWN`` when the segment carries no SACK block).
- ``window``: this segment's advertised window, scaled when both SYNs carried wscale
  (RFC 7323: never scaled on a SYN).
- ``peer_window``: the window the peer advertised last before this segment (``UNKNOWN``
  before the peer sent anything).
- ``is_dup``: a copy of one packet (``-i any`` on veth/bridges, two taps, a path that
  duplicates): same direction, same IP ID, seq, ack, length, flags, window and TSval as one of
  the previous two segments of that direction, sooner than the sender could have sent it again
  (within 1 ms; a numbered sender's same IP ID; a SYN or SYN+ACK sooner than its timer with
  nothing that would draw a resend: ``duplicates.py``). Not a retransmission (anchors.md 1.5).
- ``probe_shape``: 0 bytes (or 1 byte with nothing outstanding: the Windows "garbage byte"),
  seq = snd.nxt - 1 or snd.una - 1, no SYN/FIN/RST, not after the sender's own FIN: the Linux
  keepalive / window probe shape (``tcp_xmit_probe_skb``). In a capture begun inside the
  connection, a direction's first segment is one when the peer's answer proves it: it
  acknowledges one byte more and echoes an older TSval (``_opening_probes``). A 1-byte
  segment at snd.nxt - 1 while that byte is unacknowledged is a retransmission, not a probe
  (Wireshark gets this wrong, anchors.md 1.5).
- ``refusal_shape``: a RST with ACK and sequence number 0, the reset of a segment that had no
  ACK (RFC 793 3.4; Linux ``tcp_v4_send_reset``, nftables ``reject with tcp reset``): the
  answer to a SYN, even where the SYN was not captured.
- ``scan_probe``: the row's connection is a port scanner's FIN, NULL or Xmas probes, no
  connection at all (``scan_probes``): no capture start, handshake or failure of its own.
- ``reopens``: the server's answer to a SYN the capture lost, on a 4-tuple whose stream
  already holds another connection (Wireshark's ``tcp.stream`` splits only on a SYN, so both
  connections share one stream id): a SYN+ACK with a new ISN answering another client ISN
  than the stream's first SYN+ACK did, or a refusal-shaped RST that is not the stream's first
  segment and answers neither the stream's SYN nor a bare client segment before it
  (``reopenings``). The handshake detector, the screen and the capture-quality checks read it.
- ``is_window_probe``: a probe sent while the peer's last advertised window was 0: the
  0-byte Linux shape, or 1 byte of new data at snd.nxt (BSD/Windows persist probe); or a
  probe-shaped segment sent while the peer's last captured window was open when the capture
  still proves the window closed (the ACK that closed it is missing, ``_closed_unseen``):
  the peer answered it with window 0 (Linux never shrinks an offered window), or it came
  sooner after the sending of a byte the capture never saw acknowledged than any keepalive
  can, or it repeats such a probe at the persist timer's doubling gap.
- ``is_keepalive``: a probe-shaped segment sent while the peer's window was open, at least
  ``timers.KEEPALIVE_MIN_IDLE_NS`` after the connection's previous segment (TCP_KEEPIDLE and
  TCP_KEEPINTVL are >= 1 s on Linux).
- ``is_retrans``: data or FIN below snd.nxt that is neither a probe nor a capture duplicate
  (RTO, fast and spurious retransmissions alike; ``retransmit.py`` tells them apart), nor
  never-seen bytes arriving right after the segment that jumped over them (reordering before
  the capture point).
- ``is_spurious``: a retransmission of data the peer had already acknowledged.
- ``super_segment``: payload larger than the MSS the peer announced (TSO/GRO at the capture host).
- ``options_cut``: the snaplen cut the segment's TCP options (its captured bytes end inside
  the TCP header): a SACK/D-SACK block or timestamp it carried is unknown, not absent.
- ``stale_numbers``: a segment whose seq/ack count in another connection's sequence space
  (``stale_rows``): the server's ACK answering a SYN in SYN-SENT that does not acknowledge
  that SYN (RFC 9293 3.10.7.3: the answer of an older incarnation's socket, e.g. TIME_WAIT's
  ACK in tcp_timewait_state_process, or RFC 5961's challenge ACK), and the client's RST to it
  (seq = that ACK's ack). Their ACK (``rel_ack`` UNKNOWN) and seq feed neither ``snd_una``
  nor ``next_seq``: they acknowledge and send nothing of this connection.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, TypeGuard, TypeVar

import numpy as np
import pandas as pd

from pcapline import duplicates, seqnum
from pcapline.decode.options import WSCALE_CUT
from pcapline.duplicates import DUPLICATE_WINDOW_NS
from pcapline.model import ACK, FIN, RST, SYN
from pcapline.read import native
from pcapline.timers import KEEPALIVE_MIN_IDLE_NS, RTO_FLOOR_S, close_to

#: "Not known yet" for seq/ack/window facts (e.g. the peer has not ACKed anything).
UNKNOWN = np.int64(-(2**62))


@dataclass(frozen=True, slots=True)
class SegmentRows:
    """The per-segment columns (one value per row), shared by ``Facts`` (all connections)
    and ``detect.ConnView`` (one connection's slice)."""

    frame: np.ndarray
    time_ns: np.ndarray
    from_client: np.ndarray
    flags: np.ndarray
    syn: np.ndarray  # bool per TCP flag, precomputed: detectors test them constantly
    ack: np.ndarray
    fin: np.ndarray
    rst: np.ndarray
    seg_len: np.ndarray
    ip_id: np.ndarray
    ttl: np.ndarray
    has_ts: np.ndarray
    ts_val: np.ndarray
    #: TSecr on SYN+ACK rows, 0 on every other row: which SYN the answer echoes (the
    #: handshake detector's ``Handshake.answered_syn``); gathered for those rows only.
    synack_ts_ecr: np.ndarray
    sack_blocks: np.ndarray
    sack_left: np.ndarray  # highest SACK block, relative to the peer's ISN (UNKNOWN: no block)
    sack_right: np.ndarray
    #: The SACK block in ``sack_left``/``sack_right`` is the first and reports a duplicate
    #: (D-SACK, RFC 2883), below the ACK or within the second block (model.SEGMENT_COLUMNS).
    dsack: np.ndarray
    mss: np.ndarray
    rel_seq: np.ndarray
    seq_end: np.ndarray
    next_seq: np.ndarray
    rel_ack: np.ndarray
    snd_una: np.ndarray
    window: np.ndarray
    peer_window: np.ndarray
    peer_mss: np.ndarray
    is_dup: np.ndarray
    probe_shape: np.ndarray
    refusal_shape: np.ndarray
    reopens: np.ndarray
    scan_probe: np.ndarray  # the row's connection is a scanner's probes (``scan_probes``)
    is_window_probe: np.ndarray
    is_keepalive: np.ndarray
    is_retrans: np.ndarray
    is_spurious: np.ndarray
    #: A data retransmission the peer's first ACK covering its bytes acknowledged with a
    #: TSecr older than this copy's TSval (``_echoes_older``): that ACK answered an earlier
    #: copy (Eifel, RFC 3522; Linux tcp_packet_delayed).
    echo_older: np.ndarray
    super_segment: np.ndarray
    stale_numbers: np.ndarray  # counts in another connection's sequence space (stale_rows)
    #: The snaplen cut this segment's TCP options (decode: captured bytes end inside the TCP
    #: header): a SACK or D-SACK block, a timestamp it carried is not known to be absent.
    options_cut: np.ndarray

    def __len__(self) -> int:
        return len(self.frame)


#: Names of the per-segment columns (what a connection's view slices).
ROW_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(SegmentRows))


class Passes(dict[Callable[["Facts"], Any], Any]):
    """The column-wise passes made over one ``Facts``, by pass function (``Facts.once``).

    Derived from the columns alone, so no part of the value: two ``Facts`` with the same
    columns are equal whichever passes each has made, and a ``Facts`` sent to another process
    arrives without them (that process makes those it asks for again)."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Passes)

    def __ne__(self, other: object) -> bool:
        return not isinstance(other, Passes)

    def __reduce__(self) -> tuple[type[Passes], tuple[()]]:
        return (Passes, ())


Computed = TypeVar("Computed")


@dataclass(frozen=True, slots=True)
class Facts(SegmentRows):
    """Segment columns and derived facts, grouped by connection (see module docstring)."""

    order: np.ndarray  # row positions in the segments table
    conn_ids: np.ndarray  # int64, one per connection, ascending
    starts: np.ndarray  # offsets of each connection's rows; len(conn_ids) + 1
    conn_index: np.ndarray  # per row: index into conn_ids
    conn: np.ndarray  # per row: connection id
    capture_end_ns: int  # last timestamp in the capture (any frame when known, else TCP)
    #: Per connection: whether its windows' scale is known (``_scale_known``).
    scale_known: np.ndarray
    #: The passes ``once`` made (not a column: ``Passes``).
    passes: Passes = field(default_factory=Passes, init=False, repr=False, compare=False)

    def flag(self, bit: int) -> np.ndarray:
        return np.asarray((self.flags & bit) != 0)

    def once(self, compute: Callable[[Facts], Computed]) -> Computed:
        """The pass ``compute`` over these facts, made the first time it is asked for: a
        detector's screen, its ``rows``, the detectors' batch passes over every connection
        and classify's fast path ask for the same ones. Its arrays come back read-only (they
        are shared by every asker)."""
        if compute not in self.passes:
            self.passes[compute] = _read_only(compute(self))
        found: Computed = self.passes[compute]
        return found


def made_once(
    over: Callable[[SegmentRows, np.ndarray, int], Computed],
) -> Callable[[SegmentRows, np.ndarray, int], Computed]:
    """``over(rows, conn_index, n)``, kept by ``Facts.once`` when ``rows`` are a whole
    ``Facts``' connections (``every_connection``): the screen, a detector's ``rows`` and
    the batch passes then share one pass; other rows (one connection's view) get their own."""

    def over_every(facts: Facts) -> Computed:
        return over(facts, facts.conn_index, len(facts.conn_ids))

    def asked(rows: SegmentRows, conn_index: np.ndarray, n: int) -> Computed:
        if every_connection(rows, conn_index):
            return rows.once(over_every)
        return over(rows, conn_index, n)

    return asked


def every_connection(rows: SegmentRows, conn_index: np.ndarray) -> TypeGuard[Facts]:
    """``rows`` are a ``Facts`` grouped by its own connections (``Batch.of_facts``): a pass
    over them is one that ``Facts.once`` keeps for the other askers."""
    return isinstance(rows, Facts) and conn_index is rows.conn_index


def _read_only(value: Computed) -> Computed:
    """``value`` with its arrays (it, or the items of a tuple) made read-only."""
    for item in value if isinstance(value, tuple) else (value,):
        if isinstance(item, np.ndarray):
            item.flags.writeable = False
    return value


def compute_facts(segments: pd.DataFrame, *, capture_end_ns: int | None = None) -> Facts:
    """Facts for every segment of ``segments`` (SEGMENT_COLUMNS + FLOW_COLUMNS).

    ``capture_end_ns``: the last timestamp of any frame in the capture (ARP, UDP...), when
    known; it shows that the capture went on after a connection fell silent.
    """
    conn_all = segments["conn"].to_numpy(np.int64)
    frame_all = segments["frame"].to_numpy(np.int64)
    order = _connection_order(conn_all, frame_all)
    col = _Columns(segments, order)
    conn = conn_all[order]
    n = len(conn)
    # ``conn`` is sorted: its runs are the connections (np.unique would sort it again).
    first_of_conn = _group_starts(conn)
    conn_ids = conn[first_of_conn]
    conn_index = np.cumsum(first_of_conn, dtype=np.int64)
    conn_index -= 1
    starts = np.append(np.flatnonzero(first_of_conn), n).astype(np.int64)

    from_client = col.get("from_client", bool)
    # The flag tests read the column in its own (narrow) type: a quarter of the bytes.
    wire_flags = col.get("flags")
    is_syn = (wire_flags & SYN) != 0
    is_fin = (wire_flags & FIN) != 0
    is_rst = (wire_flags & RST) != 0
    has_ack = (wire_flags & ACK) != 0
    flags = wire_flags.astype(np.int64)
    del wire_flags
    seg_len = col.get("seg_len", np.int64)
    seq = col.get("seq", np.int64)
    ack = col.get("ack", np.int64)
    raw_window = col.get("window", np.int64)
    mss = col.get("mss", np.int64)

    # Direction groups: connection * 2 + from_client, rows in frame order inside each.
    dir_key = conn_index * 2
    dir_key += from_client
    n_dirs = 2 * len(conn_ids)
    dir_order = _grouped_order(dir_key, n_dirs)

    base = _direction_base(seq, is_syn, dir_key, dir_order, n_dirs)
    has_base = base != UNKNOWN
    rel_seq = _unwrap(seq, base, dir_key, dir_order, np.ones(n, bool))
    seq_end = rel_seq + seg_len
    seq_end += is_syn  # a SYN and a FIN each take one sequence number
    seq_end += is_fin
    stale = stale_rows(
        seq=seq, ack=ack, syn=is_syn, ack_flag=has_ack, rst=is_rst,
        from_client=from_client, conn_index=conn_index, starts=starts,
    )  # fmt: skip
    sent_here = np.where(stale, UNKNOWN, seq_end) if stale.any() else seq_end

    peer_dir = np.arange(n_dirs) ^ 1  # per direction: the other direction of its connection
    # Per direction: the base of the other direction (ACKs count in the peer's sequence space).
    # A side with no captured segment (a one-direction capture) still has a known ISN when its
    # peer's SYN+ACK was captured: that SYN+ACK acknowledges the ISN + 1.
    synacks = np.flatnonzero(is_syn & has_ack)
    acked_isn = _direction_first_at((ack[synacks] - 1) % 2**32, synacks, dir_key, n_dirs, UNKNOWN)
    told = acked_isn[peer_dir]  # per direction: its ISN as the peer's SYN+ACK acknowledged it
    ack_base = np.where(has_base, base, np.where(told != UNKNOWN, told, 0))
    peer_base = ack_base[peer_dir]
    own_ack = has_ack & ~stale  # a stale ACK acknowledges nothing of this connection
    rel_ack = _unwrap(ack, peer_base, dir_key, dir_order, own_ack)
    ts_val = col.get("ts_val", np.int64)
    has_ts = col.get("has_ts", bool)
    # A direction the capture begins with a probe (its snd.una - 1): snd.nxt is at least one
    # above it, so its next byte, one higher, jumped over nothing.
    opening_probes = _opening_probes(
        _OpeningRows(
            bare=has_ack & (seg_len == 0) & ~(is_syn | is_fin | is_rst),
            own_ack=own_ack,
            rel_seq=rel_seq,
            rel_ack=rel_ack,
            has_ts=has_ts,
            ts_val=ts_val,
            from_client=from_client,
            conn_index=conn_index,
            starts=starts,
            dir_key=dir_key,
            dir_order=dir_order,
            n_dirs=n_dirs,
        ),
        col,
    )
    if len(opening_probes):
        sent_here = sent_here.copy() if sent_here is seq_end else sent_here
        sent_here[opening_probes] = rel_seq[opening_probes] + 1
    next_seq = _exclusive_running_max(sent_here, dir_key, dir_order, rel_seq)
    snd_una = _peer_running_max(rel_ack, own_ack, from_client, conn_index)

    # Window scaling is in force only when both SYNs carried the option (RFC 7323 2.2).
    # Decided per direction, then spread over its rows once.
    syns = np.flatnonzero(is_syn)  # the option is read on SYNs only
    wscale = col.get("wscale", np.int64, syns)
    scaled = syns[wscale >= 0]
    shift = _direction_first_at(wscale[wscale >= 0], scaled, dir_key, n_dirs, UNKNOWN)
    both_scaled = (shift != UNKNOWN) & (shift[peer_dir] != UNKNOWN)
    scale_known = _scale_known(wscale, syns, dir_key, n_dirs)
    dir_shift = np.where(both_scaled, np.clip(shift, 0, 14), 0)
    window = _scaled_window(raw_window, dir_shift, dir_key, is_syn)
    peer_window = _peer_last(window, from_client, starts, conn_index)
    mss_dir = _direction_first(mss, is_syn & (mss > 0), dir_key, n_dirs, UNKNOWN)
    peer_mss = mss_dir[peer_dir][dir_key]

    # SACK edges in the same relative space as rel_ack (they are within 2**31 of the ACK).
    sack_blocks = col.get("sack_blocks", np.int64)
    sacking = np.flatnonzero(has_ack & (sack_blocks > 0))
    sack_left = _sack_edge(col.get("sack_le", np.int64, sacking), sacking, rel_ack, ack)
    sack_right = _sack_edge(col.get("sack_re", np.int64, sacking), sacking, rel_ack, ack)

    ip_id = col.get("ip_id", np.int64)
    time_ns = col.get("time_ns", np.int64)
    ttl = col.get("ttl", np.int64)
    copy_rows = duplicates.Rows(
        keys=(ip_id, seq, ack, seg_len, flags, raw_window, ts_val),
        ip_id=ip_id,
        ttl=ttl,
        time_ns=time_ns,
        syn=is_syn,
        ack=has_ack,
        from_client=from_client,
        conn_index=conn_index,
        starts=starts,
        dir_key=dir_key,
        rst=is_rst,
        sack_blocks=sack_blocks,
        has_ts=has_ts,
        sack_right=sack_right,
    )
    is_dup = duplicates.copies(copy_rows)
    # Bytes seen again that are a piece of a bigger segment seen before (GRO in, GSO out).
    again = np.flatnonzero((seg_len > 0) & ~is_syn & ~is_rst & ~is_dup & (rel_seq < next_seq))
    longest = np.maximum(peer_mss, 0)  # UNKNOWN (negative): any segment may be a whole
    is_dup[again[duplicates.pieces(copy_rows, again, rel_seq, seg_len, longest)]] = True

    plain = ~(is_syn | is_fin | is_rst)
    # Probes carry 0 or 1 byte: the seq tests below are asked of those rows only.
    small = np.flatnonzero(plain & ~is_dup & (seg_len <= 1))
    small_len, small_seq, small_next = seg_len[small], rel_seq[small], next_seq[small]
    small_una = snd_una[small]
    small_known = small_una != UNKNOWN
    at_next_minus_one = small_seq == small_next - 1
    zero_len_probe = (small_len == 0) & (
        at_next_minus_one | (small_known & (small_seq == small_una - 1))
    )
    garbage_byte_probe = (small_len == 1) & at_next_minus_one & small_known
    garbage_byte_probe &= small_una >= small_next
    # After its own FIN a side sends no probes (keepalive runs in ESTABLISHED/CLOSE_WAIT, and
    # a FIN leaves only once the send queue is empty): a bare ACK at seq FIN's seq is just an
    # ACK overtaken by the FIN. The few probe-shaped rows are the only ones asked.
    shaped = small[has_ack[small] & (zero_len_probe | garbage_byte_probe)]
    # snd.nxt unknown (the capture began inside the connection): a later RST tells it.
    bare = np.zeros(n, dtype=bool)
    bare[small[has_ack[small] & (small_len == 0)]] = True
    bare[shaped] = False
    told = _probes_before_reset(bare, is_rst & ~is_dup, is_dup, rel_seq, dir_key, dir_order)
    shaped = np.union1d(np.union1d(shaped, told), opening_probes)
    # Except in FIN_WAIT2: a socket half-closed by shutdown(SHUT_WR) whose FIN the peer has
    # acknowledged keeps its keepalive timer (tcp_keepalive_timer skips only CLOSE and
    # SYN_SENT, and an orphan in FIN_WAIT2), so Linux probes at the FIN's seq (snd.una - 1)
    # and Windows sends its garbage byte there: no data or ACK of the side's own stands at
    # that seq once the FIN is acknowledged (``_idle_before`` still asks for 1 s of quiet).
    after_fin = _after_own_fin(shaped, is_fin, dir_key, n_dirs)
    fin_acked = (snd_una[shaped] != UNKNOWN) & (snd_una[shaped] >= next_seq[shaped])
    shaped = shaped[~after_fin | fin_acked]
    probe_shape = np.zeros(n, dtype=bool)
    probe_shape[shaped] = True
    peer_zero = peer_window == 0
    persisting = small[(small_len == 1) & (small_seq == small_next)]
    is_window_probe = probe_shape & peer_zero
    is_window_probe[persisting[peer_zero[persisting]]] = True
    open_probes = np.flatnonzero(probe_shape & ~peer_zero)
    # The window was closed all the same when what the capture still holds says so: the ACK
    # that closed it is missing (``_closed_unseen``).
    unseen = _closed_unseen(
        open_probes,
        _ProbeContext(
            starts=starts,
            conn_index=conn_index,
            from_client=from_client,
            is_dup=is_dup,
            syn_fin_rst=is_syn | is_fin | is_rst,
            window=window,
            rel_ack=np.where(has_ack, rel_ack, UNKNOWN),
            rel_seq=rel_seq,
            seq_end=seq_end,
            seg_len=seg_len,
            snd_una=snd_una,
            time_ns=time_ns,
        ),
    )
    is_window_probe[open_probes[unseen]] = True
    open_probes = open_probes[~unseen]
    # Keepalive fires only after >= 1 s with nothing received (and nothing outstanding): a
    # probe-shaped ACK sooner after the previous segment is an ordinary (reordered) ACK.
    is_keepalive = np.zeros(n, dtype=bool)
    idle = _idle_before(open_probes, starts, conn_index, from_client, probe_shape | is_dup, time_ns)
    is_keepalive[open_probes[idle]] = True

    carries = (seg_len > 0) | is_fin
    is_retrans = carries & ~is_syn & ~is_rst & ~is_dup & ~probe_shape & (rel_seq < next_seq)
    resent = np.flatnonzero(is_retrans[1:]) + 1  # the first row has no row before it
    data_end = np.where(seg_len[resent] > 0, rel_seq[resent] + seg_len[resent], seq_end[resent])
    is_retrans[resent[_reordered(resent, rel_seq, data_end, next_seq, time_ns, dir_key)]] = False
    stamped = has_ts & ~is_dup
    stamped_ts = np.where(stamped, ts_val, -1)
    ts_before = _exclusive_running_max(stamped_ts, dir_key, dir_order, np.full(n, -1, np.int64))
    asked = np.flatnonzero(is_retrans & stamped & (ts_before > ts_val))
    rows = _SentRows(rel_seq, seq_end, starts, conn_index, dir_key)
    is_retrans[_sent_first(asked, stamped, ts_val, 2**32, rows)] = False
    # Without timestamps, in a capture of two points (copies): the IP ID of a numbered
    # sender (Linux counts per socket, Windows globally) grows with each transmission too.
    copied = (rows_per_connection(is_dup, starts) > 0)[conn_index]
    numbered = ~has_ts & ~is_dup & (ip_id != 0) & copied
    if numbered.any():
        numbered &= _counting_up(numbered, ip_id, dir_key, dir_order, n_dirs)[dir_key]
    if numbered.any():
        asked = np.flatnonzero(is_retrans & numbered)
        is_retrans[_sent_first(asked, numbered, ip_id, 2**16, rows, other_point=ttl)] = False
    is_spurious = _spurious(is_retrans, seq_end, snd_una)
    super_segment = (peer_mss != UNKNOWN) & (seg_len > peer_mss) & ~is_dup
    refusal_shape = is_rst & has_ack & (seq == 0)
    rel_ack = _where_acked(rel_ack, own_ack)
    echo_older = _echoes_older(
        is_retrans & (seg_len > 0) & stamped,
        has_ack & stamped & (rel_ack != UNKNOWN),
        from_client,
        conn_index,
        seq_end,
        rel_ack,
        ts_val,
        col,
    )
    server = ~from_client & ~is_dup
    reopens = reopenings(
        server_synack=is_syn & has_ack & server,
        server_refusal=refusal_shape & server,
        client_bare=from_client & ~has_ack,
        rel_seq=rel_seq,
        rel_ack=rel_ack,
        starts=starts,
    )

    probes = scan_probes(
        syn=is_syn,
        ack=has_ack,
        rst=is_rst,
        seg_len=seg_len,
        from_client=from_client,
        starts=starts,
        conn_index=conn_index,
    )

    return Facts(
        order=order,
        conn_ids=conn_ids,
        starts=starts,
        conn_index=conn_index,
        conn=conn,
        frame=frame_all[order],
        time_ns=time_ns,
        from_client=from_client,
        flags=flags,
        syn=is_syn,
        ack=has_ack,
        fin=is_fin,
        rst=is_rst,
        seg_len=seg_len,
        ip_id=ip_id,
        ttl=ttl,
        has_ts=has_ts,
        ts_val=ts_val,
        synack_ts_ecr=_synack_ts_ecr(col, is_syn & has_ack),
        sack_blocks=sack_blocks,
        sack_left=sack_left,
        sack_right=sack_right,
        dsack=col.get("dsack", bool),
        mss=mss,
        rel_seq=rel_seq,
        seq_end=seq_end,
        next_seq=next_seq,
        rel_ack=rel_ack,
        snd_una=snd_una,
        window=window,
        peer_window=peer_window,
        peer_mss=peer_mss,
        is_dup=is_dup,
        probe_shape=probe_shape,
        refusal_shape=refusal_shape,
        reopens=reopens,
        scan_probe=probes[conn_index],
        is_window_probe=is_window_probe,
        is_keepalive=is_keepalive,
        is_retrans=is_retrans,
        is_spurious=is_spurious,
        echo_older=echo_older,
        super_segment=super_segment,
        stale_numbers=stale,
        options_cut=col.get("options_cut", bool),
        capture_end_ns=max(int(time_ns.max()) if n else 0, capture_end_ns or 0),
        scale_known=scale_known,
    )


def stale_rows(
    *,
    seq: np.ndarray,
    ack: np.ndarray,
    syn: np.ndarray,
    ack_flag: np.ndarray,
    rst: np.ndarray,
    from_client: np.ndarray,
    conn_index: np.ndarray,
    starts: np.ndarray,
) -> np.ndarray:
    """``stale_numbers`` per row (connection order, raw header ``seq``/``ack``).

    Kernel rule (RFC 9293 3.10.7.3, Linux tcp_rcv_synsent_state_process): in SYN-SENT the
    only acceptable ACK acknowledges the SYN (ack = ISS + 1); any other ACK is answered with
    ``<SEQ=SEG.ACK><CTL=RST>`` and dropped. So a server segment with ACK and no SYN that
    comes after the client's SYN, before the client's next segment and any SYN+ACK, does not
    acknowledge that SYN, and draws that RST (the client's next segment: RST without ACK,
    seq = that ACK's ack), belongs to another connection on the 4-tuple (a TIME_WAIT socket's
    ACK, a challenge ACK): its numbers, and the RST's, count in that connection's space. Without
    the RST captured it proves nothing (the ACK of data whose SYN+ACK and ACK the capture
    lost looks the same). A server ACK of the SYN itself (ack = ISS + 1) is this
    connection's, even where its SYN+ACK was not captured."""
    out = np.zeros(len(seq), dtype=bool)
    syns = np.flatnonzero(from_client & syn & ~ack_flag)
    if not len(syns):
        return out
    n = len(seq)
    clients = np.flatnonzero(from_client)
    server_syns = np.flatnonzero(~from_client & syn)
    # Per client SYN: the rows up to its client's next segment (``nxt``) or the server's SYN
    # (its SYN+ACK ends SYN-SENT, captured or not its client's ACK), within its connection.
    nxt = np.append(clients, n)[np.searchsorted(clients, syns, side="right")]
    synack = np.append(server_syns, n)[np.searchsorted(server_syns, syns, side="right")]
    end = np.minimum(np.minimum(nxt, synack), starts[conn_index[syns] + 1])
    sizes = end - syns - 1
    if not sizes.any():
        return out
    window = np.repeat(np.arange(len(syns)), sizes)
    rows = np.repeat(syns + 1 - (np.cumsum(sizes) - sizes), sizes) + np.arange(int(sizes.sum()))
    answer = ~from_client[rows] & ack_flag[rows]
    answer &= seqnum.wrap(ack[rows] - seq[syns[window]]) != 1
    rows, window = rows[answer], window[answer]
    # Only the client's answer proves it (an ACK of data whose SYN+ACK and ACK the capture
    # lost looks the same): its next segment is the RST, seq = that ACK's ack.
    reply = nxt[window]
    ok = reply < n
    rows, reply = rows[ok], reply[ok]
    ok = (conn_index[reply] == conn_index[rows]) & rst[reply] & ~ack_flag[reply]
    ok &= seq[reply] == ack[rows]
    rows, reply = rows[ok], reply[ok]
    out[rows] = True
    for _ in range(2):  # the RST, then a copy of it (a capture on two interfaces)
        out[reply] = True
        later = np.append(clients, n)[np.searchsorted(clients, reply, side="right")]
        keep = later < n
        reply, later = reply[keep], later[keep]
        copy = (conn_index[later] == conn_index[reply]) & rst[later] & ~ack_flag[later]
        reply = later[copy & (seq[later] == seq[reply])]
    return out


def next_peer_ack_cut(
    from_client: np.ndarray,
    ack: np.ndarray,
    options_cut: np.ndarray,
    conn: np.ndarray,
    rows: np.ndarray,
    answered_earlier: np.ndarray | None = None,
) -> np.ndarray:
    """Per row of ``rows`` (ascending or not): the other side's next segment with ACK in its
    connection had its TCP options cut by the snaplen (``options_cut``), so a SACK or
    D-SACK block it carried cannot be seen (False: no such ACK, or its options whole).
    A receiver answers a duplicate at once (Linux tcp_send_dupack), with the D-SACK (RFC
    2883) on that ACK: whether a resend was needed is read there.

    ``answered_earlier`` (per row of ``rows``): the ACK of its bytes echoes an earlier copy's
    timestamp (``SegmentRows.echo_older``), so the next ACKs answer segments sent before it
    (ACKs queued on the way back) and the one a D-SACK of it would ride on comes later: then
    any later ACK of the other side with its options cut counts."""
    out = np.zeros(len(rows), dtype=bool)
    if not options_cut.any():
        return out
    for side in (True, False):
        mine = np.flatnonzero(from_client[rows] == side)
        peer_acks = np.flatnonzero(ack & (from_client != side))
        if not len(mine) or not len(peer_acks):
            continue
        at = rows[mine]
        k = np.searchsorted(peer_acks, at, side="right")
        found = k < len(peer_acks)
        nxt = peer_acks[np.minimum(k, len(peer_acks) - 1)]
        out[mine] = found & (conn[nxt] == conn[at]) & options_cut[nxt]
        late = mine[answered_earlier[mine]] if answered_earlier is not None else mine[:0]
        cut_acks = peer_acks[options_cut[peer_acks]]
        if len(late) and len(cut_acks):
            at = rows[late]
            k = np.searchsorted(cut_acks, at, side="right")
            nxt = cut_acks[np.minimum(k, len(cut_acks) - 1)]
            out[late] |= (k < len(cut_acks)) & (conn[nxt] == conn[at])
    return out


def reopenings(
    *,
    server_synack: np.ndarray,
    server_refusal: np.ndarray,
    client_bare: np.ndarray,
    rel_seq: np.ndarray,
    rel_ack: np.ndarray,
    starts: np.ndarray,
) -> np.ndarray:
    """``reopens`` per row (connection order, ``starts``): the server's SYN+ACKs (not
    duplicates) with a new ISN answering another client ISN than the connection's first
    SYN+ACK did, and its refusal-shaped RSTs (``server_refusal``: the reset of a SYN) that do
    not answer the stream's own SYN (ack 1), are not the stream's first segment, and follow no
    bare client segment of their connection (``client_bare``: no ACK flag, a FIN scan's FIN,
    which they may have reset)."""
    out = np.zeros(len(rel_seq), dtype=bool)
    out[_new_synacks(rel_seq, rel_ack, starts, server_synack)] = True
    refusal = server_refusal & (rel_ack != 1)
    refusal[starts[:-1][np.diff(starts) > 0]] = False  # a stream's first segment opens it
    candidates = np.flatnonzero(refusal)
    bare = np.flatnonzero(client_bare)
    conn_start = starts[np.searchsorted(starts, candidates, side="right") - 1]
    answered = np.searchsorted(bare, candidates) > np.searchsorted(bare, conn_start)
    refusal[candidates[answered]] = False
    return np.asarray(out | refusal)


def _new_synacks(
    rel_seq: np.ndarray, rel_ack: np.ndarray, starts: np.ndarray, synack: np.ndarray
) -> np.ndarray:
    """Rows of ``synack`` with a new ISN (relative seq not 0) answering another client ISN
    (relative ack not 1) than the first SYN+ACK of their connection did."""
    new = np.flatnonzero(synack & (rel_seq != 0) & (rel_ack != 1))
    if not len(new):
        return new
    every = np.flatnonzero(synack)
    conn = np.searchsorted(starts, new, side="right") - 1
    first = every[np.searchsorted(every, starts[conn])]  # the connection's first SYN+ACK
    differs = (rel_seq[new] != rel_seq[first]) & (rel_ack[new] != rel_ack[first])
    found: np.ndarray = new[differs]
    return found


def _connection_order(conn: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """Rows by connection, frame order inside: ``np.lexsort((frame, conn))``. Rows already in
    frame order (as flows leave them) with connection ids not far apart need only a stable
    sort by connection, a counting sort in the compiled core."""
    if not native.active or not len(conn):
        return np.lexsort((frame, conn))
    low = int(conn.min())
    span = int(conn.max()) - low + 1
    # The count per id is one int64 each: no more of them than rows (bounded memory).
    if span > len(conn) or not bool(np.all(frame[1:] >= frame[:-1])):
        return np.lexsort((frame, conn))
    return _grouped_order(conn - low, span)


def _grouped_order(keys: np.ndarray, n_keys: int) -> np.ndarray:
    """The rows sorted by ``keys`` (each in [0, n_keys)), each key's rows in their order:
    ``np.argsort(keys, kind="stable")``; a counting sort in the compiled core when built."""
    if not native.active:
        return np.argsort(keys, kind="stable")
    out = np.empty(len(keys), dtype=np.int64)
    native.core.group_order(native.int64s(keys), n_keys, out.data)
    return out


def reduce_per_connection(
    ufunc: np.ufunc,
    values: np.ndarray,
    starts: np.ndarray,
    *,
    empty: int | bool,
    dtype: type,
) -> np.ndarray:
    """Per connection (rows ``starts[k]:starts[k + 1]``, grouped; ``starts[-1]`` is
    ``len(values)``): ``ufunc`` reduced over its rows of ``values`` in ``dtype``, ``empty``
    for a connection without rows. One ``reduceat`` pass over the contiguous rows; only the
    connections with rows are asked (reduceat would give an empty one its next row)."""
    heads, ends = starts[:-1], starts[1:]
    out: np.ndarray = np.full(len(heads), empty, dtype=dtype)
    filled = heads < ends
    if len(values) and filled.any():
        out[filled] = ufunc.reduceat(values, heads[filled], dtype=dtype)
    return out


def _scale_known(
    wscale: np.ndarray, syns: np.ndarray, dir_key: np.ndarray, n_dirs: int
) -> np.ndarray:
    """Per connection: both directions' SYNs captured, each with its options whole or its
    window scale found (``wscale``: of the ``syns`` rows; ``WSCALE_CUT`` where the snaplen
    cut a SYN's options before one was), so whether windows are scaled, and by how much, is
    known (RFC 7323 2.2: scaling is on only when both SYNs carried the option). A SYN cut
    short may have carried the option (Linux sends it last), and a window of 512 be 512
    bytes or 64 KB."""
    keys = dir_key[syns]
    seen = np.bincount(keys, minlength=n_dirs) > 0
    cut = np.bincount(keys[wscale == WSCALE_CUT], minlength=n_dirs) > 0
    found = np.bincount(keys[wscale >= 0], minlength=n_dirs) > 0
    known = seen & (found | ~cut)
    return np.asarray(known.reshape(-1, 2).all(axis=1))


def new_data(facts: Facts) -> np.ndarray:
    """Segments carrying bytes sent for the first time (what a window can hold back)."""
    return np.asarray(
        (facts.seg_len > 0)
        & ~facts.is_retrans
        & ~facts.is_dup
        & ~facts.probe_shape
        & ~facts.is_window_probe
        & ~facts.syn
        & ~facts.rst
    )


def largest_segments(facts: Facts, new_data: np.ndarray) -> np.ndarray:
    """Per connection and side (``conn_index * 2 + from_client``): the largest new data it
    sent (TSO/GRO super-segments aside), 0 when none."""
    lengths = np.where(new_data & ~facts.super_segment, facts.seg_len, 0)
    largest = np.zeros(2 * len(facts.conn_ids), dtype=np.int64)
    largest[0::2] = per_connection_max(np.where(facts.from_client, 0, lengths), facts.starts)
    largest[1::2] = per_connection_max(np.where(facts.from_client, lengths, 0), facts.starts)
    return largest


@dataclass(frozen=True, slots=True)
class NewData:
    """The segments of new data (``new_data``) and each side's largest (``largest_segments``),
    read once for the delays stage's columnar passes (window_full, nagle, app_pause)."""

    mask: np.ndarray  # per row
    largest: np.ndarray  # per connection and side: conn_index * 2 + from_client

    @staticmethod
    def of(facts: Facts) -> NewData:
        mask = new_data(facts)
        return NewData(mask, largest_segments(facts, mask))


def full_size(facts: Facts, largest: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """For the segments ``rows``, their sender's full-sized segment: the largest new data it
    sent in the connection (``largest_segments``), at most the MSS the peer announced."""
    size = largest[facts.conn_index[rows] * 2 + facts.from_client[rows]]
    mss = facts.peer_mss[rows]
    return np.asarray(np.where((mss > 0) & (mss < size), mss, size))


def per_connection_max(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The largest of ``values`` (at least 0; of a bool column, 1 where any is set) over each
    connection's rows (``facts.starts``: they are contiguous): one ``reduceat`` pass, where
    ``np.maximum.at`` scattering row by row into a (connection, side) slot, or ``bincount``
    of every row's connection, cost several times more on the bench capture."""
    largest = reduce_per_connection(np.maximum, values, starts, empty=0, dtype=np.int64)
    return np.asarray(np.maximum(largest, 0))


def rows_per_connection(mask: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Per connection (``reduce_per_connection``): how many of its rows satisfy ``mask``
    (int64). A sparse mask (most are: SYNs, retransmissions, duplicates) is counted from its
    few set rows, each connection's share found by a binary search of its first row: a
    third of the summing pass's time, which widens every row to int64."""
    if np.count_nonzero(mask) * SPARSE_FRACTION < len(mask):
        return np.diff(np.searchsorted(np.flatnonzero(mask), starts)).astype(np.int64)
    return reduce_per_connection(np.add, mask, starts, empty=0, dtype=np.int64)


#: ``rows_per_connection``: a mask with fewer than 1 row in this many set is "sparse".
SPARSE_FRACTION = 8


def any_per_connection(mask: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Per connection (``reduce_per_connection``): does any of its rows satisfy ``mask``?"""
    return reduce_per_connection(np.logical_or, mask, starts, empty=False, dtype=np.bool_)


def extreme_per_key(
    ufunc: np.ufunc, keys: np.ndarray, values: np.ndarray, n_keys: int, none: int
) -> np.ndarray:
    """Per key in [0, n_keys): the largest (``np.maximum``) or smallest (``np.minimum``) of
    ``values`` at its ``keys`` (int64); ``none`` for a key without values (beyond every value,
    as ``ufunc.at`` into a ``none``-filled array needs it).

    ``ufunc.at`` costs ~25 ns a value; a plain scatter ~3. So one scatter first picks a value
    per key (written in order for a maximum, reversed for a minimum: on values in about that
    order, as a capture's times are, the pick is already the answer), then only the values
    that beat their key's pick go through ``ufunc.at``: exact whichever value the scatter kept.
    """
    out = np.full(n_keys, none, dtype=np.int64)
    if ufunc is np.minimum:
        out[keys[::-1]] = values[::-1]
        better = np.flatnonzero(values < out[keys])
    else:
        out[keys] = values
        better = np.flatnonzero(values > out[keys])
    ufunc.at(out, keys[better], values[better])
    return out


def rows_of_connections(starts: np.ndarray, which: np.ndarray) -> np.ndarray:
    """The rows (grouped order) of the connections at positions ``which`` (ascending)."""
    heads = starts[which]
    sizes = starts[which + 1] - heads
    firsts = np.cumsum(sizes) - sizes  # where each connection's rows begin in the answer
    return np.asarray(np.repeat(heads - firsts, sizes) + np.arange(int(sizes.sum())))


def scan_probes(
    *,
    syn: np.ndarray,
    ack: np.ndarray,
    rst: np.ndarray,
    seg_len: np.ndarray,
    from_client: np.ndarray,
    starts: np.ndarray,
    conn_index: np.ndarray,
) -> np.ndarray:
    """Per connection: a port scanner's probes, not a connection (``nmap -sF``/``-sN``/``-sX``);
    ``Facts.scan_probe`` holds it per row.

    Kernel rule: every segment after a SYN carries ACK (RFC 9293 3.10.7.4), so no TCP stack
    sends a segment without SYN, ACK or RST; a scanner crafts one (a FIN, no flag at all, FIN +
    PSH + URG) to read the answer. A Linux host with no socket for it answers RST + ACK (seq 0,
    ack = the probe's end: ``tcp_v4_send_reset``); a listening or established socket drops it
    unanswered (``tcp_rcv_state_process``: no ACK bit, discard). So: the first segment carries
    none of SYN, ACK and RST and no payload (a probe carries none; data without ACK is a
    damaged or truncated header's misreading, not a probe), nor does any other from its
    sender, and its peer sent RSTs only. Such a connection did not begin before the capture:
    it never began."""
    out = np.zeros(len(starts) - 1, dtype=bool)
    first = starts[:-1]
    has_rows = first < starts[1:]
    lead = first[has_rows]
    bare = ~(syn[lead] | ack[lead] | rst[lead]) & (seg_len[lead] == 0)
    candidates = np.flatnonzero(has_rows)[bare]
    if not len(candidates):
        return out
    at = rows_of_connections(starts, candidates)
    conn = conn_index[at]
    prober = from_client[at] == from_client[starts[conn]]
    probe = ~(syn[at] | ack[at] | rst[at]) & (seg_len[at] == 0)
    fits = np.where(prober, probe, rst[at])
    spoiled = np.zeros(len(out), dtype=bool)
    spoiled[conn[~fits]] = True
    out[candidates] = ~spoiled[candidates]
    return out


def _synack_ts_ecr(col: _Columns, synack: np.ndarray) -> np.ndarray:
    """``SegmentRows.synack_ts_ecr``: TSecr gathered at the SYN+ACK rows only (a handful of
    a connection's rows), 0 elsewhere."""
    out = np.zeros(len(synack), dtype=np.int64)
    rows = np.flatnonzero(synack)
    out[rows] = col.get("ts_ecr", np.int64, rows)
    return out


class _Columns:
    """Segment columns as numpy arrays in grouped order (missing optional ones as zeros)."""

    def __init__(self, segments: pd.DataFrame, order: np.ndarray) -> None:
        self._segments = segments
        self._order = order

    def get(
        self, name: str, dtype: type | None = None, rows: np.ndarray | None = None
    ) -> np.ndarray:
        """Column ``name`` as ``dtype`` (None: its own type, int64 when missing); ``rows``:
        only at those (grouped) rows."""
        order = self._order if rows is None else self._order[rows]
        if name not in self._segments.columns:
            return np.zeros(len(order), dtype=dtype or np.int64)
        # Gather in the column's own (narrower) type, then widen: one pass over the big
        # array less than widening the whole column first.
        gathered = self._segments[name].to_numpy()[order]
        return np.asarray(gathered if dtype is None else gathered.astype(dtype, copy=False))


def _echoes_older(
    resent: np.ndarray,
    acks: np.ndarray,
    from_client: np.ndarray,
    conn_index: np.ndarray,
    seq_end: np.ndarray,
    rel_ack: np.ndarray,
    ts_val: np.ndarray,
    col: _Columns,
) -> np.ndarray:
    """``SegmentRows.echo_older``: per row, a retransmission (``resent``: stamped data
    resends) whose bytes the peer's first later ACK covering them (``acks``: its stamped
    ACKs) acknowledged echoing a TSval older than this copy's (TSecr before TSval, mod 2^32).

    The receiver echoes the TSval of the segment that advanced its window (RFC 7323 4.3,
    tcp_replace_ts_recent): a resend that repaired the hole is echoed itself, so an older
    echo on the ACK of its bytes means an earlier copy had arrived and this one was not
    needed (Eifel detection, RFC 3522: Linux tcp_packet_delayed undoes the loss state,
    TcpExtTCPLossUndo). TSecr survives a short snaplen (NOP, NOP, TS lead the options)."""
    n = len(resent)
    out = np.zeros(n, dtype=bool)
    if not resent.any():
        return out
    for side in (True, False):
        mine = np.flatnonzero(resent & (from_client == side))
        peer = np.flatnonzero(acks & (from_client != side))
        if not len(mine) or not len(peer):
            continue
        # The peer's highest ACK so far, per connection (rows grouped by connection): a
        # running max of (connection, ACK), one key.
        conn = conn_index[peer].astype(np.int64)
        highest = np.maximum.accumulate(conn * 2**40 + np.clip(rel_ack[peer], 0, 2**40 - 1))
        highest -= conn * 2**40
        hi = np.searchsorted(conn, conn_index[mine], side="right")
        lo = np.minimum(np.searchsorted(peer, mine, side="right"), hi)
        j = first_at_least(highest, lo, hi, seq_end[mine])
        found = j < hi
        rows, answer = mine[found], peer[j[found]]
        echo = col.get("ts_ecr", np.int64, answer)
        older = (ts_val[rows] - echo) % 2**32
        out[rows] = (older > 0) & (older < 2**31)
    return out


def first_at_least(
    values: np.ndarray, lo: np.ndarray, hi: np.ndarray, target: np.ndarray
) -> np.ndarray:
    """Per query k: the first index in ``lo[k]:hi[k]`` where ``values`` >= ``target[k]``
    (``hi[k]``: none); ``values`` ascends within each queried range (a connection's rows).
    For integer values, "the first above x" is the first at least ``x + 1``. One binary search
    per query in the compiled core when it is built, else ``_first_at_least_numpy``."""
    if not native.active or not _all_int64(values, lo, hi, target):
        return _first_at_least_numpy(values, lo, hi, target)
    out = np.empty(len(lo), dtype=np.int64)
    native.core.first_at_least(
        native.int64s(values), native.int64s(lo), native.int64s(hi), native.int64s(target),
        out.data,
    )  # fmt: skip
    return out


def _first_at_least_numpy(
    values: np.ndarray, lo: np.ndarray, hi: np.ndarray, target: np.ndarray
) -> np.ndarray:
    """``first_at_least`` with numpy only: one vectorised binary search, log2 of the longest
    range steps over all queries."""
    lo, hi = lo.copy(), hi.copy()
    while True:
        open_ = lo < hi
        if not open_.any():
            return lo
        mid = (lo + hi) // 2
        below = open_ & (values[np.where(open_, mid, 0)] < target)
        lo = np.where(below, mid + 1, lo)
        hi = np.where(open_ & ~below, mid, hi)


def _all_int64(*columns: np.ndarray) -> bool:
    """Every column is int64 (what the compiled core reads without a conversion that could
    change a value)."""
    return all(c.dtype == np.int64 for c in columns)


def _sack_edge(
    edge: np.ndarray, sacking: np.ndarray, rel_ack: np.ndarray, ack: np.ndarray
) -> np.ndarray:
    """A SACK edge (``edge``, raw, at the ``sacking`` rows) relative like ``rel_ack`` (it is
    within 2**31 of the ACK), UNKNOWN on the rows without a SACK block."""
    out = np.full(len(rel_ack), UNKNOWN, dtype=np.int64)
    out[sacking] = rel_ack[sacking] + seqnum.distance(edge, ack[sacking])
    return out


def _spurious(is_retrans: np.ndarray, seq_end: np.ndarray, snd_una: np.ndarray) -> np.ndarray:
    """Per row: a retransmission of bytes the peer had already acknowledged (asked of the
    few retransmitted rows only)."""
    out = np.zeros(len(is_retrans), dtype=bool)
    resent = np.flatnonzero(is_retrans)
    una = snd_una[resent]
    out[resent] = (una != UNKNOWN) & (seq_end[resent] <= una)
    return out


def _scaled_window(
    raw_window: np.ndarray, dir_shift: np.ndarray, dir_key: np.ndarray, is_syn: np.ndarray
) -> np.ndarray:
    """Each row's window shifted by its direction's scale (``dir_shift``), never on a SYN
    (RFC 7323 2.2); ``raw_window`` itself when no direction scales (nothing to shift)."""
    if not dir_shift.any():
        return raw_window
    shift = dir_shift[dir_key]
    shift[is_syn] = 0
    return np.asarray(np.left_shift(raw_window, shift, out=shift))


def _where_acked(rel_ack: np.ndarray, has_ack: np.ndarray) -> np.ndarray:
    """``rel_ack`` (0 where ``_unwrap`` skipped a row) with UNKNOWN on the rows without the
    ACK flag; written in place (the caller's last use of it)."""
    rel_ack[~has_ack] = UNKNOWN
    return rel_ack


#: Bare ACKs at one sequence number before a RST one above it: this many make them probes.
PROBES_BEFORE_RESET = 2


@dataclass(frozen=True, slots=True)
class _OpeningRows:
    """The per-row columns ``_opening_probes`` reads (grouped order)."""

    bare: np.ndarray  # ACK, no payload, no SYN/FIN/RST
    own_ack: np.ndarray
    rel_seq: np.ndarray
    rel_ack: np.ndarray
    has_ts: np.ndarray
    ts_val: np.ndarray
    from_client: np.ndarray
    conn_index: np.ndarray
    starts: np.ndarray
    dir_key: np.ndarray
    dir_order: np.ndarray
    n_dirs: int


def _opening_probes(r: _OpeningRows, col: _Columns) -> np.ndarray:
    """Rows that open their direction (no SYN before them: a capture begun inside the
    connection) with a keepalive or window probe, by the peer's answer: its next segment
    acknowledges the row's seq + 1 and echoes an older TSval than the row carries.

    A probe is sent at snd.una - 1 (``tcp_xmit_probe_skb``): below the receiver's window, so
    the receiver answers it with a duplicate ACK of rcv.nxt (the probe's seq + 1;
    ``tcp_sequence`` fails, ``tcp_send_dupack``) and does not take its timestamp
    (``tcp_replace_ts_recent`` only takes an in-window segment's): the answer echoes the
    TSval of an earlier segment. An ordinary ACK at snd.nxt whose next byte the capture lost
    shows the same numbers, but the ACK of that byte echoes that byte's TSval, never one
    older than the bare ACK's. Without timestamps the two cannot be told apart: not read."""
    counts = np.bincount(r.dir_key, minlength=r.n_dirs)
    offsets = np.cumsum(counts) - counts
    firsts = r.dir_order[offsets[counts > 0]]
    cand: np.ndarray = firsts[r.bare[firsts] & r.has_ts[firsts]].astype(np.int64)
    if not len(cand):
        return cand
    # The peer's next row, among the rows of the (few) connections holding a candidate.
    sel = rows_of_connections(r.starts, np.unique(r.conn_index[cand]))
    nxt = nearest_rows(
        r.conn_index[sel],
        r.from_client[sel],
        np.zeros(len(sel), dtype=bool),
        np.ones(len(sel), dtype=bool),
        later=True,
    )[np.searchsorted(sel, cand)]
    cand, peer = cand[nxt >= 0], sel[nxt[nxt >= 0]]
    answers = r.own_ack[peer] & r.has_ts[peer] & (r.rel_ack[peer] == r.rel_seq[cand] + 1)
    cand, peer = cand[answers], peer[answers]
    older = (r.ts_val[cand] - col.get("ts_ecr", np.int64, peer)) % 2**32
    probes: np.ndarray = cand[(older > 0) & (older < 2**31)]
    return probes


def _probes_before_reset(
    bare: np.ndarray,
    rst: np.ndarray,
    is_dup: np.ndarray,
    rel_seq: np.ndarray,
    dir_key: np.ndarray,
    dir_order: np.ndarray,
) -> np.ndarray:
    """Rows of ``bare`` (bare ACKs not yet probe-shaped) that are probes at snd.nxt - 1 by
    what follows them: ``PROBES_BEFORE_RESET`` or more of them in a row, all at one sequence
    number, are their direction's last segments (capture copies aside) before its RST, and
    the RST's sequence number is one higher. A RST leaves at snd.nxt (tcp_send_active_reset,
    as when keepalive or a user timeout gives up), so it tells the snd.nxt a capture begun
    inside the connection never showed; an ordinary ACK sits at snd.nxt, a probe one below
    it (tcp_xmit_probe_skb). The keepalive timeout's shape: probes TCP_KEEPINTVL apart, then
    the RST."""
    n = len(bare)
    rsts = np.flatnonzero(rst)
    if not len(rsts) or not bare.any():
        return np.zeros(0, dtype=np.int64)
    rank = np.empty(n, dtype=np.int64)
    rank[dir_order] = np.arange(n)
    at = rank[rsts]
    has_prev = at > 0
    rsts, at = rsts[has_prev], at[has_prev]
    prev = dir_order[at - 1]
    keep = (dir_key[prev] == dir_key[rsts]) & bare[prev] & (rel_seq[prev] == rel_seq[rsts] - 1)
    found: list[int] = []
    for r, i in zip(rsts[keep].tolist(), at[keep].tolist(), strict=True):
        seq = int(rel_seq[r]) - 1
        rows: list[int] = []
        i -= 1
        while i >= 0:
            row = int(dir_order[i])
            if dir_key[row] != dir_key[r]:
                break
            if not is_dup[row]:
                if not bare[row] or rel_seq[row] != seq:
                    break
                rows.append(row)
            i -= 1
        if len(rows) >= PROBES_BEFORE_RESET:
            found.extend(rows)
    return np.asarray(sorted(found), dtype=np.int64)


def _after_own_fin(
    rows: np.ndarray, is_fin: np.ndarray, dir_key: np.ndarray, n_dirs: int
) -> np.ndarray:
    """Per row of ``rows``: its direction sent a FIN on an earlier row."""
    first_fin = np.full(n_dirs, len(is_fin), dtype=np.int64)
    fins = np.flatnonzero(is_fin)[::-1]  # reversed so the earliest FIN is written last
    first_fin[dir_key[fins]] = fins
    return np.asarray(rows > first_fin[dir_key[rows]])


#: The persist timer is never shorter than TCP_RTO_MIN (tcp_probe0_base), less 10 % for where
#: the capture sits: a probe-shaped segment sooner after the byte it stands at is no probe
#: (an ACK reordered behind data on its way to the capture point).
PERSIST_MIN_NS = round(RTO_FLOOR_S * 1e9)
#: How far (rows) ``_closed_unseen`` looks for the peer's answer to a probe, and back for the
#: transmission of the byte before it.
ANSWER_SEARCH_ROWS = 64


@dataclass(frozen=True, slots=True)
class _ProbeContext:
    """The columns ``_closed_unseen`` reads (``rel_ack``: UNKNOWN on rows without an ACK)."""

    starts: np.ndarray
    conn_index: np.ndarray
    from_client: np.ndarray
    is_dup: np.ndarray
    syn_fin_rst: np.ndarray
    window: np.ndarray
    rel_ack: np.ndarray
    rel_seq: np.ndarray
    seq_end: np.ndarray
    seg_len: np.ndarray
    snd_una: np.ndarray
    time_ns: np.ndarray


def _closed_unseen(rows: np.ndarray, c: _ProbeContext) -> np.ndarray:
    """Per row of ``rows`` (probe-shaped, 0 bytes at snd.una - 1 or 1 byte at snd.nxt - 1,
    sent while the peer's last captured window was open): a zero-window (persist) probe
    whose announcing ACK the capture lost, not a keepalive. The evidence, tried in order:

    - The peer's next segment is a bare ACK of the probe's next byte advertising window 0.
      Linux never shrinks the window it offered (tcp_select_window keeps its right edge,
      RFC 7323 2.4; net.ipv4.tcp_shrink_window=0): an open window reads 0 in an ACK of
      nothing new only if data filled it, and the ACK for that data, which announced window
      0, is the one missing. A keepalive's answer shows the window as it was.
    - The probe stands at a byte the capture never saw acknowledged (its seq + 1 is past
      the peer's highest captured ACK: Linux probes at snd.una - 1, tcp_xmit_probe_skb, so
      the sender had received an ACK the capture lacks), and it went out less than
      TCP_KEEPIDLE's 1 s minimum after the sender's own transmission of that byte: that ACK
      came after the transmission, and the keepalive timer needs at least 1 s with nothing
      received (and nothing outstanding). Only the persist timer sends such a probe (it
      backs off like the RTO, from TCP_RTO_MIN: not sooner than ``PERSIST_MIN_NS``).
    - It follows a window probe of this kind at the same seq, nothing sent in between, about
      twice the previous gap later: the persist timer's backoff (keepalive probes come
      TCP_KEEPINTVL apart, evenly).
    - It is one of three such probes in a row at a byte the capture never saw acknowledged,
      nothing sent in between and nothing heard from the peer from the first to the third,
      the second gap about twice the first (``_doubling_runs``): the persist timer's backoff,
      whenever the first probe went out. Unanswered keepalive probes repeat TCP_KEEPINTVL
      apart, evenly, and only an answer restarts TCP_KEEPIDLE (which the capture would show),
      so no keepalive timer sends them."""
    out = np.zeros(len(rows), dtype=bool)
    doubling = _doubling_runs(rows, c)
    last: dict[tuple[int, bool], tuple[int, int, int]] = {}  # (conn, side) -> probe, seq, gap
    for k, p in enumerate(rows.tolist()):
        conn, side = int(c.conn_index[p]), bool(c.from_client[p])
        lo, end = int(c.starts[conn]), int(c.starts[conn + 1])
        seq, t = int(c.rel_seq[p]), int(c.time_ns[p])
        # When the side last sent the byte the probe stands at (None: not in the rows before).
        sent_ns = _sent_at(p, max(lo, p - ANSWER_SEARCH_ROWS), seq, c)
        if sent_ns is not None and t - sent_ns < PERSIST_MIN_NS:
            continue  # sooner than any persist timer: an ACK reordered behind its data
        found = _answered_closed(p, end, c) or bool(doubling[k])
        if not found and c.snd_una[p] != UNKNOWN and c.snd_una[p] <= seq:
            found = sent_ns is not None and t - sent_ns < KEEPALIVE_MIN_IDLE_NS
        before = last.get((conn, side))
        if not found and before is not None:
            prev, prev_seq, prev_gap = before
            gap = t - int(c.time_ns[prev])
            quiet = not np.any(
                (c.from_client[prev + 1 : p] == side) & (c.seg_len[prev + 1 : p] > 0)
            )
            found = quiet and prev_seq == seq and close_to(gap / 1e9, 2 * prev_gap / 1e9)
        if found:
            out[k] = True
            if before is not None and before[1] == seq:
                gap_ns = t - int(c.time_ns[before[0]])
            else:
                gap_ns = t - sent_ns if sent_ns is not None else t - int(c.time_ns[max(lo, p - 1)])
            last[(conn, side)] = (p, seq, gap_ns)
    return out


def _doubling_runs(rows: np.ndarray, c: _ProbeContext) -> np.ndarray:
    """Per row of ``rows``: one of three consecutive rows (of one side of one connection) at
    the same seq, a byte the capture never saw acknowledged, with no data of that side and no
    segment of the peer's from the first to the third, the second gap ``close_to`` twice the
    first (``_closed_unseen``'s fourth rule)."""
    out = np.zeros(len(rows), dtype=bool)
    for k in range(len(rows) - 2):
        a, b, z = (int(r) for r in rows[k : k + 3])
        conn, side, seq = int(c.conn_index[a]), bool(c.from_client[a]), int(c.rel_seq[a])
        if int(c.conn_index[z]) != conn or bool(c.from_client[b]) != side:
            continue
        if bool(c.from_client[z]) != side or int(c.rel_seq[b]) != seq or int(c.rel_seq[z]) != seq:
            continue
        if c.snd_una[a] == UNKNOWN or c.snd_una[a] > seq:
            continue  # the byte was seen acknowledged: not the snd.una - 1 of a stalled sender
        between = slice(a + 1, z)
        own = c.from_client[between] == side
        if np.any(~own & ~c.is_dup[between]) or np.any(own & (c.seg_len[between] > 0)):
            continue  # the peer said something, or the side sent data: no unbroken run
        first, second = int(c.time_ns[b]) - int(c.time_ns[a]), int(c.time_ns[z]) - int(c.time_ns[b])
        if first > 0 and close_to(second / 1e9, 2 * first / 1e9):
            out[k : k + 3] = True
    return out


def _answered_closed(p: int, end: int, c: _ProbeContext) -> bool:
    """The peer's next segment after probe ``p`` is a bare ACK of its next byte with window 0."""
    side = c.from_client[p]
    for j in range(p + 1, min(end, p + 1 + ANSWER_SEARCH_ROWS)):
        if c.from_client[j] == side or c.is_dup[j]:
            continue
        return bool(not c.syn_fin_rst[j] and c.window[j] == 0 and c.rel_ack[j] == c.rel_seq[p] + 1)
    return False


def _sent_at(p: int, lo: int, seq: int, c: _ProbeContext) -> int | None:
    """When the side of probe ``p`` last transmitted byte ``seq`` before it (rows ``lo``..p;
    None: not among them)."""
    side = c.from_client[p]
    for j in range(p - 1, lo - 1, -1):
        if c.from_client[j] != side or c.is_dup[j] or c.seg_len[j] == 0:
            continue
        if c.rel_seq[j] <= seq < c.seq_end[j]:
            return int(c.time_ns[j])
    return None


def _idle_before(
    rows: np.ndarray,
    starts: np.ndarray,
    conn_index: np.ndarray,
    from_client: np.ndarray,
    probe_shape: np.ndarray,
    time_ns: np.ndarray,
) -> np.ndarray:
    """Per row of ``rows`` (probe-shaped): ``KEEPALIVE_MIN_IDLE_NS`` or more since its side
    last heard from the peer, or nothing heard before it in the capture and it opens its
    connection or follows a quiet second. Linux's keepalive timer counts from what the
    socket received (keepalive_time_elapsed: lrcvtime, rcv_tstamp); the peer's own
    keepalive probes are out of window and never reach tcp_ack, so they restart nothing,
    and a side answers a peer's probe and sends its own a few ms later when both timers
    are due. ``probe_shape`` marks every row that is no news from the peer: the caller
    adds the capture's copies (``is_dup``: a second sighting of a packet the socket got
    once, as late as another capture point's clock stamps it)."""
    if not len(rows):
        return np.zeros(0, dtype=bool)
    # the rows of the connections holding a candidate (a few), in one walk
    sel = rows_of_connections(starts, np.unique(conn_index[rows]))
    heard = nearest_rows(
        conn_index[sel],
        from_client[sel],
        np.zeros(len(sel), dtype=bool),
        ~probe_shape[sel],
        later=False,
    )
    at = np.searchsorted(sel, rows)
    last = heard[at]
    known = last >= 0
    out = np.zeros(len(rows), dtype=bool)
    out[known] = time_ns[rows[known]] - time_ns[sel[last[known]]] >= KEEPALIVE_MIN_IDLE_NS
    unheard = rows[~known]
    prev = np.maximum(unheard - 1, 0)
    opens = (unheard == 0) | (conn_index[prev] != conn_index[unheard])
    out[~known] = opens | (time_ns[unheard] - time_ns[prev] >= KEEPALIVE_MIN_IDLE_NS)
    return out


def _group_starts(keys_sorted: np.ndarray) -> np.ndarray:
    """Boolean mask: first row of each run of equal keys."""
    first = np.ones(len(keys_sorted), dtype=bool)
    first[1:] = keys_sorted[1:] != keys_sorted[:-1]
    return first


def _direction_first(
    values: np.ndarray, mask: np.ndarray, dir_key: np.ndarray, n_dirs: int, missing: np.int64
) -> np.ndarray:
    """Per direction: ``values`` at the first row where ``mask`` holds (rows are frame-ordered)."""
    rows = np.flatnonzero(mask)
    return _direction_first_at(values[rows], rows, dir_key, n_dirs, missing)


def _direction_first_at(
    values: np.ndarray, rows: np.ndarray, dir_key: np.ndarray, n_dirs: int, missing: np.int64
) -> np.ndarray:
    """Per direction: ``values`` (one per row of ``rows``, ascending) at its first row."""
    out = np.full(n_dirs, missing, dtype=np.int64)
    out[dir_key[rows[::-1]]] = values[::-1]  # reversed so the earliest row is written last
    return out


def _direction_base(
    seq: np.ndarray, is_syn: np.ndarray, dir_key: np.ndarray, dir_order: np.ndarray, n_dirs: int
) -> np.ndarray:
    """Each direction's ISN: the SYN's seq, else the first seq seen (capture began mid-way)."""
    base = _direction_first(seq, is_syn, dir_key, n_dirs, UNKNOWN)
    keys = dir_key[dir_order]
    first_rows = dir_order[_group_starts(keys)]
    no_syn = base[dir_key[first_rows]] == UNKNOWN
    base[dir_key[first_rows[no_syn]]] = seq[first_rows[no_syn]]
    return base


def _unwrap(
    values: np.ndarray,
    base: np.ndarray,
    dir_key: np.ndarray,
    dir_order: np.ndarray,
    valid: np.ndarray,
) -> np.ndarray:
    """Unwrapped ``values - base[direction]`` per direction, following valid rows in frame
    order (``seqnum.unwrap``); 0 on the other rows. One walk in the compiled core when it is
    built (``read.native``), else numpy (the reference, ``_unwrap_numpy``)."""
    if not native.active:
        return _unwrap_numpy(values, base, dir_key, dir_order, valid)
    out = np.zeros(len(values), dtype=np.int64)
    native.core.unwrap_runs(
        native.int64s(values),
        native.int64s(base),
        native.int64s(dir_key),
        native.int64s(dir_order),
        native.flags(valid),
        out.data,
    )
    return out


def _unwrap_numpy(
    values: np.ndarray,
    base: np.ndarray,
    dir_key: np.ndarray,
    dir_order: np.ndarray,
    valid: np.ndarray,
) -> np.ndarray:
    """``_unwrap`` with numpy only."""
    rows = dir_order[valid[dir_order]]
    keys = dir_key[rows]
    out = np.zeros(len(values), dtype=np.int64)
    out[rows] = seqnum.unwrap(values[rows], base[keys], _group_starts(keys))
    return out


def _grouped_cummax(values: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Running max of ``values`` restarting at each run of equal ``keys`` (keys contiguous).

    One numpy pass: each group is lifted by its rank times the value span so a group can never
    see an earlier group's values; pandas does it when that lift would overflow int64.
    """
    if len(values) == 0:
        return values.copy()
    rank = np.cumsum(_group_starts(keys)) - 1
    low = int(values.min())
    span = int(values.max()) - low + 1
    if span * (int(rank[-1]) + 1) < 2**62:
        lift = rank.astype(np.int64) * span - low
        return np.maximum.accumulate(values + lift) - lift
    return np.asarray(pd.Series(values).groupby(rank).cummax().to_numpy(np.int64))


def _exclusive_running_max(
    values: np.ndarray, dir_key: np.ndarray, dir_order: np.ndarray, fallback: np.ndarray
) -> np.ndarray:
    """Per direction, the max of ``values`` over earlier rows (``fallback`` for the first row);
    int64. One walk in the compiled core when it is built, else numpy."""
    if not native.active:
        return _exclusive_running_max_numpy(values, dir_key, dir_order, fallback)
    out = np.empty(len(values), dtype=np.int64)
    native.core.exclusive_running_max(
        native.int64s(values),
        native.int64s(dir_key),
        native.int64s(dir_order),
        native.int64s(fallback),
        out.data,
    )
    return out


def _exclusive_running_max_numpy(
    values: np.ndarray, dir_key: np.ndarray, dir_order: np.ndarray, fallback: np.ndarray
) -> np.ndarray:
    """``_exclusive_running_max`` with numpy only."""
    keys = dir_key[dir_order]
    run = _grouped_cummax(values[dir_order], keys)
    first = _group_starts(keys)
    prev = np.empty_like(run)
    prev[1:] = run[:-1]
    prev[first] = fallback[dir_order][first]
    out = np.empty_like(values)
    out[dir_order] = prev
    return out


def _peer_running_max(
    rel_ack: np.ndarray, has_ack: np.ndarray, from_client: np.ndarray, conn_index: np.ndarray
) -> np.ndarray:
    """For each row, the highest ACK its peer sent before it (rows already grouped by conn).
    One walk in the compiled core when it is built, else numpy."""
    if native.active:
        return _peer_scan(rel_ack, has_ack, from_client, conn_index, running_max=True)
    return _peer_running_max_numpy(rel_ack, has_ack, from_client, conn_index)


def running_max_before(
    values: np.ndarray, keys: np.ndarray, order: np.ndarray, missing: int
) -> np.ndarray:
    """Per row, the max of ``values`` over the earlier rows of its key (``missing`` at a key's
    first row); ``order`` lists the rows with each key's rows together, in frame order (a
    stable argsort of ``keys``). ``_exclusive_running_max`` for callers outside facts."""
    fallback = np.full(len(values), missing, dtype=np.int64)
    return _exclusive_running_max(values, keys, order, fallback)


def peer_max_before(
    values: np.ndarray, valid: np.ndarray, from_client: np.ndarray, conn_index: np.ndarray
) -> np.ndarray:
    """Per row, the largest ``values`` of an earlier ``valid`` row sent by the other side of
    its connection (rows grouped by connection, frame order inside; UNKNOWN: none).
    ``_peer_running_max`` for callers outside facts; ``values`` stay above UNKNOWN."""
    return _peer_running_max(values, valid, from_client, conn_index)


def peer_data_end(facts: Facts) -> np.ndarray:
    """Per row: the end of the highest data (SYN, FIN) the other side of its connection sent
    before it, RSTs aside (UNKNOWN: none), what ``across_a_hole`` reads; the delays stage
    computes it once for its three askers."""
    sent = (facts.seg_len > 0) | facts.syn | facts.fin
    return peer_max_before(facts.seq_end, sent & ~facts.rst, facts.from_client, facts.conn_index)


def across_a_hole(facts: Facts, rows: np.ndarray, peer_end: np.ndarray | None = None) -> np.ndarray:
    """Per row of ``rows`` (segments carrying data): did the capture miss bytes just before it?

    Its sender's: its seq is above the sender's highest end so far (bytes before it went by
    unseen). Its peer's: it acknowledges peer bytes the capture never saw (the peer said
    something more). Either way the silence between the seen segments is not what it looks
    like: a turn's wait (``delays._turns``: a tap that lost a second of frames would make a
    1 ms answer a slow one), a pause (``app_pause``: the unseen bytes may be a request).
    One byte more is allowed on the peer's side: a FIN the capture lost carries no data.
    ``peer_end``: ``peer_data_end(facts)``, when the caller has it."""
    own_unseen, peer_unseen = holes_before(facts, rows, peer_end)
    return np.asarray(own_unseen | peer_unseen)


def holes_before(
    facts: Facts, rows: np.ndarray, peer_end: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``across_a_hole``'s two parts, per row of ``rows``: its sender's bytes before it went
    by unseen (so far: a later copy may fill them), and it acknowledges peer bytes the
    capture never saw (the peer said something the capture will not hold)."""
    if peer_end is None:
        peer_end = peer_data_end(facts)
    own_unseen = facts.rel_seq[rows] > facts.next_seq[rows]
    known = peer_end[rows] != UNKNOWN
    peer_unseen = facts.ack[rows] & known & (facts.rel_ack[rows] > peer_end[rows] + 1)
    return np.asarray(own_unseen), np.asarray(peer_unseen)


def nearest_rows(
    conn: np.ndarray, client: np.ndarray, own: np.ndarray, peer: np.ndarray, *, later: bool
) -> np.ndarray:
    """Per row: the nearest row of its connection before it (``later``: after it) sent by its
    own side where ``own`` holds or by the other side where ``peer`` holds (-1: none).

    Rows are grouped by connection (``conn``, ascending), frame order inside. One walk in the
    compiled core when it is built, else ``_nearest_rows_numpy``. For the detectors' row
    links (retransmit's, close's)."""
    if not native.active:
        return _nearest_rows_numpy(conn, client, own, peer, later=later)
    out = np.empty(len(conn), dtype=np.int64)
    native.core.nearest_rows(
        native.int64s(conn), native.flags(client), native.flags(own), native.flags(peer),
        later, out.data,
    )  # fmt: skip
    return out


def _nearest_rows_numpy(
    conn: np.ndarray, client: np.ndarray, own: np.ndarray, peer: np.ndarray, *, later: bool
) -> np.ndarray:
    """``nearest_rows`` with numpy only: running minima (maxima) of row numbers over all
    connections, each kept only when it falls inside its own connection."""
    n = len(conn)
    idx = np.arange(n)
    found = np.empty(n, dtype=np.int64)
    for mine in (client, ~client):  # the rows asking: the client's, the server's
        hits = (mine & own) | (~mine & peer)
        if later:
            nearest = np.minimum.accumulate(np.where(hits, idx, n)[::-1])[::-1]
            found[mine] = np.append(nearest[1:], n)[mine]  # strictly later
        else:
            nearest = np.maximum.accumulate(np.where(hits, idx, -1))
            found[mine] = np.append(-1, nearest[:-1])[mine]  # strictly earlier
    inside = (found >= np.searchsorted(conn, conn, side="left")) & (
        found < np.searchsorted(conn, conn, side="right")
    )
    return np.where(inside, found, -1)


def _peer_running_max_numpy(
    rel_ack: np.ndarray, has_ack: np.ndarray, from_client: np.ndarray, conn_index: np.ndarray
) -> np.ndarray:
    """``_peer_running_max`` with numpy only."""
    out = np.full(len(rel_ack), UNKNOWN, dtype=np.int64)
    if len(rel_ack) == 0:
        return out
    floor = np.int64(min(int(rel_ack.min()), 0) - 1)  # below every real ACK: "none yet"
    for sender_is_client in (True, False):
        acks = np.where(has_ack & (from_client == sender_is_client), rel_ack, floor)
        run = _grouped_cummax(acks, conn_index)
        receivers = (from_client != sender_is_client) & (run != floor)
        out[receivers] = run[receivers]
    return out


def _peer_last(
    values: np.ndarray, from_client: np.ndarray, starts: np.ndarray, conn_index: np.ndarray
) -> np.ndarray:
    """For each row, ``values`` of the peer's most recent earlier row (UNKNOWN if none).
    One walk in the compiled core when it is built, else numpy."""
    if native.active:
        every_row = np.ones(len(values), dtype=np.bool_)
        return _peer_scan(values, every_row, from_client, conn_index, running_max=False)
    return _peer_last_numpy(values, from_client, starts, conn_index)


def _peer_scan(
    values: np.ndarray,
    valid: np.ndarray,
    from_client: np.ndarray,
    conn_index: np.ndarray,
    *,
    running_max: bool,
) -> np.ndarray:
    """The compiled core's walk behind ``_peer_running_max`` (``running_max``: the highest
    valid peer value so far) and ``_peer_last`` (the peer's latest value); UNKNOWN before the
    peer's first row in the connection."""
    out = np.empty(len(values), dtype=np.int64)
    native.core.peer_scan(
        native.int64s(values), native.flags(valid), native.flags(from_client),
        native.int64s(conn_index), int(UNKNOWN), running_max, out.data,
    )  # fmt: skip
    return out


def _peer_last_numpy(
    values: np.ndarray, from_client: np.ndarray, starts: np.ndarray, conn_index: np.ndarray
) -> np.ndarray:
    """``_peer_last`` with numpy only."""
    out = np.full(len(values), UNKNOWN, dtype=np.int64)
    idx = np.arange(len(values))
    conn_start = starts[:-1][conn_index]
    for sender_is_client in (True, False):
        last = np.maximum.accumulate(np.where(from_client == sender_is_client, idx, -1))
        receivers = (from_client != sender_is_client) & (last >= conn_start)
        out[receivers] = values[last[receivers]]
    return out


def _reordered(
    rows: np.ndarray,
    rel_seq: np.ndarray,
    data_end: np.ndarray,
    next_seq: np.ndarray,
    time_ns: np.ndarray,
    dir_key: np.ndarray,
) -> np.ndarray:
    """Per row of ``rows`` (none the first): never-seen bytes filling the gap that the same
    side's segment just before (no peer segment in between, within ``DUPLICATE_WINDOW_NS``)
    jumped over: reordering before the capture point, not a retransmission (nothing could have
    told the sender of a loss).

    ``data_end`` (at ``rows``) is each segment's last payload byte + 1 (a FIN counted only on a bare FIN): the bytes
    before a FIN-only segment may arrive on a segment carrying the FIN too (tcp_send_fin
    piggybacks the FIN on the last queued segment; the bare FIN jumped over it)."""
    prev = rows - 1  # grouped order: the previous row, the same side's when dir_key agrees
    seq = rel_seq[rows]
    return np.asarray(
        (dir_key[rows] == dir_key[prev])
        & (time_ns[rows] - time_ns[prev] <= DUPLICATE_WINDOW_NS)
        & (seq >= next_seq[prev])
        & (data_end <= rel_seq[prev])
        & (seq < data_end)
    )


#: A direction counts its IP IDs up when at least this share of its consecutive rows'
#: IDs step up by 1 to ``_ID_STEP`` (a per-socket or global counter), over 3 steps at least.
_COUNTING_UP_SHARE = 0.75
_ID_STEP = 1024


def _counting_up(
    rows: np.ndarray, ip_id: np.ndarray, dir_key: np.ndarray, dir_order: np.ndarray, n_dirs: int
) -> np.ndarray:
    """Per direction: its ``rows`` carry IP IDs that count up (Linux's per-socket counter,
    Windows' global one), not random ones (OpenBSD, FreeBSD's random_id) nor a test's."""
    sel = dir_order[rows[dir_order]]
    keys = dir_key[sel]
    same = keys[1:] == keys[:-1]
    step = (ip_id[sel][1:] - ip_id[sel][:-1]) % 2**16
    up = same & (step >= 1) & (step < _ID_STEP)
    pairs = np.bincount(keys[1:][same], minlength=n_dirs)
    ups = np.bincount(keys[1:][up], minlength=n_dirs)
    return np.asarray((pairs >= 3) & (ups >= _COUNTING_UP_SHARE * pairs))


@dataclass(frozen=True, slots=True)
class _SentRows:
    """The columns ``_sent_first`` reads."""

    rel_seq: np.ndarray
    seq_end: np.ndarray
    starts: np.ndarray
    conn_index: np.ndarray
    dir_key: np.ndarray


def _sent_first(
    rows: np.ndarray,
    stamped: np.ndarray,
    counter: np.ndarray,
    modulus: int,
    c: _SentRows,
    *,
    other_point: np.ndarray | None = None,
) -> np.ndarray:
    """Of the retransmitted ``rows``: those sent before every earlier segment of their sender
    that carried their first byte, as each of those carries a later ``counter`` (TSval,
    modulo 2**32; or a numbered sender's IP ID, modulo 2**16), over the ``stamped`` rows. A
    sender's TSval never goes back (RFC 7323 5.4; Linux stamps each transmission when it
    leaves, ``tcp_skb_timestamp_ts``), and a numbered sender gives each transmission the
    next IP ID (``ip_select_ident``), so such a row is the first transmission of its bytes,
    stamped late by another clock: captures of two points merged (mergecap) with clocks
    apart, the original seen only at the point before a drop and its resend at both; or
    reordering before the capture point (the original overtaken by its resend). Equal
    values (one clock tick) tell nothing. ``other_point`` (the TTL): only where every
    earlier segment carrying the row's first byte was seen at another point (another TTL):
    the IP ID rule asks for the two points' proof, as a test's or a tool's IP IDs may jump."""
    out = []
    half = modulus // 2
    for r in rows.tolist():
        before = np.arange(int(c.starts[c.conn_index[r]]), r)
        before = before[(c.dir_key[before] == c.dir_key[r]) & stamped[before]]
        start = c.rel_seq[r]
        carried = before[(c.rel_seq[before] <= start) & (c.seq_end[before] > start)]
        if not len(carried):
            continue
        if other_point is not None and np.any(other_point[carried] == other_point[r]):
            continue
        later = (counter[carried] - counter[r]) % modulus
        if np.all((later > 0) & (later < half)):
            out.append(r)
    return np.asarray(out, dtype=np.int64)
