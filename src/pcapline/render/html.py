"""One self-contained HTML report: the file an engineer attaches to a ticket.

Layout of the page (templates/report.html.j2), top to bottom:

1. Verdict banner: how many connections ended how; the problems that matter first (failing
   fates in ``palette.FATE_ORDER``, cross-connection findings), each with its explanation and
   links to the connections concerned. Capture facts (file, format, link types, time span,
   frames, skipped frames by reason, warnings).
2. Capture timeline (figures.capture_timeline), with each connection's stalls as a strip
   under its bar (figures.stall_strip).
3. Findings across connections, when there are any. Then the slow part, when there is
   something to show: the delay distributions (figures.delay_distribution) and the
   "slow, not failed" table (``slow_view``).
4. Connection table: every connection, sortable and filterable by a small script, with the
   Wireshark filters to open it (``tcp.stream eq N`` and a version-independent address/port
   filter) and copy buttons.
5. One section per interesting connection (every failing one first; ``max_sections``): facts,
   explanation, inferred settings, time-sequence graph, backoff gaps, annotated timeline.
   The figures draw what the stages recorded (``Analysis.facts`` for the segments,
   ``Analysis.detections`` for the retry series). An analysis run without facts (the CLI's:
   on many cores they would cross a pipe for every segment) gets those of the chosen
   connections alone (``Analysis.with_facts_of``). A connection no detector visited had no
   retry, so it has no backoff chart.

Self-contained and offline: no URL is ever fetched. plotly.js (the bundle the plotly Python
package ships, so it always matches the figures' schema) is embedded once, gzip-compressed and
base64-encoded (4.8 MB -> 2.0 MB per report), and unpacked in the page with the browser's
``DecompressionStream``; ``plotly_js="inline"`` embeds it uncompressed for browsers without
that API (2023+ in every major engine). The report's text (verdict, tables, timelines) is plain
HTML and reads without any script. Figures are drawn when they scroll into view, so a page
with 50 connection sections opens as fast as one with none.

Escaping: Jinja2 autoescape is on for everything; data for scripts is JSON inside
``<script type="application/json">`` with ``<``, ``>``, ``&``, U+2028 and U+2029 written as
``\\uXXXX`` escapes (``script_json``), so no capture string can close the script element.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import functools
import gzip
import hashlib
import ipaddress
import itertools
import json
import math
import os
import struct
import zlib
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import plotly.io as pio
from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup

from pcapline import __version__
from pcapline.explain_transfer import transfer_summary
from pcapline.findings.nat_copies import counted_once, later_copies
from pcapline.fmt import app_label, capture_quality, duration, endpoint, printable, span, utc
from pcapline.model import FAILURE_VALUES, Confidence, Finding, failing, probing
from pcapline.outfile import whole_files
from pcapline.render import palette
from pcapline.render.figures.backoff import backoff, gap_series
from pcapline.render.figures.capture_timeline import capture_timeline, plan_timeline
from pcapline.render.figures.delay_distribution import delay_distribution
from pcapline.render.figures.stall_strip import stall_rows
from pcapline.render.figures.time_sequence import conn_segments, time_sequence
from pcapline.render.jsondoc import COUNT_KEYS, plain
from pcapline.render.palette import Figure
from pcapline.render.terminal import explaining_findings, slow_lines
from pcapline.timeline import NoticeRow, TimelineRow, connection_notices, connection_timeline

if TYPE_CHECKING:
    from pcapline.analysis import Analysis
    from pcapline.facts import Facts

PlotlyJs = Literal["gzip", "inline"]

TEMPLATES = Path(__file__).with_name("templates")

#: Connection sections at most (failing connections first); the page says how many were left out.
MAX_SECTIONS = 50
#: Annotated-timeline rows per connection section: above this, rows with events keep their
#: neighbours and the quiet stretches between them fold into one "n frames" line.
MAX_TIMELINE_ROWS = 160
TIMELINE_EDGE_ROWS = 12
#: Connections linked from one verdict line; the rest are reached through the table filter.
MAX_PROBLEM_LINKS = 12

#: Plotly config: no plotly logo/cloud link, responsive, and nothing that could fetch a URL
#: (MathJax is only used when the page defines it; topojson only for geo traces, but blanked).
PLOTLY_CONFIG: dict[str, Any] = {
    "displaylogo": False,
    "responsive": True,
    "typesetMath": False,
    "topojsonURL": "",
    "showLink": False,
    "showSendToCloud": False,
    "showEditInChartStudio": False,
    "modeBarButtonsToRemove": ["select2d", "lasso2d"],
}

_SCRIPT_UNSAFE = {
    ord("<"): "\\u003c",
    ord(">"): "\\u003e",
    ord("&"): "\\u0026",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}


#: Script data larger than this is gzip-packed in "gzip" mode (the table and the capture
#: timeline of a 30k-connection capture shrink from 11 MB to about 3 MB).
PACK_ABOVE = 32_000


@dataclass(frozen=True, slots=True)
class Payload:
    """Data for the page's script: JSON text, or gzip+base64 of it (``encoding="gzip"``)."""

    text: Markup
    encoding: Literal["json", "gzip"] = "json"


def pack(text: Markup, *, allowed: bool) -> Payload:
    return pack_pieces([text], allowed=allowed)


#: The gzip header of ``gzip.compress(..., compresslevel=6, mtime=0)`` (it does not depend
#: on the data).
_GZIP_HEADER = gzip.compress(b"", compresslevel=6, mtime=0)[:10]


def pack_pieces(pieces: Iterable[str], *, allowed: bool) -> Payload:
    """``pack`` of the text the ``pieces`` make, compressed as they come, so the whole text
    never exists at once (the connection table of a 30 M-packet capture is about 90 MB of
    JSON): byte for byte ``gzip.compress(text, compresslevel=6, mtime=0)`` (one deflate
    stream fed in pieces, the same header, CRC-32 and length).

    The deflating runs on a thread of its own while the next piece is made (zlib lets go of
    the GIL): laying the table out and compressing it took 1.9 and 1.5 s one after the other
    on that capture. At most ``_PIECES_AHEAD`` pieces wait for it, so the text held stays a
    few pieces."""
    if not allowed:
        return Payload(Markup("".join(pieces)))
    pieces = iter(pieces)
    held: list[str] = []
    size = 0
    for piece in pieces:
        held.append(piece)
        size += len(piece)
        if size > PACK_ABOVE:
            break
    else:
        return Payload(Markup("".join(held)))
    stream = _GzipStream()
    waiting: collections.deque[Future[None]] = collections.deque()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pcapline-pack") as deflater:
        try:
            # one thread: the pieces are deflated in the order they come
            for piece in itertools.chain(held, pieces):
                waiting.append(deflater.submit(stream.add, str(piece).encode("utf-8")))
                while len(waiting) > _PIECES_AHEAD or (waiting and waiting[0].done()):
                    waiting.popleft().result()
            while waiting:
                waiting.popleft().result()
        finally:
            for future in waiting:  # an error making a piece: what waits is not deflated
                future.cancel()
    return Payload(Markup(base64.b64encode(stream.finish()).decode("ascii")), "gzip")


#: Pieces made ahead of the deflating thread (``pack_pieces``): a connection table's
#: piece is ``TABLE_CHUNK_ROWS`` rows, about 2.5 MB of text.
_PIECES_AHEAD = 2


class _GzipStream:
    """``gzip.compress(..., compresslevel=6, mtime=0)`` of the bytes ``add``-ed in order."""

    def __init__(self) -> None:
        self.deflate = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        self.packed = [_GZIP_HEADER]
        self.crc = self.length = 0

    def add(self, data: bytes) -> None:
        self.crc = zlib.crc32(data, self.crc)
        self.length += len(data)
        self.packed.append(self.deflate.compress(data))

    def finish(self) -> bytes:
        self.packed.append(self.deflate.flush())
        self.packed.append(struct.pack("<LL", self.crc, self.length & 0xFFFFFFFF))
        return b"".join(self.packed)


def script_json(value: Any, *, native: bool = False) -> Markup:
    """JSON that is safe inside a ``<script>`` element (no ``</script>``, no ``<!--``).
    ``native``: ``value`` holds JSON-native values only (str, int, finite float, bool, None,
    lists and tuples of them): the walk that converts numpy and pandas values is skipped."""
    text = json.dumps(
        value if native else plain(value),
        ensure_ascii=False,
        allow_nan=False,
        separators=(",", ":"),
    )
    return Markup(text.translate(_SCRIPT_UNSAFE))


def figure_json(fig: Figure) -> Markup:
    """A plotly figure as script-safe JSON, without its template (the page carries it once)."""
    return Markup(fig.to_json().translate(_SCRIPT_UNSAFE))


# ---------------------------------------------------------------- Wireshark filters


def wireshark_filter(client_ip: str, client_port: int, server_ip: str, server_port: int) -> str:
    """Display filter for one connection that works in any Wireshark version.

    ``tcp.stream eq N`` needs Wireshark's stream numbering to agree with ours (it does for
    the same file, but not for a filtered or merged copy); the address/port form always works.
    The JS in the page builds the same string for table rows (``wsFilter`` in report.js; a
    browser test checks they agree).
    """
    net = "ipv6" if _is_ipv6(client_ip) else "ip"

    def way(a: str, p: int, b: str, q: int) -> str:
        return f"(({net}.src eq {a} and tcp.srcport eq {p}) and ({net}.dst eq {b} and tcp.dstport eq {q}))"

    return (
        f"{way(client_ip, client_port, server_ip, server_port)} or "
        f"{way(server_ip, server_port, client_ip, client_port)}"
    )


def _is_ipv6(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).version == 6
    except ValueError:
        return ":" in ip


# ---------------------------------------------------------------- page model


@dataclass(frozen=True, slots=True)
class FateCount:
    fate: str
    count: int
    failure: bool
    colour: str


@dataclass(frozen=True, slots=True)
class Problem:
    """One line of the verdict: a failing fate, with what it means and where it happened."""

    fate: str
    count: int
    colour: str
    example: int  # the connection whose explanation is shown: the fate's lowest id
    example_has_section: bool
    explanation: str
    connections: tuple[tuple[int, bool], ...]  # (id, has a section) for the first few
    more: int
    #: How many of them the capture cannot prove (confidence ``unknown``): the banner's
    #: headline counts them as "may have" failed, and the card must not read as proven.
    uncertain: int = 0
    #: Cross-connection findings that explain them: (its number on the page, kind, summary,
    #: how many of this card's connections it holds) (``with_findings``).
    findings: tuple[tuple[int, str, str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class TimelineLine:
    """A row of the annotated timeline, an ICMP error about the connection (``notice``), or
    (``skipped`` > 0) a fold of quiet rows."""

    row: TimelineRow | None
    skipped: int = 0
    notice: NoticeRow | None = None
    #: A frame the verdict rests on (``Decision.evidence_frames``): marked, never folded.
    evidence: bool = False


@dataclass(slots=True)
class Section:
    conn_id: int
    title: str
    fate: str
    colour: str
    explanation: str
    facts: list[tuple[str, str]]
    inferred: list[tuple[str, str]]
    stream_filter: str
    address_filter: str
    tsg_id: str
    tsg_note: str
    backoff_id: str | None
    timeline: list[TimelineLine]
    timeline_total: int
    figures: dict[str, Markup] = field(default_factory=dict)
    start_ns: int | None = None  # the connection's first frame, epoch ns: the timeline's 0

    @property
    def evidence(self) -> bool:
        """Whether the timeline marks a frame the verdict rests on."""
        return any(line.evidence for line in self.timeline)


def render_html(
    analysis: Analysis, *, plotly_js: PlotlyJs = "gzip", max_sections: int = MAX_SECTIONS
) -> str:
    """The whole report as one HTML string."""
    page = build_page(analysis, max_sections=max_sections, packed=plotly_js == "gzip")
    template = _environment().get_template("report.html.j2")
    return template.render(
        **page,
        plotly_js=plotly_js,
        plotly_payload=_plotly_payload(plotly_js),
        css=Markup(_asset("report.css")),
        script=Markup(_asset("report.js")),
        plotly_config=script_json(PLOTLY_CONFIG),
        plotly_template=script_json(_plotly_template()),
        version=__version__,
    )


def write_report(analysis: Analysis, path: str | os.PathLike[str], **options: Any) -> Path:
    """Render and write the report; returns the path written."""
    out = Path(path)
    out.write_text(render_html(analysis, **options), encoding="utf-8")
    return out


def build_page(
    analysis: Analysis, *, max_sections: int = MAX_SECTIONS, packed: bool = True
) -> dict[str, Any]:
    """Everything the template shows, computed from the finished tables (no HTML here).

    ``packed``: gzip the large script payloads (the page unpacks them as it does plotly.js).
    """
    conns = analysis.connections
    capture = analysis.capture
    origin = _origin_ns(analysis)
    chosen, left_out = choose_sections(conns, max_sections)
    section_ids = frozenset(chosen)
    plan = plan_timeline(conns)
    figures: dict[str, Markup] = {}
    if len(conns):
        stalls = stall_rows(analysis.delays, plan.rows["id"].tolist())
        figures["timeline"] = figure_json(
            capture_timeline(plan, analysis.events, origin, sections=section_ids, stalls=stalls)
        )
    slow = slow_view(analysis, section_ids)
    if slow.distribution is not None:
        figures["delays"] = figure_json(slow.distribution)
    # Each section reads its connection's rows of the tables: looked up among the chosen
    # connections' rows, not the whole capture's (a scan of every segment and event per
    # section); their facts computed here when the analysis kept none.
    sections = _sections(analysis.select(stream=chosen).with_facts_of(chosen), chosen, figures)
    # The headline counts each connection once (a NAT host's capture holds some twice); the
    # fate counts and the table list every stream.
    counted = counted_once(conns, later_copies(analysis.findings))
    copies = len(conns) - len(counted)
    return {
        # printable: a bidi override in a file name would reorder it in the browser too
        "title": f"pcapline report: {printable(os.path.basename(capture.path) or capture.path)}",
        "capture": capture,
        "facts": capture_facts(analysis, origin, copies),
        "fate_counts": fate_counts(conns),
        "total": len(counted),
        "shown": len(conns),
        "copies": copies,
        "failing": _failing(counted, sure=True),
        "uncertain": _failing(counted, sure=False),
        "unsure": _ending_unknown(counted),
        "probes": _probes(counted),
        "quality": capture_quality(capture.quality),
        "filter": analysis.filter,
        "problems": with_findings(problems(conns, section_ids), conns, analysis.findings),
        "findings": [_finding_view(f, section_ids, origin) for f in analysis.findings],
        "slow": slow,
        # The text summary's "slow" lines: a connection that lost seconds without failing is
        # news at the top of the page too, not only in the "Slow" section far below.
        "slow_lines": slow_lines(analysis, later_copies(analysis.findings)),
        "transfers": transfer_summary(counted),
        "timeline_note": plan.note,
        "sections": sections,
        "sections_left_out": left_out,
        "max_sections": max_sections,
        "figures": {name: pack(text, allowed=packed) for name, text in figures.items()},
        "table": pack_pieces(connection_table_pieces(conns, origin, section_ids), allowed=packed),
    }


@dataclass(frozen=True, slots=True)
class PageReads:
    """What a report of some connections reads beyond their rows' light columns: what the
    bounded-memory path reads back or analyses again for the page (``bounded.Bounded``)."""

    sections: list[int]  # given a section: their segments, facts and retry series drawn
    marked: list[int]  # their events marked (the sections', the capture timeline's bars')
    worded: list[int]  # their explanations, inferred values, caveats shown (sections, problems)


def page_reads(conns: pd.DataFrame, max_sections: int = MAX_SECTIONS) -> PageReads:
    """What a report of ``conns`` draws, marks and words (``PageReads``)."""
    if conns.empty:
        return PageReads([], [], [])
    chosen, _ = choose_sections(conns, max_sections)
    bars = plan_timeline(conns).rows["id"].astype(np.int64).tolist()
    examples = [p.example for p in problems(conns, frozenset())]
    return PageReads(chosen, sorted(set(chosen) | set(bars)), sorted(set(chosen) | set(examples)))


#: Rows of the "slow, not failed" table (the connection table lists every connection).
MAX_SLOW_ROWS = 200


@dataclass(frozen=True, slots=True)
class SlowRow:
    """One connection of the "slow, not failed" table (measures already worded)."""

    conn_id: int
    has_section: bool
    client: str
    server: str
    fate: str
    tags: str
    connect: str
    response: str
    stalled: str
    biggest: str


@dataclass(frozen=True, slots=True)
class SlowView:
    """The report's slow part: the delay distributions and the slow connections table."""

    rows: tuple[SlowRow, ...]
    total: int  # slow connections that did not fail (rows shows at most MAX_SLOW_ROWS)
    distribution: Figure | None
    #: The late later turns ``slow_response`` did not judge, in words (explain); "" if none.
    unjudged: str = ""


def slow_view(analysis: Analysis, sections: frozenset[int]) -> SlowView:
    """What the delays stage measured, for the page: read from the connections table's delay
    columns and ``Analysis.delays`` (the turns), nothing measured again."""
    conns = analysis.connections
    if not len(conns) or "slow" not in conns.columns:
        return SlowView((), 0, None)
    lost = analysis.delays
    turns = getattr(lost, "turns", None)
    response = turns.response_s if turns is not None else conns["response_s"].to_numpy(float)
    limits = getattr(lost, "thresholds", None)
    distribution = delay_distribution(
        conns["connect_s"].to_numpy(float),
        response,
        connect_limit_s=None if limits is None else limits.connect_s,
        response_limit_s=None if limits is None else limits.response_s,
    )
    failed = failing(conns["fate"])
    # Row numbers, not copies of the rows: the not-failed ones are nearly all of a table
    # of a million connections.
    slow = np.flatnonzero((conns["slow"].map(len) > 0).to_numpy() & ~failed)
    # The most time lost first (the longest of its stalls, connect or response time), so the
    # worst are on top and the rows kept are the slowest, not the lowest ids.
    lost_s = (
        np.nan_to_num(
            np.nanmax(
                np.vstack(
                    [
                        conns[c].iloc[slow].to_numpy(np.float64, na_value=np.nan)
                        for c in ("stalled_s", "connect_s", "response_s")
                    ]
                ),
                axis=0,
                initial=0.0,
            ),
            nan=0.0,
        )
        if len(slow)
        else np.zeros(0)
    )
    slow = slow[np.lexsort((conns["id"].to_numpy(np.int64)[slow], -lost_s))]
    shown = conns.iloc[slow[:MAX_SLOW_ROWS]]
    slowest = _slowest_answers(lost, shown["id"].to_numpy(np.int64))
    rows = tuple(
        SlowRow(
            conn_id=int(conn),
            has_section=int(conn) in sections,
            client=endpoint(client_ip, client_port),
            server=endpoint(server_ip, server_port),
            fate=str(fate),
            tags=", ".join(str(t) for t in tags),
            connect=_seconds(connect_s),
            response=slowest.get(int(conn), _seconds(response_s)),
            stalled=_seconds(stalled_s) if stalled_s else "",
            biggest=f"{biggest} ({_seconds(biggest_s)})" if biggest else "",
        )
        for (
            conn,
            client_ip,
            client_port,
            server_ip,
            server_port,
            fate,
            tags,
            connect_s,
            response_s,
            stalled_s,
            biggest,
            biggest_s,
        ) in zip(
            *(
                shown[c].tolist()
                for c in (
                    "id",
                    "client_ip",
                    "client_port",
                    "server_ip",
                    "server_port",
                    "fate",
                    "slow",
                    "connect_s",
                    "response_s",
                    "stalled_s",
                    "biggest_stall",
                    "biggest_stall_s",
                )
            ),
            strict=True,
        )
    )
    ok = conns.loc[~failed, ["id", "start_ns"]]
    return SlowView(rows, len(slow), distribution, _unjudged(lost, ok))


def _unjudged(lost: object, ok: pd.DataFrame) -> str:
    """The sentence on the connections (of ``ok``, not failed: their ids and start times)
    whose late later turn ``slow_response`` did not judge (``DelaysTable.unjudged_replies``,
    worded by explain)."""
    from pcapline.delays import DelaysTable
    from pcapline.explain import unjudged_answers

    if not isinstance(lost, DelaysTable) or not len(ok):
        return ""
    ok = ok.sort_values("id", kind="stable")
    replies = lost.unjudged_replies(ok["id"].to_numpy(np.int64))
    if not replies:
        return ""
    start_ns = dict(zip(ok["id"].tolist(), ok["start_ns"].tolist(), strict=True))
    text = unjudged_answers(replies, start_ns)
    return text[0].upper() + text[1:] + "."


def _slowest_answers(lost: object, ids: np.ndarray) -> dict[int, str]:
    """Each connection's slowest answer as the delays stage measured it, naming the turn when
    there were several: ``1.2s (turn 3 of 5)``, and ``not judged`` when ``slow_response``
    judged only the first turn (``delays.response_judged``) and this one would have passed;
    ``at least`` before a lower bound from a one-direction capture (``delays.response_from``)."""
    from pcapline.delays import DelaysTable, timed_one_way

    if not isinstance(lost, DelaysTable) or not len(ids):
        return {}
    pos = np.searchsorted(lost.ids, ids)
    columns = lost.columns
    out = {}
    tls_wait = columns.get("response_tls_wait_s")
    waits = np.full(len(pos), np.nan) if tls_wait is None else np.asarray(tls_wait)[pos]
    for conn, most, number, count, unjudged, bound, wait in zip(
        ids.tolist(),
        columns["response_max_s"][pos].tolist(),
        columns["response_max_turn"][pos].tolist(),
        columns["responses"][pos].tolist(),
        columns["response_unjudged"][pos].tolist(),
        timed_one_way(columns)[pos].tolist(),
        waits.tolist(),
        strict=True,
    ):
        if unjudged and wait == wait and not most >= wait:
            # TLS 1.3: the wait after the server's session tickets (``delays._after_tickets``)
            out[int(conn)] = f"{_seconds(wait)} (after TLS 1.3 tickets, not judged)"
            continue
        text = _seconds(most)
        if text and bound:
            text = f"at least {text}"
        which = f"turn {number} of {count}" + (", not judged" if unjudged else "")
        out[int(conn)] = f"{text} ({which})" if text and count > 1 else text
    return out


def _seconds(value: float | None) -> str:
    if value is None or math.isnan(value):
        return ""
    return duration(float(value))


def _failing(conns: pd.DataFrame, *, sure: bool) -> int:
    """Failure fates the capture proves or makes likely (``sure``), or those it cannot tell;
    a prober's connections apart (``_probes``)."""
    if not len(conns):
        return 0
    failed = failing(conns["fate"]) & ~probing(conns)
    if "confidence" not in conns.columns:
        return int(failed.sum()) if sure else 0
    unknown = (conns["confidence"].astype(str) == str(Confidence.UNKNOWN)).to_numpy()
    return int((failed & (unknown != sure)).sum())


def _ending_unknown(conns: pd.DataFrame) -> int:
    """Connections of no failure fate whose ending the capture cannot tell (confidence
    unknown: an open or half_closed connection of a capture filtered to payload or to
    SYN/FIN/RST, one ended too soon after a FIN, ...): a FIN or RST the capture lacks may have
    ended them, so the headline cannot count them as not failed."""
    if not len(conns) or "confidence" not in conns.columns:
        return 0
    unknown = (conns["confidence"].astype(str) == str(Confidence.UNKNOWN)).to_numpy()
    return int((unknown & ~failing(conns["fate"]) & ~probing(conns)).sum())


def _probes(conns: pd.DataFrame) -> int:
    """Connections with a failure fate that were a scanner's or health check's probes."""
    return int((failing(conns["fate"]) & probing(conns)).sum()) if len(conns) else 0


def _origin_ns(analysis: Analysis) -> int:
    if analysis.capture.first_time_ns is not None:
        return int(analysis.capture.first_time_ns)
    if len(analysis.connections):
        return int(analysis.connections["start_ns"].min())
    return 0


def choose_sections(conns: pd.DataFrame, limit: int) -> tuple[list[int], int]:
    """Connections that get a section, and how many interesting ones did not fit.

    Interesting: every failing connection (by fate order, then id), then connections with
    retransmissions, probes or resets. When the whole capture fits under ``limit`` every
    connection gets one, so each table row leads somewhere; otherwise failing fates take
    turns, so each failing fate is shown.
    """
    if conns.empty:
        return [], 0
    rank = {str(f): i for i, f in enumerate(palette.FATE_ORDER)}
    fates = conns["fate"].astype(str)
    eventful = conns[list(COUNT_KEYS)].sum(axis=1).gt(0).to_numpy()
    tiers = np.where(failing(fates), 0, np.where(eventful, 1, 2))
    ranks = fates.map(rank).fillna(len(rank)).to_numpy(np.int64)
    ids = conns["id"].to_numpy(np.int64)
    # By tier, fate rank, then id: sorting these three columns, not a copy of the table
    # (two of every row's 40 columns on a report of a million connections).
    order = np.lexsort((ids, ranks, tiers))
    ids, tiers, ranks = ids[order], tiers[order], ranks[order]
    if len(conns) <= limit:
        return ids.tolist(), 0
    interesting = ids[tiers < 2].tolist()
    # Failing connections are taken in turns, one fate after another, so 96 connect timeouts
    # cannot crowd out the only keepalive timeout: every failing fate gets examples.
    queues = [ids[(tiers == 0) & (ranks == r)].tolist() for r in np.unique(ranks[tiers == 0])]
    picked: set[int] = set()
    while len(picked) < limit and any(queues):
        for queue in queues:
            if queue and len(picked) < limit:
                picked.add(queue.pop(0))
    for conn_id in ids[tiers == 1].tolist():
        if len(picked) >= limit:
            break
        picked.add(conn_id)
    chosen = [i for i in interesting if i in picked]  # report order
    return chosen, len(interesting) - len(chosen)


def fate_counts(conns: pd.DataFrame) -> list[FateCount]:
    counts = conns["fate"].astype(str).value_counts() if len(conns) else pd.Series(dtype=int)
    known = [str(f) for f in palette.FATE_ORDER]
    names = [f for f in known if f in counts.index] + sorted(set(counts.index) - set(known))
    return [
        FateCount(f, int(counts[f]), f in FAILURE_VALUES, palette.fate_colour(f)) for f in names
    ]


def problems(conns: pd.DataFrame, sections: frozenset[int]) -> list[Problem]:
    """One verdict line per failing fate, worst first, explained by the fate's lowest-id
    connection (every verdict has its explanation: ``explain.verdicts``)."""
    out = []
    fates = conns["fate"].astype(str)
    every_id = conns["id"].to_numpy(np.int64)
    for fc in fate_counts(conns):
        if not fc.failure:
            continue
        # The fate's ids and the lowest one's explanation, not a copy of its rows.
        rows = np.flatnonzero((fates == fc.fate).to_numpy())
        by_id = rows[np.argsort(every_id[rows], kind="stable")]
        ids = every_id[by_id].tolist()
        first = conns["explanation"].iloc[by_id[0]]
        uncertain = (
            int((conns["confidence"].iloc[rows].astype(str) == str(Confidence.UNKNOWN)).sum())
            if "confidence" in conns.columns
            else 0
        )
        out.append(
            Problem(
                fate=fc.fate,
                count=fc.count,
                colour=fc.colour,
                example=ids[0],
                example_has_section=ids[0] in sections,
                explanation=str(first) if _present(first) else "",
                connections=tuple((i, i in sections) for i in ids[:MAX_PROBLEM_LINKS]),
                more=max(len(ids) - MAX_PROBLEM_LINKS, 0),
                uncertain=uncertain,
            )
        )
    return out


def with_findings(
    cards: list[Problem], conns: pd.DataFrame, findings: list[Finding]
) -> list[Problem]:
    """Each failure card with the cross-connection findings that explain its connections
    (``terminal.explaining_findings``: a finding whose connections mostly, at least half,
    have the card's fate; the text report names the same ones)."""
    if not cards or not findings or conns.empty:
        return cards
    fate_of = dict(zip(conns["id"].astype(int).tolist(), conns["fate"].astype(str), strict=True))
    out = []
    for card in cards:
        named = [
            (number, f.kind, f.summary, held)
            for number, f, held in explaining_findings(card.fate, fate_of, findings)
        ]
        out.append(replace(card, findings=tuple(named)) if named else card)
    return out


def capture_facts(analysis: Analysis, origin: int, copies: int = 0) -> list[tuple[str, str]]:
    """The capture's facts, as (name, value) rows; ``copies``: how many of its streams are
    later copies of others (``nat_copies``)."""
    cap = analysis.capture
    facts = [
        ("file", printable(cap.path)),
        ("format", cap.format),
        ("link types", ", ".join(cap.link_types) or "none"),
    ]
    if cap.first_time_ns is not None and cap.last_time_ns is not None:
        seconds = (cap.last_time_ns - cap.first_time_ns) / 1e9
        facts.append(
            (
                "time span",
                f"{utc(cap.first_time_ns)} UTC to {utc(cap.last_time_ns)} UTC ({span(seconds)})",
            )
        )
    skipped_total = sum(cap.skipped.values())
    facts.append(
        (
            "frames",
            f"{cap.frames:,} in the file: {cap.tcp_frames:,} TCP analysed, "
            + (f"{cap.icmp_frames:,} ICMP errors analysed, " if cap.icmp_frames else "")
            + f"{skipped_total:,} skipped",
        )
    )
    if cap.skipped:
        facts.append(
            (
                "skipped by reason",
                ", ".join(
                    f"{reason} {n:,}"
                    for reason, n in sorted(cap.skipped.items(), key=lambda kv: (-kv[1], kv[0]))
                ),
            )
        )
    streams = f"{len(analysis.connections):,}"
    facts.append(("connections", streams + (f" ({copies:,} of them NAT copies)" if copies else "")))
    return facts


#: Finding keys (flattened as ``_flatten`` names them) that hold an instant, epoch seconds in
#: the JSON (docs/contract.md, cross-connection findings): shown as UTC and capture-relative.
FINDING_INSTANTS: frozenset[str] = frozenset({"window.start", "window.end", "at", "burst.start"})


def _finding_view(f: Finding, sections: frozenset[int], origin_ns: int) -> dict[str, Any]:
    details = dict(f.details)
    explanation = details.pop("explanation", "")
    return {
        "kind": f.kind,
        "summary": f.summary,
        "explanation": "" if explanation is None else str(explanation),
        "connections": [(int(c), int(c) in sections) for c in f.connections],
        "details": [
            (key, _instant(f.details, key, origin_ns) if key in FINDING_INSTANTS else value)
            for key, value in _flatten(details)
        ],
    }


def _instant(details: dict[str, Any], key: str, origin_ns: int) -> str:
    """An epoch-seconds finding value as ``2026-12-03 09:29:27.228397 UTC (+1.51s)``, relative
    to the capture's first frame; as ``_flatten`` would show it when it is no number."""
    value: Any = details
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return _scalar(plain(value))
    ns = round(float(value) * 1e9)
    return f"{utc(ns)} UTC (+{duration((ns - origin_ns) / 1e9)})"


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Nested settings as ("keepalive.idle", "7200") pairs, for a two-column list.

    Values pass through ``jsondoc.plain`` first, so the page shows what the JSON says.
    """
    value = plain(value)
    if isinstance(value, dict):
        out: list[tuple[str, str]] = []
        for key, sub in value.items():
            out.extend(_flatten(sub, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list):
        return [(prefix, ", ".join(_scalar(v) for v in value))]
    return [(prefix, _scalar(value))]


#: ``inferred`` keys in words (docs/contract.md, "inferred"): a group's name, then a key's.
_INFERRED_GROUPS: dict[str, str] = {
    "syn": "SYN",
    "synack": "SYN+ACK",
    "rto": "retransmission timeouts",
    "zero_window": "zero window",
    "reset": "reset",
    "keepalive": "keepalive",
    "keepalive_peer": "the peer's keepalive",
    "pmtu_stall": "path MTU stall",
    "idle_gap": "idle gap",
    "silent_sender": "silent sender",
}
_INFERRED_KEYS: dict[str, str] = {
    "rtt_ms": "round trip",
    "capture_start": "running when the capture began",
    "spurious_rtos": "spurious retransmission timeouts (D-SACK)",
    "duplicates": "packets captured twice",
    "super_segments": "segments larger than the MSS (TSO/GRO, captured on the sender)",
    "icmp": "ICMP errors",
    "times": "sent at (from the first)",
    "retries": "retries",
    "gave_up": "gave up",
    "give_up_s": "gives up at (from the first)",
    "series": "gaps",
    "doubling": "doubling (exponential backoff)",
    "user_timeout_shape": "last gap cut short (TCP_USER_TIMEOUT)",
    "stalled_s": "stalled",
    "probes": "probes",
    "recovered": "recovered",
    "by": "by",
    "state": "while",
    "idle_s": "idle before it",
    "idle": "idle (TCP_KEEPIDLE)",
    "interval": "interval (TCP_KEEPINTVL)",
    "count": "probes (TCP_KEEPCNT)",
    "full_size": "full-size segments (bytes)",
    "largest_acked": "largest acknowledged (bytes)",
    "unanswered": "unanswered",
    "shrunk_to": "shrunk to (bytes)",
    "stall_s": "stalled",
    "before_frame": "last frame before",
    "after_frame": "first frame after",
    "rst_frame": "RST frame",
    "last_frame": "last frame",
    "ack_frame": "last ACK frame",
    "unacked_bytes": "bytes never acknowledged",
    "fin_unacked": "FIN never acknowledged",
    "silent_s": "silent for",
    "rto_s": "retransmission timeout",
}
#: Whole paths whose words the group's and the key's do not make.
_INFERRED_PATHS: dict[str, str] = {
    "keepalive.by": "keepalive probes sent by",
    "keepalive_peer.by": "the peer's keepalive probes sent by",
    "reset.idle_s": "idle before the reset",
}
#: What a null says, by key: not measured, or not seen because the capture ended first.
_INFERRED_NULL: dict[str, str] = {
    "gave_up": "not seen (answered, or the capture ended before the next retry was due)",
    "give_up_s": "not known",
    "count": "not seen (no give-up)",
}


def inferred_words(value: Any) -> list[tuple[str, str]]:
    """``inferred`` as (words, value) pairs for the page: the keys said in words
    (``_INFERRED_GROUPS``, ``_INFERRED_KEYS``), times with their unit, yes/no for booleans,
    a null said for what it means; a key without words keeps its name."""
    out = []
    for path, text in _flatten(value):
        *groups, key = path.split(".")
        head = " ".join(_INFERRED_GROUPS.get(g, g.replace("_", " ")) for g in groups)
        words = _INFERRED_KEYS.get(key, key.replace("_", " "))
        label = _INFERRED_PATHS.get(path) or (f"{head} {words}" if head else words)
        label = label[:1].upper() + label[1:]
        out.append((label, _inferred_value(key, text)))
    return out


def _inferred_value(key: str, text: str) -> str:
    if text == "unknown":
        return _INFERRED_NULL.get(key, "not known")
    if text in ("True", "False"):
        return "yes" if text == "True" else "no"
    if key in ("times", "series") or key.endswith("_s"):
        return f"{text} s"
    if key.endswith("_ms"):
        return f"{text} ms"
    if key in ("idle", "interval"):
        return f"{text} s"
    return text


def _scalar(value: Any) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_scalar(v)}" for k, v in value.items())
    return str(value)


# ---------------------------------------------------------------- connection table


#: Table columns as the script reads them (one array per connection, in this order).
TABLE_COLUMNS: tuple[str, ...] = (
    "id",
    "client_ip",
    "client_port",
    "server_ip",
    "server_port",
    "fate",
    "start",
    "duration",
    "packets",
    "bytes_client",
    "bytes_server",
    "retries",
    "section",
    "who",
    "app",
)


#: Rows of the page's table laid out at a time (``connection_table_pieces``).
TABLE_CHUNK_ROWS = 20_000


def connection_table_pieces(
    conns: pd.DataFrame, origin: int, sections: frozenset[int]
) -> Iterator[str]:
    """The page's table script: compact column-ordered rows (10k rows ~ 1 MB), as
    ``script_json`` lays out ``{"columns": ..., "rows": ..., "colours": ...}``, in pieces
    of ``TABLE_CHUNK_ROWS`` rows (``pack_pieces`` compresses them as they come): a row as a
    Python list of 15 values weighs about 700 bytes, so the whole table's rows at once held
    about 600 MB on top of the report of a 30 M-packet capture (692,964 connections), and
    its text some 90 MB more, twice; a chunk's rows, some 14 MB."""
    # str(): Markup + str would HTML-escape the str (these pieces are script-safe JSON).
    yield str(script_json({"columns": list(TABLE_COLUMNS)}))[:-1] + ',"rows":['
    for lo in range(0, len(conns), TABLE_CHUNK_ROWS):
        part = conns.iloc[lo : lo + TABLE_CHUNK_ROWS]
        rows = _table_rows(part, origin, sections)
        yield ("," if lo else "") + str(script_json(rows, native=True))[1:-1]
    yield '],"colours":' + str(script_json(_table_colours())) + "}"


def _table_colours() -> dict[str, str]:
    return {str(k): v for k, v in palette.FATE_COLOURS.items()}


def _table_rows(
    conns: pd.DataFrame, origin: int, sections: frozenset[int]
) -> list[tuple[Any, ...]]:
    """One tuple per connection, values in ``TABLE_COLUMNS`` order, JSON-native (what
    ``script_json(..., native=True)`` takes; a tuple is laid out as a list). Built a column at
    a time: ``tolist`` makes the Python values in one C loop each, where a row at a time cost
    7 us a connection (half a second on the 57k connections of the bench capture)."""
    if conns.empty:
        return []
    start_ns = conns["start_ns"].to_numpy(np.int64)
    start = ((start_ns - origin) / 1e9).tolist()
    duration = ((conns["end_ns"].to_numpy(np.int64) - start_ns) / 1e9).tolist()
    retries = (
        conns["syn_retransmits"].to_numpy(np.int64)
        + conns["synack_retransmits"].to_numpy(np.int64)
        + conns["retransmits"].to_numpy(np.int64)
    ).tolist()
    ids = conns["id"].to_numpy(np.int64).tolist()
    app = conns["app"].tolist() if "app" in conns.columns else itertools.repeat(None, len(conns))
    six = itertools.repeat(6)
    return list(
        zip(
            ids,
            _texts(conns["client_ip"]),
            _ints(conns["client_port"]),
            _texts(conns["server_ip"]),
            _ints(conns["server_port"]),
            _texts(conns["fate"]),
            list(map(round, start, six)),
            list(map(round, duration, six)),
            _ints(conns["packets"]),
            _ints(conns["bytes_client"]),
            _ints(conns["bytes_server"]),
            retries,
            [i in sections for i in ids],
            list(map(_who, conns["closer"].tolist(), conns["reset_by"].tolist())),
            list(map(app_label, app)),
            strict=True,
        )
    )


def _ints(column: pd.Series) -> list[int]:
    ints: list[int] = column.to_numpy(np.int64).tolist()
    return ints


def _texts(column: pd.Series) -> list[str]:
    return list(map(str, column.tolist()))


def _who(closer: object, reset_by: object) -> str:
    if _present(reset_by):
        return f"RST by {reset_by}"
    if _present(closer):
        return f"FIN first by {closer}"
    return ""


def _present(value: object) -> bool:
    return (
        value is not None
        and not (isinstance(value, float) and math.isnan(value))
        and str(value) not in ("", "<NA>", "nan", "None")
    )


# ---------------------------------------------------------------- connection sections


def _sections(analysis: Analysis, chosen: list[int], figures: dict[str, Markup]) -> list[Section]:
    if not chosen:
        return []
    conns = analysis.connections.set_index("id", drop=False)
    events_by_conn = dict(
        tuple(analysis.events[analysis.events["conn"].isin(chosen)].groupby("conn"))
    )
    empty_events = analysis.events.iloc[0:0]
    out = []
    for conn_id in chosen:
        row = conns.loc[conn_id]
        if not isinstance(row, pd.Series):  # connection ids are unique (Wireshark tcp.stream)
            raise ValueError(f"connection {conn_id} appears more than once")
        events = events_by_conn.get(conn_id, empty_events)
        section = _section(analysis, row, events)
        figures.update(section.figures)
        out.append(section)
    return out


def _facts_index(facts: Facts | None, conn_id: int) -> int | None:
    """Position of ``conn_id`` in ``facts.conn_ids`` (ascending), None when it has no rows."""
    if facts is None:
        return None
    at = int(np.searchsorted(facts.conn_ids, conn_id))
    return at if at < len(facts.conn_ids) and int(facts.conn_ids[at]) == conn_id else None


def _section(analysis: Analysis, row: pd.Series, events: pd.DataFrame) -> Section:
    conn_id = int(row["id"])
    fate = str(row["fate"])
    figures: dict[str, Markup] = {}
    tsg_id, tsg_note, backoff_id = f"tsg-{conn_id}", "", None
    index = _facts_index(analysis.facts, conn_id)
    if analysis.facts is not None and index is not None:
        seg = conn_segments(analysis.facts, index, int(row["start_ns"]))
        tsg, tsg_note = time_sequence(seg, events)
        if tsg is None:
            tsg_id = ""
        else:
            figures[tsg_id] = figure_json(tsg)
        found = analysis.detections.get(conn_id)  # None: not visited, so no retries
        back = backoff(gap_series(found, seg.seconds_at)) if found is not None else None
        if back is not None:
            backoff_id = f"backoff-{conn_id}"
            figures[backoff_id] = figure_json(back)
    timeline = connection_timeline(analysis, conn_id)  # from the facts the analysis kept
    client = endpoint(row["client_ip"], row["client_port"])
    server = endpoint(row["server_ip"], row["server_port"])
    return Section(
        conn_id=conn_id,
        title=f"{client} → {server}",
        fate=fate,
        colour=palette.fate_colour(fate),
        explanation=str(row["explanation"]) if _present(row["explanation"]) else "",
        facts=_connection_facts(row),
        inferred=inferred_words(row["inferred"]) if isinstance(row["inferred"], Mapping) else [],
        stream_filter=f"tcp.stream eq {conn_id}",
        address_filter=wireshark_filter(
            str(row["client_ip"]),
            int(row["client_port"]),
            str(row["server_ip"]),
            int(row["server_port"]),
        ),
        tsg_id=tsg_id if tsg_id in figures else "",
        tsg_note=tsg_note,
        backoff_id=backoff_id,
        timeline=with_notices(
            fold_timeline(timeline, evidence=_evidence(row)),
            connection_notices(analysis, conn_id),
        ),
        timeline_total=len(timeline),
        figures=figures,
        start_ns=int(row["start_ns"]),
    )


def _evidence(row: pd.Series) -> frozenset[int]:
    """The frames the connection's verdict rests on (``evidence_frames``), when the table
    holds them."""
    frames = row.get("evidence_frames")
    if frames is None or isinstance(frames, float):  # absent, or NaN
        return frozenset()
    return frozenset(int(f) for f in frames)


def _connection_facts(row: pd.Series) -> list[tuple[str, str]]:
    duration = (int(row["end_ns"]) - int(row["start_ns"])) / 1e9
    facts = [
        (
            "frames",
            f"{int(row['first_frame'])} to {int(row['last_frame'])} ({int(row['packets']):,} packets)",
        ),
        ("start", utc(int(row["start_ns"])) + " UTC"),
        ("duration", span(duration)),
        (
            "payload",
            f"client sent {int(row['bytes_client']):,} B, server sent {int(row['bytes_server']):,} B",
        ),
    ]
    who = _who(row["closer"], row["reset_by"])
    if who:
        facts.append(("ended", who))
    counts = [(name.replace("_", " "), int(row[name])) for name in COUNT_KEYS if int(row[name])]
    if counts:
        facts.append(("counts", ", ".join(f"{n} {name}" for name, n in counts)))
    app = app_label(row.get("app"))
    if app:
        facts.append(("application", f"{app} (from frame {int(row['app']['frame'])})"))
    if bool(row["client_guessed"]):
        # flows.py: recognised payloads name the client (rule 3) before the ports (rule 4).
        by = (
            "the application's messages (requests and hellos come from the client)"
            if app
            else "the side with the ephemeral port"
        )
        facts.append(("client side", f"guessed (no SYN captured): {by}"))
    level = str(row.get("confidence", Confidence.PROVEN))
    if level != Confidence.PROVEN:
        caveats = ", ".join(str(c) for c in row.get("caveats", []))
        facts.append(("confidence", f"{level} ({caveats})" if caveats else level))
    return facts


def with_notices(lines: list[TimelineLine], notices: list[NoticeRow]) -> list[TimelineLine]:
    """The folded timeline with every notice (ICMP error) placed before the first shown row
    that came after it: notices are never folded away."""
    out: list[TimelineLine] = []
    pending = iter(notices)
    waiting = next(pending, None)
    for line in lines:
        while waiting is not None and line.row is not None and waiting.frame < line.row.frame:
            out.append(TimelineLine(None, notice=waiting))
            waiting = next(pending, None)
        out.append(line)
    while waiting is not None:
        out.append(TimelineLine(None, notice=waiting))
        waiting = next(pending, None)
    return out


def fold_timeline(
    rows: list[TimelineRow],
    limit: int = MAX_TIMELINE_ROWS,
    evidence: frozenset[int] = frozenset(),
) -> list[TimelineLine]:
    """All rows when they fit; else the first and last few, every row with an event and its
    neighbours, and one fold line for each quiet stretch in between. The rows of the
    ``evidence`` frames (what the verdict rests on) are marked and always kept."""
    if len(rows) <= limit:
        return [TimelineLine(r, evidence=r.frame in evidence) for r in rows]
    keep = np.zeros(len(rows), dtype=bool)
    keep[:TIMELINE_EDGE_ROWS] = True
    keep[-TIMELINE_EDGE_ROWS:] = True
    keep[[i for i, r in enumerate(rows) if r.frame in evidence]] = True
    marked = [
        i
        for i, r in enumerate(rows)
        if r.labels or r.client_state_changed or r.server_state_changed
    ]
    budget = max((limit - 2 * TIMELINE_EDGE_ROWS) // 3, 1)
    for i in _spread(marked, budget):
        keep[max(i - 1, 0) : i + 2] = True
    out: list[TimelineLine] = []
    skipped = 0
    for r, k in zip(rows, keep, strict=True):
        if k:
            if skipped:
                out.append(TimelineLine(None, skipped))
                skipped = 0
            out.append(TimelineLine(r, evidence=r.frame in evidence))
        else:
            skipped += 1
    if skipped:
        out.append(TimelineLine(None, skipped))
    return out


def _spread(items: list[int], n: int) -> Iterable[int]:
    if len(items) <= n:
        return items
    picks = np.linspace(0, len(items) - 1, num=n).astype(int)
    return [items[i] for i in picks]


# ---------------------------------------------------------------- assets


@functools.cache
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["seconds"] = lambda v: f"{v:.6f}"
    env.filters["duration"] = duration
    env.filters["utc"] = utc
    env.filters["printable"] = printable
    return env


@functools.cache
def _asset(name: str) -> str:
    return (TEMPLATES / name).read_text(encoding="utf-8")


@functools.cache
def _plotly_payload(kind: PlotlyJs) -> Markup:
    """plotly.js for the page: raw, or gzip+base64 for the page's DecompressionStream."""
    from plotly.offline import get_plotlyjs

    source = get_plotlyjs()
    if kind == "inline":
        # The bundle is embedded inside <script>; it must not close the element early.
        if "</script" in source.lower():
            source = source.replace("</script", "<\\/script").replace("</SCRIPT", "<\\/SCRIPT")
        return Markup(source)
    return Markup(_packed_plotly(source))


def _packed_plotly(source: str) -> str:
    """gzip+base64 of plotly.js, kept in the user's cache folder after the first report:
    compressing the 4.8 MB bundle took 0.25 s of a small capture's 0.85 s report, every time.

    The file is named after the bundle's hash (a plotly upgrade gets its own), written whole
    under a temporary name then renamed, and read back only when it unpacks to the bundle
    itself (20 ms): a damaged or foreign file is packed again, never embedded. Where the
    folder cannot be written (a read-only home) the bundle is packed on every report."""
    raw = source.encode("utf-8")
    folder = _cache_folder()
    path = folder / f"plotly-{hashlib.sha256(raw).hexdigest()[:24]}.gz.b64"
    with contextlib.suppress(OSError, ValueError, EOFError, zlib.error):
        kept = path.read_text(encoding="ascii")
        if gzip.decompress(base64.b64decode(kept, validate=True)) == raw:
            return kept
    packed = base64.b64encode(gzip.compress(raw, compresslevel=9, mtime=0)).decode("ascii")
    with contextlib.suppress(OSError):
        folder.mkdir(parents=True, exist_ok=True)
        with whole_files([str(path)]) as (temporary,):
            Path(temporary).write_text(packed, encoding="ascii")
    return packed


def _cache_folder() -> Path:
    """``$XDG_CACHE_HOME/pcapline``, else ``~/.cache/pcapline`` (the XDG base directory rule)."""
    base = os.environ.get("XDG_CACHE_HOME") or ""
    if not os.path.isabs(base):  # unset, empty or relative: the specification says ignore it
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "pcapline"


@functools.cache
def _plotly_template() -> dict[str, Any]:
    """The plotly_white template, once per page instead of once per figure."""
    template: dict[str, Any] = pio.templates["plotly_white"].to_plotly_json()
    return template
