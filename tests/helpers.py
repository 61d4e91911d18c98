"""Talking to a real guest's console through the real supervisor, with timeouts; reading a pcap back."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import struct
import time
from collections.abc import Callable, Iterator
from typing import Any

from textual.app import App, ComposeResult

from umltui.core.capture import PCAP_HEADER
from umltui.core.client import Client
from umltui.widgets.terminal import TerminalView


class Console:
    """Subscribes to one console; ``expect`` waits for a pattern in what arrives."""

    def __init__(self, guest: str, console: str = "con1") -> None:
        self.guest, self.console = guest, console
        self.buffer = b""
        self._changed = asyncio.Event()
        self.client = Client(self._on_event)

    def _on_event(self, msg: dict[str, Any]) -> None:
        if msg.get("event") == "output" and msg.get("console") == self.console:
            self.buffer += base64.b64decode(msg["data"])
            self._changed.set()

    async def __aenter__(self) -> Console:
        await self.client.connect()
        info = await self.client.request("subscribe", guest=self.guest, console=self.console)
        self.guest = info["guest"]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.close()

    def type(self, text: str) -> None:
        self.client.send_input(self.guest, self.console, text.encode())

    async def expect(self, pattern: str | bytes, timeout: float = 15.0, *, since: int = 0) -> re.Match[bytes]:
        regex = re.compile(pattern.encode() if isinstance(pattern, str) else pattern)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if m := regex.search(self.buffer, since):
                return m
            left = deadline - loop.time()
            if left <= 0:
                tail = self.buffer[-600:].decode(errors="replace")
                raise AssertionError(
                    f"{pattern!r} not seen on {self.guest} {self.console} in {timeout}s; last output:\n{tail}"
                )
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    async def ready(self, timeout: float = 30.0) -> Console:
        """Wait for the shell's prompt: a getty drops what is typed before its shell is up.

        The prompt may be followed by busybox's cursor query, or be redrawn (``ESC [J``) when
        the console's size reaches the guest.
        """
        await self.expect(rb"# (\x1b\[6n|\x1b\[J)?$", timeout)
        return self

    async def run(self, command: str, marker: str, timeout: float = 15.0) -> str:
        """Type a command that ends by echoing ``marker``; return what it printed."""
        start = len(self.buffer)
        self.type(command + f"; echo {marker[:1]}''{marker[1:]}\n")
        m = await self.expect(re.escape(marker), timeout, since=start)
        return self.buffer[start : m.start()].decode(errors="replace")


async def until(
    check: Callable[[], object], what: str = "", *, timeout: float = 20.0, extra: Callable[[], object] = lambda: ""
) -> None:
    """Wait for ``check()`` to hold; on timeout fail saying what, with ``extra()`` for context."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}\n{extra()}")
        await asyncio.sleep(0.05)


class OneView(App[None]):
    """An app of one focused terminal pane, for widget tests."""

    def __init__(self, view: TerminalView) -> None:
        super().__init__()
        self.view = view

    def compose(self) -> ComposeResult:
        yield self.view

    def on_mount(self) -> None:
        self.view.focus()


def read_pcap(data: bytes) -> Iterator[tuple[float, bytes]]:
    """The records of a pcap stream as umltui writes it (core/capture.py): (time, frame) each."""
    if len(data) < len(PCAP_HEADER):
        return
    pos = len(PCAP_HEADER)
    while pos + 16 <= len(data):
        sec, usec, incl, _orig = struct.unpack_from("=IIII", data, pos)
        pos += 16
        if pos + incl > len(data):
            return
        yield sec + usec / 1_000_000, data[pos : pos + incl]
        pos += incl
