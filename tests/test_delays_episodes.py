"""delays._EventRows: what the retransmission episodes read at each event, found for all of a
connection's events at once, equals the rule read event by event (the frame's row, the first
peer ACK after it acknowledging past its first byte, the peer's last ACK before it), on every
sample capture with retransmissions (real kernels, both directions, one-sided captures).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pcapline.decode import decode
from pcapline.delays import _EventRows, _PeerAcks, _Rows
from pcapline.detect import DetectResult, run_all
from pcapline.errors import PcaplineError
from pcapline.flows import build_flows
from pcapline.model import Event, EventKind
from pcapline.read import read_capture

SAMPLES = Path(__file__).resolve().parents[1] / "sample_captures"
_RESENT = (EventKind.RETRANSMIT, EventKind.FAST_RETRANSMIT)


def _detected(path: Path) -> DetectResult | None:
    try:
        capture = read_capture(str(path))
        segs, _connections = build_flows(decode(capture).segments)
    except PcaplineError:
        return None
    end = int(capture.timed_ns.max()) if len(capture.timed_ns) else None
    return run_all(segs, capture_end_ns=end, visit_all=True)


def _one_by_one(view: _Rows, event: Event) -> tuple[int, bool, int, bool, int, int]:
    """The rule for one event, read literally (the per-event searches ``_EventRows`` replaced)."""
    i = int(view.frame.searchsorted(event.frame))
    client = bool(view.from_client[i])
    peer = np.flatnonzero((view.from_client != client) & view.ack)
    highest = np.maximum.accumulate(view.rel_ack[peer]) if len(peer) else peer
    j = max(
        int(peer.searchsorted(i, side="right")),
        int(highest.searchsorted(int(view.rel_seq[i]), side="right")),
    )
    ack_row = int(peer[j]) if j < len(peer) else None
    before = peer[: int(peer.searchsorted(i))]
    spoke = int(before[-1]) if len(before) else i
    time_ns = view.time_ns
    return (
        i,
        client,
        int(time_ns[i]),
        ack_row is not None,
        int(time_ns[ack_row if ack_row is not None else i]),
        int(time_ns[spoke]),
    )


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.pcap")), ids=lambda p: p.name)
def test_event_rows_equal_the_rule_event_by_event(path: Path) -> None:
    found = _detected(path)
    if found is None:
        pytest.skip("no TCP connection")
    checked = 0
    for index, conn in enumerate(found.facts.conn_ids.tolist()):
        detections = found.detections.get(conn)
        if detections is None:
            continue
        events = [e for e in detections.retransmit.events if e.kind in _RESENT]
        if not events:
            continue
        view = _Rows.of(found.facts, index)
        got = _EventRows.of(view, _PeerAcks(view), events)
        columns = (got.rows, got.client, got.time_ns, got.acked, got.ack_ns, got.peer_spoke_ns)
        assert list(zip(*columns, strict=True)) == [_one_by_one(view, e) for e in events]
        checked += len(events)
    if not checked:
        pytest.skip("no retransmission")
