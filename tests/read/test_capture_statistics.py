"""What a capture file says it lost or cut: pcapng interface statistics (ISB isb_ifdrop /
isb_osdrop) and the snapshot length, read by the read stage and shown in capture.quality."""

from __future__ import annotations

from builders.capture_files import epb, idb, isb, pcap, shb
from builders.frames import SYN, ethernet, ipv4, tcp

import pcapline
from pcapline.read import read_capture

SEC = 1_700_000_000
PKT = ethernet(ipv4(tcp(flags=SYN)))


def test_last_statistics_block_of_each_interface_counts(tmp_path) -> None:
    data = (
        shb()
        + idb(1)
        + idb(1)
        + epb(0, SEC * 1_000_000, PKT)
        + isb(0, SEC * 1_000_000 + 1, ifdrop=3, osdrop=1)
        + isb(0, SEC * 1_000_000 + 2, ifdrop=7, osdrop=2)  # counters since the start
        + isb(1, SEC * 1_000_000 + 2, ifdrop=5)
    )
    path = tmp_path / "drops.pcapng"
    path.write_bytes(data)
    cap = read_capture(path)
    assert (cap.if_drops, cap.os_drops) == (12, 2)
    analysis = pcapline.analyze(str(path))
    quality = analysis.capture.quality
    assert (quality["interface_drops"], quality["os_drops"]) == (12, 2)
    assert any("14 packets dropped" in w for w in analysis.capture.warnings)


def test_no_statistics_means_unknown_not_zero(tmp_path) -> None:
    path = tmp_path / "plain.pcapng"
    path.write_bytes(shb() + idb(1) + epb(0, SEC * 1_000_000, PKT) + isb(0, SEC * 1_000_000))
    quality = pcapline.analyze(str(path)).capture.quality
    assert quality["interface_drops"] is None and quality["os_drops"] is None
    assert not any("dropped" in w for w in pcapline.analyze(str(path)).capture.warnings)


def test_snaplen_and_frames_it_cut(tmp_path) -> None:
    path = tmp_path / "cut.pcap"
    path.write_bytes(pcap([PKT, (PKT[:40], len(PKT))], snaplen=40))
    quality = pcapline.analyze(str(path)).capture.quality
    assert quality["snaplen"] == 40
    assert quality["frames_cut_by_snaplen"] == 1


def _unanswered_syns(drops: int | None) -> bytes:
    """A SYN retried at 1 s and 3 s, never answered, the capture running to 10 s (a connect
    timeout read from silence), with an ISB stating ``drops`` interface drops."""
    usec = SEC * 1_000_000
    blocks = shb() + idb(1)
    for t in (0, 1, 3):
        blocks += epb(0, usec + t * 1_000_000, PKT)
    blocks += epb(0, usec + 10_000_000, ethernet(ipv4(tcp(sport=40001, flags=SYN))))
    return blocks + isb(0, usec + 10_000_000, ifdrop=drops)


def test_dropped_packets_make_silence_prove_nothing(tmp_path) -> None:
    clean, dropped = tmp_path / "clean.pcapng", tmp_path / "dropped.pcapng"
    clean.write_bytes(_unanswered_syns(0))
    dropped.write_bytes(_unanswered_syns(2))
    before = pcapline.analyze(str(clean)).verdicts[0]
    after = pcapline.analyze(str(dropped)).verdicts[0]
    assert before.fate == after.fate == "connect_timeout"
    assert before.confidence == "proven"
    assert (after.confidence, after.caveats) == ("unknown", ("capture_dropped",))
