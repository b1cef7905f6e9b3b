"""Decompression is streamed, capped and leaves no file behind; FIFOs and devices never hang.

The cap (``--max-decompressed`` / ``PCAPLINE_MAX_DECOMPRESSED``) gives the analysis of what was
read, with a warning, instead of filling RAM (before: a 46 MB gzip expanding to 10 GB ended in
exit 3, ``ValueError: I/O operation on closed file``).
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import zstandard
from builders.capture_files import pcap
from builders.frames import ACK, SYN, ethernet, ipv4, tcp

from pcapline.errors import CaptureError
from pcapline.read import read_capture
from pcapline.read.open import MAX_DECOMPRESSED_ENV, max_decompressed, parse_size

ROOT = Path(__file__).resolve().parents[2]
#: 2,000 frames of 74 bytes (+16 per record header): 180 kB uncompressed.
MANY = pcap([ethernet(ipv4(tcp(seq=i, flags=SYN))) for i in range(2000)])
COMPRESSORS = {
    "gzip": gzip.compress,
    "bzip2": bz2.compress,
    "xz": lzma.compress,
    "zstd": lambda b: zstandard.ZstdCompressor().compress(b),
}


def _cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pcapline", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src"), **(env or {})},
    )


@pytest.mark.parametrize("kind", sorted(COMPRESSORS))
def test_the_cap_stops_decompression_and_keeps_what_was_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    path = tmp_path / "big.pcap.x"
    path.write_bytes(COMPRESSORS[kind](MANY))
    monkeypatch.setenv(MAX_DECOMPRESSED_ENV, "50K")
    cap = read_capture(path)
    # After the 24-byte file header, 50 KiB hold this many records, the last one cut.
    record = (len(MANY) - 24) // 2000
    assert cap.frames == -(-(50 * 1024 - 24) // record)
    assert cap.truncated_records == 1
    assert any(
        "decompresses to more than 51.2 kB" in w and "analysed the first" in w for w in cap.warnings
    )
    monkeypatch.setenv(MAX_DECOMPRESSED_ENV, "1M")
    whole = read_capture(path)
    assert (whole.frames, whole.warnings) == (2000, [])


def test_a_bomb_is_cut_at_the_cap_without_filling_memory(tmp_path: Path) -> None:
    # 1 GB of zeros after a real capture, gzip'ed to about 1 MB: the reader stops at the cap
    # (16 MB here) and analyses the frames before the zeros.
    path = tmp_path / "bomb.pcap.gz"
    with gzip.open(path, "wb", compresslevel=1) as out:
        out.write(MANY)
        zeros = bytes(1 << 20)
        for _ in range(1024):
            out.write(zeros)
    assert path.stat().st_size < 8 << 20
    result = _cli("analyze", "--format", "json", str(path), env={MAX_DECOMPRESSED_ENV: "16M"})
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "decompresses to more than 16.8 MB" in result.stderr
    doc = json.loads(result.stdout)
    assert len(doc["connections"]) == 2000  # each SYN (new ISN) opens a connection


def test_cli_option_sets_the_cap(tmp_path: Path) -> None:
    path = tmp_path / "big.pcap.xz"
    path.write_bytes(lzma.compress(MANY))
    result = _cli("--max-decompressed", "50K", "analyze", str(path))
    assert result.returncode == 0, result.stderr
    assert "pcapline: warning: xz data decompresses to more than 51.2 kB" in result.stderr
    bad = _cli("--max-decompressed", "lots", "analyze", str(path))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "not a size" in bad.stderr


@pytest.mark.parametrize("where", ["option", "environment"])
def test_a_cap_too_small_for_a_header_is_refused_by_name(tmp_path: Path, where: str) -> None:
    # 10 bytes cannot hold the 24-byte pcap header: the error names the cap, not the header.
    path = tmp_path / "big.pcap.gz"
    path.write_bytes(gzip.compress(MANY))
    if where == "option":
        result = _cli("--max-decompressed", "10", "analyze", str(path))
    else:
        result = _cli("analyze", str(path), env={MAX_DECOMPRESSED_ENV: "10"})
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1
    assert "10 is less than 64 bytes, too little to hold a capture's header" in result.stderr
    assert ("--max-decompressed" if where == "option" else MAX_DECOMPRESSED_ENV) in result.stderr
    assert "header cut short" not in result.stderr


def test_sizes_and_default_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_size("4G") == 4 << 30 and parse_size("500m") == 500 << 20
    assert parse_size("1.5K") == 1536 and parse_size("123") == 123
    with pytest.raises(ValueError):
        parse_size("4 furlongs")
    monkeypatch.delenv(MAX_DECOMPRESSED_ENV, raising=False)
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert max_decompressed() == max(ram // 4, 256 << 20)


@pytest.mark.parametrize("kind", sorted(COMPRESSORS))
def test_corrupt_tail_keeps_what_was_read(tmp_path: Path, kind: str) -> None:
    # 2.6 MB with random payload (so the compressed stream spans many reads): more than one
    # 900 kB bzip2 block, so a cut bzip2 stream still holds a whole one.
    noise = random.Random(11)
    big = pcap(
        [ethernet(ipv4(tcp(seq=i, flags=ACK, payload=noise.randbytes(64)))) for i in range(20000)]
    )
    packed = COMPRESSORS[kind](big)
    path = tmp_path / "cut.pcap.x"
    path.write_bytes(packed[: len(packed) * 3 // 4] + b"\x00garbage" * 64)
    cap = read_capture(path)
    assert 0 < cap.frames < 20000
    assert any("read what came before" in w for w in cap.warnings), cap.warnings


def test_no_temporary_file_is_left_behind(tmp_path: Path) -> None:
    spill = tmp_path / "tmp"
    spill.mkdir()
    path = tmp_path / "c.pcap.gz"
    path.write_bytes(gzip.compress(MANY))
    ok = _cli("analyze", str(path), env={"TMPDIR": str(spill)})
    assert ok.returncode == 0, ok.stderr
    out = tmp_path / "report.json"
    bad = _cli("analyze", "--format", "json", "-o", str(out), str(path), env={"TMPDIR": str(spill)})
    assert bad.returncode == 0 and out.exists()
    assert list(spill.iterdir()) == []  # the spill file is anonymous (unlinked from the start)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pcap.gz", "report.json", "tmp"]


def test_a_fifo_without_writer_is_an_error_not_a_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "stuck.pcap"
    os.mkfifo(fifo)
    started = time.monotonic()
    result = _cli("analyze", str(fifo), timeout=60)
    assert result.returncode == 2
    assert result.stderr == (
        f"pcapline: error: {fifo}: a FIFO (named pipe) with no writer, not a capture file (to "
        "read a pipe, write to it, or use 'pcapline analyze -' with stdin)\n"
    )
    assert time.monotonic() - started < 30


def test_a_fifo_with_a_writer_is_read(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.pcap"
    os.mkfifo(fifo)

    def write() -> None:
        with open(fifo, "wb") as out:
            out.write(gzip.compress(MANY))

    writer = threading.Thread(target=write)
    writer.start()
    try:
        cap = read_capture(str(fifo))
    finally:
        writer.join(timeout=30)
    assert (cap.frames, cap.compression) == (2000, "gzip")


def test_a_device_is_an_error() -> None:
    with pytest.raises(CaptureError, match="not a regular file \\(a character device\\)"):
        read_capture("/dev/zero")
