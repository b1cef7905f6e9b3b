"""Temporary folders left by killed runs are removed by the next run, and nothing else is
(pcapline.tempdirs).

A run killed by SIGKILL (what the OOM killer sends) cannot remove its work folder: the
memory-bounded path's split copy of the capture stays in ``--spill-dir`` / ``$TMPDIR``, the
worker pool's results folder in ``$TMPDIR``. Here real runs are held inside a partition,
killed with their workers, and the next run must remove exactly their folders, while a live
run's folder beside them is kept.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import asdict, replace
from pathlib import Path

import pytest
from builders.terminal import foreground_job
from test_cli_signals import CAPTURE, start_held

from pcapline import tempdirs
from pcapline.tempdirs import OWNER_FILE, Owner, OwnerState, owner_state


def _run(argv: list[str], temporary: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pcapline", *argv],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "TMPDIR": str(temporary)},
        timeout=120,
    )


@pytest.mark.parametrize("bounded", [True, False], ids=["memory-bounded", "in-memory"])
def test_a_killed_runs_folder_is_removed_by_the_next_run_and_a_live_runs_kept(
    tmp_path: Path, bounded: bool
) -> None:
    spill, temporary = tmp_path / "spill", tmp_path / "tmp"
    spill.mkdir()
    temporary.mkdir()
    # Its folder: the work folder in --spill-dir, or the pool's results folder in TMPDIR.
    where = spill if bounded else temporary
    bounded_args = ["--memory-bounded", "--spill-dir", str(spill)] if bounded else []
    plain = ["analyze", CAPTURE, "--format", "json", "-o", os.devnull, *bounded_args]
    argv = [*plain, "--jobs", "2"]
    (tmp_path / "killed").mkdir()
    (tmp_path / "live").mkdir()
    killed = start_held(
        argv, tmp_path / "killed", temporary, preexec_fn=foreground_job, output=subprocess.DEVNULL
    )
    live = start_held(
        argv, tmp_path / "live", temporary, preexec_fn=foreground_job, output=subprocess.DEVNULL
    )
    try:
        folders = {path.name: path for path in where.iterdir()}
        assert len(folders) == 2 and all(name.startswith("pcapline-") for name in folders)
        owners = {
            json.loads((path / OWNER_FILE).read_text())["pid"]: name
            for name, path in folders.items()
        }
        assert set(owners) == {killed.pid, live.pid}
        os.killpg(killed.pid, signal.SIGKILL)  # the parent and its workers, no chance to clean
        killed.wait(timeout=30)
        assert sorted(path.name for path in where.iterdir()) == sorted(folders)  # left behind

        after = _run(plain, temporary)

        assert after.returncode == 0, after.stderr
        assert [path.name for path in where.iterdir()] == [owners[live.pid]]
        said = [line for line in after.stderr.splitlines() if "temporary" in line]
        assert len(said) == 1
        assert said[0].startswith("pcapline: removed 1 temporary folder (")
        assert said[0].endswith(f"that killed pcapline runs left in {where}")
    finally:
        for child in (killed, live):
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait(timeout=30)
    again = _run(plain, temporary)  # the "live" run was killed too, in the end
    assert again.returncode == 0 and "pcapline: removed 1 temporary folder" in again.stderr
    assert list(where.iterdir()) == []
    quiet = _run(plain, temporary)  # nothing left: nothing said
    assert quiet.returncode == 0 and "temporary" not in quiet.stderr


def _here() -> Owner:
    here = tempdirs.this_process()
    assert here is not None  # Linux: /proc tells
    return here


def _ended_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_an_owner_is_alive_only_as_the_very_process_that_made_the_folder() -> None:
    here = _here()
    assert owner_state(here, here) is OwnerState.ALIVE
    # The pid alone is no proof: reused by a process started at another time.
    assert owner_state(replace(here, start_ticks=here.start_ticks + 1), here) is OwnerState.GONE
    ended = replace(here, pid=_ended_pid())
    assert owner_state(ended, here) is OwnerState.GONE
    # An earlier boot of this machine: every process of then is gone, whatever its pid.
    assert owner_state(replace(here, boot_id="earlier-boot"), here) is OwnerState.GONE
    # Another machine (a --spill-dir on shared storage): its boot and pids mean nothing here,
    # even with a pid namespace of the same number (every host's first is 4026531836).
    elsewhere = replace(here, machine="other-id/other-host", boot_id="its-boot", pid=_ended_pid())
    assert owner_state(elsewhere, here) is OwnerState.UNKNOWN
    # Another pid namespace of this boot (a container sharing /tmp, maybe with a host name of
    # its own): its pids mean nothing here either.
    container = replace(here, machine="x/container", pid_namespace="pid:[1]", pid=_ended_pid())
    assert owner_state(container, here) is OwnerState.UNKNOWN


def _folder(where: Path, name: str, marker: str | None) -> Path:
    folder = where / name
    folder.mkdir()
    (folder / "partition-0.seg").write_bytes(b"x" * 10_000)
    if marker is not None:
        (folder / OWNER_FILE).write_text(marker)
    return folder


def _marker(owner: Owner) -> str:
    return json.dumps(asdict(owner))


def test_sweep_removes_only_folders_whose_owner_is_certainly_gone(tmp_path: Path) -> None:
    here = _here()
    dead = _marker(replace(here, pid=_ended_pid()))
    gone = _folder(tmp_path, "pcapline-gone", dead)
    kept = [
        _folder(tmp_path, "pcapline-live", _marker(here)),
        _folder(tmp_path, "pcapline-unmarked", None),  # an older pcapline's, or being made
        _folder(tmp_path, "pcapline-garbled", "{not json"),
        _folder(tmp_path, "pcapline-other-keys", json.dumps({"pid": 1})),
        _folder(tmp_path, "pcapline-wrong-type", json.dumps({**json.loads(dead), "pid": "1"})),
        _folder(tmp_path, "other-tool", dead),  # not ours by name
        _folder(
            tmp_path,
            "pcapline-container",
            _marker(replace(here, pid_namespace="pid:[1]", pid=_ended_pid())),
        ),
        _folder(
            tmp_path,
            "pcapline-other-host",
            _marker(replace(here, machine="m/h", boot_id="b", pid=_ended_pid())),
        ),
    ]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = _folder(elsewhere, "pcapline-target", dead)
    link = tmp_path / "pcapline-link"
    link.symlink_to(target)  # a symlink is never followed

    swept = tempdirs.sweep(str(tmp_path))

    assert not gone.exists()
    assert all(folder.exists() for folder in kept) and target.exists() and link.is_symlink()
    assert (swept.folders, swept.directory) == (1, str(tmp_path))
    assert swept.size_bytes >= 10_000  # at least the file's bytes, as du counts them


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a folder to another user needs root")
def test_sweep_keeps_another_users_folder(tmp_path: Path) -> None:
    dead = _marker(replace(_here(), pid=_ended_pid()))
    theirs = _folder(tmp_path, "pcapline-theirs", dead)
    os.chown(theirs, 65534, 65534)
    assert tempdirs.sweep(str(tmp_path)).folders == 0 and theirs.exists()


def test_a_folder_is_made_with_a_marker_naming_this_process(tmp_path: Path) -> None:
    folder = Path(tempdirs.make_folder("pcapline-", str(tmp_path)))
    assert folder.parent == tmp_path and folder.name.startswith("pcapline-")
    marked = json.loads((folder / OWNER_FILE).read_text())
    assert Owner(**marked) == _here()
    assert tempdirs.sweep(str(tmp_path)).folders == 0 and folder.exists()
    with pytest.raises(ValueError):  # a name the sweep would never look at
        tempdirs.make_folder("other-", str(tmp_path))


def test_a_folder_for_a_while_is_marked_and_removed_even_on_error(tmp_path: Path) -> None:
    with tempdirs.folder_for_a_while("pcapline-crosscheck-", str(tmp_path)) as folder:
        assert (Path(folder) / OWNER_FILE).is_file()
    assert not Path(folder).exists()
    with pytest.raises(KeyError), tempdirs.folder_for_a_while("pcapline-x-", str(tmp_path)) as f:
        raise KeyError(f)
    assert list(tmp_path.iterdir()) == []
