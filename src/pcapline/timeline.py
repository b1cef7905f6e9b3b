"""The annotated timeline of one connection: tcpdump with an expert beside you.

A stage after detection: it reads the per-segment facts (``facts.Facts``: relative seq/ack,
``seq_end``, scaled window) and the events table, and infers each side's TCP state frame by
frame. ``connection_timeline(analysis, conn_id)`` gives one connection's ``TimelineRow``
records (frozen dataclasses: the text renderer in ``render/timeline.py`` and the HTML report
both read them); ``build_timeline(segments, connection_row, events)`` does the same from the
tables alone (it computes that connection's facts with ``facts.compute_facts``).

Each row shows what tcpdump shows (flags, seq/ack, length, window), what pcapline's detectors
said about that frame (the events table: kind and note), and the TCP state of each side *as
inferred at the capture point*.

How the per-side states are inferred, and the limits of that inference
----------------------------------------------------------------------
A capture sees segments, not sockets. Each side's state (RFC 9293 names, written as in
``ss``: SYN-SENT, SYN-RECV, ESTABLISHED, FIN-WAIT-1, FIN-WAIT-2, CLOSE-WAIT, CLOSING,
LAST-ACK, TIME-WAIT, CLOSED) moves on evidence, per segment:

1. **What the sender did.** A SYN puts its sender in SYN-SENT, a SYN+ACK in SYN-RECV, a RST
   in CLOSED (except from SYN-SENT before an acceptable SYN+ACK: that RST answers a stale
   ACK; after one, no socket sent it: a connecting socket ACKs it), a FIN in FIN-WAIT-1
   (LAST-ACK from CLOSE-WAIT). A client in SYN-SENT that ACKs the SYN+ACK is ESTABLISHED;
   a side that ACKs its peer's FIN has received it: CLOSE-WAIT (CLOSING from FIN-WAIT-1,
   TIME-WAIT from FIN-WAIT-2). Payload from a side still unknown
   ("?") shows it ESTABLISHED. The kernel answers a SYN+ACK and a FIN at once, so the answer
   is the evidence that they arrived. A segment without SYN, ACK or RST shows no state:
   no socket sends one after its SYN (RFC 9293), only a scanner's probe.
2. **What the receiver got but does not answer.** A RST moves its receiver to CLOSED; an ACK
   of a server's SYN moves SYN-RECV to ESTABLISHED; an ACK of a side's FIN moves FIN-WAIT-1
   to FIN-WAIT-2, CLOSING to TIME-WAIT and LAST-ACK to CLOSED. The receiver is assumed to
   get these when the capture sees them.

Limits, stated in the output's legend too:

- The capture point is not the endpoint. On the sender's host a packet is captured before
  the peer gets it (and may never get it); on the receiver's host, after the sender sent it.
  A state change is drawn on the row of the packet that is the evidence, not when the
  kernel made it.
- A packet of kind 2 lost after the capture point never changed the receiver's state. Later
  segments from that side correct the picture: a server that retransmits its SYN+ACK after
  the client's ACK is drawn back in SYN-RECV (accept queue full: the kernel dropped the ACK);
  from then on only the server's own non-SYN segment shows it ESTABLISHED.
- A RST is assumed accepted (in-window). A TIME-WAIT side stays TIME-WAIT for the rest of
  the capture (Linux holds it 60 s and sends nothing when it expires).
- A side whose connection started before the capture is "?" until it sends payload, a SYN,
  a FIN or a RST, ACKs a FIN or receives a RST. A pure ACK proves nothing: every
  synchronised state sends them. Payload could also come from CLOSE-WAIT; it is drawn
  ESTABLISHED.
- LISTEN is not drawn: a server's "?" before its SYN+ACK means the capture does not show
  whether the SYN reached it.

Numbers and windows are the facts' own (``facts.py`` owns all sequence and window-scale
arithmetic; nothing here re-derives an ISN or a scale):

- seq/ack count from each side's ISN (the seq of its SYN), as tcpdump and Wireshark do
  (``Numbering.ISN``). When a side's SYN was not captured they count from the first seq the
  capture saw of that side, as ``facts.rel_seq`` does (``Numbering.FIRST_SEEN``; Wireshark
  numbers those one higher: it assumes a SYN just before the first byte it saw).
- The raw header value is shown (``Numbering.RAW``) where the facts have nothing to count
  from: a number before the ISN (a segment of an earlier incarnation of the 4-tuple: the
  challenge ACK of a TIME-WAIT socket, the RST that answers it: ``facts.stale_numbers``) or
  the ACK of a side that sent nothing in the capture.
- Windows are ``facts.window``: scaled (RFC 7323) when both SYNs offered a window scale, never
  on a SYN. When a SYN was not captured the scale is unknown and the window is the raw header
  value (``window_scale_known`` False).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pcapline.detect import conn_view
from pcapline.facts import Facts, SegmentRows, compute_facts
from pcapline.model import ACK, CWR, ECE, FIN, PSH, RST, SYN, URG, Side

if TYPE_CHECKING:
    from pcapline.analysis import Analysis

__all__ = [
    "ConnectionRow",
    "EventLabel",
    "HeaderNumbers",
    "NoticeRow",
    "Numbering",
    "TcpState",
    "TimelineRow",
    "build_timeline",
    "connection_notices",
    "connection_timeline",
    "notice_rows",
    "row_field",
    "tcpdump_flags",
    "timeline_rows",
]

#: A connections-table row: a pandas row or any mapping with the same column names.
ConnectionRow = Mapping[str, object] | pd.Series


class TcpState(enum.StrEnum):
    """A side's TCP state as drawn in the timeline (``ss`` spelling)."""

    UNKNOWN = "?"  # no evidence yet (capture started inside the connection)
    SYN_SENT = "SYN-SENT"
    SYN_RECV = "SYN-RECV"
    ESTABLISHED = "ESTABLISHED"
    FIN_WAIT_1 = "FIN-WAIT-1"
    FIN_WAIT_2 = "FIN-WAIT-2"
    CLOSE_WAIT = "CLOSE-WAIT"
    CLOSING = "CLOSING"
    LAST_ACK = "LAST-ACK"
    TIME_WAIT = "TIME-WAIT"
    CLOSED = "CLOSED"


class Numbering(enum.StrEnum):
    """What a seq or ack number in a row counts from."""

    ISN = "isn"  # the side's SYN (relative, as tcpdump and Wireshark print it)
    FIRST_SEEN = "first_seen"  # SYN not captured: the first seq the capture saw of that side
    RAW = "raw"  # the header value: before the ISN (earlier incarnation), or no base at all


@dataclass(frozen=True, slots=True)
class EventLabel:
    """One event a detector reported for this frame (``events`` table row)."""

    kind: str  # model.EventKind value, e.g. "syn_retransmit"
    note: str  # the detector's short note, may be ""


class _Directed:
    """The arrow of a row drawn in the direction ``side`` sends."""

    __slots__ = ()
    side: Side

    @property
    def arrow(self) -> str:
        """Direction: "→" client to server, "←" server to client."""
        return "→" if self.side is Side.CLIENT else "←"

    @property
    def arrow_ascii(self) -> str:
        return "->" if self.side is Side.CLIENT else "<-"


@dataclass(frozen=True, slots=True)
class TimelineRow(_Directed):
    """One frame of one connection, as the timeline shows it.

    Plain values only, so any renderer (terminal, HTML, JSON) can read it without pandas.
    """

    frame: int  # Wireshark frame.number
    time_s: float  # seconds since the connection's first frame
    delta_s: float  # seconds since the connection's previous frame (0.0 on the first)
    side: Side  # sender: Side.CLIENT or Side.SERVER
    flags: str  # tcpdump style: "S", "S.", ".", "P.", "F.", "R", "R.", "none"
    seq: int  # counted as ``seq_from`` says (facts.rel_seq, or the raw header value)
    seq_from: Numbering
    ack: int | None  # counted as ``ack_from`` says; None without the ACK flag
    ack_from: Numbering | None  # None without the ACK flag
    length: int  # payload bytes (from the IP header)
    window: int  # facts.window: advertised receive window, scaled when the scale is known
    window_scale_known: bool  # False: a SYN was not captured, ``window`` is the raw value
    labels: tuple[EventLabel, ...]  # detector events at this frame, in events-table order
    client_state: TcpState  # the client's state after this frame
    server_state: TcpState  # the server's state after this frame
    client_state_changed: bool  # this frame changed (or first established) client_state
    server_state_changed: bool

    @property
    def seq_relative(self) -> bool:
        """The seq is counted from a base (ISN or first seen), not the raw header value."""
        return self.seq_from is not Numbering.RAW

    @property
    def ack_relative(self) -> bool:
        """The ack is present and counted from a base, not the raw header value."""
        return self.ack_from is not None and self.ack_from is not Numbering.RAW

    def as_dict(self) -> dict[str, object]:
        """JSON-ready values (strings for enums; labels as [{"kind", "note"}])."""
        return {
            "frame": self.frame,
            "time_s": self.time_s,
            "delta_s": self.delta_s,
            "from": str(self.side),
            "arrow": self.arrow,
            "flags": self.flags,
            "seq": self.seq,
            "seq_from": str(self.seq_from),
            "ack": self.ack,
            "ack_from": None if self.ack_from is None else str(self.ack_from),
            "len": self.length,
            "window": self.window,
            "window_scale_known": self.window_scale_known,
            "events": [{"kind": lab.kind, "note": lab.note} for lab in self.labels],
            "client_state": str(self.client_state),
            "server_state": str(self.server_state),
            "client_state_changed": self.client_state_changed,
            "server_state_changed": self.server_state_changed,
        }


@dataclass(frozen=True, slots=True)
class NoticeRow(_Directed):
    """A frame that concerns the connection without being one of its segments: today an ICMP
    error quoting one of them (``icmp_error`` events, ``pcapline.icmp``).

    Drawn between the segments in frame order. It moves no state in the timeline: whether the
    kernel acted on the error (Linux aborts a SYN-SENT socket on a hard error such as port
    unreachable only when no user call holds the socket, and only counts soft errors such as
    host unreachable until the SYN retries run out) shows in the segments that follow.
    """

    frame: int  # Wireshark frame.number of the ICMP error
    time_s: float  # seconds since the connection's first frame
    #: Drawn in the direction this side sends: SERVER for an error that travels to the client
    #: (it answers a client segment, whoever sent it: the server host or a router).
    side: Side
    labels: tuple[EventLabel, ...]  # the events at this frame, in events-table order


# tcpdump's print order (print-tcp.c tcp_flag_values): F S R P . U E W
_TCPDUMP_FLAG_LETTERS: tuple[tuple[int, str], ...] = (
    (FIN, "F"),
    (SYN, "S"),
    (RST, "R"),
    (PSH, "P"),
    (ACK, "."),
    (URG, "U"),
    (ECE, "E"),
    (CWR, "W"),
)


def tcpdump_flags(flags: int) -> str:
    """The flags as tcpdump prints them inside ``Flags [...]`` ("none" when no flag is set)."""
    text = "".join(letter for bit, letter in _TCPDUMP_FLAG_LETTERS if flags & bit)
    return text or "none"


# ---------------------------------------------------------------------------------------
# Per-side state machine
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Segment:
    """One row of the connection's facts, as the state machine and the row need it."""

    frame: int
    time_ns: int
    from_client: bool
    flags: int
    rel_seq: int  # facts.rel_seq
    seq_end: int  # facts.seq_end: after this segment's bytes, SYN and FIN
    rel_ack: int  # facts.rel_ack (facts.UNKNOWN without the ACK flag)
    raw_seq: int  # header values, shown only where the facts have no base (Numbering.RAW)
    raw_ack: int
    length: int
    window: int  # facts.window

    def acks(self, target: int | None) -> bool:
        """True when this segment acknowledges up to ``target`` (relative) or beyond."""
        return target is not None and bool(self.flags & ACK) and self.rel_ack >= target


@dataclass(slots=True)
class _SideTrack:
    """What the capture has shown about one side so far."""

    syn_end: int | None  # seq_end of this side's SYN (what an ACK of it carries); None: no SYN
    state: TcpState = TcpState.UNKNOWN
    fin_end: int | None = None  # seq_end of this side's FIN (what an ACK of it carries)
    peer_fin_acked: bool = False  # this side has ACKed the peer's FIN
    dropped_ack: bool = False  # went back to SYN-RECV: the peer's ACKs are not trusted now
    #: The peer's SYN+ACK acknowledged exactly this side's SYN (a connecting socket ACKs it).
    synack_acceptable: bool = False


# A side that ACKs its peer's FIN has received it (RFC 9293 3.10.7.4, "eighth, check FIN").
_AFTER_PEER_FIN: dict[TcpState, TcpState] = {
    TcpState.UNKNOWN: TcpState.CLOSE_WAIT,
    TcpState.SYN_RECV: TcpState.CLOSE_WAIT,
    TcpState.ESTABLISHED: TcpState.CLOSE_WAIT,
    TcpState.FIN_WAIT_1: TcpState.CLOSING,  # our FIN not yet ACKed: the FINs crossed
    TcpState.FIN_WAIT_2: TcpState.TIME_WAIT,
}

# A side whose FIN the peer ACKs.
_AFTER_OWN_FIN_ACKED: dict[TcpState, TcpState] = {
    TcpState.FIN_WAIT_1: TcpState.FIN_WAIT_2,
    TcpState.CLOSING: TcpState.TIME_WAIT,
    TcpState.LAST_ACK: TcpState.CLOSED,
}

# A side that sends its first FIN.
_AFTER_OWN_FIN: dict[TcpState, TcpState] = {
    TcpState.UNKNOWN: TcpState.FIN_WAIT_1,
    TcpState.SYN_RECV: TcpState.FIN_WAIT_1,
    TcpState.ESTABLISHED: TcpState.FIN_WAIT_1,
    TcpState.CLOSE_WAIT: TcpState.LAST_ACK,
}


def _receive(receiver: _SideTrack, seg: _Segment) -> None:
    """Rule 2, for what the receiver does not answer: RST, an ACK of its SYN or of its FIN.

    The receiver is assumed to get ``seg`` when the capture sees it; nothing it sends later
    could confirm it (a server does not reply to the handshake ACK, nor a closer to the ACK
    of its FIN).
    """
    if seg.flags & RST:
        receiver.state = TcpState.CLOSED
        return
    if seg.flags & SYN and seg.flags & ACK and receiver.syn_end is not None:
        receiver.synack_acceptable = seg.rel_ack == receiver.syn_end
    if (
        receiver.state is TcpState.SYN_RECV
        and not seg.flags & SYN
        and not receiver.dropped_ack
        and (receiver.syn_end is None or seg.acks(receiver.syn_end))
    ):
        receiver.state = TcpState.ESTABLISHED  # the server gets the handshake ACK
    if seg.acks(receiver.fin_end):
        receiver.state = _AFTER_OWN_FIN_ACKED.get(receiver.state, receiver.state)


def _send(sender: _SideTrack, peer: _SideTrack, seg: _Segment) -> None:
    """Rule 1: what the sender put on the wire shows the state it is in.

    Segments the kernel answers at once (a SYN+ACK, a FIN) move the receiver when its answer
    is seen, not when they are: a SYN+ACK or FIN dropped after the capture point (or sent to
    a host that is gone) then changes nothing, which is what happened.
    """
    flags = seg.flags
    if flags & RST:
        # A SYN-SENT socket never resets on abort (tcp_need_reset() excludes it): its RST
        # answers an unacceptable ACK, and it stays SYN-SENT (RFC 9293 3.10.7.3), as the SYN
        # it resends next shows (a stale peer's challenge ACK). After an acceptable SYN+ACK,
        # which a connecting socket ACKs, the RST is a host's with no socket (a raw socket's
        # SYN, a half-open probe): CLOSED.
        if sender.state is not TcpState.SYN_SENT or sender.synack_acceptable:
            sender.state = TcpState.CLOSED
        return
    if not flags & (SYN | ACK):
        return  # a scanner's FIN / NULL / Xmas probe: no socket sends one (facts.scan_probes, Facts.scan_probe)
    if flags & SYN:
        # A SYN+ACK retransmitted after the peer's ACK was seen shows the ACK never counted
        # (accept queue full, tcp_abort_on_overflow=0): the server is back in SYN-RECV, and
        # the client's next ACKs may be dropped the same way, so only the server's own
        # non-SYN segment will show it ESTABLISHED.
        if flags & ACK:
            sender.dropped_ack = sender.dropped_ack or sender.state is TcpState.ESTABLISHED
            sender.state = TcpState.SYN_RECV
        else:
            sender.state = TcpState.SYN_SENT
        return
    if sender.state is TcpState.SYN_RECV and flags & ACK:
        sender.state = TcpState.ESTABLISHED  # a SYN-RECV mini-socket sends only SYN+ACKs
    # The client ACKs the SYN+ACK (tcp_rcv_synsent_state_process answers it at once).
    if (
        sender.state is TcpState.SYN_SENT
        and flags & ACK
        and (peer.syn_end is None or seg.acks(peer.syn_end))
    ):
        sender.state = TcpState.ESTABLISHED
    if not sender.peer_fin_acked and seg.acks(peer.fin_end):
        sender.peer_fin_acked = True
        sender.state = _AFTER_PEER_FIN.get(sender.state, sender.state)
    if flags & FIN:
        if sender.fin_end is None:
            sender.fin_end = seg.seq_end
        # Later FINs are retransmissions: no change.
        sender.state = _AFTER_OWN_FIN.get(sender.state, sender.state)
    elif sender.state is TcpState.UNKNOWN and seg.length > 0:
        sender.state = TcpState.ESTABLISHED  # payload and no FIN yet: synchronised, not closing


# ---------------------------------------------------------------------------------------
# Rows
# ---------------------------------------------------------------------------------------


#: A relative number before every ISN: ``_SideNumbers.count`` shows the header value.
_BEFORE_ISN = -1


@dataclass(frozen=True, slots=True)
class _SideNumbers:
    """How one side's numbers count (its seq, and the peer's ack of it)."""

    base: Numbering | None  # ISN, FIRST_SEEN; None: the side sent nothing (no base)

    def count(self, relative: int, raw: int) -> tuple[int, Numbering]:
        # A number before the ISN belongs to an earlier incarnation of the 4-tuple: it has
        # its own sequence space, so only its header value means anything.
        if self.base is None or (self.base is Numbering.ISN and relative < 0):
            return raw, Numbering.RAW
        return relative, self.base

    @classmethod
    def of(cls, sent: np.ndarray, syn: np.ndarray) -> _SideNumbers:
        """From the side's rows (``sent``) and which rows are SYNs."""
        if not sent.any():
            return cls(None)
        return cls(Numbering.ISN if (sent & syn).any() else Numbering.FIRST_SEEN)


def _syn_end(rows: SegmentRows, sent: np.ndarray) -> int | None:
    """``seq_end`` of the side's first SYN (the facts count from it), None without one."""
    syns = np.flatnonzero(sent & rows.syn)
    return int(rows.seq_end[syns[0]]) if len(syns) else None


@dataclass(frozen=True, slots=True)
class HeaderNumbers:
    """One connection's raw seq/ack header values, in frame order (the facts' order)."""

    frame: np.ndarray
    seq: np.ndarray
    ack: np.ndarray

    @classmethod
    def of(cls, segments: pd.DataFrame, conn_id: int) -> HeaderNumbers:
        """From the segments table (columns ``conn``, ``frame``, ``seq``, ``ack``)."""
        rows = np.flatnonzero(segments["conn"].to_numpy() == conn_id)
        frame = segments["frame"].to_numpy()[rows]
        order = rows[np.argsort(frame, kind="stable")]
        return cls(
            frame=segments["frame"].to_numpy()[order],
            seq=segments["seq"].to_numpy()[order],
            ack=segments["ack"].to_numpy()[order],
        )


def timeline_rows(
    rows: SegmentRows,
    header: HeaderNumbers,
    labels: Mapping[int, tuple[EventLabel, ...]],
    start_ns: int,
    scale_known: bool = True,
) -> list[TimelineRow]:
    """One ``TimelineRow`` per row of one connection's facts (frame order).

    ``rows``: the connection's slice of ``Facts`` (``detect.conn_view``); ``header``: its raw
    seq/ack, shown where the facts have no base; ``labels``: the events at each frame;
    ``start_ns``: time 0 of the timeline; ``scale_known``: ``Facts.scale_known`` of the
    connection (False: a SYN's options were cut before its window scale).
    """
    if not np.array_equal(header.frame, rows.frame):
        raise ValueError("timeline: segments and facts disagree on the connection's frames")
    from_client = rows.from_client.astype(bool)
    client = _SideTrack(syn_end=_syn_end(rows, from_client))
    server = _SideTrack(syn_end=_syn_end(rows, ~from_client))
    client_numbers = _SideNumbers.of(from_client, rows.syn)
    server_numbers = _SideNumbers.of(~from_client, rows.syn)
    # RFC 7323: the scale is known only when both SYNs were seen (facts.window is then the
    # scaled window); a SYN's own window is never scaled, so it is always exact.
    both_syns = client.syn_end is not None and server.syn_end is not None and scale_known
    segs = [
        _Segment(*values)
        for values in zip(
            rows.frame.tolist(),
            rows.time_ns.tolist(),
            from_client.tolist(),
            rows.flags.tolist(),
            rows.rel_seq.tolist(),
            rows.seq_end.tolist(),
            rows.rel_ack.tolist(),
            header.seq.tolist(),
            header.ack.tolist(),
            rows.seg_len.tolist(),
            rows.window.tolist(),
            strict=True,
        )
    ]
    out: list[TimelineRow] = []
    prev_ns = segs[0].time_ns if segs else start_ns
    for seg, stale in zip(segs, rows.stale_numbers.tolist(), strict=True):
        sender, receiver = (client, server) if seg.from_client else (server, client)
        own, peer = (
            (client_numbers, server_numbers)
            if seg.from_client
            else (server_numbers, client_numbers)
        )
        before = (client.state, server.state)
        _receive(receiver, seg)
        _send(sender, receiver, seg)
        # A stale row's seq counts in another connection's space (facts.stale_numbers).
        seq, seq_from = own.count(_BEFORE_ISN if stale else seg.rel_seq, seg.raw_seq)
        ack, ack_from = peer.count(seg.rel_ack, seg.raw_ack) if seg.flags & ACK else (None, None)
        out.append(
            TimelineRow(
                frame=seg.frame,
                time_s=(seg.time_ns - start_ns) / 1e9,
                delta_s=(seg.time_ns - prev_ns) / 1e9,
                side=Side.CLIENT if seg.from_client else Side.SERVER,
                flags=tcpdump_flags(seg.flags),
                seq=seq,
                seq_from=seq_from,
                ack=ack,
                ack_from=ack_from,
                length=seg.length,
                window=seg.window,
                window_scale_known=both_syns or bool(seg.flags & SYN),
                labels=labels.get(seg.frame, ()),
                client_state=client.state,
                server_state=server.state,
                client_state_changed=client.state is not before[0],
                server_state_changed=server.state is not before[1],
            )
        )
        prev_ns = seg.time_ns
    return out


def connection_timeline(analysis: Analysis, conn_id: int) -> list[TimelineRow]:
    """The timeline of connection ``conn_id`` of an ``Analysis``, from its facts.

    Raises ``KeyError`` when the capture has no connection ``conn_id``. An ``Analysis`` built
    without facts (by hand, in tests and tools) gets that connection's facts computed here.
    """
    row = analysis.connection(conn_id)
    facts = analysis.facts
    if facts is None:
        facts = compute_facts(analysis.segments[analysis.segments["conn"] == conn_id])
    return _timeline(facts, conn_id, analysis.segments, analysis.events, row)


def connection_notices(analysis: Analysis, conn_id: int) -> list[NoticeRow]:
    """The ``NoticeRow`` records of connection ``conn_id`` (frame order; [] when none)."""
    row = analysis.connection(conn_id)
    segments = analysis.segments
    mine = segments["conn"].to_numpy() == conn_id
    frames = segments["frame"].to_numpy()[mine]
    times = segments["time_ns"].to_numpy()[mine]
    start = row_field(row, "start_ns")
    start_ns = _integer(start) if start is not None else int(times[0]) if times.size else 0
    return notice_rows(analysis.events, conn_id, frames, start_ns)


def notice_rows(
    events: pd.DataFrame | None, conn_id: int, segment_frames: np.ndarray, start_ns: int
) -> list[NoticeRow]:
    """Rows for the connection's events at frames that are not its segments (ICMP errors).

    The events table's ``side`` names where the error came from, seen from the connection
    (``icmp.match``: "server" when it answers a client segment, so it travels to the client).
    """
    if events is None or events.empty:
        return []
    mine = events[(events["conn"].to_numpy() == conn_id)]
    mine = mine[~np.isin(mine["frame"].to_numpy(), segment_frames)]
    if mine.empty:
        return []
    out: list[NoticeRow] = []
    labels = _labels_by_frame(mine, conn_id)
    firsts = mine.drop_duplicates("frame")
    for frame, time_ns, side in zip(
        firsts["frame"].tolist(), firsts["time_ns"].tolist(), firsts["side"].tolist(), strict=True
    ):
        out.append(
            NoticeRow(
                int(frame), (int(time_ns) - start_ns) / 1e9, Side(str(side)), labels[int(frame)]
            )
        )
    return sorted(out, key=lambda r: r.frame)


def build_timeline(
    segments: pd.DataFrame,
    connection_row: ConnectionRow,
    events: pd.DataFrame | None,
) -> list[TimelineRow]:
    """One ``TimelineRow`` per frame of the connection ``connection_row["id"]``, from tables.

    ``segments`` is the segments table (``model.SEGMENT_COLUMNS`` + ``conn`` and
    ``from_client``; other connections' rows are ignored); ``events`` the events table
    (``model.EVENT_COLUMNS``; may be None). Times count from ``connection_row["start_ns"]``
    when given, else from the connection's first frame. The connection's facts are computed
    here; with an ``Analysis`` at hand, ``connection_timeline`` reads its facts instead.
    """
    conn_id = _integer(row_field(connection_row, "id"))
    own = segments[segments["conn"] == conn_id]
    if own.empty:
        return []
    return _timeline(compute_facts(own), conn_id, own, events, connection_row)


def _timeline(
    facts: Facts,
    conn_id: int,
    segments: pd.DataFrame,
    events: pd.DataFrame | None,
    connection_row: ConnectionRow,
) -> list[TimelineRow]:
    index = int(np.searchsorted(facts.conn_ids, conn_id))
    if index == len(facts.conn_ids) or int(facts.conn_ids[index]) != conn_id:
        return []
    rows = conn_view(facts, index)
    start = row_field(connection_row, "start_ns")
    start_ns = int(rows.time_ns[0]) if start is None else _integer(start)
    header = HeaderNumbers.of(segments, conn_id)
    labels = _labels_by_frame(events, conn_id)
    return timeline_rows(rows, header, labels, start_ns, bool(facts.scale_known[index]))


def _labels_by_frame(
    events: pd.DataFrame | None, conn_id: int
) -> dict[int, tuple[EventLabel, ...]]:
    """The connection's events per frame, in events-table order."""
    out: dict[int, list[EventLabel]] = {}
    if events is None or events.empty:
        return {}
    mine = np.flatnonzero(events["conn"].to_numpy() == conn_id)
    frames = events["frame"].to_numpy()[mine].tolist()
    kinds = events["kind"].to_numpy()[mine].tolist()
    notes = events["note"].to_numpy()[mine].tolist() if "note" in events else [""] * len(mine)
    for frame, kind, note in zip(frames, kinds, notes, strict=True):
        text = "" if note is None or (isinstance(note, float) and pd.isna(note)) else str(note)
        out.setdefault(int(frame), []).append(EventLabel(kind=str(kind), note=text))
    return {frame: tuple(labels) for frame, labels in out.items()}


def row_field(row: ConnectionRow, key: str) -> object:
    """``row[key]``, or None when the row has no such column or the value is missing (NaN)."""
    try:
        value: object = row[key]
    except (KeyError, IndexError):
        return None
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else value


def _integer(value: object) -> int:
    """A connections-table number as ``int`` (a pandas row may hold it as a whole float)."""
    if isinstance(value, int | np.integer) or (
        isinstance(value, float | np.floating) and float(value).is_integer()
    ):
        return int(value)
    raise TypeError(f"timeline: expected an integer, got {value!r}")
