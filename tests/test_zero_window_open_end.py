"""A connection still open at the capture's end, the receiver's window closed and the
sender's last window probe answered: the explanation says what keeps the sender probing
and what ends it.

Real kernel (Linux 6.18, server SO_RCVBUF 4096 never reading, the client writing 88 kB then
closing its socket): the client sat in FIN-WAIT-1 with 82 kB unsent and its FIN queued
behind them (no FIN on the wire), its probes answered by zero-window ACKs, the probe gap
doubling; the 10th probe (backoff 9, 108.5 s after the 9th) was answered, and 120 s later
the kernel freed the orphan without sending anything (ss showed it gone; tcp_orphan_retries
0: rto << backoff reached TCP_RTO_MAX). The explanation said only "No FIN or RST in 222 s
of traffic".
"""

from __future__ import annotations

from pathlib import Path

from builders.conversation import CLIENT, SERVER, Conversation, pcap_bytes

import pcapline


def _capture(tmp_path: Path, last_answered: bool) -> str:
    c = Conversation().handshake(0.0)
    c.data(CLIENT, 0.01, 1000).ack(SERVER, 0.011, window=0)
    t, gap = 0.21, 0.2
    for k in range(5):
        c.probe(CLIENT, t)
        if last_answered or k < 4:
            c.ack(SERVER, t + 0.0001, window=0)
        gap *= 2
        t += gap
    path = tmp_path / "c.pcap"
    path.write_bytes(pcap_bytes(c))
    row = pcapline.analyze(path).connections.iloc[0]
    assert row["fate"] == "open"
    return str(row["explanation"])


def test_answered_probes_at_the_end_are_worded(tmp_path: Path) -> None:
    words = _capture(tmp_path, last_answered=True)
    assert words.startswith(
        "Still open when the capture ended: no FIN or RST in 6.21 s of traffic, the client "
        "still probing the server's closed window (5 probe(s), the last answered): Linux "
        "counts only unanswered probes against net.ipv4.tcp_retries2"
    )
    assert "an orphan in FIN-WAIT-1" in words


def test_an_unanswered_last_probe_keeps_the_plain_words(tmp_path: Path) -> None:
    words = _capture(tmp_path, last_answered=False)
    assert words.startswith(
        "Still open when the capture ended: no FIN or RST in 6.21 s of traffic."
    )
