#!/usr/bin/env python3
"""Build a large capture from the bench capture: the same real-kernel traffic repeated.

Copy k (k = 0 .. copies-1) of every record gets its IPv4 addresses moved to another /16
(the second octet + k * step, so no 4-tuple of one copy meets one of another) and its time
shifted by k * (the capture's span + 1 s), so the copies follow each other like one long
capture. The IPv4 header checksum is recomputed; TCP checksums are left alone (the bench
capture is taken with a 96-byte snaplen: no tool can verify them anyway).

Usage::

    python bench/make_big.py /tmp/pcapline-bench/bench.pcap --copies 12 \
        -o /tmp/pcapline-bench/big.pcap     # 2.5 M packets x 12 = 30 M, ~3 GB

Only classic little-endian pcap with Ethernet frames (what make_capture.py writes).
A sidecar ``OUTPUT.json`` records the packet count for bench/run.py.
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
from pathlib import Path

import numpy as np

ETHERTYPE_IPV4 = 0x0800


def record_offsets(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start of every record header and its captured length."""
    starts: list[int] = []
    lengths: list[int] = []
    raw = memoryview(data)  # type: ignore[arg-type]
    pos, end = 24, len(data)
    unpack = struct.Struct("<I").unpack_from
    while pos + 16 <= end:
        caplen = unpack(raw, pos + 8)[0]
        if pos + 16 + caplen > end:
            break  # a record cut by the end of the file
        starts.append(pos)
        lengths.append(caplen)
        pos += 16 + caplen
    return np.asarray(starts, np.int64), np.asarray(lengths, np.int64)


def ipv4_checksums(data: np.ndarray, ip: np.ndarray) -> np.ndarray:
    """Header checksum of the 20-byte IPv4 headers starting at ``ip`` (checksum field as 0)."""
    words = np.zeros(len(ip), np.int64)
    for i in range(0, 20, 2):
        if i == 10:
            continue  # the checksum field itself
        words += data[ip + i].astype(np.int64) << 8 | data[ip + i + 1].astype(np.int64)
    while (words >> 16).any():
        words = (words & 0xFFFF) + (words >> 16)
    return (~words) & 0xFFFF


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("capture", type=Path)
    parser.add_argument("--copies", type=int, default=12)
    parser.add_argument("--step", type=int, default=1, help="second-octet shift per copy")
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args()
    data = np.fromfile(args.capture, dtype=np.uint8)
    magic, _, _, _, _, _, linktype = struct.unpack_from("<IHHiIII", data.tobytes()[:24])
    if magic not in (0xA1B2C3D4, 0xA1B23C4D) or linktype != 1:
        print("make_big.py: only little-endian classic pcap of Ethernet frames", file=sys.stderr)
        return 2
    starts, caplen = record_offsets(data)
    frames = starts + 16
    ts = data[starts[:, None] + np.arange(4)].astype(np.int64) @ (256 ** np.arange(4))
    span = int(ts.max() - ts.min()) + 1 if len(ts) else 1
    ethertype = data[frames + 12].astype(np.int64) << 8 | data[frames + 13]
    ihl = data[np.minimum(frames + 14, len(data) - 1)] & 0x0F
    v4 = (ethertype == ETHERTYPE_IPV4) & (caplen >= 34) & (ihl == 5)
    ip = frames[v4] + 14
    body = data[24 : int(starts[-1] + 16 + caplen[-1])] if len(starts) else data[24:24]
    base = 24  # body starts at file offset 24
    src_octet, dst_octet = data[ip + 13].copy(), data[ip + 17].copy()
    with args.output.open("wb") as out:
        out.write(data[:24].tobytes())
        for k in range(args.copies):
            copy = body.copy()
            copy[ip + 13 - base] = (src_octet.astype(np.int64) + k * args.step) % 256
            copy[ip + 17 - base] = (dst_octet.astype(np.int64) + k * args.step) % 256
            shifted = ts + k * span
            for i in range(4):
                copy[starts - base + i] = (shifted >> (8 * i)) & 0xFF
            checksum = ipv4_checksums(copy, ip - base)
            copy[ip + 10 - base] = checksum >> 8
            copy[ip + 11 - base] = checksum & 0xFF
            out.write(copy.tobytes())
            print(f"copy {k + 1}/{args.copies} written", file=sys.stderr)
    packets = len(starts) * args.copies
    sidecar = {
        "source": str(args.capture),
        "copies": args.copies,
        "bytes": args.output.stat().st_size,
        "tcpdump": {"captured": packets},
    }
    Path(str(args.output) + ".json").write_text(json.dumps(sidecar, indent=2) + "\n")
    print(f"{args.output}: {packets:,} packets, {sidecar['bytes'] / 1e9:.1f} GB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
