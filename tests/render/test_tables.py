"""render/tables.py: one CSV/Parquet row per connection, the JSON fields flattened."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest
from builders.analysis import T0, make_analysis
from contract_pcapline1 import APP_HTTP_KEYS, APP_TLS_KEYS, CONNECTION_KEYS, COUNT_KEYS

from pcapline.render.tables import TABLE_COLUMNS, connections_table, to_csv, write_parquet


def csv_columns() -> list[str]:
    """The pcapline/1 connection keys flattened, in their order: each endpoint split into
    ``_ip`` and ``_port``, the counts spread into one column each, the events left out;
    ``delays`` as its main measures and the biggest stall, ``slow`` as ";"-joined tags,
    ``app`` as ``app_<key>`` and its ``tls``/``http`` objects as ``app_tls_<key>``..."""
    columns: list[str] = []
    for key in CONNECTION_KEYS:
        if key in ("client", "server"):
            columns += [f"{key}_ip", f"{key}_port"]
        elif key == "counts":
            columns += COUNT_KEYS
        elif key == "delays":
            columns += ["connect_s", "handshake_rtt_ms", "response_s", "response_from"]
            columns += ["rto_s", "zero_window_s"]
            columns += ["window_full_s"]  # time blocked by a full receive window
            columns += ["nagle_s"]  # time small writes waited for a delayed ACK
            columns += ["app_pause_s"]  # the longest application pause mid-message
            columns += ["idle_restart_s"]  # round trips lost to slow start after idle
            columns += ["transfer_rate_bps", "transfer_paced_by"]  # a bulk transfer's pace
            columns += ["stalled_s", "biggest_stall", "biggest_stall_s"]
        elif key == "app":
            columns += ["app_protocol", "app_frame"]
            columns += [f"app_tls_{k}" for k in APP_TLS_KEYS]
            columns += [f"app_http_{k}" for k in APP_HTTP_KEYS]
        elif key != "events":  # evidence_frames: a list (Parquet), space-separated (CSV)
            columns.append(key)
    return columns


def test_csv_has_one_row_per_connection_with_flat_counts() -> None:
    table = pd.read_csv(io.StringIO(to_csv(make_analysis())))
    assert list(table.columns) == csv_columns()
    assert table["id"].tolist() == [0, 1, 2]
    assert table["fate"].tolist() == ["closed", "refused", "keepalive_timeout"]
    assert table["keepalive_probes"].tolist() == [0, 0, 3]
    assert table["resets"].tolist() == [0, 1, 1]
    assert table["start"].iloc[1] == pytest.approx(T0 / 1e9 + 1.0)
    assert table["duration"].iloc[2] == pytest.approx(14.0)
    assert table["closer"].iloc[0] == "client" and pd.isna(table["closer"].iloc[1])
    assert table["server_ip"].iloc[2] == "2001:db8::2"


def test_inferred_is_json_text() -> None:
    table = pd.read_csv(io.StringIO(to_csv(make_analysis())))
    assert json.loads(table["inferred"].iloc[0]) == {}
    assert json.loads(table["inferred"].iloc[2]) == {
        "keepalive": {"idle": 5.0, "interval": 3.0, "count": 3, "by": "client"}
    }


def test_explanation_with_commas_and_quotes_round_trips() -> None:
    analysis = make_analysis()
    analysis.connections.loc[0, "explanation"] = 'He said "no", then\nclosed.'
    table = pd.read_csv(io.StringIO(to_csv(analysis)))
    assert table["explanation"].iloc[0] == 'He said "no", then\nclosed.'


def test_parquet_matches_the_csv_table(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    out = tmp_path / "conns.parquet"
    write_parquet(make_analysis(), str(out))
    back = pd.read_parquet(out)
    expected = connections_table(make_analysis())
    assert list(back.columns) == list(TABLE_COLUMNS)
    assert back["fate"].tolist() == expected["fate"].tolist()
    assert back["inferred"].tolist() == expected["inferred"].tolist()
    assert back["start"].tolist() == expected["start"].tolist()
