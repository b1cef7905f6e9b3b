"""The header tables in pcapline/decode/headers.py: complete, in wire order, and read right."""

from __future__ import annotations

import numpy as np
import pytest

from pcapline.decode.headers import TABLES, Block, Ethernet, Header, Ipv4, Tcp, read


def _bits(header: type[Header]) -> list[tuple[str, set[int]]]:
    """Each field's bit positions inside the header (0 = the first bit on the wire)."""
    out = []
    for f in header.fields():
        bits = 8 * f.width
        mask = f.mask if f.mask is not None else (1 << bits) - 1
        assert mask < 1 << bits, f"{header.__name__}.{f.name}: mask wider than the field"
        assert f.mask is None or (mask >> f.shift) << f.shift == mask, f"{f.name}: shift"
        if f.little_endian:
            assert f.mask is None, f"{f.name}: masks are for network-order fields"
        out.append((f.name, {8 * f.offset + (bits - 1 - k) for k in range(bits) if mask >> k & 1}))
    return out


@pytest.mark.parametrize("header", TABLES, ids=lambda h: h.__name__)
def test_table_covers_the_header_once_in_wire_order(header: type[Header]) -> None:
    fields = _bits(header)
    seen: set[int] = set()
    previous_first = -1
    for name, bits in fields:
        assert not bits & seen, f"{header.__name__}.{name} overlaps an earlier field"
        assert min(bits) > previous_first, f"{header.__name__}.{name} is out of wire order"
        previous_first = min(bits)
        seen |= bits
    assert seen == set(range(8 * header.SIZE)), f"{header.__name__}: gaps or bytes past SIZE"
    assert all(f.doc for f in header.fields()), f"{header.__name__}: every field says what it is"


def test_fields_read_the_same_by_gather_and_by_block() -> None:
    rng = np.random.default_rng(7)
    data = rng.integers(0, 256, 400, dtype=np.uint8)
    pos = np.array([0, 17, 123, 380 - Tcp.SIZE], dtype=np.int64)
    for header in (Tcp, Ipv4):
        block = Block(data, pos, header)
        for f in header.fields():
            if f.width in (1, 2, 4, 8):
                assert read(data, pos, f).tolist() == block.read(f).tolist(), f.name


def test_bit_fields_of_a_known_tcp_header() -> None:
    # sport 443, dport 50000, seq 1, ack 2, data offset 8 words, flags SYN+ACK, window 65535
    raw = bytes.fromhex("01bbc35000000001000000028012ffff00000000")
    data = np.frombuffer(raw, dtype=np.uint8)
    block = Block(data, np.array([0]), Tcp)
    values = {f.name: int(block.read(f)[0]) for f in Tcp.fields()}
    assert values["sport"] == 443 and values["dport"] == 50000
    assert values["seq"] == 1 and values["ack"] == 2
    assert values["data_offset"] == 8 and values["flags"] == 0x12 and values["reserved"] == 0
    assert values["window"] == 0xFFFF


def test_documentation_only_fields_are_not_read() -> None:
    with pytest.raises(ValueError, match="documentation only"):
        read(np.zeros(20, np.uint8), np.array([0]), Ethernet.dst)
