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
`{"min": a, "max": b}` with null for an open end - `inferred`, `note`, and where the scenario
made a cause: `cause` (the `connections[].cause` value, null when none may be claimed) and
`explains`, words its explanation must hold), `connection_count`,
`notes`, `observed_by_sockets` (what the socket API itself reported: errno and timing),
`derived_from` for files rewritten from another capture instead of captured,
`findings` (the cross-connection finding kinds expected, only where known; `[]` = none), and
`known_tshark_differences` where Wireshark groups packets differently from the truth
(explained in `notes`). `tools/samplegen/sanity.py` reads each capture back with tshark after
generation, only to catch a run whose timing went wrong; it never writes expectations.

Subfolders (such as `nat/`) come from other generators and carry their own README.

Regenerating all (about 100 s on 2 cores, scenarios run in parallel, each in its own `pls-*`
namespaces, deleted afterwards) rewrites these files; a scenario whose read-back differs from
its intent is re-run once and reported. Limits of the machine these were made on: no netem
(delay comes from tbf queueing, loss from `nft ... numgen random`), and no VLAN, ipip or GRE
devices, VLAN-filtering bridge or tc filters, so the 802.1Q / QinQ tags and the raw-IP (tun)
link come from a small userspace forwarder (`tools/samplegen/wire.py`) carrying the
endpoints' real kernel traffic. BSD NULL cannot be captured on Linux: that file is derived.

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
        rows.append(
            f"| `{data['capture']}` | {scenario} | {where} | {_fates(data['connections'])} |"
        )
    readme = out / "README.md"
    readme.write_text(HEADER + "\n".join(rows) + "\n")
    return readme
