"""The scan's aggregate outputs: terminal table, ``pcapline-scan/1`` JSON, CSV and one HTML page.

Everything is sorted by capture path and leaves out run-dependent values (timings, worker
count), so a local scan and a Dask scan of the same captures render byte-identically.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Sequence
from typing import Any

from jinja2 import Environment
from markupsafe import Markup

from pcapline.fmt import csv_text, printable
from pcapline.model import SCAN_SCHEMA, Fate, SkipReason
from pcapline.scan.run import CaptureSummary

FATE_ORDER: tuple[str, ...] = tuple(f.value for f in Fate)


def document(captures: Sequence[CaptureSummary]) -> dict[str, Any]:
    """``{"schema": "pcapline-scan/1", "captures": [...], "findings": [...]}`` (README "Batch scan")."""
    return {
        "schema": SCAN_SCHEMA,
        "captures": [c.to_dict() for c in captures],
        "findings": [{"capture": c.path, **f} for c in captures for f in c.findings],
    }


def conns_text(c: CaptureSummary) -> str:
    """The connections count, with the streams that are NAT copies of others said apart."""
    return f"{c.connections} ({c.nat_copies} NAT copies)" if c.nat_copies else str(c.connections)


def fates_text(c: CaptureSummary) -> str:
    """Connections per fate, a scanner's or health check's probes said apart: "5 reset (5
    probes), 1 closed"."""
    return ", ".join(_fate_text(c, f) for f in FATE_ORDER if c.fates.get(f))


def _fate_text(c: CaptureSummary, fate: str) -> str:
    probes = c.probes.get(fate, 0)
    return f"{c.fates[fate]} {fate}" + (f" ({probes} probes)" if probes else "")


def findings_text(findings: Sequence[dict[str, Any]]) -> str:
    kinds = Counter(str(f.get("kind")) for f in findings)
    return ", ".join(f"{n} {kind}" if n > 1 else kind for kind, n in sorted(kinds.items()))


def quality_text(c: CaptureSummary) -> str:
    """What a capture row must not hide, in short words: ``truncated; unsupported link (1,333
    frames); one-sided 3; lossy 2; flag-filtered; 2 warnings`` ("" for a clean capture), so
    "1,333 frames, 0 connections" never looks healthy."""
    parts = []
    if c.skipped.get(SkipReason.TRUNCATED_RECORD.value):
        parts.append("truncated")
    unsupported = c.skipped.get(SkipReason.UNSUPPORTED_LINK.value, 0)
    if unsupported:
        parts.append(f"unsupported link ({unsupported:,} frames)")
    if c.frames and not c.tcp_frames and not unsupported:
        parts.append("no TCP")
    q = c.quality or {}
    if q.get("one_sided_connections"):
        parts.append(f"one-sided {int(q['one_sided_connections']):,}")
    if q.get("lossy_connections"):
        parts.append(f"lossy {int(q['lossy_connections']):,}")
    if q.get("flag_filtered"):
        parts.append("flag-filtered")
    if q.get("acks_filtered"):
        parts.append("no bare ACK (filtered)")
    if q.get("mid_stream_connections"):
        parts.append(f"mid-stream {int(q['mid_stream_connections']):,}")
    if c.warnings:
        parts.append(f"{len(c.warnings)} warning{'s' if len(c.warnings) != 1 else ''}")
    return "; ".join(parts)


def text(captures: Sequence[CaptureSummary], *, width: int = 120, color: bool = False) -> str:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=None, show_lines=False, expand=False)
    for name, justify in (
        ("capture", "left"),
        ("frames", "right"),
        ("conns", "right"),
        ("fates", "left"),
        ("slow", "right"),
        ("findings", "left"),
        ("quality", "left"),
    ):
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    # Cells are Text (never markup) and capture strings go through fmt.printable: a file
    # name holding "[red]" or an escape sequence is shown as written, and acts on nothing.
    for c in captures:
        path = Text(printable(c.path))
        if c.error:
            error = Text(f"error: {printable(c.error)}", style="red" if color else "")
            table.add_row(path, "", "", error, "", "", "")
        else:
            table.add_row(
                path,
                str(c.frames),
                conns_text(c),
                fates_text(c),
                str(c.slow_connections) if c.slow_connections else "",
                findings_text(c.findings),
                Text(quality_text(c), style="yellow" if color else ""),
            )
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=width,
        color_system="auto" if color else None,
        force_terminal=color,
        no_color=not color,
        highlight=False,
    )
    console.print(table, markup=color)
    errors = sum(1 for c in captures if c.error)
    total_findings = sum(len(c.findings) for c in captures)
    console.print(
        f"{len(captures)} capture(s), {errors} unreadable, {sum(c.connections for c in captures)} connection(s), "
        f"{total_findings} finding(s)",
        markup=False,
    )
    for c in captures:
        for warning in c.warnings:
            console.print(
                f"{printable(c.path)}: warning: {printable(warning)}", markup=False, soft_wrap=True
            )
    for c in captures:
        for f in c.findings:
            console.print(
                f"{printable(c.path)}: {f.get('kind')}: {printable(f.get('summary'))}",
                markup=False,
                soft_wrap=True,
            )
    return buffer.getvalue()


def to_csv(captures: Sequence[CaptureSummary]) -> str:
    """One row per capture: counts per fate as columns, finding kinds joined by ';', then the
    capture's quality (``quality_text``) and warnings (joined by " | "). Text cells have their
    control characters escaped (``fmt.printable``) and are neutralised against spreadsheet
    formula injection (``fmt.csv_text``)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        [
            "path",
            "frames",
            "connections",
            *FATE_ORDER,
            "findings",
            "finding_kinds",
            "error",
            "slow_connections",
            "slow_tags",
            "quality",
            "warnings",
        ]
    )
    for c in captures:
        kinds = ";".join(sorted({str(f.get("kind")) for f in c.findings}))
        writer.writerow(
            [
                _cell(c.path),
                c.frames,
                c.connections,
                *(c.fates.get(f, 0) for f in FATE_ORDER),
                len(c.findings),
                _cell(kinds),
                _cell(c.error or ""),
                c.slow_connections,
                ";".join(f"{tag}={n}" for tag, n in c.slow.items()),
                _cell(quality_text(c)),
                _cell(" | ".join(c.warnings)),
            ]
        )
    return buffer.getvalue()


def _cell(text: str) -> object:
    """A text cell: control characters written as escapes (a file name's ESC would reach a
    terminal the CSV is printed on), then neutralised against formula injection."""
    return csv_text(printable(text))


HTML_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>pcapline scan: {{ captures|length }} captures</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}
td.n{text-align:right}.err{color:#b00}.warn{color:#8a5a00}.finding{border-left:4px solid #c60;padding:.2em .8em;margin:.6em 0}
section{margin:1.5em 0;border-top:1px solid #ddd}code{background:#f4f4f4}
</style></head><body>
<h1>pcapline scan</h1>
<p>{{ captures|length }} capture(s), {{ errors }} unreadable, {{ connections }} connection(s),
{{ findings|length }} finding(s). Schema {{ schema }}.</p>
<table><thead><tr><th>capture</th><th>frames</th><th>connections</th><th>fates</th><th>slow</th><th>findings</th><th>quality</th></tr></thead><tbody>
{% for c in captures %}<tr><td><a href="#c{{ loop.index }}">{{ c.path }}</a></td>
{% if c.error %}<td colspan="6" class="err">error: {{ c.error }}</td>
{% else %}<td class="n">{{ c.frames }}</td><td class="n">{{ conns_text(c) }}</td><td>{{ fates_text(c) }}</td><td class="n">{{ c.slow_connections or "" }}</td><td>{{ findings_text(c.findings) }}</td><td class="warn">{{ quality_text(c) }}</td>{% endif %}</tr>
{% endfor %}</tbody></table>
{% for c in captures %}<section id="c{{ loop.index }}"><h2>{{ c.path }}</h2>
{% if c.error %}<p class="err">Not analysed: {{ c.error }}</p>{% else %}
<p>{{ c.frames }} frames, {{ c.connections }} connections{% if c.fates %}: {{ fates_text(c) }}{% endif %}.
Details: <code>pcapline report {{ c.path }} -o report.html</code></p>
{% for w in c.warnings %}<p class="warn">warning: {{ w }}</p>
{% endfor %}{% for f in c.findings %}<div class="finding"><strong>{{ f.kind }}</strong>: {{ f.summary }}
{% if f.connections %}<br>connections (Wireshark tcp.stream): {{ f.connections|join(", ") }}{% endif %}
{% if f.explanation %}<p>{{ f.explanation }}</p>{% endif %}</div>
{% endfor %}{% endif %}</section>
{% endfor %}</body></html>
"""


def _shown(value: object) -> object:
    """Every ``{{ ... }}`` of the scan page on its way out: text through ``fmt.printable``
    (then autoescaped), as the text table and ``report`` show it. A file name, or an error
    or warning quoting one, holding ESC or a bidi override (which shows what follows it
    reversed) reads ``\\x1b``, ``\\u202e`` wherever the template puts it."""
    if isinstance(value, Markup):  # already HTML (``join`` under autoescape): keep it so
        return Markup(printable(value))
    return printable(value) if isinstance(value, str) else value


def to_html(captures: Sequence[CaptureSummary]) -> str:
    env = Environment(autoescape=True, keep_trailing_newline=True, finalize=_shown)
    env.globals.update(
        conns_text=conns_text,
        fates_text=fates_text,
        findings_text=findings_text,
        quality_text=quality_text,
    )
    doc = document(captures)
    return env.from_string(HTML_TEMPLATE).render(
        captures=captures,
        findings=doc["findings"],
        errors=sum(1 for c in captures if c.error),
        connections=sum(c.connections for c in captures),
        schema=SCAN_SCHEMA,
    )


def matched(captures: Sequence[CaptureSummary], kinds: frozenset[str]) -> Counter[str]:
    """How many times each ``--fail-on`` name (a finding kind, a fate or a slow tag) occurs."""
    hits: Counter[str] = Counter()
    for c in captures:
        for f in c.findings:
            if f.get("kind") in kinds:
                hits[str(f["kind"])] += 1
        for fate, n in c.fates.items():
            n -= c.probes.get(fate, 0)  # a prober's connection fails nothing
            if fate in kinds and n:
                hits[fate] += n
        for tag, n in c.slow.items():
            if tag in kinds and n:
                hits[tag] += n
    return hits
