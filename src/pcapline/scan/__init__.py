"""``pcapline scan``: many captures in parallel, one summary table, the cross-connection findings.

    run.py      expand paths; analyse each capture in a local process pool or on a Dask
                cluster; stream back one small ``CaptureSummary`` per capture
    render.py   terminal table, ``pcapline-scan/1`` JSON, CSV, one HTML page

Python use::

    from pcapline.scan import scan
    for summary in scan(["captures/"], workers=2):
        print(summary.path, summary.fates, [f["kind"] for f in summary.findings])
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Sequence

from pcapline import model
from pcapline.errors import UsageError
from pcapline.findings import FINDERS
from pcapline.model import FAILURES_ALIAS, Fate, SlowTag
from pcapline.scan.render import document, matched, text, to_csv, to_html
from pcapline.scan.run import (
    CaptureSummary,
    Progress,
    Repeat,
    expand_paths,
    one_path_per_file,
    run,
    summarize_capture,
)

__all__ = [
    "FORMATS",
    "CaptureSummary",
    "Repeat",
    "document",
    "expand_paths",
    "fail_on_names",
    "matched",
    "one_path_per_file",
    "render",
    "scan",
    "scan_files",
    "summarize_capture",
]

FORMATS = ("text", "json", "csv", "html")


def scan(
    paths: Sequence[str],
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    on_result: Progress | None = None,
    progress: bool = False,
    memory_bounded: bool = False,
    spill_dir: str | None = None,
) -> list[CaptureSummary]:
    """Summaries of every capture under ``paths`` (files, directories, globs), sorted by path,
    each file once however many paths name it (``one_path_per_file``).

    ``progress=True`` draws a rich progress bar on stderr (the CLI asks only when stderr is a
    TTY); for one local capture, the stages of its analysis instead (``analyze``'s line).
    ``memory_bounded=True`` analyses every capture on the bounded-memory path (by default
    only those over ``bounded.BOUNDED_MIN_BYTES``), its temporary files in ``spill_dir``
    (default: the temporary folder, on the machine that analyses it).
    """
    return scan_files(
        one_path_per_file(expand_paths(paths))[0],
        workers=workers,
        scheduler=scheduler,
        on_result=on_result,
        progress=progress,
        memory_bounded=memory_bounded,
        spill_dir=spill_dir,
    )


def scan_files(
    files: Sequence[str],
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    on_result: Progress | None = None,
    progress: bool = False,
    memory_bounded: bool = False,
    spill_dir: str | None = None,
) -> list[CaptureSummary]:
    """``scan`` of capture files already found (``expand_paths``: a name is never a glob
    again), for a caller that looks at the list first. ``progress``: a bar of captures done,
    or for one capture analysed here, the stages of its analysis (``analyze``'s line)."""
    if progress and len(files) == 1 and scheduler is None:
        return _one_capture(files[0], workers, on_result, memory_bounded, spill_dir)
    shown = _progress_bar(len(files), on_result) if progress else contextlib.nullcontext(on_result)
    with shown as deliver:
        return run(
            files,
            workers=workers,
            scheduler=scheduler,
            on_result=deliver,
            memory_bounded=memory_bounded,
            spill_dir=spill_dir,
        )


def _one_capture(
    path: str,
    workers: int | None,
    on_result: Progress | None,
    memory_bounded: bool,
    spill_dir: str | None,
) -> list[CaptureSummary]:
    """One capture scanned on a terminal: its analysis's status line (stage, bytes read,
    partitions, ETA), not a bar at 0 of 1 (nor a thread drawing it beside the workers this
    process forks)."""
    from pcapline.engine import Progress as Line

    try:
        size: int | None = os.stat(path).st_size
    except OSError:
        size = None  # the summary's error says why
    line = Line(enabled=True, size=size)
    try:
        return run(
            [path],
            workers=workers,
            on_result=on_result,
            memory_bounded=memory_bounded,
            spill_dir=spill_dir,
            progress=line,
        )
    finally:
        line.done()


@contextlib.contextmanager
def _progress_bar(total: int, on_result: Progress | None) -> Iterator[Progress]:
    """A rich progress bar on stderr while the scan runs; yields what each result is given to
    (the bar's step, then ``on_result``)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.progress import Progress as Bar

    bar = Bar(
        TextColumn("scanning"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(file=sys.stderr),
        transient=True,
    )
    task = bar.add_task("scan", total=total)

    def advance(summary: CaptureSummary) -> None:
        bar.advance(task)
        if on_result:
            on_result(summary)

    with bar:
        yield advance


def fail_on_names(values: Sequence[str]) -> frozenset[str]:
    """``--fail-on`` names: finding kinds, fates, ``failures`` (every failure fate) or slow tags
    (``model.SlowTag``: a connection with that tag); comma lists ok."""
    kinds = {finder.name for finder in FINDERS}
    fates = {f.value for f in Fate}
    tags = {t.value for t in SlowTag}
    try:
        names = model.fail_on_names(values, kinds | fates | tags)
    except KeyError as unknown:
        choices = ", ".join(
            sorted(kinds) + [f.value for f in Fate] + [FAILURES_ALIAS] + [t.value for t in SlowTag]
        )
        raise UsageError(
            f"--fail-on: unknown finding kind, fate or slow tag {unknown.args[0]!r} "
            f"(choose from {choices})"
        ) from None
    if values and not names:
        raise UsageError(
            "--fail-on: no finding kind, fate or slow tag given "
            "(e.g. --fail-on nat_timestamp,refused,syn_retry)"
        )
    return frozenset(names)


def render(
    captures: Sequence[CaptureSummary], fmt: str, *, width: int = 120, color: bool = False
) -> str:
    if fmt == "text":
        return text(captures, width=width, color=color)
    if fmt == "json":
        from pcapline.render.jsondoc import dumps

        return dumps(document(captures))
    if fmt == "csv":
        return to_csv(captures)
    if fmt == "html":
        return to_html(captures)
    raise UsageError(f"unknown scan format {fmt!r} (choose from {', '.join(FORMATS)})")
