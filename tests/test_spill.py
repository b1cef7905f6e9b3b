"""The streaming reader (spill.py) gives exactly what the whole-file read + decode gives.

Reference: ``partitioned.split_in_memory`` (``read_capture`` + ``decode`` of the whole file,
split with ``table_partitions``). Every partition's segment rows and ICMP errors (dtypes
included), the ``capture`` facts (warnings word for word), the read quality, the last frame
time and the payload bytes must be equal, with windows small enough to put boundaries inside
record headers, frame bytes and pcapng blocks. Bad input raises what ``read_capture`` raises;
the temporary directory is gone after close, an error, a full disk or Ctrl-C.
"""

from __future__ import annotations

import dataclasses
import errno
import gzip
import io
import lzma
import os
import struct
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas.testing as pdt
import pytest
from builders.capture_files import T0_NS, epb, idb, isb, pcap, shb, spb
from builders.frames import ACK, SYN, ethernet, ipv4, ipv6, raw_ip, tcp
from needs import CORPUS, CORPUS_MARKS

from pcapline import spill
from pcapline.errors import CaptureError, PcaplineError
from pcapline.partitioned import split_in_memory
from pcapline.read.open import open_source_file
from pcapline.read.pcap import Records, read_pcap
from pcapline.read.pcapng import read_pcapng
from pcapline.spill import spill_capture

SAMPLES = Path(__file__).resolve().parents[1] / "sample_captures"
SAMPLE_CAPTURES = sorted(
    p for p in SAMPLES.iterdir() if ".pcap" in p.name and not p.name.endswith(".json")
)
#: Formats, link types, compressions, ICMP errors and tunnels: run on every quick test run.
QUICK_SAMPLES = (
    "format-pcapng-ethernet-and-raw.pcapng",
    "format-pcap-nanosecond.pcap",
    "format-snaplen-96.pcap",
    "compressed-gz.pcap.gz",
    "compressed-zst.pcap.zst",
    "icmp-reject-v6-port-unreachable-at-router.pcap",
    "icmpv6-packet-too-big-at-server.pcap",
    "tunnel-vxlan-over-ipv6.pcap",
    "tunnel-gre-fragmented-underlay.pcap",
    "port-reuse-same-4tuple-3x.pcap",
    "linktype-sll2-any.pcap",
)
#: Corpus captures: pcapng of several sections / interfaces / resolutions (tsresol 2^-8,
#: nsec and usec mixed), big-endian, nanosecond pcap, truncated or damaged files, pcapng
#: versions we refuse, gzip, tunnels, ICMP, and a few with many TCP rows.
CORPUS_CAPTURES = (
    "pcapng-test-generator/output_be/difficult/test201.pcapng",
    "pcapng-test-generator/output_le/difficult/test202.pcapng",
    "pcapng-test-generator/output_be/advanced/test102.pcapng",
    "pcapng-test-generator/output_be/basic/test008.pcapng",
    "pcapng-test-generator/output_le/basic/test018.pcapng",
    "gopacket/pcapgo/be/test901.pcapng",
    "gopacket/pcapgo/le/test902.pcapng",
    "zeek/pcapng-multi-interface.pcapng",
    "pcapplusplus/pcap/too_many_interfaces.pcapng",
    "pcapplusplus/pcap/nanosecs_big_endian.pcap",
    "tcpdump/tcp-handshake-nano.pcap",
    "zeek/trunc/ip-discarder-truncated-tcp-oob.pcapng",
    "dpkt/truncated_dns_2.pcap",
    "libpcap/pcapng-invalid-vers-1.pcapng",
    "tcpdump/empty.pcapng",
    "scapy/dcerpc_msnrpc.pcapng.gz",
    "zeek/http/1000-requests-one-dropped-response.pcap.gz",
    "arkime/gre-erspan-vxlan.pcap",
    "arkime/gre-sample.pcap",
    "pcapplusplus/packet/IcmpPackets.pcap",
    "tcpdump/gso-ipv6-vxlan-ipv4.pcap",
    "arkime/arkime_synthetic.pcap",
    "zeek/ftp/bruteforce.pcap",
    # IP fragments (reassembled across window boundaries): outer ones of ERSPAN and GTP-U,
    # plain IPv4 ones, IPv6 ones
    "zeek/erspan.pcap",
    "zeek/tunnels/gtp/gtp1_gn_normal_incl_fragmentation.pcap",
    "pcapplusplus/examples/ip-frag.pcap",
    "pcapplusplus/pcap/ip6_fragments.pcap",
)


def assert_same(source: object, count: int, window: int) -> None:
    """``spill_capture(source)`` equals ``split_in_memory(source)``: rows, ICMP errors, facts,
    payloads; or both raise the same error. ``source``: a path, or a function giving a fresh
    stream each time. The spill writes behind the reading (``--jobs`` 2 and more): with
    windows this small, every window hands its rows to the writer thread while the next
    one is read into the same buffer."""

    def fresh() -> Any:
        return source() if callable(source) else source

    try:
        ref = split_in_memory(fresh(), count)
    except PcaplineError as exc:
        with pytest.raises(type(exc)) as raised:
            spill_capture(fresh(), count, window_bytes=window, write_behind=True)
        assert str(raised.value) == str(exc)
        return
    with spill_capture(fresh(), count, window_bytes=window, write_behind=True) as got:
        assert got.count == ref.count
        assert got.info == ref.info
        assert got.read == ref.read
        assert got.last_frame_ns == ref.last_frame_ns
        for number in range(ref.count):
            pdt.assert_frame_equal(got.segments(number), ref.segments(number))
            pdt.assert_frame_equal(got.icmp(number), ref.icmp(number))
        assert sum(got.segment_rows) == len(ref.rows)
        for at, length in zip(
            ref.rows["frame_at"].tolist()[:200], ref.rows["caplen"].tolist()[:200], strict=True
        ):
            assert got.payload(at, length) == ref.payload(at, length)


def small_window(path: Path) -> int:
    """A window of 1-8 KB: ten or more boundaries in most captures, not thousands."""
    return int(min(8192, max(1024, path.stat().st_size // 12)))


def test_big_frames_grow_the_window(tmp_path) -> None:
    """A window smaller than a record grows to hold it (here: 9,000-byte jumbo frames)."""
    path = tmp_path / "jumbo.pcap"
    path.write_bytes(
        pcap([ethernet(ipv4(tcp(seq=i, flags=ACK, payload=b"j" * 9000))) for i in range(4)])
    )
    assert_same(path, 3, 64)


@pytest.mark.parametrize("count", [1, 3, 7])
@pytest.mark.parametrize("name", QUICK_SAMPLES)
def test_quick_samples_equal_the_whole_file_read(name: str, count: int) -> None:
    assert_same(SAMPLES / name, count, 1500)


@pytest.mark.slow
@pytest.mark.parametrize("path", SAMPLE_CAPTURES, ids=lambda p: p.name)
def test_every_sample_capture_equals_the_whole_file_read(path: Path) -> None:
    assert_same(path, 3, small_window(path))


@pytest.mark.parametrize("name", [pytest.param(n, marks=CORPUS_MARKS) for n in CORPUS_CAPTURES])
def test_corpus_captures_equal_the_whole_file_read(name: str) -> None:
    path = CORPUS / name
    assert_same(path, 7, int(max(200, min(8192, path.stat().st_size // 8))))


# ---------------------------------------------------------------------------------------
# Window boundaries everywhere, on crafted files: the walkers' carry-over alone (fast: no
# decode, so every window size of a range), then a few windowings end to end.

FRAMES = [
    ethernet(ipv4(tcp(sport=40000 + i % 5, seq=i, flags=SYN if i < 5 else ACK, payload=b"x" * i)))
    for i in range(12)
]


def assert_same_records(path: Path, window: int) -> None:
    """The records walked window by window (offsets made absolute) equal one walk over the
    whole file: columns, warnings and metadata; or both raise the same error."""
    data = np.fromfile(path, np.uint8)
    whole_read = read_pcap if data[:4].tobytes() != b"\x0a\x0d\x0d\x0a" else read_pcapng
    try:
        whole = whole_read(data, str(path))
    except CaptureError as exc:
        with pytest.raises(CaptureError) as raised:
            _walk_in_windows(path, window)
        assert str(raised.value) == str(exc)
        return
    got = _walk_in_windows(path, window)
    for field in dataclasses.fields(Records):  # columns, warnings, truncation, link types, drops
        mine, theirs = getattr(got, field.name), getattr(whole, field.name)
        if isinstance(theirs, np.ndarray):
            assert np.array_equal(mine, theirs) and mine.dtype == theirs.dtype, field.name
        else:
            assert mine == theirs, field.name


def _walk_in_windows(path: Path, window: int) -> Records:
    src = open_source_file(path, str(path.parent))
    try:
        _fmt, walker = spill.record_walker(src)
        parts = [(r, base) for r, _data, base in spill.read_windows(src, walker, window)]
    finally:
        src.close()
    last = parts[-1][0]
    columns = {
        name: np.concatenate(
            [getattr(r, name) + (base if name == "offset" else 0) for r, base in parts]
        )
        for name in ("time_ns", "link_type", "offset", "caplen", "origlen")
    }
    return dataclasses.replace(last, **columns)


@pytest.mark.parametrize("nano", [False, True])
@pytest.mark.parametrize("order", ["<", ">"])
def test_pcap_boundary_inside_every_header_and_frame_byte(tmp_path, order: str, nano: bool) -> None:
    path = tmp_path / "x.pcap"
    path.write_bytes(pcap(FRAMES, order=order, nano=nano))
    for window in range(64, 64 + 3 * (16 + len(FRAMES[-1]))):
        assert_same_records(path, window)
    assert_same(path, 3, 150)


def test_pcap_cut_tail_in_any_window(tmp_path) -> None:
    whole = pcap(FRAMES)
    last = len(whole) - (16 + len(FRAMES[-1]))  # where the last record starts
    for cut in range(last, len(whole)):
        path = tmp_path / f"cut{cut}.pcap"
        path.write_bytes(whole[:cut])
        for window in (64, 100, 128, last):  # last: the cut record alone in the final window
            assert_same_records(path, window)
    for cut in (last + 9, last + 40):  # inside the header, inside the frame bytes
        assert_same(tmp_path / f"cut{cut}.pcap", 3, last)
    path = tmp_path / "one.pcap"
    path.write_bytes(whole[: 24 + 9])  # the only record, cut inside its header
    assert_same(path, 1, 64)


def test_damaged_record_in_a_later_window_keeps_the_frames_before_it(tmp_path) -> None:
    whole = bytearray(pcap(FRAMES))
    at = 24 + sum(16 + len(f) for f in FRAMES[:9])
    struct.pack_into("<I", whole, at + 8, 10_000_000)  # record 10 claims 10 MB
    path = tmp_path / "damaged.pcap"
    path.write_bytes(bytes(whole))
    for window in range(64, 400, 3):
        assert_same_records(path, window)
    assert_same(path, 3, 128)
    with spill_capture(path, 3, window_bytes=128) as got:
        assert got.info.frames == 9
        assert got.info.warnings == [
            f"record 10 at byte {at} claims 10000000 captured bytes; file damaged, stopped reading there"
        ]


def test_backwards_time_across_a_window_boundary(tmp_path) -> None:
    times = [T0_NS + i * 1_000_000 for i in range(12)]
    times[6] -= 50_000_000  # 49 ms back at frame 7, then forward again
    times[10] -= 3_000_000  # 2 ms back at frame 11
    path = tmp_path / "back.pcap"
    path.write_bytes(pcap(FRAMES, times_ns=times))
    for window in (90, 150, 400):
        assert_same(path, 3, window)
    with spill_capture(path, 1, window_bytes=90) as got:
        assert got.info.warnings == [
            "timestamps go backwards 2 times by more than 1 ms (first at frame 7, largest "
            "0.049 s): merged or clock-stepped capture; durations use earliest/latest times"
        ]


def _pcapng_two_sections() -> bytes:
    """A little-endian section (Ethernet, microseconds; raw IP, nanoseconds with an offset),
    drop counters, a simple packet block, a frame cut by the snaplen; then a big-endian
    section (tsresol 2^-8) with its own drop counter."""
    v6 = raw_ip(ipv6(tcp(sport=5000, dport=80, flags=SYN)))
    little = [
        shb("<"),
        idb(1, "<"),
        idb(101, "<", tsresol=9, tsoffset=3600),
        *(epb(i % 2, 1_700_000_000_000_000 + i, FRAMES[i] if i % 2 == 0 else v6) for i in range(6)),
        spb(FRAMES[6]),
        isb(0, 0, ifdrop=3, osdrop=4),
        epb(0, 1_700_000_000_000_100, FRAMES[7], origlen=len(FRAMES[7]) + 20),
    ]
    big = [
        shb(">"),
        idb(1, ">", tsresol=0x88),
        *(epb(0, (1_700_000_001 << 8) + i, FRAMES[8 + i], ">") for i in range(3)),
        isb(0, 0, ifdrop=7, order=">"),
    ]
    return b"".join(little + big)


def test_pcapng_boundary_inside_every_kind_of_block(tmp_path) -> None:
    path = tmp_path / "two.pcapng"
    path.write_bytes(_pcapng_two_sections())
    for window in range(64, 400):
        assert_same_records(path, window)
    assert_same(path, 3, 64)
    with spill_capture(path, 3, window_bytes=64) as got:
        assert (got.read.if_drops, got.read.os_drops, got.read.cut_by_snaplen) == (10, 4, 1)
        assert got.info.link_types == ["EN10MB", "RAW"]


def test_pcapng_timestamps_past_2262_are_said_to_be_unreal(tmp_path) -> None:
    """A 64-bit pcapng timestamp can say more than int64 ns since the epoch hold: numpy
    wraps it (a damaged block's all-ones timestamp became -1000 ns) and the only word was
    "timestamps go backwards". One warning now counts such frames and names the first
    three; every windowing gives the same."""
    from pcapline.read import read_capture
    from pcapline.read.pcapng import MAX_NS, Interface, last_tick, ticks_to_ns

    t0 = 1_700_000_000_000_000  # microseconds
    blocks = [shb(), idb(1), epb(0, t0, FRAMES[0]), epb(0, 2**64 - 1, FRAMES[1])]
    blocks += [epb(0, 10**19, FRAMES[2]), epb(0, t0 + 5, FRAMES[3]), epb(0, 2**63, FRAMES[4])]
    path = tmp_path / "late.pcapng"
    path.write_bytes(b"".join(blocks))
    for window in (64, 100, 250, 4096):
        assert_same_records(path, window)
    assert_same(path, 2, 100)
    capture = read_capture(path)
    assert capture.time_ns[1] == -1000  # wrapped, as before: said, not mended
    assert capture.warnings[0] == (
        "3 frame(s) carry a timestamp past the year 2262, which no clock wrote (frames 2, 3, "
        "5): their times are not real (they wrap round), nor are durations that use them"
    )
    # The boundary, exact for decimal resolutions (the offset counts): the last tick
    # converts without wrapping, the next is past it.
    for iface in (
        Interface(1, 0),
        Interface(1, 0, tsresol=9),
        Interface(1, 0, tsresol=12, tsoffset=7),
    ):
        last = last_tick(iface)
        ns = int(ticks_to_ns(np.array([last], np.uint64), iface)[0])
        assert 0 < ns <= MAX_NS
        # every 64-bit count of picoseconds fits (2**64 ps are 213 days after the epoch)
        assert last == 2**64 - 1 if iface.tsresol == 12 else MAX_NS - ns < 10 ** (9 - iface.tsresol)
    binary = Interface(1, 0, tsresol=8, binary=True)
    ns = int(ticks_to_ns(np.array([last_tick(binary)], np.uint64), binary)[0])
    assert MAX_NS - 2_000_000_000 < ns <= MAX_NS


def test_pcapng_cut_and_damaged_tails(tmp_path) -> None:
    whole = _pcapng_two_sections()
    for cut in range(len(whole) - 300, len(whole), 2):
        path = tmp_path / "cut.pcapng"
        path.write_bytes(whole[:cut])
        for window in (64, 250):
            assert_same_records(path, window)
    path.write_bytes(whole[: len(whole) - 150])
    assert_same(path, 3, 100)
    damaged = bytearray(whole)
    second_epb = damaged.find(struct.pack("<I", 6), 200)
    struct.pack_into("<I", damaged, second_epb + 20, 999_999)  # a bad captured length
    path = tmp_path / "damaged.pcapng"
    path.write_bytes(bytes(damaged))
    for window in range(64, 400, 3):  # the walk goes on past it: later drop counters count
        assert_same_records(path, window)
    assert_same(path, 3, 80)
    with spill_capture(path, 3, window_bytes=80) as got:
        assert got.info.frames == 2 and (got.read.if_drops, got.read.os_drops) == (10, 4)
        assert got.info.warnings[0] == (
            f"packet block at byte {second_epb} has a bad captured length (999999); "
            "stopped reading there"
        )


# ---------------------------------------------------------------------------------------
# Sources: compressed, nested, stdin, file objects, FIFOs; bad input.

PLAIN = pcap(FRAMES)


def test_nested_compression_and_streams(tmp_path, monkeypatch) -> None:
    path = tmp_path / "x.pcap.gz"
    path.write_bytes(gzip.compress(lzma.compress(PLAIN)))
    assert_same(path, 3, 100)
    with spill_capture(path, 1) as got:
        assert got.info.warnings == [] and got.source.compression == "gzip+xz"
        assert got.source.spilled is not None and Path(got.source.spilled).parent == Path(
            got.directory
        )
    packed = path.read_bytes()
    assert_same(lambda: io.BytesIO(packed), 3, 100)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(PLAIN)))
    with spill_capture("-", 3, window_bytes=100) as got:
        ref = split_in_memory(io.BytesIO(PLAIN), 3)
        assert got.info.frames == ref.info.frames == len(FRAMES)
        assert got.payload(40, 20) == ref.payload(40, 20)


def test_cut_gzip_gives_the_frames_before_the_cut(tmp_path) -> None:
    packed = gzip.compress(PLAIN * 1)
    path = tmp_path / "cut.pcap.gz"
    path.write_bytes(packed[: len(packed) // 2])
    assert_same(path, 3, 100)


def test_decompression_cap_warns_like_read_capture(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PCAPLINE_MAX_DECOMPRESSED", "700")
    path = tmp_path / "big.pcap.xz"
    path.write_bytes(lzma.compress(PLAIN))
    assert_same(path, 3, 100)


def test_fifo_with_a_writer(tmp_path) -> None:
    fifo = tmp_path / "pipe.pcap"
    os.mkfifo(fifo)

    def write() -> None:
        with open(fifo, "wb") as out:
            out.write(gzip.compress(PLAIN))

    writer = threading.Thread(target=write)
    writer.start()
    try:
        with spill_capture(fifo, 3, window_bytes=100) as got:
            assert got.info.frames == len(FRAMES) and got.source.compression == "gzip"
    finally:
        writer.join()


def test_fifo_read_with_more_than_1024_files_open(tmp_path) -> None:
    """A long-lived caller (a service scanning captures) may hold over 1,024 descriptors:
    the FIFO's then lies past select(2)'s FD_SETSIZE, which raised "filedescriptor out of
    range in select()". The wait for its writer uses poll(2)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1100:
        pytest.skip(f"at most {hard} open files here")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1100), hard))
    held = []
    try:
        while not held or held[-1] < 1030:  # the next descriptors are past 1024
            held.append(os.open(os.devnull, os.O_RDONLY))
        test_fifo_with_a_writer(tmp_path)
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"hello world, not a capture",
        PLAIN[:20],
        struct.pack("<IHH", 0xA1B2C3D4, 1, 0) + PLAIN[8:],
    ],
    ids=["empty", "not-a-capture", "header-cut", "version-1"],
)
def test_bad_input_raises_what_read_capture_raises(tmp_path, content: bytes) -> None:
    path = tmp_path / "bad.pcap"
    path.write_bytes(content)
    assert_same(path, 3, 100)
    with pytest.raises(CaptureError):
        spill_capture(path, 3, directory=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.pcap"]


# ---------------------------------------------------------------------------------------
# Temporary files: removed on close, on error, on Ctrl-C; a full disk is one clear line.


def spill_dirs(where: Path) -> list[Path]:
    return sorted(where.glob("pcapline-spill-*"))


@pytest.fixture
def capture_file(tmp_path) -> Path:
    path = tmp_path / "x.pcap"
    path.write_bytes(PLAIN)
    return path


def test_directory_removed_on_close(tmp_path, capture_file: Path) -> None:
    got = spill_capture(capture_file, 3, directory=tmp_path, window_bytes=100)
    (made,) = spill_dirs(tmp_path)
    assert Path(got.directory) == made and any(made.iterdir())
    got.close()
    got.close()  # idempotent
    assert spill_dirs(tmp_path) == []
    with spill_capture(capture_file, 3, directory=tmp_path) as again:
        assert again.info.frames == len(FRAMES)
    assert spill_dirs(tmp_path) == []


@pytest.mark.parametrize("behind", [False, True])
def test_directory_removed_after_an_error_mid_read(
    tmp_path, capture_file, monkeypatch, behind: bool
) -> None:
    calls = []

    def failing_decode(chunk: object, **options: object) -> object:
        calls.append(chunk)
        if len(calls) == 3:
            raise RuntimeError("boom")
        return real_decode(chunk, **options)

    real_decode = spill.decode
    monkeypatch.setattr(spill, "decode", failing_decode)
    with pytest.raises(RuntimeError, match="boom"):
        spill_capture(capture_file, 3, directory=tmp_path, window_bytes=100, write_behind=behind)
    assert len(calls) == 3 and spill_dirs(tmp_path) == []


@pytest.mark.parametrize("behind", [False, True])
def test_directory_removed_after_ctrl_c_mid_read(tmp_path, capture_file, behind: bool) -> None:
    seen: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> None:
        seen.append((done, total))
        if len(seen) == 3:  # the start, then two windows read
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        spill_capture(
            capture_file,
            3,
            directory=tmp_path,
            window_bytes=100,
            progress=progress,
            write_behind=behind,
        )
    assert spill_dirs(tmp_path) == []
    assert seen[0] == (0, len(PLAIN)) and 0 < seen[1][0] < seen[2][0] < len(PLAIN)


def test_progress_reaches_the_size_of_the_source(capture_file) -> None:
    seen: list[tuple[int, int]] = []
    with spill_capture(capture_file, 3, window_bytes=100, progress=lambda *a: seen.append(a)):
        pass
    done = [d for d, _ in seen]
    assert seen[0] == (0, len(PLAIN))  # the reading starts: its pace counts from here
    assert done == sorted(done) and seen[-1] == (len(PLAIN), len(PLAIN)) and len(seen) > 5


@pytest.mark.parametrize("behind", [False, True])
def test_full_disk_is_one_clear_error(tmp_path, capture_file, monkeypatch, behind: bool) -> None:
    def no_space(*_args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(spill._PartitionFiles, "append", no_space)
    with pytest.raises(PcaplineError) as raised:
        spill_capture(capture_file, 3, directory=tmp_path, write_behind=behind)
    assert str(raised.value) == (
        f"no space left in {tmp_path} for the spill files of the capture (they take up to about "
        "1.5 times the capture's size: free space there, or use --spill-dir DIR on a bigger disk)"
    )
    assert spill_dirs(tmp_path) == []


def test_a_failed_write_behind_stops_the_read_and_leaves_nothing(
    tmp_path, capture_file, monkeypatch
) -> None:
    """A write on the writer thread fails (here the third window's): the error comes out
    of ``spill_capture`` at the next window, nothing more is read, and no write outlives
    the spill folder's removal."""
    written: list[int] = []
    real_append = spill._PartitionFiles.append

    def append(self: Any, table: Any, part: Any) -> None:
        written.append(len(part))
        if len(written) == 5:  # segments and ICMP: the third window's segments
            raise OSError(errno.EIO, "Input/output error")
        real_append(self, table, part)

    monkeypatch.setattr(spill._PartitionFiles, "append", append)
    seen: list[int] = []
    with pytest.raises(OSError, match="Input/output error"):
        spill_capture(
            capture_file,
            3,
            directory=tmp_path,
            window_bytes=100,
            progress=lambda done, _total: seen.append(done),
            write_behind=True,
        )
    assert spill_dirs(tmp_path) == []
    assert len(written) == 5 and len(seen) <= 4 and seen[-1] < len(PLAIN)


def test_unusable_directory_is_one_clear_error(tmp_path, capture_file) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_bytes(b"")
    for where in (not_a_dir, tmp_path / "missing"):
        with pytest.raises(PcaplineError) as raised:
            spill_capture(capture_file, 3, directory=where)
        assert str(raised.value).startswith(f"cannot create spill files in {where}: ")


def test_partition_rows_are_whole_four_tuples(capture_file) -> None:
    with spill_capture(capture_file, 4, window_bytes=100) as got:
        ports = [set(got.segments(n)["sport"].tolist()) for n in range(4)]
        assert sum(len(p) for p in ports) == 5  # each port pair in one partition only
        frames = np.concatenate([got.segments(n)["frame"].to_numpy() for n in range(4)])
        assert sorted(frames.tolist()) == list(range(1, len(FRAMES) + 1))


def test_a_partition_file_reads_back_block_after_block_or_not_at_all(tmp_path: Path) -> None:
    """Blocks appended window after window read back as one column each; a file whose blocks
    do not add up to the rows written is refused, never read as a short or padded column."""
    schema = {"frame": "int64", "flags": "uint16", "note": "object"}
    files = spill._PartitionFiles(str(tmp_path), "t", 2, schema)
    first = {"frame": np.arange(5), "flags": np.full(5, 16), "note": np.array(["a"] * 5, object)}
    files.append(first, np.array([0, 1, 0, 1, 0]))
    second = {
        "frame": np.arange(5, 8),
        "flags": np.array([2, 18, 2]),
        "note": np.array(list("xyz"), object),
    }
    files.append(second, np.array([0, 0, 1]))
    got = files.read(0)
    assert got["frame"].tolist() == [0, 2, 4, 5, 6]
    assert got["flags"].tolist() == [16, 16, 16, 2, 18]
    assert got["note"].tolist() == ["a", "a", "a", "x", "y"]
    assert files.read(1)["frame"].tolist() == [1, 3, 7]
    files.rows[0] += 1  # one row more than the file holds
    with pytest.raises(ValueError, match="5 rows of 6"):
        files.read(0)
    files.rows[0] -= 2  # fewer: the last block would run past them
    with pytest.raises(ValueError, match="a block of 2 rows"):
        files.read(0)
    files.rows[0] += 1
    with open(files.paths[0], "ab") as f:
        f.write(struct.pack("<q", -1))  # a block of no rows: a damaged file
    with pytest.raises(ValueError, match="a block of -1 rows"):
        files.read(0)


def test_a_compressed_source_is_partitioned_by_what_it_decompresses_to(
    tmp_path, capture_file: Path
) -> None:
    """A compressed capture's partitions were counted from its compressed size before it was
    read (a 14 MB gzip held 4 GiB): once it is on disk, ``recount`` of its real size raises
    them. A plain file's size was known, so its count stands."""
    asked: list[int] = []

    def recount(size: int) -> int:
        asked.append(size)
        return 4

    packed = tmp_path / "x.pcap.gz"
    packed.write_bytes(gzip.compress(PLAIN))
    with spill_capture(packed, 1, window_bytes=100, recount=recount) as got:
        assert got.count == 4 and asked == [len(PLAIN)]
        assert got.info.frames == len(FRAMES)
    with spill_capture(capture_file, 1, window_bytes=100, recount=recount) as got:
        assert got.count == 1 and asked == [len(PLAIN)]


def test_a_compressed_capture_takes_the_bounded_path_by_what_it_holds(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A few MB of gzip can hold GBs (a 14 MB file, 4 GiB of SYNs): judged by its compressed
    size it stayed on the in-memory path, which takes about ten times a capture's bytes."""
    from pcapline import bounded

    monkeypatch.setattr(bounded, "BOUNDED_MIN_BYTES", 4 * len(PLAIN))
    bomb = tmp_path / "bomb.pcap.gz"
    bomb.write_bytes(gzip.compress(PLAIN + PLAIN[24:] * 8))  # 9 copies of the frames
    small = tmp_path / "small.pcap.gz"
    small.write_bytes(gzip.compress(PLAIN))
    assert len(bomb.read_bytes()) * bounded.COMPRESSED_RATIO < bounded.BOUNDED_MIN_BYTES
    assert bounded.wanted(str(bomb)) and not bounded.wanted(str(small))
    concatenated = tmp_path / "members.pcap.gz"  # `cat a.gz b.gz`: every member counts
    concatenated.write_bytes(gzip.compress(PLAIN) + gzip.compress(PLAIN[24:] * 4))
    assert bounded.wanted(str(concatenated))
