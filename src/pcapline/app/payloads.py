"""Each connection's first payload bytes per side, chosen columnar from the segments table.

Only the first ``PER_SIDE`` segments that carry payload, per connection and direction, are
read (a ClientHello split over two or three segments is the longest thing parsed), so the
cost is bounded by the number of connections, never by the bytes of a stream. Within those
segments the bytes are put in sequence order from the first one in frame order: a
retransmission adds only bytes not yet held, a reordered segment is placed by its sequence
number, and the bytes stop at the first hole (a segment not captured, or cut by the snaplen).

The bytes are read through ``FrameBytes``: where each row's frame lies in the source and a
reader of the source's bytes, so the same code serves a capture held in memory
(``FrameBytes.of_capture``) and one analysed a partition at a time, whose rows carry their
frame's place (``partitioned.PLACEMENT_COLUMNS``) and whose bytes stay on disk
(``FrameBytes.of_rows``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pcapline import seqnum
from pcapline.model import SYN
from pcapline.read import native
from pcapline.read.capture import Capture
from pcapline.read.open import source_shrank

#: Payload segments read per connection and direction.
PER_SIDE = 4
#: Bytes kept per side: enough for a ClientHello with post-quantum key shares (~2 kB) in
#: a few records, or an HTTP head with its usual header fields.
MAX_BYTES = 16_384


#: ``read(at, length)``: ``length`` bytes of the source from offset ``at``.
ByteReader = Callable[[int, int], bytes]


@dataclass(frozen=True, slots=True)
class FrameBytes:
    """Per segment row, where its frame's captured bytes start in the source and how many
    there are, and how to read them."""

    frame_at: np.ndarray  # int64 per segment row
    caplen: np.ndarray  # int64 per segment row
    read: ByteReader
    #: The whole source as bytes when it is held in memory (then a few bytes of every row
    #: are one gather, not one ``read`` call each); None for a source on disk.
    buffer: np.ndarray | None = None
    #: A source on disk: a file descriptor ``read``'s offsets are offsets of (then the few
    #: bytes of every row are read by the compiled core in one call); None: ``read`` only.
    file: int | None = None
    #: The source's path, for an error reading it.
    path: str = ""

    @classmethod
    def of_capture(cls, segments: pd.DataFrame, capture: Capture) -> FrameBytes:
        """The frames of ``segments`` in a capture held in memory."""
        index = segments["frame"].to_numpy(np.int64) - 1
        data = capture.data

        def read(at: int, length: int) -> bytes:
            return data[at : at + length].tobytes()

        return cls(
            capture.offset[index].astype(np.int64),
            capture.caplen[index].astype(np.int64),
            read,
            buffer=data,
        )

    @classmethod
    def of_rows(
        cls, segments: pd.DataFrame, read: ByteReader, file: int | None = None, path: str = ""
    ) -> FrameBytes:
        """Rows that carry their frame's place (``frame_at``, ``caplen`` columns); ``file``:
        the descriptor of the file ``read`` reads, if it is one, at ``path``."""
        return cls(
            segments["frame_at"].to_numpy(np.int64),
            segments["caplen"].to_numpy(np.int64),
            read,
            file=file,
            path=path,
        )


@dataclass(frozen=True, slots=True)
class FirstBytes:
    """One direction's first contiguous payload bytes, and the frame they start in."""

    data: bytes
    frame: int


def first_payloads(
    segments: pd.DataFrame, source: Capture | FrameBytes, *, per_side: int = PER_SIDE
) -> dict[tuple[int, bool], FirstBytes]:
    """{(conn, from_client): FirstBytes} for every direction that sent captured payload.

    ``segments`` is the segments table with flows (``payload_at``, ``conn``, ``from_client``);
    ``source`` the capture they were decoded from, or where their frames' bytes are.
    """
    if segments.empty:
        return {}
    frames = source if isinstance(source, FrameBytes) else FrameBytes.of_capture(segments, source)
    frame = segments["frame"].to_numpy(np.int64)
    at = frames.frame_at + segments["payload_at"].to_numpy(np.int64)
    captured = np.minimum(
        segments["seg_len"].to_numpy(np.int64),
        np.maximum(frames.frame_at + frames.caplen - at, 0),
    )
    rows = np.flatnonzero(captured > 0)
    if rows.size == 0:
        return {}
    conn_of = segments["conn"].to_numpy(np.int64)[rows]
    rank = _rank_in_group(conn_of * 2 + segments["from_client"].to_numpy(bool)[rows])
    keep = rank < per_side
    # Only connections where a side's first payload starts like a TLS handshake record or an
    # HTTP/1.x start line are joined and parsed (four bytes read per side, columnar): the
    # cost then follows the connections that can be recognised, not every connection.
    first = np.flatnonzero(rank == 0)
    plausible = first[_plausible_start(frames, at[rows[first]], captured[rows[first]])]
    wanted = np.isin(conn_of, conn_of[plausible])
    rows = rows[keep & wanted]  # still in frame order
    # A SYN's payload (TCP Fast Open, RFC 7413) starts one after its sequence number.
    syn = (segments["flags"].to_numpy(np.int64) & SYN) != 0
    seq = segments["seq"].to_numpy(np.int64) + syn
    seg_len = segments["seg_len"].to_numpy(np.int64)
    conn = segments["conn"].to_numpy(np.int64)
    side = segments["from_client"].to_numpy(bool)
    pieces: dict[tuple[int, bool], list[tuple[int, int, int, int, int]]] = {}
    for r in rows.tolist():
        pieces.setdefault((int(conn[r]), bool(side[r])), []).append(
            (int(frame[r]), int(seq[r]), int(seg_len[r]), int(at[r]), int(captured[r]))
        )
    return {key: _contiguous(parts, frames.read) for key, parts in pieces.items()}


#: A status line's first bytes: ``HTTP/1.x NNN`` (RFC 9112 4).
STATUS_HEAD = 12
#: A later response is looked for only where a side's payload follows its previous payload
#: by this much or more (``app_pause.PAUSE_MIN_NS``: a shorter gap is no pause), so a bulk
#: transfer's segments are not read.
STATUS_GAP_NS = 1_000_000


def status_line_frames(
    segments: pd.DataFrame, source: Capture | FrameBytes, conns: np.ndarray
) -> dict[int, tuple[int, ...]]:
    """{conn: frames} of the connections ``conns`` (HTTP/1.x): the payload segments after a
    side's first whose captured bytes begin with an HTTP/1.x status line (``HTTP/1.0 200``,
    ``HTTP/1.1 404``, ...; not 408, a timeout reply to no request): each begins a new response
    (``app_pause``: a server pause before one is a wait to answer a request already sent, as
    in a pipelined burst). Only segments
    that follow the side's previous payload by ``STATUS_GAP_NS`` or more are read, the first
    ``STATUS_HEAD`` bytes each; a segment whose bytes the snaplen cut is never one."""
    if segments.empty or not len(conns):
        return {}
    frames = source if isinstance(source, FrameBytes) else FrameBytes.of_capture(segments, source)
    conn = segments["conn"].to_numpy(np.int64)
    seg_len = segments["seg_len"].to_numpy(np.int64)
    at = frames.frame_at + segments["payload_at"].to_numpy(np.int64)
    captured = np.minimum(seg_len, np.maximum(frames.frame_at + frames.caplen - at, 0))
    rows = np.flatnonzero((seg_len > 0) & np.isin(conn, conns))
    if not len(rows):
        return {}
    key = conn[rows] * 2 + segments["from_client"].to_numpy(bool)[rows]
    order = np.argsort(key, kind="stable")  # each side's payloads in frame order
    rows, key = rows[order], key[order]
    time_ns = segments["time_ns"].to_numpy(np.int64)[rows]
    later = np.r_[False, key[1:] == key[:-1]]
    gap = np.r_[0, np.diff(time_ns)]
    rows = rows[later & (gap >= STATUS_GAP_NS) & (captured[rows] >= STATUS_HEAD)]
    if not len(rows):
        return {}
    head = _heads(frames, at[rows], captured[rows], STATUS_HEAD)
    prefix = np.frombuffer(b"HTTP/1.", np.uint8).astype(np.int64)
    digit = (head >= ord("0")) & (head <= ord("9"))
    code = (head[:, 9] - ord("0")) * 100 + (head[:, 10] - ord("0")) * 10 + head[:, 11] - ord("0")
    status = (
        (head[:, :7] == prefix).all(axis=1)
        & digit[:, 7]
        & (head[:, 8] == ord(" "))
        & digit[:, 9:12].all(axis=1)
        # 408 Request Timeout answers no request (RFC 9110 15.5.9): a server sends it on a
        # connection idle past its timeout, then closes; it is no pipelined answer.
        & (code != 408)
    )
    found: dict[int, list[int]] = {}
    frame = segments["frame"].to_numpy(np.int64)
    for r in np.sort(rows[status]).tolist():
        found.setdefault(int(conn[r]), []).append(int(frame[r]))
    return {c: tuple(f) for c, f in found.items()}


def _rank_in_group(keys: np.ndarray) -> np.ndarray:
    """Per row: how many earlier rows have its key (0 for a key's first), as pandas'
    ``groupby(keys).cumcount()`` (whose set-up costs ~0.2 ms on every capture)."""
    order = np.argsort(keys, kind="stable")  # each key's rows together, in row order
    ordered = keys[order]
    first = np.ones(len(ordered), dtype=bool)
    first[1:] = ordered[1:] != ordered[:-1]
    starts = np.flatnonzero(first)
    position = np.arange(len(ordered))
    rank = np.empty(len(keys), dtype=np.int64)
    rank[order] = position - np.repeat(starts, np.diff(np.append(starts, len(ordered))))
    return rank


def _plausible_start(frames: FrameBytes, at: np.ndarray, captured: np.ndarray) -> np.ndarray:
    """Per payload: its first bytes are a TLS handshake record header (22, 3, 0..4) or three
    upper-case letters (an HTTP method, or ``HTTP`` of a status line)."""
    heads = _heads(frames, at, captured, 3)
    b0, b1, b2 = heads[:, 0], heads[:, 1], heads[:, 2]
    tls = (b0 == 22) & (b1 == 3) & (b2 <= 4) & (captured >= 3)

    def upper(b: np.ndarray) -> np.ndarray:
        return (b >= ord("A")) & (b <= ord("Z"))

    plausible: np.ndarray = tls | (upper(b0) & upper(b1) & upper(b2))  # GET, ..., HTTP/1.x
    return plausible


def _heads(frames: FrameBytes, at: np.ndarray, captured: np.ndarray, width: int) -> np.ndarray:
    """The first ``width`` bytes of each payload, (n, width) int64; a byte not captured reads
    as 0."""
    if frames.buffer is not None:  # in memory: one gather per column
        k = np.arange(width)
        held = k < captured[:, None]
        where = np.where(held, at[:, None] + k, 0)  # a held byte lies inside its frame
        return np.where(held, frames.buffer[where], 0).astype(np.int64)
    if frames.file is not None and native.active:  # on disk: one call, a pread per payload
        got = np.zeros((len(at), width), np.uint8)
        lengths = np.minimum(captured, width)
        cut = native.core.read_heads(
            frames.file, native.int64s(at), native.int64s(lengths), width, got.data
        )
        if cut:  # every offset lay inside the capture as it was read
            raise source_shrank(frames.path)
        return got.astype(np.int64)
    heads = np.zeros((len(at), width), np.int64)
    for i, (start, length) in enumerate(zip(at.tolist(), captured.tolist(), strict=True)):
        head = frames.read(start, min(length, width))
        heads[i, : len(head)] = list(head)
    return heads


def _contiguous(parts: list[tuple[int, int, int, int, int]], read: ByteReader) -> FirstBytes:
    """The bytes from the first segment's sequence number on, until the first hole."""
    first_frame, base = parts[0][0], parts[0][1]
    # Sequence order relative to the first segment (wrap-safe); a segment before it (an
    # earlier retransmission captured later) is ignored.
    ordered = sorted(
        (int(seqnum.distance(seq, base)), frame, length, at, captured)
        for frame, seq, length, at, captured in parts
    )
    out = bytearray()
    for start, _frame, length, at, captured in ordered:
        if start < 0:
            continue
        if start > len(out):  # a hole: the segment before this one was not captured
            break
        skip = len(out) - start  # bytes of this segment already held
        if skip < captured:
            out += read(at + skip, captured - skip)
        if captured < length and start + captured >= len(out):  # the snaplen cut it: a hole
            break
        if len(out) >= MAX_BYTES:
            break
    return FirstBytes(data=bytes(out[:MAX_BYTES]), frame=first_frame)
