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
import time
import traceback
from collections.abc import Callable
from typing import Any

from .. import locations
from .protocol import FRAME, encode, frame_head

START_TIMEOUT = 10.0
READ_SLICE = 0.004  # seconds of reading a backlog before the loop gets a turn
LINE_MAX = 64 << 20  # a line longer than this is not our protocol


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
        self._wire: _Wire | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._ids = itertools.count(1)
        self._input_heads: dict[tuple[str, str], bytes] = {}  # (guest, console) -> ``_input_head``
        self.closed = asyncio.Event()

    async def connect(self, *, start: bool = True, timeout: float = START_TIMEOUT) -> Client:
        """Connect (again, after the supervisor went away: ``closed`` is cleared once connected)."""
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
                await loop.create_unix_connection(lambda: _Wire(self), path)
                self.closed.clear()
                self.raw = self._events_to_output
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
        return self

    def _output_as_event(self, guest: str, console: str, data: bytes) -> None:
        self.on_event({"event": "output", "guest": guest, "console": console, "data": base64.b64encode(data).decode()})

    def _event(self, msg: dict[str, Any]) -> None:
        if self._events_to_output and msg.get("event") == "output":
            self.on_output(msg["guest"], msg["console"], base64.b64decode(msg["data"]))
        else:
            self.on_event(msg)

    def _take(self) -> None:
        """Hand on every whole message in the wire's buffer, in the callback that read it.

        A backlog (one read holds up to 256 KB of frames) is handed on ``READ_SLICE`` at a
        time: then reading pauses and the rest waits for the loop's next turn, so a key typed
        meanwhile does not wait for the whole of it.
        """
        wire = self._wire
        if wire is None:
            return
        buf = wire.buffer
        pos, end = 0, len(buf)
        turn_ends = time.perf_counter() + READ_SLICE
        try:
            while pos < end:
                nl = buf.find(b"\n", pos)
                if nl < 0:
                    if end - pos > LINE_MAX:
                        raise ValueError(f"a line of over {LINE_MAX} bytes")
                    break
                if buf[pos] == FRAME:
                    size, console, guest = frame_head(bytes(buf[pos : nl + 1]))
                    if end < nl + 1 + size:
                        break  # the rest of its bytes are still on the way
                    data = bytes(buf[nl + 1 : nl + 1 + size])
                    pos = nl + 1 + size
                    try:
                        self.on_output(guest, console, data)
                    except Exception as exc:  # noqa: BLE001 - as below
                        self.on_fault(exc, {"event": "output", "guest": guest, "console": console})
                else:
                    msg = json.loads(bytes(buf[pos : nl + 1]))
                    pos = nl + 1
                    self._message(msg)
                if pos < end and time.perf_counter() > turn_ends:
                    wire.pause()  # the rest on the loop's next turn, reading held till then
                    break
        except ValueError:
            if wire.transport is not None:  # not our protocol: as if the supervisor went away
                wire.transport.close()  # (reading stops with it: no more ``_take``)
        finally:
            del buf[:pos]

    def _message(self, msg: dict[str, Any]) -> None:
        rid = msg.get("id")
        if rid is not None and rid in self._pending:
            fut = self._pending.pop(rid)
            if not fut.done():
                fut.set_result(msg)
            return
        try:
            self._event(msg)
        except Exception as exc:  # noqa: BLE001 - reported, and the next message still comes
            self.on_fault(exc, msg)

    def _lost(self) -> None:
        """The connection is gone: every request waiting for an answer fails."""
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
        wire = self._wire
        if wire is None or self.closed.is_set():
            raise SupervisorError("not connected to the supervisor", "unreachable")
        rid = next(self._ids)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        wire.write(encode({"id": rid, "op": op, **args}))
        try:
            await asyncio.wait_for(wire.drained(), timeout)
        except TimeoutError:
            self._pending.pop(rid, None)
            raise SupervisorError(f"the supervisor did not read {op!r} within {timeout:g}s", "timeout") from None
        try:
            msg = await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            self._pending.pop(rid, None)
            raise SupervisorError(f"the supervisor did not answer {op!r} within {timeout:g}s", "timeout") from None
        if not msg.get("ok"):
            raise SupervisorError(msg.get("error", "failed"), msg.get("kind", "error"))
        return msg.get("result")

    async def subscribe(
        self, guest: str, console: str, *, history: bool = True, after: bytes | None = None, timeout: float = 30.0
    ) -> Any:
        """``subscribe``: with output frames where ``on_output`` was given, else (or from a
        supervisor of before them, which takes no ``raw``) with ``output`` events. ``after``:
        the last bytes seen of it, to be sent what followed them (see the op)."""
        args: dict[str, Any] = {"guest": guest, "console": console, "history": history}
        if after is not None:
            args["after"] = base64.b64encode(after).decode()
        if self.raw:
            try:
                return await self.request("subscribe", **args, raw=True, timeout=timeout)
            except SupervisorError as exc:
                if exc.kind != "protocol":
                    raise
                self.raw = False
        return await self.request("subscribe", **args, timeout=timeout)

    def send_input(self, guest: str, console: str, data: bytes) -> None:
        if self._wire is not None and not self.closed.is_set():
            self._wire.write(self._input_head(guest, console) + base64.b64encode(data) + b'"}\n')

    def _input_head(self, guest: str, console: str) -> bytes:
        """An ``input`` request for this console up to its data, encoded once: a key's request
        is this, the key in base64 and the end (``json.dumps`` for each key, cold after a
        wait, was a good part of the app's way in)."""
        head = self._input_heads.get((guest, console))
        if head is None:
            if len(self._input_heads) > 256:  # (guests come and go: keep it small)
                self._input_heads.clear()
            whole = encode({"op": "input", "guest": guest, "console": console, "data": ""})
            head = self._input_heads[(guest, console)] = whole[: -len(b'"}\n')]
        return head

    def send_resize(self, guest: str, console: str, cols: int, rows: int) -> None:
        if self._wire is not None and not self.closed.is_set():
            self._wire.write(encode({"op": "resize", "guest": guest, "console": console, "cols": cols, "rows": rows}))

    async def close(self, timeout: float = 5.0) -> None:
        wire = self._wire
        if wire is not None and wire.transport is not None:
            wire.transport.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.closed.wait(), timeout)


class _Wire(asyncio.Protocol):
    """A client's connection, read as it comes: each whole message is handed on in the
    callback that read it (``Client._take``).

    A stream reader would wake a reading task, which then takes the message on the loop's
    next turn: for a key's echo, a turn of the loop and a task's step, cold after a wait.
    """

    def __init__(self, client: Client) -> None:
        self.client = client
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self._paused = False  # reading held for the loop's next turn (``pause``)
        self._writable: asyncio.Future[None] | None = None  # while the socket's buffer is full

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.client._wire = self

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self._paused:
            self.client._take()

    def eof_received(self) -> bool:
        return False  # the supervisor closed: so do we

    def connection_lost(self, exc: Exception | None) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        self.client._lost()

    def pause(self) -> None:
        """Read no more until the loop's next turn, then hand on what is buffered."""
        if self._paused or self.transport is None:
            return
        self._paused = True
        self.transport.pause_reading()
        asyncio.get_running_loop().call_soon(self._resume)

    def _resume(self) -> None:
        self._paused = False
        if self.transport is None or self.transport.is_closing():
            return
        self.client._take()
        if not self._paused:
            self.transport.resume_reading()

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def pause_writing(self) -> None:
        if self._writable is None or self._writable.done():
            self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    async def drained(self) -> None:
        """Until what was written has gone to the socket (at once, unless its buffer is full)."""
        if self._writable is not None and not self._writable.done():
            await self._writable


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
