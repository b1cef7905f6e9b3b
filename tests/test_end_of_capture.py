"""What the end of a capture proves: no more than the file shows up to its end.

Each case is a real-kernel sample (or corpus capture) cut, filtered or labelled the way a
capture went wrong in an audit, and the verdict the capture can still back:

- the file's interface statistics report dropped packets: an absent FIN or RST is not proven
  (``capture_dropped``), as when the capture point demonstrably lost segments;
- the file ends inside a packet record (copied while still being written): the capture went
  on past the cut (``file_truncated``);
- one FIN, and the capture ended before the peer's answer to it was due: its application may
  still close (``capture_ended_after_fin``, and no CLOSE_WAIT advice);
- the capture began inside the connection and a side sent no data in it: its FIN may have
  gone out before the capture (``handshake_not_captured``);
- one SYN, and the capture ended before its answer or first retry (TCP_TIMEOUT_INIT, 1 s) was
  due: nothing is proven of it (``capture_ended``);
- one SYN+ACK, no SYN, never retried: no handshake timeout (the server was never seen
  retrying or giving up);
- a RST seconds after the last segment a flag filter kept: the timer whose probes the filter
  dropped may have sent it (``flag_filtered``, likely); so may a RST after its sender's data
  sat unacknowledged and unresent for three RTOs (the peer's ACK was not captured:
  ``capture_lossy``, likely).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
from builders.conversation import CLIENT, SERVER, Conversation, pcap_bytes
from builders.frames import ethernet
from needs import CORPUS, needs_corpus

import pcapline
from pcapline import bounded
from pcapline.model import FAILURE_FATES, FIN, RST, SYN
from pcapline.read import read_capture
from tests.builders.capture_files import epb, isb, rewrite

SAMPLES = Path(__file__).resolve().parent.parent / "sample_captures"
SECOND_NS = 1_000_000_000


def _verdict(analysis: pcapline.Analysis, conn: int = 0) -> tuple[str, str, list[str]]:
    rows = analysis.connections.set_index("id")
    return rows.fate[conn], rows.confidence[conn], list(rows.caveats[conn])


def _all_frames(path: Path) -> np.ndarray:
    return np.ones(read_capture(str(path)).frames, dtype=bool)


def _frames_until(path: Path, last_frame: int) -> np.ndarray:
    return np.arange(1, read_capture(str(path)).frames + 1) <= last_frame


def _with_later_frame(path: Path, keep: np.ndarray, out: Path, after_ns: int) -> None:
    """``rewrite`` of the kept frames, then the capture's first frame (an ARP request) again,
    ``after_ns`` after the last kept one: a capture that went on, quiet for this connection."""
    rewrite(path, keep, out)
    capture = read_capture(str(path))
    last = int(capture.time_ns[np.flatnonzero(keep)[-1]])
    lo, n = int(capture.offset[0]), int(capture.caplen[0])
    out.write_bytes(out.read_bytes() + epb(0, last + after_ns, bytes(capture.data[lo : lo + n])))


def test_stated_drops_leave_an_open_connection_unproven(tmp_path: Path) -> None:
    """open-idle-at-end as a pcapng whose Interface Statistics Block reports 21,234 packets
    dropped (dumpcap under load): its FIN may be one of them. The same frames without the
    block: open, proven."""
    path = SAMPLES / "open-idle-at-end.pcap"
    plain = tmp_path / "no-drops.pcapng"
    rewrite(path, _all_frames(path), plain)
    assert _verdict(pcapline.analyze(str(plain))) == ("open", "proven", [])
    dropped = tmp_path / "drops.pcapng"
    last = int(read_capture(str(path)).time_ns[-1])
    dropped.write_bytes(plain.read_bytes() + isb(0, last, ifdrop=21_234))
    analysis = pcapline.analyze(str(dropped))
    assert _verdict(analysis) == ("open", "likely", ["capture_dropped"])
    assert analysis.capture.quality["interface_drops"] == 21_234


def test_stated_drops_leave_a_half_close_unproven(tmp_path: Path) -> None:
    """half-closed-client-shutdown, its capture going on 2 s past the client's FIN (an ARP
    frame then), with 5 drops stated: the server's FIN may be a dropped packet."""
    path = SAMPLES / "half-closed-client-shutdown.pcap"
    out = tmp_path / "half-closed-drops.pcapng"
    _with_later_frame(path, _all_frames(path), out, 2 * SECOND_NS)
    assert _verdict(pcapline.analyze(str(out))) == ("half_closed", "proven", [])
    last = int(read_capture(str(out)).time_ns[-1])
    out.write_bytes(out.read_bytes() + isb(0, last, osdrop=5))
    assert _verdict(pcapline.analyze(str(out))) == ("half_closed", "likely", ["capture_dropped"])


def test_a_file_cut_inside_a_record_leaves_an_open_connection_unproven(tmp_path: Path) -> None:
    """open-idle-at-end with its last record cut in half (a file copied while tcpdump was
    still writing it): the capture went on past the cut, and what ended the connection may
    be there."""
    data = (SAMPLES / "open-idle-at-end.pcap").read_bytes()
    out = tmp_path / "cut.pcap"
    out.write_bytes(data[:-30])
    analysis = pcapline.analyze(str(out))
    assert any("file ends inside frame" in w for w in analysis.capture.warnings)
    assert _verdict(analysis) == ("open", "likely", ["file_truncated"])


def test_a_side_silent_in_a_capture_begun_mid_connection_may_have_closed_before_it(
    tmp_path: Path,
) -> None:
    """app-gave-up-3s-at-server from frame 7 on (a capture started late): of the connection
    on port 40001 it holds the server's FIN and the client's ACK, not the client's FIN
    (frame 6) that came first. A side that has sent its FIN sends no new byte, and its bare
    ACKs look the same either way: the client's missing FIN is not proven (the whole capture
    says closed). Port 40002, whose client sent data in the capture, keeps its proven fate;
    so does midstream-start's open connection, whose sides both sent data in it."""
    path = SAMPLES / "app-gave-up-3s-at-server.pcap"
    late = tmp_path / "late.pcapng"
    rewrite(path, ~_frames_until(path, 6), late)
    for analysis in (pcapline.analyze(str(late)), pcapline.analyze(str(late), partitions=2)):
        rows = analysis.connections.set_index("client_port")
        assert (rows.fate[40001], rows.confidence[40001]) == ("half_closed", "likely")
        assert list(rows.caveats[40001]) == ["handshake_not_captured"]
        assert (rows.fate[40002], rows.confidence[40002]) == ("reset", "proven")
    both_spoke = pcapline.analyze(str(SAMPLES / "midstream-start.pcap"))
    assert _verdict(both_spoke, 1) == ("open", "proven", [])


def test_a_half_close_needs_the_capture_to_outlast_the_peers_answer(tmp_path: Path) -> None:
    """half-closed-client-shutdown: the server answered the client's FIN with 300 bytes and
    kept its socket open (CLOSE_WAIT), but the file ends 8 us after that answer, 0.1 ms
    after the FIN: nothing shows the server late to close. The same capture going on 2 s
    longer (quiet) shows it; 0.5 s longer is still within the 1 s floor."""
    path = SAMPLES / "half-closed-client-shutdown.pcap"
    analysis = pcapline.analyze(str(path))
    assert _verdict(analysis) == ("half_closed", "unknown", ["capture_ended_after_fin"])
    text = analysis.connections.explanation.iloc[0]
    assert "CLOSE_WAIT" not in text
    assert text.startswith("Half closed: the client sent FIN and the capture ended before")
    soon = tmp_path / "half-a-second.pcapng"
    _with_later_frame(path, _all_frames(path), soon, SECOND_NS // 2)
    assert _verdict(pcapline.analyze(str(soon)))[1:] == ("unknown", ["capture_ended_after_fin"])
    later = tmp_path / "two-seconds.pcapng"
    _with_later_frame(path, _all_frames(path), later, 2 * SECOND_NS)
    analysis = pcapline.analyze(str(later))
    assert _verdict(analysis) == ("half_closed", "proven", [])
    assert "look for CLOSE_WAIT in ss -tan on the server" in analysis.connections.explanation[0]


@needs_corpus
def test_a_half_close_is_not_proven_sooner_than_the_peers_own_answers() -> None:
    """zeek/workshop_2011_browse.pcap: the client's FINs at 15.471 s, the capture's end 3.1 ms
    later; the handshake's 0.96 ms round trip was to a near NAT, the servers answered in
    101-207 ms. http-desync-request-response-5 stream 2: 44 ms after the FIN, no handshake
    round trip known. ldap-max-recursion stream 99: 0 ms after the FIN, a 0 ms round trip."""
    rows = pcapline.analyze(str(CORPUS / "zeek" / "workshop_2011_browse.pcap")).connections
    for conn in range(6):
        row = rows.set_index("id").loc[conn]
        assert (row.fate, row.closer, row.confidence, list(row.caveats)) == (
            "half_closed",
            "client",
            "unknown",
            ["capture_ended_after_fin"],
        )
        assert "CLOSE_WAIT" not in row.explanation
    for name, conn in (
        ("http/http-desync-request-response-5.pcap", 2),
        ("ldap/ldap-max-recursion.pcap", 99),
    ):
        analysis = pcapline.analyze(str(CORPUS / "zeek" / name))
        # http-desync stream 2 began before the capture (no handshake): so says a caveat
        begun = ["handshake_not_captured"] if name.startswith("http/") else []
        assert _verdict(analysis, conn) == (
            "half_closed",
            "unknown",
            [*begun, "capture_ended_after_fin"],
        )


def test_a_lone_syn_at_the_capture_end_proves_nothing(tmp_path: Path) -> None:
    """closed-client-first cut right after the client's SYN (frame 3): its SYN+ACK came 15 us
    later, after the cut. Open, unknown (the capture ended before its answer or retry was
    due), not open-proven. Going on 2 s past it without a retry (Linux retries after 1 s):
    the lone SYN of an abandoned or unanswered connect, unknown as before."""
    path = SAMPLES / "closed-client-first.pcap"
    cut = tmp_path / "cut-at-syn.pcapng"
    rewrite(path, _frames_until(path, 3), cut)
    assert _verdict(pcapline.analyze(str(cut))) == ("open", "unknown", ["capture_ended"])
    later = tmp_path / "syn-then-quiet.pcapng"
    _with_later_frame(path, _frames_until(path, 3), later, 2 * SECOND_NS)
    assert _verdict(pcapline.analyze(str(later))) == ("open", "unknown", ["lone_syn"])


@needs_corpus
def test_lone_syns_of_a_scan_cut_by_the_capture_end_are_unknown() -> None:
    """zeek/nmap-vsn.pcap: streams 7, 9, 10, 12, 13, 15 are one SYN each, 0.6-0.7 s before
    the capture's last frame."""
    rows = pcapline.analyze(str(CORPUS / "zeek" / "nmap-vsn.pcap")).connections.set_index("id")
    for conn in (7, 9, 10, 12, 13, 15):
        assert rows.packets[conn] == 1
        assert (rows.fate[conn], rows.confidence[conn], list(rows.caveats[conn])) == (
            "open",
            "unknown",
            ["capture_ended"],
        )


def _frames_from(path: Path, start_ns: int) -> bytes:
    """Every frame of ``path`` as pcapng blocks (interface 0), restamped to begin at
    ``start_ns``."""
    capture = read_capture(str(path))
    shift = start_ns - int(capture.time_ns[0])
    return b"".join(
        epb(0, int(capture.time_ns[i]) + shift, bytes(capture.data[lo : lo + n]))
        for i, (lo, n) in enumerate(
            zip(capture.offset.tolist(), capture.caplen.tolist(), strict=True)
        )
    )


def test_a_lone_synack_never_resent_is_no_handshake_timeout(tmp_path: Path) -> None:
    """closed-client-first's SYN+ACK (frame 4) alone (as a switch floods one frame to the
    capture port), then open-idle-at-end's connection 3.7 s later: the server was never seen
    retrying the SYN+ACK nor giving up, so no failure fate and no "gave up"."""
    path = SAMPLES / "closed-client-first.pcap"
    keep = np.arange(1, read_capture(str(path)).frames + 1) == 4
    out = tmp_path / "lone-synack.pcapng"
    rewrite(path, keep, out)
    synack_ns = int(read_capture(str(path)).time_ns[3])
    other = _frames_from(SAMPLES / "open-idle-at-end.pcap", synack_ns + 3_700_000_000)
    out.write_bytes(out.read_bytes() + other)
    analysis = pcapline.analyze(str(out))
    assert _verdict(analysis) == ("open", "unknown", ["lone_synack", "handshake_not_captured"])
    assert analysis.verdicts[0].inferred["synack"]["gave_up"] is None
    assert _verdict(analysis, 1) == ("open", "proven", [])


@needs_corpus
def test_the_flooded_synack_of_wikipedia_is_no_failure() -> None:
    """zeek/wikipedia.pcap stream 9: one SYN+ACK addressed to another host's MAC, 3.7 s
    before the end of the capture."""
    analysis = pcapline.analyze(str(CORPUS / "zeek" / "wikipedia.pcap"))
    fate, confidence, caveats = _verdict(analysis, 9)
    assert (fate, confidence, caveats) == (
        "open",
        "unknown",
        ["lone_synack", "handshake_not_captured"],
    )
    assert fate not in {f.value for f in FAILURE_FATES}


def _flags_only(path: Path) -> np.ndarray:
    """The frames a 'tcp[tcpflags] & (tcp-syn|tcp-fin|tcp-rst) != 0' filter keeps."""
    tcp: pd.DataFrame = pcapline.analyze(str(path)).segments
    wanted = set(tcp.loc[(tcp["flags"].to_numpy() & (SYN | FIN | RST)) != 0, "frame"].tolist())
    return np.array([f in wanted for f in range(1, read_capture(str(path)).frames + 1)])


def test_a_rst_after_a_flag_filtered_silence_is_likely_reset(tmp_path: Path) -> None:
    """keepalive-client-idle2-intvl1-cnt3 kept to its SYN/FIN/RST segments: the client's RST
    5.1 s after the SYN+ACK ended the connection (on the wire), but the three keepalive
    probes that made it a keepalive timeout were filtered out: reset, likely."""
    path = SAMPLES / "keepalive-client-idle2-intvl1-cnt3.pcap"
    assert _verdict(pcapline.analyze(str(path)))[0] == "keepalive_timeout"
    out = tmp_path / "flags-only.pcapng"
    rewrite(path, _flags_only(path), out)
    analysis = pcapline.analyze(str(out))
    assert analysis.capture.quality["flag_filtered"] is True
    assert _verdict(analysis) == ("reset", "likely", ["flag_filtered"])
    text = analysis.connections.explanation.iloc[0]
    assert "5.11 s after the last segment this filtered capture kept" in text
    assert "A timer's RST looks the same in this capture" in text


def _bare_acks_dropped(path: Path) -> np.ndarray:
    """The frames a 'not (bare ACK)' filter keeps: no segment without data, SYN, FIN or RST
    (keepalive probes and their answers included)."""
    tcp: pd.DataFrame = pcapline.analyze(str(path)).segments
    bare = ((tcp["flags"].to_numpy() & (SYN | FIN | RST)) == 0) & (tcp["seg_len"].to_numpy() == 0)
    dropped = set(tcp.loc[bare, "frame"].tolist())
    return np.array([f not in dropped for f in range(1, read_capture(str(path)).frames + 1)])


def test_a_rst_after_data_left_unacknowledged_and_unresent_is_likely_reset(
    tmp_path: Path,
) -> None:
    """keepalive-server-idle2-intvl1-cnt2 without its bare ACKs (a short capture: the ACK
    filter is not told by the whole capture): the server's 100 bytes are acknowledged by
    nothing captured and never resent, and its RST comes 4.06 s later. A sender with data in
    flight resends it within one RTO, so the client's ACK reached it unseen, and the
    keepalive probes before the RST are missing with it: reset, likely, not an
    application's abort, proven. The whole capture: a keepalive timeout."""
    path = SAMPLES / "keepalive-server-idle2-intvl1-cnt2.pcap"
    assert _verdict(pcapline.analyze(str(path))) == ("keepalive_timeout", "proven", [])
    out = tmp_path / "no-bare-acks.pcapng"
    rewrite(path, _bare_acks_dropped(path), out)
    analysis = pcapline.analyze(str(out))
    assert analysis.capture.quality["acks_filtered"] is False
    assert _verdict(analysis) == ("reset", "likely", ["capture_lossy"])
    text = analysis.connections.explanation.iloc[0]
    assert "neither acknowledged in the capture nor resent in the 4.06 s before it" in text
    assert "abortive close by its application" not in text
    # The client probing: its request was acknowledged by the server's answer, the answer
    # by nothing captured, and the server never resent it in the 5.1 s before the client's RST.
    client = SAMPLES / "keepalive-client-idle2-intvl1-cnt3.pcap"
    out = tmp_path / "client-no-bare-acks.pcapng"
    rewrite(client, _bare_acks_dropped(client), out)
    assert _verdict(pcapline.analyze(str(out))) == ("reset", "likely", ["capture_lossy"])


def _slow_server(capture_end_s: float) -> bytes:
    """A request the server answered after 3 s (its think time), the client's FIN 0.1 s
    later, ACKed at once, and the capture's last frame at ``capture_end_s`` (an ARP)."""
    c = Conversation()
    c.syn(0.0).synack(0.001).ack(CLIENT, 0.002).data(CLIENT, 0.010, 100)
    c.ack(SERVER, 0.011).data(SERVER, 3.011, 300).ack(CLIENT, 3.012)
    c.fin(CLIENT, 3.112).ack(SERVER, 3.113)

    def arp() -> list[tuple[int, bytes]]:
        return [(round(capture_end_s * 1e9), ethernet(b"\x00" * 28, ethertype=0x0806))]

    return pcap_bytes(c, extra=arp)


def test_a_half_close_waits_out_the_peers_slowest_answer(tmp_path: Path) -> None:
    """The server took 3 s to answer the request: 2 s of quiet after the client's FIN (past
    the 1 s floor) do not show it late to close; 4 s do. (Crafted: the rule's arithmetic.)"""
    for end_s, expected in (
        (5.112, ("half_closed", "unknown", ["capture_ended_after_fin"])),
        (7.112, ("half_closed", "proven", [])),
    ):
        out = tmp_path / f"slow-server-{end_s}.pcap"
        out.write_bytes(_slow_server(end_s))
        assert _verdict(pcapline.analyze(str(out))) == expected


def test_the_bounded_path_reads_drops_and_cuts_the_same(tmp_path: Path) -> None:
    """The bounded-memory path learns of the drops and the cut from its own read (the spill's
    last window): its JSON is the whole-file analysis's, caveats included."""
    path = SAMPLES / "open-idle-at-end.pcap"
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(path.read_bytes()[:-30])
    dropped = tmp_path / "drops.pcapng"
    rewrite(path, _all_frames(path), dropped)
    last = int(read_capture(str(path)).time_ns[-1])
    dropped.write_bytes(dropped.read_bytes() + isb(0, last, ifdrop=9))
    spill = tmp_path / "spill"
    spill.mkdir()
    for capture, caveat in ((cut, "file_truncated"), (dropped, "capture_dropped")):
        whole = io.StringIO()
        pcapline.analyze(str(capture)).write_json(whole)
        assert f'"{caveat}"' in whole.getvalue()
        with bounded.analyse(
            capture, partitions=3, jobs=1, outputs=frozenset({"json"}), spill_dir=str(spill)
        ) as result:
            out = io.StringIO()
            result.write_json(out)
        assert out.getvalue() == whole.getvalue()
