"""listeners.py: which SYN+ACK series count, and how partitions add up.

The verdicts that read it are proven on a real kernel's capture
(sample_captures/syn-filter-handshakes-acked-unseen-at-server, test_samples.py) and pinned
on crafted tables in test_classify.py.
"""

from __future__ import annotations

import itertools

from pcapline.detect._backoff import name_schedule
from pcapline.detect.handshake import RetrySeries
from pcapline.listeners import ListenerRetries, resent_twice, stopped_short


def _series(times: tuple[float, ...], *, gave_up: bool | None, timed: bool = True) -> RetrySeries:
    gaps = [b - a for a, b in itertools.pairwise(times)]
    return RetrySeries(
        times=times,
        frames=tuple(range(1, len(times) + 1)),
        schedule=name_schedule(gaps),
        retries=len(times) - 1,
        gave_up=gave_up,
        give_up_after_s=None,
        timed=timed,
    )


def test_a_series_stops_short_only_after_one_timed_resend_at_1s_with_the_capture_going_on() -> None:
    assert stopped_short(_series((0.0, 1.0), gave_up=True))
    assert not stopped_short(_series((0.0, 1.0), gave_up=None))  # the capture ended first
    assert not stopped_short(_series((0.0, 1.0), gave_up=True, timed=False))  # a resent SYN's
    assert not stopped_short(_series((0.0, 0.3), gave_up=True))  # no request timer's gap
    assert not stopped_short(_series((0.0, 1.0, 3.0), gave_up=True))  # two: at or past 2
    assert not stopped_short(_series((0.0,), gave_up=True))  # sent once: a cookie looks so


def test_twice_is_two_timed_resends() -> None:
    assert resent_twice(_series((0.0, 1.0, 3.0), gave_up=True))
    assert not resent_twice(_series((0.0, 1.0), gave_up=True))
    assert not resent_twice(_series((0.0, 1.0, 3.0), gave_up=True, timed=False))


def test_partitions_add_up_to_the_listener() -> None:
    a, b = ListenerRetries(2, twice=True), ListenerRetries(1, stopped_short=True)
    assert not a.acks_unseen and not b.acks_unseen
    assert a + b == ListenerRetries(3, True, True)
    assert (a + b).acks_unseen
