"""Words for NAT and middlebox readings that a single connection's packets support."""

from __future__ import annotations

from pathlib import Path

from builders.conversation import CLIENT, SERVER, Conversation, pcap_bytes

import pcapline


def _explanation(tmp_path: Path, c: Conversation) -> str:
    path = tmp_path / "one.pcap"
    path.write_bytes(pcap_bytes(c))
    (text,) = pcapline.analyze(str(path)).connections["explanation"].tolist()
    return str(text)


def _mid_stream(*, data: int) -> Conversation:
    """A connection the capture began inside: the client's segment (``data`` bytes, 0: a
    bare ACK), answered by the server's stateless RST (no ACK bit, seq = its ACK number)."""
    c = Conversation(conn=0, client=("10.0.0.254", 42429), server=("10.0.0.2", 8080))
    if data:
        c.data(CLIENT, 0.0, data)
    else:
        c.ack(CLIENT, 0.0)
    c.rst(SERVER, 0.0001, with_ack=False, seq=c.nxt(SERVER))
    return c


def test_a_data_segment_answered_by_a_stateless_rst_reads_as_a_nat_remap_not_a_probe(
    tmp_path: Path,
) -> None:
    """No scanner's probe carries data (nmap's ACK, FIN and Maimon scans send none): the
    4-tuple the server never held is a NAT's new translation of a live connection."""
    text = _explanation(tmp_path, _mid_stream(data=100))
    assert "scanner's ACK probe" not in text
    assert "a NAT on the path that lost the connection's translation" in text
    assert "the nat_remap finding names the earlier stream" in text
    assert "Not a scanner's probe: the segment carries data" in text
    assert "conntrack on any NAT on the path (conntrack -L" in text


def test_a_bare_ack_answered_by_a_stateless_rst_may_still_be_an_ack_scan(tmp_path: Path) -> None:
    text = _explanation(tmp_path, _mid_stream(data=0))
    assert "never had it (a scanner's ACK probe, nmap -sA, draws the same answer)" in text
    assert "nat_remap" not in text


def _idle_then_rst(side: bool, idle: float) -> Conversation:
    """A request and its answer, then ``idle`` seconds of silence and ``side``'s RST+ACK."""
    c = Conversation(conn=0, client=("10.0.0.5", 40001), server=("10.0.0.2", 8080))
    c.syn(0.0).synack(0.0001).ack(CLIENT, 0.0002)
    c.data(CLIENT, 0.01, 100).ack(SERVER, 0.0101).data(SERVER, 0.02, 500).ack(CLIENT, 0.0201)
    return c.rst(side, 0.0201 + idle)


def test_a_clients_abort_after_a_silence_offers_a_proxy_in_front(tmp_path: Path) -> None:
    """Behind a TCP-terminating load balancer the server's client is the proxy, which ends
    idle pooled backend connections on its own timer, some with RST."""
    text = _explanation(tmp_path, _idle_then_rst(CLIENT, 60.0))
    assert text.startswith("Reset by the client (frame 8) while established, after 60 s of")
    assert "a load balancer or reverse proxy in front of the server" in text
    assert "compare the 60 s of silence with its idle timeout" in text


def test_no_proxy_reading_for_a_prompt_abort_or_the_servers(tmp_path: Path) -> None:
    prompt = _explanation(tmp_path, _idle_then_rst(CLIENT, 0.2))
    assert "reverse proxy in front" not in prompt
    server = _explanation(tmp_path, _idle_then_rst(SERVER, 60.0))
    assert "reverse proxy in front" not in server


def test_a_connect_timeout_names_a_nat_out_of_source_ports(tmp_path: Path) -> None:
    """SNAT/masquerade drops a new connection's SYN when no source port to its destination is
    free (conntrack insert_failed): the client sees only its SYN retries, as here."""
    c = Conversation(conn=0, client=("10.0.0.5", 40001), server=("10.0.9.2", 8080))
    c.syn(0.0).syn(1.0).syn(3.0)
    text = _explanation(tmp_path, c)
    assert text.startswith("Connect timeout: 3 SYNs at 0, 1, 3 s, never answered")
    assert "a NAT out of source ports to this server address and port" in text
    assert "conntrack -S insert_failed" in text
