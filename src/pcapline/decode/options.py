"""TCP options, decoded for all segments at once.

A position pointer per segment walks the option list; each round handles one option of
every segment that still has some, so the loop runs at most 40 times (the longest option
area) however many segments there are. A malformed option (length < 2 or running past
the header) ends that segment's option list, as in Wireshark; the segment itself stays.
A SACK option the snaplen cut (whole in the header, past the captured bytes) keeps the
blocks captured whole (``tcpdump -s 96`` leaves one to three after the timestamps): each
block is a report of its own (RFC 2018 section 3), so a cut later block takes nothing from an
earlier one; the segment's ``options_cut`` says the rest is unknown.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pcapline import seqnum
from pcapline.decode.headers import kept
from pcapline.read.capture import gather_rows

EOL, NOP, MSS, WSCALE, SACK_PERM, SACK, TIMESTAMP = 0, 1, 2, 3, 4, 5, 8
#: RFC 7323 2.3: a shift above 14 is used as 14 (Linux does the same).
MAX_WSCALE = 14
#: ``TcpOptions.wscale`` of a SYN whose options the snaplen cut before a window scale was
#: found: the option may have been there (Linux sends it last: MSS, SACK_PERM, timestamps,
#: NOP, WSCALE), so whether the connection's windows are scaled is not known.
WSCALE_CUT = -2
MAX_ROUNDS = 40
#: A TCP header is at most 60 bytes: at most 40 bytes of options.
MAX_OPTION_BYTES = 40


@dataclass
class TcpOptions:
    mss: np.ndarray  # uint16, 0 when absent
    wscale: np.ndarray  # int8, -1 when absent, WSCALE_CUT when a SYN's options were cut
    sack_perm: np.ndarray  # bool
    has_ts: np.ndarray  # bool
    ts_val: np.ndarray  # uint32
    ts_ecr: np.ndarray  # uint32
    sack_blocks: np.ndarray  # uint8, the blocks captured whole (a snaplen may cut the rest)
    sack_le: np.ndarray  # uint32, left edge of the block with the highest right edge
    sack_re: np.ndarray  # uint32
    #: bool: the first block reports a duplicate (D-SACK, ``_first_block_dsack``): then
    #: ``sack_le``/``sack_re`` are that block's edges.
    dsack: np.ndarray


def tcp_options(
    data: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    header_end: np.ndarray,
    ack: np.ndarray,
) -> TcpOptions:
    """Options of segments whose option bytes are ``data[start:end]`` (``end``: the header's
    end or, when the snaplen cut it, the captured bytes' end; ``header_end``: the header's)."""
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
        dsack=np.zeros(n, bool),
    )
    seg = np.flatnonzero(start < end)  # segments with (captured) option bytes
    if not seg.size:
        return out
    seg_start, limit, room = start[seg], (end - start)[seg], (header_end - start)[seg]
    walk_from = _leading_timestamps(data, seg_start, limit, out, seg)
    # The walk copies the option bytes of only the segments with more than that (SYNs, SACKs).
    rest = np.flatnonzero(walk_from < limit)
    if not rest.size:
        return out
    seg = seg[rest]
    area = OptionArea(data, seg_start[rest], limit[rest])
    room = room[rest]
    row = np.arange(rest.size)
    pos = walk_from[rest]
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
        cut = has_len & (kind == SACK) & _sack_length(length) & (pos + length > lim)
        cut &= pos + length <= room[row]  # whole in the header: the snaplen cut it
        whole = (lim - pos - 2) // 8  # blocks captured whole
        cut &= whole > 0
        _store_sack(area, out, seg, row[cut], pos[cut], 2 + 8 * whole[cut], ack)
        # EOL, a malformed length or an option running past the header ends the list.
        go_on = nop | valid
        row, pos = row[go_on], (pos + np.where(nop, 1, length))[go_on]
        more = pos < area.limit[row]
        row, pos = row[more], pos[more]
    return out


#: NOP, NOP, Timestamps: the option list of nearly every Linux data segment and ACK (a SACK
#: option follows, after two more NOPs, while the receiver holds out-of-order data).
NOP_NOP_TS = (NOP, NOP, TIMESTAMP, 10)
NOP_NOP_TS_BYTES = 12


def _leading_timestamps(
    data: np.ndarray, start: np.ndarray, limit: np.ndarray, out: TcpOptions, seg: np.ndarray
) -> np.ndarray:
    """Fast path: decode a leading NOP,NOP,TS from the first 12 option bytes (one gather of
    them, as three big-endian words), no walk. Returns where the walk starts in each row: past
    those 12 bytes (the end of the list for most rows), else 0. The walk would have stepped
    over the same two NOPs and stored the same timestamp first."""
    walk_from = np.zeros(limit.shape[0], np.int64)
    room = np.flatnonzero(limit >= NOP_NOP_TS_BYTES)  # captured bytes: never past the buffer
    if not room.size:
        return walk_from
    words = gather_rows(data, start[room], NOP_NOP_TS_BYTES).view(">u4")
    lead = words[:, 0] == int.from_bytes(bytes(NOP_NOP_TS), "big")
    rows, words = kept(lead, room, words)  # words: NOP NOP kind length, TSval, TSecr
    target = seg[rows]
    out.has_ts[target] = True
    out.ts_val[target] = words[:, 1]
    out.ts_ecr[target] = words[:, 2]
    walk_from[rows] = NOP_NOP_TS_BYTES
    return walk_from


class OptionArea:
    """The option bytes of many segments copied into one small (m, 40) matrix, so the
    option walk reads cache-local memory instead of gathering from the whole capture."""

    def __init__(self, data: np.ndarray, start: np.ndarray, limit: np.ndarray) -> None:
        self.limit = limit
        self.width = width = int(min(limit.max(), MAX_OPTION_BYTES))
        fits = start + width <= data.shape[0]
        if fits.all():
            self.bytes = np.ascontiguousarray(gather_rows(data, start, width))
        else:
            self.bytes = np.zeros((start.shape[0], width), np.uint8)
            self.bytes[fits] = gather_rows(data, start[fits], width)
            for i in np.flatnonzero(~fits):  # only segments in the file's last ``width`` bytes
                chunk = data[start[i] : start[i] + limit[i]]
                self.bytes[i, : chunk.shape[0]] = chunk
        #: The same bytes as one row after another: byte ``pos`` of row ``r`` is at
        #: ``r * width + pos`` (one 1-D gather instead of a 2-D fancy index).
        self.flat = self.bytes.reshape(-1)

    def u8(self, row: np.ndarray, pos: np.ndarray) -> np.ndarray:
        out: np.ndarray = self.flat[row * self.width + pos]
        return out

    def be16(self, row: np.ndarray, pos: np.ndarray) -> np.ndarray:
        return self._big_endian(row, pos, 2).astype(np.uint16)

    def be32(self, row: np.ndarray, pos: np.ndarray) -> np.ndarray:
        return self._big_endian(row, pos, 4).astype(np.uint32)

    def _big_endian(self, row: np.ndarray, pos: np.ndarray, width: int) -> np.ndarray:
        """The ``width``-byte big-endian number at ``pos`` of each row: one gather of
        ``width`` bytes from the flattened matrix, read as one big-endian word (a valid option
        never runs past its row's limit, so the bytes never cross into the next row)."""
        words: np.ndarray = gather_rows(self.flat, row * self.width + pos, width).view(f">u{width}")
        return words[:, 0]


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
    sel = (kind == SACK) & _sack_length(length)
    _store_sack(area, out, seg, row[sel], pos[sel], length[sel], ack)


def _sack_length(length: np.ndarray) -> np.ndarray:
    """A SACK option's length is 2 + 8 per block, with at least one (RFC 2018 section 3)."""
    return np.asarray((length >= 10) & ((length - 2) % 8 == 0))


def _store_sack(
    area: OptionArea,
    out: TcpOptions,
    seg: np.ndarray,
    row: np.ndarray,
    pos: np.ndarray,
    length: np.ndarray,
    ack: np.ndarray,
) -> None:
    """Count the blocks; keep the one reaching furthest beyond the ACK (wrap-safe), or the
    first when it is a D-SACK (``_first_block_dsack``)."""
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
    first_le, first_re = area.be32(row, pos + 2), area.be32(row, pos + 6)
    dsack = _first_block_dsack(area, row, pos, count, ack[target], first_le, first_re)
    out.dsack[target] = dsack
    out.sack_le[target] = np.where(dsack, first_le, best_le)
    out.sack_re[target] = np.where(dsack, first_re, best_re)


def _first_block_dsack(
    area: OptionArea,
    row: np.ndarray,
    pos: np.ndarray,
    count: np.ndarray,
    ack: np.ndarray,
    first_le: np.ndarray,
    first_re: np.ndarray,
) -> np.ndarray:
    """Per SACK option: its first block reports a duplicate segment (D-SACK, RFC 2883 section
    4: a receiver puts it first). Linux's test (tcp_check_dsack): the block starts below the
    cumulative ACK, or it lies within the second block (a duplicate of data held out of
    order: a tail loss probe resending the last segment, which the receiver had above a
    hole). Wrap-safe; a second block the snaplen cut is not there to compare."""
    below = seqnum.signed(first_le.astype(np.int64) - ack.astype(np.int64)) < 0
    out = np.asarray(below)
    two = np.flatnonzero(count > 1)
    if two.size:
        second_le = area.be32(row[two], pos[two] + 10).astype(np.int64)
        second_re = area.be32(row[two], pos[two] + 14).astype(np.int64)
        inside = seqnum.signed(first_re[two].astype(np.int64) - second_re) <= 0
        inside &= seqnum.signed(first_le[two].astype(np.int64) - second_le) >= 0
        out[two] |= inside
    return out
