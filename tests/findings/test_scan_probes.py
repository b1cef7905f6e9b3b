"""scan_probe: FIN, NULL and Xmas probes (segments without SYN, ACK or RST) are a scanner's,
not connections the capture began inside (``Facts.scan_probe``, ``causes/scan_probe.py``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from builders.conversation import CLIENT, SERVER, Conversation, pcap_bytes
from builders.segments import segments

import pcapline
from pcapline.facts import any_per_connection, compute_facts
from pcapline.findings import port_scan
from pcapline.model import ACK, FIN, PSH, RST, URG

SAMPLE = Path(__file__).resolve().parents[2] / "sample_captures" / "stealth-scan-at-server.pcap"


def test_a_real_kernels_answers_to_a_stealth_scan() -> None:
    """Nine FIN, one NULL and one Xmas probe to closed ports (the server kernel's RST + ACK)
    and a FIN probe to the listening port (dropped), then one ordinary connection."""
    analysis = pcapline.analyze(str(SAMPLE))
    conns = analysis.connections.set_index("id")
    assert conns.loc[range(12), "cause"].tolist() == ["scan_probe"] * 12
    assert conns.loc[range(11), "fate"].tolist() == ["reset"] * 11
    assert conns.loc[11, "fate"] == "half_closed"  # the listening port's FIN probe: no answer
    assert conns.loc[12, "cause"] is None
    assert analysis.capture.quality["mid_stream_connections"] == 0
    assert "capture_start" not in set(analysis.events["kind"])
    texts = [analysis.verdicts[i].explanation.text for i in (0, 9, 10, 11)]  # type: ignore[union-attr]
    assert texts[0].startswith("Port scan probe (FIN, frame 3) answered by the server's RST")
    assert texts[1].startswith("Port scan probe (NULL, ")
    assert texts[2].startswith("Port scan probe (Xmas, ")
    assert texts[3].startswith("Port scan probe (FIN, frame 25) unanswered: the port listens")
    (scan,) = [f for f in analysis.findings if f.kind == port_scan.KIND]
    d = scan.details
    assert (d["ports"], d["refused"], d["unanswered"], d["connected"]) == (12, 11, 1, 0)


def _conn(*segs: tuple[bool, int, int]) -> Conversation:
    """Segments (side, flags, payload length) 1 ms apart, mid-sequence (no SYN)."""
    c = Conversation(conn=0)
    for k, (side, flags, length) in enumerate(segs):
        c.send(side, 0.001 * k, flags, length=length)
    return c


@pytest.mark.parametrize(
    ("segs", "probe"),
    [
        ([(CLIENT, FIN, 0), (SERVER, RST | ACK, 0)], True),  # closed port
        ([(CLIENT, FIN, 0)], True),  # listening port (or filtered): no answer
        ([(CLIENT, 0, 0), (SERVER, RST | ACK, 0)], True),  # NULL
        ([(CLIENT, FIN | PSH | URG, 0)], True),  # Xmas
        ([(CLIENT, FIN, 0), (CLIENT, FIN, 0)], True),  # the scanner tried again
        ([(CLIENT, FIN | ACK, 0)], False),  # a real FIN of a connection begun before
        ([(CLIENT, PSH, 100)], False),  # data without ACK: a damaged header, not a probe
        ([(CLIENT, FIN, 0), (CLIENT, ACK, 0)], False),  # its sender acknowledges: a stack
        ([(CLIENT, FIN, 0), (SERVER, ACK, 0)], False),  # answered by more than a RST
    ],
)
def test_a_probe_has_no_syn_ack_rst_nor_payload_and_draws_only_rsts(
    segs: list[tuple[bool, int, int]], probe: bool
) -> None:
    facts = compute_facts(segments(_conn(*segs)))
    assert any_per_connection(facts.scan_probe, facts.starts).tolist() == [probe]
    assert facts.scan_probe.tolist() == [probe] * len(segs)  # every row of the connection


def test_probes_among_other_connections_are_told_apart() -> None:
    """The columnar pass over many connections answers each as alone."""
    shapes = [
        [(CLIENT, FIN, 0), (SERVER, RST | ACK, 0)],
        [(CLIENT, ACK, 10), (SERVER, ACK, 0)],
        [(CLIENT, 0, 0)],
        [(CLIENT, FIN, 0), (SERVER, ACK, 0)],
    ]
    convs = []
    for k, shape in enumerate(shapes):
        c = Conversation(conn=k, client=("10.0.0.1", 40000 + k))
        for j, (side, flags, length) in enumerate(shape):
            c.send(side, k + 0.001 * j, flags, length=length)
        convs.append(c)
    facts = compute_facts(segments(*convs))
    assert np.array_equal(
        any_per_connection(facts.scan_probe, facts.starts), [True, False, True, False]
    )


def test_a_connection_begun_before_the_capture_is_still_one(tmp_path: Path) -> None:
    """Data with ACK and no SYN: the capture began inside it (its capture_start event and
    mid_stream flag stay); a probe beside it has neither."""
    begun = Conversation(conn=0, client=("10.0.0.1", 40000))
    begun.data(CLIENT, 0.0, 100).ack(SERVER, 0.001)
    probe = Conversation(conn=1, client=("10.0.0.1", 40001))
    probe.send(CLIENT, 0.5, FIN).send(SERVER, 0.5001, RST | ACK, seq=0)
    path = tmp_path / "two.pcap"
    path.write_bytes(pcap_bytes(begun, probe))
    analysis = pcapline.analyze(str(path))
    starts = analysis.events[analysis.events["kind"] == "capture_start"]["conn"].tolist()
    assert starts == [0]
    assert analysis.capture.quality["mid_stream_connections"] == 1
    assert analysis.connections["cause"].tolist() == [None, "scan_probe"]


def test_headlines_count_probes_apart_from_failures() -> None:
    """The text summary says which of the failure fates were probes; the report's banner does
    not call a stealth scan's eleven resets failed connections."""
    from pcapline.render.html import render_html
    from pcapline.render.terminal import fate_summary

    analysis = pcapline.analyze(str(SAMPLE))
    assert fate_summary(analysis.connections) == (
        "13 connections: 11 reset, 1 closed, 1 half_closed (of the failures: 11 a scanner's "
        "or health check's probes, failing nothing)"
    )
    page = " ".join(render_html(analysis).split())
    assert "None of the 13 connections failed." in page
    assert "11 of them ended with a failure fate but were a scanner's or a health check's" in page
