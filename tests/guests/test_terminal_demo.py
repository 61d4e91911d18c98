"""The example app: a real guest whose console is the app's own pty."""

from __future__ import annotations

import os

import pytest
from conftest import Env, requires_uml
from helpers import until

from umltui.terminal.connection import PtyConnection
from umltui.terminal_demo import TerminalDemo, guest_command


@requires_uml
@pytest.mark.uml
async def test_demo_boots_a_guest_on_its_pty_resizes_it_and_ends_it(env: Env) -> None:
    folder = env.root / "demo"
    folder.mkdir()
    app = TerminalDemo(guest_command(folder))
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.view

        def text() -> str:
            return "\n".join(view.screen_text())

        await until(lambda: "demo:/root#" in text(), timeout=60, what="the guest's shell", extra=text)
        assert isinstance(view.connection, PtyConnection)
        pid = view.connection.process.pid
        screen = view.terminal.screen
        view.send(b"stty size\r")
        await until(
            lambda: f"{screen.lines} {screen.columns}" in text(), what="the pane's size in the guest", extra=text
        )
        # A console on the kernel's stdin and stdout (con0=fd:0,fd:1) hears of resizes, unlike con=pts.
        await pilot.resize_terminal(80, 20)
        await until(lambda: (screen.columns, screen.lines) < (99, 29), what="the pane to shrink")
        await pilot.pause(0.5)
        view.send(b"clear; stty size\r")
        await until(lambda: f"{screen.lines} {screen.columns}" in text(), what="the new size in the guest", extra=text)
        await pilot.press("ctrl+b", "q")
    await until(lambda: not os.path.exists(f"/proc/{pid}"), timeout=15, what="the guest to end")
