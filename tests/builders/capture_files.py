"""pcap and pcapng containers around frame bytes (see ``frames`` for the frames themselves).

``pcap`` writes a classic capture; the block builders (``shb``, ``idb``, ``epb``, ``spb``,
``obsolete_pb``, ``isb``) let reader tests put any pcapng block sequence together, valid or not;
``rewrite`` keeps some frames of a real capture (a filtered, one-sided or lossy copy of it).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from pcapline.read import read_capture

#: A default capture start: 2023-11-14 22:13:20 UTC, in ns.
T0_NS = 1_700_000_000_000_000_000


def pcap(
    frames: Iterable[bytes | tuple[bytes, int]],
    linktype: int = 1,
    order: str = "<",
    nano: bool = False,
    snaplen: int = 262144,
    start_ns: int = T0_NS,
    step_ns: int = 1_000_000,
    times_ns: Sequence[int] | None = None,
) -> bytes:
    """A classic pcap; a frame given as (bytes, origlen) was cut by the snaplen.

    Frame i is stamped ``times_ns[i]`` when given, else ``start_ns + i * step_ns``."""
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = [struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)]
    for i, item in enumerate(frames):
        data, orig = item if isinstance(item, tuple) else (item, len(item))
        t = start_ns + i * step_ns if times_ns is None else times_ns[i]
        frac = t % 1_000_000_000 if nano else (t % 1_000_000_000) // 1000
        out.append(struct.pack(order + "IIII", t // 1_000_000_000, frac, len(data), orig) + data)
    return b"".join(out)


def _block(btype: int, body: bytes, order: str) -> bytes:
    body = body + b"\x00" * (-len(body) % 4)
    length = len(body) + 12
    return struct.pack(order + "II", btype, length) + body + struct.pack(order + "I", length)


def _option(code: int, value: bytes, order: str) -> bytes:
    return struct.pack(order + "HH", code, len(value)) + value + b"\x00" * (-len(value) % 4)


def shb(order: str = "<", version: tuple[int, int] = (1, 0)) -> bytes:
    return _block(0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, *version, -1), order)


def idb(
    linktype: int, order: str = "<", tsresol: int | None = None, tsoffset: int | None = None
) -> bytes:
    opts = b""
    if tsresol is not None:
        opts += _option(9, bytes([tsresol]), order)
    if tsoffset is not None:
        opts += _option(14, struct.pack(order + "q", tsoffset), order)
    if opts:
        opts += struct.pack(order + "HH", 0, 0)
    return _block(1, struct.pack(order + "HHI", linktype, 0, 262144) + opts, order)


def epb(iface: int, ticks: int, data: bytes, order: str = "<", origlen: int | None = None) -> bytes:
    body = struct.pack(
        order + "IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF, len(data), origlen or len(data)
    )
    return _block(6, body + data, order)


def spb(data: bytes, order: str = "<") -> bytes:
    return _block(3, struct.pack(order + "I", len(data)) + data, order)


def obsolete_pb(iface: int, ticks: int, data: bytes, order: str = "<") -> bytes:
    body = struct.pack(
        order + "HHIIII", iface, 0, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data)
    )
    return _block(2, body + data, order)


def isb(
    iface: int,
    ticks: int,
    *,
    ifdrop: int | None = None,
    osdrop: int | None = None,
    order: str = "<",
) -> bytes:
    """An Interface Statistics Block with isb_ifdrop (code 5) / isb_osdrop (code 7) when given."""
    opts = b""
    for code, value in ((5, ifdrop), (7, osdrop)):
        if value is not None:
            opts += _option(code, struct.pack(order + "Q", value), order)
    if opts:
        opts += struct.pack(order + "HH", 0, 0)
    body = struct.pack(order + "III", iface, ticks >> 32, ticks & 0xFFFFFFFF)
    return _block(5, body + opts, order)


def rewrite(path: Path, keep: np.ndarray, out: Path) -> None:
    """A pcapng of ``path``'s frames where ``keep`` holds: bytes, lengths and times as read."""
    capture = read_capture(str(path))
    links = sorted(set(capture.link_type.tolist()))
    iface = {link: i for i, link in enumerate(links)}
    blocks = [shb(), *(idb(link, tsresol=9) for link in links)]
    data = capture.data
    for i in np.flatnonzero(keep).tolist():
        lo, n = int(capture.offset[i]), int(capture.caplen[i])
        blocks.append(
            epb(
                iface[int(capture.link_type[i])],
                int(capture.time_ns[i]),
                bytes(data[lo : lo + n]),
                origlen=int(capture.origlen[i]),
            )
        )
    out.write_bytes(b"".join(blocks))
