"""A console's log file: everything a console printed, on disk, capped, and honest about gaps.

Writing the log must never stop the console: when the disk is full (or the file cannot
be written for any other reason), the bytes still go to the scrollback and to the
clients, the log counts what it missed, and the next write that succeeds first says so
in the file (``[umltui: N bytes not logged here: No space left on device]``).

The file is capped like ``screen -L`` users cap theirs with logrotate: when it would
pass ``max_bytes`` it becomes ``NAME.1`` (replacing the older one) and a new file starts,
so the newest bytes are kept, between ``max_bytes`` and twice that in all.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from pathlib import Path

from ..locations import open_private

log = logging.getLogger("umltui.consolelog")

DEFAULT_MAX_BYTES = 8 << 20
_SIZE = re.compile(r"(\d+)([KMG]?)", re.I)


def max_bytes_setting(value: str | None = None) -> int:
    """``UMLTUI_LOG_MAX`` (``8M``, ``512K``, ``1G`` or bytes; at least 64K), else the default.

    A malformed value is reported in the supervisor's log and the default used.
    """
    value = value if value is not None else os.environ.get("UMLTUI_LOG_MAX", "")
    if not value:
        return DEFAULT_MAX_BYTES
    m = _SIZE.fullmatch(value.strip())
    if not m:
        log.warning("UMLTUI_LOG_MAX=%r is not a size such as 8M: using %d bytes", value, DEFAULT_MAX_BYTES)
        return DEFAULT_MAX_BYTES
    size = int(m.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30}[m.group(2).upper()]
    return max(size, 64 << 10)


class ConsoleLog:
    """Appends to ``path`` (mode 0600), rotating at ``max_bytes``; never raises on write."""

    def __init__(self, path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.missed = 0  # bytes not logged since the last successful write
        self._reason = ""
        self._fd: int | None = None
        self._size = 0

    @property
    def position(self) -> int:
        """How many bytes the current file holds (0 when it cannot be opened)."""
        try:
            self._open()
        except OSError:
            return 0
        return self._size

    @property
    def rotated(self) -> Path:
        return self.path.with_name(self.path.name + ".1")

    def write(self, data: bytes) -> None:
        try:
            self._open()
            if self.missed:
                self._put(f"\r\n[umltui: {self.missed} bytes not logged here: {self._reason}]\r\n".encode())
                log.info("%s: writing again after %d bytes not logged", self.path, self.missed)
                self.missed = 0
            if self._size + len(data) > self.max_bytes and self._size:
                self._rotate()
            self._put(data)
        except OSError as exc:
            if not self.missed:
                log.warning("%s: cannot write the log (%s); the console goes on without it", self.path, exc.strerror)
            self.missed += len(data)
            self._reason = exc.strerror or str(exc)
            self.close()  # opened afresh next time: the disk may have room again

    def _open(self) -> None:
        if self._fd is None:
            self._fd = open_private(self.path)
            self._size = os.fstat(self._fd).st_size

    def _put(self, data: bytes) -> None:
        assert self._fd is not None
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)  # a short write means the disk is full: the next raises
            self._size += written
            view = view[written:]

    def _rotate(self) -> None:
        self.close()
        os.replace(self.path, self.rotated)
        self._open()

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
