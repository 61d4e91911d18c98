"""The console widget driving a real guest's console through the supervisor."""

from __future__ import annotations

import re

import pytest
from conftest import Env, requires_uml
from helpers import OneView as One
from helpers import until

from umltui.terminal.connection import ConsoleHub
from umltui.widgets.terminal import TerminalView


@requires_uml
@pytest.mark.uml
async def test_real_guest_prompt_command_vi_and_resize(env: Env) -> None:
    env.run("demo", "--detach", check=True, timeout=120)
    hub = await ConsoleHub().connect()
    try:
        view = TerminalView()
        app = One(view)
        async with app.run_test(size=(100, 30)) as pilot:
            view.attach(await hub.console("demo-a", "con1"))
            view.send(b"\r")

            def text() -> str:
                return "\n".join(view.screen_text())

            await until(lambda: "a:/root#" in text(), what="a prompt", extra=text)
            for key in "echo $((6*7))":
                await pilot.press(key if key != " " else "space")
            await pilot.press("enter")
            await until(lambda: "\n42\n" in text(), what="the command's output")
            before = view.screen_text()
            view.send(b"vi /tmp/x\r")
            await until(lambda: view.terminal.screen.alternate or "~" in text(), what="vi")
            await pilot.pause(0.3)
            await pilot.press("escape")
            await pilot.pause(0.5)  # vi takes ESC followed at once by a key as one escape sequence
            await pilot.press(":", "q", "!", "enter")
            await until(
                lambda: not view.terminal.screen.alternate and "vi /tmp/x" in text(), what="vi to quit", extra=text
            )
            await pilot.pause(0.3)
            after = view.screen_text()
            # The shell screen is as it was, plus the vi line and a fresh prompt.
            assert after[: len([r for r in before if r])] == [r for r in before if r][
                : len(after)
            ] or "vi /tmp/x" in "\n".join(after)
            assert not any(r.strip() == "~" for r in after), after
            # Debian's 6.1 UML does not pass a con=pts pty's size on to the guest's tty (its
            # programs keep 24x80); the pane can tell the guest's shell its size instead.
            cols, rows = view.terminal.screen.columns, view.terminal.screen.lines
            view.send(b"stty size\r")
            await until(lambda: text().rstrip().endswith("#") and "stty size\n" in text(), what="stty")
            view.tell_size()
            view.send(b"stty size\r")
            await until(lambda: f"{rows} {cols}" in text(), timeout=5, what=f"stty size {rows} {cols}", extra=text)
    finally:
        await hub.close()


@requires_uml
@pytest.mark.uml
async def test_answers_to_queries_keep_their_place_among_typed_keys_and_replays_get_none(env: Env) -> None:
    # busybox's line editor asks for the cursor position (CSI 6 n) after every prompt: the
    # pane answers, while keys typed ahead are on their way.
    env.run("demo", "--detach", check=True, timeout=120)
    hub = await ConsoleHub().connect()
    try:
        view = TerminalView()
        async with One(view).run_test(size=(100, 30)):
            view.attach(await hub.console("demo-a", "con1"))

            def text() -> str:
                return "\n".join(view.terminal.screen.history_text() + view.screen_text())

            view.send(b"\r")
            await until(lambda: "a:/root#" in text(), what="a prompt", extra=text)
            for i in range(1, 21):  # typed ahead: each line's prompt (and its query) comes after it was sent
                view.send(f"echo n$(({i}*1))x\r".encode())
            await until(lambda: "n20x" in text(), what="all twenty commands", extra=text)
            out = re.findall(r"^n(\d+)x$", text(), re.MULTILINE)
            assert out == [str(i) for i in range(1, 21)], text()
            assert not re.search(r"\d+;\d+R", text()), text()  # no answer ended up as typed text
            # A second pane replays the scrollback, queries and all: it must answer none of them.
            view.send(b'read -t 3 x; echo "got[$x]"\r')
            await until(lambda: "read -t" in text(), what="the read to start")
            other, hub2 = TerminalView(), await ConsoleHub().connect()  # (a hub routes a console to one pane)
            try:
                async with One(other).run_test(size=(100, 30)):
                    other.attach(await hub2.console("demo-a", "con1"))
                    await until(lambda: re.search(r"^got\[", text(), re.M), timeout=10, what="the read", extra=text)
            finally:
                await hub2.close()
            assert re.search(r"^got\[\]$", text(), re.M), text()
    finally:
        await hub.close()
