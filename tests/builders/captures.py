"""Named crafted captures, written with ``Conversation`` (our own bytes, no copied capture).

``two_connections_pcap`` is the plumbing capture of the CLI and ``analyze()`` tests. The
others reproduce, segment for segment, a packet pattern a behaviour test needs and that a
real capture in the corpus showed first; they are committed as tests/captures/NAME.pcap so the
tests run without the corpus (tests/captures/README.md says what each one shows).
Regenerate them from tests/: ``python -m builders.captures``; tests/test_captures.py fails when
a committed file differs from what its generator writes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from builders.conversation import CLIENT, SERVER, Conversation, pcap_bytes
from builders.frames import ethernet, ipv4, udp
from pcapline.model import ACK, RST

CAPTURES = Path(__file__).resolve().parents[1] / "captures"


def two_connections() -> bytes:
    """Ethernet/IPv4 frames, 10 ms apart:

    frames 1-9   connection 0, 10.0.0.1:40000 -> 10.0.0.2:80: handshake, 5 bytes each way,
                 client FIN first, server FIN, last ACK (an orderly close)
    frames 10-11 connection 1, 10.0.0.1:40001 -> 10.0.0.2:81: SYN answered by RST+ACK (refused)
    frame 12     a UDP datagram at 1 s (skipped as not_tcp)
    """
    c = Conversation(client=("10.0.0.1", 40000), server=("10.0.0.2", 80))
    c.syn(0.00).synack(0.01).ack(CLIENT, 0.02).data(CLIENT, 0.03, 5).data(SERVER, 0.04, 5)
    c.fin(CLIENT, 0.05).ack(SERVER, 0.06).fin(SERVER, 0.07).ack(CLIENT, 0.08)
    r = Conversation(1, 7000, 0, client=("10.0.0.1", 40001), server=("10.0.0.2", 81))
    r.syn(0.09).send(SERVER, 0.10, RST | ACK, seq=0, window=0)

    def datagram() -> list[tuple[int, bytes]]:
        return [(10**9, ethernet(ipv4(udp(payload=b"x"), "10.0.0.1", "10.0.0.2", proto=17)))]

    return pcap_bytes(c, r, extra=datagram)


def two_connections_pcap(path: Path) -> Path:
    path.write_bytes(two_connections())
    return path


#: tests/captures/NAME.pcap -> the function that writes it.
GENERATORS: dict[str, Callable[[], bytes]] = {}


def main() -> None:
    CAPTURES.mkdir(exist_ok=True)
    for name, make in GENERATORS.items():
        (CAPTURES / name).write_bytes(make())
        print(f"wrote {CAPTURES / name}")


if __name__ == "__main__":
    main()
