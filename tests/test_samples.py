"""Every committed real-kernel sample capture against its expected verdicts.

``sample_captures/**/NAME.expected.json`` says, per connection (matched by client port or by
index = Wireshark tcp.stream), the fate, closer, reset_by, counts (exact or {"min", "max"}),
inferred settings, and where the scenario made one the cause and the words its explanation
must hold (``cause``, ``explains``), known from how the scenario was built. This test asserts our analysis
agrees on every one of them.

The sample generator names inferred settings its own way; ``INFERRED_KEYS`` maps them to
our documented ``inferred`` keys (explain.inferred) with the tolerance each one needs
(timer jitter on a loaded 2-core machine).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import analysed
import pytest

SAMPLES = Path(__file__).resolve().parent.parent / "sample_captures"
EXPECTED = sorted(SAMPLES.rglob("*.expected.json"))


def _capture_for(expected: Path) -> Path | None:
    doc = json.loads(expected.read_text())
    name = doc.get("capture")
    if name and (expected.parent / name).exists():
        return expected.parent / name
    stem = expected.name.removesuffix(".expected.json")
    found = [p for p in expected.parent.glob(stem + ".*") if not p.name.endswith(".json")]
    return found[0] if found else None


def _seconds_close(actual: Any, expected: float, *, rel: float = 0.1, floor: float = 0.15) -> bool:
    return actual is not None and abs(float(actual) - float(expected)) <= max(
        floor, rel * abs(expected)
    )


def _check_series(ours: dict[str, Any] | None, theirs: dict[str, Any]) -> list[str]:
    if ours is None:
        return ["missing"]
    problems = []
    if "send_times_s" in theirs:
        times = ours.get("times", [])
        if len(times) != len(theirs["send_times_s"]) or not all(
            _seconds_close(a, b) for a, b in zip(times, theirs["send_times_s"], strict=False)
        ):
            problems.append(f"times {times} != {theirs['send_times_s']}")
    if "shape" in theirs and not str(ours.get("schedule", "")).startswith(theirs["shape"]):
        problems.append(f"schedule {ours.get('schedule')!r} is not {theirs['shape']!r}")
    if "give_up_s" in theirs and not _seconds_close(
        ours.get("give_up_s"), theirs["give_up_s"], rel=0.15
    ):
        problems.append(f"give_up_s {ours.get('give_up_s')} != {theirs['give_up_s']}")
    return problems


def _check_keepalive(ours: dict[str, Any] | None, theirs: dict[str, Any]) -> list[str]:
    if ours is None:
        return ["missing"]
    problems = []
    for key in ("idle", "interval"):
        want = theirs.get(key)
        got = ours.get(key)
        if (want is None) != (got is None) or (want is not None and not _seconds_close(got, want)):
            problems.append(f"{key} {got} != {want}")
    if ours.get("count") != theirs.get("count"):
        problems.append(f"count {ours.get('count')} != {theirs.get('count')}")
    return problems


def _check_rto_give_up(inferred: dict[str, Any], want: float) -> list[str]:
    """The kernel gave up ``want`` s after the first transmission. A pcap ends at its last
    packet, so a silent abort after the last retransmission is in no capture: pcapline names a
    give-up time only when the capture shows one (its RST, silence past the next RTO) or the
    series reached tcp_retries2's default limit. A time it names must be the kernel's; naming
    none is right only when it did not see the sender give up."""
    rto = inferred.get("rto") or {}
    got = rto.get("give_up_s")
    if got is None:
        return [] if rto.get("gave_up") is not True else ["gave_up seen but give_up_s null"]
    return [] if _seconds_close(got, want, rel=0.15) else [f"rto.give_up_s {got} != {want}"]


def _check_user_timeout(inferred: dict[str, Any], want: float) -> list[str]:
    """A user timeout ends the backoff no later than the next RTO: a bound we name must allow
    ``want`` (none named: the capture cannot show the abort, ``_check_rto_give_up``)."""
    rto = inferred.get("rto") or {}
    latest = rto.get("give_up_s")
    if latest is not None and latest + 0.15 < want:
        return [f"rto.give_up_s {latest} cannot be a bound for a {want} s user timeout"]
    return []


#: Expected-file inferred key -> how to check it against our ``inferred`` dict.
INFERRED_KEYS: dict[str, Callable[[dict[str, Any], Any], list[str]]] = {
    "syn_schedule": lambda ours, want: _check_series(ours.get("syn"), want),
    "synack_schedule": lambda ours, want: _check_series(ours.get("synack"), want),
    "keepalive": lambda ours, want: _check_keepalive(ours.get("keepalive"), want),
    "give_up_after_s": _check_rto_give_up,
    "user_timeout_s": _check_user_timeout,
    "spurious_rtos_min": lambda ours, want: (
        []
        if ours.get("spurious_rtos", 0) >= want
        else [f"spurious_rtos {ours.get('spurious_rtos')} < {want}"]
    ),
    "syn_forwarded_hops": lambda ours, want: (
        []
        if ours.get("syn_forwarded_hops") == want
        else [f"syn_forwarded_hops {ours.get('syn_forwarded_hops')} != {want}"]
    ),
    "captured_twice_min": lambda ours, want: (
        []
        if ours.get("duplicates", 0) >= want
        else [f"duplicates {ours.get('duplicates')} < {want}"]
    ),
}


#: Cases where the expected truth differs from pcapline's connection grouping, not from its
#: judgement. ``flows`` follows Wireshark 4.0's tcp.stream rule (a segment belongs to the
#: newest conversation of its 4-tuple), while the truth assigns by sequence space. Strict:
#: when flows learns sequence-space assignment these start passing and must be removed.
FLOWS_GROUPING: dict[str, str] = {}
# (stale-peer-challenge-ack: flows still groups A's challenge ACK and client RST into stream 1,
# as Wireshark 4.0 does; classify.stale_peer_resets gives A that RST as evidence by its
# sequence number, the stale_peer_reset rule decides A's fate and the RST counts in A, so both
# connections now match the truth.)


#: Cases where pcapline's judgement differs from what the scenario built, pinned until it is
#: settled (strict: a fix makes them pass and they must be removed). The reason says which.
PCAPLINE_DIFFERS: dict[str, str] = {}


def _cases() -> list[Any]:
    cases = []
    for expected in EXPECTED:
        doc = json.loads(expected.read_text())
        if doc.get("crafted"):
            continue  # crafted captures prove findings, not fates (their own tests)
        for i, conn in enumerate(doc.get("connections", [])):
            if "fate" not in conn:
                continue
            match = conn.get("match", {})
            label = (
                f"{expected.name.removesuffix('.expected.json')}-"
                + "-".join(f"{k}{v}" for k, v in match.items())
                if match
                else f"{expected.name}-{i}"
            )
            marks = []
            if label in FLOWS_GROUPING:
                marks.append(pytest.mark.xfail(reason=FLOWS_GROUPING[label], strict=True))
            if label in PCAPLINE_DIFFERS:
                marks.append(pytest.mark.xfail(reason=PCAPLINE_DIFFERS[label], strict=True))
            cases.append(pytest.param(expected, conn, id=label, marks=marks))
    return cases


def _check_delays(analysis: Any, conn: int, want: dict[str, Any]) -> list[str]:
    """Expected ``delays`` (seconds within the kernel's timer tolerance, counts exact, gap
    lists element by element) and ``slow`` tags (exact set), when the scenario states them."""
    problems: list[str] = []
    if "delays" not in want and "slow" not in want:
        return problems
    ours = analysis.delays[conn].as_dict()
    for key, spec in (want.get("delays") or {}).items():
        got = ours[key]
        if isinstance(spec, dict):  # a bound: {"min": a, "max": b}, either end null
            low, high = spec.get("min"), spec.get("max")
            if got is None or (low is not None and got < low) or (high is not None and got > high):
                problems.append(f"delays {key}: {got} outside {spec}")
        elif isinstance(spec, list):
            if len(got) != len(spec) or not all(
                _seconds_close(g, w) for g, w in zip(got, spec, strict=True)
            ):
                problems.append(f"delays {key}: {got} != {spec}")
        elif spec is None or isinstance(spec, str):  # a word (response_judged) or null
            if got != spec:
                problems.append(f"delays {key}: {got!r} != {spec!r}")
        elif isinstance(spec, int) and not key.endswith("_s"):
            if got != spec:
                problems.append(f"delays {key}: {got} != {spec}")
        elif not _seconds_close(got, spec):
            problems.append(f"delays {key}: {got} not close to {spec}")
    if "slow" in want:
        tags = sorted(str(t) for t in analysis.delays[conn].slow)
        if tags != sorted(want["slow"]):
            problems.append(f"slow: {tags} != {sorted(want['slow'])}")
    return problems


def _check_cause(row: Any, want: dict[str, Any]) -> list[str]:
    """The expected ``cause`` (when the scenario built one; a capture point that cannot show it
    expects none: absent means null) and the words its explanation must hold."""
    problems = []
    named = "cause" in want or "explanation_keywords" in want
    if named and row["cause"] != want.get("cause"):
        problems.append(f"cause: {row['cause']!r} != {want.get('cause')!r}")
    for word in want.get("explanation_keywords", []):
        if word not in row["explanation"]:
            problems.append(f"explanation lacks {word!r}")
    return problems


def _check_app(ours: dict[str, Any] | None, want: dict[str, Any]) -> list[str]:
    """The ``app`` object against the expected one (every key the scenario wrote; the frame
    is not known in advance)."""
    if ours is None:
        return ["app: null, expected " + str(want)]
    return [
        f"app {key}: {ours.get(key)!r} != {value!r}"
        for key, value in want.items()
        if ours.get(key) != value
    ]


def _analysis(capture: Path) -> Any:
    return analysed.whole(capture)


@pytest.mark.skipif(not EXPECTED, reason="no sample captures")
@pytest.mark.parametrize(("expected", "want"), _cases())
def test_sample_connection(expected: Path, want: dict[str, Any]) -> None:
    capture = _capture_for(expected)
    assert capture is not None, f"no capture next to {expected.name}"
    conns = _analysis(capture).connections
    match = want.get("match", {})
    if "client_port" in match:
        rows = conns[conns["client_port"] == match["client_port"]]
        assert len(rows) == 1, f"{len(rows)} connections with client port {match['client_port']}"
    else:
        rows = conns[conns["id"] == match.get("index", 0)]
        assert len(rows) == 1
    row = rows.iloc[0]
    problems = []
    for key in ("fate", "closer", "reset_by"):
        if key in want:
            got = row[key] if isinstance(row[key], str) else None
            if got != want[key]:
                problems.append(f"{key}: {got!r} != {want[key]!r}")
    for name, spec in (want.get("counts") or {}).items():
        got = int(row[name])
        if isinstance(spec, dict):
            low, high = spec.get("min"), spec.get("max")
            if (low is not None and got < low) or (high is not None and got > high):
                problems.append(f"{name}: {got} not in [{low}, {high}]")
        elif got != spec:
            problems.append(f"{name}: {got} != {spec}")
    problems += _check_delays(_analysis(capture), int(row["id"]), want)
    if "app" in want:
        problems += _check_app(row["app"], want["app"])
    problems += _check_cause(row, want)
    for key, spec in (want.get("inferred") or {}).items():
        check = INFERRED_KEYS.get(key)
        assert check is not None, f"unknown expected inferred key {key!r}: map it in INFERRED_KEYS"
        problems += [f"inferred {key}: {p}" for p in check(row["inferred"], spec)]
    assert not problems, f"{row['explanation']}\n" + "\n".join(problems)
