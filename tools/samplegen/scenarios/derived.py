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
import time
from pathlib import Path

from tools.samplegen import steps as st
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


SILENT_PORT, TICKER_PORT = 40236, 40237


def _tcp_frames(path: Path) -> list[tuple[int, int, int, int]]:
    """(frame number, source port, destination port, TCP payload bytes) of every IPv4/TCP
    frame of a little-endian microsecond Ethernet pcap (0 ports: not TCP)."""
    data = path.read_bytes()
    out = []
    off, number = 24, 0
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack_from("<IIII", data, off)
        frame = data[off + 16 : off + 16 + incl]
        off += 16 + incl
        number += 1
        if len(frame) < 54 or struct.unpack_from("!H", frame, 12)[0] != ETHERTYPE_IPV4:
            out.append((number, 0, 0, 0))
            continue
        ihl = (frame[14] & 0x0F) * 4
        total = struct.unpack_from("!H", frame, 16)[0]
        if frame[23] != 6:
            out.append((number, 0, 0, 0))
            continue
        tcp = 14 + ihl
        sport, dport = struct.unpack_from("!HH", frame, tcp)
        doff = (frame[tcp + 12] >> 4) * 4
        out.append((number, sport, dport, total - ihl - doff))
    return out


def silent_sender_tail_cut(ctx: Ctx, net: int) -> list[Expected]:
    """A 20 KB download whose tail the capture lost (frames deleted with editcap, what a
    tcpdump drop does), while another connection keeps being captured for 5 s more."""
    base, name = "silent-sender-source.pcap", "silent-sender-tail-cut.pcap"
    with Lab(ctx.tag) as lab:
        pair = make_pair(lab, net)
        ctx.capture(pair.client, "eth0", base, "-s", "96")
        ticker_srv = ctx.server(
            pair.server,
            [
                *st.listen(TICKER_PORT + 1000),
                st.accept(),
                st.recv(60, "c"),
                st.recv_eof("c"),
                st.close("c"),
            ],
            "ticker-server",
        )
        srv = ctx.server(
            pair.server,
            [
                *st.listen(),
                st.accept(),
                st.recv(100, "c"),
                st.send(20000, "c"),
                st.recv_eof("c"),
                st.close("c"),
            ],
        )
        ticks = [step for _ in range(6) for step in (st.send(10), st.sleep(1.0))]
        ticker = ctx.actor(
            pair.client,
            [*st.connect(pair.server_ip, TICKER_PORT, port=TICKER_PORT + 1000), *ticks, st.close()],
            "ticker",
        )
        time.sleep(0.3)
        cli = ctx.actor(
            pair.client,
            [*st.connect(pair.server_ip, SILENT_PORT), st.send(100), st.recv(20000), st.close()],
            "client",
        )
        cli.expect("finished", timeout=15)
        srv.expect("finished", timeout=15)
        ticker.expect("finished", timeout=15)
        ticker_srv.expect("finished", timeout=15)
        ctx.finish(cli, srv, ticker, ticker_srv, linger=0.3)
    src = ctx.out / base
    frames = _tcp_frames(src)
    mine = [f for f in frames if SILENT_PORT in (f[1], f[2])]
    server_data = [f for f in mine if f[1] == st.SERVER_PORT and f[3] > 0]
    client_acks = [f for f in mine if f[2] == st.SERVER_PORT and f[3] == 0]
    # Keep the server's data up to its middle segment (the client's ACKs of the earlier ones
    # with it), then delete the rest of this connection: its later data, the client's later
    # ACKs, both FINs.
    cut = server_data[len(server_data) // 2][0]
    if not any(ack[0] > server_data[0][0] and ack[0] < cut for ack in client_acks):
        raise RuntimeError("no client ACK of the server's data before the cut")
    deleted = [str(f[0]) for f in mine if f[0] > cut]
    subprocess.run(["editcap", str(src), str(ctx.out / name), *deleted], check=True)
    src.unlink()
    return [
        Expected(
            name,
            "a 20 KB download whose tail the capture lost: every frame of it after the server's "
            "middle data segment deleted with editcap (as a tcpdump that drops packets loses "
            "them), while a second connection sends 10 B a second for 5 s more",
            "client",
            {"snaplen": 96, "deleted_frames": len(deleted)},
            [
                Conn(
                    {"client_port": SILENT_PORT},
                    "open",
                    counts=clean(),
                    note="really closed by both FINs (deleted); the server's last captured data "
                    "is unacknowledged and it sends nothing more for ~5 s: a live sender would "
                    "have retransmitted, so the verdict is open with confidence unknown "
                    "(silent_sender)",
                    explanation_keywords=[
                        "were never acknowledged",
                        "packets dropped by kernel",
                        "Confidence unknown",
                    ],
                ),
                Conn(
                    {"client_port": TICKER_PORT},
                    "closed",
                    closer="client",
                    counts=clean(),
                    note="six 10 B writes 1 s apart, then the client closes",
                ),
            ],
            derived_from=base,
            notes=f"DERIVED: {base} (captured at the client's eth0, -s 96) with "
            f"{len(deleted)} frames of the download deleted by editcap; the source is not kept.",
            capture_format={**ETHERNET, "snaplen": 96},
        )
    ]
