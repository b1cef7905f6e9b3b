"""Output files written whole or not at all.

A report, table or dataset is written beside its final name under a temporary one and renamed
when complete, so a full disk, an error or Ctrl-C never leaves a truncated file where the
earlier one was (or where a script would take it for the result). Devices and pipes
(``/dev/stdout``, a FIFO) are written as they are: they cannot be renamed over.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator, Sequence


@contextlib.contextmanager
def whole_files(paths: Sequence[str]) -> Iterator[list[str]]:
    """The names to write ``paths`` under: each regular (or new) file's temporary twin, renamed
    over it when the block ends without an error and removed when it fails, all together, so a
    dataset's tables are never half old, half new. A symlink's target is replaced, not the
    link."""
    targets = [os.path.realpath(path) if is_regular_or_new(path) else None for path in paths]
    temporaries: list[str | None] = []
    try:
        for target in targets:
            temporaries.append(None if target is None else _temporary_beside(target))
        yield [temporary or path for temporary, path in zip(temporaries, paths, strict=True)]
        for temporary, target in zip(temporaries, targets, strict=True):
            if temporary is not None and target is not None:
                give_mode(temporary, like=target)
        for temporary, target in zip(temporaries, targets, strict=True):
            if temporary is not None and target is not None:
                os.replace(temporary, target)
        temporaries = []
    finally:
        for temporary in temporaries:
            if temporary is not None:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)


@contextlib.contextmanager
def whole_dataset(directory: str, names: Sequence[str]) -> Iterator[list[str]]:
    """``whole_files`` for the files ``names`` in ``directory`` (created if needed, and
    removed again when it was created for a write that failed)."""
    created = not os.path.isdir(directory)
    os.makedirs(directory, exist_ok=True)
    try:
        with whole_files([os.path.join(directory, name) for name in names]) as temporaries:
            yield temporaries
    except BaseException:
        if created:
            with contextlib.suppress(OSError):
                os.rmdir(directory)
        raise


def _temporary_beside(target: str) -> str:
    fd, temporary = tempfile.mkstemp(
        prefix=f".{os.path.basename(target)}.",
        suffix=".part",
        dir=os.path.dirname(os.path.abspath(target)),
    )
    os.close(fd)
    return temporary


def give_mode(temporary: str, like: str) -> None:
    """The permissions an existing ``like`` has, else what open() would give a new file
    (mkstemp makes it 0600)."""
    try:
        shutil.copymode(like, temporary)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)


def is_regular_or_new(path: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except FileNotFoundError:
        return True
    except OSError:
        return False
