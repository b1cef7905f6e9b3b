"""A server whose response times jumped at some moment (a step up, not the usual spread).

What it tells: the delays stage measured every request/response turn (client data, then the
server's first answer byte after the client's last byte: ``DelaysTable.turns``). A server
that was fast and became slow at one moment (a garbage-collection storm, a backend or
database slowing down, a cache flushed, a deployment, a saturated thread pool) shows as a
step in those times, across all its connections. TCP has no rule here: the server's
application decides when it answers; the capture only proves when it did, at the capture
point (at the client a response time includes a round trip, which does not move when the
server slows down).

Signature and thresholds (conservative: a busy server's times spread widely without a
step): per server ip:port, the turns in answer order; a split with at least ``MIN_SIDE``
turns on each side where the median after is at least ``MIN_RATIO`` times the median before
and at least ``MIN_JUMP_S`` more, and the two sides barely overlap (the after side's lower
quartile ``STEP_MARGIN_S`` above the before side's 90th percentile: slow requests of one kind
among answers as fast as before are a slow endpoint, not a server that changed; a corpus
capture of OpenFlow's
asynchronous messages over eleven days, whose "answers" spread from 3 ms to 867 s, had a
split passing a looser test). Of the splits that qualify, the one that
leaves each side closest to its own median (least absolute deviation) names the moment.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pcapline.findings.base import Finder, FindingInput, make_finding
from pcapline.fmt import endpoint
from pcapline.model import Finding

KIND = "response_jump"
MIN_SIDE = 8
MIN_RATIO = 4.0
MIN_JUMP_S = 0.2
#: How far the after side's lower quartile must clear the before side's 90th percentile.
STEP_MARGIN_S = MIN_JUMP_S / 2
#: Splits tried per server: every one up to this many, else this many evenly spaced, then
#: every split around the best of those.
MAX_SPLITS = 64

EXPLANATION = (
    "The server answered quickly until this moment and slowly from then on, on its connections "
    "alike: something changed on the server or behind it, not on the network (a network change "
    "would move the handshake round trips too). Check what happened on the server at that time: "
    "deployments and restarts, CPU and memory pressure (GC pauses, swapping), a backend or "
    "database slowing down, thread or connection pools running out, its logs' request timings."
)


@dataclass(frozen=True, slots=True)
class _Jump:
    split: int  # index of the first turn after the jump
    before_s: float  # median before
    after_s: float  # median after


def _jump(times_s: np.ndarray) -> _Jump | None:
    """The qualifying split that leaves each side closest to its own median, if any."""
    n = len(times_s)
    if n < 2 * MIN_SIDE:
        return None
    if np.count_nonzero(times_s >= MIN_JUMP_S) < MIN_SIDE // 2:
        return None  # an after side's median >= MIN_JUMP_S needs half its turns that slow
    every = np.arange(MIN_SIDE, n - MIN_SIDE + 1)
    if len(every) <= MAX_SPLITS:
        return _best_split(times_s, every.tolist())
    coarse = np.unique(np.linspace(MIN_SIDE, n - MIN_SIDE, MAX_SPLITS).astype(np.int64))
    rough = _best_split(times_s, coarse.tolist())
    if rough is None:
        return None
    step = int(np.ceil((n - 2 * MIN_SIDE) / (MAX_SPLITS - 1)))
    near = every[(every >= rough.split - step) & (every <= rough.split + step)]
    return _best_split(times_s, near.tolist()) or rough


def _best_split(times_s: np.ndarray, candidates: list[int]) -> _Jump | None:
    best: _Jump | None = None
    best_cost = 0.0
    for k in candidates:
        before, after = times_s[:k], times_s[k:]
        med_b, med_a = float(np.median(before)), float(np.median(after))
        if med_a < MIN_RATIO * med_b or med_a - med_b < MIN_JUMP_S:
            continue
        # Most answers after it slower by a good margin than nearly all before it: a step of
        # the whole server, not slow requests of one kind mixed among fast ones as before
        # (a slow endpoint; http-packets.pcap: a KPI query took 3.9 s while static files
        # kept answering in 4 ms).
        if np.percentile(after, 25) <= np.percentile(before, 90) + STEP_MARGIN_S:
            continue
        # The moment: the split that leaves each side closest to its own median (the least
        # absolute deviation, the usual single change-point cost).
        cost = float(np.abs(before - med_b).sum() + np.abs(after - med_a).sum())
        if best is None or cost < best_cost:
            best, best_cost = _Jump(int(k), med_b, med_a), cost
    return best


def find(data: FindingInput) -> list[Finding]:
    lost = data.delays
    conns = data.connections
    if lost is None or lost.turns is None or conns.empty or len(lost.turns.conn) < 2 * MIN_SIDE:
        return []
    turns = lost.turns
    if np.count_nonzero(turns.response_s >= MIN_JUMP_S) < MIN_SIDE // 2:
        return []  # no server can have a jump (``_jump``'s first test, for the whole capture)
    table = pd.DataFrame(
        {"id": turns.conn, "answer_ns": turns.answer_ns, "response_s": turns.response_s}
    ).merge(conns[["id", "server_ip", "server_port"]], on="id", how="inner")
    findings = []
    for (server_ip, server_port), group in table.groupby(["server_ip", "server_port"], sort=True):
        if len(group) < 2 * MIN_SIDE:
            continue
        group = group.sort_values("answer_ns", kind="stable")
        jump = _jump(group["response_s"].to_numpy(dtype=float))
        if jump is None:
            continue
        at_ns = int(group["answer_ns"].iloc[jump.split])
        after = group.iloc[jump.split :]
        server = endpoint(server_ip, server_port)
        summary = (
            f"{server}'s response time jumped from a median {jump.before_s:.3g} s to "
            f"{jump.after_s:.3g} s ({len(after)} of {len(group)} answers after the jump, on "
            f"{after['id'].nunique()} connection(s))"
        )
        findings.append(
            make_finding(
                KIND,
                summary,
                sorted(set(after["id"].tolist())),
                EXPLANATION,
                server=server,
                at=at_ns / 1e9,
                median_before_s=round(jump.before_s, 6),
                median_after_s=round(jump.after_s, 6),
                turns_before=jump.split,
                turns_after=len(after),
            )
        )
    return findings


FINDER = Finder(KIND, find)
