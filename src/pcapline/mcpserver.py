"""``pcapline mcp``: a Model Context Protocol server over stdio (the official ``mcp`` SDK).

An AI assistant calls three tools, each answering plain text of bounded size:

- ``analyze``: one capture's summary, its failing and slow connections, and its findings
  (JSON text; connection lists cut to ``max_connections`` with a note saying how many more);
- ``timeline``: one connection's annotated timeline (the ``pcapline timeline`` text, cut to
  ``max_rows`` lines with a note);
- ``scan``: many captures (files, folders, globs) summarised, one entry per capture.

No answer exceeds ``MAX_CHARS`` characters: JSON answers list fewer entries until they fit
(still valid JSON, the ``more`` counts grown); a timeline is cut with a note. A missing file,
an unreadable capture, ``-`` (stdin is the MCP channel), an unknown connection or running out
of memory is an MCP error result with pcapline's one-line message (``ToolError``), never a
crash of the server. ``analyze`` takes a big capture file a partition at a time (``bounded``), as the CLI
does. The SDK is the optional extra ``mcp``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pcapline.errors import PcaplineError, UsageError, one_line

if TYPE_CHECKING:
    import pandas as pd

    from pcapline.analysis import Analysis

#: The largest answer a tool gives, in characters (about 10k tokens).
MAX_CHARS = 40_000


def _error(exc: BaseException) -> Exception:
    """pcapline's one-line message as the tool's error result."""
    from mcp.server.mcpserver.exceptions import ToolError

    if isinstance(exc, MemoryError):
        # The SDK would answer a bare "Error executing tool analyze": say what happened.
        return ToolError(
            "out of memory: the capture needs more memory than the server may use (analyse "
            "a slice of it: editcap -r, or tcpdump -r ... -w with a filter)"
        )
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        return ToolError(f"{where}{exc.strerror}")
    return ToolError(one_line(exc))


def bounded(text: str, limit: int = MAX_CHARS) -> str:
    """``text`` cut to ``limit`` characters, with a note saying how much was left out."""
    if len(text) <= limit:
        return text
    note = f"\n[truncated: {len(text) - limit:,} more characters; ask for less]"
    return text[: limit - len(note)] + note


def fitted(document: Callable[[int], dict[str, Any]], most: int) -> str:
    """``document(n)`` as JSON text of at most ``MAX_CHARS``: ``n`` (the entries each list
    shows) halved from ``most`` until it fits, so the answer stays valid JSON whose ``more``
    counts say what was left out. Cutting the text instead would end it inside a string."""
    shown = most
    while True:
        text = json.dumps(document(shown), indent=1, ensure_ascii=False)
        if len(text) <= MAX_CHARS or shown == 0:
            return bounded(text)
        shown //= 2


def _connection(row: dict[str, Any]) -> dict[str, Any]:
    from pcapline.fmt import app_label, endpoint

    return {
        "id": int(row["id"]),
        "client": endpoint(row["client_ip"], row["client_port"]),
        "server": endpoint(row["server_ip"], row["server_port"]),
        "fate": str(row["fate"]),
        "confidence": str(row.get("confidence", "")),
        "duration_s": round((int(row["end_ns"]) - int(row["start_ns"])) / 1e9, 6),
        "slow": [str(t) for t in row.get("slow", []) or []],
        "app": app_label(row.get("app")) or None,
        "explanation": str(row["explanation"] or ""),
    }


def summary(analysis: Analysis, max_connections: int = 50) -> dict[str, Any]:
    """The ``analyze`` tool's answer as a dict (capture facts, fates, failing and slow
    connections, findings), each list cut to ``max_connections`` with a count of the rest."""
    from pcapline.findings.nat_copies import counted_once, later_copies
    from pcapline.render.jsondoc import capture_doc, findings_doc

    conns = analysis.connections.sort_values("id", kind="stable")
    failing, slow = _listed(conns)
    # Each connection once, as the report's header counts them: a stream that nat_copies
    # found to be another's copy captured after an address translation is said apart.
    once = counted_once(conns, later_copies(analysis.findings))

    def listed(items: pd.DataFrame) -> dict[str, Any]:
        rows = items.head(max_connections).to_dict("records")
        shown = [_connection({str(k): v for k, v in r.items()}) for r in rows]
        return {"count": len(items), "shown": shown, "more": max(len(items) - len(shown), 0)}

    return {
        "capture": capture_doc(analysis.capture),
        "connections": len(once),
        "streams_that_are_copies": len(conns) - len(once),
        "fates": dict(Counter(once["fate"].astype(str).tolist()).most_common()),
        "failing": listed(failing),
        "slow_not_failing": listed(slow),
        "findings": findings_doc(analysis),
        "next": "call timeline(capture, connection) for one connection's packets",
    }


def _listed(conns: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The failing connections, and the slow ones that did not fail (``conns``' order)."""
    import numpy as np

    from pcapline.model import failing

    failed = failing(conns["fate"])
    if "slow" not in conns.columns:
        return conns[failed], conns[np.zeros(len(conns), dtype=bool)]
    slow = conns["slow"].map(bool).to_numpy(bool)
    return conns[failed], conns[~failed & slow]


def summary_words(analysis: Analysis, max_connections: int = 50) -> list[int]:
    """The connections whose explanation ``summary`` shows (the first ``max_connections``
    of each list): what the bounded-memory path reads back (``bounded.Bounded.worded``)."""
    failing, slow = _listed(analysis.connections.sort_values("id", kind="stable"))
    shown = [failing.head(max_connections), slow.head(max_connections)]
    return sorted({int(i) for rows in shown for i in rows["id"].tolist()})


def _a_file(capture: str) -> str:
    """``capture`` unless it is ``-``: the server's stdin is the client's message stream,
    not a capture (reading it would take the client's requests, or wait forever)."""
    if capture == "-":
        raise UsageError(
            "'-' (standard input) is the MCP channel here, not a capture: give the path of a "
            "capture file on the server's machine"
        )
    return capture


def analyze_text(capture: str, max_connections: int = 50) -> str:
    from pcapline import bounded as memory_bounded
    from pcapline.analysis import analyze

    try:
        if memory_bounded.wanted(_a_file(capture)):
            # As `pcapline analyze` does for a big file: one partition at a time, the same
            # summary, where the whole capture in memory could exhaust the server's.
            with memory_bounded.analyse(capture, outputs=frozenset({"text"})) as result:
                light = result.text_analysis(worded=False)
                analysis = result.worded(light, summary_words(light, max_connections))
        else:
            analysis = analyze(capture)
    except (PcaplineError, OSError, MemoryError) as exc:
        raise _error(exc) from None
    return fitted(lambda shown: summary(analysis, shown), max_connections)


def timeline_text(capture: str, connection: int, max_rows: int = 200) -> str:
    from pcapline import bounded as memory_bounded
    from pcapline.analysis import analyze
    from pcapline.render.timeline import connection_timeline_text

    try:
        if memory_bounded.wanted(_a_file(capture)):
            # As `pcapline timeline` does for a big file: the partition holding the
            # connection read back, the connection analysed again from its 4-tuple's rows.
            outputs = frozenset({"text", "drawn"})
            with memory_bounded.analyse(capture, outputs=outputs) as result:
                some = result.text_analysis(of=[connection]).select(stream=connection)
                analysis = result.drawn(some, events_of=[connection], drawn=[connection])
        else:
            analysis = analyze(_a_file(capture), stream=connection)
        if analysis.connections.empty:
            raise UsageError(f"no connection with id {connection} in {capture}")
        text = connection_timeline_text(analysis, connection, ascii_only=True)
    except (PcaplineError, OSError, MemoryError) as exc:
        raise _error(exc) from None
    lines = text.splitlines()
    if len(lines) > max_rows:
        left = len(lines) - max_rows
        lines = [*lines[:max_rows], f"[truncated: {left:,} more lines; raise max_rows]"]
    return bounded("\n".join(lines))


def scan_text(paths: list[str], max_captures: int = 100) -> str:
    from pcapline import scan

    try:
        if not paths:
            raise UsageError("no path given: name capture files, folders or globs")
        captures = scan.scan([_a_file(p) for p in paths], workers=1)
    except (PcaplineError, OSError, MemoryError) as exc:
        raise _error(exc) from None
    fates = dict(sum((Counter(c.fates) for c in captures), Counter()).most_common())

    def document(most: int) -> dict[str, Any]:
        shown = [c.to_dict() for c in captures[:most]]
        return {
            "captures": len(captures),
            "unreadable": sum(1 for c in captures if c.error),
            "fates": fates,
            "shown": shown,
            "more": max(len(captures) - len(shown), 0),
        }

    return fitted(document, max_captures)


def build_server() -> Any:
    """The MCP server with pcapline's tools (``mcp.server.mcpserver.MCPServer``)."""
    try:
        from mcp.server.mcpserver import MCPServer
    except ImportError as exc:
        raise UsageError("pcapline mcp needs the MCP SDK: pip install 'pcapline[mcp]'") from exc
    from pcapline import __version__

    server = MCPServer(
        "pcapline",
        version=__version__,
        instructions="Packet-capture analysis: how each TCP connection ended and why, how "
        "slow it was. Start with analyze(capture); then timeline(capture, connection).",
    )

    @server.tool()
    def analyze(capture: str, max_connections: int = 50) -> str:
        """Analyse a pcap/pcapng file (path on the server's machine): capture facts, fates,
        failing and slow connections with their explanations, cross-connection findings."""
        return analyze_text(capture, max(1, min(max_connections, 1000)))

    @server.tool()
    def timeline(capture: str, connection: int, max_rows: int = 200) -> str:
        """One connection's annotated timeline (its id is Wireshark's tcp.stream): every
        frame with flags, seq/ack, window, events and each side's TCP state."""
        return timeline_text(capture, connection, max(1, min(max_rows, 5000)))

    @server.tool()
    def scan(paths: list[str], max_captures: int = 100) -> str:
        """Summarise many captures (files, folders searched recursively, globs): per capture
        frames, connections, fates and findings."""
        return scan_text(paths, max(1, min(max_captures, 1000)))

    return server
