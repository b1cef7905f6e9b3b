"""sample_captures/README.md: one table row per capture, rebuilt from the expected files."""

from __future__ import annotations

import json
from pathlib import Path

HEADER = """# Sample captures

Real Linux TCP captured in network namespaces by `tools/samplegen` (run as root:
`python -m tools.samplegen [--only NAME ...]`). Next to each capture, `<stem>.expected.json`
holds the expected result **known from how the scenario was built** (socket calls, sysctls,
nft drops and the kernel rule that turns them into packets), never from reading the capture.

Expected-file keys: `capture`, `scenario`, `captured_at` (client | server | router | any),
`kernel`, `settings`, `capture_format`, `connections[]` (`match` by `client_port`, or by
`index` = position in first-packet order, which is Wireshark's `tcp.stream`; `fate`, `closer`,
`reset_by`, `counts` with only the counts known from the scenario - an int, or
`{"min": a, "max": b}` with null for an open end - `inferred`, `note`), `connection_count`,
`notes`, `observed_by_sockets` (what the socket API itself reported: errno and timing),
`derived_from` for files rewritten from another capture instead of captured, and
`known_tshark_differences` where Wireshark groups packets differently from the truth
(explained in `notes`). `tools/samplegen/sanity.py` reads each capture back with tshark after
generation, only to catch a run whose timing went wrong; it never writes expectations.

Subfolders (such as `nat/`) come from other generators and carry their own README.

| file | scenario | captured at | expected fate(s) |
| --- | --- | --- | --- |
"""


def _fates(conns: list[dict[str, object]]) -> str:
    seen: dict[str, int] = {}
    for c in conns:
        fate = str(c["fate"])
        seen[fate] = seen.get(fate, 0) + 1
    return ", ".join(f"{f} x{n}" if n > 1 else f for f, n in seen.items())


def write_index(out: Path) -> Path:
    rows = []
    for path in sorted(out.glob("*.expected.json")):
        data = json.loads(path.read_text())
        where = data["captured_at"] + (" (derived)" if data.get("derived_from") else "")
        scenario = str(data["scenario"]).replace("|", "/")
        rows.append(f"| `{data['capture']}` | {scenario} | {where} | {_fates(data['connections'])} |")
    readme = out / "README.md"
    readme.write_text(HEADER + "\n".join(rows) + "\n")
    return readme
