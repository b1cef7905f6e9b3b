"""Injected RST: the RST that ended the connection came from a box on the path.

Reads the close detector's hints (``Close.injected_hints``: a RST whose TTL / hop limit lies
outside the claimed sender's own range, or whose IPv4 ID breaks the sender's per-connection
counter; ``detect/close.py`` says which false positives it rules out). Named when the RST that
ended a ``reset`` is one shown by its TTL / hop limit (``Close.injected_by_ttl``): a host
starts all its packets with one TTL and the path takes the same hops off them, while an IP ID
jump alone also comes from the same host's other ID generators (a weaker sign: the hint event
still says it).
"""

from __future__ import annotations

from pcapline.evidence import Evidence
from pcapline.model import Cause, Decision, Fate


def recognise(e: Evidence, d: Decision) -> Cause | None:
    reset = e.close.ending_reset
    if d.fate is Fate.RESET and reset is not None and reset.frame in e.close.injected_by_ttl:
        return Cause.INJECTED_RST
    return None


__all__ = ["recognise"]
