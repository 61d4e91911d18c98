"""The supervisor's side of the keeper: its requests (:class:`KeeperClient`), its stream, starting it."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import cast

from ... import locations
from ..process import spawn_detached
from .wire import CLOSED, DATA, MAX_PACKET, AttachReply, PingReply, Reply, Request, TakeReply, decode, encode, unpack

log = logging.getLogger("umltui.keeper")

CALL_TIMEOUT = 1.0
QUIET_AFTER_TIMEOUT = 5.0  # seconds a keeper that timed out is not asked again (the event loop must not wait on it)


def _connect(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    sock.settimeout(CALL_TIMEOUT)
    try:
        sock.connect(str(path))
    except OSError:
        sock.close()
        raise
    return sock


def _call(sock: socket.socket, request: Request, fds: tuple[int, ...] = ()) -> tuple[Reply, list[int]]:
    socket.send_fds(sock, [encode(request)], list(fds))
    data, got, _flags, _addr = socket.recv_fds(sock, MAX_PACKET, 64)
    for fd in got:
        os.set_inheritable(fd, False)  # never into a guest we start later
    if not data:
        raise ConnectionResetError("the keeper closed the connection")
    return cast(Reply, decode(data)), got  # (our own keeper's: not checked field by field)


class KeeperClient:
    """The supervisor's requests: hand a pty over, forget one, take a guest's back.

    Calls are short and local (the keeper answers at once; each waits at most
    :data:`CALL_TIMEOUT`). When no keeper answers they return failure, and the supervisor
    then reads that console itself, as it would without a keeper.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or locations.keeper_socket()
        self._sock: socket.socket | None = None
        self._warned = False
        self._skip_until = 0.0

    def _call(
        self, request: Request, fds: tuple[int, ...] = (), *, quiet: bool = False
    ) -> tuple[Reply, list[int]] | None:
        if time.monotonic() < self._skip_until:
            return None  # it did not answer a moment ago: fail at once rather than hold up the loop again
        for attempt in (1, 2):  # once more on a fresh connection: the keeper may have been restarted
            try:
                if self._sock is None:
                    self._sock = _connect(self.path)
                reply = _call(self._sock, request, fds)
                self._warned = False
                return reply
            except TimeoutError as exc:  # there, but not answering: do not wait on it again for a while
                self.close()
                self._skip_until = time.monotonic() + QUIET_AFTER_TIMEOUT
                self._warn(exc, quiet)
                return None
            except (OSError, ValueError) as exc:
                self.close()
                if attempt == 2:
                    self._warn(exc, quiet)
        return None

    def _warn(self, exc: Exception, quiet: bool) -> None:
        if not self._warned and not quiet:
            log.warning("the keeper does not answer (%s)", exc)
            self._warned = True

    def alive(self) -> bool:
        return self._call({"op": "ping"}, quiet=True) is not None

    def ping(self) -> PingReply | None:
        """The keeper's answer to ``ping`` (its pid, how many ptys it holds), or None."""
        answer = self._call({"op": "ping"}, quiet=True)
        return cast(PingReply, answer[0]) if answer is not None else None

    def put(self, umid: str, console: str, pts: str, fd: int, log_path: Path, log_max: int, pid: int = 0) -> bool:
        """Hand console ``pts`` of guest ``umid`` (kernel process ``pid``) over; True if the keeper took it."""
        answer = self._call({"op": "put", "umid": umid, "console": console, "pts": pts, "log": str(log_path),
                             "log_max": log_max, "pid": pid}, (fd,))  # fmt: skip
        return answer is not None and answer[0]["ok"]

    def drop(self, umid: str, console: str | None = None) -> None:
        self._call({"op": "drop", "umid": umid, "console": console})

    def take(self, umid: str) -> list[tuple[str, str, int]]:
        """Our own descriptors of the ptys the keeper reads for ``umid``: ``(console, pts, fd)``."""
        answer = self._call({"op": "take", "umid": umid})
        if answer is None:
            return []
        reply, fds = answer
        consoles = cast(TakeReply, reply)["consoles"] if reply["ok"] else []
        if len(consoles) != len(fds):
            for fd in fds:
                os.close(fd)
            return []
        return [(str(c), str(p), fd) for (c, p), fd in zip(consoles, fds, strict=True)]

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class KeeperStream:
    """The attached stream: console bytes and closings from the keeper, on the event loop.

    :meth:`attach` answers how far each console's log is; bytes after that come through
    ``on_data(umid, console, data)``, closings through ``on_closed(umid, console)``, and
    the keeper going away through ``on_lost()``.
    """

    def __init__(
        self,
        on_data: Callable[[str, str, bytes], None],
        on_closed: Callable[[str, str], None],
        on_lost: Callable[[], None],
        path: Path | None = None,
    ) -> None:
        self.path = path or locations.keeper_socket()
        self.on_data, self.on_closed, self.on_lost = on_data, on_closed, on_lost
        self._sock: socket.socket | None = None

    def attach(self) -> dict[str, int] | None:
        """Attach; the log position of every console the keeper reads (``UMID/conN``), or None."""
        try:
            sock = _connect(self.path)
            reply, _ = _call(sock, {"op": "attach"})
        except (OSError, ValueError) as exc:
            log.warning("cannot attach to the keeper: %s", exc)
            return None
        sock.setblocking(False)
        self._sock = sock
        return {str(k): int(v) for k, v in cast(AttachReply, reply)["positions"].items()} if reply["ok"] else {}

    def start(self) -> None:
        """Take the stream from now on (once the logs are read up to the positions :meth:`attach` gave)."""
        import asyncio

        if self._sock is not None:
            try:
                self._sock.send(encode({"op": "start"}))
            except OSError:
                self.close()
                self.on_lost()
                return
            asyncio.get_running_loop().add_reader(self._sock.fileno(), self._ready)

    def _ready(self) -> None:
        assert self._sock is not None
        for _ in range(64):  # a turn of the loop takes at most this many packets
            try:
                packet = self._sock.recv(MAX_PACKET)
            except BlockingIOError:
                return
            except OSError:
                packet = b""
            if not packet:
                self.close()
                self.on_lost()
                return
            kind, umid, console, data = unpack(packet)
            if kind == DATA:
                self.on_data(umid, console, data)
            elif kind == CLOSED:
                self.on_closed(umid, console)

    @property
    def attached(self) -> bool:
        return self._sock is not None

    def close(self) -> None:
        if self._sock is not None:
            import asyncio

            with contextlib.suppress(RuntimeError, ValueError):
                asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None


def keeper_running() -> bool:
    """Whether the user's keeper process lives, running or stopped: it holds its lock all its life.

    How fast it answers says nothing: a keeper stopped for a while (``kill -STOP``, a slow
    disk, a loaded machine) still holds and reads every pty once it goes on, so it must never
    be replaced nor read beside (two readers scramble a console).
    """
    try:
        fd = locations.open_private(locations.keeper_lock(), os.O_RDWR | os.O_CREAT)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def start_keeper(client: KeeperClient, timeout: float = 3.0) -> int | None:
    """Start the user's keeper (detached) unless one lives; its pid when we started it."""
    if keeper_running():
        return None
    pid = spawn_detached([sys.executable, "-m", "umltui", "keeper"], locations.state_dir() / "keeper.log")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.path.exists() and client.alive():
            break
        time.sleep(0.02)
    return pid
