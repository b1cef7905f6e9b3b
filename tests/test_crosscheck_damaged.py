"""``pcapline crosscheck`` on damaged captures: a TCP header cut by the snap length, a file
cut or damaged inside a record under ``--dissect``, an empty file. Each was exit 3
("internal error") or an error naming crosscheck's temporary copy.

The captures are real-kernel samples cut or edited here with editcap, mergecap or a byte
slice (head -c), as the commands in each test's docstring say.
"""

from __future__ import annotations

import io
import json
import shutil
import struct
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from needs import CORPUS, needs_corpus, needs_tshark

from pcapline.cli import cli, run

SAMPLES = Path(__file__).resolve().parent.parent / "sample_captures"
CLOSED = SAMPLES / "closed-client-first.pcap"  # 12 frames, 10 of them TCP
APP = SAMPLES / "app-tls-http.pcap"

needs_editcap = pytest.mark.skipif(
    shutil.which("editcap") is None or shutil.which("mergecap") is None,
    reason="editcap/mergecap (Wireshark) not installed",
)


def _crosscheck_json(args: list[str], stdin: bytes | None = None) -> dict[str, Any]:
    out = CliRunner().invoke(cli, ["crosscheck", *args, "--format", "json"], input=stdin)
    assert out.exit_code == 0, out.output
    doc: dict[str, Any] = json.loads(out.stdout)
    return doc


def _editcap(*args: str) -> None:
    subprocess.run(["editcap", "-F", "pcap", *args], check=True, capture_output=True)


# ---------------------------------------------------------------------------------------
# 1. A TCP header cut by the snap length: Wireshark gives the frame no tcp.stream
# ---------------------------------------------------------------------------------------


@needs_tshark
@needs_editcap
@pytest.mark.parametrize("snaplen", [38, 42, 46])
def test_frames_without_tcp_stream_are_counted_not_compared(tmp_path: Path, snaplen: int) -> None:
    """editcap -s 42 closed-client-first.pcap: tshark dissects frames 3-12 as TCP (the ports
    are there) with an empty tcp.stream; pcapline skips them (truncated_tcp_header). Was: exit 3,
    "ValueError: cannot convert float NaN to integer"."""
    cut = tmp_path / f"snap{snaplen}.pcap"
    _editcap("-s", str(snaplen), str(CLOSED), str(cut))
    doc = _crosscheck_json([str(cut)])
    assert (doc["frames_compared"], doc["only_wireshark"], doc["only_pcapline"]) == (0, 10, 0)
    assert doc["unexplained"] == 0 and doc["stream_mismatches"] == []
    assert doc["warnings"] == [
        f"the snaplen ({snaplen} bytes captured per frame) cut 10 TCP frames inside the TCP "
        "header: not analysed (truncated_tcp_header): a connection may show one direction "
        "only, or none at all; capture with a larger snaplen (tcpdump -s 0)",
        "10 frames Wireshark dissected as TCP got no tcp.stream (TCP header cut short; first "
        "frame 3): not compared (counted as only Wireshark's where pcapline skipped them)",
    ]
    text = CliRunner().invoke(cli, ["crosscheck", str(cut)]).output
    assert "10 frames only Wireshark dissected as TCP, 0 only pcapline" in text
    assert "warning     10 frames Wireshark dissected as TCP got no tcp.stream" in text


@needs_tshark
@needs_editcap
def test_whole_frames_are_still_compared_beside_cut_headers(tmp_path: Path) -> None:
    """Frames 1-6 whole, 7-12 cut to 42 bytes (editcap -r, editcap -s 42 -r, mergecap -a):
    the TCP frames 3-6 are compared, 7-12 counted."""
    head, tail, mixed = tmp_path / "head.pcap", tmp_path / "tail.pcap", tmp_path / "mixed.pcap"
    _editcap("-r", str(CLOSED), str(head), "1-6")
    _editcap("-s", "42", "-r", str(CLOSED), str(tail), "7-12")
    subprocess.run(
        ["mergecap", "-a", "-F", "pcap", "-w", str(mixed), str(head), str(tail)],
        check=True,
        capture_output=True,
    )
    doc = _crosscheck_json([str(mixed)])
    assert (doc["frames_compared"], doc["only_wireshark"], doc["only_pcapline"]) == (4, 6, 0)
    assert doc["stream_mismatches"] == [] and doc["unexplained"] == 0
    assert len(doc["warnings"]) == 2  # pcapline's (the snaplen cut 6), then the comparison's
    assert doc["warnings"][0].startswith("the snaplen (42 bytes captured per frame) cut 6 TCP")
    assert doc["warnings"][1].startswith(
        "6 frames Wireshark dissected as TCP got no tcp.stream (TCP header cut short; first "
        "frame 7)"
    )


@needs_tshark
@needs_corpus
def test_corpus_heap_overflow_header_is_counted() -> None:
    """tcpdump's tcp_header_heapoverflow.pcap: one frame, a 46-byte TCP header stub."""
    doc = _crosscheck_json([str(CORPUS / "tcpdump" / "tcp_header_heapoverflow.pcap")])
    assert (doc["frames_compared"], doc["only_wireshark"], doc["only_pcapline"]) == (0, 1, 0)
    assert [w.split(" (")[0] for w in doc["warnings"]] == [
        "the snaplen",  # pcapline's own: "the snaplen (46 bytes captured per frame) cut 1 TCP frame"
        "1 frames Wireshark dissected as TCP got no tcp.stream",
    ]


# ---------------------------------------------------------------------------------------
# 2. --dissect on a capture tshark stops reading (pyshark: TSharkCrashException)
# ---------------------------------------------------------------------------------------


def _cut(tmp_path: Path) -> Path:
    """head -c 5000 app-tls-http.pcap: ends inside frame 22."""
    out = tmp_path / "cut.pcap"
    out.write_bytes(APP.read_bytes()[:5000])
    return out


def _joined(tmp_path: Path) -> Path:
    """cat closed-client-first.pcap closed-client-first.pcap."""
    out = tmp_path / "joined.pcap"
    out.write_bytes(CLOSED.read_bytes() * 2)
    return out


def _huge_record(tmp_path: Path) -> Path:
    """closed-client-first.pcap with record 7's captured and original lengths 0xffffffff."""
    data = bytearray(CLOSED.read_bytes())
    offset = 24
    for _ in range(6):  # records 1-6
        offset += 16 + struct.unpack_from("<I", data, offset + 8)[0]
    assert offset == 584
    struct.pack_into("<II", data, offset + 8, 0xFFFFFFFF, 0xFFFFFFFF)
    out = tmp_path / "huge.pcap"
    out.write_bytes(bytes(data))
    return out


@needs_tshark
@pytest.mark.parametrize(
    ("make", "compared", "dissected", "tshark_said"),
    [
        (
            _cut,
            19,
            [(0, [6, 8, 10], "tls", "tls")],
            'tshark: The file "{path}" appears to have been cut short in the middle of a packet.',
        ),
        (
            _joined,
            10,
            [(0, [6, 8], None, None)],
            "pcap: File has 1795302922-byte packet, bigger than maximum of 262144",
        ),
        (
            _huge_record,
            4,
            [(0, [6], None, None)],
            "pcap: File has 4294967295-byte packet, bigger than maximum of 262144",
        ),
    ],
    ids=["cut", "cat-joined", "record-0xffffffff"],
)
def test_dissect_on_a_damaged_capture_keeps_what_tshark_read(
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    make: Any,
    compared: int,
    dissected: list[tuple[int, list[int], str | None, str | None]],
    tshark_said: str,
) -> None:
    """Was: exit 3, "internal error: TSharkCrashException: TShark ... seems to have crashed":
    now what tshark dissected before the damage is named, with a warning (as without
    --dissect)."""
    pytest.importorskip("pyshark")
    capture = make(tmp_path)
    plain = _crosscheck_json([str(capture)])
    doc = _crosscheck_json([str(capture), "--dissect"])
    assert doc["frames_compared"] == plain["frames_compared"] == compared
    got = [(d["conn"], d["frames"], d["wireshark"], d["pcapline"]) for d in doc["dissected"]]
    assert got == dissected
    asked = sum(len(frames) for _, frames, _, _ in dissected)
    assert doc["warnings"] == [
        *plain["warnings"],
        f"tshark stopped early while dissecting ({tshark_said.format(path=capture)}): "
        f"0 of the {asked} chosen payload frames not dissected",
    ]
    # pyshark's own __del__ would print the crash again ("Exception ignored in ...").
    assert "TSharkCrashException" not in capfd.readouterr().err


def test_dissect_nothing_dissected_before_tshark_stopped_is_one_line_exit_2(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """When tshark stops before the first chosen frame, there is nothing to show: one
    TsharkUnavailable line (exit 2), not the crash."""
    pytest.importorskip("pyshark")
    from pyshark.capture.capture import TSharkCrashException

    from pcapline.crosscheck import dissect
    from pcapline.crosscheck.oracle import TsharkUnavailable

    said = (
        "TShark (pid 1) seems to have crashed (retcode: 2).\nLast error line: (pcap: File has "
        "4294967295-byte packet, bigger than maximum of 262144)\nTry rerunning in debug mode "
        "[ capture_obj.set_debug() ] or try updating tshark."
    )

    class Stopped:  # pyshark.FileCapture over a file tshark stops reading at once
        def __init__(self, *_args: object, **_kwargs: object) -> None:
            self._running_processes: set[object] = {object()}

        def __iter__(self) -> Stopped:
            return self

        def __next__(self) -> object:
            raise TSharkCrashException(said)

        def close(self) -> None:
            if self._running_processes:
                raise TSharkCrashException(said)

    monkeypatch.setattr("pyshark.FileCapture", Stopped)
    with pytest.raises(TsharkUnavailable) as caught:
        dissect.dissect("x.pcap", {0: [6, 8]})
    assert str(caught.value) == (
        "tshark stopped on the damaged capture x.pcap before dissecting any of the chosen "
        "frames: pcap: File has 4294967295-byte packet, bigger than maximum of 262144"
    )


# ---------------------------------------------------------------------------------------
# 3. Errors name the user's file, not crosscheck's temporary copy
# ---------------------------------------------------------------------------------------


@needs_tshark
@pytest.mark.parametrize(
    "content",
    [b"", b"hello, not a capture\n"],
    ids=["empty", "text"],
)
@pytest.mark.parametrize("from_stdin", [False, True], ids=["file", "stdin"])
def test_errors_name_the_users_file_as_analyze_does(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    content: bytes,
    from_stdin: bool,
) -> None:
    """`: > empty.pcap; pcapline crosscheck empty.pcap` said "pcapline: error:
    /tmp/pcapline-crosscheck-XXXX/source-YYYY: empty file"."""
    capture = tmp_path / "capture.pcap"
    capture.write_bytes(content)
    name = "-" if from_stdin else str(capture)

    def said(command: str) -> str:
        if from_stdin:
            monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(content)))
        assert run([command, name]) == 2
        return capsys.readouterr().err

    err = said("crosscheck")
    assert err == said("analyze")
    assert err.startswith(f"pcapline: error: {name}: ") and err.count("\n") == 1
    if not content:
        assert err == f"pcapline: error: {name}: empty file\n"
    assert "pcapline-crosscheck-" not in err and "source-" not in err


def test_dissect_leaves_out_the_connections_tshark_never_reached(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """tshark stopped after connection 0's frames: connection 1 is not said to be "raw data
    only" (no protocol found), it is left out, and the frames missed are counted."""
    pytest.importorskip("pyshark")
    from types import SimpleNamespace

    from pyshark.capture.capture import TSharkCrashException

    from pcapline.crosscheck import dissect

    said = "TShark (pid 1) seems to have crashed (retcode: 2).\nLast error line: (cut short)"
    packets = [SimpleNamespace(number="6", frame_info=SimpleNamespace(protocols="eth:ip:tcp:tls"))]

    class Stopped:
        def __init__(self, *_args: object, **_kwargs: object) -> None:
            self._running_processes: set[object] = set()
            self.left = list(packets)

        def __iter__(self) -> Stopped:
            return self

        def __next__(self) -> object:
            if self.left:
                return self.left.pop(0)
            raise TSharkCrashException(said)

        def close(self) -> None:
            pass

    monkeypatch.setattr("pyshark.FileCapture", Stopped)
    found = dissect.dissect("x.pcap", {0: [6], 1: [9, 11]})
    assert [(d.conn, d.protocols) for d in found.connections] == [(0, ("tls",))]
    assert (found.stopped, found.missed, found.chosen) == ("cut short", 2, 3)


def test_the_oracle_reads_a_dsack_above_the_ack_as_one() -> None:
    """Our spurious_retransmit of a tail loss probe the receiver D-SACKed above its ACK (the
    first block within the second, RFC 2883; the decoder's ``dsack``) against Wireshark's
    retransmission: the oracle's D-SACK test finds the report, as it does below the ACK."""
    import pandas as pd

    from pcapline.crosscheck.oracle import ConnContext, FrameCheck, _dsacked_later
    from pcapline.model import ACK, EventKind

    rows = pd.DataFrame(
        {
            "frame": [5, 6],
            "from_client": [True, False],
            "flags": [ACK, ACK],
            "ack": [1, 1000],
            "sack_blocks": [0, 2],
            "sack_le": [0, 2000],
            "sack_re": [0, 3000],
            "dsack": [False, True],
        }
    )
    check = FrameCheck(
        frame=5,
        conn=0,
        wireshark=frozenset({"retransmission"}),
        wireshark_flags=frozenset({"retransmission"}),
        ours=frozenset({EventKind.SPURIOUS_RETRANSMIT}),
        seq=2000,
        seg_len=1000,
        tcp_flags=ACK,
        from_client=True,
        window=512,
        context=ConnContext(segments=rows),
    )
    assert _dsacked_later(check)
    assert not _dsacked_later(replace(check, seq=1000))  # bytes the D-SACK does not cover
