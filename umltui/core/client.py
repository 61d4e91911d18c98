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
import traceback
from collections.abc import Callable
from typing import Any

from .. import locations
from .protocol import FRAME, encode, frame_head

START_TIMEOUT = 10.0
READ_SLICE = 0.004  # seconds of reading a backlog before the loop gets a turn


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


def report_fault(exc: Exception, msg: dict[str, Any]) -> None:
    """The default for ``Client.on_fault``: the traceback on stderr, naming the event."""
    print(f"umltui: handling a {msg.get('event', '?')!r} message failed:", file=sys.stderr)
    traceback.print_exception(exc, file=sys.stderr)


class Client:
    """One connection to the supervisor.

    ``on_event`` gets every unrequested message (console output, guest changes). Given
    ``on_output`` (guest, console, bytes), console output goes there instead, whether it came
    as output frames (``subscribe``) or, from a supervisor of before them, as ``output``
    events. A long backlog is read a few milliseconds at a time, between which the loop runs
    everything else (keys, paints). An exception a handler raises goes to ``on_fault`` with
    the message, and the connection carries on: one bad handler must not silence every
    console and request after it.
    """

    def __init__(
        self,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        on_fault: Callable[[Exception, dict[str, Any]], None] | None = None,
        on_output: Callable[[str, str, bytes], None] | None = None,
    ) -> None:
        self.on_event = on_event or (lambda e: None)
        self.on_fault = on_fault or report_fault
        self.on_output = on_output or self._output_as_event
        self._events_to_output = on_output is not None  # ``output`` events (of an older supervisor) too
        # Subscribe for output frames where they have somewhere to go; False once a supervisor
        # of before them said no.
        self.raw = self._events_to_output
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._ids = itertools.count(1)
        self._task: asyncio.Task[None] | None = None
        self.closed = asyncio.Event()

    async def connect(self, *, start: bool = True, timeout: float = START_TIMEOUT) -> Client:
        path = str(locations.supervisor_socket())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        started = False
        while True:
            try:
                # Never talk to a socket in a directory someone else could have made: keys go there.
                if locations.runtime_dir().exists() or locations.runtime_dir().is_symlink():
                    locations.check_private(locations.runtime_dir())
            except locations.UnsafeDirectory as exc:
                raise SupervisorError(str(exc), "unsafe") from None
            try:
                self._reader, self._writer = await asyncio.open_unix_connection(path, limit=64 << 20)
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
        self._task = loop.create_task(self._read())
        return self

    def _output_as_event(self, guest: str, console: str, data: bytes) -> None:
        self.on_event({"event": "output", "guest": guest, "console": console, "data": base64.b64encode(data).decode()})

    def _event(self, msg: dict[str, Any]) -> None:
        if self._events_to_output and msg.get("event") == "output":
            self.on_output(msg["guest"], msg["console"], base64.b64decode(msg["data"]))
        else:
            self.on_event(msg)

    async def _read(self) -> None:
        reader = self._reader
        assert reader is not None
        loop = asyncio.get_running_loop()
        turn_ends = loop.time() + READ_SLICE
        try:
            while line := await reader.readline():
                if loop.time() > turn_ends:
                    # A backlog is all in the reader's buffer, and reading it never waits: without
                    # this, a key typed meanwhile would wait for the whole of it.
                    await asyncio.sleep(0)
                    turn_ends = loop.time() + READ_SLICE
                if line[0] == FRAME:
                    size, console, guest = frame_head(line)
                    data = await reader.readexactly(size)
                    try:
                        self.on_output(guest, console, data)
                    except Exception as exc:  # noqa: BLE001 - as below
                        self.on_fault(exc, {"event": "output", "guest": guest, "console": console})
                    continue
                msg = json.loads(line)
                rid = msg.get("id")
                if rid is not None and rid in self._pending:
                    fut = self._pending.pop(rid)
                    if not fut.done():
                        fut.set_result(msg)
                else:
                    try:
                        self._event(msg)
                    except Exception as exc:  # noqa: BLE001 - reported, and the next message still comes
                        self.on_fault(exc, msg)
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(SupervisorError("the supervisor went away", "unreachable"))
            self._pending.clear()
            self.closed.set()

    async def request(self, op: str, *, timeout: float = 30.0, **args: Any) -> Any:
        """Send a request and return its result.

        Raises:
            SupervisorError: the supervisor said no (``kind`` tells why) or did not answer in time.
        """
        if self._writer is None or self.closed.is_set():
            raise SupervisorError("not connected to the supervisor", "unreachable")
        rid = next(self._ids)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        self._writer.write(encode({"id": rid, "op": op, **args}))
        await self._writer.drain()
        try:
            msg = await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            self._pending.pop(rid, None)
            raise SupervisorError(f"the supervisor did not answer {op!r} within {timeout:g}s", "timeout") from None
        if not msg.get("ok"):
            raise SupervisorError(msg.get("error", "failed"), msg.get("kind", "error"))
        return msg.get("result")

    async def subscribe(self, guest: str, console: str, *, history: bool = True, timeout: float = 30.0) -> Any:
        """``subscribe``: with output frames where ``on_output`` was given, else (or from a
        supervisor of before them, which takes no ``raw``) with ``output`` events."""
        if self.raw:
            try:
                return await self.request(
                    "subscribe", guest=guest, console=console, history=history, raw=True, timeout=timeout
                )
            except SupervisorError as exc:
                if exc.kind != "protocol":
                    raise
                self.raw = False
        return await self.request("subscribe", guest=guest, console=console, history=history, timeout=timeout)

    def send_input(self, guest: str, console: str, data: bytes) -> None:
        if self._writer is not None and not self.closed.is_set():
            self._writer.write(
                encode({"op": "input", "guest": guest, "console": console, "data": base64.b64encode(data).decode()})
            )

    def send_resize(self, guest: str, console: str, cols: int, rows: int) -> None:
        if self._writer is not None and not self.closed.is_set():
            self._writer.write(encode({"op": "resize", "guest": guest, "console": console, "cols": cols, "rows": rows}))

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError):
                await self._writer.wait_closed()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


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
