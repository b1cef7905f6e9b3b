"""Application context (src/pcapline/app): TLS hellos and HTTP heads from the first payloads.

The truth is the real-kernel, real-OpenSSL capture ``sample_captures/app-tls-http.pcap``
(tools/samplegen/scenarios/application.py; its expected ``app`` objects are checked by
tests/test_samples.py) and public corpus captures compared with tshark. Crafted bytes only
for the small pieces: record fragmentation, reassembly order, and malformed input.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from contract_pcapline1 import check_app, check_document
from needs import CORPUS, needs_corpus, needs_tshark

import pcapline
from pcapline.app import http, payloads, recognise, tls
from pcapline.decode import decode
from pcapline.errors import CaptureError
from pcapline.flows import build_flows
from pcapline.read import native, read_capture

SAMPLE = Path(__file__).resolve().parents[2] / "sample_captures" / "app-tls-http.pcap"
SPLIT_PORT = 43003


def _first_bytes(path: Path) -> tuple[pd.DataFrame, dict[tuple[int, bool], payloads.FirstBytes]]:
    capture = read_capture(str(path))
    segments, _ = build_flows(decode(capture).segments)
    return segments, payloads.first_payloads(segments, capture)


def _client_hello_bytes() -> bytes:
    _, first = _first_bytes(SAMPLE)
    return first[(0, True)].data  # connection 0: the TLS 1.3 ClientHello, one record


def test_the_split_client_hello_spans_several_segments_and_is_joined() -> None:
    segments, first = _first_bytes(SAMPLE)
    conn = int(segments.loc[segments["sport"] == SPLIT_PORT, "conn"].iloc[0])
    sent = segments[
        (segments["conn"] == conn) & segments["from_client"] & (segments["seg_len"] > 0)
    ]
    record = first[(conn, True)].data
    hello_length = 5 + int.from_bytes(record[3:5], "big")
    # the premise: the 200 B MSS cut the ClientHello record into several segments
    assert int(sent["seg_len"].iloc[0]) < hello_length <= int(sent["seg_len"].iloc[:3].sum())
    hello = tls.client_hello(record)
    assert hello is not None and hello.sni == "split.example.test"
    assert first[(conn, True)].frame == int(sent["frame"].iloc[0])


def test_a_client_hello_fragmented_over_two_records_is_joined() -> None:
    record = _client_hello_bytes()
    body = record[5:]
    cut = len(body) // 3
    header = record[:3]
    two = (
        header
        + cut.to_bytes(2, "big")
        + body[:cut]
        + header
        + (len(body) - cut).to_bytes(2, "big")
        + body[cut:]
    )
    one, both = tls.client_hello(record), tls.client_hello(two)
    assert one is not None and both == one
    assert tls.client_hello(two[: len(two) - 1]) is None  # the second record incomplete


def _parts(
    chunks: list[tuple[int, bytes]],
) -> tuple[list[tuple[int, int, int, int, int]], payloads.ByteReader]:
    """(frame, seq, length, at, captured) rows over one buffer holding each chunk's bytes,
    and a reader of that buffer."""
    buffer = b"".join(data for _, data in chunks)
    rows, at = [], 0
    for frame, (seq, data) in enumerate(chunks, start=1):
        rows.append((frame, seq, len(data), at, len(data)))
        at += len(data)
    return rows, lambda start, length: buffer[start : start + length]


def test_reassembly_orders_by_sequence_skips_duplicates_and_stops_at_a_hole() -> None:
    base = 2**32 - 3  # the sequence numbers wrap inside the stream
    rows, data = _parts(
        [(base, b"abc"), ((base + 6) % 2**32, b"ghi"), ((base + 3) % 2**32, b"def")]
    )
    assert payloads._contiguous(rows, data).data == b"abcdefghi"
    rows, data = _parts([(100, b"abcd"), (100, b"abcd"), (102, b"cdef")])  # retransmissions
    assert payloads._contiguous(rows, data).data == b"abcdef"
    rows, data = _parts([(100, b"abc"), (110, b"xyz")])  # a segment not captured between
    assert payloads._contiguous(rows, data).data == b"abc"
    rows, data = _parts([(100, b"abc"), (90, b"old")])  # before the first: ignored
    assert payloads._contiguous(rows, data).data == b"abc"


def test_http_heads_and_absurd_length_fields() -> None:
    request = http.request(
        b"POST /up HTTP/1.1\r\nHost: a.example\r\nContent-Length: 18446744073709551616\r\n\r\nxx"
    )
    assert request == http.Request("POST", "/up", "a.example", "HTTP/1.1")
    assert http.request(b"GET / HTTP/1.1\r\nHost: one\r\nHost: two\r\n\r\n").host == "one"
    assert http.request(b"\x16\x03\x01\x02\x00") is None
    assert http.response(b"HTTP/1.1 503 Service Unavailable\r\n\r\n") == http.Response(
        503, "Service Unavailable", "HTTP/1.1"
    )
    assert http.response(b"HTTP/1.1 abc\r\n\r\n") is None


def test_capture_strings_are_escaped_when_parsed() -> None:
    request = http.request(b"GET /a\x1b]0;x\x07b HTTP/1.1\r\nHost: ev\xe2\x80\xaeil\r\n\r\n")
    assert request is not None
    assert "\x1b" not in request.path and "\\x1b" in request.path
    assert request.host == "evil"  # dpkt reads header fields as ASCII: the override is dropped


def test_mutated_hellos_and_heads_never_raise() -> None:
    """A small fuzz: bit flips, truncations and corrupted lengths of real messages."""
    seeds = [
        _client_hello_bytes(),
        b"GET /index.html HTTP/1.1\r\nHost: www.example.test\r\nContent-Length: 5\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    ]
    rng = random.Random(12)
    parsers = (tls.client_hello, tls.server_hello, http.request, http.response)
    for _ in range(3000):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            how = rng.randrange(3)
            if how == 0 and data:
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            elif how == 1:
                del data[rng.randrange(len(data) + 1) :]
            elif len(data) > 8:
                at = rng.randrange(len(data) - 2)
                data[at : at + 2] = rng.randrange(65536).to_bytes(2, "big")
        for parse in parsers:
            parse(bytes(data))  # any result, never an exception


def test_recognise_on_the_sample_and_nothing_on_plain_tcp() -> None:
    capture = read_capture(str(SAMPLE))
    segments, _ = build_flows(decode(capture).segments)
    found = recognise(segments, capture)
    assert {c: a.protocol for c, a in found.items()} == {
        0: "tls",
        1: "tls",
        2: "tls",
        3: "http",
        4: "http",
    }
    plain = Path(SAMPLE).with_name("closed-client-first.pcap")  # 'pcapline-sample ' payloads
    assert pcapline.analyze(str(plain)).connections["app"].tolist() == [None]


def test_filters_select_by_protocol_and_server_name() -> None:
    analysis = pcapline.analyze(str(SAMPLE))
    assert analysis.select(app="http").connections["id"].tolist() == [3, 4]
    assert analysis.select(app="tls").connections["id"].tolist() == [0, 1, 2]
    assert analysis.select(sni="*.EXAMPLE.test").connections["id"].tolist() == [0, 1, 2]
    assert analysis.select(sni="api.*").connections["id"].tolist() == [1]
    assert analysis.select(app="http", sni="*").connections.empty


def test_cli_filters_and_formats(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from pcapline.cli import cli

    runner = CliRunner()
    out = runner.invoke(cli, ["analyze", str(SAMPLE), "--format", "json", "--sni", "www.*"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    check_document(doc)
    assert [c["app"]["tls"]["sni"] for c in doc["connections"]] == ["www.example.test"]
    whole = runner.invoke(cli, ["analyze", str(SAMPLE), "--format", "json"]).output
    check_document(json.loads(whole))  # both protocols, every app key against the contract
    text = runner.invoke(cli, ["analyze", str(SAMPLE), "--app", "http"]).output
    assert "http GET /missing 404" in text and "showing 2 of 5 connections" in text
    csv = runner.invoke(cli, ["analyze", str(SAMPLE), "--format", "csv", "--app", "tls"]).output
    table = pd.read_csv(pd.io.common.StringIO(csv))
    assert table["app_tls_sni"].tolist() == [
        "www.example.test",
        "api.example.test",
        "split.example.test",
    ]
    assert table["app_tls_alpn"].tolist()[0] == "h2;http/1.1"
    bad = runner.invoke(cli, ["analyze", str(SAMPLE), "--app", "smtp"])
    assert bad.exit_code == 2


def test_html_escapes_what_the_capture_named() -> None:
    analysis = pcapline.analyze(str(SAMPLE))
    hostile = "<script>alert(1)</script>"
    doc = dict(analysis.connections.at[3, "app"])
    doc["http"] = {**doc["http"], "path": hostile}
    analysis.connections.at[3, "app"] = doc
    page = analysis.to_html()
    assert hostile not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page or "\\u003cscript" in page


#: Corpus captures whose TLS ClientHello or HTTP request starts a connection, and what tshark
#: says (tls.handshake.extensions_server_name / http.host): every one of them must agree.
CORPUS_FILES = [
    "arkime/tls-split-client-hello.pcap",
    "arkime/tls13.pcap",
    "arkime/tls-alpn-h2.pcap",
    "arkime/openssl-tls1_2.pcap",
    "pcapplusplus/examples/tls2.pcap",
    "dpkt/http.pcap",
    "arkime/http-simple-get.pcap",
    "pcapplusplus/examples/http-packets.pcap",
    "zeek/http/261/variant-02-cl_uint64max.pcap",
]


def _tshark_names(path: Path) -> dict[int, tuple[str, str]]:
    """{tcp.stream: (server name, host)} of each stream's first ClientHello or request."""
    out = subprocess.run(
        [
            "tshark",
            "-r",
            str(path),
            "-Y",
            "tls.handshake.type == 1 || http.request",
            "-T",
            "fields",
            "-e",
            "tcp.stream",
            "-e",
            "tls.handshake.extensions_server_name",
            "-e",
            "http.host",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    names: dict[int, tuple[str, str]] = {}
    for line in out.splitlines():
        stream, sni, host = [*line.split("\t"), "", ""][:3]
        if stream:
            names.setdefault(int(stream), (sni, host.split(",")[0]))
    return names


@needs_corpus
@needs_tshark
@pytest.mark.parametrize("name", CORPUS_FILES)
def test_server_names_and_hosts_agree_with_tshark(name: str) -> None:
    path = CORPUS / name
    theirs = _tshark_names(path)
    assert theirs, "the premise: tshark sees a ClientHello or a request"
    ours = dict(
        zip(
            *(pcapline.analyze(str(path)).connections[c].tolist() for c in ("id", "app")),
            strict=True,
        )
    )
    for stream, (sni, host) in theirs.items():
        app = ours.get(stream)
        assert app is not None, f"stream {stream}: tshark sees {sni or host!r}, we nothing"
        if app["protocol"] == "tls":
            assert (app["tls"]["sni"] or "") == sni, stream  # "" both: no server_name sent
        else:
            assert app["http"]["host"] == host, stream


def test_mutated_captures_of_real_tls_and_http_never_crash(tmp_path: Path) -> None:
    """Bit flips and cut lengths anywhere in the real sample, through the whole pipeline:
    an ``app`` object of the contract's shape or null, never an exception."""
    original = SAMPLE.read_bytes()
    rng = random.Random(7)
    recognised = 0
    for i in range(40):
        data = bytearray(original)
        for _ in range(rng.randint(1, 40)):
            at = rng.randrange(24, len(data))  # past the file header
            data[at] ^= 1 << rng.randrange(8)
        if i % 4 == 0:
            del data[rng.randrange(24, len(data)) :]
        path = tmp_path / f"m{i}.pcap"
        path.write_bytes(bytes(data))
        try:
            analysis = pcapline.analyze(str(path))
        except pcapline.PcaplineError:
            continue  # unusable input is a one-line error, also fine
        doc = json.loads(analysis.to_json())
        recognised += sum(conn["app"] is not None for conn in doc["connections"])
        for k, conn in enumerate(doc["connections"]):  # the whole document is another helper's
            check_app(conn, f"$.connections[{k}]")  # fuzz (issue 12): the app key is checked here
    assert recognised > 50  # the premise: most mutants still carry hellos and requests


def test_first_bytes_gathered_in_memory_equal_the_ones_read_per_frame() -> None:
    """The in-memory gather of each payload's first bytes (``FrameBytes.buffer``) against
    the per-frame reads a capture on disk goes through, on every sample capture."""
    import dataclasses

    import numpy as np

    from pcapline.errors import CaptureError

    plausible_total = files = 0
    for path in sorted(SAMPLE.parent.glob("*.pcap*")):
        try:
            capture = read_capture(str(path))
        except CaptureError:
            continue
        segments, _ = build_flows(decode(capture).segments)
        if segments.empty:
            continue
        frames = payloads.FrameBytes.of_capture(segments, capture)
        at = frames.frame_at + segments["payload_at"].to_numpy(np.int64)
        captured = np.minimum(
            segments["seg_len"].to_numpy(np.int64),
            np.maximum(frames.frame_at + frames.caplen - at, 0),
        )
        on_disk = dataclasses.replace(frames, buffer=None)
        gathered = payloads._heads(frames, at, captured, 3)
        assert np.array_equal(gathered, payloads._heads(on_disk, at, captured, 3)), path.name
        if len(capture.data) == path.stat().st_size:  # not compressed: offsets are the file's
            with open(path, "rb") as source:  # the compiled core's reads (the bounded path's)
                by_file = dataclasses.replace(on_disk, file=source.fileno())
                assert np.array_equal(gathered, payloads._heads(by_file, at, captured, 3))
                files += 1
        plausible_total += int(payloads._plausible_start(frames, at, captured).sum())
    assert plausible_total > 0  # the samples hold TLS and HTTP payloads
    assert files > 20 or not native.active


@pytest.mark.skipif(not native.active, reason="the compiled core is not built")
def test_heads_read_by_the_core_stop_at_a_short_payload_and_the_files_end(
    tmp_path: Path,
) -> None:
    """``_heads`` through the core against the per-payload reads it replaces: a payload
    shorter than the width, an empty one; one cut by the file's end and one past it are
    reads the core counts (every payload lay inside the capture when it was read: the file
    shrank since), and ``_heads`` says so."""
    import numpy as np

    path = tmp_path / "source.bin"
    path.write_bytes(b"GET /x HTTP/1.1")
    at = np.array([0, 13, 4, 14, 40], np.int64)
    captured = np.array([15, 5, 0, 1, 3], np.int64)
    with open(path, "rb") as source:
        size = path.stat().st_size

        def read(start: int, length: int) -> bytes:  # SourceFile.read_at
            return os.pread(source.fileno(), max(0, min(length, size - start)), start)

        frames = payloads.FrameBytes(np.zeros(5, np.int64), np.zeros(5, np.int64), read)
        expected = payloads._heads(frames, at, captured, 4)
        assert expected.tolist() == [
            list(b"GET "),
            [ord("."), ord("1"), 0, 0],
            [0] * 4,
            [ord("1"), 0, 0, 0],
            [0] * 4,
        ]
        by_file = payloads.FrameBytes(
            frames.frame_at, frames.caplen, read, file=source.fileno(), path=str(path)
        )
        inside = [0, 2, 3]  # the others reach past the file's end (at 15 bytes)
        assert np.array_equal(
            payloads._heads(by_file, at[inside], captured[inside], 4), expected[inside]
        )
        got = np.zeros((5, 4), np.uint8)
        cut = native.core.read_heads(source.fileno(), at.data, captured.data, 4, got.data)
        assert cut == 2 and np.array_equal(got.astype(np.int64), expected)
        with pytest.raises(CaptureError, match=r"source\.bin: the file shrank while being read"):
            payloads._heads(by_file, at, captured, 4)
        with pytest.raises(ValueError, match="out"):
            native.core.read_heads(source.fileno(), at.data, captured.data, 4, bytearray(19))
    with pytest.raises(OSError, match="Bad file descriptor"):
        native.core.read_heads(-1, at.data, captured.data, 4, bytearray(20))


def test_rank_in_group_counts_each_keys_earlier_rows() -> None:
    """payloads._rank_in_group is pandas' groupby(keys).cumcount()."""
    import numpy as np
    import pandas as pd

    from pcapline.app.payloads import _rank_in_group

    keys = np.array([7, 3, 7, 7, 2, 3, 9], np.int64)
    assert _rank_in_group(keys).tolist() == [0, 0, 1, 2, 0, 1, 0]
    assert _rank_in_group(np.zeros(0, np.int64)).tolist() == []
    many = np.random.default_rng(1).integers(0, 40, 5000)
    want = pd.Series(many).groupby(many, sort=False).cumcount().to_numpy()
    assert np.array_equal(_rank_in_group(many), want)


@pytest.mark.parametrize(
    ("sample", "parsed"), [("closed-client-first.pcap", False), ("app-tls-http.pcap", True)]
)
def test_dpkt_is_imported_only_by_bytes_that_look_like_tls_or_http(
    sample: str, parsed: bool
) -> None:
    """dpkt's package imports every protocol it knows (40-100 ms of a sample capture's
    start-up): a capture without a TLS record or HTTP head never imports it, one with them
    does, and their hellos and heads are still read."""
    script = (
        "import sys, pcapline.analysis as a;"
        f"r = a.analyze({str(SAMPLE.parent / sample)!r});"
        "print('dpkt' in sys.modules, sum(x is not None for x in r.connections['app']))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True, timeout=120
    ).stdout.split()
    assert out[0] == str(parsed)
    assert (int(out[1]) > 0) == parsed
