"""The compiled core's Ethernet/IPv4/TCP decode (decode/ethernet_ipv4_tcp.py) gives exactly
what the numpy layers give.

Every comparison decodes the same capture twice, ``decode(capture)`` (the core takes the
common frames) and ``decode(capture, common=False)`` (the numpy layers alone: the reference),
and requires the same segments table (every column, dtype and value), the same skip counts,
the same per-frame skip reasons and the same ICMP table. Inputs: every sample capture, the
corpus (marker ``corpus``), hand-made frames at each edge the core must leave to the numpy
layers, and hypothesis-made frames with bytes overwritten anywhere in their headers, cut by a
snaplen and given any wire length.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from builders.capture_files import pcap
from builders.frames import ACK, SYN, ethernet, ipv4, ipv6, tcp, udp
from fanout import over_files
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from needs import corpus_tcp_files, needs_corpus

from pcapline.decode import decode
from pcapline.decode.ethernet_ipv4_tcp import common_frames
from pcapline.errors import PcaplineError
from pcapline.read import native, read_capture
from pcapline.read.capture import Capture

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted(
    p for p in (ROOT / "sample_captures").iterdir() if ".pcap" in p.name and ".json" not in p.name
)

pytestmark = pytest.mark.skipif(not native.active, reason="the compiled core is not built")


def _differences(capture: Capture) -> list[str]:
    core, numpy_only = decode(capture), decode(capture, common=False)
    out = []
    try:
        pd.testing.assert_frame_equal(core.segments, numpy_only.segments, check_exact=True)
    except AssertionError as exc:
        out.append(f"segments: {str(exc)[:400]}")
    if core.skipped != numpy_only.skipped:
        out.append(f"skipped: {core.skipped} != {numpy_only.skipped}")
    if not np.array_equal(core.frame_reason, numpy_only.frame_reason):
        out.append("frame_reason differs")
    try:
        pd.testing.assert_frame_equal(core.icmp, numpy_only.icmp, check_exact=True)
    except AssertionError as exc:
        out.append(f"icmp: {str(exc)[:400]}")
    return out


def _file_differences(path: Path) -> list[str]:
    try:
        capture = read_capture(str(path))
    except PcaplineError:
        return []
    return [f"{path.name}: {d}" for d in _differences(capture)]


def _capture(tmp_path: Path, frames: list[bytes | tuple[bytes, int]]) -> Capture:
    path = tmp_path / "frames.pcap"
    path.write_bytes(pcap(frames))
    return read_capture(str(path))


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_sample_captures_decode_the_same(path: Path) -> None:
    assert _file_differences(path) == []


@needs_corpus
def test_corpus_captures_decode_the_same() -> None:
    found = [d for one in over_files(_file_differences, corpus_tcp_files()) for d in one]
    assert found == [], "\n".join(found[:10])


SACK_TWO_BLOCKS = b"\x01\x01\x05\x12" + struct.pack("!IIII", 5000, 6000, 9000, 9500)
TCP_OPTS = b"\x02\x04\x05\xb4\x04\x02\x08\x0a" + struct.pack("!II", 7, 9) + b"\x01\x03\x03\x10"

#: (what it is, the frame, whether the core takes it)
EDGES: list[tuple[str, bytes | tuple[bytes, int], bool]] = [
    ("plain SYN with options", ethernet(ipv4(tcp(flags=SYN, options=TCP_OPTS))), True),
    (
        "ACK with two SACK blocks",
        ethernet(ipv4(tcp(ack=5100, flags=ACK, options=SACK_TWO_BLOCKS))),
        True,
    ),
    ("wscale above 14", ethernet(ipv4(tcp(options=b"\x03\x03\x1f\x00"))), True),
    (
        "option length 1 ends the list",
        ethernet(ipv4(tcp(options=b"\x02\x01\x02\x04\x05\xb4\x00\x00"))),
        True,
    ),
    ("option past the header", ethernet(ipv4(tcp(options=b"\x01\x08\x0a\x00"))), True),
    ("EOL then an MSS", ethernet(ipv4(tcp(options=b"\x00\x02\x04\x05\xb4\x00\x00\x00"))), True),
    ("total length 0 (TSO)", ethernet(ipv4(tcp(payload=b"x" * 30), total_length=0)), True),
    ("total length past the wire", ethernet(ipv4(tcp(payload=b"x" * 30), total_length=900)), True),
    ("Ethernet padding", ethernet(ipv4(tcp(flags=ACK))) + b"\x00" * 6, True),
    ("IPv4 options", ethernet(ipv4(tcp(flags=ACK), options=b"\x01\x01\x01\x00")), True),
    ("options cut by the snaplen", (ethernet(ipv4(tcp(options=TCP_OPTS)))[:60], 78), True),
    ("payload cut by the snaplen", (ethernet(ipv4(tcp(payload=b"y" * 100)))[:70], 154), True),
    ("TCP header cut", (ethernet(ipv4(tcp()))[:50], 54), False),
    ("IPv4 options cut", (ethernet(ipv4(tcp(), options=b"\x01" * 8))[:36], 62), False),
    ("VLAN tag", ethernet(ipv4(tcp()), vlans=[(0x8100, 5)]), False),
    ("IPv6", ethernet(ipv6(tcp()), ethertype=0x86DD), False),
    ("fragment", ethernet(ipv4(tcp(), frag=0x2000)), False),
    ("UDP", ethernet(ipv4(udp(), proto=17)), False),
    ("IP-in-IP", ethernet(ipv4(ipv4(tcp()), proto=4)), False),
    ("version 6 in an IPv4 EtherType", ethernet(b"\x65" + ipv4(tcp())[1:]), False),
    ("IHL 4", ethernet(b"\x44" + ipv4(tcp())[1:]), False),
    ("total length below the IHL", ethernet(ipv4(tcp(), total_length=12)), False),
    ("data offset 4", ethernet(ipv4(tcp()[:12] + b"\x40" + tcp()[13:])), False),
    ("data offset past the IP payload", ethernet(ipv4(tcp(), total_length=30)), False),
    ("802.3 length, not an EtherType", ethernet(ipv4(tcp()), ethertype=60), False),
    ("runt", ethernet(b"")[:10], False),
]


def test_edges_decode_the_same_and_the_core_takes_only_the_plain_ones(tmp_path: Path) -> None:
    capture = _capture(tmp_path, [frame for _, frame, _ in EDGES])
    assert _differences(capture) == []
    fast = common_frames(capture)
    assert fast is not None
    taken = set(fast.idx.tolist())
    assert {name: i in taken for i, (name, _, _) in enumerate(EDGES)} == {
        name: expected for name, _, expected in EDGES
    }


BASE = ethernet(ipv4(tcp(seq=1, ack=5100, flags=ACK, options=TCP_OPTS + SACK_TWO_BLOCKS)))


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    writes=st.lists(st.tuples(st.integers(0, len(BASE) - 1), st.integers(0, 255)), max_size=6),
    cut=st.integers(0, len(BASE)),
    extra_wire=st.integers(-20, 1500),
)
def test_damaged_frames_decode_the_same(
    tmp_path: Path, writes: list[tuple[int, int]], cut: int, extra_wire: int
) -> None:
    frame = bytearray(BASE)
    for at, value in writes:
        frame[at] = value
    data = bytes(frame[:cut]) if cut else bytes(frame)
    capture = _capture(tmp_path, [bytes(frame), (data, max(len(data) + extra_wire, 0))])
    assert _differences(capture) == []
