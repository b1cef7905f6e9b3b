"""explain_transfer: a bulk transfer's note says how fast it went and what set the pace.

Words for ``delays.transfer`` (transfer.py decides it; nothing is measured again here): the
rate at the capture point, the largest part of the transfer's time and what to do about it,
then the split of the whole time. Every connection with a transfer gets the note, slow or
not: "why was this download 11 Mbit/s?" is asked of transfers that did not fail.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

import numpy as np
import pandas as pd

from pcapline.delays import Delays, DelaysTable
from pcapline.fmt import bit_rate, byte_count, round_trip
from pcapline.fmt import seconds as _s
from pcapline.model import Explanation, TransferPace
from pcapline.transfer import (
    MIN_BYTES,
    PARTS,
    QUEUE_MIN_MS,
    FlightTrend,
    QueueSeen,
    Transfer,
    long_enough,
    standing,
)

#: How each part is named in the split.
_PART_NAME: dict[str, str] = {
    "loss": "loss recovery",
    "receive_window": "the receive window",
    "sender": "the sender idle",
    "network": "data in flight",
}


def with_transfer_notes(
    words: Sequence[Explanation], ids: Sequence[int], lost: Mapping[int, Delays]
) -> list[Explanation]:
    """``words`` (one per connection of ``ids``) with the transfer note of each connection
    that has a transfer. A ``DelaysTable`` is asked only for those (one in thousands)."""
    out = list(words)
    where = {int(conn): i for i, conn in enumerate(ids)}
    if isinstance(lost, DelaysTable):
        chosen = lost.ids[lost.columns["transfer_side"] >= 0].tolist()
    else:
        chosen = list(where)
    for conn in chosen:
        d = lost.get(conn)
        i = where.get(conn)
        note = "" if d is None or i is None else transfer_note(d)
        if note and i is not None:
            out[i] = replace(out[i], notes=(*out[i].notes, note))
    return out


def transfer_note(d: Delays) -> str:
    """The note of ``d.transfer`` ("" without one)."""
    t = d.transfer
    if t is None:
        return ""
    rate = "" if t.rate_bps is None else f" ({bit_rate(t.rate_bps)} at the capture point)"
    head = f"Transfer: the {t.side.value} sent {byte_count(t.bytes)} in {_s(t.seconds)}{rate}"
    why = _WHY[t.paced_by](t, d) if t.paced_by is not None else _unknown(t) + _paused(t, d)
    return f"{head}. {why}{_split(t)}"


def _share(seconds: float | None, t: Transfer) -> str:
    if seconds is None or t.seconds <= 0:
        return _s(seconds)
    return f"{_s(seconds)} ({100 * seconds / t.seconds:.0f} %)"


def _split(t: Transfer) -> str:
    """`` Its time: ...``: each known part over 1 % of it, when there are two or more."""
    values = {
        "loss": t.loss_s,
        "receive_window": t.receive_window_s,
        "sender": t.sender_s,
        "network": t.network_s,
    }
    said = [
        f"{_PART_NAME[part]} {100 * value / t.seconds:.0f} %"
        for part in PARTS
        if (value := values[part]) is not None and t.seconds > 0 and value > 0.01 * t.seconds
    ]
    return f" Its time: {', '.join(said)}." if len(said) > 1 else ""


def _loss(t: Transfer, d: Delays) -> str:
    episodes = d.rto_episodes + d.fast_recovery_episodes
    queue = "" if standing(t.queue_ms, t.rtt_min_ms) else " with no queue standing"
    return (
        f"Loss set the pace: the {t.side.value} spent {_share(t.loss_s, t)} recovering lost "
        f"data (the connection's {episodes} episode{'s' * (episodes != 1)}: {d.rto_episodes} "
        f"after a retransmission timeout, {d.fast_recovery_episodes} by fast recovery), and "
        "each recovery cut its congestion window (CUBIC to 0.7 of it, Reno to half), which "
        f"then grew back round trip by round trip{queue}: the losses, not the path's "
        "capacity, held the rate. Find where the path drops (interface errors and drops on "
        "each hop: ip -s link, ethtool -S, tc -s qdisc; a policer, which drops instead of "
        "queueing; a flaky link)."
    )


def _receive_window(t: Transfer, d: Delays) -> str:
    peer = t.side.other
    return (
        f"The {peer}'s receive window set the pace: the {t.side.value} waited "
        f"{_share(t.receive_window_s, t)} for it to open (full, or zero): the {peer}'s "
        f"application read slowly, or its receive buffer is small for the path (SO_RCVBUF, "
        "net.ipv4.tcp_rmem)."
    )


def _sender(t: Transfer, d: Delays) -> str:
    return (
        f"The {t.side.value} set the pace: for {_share(t.sender_s, t)} everything it had sent "
        f"was acknowledged and the {t.side.other}'s window was open, and it sent nothing: its "
        "application wrote no faster (or waited on something: a disk, an upstream), or a "
        "pacing rate held it. The network was not the limit."
    )


def _bottleneck(t: Transfer, d: Delays) -> str:
    flowing = (
        "while it flowed"
        if t.network_s is None
        else f"for {_share(t.network_s, t)} data was in flight with the window open and "
        "nothing lost, and"
    )
    return (
        f"A bottleneck on the path set the pace: {flowing} a queue of about "
        f"{round_trip(t.queue_ms or 0.0)} stood on the way ({_queue_seen(t)}): the narrowest "
        "link was busy while it stood, and the rate above is what it gave this connection "
        "(its capacity, or its share of it beside other traffic). Check that link's capacity, "
        "its load and its queue (tc -s qdisc, interface counters, a shaper or policer on the "
        "way); a larger window will not make it faster."
    )


def _queue_seen(t: Transfer) -> str:
    """How the capture showed the queue (read at its 75th percentile over time): its data's
    ACKs coming back late, or the sender's stamps."""
    empty = "" if t.rtt_min_ms is None else f"; the round trip is {round_trip(t.rtt_min_ms)} empty"
    if t.queue_seen is QueueSeen.ACKS:
        return (
            "its data's ACKs came back that much later than with the queue empty for a quarter "
            f"of the transfer or more{empty}"
        )
    return (
        f"the {t.side.value}'s TCP timestamps show its segments' one-way delay to the capture "
        f"point grown by that much for a quarter of the transfer or more{empty}"
    )


def _round_trip(t: Transfer, d: Delays) -> str:
    loaded = "" if t.rtt_loaded_ms is None else f" (median {round_trip(t.rtt_loaded_ms)})"
    queued = t.queue_ms is not None and t.queue_ms >= QUEUE_MIN_MS  # passing, not standing
    queue = (
        f"a passing queue of about {round_trip(t.queue_ms or 0.0)} as it grew"
        if queued
        else "no queue"
    )
    head = (
        f"The round trip set the pace: for {_share(t.network_s, t)} data was in flight with "
        f"the window open and nothing lost, the round trip near "
        f"{round_trip(t.rtt_min_ms or 0.0)}{loaded}, {queue}"
    )
    flight = (
        "" if t.in_flight_bytes is None else f" (near {byte_count(t.in_flight_bytes)} at the end)"
    )
    if t.trend is FlightTrend.GROWING:
        return (
            f"{head}, and its data in flight{flight} grew by about a segment per round trip: "
            f"the {t.side.value}'s congestion window, past slow start (ended by a loss or by "
            "HyStart's delay test), growing in congestion avoidance. On this round trip that "
            "growth is slow; a shorter path is faster."
        )
    return (
        f"{head}, and its data in flight{flight} doubled round trip by round trip: the "
        f"{t.side.value}'s congestion window in slow start, which the transfer never left. A "
        "transfer this size takes several round trips on this path; a shorter path (a "
        "nearer server), a connection kept open and reused (with "
        "net.ipv4.tcp_slow_start_after_idle 0, or the window restarts after an idle "
        "retransmission timeout), or a larger initial window "
        "(ip route ... initcwnd) is faster."
    )


def _network(t: Transfer, d: Delays) -> str:
    if t.sender_s is not None and t.trend is FlightTrend.FLAT:
        flight = "" if t.in_flight_bytes is None else f" near {byte_count(t.in_flight_bytes)}"
        return (
            f"The {t.side.value} or the path set the pace: for {_share(t.network_s, t)} its "
            f"data in flight held steady{flight} with the window open, no standing queue and "
            "nothing lost, so no congestion window held it (Linux grows that window only while it "
            "limits the sender: tcp_is_cwnd_limited). Its application writing no faster, its "
            "send buffer (SO_SNDBUF, net.ipv4.tcp_wmem; ss -tm), or a congestion control that "
            "paces itself at the rate it measured for the path (BBR; then that rate is the "
            f"path's) held it: ss -i on the {t.side.value} tells (app_limited, "
            "sndbuf_limited, bbr)."
        )
    if t.sender_s is not None:
        return (
            f"The path or the {t.side.value} set the pace: for {_share(t.network_s, t)} data "
            "flowed with the window open and nothing lost; the capture shows neither a queue "
            "nor how the flight moved."
        )
    return (
        f"The path or the {t.side.value} set the pace: for {_share(t.network_s, t)} data "
        "flowed with the window open and nothing lost. The capture point does not see the "
        f"{t.side.value}'s own pipe (it is not clearly nearer the {t.side.value}), so a "
        f"queue or a slow link on the path and a {t.side.value} with nothing more to send "
        f"look alike from here; a capture at the {t.side.value} tells them apart."
    )


def _unknown(t: Transfer) -> str:
    if not long_enough(t.seconds, t.rtt_min_ms):
        return (
            "It lasted less than a round trip (its window sent at once, or a rewritten "
            "capture's timestamps): nothing paced it that the packets can show."
        )
    return (
        "What set the pace the capture cannot show: whether the "
        f"{t.side.other}'s receive window was full cannot be told from here (the capture "
        f"point is far from the {t.side.value}, whose view of the window lags the one seen "
        "here, or the window scale is unknown: a SYN not captured, or its options cut by "
        "the snaplen)"
        + (
            f"; a queue of about {round_trip(t.queue_ms or 0.0)} built up on the path while it "
            "flowed"
            if standing(t.queue_ms, t.rtt_min_ms)
            else ""
        )
        + "."
    )


#: A pause of the sender's application this long is said where the pace is not known.
PAUSE_SAID_S = 1.0


def _paused(t: Transfer, d: Delays) -> str:
    """Where the pace cannot be told, the sender's application pause the capture did prove
    (``app_pause_s``, app_pause.py: its data held with everything acknowledged and the window
    open, proven from the capture point or by the sender's IP IDs and timestamps), so that a
    transfer that sat seconds on its sender is not left at "cannot show" alone."""
    seconds = d.app_pause_s
    if seconds is None or seconds < PAUSE_SAID_S or d.app_pause_side is not t.side:
        return ""
    return (
        f" Yet the {t.side.value}'s application held its data once for {_s(seconds)} in this "
        f"connection with all it had sent acknowledged and the {t.side.other}'s window open: "
        "nothing in TCP or the network held it then (its application waited, or a pacing rate "
        "or TCP_CORK it set held the data)."
    )


_WHY: dict[TransferPace, Callable[[Transfer, Delays], str]] = {
    TransferPace.LOSS: _loss,
    TransferPace.RECEIVE_WINDOW: _receive_window,
    TransferPace.SENDER: _sender,
    TransferPace.BOTTLENECK: _bottleneck,
    TransferPace.ROUND_TRIP: _round_trip,
    TransferPace.NETWORK: _network,
}

#: How the capture-wide line names each pace ("" in the table: not known).
_PACE_NAME: dict[str, str] = {
    TransferPace.BOTTLENECK.value: "a bottleneck",
    TransferPace.ROUND_TRIP.value: "the round trip",
    TransferPace.NETWORK.value: "the path or the sender",
    TransferPace.RECEIVE_WINDOW.value: "the receive window",
    TransferPace.LOSS.value: "loss",
    TransferPace.SENDER.value: "the sender",
    "": "not known",
}


def transfer_summary(connections: pd.DataFrame) -> str:
    """One line for the capture: its bulk transfers (``connections``: the connections table,
    its ``transfer_rate_bps`` and ``transfer_paced_by`` columns), their rates and what paced
    them; "" without one."""
    if connections.empty or "transfer_rate_bps" not in connections.columns:
        return ""
    rates = connections["transfer_rate_bps"].to_numpy(np.float64)
    has = ~np.isnan(rates)
    if not has.any():
        return ""
    ids = connections["id"].to_numpy(np.int64)[has]
    rates = rates[has]
    paces = Counter(str(p) for p in connections["transfer_paced_by"].to_numpy()[has])
    slowest = int(np.argmin(rates))
    n = len(rates)
    head = f"{n:,} bulk transfer{'s' * (n != 1)} ({MIN_BYTES // 1024} KiB or more in one run): "
    if n == 1:
        rate = f"{bit_rate(rates[0])} (connection {ids[0]})"
    else:
        rate = (
            f"rate p50 {bit_rate(float(np.percentile(rates, 50, method='lower')))}, slowest "
            f"{bit_rate(rates[slowest])} (connection {ids[slowest]})"
        )
    if n == 1:
        (pace,) = paces
        paced = "what paced it not known" if pace == "" else f"paced by {_PACE_NAME[pace]}"
        return f"{head}{rate}, {paced} (its explanation says why)"
    order = sorted(paces.items(), key=lambda kv: (kv[0] == "", -kv[1], kv[0]))
    paced = ", ".join(f"{_PACE_NAME[pace]} {count:,}" for pace, count in order)
    return f"{head}{rate}; paced by {paced} (each one's explanation says why)"
