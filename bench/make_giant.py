#!/usr/bin/env python3
"""Build captures holding one giant connection each, and time pcapline on them.

Long-lived connections are normal in real captures: a day of keepalives, a multi-GB transfer,
a persist stall of hours. Their analysis must cost time linear in the connection's segments
(issue 11, "No connection is too long"). Each capture here is one connection made by
repeating packet shapes a real Linux kernel sent (the sample captures built by
tools/samplegen in network namespaces), with sequence numbers, acknowledgements, TCP
timestamps and capture times rewritten so the connection stays consistent:

* ``keepalive``: the handshake and request/response of
  ``keepalive-healthy-idle2-answered.pcap``, then ``--probes`` answered keepalive probes 2 s
  apart (TCP_KEEPIDLE 2, as the template; 200,000 probes are 4.6 days) (the
  probe and its ACK, unchanged seq/ack as the kernel sends them), then the FIN exchange;
* ``bulk``: the handshake of ``zero-window-recovers.pcap``, then ``--segments`` full-sized data
  segments with an ACK every second one; every 1000th segment is retransmitted after two
  duplicate ACKs (fast retransmit), so the retransmission detector visits the connection;
  headers only (``caplen`` 66, ``origlen`` 1514, as tcpdump ``-s 96`` writes);
* ``persist``: the opening of ``zero-window-recovers.pcap`` up to the zero window, then
  ``--probes`` window probes each answered by a zero-window ACK, 200 ms apart (hours of
  stall), then the window update and FIN exchange.

These captures are for timing only: repeated shapes are not kernel truth (fates and delays are
asserted on real-kernel captures elsewhere). Checksums are left as the template had them.

    python bench/make_giant.py --out /tmp/pcapline-giant            # write the three captures
    python bench/make_giant.py --out /tmp/pcapline-giant --time     # and time analyze on each
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

SAMPLES = Path(__file__).resolve().parent.parent / "sample_captures"
KEEPALIVE_TEMPLATE = SAMPLES / "keepalive-healthy-idle2-answered.pcap"
ZERO_WINDOW_TEMPLATE = SAMPLES / "zero-window-recovers.pcap"
ETHERNET = 14
MSS = 1448


@dataclass(frozen=True)
class Shape:
    """One frame of a template capture: its bytes and where its TCP fields sit."""

    data: bytes
    origlen: int
    tcp: int  # offset of the TCP header
    ts_option: int | None  # offset of the TSval field, if the segment carries timestamps

    @staticmethod
    def of(data: bytes, origlen: int) -> Shape:
        ihl = (data[ETHERNET] & 0x0F) * 4
        tcp = ETHERNET + ihl
        doff = (data[tcp + 12] >> 4) * 4
        ts = None
        i = tcp + 20
        while i < tcp + doff:
            kind = data[i]
            if kind == 0:
                break
            if kind == 1:
                i += 1
                continue
            if kind == 8:
                ts = i + 2
            i += data[i + 1]
        return Shape(data, origlen, tcp, ts)

    def frame(
        self,
        *,
        seq: int | None = None,
        ack: int | None = None,
        window: int | None = None,
        tsval: int | None = None,
        tsecr: int | None = None,
        ip_id: int | None = None,
        headers_only: bool = False,
    ) -> tuple[bytes, int]:
        """The frame with fields rewritten (absolute values, modulo 2**32); (bytes, origlen)."""
        out = bytearray(self.data)
        t = self.tcp
        if ip_id is not None:
            struct.pack_into("!H", out, ETHERNET + 4, ip_id % 2**16)
        if seq is not None:
            struct.pack_into("!I", out, t + 4, seq % 2**32)
        if ack is not None:
            struct.pack_into("!I", out, t + 8, ack % 2**32)
        if window is not None:
            struct.pack_into("!H", out, t + 14, window)
        if self.ts_option is not None:
            if tsval is not None:
                struct.pack_into("!I", out, self.ts_option, tsval % 2**32)
            if tsecr is not None:
                struct.pack_into("!I", out, self.ts_option + 4, tsecr % 2**32)
        if headers_only:
            doff = (out[t + 12] >> 4) * 4
            del out[t + doff :]
        return bytes(out), self.origlen

    def field(self, offset: int, fmt: str = "!I") -> int:
        return int(struct.unpack_from(fmt, self.data, offset)[0])

    @property
    def seq(self) -> int:
        return self.field(self.tcp + 4)

    @property
    def ack(self) -> int:
        return self.field(self.tcp + 8)

    @property
    def tsval(self) -> int:
        assert self.ts_option is not None
        return self.field(self.ts_option)

    @property
    def tsecr(self) -> int:
        assert self.ts_option is not None
        return self.field(self.ts_option + 4)


def read_template(path: Path) -> tuple[bytes, list[tuple[int, Shape]]]:
    """The pcap global header and (time in ns, Shape) per frame (1-based list index + 1)."""
    raw = path.read_bytes()
    magic = struct.unpack_from("<I", raw)[0]
    assert magic in (0xA1B2C3D4, 0xA1B23C4D), f"{path}: little-endian pcap expected"
    scale = 1000 if magic == 0xA1B2C3D4 else 1
    header = raw[:24]
    frames = []
    pos = 24
    while pos < len(raw):
        sec, frac, caplen, origlen = struct.unpack_from("<IIII", raw, pos)
        data = raw[pos + 16 : pos + 16 + caplen]
        pos += 16 + caplen
        is_tcp = len(data) > 34 and data[12:14] == b"\x08\x00" and data[23] == 6
        frames.append((sec * 10**9 + frac * scale, Shape.of(data, origlen) if is_tcp else None))
    return header, frames  # type: ignore[return-value]


class Writer:
    """A nanosecond pcap writer (Ethernet)."""

    def __init__(self, path: Path, header: bytes) -> None:
        self.out = path.open("wb")
        magic = struct.pack("<I", 0xA1B23C4D)
        self.out.write(magic + header[4:16] + struct.pack("<I", 262144) + header[20:24])
        self.frames = 0

    def write(self, time_ns: int, frame: tuple[bytes, int]) -> None:
        data, origlen = frame
        sec, ns = divmod(time_ns, 10**9)
        self.out.write(struct.pack("<IIII", sec, ns, len(data), max(origlen, len(data))))
        self.out.write(data)
        self.frames += 1

    def close(self) -> None:
        self.out.close()


def _shapes(path: Path) -> tuple[bytes, dict[int, tuple[int, Shape]]]:
    header, frames = read_template(path)
    return header, {n: f for n, f in enumerate(frames, 1) if f[1] is not None}


def keepalive(path: Path, probes: int, period_s: float = 2.0) -> int:
    """One connection with ``probes`` answered keepalive probes ``period_s`` apart."""
    header, t = _shapes(KEEPALIVE_TEMPLATE)
    w = Writer(path, header)
    for n in range(3, 10):  # handshake and one request/response
        w.write(t[n][0], t[n][1].frame())
    start = t[9][0]
    probe, answer = t[10][1], t[11][1]
    period_ns = int(period_s * 1e9)
    ts_client, ts_server = probe.tsval, answer.tsval
    tick = int(period_s * 1000)  # Linux TCP timestamps tick in ms
    now = start
    for _ in range(probes):
        now += period_ns
        ts_client += tick
        ts_server += tick
        w.write(now, probe.frame(tsval=ts_client, tsecr=ts_server - tick))
        w.write(now + 50_000, answer.frame(tsval=ts_server, tsecr=t[9][1].tsval))
    for n in range(14, 17):  # FIN exchange
        shape = t[n][1]
        w.write(
            now + period_ns // 2 + (t[n][0] - t[14][0]),
            shape.frame(
                tsval=(ts_client if shape.field(shape.tcp + 2, "!H") == 8080 else ts_server) + 1
            ),
        )
    w.close()
    return w.frames


def bulk(path: Path, segments: int, retransmit_every: int = 1000) -> int:
    """One client->server transfer of ``segments`` MSS segments, an ACK every second one."""
    header, t = _shapes(ZERO_WINDOW_TEMPLATE)
    w = Writer(path, header)
    for n in range(3, 6):
        w.write(t[n][0], t[n][1].frame())
    data, ack = t[20][1], t[22][1]
    seq0 = t[6][1].seq  # client seq of the first data byte
    server_seq = ack.seq
    window = 2896  # as the template server advertised (WS=1)
    now = t[5][0] + 1_000_000
    ts_c, ts_s = data.tsval, ack.tsval
    sent = 0
    k = 0
    while sent < segments:
        k += 1
        s1 = seq0 + sent * MSS
        now += 20_000
        w.write(
            now,
            data.frame(
                seq=s1, ack=server_seq, tsval=ts_c, tsecr=ts_s, ip_id=3 * k, headers_only=True
            ),
        )
        w.write(
            now + 1_000,
            data.frame(
                seq=s1 + MSS,
                ack=server_seq,
                tsval=ts_c,
                tsecr=ts_s,
                ip_id=3 * k + 1,
                headers_only=True,
            ),
        )
        if k % (retransmit_every // 2) == 0:
            # s1 lost beyond the capture point: two duplicate ACKs, then the fast retransmit.
            for d in (1, 2):
                w.write(
                    now + 5_000 + d * 1_000,
                    ack.frame(
                        seq=server_seq, ack=s1, window=window, tsval=ts_s, tsecr=ts_c, ip_id=k + d
                    ),
                )
            w.write(
                now + 9_000,
                data.frame(
                    seq=s1,
                    ack=server_seq,
                    tsval=ts_c + 1,
                    tsecr=ts_s,
                    ip_id=3 * k + 2,
                    headers_only=True,
                ),
            )
            now += 5_000
        w.write(
            now + 10_000,
            ack.frame(
                seq=server_seq, ack=s1 + 2 * MSS, window=window, tsval=ts_s, tsecr=ts_c, ip_id=k
            ),
        )
        sent += 2
        if k % 50 == 0:
            ts_c += 1
            ts_s += 1
    end_seq = seq0 + sent * MSS
    fin_c, fin_s, last = t[43][1], t[44][1], t[45][1]
    now += 500_000_000
    w.write(now, fin_c.frame(seq=end_seq, ack=server_seq, tsval=ts_c + 5, tsecr=ts_s))
    w.write(
        now + 200_000, fin_s.frame(seq=server_seq, ack=end_seq + 1, tsval=ts_s + 5, tsecr=ts_c + 5)
    )
    w.write(
        now + 210_000,
        last.frame(seq=end_seq + 1, ack=server_seq + 1, tsval=ts_c + 5, tsecr=ts_s + 5),
    )
    w.close()
    return w.frames


def persist(path: Path, probes: int, period_s: float = 0.2) -> int:
    """A zero-window stall answered by ``probes`` window probes ``period_s`` apart."""
    header, t = _shapes(ZERO_WINDOW_TEMPLATE)
    w = Writer(path, header)
    for n in range(3, 14):  # handshake, data, the window closes (frame 13)
        w.write(t[n][0], t[n][1].frame())
    probe, zero_ack = t[14][1], t[15][1]
    now = t[13][0]
    period_ns = int(period_s * 1e9)
    tick = int(period_s * 1000)
    ts_c, ts_s = probe.tsval, zero_ack.tsval
    for _ in range(probes):
        now += period_ns
        ts_c += tick
        ts_s += tick
        w.write(now, probe.frame(tsval=ts_c, tsecr=ts_s - tick))
        w.write(now + 40_000, zero_ack.frame(tsval=ts_s))
    shift = now + period_ns - t[19][0]
    shift_ts = ts_c + tick - t[20][1].tsval
    for n in range(19, 46):  # window update, the rest of the data, FIN exchange
        shape = t[n][1]
        from_client = shape.field(shape.tcp, "!H") != 8080
        if from_client:
            w.write(t[n][0] + shift, shape.frame(tsval=shape.tsval + shift_ts))
        else:
            w.write(
                t[n][0] + shift,
                shape.frame(tsval=shape.tsval + shift_ts, tsecr=shape.tsecr + shift_ts),
            )
    w.close()
    return w.frames


KINDS = {"keepalive": keepalive, "bulk": bulk, "persist": persist}


def time_analyze(path: Path) -> dict[str, float]:
    """Wall and CPU seconds and peak RSS of ``pcapline analyze --format json`` on ``path``."""
    argv = [sys.executable, "-m", "pcapline", "analyze", "--format", "json", "-o", os.devnull]
    start = time.perf_counter()
    proc = subprocess.Popen([*argv, str(path)])
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"pcapline analyze {path} exited {proc.returncode}")
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/pcapline-giant"))
    parser.add_argument("--kinds", default="keepalive,bulk,persist")
    parser.add_argument(
        "--probes",
        type=int,
        default=200_000,
        help="answered probes of the keepalive and persist connections",
    )
    parser.add_argument(
        "--segments", type=int, default=2_000_000, help="data segments of the bulk transfer"
    )
    parser.add_argument("--time", action="store_true", help="time pcapline analyze on each")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results = {}
    for kind in args.kinds.split(","):
        path = args.out / f"giant-{kind}.pcap"
        size = args.segments if kind == "bulk" else args.probes
        frames = KINDS[kind](path, size)
        print(f"{path}: {frames:,} frames, {path.stat().st_size / 1e6:.1f} MB", flush=True)
        if args.time:
            results[kind] = {"frames": frames, **time_analyze(path)}
            print(f"  analyze: {json.dumps(results[kind])}", flush=True)
    if results:
        print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
