"""What the operations (:mod:`.ops`) and the state file (:mod:`.state`) use of the supervisor,
and one connected client.

:class:`~.server.Supervisor` is the one :class:`Context` there is; the operations name this
module instead, so none of them imports the server that imports them (not even for
annotations), and what a handler may touch is written down here.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Protocol

from ..guest import Guest
from ..keeper.client import KeeperClient
from ..network import LabRecord, Switch
from ..protocol import encode
from .captures import Captures
from .cpu import CpuPolicy

CLIENT_BUFFER_LIMIT = 64 << 20  # a client that reads nothing must not eat our memory


class Context(Protocol):
    """The supervisor as the operations see it."""

    guests: dict[str, Guest]
    switches: dict[str, Switch]
    labs: dict[str, LabRecord]
    captures: Captures
    keeper: KeeperClient
    cpu: CpuPolicy
    uml_dir: Path
    up_lock: asyncio.Lock
    ups: dict[str, asyncio.Task[Any]]  # lab name -> the `up` of it under way
    taken_down: set[asyncio.Task[Any]]  # ups a later `down` cancelled
    save_problem: str | None  # why the last save failed, while it keeps failing

    def new_guest(self, **kw: Any) -> Guest: ...
    def find_guest(self, ref: str) -> Guest: ...
    def guest_changed(self, guest: Guest) -> None: ...
    def net_changed(self) -> None: ...
    def watch_switch(self, sw: Switch) -> None: ...
    def save(self) -> None: ...
    def stop_soon(self) -> None: ...


class ClientConnection:
    """One connected client: its socket, its console subscriptions, whether it watches changes."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.subscriptions: list[tuple[Guest, str, Any]] = []  # (guest, console, the sender given to it)
        self.watching = False

    def send(self, obj: Any) -> None:
        self.send_bytes(encode(obj))

    def send_bytes(self, data: bytes) -> None:
        """One whole message (a line, or an output frame) as it goes on the wire."""
        if self.writer.is_closing():
            return
        if self.writer.transport.get_write_buffer_size() > CLIENT_BUFFER_LIMIT:
            self.writer.close()
            return
        self.writer.write(data)

    def drop_subscriptions(self) -> None:
        for guest, console, send in self.subscriptions:
            guest.consoles[console].subscribers.discard(send)
        self.subscriptions.clear()
