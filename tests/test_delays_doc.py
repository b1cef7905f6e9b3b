"""The column-at-a-time ``delays`` document (``DelaysTable.doc_columns``, what the JSON writer
lays out) against the readable one (``delays_doc`` of each connection's ``Delays``) on
real-kernel samples with every kind of stall, and its vectorised rounding against ``round``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import pcapline
from pcapline.delays import DelaysTable, _rounded, delays_doc, delays_doc_columns
from pcapline.model import StallCause

SAMPLES = Path(__file__).resolve().parents[1] / "sample_captures"
# SYN and SYN+ACK retries, RTO episodes (recovered, given up), zero and full windows, slow
# answers, loss with fast recovery, a connection with no handshake, IPv6.
STALLED = (
    "slow-syn-retries-then-success.pcap",
    "handshake-timeout-synack-retries2.pcap",
    "slow-rto-episodes-recover.pcap",
    "retransmit-give-up-user-timeout-3000ms-at-client.pcap",
    "persist-timeout-retries2-3.pcap",
    "zero-window-recovers.pcap",
    "slow-window-full-paced-reader.pcap",
    "slow-nagle-delayed-ack.pcap",
    "slow-app-pause-mid-answer.pcap",
    "slow-response-turns.pcap",
    "lossy-40-connections-3pct-drop.pcap",
    "midstream-start.pcap",
    "ipv6-closed.pcap",
)


@pytest.mark.parametrize("name", STALLED)
def test_doc_columns_are_delays_doc_of_each_connection(name: str) -> None:
    lost = pcapline.analyze(SAMPLES / name).delays
    assert isinstance(lost, DelaysTable) and len(lost) > 0
    ids = [*reversed(list(lost)), 10**9]  # any order; an id the table lacks has no delays
    columns = lost.doc_columns(ids)
    rows = iter(zip(*columns.values.values(), strict=True))
    for conn, measured, slow in zip(ids, columns.measured, columns.slow, strict=True):
        assert measured == (conn in lost)
        if measured:
            doc = dict(zip(columns.values, next(rows), strict=True))
            assert doc == delays_doc(lost[conn])
            assert slow == [tag.value for tag in lost[conn].slow]
        else:
            assert slow == []
    # the same values, record by record, from any other mapping of ``Delays``
    records = {conn: lost[conn] for conn in lost}
    assert delays_doc_columns(records, ids) == columns
    # and as the JSON layout takes them: arrays (NaN for None) of the same values
    arrays = lost.doc_columns(ids, arrays=True)
    assert (arrays.measured, arrays.slow) == (columns.measured, columns.slow)
    for key, values in arrays.values.items():
        if isinstance(values, np.ndarray):
            assert values.dtype in (np.int64, np.float64), key
            values = [None if x != x else x for x in values.tolist()]
        assert values == columns.values[key], key


def test_the_samples_above_have_every_kind_of_stall_and_retry() -> None:
    docs = [
        doc
        for name in STALLED
        for lost in [pcapline.analyze(SAMPLES / name).delays]
        for doc in map(delays_doc, lost.values())
    ]
    causes = {stall["cause"] for doc in docs for stall in doc["stalls"]}  # type: ignore[union-attr]
    assert {cause.value for cause in StallCause} <= causes
    assert any(doc["data_rtt_ms"] is not None for doc in docs)
    assert any(doc["response_max_turn"] is not None for doc in docs)
    assert any(doc["connect_s"] is None for doc in docs)


def _awkward_floats() -> np.ndarray:
    """Values whose rounding is easy to get wrong: exact ties (k/128 * 10**-digits is exactly
    representable for the halves), their neighbours one ulp away, huge and tiny magnitudes,
    negative zero and the signs, not measured (NaN) and infinities."""
    rng = np.random.default_rng(11)
    ties = np.array([k / 128 for k in range(-300, 300)]) / 1e3
    ties = np.concatenate([ties, (np.arange(-5000, 5000) + 0.5) / 1e6, (np.arange(50) + 0.5) / 1e3])
    near = np.concatenate([np.nextafter(ties, np.inf), np.nextafter(ties, -np.inf)])
    spread = np.concatenate(
        [
            rng.uniform(-1, 1, 20000),
            rng.uniform(0, 1e-3, 20000),
            10.0 ** rng.uniform(-12, 18, 20000),
            -(10.0 ** rng.uniform(-12, 18, 2000)),
            rng.integers(0, 10**9, 2000) / 1e6,  # µs timestamps already on the grid
            1.7e9 + rng.uniform(0, 1e5, 2000),  # epoch seconds
        ]
    )
    odd = np.array([0.0, -0.0, 1e-300, -1e-300, 5e-7, -5e-7, 4.5e15, 9.1e15, 1e300, 2e308])
    return np.concatenate([ties, near, spread, odd, [math.nan, math.inf, -math.inf]])


@pytest.mark.parametrize("digits", [6, 3])
def test_rounded_gives_the_floats_of_round(digits: int) -> None:
    column = _awkward_floats()
    ours = _rounded(column, digits)
    theirs = [None if x != x else round(x, digits) for x in column.tolist()]
    assert [None if x is None else repr(x) for x in ours] == [
        None if x is None else repr(x) for x in theirs
    ]
