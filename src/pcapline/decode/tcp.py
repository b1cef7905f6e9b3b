"""TCP fixed header (``headers.Tcp``) -> segment columns.

``seg_len`` is the IP-header length minus the TCP header length, so it is right even
when the snaplen cut the payload (``tcp.len`` in Wireshark, not the captured bytes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pcapline.decode.headers import ALIVE, Block, FrameCursor, Tcp, kept
from pcapline.model import SkipReason


@dataclass
class TcpHeaders:
    idx: np.ndarray  # frames (indices) that are TCP segments we analyse
    sport: np.ndarray
    dport: np.ndarray
    seq: np.ndarray
    ack: np.ndarray
    flags: np.ndarray
    window: np.ndarray
    seg_len: np.ndarray
    options_start: np.ndarray  # absolute position of the first option byte
    options_end: np.ndarray  # one past the last option byte that was captured
    payload_start: np.ndarray  # absolute position of the first payload byte (may be past the
    # captured bytes when the snaplen cut the header or payload)


def tcp_layer(cur: FrameCursor, l4: np.ndarray, l4_len: np.ndarray) -> TcpHeaders:
    idx = np.flatnonzero((cur.reason == ALIVE) & (l4 >= 0))
    pos = l4[idx]
    ok = cur.need(idx, pos, Tcp.SIZE, SkipReason.TRUNCATED_TCP_HEADER)
    idx, pos = kept(ok, idx, pos)
    length = l4_len[idx]
    hdr = Block(cur.data, pos, Tcp)
    doff = hdr.read(Tcp.data_offset).astype(np.int64) * 4  # 32-bit words -> bytes
    # A header shorter than 20 bytes or longer than the IP payload cannot be real.
    bad = (doff < Tcp.SIZE) | (doff > length)
    cur.skip(idx[bad], SkipReason.MALFORMED)
    good = ~bad
    idx, pos, length, doff = kept(good, idx, pos, length, doff)
    hdr = hdr.keep(good)
    return TcpHeaders(
        idx=idx,
        sport=hdr.read(Tcp.sport),
        dport=hdr.read(Tcp.dport),
        seq=hdr.read(Tcp.seq),
        ack=hdr.read(Tcp.ack),
        flags=hdr.read(Tcp.flags),  # the 3 reserved bits above NS are dropped
        window=hdr.read(Tcp.window),
        seg_len=(length - doff).astype(np.uint32),
        options_start=pos + Tcp.SIZE,
        # Options cut by the snaplen: decode the part that is there (never drop the segment).
        options_end=np.minimum(pos + doff, cur.end[idx]),
        payload_start=pos + doff,
    )
