"""``python -m umltui.terminal_demo [-- COMMAND ...]``: one console pane on a pty of its own.

A small app around :class:`~umltui.widgets.terminal.TerminalView` for trying the
terminal by hand: by default it boots one throw-away UML guest (a busybox root over
hostfs, in a temporary folder) whose console (``con0=fd:0,fd:1``) is the pty; with a
command after ``--`` it runs that instead (``-- bash``, ``-- htop``). Every key goes to
the program except the prefix ``ctrl+b``; after it: ``[`` scrollback, ``/`` search,
``s`` tell the guest's shell the pane's size, ``q`` quit, ``ctrl+b`` a literal ctrl+b.
The guest is killed when the app ends, and its folder removed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import ClassVar

from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Footer, Label

from .core import hostfpu
from .core.kernel import KernelMissing, kernel_path
from .core.rootfs import RootfsError, ensure_template
from .core.sandbox import Grants, SandboxMissing, confine, require_bwrap
from .fastpath.collector import freeze_startup_objects
from .screens.dialogs import PrefixChoice, PrefixKeys, PrefixScreen
from .screens.scrollback import ScrollbackScreen, search_in_scrollback
from .terminal.connection import PtyConnection
from .terminal.keys import encode_key
from .widgets.terminal import TerminalView

PREFIX = "ctrl+b"
COMMANDS = "[ scrollback · / search · s send the size · q quit · ctrl+b sends ctrl+b"

_INIT = """#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /tmp
hostname demo
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root TERM=xterm PS1='demo:\\w# '
cd /root
echo
echo "umltui terminal demo: a UML guest on this pane's pty. Try: vi, top, dmesg, ls -l /bin."
echo "ctrl+b then [ scrolls back, / searches, s sends the pane size, q quits. 'exit' powers off."
echo
setsid cttyhack sh
poweroff -f
"""


def guest_command(folder: Path) -> list[str]:
    """A one-guest UML boot whose console is our stdin and stdout (the pty).

    Raises:
        RootfsError: busybox-static is missing.
        KernelMissing: the kernel is missing.
        SandboxMissing: bubblewrap is missing.
    """
    kernel = kernel_path()
    root = folder / "root"
    shutil.copytree(ensure_template(), root, symlinks=True)
    init = root / "demo-init"
    init.write_text(_INIT)
    init.chmod(0o755)
    words = [
        kernel,
        f"umid=umltui-demo-{os.getpid()}",
        "mem=128M",
        f"uml_dir={folder}",
        "rootfstype=hostfs",
        f"rootflags={root}",
        "rw",
        "init=/demo-init",
        "con=null",
        "con0=fd:0,fd:1",
    ]
    return hostfpu.launch(confine(words, Grants(rw=[folder]), bwrap=require_bwrap()))


class DemoPrefix(PrefixScreen):
    """The app's prefix catcher, listing the demo's few commands."""

    def compose(self) -> ComposeResult:
        yield Label(f"{PREFIX} … {COMMANDS}")


class TerminalDemo(App[None]):
    """One pane, the whole screen."""

    TITLE = "umltui terminal demo"
    CSS = "TerminalView { height: 1fr; }"
    BINDINGS: ClassVar[list[BindingType]] = [Binding(PREFIX, "prefix", "prefix", priority=True, key_display=PREFIX)]
    ENABLE_COMMAND_PALETTE = False  # ctrl+p belongs to the program

    def __init__(self, argv: list[str]) -> None:
        super().__init__()
        self.prefix_keys = PrefixKeys()
        self.argv = argv
        self.view = TerminalView(passthrough=frozenset({PREFIX}))

    def compose(self) -> ComposeResult:
        yield self.view
        yield Footer()

    def on_mount(self) -> None:
        self.view.focus()
        self.call_after_refresh(self._start)
        self.call_after_refresh(freeze_startup_objects)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGHUP, signal.SIGTERM):  # a closed terminal: end the guest too
            loop.add_signal_handler(sig, self.exit)

    def _start(self) -> None:
        region = self.view.scrollable_content_region
        env = {**os.environ, "TERM": "xterm-256color"}
        self.view.attach(PtyConnection(self.argv, cols=max(2, region.width), rows=max(1, region.height), env=env))

    def on_terminal_view_closed(self, event: TerminalView.Closed) -> None:
        self.notify(f"{event.reason}; {PREFIX} q quits", timeout=30)

    def on_terminal_view_title_changed(self, event: TerminalView.TitleChanged) -> None:
        self.sub_title = event.title

    def action_prefix(self) -> None:
        self.prefix_keys.start(self, DemoPrefix(PREFIX, {}), self._after_prefix)

    async def on_event(self, event: events.Event) -> None:
        if not self.prefix_keys.take(event):
            await super().on_event(event)

    async def _after_prefix(self, choice: PrefixChoice) -> None:
        view = self.view
        key = choice.key
        if key == PREFIX:
            view.send(b"\x02")
        elif key == "q":
            self.exit()
        elif key == "left_square_bracket":
            self.push_screen(ScrollbackScreen(view))
        elif key == "slash":
            search_in_scrollback(self, view)
        elif key == "s":
            view.tell_size()
        for k, c in choice.after:  # typed in the same burst: for the program
            view.send(encode_key(k, c, app_cursor=view.terminal.screen.app_cursor_keys) or b"")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m umltui.terminal_demo", description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs=argparse.REMAINDER, help="after --: the program to run (default: a guest)")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    folder = Path(tempfile.mkdtemp(prefix="umltui-demo-"))
    try:
        if not command:
            try:
                command = guest_command(folder)
            except (RootfsError, KernelMissing, SandboxMissing) as e:
                print(f"umltui demo: {e}", file=sys.stderr)
                return 1
        elif not shutil.which(command[0]):
            print(f"umltui demo: {command[0]}: command not found", file=sys.stderr)
            return 1
        TerminalDemo(command).run()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
