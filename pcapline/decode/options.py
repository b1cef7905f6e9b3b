"""TCP options, decoded for all segments at once.

A position pointer per segment walks the option list; each round handles one option of
every segment that still has some, so the loop runs at most 40 times (the longest option
area) however many segments there are. A malformed option (length < 2 or running past
the header) ends that segment's option list, as in Wireshark; the segment itself stays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pcapline.decode.headers import be16, be32, u8

EOL, NOP, MSS, WSCALE, SACK_PERM, SACK, TIMESTAMP = 0, 1, 2, 3, 4, 5, 8
#: RFC 7323 2.3: a shift above 14 is used as 14 (Linux does the same).
MAX_WSCALE = 14
MAX_ROUNDS = 40


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


def tcp_options(data: np.ndarray, start: np.ndarray, end: np.ndarray, ack: np.ndarray) -> TcpOptions:
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
    rows = np.flatnonzero(start < end)
    pos = start[rows]
    for _ in range(MAX_ROUNDS):
        if not rows.size:
            break
        kind = u8(data, pos)
        nop = kind == NOP
        has_len = ~nop & (kind != EOL) & (pos + 1 < end[rows])
        length = np.zeros(rows.size, np.int64)
        length[has_len] = u8(data, pos[has_len] + 1)
        valid = has_len & (length >= 2) & (pos + length <= end[rows])
        _store(data, out, rows[valid], pos[valid], kind[valid], length[valid], ack[rows[valid]])
        step = np.where(nop, 1, length)
        # EOL, a malformed length or an option running past the header ends the list.
        go_on = nop | valid
        rows, pos = rows[go_on], (pos + step)[go_on]
        more = pos < end[rows]
        rows, pos = rows[more], pos[more]
    return out


def _store(
    data: np.ndarray,
    out: TcpOptions,
    rows: np.ndarray,
    pos: np.ndarray,
    kind: np.ndarray,
    length: np.ndarray,
    ack: np.ndarray,
) -> None:
    sel = (kind == MSS) & (length == 4)
    out.mss[rows[sel]] = be16(data, pos[sel] + 2)
    sel = (kind == WSCALE) & (length == 3)
    out.wscale[rows[sel]] = np.minimum(u8(data, pos[sel] + 2), MAX_WSCALE).astype(np.int8)
    sel = (kind == SACK_PERM) & (length == 2)
    out.sack_perm[rows[sel]] = True
    sel = (kind == TIMESTAMP) & (length == 10)
    out.has_ts[rows[sel]] = True
    out.ts_val[rows[sel]] = be32(data, pos[sel] + 2)
    out.ts_ecr[rows[sel]] = be32(data, pos[sel] + 6)
    sel = (kind == SACK) & (length >= 10) & ((length - 2) % 8 == 0)
    _store_sack(data, out, rows[sel], pos[sel], length[sel], ack[sel])


def _store_sack(
    data: np.ndarray, out: TcpOptions, rows: np.ndarray, pos: np.ndarray, length: np.ndarray, ack: np.ndarray
) -> None:
    """Count the blocks; keep the one reaching furthest beyond the ACK (wrap-safe)."""
    count = (length - 2) // 8
    out.sack_blocks[rows] = np.minimum(count, 255).astype(np.uint8)
    best_dist = np.zeros(rows.size, np.int64) - 1
    best_le = np.zeros(rows.size, np.uint32)
    best_re = np.zeros(rows.size, np.uint32)
    for block in range(int(count.max()) if rows.size else 0):
        has = count > block
        at = pos[has] + 2 + 8 * block
        le = be32(data, at)
        re = be32(data, at + 4)
        dist = (re.astype(np.int64) - ack[has].astype(np.int64)) % (1 << 32)
        better = dist > best_dist[has]
        where = np.flatnonzero(has)[better]
        best_dist[where] = dist[better]
        best_le[where] = le[better]
        best_re[where] = re[better]
    out.sack_le[rows] = best_le
    out.sack_re[rows] = best_re
