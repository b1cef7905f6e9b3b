# Type stub of the compiled core (_native.c); pcapline.read.native says when it is used.
from typing_extensions import Buffer  # collections.abc.Buffer from Python 3.12 on

def walk_pcap(
    data: Buffer, big_endian: bool, rec_len: int, first: int, final: bool, max_len: int
) -> tuple[bytearray, int | None, int]:
    """Offsets of classic pcap records from ``first`` on (``pcap._walk_python``)."""

def epb_run(data: Buffer, off: int, big_endian: bool, max_len: int) -> tuple[bytearray, int]:
    """Offsets of the complete Enhanced Packet Blocks from ``off`` on, and where they end."""

def gather_rows(data: Buffer, pos: Buffer, width: int, out: Buffer) -> bool:
    """Rows of ``width`` bytes at each int64 position into ``out``; False if one is out of range."""
