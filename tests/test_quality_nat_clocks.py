"""``capture.quality.clocks_apart_ms`` of captures from both legs of a NAT merged.

A translated connection's two copies sit in two streams, so the copies within one stream
(``quality._copy_points``) never bound the two capture points' clocks; ``nat_copies`` does,
from the client's SYN and the server's SYN+ACK seen on both legs (a NAT rewrites neither
ISN, TSval nor IP ID), and ``quality.with_legs_clocks`` carries that into the quality block,
alike on the in-memory and the bounded-memory paths.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from builders.conversation import CLIENT, SERVER, Conversation, pcap_bytes

import pcapline
from pcapline import bounded
from pcapline.model import ACK, PSH, SYN


def _legs(offset_s: float) -> tuple[Conversation, Conversation]:
    """One connection through a masquerading router captured at the client (10.0.0.1) and
    at the server (as the router's 10.0.0.9), the client's capture ``offset_s`` late, 20 us
    between the points; TTLs one lower past the router."""
    near_client = Conversation(client=("10.0.0.1", 40000))
    near_server = Conversation(client=("10.0.0.9", 40000))
    for side, t, flags, length, ip_id, tsval in (
        (CLIENT, 0.0, SYN, 0, 0x100, 100),
        (SERVER, 0.00004, SYN | ACK, 0, 0, 500),
        (CLIENT, 0.00008, ACK, 0, 0x101, 100),
        (CLIENT, 0.001, ACK | PSH, 5, 0x102, 101),
        (SERVER, 0.00104, ACK, 0, 0x900, 501),
    ):
        ttl_near, ttl_far = (64, 63) if side else (63, 64)
        near_client.send(
            side,
            t + offset_s + (0 if side else 2e-5),
            flags,
            length=length,
            ip_id=ip_id,
            ttl=ttl_near,
            timestamps=(tsval, 0),
        )
        near_server.send(
            side,
            t + (2e-5 if side else 0),
            flags,
            length=length,
            ip_id=ip_id,
            ttl=ttl_far,
            timestamps=(tsval, 0),
        )
    return near_client, near_server


@pytest.mark.parametrize(("offset_s", "apart_ms"), [(0.3, 300.0), (-2.0, 2000.0), (0.0, None)])
def test_merged_nat_legs_put_their_clocks_offset_in_the_quality_block(
    tmp_path: Path, offset_s: float, apart_ms: float | None
) -> None:
    path = tmp_path / "nat-merged.pcap"
    path.write_bytes(pcap_bytes(*_legs(offset_s)))
    report = pcapline.analyze(path).to_dict()
    (nat,) = [f for f in report["findings"] if f["kind"] == "nat_copies"]
    apart = report["capture"]["quality"]["clocks_apart_ms"]
    assert apart == nat["clocks_apart_ms"]
    assert apart == (None if apart_ms is None else pytest.approx(apart_ms, abs=0.05))
    with bounded.analyse(path, partitions=1, outputs=frozenset({"json"})) as result:
        out = io.StringIO()
        result.write_json(out)
    assert json.loads(out.getvalue())["capture"]["quality"]["clocks_apart_ms"] == apart
