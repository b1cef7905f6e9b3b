"""tests/captures/*.pcap are exactly what their generators in builders/captures.py write.

The files are committed so a reader can open them in Wireshark; this test keeps them honest
(regenerate with ``cd tests && python -m builders.captures`` after changing a generator) and
fails on a capture without a generator or a README entry.
"""

from __future__ import annotations

import pytest
from builders.captures import CAPTURES, GENERATORS


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_committed_capture_matches_its_generator(name: str) -> None:
    assert (CAPTURES / name).read_bytes() == GENERATORS[name](), (
        f"tests/captures/{name} is stale: cd tests && python -m builders.captures"
    )


def test_every_capture_has_a_generator_and_a_readme_entry() -> None:
    on_disk = {p.name for p in CAPTURES.glob("*.pcap")}
    assert on_disk == set(GENERATORS)
    readme = (CAPTURES / "README.md").read_text()
    assert [n for n in sorted(on_disk) if f"`{n}`" not in readme] == []
