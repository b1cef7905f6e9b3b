"""``Analysis._repr_html_``: a compact summary for Jupyter (the full report is ``to_html()``).

The capture facts, the connections by fate, a filter when there is one, the findings, and the
first failing connections with the headline of their explanation. Everything that came from
outside pcapline (the file name, warnings) is escaped, HTML and control/bidi characters alike.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from pcapline.findings.nat_copies import later_copies
from pcapline.fmt import capture_quality, endpoint, printable
from pcapline.model import failing
from pcapline.render.terminal import fate_summary

if TYPE_CHECKING:
    from pcapline.analysis import Analysis

#: Failing connections listed at most.
MAX_ROWS = 10


def _e(text: object) -> str:
    return html.escape(printable(text))


def summary_html(analysis: Analysis) -> str:
    info = analysis.capture
    conns = analysis.connections
    parts = [
        '<div class="pcapline-summary">',
        f"<p><b>pcapline</b> {_e(info.path)} ({_e(info.format)}, "
        f"{info.frames:,} frames, {info.tcp_frames:,} TCP)</p>",
    ]
    if analysis.filter is not None:
        parts.append(
            f"<p><b>Filtered</b> ({_e(analysis.filter.words)}): {len(conns):,} of "
            f"{analysis.filter.connections_in_capture:,} connections</p>"
        )
    quality = capture_quality(info.quality)
    if quality:
        parts.append(f"<p><b>Capture quality:</b> {_e(quality)}</p>")
    for warning in info.warnings:
        parts.append(f"<p><b>Warning:</b> {_e(warning)}</p>")
    # The terminal header's words: each connection once (NAT copies said apart), failures
    # first, and which failures the capture does not prove or are a scanner's probes.
    parts.append(f"<p>{_e(fate_summary(conns, later_copies(analysis.findings)))}</p>")
    if analysis.findings:
        items = "".join(f"<li><b>{_e(f.kind)}</b>: {_e(f.summary)}</li>" for f in analysis.findings)
        parts.append(f"<ul>{items}</ul>")
    failed = conns[failing(conns["fate"])].sort_values("id", kind="stable")
    if len(failed):
        rows = []
        for row in failed.head(MAX_ROWS).to_dict("records"):
            verdict = analysis.verdicts.get(int(row["id"]))
            why = verdict.explanation.headline if verdict is not None else ""
            rows.append(
                f"<tr><td>{int(row['id'])}</td>"
                f"<td>{_e(endpoint(row['client_ip'], row['client_port']))}</td>"
                f"<td>{_e(endpoint(row['server_ip'], row['server_port']))}</td>"
                f"<td>{_e(row['fate'])}</td><td>{_e(row['confidence'])}</td><td>{_e(why)}</td></tr>"
            )
        more = len(failed) - MAX_ROWS
        parts.append(
            "<table><thead><tr><th>id</th><th>client</th><th>server</th><th>fate</th>"
            "<th>confidence</th><th>why</th></tr></thead><tbody>"
            + "".join(rows)
            + "</tbody></table>"
            + (f"<p>... and {more:,} more failing</p>" if more > 0 else "")
        )
    parts.append("</div>")
    return "\n".join(parts)
