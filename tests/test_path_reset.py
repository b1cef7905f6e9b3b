"""path_reset: a SYN refused by a router's RST (a reject rule in the path), told from the
server's own refusal by the RST's TTL.

Real kernel (client ns -> router ns -> server ns, captured at the client, Linux 64 initial
TTL): the router's nftables ``ip saddr C tcp dport 8080 tcp flags syn reject with tcp reset``
answered C's SYNs with RST+ACK at TTL 64 and IP ID 0, while the server's SYN+ACKs to the
other client arrived with TTL 63 (ID 0 as well); the server's own RST (nothing listening on
another port) arrived with 63. These captures are those packets' TTLs, crafted.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from builders.conversation import CLIENT, SERVER, Conversation, pcap_bytes

import pcapline
from pcapline.model import ACK, RST

SERVER_ADDR = "10.251.2.2"


def _accepted(k: int, t: float, port: int = 8080, ttl: int = 63) -> Conversation:
    c = Conversation(conn=k, client=("10.251.1.2", 40000 + k), server=(SERVER_ADDR, port))
    c.syn(t).synack(t + 0.0002, ttl=ttl, ip_id=0).ack(CLIENT, t + 0.0003)
    c.fin(CLIENT, t + 0.001).fin(SERVER, t + 0.0012, ttl=ttl).ack(CLIENT, t + 0.0013)
    return c


def _refused(k: int, t: float, rst_ttl: int, port: int = 8080) -> Conversation:
    c = Conversation(conn=k, client=("10.251.1.3", 40000 + k), server=(SERVER_ADDR, port))
    return c.syn(t).send(SERVER, t + 0.0001, RST | ACK, seq=0, window=0, ttl=rst_ttl, ip_id=0)


def _findings(tmp_path: Path, *convs: Conversation) -> list[pcapline.Finding]:
    path = tmp_path / "c.pcap"
    path.write_bytes(pcap_bytes(*convs))
    analysis = pcapline.analyze(path)
    return [f for f in analysis.findings if f.kind == "path_reset"]


@pytest.mark.parametrize(
    ("server_ttl", "rst_ttl", "where"),
    [
        # 64 arrives only as sent (ip_default_ttl): no router between the RST's sender and
        # the capture point.
        (
            63,
            64,
            "TTL 64, the server's packets arrive with TTL 63: 1 hop closer to the capture "
            "point, with no router between them (64 is a starting TTL): the capturing host "
            "itself or a device on its link",
        ),
        # 63: one router took one off on the way; the sender is two hops nearer the server's.
        (
            61,
            63,
            "TTL 63, the server's packets arrive with TTL 61: 2 hops closer to the capture point",
        ),
    ],
)
def test_a_routers_reset_is_told_by_its_ttl(
    tmp_path: Path, server_ttl: int, rst_ttl: int, where: str
) -> None:
    found = _findings(
        tmp_path,
        _accepted(0, 0.0, ttl=server_ttl),
        _refused(1, 0.05, rst_ttl),
        _accepted(2, 0.1, ttl=server_ttl),
        _refused(3, 0.15, rst_ttl),
    )
    (f,) = found
    assert f.connections == (1, 3)
    assert f.summary == (
        f"2 connections to 10.251.2.2:8080 refused: reset by a device in the path ({where})."
    )
    assert f.details["rst_ttl"] == rst_ttl and f.details["server_ttls"] == [server_ttl]
    assert f.details["synacks"] == 2 and f.details["server_ttl_stable"] is True


def test_one_synack_or_another_port_only_is_hedged(tmp_path: Path) -> None:
    (f,) = _findings(tmp_path, _accepted(0, 0.0), _refused(1, 0.05, 64))
    assert "probably reset by a device in the path" in f.summary
    assert f.summary.endswith("; one SYN+ACK of the server to compare with).")
    assert f.details["server_ttl_stable"] is False
    (g,) = _findings(
        tmp_path, _accepted(0, 0.0), _accepted(1, 0.02), _refused(2, 0.05, 64, port=8081)
    )
    assert g.details["server"] == "10.251.2.2:8081"
    assert g.summary.endswith("; compared with the server's other ports only).")


def test_the_servers_own_refusal_and_another_initial_ttl_are_no_finding(tmp_path: Path) -> None:
    # The server refusing itself: its RST arrives with its SYN+ACKs' TTL.
    assert not _findings(tmp_path, _accepted(0, 0.0), _accepted(1, 0.02), _refused(2, 0.05, 63))
    # A listener's own IP_TTL (BGP GTSM: 255) against the kernel's default for its RSTs (64):
    # another initial TTL proves no other host (tcpdump's bgp-bgpsec capture).
    assert not _findings(
        tmp_path, _accepted(0, 0.0, ttl=255), _accepted(1, 0.02, ttl=255), _refused(2, 0.05, 64)
    )
    # Farther than the server: no device between the capture point and the server.
    assert not _findings(tmp_path, _accepted(0, 0.0), _accepted(1, 0.02), _refused(2, 0.05, 61))


def _forwarded(k: int, t: float) -> Conversation:
    """tcpdump -i any on the router: each packet seen coming in, then going out one hop
    lower (the SYN 64 then 63, the server's SYN+ACK 64 then 63)."""
    c = Conversation(conn=k, client=("10.251.1.2", 40000 + k), server=(SERVER_ADDR, 8080))
    c.syn(t, ttl=64, ip_id=7).syn(t + 0.00001, ttl=63, ip_id=7)
    c.synack(t + 0.0002, ttl=64, ip_id=0).synack(t + 0.00021, ttl=63, ip_id=0)
    c.ack(CLIENT, t + 0.0003)
    return c


def test_a_capture_on_the_rejecting_router_finds_its_own_reset(tmp_path: Path) -> None:
    """tcpdump -i any on the router (sample path-reset-router-reject-router-any): the server's
    SYN+ACKs leave toward the client with 63; the refused SYN came in once and never went on,
    and the RST left once, with 64: the router answered it itself."""
    convs = (_forwarded(0, 0.0), _forwarded(1, 0.02), _refused(2, 0.05, 64))
    (f,) = _findings(tmp_path, *convs)
    assert f.connections == (2,)
    assert "TTL 64, the server's packets arrive with TTL 63: 1 hop closer" in f.summary


def test_the_servers_own_reset_seen_through_the_router_is_no_finding(tmp_path: Path) -> None:
    """The refused SYN went on toward the server (seen again one hop lower): the server's RST
    is seen twice, 64 then 63, as its SYN+ACKs are; seen once only (dropped on the way back)
    its sighting is on the server's side of the hop, not beside the SYN+ACKs' last ones."""
    for rst_ttls in ((64, 63), (64,)):
        c = Conversation(conn=2, client=("10.251.1.3", 40002), server=(SERVER_ADDR, 8080))
        c.syn(0.05, ttl=64, ip_id=9).syn(0.05001, ttl=63, ip_id=9)
        for k, ttl in enumerate(rst_ttls):
            c.send(SERVER, 0.0501 + k * 1e-5, RST | ACK, seq=0, window=0, ttl=ttl, ip_id=0)
        assert not _findings(tmp_path, _forwarded(0, 0.0), _forwarded(1, 0.02), c)


def test_partitions_find_what_the_whole_capture_finds(tmp_path: Path) -> None:
    """The refusals and the SYN+ACKs they are compared with analysed in different
    partitions (--jobs 2 on a large capture): the finding reads the joined handshake facts."""
    path = tmp_path / "c.pcap"
    convs = [_accepted(0, 0.0), _refused(1, 0.05, 64), _accepted(2, 0.1), _refused(3, 0.15, 64)]
    path.write_bytes(pcap_bytes(*convs))
    whole = [(f.kind, f.summary, f.connections) for f in pcapline.analyze(path).findings]
    parted = pcapline.analyze(path, partitions=3).findings
    assert [(f.kind, f.summary, f.connections) for f in parted] == whole
    assert [f.kind for f in parted] == ["path_reset"]


def _verdicts(tmp_path: Path, *convs: Conversation) -> dict[int, tuple[str, str | None, str]]:
    path = tmp_path / "v.pcap"
    path.write_bytes(pcap_bytes(*convs))
    table = pcapline.analyze(path).connections.set_index("id")
    return {
        int(i): (
            str(r["fate"]),
            r["cause"] if isinstance(r["cause"], str) else None,
            str(r["explanation"]),
        )
        for i, r in table[["fate", "cause", "explanation"]].iterrows()
    }


def test_the_refused_connection_names_the_device_in_the_path(tmp_path: Path) -> None:
    """The refusal's own verdict: cause path_reset, the TTLs, and advice for the device in the
    path, not for the server (which never saw the SYN)."""
    found = _verdicts(tmp_path, _accepted(0, 0.0), _refused(1, 0.05, 64), _accepted(2, 0.1))
    fate, cause, text = found[1]
    assert (fate, cause) == ("refused", "path_reset")
    assert text.startswith(
        "Refused: the server's address answered the SYN with RST (frame 8, IP TTL 64); the "
        "server's own packets arrive with TTL 63: the RST's sender is 1 hop closer to the "
        "capture point, with no router between them (64 is a starting TTL): the capturing host "
        "itself or a device on its link. A device in the path sent the RST in the server's name, not the server "
        "(compared with its SYN+ACKs on other connections to this port)"
    )
    assert "nft list ruleset / iptables -S: REJECT --reject-with tcp-reset" in text
    assert "ss -lnt on the server" not in text
    assert found[0][1] is None and found[2][1] is None


def test_a_refusal_in_the_path_tells_what_its_rsts_answered_as_the_servers_own_does(
    tmp_path: Path,
) -> None:
    """One clause for what a refusal's RSTs answered (explain_path.refusal): a client that
    tried again after each RST (Windows, 0.5 s later) reads the same whoever sent them."""
    c = Conversation(conn=1, client=("10.251.1.3", 40001), server=(SERVER_ADDR, 8080))
    for t in (0.05, 0.55):
        c.syn(t).send(SERVER, t + 0.0001, RST | ACK, seq=0, window=0, ttl=64, ip_id=0)
    found = _verdicts(tmp_path, _accepted(0, 0.0), c, _accepted(2, 0.1))
    fate, cause, text = found[1]
    assert (fate, cause) == ("refused", "path_reset")
    assert text.startswith(
        "Refused: the server's address answered each of the 2 SYNs with RST (frames 8, 16, IP "
        "TTL 64); the client sent a new SYN 500 ms after each RST (a stack that retries a "
        "refused connect: Windows does, 0.5 s later); the server's own packets arrive with TTL "
        "63"
    )


def test_a_refusal_with_an_unstable_server_ttl_is_hedged(tmp_path: Path) -> None:
    # One SYN+ACK to compare with: probably.
    _, cause, text = _verdicts(tmp_path, _accepted(0, 0.0), _refused(1, 0.05, 64))[1]
    assert cause == "path_reset"
    assert ". Probably a device in the path sent the RST" in text
    assert "(compared with the one SYN+ACK of it in the capture)" in text
    # The server's other ports only.
    convs = (_accepted(0, 0.0), _accepted(1, 0.02), _refused(2, 0.05, 64, port=8081))
    _, cause, text = _verdicts(tmp_path, *convs)[2]
    assert cause == "path_reset" and ". Probably a device in the path" in text
    assert "on its other ports only" in text
    # SYN+ACKs with two TTLs (62 and 63): a range, no hop count.
    convs = (_accepted(0, 0.0, ttl=62), _accepted(1, 0.02), _refused(2, 0.05, 64))
    _, cause, text = _verdicts(tmp_path, *convs)[2]
    assert cause == "path_reset"
    assert "the server's own packets arrive with TTL 62-63. Probably a device" in text


def test_the_servers_own_refusal_keeps_the_servers_words(tmp_path: Path) -> None:
    for rst_ttl, synack_ttl in ((63, 63), (64, 255), (61, 63)):
        convs = (
            _accepted(0, 0.0, ttl=synack_ttl),
            _accepted(1, 0.02, ttl=synack_ttl),
            _refused(2, 0.05, rst_ttl),
        )
        fate, cause, text = _verdicts(tmp_path, *convs)[2]
        assert (fate, cause) == ("refused", None)
        assert text.startswith("Refused: the server answered the SYN with RST (frame 14).")


def _split_capture(tmp_path: Path) -> Path:
    """Refusals and SYN+ACKs enough to land in different partitions: a partition holding a
    refusal and one SYN+ACK (or none) judges it otherwise than the whole capture."""
    convs = [_accepted(k, 0.01 * k) for k in range(0, 6, 2)]
    convs += [_refused(k, 0.01 * k, 64) for k in range(1, 6, 2)]
    path = tmp_path / "split.pcap"
    path.write_bytes(pcap_bytes(*convs))
    return path


def _json(analysis: pcapline.Analysis) -> str:
    import io

    out = io.StringIO()
    analysis.write_json(out)
    return out.getvalue()


def test_partitions_judge_the_refusals_with_the_whole_captures_server_ttls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """classify runs per partition; the server's TTLs are the whole capture's
    (``Settings.server_ttls``): a partition whose refusals its own SYN+ACKs judge otherwise is
    analysed again (``engine._to_rerun``)."""
    from pcapline import engine

    path = _split_capture(tmp_path)
    whole = pcapline.analyze(path)
    assert set(whole.connections["cause"].dropna()) == {"path_reset"}
    assert ". A device in the path sent the RST" in str(whole.connections["explanation"][1])
    expected = _json(whole)
    assert _json(pcapline.analyze(path, partitions=3)) == expected
    outcome = engine.analyse(path, partitions=3, jobs=2, json_entries=True)
    assert _json(outcome.analysis) == expected
    monkeypatch.setattr(engine, "_to_rerun", lambda *args: [])
    assert _json(pcapline.analyze(path, partitions=3)) != expected  # the rerun was needed


def test_the_bounded_path_judges_the_refusals_as_the_whole_capture(tmp_path: Path) -> None:
    from pcapline import bounded

    path = _split_capture(tmp_path)
    expected = _json(pcapline.analyze(path))
    spill = tmp_path / "spill"
    spill.mkdir()
    with bounded.analyse(
        path, partitions=3, jobs=1, outputs=frozenset({"json"}), spill_dir=str(spill)
    ) as result:
        import io

        out = io.StringIO()
        result.write_json(out)
    assert out.getvalue() == expected


def test_a_refusal_whose_syn_the_capture_lacks_says_so(tmp_path: Path) -> None:
    """The capture began after the SYN: the RST (seq 0) answers a SYN it does not hold."""
    c = Conversation(conn=1, client=("10.251.1.3", 40001), server=(SERVER_ADDR, 8080))
    c.send(SERVER, 0.05, RST | ACK, seq=0, window=0, ttl=64, ip_id=0)
    fate, cause, text = _verdicts(tmp_path, _accepted(0, 0.0), c, _accepted(2, 0.1))[1]
    assert (fate, cause) == ("refused", "path_reset")
    assert text.startswith(
        "Refused: a RST from the server's address (frame 7, IP TTL 64) answers a SYN the "
        "capture does not hold: its sequence number is 0, the reset of a segment without ACK; "
        "the server's own packets arrive with TTL 63"
    )


def test_the_json_carries_the_ttls_of_a_path_reset(tmp_path: Path) -> None:
    """``inferred.path_reset``: the RST's TTL against the server's SYN+ACKs', in the schema."""
    import json

    import jsonschema
    from contract_pcapline1 import check_document

    from pcapline.model import SCHEMA
    from pcapline.schemas import load

    path = tmp_path / "j.pcap"
    convs = (_accepted(0, 0.0, ttl=62), _accepted(1, 0.02), _refused(2, 0.05, 64))
    path.write_bytes(pcap_bytes(*convs))
    doc = json.loads(_json(pcapline.analyze(path)))
    by_id = {c["id"]: c for c in doc["connections"]}
    assert by_id[2]["inferred"]["path_reset"] == {
        "rst_ttl": 64,
        "server_ttl": 62,
        "server_ttls": [62, 63],
        "stable": False,
    }
    assert "path_reset" not in by_id[0]["inferred"]
    assert not list(jsonschema.Draft202012Validator(load(SCHEMA)).iter_errors(doc))
    check_document(doc)  # raises on a breach of the contract
