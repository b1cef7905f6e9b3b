"""Sweeps: one client's failed connection attempts to many ports (``port_scan``) or many
hosts (``host_sweep``) within a minute, the machinery both finders share.

Kernel rule: a Linux host answers a SYN to a port where nothing listens with RST
(``tcp_v4_send_reset``: ``__inet_lookup_listener`` finds no socket), a firewall that drops
answers nothing, and a port scanner's FIN, NULL or Xmas probe (cause ``scan_probe``) draws the
same RST from a port without a socket. An attempt failed when its connection was refused, never
answered (``connect_timeout``) or was such a probe; it connected when its handshake completed
or when a SYN scanner's kernel reset the SYN+ACK (cause ``half_open_probe``: an open port
found). An ACK or FIN + ACK probe (``nmap -sA``, ``-sW``, ``-sM``) is a lone segment the host
answers with RST whether a port listens or not (no connection matches it; a listener answers a
segment with ACK so too): it counts as an attempt (``probed``), neither refused nor connected.
Alone, such a connection is no scan (it is also what a capture begun just before a lost
connection's last segment holds); many to many ports within the stretch are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pcapline.findings.base import densest_window
from pcapline.fmt import gap, seconds
from pcapline.model import Cause, Fate

#: The stretch one sweep's failed attempts must fall in.
WINDOW_S = 60
FAILED_FATES = (Fate.REFUSED.value, Fate.CONNECT_TIMEOUT.value)
#: The connections-table columns ``attempts`` reads.
COLUMNS = frozenset(
    {"fate", "cause", "connect_s", "client_ip", "server_ip", "server_port", "start_ns"}
)


def attempts(conns: pd.DataFrame, least: int) -> pd.DataFrame | None:
    """Per connection its client, server, port and start, and whether the attempt ``failed``,
    was ``refused`` or ``connected``; None when fewer than ``least`` failed (no sweep)."""
    if conns.empty or not set(conns.columns) >= COLUMNS:
        return None
    fate = conns["fate"].astype(str).to_numpy()
    cause = conns["cause"].to_numpy(dtype=object)
    # A FIN, NULL or Xmas probe tried its port too: answered by RST (its fate is reset)
    # nothing listens there; unanswered, something does or a firewall drops it.
    stealth = cause == Cause.SCAN_PROBE.value
    # A FIN, NULL or Xmas probe has the same shape, told apart by its cause (refused above).
    probed = lone_probes_reset(conns) & pd.isna(cause)
    failed = np.isin(fate, FAILED_FATES) | stealth | probed
    if np.count_nonzero(failed) < least:
        return None
    table = conns[["id", "client_ip", "server_ip", "server_port", "start_ns"]].copy()
    table["failed"] = failed
    table["probed"] = probed
    connected = ~np.isnan(conns["connect_s"].to_numpy(dtype=float))
    table["connected"] = (connected | (cause == Cause.HALF_OPEN_PROBE.value)) & ~failed
    table["refused"] = (fate == Fate.REFUSED.value) | (stealth & (fate == Fate.RESET.value))
    # Refused by the host itself (its RST), not by a router's or firewall's ICMP error on the
    # way: only the host's own answer says that it is up and nothing listens on the port.
    table["host_refused"] = table["refused"].to_numpy(dtype=bool) & (
        cause != Cause.ICMP_REJECT.value
    )
    return table


#: The connections-table columns ``lone_probes_reset`` reads (without them: none).
PROBE_COLUMNS = frozenset({"packets", "resets", "bytes_client", "bytes_server", "reset_by"})


def lone_probes_reset(conns: pd.DataFrame) -> np.ndarray:
    """Per connection: one segment from the client, without data, and the server's RST for
    it: an ACK or FIN + ACK probe's shape (module docstring). That segment is no SYN (a SYN
    and its RST make ``refused``), so the capture seems to begin inside the connection."""
    if not set(conns.columns) >= PROBE_COLUMNS:
        return np.zeros(len(conns), dtype=bool)
    shape: np.ndarray = (
        (conns["fate"].astype(str).to_numpy() == Fate.RESET.value)
        & (conns["packets"].to_numpy() == 2)
        & (conns["resets"].to_numpy() == 1)
        & (conns["bytes_client"].to_numpy() == 0)
        & (conns["bytes_server"].to_numpy() == 0)
        & (conns["reset_by"].to_numpy(dtype=object) == "server")
    )
    return shape


def sweeps(
    conns: pd.DataFrame, keys: list[str], distinct: str, least: int, counted: str = "failed"
) -> list[tuple[tuple[Any, ...], pd.DataFrame]]:
    """Per group of ``keys`` (client and server, client and port) its ``busiest_sweep``, for
    the groups that have one, in key order."""
    table = attempts(conns, least)
    if table is None:
        return []
    found = []
    for key, group in table.groupby(keys, sort=True):
        span = busiest_sweep(group, distinct, least, counted)
        if span is not None:
            found.append((tuple(key), span))
    return found


def busiest_sweep(
    group: pd.DataFrame, distinct: str, least: int, counted: str = "failed"
) -> pd.DataFrame | None:
    """The group's attempts (start order) from the first to the last counted one (column
    ``counted``: failed, or refused by the host) of its busiest ``WINDOW_S`` stretch, when
    that stretch holds counted attempts at ``least`` different ``distinct`` values (server
    ports, server addresses), each counted at its first."""
    group = group.sort_values(["start_ns", "id"], kind="stable")
    tried = group[group[counted].to_numpy(dtype=bool)].drop_duplicates(distinct)
    if len(tried) < least:
        return None
    times = tried["start_ns"].to_numpy(np.int64)
    burst = densest_window(times, WINDOW_S * 10**9)
    if burst.count < least:
        return None
    last = int(times[np.searchsorted(times, burst.start_ns) + burst.count - 1])
    at = group["start_ns"].to_numpy(np.int64)
    return group[(at >= burst.start_ns) & (at <= last)]


@dataclass(frozen=True, slots=True)
class Tally:
    """A sweep's attempts counted: what its finding's keys and summary say."""

    refused: int
    unanswered: int
    connected: int
    start_ns: int
    end_ns: int
    probed: int = 0  # ACK / FIN + ACK probes reset (``lone_probes_reset``)

    @staticmethod
    def of(span: pd.DataFrame) -> Tally:
        failed = int(np.count_nonzero(span["failed"].to_numpy(dtype=bool)))
        refused = int(np.count_nonzero(span["refused"].to_numpy(dtype=bool)))
        probed = int(np.count_nonzero(span["probed"].to_numpy(dtype=bool)))
        return Tally(
            refused=refused,
            unanswered=failed - refused - probed,
            connected=int(np.count_nonzero(span["connected"].to_numpy(dtype=bool))),
            start_ns=int(span["start_ns"].min()),
            end_ns=int(span["start_ns"].max()),
            probed=probed,
        )

    @property
    def counts(self) -> str:
        probes = f"{self.probed} ACK or FIN + ACK probes reset, " if self.probed else ""
        return (
            f"{probes}{self.refused} refused, {self.unanswered} unanswered, "
            f"{self.connected} connected"
        )

    @property
    def within(self) -> str:
        """The first to the last attempt, as a summary says it ("12 ms"; "0.7 ms" below 1 ms,
        which ``seconds`` would round to 0)."""
        span_s = (self.end_ns - self.start_ns) / 1e9
        return gap(span_s) if span_s < 0.001 else seconds(span_s)

    def keys(self) -> dict[str, object]:
        return {
            "refused": self.refused,
            "unanswered": self.unanswered,
            "connected": self.connected,
            "probes_reset": self.probed,
            "window": {"start": self.start_ns / 1e9, "end": self.end_ns / 1e9},
        }
