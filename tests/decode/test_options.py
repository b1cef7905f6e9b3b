"""TCP options: each kind, SACK block choice, malformed lists, snaplen-cut options."""

from __future__ import annotations

import io
import struct

import pytest
from builders.capture_files import pcap
from builders.frames import ACK, SYN, ethernet, ipv4, tcp

from pcapline.decode import decode
from pcapline.decode.options import WSCALE_CUT
from pcapline.read import read_capture

MSS = b"\x02\x04" + struct.pack("!H", 1460)
SACK_PERM = b"\x04\x02"
TS = b"\x08\x0a" + struct.pack("!II", 111, 222)
WS = b"\x03\x03\x07"
NOP, EOL = b"\x01", b"\x00"


def _sack(*blocks: tuple[int, int]) -> bytes:
    return bytes([5, 2 + 8 * len(blocks)]) + b"".join(
        struct.pack("!II", le, re) for le, re in blocks
    )


def _options(opts: bytes, flags: int = SYN, ack: int = 0, cut: int | None = None):
    frame = ethernet(ipv4(tcp(flags=flags, ack=ack, options=opts)))
    item = frame if cut is None else (frame[:cut], len(frame))
    dec = decode(read_capture(io.BytesIO(pcap([item]))))
    assert dec.skipped == {}
    return dec.segments.iloc[0]


def test_linux_syn_options() -> None:
    row = _options(MSS + SACK_PERM + TS + NOP + WS)
    assert row["mss"] == 1460 and row["wscale"] == 7 and row["sack_perm"]
    assert row["has_ts"] and (row["ts_val"], row["ts_ecr"]) == (111, 222)
    assert row["sack_blocks"] == 0


def test_absent_options_defaults() -> None:
    row = _options(b"")
    assert (row["mss"], row["wscale"], row["sack_perm"], row["has_ts"]) == (0, -1, False, False)
    assert (row["ts_val"], row["ts_ecr"], row["sack_blocks"], row["sack_le"], row["sack_re"]) == (
        0,
        0,
        0,
        0,
        0,
    )


def test_sack_keeps_the_block_reaching_furthest_beyond_the_ack() -> None:
    row = _options(
        NOP + NOP + TS + NOP + NOP + _sack((3000, 4000), (6000, 7000), (5000, 5500)), ACK, ack=1000
    )
    assert row["sack_blocks"] == 3
    assert (row["sack_le"], row["sack_re"]) == (6000, 7000)


@pytest.mark.parametrize("common", [True, False], ids=["core", "numpy"])
def test_a_first_block_within_the_second_is_a_dsack_above_the_ack(common: bool) -> None:
    """RFC 2883 section 4 (Linux tcp_check_dsack): a receiver holding 3000-5000 above a hole
    at 1000 gets the last segment again (a tail loss probe): its ACK reports the duplicate
    4000-5000 first, then the block that holds it. That first block is kept, marked D-SACK."""
    opts = NOP + NOP + _sack((4000, 5000), (3000, 5000))
    frame = ethernet(ipv4(tcp(flags=ACK, ack=1000, options=opts)))
    row = decode(read_capture(io.BytesIO(pcap([frame]))), common=common).segments.iloc[0]
    assert row["dsack"] and (row["sack_le"], row["sack_re"]) == (4000, 5000)
    # Below the ACK with a block above it: the first block too.
    opts = NOP + NOP + _sack((500, 900), (3000, 5000))
    frame = ethernet(ipv4(tcp(flags=ACK, ack=1000, options=opts)))
    row = decode(read_capture(io.BytesIO(pcap([frame]))), common=common).segments.iloc[0]
    assert row["dsack"] and (row["sack_le"], row["sack_re"]) == (500, 900)
    # Two plain blocks above a hole: no D-SACK, the furthest kept.
    row = _options(NOP + NOP + _sack((3000, 4000), (6000, 7000)), ACK, ack=1000)
    assert not row["dsack"] and (row["sack_le"], row["sack_re"]) == (6000, 7000)


def test_sack_edges_compare_across_sequence_wrap() -> None:
    ack = 0xFFFFFF00
    row = _options(_sack((0xFFFFFF80, 0xFFFFFFF0), (0x10, 0x80)), ACK, ack=ack)
    assert (row["sack_le"], row["sack_re"]) == (0x10, 0x80)  # beyond the wrap is further


def test_window_scale_above_14_is_used_as_14() -> None:
    assert _options(b"\x03\x03\x20")["wscale"] == 14


def test_eol_ends_the_list() -> None:
    row = _options(MSS + EOL + WS)
    assert row["mss"] == 1460 and row["wscale"] == -1


def test_malformed_option_stops_parsing_but_keeps_the_segment() -> None:
    row = _options(MSS + b"\x08\x01" + TS)  # timestamp kind with length 1
    assert row["mss"] == 1460 and not row["has_ts"]
    row = _options(MSS + b"\x03\x20\x07")  # length runs past the header
    assert row["mss"] == 1460 and row["wscale"] == -1


def test_option_with_unexpected_length_is_stepped_over() -> None:
    row = _options(b"\x02\x05\x05\xb4\x00" + WS)  # MSS with length 5: ignored, WS still read
    assert row["mss"] == 0 and row["wscale"] == 7


def test_options_cut_by_the_snaplen_decode_what_is_there() -> None:
    """What was captured is read; a SYN's window scale cut off is not known to be absent
    (WSCALE_CUT: Linux sends it last); on a segment without SYN it means nothing (-1)."""
    opts = MSS + SACK_PERM + TS + NOP + WS  # 20 bytes of options
    row = _options(opts, cut=14 + 20 + 20 + 8)  # MSS, SACK_PERM and 2 bytes of TS captured
    assert row["mss"] == 1460 and row["sack_perm"] and not row["has_ts"]
    assert row["wscale"] == WSCALE_CUT
    assert _options(opts, flags=ACK, cut=14 + 20 + 20 + 8)["wscale"] == -1
    assert _options(opts)["wscale"] == 7  # whole: read


@pytest.mark.parametrize("common", [True, False], ids=["core", "numpy"])
def test_a_sack_option_the_snaplen_cut_keeps_its_whole_blocks(common: bool) -> None:
    """A snaplen ending inside the SACK option (``tcpdump -s 96`` over a VLAN tag or a tunnel
    header does this): an IPv4 ACK with timestamps and a 3-block SACK, 36 option bytes captured
    of 40, the first two blocks whole. They are reported (RFC 2018: each block is a report of
    its own); the third, cut, is not guessed; ``options_cut`` says the rest is gone."""
    sack = _sack((3000, 4000), (6000, 7000), (8000, 9000))
    opts = NOP + NOP + TS + NOP + NOP + sack
    frame = ethernet(ipv4(tcp(flags=ACK, ack=1000, options=opts)))
    dec = decode(read_capture(io.BytesIO(pcap([(frame[:90], len(frame))]))), common=common)
    row = dec.segments.iloc[0]
    assert row["options_cut"] and row["has_ts"]
    assert row["sack_blocks"] == 2
    assert (row["sack_le"], row["sack_re"]) == (6000, 7000)
    # Not even one whole block captured: no SACK block is read (nothing to report).
    short = decode(read_capture(io.BytesIO(pcap([(frame[:77], len(frame))]))), common=common)
    assert short.segments.iloc[0]["sack_blocks"] == 0


def test_a_sack_option_running_past_the_header_is_still_malformed() -> None:
    """Past the TCP header (not the snaplen) a SACK length is a malformed option: dropped."""
    sack = _sack((3000, 4000), (6000, 7000))
    bad = sack[:1] + bytes([2 + 8 * 3]) + sack[2:] + NOP * 2  # says 3 blocks, has room for 2
    row = _options(NOP + NOP + TS + bad, ACK, ack=1000)
    assert row["sack_blocks"] == 0 and not row["options_cut"]


def test_common_nop_nop_timestamp_list() -> None:
    row = _options(NOP + NOP + TS, ACK, ack=5)
    assert row["has_ts"] and (row["ts_val"], row["ts_ecr"]) == (111, 222)
    assert (row["mss"], row["wscale"], row["sack_blocks"]) == (0, -1, 0)


def test_timestamp_fast_path_equals_the_option_walk(monkeypatch) -> None:
    import numpy as np

    from pcapline.decode import options

    frames = [
        ethernet(
            ipv4(
                tcp(
                    flags=ACK, seq=i, options=NOP + NOP + b"\x08\x0a" + struct.pack("!II", i, 7 * i)
                )
            )
        )
        for i in range(50)
    ]
    frames += [ethernet(ipv4(tcp(flags=SYN, options=MSS + SACK_PERM + TS + NOP + WS)))]
    # The leading NOP,NOP,TS taken by the fast path, the SACK after it by the walk; a second
    # timestamp later in the list overrides the first, as in the walk.
    frames += [
        ethernet(ipv4(tcp(flags=ACK, ack=900, options=NOP + NOP + TS + NOP + NOP + sack)))
        for sack in (_sack((1000, 2000)), _sack((1000, 2000), (3000, 4000), (2500, 2600)))
    ]
    second_ts = b"\x08\x0a" + struct.pack("!II", 5, 6)
    frames += [ethernet(ipv4(tcp(flags=ACK, options=NOP + NOP + TS + NOP + NOP + second_ts)))]
    capture = read_capture(io.BytesIO(pcap(frames)))
    fast = decode(capture).segments
    assert fast["sack_blocks"].tolist()[-3:] == [1, 3, 0]
    assert fast["ts_val"].tolist()[-3:] == [111, 111, 5]
    monkeypatch.setattr(
        options,
        "_leading_timestamps",
        lambda data, start, limit, out, seg: np.zeros(seg.size, np.int64),
    )
    walked = decode(capture).segments
    assert fast.equals(walked)
    assert fast["ts_val"].tolist()[:3] == [0, 1, 2] and fast["ts_ecr"].tolist()[:3] == [0, 7, 14]


def _reference(opts: bytes, ack: int) -> dict[str, object]:
    """Plain per-packet option parser with the same rules (the vectorised walk must agree)."""
    r: dict[str, object] = {
        "mss": 0,
        "wscale": -1,
        "sack_perm": False,
        "has_ts": False,
        "ts_val": 0,
        "ts_ecr": 0,
    }
    r.update(sack_blocks=0, sack_le=0, sack_re=0, dsack=False)
    pos = 0
    while pos < len(opts):
        kind = opts[pos]
        if kind == 0:
            break
        if kind == 1:
            pos += 1
            continue
        if pos + 1 >= len(opts) or opts[pos + 1] < 2 or pos + opts[pos + 1] > len(opts):
            break
        length, body = opts[pos + 1], opts[pos + 2 : pos + opts[pos + 1]]
        if kind == 2 and length == 4:
            r["mss"] = struct.unpack("!H", body)[0]
        elif kind == 3 and length == 3:
            r["wscale"] = min(body[0], 14)
        elif kind == 4 and length == 2:
            r["sack_perm"] = True
        elif kind == 8 and length == 10:
            r["has_ts"], (r["ts_val"], r["ts_ecr"]) = True, struct.unpack("!II", body)
        elif kind == 5 and length >= 10 and (length - 2) % 8 == 0:
            blocks = [struct.unpack("!II", body[i : i + 8]) for i in range(0, length - 2, 8)]
            le, re = max(blocks, key=lambda b: (b[1] - ack) % 2**32)

            def behind(a: int, b: int) -> bool:  # a before b in sequence space
                return (a - b) % 2**32 >= 2**31

            first, second = blocks[0], blocks[1] if len(blocks) > 1 else None
            dsack = behind(first[0], ack) or (
                second is not None
                and not behind(second[1], first[1])
                and not behind(first[0], second[0])
            )
            if dsack:
                le, re = first
            r.update(sack_blocks=len(blocks), sack_le=le, sack_re=re, dsack=dsack)
        pos += length
    return r


def test_random_option_lists_match_a_per_packet_parser() -> None:
    import random

    rng = random.Random(3)
    pieces = [
        NOP,
        EOL,
        MSS,
        SACK_PERM,
        TS,
        WS,
        b"\x03\x03\x1f",
        _sack((5, 9)),
        _sack((1, 2), (7, 8), (3, 4)),
        _sack((0xFFFFFFF0, 0xFFFFFFF8), (0xFFFFFFE0, 0x10)),  # within the second: D-SACK
        b"\x22\x05abc",
        b"\x08\x01",
        b"\x02",
    ]
    cases = []
    for _ in range(300):
        opts = b"".join(rng.choice(pieces) for _ in range(rng.randrange(0, 8)))[:40]
        opts += b"\x00" * (-len(opts) % 4)  # what tcp() would pad anyway
        cases.append((opts, rng.getrandbits(32)))
    frames = [ethernet(ipv4(tcp(flags=ACK, ack=ack, options=opts))) for opts, ack in cases]
    seg = decode(read_capture(io.BytesIO(pcap(frames)))).segments
    for (opts, ack), (_, row) in zip(cases, seg.iterrows(), strict=True):
        assert {k: row[k] for k in _reference(opts, ack)} == _reference(opts, ack), opts.hex()
