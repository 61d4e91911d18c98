"""Scrollback mode (prefix ``[``): keys move through one pane's history instead of going to
the guest; ``q`` or ``Esc`` goes back to the live bottom. The pane stays visible: this
screen is transparent and only takes the keys."""

from __future__ import annotations

from typing import Any

from textual import events
from textual.app import App, ComposeResult
from textual.screen import ModalScreen
from textual.widgets import Label

from ..widgets.terminal import TerminalView
from .dialogs import SearchScreen


def search_in_scrollback(app: App[Any], view: TerminalView) -> None:
    """Ask what to find; show the nearest match in scrollback mode, or say it is not there."""

    def found(text: str | None) -> None:
        if text:
            if view.search(text):
                app.push_screen(ScrollbackScreen(view))
            else:
                app.notify(f"{text!r} not found", severity="warning")

    app.push_screen(SearchScreen(), found)


class ScrollbackScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    ScrollbackScreen { background: transparent; }
    /* Over the footer (whose prefix hint means nothing here), not over the pane or its tabs. */
    ScrollbackScreen > Label { dock: bottom; width: 100%; background: $accent; color: $background;
        text-style: bold; padding: 0 1; }
    """

    def __init__(self, view: TerminalView) -> None:
        super().__init__()
        self.view = view

    def compose(self) -> ComposeResult:
        yield Label("SCROLLBACK  ↑↓ PgUp PgDn Home End · / search · n N · q back to live")

    def on_mount(self) -> None:
        # As tmux's copy mode: it starts where the pane is (the bottom, the screen the user
        # was looking at), and the view holds still while the guest prints on.
        self.view.following = False

    async def on_key(self, event: events.Key) -> None:
        event.stop()
        view = self.view
        key = event.key
        if key in ("q", "escape"):
            view.clear_search()
            view.follow()
            self.dismiss(None)
        elif key in ("up", "k"):
            view.line(-1)
        elif key in ("down", "j"):
            view.line(1)
        elif key in ("pageup", "ctrl+b", "b"):
            view.page(-1)
        elif key in ("pagedown", "ctrl+f", "space"):
            view.page(1)
        elif key in ("home", "g"):
            view.top()
        elif key in ("end", "G"):
            view.follow()
            view.following = False
        elif key == "n":
            if not view.search_next(backwards=True):
                self.notify("no more matches above", timeout=2)
        elif key == "N":
            if not view.search_next(backwards=False):
                self.notify("no more matches below", timeout=2)
        elif key == "slash":

            def found(text: str | None) -> None:
                if text and not view.search(text):
                    self.notify(f"{text!r} not found", severity="warning")

            self.app.push_screen(SearchScreen(), found)
        elif key == "y":
            text = view.selected_text()
            if text:
                self.app.copy_to_clipboard(text)
                self.notify(f"copied {len(text)} characters", timeout=2)
