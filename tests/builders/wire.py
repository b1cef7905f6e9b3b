"""Many short connections between named hosts, as tables for the cross-connection finders.

Where ``Conversation`` follows one connection's sequence numbers, ``Wire`` writes the few
columns a finder reads (flags, timestamps, lengths) for many connections with their own
addresses. Values are chosen by hand: truth for the NAT finding comes from the crafted captures
in sample_captures/nat; these tables only pin the thresholds and edge cases of each finder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from builders.segments import segment_table
from pcapline.model import ACK, EVENT_COLUMNS, FIN, RST, SEGMENT_COLUMNS, SYN

T0 = 1_700_000_000 * 10**9
S = 10**9


@dataclass
class Wire:
    rows: list[dict[str, Any]] = field(default_factory=list)
    conns: dict[int, dict[str, Any]] = field(default_factory=dict)

    def conn(
        self,
        cid: int,
        client_ip: str,
        client_port: int,
        server_ip: str = "10.0.0.1",
        server_port: int = 80,
    ) -> None:
        self.conns[cid] = {
            "id": cid,
            "client_ip": client_ip,
            "client_port": client_port,
            "server_ip": server_ip,
            "server_port": server_port,
        }

    def seg(
        self,
        cid: int,
        t_s: float,
        from_client: bool,
        flags: int,
        *,
        ts: int | None = None,
        length: int = 0,
    ) -> None:
        self.rows.append(
            {
                "conn": cid,
                "time_ns": T0 + round(t_s * S),
                "from_client": from_client,
                "flags": flags,
                "has_ts": ts is not None,
                "ts_val": ts or 0,
                "seg_len": length,
            }
        )

    def handshake_close(
        self, cid: int, t_s: float, *, ts: int | None = None, server_closes: bool = True
    ) -> None:
        """A complete short connection: SYN, SYN+ACK, ACK, request, response, close."""
        tick = (lambda dt: None) if ts is None else (lambda dt: ts + int(dt * 1000))
        self.seg(cid, t_s, True, SYN, ts=tick(0))
        self.seg(cid, t_s + 0.001, False, SYN | ACK)
        self.seg(cid, t_s + 0.002, True, ACK, ts=tick(0.002))
        self.seg(cid, t_s + 0.003, True, ACK, ts=tick(0.003), length=100)
        self.seg(cid, t_s + 0.004, False, ACK, length=500)
        first, second = (False, True) if server_closes else (True, False)
        self.seg(cid, t_s + 0.005, first, FIN | ACK, ts=None if not first else tick(0.005))
        self.seg(cid, t_s + 0.006, second, FIN | ACK, ts=None if not second else tick(0.006))
        self.seg(cid, t_s + 0.007, first, ACK, ts=None if not first else tick(0.007))

    def tables(self) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        seg = segment_table(self.rows)
        seg["seq"], seg["ack"] = _sequence_numbers(seg)
        seg = seg.astype({"seq": SEGMENT_COLUMNS["seq"], "ack": SEGMENT_COLUMNS["ack"]})
        conns = pd.DataFrame([self.conns[cid] for cid in sorted(self.conns)])
        span = seg.groupby("conn")["time_ns"].agg(["min", "max"])
        conns["start_ns"] = conns["id"].map(span["min"]).astype("int64")
        conns["end_ns"] = conns["id"].map(span["max"]).astype("int64")
        events = pd.DataFrame({c: [] for c in EVENT_COLUMNS})
        return seg, conns, events


def _sequence_numbers(seg: pd.DataFrame) -> tuple[list[int], list[int]]:
    """seq/ack per row (frame order) as each side's stack would number them: client ISN 1000,
    server ISN 5000; SYN and FIN take one sequence number, data its length; a resent SYN or
    SYN+ACK reuses its ISN; ACK acknowledges everything the peer sent so far."""
    isn = {True: 1000, False: 5000}
    nxt: dict[tuple[int, bool], int] = {}
    seqs, acks = [], []
    for conn, side, flags, length in zip(
        seg["conn"], seg["from_client"], seg["flags"], seg["seg_len"], strict=True
    ):
        key = (int(conn), bool(side))
        seq = isn[key[1]] if flags & SYN else nxt.get(key, isn[key[1]] + 1)
        nxt[key] = seq + int(length) + bool(flags & SYN) + bool(flags & FIN)
        seqs.append(seq)
        peer = (int(conn), not key[1])
        acks.append(nxt.get(peer, 0) if flags & ACK else 0)
    return seqs, acks


__all__ = ["ACK", "FIN", "RST", "SYN", "T0", "S", "Wire"]
