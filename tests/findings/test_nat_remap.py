"""nat_remap: a connection's byte stream carried on under another client port or address."""

from __future__ import annotations

from pathlib import Path

from builders.conversation import CLIENT, SERVER, Conversation, pcap_bytes

import pcapline
from pcapline.findings import nat_remap

SAMPLE = (
    Path(__file__).resolve().parents[2] / "sample_captures" / "nat-remap-after-idle-at-server.pcap"
)


def test_the_real_kernels_remap_seen_at_the_server_is_one_finding() -> None:
    """A masquerading router (fully-random, conntrack established timeout 5 s, loose=1); the
    client's request after 8 s idle leaves under a new source port and the server, its socket
    for the first port still open, answers the unknown 4-tuple with a RST."""
    analysis = pcapline.analyze(str(SAMPLE))
    (found,) = [f for f in analysis.findings if f.kind == nat_remap.KIND]
    assert found.connections == (0, 1)
    (remap,) = found.details["remaps"]
    assert (remap["original"], remap["remapped"], remap["reset_by_server"]) == (0, 1, True)
    before, after = remap["client_before"], remap["client_after"]
    assert before.split(":")[0] == after.split(":")[0] == "10.208.2.254" and before != after
    fates = analysis.connections.set_index("id")["fate"].to_dict()
    assert fates == {0: "open", 1: "reset"}


def _first(port: int = 40000) -> Conversation:
    """A request and its answer (100 bytes each), then an idle connection."""
    c = Conversation(conn=0, client=("10.0.0.254", port), server=("10.0.0.2", 8080))
    c.handshake(0.0).data(CLIENT, 0.01, 100).ack(SERVER, 0.011)
    c.data(SERVER, 0.012, 100).ack(CLIENT, 0.013)
    return c


def _later(first: Conversation, client: tuple[str, int], server_port: int = 8080) -> Conversation:
    """The next request of ``first`` 6 s later under ``client`` (no handshake), and the
    server's stateless RST (no ACK, seq = the segment's ack)."""
    c = Conversation(
        conn=1,
        client=client,
        server=("10.0.0.2", server_port),
        client_isn=first.nxt(CLIENT),
        server_isn=first.nxt(SERVER),
    )
    c.data(CLIENT, 6.0, 100)
    c.rst(SERVER, 6.0001, with_ack=False, seq=first.nxt(SERVER))
    return c


def _findings(tmp_path: Path, *conversations: Conversation) -> list[pcapline.Finding]:
    path = tmp_path / "remap.pcap"
    path.write_bytes(pcap_bytes(*conversations))
    return [f for f in pcapline.analyze(str(path)).findings if f.kind == nat_remap.KIND]


def test_a_stream_continuing_another_from_a_new_port_is_a_remap(tmp_path: Path) -> None:
    # masquerade fully-random after the conntrack entry expired: same bytes, new source port.
    first = _first()
    (found,) = _findings(tmp_path, first, _later(first, ("10.0.0.254", 58971)))
    assert found.connections == (0, 1)
    assert found.details["server"] == "10.0.0.2:8080"
    assert found.details["remaps"] == [
        {
            "original": 0,
            "remapped": 1,
            "client_before": "10.0.0.254:40000",
            "client_after": "10.0.0.254:58971",
            "reset_by_server": True,
        }
    ]
    assert "a NAT on the path lost the translation" in found.summary


def test_an_untranslated_address_is_a_remap_too(tmp_path: Path) -> None:
    # nf_conntrack_tcp_loose=0: the segment is INVALID, skips NAT and leaves with the
    # client's own address (same port).
    first = _first()
    (found,) = _findings(tmp_path, first, _later(first, ("192.168.1.5", 40000)))
    assert found.details["remaps"][0]["client_after"] == "192.168.1.5:40000"


def test_other_numbers_or_another_server_port_are_no_remap(tmp_path: Path) -> None:
    first = _first()
    stranger = Conversation(
        conn=1, client=("10.0.0.254", 58971), server=("10.0.0.2", 8080), client_isn=77_000
    )
    stranger.data(CLIENT, 6.0, 100).rst(SERVER, 6.0001, with_ack=False, seq=5000 + 101)
    assert _findings(tmp_path, first, stranger) == []  # an ACK probe's arbitrary numbers
    first = _first()
    assert _findings(tmp_path, first, _later(first, ("10.0.0.254", 58971), 8081)) == []
