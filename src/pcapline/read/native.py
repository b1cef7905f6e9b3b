"""The optional compiled core: ``pcapline.read._native`` (``_native.c``).

It runs the walkers' per-record loops (``pcap._walk``, the common case of
``pcapng.PcapngWalker._walk``) and ``capture.gather_rows`` in C: about 10x less CPU than one
interpreted iteration per record. It also runs the whole-capture scans of ``facts.py`` and
``duplicates.py`` (unwrapping, running maxima, the peer's last value, identical neighbours) in
one walk each instead of numpy's several full passes, and the retransmission detector's row
links (``facts.nearest_rows``: retransmit's and close's), the grouped binary searches of
retransmits and delays (``facts.first_at_least``) and the numbering of the flows stage's
4-tuples (``flows.first_seen_ids``: one hash table instead of three factorizings), and on
the bounded path the partition of each segment's 4-tuple (``partitioned.partition_of``: one
walk instead of some 25 numpy passes) and the first bytes of many payloads of the capture
file (``app.payloads._heads``: one ``pread`` each, without a Python call each); ``int64s``
and ``flags`` hand it columns. And it lays out the JSON document's connection entries
(``render/jsondoc.py``: ``json_text``, ``fill``), the same text as the Python layout, which
tests/render/test_jsondoc_native.py compares it with. setup.py builds it when a C compiler
is there; without one pcapline installs anyway and uses the Python code, which stays the
reference implementation: tests/read/test_native.py runs both over real and damaged
captures and requires the same records, offsets and warnings.

``PCAPLINE_NO_NATIVE=1`` makes pcapline ignore a built core (to rule it out when chasing a
problem; the tests flip ``active`` instead).
"""

from __future__ import annotations

import os

import numpy as np

__all__ = ["NO_NATIVE_ENV", "active", "core", "flags", "int64s"]

try:
    from pcapline.read import _native as core
except ImportError:  # installed without a C compiler: the Python walkers do the work
    core = None  # type: ignore[assignment]

#: Environment variable: set to anything but "" or "0" to use the Python walkers only.
NO_NATIVE_ENV = "PCAPLINE_NO_NATIVE"

#: Whether the walkers use ``core`` (built, and not switched off by ``NO_NATIVE_ENV``).
active: bool = core is not None and os.environ.get(NO_NATIVE_ENV, "") in ("", "0")


def int64s(values: np.ndarray) -> memoryview:
    """A column as the core reads it: contiguous int64 (no copy when it is one already)."""
    return np.ascontiguousarray(values, dtype=np.int64).data


def flags(values: np.ndarray) -> memoryview:
    """A boolean column as the core reads it: one contiguous byte per row."""
    return np.ascontiguousarray(values, dtype=np.bool_).data
