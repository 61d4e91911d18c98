"""Where a terminal pane's bytes come from and its keys go: a small interface, two kinds.

- :class:`SupervisorConsole`: one console of a guest, through the supervisor, which owns
  the pty (two readers of one pty would split its output). Many share one
  :class:`ConsoleHub`, i.e. one connection to the supervisor.
- :class:`PtyConnection`: a pty this process opens itself, running a program (tests,
  a plain shell).

No Textual here: the widget sets ``on_output`` and ``on_closed`` and calls ``write`` and
``resize``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable
from typing import Any, Protocol

from ..core.client import Client, SupervisorError
from ..core.process import session_leaders_below
from ..core.pty import set_winsize


class Connection(Protocol):
    """Bytes in (``on_output``), keys and size out."""

    on_output: Callable[[bytes], None]
    on_closed: Callable[[str], None]
    replayed: int
    """How many of the first bytes given to ``on_output`` are a replay (scrollback), not live output.

    The pane answers the guest's queries (cursor position, attributes) only in live output:
    an answer to a query replayed from the scrollback would reach whatever reads the
    console now, as if typed.
    """

    def write(self, data: bytes) -> None: ...

    def resize(self, cols: int, rows: int) -> None: ...

    def close(self) -> None: ...


TAIL = 512  # bytes of a console's output kept to find one's place in a new supervisor's scrollback


def _ignore_output(data: bytes) -> None:
    pass


def _ignore_closed(reason: str) -> None:
    pass


class ConsoleHub:
    """One connection to the supervisor, shared by every console pane of a client.

    It routes console output to the pane of that guest and console, and everything else
    to ``on_event`` (guest state changes, errors).
    """

    def __init__(
        self,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        on_fault: Callable[[Exception, dict[str, Any]], None] | None = None,
    ) -> None:
        self.client = Client(on_event, on_fault, self._on_output)
        self.consoles: dict[tuple[str, str], SupervisorConsole] = {}

    async def connect(self) -> ConsoleHub:
        await self.client.connect()
        return self

    def _on_output(self, guest: str, console: str, data: bytes) -> None:
        con = self.consoles.get((guest, console))
        if con is not None:
            con.deliver(data)

    async def reconnect(self) -> list[str]:
        """Connect to the supervisor again (a new one, after the last went away) and subscribe
        every console again from the last bytes each pane got; the consoles that could not be."""
        await self.client.connect()
        failed = []
        for (guest, console), con in list(self.consoles.items()):
            try:
                await self.client.subscribe(guest, console, history=False, after=con.tail, timeout=10)
            except SupervisorError as exc:
                failed.append(f"{guest} {console}: {exc}")
        return failed

    async def console(self, guest: str, console: str = "con1", *, history: bool = True) -> SupervisorConsole:
        """Subscribe to one console; its scrollback arrives first, then live output."""
        con = SupervisorConsole(self, guest, console)
        self.consoles[(guest, console)] = con
        try:
            await self.client.subscribe(guest, console, history=history, timeout=10)
        except Exception:
            self.consoles.pop((guest, console), None)
            raise
        con.live = True  # the scrollback came before the answer; what follows is live
        return con

    def forget(self, con: SupervisorConsole) -> None:
        if self.consoles.get((con.guest, con.console)) is con:
            del self.consoles[(con.guest, con.console)]
            if not self.client.closed.is_set():
                with contextlib.suppress(RuntimeError):
                    asyncio.get_running_loop().create_task(self._unsubscribe(con.guest, con.console))

    async def _unsubscribe(self, guest: str, console: str) -> None:
        with contextlib.suppress(Exception):
            await self.client.request("unsubscribe", guest=guest, console=console, timeout=5)

    async def close(self) -> None:
        await self.client.close()


class SupervisorConsole:
    """One guest console through the supervisor."""

    def __init__(self, hub: ConsoleHub, guest: str, console: str) -> None:
        self.hub, self.guest, self.console = hub, guest, console
        self._early: list[bytes] = []  # the scrollback arrives before anyone listens: kept for them
        self._on_output: Callable[[bytes], None] = self._early.append
        self.on_closed: Callable[[str], None] = _ignore_closed
        self.live = False
        self.replayed = 0  # bytes that came before ``live``: the scrollback
        self.tail = b""  # the last bytes delivered: where to take up again after a reconnect

    def deliver(self, data: bytes) -> None:
        """Bytes from the supervisor for this console."""
        if not self.live:
            self.replayed += len(data)
        self.tail = data[-TAIL:] if len(data) >= TAIL else (self.tail + data)[-TAIL:]
        self._on_output(data)

    @property
    def on_output(self) -> Callable[[bytes], None]:
        return self._on_output

    @on_output.setter
    def on_output(self, callback: Callable[[bytes], None]) -> None:
        self._on_output = callback
        early, self._early = self._early, []
        for data in early:
            callback(data)

    def write(self, data: bytes) -> None:
        self.hub.client.send_input(self.guest, self.console, data)

    def resize(self, cols: int, rows: int) -> None:
        self.hub.client.send_resize(self.guest, self.console, cols, rows)

    def close(self) -> None:
        self.hub.forget(self)


class PtyConnection:
    """A program on a pty of our own (``ptyprocess``), read with ``loop.add_reader``."""

    def __init__(self, argv: list[str], *, cols: int = 80, rows: int = 24, env: dict[str, str] | None = None) -> None:
        from ptyprocess import PtyProcess

        self.on_output: Callable[[bytes], None] = _ignore_output
        self.on_closed: Callable[[str], None] = _ignore_closed
        self.replayed = 0
        self.process = PtyProcess.spawn(argv, dimensions=(rows, cols), env=env)
        self.fd = self.process.fd
        os.set_blocking(self.fd, False)
        asyncio.get_running_loop().add_reader(self.fd, self._read)

    def _read(self) -> None:
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            asyncio.get_running_loop().remove_reader(self.fd)
            self.on_closed("the program ended")
            return
        self.on_output(data)

    def write(self, data: bytes) -> None:
        with contextlib.suppress(OSError):
            os.write(self.fd, data)

    def resize(self, cols: int, rows: int) -> None:
        with contextlib.suppress(OSError):
            set_winsize(self.fd, cols, rows)
        # A program below ours that left its session (a UML kernel in its sandbox calls setsid)
        # reads the size from the pty it was given but hears no SIGWINCH from it: tell it.
        for pid in session_leaders_below(self.process.pid):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGWINCH)

    def close(self) -> None:
        with contextlib.suppress(ValueError, RuntimeError):
            asyncio.get_running_loop().remove_reader(self.fd)
        if self.process.isalive():
            self.process.terminate(force=True)
