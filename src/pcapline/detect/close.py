"""Close: FINs (who closed first, crossed FINs, stuck LAST_ACK) and RSTs (who, when, after what).

Kernel rules (tcp-facts.md "Closing"):

- Orderly close: FIN from the active closer, ACK, FIN from the passive closer, ACK. The active
  closer ends in TIME_WAIT (60 s on Linux); the passive one goes through CLOSE_WAIT, LAST_ACK.
  Simultaneous close: each FIN is sent before its sender saw the other's FIN, so the second
  FIN does not acknowledge the first one; both ends go to TIME_WAIT.
- A lost final ACK makes the passive closer retransmit its FIN (stuck in LAST_ACK); a peer
  that already forgot the connection answers with RST.
- RST ends a connection at once: SO_LINGER {1, 0} abortive close; close() with unread
  received data (RST instead of FIN); data to a socket that is gone; keepalive give-up; or a
  firewall/middlebox (often with a TTL or IP ID unlike the host's other packets).

The RST that *ended* the connection is the last RST after which its sender sent nothing but
RSTs and no new SYN followed (a client RST answering a challenge ACK, followed by a SYN
retry, ended nothing).

Emits: injected_rst_hint (per connection); fin, rst (every FIN that is not a retransmission
and every RST, for all connections, columnar).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pcapline.detect import (
    NO_ROW,
    Batch,
    ConnView,
    Detection,
    Detector,
    EventRows,
    RowSets,
    first_rows_by_direction,
    row_events,
    row_or_none,
)
from pcapline.facts import (
    UNKNOWN,
    Facts,
    SegmentRows,
    every_connection,
    nearest_rows,
    rows_of_connections,
    running_max_before,
)
from pcapline.model import RST, Event, EventKind, Side
from pcapline.timers import RTO_FLOOR_S
from pcapline.ttl import initial_ttl

EMITS = frozenset({EventKind.FIN, EventKind.RST, EventKind.INJECTED_RST_HINT})

#: A side whose TTLs already spread over more than this (a route change, ECMP paths, a capture
#: of both copies of forwarded packets) only gets a RST hint outside its range widened by it.
TTL_SLACK = 2
#: An IPv4 ID this far from the sender's previous one points to another IP stack.
IP_ID_SLACK = 1000
#: IP ID steps up to this between a side's consecutive packets make its IDs a per-connection
#: counter (Linux: inet_id of a connected socket with DF), continuous enough to judge a jump.
IP_ID_STEP = 64
#: An IP ID is judged only for a RST this soon after the sender's previous packet: a counter
#: shared with other connections (or other traffic of the host) moves on while this one idles.
IP_ID_WINDOW_S = 1.0
#: A copy of a RST (the same packet captured twice, ``facts.is_dup``) is looked for this long
#: and this many rows after it: a router's egress queue holds the forwarded copy up to its
#: latency (see ``findings.nat_copies.COPY_WINDOW_NS``).
COPY_WINDOW_NS = 1_000_000_000
COPY_LOOK_AHEAD_ROWS = 16
#: How a TTL-based hint's text starts (``Close.injected_by_ttl``).
TTL_WHY = "TTL "
#: Data within this long before a RST means the RST cut a transfer short.
TRANSFER_WINDOW_S = 1.0
#: A RST that answers a segment leaves its host at once (tcp_v4_send_reset for a 4-tuple
#: without a socket; a closed socket's reply in tcp_rcv_state_process), so at any capture
#: point it follows that segment within the round trip between the two. One that came this
#: long or longer after the peer's last segment answered nothing captured: it was sent on its
#: own (an application's abortive close, a timer) or answers a segment the capture lacks.
ANSWER_WITHIN_S = 1.0
#: A client that waited at least this long for an answer before closing gave up waiting (the
#: same second that makes a first response ``slow_response``: model.SlowThresholds).
WAIT_MIN_S = 1.0


@dataclass(frozen=True, slots=True)
class Reset:
    """The RST that ended a connection and its context."""

    side: Side
    frame: int
    state: (
        str  # "handshake", "established", "after client FIN", "after server FIN", "after both FINs"
    )
    idle_s: float | None  # quiet time before the RST (previous segment -> RST)
    during_transfer: bool  # data moved in the second before it, and the peer had not closed since
    #: The peer's FIN came after the last data of either side, before the RST: the RST ended
    #: a conversation its peer had finished (the sender's own FIN may have come or not).
    after_peer_close: bool
    unread_data: bool  # the RST's sender had received data it answered with RST instead of FIN
    has_ack: bool  # RST+ACK; Linux omits ACK on a RST answering any segment that carried ACK
    data_after_close: int | None  # frame of the peer's first data after the RST sender's own FIN
    #: The RST answers the segment just before it: that segment came from the peer, less
    #: than ``ANSWER_WITHIN_S`` before it.
    answers_peer: bool
    #: The peer segment the RST answers: the segment just before it, from the peer, or with
    #: ``stateless`` the one whose ACK number it carries (``_stateless_answer``: the peer's
    #: segments that crossed the RST may come between them).
    answers_frame: int | None = None
    #: The segment just before the RST came from the peer, however long before.
    follows_peer: bool = False
    #: Sequence numbers a side had sent (data or FIN) that no captured segment of its peer
    #: acknowledged before the RST (``_unacked_at``; classify weighs it against ``idle_s``).
    unacked_at_rst: bool = False
    #: With ``answers_peer``: how long nothing had been sent before the answered segment
    #: (the RST answers the first segment after that silence); None: nothing before it.
    quiet_before_answered_s: float | None = None
    #: With ``unread_data``: seconds from the peer's last data to the RST (close() sends the
    #: RST when the application closes, which may be long after that data came in).
    unread_for_s: float | None = None
    #: No ACK bit, seq = the ACK number of the segment it answers: made for a segment the
    #: sender had no socket for, or one its closed socket refused (module docstring).
    stateless: bool = False
    #: The answered segment carries data or a FIN, or is a keepalive probe: something a host
    #: sends on its own. (A bare ACK answers a segment of the RST sender's, which the capture
    #: then lacks, or completes a handshake a listener never accepted.)
    answers_payload: bool = False
    #: The answered segment carries data (not a keepalive probe's byte): no scanner's probe
    #: (nmap's ACK, FIN and Maimon scans send none), the connection's own bytes.
    answers_data: bool = False
    #: The RST's sender had sent its FIN first: the peer's first segment with data or FIN after
    #: that FIN (what the RST answers), and how it stood to the FIN.
    late_frame: int | None = None
    late_after_fin_s: float | None = None  # the sender's FIN -> the peer's late segment
    late_crossed_fin: bool = False  # the late segment does not acknowledge the FIN
    late_is_fin: bool = False  # it carries no data, only the peer's FIN
    #: The late segment has data and the peer's FIN came with it or as its next segment, right
    #: after those bytes: the peer wrote its last words and closed (it answered the close: a
    #: goodbye message, a TLS close_notify), sent before the RST could reach it.
    late_then_fin: bool = False
    #: Every captured segment of the connection is a RST: what it ended (or answered) is not
    #: in the capture (a capture begun just before it, backscatter, a scanner's answer).
    alone: bool = False
    #: Neither side had sent data before the RST.
    no_data_before: bool = False
    #: The answered segment carries SYN (a SYN+ACK refused, not an ACK).
    answers_syn: bool = False
    #: The RST's sender had sent a segment without SYN before it, its peer had acknowledged
    #: its SYN+ACK, or the capture began inside the connection: it had been synchronized,
    #: not only half way through a handshake.
    sender_synchronized: bool = False
    #: Quiet time before the sender's FIN, as captured: from the latest segment before it,
    #: the peer's data that crossed the FIN (``late_crossed_fin``) aside.
    idle_before_fin_s: float | None = None
    #: The sender's own last segment before its FIN (frame) and the time from it to the FIN:
    #: both stamped at one capture point, so this is the sender's own quiet time wherever the
    #: capture was taken (an idle timeout runs from its last write or from the peer's last
    #: segment it received, which reaches it later than this point may show).
    own_last_frame: int | None = None
    own_quiet_before_fin_s: float | None = None


@dataclass(frozen=True, slots=True)
class Waited:
    """The client's last data was acknowledged, the server sent nothing back, and the client
    ended the connection (its first FIN, or the RST that ended it) ``waited_s`` later."""

    request_frame: int  # the client's last data before the end
    ack_frame: int  # the server's ACK of it
    end_frame: int  # the client's FIN or RST
    waited_s: float  # request -> end
    by_rst: bool  # the client aborted (RST) rather than closed (FIN)


@dataclass(frozen=True, slots=True)
class Close:
    """How one connection was closed (the detector's ``inferred``)."""

    client_fin_frame: int | None
    server_fin_frame: int | None
    closer: Side | None  # first FIN's sender; BOTH when the FINs crossed
    fin_retransmits: int
    last_ack_stuck: bool  # the second FIN was retransmitted: its ACK never came
    time_wait: Side | None  # who ends in TIME_WAIT (the active closer; BOTH when crossed)
    resets: int
    ending_reset: Reset | None
    injected_hints: tuple[int, ...]  # RST frames with an unusual TTL / IP ID
    waited: Waited | None = None  # the client waited for an answer, then ended it
    #: The server's FIN came first, with the client's last data acknowledged and unanswered
    #: (``_unanswered``; ``end_frame``: the server's FIN, ``waited_s``: the request to it).
    unanswered: Waited | None = None
    later_resets: tuple[int, ...] = ()  # RSTs answering segments sent after the end
    injected_why: tuple[str, ...] = ()  # for each hint, what is unusual ("TTL 64, ...")
    #: The hints shown by the TTL / hop limit (the strong sign: an IP ID alone is a weaker one).
    injected_by_ttl: tuple[int, ...] = ()
    #: FINs the capture point lost, each inferred from the peer's ACK of it (``_unseen_fin``):
    #: one per side without a captured FIN (both, where the tap lost both FINs).
    unseen_fins: tuple[UnseenFin, ...] = ()
    #: The last segments of a side without a captured FIN, lost at the capture point
    #: (``_unseen_fin``): whether its FIN was among them is not in the capture.
    unseen_ends: tuple[UnseenEnd, ...] = ()
    #: When the first FIN was captured (ns; None: no FIN).
    first_fin_ns: int | None = None
    #: Of ``injected_by_ttl``, the RSTs whose TTL cannot be the host's own after a route
    #: change (``_another_box``): another initial TTL, more than TTL_SLACK above the
    #: host's, or a box that answered the handshake in the host's name.
    injected_by_another_box: tuple[int, ...] = ()
    #: With ``last_ack_stuck``: how often the passive closer resent its FIN.
    last_ack_fin_resends: int = 0
    #: The last RST's frame and its receiver's later timer-driven resend (``_timer_resend_
    #: after``), when that resend shows the receiver discarded the RST and kept the
    #: connection; None: no such RST.
    ignored_reset: tuple[int, int] | None = None

    def injected(self) -> dict[int, str]:
        """Each hinted RST's frame -> what is unusual about it (``injected_why``)."""
        return dict(zip(self.injected_hints, self.injected_why, strict=True))


@dataclass(frozen=True, slots=True)
class UnseenFin:
    """One side's FIN missing from a capture that holds both sides: the peer acknowledged one
    sequence number past every byte the capture holds from that side (a FIN takes one), or
    the side's own later segment without data carries that number (a segment goes out at
    snd.nxt, one past a FIN sent: RFC 9293 3.4), so the side sent it and the capture point
    lost it (one byte of data would look the same: inferred, not seen)."""

    side: Side  # whose FIN is missing
    ack_frame: int  # the first segment showing it: the peer's ACK of it, or the side's own
    own: bool = False  # ``ack_frame`` is the side's own later segment, not the peer's ACK


@dataclass(frozen=True, slots=True)
class UnseenEnd:
    """The last segments of one side (the side without a captured FIN), missing from a
    capture that holds both sides: the peer acknowledged more than one sequence number past
    every byte the capture holds from that side (or the side's own later segment without
    data carries such a number), so the side sent segments after its last captured one and
    the capture point lost them. A receiver acknowledges data and a FIN
    alike (the FIN takes the last sequence number): whether that side closed is not in the
    capture (a lossy tap that lost a FIN with the data before it, as Linux sends FIN on its
    last data segment)."""

    side: Side  # whose last segments are missing
    ack_frame: int  # the first segment showing them: the peer's ACK, or the side's own
    beyond: int  # sequence numbers acknowledged past the side's last captured byte
    own: bool = False  # ``ack_frame`` is the side's own later segment, not the peer's ACK


def detect(view: ConnView) -> Detection[Close]:
    closing = view.batch.of(_closing)
    k = view.at
    client_fin, server_fin = row_or_none(closing.client_fin[k]), row_or_none(closing.server_fin[k])
    closer = closing.closer[k]
    second_fin = None
    if client_fin is not None and server_fin is not None:
        second_fin = max(client_fin, server_fin)
    stuck = False
    passive_resends = 0
    if second_fin is not None and closing.fin_retransmits[k]:
        # The second FIN's sender retransmitted a FIN after it and no ACK of that FIN follows
        # its last copy: stuck in LAST_ACK. A FIN resent and then acknowledged was recovered
        # (the data before it, or the final ACK, lost once): no stuck close.
        side = int(view.from_client[second_fin])
        last_copy = closing.last_fin_retransmit[side][k]
        if last_copy > second_fin and not _fin_acked(view, second_fin, after=last_copy):
            stuck = True
            passive_resends = int(
                np.count_nonzero(view.fin & view.is_retrans & (view.from_client == bool(side)))
            )
    rst_list = closing.rst_rows.at(k)
    events: list[Event] = []
    hints: list[int] = []
    whys: list[str] = []
    by_ttl: list[int] = []
    far: list[int] = []
    ending_row = later = ending = None
    ignored: tuple[int, int] | None = None
    if rst_list:  # what only RSTs tell: injected hints, the ending RST, later RSTs
        rst_rows = np.array(rst_list, dtype=np.int64)
        senders = view.batch.of(_rst_senders)
        usual_ttl = senders.usual_ttl(k)
        history = senders.history(k, len(view))
        split = {side: senders.ttl_split(k, side) for side in (True, False)}
        for i in rst_list:
            why = _injected(view, i, usual_ttl, history, split)
            if why:
                hints.append(int(view.frame[i]))
                whys.append(why)
                if why.startswith(TTL_WHY):
                    by_ttl.append(int(view.frame[i]))
                    if _another_box(view, i, usual_ttl, split):
                        far.append(int(view.frame[i]))
                events.append(view.event(i, EventKind.INJECTED_RST_HINT, why))
        before = view.batch.of(_before_resets).at(k, len(view))
        ending_row = _ending_reset_row(view, rst_rows, closing.ends(k), before)
        later = _later_resets(view, rst_rows, ending_row)
        if ending_row is None:
            resend = _timer_resend_after(view, int(rst_rows[-1]))
            if resend is not None:
                ignored = (int(view.frame[rst_rows[-1]]), int(view.frame[resend]))
        else:
            ending = _describe(view, ending_row, client_fin, server_fin, before)
    time_wait = closer if closer is not None and second_fin is not None else None
    # Without a RST only a client's FIN can end a wait, and ``client_waited`` (column-wise)
    # already holds for every connection ``_waited`` would find.
    waited = None
    if rst_list or closing.client_waited[k]:
        waited = _waited(view, client_fin, server_fin, ending_row)
    unanswered = None
    if closing.server_closed_unanswered[k]:
        unanswered = _unanswered(view, client_fin, server_fin, ending_row)
    unseen: list[UnseenFin] = []
    unseen_ends: list[UnseenEnd] = []
    for client_missing, fin in ((True, client_fin), (False, server_fin)):
        if fin is None:
            found = _unseen_fin(view, client_missing=client_missing)
            if isinstance(found, UnseenFin):
                unseen.append(found)
            elif found is not None:
                unseen_ends.append(found)
    report = Close(
        client_fin_frame=int(view.frame[client_fin]) if client_fin is not None else None,
        server_fin_frame=int(view.frame[server_fin]) if server_fin is not None else None,
        closer=closer,
        fin_retransmits=closing.fin_retransmits[k],
        last_ack_stuck=stuck,
        last_ack_fin_resends=passive_resends,
        time_wait=time_wait,
        resets=len(rst_list),
        ending_reset=ending,
        injected_hints=tuple(hints),
        waited=waited,
        unanswered=unanswered,
        later_resets=tuple(int(view.frame[r]) for r in later) if later is not None else (),
        injected_why=tuple(whys),
        injected_by_ttl=tuple(by_ttl),
        injected_by_another_box=tuple(far),
        unseen_fins=tuple(unseen),
        unseen_ends=tuple(unseen_ends),
        first_fin_ns=_first_fin_ns(view, client_fin, server_fin),
        ignored_reset=ignored,
    )
    return Detection(tuple(events), report)


def _first_fin_ns(view: ConnView, client_fin: int | None, server_fin: int | None) -> int | None:
    fins = [row for row in (client_fin, server_fin) if row is not None]
    return int(view.time_ns[min(fins)]) if fins else None


def _unseen_fin(view: ConnView, *, client_missing: bool) -> UnseenFin | UnseenEnd | None:
    """Of a side without a captured FIN: ``UnseenFin`` when the furthest sequence number
    shown past that side's captured bytes (the peer's highest ACK, or the side's own later
    segment without data: ``_reached``) is exactly one past them; ``UnseenEnd`` when it is
    further (data was lost too: the last sequence number may be data as well, so no FIN is
    inferred, nor is its absence). Neither where a RST ended it (no FIN need have been
    sent)."""
    if view.rst.any():  # asked first: one pass, where half the visited connections end so
        return None
    theirs = view.from_client == client_missing
    # its bytes: data and SYN (a pure ACK's sequence number after the lost FIN is past it)
    mine = theirs & ~view.is_dup & ((view.seg_len > 0) | view.syn)
    if not mine.any():
        return None
    end = int(view.seq_end[mine].max())
    rows, reach = _reached(view, theirs)
    if not len(rows) or int(reach.max()) <= end:
        return None
    furthest = int(reach.max())
    first = int(rows[reach == furthest].min())
    side = Side.CLIENT if client_missing else Side.SERVER
    own = bool(theirs[first])
    if furthest == end + 1:
        return UnseenFin(side, int(view.frame[first]), own)
    return UnseenEnd(side, int(view.frame[first]), furthest - end, own)


def _reached(view: ConnView, theirs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows showing how far one side's sequence numbers went, and how far each shows: the
    peer's ACKs (``rel_ack``: a receiver acknowledges only what it got) and the side's own
    segments without data, SYN, FIN or RST (``rel_seq``: sent at snd.nxt, past every byte
    and FIN sent; a keepalive or window probe sits one below, at snd.una - 1)."""
    peer = ~theirs & view.ack & ~view.rst & (view.rel_ack != UNKNOWN)
    own = theirs & ~view.is_dup & ~view.rst & ~view.syn & ~view.fin & (view.seg_len == 0)
    own &= view.rel_seq != UNKNOWN
    rows = np.concatenate([np.flatnonzero(peer), np.flatnonzero(own)])
    reach = np.concatenate([view.rel_ack[peer], view.rel_seq[own]])
    return rows, reach


@dataclass(frozen=True, slots=True)
class _Closing:
    """What ``detect`` asks of every connection of a batch, answered column-wise (rows are
    relative to each connection, ``NO_ROW``: none)."""

    client_fin: list[int]  # the client's first counted FIN (``counted_fins``)
    server_fin: list[int]
    closer: list[Side | None]  # ``closer_code``: the first FIN's sender, BOTH when crossed
    fin_retransmits: list[int]  # FINs that are retransmissions
    rst_rows: RowSets  # RSTs, capture duplicates aside
    client_waited: list[bool]  # ``client_waited``
    server_closed_unanswered: list[bool]  # ``server_closed_unanswered``
    #: Per side (index 0: the server's, 1: the client's): its last FIN retransmission.
    last_fin_retransmit: tuple[list[int], list[int]]
    # The last rows ``_ending_reset_row`` weighs the last RST against (``_Ends``):
    last_syn: list[int]  # any SYN
    last_said_syn: list[int]  # a SYN that is no RST
    last_said: tuple[list[int], list[int]]  # per side: a row that is no RST
    last_data: tuple[list[int], list[int]]  # per side: data that is no RST

    def ends(self, k: int) -> _Ends:
        """Connection ``k``'s last rows that ``_ending_reset_row`` reads."""
        return _Ends(
            syn=self.last_syn[k],
            said_syn=self.last_said_syn[k],
            said=(self.last_said[0][k], self.last_said[1][k]),
            data=(self.last_data[0][k], self.last_data[1][k]),
        )


@dataclass(frozen=True, slots=True)
class _Ends:
    """One connection's last rows of a kind (relative; ``NO_ROW``: none); per side tuples are
    indexed by ``from_client`` (0: the server's, 1: the client's)."""

    syn: int
    said_syn: int
    said: tuple[int, int]
    data: tuple[int, int]


def _closing(batch: Batch) -> _Closing:
    r = batch.rows
    n = len(batch.starts) - 1
    client, server, closer = _fins_and_closer(r, batch.conn_index, n)
    if every_connection(r, batch.conn_index):
        waited, unanswered = r.once(_every_first_fin_waits)
    else:
        waited, unanswered = _first_fin_waits(r, batch.starts, batch.conn_index, (client, server))
    first = batch.starts[:-1]

    def by_side(mask: np.ndarray) -> tuple[list[int], list[int]]:
        """Per connection: the server's last row where ``mask`` holds, the client's."""
        last = [batch.last(mask & (r.from_client == side)).tolist() for side in (False, True)]
        return last[0], last[1]

    return _Closing(
        client_fin=np.where(client >= 0, client - first, NO_ROW).tolist(),
        server_fin=np.where(server >= 0, server - first, NO_ROW).tolist(),
        closer=closer.tolist(),
        fin_retransmits=batch.count(r.fin & r.is_retrans).tolist(),
        rst_rows=batch.row_sets(r.rst & ~r.is_dup),
        client_waited=waited.tolist(),
        server_closed_unanswered=unanswered.tolist(),
        last_fin_retransmit=by_side(r.fin & r.is_retrans),
        # A capture copy (facts.is_dup: a second tap's, a mirror's) is no segment of its own:
        # copies stamped after the RST are not its sender going on (two taps merged 1 ms apart
        # read 'open' with the RST on the wire).
        last_syn=batch.last(r.syn & ~r.is_dup).tolist(),
        last_said_syn=batch.last(r.syn & ~r.rst & ~r.is_dup).tolist(),
        last_said=by_side(~r.rst & ~r.is_dup),
        last_data=by_side(~r.rst & (r.seg_len > 0) & ~r.is_dup),
    )


# The close rule, one function per step, shared by this detector's column-wise pass
# (``_closing``) and classify's columnar fast path (``first_fins_and_closer``).


def counted_fins(rows: SegmentRows) -> np.ndarray:
    """FINs that count for the close: a side's first FIN on the wire counts even when it is
    itself a retransmission (the original was lost before the capture point); a capture
    duplicate does not."""
    return np.asarray(rows.fin & ~rows.is_dup)


def fins_crossed(rows: SegmentRows, first: Any, second: Any) -> Any:
    """The second FIN (row ``second``) was sent before its sender saw the first (it does not
    acknowledge it): a simultaneous close, both ends go to TIME_WAIT. Rows or row arrays."""
    return rows.rel_ack[second] < rows.seq_end[first]


def _acknowledges(rows: SegmentRows, fin: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Per pair of FIN rows: ``fin`` acknowledges ``other`` (0/1 ints)."""
    ack = rows.rel_ack[fin]
    known = rows.ack[fin] & (ack != UNKNOWN)
    return np.asarray(known & (ack >= rows.seq_end[other]), dtype=np.int64)


#: ``closer_code`` -> closer: nobody closed, the client, the server, both (crossed FINs).
CLOSERS: tuple[Side | None, ...] = (None, Side.CLIENT, Side.SERVER, Side.BOTH)


def closer_code(has_client: Any, has_server: Any, client_first: Any, crossed: Any) -> Any:
    """Index into ``CLOSERS``: the first FIN's sender, BOTH when the FINs crossed. Arguments
    are 0/1 ints, or int arrays of them (one per connection)."""
    both = has_client * has_server
    one = has_client + 2 * has_server  # only one side sent FIN: 1 client, 2 server
    return both * (3 * crossed + (1 - crossed) * (2 - client_first)) + (1 - both) * one


def first_fins_and_closer(facts: Facts) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per connection (``facts.conn_ids`` order): the row of the client's first counted FIN,
    of the server's (-1: none), and the closer (object array of ``Side`` or None). Made once
    per ``Facts`` (the screen, the batch pass and classify's fast path ask for it)."""
    return facts.once(_every_fins_and_closer)


def _every_fins_and_closer(facts: Facts) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return _fins_and_closer_in(facts, facts.conn_index, len(facts.conn_ids))


def _fins_and_closer(
    rows: SegmentRows, conn_index: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``first_fins_and_closer`` of ``n`` connections' ``rows`` (grouped by connection)."""
    if every_connection(rows, conn_index):
        return first_fins_and_closer(rows)
    return _fins_and_closer_in(rows, conn_index, n)


def _fins_and_closer_in(
    rows: SegmentRows, conn_index: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    fin = counted_fins(rows)
    first_rows = []
    for side in (True, False):
        found = np.flatnonzero(fin & (rows.from_client == side))[::-1]  # first written last
        first = np.full(n, -1, dtype=np.int64)
        first[conn_index[found]] = found
        first_rows.append(first)
    client, server = first_rows
    has_c, has_s = (client >= 0).astype(np.int64), (server >= 0).astype(np.int64)
    first, second = np.minimum(client, server), np.maximum(client, server)
    # The FIN stamped first acknowledging the one stamped second: the stamps disagree with
    # the sequence numbers (taps merged with clocks apart; no host acknowledges a FIN before
    # it was sent), and the sequence numbers are right: the later-stamped FIN came first.
    stamped_late = has_c * has_s * _acknowledges(rows, first, second)
    crossed = (has_c * has_s * (1 - stamped_late) * fins_crossed(rows, first, second)).astype(
        np.int64
    )
    client_first = (client == first).astype(np.int64) ^ stamped_late
    code = closer_code(has_c, has_s, client_first, crossed)
    sides = np.empty(len(CLOSERS), dtype=object)
    sides[:] = CLOSERS  # (numpy.array would store the strs, not the Side members)
    return client, server, sides[code]


def _fin_acked(view: ConnView, fin_row: int, *, after: int) -> bool:
    """A segment of the peer's after row ``after`` acknowledges the FIN of row ``fin_row``
    (RFC 9293 3.10.7.4: LAST-ACK ends when the ACK of the FIN arrives)."""
    rows = slice(after + 1, len(view))
    peer = view.from_client[rows] != view.from_client[fin_row]
    acks = view.ack[rows] & ~view.rst[rows] & (view.rel_ack[rows] != UNKNOWN)
    return bool(np.any(peer & acks & (view.rel_ack[rows] >= view.seq_end[fin_row])))


def _timer_resend_after(view: ConnView, i: int) -> int | None:
    """Row of the first data the RST at row ``i``'s receiver retransmitted later than a
    retransmission timer could have been armed after the RST reached it (``RTO_FLOOR_S``),
    None: none. A socket a RST tore down sends nothing more, so the RST never reached that
    receiver (lost beyond the capture point) or it discarded the RST (RFC 5961 3.2, Linux
    tcp_validate_incoming: a RST outside the window is dropped, one in it but not at rcv.nxt
    draws a challenge ACK), and it still held the connection."""
    if i + 1 == len(view):
        return None  # nothing after it (the common case: a RST is the last segment)
    later = slice(i + 1, len(view))
    theirs = view.from_client[later] != view.from_client[i]
    resent = theirs & view.is_retrans[later] & (view.seg_len[later] > 0) & ~view.is_dup[later]
    floor_ns = int(view.time_ns[i]) + round(RTO_FLOOR_S * 1e9)
    found = np.flatnonzero(resent & (view.time_ns[later] >= floor_ns))
    return i + 1 + int(found[0]) if len(found) else None


def _ending_reset_row(
    view: ConnView, rst_rows: np.ndarray, ends: _Ends, before: _Before
) -> int | None:
    """Row of the RST that ended the connection, or None.

    The last RST ends nothing when a new handshake followed it or its sender went on sending
    data. Otherwise the end is the first RST of the final stretch: walking back over RSTs while
    no data, SYN or FIN lies between them, and further back over a stretch where only an earlier
    RST's own sender spoke after it (the host whose connection that RST ended answers nothing
    but RSTs: a late segment and the RST it draws do not rewrite who ended it).
    """
    if not len(rst_rows):
        return None
    i = int(rst_rows[-1])
    sender = int(view.from_client[i])
    if ends.syn > i:
        return None  # a new handshake followed: this RST cleared stale state
    if ends.data[sender] > i:
        return None  # its sender went on sending data
    if _timer_resend_after(view, i) is not None:
        return None  # its receiver still held the connection: the RST was not taken
    if len(rst_rows) == 1:
        return i  # no earlier RST to walk back to
    # Walk back from the last RST, each step O(1) (a connection can hold thousands of RSTs):
    # per row the latest earlier ``substantive`` one (``_Before``), and per side the last row
    # that is not a RST.
    last_said, last_syn = ends.said, ends.said_syn  # indexed by side: False 0, True 1
    for j in rst_rows[::-1].tolist():
        if j >= i:
            continue
        if before.substantive[i] <= j:
            i = j  # RSTs with nothing said between them: one burst
            continue
        # Something was said after RST j. If only j's own sender spoke after it (a late
        # segment: a scanner's, a retransmission), and the peer, whose connection j ended,
        # answered nothing but RSTs, j ended the connection. A peer that spoke after j (a FIN
        # or data crossing the RST) keeps the later RST as the end, unless that later RST is
        # j's sender's stateless answer (tcp_v4_send_reset: no socket for the segment) and it
        # said nothing else after j: its socket was already gone, so j ended it.
        side = bool(view.from_client[j])
        peer_spoke = last_said[not side] > j
        gone = bool(view.from_client[i]) == side and last_said[side] < j and _stateless(view, i)
        if (not peer_spoke or gone) and last_syn <= j:
            i = j
            continue
        break
    return i


def _stateless(view: ConnView, i: int) -> bool:
    """RST row ``i`` answers a peer segment the way a host with no socket for it does, or a
    closed socket refusing it (RFC 793 reset generation, Linux tcp_v4_send_reset): for a
    segment with ACK, <SEQ=SEG.ACK><CTL=RST>, no ACK bit (``_stateless_answer``). A live
    socket's RST (tcp_send_active_reset) always carries ACK."""
    return _stateless_answer(view, i) is not None


#: How many rows before a RST ``_stateless_answer`` looks back over for the segment it
#: answers: the peer's segments of the last round trip (``ANSWER_WITHIN_S``) that crossed
#: the RST on the way are a few, not a window's worth.
ANSWER_LOOKBACK_ROWS = 64


def _stateless_answer(view: ConnView, i: int) -> int | None:
    """The peer row that RST row ``i`` answers in the kernel's no-ACK shape, or None.

    The RST carries no ACK bit and its seq is the ACK number of a segment its sender
    received: the row just before it, or else the latest peer segment less than
    ``ANSWER_WITHIN_S`` before it with that ACK number. The answer leaves the RST's sender at
    once, but the peer's segments sent after the answered one, before the RST reached the
    peer, cross it: at a capture point near the peer they come between the answered segment
    and the RST (a request's RST a round trip after it, the peer's ACK of the closer's FIN
    in between)."""
    if i == 0 or view.ack[i]:
        return None
    seq = int(view.rel_seq[i])
    sender = bool(view.from_client[i])
    if view.stale_numbers[i]:
        # The client's RST to an ACK of another connection's numbers (facts.stale_rows
        # matched its seq to that ACK's ack, which rel_ack no longer holds): that ACK.
        stale = np.flatnonzero(view.stale_numbers[:i] & (view.from_client[:i] != sender))
        return int(stale[-1]) if len(stale) else None
    prev = i - 1
    if (
        bool(view.from_client[prev]) != sender
        and bool(view.ack[prev])
        and int(view.rel_ack[prev]) != UNKNOWN
        and int(view.rel_ack[prev]) == seq
    ):
        return prev
    lo = max(0, i - 1 - ANSWER_LOOKBACK_ROWS)
    rows = slice(lo, prev)
    match = (
        (view.from_client[rows] != sender)
        & view.ack[rows]
        & ~view.rst[rows]
        & ~view.is_dup[rows]
        & ((view.seg_len[rows] > 0) | view.syn[rows] | view.fin[rows])
        & (view.rel_ack[rows] == seq)
        & (view.rel_ack[rows] != UNKNOWN)
        & (view.time_ns[rows] > int(view.time_ns[i]) - int(ANSWER_WITHIN_S * 1e9))
        & (view.time_ns[rows] <= int(view.time_ns[i]))
    )
    found = np.flatnonzero(match)
    if not len(found):
        return None
    m = lo + int(found[-1])
    # Only a segment that occupies sequence space (data, SYN or FIN) shows whether the RST's
    # sender had it: a host resets a segment it received instead of acknowledging it, so none
    # of its own segments between them may acknowledge it (those left before it arrived). A
    # bare ACK, or one its sender acknowledged, leaves the RST's seq its own next one.
    between = slice(m + 1, i)
    own = (view.from_client[between] == sender) & ~view.rst[between] & view.ack[between]
    acked = own & (view.rel_ack[between] != UNKNOWN) & (view.rel_ack[between] >= view.seq_end[m])
    return None if bool(np.any(acked)) else m


def _past_the_handshake(view: ConnView, i: int) -> bool:
    """The RST at row ``i`` itself shows data had flowed: its ACK covers peer bytes past the
    peer's SYN, or its sequence number is past its sender's own SYN + 1. A RST carries its
    sender's snd.nxt and, with ACK, its rcv.nxt (tcp_send_active_reset, tcp_v4_send_reset), so
    the connection was established even where the capture holds nothing else of it (one
    filtered on SYN/FIN/RST)."""
    if view.syn[i]:
        return False  # a RST with SYN (a crafted all-flags probe) carries no state
    seq, ack = int(view.rel_seq[i]), int(view.rel_ack[i])
    acked_data = bool(view.ack[i]) and ack != UNKNOWN and ack > 1
    return acked_data or (seq != UNKNOWN and seq > 1)


def _unacked_at(view: ConnView, i: int) -> bool:
    """Before row ``i``, a side had sent sequence numbers (data, FIN) past the highest ACK its
    peer sent, the peer having acknowledged something of it: data in flight that no captured
    segment acknowledged."""
    rows = slice(0, i)
    known = (view.rel_seq[rows] != UNKNOWN) & ~view.rst[rows]
    acks = view.ack[rows] & ~view.rst[rows] & (view.rel_ack[rows] != UNKNOWN)
    for side in (True, False):
        mine = view.from_client[rows] == side
        sent, acked = view.seq_end[rows][mine & known], view.rel_ack[rows][~mine & acks]
        if len(sent) and len(acked) and int(sent.max()) > int(acked.max()):
            return True
    return False


def _describe(
    view: ConnView, i: int, client_fin: int | None, server_fin: int | None, before: _Before
) -> Reset:
    """The ending RST (row ``i``) in its context; ``before``: what the rows before each row
    of the connection hold (``_before_resets``), read at the RST in O(1). Only a RST after
    its sender's own FIN looks at rows, those between that FIN and the RST."""
    sender = bool(view.from_client[i])
    flowed = _past_the_handshake(view, i)
    established = bool(before.established[i]) or before.no_syn or flowed
    fins = [
        name
        for name, row in (("client", client_fin), ("server", server_fin))
        if row is not None and row < i
    ]
    if len(fins) == 2:
        state = "after both FINs"
    elif fins:
        state = f"after {fins[0]} FIN"
    elif established:
        state = "established"
    else:
        state = "handshake"
    prev = int(before.said[i])
    idle = view.seconds(prev, i) if prev >= 0 else None
    if idle is not None and idle < 0:
        idle = None  # stamped before the segment it follows: a timestamp step back, not a wait
    recent = int(before.data_ns[i]) >= int(view.time_ns[i]) - int(TRANSFER_WINDOW_S * 1e9)
    peer_data, own_data = int(before.data[not sender][i]), int(before.data[sender][i])
    # The peer closed (FIN) after the last data either side sent: the data of that second
    # was the end of the conversation, not a transfer the RST cut short.
    peer_fin = server_fin if sender else client_fin
    after_peer_close = peer_fin is not None and max(peer_data, own_data) < peer_fin < i
    # close() with unread data: the peer's data reached the RST sender after its own last
    # data/FIN, and it answered with RST rather than FIN (tcp_close: data_was_unread).
    own_fin = client_fin if sender else server_fin
    unread = peer_data >= 0 and (own_fin is None or own_fin > i) and peer_data > own_data
    unread_for = view.seconds(peer_data, i) if unread else None
    # Data reaching a side after its own FIN: the application had closed, so the kernel
    # answers the data with RST (tcp_rcv_state_process, TcpExtTCPAbortOnData).
    # Else data in flight to it when it sent its FIN (captured before the FIN, nearer the
    # peer, but not acknowledged by it): it reached it after its close too.
    late: int | None = None
    if own_fin is not None and own_fin < i:
        after = slice(own_fin + 1, i)
        found = np.flatnonzero((view.seg_len[after] > 0) & (view.from_client[after] != sender))
        late = own_fin + 1 + int(found[0]) if len(found) else None
        in_flight = np.flatnonzero(_in_flight_at_fin(view, own_fin))
        if late is None and len(in_flight):
            late = int(in_flight[0])
    follows_peer = i > 0 and bool(view.from_client[i - 1] != sender)  # the row just before it
    answers_peer = follows_peer and view.seconds(i - 1, i) < ANSWER_WITHIN_S
    answered = i - 1 if answers_peer else None
    matched = _stateless_answer(view, i)
    stateless = matched is not None and (matched != i - 1 or answered is not None)
    if stateless and matched != i - 1:
        answered = matched  # the segment whose ACK number it carries, crossed by later ones
    quiet_before = (
        view.seconds(answered - 1, answered) if answered is not None and answered >= 1 else None
    )
    # Synchronized: ``_synchronized``, or the capture began inside the connection.
    synchronized = before.no_syn or _synchronized(view, i, before.first_plain[sender])
    late_row, after_fin, crossed, idle_fin = _late_after_own_fin(view, i, own_fin)
    own_last = _own_last_before(view, own_fin) if own_fin is not None and own_fin < i else None
    return Reset(
        side=view.side(i),
        frame=int(view.frame[i]),
        state=state,
        idle_s=idle,
        during_transfer=recent and not after_peer_close,
        after_peer_close=after_peer_close,
        unread_data=unread,
        has_ack=bool(view.ack[i]),
        data_after_close=int(view.frame[late]) if late is not None else None,
        answers_peer=answers_peer,
        answers_frame=int(view.frame[answered]) if answered is not None else None,
        follows_peer=follows_peer,
        unacked_at_rst=_unacked_at(view, i),
        quiet_before_answered_s=quiet_before if quiet_before is None or quiet_before >= 0 else None,
        unread_for_s=unread_for if unread_for is None or unread_for >= 0 else None,
        stateless=stateless,
        answers_payload=answered is not None
        and bool(view.seg_len[answered] > 0 or view.fin[answered] or view.probe_shape[answered]),
        answers_data=answered is not None
        and bool(view.seg_len[answered] > 0 and not view.probe_shape[answered]),
        late_frame=int(view.frame[late_row]) if late_row is not None else None,
        late_after_fin_s=after_fin,
        late_crossed_fin=crossed,
        late_is_fin=late_row is not None and int(view.seg_len[late_row]) == 0,
        late_then_fin=late_row is not None and _then_fin(view, late_row),
        alone=bool(view.rst.all()),
        # Its own seq / ACK past the SYNs say data flowed where the capture holds none.
        no_data_before=peer_data < 0 and own_data < 0 and not flowed,
        answers_syn=answered is not None and bool(view.syn[answered]),
        sender_synchronized=synchronized,
        idle_before_fin_s=idle_fin,
        own_last_frame=int(view.frame[own_last]) if own_last is not None else None,
        own_quiet_before_fin_s=(
            view.seconds(own_last, own_fin)
            if own_last is not None and own_fin is not None
            else None
        ),
    )


def _synchronized(view: ConnView, i: int, first_plain: int) -> bool:
    """Before row ``i``, its sender had sent a segment without SYN (``first_plain``: its first
    row that is neither SYN nor RST), or had sent a SYN+ACK the peer acknowledged (a
    listener's side of a handshake that completed, its later segments uncaptured). A client
    that sent only SYNs is connecting."""
    if first_plain != NO_ROW and first_plain < i:
        return True
    own_rows = view.from_client[:i] == view.from_client[i]
    if not np.any(own_rows & view.syn[:i] & view.ack[:i]):
        return False
    peer_acked = ~own_rows & view.ack[:i] & ~view.syn[:i] & ~view.rst[:i]
    peer_acked &= (view.rel_ack[:i] >= 1) & (view.rel_ack[:i] != UNKNOWN)
    return bool(np.any(peer_acked))


def _in_flight_at_fin(view: ConnView, own_fin: int) -> np.ndarray:
    """Per row: the peer's data captured before the FIN of row ``own_fin`` that the FIN does
    not acknowledge (a FIN carries the sender's rcv.nxt): that data had not reached the FIN's
    sender when it closed, so it arrived after the close. At a capture point nearer the peer
    a request that crossed the FIN comes before it."""
    peer = (view.from_client != view.from_client[own_fin]) & ~view.rst & ~view.is_dup
    fin_ack = int(view.rel_ack[own_fin])
    if not view.ack[own_fin] or fin_ack == UNKNOWN:
        return np.zeros(len(view), dtype=bool)
    before = np.arange(len(view)) < own_fin
    return np.asarray(peer & before & (view.seg_len > 0) & (view.seq_end > fin_ack))


def _own_last_before(view: ConnView, own_fin: int) -> int | None:
    """Row of the FIN sender's own last segment before its FIN (no RST, no duplicate)."""
    own = (view.from_client[:own_fin] == view.from_client[own_fin]) & ~view.rst[:own_fin]
    rows = np.flatnonzero(own & ~view.is_dup[:own_fin])
    return int(rows[-1]) if len(rows) else None


def _later_resets(view: ConnView, rst_rows: np.ndarray, ending_row: int | None) -> np.ndarray:
    """RSTs after the ending one that answer something said after it (not the ending burst)."""
    if ending_row is None:
        return rst_rows[:0]
    after = ending_row + 1
    said = ~view.rst[after:]  # rows after the ending RST that are no RST
    if not said.any():
        return rst_rows[:0]
    later: np.ndarray = rst_rows[rst_rows > after + int(said.argmax())]
    return later


def _late_after_own_fin(
    view: ConnView, i: int, own_fin: int | None
) -> tuple[int | None, float | None, bool, float | None]:
    """The peer's first segment with data or FIN after the RST sender's FIN and before the RST,
    or else its first data in flight to it when it sent the FIN (``_in_flight_at_fin``): its
    row, the time from that FIN to it (None for data captured before the FIN), whether it
    leaves the FIN unacknowledged (sent before the FIN arrived: they crossed), and the quiet
    time before the FIN, the crossing data aside."""
    if own_fin is None or own_fin > i:
        return None, None, False, None
    idx = np.arange(len(view))
    peer = (view.from_client != view.from_client[i]) & ~view.rst & ~view.is_dup
    in_flight = _in_flight_at_fin(view, own_fin)
    late = np.flatnonzero(peer & (idx > own_fin) & (idx < i) & ((view.seg_len > 0) | view.fin))
    if not len(late):  # else data in flight to it when it sent its FIN (``_in_flight_at_fin``)
        late = np.flatnonzero(in_flight)
    earlier = np.flatnonzero((idx < own_fin) & ~in_flight)  # the crossing data aside
    idle = view.seconds(int(earlier[-1]), own_fin) if len(earlier) else None
    if not len(late):
        return None, None, False, idle
    row = int(late[0])
    own_rst = view.rst & (view.from_client == view.from_client[i]) & (idx > own_fin) & (idx < row)
    if np.any(own_rst):
        return None, None, False, idle  # its own RST had ended it before the late segment
    crossed = not bool(view.ack[row]) or int(view.rel_ack[row]) < int(view.seq_end[own_fin])
    # Captured before the FIN (in flight to its sender): no time from the FIN to it here.
    return row, view.seconds(own_fin, row) if row > own_fin else None, crossed, idle


def _then_fin(view: ConnView, row: int) -> bool:
    """Row ``row`` carries data and its sender's FIN is in it or is that sender's next
    segment, at the sequence number right after those bytes. A socket that a RST reached
    sends nothing more, so a FIN after the data left before any answer to it arrived."""
    if int(view.seg_len[row]) == 0:
        return False
    if view.fin[row]:
        return True
    mine = np.flatnonzero(view.from_client == view.from_client[row])
    later = mine[mine > row]
    if not len(later):
        return False
    nxt = int(later[0])
    return bool(view.fin[nxt]) and int(view.rel_seq[nxt]) == int(view.seq_end[row])


def _waited(
    view: ConnView, client_fin: int | None, server_fin: int | None, ending_rst: int | None
) -> Waited | None:
    """The client's last data acknowledged, nothing sent back, then the client's FIN or RST
    (the first thing that ended the connection) ``WAIT_MIN_S`` or more later. A request: the
    client's data since the server last sent data, when that server turn answered the client
    (``_answers_server``), or, from a server that never sent any, one burst of client data
    (within ``WAIT_MIN_S``)."""
    ends = [r for r in (client_fin, server_fin, ending_rst) if r is not None]
    if not ends:
        return None
    end = min(ends)
    if not view.from_client[end] or view.seg_len[end] > 0:
        return None  # the server ended it, or the client's last words came with its FIN
    return _owed(view, end, WAIT_MIN_S, by_rst=end == ending_rst)


def _unanswered(
    view: ConnView, client_fin: int | None, server_fin: int | None, ending_rst: int | None
) -> Waited | None:
    """The server closed first (its FIN, without data, before any FIN or ending RST of the
    client's) while the client's last data was acknowledged and unanswered: ``_owed`` with
    the server's FIN as the end, however soon after the request (explain weighs the time)."""
    if server_fin is None or view.seg_len[server_fin] > 0:
        return None  # no FIN of the server's, or its last words came with it
    if any(r is not None and r < server_fin for r in (client_fin, ending_rst)):
        return None  # the client closed (or a RST ended it) first
    own = np.flatnonzero(~view.from_client[:server_fin] & ~view.rst[:server_fin])
    if not len(own) or int(view.rel_seq[server_fin]) > int(view.seq_end[own].max()):
        return None  # the FIN follows bytes of the server's the capture does not hold
    return _owed(view, server_fin, 0.0, by_rst=False)


def _owed(view: ConnView, end: int, min_s: float, *, by_rst: bool) -> Waited | None:
    """The client's last data before row ``end`` (a request: see ``_waited``), acknowledged
    by the server, with no data of the server's after it and ``min_s`` or more before
    ``end``."""
    head = slice(0, end)  # the rows before the end
    data = (view.seg_len[head] > 0) & ~view.probe_shape[head] & ~view.is_dup[head]
    data &= ~view.rst[head]
    client = view.from_client[head]
    rows = np.flatnonzero(data)
    if not len(rows) or not view.from_client[rows[-1]]:
        return None  # the server spoke last (or nobody did): nobody waited for it
    request = int(rows[-1])
    waited = view.seconds(request, end)
    if waited < min_s:
        return None
    if _answers_server(view, data, request):
        return None  # its last words answered the server's: no answer was owed to them
    server_spoke = np.any(data & ~client)
    first = int(np.flatnonzero(data & client)[0])
    if not server_spoke and view.seconds(first, request) >= WAIT_MIN_S:
        # A server that never sent data, to a client that sent on and on: a one-way stream
        # (pushed records, telemetry), not a request waiting for its answer.
        return None
    between = slice(request + 1, end)
    server_ack = ~view.from_client[between] & view.ack[between]
    server_ack &= view.rel_ack[between] >= view.seq_end[request]
    acks = np.flatnonzero(server_ack)
    if not len(acks):
        return None  # not acknowledged: a loss or a dead server, not a silent application
    return Waited(
        request_frame=int(view.frame[request]),
        ack_frame=int(view.frame[request + 1 + acks[0]]),
        end_frame=int(view.frame[end]),
        waited_s=waited,
        by_rst=by_rst,
    )


def _answers_server(view: ConnView, data: np.ndarray, request: int) -> bool:
    """The client's last turn (the data ending at row ``request``) answers the server's turn
    before it rather than asks something: the server's turn was unprompted (it began with no
    client data in the ``WAIT_MIN_S`` before it: a server that speaks first, or a request of
    its own after a quiet spell, such as a SIP BYE or a push) and the client's turn followed
    it within ``WAIT_MIN_S`` (a reaction to it). A message that answers the peer's is owed
    nothing, and the bytes of an unrecognised protocol cannot tell such an answer from a new
    request: nobody can be said to have given up waiting. A server turn that followed the
    client's data at once was an answer, and the client's next turn a new request; a client
    turn long after the server's is the client speaking on its own. (``data``: per row of the
    connection's first rows, its data.)"""
    client = view.from_client[: len(data)]
    server_rows = np.flatnonzero(data[:request] & ~client[:request])
    if not len(server_rows):
        return False  # the server never spoke: the client's data opened the exchange
    client_rows = np.flatnonzero(data & client)
    turn_start = int(client_rows[client_rows > server_rows[-1]][0])  # the client's last turn
    if view.seconds(int(server_rows[-1]), turn_start) >= WAIT_MIN_S:
        return False  # not a reaction to the server's words
    before_server = client_rows[client_rows < server_rows[-1]]
    if not len(before_server):
        return True  # the server spoke first (a greeting) and the client answered it
    prompt = int(before_server[-1])  # the client's data just before the server's last turn
    server_start = int(server_rows[server_rows > prompt][0])
    return view.seconds(prompt, server_start) >= WAIT_MIN_S


@dataclass(frozen=True, slots=True)
class _OwnHistory:
    """Per row, what its sender had sent before it (its non-RST, non-duplicate packets): the
    IP ID test's inputs, so each RST is judged in O(1) however many a connection holds."""

    fin_before: np.ndarray  # bool: the sender had sent a FIN
    rst_before: np.ndarray  # bool: the sender had sent a RST (its socket was gone after it)
    last_id_row: np.ndarray  # int: its latest non-SYN packet (-1: none)
    id_rows: np.ndarray  # int: how many non-SYN packets it had sent
    any_id: np.ndarray  # bool: one of them carried a non-zero IP ID
    jumpy: np.ndarray  # bool: two consecutive ones stepped by more than IP_ID_STEP


@dataclass(frozen=True, slots=True)
class _RstSenders:
    """What the RST tests (``_injected``) read of each side, column-wise over the batch's
    connections with a RST (``_rst_senders``)."""

    per_row: _OwnHistory  # per row of those connections, end to end
    offset: list[int]  # per connection of the batch: its first row there (-1: no RST)
    #: Per (connection of the batch, side): the range of the TTLs / hop limits of its non-RST
    #: packets that are not capture duplicates, and how many there are (index 2 k + client).
    ttl_low: list[int]
    ttl_high: list[int]
    ttl_count: list[int]
    #: Per (connection, side), the same of its data packets only, and the TTLs of its
    #: packets without data (``_TtlSplit``): group g's are ``bare_ttl[bare_at[g]:bare_at[g+1]]``.
    data_low: list[int]
    data_high: list[int]
    data_count: list[int]
    bare_ttl: list[int]
    bare_at: list[int]

    def ttl_split(self, k: int, side: bool) -> _TtlSplit:
        """The ``_TtlSplit`` of connection ``k``'s ``side`` (True = client)."""
        g = 2 * k + side
        if not self.data_count[g]:
            return _TtlSplit(None, frozenset())
        bare = frozenset(self.bare_ttl[self.bare_at[g] : self.bare_at[g + 1]])
        return _TtlSplit((self.data_low[g], self.data_high[g]), bare)

    def usual_ttl(self, k: int) -> dict[bool, tuple[int, int]]:
        """Per side (True = client) of connection ``k``: the range (lowest, highest) of its
        TTLs, when it sent 2+ packets that are neither RSTs nor capture duplicates."""
        return {
            side: (self.ttl_low[2 * k + side], self.ttl_high[2 * k + side])
            for side in (True, False)
            if self.ttl_count[2 * k + side] >= 2
        }

    def history(self, k: int, rows: int) -> _OwnHistory:
        """``per_row`` of connection ``k`` (``rows`` rows), rows relative to it."""
        part = slice(self.offset[k], self.offset[k] + rows)
        h = self.per_row
        return _OwnHistory(
            h.fin_before[part],
            h.rst_before[part],
            h.last_id_row[part],
            h.id_rows[part],
            h.any_id[part],
            h.jumpy[part],
        )


@dataclass(frozen=True, slots=True)
class _WithRst:
    """The batch's connections with a RST (capture duplicates aside): their rows end to end,
    what the RST passes (``_rst_senders``, ``_before_resets``) read column-wise."""

    rows: np.ndarray  # rows of the batch, connection after connection, frame order inside
    conn: np.ndarray  # per entry of ``rows``: its connection's position in the batch
    first: np.ndarray  # per entry of ``rows``: where its connection's entries begin
    offset: list[int]  # per connection of the batch: where its entries begin (-1: no RST)


def _with_rst(batch: Batch) -> _WithRst:
    r = batch.rows
    with_rst = batch.count(r.rst & ~r.is_dup) > 0
    sizes = np.diff(batch.starts)[with_rst]
    firsts = np.cumsum(sizes) - sizes
    offset = np.full(len(batch.starts) - 1, -1, dtype=np.int64)
    offset[with_rst] = firsts
    return _WithRst(
        rows=np.flatnonzero(with_rst[batch.conn_index]),
        conn=np.repeat(np.flatnonzero(with_rst), sizes),
        first=np.repeat(firsts, sizes),
        offset=offset.tolist(),
    )


@dataclass(frozen=True, slots=True)
class _Before:
    """Per row of one connection with a RST, what the rows before it hold (``_describe``
    reads them at the ending RST, ``_ending_reset_row`` at each RST it walks back over): O(1)
    per RST however long the connection."""

    established: np.ndarray  # bool: an earlier row (no SYN) acknowledged a SYN (ACK >= 1)
    said: np.ndarray  # int: the latest earlier row that is no RST (-1: none)
    #: int: the latest earlier row with data, SYN or FIN that is neither a RST nor a capture
    #: copy (-1: none): what ``_ending_reset_row`` counts as said between two RSTs.
    substantive: np.ndarray
    #: Per side (index 0: the server's, 1: the client's): its latest earlier row with data.
    data: tuple[np.ndarray, np.ndarray]
    data_ns: np.ndarray  # int: the latest time of an earlier row with data (``_NO_TIME``: none)
    no_syn: bool  # the connection has no SYN at all (the capture began inside it)
    #: Per side (index 0: the server's, 1: the client's): its first row that is neither SYN
    #: nor RST (``NO_ROW``: none).
    first_plain: tuple[int, int]


#: ``_Before.data_ns`` of a row with no data before it: below every time.
_NO_TIME = np.iinfo(np.int64).min


@dataclass(frozen=True, slots=True)
class _BeforeResets:
    """``_Before`` of every connection of a batch with a RST, column-wise: the per-row
    fields for every entry of ``_WithRst.rows`` end to end (rows relative to their
    connection), ``no_syn`` per connection of the batch."""

    established: np.ndarray
    said: np.ndarray
    substantive: np.ndarray
    data: tuple[np.ndarray, np.ndarray]
    data_ns: np.ndarray
    offset: list[int]  # ``_WithRst.offset``
    no_syn: list[bool]
    first_plain: tuple[list[int], list[int]]  # per side, per connection of the batch

    def at(self, k: int, rows: int) -> _Before:
        """Connection ``k``'s (``rows`` rows)."""
        part = slice(self.offset[k], self.offset[k] + rows)
        return _Before(
            self.established[part],
            self.said[part],
            self.substantive[part],
            (self.data[0][part], self.data[1][part]),
            self.data_ns[part],
            self.no_syn[k],
            (self.first_plain[0][k], self.first_plain[1][k]),
        )


def _before_resets(batch: Batch) -> _BeforeResets:
    r = batch.rows
    w = batch.of(_with_rst)
    rows, n = w.rows, len(w.rows)
    at = np.arange(n)
    client = r.from_client[rows]

    def latest_before(mask: np.ndarray) -> np.ndarray:
        """Per entry: the latest earlier row of its connection where ``mask`` holds (relative
        to the connection, -1: none)."""
        found = nearest_rows(w.conn, client, mask, mask, later=False)  # either side's
        return np.where(found >= 0, found - w.first, -1)

    data = r.seg_len[rows] > 0
    times = np.where(data, r.time_ns[rows], _NO_TIME)
    return _BeforeResets(
        established=latest_before(~r.syn[rows] & r.ack[rows] & (r.rel_ack[rows] >= 1)) >= 0,
        said=latest_before(~r.rst[rows]),
        substantive=latest_before(
            ~r.rst[rows] & ~r.is_dup[rows] & (data | r.syn[rows] | r.fin[rows])
        ),
        data=(latest_before(data & ~client), latest_before(data & client)),
        data_ns=running_max_before(times, w.conn, at, _NO_TIME),
        offset=w.offset,
        no_syn=[not syn for syn in batch.any(r.syn)],
        first_plain=(
            batch.first(~r.syn & ~r.rst & ~r.from_client).tolist(),
            batch.first(~r.syn & ~r.rst & r.from_client).tolist(),
        ),
    )


def _rst_senders(batch: Batch) -> _RstSenders:
    """``_RstSenders`` of a batch: each (connection, side)'s rows in frame order, one group
    after another, then running counts within each group."""
    r = batch.rows
    n_conns = len(batch.starts) - 1
    w = batch.of(_with_rst)
    rows, conn, n = w.rows, w.conn, len(w.rows)
    key = conn * 2 + r.from_client[rows]
    order = np.argsort(key, kind="stable")  # grouped by (connection, side), frame order within
    rows_in_order = rows[order]
    group_first = np.ones(n, dtype=bool)
    group_first[1:] = key[order][1:] != key[order][:-1]
    at = np.arange(n)
    first = np.maximum.accumulate(np.where(group_first, at, 0))  # its group's first position

    def earlier(mask: np.ndarray) -> np.ndarray:
        """Per position: how many earlier positions of its group satisfy ``mask``."""
        before = np.cumsum(mask) - mask
        return np.asarray(before - before[first])

    def unsorted(values: np.ndarray) -> np.ndarray:
        out = np.empty_like(values)
        out[order] = values
        return out

    rst = r.rst[rows_in_order]
    dup = r.is_dup[rows_in_order]
    own = ~rst & ~dup
    # The handshake's SYN / SYN+ACK come from the listener (Linux: IP ID 0 or another
    # counter): only the later packets show the connection's own counter.
    counted = own & ~r.syn[rows_in_order]
    ids = r.ip_id[rows_in_order].astype(np.int64)
    latest = np.maximum.accumulate(np.where(counted, at, -1))
    previous = np.concatenate(([-1], latest[:-1]))  # the group's latest counted before it
    previous = np.where(previous >= first, previous, -1)
    relative = rows_in_order - batch.starts[conn[order]]
    steps = counted & (previous >= 0)
    steps &= ((ids - ids[np.maximum(previous, 0)]) % 65536) > IP_ID_STEP
    history = _OwnHistory(
        fin_before=unsorted(earlier(own & r.fin[rows_in_order]) > 0),
        rst_before=unsorted(earlier(rst & ~dup) > 0),
        last_id_row=unsorted(np.where(previous >= 0, relative[np.maximum(previous, 0)], -1)),
        id_rows=unsorted(earlier(counted)),
        any_id=unsorted(earlier(counted & (ids != 0)) > 0),
        jumpy=unsorted(earlier(steps) > 0),
    )
    # Each group's TTL range over its own packets (not RSTs, not capture duplicates), and
    # (``_TtlSplit``) over its data packets, and the TTLs of those without data.
    group, ttl = key[order], r.ttl[rows_in_order].astype(np.int64)
    data = r.seg_len[rows_in_order] > 0
    n_groups = 2 * n_conns
    low, high, ttl_count = _ttl_ranges(group[own], ttl[own], n_groups)
    data_low, data_high, data_count = _ttl_ranges(group[own & data], ttl[own & data], n_groups)
    bare_group, bare_ttl = _distinct_pairs(group[own & ~data], ttl[own & ~data])
    bare_at = np.searchsorted(bare_group, np.arange(n_groups + 1))
    return _RstSenders(
        history,
        w.offset,
        low,
        high,
        ttl_count,
        data_low,
        data_high,
        data_count,
        bare_ttl.tolist(),
        bare_at.tolist(),
    )


def _ttl_ranges(
    group: np.ndarray, ttl: np.ndarray, n_groups: int
) -> tuple[list[int], list[int], list[int]]:
    """Per group (0 to ``n_groups`` - 1): the lowest and highest of its ``ttl`` entries and
    how many there are (0, 0, 0: none); ``group`` sorted."""
    groups, begin, count = np.unique(group, return_index=True, return_counts=True)
    low = np.zeros(n_groups, dtype=np.int64)
    high = np.zeros(n_groups, dtype=np.int64)
    counts = np.zeros(n_groups, dtype=np.int64)
    if len(group):
        low[groups] = np.minimum.reduceat(ttl, begin)
        high[groups] = np.maximum.reduceat(ttl, begin)
        counts[groups] = count
    return low.tolist(), high.tolist(), counts.tolist()


def _distinct_pairs(group: np.ndarray, ttl: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct (group, ttl) pairs, sorted by group then ttl."""
    order = np.lexsort((ttl, group))
    group, ttl = group[order], ttl[order]
    new = np.ones(len(group), dtype=bool)
    new[1:] = (group[1:] != group[:-1]) | (ttl[1:] != ttl[:-1])
    return group[new], ttl[new]


def _injected(
    view: ConnView,
    i: int,
    usual: dict[bool, tuple[int, int]],
    own: _OwnHistory,
    split: dict[bool, _TtlSplit],
) -> str:
    """Why RST row ``i`` looks like it came from another box, or "" if it does not.

    TTL: a host starts every packet of a connection, its RSTs included, with the same TTL
    (Linux ip_default_ttl / the socket's IP_TTL; the kernel's stateless RSTs too), and the
    path subtracts the same hop count from all of them: on a stable path the RST's TTL equals
    the sender's other packets' TTL exactly. A box nearer the capture point (a firewall's
    ``reject with tcp reset``, a load balancer, an injector) starts its own TTL and crosses
    fewer hops. A side whose TTLs already vary (route change, ECMP, both copies of forwarded
    packets captured on a router's ``any``) only counts outside its range +- TTL_SLACK.

    IP ID (IPv4): only when the sender's IDs after its handshake are a continuous
    per-connection counter (every step between its consecutive packets small), the RST came
    from the connection's own socket (RST+ACK, tcp_send_active_reset) while it was open, and
    it carries a non-zero ID far from the previous one. A RST without ACK, or sent after the
    sender's own FIN or RST, is the stack's stateless reply (tcp_v4_send_reset, from the
    namespace's control socket: ID 0 or another generator's, never the connection's counter);
    global counters (Windows) jump anyway, so a zero or an already jumpy sequence says
    nothing, nor does a jump after more than IP_ID_WINDOW_S of the sender's silence (a counter
    shared with its other traffic moved on meanwhile).
    """
    side = bool(view.from_client[i])
    if side not in usual:
        return ""
    lo, hi = usual[side]
    ttl = int(view.ttl[i])
    slack = 0 if hi - lo <= TTL_SLACK else TTL_SLACK
    if ttl < lo - slack or ttl > hi + slack:
        # The same RST captured again further on (``-i any`` on a router: as it came in, then
        # as it was forwarded, one hop lower): the sender's other packets of this 4-tuple may
        # have been captured only as forwarded copies (their incoming copies carry the other
        # side of a NAT). A copy with the sender's own TTL is the sender's RST.
        ttl = next((t for t in _copy_ttls(view, i) if lo - slack <= t <= hi + slack), ttl)
    if ttl < lo - slack or ttl > hi + slack:
        usual_text = str(lo) if lo == hi else f"{lo}-{hi}"
        return f"{TTL_WHY}{ttl}, the sender's other packets have {usual_text}"
    proxied = split[side].boxed(ttl)
    if proxied:
        return proxied
    if own.fin_before[i] or own.rst_before[i] or not view.ack[i]:
        # A RST without ACK, or after the sender's own FIN or RST, comes from the stack's
        # stateless path (tcp_v4_send_reset on the per-namespace control socket: no socket
        # for the segment, or a closed one), which never continues the connection's IP ID
        # counter: a jump there is normal.
        return ""
    if own.id_rows[i] < 2 or not own.any_id[i] or view.ip_id[i] == 0:
        return ""
    last = int(own.last_id_row[i])
    if view.seconds(last, i) > IP_ID_WINDOW_S:
        return ""  # after a silence a shared counter has moved on: a jump proves nothing
    if own.jumpy[i]:
        return ""  # not a per-connection counter: a jump proves nothing
    previous = int(view.ip_id[last])
    step = (int(view.ip_id[i]) - previous) % 65536
    if IP_ID_SLACK < step < 65536 - IP_ID_SLACK:
        return f"IP ID {int(view.ip_id[i])} far from the sender's previous {previous}"
    return ""


def _copy_ttls(view: ConnView, i: int) -> list[int]:
    """The TTLs of the later copies (``facts.is_dup``) of RST row ``i``: the same RST (same
    side, flags and sequence number) captured again within ``COPY_WINDOW_NS``, e.g. on the
    way in and on the way out of a router captured with ``-i any``."""
    found: list[int] = []
    end = min(len(view), i + 1 + COPY_LOOK_AHEAD_ROWS)
    for j in range(i + 1, end):
        if int(view.time_ns[j]) - int(view.time_ns[i]) > COPY_WINDOW_NS:
            break
        if (
            view.is_dup[j]
            and view.flags[j] == view.flags[i]
            and view.from_client[j] == view.from_client[i]
            and view.rel_seq[j] == view.rel_seq[i]
        ):
            found.append(int(view.ttl[j]))
    return found


def _another_box(
    view: ConnView, i: int, usual: dict[bool, tuple[int, int]], split: dict[bool, _TtlSplit]
) -> bool:
    """RST row ``i``'s TTL cannot be its claimed sender's after a route change: a route that
    changes during a silence adds or takes a hop or two, never moves a host to another
    initial TTL, and a box between the host and the capture point crosses fewer hops (a
    higher TTL), so: another initial TTL, more than TTL_SLACK above the host's own, or the
    box that answered the handshake in its name (``_TtlSplit``)."""
    side = bool(view.from_client[i])
    hi = usual[side][1]
    ttl = int(view.ttl[i])
    return (
        initial_ttl(ttl) != initial_ttl(hi) or ttl > hi + TTL_SLACK or bool(split[side].boxed(ttl))
    )


@dataclass(frozen=True, slots=True)
class _TtlSplit:
    """One side's TTLs, data apart from packets without data (RSTs and capture copies left
    out), read column-wise for the batch's connections with a RST (``_rst_senders``), not
    once per RST: a connection of many RSTs would cost the square of its length. A host starts all its packets with one TTL, so a side whose
    packets without data (its handshake) carry a TTL none of its data packets has had
    another box answer part of the connection in its name: a SYN proxy, a firewall or load
    balancer that completes the handshake itself and then splices the flow. A RST with that
    box's TTL, unlike every data packet's, is the box's (an idle timeout, a policy), not the
    host's."""

    data: tuple[int, int] | None  # lowest and highest TTL of the side's data packets
    bare: frozenset[int]  # the TTLs of its packets without data (None data: empty)

    def boxed(self, ttl: int) -> str:
        """The hint for a RST with ``ttl`` from this side, "" if its TTL says nothing."""
        if self.data is None or ttl not in self.bare:
            return ""
        low, high = self.data
        if low - TTL_SLACK <= ttl <= high + TTL_SLACK:
            return ""
        data_ttl = str(low) if low == high else f"{low}-{high}"
        return (
            f"{TTL_WHY}{ttl}, the sender's data packets have {data_ttl}; {ttl} is on its "
            "packets without data only: a box answered the handshake in its name (a SYN "
            "proxy, a firewall or load balancer that splices the flow)"
        )


def screen(facts: Facts) -> np.ndarray:
    """Connections with a RST, those whose client closed first after waiting for an answer
    (``client_waited``), and those with a side without a captured FIN whose peer
    acknowledged past that side's captured bytes (``_fin_acked_unseen``); other FIN-only
    closes are judged from columnar aggregates."""
    waited, unanswered = facts.once(_every_first_fin_waits)
    out: np.ndarray = waited | unanswered
    out[facts.conn_index[facts.rst]] = True
    out[_fin_acked_unseen(facts)] = True
    return out


def _fin_acked_unseen(facts: Facts) -> np.ndarray:
    """Positions of the connections ``_unseen_fin`` may find a lost FIN or a lost end in: a
    side without a captured FIN whose peer's highest ACK is past that side's captured bytes
    (asked of the rows of the connections missing a FIN side)."""
    fins = np.flatnonzero(facts.fin & ~facts.is_dup)
    n = len(facts.conn_ids)
    sides = np.zeros((n, 2), dtype=bool)
    sides[facts.conn_index[fins], facts.from_client[fins].astype(np.int64)] = True
    which = np.flatnonzero(sides.sum(axis=1) < 2)
    if not len(which):
        return which
    rows = rows_of_connections(facts.starts, which)
    rows = rows[~facts.rst[rows]]
    at = np.searchsorted(which, facts.conn_index[rows])
    client = facts.from_client[rows].astype(np.int64)
    end = np.full((len(which), 2), UNKNOWN, dtype=np.int64)
    mine = rows[~facts.is_dup[rows] & ((facts.seg_len[rows] > 0) | facts.syn[rows])]
    at_mine = np.searchsorted(which, facts.conn_index[mine])
    np.maximum.at(end, (at_mine, facts.from_client[mine].astype(np.int64)), facts.seq_end[mine])
    acking = facts.ack[rows] & (facts.rel_ack[rows] != UNKNOWN)
    acked = np.full((len(which), 2), UNKNOWN, dtype=np.int64)
    np.maximum.at(acked, (at[acking], 1 - client[acking]), facts.rel_ack[rows][acking])
    # ``_reached``: a side's own segments without data carry its snd.nxt.
    bare = ~facts.is_dup[rows] & ~facts.syn[rows] & ~facts.fin[rows] & (facts.seg_len[rows] == 0)
    bare &= facts.rel_seq[rows] != UNKNOWN
    np.maximum.at(acked, (at[bare], client[bare]), facts.rel_seq[rows][bare])
    missing = ~sides[which] & (end != UNKNOWN) & (acked > end)
    found: np.ndarray = which[missing.any(axis=1)]
    return found


def client_waited(facts: Facts) -> np.ndarray:
    """Per connection: the client's FIN came first, without data, ``WAIT_MIN_S`` or more after
    the client's own last data (nothing from the server carried data in between): the columnar
    form of ``_waited`` for FIN-ended connections (the server's ACK is checked there)."""
    waited, _unanswered = facts.once(_every_first_fin_waits)
    return waited


def _every_first_fin_waits(facts: Facts) -> tuple[np.ndarray, np.ndarray]:
    """``_first_fin_waits`` of every connection, made once per ``Facts`` (the screen and the
    batch pass ask for it)."""
    return _first_fin_waits(facts, facts.starts, facts.conn_index)


def _first_fin_waits(
    rows: SegmentRows,
    starts: np.ndarray,
    conn_index: np.ndarray,
    fins: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per connection of the rows starting at ``starts``: ``client_waited``, and the server's
    FIN came first, without data, after the client's data (the screen of ``_unanswered``,
    which checks the server's ACK). ``fins``: each connection's first FIN row per side
    (``_fins_and_closer``), when known. One pass over the rows for both."""
    n = len(starts) - 1
    waited, unanswered = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    if not len(rows):
        return waited, unanswered
    client_fin, server_fin = fins or _fins_and_closer(rows, conn_index, n)[:2]
    idx = np.arange(len(rows))
    data = (rows.seg_len > 0) & ~rows.probe_shape & ~rows.is_dup & ((rows.flags & RST) == 0)
    last_data = np.maximum.accumulate(np.where(data, idx, -1))
    for mine, other, out in (
        (client_fin, server_fin, waited),
        (server_fin, client_fin, unanswered),
    ):
        conns = np.flatnonzero((mine >= 0) & ((other < 0) | (mine < other)))
        fin_rows = mine[conns]
        before = last_data[np.maximum(fin_rows - 1, 0)]
        own = (before >= starts[conns]) & (fin_rows > starts[conns])
        request = np.where(own, before, 0)
        ok = own & rows.from_client[request] & (rows.seg_len[fin_rows] == 0)
        if out is waited:  # the client waited that long for an answer before its FIN
            ok &= (rows.time_ns[fin_rows] - rows.time_ns[request]) >= int(WAIT_MIN_S * 1e9)
        out[conns] = ok
    return waited, unanswered


def rows(facts: Facts) -> EventRows:
    any_fin = facts.fin & ~facts.is_dup
    fin = (any_fin & ~facts.is_retrans) | first_rows_by_direction(facts, any_fin)
    rst = facts.rst & ~facts.is_dup
    rst_ack = facts.ack[rst]  # the note of each RST row only (a text per segment is 70 MB)
    return EventRows.joined(
        [
            row_events(facts, fin, EventKind.FIN, "FIN"),
            row_events(facts, rst, EventKind.RST, np.where(rst_ack, "RST+ACK", "RST")),
        ]
    )


DETECTOR: Detector[Close] = Detector("close", EMITS, detect, screen=screen, rows=rows)

__all__ = [
    "CLOSERS",
    "DETECTOR",
    "Close",
    "Reset",
    "Waited",
    "client_waited",
    "closer_code",
    "counted_fins",
    "fins_crossed",
    "first_fins_and_closer",
]
