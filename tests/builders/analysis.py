"""A small hand-built ``Analysis`` for renderer and filter tests.

The values are chosen by hand so renderer tests can assert exact output; they say nothing
about TCP behaviour (fates are proven on real captures in the classify tests).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from pcapline.analysis import Analysis
from pcapline.model import (
    CONNECTION_COLUMNS,
    EVENT_COLUMNS,
    SEGMENT_COLUMNS,
    CaptureInfo,
    Counts,
    EventKind,
    Explanation,
    Fate,
    Finding,
    Side,
    Verdict,
)

T0 = 1_700_000_000_000_000_000  # 2023-11-14 22:13:20 UTC, in ns


def connection_row(conn_id: int, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": conn_id,
        "client_ip": "10.0.0.1",
        "client_port": 40000 + conn_id,
        "server_ip": "10.0.0.2",
        "server_port": 80,
        "client_guessed": False,
        "first_frame": 1 + 10 * conn_id,
        "last_frame": 10 + 10 * conn_id,
        "start_ns": T0 + conn_id * 1_000_000_000,
        "end_ns": T0 + conn_id * 1_000_000_000 + 250_000_000,
        "packets": 10,
        "bytes_client": 100,
        "bytes_server": 2000,
        "fate": "closed",
        "closer": "client",
        "reset_by": None,
        "syn_retransmits": 0,
        "synack_retransmits": 0,
        "retransmits": 0,
        "keepalive_probes": 0,
        "zero_window_probes": 0,
        "resets": 0,
        "inferred": {},
        "explanation": Explanation(
            "The client closed the connection", body=". Both sides sent FIN."
        ),
        "confidence": "proven",
        "caveats": [],
    }
    row.update(overrides)
    return row


def event_row(conn: int, frame: int, side: Side, kind: EventKind, note: str = "") -> dict[str, Any]:
    return {
        "conn": conn,
        "frame": frame,
        "time_ns": T0 + frame * 1_000_000,
        "side": side.value,
        "kind": kind.value,
        "note": note,
        "value": None,
    }


def make_analysis(
    rows: list[dict[str, Any]] | None = None,
    events: list[dict[str, Any]] | None = None,
    findings: list[Finding] | None = None,
    capture: CaptureInfo | None = None,
) -> Analysis:
    """Three connections by default: closed (IPv4), refused, keepalive_timeout (IPv6)."""
    if rows is None:
        rows = [
            connection_row(0),
            connection_row(
                1,
                server_port=81,
                packets=2,
                bytes_client=0,
                bytes_server=0,
                fate="refused",
                closer=None,
                reset_by="server",
                resets=1,
                end_ns=T0 + 1_000_300_000,
                explanation=Explanation(
                    "the SYN was answered by RST", "Nothing listened on 10.0.0.2:81", "."
                ),
            ),
            connection_row(
                2,
                client_ip="2001:db8::1",
                server_ip="2001:db8::2",
                server_port=22,
                fate="keepalive_timeout",
                closer=None,
                reset_by="client",
                keepalive_probes=3,
                resets=1,
                end_ns=T0 + 2_000_000_000 + 14_000_000_000,
                inferred={"keepalive": {"idle": 5.0, "interval": 3.0, "count": 3, "by": "client"}},
                explanation=Explanation(
                    "Keepalive probes went unanswered 3 times",
                    body=". The client aborted with RST.",
                ),
            ),
        ]
    if events is None:
        events = [
            event_row(0, 1, Side.CLIENT, EventKind.SYN),
            event_row(0, 2, Side.SERVER, EventKind.SYNACK),
            event_row(0, 3, Side.CLIENT, EventKind.HANDSHAKE_ACK),
            event_row(0, 8, Side.CLIENT, EventKind.FIN),
            event_row(0, 9, Side.SERVER, EventKind.FIN),
            event_row(1, 11, Side.CLIENT, EventKind.SYN),
            event_row(1, 12, Side.SERVER, EventKind.RST, "answered the SYN"),
            event_row(2, 24, Side.CLIENT, EventKind.KEEPALIVE, "idle 5.0 s"),
            event_row(2, 30, Side.CLIENT, EventKind.RST),
        ]
    if capture is None:
        capture = CaptureInfo(
            path="synthetic.pcapng",
            format="pcapng",
            link_types=["EN10MB"],
            frames=35,
            tcp_frames=30,
            first_time_ns=T0,
            last_time_ns=T0 + 16_000_000_000,
            skipped={"not_tcp": 4, "truncated_record": 1},
            warnings=["file ends inside frame 35 (truncated record)"],
        )
    verdicts = {int(row["id"]): _verdict(row) for row in rows}
    rows = [{**row, "explanation": _text(row["explanation"])} for row in rows]
    conns = pd.DataFrame(rows, columns=list(CONNECTION_COLUMNS))
    segments = pd.DataFrame({c: pd.Series(dtype=t) for c, t in SEGMENT_COLUMNS.items()})
    segments["conn"] = pd.Series(dtype="int64")
    segments["from_client"] = pd.Series(dtype="bool")
    return Analysis(
        capture=capture,
        segments=segments,
        connections=conns,
        events=pd.DataFrame(events, columns=list(EVENT_COLUMNS)),
        findings=list(findings or []),
        verdicts=verdicts,
    )


def _text(explanation: Explanation | str | None) -> str | None:
    return explanation.text if isinstance(explanation, Explanation) else explanation


def _verdict(row: dict[str, Any]) -> Verdict:
    """The verdict a row shows (a plain-string explanation is all headline)."""
    explanation = row["explanation"]
    if not isinstance(explanation, Explanation):
        explanation = Explanation(explanation or "")

    def side(value: str | None) -> Side | None:
        return Side(value) if value else None

    return Verdict(
        conn=int(row["id"]),
        fate=Fate(row["fate"]),
        closer=side(row["closer"]),
        reset_by=side(row["reset_by"]),
        counts=Counts(*(int(row[name]) for name in Counts.__slots__)),
        inferred=row["inferred"] or {},
        explanation=explanation,
    )
