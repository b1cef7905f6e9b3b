"""A half close read from a lossy tap: the capture point lost the other side's last segments,
its FIN among them (classify.half_closed, ``detect.close.UnseenEnd``).

Real case: a 3 % random drop of a real capture of short HTTP-like connections (the server
writes its answer and closes: Linux sends the FIN on the last data segment) read 16 closes as
"half closed" (likely): the tap lost the server's FIN+data, and the client's FIN, which
acknowledges past the server's last captured byte by that data and the FIN, was taken for the
first FIN. The packets cannot tell data from a FIN in the acknowledged number, so the verdict
may not say the server never closed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import pcapline
from pcapline.read import read_capture
from tests.builders.capture_files import rewrite

SAMPLES = Path(__file__).resolve().parent.parent / "sample_captures"


def test_a_fin_lost_with_the_last_data_leaves_the_other_side_unknown(tmp_path: Path) -> None:
    """slow-queue-spurious-timeouts (a real kernel's capture): the server of port 8081 sends
    its last 968 bytes with FIN (frame 535), the client closes next with ack one past them
    (frame 536), the server acknowledges that FIN (frame 543). Frame 535 cut from the file
    (a lossy tap): the client seems to close first, and its ACK shows the server sent 969
    sequence numbers more than the capture holds: the server's close is not in the capture."""
    path = SAMPLES / "slow-queue-spurious-timeouts.pcap"
    full = pcapline.analyze(str(path)).connections.set_index("client_port")
    assert (full.loc[42902, "fate"], full.loc[42902, "closer"]) == ("closed", "server")
    capture = read_capture(str(path))
    out = tmp_path / "lost-fin.pcapng"
    rewrite(path, capture.frame != 535, out)
    t = pcapline.analyze(str(out)).connections.set_index("client_port")
    row = t.loc[42902]
    assert (row["fate"], row["closer"]) == ("half_closed", "client")
    assert row["confidence"] == "unknown"
    assert "end_not_captured" in list(row["caveats"])
    words = row["explanation"]
    assert "acknowledged 969 sequence numbers past the server's last captured byte" in words
    assert "capture point lost them" in words and "CLOSE_WAIT is shown" in words
    # The other connection lost nothing of its own: its close stays proven.
    assert (t.loc[42901, "fate"], t.loc[42901, "confidence"]) == ("closed", "proven")


def test_a_fin_alone_lost_is_still_inferred_from_its_ack(tmp_path: Path) -> None:
    """The same close with only the server's FIN missing would be acknowledged one past its
    data (``UnseenFin``): here the client's FIN (frame 544 of port 8080) is cut, the server's
    FIN acknowledges exactly one past the client's bytes: closed, likely, as before."""
    path = SAMPLES / "slow-queue-spurious-timeouts.pcap"
    capture = read_capture(str(path))
    out = tmp_path / "lost-bare-fin.pcapng"
    rewrite(path, capture.frame != 544, out)
    row = pcapline.analyze(str(out)).connections.set_index("client_port").loc[42901]
    assert (row["fate"], row["confidence"]) == ("closed", "likely")
    assert list(row["caveats"]) == ["peer_fin_inferred"]


def _tlp_sample_without(tmp_path: Path, *frames: int) -> pd.Series:
    """tail-loss-probes-dsacked (a real kernel's capture) with ``frames`` cut from the file:
    its close is the client's FIN (frame 126), the server's ACK of it (127), the server's FIN
    (128), the client's ACK of it (129); the client's last data is frame 124 (100 bytes)."""
    path = SAMPLES / "tail-loss-probes-dsacked.pcap"
    capture = read_capture(str(path))
    out = tmp_path / "lost.pcapng"
    rewrite(path, ~np.isin(capture.frame, frames), out)
    return pcapline.analyze(str(out)).connections.iloc[0]


def test_both_fins_lost_are_inferred_from_their_acks(tmp_path: Path) -> None:
    """Both FINs cut: each side's ACK one past the other's bytes shows its FIN (a tap that
    lost both read 'open, likely'): closed, likely, the client first (its FIN was
    acknowledged before the server's went by)."""
    row = _tlp_sample_without(tmp_path, 126, 128)
    assert (row["fate"], row["closer"], row["confidence"]) == ("closed", "client", "likely")
    assert list(row["caveats"]) == ["peer_fin_inferred"]
    words = row["explanation"]  # frames renumbered in the cut file: 127 is now 126
    assert "The client's FIN is not in the capture; the server acknowledged it (frame 126)" in words
    assert "The server's FIN is not in the capture; the client acknowledged it (frame 127)" in words


def test_an_open_connection_whose_end_the_tap_lost_is_unknown(tmp_path: Path) -> None:
    """The client's last data and FIN cut, with the server's FIN and the client's last ACK:
    nothing shows a FIN, but the server acknowledged 101 sequence numbers past the client's
    last captured byte: 'open' cannot be more than unknown."""
    row = _tlp_sample_without(tmp_path, 124, 126, 128, 129)
    assert (row["fate"], row["confidence"]) == ("open", "unknown")
    assert "end_not_captured" in list(row["caveats"])


def test_a_lost_fin_is_shown_by_its_sender_s_next_sequence_number(tmp_path: Path) -> None:
    """Both FINs and the server's ACK of the client's cut: nothing acknowledges the client's
    FIN, but the client's last ACK (frame 129) goes out at seq 6002, one past its last byte:
    a segment is sent at snd.nxt, which a FIN moved one on. Closed, likely (it read 'half
    closed' by the server, likely, the client's FIN unknown)."""
    row = _tlp_sample_without(tmp_path, 126, 127, 128)
    assert (row["fate"], row["confidence"]) == ("closed", "likely")
    assert list(row["caveats"]) == ["peer_fin_inferred"]
    words = row["explanation"]  # 129 is 126 in the cut file
    assert (
        "The client's FIN is not in the capture; its own later segment (frame 126) carries "
        "the sequence number after it" in words
    )
