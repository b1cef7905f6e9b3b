"""Capture quality (quality.py) and what it does to a fate's confidence (classify.py).

Real public captures for the issue's cases (corpus), crafted segments only for the small
rules of ``quality.measure``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "detect"))
from builders.conversation import CLIENT, SERVER, Conversation, pcap_bytes
from builders.segments import segments
from needs import CORPUS, CORPUS_MARKS

import pcapline
from pcapline.facts import compute_facts
from pcapline.model import ACK, FAILURE_FATES, FIN, PSH
from pcapline.quality import measure, summary
from pcapline.quality import warnings as quality_warnings

FAILURES = {f.value for f in FAILURE_FATES}


def test_an_ack_of_bytes_never_captured_is_a_capture_point_loss() -> None:
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.01, 100)
    c.data(CLIENT, 0.011, 100, captured=False)  # the capture point missed it ...
    c.ack(SERVER, 0.02)  # ... and the server acknowledges it
    q = measure(compute_facts(segments(c)))
    assert q.acked_unseen.tolist() == [1]
    assert q.not_captured.tolist() == [0]  # nothing came after the gap
    assert q.lossy_capture


def test_a_gap_the_sender_fills_later_is_loss_before_the_capture_point() -> None:
    c = Conversation().handshake(0.0)
    first = c.nxt(CLIENT)
    c.data(CLIENT, 0.01, 100, captured=False)  # lost before the capture point ...
    c.data(CLIENT, 0.02, 100)  # ... so this one starts after a gap
    c.ack(SERVER, 0.021, ack=first)  # duplicate ACK
    c.data(CLIENT, 0.3, 100, seq=first)  # the retransmission fills the gap
    q = measure(compute_facts(segments(c)))
    assert q.not_captured.tolist() == [0]
    assert not q.lossy_capture
    # Had the retransmission not been captured either, the gap is the capture's.
    c.rows.pop()
    assert measure(compute_facts(segments(c))).not_captured.tolist() == [1]


def test_a_synack_the_client_acknowledged_but_the_capture_lacks_is_a_capture_point_loss() -> None:
    # RFC 9293 3.10.7.3: a client leaves SYN-SENT only on a SYN+ACK; its ACK proves one came.
    c = Conversation().syn(0.0).synack(0.0005, captured=False).ack(CLIENT, 0.001)
    c.data(CLIENT, 0.002, 100)
    c.ack(SERVER, 0.003)
    q = measure(compute_facts(segments(c)))
    assert q.acked_unseen.tolist() == [1]
    assert q.first_missing_frame.tolist() == [2]  # the client's handshake ACK
    assert q.lossy_capture
    # The server's direction not captured at all: one-sided, not a loss at the capture point.
    one_way = Conversation().syn(0.0).synack(0.0005, captured=False).ack(CLIENT, 0.001)
    one_way.data(CLIENT, 0.002, 100)
    assert measure(compute_facts(segments(one_way))).acked_unseen.tolist() == [0]


def test_a_rst_acknowledging_bytes_never_captured_is_a_capture_point_loss() -> None:
    # Linux's RST carries ACK = what it received: past every client byte the capture holds.
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.01, 500, captured=False)
    c.rst(SERVER, 0.4)
    q = measure(compute_facts(segments(c)))
    assert q.acked_unseen.tolist() == [1]
    assert q.first_missing_frame.tolist() == [4]  # the RST
    # ... of its own connection: one RST is no evidence the others lost segments.
    assert q.lossy.tolist() == [True] and not q.lossy_capture
    # A RST's ACK beyond any window its sender offered is a stray field, not a loss.
    stray = Conversation().handshake(0.0)
    stray.rst(SERVER, 0.4, ack=stray.nxt(CLIENT) + 10 * stray.window)
    assert measure(compute_facts(segments(stray))).acked_unseen.tolist() == [0]


@pytest.mark.parametrize("corpus", [pytest.param(None, marks=CORPUS_MARKS)])
def test_a_capture_without_the_synack_says_its_tap_lost_it(corpus: None) -> None:
    # arkime's no-syn-ack.pcap: two connections, SYN then the client's ACK and data, the
    # server's data, never a SYN+ACK. The capture point missed them (before: a clean capture).
    a = pcapline.analyze(str(CORPUS / "arkime/no-syn-ack.pcap"))
    assert a.connections["confidence"].tolist() == ["likely", "likely"]
    assert a.to_dict()["capture"]["quality"]["first_missing_frames"] == [2, 7]


@pytest.mark.parametrize("corpus", [pytest.param(None, marks=CORPUS_MARKS)])
def test_resent_data_already_acknowledged_is_no_retransmit_timeout(corpus: None) -> None:
    # tls2: started mid-stream, thousands of segments missing at the capture point; in
    # connections 90 and 188 the server resends data the client had already acknowledged
    # (Wireshark: spurious retransmission). The data arrived: no path or peer death.
    a = pcapline.analyze(str(CORPUS / "pcapplusplus/examples/tls2.pcap"))
    fates = dict(zip(a.connections["id"], a.connections["fate"], strict=True))
    assert fates[90] == fates[188] == "open"
    assert a.capture.quality["lossy_connections"] > 0
    assert any("missing segments" in w for w in a.capture.warnings)


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=CORPUS_MARKS)
        for n in ("zeek/http/bro.org-filtered.pcap", "zeek/wikipedia-filtered-plus-udp.pcap")
    ],
)
def test_a_flag_filtered_capture_claims_no_failure(name: str) -> None:
    # Captures filtered to SYN/FIN/RST: the missing handshake ACKs are the filter's.
    a = pcapline.analyze(str(CORPUS / name))
    assert a.capture.quality["flag_filtered"]
    conns = a.connections
    claimed = conns[conns["fate"].isin(FAILURES) & (conns["confidence"] != "unknown")]
    assert claimed.empty, claimed[["id", "fate", "confidence"]]
    assert (conns.loc[conns["fate"].isin(FAILURES), "caveats"].map(len) > 0).all()


def _exchange(c: Conversation, *, rounds: int, handshake: bool, bare_ack: bool) -> Conversation:
    """``rounds`` request/answer turns, every ACK carried by data; optionally the opening
    (bare SYN and SYN+ACK) and one bare ACK at the end."""
    if handshake:
        c.syn(0.0).synack(0.0005)
    for k in range(rounds):
        c.data(CLIENT, 0.001 + 0.01 * k, 100).data(SERVER, 0.002 + 0.01 * k, 300)
    if bare_ack:
        c.ack(CLIENT, 0.001 + 0.01 * rounds)
    return c


@pytest.mark.parametrize(
    ("rounds", "handshake", "bare_ack", "filtered"),
    [
        (1, False, False, True),  # data only: 'tcp.len > 0' dropped every bare SYN, FIN, ACK
        (1, True, False, False),  # a short exchange may piggyback every ACK (health check)
        (10, True, False, True),  # 20 data segments, SYNs kept, not one bare ACK: filtered
        (10, True, True, False),
        (1, False, True, False),
    ],
)
def test_data_without_a_bare_ack_is_a_payload_filter_when_the_capture_shows_it(
    rounds: int, handshake: bool, bare_ack: bool, filtered: bool
) -> None:
    """The usual payload filters drop every segment without data, SYNs and FINs included;
    one that keeps those is told only where a bare ACK was due (ACKS_EXPECTED_WITHIN)."""
    c = _exchange(Conversation(), rounds=rounds, handshake=handshake, bare_ack=bare_ack)
    q = measure(compute_facts(segments(c)))
    assert q.acks_filtered is filtered
    assert any("no bare ACK" in w for w in quality_warnings(q)) is filtered


def test_in_a_payload_filtered_capture_an_idle_rst_is_likely_and_open_unknown(
    tmp_path: Path,
) -> None:
    """A RST after 5 s of silence: keepalive probes (bare) before it would be filtered out, so
    the RST is on the wire but what sent it is not; one right after data is what it is; a
    connection with no end seen, or one FIN, may have ended by a bare FIN the filter dropped."""
    idle = _exchange(Conversation(), rounds=10, handshake=True, bare_ack=False).rst(CLIENT, 5.0)
    quick = _exchange(
        Conversation(client=("10.0.0.4", 40002)), rounds=10, handshake=True, bare_ack=False
    ).rst(CLIENT, 0.1011)
    still = _exchange(
        Conversation(client=("10.0.0.3", 40001)), rounds=10, handshake=True, bare_ack=False
    )
    path = tmp_path / "filtered.pcap"
    path.write_bytes(pcap_bytes(idle, quick, still))
    conns = pcapline.analyze(path).connections.set_index("client_port")
    assert conns.loc[40000, ["fate", "confidence"]].tolist() == ["reset", "likely"]
    assert list(conns.loc[40000, "caveats"]) == ["acks_filtered"]
    assert conns.loc[40002, ["fate", "confidence"]].tolist() == ["reset", "proven"]
    assert conns.loc[40001, ["fate", "confidence"]].tolist() == ["open", "unknown"]
    assert list(conns.loc[40001, "caveats"]) == ["acks_filtered"]


def test_in_a_capture_of_payload_only_a_missing_syn_or_fin_is_the_filters(
    tmp_path: Path,
) -> None:
    """'tcp.len > 0' drops every SYN and bare FIN: a connection without a captured SYN did not
    necessarily begin before the capture, and a FIN its peer acknowledged was not lost by the
    capture point. A filter that keeps SYN/FIN/RST besides data does keep the SYN: there, no
    SYN is a capture begun inside the connection."""
    c = _exchange(Conversation(), rounds=3, handshake=False, bare_ack=False)
    c.fin(CLIENT, 0.5, captured=False)  # bare: filtered out ...
    c.send(SERVER, 0.501, FIN | ACK | PSH, length=50)  # ... the server's last words ACK it
    path = tmp_path / "payload-only.pcap"
    path.write_bytes(pcap_bytes(c))
    report = pcapline.analyze(path).to_dict()
    assert report["capture"]["quality"]["acks_filtered"]
    words = report["connections"][0]["explanation"]
    assert "o SYN captured (this capture holds only segments with payload" in words
    assert "began inside" not in words
    assert "a FIN without payload, which this capture's filter drops" in words
    assert "the capture point lost it" not in words
    # SYNs kept (20 data segments and not one bare ACK): a stream without one began earlier.
    kept = _exchange(Conversation(), rounds=10, handshake=True, bare_ack=False)
    inside = _exchange(
        Conversation(client=("10.0.0.3", 40001)), rounds=10, handshake=False, bare_ack=False
    )
    path = tmp_path / "flags-and-payload.pcap"
    path.write_bytes(pcap_bytes(kept, inside))
    report = pcapline.analyze(path).to_dict()
    assert report["capture"]["quality"]["acks_filtered"]
    by_port = {c["client"]["port"]: c["explanation"] for c in report["connections"]}
    assert by_port[40001].startswith("Capture began inside this connection (no SYN seen)")


SAMPLES = Path(__file__).resolve().parent.parent / "sample_captures"


def _server_clock_behind(path: Path, behind_ns: int, out: Path) -> None:
    """The capture as two one-sided captures merged (mergecap) whose server-side clock ran
    ``behind_ns`` behind: the server's packets stamped that much earlier, the file re-sorted."""
    import dpkt

    with path.open("rb") as f:
        reader = dpkt.pcap.Reader(f)
        link = reader.datalink()
        frames = [(round(ts * 1e9), bytes(buf)) for ts, buf in reader]
    analysis = pcapline.analyze(str(path))
    server = set(analysis.segments.loc[~analysis.segments["from_client"], "frame"].tolist())
    shifted = sorted(
        ((t - behind_ns if n in server else t), n, buf) for n, (t, buf) in enumerate(frames, 1)
    )
    with out.open("wb") as f:
        writer = dpkt.pcap.Writer(f, linktype=link, nano=True)
        for t, _n, buf in shifted:
            writer.writepkt(buf, ts=t / 1e9)


def test_acks_before_their_data_are_two_clocks_not_lost_segments(tmp_path: Path) -> None:
    """A client-side and a server-side capture merged, the server's clock 5 ms behind: its
    ACKs and answers come before the client data they acknowledge. That was read as "the
    capture point lost segments" (an ACK of bytes never captured: every silence unproven);
    the bytes are there, later. Now: no loss, and a warning that two clocks disagree."""
    path = SAMPLES / "slow-response-turns.pcap"
    one_clock = pcapline.analyze(str(path)).capture.quality
    assert (one_clock["acks_before_data"], one_clock["clocks_apart_ms"]) == (0, None)
    out = tmp_path / "merged.pcap"
    _server_clock_behind(path, 5_000_000, out)
    merged = pcapline.analyze(str(out)).capture
    q = merged.quality
    assert q["acked_unseen"] == 0 and q["lossy_connections"] == 0
    assert q["acks_before_data"] > 0
    assert 4.0 < q["clocks_apart_ms"] <= 5.0  # the offset less the capture point's turnaround
    assert any("clocks that disagree" in w for w in merged.warnings)


def _two_points(
    offset_s: float, *, client_transit_s: float = 40e-6, server_transit_s: float = 40e-6
) -> Conversation:
    """One exchange (handshake, a request, its answer, both FINs) seen at two capture points
    on either side of a router, as mergecap of a client's and a server's capture makes it
    (the s49 merge audit's m_0.3.pcap): the point nearer the server stamps ``offset_s`` later
    and sees each packet one hop from the client (TTL 63 for the client's packets, 64 for
    the server's). ``*_transit_s``: how long a packet of that side takes between the two
    points (a router's egress queue holds one direction only)."""
    c = Conversation()
    ci, si = c.client_isn, c.server_isn
    sent = [  # (sender, time at the sender, flags, seq, ack, length, ip_id, tsval)
        (CLIENT, 0.0, 2, ci, 0, 0, 0x23FD, 1000),
        (SERVER, 0.0001, 2 | ACK, si, ci + 1, 0, 0, 5000),
        (CLIENT, 0.0002, ACK, ci + 1, si + 1, 0, 0x23FE, 1000),
        (CLIENT, 0.0003, ACK, ci + 1, si + 1, 20, 0x23FF, 1000),
        (SERVER, 0.0004, ACK, si + 1, ci + 21, 0, 0x1000, 5000),
        (SERVER, 0.0010, ACK, si + 1, ci + 21, 30, 0x1001, 5001),
        (CLIENT, 0.0011, ACK, ci + 21, si + 31, 0, 0x2400, 1001),
        (CLIENT, 0.0500, FIN | ACK, ci + 21, si + 31, 0, 0x2401, 1050),
        (SERVER, 0.0502, FIN | ACK, si + 31, ci + 22, 0, 0x1002, 5050),
        (CLIENT, 0.0503, ACK, ci + 22, si + 32, 0, 0x2402, 1050),
    ]
    seen = []
    for side, t, flags, seq, ack, length, ip_id, tsval in sent:
        if side == CLIENT:
            near_client, near_server = (t, 64), (t + client_transit_s + offset_s, 63)
        else:
            near_server, near_client = (t + offset_s, 64), (t + server_transit_s, 63)
        for at, ttl in (near_client, near_server):
            seen.append((at, side, flags, seq, ack, length, ip_id, tsval, ttl))
    return c.sightings(seen)


@pytest.mark.parametrize(("offset_s", "words"), [(0.3, "300 ms later"), (-2.0, "2 s earlier")])
def test_a_merge_of_two_points_is_named_with_its_clock_offset(offset_s: float, words: str) -> None:
    """m_0.3.pcap, m_-2.pcap (s49 merge audit): every packet twice, nothing said of it and
    clocks_apart_ms null. The copies give the two points, and bound the clocks' offset: the
    client's packets reach the server's point offset + transit later, the server's reach
    the client's point transit after the server's point saw them (offset - transit)."""
    q = measure(compute_facts(segments(_two_points(offset_s))))
    s = summary(q)
    assert (s["captured_twice"], s["two_point_connections"]) == (10, 1)
    assert s["clocks_apart_ms"] == pytest.approx(abs(offset_s) * 1000, abs=0.05)
    (text,) = quality_warnings(q)
    assert text.startswith("10 packets were captured twice (1 connection seen at two capture")
    assert "one 1 router hop further toward the servers, where TTLs are 1 lower" in text
    assert f"stamps packets at least {words} than the one nearer the clients" in text


def test_one_clock_behind_an_egress_queue_is_no_clock_offset() -> None:
    """duplicates-router-any-egress-queue.pcap: -i any on a router whose egress queue holds
    the client's packets 20 ms between the two sightings, the server's 50 us: one clock.
    The offset lies between the server's D (-50 us) and the client's (+20 ms): no offset."""
    q = measure(
        compute_facts(segments(_two_points(0.0, client_transit_s=0.02, server_transit_s=5e-5)))
    )
    assert summary(q)["clocks_apart_ms"] is None
    (text,) = quality_warnings(q)
    assert text.endswith("The copies' times fit one clock (or two within 1 ms of each other)")


def test_a_path_duplicate_is_no_second_capture_point() -> None:
    """One packet in a connection of 12 seen twice (a path that duplicates it): counted as
    a copy, but no second capture point is claimed."""
    c = Conversation().handshake(0.0)
    for k in range(4):
        c.data(CLIENT, 0.01 + k * 0.01, 100, ip_id=500 + k).ack(SERVER, 0.015 + k * 0.01)
    c.data(CLIENT, 0.0500001, 100, seq=c.nxt(CLIENT) - 100, ip_id=503)
    q = measure(compute_facts(segments(c)))
    s = summary(q)
    assert (s["captured_twice"], s["two_point_connections"], s["clocks_apart_ms"]) == (1, 0, None)
    assert quality_warnings(q) == []


def _opening_probe(echo: int | None) -> Conversation:
    """A capture begun inside an idle connection: the client's keepalive probe (a bare ACK at
    snd.una - 1, TSval 2000), the server's answer acknowledging one byte more (TSecr ``echo``,
    None: no timestamps), then both FINs, the client's at the byte after the probe."""
    ts = echo is not None
    c = Conversation()
    c.probe(CLIENT, 0.0, timestamps=(2000, 6000) if ts else None)
    c.ack(SERVER, 0.001, timestamps=(7000, echo) if ts and echo is not None else None)
    c.fin(SERVER, 4.0, timestamps=(7400, 2000) if ts else None)
    c.fin(CLIENT, 4.001, timestamps=(2400, 7400) if ts else None)
    c.ack(SERVER, 4.002, timestamps=(7401, 2400) if ts else None)
    return c


def test_a_capture_that_begins_with_a_keepalive_probe_lost_nothing(tmp_path: Path) -> None:
    # The probe sits below the server's window: its answer is a duplicate ACK of rcv.nxt (the
    # probe's seq + 1) echoing the TSval of an earlier segment (tcp_send_dupack; ts_recent
    # takes only an in-window segment's). The client's FIN at that byte jumped over nothing.
    c = _opening_probe(echo=1000)
    facts = compute_facts(segments(c))
    assert facts.probe_shape.tolist() == [True, False, False, False, False]
    assert facts.is_keepalive.tolist() == [True, False, False, False, False]
    q = measure(facts)
    assert q.not_captured.tolist() == [0]
    assert not q.lossy_capture
    path = tmp_path / "opening-probe.pcap"
    path.write_bytes(pcap_bytes(c))
    report = pcapline.analyze(path).to_dict()
    assert report["capture"]["quality"]["segments_not_captured"] == 0
    assert report["capture"]["warnings"] == []
    assert [e["kind"] for e in report["connections"][0]["events"]][:3] == [
        "capture_start",
        "keepalive",
        "keepalive_ack",
    ]


@pytest.mark.parametrize("echo", [2000, 2300, None])
def test_an_opening_bare_ack_whose_answer_echoes_it_may_have_hidden_a_lost_byte(
    echo: int | None,
) -> None:
    # The same numbers fit an ordinary ACK at snd.nxt followed by one byte the capture point
    # lost: the ACK of that byte echoes the bare ACK's TSval or a later one; without
    # timestamps the two readings cannot be told apart. A gap, as before.
    q = measure(compute_facts(segments(_opening_probe(echo=echo))))
    assert q.not_captured.tolist() == [1]
    assert q.lossy_capture
