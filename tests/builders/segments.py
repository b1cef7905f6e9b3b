"""The segments table (model.SEGMENT_COLUMNS + FLOW_COLUMNS) from hand-written rows.

One place builds it, with the pipeline's dtypes and Wireshark-style frame numbers, whatever
wrote the rows: ``Conversation`` (detector and classify tests), ``Wire`` (finder tests) or the
HTML scenarios. A column a row leaves out is 0 (False for flags), as a decoder would leave it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from builders.conversation import Conversation
from pcapline.model import FLOW_COLUMNS, SEGMENT_COLUMNS


def segment_table(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Rows (any subset of the columns, plus ``conn`` and ``from_client``) -> segments table,
    in time order (ties keep their order) with frames numbered from 1."""
    ordered = sorted(rows, key=lambda r: int(r["time_ns"]))
    columns = {**SEGMENT_COLUMNS, **FLOW_COLUMNS}
    table = {
        name: np.array([r.get(name, 0) for r in ordered], dtype=dtype)
        for name, dtype in columns.items()
    }
    table["frame"] = np.arange(1, len(ordered) + 1, dtype=SEGMENT_COLUMNS["frame"])
    return pd.DataFrame(table)


def segments(*conversations: Conversation) -> pd.DataFrame:
    """One segments table (frame order = time order) from conversations."""
    return segment_table(
        {**r, "conn": c.conn, "ip_version": 4} for c in conversations for r in c.rows
    )


def connections(segs: pd.DataFrame) -> pd.DataFrame:
    """A minimal connections table for ``segs`` (what flows would give)."""
    g = segs.groupby("conn")
    return pd.DataFrame(
        {
            "id": g.size().index.to_numpy(np.int64),
            "client_ip": "10.0.0.1",
            "client_port": 40000,
            "server_ip": "10.0.0.2",
            "server_port": 80,
            "client_guessed": False,
            "first_frame": g["frame"].min().to_numpy(),
            "last_frame": g["frame"].max().to_numpy(),
            "start_ns": g["time_ns"].min().to_numpy(),
            "end_ns": g["time_ns"].max().to_numpy(),
            "packets": g.size().to_numpy(),
            "bytes_client": 0,
            "bytes_server": 0,
        }
    )


def verdict_table(*conversations: Conversation, capture_end_ns: int | None = None) -> pd.DataFrame:
    """The conversations' connections with their verdict columns (detect -> classify ->
    explain, as ``analyze`` runs them), indexed by connection id."""
    from pcapline import classify, explain
    from pcapline.analysis import verdict_columns
    from pcapline.detect import run_all

    segs = segments(*conversations)
    conns = connections(segs)
    detected = run_all(segs, capture_end_ns=capture_end_ns)
    verdicts = explain.verdicts(classify.classify(segs, conns, detected))
    table: pd.DataFrame = verdict_columns(conns, verdicts).set_index("id")
    return table
