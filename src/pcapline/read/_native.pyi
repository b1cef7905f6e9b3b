# Type stub of the compiled core (_native.c); pcapline.read.native says when it is used.
from typing import Any

import numpy as np
from typing_extensions import Buffer  # collections.abc.Buffer from Python 3.12 on

def walk_pcap(
    data: Buffer, big_endian: bool, rec_len: int, first: int, final: bool, max_len: int
) -> tuple[bytearray, int | None, int]:
    """Offsets of classic pcap records from ``first`` on (``pcap._walk_python``)."""

def epb_run(data: Buffer, off: int, big_endian: bool, max_len: int) -> tuple[bytearray, int]:
    """Offsets of the complete Enhanced Packet Blocks from ``off`` on, and where they end."""

def gather_rows(data: Buffer, pos: Buffer, width: int, out: Buffer) -> bool:
    """Rows of ``width`` bytes at each int64 position into ``out``; False if one is out of range."""

# Whole-capture scans of facts.py and duplicates.py (int64 columns, bool columns one byte each).
def unwrap_runs(
    values: Buffer, run_base: Buffer, keys: Buffer, order: Buffer, valid: Buffer, out: Buffer
) -> None:
    """``facts._unwrap``: unwrapped ``values - run_base[key]`` along each key's valid rows."""

def exclusive_running_max(
    values: Buffer, keys: Buffer, order: Buffer, fallback: Buffer, out: Buffer
) -> None:
    """``facts._exclusive_running_max``: per key, the max over earlier rows in ``order``."""

def peer_scan(
    values: Buffer,
    valid: Buffer,
    side: Buffer,
    group: Buffer,
    unknown: int,
    take_max: bool,
    out: Buffer,
) -> None:
    """The other side's largest (``take_max``) or latest earlier valid value in the group."""

def nearest_rows(
    group: Buffer, side: Buffer, own: Buffer, peer: Buffer, later: bool, out: Buffer
) -> None:
    """The nearest earlier (later) row of the group: own side where ``own``, other where ``peer``."""

def first_at_least(values: Buffer, lo: Buffer, hi: Buffer, target: Buffer, out: Buffer) -> None:
    """Per query, the first index in lo:hi whose value is at least the target (binary search)."""

def partition_of(
    ip_version: Buffer,
    src_hi: Buffer,
    src_lo: Buffer,
    dst_hi: Buffer,
    dst_lo: Buffer,
    sport: Buffer,
    dport: Buffer,
    count: int,
    out: Buffer,
) -> None:
    """``partitioned.partition_of``: each row's partition (uint64 columns, int64 ``out``)."""

def group_order(keys: Buffer, n_keys: int, out: Buffer) -> None:
    """``facts._grouped_order``: the rows sorted by a key in [0, n_keys), stably."""

def first_seen_ids(columns: tuple[Buffer, ...], out: Buffer) -> int:
    """``flows.first_seen_ids``: each row's number among the distinct rows of ``columns``
    (int64), in order of first appearance, written to ``out``; returns how many are distinct."""

def read_heads(fd: int, at: Buffer, length: Buffer, width: int, out: Buffer) -> int:
    """``app.payloads._heads`` for a source on disk: the first min(length[k], width) bytes
    of file ``fd`` from offset at[k] (int64 each) into row k of ``out`` (uint8, n x width,
    zeroed: what is not read stays 0); how many reads the file's end cut short; an OSError
    for a failed read."""

def identical_pairs(
    keys: tuple[Buffer, ...],
    group: Buffer,
    time_ns: Buffer,
    window_ns: int,
    look_back: int,
) -> tuple[bytearray, bytearray]:
    """``duplicates._identical_pairs``: each row and the nearest earlier row of its ``group``
    equal to it, at most ``look_back`` rows before it and less than ``window_ns`` earlier."""

# The decode stage's common frame (decode/ethernet_ipv4_tcp.py).
def ethernet_ipv4_tcp(
    data: Buffer,
    offset: Buffer,
    caplen: Buffer,
    origlen: Buffer,
    link_type: Buffer,
    truncated: Buffer,
    out: tuple[Buffer, ...],
) -> int:
    """Decode the Ethernet/IPv4/TCP frames into ``out`` (one buffer per column, a value per
    frame); returns how many rows were written."""

# The JSON writer's layout (render/jsondoc.py): JSON-native values only (exact str, int,
# float, bool, None, dict with str keys, list, tuple); TypeError for anything else,
# ValueError for a float that is not finite (the caller lays those out in Python).
def json_text(value: object, depth: int, indent: int | None) -> str:
    """``_Layout._nested``: ``value`` as json.dumps(indent=indent) writes it at ``depth``."""

def fill(
    pieces: tuple[str, ...],
    columns: tuple[list[Any] | Buffer | np.ndarray, ...],
    depths: tuple[int, ...],
    indent: int | None,
    groups: tuple[list[int], list[int], str, str] | None = None,
) -> list[str]:
    """``_Slots.fill`` from columns of values (a depth of -1: the column holds texts), one str
    per row, or per group ``(starts, ends, sep, close)`` a JSON array of its rows. A column
    is a list, or a one-dimensional int64 or float64 buffer (NaN laid out as null)."""

def on_mapped_file_shrunk(message: bytes) -> None:
    """From now on a SIGBUS (a memory-mapped file shrank under the process) writes ``message``
    to stderr and ends the process with exit 2."""
