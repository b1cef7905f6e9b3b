"""TCP options, decoded for all segments at once.

A position pointer per segment walks the option list; each round handles one option of
every segment that still has some, so the loop runs at most 40 times (the longest option
area) however many segments there are. A malformed option (length < 2 or running past
the header) ends that segment's option list, as in Wireshark; the segment itself stays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pcapline import seqnum
from pcapline.read.capture import gather_rows

EOL, NOP, MSS, WSCALE, SACK_PERM, SACK, TIMESTAMP = 0, 1, 2, 3, 4, 5, 8
#: RFC 7323 2.3: a shift above 14 is used as 14 (Linux does the same).
MAX_WSCALE = 14
MAX_ROUNDS = 40
#: A TCP header is at most 60 bytes: at most 40 bytes of options.
MAX_OPTION_BYTES = 40


@dataclass
class TcpOptions:
    mss: np.ndarray  # uint16, 0 when absent
    wscale: np.ndarray  # int8, -1 when absent
    sack_perm: np.ndarray  # bool
    has_ts: np.ndarray  # bool
    ts_val: np.ndarray  # uint32
    ts_ecr: np.ndarray  # uint32
    sack_blocks: np.ndarray  # uint8
    sack_le: np.ndarray  # uint32, left edge of the block with the highest right edge
    sack_re: np.ndarray  # uint32


def tcp_options(
    data: np.ndarray, start: np.ndarray, end: np.ndarray, ack: np.ndarray
) -> TcpOptions:
    n = start.shape[0]
    out = TcpOptions(
        mss=np.zeros(n, np.uint16),
        wscale=np.full(n, -1, np.int8),
        sack_perm=np.zeros(n, bool),
        has_ts=np.zeros(n, bool),
        ts_val=np.zeros(n, np.uint32),
        ts_ecr=np.zeros(n, np.uint32),
        sack_blocks=np.zeros(n, np.uint8),
        sack_le=np.zeros(n, np.uint32),
        sack_re=np.zeros(n, np.uint32),
    )
    seg = np.flatnonzero(start < end)  # segments with (captured) option bytes
    if not seg.size:
        return out
    area = OptionArea(data, start[seg], (end - start)[seg])
    common = _timestamps_only(area, out, seg)
    row = np.flatnonzero(~common)
    pos = np.zeros(row.size, np.int64)
    for _ in range(MAX_ROUNDS):
        if not row.size:
            break
        lim = area.limit[row]
        kind = area.u8(row, pos)
        nop = kind == NOP
        has_len = ~nop & (kind != EOL) & (pos + 1 < lim)
        length = np.zeros(row.size, np.int64)
        length[has_len] = area.u8(row[has_len], pos[has_len] + 1)
        valid = has_len & (length >= 2) & (pos + length <= lim)
        _store(area, out, seg, row[valid], pos[valid], kind[valid], length[valid], ack)
        # EOL, a malformed length or an option running past the header ends the list.
        go_on = nop | valid
        row, pos = row[go_on], (pos + np.where(nop, 1, length))[go_on]
        more = pos < area.limit[row]
        row, pos = row[more], pos[more]
    return out


#: NOP, NOP, Timestamps: the option list of nearly every Linux data segment and ACK.
NOP_NOP_TS = (NOP, NOP, TIMESTAMP, 10)


def _timestamps_only(area: OptionArea, out: TcpOptions, seg: np.ndarray) -> np.ndarray:
    """Fast path: decode the common NOP,NOP,TS list with column slices, no walk.
    Returns the mask of rows handled."""
    b = area.bytes
    if b.shape[1] < 12:
        return np.zeros(b.shape[0], bool)
    common = area.limit == 12
    for at, value in enumerate(NOP_NOP_TS):
        common &= b[:, at] == value
    rows = seg[common]
    words = b[common, 4:12].copy().view(">u4")  # TSval, TSecr (big-endian)
    out.has_ts[rows] = True
    out.ts_val[rows] = words[:, 0]
    out.ts_ecr[rows] = words[:, 1]
    handled: np.ndarray = common
    return handled


class OptionArea:
    """The option bytes of many segments copied into one small (m, 40) matrix, so the
    option walk reads cache-local memory instead of gathering from the whole capture."""

    def __init__(self, data: np.ndarray, start: np.ndarray, limit: np.ndarray) -> None:
        self.limit = limit
        width = int(min(limit.max(), MAX_OPTION_BYTES))
        fits = start + width <= data.shape[0]
        if fits.all():
            self.bytes = gather_rows(data, start, width)
            return
        self.bytes = np.zeros((start.shape[0], width), np.uint8)
        self.bytes[fits] = gather_rows(data, start[fits], width)
        for i in np.flatnonzero(~fits):  # only segments in the last ``width`` bytes of the file
            chunk = data[start[i] : start[i] + limit[i]]
            self.bytes[i, : chunk.shape[0]] = chunk

    def u8(self, row: np.ndarray, pos: np.ndarray) -> np.ndarray:
        out: np.ndarray = self.bytes[row, pos]
        return out

    def be16(self, row: np.ndarray, pos: np.ndarray) -> np.ndarray:
        out: np.ndarray = (self.bytes[row, pos].astype(np.uint16) << 8) | self.bytes[row, pos + 1]
        return out

    def be32(self, row: np.ndarray, pos: np.ndarray) -> np.ndarray:
        out: np.ndarray = (self.be16(row, pos).astype(np.uint32) << 16) | self.be16(row, pos + 2)
        return out


def _store(
    area: OptionArea,
    out: TcpOptions,
    seg: np.ndarray,
    row: np.ndarray,
    pos: np.ndarray,
    kind: np.ndarray,
    length: np.ndarray,
    ack: np.ndarray,
) -> None:
    sel = (kind == MSS) & (length == 4)
    out.mss[seg[row[sel]]] = area.be16(row[sel], pos[sel] + 2)
    sel = (kind == WSCALE) & (length == 3)
    out.wscale[seg[row[sel]]] = np.minimum(area.u8(row[sel], pos[sel] + 2), MAX_WSCALE).astype(
        np.int8
    )
    sel = (kind == SACK_PERM) & (length == 2)
    out.sack_perm[seg[row[sel]]] = True
    sel = (kind == TIMESTAMP) & (length == 10)
    out.has_ts[seg[row[sel]]] = True
    out.ts_val[seg[row[sel]]] = area.be32(row[sel], pos[sel] + 2)
    out.ts_ecr[seg[row[sel]]] = area.be32(row[sel], pos[sel] + 6)
    sel = (kind == SACK) & (length >= 10) & ((length - 2) % 8 == 0)
    _store_sack(area, out, seg, row[sel], pos[sel], length[sel], ack)


def _store_sack(
    area: OptionArea,
    out: TcpOptions,
    seg: np.ndarray,
    row: np.ndarray,
    pos: np.ndarray,
    length: np.ndarray,
    ack: np.ndarray,
) -> None:
    """Count the blocks; keep the one reaching furthest beyond the ACK (wrap-safe)."""
    target = seg[row]
    count = (length - 2) // 8
    out.sack_blocks[target] = np.minimum(count, 255).astype(np.uint8)
    best_dist = np.full(row.size, -1, np.int64)
    best_le = np.zeros(row.size, np.uint32)
    best_re = np.zeros(row.size, np.uint32)
    for block in range(int(count.max()) if row.size else 0):
        has = np.flatnonzero(count > block)
        at = pos[has] + 2 + 8 * block
        le = area.be32(row[has], at)
        re = area.be32(row[has], at + 4)
        dist = seqnum.wrap(re.astype(np.int64) - ack[target[has]].astype(np.int64))
        better = dist > best_dist[has]
        where = has[better]
        best_dist[where] = dist[better]
        best_le[where] = le[better]
        best_re[where] = re[better]
    out.sack_le[target] = best_le
    out.sack_re[target] = best_re
