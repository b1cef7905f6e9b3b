"""classify: detections -> one fate per connection. The only place a fate is set.

One ordered list of named rules (``RULES``); the first rule that matches decides, as in Zeek's
``conn_state()``. Reading the list top to bottom is reading the decision procedure:

1. ``refused``            the server answered a SYN with RST before any SYN+ACK.
2. ``connect_timeout``    SYNs never answered by SYN+ACK or RST, and the capture shows at least
                          one retry or runs past the time the first retry was due. (A lone SYN
                          at the very end of the capture is still connecting: ``open``. A
                          client ACK after the SYN proves an unseen SYN+ACK: not this fate.)
3. ``listen_overflow``    the client ACKed the SYN+ACK but the server acted as if it had not:
                          it retransmitted the SYN+ACK after that ACK (tcp_abort_on_overflow=0)
                          or answered it with a listener RST (=1), and it never acknowledged
                          client data nor sent any (an overflow the server recovered from is
                          not the fate; the explanation still mentions it).
4. ``handshake_timeout``  the server retransmitted its SYN+ACK and the client never ACKed it
                          (a later server segment other than SYN+ACK/RST proves an unseen ACK).
5. ``keepalive_timeout``  keepalive probes unanswered at the end and the prober gave up (RST or
                          silence past one interval), or 3+ unanswered when the capture ended.
6. ``persist_timeout``    window probes unanswered at the end and the prober gave up, or 3+
                          unanswered when the capture ended.
7. ``retransmit_timeout`` the last retransmitted data was never acknowledged, nothing new
                          followed, the peer did not reset, and either the sender was seen
                          giving up (2+ retransmissions, then silence past the next expected RTO
                          or its own RST) or the capture ended mid-backoff after 3+.
8. ``reset``              a RST ended the connection (before both FINs were exchanged).
9. ``closed``             FIN from both sides.
10. ``half_closed``       FIN from exactly one side.
                          (9-10: in a one-sided capture the captured side's ACK of the peer's
                          FIN stands for that unseen FIN, ``Handshake.one_sided``.)
11. ``open``              nothing ended it within the capture.

Precedence rationale: handshake fates first (a connection that never opened cannot have died
of anything later); then the established-phase deaths, each of which also explains the RST or
silence that ends it (so they beat the generic ``reset``); a lossy transfer that recovered and
closed fails every death rule because its data was acknowledged, so it is ``closed``.

``closer`` is set only for closed/half_closed; ``reset_by`` whenever a RST ended the
connection (refused: the server; keepalive: usually the prober). Counts follow DESIGN.md and are
computed columnar from ``facts`` for every connection.

Speed: connections no detector screened in (one SYN, one SYN+ACK, no RST, no retransmission,
no probe, no zero window) can only be closed / half_closed / open; their verdict comes from
columnar aggregates (``_healthy``), the same rules 9-11 in vectorised form.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pcapline import explain
from pcapline.detect import ConnDetections, DetectResult
from pcapline.detect.artefacts import Artefacts
from pcapline.detect.close import Close
from pcapline.detect.handshake import Handshake
from pcapline.detect.keepalive import Keepalive
from pcapline.detect.retransmit import Retransmissions
from pcapline.detect.zero_window import ZeroWindow
from pcapline.facts import Facts
from pcapline.model import ACK, CONNECTION_COLUMNS, FIN, RST, SYN, Counts, Fate, Side, Verdict

#: Unanswered probes / retransmissions that count as a death even when the capture ended
#: before the sender's give-up could be seen.
MIDWAY_THRESHOLD = 3


@dataclass(frozen=True, slots=True)
class Evidence:
    """Everything the rules may look at for one connection."""

    conn: int
    counts: Counts
    handshake: Handshake
    retransmit: Retransmissions
    keepalive: Keepalive | None
    zero_window: ZeroWindow | None
    close: Close
    artefacts: Artefacts
    start_ns: int
    end_ns: int
    capture_end_ns: int


@dataclass(frozen=True, slots=True)
class Decision:
    fate: Fate
    closer: Side | None = None
    reset_by: Side | None = None
    evidence_frames: tuple[int, ...] = ()


Rule = Callable[[Evidence], Decision | None]


def refused(e: Evidence) -> Decision | None:
    h = e.handshake
    if h.answer == "rst" and h.synack is None:
        return Decision(Fate.REFUSED, reset_by=Side.SERVER, evidence_frames=_frames(h.answer_frame))
    return None


def connect_timeout(e: Evidence) -> Decision | None:
    h = e.handshake
    if h.syn is None or h.synack is not None or h.answer == "rst":
        return None
    if h.synack_proven is not None:  # the client ACKed a SYN+ACK the capture did not hold
        return None
    if h.syn.retries >= 1 or h.syn.gave_up:
        return Decision(Fate.CONNECT_TIMEOUT, evidence_frames=h.syn.frames)
    return None


def listen_overflow(e: Evidence) -> Decision | None:
    h = e.handshake
    if not h.client_acked or h.server_acked_data or _server_spoke(e):
        return None
    if h.overflow_rst_frame is not None:
        return Decision(
            Fate.LISTEN_OVERFLOW,
            reset_by=Side.SERVER,
            evidence_frames=_frames(h.overflow_rst_frame),
        )
    if h.synack_after_ack:
        frames = h.synack.frames if h.synack is not None else ()
        return Decision(Fate.LISTEN_OVERFLOW, reset_by=_reset_side(e), evidence_frames=frames)
    return None


def handshake_timeout(e: Evidence) -> Decision | None:
    h = e.handshake
    if h.synack is None or h.client_acked or h.ack_proven is not None:
        return None  # ack_proven: the server went on as established, so the ACK arrived unseen
    if _reset_side(e) is Side.CLIENT:
        return None  # the client aborted the handshake itself: a reset, not a timeout
    if h.synack.retries >= 1 or h.synack.gave_up:
        return Decision(
            Fate.HANDSHAKE_TIMEOUT, reset_by=_reset_side(e), evidence_frames=h.synack.frames
        )
    return None


def keepalive_timeout(e: Evidence) -> Decision | None:
    k = e.keepalive
    if k is None or not k.unanswered_tail or k.later_traffic or k.peer_rst_frame is not None:
        return None
    if k.gave_up or k.unanswered_tail >= MIDWAY_THRESHOLD:
        reset_by = k.prober if k.rst_frame is not None else None
        return Decision(
            Fate.KEEPALIVE_TIMEOUT, reset_by=reset_by, evidence_frames=_frames(k.rst_frame)
        )
    return None


def persist_timeout(e: Evidence) -> Decision | None:
    z = e.zero_window
    if z is None or not z.unanswered_tail:
        return None
    if z.gave_up or z.unanswered_tail >= MIDWAY_THRESHOLD:
        reset_by = _reset_side(e) if z.rst_frame is not None else None
        return Decision(
            Fate.PERSIST_TIMEOUT, reset_by=reset_by, evidence_frames=_frames(z.rst_frame)
        )
    return None


def retransmit_timeout(e: Evidence) -> Decision | None:
    s = e.retransmit.last_series
    if s is None or s.acked or s.later_traffic or s.peer_rst_frame is not None:
        return None
    if (s.gave_up and s.retransmissions >= 2) or s.retransmissions >= MIDWAY_THRESHOLD:
        reset_by = s.side if s.rst_frame is not None else None
        return Decision(Fate.RETRANSMIT_TIMEOUT, reset_by=reset_by, evidence_frames=s.frames)
    return None


def reset(e: Evidence) -> Decision | None:
    r = e.close.ending_reset
    if r is None or r.state == "after both FINs":
        return None
    return Decision(Fate.RESET, reset_by=r.side, evidence_frames=(r.frame,))


def closed(e: Evidence) -> Decision | None:
    client_fin, server_fin, closer = _fins(e)
    if client_fin is None or server_fin is None:
        return None
    frames = tuple(sorted((client_fin, server_fin)))
    return Decision(Fate.CLOSED, closer=closer, reset_by=_reset_side(e), evidence_frames=frames)


def half_closed(e: Evidence) -> Decision | None:
    client_fin, server_fin, closer = _fins(e)
    fin = client_fin if client_fin is not None else server_fin
    if fin is None:
        return None
    return Decision(Fate.HALF_CLOSED, closer=closer, evidence_frames=(fin,))


def still_open(e: Evidence) -> Decision | None:
    return Decision(Fate.OPEN)


#: The decision procedure, in order (module docstring).
RULES: tuple[tuple[str, Rule], ...] = (
    ("refused", refused),
    ("connect_timeout", connect_timeout),
    ("listen_overflow", listen_overflow),
    ("handshake_timeout", handshake_timeout),
    ("keepalive_timeout", keepalive_timeout),
    ("persist_timeout", persist_timeout),
    ("retransmit_timeout", retransmit_timeout),
    ("reset", reset),
    ("closed", closed),
    ("half_closed", half_closed),
    ("open", still_open),
)


def decide(e: Evidence) -> Decision:
    for _name, rule in RULES:
        decision = rule(e)
        if decision is not None:
            return decision
    raise AssertionError("the 'open' rule always matches")


def _frames(*frames: int | None) -> tuple[int, ...]:
    return tuple(f for f in frames if f is not None)


def _reset_side(e: Evidence) -> Side | None:
    r = e.close.ending_reset
    return r.side if r is not None else None


def _fins(e: Evidence) -> tuple[int | None, int | None, Side | None]:
    """Client FIN frame, server FIN frame, closer. In a one-sided capture the unseen peer's FIN
    is proven by the captured side's ACK of it (its frame stands for the FIN)."""
    c = e.close
    one = e.handshake.one_sided
    if one is None or one.peer_fin_ack_frame is None:
        return c.client_fin_frame, c.server_fin_frame, c.closer
    peer = Side.SERVER if one.captured is Side.CLIENT else Side.CLIENT
    closer = peer if one.peer_closed_first else one.captured
    if one.captured is Side.CLIENT:
        return c.client_fin_frame, one.peer_fin_ack_frame, closer
    return one.peer_fin_ack_frame, c.server_fin_frame, closer


def _server_spoke(e: Evidence) -> bool:
    """The server sent data or a FIN after the handshake: it had accepted the connection."""
    return e.close.server_fin_frame is not None or e.handshake.server_sent_data


# ----------------------------------------------------------------------------------------


def classify(
    segments: pd.DataFrame, connections: pd.DataFrame, detected: DetectResult
) -> pd.DataFrame:
    """The connections table with every model.CONNECTION_COLUMNS column filled."""
    table = _verdict_table(detected)
    stale_peer_resets(table, segments, connections, detected)
    out = connections.copy()
    pos = np.searchsorted(detected.facts.conn_ids, out["id"].to_numpy(np.int64))
    known = (pos < len(detected.facts.conn_ids)) & (
        detected.facts.conn_ids[np.minimum(pos, max(len(detected.facts.conn_ids) - 1, 0))]
        == out["id"].to_numpy(np.int64)
        if len(detected.facts.conn_ids)
        else np.zeros(len(out), dtype=bool)
    )
    if not np.all(known):  # connections without segments (flows never makes these)
        raise ValueError("classify: connections without segments")
    for name, values in table.items():
        column = values[pos] if isinstance(values, np.ndarray) else [values[i] for i in pos]
        out[name] = pd.Series(column, index=out.index, dtype=_DTYPES.get(name, object))
    extra = [c for c in out.columns if c not in CONNECTION_COLUMNS]
    return out[list(CONNECTION_COLUMNS) + extra]


_DTYPES: dict[str, Any] = {name: np.int64 for name in Counts.__slots__}


def _verdict_table(detected: DetectResult) -> dict[str, Any]:
    """Verdict columns per connection, in ``facts.conn_ids`` order.

    Healthy (unvisited) connections get rules 9-11 columnar; visited ones go through ``RULES``.
    """
    facts = detected.facts
    counts = _counts(facts)
    healthy = _healthy(facts)
    fate, closer = healthy.fates()
    table: dict[str, Any] = {
        "fate": fate,
        "closer": closer,
        "reset_by": np.full(len(facts.conn_ids), None, dtype=object),
    }
    for name, values in zip(Counts.__slots__, counts, strict=True):
        table[name] = values
    table["inferred"] = healthy.inferred()
    table["explanation"] = healthy.explanations(fate, closer)
    table["evidence_frames"] = healthy.evidence()
    start = facts.time_ns[facts.starts[:-1]] if len(facts.conn_ids) else np.zeros(0, np.int64)
    end = facts.time_ns[np.maximum(facts.starts[1:] - 1, 0)] if len(facts.conn_ids) else start
    for index in np.flatnonzero(detected.visited).tolist():
        conn = int(facts.conn_ids[index])
        c = Counts(*(int(col[index]) for col in counts))
        evidence = _evidence(
            conn, c, detected.detections[conn], int(start[index]), int(end[index]), facts
        )
        decision = decide(evidence)
        table["fate"][index] = decision.fate.value
        table["closer"][index] = decision.closer.value if decision.closer is not None else None
        table["reset_by"][index] = (
            decision.reset_by.value if decision.reset_by is not None else None
        )
        table["inferred"][index] = explain.inferred(evidence)
        table["explanation"][index] = explain.explain(decision, evidence)
        table["evidence_frames"][index] = list(decision.evidence_frames)
    return table


def stale_peer_resets(
    table: dict[str, Any], segments: pd.DataFrame, connections: pd.DataFrame, detected: DetectResult
) -> None:
    """Cross-connection evidence on one 4-tuple: a stale-peer exchange (challenge ACK, client
    RST, SYN retry) is grouped with the NEW connection (Wireshark's tcp.stream rule), but its
    RST carries the OLD connection's next client sequence number, so it ends the old one on
    the server. Move that RST's fate and count to the older connection (in place)."""
    facts = detected.facts
    for conn, found in detected.detections.items():
        h = found.handshake.inferred
        if h.stale_rst_frame is None:
            continue
        older = _previous_on_4tuple(connections, conn)
        if older is None:
            continue
        rst = segments[segments["frame"] == h.stale_rst_frame]
        old_client = segments[(segments["conn"] == older) & segments["from_client"]]
        if not len(rst) or not len(old_client):
            continue
        flags = old_client["flags"].to_numpy(np.int64)
        ends = (
            old_client["seq"].to_numpy(np.int64)
            + old_client["seg_len"].to_numpy(np.int64)
            + ((flags & SYN) != 0)
            + ((flags & FIN) != 0)
        ) % 2**32
        if int(rst["seq"].iloc[0]) not in set(ends.tolist()):
            continue
        i_old, i_new = np.searchsorted(facts.conn_ids, [older, conn])
        if table["fate"][i_old] not in (Fate.OPEN.value, Fate.HALF_CLOSED.value):
            continue
        table["fate"][i_old] = Fate.RESET.value
        table["reset_by"][i_old] = Side.CLIENT.value
        table["closer"][i_old] = None
        table["resets"][i_old] += 1
        table["resets"][i_new] = max(int(table["resets"][i_new]) - 1, 0)
        table["evidence_frames"][i_old] = [h.stale_rst_frame]
        idle = (int(rst["time_ns"].iloc[0]) - int(facts.time_ns[facts.starts[i_old + 1] - 1])) / 1e9
        table["inferred"][i_old] = {
            **table["inferred"][i_old],
            "reset": {"by": Side.CLIENT.value, "state": "established", "idle_s": round(idle, 3)},
        }
        table["explanation"][i_old] = explain.stale_peer_reset(h.stale_rst_frame, conn)


def _previous_on_4tuple(connections: pd.DataFrame, conn: int) -> int | None:
    keys = ["client_ip", "client_port", "server_ip", "server_port"]
    me = connections[connections["id"] == conn]
    if not len(me):
        return None
    same = (connections[keys] == me[keys].iloc[0]).all(axis=1) & (connections["id"] < conn)
    return int(connections.loc[same, "id"].max()) if same.any() else None


def verdicts_by_id(connections: pd.DataFrame, detected: DetectResult) -> dict[int, Verdict]:
    """One ``model.Verdict`` per connection id (fate, sides, counts, evidence frames)."""
    table = _verdict_table(detected)
    out: dict[int, Verdict] = {}
    for index, conn in enumerate(detected.facts.conn_ids.tolist()):
        closer, reset_by = table["closer"][index], table["reset_by"][index]
        out[conn] = Verdict(
            conn=conn,
            fate=Fate(table["fate"][index]),
            closer=Side(closer) if closer is not None else None,
            reset_by=Side(reset_by) if reset_by is not None else None,
            counts=Counts(*(int(table[name][index]) for name in Counts.__slots__)),
            inferred=table["inferred"][index],
            explanation=table["explanation"][index],
            evidence_frames=tuple(table["evidence_frames"][index]),
        )
    return out


def _evidence(
    conn: int, counts: Counts, found: ConnDetections, start: int, end: int, facts: Facts
) -> Evidence:
    return Evidence(
        conn=conn,
        counts=counts,
        handshake=found.handshake.inferred,
        retransmit=found.retransmit.inferred,
        keepalive=found.keepalive.inferred,
        zero_window=found.zero_window.inferred,
        close=found.close.inferred,
        artefacts=found.artefacts.inferred,
        start_ns=start,
        end_ns=end,
        capture_end_ns=facts.capture_end_ns,
    )


def _counts(facts: Facts) -> tuple[np.ndarray, ...]:
    """The six DESIGN.md counts per connection (facts.conn_ids order), columnar."""
    n = len(facts.conn_ids)
    ci = facts.conn_index
    clean = ~facts.is_dup
    syn = (facts.flags & SYN) != 0
    ack = (facts.flags & ACK) != 0

    def per_conn(mask: np.ndarray) -> np.ndarray:
        return np.bincount(ci[mask], minlength=n).astype(np.int64)

    syns = per_conn(syn & ~ack & facts.from_client & clean)
    synacks = per_conn(syn & ack & ~facts.from_client & clean)
    return (
        np.maximum(syns - 1, 0),
        np.maximum(synacks - 1, 0),
        per_conn(facts.is_retrans),
        per_conn(facts.is_keepalive),
        per_conn(facts.is_window_probe),
        per_conn(((facts.flags & RST) != 0) & clean),
    )


@dataclass(frozen=True, slots=True)
class _Healthy:
    """Rules 9-11 in columnar form, for connections no detector needed to visit."""

    client_fin: np.ndarray  # frame of the first client FIN, 0 if none
    server_fin: np.ndarray
    crossed: np.ndarray  # the FINs crossed (simultaneous close)
    no_syn: np.ndarray
    rtt_ms: np.ndarray  # handshake RTT, NaN if not measurable

    def fates(self) -> tuple[np.ndarray, np.ndarray]:
        cf, sf = self.client_fin > 0, self.server_fin > 0
        fate = np.where(
            cf & sf, Fate.CLOSED.value, np.where(cf | sf, Fate.HALF_CLOSED.value, Fate.OPEN.value)
        ).astype(object)
        first_client = np.where(cf & sf, self.client_fin < self.server_fin, cf)
        closer = np.where(first_client, Side.CLIENT.value, Side.SERVER.value).astype(object)
        closer[cf & sf & self.crossed] = Side.BOTH.value
        closer[~(cf | sf)] = None
        return fate, closer

    def inferred(self) -> list[dict[str, Any]]:
        rtt = np.round(self.rtt_ms, 3).tolist()
        out: list[dict[str, Any]] = [{} if r != r else {"rtt_ms": r} for r in rtt]  # NaN != NaN
        for i in np.flatnonzero(self.no_syn).tolist():
            out[i]["capture_start"] = True
        return out

    def explanations(self, fate: np.ndarray, closer: np.ndarray) -> list[str]:
        # Few distinct texts (fate x closer x capture start): word each once.
        texts: dict[tuple[str, object, bool], str] = {}
        out = []
        for f, c, n in zip(fate.tolist(), closer.tolist(), self.no_syn.tolist(), strict=True):
            key = (f, c, n)
            text = texts.get(key)
            if text is None:
                text = texts[key] = explain.healthy(Fate(f), Side(c) if c is not None else None, n)
            out.append(text)
        return out

    def evidence(self) -> list[list[int]]:
        return [
            [a, b] if a < b else [b, a] if a and b else [a or b] if a or b else []
            for a, b in zip(self.client_fin.tolist(), self.server_fin.tolist(), strict=True)
        ]


def _healthy(facts: Facts) -> _Healthy:
    n = len(facts.conn_ids)
    ci = facts.conn_index
    fin = ((facts.flags & FIN) != 0) & ~facts.is_dup  # the first FIN counts even if resent
    first_fin = {}
    first_row = {}
    for side in (True, False):
        rows = np.flatnonzero(fin & (facts.from_client == side))[::-1]
        frame = np.zeros(n, dtype=np.int64)
        row = np.full(n, -1, dtype=np.int64)
        frame[ci[rows]] = facts.frame[rows]
        row[ci[rows]] = rows
        first_fin[side], first_row[side] = frame, row
    both = (first_row[True] >= 0) & (first_row[False] >= 0)
    crossed = np.zeros(n, dtype=bool)
    idx = np.flatnonzero(both)
    a, b = first_row[True][idx], first_row[False][idx]
    first, second = np.minimum(a, b), np.maximum(a, b)
    crossed[idx] = facts.rel_ack[second] < facts.seq_end[first]
    syn = (facts.flags & SYN) != 0
    no_syn = np.bincount(ci[syn], minlength=n) == 0
    return _Healthy(
        client_fin=first_fin[True],
        server_fin=first_fin[False],
        crossed=crossed,
        no_syn=no_syn,
        rtt_ms=_handshake_rtt_ms(facts),
    )


def _handshake_rtt_ms(facts: Facts) -> np.ndarray:
    """SYN -> client's first ACK without SYN, per connection (healthy ones: exactly one SYN)."""
    n = len(facts.conn_ids)
    ci = facts.conn_index
    syn = ((facts.flags & SYN) != 0) & ~((facts.flags & ACK) != 0) & facts.from_client
    syn_t = np.full(n, np.nan)
    rows = np.flatnonzero(syn)[::-1]
    syn_t[ci[rows]] = facts.time_ns[rows]
    ack = facts.from_client & ((facts.flags & (ACK | SYN)) == ACK) & (facts.rel_ack >= 1)
    ack_t = np.full(n, np.nan)
    rows = np.flatnonzero(ack)[::-1]
    ack_t[ci[rows]] = facts.time_ns[rows]
    return np.asarray((ack_t - syn_t) / 1e6)


def verdicts(
    segments: pd.DataFrame, connections: pd.DataFrame, detected: DetectResult
) -> list[Verdict]:  # segments/connections: the stage signature
    """``model.Verdict`` per connection, in connection id order (with evidence frames)."""
    by_id = verdicts_by_id(connections, detected)
    return [by_id[k] for k in sorted(by_id)]


__all__ = ["RULES", "Decision", "Evidence", "classify", "decide", "verdicts", "verdicts_by_id"]
