"""Wireshark's dissectors on a few payload frames per connection, through pyshark.

``pcapline crosscheck --dissect``: for each connection, its first ``PER_CONNECTION`` frames
that carry payload are handed to tshark's full dissection (pyshark, one display filter for
all of them) and the protocols it finds above TCP (``frame.protocols``: ``...:tcp:tls``)
name the connection's application protocol as Wireshark sees it, beside pcapline's ``app``.
pyshark costs about a millisecond per packet it parses, so only these few frames go through
it; the per-frame expert-analysis comparison uses one ``tshark -T fields`` run instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from pcapline.errors import UsageError

if TYPE_CHECKING:
    from pcapline.analysis import Analysis

PER_CONNECTION = 3
#: Connections dissected at most (a display filter naming every frame stays a few kB).
MAX_CONNECTIONS = 2000
#: Protocols Wireshark shows above TCP that name no application (raw bytes, reassembly).
_NOT_APPLICATION = frozenset({"data", "tcp.segments", "_ws.malformed", "_ws.short", "tcp"})


@dataclass(frozen=True, slots=True)
class Dissected:
    """What Wireshark's dissectors named on one connection's first payload frames."""

    conn: int
    frames: tuple[int, ...]
    protocols: tuple[str, ...]  # above TCP, in order of first appearance ("tls", "http")

    @property
    def protocol(self) -> str | None:
        """The application protocol (the first named above TCP), None when only raw data."""
        return self.protocols[0] if self.protocols else None


def payload_frames(
    analysis: Analysis, per_connection: int = PER_CONNECTION
) -> dict[int, list[int]]:
    """{conn id: its first payload frames}, chosen columnar from the segments table."""
    seg = analysis.segments
    with_payload = seg[seg["seg_len"].to_numpy(np.int64) > 0]
    first = with_payload.groupby("conn", sort=True).head(per_connection)
    out: dict[int, list[int]] = {}
    for conn, frame in zip(first["conn"].tolist(), first["frame"].tolist(), strict=True):
        out.setdefault(int(conn), []).append(int(frame))
    return out


def _current_event_loop() -> None:
    """Give the thread an open current event loop if it has none: pyshark runs tshark on the
    current one (and attaches the child watcher to it), and an earlier ``asyncio.run`` (an MCP
    session, a notebook cell) leaves none: "There is no current event loop". Left open:
    pyshark closes its capture again when collected."""
    try:
        if not asyncio.get_event_loop_policy().get_event_loop().is_closed():
            return
    except RuntimeError:
        pass
    asyncio.set_event_loop(asyncio.new_event_loop())


def dissect(
    path: str, chosen: Mapping[int, list[int]], *, tshark_path: str | None = None
) -> list[Dissected]:
    """Run Wireshark's dissectors (pyshark) on the ``chosen`` frames of ``path``."""
    try:
        import pyshark
    except ImportError as exc:
        raise UsageError(
            "crosscheck --dissect needs pyshark: pip install 'pcapline[wireshark]'"
        ) from exc
    conn_of = {frame: conn for conn, frames in chosen.items() for frame in frames}
    seen: dict[int, list[str]] = {conn: [] for conn in chosen}
    if conn_of:
        wanted = ",".join(str(f) for f in sorted(conn_of))
        _current_event_loop()
        capture = pyshark.FileCapture(
            path,
            display_filter=f"frame.number in {{{wanted}}}",
            keep_packets=False,
            tshark_path=tshark_path,
        )
        try:
            for packet in capture:
                conn = conn_of.get(int(packet.number))
                if conn is None:
                    continue
                layers = str(packet.frame_info.protocols).split(":")
                above = layers[layers.index("tcp") + 1 :] if "tcp" in layers else []
                for name in above:
                    if name not in _NOT_APPLICATION and name not in seen[conn]:
                        seen[conn].append(name)
        finally:
            capture.close()
    return [Dissected(conn, tuple(chosen[conn]), tuple(seen[conn])) for conn in sorted(chosen)]
