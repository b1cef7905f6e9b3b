"""The compiled core (``pcapline.read._native``) gives exactly what the Python code gives.

Every comparison runs the same call twice, once with ``native.active`` False (the Python
walkers and numpy gather: the reference) and once True, and requires equal results: every
``Records`` / ``Capture`` column with its dtype, the warnings word for word, the bytes each
window consumed, and the same exception type and message where the input is refused. Inputs:
every sample capture, corpus captures (marker ``corpus``), and hypothesis-made pcap / pcapng
files cut, overwritten and bit-flipped anywhere, each read whole and split into two windows at
every byte.

``PCAPLINE_REQUIRE_NATIVE=1`` (set by .ci/run) turns a missing core into a failure instead of
a skip, so CI proves the extension was really built.
"""

from __future__ import annotations

import dataclasses
import io
import os
import shutil
import struct
import subprocess
import sys
import sysconfig
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from builders.capture_files import epb, idb, isb, obsolete_pb, pcap, shb, spb
from builders.frames import ACK, SYN, ethernet, ipv4, tcp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from needs import CORPUS, corpus_manifest, needs_corpus

from pcapline.read import native, read_capture
from pcapline.read.capture import gather_rows, gather_rows_numpy
from pcapline.read.pcap import (
    MAX_RECORD_LEN,
    PCAP_MAGICS,
    PcapWalker,
    _walk,
    _walk_python,
    pcap_header,
)
from pcapline.read.pcapng import MAX_BLOCK_LEN, PcapngWalker

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted(
    p for p in (ROOT / "sample_captures").iterdir() if ".pcap" in p.name and ".json" not in p.name
)
C_SOURCE = ROOT / "src" / "pcapline" / "read" / "_native.c"
REQUIRED = os.environ.get("PCAPLINE_REQUIRE_NATIVE", "") not in ("", "0")


def test_the_compiled_core_is_built_where_required() -> None:
    if native.core is None:
        if REQUIRED:
            pytest.fail(
                "PCAPLINE_REQUIRE_NATIVE is set but pcapline.read._native is not built "
                "(was a C compiler there when pcapline was installed? see README, Troubleshooting)"
            )
        pytest.skip("pcapline.read._native is not built (no C compiler at install time)")
    assert native.core.__name__ == "pcapline.read._native"


def test_pcapline_no_native_switches_the_core_off() -> None:
    code = "from pcapline.read import native; print(native.active)"
    for value, expected in (("1", "False"), ("0", str(native.core is not None))):
        env = {**os.environ, native.NO_NATIVE_ENV: value}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        assert out.stdout.strip() == expected


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")
def test_the_c_source_compiles_without_warnings() -> None:
    include = sysconfig.get_paths()["include"]
    proc = subprocess.run(
        [
            "gcc",
            "-fsyntax-only",
            "-std=c11",
            "-Wall",
            "-Wextra",
            "-Wpedantic",
            "-Werror",
            f"-I{include}",
            str(C_SOURCE),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr


# -- running one call both ways ------------------------------------------------------------


@pytest.fixture
def both(monkeypatch: pytest.MonkeyPatch) -> Callable[[Callable[[], Any]], Any]:
    """``both(call)``: ``call()`` with the Python code, then with the core; asserts equal
    outcomes (value or exception) and returns the Python one."""
    if native.core is None:
        pytest.skip("pcapline.read._native is not built")

    def run(call: Callable[[], Any]) -> Any:
        monkeypatch.setattr(native, "active", False)
        reference = _outcome(call)
        monkeypatch.setattr(native, "active", True)
        assert_same(_outcome(call), reference)
        return reference

    return run


def _outcome(call: Callable[[], Any]) -> Any:
    try:
        return ("value", call())
    except Exception as exc:  # the same refusal both ways is part of the contract
        return ("raised", type(exc), str(exc))


def assert_same(got: Any, want: Any, where: str = "") -> None:
    """Equal values, numpy arrays with equal dtype and shape, dataclasses field by field."""
    if isinstance(want, np.ndarray):
        assert isinstance(got, np.ndarray), where
        assert got.dtype == want.dtype and got.shape == want.shape, where
        assert np.array_equal(got, want), where
    elif dataclasses.is_dataclass(want) and not isinstance(want, type):
        assert type(got) is type(want), where
        for f in dataclasses.fields(want):
            assert_same(getattr(got, f.name), getattr(want, f.name), f"{where}.{f.name}")
    elif isinstance(want, (tuple, list)):
        assert type(got) is type(want) and len(got) == len(want), (where, got, want)
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert_same(g, w, f"{where}[{i}]")
    else:
        assert got == want, (where, got, want)


def _array(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype=np.uint8)


def _split_reads(data: bytes, split: int) -> list[tuple[Any, int]]:
    """The walker over two windows, ``data[:split]`` then the rest (spill.read_windows'
    loop with the first window cut at ``split``): each window's records and bytes used."""
    buf = _array(data)
    walker: PcapWalker | PcapngWalker
    if data[:4] == b"\x0a\x0d\x0d\x0a":
        walker = PcapngWalker("x")
    else:
        walker = PcapWalker(pcap_header(buf, "x"), "x")
    out = []
    pos = 0
    window = split
    while True:
        chunk = buf[pos : pos + window]
        final = pos + len(chunk) == len(buf)
        records, used = walker.window(chunk, pos, final)
        out.append((records, used))
        if final or walker.done:
            return out
        if used == 0:  # a record bigger than the window: take the rest of the file
            window = len(buf)
        pos += used


def _check_everything(both: Callable[[Callable[[], Any]], Any], data: bytes, splits: int) -> None:
    """Whole read (read_capture), then split reads at ``splits`` cut points spread over the
    file (every byte when there are fewer bytes than that)."""
    both(lambda: read_capture(io.BytesIO(data)))
    if len(data) < 24 or data[:4] not in _MAGICS:
        return
    if data[:4] != b"\x0a\x0d\x0d\x0a":
        try:
            pcap_header(_array(data), "x")
        except Exception:
            return  # refused before any walk (read_capture's comparison covers it)
    cuts = range(1, len(data) + 1) if len(data) <= splits else _spread(len(data), splits)
    for split in cuts:
        both(lambda split=split: _split_reads(data, split))  # type: ignore[misc]


_MAGICS = {b"\x0a\x0d\x0d\x0a", *PCAP_MAGICS}


def _spread(size: int, count: int) -> Iterator[int]:
    """``count`` cut points over 1 .. size, evenly spaced, the ends included."""
    for i in range(count):
        yield 1 + (size - 1) * i // (count - 1)


# -- real captures --------------------------------------------------------------------------


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_every_sample_capture_reads_the_same(both: Any, path: Path) -> None:
    if path.suffix in (".pcap", ".pcapng"):
        _check_everything(both, path.read_bytes(), splits=40)
    else:  # compressed: the walk sees the decompressed bytes
        both(lambda: read_capture(path))


def _corpus_captures() -> list[Path]:
    """Every corpus capture under 2 MB whose first bytes are a pcap or pcapng magic
    (compressed ones are read whole by ``read_capture``, which decompresses them)."""
    return [
        CORPUS / rel
        for rel, row in corpus_manifest().items()
        if row["size_bytes"].isdigit() and int(row["size_bytes"]) < 2_000_000
    ]


@needs_corpus
def test_corpus_captures_read_the_same(both: Any) -> None:
    checked = 0
    for path in _corpus_captures():
        data = path.read_bytes()
        if data[:4] in _MAGICS:
            _check_everything(both, data, splits=6)
        else:
            both(lambda path=path: read_capture(path))  # type: ignore[misc]
        checked += 1
    assert checked > 1000, checked


# -- damaged and odd captures (hypothesis) -------------------------------------------------

#: A generated capture: its bytes and where its structural 32-bit words are (record and
#: block lengths, block types, interface ids), each with its byte order.
Sample = tuple[bytes, list[tuple[int, str]]]


@st.composite
def classic_pcaps(draw: st.DrawFn) -> Sample:
    sizes = draw(st.lists(st.integers(0, 40), max_size=6))
    frames = [ethernet(ipv4(tcp(flags=ACK, seq=i, payload=b"p" * n))) for i, n in enumerate(sizes)]
    order = draw(st.sampled_from("<>"))
    data = pcap(frames, order=order, nano=draw(st.booleans()))
    rec_len = 16
    if draw(st.booleans()):  # Kuznetsov's "modified" pcap: 24-byte record headers
        data, rec_len = _modified(data, order), 24
    words = []
    pos = 24
    while pos + 16 <= len(data):  # incl_len and orig_len of every record
        words += [(pos + 8, order), (pos + 12, order)]
        pos += rec_len + struct.unpack_from(order + "I", data, pos + 8)[0]
    return data, words


def _modified(data: bytes, order: str) -> bytes:
    """The same records with the 8 extra header bytes of magic 0xa1b2cd34."""
    out = [struct.pack(order + "I", 0xA1B2CD34) + data[4:24]]
    pos = 24
    while pos + 16 <= len(data):
        incl = struct.unpack_from(order + "I", data, pos + 8)[0]
        out.append(data[pos : pos + 16] + b"\x00" * 8 + data[pos + 16 : pos + 16 + incl])
        pos += 16 + incl
    return b"".join(out)


@st.composite
def pcapngs(draw: st.DrawFn) -> Sample:
    order = draw(st.sampled_from("<>"))
    blocks = [shb(order), idb(1, order), idb(101, order, tsresol=9)]
    orders = [order] * 3
    kinds = st.sampled_from(["epb", "epb", "epb", "spb", "pb", "isb", "idb", "shb"])
    for i, kind in enumerate(draw(st.lists(kinds, max_size=6))):
        frame = ethernet(ipv4(tcp(flags=SYN, seq=i)))
        if kind == "epb":
            blocks.append(epb(i % 2, 10**6 * i, frame, order))
        elif kind == "spb":
            blocks.append(spb(frame, order))
        elif kind == "pb":
            blocks.append(obsolete_pb(0, 10**6 * i, frame, order))
        elif kind == "isb":
            blocks.append(isb(0, 10**6 * i, ifdrop=i, osdrop=2 * i, order=order))
        elif kind == "idb":
            blocks.append(idb(1, order))
        else:  # a new section, perhaps in the other byte order
            order = draw(st.sampled_from("<>"))
            blocks += [shb(order), idb(1, order)]
            orders.append(order)
        orders.append(order)
    words = []
    off = 0
    for block, block_order in zip(blocks, orders, strict=True):
        # type, length, the first body word (interface id, SPB length), EPB captured length,
        # the trailing length
        for at in (0, 4, 8, 20, len(block) - 4):
            words.append((off + at, block_order))
        off += len(block)
    return b"".join(blocks), words


#: Values a damaged 32-bit word takes: 0, tiny, around the limits, huge, any.
LENGTHS = st.sampled_from(
    [
        0,
        1,
        2,
        3,
        5,
        6,
        11,
        12,
        16,
        28,
        31,
        32,
        33,
        36,
        MAX_RECORD_LEN,
        MAX_RECORD_LEN + 1,
        0x0A0D0D0A,
        0x7FFFFFFF,
        0xFFFFFFFF,
        MAX_BLOCK_LEN,
        MAX_BLOCK_LEN + 4,
    ]
) | st.integers(0, 0xFFFFFFFF)


@st.composite
def damaged(draw: st.DrawFn, files: st.SearchStrategy[Sample]) -> bytes:
    """A capture with structural words (lengths, types) or any words overwritten, bits
    flipped after its first 8 bytes (the format stays recognised; what follows may be
    nonsense), and perhaps cut anywhere."""
    raw, words = draw(files)
    data = bytearray(raw)
    for _ in range(draw(st.integers(0, 3))):
        if len(data) < 12:
            break
        if words and draw(st.booleans()):
            at, order = draw(st.sampled_from(words))
            if at + 4 > len(data):
                continue
            was = struct.unpack_from(order + "I", data, at)[0]
            if draw(st.booleans()):  # a little off: not a multiple of 4, one too long...
                value = (was + draw(st.sampled_from([-8, -4, -1, 1, 2, 4, 8]))) & 0xFFFFFFFF
            else:
                value = draw(LENGTHS)
        else:
            at, order = draw(st.integers(8, len(data) - 4)), draw(st.sampled_from("<>"))
            value = draw(LENGTHS)
        data[at : at + 4] = struct.pack(order + "I", value)
    for _ in range(draw(st.integers(0, 2))):
        if len(data) <= 8:
            break
        data[draw(st.integers(8, len(data) - 1))] ^= 1 << draw(st.integers(0, 7))
    cut = draw(st.integers(0, len(data)))
    return bytes(data[:cut] if draw(st.booleans()) else data)


SETTINGS = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SETTINGS
@given(data=damaged(classic_pcaps()))
def test_damaged_classic_pcap_reads_the_same(both: Any, data: bytes) -> None:
    _check_everything(both, data, splits=10_000)


@settings(SETTINGS, max_examples=50)  # pcapng windows cost more: fewer files, every split
@given(data=damaged(pcapngs()))
def test_damaged_pcapng_reads_the_same(both: Any, data: bytes) -> None:
    _check_everything(both, data, splits=10_000)


@SETTINGS
@given(
    data=st.binary(max_size=300),
    order=st.sampled_from("<>"),
    rec_len=st.sampled_from([16, 24]),
    first=st.integers(0, 320),
    final=st.booleans(),
)
def test_the_pcap_walk_reads_the_same_from_any_start(
    both: Any, data: bytes, order: str, rec_len: int, first: int, final: bool
) -> None:
    # _walk on arbitrary bytes (windows that start anywhere, even past their end).
    both(lambda: _walk(_array(data), order, rec_len, first, 1000, 7, final))


#: Each limit the walkers test, from both sides, and a few more lengths worth a look.
def _near(value: int) -> list[int]:
    return [v & 0xFFFFFFFF for v in (value - 4, value - 1, value + 1, value + 2, value + 4)]


EDGES = [0, 1, 12, 16, 28, 31, 32, 36, 0xFFFFFFFF, 0x7FFFFFFF]
EDGES += [*_near(MAX_RECORD_LEN), MAX_RECORD_LEN, *_near(MAX_BLOCK_LEN), MAX_BLOCK_LEN]


@pytest.mark.parametrize("order", "<>")
def test_every_record_length_edge_reads_the_same(both: Any, order: str) -> None:
    frames = [ethernet(ipv4(tcp(flags=ACK, seq=i, payload=b"d" * i))) for i in range(4)]
    data = pcap(frames, order=order)
    pos = 24
    while pos + 16 <= len(data):
        incl = struct.unpack_from(order + "I", data, pos + 8)[0]
        for value in [*EDGES, *_near(incl)]:
            bad = bytearray(data)
            bad[pos + 8 : pos + 12] = struct.pack(order + "I", value)
            _check_everything(both, bytes(bad), splits=40)
        pos += 16 + incl


@pytest.mark.parametrize("order", "<>")
def test_every_block_length_and_type_edge_reads_the_same(both: Any, order: str) -> None:
    frame = ethernet(ipv4(tcp(flags=SYN)))
    blocks = [shb(order), idb(1, order), *(epb(0, 10**6 * i, frame, order) for i in range(3))]
    blocks += [spb(frame, order), epb(0, 5, frame, order), epb(0, 6, frame, order)]
    data = b"".join(blocks)
    off = 0
    for block in blocks:
        blen = len(block)
        for at, values in (
            (off, [0, 2, 3, 5, 6, 0x0A0D0D0A, 0xFFFFFFFF]),  # block type
            (off + 4, [*EDGES, *_near(blen)]),  # block length
            (off + blen - 4, _near(blen)),  # trailing block length
            (off + 20, [*EDGES, *_near(len(frame))]),  # EPB captured length
        ):
            for value in values:
                bad = bytearray(data)
                bad[at : at + 4] = struct.pack(order + "I", value)
                _check_everything(both, bytes(bad), splits=6)
        off += blen


def test_the_pcap_walk_uses_the_core_when_active(both: Any) -> None:
    data = pcap([ethernet(ipv4(tcp(flags=SYN)))] * 3)
    offsets, stop, end = both(lambda: _walk(_array(data), "<", 16, 24, 0, 0, True))[1]
    assert offsets.tolist() == [24, 24 + 16 + 54, 24 + 2 * (16 + 54)] and stop is None
    assert end == len(data)
    # A length beyond MAX_RECORD_LEN stops the walk at that record, with its words.
    bad = bytearray(data)
    bad[24 + 70 + 8 : 24 + 70 + 12] = struct.pack("<I", MAX_RECORD_LEN + 1)
    got = both(lambda: _walk(_array(bytes(bad)), "<", 16, 24, 100, 5, True))[1]
    assert (
        got[1] == f"record 7 at byte 194 claims {MAX_RECORD_LEN + 1} captured bytes; file damaged"
    )
    assert _walk_python(_array(bytes(bad)), "<", 16, 24, 100, 5, True)[1] == got[1]


# -- gather_rows ------------------------------------------------------------------------------


@SETTINGS
@given(
    data=st.binary(max_size=200),
    positions=st.lists(st.integers(-220, 220), max_size=30),
    width=st.integers(1, 40),
    dtype=st.sampled_from([np.int64, np.int32, np.int16, np.uint64, np.uint32]),
)
def test_gather_rows_gives_the_numpy_rows(
    both: Any, data: bytes, positions: list[int], width: int, dtype: Any
) -> None:
    if np.dtype(dtype).kind == "u":
        positions = [abs(p) for p in positions]
    if np.dtype(dtype) == np.int16 or np.dtype(dtype).kind == "u":
        positions = [p % 200 for p in positions]
    pos = np.array(positions, dtype=dtype)
    buf = _array(data)
    got = both(lambda: gather_rows(buf, pos, width))
    if got[0] == "value":
        assert_same(got[1], gather_rows_numpy(buf, pos, width))


def test_gather_rows_uses_the_core_for_in_range_rows(both: Any) -> None:
    buf = _array(bytes(range(50)))
    pos = np.array([0, 3, 40], np.int64)
    rows = both(lambda: gather_rows(buf, pos, 10))[1]
    assert rows.tolist() == [list(range(10)), list(range(3, 13)), list(range(40, 50))]
    assert rows.flags.writeable and rows.dtype == np.uint8
    # Out of range: numpy's IndexError both ways (the core hands such calls back).
    outcome = both(lambda: gather_rows(buf, np.array([41], np.int64), 10))
    assert outcome[0] == "raised" and outcome[1] is IndexError
