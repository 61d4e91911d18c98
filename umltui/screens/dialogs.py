"""Small screens: the prefix catcher, confirmations, the quit question, search, help."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from rich.table import Table
from rich.text import Text
from textual import events, on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

ACTION_HELP = {
    "console(1)": "console con1",
    "console(2)": "console con2",
    "console(3)": "console con3",
    "console(4)": "console con4",
    "console(5)": "console con5",
    "console(6)": "console con6",
    "console(0)": "kernel log (con0)",
    "next_guest": "next guest",
    "previous_guest": "previous guest",
    "next_pane": "next pane",
    "zoom": "zoom: the pane takes the screen / back",
    "grid": "grid of consoles / tabs",
    "toggle_mconsole": "mconsole panel: show and focus / hide",
    "network": "network view",
    "scrollback": "scrollback (keys move, q leaves)",
    "search": "search the scrollback",
    "broadcast": "broadcast typing to the grid",
    "detach": "detach (guests keep running)",
    "palette": "command palette",
    "help": "this help",
    "quit": "quit: detach or halt all",
    "tell_size": "tell the guest's shell the pane size (stty)",
    "focus_guests": "guest list: show and focus / hide",
}

SHORT_HELP = {
    "next_guest": "next",
    "previous_guest": "previous",
    "next_pane": "pane",
    "toggle_mconsole": "mconsole",
    "network": "network",
    "scrollback": "scroll",
    "focus_guests": "guests",
    "tell_size": "stty",
}
"""The prefix bar's words: one or two per command, so the bar fits 80 columns in three lines."""


def key_label(key: str) -> str:
    names = {"left_square_bracket": "[", "slash": "/", "colon": ":", "question_mark": "?", "space": "space"}
    return names.get(key, key)


@dataclass
class PrefixChoice:
    """What followed the prefix: the command's key, and keys typed after it in the same burst.

    Keys that arrive before the prefix screen is gone (a fast typist, a paste, SSH sending
    them in one packet) are not commands: the app hands them to the console after the
    command has run, in order.
    """

    key: str
    after: list[tuple[str, str | None]] = field(default_factory=list)  # (key, character)


class PrefixScreen(ModalScreen[PrefixChoice | None]):
    """After the prefix key: the next key is an app command (the footer lists them)."""

    DEFAULT_CSS = """
    PrefixScreen { background: transparent; align: center bottom; }
    PrefixScreen > Label { background: $accent; color: $background; text-style: bold; padding: 0 1;
        margin-bottom: 2; max-width: 100%; }
    """

    def __init__(self, prefix: str, keymap: dict[str, str]) -> None:
        super().__init__()
        self.prefix = prefix
        self.keymap = keymap
        self.choice: PrefixChoice | None = None

    def compose(self) -> ComposeResult:
        shown = " · ".join(
            f"{key_label(k)} {SHORT_HELP.get(a, a)}" for a, k in self.keymap.items() if not a.startswith("console(")
        )
        yield Label(Content(f"{self.prefix} … 0-6 console · {shown} · {self.prefix} sends {self.prefix}"))

    def on_key(self, event: events.Key) -> None:
        event.stop()
        event.prevent_default()
        if event.key in ("shift", "ctrl", "alt"):
            return
        self.choose(event.key, event.character)

    def choose(self, key: str, character: str | None = None) -> None:
        """The first key is the command; any after it (before this screen is gone) are for the console."""
        if self.choice is not None:
            self.choice.after.append((key, character))
            return
        self.choice = PrefixChoice(key)
        self.dismiss(self.choice)

    def on_click(self) -> None:
        if self.choice is None:
            self.choice = PrefixChoice("")
            self.dismiss(None)


class PrefixKeys:
    """An app's keys from the prefix until its command has run, taken by the app itself, in order.

    The first key is the command, the prefix again is a literal prefix (as in tmux), and the
    rest wait in ``choice.after`` for the command to hand on: a burst (a fast typist, a paste,
    SSH) may hold ``prefix 2 ls Enter``, where ``2`` shows con2 and ``ls Enter`` is for con2.
    Taken in the app's ``on_event`` (:meth:`take`), not by the prefix screen, whose queue is
    dropped with the last keys in it when it closes.
    """

    def __init__(self) -> None:
        self.screen: PrefixScreen | None = None  # open, or its command still running

    def start(self, app: App[Any], screen: PrefixScreen, command: Callable[[PrefixChoice], Awaitable[None]]) -> None:
        """Open ``screen``; ``command`` gets the choice once it is made (not when it is dismissed by a click)."""
        if self.screen is not None:
            return
        self.screen = screen

        async def run(choice: PrefixChoice) -> None:
            try:
                # Textual calls ``done`` before the prefix screen has left the stack, from its
                # message loop: waiting there would hold the loop (the burst's keys with it),
                # and a command run then sees the prefix screen still on top, and focus goes
                # back to the pane under it after the command chose another. So the command
                # runs in a task of its own once the screen is gone; keys meanwhile are still
                # taken, and queue in choice.after.
                for _ in range(200):
                    if screen not in app.screen_stack:
                        break
                    await asyncio.sleep(0.005)
                await command(choice)
            finally:
                self.screen = None

        def done(choice: PrefixChoice | None) -> None:
            if choice is None:
                self.screen = None
            else:
                app.run_worker(run(choice), group="prefix")  # a command that fails still ends the app, as before

        app.push_screen(screen, done)

    def take(self, event: events.Event) -> bool:
        """Whether ``event`` was a key for the open prefix (then the app passes it on no further)."""
        if isinstance(event, events.Key) and self.screen is not None and event.key not in ("shift", "ctrl", "alt"):
            self.screen.choose(event.key, event.character)
            return True
        return False


class ConfirmScreen(ModalScreen[bool]):
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical { width: 60; height: auto; border: thick $warning; background: $surface; padding: 1 2; }
    ConfirmScreen Grid { grid-size: 2; grid-gutter: 1; height: auto; margin-top: 1; }
    ConfirmScreen Button { width: 100%; }
    """
    BINDINGS = [Binding("escape", "cancel", "cancel"), Binding("y", "yes", "yes"), Binding("n", "cancel", "no")]

    def __init__(self, question: str, yes: str = "Yes") -> None:
        super().__init__()
        self.question, self.yes = question, yes

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Content(self.question))  # a guest's name, a command: plain text
            with Grid():
                yield Button(self.yes, variant="error", id="yes")
                yield Button("Cancel", variant="primary", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_yes(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)


class QuitScreen(ModalScreen[str | None]):
    """Detach (the default: guests keep running) or halt every guest."""

    DEFAULT_CSS = """
    QuitScreen { align: center middle; }
    QuitScreen > Vertical { width: 64; height: auto; border: thick $primary; background: $surface; padding: 1 2; }
    QuitScreen Label, ConfirmScreen Label { width: 100%; }
    QuitScreen Grid { grid-size: 3; grid-gutter: 1; height: auto; margin-top: 1; }
    QuitScreen Button { width: 100%; }
    """
    BINDINGS = [
        Binding("escape", "cancel", "cancel"),
        Binding("d", "detach", "detach"),
        Binding("h", "halt", "halt all"),
    ]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Leave umltui. The guests keep running if you detach; umltui attach brings them back.")
            with Grid():
                yield Button("Detach", variant="primary", id="detach")
                yield Button("Halt all", variant="error", id="halt")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#detach", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None if event.button.id == "cancel" else event.button.id)

    def action_detach(self) -> None:
        self.dismiss("detach")

    def action_halt(self) -> None:
        self.dismiss("halt")

    def action_cancel(self) -> None:
        self.dismiss(None)


class SearchScreen(ModalScreen[str | None]):
    DEFAULT_CSS = """
    SearchScreen { align: center bottom; background: transparent; }
    SearchScreen > Input { width: 70; max-width: 100%; margin-bottom: 2; border: tall $accent; }
    """
    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def compose(self) -> ComposeResult:
        yield Input(placeholder="search the scrollback (Enter finds; then n N: next, previous)")

    @on(Input.Submitted)
    def _done(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 80; max-width: 100%; height: auto; max-height: 100%;
        border: thick $primary; background: $surface; padding: 0 1; }
    """
    BINDINGS = [Binding("escape,q,question_mark", "close", "close")]

    def __init__(self, prefix: str, keymap: dict[str, str]) -> None:
        super().__init__()
        self.prefix, self.keymap = prefix, keymap

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=True, header_style="bold", expand=True)
        table.add_column("keys", style="bold cyan", no_wrap=True)
        table.add_column("does")
        table.add_row("(any key)", "goes to the guest's console: ctrl+c, ctrl+p, arrows, F-keys included")
        for action, key in self.keymap.items():
            table.add_row(Text(f"{self.prefix} {key_label(key)}"), ACTION_HELP.get(action, action))  # ([ is a key)
        table.add_row(Text(f"{self.prefix} {self.prefix}"), Text(f"send a literal {self.prefix} to the guest"))
        table.add_row("mouse", "click guests, consoles, tabs and buttons; wheel scrolls back; drag copies")
        table.add_row(
            "in scrollback", "↑ ↓ PgUp PgDn Home End move, / search, n N next/previous, q or Esc back to live"
        )
        with VerticalScroll():  # ↑ ↓ PgUp PgDn scroll it where it does not fit (80x24)
            yield Label("umltui keys  (Esc closes)", classes="title")
            yield Static(table)
            yield Label("Remap keys in ~/.config/umltui/config.yaml (keymap: {zoom: f}).")

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()

    def action_close(self) -> None:
        self.dismiss(None)
