"""Terminal report with rich: the summary first, then one line per connection.

Layout (top to bottom): capture facts, how every frame was accounted for, warnings,
connections by fate, findings, then the connection table. The table lists failures first
(model.FAILURE_FATES), then the rest, each by id, and stops after ``limit`` rows with a line
saying how many were left out, so a capture with 50,000 connections still fits a screen.

Output is deterministic for a given width: no run-dependent values, fixed sort orders, and
no colour unless asked (the CLI asks only for a TTY without ``NO_COLOR``).
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from rich.console import Console
from rich.text import Text

from pcapline.findings.nat_copies import counted_once, later_copies
from pcapline.fmt import app_label, byte_count, capture_quality, duration, endpoint, printable, utc
from pcapline.model import (
    FAILURE_VALUES,
    Confidence,
    EventKind,
    Explanation,
    Fate,
    Finding,
    Verdict,
    failing,
    probing,
)
from pcapline.render.jsondoc import skip_order

if TYPE_CHECKING:
    from pcapline.analysis import Analysis

DEFAULT_LIMIT = 50
_FATE_STYLE = {
    Fate.CLOSED.value: "green",
    Fate.OPEN.value: "cyan",
    Fate.HALF_CLOSED.value: "yellow",
}


@dataclass(frozen=True, slots=True)
class TextOptions:
    limit: int = DEFAULT_LIMIT  # 0 = every connection
    width: int = 120
    color: bool = False


@dataclass(frozen=True, slots=True)
class Selection:
    """A filtered report's context: every connection of the capture, and the filter as typed.

    The summary describes the whole capture (like ``capture`` facts) and then says what the
    filter kept, so "no connection matches --host X" is never mistaken for "no TCP here".
    """

    whole: pd.DataFrame  # the connections table before filtering
    filters: str  # "--host 10.0.0.7 --port 443"


def render_text(
    analysis: Analysis, options: TextOptions = TextOptions(), selection: Selection | None = None
) -> str:
    console = Console(
        file=io.StringIO(),
        width=options.width,
        color_system="standard" if options.color else None,
        force_terminal=options.color,
        no_color=not options.color,
        highlight=False,
        emoji=False,
        soft_wrap=False,
    )
    for line in summary_lines(analysis, selection):
        console.print(line)
    conns = analysis.connections
    if conns.empty:
        return _finish(console)
    console.print()
    shown = ordered_for_display(conns, options.limit)
    lines = connection_lines(
        shown, analysis.capture.first_time_ns, options.width, verdicts=analysis.verdicts
    )
    table = Text("\n").join(lines)
    # Never cropped: the layouts fit every column in ``width``; a line that still cannot
    # (two long IPv6 endpoints on a very narrow terminal) runs past the edge rather than
    # losing a column.
    console.print(table, no_wrap=True, overflow="ignore", crop=False)
    hidden = len(conns) - len(shown)
    if hidden:
        console.print(f"... {hidden:,} more, use --limit 0 for all")
    why = explained_failures(conns, analysis.findings)
    for line in why:
        if not line.plain.startswith("  "):  # a fate's findings follow it without a gap
            console.print()
        console.print(line)
    slow = slow_not_failed_lines(analysis)
    if slow:
        console.print()
        for line in slow:
            console.print(line)
    return _finish(console)


def _finish(console: Console) -> str:
    """The rendered text without rich's trailing padding (stable for golden tests)."""
    text: str = console.file.getvalue()  # type: ignore[attr-defined]
    return "\n".join(line.rstrip() for line in text.split("\n"))


def summary_lines(analysis: Analysis, selection: Selection | None = None) -> list[Text | str]:
    info = analysis.capture
    lines: list[Text | str] = []
    kinds = ", ".join(info.link_types) or "no link type"
    # The path and the warnings may carry what the file name or the capture holds: shown
    # escaped, so a control or bidi character cannot act on the terminal (fmt.printable).
    where = printable(info.path)
    lines.append(Text.assemble(("capture  ", "bold"), f"{where} ({info.format}, {kinds})"))
    skipped_total = sum(info.skipped.values())
    icmp = f"{info.icmp_frames:,} ICMP errors, " if info.icmp_frames else ""
    frames = f"{info.frames:,} frames: {info.tcp_frames:,} TCP, {icmp}{skipped_total:,} skipped"
    if skipped_total:
        frames += (
            " ("
            + ", ".join(
                f"{r} {n:,}"
                for r, n in (
                    (r, info.skipped[r]) for r in skip_order(info.skipped) if info.skipped[r]
                )
            )
            + ")"
        )
    lines.append(Text.assemble(("frames   ", "bold"), frames))
    if info.first_time_ns is not None and info.last_time_ns is not None:
        span = (info.last_time_ns - info.first_time_ns) / 1e9
        lines.append(
            Text.assemble(
                ("time     ", "bold"),
                f"{utc(info.first_time_ns)} .. {utc(info.last_time_ns)} UTC ({duration(span)})",
            )
        )
    quality = capture_quality(info.quality)
    if quality:
        lines.append(Text.assemble(("quality  ", "bold yellow"), quality))
    for warning in info.warnings:
        lines.append(Text.assemble(("warning  ", "bold yellow"), printable(warning)))
    whole = analysis.connections if selection is None else selection.whole
    copies = later_copies(analysis.findings)
    lines.append(Text.assemble(("conns    ", "bold"), fate_summary(whole, copies)))
    if selection is not None and not whole.empty:
        lines.append(
            " " * 9 + selection_summary(analysis.connections, whole, selection.filters, copies)
        )
    for line in slow_lines(analysis, copies):  # slow, not only dead: said before the findings
        lines.append(Text.assemble(("slow     ", "bold yellow"), line))
    transfers = transfer_line(analysis, copies)
    if transfers:
        lines.append(Text.assemble(("transfer ", "bold"), transfers))
    if analysis.findings:
        lines.append(Text("findings", style="bold"))
        for finding in analysis.findings:
            summary = printable(finding.summary)
            lines.append(Text.assemble("  ", (finding.kind, "bold red"), f": {summary}"))
    return lines


def slow_lines(analysis: Analysis, copies: frozenset[int] = frozenset()) -> list[str]:
    """One sentence per ``slow`` tag present (delays.summarise, worded by explain), each
    connection counted once (``copies``: later copies of others, left out)."""
    from pcapline.delays import summarise
    from pcapline.explain import slow_summary

    counted = counted_once(analysis.connections, copies)
    events = analysis.events
    stale = events["conn"].to_numpy()[(events["kind"] == EventKind.CHALLENGE_ACK).to_numpy()]
    return [slow_summary(s) for s in summarise(analysis.delays, counted, stale)]


def transfer_line(analysis: Analysis, copies: frozenset[int] = frozenset()) -> str:
    """The capture's bulk transfers, their rates and paces (explain_transfer words it)."""
    from pcapline.explain_transfer import transfer_summary

    return transfer_summary(counted_once(analysis.connections, copies))


def slow_not_failed_lines(analysis: Analysis) -> list[Text]:
    """The "slow, not failed" section: connections whose fate is no failure but which lost
    time (their ``slow`` tags), per tag with their measure, so they are never hidden among
    the connections that "closed normally"."""
    conns = analysis.connections
    if conns.empty or "slow" not in conns.columns or not analysis.delays:
        return []
    ok = conns[~failing(conns["fate"])].sort_values("id", kind="stable")
    return _slow_tag_lines(analysis, ok) + _unjudged_lines(analysis, ok)


def _slow_tag_lines(analysis: Analysis, ok: pd.DataFrame) -> list[Text]:
    """The tagged connections among ``ok`` (not failed), a line per tag."""
    from pcapline.delays import _TAG_MEASURE, DelaysTable, SlowTag, synack_wait
    from pcapline.explain import slow_not_failed

    slow = ok[ok["slow"].map(len) > 0]
    if slow.empty:
        return []
    fates = Counter(str(f) for f in slow["fate"])
    which = ", ".join(f"{n:,} {f}" for f, n in sorted(fates.items(), key=lambda x: (-x[1], x[0])))
    lines = [Text.assemble(("slow, not failed", "bold yellow"), f": {len(slow):,} ({which})")]
    lost = analysis.delays
    for tag in SlowTag:
        rows = slow[slow["slow"].map(lambda t, tag=tag: tag in t)]
        if rows.empty:
            continue
        ids = rows["id"].astype(int).tolist()
        turns = None
        if isinstance(lost, DelaysTable):  # the measures as the delays stage holds them
            pos = np.searchsorted(lost.ids, np.asarray(ids, dtype=np.int64))
            values = lost.columns[_TAG_MEASURE[tag]][pos].tolist()
            if tag is SlowTag.SLOW_RESPONSE:  # the turn the tag judged
                numbers = lost.columns["response_judged_turn"][pos].tolist()
                counts = lost.columns["responses"][pos].tolist()
                at_ns = lost.columns["response_judged_at_ns"][pos] - rows["start_ns"].to_numpy()
                turns = [
                    (int(a), int(b), float(t) / 1e9)
                    for a, b, t in zip(numbers, counts, at_ns.tolist(), strict=True)
                ]
        else:
            column = _TAG_MEASURE[tag]
            values = rows[column].tolist() if column in rows.columns else [None] * len(ids)
        if tag is SlowTag.SYNACK_RETRY:  # what was slow: the server's wait for the ACK
            values = [synack_wait(_stalls_of(lost, i)) for i in ids]
        measures = [None if v is None or v != v else float(v) for v in values]
        lines.append(Text("  " + slow_not_failed(tag, ids, measures, turns)))
    return lines


def _stalls_of(lost: Any, conn: int) -> tuple[Any, ...]:
    """One connection's stalls, from a ``DelaysTable`` or a mapping of ``Delays``."""
    from pcapline.delays import DelaysTable

    if isinstance(lost, DelaysTable):
        return lost.stalls_of(conn)
    one = lost.get(conn) if isinstance(lost, Mapping) else None
    return tuple(one.stalls) if one is not None else ()


def _unjudged_lines(analysis: Analysis, ok: pd.DataFrame) -> list[Text]:
    """The connections among ``ok`` whose late later turn ``slow_response`` did not judge
    (``DelaysTable.unjudged_replies``), said so they are not read as slow or as missed."""
    from pcapline.delays import DelaysTable
    from pcapline.explain import unjudged_answers

    lost = analysis.delays
    if not isinstance(lost, DelaysTable) or ok.empty:
        return []
    replies = lost.unjudged_replies(ok["id"].to_numpy(np.int64))
    if not replies:
        return []
    start_ns = dict(zip(ok["id"].tolist(), ok["start_ns"].tolist(), strict=True))
    return [Text(unjudged_answers(replies, start_ns), style="yellow")]


def fate_summary(conns: pd.DataFrame, copies: frozenset[int] = frozenset()) -> str:
    """``12 connections: 3 refused, 8 closed, 1 open``: failures first, then by count; each
    connection once (``copies``: later copies of others, ``nat_copies``, said apart)."""
    counted = counted_once(conns, copies)
    if len(counted) < len(conns):
        n = len(conns) - len(counted)
        streams = "stream is a copy" if n == 1 else "streams are copies"
        return (
            f"{_fate_counts(counted)}; {n:,} more {streams} of them captured after an "
            "address translation (nat_copies)"
        )
    return _fate_counts(conns)


def _fate_counts(conns: pd.DataFrame) -> str:
    if conns.empty:
        return "no TCP connections"
    counts = Counter(str(f) for f in conns["fate"])
    order = sorted(counts, key=lambda f: (f not in FAILURE_VALUES, -counts[f], f))
    noun = "connection" if len(conns) == 1 else "connections"
    text = f"{len(conns):,} {noun}: " + ", ".join(f"{counts[f]:,} {f}" for f in order)
    likely = int(failures_at(conns, Confidence.LIKELY).sum())
    unknown = int(failures_at(conns, Confidence.UNKNOWN).sum())
    notes = [f"{likely:,} inferred {_MARK[Confidence.LIKELY]}"] if likely else []
    if unknown:
        notes.append(f"{unknown:,} uncertain {_MARK[Confidence.UNKNOWN]}: the capture cannot tell")
    probes = int((failing(conns["fate"]) & probing(conns)).sum())
    if probes:
        notes.append(f"{probes:,} a scanner's or health check's probes, failing nothing")
    return text + (f" (of the failures: {', '.join(notes)})" if notes else "")


#: The fate cell's marker for a failure the capture does not prove (fate_summary's legend).
_MARK = {Confidence.PROVEN: "", Confidence.LIKELY: "~", Confidence.UNKNOWN: "?"}


def failures_at(conns: pd.DataFrame, level: Confidence) -> pd.Series:
    """Per row: a failure fate decided with confidence ``level``."""
    failed = pd.Series(failing(conns["fate"]), index=conns.index)
    if "confidence" not in conns.columns:
        return failed & (level is Confidence.PROVEN)
    return failed & (conns["confidence"].astype(str) == level.value)


def selection_summary(
    selected: pd.DataFrame, whole: pd.DataFrame, filters: str, copies: frozenset[int] = frozenset()
) -> str:
    """``showing 2 of 40 connections (filter: --port 443): 1 refused, 1 closed``: each
    connection once on both sides, as the line above counts them (``copies``: later copies
    of others, ``nat_copies``, said apart)."""
    if selected.empty:
        return f"no connection matches {filters}"
    shown = len(counted_once(selected, copies))
    total = len(counted_once(whole, copies))
    text = f"showing {shown:,} of {total:,} connections (filter: {filters})"
    return text + ": " + fate_summary(selected, copies).split(": ", 1)[1]


def worded_connections(analysis: Analysis, limit: int) -> list[int]:
    """The connections whose verdict words ``render_text`` reads: the rows it shows
    (``limit``, 0 for all), each failing fate's lowest id (``explained_failures``) and
    those whose SYN retry schedule the slow summary names (``delays.summarise``). What the
    bounded-memory path reads back for the text report (``bounded.Bounded.worded``)."""
    from pcapline.delays import DelaysTable, syn_schedule_sources

    conns = analysis.connections
    shown = ordered_for_display(conns, limit)
    failed = conns.loc[failing(conns["fate"]), ["id", "fate"]]
    first = failed.groupby(failed["fate"].astype(str), sort=False)["id"].min()
    words = set(shown["id"].astype(int).tolist()) | set(first.astype(int).tolist())
    if isinstance(analysis.delays, DelaysTable) and not conns.empty:
        words |= set(syn_schedule_sources(analysis.delays, conns).tolist())
    return sorted(words)


def ordered_for_display(conns: pd.DataFrame, limit: int = 0) -> pd.DataFrame:
    """Failures first, then everything else; by id within each group; the first ``limit``
    rows (0: all). The rows are picked by position, not sorted as a copy of the whole table:
    the text report of a million connections shows a few of them."""
    healthy = ~failing(conns["fate"])
    order = np.lexsort((conns["id"].to_numpy(np.int64), healthy))  # stable, as sort_values
    return conns.iloc[order[:limit] if limit > 0 else order]


def connection_lines(
    conns: pd.DataFrame,
    origin_ns: int | None,
    width: int,
    *,
    verdicts: Mapping[int, Verdict] | None = None,
) -> list[Text]:
    """The connection table: every column, and the whole "why", at any width.

    Every column is as wide as its widest cell. Three layouts, the first that fits ``width``:

    1. one line per connection, the "why" (the explanation's headline) as the last column;
    2. the columns on one line, the "why" on the lines under it (indented, wrapped);
    3. id, client, server and fate on one line, then ``start``, duration, packets and bytes
       (and the app, when any) labelled on the next, then the "why" (an IPv6 pair at 80
       columns).

    Nothing is cut: addresses and fates are what the reader searches for, and the "why" is
    why the table exists. Lines are padded here rather than by ``rich.table.Table``, which
    takes seconds to lay out thousands of rows (``--limit 0`` on a busy capture).
    """
    origin = origin_ns if origin_ns is not None else 0
    known = verdicts or {}
    rows = []
    for record in conns.to_dict("records"):
        row = {str(k): v for k, v in record.items()}
        verdict = known.get(int(row["id"]))
        rows.append(_cells(row, origin, verdict.explanation if verdict is not None else None))
    names = [name for name, _ in _COLUMNS]
    widths = {n: max([len(n)] + [len(cells[i]) for cells in rows]) for i, n in enumerate(names)}
    # The app column (TLS server name, HTTP request) only when some shown row has one.
    has_app = any(cells[names.index("app")] for cells in rows)
    every = [n for n in names if n != "why" and (has_app or n != "app")]
    if _line_width([*every, "why"], widths) <= width:
        return _table(rows, [*every, "why"], widths, width, under=())
    if _line_width(every, widths) <= width:
        return _table(rows, every, widths, width, under=("why",))
    moved = (*_MOVED, "app") if has_app else _MOVED
    if _line_width(list(_NARROW), widths) <= width:
        return _table(rows, list(_NARROW), widths, width, under=(*moved, "why"))
    # 4. two long IPv6 endpoints do not fit side by side: the server goes under the row too
    narrowest = [n for n in _NARROW if n != "server"]
    return _table(rows, narrowest, widths, width, under=("server", *moved, "why"))


#: Layout 3 keeps these on the connection's first line; _MOVED go to the line under it.
_NARROW = ("id", "client", "server", "fate")
_MOVED = ("start", "duration", "pkts", "bytes c>s", "bytes s>c")
#: Indent of the lines under a connection's first line.
_UNDER = "    "


def _table(
    rows: list[list[str]],
    shown: list[str],
    widths: dict[str, int],
    width: int,
    *,
    under: tuple[str, ...],
) -> list[Text]:
    names = [name for name, _ in _COLUMNS]
    justify = dict(_COLUMNS)
    columns: list[tuple[int, int, Literal["left", "right", "none"]]] = [
        (names.index(n), widths[n], justify[n]) for n in shown
    ]
    last = columns[-1]
    if last[2] == "left":  # no trailing padding (it would sit inside the header's bold style)
        columns[-1] = (last[0], last[1], "none")

    def pad(text: str, w: int, side: str) -> str:
        if side == "none":
            return text
        return text.rjust(w) if side == "right" else text.ljust(w)

    header = "  ".join(pad(names[i], w, j) for i, w, j in columns)
    moved = [n for n in under if n != "why"]
    lines = [Text(header, style="bold")]
    fate_at = names.index("fate")
    for cells in rows:
        fate = cells[fate_at].rstrip("".join(_MARK.values()))
        style = "bold red" if fate in FAILURE_VALUES else _FATE_STYLE.get(fate, "")
        if fate != cells[fate_at] and cells[fate_at].endswith(_MARK[Confidence.UNKNOWN]):
            style = "yellow"  # a failure the capture cannot confirm is not shown as one
        line = Text()
        for k, (i, w, j) in enumerate(columns):
            if k:
                line.append("  ")
            line.append(pad(cells[i], w, j), style=style if i == fate_at else "")
        lines.append(line)
        if moved:
            lines += [Text(part) for part in _wrapped(_moved_text(cells, names, moved), width)]
        why = cells[names.index("why")]
        if "why" in under and why:
            lines += [Text(part) for part in _wrapped(why, width)]
    return lines


def _moved_text(cells: list[str], names: list[str], moved: list[str]) -> str:
    """The columns moved under the row, labelled: ``to 10.0.0.2:80, start +1.00s, lasted
    300us, 2 pkts, 0B c>s, 0B s>c``."""
    cell = {n: cells[names.index(n)] for n in names}
    text = (
        f"start {cell['start']}, lasted {cell['duration']}, {cell['pkts']} pkts, "
        f"{cell['bytes c>s']} c>s, {cell['bytes s>c']} s>c"
    )
    if "app" in moved and cell["app"]:
        text += f", {cell['app']}"
    return f"to {cell['server']}, {text}" if "server" in moved else text


def _wrapped(text: str, width: int) -> list[str]:
    """``text`` on indented lines of at most ``width`` characters (words kept whole when they fit)."""
    import textwrap

    room = max(width - len(_UNDER), 20)
    return [_UNDER + part for part in textwrap.wrap(text, room, break_on_hyphens=False)]


def _line_width(shown: list[str], widths: dict[str, int]) -> int:
    """Rendered width: cells plus one space each side between columns (no outer padding)."""
    return sum(widths[n] for n in shown) + 2 * (len(shown) - 1)


_COLUMNS: tuple[tuple[str, Literal["left", "right"]], ...] = (
    ("id", "right"),
    ("client", "left"),
    ("server", "left"),
    ("start", "right"),
    ("duration", "right"),
    ("pkts", "right"),
    ("bytes c>s", "right"),
    ("bytes s>c", "right"),
    ("fate", "left"),
    ("app", "left"),  # what the first payloads carried (fmt.app_label), shown when any has one
    ("why", "left"),
)


def _cells(row: dict[str, Any], origin_ns: int, explanation: Explanation | None) -> list[str]:
    return [
        str(int(row["id"])),
        endpoint(row["client_ip"], row["client_port"]) + ("?" if row["client_guessed"] else ""),
        endpoint(row["server_ip"], row["server_port"]),
        "+" + duration((int(row["start_ns"]) - origin_ns) / 1e9),
        duration((int(row["end_ns"]) - int(row["start_ns"])) / 1e9),
        f"{int(row['packets']):,}",
        byte_count(int(row["bytes_client"])),
        byte_count(int(row["bytes_server"])),
        str(row["fate"]) + _fate_mark(row),
        _clipped(app_label(row.get("app")), APP_CELL_CHARS),
        short_reason(explanation),
    ]


#: The app cell at most (a TLS server name, an HTTP method, path and status): a request path
#: can be a kilobyte of query string, twelve wrapped lines under one connection; the JSON
#: (``app``) and the HTML report's connection section keep it whole.
APP_CELL_CHARS = 80


def _clipped(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, "…" last when cut; an HTTP status after a cut
    path is kept (``http GET /very/long… 200``)."""
    if len(text) <= limit:
        return text
    head, _, status = text.rpartition(" ")
    if text.startswith("http ") and status.isdigit() and len(status) == 3 and head:
        return head[: limit - len(status) - 2] + "… " + status
    return text[: limit - 1] + "…"


def _fate_mark(row: dict[str, Any]) -> str:
    fate, level = str(row["fate"]), row.get("confidence")
    if fate not in FAILURE_VALUES or level is None:
        return ""
    return _MARK.get(Confidence(str(level)), "")


def short_reason(explanation: Explanation | None) -> str:
    """The explanation's headline, for the table's "why" column.

    The headline is what the capture shows in one clause ("3 SYNs at 0, 1, 3 s, never
    answered"), without the label that repeats the fate ("Connect timeout"): the fate and
    duration columns already say it.
    """
    if explanation is None:
        return ""
    text = explanation.headline.strip()
    return text[:1].upper() + text[1:]


def explained_failures(conns: pd.DataFrame, findings: Sequence[Finding] = ()) -> list[Text]:
    """One full explanation per failure fate, from its lowest-id connection, and the
    cross-connection findings that explain that fate's connections (``explaining_findings``),
    each with what it means and what to do, as the HTML report's failure card names them.

    A thousand connect timeouts share one explanation: printing it once, with an example
    id to open in the timeline, says everything the table cannot fit.
    """
    failed = conns[failing(conns["fate"])].sort_values("id", kind="stable")
    fate_of = dict(zip(conns["id"].astype(int).tolist(), conns["fate"].astype(str), strict=True))
    lines: list[Text] = []
    for fate, group in failed.groupby(failed["fate"].astype(str), sort=True):
        first = group.iloc[0]
        others = f" and {len(group) - 1:,} more" if len(group) > 1 else ""
        lines.append(
            Text.assemble(
                (str(fate), "bold red"),
                f" (connection {int(first['id'])}{others}): ",
                str(first["explanation"] or ""),
            )
        )
        for _, finding, held in explaining_findings(str(fate), fate_of, findings):
            if held == len(group):
                who = f"All {held:,} are" if held > 1 else "It is"
            else:
                who = f"{held:,} of them {'are' if held != 1 else 'is'}"
            what = finding.details.get("explanation") or finding.summary
            lines.append(
                Text.assemble(
                    f"  {who} in a cross-connection finding, ",
                    (finding.kind, "bold red"),
                    f" (findings, above): {printable(str(what))}",
                )
            )
    return lines


def explaining_findings(
    fate: str, fate_of: Mapping[int, str], findings: Sequence[Finding]
) -> list[tuple[int, Finding, int]]:
    """The cross-connection findings that explain the connections of ``fate``: those at
    least half of whose connections have it, as (its number in the list, counting from 1,
    the finding, how many of its connections have ``fate``). A finding names the cause and
    the fix for many connections at once (nat_timestamp: tcp_tw_recycle on the server),
    where one connection's explanation gives the generic checks; a finding that merely holds
    some of them among many healthy ones (time_wait_churn) is not named."""
    out = []
    for number, f in enumerate(findings, start=1):
        fates = [fate_of.get(int(c)) for c in f.connections]
        held = sum(1 for x in fates if x == fate)
        if held and 2 * held >= len(fates):
            out.append((number, f, held))
    return out
