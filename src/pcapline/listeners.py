"""Listeners: what one listener's SYN+ACK retries show across its connections.

Kernel rules (tcp_conn_request, reqsk_timer_handler; tcp-facts.md "Opening"):

- A listener keeps a request socket per SYN and resends its SYN+ACK on that socket's timer
  (TCP_TIMEOUT_INIT, 1 s, then doubling: resends at 1, 3, 7 ... s) until the handshake's ACK
  arrives, a RST ends the request, or the resends reach the limit (TCP_SYNCNT on the
  listener, else net.ipv4.tcp_synack_retries, default 5). When the SYN queue is over half
  full of old requests the timer lowers that limit for the requests it visits, never below 2.
- With its SYN queue full it answers with a SYN cookie instead: no request socket, so a
  cookie SYN+ACK is never resent.

So at one listener (server address and port):

- a SYN+ACK resent at all: it keeps request sockets and resends (``retried``); its unanswered
  SYN+ACKs that were never resent had no request socket: SYN cookies (causes/syn_cookies.py);
- a SYN+ACK its timer resent twice or more: its limit is 2 or more (``twice``);
- a SYN+ACK its timer resent once (at 1 s), then never again although the capture went on
  past the second resend's due time (2 s later), with no ACK or RST of it captured
  (``stopped_short``): that request ended before a limit of 2 or more, on an ACK or RST the
  capture does not hold.

A listener showing both (``ListenerRetries.acks_unseen``) completes handshakes out of the
capture's sight. In a capture whose filter drops the handshake ACK (``quality.Seen.filtered``)
its SYN+ACKs sent once are then no timeouts: acknowledged out of sight, or cookies, nothing
on the wire tells which (``classify.handshake_timeout``). A listener whose resent series all
run to one count (a flood, ``sample_captures/syn-flood-backlog8-syncookies``) shows no such
stop.

The engine sums the partitions' ``ListenerRetries`` into the whole capture's
(``engine.Settings.retried_by_listener``) and reruns a partition whose connections weighed
their own (``engine._to_rerun``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pcapline.detect import ConnDetections
from pcapline.detect.handshake import RetrySeries
from pcapline.timers import TCP_TIMEOUT_INIT_S, close_to

#: The resends below which no limit a listener runs stops its request socket, once it
#: resent some SYN+ACK this many times (the SYN-queue pruning's floor, reqsk_timer_handler).
LIMIT_FLOOR = 2


@dataclass(frozen=True, slots=True)
class ListenerRetries:
    """What one listener's SYN+ACK series show (module docstring); partitions add theirs."""

    retried: int = 0  # connections whose SYN+ACK was resent
    twice: bool = False  # some SYN+ACK resent by its timer 2+ times
    stopped_short: bool = False  # some SYN+ACK resent once, then no more, the capture going on

    def __add__(self, other: ListenerRetries) -> ListenerRetries:
        return ListenerRetries(
            self.retried + other.retried,
            self.twice or other.twice,
            self.stopped_short or other.stopped_short,
        )

    @property
    def acks_unseen(self) -> bool:
        """A request of this listener ended short of its limit with no ACK or RST captured:
        its handshakes complete out of the capture's sight."""
        return self.twice and self.stopped_short


def resent_twice(series: RetrySeries) -> bool:
    """The request socket's timer resent this SYN+ACK ``LIMIT_FLOOR`` times or more (not a
    burst answering the client's resent SYNs)."""
    return series.timed and series.retries >= LIMIT_FLOOR


def stopped_short(series: RetrySeries) -> bool:
    """One SYN+ACK resend, at the request timer's first expiry (1 s), then none although the
    capture went on past the next one due, and nothing captured answered it
    (``RetrySeries.gave_up``: only set for an unanswered series)."""
    return (
        series.timed
        and series.retries == 1
        and series.gave_up is True
        and close_to(series.times[1], TCP_TIMEOUT_INIT_S)
    )


def by_listener(
    connections: pd.DataFrame,
    conn_ids: np.ndarray,
    synack_retransmits: np.ndarray,
    detections: Mapping[int, ConnDetections],
) -> dict[str, ListenerRetries]:
    """Per listener (``"server_ip|server_port"``) with any resent SYN+ACK: its
    ``ListenerRetries`` over ``conn_ids`` (``synack_retransmits`` in that order; the series
    from the visited connections' ``detections``: every resent SYN+ACK is screened in)."""
    resent = np.asarray(synack_retransmits) > 0
    if not resent.any():
        return {}
    listener = listener_names(connections, conn_ids)
    out: dict[str, ListenerRetries] = {}
    for conn, name in zip(conn_ids[resent].tolist(), listener[resent].tolist(), strict=True):
        found = detections.get(conn)
        series = found.handshake.inferred.synack if found is not None else None
        mine = ListenerRetries(
            1,
            series is not None and resent_twice(series),
            series is not None and stopped_short(series),
        )
        out[name] = out[name] + mine if name in out else mine
    return out


def summed(parts: Iterable[Mapping[str, ListenerRetries]]) -> dict[str, ListenerRetries]:
    """The whole capture's ``by_listener`` from its partitions'."""
    total: dict[str, ListenerRetries] = {}
    for part in parts:
        for name, seen in part.items():
            total[name] = total[name] + seen if name in total else seen
    return total


def retrying(
    connections: pd.DataFrame,
    conn_ids: np.ndarray,
    synack_retransmits: np.ndarray,
    *,
    whole: Mapping[str, ListenerRetries] | None = None,
) -> np.ndarray:
    """Per connection (``conn_ids`` order): ANOTHER connection to its listener had its SYN+ACK
    resent. Such a listener keeps a request socket per SYN and resends, so its unresent,
    unanswered SYN+ACKs had none: SYN cookies (causes/syn_cookies.py).

    ``whole``: the whole capture's ``by_listener`` when ``connections`` are a part of it
    (``engine.py``); None: these connections are the whole capture."""
    n = len(conn_ids)
    retried = (np.asarray(synack_retransmits) > 0).astype(np.int64)
    if not n or (not retried.any() and not whole):
        return np.zeros(n, dtype=bool)  # no listener resent: no listener names to build
    listener = listener_names(connections, conn_ids)
    if whole is None:
        codes, _names = pd.factorize(listener)
        counted = np.bincount(codes, weights=retried, minlength=codes.max() + 1)
        per_listener: np.ndarray = counted[codes]
    else:
        counts = {name: seen.retried for name, seen in whole.items()}
        per_listener = listener.map(counts).fillna(0).to_numpy(np.int64)
    return np.asarray(per_listener - retried > 0)


def acking_unseen(
    connections: pd.DataFrame, conn_ids: np.ndarray, seen: Mapping[str, ListenerRetries]
) -> np.ndarray:
    """Per connection (``conn_ids`` order): its listener completes handshakes out of the
    capture's sight (``ListenerRetries.acks_unseen`` in ``seen``)."""
    unseen = {name for name, s in seen.items() if s.acks_unseen}
    if not unseen or not len(conn_ids):
        return np.zeros(len(conn_ids), dtype=bool)
    return np.asarray(listener_names(connections, conn_ids).isin(unseen), dtype=bool)


def listener_names(connections: pd.DataFrame, conn_ids: np.ndarray) -> pd.Series:
    """Per connection (``conn_ids`` order): its listener, ``"server_ip|server_port"``."""
    table = connections[["id", "server_ip", "server_port"]].set_index("id").reindex(conn_ids)
    return (table["server_ip"].astype(str) + "|" + table["server_port"].astype(str)).reset_index(
        drop=True
    )


__all__ = [
    "LIMIT_FLOOR",
    "ListenerRetries",
    "acking_unseen",
    "by_listener",
    "listener_names",
    "resent_twice",
    "retrying",
    "stopped_short",
    "summed",
]
