"""Decoding on every core (``engine.decode_capture``) gives what one pass gives.

Ranges of frames are decoded on forked workers and joined; the segments table, the ICMP
errors, the skip counts (values and order), the link types and every frame's skip reason
must be those of ``decode`` over the whole capture, on every sample capture (real kernels)
and a spread of corpus captures (many link types, tunnels, ICMP errors, damaged records),
for range splits that fall anywhere, including inside a damaged tail.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from needs import CORPUS, CORPUS_MARKS, HAVE_CORPUS

from pcapline import engine
from pcapline.decode import Decoded, decode
from pcapline.errors import CaptureError
from pcapline.read import read_capture
from pcapline.read.capture import Capture

SAMPLES = Path(__file__).resolve().parents[1] / "sample_captures"
SAMPLE_CAPTURES = sorted(
    p for p in SAMPLES.iterdir() if ".pcap" in p.name and not p.name.endswith(".json")
)


def _corpus_spread(every: int = 50, max_bytes: int = 4 << 20) -> list[str]:
    """Every ``every``-th corpus capture (path order) up to ``max_bytes``: a fixed spread
    over the corpus's projects, link types and damage."""
    if not HAVE_CORPUS:
        return []
    paths = sorted(
        p
        for p in CORPUS.rglob("*")
        if p.is_file() and ".pcap" in p.name and p.stat().st_size <= max_bytes
    )
    return [str(p.relative_to(CORPUS)) for p in paths[::every]]


def _same(parted: Decoded, whole: Decoded) -> None:
    pd.testing.assert_frame_equal(parted.segments, whole.segments, check_exact=True)
    pd.testing.assert_frame_equal(parted.icmp, whole.icmp, check_exact=True)
    assert list(parted.skipped.items()) == list(whole.skipped.items())
    assert parted.link_types == whole.link_types
    assert np.array_equal(parted.frame_reason, whole.frame_reason)
    assert parted.frame_reason.dtype == whole.frame_reason.dtype


def _check(path: Path, jobs: int = 3) -> None:
    capture = read_capture(path)
    _same(engine.decode_capture(capture, jobs, min_frames=0), decode(capture))


@pytest.mark.parametrize("path", SAMPLE_CAPTURES, ids=lambda p: p.name)
def test_ranges_decode_as_one_pass_on_samples(path: Path) -> None:
    _check(path)


@pytest.mark.parametrize("name", [pytest.param(n, marks=CORPUS_MARKS) for n in _corpus_spread()])
def test_ranges_decode_as_one_pass_on_corpus(name: str) -> None:
    try:
        read_capture(CORPUS / name)
    except CaptureError as exc:
        pytest.skip(f"not readable as a whole: {exc}")
    _check(CORPUS / name)


def test_a_damaged_tail_stays_with_the_last_range(tmp_path: Path) -> None:
    """A file cut inside its last records: those frames are skipped as truncated records
    whichever range holds them, and ranges ending just before them decode as usual."""
    source = SAMPLES / "lossy-40-connections-3pct-drop.pcap"
    data = source.read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[: len(data) - 37])  # inside the last record's bytes
    capture = read_capture(cut)
    assert capture.truncated_records == 1
    whole = decode(capture)
    assert whole.skipped.get("truncated_record") == 1
    for ranges in (2, 5):
        _same(engine.decode_capture(capture, 2, min_frames=0, ranges=ranges), whole)
    # The last range holds only the cut frame.
    n = capture.frames
    ends = [engine.frame_range(capture, 0, n - 1), engine.frame_range(capture, n - 1, n)]
    assert [c.truncated_records for c in ends] == [0, 1]
    _same(engine.joined([decode(c) for c in ends]), whole)


def test_frame_range_keeps_frame_numbers_and_the_files_tail() -> None:
    capture = read_capture(SAMPLES / "lossy-40-connections-3pct-drop.pcap")
    n = capture.frames
    middle = engine.frame_range(capture, 10, 20)
    assert middle.frame.tolist() == list(range(11, 21))
    assert middle.truncated_records == 0 and not middle.last_time_unknown
    tail = engine.frame_range(capture, n - 5, n)
    assert tail.frame[-1] == n and tail.frames == 5


def test_a_small_capture_or_one_job_decodes_in_this_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_pool(*args: object, **kwargs: object) -> None:
        raise AssertionError("a process pool was started")

    import concurrent.futures

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", no_pool)
    capture = read_capture(SAMPLES / "lossy-40-connections-3pct-drop.pcap")
    assert capture.frames < engine.POOL_MIN_FRAMES
    _same(engine.decode_capture(capture, 2), decode(capture))
    _same(engine.decode_capture(capture, 1, min_frames=0), decode(capture))


def test_a_dead_decode_worker_is_one_error_naming_its_range(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the OOM killer does: the worker vanishes (SIGKILL); no partial decode."""

    import pcapline.decode

    def killed(capture: Capture) -> Decoded:
        if capture.frame[0] > 1:  # not the first range
            os.kill(os.getpid(), signal.SIGKILL)
        return real(capture)

    real = pcapline.decode.decode
    monkeypatch.setattr(pcapline.decode, "decode", killed)  # forked workers inherit it
    capture = read_capture(SAMPLES / "lossy-40-connections-3pct-drop.pcap")
    with pytest.raises(engine.PartitionLost, match=r"died decoding frame range \d of 3"):
        engine.decode_capture(capture, 3, min_frames=0)
