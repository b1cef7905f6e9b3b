"""Classic pcap: both byte orders, µs/ns magic, link type masking, damaged records."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from builders.capture_files import pcap
from builders.frames import SYN, ethernet, ipv4, tcp

from pcapline.errors import CaptureError
from pcapline.read import read_capture

T0 = 1_700_000_000_123_456_789


def _frames(n: int) -> list[bytes]:
    return [ethernet(ipv4(tcp(seq=i, flags=SYN))) for i in range(n)]


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("nano", [False, True])
def test_byte_orders_and_resolutions(tmp_path, order: str, nano: bool) -> None:
    frames = _frames(3)
    path = tmp_path / "c.pcap"
    path.write_bytes(pcap(frames, order=order, nano=nano, start_ns=T0, step_ns=1_500))
    cap = read_capture(path)
    assert cap.format == "pcap"
    assert cap.frame.tolist() == [1, 2, 3]
    step = 1_500 if nano else 1_000  # µs files keep whole microseconds
    first = T0 if nano else T0 // 1000 * 1000
    assert cap.time_ns[0] == first
    assert np.diff(cap.time_ns).tolist() in ([step, step], [1000, 2000], [2000, 1000])
    assert cap.link_type.tolist() == [1, 1, 1]
    assert cap.caplen.tolist() == [len(f) for f in frames]
    assert bytes(cap.data[cap.offset[1] : cap.offset[1] + cap.caplen[1]]) == frames[1]
    assert cap.warnings == [] and cap.truncated_records == 0


def test_ns_times_are_exact_integers(tmp_path) -> None:
    path = tmp_path / "ns.pcap"
    path.write_bytes(pcap(_frames(2), nano=True, start_ns=T0, step_ns=1))
    assert read_capture(path).time_ns.tolist() == [T0, T0 + 1]


def test_fcs_bits_in_link_type_are_masked(tmp_path) -> None:
    data = bytearray(pcap(_frames(1)))
    data[20:24] = struct.pack("<I", 0x30000000 | 1)  # "FCS length 3" bits, as the corpus has
    path = tmp_path / "fcs.pcap"
    path.write_bytes(bytes(data))
    assert read_capture(path).link_type.tolist() == [1]


def test_reserved_link_type_bits_rejected(tmp_path) -> None:
    data = bytearray(pcap(_frames(1)))
    data[20:24] = struct.pack("<I", 0x00300001)
    path = tmp_path / "bad.pcap"
    path.write_bytes(bytes(data))
    with pytest.raises(CaptureError, match="reserved"):
        read_capture(path)


def test_truncated_last_record_is_a_frame_with_a_warning(tmp_path) -> None:
    data = pcap(_frames(3))
    path = tmp_path / "cut.pcap"
    path.write_bytes(data[:-10])
    cap = read_capture(path)
    assert cap.frames == 3
    assert cap.truncated_records == 1
    assert cap.truncated_mask.tolist() == [False, False, True]
    assert cap.caplen[2] == len(_frames(3)[2]) - 10
    assert "ends inside frame 3" in cap.warnings[0]


def test_file_ending_inside_a_record_header(tmp_path) -> None:
    data = pcap(_frames(2))
    path = tmp_path / "hdr.pcap"
    path.write_bytes(data + b"\x00" * 7)
    cap = read_capture(path)
    assert cap.frames == 3 and cap.truncated_records == 1 and cap.caplen[2] == 0
    assert cap.warnings == ["file ends inside the header of record 3 (7 of 16 bytes)"]
    assert cap.time_ns[2] == cap.time_ns[1]  # the previous frame's time, never 1970
    assert cap.last_time_unknown and cap.timed_ns.tolist() == cap.time_ns[:2].tolist()


def test_file_ending_inside_the_only_record_header_has_no_time(tmp_path) -> None:
    path = tmp_path / "hdr1.pcap"
    path.write_bytes(pcap([]) + pcap(_frames(1))[24:34])
    cap = read_capture(path)
    assert (cap.frames, cap.truncated_records) == (1, 1)
    assert cap.truncated_mask.tolist() == [True]
    assert cap.warnings == ["file ends inside the header of record 1 (10 of 16 bytes)"]
    assert cap.timed_ns.size == 0  # no first/last time rather than 1970-01-01


def test_file_ending_inside_packet_bytes_says_how_many_are_present(tmp_path) -> None:
    frames = _frames(2)
    path = tmp_path / "data.pcap"
    path.write_bytes(pcap(frames)[:-5])
    cap = read_capture(path)
    assert cap.warnings == [
        f"file ends inside frame 2 ({len(frames[1]) - 5} of {len(frames[1])} captured bytes present)"
    ]
    assert not cap.last_time_unknown and cap.timed_ns.size == 2


def test_timestamps_going_backwards_are_counted_in_one_warning(tmp_path) -> None:
    frames = _frames(5)
    data = bytearray(pcap(frames, start_ns=T0, step_ns=1_000_000))
    # Seconds field of frames 3 and 5 moved one second back (a merged or clock-stepped capture).
    for index in (2, 4):
        at = 24 + sum(16 + len(f) for f in frames[:index])
        data[at : at + 4] = struct.pack("<I", T0 // 10**9 - 1)
    path = tmp_path / "back.pcap"
    path.write_bytes(bytes(data))
    cap = read_capture(path)
    # Frame 3 (T0 + 2 ms, moved to T0 - 1 s + 2 ms) follows frame 2 (T0 + 1 ms): 0.999 s back.
    assert cap.warnings == [
        (
            "timestamps go backwards 2 times by more than 1 ms (first at frame 3, largest 0.999 s): "
            "merged or clock-stepped capture; durations use earliest/latest times"
        )
    ]
    path.write_bytes(pcap(frames[:2], start_ns=T0, step_ns=0))  # equal times are not backwards
    assert read_capture(path).warnings == []
    # Microsecond steps back are multi-queue timestamping jitter on one interface: no warning.
    path.write_bytes(pcap(frames[:3], start_ns=T0, step_ns=-6_000))
    assert read_capture(path).warnings == []


def test_bogus_record_length_stops_with_warning(tmp_path) -> None:
    frames = _frames(3)
    data = bytearray(pcap(frames))
    second = 24 + 16 + len(frames[0])
    data[second + 8 : second + 12] = struct.pack("<I", 10_000_000)
    path = tmp_path / "bogus.pcap"
    path.write_bytes(bytes(data))
    cap = read_capture(path)
    assert cap.frames == 1
    assert "stopped reading" in cap.warnings[0]


def test_bogus_first_record_is_an_error(tmp_path) -> None:
    data = bytearray(pcap(_frames(1)))
    data[32:36] = struct.pack("<I", 0xFFFFFFF0)
    path = tmp_path / "bogus1.pcap"
    path.write_bytes(bytes(data))
    with pytest.raises(CaptureError):
        read_capture(path)


def test_header_only_file_has_no_frames(tmp_path) -> None:
    path = tmp_path / "empty.pcap"
    path.write_bytes(pcap([]))
    cap = read_capture(path)
    assert cap.frames == 0 and cap.warnings == []
    assert cap.declared_link_types == (1,)


def test_header_only_capture_reports_the_declared_link_type(tmp_path) -> None:
    from pcapline.analysis import analyze

    path = tmp_path / "raw.pcap"
    path.write_bytes(pcap([], linktype=101))
    info = analyze(path).capture
    assert (info.frames, info.link_types) == (0, ["RAW"])
    assert info.first_time_ns is None and info.last_time_ns is None


def test_cut_only_record_gives_no_capture_time_but_is_counted(tmp_path) -> None:
    from pcapline.analysis import analyze

    path = tmp_path / "hdr1.pcap"
    path.write_bytes(pcap([]) + pcap(_frames(1))[24:30])
    info = analyze(path).capture
    assert info.first_time_ns is None and info.last_time_ns is None
    assert info.frames == info.tcp_frames + sum(info.skipped.values()) == 1
    assert info.skipped == {"truncated_record": 1}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (b"hello world, not a capture", "not a pcap or pcapng"),
        (b"\xd4\xc3\xb2\xa1\x02\x00", "cut short"),
        (struct.pack("<IHHiIII", 0xA1B2C3D4, 1, 4, 0, 0, 65535, 1), "version 1.4"),
        (b"\x04\x22\x4d\x18rest", "lz4"),
    ],
)
def test_unusable_input_raises_one_line_capture_error(
    tmp_path, content: bytes, message: str
) -> None:
    path = tmp_path / "x.pcap"
    path.write_bytes(content)
    with pytest.raises(CaptureError, match=message) as info:
        read_capture(path)
    assert "\n" not in str(info.value)


def test_missing_file_and_directory(tmp_path) -> None:
    with pytest.raises(CaptureError, match="no such file"):
        read_capture(tmp_path / "nope.pcap")
    with pytest.raises(CaptureError, match="directory"):
        read_capture(tmp_path)


def test_kuznetsov_modified_pcap_has_24_byte_record_headers(tmp_path) -> None:
    frames = _frames(2)
    out = [struct.pack("<IHHiIII", 0xA1B2CD34, 2, 4, 0, 0, 65535, 1)]
    for i, f in enumerate(frames):
        # standard 16 bytes, then ifindex, protocol, pkt_type, pad
        out.append(
            struct.pack("<IIII", 1_700_000_000 + i, 0, len(f), len(f))
            + struct.pack("<IHBB", 2, 0x0800, 0, 0)
            + f
        )
    path = tmp_path / "modified.pcap"
    path.write_bytes(b"".join(out))
    cap = read_capture(path)
    assert cap.frames == 2 and cap.warnings == []
    assert bytes(cap.data[cap.offset[1] : cap.offset[1] + cap.caplen[1]]) == frames[1]
    assert cap.time_ns[1] == (1_700_000_001) * 10**9


@pytest.mark.parametrize("order", ["<", ">"])
def test_captures_joined_with_cat_say_so(tmp_path, order: str) -> None:
    # `cat a.pcap b.pcap > all.pcap`: b's file header reads as a record of 0 bytes, then
    # b's first timestamp as a record length. Before: "record 5 at byte 290 claims
    # 1700000000 captured bytes; file damaged", which sent users looking for disk damage
    # while half their capture was not read.
    one = pcap(_frames(3), order=order, start_ns=T0)
    path = tmp_path / "all.pcap"
    path.write_bytes(one + one)
    cap = read_capture(path)
    assert cap.frames == 4  # as tshark and capinfos count: the header's 16 bytes are a record
    # ... whose "time" is the magic number read as seconds (year 2055): the frame has none
    # (it was the capture's last time, 29 years after its first).
    assert cap.time_ns[3] == cap.time_ns[2] and cap.last_time_unknown
    assert cap.timed_ns.max() == cap.time_ns[2]
    assert cap.warnings == [
        f"a second pcap file header at byte {len(one)} (captures joined with cat? join them "
        "with 'mergecap -w OUT.pcap A.pcap B.pcap'), stopped reading there"
    ]


def test_joined_captures_read_in_windows_say_the_same(tmp_path) -> None:
    """The bounded-memory path says the same, also when a window ends right after the second
    header (windows 90, 160 and 255 do here; 64 and 200 do not)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1]))
    from test_spill import assert_same

    one = pcap(_frames(3), start_ns=T0)
    path = tmp_path / "all.pcap"
    path.write_bytes(one + one)
    for window in (64, 90, 160, 200, 255):
        assert_same(path, 1, window)


@pytest.mark.parametrize("nano", [False, True])
def test_impossible_fractions_are_read_carried_and_said_once(tmp_path, nano: bool) -> None:
    """A fraction field of a whole second or more (what tcpdump's timestamp_invalid_* tests
    hold): the writer's bug, carried into the seconds and said in one warning, also when the
    bounded-memory path reads the file in windows."""
    frames = _frames(4)
    data = bytearray(pcap(frames, nano=nano, start_ns=T0, step_ns=0))
    second = 10**9 if nano else 10**6
    for index, fraction in ((1, second), (3, 2 * second + 5)):
        at = 24 + sum(16 + len(f) for f in frames[:index]) + 4
        data[at : at + 4] = struct.pack("<I", fraction)
    path = tmp_path / "bad-fraction.pcap"
    path.write_bytes(bytes(data))
    cap = read_capture(path)
    unit = 1 if nano else 1000  # ns per unit of the fraction field
    whole = T0 // 10**9 * 10**9
    assert cap.time_ns.tolist() == [
        T0 if nano else T0 // 1000 * 1000,
        whole + second * unit,
        cap.time_ns[0],
        whole + (2 * second + 5) * unit,
    ]
    field = "nanoseconds field 1,000,000,000" if nano else "microseconds field 1,000,000"
    said = (
        f"2 frames carry an impossible timestamp ({field} or more; first at frame 2), written "
        "so by the capture's writer: read with the excess carried into the seconds, so times "
        "and delays across such a frame may hold seconds that never passed"
    )
    assert said in cap.warnings
    path.write_bytes(pcap(frames, nano=nano, start_ns=T0, step_ns=999))
    assert read_capture(path).warnings == []


def test_impossible_fractions_read_in_windows_say_the_same(tmp_path) -> None:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1]))
    from test_spill import assert_same

    frames = _frames(6)
    data = bytearray(pcap(frames, start_ns=T0, step_ns=1000))
    for index in (1, 4):
        at = 24 + sum(16 + len(f) for f in frames[:index]) + 4
        data[at : at + 4] = struct.pack("<I", 1_000_000)
    path = tmp_path / "bad-fraction.pcap"
    path.write_bytes(bytes(data))
    for window in (64, 90, 160, 255):
        assert_same(path, 1, window)
