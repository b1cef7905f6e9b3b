"""The expected result of a capture, known from how its scenario was BUILT.

Nothing here is read back from the capture: fates, closers and counts follow from the
socket calls, sysctls and nft rules the scenario used, plus the kernel rule that turns
them into packets (named in each note). Where a value depends on timing the scenario
cannot pin (RTO from a measured RTT, a race between two timers), it is a bound
``{"min": a, "max": b}`` (either end may be null) and the note says why.

File layout (``sample_captures/``): ``<stem>.<ext>`` and ``<stem>.expected.json``, where
``stem`` is the file name up to the first ``.pcap`` (``keepalive-x.pcap.gz`` -> ``keepalive-x``).
"""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pcapline.model import Counts, Fate

CountValue = int | dict[str, int | None]
Where = Literal["client", "server", "router", "any"]

#: The contract's vocabularies, from the shared model (DESIGN.md "Fates" and "counts").
COUNT_KEYS: tuple[str, ...] = tuple(Counts.__dataclass_fields__)
FATES: tuple[str, ...] = tuple(f.value for f in Fate)

#: capture_format of a plain ``tcpdump -i eth0`` capture (default snaplen).
ETHERNET: dict[str, Any] = {
    "format": "pcap",
    "link_type": "EN10MB",
    "tool": "tcpdump",
    "snaplen": 262144,
}

#: capture_format of ``tcpdump -i any`` (Linux cooked v2: every interface of the namespace).
ANY_SLL2: dict[str, Any] = {
    "format": "pcap",
    "link_type": "LINUX_SLL2",
    "tool": "tcpdump -i any",
    "snaplen": 262144,
}

#: capture_format of ``tcpdump -i tun0 -s 96`` (headers only, so the sample folder stays
#: small): the tun links whose relay delays packets (scenarios/linktypes.py ``tun_pair``).
TUN_HEADERS: dict[str, Any] = {
    "format": "pcap",
    "link_type": "RAW",
    "tool": "tcpdump -i tun0 -s 96",
    "snaplen": 96,
}

#: Counts of a clean exchange on a lossless veth: nothing is ever retransmitted or probed.
CLEAN: dict[str, CountValue] = {key: 0 for key in COUNT_KEYS}


def clean(**changed: CountValue) -> dict[str, CountValue]:
    """The clean counts with some changed: ``clean(resets=1)``, ``clean(retransmits=bound(3, 5))``."""
    unknown = set(changed) - set(COUNT_KEYS)
    assert not unknown, unknown
    return {**CLEAN, **changed}


def bound(lo: int | None = None, hi: int | None = None) -> dict[str, int | None]:
    return {"min": lo, "max": hi}


def bound_s(lo: float | None = None, hi: float | None = None) -> dict[str, float | None]:
    """A bound on a measure in seconds (a floor from how the scenario paced things)."""
    return {"min": lo, "max": hi}


def stem_of(capture_name: str) -> str:
    return capture_name.split(".pcap", 1)[0]


@dataclass
class Conn:
    """Expectation for one connection, matched by client port or by index (== tcp.stream order)."""

    match: dict[str, int]
    fate: str
    closer: str | None = None
    reset_by: str | None = None
    counts: dict[str, CountValue] = field(default_factory=dict)
    inferred: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    #: Expected ``delays`` keys (seconds within the kernel's timer tolerance) and ``slow`` tags,
    #: when the scenario was built to show them; written only when set.
    delays: dict[str, Any] = field(default_factory=dict)
    slow: list[str] | None = None
    #: Expected ``app`` object (protocol and its tls/http fields; ``frame`` is not known in
    #: advance), when the scenario made TLS or HTTP traffic; written only when set.
    app: dict[str, Any] | None = None
    #: The cause (``model.CAUSES`` key) the scenario built, and words its explanation must
    #: hold (the cause, times, settings, what to check); written only when set.
    cause: str | None = None
    #: True when ``cause`` None is itself the expectation (a capture point that cannot show
    #: the cause its scenario built): the file then says ``"cause": null``.
    no_cause: bool = False
    explanation_keywords: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        assert self.fate in FATES, self.fate
        assert set(self.counts) <= set(COUNT_KEYS), self.counts
        return {
            "match": self.match,
            "fate": self.fate,
            "closer": self.closer,
            "reset_by": self.reset_by,
            "counts": self.counts,
            "inferred": self.inferred,
            "note": self.note,
            **({"delays": self.delays} if self.delays else {}),
            **({"slow": self.slow} if self.slow is not None else {}),
            **({"app": self.app} if self.app is not None else {}),
            **({"cause": self.cause} if self.cause is not None or self.no_cause else {}),
            **(
                {"explanation_keywords": self.explanation_keywords}
                if self.explanation_keywords
                else {}
            ),
        }


@dataclass
class Expected:
    capture: str
    scenario: str
    captured_at: Where
    settings: dict[str, Any]
    connections: list[Conn]
    notes: str = ""
    capture_format: dict[str, Any] = field(default_factory=dict)  # link type, snaplen, precision...
    observed_by_sockets: list[str] = field(default_factory=list)  # what the socket API reported
    derived_from: str | None = None  # set when the file was rewritten, not captured
    connection_count: int | None = None  # defaults to len(connections)
    # Sanity-check lines (tools/samplegen/sanity.py) that differ because tshark groups or flags
    # packets differently from the truth written here; each is explained in ``notes``.
    known_tshark_differences: list[str] = field(default_factory=list)
    # Cross-connection findings expected (kinds), when known; None = not specified.
    findings: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "capture": self.capture,
            "scenario": self.scenario,
            "captured_at": self.captured_at,
            "kernel": platform.release(),
            "settings": self.settings,
            "capture_format": self.capture_format,
            "connections": [c.to_dict() for c in self.connections],
            "connection_count": self.connection_count
            if self.connection_count is not None
            else len(self.connections),
            "notes": self.notes,
            "observed_by_sockets": self.observed_by_sockets,
        }
        if self.derived_from is not None:
            out["derived_from"] = self.derived_from
        if self.findings is not None:
            out["findings"] = self.findings
        if self.known_tshark_differences:
            out["known_tshark_differences"] = self.known_tshark_differences
        return out

    def write(self, out_dir: Path) -> Path:
        path = out_dir / f"{stem_of(self.capture)}.expected.json"
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path
