"""tshark's ``tcp.stream`` of every corpus TCP file, swept on the otherwise idle core.

tshark costs about 0.25 CPU s per file to start, so the ~900 TCP files of the corpus cost
minutes, while the rest of the suite keeps one core busy and leaves the other mostly idle.
``conftest.py`` starts the sweep in a background thread (one sharkd at a time) as soon as the
collection shows a test that needs it, and moves those tests to the end of the run; the test
that asks for the answers (``answers()``) joins in with a second thread for what is left, then
has every file's answer. Answers stay cached in pytest's cache directory, keyed by file size
and mtime, so a second local run starts none. Under pytest-xdist no core is idle: nothing runs
in the background, and the worker that runs the users (one xdist group, sent out first) runs
the whole sweep when they ask.

The answers come from sharkd, the daemon of the same Wireshark (``Sharkd``): it starts once for
many files where tshark starts once per file, which was most of the sweep's cost (~240 CPU s,
now ~50). A file sharkd cannot answer is asked of tshark itself. Stored answers are keyed by
the file's size and mtime and by the Wireshark version.
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from needs import CORPUS, corpus_tcp_files

from pcapline.crosscheck.oracle import tshark_version

CACHE_KEY = "pcapline/tshark-tcp-stream/v1"
#: Test files whose tests ask for the sweep's answers (conftest moves them to the end).
USERS = ("test_corpus.py",)


def tcp_files() -> list[str]:
    """Corpus files tshark found TCP in (MANIFEST.tsv), relative to the corpus."""
    return [path.relative_to(CORPUS).as_posix() for path in corpus_tcp_files()]


#: tshark found once, when the sweep starts: the sweep runs in threads beside the other
#: tests, and one of them puts a fake tshark first on PATH for a while (test_crosscheck_cli);
#: looked up per file, the files swept meanwhile got its empty answer, cached as tshark's.
TSHARK = shutil.which("tshark") or "tshark"


#: Tries at starting tshark for one file.
SPAWN_TRIES = 3


def streams_of(path: Path) -> dict[int, int]:
    """frame number -> tshark's tcp.stream (the outer TCP's, for TCP in TCP)."""
    argv = [TSHARK, "-n", "-r", str(path), "-T", "fields", "-e", "frame.number", "-e", "tcp.stream"]
    for attempt in range(SPAWN_TRIES):
        try:
            out = subprocess.run(argv, capture_output=True, text=True, check=False).stdout
            break
        except OSError:
            # Starting a process from a thread failed once in a CI dry run with EFAULT ("Bad
            # address", from the spawn) while the suite's main thread analysed captures: a
            # second start works. The thread used to die with it, its file left unanswered.
            if attempt == SPAWN_TRIES - 1:
                raise
            time.sleep(0.1)
    streams: dict[int, int] = {}
    for line in out.splitlines():
        frame, _, stream = line.partition("\t")
        if stream:
            streams[int(frame)] = _outer(stream)
    return streams


def _outer(streams: str) -> int:
    """The outer TCP's stream of a frame that carries TCP in TCP ("3,4": outer first)."""
    return int(streams.split(",")[0])


#: sharkd, the daemon of the same Wireshark package (libwireshark, preferences and dissectors
#: are tshark's), or None.
SHARKD = shutil.which("sharkd")


#: Captures one sharkd loads before a new one takes over: sharkd 4.0 keeps every file it
#: loaded open and in memory (~12 MB more per corpus file: 1.8 GB after ~450 of them).
LOADS_PER_SHARKD = 20


class Sharkd:
    """One sharkd that loads capture after capture and answers every frame's ``tcp.stream``.

    tshark spends ~0.2 CPU s starting (registering every dissector) per file, most of the
    ~240 CPU s of tshark over the ~900 corpus TCP files; sharkd starts once, and each ``load``
    dissects the file afresh from frame 1 with new conversation tables, so ``tcp.stream``
    counts from 0 per file as in ``tshark -r``. Where sharkd gives no answer (it refused the
    file, or died), ``answer`` asks tshark itself: that file's answer is tshark's as before."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[str] | None = None
        self._id = 0
        self._loads = 0

    def _request(self, method: str, params: dict[str, Any]) -> Any:
        if self._process is None:
            self._process = subprocess.Popen(
                [SHARKD or "sharkd", "-"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
        assert self._process.stdin is not None and self._process.stdout is not None
        self._id += 1
        request = {"jsonrpc": "2.0", "id": self._id, "method": method, "params": params}
        self._process.stdin.write(json.dumps(request) + "\n")
        self._process.stdin.flush()
        reply = json.loads(self._process.stdout.readline())
        if reply.get("id") != self._id or "error" in reply:
            raise RuntimeError(f"sharkd: {method}: {reply.get('error')}")
        return reply["result"]

    def streams(self, path: Path) -> dict[int, int]:
        """frame number -> tcp.stream, as ``streams_of``; raises when sharkd could not answer."""
        if self._loads == LOADS_PER_SHARKD:
            self.close()
        self._loads += 1
        self._request("load", {"file": str(path)})
        frames = self._request("frames", {"column0": "tcp.stream:0"})
        return {row["num"]: _outer(row["c"][0]) for row in frames if row["c"][0]}

    def answer(self, path: Path) -> dict[int, int]:
        """``streams(path)``, or tshark's own answer when sharkd gave none."""
        if SHARKD is not None:
            try:
                return self.streams(path)
            except (OSError, ValueError, RuntimeError, KeyError, IndexError, TypeError):
                self.close()  # a daemon in an unknown state: the next file starts a new one
        return streams_of(path)

    def close(self) -> None:
        if self._process is not None:
            process, self._process = self._process, None
            if process.stdin is not None:
                process.stdin.close()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()
        self._loads = 0


@functools.cache
def _tshark_version() -> str:
    """The Wireshark that answered: another one may number streams otherwise."""
    return tshark_version(TSHARK) or "none"


def _stamp(rel: str) -> str:
    """What a stored answer is valid for: this file as it is now, this Wireshark."""
    st = (CORPUS / rel).stat()
    return f"{_tshark_version()}:{st.st_size}:{st.st_mtime_ns}"


class Sweep:
    """The files still to run, taken one at a time by however many threads work on them."""

    def __init__(self, cache: Any) -> None:
        self.cache = cache
        self.stored: dict[str, dict[str, Any]] = cache.get(CACHE_KEY, {}) if cache else {}
        self.files = tcp_files()
        self.todo = [rel for rel in self.files if not self._fresh(rel)]
        self._next = 0
        self._lock = threading.Lock()
        self._background: threading.Thread | None = None

    def _fresh(self, rel: str) -> bool:
        """Is the stored answer for ``rel`` that of the file as it is now?"""
        return bool(self.stored.get(rel, {}).get("stamp") == _stamp(rel))

    def _take(self) -> str | None:
        with self._lock:
            if self._next == len(self.todo):
                return None
            self._next += 1
            return self.todo[self._next - 1]

    def _work(self) -> None:
        sharkd = Sharkd()  # one per thread: a daemon answers one request at a time
        try:
            while (rel := self._take()) is not None:
                self._answer(rel, sharkd)
        finally:
            sharkd.close()

    def _answer(self, rel: str, sharkd: Sharkd | None = None) -> None:
        streams = sharkd.answer(CORPUS / rel) if sharkd is not None else streams_of(CORPUS / rel)
        answer = {"stamp": _stamp(rel), "streams": {str(f): s for f, s in streams.items()}}
        with self._lock:
            self.stored[rel] = answer

    def start(self) -> None:
        """One sharkd at a time in the background: the core the suite leaves idle."""
        if self.todo and self._background is None:
            self._background = threading.Thread(target=self._work, daemon=True)
            self._background.start()

    def answers(self) -> dict[str, dict[int, int]]:
        """Every file's answer: work on what is left beside the background thread, wait."""
        with ThreadPoolExecutor(max_workers=1) as helper:
            helper.submit(self._work)
            self._work()
        if self._background is not None:
            self._background.join()
        for rel in [rel for rel in self.todo if not self._fresh(rel)]:
            self._answer(rel)  # a thread that died with its file taken: answered here
        if self.cache is not None and self.todo:
            self.cache.set(CACHE_KEY, self.stored)
            self.todo = []
        return {
            rel: {int(f): s for f, s in self.stored[rel]["streams"].items()} for rel in self.files
        }


class Ahead:
    """Answers asked for later, worked out ahead on the idle core, one at a time: ``work``
    runs in a background thread; ``answer(key)`` takes the stored one, waits for the one in
    hand, or works out one not yet reached itself. A failed answer is worked out again by
    whoever asks (a process started from a thread once failed to spawn: see ``streams_of``)."""

    def __init__(self, keys: list[Any], run: Any) -> None:
        self.run = run
        self.todo = list(keys)
        self.done: dict[Any, Any] = {}
        self.busy: dict[Any, threading.Event] = {}
        self._lock = threading.Lock()

    def work(self) -> None:
        while True:
            with self._lock:
                key = next(
                    (k for k in self.todo if k not in self.busy and k not in self.done), None
                )
                if key is None:
                    return
                self.busy[key] = threading.Event()
            self._do(key)

    def _do(self, key: Any) -> None:
        try:
            value: Any = self.run(key)
        except Exception as exc:  # said by the test that asks, which tries once more
            value = exc
        with self._lock:
            self.done[key] = value
            self.busy.pop(key).set()

    def answer(self, key: Any) -> Any:
        with self._lock:
            value = self.done.get(key)
            waiting = self.busy.get(key)
            if value is None and waiting is None:
                self.busy[key] = waiting = threading.Event()
                mine = True
            else:
                mine = False
        if mine:
            self._do(key)
        elif waiting is not None:
            waiting.wait()
        value = self.done[key]
        return self.run(key) if isinstance(value, Exception) else value
