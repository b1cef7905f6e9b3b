"""Repeats: one client's connections of one kind to one port, made again and again (a health
checker's, a monitor's), the machinery ``half_open_probes`` and ``connect_checks`` share.

A checker runs on a timer: its connections come at a steady period, give or take the
scheduling jitter of its host. When the gaps between their starts all lie within ``REGULAR``
of their median, the median is the checker's interval; otherwise no period is claimed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pcapline.findings.base import make_finding
from pcapline.fmt import gap, seconds
from pcapline.model import Finding

#: Gaps within this fraction of their median are one period (a checker's timer, with jitter).
REGULAR = 0.25
#: The columns ``repeated`` reads beside the caller's mask.
COLUMNS = ("id", "client_ip", "server_ip", "server_port", "start_ns")


#: A finding's summary from the client, the server, the port and the repeats.
Summary = Callable[[str, str, int, "Repeats"], str]


def repeat_findings(
    kind: str,
    conns: pd.DataFrame,
    chosen: np.ndarray,
    *,
    least: int,
    count_key: str,
    summary: Summary,
    explanation: str,
) -> list[Finding]:
    """One ``kind`` finding per client, server and port with at least ``least`` of the
    ``chosen`` connections (a row mask), in key order: ``client``, ``server``, ``port``,
    ``count_key`` (how many), ``period_s`` and ``window``."""
    if np.count_nonzero(chosen) < least:
        return []
    table = conns.loc[chosen, list(COLUMNS)]
    found = []
    for (client, server, _port), group in table.groupby(
        ["client_ip", "server_ip", "server_port"], sort=True
    ):
        if len(group) < least:
            continue
        repeats = Repeats.of(group)
        port = int(group["server_port"].iloc[0])
        found.append(
            make_finding(
                kind,
                summary(str(client), str(server), port, repeats),
                group["id"].tolist(),
                explanation,
                client=str(client),
                server=str(server),
                port=port,
                **{count_key: repeats.count},
                **repeats.keys(),
            )
        )
    return found


@dataclass(frozen=True, slots=True)
class Repeats:
    """How many, from when to when, and how often (``period_s``: None when irregular)."""

    count: int
    start_ns: int
    end_ns: int
    period_s: float | None

    @staticmethod
    def of(group: pd.DataFrame) -> Repeats:
        starts = np.sort(group["start_ns"].to_numpy(np.int64))
        gaps = np.diff(starts) / 1e9
        median = float(np.median(gaps)) if len(gaps) else 0.0
        regular = median > 0 and bool(np.all(np.abs(gaps - median) <= REGULAR * median))
        return Repeats(len(starts), int(starts[0]), int(starts[-1]), median if regular else None)

    @property
    def over(self) -> str:
        """``over 1.2 s, every 0.301 s`` (no period when irregular)."""
        every = f", every {gap(self.period_s)}" if self.period_s is not None else ""
        return f"over {seconds((self.end_ns - self.start_ns) / 1e9)}{every}"

    def keys(self) -> dict[str, object]:
        return {
            "period_s": None if self.period_s is None else round(self.period_s, 3),
            "window": {"start": self.start_ns / 1e9, "end": self.end_ns / 1e9},
        }
