"""pcapng: per-interface link types and timestamp resolutions, several sections."""

from __future__ import annotations

import struct

import pytest
from builders.capture_files import epb, idb, obsolete_pb, shb, spb
from builders.frames import SYN, ethernet, ipv4, null, tcp

from pcapline.errors import CaptureError
from pcapline.read import read_capture

SEC = 1_700_000_000
SEC_TICK_NS = 1_000  # one tick of the default if_tsresol (microseconds), in ns
PKT = ipv4(tcp(flags=SYN))


def test_interfaces_with_mixed_link_types_and_resolutions(tmp_path) -> None:
    data = (
        shb()
        + idb(1)  # Ethernet, default µs
        + idb(101, tsresol=9)  # raw IP, ns
        + idb(0, tsresol=0x80 | 20, tsoffset=100)  # NULL, 2^-20 s units, +100 s
        + epb(0, SEC * 1_000_000 + 5, ethernet(PKT))
        + epb(1, SEC * 1_000_000_000 + 7, PKT)
        + epb(2, (SEC << 20) | (1 << 19), null(PKT))  # + half a second
    )
    path = tmp_path / "multi.pcapng"
    path.write_bytes(data)
    cap = read_capture(path)
    assert cap.format == "pcapng"
    assert cap.link_type.tolist() == [1, 101, 0]
    assert cap.time_ns.tolist() == [
        SEC * 10**9 + 5_000,
        SEC * 10**9 + 7,
        (SEC + 100) * 10**9 + 500_000_000,
    ]
    assert bytes(cap.data[cap.offset[1] : cap.offset[1] + cap.caplen[1]]) == PKT


def test_each_section_resets_interfaces_and_may_change_byte_order(tmp_path) -> None:
    data = (
        shb("<")
        + idb(1, "<")
        + epb(0, 1_000_000, ethernet(PKT), "<")
        + shb(">")
        + idb(101, ">", tsresol=3)  # ms
        + epb(0, 2_000, PKT, ">")
    )
    path = tmp_path / "sections.pcapng"
    path.write_bytes(data)
    cap = read_capture(path)
    assert cap.link_type.tolist() == [1, 101]
    assert cap.time_ns.tolist() == [10**9, 2 * 10**9]


def test_simple_and_obsolete_packet_blocks(tmp_path) -> None:
    data = shb() + idb(101) + spb(PKT) + obsolete_pb(0, 3_000_000, PKT)
    path = tmp_path / "old.pcapng"
    path.write_bytes(data)
    cap = read_capture(path)
    assert cap.frames == 2
    assert cap.caplen.tolist() == [len(PKT), len(PKT)]
    assert cap.time_ns[1] == 3 * 10**9


def test_a_simple_packet_block_takes_the_time_of_the_frame_before_it(tmp_path) -> None:
    """An SPB has no timestamp. Read as 0 it put one frame of a 7 ms connection in 1970: a
    16m40s duration and a "timestamps go backwards" warning. It follows the frame before it
    in the file: that frame's time, and a warning that says so."""
    us = 1_000_000_000  # ticks of the default resolution (microseconds) in 1000 s
    data = shb() + idb(101) + epb(0, us, PKT) + spb(PKT) + epb(0, us + 7000, PKT)
    path = tmp_path / "spb.pcapng"
    path.write_bytes(data)
    cap = read_capture(path)
    assert cap.time_ns.tolist() == [1000 * 10**9, 1000 * 10**9, 1000 * 10**9 + 7_000_000]
    assert cap.warnings == [
        "1 Simple Packet Block(s) carry no timestamp (the first is frame 2): each is given "
        "the time of the frame before it (none before it: 0, 1970)"
    ]


def test_packet_for_undescribed_interface_stops_reading(tmp_path) -> None:
    data = shb() + idb(1) + epb(0, 1, ethernet(PKT)) + epb(3, 2, ethernet(PKT))
    path = tmp_path / "iface.pcapng"
    path.write_bytes(data)
    cap = read_capture(path)
    assert cap.frames == 1
    assert "interface 3" in cap.warnings[0]


def test_truncated_last_block(tmp_path) -> None:
    data = shb() + idb(1) + epb(0, 1, ethernet(PKT)) + epb(0, 2, ethernet(PKT))
    path = tmp_path / "cut.pcapng"
    path.write_bytes(data[:-20])
    cap = read_capture(path)
    assert cap.frames == 2 and cap.truncated_records == 1
    assert cap.caplen[1] < len(ethernet(PKT))


@pytest.mark.parametrize("version", [(0, 1), (1, 1), (2, 0)])
def test_unsupported_section_versions(tmp_path, version) -> None:
    path = tmp_path / "v.pcapng"
    path.write_bytes(shb(version=version) + idb(1) + epb(0, 1, ethernet(PKT)))
    with pytest.raises(CaptureError, match="version"):
        read_capture(path)


def test_first_block_must_be_a_section_header(tmp_path) -> None:
    path = tmp_path / "nosection.pcapng"
    # A valid SHB type but then a broken byte-order magic.
    path.write_bytes(b"\x0a\x0d\x0d\x0a" + b"\x1c\x00\x00\x00" + b"\x00" * 20)
    with pytest.raises(CaptureError, match="section header at byte 0 has a bad byte-order magic"):
        read_capture(path)
    path.write_bytes(b"\x0a\x0d\x0d\x0a" + b"\x1c\x00\x00\x00")  # no magic at all
    with pytest.raises(CaptureError, match="section header at byte 0 cut short"):
        read_capture(path)


def test_a_block_whose_trailing_length_differs_is_read_with_a_warning(tmp_path) -> None:
    blocks = [epb(0, k, ethernet(PKT)) for k in (1, 2, 3)]
    damaged = [b[:-4] + struct.pack("<I", len(b) + 4) for b in blocks[1:]]
    path = tmp_path / "trailer.pcapng"
    path.write_bytes(shb() + idb(1) + blocks[0] + b"".join(damaged))
    cap = read_capture(path)
    assert cap.frames == 3
    assert cap.warnings == [
        "2 packet block(s) end with a length other than their own (the first is frame 2): "
        "the file is damaged there; each was read by its leading length"
    ]
    path.write_bytes(shb() + idb(1) + b"".join(blocks))
    assert read_capture(path).warnings == []


@pytest.mark.parametrize("kept", [8, 20, 27, 40])
def test_last_block_cut_inside_its_header_or_data(tmp_path, kept: int) -> None:
    last = epb(0, 2, ethernet(PKT))
    data = shb() + idb(1) + epb(0, 1, ethernet(PKT)) + last[:kept]
    path = tmp_path / "cut.pcapng"
    path.write_bytes(data)
    cap = read_capture(path)
    assert (cap.frames, cap.truncated_records) == (2, 1)
    if kept < 28:  # inside the EPB's 28-byte header: no timestamp of its own, not 1970
        assert cap.warnings == [f"file ends inside the header of record 2 ({kept} of 28 bytes)"]
        assert cap.time_ns.tolist() == [SEC_TICK_NS, SEC_TICK_NS] and cap.last_time_unknown
        assert cap.timed_ns.tolist() == [SEC_TICK_NS]
    else:
        assert cap.warnings == [
            f"file ends inside frame 2 ({kept - 28} of {len(ethernet(PKT))} captured bytes present)"
        ]
        assert cap.time_ns.tolist() == [SEC_TICK_NS, 2 * SEC_TICK_NS] and not cap.last_time_unknown


def test_only_block_cut_inside_its_header_has_no_time(tmp_path) -> None:
    path = tmp_path / "cut1.pcapng"
    path.write_bytes(shb() + idb(1) + epb(0, 1, ethernet(PKT))[:16])
    cap = read_capture(path)
    assert (cap.frames, cap.truncated_records) == (1, 1)
    assert cap.warnings == ["file ends inside the header of record 1 (16 of 28 bytes)"]
    assert cap.timed_ns.size == 0


def test_interfaces_without_packets_still_declare_their_link_types(tmp_path) -> None:
    path = tmp_path / "nopackets.pcapng"
    path.write_bytes(shb() + idb(1) + idb(101))
    cap = read_capture(path)
    assert cap.frames == 0 and cap.declared_link_types == (1, 101)


def test_bad_captured_length_mid_file_keeps_the_frames_before(tmp_path) -> None:
    good = epb(0, 1, ethernet(PKT))
    bad = bytearray(epb(0, 2, ethernet(PKT)))
    bad[20:24] = (500_000).to_bytes(4, "little")  # caplen far beyond the block
    path = tmp_path / "bad.pcapng"
    path.write_bytes(shb() + idb(1) + good + bytes(bad) + good)
    cap = read_capture(path)
    assert cap.frames == 1
    assert "bad captured length" in cap.warnings[0]


def test_absurd_tsoffset_is_ignored_not_an_overflow(tmp_path) -> None:
    path = tmp_path / "off.pcapng"
    path.write_bytes(shb() + idb(1, tsoffset=2**62) + epb(0, 5_000_000, ethernet(PKT)))
    assert read_capture(path).time_ns.tolist() == [5 * 10**9]
