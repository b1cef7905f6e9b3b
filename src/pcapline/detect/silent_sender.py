"""Silent sender: a side whose last data was never acknowledged sent nothing more while the
capture went on.

Kernel rule (RFC 6298, Linux ``tcp_retransmit_timer``): a sender with unacknowledged data
keeps a retransmission timer armed. When it fires (RTO: at least ``TCP_RTO_MIN``, 200 ms;
``TCP_TIMEOUT_INIT``, 1 s, before any RTT sample; ``srtt + 4 rttvar`` after, which the first
sample makes ``rtt + max(2 rtt, 200 ms)``) it resends the oldest unacknowledged segment and
doubles the timer. A live sender therefore never falls silent with data outstanding: within
one RTO it resends, within three (1 + 2, backoff) it has resent twice. Its peer acknowledges
what arrives (at most 200 ms late, ``TCP_DELACK_MAX``).

The wire signature, per side: its last data (or FIN) is past the highest acknowledgement the
peer sent, the peer had acknowledged some of that side's data (so its ACKs are in the capture
at all: not a one-direction or ACK-filtered capture), none of the outstanding bytes was
retransmitted (a sender in RTO backoff is the retransmit detector's: its gaps double and the
silence after its last resend is its next timer), the peer's last window was open (a zero
window is the persist timer's legitimate wait) and the side sent no window probe, no RST ended
the connection and not both FINs were captured. Then the capture went on for at least
``needed_s``: three RTOs estimated from the handshake round trip at the capture point
(``TCP_TIMEOUT_INIT`` when none was measured), never less than ``MIN_SILENCE_S``. A capture
that ended sooner says nothing; so does one that ended more than ``MAX_SILENCE_S`` later (a
gap between captures stitched together, a clock step: the capture may not have been running).

What it means: the capture is missing this connection's later segments. The capture point
lost them (a tap or tcpdump dropping packets: "packets dropped by kernel"), or everything the
sender sent after its last captured segment was lost before the capture point (the path died
upstream, the sender's host stopped). How the connection ended is then not in the capture:
classify weighs it for ``open`` and ``half_closed`` (caveat ``silent_sender``).

The screen is the signature itself (``screen`` and ``detect`` read the same pass), so a
connection is visited only when it shows it.

Emits nothing: the record (``SilentSender``) is the finding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pcapline.detect import NO_ROW, NOTHING, Batch, ConnView, Detection, Detector
from pcapline.facts import ROW_COLUMNS, Facts, SegmentRows, reduce_per_connection
from pcapline.model import EventKind, Side
from pcapline.timers import RTO_MIN_S, SLACK_FRACTION, SLACK_S, TCP_TIMEOUT_INIT_S

EMITS: frozenset[EventKind] = frozenset()

#: The shortest silence we judge, whatever the round trip: three times Linux's initial RTO
#: (1 s, before any RTT sample), so a capture that ended within a few RTOs of the last
#: segment says nothing.
MIN_SILENCE_S = 3.0

#: The longest silence read as the capture going on: past it, the time to the capture's end
#: is more likely a gap between captures stitched together (``mergecap -a``) or a clock
#: step than a capture point that kept recording (corpus: modbus.pcap, 6 years between two
#: captures in one file). A longer real silence is left unsaid, as before.
MAX_SILENCE_S = 3600.0

#: RTOs of silence that prove the timer fired twice without a resend (1 + 2, backoff).
SILENT_RTOS = 3

_NONE = np.iinfo(np.int64).min


@dataclass(frozen=True, slots=True)
class SilentSender:
    """A side whose last data was never acknowledged, silent while the capture went on."""

    side: Side  # the sender that fell silent
    last_frame: int  # its last data (or FIN) segment the capture holds
    ack_frame: int  # the peer's first ACK of everything that was acknowledged
    unacked_bytes: int  # payload bytes past the peer's last acknowledgement
    fin_unacked: bool  # its FIN is among what was never acknowledged
    silent_s: float  # its last data segment -> the end of the capture
    rto_s: float  # the retransmission timeout estimated for it
    rtt_ms: float | None  # the handshake round trip the estimate used (None: not measured)

    def as_inferred(self) -> dict[str, object]:
        """``inferred.silent_sender`` (docs/contract.md)."""
        return {
            "side": self.side.value,
            "last_frame": self.last_frame,
            "ack_frame": self.ack_frame,
            "unacked_bytes": self.unacked_bytes,
            "fin_unacked": self.fin_unacked,
            "silent_s": round(self.silent_s, 3),
            "rto_s": round(self.rto_s, 3),
        }


@dataclass(frozen=True, slots=True)
class _Side:
    """One side's candidate, per connection of a batch (``NO_ROW``: none)."""

    last: np.ndarray  # relative row of its last data/FIN segment
    last_ns: np.ndarray
    ack_row: np.ndarray  # relative row of the peer's first ACK at the highest value
    unacked: np.ndarray  # sequence numbers past that ACK (FIN included)
    fin: np.ndarray  # its FIN is past that ACK
    ok: np.ndarray  # every condition but the silence holds


@dataclass(frozen=True, slots=True)
class _Candidates:
    client: _Side
    server: _Side
    rtt_s: np.ndarray  # handshake round trip at the capture point (NaN: none)


def needed_s(rtt_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The RTO estimate and the silence that proves no resend came, per connection."""
    with np.errstate(invalid="ignore"):
        rto = np.where(
            np.isnan(rtt_s), TCP_TIMEOUT_INIT_S, rtt_s + np.maximum(2 * rtt_s, RTO_MIN_S)
        )
    need = np.maximum(MIN_SILENCE_S, SILENT_RTOS * rto * (1 + SLACK_FRACTION) + SLACK_S)
    return rto, need


def _side(batch: Batch, client: bool, excluded: np.ndarray) -> _Side:
    r = batch.rows
    starts, ci = batch.starts, batch.conn_index
    mine = (r.from_client == client) & ~r.is_dup
    theirs = (r.from_client != client) & ~r.is_dup
    sent = mine & ((r.seg_len > 0) | r.fin) & ~r.syn & ~r.rst & ~r.is_keepalive
    sent &= ~r.is_window_probe
    last = batch.last(sent)
    hi = reduce_per_connection(
        np.maximum, np.where(sent, r.seq_end, _NONE), starts, empty=_NONE, dtype=np.int64
    )
    lo = reduce_per_connection(
        np.minimum,
        np.where(sent, r.rel_seq, np.iinfo(np.int64).max),
        starts,
        empty=np.iinfo(np.int64).max,
        dtype=np.int64,
    )
    acks = theirs & r.ack & ~r.rst
    # The peer's bare ACKs are in the capture at all (a filter that kept data keeps its
    # acknowledgements only where they ride on its data: nothing is proven missing then).
    bare = np.asarray(batch.any(acks & (r.seg_len == 0) & ~r.syn & ~r.fin), dtype=bool)
    acked = reduce_per_connection(
        np.maximum, np.where(acks, r.rel_ack, _NONE), starts, empty=_NONE, dtype=np.int64
    )
    ack_row = batch.first(acks & (r.rel_ack == acked[ci]))
    fin_end = reduce_per_connection(
        np.maximum,
        np.where(mine & r.fin & ~r.is_dup, r.seq_end, _NONE),
        starts,
        empty=_NONE,
        dtype=np.int64,
    )
    resent = batch.any(mine & r.is_retrans & (r.seq_end > acked[ci]))
    probing = batch.any(mine & r.is_window_probe)
    peer_last = batch.last(theirs & ~r.rst)
    peer_window = batch.at_rows(r.window, peer_last, -1)
    ok = (
        (last != NO_ROW)
        & (acked != _NONE)
        & (acked > lo)  # the peer acknowledged some of this side's data
        & bare
        & (hi > acked)
        & ~np.asarray(resent, dtype=bool)
        & ~np.asarray(probing, dtype=bool)
        & (peer_window != 0)
        & ~excluded
    )
    return _Side(
        last=last,
        last_ns=batch.at_rows(r.time_ns, last, 0),
        ack_row=ack_row,
        unacked=np.where(ok, hi - acked, 0),
        fin=ok & (fin_end != _NONE) & (fin_end > acked),
        ok=ok,
    )


def _ended(batch: Batch) -> np.ndarray:
    """Per connection of a batch: a RST or both FINs ended it (nothing is left to miss)."""
    r = batch.rows
    reset = np.asarray(batch.any(r.rst), dtype=bool)
    both_fins = np.asarray(batch.any(r.fin & r.from_client), dtype=bool) & np.asarray(
        batch.any(r.fin & ~r.from_client), dtype=bool
    )
    ended: np.ndarray = reset | both_fins
    return ended


def _candidates(batch: Batch) -> _Candidates:
    """Per connection of a batch: each side's candidate and the handshake round trip."""
    r = batch.rows
    excluded = _ended(batch)
    syn = batch.first(r.syn & ~r.ack & r.from_client)
    synack = batch.first(r.syn & r.ack & ~r.from_client)
    ack = batch.first_after(r.from_client & r.ack & ~r.syn & ~r.rst, synack)
    t_syn = batch.at_rows(r.time_ns, syn, -1)
    t_ack = batch.at_rows(r.time_ns, ack, -1)
    measured = (syn != NO_ROW) & (synack != NO_ROW) & (ack != NO_ROW) & (t_ack >= t_syn)
    rtt_s = np.where(measured, (t_ack - t_syn) / 1e9, np.nan)
    return _Candidates(_side(batch, True, excluded), _side(batch, False, excluded), rtt_s)


def _silent(c: _Candidates, capture_end_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """Per connection: does the client's, does the server's candidate show the silence?"""
    _, need = needed_s(c.rtt_s)
    out = []
    for s in (c.client, c.server):
        silence = (capture_end_ns - s.last_ns) / 1e9
        out.append(s.ok & (silence >= need) & (silence <= MAX_SILENCE_S))
    return out[0], out[1]


def screen(facts: Facts) -> np.ndarray:
    """Per connection: a side silent with data unacknowledged (the signature itself). Most
    connections end with a RST or both FINs: the candidates' passes read the others' rows."""
    found = np.zeros(len(facts.conn_ids), dtype=bool)
    if not len(facts.conn_ids):
        return found
    conns = np.flatnonzero(~_ended(Batch.of_facts(facts)))
    if len(conns):
        client, server = _silent(_candidates(_part(facts, conns)), facts.capture_end_ns)
        found[conns] = client | server
    return found


def _part(facts: Facts, conns: np.ndarray) -> Batch:
    """A batch of the connections at positions ``conns`` of ``facts`` (ascending)."""
    lo, hi = facts.starts[conns], facts.starts[conns + 1]
    lengths = hi - lo
    starts = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    conn_index = np.repeat(np.arange(len(conns), dtype=np.int64), lengths)
    rows = np.arange(int(starts[-1]), dtype=np.int64) - starts[conn_index] + lo[conn_index]
    part = SegmentRows(*(getattr(facts, name)[rows] for name in ROW_COLUMNS))
    return Batch(part, starts, conn_index)


def detect(view: ConnView) -> Detection[SilentSender | None]:
    if view.batch.of(_ended)[view.at]:
        return NOTHING  # most visited connections: decided by one cheap pass for all
    # The few left alone: no pass of the candidates over every visited connection's rows.
    one = _candidates(Batch.one(view))
    client, server = _silent(one, view.capture_end_ns)
    if not (client[0] or server[0]):
        return NOTHING
    side = (
        one.client
        if client[0] and (not server[0] or one.client.unacked[0] >= one.server.unacked[0])
        else one.server
    )
    rto, _ = needed_s(one.rtt_s)
    last, fin = int(side.last[0]), bool(side.fin[0])
    rtt = float(one.rtt_s[0])
    found = SilentSender(
        side=view.side(last),
        last_frame=int(view.frame[last]),
        ack_frame=int(view.frame[int(side.ack_row[0])]),
        unacked_bytes=int(side.unacked[0]) - int(fin),
        fin_unacked=fin,
        silent_s=(view.capture_end_ns - int(view.time_ns[last])) / 1e9,
        rto_s=float(rto[0]),
        rtt_ms=None if rtt != rtt else rtt * 1e3,
    )
    return Detection((), found)


DETECTOR: Detector[SilentSender | None] = Detector("silent_sender", EMITS, detect, screen=screen)

__all__ = ["DETECTOR", "MAX_SILENCE_S", "MIN_SILENCE_S", "SILENT_RTOS", "SilentSender", "needed_s"]
