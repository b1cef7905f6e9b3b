"""Roles of a connection captured without its handshake: a well-known service port at or
above 1024 is the server's even when the client's ephemeral port lies below it (flows rule 4).

zeek's dnp3.pcap, connection 8, and dnp3_link_only.pcap: a Windows master at port 1167 / 1128
polls an outstation at DNP3's 20000, mid-stream; tshark's DNP3 dissector shows the link
layer's DIR bit set (from the master) on the low port's frames. The higher-port rule made the
outstation the client.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from builders.conversation import CLIENT, SERVER, Conversation, pcap_bytes

import pcapline
from pcapline.flows import sender_is_client


def test_a_masters_low_port_polling_dnp3_is_the_client(tmp_path: Path) -> None:
    c = Conversation(client=("192.168.66.33", 1167), server=("192.168.66.34", 20000))
    c.data(SERVER, 0.0, 20).data(CLIENT, 0.01, 20).data(SERVER, 0.03, 40).ack(CLIENT, 0.2)
    path = tmp_path / "dnp3.pcap"
    path.write_bytes(pcap_bytes(c))
    row = pcapline.analyze(path).connections.iloc[0]
    assert (row["client_port"], row["server_port"]) == (1167, 20000)
    assert bool(row["client_guessed"])
    assert (row["bytes_client"], row["bytes_server"]) == (20, 60)


def test_the_table_yields_to_a_system_port_and_to_another_service_port() -> None:
    sport = np.array([1128, 20000, 3306, 80, 3306, 20000, 40000, 50000])
    dport = np.array([20000, 1128, 80, 3306, 20000, 3306, 8080, 40000])
    # a service port facing an ephemeral one; a system port (< 1024) facing a listed one
    # (3306 is the client's there); two listed ports and two unlisted ones: the higher port
    assert sender_is_client(sport, dport).tolist() == [
        True,
        False,
        True,
        False,
        False,
        True,
        True,
        True,
    ]
