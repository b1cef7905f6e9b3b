"""connect_checks: a TCP health check's connections (connect, nothing sent, RST) together."""

from __future__ import annotations

from pathlib import Path

import pytest
from builders.conversation import CLIENT, SERVER, Conversation, pcap_bytes

import pcapline
from pcapline.findings import connect_checks
from pcapline.model import ACK, RST

SAMPLE = Path(__file__).resolve().parents[2] / "sample_captures" / "connect-checks-at-server.pcap"


def test_a_real_checkers_connections_are_one_finding() -> None:
    """Five connect() + SO_LINGER {1, 0} close() 0.3 s apart (the checker kernel's RST + ACK
    after each handshake), then one ordinary connection."""
    analysis = pcapline.analyze(str(SAMPLE))
    (found,) = [f for f in analysis.findings if f.kind == connect_checks.KIND]
    d = found.details
    assert (d["client"], d["server"], d["port"], d["checks"]) == ("10.87.0.1", "10.87.0.2", 8081, 5)
    assert d["period_s"] == pytest.approx(0.3, abs=0.05)
    assert found.connections == (0, 1, 2, 3, 4)


def _check(
    k: int, t: float, *, data: int = 0, closer: bool = CLIENT, fin: bool = False
) -> Conversation:
    """A handshake, ``data`` bytes from the client, then the ``closer``'s RST (or FINs)."""
    c = Conversation(conn=k, client=("10.0.0.1", 40000 + k), server=("10.0.0.2", 8081))
    c.handshake(t)
    if data:
        c.data(CLIENT, t + 0.001, data).ack(SERVER, t + 0.002)
    if fin:
        c.fin(CLIENT, t + 0.003).fin(SERVER, t + 0.004).ack(CLIENT, t + 0.005)
    else:
        c.send(closer, t + 0.003, RST | ACK)
    return c


@pytest.mark.parametrize(
    ("shape", "found"),
    [
        ({}, 4),  # connect, nothing sent, the client's RST: a check
        ({"data": 100}, 0),  # a request sent: an application, whatever ended it
        ({"closer": SERVER}, 0),  # the server reset them: not the checker's close
        ({"fin": True}, 0),  # closed with FINs: nothing to set apart (fate closed)
    ],
)
def test_only_silent_connections_the_client_resets_are_checks(
    tmp_path: Path, shape: dict[str, object], found: int
) -> None:
    path = tmp_path / "checks.pcap"
    path.write_bytes(pcap_bytes(*(_check(k, 5.0 * k, **shape) for k in range(4))))  # type: ignore[arg-type]
    checks = [f for f in pcapline.analyze(str(path)).findings if f.kind == connect_checks.KIND]
    assert [f.details["checks"] for f in checks] == ([found] if found else [])
    if found:
        assert checks[0].details["period_s"] == pytest.approx(5.0)


def test_two_checks_are_no_pattern(tmp_path: Path) -> None:
    path = tmp_path / "two.pcap"
    path.write_bytes(pcap_bytes(_check(0, 0.0), _check(1, 5.0)))
    assert [f.kind for f in pcapline.analyze(str(path)).findings] == []
