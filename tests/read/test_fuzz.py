"""Damaged input never crashes: cut, byte-flipped and length-corrupted captures either
raise CaptureError or read fine with every frame accounted for."""

from __future__ import annotations

import io
import random
import struct
from collections.abc import Callable

import pytest
from builders.capture_files import epb, idb, pcap, shb
from builders.captures import CAPTURES
from builders.frames import ACK, SYN, ethernet, ipv4, ipv6, sll2, tcp
from needs import CORPUS, CORPUS_MARKS

from pcapline.decode import decode
from pcapline.errors import CaptureError
from pcapline.flows import build_flows
from pcapline.read import read_capture

#: Real captures from the corpus as extra seeds (corpus-marked, skipped without it).
CORPUS_SAMPLES = [
    "arkime/wireshark-retrans.pcap",
    "pcapplusplus/pcap/many_interfaces-1.pcapng",
    "scapy/dcerpc_privacy_krb.pcapng.gz",
]
OPTS = b"\x02\x04\x05\xb4\x04\x02\x08\x0a" + b"\x00" * 8 + b"\x01\x03\x03\x07"


def _crafted_pcapng() -> bytes:
    seg = tcp(flags=SYN, options=OPTS)
    return (
        shb()
        + idb(1)
        + idb(276, tsresol=9)
        + b"".join(
            epb(
                i % 2,
                10**6 * i,
                ethernet(ipv4(seg)) if i % 2 == 0 else sll2(ipv4(tcp(flags=ACK, seq=i))),
            )
            for i in range(40)
        )
    )


def _crafted_pcap() -> bytes:
    frames = [
        ethernet(ipv6(tcp(flags=ACK, seq=i, options=OPTS, payload=b"z" * 50)), ethertype=0x86DD)
        for i in range(40)
    ]
    return pcap(frames, order=">", nano=True)


#: Seeds always present: crafted in memory, and the repository's small captures
#: (tests/captures: a SYN backoff and a FIN series, reordering, handshakes of 5 connections).
SEEDS: dict[str, Callable[[], bytes]] = {
    "crafted.pcapng": _crafted_pcapng,
    "crafted.pcap": _crafted_pcap,
    **{
        name: (CAPTURES / name).read_bytes
        for name in (
            "last-ack-fin-retries.pcap",
            "data-behind-its-fin.pcap",
            "wrong-handshake-acks.pcap",
        )
    },
}


def _check(data: bytes) -> None:
    try:
        cap = read_capture(io.BytesIO(data))
    except CaptureError as exc:
        assert "\n" not in str(exc)
        return
    dec = decode(cap)
    assert cap.frames == len(dec.segments) + sum(dec.skipped.values())
    seg, conns = build_flows(dec.segments)
    assert int(conns["packets"].sum()) == len(seg)


def _mutations(rng: random.Random, data: bytes) -> list[bytes]:
    out = [data[: rng.randrange(len(data) + 1)] for _ in range(10)]  # cut anywhere
    for _ in range(10):  # flip bytes, mostly after the file header
        b = bytearray(data)
        for _ in range(rng.randint(1, 12)):
            pos = rng.randrange(len(b))
            b[pos] ^= 1 << rng.randrange(8)
        out.append(bytes(b))
    for _ in range(8):  # overwrite an aligned 32-bit word (record/block lengths are such words)
        b = bytearray(data)
        pos = rng.randrange(0, len(b) - 4) & ~3
        b[pos : pos + 4] = struct.pack(
            "<I", rng.choice([0, 1, 11, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, rng.getrandbits(32)])
        )
        out.append(bytes(b))
    return out


def _mutate_and_check(seed: int, data: bytes) -> None:
    rng = random.Random(1234 + seed)
    for mutated in _mutations(rng, data):
        _check(mutated)


@pytest.mark.parametrize("name", list(SEEDS))
def test_mutated_captures_never_crash(name: str) -> None:
    _mutate_and_check(list(SEEDS).index(name), SEEDS[name]())


@pytest.mark.parametrize("name", [pytest.param(p, marks=CORPUS_MARKS) for p in CORPUS_SAMPLES])
def test_mutated_corpus_captures_never_crash(name: str) -> None:
    _mutate_and_check(2 + CORPUS_SAMPLES.index(name), (CORPUS / name).read_bytes())


def test_every_prefix_of_a_small_capture_reads_the_complete_records() -> None:
    frames = [ethernet(ipv4(tcp(flags=SYN, seq=i))) for i in range(3)]
    data = pcap(frames)
    size = 16 + len(frames[0])
    # Every byte around the record boundaries (inside/after each 16-byte record header),
    # every 5th byte elsewhere.
    boundaries = {24 + k * size + d for k in range(4) for d in range(-1, 18)}
    cuts = sorted(
        {c for c in boundaries | set(range(24, len(data) + 1, 5)) if 24 <= c <= len(data)}
    )
    for cut in cuts:
        cap = read_capture(io.BytesIO(data[:cut]))
        whole = (cut - 24) // size
        assert cap.frames - cap.truncated_records == whole
        assert cap.frames == whole + (1 if (cut - 24) % size else 0)
        _check(data[:cut])
