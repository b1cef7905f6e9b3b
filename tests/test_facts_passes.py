"""Facts.once: a column-wise pass over a capture's facts is made once and shared by its askers
(a detector's screen, its events, the detectors' batch passes, classify's fast path), read-only,
and is no part of the facts' value."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from builders.pipeline import flowed_segments

from pcapline.detect import Batch, close, handshake
from pcapline.facts import Facts, Passes, compute_facts

SAMPLE = Path(__file__).resolve().parents[1] / "sample_captures" / "reset-client-linger0.pcap"


def _facts() -> Facts:
    flowed = flowed_segments(SAMPLE)
    assert flowed is not None
    segments, end = flowed
    return compute_facts(segments, capture_end_ns=end)


def test_a_pass_is_made_once_and_comes_back_read_only() -> None:
    facts = _facts()
    calls: list[int] = []

    def count_fins(f: Facts) -> np.ndarray:
        calls.append(1)
        return np.asarray(f.fin.sum(keepdims=True))

    first, again = facts.once(count_fins), facts.once(count_fins)
    assert first is again and calls == [1]
    assert first.tolist() == [int(facts.fin.sum())]
    with pytest.raises(ValueError, match="read-only"):
        first[0] = 0


def test_screen_and_batch_pass_share_the_first_fins() -> None:
    facts = _facts()
    assert not facts.passes
    close.screen(facts)
    held = dict(facts.passes)
    assert close._every_first_fin_waits in held and close._every_fins_and_closer in held
    closing = Batch.of_facts(facts).of(close._closing)
    # the batch pass read the screen's passes: nothing was made again
    assert all(facts.passes[k] is v for k, v in held.items())
    client, server, _ = close.first_fins_and_closer(facts)
    first = facts.starts[:-1]
    assert closing.client_fin == np.where(client >= 0, client - first, -1).tolist()
    assert closing.server_fin == np.where(server >= 0, server - first, -1).tolist()
    # one client FIN and one server FIN row in this capture's one connection
    assert len(facts.conn_ids) == 1


def test_handshake_acks_shared_by_events_and_loops() -> None:
    facts = _facts()
    events = handshake.rows(facts)
    shared = facts.passes[handshake._handshake_acks_after_synack]
    rtt_ms, _loops = handshake.handshake_loops(facts)
    assert facts.passes[handshake._handshake_acks_after_synack] is shared
    assert [str(kind) for kind in events.kind] == ["syn", "synack", "handshake_ack"]
    assert rtt_ms.shape == (1,) and rtt_ms[0] > 0


def test_passes_are_no_part_of_the_value() -> None:
    facts = _facts()
    handshake.one_sided(facts)
    assert facts.passes and Passes() == facts.passes
    copied = pickle.loads(pickle.dumps(facts))
    assert isinstance(copied.passes, Passes) and not copied.passes
    assert np.array_equal(copied.fin, facts.fin)
