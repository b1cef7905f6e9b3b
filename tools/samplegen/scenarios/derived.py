"""Files DERIVED from a real capture: compressed copies, and a BSD NULL/loopback rewrite.

Linux cannot capture DLT_NULL (BSD loopback: a 4-byte address family in host byte order
instead of a link header), so it is produced by rewriting the link header of a real Linux
Ethernet capture; the expected file says ``derived_from``. Compressed copies are the same
bytes through the gzip/bzip2/xz/zstd command-line tools.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

from tools.samplegen.expected import ETHERNET, Conn, Expected, clean
from tools.samplegen.netns import Lab, make_pair
from tools.samplegen.scenario import Ctx
from tools.samplegen.scenarios.linktypes import PORT, _exchange

COMPRESSORS = {  # suffix -> command writing the compressed file to stdout
    "gz": ["gzip", "-9", "-c"],
    "bz2": ["bzip2", "-9", "-c"],
    "xz": ["xz", "-9", "-c"],
    "zst": ["zstd", "-19", "-q", "-c"],
}
DLT_NULL = 0
AF_INET_BSD = 2  # the same on every BSD; AF_INET6 differs per OS (24, 28, 30), so IPv4 only
ETHERTYPE_IPV4 = 0x0800


def _compress(src: Path, dst: Path, command: list[str]) -> None:
    with dst.open("wb") as out:
        subprocess.run([*command, str(src)], stdout=out, check=True)


def ethernet_to_null(src: Path, dst: Path) -> tuple[int, int]:
    """Rewrite a little-endian microsecond EN10MB pcap into DLT_NULL; returns (kept, dropped non-IPv4)."""
    data = src.read_bytes()
    magic, vmaj, vmin, zone, sigfigs, snaplen, linktype = struct.unpack_from("<IHHiIII", data, 0)
    if magic != 0xA1B2C3D4 or linktype != 1:
        raise ValueError(f"{src.name}: expected a little-endian microsecond Ethernet pcap")
    out = [struct.pack("<IHHiIII", magic, vmaj, vmin, zone, sigfigs, snaplen, DLT_NULL)]
    kept = dropped = 0
    off = 24
    while off + 16 <= len(data):
        sec, usec, incl, orig = struct.unpack_from("<IIII", data, off)
        frame = data[off + 16 : off + 16 + incl]
        off += 16 + incl
        if len(frame) < 14 or struct.unpack_from("!H", frame, 12)[0] != ETHERTYPE_IPV4:
            dropped += 1  # ARP has no place on a loopback link
            continue
        body = struct.pack("<I", AF_INET_BSD) + frame[14:]  # host (little-endian) byte order
        out.append(struct.pack("<IIII", sec, usec, len(body), orig - 14 + 4) + body)
        kept += 1
    dst.write_bytes(b"".join(out))
    return kept, dropped


def derived_files(ctx: Ctx, net: int) -> list[Expected]:
    base = "derived-source-closed.pcap"
    with Lab(ctx.tag) as lab:
        pair = make_pair(lab, net)
        cap = ctx.capture(pair.client, "eth0", base)
        _exchange(ctx, pair.client, pair.server, pair.server_ip)
        cap.stop(linger=0.3)
    src = ctx.out / base
    conn = Conn(
        {"client_port": PORT},
        "closed",
        closer="client",
        counts=clean(),
        note="100 B request, 1000 B reply, client close() first",
    )
    fmt = ETHERNET
    out = [
        Expected(
            base,
            "a normal connection; the source of the compressed and BSD NULL files",
            "client",
            {},
            [conn],
            capture_format=fmt,
        )
    ]
    for suffix, command in COMPRESSORS.items():
        if shutil.which(command[0]) is None:
            raise RuntimeError(f"{command[0]} not installed")
        name = f"compressed-{suffix}.pcap.{suffix}"
        _compress(src, ctx.out / name, command)
        out.append(
            Expected(
                name,
                f"{base} compressed with {command[0]}",
                "client",
                {},
                [conn],
                derived_from=base,
                notes=f"byte-identical to {base} after decompression",
                capture_format={**fmt, "compression": suffix},
            )
        )
    null_name = "linktype-null-derived.pcap"
    kept, dropped = ethernet_to_null(src, ctx.out / null_name)
    out.append(
        Expected(
            null_name,
            f"BSD NULL/loopback (DLT_NULL) made by rewriting the Ethernet headers of {base}",
            "client",
            {
                "rewrite": "14-byte Ethernet header -> 4-byte AF_INET "
                "(2) in little-endian host order"
            },
            [conn],
            derived_from=base,
            notes=f"DERIVED, not captured (Linux cannot capture DLT_NULL). {kept} IPv4 frames kept, "
            f"{dropped} non-IPv4 (ARP) frames left out; timestamps unchanged.",
            capture_format={
                "format": "pcap",
                "link_type": "NULL",
                "byte_order": "little-endian",
                "snaplen": 262144,
            },
        )
    )
    return out
