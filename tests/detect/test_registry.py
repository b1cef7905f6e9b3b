"""detect/__init__.py: the registry, run_all's tables, and each detector's declared kinds."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
from builders.conversation import CLIENT, SERVER, Conversation
from builders.segments import segments

from pcapline.detect import DETECTORS, conn_view, run_all
from pcapline.facts import compute_facts
from pcapline.model import EVENT_COLUMNS, EventKind


def _busy_capture() -> pd.DataFrame:
    """One connection with a bit of everything: retransmission, probes, zero window, RST."""
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.01, 100, ip_id=555)
    c.data(CLIENT, 0.0100004, 100, seq=c.nxt(CLIENT) - 100, ip_id=555)  # captured twice
    c.data(CLIENT, 0.25, 100, seq=c.nxt(CLIENT) - 100)
    c.ack(SERVER, 0.26)
    c.probe(CLIENT, 10.0).ack(SERVER, 10.001)
    c.ack(SERVER, 11.0, window=0)
    c.probe(CLIENT, 11.5).ack(SERVER, 11.501, window=0)
    c.ack(SERVER, 12.0, window=1000)
    c.fin(CLIENT, 13.0).rst(SERVER, 13.001)
    return segments(c)


def _stall_capture() -> pd.DataFrame:
    """A small request acknowledged, then a full-size segment sent three times, never ACKed
    (a path-MTU stall), after 10 s of idle (the idle detector's signature too)."""
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.01, 100).ack(SERVER, 0.02)
    c.data(CLIENT, 10.0, 1448)
    for t in (10.2, 10.6):
        c.data(CLIENT, t, 1448, seq=c.nxt(CLIENT) - 1448)
    return segments(c)


#: Detectors whose phenomenon the busy capture does not show, and the capture that does.
_OWN_CAPTURE = {"path_mtu": _stall_capture, "idle": _stall_capture}


def test_registry_names_are_module_names_and_unique() -> None:
    names = [d.name for d in DETECTORS]
    assert names == [
        "handshake",
        "retransmit",
        "keepalive",
        "zero_window",
        "close",
        "artefacts",
        "path_mtu",
        "idle",
        "silent_sender",
    ]
    for d in DETECTORS:
        assert d.detect.__module__ == f"pcapline.detect.{d.name}"


@pytest.mark.parametrize("detector", DETECTORS, ids=lambda d: d.name)
def test_detectors_emit_only_their_declared_kinds(detector) -> None:  # type: ignore[no-untyped-def]
    segs = _OWN_CAPTURE.get(detector.name, _busy_capture)()
    facts = compute_facts(segs)
    kinds = {e.kind for e in detector.detect(conn_view(facts, 0)).events}
    if detector.rows is not None:
        kinds |= {EventKind(k) for k in detector.rows(facts)["kind"]}
    assert kinds <= detector.emits
    # silent_sender reports a record and no event (its phenomenon is an absence)
    assert kinds or not detector.emits, "the busy capture shows something of every phenomenon"


def test_run_all_events_table_is_sorted_and_complete() -> None:
    segs = _busy_capture()
    result = run_all(segs)
    ev = result.events
    assert tuple(ev.columns) == EVENT_COLUMNS
    assert ev.equals(ev.sort_values(["conn", "frame"], kind="stable").reset_index(drop=True))
    kinds = ev["kind"].tolist()
    for kind in (
        "syn",
        "synack",
        "handshake_ack",
        "retransmit",
        "keepalive",
        "keepalive_ack",
        "zero_window",
        "window_probe",
        "window_probe_ack",
        "window_update",
        "fin",
        "rst",
        "duplicate",
    ):
        assert kind in kinds, kind
    assert [f.name for f in dataclasses.fields(result.detections[0])] == [d.name for d in DETECTORS]


def test_healthy_connections_are_not_visited() -> None:
    healthy = Conversation(conn=0).handshake(0.0)
    healthy.data(CLIENT, 0.01, 10).ack(SERVER, 0.02).fin(CLIENT, 0.03).fin(SERVER, 0.04).ack(
        CLIENT, 0.05
    )
    sick = Conversation(conn=1).syn(0.0).syn(1.0)
    segs = segments(healthy, sick)
    result = run_all(segs)
    assert list(result.detections) == [1]
    assert result.visited.tolist() == [False, True]
    # Row-level events still cover the healthy connection.
    assert result.events[result.events["conn"] == 0]["kind"].tolist() == [
        "syn",
        "synack",
        "handshake_ack",
        "fin",
        "fin",
    ]


def test_empty_segments() -> None:
    segs = segments()
    result = run_all(segs)
    assert len(result.events) == 0 and tuple(result.events.columns) == EVENT_COLUMNS
