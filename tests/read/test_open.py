"""Compression is sniffed from magic bytes; stdin and file objects work like paths."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import subprocess
import sys

import pytest
import zstandard
from builders.capture_files import pcap
from builders.frames import SYN, ethernet, ipv4, tcp

from pcapline.errors import CaptureError
from pcapline.read import read_capture
from pcapline.spill import spill_capture

PCAP = pcap([ethernet(ipv4(tcp(seq=i, flags=SYN))) for i in range(5)])

COMPRESSORS = {
    "gzip": gzip.compress,
    "bzip2": bz2.compress,
    "xz": lzma.compress,
    "zstd": lambda b: zstandard.ZstdCompressor().compress(b),
}


@pytest.mark.parametrize("kind", sorted(COMPRESSORS))
def test_compressed_input_regardless_of_name(tmp_path, kind: str) -> None:
    path = tmp_path / "capture.pcap"  # misleading name on purpose
    path.write_bytes(COMPRESSORS[kind](PCAP))
    cap = read_capture(path)
    assert cap.frames == 5 and cap.compression == kind
    assert cap.format == "pcap"


def test_damaged_gzip_tail_keeps_the_frames_before_it(tmp_path) -> None:
    packed = gzip.compress(PCAP * 1)
    path = tmp_path / "cut.pcap.gz"
    path.write_bytes(packed[: len(packed) - 12])  # drop the CRC/size trailer and some data
    cap = read_capture(path)
    assert 0 < cap.frames <= 5
    assert any("gzip stream ends early" in w for w in cap.warnings)


#: Per kind: where in a compressed stream of ``BIG`` its end-of-data check lies (bytes from
#: the end): the gzip CRC-32, the zstd content checksum, the xz index.
CHECK_FROM_END = {"gzip": 6, "zstd": 2, "xz": 14}
BIG = pcap([ethernet(ipv4(tcp(seq=i, flags=SYN))) for i in range(3000)])


@pytest.mark.parametrize("kind", sorted(CHECK_FROM_END))
@pytest.mark.parametrize("memory_bounded", [False, True])
def test_a_damaged_check_at_the_end_keeps_every_frame(
    tmp_path, kind: str, memory_bounded: bool
) -> None:
    """Only the stream's final check is wrong (a bit flipped in the gzip CRC, the zstd
    checksum, the xz index): every byte of data decompressed fine, and every frame is read,
    with a warning. Before: the output of the last 64 KiB of input was lost, so a small
    file was "cannot decompress" (exit 2) and a larger one lost its tail unsaid."""
    packed = bytearray(COMPRESSORS[kind](BIG))
    assert len(packed) < 65536 < len(BIG)  # all of it in the input that fails
    packed[-CHECK_FROM_END[kind]] ^= 0xFF
    path = tmp_path / f"damaged.pcap.{kind}"
    path.write_bytes(bytes(packed))
    if memory_bounded:
        with spill_capture(path, 2, directory=str(tmp_path)) as spilled:
            frames, warnings = spilled.info.frames, list(spilled.info.warnings)
    else:
        cap = read_capture(path)
        frames, warnings = cap.frames, cap.warnings
    # zstd holds back its last block (128 KiB at most, ZSTD_BLOCKSIZE_MAX) until the frame's
    # checksum is read: that block is what its damage costs.
    kept = 128 << 10 if kind == "zstd" else len(BIG)
    assert frames == (3000 if kind != "zstd" else -(-(kept - 24) // (16 + 54)))
    assert f"{kind} stream damaged after {kept} bytes" in [w.split(" (")[0] for w in warnings]


def test_a_damaged_check_inside_a_nested_layer_keeps_every_frame(tmp_path) -> None:
    """A .gz.gz whose inner CRC is wrong: the inner layer is read from memory, and is read
    again as a file would be (found by review: in memory it was "cannot decompress")."""
    inner = bytearray(gzip.compress(BIG))
    inner[-CHECK_FROM_END["gzip"]] ^= 0xFF
    path = tmp_path / "nested.pcap.gz.gz"
    path.write_bytes(gzip.compress(bytes(inner)))
    cap = read_capture(path)
    assert cap.frames == 3000
    with spill_capture(path, 2, directory=str(tmp_path)) as spilled:
        assert spilled.info.frames == 3000


def test_nested_compression_is_unwrapped_up_to_three_layers(tmp_path) -> None:
    # Before: "not a pcap or pcapng capture (starts with 1f8b0800)".
    path = tmp_path / "twice.pcap.gz"
    path.write_bytes(gzip.compress(gzip.compress(PCAP)))
    cap = read_capture(path)
    assert (cap.frames, cap.compression, cap.warnings) == (5, "gzip+gzip", [])
    path.write_bytes(gzip.compress(lzma.compress(bz2.compress(PCAP))))
    assert read_capture(path).compression == "gzip+xz+bzip2"
    assert read_capture(io.BytesIO(path.read_bytes())).frames == 5  # stdin / file objects too
    path.write_bytes(gzip.compress(gzip.compress(gzip.compress(gzip.compress(PCAP)))))
    with pytest.raises(
        CaptureError,
        match=r"compressed more than 3 times \(gzip inside gzip inside gzip inside gzip\)",
    ):
        read_capture(path)


def test_garbage_after_gzip_magic_is_a_capture_error(tmp_path) -> None:
    path = tmp_path / "bad.gz"
    path.write_bytes(b"\x1f\x8b" + b"\xff" * 40)
    with pytest.raises(CaptureError, match="cannot decompress gzip"):
        read_capture(path)


def test_file_object_and_stdin() -> None:
    assert read_capture(io.BytesIO(PCAP)).frames == 5
    assert read_capture(io.BytesIO(gzip.compress(PCAP))).frames == 5
    code = "from pcapline.read import read_capture; c = read_capture('-'); print(c.frames, c.path)"
    out = subprocess.run(
        [sys.executable, "-c", code], input=PCAP, capture_output=True, check=True
    ).stdout
    assert out.split() == [b"5", b"-"]


def test_plain_file_is_memory_mapped(tmp_path) -> None:
    path = tmp_path / "plain.pcap"
    path.write_bytes(PCAP)
    cap = read_capture(path)
    assert not cap.data.flags.writeable  # a read-only mmap view, not a private copy


@pytest.mark.parametrize("kind", sorted(COMPRESSORS))
def test_zero_padding_after_the_compressed_stream_is_not_damage(tmp_path, kind: str) -> None:
    # A compressed capture copied off a block device, a tape or a preallocated file ends in
    # zero bytes; gzip(1) ignores them. Before: "gzip stream damaged after 321 bytes
    # (Error -3 while decompressing data: incorrect header check); read what came before"
    # on a capture read whole.
    path = tmp_path / "padded.pcap.gz"
    packed = COMPRESSORS[kind](PCAP)
    path.write_bytes(packed + bytes(4096))
    cap = read_capture(path)
    assert (cap.frames, cap.compression, cap.warnings) == (5, kind, [])
    # Zeros between two members are padding too: the second member is still read.
    path.write_bytes(packed + bytes(512) + COMPRESSORS[kind](b""))
    assert (read_capture(path).frames, read_capture(path).warnings) == (5, [])


@pytest.mark.parametrize("kind", sorted(COMPRESSORS))
def test_data_after_the_compressed_stream_is_trailing_not_damage(tmp_path, kind: str) -> None:
    # Bytes after a whole stream that cannot start another (a footer, an appended note):
    # gzip(1) says "decompression OK, trailing garbage ignored". Before: "gzip stream
    # damaged after 374 bytes (Error -3 ... incorrect header check)", on every frame read.
    path = tmp_path / "trailing.pcap.gz"
    path.write_bytes(COMPRESSORS[kind](PCAP) + b"garbage after the stream\n")
    for cap in (read_capture(path), read_capture(io.BytesIO(path.read_bytes()))):
        assert (cap.frames, cap.compression) == (5, kind)
        assert cap.warnings == [
            f"{kind} data ends after 374 bytes; what follows it is not {kind} data and was ignored"
        ]
    with spill_capture(path, 2) as spilled:
        assert spilled.info.warnings == cap.warnings


@pytest.mark.parametrize(
    ("kind", "magic"),
    [("zip", b"PK\x03\x04"), ("7z", b"7z\xbc\xaf\x27\x1c"), ("lz4", b"\x04\x22\x4d\x18")],
)
def test_unsupported_compression_error_names_the_file(tmp_path, kind: str, magic: bytes) -> None:
    # Before: "zip-compressed input is not supported; decompress it first", no file name:
    # with several captures on the command line or in a script's log, which one?
    path = tmp_path / "capture.pcap.x"
    path.write_bytes(magic + bytes(64))
    with pytest.raises(CaptureError) as raised:
        read_capture(path)
    assert str(raised.value) == (
        f"{path}: {kind}-compressed input is not supported; decompress it first"
    )
    # Inside another compression layer too.
    path.write_bytes(gzip.compress(magic + bytes(64)))
    with pytest.raises(CaptureError) as raised:
        read_capture(path)
    assert str(raised.value) == (
        f"{path}: {kind}-compressed input is not supported; decompress it first"
    )


def test_damaged_bzip2_keeps_the_frames_before_the_damage(tmp_path) -> None:
    # The bz2 module reports damage as OSError("Invalid data stream"). Before: taken for an
    # I/O error, "pcapline: error: Invalid data stream" (no file name, exit 2) and nothing
    # analysed, where a damaged gzip, xz or zstd stream keeps what came before it.
    path = tmp_path / "damaged.pcap.bz2"
    path.write_bytes(bz2.compress(PCAP) + b"BZh9" + b"\xff" * 60)  # a damaged second stream
    cap = read_capture(path)
    assert cap.frames == 5
    assert cap.warnings == [
        "bzip2 stream damaged after 374 bytes (Invalid data stream); read what came before"
    ]
    path.write_bytes(b"BZh9" + b"\xff" * 60)
    with pytest.raises(CaptureError) as raised:
        read_capture(path)
    assert str(raised.value) == f"{path}: cannot decompress bzip2 data (Invalid data stream)"


@pytest.mark.parametrize(
    ("content", "what"),
    [
        (
            b"12:00:01.000001 IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [S], seq 1, length 0\n" * 9,
            "text, not packets (tcpdump's printed output? write a capture with 'tcpdump -w FILE')",
        ),
        (
            b"GMBU\x00\x02" + bytes(200),
            "a Microsoft Network Monitor capture: convert it with 'editcap -F pcapng IN OUT'",
        ),
        (
            b"snoop\0\0\0\0\0\0\2\0\0\0\4" + bytes(64),
            "a Solaris snoop capture: convert it with 'editcap -F pcapng IN OUT'",
        ),
        (
            b"x.pcap".ljust(257, b"\0") + b"ustar\x0000" + bytes(300),
            "a tar archive: extract the capture from it first (tar -xf)",
        ),
        (b"\x00\x01\x02\x03" + bytes(60), "starts with 00010203"),
    ],
)
def test_not_a_capture_says_what_the_file_looks_like(tmp_path, content: bytes, what: str) -> None:
    # Before: "not a pcap or pcapng capture (starts with 31323a30)" for all of them: a
    # tcpdump listing saved as .pcap (tcpdump > file instead of -w), a NetMon or snoop
    # '.cap' found by `scan`, a tar bundle of captures.
    path = tmp_path / "attached.pcap"
    path.write_bytes(content)
    with pytest.raises(CaptureError) as raised:
        read_capture(path)
    assert str(raised.value) == f"{path}: not a pcap or pcapng capture ({what})"
    with pytest.raises(CaptureError) as raised:
        spill_capture(path, 1)  # the bounded-memory path says the same
    assert str(raised.value) == f"{path}: not a pcap or pcapng capture ({what})"
