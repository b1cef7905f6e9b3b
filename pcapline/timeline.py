"""The annotated timeline of one connection: tcpdump with an expert beside you.

``build_timeline(segments, connection_row, events)`` turns one connection's rows into
``TimelineRow`` records (plain dataclasses: the terminal renderer below and the HTML report
both read them); ``render_timeline_text(rows, ...)`` prints them as fixed-width text.

Each row shows what tcpdump shows (flags, relative seq/ack, length, window), what pcapline's
detectors said about that frame (the events table: kind and note), and the TCP state of each
side *as inferred at the capture point*.

How the per-side states are inferred, and the limits of that inference
----------------------------------------------------------------------
A capture sees segments, not sockets. Each side's state (RFC 9293 names, written as in
``ss``: SYN-SENT, SYN-RECV, ESTABLISHED, FIN-WAIT-1, FIN-WAIT-2, CLOSE-WAIT, CLOSING,
LAST-ACK, TIME-WAIT, CLOSED) moves on evidence, per segment:

1. **What the sender did.** A SYN puts its sender in SYN-SENT, a SYN+ACK in SYN-RECV, a RST
   in CLOSED (except from SYN-SENT: that RST answers a stale ACK), a FIN in FIN-WAIT-1 (LAST-ACK from CLOSE-WAIT). A client in SYN-SENT that ACKs
   the SYN+ACK is ESTABLISHED; a side that ACKs its peer's FIN has received it: CLOSE-WAIT
   (CLOSING from FIN-WAIT-1, TIME-WAIT from FIN-WAIT-2). Payload from a side still unknown
   ("?") shows it ESTABLISHED. The kernel answers a SYN+ACK and a FIN at once, so the answer
   is the evidence that they arrived.
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

Sequence numbers are relative to each side's ISN (the seq of its SYN) like tcpdump and
Wireshark, and absolute when that side's SYN was not captured, or when the number lies before
the ISN (a segment of an earlier incarnation of the 4-tuple); ``seq_relative`` and
``ack_relative`` say which.
Windows are scaled (RFC 7323) only when both SYNs were captured and both offered a window
scale; a SYN's own window is never scaled.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from pcapline.model import ACK, CWR, ECE, FIN, PSH, RST, SYN, URG, Side

__all__ = [
    "EventLabel",
    "TcpState",
    "TimelineRow",
    "build_timeline",
    "render_timeline_text",
    "tcpdump_flags",
]

_SEQ_MOD = 1 << 32


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


@dataclass(frozen=True, slots=True)
class EventLabel:
    """One event a detector reported for this frame (``events`` table row)."""

    kind: str  # model.EventKind value, e.g. "syn_retransmit"
    note: str  # the detector's short note, may be ""


@dataclass(frozen=True, slots=True)
class TimelineRow:
    """One frame of one connection, as the timeline shows it.

    Plain values only, so any renderer (terminal, HTML, JSON) can read it without pandas.
    """

    frame: int  # Wireshark frame.number
    time_s: float  # seconds since the connection's first frame
    delta_s: float  # seconds since the connection's previous frame (0.0 on the first)
    side: Side  # sender: Side.CLIENT or Side.SERVER
    flags: str  # tcpdump style: "S", "S.", ".", "P.", "F.", "R", "R.", "none"
    seq: int  # relative to the sender's ISN when seq_relative, else the raw header value
    seq_relative: bool
    ack: int | None  # relative to the receiver's ISN when ack_relative; None without ACK flag
    ack_relative: bool
    length: int  # payload bytes (from the IP header)
    window: int  # advertised receive window, scaled when window_scale is not None
    window_scale: int | None  # shift applied (0: none negotiated or SYN); None: unknown, raw value
    labels: tuple[EventLabel, ...]  # detector events at this frame, in events-table order
    client_state: TcpState  # the client's state after this frame
    server_state: TcpState  # the server's state after this frame
    client_state_changed: bool  # this frame changed (or first established) client_state
    server_state_changed: bool

    @property
    def arrow(self) -> str:
        """Direction: "→" client to server, "←" server to client."""
        return "→" if self.side is Side.CLIENT else "←"

    @property
    def arrow_ascii(self) -> str:
        return "->" if self.side is Side.CLIENT else "<-"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready values (strings for enums; labels as [{"kind", "note"}])."""
        return {
            "frame": self.frame,
            "time_s": self.time_s,
            "delta_s": self.delta_s,
            "from": str(self.side),
            "arrow": self.arrow,
            "flags": self.flags,
            "seq": self.seq,
            "seq_relative": self.seq_relative,
            "ack": self.ack,
            "ack_relative": self.ack_relative,
            "len": self.length,
            "window": self.window,
            "window_scale": self.window_scale,
            "events": [{"kind": lab.kind, "note": lab.note} for lab in self.labels],
            "client_state": str(self.client_state),
            "server_state": str(self.server_state),
            "client_state_changed": self.client_state_changed,
            "server_state_changed": self.server_state_changed,
        }


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
    """The fields of one segment the state machine and the row need."""

    frame: int
    time_ns: int
    from_client: bool
    flags: int
    seq: int
    ack: int
    length: int
    window: int
    wscale: int

    @property
    def end_seq(self) -> int:
        """Sequence number after this segment (SYN and FIN take one each), modulo 2**32."""
        span = self.length + (1 if self.flags & SYN else 0) + (1 if self.flags & FIN else 0)
        return (self.seq + span) % _SEQ_MOD


@dataclass(slots=True)
class _SideTrack:
    """What the capture has shown about one side so far."""

    state: TcpState = TcpState.UNKNOWN
    isn: int | None = None  # seq of this side's SYN
    fin_end: int | None = None  # seq just after this side's FIN (what an ACK of it carries)
    peer_fin_acked: bool = False  # this side has ACKed the peer's FIN
    dropped_ack: bool = False  # went back to SYN-RECV: the peer's ACKs are not trusted now


def _acks(seg: _Segment, target: int | None) -> bool:
    """True when ``seg`` acknowledges up to ``target`` or beyond (modulo 2**32)."""
    if target is None or not seg.flags & ACK:
        return False
    return (seg.ack - target) % _SEQ_MOD < (1 << 31)


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
    """Rule 1, for what the receiver does not answer: RST, an ACK of its SYN or of its FIN.

    The receiver is assumed to get ``seg`` when the capture sees it; nothing it sends later
    could confirm it (a server does not reply to the handshake ACK, nor a closer to the ACK
    of its FIN).
    """
    if seg.flags & RST:
        receiver.state = TcpState.CLOSED
        return
    if (
        receiver.state is TcpState.SYN_RECV
        and not seg.flags & SYN
        and not receiver.dropped_ack
        and (receiver.isn is None or _acks(seg, (receiver.isn + 1) % _SEQ_MOD))
    ):
        receiver.state = TcpState.ESTABLISHED  # the server gets the handshake ACK
    if _acks(seg, receiver.fin_end):
        receiver.state = _AFTER_OWN_FIN_ACKED.get(receiver.state, receiver.state)


def _send(sender: _SideTrack, peer: _SideTrack, seg: _Segment) -> None:
    """Rule 2: what the sender put on the wire shows the state it is in.

    Segments the kernel answers at once (a SYN+ACK, a FIN) move the receiver when its answer
    is seen, not when they are: a SYN+ACK or FIN dropped after the capture point (or sent to
    a host that is gone) then changes nothing, which is what happened.
    """
    flags = seg.flags
    if flags & RST:
        # A SYN-SENT socket never resets on abort (tcp_need_reset() excludes it): its RST
        # answers an unacceptable ACK, and it stays SYN-SENT (RFC 9293 3.10.7.3), as the SYN
        # it resends next shows (a stale peer's challenge ACK).
        if sender.state is not TcpState.SYN_SENT:
            sender.state = TcpState.CLOSED
        return
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
        and (peer.isn is None or _acks(seg, (peer.isn + 1) % _SEQ_MOD))
    ):
        sender.state = TcpState.ESTABLISHED
    if not sender.peer_fin_acked and _acks(seg, peer.fin_end):
        sender.peer_fin_acked = True
        sender.state = _AFTER_PEER_FIN.get(sender.state, sender.state)
    if flags & FIN:
        if sender.fin_end is None:
            sender.fin_end = seg.end_seq
        # Later FINs are retransmissions: no change.
        sender.state = _AFTER_OWN_FIN.get(sender.state, sender.state)
    elif sender.state is TcpState.UNKNOWN and seg.length > 0:
        sender.state = TcpState.ESTABLISHED  # payload and no FIN yet: synchronised, not closing


# ---------------------------------------------------------------------------------------
# Rows
# ---------------------------------------------------------------------------------------


def _connection_segments(segments: pd.DataFrame, conn_id: int | None) -> list[_Segment]:
    rows = segments
    if conn_id is not None and "conn" in rows.columns:
        rows = rows[rows["conn"] == conn_id]
    rows = rows.sort_values("frame", kind="stable")
    return [
        _Segment(
            frame=int(frame),
            time_ns=int(time_ns),
            from_client=bool(from_client),
            flags=int(flags),
            seq=int(seq),
            ack=int(ack),
            length=int(length),
            window=int(window),
            wscale=int(wscale),
        )
        for frame, time_ns, from_client, flags, seq, ack, length, window, wscale in zip(
            rows["frame"],
            rows["time_ns"],
            rows["from_client"],
            rows["flags"],
            rows["seq"],
            rows["ack"],
            rows["seg_len"],
            rows["window"],
            rows["wscale"],
            strict=True,
        )
    ]


def _labels_by_frame(
    events: pd.DataFrame | None, conn_id: int | None
) -> dict[int, list[EventLabel]]:
    out: dict[int, list[EventLabel]] = {}
    if events is None or events.empty:
        return out
    rows = events
    if conn_id is not None and "conn" in rows.columns:
        rows = rows[rows["conn"] == conn_id]
    notes = rows["note"] if "note" in rows.columns else [""] * len(rows)
    for frame, kind, note in zip(rows["frame"], rows["kind"], notes, strict=True):
        text = "" if note is None or (isinstance(note, float) and pd.isna(note)) else str(note)
        out.setdefault(int(frame), []).append(EventLabel(kind=str(kind), note=text))
    return out


@dataclass(frozen=True, slots=True)
class _WindowScaling:
    """RFC 7323: scaling applies only if both SYNs offered it; None when a SYN is missing."""

    client: int | None
    server: int | None

    @classmethod
    def from_segments(cls, segs: list[_Segment]) -> _WindowScaling:
        client_syn = next((s for s in segs if s.from_client and s.flags & SYN), None)
        server_syn = next((s for s in segs if not s.from_client and s.flags & SYN), None)
        if client_syn is None or server_syn is None:
            return cls(None, None)
        if client_syn.wscale < 0 or server_syn.wscale < 0:
            return cls(0, 0)  # one side did not offer it: windows are unscaled
        return cls(client_syn.wscale, server_syn.wscale)

    def shift(self, seg: _Segment) -> int | None:
        if seg.flags & SYN:
            return 0  # the window in a SYN is never scaled
        return self.client if seg.from_client else self.server


def _relative(value: int, isn: int | None) -> tuple[int, bool]:
    """``value`` relative to ``isn``, or absolute (False) when no ISN is known or the value
    lies before it: a segment from an earlier incarnation of the 4-tuple (the challenge ACK
    of a TIME-WAIT socket, the RST that answers it) has its own sequence space."""
    if isn is None:
        return value, False
    offset = (value - isn) % _SEQ_MOD
    if offset >= _SEQ_MOD // 2:
        return value, False
    return offset, True


def _row_key(row: Mapping[str, Any] | pd.Series, key: str) -> Any:
    try:
        return row[key]
    except (KeyError, IndexError):
        return None


def build_timeline(
    segments: pd.DataFrame,
    connection_row: Mapping[str, Any] | pd.Series,
    events: pd.DataFrame | None,
) -> list[TimelineRow]:
    """One ``TimelineRow`` per frame of the connection ``connection_row["id"]``.

    ``segments`` is the segments table (``model.SEGMENT_COLUMNS`` + ``from_client``; other
    connections' rows are ignored when it has a ``conn`` column); ``events`` the events table
    (``model.EVENT_COLUMNS``; may be None). Times count from ``connection_row["start_ns"]``
    when given, else from the connection's first frame.
    """
    conn_id_raw = _row_key(connection_row, "id")
    conn_id = None if conn_id_raw is None else int(conn_id_raw)
    segs = _connection_segments(segments, conn_id)
    if not segs:
        return []
    labels = _labels_by_frame(events, conn_id)
    start_raw = _row_key(connection_row, "start_ns")
    start_ns = segs[0].time_ns if start_raw is None or pd.isna(start_raw) else int(start_raw)
    scaling = _WindowScaling.from_segments(segs)
    # ISNs are known up front (a SYN anywhere in the connection), so every row of a side is
    # numbered the same way, as tcpdump and Wireshark do.
    client_isn = next((s.seq for s in segs if s.from_client and s.flags & SYN), None)
    server_isn = next((s.seq for s in segs if not s.from_client and s.flags & SYN), None)
    client, server = _SideTrack(isn=client_isn), _SideTrack(isn=server_isn)
    rows: list[TimelineRow] = []
    prev_ns = segs[0].time_ns
    for seg in segs:
        sender, receiver = (client, server) if seg.from_client else (server, client)
        before = (client.state, server.state)
        _receive(receiver, seg)
        _send(sender, receiver, seg)
        own_isn, peer_isn = (
            (client_isn, server_isn) if seg.from_client else (server_isn, client_isn)
        )
        has_ack = bool(seg.flags & ACK)
        seq, seq_relative = _relative(seg.seq, own_isn)
        ack, ack_relative = _relative(seg.ack, peer_isn)
        shift = scaling.shift(seg)
        rows.append(
            TimelineRow(
                frame=seg.frame,
                time_s=(seg.time_ns - start_ns) / 1e9,
                delta_s=(seg.time_ns - prev_ns) / 1e9,
                side=Side.CLIENT if seg.from_client else Side.SERVER,
                flags=tcpdump_flags(seg.flags),
                seq=seq,
                seq_relative=seq_relative,
                ack=ack if has_ack else None,
                ack_relative=has_ack and ack_relative,
                length=seg.length,
                window=seg.window if shift is None else seg.window << shift,
                window_scale=shift,
                labels=tuple(labels.get(seg.frame, ())),
                client_state=client.state,
                server_state=server.state,
                client_state_changed=client.state is not before[0],
                server_state_changed=server.state is not before[1],
            )
        )
        prev_ns = seg.time_ns
    return rows


# ---------------------------------------------------------------------------------------
# Terminal text
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Column:
    title: str
    align: str  # "<" or ">"


_COLUMNS: tuple[_Column, ...] = (
    _Column("frame", ">"),
    _Column("time", ">"),
    _Column("delta", ">"),
    _Column("dir", "<"),
    _Column("flags", "<"),
    _Column("seq", ">"),
    _Column("ack", ">"),
    _Column("len", ">"),
    _Column("win", ">"),
    _Column("client", "<"),
    _Column("server", "<"),
    _Column("events", "<"),
)


def _number(value: int, relative: bool) -> str:
    return str(value) if relative else f"{value}*"  # * marks an absolute (raw) number


def _event_text(labels: Iterable[EventLabel]) -> str:
    return "; ".join(f"{lab.kind} ({lab.note})" if lab.note else lab.kind for lab in labels)


def _cells(row: TimelineRow, *, ascii_only: bool) -> list[str]:
    return [
        str(row.frame),
        f"{row.time_s:.6f}",
        f"{row.delta_s:.6f}",
        row.arrow_ascii if ascii_only else row.arrow,
        row.flags,
        _number(row.seq, row.seq_relative),
        "" if row.ack is None else _number(row.ack, row.ack_relative),
        str(row.length),
        str(row.window) if row.window_scale is not None else f"{row.window}~",
        str(row.client_state) if row.client_state_changed else "",
        str(row.server_state) if row.server_state_changed else "",
        _event_text(row.labels),
    ]


def render_timeline_text(
    rows: list[TimelineRow],
    *,
    title: str | None = None,
    ascii_only: bool = False,
) -> str:
    """Fixed-width text, one line per frame; deterministic for golden tests.

    The client/server columns show a state only on the row where it changes. A seq/ack marked
    ``*`` is absolute (that side's SYN was not captured); a window marked ``~`` is the raw
    header value (window scale unknown). ``ascii_only`` swaps the arrows for -> and <-.
    """
    table = [[c.title for c in _COLUMNS]] + [_cells(r, ascii_only=ascii_only) for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(_COLUMNS))]
    lines: list[str] = []
    if title:
        lines.append(title)
    for line in table:
        cells = [
            f"{cell:{col.align}{width}}"
            for cell, col, width in zip(line, _COLUMNS, widths, strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    if not rows:
        lines.append("(no frames)")
    lines.append(_legend(rows, ascii_only=ascii_only))
    return "\n".join(lines) + "\n"


def _legend(rows: list[TimelineRow], *, ascii_only: bool) -> str:
    right, left = ("->", "<-") if ascii_only else ("→", "←")
    parts = [f"{right} client to server, {left} server to client"]
    if any(not r.seq_relative or (r.ack is not None and not r.ack_relative) for r in rows):
        parts.append("* absolute seq/ack (SYN not captured)")
    if any(r.window_scale is None for r in rows):
        parts.append("~ raw window, scale unknown (the real window may be larger)")
    parts.append("states as inferred at the capture point; ? = not yet known")
    return "; ".join(parts)


def timeline_title(
    connection_row: Mapping[str, Any] | pd.Series, *, ascii_only: bool = False
) -> str:
    """ "connection 3: 10.0.0.1:40000 → 10.0.0.2:80, fate closed" (fields that exist only)."""
    arrow = "->" if ascii_only else "→"
    conn_id = _row_key(connection_row, "id")
    client = f"{_row_key(connection_row, 'client_ip')}:{_row_key(connection_row, 'client_port')}"
    server = f"{_row_key(connection_row, 'server_ip')}:{_row_key(connection_row, 'server_port')}"
    text = f"connection {conn_id}: client {client} {arrow} server {server}"
    if bool(_row_key(connection_row, "client_guessed")):
        text += " (client side guessed)"
    fate = _row_key(connection_row, "fate")
    if fate is not None and not (isinstance(fate, float) and pd.isna(fate)):
        text += f", fate {fate}"
    return text


def connection_timeline_text(analysis: Any, conn_id: int, *, ascii_only: bool = False) -> str:
    """The text timeline of connection ``conn_id`` of an ``Analysis`` (the CLI's output).

    Raises ``KeyError`` when the capture has no connection ``conn_id``.
    """
    row = analysis.connection(conn_id)
    rows = build_timeline(analysis.segments, row, analysis.events)
    return render_timeline_text(
        rows, title=timeline_title(row, ascii_only=ascii_only), ascii_only=ascii_only
    )
