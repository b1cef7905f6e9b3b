"""``pcapline mcp``: the MCP server answers the SDK's own client over stdio (a subprocess)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

pytest.importorskip("mcp")

from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "sample_captures"


def _text(result: Any) -> str:
    return "".join(getattr(part, "text", "") for part in result.content)


async def _session_calls(calls: list[tuple[str, dict[str, Any]]]) -> tuple[list[str], list[Any]]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "pcapline", "mcp"], env=env, cwd=str(REPO)
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        tools = await session.list_tools()
        results = [await session.call_tool(name, args) for name, args in calls]
    return sorted(t.name for t in tools.tools), results


def test_a_real_client_lists_and_calls_every_tool(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.pcap")
    not_a_capture = tmp_path / "text.pcap"
    not_a_capture.write_text("hello, not a capture\n")
    calls = [
        ("analyze", {"capture": str(SAMPLES / "app-tls-http.pcap")}),
        ("analyze", {"capture": str(SAMPLES / "refused-no-listener.pcap"), "max_connections": 1}),
        ("timeline", {"capture": str(SAMPLES / "app-tls-http.pcap"), "connection": 3}),
        (
            "timeline",
            {"capture": str(SAMPLES / "app-tls-http.pcap"), "connection": 2, "max_rows": 5},
        ),
        (
            "scan",
            {
                "paths": [
                    str(SAMPLES / "refused-no-listener.pcap"),
                    str(SAMPLES / "app-tls-http.pcap"),
                ]
            },
        ),
        ("analyze", {"capture": missing}),
        ("analyze", {"capture": str(not_a_capture)}),
        ("timeline", {"capture": str(SAMPLES / "refused-no-listener.pcap"), "connection": 99}),
    ]
    names, results = anyio.run(_session_calls, calls)
    assert names == ["analyze", "scan", "timeline"]
    ok, refused, line, cut, scanned, gone, bad, no_conn = results

    doc = json.loads(_text(ok))
    assert not ok.is_error and doc["connections"] == 5 and doc["fates"] == {"closed": 5}
    assert doc["failing"]["count"] == 0

    doc = json.loads(_text(refused))
    assert doc["failing"]["count"] >= 1 and doc["failing"]["shown"][0]["fate"] == "refused"
    assert len(doc["failing"]["shown"]) == 1

    assert "GET" not in _text(line) and "FIN" in _text(line)  # the timeline of an HTTP conn
    assert _text(cut).splitlines()[-1].startswith("[truncated:")
    assert len(_text(cut).splitlines()) == 6

    doc = json.loads(_text(scanned))
    assert doc["captures"] == 2 and doc["unreadable"] == 0

    for result, words in ((gone, "nope.pcap"), (bad, "text.pcap"), (no_conn, "99")):
        assert result.is_error, _text(result)
        assert words in _text(result) and "\n" not in _text(result).strip()


def test_answers_are_bounded() -> None:
    from pcapline.mcpserver import bounded

    text = bounded("x" * 100_000, limit=1000)
    assert len(text) == 1000 and "truncated: " in text
    assert bounded("short") == "short"


def test_without_the_sdk_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pcapline.cli import run

    monkeypatch.setitem(sys.modules, "mcp.server.mcpserver", None)  # import -> ImportError
    assert run(["mcp"]) == 2
    err = capsys.readouterr().err
    assert "pip install 'pcapline[mcp]'" in err and err.count("\n") == 1


def test_stdin_and_no_paths_are_refused_and_the_session_goes_on() -> None:
    """`-` is the server's own stdin, the client's request stream: analyze("-") answered
    "-: empty file" (and could have read the client's next request as capture bytes)."""
    sample = str(SAMPLES / "refused-no-listener.pcap")
    calls = [
        ("analyze", {"capture": "-"}),
        ("timeline", {"capture": "-", "connection": 0}),
        ("scan", {"paths": ["-"]}),
        ("scan", {"paths": []}),
        ("analyze", {"capture": sample}),
    ]
    _names, (analyzed, timeline, scanned, nothing, ok) = anyio.run(_session_calls, calls)
    for result in (analyzed, timeline, scanned):
        assert result.is_error
        assert "'-' (standard input) is the MCP channel here, not a capture" in _text(result)
    assert nothing.is_error and "no path given" in _text(nothing)
    assert not ok.is_error and json.loads(_text(ok))["fates"] == {"refused": 1}


def test_out_of_memory_is_said_not_a_bare_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK turns an uncaught MemoryError into "Error executing tool analyze", no reason."""
    from mcp.server.mcpserver.exceptions import ToolError

    from pcapline import engine, mcpserver

    def exhausted(*_args: object, **_kwargs: object) -> None:
        raise MemoryError

    monkeypatch.setattr(engine, "run", exhausted)
    sample = str(SAMPLES / "refused-no-listener.pcap")
    for call in (
        lambda: mcpserver.analyze_text(sample),
        lambda: mcpserver.timeline_text(sample, 0),
    ):
        with pytest.raises(ToolError, match=r"^out of memory: the capture needs more memory"):
            call()


@pytest.mark.parametrize(
    ("name", "most"),
    [("app-tls-http.pcap", 50), ("slow-syn-retries-then-success.pcap", 1)],
)
def test_a_big_capture_is_analysed_a_partition_at_a_time(
    name: str, most: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As `pcapline analyze` does above bounded.BOUNDED_MIN_BYTES: the whole capture in the
    server's memory (several times the file's size) could get the server killed. Only the
    explanations the answer shows are read back (``summary_words``): with one connection a
    list, one of the four slow ones."""
    from pcapline import analysis, bounded, mcpserver

    sample = str(SAMPLES / name)
    whole = mcpserver.analyze_text(sample, most)
    slow = json.loads(whole)["slow_not_failing"]
    assert [len(slow["shown"]), slow["more"]] == ([1, 3] if most == 1 else [0, 0])
    assert all(c["explanation"] for c in slow["shown"])

    def in_memory(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the whole capture was analysed in memory")

    monkeypatch.setattr(bounded, "BOUNDED_MIN_BYTES", 1)
    monkeypatch.setattr(analysis, "analyze", in_memory)
    assert mcpserver.analyze_text(sample, most) == whole


def test_a_big_captures_timeline_is_read_back_a_partition_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The timeline tool on a big file: the bounded path, the same text, the same error for
    a connection the capture does not hold."""
    from mcp.server.mcpserver.exceptions import ToolError

    from pcapline import analysis, bounded, mcpserver

    sample = str(SAMPLES / "slow-rto-storm-six-streams.pcap")
    whole = mcpserver.timeline_text(sample, 3)

    def in_memory(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the whole capture was analysed in memory")

    monkeypatch.setattr(bounded, "BOUNDED_MIN_BYTES", 1)
    monkeypatch.setattr(analysis, "analyze", in_memory)
    assert mcpserver.timeline_text(sample, 3) == whole
    with pytest.raises(ToolError, match="no connection with id 99 in"):
        mcpserver.timeline_text(sample, 99)
    # An id no int64 holds is no connection either (it was an OverflowError).
    with pytest.raises(ToolError, match="no connection with id 99999999999999999999 in"):
        mcpserver.timeline_text(sample, 99999999999999999999)


def test_a_long_answer_stays_valid_json(monkeypatch: pytest.MonkeyPatch) -> None:
    """analyze of the 3 GB bench capture answered text cut at 40,000 characters inside a
    string ("[truncated: ...]" in the middle of an explanation): not JSON any more. The lists
    now shrink until the document fits."""
    sys.path.insert(0, str(REPO / "tests"))
    from builders import html_scenarios as hs

    from pcapline import analysis
    from pcapline.mcpserver import MAX_CHARS, analyze_text, summary

    many = hs.large(5000)
    assert len(json.dumps(summary(many, 1000), indent=1)) > MAX_CHARS  # the premise
    monkeypatch.setattr(analysis, "analyze", lambda *_a, **_k: many)
    text = analyze_text(str(SAMPLES / "app-tls-http.pcap"), 1000)
    doc = json.loads(text)
    assert len(text) <= MAX_CHARS
    failing = doc["failing"]
    assert failing["count"] == 241 and 0 < len(failing["shown"]) < failing["count"]
    assert failing["more"] == failing["count"] - len(failing["shown"])
