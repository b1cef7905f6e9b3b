"""pcapline's events against Wireshark's TCP expert analysis, frame by frame.

``pcapline crosscheck CAPTURE`` shows its result; ``tests/test_wireshark_diff.py`` holds it
to account (every exception's premise is tested there).

The bulk comparison runs tshark once with ``-T fields`` (``run_tshark``): every TCP frame's
``tcp.stream`` and ``tcp.analysis.*`` flags as one tab-separated line, about a second for
100,000 frames. pyshark would hand over one parsed PDML packet object per frame, a hundred
times slower, for the same fields; it serves where a few chosen frames need Wireshark's full
dissection (``dissect.py``).

Wireshark (``tshark``) labels frames with single-pass heuristics (``tcp.analysis.*``,
anchors.md section 1); pcapline's detectors label them with kernel rules (tcp-facts.md). The
two must agree except where we know, and can say, why Wireshark is misled. This module makes
that claim checkable:

1. ``read_wireshark(path)`` runs tshark once and returns one row per frame with its
   ``tcp.stream`` and the analysis flags below.
2. ``compare(analysis, wireshark)`` puts both labels of every frame side by side. A frame
   agrees when ``MAPPING`` pairs a Wireshark label with one of our event kinds on that frame
   (both directions: every Wireshark label needs a matching event, every compared event of
   ours needs a matching Wireshark label). Every other difference must be claimed by one of
   the ``EXCEPTIONS``: a named, reasoned rule saying why our label is the right one (or why
   the two tools are not talking about the same thing). What is left is ``unexplained``: a
   bug in a detector or a rule this table lacks. Connection ids are compared too: ours must
   equal ``tcp.stream``, except that tcp.stream numbers no frame carries (conversations some
   Wireshark dissectors create in advance, e.g. SOCKS for the proxied target) are listed in
   ``phantom_streams`` and skipped; our ids stay dense.

Wireshark's retransmission family is compared as one label per frame: ``spurious`` when
``tcp.analysis.spurious_retransmission`` is set, else ``fast`` when
``tcp.analysis.fast_retransmission`` is, else plain ``retransmission`` (Wireshark sets the
generic flag on all three, anchors.md 1.2).

Not compared, on purpose:

- ``duplicate_ack``: loss-recovery signalling, not a lifecycle event; pcapline has no kind for it.
- ``window_update``: Wireshark flags every change of window on a pure ACK (ordinary flow
  control); our ``window_update`` means a zero window re-opened. Checked one way only: ours
  must be a Wireshark window update, or carry data (Wireshark only looks at pure ACKs).
- ``out_of_order``, ``lost_segment``, ``ack_lost_segment``: capture gaps and reordering, not
  in our vocabulary.
- Our ``syn``, ``synack``, ``handshake_ack``, ``fin``, ``rst``, ``challenge_ack``,
  ``super_segment``, ``capture_start``, ``injected_rst_hint``, ``pmtu_stall``, ``idle_gap``,
  ``icmp_error``: Wireshark has no expert flag for these (``tcp.flags`` says the rest).
- ICMP error frames (Wireshark also dissects the TCP header quoted inside them; we match
  them to their connection as ``icmp_error`` events, not as segments).
"""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from io import StringIO
from os import PathLike, fspath
from typing import Any, cast

import numpy as np
import pandas as pd

from pcapline import seqnum
from pcapline.analysis import Analysis, analyze
from pcapline.duplicates import (
    DUPLICATE_WINDOW_NS,
    MAX_POINT_HOPS,
    STAMPED_WINDOW_NS,
    SYN_COPY_BEFORE_S,
)
from pcapline.errors import PcaplineError
from pcapline.model import ACK, FIN, SYN, EventKind
from pcapline.timers import RTO_FLOOR_S, close_to, next_backoff

K = EventKind

#: The tcp.analysis flags ``wireshark_labels`` turns into compared labels.
_COMPARED_FLAGS: tuple[str, ...] = (
    "retransmission",
    "fast_retransmission",
    "spurious_retransmission",
    "keep_alive",
    "keep_alive_ack",
    "zero_window",
    "zero_window_probe",
    "zero_window_probe_ack",
)

#: ``tcp.analysis.<flag>`` fields read from tshark (True/False columns of ``read_wireshark``):
#: the compared ones, and those the exceptions look at.
WIRESHARK_FLAGS: tuple[str, ...] = (
    *_COMPARED_FLAGS,
    "duplicate_ack",
    "window_update",
    "out_of_order",
    "lost_segment",
    "ack_lost_segment",
    "reused_ports",
)

#: Preferences pinned so a user's Wireshark profile cannot change the answer.
TSHARK_PREFS: tuple[str, ...] = (
    "tcp.analyze_sequence_numbers:TRUE",
    "tcp.relative_sequence_numbers:TRUE",
    "tcp.fastrt_supersedes_ooo:TRUE",
)


# ---------------------------------------------------------------------------------------
# Wireshark's side
# ---------------------------------------------------------------------------------------


class TsharkUnavailable(PcaplineError):
    """tshark is not installed or could not read the file (a one-line error, exit 2: the
    file is what tshark refused, not a fault of pcapline)."""


#: What tshark says (exit status 2) when a capture ends inside a record or holds a damaged
#: one: it has still printed every frame before that point, the frames pcapline reads too.
_STOPPED_EARLY = ("cut short in the middle of a packet", "appears to be damaged or corrupt")


@dataclass(frozen=True, slots=True)
class TsharkFields:
    """tshark's field output for a capture, and why it stopped early (None: it read it all)."""

    text: str
    stopped: str | None = None


def tshark_version(tshark: str = "tshark") -> str | None:
    """``"4.0.17"`` or None when tshark is absent."""
    path = shutil.which(tshark)
    if path is None:
        return None
    out = subprocess.run([path, "-v"], capture_output=True, text=True, check=False).stdout
    first = out.splitlines()[0] if out else ""
    parts = first.split()
    return parts[2] if len(parts) > 2 and parts[0] == "TShark" else first or None


def read_wireshark(path: str | PathLike[str], *, tshark: str = "tshark") -> pd.DataFrame:
    """One row per TCP frame: ``frame``, ``stream`` and one bool column per ``WIRESHARK_FLAGS``.

    ``-E occurrence=f`` keeps the first TCP header of a frame (the outer one).
    """
    return parse_tshark_fields(run_tshark(path, tshark=tshark))


def run_tshark(path: str | PathLike[str], *, tshark: str = "tshark") -> str:
    """tshark's tab-separated field output for ``path`` (see ``read_wireshark``)."""
    return tshark_fields(path, tshark=tshark).text


def tshark_fields(path: str | PathLike[str], *, tshark: str = "tshark") -> TsharkFields:
    """``run_tshark``, also when tshark stopped at a cut or damaged record: the frames before
    it are its answer, and ``stopped`` says why it read no further."""
    exe = shutil.which(tshark)
    if exe is None:
        raise TsharkUnavailable(f"{tshark} not found")
    cmd = [exe, "-n", "-r", fspath(path)]
    for pref in TSHARK_PREFS:
        cmd += ["-o", pref]
    cmd += ["-Y", "tcp", "-T", "fields", "-E", "occurrence=f", "-E", "separator=/t"]
    cmd += ["-e", "frame.number", "-e", "tcp.stream"]
    for flag in WIRESHARK_FLAGS:
        cmd += ["-e", f"tcp.analysis.{flag}"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, errors="replace")
    if done.returncode == 0:
        return TsharkFields(done.stdout)
    said = _tshark_complaint(done.stderr)
    if any(phrase in said for phrase in _STOPPED_EARLY):
        return TsharkFields(done.stdout, said)
    raise TsharkUnavailable(f"tshark could not read {fspath(path)}: {said[:300]}")


def _tshark_complaint(stderr: str) -> str:
    """tshark's error in one line, without its "Running as user root" preamble."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    kept = [line for line in lines if not line.startswith("Running as user")]
    return " ".join(kept) or "tshark gave no reason"


def parse_tshark_fields(text: str) -> pd.DataFrame:
    """``run_tshark`` output -> the ``read_wireshark`` table.

    ``stream`` is a nullable integer: Wireshark dissects a frame whose TCP header the snap
    length cut (ports present, the rest missing) as TCP but gives it no ``tcp.stream``;
    ``compare`` counts such frames (``CrossCheck.no_stream``) instead of comparing them.
    """
    names = ["frame", "stream", *WIRESHARK_FLAGS]
    if not text.strip():
        return pd.DataFrame(
            {
                c: pd.Series(dtype="int64" if c == "frame" else "Int64" if c == "stream" else bool)
                for c in names
            }
        )
    table = pd.read_csv(StringIO(text), sep="\t", header=None, names=names, dtype=str)
    out = pd.DataFrame(
        {
            "frame": table["frame"].astype("int64"),
            "stream": pd.to_numeric(table["stream"]).astype("Int64"),
        }
    )
    for flag in WIRESHARK_FLAGS:
        out[flag] = table[flag].notna() & (table[flag] != "")
    return out


def wireshark_labels(row: Mapping[str, Any]) -> frozenset[str]:
    """The compared Wireshark labels of one ``read_wireshark`` row (see module docstring)."""
    labels: set[str] = set()
    if row["spurious_retransmission"]:
        labels.add("spurious_retransmission")
    elif row["fast_retransmission"]:
        labels.add("fast_retransmission")
    elif row["retransmission"]:
        labels.add("retransmission")
    for flag in _COMPARED_FLAGS[3:]:
        if row[flag]:
            labels.add(flag)
    return frozenset(labels)


# ---------------------------------------------------------------------------------------
# The mapping: which of our kinds say the same thing as which Wireshark label
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MappingRule:
    """A Wireshark label and the event kinds of ours that mean the same thing."""

    wireshark: str
    ours: frozenset[EventKind]
    why: str


MAPPING: tuple[MappingRule, ...] = (
    MappingRule(
        "retransmission",
        frozenset(
            {
                K.RETRANSMIT,
                K.SYN_RETRANSMIT,
                K.SYNACK_RETRANSMIT,
                K.FIN_RETRANSMIT,
                K.RETRANSMIT_UNKNOWN,
            }
        ),
        "Wireshark's plain retransmission covers every segment resent below nextseq; we name "
        "SYN, SYN+ACK and FIN retransmissions separately, and one whose earlier copy the "
        "capture lacks (or lies beyond any timer) retransmit_unknown (a naming mapping, not a "
        "disagreement)",
    ),
    MappingRule(
        "fast_retransmission",
        frozenset({K.FAST_RETRANSMIT, K.FIN_RETRANSMIT}),
        "same concept; a resent FIN is fin_retransmit whatever triggered it",
    ),
    MappingRule("spurious_retransmission", frozenset({K.SPURIOUS_RETRANSMIT}), "same concept"),
    MappingRule("keep_alive", frozenset({K.KEEPALIVE}), "same concept"),
    MappingRule("keep_alive_ack", frozenset({K.KEEPALIVE_ACK}), "same concept"),
    MappingRule(
        "zero_window",
        frozenset({K.ZERO_WINDOW, K.WINDOW_PROBE_ACK}),
        "Wireshark flags every segment advertising window 0; we call the first one zero_window "
        "and a zero-window answer to a probe window_probe_ack",
    ),
    MappingRule("zero_window_probe", frozenset({K.WINDOW_PROBE}), "same concept"),
    MappingRule("zero_window_probe_ack", frozenset({K.WINDOW_PROBE_ACK}), "same concept"),
)

#: Our kinds that must be matched by a Wireshark label (the rest have no Wireshark flag).
COMPARED_KINDS: frozenset[EventKind] = frozenset().union(*(rule.ours for rule in MAPPING))

#: Our kinds whose frames are visited (window_update is checked one way; a duplicate
#: frame may carry a Wireshark label to explain).
_CHECKED_KINDS: frozenset[EventKind] = COMPARED_KINDS | {K.WINDOW_UPDATE, K.DUPLICATE}


def _agreeing_kinds(label: str) -> frozenset[EventKind]:
    return next((rule.ours for rule in MAPPING if rule.wireshark == label), frozenset())


def _agreeing_labels(kind: EventKind) -> frozenset[str]:
    return frozenset(rule.wireshark for rule in MAPPING if kind in rule.ours)


# ---------------------------------------------------------------------------------------
# Per-frame comparison
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FrameCheck:
    """Everything the exceptions may look at for one frame."""

    frame: int
    conn: int
    wireshark: frozenset[str]  # compared Wireshark labels
    wireshark_flags: frozenset[str]  # every tcp.analysis flag set on the frame
    ours: frozenset[EventKind]  # our event kinds on the frame
    seq: int  # raw header seq
    seg_len: int
    tcp_flags: int
    from_client: bool
    window: int  # raw header window
    context: ConnContext  # connection-wide facts


@dataclass(slots=True)
class ConnContext:
    """Connection-wide facts the exceptions need (built once per connection)."""

    #: frames (per sending side) where our events said the window closed (zero_window)
    zero_window_frames: dict[bool, list[int]] = field(default_factory=dict)
    #: frames (per sending side) where our events said the window re-opened (window_update)
    window_update_frames: dict[bool, list[int]] = field(default_factory=dict)
    #: the connection's segments in frame order (the SEGMENT_COLUMNS the exceptions read)
    segments: pd.DataFrame | None = None


@dataclass(frozen=True, slots=True)
class Disagreement:
    """A label one tool put on a frame that the other did not match."""

    frame: int
    conn: int
    source: str  # "wireshark" (their label unmatched) or "pcapline" (our kind unmatched)
    label: str
    wireshark: tuple[str, ...]  # all compared Wireshark labels on the frame, sorted
    ours: tuple[str, ...]  # all our event kinds on the frame, sorted

    def __str__(self) -> str:
        return (
            f"frame {self.frame} (conn {self.conn}): {self.source} says {self.label}; "
            f"wireshark={list(self.wireshark)} pcapline={list(self.ours)}"
        )


@dataclass(frozen=True, slots=True)
class KnownDifference:
    """A known, reasoned difference: when ``applies`` holds on a frame, an unmatched Wireshark
    label in ``wireshark`` and an unmatched event kind of ours in ``ours`` are explained."""

    name: str
    wireshark: frozenset[str]  # unmatched Wireshark labels it explains
    ours: frozenset[str]  # unmatched event kinds of ours it explains
    applies: Callable[[FrameCheck], bool]
    why: str

    def explains(self, check: FrameCheck, source: str, label: str) -> bool:
        labels = self.wireshark if source == "wireshark" else self.ours
        return label in labels and self.applies(check)


def _window_still_closed(check: FrameCheck) -> bool:
    """This side already reported window 0 (zero_window) and has not re-opened it since."""
    closed = [
        f for f in check.context.zero_window_frames.get(check.from_client, []) if f < check.frame
    ]
    if not closed:
        return False
    reopened = [
        f for f in check.context.window_update_frames.get(check.from_client, []) if f < check.frame
    ]
    return not reopened or max(reopened) < max(closed)


def _at_sack_hole(check: FrameCheck) -> bool:
    """The segment fills a hole the peer reported: at or above the peer's last cumulative ACK,
    below the right edge of its highest SACK block, and not inside that block."""
    rows = check.context.segments
    if rows is None:
        return False
    peer = rows[(rows["frame"] < check.frame) & (rows["from_client"] != check.from_client)]
    if peer.empty:
        return False
    last = peer.iloc[-1]
    if not int(last["flags"]) & ACK or int(last["sack_blocks"]) == 0:
        return False
    ack, left, right = int(last["ack"]), int(last["sack_le"]), int(last["sack_re"])
    inside = seqnum.seq_ge(check.seq, left) and seqnum.seq_lt(check.seq, right)
    return seqnum.seq_ge(check.seq, ack) and seqnum.seq_lt(check.seq, right) and not inside


def _dsacked_later(check: FrameCheck) -> bool:
    """A later segment of the peer D-SACKs the resent bytes (RFC 2883): its SACK block (the
    first, marked ``dsack`` by the decoder, above the ACK too; or a block at or below its ACK
    number) covers the whole segment."""
    rows = check.context.segments
    if rows is None or check.seg_len <= 0:
        return False
    peer = rows[
        (rows["frame"] > check.frame)
        & (rows["from_client"] != check.from_client)
        & (rows["sack_blocks"] > 0)
    ]
    end = seqnum.wrap(check.seq + check.seg_len)
    dsack = peer["dsack"].tolist() if "dsack" in peer else [False] * len(peer)
    for ack, left, right, flags, first in zip(
        peer["ack"].tolist(),
        peer["sack_le"].tolist(),
        peer["sack_re"].tolist(),
        peer["flags"].tolist(),
        dsack,
        strict=True,
    ):
        below = bool(int(flags) & ACK) and (first or seqnum.seq_le(int(right), int(ack)))
        if below and seqnum.seq_le(int(left), check.seq) and seqnum.seq_le(end, int(right)):
            return True
    return False


def _loss_recovery(name: str, test: Callable[[FrameCheck], bool], why: str) -> KnownDifference:
    """Our fast_retransmit against Wireshark's plain retransmission, where ``test`` holds: the
    loss recovery Wireshark has no rule for."""
    return KnownDifference(
        name,
        wireshark=frozenset({"retransmission"}),
        ours=frozenset({K.FAST_RETRANSMIT}),
        applies=lambda c: (
            K.FAST_RETRANSMIT in c.ours and "retransmission" in c.wireshark and test(c)
        ),
        why=why,
    )


#: Linux TCP_RTO_MIN less capture slack.
_RTO_FLOOR_NS = round(RTO_FLOOR_S * 1e9)


def _sooner_than_min_rto(check: FrameCheck) -> bool:
    """The same side sent this seq less than the minimum RTO before: no RTO fired."""
    rows = check.context.segments
    if rows is None or "time_ns" not in rows.columns:
        return False
    this = rows[rows["frame"] == check.frame]
    mine = rows[(rows["frame"] < check.frame) & (rows["from_client"] == check.from_client)]
    mine = mine[(mine["seq"] == check.seq) & (mine["seg_len"] > 0)]
    if this.empty or mine.empty:
        return False
    return int(this["time_ns"].iloc[0]) - int(mine["time_ns"].iloc[-1]) < _RTO_FLOOR_NS


def _probe_at_rto_time(check: FrameCheck) -> bool:
    """This copy is the first resend of its seq, and the copies of it read g, g (then 2g...,
    or none): a tail loss probe sent at about the RTO's own time (one segment in flight:
    2 * SRTT + 200 ms, capped at the RTO), after which the RTO, rearmed without backoff,
    fires the same gap later. Not when a fourth copy repeats the gap (thin-stream linear
    timeouts)."""
    rows = check.context.segments
    if rows is None or "time_ns" not in rows.columns:
        return False
    mine = rows[(rows["from_client"] == check.from_client) & (rows["seq"] == check.seq)]
    times = mine[mine["seg_len"] > 0]["time_ns"].to_numpy(np.int64) / 1e9
    frames = mine[mine["seg_len"] > 0]["frame"].tolist()
    if len(times) < 3 or frames[1] != check.frame:
        return False
    gaps = np.diff(times[:4]).tolist()
    g1, g2 = gaps[0], gaps[1]
    linear = len(gaps) > 2 and close_to(gaps[2], g2)
    return close_to(g2, g1) and not close_to(g2, next_backoff(g1)) and not linear


def _after_advancing_ack(check: FrameCheck) -> bool:
    """The peer's latest segment before this frame raised its ACK number (above every earlier
    ACK of the peer, raw header values modulo 2**32) less than the minimum RTO before: the RTO
    restarted on that ACK (tcp_rearm_rto), so no timer sent this frame."""
    rows = check.context.segments
    if rows is None or "time_ns" not in rows.columns:
        return False
    this = rows[rows["frame"] == check.frame]
    peer = rows[(rows["frame"] < check.frame) & (rows["from_client"] != check.from_client)]
    peer = peer[(peer["flags"] & ACK) != 0]
    if this.empty or len(peer) < 2:
        return False
    acks = peer["ack"].to_numpy(np.int64)
    base = int(acks[0])
    rel = (acks - base) % (1 << 32)  # relative to the peer's first ACK: wraps unrolled
    raised = int(rel[-1]) > int(rel[:-1].max())
    since = int(this["time_ns"].iloc[0]) - int(peer["time_ns"].iloc[-1])
    return raised and since < _RTO_FLOOR_NS


def _resegmented_soon(check: FrameCheck) -> bool:
    """The same side sent these bytes less than the minimum RTO before, cut otherwise: the
    latest earlier segment holding this frame's first byte starts elsewhere or is longer (the
    kernel segmented the bytes anew, as after a path MTU drop lowered the MSS)."""
    rows = check.context.segments
    if rows is None or "time_ns" not in rows.columns or check.seg_len == 0:
        return False
    this = rows[rows["frame"] == check.frame]
    mine = rows[
        (rows["frame"] < check.frame)
        & (rows["from_client"] == check.from_client)
        & (rows["seg_len"] > 0)
    ]
    if this.empty or mine.empty:
        return False
    start = mine["seq"].to_numpy(np.int64)
    held = (check.seq - start) % (1 << 32) < mine["seg_len"].to_numpy(np.int64)
    if not held.any():
        return False
    copy = mine[held].iloc[-1]
    cut_otherwise = int(copy["seq"]) != check.seq or int(copy["seg_len"]) > check.seg_len
    return cut_otherwise and int(this["time_ns"].iloc[0]) - int(copy["time_ns"]) < _RTO_FLOOR_NS


def _same_packet(a: Any, b: Any) -> bool:
    return all(
        int(a[c]) == int(b[c]) for c in ("ip_id", "seq", "ack", "seg_len", "flags", "window")
    )


def _capture_copy(check: FrameCheck) -> bool:
    """Checked independently of our detectors: the frame repeats an earlier one of the same
    direction within 1 ms, and, when the IP ID cannot tell two datagrams apart (IPv4 ID 0,
    RFC 6864: Linux sends SYN+ACKs and RSTs with ID 0), the peer did not answer it separately:
    a capture that doubles packets doubles the answer too (same IP ID), while a second real
    packet draws a second answer with a new IP ID."""
    rows = check.context.segments
    if rows is None:
        return False
    me = rows[rows["frame"] == check.frame]
    if me.empty:
        return False
    this = me.iloc[0]
    mine = rows[(rows["frame"] < check.frame) & (rows["from_client"] == check.from_client)]
    near = mine[int(this["time_ns"]) - mine["time_ns"] <= DUPLICATE_WINDOW_NS]
    originals = [row for _, row in near.iterrows() if _same_packet(row, this)]
    if not originals:
        return _numbered_copy(mine, this) or _opening_seen_twice(mine, this)
    if int(this["ip_id"]) != 0 or int(this.get("ip_version", 4)) == 6:
        return True
    peer = rows[rows["from_client"] != check.from_client]
    after_original = peer[peer["frame"] > int(originals[-1]["frame"])]
    after_copy = peer[peer["frame"] > check.frame]
    if after_copy.empty or after_original.empty:
        return True
    first, second = after_original.iloc[0], after_copy.iloc[0]
    return int(first["frame"]) == int(second["frame"]) or _same_packet(first, second)


def _stamped_copy(mine: pd.DataFrame, this: Any) -> bool:
    """The same non-zero IP ID and the same TCP timestamp as an earlier packet of the
    direction, up to ``duplicates.STAMPED_WINDOW_NS`` before: one transmission (a resend gets
    a new IP ID and a later TSval), seen twice by two taps merged across a deep queue."""
    if "ts_val" not in mine.columns or not bool(this.get("has_ts", False)):
        return False
    earlier = mine[int(this["time_ns"]) - mine["time_ns"] < STAMPED_WINDOW_NS]
    earlier = earlier[earlier["ts_val"] == int(this["ts_val"])]
    return any(_same_packet(row, this) for _, row in earlier.iterrows())


def _opening_seen_twice(mine: pd.DataFrame, this: Any) -> bool:
    """A SYN or SYN+ACK with the same non-zero TSval as an earlier one of the direction and
    another TTL: one transmission seen on both sides of a router (captures of two points
    merged with clocks apart, ``-i any`` on the router), however far apart; a resend is
    stamped anew when it leaves (the copy finder's rule, ``duplicates``). Linux sends
    SYN+ACKs with IP ID 0, so no IP ID tells them apart."""
    if not int(this["flags"]) & SYN or "ts_val" not in mine.columns or "ttl" not in mine.columns:
        return False
    if not bool(this.get("has_ts", False)) or int(this["ts_val"]) == 0:
        # No timestamp (nor IP ID: Linux's SYN+ACK has 0): sooner than the SYN+ACK timer,
        # another TTL is the other point's sighting (duplicates counts them per point).
        soon = mine[int(this["time_ns"]) - mine["time_ns"] < SYN_COPY_BEFORE_S * 1e9]
        return not soon[
            (soon["ttl"] != int(this["ttl"]))
            & (soon["seq"] == int(this["seq"]))
            & (soon["ack"] == int(this["ack"]))
            & (soon["flags"] == int(this["flags"]))
            & (soon["ip_id"] == int(this["ip_id"]))
        ].empty
    same = mine[
        (mine["ts_val"] == int(this["ts_val"]))
        & (mine["ttl"] != int(this["ttl"]))
        & (mine["seq"] == int(this["seq"]))
        & (mine["ack"] == int(this["ack"]))
        & (mine["flags"] == int(this["flags"]))
    ]
    return not same.empty


def _hopped_copy(mine: pd.DataFrame, this: Any) -> bool:
    """The same packet (IP ID included) one or two router hops apart (another TTL), up to
    ``duplicates.STAMPED_WINDOW_NS`` before: one packet seen on both sides of a router (two
    captures merged, however far apart their clocks), a resend having a new IP ID."""
    if "ttl" not in mine.columns:
        return False
    earlier = mine[int(this["time_ns"]) - mine["time_ns"] < STAMPED_WINDOW_NS]
    hops = (earlier["ttl"].astype("int64") - int(this["ttl"])).abs()
    earlier = earlier[(hops >= 1) & (hops <= MAX_POINT_HOPS)]
    return any(_same_packet(row, this) for _, row in earlier.iterrows())


def _numbered_copy(mine: pd.DataFrame, this: Any) -> bool:
    """A sender whose packets carry different IP IDs gives every transmission a new one, so
    within the minimum RTO an earlier packet of the direction with this frame's non-zero IP
    ID is this frame: the same packet captured again (a router's ``any`` seen in and out,
    after its queue), or, when it is longer and holds this frame's bytes, the segment GRO
    merged on the way in that GSO cut into pieces on the way out (piece k: IP ID + k, k
    pieces in, same ack)."""
    ip_id = int(this["ip_id"])
    if ip_id == 0 or mine["ip_id"].nunique() < 2:
        return False
    if _stamped_copy(mine, this) or _hopped_copy(mine, this):
        return True
    recent = mine[int(this["time_ns"]) - mine["time_ns"] < _RTO_FLOOR_NS]
    length = int(this["seg_len"])
    rows: list[dict[Any, Any]] = recent.to_dict("records")
    for row in rows:
        k = (ip_id - int(row["ip_id"])) % 65536
        if k == 0 and _same_packet(row, this):
            return True
        whole = int(row["seg_len"])
        into = (int(this["seq"]) - int(row["seq"])) % (1 << 32)
        if not (length and whole > length and into + length <= whole and k < 64):
            continue
        if int(row["ack"]) != int(this["ack"]):
            continue
        if into == k * length:
            return True
        # the last, shorter piece: only after the piece before it (IP ID - 1, as long as
        # the others, ending where this one starts); else a loss probe's resent tail
        if k and into + length == whole and into % k == 0:
            size = into // k
            if any(
                (int(p["ip_id"]) + 1) % 65536 == ip_id
                and int(p["seg_len"]) == size
                and (int(p["seq"]) + size) % (1 << 32) == int(this["seq"])
                for p in rows
            ):
                return True
    return False


_RETRANSMIT_KINDS = frozenset(
    {
        K.RETRANSMIT,
        K.FAST_RETRANSMIT,
        K.SPURIOUS_RETRANSMIT,
        K.SYN_RETRANSMIT,
        K.SYNACK_RETRANSMIT,
        K.FIN_RETRANSMIT,
        K.RETRANSMIT_UNKNOWN,
    }
)
_RETRANSMIT_LABELS = frozenset({"retransmission", "fast_retransmission", "spurious_retransmission"})
#: Our kinds for data sent again (what a one-direction capture can still tell from the timing).
_DATA_RESENDS = frozenset({K.RETRANSMIT, K.FAST_RETRANSMIT, K.RETRANSMIT_UNKNOWN})


def _sent_first(check: FrameCheck) -> bool:
    """The frame's TSval is below that of every earlier segment of its sender carrying its
    first byte: it left before them (a sender's TSval never goes back, RFC 7323 5.4), so it
    is the first transmission of those bytes, stamped late by another clock (captures of
    two points merged, the original seen at one point only)."""
    rows = check.context.segments
    if rows is None or "ts_val" not in rows.columns:
        return False
    me = rows[rows["frame"] == check.frame]
    if me.empty:
        return False
    stamped = bool(me.iloc[0].get("has_ts", False))
    # Without a timestamp, a numbered sender's IP ID (a new one per transmission) orders them.
    column, modulus = ("ts_val", 2**32) if stamped else ("ip_id", 2**16)
    value = int(me.iloc[0][column])
    if not stamped and value == 0:
        return False
    mine = rows[
        (rows["frame"] < check.frame)
        & (rows["from_client"] == check.from_client)
        & (rows["has_ts"].astype(bool) == stamped)
    ]
    into = (check.seq - mine["seq"].astype("int64")) % 2**32
    carried = mine[into < mine["seg_len"]]
    if carried.empty:
        return False
    later = (carried[column].astype("int64") - value) % modulus
    return bool(((later > 0) & (later < modulus // 2)).all())


def _peer_not_captured(check: FrameCheck) -> bool:
    """No segment of the connection's other side is in the capture (a one-sided tap,
    asymmetric routing, a capture filtered to one direction)."""
    rows = check.context.segments
    if rows is None:
        return False
    return not bool((rows["from_client"] != check.from_client).any())


EXCEPTIONS: tuple[KnownDifference, ...] = (
    KnownDifference(
        "capture_duplicate",
        wireshark=frozenset(
            {
                *_RETRANSMIT_LABELS,
                "keep_alive",
                "keep_alive_ack",
                "zero_window",
                "zero_window_probe",
            }
        ),
        ours=frozenset(),
        applies=lambda c: K.DUPLICATE in c.ours and _capture_copy(c),
        why="The same packet captured twice (same IP ID, seq, ack, length, within 1 ms: -i any "
        "on veth/bridges, two taps; or the same non-zero IP ID from a numbering sender within "
        "the minimum RTO, or with the same TSval within a minute (two taps merged across a "
        "deep queue), or a GSO piece of a GRO-merged segment: a router's any, in and out "
        "of its queue). It was sent once; Wireshark sees the copy below nextseq and calls it "
        "a retransmission (anchors.md 1.3, 1.5). Re-checked here from the segments "
        "(_capture_copy), not taken from our own duplicate event.",
    ),
    KnownDifference(
        "linux_zero_window_probe",
        wireshark=frozenset({"keep_alive"}),
        ours=frozenset({K.WINDOW_PROBE}),
        applies=lambda c: (
            K.WINDOW_PROBE in c.ours and "keep_alive" in c.wireshark and c.seg_len == 0
        ),
        why="Linux persist probes are 0 bytes at snd_una - 1 (tcp_xmit_probe_skb), the keepalive "
        "shape; Wireshark's zero-window-probe rule wants 1 byte at nextseq, so it says "
        "Keep-Alive. The peer's last window was 0: a window probe (tcp-facts.md).",
    ),
    KnownDifference(
        "one_byte_retransmission",
        wireshark=frozenset({"keep_alive"}),
        ours=frozenset(_RETRANSMIT_KINDS),
        applies=lambda c: (
            bool(_RETRANSMIT_KINDS & c.ours) and "keep_alive" in c.wireshark and c.seg_len == 1
        ),
        why="A 1-byte data segment resent at nextseq - 1 has the keep-alive shape; Wireshark "
        "tests keep-alive first and never calls it a retransmission (anchors.md 1.5). The byte "
        "was unacknowledged: a retransmission.",
    ),
    KnownDifference(
        "spurious_fin",
        wireshark=frozenset({"retransmission"}),
        ours=frozenset({K.SPURIOUS_RETRANSMIT}),
        applies=lambda c: (
            K.SPURIOUS_RETRANSMIT in c.ours and bool(c.tcp_flags & FIN) and c.seg_len == 0
        ),
        why="A FIN resent after the peer had acknowledged it (its ACK was lost after the capture "
        "point; the peer's D-SACK usually follows). Wireshark's spurious rule needs payload "
        "(len > 0) and calls it a plain retransmission; the FIN was already acknowledged on the "
        "wire: spurious.",
    ),
    KnownDifference(
        "dsacked_resend",
        wireshark=frozenset({"retransmission", "fast_retransmission"}),
        ours=frozenset({K.SPURIOUS_RETRANSMIT}),
        applies=lambda c: K.SPURIOUS_RETRANSMIT in c.ours and _dsacked_later(c),
        why="The peer later reported the resent bytes as a duplicate with a D-SACK (RFC 2883: a "
        "SACK block at or below its ACK number covering them): the earlier copy had arrived, "
        "nothing was lost (a tail loss probe whose probe timeout fired before the receiver's "
        "delayed ACK came back, a fast retransmit on reordering, a timeout on a delay longer "
        "than the RTO). Wireshark judges a resend by the ACKs seen before it only and calls it "
        "a (fast) retransmission; Linux counts it TcpExtTCPDSACKRecv and undoes the cut.",
    ),
    _loss_recovery(
        "sack_recovery_vs_dupack_rule",
        _at_sack_hole,
        why="The resent segment fills the hole below the peer's SACK blocks: SACK loss recovery "
        "(RFC 6675, RACK RFC 8985), a fast retransmit. Wireshark 4.0's fast-retransmission test "
        "needs two duplicate ACKs with an unchanged window within 20 ms of the resend: Linux "
        "receivers grow their window in those ACKs (autotuning), Linux senders recover on SACK "
        "after fewer duplicate ACKs, and a queue between sender and capture point can delay "
        "the resend past 20 ms.",
    ),
    _loss_recovery(
        "resegmented_resend",
        _resegmented_soon,
        why="The bytes were sent again, cut into other segments, less than Linux's 200 ms "
        "minimum RTO after their first copy: the kernel segmented them anew, as it does when a "
        "path MTU drop (an ICMP 'packet too big' or 'fragmentation needed') lowers the MSS and "
        "tcp_simple_retransmit resends what is in flight at once. Loss recovery, not an RTO "
        "step; Wireshark calls any resend without duplicate ACKs a plain retransmission.",
    ),
    _loss_recovery(
        "tail_loss_probe",
        _sooner_than_min_rto,
        why="The segment was resent sooner than Linux's 200 ms minimum RTO after the original, "
        "with no duplicate ACK to react to: the probe timeout of a tail loss probe (RFC 8985), "
        "loss recovery, not an RTO step. Wireshark has no TLP rule and calls any resend without "
        "duplicate ACKs a plain retransmission.",
    ),
    _loss_recovery(
        "tail_loss_probe_at_rto_time",
        _probe_at_rto_time,
        why="The first resend of a segment whose copies are spaced g, g (then 2g...): with one "
        "segment in flight Linux's tail loss probe fires at about the RTO's own time (2 * SRTT + "
        "200 ms, capped at the RTO) and rearms the RTO without backing it off, so the timeout "
        "comes the same gap after the probe and doubles from there on "
        "(tcp_schedule_loss_probe, tcp_send_loss_probe). A probe is loss "
        "recovery, not an RTO step; Wireshark has no TLP rule.",
    ),
    _loss_recovery(
        "ack_clocked_resend",
        _after_advancing_ack,
        why="The segment was resent less than Linux's 200 ms minimum RTO after a peer ACK that "
        "advanced snd.una; the RTO restarts on such an ACK (tcp_rearm_rto), so the ACK clocked "
        "the resend out (the rest of a window in loss recovery, smaller segments after a path "
        "MTU drop): loss recovery, not an RTO step. Wireshark calls any resend without "
        "duplicate ACKs a plain retransmission.",
    ),
    KnownDifference(
        "original_not_captured",
        wireshark=frozenset(),
        ours=frozenset({K.FAST_RETRANSMIT}),
        applies=lambda c: (
            K.FAST_RETRANSMIT in c.ours
            and not c.wireshark
            and "out_of_order" in c.wireshark_flags
            and _at_sack_hole(c)
        ),
        why="Wireshark calls the segment that fills the gap Out-Of-Order: its original was lost "
        "before the capture point (Wireshark never saw it), or, captured at the sender, the "
        "resend left within Wireshark's iRTT of the newest segment (right on the duplicate "
        "ACKs). The peer's SACK blocks above the gap show the data was lost, not reordered: "
        "the resend is SACK loss recovery.",
    ),
    KnownDifference(
        "sent_before_its_resend",
        wireshark=_RETRANSMIT_LABELS,
        ours=frozenset(),
        applies=lambda c: not c.ours & _RETRANSMIT_KINDS and _sent_first(c),
        why="The segment carries a lower TCP timestamp than every earlier segment of its "
        "sender holding its bytes: it left first (a sender's TSval never goes back, RFC 7323 "
        "5.4). Stamped after its own resend by another clock (captures of two points merged "
        "with clocks apart, the original seen only at the point before the drop) or overtaken "
        "by it on the way (reordering): the first transmission, not a retransmission. "
        "Wireshark orders by the frame's time and calls it a retransmission.",
    ),
    KnownDifference(
        "one_direction_captured",
        wireshark=frozenset(),
        ours=_DATA_RESENDS,
        applies=lambda c: (
            bool(c.ours & _DATA_RESENDS)
            and not c.wireshark
            and "out_of_order" in c.wireshark_flags
            and _peer_not_captured(c)
        ),
        why="Only this side of the connection was captured: with no ACK of the peer's to go "
        "by, Wireshark calls a segment below the highest sequence number sent Out-Of-Order "
        "when it follows that segment within its threshold (the handshake's round trip, else "
        "3 ms), as a resend right after new data does. A sender's segments leave in order "
        "unless resent, so pcapline counts it a resend; which kind it names from the timing "
        "alone (the peer's ACKs that would show it are not in the capture).",
    ),
    KnownDifference(
        "probe_of_an_unseen_window",
        wireshark=frozenset({"keep_alive"}),
        ours=frozenset(),
        applies=lambda c: (
            not c.ours & {K.KEEPALIVE, K.WINDOW_PROBE} and c.seg_len <= 1 and _peer_not_captured(c)
        ),
        why="Only this side of the connection was captured. A segment one byte below the next "
        "to send is a keepalive probe or, from Linux, a zero-window probe: which one depends "
        "on the window the peer last advertised, and the peer's segments are not in the "
        "capture, so pcapline names neither. Wireshark calls every segment of that shape "
        "Keep-Alive.",
    ),
    KnownDifference(
        "probe_opens_the_capture",
        wireshark=frozenset(),
        ours=frozenset({K.KEEPALIVE, K.KEEPALIVE_ACK}),
        applies=lambda c: (
            not c.wireshark
            and (
                {K.KEEPALIVE, K.CAPTURE_START} <= c.ours
                or (K.KEEPALIVE_ACK in c.ours and "ack_lost_segment" in c.wireshark_flags)
            )
        ),
        why="The capture began with this side's keepalive probe (a bare ACK at snd.una - 1): "
        "the peer's answer acknowledges one byte more and echoes an older timestamp than the "
        "probe carries, the duplicate ACK a receiver sends for a segment below its window. "
        "Wireshark, which has no earlier segment of the side to measure the probe against, "
        "calls the answer 'ACKed unseen segment' and the side's next segment 'previous "
        "segment not captured'; nothing was lost.",
    ),
    KnownDifference(
        "keepalive_ack_updates_window",
        wireshark=frozenset(),
        ours=frozenset({K.KEEPALIVE_ACK}),
        applies=lambda c: K.KEEPALIVE_ACK in c.ours and "window_update" in c.wireshark_flags,
        why="The answer to the keepalive also announced a new window. Wireshark tests "
        "window_update before keep_alive_ack and its keep-alive-ACK rule wants the window "
        "unchanged, so it says Window Update; the peer answered the probe: keepalive_ack.",
    ),
    KnownDifference(
        "keepalive_answered_by_fin",
        wireshark=frozenset(),
        ours=frozenset({K.KEEPALIVE_ACK}),
        applies=lambda c: K.KEEPALIVE_ACK in c.ours and bool(c.tcp_flags & FIN),
        why="The peer's next segment after the probe was its FIN, acknowledging the probe's "
        "sequence: it is alive. Wireshark's keep-alive-ACK rule excludes segments with "
        "SYN/FIN/RST.",
    ),
    KnownDifference(
        "zero_window_repeat",
        wireshark=frozenset({"zero_window"}),
        ours=frozenset(),
        applies=_window_still_closed,
        why="Wireshark flags every segment that advertises window 0; we report the window "
        "closing once (zero_window) and answers to probes (window_probe_ack), not every ACK of "
        "a receiver whose window stays shut.",
    ),
)


@dataclass(slots=True)
class CrossCheck:
    """The result of ``compare``."""

    frames_compared: int = 0
    agreed: Counter[str] = field(default_factory=Counter)  # Wireshark label -> frames agreeing
    explained: Counter[str] = field(
        default_factory=Counter
    )  # exception name -> disagreements explained
    explained_frames: dict[str, list[int]] = field(default_factory=dict)
    #: every explained disagreement with the name of the exception that explains it
    explained_disagreements: list[tuple[Disagreement, str]] = field(default_factory=list)
    unexplained: list[Disagreement] = field(default_factory=list)
    stream_mismatches: list[tuple[int, int, int]] = field(
        default_factory=list
    )  # (frame, tcp.stream, ours)
    #: tcp.stream numbers no frame carries (see ``compare``); when set, ``stream_mismatches``
    #: holds only the mismatches these gaps do not explain
    phantom_streams: list[int] = field(default_factory=list)
    only_wireshark: int = 0  # TCP frames Wireshark saw that we did not decode as TCP
    only_pcapline: int = 0  # frames we analysed that tshark did not show as TCP
    #: TCP frames Wireshark gave no tcp.stream (a TCP header cut short by the snap length):
    #: not compared; also counted in ``only_wireshark`` when we did not decode them either
    no_stream: int = 0
    first_no_stream: int | None = None  # the first of them

    def summary(self) -> str:
        lines = [f"{self.frames_compared} frames compared"]
        lines += [f"  agree  {label}: {n}" for label, n in sorted(self.agreed.items())]
        lines += [f"  explained  {name}: {n}" for name, n in sorted(self.explained.items())]
        lines += [f"  UNEXPLAINED {d}" for d in self.unexplained]
        if self.no_stream:
            lines.append(
                f"  {self.no_stream} TCP frames without a tcp.stream (not compared), first "
                f"frame {self.first_no_stream}"
            )
        if self.phantom_streams:
            lines.append(
                f"  tcp.stream numbers with no frame (dissector-made): {self.phantom_streams}"
            )
        if self.stream_mismatches:
            frame, theirs, ours = self.stream_mismatches[0]
            lines.append(
                f"  {len(self.stream_mismatches)} stream id mismatches, first at frame {frame}: "
                f"tcp.stream {theirs}, ours {ours}"
            )
        return "\n".join(lines)


def _contexts(events: pd.DataFrame, segments: pd.DataFrame) -> dict[int, ConnContext]:
    sender = dict(zip(segments["frame"].tolist(), segments["from_client"].tolist(), strict=True))
    out: dict[int, ConnContext] = {}
    for conn, frame, kind in zip(
        events["conn"].tolist(), events["frame"].tolist(), events["kind"].astype(str), strict=True
    ):
        ctx = out.setdefault(int(conn), ConnContext())
        side = bool(sender.get(int(frame), False))
        if kind == K.ZERO_WINDOW:
            ctx.zero_window_frames.setdefault(side, []).append(int(frame))
        elif kind == K.WINDOW_UPDATE:
            ctx.window_update_frames.setdefault(side, []).append(int(frame))
    return out


def _explain(check: FrameCheck, source: str, label: str) -> KnownDifference | None:
    return next((exc for exc in EXCEPTIONS if exc.explains(check, source, label)), None)


def compare(
    segments: pd.DataFrame,
    events: pd.DataFrame,
    wireshark: pd.DataFrame,
) -> CrossCheck:
    """Compare our ``events`` (and ``segments``' connection ids) with ``read_wireshark`` rows."""
    result = CrossCheck()
    ours_by_frame: dict[int, set[EventKind]] = {}
    for frame, kind in zip(events["frame"].tolist(), events["kind"].astype(str), strict=True):
        ours_by_frame.setdefault(int(frame), set()).add(EventKind(kind))
    contexts = _contexts(events, segments)
    seg = segments.set_index("frame")
    # A frame Wireshark dissected as TCP without a tcp.stream (its header cut short) has no
    # connection to compare: counted, not compared, and not called only ours either.
    unstreamed = wireshark["stream"].isna().to_numpy(bool)
    if unstreamed.any():
        lost = pd.Index(wireshark.loc[unstreamed, "frame"].to_numpy(np.int64))
        result.no_stream = len(lost)
        result.first_no_stream = int(lost.min())
        wireshark = wireshark[~unstreamed]
    else:
        lost = pd.Index([], dtype=np.int64)
    wireshark = wireshark.astype({"stream": "int64"})
    ws = wireshark.set_index("frame")
    common = seg.index.intersection(ws.index)
    result.only_wireshark = len(ws.index.difference(seg.index)) + len(lost.difference(seg.index))
    result.only_pcapline = len(seg.index.difference(ws.index).difference(lost))
    result.frames_compared = len(common)
    streams = ws.loc[common, "stream"].to_numpy()
    conns = seg.loc[common, "conn"].to_numpy()
    # Some Wireshark dissectors create a TCP conversation in advance (SOCKS for the proxied
    # target, FTP for its data channel...): it takes the next tcp.stream number and may never
    # carry a frame, so later streams are numbered one higher than ours. Such gaps are
    # reported as phantom_streams; numbering by rank among the streams frames really carry is
    # then what must match.
    seen = np.unique(wireshark["stream"].to_numpy())
    if len(seen) and int(seen[-1]) + 1 != len(seen):
        result.phantom_streams = sorted(set(range(int(seen[-1]) + 1)) - {int(x) for x in seen})
        streams = np.searchsorted(seen, streams)
    for frame, theirs, ours in zip(
        common[streams != conns], streams[streams != conns], conns[streams != conns], strict=True
    ):
        result.stream_mismatches.append((int(frame), int(theirs), int(ours)))
    flagged = ws.loc[common]
    # Only frames where a compared label or one of our compared events can disagree.
    any_flag = flagged[list(_COMPARED_FLAGS)].any(axis=1)
    ours_compared = {f for f, kinds in ours_by_frame.items() if kinds & _CHECKED_KINDS}
    frames = sorted(set(flagged.index[any_flag].tolist()) | (ours_compared & set(common.tolist())))
    wanted = set(seg.loc[frames, "conn"].to_numpy(np.int64).tolist()) if frames else set()
    for conn, rows in segments[segments["conn"].isin(wanted)].groupby("conn", sort=False):
        contexts.setdefault(int(cast(int, conn)), ConnContext()).segments = rows.sort_values(
            "frame", kind="stable"
        )
    ws_rows = cast(dict[int, dict[str, Any]], ws.loc[frames].to_dict("index"))
    seg_rows = cast(dict[int, dict[str, Any]], seg.loc[frames].to_dict("index"))
    for frame in frames:
        _check_frame(
            result,
            frame,
            ws_rows[frame],
            seg_rows[frame],
            ours_by_frame.get(frame, set()),
            contexts,
        )
    return result


def _check_frame(
    result: CrossCheck,
    frame: int,
    ws_row: Mapping[str, Any],
    seg_row: Mapping[str, Any],
    ours_all: Iterable[EventKind],
    contexts: dict[int, ConnContext],
) -> None:
    ours = frozenset(ours_all)
    conn = int(seg_row["conn"])
    check = FrameCheck(
        frame=frame,
        conn=conn,
        wireshark=wireshark_labels(ws_row),
        wireshark_flags=frozenset(f for f in WIRESHARK_FLAGS if bool(ws_row[f])),
        ours=ours,
        seq=int(seg_row["seq"]) if "seq" in seg_row else 0,
        seg_len=int(seg_row["seg_len"]),
        tcp_flags=int(seg_row["flags"]),
        from_client=bool(seg_row["from_client"]),
        window=int(seg_row["window"]),
        context=contexts.get(conn, ConnContext()),
    )
    unmatched: list[tuple[str, str]] = []
    for label in sorted(check.wireshark):
        if _agreeing_kinds(label) & ours:
            result.agreed[label] += 1
        else:
            unmatched.append(("wireshark", label))
    for kind in sorted(ours & COMPARED_KINDS):
        if not _agreeing_labels(kind) & check.wireshark:
            unmatched.append(("pcapline", str(kind)))
    if (
        K.WINDOW_UPDATE in ours
        and "window_update" not in check.wireshark_flags
        and check.seg_len == 0
    ):
        unmatched.append(("pcapline", str(K.WINDOW_UPDATE)))
    for source, label in unmatched:
        disagreement = Disagreement(
            frame=frame,
            conn=conn,
            source=source,
            label=label,
            wireshark=tuple(sorted(check.wireshark)),
            ours=tuple(sorted(str(k) for k in ours)),
        )
        exc = _explain(check, source, label)
        if exc is not None:
            result.explained[exc.name] += 1
            result.explained_frames.setdefault(exc.name, []).append(frame)
            result.explained_disagreements.append((disagreement, exc.name))
            continue
        result.unexplained.append(disagreement)


def crosscheck(
    path: str | PathLike[str],
    *,
    tshark: str = "tshark",
    wireshark: pd.DataFrame | None = None,
    analysis: Analysis | None = None,
) -> CrossCheck:
    """Analyse ``path`` with pcapline (unless ``analysis`` is given) and with tshark (unless
    ``wireshark`` is given); compare."""
    analysis = analyze(path) if analysis is None else analysis
    table = read_wireshark(path, tshark=tshark) if wireshark is None else wireshark
    return compare(analysis.segments, analysis.events, table)
