"""A private umltui world for one benchmark run: its own runtime, state, UML and config
folders (the image cache shared with the tests), and everything in it halted afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def private_world(prefix: str, *, shutdown_timeout: float = 60) -> Iterator[Path]:
    """Point ``UMLTUI_*`` at a new folder; on the way out, halt its guests and remove it."""
    root = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    for key, sub in (("RUNTIME", "run"), ("STATE", "state"), ("UML", "uml"), ("CONFIG", "config")):
        os.environ[f"UMLTUI_{key}_DIR"] = str(root / sub)
    os.environ.setdefault("UMLTUI_CACHE_DIR", str(Path(tempfile.gettempdir()) / "umltui-test-cache"))
    try:
        yield root
    finally:
        from umltui.core.client import call, supervisor_pid

        with contextlib.suppress(Exception):  # best effort; the supervisor may be gone already
            asyncio.run(call("shutdown", halt=True, timeout=shutdown_timeout))
        deadline = time.monotonic() + 10
        while supervisor_pid() is not None and time.monotonic() < deadline:
            time.sleep(0.1)  # it answers, then saves its state: gone first, so nothing is left behind
        shutil.rmtree(root, ignore_errors=True)


class LogMark:
    """Where a console's log was, to tell how much it grew since, across one rotation
    (``con2.log`` becomes ``con2.log.1`` at its cap: 8 MB; a flood of 1 MB/s passes it in seconds)."""

    def __init__(self, log: Path) -> None:
        self.log = log
        stat = log.stat() if log.exists() else None
        self.size = stat.st_size if stat else 0
        self.inode = stat.st_ino if stat else 0

    def grown(self) -> int:
        """Bytes logged since the mark."""
        now = self.log.stat().st_size if self.log.exists() else 0
        older = self.log.with_name(self.log.name + ".1")
        if self.inode and older.exists() and older.stat().st_ino == self.inode:  # rotated meanwhile
            return older.stat().st_size - self.size + now
        return now - self.size


class LogMeter:
    """How much a console's log grew over a run of any length: a :class:`LogMark` taken
    again every ``every`` seconds, by a thread, so that no two rotations fall between two
    looks (a mark sees one: at 0.25 MB/s, two come within a minute and a half)."""

    def __init__(self, log: Path, every: float = 1.0) -> None:
        self.mark, self.total, self.every = LogMark(log), 0, every
        self.start = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _look(self) -> None:
        self.total += self.mark.grown()
        self.mark = LogMark(self.mark.log)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self._look()

    def stop(self) -> float:
        """Bytes per second the log grew since the meter started."""
        self._stop.set()
        self._thread.join()
        self._look()
        return self.total / (time.monotonic() - self.start)
