"""detect.EventRows: the detectors' row events as numpy columns make the events table the
per-kind DataFrames did (values, order and dtypes: the ``note`` column's too); the events of
visited connections, ``Event`` objects and retransmit's ``EventColumns``, keep the order
they had as objects chained in detector order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from builders.conversation import CLIENT, SERVER, Conversation
from builders.pipeline import flowed_segments
from builders.segments import segments

from pcapline.detect import (
    DETECTORS,
    EventColumns,
    EventRows,
    _combine,
    _events_frame,
    row_events,
    run_all,
)
from pcapline.facts import Facts, compute_facts
from pcapline.model import EVENT_COLUMNS, Event, EventKind, Side

ROOT = Path(__file__).resolve().parents[2]


def _facts() -> Facts:
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.01, 100).ack(SERVER, 0.02)
    c.fin(CLIENT, 1.0).rst(SERVER, 1.001)
    return compute_facts(segments(c))


def _as_before(
    facts: Facts, mask: np.ndarray, kind: EventKind, note: str | np.ndarray
) -> pd.DataFrame:
    """``row_events`` as it was: one DataFrame per kind."""
    rows = np.flatnonzero(mask)
    notes = note if isinstance(note, np.ndarray) else np.full(len(rows), note, dtype=object)
    return pd.DataFrame(
        {
            "conn": facts.conn[rows],
            "frame": facts.frame[rows],
            "time_ns": facts.time_ns[rows],
            "side": np.where(facts.from_client[rows], Side.CLIENT.value, Side.SERVER.value),
            "kind": kind.value,
            "note": notes,
            "value": np.full(len(rows), np.nan),
        }
    )


def _table_as_before(detectors: list[list[pd.DataFrame]]) -> pd.DataFrame:
    """run_all's table as it was: each detector's kinds concatenated, the empty detectors
    left out, all concatenated and sorted (stable) by conn, frame."""
    frames = [pd.concat(kinds, ignore_index=True) for kinds in detectors]
    frames = [f for f in frames if len(f)]
    events = pd.concat(frames, ignore_index=True)
    return events.sort_values(["conn", "frame"], kind="stable").reset_index(drop=True)


@pytest.mark.parametrize(
    "which",
    [
        ("fin", "rst"),  # two kinds, both found: notes are pandas strings
        ("fin", "none"),  # a kind with no row joined: notes become objects, as they did
        ("rst-notes", "none-notes"),  # per-row notes (an array): strings again
        ("fin",),
    ],
)
def test_table_is_the_per_kind_dataframes_joined(which: tuple[str, ...]) -> None:
    facts = _facts()
    rst_notes = np.where(facts.ack[facts.rst], "RST+ACK", "RST")
    nothing = np.zeros(len(facts), dtype=bool)
    cases = {
        "fin": (facts.fin, EventKind.FIN, "FIN"),
        "rst": (facts.rst, EventKind.RST, "RST"),
        "none": (nothing, EventKind.SYN, "SYN"),
        "rst-notes": (facts.rst, EventKind.RST, rst_notes),
        "none-notes": (nothing, EventKind.SYN, np.where(facts.ack[nothing], "a", "b")),
    }
    chosen = [cases[name] for name in which]
    got = _combine([EventRows.joined([row_events(facts, *case) for case in chosen])])
    want = _table_as_before([[_as_before(facts, *case) for case in chosen]])
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert list(got.dtypes) == list(want.dtypes)
    assert got["note"].dtype == (object if "none" in which else "str")


def test_table_orders_by_conn_then_frame_keeping_the_detectors_order() -> None:
    def rows(conn: list[int], frame: list[int], kind: str) -> EventRows:
        n = len(conn)
        return EventRows(
            conn=np.array(conn, np.int64),
            frame=np.array(frame, np.int64),
            time_ns=np.array(frame, np.int64) * 1000,
            side=np.full(n, "client", dtype=object),
            kind=np.full(n, kind, dtype=object),
            note=np.full(n, kind.upper(), dtype=object),
            value=np.full(n, np.nan),
        )

    table = _combine(
        [rows([1, 0], [5, 2], "fin"), rows([], [], "syn"), rows([1, 0], [5, 1], "rst")]
    )
    assert tuple(table.columns) == EVENT_COLUMNS
    assert list(zip(table["conn"], table["frame"], table["kind"], strict=True)) == [
        (0, 1, "rst"),
        (0, 2, "fin"),
        (1, 5, "fin"),  # same conn and frame: the earlier detector's first
        (1, 5, "rst"),
    ]
    assert table["note"].dtype == "str"


def test_no_event_is_the_typed_empty_table_and_a_fresh_copy() -> None:
    facts = _facts()
    nothing = np.zeros(len(facts), dtype=bool)
    first = _combine([row_events(facts, nothing, EventKind.SYN, "SYN")])
    assert first.empty and tuple(first.columns) == EVENT_COLUMNS
    assert [str(t) for t in first.dtypes] == [
        "int64", "int64", "int64", "object", "object", "object", "float64",
    ]  # fmt: skip
    first["conn"] = first["conn"] + 1  # a caller's change never reaches the next capture's
    assert _combine([]) is not first and _combine([]).equals(_combine([]))


def test_columns_read_as_a_table_columns() -> None:
    facts = _facts()
    fins = row_events(facts, facts.fin, EventKind.FIN, "FIN")
    assert fins["frame"].tolist() == facts.frame[facts.fin].tolist()
    assert fins["kind"].tolist() == ["fin"] * int(facts.fin.sum())
    with pytest.raises(KeyError):
        fins["nope"]


def test_ranks_order_one_frames_events_by_detector_whatever_part_holds_them() -> None:
    """A frame's events: the ``rows`` parts' first (rank -1, in part order), then by
    detector (``DETECTORS`` order), each detector's in the order it made them, whether they
    came as ``Event`` objects or as columns (retransmit's, joined last)."""

    def rows(kinds: list[str]) -> EventRows:
        n = len(kinds)
        return EventRows(
            conn=np.zeros(n, np.int64),
            frame=np.full(n, 7, np.int64),
            time_ns=np.full(n, 7000, np.int64),
            side=np.full(n, "client", dtype=object),
            kind=np.array(kinds, dtype=object),
            note=np.array([k.upper() for k in kinds], dtype=object),
            value=np.full(n, np.nan),
        )

    parts = [rows(["fin"]), rows(["syn_retransmit", "idle_gap", "keepalive"]), rows(["retransmit"])]
    ranks = [np.array([-1]), np.array([0, 7, 2]), np.array([1])]
    table = _combine(parts, ranks)
    assert table["kind"].tolist() == [
        "fin",
        "syn_retransmit",
        "retransmit",
        "keepalive",
        "idle_gap",
    ]


def _sample_and_test_captures() -> list[Path]:
    roots = (ROOT / "sample_captures", ROOT / "tests" / "captures")
    return sorted(
        p
        for root in roots
        for p in root.rglob("*")
        if p.is_file() and p.suffix not in (".json", ".md", ".txt", ".py")
    )


@pytest.mark.parametrize("path", _sample_and_test_captures(), ids=lambda p: p.name)
def test_run_all_events_are_every_detections_events_as_the_detectors_made_them(
    path: Path,
) -> None:
    """The events table equals what it was when every visited connection's events were
    ``Event`` objects chained in detector order: the ``rows`` parts, then each screened
    connection's ``ConnDetections.events`` (retransmit's columns read back as objects),
    sorted stably by connection and frame."""
    flowed = flowed_segments(path)
    if flowed is None:
        pytest.skip("no TCP")
    segs, end = flowed
    found = run_all(segs, capture_end_ns=end)
    facts = found.facts
    parts = [d.rows(facts) for d in DETECTORS if d.rows is not None]
    listed = [
        event
        for conn in facts.conn_ids[found.screened].tolist()
        for event in found.detections[conn].events
    ]
    want = _combine([*parts, _events_frame(listed)])
    pd.testing.assert_frame_equal(found.events, want, check_exact=True)
    resent = [
        found.detections[conn].retransmit.events for conn in facts.conn_ids[found.screened].tolist()
    ]
    assert all(type(events) is EventColumns for events in resent if events)


def test_event_columns_read_back_as_the_events_they_hold() -> None:
    source = EventRows(
        conn=np.full(3, -1, np.int64),
        frame=np.array([4, 9, 12], np.int64),
        time_ns=np.array([40, 90, 120], np.int64),
        side=np.array(["client", "server", "client"], dtype=object),
        kind=np.array(["retransmit", "retransmit_unknown", "fast_retransmit"], dtype=object),
        note=np.array(["a", "b", "c"], dtype=object),
        value=np.array([0.2, np.nan, 0.01]),
    )
    events = EventColumns(source, 1, 3, conn=5)
    assert len(events) == 2 and events[-1] == events[1]
    assert list(events) == [
        Event(5, 9, 90, Side.SERVER, EventKind.RETRANSMIT_UNKNOWN, "b", None),
        Event(5, 12, 120, Side.CLIENT, EventKind.FAST_RETRANSMIT, "c", 0.01),
    ]
    assert events == tuple(events) and events != ()
    with pytest.raises(IndexError):
        events[2]
    assert events[:1] == (events[0],) and hash(events) == hash(tuple(events))
    assert events != list(events)  # a tuple's equal, as a detector's tuple of events was
    empty = EventColumns(source, 2, 2, conn=5)
    assert not empty and empty == () and list(empty) == []
    other = EventRows(
        conn=np.full(1, -1, np.int64),
        frame=np.array([30], np.int64),
        time_ns=np.array([300], np.int64),
        side=np.array(["server"], dtype=object),
        kind=np.array(["retransmit"], dtype=object),
        note=np.array(["d"], dtype=object),
        value=np.array([1.0]),
    )
    # Sources interleaved (a long connection linked alone between a batch's): kept in order.
    items = [events, EventColumns(other, 0, 1, conn=7), EventColumns(source, 0, 1, conn=2), empty]
    joined = EventColumns.joined(items)
    assert joined.conn.tolist() == [5, 5, 7, 2]
    assert joined.frame.tolist() == [9, 12, 30, 4]
    assert joined.note.tolist() == ["b", "c", "d", "a"]
    assert joined.value[1:].tolist() == [0.01, 1.0, 0.2] and np.isnan(joined.value[0])
    assert len(EventColumns.joined([])) == 0


def test_event_columns_pickle_as_the_tuple_of_their_own_events() -> None:
    import pickle

    n = 10_000
    source = EventRows(
        conn=np.full(n, -1, np.int64),
        frame=np.arange(n, dtype=np.int64),
        time_ns=np.arange(n, dtype=np.int64),
        side=np.full(n, "client", dtype=object),
        kind=np.full(n, "retransmit", dtype=object),
        note=np.array([f"timeout: {k}" for k in range(n)], dtype=object),
        value=np.full(n, 0.2),
    )
    events = EventColumns(source, 500, 503, conn=9)
    data = pickle.dumps(events)
    assert len(data) < 2_000  # not the 10,000 entries of the whole batch
    back = pickle.loads(data)
    assert type(back) is tuple and back == events and [e.frame for e in back] == [500, 501, 502]
