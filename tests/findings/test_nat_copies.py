"""nat_copies: a connection captured on both sides of a NAT is one connection to the findings.

The real-kernel sample (a masquerading router captured on ``any``) proves the finding and the
counts; crafted conversations prove the guards (a forwarded copy has a lower TTL; a tool that
sends every SYN with one ISN makes no copies).
"""

from __future__ import annotations

import io
import re
from contextlib import redirect_stdout
from pathlib import Path

import pytest
from builders.conversation import CLIENT, SERVER, Conversation, pcap_bytes

import pcapline
from pcapline import cli, engine
from pcapline.findings import nat_copies

SAMPLE = Path(__file__).resolve().parents[2] / "sample_captures" / "nat-gateway-any-copies.pcap"


def _by_kind(analysis: pcapline.Analysis) -> dict[str, pcapline.Finding]:
    return {f.kind: f for f in analysis.findings}


@pytest.mark.parametrize("partitions", [None, 3])
def test_a_nat_gateways_any_capture_counts_each_connection_once(partitions: int | None) -> None:
    """Three connections, six streams. Before, syn_retry_burst read "6 of 6": it fires at
    three, so a NAT host's capture met it with half the connections it needs. (Every engine
    path gives the same JSON: tests/test_engine.py sweeps the samples.)"""
    analysis = engine.analyse(str(SAMPLE), partitions=partitions).analysis
    found = _by_kind(analysis)
    assert list(found) == ["nat_copies", "syn_retry_burst"]
    copies = found["nat_copies"].details
    assert copies["copies"] == [[0, 1], [2, 3], [4, 5]]
    assert copies["translations"] == [{"change": "client 10.80.1.1 -> 10.80.2.254", "copies": 3}]
    assert copies["connection_count"] == 6
    burst = found["syn_retry_burst"]
    assert burst.connections == (0, 2, 4)
    assert burst.summary.startswith("3 of 3 connection(s) to 10.80.2.1:8080")
    assert nat_copies.later_copies(analysis.findings) == {1, 3, 5}


@pytest.mark.parametrize("bounded", [False, True])
def test_the_capture_summary_counts_each_connection_once(
    bounded: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The header said "6 connections: 6 closed" and "6 of 6 connections needed SYN
    retries" for three connections captured twice; the table still lists every stream."""
    monkeypatch.setenv("COLUMNS", "160")  # the table's layout: one row per stream
    out = io.StringIO()
    argv = ["analyze", str(SAMPLE), "--quiet", *(["--memory-bounded"] if bounded else [])]
    with redirect_stdout(out):
        assert cli.run(argv) == 0
    flat = " ".join(out.getvalue().split())  # whatever the terminal's width wrapped
    assert (
        "conns 3 connections: 3 closed; 3 more streams are copies of them captured after an "
        "address translation (nat_copies) slow 3 of 3 connections needed SYN retries"
    ) in flat
    assert flat.count(" closed The client sent the first FIN") == 6  # every stream listed


def _copies(
    *legs: tuple[str, int, int],
    stamped: bool = True,
    ip_ids: tuple[int, ...] = (),
    port: int = 0,
    starts: tuple[float, ...] = (),
) -> bytes:
    """One connection captured once per leg (client address, TTL, client ISN), 20 us apart
    (``starts``: each leg's own start): the client port kept (``port``: each leg's one
    higher), the SYN's IP ID kept (``ip_ids``: each leg's own), with TCP timestamps or
    without (``stamped``)."""
    copies = []
    for k, (client, ttl, isn) in enumerate(legs):
        offset = starts[k] if starts else 20e-6 * k
        c = Conversation(
            conn=len(copies),
            client=(client, 40000 + port * k),
            server=("10.9.9.9", 80),
            client_isn=isn,
        )
        ip_id = ip_ids[k] if ip_ids else 4242
        c.syn(0.0 + offset, ttl=ttl, ip_id=ip_id, **({"timestamps": (500, 0)} if stamped else {}))
        c.synack(0.001 + offset, ttl=ttl, timestamps=(900, 500))
        c.ack(CLIENT, 0.002 + offset, ttl=ttl, timestamps=(501, 900))
        c.fin(CLIENT, 0.003 + offset, ttl=ttl, timestamps=(502, 900))
        c.fin(SERVER, 0.004 + offset, ttl=ttl, timestamps=(901, 502))
        c.ack(CLIENT, 0.005 + offset, ttl=ttl, timestamps=(503, 901))
        copies.append(c)
    return pcap_bytes(*copies)


@pytest.mark.parametrize(
    ("later_ttl", "same_isn", "stamped", "paired"),
    [
        (63, True, True, True),  # routed: one hop less
        (64, True, True, True),  # bridged (br_netfilter NAT on a bridge): the TTL kept
        (64, True, False, False),  # the same TTL and no TSval to share: a tool's two probes
        (63, True, False, True),  # no TSval, but routed and the IP ID kept
        (60, True, True, False),  # four hops apart: not one host's two interfaces
        (63, False, True, False),  # another ISN: another connection
    ],
)
def test_copies_need_the_same_isn_and_a_forwarded_or_bridged_ttl(
    later_ttl: int, same_isn: bool, stamped: bool, paired: bool
) -> None:
    legs = [("10.0.0.1", 64, 1000), ("192.0.2.1", later_ttl, 1000 if same_isn else 7777)]
    analysis = pcapline.analyze(io.BytesIO(_copies(*legs, stamped=stamped)))
    assert [f.kind for f in analysis.findings] == (["nat_copies"] if paired else [])


@pytest.mark.parametrize(
    ("client", "ip_ids", "port"),
    [
        ("10.0.0.1", (), 1),  # the same address, the next source port: hping3's next probe
        ("192.0.2.1", (4242, 4243), 0),  # another IP ID: a tool's next probe, not a copy
    ],
)
def test_probes_of_one_isn_are_no_copies(client: str, ip_ids: tuple[int, ...], port: int) -> None:
    """Scanners send SYNs with one ISN (hping3, nmap -sS, Mirai: the target's address), and
    their TTLs differ by path: a NAT rewrites an address and keeps the IP ID."""
    legs = [("10.0.0.1", 64, 1000), (client, 63, 1000)]
    found = pcapline.analyze(io.BytesIO(_copies(*legs, ip_ids=ip_ids, port=port))).findings
    assert found == []


@pytest.mark.parametrize(
    ("starts", "stamped", "paired"),
    [
        ((5.0, 7.0), True, True),  # the server side's clock 2 s ahead
        ((5.0, 3.0), True, True),  # ... or 2 s behind: its copy stamped first
        ((5.0, 7.0), False, False),  # no TSval: 2 s apart may be a tool's next probe
    ],
)
def test_copies_merged_from_two_hosts_with_clocks_apart_are_one_connection(
    starts: tuple[float, float], stamped: bool, paired: bool
) -> None:
    """nm_2.pcap / nm_-2.pcap (s49 merge audit, real kernels): the client's capture
    (before DNAT + masquerade) and the server's (after) merged with the server's clock 2 s
    off: ten streams, no nat_copies, every count doubled. The SYNs share ISN, TSval and
    IP ID (a NAT rewrites none of them; a resent SYN gets new ones), so seconds between them
    are the clocks', and the copy with the client's TTL is the connection's own."""
    legs = [("10.0.0.1", 64, 1000), ("192.0.2.1", 63, 1000)]
    found = pcapline.analyze(io.BytesIO(_copies(*legs, stamped=stamped, starts=starts))).findings
    assert [f.kind for f in found] == (["nat_copies"] if paired else [])
    if paired:
        own_then_copy = [[0, 1]] if starts[1] > starts[0] else [[1, 0]]  # stream ids by time
        assert found[0].details["copies"] == own_then_copy
        assert found[0].details["translations"][0]["change"] == "client 10.0.0.1 -> 192.0.2.1"


def test_every_later_copy_names_the_connections_first_one() -> None:
    """Translated twice (two hops of NAT on the capture host): both later streams are copies
    of the first, not the third a copy of the second."""
    legs = [("10.0.0.1", 64, 1000), ("172.16.0.1", 63, 1000), ("192.0.2.1", 62, 1000)]
    (found,) = pcapline.analyze(io.BytesIO(_copies(*legs))).findings
    assert found.kind == nat_copies.KIND
    assert found.details["copies"] == [[0, 1], [0, 2]]
    assert found.details["translations"] == [
        {"change": "client 10.0.0.1 -> 172.16.0.1", "copies": 1},
        {"change": "client 10.0.0.1 -> 192.0.2.1", "copies": 1},
    ]


def test_the_reports_headline_counts_each_connection_once(tmp_path: Path) -> None:
    """The report's headline counts each connection once and says what it left out; the
    fate counts and the table keep every stream."""
    from pcapline.render.html import build_page

    page = build_page(pcapline.analyze(str(SAMPLE)), packed=False)
    assert (page["total"], page["copies"], page["failing"]) == (3, 3, 0)
    assert [(fc.fate, fc.count) for fc in page["fate_counts"]] == [("closed", 6)]
    assert ("connections", "6 (3 of them NAT copies)") in page["facts"]
    report = tmp_path / "report.html"
    assert cli.run(["report", str(SAMPLE), "-o", str(report), "--quiet"]) == 0
    words = " ".join(re.sub(r"<[^>]+>", " ", report.read_text()).split())
    assert (
        "None of the 3 connections failed. 2 cross-connection findings. 3 more streams are "
        "copies of these connections captured after an address translation ( nat_copies )"
    ) in words
    # A filter that keeps only a copy shows it as the one connection it is.
    assert cli.run(["report", str(SAMPLE), "--stream", "1", "-o", str(report), "--quiet"]) == 0
    words = " ".join(re.sub(r"<[^>]+>", " ", report.read_text()).split())
    assert (
        "Filtered: 1 of the capture's 6 connections match --stream 1 ; the counts below are "
        "of these only. The connection did not fail."
    ) in words


def test_scan_says_how_many_streams_are_copies(tmp_path: Path) -> None:
    """scan's row counts streams, as its document always has, and says how many of them are
    later copies (``nat_copies``), in the JSON and in the table."""
    from pcapline.scan.render import conns_text
    from pcapline.scan.run import summarize_capture

    summary = summarize_capture(str(SAMPLE))
    assert (summary.connections, summary.nat_copies) == (6, 3)
    assert summary.to_dict()["nat_copies"] == 3
    assert conns_text(summary) == "6 (3 NAT copies)"


def test_a_filtered_header_counts_each_connection_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under a filter the "showing N of M" line counted streams ("showing 2 of 6") right
    below a header that counts three connections; both count each connection once now."""
    monkeypatch.setenv("COLUMNS", "200")
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli.run(["analyze", str(SAMPLE), "--quiet", "--stream", "0", "--stream", "1"]) == 0
    flat = " ".join(out.getvalue().split())
    assert (
        "showing 1 of 3 connections (filter: --stream 0 --stream 1): 1 closed; 1 more stream "
        "is a copy of them captured after an address translation (nat_copies)"
    ) in flat


def test_the_notebook_and_mcp_summaries_count_each_connection_once() -> None:
    """The Jupyter summary read "6 connections: 6 closed" and the MCP ``analyze`` tool
    ``connections: 6`` for three connections captured on both sides of a NAT."""
    from pcapline.mcpserver import summary

    analysis = pcapline.analyze(str(SAMPLE))
    words = " ".join(re.sub(r"<[^>]+>", " ", analysis._repr_html_()).split())
    assert (
        "3 connections: 3 closed; 3 more streams are copies of them captured after an address "
        "translation (nat_copies)"
    ) in words
    told = summary(analysis)
    assert (told["connections"], told["streams_that_are_copies"]) == (3, 3)
    assert told["fates"] == {"closed": 3}
