"""The HTML report's "Inferred settings" say the keys in words, times with their unit."""

from __future__ import annotations

from pcapline.render.html import inferred_words


def test_inferred_keys_read_as_words() -> None:
    inferred = {
        "rtt_ms": 0.048,
        "super_segments": 66,
        "syn": {
            "times": [0.0, 1.008, 3.024],
            "schedule": "doubling from 1 s",
            "retries": 2,
            "gave_up": None,
            "give_up_s": 7.056,
        },
        "keepalive": {"idle": 2.004, "interval": 1.024, "count": 3, "by": "client"},
        "reset": {"by": "client", "state": "established", "idle_s": 1.024},
        "zero_window": {"stalled_s": 4.47, "probes": 3, "recovered": True},
    }
    assert inferred_words(inferred) == [
        ("Round trip", "0.048 ms"),
        ("Segments larger than the MSS (TSO/GRO, captured on the sender)", "66"),
        ("SYN sent at (from the first)", "0, 1.008, 3.024 s"),
        ("SYN schedule", "doubling from 1 s"),
        ("SYN retries", "2"),
        (
            "SYN gave up",
            "not seen (answered, or the capture ended before the next retry was due)",
        ),
        ("SYN gives up at (from the first)", "7.056 s"),
        ("Keepalive idle (TCP_KEEPIDLE)", "2.004 s"),
        ("Keepalive interval (TCP_KEEPINTVL)", "1.024 s"),
        ("Keepalive probes (TCP_KEEPCNT)", "3"),
        ("Keepalive probes sent by", "client"),
        ("Reset by", "client"),
        ("Reset while", "established"),
        ("Idle before the reset", "1.024 s"),
        ("Zero window stalled", "4.47 s"),
        ("Zero window probes", "3"),
        ("Zero window recovered", "yes"),
    ]


def test_a_key_without_words_keeps_its_name() -> None:
    assert inferred_words({"new_thing": {"some_key": 1}}) == [("New thing some key", "1")]
