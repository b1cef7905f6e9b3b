"""explain: a decision in plain words, with the numbers and the settings to check.

The reader is an on-call engineer holding a ticket: every explanation says what the capture
shows (counts, gaps, who), what it most likely means, and where to look on the hosts (sysctls,
socket options, ``ss``/``nstat`` counters). Honest about the capture's limits: when the
capture ended before a give-up could be seen, the text says so.

The stage after classify: ``verdicts`` turns every ``Decision`` (with the ``Evidence`` it was
decided on) into a ``model.Verdict``: the decision, the ``inferred`` dict (documented keys, see
``inferred``) and a structured ``model.Explanation`` (label, headline, body, what to check, side
notes). It reads classify's records from ``pcapline/evidence.py`` and never imports classify.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from pcapline import explain_path
from pcapline.delays import Delays, SlowSummary, SlowTag
from pcapline.detect.close import ANSWER_WITHIN_S, WAIT_MIN_S, Reset, UnseenEnd
from pcapline.detect.handshake import LINEAR_SYN_GAPS, Handshake, SynLimits
from pcapline.detect.retransmit import Retransmissions
from pcapline.detect.zero_window import next_probe_due, persist_freed
from pcapline.evidence import Classified, Evidence
from pcapline.explain_endpoint import endpoint_note
from pcapline.explain_slow import with_slow_notes
from pcapline.explain_transfer import with_transfer_notes
from pcapline.fmt import gap as _gap
from pcapline.fmt import round_trip
from pcapline.fmt import seconds as _s
from pcapline.loopback import HOST_DROPS
from pcapline.model import (
    CAVEATS,
    Cause,
    Confidence,
    Decision,
    Explanation,
    Fate,
    Side,
    Verdicts,
)
from pcapline.quality import CaptureQuality, crossing_notes
from pcapline.timers import close_to, next_backoff

if TYPE_CHECKING:
    from pcapline.app import App


def verdicts(
    classified: Classified,
    lost: Mapping[int, Delays] | None = None,
    apps: Mapping[int, App] | None = None,
) -> Verdicts:
    """Every connection's verdict: the decision, its ``inferred`` dict and its explanation.

    Connections decided through the rules are worded from their evidence; the others (and any a
    rule visited although no screen selected it) share one text per (fate, closer, capture
    start), worded without per-connection numbers (``healthy``). ``lost``: the delays stage's
    records (by connection id): a slow connection's explanation says what it lost
    (``explain_slow``). ``apps``: what each connection's payloads carry (pcapline.app): an
    HTTP request the server closed on without a response is worded so however soon it closed.
    """
    texts: dict[tuple[Fate, Side | None, bool, bool, bool], Explanation] = {}
    caveats_of = classified.caveats or [()] * len(classified.conn_ids)
    payload_only = classified.quality is not None and classified.quality.payload_only
    columnar = classified.columnar
    rtt = columnar.rtt_ms.tolist()
    start = columnar.capture_start.tolist()
    duplicates = columnar.duplicates.tolist()
    super_segments = columnar.super_segments.tolist()
    fin_unacked = None if columnar.fin_unacked is None else columnar.fin_unacked.tolist()
    fates, closers = classified.fate.tolist(), classified.closer.tolist()
    found: list[dict[str, object]] = []
    words: list[Explanation] = []
    for index, conn in enumerate(classified.conn_ids.tolist()):
        e = classified.evidence.get(conn)
        text: Explanation | None = None
        unacked = bool(fin_unacked is not None and fin_unacked[index])
        if e is not None:
            d = classified.decisions[conn]
            if unacked:
                e = replace(e, fin_unacked=True)
            keys = inferred(e)
            if d.cause is Cause.PATH_RESET:
                keys["path_reset"] = explain_path.path_reset_inferred(e)
            if _stale_peer_decided(d, e):
                keys["reset"] = _stale_peer_inferred(e)
            if e.close.unanswered is not None and apps is not None:
                app = apps.get(conn)
                if app is not None and app.request is not None and app.response is None:
                    e = replace(e, http_unanswered=True)
            text = explain(d, e)
        else:
            keys = {}
            _rtt_key(keys, None if math.isnan(rtt[index]) else rtt[index])
            _artefact_keys(keys, start[index], duplicates[index], super_segments[index])
        if text is None:  # nothing unusual: one text per (fate, closer, capture start, soon)
            soon = _too_soon(caveats_of[index])
            key = (fates[index], closers[index], bool(start[index]), soon, unacked)
            text = texts.get(key)
            if text is None:
                text = texts[key] = healthy(
                    key[0], key[1], key[2], key[3], payload_only=payload_only, unacked=unacked
                )
        found.append(keys)
        words.append(text)
    if lost is not None:
        ids = classified.conn_ids.tolist()
        statuses = {
            conn: app.response.status
            for conn, app in (apps or {}).items()
            if app.response is not None
        }
        words = with_transfer_notes(with_slow_notes(words, ids, lost, statuses), ids, lost)
    words = _with_crossing(words, classified.quality)
    confidence = classified.confidence or [Confidence.PROVEN] * len(words)
    caveats = classified.caveats or [()] * len(words)
    return Verdicts(
        classified.conn_ids.tolist(),
        fate=fates,
        closer=closers,
        reset_by=classified.reset_by.tolist(),
        counts={name: values.tolist() for name, values in classified.counts.items()},
        evidence_frames=classified.evidence_frames,
        inferred=found,
        explanation=_with_confidence(words, confidence, caveats),
        confidence=confidence,
        caveats=caveats,
        cause=classified.cause,
    )


def _with_crossing(words: list[Explanation], q: CaptureQuality | None) -> list[Explanation]:
    """A note on every connection whose timings cross two capture points' clocks
    (``quality.crossing_notes``): the capture-wide warning says the clocks differ, this says
    which connections' times carry it."""
    if q is None or not len(q.crossed) or not q.crossed.any():
        return words
    out = list(words)
    for i, note in crossing_notes(q).items():
        out[i] = replace(words[i], notes=(*words[i].notes, note))
    return out


def _with_confidence(
    words: list[Explanation], confidence: list[Confidence], caveats: list[tuple[str, ...]]
) -> list[Explanation]:
    """A note on every fate the capture does not prove, saying why (model.CAVEATS)."""
    cache: dict[tuple[int, Confidence, tuple[str, ...]], Explanation] = {}
    out = list(words)
    for i, (level, why) in enumerate(zip(confidence, caveats, strict=True)):
        if level is Confidence.PROVEN:
            continue
        key = (id(words[i]), level, why)
        if key not in cache:
            reasons = "; ".join(CAVEATS.get(code, code) for code in why)
            note = f"Confidence {level.value}: {reasons}." if reasons else ""
            cache[key] = replace(words[i], notes=(*words[i].notes, note))
        out[i] = cache[key]
    return out


def _times(times: tuple[float, ...]) -> str:
    return ", ".join(f"{t:.3g}".rstrip("0").rstrip(".") if t else "0" for t in times) + " s"


def inferred(e: Evidence) -> dict[str, object]:
    """The ``inferred`` dict of one connection. Keys (present only when relevant):

    - ``rtt_ms``: round-trip time at the capture point (handshake, else data/ACK pairs, Karn).
    - ``syn``: {times, schedule, retries, gave_up} of the client's SYNs when any was resent
      or none was answered; ``retries`` = SYNs after the first.
    - ``synack``: the same for the server's SYN+ACKs when any was resent or none was answered.
    - ``rto``: {series (gaps in s between transmissions of the last retransmitted segment),
      doubling, gave_up, user_timeout_shape}.
    - ``spurious_rtos``: resends on a timeout the receiver reported as duplicates (D-SACK) or
      acknowledged echoing an earlier copy's timestamp (Eifel, RFC 3522).
    - ``keepalive``: {idle (TCP_KEEPIDLE), interval (TCP_KEEPINTVL), count (unanswered probes
      before the prober gave up, TCP_KEEPCNT; null if it did not), by (the prober: the side
      that sent the last probe)}; ``keepalive_peer``: the same of the other side, from its own
      probes, when both sides probed (count always null).
    - ``zero_window``: {stalled_s, probes, recovered}.
    - ``reset``: {by, state, idle_s} of the RST that ended the connection.
    - ``capture_start``: true when the capture began inside the connection (no SYN).
    - ``syn_forwarded_hops``: with ``syn``, each SYN was captured again this many hops lower
      (``Handshake.syn_forwarded_hops``): forwarded past the capture host.
    - ``duplicates``, ``super_segments``: capture artefacts, when non-zero.
    - ``icmp``, ``pmtu_stall``, ``idle_gap``: the network path (``explain_path.inferred_keys``).
    - ``silent_sender``: {side, last_frame, ack_frame, unacked_bytes, fin_unacked, silent_s,
      rto_s} a side silent with data unacknowledged while the capture went on.
    """
    out: dict[str, object] = {}
    h = e.handshake
    _rtt_key(out, h.rtt_ms if h.rtt_ms is not None else e.retransmit.rtt_ms)
    unanswered_syn = h.synack is None and h.answer != "rst" and h.synack_proven is None
    if h.syn is not None and (h.syn.retries or unanswered_syn):
        out["syn"] = h.syn.as_inferred()
        if h.syn_forwarded_hops is not None:
            out["syn_forwarded_hops"] = h.syn_forwarded_hops
    # e.g. a SYN cookie; a client RST answered it too
    unanswered_synack = not h.client_acked and h.ack_proven is None and h.synack_reset is None
    if h.synack is not None and (h.synack.retries or unanswered_synack):
        out["synack"] = h.synack.as_inferred()
    s = e.retransmit.last_series
    if s is not None and s.retransmissions:
        out["rto"] = s.as_inferred()
    if e.retransmit.dsacked_timeouts:
        out["spurious_rtos"] = e.retransmit.dsacked_timeouts
    if e.keepalive is not None:
        out["keepalive"] = e.keepalive.as_inferred()
        if e.keepalive.peer is not None:
            out["keepalive_peer"] = e.keepalive.peer.as_inferred()
    if e.zero_window is not None:
        out["zero_window"] = e.zero_window.as_inferred()
    r = e.close.ending_reset
    if r is not None:
        out["reset"] = {
            "by": r.side.value,
            "state": r.state,
            "idle_s": None if r.idle_s is None else round(r.idle_s, 3),
        }
    a = e.artefacts
    _artefact_keys(out, a.capture_start, a.duplicates, a.super_segments)
    out.update(explain_path.inferred_keys(e))  # icmp, pmtu_stall, idle_gap
    if e.silent_sender is not None:
        out["silent_sender"] = e.silent_sender.as_inferred()
    return out


# The keys a fast-path connection has too (explain.verdicts writes them from classify's
# columnar counts), written by one function each so both paths give the same dict.


def _rtt_key(out: dict[str, object], rtt_ms: float | None) -> None:
    if rtt_ms is not None:
        out["rtt_ms"] = round(rtt_ms, 3)


def _artefact_keys(
    out: dict[str, object], capture_start: bool, duplicates: int, super_segments: int
) -> None:
    if capture_start:
        out["capture_start"] = True
    if duplicates:
        out["duplicates"] = duplicates
    if super_segments:
        out["super_segments"] = super_segments


def explain(decision: Decision, e: Evidence) -> Explanation | None:
    """The explanation for a connection decided through the rules: the fate's story, then
    side notes. None when no detector's screen selected it (nothing unusual: ``healthy``)."""
    if _stale_peer_decided(decision, e):
        return _stale_peer_reset(e)
    if decision.cause is Cause.SCAN_PROBE:
        return _scan_probe(e)
    if not e.screened:
        return None
    story = explain_path.word(decision, e, _STORIES[decision.fate](decision, e))
    notes = [
        n
        for n in (
            _stale_peer_note(decision, e),
            _handshake_retry_note(decision, e),
            _overflow_note(decision, e),
            _loss_note(decision, e),
            _zero_window_note(decision, e),
            _keepalive_note(decision, e),
            _artefact_note(e),
            _reopened_note(e),
            _one_sided_note(e),
            _silent_sender_note(e),
            _one_host_note(decision, e),
            _ignored_reset_note(e),
            endpoint_note(decision, e),
        )
        if n
    ]
    return _with_notes(story, tuple(notes))


def _with_notes(story: Explanation, notes: tuple[str, ...]) -> Explanation:
    """The story followed by side notes. A story that is one sentence and nothing else keeps
    its full stop in the headline (the terminal's "why" column shows the whole sentence)."""
    notes = (*story.notes, *notes)  # a cause's paragraph (explain_path) comes first
    if story.body == "." and not story.check and not notes:
        return Explanation(story.headline + ".", label=story.label)
    return Explanation(story.headline, story.label, story.body, story.check, notes)


def healthy(
    fate: Fate,
    closer: Side | None,
    no_syn: bool,
    soon: bool = False,
    *,
    payload_only: bool = False,
    unacked: bool = False,
) -> Explanation:
    """Explanation for a connection with nothing unusual (no retransmission, RST, probe).
    ``unacked``: a half close whose FIN the peer never acknowledged (``Columnar.fin_unacked``).
    ``soon``: a half close the capture ended too soon after (``capture_ended_after_fin``).
    ``payload_only``: the capture holds no segment without payload (``Seen.payload_only``):
    a missing SYN is its filter's, not a capture begun inside the connection.

    Worded without per-connection numbers so one text serves every such connection.
    """
    if fate is Fate.CLOSED:
        story = _closed_text(closer)
    elif fate is Fate.HALF_CLOSED:
        story = _half_closed_text(closer, soon, unacked)
    else:
        story = Explanation(
            "no FIN or RST, nothing unusual", "Still open when the capture ended", "."
        )
    if no_syn:
        story = Explanation(
            NO_SYN_FILTERED
            if payload_only
            else "Capture began inside this connection (no SYN seen)",
            body=". " + story.text,
        )
    return _with_notes(story, ())


#: A connection without a captured SYN in a capture that holds only segments with payload.
NO_SYN_FILTERED = (
    "No SYN captured (this capture holds only segments with payload: the connection may have "
    "begun before the capture or during it, its SYN filtered out)"
)


def _server_left_unanswered(d: Decision, e: Evidence) -> Explanation | None:
    """The server closed first while the client's last data was acknowledged and unanswered
    (``Close.unanswered``), a second or more after it (the server waited, then closed), or at
    any time after an HTTP request that got no response. A client message that ends the
    conversation (a QUIT) is answered by a close at once: no failure is claimed for that, and
    without a recognised request the words say what the packets show, not that one failed.
    Only when the capture could have held the answer (both directions, nothing missing or
    dropped)."""
    u = e.close.unanswered
    if u is None or d.closer is not Side.SERVER:
        return None
    if u.waited_s < WAIT_MIN_S and not e.http_unanswered:
        return None
    if e.seen.lossy or e.seen.one_direction or e.seen.dropped:
        return None  # the answer may be what the capture did not hold
    if d.fate is Fate.CLOSED:
        label, then = "Closed", "; the client then closed its side"
    else:
        label, then = (
            "Half closed",
            "; the client had not closed its side by the end of the capture",
        )
    after = _s(u.waited_s) if u.waited_s >= WAIT_MIN_S else _gap(u.waited_s)
    fin = f"the server closed first (FIN, frame {u.end_frame}) {after} after"
    check = (
        "Check the server's or proxy's logs for this request and its upstream connect / read "
        "timeouts (a proxy that cannot reach its backend, or whose backend does not answer, "
        "closes like this)."
    )
    if e.http_unanswered:
        return Explanation(
            f"{fin} the client's HTTP request (frame {u.request_frame}) without a response: "
            f"its kernel acknowledged the request (frame {u.ack_frame}) and no byte of a "
            f"response came{then}",
            label,
            ". The connection closed cleanly but the request failed: the server's application "
            f"(or a proxy in front of it) gave up on it or could not serve it. {check}",
        )
    return Explanation(
        f"{fin} the client's last data (frame {u.request_frame}), which its kernel "
        f"acknowledged (frame {u.ack_frame}), without sending anything after it{then}",
        label,
        f". The server waited {after}, then closed without answering: if that data asked for "
        "an answer, the request failed although the connection closed cleanly (the server's "
        f"application, or a proxy in front of it, gave up on it or could not serve it). {check} "
        "A last message that needs no answer (a QUIT, a logout, a notification) ends the "
        "same way.",
    )


def _closed_text(closer: Side | None) -> Explanation:
    if closer is Side.BOTH:
        return Explanation(
            "both sides sent FIN at the same time (simultaneous close)",
            "Closed normally",
            "; both go through TIME_WAIT.",
        )
    other = "server" if closer is Side.CLIENT else "client"
    return Explanation(
        f"the {closer} sent the first FIN, the {other} answered with its own",
        "Closed normally",
        f"; the {closer} holds TIME_WAIT (60 s on Linux).",
    )


def _too_soon(caveats: tuple[str, ...]) -> bool:
    return "capture_ended_after_fin" in caveats


def _half_closed_text(
    closer: Side | None, soon: bool = False, unacked: bool = False
) -> Explanation:
    other = "server" if closer is Side.CLIENT else "client"
    if unacked and not soon:
        # No CLOSE_WAIT advice: nothing shows the FIN arrived (classify.fin_unacknowledged).
        return Explanation(
            f"the {closer} sent FIN, and the capture holds neither the {other}'s FIN nor its "
            "ACK of that one",
            "Half closed",
            f"; a {other} that got the FIN acknowledges it within its delayed-ACK time, so "
            f"whether it reached the {other} is not shown: it may have been lost on the way, "
            f"or the {other}'s answers before the capture point or by the capture itself. Its "
            f"state is not known: a capture nearer the {other}, or ss -tan there, tells.",
        )
    if soon:
        # No CLOSE_WAIT advice: the capture does not show the other side late to close.
        return Explanation(
            f"the {closer} sent FIN and the capture ended before the {other}'s answer to it "
            f"was due (its FIN follows its application's close())",
            "Half closed",
            ".",
        )
    return Explanation(
        f"the {closer} sent FIN, the {other} had not sent its FIN by the end of "
        f"the capture (it may still be sending, or its application never called close(): "
        f"look for CLOSE_WAIT in ss -tan on the {other})",
        "Half closed",
        ".",
    )


def _refused(d: Decision, e: Evidence) -> Explanation:
    return Explanation(
        explain_path.refusal(e.handshake, "the server"),
        "Refused",
        ". Nothing listens on that port, or a firewall rejects it (tcp-reset).",
        "Check: ss -lnt on the server; nft list ruleset / iptables -S for REJECT rules.",
    )


def _connect_timeout(d: Decision, e: Evidence) -> Explanation:
    syn = e.handshake.syn
    assert syn is not None
    n = syn.retries + 1
    shape = syn.schedule.name
    if syn.gave_up:
        end = (
            f"the client gave up at about {_s(syn.give_up_after_s)}"
            if syn.give_up_after_s is not None
            else "no further SYN came: the client gave up"
        )
    elif syn.give_up_after_s is not None:
        end = "still unanswered when the capture ended"
    else:
        end = "the capture ended while the client was still retrying (give-up not seen)"
    retries = _syn_setting(
        syn.schedule.linear_gaps,
        syn.retries,
        syn.schedule.doubling,
        syn.gave_up is True,
        syn.give_up_after_s,
    )
    lim = syn.limits
    if syn.gave_up and lim is not None and lim.linear and not lim.count:
        retries = _syn_time_limit(lim, syn.retries, syn.give_up_after_s)
        end = "no further SYN came"
    if syn.gave_up and syn.cut_short:
        end = "no further SYN came: the client stopped retrying"
        retries = (
            f"; only {syn.retries} retries 1 s apart, where no Linux setting stops: Linux 6.5+ "
            "gives up at the first of two limits, the count (TCP_SYNCNT or tcp_syn_retries "
            "plus net.ipv4.tcp_syn_linear_timeouts) and the time ((2^(TCP_SYNCNT+1) - 1) s "
            "from the first SYN): with TCP_SYNCNT=1 after 2 retries at 3 s, with 2 after "
            f"{LINEAR_SYN_GAPS} at 7 s. No timer ran out here: the application's own connect "
            "timeout closed the socket (that sends nothing), or TCP_USER_TIMEOUT did"
        )
    unanswered = "never answered"
    if syn.retries == 0 and syn.gave_up:
        # Linux resends an unanswered SYN after 1 s (Windows after 3 s): a lone SYN the capture
        # went on past was answered out of its sight, or its socket was closed first.
        unanswered = "no answer in the capture"
        hidden = (
            "a RST: this capture holds only SYN/FIN/RST segments, and a filter on SYN alone "
            "drops it"
            if e.seen.flag_filtered
            else "a RST or SYN+ACK the capture point lost"
        )
        end = (
            "no further SYN came, although an unanswered SYN is resent after 1 s: the "
            "application closed the socket first (its own connect timeout), or an answer "
            f"reached the client that the capture does not hold ({hidden})"
        )
    stale = (
        " The server answered with a bare ACK (stale TIME_WAIT or half-open state on the "
        "server: it still holds this 4-tuple), the client reset it and kept retrying."
        if e.handshake.stale_peer
        else ""
    )
    hops = e.handshake.syn_forwarded_hops
    if hops is not None:
        # The SYNs went on past the capture's farther point: the advice follows them there.
        return Explanation(
            f"{n} SYN{'s' if n > 1 else ''} at {_times(syn.times)}, never answered",
            "Connect timeout",
            f"; schedule: {shape}{retries}; {end}.{stale} Each SYN was captured again "
            f"{hops} hop{'s' if hops > 1 else ''} lower (two capture points, or tcpdump -i any "
            "on a host that forwards them): the path up to the farther point forwarded them, "
            "so no NAT or firewall before it dropped them.",
            "Check beyond that point: is the server up and listening (ss -lnt), is a firewall "
            "on the rest of the path or on the server dropping SYNs (nft list ruleset; nft "
            "monitor trace), is the server's own conntrack table full if it tracks connections "
            "(dmesg: 'nf_conntrack: table full'), is the listen queue full (nstat -az "
            "TcpExtListenDrops); a capture on the server shows whether they arrive.",
        )
    return Explanation(
        f"{n} SYN{'s' if n > 1 else ''} at {_times(syn.times)}, {unanswered}",
        "Connect timeout",
        f"; schedule: {shape}{retries}; {end}.{stale}",
        "Check: is the server up and listening (ss -lnt), is a firewall dropping SYNs "
        "(nft list ruleset), is a NAT or firewall on the way out of conntrack entries "
        "(dmesg: 'nf_conntrack: table full'; conntrack -S drop) or a NAT out of source ports "
        "to this server address and port (SNAT/masquerade drops the SYN when every port of "
        "its range to one destination is taken, TIME_WAIT entries included: conntrack -S "
        "insert_failed; many connections to one destination through one address), is the "
        "listen queue full (nstat -az TcpExtListenDrops).",
    )


def _syn_time_limit(lim: SynLimits, retries: int, give_up_s: float | None) -> str:
    """The setting of a series the time limit ended before the count limit (Linux 6.5+:
    TCP_SYNCNT=1 after 2 retries 1 s apart, 2 after 5), or the application did: the last
    SYN's timer had not fired yet, so the capture cannot tell them apart."""
    n = lim.setting
    return (
        f", about {n} retr{'y' if n == 1 else 'ies'} (TCP_SYNCNT or net.ipv4.tcp_syn_retries "
        f"= {n}): Linux 6.5+ gives up at the first of two limits, the count ({n} plus "
        "net.ipv4.tcp_syn_linear_timeouts, default 4, retries) and the time "
        f"({_s(lim.time_limit_s)} from the first SYN, the give-up of {n} retries doubling from "
        f"1 s): the time limit comes first, after {retries} retries 1 s apart, at about "
        f"{_s(give_up_s)}. Or no timer ran out: the application's own connect timeout closed "
        "the socket (which sends nothing) after the last SYN and before that; the capture "
        "cannot tell them apart"
    )


def _syn_setting(
    linear: int, retries: int, doubling: bool, gave_up: bool, give_up_s: float | None
) -> str:
    """The retry setting the SYN series shows. Only a seen give-up fixes it: a capture that
    ended first shows a lower bound (more SYNs may have followed)."""
    if linear >= 2 and doubling:
        # Linux 6.5+: tcp_syn_linear_timeouts adds its count to TCP_SYNCNT (a 6.18 kernel with
        # TCP_SYNCNT=3 and the default 4 sent 8 SYNs: 5 gaps of 1 s, then 2 and 4 s).
        setting = retries - (linear - 1)
        where = (
            "TCP_SYNCNT or net.ipv4.tcp_syn_retries, plus Linux 6.5+ "
            "net.ipv4.tcp_syn_linear_timeouts"
        )
    else:
        setting, where = retries, "TCP_SYNCNT or net.ipv4.tcp_syn_retries"
    if not retries:
        return ""
    if gave_up:
        return f", about {setting} retries ({where})"
    would = (
        f"; with {setting} retries it would give up at about {_s(give_up_s)}" if give_up_s else ""
    )
    return (
        f", at least {setting} retries ({where}; the capture ended before the client gave "
        f"up{would})"
    )


def _listen_overflow(d: Decision, e: Evidence) -> Explanation:
    h = e.handshake
    then = ""
    if h.overflow_rst_frame is not None:
        how = (
            f"the server answered the client's handshake ACK with a RST (frame "
            f"{h.overflow_rst_frame}): accept queue full with net.ipv4.tcp_abort_on_overflow=1"
        )
    else:
        how = (
            f"the client ACKed the SYN+ACK{' and sent data' if h.client_sent_data else ''}, but the "
            f"server retransmitted its SYN+ACK {h.synack_after_ack} time(s) after that ACK, as if "
            "the ACK never came: a full accept queue drops the ACK it got "
            "(tcp_abort_on_overflow=0), and an ACK lost after the capture point (a stateful "
            "firewall, an asymmetric return path) looks the same"
        )
        if d.reset_by is Side.SERVER:
            then = (
                "; once the half-open request expired (net.ipv4.tcp_synack_retries), the listener "
                "answered the client's next segment with RST"
            )
    alt = (
        ""
        if h.data_before_resend or h.overflow_rst_frame is not None
        else " The client had sent no data before the resent SYN+ACK, so TCP_DEFER_ACCEPT on "
        "the listener (which ignores a bare ACK) would look the same."
    )
    queue = (
        "The application does not accept() fast enough or its backlog is small."
        if h.overflow_rst_frame is not None
        else "If the queue was full, the application does not accept() fast enough or its "
        "backlog is small."
    )
    return Explanation(
        how,
        "Listen queue overflow",
        f"{then}.{alt} {queue}",
        "Check: ss -lnt (Recv-Q vs Send-Q of the listener), "
        "nstat -az TcpExtListenOverflows TcpExtListenDrops (zero: the ACKs never reached the "
        "listener), net.core.somaxconn and the listen() backlog.",
    )


def _handshake_timeout(d: Decision, e: Evidence) -> Explanation:
    sa = e.handshake.synack
    assert sa is not None
    filtered = e.seen.filtered
    # A capture filtered on TCP flags (or on payload) cannot hold the handshake ACK (Linux
    # sends it bare): "the client never ACKed it" is then not in the capture, only that the
    # server acted as if no ACK came (its retries) or nothing at all (one SYN+ACK).
    unacked = (
        f"no ACK of it is in the capture, which holds {_FILTER_KEEPS[e.seen.flag_filtered]}"
        if filtered
        else "the client never ACKed it"
    )
    if sa.retries == 0:
        sent = f"the server answered the SYN with one SYN+ACK, never retransmitted, and {unacked}"
        then = (
            ". A SYN+ACK that is not retransmitted after 1 s is a SYN cookie (the SYN queue "
            "was full: nstat -az TcpExtSyncookiesSent) or tcp_synack_retries=0"
        )
        if filtered:
            then = (
                ". A SYN+ACK not retransmitted after 1 s was acknowledged (the filter hides "
                "the ACK: the connection then opened), or was a SYN cookie (the SYN queue was "
                "full: nstat -az TcpExtSyncookiesSent) or tcp_synack_retries=0"
            )
    else:
        if sa.gave_up:
            end = "the server gave up"
        elif sa.give_up_after_s is not None:
            end = f"the capture ended first; unanswered, the server drops the request at about {_s(sa.give_up_after_s)}"
        else:
            end = "the capture ended while the server was still retrying"
        sent = (
            f"the server sent SYN+ACK {sa.retries + 1} times at {_times(sa.times)} "
            f"({sa.schedule.name}) and {unacked}"
        )
        then = f"; {end}"
    bad = e.handshake.bad_ack_frame
    wrong = (
        f" The client did send an ACK (frame {bad}), but not of the SYN+ACK (ack is not the server's "
        "ISN + 1): it belongs to some other connection state, so the server ignores it (or resets)."
        if bad is not None
        else ""
    )
    never = (
        "If no ACK came, the client never completed the handshake"
        if filtered and sa.retries == 0
        else "The client never completed the handshake"
    )
    return Explanation(
        sent,
        "Handshake timeout",
        f"{then}.{wrong} {never}: it is gone, a "
        "firewall on the client side or an asymmetric return path drops the SYN+ACK or its ACK, or "
        "the SYN's source was spoofed (SYN flood).",
        "Server side: net.ipv4.tcp_synack_retries "
        "(default 5); nstat -az TcpExtTCPSynRetrans TcpExtTCPTimeouts counts the SYN+ACK "
        "retransmissions; check the path back to the client.",
    )


#: What a filtered capture holds (``Seen.flag_filtered``: SYN/FIN/RST; else a payload filter).
_FILTER_KEEPS = {
    True: "only SYN/FIN/RST segments (a flag filter would have dropped a bare ACK)",
    False: "only segments with data (a payload filter would have dropped a bare ACK)",
}


def _keepalive_timeout(d: Decision, e: Evidence) -> Explanation:
    k = e.keepalive
    assert k is not None
    single = k.probes == 1
    interval = k.timer_interval_s
    every = f" every {_s(interval)}" if interval is not None and not single else ""
    idle = f" after {_s(k.idle_s)} idle" if k.idle_s is not None else ""
    least = "at least " if k.series_start_unseen else ""
    if k.rst_frame is not None and single and interval is not None:
        # One probe shows no gap between probes; the abort comes when the timer next fires.
        end = (
            f"the {k.prober} aborted with RST {_s(interval)} after it, when its keepalive "
            f"timer next fired (TCP_KEEPINTVL {_s(interval)})"
        )
    elif k.rst_frame is not None:
        end = (
            f"the {k.prober} aborted with RST after {least}{k.unanswered_tail} unanswered probe(s)"
        )
    elif k.gave_up:
        end = f"the {k.prober} gave up silently after {least}{k.unanswered_tail} probe(s)"
    else:
        end = f"{k.unanswered_tail} probes unanswered when the capture ended (give-up not seen)"
    return Explanation(
        f"the {k.prober} sent {'a keepalive probe' if single else 'keepalive probes'}{idle}{every}",
        "Keepalive timeout",
        f"; {'it' if single else 'they'} went unanswered and {end}. The peer host or a middlebox "
        "(NAT/firewall idle "
        "timeout) vanished."
        + (
            " The capture begins inside the probe series (no SYN, nothing received before the "
            "first probe it holds): earlier probes, and so TCP_KEEPCNT, are not in it (a ring "
            "buffer's earlier file may hold them)."
            if k.series_start_unseen
            else ""
        ),
        "Settings: TCP_KEEPIDLE/TCP_KEEPINTVL/TCP_KEEPCNT or net.ipv4.tcp_keepalive_time/_intvl/"
        "_probes; on the hosts: ss -o (keepalive timer), conntrack/NAT idle timeouts on the path.",
    )


def _persist_timeout(d: Decision, e: Evidence) -> Explanation:
    z = e.zero_window
    assert z is not None
    end = (
        "the sender aborted with RST"
        if z.rst_frame is not None
        else "the sender gave up silently (Linux frees the socket without RST)"
        if z.gave_up
        else "the capture ended while the sender was still probing"
    )
    closed = (
        f"the {z.receiver} advertised window 0"
        if z.advertisements
        else f"the {z.receiver}'s window was closed (the ACK that announced window 0 is not in "
        "the capture; the sender's window probes show it)"
    )
    freed = e.close.ending_reset
    if freed is not None and persist_freed(z, freed):
        return Explanation(
            f"{closed} and stayed stalled {_s(z.stalled_s)}",
            "Persist timeout",
            f"; the {freed.side}'s RST (frame {freed.frame}) answered the reopening: "
            f"{_persist_gave_up(freed, e)}.",
            _kernel_reset_check("persist", freed, e),
        )
    return Explanation(
        f"{closed} and stayed stalled {_s(z.stalled_s)}",
        "Persist timeout",
        f"; the sender's {z.probes} window probes ended with {z.unanswered_tail} "
        f"unanswered; {end}. The receiver stopped reading and then vanished.",
        "Settings: net.ipv4.tcp_retries2, TCP_USER_TIMEOUT; check ss -o (persist timer) and the "
        "receiving application.",
    )


def _retransmit_timeout(d: Decision, e: Evidence) -> Explanation:
    s = e.retransmit.last_series
    assert s is not None
    gaps = ", ".join(_s(g) for g in s.gaps)
    shape = "doubling (exponential backoff)" if s.doubling else "not doubling"
    if s.rst_frame is not None:
        end = _rst_after_series(e)
    elif s.gave_up:
        end = (
            "then silence: the sender gave up without a RST, as Linux does on net.ipv4.tcp_retries2 "
            "or TCP_USER_TIMEOUT"
        )
        if s.give_up_after_s is not None:
            end += f" (about {_s(s.give_up_after_s)} after the first transmission)"
    elif s.give_up_after_s is not None:
        end = (
            f"the capture ended mid-backoff after {s.retransmissions} timeouts, the limit of "
            "net.ipv4.tcp_retries2 (15): without an ACK Linux aborts when the next RTO fires, "
            f"about {_s(s.give_up_after_s)} after the first transmission (TCP_USER_TIMEOUT may "
            "end it sooner; Linux sends no RST)"
        )
    else:
        end = (
            f"the capture ended mid-backoff after {s.retransmissions} timeout(s), unrecovered "
            "within the capture (give-up not seen: Linux retries up to net.ipv4.tcp_retries2, "
            "15, about 15 min; 8 once the application has closed the socket, "
            "tcp_orphan_retries; or until TCP_USER_TIMEOUT)"
        )
    uto = (
        " The last gap is shorter than doubling predicts: TCP_USER_TIMEOUT cut the backoff short."
        if s.user_timeout_shape
        else ""
    )
    early = len(s.frames) - 1 - s.retransmissions  # resends no RTO sent (TLP, fast)
    probe = (
        f" ({early} of them a tail loss probe or fast retransmit, not the retransmission timer)"
        if early > 0
        else ""
    )
    what = "FIN (no data)" if s.fin_only else "data"
    unacked = (
        f"no acknowledgement in the capture ({_nothing_from(s.side.other)})"
        if s.acks_unseen
        else "no acknowledgement in the capture (it holds no bare ACKs: a filter kept data "
        "segments only)"
        if e.seen.acks_filtered
        else "never acknowledged"
    )
    peer = s.side.other
    peer_fin = e.close.client_fin_frame if peer is Side.CLIENT else e.close.server_fin_frame
    if peer_fin is not None and s.frames and peer_fin < s.frames[0] and not s.acks_unseen:
        # After its FIN a peer still answers data: with an ACK when half closed, with a RST
        # when closed (TcpExtTCPAbortOnData) or without a socket (tcp_v4_send_reset). Its
        # silence is not its stack speaking.
        gone = (
            f" The {peer} had sent its FIN before (frame {peer_fin}); half closed (shutdown) or "
            "closed, or with no socket left at all, a host answers data, with an ACK or a "
            "RST: none came, so the "
            f"{peer} host is gone, or something on the path drops what is sent to it (a "
            "firewall or NAT whose state for the flow ended with the FIN or timed out since: "
            "conntrack keeps a closing flow minutes, not days)."
        )
    else:
        gone = " The peer or the path is gone (blackhole, dead host, firewall state lost)."
    return Explanation(
        f"the {s.side} sent the same {what} {len(s.frames)} times{probe}, "
        f"RTO gaps {gaps} ({shape}), {unacked}",
        "Retransmission timeout",
        f"; {end}.{uto}{gone}",
        "Check: ss -o (on timer), nstat TcpExtTCPAbortOnTimeout, the route/firewall between the "
        "hosts.",
    )


def _nothing_from(peer: Side) -> str:
    """Why a one-direction connection shows no ACK (``RetransmitSeries.acks_unseen``): the
    capture holds nothing of the peer's, which a tap missing that direction and a peer that
    sent nothing at all look the same."""
    return (
        f"the capture holds nothing the {peer} sent in this connection: its direction was not "
        "captured, or it sent nothing"
    )


def _rst_after_series(e: Evidence) -> str:
    """What the retransmitter's RST after its unanswered series shows: on the next backoff step
    it is the stack giving up (Windows resets after TcpMaxDataRetransmissions; Linux gives up
    silently on tcp_retries2 / TCP_USER_TIMEOUT), off it an abort (the application's)."""
    s = e.retransmit.last_series
    assert s is not None and s.rst_frame is not None
    sent = f"then the {s.side} sent RST (frame {s.rst_frame})"
    r = e.close.ending_reset
    if r is None or r.frame != s.rst_frame or r.follows_peer or r.idle_s is None or not s.gaps:
        return f"{sent}: an abort"  # the RST's timing relative to the series is not known
    due = next_backoff(s.gaps[-1])
    after = f"{_s(r.idle_s)} after its last copy"
    own_fin = e.close.client_fin_frame if s.side is Side.CLIENT else e.close.server_fin_frame
    closed = (
        f", which had closed already (FIN, frame {own_fin})"
        if own_fin is not None and own_fin < s.rst_frame
        else ""
    )
    if close_to(r.idle_s, due):
        return (
            f"{sent} {after}, when the next backoff step was due ({_s(due)}): its TCP stack "
            "gave up retransmitting (Windows resets after TcpMaxDataRetransmissions; Linux "
            f"gives up without a RST), not its application{closed}"
        )
    return f"{sent} {after}, off the backoff schedule (next step due at {_s(due)}): an abort"


def _acked_unseen_before(d: Decision, r: Reset) -> bool:
    """classify.reset weakened this RST: data in flight went unacknowledged and unresent
    through the silence before it (the capture lacks an ACK)."""
    return r.unacked_at_rst and "capture_lossy" in d.caveats


def _reset(d: Decision, e: Evidence) -> Explanation:
    r = e.close.ending_reset
    assert r is not None
    if r.alone:
        return _reset_alone(r, e.close.resets)
    parts = [f"Reset by the {r.side} (frame {r.frame}) {_state_text(r.state)}"]
    gap = e.idle
    if gap is not None and gap.peer_rst_frame == r.frame:
        # The RST answered the first segment after both sides were silent: what matters is
        # that silence, not the few milliseconds between that segment and the RST.
        parts.append(
            f"after {_s(gap.gap_s)} of silence on both sides, answering the {gap.after_side}'s "
            f"first segment since (frame {gap.after_frame})"
        )
    elif r.idle_s is not None and r.idle_s >= 1 and e.seen.filtered:
        # A capture that keeps only some segments cannot show silence: what passed between
        # (data, ACKs, keepalive probes) is not in it.
        parts.append(f"{_s(r.idle_s)} after the last segment this filtered capture kept")
    elif r.idle_s is not None and r.idle_s >= 1:
        parts.append(f"after {_s(r.idle_s)} of silence")
    elif r.during_transfer:
        parts.append("while data was flowing")
    why = []
    # Set when the RST is a kernel's answer for a connection its sender did not hold (or no
    # longer held open), or ended a conversation the peer had finished: which check follows
    # then instead of the application's logs (``_kernel_reset_check``).
    kernel_reset = ""
    # An abortive close after a silence, answering nothing (``_proxy_in_front``).
    idle_abort = False
    k = e.keepalive
    if d.cause is not None:
        pass  # the cause's own words (explain_endpoint, the causes' notes) replace the guesses
    elif k is not None and k.peer_rst_frame is not None:
        why.append(
            "it answered a keepalive probe with RST: it no longer knew this connection "
            "(restarted, or a NAT/firewall lost the state)"
        )
    elif r.data_after_close is not None and r.late_then_fin:
        peer = "client" if r.side is Side.SERVER else "server"
        why.append(
            f"the {r.side} had already closed (its FIN came first); the {peer} answered the close "
            f"with last words and its own FIN (frame {r.data_after_close}: a goodbye message, a "
            "TLS close_notify), which the closed socket refused with RST (nstat "
            f"TcpExtTCPAbortOnData): the end of the conversation, unless the {r.side} still "
            "expected those bytes"
        )
    elif r.data_after_close is not None:
        peer = "client" if r.side is Side.SERVER else "server"
        why.append(
            f"the {r.side} had already closed (its FIN came first) and the {peer} still sent data "
            f"(frame {r.data_after_close}): a closed socket answers data with RST (nstat "
            f"TcpExtTCPAbortOnData); the {peer}'s application wrote after the {r.side} closed "
            "(idle/close timeout race, or the protocol did not expect more data)"
        )
    elif (
        r.side is Side.CLIENT
        and r.state == "established"
        and r.no_data_before
        and r.has_ack
        and not e.seen.mid_stream  # data before the capture began is not "no data"
    ):
        after = (
            "" if r.idle_s is None else " at once" if r.idle_s < 0.001 else f" {_s(r.idle_s)} later"
        )
        why.append(
            f"the client connected and reset the connection{after}, neither side having sent "
            "data: a connect scan (nmap -sT) or a TCP health check closes this way (a load "
            "balancer's check with SO_LINGER {1, 0}), or the client's application gave up "
            "before writing"
        )
    elif (
        r.stateless
        and not r.sender_synchronized
        and r.side is Side.CLIENT
        and not (r.answers_payload or r.answers_syn)
    ):
        why.append(
            f"it answers the server's bare ACK (frame {r.answers_frame}) with the RST of a "
            "SYN-SENT socket refusing an ACK that does not acknowledge its SYN (RFC 9293 "
            "3.10.7.3: no ACK bit, seq = that ACK number): the server answered the SYN for a "
            "connection on this 4-tuple it still held: a TIME_WAIT socket (a SYN it cannot "
            "accept draws an ACK, tcp_timewait_state_process: common when clients behind a NAT "
            "reuse ports) or an open one (a challenge ACK, RFC 5961 4), or a middlebox answered "
            "for it"
        )
        kernel_reset = "syn_sent"
    elif r.stateless and r.state != "handshake" and r.sender_synchronized:
        # (A zero-window sender's stateless RST to the window's reopening is persist_timeout.)
        why.append(_no_socket_answer(r, e))
        kernel_reset = "no_socket"
    elif not r.has_ack and r.answers_peer and r.sender_synchronized and r.state != "handshake":
        peer = "client" if r.side is Side.SERVER else "server"
        closed = (
            "it had closed (its FIN came first)"
            if _closed_first(r, e)
            else "it had closed with data or a FIN the capture lacks"
        )
        why.append(
            "it carries no ACK bit, which Linux's and Windows' aborts carry "
            "(tcp_send_active_reset), and its sequence number is its own, not the one a host "
            f"without the connection would take from the {peer}'s ACK: the {r.side}'s stack "
            f"still knew the connection and refused the {peer}'s segment: {closed}, or a stack "
            "that resets without ACK (illumos, network devices), or a box tracking the flow "
            "sent it"
        )
        kernel_reset = "closed"
    elif r.unread_data:
        # After the stateless shapes: a socket closed with unread data resets with ACK
        # (tcp_close -> tcp_send_active_reset), never in the shape of a host without one.
        # close() sends the RST when the application closes, however long after the data
        # came in (tcp_close: data_was_unread): say how long, not "right after".
        late = r.unread_for_s is not None and r.unread_for_s >= 1
        when = (
            f"{_s(r.unread_for_s)} after its peer's last data"
            if late
            else "right after receiving data"
        )
        why.append(
            f"it sent RST instead of FIN {when}: close() with unread received data, or an "
            "abortive close (SO_LINGER {1, 0})"
        )
        idle_abort = late and not r.after_peer_close
        if r.after_peer_close:
            # The unread bytes were the peer's last words before its FIN (a TLS
            # close_notify, a QUIT): nothing was cut short.
            why.append(
                f"those were the {r.side.other}'s last bytes before its own FIN: the "
                "conversation was over (a TLS close_notify or goodbye left unread)"
            )
            kernel_reset = "peer_closed"
    elif peer_closed := _answers_peer_close(r, e):
        why.append(peer_closed)
        kernel_reset = "peer_closed"
    elif (
        not r.answers_peer
        and r.idle_s is not None
        and r.idle_s >= ANSWER_WITHIN_S
        and not e.seen.filtered
        and not _acked_unseen_before(d, r)
    ):
        # A RST answers a segment at once; one long after the last segment answered nothing
        # the capture holds. A live socket's own RST carries ACK (tcp_send_active_reset).
        idle_abort = r.has_ack
        why.append(
            "it answered nothing captured: an abortive close by its application or a proxy "
            "(SO_LINGER {1, 0}, e.g. an idle timeout that closes with RST)"
            if r.has_ack
            else "without the ACK bit it answers a segment the capture lacks: a host that has "
            "no socket for the connection answers that way"
        )
    if idle_abort and (proxy := _proxy_in_front(r)):
        why.append(proxy)
    why.extend(_injected_hints(e, r.frame))
    if not why and {"flag_filtered", "acks_filtered"} & set(d.caveats):
        # classify.reset: a timer's RST after its probes looks so once the filter drops them.
        why.append(
            "a timer's RST looks the same in this capture: the keepalive or window probes or "
            "retransmissions it sends first are filtered out (keepalive_timeout, "
            "persist_timeout, retransmit_timeout), and so would be the peer's answers"
        )
    elif not why and _acked_unseen_before(d, r):
        # classify.reset: data in flight, unacknowledged and never resent through the silence.
        why.append(
            f"data in flight was neither acknowledged in the capture nor resent in the "
            f"{_s(r.idle_s or 0.0)} before it, so an ACK reached its sender unseen: the "
            "keepalive or window probes or retransmissions a timer sends before its RST "
            "(keepalive_timeout, persist_timeout) may be missing from the capture as well"
        )
    body = "."
    if why:
        # One sentence, its clauses joined by semicolons: only its first word is capitalised.
        text = "; ".join(why)
        body += " " + text[0].upper() + text[1:] + "."
    if d.cause is Cause.HALF_OPEN_PROBE:
        # No application on either side ended it: the cause's note says whom to ask.
        parts.append("answering the server's SYN+ACK: the client had no socket for it")
        return Explanation(", ".join(parts), body=body)
    if kernel_reset:
        # No application ended it at that moment: its logs are not where to look.
        return Explanation(
            ", ".join(parts), body=body, check=_kernel_reset_check(kernel_reset, r, e)
        )
    return Explanation(
        ", ".join(parts),
        body=body,
        # A cause's own note says where to look (and often that no application is to blame).
        check=""
        if d.cause is not None
        else "Check the application logs on that side around this time.",
    )


def _answers_peer_close(r: Reset, e: Evidence) -> str:
    """Why a RST ended a conversation its peer had finished, or "": the peer's FIN came after
    the last data of either side and the RST's sender, which had not sent its own FIN,
    answered with RST+ACK (tcp_send_active_reset: an application's abortive close, SO_LINGER
    {1, 0}; Windows services and some proxies close finished connections so). With nothing
    outstanding, no byte was lost; the ``unread_data`` case (the peer's last data unread) is
    said before this one."""
    peer = r.side.other
    if not (r.after_peer_close and r.has_ack and r.state == f"after {peer} FIN"):
        return ""
    fin = e.close.client_fin_frame if peer is Side.CLIENT else e.close.server_fin_frame
    return (
        f"it answered the {peer}'s close (FIN, frame {fin}), which came after the last data "
        f"of either side, with RST instead of its own FIN: an abortive close by the "
        f"{r.side}'s application (SO_LINGER {{1, 0}}; Windows services and some proxies end "
        "finished connections this way), not a transfer cut short"
    )


def _kernel_reset_check(kind: str, r: Reset, e: Evidence) -> str:
    """Where to look after a RST its sender's kernel sent for a connection it did not hold
    open (``_reset``'s ``kernel_reset``): nowhere when its own close is the story."""
    if kind == "peer_closed":
        return (
            f"Nothing to fix unless the {r.side} meant to send more after the {r.side.other}'s "
            f"FIN: then its application's close (linger 0) is where to look."
        )
    if kind == "closed" or _closed_first(r, e):
        return ""
    if kind == "persist":
        return (
            f"Check: the {r.side}'s TCP_USER_TIMEOUT (ss -o shows the persist timer), and why "
            f"the {r.side.other}'s application stopped reading."
        )
    if kind == "syn_sent":
        peer = "client" if r.side is Side.SERVER else "server"
        return (
            f"Check: the {peer}'s sockets on this port, TIME-WAIT ones included (ss -tan), "
            "for one with this client address and port."
        )
    nat = (
        ", and conntrack on any NAT on the path (conntrack -L, conntrack -S; "
        "net.netfilter.nf_conntrack_tcp_timeout_established against the connection's idle "
        "time)"
        if r.stateless and r.answers_data
        else ""
    )
    return (
        f"Check: when the {r.side} last restarted or failed over, and its logs for an earlier "
        f"close of this connection{nat}."
    )


def _proxy_in_front(r: Reset) -> str:
    """The client's abortive close (RST with ACK) after a silence of a second or more,
    answering nothing: behind a TCP-terminating load balancer or reverse proxy the client
    address a server sees is the proxy's own, and a proxy ends its idle pooled connections to
    a backend on its own timer, some with RST (HAProxy and Envoy abort them; SO_LINGER
    {1, 0}). The capture shows no more than an application's idle timeout would: the words
    name both, and what to compare."""
    if r.side is not Side.CLIENT or r.state != "established" or r.idle_s is None:
        return ""
    if r.idle_s < 1:
        return ""
    return (
        "the client may be a load balancer or reverse proxy in front of the server (the "
        "address a server sees behind one): it ends idle pooled connections to a backend on "
        "its own idle timeout, some with RST (HAProxy, Envoy, cloud load balancers); compare "
        f"the {_s(r.idle_s)} of silence with its idle timeout and the client application's"
    )


def _closed_first(r: Reset, e: Evidence) -> bool:
    """The RST's sender had sent its FIN before it, captured or shown by the peer's ACK of
    it (``Close.unseen_fins``)."""
    return r.state in ("after both FINs", f"after {r.side} FIN") or any(
        unseen.side is r.side and unseen.ack_frame < r.frame for unseen in e.close.unseen_fins
    )


def _persist_gave_up(r: Reset, e: Evidence) -> str:
    """Why ``zero_window.persist_freed``'s RST shows a persist timer's death: a stateless RST
    (``_no_socket_answer``'s shape) from the side that was sending into its peer's zero window,
    answering the peer's reopening of it: the sender's socket was gone when room came.
    Linux's persist timer frees it silently (tcp_probe_timer: no RST): probes the receiver
    answers never use up tcp_retries2 (RFC 1122 4.2.2.17), so TCP_USER_TIMEOUT
    (counted from the first probe) or, after close(), tcp_orphan_retries ended it; its host
    losing the connection looks the same. No application was waiting for an answer: its data
    was held back by the peer's closed window."""
    z = e.zero_window
    if z is None or z.receiver is not r.side.other or z.reopen_frame is None or not z.probes:
        return ""
    if r.answers_frame != z.reopen_frame or r.answers_payload:
        return ""
    peer = r.side.other
    stopped = (
        f"; its window probes had stopped: the last came {_s(z.reopen_after_s or 0.0)} "
        f"before, past the next one its backoff had due ({_s(next_probe_due(z.probe_gaps))})"
        if z.probing_stopped and z.probe_gaps
        else ""
    )
    return (
        f"it carries no ACK bit and takes its sequence number from the {peer}'s window update "
        f"it answers (frame {r.answers_frame}): the {r.side}'s kernel no longer had the "
        f"connection when the {peer}'s zero window opened again (RFC 793 reset generation), "
        f"not an application's abort, which carries ACK{stopped}. The {r.side} was sending "
        f"into the {peer}'s closed window ({z.probes} window probe(s), {z.answered} "
        "answered), so no application was waiting for an answer: its persist timer gave up "
        "and freed the socket without a RST, as Linux does when TCP_USER_TIMEOUT runs out "
        "while the window stays closed (answered probes never use up tcp_retries2), or "
        "tcp_orphan_retries once the application has closed it; a restart of the host looks "
        "the same"
    )


def _no_socket_answer(r: Reset, e: Evidence) -> str:
    """A RST in the shape of a host with no connection for the segment it answers (RFC 793
    reset generation, Linux tcp_v4_send_reset: no ACK bit, seq = the segment's ACK number),
    where no cause says more (``peer_lost_state`` needs the opening captured and a segment
    its peer sent on its own). A live socket's abort carries ACK (tcp_send_active_reset), so
    no application reset it at that moment: the host had closed it before (its FIN may be
    outside the capture), lost it (restart, failover, a NAT mapping to another host), or
    never had it: a scanner's ACK probe (nmap -sA) draws the same answer, but no probe
    carries data (``Reset.answers_data``): a data segment's 4-tuple is one a NAT that lost its
    conntrack entry made anew (the ``nat_remap`` finding links the earlier stream)."""
    peer = "client" if r.side is Side.SERVER else "server"
    what = "segment" if r.answers_payload else "bare ACK"
    shape = (
        f"it carries no ACK bit and takes its sequence number from the {peer}'s {what} it "
        f"answers (frame {r.answers_frame})"
    )
    if _closed_first(r, e):
        return (
            f"{shape}: the {r.side} had closed the connection (its FIN came first), and its "
            "kernel answered a later segment for it so (RFC 793 reset generation), not an "
            "application's abort, which carries ACK"
        )
    before = (
        " (the capture began inside the connection)"
        if e.seen.mid_stream
        else " (its FIN may be among what the capture lost)"
        if e.seen.lossy or e.seen.acks_filtered
        else ""
    )
    never = (
        # The connection's own bytes: no scanner's probe (nmap's ACK, FIN and Maimon scans
        # carry none). A NAT that lost its conntrack entry translates the next segment anew
        # (another source port, or none: INVALID leaves untranslated) and the host has no
        # socket for that 4-tuple; behind the NAT the capture shows the earlier stream.
        "or never had this 4-tuple: a NAT on the path that lost the connection's translation "
        "(its conntrack entry expired while the connection sat idle, was flushed, or failed "
        "over) sends the connection's next segment under another source port, and the host "
        "answers so while its socket for the first 4-tuple stays open (the nat_remap finding "
        "names the earlier stream when the capture, taken behind the NAT, holds it). Not a "
        "scanner's probe: the segment carries data"
        if r.answers_data
        else "or never had it (a scanner's ACK probe, nmap -sA, draws the same answer)"
    )
    return (
        f"{shape}: the kernel's answer for a segment of a connection "
        f"the {r.side} host did not hold (RFC 793 reset generation), not an application's "
        f"abort, which carries ACK. That host had closed the connection before{before}, lost "
        "it (a restart, a failover, a NAT or load balancer sending the flow to another host), "
        f"{never}"
    )


def _injected_hints(e: Evidence, ending_frame: int) -> list[str]:
    """The TTL / IP ID hints, each said of the RST that carries it (an earlier forged RST does
    not make the one that ended the connection suspect)."""
    hints = e.close.injected()
    out = []
    if ending_frame in hints:
        out.append(
            f"its {hints[ending_frame]}: possibly injected by a middlebox, not sent by the host"
        )
    others = [f"frame {f} ({why})" for f, why in hints.items() if f != ending_frame]
    if others:
        out.append(
            f"another RST in the sender's name looks injected: {', '.join(others)}; "
            "possibly a middlebox's"
        )
    return out


def _reset_alone(r: Reset, resets: int) -> Explanation:
    """A connection of RSTs only: nothing says what they ended, so no application is blamed."""
    shape = (
        " It carries no ACK bit: the answer of a host that had no socket for this 4-tuple "
        "(RFC 793 reset generation) to a segment the capture does not hold."
        if not r.has_ack
        else ""
    )
    what = (
        f"a RST from the {r.side} (frame {r.frame}) is"
        if resets <= 1
        else f"{resets:,} RSTs (the first from the {r.side}, frame {r.frame}) are"
    )
    return Explanation(
        f"{what} all the capture holds of this connection",
        "Reset",
        ": what it ended or answered was not captured (the capture began just before it, a "
        "filter kept RSTs only, or it answers traffic seen elsewhere: a scanner's probe, "
        "spoofed segments)." + shape,
    )


def _state_text(state: str) -> str:
    return {
        "handshake": "during the handshake",
        "established": "while established",
    }.get(state, state)


def _closed(d: Decision, e: Evidence) -> Explanation:
    c = e.close
    # Only a RST that ended the connection spoils the TIME_WAIT story; one followed by a new
    # handshake (stale peer state cleared before this connection's SYN) does not.
    if c.ending_reset is not None:
        return _closed_then_reset(d, e)
    text = _server_left_unanswered(d, e) or _closed_text(d.closer)
    if c.last_ack_stuck and d.closer is not Side.BOTH:
        passive = "client" if d.closer is Side.SERVER else "server"
        stuck = (
            f" The {passive} (passive closer) retransmitted its FIN {c.last_ack_fin_resends} time(s): stuck in "
            f"LAST_ACK, the final ACK from the {d.closer} never arrived"
            + (
                " (lost, or the peer is gone), then RST from the peer that had already forgotten the "
                "connection."
                if d.reset_by
                else " (lost on the way, or the peer is gone; a peer that had forgotten the connection "
                "would have answered RST)."
            )
        )
        return Explanation(text.headline, text.label, text.body + stuck)
    return text


def _closed_then_reset(d: Decision, e: Evidence) -> Explanation:
    """Both FINs were sent, but RSTs followed: no orderly TIME_WAIT ending to promise."""
    c = e.close
    if d.closer is Side.BOTH:
        fins = "both sides sent FIN at about the same time (each before seeing the other's)"
    else:
        other = "server" if d.closer is Side.CLIENT else "client"
        fins = f"the {d.closer} sent the first FIN, the {other} its own"
    r = c.ending_reset
    # ending_reset is the first RST that ended the connection (later ones answer segments
    # that arrived after it), so name it as the first.
    which = "it" if c.resets == 1 else "the first"
    last = f"; {which} came from the {r.side} (frame {r.frame})" if r is not None else ""
    if r is not None and r.frame in c.injected_by_ttl:
        # The TTL says a box sent it in the host's name: the hosts' close stands as it was.
        why = c.injected().get(r.frame, "")
        return Explanation(
            f"{fins}, but {c.resets} RST(s) followed",
            "Closed",
            f"; {which} came in the {r.side}'s name (frame {r.frame}) with a TTL / hop limit "
            f"unlike the {r.side}'s own packets ({why}): a middlebox's (a firewall, NAT or load "
            "balancer resetting a flow it still tracked), not the host's. The hosts' close "
            "itself went as the FINs show.",
        )
    stuck = (
        " The passive closer had retransmitted its FIN (stuck in LAST_ACK: the final ACK was lost)."
        if c.last_ack_stuck and d.closer is not Side.BOTH
        else ""
    )
    return Explanation(
        f"{fins}, but {c.resets} RST(s) followed",
        "Closed",
        f"{last}.{stuck} A RST tears the socket down at once (even in "
        "TIME_WAIT, unless net.ipv4.tcp_rfc1337=1), so this close did not end in the usual TIME_WAIT; "
        "a RST answering a segment that arrived after close() is the kernel saying the socket is gone.",
    )


def _half_closed(d: Decision, e: Evidence) -> Explanation:
    one = e.handshake.one_sided
    if one is not None and one.fin_may_hide_frame is not None and d.closer is one.captured:
        # Only the closer's side was captured: its ACKs are all there is of the peer, and
        # the last one that moved may cover the peer's FIN as well as its last data.
        peer = one.captured.other
        return Explanation(
            f"the {one.captured} sent FIN; only its side was captured, so whether the {peer} "
            f"closed first is not known: the {one.captured}'s last ACK that moved (frame "
            f"{one.fin_may_hide_frame}) acknowledged the {peer}'s last data, and a FIN sent "
            "with that data would be acknowledged in the same number",
            "Half closed",
            f". No FIN of the {peer}'s is proven (an ACK one above its data would prove it); "
            f"had it not closed, look for CLOSE_WAIT in ss -tan on the {peer}.",
        )
    if e.close.unseen_ends:
        return _end_not_captured_text(e.close.unseen_ends[0])
    return _server_left_unanswered(d, e) or _half_closed_text(
        d.closer, _too_soon(d.caveats), e.fin_unacked
    )


def _end_not_captured_text(lost: UnseenEnd) -> Explanation:
    """Half closed where the capture point lost the other side's last segments
    (``Close.unseen_ends``): the tap, not the host, is what the missing FIN shows."""
    side, peer = lost.side, lost.side.other
    shown = (
        f"the {side}'s own later segment (frame {lost.ack_frame}) carries a sequence number "
        f"{lost.beyond:,} past its last captured byte"
        if lost.own
        else f"the {peer} acknowledged {lost.beyond:,} sequence numbers past the {side}'s last "
        f"captured byte (frame {lost.ack_frame})"
    )
    return Explanation(
        f"the {peer} sent FIN; the {side}'s last segments are not in the capture: {shown}, "
        "so the capture point lost them, and a FIN sent with them (Linux sends it on its last "
        "data segment) takes the same number",
        "Half closed",
        f". Whether the {side} closed is not in this capture (no CLOSE_WAIT is shown): a "
        f"capture that loses nothing (tcpdump's 'packets dropped by kernel' line; a bigger -B "
        f"buffer, a narrower filter), or ss -tan on the {side}, tells.",
    )


def _open(d: Decision, e: Evidence) -> Explanation:
    h = e.handshake
    if h.syn is not None and h.synack is None and h.answer == "none" and h.synack_proven is None:
        sent = (
            "one SYN" if not h.syn.retries else f"{h.syn.retries + 1} SYNs ({h.syn.schedule.name})"
        )
        if "lone_syn" in d.caveats:  # classify.still_open: Linux's first retry was due
            waited = _s((e.capture_end_ns - e.end_ns) / 1e9)
            return Explanation(
                f"one SYN, no answer, and no retry in the {waited} the capture went on, "
                "though Linux retries after 1 s",
                "Still connecting when the capture ended",
                ": only on a stack that waits longer (Windows: 3 s). A Linux client gave up "
                "(its application closed the socket), its answer was not captured, or no socket "
                "sent it (a scanner's SYN, nmap -sS).",
            )
        return Explanation(
            f"{sent}, no answer yet, and the capture stopped before the first retry was due",
            "Still connecting when the capture ended",
            ".",
        )
    if h.synack is not None and {"lone_synack", "capture_ended"} & set(d.caveats):
        # classify._lone_synack: one SYN+ACK, neither retried nor acknowledged
        waited = _s((e.capture_end_ns - e.end_ns) / 1e9)
        if h.syn is None:
            return Explanation(
                f"one SYN+ACK, no SYN before it nor ACK after it, and no retry in the {waited} "
                "the capture went on",
                "Still open when the capture ended",
                ": nothing shows a handshake this capture point saw (a switch flooding one frame "
                "to the capture port, the SYN and ACK on another path) nor a server retrying "
                "or giving up.",
            )
        return Explanation(
            f"SYN answered by one SYN+ACK, no ACK and no retry in the {waited} the capture went on",
            "Still connecting when the capture ended",
            ".",
        )
    z = e.zero_window
    probing = z is not None and not z.recovered and z.answered > 0 and not z.unanswered_tail
    if probing and z is not None and z.receiver is not None:
        return _still_probing(e, z.receiver, z.probes)
    return Explanation(
        f"no FIN or RST in {_s((e.end_ns - e.start_ns) / 1e9)} of traffic",
        "Still open when the capture ended",
        ".",
    )


def _still_probing(e: Evidence, receiver: Side, probes: int) -> Explanation:
    """Open at the capture's end with the receiver's window closed and the sender's last
    probe answered: what keeps such a sender going and what ends it (tcp_probe_timer)."""
    peer = "client" if receiver is Side.SERVER else "server"
    return Explanation(
        f"no FIN or RST in {_s((e.end_ns - e.start_ns) / 1e9)} of traffic, the {peer} "
        f"still probing the {receiver.value}'s closed window ({probes} probe(s), the last "
        "answered)",
        "Still open when the capture ended",
        ": Linux counts only unanswered probes against net.ipv4.tcp_retries2, so a sender "
        "whose application holds the socket probes on for as long as the receiver answers, "
        "unless TCP_USER_TIMEOUT runs out; one whose application closed the socket (an "
        "orphan in FIN-WAIT-1, its FIN queued behind the unsent data and not on the wire) is "
        "freed silently, with no RST and no last probe, when its probe timer's backoff reaches "
        "120 s (tcp_orphan_retries 0): with a 212 ms RTO, 2 min after its 10th probe, 5.7 "
        "min into the stall (Linux 6.18); a capture that ends at its last probe cannot show "
        "that.",
        f"Check why the {receiver.value}'s application stopped reading (ss -tn: its Recv-Q "
        f"full) and on the {peer}: ss -tano (state fin-wait-1 with the data in Send-Q: an "
        "orphan; timer:(persist,...) shows the next probe).",
    )


_STORIES: dict[Fate, Callable[[Decision, Evidence], Explanation]] = {
    Fate.REFUSED: _refused,
    Fate.CONNECT_TIMEOUT: _connect_timeout,
    Fate.LISTEN_OVERFLOW: _listen_overflow,
    Fate.HANDSHAKE_TIMEOUT: _handshake_timeout,
    Fate.KEEPALIVE_TIMEOUT: _keepalive_timeout,
    Fate.PERSIST_TIMEOUT: _persist_timeout,
    Fate.RETRANSMIT_TIMEOUT: _retransmit_timeout,
    Fate.RESET: _reset,
    Fate.CLOSED: _closed,
    Fate.HALF_CLOSED: _half_closed,
    Fate.OPEN: _open,
}


def _handshake_retry_note(d: Decision, e: Evidence) -> str:
    """SYN or SYN+ACK retries before a handshake that completed: slow, not dead (issue 10).

    A refusal, connect timeout, handshake timeout or listen overflow tells its retries in its story; a
    stale-peer exchange retries at once after its RST (its own note says so).
    """
    h = e.handshake
    if d.fate in (Fate.CONNECT_TIMEOUT, Fate.HANDSHAKE_TIMEOUT, Fate.LISTEN_OVERFLOW, Fate.REFUSED):
        return ""
    parts = []
    early = _answered_before_a_retry(h)
    if early and h.syn is not None:
        how = "" if h.syn.timed else f"; {h.syn.schedule.name}"
        parts.append(
            f"The client sent its SYN {h.syn.retries + 1} times (at {_times(h.syn.times)}) "
            "although the server had answered every earlier one with a SYN+ACK: the SYNs "
            "arrived, and the client sent them again before an answer reached it: between this "
            "capture point and the client the SYNs or the answers were held up (a queue), or "
            f"the answers lost{how}."
        )
    elif h.syn is not None and h.syn.retries and h.syn.timed and h.answered_syn is not None:
        parts.append(_answered_late(h, h.syn.retries, h.syn.times, h.answered_syn))
    elif h.syn is not None and h.syn.retries and not h.syn.timed:
        # (unanswered: the fate's story tells the SYNs; a client ACK proves an unseen answer)
        if h.answer != "none" or h.synack_proven is not None:
            parts.append(
                f"The client sent its SYN {h.syn.retries + 1} times (at {_times(h.syn.times)}) "
                f"before the server answered: {h.syn.schedule.name}, so no timer resent a lost "
                "SYN."
            )
    elif h.syn is not None and h.syn.retries and not h.stale_peer and h.answered_last_syn:
        parts.append(
            f"The client sent its SYN {h.syn.retries + 1} times (at {_times(h.syn.times)}) before "
            "the server answered: the first SYN(s) were dropped (a full SYN or accept queue, a "
            "firewall or rate limit, or loss), so connect() took that much longer; check the "
            "listen queue: nstat TcpExtListenDrops, ss -lnt."
        )
    elif h.syn is not None and h.syn.retries and not h.stale_peer:
        # Without the SYN+ACK's timestamp echo the capture cannot say which SYN it answers:
        # on a path slower than the SYN timer (1 s) the answer to the first comes after the
        # retry (``_answered_late``'s case, there proven by the echo).
        parts.append(
            f"The client sent its SYN {h.syn.retries + 1} times (at {_times(h.syn.times)}) before "
            "the server's answer came: the first SYN(s) were dropped (a full SYN or accept "
            "queue, a firewall or rate limit, or loss), or their answer was held up past the "
            "retry (a path slower than the client's SYN timer; the SYN+ACK carries no "
            "timestamp echo to say which SYN it answers), so connect() took that much longer; "
            "if the round trip is short, check the listen queue: nstat TcpExtListenDrops, "
            "ss -lnt."
        )
    # (each SYN+ACK answering its own SYN is what the sentence above said already)
    answered_each = early and h.synack is not None and not h.synack.timed
    if h.synack is not None and h.synack.retries and not h.synack_after_ack and not answered_each:
        parts.append(
            f"The server sent its SYN+ACK {h.synack.retries + 1} times (at "
            f"{_times(h.synack.times)}) before the client's ACK arrived: the SYN+ACK or the ACK "
            "was lost on the way."
        )
    return " ".join(parts)


def _answered_late(h: Handshake, retries: int, times: tuple[float, ...], answered: int) -> str:
    """The first SYN+ACK echoes an earlier SYN's timestamp (``Handshake.answered_syn``).

    A listener echoes the first SYN it received in every SYN+ACK of the request, its answers
    to later copies included (tcp_check_req leaves req->ts_recent as it was), so the echo
    proves that SYN arrived, not which copy this SYN+ACK answers."""
    wait = h.answered_syn_wait_s
    came = f" The first SYN+ACK came {_s(wait)} after that SYN." if wait is not None else ""
    return (
        f"The client sent its SYN {retries + 1} times (at {_times(times)}), yet the server's "
        f"first SYN+ACK (frame {h.answer_frame}) echoes the timestamp of the SYN of frame "
        f"{answered} (its TSecr is that SYN's TSval): that SYN reached the server, it was not "
        "dropped. It was held up on the way in (a queue), or its answer was lost or held up on "
        "the way back: a capture at one end cannot tell which direction (a listener echoes the "
        f"first SYN it got in every SYN+ACK, its answers to later copies too).{came}"
    )


def _answered_before_a_retry(h: Handshake) -> bool:
    """Every SYN but the last had a SYN+ACK captured after it and before the next SYN: the
    server answered SYNs the client then sent again, so what went missing was on the way
    back to the client. (Some answered, some not: the unanswered ones were dropped.)"""
    if h.syn is None or not h.syn.retries or h.synack is None or h.stale_peer:
        return False
    synacks = h.synack.frames
    return all(
        any(sent < f < retry for f in synacks) for sent, retry in itertools.pairwise(h.syn.frames)
    )


#: ``slow_summary``: a SYN retry drawn by an older connection's answer (challenge_ack).
_STALE_PEER_RETRY = (
    "the first SYN was answered by a bare ACK for an older connection on the same ports (the "
    "server still held the old 4-tuple, e.g. TIME_WAIT or half-open: a challenge ACK); the "
    "client reset it and sent its SYN again"
)
_VERDICT_NAMES = ": each connection's verdict names the frames"


def _no_drop(s: SlowSummary) -> str:
    """Every one of them retried once, after the older connection's ACK: no SYN was
    dropped (more retries may also have met a drop: not said then)."""
    return ", no SYN was dropped" if s.retries[1] == 1 else ""


#: ``slow_summary``: SYN retries whose every SYN the capture shows forwarded (a copy a hop or
#: two lower in the same stream): dropped beyond the farther capture point, not by a NAT or
#: conntrack the packets do not show.
_FORWARDED_RETRIES = (
    "each SYN was captured again a hop or two lower (two capture points, or tcpdump -i any on "
    "a host that forwards them): the path up to the farther point forwarded every one, so "
    "nothing before it dropped them. The SYN was dropped beyond it: by a full listen queue "
    "(nstat "
    "TcpExtListenDrops, ss -lnt), a firewall on the rest of the path or on the server, or "
    "the server's own conntrack (dmesg: 'nf_conntrack: table full'); or its answer was lost "
    "or held up on the way back: each connection's verdict says so where the SYN+ACK echoes "
    "an earlier SYN's timestamp"
)


def slow_summary(s: SlowSummary) -> str:
    """One ``slow`` tag across the capture, in words (the text summary's "slow" lines)."""
    share = f"{s.connections:,} of {s.total:,} connections"
    p50, most = s.percentile(50), s.percentile(100)
    spread = f"p50 {_s(p50)}, max {_s(most)}" if p50 is not None else ""
    over = f" (over {_s(s.threshold_s)})" if s.threshold_s is not None else ""
    if s.tag in (SlowTag.SYN_RETRY, SlowTag.SYNACK_RETRY):
        what = "SYN" if s.tag is SlowTag.SYN_RETRY else "SYN+ACK"
        fewest, most_retries = s.retries
        many = (
            f" ({fewest} to {most_retries} each)"
            if 0 < fewest < most_retries
            else f" ({most_retries} each)"
            if most_retries > 1
            else ""
        )
        text = f"{share} needed {what} retries{many}"
        if spread and s.tag is SlowTag.SYN_RETRY:
            text += f": connect {spread}"
        elif spread:
            text += f": the server waited {spread} for the client's ACK"
        if s.unfinished:
            text += f"; {s.unfinished:,} never completed the handshake"
        if s.unseen_completion:
            # A FIN or RST after the handshake proves it completed: only its ACK (or the
            # server's answer to it) is not in the capture, so no time is measured.
            text += (
                f"; {s.unseen_completion:,} completed the handshake out of the capture's sight (a FIN or "
                "RST followed; its last packet is not in the capture: not timed)"
            )
        if s.tag is SlowTag.SYN_RETRY and s.stale_peer == s.connections:
            shape = f"{s.schedule}: " if s.schedule else ""
            return text + f" ({shape}{_STALE_PEER_RETRY}{_no_drop(s)}{_VERDICT_NAMES})"
        stale = f"; in {s.stale_peer:,} of them {_STALE_PEER_RETRY}" if s.stale_peer else ""
        if s.tag is SlowTag.SYN_RETRY and s.one_host == s.connections:
            shape = f"{s.schedule}: " if s.schedule else ""
            return text + f" ({shape}both ends on one host: {HOST_DROPS}{stale})"
        if s.tag is SlowTag.SYN_RETRY and s.forwarded == s.connections:
            shape = f"{s.schedule}: " if s.schedule else ""
            return text + f" ({shape}{_FORWARDED_RETRIES}{stale})"
        if s.tag is SlowTag.SYN_RETRY:
            shape = f"{s.schedule}: " if s.schedule else ""
            return (
                text + f" ({shape}the SYN was dropped: by a full listen queue (nstat "
                "TcpExtListenDrops, ss -lnt), a firewall, or a NAT or firewall out of conntrack "
                "entries on the way (dmesg: 'nf_conntrack: table full'); or its answer was lost "
                "or held up on the way back: each connection's verdict says so where the "
                f"SYN+ACK echoes an earlier SYN's timestamp{stale})"
            )
        # A listener with TCP_DEFER_ACCEPT ignores a bare ACK and resends its SYN+ACK when
        # the defer period ends: nothing lost (each connection's verdict says which fits).
        return (
            text
            + " (the SYN+ACK or the client's ACK was lost, or the accept queue was full: nstat "
            "TcpExtListenOverflows; or a listener with TCP_DEFER_ACCEPT waited for data the "
            "client had not sent, nothing lost: each connection's verdict says which)"
        )
    if s.tag is SlowTag.RTO_STALL and s.one_host == s.connections:
        return f"{share} stalled on retransmission timeouts: {spread} lost (both ends on one host: {HOST_DROPS})"
    if s.tag is SlowTag.RTO_STALL:
        return (
            f"{share} stalled on retransmission timeouts: {spread} lost (data or ACKs lost or "
            "held up on the path; nstat TcpExtTCPTimeouts TcpExtTCPSpuriousRTOs, interface "
            "drops)"
        )
    if s.tag is SlowTag.ZERO_WINDOW_STALL:
        return (
            f"{share} were blocked by a zero window{over}: {spread} (a receiver not reading "
            "fast enough: check the receiving application)"
        )
    if s.tag is SlowTag.SLOW_RESPONSE:
        one_way = (
            f"; {s.one_way:,} captured in one direction: at least that, from the captured "
            "side's ACKs"
            if s.one_way
            else ""
        )
        return (
            f"{share} waited long for an answer{over}: slowest answer {spread} (request end to "
            "first answer byte, at the capture point; every turn of clear-text HTTP/1.x, only "
            f"the first elsewhere{one_way})"
        )
    if s.tag is SlowTag.WINDOW_FULL_STALL:
        return (
            f"{share} were held back by a full receive window{over}: {spread} waiting in all (a "
            "receiver reading slowly, or a receive buffer too small for the path: check the "
            "receiving application and its SO_RCVBUF / net.ipv4.tcp_rmem)"
        )
    if s.tag is SlowTag.NAGLE_STALL:
        return (
            f"{share} had small writes held for the peer's delayed ACK{over}: {spread} waiting "
            "in all (likely Nagle meeting delayed ACK: a message sent in several small writes "
            "waits, each round, until the peer's delayed-ACK timer fires; the capture shows "
            "the held segment leave the moment that ACK came. Set TCP_NODELAY on the sender, "
            "or write each message at once (one write, writev, or TCP_CORK around the parts))"
        )
    if s.tag is SlowTag.APP_PAUSE:
        return (
            f"{share} had the server's application pause in the middle of an answer, or "
            f"before one to a request already sent (pipelined){over}: longest pause {spread} "
            "(everything it had sent acknowledged and the window open: nothing in the network "
            "held it; check what the server waits on there: a "
            "database, an upstream, a lock, garbage collection; or a pacing rate or TCP_CORK "
            "it sets, which hold data the same way)"
        )
    if s.tag is SlowTag.IDLE_RESTART:
        return (
            f"{share} slow-started again after an idle{over}: {spread} lost to the restart, at "
            "least (a sender idle longer than its retransmission timeout restarts its "
            "congestion window: net.ipv4.tcp_slow_start_after_idle 1, the default; set it to "
            "0 on the sender of kept-alive connections)"
        )
    return (
        f"{share} took long to connect{over} without a retry: connect {spread} (a long round trip)"
    )


def slow_not_failed(
    tag: SlowTag,
    ids: list[int],
    measures: list[float | None],
    turns: list[tuple[int, int, float]] | None = None,
) -> str:
    """One line of the "slow, not failed" section: a tag, its connections and their measure;
    for ``slow_response``, ``turns`` names each connection's judged turn (its number, how
    many turns were measured, and when its answer began, seconds into the connection)."""
    shown = []
    for k, (conn, value) in enumerate(zip(ids[:SLOW_LISTED], measures[:SLOW_LISTED], strict=True)):
        if value is None:
            shown.append(str(conn))
        elif turns is not None and turns[k][0] > 0:
            number, count, at_s = turns[k]
            shown.append(f"{conn} (turn {number} of {count}: {_s(value)}, answered at +{_s(at_s)})")
        else:
            shown.append(f"{conn} ({_s(value)})")
    more = f" and {len(ids) - SLOW_LISTED:,} more" if len(ids) > SLOW_LISTED else ""
    return f"{tag.value} ({_SLOW_MEASURE_WORD[tag]}): connection(s) {', '.join(shown)}{more}"


def unjudged_answers(
    replies: list[tuple[int, int, int, float, int]], start_ns: Mapping[int, int]
) -> str:
    """The connections whose slowest server reply came late after client data in a later
    turn that ``slow_response`` did not judge (``DelaysTable.unjudged_replies``: per
    connection its id, the turn's number, how many turns were measured, its seconds and when
    its answer began, ns): what was seen, why it is not judged, and what would tell.
    ``start_ns``: each connection's first frame (the answer is placed after it)."""
    shown = [
        f"{conn} (turn {number} of {count}: the server spoke {_s(value)} after the client, "
        f"at +{_s((at_ns - start_ns[conn]) / 1e9)})"
        if number
        else f"{conn} (TLS 1.3: after its first records following the client's request, "
        "possibly its session tickets (RFC 8446 4.6.1: sent at once, encrypted like data), "
        f"the server paused and spoke again {_s(value)} after the request, "
        f"at +{_s((at_ns - start_ns[conn]) / 1e9)})"
        for conn, number, count, value, at_ns in replies[:SLOW_LISTED]
    ]
    more = f" and {len(replies) - SLOW_LISTED:,} more" if len(replies) > SLOW_LISTED else ""
    return (
        "answers not judged for slow_response: connection(s) "
        f"{', '.join(shown)}{more}: a later turn where the bytes do not show a request/response "
        "protocol (only clear-text HTTP/1.x does), or a connection the capture began inside "
        "(which side asked is a guess); a server that speaks unprompted (keepalives, pushes, "
        "streams) looks the same as one that answers late; the application's own request "
        "latency tells whether a request waited"
    )


#: Connections named per tag in the "slow, not failed" section.
SLOW_LISTED = 10
_SLOW_MEASURE_WORD = {
    SlowTag.SYN_RETRY: "connect time",
    SlowTag.SYNACK_RETRY: "the server's wait for the client's ACK",
    SlowTag.RTO_STALL: "time in RTO episodes",
    SlowTag.ZERO_WINDOW_STALL: "time with a zero window",
    SlowTag.SLOW_RESPONSE: "judged response time",
    SlowTag.SLOW_CONNECT: "connect time",
    SlowTag.WINDOW_FULL_STALL: "time blocked by a full receive window",
    SlowTag.NAGLE_STALL: "time small writes waited for a delayed ACK",
    SlowTag.APP_PAUSE: "longest application pause mid-answer",
    SlowTag.IDLE_RESTART: "time lost to slow start after idle, at least",
}


#: A first SYN+ACK resend this long after the SYN+ACK skipped the 1 s timer's first firing
#: (TCP_TIMEOUT_INIT; the next fires at 3 s): the listener held its resend back.
HELD_BACK_S = 2.0


def _overflow_note(d: Decision, e: Evidence) -> str:
    h = e.handshake
    if d.fate is Fate.LISTEN_OVERFLOW or not h.synack_after_ack:
        return ""
    if h.answered_syn is not None and h.synack is not None and not h.synack.timed:
        # Each SYN+ACK after the first answered a copy of the SYN (handshake._answering):
        # none was the timer's, so no ACK of the client's went missing.
        return (
            f"The server sent its SYN+ACK {h.synack_after_ack} more time(s) after the client's "
            "ACK, each at once in answer to a resent SYN of the client's (a listener answers "
            "every copy of a pending request's SYN: tcp_check_req), none by its timer: they are no "
            "sign of a lost ACK."
        )
    if h.answered_syn is not None:
        # The server had the first SYN and the client resent it: a listener answers each
        # copy of a pending request's SYN again (tcp_check_req), besides its timer.
        return (
            f"The server sent its SYN+ACK {h.synack_after_ack} more time(s) after the client's "
            "ACK: answers to the client's resent SYNs or its own SYN+ACK timer, not "
            "necessarily a lost ACK."
        )
    if not h.data_before_resend:
        # A listener with TCP_DEFER_ACCEPT drops the bare final ACK (tcp_check_req) and does
        # not resend while it waits for data (syn_ack_recalc): once its defer period is over
        # it sends the SYN+ACK again, and the ACK to that one is accepted without data. What
        # the client sends after that resend (an answer to a server that speaks first) does
        # not tell a deferred accept from a lost ACK.
        first = (
            " The server spoke first once the connection went on: in front of a protocol "
            "where the server speaks first (SMTP, FTP, SSH, POP3) the client never sends data "
            "before the server's greeting, so TCP_DEFER_ACCEPT makes every connection wait "
            "its whole defer period; turn it off for such a listener."
            if h.server_spoke_first
            else ""
        )
        held = ""
        if h.synack is not None and len(h.synack.times) > 1 and h.synack.times[1] >= HELD_BACK_S:
            # Without TCP_DEFER_ACCEPT a listener resends at every SYN+ACK timer (1 s, then
            # doubling) whether the ACK was lost or dropped by a full queue; one that had the
            # ACK and defers skips its resends until the defer period ends (syn_ack_recalc).
            held = (
                f" Its first resend came {_s(h.synack.times[1])} after the first SYN+ACK, "
                "later than the 1 s SYN+ACK timer (Linux 3.1 and later) resends after a lost or "
                "dropped ACK: a listener that had the ACK and held back, as TCP_DEFER_ACCEPT "
                "does, fits better."
            )
        return (
            f"The server retransmitted SYN+ACK {h.synack_after_ack} time(s) after the client's "
            "ACK, and the client had sent no data before that: a listener with "
            "TCP_DEFER_ACCEPT ignores a bare ACK and sends its SYN+ACK again when its defer "
            "period ends, then accepts (nginx 'deferred', haproxy 'defer-accept'; nstat "
            "TcpExtTCPDeferAcceptDrop counts the ignored ACKs); or that ACK was lost, or "
            "dropped by a briefly full accept queue (nstat TcpExtListenOverflows tells which)."
            + held
            + first
        )
    return (
        f"The server retransmitted SYN+ACK {h.synack_after_ack} time(s) after the client's ACK before "
        "the connection went on: that ACK was lost, or dropped by a briefly full accept queue "
        "(nstat TcpExtListenOverflows tells which)."
    )


def _loss_note(d: Decision, e: Evidence) -> str:
    r = e.retransmit
    if d.fate is Fate.RETRANSMIT_TIMEOUT or not r.total:
        return ""
    if r.total == r.fin and e.close.last_ack_stuck and d.fate is Fate.CLOSED:
        return ""  # the LAST_ACK FIN retries are the close story already
    # Without the bare ACKs (a data-only filter) the duplicate ACKs and SACKs that would
    # make an early resend a fast retransmit are not in the capture: no probe is claimed.
    probes = 0 if e.seen.acks_filtered else r.probes
    kinds = [
        f"{n} {name}"
        for n, name in (
            (r.rto, "after timeout"),
            (probes, "tail loss probe" if probes == 1 else "tail loss probes"),
            (r.after_icmp, "after the ICMP error, in smaller segments"),
            (r.fast - probes - r.after_icmp, "fast"),
            (r.spurious, "spurious"),
            (r.fin, "FIN"),
            (r.unknown, "whose trigger the capture cannot show"),
        )
        if n
    ]
    s = r.last_series
    if s is not None and s.acks_unseen and not s.acked:
        end = (
            f"whether the {s.side}'s last retransmitted data was acknowledged cannot be seen "
            f"({_nothing_from(s.side.other)})"
        )
    elif s is not None and s.acks_unseen:
        end = (
            f"the {s.side}'s own later ACKs show the {s.side.other} answered afterwards (its "
            "direction was not captured)"
        )
    elif s is not None and not s.acked and e.seen.acks_filtered:
        # A filter that kept data segments only drops the bare ACKs that would answer it.
        end = (
            f"whether the {s.side}'s last retransmitted data was acknowledged cannot be seen "
            "(the capture holds no bare ACKs: a filter kept data segments only)"
        )
    elif s is not None and not s.acked:
        end = f"the {s.side}'s last retransmitted data was never acknowledged"
    elif s is None and r.total == r.fin_on_ack:
        end = "each a FIN repeated on the ACK of the peer's data or FIN: nothing was lost"
    elif r.dsacked and r.dsacked == r.total:
        return f"{r.total} retransmission(s) ({', '.join(kinds)}), {_all_dsacked(r)}."
    elif r.dsacked and r.spurious == r.total:
        end = "none repaired a loss"
    elif r.after_icmp == r.total:
        end = "each repeats data a router on the path could not forward at its first size"
    elif r.undecided and r.undecided == r.total - r.spurious - r.fin:
        end = f"the resent bytes were acknowledged, but {_UNDECIDED}"
    elif r.undecided:
        end = f"the losses were recovered; of the fast ones, {r.undecided}: {_UNDECIDED}"
    else:
        end = "the losses were recovered"
    return f"{r.total} retransmission(s) ({', '.join(kinds)}); {end}.{_dsack_words(r)}"


#: ``_loss_note``: resends whose D-SACK the snaplen would have cut (Retransmissions.undecided).
_UNDECIDED = (
    "whether they repaired a loss or were needless copies the capture cannot tell: the "
    "snaplen cut the TCP options of the ACKs after them, where a D-SACK (RFC 2883) would "
    "show a copy needless"
)


def _all_dsacked(r: Retransmissions) -> str:
    """Every resend D-SACKed (RFC 2883): why the copies were sent, though nothing was lost."""
    why = _dsack_reasons(r) or [
        "the receiver's ACK reached the sender only after the copy went out"
    ]
    if r.eifel:
        return (
            "all D-SACKed or acknowledged with an earlier copy's timestamp (RFC 3522): nothing "
            f"was lost, {' and '.join(why)}"
        )
    return f"all D-SACKed: nothing was lost, {' and '.join(why)}"


def _dsack_reasons(r: Retransmissions) -> list[str]:
    """Why D-SACKed resends went out, by what sent them."""
    reasons = []
    if r.dsacked_probes:
        reasons.append(
            "the receiver's ACK came after the sender's probe timeout (tail loss probe, RFC 8985)"
        )
    if r.dsacked_fast:
        reasons.append("the path reordered segments: the fast retransmit resent late ones")
    if r.dsacked_timeouts:
        reasons.append("the ACKs came after the retransmission timeout (a queue on the path)")
    return reasons


def _dsack_words(r: Retransmissions) -> str:
    """What the receiver's D-SACKs say of some of the resends: those bytes had arrived."""
    words = ""
    recovery = r.dsacked_probes + r.dsacked_fast
    if recovery:
        why = " and ".join(_dsack_reasons(replace(r, dsacked_timeouts=0)))
        words += (
            f" The receiver reported {recovery} tail loss probe(s) or fast retransmit(s) as "
            f"duplicates (D-SACK): those bytes had arrived, {why}."
        )
    if r.dsacked_timeouts:
        how = "duplicates (D-SACK)"
        if r.eifel == r.dsacked_timeouts:
            how = "already received: their ACKs echo an earlier copy's timestamp (RFC 3522)"
        elif r.eifel:
            how = (
                f"duplicates (D-SACK; {r.eifel} by the earlier copy's timestamp its ACKs "
                "echo, RFC 3522)"
            )
        words += (
            f" The receiver reported {r.dsacked_timeouts} of the "
            f"{r.rto + r.dsacked_timeouts} resent after a timeout as "
            f"{how}: the data had arrived, and the timer fired because the ACKs "
            "were late or lost on the way back (a queue on the path, the return direction "
            "dropping), not because the data was lost (nstat TcpExtTCPSpuriousRTOs)."
        )
    return words


def _zero_window_note(d: Decision, e: Evidence) -> str:
    z = e.zero_window
    if z is None or d.fate is Fate.PERSIST_TIMEOUT or (z.stalled_s < 0.01 and not z.probes):
        return ""  # a window closed for microseconds is the receiver keeping pace, not a stall
    probes = f", {z.probes} window probe(s) ({z.answered} answered)" if z.probes else ""
    state = "then the window opened" if z.recovered else "still closed at the end"
    said = (
        "advertised a zero window"
        if z.advertisements
        else "had closed its window (the ACK that announced it is not in the capture; the "
        "sender's window probes show it)"
    )
    return (
        f"The {z.receiver} {said} (receiver not reading fast enough) for "
        f"{_s(z.stalled_s)}{probes}; {state}."
    )


def _keepalive_note(d: Decision, e: Evidence) -> str:
    k = e.keepalive
    if k is None or d.fate is Fate.KEEPALIVE_TIMEOUT:
        return ""
    idle = f" after {_s(k.idle_s)} idle" if k.idle_s is not None else ""
    own = f"The {k.prober} sent {k.probes} keepalive probe(s){idle}, {k.answered} answered"
    p = k.peer
    if p is None:
        return own + "."
    # Each side's keepalive timer is its own socket's: both are told, never merged.
    p_idle = f" after {_s(p.idle_s)} idle" if p.idle_s is not None else ""
    return f"{own}; the {p.side} sent {p.probes} of its own{p_idle}, {p.answered} answered."


def _stale_peer_note(d: Decision, e: Evidence) -> str:
    h = e.handshake
    if not h.stale_peer or d.fate is Fate.CONNECT_TIMEOUT:  # that story tells it already
        return ""
    return (
        f"The first SYN was answered by a bare ACK for an older connection on the same ports "
        f"(challenge ACK, frame {h.answer_frame}: the server still held the old 4-tuple, e.g. "
        f"TIME_WAIT or half-open); the client reset it (frame {h.stale_rst_frame}) and retried at once."
    )


def _stale_peer_decided(d: Decision, e: Evidence) -> bool:
    """The decision rests on the RST a later connection's stale-peer exchange drew."""
    stale = e.stale_peer_rst
    return stale is not None and d.evidence_frames == (stale.rst_frame,)


def _stale_peer_inferred(e: Evidence) -> dict[str, object]:
    stale = e.stale_peer_rst
    assert stale is not None
    idle = round(stale.idle_s, 3) if stale.idle_s >= 0 else None  # < 0: a timestamp step back
    return {"by": Side.CLIENT.value, "state": "established", "idle_s": idle}


def _stale_peer_reset(e: Evidence) -> Explanation:
    """A connection ended by the RST a later connection's stale-peer exchange drew (the story
    is the whole explanation: the connection's own notes are about what it did before)."""
    stale = e.stale_peer_rst
    assert stale is not None
    return Explanation(
        f"Reset by the client (frame {stale.rst_frame}, grouped with connection "
        f"{stale.newer_conn}): a new connection from the same client port met this connection "
        "still open on the server, which answered the new SYN with a challenge ACK in this "
        "connection's sequence space",
        body="; the client no longer knew this connection and reset it (the RST carries this "
        "connection's sequence number). The client had dropped it without telling the server "
        "(RST lost or filtered, or the client host restarted).",
        check="Check the client's logs.",
    )


def _scan_probe(e: Evidence) -> Explanation:
    """A scanner's probe: the story is the whole explanation (there was no connection to
    have a fate, a capture start or losses)."""
    probe = e.handshake.probe
    assert probe is not None
    target = probe.by.other
    rst = e.close.ending_reset
    if e.icmp:
        icmp = e.icmp[0]
        answer = (
            f"answered by an ICMP error ({icmp.kind.replace('_', ' ')}, frame {icmp.frame}) "
            f"from {icmp.sender}: filtered"
        )
        why = "a firewall or router on the way rejected the probe"
    elif rst is not None and rst.side is target:
        answer = f"answered by the {target}'s RST (frame {rst.frame}): nothing listens there"
        why = (
            "Linux and RFC 793 stacks answer such a probe with RST only when no socket has the "
            "port (Windows answers every one with RST, and a firewall's REJECT with tcp-reset "
            "looks the same)"
        )
    else:
        answer = (
            "unanswered: the port listens, a firewall dropped it, or the capture lacks the answer"
        )
        why = "a listening socket drops such a probe silently"
    return Explanation(
        f"Port scan probe ({probe.name}, frame {probe.frame}) {answer}",
        body=f"; {why}. The probe carries no SYN, ACK or RST, and no TCP connection sends such "
        "a segment (every one after the SYN carries ACK, RFC 9293): only a port scanner crafts "
        "it (nmap -sF, -sN, -sX) to read the port's state from the answer. No connection was "
        "open here, and none failed.",
        check=f"Check: who scans from the {probe.by}'s address (a security or inventory "
        "scanner); filter it if it is not expected.",
    )


def _one_sided_note(e: Evidence) -> str:
    one = e.handshake.one_sided
    if e.close.unseen_fins:
        lost = (
            "a FIN without payload, which this capture's filter drops"
            if e.seen.payload_only
            else "the capture point lost it"
        )
        return " ".join(
            f"The {unseen.side}'s FIN is not in the capture; "
            + (
                f"its own later segment (frame {unseen.ack_frame}) carries the sequence number "
                "after it"
                if unseen.own
                else f"the {unseen.side.other} acknowledged it (frame {unseen.ack_frame})"
            )
            + f": {lost}."
            for unseen in e.close.unseen_fins
        )
    if one is None:
        return ""
    fin = (
        f" The peer's FIN is inferred from the {one.captured}'s ACK of it (frame {one.peer_fin_ack_frame})."
        if one.peer_fin_ack_frame is not None
        else ""
    )
    return (
        f"Only one direction was captured (asymmetric routing or a one-sided tap): the other side's "
        f"packets are inferred from the acknowledgements (all packets here are from the {one.captured}).{fin}"
    )


def _silent_sender_note(e: Evidence) -> str:
    """A side fell silent with data unacknowledged while the capture went on
    (``detect.silent_sender``): the capture is missing this connection's later segments."""
    s = e.silent_sender
    if s is None:
        return ""
    what = f"last {s.unacked_bytes:,} bytes" if s.unacked_bytes else "FIN"
    if s.unacked_bytes and s.fin_unacked:
        what += " and its FIN"
    verb = "were" if s.unacked_bytes else "was"
    rto = (
        f"about {_s(s.rto_s)} here, from the {round_trip(s.rtt_ms)} handshake round trip"
        if s.rtt_ms is not None
        else "1 s before any round trip is measured"
    )
    return (
        f"The {s.side}'s {what} (up to frame {s.last_frame}) {verb} never acknowledged "
        f"(the {s.side.other}'s highest ACK: frame {s.ack_frame}), yet the {s.side} sent "
        f"nothing more in the {_s(s.silent_s)} the capture went on. A live sender resends "
        f"unacknowledged data when its retransmission timer fires ({rto}; never "
        "under 200 ms, then doubling), so the capture is missing this connection's later segments: the "
        "capture point dropped them (tcpdump's 'packets dropped by kernel' line when it "
        "stops; a bigger -B buffer, a narrower filter or a faster disk keeps up), or "
        f"everything the {s.side} sent after frame {s.last_frame} was lost before the "
        f"capture point (the path died upstream, or the {s.side}'s host stopped): a capture "
        f"nearer the {s.side} tells. How the connection ended is not in this capture."
    )


#: Fates that blame an absence (nothing answered) on the path or the peer.
_UNANSWERED = frozenset(
    {
        Fate.CONNECT_TIMEOUT,
        Fate.HANDSHAKE_TIMEOUT,
        Fate.RETRANSMIT_TIMEOUT,
        Fate.KEEPALIVE_TIMEOUT,
        Fate.PERSIST_TIMEOUT,
    }
)


def _one_host_note(d: Decision, e: Evidence) -> str:
    """Both ends on one host (loopback.py) and something was resent or never answered: no
    network lost it, the host did."""
    if not e.one_host:
        return ""  # most connections: nothing below need be read
    r, h = e.retransmit, e.handshake
    # Only resends a timer or the peer's ACKs drove: a tool's SYNs sooner than any timer
    # (RetrySeries.timed False) and resends of unknown trigger prove no drop.
    retried = any(s is not None and s.retries and s.timed for s in (h.syn, h.synack))
    resent = retried or r.rto or r.fast or r.fin > r.fin_on_ack
    if not (resent or d.fate in _UNANSWERED):
        return ""
    return f"Both ends are on this host (loopback addresses, or one address at both ends): {HOST_DROPS}."


def _ignored_reset_note(e: Evidence) -> str:
    """A RST its receiver discarded (``Close.ignored_reset``): it ended nothing."""
    if e.close.ignored_reset is None:
        return ""
    rst, resend = e.close.ignored_reset
    return (
        f"The RST in frame {rst} did not end it: its receiver retransmitted data afterwards "
        f"(frame {resend}, later than any retransmission timer armed after the RST), which a "
        "socket a RST tore down never does: the RST was lost on the way, or its receiver "
        "discarded it (one outside its window is dropped, one in it but not at the expected "
        "sequence number draws a challenge ACK: RFC 5961, Linux tcp_validate_incoming), and "
        "it still held the connection."
    )


def _reopened_note(e: Evidence) -> str:
    h = e.handshake
    frame = h.reopened_frame
    if frame is None:
        return ""
    earlier = (
        f"the earlier one ended with {h.earlier_end}"
        if h.earlier_end is not None
        else "the capture shows no end of the earlier one"
    )
    return (
        f"From frame {frame} on, this stream is another connection on the same 4-tuple: the "
        "server's answer there (a SYN+ACK with a new ISN, or a RST with sequence number 0) "
        f"answers a SYN the capture lost, and {earlier}; the fate above is read from both. "
        f"Read the two apart in Wireshark with tcp.stream == {e.conn} and frame.number < "
        f"{frame} (or >=)."
    )


def _artefact_note(e: Evidence) -> str:
    a = e.artefacts
    notes = []
    if a.capture_start:
        notes.append(
            NO_SYN_FILTERED[0].lower() + NO_SYN_FILTERED[1:]
            if e.seen.payload_only
            else "the capture began inside this connection (no SYN)"
        )
    if a.duplicates:
        notes.append(f"{a.duplicates} packet(s) captured twice (not retransmissions)")
    if a.super_segments:
        notes.append(
            f"{a.super_segments} segment(s) larger than the MSS (TSO/GRO at the capture host)"
        )
    if not notes:
        return ""
    text = "; ".join(notes)
    return "Capture: " + text + "."
