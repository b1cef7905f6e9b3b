"""Build small segments tables (model.SEGMENT_COLUMNS + FLOW_COLUMNS) for detector unit tests.

Crafted rows prove small pieces of logic only; fates are proven on real captures
(tests/test_samples.py). Sequence numbers track themselves: each side's next seq advances
with payload, SYN and FIN; ``ack`` defaults to what the peer has sent so far.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pcapline.model import ACK, FIN, FLOW_COLUMNS, PSH, RST, SEGMENT_COLUMNS, SYN

CLIENT, SERVER = True, False


@dataclass
class Conversation:
    conn: int = 0
    client_isn: int = 1000
    server_isn: int = 5000
    window: int = 65535
    rows: list[dict] = field(default_factory=list)
    _nxt: dict = field(default_factory=dict)
    _ip_id: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._nxt = {CLIENT: self.client_isn, SERVER: self.server_isn}
        self._ip_id = {CLIENT: 100, SERVER: 9000}

    def send(
        self,
        side: bool,
        t: float,
        flags: int,
        *,
        length: int = 0,
        seq: int | None = None,
        ack: int | None = None,
        window: int | None = None,
        mss: int = 0,
        wscale: int = -1,
        ttl: int = 64,
        ip_id: int | None = None,
        sack: bool = False,
        sack_edges: tuple[int, int] | None = None,
    ) -> Conversation:
        own = self._nxt[side] if seq is None else seq
        if ack is None:
            ack = self._nxt[not side] if flags & ACK else 0
        if ip_id is None:
            self._ip_id[side] += 1
            ip_id = self._ip_id[side]
        self.rows.append(
            {
                "time_ns": round(t * 1e9),
                "from_client": side,
                "seq": own % 2**32,
                "ack": ack % 2**32,
                "flags": flags,
                "window": self.window if window is None else window,
                "seg_len": length,
                "mss": mss,
                "wscale": wscale,
                "ttl": ttl,
                "ip_id": ip_id,
                "sack_blocks": 1 if sack or sack_edges else 0,
                "sack_le": (sack_edges or (0, 0))[0] % 2**32,  # the highest block's edges
                "sack_re": (sack_edges or (0, 0))[1] % 2**32,
            }
        )
        end = own + length + (1 if flags & SYN else 0) + (1 if flags & FIN else 0)
        if seq is None or end > self._nxt[side]:
            self._nxt[side] = max(self._nxt[side], end)
        return self

    # Shorthands, each named for the segment it sends.
    def syn(self, t: float, **kw: object) -> Conversation:
        return self.send(CLIENT, t, SYN, seq=self.client_isn, mss=1460, **kw)  # type: ignore[arg-type]

    def synack(self, t: float, **kw: object) -> Conversation:
        return self.send(SERVER, t, SYN | ACK, seq=self.server_isn, mss=1460, **kw)  # type: ignore[arg-type]

    def ack(self, side: bool, t: float, **kw: object) -> Conversation:
        return self.send(side, t, ACK, **kw)  # type: ignore[arg-type]

    def data(self, side: bool, t: float, length: int, **kw: object) -> Conversation:
        return self.send(side, t, ACK | PSH, length=length, **kw)  # type: ignore[arg-type]

    def fin(self, side: bool, t: float, **kw: object) -> Conversation:
        return self.send(side, t, FIN | ACK, **kw)  # type: ignore[arg-type]

    def rst(self, side: bool, t: float, *, with_ack: bool = True, **kw: object) -> Conversation:
        return self.send(side, t, RST | (ACK if with_ack else 0), window=0, **kw)  # type: ignore[arg-type]

    def probe(self, side: bool, t: float, **kw: object) -> Conversation:
        """The Linux keepalive / window probe: 0 bytes at snd.nxt - 1."""
        return self.send(side, t, ACK, seq=self._nxt[side] - 1, **kw)  # type: ignore[arg-type]

    def handshake(self, t: float = 0.0, rtt: float = 0.001) -> Conversation:
        return self.syn(t).synack(t + rtt / 2).ack(CLIENT, t + rtt)

    def nxt(self, side: bool) -> int:
        return self._nxt[side]


def segments(*conversations: Conversation) -> pd.DataFrame:
    """One segments table (frame order = time order) from conversations."""
    rows = []
    for c in conversations:
        for r in c.rows:
            rows.append({**r, "conn": c.conn})
    rows.sort(key=lambda r: r["time_ns"])
    table = {name: np.zeros(len(rows), dtype=dtype) for name, dtype in SEGMENT_COLUMNS.items()}
    table["frame"] = np.arange(1, len(rows) + 1)
    table["ip_version"][:] = 4
    for name in (
        "time_ns",
        "seq",
        "ack",
        "flags",
        "window",
        "seg_len",
        "mss",
        "wscale",
        "ttl",
        "ip_id",
        "sack_blocks",
        "sack_le",
        "sack_re",
    ):
        table[name] = np.array([r[name] for r in rows], dtype=SEGMENT_COLUMNS[name])
    frame = pd.DataFrame(table)
    frame["conn"] = np.array([r["conn"] for r in rows], dtype=FLOW_COLUMNS["conn"])
    frame["from_client"] = np.array([r["from_client"] for r in rows], dtype=bool)
    return frame


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
