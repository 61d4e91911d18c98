"""A client of the supervisor, starting it on demand (as tmux starts its server).

Used by the command line and, later, by the TUI. Every wait has a timeout.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from .. import locations
from .protocol import encode

START_TIMEOUT = 10.0


class SupervisorError(Exception):
    def __init__(self, message: str, kind: str = "error") -> None:
        super().__init__(message)
        self.kind = kind


def start_supervisor() -> None:
    """Start ``umltui supervisor`` detached from this terminal and session."""
    log = locations.supervisor_log()
    with os.fdopen(locations.open_private(log), "ab") as out:
        subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "umltui", "supervisor"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,
            close_fds=True,
            cwd="/",
        )


MAX_LINE = 64 << 20  # a message longer than this is not the supervisor's: the connection is dropped


class _Wire(asyncio.Protocol):
    """The connection's bytes, cut into lines and handed to the client as they come.

    Each message is handled in the callback that read it: an echo reaches the app's pane on
    that turn of the loop, not on the next turn after a reading task has been woken.
    """

    def __init__(self, on_line: Callable[[bytes], None], lost: asyncio.Future[None]) -> None:
        self.on_line = on_line
        self.lost = lost
        self.transport: asyncio.Transport | None = None
        self._partial: list[bytes] = []  # a line's pieces, before its newline came
        self._held = 0
        self._paused = False
        self._drained: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if b"\n" not in data:
            self._partial.append(data)
            self._held += len(data)
            if self._held > MAX_LINE and self.transport is not None:
                self.transport.close()
            return
        if self._partial:
            data = b"".join([*self._partial, data])
            self._partial.clear()
        *lines, rest = data.split(b"\n")
        if rest:
            self._partial.append(rest)
        self._held = len(rest)
        for line in lines:
            if line and self.transport is not None and not self.transport.is_closing():
                self.on_line(line)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if not self.lost.done():
            self.lost.set_result(None)
        self.resume_writing()

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        self._drained = None

    async def drain(self) -> None:
        """Until what was written has gone to the socket's buffer (or the connection is lost)."""
        if self._paused and self.transport is not None:
            if self._drained is None:
                self._drained = asyncio.get_running_loop().create_future()
            await self._drained


class Client:
    """One connection to the supervisor.

    ``on_event`` gets every unrequested message (console output, guest changes), in the
    loop's callback that read it.
    """

    def __init__(self, on_event: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.on_event = on_event or (lambda e: None)
        self._wire: _Wire | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._ids = itertools.count(1)
        self._input_heads: dict[tuple[str, str], bytes] = {}
        self.closed = asyncio.Event()

    async def connect(self, *, start: bool = True, timeout: float = START_TIMEOUT) -> Client:
        path = str(locations.supervisor_socket())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        started = False
        lost: asyncio.Future[None] = loop.create_future()
        while True:
            try:
                # Never talk to a socket in a directory someone else could have made: keys go there.
                if locations.runtime_dir().exists() or locations.runtime_dir().is_symlink():
                    locations.check_private(locations.runtime_dir())
            except locations.UnsafeDirectory as exc:
                raise SupervisorError(str(exc), "unsafe") from None
            try:
                _, self._wire = await loop.create_unix_connection(lambda: _Wire(self._line, lost), path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if not start:
                    raise SupervisorError("no supervisor is running", "unreachable") from None
                if not started:
                    start_supervisor()
                    started = True
                if loop.time() > deadline:
                    raise SupervisorError(
                        f"the supervisor did not start within {timeout:g}s; see {locations.supervisor_log()}",
                        "unreachable",
                    ) from None
                await asyncio.sleep(0.05)
        lost.add_done_callback(self._lost)
        return self

    def _line(self, line: bytes) -> None:
        """One message from the supervisor: the answer to a request, or an event."""
        try:
            msg = json.loads(line)
        except ValueError:  # not the supervisor's
            self._drop()
            return
        rid = msg.get("id")
        if rid is not None and rid in self._pending:
            fut = self._pending.pop(rid)
            if not fut.done():
                fut.set_result(msg)
            return
        try:
            self.on_event(msg)
        except Exception as exc:  # one message's handler failing must not cost the connection
            asyncio.get_running_loop().call_exception_handler(
                {"message": f"handling a supervisor {msg.get('event')!r} event failed", "exception": exc}
            )

    def _drop(self) -> None:
        if self._wire is not None and self._wire.transport is not None:
            self._wire.transport.close()

    def _lost(self, _: object = None) -> None:
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(SupervisorError("the supervisor went away", "unreachable"))
        self._pending.clear()
        self.closed.set()

    def _write(self, data: bytes) -> bool:
        wire = self._wire
        if wire is None or wire.transport is None or self.closed.is_set():
            return False
        wire.transport.write(data)
        return True

    async def request(self, op: str, *, timeout: float = 30.0, **args: Any) -> Any:
        """Send a request and return its result.

        Raises:
            SupervisorError: the supervisor said no (``kind`` tells why) or did not answer in time.
        """
        if self._wire is None or self.closed.is_set():
            raise SupervisorError("not connected to the supervisor", "unreachable")
        rid = next(self._ids)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        if not self._write(encode({"id": rid, "op": op, **args})):
            self._pending.pop(rid, None)
            raise SupervisorError("not connected to the supervisor", "unreachable")
        await self._wire.drain()
        try:
            msg = await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            self._pending.pop(rid, None)
            raise SupervisorError(f"the supervisor did not answer {op!r} within {timeout:g}s", "timeout") from None
        if not msg.get("ok"):
            raise SupervisorError(msg.get("error", "failed"), msg.get("kind", "error"))
        return msg.get("result")

    def send_input(self, guest: str, console: str, data: bytes) -> None:
        head = self._input_heads.get((guest, console))
        if head is None:  # the message up to its data, made once per console (each key was a json.dumps)
            named = json.dumps({"op": "input", "guest": guest, "console": console}, separators=(",", ":"))
            head = self._input_heads[(guest, console)] = named[:-1].encode() + b',"data":"'
        self._write(head + base64.b64encode(data) + b'"}\n')

    def send_resize(self, guest: str, console: str, cols: int, rows: int) -> None:
        self._write(encode({"op": "resize", "guest": guest, "console": console, "cols": cols, "rows": rows}))

    async def close(self) -> None:
        wire = self._wire
        if wire is not None:
            if wire.transport is not None:
                wire.transport.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(wire.lost), 5.0)
            self._lost()


async def call(op: str, *, timeout: float = 30.0, **args: Any) -> Any:
    """One request on a short-lived connection."""
    client = await Client().connect()
    try:
        return await client.request(op, timeout=timeout, **args)
    finally:
        await client.close()


def supervisor_pid() -> int | None:
    """The running supervisor's pid (from its lock file), without starting one."""
    try:
        pid = int(locations.supervisor_lock().read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    return pid
