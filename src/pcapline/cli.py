"""The ``pcapline`` command line: commands, options and exit codes; no analysis logic.

Exit codes (README "Exit codes"):

    0  ran
    1  ran, and ``--fail-on`` matched at least one selected connection
    2  unusable input or usage error: one line ``pcapline: error: ...`` on stderr
    3  a bug in pcapline: one line naming the exception (traceback with PCAPLINE_DEBUG=1)
    4  scan: ran, but some captures were not analysed (their worker died, likely out of
       memory, or the Dask cluster lost it): their rows say so, every other capture is reported

One function per command; a new command is one more ``@cli.command()`` function. click was
chosen for composable subcommands and ``CliRunner`` tests; rich renders the terminal tables.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import ipaddress
import os
import shutil
import stat
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

import click

from pcapline import __version__, memguard
from pcapline.errors import PcaplineError, SpillUnavailable, UsageError
from pcapline.fmt import printable
from pcapline.heap import keep_freed_memory
from pcapline.model import (
    FAILURES_ALIAS,
    Fate,
    SlowTag,
    SlowThresholds,
    fail_on_names,
    probing,
)
from pcapline.startup import guard_end, guard_start, release_held
from pcapline.stdio import reopen_closed
from pcapline.workers import TERMINATING_SIGNALS, Terminated, kill_children, stop_on_termination

if TYPE_CHECKING:
    from click.decorators import FC

    from pcapline.analysis import Analysis
    from pcapline.bounded import Bounded
    from pcapline.engine import Kept, Outcome, Progress
    from pcapline.render.terminal import Selection
    from pcapline.scan.run import CaptureSummary, Repeat

EXIT_OK, EXIT_FAIL_ON, EXIT_INPUT, EXIT_BUG, EXIT_INCOMPLETE = 0, 1, 2, 3, 4
#: Stopped by a signal: Ctrl-C (130), SIGTERM or SIGHUP (128 + its number).
EXIT_STOPPED = frozenset({130, *(128 + signum for signum in TERMINATING_SIGNALS)})
FORMATS = ("text", "json", "csv", "parquet", "html")
#: Fates ``--fail-on`` takes (``failures`` is every fate in model.FAILURE_FATES).
_FATE_NAMES = frozenset(f.value for f in Fate)
#: ``--fail-on`` also takes the ``slow`` tags (delays.SlowTag), next to the fates.
_SLOW_NAMES = frozenset(t.value for t in SlowTag)


class OutputError(PcaplineError):
    """The report could not be written (-o in a missing folder, no permission, pyarrow absent)."""


def _fate_names(
    _ctx: click.Context, _param: click.Parameter, values: Sequence[str]
) -> frozenset[str]:
    """``--fail-on`` may repeat and/or hold comma-separated fates or slow tags (SlowTag)."""
    try:
        names = fail_on_names(values, _FATE_NAMES | _SLOW_NAMES)
    except KeyError as unknown:
        choices = ", ".join([f.value for f in Fate] + [FAILURES_ALIAS])
        tags = ", ".join(t.value for t in SlowTag)
        raise click.BadParameter(
            f"unknown fate {unknown.args[0]!r} (choose from {choices}; or a slow tag: {tags})"
        ) from None
    if values and not names:
        # `--fail-on ''` (an unset CI variable) would silently never fail: refuse it.
        raise click.BadParameter("no fate given (e.g. --fail-on refused,connect_timeout)")
    return frozenset(names)


def _seconds(_ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    """A duration: ``0.5s``, ``500ms`` or a bare number of seconds."""
    if value is None:
        return None
    text = value.strip().lower()
    scale = 1.0
    if text.endswith("ms"):
        text, scale = text[:-2], 1e-3
    elif text.endswith("s"):
        text = text[:-1]
    try:
        seconds = float(text) * scale
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a duration (e.g. 0.5s, 500ms)") from None
    if not seconds >= 0 or seconds == float("inf"):
        raise click.BadParameter(f"{value!r}: a duration must be a finite number >= 0")
    return seconds


def _slow_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--slow-connect/--slow-response: when a connection earns a ``slow`` tag (delays.py)."""
    defaults = SlowThresholds()
    options = (
        click.option(
            "--slow-connect",
            metavar="DURATION",
            callback=_seconds,
            help=f"Tag slow_connect when the handshake took this long (default {defaults.connect_s:g}s; "
            "units s or ms).",
        ),
        click.option(
            "--slow-response",
            metavar="DURATION",
            callback=_seconds,
            help="Tag slow_response when an answer took this long, less the handshake round "
            "trip: the first request/response turn; every turn only on clear-text HTTP/1.x "
            "(elsewhere the server may speak unprompted) (default "
            f"{defaults.response_s:g}s; units s or ms).",
        ),
    )
    for option in reversed(options):
        command = option(command)
    return command


def _thresholds(connect: float | None, response: float | None) -> SlowThresholds | None:
    if connect is None and response is None:
        return None
    defaults = SlowThresholds()
    return SlowThresholds(
        connect_s=defaults.connect_s if connect is None else connect,
        response_s=defaults.response_s if response is None else response,
    )


def _ip_address(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """``--host`` must be an IPv4/IPv6 address; returned in canonical form (``2001:DB8::1`` ->
    ``2001:db8::1``). A typo would otherwise select nothing and ``--fail-on`` would pass."""
    if value is None:
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an IPv4 or IPv6 address") from None


def _filter_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--host/--port/--stream: select connections after analysis; ids stay tcp.stream."""
    options = (
        click.option(
            "--host",
            metavar="IP",
            callback=_ip_address,
            help="Only connections with this address (IPv4 or IPv6) at either end.",
        ),
        click.option(
            "--port",
            type=click.IntRange(0, 65535),
            help="Only connections with this port at either end.",
        ),
        click.option(
            "--stream",
            type=click.IntRange(min=0),
            multiple=True,
            metavar="N",
            help="Only connection N (Wireshark tcp.stream); may be repeated.",
        ),
    )
    for option in reversed(options):
        command = option(command)
    return command


def _app_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--app/--sni: select connections by what their first payloads carried (pcapline/app)."""
    options = (
        click.option(
            "--app",
            "app",
            type=click.Choice(("tls", "http")),
            help="Only connections whose first payloads are TLS (a ClientHello or ServerHello) "
            "or HTTP/1.x (a request or status line).",
        ),
        click.option(
            "--sni",
            metavar="PATTERN",
            help="Only TLS connections whose ClientHello names a matching server "
            "(shell pattern, any case: '*.example.com').",
        ),
    )
    for option in reversed(options):
        command = option(command)
    return command


def _scheduler_address(
    _ctx: click.Context, _param: click.Parameter, value: str | None
) -> str | None:
    """An empty ``--scheduler`` (``--scheduler "$DASK_SCHEDULER"`` with the variable unset) is
    a usage error, not a quiet local run."""
    if value is not None and not value.strip():
        raise click.BadParameter("an empty address (expected tcp://HOST:PORT)")
    return value


def _max_decompressed(_ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    """``--max-decompressed SIZE``: handed to the reader (and scan workers) by environment."""
    if value is None:
        return
    from pcapline.read.open import MAX_DECOMPRESSED_ENV, parse_cap

    try:
        parse_cap(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    os.environ[MAX_DECOMPRESSED_ENV] = value


class _Stopped(BaseException):
    """A Ctrl-C (or SIGTERM, SIGHUP) carried past click, which would report it as ``Abort``
    after writing an empty line to stderr: on a terminal that ends the ``^C`` line, in a log
    it is a blank line before ``pcapline: interrupted``. ``run`` writes that newline for a
    Ctrl-C on a terminal only (``_interrupted``)."""

    def __init__(self, stop: KeyboardInterrupt) -> None:
        super().__init__(stop)
        self.stop = stop


class _Commands(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as exc:
            raise _Stopped(exc) from None


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pcapline")
@click.option(
    "--max-decompressed",
    metavar="SIZE",
    callback=_max_decompressed,
    expose_value=False,
    help="Stop decompressing a compressed capture after SIZE bytes (e.g. 4G) and analyse what "
    "was read, with a warning (default: a quarter of RAM; env PCAPLINE_MAX_DECOMPRESSED).",
)
def cli() -> None:
    """Reconstruct every TCP connection in a packet capture and say how it ended and why."""


_jobs_option = click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    help="Worker processes for one large capture (default: every core; a capture under "
    "200,000 TCP segments runs in one process). Same output whatever the number.",
)
_quiet_option = click.option(
    "--quiet", "-q", is_flag=True, help="No progress line on stderr (shown only on a terminal)."
)


_scheduler_option = click.option(
    "--scheduler",
    metavar="ADDRESS",
    callback=_scheduler_address,
    help="Analyse the capture's connections on this Dask scheduler (tcp://host:8786) instead "
    "(extra 'dask'; README 'Large captures').",
)
_memory_bounded_option = click.option(
    "--memory-bounded",
    "bounded",
    is_flag=True,
    help="Analyse one partition of the capture at a time, keeping memory bounded whatever its "
    "size (automatic for a capture file over 512 MiB, a compressed one over 128 MiB); the "
    "output is the same.",
)


def _folder_path(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--spill-dir``: a folder, or one to make; not an empty name, nor a file or a device
    (``os.makedirs`` then says only "File exists")."""
    if value is None:
        return None
    if not value:
        raise click.BadParameter("an empty folder name", ctx=ctx, param=param)
    if os.path.exists(value) and not os.path.isdir(value):
        raise click.BadParameter(f"{value} is not a folder", ctx=ctx, param=param)
    return value


def _file_path(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``-o``: not an empty name (it said "cannot write : Is a directory")."""
    if value is not None and not value:
        raise click.BadParameter("an empty file name", ctx=ctx, param=param)
    return value


def _output_option(
    help: str = "Write here instead of standard output.", **more: Any
) -> Callable[[FC], FC]:
    """``-o FILE`` of every command (not an empty name: ``_file_path``)."""
    return click.option("-o", "--output", callback=_file_path, metavar="FILE", help=help, **more)


_spill_dir_option = click.option(
    "--spill-dir",
    metavar="DIR",
    type=click.Path(file_okay=False),
    callback=_folder_path,
    help="Where the bounded-memory path keeps its temporary files (removed at the end; "
    "default: $TMPDIR). Implies --memory-bounded.",
)


@cli.command(short_help="Summarise every TCP connection in a capture.")
@click.argument("capture")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="Terminal summary, the pcapline/1 JSON document, one CSV/Parquet row per connection, or an HTML report.",
)
@_output_option(
    help="Write here instead of standard output (parquet: a folder for the connections and "
    "events tables, or a FILE.parquet for the connections table alone)."
)
@_filter_options
@_app_options
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=50,
    show_default=True,
    help="Text format: rows in the connection table (failures first); 0 for all.",
)
@click.option(
    "--fail-on",
    "fail_on",
    multiple=True,
    callback=_fate_names,
    metavar="FATE[,FATE]",
    help=f"Exit 1 if a selected connection has one of these fates ('{FAILURES_ALIAS}' = every "
    f"failure fate) or slow tags ({', '.join(tag.value for tag in SlowTag)}).",
)
@_slow_options
@_jobs_option
@_scheduler_option
@_memory_bounded_option
@_spill_dir_option
@_quiet_option
def analyze(
    capture: str,
    fmt: str,
    output: str | None,
    host: str | None,
    port: int | None,
    stream: tuple[int, ...],
    app: str | None,
    sni: str | None,
    limit: int,
    fail_on: frozenset[str],
    slow_connect: float | None,
    slow_response: float | None,
    jobs: int | None,
    scheduler: str | None,
    bounded: bool,
    spill_dir: str | None,
    quiet: bool,
) -> int:
    """Analyse CAPTURE and say how every TCP connection ended and why.

    CAPTURE is a pcap or pcapng file, maybe gzip/bz2/xz/zstd-compressed, or '-' for stdin.
    With --stream N and the text format, each selected connection's annotated timeline
    follows the table.
    """
    _output_usable(output, [capture], parquet=fmt == "parquet")
    _sweep_left_behind(spill_dir)
    local_jobs = _processes(jobs, "--jobs")
    unfiltered = host is None and port is None and not stream and app is None and sni is None
    slow = _thresholds(slow_connect, slow_response)
    on_disk = _bounded_path(capture, asked=bounded or spill_dir is not None)
    # Faster there, not needed: JSON, CSV and Parquet are written whole from the partitions'
    # runs, and with several jobs the read, decode and numbering run beside the workers.
    faster = (
        not on_disk
        and unfiltered
        and fmt in ("json", "csv", "parquet")
        and scheduler is None
        and _faster_on_disk(capture, local_jobs)
    )
    if (on_disk or faster) and unfiltered and fmt != "html":
        try:
            return _analyze_bounded(
                capture,
                fmt=fmt,
                output=output,
                limit=limit,
                fail_on=fail_on,
                slow=slow,
                jobs=local_jobs,
                scheduler=scheduler,
                spill_dir=spill_dir,
                progress=not quiet,
            )
        except SpillUnavailable as exc:
            if not faster:
                raise
            # Chosen for speed alone: the capture fits in memory, so a full or read-only
            # $TMPDIR costs the speed-up, not the analysis.
            _say(f"pcapline: warning: {exc}: analysing in memory instead")
    with contextlib.ExitStack() as held:
        shown = _progress_line(capture, quiet=quiet)
        held.callback(shown.done)  # the line wiped before an error's, too
        filters: dict[str, Any] = {
            "host": host,
            "port": port,
            "stream": stream,
            "app": app,
            "sni": sni,
        }
        whole, analysis, entries = _selected(
            held,
            capture,
            fmt=fmt,
            filters=filters,
            on_disk=on_disk,
            slow=slow,
            jobs=local_jobs,
            scheduler=scheduler,
            spill_dir=spill_dir,
            shown=shown,
            json_entries=fmt == "json" and unfiltered,
            limit=limit,
        )
        with _writing(shown, fmt, output):
            _write_analysis(
                analysis,
                whole,
                fmt=fmt,
                output=output,
                limit=limit,
                filters=filters,
                entries=entries,
            )
    status = _fail_on_status(analysis, fail_on)
    if status != EXIT_OK:
        # Exit (not a return value) so the code also holds under click's standalone mode.
        raise click.exceptions.Exit(status)
    return EXIT_OK


#: ``--jobs`` / ``--workers`` above this many times the usable cores are lowered to it.
MAX_PROCESSES_PER_CORE = 2


def _processes(asked: int | None, option: str) -> int:
    """Worker processes for ``--jobs`` / ``--workers``: every core this process may run on
    unless told, and at most ``MAX_PROCESSES_PER_CORE`` per core, with a warning. Workers
    are CPU-bound, so more only cost memory (each its share of the capture, and partitions
    are made per worker): ``--jobs 10000`` forked thousands of processes and took all the
    machine's memory, even for a 16-frame capture."""
    from pcapline.engine import default_jobs

    cores = default_jobs()
    if asked is None:
        return cores
    most = MAX_PROCESSES_PER_CORE * cores
    if asked > most:
        _say(
            f"pcapline: warning: {option} {asked} is more than {MAX_PROCESSES_PER_CORE} "
            f"per core this process may use ({cores}): using {most}"
        )
        return most
    return asked


def _sweep_left_behind(spill_dir: str | None, *, say: bool = True) -> None:
    """Remove the temporary folders that killed runs left where this run may make its own
    (``tempdirs.sweep``: only those whose owner process is gone), and (``say``) say so on
    stderr: a run killed by SIGKILL (the OOM killer) cannot remove its own, and a disk
    filled by an old split capture would fail this run."""
    import tempfile

    from pcapline import tempdirs
    from pcapline.fmt import byte_count

    places = {tempfile.gettempdir(), *([spill_dir] if spill_dir is not None else [])}
    for place in sorted(places):
        swept = tempdirs.sweep(place)
        if swept.folders and say:
            _say(
                f"pcapline: removed {swept.folders} temporary "
                f"folder{'s' if swept.folders != 1 else ''} ({byte_count(swept.size_bytes)}) "
                f"that killed pcapline runs left in {printable(place)}"
            )


def _make_spill_dir(spill_dir: str | None) -> None:
    """``--spill-dir`` made if it does not exist, and said: not refused (a new folder per run
    is a fair use), but a mistyped or unmounted path puts gigabytes of spill files on the
    disk holding its parent, the root file system often."""
    if spill_dir is not None and not os.path.isdir(spill_dir):
        os.makedirs(spill_dir, exist_ok=True)
        _say(f"pcapline: note: --spill-dir {printable(spill_dir)} did not exist: made it")


def _faster_on_disk(capture: str, jobs: int) -> bool:
    """Would ``jobs`` workers analyse ``capture`` faster on the bounded-memory path, for an
    output written whole from its runs (``bounded.faster_with``)?"""
    from pcapline import bounded

    return bounded.faster_with(capture, jobs)


def _bounded_path(capture: str, *, asked: bool) -> bool:
    """Take the bounded-memory path (``bounded.py``)? When asked, or for a big capture file."""
    from pcapline import bounded

    return asked or bounded.wanted(capture)


def _write_analysis(
    analysis: Analysis,
    whole: Analysis,
    *,
    fmt: str,
    output: str | None,
    limit: int,
    filters: dict[str, Any],
    entries: list[str] | None,
) -> None:
    """``analyze``'s output of the selected connections (``analysis``) of ``whole``;
    ``entries``: every connection's JSON entry, laid out where it was analysed."""
    if fmt == "text":
        selection = _selection(whole, _filter_words(**filters))
        stream = filters["stream"]
        _write(
            _text(analysis, selection, limit=limit, stream=stream, to_file=output is not None),
            output,
        )
    elif fmt == "json" and entries is not None:
        # The connections were laid out where they were analysed (engine.py).
        _write_json(analysis, entries, output)
    elif fmt == "json" and output not in (None, "-"):
        _write_with(analysis.write_json, output)  # streamed: no whole-document string
    elif fmt == "json":
        _write(analysis.to_json(), output)
    elif fmt == "csv":
        from pcapline.render.tables import to_csv

        _write(to_csv(analysis), output)
    elif fmt == "parquet":
        _write_parquet(analysis, output)
    else:
        _write(analysis.to_html(), output)


@contextlib.contextmanager
def _analysed_on_disk(
    capture: str,
    slow: SlowThresholds | None,
    jobs: int,
    scheduler: str | None,
    spill_dir: str | None,
    shown: Progress,
    outputs: frozenset[str] = frozenset({"text", "drawn"}),
) -> Iterator[Bounded]:
    """``capture`` analysed on the bounded-memory path, its warnings said; by default for a
    view of some connections (``_on_disk_view``). Its work folder (and split capture) are
    removed on leaving."""
    from pcapline import bounded

    _make_spill_dir(spill_dir)
    result = bounded.analyse(
        capture,
        slow=slow,
        jobs=jobs,
        scheduler=scheduler,
        outputs=outputs,
        spill_dir=spill_dir,
        progress=shown,
    )
    with result:
        for warning in result.capture.warnings:
            _say(f"pcapline: warning: {printable(warning)}")
        yield result


def _selected(
    held: contextlib.ExitStack,
    capture: str,
    *,
    fmt: str,
    filters: dict[str, Any],
    on_disk: bool,
    jobs: int,
    scheduler: str | None,
    spill_dir: str | None,
    shown: Progress,
    slow: SlowThresholds | None = None,
    json_entries: bool = False,
    only: tuple[int, ...] | None = None,
    then: str = "",
    limit: int = 0,
) -> tuple[Analysis, Analysis, list[str] | None]:
    """The whole capture analysed (in memory, or on disk when ``on_disk``: its work folder
    stays until ``held`` closes), the connections ``filters`` select with what ``fmt`` reads
    of them (``_on_disk_view``), and every connection's JSON entry when ``json_entries`` (in
    memory only). ``only``: the connections asked for are these (on disk, only the
    partitions holding them are read back); ``then``: the progress stage shown once the
    analysis is done; ``limit``: the rows the text report shows (0: all)."""
    from pcapline.engine import Kept

    stream = filters["stream"]
    if on_disk:
        result = held.enter_context(
            _analysed_on_disk(capture, slow, jobs, scheduler, spill_dir, shown)
        )
        whole = result.text_analysis(of=only, worded=False)
        view = _select(whole, capture, **filters)
        if then:
            shown.stage(then)
        return whole, _on_disk_view(result, view, fmt, stream, limit), None
    outcome = _run(
        capture,
        slow=slow,
        jobs=jobs,
        scheduler=scheduler,
        progress=shown,
        detections=Kept.DRAWN if fmt == "html" else Kept.READ,
        json_entries=json_entries,
    )
    if then:
        shown.stage(then)
    whole = outcome.analysis
    return whole, _select(whole, capture, **filters), outcome.json_entries


def _on_disk_view(
    result: Bounded, view: Analysis, fmt: str, stream: tuple[int, ...], limit: int
) -> Analysis:
    """The selected connections (``view`` of ``result.text_analysis(worded=False)``) with
    what ``fmt`` reads of them beyond their rows' light columns and delays: the explanations
    (``Bounded.worded``), the events and, for what the output draws, the segments and retry
    series (``Bounded.drawn``). The HTML report words, draws and marks what
    ``html.page_reads`` says; text words what ``terminal.worded_connections`` names (the
    rows it shows, ``limit``), with their ``Verdict`` records, and draws the ``--stream``
    timelines;
    JSON, CSV and Parquet word every selected connection and hold its events."""
    if fmt == "html":
        from pcapline.render.html import page_reads

        reads = page_reads(view.connections)
        view = result.worded(view, reads.worded)
        return result.drawn(view, events_of=reads.marked, drawn=reads.sections)
    if fmt == "text":
        from pcapline.render.terminal import worded_connections

        shown = _selected_streams(view, stream)
        words = [*worded_connections(view, limit), *shown]
        view = result.worded(view, words, verdicts=True)
        return result.drawn(view, events_of=shown, drawn=shown)
    every = view.connections["id"]
    return result.drawn(result.worded(view, every), events_of=every, drawn=())


def _worded_text(result: Bounded, limit: int) -> Analysis:
    """What the text report of every connection reads: their rows, the explanations and
    ``Verdict`` records of those it words (``terminal.worded_connections``)."""
    from pcapline.render.terminal import worded_connections

    whole = result.text_analysis(worded=False)
    return result.worded(whole, worded_connections(whole, limit), verdicts=True)


def _analyze_bounded(
    capture: str,
    *,
    fmt: str,
    output: str | None,
    limit: int,
    fail_on: frozenset[str],
    slow: SlowThresholds | None,
    jobs: int,
    scheduler: str | None,
    spill_dir: str | None,
    progress: bool,
) -> int:
    """``analyze`` on the bounded-memory path: the outputs are written from the partitions'
    runs, merged in connection id order (``bounded.Bounded``)."""
    if fmt == "parquet" and (output is None or output == "-"):
        raise UsageError(
            "--format parquet needs -o DIR (connections and events tables) or -o FILE.parquet"
        )
    single = fmt == "parquet" and output is not None and _parquet_target(output)
    outputs = {
        "json": frozenset({"json"}),
        "csv": frozenset({"table"}),
        "parquet": frozenset({"table"} if single else {"table", "events"}),
        "text": frozenset({"text"}),
    }[fmt]
    shown = _progress_line(capture, quiet=not progress)
    with contextlib.ExitStack() as held:
        try:
            result = held.enter_context(
                _analysed_on_disk(capture, slow, jobs, scheduler, spill_dir, shown, outputs)
            )
        except BaseException:
            shown.done()  # the line wiped before the error (or the fallback's warning)
            raise
        with _writing(shown, fmt, output):
            if fmt == "json":
                _write_streamed(result.write_json, output)
            elif fmt == "csv":
                _write_streamed(result.write_csv, output)
            elif fmt == "parquet":
                assert output is not None
                _write_bounded_parquet(result, output, single=single)
            else:
                text = _text(
                    _worded_text(result, limit), None, limit=limit, stream=(), to_file=bool(output)
                )
                _write(text, output)
        status = _fail_on_status(result.analysis(), fail_on)
    if status != EXIT_OK:
        raise click.exceptions.Exit(status)
    return EXIT_OK


#: What ``analyze`` writes, by format, as its last progress stage says it.
_WRITTEN = {
    "text": "the report",
    "json": "the JSON document",
    "csv": "the CSV table",
    "parquet": "the Parquet tables",
    "html": "the HTML report",
}


@contextlib.contextmanager
def _writing(shown: Progress, fmt: str, output: str | None) -> Iterator[None]:
    """The last progress stage while the output is written to a file (seconds on a big
    capture: a merge of every partition's rows for CSV and Parquet), wiped after it or on an
    error. Not for standard output, nor for a terminal or any other device named by ``-o``
    (``/dev/stdout``): the line would land in the output."""
    if output is None or output == "-" or not _file_or_folder(output):
        yield
        return
    shown.stage(f"writing {_WRITTEN[fmt]}")
    try:
        yield
    finally:
        shown.done()


def _file_or_folder(path: str) -> bool:
    """``path`` is a regular file or a folder, or nothing yet (not a device, a FIFO...)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return True
    return stat.S_ISREG(mode) or stat.S_ISDIR(mode)


def _write_streamed(writer: Callable[[TextIO], None], output: str | None) -> None:
    """``writer``'s text to ``output`` (whole or not at all) or to standard output, piece by
    piece: never the whole document as one string (about 100 MB of JSON on the 2.5 M-packet
    bench capture). Standard output is the text stream ``click.echo`` writes to, without
    echo's scan for ANSI colour codes (JSON and CSV text hold none: a JSON string escapes
    every control character)."""
    if output is not None and output != "-":
        _write_with(writer, output)
        return
    stream = click.get_text_stream("stdout")
    try:
        writer(stream)
        stream.flush()
    except BrokenPipeError as exc:
        raise ReaderLeft from exc
    except OSError as exc:  # a full disk behind a redirection: one line, exit 2
        raise OutputError(f"cannot write standard output: {exc.strerror or exc}") from exc


class ReaderLeft(Exception):
    """Standard output's reader left (``pcapline analyze big.pcap | head``): not an error.
    Not an ``OSError`` either, which click turns into exit 1 on its way out of a command."""


def _write_bounded_parquet(result: Any, output: str, *, single: bool) -> None:
    from pcapline.render.tables import ParquetUnavailable

    try:
        if single:
            result.write_parquet(output)
        else:
            result.write_parquet_dataset(output)
    except ParquetUnavailable as exc:
        raise OutputError(str(exc)) from exc
    except OSError as exc:
        raise OutputError(f"cannot write {output}: {exc.strerror or exc}") from exc


@cli.command(short_help="Write a self-contained HTML report.")
@click.argument("capture")
@_output_option(help="The HTML file to write.", required=True)
@_filter_options
@_app_options
@_jobs_option
@_scheduler_option
@_memory_bounded_option
@_spill_dir_option
@_quiet_option
def report(
    capture: str,
    output: str,
    host: str | None,
    port: int | None,
    stream: tuple[int, ...],
    app: str | None,
    sni: str | None,
    jobs: int | None,
    scheduler: str | None,
    bounded: bool,
    spill_dir: str | None,
    quiet: bool,
) -> int:
    """Write one self-contained HTML report of CAPTURE (works offline, attach it to the ticket)."""
    _output_usable(output, [capture])
    filters: dict[str, Any] = {"host": host, "port": port, "stream": stream, "app": app, "sni": sni}
    with contextlib.ExitStack() as held:
        analysis, shown = _one_capture(
            held,
            capture,
            quiet=quiet,
            jobs=jobs,
            bounded=bounded,
            scheduler=scheduler,
            spill_dir=spill_dir,
            fmt="html",
            filters=filters,
            # the page of a large capture takes seconds too; on disk its sections'
            # connections are analysed again first
            then="writing the report",
        )
        page = analysis.to_html()
        shown.done()
    del analysis  # the page is made: the connections (a GB at a million) go first
    _write(page, output)
    return EXIT_OK


def _one_capture(
    held: contextlib.ExitStack,
    capture: str,
    *,
    quiet: bool,
    jobs: int | None,
    bounded: bool,
    scheduler: str | None,
    spill_dir: str | None,
    fmt: str,
    filters: dict[str, Any],
    only: tuple[int, ...] | None = None,
    then: str = "",
) -> tuple[Analysis, Progress]:
    """What ``report`` and ``timeline`` read of CAPTURE: the connections ``filters`` select
    (``_selected``), analysed on disk when asked (--memory-bounded, --spill-dir) or when the
    capture is too large for memory, and the progress line, wiped when ``held`` closes."""
    _sweep_left_behind(spill_dir)
    shown = _progress_line(capture, quiet=quiet)
    local_jobs = _processes(jobs, "--jobs")
    held.callback(shown.done)  # the line wiped before an error's, too
    _whole, analysis, _entries = _selected(
        held,
        capture,
        fmt=fmt,
        filters=filters,
        on_disk=_bounded_path(capture, asked=bounded or spill_dir is not None),
        jobs=local_jobs,
        scheduler=scheduler,
        spill_dir=spill_dir,
        shown=shown,
        only=only,
        then=then,
    )
    return analysis, shown


@cli.command()
@click.argument("capture")
@click.argument("stream", metavar="N", type=click.IntRange(min=0))
@_output_option()
@click.option("--ascii", "ascii_only", is_flag=True, help="ASCII arrows (-> <-) instead of → ←.")
@_jobs_option
@_scheduler_option
@_memory_bounded_option
@_spill_dir_option
@_quiet_option
def timeline(
    capture: str,
    stream: int,
    output: str | None,
    ascii_only: bool,
    jobs: int | None,
    scheduler: str | None,
    bounded: bool,
    spill_dir: str | None,
    quiet: bool,
) -> int:
    """The annotated timeline of connection N (Wireshark tcp.stream) in CAPTURE."""
    _output_usable(output, [capture])
    ascii_only = ascii_only or (output in (None, "-") and not _stdout_takes_unicode())
    with contextlib.ExitStack() as held:
        analysis, _shown = _one_capture(
            held,
            capture,
            quiet=quiet,
            jobs=jobs,
            bounded=bounded,
            scheduler=scheduler,
            spill_dir=spill_dir,
            fmt="text",
            filters={"host": None, "port": None, "stream": (stream,)},
            only=(stream,),
        )
        text = stream_timeline(analysis, stream, ascii_only)
    _write(text, output)
    return EXIT_OK


@cli.command(
    short_help="Analyse many captures in parallel; one table plus cross-connection findings."
)
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("text", "json", "csv", "html")),
    default="text",
    show_default=True,
    help="Aggregate output (JSON schema pcapline-scan/1, README 'Batch scan').",
)
@_output_option()
@click.option(
    "--workers",
    "--jobs",
    "-j",
    "workers",
    type=click.IntRange(min=1),
    help="Local worker processes (default: all cores).",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    callback=_scheduler_address,
    help="Run on this Dask distributed scheduler instead.",
)
@click.option(
    "--fail-on",
    "fail_on",
    multiple=True,
    metavar="KIND[,KIND]",
    help="Exit 1 if a finding kind or fate occurs ('failures' = every failure fate).",
)
@click.option(
    "--memory-bounded",
    "bounded",
    is_flag=True,
    help="Analyse every capture one partition at a time, as analyze --memory-bounded does "
    "(automatic for a capture file over 512 MiB, a compressed one by what it decompresses "
    "to); the output "
    "is the same.",
)
@click.option(
    "--spill-dir",
    metavar="DIR",
    type=click.Path(file_okay=False),
    help="Where the bounded-memory path keeps its temporary files (removed at the end; "
    "default: $TMPDIR; with --scheduler, on each worker's machine). Implies --memory-bounded.",
)
@_quiet_option
def scan(
    paths: tuple[str, ...],
    fmt: str,
    output: str | None,
    workers: int | None,
    scheduler: str | None,
    fail_on: tuple[str, ...],
    bounded: bool,
    spill_dir: str | None,
    quiet: bool,
) -> int:
    """Analyse every capture in PATH... (files, folders recursively, globs; compressed or not)."""
    from pcapline import scan as batch

    names = batch.fail_on_names(fail_on)
    workers = _processes(workers, "--workers")
    files, repeats = batch.one_path_per_file(batch.expand_paths(paths))
    if repeats:  # a note on the input, as warnings are (-q quiets the progress line only)
        _say_repeats(repeats)
    _output_usable(output, files)  # refused before any capture is analysed
    if scheduler is None:  # local workers: a big capture's work folder is made here
        _make_spill_dir(spill_dir)
        _sweep_left_behind(spill_dir)
    shown = not quiet and sys.stderr.isatty()
    try:
        captures = batch.scan_files(
            files,
            workers=workers,
            scheduler=scheduler,
            progress=shown,
            memory_bounded=bounded or spill_dir is not None,
            spill_dir=spill_dir,
        )
    finally:
        if scheduler is None:
            # A worker killed on the way (the OOM killer; stopped at Ctrl-C, which kills the
            # busy ones) left its big capture's work folder: gone with it, not at the next run.
            _sweep_left_behind(spill_dir, say=False)
    tty = output is None and sys.stdout.isatty()
    width = shutil.get_terminal_size((120, 24)).columns if tty else _env_width()
    _write(
        batch.render(captures, fmt, width=max(width, 60), color=_colour_wanted(tty)),
        output,
    )
    hits = batch.matched(captures, names)
    lost = [c for c in captures if c.lost]
    if lost:
        _say_not_analysed(f"{len(lost)} of {len(captures)} capture(s) not analysed", lost)
        return EXIT_INCOMPLETE if not hits else _fail_on_matched(hits)
    if all(c.error for c in captures):
        # Not one capture read: a scan that found nothing because it read nothing must not
        # pass for a clean one (cron, CI). Some unreadable among others stay rows (exit 0).
        _say_not_analysed(f"none of the {len(captures)} capture(s) could be analysed", captures)
        return EXIT_INPUT
    if not hits:
        return EXIT_OK
    return _fail_on_matched(hits)


def _say_repeats(repeats: Sequence[Repeat]) -> None:
    first = repeats[0]
    more = f" and {len(repeats) - 1} more" if len(repeats) > 1 else ""
    _say(
        f"pcapline: note: {printable(first.path)}{more} named a file listed already"
        f" ({printable(first.same_as)}): scanned once"
    )


def _say_not_analysed(what: str, failed: Sequence[CaptureSummary]) -> None:
    """One line on stderr: ``what``, the first failed capture's error and path, how many more."""
    first = failed[0]
    error = first.error or ""
    # An unreadable capture's error names it already ("a.pcap: not a pcap ..."); a lost
    # worker's ("the worker process analysing it died ...") does not.
    where = [] if error.startswith(first.path) else [printable(first.path)]
    where += [f"and {len(failed) - 1} more; see their error"] if len(failed) > 1 else []
    said = f" ({' '.join(where)})" if where else ""
    _say(f"pcapline: error: {what}: {printable(error)}{said}")


def _fail_on_matched(hits: Mapping[str, int]) -> int:
    _say(f"pcapline: --fail-on matched {', '.join(f'{n} {k}' for k, n in sorted(hits.items()))}")
    return EXIT_FAIL_ON


@cli.command(short_help="Wireshark's expert analysis beside pcapline's, frame by frame.")
@click.argument("capture")
@click.option(
    "--dissect",
    is_flag=True,
    help="Also name each connection's application protocol with Wireshark's dissectors "
    "(pyshark, on its first payload frames) beside pcapline's.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("text", "json")),
    default="text",
    show_default=True,
    help="Text, or the pcapline-crosscheck/1 JSON document.",
)
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=50,
    show_default=True,
    help="Text format: disagreeing frames listed; 0 for all.",
)
@_output_option()
def crosscheck(capture: str, dissect: bool, fmt: str, limit: int, output: str | None) -> int:
    """Where Wireshark's TCP expert analysis (tcp.analysis.*) and pcapline disagree on
    CAPTURE, frame by frame, with the reason; needs tshark (and pyshark for --dissect:
    pip install 'pcapline[wireshark]')."""
    from pcapline import crosscheck as cross

    _output_usable(output, [capture])
    report = cross.run(capture, dissect=dissect)
    if fmt == "json":
        from pcapline.render.jsondoc import dumps

        _write(dumps(cross.to_dict(report)), output)
    else:
        _write(cross.render_text(report, limit=limit), output)
    return EXIT_OK


@cli.command(short_help="Serve analyze, timeline and scan to AI assistants (MCP over stdio).")
def mcp() -> int:
    """Run a Model Context Protocol server on stdin/stdout: tools analyze (summary, failing
    and slow connections, findings), timeline (one connection) and scan, with bounded
    answers. Needs the SDK: pip install 'pcapline[mcp]'."""
    from pcapline.mcpserver import build_server

    memguard.disarm()  # each request reports its own MemoryError; the server lives on

    build_server().run("stdio")
    return EXIT_OK


@cli.command(short_help="Print the JSON Schema of pcapline/1 or pcapline-scan/1.")
@click.argument("name", metavar="[pcapline/1|pcapline-scan/1]", default="pcapline/1")
def schema(name: str) -> int:
    """Print the JSON Schema (draft 2020-12) of a JSON contract: pcapline/1 (analyze
    --format json, the default) or pcapline-scan/1 (scan --format json). docs/contract.md
    explains every field."""
    from pcapline.schemas import FILES, schema_text

    if name not in FILES:
        raise UsageError(f"unknown schema {name!r} (choose from {', '.join(FILES)})")
    click.echo(schema_text(name), nl=False)
    return EXIT_OK


def stream_timeline(analysis: Analysis, stream: int, ascii_only: bool = False) -> str:
    """Text timeline of one connection (``timeline`` and ``analyze --stream N`` print it)."""
    from pcapline.render.timeline import connection_timeline_text

    return connection_timeline_text(analysis, stream, ascii_only=ascii_only)


def _run(
    capture: str,
    *,
    slow: SlowThresholds | None = None,
    jobs: int = 1,
    scheduler: str | None = None,
    progress: Progress | None = None,
    detections: Kept,
    json_entries: bool = False,
) -> Outcome:
    """The whole capture analysed (filters come after, see ``_select``); warnings on stderr.

    ``jobs``: worker processes; ``progress``: the status line (``_progress_line``); the rest
    as ``engine.analyse``. The per-segment facts are not kept: from many cores they
    would cross a pipe for every segment, and what draws segments (an HTML section, a
    timeline) computes those of its few connections (``Analysis.with_facts_of``)."""
    from pcapline.engine import analyse

    outcome = analyse(
        capture,
        slow=slow,
        jobs=jobs,
        scheduler=scheduler,
        keep_facts=False,
        detections=detections,
        json_entries=json_entries,
        progress=progress,
    )
    for warning in outcome.analysis.capture.warnings:
        _say(f"pcapline: warning: {printable(warning)}")
    return outcome


def _progress_line(capture: str, *, quiet: bool) -> Progress:
    """The status line on stderr (``engine.Progress``): on a terminal, unless ``--quiet``."""
    from pcapline.engine import Progress

    return Progress(enabled=not quiet and sys.stderr.isatty(), size=_file_size(capture))


def _file_size(capture: str) -> int | None:
    try:
        return os.stat(capture).st_size if capture != "-" else None
    except OSError:
        return None  # read_capture says why, in its own words


def _select(
    whole: Analysis,
    capture: str,
    *,
    host: str | None,
    port: int | None,
    stream: tuple[int, ...],
    app: str | None = None,
    sni: str | None = None,
) -> Analysis:
    """The connections the filters keep (``Analysis.select``); an unknown --stream id is exit 2."""
    ids = whole.connections["id"]
    # only the ids asked for: a set of every id costs some 70 MB at a million connections
    missing = sorted(set(stream) - set(ids[ids.isin(stream)].tolist())) if stream else []
    if missing:
        raise UsageError(f"no connection with id {', '.join(map(str, missing))} in {capture}")
    if host is None and port is None and not stream and app is None and sni is None:
        return whole
    return whole.select(host=host, port=port, stream=stream or None, app=app, sni=sni)


def _filter_words(
    *,
    host: str | None,
    port: int | None,
    stream: tuple[int, ...],
    app: str | None = None,
    sni: str | None = None,
) -> str:
    """The filters as the user would type them: ``--host 10.0.0.7 --stream 3``; "" for none."""
    words = [f"--host {host}"] if host is not None else []
    words += [f"--port {port}"] if port is not None else []
    words += [f"--stream {n}" for n in dict.fromkeys(stream)]
    words += [f"--app {app}"] if app is not None else []
    words += [f"--sni {sni}"] if sni is not None else []
    return " ".join(words)


def _selection(whole: Analysis, filters: str) -> Selection | None:
    from pcapline.render.terminal import Selection

    return Selection(whole=whole.connections, filters=filters) if filters else None


def _text(
    analysis: Analysis,
    selection: Selection | None,
    *,
    limit: int,
    stream: tuple[int, ...],
    to_file: bool,
) -> str:
    from pcapline.render.terminal import TextOptions, render_text

    tty = not to_file and sys.stdout.isatty()
    color = _colour_wanted(tty)
    width = shutil.get_terminal_size((120, 24)).columns if tty else _env_width()
    text = render_text(
        analysis, TextOptions(limit=limit, width=max(width, 60), color=color), selection
    )
    if _selected_streams(analysis, stream):
        ascii_only = not to_file and not _stdout_takes_unicode()
        text += "\n" + _timelines(analysis, stream, ascii_only=ascii_only)
    return text


def _timelines(analysis: Analysis, stream: tuple[int, ...], *, ascii_only: bool) -> str:
    return "\n".join(
        stream_timeline(analysis, conn_id, ascii_only).rstrip("\n") + "\n"
        for conn_id in _selected_streams(analysis, stream)
    )


def _selected_streams(analysis: Analysis, stream: tuple[int, ...]) -> list[int]:
    """The ``--stream`` ids the other filters kept, once each, in the order given: with
    ``--stream 3 --host H`` and connection 3 not at H, there is no timeline to draw."""
    kept = set(analysis.connections["id"].tolist())
    return [n for n in dict.fromkeys(stream) if n in kept]


def _colour_wanted(tty: bool) -> bool:
    """Colour on a terminal, unless ``NO_COLOR`` is set or the terminal says it has none
    (``TERM=dumb``: Emacs' shell, some CI log viewers, which showed the escape codes raw)."""
    return tty and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def _env_width() -> int:
    """Width when stdout is not a terminal: $COLUMNS if set, else 120 (stable in files and CI)."""
    try:
        return int(os.environ.get("COLUMNS", "120"))
    except ValueError:
        return 120


def _stdout_takes_unicode() -> bool:
    encoding = getattr(sys.stdout, "encoding", None) or ""
    return encoding.lower().replace("-", "") in ("utf8", "utf16", "utf32")


def _output_usable(output: str | None, captures: Sequence[str], *, parquet: bool = False) -> None:
    """``-o`` checked before any capture is read: not one of ``captures``
    (``_not_over_the_capture``), then writable (``_output_writable``; for ``parquet``
    output, a file or a dataset's folder as ``_parquet_target`` says)."""
    for capture in captures:
        _not_over_the_capture(capture, output)
    dataset = parquet and output not in (None, "-") and not _parquet_target(output)
    _output_writable(output, dataset=dataset)


def _output_writable(output: str | None, *, dataset: bool = False) -> None:
    """``-o`` checked before any capture is read (a big one takes minutes, and then came
    "cannot write"), as ``outfile`` will write it: a device or a FIFO (``/dev/stdout``) as
    it is, so it must be writable itself; a file under a temporary name beside its real
    path (a symlink's target), so that folder must exist and be writable; a Parquet
    dataset's folder is made if need be, so the nearest folder that exists must be."""
    from pcapline.outfile import is_regular_or_new

    if output is None or output == "-":
        return
    if os.path.isdir(output) and not dataset:
        raise OutputError(f"cannot write {output}: it is a folder")
    if not dataset and os.path.exists(output) and not is_regular_or_new(output):
        # A device, a FIFO, or /dev/stdout naming a pipe (whose real path is no file).
        if not os.access(output, os.W_OK):
            raise OutputError(f"cannot write {output}: not writable")
        return
    target = os.path.realpath(output)
    folder = target if dataset else os.path.dirname(target)
    while dataset and not os.path.lexists(folder):
        folder = os.path.dirname(folder)
    if not os.path.isdir(folder):
        why = "no such folder" if not os.path.lexists(folder) else "not a folder"
        raise OutputError(f"cannot write {output}: {folder}: {why}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(
            f"cannot write {output}: {folder}: not writable (permission, or a read-only "
            "file system)"
        )
    if not dataset:
        _can_create_in(folder, output)


def _can_create_in(folder: str, output: str) -> None:
    """A file made and removed in ``folder``, as ``outfile`` will make the temporary one:
    some folders pass ``access()`` and refuse new files all the same (``/proc``, ``/sys``, a
    FUSE mount, an exhausted inode table)."""
    import tempfile

    try:
        fd, probe = tempfile.mkstemp(prefix=".pcapline-probe.", dir=folder)
    except OSError as exc:
        raise OutputError(
            f"cannot write {output}: cannot create a file in {folder} ({exc.strerror or exc})"
        ) from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)


def _not_over_the_capture(capture: str, output: str | None) -> None:
    """Refuse an output that is the capture being read (``-o`` completed to the input's
    name, or ``- -o FILE < FILE``): the report would replace the evidence it was made from."""
    if output is None or output == "-":
        return
    try:
        if capture == "-":  # standard input redirected from a file (not a terminal, a pipe)
            read, written = os.fstat(sys.stdin.fileno()), os.stat(output)
            same = stat.S_ISREG(read.st_mode) and os.path.samestat(read, written)
        else:
            same = os.path.samefile(capture, output)
    except (OSError, ValueError, AttributeError):  # one does not exist (yet), or no stdin
        return
    if same:
        raise UsageError(
            f"{output} is the capture being read: refusing to write the report over it "
            "(choose another -o)"
        )


def _write(text: str, output: str | None) -> None:
    if output is None or output == "-":
        try:
            click.echo(text, nl=False)
        except BrokenPipeError as exc:
            raise ReaderLeft from exc
        except OSError as exc:  # a full disk behind a redirection: one line, exit 2
            raise OutputError(f"cannot write standard output: {exc.strerror or exc}") from exc
        return
    _write_with(lambda stream: _write_text(stream, text), output)


def _write_json(analysis: Analysis, entries: list[str], output: str | None) -> None:
    from pcapline.render.jsondoc import write

    _write_streamed(lambda stream: write(analysis, stream, connections=entries), output)


#: Characters ``_write_text`` hands the encoder at a time.
WRITE_PIECE_CHARS = 1 << 20


def _write_text(stream: TextIO, text: str) -> None:
    """``stream.write(text)`` a megabyte at a time: a report of tens of MB is never held a
    second time, encoded whole."""
    for start in range(0, len(text), WRITE_PIECE_CHARS):
        stream.write(text[start : start + WRITE_PIECE_CHARS])


def _write_with(writer: Callable[[TextIO], None], output: str) -> None:
    """Write ``output`` whole or not at all (``outfile.whole_files``): a full disk, an error or
    Ctrl-C never leaves a truncated report."""
    from pcapline.outfile import whole_files

    try:
        with whole_files([output]) as (path,), open(path, "w", encoding="utf-8") as stream:
            writer(stream)
    except BrokenPipeError as exc:  # -o /dev/stdout or a FIFO whose reader left: as -o -
        raise ReaderLeft from exc
    except OSError as exc:
        raise OutputError(f"cannot write {output}: {exc.strerror or exc}") from exc


def _parquet_target(output: str) -> bool:
    """Is ``-o`` one Parquet file (``FILE.parquet``: the connections table) rather than a
    folder for the two tables? A folder's ``-o`` names a folder, or nothing yet."""
    if output.endswith(".parquet") and not os.path.isdir(output):
        return True
    if os.path.exists(output) and not os.path.isdir(output):
        raise OutputError(
            f"cannot write the Parquet tables to {output}: it is not a folder (-o DIR for the "
            "connections and events tables, or -o FILE.parquet for the connections table alone)"
        )
    return False


def _write_parquet(analysis: Analysis, output: str | None) -> None:
    """-o FILE.parquet: the connections table; -o DIR: the connections and events tables."""
    from pcapline.render.tables import ParquetUnavailable, write_parquet, write_parquet_dataset

    if output is None or output == "-":
        raise UsageError(
            "--format parquet needs -o DIR (connections and events tables) or -o FILE.parquet"
        )
    single = _parquet_target(output)
    try:
        if single:
            write_parquet(analysis, output)
        else:
            write_parquet_dataset(analysis, output)
    except ParquetUnavailable as exc:
        raise OutputError(str(exc)) from exc
    except OSError as exc:
        raise OutputError(f"cannot write {output}: {exc.strerror or exc}") from exc


def _fail_on_status(analysis: Analysis, fail_on: frozenset[str]) -> int:
    if not fail_on:
        return EXIT_OK
    from pcapline.findings.nat_copies import counted_once, later_copies

    # each connection once: a stream captured again after an address translation is no
    # second failure (the text header counts it apart too)
    conns = counted_once(analysis.connections, later_copies(analysis.findings))
    fates = conns["fate"].astype(str)
    # A scanner's or half-open health check's connection fails nothing (the text header
    # counts it apart): a monitored service behind a load balancer must not fail CI.
    probes = probing(conns)
    named = fates.isin(fail_on).to_numpy(copy=True)
    matched = named & ~probes
    by_fate = fates[matched]
    hits = {str(fate): int(n) for fate, n in by_fate.value_counts().items()}
    tags = fail_on & _SLOW_NAMES
    if tags and "slow" in conns.columns:
        for tag in sorted(tags):
            has = conns["slow"].map(lambda slow, tag=tag: tag in slow).to_numpy(bool)
            if has.any():
                hits[tag] = int(has.sum())
            matched |= has
    apart = int((named & probes).sum())
    if not matched.any():
        if apart:
            _say(f"pcapline: --fail-on: {_probes_apart(apart)}")
        return EXIT_OK
    listed = ", ".join(f"{n} {name}" for name, n in sorted(hits.items()))
    more = f" ({_probes_apart(apart)})" if apart else ""
    _say(f"pcapline: --fail-on matched {int(matched.sum())} connection(s): {listed}{more}")
    return EXIT_FAIL_ON


def _probes_apart(n: int) -> str:
    """Why ``n`` connections with a ``--fail-on`` fate were not counted (``model.probing``)."""
    return f"{n} connection(s) of a matching fate were a scanner's or health check's probes: not counted"


#: Cyclic garbage collection thresholds for the command-line process (CPython's default is
#: (700, 10, 10)). An analysis allocates millions of long-lived small objects (per-connection
#: records, object columns, JSON texts) and hardly any reference cycles; at the default,
#: the collector re-walks them all a dozen times, about 1 s of 15 on 2.5 M packets. Every
#: walk costs what is alive, not what it frees: at 50,000 the 2.5 M-packet bench capture
#: still had 13 collections during its analysis, 0.19 s of 7 CPU s (one of them 77 ms) for
#: 1,153 objects freed in all; a young collection every 1,000,000 net allocations runs none
#: there (0.002 s), at the same peak memory. Young cycles are still collected, on captures
#: that keep more objects alive.
GC_THRESHOLDS = (1_000_000, 20, 100)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Console entry point: every failure becomes one stderr line and an exit code. While
    the process is set up (numpy loads here) a signal ends it at once (``startup``)."""
    guard_start()
    reopen_closed()
    one_blas_thread()
    gc.set_threshold(*GC_THRESHOLDS)
    _without_huge_page_advice()
    keep_freed_memory()
    guard_end(held=True)
    stop_on_termination()
    _leave(run(argv, guard_memory=True))  # which releases the held signals


def one_blas_thread() -> None:
    """OpenBLAS (numpy's linear algebra) on one thread, unless the user chose its threads.

    pcapline does no linear algebra, but when numpy loads, OpenBLAS starts a thread per
    core and they spin a while: 0.1 CPU s of the 0.6 s a sample capture takes, paid again
    by every process ``scan`` starts. Set before numpy is imported (``pcapline.cli``
    imports none), and inherited by the processes this one starts; left alone where a
    program calling ``main`` has numpy loaded already, or any variable OpenBLAS reads for
    its threads is set."""
    if "numpy" in sys.modules or any(name in os.environ for name in _BLAS_THREAD_VARIABLES):
        return
    os.environ["OPENBLAS_NUM_THREADS"] = "1"


#: What OpenBLAS reads for its thread count, first found first.
_BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS")


def _leave(status: int) -> NoReturn:
    """Exit with ``status`` without tearing the analysis down object by object.

    After a large capture the process holds millions of objects (tables, per-connection
    records, the JSON texts); the interpreter's normal exit runs a last garbage collection
    over all of them and frees each: 0.3-0.5 s after a 5 s analysis of 2.5 M packets, time
    the user waits for nothing. The output is complete by then, so stdout and stderr are
    flushed, the exit handlers run (``atexit``: multiprocessing's, temporary files' and any
    a library registered), and the process ends at once; the kernel takes the memory back.
    Where anything is still running (a thread) or a flush fails (a reader that left), the
    ordinary exit path decides, as before; except after Ctrl-C, SIGTERM or SIGHUP: the
    clean-up is done (workers killed, temporary files removed) and nothing is written, and
    the ordinary path would wait for every thread, among them a process pool's manager
    thread, which a worker killed while it sent a result can leave waiting forever."""
    if memguard.busy_threads() and status not in EXIT_STOPPED:
        sys.exit(status)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        sys.exit(status)
    if status != EXIT_OK:
        # multiprocessing's exit handler joins its children, and a scan worker an interrupted
        # (or failed: out of memory) pool left idle waits for this process to end first:
        # each waited for the other.
        kill_children()
    atexit._run_exitfuncs()
    with contextlib.suppress(OSError, ValueError):  # what an exit handler printed
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(status)


def _without_huge_page_advice() -> None:
    """Stop numpy asking the kernel for transparent huge pages (``madvise(MADV_HUGEPAGE)`` on
    every large array; numpy's ``NUMPY_MADVISE_HUGEPAGE``), unless the user set it. With THP
    in ``madvise`` mode (Debian's and Ubuntu's default) and ``defrag`` ``madvise``, every
    fault in such an array may compact memory to find a free 2 MB page: on a machine up for a
    while that cost 5.8 of 21.6 CPU s on the 2.5 M-packet bench capture (sys time 7.8 s ->
    2.0 s without the advice). The pipeline streams through its arrays once or twice; small
    pages lose nothing measurable. The environment variable carries the choice to every
    worker process (forked or started afresh)."""
    os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")
    if os.environ["NUMPY_MADVISE_HUGEPAGE"] != "0":
        return
    import importlib

    for where in ("numpy._core.multiarray", "numpy.core.multiarray"):  # numpy 2, numpy 1.x
        try:
            importlib.import_module(where)._set_madvise_hugepage(False)
            return
        except (ImportError, AttributeError):
            continue


#: ``pcapline`` alone (click 8.2 and later raise it; 8.1 prints the help itself).
_NO_ARGS_IS_HELP: type[click.UsageError] | tuple[()] = getattr(
    click.exceptions, "NoArgsIsHelpError", ()
)


def run(argv: Sequence[str] | None = None, *, guard_memory: bool = False) -> int:
    """The command's exit status, every failure one stderr line. ``guard_memory``: watch the
    machine's memory (``memguard``; the console command: its ``MemoryError`` lands here)."""
    try:
        release_held()  # a signal held since start-up (``main``) is handled here
        if guard_memory:
            memguard.start()  # out of memory as one line, not the OOM killer's silent kill
        status = _command(argv)
    except _NO_ARGS_IS_HELP as exc:
        # ``pcapline`` alone: the help, as it is laid out (its message is the whole help text,
        # which the one-line error below would fold into one line of "\x0a"s).
        _say(exc.format_message())
        return EXIT_INPUT
    except click.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx else "pcapline"
        return _error(f"{exc.format_message()} (see '{command} --help')", EXIT_INPUT)
    except click.Abort:
        return _interrupted()
    except (BrokenPipeError, ReaderLeft):
        # `pcapline analyze big.pcap | head`: the reader left; that is not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except click.ClickException as exc:
        return _error(exc.format_message(), exc.exit_code)
    except (PcaplineError, OSError) as exc:
        return _error(_one_line(exc), EXIT_INPUT)
    except Terminated as exc:
        return _terminated(exc)
    except KeyboardInterrupt:
        return _interrupted()
    except MemoryError:
        return _error(
            "out of memory: the capture needs more memory than this process may use "
            "(analyse a slice of it: editcap -r, or tcpdump -r ... -w with a filter)",
            EXIT_INPUT,
        )
    except Exception as exc:
        if os.environ.get("PCAPLINE_DEBUG") == "1":
            traceback.print_exc()
        return _error(
            f"internal error: {type(exc).__name__}: {_one_line(exc)} "
            "(this is a bug, please report it; PCAPLINE_DEBUG=1 shows the traceback)",
            EXIT_BUG,
        )
    return int(status or 0)


def _command(argv: Sequence[str] | None) -> Any:
    """The command's status. An error that a Ctrl-C (or SIGTERM, SIGHUP) caused is raised as
    that interruption: click reports one as ``Abort``, Python wraps one that lands while a
    class is created (during an import) in a RuntimeError, and clean-up interrupted half way
    can fail after it (a spill file already removed)."""
    try:
        return cli.main(
            args=list(argv) if argv is not None else None,
            prog_name="pcapline",
            standalone_mode=False,
        )
    except _Stopped as carried:
        raise carried.stop from None
    except Exception as exc:
        stopped = _stopped_inside(exc)
        if stopped is not None:
            raise stopped from None
        raise


def _stopped_inside(exc: BaseException) -> KeyboardInterrupt | None:
    """The Ctrl-C (or SIGTERM, SIGHUP) behind ``exc``, if it was raised because of one."""
    seen: set[int] = set()
    cause = exc.__cause__ or exc.__context__
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return cause
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return None


def _interrupted() -> int:
    _end_the_caret_line()
    return _error("interrupted", 130)


def _terminated(signal: Terminated) -> int:
    """SIGTERM or SIGHUP stopped the run, after the same clean-up as Ctrl-C: exit 128 + its
    number, as a shell reports a process the signal killed. No ``^C`` on the terminal to end
    the line of: the error's line alone."""
    return _error(f"terminated ({signal.name})", 128 + signal.signum)


def _end_the_caret_line() -> None:
    """On a terminal, a newline after the ``^C`` it echoed for Ctrl-C (the error then starts
    a line of its own); never in a log."""
    with contextlib.suppress(OSError, ValueError):
        if sys.stderr.isatty():
            click.echo(err=True)


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror}"
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _error(message: str, code: int) -> int:
    _say(f"pcapline: error: {printable(message)}")
    return code


def _say(line: str) -> None:
    """``line`` on stderr, if it can be written: a stderr that fails (full, gone, a broken
    pipe) loses the line, never the run (the exit code and the output still tell)."""
    with contextlib.suppress(OSError):
        click.echo(line, err=True)
