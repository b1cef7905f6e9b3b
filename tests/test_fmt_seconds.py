"""fmt.seconds: a time under 1 ms is said in microseconds, never "0 ms"."""

from pcapline.fmt import seconds


def test_times_under_a_millisecond_are_not_zero_ms() -> None:
    assert seconds(0.00042) == "420 us"
    assert seconds(0.000042) == "42 us"
    assert seconds(0.0000002) == "under 1 us"
    assert seconds(0.0) == "0 s"
    assert seconds(None) == "?"


def test_a_value_that_rounds_up_is_said_in_the_next_unit() -> None:
    assert seconds(0.0009996) == "1 ms"
    assert seconds(0.9996) == "1 s"
    assert (seconds(0.04), seconds(1.234), seconds(15.4)) == ("40 ms", "1.23 s", "15 s")
