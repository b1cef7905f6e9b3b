"""802.11 data frames (plain, LINKTYPE 105, or behind a radiotap header, 127) -> EtherType.

Only unprotected data frames carry IP we can read: management/control frames, null-data
frames and encrypted frames (Protected bit) are ``not_ip``. The 802.11 header is 24
bytes, +6 with both DS bits (4 addresses), +2 for QoS data, +4 more when a QoS frame has
the Order bit (HT control); an LLC/SNAP header (AA AA 03, OUI, EtherType) follows.
Radiotap may pad the 802.11 header to a 4-byte boundary (flags field bit 0x20).
"""

from __future__ import annotations

import numpy as np

from pcapline.decode.headers import (
    Dot11,
    FrameCursor,
    LlcSnap,
    Radiotap,
    is_snap,
    le32,
    read,
    u8,
)
from pcapline.model import SkipReason

IEEE802_11, RADIOTAP = 105, 127
TYPE_DATA = 2
FC1_TO_FROM_DS, FC1_PROTECTED, FC1_ORDER = 0x03, 0x40, 0x80
RADIOTAP_EXT, RADIOTAP_TSFT, RADIOTAP_FLAGS = 1 << 31, 1 << 0, 1 << 1
RADIOTAP_FLAG_DATAPAD = 0x20
MAX_PRESENT_WORDS = 8


def wlan_layer(
    cur: FrameCursor,
    idx: np.ndarray,
    start: np.ndarray,
    link_type: np.ndarray,
    l3: np.ndarray,
    etype: np.ndarray,
) -> np.ndarray:
    """Set ``l3``/``etype`` for 802.11 frames ``idx``; returns the frames that got an EtherType."""
    pos = start[idx].copy()
    pad = np.zeros(idx.size, bool)
    rt = link_type[idx] == RADIOTAP
    rt_idx, rt_pos, rt_pad = _radiotap(cur, idx[rt], pos[rt])
    keep = np.ones(idx.size, bool)
    keep[rt] = False
    idx = np.concatenate([idx[keep], rt_idx])
    pos = np.concatenate([pos[keep], rt_pos])
    pad = np.concatenate([pad[keep], rt_pad])
    return _dot11(cur, idx, pos, pad, l3, etype)


def _radiotap(
    cur: FrameCursor, idx: np.ndarray, pos: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ok = cur.need(idx, pos, Radiotap.SIZE)
    idx, pos = idx[ok], pos[ok]
    length = read(cur.data, pos, Radiotap.length).astype(np.int64)
    present = read(cur.data, pos, Radiotap.present)
    # Fields start after the chain of present-bitmap words (bit 31 = another word follows),
    # 4 bytes each, little-endian like the first one.
    fields = pos + Radiotap.SIZE
    more = (present & RADIOTAP_EXT) != 0
    for _ in range(MAX_PRESENT_WORDS):
        more &= fields + 4 <= cur.end[idx]
        if not more.any():
            break
        nxt = le32(cur.data, fields[more])
        fields[more] += 4
        more[more] = (nxt & RADIOTAP_EXT) != 0
    # The Flags byte follows the 8-byte, 8-aligned TSFT field when that is present.
    flag_at = fields.copy()
    tsft = (present & RADIOTAP_TSFT) != 0
    flag_at[tsft] = pos[tsft] + (((fields[tsft] - pos[tsft]) + 7) & ~7) + 8
    has_flags = (
        ((present & RADIOTAP_FLAGS) != 0) & (flag_at < cur.end[idx]) & (flag_at < pos + length)
    )
    pad = np.zeros(idx.size, bool)
    pad[has_flags] = (u8(cur.data, flag_at[has_flags]) & RADIOTAP_FLAG_DATAPAD) != 0
    bad = length < Radiotap.SIZE
    cur.skip(idx[bad], SkipReason.MALFORMED)
    return idx[~bad], (pos + length)[~bad], pad[~bad]


def _dot11(
    cur: FrameCursor,
    idx: np.ndarray,
    pos: np.ndarray,
    pad: np.ndarray,
    l3: np.ndarray,
    etype: np.ndarray,
) -> np.ndarray:
    ok = cur.need(idx, pos, 2)  # the frame control field: what kind of frame this is
    idx, pos, pad = idx[ok], pos[ok], pad[ok]
    fc1 = read(cur.data, pos, Dot11.flags)
    subtype = read(cur.data, pos, Dot11.subtype)
    # Data frames only; subtypes with bit 2 set (null data, QoS null, ...) carry no payload.
    data = read(cur.data, pos, Dot11.type) == TYPE_DATA
    data &= ((subtype & 4) == 0) & ((fc1 & FC1_PROTECTED) == 0)
    cur.skip(idx[~data], SkipReason.NOT_IP)
    idx, pos, pad, fc1, subtype = idx[data], pos[data], pad[data], fc1[data], subtype[data]
    qos = (subtype & 8) != 0
    hdr = (
        Dot11.SIZE
        + 6 * ((fc1 & FC1_TO_FROM_DS) == FC1_TO_FROM_DS)
        + 2 * qos
        + 4 * (qos & ((fc1 & FC1_ORDER) != 0))
    )
    hdr = np.where(pad, (hdr + 3) & ~3, hdr).astype(np.int64)
    llc = pos + hdr
    ok = cur.need(idx, llc, LlcSnap.SIZE)
    idx, llc = idx[ok], llc[ok]
    snap = is_snap(cur.data, llc)
    cur.skip(idx[~snap], SkipReason.NOT_IP)
    idx, llc = idx[snap], llc[snap]
    l3[idx] = llc + LlcSnap.SIZE
    etype[idx] = read(cur.data, llc, LlcSnap.ethertype)
    return idx
