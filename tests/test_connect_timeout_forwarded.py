"""A connect timeout whose SYNs the capture shows forwarded: the advice follows them past
the capture's farther point.

Real kernel (client ns -> router ns -> server ns, tcpdump -i any on the router, the server's
nftables input chain dropping one client's SYNs): each SYN was captured coming in at TTL 64
and going out 19 us later at 63, the same IP ID; the client retried 1 s apart. The advice
named a NAT or firewall on the way out of conntrack entries or source ports, though the
capture shows the router forwarding every SYN.
"""

from __future__ import annotations

from pathlib import Path

from builders.conversation import CLIENT, SERVER, Conversation, pcap_bytes

import pcapline
from pcapline.render.terminal import slow_lines


def _explanation(tmp_path: Path, forwarded: bool) -> str:
    c = Conversation(client=("10.251.1.3", 39691), server=("10.251.2.2", 8080))
    for k in range(4):
        t = float(k)
        c.syn(t, ip_id=100 + k)
        if forwarded:
            c.syn(t + 19e-6, ip_id=100 + k, ttl=63)
    path = tmp_path / "c.pcap"
    path.write_bytes(pcap_bytes(c))
    a = pcapline.analyze(path)
    row = a.connections.iloc[0]
    assert row["fate"] == "connect_timeout"
    return str(row["explanation"])


def test_forwarded_syns_point_past_the_capture(tmp_path: Path) -> None:
    words = _explanation(tmp_path, forwarded=True)
    assert "Each SYN was captured again 1 hop lower" in words
    assert "no NAT or firewall before it dropped them" in words
    assert "NAT out of source ports" not in words


def test_syns_seen_once_keep_the_path_advice(tmp_path: Path) -> None:
    words = _explanation(tmp_path, forwarded=False)
    assert "captured again" not in words
    assert "a NAT out of source ports" in words


def _slow_line(tmp_path: Path, forwarded: bool) -> str:
    """A connection that opened after one SYN retry (1 s), its SYNs seen on the router's
    way in and, forwarded, one hop lower on its way out; or seen once."""
    c = Conversation(client=("10.251.1.3", 39692), server=("10.251.2.2", 8080))
    for k in range(2):
        c.syn(float(k), ip_id=200 + k)
        if forwarded:
            c.syn(k + 19e-6, ip_id=200 + k, ttl=63)
    c.synack(1.0004).ack(CLIENT, 1.0005)
    c.fin(CLIENT, 1.1).fin(SERVER, 1.1002).ack(CLIENT, 1.1003)
    path = tmp_path / "r.pcap"
    path.write_bytes(pcap_bytes(c))
    (line,) = [s for s in slow_lines(pcapline.analyze(path)) if "SYN retries" in s]
    return line


def test_the_syn_retry_summary_says_the_syns_were_forwarded(tmp_path: Path) -> None:
    """The SYNs the capture shows forwarded were dropped beyond the farther point: the
    summary names no NAT or conntrack on the way, which the packets do not show."""
    line = _slow_line(tmp_path, forwarded=True)
    assert "each SYN was captured again a hop or two lower" in line
    assert "NAT" not in line
    assert "NAT or firewall out of conntrack entries on the way" in _slow_line(
        tmp_path, forwarded=False
    )


def test_a_real_routers_forwarded_syns_are_said_dropped_beyond_it() -> None:
    """sample syn-retry-forwarded-router-any: the server's input hook dropped each first
    SYN the router (tcpdump -i any) had forwarded one hop lower."""
    path = Path(__file__).parent.parent / "sample_captures" / "syn-retry-forwarded-router-any.pcap"
    (line,) = [s for s in slow_lines(pcapline.analyze(path)) if "SYN retries" in s]
    assert line.startswith("3 of 3 connections needed SYN retries")
    assert "the path up to the farther point forwarded every one" in line
    assert "NAT" not in line
