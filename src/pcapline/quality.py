"""Capture quality: what the capture point missed, measured per connection and per capture.

A capture is not the wire. A capture point drops packets (tcpdump buffer, mirror port), a
capture filter keeps only some (``tcp[tcpflags] & tcp-syn != 0``), a tap sees one direction, and
a capture starts and stops in the middle of connections. A rule that infers a failure from an
absence (no answer, silence) is only as good as the capture; these facts let ``classify`` say how
sure a fate is (``model.Confidence``) and the report say what the capture could not see.

Kernel rules used (tcp-facts.md):

- A receiver acknowledges only bytes it received: an ACK beyond the highest sequence number the
  capture saw from the peer proves peer segments the capture point did not record (Wireshark's
  "ACKed unseen segment").
- Nothing acknowledges bytes before they were sent: an ACK the capture shows before the
  peer's data it acknowledges (by more than ``CLOCKS_APART_NS``) was stamped by another
  clock than that data: captures from two hosts merged (mergecap) with clocks apart, or a
  clock that stepped. Those bytes are in the capture, later: no loss at the capture point.
- A sender sends its bytes in order the first time and resends what was lost: a segment
  starting above the highest byte seen from its sender, whose gap no later segment of that
  sender fills, proves segments the capture point did not record (Wireshark's "previous
  segment not captured"). A gap filled later is a loss before the capture point (the
  retransmission passed it) or reordering, not the capture's. A gap never filled whose
  receiver duplicate-ACKs the byte before it (SACKing the bytes after it, or ACKing it twice)
  and never ACKs past it was lost before the capture point too: the receiver lacked it, so
  the capture saw what the receiver got (``_lost_before_capture``).
- A TCP exchange that opened carries at least one segment with none of SYN, FIN or RST (the
  handshake ACK), and a server retransmits a SYN+ACK nobody acknowledged after 1 s
  (TCP_TIMEOUT_INIT). A capture with no such segment at all, where a SYN+ACK still went
  unretried past that second, was filtered on the flags (or answered a flood with SYN
  cookies, which are never retried: the capture cannot tell those apart). A capture whose
  every SYN+ACK was retried is a capture of handshakes that never completed.

- The file itself says what it lost or cut: a pcapng Interface Statistics Block counts the
  packets the interface (isb_ifdrop) and the OS or capture buffer (isb_osdrop) dropped, and a
  frame shorter than its wire length was cut to the snapshot length (its payload is not in the
  file; lengths still come from the IP header). Dropped packets make every absence unreliable,
  as lost segments do (``ReadQuality``, from the read stage).

Columnar over ``facts.Facts`` (every connection at once); per connection in ``conn_ids`` order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from pcapline.detect.handshake import INITIAL_SYNACK_RTO_S, one_sided
from pcapline.facts import (
    UNKNOWN,
    Facts,
    any_per_connection,
    peer_max_before,
    rows_of_connections,
    rows_per_connection,
)
from pcapline.fmt import counted, frames_words, missing_kinds, seconds

if TYPE_CHECKING:
    from pcapline.read.capture import Capture

#: Offset between connections' relative sequence numbers, so one running maximum over the
#: grouped rows never carries a value from one connection into the next (relative sequence
#: numbers stay far below 2**40 after unwrapping).
_CONN_STRIDE = np.int64(2**41)

#: Data segments past which a capture holding SYNs, FINs or RSTs but not one bare ACK was
#: filtered (``CaptureWide.acks_filtered``).
ACKS_EXPECTED_WITHIN = 20
#: ``CaptureQuality.split_*_ns`` of a connection without such copies.
NO_SPLIT = np.iinfo(np.int64).min
#: A connection is seen at two capture points when at least this share of its packets are
#: copies of another (one point: none but a path's rare duplicate; two: about half).
TWICE_SHARE = 0.4
#: An ACK this far ahead of the data it acknowledges was stamped by another clock. One
#: capture point with one clock stamps packets queued on several CPUs a few microseconds out
#: of order (``-i any``, multi-queue NICs); two hosts' clocks, even NTP-synced, are further.
CLOCKS_APART_NS = 1_000_000


@dataclass(frozen=True, slots=True)
class Seen:
    """What the capture could see of one connection (``Evidence.seen``): what the rules weigh
    an absence against."""

    lossy: bool = False  # the capture point lost some of this connection's segments
    lossy_capture: bool = False  # ... or of any connection in the capture
    flag_filtered: bool = False  # the capture holds only SYN/FIN/RST segments
    acks_filtered: bool = False  # data, but no segment without it (CaptureWide.acks_filtered)
    #: not one segment without payload in the capture (SYNs, FINs, RSTs included): a filter on
    #: payload (``CaptureWide.payload_only``), so a missing SYN or bare FIN is the filter's
    payload_only: bool = False
    one_direction: bool = False  # every captured packet of the connection came from one side
    mid_stream: bool = False  # no SYN seen: the opening was not captured
    #: the capture began inside the connection and a side sent neither data nor a FIN in it:
    #: that side's FIN may precede the capture (``fin_may_precede``)
    fin_may_precede: bool = False
    dropped: bool = False  # the file's interface statistics report dropped packets
    #: the file ends inside a packet record: it was cut while the capture went on
    truncated: bool = False
    #: some connection of the capture is one-sided (``CaptureWide.one_sided``): a capture of
    #: one direction, where a connection's missing answers may be the missing direction's
    one_sided_capture: bool = False

    @property
    def filtered(self) -> bool:
        """The capture keeps only SYN/FIN/RST segments, or only data: bare ACKs, probes (and
        a payload filter's bare FINs and RSTs) are missing by the filter, so no silence and no
        missing answer can be read from it."""
        return self.flag_filtered or self.acks_filtered


@dataclass(frozen=True, slots=True)
class CaptureWide:
    """The per-capture facts every connection's confidence weighs (``Seen.lossy_capture``,
    ``Seen.flag_filtered``), kept as "any" flags so that parts of one capture analysed apart
    (``engine.py``) combine into the whole capture's: ``a | b``."""

    lossy: bool = False  # some connection lost segments at the capture point
    unretried_synack: bool = False  # some SYN+ACK went unretried past its first RTO
    plain_segment: bool = False  # some segment carries none of SYN, FIN, RST
    #: some connection shows one direction only, its ACKs moving, or a client's ACK after its
    #: SYN with nothing from the server captured: the other direction is not in the capture
    one_sided: bool = False
    #: segments carrying data and none of SYN, FIN, RST (a count: partitions add theirs)
    plain_data: int = 0
    bare_segment: bool = False  # some segment carries no data and none of SYN, FIN, RST
    zero_length: bool = False  # some segment carries no data at all (SYN, FIN, RST included)

    @property
    def flag_filtered(self) -> bool:
        """SYN+ACKs but no segment without SYN/FIN/RST: a flag filter."""
        return self.unretried_synack and not self.plain_segment

    @property
    def lossy_at_capture_point(self) -> bool:
        """Some connection lost segments at the capture point, as far as a capture can show:
        in a flag-filtered one every gap may be the filter's (``measure``), so none is."""
        return self.lossy and not self.flag_filtered

    @property
    def acks_filtered(self) -> bool:
        """Data, but not one bare segment (no data, none of SYN, FIN, RST): a filter that kept
        segments with payload. Proven when no segment without data is captured at all: the
        usual filters (``tcp.len > 0``, ``greater 100``, ``tcp[tcpflags] & tcp-push != 0``)
        drop bare SYNs, FINs and RSTs too, and every connection sends some. A filter that
        keeps SYN/FIN/RST besides data is told only past ``ACKS_EXPECTED_WITHIN`` data
        segments: a short exchange may piggyback every ACK on data (Linux holds the
        handshake's ACK for data already being written), a long one cannot (a receiver
        acknowledges every second full segment, and the last data of a turn, on its own)."""
        return (
            self.plain_data > 0
            and not self.bare_segment
            and (not self.zero_length or self.plain_data >= ACKS_EXPECTED_WITHIN)
        )

    @property
    def payload_only(self) -> bool:
        """``acks_filtered`` without one segment lacking payload, SYNs, FINs and RSTs
        included: the filter dropped every SYN and bare FIN or RST, so a connection without a
        captured SYN may have begun inside the capture."""
        return self.acks_filtered and not self.zero_length

    def __or__(self, other: CaptureWide) -> CaptureWide:
        return CaptureWide(
            lossy=self.lossy or other.lossy,
            unretried_synack=self.unretried_synack or other.unretried_synack,
            plain_segment=self.plain_segment or other.plain_segment,
            one_sided=self.one_sided or other.one_sided,
            plain_data=self.plain_data + other.plain_data,
            bare_segment=self.bare_segment or other.bare_segment,
            zero_length=self.zero_length or other.zero_length,
        )


@dataclass(frozen=True, slots=True)
class CaptureQuality:
    """What the capture point missed (``capture.quality`` in the JSON contract)."""

    #: Per connection (``Facts.conn_ids`` order):
    not_captured: np.ndarray  # int: segments starting above their sender's highest byte seen
    acked_unseen: np.ndarray  # int: ACKs of peer bytes the capture never saw
    first_missing_frame: np.ndarray  # int: first frame showing a miss (0: none)
    one_sided: np.ndarray  # bool: one direction captured, its ACKs move (detect.handshake)
    one_direction: np.ndarray  # bool: every captured packet from one side
    mid_stream: np.ndarray  # bool: no SYN seen (the capture began inside the connection)
    #: bool: mid-stream, and a side sent neither data nor a FIN in it (``fin_may_precede``)
    fin_may_precede: np.ndarray
    lossy: np.ndarray  # bool: the capture point demonstrably lost some of its segments
    #: What was seen of each connection (``seen_records``): packets from each side, the
    #: client's SYN, the server's SYN+ACK, an end (a FIN or RST from either side).
    from_client_seen: np.ndarray  # bool
    from_server_seen: np.ndarray  # bool
    syn_seen: np.ndarray  # bool
    synack_seen: np.ndarray  # bool
    end_seen: np.ndarray  # bool
    #: ACKs of peer bytes the capture shows only later (``_acks_ahead``), and by how much
    #: the furthest one came before them (ns; 0: none). Not losses: the bytes are there.
    acks_ahead: np.ndarray  # int
    ack_lead_ns: np.ndarray  # int
    #: Per capture:
    flag_filtered: bool  # SYN+ACKs but no segment without SYN/FIN/RST: a flag filter
    lossy_capture: bool  # any connection is lossy
    acks_filtered: bool = False  # data but no segment without it: a payload filter
    payload_only: bool = False  # ... and no SYN, FIN or RST without data either
    dropped: bool = False  # the file's interface statistics report dropped packets
    truncated: bool = False  # the file ends inside a packet record (``ReadQuality.truncated``)
    one_sided_capture: bool = False  # any connection is one-sided
    #: What these connections alone show of the per-capture flags (``flag_filtered`` and
    #: ``lossy_capture`` above are the whole capture's when ``measure`` was given them).
    own: CaptureWide = CaptureWide()
    #: Per connection, its copies (``Facts.is_dup``) and what they say of the capture points
    #: (``_copy_points``): the furthest a copy came after the packet's first sighting (ns),
    #: the TTL drop between the two sightings (0: the same TTL), and of D = time at the
    #: point nearer the server - time at the point nearer the client, over packets whose two
    #: sightings differ in TTL, the least for the client's packets and the most for the
    #: server's (``NO_SPLIT``: none): bounds of the points' clock offset.
    copies: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    packets: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    copy_span_ns: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    copy_hops: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    split_client_ns: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    split_server_ns: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    #: Per connection: its kept rows (the first sighting of each packet, ``is_dup`` aside)
    #: were seen at both points (told by the TTL: the sender's own nearer the sender), or its
    #: first and last sightings were: times between them cross the two points' clocks
    #: (``crossing_notes``).
    crossed: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    # lossy/lossy_capture are stored, not properties: seen() runs once per visited connection,
    # and recomputing them there made the capture-wide scan quadratic in connections.

    def seen(self, index: int) -> Seen:
        """The connection at ``index`` (``Facts.conn_ids`` order)."""
        return Seen(
            lossy=bool(self.lossy[index]),
            lossy_capture=self.lossy_capture,
            flag_filtered=self.flag_filtered,
            acks_filtered=self.acks_filtered,
            payload_only=self.payload_only,
            one_direction=bool(self.one_direction[index]),
            mid_stream=bool(self.mid_stream[index]),
            fin_may_precede=bool(self.fin_may_precede[index]),
            dropped=self.dropped,
            truncated=self.truncated,
            one_sided_capture=self.one_sided_capture,
        )


@dataclass(frozen=True, slots=True)
class ReadQuality:
    """What the file itself says it lost or cut (the read stage's ``Capture``)."""

    snaplen: int | None  # declared snapshot length; None: no limit declared
    cut_by_snaplen: int  # frames whose captured bytes stop short of their wire length
    if_drops: int | None  # pcapng isb_ifdrop, summed over interfaces; None: not stated
    os_drops: int | None  # pcapng isb_osdrop, likewise
    #: The file ends inside a packet record: a file copied or read while still being written,
    #: or cut short. The capture went on past its last frame (said in its own warning).
    truncated: bool = False

    @property
    def dropped(self) -> int:
        return (self.if_drops or 0) + (self.os_drops or 0)


def read_quality(capture: Capture) -> ReadQuality:
    """From the read stage: the declared snaplen, the frames it cut (not the record the file
    ended inside: that is a truncated file, said in its own warning), the drop counters."""
    whole = len(capture.caplen) - capture.truncated_records
    cut = int(np.count_nonzero(capture.caplen[:whole] < capture.origlen[:whole]))
    return ReadQuality(
        capture.snaplen, cut, capture.if_drops, capture.os_drops, capture.truncated_records > 0
    )


def read_summary(r: ReadQuality) -> dict[str, Any]:
    """The ``capture.quality`` keys the file itself gives (after ``summary``'s keys)."""
    return {
        "snaplen": r.snaplen,
        "frames_cut_by_snaplen": r.cut_by_snaplen,
        "interface_drops": r.if_drops,
        "os_drops": r.os_drops,
    }


def read_warnings(r: ReadQuality) -> list[str]:
    if not r.dropped:
        return []
    where = [
        f"{n:,} by {what}"
        for n, what in ((r.if_drops, "the interface"), (r.os_drops, "the OS / capture buffer"))
        if n
    ]
    return [
        f"the capture's interface statistics report {r.dropped:,} packets dropped "
        f"({', '.join(where)}; pcapng isb_ifdrop/isb_osdrop): they are not in the file, so "
        "silence in this capture proves nothing"
    ]


def measure(
    facts: Facts,
    *,
    dropped: bool = False,
    truncated: bool = False,
    capture: CaptureWide | None = None,
) -> CaptureQuality:
    """What the capture point missed of the connections in ``facts``.

    ``dropped``: the file's interface statistics report dropped packets (``ReadQuality``);
    ``truncated``: the file ends inside a packet record (``ReadQuality.truncated``).
    ``capture``: the whole capture's per-capture flags when ``facts`` hold only a part of it
    (``engine.py``); None: these connections are the whole capture.
    """
    n = len(facts.conn_ids)
    ci = facts.conn_index
    clean = ~facts.is_dup
    carries_seq = ((facts.seg_len > 0) | facts.fin) & ~facts.syn & ~facts.rst & clean
    # "previous segment not captured": bytes above the sender's snd.nxt as seen on the wire.
    # From a second connection on in a stream (its SYN lost on a reused 4-tuple), the
    # sequence numbers are another connection's: their jumps are no capture loss.
    counted = clean & ~_reopened(facts)
    jump = carries_seq & counted & (facts.next_seq != UNKNOWN) & (facts.rel_seq > facts.next_seq)
    jump[_filled_later(facts, carries_seq, np.flatnonzero(jump))] = False
    jump[_lost_before_capture(facts, counted, np.flatnonzero(jump))] = False
    unseen = (_acked_unseen(facts) | _synack_missed(facts)) & counted
    ahead, lead_ns = _acks_ahead(facts, np.flatnonzero(unseen))
    unseen[ahead] = False
    missed = jump | unseen
    first = np.zeros(n, dtype=np.int64)
    rows = np.flatnonzero(missed)[::-1]  # the first row of each connection is written last
    first[ci[rows]] = facts.frame[rows]
    n_client = rows_per_connection(facts.from_client, facts.starts)
    n_rows = np.diff(facts.starts)
    plain = ~facts.syn & ~facts.fin & ~facts.rst
    synack = facts.syn & facts.ack & ~facts.from_client & clean
    n_synack = rows_per_connection(synack, facts.starts)
    last_synack = np.zeros(n, dtype=np.int64)
    last_synack[ci[synack]] = facts.time_ns[synack]  # rows in time order: the last one stays
    waited = (facts.capture_end_ns - last_synack) / 1e9
    unretried = (n_synack == 1) & (waited >= INITIAL_SYNACK_RTO_S)
    not_captured = rows_per_connection(jump, facts.starts)
    acked_unseen = rows_per_connection(unseen, facts.starts)
    acks_ahead = np.bincount(ci[ahead], minlength=n)
    ack_lead_ns = np.zeros(n, dtype=np.int64)
    np.maximum.at(ack_lead_ns, ci[ahead], lead_ns)
    lossy = (not_captured > 0) | (acked_unseen > 0)
    # A RST's ACK alone marks its own connection, not the whole capture (one odd RST is no
    # evidence that the capture point dropped packets of the others).
    beyond_rst = (not_captured > 0) | (rows_per_connection(unseen & ~facts.rst, facts.starts) > 0)
    sided = one_sided(facts) if n else np.zeros(0, dtype=bool)
    # A client that sent its SYN, then an ACK, with nothing from the server captured: the
    # server answered in a direction the capture did not keep (or lost).
    client_acks = facts.from_client & facts.ack & ~facts.syn & ~facts.rst & clean
    answered_unseen = (
        (n_client == n_rows)
        & any_per_connection(facts.syn & facts.from_client & clean, facts.starts)
        & any_per_connection(client_acks, facts.starts)
    )
    own = CaptureWide(
        lossy=bool(np.any(beyond_rst)),
        unretried_synack=bool(np.any(unretried)),
        plain_segment=bool(np.any(plain)),
        one_sided=bool(np.any(sided) or np.any(answered_unseen)),
        plain_data=int(np.count_nonzero(plain & (facts.seg_len > 0))),
        bare_segment=bool(np.any(plain & (facts.seg_len == 0))),
        zero_length=bool(np.any(facts.seg_len == 0)),
    )
    wide = own if capture is None else capture
    if wide.flag_filtered:
        # A capture of SYN/FIN/RST segments only: the filter removed every data segment and
        # bare ACK, so a byte-stream gap or an ACK of bytes never captured is the filter's,
        # not the capture point's (the flag-filter warning says so). Nothing here tells a
        # packet the capture point dropped from one the filter did.
        not_captured = np.zeros_like(not_captured)
        acked_unseen = np.zeros_like(acked_unseen)
        lossy = np.zeros_like(lossy)
        first = np.zeros_like(first)
    points = _copy_points(facts)
    # A scanner's probes (no SYN, ACK or RST) began nothing the capture could miss.
    mid_stream = ~any_per_connection(facts.syn, facts.starts) & ~any_per_connection(
        facts.scan_probe, facts.starts
    )
    syn_only = facts.syn & ~facts.ack & facts.from_client & clean
    ended = (facts.fin | facts.rst) & clean
    return CaptureQuality(
        from_client_seen=n_client > 0,
        from_server_seen=n_rows - n_client > 0,
        syn_seen=any_per_connection(syn_only, facts.starts),
        synack_seen=n_synack > 0,
        end_seen=any_per_connection(ended, facts.starts),
        not_captured=not_captured,
        acked_unseen=acked_unseen,
        acks_ahead=acks_ahead,
        ack_lead_ns=ack_lead_ns,
        lossy=lossy,
        lossy_capture=wide.lossy_at_capture_point,
        first_missing_frame=first,
        one_sided=sided,
        one_direction=(n_client == 0) | (n_client == n_rows),
        mid_stream=mid_stream,
        fin_may_precede=mid_stream & fin_may_precede(facts, clean),
        flag_filtered=wide.flag_filtered,
        acks_filtered=wide.acks_filtered,
        payload_only=wide.payload_only,
        dropped=dropped,
        truncated=truncated,
        one_sided_capture=wide.one_sided,
        own=own,
        copies=rows_per_connection(facts.is_dup, facts.starts),
        packets=n_rows,
        **points,
    )


def fin_may_precede(facts: Facts, clean: np.ndarray) -> np.ndarray:
    """Per connection: a side sent neither data nor a FIN in the capture, so in a connection
    the capture began inside, its FIN may have gone out before the capture started. Once a
    side has sent its FIN it sends no new byte (after shutdown(SHUT_WR) or close()
    tcp_sendmsg fails with EPIPE; the FIN is queued behind the last data), and its bare ACKs,
    window updates and keepalive probes (sent in FIN-WAIT-2 and CLOSE-WAIT as well) look the
    same either way: only its data shows that it had not closed. ``clean``: rows that are
    no capture copy."""
    spoke = ((facts.seg_len > 0) | facts.fin) & clean
    client_spoke = any_per_connection(spoke & facts.from_client, facts.starts)
    server_spoke = any_per_connection(spoke & ~facts.from_client, facts.starts)
    quiet: np.ndarray = ~(client_spoke & server_spoke)
    return quiet


#: The per-connection ``CaptureQuality`` columns ``_copy_points`` gives (``merge_quality``).
COPY_COLUMNS = (
    "copies",
    "packets",
    "copy_span_ns",
    "copy_hops",
    "split_client_ns",
    "split_server_ns",
    "crossed",
)


def _copy_points(facts: Facts) -> dict[str, np.ndarray]:
    """Per connection, what its copies say of where they were captured (``CaptureQuality``).

    Each copy (``is_dup``) is paired with the first sighting of the same segment (same
    direction, IP ID, sequence and ACK numbers, length, flags and TSval). Where the two
    sightings' TTLs differ, the packet was seen on both sides of a router (TTL one lower past
    each): the sighting with the sender's TTL is nearer the sender. For a packet of the
    client, D = time nearer the server - time nearer the client = clock offset + transit
    between the points; for one of the server, offset - transit. A transit is never
    negative, so the offset lies between the most D of the server's packets and the least
    of the client's: around 0 on one clock (``-i any`` on a router, however deep its egress
    queue holds one direction), around the clocks' offset when two hosts' captures were
    merged. (Their midpoint is no estimate: the two directions' transits differ.)"""
    n = len(facts.conn_ids)
    span = np.zeros(n, dtype=np.int64)
    hops = np.zeros(n, dtype=np.int64)
    split_client = np.full(n, NO_SPLIT, dtype=np.int64)
    split_server = np.full(n, NO_SPLIT, dtype=np.int64)
    crossed = np.zeros(n, dtype=bool)
    out = {
        "copy_span_ns": span,
        "copy_hops": hops,
        "split_client_ns": split_client,
        "split_server_ns": split_server,
        "crossed": crossed,
    }
    dup_conns = np.flatnonzero(rows_per_connection(facts.is_dup, facts.starts) > 0)
    if not len(dup_conns):
        return out
    import pandas as pd

    rows = rows_of_connections(facts.starts, dup_conns)
    crossed[:] = _kept_at_both_points(facts, rows, n)
    frame = pd.DataFrame(
        {
            "dir": facts.conn_index[rows] * 2 + facts.from_client[rows],
            "ip_id": facts.ip_id[rows],
            "seq": facts.rel_seq[rows],
            "ack": facts.rel_ack[rows],
            "len": facts.seg_len[rows],
            "flags": facts.flags[rows],
            "ts": facts.ts_val[rows],
        }
    )
    first = frame.groupby(list(frame.columns), sort=False).cumcount().to_numpy() == 0
    group = frame.groupby(list(frame.columns), sort=False).ngroup().to_numpy()
    first_row = np.zeros(int(group.max()) + 1, dtype=np.int64)
    first_row[group[first]] = rows[first]
    copy = facts.is_dup[rows] & ~first
    later = rows[copy]
    earlier = first_row[group[copy]]
    if not len(later):
        return out
    conn = facts.conn_index[later]
    gap = facts.time_ns[later] - facts.time_ns[earlier]
    np.maximum.at(span, conn, np.abs(gap))
    drop = np.asarray(facts.ttl[earlier], np.int64) - np.asarray(facts.ttl[later], np.int64)
    split = drop != 0
    hops_seen = pd.Series(np.abs(drop[split])).groupby(conn[split]).median()
    hops[hops_seen.index.to_numpy()] = np.rint(hops_seen.to_numpy()).astype(np.int64)
    # D per packet: the lower TTL is nearer the server for the client's packets, the higher
    # for the server's.
    client = facts.from_client[later]
    later_nearer_server = np.where(client, drop > 0, drop < 0)
    d = np.where(later_nearer_server, gap, -gap)
    for side, column in ((True, split_client), (False, split_server)):
        pick = split & (client == side)
        by_conn = pd.Series(d[pick]).groupby(conn[pick])
        bound = by_conn.min() if side else by_conn.max()
        column[bound.index.to_numpy()] = bound.to_numpy().astype(np.int64)
    return out


def _kept_at_both_points(facts: Facts, rows: np.ndarray, n: int) -> np.ndarray:
    """Per connection: of its ``rows`` (those of connections holding copies, grouped), the
    kept ones (``is_dup`` aside) were seen at both capture points, or its first and last
    sightings were (its duration spans them). A router lowers the TTL of what it
    forwards, so of one direction's two TTLs the higher was seen nearer its sender; a
    direction with one TTL tells no point (a bridge, a mirror)."""
    direction = facts.conn_index[rows] * 2 + facts.from_client[rows]
    ttl = np.asarray(facts.ttl[rows], np.int64)
    high = np.full(2 * n, -1, np.int64)
    low = np.full(2 * n, 1 << 16, np.int64)
    np.maximum.at(high, direction, ttl)
    np.minimum.at(low, direction, ttl)
    told = high[direction] != low[direction]
    own = ttl == high[direction]  # seen nearer its sender
    client = facts.from_client[rows]
    near_client = told & (own == client)
    near_server = told & (own != client)
    kept = ~facts.is_dup[rows]
    conn = facts.conn_index[rows]
    at_client = np.bincount(conn[kept & near_client], minlength=n) > 0
    at_server = np.bincount(conn[kept & near_server], minlength=n) > 0
    # Its first and last sightings (copies included: its duration) at different points.
    first = np.r_[True, conn[1:] != conn[:-1]]
    last = np.r_[conn[1:] != conn[:-1], True]
    ends = np.zeros(n, dtype=bool)
    ends[conn[first]] = (near_client[first] & near_server[last]) | (
        near_server[first] & near_client[last]
    )
    return np.asarray((at_client & at_server) | ends)


def crossing_notes(q: CaptureQuality) -> dict[int, str]:
    """The note, per connection (its index) whose kept packets were seen at two capture
    points (``CaptureQuality.crossed``) and whose own copies put the two clocks more than
    1 ms apart. Each connection is judged on its own copies, not on the capture's median
    (``_points_offset_ns``): a partition holds whole connections, so the note is the same
    whichever partition analysed it (``--jobs``). A connection whose copies do not bound
    the offset gets none; the capture-wide warning still says the clocks differ."""
    if not len(q.crossed):
        return {}
    bounded = q.crossed & (q.split_client_ns != NO_SPLIT) & (q.split_server_ns != NO_SPLIT)
    notes = {}
    for i in np.flatnonzero(bounded).tolist():
        low, high = int(q.split_server_ns[i]), int(q.split_client_ns[i])
        offset = _offset_within(low, high)
        if abs(offset) > CLOCKS_APART_NS:
            # The offset lies in [low, high]: its width is the least transit between the
            # points one way plus the other (``_copy_points``), the most it can be beyond.
            beyond = max(abs(low), abs(high)) - abs(offset)
            notes[i] = (
                "Timings: this connection's packets were seen at two capture points whose "
                f"clocks differ by at least {span_words(abs(offset))} (captures merged), "
                f"and by at most {seconds(beyond / 1e9)} more (the copies of its packets "
                "seen at both points bound the offset both ways), so a time between packets "
                "seen at different points (a round trip, a response time, the duration) is "
                "off by that much; the SYN retries and connect_s are timed at one point."
            )
    return notes


def seen_records(q: CaptureQuality) -> list[dict[str, bool]]:
    """``connections[].seen`` per connection (``conn_ids`` order): what the capture holds of
    it. Built once per distinct combination, so a big capture shares a handful of dicts."""
    columns = (
        q.from_client_seen,
        q.from_server_seen,
        q.syn_seen,
        q.synack_seen,
        q.end_seen,
        q.lossy,
    )
    shared: dict[tuple[bool, ...], dict[str, bool]] = {}
    out = []
    for key in zip(*(c.tolist() for c in columns), strict=True):
        record = shared.get(key)
        if record is None:
            record = shared[key] = dict(zip(SEEN_KEYS, key, strict=True))
        out.append(record)
    return out


#: ``connections[].seen`` keys, in contract order.
SEEN_KEYS = ("client", "server", "syn", "synack", "end", "segments_missing")


#: First frames listed per kind of miss in the summary (where to look in Wireshark).
FIRST_FRAMES = 5


def summary(q: CaptureQuality) -> dict[str, Any]:
    """The ``capture.quality`` object of the JSON contract."""
    lossy = q.lossy
    first = q.first_missing_frame[lossy]
    return {
        "segments_not_captured": int(q.not_captured.sum()),
        "acked_unseen": int(q.acked_unseen.sum()),
        "lossy_connections": int(lossy.sum()),
        "first_missing_frames": sorted(int(f) for f in first)[:FIRST_FRAMES],
        "flag_filtered": q.flag_filtered,
        "acks_filtered": q.acks_filtered,
        "one_sided_connections": int(q.one_sided.sum()),
        "mid_stream_connections": int(q.mid_stream.sum()),
        "acks_before_data": int(q.acks_ahead.sum()),
        "clocks_apart_ms": _clocks_apart_ms(q),
        "captured_twice": int(q.copies.sum()),
        "two_point_connections": int(_two_points(q).sum()),
    }


def _clocks_apart_ms(q: CaptureQuality) -> float | None:
    """How far apart the capture's clocks are (ms), when beyond one clock's jitter
    (``CLOCKS_APART_NS``): the furthest ACK before the data it acknowledges, or the offset
    between two capture points their copies show (``_points_offset_ns``), whichever is
    larger; None: one clock, as far as the capture shows."""
    lead = int(q.ack_lead_ns.max()) if len(q.ack_lead_ns) else 0
    offset = _points_offset_ns(q)
    lead = max(lead, abs(offset) if offset is not None else 0)
    return round(lead / 1e6, 3) if lead > CLOCKS_APART_NS else None


def with_legs_clocks(summary: dict[str, Any], legs_ms: float | None) -> None:
    """``capture.quality``'s ``clocks_apart_ms`` (``summary``'s keys, in place) with the
    offset ``nat_copies`` measured between the capture points of a NAT's two legs
    (``findings.nat_copies.legs_clocks_apart_ms``), whichever is larger. A translated
    connection's copies sit in two streams, out of ``_copy_points``' reach (it pairs copies
    within one connection); the finding bounds the same offset the same way, from the
    client's SYN and the server's SYN+ACK seen on both legs, over the whole capture (so
    alike with ``--jobs`` and ``--memory-bounded``)."""
    if legs_ms is None:
        return
    own = summary.get("clocks_apart_ms")
    summary["clocks_apart_ms"] = legs_ms if own is None else max(own, legs_ms)


def _two_points(q: CaptureQuality) -> np.ndarray:
    """Per connection: seen at two capture points (``TWICE_SHARE`` of its packets copies)."""
    if not len(q.copies):
        return np.zeros(0, dtype=bool)
    return np.asarray((q.copies >= 2) & (q.copies >= TWICE_SHARE * q.packets))


def _points_offset_ns(q: CaptureQuality) -> int | None:
    """At least how much later the capture point nearer the servers stamps a packet than
    the one nearer the clients (ns, negative: earlier; ``_copy_points``), over connections
    seen at two points with copies of both sides' packets at two TTLs (the median of their
    bounds); 0: the bounds allow one clock; None: no such connection."""
    if not len(q.copies):
        return None
    both = (q.split_client_ns != NO_SPLIT) & (q.split_server_ns != NO_SPLIT) & _two_points(q)
    if not both.any():
        return None
    return _offset_within(
        int(np.median(q.split_server_ns[both])), int(np.median(q.split_client_ns[both]))
    )


def _offset_within(low: int, high: int) -> int:
    """The offset two bounds prove (ns): ``low`` = the offset less the least transit,
    ``high`` = the offset plus it; 0 when they allow one clock."""
    if low > 0 and high > 0:
        return min(low, high)
    if low < 0 and high < 0:
        return max(low, high)
    return 0


def _points_words(q: CaptureQuality) -> str | None:
    """The warning for a capture that holds packets seen at two capture points."""
    twice = _two_points(q)
    k = int(twice.sum())
    if not k:
        return None
    copies = int(q.copies.sum())
    hops = q.copy_hops[twice]
    hops = hops[hops > 0]
    if len(hops):
        h = int(np.median(hops))
        where = (
            f"one nearer the clients, one {h} router hop{'s' if h != 1 else ''} further "
            f"toward the servers, where TTLs are {h} lower"
        )
    else:
        where = "with the same TTL at both (a bridge, a mirror, or two taps on one link)"
    text = (
        f"{counted(copies, 'packet')} {'was' if copies == 1 else 'were'} captured twice "
        f"({counted(k, 'connection')} seen "
        f"at two capture points, {where}): captures of two points merged (mergecap) or "
        "tcpdump -i any on a host that forwards, bridges or translates them; each copy is "
        "counted once, not as a retransmission, and a packet seen at one point only was "
        "lost (or sent) between the two"
    )
    offset = _points_offset_ns(q)
    span = int(q.copy_span_ns[twice].max())
    if offset is not None and abs(offset) > CLOCKS_APART_NS:
        later = "later" if offset > 0 else "earlier"
        text += (
            f". The point nearer the servers stamps packets at least "
            f"{span_words(abs(offset))} {later} than the one nearer the clients (the copies "
            "of both sides' packets bound it): their clocks differ by that much, so "
            "durations, connect and response times that span packets of both points are "
            "off by as much"
        )
    elif offset is not None:
        text += ". The copies' times fit one clock (or two within 1 ms of each other)"
    elif span > CLOCKS_APART_NS:
        text += (
            f". Copies come up to {span_words(span)} after the first sighting: if two "
            "captures were merged, their clocks may differ by up to that much, and so may "
            "times that span packets of both points"
        )
    return text


def span_words(ns: int) -> str:
    """A clock offset in words: 3 significant digits, ms below a second, else s."""
    return f"{ns / 1e9:.3g} s" if ns >= 1_000_000_000 else f"{ns / 1e6:.3g} ms"


def warnings(q: CaptureQuality) -> list[str]:
    """Capture warnings for what makes absences unreliable (lost segments, a flag filter)."""
    out: list[str] = []
    if q.lossy_capture:
        s = summary(q)
        first = s["first_missing_frames"]
        lossy = int(s["lossy_connections"])
        kinds = missing_kinds(
            int(s["acked_unseen"]),
            int(s["segments_not_captured"]),
            "segment after a gap never filled",
        )
        out.append(
            f"the capture is missing segments of {counted(lossy, 'connection')} ({kinds}; "
            f"first at {frames_words(first)}): the capture point may have lost packets, so "
            "what did not come (a FIN, an answer, a retry) proves nothing by itself; a verdict that rests "
            "on one says so (a client's own SYN retries still prove its connect timed out)"
        )
    points = _points_words(q)
    if points is not None:
        out.append(points)
    apart = _clocks_apart_ms(q)
    late = int(np.count_nonzero(q.ack_lead_ns > CLOCKS_APART_NS))
    if apart is not None and late:
        out.append(
            f"ACKs come before the data they acknowledge, by up to {apart:g} ms, in {late} "
            "connection(s): these packets were stamped by clocks that disagree (captures of "
            "two hosts merged, as mergecap does, or a clock that stepped); which side sent "
            "first, and times measured across the two sides, are off by up to that much"
        )
    if q.flag_filtered:
        out.append(
            "no segment without SYN, FIN or RST: either the capture was filtered on TCP flags "
            "(such as 'tcp[tcpflags] & tcp-syn != 0') or no connection got past its handshake; "
            "missing ACKs and data may be the filter's, not the network's"
        )
    if q.acks_filtered:
        out.append(
            "no bare ACK: the capture was filtered to keep data (such as 'tcp.len > 0', "
            "'greater 100' or 'tcp[tcpflags] & tcp-push != 0'); handshake ACKs, keepalive and "
            "window probes, and bare FINs and RSTs are missing by the filter, so their absence "
            "proves nothing"
        )
    return out


def _filled_later(facts: Facts, carries_seq: np.ndarray, jumps: np.ndarray) -> np.ndarray:
    """Of the ``jumps`` rows: those a later segment of the same sender fills (it starts below
    the row's ``rel_seq``: it carries bytes of the gap the row jumped over, from ``next_seq``
    on). Only the sequence-carrying rows of the connections holding a jump are looked at,
    each side's apart."""
    rows = rows_of_connections(facts.starts, np.unique(facts.conn_index[jumps]))
    rows = rows[carries_seq[rows]]  # only a segment carrying bytes (or a FIN) fills a gap
    client = facts.from_client[rows]
    found = []
    for side in (rows[client], rows[~client]):
        offset = facts.conn_index[side] * _CONN_STRIDE
        rel_seq = facts.rel_seq[side] + offset
        # Later rows' lowest start: later connections' values sit above this one's (their
        # offsets are larger), so the running minimum from the end stays within it.
        later_min = np.minimum.accumulate(rel_seq[::-1])[::-1]
        ceiling = offset[-1:] + _CONN_STRIDE // 2  # above any real value of the last one
        after = np.concatenate((later_min[1:], ceiling))
        found.append(side[after < rel_seq])
    return np.concatenate(found)


def _lost_before_capture(facts: Facts, counted: np.ndarray, jumps: np.ndarray) -> np.ndarray:
    """Of the ``jumps`` rows (segments above a gap their sender never fills in the capture):
    those whose gap the receiver's own ACKs show it lacked too, so the network lost the gap's
    bytes before the capture point, which saw exactly what the receiver got.

    Kernel rules (RFC 9293 3.10.7.4, RFC 5681 4.2, RFC 2018): a receiver acknowledges only
    the bytes it holds in order, and answers an out-of-order segment at once with a duplicate
    ACK for the byte before the hole, SACKing the bytes it holds after it. So, of a gap
    [``next_seq``, ``rel_seq``) whose later peer ACKs never pass ``next_seq`` (a later ACK
    past it proves the receiver got bytes the capture never saw: the capture point's loss),
    the gap is the network's when a later peer ACK of exactly ``next_seq`` carries one SACK
    block, starting at or above ``rel_seq`` (a block reaching into the gap would prove some
    of its bytes received: the capture point's), or when, without SACK, two later peer
    segments acknowledge exactly ``next_seq`` (one may be the ACK of the bytes below the gap,
    sent before the jumping segment arrived; the second is a duplicate). Anything less (no
    later peer ACK, an ACK below the gap) leaves the gap unexplained: it stays the capture
    point's, as Wireshark counts it."""
    if not len(jumps):
        return jumps
    conns = np.unique(facts.conn_index[jumps])
    rows = rows_of_connections(facts.starts, conns)
    acking = counted[rows] & facts.ack[rows] & (facts.rel_ack[rows] != UNKNOWN) & ~facts.rst[rows]
    rows = rows[acking]
    out: list[int] = []
    for side in (True, False):  # the receiver's side: its ACKs answer the other side's jumps
        mine = rows[facts.from_client[rows] == side]
        asked = jumps[facts.from_client[jumps] != side]
        if not len(mine) or not len(asked):
            continue
        # Per ACK row, the highest ACK from it to its connection's end: later connections'
        # values sit below this one's (each is offset further down), so the running maximum
        # from the end stays within the connection.
        offset = facts.conn_index[mine] * _CONN_STRIDE
        later_max = np.maximum.accumulate((facts.rel_ack[mine] - offset)[::-1])[::-1]
        at = np.searchsorted(mine, asked, side="right")  # the first ACK after each jump
        inside = at < len(mine)
        inside[inside] = facts.conn_index[mine[at[inside]]] == facts.conn_index[asked[inside]]
        asked, at = asked[inside], at[inside]
        hole = facts.next_seq[asked]
        highest = later_max[at] + facts.conn_index[asked] * _CONN_STRIDE
        # Never past the gap: the receiver lacked its first byte up to the capture's end. Few
        # jumps qualify (a receiver stuck below one never passes a later one), each read once.
        stuck = highest == hole
        ends = np.searchsorted(mine, facts.starts[facts.conn_index[asked[stuck]] + 1])
        for row, first, end in zip(
            asked[stuck].tolist(), at[stuck].tolist(), ends.tolist(), strict=True
        ):
            if _dup_acked(
                facts, mine[first:end], int(facts.next_seq[row]), int(facts.rel_seq[row])
            ):
                out.append(row)
    return np.asarray(out, dtype=np.int64)


def _dup_acked(facts: Facts, acks: np.ndarray, hole: int, above: int) -> bool:
    """The receiver's ``acks`` rows (after a jump over [``hole``, ``above``)) prove it lacked
    the gap: ``_lost_before_capture``."""
    at_hole = acks[facts.rel_ack[acks] == hole]
    blocks = facts.sack_blocks[at_hole]
    left, right = facts.sack_left[at_hole], facts.sack_right[at_hole]
    if np.any((blocks > 0) & (left < above) & (right > hole)):
        return False  # SACKs bytes of the gap: received, the capture point missed them
    return bool(np.any((blocks == 1) & (left >= above)) or np.count_nonzero(blocks == 0) >= 2)


def _acks_ahead(facts: Facts, acks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Of the ``acks`` rows (ACKs above every peer byte seen so far): those whose acknowledged
    bytes the peer is seen sending later in the capture, and how long before that segment
    each came (ns). Each direction's highest byte sent so far only grows, so the first peer
    segment reaching the ACK is found by one search per direction."""
    if not len(acks):
        return acks, np.zeros(0, np.int64)
    conns = np.unique(facts.conn_index[acks])
    rows = rows_of_connections(facts.starts, conns)
    sent = ((facts.seg_len[rows] > 0) | facts.syn[rows] | facts.fin[rows]) & ~facts.rst[rows]
    rows = rows[sent]
    # Per sending direction (connection rank * 2 + side), its highest byte through each row:
    # one running maximum over the directions laid end to end, each offset by ``span`` above
    # the one before (so no value carries into the next direction).
    rank = np.searchsorted(conns, facts.conn_index[rows])
    direction = rank * 2 + facts.from_client[rows]
    order = np.argsort(direction, kind="stable")  # each direction's rows, in frame order
    rows, direction = rows[order], direction[order]
    span = int(facts.seq_end[rows].max()) + 2 if len(rows) else 2
    if (2 * len(conns) + 1) * span >= 2**62:
        return acks[:0], np.zeros(0, np.int64)  # beyond one search's range: none claimed
    key = np.maximum.accumulate(direction * span + np.maximum(facts.seq_end[rows], 0))
    peer = np.searchsorted(conns, facts.conn_index[acks]) * 2 + ~facts.from_client[acks]
    want = peer * span + np.minimum(facts.rel_ack[acks], span - 1)
    at = np.searchsorted(key, want)
    found = at < len(key)
    found[found] = direction[at[found]] == peer[found]
    # The segment reaching the ACK carries its last byte (it starts below it): those bytes
    # were not in the capture before. And it is their first sending: a resend after the ACK
    # (the original lost at the capture point, the ACK lost after it) is one clock's order.
    data = rows[at[found]]
    carries = (facts.rel_seq[data] < facts.rel_ack[acks[found]]) & ~facts.is_retrans[data]
    found[found] = carries
    lead = facts.time_ns[rows[at[found]]] - facts.time_ns[acks[found]]
    return acks[found], lead


def _reopened(facts: Facts) -> np.ndarray:
    """Per row: at or after its stream's first reopening (``facts.reopens``)."""
    out = np.zeros(len(facts), dtype=bool)
    rows = np.flatnonzero(facts.reopens)
    if not len(rows):
        return out
    conn = facts.conn_index[rows]
    first = rows[np.r_[True, conn[1:] != conn[:-1]]]  # each connection's first reopening
    for lo, hi in zip(
        first.tolist(), facts.starts[facts.conn_index[first] + 1].tolist(), strict=True
    ):
        out[lo:hi] = True
    return out


def _synack_missed(facts: Facts) -> np.ndarray:
    """Per row: the client's first ACK after its SYN in a connection whose SYN+ACK the capture
    lacks although the server's own packets are in it. A client leaves SYN-SENT only on an
    acceptable SYN+ACK (RFC 9293 3.10.7.3), so its ACK acknowledges the server's SYN, a
    sequence number the capture never saw: the capture point missed that SYN+ACK. (With no
    server packet at all the capture kept one direction: ``one_sided``, not a loss.)"""
    clean = ~facts.is_dup
    syn = facts.syn & ~facts.ack & facts.from_client & clean
    synack = facts.syn & facts.ack & ~facts.from_client & clean
    server = rows_per_connection(~facts.from_client, facts.starts) > 0
    missed = (
        any_per_connection(syn, facts.starts) & ~any_per_connection(synack, facts.starts) & server
    )
    acks = facts.from_client & facts.ack & ~facts.syn & ~facts.rst & clean
    acks &= missed[facts.conn_index]
    # Only the first such ACK, and only after a SYN: rows are in time order per connection.
    after_syn = np.maximum.accumulate(np.where(syn, np.arange(len(syn)), -1))
    acks &= after_syn >= facts.starts[facts.conn_index]
    rows = np.flatnonzero(acks)
    out = np.zeros(len(acks), dtype=bool)
    if len(rows):
        out[rows[np.r_[True, facts.conn_index[rows[1:]] != facts.conn_index[rows[:-1]]]]] = True
    return out


def _acked_unseen(facts: Facts) -> np.ndarray:
    """Per row: an ACK above every byte (SYN and FIN included) the capture saw from the peer
    before it; only when the peer was seen sending something (one-sided captures aside). A
    RST that carries ACK counts too: Linux's abort (tcp_send_active_reset) and its answer to a
    segment for no socket (tcp_v4_send_reset: ack = that segment's end) acknowledge what the
    host received, so a RST+ACK past every byte seen proves segments the capture lacks (a
    capture filtered on SYN/FIN/RST that kept the RST of a connection that carried data)."""
    sent = ((facts.seg_len > 0) | facts.syn | facts.fin) & ~facts.rst
    peer_highest = peer_max_before(facts.seq_end, sent, facts.from_client, facts.conn_index)
    seen = peer_highest != UNKNOWN
    acked = facts.ack & (facts.rel_ack != UNKNOWN)
    unseen = acked & seen & (facts.rel_ack > peer_highest)
    # A RST's ACK field is believed only within the window its sender offered: beyond it no
    # peer could have sent those bytes (an appliance's or a crafted RST's stray ACK field).
    rsts = np.flatnonzero(unseen & facts.rst)
    if len(rsts):
        offered = _largest_window(facts)[facts.conn_index[rsts] * 2 + facts.from_client[rsts]]
        unseen[rsts] = facts.rel_ack[rsts] <= peer_highest[rsts] + offered
    return np.asarray(unseen)


def _largest_window(facts: Facts) -> np.ndarray:
    """Per connection and side (index ``conn_index * 2 + from_client``): the largest window
    (scaled) it advertised."""
    out = np.zeros(2 * len(facts.conn_ids), dtype=np.int64)
    np.maximum.at(out, facts.conn_index * 2 + facts.from_client, facts.window)
    return out


__all__ = [
    "CaptureQuality",
    "CaptureWide",
    "ReadQuality",
    "Seen",
    "measure",
    "read_quality",
    "read_summary",
    "read_warnings",
    "seen_records",
    "summary",
    "warnings",
    "with_legs_clocks",
]
