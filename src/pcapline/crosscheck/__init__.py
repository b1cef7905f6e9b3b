"""``pcapline crosscheck``: Wireshark beside pcapline on one capture.

Per frame, where Wireshark's TCP expert analysis (``tcp.analysis.*``) and pcapline's events
disagree, and the named reason (``oracle.EXCEPTIONS``) or UNEXPLAINED; whether connection ids
equal ``tcp.stream``; with ``--dissect``, each connection's application protocol as Wireshark's
dissectors name it (``dissect.py``, pyshark) beside pcapline's ``app``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pcapline.crosscheck.dissect import MAX_CONNECTIONS
from pcapline.crosscheck.oracle import (
    EXCEPTIONS,
    CrossCheck,
    Disagreement,
    tshark_version,
)
from pcapline.errors import PcaplineError, UsageError
from pcapline.fmt import printable
from pcapline.tempdirs import folder_for_a_while

if TYPE_CHECKING:
    from pcapline.analysis import Analysis
    from pcapline.crosscheck.dissect import Dissected

SCHEMA = "pcapline-crosscheck/1"
_WHY = {exc.name: exc.why for exc in EXCEPTIONS}


@dataclass(frozen=True, slots=True)
class Report:
    path: str
    tshark: str  # tshark's version
    check: CrossCheck
    apps: dict[int, str | None]  # conn id -> pcapline's app protocol
    dissected: list[Dissected] | None = None  # --dissect only
    not_dissected: int = 0  # connections with payload past dissect.MAX_CONNECTIONS
    #: the capture's own warnings (a cut tail, a damaged compressed stream) and tshark's
    #: when it stopped before the end: what was compared is not the whole file
    warnings: list[str] = field(default_factory=list)


def require_tshark() -> str:
    """tshark's version; a one-line UsageError (exit 2) when it is not installed."""
    version = tshark_version() if shutil.which("tshark") else None
    if version is None:
        raise UsageError(
            "crosscheck needs Wireshark's tshark on PATH (apt install tshark, brew install "
            "wireshark); pyshark for --dissect: pip install 'pcapline[wireshark]'"
        )
    return version


def run(path: str, *, dissect: bool = False) -> Report:
    """Analyse ``path``, compare with tshark's expert analysis, optionally dissect."""
    from pcapline.analysis import analyze
    from pcapline.crosscheck import dissect as dissector
    from pcapline.crosscheck.oracle import crosscheck, parse_tshark_fields, tshark_fields
    from pcapline.read.open import open_source_file

    version = require_tshark()
    if dissect:
        try:
            import pyshark  # noqa: F401  (checked before the long part runs)
        except ImportError:
            raise UsageError(
                "crosscheck --dissect needs pyshark: pip install 'pcapline[wireshark]'"
            ) from None
    with folder_for_a_while("pcapline-crosscheck-") as spill:
        # Both tools must read the same frames, and tshark reads neither stdin twice nor
        # bzip2, xz or nested compression: it gets the plain bytes pcapline reads.
        source = open_source_file(path, spill)
        source.close()
        plain = source.spilled or path

        def named(text: str) -> str:
            """``text`` naming the user's file (``-`` for stdin), not the spilled copy."""
            return text.replace(plain, str(path))

        try:
            analysis = analyze(plain)
            fields = tshark_fields(plain)
            check = crosscheck(plain, analysis=analysis, wireshark=parse_tshark_fields(fields.text))
            found, left_out = None, 0
            if dissect:
                chosen = dissector.payload_frames(analysis)
                kept = dict(list(chosen.items())[: dissector.MAX_CONNECTIONS])
                left_out = len(chosen) - len(kept)
                found = dissector.dissect(plain, kept)
        except PcaplineError as exc:
            if plain == path:
                raise
            raise type(exc)(named(str(exc))) from None
    warnings = [*source.warnings, *analysis.capture.warnings]
    if fields.stopped is not None:
        warnings.append(
            f"tshark stopped early ({named(fields.stopped)}): the frames after that point are "
            "counted as only pcapline's, not compared"
        )
    if check.no_stream:
        warnings.append(
            f"{check.no_stream:,} frames Wireshark dissected as TCP got no tcp.stream (TCP "
            f"header cut short; first frame {check.first_no_stream}): not compared (counted as "
            "only Wireshark's where pcapline skipped them)"
        )
    if found is not None and found.stopped is not None:
        warnings.append(
            f"tshark stopped early while dissecting ({named(found.stopped)}): "
            f"{found.missed:,} of the {found.chosen:,} chosen payload frames not dissected"
        )
    dissected = None if found is None else found.connections
    return Report(str(path), version, check, _apps(analysis), dissected, left_out, warnings)


def _apps(analysis: Analysis) -> dict[int, str | None]:
    conns = analysis.connections
    docs = conns["app"].tolist() if "app" in conns.columns else [None] * len(conns)
    return {
        int(i): (d.get("protocol") if isinstance(d, dict) else None)
        for i, d in zip(conns["id"].tolist(), docs, strict=True)
    }


def _difference(d: Disagreement, reason: str | None) -> dict[str, Any]:
    return {
        "frame": d.frame,
        "conn": d.conn,
        "says": d.source,
        "label": d.label,
        "wireshark": list(d.wireshark),
        "pcapline": list(d.ours),
        "reason": reason,
        "why": _WHY.get(reason or ""),
    }


def differences(report: Report) -> list[dict[str, Any]]:
    """Every disagreement, by frame: explained ones with their reason, the rest reason null."""
    rows = [_difference(d, name) for d, name in report.check.explained_disagreements]
    rows += [_difference(d, None) for d in report.check.unexplained]
    return sorted(rows, key=lambda r: (r["frame"], r["says"], r["label"]))


def to_dict(report: Report) -> dict[str, Any]:
    """The ``pcapline-crosscheck/1`` document (``--format json``)."""
    check = report.check
    return {
        "schema": SCHEMA,
        "capture": report.path,
        "tshark": report.tshark,
        "frames_compared": check.frames_compared,
        "only_wireshark": check.only_wireshark,
        "only_pcapline": check.only_pcapline,
        "agreed": dict(sorted(check.agreed.items())),
        "explained": dict(sorted(check.explained.items())),
        "unexplained": len(check.unexplained),
        "differences": differences(report),
        "stream_mismatches": [
            {"frame": f, "tcp_stream": t, "pcapline": o} for f, t, o in check.stream_mismatches
        ],
        "phantom_streams": list(check.phantom_streams),
        "dissected": None
        if report.dissected is None
        else [
            {
                "conn": d.conn,
                "frames": list(d.frames),
                "wireshark": d.protocol,
                "wireshark_protocols": list(d.protocols),
                "pcapline": report.apps.get(d.conn),
            }
            for d in report.dissected
        ],
        "not_dissected": report.not_dissected,
        "warnings": list(report.warnings),
    }


def render_text(report: Report, *, limit: int = 50) -> str:
    """A few summary lines, then one line per disagreeing frame (at most ``limit``)."""
    check = report.check
    lines = [
        # The file name and the warnings are escaped (fmt.printable): a control or bidi
        # character in a name cannot act on the terminal.
        f"crosscheck  {printable(report.path)}: {check.frames_compared:,} TCP frames compared with "
        f"Wireshark's expert analysis (tshark {report.tshark})",
    ]
    if check.only_wireshark or check.only_pcapline:
        lines.append(
            f"            {check.only_wireshark:,} frames only Wireshark dissected as TCP, "
            f"{check.only_pcapline:,} only pcapline"
        )
    lines += [f"warning     {printable(w)}" for w in report.warnings]
    agreed = ", ".join(f"{k} {n:,}" for k, n in sorted(check.agreed.items())) or "nothing flagged"
    lines.append(f"agree       {agreed}")
    rows = differences(report)
    explained = sum(check.explained.values())
    lines.append(
        f"differ      {len(rows):,} labels on frames: {explained:,} explained, "
        f"{len(check.unexplained):,} unexplained"
    )
    for row in rows[: limit or None]:
        reason = row["reason"] or "UNEXPLAINED"
        ws = ",".join(row["wireshark"]) or "-"
        ours = ",".join(row["pcapline"]) or "-"
        lines.append(
            f"  frame {row['frame']:>7}  conn {row['conn']:>5}  {row['says']} says {row['label']}"
            f"  (wireshark: {ws}; pcapline: {ours})  {reason}"
        )
    if limit and len(rows) > limit:
        lines.append(f"  ... {len(rows) - limit:,} more, use --limit 0 for all")
    for name in sorted(check.explained):
        lines.append(f"  {name}: {_WHY[name]}")
    if check.stream_mismatches:
        frame, stream, ours_id = check.stream_mismatches[0]
        lines.append(
            f"streams     {len(check.stream_mismatches):,} frames with another id than "
            f"tcp.stream, first frame {frame}: tcp.stream {stream}, pcapline {ours_id}"
        )
    elif check.phantom_streams:
        # Numbers a Wireshark dissector took for a conversation of its own (SOCKS hands the
        # proxied payload on under the target's port): no frame carries them, so the ids were
        # compared by rank and are NOT equal from the first gap on.
        gaps = ", ".join(str(n) for n in check.phantom_streams)
        lines.append(
            f"streams     every connection id equals Wireshark's tcp.stream by rank: Wireshark "
            f"numbers {gaps} carry no frame (a dissector's own conversations), so later "
            "tcp.stream numbers are higher than pcapline's ids"
        )
    else:
        lines.append("streams     every connection id equals Wireshark's tcp.stream")
    if report.dissected is not None:
        lines.append("dissect     Wireshark's dissectors on the first payload frames:")
        same = 0
        for k, d in enumerate(report.dissected):
            app = report.apps.get(d.conn)
            named = d.protocol
            agree = app is not None and app == named
            same += agree
            mark = "=" if agree else "≠" if app and named else " "
            if limit and k >= limit:
                continue
            lines.append(
                f"  conn {d.conn:>5}  wireshark {named or '-':<10} {mark} pcapline "
                f"{app or '-':<5}  frames {', '.join(map(str, d.frames))}"
            )
        if limit and len(report.dissected) > limit:
            lines.append(f"  ... {len(report.dissected) - limit:,} more, use --limit 0 for all")
        lines.append(f"            {same:,} of {len(report.dissected):,} named alike")
        if report.not_dissected:
            lines.append(
                f"            {report.not_dissected:,} more connections with payload not "
                f"dissected (at most {MAX_CONNECTIONS:,})"
            )
    return "\n".join(lines) + "\n"
