"""IP fragment reassembly (decode/fragments.py): crafted fragments through ``decode``.

The packet is analysed in the frame of the fragment that completed it (Wireshark's place),
the other fragments count as ip_fragment_reassembled; fragments that make no packet stay
ip_fragment. Every frame is accounted for.
"""

from __future__ import annotations

import io
import struct

import pytest
from builders.capture_files import pcap
from builders.frames import ACK, ethernet, ipv4, ipv6, tcp, udp

from pcapline.app.payloads import first_payloads
from pcapline.decode import Decoded, Defragmenter, decode, fragments
from pcapline.decode.fragments import Fragment
from pcapline.flows import build_flows
from pcapline.read import read_capture
from pcapline.read.capture import Capture

PAYLOAD = bytes(range(256)) * 8  # 2048 distinct-enough bytes
SEG = tcp(seq=1, ack=2, flags=ACK, payload=PAYLOAD)  # 20-byte header + 2048
MF = 0x2000


def _v4(piece: slice, *, more: bool, ident: int = 7, body: bytes = SEG) -> bytes:
    """An IPv4 fragment of ``body`` (the TCP segment) holding bytes ``piece`` of it."""
    assert piece.start % 8 == 0
    frag = (MF if more else 0) | piece.start // 8
    return ethernet(ipv4(body[piece], ident=ident, frag=frag, proto=6))


def _v6(piece: slice, *, more: bool, ident: int = 9, ext: bytes = b"") -> bytes:
    """An IPv6 fragment (behind the extension headers ``ext``) of SEG's bytes ``piece``."""
    word = piece.start | int(more)  # offset in 8-byte units in the top 13 bits, M lowest
    fragment = bytes([6, 0]) + struct.pack("!HI", word, ident)
    first = 0 if ext else 44  # a hop-by-hop header first when ``ext`` is given
    return ethernet(ipv6(SEG[piece], next_header=first, ext=ext + fragment), ethertype=0x86DD)


def _decode(frames: list[bytes]) -> Decoded:
    return decode(read_capture(io.BytesIO(pcap(frames))))


def _accounted(dec: Decoded, frames: int) -> None:
    assert len(dec.segments) + len(dec.icmp) + sum(dec.skipped.values()) == frames


THREE = [slice(0, 800), slice(800, 1600), slice(1600, None)]


def test_fragments_in_order_make_the_segment_in_the_last_frame() -> None:
    frames = [_v4(p, more=i < 2) for i, p in enumerate(THREE)]
    dec = _decode(frames)
    seg = dec.segments
    assert seg["frame"].tolist() == [3]
    assert (seg["seq"].iloc[0], seg["ack"].iloc[0], seg["seg_len"].iloc[0]) == (1, 2, 2048)
    assert dec.skipped == {"ip_fragment_reassembled": 2}
    _accounted(dec, 3)


def test_out_of_order_fragments_complete_in_the_frame_that_fills_the_hole() -> None:
    # Linux sends the last fragment first at times; the packet is whole at the third frame,
    # the one carrying the middle piece (Wireshark's place for it).
    frames = [_v4(THREE[2], more=False), _v4(THREE[0], more=True), _v4(THREE[1], more=True)]
    dec = _decode(frames)
    assert dec.segments["frame"].tolist() == [3]
    assert dec.segments["seg_len"].tolist() == [2048]
    assert dec.skipped == {"ip_fragment_reassembled": 2}


def test_a_missing_piece_leaves_every_fragment_skipped() -> None:
    dec = _decode([_v4(THREE[0], more=True), _v4(THREE[2], more=False)])
    assert dec.segments.empty
    assert dec.skipped == {"ip_fragment": 2}


def test_overlapping_pieces_that_disagree_are_not_reassembled() -> None:
    other = bytes(len(SEG))  # zeros where the real bytes differ
    frames = [
        _v4(slice(0, 1600), more=True),
        _v4(slice(800, 1600), more=True, body=other),  # rewrites bytes already seen
        _v4(THREE[2], more=False),
    ]
    dec = _decode(frames)
    assert dec.segments.empty
    assert dec.skipped == {"ip_fragment": 3}


def test_overlapping_pieces_that_agree_are_reassembled() -> None:
    frames = [
        _v4(slice(0, 1600), more=True),
        _v4(slice(800, 1600), more=True),  # the same bytes again
        _v4(THREE[2], more=False),
    ]
    dec = _decode(frames)
    assert dec.segments["frame"].tolist() == [3]
    assert dec.skipped == {"ip_fragment_reassembled": 2}


def test_fragments_of_other_datagrams_do_not_mix() -> None:
    frames = [
        _v4(THREE[0], more=True, ident=1),
        _v4(THREE[0], more=True, ident=2),
        _v4(slice(800, None), more=False, ident=2),
        _v4(slice(800, None), more=False, ident=1),
    ]
    dec = _decode(frames)
    assert dec.segments["frame"].tolist() == [3, 4]
    assert dec.skipped == {"ip_fragment_reassembled": 2}


def test_a_packet_over_64k_is_not_reassembled() -> None:
    big = tcp(seq=1, ack=2, flags=ACK, payload=b"x" * 65_600)
    frames = [_v4(slice(i, i + 8192), more=True, body=big) for i in range(0, 65_536, 8192)] + [
        _v4(slice(65_536, None), more=False, body=big)
    ]
    dec = _decode(frames)
    assert dec.segments.empty
    assert dec.skipped == {"ip_fragment": len(frames)}


def test_a_fragment_cut_by_the_snaplen_is_not_used() -> None:
    first = _v4(THREE[0], more=True)
    dec = _decode([(first[:100], len(first)), _v4(slice(800, None), more=False)])
    assert dec.skipped == {"ip_fragment": 2}


def test_ipv6_fragments_behind_an_extension_header() -> None:
    hop_by_hop = bytes([44, 0]) + b"\x01\x04\x00\x00\x00\x00"  # 8 bytes -> Fragment
    frames = [
        _v6(slice(1600, None), more=False, ext=hop_by_hop),
        _v6(slice(0, 1600), more=True, ext=hop_by_hop),
    ]
    dec = _decode(frames)
    seg = dec.segments
    assert seg["frame"].tolist() == [2]
    assert (seg["ip_version"].iloc[0], seg["seg_len"].iloc[0]) == (6, 2048)
    assert dec.skipped == {"ip_fragment_reassembled": 1}


def test_ipv6_fragments_with_the_fragment_header_first() -> None:
    dec = _decode([_v6(slice(0, 1600), more=True), _v6(slice(1600, None), more=False)])
    assert dec.segments["seg_len"].tolist() == [2048]


def test_a_fragmented_tunnel_packet_is_opened_after_reassembly() -> None:
    inner = ipv4(SEG, src="192.168.1.1", dst="192.168.1.2")
    outer = inner  # IPv4-in-IPv4: the outer payload is the inner packet
    frames = [
        ethernet(ipv4(outer[:1200], proto=4, ident=3, frag=MF)),
        ethernet(ipv4(outer[1200:], proto=4, ident=3, frag=1200 // 8)),
    ]
    dec = _decode(frames)
    assert dec.segments["frame"].tolist() == [2]
    assert dec.segments["src_lo"].tolist() == [0xC0A80101]


def test_a_reassembled_packet_that_is_not_tcp_counts_as_such() -> None:
    datagram = udp(payload=b"u" * 1500)
    frames = [
        ethernet(ipv4(datagram[:800], proto=17, frag=MF)),
        ethernet(ipv4(datagram[800:], proto=17, frag=800 // 8)),
    ]
    dec = _decode(frames)
    assert dec.skipped == {"not_tcp": 1, "ip_fragment_reassembled": 1}


def test_payload_is_read_only_where_the_completing_fragment_holds_it_whole() -> None:
    # The TCP header and payload start in the first fragment: the app stage must not read
    # the second frame's bytes as the start of the payload.
    request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + b"h" * 1200
    seg = tcp(seq=1, ack=2, flags=ACK, payload=request)
    frames = [_v4(slice(0, 800), more=True, body=seg), _v4(slice(800, None), more=False, body=seg)]
    capture = read_capture(io.BytesIO(pcap(frames)))
    segments, _ = build_flows(decode(capture).segments)
    assert first_payloads(segments, capture) == {}
    # A packet whose payload sits whole in the completing fragment is read there.
    request = b"GET / HTTP/1.1\r\n\r\n"
    seg = tcp(seq=1, ack=2, flags=ACK, payload=request)
    frames = [_v4(slice(0, 16), more=True, body=seg), _v4(slice(16, None), more=False, body=seg)]
    capture = read_capture(io.BytesIO(pcap(frames)))
    segments, _ = build_flows(decode(capture).segments)
    assert segments["frame"].tolist() == [2]
    assert [first.data for first in first_payloads(segments, capture).values()] == [request]


def _window(capture: Capture, lo: int, hi: int) -> Capture:
    return Capture(
        path=capture.path,
        format=capture.format,
        frame=capture.frame[lo:hi],
        time_ns=capture.time_ns[lo:hi],
        link_type=capture.link_type[lo:hi],
        offset=capture.offset[lo:hi],
        caplen=capture.caplen[lo:hi],
        origlen=capture.origlen[lo:hi],
        data=capture.data,
    )


def test_a_capture_decoded_in_windows_reassembles_across_them() -> None:
    frames = [_v4(p, more=i < 2) for i, p in enumerate(THREE)]
    capture = read_capture(io.BytesIO(pcap(frames)))
    defragmenter = Defragmenter()
    first = decode(_window(capture, 0, 2), defragmenter=defragmenter)
    second = decode(_window(capture, 2, 3), defragmenter=defragmenter)
    assert first.skipped == {"ip_fragment": 2} and first.segments.empty
    assert second.segments["frame"].tolist() == [3]
    assert second.reassembled_earlier == 2 and second.skipped == {}


KEY = (4, b"\x0a\0\0\x01", b"\x0a\0\0\x02", 7, 6)
HEAD = ipv4(b"", ident=7)  # the 20-byte IPv4 header of every piece


def _piece(frame: int, offset: int, data: bytes, *, more: bool = True, ident: int = 7) -> Fragment:
    """A fragment as ``fragments_of`` makes it: ``data`` at ``offset`` of datagram ``ident``."""
    return Fragment(frame, (*KEY[:3], ident, KEY[4]), offset, more, data, HEAD, 34, 34 + len(data))


def test_unfinished_datagrams_are_bounded_oldest_dropped_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Each datagram: one 40-byte piece, its header, its bookkeeping; room for two of them.
    one = 40 + len(HEAD) + fragments.DATAGRAM_OVERHEAD + fragments.PIECE_OVERHEAD
    monkeypatch.setattr(fragments, "MAX_PENDING_BYTES", 2 * one)
    defragmenter = Defragmenter()
    for ident in range(5):
        assert defragmenter.add(_piece(ident + 1, 0, b"x" * 40, ident=ident)) is None
    assert defragmenter.pending_bytes == 2 * one
    assert [key[3] for key in defragmenter.pending] == [3, 4]  # the newest kept


def test_pending_bytes_charge_the_buffer_and_every_piece() -> None:
    defragmenter = Defragmenter()
    datagram, piece = fragments.DATAGRAM_OVERHEAD, fragments.PIECE_OVERHEAD
    # The last piece first: the buffer holds the 1,600 bytes before it already.
    defragmenter.add(_piece(1, 1600, b"z" * 48, more=False))
    assert defragmenter.pending_bytes == datagram + piece + 1648
    # Eight-byte pieces apart from each other: each charged its bookkeeping, not 8 bytes.
    for k in range(10):
        defragmenter.add(_piece(k + 2, 16 * k, b"y" * 8))
    held = datagram + 11 * piece + 1648 + len(HEAD)  # the piece at 0 brought the header
    assert defragmenter.pending_bytes == held
    assert defragmenter.add(_piece(12, 8, b"q" * 8)) is None  # fills a gap
    assert defragmenter.pending_bytes == held + piece
    assert defragmenter.add(_piece(13, 0, b"w" * 8)) is None  # disagrees with frame 2: fails
    assert defragmenter.pending == {} and defragmenter.pending_bytes == 0


def test_a_datagram_of_thousands_of_pieces_is_reassembled_in_one_pass() -> None:
    # 8-byte pieces, as many as a packet holds (8,189: 65,512 bytes and the header), the even
    # ones first so that thousands of ranges stand apart before the odd ones join them, a few
    # sent again after. Each laid once: rebuilding the datagram per piece took over a minute.
    size = 65_512
    pieces = size // 8
    payload = bytes(k * 7 % 251 for k in range(size))
    order = [*range(0, pieces, 2), *range(pieces - 2, 0, -2), 10, 11, 4000]
    defragmenter = Defragmenter()
    out = [
        defragmenter.add(_piece(frame, 8 * k, payload[8 * k : 8 * k + 8], more=k < pieces - 1))
        for frame, k in enumerate(order, 1)
    ]
    done = [p for p in out if p is not None]
    assert len(done) == 1 and out[-1] is None  # whole at the last odd piece; later ones new
    (packet,) = done
    assert packet.packet == ipv4(payload, ident=7)  # HEAD, its length set, then the payload
    assert packet.last.frame == len(order) - 3
    assert len(packet.consumed) == pieces - 1
    assert len(defragmenter.pending) == 1  # the three sent again start a datagram of their own


def test_a_datagram_of_more_pieces_than_a_packet_can_have_fails() -> None:
    defragmenter = Defragmenter()
    piece = b"r" * 8  # the same piece sent again and again: every copy agrees
    for frame in range(1, fragments.MAX_PIECES + 1):
        assert defragmenter.add(_piece(frame, 800, piece)) is None
    assert len(defragmenter.pending) == 1
    assert defragmenter.add(_piece(fragments.MAX_PIECES + 1, 800, piece)) is None
    assert defragmenter.pending == {} and defragmenter.pending_bytes == 0
    # A piece after it starts a new datagram, which may still complete.
    assert defragmenter.add(_piece(9_000, 0, b"s" * 800)) is None
    assert defragmenter.add(_piece(9_001, 800, piece, more=False)) is not None


@pytest.mark.parametrize(
    "pieces",
    [
        pytest.param([(800, 1600, False), (800, 2068, False), (0, 800, True)], id="two-ends"),
        pytest.param([(1600, 2068, False), (0, 800, True), (800, 2072, True)], id="past-end"),
    ],
)
def test_pieces_that_cannot_end_one_packet_stay_fragments(
    pieces: list[tuple[int, int, bool]],
) -> None:
    body = SEG + b"\0" * 8  # room for the piece past the end
    dec = _decode([_v4(slice(lo, hi), more=more, body=body) for lo, hi, more in pieces])
    assert dec.segments.empty
    assert dec.skipped == {"ip_fragment": 3}
