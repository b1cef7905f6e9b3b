"""delays: what each connection lost to retries, stalls and silence (slow, not only dead).

A stage after explain: it reads what the earlier stages already know (the per-segment facts,
each detector's typed record, the events, the verdict counts) and measures time; it never
re-derives what a detector decided (which segment was an RTO retransmission, which SYN a
retry, when a window closed). Most connections are healthy: their measures are computed
columnar for the whole capture; per-connection Python runs only for the connections a
detector visited, to turn their retries, RTO series and zero windows into stalls.

Every time is as seen AT THE CAPTURE POINT. At the client, ``connect_s`` is what the
application waited in ``connect()`` (give or take the last one-way delay) and ``response_s``
includes a network round trip; at the server, ``response_s`` is the server's own think time
and ``connect_s`` ends when the handshake ACK arrived. A capture in the middle sees both
halves shifted by its own position on the path.

Per connection (``Delays``):

- ``connect_s``: first SYN -> the client's ACK of the SYN+ACK (handshake detector's
  ``handshake_ack`` event). ``syn_retries``/``synack_retries`` and their gaps come from the
  handshake detector's ``RetrySeries`` (Linux: SYN retries double from 1 s, or are linear
  for the first ``tcp_syn_linear_timeouts`` on 6.5+; SYN+ACK retries double from 1 s).
- ``handshake_rtt_ms``: SYN -> SYN+ACK -> ACK when neither was retransmitted (Karn);
  ``data_rtt_ms``: the retransmit detector's smallest data -> ACK time (measured only in
  connections with loss, Karn's rule again).
- ``response_s``: the first request/response turn: the end of the client's first run of data
  (the last client data segment before the server's first data after it) -> the server's
  first data byte. ``longest_silence_s``/``longest_silence_side``: the longest such turn of a
  side that owed an answer (the server after each client request; the client after a server
  greeting, when the server spoke first). In a capture of one direction only the turns come
  from ``one_way_turns.py`` instead: lower bounds of the server's time from the captured
  side's ACKs (``response_from`` says which form; the first turn judged, ``_judged_turns``).
- Stalls (``Stall``), each with a cause: SYN retries (first SYN -> last retry), SYN+ACK
  retries, RTO episodes (the first send of the data that timed out -> the peer's ACK that
  covered it; not recovered when no ACK came), zero windows (the advertisement that closed the
  window -> the one that reopened it, or the capture end), full windows (window_full.py: the
  segment that filled a non-zero window -> the data its opening allowed; loss and zero windows
  win where they overlap, so no second counts twice), Nagle waits (nagle.py: a small write
  held until the peer's delayed ACK; loss and windows win over them too). Fast-recovery episodes (fast
  retransmits, tail loss probes) are counted apart: they cost about a round trip, not a
  timeout, and are not stalls. ``stalled_s`` is the union of the stalls' spans (overlaps are
  counted once) and ``biggest`` the longest single stall.
- ``responses``, ``response_max_s``, ``response_median_s``: every turn where the server
  answered client data (``Turns``; ``DelaysTable.turns`` keeps each turn's time for the
  cross-connection findings). Turns are made of new data: a retransmitted copy ends a request
  but starts no run and answers nothing (``_turns``), so a request resent after its lost
  answer and the answer's resent copy are no second turn with a slow answer.
- ``window_full_s``, ``window_full_episodes``: the full-window stalls' time and number; None
  when the capture cannot tell (no handshake: the window scale is unknown).
- ``nagle_s``, ``nagle_episodes``: small writes Nagle held until the peer's delayed ACK
  (nagle.py), time and number, after loss and windows took their share; None when the
  capture cannot tell (no handshake round trip measured, or waits of that shape and none
  proven to follow the ACK).
- ``app_pause_s``, ``app_pause_side``: the longest pause of a side's application in the
  middle of what it was sending, with everything acknowledged and the window open
  (app_pause.py); None when the capture cannot tell (no handshake round trip measured).
- ``idle_restarts``, ``idle_restart_s``: answers a sender slow-started again after an idle
  longer than its RTO (idle_restart.py: ``tcp_slow_start_after_idle``), and the round trips
  that cost in all, a lower bound; None when the capture cannot tell (no handshake round
  trip, or one under 2 ms).
- ``slow``: tags (``SlowTag``) judged from the measures against ``SlowThresholds``;
  ``slow_response`` only where the opening was captured and the answer it judges, less the
  handshake's round trip, still took the threshold (``_slow_answer``). Which answers it
  judges (``response_judged``, ``_judged_turns``): the first turn on every connection; every
  turn (their slowest, ``response_max_turn`` says which) only where the bytes show requests
  that each get an answer: HTTP/1.x in clear text whose server did not switch protocols. A
  server that speaks unprompted (BGP keepalives, SSH, IRC, WebSocket or gRPC streams, pub/sub)
  sends data after client data without answering it; in TLS or an unrecognised protocol the
  capture cannot tell the two apart, so its later turns are measured, never called slow
  (``response_unjudged`` marks where one would have been).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd

from pcapline import points
from pcapline.app_pause import Pauses, app_pauses
from pcapline.facts import (
    UNKNOWN,
    NewData,
    first_at_least,
    holes_before,
    next_peer_ack_cut,
    peer_data_end,
    rows_per_connection,
)
from pcapline.idle_restart import Restart, idle_restarts, restart_of
from pcapline.loopback import on_one_host
from pcapline.model import (
    EventKind,
    Fate,
    ResponseFrom,
    ResponseJudged,
    Side,
    SlowTag,
    SlowThresholds,
    StallCause,
    failing,
)
from pcapline.nagle import nagle_waits
from pcapline.one_way_turns import FORM_OF_CODE, NO_FORM, REQUEST, OneWayTurns
from pcapline.timers import DELACK_CEILING_S
from pcapline.transfer import TRANSFER_DOC_KEYS, Transfer, transfer_doc, transfer_of, transfers
from pcapline.window_full import clipped, window_full

if TYPE_CHECKING:
    from pcapline.app import App
    from pcapline.detect import ConnDetections
    from pcapline.detect.handshake import RetrySeries
    from pcapline.detect.retransmit import RtoSeries
    from pcapline.facts import Facts


@dataclass(frozen=True, slots=True)
class Stall:
    """One span of time a connection lost, at the capture point."""

    cause: StallCause
    side: Side  # who waited to send (the SYN/data sender; for a zero window, the blocked sender)
    start_ns: int
    end_ns: int
    recovered: bool  # the wait ended (answered, ACKed, window reopened) within the capture
    frame: int  # the frame the stall began at (first SYN, first copy of the data, zero window)

    @property
    def seconds(self) -> float:
        # A stall that "ends" before it starts crossed a timestamp step back: it shows no
        # lost time (never a negative one).
        return max(self.end_ns - self.start_ns, 0) / 1e9

    def as_dict(self) -> dict[str, object]:
        return {
            "cause": _NAME[self.cause],
            "side": _NAME[self.side],
            "start": self.start_ns / 1e9,
            "seconds": round(self.seconds, 6),
            "recovered": self.recovered,
            "frame": self.frame,
        }


@dataclass(frozen=True, slots=True)
class Waits:
    """Per connection (``facts.conn_ids`` order): the episodes of one kind of wait a columnar
    pass found (window_full.py, nagle.py)."""

    unknown: np.ndarray  # bool: the capture cannot tell (each module's docstring says when)
    episodes: dict[int, tuple[Stall, ...]]  # conn id -> its episodes (connections with any)


@dataclass(frozen=True, slots=True)
class Delays:
    """What one connection lost to retries, stalls and silence (module docstring: the rules)."""

    conn: int
    connect_s: float | None  # first SYN -> handshake ACK; None: no complete handshake seen
    syn_retries: int
    syn_gaps_s: tuple[float, ...]  # seconds between consecutive SYNs
    synack_retries: int
    synack_gaps_s: tuple[float, ...]
    handshake_rtt_ms: float | None
    data_rtt_ms: float | None
    response_s: float | None  # first request/response turn; None: no such turn
    responses: int  # request/response turns measured (client data, then the server's answer)
    response_max_s: float | None  # the slowest of them; None: no turn
    response_median_s: float | None  # their median; None: no turn
    longest_silence_s: float | None  # longest wait for an answer that was owed
    longest_silence_side: Side | None  # the side that owed it
    rto_episodes: int
    rto_unrecovered: int  # episodes no ACK ended
    rto_s: float  # time in RTO episodes
    fast_recovery_episodes: int  # counted apart: not stalls
    fast_recovery_s: float
    zero_window_s: float  # time with a closed window (the zero_window detector's stalled_s)
    stalls: tuple[Stall, ...] = ()
    stalled_s: float = 0.0  # union of the stalls' spans
    slow: tuple[SlowTag, ...] = ()
    #: The slowest turn: its number among the measured turns (1 = first), and when its answer
    #: began (ns, at the capture point); None: no turn.
    response_max_turn: int | None = None
    response_max_at_ns: int | None = None
    #: The first and the slowest turn: the request's last byte -> the server's first segment
    #: acknowledging it (``Turns.first_acked_s``); None: not measured.
    response_acked_s: float | None = None
    response_max_acked_s: float | None = None
    #: Time a full, non-zero receive window held a sender (window_full.py), after loss and
    #: closed windows took their share; None: the capture cannot tell (window scale unknown).
    window_full_s: float | None = 0.0
    window_full_episodes: int = 0
    #: Time Nagle held small writes until the peer's delayed ACK (nagle.py), after loss and
    #: windows took their share; None: the capture cannot tell (no handshake round trip, or
    #: waits of that shape and none proven to follow the ACK).
    nagle_s: float | None = 0.0
    nagle_episodes: int = 0
    #: The longest pause of a side's application mid-message, nothing held by TCP
    #: (app_pause.py); None: the capture cannot tell (no handshake round trip).
    app_pause_s: float | None = 0.0
    app_pause_side: Side | None = None  # whose application paused; None: no pause
    #: The longest of the server's pauses mid-answer (what ``app_pause`` judges), 0.0: none.
    app_pause_answer_s: float = 0.0
    #: That pause ended with a new response's status line: the server held its answer to a
    #: request the client had already sent (pipelined HTTP/1.1).
    app_pause_pipelined: bool = False
    #: Answers a sender slow-started again after an idle (idle_restart.py), and what that
    #: cost in all, a lower bound (None: the capture cannot tell: no handshake round trip,
    #: or a LAN's); the costliest of them (None: none).
    idle_restarts: int = 0
    idle_restart_s: float | None = 0.0
    idle_restart: Restart | None = None
    #: Which turns ``slow_response`` judged: every one, or only the first (the bytes show no
    #: request/response protocol); None: no judgement (no turn, or the opening not captured).
    response_judged: ResponseJudged | None = None
    #: A later turn took the ``slow_response`` threshold but was not judged (only the first was).
    response_unjudged: bool = False
    #: What the turns were timed from (``one_way_turns``): the request (both directions
    #: captured), or the packets of the one side captured (a lower bound); None: no turn.
    response_from: ResponseFrom | None = None
    #: In a one-direction capture, the first turn's proof: the frame it was timed from (the
    #: server's first ACK of the request, or the request's last data segment) and the frame
    #: it was timed to (the answer, or the client's first ACK of it); None: not measured so.
    response_from_frame: int | None = None
    response_to_frame: int | None = None
    #: The handshake's round trip in its two halves at the capture point (``handshake_loops``,
    #: ms): SYN -> SYN+ACK (the capture point to the server and back) and SYN+ACK -> ACK (to
    #: the client and back); None: not measured. Not in the JSON (``handshake_rtt_ms`` is
    #: their sum): explain_slow reads where a wait was.
    server_loop_ms: float | None = None
    client_loop_ms: float | None = None
    #: The largest sender's bulk transfer, its rate and what paced it (transfer.py); None:
    #: no side sent ``transfer.MIN_BYTES`` in one run.
    transfer: Transfer | None = None

    @property
    def biggest(self) -> Stall | None:
        return _biggest(self.stalls)

    def as_dict(self) -> dict[str, object]:
        """The JSON ``connections[].delays`` object (keys in contract order)."""
        return delays_doc(self)


def delays_doc(d: Delays) -> dict[str, object]:
    """``connections[].delays``: seconds as floats (ms rounded to µs), None when not measured."""
    biggest = d.biggest
    return {
        "connect_s": _round(d.connect_s),
        "syn_retries": d.syn_retries,
        "syn_gaps_s": [round(g, 6) for g in d.syn_gaps_s],
        "synack_retries": d.synack_retries,
        "synack_gaps_s": [round(g, 6) for g in d.synack_gaps_s],
        "handshake_rtt_ms": _round(d.handshake_rtt_ms, 3),
        "data_rtt_ms": _round(d.data_rtt_ms, 3),
        "response_s": _round(d.response_s),
        "responses": d.responses,
        "response_max_s": _round(d.response_max_s),
        "response_median_s": _round(d.response_median_s),
        "response_max_turn": d.response_max_turn,
        "response_max_at": None if d.response_max_at_ns is None else d.response_max_at_ns / 1e9,
        "response_judged": None if d.response_judged is None else d.response_judged.value,
        "response_from": None if d.response_from is None else d.response_from.value,
        "longest_silence_s": _round(d.longest_silence_s),
        "longest_silence_side": None
        if d.longest_silence_side is None
        else d.longest_silence_side.value,
        "rto_episodes": d.rto_episodes,
        "rto_unrecovered": d.rto_unrecovered,
        "rto_s": round(d.rto_s, 6),
        "fast_recovery_episodes": d.fast_recovery_episodes,
        "fast_recovery_s": round(d.fast_recovery_s, 6),
        "zero_window_s": round(d.zero_window_s, 6),
        "window_full_s": _round(d.window_full_s),
        "window_full_episodes": d.window_full_episodes,
        "nagle_s": _round(d.nagle_s),
        "nagle_episodes": d.nagle_episodes,
        "app_pause_s": _round(d.app_pause_s),
        "app_pause_side": None if d.app_pause_side is None else d.app_pause_side.value,
        "idle_restarts": d.idle_restarts,
        "idle_restart_s": _round(d.idle_restart_s),
        **transfer_doc(d.transfer),
        "stalled_s": round(d.stalled_s, 6),
        "biggest_stall": None if biggest is None else biggest.as_dict(),
        "stalls": [s.as_dict() for s in d.stalls],
    }


#: Keys of ``connections[].delays``, in contract order (``delays_doc``).
DELAYS_DOC_KEYS: tuple[str, ...] = (
    "connect_s",
    "syn_retries",
    "syn_gaps_s",
    "synack_retries",
    "synack_gaps_s",
    "handshake_rtt_ms",
    "data_rtt_ms",
    "response_s",
    "responses",
    "response_max_s",
    "response_median_s",
    "response_max_turn",
    "response_max_at",
    "response_judged",
    "response_from",
    "longest_silence_s",
    "longest_silence_side",
    "rto_episodes",
    "rto_unrecovered",
    "rto_s",
    "fast_recovery_episodes",
    "fast_recovery_s",
    "zero_window_s",
    "window_full_s",
    "window_full_episodes",
    "nagle_s",
    "nagle_episodes",
    "app_pause_s",
    "app_pause_side",
    "idle_restarts",
    "idle_restart_s",
    *TRANSFER_DOC_KEYS,
    "stalled_s",
    "biggest_stall",
    "stalls",
)


def _round(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(value, digits)


def _biggest(stalls: Sequence[Stall]) -> Stall | None:
    """The longest stall (the first of equals)."""
    return max(stalls, key=lambda s: s.end_ns - s.start_ns, default=None)


@dataclass(frozen=True, slots=True)
class DelaysDocColumns:
    """``connections[].delays`` and ``slow`` of a run of connections, a list per key: what the
    JSON writer lays out a column at a time (``delays_doc_columns``)."""

    measured: list[bool]  # per connection: False when it has no delays (``delays`` is null)
    #: DELAYS_DOC_KEYS -> ``delays_doc`` value per measured one; with ``arrays`` (the JSON
    #: layout's) the int and float measures as int64 and float64 arrays, NaN for None
    values: dict[str, list[Any] | np.ndarray]
    slow: list[list[str]]  # per connection: the ``slow`` tags (``[]`` when not measured)


def delays_doc_columns(
    lost: Mapping[int, Delays] | None, ids: Sequence[int], *, arrays: bool = False
) -> DelaysDocColumns:
    """``delays_doc`` and the ``slow`` tags of the connections ``ids``, a list per key.

    A ``DelaysTable`` gives them from its columns (``DelaysTable.doc_columns``, as arrays
    where ``arrays``); any other mapping a record at a time."""
    if isinstance(lost, DelaysTable):
        return lost.doc_columns(ids, arrays=arrays)
    records = [lost.get(conn) for conn in ids] if lost else [None] * len(ids)
    docs = [delays_doc(d) for d in records if d is not None]
    return DelaysDocColumns(
        measured=[d is not None for d in records],
        values={key: [doc[key] for doc in docs] for key in DELAYS_DOC_KEYS},
        slow=[[] if d is None else [tag.value for tag in d.slow] for d in records],
    )


def _rounded(column: np.ndarray, digits: int = 6) -> list[float | None]:
    """``_rounded_array`` as a list, None where it is NaN (not measured)."""
    values: list[float | None] = _rounded_array(column, digits).tolist()
    return [None if x != x else x for x in values]


def _rounded_array(column: np.ndarray, digits: int = 6) -> np.ndarray:
    """``round(x, digits)`` of each value of a float column, None where it is NaN (not
    measured): ``_round(_opt(x), digits)`` a column at a time, the same floats.

    Python's ``round`` rounds the exact decimal value of x (then reads the digits back, the
    nearest float); ``np.round`` rounds the product x * 10**digits, which may be off by half
    an ulp. Where that product is further from a tie (.5) than its error, both give the same
    integer, and an integer divided by 10**digits is correctly rounded like the digits
    ``round`` reads back: those values come from numpy. Ties, near ties and huge values (the
    error reaches 0.5) go through ``round`` (tests/test_delays_doc.py checks the two agree)."""
    column = np.asarray(column, dtype=np.float64)
    scale = 10.0**digits
    product = column * scale
    whole = np.rint(product)
    with np.errstate(invalid="ignore"):  # NaN and inf compare false: not sure, done below
        sure = np.abs(product - whole) < 0.5 - np.abs(product) * 2.0**-52
    values = whole / scale
    for i in np.flatnonzero(~sure).tolist():
        x = float(column[i])
        values[i] = x if x != x else round(x, digits)  # NaN stays: not measured
    return values


def _visited_doc(v: _Visited) -> tuple[Any, ...]:
    """The ``delays_doc`` values a visited connection's per-connection work decides, in
    ``_VISITED_DOC_KEYS`` order (``delays_doc`` reads them from its ``Delays``)."""
    stalls = [s.as_dict() for s in v.stalls]
    # the biggest stall (``_biggest``: the first of equals) is one of them: a copy of its dict
    biggest = max(
        range(len(stalls)), key=lambda i: v.stalls[i].end_ns - v.stalls[i].start_ns, default=-1
    )
    return (
        [round(g, 6) for g in v.syn_gaps],
        [round(g, 6) for g in v.synack_gaps],
        v.rto_episodes,
        v.rto_unrecovered,
        round(v.rto_s, 6),
        v.fast_episodes,
        round(v.fast_s, 6),
        round(v.zero_window_s, 6),
        round(v.stalled_s, 6),
        None if biggest < 0 else dict(stalls[biggest]),
        stalls,
    )


#: ``SlowTag.value`` of each tag (a dict look-up is a tenth of an enum's ``value``).
_SLOW_NAME: dict[SlowTag, str] = {tag: tag.value for tag in SlowTag}

#: The same for a stall's cause and side (``Stall.as_dict``).
_NAME: dict[StallCause | Side, str] = {
    **{cause: cause.value for cause in StallCause},
    **{side: side.value for side in Side},
}

#: The ``delays_doc`` keys ``_visited_doc`` gives.
_VISITED_DOC_KEYS: tuple[str, ...] = (
    "syn_gaps_s",
    "synack_gaps_s",
    "rto_episodes",
    "rto_unrecovered",
    "rto_s",
    "fast_recovery_episodes",
    "fast_recovery_s",
    "zero_window_s",
    "stalled_s",
    "biggest_stall",
    "stalls",
)


#: Flat columns added to the connections table (and the CSV), one value per connection.
DELAY_COLUMNS: tuple[str, ...] = (
    "connect_s",
    "handshake_rtt_ms",
    "response_s",
    "response_from",  # what response_s was timed from ("" if none): a lower bound one way
    "rto_s",
    "zero_window_s",
    "window_full_s",  # NaN (empty in CSV): the capture cannot tell
    "nagle_s",  # NaN (empty in CSV): the capture cannot tell
    "app_pause_s",  # NaN (empty in CSV): the capture cannot tell
    "idle_restart_s",  # NaN (empty in CSV): the capture cannot tell
    "transfer_rate_bps",  # NaN (empty in CSV): no transfer (transfer.py)
    "transfer_paced_by",  # "" if none
    "stalled_s",
    "biggest_stall",  # cause of the biggest stall, "" if none
    "biggest_stall_s",
    "slow",  # tags joined by ";" in CSV; a tuple per row in the table
)


class DelaysTable(Mapping[int, Delays]):
    """Every connection's ``Delays``, held as columns (``ids`` order); a record is built only
    when looked up, as ``model.Verdicts`` does. Connections without a stall share defaults."""

    __slots__ = ("_position", "columns", "ids", "stalls", "thresholds", "turns")

    def __init__(
        self,
        ids: np.ndarray,
        columns: Mapping[str, np.ndarray],
        stalls: Mapping[int, _Visited],
        thresholds: SlowThresholds,
        turns: Turns | None = None,
    ) -> None:
        self.ids = ids
        self.columns = columns  # name -> per connection (float NaN = not measured)
        #: conn id -> what per-connection work found, only where it found something lost
        #: (a retry, an RTO or fast-recovery episode, a closed or full window)
        self.stalls = stalls
        self.thresholds = thresholds  # what the ``slow`` tags were judged against
        self.turns = turns  # every request/response turn (findings read them across connections)
        self._position: dict[int, int] | None = None

    def __getitem__(self, conn: int) -> Delays:
        if self._position is None:
            self._position = {int(c): i for i, c in enumerate(self.ids.tolist())}
        i = self._position[conn]
        c = self.columns
        v = self.stalls.get(conn, _NOTHING)
        side = int(c["silence_side"][i])
        paused = int(c["app_pause_side"][i])
        return Delays(
            conn=conn,
            connect_s=_opt(c["connect_s"][i]),
            syn_retries=int(c["syn_retries"][i]),
            syn_gaps_s=v.syn_gaps,
            synack_retries=int(c["synack_retries"][i]),
            synack_gaps_s=v.synack_gaps,
            handshake_rtt_ms=_opt(c["handshake_rtt_ms"][i]),
            server_loop_ms=_opt(c["server_loop_ms"][i]) if "server_loop_ms" in c else None,
            client_loop_ms=_opt(c["client_loop_ms"][i]) if "client_loop_ms" in c else None,
            data_rtt_ms=_opt(c["data_rtt_ms"][i]),
            response_s=_opt(c["response_s"][i]),
            responses=int(c["responses"][i]),
            response_max_s=_opt(c["response_max_s"][i]),
            response_median_s=_opt(c["response_median_s"][i]),
            longest_silence_s=_opt(c["longest_silence_s"][i]),
            longest_silence_side=None if side < 0 else (Side.CLIENT if side else Side.SERVER),
            rto_episodes=v.rto_episodes,
            rto_unrecovered=v.rto_unrecovered,
            rto_s=v.rto_s,
            fast_recovery_episodes=v.fast_episodes,
            fast_recovery_s=v.fast_s,
            zero_window_s=v.zero_window_s,
            stalls=v.stalls,
            stalled_s=v.stalled_s,
            slow=tuple(c["slow"][i]),
            response_max_turn=int(c["response_max_turn"][i]) or None,
            response_max_at_ns=int(c["response_max_at_ns"][i]) or None,
            response_acked_s=_opt(c["response_first_acked_s"][i]),
            response_max_acked_s=_opt(c["response_max_acked_s"][i]),
            window_full_s=_opt(c["window_full_s"][i]),
            window_full_episodes=int(c["window_full_episodes"][i]),
            nagle_s=_opt(c["nagle_s"][i]),
            nagle_episodes=int(c["nagle_episodes"][i]),
            app_pause_s=_opt(c["app_pause_s"][i]),
            app_pause_side=None if paused < 0 else (Side.CLIENT if paused else Side.SERVER),
            app_pause_answer_s=float(c["app_pause_judged_s"][i]),
            app_pause_pipelined=bool(c["app_pause_judged_pipelined"][i]),
            idle_restarts=int(c["idle_restarts"][i]),
            idle_restart_s=_opt(c["idle_restart_s"][i]),
            idle_restart=restart_of(c, i),
            response_judged=_JUDGED_OF_CODE[int(c["response_judged"][i])],
            response_unjudged=bool(c["response_unjudged"][i]),
            response_from=FORM_OF_CODE[int(c["response_from"][i])],
            response_from_frame=int(c["response_from_frame"][i]) or None,
            response_to_frame=int(c["response_to_frame"][i]) or None,
            transfer=transfer_of(c, i) if "transfer_side" in c else None,
        )

    def doc_columns(self, ids: Sequence[int], *, arrays: bool = False) -> DelaysDocColumns:
        """``delays_doc`` of each of the connections ``ids`` (``delays_doc_columns``), without
        building their ``Delays``: the measured columns are rounded a column at a time and the
        per-connection part is laid out once per visited connection, the many connections no
        detector visited sharing ``_NOTHING``'s. The same values as ``delays_doc(self[conn])``
        (tests/test_delays_doc.py holds them to it on sample captures). ``arrays``: the int
        and float measures as int64 and float64 arrays, NaN where the lists hold None (the
        JSON layout's compiled core reads them in place, NaN as null)."""
        # ``self.ids`` is sorted (as ``table_columns`` reads it): one search finds every row
        wanted = np.asarray(ids, dtype=np.int64)
        at = np.minimum(np.searchsorted(self.ids, wanted), max(len(self.ids) - 1, 0))
        found = self.ids[at] == wanted if len(self.ids) else np.zeros(len(wanted), dtype=bool)
        pos = at[found]
        kept = wanted[found].tolist()
        measured: list[bool] = found.tolist()
        measures = {name: values[pos] for name, values in self.columns.items()}

        def ints(name: str) -> list[int]:
            values: list[int] = measures[name].astype(np.int64).tolist()  # int() of each
            return values

        def counts(name: str) -> list[int] | np.ndarray:
            return measures[name].astype(np.int64) if arrays else ints(name)

        def rounded(name: str, digits: int = 6) -> list[float | None] | np.ndarray:
            column = measures[name]
            return _rounded_array(column, digits) if arrays else _rounded(column, digits)

        def seconds_at(name: str) -> list[float | None] | np.ndarray:  # ns, 0: none
            if not arrays:
                return [ns / 1e9 if ns else None for ns in ints(name)]
            ns = measures[name].astype(np.int64)
            return np.where(ns != 0, ns / 1e9, np.nan)  # int64 / 1e9 as int(ns) / 1e9

        client, server = Side.CLIENT.value, Side.SERVER.value
        # the per-connection part: the defaults' values (and empty lists) shared by every
        # connection, then each visited connection's own
        per_visit = [[value] * len(kept) for value in _visited_doc(_NOTHING)]
        for i, conn in enumerate(kept):
            visit = self.stalls.get(conn)
            if visit is not None:
                for column, value in zip(per_visit, _visited_doc(visit), strict=True):
                    column[i] = value
        values: dict[str, list[Any] | np.ndarray] = {
            "connect_s": rounded("connect_s"),
            "syn_retries": counts("syn_retries"),
            "synack_retries": counts("synack_retries"),
            "handshake_rtt_ms": rounded("handshake_rtt_ms", 3),
            "data_rtt_ms": rounded("data_rtt_ms", 3),
            "response_s": rounded("response_s"),
            "responses": counts("responses"),
            "response_max_s": rounded("response_max_s"),
            "response_median_s": rounded("response_median_s"),
            "response_max_turn": [turn or None for turn in ints("response_max_turn")],
            "response_max_at": seconds_at("response_max_at_ns"),
            "response_judged": [_JUDGED_NAME[code] for code in ints("response_judged")],
            "response_from": [_FROM_NAME[code] for code in ints("response_from")],
            "longest_silence_s": rounded("longest_silence_s"),
            "longest_silence_side": [
                None if side < 0 else client if side else server for side in ints("silence_side")
            ],
            "window_full_s": rounded("window_full_s"),
            "window_full_episodes": counts("window_full_episodes"),
            "nagle_s": rounded("nagle_s"),
            "nagle_episodes": counts("nagle_episodes"),
            "app_pause_s": rounded("app_pause_s"),
            "app_pause_side": [
                None if side < 0 else client if side else server for side in ints("app_pause_side")
            ],
            "idle_restarts": counts("idle_restarts"),
            "idle_restart_s": rounded("idle_restart_s"),
            **dict(zip(_VISITED_DOC_KEYS, per_visit, strict=True)),
            **self._transfer_columns(measures),
        }
        slow = iter([_SLOW_NAME[tag] for tag in tags] if tags else [] for tags in measures["slow"])
        return DelaysDocColumns(
            measured=measured,
            values={key: values[key] for key in DELAYS_DOC_KEYS},
            slow=[next(slow) if row else [] for row in measured],
        )

    @staticmethod
    def _transfer_columns(measures: Mapping[str, np.ndarray]) -> dict[str, list[Any]]:
        """``TRANSFER_DOC_KEYS`` of the rows of ``measures``: null but where a transfer was
        found (a connection in thousands)."""
        n = len(measures["slow"])
        out: dict[str, list[Any]] = {key: [None] * n for key in TRANSFER_DOC_KEYS}
        if "transfer_side" not in measures:
            return out
        for i in np.flatnonzero(measures["transfer_side"] >= 0).tolist():
            for key, value in transfer_doc(transfer_of(measures, i)).items():
                out[key][i] = value
        return out

    def unjudged_replies(self, ids: np.ndarray) -> list[tuple[int, int, int, float, int]]:
        """Of the connections ``ids``, those whose late later turn ``slow_response`` did not
        judge (``response_unjudged``): (conn, the turn's number, turns measured, its seconds,
        when its answer began in ns), in ``ids`` order."""
        ids = np.asarray(ids, dtype=np.int64)
        if not len(ids):
            return []
        pos = np.searchsorted(self.ids, ids)
        c = self.columns
        pos = pos[c["response_unjudged"][pos]]
        number = c["response_max_turn"][pos].astype(np.int64)
        seconds = np.asarray(c["response_max_s"][pos], dtype=float)
        at_ns = c["response_max_at_ns"][pos].astype(np.int64)
        if "response_tls_wait_s" in c:
            # TLS 1.3: the wait after the server's first records (session tickets, maybe),
            # where it is the longer: turn number 0 (``explain.unjudged_answers``).
            tls_s = np.asarray(c["response_tls_wait_s"][pos], dtype=float)
            with np.errstate(invalid="ignore"):
                tickets = ~np.isnan(tls_s) & ~(seconds >= tls_s)
            number[tickets] = 0
            seconds[tickets] = tls_s[tickets]
            at_ns[tickets] = c["response_tls_wait_at_ns"][pos][tickets]
        return list(
            zip(
                self.ids[pos].tolist(),
                number.tolist(),
                c["responses"][pos].tolist(),
                seconds.tolist(),
                at_ns.tolist(),
                strict=True,
            )
        )

    def stalls_of(self, conn: int) -> tuple[Stall, ...]:
        """One connection's stalls without building its whole ``Delays`` (cross-connection
        readers visit every stalled connection)."""
        return self.stalls.get(conn, _NOTHING).stalls

    def __iter__(self) -> Iterator[int]:
        return (int(c) for c in self.ids)

    def __len__(self) -> int:
        return len(self.ids)

    def select(self, keep: set[int]) -> DelaysTable:
        """The rows of the connections in ``keep`` (``Analysis.select``)."""
        rows = np.flatnonzero(np.isin(self.ids, list(keep)))
        return DelaysTable(
            self.ids[rows],
            {name: values[rows] for name, values in self.columns.items()},
            _kept_stalls(self.stalls, keep),
            self.thresholds,
            None if self.turns is None else self.turns.select(keep),
        )

    def table_columns(self, ids: np.ndarray) -> dict[str, np.ndarray]:
        """``DELAY_COLUMNS`` for the connections ``ids`` (in that order): this table's own
        arrays, not copies, when ``ids`` are its ids (a whole capture's rows in id order)."""
        whole = len(ids) == len(self.ids) and np.array_equal(ids, self.ids)
        pos = None if whole else np.searchsorted(self.ids, ids)

        def column(name: str) -> np.ndarray:
            values = self.columns[name] if pos is None else self.columns[name][pos]
            if name == "response_from":  # codes -> names, "" where no turn was timed
                return np.array([_FROM_NAME[c] or "" for c in values.tolist()], dtype=object)
            return values

        return {name: column(name) for name in DELAY_COLUMNS}


@dataclass(frozen=True, slots=True)
class SlowSummary:
    """One ``slow`` tag across a capture, for the text summary (explain words it)."""

    tag: SlowTag
    connections: int  # connections with the tag
    total: int  # connections considered
    values_s: tuple[float, ...]  # the measure the tag is about, sorted (connect, stall, response)
    first: int  # lowest connection id with the tag
    #: SYN/SYN+ACK retries: connections still open whose handshake the capture never shows
    #: completed (no measure: ``_retries_unmeasured``)
    unfinished: int = 0
    #: ... and those without a measure that went on past their handshake (a FIN or RST ended
    #: them): it completed out of the capture's sight (a flag filter, a lost ACK)
    unseen_completion: int = 0
    schedule: str = ""  # SYN retries: the most common retry schedule (handshake detector)
    threshold_s: float | None = None  # the threshold the tag is judged against, if any
    retries: tuple[int, int] = (0, 0)  # SYN/SYN+ACK retries: fewest and most per connection
    #: Of ``connections``: those whose two ends are one host (loopback.on_one_host): no
    #: network carried their packets.
    one_host: int = 0
    #: slow_response: connections of it timed in one direction (a lower bound, ``one_way_turns``)
    one_way: int = 0
    #: syn_retry: connections of it whose SYN an older connection on the same ports answered
    #: (a TIME_WAIT or half-open socket's ACK: the challenge_ack event), which the client
    #: reset before sending its SYN again: a retry no drop caused.
    stale_peer: int = 0
    #: syn_retry: connections of it whose every SYN the capture shows again a hop or two
    #: lower in its own stream (``inferred.syn_forwarded_hops``): forwarded past the
    #: capture host, untranslated.
    forwarded: int = 0

    def percentile(self, q: float) -> float | None:
        if not self.values_s:
            return None
        return float(np.percentile(np.asarray(self.values_s), q, method="lower"))


#: The measure each tag's summary speaks of (``DelaysTable.columns`` names).
_TAG_MEASURE: dict[SlowTag, str] = {
    SlowTag.SYN_RETRY: "connect_s",
    SlowTag.SYNACK_RETRY: "connect_s",
    SlowTag.RTO_STALL: "rto_s",
    SlowTag.ZERO_WINDOW_STALL: "zero_window_s",
    SlowTag.SLOW_RESPONSE: "response_judged_s",
    SlowTag.SLOW_CONNECT: "connect_s",
    SlowTag.WINDOW_FULL_STALL: "window_full_s",
    SlowTag.NAGLE_STALL: "nagle_s",
    SlowTag.APP_PAUSE: "app_pause_judged_s",
    SlowTag.IDLE_RESTART: "idle_restart_s",
}


def summarise(
    lost: Mapping[int, Delays],
    connections: pd.DataFrame,
    stale_peer: np.ndarray | None = None,
) -> list[SlowSummary]:
    """Per ``slow`` tag present among the connections that did not fail (``connections``:
    the connections table, maybe filtered): how many, and the spread of its measure. A failed
    connection's fate tells its story already; this is "slow, not dead". ``slow_connect``
    counts only the connections no retry explains (a retry's own line says how long those
    took); ``total`` is every connection considered, failed or not. ``stale_peer``: ids of
    the connections whose SYN an older connection's ACK answered (challenge_ack events)."""
    if not isinstance(lost, DelaysTable) or connections.empty:
        return []
    ok = ~failing(connections["fate"])
    total = len(connections)
    connections = connections[ok]
    if connections.empty:
        return []
    by_id = np.argsort(connections["id"].to_numpy(np.int64), kind="stable")
    ids = connections["id"].to_numpy(np.int64)[by_id]
    still_open = connections["fate"].to_numpy()[by_id] == Fate.OPEN
    pos = np.searchsorted(lost.ids, ids)
    tags = lost.columns["slow"][pos]
    limits = lost.thresholds
    thresholds = {
        SlowTag.SLOW_RESPONSE: limits.response_s,
        SlowTag.SLOW_CONNECT: limits.connect_s,
        SlowTag.ZERO_WINDOW_STALL: limits.zero_window_s,
        SlowTag.WINDOW_FULL_STALL: limits.window_full_s,
        SlowTag.NAGLE_STALL: limits.nagle_s,
        SlowTag.APP_PAUSE: limits.response_s,
        SlowTag.IDLE_RESTART: limits.idle_restart_s,
    }
    out: list[SlowSummary] = []
    retried = {SlowTag.SYN_RETRY, SlowTag.SYNACK_RETRY}
    for tag in SlowTag:
        has = np.fromiter(
            (
                tag in t and not (tag is SlowTag.SLOW_CONNECT and retried & set(t))
                for t in tags.tolist()
            ),
            dtype=bool,
            count=len(tags),
        )
        if not has.any():
            continue
        values = lost.columns[_TAG_MEASURE[tag]][pos[has]]
        done = values[~np.isnan(values)]
        unmeasured = np.zeros(0, dtype=bool)
        if tag is SlowTag.SYN_RETRY:
            unmeasured = np.isnan(values)
        elif tag is SlowTag.SYNACK_RETRY:
            done = _synack_waits(lost, ids[has])
            unmeasured = np.array(
                [
                    synack_wait(lost.stalls.get(c, _NOTHING).stalls) is None
                    for c in ids[has].tolist()
                ],
                dtype=bool,
            )
        schedule = ""
        if tag is SlowTag.SYN_RETRY:
            schedule = _schedule_name(connections, _most_retried(lost, ids[has], pos[has]))
        out.append(
            SlowSummary(
                tag=tag,
                connections=int(has.sum()),
                total=total,
                values_s=tuple(sorted(done.tolist())),
                first=int(ids[has][0]),
                unfinished=int((unmeasured & still_open[has]).sum()) if tag in retried else 0,
                unseen_completion=int((unmeasured & ~still_open[has]).sum())
                if tag in retried
                else 0,
                schedule=schedule,
                threshold_s=thresholds.get(tag),
                retries=_retry_range(lost, tag, pos[has]),
                one_way=int(timed_one_way(lost.columns)[pos[has]].sum())
                if tag is SlowTag.SLOW_RESPONSE
                else 0,
                one_host=int(on_one_host(connections, ids[has]).sum()),
                stale_peer=int(np.isin(ids[has], stale_peer).sum())
                if tag is SlowTag.SYN_RETRY and stale_peer is not None
                else 0,
                forwarded=_forwarded(connections, ids[has]) if tag is SlowTag.SYN_RETRY else 0,
            )
        )
    return out


def _forwarded(connections: pd.DataFrame, ids: np.ndarray) -> int:
    """``SlowSummary.forwarded`` of the connections ``ids``: every SYN captured again a hop
    or two lower in its own stream (``inferred.syn_forwarded_hops``)."""
    rows = connections[connections["id"].isin(ids)]
    return sum(
        isinstance(r, Mapping) and r.get("syn_forwarded_hops") is not None
        for r in rows["inferred"].tolist()
    )


def _synack_waits(lost: DelaysTable, ids: np.ndarray) -> np.ndarray:
    """The server's waits behind SYN+ACK retries (the ``synack_retry`` stalls, first SYN+ACK
    to the retry that was answered), of the handshakes that completed. Not the client's
    connect time: when the client's ACK was lost, its connect() returned at once while the
    server's listener held the request in SYN_RECV, resending, until an ACK got through."""
    waits = [
        stall.seconds
        for conn in ids.tolist()
        for stall in lost.stalls.get(int(conn), _NOTHING).stalls
        if stall.cause is StallCause.SYNACK_RETRY and stall.recovered
    ]
    return np.asarray(waits, dtype=np.float64)


def synack_wait(stalls: Sequence[Stall]) -> float | None:
    """One connection's wait behind SYN+ACK retries, as ``_synack_waits`` counts them: the
    server's, from its first SYN+ACK to the retry that was answered (seconds; None when no
    such stall recovered: the handshake did not complete behind them)."""
    waits = [s.seconds for s in stalls if s.cause is StallCause.SYNACK_RETRY and s.recovered]
    return sum(waits) if waits else None


def _retry_range(lost: DelaysTable, tag: SlowTag, pos: np.ndarray) -> tuple[int, int]:
    column = {SlowTag.SYN_RETRY: "syn_retries", SlowTag.SYNACK_RETRY: "synack_retries"}.get(tag)
    if column is None or not len(pos):
        return (0, 0)
    values = lost.columns[column][pos]
    return (int(values.min()), int(values.max()))


def syn_schedule_sources(lost: DelaysTable, connections: pd.DataFrame) -> np.ndarray:
    """The connections whose SYN retry schedule ``summarise`` names (``_schedule_name``):
    among those of ``connections`` that did not fail and retried their SYN, those that
    retried most. A shorter series is a prefix of the same timer and names only its start
    ("one retry after 1 s" where others went on doubling). By id."""
    ok = ~failing(connections["fate"])
    ids = np.sort(connections.loc[ok, "id"].to_numpy(np.int64))
    pos = np.searchsorted(lost.ids, ids)
    tags = lost.columns["slow"][pos].tolist()
    retried = np.fromiter((SlowTag.SYN_RETRY in t for t in tags), dtype=bool, count=len(tags))
    return _most_retried(lost, ids[retried], pos[retried])


def _most_retried(lost: DelaysTable, ids: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Of the connections ``ids`` (their rows ``pos`` of ``lost``), those whose SYN was
    retried most."""
    retries = np.asarray(lost.columns["syn_retries"][pos])
    most = retries == retries.max() if len(retries) else np.zeros(0, dtype=bool)
    chosen: np.ndarray = ids[most]
    return chosen


def _schedule_name(connections: pd.DataFrame, sources: np.ndarray) -> str:
    """The most common SYN retry schedule the handshake detector named (``inferred``) for
    the ``sources`` among ``connections``."""
    rows = connections[connections["id"].isin(sources)].sort_values("id", kind="stable")
    names = []
    for record in rows["inferred"].tolist():
        if isinstance(record, Mapping):
            syn = record.get("syn")
            if isinstance(syn, Mapping) and syn.get("schedule"):
                names.append(str(syn["schedule"]))
    return max(sorted(set(names)), key=names.count) if names else ""


def _measured(spans: np.ndarray) -> np.ndarray:
    """Spans in seconds, NaN (not measured) where the end precedes the start: time at the
    capture point cannot run backwards, so a negative span crossed a timestamp step back
    (merged or clock-stepped captures; ``capture.warnings`` says so) and shows nothing."""
    spans = np.asarray(spans, dtype=np.float64)
    return np.where(spans < 0, np.nan, spans)


def _opt(value: float) -> float | None:
    return None if value != value else float(value)


@dataclass(frozen=True, slots=True)
class _Visited:
    """The per-connection part of a visited connection's delays, where it lost something."""

    syn_gaps: tuple[float, ...] = ()
    synack_gaps: tuple[float, ...] = ()
    rto_episodes: int = 0
    rto_unrecovered: int = 0
    rto_s: float = 0.0
    fast_episodes: int = 0
    fast_s: float = 0.0
    zero_window_s: float = 0.0
    window_full_s: float = 0.0
    window_full_episodes: int = 0
    nagle_s: float = 0.0
    nagle_episodes: int = 0
    stalls: tuple[Stall, ...] = ()
    stalled_s: float = 0.0
    #: The SYNs were sent again by no timer (after each RST, or sooner than any SYN timer:
    #: ``RetrySeries.timed``): nothing was lost, no ``syn_retry`` and no SYN-retry stall.
    syn_untimed: bool = False
    #: Every SYN+ACK answered its own resent SYN (``RetrySeries.timed``): the server's timer
    #: resent nothing, no ``synack_retry`` and no SYN+ACK-retry stall.
    synack_untimed: bool = False


_NOTHING = _Visited()

#: ``_Visited`` fields by the column type ``VisitedColumns`` keeps them in.
_VISITED_FLOATS = ("rto_s", "fast_s", "zero_window_s", "window_full_s", "nagle_s", "stalled_s")
_VISITED_INTS = (
    "rto_episodes",
    "rto_unrecovered",
    "fast_episodes",
    "window_full_episodes",
    "nagle_episodes",
)
_STALL_CAUSES = tuple(StallCause)
_STALL_SIDES = tuple(Side)


class VisitedColumns(Mapping[int, _Visited]):
    """``DelaysTable.stalls`` held as columns: each ``_Visited`` record is built when looked
    up, equal to the one stored. A record as Python objects weighs some 390 bytes (the
    record, its tuples, each ``Stall`` and its ints); as columns about a third of that. The
    bounded-memory report holds every connection's delays: 160 MB of records at a million
    connections, where the page reads a few hundred of them."""

    __slots__ = ("_gaps", "_scalars", "_stalls", "ids")

    def __init__(
        self,
        ids: np.ndarray,
        scalars: Mapping[str, np.ndarray],
        gaps: Mapping[str, _Ragged],
        stalls: _Ragged,
    ) -> None:
        self.ids = ids  # sorted
        self._scalars = scalars  # per record: ``_VISITED_FLOATS``, ``_VISITED_INTS``, syn_untimed
        self._gaps = gaps  # syn_gaps, synack_gaps
        self._stalls = stalls  # per stall: cause and side (codes), start_ns, end_ns, ...

    @staticmethod
    def of(records: Mapping[int, _Visited]) -> VisitedColumns:
        """The records of ``records`` (any order) as columns, by connection id."""
        ids = np.fromiter(records, np.int64, len(records))
        order = np.argsort(ids, kind="stable")
        visits = [records[c] for c in ids[order].tolist()]
        scalars: dict[str, np.ndarray] = {
            **{
                name: np.array([getattr(v, name) for v in visits], float)
                for name in _VISITED_FLOATS
            },
            **{
                name: np.array([getattr(v, name) for v in visits], np.int64)
                for name in _VISITED_INTS
            },
            "syn_untimed": np.array([v.syn_untimed for v in visits], bool),
            "synack_untimed": np.array([v.synack_untimed for v in visits], bool),
        }
        gaps = {
            name: _Ragged.of([[(gap,) for gap in getattr(v, name)] for v in visits], (float,))
            for name in ("syn_gaps", "synack_gaps")
        }
        stalls = _Ragged.of(
            [
                [
                    (
                        _STALL_CAUSES.index(s.cause),
                        _STALL_SIDES.index(s.side),
                        s.start_ns,
                        s.end_ns,
                        s.recovered,
                        s.frame,
                    )
                    for s in v.stalls
                ]
                for v in visits
            ],
            (np.int8, np.int8, np.int64, np.int64, bool, np.int64),
        )
        return VisitedColumns(ids[order], scalars, gaps, stalls)

    @staticmethod
    def joined(parts: Sequence[VisitedColumns]) -> VisitedColumns:
        """The records of every part (no id in two), as one table by id."""
        ids = np.concatenate([p.ids for p in parts])
        order = np.argsort(ids, kind="stable")
        names = parts[0]._scalars.keys()
        return VisitedColumns(
            ids[order],
            {name: np.concatenate([p._scalars[name] for p in parts])[order] for name in names},
            {
                name: _Ragged.joined([p._gaps[name] for p in parts], order)
                for name in ("syn_gaps", "synack_gaps")
            },
            _Ragged.joined([p._stalls for p in parts], order),
        )

    def _position(self, conn: object) -> int:
        """The row of ``conn``, -1 when it has no record."""
        if not isinstance(conn, int | np.integer):
            return -1
        i = int(np.searchsorted(self.ids, conn))
        return i if i < len(self.ids) and self.ids[i] == conn else -1

    def __getitem__(self, conn: int) -> _Visited:
        i = self._position(conn)
        if i < 0:
            raise KeyError(conn)
        floats = {name: float(self._scalars[name][i]) for name in _VISITED_FLOATS}
        ints = {name: int(self._scalars[name][i]) for name in _VISITED_INTS}
        return _Visited(
            syn_gaps=tuple(gap for (gap,) in self._gaps["syn_gaps"].at(i)),
            synack_gaps=tuple(gap for (gap,) in self._gaps["synack_gaps"].at(i)),
            rto_episodes=ints["rto_episodes"],
            rto_unrecovered=ints["rto_unrecovered"],
            rto_s=floats["rto_s"],
            fast_episodes=ints["fast_episodes"],
            fast_s=floats["fast_s"],
            zero_window_s=floats["zero_window_s"],
            window_full_s=floats["window_full_s"],
            window_full_episodes=ints["window_full_episodes"],
            nagle_s=floats["nagle_s"],
            nagle_episodes=ints["nagle_episodes"],
            stalls=tuple(
                Stall(_STALL_CAUSES[cause], _STALL_SIDES[side], start, end, recovered, frame)
                for cause, side, start, end, recovered, frame in self._stalls.at(i)
            ),
            stalled_s=floats["stalled_s"],
            syn_untimed=bool(self._scalars["syn_untimed"][i]),
            synack_untimed=bool(self._scalars["synack_untimed"][i]),
        )

    def __contains__(self, conn: object) -> bool:
        return self._position(conn) >= 0

    def __iter__(self) -> Iterator[int]:
        return iter(self.ids.tolist())

    def __len__(self) -> int:
        return len(self.ids)


def _kept_stalls(stalls: Mapping[int, _Visited], keep: set[int]) -> dict[int, _Visited]:
    """The records of the connections in ``keep``, in the order ``stalls`` holds them; from
    ``VisitedColumns`` only those looked up (``keep`` is a view's few connections)."""
    if isinstance(stalls, VisitedColumns):
        return {k: stalls[k] for k in sorted(keep) if k in stalls}
    return {k: v for k, v in stalls.items() if k in keep}


class _Ragged:
    """Rows of tuples, a list of them per record, as columns: record i's tuples are rows
    ``bounds[i]:bounds[i + 1]``."""

    __slots__ = ("bounds", "columns")

    def __init__(self, bounds: np.ndarray, columns: tuple[np.ndarray, ...]) -> None:
        self.bounds = bounds
        self.columns = columns

    @staticmethod
    def of(records: Sequence[Sequence[tuple[Any, ...]]], types: tuple[Any, ...]) -> _Ragged:
        bounds = np.zeros(len(records) + 1, np.int64)
        np.cumsum([len(r) for r in records], out=bounds[1:])
        rows = [row for r in records for row in r]
        columns = tuple(
            np.array([row[k] for row in rows], dtype=kind) for k, kind in enumerate(types)
        )
        return _Ragged(bounds, columns)

    @staticmethod
    def joined(parts: Sequence[_Ragged], order: np.ndarray) -> _Ragged:
        """The parts' records end to end, then taken in ``order``."""
        sizes = np.concatenate([np.diff(p.bounds) for p in parts])[order]
        starts = np.concatenate(
            [p.bounds[:-1] + offset for p, offset in zip(parts, _offsets(parts), strict=True)]
        )[order]
        bounds = np.zeros(len(sizes) + 1, np.int64)
        np.cumsum(sizes, out=bounds[1:])
        rows = np.repeat(starts - bounds[:-1], sizes) + np.arange(bounds[-1])
        columns = tuple(
            np.concatenate([p.columns[k] for p in parts])[rows]
            for k in range(len(parts[0].columns))
        )
        return _Ragged(bounds, columns)

    def at(self, i: int) -> Iterator[tuple[Any, ...]]:
        """Record i's tuples, as Python values."""
        lo, hi = int(self.bounds[i]), int(self.bounds[i + 1])
        return zip(*(column[lo:hi].tolist() for column in self.columns), strict=True)


def _offsets(parts: Sequence[_Ragged]) -> list[int]:
    """Where each part's rows start once the parts are end to end."""
    sizes = [int(p.bounds[-1]) for p in parts]
    return [sum(sizes[:k]) for k in range(len(parts))]


def measure(
    facts: Facts,
    detections: Mapping[int, ConnDetections],
    events: pd.DataFrame,
    counts: Mapping[str, np.ndarray],
    *,
    thresholds: SlowThresholds | None = None,
    apps: Mapping[int, App] | None = None,
    ts_ecr: np.ndarray | None = None,
    handshake: tuple[np.ndarray, tuple[np.ndarray, np.ndarray]] | None = None,
    acks_filtered: bool = False,
) -> DelaysTable:
    """Every connection's delays (``facts.conn_ids`` order).

    ``counts``: the verdicts' counts columns (``model.Verdicts.counts``, ``facts.conn_ids``
    order): the SYN and SYN+ACK retry counts as classify counted them. ``apps``: what the
    connections' first payloads carry (``app.recognise``, by connection id): which turns
    ``slow_response`` judges (``_judged_turns``); without it, only the first. ``ts_ecr``:
    the segments table's TSecr column (nagle.py proves with it that a held write left after
    the ACK that released it). ``handshake``: ``detect.handshake.handshake_loops(facts)`` when
    an earlier stage computed it (classify's ``Columnar``), else it is computed here.
    ``acks_filtered``: the whole capture holds no segment without payload
    (``quality.CaptureWide.acks_filtered``): an ACK is seen only on the peer's data.
    """
    from pcapline.detect.handshake import handshake_loops

    limits = thresholds or SlowThresholds()
    ids = facts.conn_ids
    n = len(ids)
    connect = _measured(_connect_at_one_point(facts, events, _connect_s(facts, events)))
    # What ``facts.across_a_hole`` reads, for its three askers here (a pass over every row).
    peer_end = peer_data_end(facts)
    turns = _turns(facts, peer_end)
    windows = _window_events(events)
    handshake_rtt_ms, loops = handshake if handshake is not None else handshake_loops(facts)
    sent = NewData.of(facts)  # what the three columnar passes below read
    full = window_full(facts, sent, handshake_rtt_ms, loops)
    nagle = nagle_waits(facts, sent, loops, ts_ecr)
    pauses = app_pauses(facts, sent, loops, peer_end, _status_frames(apps or {}))
    restarts = idle_restarts(facts, sent, handshake_rtt_ms, loops)
    one_way = OneWayTurns.of(facts, peer_end)
    del peer_end  # one int64 per row: not held through the per-connection work below
    held = {
        conn: (full.episodes.get(conn, ()), nagle.episodes.get(conn, ()))
        for conn in {*full.episodes, *nagle.episodes}
    }
    # Per-connection work only where a detector visited, and a record only where something
    # was lost (most visits find nothing: their data RTT is all they add, as a column).
    data_rtt_ms = np.full(n, np.nan)
    visited: dict[int, _Visited] = {}
    fast: dict[int, list[Stall]] = {}  # fast-recovery episodes, by connection (transfer.py)
    resent = _Resent.of(facts, events, acks_filtered=acks_filtered)
    for index, conn in enumerate(ids.tolist()):
        found = detections.get(conn)
        if found is None:
            continue
        rtt_ms = found.retransmit.inferred.rtt_ms
        if rtt_ms is not None:
            data_rtt_ms[index] = rtt_ms
        lost, recovered = _visit(
            facts, index, found, resent, windows.get(conn), *held.get(conn, ((), ()))
        )
        if lost is not None:
            visited[conn] = lost
        if recovered:
            fast[conn] = recovered
    for conn, (window_held, write_held) in held.items():  # connections no detector visited
        if conn not in visited:
            full_held, nagle_held = _held_back(window_held, write_held, [])
            stalls = tuple(sorted((*full_held, *nagle_held), key=lambda s: (s.start_ns, s.end_ns)))
            visited[conn] = _Visited(
                window_full_s=sum((s.seconds for s in full_held), 0.0),
                window_full_episodes=len(full_held),
                nagle_s=sum((s.seconds for s in nagle_held), 0.0),
                nagle_episodes=len(nagle_held),
                stalls=stalls,
                stalled_s=_union_s(stalls),
            )
    per = {
        name: np.zeros(n)
        for name in ("rto_s", "zero_window_s", "window_full_s", "nagle_s", "stalled_s", "biggest_s")
    }
    per["window_full_s"][full.unknown] = np.nan
    per["nagle_s"][nagle.unknown] = np.nan
    rto_episodes = np.zeros(n, dtype=np.int64)
    window_full_episodes = np.zeros(n, dtype=np.int64)
    nagle_episodes = np.zeros(n, dtype=np.int64)
    syn_untimed = np.zeros(n, dtype=bool)
    synack_untimed = np.zeros(n, dtype=bool)
    biggest = np.full(n, "", dtype=object)
    where = np.searchsorted(ids, np.fromiter(visited, np.int64, len(visited))).tolist()
    for index, v in zip(where, visited.values(), strict=True):
        per["rto_s"][index] = v.rto_s
        per["zero_window_s"][index] = v.zero_window_s
        if not full.unknown[index]:
            per["window_full_s"][index] = v.window_full_s
            window_full_episodes[index] = v.window_full_episodes
        if not nagle.unknown[index]:
            per["nagle_s"][index] = v.nagle_s
            nagle_episodes[index] = v.nagle_episodes
        per["stalled_s"][index] = v.stalled_s
        rto_episodes[index] = v.rto_episodes
        syn_untimed[index] = v.syn_untimed
        synack_untimed[index] = v.synack_untimed
        big = max(v.stalls, key=lambda s: s.end_ns - s.start_ns, default=None)
        if big is not None:
            biggest[index] = big.cause.value
            per["biggest_s"][index] = big.seconds
    syn_retries = np.asarray(counts["syn_retransmits"], dtype=np.int64)
    synack_retries = np.asarray(counts["synack_retransmits"], dtype=np.int64)
    columns: dict[str, np.ndarray] = {
        "connect_s": connect,
        "syn_retries": syn_retries,
        "synack_retries": synack_retries,
        "handshake_rtt_ms": handshake_rtt_ms,
        "server_loop_ms": loops[0] / 1e6,
        "client_loop_ms": loops[1] / 1e6,
        "data_rtt_ms": data_rtt_ms,
        **_turn_columns(turns, one_way),
        "rto_s": per["rto_s"],
        "zero_window_s": per["zero_window_s"],
        "window_full_s": per["window_full_s"],
        "window_full_episodes": window_full_episodes,
        "nagle_s": per["nagle_s"],
        "nagle_episodes": nagle_episodes,
        "app_pause_s": pauses.seconds,
        "app_pause_side": pauses.side,
        "app_pause_judged_s": pauses.judged_s,
        "app_pause_judged_pipelined": pauses.judged_pipelined,
        **_after_tickets(facts, pauses, apps or {}),
        **restarts.columns(ids),
        "stalled_s": per["stalled_s"],
        "biggest_stall": biggest,
        "biggest_stall_s": per["biggest_s"],
        **transfers(
            facts,
            sent,
            {conn: (*v.stalls, *fast.get(conn, ())) for conn, v in visited.items()},
            handshake_rtt_ms,
            loops,
            full.unknown,
        ),
    }
    columns.update(_judged_turns(columns, _answers_requests(ids, apps or {})))
    columns["slow"] = slow_tags(
        columns, rto_episodes, limits, syn_untimed=syn_untimed, synack_untimed=synack_untimed
    )
    columns["response_unjudged"] = _unjudged_late(columns, limits)
    return DelaysTable(ids, columns, visited, limits, turns)


def _status_frames(apps: Mapping[int, App]) -> np.ndarray:
    """The frames that begin a later HTTP/1.x response with its status line
    (``app.App.status_frames``), sorted."""
    frames = [f for app in apps.values() for f in app.status_frames]
    return np.sort(np.asarray(frames, dtype=np.int64))


def _after_tickets(facts: Facts, pauses: Pauses, apps: Mapping[int, App]) -> dict[str, np.ndarray]:
    """Per connection, on TLS 1.3 (its ServerHello chose it): the client's request -> the
    server's data after its first proven pause that followed a request (``app_pause``:
    nothing from the client between, everything acknowledged, the window open), at the
    capture point: ``response_tls_wait_s`` (NaN: none) and ``response_tls_wait_at_ns``
    (when that data began, 0: none).

    A TLS 1.3 server sends its session tickets (NewSessionTicket, RFC 8446 4.6.1) as soon as
    it has the client's Finished, before its application reads the request (OpenSSL sends
    two); they are encrypted like application data, so they end the request's turn and the
    wait for the answer is a pause in the middle of the server's data. The capture cannot
    tell those records from the first part of an answer, nor the data after the pause from
    one the server sent unprompted (a WebSocket's or gRPC stream's push): the wait is
    measured and said, never judged (``_unjudged_late``)."""
    n = len(facts.conn_ids)
    wait_s = np.full(n, np.nan)
    at_ns = np.zeros(n, dtype=np.int64)
    chosen = [
        conn
        for conn, app in apps.items()
        if app.protocol == "tls"
        and app.server_hello is not None
        and app.server_hello.version == "TLS 1.3"
    ]
    if not chosen:
        return {"response_tls_wait_s": wait_s, "response_tls_wait_at_ns": at_ns}
    wanted = np.asarray(sorted(chosen), dtype=np.int64)
    pos = np.searchsorted(facts.conn_ids, wanted)
    inside = pos < n
    pos = pos[inside][facts.conn_ids[pos[inside]] == wanted[inside]]
    pos = pos[pauses.resumed_row[pos] >= 0]
    resumed, asked = pauses.resumed_row[pos], pauses.asked_row[pos]
    wait_s[pos] = _measured((facts.time_ns[resumed] - facts.time_ns[asked]) / 1e9)
    at_ns[pos] = facts.time_ns[resumed]
    return {"response_tls_wait_s": wait_s, "response_tls_wait_at_ns": at_ns}


#: ``DelaysTable.columns["response_judged"]`` codes: no judgement, the first turn, every turn.
_NOT_JUDGED, _FIRST_TURN, _EVERY_TURN = 0, 1, 2
_JUDGED_OF_CODE: dict[int, ResponseJudged | None] = {
    _NOT_JUDGED: None,
    _FIRST_TURN: ResponseJudged.FIRST_TURN,
    _EVERY_TURN: ResponseJudged.EVERY_TURN,
}
_JUDGED_NAME: dict[int, str | None] = {
    code: None if judged is None else judged.value for code, judged in _JUDGED_OF_CODE.items()
}
#: ``DelaysTable.columns["response_from"]`` codes (``one_way_turns.FORM_OF_CODE``) -> JSON.
_FROM_NAME: dict[int, str | None] = {
    code: None if form is None else form.value for code, form in FORM_OF_CODE.items()
}


def answers_requests(app: App | None) -> bool:
    """Do the connection's bytes show a protocol where each server reply answers a request,
    so that every turn's wait is a response time?

    Only HTTP/1.x in clear text (RFC 9112: a server sends a response only to a request; it
    never speaks first or unprompted), with both the request line and the status line
    captured, and no switch away from request/response:

    - status 101 (RFC 9110 15.2.2): after it the connection speaks the protocol of the
      ``Upgrade`` field (WebSocket, h2c), where the server pushes when it likes;
    - a ``CONNECT`` answered 2xx (RFC 9110 9.3.6): the connection is a tunnel (usually TLS)
      from then on.

    A status line not captured (the server's first bytes lost or outside the capture) cannot
    show that the server did not switch: no. TLS never qualifies (wss and gRPC streams
    negotiate http/1.1 and h2 too, and the capture cannot see a request from a push inside),
    nor does a protocol pcapline does not recognise; ports are never used. Only the first
    request and answer are read (``app.payloads``): a switch on a later request of a
    keep-alive connection is not seen.
    """
    if app is None or app.protocol != "http" or app.request is None or app.response is None:
        return False
    request, response = app.request, app.response
    if not (request.version.startswith("HTTP/1.") and response.version.startswith("HTTP/1.")):
        return False
    if response.status == 101:
        return False
    return not (request.method == "CONNECT" and 200 <= response.status < 300)


def _answers_requests(ids: np.ndarray, apps: Mapping[int, App]) -> np.ndarray:
    """``answers_requests`` per connection (``ids`` order, sorted); only the connections with
    an ``App`` are looked at (most have none)."""
    out = np.zeros(len(ids), dtype=bool)
    chosen = [conn for conn, app in apps.items() if answers_requests(app)]
    if chosen:
        wanted = np.asarray(chosen, dtype=np.int64)
        pos = np.searchsorted(ids, wanted)
        inside = pos < len(ids)
        pos = pos[inside]
        out[pos[ids[pos] == wanted[inside]]] = True
    return out


def _judged_turns(columns: Mapping[str, np.ndarray], every: np.ndarray) -> dict[str, np.ndarray]:
    """Which answer ``slow_response`` judges, per connection: ``response_judged`` (code),
    ``response_judged_s`` (its time, NaN: none), ``response_judged_turn`` (its number among
    the measured turns, 0: none) and ``response_judged_at_ns`` (when it began, 0: none).

    The first turn (``response_s``: the client's first request, the server's first answer) is
    judged on every connection: a server that speaks only when it likes still answers the
    request that opened the conversation (a login, an OPEN, a hello) or the client would not
    have sent it. Later turns are judged only where ``every`` (``answers_requests``): there the
    slowest of them (``response_max_s``). No judgement without a captured opening (the roles
    are guessed, and a turn may answer something sent before the capture began) or without
    a turn. A connection captured in one direction (``response_from`` ``server_ack`` or
    ``client_ack``) has its roles from its SYN+ACK or SYN and its turns timed as lower bounds:
    only its first turn, the bytes of one side showing no protocol.
    """
    first = np.asarray(columns["response_s"], dtype=float)
    most = np.asarray(columns["response_max_s"], dtype=float)
    opened = _opened(columns)
    every = every & ~np.isnan(most) & ~timed_one_way(columns)
    code = np.where(every, _EVERY_TURN, _FIRST_TURN).astype(np.int8)
    code[~opened | (np.isnan(first) & ~every)] = _NOT_JUDGED
    judged_s = np.where(every, most, first)
    judged_s[code == _NOT_JUDGED] = np.nan
    turn = np.where(every, columns["response_max_turn"], 1).astype(np.int64)
    at_ns = np.where(every, columns["response_max_at_ns"], columns["response_first_at_ns"])
    turn[code == _NOT_JUDGED] = 0
    at_ns[code == _NOT_JUDGED] = 0
    acked_s = np.where(
        every,
        np.asarray(columns["response_max_acked_s"], dtype=float),
        np.asarray(columns["response_first_acked_s"], dtype=float),
    )
    return {
        "response_judged": code,
        "response_judged_s": judged_s,
        "response_judged_turn": turn,
        "response_judged_at_ns": at_ns.astype(np.int64),
        "response_judged_acked_s": acked_s,
    }


def slow_tags(
    columns: Mapping[str, np.ndarray],
    rto_episodes: np.ndarray,
    limits: SlowThresholds,
    *,
    syn_untimed: np.ndarray | None = None,
    synack_untimed: np.ndarray | None = None,
) -> np.ndarray:
    """Per connection, the tuple of ``SlowTag`` its measures earn (declaration order).
    ``syn_untimed``: SYNs sent again by no timer (``_Visited.syn_untimed``): no syn_retry;
    ``synack_untimed``: SYN+ACKs that each answered a resent SYN: no synack_retry."""
    timed = np.zeros(len(rto_episodes), dtype=bool)
    untimed = timed if syn_untimed is None else syn_untimed
    answering = timed if synack_untimed is None else synack_untimed
    with np.errstate(invalid="ignore"):  # NaN (not measured) never passes a threshold
        earned = {
            SlowTag.SYN_RETRY: (columns["syn_retries"] > 0) & ~untimed,
            SlowTag.SYNACK_RETRY: (columns["synack_retries"] > 0) & ~answering,
            SlowTag.RTO_STALL: rto_episodes > 0,
            SlowTag.ZERO_WINDOW_STALL: columns["zero_window_s"] >= limits.zero_window_s,
            SlowTag.SLOW_RESPONSE: _slow_answer(columns, limits),
            SlowTag.SLOW_CONNECT: columns["connect_s"] >= limits.connect_s,
            SlowTag.WINDOW_FULL_STALL: _column(columns, "window_full_s") >= limits.window_full_s,
            SlowTag.NAGLE_STALL: _column(columns, "nagle_s") >= limits.nagle_s,
            SlowTag.APP_PAUSE: _paused_answer(columns, limits),
            SlowTag.IDLE_RESTART: _column(columns, "idle_restart_s") >= limits.idle_restart_s,
        }
    n = len(columns["syn_retries"])
    out = np.empty(n, dtype=object)
    none: tuple[SlowTag, ...] = ()
    out[:] = [none] * n
    any_tag = np.zeros(n, dtype=bool)
    for mask in earned.values():
        any_tag |= mask
    for i in np.flatnonzero(any_tag).tolist():
        out[i] = tuple(tag for tag, mask in earned.items() if mask[i])
    return out


def _paused_answer(columns: Mapping[str, np.ndarray], limits: SlowThresholds) -> np.ndarray:
    """A server's application paused mid-answer (``app_pause.Pauses.judged_s``) for
    ``limits.response_s`` or more, on a connection whose turns are all judged (the bytes show
    requests each answered: ``every_turn``); not given (a caller of ``slow_tags`` alone): no."""
    if "response_judged" not in columns:
        return np.zeros(len(columns["syn_retries"]), dtype=bool)
    every = np.asarray(columns["response_judged"]) == _EVERY_TURN
    with np.errstate(invalid="ignore"):  # NaN (not given) never passes
        return np.asarray(every & (_column(columns, "app_pause_judged_s") >= limits.response_s))


def _column(columns: Mapping[str, np.ndarray], name: str) -> np.ndarray:
    """A measure column, NaN (never past a threshold) when the caller did not give it."""
    if name in columns:
        return np.asarray(columns[name], dtype=float)
    return np.full(len(columns["syn_retries"]), np.nan)


def _slow_answer(columns: Mapping[str, np.ndarray], limits: SlowThresholds) -> np.ndarray:
    """An answer is slow when, less one round trip, it still took ``response_s``, on a
    connection whose opening was captured. The answer judged is ``response_judged_s``
    (``_judged_turns``): on a connection whose bytes show requests each answered, the slowest
    turn (a keep-alive connection whose third request waited is as slow for that request as
    one whose first did); elsewhere the first (``response_s`` when the caller gave no
    ``response_judged_s``).

    A response time at the client includes a round trip, at the server none, in the middle
    part of one: less the handshake's round trip (the whole path, from any capture point) it
    is a lower bound of the server's own time wherever the capture was made, so a path of
    long round trips (or a synthetic capture spacing every packet 1 s apart) is not a slow
    server. Without the handshake the roles are guessed and the turn may answer something
    sent before the capture began: no judgement.
    """
    if "response_judged_s" in columns:
        judged, acked = columns["response_judged_s"], columns.get("response_judged_acked_s")
    else:
        judged, acked = columns["response_s"], columns.get("response_first_acked_s")
    return _late(columns, judged, limits, acked)


def timed_one_way(columns: Mapping[str, np.ndarray]) -> np.ndarray:
    """Per connection: its turns were timed in one direction (``one_way_turns``: a lower
    bound, the round trip already out of it); a caller without ``response_from``: none."""
    if "response_from" not in columns:
        return np.zeros(len(columns["syn_retries"]), dtype=bool)
    form = np.asarray(columns["response_from"])
    return np.asarray((form != NO_FORM) & (form != REQUEST))


def _opened(columns: Mapping[str, np.ndarray]) -> np.ndarray:
    """Per connection: the roles are known from the opening: its handshake was captured, or
    in a one-direction capture the SYN+ACK (server's packets) or the SYN and handshake ACK
    (client's) that its ``one_way_turns`` form needs."""
    opened: np.ndarray = ~np.isnan(np.asarray(columns["connect_s"], dtype=float))
    opened |= timed_one_way(columns)
    return opened


def _late(
    columns: Mapping[str, np.ndarray],
    answer_s: np.ndarray,
    limits: SlowThresholds,
    acked_s: np.ndarray | None = None,
) -> np.ndarray:
    """Per connection: its opening was captured and ``answer_s``, less the handshake round
    trip, took ``limits.response_s`` (NaN, not measured, never does). A one-direction lower
    bound has no round trip in it to take off (``one_way_turns``).

    Without the handshake's round trip (a SYN or SYN+ACK was retried: Karn; a lost SYN is
    common, and a path slower than the 1 s initial RTO retries every SYN) the loop from the
    capture point to the server is still in the answer. ``acked_s``, the judged turn's
    request -> the server's first bare ACK of it (``Turns.first_acked_s``), takes its place:
    that loop plus at most a delayed ACK (a receiver's kernel acknowledges within its
    delayed-ACK timer, Linux 200 ms at most, whatever its application does), so the rest is
    a floor of the server's time. A bare ACK later than twice the longest delayed ACK
    (``explain_slow._reached_late``) shows the request held up on the path: the answer is
    judged as measured (late, and its words say where the time went), as with a round trip
    measured before the queue stood. Where the answer carried the server's first ACK (NaN)
    nothing separates the path from the server (a Linux server whose application took a
    second sends a bare ACK first): not judged. A caller without ``acked_s`` takes nothing
    off."""
    rtt_s = np.asarray(columns["handshake_rtt_ms"], dtype=float) / 1e3
    if acked_s is None:
        fallback = np.zeros(len(rtt_s))
    else:
        fallback = np.asarray(acked_s, dtype=float)
        with np.errstate(invalid="ignore"):  # NaN (the answer carried the ACK) stays NaN
            fallback = np.where(fallback > 2 * DELACK_CEILING_S, 0.0, fallback)
    rtt_s = np.where(np.isnan(rtt_s), fallback, rtt_s)
    rtt_s = np.where(timed_one_way(columns), 0.0, rtt_s)
    opened = _opened(columns)
    with np.errstate(invalid="ignore"):
        late = np.asarray(answer_s, dtype=float) - rtt_s >= limits.response_s
    out: np.ndarray = np.logical_and(opened, late)
    return out


def _unjudged_late(columns: Mapping[str, np.ndarray], limits: SlowThresholds) -> np.ndarray:
    """Per connection: its slowest turn would take the ``slow_response`` threshold and was
    not judged: a later turn where only the first was judged (the server data that came late
    after client data may have answered nothing), or any turn of a connection whose opening
    the capture missed (the roles are guessed: it may not have been asked). Explain words
    it, so that "nothing unusual" is not all that is said of a late answer."""
    judged = np.asarray(columns["response_judged"])
    later = (judged == _FIRST_TURN) & (np.asarray(columns["response_max_turn"]) > 1)
    late = _late(columns, columns["response_max_s"], limits, columns.get("response_max_acked_s"))
    unopened = (judged == _NOT_JUDGED) & ~_opened(columns)
    with np.errstate(invalid="ignore"):  # no round trip to take off: the answer as measured
        unopened &= np.asarray(columns["response_max_s"], dtype=float) >= limits.response_s
    out: np.ndarray = (later & late) | unopened
    if "response_tls_wait_s" in columns:  # TLS 1.3: a wait after the session tickets
        out |= (judged == _FIRST_TURN) & _late(columns, columns["response_tls_wait_s"], limits)
    return out


# --- columnar measures ------------------------------------------------------------------


def _connect_s(facts: Facts, events: pd.DataFrame) -> np.ndarray:
    """First SYN -> handshake ACK per connection, from the handshake detector's columnar
    ``syn`` and ``handshake_ack`` events (NaN: no complete handshake seen)."""
    out = np.full(len(facts.conn_ids), np.nan)
    conn, time_ns = events["conn"].to_numpy(), events["time_ns"].to_numpy()
    syn, ack = _of_kind(events, EventKind.SYN), _of_kind(events, EventKind.HANDSHAKE_ACK)
    # One SYN and one handshake ACK event per connection at most (the handshake detector's
    # first of each): matched by connection id in numpy, not through two indexed Series.
    both, at_syn, at_ack = np.intersect1d(conn[syn], conn[ack], return_indices=True)
    if len(both):
        pos = np.searchsorted(facts.conn_ids, both)
        out[pos] = (time_ns[ack][at_ack] - time_ns[syn][at_syn]) / 1e9
    return out


def _connect_at_one_point(facts: Facts, events: pd.DataFrame, out: np.ndarray) -> np.ndarray:
    """``_connect_s`` of connections seen at two capture points, the handshake ACK timed by
    its sighting at the point that saw the first SYN (``points.at_point_of``): a SYN dropped
    between the points is seen at one of them only, and their clocks may differ."""
    copied = np.flatnonzero((rows_per_connection(facts.is_dup, facts.starts) > 0) & ~np.isnan(out))
    if not len(copied):
        return out
    conn, frame = events["conn"].to_numpy(), events["frame"].to_numpy()
    syn, ack = _of_kind(events, EventKind.SYN), _of_kind(events, EventKind.HANDSHAKE_ACK)
    syn_frame = pd.Series(frame[syn], index=conn[syn]).groupby(level=0).first()
    ack_frame = pd.Series(frame[ack], index=conn[ack]).groupby(level=0).first()
    for k in copied.tolist():
        lo, hi = int(facts.starts[k]), int(facts.starts[k + 1])
        cid = int(facts.conn_ids[k])
        frames = facts.frame[lo:hi]
        s_row = lo + int(np.searchsorted(frames, syn_frame[cid]))
        a_row = lo + int(np.searchsorted(frames, ack_frame[cid]))
        if max(s_row, a_row) < hi:
            acked = points.at_point_of(facts, lo, hi, s_row, a_row)
            out[k] = (acked - int(facts.time_ns[s_row])) / 1e9
    return out


def _of_kind(events: pd.DataFrame, *kinds: EventKind) -> np.ndarray:
    """Which rows of ``events`` are of one of ``kinds``: compared in the column's own string
    type (the kinds as Python strings first cost twice the comparison)."""
    if events.empty:  # no event (no TCP): isin's set-up for nothing
        return np.zeros(0, dtype=bool)
    chosen = events["kind"].isin([kind.value for kind in kinds])
    out: np.ndarray = chosen.to_numpy(dtype=bool, na_value=False)
    return out


@dataclass(frozen=True, slots=True)
class Turns:
    """Every request/response turn of a capture (one row per server answer after client data,
    in connection then time order), and per connection the measures drawn from them."""

    conn: np.ndarray  # connection id of each turn
    answer_ns: np.ndarray  # time of the answer's first byte (at the capture point)
    response_s: np.ndarray  # client's last byte -> that answer
    first_s: np.ndarray  # per connection (facts.conn_ids order): first response time, NaN
    count: np.ndarray  # per connection: number of turns
    max_s: np.ndarray  # per connection: the slowest answer, NaN if none
    median_s: np.ndarray  # per connection: the median answer, NaN if none
    silence_s: np.ndarray  # per connection: the longest owed silence, NaN if none
    silence_side: np.ndarray  # per connection: who owed it (1 client, 0 server, -1 none)
    max_turn: np.ndarray  # per connection: the slowest turn's number (1 = first), 0 if none
    max_at_ns: np.ndarray  # per connection: when the slowest turn's answer began, 0 if none
    first_at_ns: np.ndarray  # per connection: when the first turn's answer began, 0 if none
    #: Per connection, for its first and its slowest turn: the request's last byte -> the
    #: server's first bare ACK of it before the answer; NaN when none came or not measured
    #: (turns shorter than ``ACKED_FROM_S`` are not looked at).
    first_acked_s: np.ndarray
    max_acked_s: np.ndarray

    #: The columns with one row per turn (the others have one per connection).
    PER_TURN = ("conn", "answer_ns", "response_s")

    def turn_rows(self) -> Turns:
        """Only the rows of the turns, the per-connection columns left empty: what the
        cross-connection findings read (``response_jump``), as the bounded-memory engine's
        parent keeps it for every partition."""
        empty = {
            f.name: getattr(self, f.name)[:0] for f in fields(self) if f.name not in self.PER_TURN
        }
        return replace(self, **empty)

    def select(self, keep: set[int]) -> Turns:
        """The turns of the connections in ``keep`` (the per-connection columns are only
        read through ``DelaysTable.columns``, which ``select`` filters itself)."""
        rows = np.isin(self.conn, list(keep))
        return replace(
            self,
            conn=self.conn[rows],
            answer_ns=self.answer_ns[rows],
            response_s=self.response_s[rows],
        )


def _turns(facts: Facts, peer_end: np.ndarray | None = None) -> Turns:
    """Request/response turns, from the data segments in capture order.

    A turn is new data from one side after new data from the other: the gap is the silence
    before the answer, from the other side's last data segment before it. Capture duplicates
    and probes (keepalive, window probes) are no data. Retransmitted copies (``is_retrans``:
    bytes the sender had sent before, seen or not) end a request, at the capture point, when
    the last copy before the answer went by; they start no run and answer nothing: a request
    copy resent after its answer (the answer lost on the way) and the answer's resent copy are
    loss recovery, not a new request and a slow answer. An answer the capture sees only as a
    retransmission (its first send lost before the capture point) is no turn: its wait was
    the sender's retransmission backoff, not its think time. The server owes an answer after
    each client run (every such turn is a response time); the client owes one only after a
    greeting the server opened the connection with.
    """
    n = len(facts.conn_ids)
    first = np.full(n, np.nan)
    silence = np.full(n, np.nan)
    side = np.full(n, -1, dtype=np.int64)
    first_at = np.zeros(n, dtype=np.int64)
    data = (facts.seg_len > 0) & ~facts.is_dup & ~facts.probe_shape & ~facts.is_window_probe
    rows = np.flatnonzero(data)  # fewer than two: no turn, every measure empty or NaN
    conn = facts.conn_index[rows]
    client = facts.from_client[rows]
    t = facts.time_ns[rows]
    fresh = np.flatnonzero(~facts.is_retrans[rows])  # positions of new data, in order
    after = fresh[1:][
        (conn[fresh[1:]] == conn[fresh[:-1]]) & (client[fresh[1:]] != client[fresh[:-1]])
    ]  # the answers: new data after the other side's new data, one per turn
    # The other side's last data (copies too) before each answer: its new data is between,
    # so the same connection (rows are in connection, then time order). A copy of bytes the
    # peer had already acknowledged when it went by (a spurious retransmission: the timer
    # fired while the ACK was on its way) ends nothing: the request had arrived before it,
    # and the wait runs from the data the ACK covered.
    position = np.arange(len(rows))
    una = facts.snd_una[rows]
    spurious = facts.is_retrans[rows] & (una != UNKNOWN) & (una >= facts.seq_end[rows])
    last_client = np.maximum.accumulate(np.where(client & ~spurious, position, -1))
    last_server = np.maximum.accumulate(np.where(client | spurious, -1, position))
    asked = np.where(client[after], last_server[after - 1], last_client[after - 1])
    gap = _measured((t[after] - t[asked]) / 1e9)  # NaN across a timestamp step back
    own_unseen, acks_unseen = holes_before(facts, rows, peer_end)
    gap[own_unseen[after] | acks_unseen[after]] = np.nan  # the wait went by unseen
    # The server owes an answer after each client run; the client only after a greeting the
    # server opened the connection with: the connection's first turn, when it follows
    # server data (before a connection's first turn all its data came from one side).
    turn_conn = conn[after]
    first_turn = np.ones(len(after), dtype=bool)
    first_turn[1:] = turn_conn[1:] != turn_conn[:-1]
    server_owes = ~client[after]
    client_owes = first_turn & client[after]
    k = np.flatnonzero(server_owes)  # in connection, then time order
    # First response: the first server-owed turn of each connection (written last wins).
    first[turn_conn[k[::-1]]] = gap[k[::-1]]
    first_at[turn_conn[k[::-1]]] = t[after[k[::-1]]]
    # ... unless a data segment before its answer acknowledged bytes the capture never held
    # (a request or an answer the tap lost: no later copy fills what the peer already
    # acknowledged): the first turn seen is then not the one that opened the conversation,
    # the only one judged on a protocol whose server may speak unprompted (``_judged_turns``).
    if len(k):
        first_answer = np.full(n, len(rows), dtype=np.int64)
        first_answer[turn_conn[k[::-1]]] = after[k[::-1]]
        first_hole = np.full(n, len(rows), dtype=np.int64)
        holes = np.flatnonzero(acks_unseen)
        np.minimum.at(first_hole, conn[holes], holes)
        first[first_hole < first_answer] = np.nan
    k = k[~np.isnan(gap[k])]  # the other measures: turns whose time was measured
    stats = _TurnStats.of(turn_conn[k], gap[k], t[after[k]], n)
    count, most, median = stats.count, stats.max_s, stats.median_s
    max_turn, max_at = stats.max_turn, stats.max_at_ns
    first_acked = np.full(n, np.nan)
    max_acked = np.full(n, np.nan)
    for measure, chosen in ((first_acked, first_at), (max_acked, max_at)):
        _acked_turns(facts, measure, chosen, rows, after, asked, gap, turn_conn, server_owes)
    owed = np.flatnonzero((server_owes | client_owes) & ~np.isnan(gap))
    if len(owed):
        order = owed[np.lexsort((gap[owed], turn_conn[owed]))]  # by conn, then gap ascending
        silence[turn_conn[order]] = gap[order]  # the largest gap per connection: written last
        side[turn_conn[order]] = client[after[order]]  # the answering side is the one that owed
    return Turns(
        facts.conn_ids[turn_conn[k]],
        t[after[k]],
        gap[k],
        first,
        count,
        most,
        median,
        silence,
        side,
        max_turn,
        max_at,
        first_at,
        first_acked,
        max_acked,
    )


@dataclass(frozen=True, slots=True)
class _TurnStats:
    """Per connection (``facts.conn_ids`` order), the measures of its measured turns."""

    count: np.ndarray  # number of turns
    max_s: np.ndarray  # the slowest, NaN if none
    median_s: np.ndarray  # the median, NaN if none
    max_turn: np.ndarray  # the slowest turn's number (1 = first; the first of equals), 0: none
    max_at_ns: np.ndarray  # when the slowest turn's answer began, 0: none

    @staticmethod
    def of(turn_conn: np.ndarray, seconds: np.ndarray, answer_ns: np.ndarray, n: int) -> _TurnStats:
        """From the measured turns (no NaN), in connection then time order: ``turn_conn``
        (connection index), ``seconds`` and ``answer_ns`` each."""
        count = np.zeros(n, dtype=np.int64)
        most = np.full(n, np.nan)
        median = np.full(n, np.nan)
        max_turn = np.zeros(n, dtype=np.int64)
        max_at = np.zeros(n, dtype=np.int64)
        if len(turn_conn):
            by_conn = pd.Series(seconds).groupby(turn_conn, sort=True)
            index = by_conn.size().index.to_numpy()
            count[index] = by_conn.size().to_numpy()
            most[index] = by_conn.max().to_numpy()
            median[index] = by_conn.median().to_numpy()
            # The slowest turn (the first of equals): its number among the connection's
            # measured turns and when its answer began.
            number = by_conn.cumcount().to_numpy() + 1
            slowest = by_conn.idxmax().to_numpy()  # positions into the turns
            max_turn[index] = number[slowest]
            max_at[index] = answer_ns[slowest]
        return _TurnStats(count, most, median, max_turn, max_at)


def _turn_columns(turns: Turns, one_way: OneWayTurns) -> dict[str, np.ndarray]:
    """The turn columns of ``DelaysTable``: the two-direction turns (``_turns``), and on a
    connection captured in one direction (which has none) its ``one_way_turns`` lower
    bounds, the first turn's two proof frames, and ``response_from`` saying which."""
    n = len(turns.first_s)
    timed = (turns.count > 0) | ~np.isnan(turns.first_s)
    form = np.where(timed, REQUEST, NO_FORM).astype(np.int8)
    columns = {
        "response_s": turns.first_s,
        "responses": turns.count,
        "response_max_s": turns.max_s,
        "response_max_turn": turns.max_turn,
        "response_max_at_ns": turns.max_at_ns,
        "response_first_at_ns": turns.first_at_ns,
        "response_first_acked_s": turns.first_acked_s,
        "response_max_acked_s": turns.max_acked_s,
        "response_median_s": turns.median_s,
        "longest_silence_s": turns.silence_s,
        "silence_side": turns.silence_side,
        "response_from": form,
        "response_from_frame": np.zeros(n, dtype=np.int64),
        "response_to_frame": np.zeros(n, dtype=np.int64),
    }
    if not len(one_way.conn):
        return columns
    columns = {name: values.copy() for name, values in columns.items()}
    # The first turn of each one-direction connection (the turns are in connection order).
    first = np.ones(len(one_way.conn), dtype=bool)
    first[1:] = one_way.conn[1:] != one_way.conn[:-1]
    head = np.flatnonzero(first)
    measured = ~np.isnan(one_way.bound_s)
    stats = _TurnStats.of(
        one_way.conn[measured], one_way.bound_s[measured], one_way.answer_ns[measured], n
    )
    conns = one_way.conn[head]
    columns["response_s"][conns] = one_way.bound_s[head]
    columns["response_first_at_ns"][conns] = one_way.answer_ns[head]
    proven = conns[measured[head]]
    columns["response_from_frame"][proven] = one_way.from_frame[head][measured[head]]
    columns["response_to_frame"][proven] = one_way.to_frame[head][measured[head]]
    counted = np.flatnonzero(stats.count > 0)
    for name, values in (
        ("responses", stats.count),
        ("response_max_s", stats.max_s),
        ("response_median_s", stats.median_s),
        ("response_max_turn", stats.max_turn),
        ("response_max_at_ns", stats.max_at_ns),
        ("longest_silence_s", stats.max_s),  # the server owed every one of them
    ):
        columns[name][counted] = values[counted]
    columns["silence_side"][counted] = 0  # the server (``Turns.silence_side``)
    by_bound = np.union1d(counted, proven)  # connections with a turn timed one way
    columns["response_from"][by_bound] = one_way.form[np.searchsorted(one_way.conn[head], by_bound)]
    return columns


#: Turns quicker than this are not asked when the server acknowledged their request: no slow
#: answer note reads them (the thresholds start at a second).
ACKED_FROM_S = 0.25


def _acked_turns(
    facts: Facts,
    out: np.ndarray,
    chosen_at: np.ndarray,
    rows: np.ndarray,
    after: np.ndarray,
    asked: np.ndarray,
    gap: np.ndarray,
    turn_conn: np.ndarray,
    server_owes: np.ndarray,
) -> None:
    """Fill ``out`` (per connection) for the server-owed turn whose answer began at
    ``chosen_at`` of its connection: seconds from the request's last byte to the server's
    first bare ACK of it before the answer (NaN: the answer carried the first ACK). A
    receiver's kernel acknowledges data within its delayed-ACK timer (Linux: 200 ms at most,
    TCP_DELACK_MAX) whatever its application does, so that time tells when the request
    reached the server's TCP; a bare ACK also shows that the server's stack acknowledges on
    its own (some embedded stacks and synthetic captures never do: there an ACK riding on
    the answer tells nothing). Only the few turns of ``ACKED_FROM_S`` or more are looked at,
    one slice each."""
    answer_ns = facts.time_ns[rows[after]]
    pick = np.flatnonzero(
        server_owes & ~np.isnan(gap) & (gap >= ACKED_FROM_S) & (answer_ns == chosen_at[turn_conn])
    )
    for turn in pick.tolist():
        request, answer = int(rows[asked[turn]]), int(rows[after[turn]])
        span = slice(request + 1, answer)
        acks = (
            ~facts.from_client[span]
            & (facts.seg_len[span] == 0)
            & ~facts.syn[span]
            & ~facts.fin[span]
            & ~facts.rst[span]
            & facts.ack[span]
            & (facts.rel_ack[span] >= facts.seq_end[request])
            & (facts.rel_ack[span] != UNKNOWN)
        )
        first = np.flatnonzero(acks)
        if len(first):
            out[turn_conn[turn]] = (
                facts.time_ns[request + 1 + int(first[0])] - facts.time_ns[request]
            ) / 1e9


# --- per visited connection -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Rows:
    """The few columns of one connection the per-connection measures read (a light
    ``detect.ConnView``: slicing every facts column costs more than the measures)."""

    conn: int
    frame: np.ndarray
    time_ns: np.ndarray
    from_client: np.ndarray
    ack: np.ndarray
    rel_ack: np.ndarray
    rel_seq: np.ndarray
    capture_end_ns: int
    #: New data: a payload neither resent nor a capture duplicate (``_answered_after``).
    seg_len: np.ndarray
    is_retrans: np.ndarray
    is_dup: np.ndarray

    @classmethod
    def of(cls, facts: Facts, index: int) -> _Rows:
        lo, hi = int(facts.starts[index]), int(facts.starts[index + 1])
        return cls(
            int(facts.conn_ids[index]),
            facts.frame[lo:hi],
            facts.time_ns[lo:hi],
            facts.from_client[lo:hi],
            facts.ack[lo:hi],
            facts.rel_ack[lo:hi],
            facts.rel_seq[lo:hi],
            facts.capture_end_ns,
            facts.seg_len[lo:hi],
            facts.is_retrans[lo:hi],
            facts.is_dup[lo:hi],
        )

    def side(self, i: int) -> Side:
        return Side.CLIENT if self.from_client[i] else Side.SERVER


def _visit(
    facts: Facts,
    index: int,
    found: ConnDetections,
    resent: _Resent,
    windows: pd.DataFrame | None,
    window_full: tuple[Stall, ...] = (),
    nagle: tuple[Stall, ...] = (),
) -> tuple[_Visited | None, list[Stall]]:
    """What one visited connection lost (None: nothing), and its fast-recovery episodes
    (kept apart from the stalls: transfer.py reads them as loss). ``resent``: the
    retransmissions of the connections it was measured with (``_Resent.of``)."""
    hs = found.handshake.inferred
    retransmit = found.retransmit.inferred
    zw = found.zero_window.inferred
    syn_untimed = hs.syn is not None and hs.syn.retries > 0 and not hs.syn.timed
    syn_retried = hs.syn is not None and hs.syn.retries > 0
    synack_retried = hs.synack is not None and hs.synack.retries > 0
    synack_untimed = hs.synack is not None and synack_retried and not hs.synack.timed
    lost = syn_retried or synack_retried or retransmit.rto or retransmit.fast or zw
    if not (lost or window_full or nagle):
        return None, []
    view = _Rows.of(facts, index)
    stalls: list[Stall] = []
    syn_gaps: tuple[float, ...] = ()
    synack_gaps: tuple[float, ...] = ()
    if hs.syn is not None and syn_retried:
        syn_gaps = _gaps(hs.syn.times)
    if hs.syn is not None and syn_retried and not syn_untimed:
        answered = hs.answer != "none" or hs.synack_proven is not None
        stalls.append(_retry_stall(view, hs.syn, StallCause.SYN_RETRY, answered))
    if hs.synack is not None and synack_retried:
        synack_gaps = _gaps(hs.synack.times)
    if hs.synack is not None and synack_retried and not synack_untimed:
        # SYN+ACKs after the client's ACK: the server did not take that ACK (full accept queue).
        answered = hs.ack_proven is not None or (hs.client_acked and not hs.synack_after_ack)
        stalls.append(_retry_stall(view, hs.synack, StallCause.SYNACK_RETRY, answered))
    rto, fast = _episodes(view, resent)
    rto = _until_give_up(view, retransmit.last_series, rto)
    stalls += rto
    if zw is not None and windows is not None:
        stalls += _zero_windows(view, windows)
    full, held = _held_back(window_full, nagle, [*stalls, *fast])
    stalls += full
    stalls += held
    stalls.sort(key=lambda s: (s.start_ns, s.end_ns))
    visited = _Visited(
        syn_gaps=syn_gaps,
        synack_gaps=synack_gaps,
        rto_episodes=len(rto),
        rto_unrecovered=sum(not s.recovered for s in rto),
        rto_s=sum((s.seconds for s in rto), 0.0),
        fast_episodes=len(fast),
        fast_s=sum((s.seconds for s in fast), 0.0),
        zero_window_s=zw.stalled_s if zw is not None else 0.0,
        window_full_s=sum((s.seconds for s in full), 0.0),
        window_full_episodes=len(full),
        nagle_s=sum((s.seconds for s in held), 0.0),
        nagle_episodes=len(held),
        stalls=tuple(stalls),
        stalled_s=_union_s(stalls),
        syn_untimed=syn_untimed,
        synack_untimed=synack_untimed,
    )
    return visited, fast


def _held_back(
    window_full: tuple[Stall, ...], nagle: tuple[Stall, ...], lost: list[Stall]
) -> tuple[tuple[Stall, ...], tuple[Stall, ...]]:
    """The window-full and the Nagle waits, each less the seconds another stall held the
    sender: loss and a closed window win over a full window (window_full.py says why), and
    all of those over a held small write, so no second counts twice."""
    full = clipped(window_full, lost)
    return full, clipped(nagle, [*lost, *full])


def _gaps(times: Sequence[float]) -> tuple[float, ...]:
    return tuple(round(b - a, 6) for a, b in itertools.pairwise(times))


def _row(view: _Rows, frame: int) -> int:
    return int(view.frame.searchsorted(frame))


def _retry_stall(view: _Rows, series: RetrySeries, cause: StallCause, answered: bool) -> Stall:
    """First transmission -> the last retry when one was answered (had the first been answered,
    the wait would have ended about then); unanswered, -> the kernel's give-up (the timer after
    the last retry, ``RetrySeries.give_up_after_s``): the kernel aborts then whether or not
    the capture lasted that long (a pcap file has no end-of-capture time)."""
    first, last = _row(view, series.frames[0]), _row(view, series.frames[-1])
    start_ns, end_ns = int(view.time_ns[first]), int(view.time_ns[last])
    if not answered and series.give_up_after_s is not None:
        give_up_ns = start_ns + round(series.give_up_after_s * 1e9)
        end_ns = max(end_ns, give_up_ns)
    return Stall(
        cause=cause,
        side=view.side(first),
        start_ns=start_ns,
        end_ns=end_ns,
        recovered=answered,
        frame=int(series.frames[0]),
    )


def _until_give_up(view: _Rows, series: RtoSeries | None, episodes: list[Stall]) -> list[Stall]:
    """An unrecovered last episode lasts until the sender gave up (the retransmit detector's
    ``give_up_after_s`` from the series' first transmission: tcp_retries2 or
    TCP_USER_TIMEOUT), as the detector inferred it, or else to the end of the capture (still
    unacknowledged there); the last retransmission is only its last sign on the wire. Never
    past the capture's end: what came after it, the capture cannot show."""
    if not episodes or series is None or series.acked or series.acks_unseen:
        return episodes
    if series.peer_rst_frame is not None:
        return episodes  # the peer's RST ended the wait, not the sender's timer
    last = episodes[-1]
    if last.recovered:
        return episodes
    end_ns = view.capture_end_ns
    if series.give_up_after_s is not None:
        start_ns = int(view.time_ns[_row(view, series.frames[0])])
        end_ns = min(end_ns, start_ns + round(series.give_up_after_s * 1e9))
    return [*episodes[:-1], replace(last, end_ns=max(last.end_ns, end_ns))]


def _episodes(view: _Rows, resent: _Resent) -> tuple[list[Stall], list[Stall]]:
    """Retransmission episodes from the retransmit detector's events: those of its timeouts
    (``retransmit``) and those of its fast retransmissions, apart (one walk for both).

    An episode starts at the first copy of the data a retransmission resent (the event's gap
    back from it) and ends at the first peer ACK above that data's first byte; a later
    retransmission of the same kind by the same side before that ACK is another step of the
    same episode (the RTO backoff, or the next hole of the same outage). The kinds of one
    side never overlap: the RTO ends what loss recovery did not (a timeout during a loss
    recovery episode takes that episode in, from its start: ``_absorb``), and a loss
    recovery copy during a timeout episode is a step of it; no episode of a side starts
    inside the one before it (a copy's gap reaches back to the copy before it).
    """
    lo, hi = resent.events.get(view.conn, (0, 0))
    if lo == hi:
        return [], []
    rto_kind = EventKind.RETRANSMIT.value
    episodes: list[_Episode] = []
    open_episode: dict[tuple[bool, bool], _Episode] = {}  # (timeout?, side) -> its latest
    for n in range(lo, hi):
        i, client = resent.rows[n], resent.client[n]
        if resent.peer_unseen[n]:
            # The peer's direction is not in the capture: its ACKs cannot end the episode.
            # The sender's own ACK number rising, or its new data going out, shows the peer
            # answered (recovered): the episode ends at the first of them, at the latest (it
            # ended at the copy, and every copy of one outage made an episode of its own).
            # Without either the capture cannot show whether it did: no stall is claimed.
            answered = _answered_after(view, i)
            if answered is None:
                continue
            ended, end_ns = True, int(view.time_ns[answered])
            if view.rel_ack[answered] > view.rel_ack[i]:
                # Its ACK number rose: the peer had sent data in between (an answer: a turn
                # of both applications lies inside, the next request after the response), so
                # that row bounds the recovery from far above. The timer's waits up to its
                # resends are what the capture shows: the episode is claimed to the last one
                # before that row (later copies of this outage stay its steps), a floor.
                end_ns = _last_resend_ns(view, i, answered)
        else:
            ended, end_ns = resent.acked[n], resent.ack_ns[n]
            if resent.ack_late[n]:
                # A capture filtered to payload shows the peer's ACK only on its next data,
                # which may come long after the bare ACK that ended the recovery: what the
                # capture shows is the sender's resends up to it, a floor (as above).
                end_ns = _last_resend_ns(view, i, resent.ack_rows[n])
        key = (resent.kind[n] == rto_kind, client)
        # A loss recovery copy while a timeout episode of the side is on is a step of that
        # outage (the holes left after the RTO, resent as the ACKs come back).
        timer = open_episode.get((True, client))
        latest = open_episode.get(key) if key[0] or not _during(timer, n, resent) else timer
        gap = resent.gap[n]
        if latest is not None and (
            _during(latest, n, resent) or _same_burst(latest, n, resent, key[0], gap)
        ):
            latest.end_ns, latest.recovered = max(latest.end_ns, end_ns), ended
            continue
        if gap == gap:  # NaN: no earlier copy captured
            start_ns = resent.time_ns[n] - round(gap * 1e9)
        elif not key[0]:
            # A loss recovery copy whose first copy was lost before the capture point (a
            # capture at the receiver, or past the drop): the sender's first data above it went
            # by just after that copy would have (new data leaves in order), and the receiver's
            # hole opened then. From the peer's last ACK before the resend it read a few ms
            # (the dupACK that triggered it), a fraction of the sender's own episode.
            start_ns = resent.hole_ns[n]
        else:
            # No earlier copy captured: the timer ran at least since the peer last spoke (every
            # ACK that advances snd.una restarts it, and a timeout means the peer fell silent).
            start_ns = resent.peer_spoke_ns[n]
        latest = _Episode(client, start_ns, end_ns, ended, i, key[0])
        loss = open_episode.get((False, client))
        absorbed = key[0] and loss is not None and (not loss.recovered or loss.end_ns > start_ns)
        # The side's episodes that are over (this copy came after them): the new one starts
        # after them, never inside one (a copy's gap reaches back to the copy before it).
        over = [e for e in (timer, loss) if e is not None and not (absorbed and e is loss)]
        since_ns = max((e.end_ns for e in over), default=None)
        if absorbed:
            # The timer that fired started while a loss recovery episode (a tail loss probe, a
            # fast retransmit) was still on: one outage, which the RTO ended. Counted twice
            # before, as a fast recovery episode lasting to the RTO's ACK, and a timeout.
            assert loss is not None
            episodes.remove(loss)
            del open_episode[(False, client)]
            _absorb(latest, loss, since_ns)
        elif since_ns is not None:
            latest.start_ns = max(latest.start_ns, since_ns)
        open_episode[key] = latest
        episodes.append(latest)
    if not episodes:
        return [], []
    # The frame each episode began at: the first row at or after its start (its first copy),
    # never after the retransmission that opened it; one search for all of them.
    starts = np.array([e.start_ns for e in episodes], dtype=np.int64)
    opened_at = np.array([e.row for e in episodes], dtype=np.intp)
    first = np.minimum(view.time_ns.searchsorted(starts), opened_at)
    rto: list[Stall] = []
    fast: list[Stall] = []
    for e, f in zip(episodes, view.frame[first].tolist(), strict=True):
        side = Side.CLIENT if e.client else Side.SERVER
        stall = Stall(StallCause.RTO, side, e.start_ns, e.end_ns, e.recovered, f)
        (rto if e.timeout else fast).append(stall)
    return rto, fast


def _same_burst(latest: _Episode, n: int, resent: _Resent, timeout: bool, gap: float) -> bool:
    """Loss recovery copy ``n``, its first copy never captured (a capture at the receiver, or
    past the drop), fills a hole that opened before ``latest`` (a loss recovery episode of
    the side) ended: the same burst of losses. There the peer acknowledges each resent copy
    as it arrives, so each would end an episode of its own a few ms long, where the sender
    sees one recovery lasting until the ACK of the last (Linux: until snd_una passes
    high_seq, nstat TcpExtTCPSackRecovery counts one)."""
    return (
        not timeout
        and not latest.timeout
        and gap != gap  # NaN: no earlier copy captured
        and resent.hole_ns[n] <= latest.end_ns
    )


def _during(episode: _Episode | None, n: int, resent: _Resent) -> bool:
    """Resend ``n`` goes out while ``episode`` is on: unrecovered, or not yet acknowledged."""
    return episode is not None and (not episode.recovered or resent.time_ns[n] <= episode.end_ns)


def _absorb(timeout: _Episode, loss: _Episode, since_ns: int | None) -> None:
    """``timeout`` takes in the loss recovery episode ``loss`` the timer ran from: it began at
    the earlier of their starts, never before the side's episodes that are over ended
    (``since_ns``), and ends at the later of their ends."""
    start_ns = loss.start_ns if since_ns is None else max(loss.start_ns, since_ns)
    if start_ns < timeout.start_ns:
        timeout.start_ns, timeout.row = start_ns, loss.row
    timeout.end_ns = max(timeout.end_ns, loss.end_ns)


@dataclass(slots=True)
class _Episode:
    """A retransmission episode while ``_episodes`` grows it (later steps move its end)."""

    client: bool  # the sender is the client
    start_ns: int
    end_ns: int
    recovered: bool
    row: int  # the retransmission that opened it
    timeout: bool  # of the RTO's resends (else of fast retransmissions)


#: The retransmissions that make episodes (``_episodes``).
_RESENT = (EventKind.RETRANSMIT, EventKind.FAST_RETRANSMIT)


@dataclass(frozen=True, slots=True)
class _Resent:
    """The retransmissions (``_RESENT`` events) of every connection the retransmit detector
    saw loss in, and what ``_episodes`` reads of the capture at each, as lists of Python
    values: found for the whole partition with a few array passes (searched a connection at
    a time, numpy's cost per call was most of the visits' time)."""

    events: dict[int, tuple[int, int]]  # conn id -> its entries [lo, hi)
    kind: list[str]  # the event's kind (an ``EventKind`` value)
    gap: list[float]  # the event's value: seconds since the previous copy (NaN: none captured)
    rows: list[int]  # the event's row in its connection (``_Rows``)
    client: list[bool]  # its sender is the client
    peer_unseen: list[bool]  # its connection holds no segment of the peer's
    time_ns: list[int]  # when it was sent
    acked: list[bool]  # a peer ACK after it acknowledged past its first byte
    ack_ns: list[int]  # when the first such ACK came; the event's own time when none did
    peer_spoke_ns: list[int]  # the peer's last ACK before it; the event's own time when none
    #: When the sender's first data above the resent bytes went by (``_SentAbove``): the
    #: receiver's hole opened then; the event's own time when none came before it.
    hole_ns: list[int]
    #: The first covering ACK rode on the peer's data in a capture without bare segments (a
    #: filter that kept payload): the bare ACK that ended the recovery may have come long
    #: before it, so ``ack_ns`` only bounds the episode from above (``_episodes``).
    ack_late: list[bool]
    ack_rows: list[int]  # that ACK's row in its connection (-1: none)

    @classmethod
    def of(cls, facts: Facts, events: pd.DataFrame, *, acks_filtered: bool = False) -> _Resent:
        """From the events table (``EVENT_COLUMNS``, by conn then frame): the retransmit
        detector's ``_RESENT`` events are already there, columns of the whole partition.
        ``acks_filtered``: ``measure``'s."""
        # Compared in the column's own string type; only the resends' kinds become Python
        # strings (a tenth of the events of the bench capture).
        resent = np.flatnonzero(_of_kind(events, *_RESENT))
        kind = events["kind"].take(resent).to_numpy()
        resent, kind = _decided(facts, events, resent, kind)
        if not len(resent):
            return cls({}, [], [], [], [], [], [], [], [], [], [], [], [])
        conn = events["conn"].to_numpy(np.int64)[resent]
        frames = events["frame"].to_numpy(np.int64)[resent]
        # Each connection's entries: a run of its id.
        starts = np.flatnonzero(np.append(True, conn[1:] != conn[:-1]))
        ends = np.append(starts[1:], len(conn))
        chosen = dict(
            zip(
                conn[starts].tolist(), zip(starts.tolist(), ends.tolist(), strict=True), strict=True
            )
        )
        index = np.searchsorted(facts.conn_ids, conn)
        lo, hi = facts.starts[index], facts.starts[index + 1]
        rows = first_at_least(facts.frame, lo, hi, frames)
        client = facts.from_client[rows]
        # Per sender side, its peer's ACK rows in the connections it resent in: the first
        # covering one after each event (-1: none) and the last one before it (the event's
        # own row: none).
        ack_row = np.full(len(rows), -1, dtype=np.intp)
        spoke_row = rows.copy()
        hole_row = rows.copy()
        for side in (True, False):
            mine = np.flatnonzero(client == side)
            if len(mine):
                peer = _PeerAcks.of(facts, index[mine], side)
                ack_row[mine] = peer.covering(rows[mine], facts.rel_seq[rows[mine]])
                spoke_row[mine] = peer.last_before(rows[mine])
                above = _SentAbove.of(facts, index[mine], side)
                hole_row[mine] = above.first_above(rows[mine], facts.rel_seq[rows[mine]])
        acked = ack_row >= 0
        time_ns = facts.time_ns
        # The connection holds only the sender's packets: every row the client's, or none.
        so_far = np.concatenate(([0], np.cumsum(facts.from_client)))  # client rows before
        clients = so_far[hi] - so_far[lo]
        peer_unseen = np.where(client, clients == hi - lo, clients == 0)
        return cls(
            chosen,
            kind.tolist(),
            events["value"].to_numpy(np.float64)[resent].tolist(),
            (rows - lo).tolist(),
            client.tolist(),
            peer_unseen.tolist(),
            time_ns[rows].tolist(),
            acked.tolist(),
            time_ns[np.where(acked, ack_row, rows)].tolist(),
            time_ns[spoke_row].tolist(),
            time_ns[hole_row].tolist(),
            (acked & acks_filtered).tolist(),
            np.where(acked, ack_row - lo, -1).tolist(),
        )


def _decided(
    facts: Facts, events: pd.DataFrame, resent: np.ndarray, kind: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``resent`` (events rows) and ``kind`` (their kinds) without the fast retransmits whose
    peer's next ACK had its options cut by the snaplen (``retransmit.undecided_resends``): a
    D-SACK there would have shown nothing was lost, so their time is no proven loss
    (fast-recovery time, a transfer's loss time)."""
    if not len(resent) or not facts.options_cut.any():
        return resent, kind
    fast = resent[kind == EventKind.FAST_RETRANSMIT.value]
    if not len(fast):
        return resent, kind
    conn = events["conn"].to_numpy(np.int64)[fast]
    index = np.searchsorted(facts.conn_ids, conn)
    lo, hi = facts.starts[index], facts.starts[index + 1]
    rows = first_at_least(facts.frame, lo, hi, events["frame"].to_numpy(np.int64)[fast])
    has_data = facts.seg_len[rows] > 0
    cut = has_data & next_peer_ack_cut(
        facts.from_client,
        facts.ack,
        facts.options_cut,
        facts.conn_index,
        rows,
        facts.echo_older[rows],
    )
    kept = ~np.isin(resent, fast[cut], assume_unique=True)
    return resent[kept], kind[kept]


@dataclass(frozen=True, slots=True)
class _PeerAcks:
    """The ACK rows of one side's peer in some connections (all in row order), each
    connection's run with its running highest ACK: "the first peer ACK after row i
    acknowledging past seq" is then two binary searches (as retransmit's data RTT)."""

    rows: np.ndarray
    highest: np.ndarray  # per connection run: the highest ACK so far
    run_lo: np.ndarray  # per query (``of``'s ``index``): its connection's run [lo, hi)
    run_hi: np.ndarray

    @classmethod
    def of(cls, facts: Facts, index: np.ndarray, sender_is_client: bool) -> _PeerAcks:
        """For queries in the connections ``index`` (one per query) about ``sender_is_client``."""
        wanted = np.zeros(len(facts.conn_ids), dtype=bool)
        wanted[index] = True
        peer = facts.from_client != sender_is_client
        rows = np.flatnonzero(wanted[facts.conn_index] & peer & facts.ack)
        run_starts = rows.searchsorted(facts.starts)  # per connection: where its run begins
        highest = facts.rel_ack[rows]
        for conn in np.flatnonzero(wanted).tolist():
            a, b = int(run_starts[conn]), int(run_starts[conn + 1])
            if a < b:
                np.maximum.accumulate(highest[a:b], out=highest[a:b])
        return cls(rows, highest, run_starts[index], run_starts[index + 1])

    def covering(self, rows: np.ndarray, seq: np.ndarray) -> np.ndarray:
        """Per query: the first peer ACK row after ``rows`` acknowledging past ``seq`` (-1:
        none in its connection)."""
        after = self.rows.searchsorted(rows, side="right")
        past = first_at_least(self.highest, self.run_lo, self.run_hi, seq + 1)  # above seq
        j = np.maximum(after, past)
        found = j < self.run_hi
        out = np.full(len(rows), -1, dtype=np.intp)
        out[found] = self.rows[j[found]]
        return out

    def last_before(self, rows: np.ndarray) -> np.ndarray:
        """Per query: the last peer ACK row before ``rows`` (the row itself: none)."""
        before = self.rows.searchsorted(rows)
        some = before > self.run_lo
        out = rows.copy()
        out[some] = self.rows[before[some] - 1]
        return out


@dataclass(frozen=True, slots=True)
class _SentAbove:
    """One side's data segments in some connections (row order), each connection's run with
    its running highest sequence number: "the sender's first segment above seq" is then one
    binary search (as ``_PeerAcks``)."""

    rows: np.ndarray
    highest: np.ndarray  # per connection run: the highest rel_seq so far
    run_lo: np.ndarray  # per query: its connection's run [lo, hi)
    run_hi: np.ndarray

    @classmethod
    def of(cls, facts: Facts, index: np.ndarray, sender_is_client: bool) -> _SentAbove:
        wanted = np.zeros(len(facts.conn_ids), dtype=bool)
        wanted[index] = True
        mine = facts.from_client == sender_is_client
        data = (facts.seg_len > 0) & ~facts.is_dup & (facts.rel_seq != UNKNOWN)
        rows = np.flatnonzero(wanted[facts.conn_index] & mine & data)
        run_starts = rows.searchsorted(facts.starts)
        highest = facts.rel_seq[rows].astype(np.int64)
        for conn in np.flatnonzero(wanted).tolist():
            a, b = int(run_starts[conn]), int(run_starts[conn + 1])
            if a < b:
                np.maximum.accumulate(highest[a:b], out=highest[a:b])
        return cls(rows, highest, run_starts[index], run_starts[index + 1])

    def first_above(self, rows: np.ndarray, seq: np.ndarray) -> np.ndarray:
        """Per query: the sender's first data row whose sequence number is above ``seq`` (new
        data always leaves in order, so it left after the first copy of ``seq``), when it
        came before ``rows``; else the query's own row."""
        j = first_at_least(self.highest, self.run_lo, self.run_hi, seq.astype(np.int64) + 1)
        found = j < self.run_hi
        out = rows.copy()
        hit = self.rows[j[found]]
        out[np.flatnonzero(found)[hit < rows[found]]] = hit[hit < rows[found]]
        return out


def _answered_after(view: _Rows, i: int) -> int | None:
    """The sender's first later row whose ACK number is above row ``i``'s (the peer sent more
    after ``i``) or that carries new data (its window let it: the peer acknowledged; after an
    RTO Linux sends nothing new before the ACK of the resent data): a one-direction
    capture's signs that the peer answered. A one-way bulk sender's ACK number moves only at
    the peer's FIN; its new data shows each recovery.

    Searched in growing stretches after ``i``: the answer is nearly always close, and a long
    connection with many resends must not cost a pass over the rest of it for each."""
    lo, size = i + 1, _ANSWER_STRETCH
    while lo < len(view.time_ns):
        after = slice(lo, lo + size)
        mine = view.from_client[after] == view.from_client[i]
        acked = view.ack[after] & (view.rel_ack[after] > view.rel_ack[i])
        fresh = (view.seg_len[after] > 0) & ~view.is_retrans[after] & ~view.is_dup[after]
        later = np.flatnonzero(mine & (acked | fresh))
        if len(later):
            return lo + int(later[0])
        lo, size = lo + size, size * 4
    return None


def _last_resend_ns(view: _Rows, i: int, answered: int) -> int:
    """The time of row ``i``'s sender's last retransmission from ``i`` up to ``answered``."""
    between = slice(i, answered)
    mine = view.from_client[between] == view.from_client[i]
    resends = np.flatnonzero(mine & view.is_retrans[between])
    return int(view.time_ns[i + int(resends[-1])]) if len(resends) else int(view.time_ns[i])


#: Rows ``_answered_after`` looks at first (then four times as many, and so on).
_ANSWER_STRETCH = 256


def _window_events(events: pd.DataFrame) -> dict[int, pd.DataFrame]:
    """The zero_window and window_update events, by connection (grouped once)."""
    window = _of_kind(events, EventKind.ZERO_WINDOW, EventKind.WINDOW_UPDATE)
    if not window.any():  # most captures: no row selection nor groupby (~0.5 ms) for nothing
        return {}
    chosen = events[window]
    groups = chosen.groupby("conn", sort=False)
    return {int(cast(int, conn)): group for conn, group in groups}  # "conn" holds ints


def _zero_windows(view: _Rows, mine: pd.DataFrame) -> list[Stall]:
    """Each closed window (the ``zero_window`` event) -> the same side's next ``window_update``
    event, or the capture end when it never reopened (as the detector's ``stalled_s``)."""
    kind = mine["kind"].to_numpy()
    closes = mine[kind == EventKind.ZERO_WINDOW.value]
    opens = mine[kind == EventKind.WINDOW_UPDATE.value]
    out: list[Stall] = []
    for frame, time_ns, side in zip(
        closes["frame"].tolist(), closes["time_ns"].tolist(), closes["side"].tolist(), strict=True
    ):
        later = opens[(opens["side"] == side).to_numpy() & (opens["frame"].to_numpy() > frame)]
        reopened = len(later) > 0
        end_ns = int(later["time_ns"].iloc[0]) if reopened else view.capture_end_ns
        receiver = Side(side)
        out.append(
            Stall(
                StallCause.ZERO_WINDOW,
                Side.SERVER if receiver is Side.CLIENT else Side.CLIENT,
                int(time_ns),
                end_ns,
                reopened,
                int(frame),
            )
        )
    return out


def _union_s(stalls: Sequence[Stall]) -> float:
    """Seconds covered by at least one stall."""
    total = 0
    end = None
    for s in sorted(stalls, key=lambda s: s.start_ns):
        if end is None or s.start_ns > end:
            total += max(s.end_ns - s.start_ns, 0)  # a step back in the stamps loses no time
            end = max(s.end_ns, s.start_ns)
        elif s.end_ns > end:
            total += s.end_ns - end
            end = s.end_ns
    return total / 1e9


__all__ = [
    "DELAYS_DOC_KEYS",
    "DELAY_COLUMNS",
    "Delays",
    "DelaysDocColumns",
    "DelaysTable",
    "ResponseJudged",
    "SlowSummary",
    "SlowTag",
    "SlowThresholds",
    "Stall",
    "StallCause",
    "answers_requests",
    "delays_doc",
    "delays_doc_columns",
    "measure",
    "slow_tags",
    "summarise",
]
