"""intermittent_connect: one server port refusing some connections and accepting the ones in
between.

The real-kernel sample (a round-robin DNAT over a listening port and one with nothing
behind it) proves the finding; crafted connection tables prove the thresholds (a restart is
one run of refusals; a refusal the capture cannot prove does not count).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import pcapline
from pcapline.findings import intermittent_connect
from pcapline.findings.base import FindingInput
from pcapline.findings.handshakes import summarize

SAMPLE = (
    Path(__file__).resolve().parents[2]
    / "sample_captures"
    / "lb-one-backend-refuses-at-client.pcap"
)


def test_a_load_balancer_with_one_refusing_backend_is_found() -> None:
    analysis = pcapline.analyze(str(SAMPLE))
    (found,) = analysis.findings
    assert found.kind == "intermittent_connect"
    assert found.connections == (1, 3, 5)
    details = found.details
    assert (details["server"], details["refused"], details["connected"]) == (
        "10.81.9.9:8080",
        3,
        4,
    )
    assert details["failure_runs"] == 3
    assert found.summary.startswith("3 of 7 connections to 10.81.9.9:8080 were refused")


def _table(outcomes: str, confidence: str = "proven") -> pd.DataFrame:
    """One connection per letter to one server, a second apart: ``c`` connected, ``r``
    refused by a RST (with ``confidence``), ``i`` refused by an ICMP error."""
    n = len(outcomes)
    return pd.DataFrame(
        {
            "id": range(n),
            "server_ip": ["10.0.0.9"] * n,
            "server_port": [443] * n,
            "client_ip": ["10.0.0.1"] * n,
            "client_port": range(40000, 40000 + n),
            "start_ns": [k * 10**9 for k in range(n)],
            "end_ns": [k * 10**9 + 1000 for k in range(n)],
            "fate": ["refused" if o in "ri" else "closed" for o in outcomes],
            "reset_by": ["server" if o == "r" else None for o in outcomes],
            "confidence": [confidence if o in "ri" else "proven" for o in outcomes],
            "connect_s": [np.nan if o in "ri" else 0.001 for o in outcomes],
            "syn_retransmits": [0] * n,
        }
    )


def _found(conns: pd.DataFrame) -> list[str]:
    empty = pd.DataFrame({c: [] for c in ("conn", "frame", "time_ns", "flags", "from_client")})
    data = FindingInput(empty, conns, pd.DataFrame(), summarize(_segments(), conns))
    return [f.summary for f in intermittent_connect.find(data)]


def _segments() -> pd.DataFrame:
    columns = (
        "conn",
        "frame",
        "time_ns",
        "flags",
        "from_client",
        "has_ts",
        "ts_val",
        "seq",
        "ttl",
        "ip_id",
    )
    return pd.DataFrame(
        {
            c: np.zeros(0, dtype=bool if c in ("from_client", "has_ts") else np.int64)
            for c in columns
        }
    )


@pytest.mark.parametrize(
    ("outcomes", "found"),
    [
        ("crcrcrc", True),  # a bad backend in a rotation
        ("crrcrcccrc", True),  # runs of any length
        ("ccrrrrrrcc", False),  # a restart: one run of refusals
        ("crcrcr", False),  # the last run has no connection after it: 2 enclosed runs
        ("rcrcrc", False),  # nor the first one before it
        ("cicicic", False),  # ICMP rejects: a router or a reject rule, no listener asked
    ],
)
def test_refusals_count_in_separate_runs_between_connections(outcomes: str, found: bool) -> None:
    assert bool(_found(_table(outcomes))) is found


def test_refusals_the_capture_cannot_prove_do_not_count() -> None:
    assert _found(_table("crcrcrc", confidence="likely"))
    assert not _found(_table("crcrcrc", confidence="unknown"))


def test_the_window_spans_the_refusals() -> None:
    """The connection before the first run may be long before it: the window and the
    summary's time are the refusals'."""
    conns = _table("crcrcrc")
    conns.loc[1:, "start_ns"] += 3600 * 10**9
    empty = pd.DataFrame({c: [] for c in ("conn",)})
    data = FindingInput(empty, conns, pd.DataFrame(), summarize(_segments(), conns))
    (found,) = intermittent_connect.find(data)
    window = found.details["window"]
    assert window["end"] - window["start"] == pytest.approx(4.0)
    assert "(the refusals within 4 s)" in found.summary


def test_runs_far_apart_in_time_are_no_rotation() -> None:
    """Three listener restarts over an hour: the runs' starts are not within 60 s."""
    conns = _table("crcrcrc")
    conns["start_ns"] = [k * 30 * 10**9 for k in range(len(conns))]
    assert not _found(conns)
