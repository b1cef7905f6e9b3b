"""pcapline/fmt.py: the one spelling of endpoints, times, durations and sizes."""

from __future__ import annotations

import numpy as np

from pcapline import fmt


def test_endpoint_brackets_ipv6() -> None:
    assert fmt.endpoint("10.0.0.1", 80) == "10.0.0.1:80"
    assert fmt.endpoint("2001:db8::1", 443) == "[2001:db8::1]:443"
    assert fmt.endpoint("10.0.0.1", np.uint16(8080)) == "10.0.0.1:8080"


def test_utc_has_microseconds_and_no_zone() -> None:
    assert fmt.utc(1_700_000_000_123_456_000) == "2023-11-14 22:13:20.123456"


def test_duration_for_table_cells() -> None:
    assert [fmt.duration(s) for s in (0, 0.0000042, 0.25, 3.5, 61, 3725, -0.25)] == [
        "0s",
        "4us",
        "250.0ms",
        "3.50s",
        "1m01s",
        "1h02m05s",
        "-250.0ms",
    ]


def test_span_for_prose() -> None:
    assert [fmt.span(s) for s in (0.0125, 119.9994, 150, 7300)] == [
        "0.013 s",
        "119.999 s",
        "2.5 min",
        "2.0 h",
    ]


def test_gap_three_significant_digits() -> None:
    assert [fmt.gap(s) for s in (0.0123456, 0.2, 1.6, 12.0)] == [
        "12.3 ms",
        "0.2 s",
        "1.6 s",
        "12 s",
    ]


def test_byte_count_decimal_units() -> None:
    assert [fmt.byte_count(n) for n in (0, 999, 1000, 1_234_567, 5_000_000_000)] == [
        "0B",
        "999B",
        "1.0kB",
        "1.2MB",
        "5.0GB",
    ]


def test_counts_are_said_in_the_singular_for_one() -> None:
    from pcapline.fmt import capture_quality, counted

    assert (counted(1, "ACK"), counted(0, "gap"), counted(1024, "frame")) == (
        "1 ACK",
        "0 gaps",
        "1,024 frames",
    )
    line = capture_quality(
        {
            "lossy_connections": 1,
            "acked_unseen": 1,
            "segments_not_captured": 1,
            "first_missing_frames": [7],
            "one_sided_connections": 1,
            "frames_cut_by_snaplen": 1,
        }
    )
    assert line.startswith(
        "segments missing at the capture point in 1 connection (1 ACK of bytes never captured, "
        "1 gap never filled; first at frame 7)"
    )
    assert "1 connection captured in one direction" in line
    assert "1 frame cut short" in line
