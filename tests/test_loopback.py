"""loopback.py: both ends on one host, and what that changes in the words (explain.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import pcapline
from pcapline.loopback import on_one_host

SAMPLES = Path(__file__).resolve().parent.parent / "sample_captures"
NOTE = "Both ends are on this host"


@pytest.mark.parametrize(
    ("client", "server", "one_host"),
    [
        ("127.0.0.1", "127.0.0.1", True),
        ("127.0.0.1", "127.0.1.1", True),  # all of 127/8 is the host's (systemd's 127.0.0.53)
        ("::1", "::1", True),
        ("10.1.0.5", "10.1.0.5", True),  # one address at both ends: routed through lo
        ("10.1.0.5", "10.1.0.6", False),
        ("127.0.0.1", "10.1.0.5", False),
        ("fd00::1", "::1", False),
    ],
)
def test_one_host_is_loopback_at_both_ends_or_one_address(
    client: str, server: str, one_host: bool
) -> None:
    table = pd.DataFrame({"id": [7], "client_ip": [client], "server_ip": [server]})
    assert on_one_host(table, np.array([7])).tolist() == [one_host]


def test_syns_dropped_on_loopback_are_the_hosts_own_drops() -> None:
    # Real kernel, one namespace, 127.0.0.1, captured on lo: the full accept queue dropped the
    # SYNs of 4 of 6 clients twice. Only those 4 say so; the same burst over a veth does not.
    a = pcapline.analyze(str(SAMPLES / "loopback-accept-queue-burst.pcap"))
    c = a.connections
    noted = c["explanation"].str.contains(NOTE, regex=False).tolist()
    assert noted == (c["syn_retransmits"] > 0).tolist() == [False, False, True, True, True, True]
    doc = a.to_dict()
    (burst,) = [f for f in doc["findings"] if f["kind"] == "syn_retry_burst"]
    assert "dropped by the server's own host" in burst["summary"]
    veth = pcapline.analyze(str(SAMPLES / "slow-accept-queue-burst.pcap"))
    assert not veth.connections["explanation"].str.contains(NOTE, regex=False).any()
    (burst,) = [f for f in veth.to_dict()["findings"] if f["kind"] == "syn_retry_burst"]
    assert "dropped at or before the server" in burst["summary"]


def test_the_summary_says_the_host_dropped_them_when_every_one_is_on_one_host() -> None:
    from pcapline.delays import summarise
    from pcapline.explain import slow_summary
    from pcapline.model import SlowTag

    def syn_line(name: str) -> str:
        a = pcapline.analyze(str(SAMPLES / name))
        (s,) = [s for s in summarise(a.delays, a.connections) if s.tag is SlowTag.SYN_RETRY]
        return slow_summary(s)

    assert "both ends on one host: no network carried these packets" in syn_line(
        "loopback-accept-queue-burst.pcap"
    )
    veth = syn_line("slow-accept-queue-burst.pcap")
    assert "one host" not in veth and "a NAT or firewall out of conntrack entries" in veth
