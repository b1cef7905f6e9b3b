"""One TCP conversation written segment by segment, with sequence numbers that track themselves.

Each side's next seq advances with payload, SYN and FIN; ``ack`` defaults to what the peer has
sent so far. The same conversation becomes a segments table for detector and classify unit
tests (``segments.segments``) or real capture bytes for end-to-end tests and the small captures
in tests/captures (``pcap_bytes``). Crafted rows prove small pieces of logic only; fates are
proven on real-kernel captures (tests/test_samples.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from builders.capture_files import T0_NS, pcap
from builders.frames import ethernet, ipv4, tcp, tcp_options
from pcapline.model import ACK, FIN, PSH, RST, SYN

CLIENT, SERVER = True, False


@dataclass
class Conversation:
    conn: int = 0
    client_isn: int = 1000
    server_isn: int = 5000
    window: int = 65535
    client: tuple[str, int] = ("10.0.0.1", 40000)
    server: tuple[str, int] = ("10.0.0.2", 80)
    rows: list[dict[str, Any]] = field(default_factory=list)
    _nxt: dict[bool, int] = field(default_factory=dict)
    _ip_id: dict[bool, int] = field(default_factory=dict)

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
        sack_perm: bool = False,
        timestamps: tuple[int, int] | None = None,
        captured: bool = True,
        payload: bytes | None = None,
    ) -> Conversation:
        """Send one segment at ``t`` seconds; ``captured=False``: sent, but not in the capture
        (lost before the capture point, or the tap saw one direction only). ``payload``: the
        bytes it carries in a capture file (``length`` is then theirs; else zero bytes)."""
        if payload is not None:
            length = len(payload)
        own = self._nxt[side] if seq is None else seq
        if ack is None:
            ack = self._nxt[not side] if flags & ACK else 0
        if ip_id is None:
            self._ip_id[side] += 1
            ip_id = self._ip_id[side]
        if captured:
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
                    "sack_perm": sack_perm,
                    "has_ts": timestamps is not None,
                    "ts_val": (timestamps or (0, 0))[0],
                    "ts_ecr": (timestamps or (0, 0))[1],
                    **({} if payload is None else {"payload": payload}),
                }
            )
        end = own + length + (1 if flags & SYN else 0) + (1 if flags & FIN else 0)
        if seq is None or end > self._nxt[side]:
            self._nxt[side] = max(self._nxt[side], end)
        return self

    # Shorthands, each named for the segment it sends.
    def sightings(
        self, seen: list[tuple[float, bool, int, int, int, int, int, int, int]]
    ) -> Conversation:
        """Each ``(at, side, flags, seq, ack, length, ip_id, tsval, ttl)`` sighting of a
        packet, in time order: a capture holding two capture points' copies."""
        for at, side, flags, seq, ack, length, ip_id, tsval, ttl in sorted(seen):
            self.send(
                side,
                at,
                flags,
                seq=seq,
                ack=ack,
                length=length,
                ip_id=ip_id,
                ttl=ttl,
                timestamps=(tsval, 0),
            )
        return self

    def syn(self, t: float, **kw: Any) -> Conversation:
        return self.send(CLIENT, t, SYN, seq=self.client_isn, mss=1460, **kw)

    def synack(self, t: float, **kw: Any) -> Conversation:
        return self.send(SERVER, t, SYN | ACK, seq=self.server_isn, mss=1460, **kw)

    def ack(self, side: bool, t: float, **kw: Any) -> Conversation:
        return self.send(side, t, ACK, **kw)

    def data(self, side: bool, t: float, length: int, **kw: Any) -> Conversation:
        return self.send(side, t, ACK | PSH, length=length, **kw)

    def fin(self, side: bool, t: float, **kw: Any) -> Conversation:
        return self.send(side, t, FIN | ACK, **kw)

    def rst(self, side: bool, t: float, *, with_ack: bool = True, **kw: Any) -> Conversation:
        return self.send(side, t, RST | (ACK if with_ack else 0), window=0, **kw)

    def probe(self, side: bool, t: float, **kw: Any) -> Conversation:
        """The Linux keepalive / window probe: 0 bytes at snd.nxt - 1."""
        return self.send(side, t, ACK, seq=self._nxt[side] - 1, **kw)

    def handshake(self, t: float = 0.0, rtt: float = 0.001) -> Conversation:
        return self.syn(t).synack(t + rtt / 2).ack(CLIENT, t + rtt)

    def nxt(self, side: bool) -> int:
        return self._nxt[side]

    def frame_bytes(self, row: dict[str, Any]) -> bytes:
        """One captured segment as an Ethernet/IPv4 frame (payload: zero bytes)."""
        (src, sport), (dst, dport) = (
            (self.client, self.server) if row["from_client"] else (self.server, self.client)
        )
        options = tcp_options(
            mss=row["mss"],
            wscale=row["wscale"],
            sack_perm=row["sack_perm"],
            timestamps=(row["ts_val"], row["ts_ecr"]) if row["has_ts"] else None,
            sack=(row["sack_le"], row["sack_re"]) if row["sack_blocks"] else None,
        )
        segment = tcp(
            sport,
            dport,
            row["seq"],
            row["ack"],
            row["flags"],
            row["window"],
            options,
            row.get("payload", b"\x00" * row["seg_len"]),
        )
        return ethernet(ipv4(segment, src, dst, ttl=row["ttl"], ident=row["ip_id"] & 0xFFFF))


def pcap_bytes(
    *conversations: Conversation,
    start_ns: int = T0_NS,
    extra: Callable[[], list[tuple[int, bytes]]] | None = None,
) -> bytes:
    """An Ethernet pcap of the conversations' captured segments, interleaved by time (ties in
    the order written); ``extra`` adds other frames as (time_ns from the start, bytes)."""
    stamped = [
        (row["time_ns"], order, c.frame_bytes(row))
        for order, (c, row) in enumerate((c, row) for c in conversations for row in c.rows)
    ]
    if extra is not None:
        base = len(stamped)
        stamped += [(t, base + i, data) for i, (t, data) in enumerate(extra())]
    stamped.sort(key=lambda item: (item[0], item[1]))
    return pcap([data for _, _, data in stamped], times_ns=[start_ns + t for t, _, _ in stamped])
