"""pcapline: the life of every TCP connection in a packet capture, and how it ended.

The public API is what ``__all__`` lists (a test pins it)::

    import pcapline
    a = pcapline.analyze("capture.pcapng")
    a.connections            # pandas DataFrame, one row per connection (model.CONNECTION_COLUMNS)
    a.events                 # pandas DataFrame (model.EVENT_COLUMNS)
    a.findings               # list[Finding]
    a.verdicts[3]            # Verdict of connection 3: fate, closer, counts, Explanation
    a.delays[3]              # delays.Delays of connection 3: connect time, stalls, slow tags
    a.to_json(); a.to_html()

Unusable input raises ``pcapline.CaptureError`` (a ``pcapline.PcaplineError``, whose message is
one line); damaged input that still holds frames is analysed and carries ``capture.warnings``.

The names are loaded on first use (PEP 562), so ``import pcapline`` and ``pcapline --help``
stay fast and do not pull in pandas and the whole pipeline.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "Analysis",
    "CaptureError",
    "CaptureInfo",
    "EventKind",
    "Explanation",
    "Fate",
    "Finding",
    "PcaplineError",
    "Side",
    "SkipReason",
    "SlowTag",
    "SlowThresholds",
    "Verdict",
    "__version__",
    "analyze",
]

if TYPE_CHECKING:
    from pcapline.analysis import Analysis, analyze
    from pcapline.errors import CaptureError, PcaplineError
    from pcapline.model import (
        CaptureInfo,
        EventKind,
        Explanation,
        Fate,
        Finding,
        Side,
        SkipReason,
        SlowTag,
        SlowThresholds,
        Verdict,
    )

#: Every public name but ``__version__``, by the module that defines it: loaded on first use,
#: so that ``import pcapline`` costs nothing (the console command starts by importing it,
#: before ``startup`` can turn a signal into one line).
_LAZY = {
    "analyze": "analysis",
    "Analysis": "analysis",
    "CaptureError": "errors",
    "PcaplineError": "errors",
    **{
        name: "model"
        for name in (
            "CaptureInfo",
            "EventKind",
            "Explanation",
            "Fate",
            "Finding",
            "Side",
            "SkipReason",
            "SlowTag",
            "SlowThresholds",
            "Verdict",
        )
    },
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pcapline' has no attribute {name!r}")
    return getattr(importlib.import_module(f"pcapline.{module}"), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
