"""Capture artefacts: what the capture did to the packets, to recognise before judging.

Facts (tcp-facts.md "Capture artefacts"; anchors.md 1.5):

- The same packet captured twice (``-i any`` on bridges/veth/VLAN, two taps): same IP ID,
  seq, ack, length, flags, microseconds apart. Not a retransmission (``facts.is_dup``).
- TSO/GSO/GRO: segments larger than the peer's MSS at the capturing host.
- The capture started inside the connection (no SYN from either side): the connection was
  already open; its client is guessed (``flows``). Not so for a port scanner's probes
  (``Facts.scan_probe``: segments without SYN, ACK or RST): they never opened anything.
- The capture ended mid-flight: data still unacknowledged in the last segments (the
  retransmit detector's series says so for the data that matters).

Emits: duplicate (each copy), super_segment (the first per direction), capture_start (the first
row of a connection with no SYN), all columnar for every connection.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pcapline.detect import (
    Batch,
    ConnView,
    Detection,
    Detector,
    EventRows,
    first_rows_by_direction,
    row_events,
)
from pcapline.facts import Facts, any_per_connection, reduce_per_connection
from pcapline.model import EventKind

EMITS = frozenset({EventKind.DUPLICATE, EventKind.SUPER_SEGMENT, EventKind.CAPTURE_START})


@dataclass(frozen=True, slots=True)
class Artefacts:
    """Capture artefacts in one connection (the detector's ``inferred``)."""

    duplicates: int
    super_segments: int
    largest_segment: int
    capture_start: bool  # no SYN seen, and no scan probe: the capture began inside it


def detect(view: ConnView) -> Detection[Artefacts]:
    counts = view.batch.of(_counts)
    k = view.at
    report = Artefacts(
        duplicates=counts.duplicates[k],
        super_segments=counts.super_segments[k],
        largest_segment=counts.largest_segment[k],
        capture_start=not counts.has_syn[k] and not counts.probe[k],
    )
    return Detection((), report)


@dataclass(frozen=True, slots=True)
class _Counts:
    """Per connection of a batch, column-wise: what ``Artefacts`` counts."""

    duplicates: list[int]
    super_segments: list[int]
    largest_segment: list[int]  # 0 for a connection without rows
    has_syn: list[bool]
    probe: list[bool]  # ``Facts.scan_probe``


def _counts(batch: Batch) -> _Counts:
    r = batch.rows
    largest = reduce_per_connection(np.maximum, r.seg_len, batch.starts, empty=0, dtype=np.int64)
    return _Counts(
        duplicates=batch.count(r.is_dup).tolist(),
        super_segments=batch.count(r.super_segment).tolist(),
        largest_segment=largest.tolist(),
        has_syn=batch.any(r.syn),
        probe=batch.any(r.scan_probe),
    )


def rows(facts: Facts) -> EventRows:
    has_syn = any_per_connection(facts.syn, facts.starts)
    began_before = ~has_syn & ~any_per_connection(facts.scan_probe, facts.starts)
    no_syn_start = np.zeros(len(facts), dtype=bool)  # the first row of a connection without SYN
    no_syn_start[facts.starts[:-1][began_before]] = True
    super_first = first_rows_by_direction(facts, facts.super_segment)
    return EventRows.joined(
        [
            row_events(facts, facts.is_dup, EventKind.DUPLICATE, "the same packet captured twice"),
            row_events(
                facts,
                super_first,
                EventKind.SUPER_SEGMENT,
                "larger than the MSS: TSO/GRO at the capture host",
            ),
            row_events(
                facts,
                no_syn_start,
                EventKind.CAPTURE_START,
                "no SYN: the capture began inside this connection",
            ),
        ]
    )


DETECTOR: Detector[Artefacts] = Detector("artefacts", EMITS, detect, rows=rows)

__all__ = ["DETECTOR", "Artefacts"]
