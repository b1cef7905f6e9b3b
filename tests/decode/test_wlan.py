"""802.11 data frames, plain and behind radiotap (with TSFT, extended bitmaps, data pad)."""

from __future__ import annotations

import io
import struct

import pytest
from builders.capture_files import pcap
from builders.frames import SYN, ipv4, tcp

from pcapline.decode import decode
from pcapline.read import read_capture

PKT = ipv4(tcp(sport=5555, dport=80, seq=42, flags=SYN))
SNAP = b"\xaa\xaa\x03\x00\x00\x00\x08\x00"
ADDRS = b"\x02\x00\x00\x00\x00\x01" * 3 + b"\x00\x00"  # addr1-3 + sequence control


def dot11(
    subtype: int = 0, fc1: int = 0x01, qos: bool = False, four_addr: bool = False, pad: int = 0
) -> bytes:
    fc0 = (2 << 2) | ((subtype | (8 if qos else 0)) << 4)
    head = bytes([fc0, fc1 | (0x03 if four_addr else 0)]) + b"\x00\x00" + ADDRS
    if four_addr:
        head += b"\x02\x00\x00\x00\x00\x04"
    if qos:
        head += b"\x00\x00"
    return head + b"\x00" * pad + SNAP + PKT


def radiotap(frame: bytes, tsft: bool = False, datapad: bool = False, ext_words: int = 0) -> bytes:
    present = (1 << 1) | (1 if tsft else 0) | ((1 << 31) if ext_words else 0)
    words = [present] + [(1 << 31) if i < ext_words - 1 else 0 for i in range(ext_words)]
    body = b"".join(struct.pack("<I", w) for w in words)
    fields = b""
    if tsft:
        fields += b"\x00" * (-(4 + len(body)) % 8) + b"\x11" * 8
    fields += bytes([RT_DATAPAD if datapad else 0])
    length = 4 + len(body) + len(fields)
    return struct.pack("<BBH", 0, 0, length) + body + fields + frame


RT_DATAPAD = 0x20


def _decode(frame: bytes, linktype: int):
    return decode(read_capture(io.BytesIO(pcap([frame], linktype=linktype))))


@pytest.mark.parametrize(
    ("linktype", "frame"),
    [
        (105, dot11()),
        (105, dot11(qos=True)),
        (105, dot11(four_addr=True)),
        (127, radiotap(dot11())),
        (127, radiotap(dot11(qos=True, pad=2), datapad=True)),  # 26-byte QoS header padded to 28
        (127, radiotap(dot11(), tsft=True, ext_words=2)),
    ],
)
def test_data_frames_carry_tcp(linktype: int, frame: bytes) -> None:
    dec = _decode(frame, linktype)
    assert dec.skipped == {}
    assert dec.segments[["sport", "dport", "seq"]].values.tolist() == [[5555, 80, 42]]


def test_protected_null_and_management_frames_are_not_ip() -> None:
    protected = dot11(fc1=0x41)
    null_data = bytes([0x48, 0x01]) + dot11()[2:]  # subtype 4: null function
    beacon = bytes([0x80, 0x00]) + dot11()[2:]  # type 0 (management), subtype 8
    for frame in (protected, null_data, beacon):
        assert _decode(radiotap(frame), 127).skipped == {"not_ip": 1}
