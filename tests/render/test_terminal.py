"""render/terminal.py: summary first, then a table that stays readable at any size."""

from __future__ import annotations

from dataclasses import replace

from builders.analysis import connection_row, make_analysis

from pcapline.model import CaptureInfo, Explanation, Fate, Finding
from pcapline.render.terminal import (
    Selection,
    TextOptions,
    render_text,
    short_reason,
)

EXPECTED_120 = """\
capture  synthetic.pcapng (pcapng, EN10MB)
frames   35 frames: 30 TCP, 5 skipped (not_tcp 4, truncated_record 1)
time     2023-11-14 22:13:20.000000 .. 2023-11-14 22:13:36.000000 UTC (16.00s)
warning  file ends inside frame 35 (truncated record)
conns    3 connections: 1 keepalive_timeout, 1 refused, 1 closed
findings
  nat_timestamp: SYNs from 192.0.2.7 dropped

id  client               server             start  duration  pkts  bytes c>s  bytes s>c  fate
 1  10.0.0.1:40001       10.0.0.2:81       +1.00s     300us     2         0B         0B  refused
    The SYN was answered by RST
 2  [2001:db8::1]:40002  [2001:db8::2]:22  +2.00s    14.00s    10       100B      2.0kB  keepalive_timeout
    Keepalive probes went unanswered 3 times
 0  10.0.0.1:40000       10.0.0.2:80          +0s   250.0ms    10       100B      2.0kB  closed
    The client closed the connection

keepalive_timeout (connection 2): Keepalive probes went unanswered 3 times. The client aborted with RST.
  It is in a cross-connection finding, nat_timestamp (findings, above): SYNs from 192.0.2.7 dropped

refused (connection 1): Nothing listened on 10.0.0.2:81: the SYN was answered by RST.
"""


def _nat() -> Finding:
    return Finding("nat_timestamp", "SYNs from 192.0.2.7 dropped", (0, 2), {"ip": "192.0.2.7"})


def test_full_report_at_fixed_width() -> None:
    assert render_text(make_analysis(findings=[_nat()]), TextOptions(width=120)) == EXPECTED_120


def test_filtered_summary_counts_the_whole_capture_then_the_selection() -> None:
    whole = make_analysis()
    kept = whole.select(stream=[1])
    out = render_text(kept, TextOptions(width=120), Selection(whole.connections, "--stream 1"))
    lines = out.splitlines()
    at = lines.index("conns    3 connections: 1 keepalive_timeout, 1 refused, 1 closed")
    assert lines[at + 1] == "         showing 1 of 3 connections (filter: --stream 1): 1 refused"
    none = render_text(
        whole.select(host="10.99.9.9"),
        TextOptions(width=120),
        Selection(whole.connections, "--host 10.99.9.9"),
    )
    assert none.splitlines()[-2:] == [
        "conns    3 connections: 1 keepalive_timeout, 1 refused, 1 closed",
        "         no connection matches --host 10.99.9.9",
    ]


def test_no_line_exceeds_the_width_and_failures_come_first() -> None:
    for width in (60, 80, 100, 200):
        out = render_text(make_analysis(), TextOptions(width=width))
        table = out.split("\n\n")[1].splitlines()
        assert all(len(line) <= width for line in table), (width, table)
        ids = [line.split()[0] for line in table[1:] if not line.startswith("    ")]
        assert ids == ["1", "2", "0"], width
        # addresses and fates are never shortened, whatever the width
        assert "keepalive_timeout" in out and "[2001:db8::1]:40002" in out, width


def _table_of(out: str) -> str:
    return out.split("\n\n")[1]


LONG_WHY = (
    "the server's window stayed closed for 42 s while the client probed it 7 times, "
    "then the client gave up"
)


def test_every_column_and_the_whole_why_at_80_and_120_ipv4_and_ipv6() -> None:
    """No column disappears and the "why" is never cut, at 80 and 120 columns, for IPv4 and
    for long IPv6 endpoints: it moves under the row (and at 80 the numbers too)."""
    v6 = "fd00:1234:5678:9abc:def0:1234:5678:9abc"
    rows = [
        connection_row(0, explanation=f"Closed: {LONG_WHY}."),
        connection_row(1, client_ip=v6, server_ip=v6.replace("1234", "4321")),
    ]
    analysis = make_analysis(rows=rows, events=[])
    from pcapline.model import Verdict

    verdicts = {
        0: Verdict(0, Fate.CLOSED, explanation=Explanation(LONG_WHY, "Closed")),
        1: Verdict(1, Fate.CLOSED, explanation=Explanation("short why", "Closed")),
    }
    analysis = replace(analysis, verdicts=verdicts)
    for width in (80, 120):
        table = _table_of(render_text(analysis, TextOptions(width=width)))
        lines = table.splitlines()
        assert all(len(line) <= width for line in lines), (width, table)
        flat = " ".join(" ".join(lines).split())
        assert LONG_WHY[:1].upper() + LONG_WHY[1:] in flat, (width, table)
        assert "Short why" in flat
        assert f"[{v6}]:40001" in flat
        assert "+1.00s" in flat and "250.0ms" in flat and "2.0kB" in flat and "100B" in flat
        assert f"[{v6.replace('1234', '4321')}]:80" in flat  # the server, under the row at 80
        for header in ("id", "client", "fate"):
            assert header in lines[0]
    wide = _table_of(render_text(analysis, TextOptions(width=400))).splitlines()
    assert len(wide) == 3 and wide[1].endswith(LONG_WHY[:1].upper() + LONG_WHY[1:])


def test_capture_strings_cannot_drive_the_terminal() -> None:
    """A file name with an OSC sequence (ESC ] ... swallows what follows) and a bidi override
    (``report\u202egpj.exe`` shows as ``reportexe.jpg``) is shown escaped."""
    name = "report\u202egpj.exe\x1b]8;;http://x\x07.pcapng"
    info = CaptureInfo(path=name, format="pcapng", frames=1, tcp_frames=1, warnings=["bad\x1b[2J"])
    out = render_text(
        make_analysis(rows=[connection_row(0)], events=[], capture=info), TextOptions(width=120)
    )
    assert "\x1b" not in out and "\u202e" not in out and "\x07" not in out
    assert "report\\u202egpj.exe\\x1b]8;;http://x\\x07.pcapng" in out
    assert "bad\\x1b[2J" in out


def test_limit_keeps_failures_and_says_how_many_are_hidden() -> None:
    rows = [connection_row(i) for i in range(200)]
    rows[150] = connection_row(150, fate="reset", closer=None, reset_by="server", resets=1)
    out = render_text(make_analysis(rows=rows, events=[]), TextOptions(width=200, limit=5))
    body = out.split("\n\n")[1].splitlines()
    assert [line.split()[0] for line in body[1:6]] == ["150", "0", "1", "2", "3"]
    assert body[6] == "... 195 more, use --limit 0 for all"
    assert "200 connections: 1 reset, 199 closed" in out


def test_limit_zero_shows_every_connection() -> None:
    rows = [connection_row(i) for i in range(120)]
    out = render_text(make_analysis(rows=rows, events=[]), TextOptions(width=200, limit=0))
    assert len(out.split("\n\n")[1].splitlines()) == 121
    assert "more, use --limit" not in out


def test_no_colour_codes_unless_asked() -> None:
    plain = render_text(make_analysis(), TextOptions(width=120, color=False))
    assert "\x1b[" not in plain
    coloured = render_text(make_analysis(), TextOptions(width=120, color=True))
    assert "\x1b[" in coloured


def test_capture_text_is_not_rich_markup() -> None:
    rows = [connection_row(0, explanation="[bold]not markup[/bold] stays as written.")]
    info = CaptureInfo(path="[red]x[/red].pcap", format="pcap", frames=1, tcp_frames=1)
    out = render_text(make_analysis(rows=rows, events=[], capture=info), TextOptions(width=200))
    assert "[red]x[/red].pcap" in out
    assert "[bold]not markup[/bold] stays as written." in out


def test_empty_capture_has_a_summary_and_no_table() -> None:
    info = CaptureInfo(
        path="udp-only.pcap", format="pcap", link_types=["EN10MB"], frames=3, skipped={"not_tcp": 3}
    )
    out = render_text(make_analysis(rows=[], events=[], capture=info), TextOptions(width=80))
    assert out.splitlines() == [
        "capture  udp-only.pcap (pcap, EN10MB)",
        "frames   3 frames: 0 TCP, 3 skipped (not_tcp 3)",
        "conns    no TCP connections",
    ]


def test_guessed_client_is_marked() -> None:
    rows = [connection_row(0, client_guessed=True)]
    out = render_text(make_analysis(rows=rows, events=[]), TextOptions(width=120))
    assert "10.0.0.1:40000?" in out


def test_short_reason_is_the_headline_without_the_fate_label() -> None:
    timeout = Explanation(
        "3 SYNs at 0, 1, 3 s, never answered", "Connect timeout", "; schedule: doubling."
    )
    assert short_reason(timeout) == "3 SYNs at 0, 1, 3 s, never answered"
    closed = Explanation("the server sent the first FIN, then", "Closed normally", ".")
    assert short_reason(closed) == "The server sent the first FIN, then"
    assert short_reason(None) == ""


def test_each_failure_fate_is_explained_once_with_a_count() -> None:
    rows = [
        connection_row(
            i, fate="connect_timeout", closer=None, explanation=f"Connect timeout: conn {i}."
        )
        for i in (4, 2, 9)
    ] + [connection_row(0)]
    out = render_text(make_analysis(rows=rows, events=[]), TextOptions(width=120))
    assert out.endswith("\n\nconnect_timeout (connection 2 and 2 more): Connect timeout: conn 2.\n")
    assert "Both sides sent FIN" not in out  # healthy fates are not explained below the table


def test_a_long_request_path_is_cut_in_the_table() -> None:
    # arkime/http-wrapped-header.pcap: a 1,000-character GET path wrapped over 12 lines under
    # its connection. The cell keeps 80 characters and the status; the JSON keeps it whole.
    path = "/b/ss/x/1?" + "&".join(f"v{i}=" + "x" * 40 for i in range(25))
    app = {"protocol": "http", "frame": 4, "http": {"method": "GET", "path": path, "status": 200}}
    analysis = make_analysis([connection_row(0), connection_row(1)])
    analysis.connections["app"] = [app, None]
    out = render_text(analysis, TextOptions(width=120))
    joined = out.replace("\n    ", " ")  # the moved cells wrap under the row
    cell = ("http GET " + path)[: 80 - 5] + "… 200"
    assert len(cell) == 80 and cell in joined
    lines = out.split(" 1  10.0.0.1:40001")[0].split(" 0  10.0.0.1:40000")[1].splitlines()
    assert len(lines) <= 4  # the row, its cells (2 lines), its why: not 12 lines of path
    assert "x" * 41 not in out
    tls = {"protocol": "tls", "frame": 4, "tls": {"sni": "a" * 120 + ".example"}}
    analysis = make_analysis([connection_row(0)])
    analysis.connections["app"] = [tls]
    out = render_text(analysis, TextOptions(width=200))
    assert "tls " + "a" * 75 + "…" in out and ".example" not in out
