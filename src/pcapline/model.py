"""The contract between pipeline stages: vocabularies, records and table columns.

Everything that crosses a stage boundary is named here, so a reader can see the whole
data model on one screen (Zeek's conn.log ``Info`` record is the model for this file).

Stages and what they hand on::

    read    -> Capture             (frame numbers, int64 ns times, link types, raw bytes)
    decode  -> segments DataFrame  (SEGMENT_COLUMNS, one row per analysed TCP frame)
               + skipped counts    (SkipReason -> int)
    flows   -> segments gain ``conn`` and ``from_client``; connections DataFrame begins
    detect  -> Event records       (per connection, per phenomenon)
    classify-> Decision per connection (the only place a Fate is chosen; no prose)
    explain -> Verdict per connection  (the decision + inferred settings + Explanation)
    findings-> Finding records     (cross-connection)
    render  -> terminal / JSON / CSV / HTML, reading only the finished tables

Time is int64 nanoseconds since the epoch everywhere inside the pipeline; JSON renders
float seconds. Frame numbers are 1-based in file order, as Wireshark's ``frame.number``.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pcapline.fmt import utf8_text

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

SCHEMA = "pcapline/1"
SCAN_SCHEMA = "pcapline-scan/1"


class Side(enum.StrEnum):
    CLIENT = "client"  # sender of the first SYN (or the guessed initiator)
    SERVER = "server"  # the other end
    BOTH = "both"  # only for ``closer``: the FINs crossed (simultaneous close)

    @property
    def other(self) -> Side:
        """The other end of the connection (the client's is the server; any other's the
        client)."""
        return Side.SERVER if self is Side.CLIENT else Side.CLIENT


class Fate(enum.StrEnum):
    """How a connection ended: exactly one per connection (DESIGN.md, "Fates")."""

    CLOSED = "closed"  # orderly close, FIN from both sides
    REFUSED = "refused"  # SYN answered by RST
    CONNECT_TIMEOUT = "connect_timeout"  # SYN and its retransmissions never answered
    HANDSHAKE_TIMEOUT = "handshake_timeout"  # SYN+ACK retransmitted, never acknowledged
    LISTEN_OVERFLOW = "listen_overflow"  # client ACKed, server acted as if it had not
    RESET = "reset"  # established, ended by a RST that fits no more specific fate
    KEEPALIVE_TIMEOUT = "keepalive_timeout"  # keepalive probes unanswered, then abort
    RETRANSMIT_TIMEOUT = "retransmit_timeout"  # data retransmitted with backoff, never ACKed
    PERSIST_TIMEOUT = "persist_timeout"  # zero-window probes unanswered, then abort
    HALF_CLOSED = "half_closed"  # exactly one side sent FIN by the end of the capture
    OPEN = "open"  # no close seen


#: Fates that mean something went wrong; the report lists these first.
FAILURE_FATES: frozenset[Fate] = frozenset(
    {
        Fate.REFUSED,
        Fate.CONNECT_TIMEOUT,
        Fate.HANDSHAKE_TIMEOUT,
        Fate.LISTEN_OVERFLOW,
        Fate.RESET,
        Fate.KEEPALIVE_TIMEOUT,
        Fate.RETRANSMIT_TIMEOUT,
        Fate.PERSIST_TIMEOUT,
    }
)
#: ``FAILURE_FATES`` as the connections table holds them (``Fate`` values, str).
FAILURE_VALUES: frozenset[str] = frozenset(f.value for f in FAILURE_FATES)


def failing(fates: pd.Series) -> np.ndarray:
    """Per row of a connections table's ``fate`` column: a failure fate (``FAILURE_FATES``),
    as a boolean array (str or ``Fate`` values alike)."""
    mask: np.ndarray = fates.astype(str).isin(FAILURE_VALUES).to_numpy(bool)
    return mask


def probing(conns: pd.DataFrame) -> np.ndarray:
    """Per row of a connections table: a prober's, not an application's (its ``cause`` in
    ``PROBE_CAUSES``: a scanner's or a half-open health check's), as a boolean array. Its
    failure fate (the RST that answered the probe) fails nothing: headlines count it apart."""
    if "cause" not in conns.columns:
        return np.zeros(len(conns), dtype=bool)
    mask: np.ndarray = conns["cause"].astype(object).isin(PROBE_CAUSES).to_numpy(bool)
    return mask


#: ``--fail-on failures``: every failure fate.
FAILURES_ALIAS = "failures"


def fail_on_names(values: Iterable[str], known: Collection[str]) -> frozenset[str]:
    """``--fail-on`` values (the option repeated and/or comma-separated) as a set of names.

    ``failures`` stands for every failure fate; any other name must be in ``known`` (the
    fates, tags or finding kinds the command accepts), else ``KeyError(name)``. An empty
    result from non-empty values (``--fail-on ''``, an unset CI variable) is the caller's
    to refuse: it would be a check that never fails.
    """
    names: set[str] = set()
    for value in values:
        for name in filter(None, (part.strip() for part in value.split(","))):
            if name == FAILURES_ALIAS:
                names |= {f.value for f in FAILURE_FATES}
            elif name in known:
                names.add(name)
            else:
                raise KeyError(name)
    return frozenset(names)


class Confidence(enum.StrEnum):
    """How sure the capture makes a fate (``connections[].confidence``).

    A capture point can lose packets, be filtered, see one direction only, or start and stop in
    the middle of a connection: what a rule infers from an absence is then only as good as the
    capture. ``classify`` decides it together with the fate.
    """

    PROVEN = "proven"  # the packets show it (a RST, a FIN from both sides, a give-up seen)
    LIKELY = "likely"  # inferred from ACK numbers or timer shape (an unseen FIN, a backoff)
    UNKNOWN = "unknown"  # the capture cannot tell (filtered, lossy, cut before the give-up)


class Cause(enum.StrEnum):
    """Why a connection met its fate, when the packets name a cause beyond the fate itself
    (``connections[].cause``; null when they name none). Decided with the fate, in classify,
    by the ordered recognisers of ``pcapline.causes`` (one module per cause)."""

    MIDDLEBOX_IDLE_TIMEOUT = "middlebox_idle_timeout"
    PMTU_BLACK_HOLE = "pmtu_black_hole"
    INJECTED_RST = "injected_rst"
    PEER_LOST_STATE = "peer_lost_state"
    ORPHANED_FIN_WAIT2 = "orphaned_fin_wait2"
    APP_GAVE_UP = "app_gave_up"
    USER_TIMEOUT = "user_timeout"
    ICMP_REJECT = "icmp_reject"
    ICMP_PACKET_TOO_BIG = "icmp_packet_too_big"
    SYN_COOKIES = "syn_cookies"
    KEEPALIVE_RACE = "keepalive_race"
    HALF_OPEN_PROBE = "half_open_probe"
    SCAN_PROBE = "scan_probe"
    PATH_RESET = "path_reset"


#: What each ``connections[].cause`` means, in one line (the contract document repeats it).
CAUSES: dict[str, str] = {
    Cause.MIDDLEBOX_IDLE_TIMEOUT: "a stateful middlebox (conntrack, NAT, load balancer) forgot "
    "the connection while it was idle: the first segment after the idle gap went unanswered "
    "or drew the middlebox's RST, or the middlebox reset the idle flow on its own timer",
    Cause.PMTU_BLACK_HOLE: "full-size segments were never acknowledged while small ones "
    "got through, and no ICMP fragmentation-needed / packet-too-big arrived",
    Cause.INJECTED_RST: "the RST came from a middlebox, not from the peer it claims to be "
    "(its TTL / hop limit or IP ID is unlike the peer's other packets)",
    Cause.PEER_LOST_STATE: "the peer no longer knew the connection (reboot, crash, failover): "
    "it answered the next segment with a RST",
    Cause.ORPHANED_FIN_WAIT2: "the closer's socket was gone (tcp_fin_timeout): the peer's late "
    "data was answered with a RST",
    Cause.APP_GAVE_UP: "the request was acknowledged, no response came, and the waiting "
    "application closed or aborted",
    Cause.USER_TIMEOUT: "TCP_USER_TIMEOUT ended the connection before the retry or keepalive "
    "count would have",
    Cause.ICMP_REJECT: "an ICMP error (unreachable, administratively prohibited) quoting the "
    "connection's segment answered it: a firewall or router rejected it",
    Cause.ICMP_PACKET_TOO_BIG: "an ICMP fragmentation-needed / packet-too-big quoting the "
    "connection's segment explains its stall",
    Cause.SYN_COOKIES: "the listener answered with SYN cookies (its SYN queue was full)",
    Cause.KEEPALIVE_RACE: "the server closed an idle keep-alive connection while the client "
    "sent a new request on it; the request drew a RST",
    Cause.HALF_OPEN_PROBE: "the client's kernel answered the server's SYN+ACK with a RST: it "
    "had no socket for the connection (a SYN port scanner or a half-open health check sending "
    "from a raw socket, or a client that closed its socket before the answer came); the "
    "server listens and answered",
    Cause.SCAN_PROBE: "a port scanner's probe, not a connection: segments without SYN, ACK or "
    "RST (FIN, NULL or Xmas probes), which no TCP connection sends; a RST answer means "
    "nothing listens on the port, silence that something does or a firewall dropped it",
    Cause.PATH_RESET: "the RST that refused the SYN came from a device in the path (a "
    "firewall's or router's reject rule, a load balancer), not from the server: it arrived "
    "with a higher TTL / hop limit than the server's SYN+ACKs, from the same initial TTL",
}


#: Causes of connections that were a prober's (``probing``).
PROBE_CAUSES: frozenset[str] = frozenset({Cause.HALF_OPEN_PROBE.value, Cause.SCAN_PROBE.value})


class EventKind(enum.StrEnum):
    """What a detector saw at one frame. The JSON ``events[].kind`` strings."""

    SYN = "syn"
    SYN_RETRANSMIT = "syn_retransmit"
    SYNACK = "synack"
    SYNACK_RETRANSMIT = "synack_retransmit"
    HANDSHAKE_ACK = "handshake_ack"
    CHALLENGE_ACK = "challenge_ack"  # SYN answered by a bare ACK (stale peer state)
    RETRANSMIT = "retransmit"  # retransmission after a timeout (RTO)
    FAST_RETRANSMIT = "fast_retransmit"  # after duplicate ACKs / SACK, within an RTT
    SPURIOUS_RETRANSMIT = "spurious_retransmit"  # data already acknowledged, or D-SACKed
    FIN_RETRANSMIT = "fin_retransmit"
    #: Data sent again whose trigger the capture cannot show: no earlier copy captured, or the
    #: earlier copy further back than any retransmission timer reaches (TCP_RTO_MAX, 120 s:
    #: a time jump, captures stitched together). Neither a timeout nor loss recovery is claimed.
    RETRANSMIT_UNKNOWN = "retransmit_unknown"
    KEEPALIVE = "keepalive"
    KEEPALIVE_ACK = "keepalive_ack"
    ZERO_WINDOW = "zero_window"
    WINDOW_PROBE = "window_probe"
    WINDOW_PROBE_ACK = "window_probe_ack"
    WINDOW_UPDATE = "window_update"
    FIN = "fin"
    RST = "rst"
    DUPLICATE = "duplicate"  # the same packet captured twice: not a retransmission
    SUPER_SEGMENT = "super_segment"  # TSO/GRO: larger than the MSS on the capture host
    CAPTURE_START = "capture_start"  # connection already running when the capture began
    INJECTED_RST_HINT = "injected_rst_hint"  # RST whose TTL/IP ID is unlike the sender's
    ICMP_ERROR = "icmp_error"  # an ICMP error quoting one of the connection's segments
    PMTU_STALL = "pmtu_stall"  # full-size segments never acknowledged, smaller ones were
    IDLE_GAP = "idle_gap"  # the first segment after a long idle gap, never acknowledged


class SkipReason(enum.StrEnum):
    """Why a frame was not analysed. ``capture.skipped`` keys."""

    UNSUPPORTED_LINK = "unsupported_link"  # link type we do not decode
    TRUNCATED_HEADER = "truncated_header"  # captured bytes end inside a header we need
    MALFORMED = "malformed"  # header fields that make no sense (bad IHL, offset...)
    NOT_IP = "not_ip"  # ARP, LLDP, ... at the network layer
    NOT_TCP = "not_tcp"  # IP, but UDP, ICMP, ...
    IP_FRAGMENT = "ip_fragment"  # a fragment that makes no whole packet (a piece missing...)
    IP_FRAGMENT_REASSEMBLED = "ip_fragment_reassembled"  # in a packet another frame completed
    TUNNELLED = "tunnelled"  # IP in IP / GRE / ...: inner packets not decoded
    TRUNCATED_RECORD = "truncated_record"  # the file ended inside this record
    #: IP carrying TCP, the captured bytes ending inside the TCP header's first 20 bytes (the
    #: snaplen cut it: ``tcpdump -s 54`` on a link header longer than Ethernet's, or an IPv6
    #: packet with extension headers): a TCP segment not analysed, its ports unknown.
    TRUNCATED_TCP_HEADER = "truncated_tcp_header"


# Bits of the segments table ``flags`` column (TCP header order, NS as bit 8).
FIN, SYN, RST, PSH, ACK, URG, ECE, CWR, NS = 1, 2, 4, 8, 16, 32, 64, 128, 256


#: Columns of the segments table made by ``decode`` (one row per analysed TCP frame).
#: Addresses are two uint64 halves; an IPv4 address sits in the low 32 bits of ``*_lo``
#: with ``*_hi`` zero (``ip_version`` tells them apart).
SEGMENT_COLUMNS: dict[str, str] = {
    "frame": "int64",  # 1-based frame number == Wireshark frame.number
    "time_ns": "int64",  # capture timestamp, ns since the epoch
    "ip_version": "uint8",  # 4 or 6
    "src_hi": "uint64",
    "src_lo": "uint64",
    "dst_hi": "uint64",
    "dst_lo": "uint64",
    "sport": "uint16",
    "dport": "uint16",
    "ip_id": "uint32",  # IPv4 identification (0 for IPv6)
    "ttl": "uint8",  # IPv4 TTL / IPv6 hop limit
    "seq": "uint32",
    "ack": "uint32",
    "flags": "uint16",  # FIN..NS bits above
    "window": "uint16",  # raw header value (not scaled)
    "seg_len": "uint32",  # payload length from the IP header, not the captured bytes
    "mss": "uint16",  # MSS option value, 0 when absent
    "wscale": "int8",  # window scale shift, -1 when absent
    "sack_perm": "bool",
    "has_ts": "bool",
    "ts_val": "uint32",
    "ts_ecr": "uint32",
    "sack_blocks": "uint8",  # number of SACK blocks (edges in ``sack_le*``/``sack_re*``)
    "sack_le": "uint32",  # left edge of the highest-right-edge SACK block (0 if none)
    "sack_re": "uint32",  # right edge of that block
    # The first SACK block reports a duplicate (D-SACK, RFC 2883; Linux tcp_check_dsack):
    # ``sack_le``/``sack_re`` are then its edges, whether below the ACK or above it.
    "dsack": "bool",
    # Offset of the TCP payload from the start of the frame's captured bytes (Capture.offset):
    # the captured payload is min(seg_len, caplen - payload_at) bytes (pcapline/app reads it).
    "payload_at": "uint32",
    # The snaplen cut the TCP header's options (captured bytes end before payload_at): what
    # they held (a SACK block, a timestamp, a window scale) is not known to be absent.
    "options_cut": "bool",
}


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened at one frame of one connection."""

    conn: int  # connection id (== tcp.stream)
    frame: int
    time_ns: int
    side: Side  # who sent the frame
    kind: EventKind
    note: str = ""  # short human text, e.g. "gap 2.0 s (doubled)"
    value: float | None = None  # a number the note is about (gap in s, window, ...)


@dataclass(frozen=True, slots=True)
class Counts:
    syn_retransmits: int = 0
    synack_retransmits: int = 0
    retransmits: int = 0
    keepalive_probes: int = 0
    zero_window_probes: int = 0
    resets: int = 0


@dataclass(frozen=True, slots=True)
class Decision:
    """What ``classify.RULES`` decided about one connection (no prose: explain.py words it)."""

    fate: Fate
    closer: Side | None = None  # closed / half_closed only: who sent the first FIN
    reset_by: Side | None = None  # whenever a RST ended the connection
    evidence_frames: tuple[int, ...] = ()  # the frames that decided it
    confidence: Confidence = Confidence.PROVEN  # how sure the capture makes the fate
    caveats: tuple[str, ...] = ()  # why not proven: CAVEATS keys
    cause: Cause | None = None  # why, beyond the fate, when the packets name it (causes/)


#: Why a fate is not ``proven``: the ``connections[].caveats`` codes and what each means.
CAVEATS: dict[str, str] = {
    "capture_ended": "the capture ended before the sender's give-up could be seen",
    "capture_lossy": "the capture is missing segments, of this connection or another (a peer "
    "ACKs bytes the capture never saw, or a gap in a sender's bytes is never filled): what "
    "this verdict reads from an absence may be among them",
    "capture_ended_after_fin": "the capture ended too soon after the FIN for the peer's answer "
    "to be captured (sooner than the connection's round trip, the peer's slowest answer seen "
    "in it, or 1 s): the peer's FIN follows its application's close(), which may still come",
    "capture_dropped": "the capture's interface statistics report dropped packets",
    "file_truncated": "the file ends inside a packet record: it was cut while the capture went "
    "on, and what ended the connection may be past the cut",
    "flag_filtered": "the capture holds only SYN/FIN/RST segments: a flag filter would drop "
    "the ACKs and data that are missing",
    "acks_filtered": "the capture holds no segment without payload: a filter that kept data "
    "drops the bare ACKs, probes, FINs and RSTs whose absence this verdict would rest on",
    "one_sided": "only one direction was captured: the peer's segments are inferred",
    "end_not_captured": "a side's peer acknowledged, or its own later segment carries, "
    "sequence numbers past the last the capture holds from that side: the capture point lost "
    "that side's last segments, and whether its FIN was among them (a FIN rides on the last "
    "data) is not in the capture",
    "peer_fin_inferred": "a FIN the capture does not hold is inferred from the other side's "
    "ACK of it (a one-sided capture, or a FIN the capture point lost)",
    "handshake_not_captured": "the connection's opening was not captured",
    "rst_only": "a RST is all the capture holds of this connection: what it ended, or "
    "answered, is not in the capture",
    "irregular_retries": "the retries' gaps follow no kernel timer (they shrink or jump): "
    "an application or tool sent them, or the capture missed some; when they would stop is "
    "not known",
    "lone_syn": "one SYN, never retried although the retry was due: its answer or the "
    "application's close was not captured",
    "lone_synack": "one SYN+ACK, never retried although the retry was due: acknowledged "
    "unseen, a SYN cookie, or tcp_synack_retries=0",
    "handshake_acked_unseen": "its listener stopped resending a SYN+ACK after one resend, "
    "short of the 2 or more it resent others, with no ACK or RST of it captured: that listener "
    "completes handshakes out of this filtered capture's sight, so this SYN+ACK's missing ACK "
    "shows no timeout (sent once: acknowledged unseen, or a SYN cookie)",
    "ack_unconfirmed": "the server retried its SYN+ACK after the client's ACK: a full accept "
    "queue drops the ACK it got, and so does a server the ACK never reached (a firewall or an "
    "asymmetric path after the capture point); nstat TcpExtListenOverflows on the server tells",
    "stale_peer_rst": "the RST that ended it is matched to it by its sequence number",
    "two_connections": "the stream holds two connections on one 4-tuple, the second's SYN "
    "not captured: the fate is read from the packets of both",
    "silent_sender": "a side's last data was never acknowledged and it sent nothing more for "
    "several retransmission timeouts while the capture went on: a live sender resends, so "
    "the capture is missing this connection's later segments (its capture point dropped them, "
    "or everything was lost before it) and with them how the connection ended",
    "pmtu_stall_unfinished": "full-size segments stalled while smaller ones got through and the "
    "capture ended mid-backoff: MTU probing (tcp_mtu_probing) may still have recovered it",
}


@dataclass(frozen=True, slots=True)
class Explanation:
    """A verdict in plain words, in parts (``explain.py`` words it; renderers pick the parts).

    ``str()`` is the whole text, exactly as the JSON/CSV/HTML ``explanation`` field shows it:
    ``label: headline`` + ``body`` + `` check`` + `` note`` for each note.
    """

    headline: str  # what the capture shows, one clause: the terminal table's "why" column
    label: str = ""  # the fate in words ("Connect timeout"); "" when the text opens without one
    body: str = ""  # the rest of the story, starting with its own separator ("; ...", ". ...")
    check: str = ""  # where to look on the hosts ("Check: ss -lnt ..."), "" when none
    notes: tuple[str, ...] = ()  # side notes after the story (losses, zero window, capture)

    def __str__(self) -> str:
        return self.text

    @property
    def text(self) -> str:
        head = f"{self.label}: {self.headline}" if self.label else self.headline
        return " ".join(part for part in (head + self.body, self.check, *self.notes) if part)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The classifier's decision about one connection, with its evidence and explanation.

    ``fate``, ``closer``, ``reset_by``, ``counts`` and ``evidence_frames`` are decided by
    ``classify.py``; ``inferred`` and ``explanation`` are written by ``explain.py``. The
    connections table's verdict columns are built from these records.
    """

    conn: int
    fate: Fate
    closer: Side | None = None
    reset_by: Side | None = None
    counts: Counts = field(default_factory=Counts)
    evidence_frames: tuple[int, ...] = ()  # the frames that decided it (check in Wireshark)
    inferred: Mapping[str, object] = field(default_factory=dict)  # explain.inferred keys
    explanation: Explanation = field(default_factory=lambda: Explanation(""))
    confidence: Confidence = Confidence.PROVEN  # how sure the capture makes the fate
    caveats: tuple[str, ...] = ()  # model.CAVEATS keys: why not proven
    cause: Cause | None = None  # model.CAUSES key: why, beyond the fate, when known


class Verdicts(Mapping[int, Verdict]):
    """Every connection's verdict, held as columns (one entry per connection, ``ids`` order).

    A capture can hold a hundred thousand connections, most of them healthy and sharing one
    explanation: the columns are what the connections table is built from, and a ``Verdict``
    record is made only when one is looked up (``verdicts[conn_id]``).
    """

    __slots__ = (
        "_position",
        "cause",
        "caveats",
        "closer",
        "confidence",
        "counts",
        "evidence_frames",
        "explanation",
        "fate",
        "ids",
        "inferred",
        "reset_by",
    )

    def __init__(
        self,
        ids: Sequence[int],
        *,
        fate: Sequence[Fate],
        closer: Sequence[Side | None],
        reset_by: Sequence[Side | None],
        counts: Mapping[str, Sequence[int]],  # Counts field name -> one value per connection
        evidence_frames: Sequence[tuple[int, ...]],
        inferred: Sequence[Mapping[str, object]],
        explanation: Sequence[Explanation],
        confidence: Sequence[Confidence] | None = None,  # None: every fate proven
        caveats: Sequence[tuple[str, ...]] | None = None,
        cause: Sequence[Cause | None] | None = None,  # None: no cause named for any
    ) -> None:
        self.ids = ids
        self.fate = fate
        self.closer = closer
        self.reset_by = reset_by
        self.counts = counts
        self.evidence_frames = evidence_frames
        self.inferred = inferred
        self.explanation = explanation
        self.confidence = confidence if confidence is not None else [Confidence.PROVEN] * len(ids)
        self.caveats = caveats if caveats is not None else [()] * len(ids)
        self.cause = cause if cause is not None else [None] * len(ids)
        self._position: dict[int, int] | None = None

    def __getitem__(self, conn: int) -> Verdict:
        if self._position is None:
            self._position = {int(c): i for i, c in enumerate(self.ids)}
        i = self._position[conn]
        return Verdict(
            conn=conn,
            fate=self.fate[i],
            closer=self.closer[i],
            reset_by=self.reset_by[i],
            counts=Counts(*(int(self.counts[name][i]) for name in Counts.__slots__)),
            evidence_frames=self.evidence_frames[i],
            inferred=self.inferred[i],
            explanation=self.explanation[i],
            confidence=self.confidence[i],
            caveats=self.caveats[i],
            cause=self.cause[i],
        )

    def __iter__(self) -> Iterator[int]:
        return (int(c) for c in self.ids)

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True, slots=True)
class Finding:
    """A cross-connection finding (``findings`` in the JSON contract)."""

    kind: str  # "nat_timestamp", "listen_overflow", "syn_flood", "time_wait_churn"
    summary: str
    connections: tuple[int, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)  # extra JSON keys, e.g. {"ip": ...}
    #: Every connection the finding takes for no connection of its own (``nat_copies``: the
    #: later copies of connections captured twice), uncapped; the renderers count the
    #: capture's connections without them. Not in the JSON (``connections`` lists them).
    set_aside: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "summary": self.summary,
            "connections": list(self.connections),
        }
        out.update(self.details)
        return out


#: ``capture.quality`` of a capture whose capture point missed nothing pcapline can see
#: (quality.summary fills the same keys, in this order).
CLEAN_CAPTURE: dict[str, Any] = {
    "segments_not_captured": 0,  # segments after a gap their sender never filled
    "acked_unseen": 0,  # ACKs of peer bytes the capture never saw
    "lossy_connections": 0,  # connections with either
    "first_missing_frames": [],  # the first such frame of up to 5 of them
    "flag_filtered": False,  # only SYN/FIN/RST segments, a SYN+ACK unretried past 1 s
    "acks_filtered": False,  # data, but no segment without payload (SYN/FIN/RST aside)
    "one_sided_connections": 0,  # one direction captured, its ACKs moving
    "mid_stream_connections": 0,  # no SYN seen
    "acks_before_data": 0,  # ACKs the capture shows before the peer data they acknowledge
    "clocks_apart_ms": None,  # how far apart the clocks are, when beyond their jitter (1 ms)
    "captured_twice": 0,  # packets that are copies of another (quality._copy_points)
    "two_point_connections": 0,  # connections seen at two capture points
    # What the file itself says (quality.read_summary):
    "snaplen": None,  # declared snapshot length; None: no limit declared
    "frames_cut_by_snaplen": 0,  # frames shorter than their wire length (payload not in file)
    "interface_drops": None,  # pcapng isb_ifdrop summed over interfaces; None: not stated
    "os_drops": None,  # pcapng isb_osdrop; None: not stated
}


@dataclass(slots=True)
class CaptureInfo:
    """Facts about the capture file (``capture`` in the JSON contract)."""

    path: str
    format: str  # "pcap" | "pcapng"
    link_types: list[str] = field(default_factory=list)
    frames: int = 0
    tcp_frames: int = 0
    icmp_frames: int = 0  # ICMP errors quoting a TCP segment: analysed (pcapline.icmp)
    first_time_ns: int | None = None
    last_time_ns: int | None = None
    skipped: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    #: What the capture point missed (quality.summary; CLEAN_CAPTURE's keys).
    quality: dict[str, Any] = field(default_factory=lambda: dict(CLEAN_CAPTURE))

    def __post_init__(self) -> None:
        # Every renderer writes UTF-8: a file name that is not UTF-8, and a warning quoting
        # one, as ``\xNN`` (the file is read by then; nothing reopens it by this name).
        self.path = utf8_text(self.path)
        self.warnings = [utf8_text(w) for w in self.warnings]


#: Columns added to the segments table by ``flows``.
FLOW_COLUMNS: dict[str, str] = {
    "conn": "int64",  # connection id == Wireshark tcp.stream
    "from_client": "bool",  # sent by the client side of its connection
}

#: Columns of the connections table (one row per connection, named as in the JSON contract;
#: ``counts.*`` are flattened with their own names).
CONNECTION_COLUMNS: tuple[str, ...] = (
    "id",
    "client_ip",
    "client_port",
    "server_ip",
    "server_port",
    "client_guessed",
    "first_frame",
    "last_frame",
    "start_ns",
    "end_ns",
    "packets",
    "bytes_client",
    "bytes_server",
    "fate",
    "closer",
    "reset_by",
    "syn_retransmits",
    "synack_retransmits",
    "retransmits",
    "keepalive_probes",
    "zero_window_probes",
    "resets",
    "inferred",  # dict per row
    "explanation",
    "confidence",  # model.Confidence value
    "caveats",  # list of model.CAVEATS keys per row
    "cause",  # model.Cause value or None
)

#: Columns of the events table (all connections, sorted by conn then frame).
EVENT_COLUMNS: tuple[str, ...] = ("conn", "frame", "time_ns", "side", "kind", "note", "value")


# --- slow, not only dead (pcapline/delays.py): vocabularies and thresholds -----------------


class SlowTag(enum.StrEnum):
    """Why a connection was slow; the JSON ``connections[].slow`` strings (``--fail-on`` too)."""

    SYN_RETRY = "syn_retry"  # the client had to resend its SYN (dropped SYN, full queue)
    SYNACK_RETRY = "synack_retry"  # the server had to resend its SYN+ACK
    RTO_STALL = "rto_stall"  # data waited for a retransmission timeout
    ZERO_WINDOW_STALL = "zero_window_stall"  # a receiver's closed window blocked the sender
    #: an answer came late (SlowThresholds.response_s): the first turn, or any turn where the
    #: bytes show a request/response protocol (delays.response_judged)
    SLOW_RESPONSE = "slow_response"
    SLOW_CONNECT = "slow_connect"  # the handshake took long (SlowThresholds.connect_s)
    #: a full (non-zero) receive window held the sender (SlowThresholds.window_full_s)
    WINDOW_FULL_STALL = "window_full_stall"
    #: small writes held by Nagle until the peer's delayed ACK (nagle.py), past
    #: SlowThresholds.nagle_s in total
    NAGLE_STALL = "nagle_stall"
    #: a server's application paused mid-answer, nothing held by TCP, for
    #: SlowThresholds.response_s or more (app_pause.py; HTTP/1.x answers only)
    APP_PAUSE = "app_pause"
    #: a sender slow-started again after an idle longer than its RTO (idle_restart.py:
    #: net.ipv4.tcp_slow_start_after_idle), costing SlowThresholds.idle_restart_s or more
    IDLE_RESTART = "idle_restart"


class ResponseJudged(enum.StrEnum):
    """Which request/response turns ``slow_response`` judged (``delays.response_judged``)."""

    #: Every turn (their slowest): the bytes show HTTP/1.x requests in clear text, each
    #: answered, and no switch of protocols.
    EVERY_TURN = "every_turn"
    #: Only the first: later server data may be unprompted (keepalives, pushes, streams),
    #: which the capture cannot tell from an answer.
    FIRST_TURN = "first_turn"


class ResponseFrom(enum.StrEnum):
    """What a response time was timed from (``delays.response_from``): the request itself, or,
    in a capture of one direction, the packets of the side that was captured (a lower bound)."""

    #: Both directions captured: the request's last byte -> the answer's first (as measured).
    REQUEST = "request"
    #: The server's packets only: its first ACK covering the request -> its answer, the same
    #: ACK number (the request arrived by that ACK): a lower bound of the server's time.
    SERVER_ACK = "server_ack"
    #: The client's packets only: the request's last byte -> the client's first ACK of new
    #: server bytes, less the longest delayed ACK and the handshake round trip: a lower bound.
    CLIENT_ACK = "client_ack"


class TransferPace(enum.StrEnum):
    """What set the pace of a connection's bulk transfer (``delays.transfer_paced_by``,
    transfer.py): the largest part of its time."""

    #: Data in flight, window open, and a queue stood on the path (5 ms or more, three tenths
    #: of the round trip, a quarter of the time): the link before it set the pace.
    BOTTLENECK = "bottleneck"
    #: Data in flight, window open, no queue: the congestion window, still growing round trip
    #: by round trip (slow start, congestion avoidance), paced it.
    ROUND_TRIP = "round_trip"
    #: Data in flight, window open, no standing queue, and no growing window to blame: the
    #: path or the sender (its application, send buffer or self-pacing congestion control),
    #: which the capture cannot tell apart.
    NETWORK = "network"
    #: The receiver's window: zero, or full (``window_full``).
    RECEIVE_WINDOW = "receive_window"
    #: Loss recovery (retransmission timeouts, fast recovery), or repeated losses cutting
    #: the congestion window with no queue standing.
    LOSS = "loss"
    #: The sender had nothing to send: all acknowledged, the window open.
    SENDER = "sender"


class StallCause(enum.StrEnum):
    """What a stall waited for (``Stall.cause``)."""

    SYN_RETRY = "syn_retry"
    SYNACK_RETRY = "synack_retry"
    RTO = "rto"
    ZERO_WINDOW = "zero_window"
    WINDOW_FULL = "window_full"  # the sender filled a non-zero window and waited (window_full.py)
    NAGLE = "nagle"  # Nagle held a small write until the peer's delayed ACK (nagle.py)


@dataclass(frozen=True, slots=True)
class SlowThresholds:
    """When a measure makes a connection slow (CLI ``--slow-connect``, ``--slow-response``)."""

    #: A connect slower than this is ``slow_connect``: any SYN retry (>= 1 s on Linux, 3 s on
    #: Windows) is past it, and so is a round trip no healthy path takes.
    connect_s: float = 0.5
    #: An answer later than this is ``slow_response`` (the first turn; every turn where the
    #: bytes show a request/response protocol: delays.py says which).
    response_s: float = 1.0
    #: A zero window held this long is ``zero_window_stall``: the persist timer's first probe
    #: comes after at least TCP_RTO_MIN (200 ms), so a shorter one was never felt as a stall.
    zero_window_s: float = 0.2
    #: Time a full (non-zero) receive window held the sender, in total, past this is
    #: ``window_full_stall``. Every receiver-limited transfer waits a round trip per window;
    #: Linux receive autotuning starts at ~64 KB and doubles per round trip, so a large
    #: transfer's first few round trips wait on the window anyway (3 x 300 ms on the longest
    #: terrestrial paths): a second is past that ramp.
    window_full_s: float = 1.0
    #: Time Nagle held small writes for the peer's delayed ACK, in total, past this is
    #: ``nagle_stall``: five waits of Linux's 40 ms minimum, one of Windows' 200 ms. A
    #: single wait is measured (``delays.nagle_s``) but is no slow connection.
    nagle_s: float = 0.2
    #: What restarting slow start after idles cost (``delays.idle_restart_s``, a lower
    #: bound: round trips spent regrowing the window), in total, past this is
    #: ``idle_restart``: two round trips of a 100 ms path, twenty of a 10 ms one.
    idle_restart_s: float = 0.2
