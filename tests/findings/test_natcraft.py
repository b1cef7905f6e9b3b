"""tools/natcraft.py is deterministic: regenerating gives the committed crafted captures byte for byte."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NAT = ROOT / "sample_captures" / "nat"


def test_regenerated_captures_match_the_committed_ones(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "tools" / "natcraft.py"), str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    made = sorted(p.name for p in tmp_path.iterdir())
    assert made == sorted(p.name for p in NAT.iterdir() if p.suffix in (".pcap", ".json"))
    for name in made:
        assert (tmp_path / name).read_bytes() == (NAT / name).read_bytes(), name
