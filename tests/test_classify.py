"""classify.py: rule order, the columnar fast path agreeing with the rules, the table contract.

Fates are proven on real captures (test_samples.py); these crafted cases pin the decision
procedure itself.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent / "detect"))
from segment_builder import CLIENT, SERVER, Conversation, connections, segments  # noqa: E402

from pcapline import classify  # noqa: E402
from pcapline.detect import conn_view, run_all  # noqa: E402
from pcapline.model import CONNECTION_COLUMNS  # noqa: E402


def _table(*convs: Conversation) -> pd.DataFrame:
    segs = segments(*convs)
    conns = connections(segs)
    return classify.classify(segs, conns, run_all(segs, conns)).set_index("id")


def test_rule_order_is_documented_in_the_docstring() -> None:
    doc = classify.__doc__ or ""
    positions = [doc.index(f"``{name}``") for name, _ in classify.RULES if name != "open"]
    assert positions == sorted(positions)
    assert [name for name, _ in classify.RULES][-1] == "open"


def test_table_has_contract_columns_and_types() -> None:
    t = _table(Conversation().syn(0.0).rst(SERVER, 0.001))
    assert list(t.reset_index().columns[: len(CONNECTION_COLUMNS)]) == list(CONNECTION_COLUMNS)
    row = t.loc[0]
    assert (row.fate, row.reset_by, row.closer) == ("refused", "server", None)
    assert row.resets == 1 and row.syn_retransmits == 0
    assert isinstance(row.inferred, dict) and row.explanation.startswith("Refused")


def test_fast_path_matches_rules_for_healthy_connections() -> None:
    closed = Conversation(conn=0).handshake(0.0)
    closed.data(CLIENT, 0.01, 10).ack(SERVER, 0.02).fin(SERVER, 0.03).fin(CLIENT, 0.04).ack(SERVER, 0.05)
    half = Conversation(conn=1).handshake(0.0)
    half.fin(CLIENT, 0.1).ack(SERVER, 0.11)
    still = Conversation(conn=2).handshake(0.0)
    segs = segments(closed, half, still)
    conns = connections(segs)
    detected = run_all(segs, conns)
    assert not detected.visited.any()
    table = classify.classify(segs, conns, detected).set_index("id")
    # The same connections through the full rule list give the same verdicts.
    for index in range(3):
        view = conn_view(detected.facts, index)
        from pcapline.detect import DETECTORS

        found = {d.name: d.detect(view) for d in DETECTORS}
        counts = classify.Counts()
        evidence = classify._evidence(index, counts, found, 0, 0, detected.facts)
        decision = classify.decide(evidence)
        assert table.loc[index, "fate"] == decision.fate.value
        closer = decision.closer.value if decision.closer is not None else None
        assert table.loc[index, "closer"] == closer
    assert table["fate"].tolist() == ["closed", "half_closed", "open"]
    assert table["closer"].tolist() == ["server", "client", None]


def test_recovered_loss_then_close_is_closed_not_a_failure() -> None:
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.01, 100)
    c.data(CLIENT, 0.21, 100, seq=c.nxt(CLIENT) - 100)
    c.data(CLIENT, 0.61, 100, seq=c.nxt(CLIENT) - 100)
    c.data(CLIENT, 1.41, 100, seq=c.nxt(CLIENT) - 100)
    c.ack(SERVER, 1.42).fin(CLIENT, 1.5).fin(SERVER, 1.51).ack(CLIENT, 1.52)
    row = _table(c).loc[0]
    assert row.fate == "closed" and row.retransmits == 3
    assert row.inferred["rto"]["doubling"] is True


def test_keepalive_death_beats_the_generic_reset() -> None:
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.01, 10).ack(SERVER, 0.02)
    for t in (2.02, 3.02, 4.02):
        c.probe(CLIENT, t)
    c.rst(CLIENT, 5.02)
    row = _table(c).loc[0]
    assert (row.fate, row.reset_by, row.keepalive_probes, row.resets) == ("keepalive_timeout", "client", 3, 1)
    assert row.inferred["keepalive"] == {"idle": 2.0, "interval": 1.0, "count": 3}


def test_a_lone_syn_at_the_end_of_the_capture_is_still_connecting() -> None:
    row = _table(Conversation().syn(0.0)).loc[0]
    assert row.fate == "open"
    assert "Still connecting" in row.explanation


def test_reset_after_one_fin_is_reset_not_half_closed() -> None:
    c = Conversation().handshake(0.0)
    c.fin(SERVER, 0.1).data(CLIENT, 0.2, 300).rst(SERVER, 0.2001, with_ack=False)
    row = _table(c).loc[0]
    assert (row.fate, row.reset_by, row.closer) == ("reset", "server", None)


def test_verdicts_api_gives_model_verdicts() -> None:
    segs = segments(Conversation().syn(0.0).rst(SERVER, 0.001))
    conns = connections(segs)
    (v,) = classify.verdicts(segs, conns, run_all(segs, conns))
    assert v.fate.value == "refused" and v.evidence_frames == (2,)
    assert np.int64(v.counts.resets) == 1
