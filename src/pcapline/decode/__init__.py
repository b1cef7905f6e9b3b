"""Decode stage: ``Capture`` -> one columnar table of TCP segments + skip counts.

Layers run over all frames at once (numpy gathers at per-frame offsets), each one
narrowing the set of frames still alive: link (``link.py``) -> IP (``ip.py``) -> tunnels
(``tunnels.py``: the inner packet goes through IP again, nested up to a bound) -> TCP
(``tcp.py``) -> options (``options.py``); ICMP errors quoting a TCP segment go to their own
table (``icmp.py``). A frame that drops out gets exactly one ``SkipReason``, so
``capture.frames == len(segments) + len(icmp) + sum(skipped.values())``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pcapline.decode.ethernet_ipv4_tcp import CommonFrames, common_frames
from pcapline.decode.fragments import (
    Defragmenter,
    Fragment,
    Reassembled,
    fragments_of,
    payload_in_frames,
)
from pcapline.decode.headers import ALIVE, REASON_CODES, FrameCursor
from pcapline.decode.icmp import ICMP_COLUMNS, IcmpFrames, empty_table, icmp_layer
from pcapline.decode.ip import PROTO_TCP, network_layer, skip_non_tcp
from pcapline.decode.link import LINKTYPE_RAW, link_layer, linktype_name
from pcapline.decode.options import WSCALE_CUT, tcp_options
from pcapline.decode.tcp import tcp_layer
from pcapline.decode.tunnels import MAX_TUNNEL_DEPTH, open_tunnels
from pcapline.model import SEGMENT_COLUMNS, SYN, SkipReason
from pcapline.read.capture import Capture

__all__ = ["REASON_CODES", "REASON_NAMES", "Decoded", "Defragmenter", "decode", "linktype_name"]

REASON_NAMES: dict[int, str] = {code: reason.value for reason, code in REASON_CODES.items()}


@dataclass
class Decoded:
    segments: pd.DataFrame  # model.SEGMENT_COLUMNS, one row per analysed TCP frame
    skipped: dict[str, int] = field(
        default_factory=dict
    )  # SkipReason value -> count (non-zero only)
    link_types: list[str] = field(default_factory=list)  # names, in order of first appearance
    #: Per frame (capture order): 0 for a frame in ``segments``, else ``REASON_CODES[reason]``.
    frame_reason: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))
    #: ICMP errors quoting a TCP segment (decode/icmp.py ``ICMP_COLUMNS``), analysed frames too.
    icmp: pd.DataFrame = field(default_factory=lambda: _empty_icmp())
    #: Fragments of frames before this capture (decoded earlier, window by window) that a
    #: packet completed here consumed: counted there as ``ip_fragment``, now reassembled.
    reassembled_earlier: int = 0

    def reason_of(self, frame_index: np.ndarray) -> list[str]:
        """Skip reason names ("" for analysed frames) of 0-based frame indices."""
        return [REASON_NAMES.get(int(c), "") for c in self.frame_reason[frame_index]]


def decode(
    capture: Capture, *, common: bool = True, defragmenter: Defragmenter | None = None
) -> Decoded:
    """``common``: let the compiled core decode the Ethernet/IPv4/TCP frames
    (``ethernet_ipv4_tcp.py``); False: the numpy layers decode every frame (the reference).
    ``defragmenter``: the fragments still waiting from the frames before ``capture`` (a
    capture decoded window by window); by default the capture is all there is."""
    decoded, fragments = _decode_layers(capture, common)
    if not fragments:  # the common case: no fragment, nothing more to do
        return decoded
    defragmenter = Defragmenter() if defragmenter is None else defragmenter
    packets = [p for f in fragments if (p := defragmenter.add(f)) is not None]
    return _with_reassembled(capture, decoded, packets) if packets else decoded


def _decode_layers(capture: Capture, common: bool) -> tuple[Decoded, list[Fragment]]:
    """The frames of ``capture`` through the layers, and the IP fragments among them (each
    counted as ``ip_fragment`` so far)."""
    n = capture.frames
    start = capture.offset
    end = capture.offset + capture.caplen
    cur = FrameCursor(
        data=capture.data,
        end=end,
        wire_end=capture.offset + np.maximum(capture.origlen, capture.caplen),
        reason=np.zeros(n, dtype=np.int8),
    )
    fast = common_frames(capture) if common else None
    if fast is not None:
        cur.reason[fast.idx] = DECODED_BY_CORE  # not alive: every layer below passes them by
    cur.skip(np.flatnonzero(capture.truncated_mask), SkipReason.TRUNCATED_RECORD)
    l3, etype = link_layer(cur, start, capture.link_type)
    net = network_layer(cur, l3, etype)
    inner = np.arange(n, dtype=np.int64)
    for depth in range(MAX_TUNNEL_DEPTH + 1):
        inner = open_tunnels(cur, net, l3, etype, inner, too_deep=depth == MAX_TUNNEL_DEPTH)
        if not inner.size:
            break
        network_layer(cur, l3, etype, net=net, idx=inner)
    skip_non_tcp(cur, net)  # keeps ICMP: its errors may quote TCP
    is_tcp = net.protocol == PROTO_TCP
    errors = icmp_layer(
        cur, cur.alive(np.flatnonzero((net.l4 >= 0) & ~is_tcp)), net.l4, net.ip_version,
        net.src_hi, net.src_lo,
    )  # fmt: skip
    tcp = tcp_layer(cur, np.where(is_tcp, net.l4, -1), net.l4_len)
    opts = tcp_options(capture.data, tcp.options_start, tcp.options_end, tcp.payload_start, tcp.ack)
    cut_syn = (tcp.options_end < tcp.payload_start) & ((tcp.flags & SYN) != 0)
    opts.wscale[cut_syn & (opts.wscale < 0)] = WSCALE_CUT
    idx = tcp.idx
    at = _frames_of(idx, n)
    columns = {
        "ip_version": at(net.ip_version),
        "src_hi": at(net.src_hi),
        "src_lo": at(net.src_lo),
        "dst_hi": at(net.dst_hi),
        "dst_lo": at(net.dst_lo),
        "sport": tcp.sport,
        "dport": tcp.dport,
        "ip_id": at(net.ip_id),
        "ttl": at(net.ttl),
        "seq": tcp.seq,
        "ack": tcp.ack,
        "flags": tcp.flags,
        "window": tcp.window,
        "seg_len": tcp.seg_len,
        "mss": opts.mss,
        "wscale": opts.wscale,
        "sack_perm": opts.sack_perm,
        "has_ts": opts.has_ts,
        "ts_val": opts.ts_val,
        "ts_ecr": opts.ts_ecr,
        "sack_blocks": opts.sack_blocks,
        "sack_le": opts.sack_le,
        "sack_re": opts.sack_re,
        "dsack": opts.dsack,
        # Where the payload starts inside the frame's captured bytes: the app stage reads the
        # first payloads of each connection there, before the capture buffer is released.
        "payload_at": tcp.payload_start - start[idx],
    }
    columns = _typed(columns)  # the core's columns come typed: merged, they stay so
    if fast is not None:
        cur.reason[fast.idx] = ALIVE
        idx, columns = _with_common(idx, columns, fast)
    at = _frames_of(idx, n)
    columns |= _typed({"frame": at(capture.frame), "time_ns": at(capture.time_ns)})
    # The captured bytes end before the TCP header does: the snaplen cut its options.
    columns["options_cut"] = at(capture.caplen) < columns["payload_at"]
    # copy=False: one array per column, as built (pandas would otherwise copy every column
    # into 2-D blocks per dtype: about a second and a gigabyte of page faults on 3 M segments).
    segments = pd.DataFrame({name: columns[name] for name in SEGMENT_COLUMNS}, copy=False)
    reason = _final_reasons(cur.reason, np.concatenate([idx, errors.idx]))
    decoded = Decoded(
        icmp=_icmp_table(capture, errors) if errors.idx.size else _empty_icmp(),
        segments=segments,
        skipped=_skip_counts(reason),
        link_types=_link_names(capture),
        frame_reason=reason,
    )
    held = np.flatnonzero(reason == REASON_CODES[SkipReason.IP_FRAGMENT])
    if not held.size:
        return decoded, []
    return decoded, fragments_of(cur, held, l3, etype, start, capture.frame)


def _with_reassembled(capture: Capture, decoded: Decoded, packets: list[Reassembled]) -> Decoded:
    """``decoded`` with the reassembled ``packets`` decoded in their frames (Wireshark's
    place: the frame whose fragment completed the packet), their other fragments counted as
    ``ip_fragment_reassembled``, rows still in frame order."""
    inner, _ = _decode_layers(_packets_capture(capture, packets), common=False)
    first = int(capture.frame[0])
    at = np.array([p.last.frame - first for p in packets], np.int64)
    reason = decoded.frame_reason.copy()
    reason[at] = inner.frame_reason  # TCP (0) or whatever the whole packet is
    consumed = np.array([f for p in packets for f in p.consumed], np.int64) - first
    reason[consumed[consumed >= 0]] = REASON_CODES[SkipReason.IP_FRAGMENT_REASSEMBLED]
    segments = inner.segments
    if len(segments):
        of = np.searchsorted(at + first, segments["frame"].to_numpy(np.int64))
        at_in_frame = payload_in_frames(
            packets,
            of,
            segments["payload_at"].to_numpy(np.int64),
            segments["seg_len"].to_numpy(np.int64),
        )
        segments = segments.assign(payload_at=at_in_frame.astype(SEGMENT_COLUMNS["payload_at"]))
    return Decoded(
        segments=_in_frame_order(decoded.segments, segments),
        skipped=_skip_counts(reason),
        link_types=decoded.link_types,
        frame_reason=reason,
        icmp=_in_frame_order(decoded.icmp, inner.icmp),
        reassembled_earlier=int(np.count_nonzero(consumed < 0)),
    )


def _packets_capture(capture: Capture, packets: list[Reassembled]) -> Capture:
    """The reassembled packets as frames of raw IP, numbered and timed as the frames whose
    fragment completed them."""
    sizes = np.array([len(p.packet) for p in packets], np.int64)
    at = np.array([p.last.frame for p in packets], np.int64) - int(capture.frame[0])
    return Capture(
        path=capture.path,
        format=capture.format,
        frame=capture.frame[at],
        time_ns=capture.time_ns[at],
        link_type=np.full(len(packets), LINKTYPE_RAW, np.int32),
        offset=np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64),
        caplen=sizes,
        origlen=sizes,
        data=np.frombuffer(b"".join(p.packet for p in packets), np.uint8),
    )


def _in_frame_order(table: pd.DataFrame, more: pd.DataFrame) -> pd.DataFrame:
    """Rows of both tables (each in frame order, no frame in both) by frame."""
    if not len(more):
        return table
    both = pd.concat([table, more], ignore_index=True)
    order = np.argsort(both["frame"].to_numpy(np.int64), kind="stable")
    return both.take(order).reset_index(drop=True)


def _typed(columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The columns in their ``SEGMENT_COLUMNS`` dtypes (no copy where they have it)."""
    return {
        name: np.asarray(column).astype(SEGMENT_COLUMNS[name], copy=False)
        for name, column in columns.items()
    }


#: ``FrameCursor.reason`` of a frame the compiled core decoded (``ethernet_ipv4_tcp.py``)
#: while the numpy layers run over the others; alive again before the accounting.
DECODED_BY_CORE = -1


def _with_common(
    idx: np.ndarray, columns: dict[str, np.ndarray], fast: CommonFrames
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The numpy layers' segments (frames ``idx``) and the core's, in frame order."""
    m = fast.idx.shape[0]
    core: dict[str, np.ndarray] = {
        **fast.columns,
        "ip_version": np.full(m, 4, np.uint8),  # IPv4: no high address halves
        "src_hi": np.zeros(m, np.uint64),
        "dst_hi": np.zeros(m, np.uint64),
    }
    if not idx.size:
        return fast.idx, {name: core[name] for name in columns}
    both = np.concatenate([idx, fast.idx])
    order = np.argsort(both, kind="stable")
    merged = {name: np.concatenate([columns[name], core[name]])[order] for name in columns}
    return both[order], merged


def _frames_of(idx: np.ndarray, n: int) -> Callable[[np.ndarray], np.ndarray]:
    """How to take a per-frame column at the segments' frames ``idx`` (ascending, distinct):
    the column itself when every frame is a segment (a capture filtered to TCP), else a gather."""
    if idx.shape[0] == n:
        return lambda column: column
    return lambda column: column[idx]


def _icmp_table(capture: Capture, errors: IcmpFrames) -> pd.DataFrame:
    icmp = pd.DataFrame(
        {
            "frame": capture.frame[errors.idx],
            "time_ns": capture.time_ns[errors.idx],
            **errors.columns,
        }
    )
    return icmp.astype(ICMP_COLUMNS)


def _empty_icmp() -> pd.DataFrame:
    return empty_table()


def _final_reasons(reason: np.ndarray, analysed: np.ndarray) -> np.ndarray:
    unclaimed = reason == ALIVE
    unclaimed[analysed] = False
    # Safety net: a frame no layer kept and no layer skipped would break the accounting.
    reason = reason.copy()
    reason[unclaimed] = REASON_CODES[SkipReason.MALFORMED]
    return reason


def _skip_counts(reason: np.ndarray) -> dict[str, int]:
    counts = np.bincount(reason, minlength=len(REASON_CODES) + 1)
    return {r.value: int(counts[code]) for r, code in REASON_CODES.items() if counts[code]}


def _link_names(capture: Capture) -> list[str]:
    """The link types of the frames, by first appearance."""
    link_type = capture.link_type
    if len(link_type) and bool((link_type == link_type[0]).all()):
        seen = link_type[:1]  # one link type (nearly every capture): no sort of every frame
    else:
        values, first = np.unique(link_type, return_index=True)
        seen = values[np.argsort(first)]
    names: list[str] = []
    for v in seen:
        name = linktype_name(int(v))
        if name not in names:
            names.append(name)
    return names
