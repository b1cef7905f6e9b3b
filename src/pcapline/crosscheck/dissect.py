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
from typing import TYPE_CHECKING, Any

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


@dataclass(frozen=True, slots=True)
class Dissection:
    """``dissect``'s answer: per connection, and whether tshark stopped before the end."""

    connections: list[Dissected]
    #: tshark's last complaint when it stopped early (a capture cut or damaged before the
    #: end: pyshark calls that a crash), None when it read the whole file
    stopped: str | None = None
    #: chosen frames tshark stopped before dissecting, of how many (a connection none of
    #: whose frames it reached is left out of ``connections``: nothing was dissected of it)
    missed: int = 0
    chosen: int = 0


def _complaint(crash: Exception) -> str:
    """pyshark's TSharkCrashException text -> tshark's own last error line."""
    text = " ".join(str(crash).split())
    _, marker, rest = text.partition("Last error line:")
    said = rest.split(" Try rerunning in debug mode")[0].strip() if marker else text
    if said.startswith("(") and said.endswith(")"):  # pyshark's parentheses, once
        said = said[1:-1].strip()
    return said or "tshark gave no reason"


def _close(capture: Any) -> str | None:
    """Close a pyshark capture; tshark's complaint when it exited with an error (pyshark
    raises that from ``close`` once the packets before it have been read)."""
    from pyshark.capture.capture import TSharkCrashException

    try:
        capture.close()
    except TSharkCrashException as crash:
        # tshark has exited already; without this pyshark's __del__ raises the same crash
        # again ("Exception ignored in ...") on stderr. The second close awaits its stderr
        # readers.
        capture._running_processes.clear()
        capture.close()
        return _complaint(crash)
    return None


def dissect(
    path: str, chosen: Mapping[int, list[int]], *, tshark_path: str | None = None
) -> Dissection:
    """Run Wireshark's dissectors (pyshark) on the ``chosen`` frames of ``path``.

    On a capture cut or damaged before the end, tshark stops there (pyshark: "seems to have
    crashed"): the frames it dissected before are the answer, with ``stopped`` and
    ``missed`` saying what is missing; when it dissected none of them, a ``TsharkUnavailable``
    (one line, exit 2).
    """
    try:
        import pyshark
        from pyshark.capture.capture import TSharkCrashException
    except ImportError as exc:
        raise UsageError(
            "crosscheck --dissect needs pyshark: pip install 'pcapline[wireshark]'"
        ) from exc
    conn_of = {frame: conn for conn, frames in chosen.items() for frame in frames}
    seen: dict[int, list[str]] = {conn: [] for conn in chosen}
    stopped: str | None = None
    got: set[int] = set()
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
                number = int(packet.number)
                conn = conn_of.get(number)
                if conn is None:
                    continue
                got.add(number)
                layers = str(packet.frame_info.protocols).split(":")
                above = layers[layers.index("tcp") + 1 :] if "tcp" in layers else []
                for name in above:
                    if name not in _NOT_APPLICATION and name not in seen[conn]:
                        seen[conn].append(name)
        except TSharkCrashException as crash:  # raised after the last packet tshark printed
            stopped = _complaint(crash)
        finally:
            stopped = _close(capture) or stopped
        if stopped is not None and not got:
            from pcapline.crosscheck.oracle import TsharkUnavailable

            raise TsharkUnavailable(
                f"tshark stopped on the damaged capture {path} before dissecting any of the "
                f"chosen frames: {stopped[:300]}"
            )
    reached = {conn for conn, frames in chosen.items() if stopped is None or got & set(frames)}
    return Dissection(
        [Dissected(conn, tuple(chosen[conn]), tuple(seen[conn])) for conn in sorted(reached)],
        stopped,
        len(conn_of) - len(got) if stopped is not None else 0,
        len(conn_of),
    )
