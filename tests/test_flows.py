"""Connections and their ids: Wireshark 4.0.17's tcp.stream rules, client side, volumes.

The expected stream ids in the port-reuse tests are what tshark 4.0.17 printed for the
same frames (``tshark -T fields -e frame.number -e tcp.stream``); the corpus test checks
the same rules against tshark on 800+ real captures.
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from builders.capture_files import pcap
from builders.frames import ACK, FIN, PSH, RST, SYN, ethernet, ipv4, ipv6, tcp
from needs import needs_tshark

import pcapline
from pcapline.decode import decode
from pcapline.flows import CONNECTION_ID_COLUMNS, _numbered_connections, build_flows, first_rows
from pcapline.model import FLOW_COLUMNS
from pcapline.read import read_capture


def c(sport: int = 40000, **kw) -> bytes:
    """Client 10.0.0.1:sport -> server 10.0.0.2:80."""
    payload = kw.pop("payload", b"")
    return ethernet(
        ipv4(tcp(sport=sport, dport=80, payload=payload, **kw), src="10.0.0.1", dst="10.0.0.2")
    )


def s(dport: int = 40000, **kw) -> bytes:
    payload = kw.pop("payload", b"")
    return ethernet(
        ipv4(tcp(sport=80, dport=dport, payload=payload, **kw), src="10.0.0.2", dst="10.0.0.1")
    )


def flows(frames: list[bytes]) -> tuple[pd.DataFrame, pd.DataFrame]:
    return build_flows(decode(read_capture(io.BytesIO(pcap(frames)))).segments)


#: The client's SYN (ISN 100) and the server's SYN+ACK (ISN 500).
SYN_SYNACK = [c(seq=100, flags=SYN), s(seq=500, ack=101, flags=SYN | ACK)]
HANDSHAKE = [*SYN_SYNACK, c(seq=101, ack=501, flags=ACK)]


# Each case: frames and tshark 4.0.17's tcp.stream for them.
PORT_REUSE_CASES = {
    "new ISN after FIN starts a stream": (
        [
            *HANDSHAKE,
            c(seq=101, ack=501, flags=FIN | ACK),
            s(seq=501, ack=102, flags=FIN | ACK),
            c(seq=102, ack=502, flags=ACK),
            c(seq=9000, flags=SYN),
            s(seq=7000, ack=9001, flags=SYN | ACK),
        ],
        [0, 0, 0, 0, 0, 0, 1, 1],
    ),
    "same ISN after RST stays (4.0 has no RST rule)": (
        [c(seq=100, flags=SYN), s(seq=0, ack=101, flags=RST | ACK), c(seq=100, flags=SYN)],
        [0, 0, 0],
    ),
    "SYN+ACK first sets the client's base from its ack": (
        [
            s(seq=500, ack=101, flags=SYN | ACK),
            c(seq=101, ack=501, flags=ACK),
            c(seq=100, flags=SYN),
            c(seq=300, flags=SYN),
        ],
        [0, 0, 0, 1],
    ),
    "SYN+ACK with a new seq does not split": (
        [*SYN_SYNACK, s(seq=900, ack=101, flags=SYN | ACK)],
        [0, 0, 0],
    ),
    "a SYN+ACK with a new seq resets its side's base": (
        [
            s(seq=500, flags=SYN),
            s(seq=900, ack=101, flags=SYN | ACK),
            s(seq=500, flags=SYN),
            s(seq=900, flags=SYN),
        ],
        [0, 0, 1, 2],
    ),
    "SYN+ACK reset also after a base from data": (
        [
            c(seq=100, ack=5, flags=ACK),
            c(seq=300, ack=7, flags=SYN | ACK),
            c(seq=99, flags=SYN),
            c(seq=300, flags=SYN),
        ],
        [0, 0, 1, 2],
    ),
    "SYN+ACK reset keeps the other side's base": (
        [
            *SYN_SYNACK,
            s(seq=900, ack=301, flags=SYN | ACK),
            c(seq=100, flags=SYN),
            c(seq=300, flags=SYN),
        ],
        [0, 0, 0, 0, 1],
    ),
    "first data segment sets base seq - 1": (
        [c(seq=100, ack=5, flags=ACK), c(seq=99, flags=SYN), c(seq=50, flags=SYN)],
        [0, 0, 1],
    ),
    "an ACK sets the other side's base": (
        [c(seq=100, ack=501, flags=ACK), s(seq=500, flags=SYN), s(seq=600, flags=SYN)],
        [0, 0, 1],
    ),
    "SYN retransmissions stay, a new ISN splits": (
        [
            c(seq=100, flags=SYN),
            c(seq=100, flags=SYN),
            c(seq=100, flags=SYN),
            c(seq=200, flags=SYN),
            c(seq=200, flags=SYN),
        ],
        [0, 0, 0, 1, 1],
    ),
}


@pytest.mark.parametrize("case", sorted(PORT_REUSE_CASES))
def test_port_reuse_like_tshark_4_0(case: str) -> None:
    frames, expected = PORT_REUSE_CASES[case]
    seg, conns = flows(frames)
    assert seg["conn"].tolist() == expected
    assert conns["id"].tolist() == sorted(set(expected))


def test_ids_follow_first_appearance_and_interleave() -> None:
    frames = [
        c(40001, seq=1, flags=SYN),
        c(40002, seq=1, flags=SYN),
        s(40001, seq=9, ack=2, flags=SYN | ACK),
    ]
    frames += [c(40001, seq=2, ack=10, flags=ACK), s(40002, seq=7, ack=2, flags=SYN | ACK)]
    seg, conns = flows(frames)
    assert seg["conn"].tolist() == [0, 1, 0, 0, 1]
    assert conns["first_frame"].tolist() == [1, 2] and conns["last_frame"].tolist() == [4, 5]
    assert conns["packets"].tolist() == [3, 2]


def test_columns_and_types() -> None:
    seg, conns = flows(HANDSHAKE)
    assert {name: str(seg[name].dtype) for name in FLOW_COLUMNS} == FLOW_COLUMNS
    assert tuple(conns.columns) == CONNECTION_ID_COLUMNS
    row = conns.iloc[0]
    assert (row["client_ip"], row["client_port"], row["server_ip"], row["server_port"]) == (
        "10.0.0.1",
        40000,
        "10.0.0.2",
        80,
    )
    assert not row["client_guessed"]
    assert seg["from_client"].tolist() == [True, False, True]


def test_bytes_per_side_count_payload_from_ip_lengths() -> None:
    frames = [
        *HANDSHAKE,
        c(seq=101, ack=501, flags=PSH | ACK, payload=b"a" * 300),
        s(seq=501, ack=401, flags=ACK, payload=b"b" * 1200),
    ]
    _, conns = flows(frames)
    assert (conns["bytes_client"].iloc[0], conns["bytes_server"].iloc[0]) == (300, 1200)
    assert conns["start_ns"].iloc[0] < conns["end_ns"].iloc[0]


def test_client_from_synack_when_syn_missing() -> None:
    seg, conns = flows([s(seq=500, ack=101, flags=SYN | ACK), c(seq=101, ack=501, flags=ACK)])
    assert conns["client_ip"].iloc[0] == "10.0.0.1" and not conns["client_guessed"].iloc[0]
    assert seg["from_client"].tolist() == [False, True]


@pytest.mark.parametrize(("server_port", "client_port"), [(80, 40000), (50051, 43884)])
def test_a_refusal_rst_alone_names_its_receiver_the_client(
    server_port: int, client_port: int
) -> None:
    """A RST with ACK and sequence number 0 resets a segment without ACK: a SYN, from the side
    it goes to. Only it captured (a RST-only filter, one direction), the server is its sender
    even on a port above the client's (gRPC's 50051 against ephemeral ports)."""
    rst = ethernet(
        ipv4(
            tcp(sport=server_port, dport=client_port, seq=0, ack=1001, flags=RST | ACK),
            src="10.0.0.2",
            dst="10.0.0.1",
        )
    )
    seg, conns = flows([rst])
    row = conns.iloc[0]
    assert (row["server_port"], row["client_port"]) == (server_port, client_port)
    assert not row["client_guessed"] and seg["from_client"].tolist() == [False]


def test_client_guessed_from_ephemeral_port_mid_stream() -> None:
    # Capture starts mid-connection with the server speaking first: the higher port is the client.
    seg, conns = flows(
        [s(seq=501, ack=101, flags=ACK, payload=b"x"), c(seq=101, ack=502, flags=ACK)]
    )
    row = conns.iloc[0]
    assert row["client_guessed"] and row["client_port"] == 40000 and row["server_port"] == 80
    assert seg["from_client"].tolist() == [False, True]


def test_ipv6_text_is_compressed() -> None:
    frame = ethernet(
        ipv6(tcp(flags=SYN), src="2001:db8:0:0:0:0:0:1", dst="fe80::2"), ethertype=0x86DD
    )
    _, conns = flows([frame])
    assert (conns["client_ip"].iloc[0], conns["server_ip"].iloc[0]) == ("2001:db8::1", "fe80::2")


def test_same_ports_different_addresses_are_different_connections() -> None:
    other = ethernet(ipv4(tcp(sport=40000, dport=80, flags=SYN), src="10.0.0.3", dst="10.0.0.2"))
    seg, _ = flows([c(seq=1, flags=SYN), other])
    assert seg["conn"].tolist() == [0, 1]


def test_empty_segments() -> None:
    seg, conns = flows([ethernet(b"\x00" * 28, ethertype=0x0806)])
    assert seg.empty and conns.empty
    assert tuple(conns.columns) == CONNECTION_ID_COLUMNS
    assert "conn" in seg.columns and "from_client" in seg.columns


# --- the vectorised split against a plain per-packet model of Wireshark 4.0 -------------


def wireshark_streams(rows: list[tuple[int, int, int, int, int]]) -> list[int]:
    """Reference: packet-tcp.c 4.0 ``dissect_tcp`` + ``tcp_analyze_sequence_number``
    base-seq rules, one packet at a time. rows: (tuple id, direction 0/1, flags, seq, ack)."""
    current: dict[int, int] = {}  # tuple -> stream id
    base: dict[int, list[int | None]] = {}  # stream -> base seq per direction
    out = []
    for key, direction, flags, seq, ack in rows:
        if key not in current:
            current[key] = len(base)
            base[current[key]] = [None, None]
        stream = current[key]
        fwd = base[stream][direction]
        if flags & (SYN | ACK) == SYN and fwd is not None and seq != fwd:
            stream = current[key] = len(base)
            base[stream] = [None, None]
        b = base[stream]
        if flags & (SYN | ACK) == SYN | ACK and fwd is not None and seq != fwd:
            b[direction] = seq  # "port numbers reused" on a SYN+ACK: same stream, new base
        if b[direction] is None:
            b[direction] = seq if flags & SYN else (seq - 1) % 2**32
        if b[1 - direction] is None and flags & ACK:
            b[1 - direction] = (ack - 1) % 2**32
        out.append(stream)
    return out


def tshark_streams(path: Path, frames: list[bytes]) -> list[int]:
    """tshark's ``tcp.stream`` of each frame, written to ``path`` as a pcap first."""
    path.write_bytes(pcap(frames))
    out = subprocess.run(
        ["tshark", "-n", "-r", str(path), "-T", "fields", "-e", "tcp.stream"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [int(x) for x in out]


def _random_rows(rng, n: int, tuples: int = 3) -> list[tuple[int, int, int, int, int]]:
    isns = [100, 200, 300, 2**32 - 1, 0]
    flag_choices = [SYN, SYN, SYN | ACK, ACK, ACK | PSH, FIN | ACK, RST, RST | ACK]
    return [
        (
            rng.randrange(tuples),
            rng.randrange(2),
            rng.choice(flag_choices),
            (rng.choice(isns) + rng.randrange(2)) % 2**32,
            (rng.choice(isns) + rng.randrange(2)) % 2**32,
        )
        for _ in range(n)
    ]


def _frames(rows) -> list[bytes]:
    frames = []
    for key, direction, flags, seq, ack in rows:
        port = 40000 + key
        frames.append(
            c(port, seq=seq, ack=ack, flags=flags)
            if direction == 0
            else s(port, seq=seq, ack=ack, flags=flags)
        )
    return frames


def test_split_equals_the_per_packet_model_on_random_traffic() -> None:
    import random

    rng = random.Random(7)
    for _ in range(150):
        rows = _random_rows(rng, rng.randrange(1, 40))
        seg, conns = flows(_frames(rows))
        assert seg["conn"].tolist() == wireshark_streams(rows)
        assert conns["packets"].sum() == len(rows)


def test_split_equals_the_per_packet_model_with_many_tuples_interleaved() -> None:
    """The cut walk runs over all tuples at once: a tuple's conversation start must never
    leak into the next tuple's."""
    import random

    rng = random.Random(13)
    for _ in range(30):
        rows = _random_rows(rng, rng.randrange(50, 300), tuples=25)
        seg, _ = flows(_frames(rows))
        assert seg["conn"].tolist() == wireshark_streams(rows)


@needs_tshark
def test_random_port_reuse_matches_tshark(tmp_path) -> None:
    import random

    rows = _random_rows(random.Random(11), 600)
    streams = tshark_streams(tmp_path / "reuse.pcap", _frames(rows))
    seg, _ = flows(_frames(rows))
    assert len(set(streams)) > 20  # the sample really exercises port reuse
    assert seg["conn"].tolist() == streams


@needs_tshark
@pytest.mark.parametrize("case", sorted(PORT_REUSE_CASES))
def test_port_reuse_expectations_are_tsharks(tmp_path, case: str) -> None:
    frames, expected = PORT_REUSE_CASES[case]
    assert tshark_streams(tmp_path / "case.pcap", frames) == expected


def test_span_holds_when_the_capture_clock_steps_back() -> None:
    # tcpdump's kday*.pcap tests have timestamps that go backwards; a connection's start
    # must still be its earliest frame time and its end the latest, never end < start.
    frames = [*HANDSHAKE, c(seq=101, ack=501, flags=ACK | PSH, payload=b"x")]
    capture = read_capture(io.BytesIO(pcap(frames, step_ns=-1_000_000)))
    _, conns = build_flows(decode(capture).segments)
    times = capture.time_ns
    assert conns.loc[0, "start_ns"] == times.min()
    assert conns.loc[0, "end_ns"] == times.max()
    assert conns.loc[0, "end_ns"] - conns.loc[0, "start_ns"] == 3_000_000


# --- rule 3: the application's first message names the client of a guessed connection ---


def _between_high_ports(
    request_from_low_port: bool, syn_from_low_port: bool | None = None
) -> bytes:
    """Mid-stream (or, with ``syn_from_low_port`` set, from a SYN) HTTP between
    10.0.0.1:8870 and 10.0.0.2:31600; the request comes from port 8870 when
    ``request_from_low_port``."""

    def seg(src_low: bool, **kw) -> bytes:  # type: ignore[no-untyped-def]
        payload = kw.pop("payload", b"")
        ends = (("10.0.0.1", 8870), ("10.0.0.2", 31600))
        (src, sport), (dst, dport) = ends if src_low else ends[::-1]
        return ethernet(
            ipv4(tcp(sport=sport, dport=dport, payload=payload, **kw), src=src, dst=dst)
        )

    asker = request_from_low_port
    frames = []
    if syn_from_low_port is not None:
        opener = syn_from_low_port
        frames += [
            seg(opener, seq=99, flags=SYN),
            seg(not opener, seq=499, ack=100, flags=SYN | ACK),
        ]
    request = b"GET /x HTTP/1.1\r\nHost: a.example\r\n\r\n"
    frames += [
        seg(asker, seq=100, ack=500, flags=ACK | PSH, payload=request),
        seg(
            not asker,
            seq=500,
            ack=100 + len(request),
            flags=ACK | PSH,
            payload=b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        ),
    ]
    return pcap(frames)


def test_a_request_names_the_client_the_ports_would_have_got_wrong() -> None:
    # Audit 5 (http-packets.pcap): a GET from 8870 to 31600, no handshake captured: the
    # higher port is the server here; the request line says so, before the port rule.
    a = pcapline.analyze(io.BytesIO(_between_high_ports(request_from_low_port=True)))
    row = a.connections.iloc[0]
    assert (row.client_ip, row.client_port, row.server_port) == ("10.0.0.1", 8870, 31600)
    assert bool(row.client_guessed) and row.id == 0
    assert row.bytes_client == 36 and a.segments.from_client.tolist() == [True, False]


def test_without_a_request_the_port_rule_stands_and_a_handshake_is_never_overruled() -> None:
    a = pcapline.analyze(io.BytesIO(_between_high_ports(request_from_low_port=False)))
    assert a.connections.iloc[0].client_port == 31600  # the request agrees with the ports
    # A SYN names the client for certain, whatever its payloads look like: here the SYN's
    # sender (8870) receives the request, and stays the client.
    frames = _between_high_ports(request_from_low_port=False, syn_from_low_port=True)
    row = pcapline.analyze(io.BytesIO(frames)).connections.iloc[0]
    assert row.client_port == 8870 and not bool(row.client_guessed)


@pytest.mark.parametrize("compiled", [False, True], ids=["numpy", "core"])
def test_first_seen_ids_number_rows_as_grouping_all_columns(
    compiled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``first_seen_ids`` (what ``tuple_keys`` numbers 4-tuples with) gives pandas'
    ``groupby(sort=False).ngroup()`` both ways: the compiled core's hash table and numpy's
    factorizing, over values that collide in every column and use all 64 bits."""
    from pcapline.flows import first_seen_ids
    from pcapline.read import native

    if compiled and native.core is None:
        pytest.skip("pcapline.read._native is not built")
    monkeypatch.setattr(native, "active", compiled)
    rng = np.random.default_rng(7)
    n = 50_000
    # Few values a column, so rows repeat and each column alone collides; uint64 values
    # above 2**63 (IPv6 halves) are numbered by their bits, as pandas numbers them.
    halves = np.array([0, 1, 0x0A000001, 2**63, 2**64 - 1], np.uint64)
    columns = [rng.choice(halves, n), rng.choice(halves, n)] + [
        rng.integers(-3, 3, n, dtype=np.int64) for _ in range(3)
    ]
    grouped = pd.DataFrame(dict(enumerate(columns))).groupby(list(range(5)), sort=False)
    expected = grouped.ngroup().to_numpy(np.int64)
    got = first_seen_ids(columns)
    assert got.dtype == np.int64
    assert expected.max() > 3000  # the table grew several times (1,024 slots at first)
    assert np.array_equal(got, expected)
    assert np.array_equal(first_seen_ids([columns[2]]), pd.factorize(columns[2])[0])
    assert first_seen_ids([np.zeros(0, np.int64)] * 2).size == 0


def test_first_seen_ids_core_refuses_columns_of_another_length() -> None:
    from pcapline.read import native

    if native.core is None:
        pytest.skip("pcapline.read._native is not built")
    out = np.zeros(4, np.int64)
    with pytest.raises(ValueError, match="column"):
        native.core.first_seen_ids((np.zeros(3, np.int64),), out.data)
    with pytest.raises(ValueError, match="1 to 16 columns"):
        native.core.first_seen_ids((), out.data)
    assert native.core.first_seen_ids((np.arange(4, dtype=np.int64) % 2,), out.data) == 2
    assert out.tolist() == [0, 1, 0, 1]


def test_numbered_connections_equal_factorizing_tuple_and_nth() -> None:
    """Connections cut out of interleaved tuples are numbered in order of first appearance,
    as factorizing (tuple, nth connection of the tuple) numbers them."""
    rng = np.random.default_rng(11)
    for n_rows, n_tuples, n_cuts in ((1, 1, 0), (40, 3, 5), (2000, 150, 300)):
        key = pd.factorize(rng.integers(0, n_tuples, n_rows))[0].astype(np.int64)
        tuple_starts = first_rows(key)
        later = np.setdiff1d(np.arange(n_rows), tuple_starts)
        cut_rows = np.sort(rng.choice(later, min(n_cuts, len(later)), replace=False))
        cut = np.zeros(n_rows, np.int64)
        cut[cut_rows] = 1
        # nth connection of its tuple: the tuple's cuts at or before the row
        segment_no = np.array([cut[: i + 1][key[: i + 1] == key[i]].sum() for i in range(n_rows)])
        want = pd.factorize(key * (n_rows + 1) + segment_no)[0]
        got = _numbered_connections(key, segment_no, tuple_starts, cut_rows)
        assert got.tolist() == want.tolist()
