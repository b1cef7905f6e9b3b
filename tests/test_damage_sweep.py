"""A representative slice of the metamorphic sweep (tools/damage_sweep.py): real-kernel samples
damaged the ways captures are (cut at the head, ``-i any`` timestamps, bare ACKs filtered,
snaplen cuts, tap loss, one direction missing) never get a ``proven`` verdict that contradicts
the whole capture's, nor crash the analysis, the HTML report or the timeline, and ``--jobs 2``
over partitions writes the same JSON. The whole sweep (every sample, every damage) runs from
the command line: ``python tools/damage_sweep.py --out DIR``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import damage_sweep  # noqa: E402

SAMPLES = ROOT / "sample_captures"
CASES = [
    ("app-gave-up-3s-at-server", ("head-50",)),
    ("keepalive-server-idle2-intvl1-cnt2", ("no-bare-acks", "loss-5-s2", "rst-lost-went-on")),
    ("retransmit-timeout-router-drop-router-any", ("jitter", "jitter-s2", "snap-54")),
    ("linktype-sll2-any", ("jitter-s2", "no-server")),
]


@pytest.mark.slow
@pytest.mark.parametrize(("sample", "variants"), CASES)
def test_damaged_captures_claim_no_more_than_they_show(
    sample: str, variants: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(damage_sweep, "VARIANTS", {v: damage_sweep.VARIANTS[v] for v in variants})
    path = SAMPLES / f"{sample}.pcap"
    flags = list(damage_sweep.sweep_one(path, tmp_path, jobs_check=True, renders=True))
    assert [f.line() for f in flags if f.kind != "read-correctly"] == []
