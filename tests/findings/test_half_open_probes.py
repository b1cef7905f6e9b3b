"""half_open_probe (cause) and half_open_probes (finding): SYNs whose SYN+ACK the client's
own kernel reset, because no socket of its TCP was connecting (a raw socket's SYN)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from builders.conversation import CLIENT, SERVER, Conversation, pcap_bytes

import pcapline
from pcapline.findings import half_open_probes, port_scan
from pcapline.model import ACK, RST, SYN

SAMPLE = Path(__file__).resolve().parents[2] / "sample_captures" / "half-open-probes-at-server.pcap"


def test_a_real_health_checks_probes_are_one_finding_and_no_failure() -> None:
    """Five raw-socket SYNs 0.3 s apart, each SYN+ACK reset by the client kernel, then one
    ordinary connection (real kernels on both sides of each SYN)."""
    analysis = pcapline.analyze(str(SAMPLE))
    conns = analysis.connections.set_index("id")
    assert conns.loc[range(5), "cause"].tolist() == ["half_open_probe"] * 5
    assert conns.loc[5, "cause"] is None
    (found,) = [f for f in analysis.findings if f.kind == half_open_probes.KIND]
    d = found.details
    assert (d["client"], d["server"], d["port"], d["probes"]) == ("10.84.0.1", "10.84.0.2", 8080, 5)
    assert d["period_s"] == pytest.approx(0.3, abs=0.05)  # the checker's sleep, plus a bit
    assert found.connections == (0, 1, 2, 3, 4)
    verdict = analysis.verdicts[0]
    assert verdict.explanation is not None
    assert "Check the application logs" not in verdict.explanation.text
    assert "half-open probe" in verdict.explanation.text


def _probe(
    k: int,
    *,
    port: int = 8080,
    t: float = 0.0,
    rst_flags: int = RST,
    syn_again: bool = False,
    client: str = "10.0.0.1",
) -> Conversation:
    """A SYN (sent twice with ``syn_again``), the listener's SYN+ACK, the client's RST with
    ``rst_flags`` at seq = the SYN+ACK's ACK number (the shape of a host without a socket)."""
    c = Conversation(conn=k, client=(client, 40000 + k), server=("10.0.0.2", port))
    c.syn(t)
    if syn_again:
        c.send(CLIENT, t + 1.0, SYN, seq=c.client_isn)
        t += 1.0
    c.synack(t + 0.0002)
    c.send(CLIENT, t + 0.0003, rst_flags, seq=c.client_isn + 1, ack=0 if rst_flags == RST else None)
    return c


def _analyse(tmp_path: Path, *convs: Conversation) -> pcapline.Analysis:
    path = tmp_path / "probes.pcap"
    path.write_bytes(pcap_bytes(*convs))
    return pcapline.analyze(str(path))


@pytest.mark.parametrize(
    ("shape", "named"),
    [
        ({}, True),  # bare RST: no socket on the client
        ({"rst_flags": RST | ACK}, False),  # RST+ACK: a socket's own abort, not a stateless answer
        ({"syn_again": True}, False),  # the SYN retransmitted: a kernel's socket was connecting
    ],
)
def test_the_cause_needs_a_stateless_rst_answering_the_only_syns_synack(
    tmp_path: Path, shape: dict[str, object], named: bool
) -> None:
    analysis = _analyse(tmp_path, _probe(0, **shape))  # type: ignore[arg-type]
    (row,) = analysis.connections.itertuples()
    assert row.fate == "reset"
    assert row.cause == ("half_open_probe" if named else None)


def _kernel_syn() -> Conversation:
    """A connect() SYN (timestamps on, as Linux and macOS send it) whose SYN+ACK came 0.3 s
    later, after the application had closed its socket: a client that gave up."""
    c = Conversation(conn=0)
    c.syn(0.0, timestamps=(1000, 0)).synack(0.3, timestamps=(5000, 1000))
    return c.send(CLIENT, 0.3001, RST, seq=c.client_isn + 1, ack=0)


def _unacceptable_synack() -> Conversation:
    """A SYN+ACK acknowledging something else: a connecting socket resets it the same way
    (reset_and_undo) and stays connecting."""
    c = Conversation(conn=0)
    c.syn(0.0).synack(0.0002, ack=777777)
    return c.send(CLIENT, 0.0003, RST, seq=777777, ack=0)


def _second_synack() -> Conversation:
    """The RST answers the SYN+ACK's retransmission, not the first."""
    c = Conversation(conn=0)
    c.syn(0.0).synack(0.0002)
    c.send(SERVER, 1.0002, SYN | ACK, seq=c.server_isn, ack=c.client_isn + 1)
    return c.send(CLIENT, 1.0003, RST, seq=c.client_isn + 1, ack=0)


def _simultaneous_open() -> Conversation:
    """Both sides sent a SYN: a simultaneous open, not a listener answering."""
    c = Conversation(conn=0)
    c.syn(0.0).send(SERVER, 0.0001, SYN, seq=c.server_isn, ack=0)
    c.send(SERVER, 0.0002, SYN | ACK, seq=c.server_isn, ack=c.client_isn + 1)
    return c.send(CLIENT, 0.0003, RST, seq=c.client_isn + 1, ack=0)


@pytest.mark.parametrize(
    "make", [_kernel_syn, _unacceptable_synack, _second_synack, _simultaneous_open]
)
def test_other_readings_of_a_bare_rst_after_the_synack_name_no_probe(
    tmp_path: Path, make: Callable[[], Conversation]
) -> None:
    (row,) = _analyse(tmp_path, make()).connections.itertuples()
    assert (row.fate, row.reset_by, row.cause) == ("reset", "client", None)


def test_an_acknowledged_synack_then_reset_is_no_probe(tmp_path: Path) -> None:
    """The client's kernel ACKed the SYN+ACK (it had a socket), then aborted: an application."""
    c = Conversation(conn=0).handshake(0.0)
    c.send(CLIENT, 0.01, RST | ACK)
    (row,) = _analyse(tmp_path, c).connections.itertuples()
    assert (row.fate, row.cause) == ("reset", None)


@pytest.mark.parametrize(
    ("starts", "period"),
    [
        ([0.0, 5.0, 10.0, 15.0], 5.0),  # a checker every 5 s
        ([0.0, 5.0, 10.4, 15.0], 5.0),  # with jitter within 25 %
        ([0.0, 1.0, 10.0, 11.0], None),  # irregular: no period claimed
    ],
)
def test_three_or_more_probes_of_one_port_are_a_finding(
    tmp_path: Path, starts: list[float], period: float | None
) -> None:
    analysis = _analyse(tmp_path, *(_probe(k, t=t) for k, t in enumerate(starts)))
    (found,) = analysis.findings
    assert found.kind == half_open_probes.KIND
    assert found.details["probes"] == len(starts)
    assert found.details["period_s"] == (pytest.approx(period, abs=0.01) if period else None)


def test_two_probes_or_probes_of_different_ports_are_no_finding(tmp_path: Path) -> None:
    two = _analyse(tmp_path, _probe(0), _probe(1, t=5.0))
    assert [f.kind for f in two.findings] == []
    ports = _analyse(tmp_path, *(_probe(k, port=8080 + k, t=k) for k in range(4)))
    assert [f.kind for f in ports.findings] == []


def test_a_syn_scans_open_ports_count_as_connected(tmp_path: Path) -> None:
    """nmap -sS: closed ports refused (RST+ACK), open ones answered and reset by the
    scanner's kernel; port_scan counts the open ones as connected."""
    convs = []
    for k in range(12):
        if k in (2, 7):
            convs.append(_probe(k, port=9000 + k, t=0.01 * k))
        else:
            c = Conversation(conn=k, client=("10.0.0.1", 40000 + k), server=("10.0.0.2", 9000 + k))
            c.syn(0.01 * k).send(SERVER, 0.01 * k + 0.0002, RST | ACK, seq=0, window=0)
            convs.append(c)
    (scan,) = [f for f in _analyse(tmp_path, *convs).findings if f.kind == port_scan.KIND]
    assert (scan.details["refused"], scan.details["connected"]) == (10, 2)
