"""The centre: console panes of one or several guests, as tabs, a grid, or one zoomed.

Panes are made once per (guest, console) and kept (hidden when not shown), so switching
back is instant and their scrollback stays. Each pane takes its bytes through the app's
one connection to the supervisor.
"""

from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.containers import Container, Vertical
from textual.content import Content
from textual.widgets import Static, Tab, Tabs

from .terminal import TerminalView

if TYPE_CHECKING:
    from ..terminal.connection import ConsoleHub

Key = tuple[str, str]


class ConsolePane(TerminalView):
    """A terminal view that knows its guest and console, and can type into others too."""

    DEFAULT_CSS = """
    ConsolePane { border: round $panel; border-title-color: $text-muted; border-subtitle-color: $warning; }
    ConsolePane:focus { border: round $primary; border-title-color: $text; border-title-style: bold; }
    ConsolePane.-broadcast { border: heavy $warning; }
    ConsolePane.-zoomed { border: none; scrollbar-size-vertical: 0; }
    """

    def __init__(self, umid: str, console: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.umid, self.console = umid, console
        self.border_title = Content(f"{umid} · {'kernel log' if console == 'con0' else console}")  # plain
        self.also: list[ConsolePane] = []  # broadcast: the other panes that get the same keys
        if console == "con0":
            # The kernel's log is a file, not a tty: its lines end in a bare LF, which a
            # terminal takes as "down one" (a staircase). LNM makes LF a new line.
            self.terminal.screen.set_newline_mode(True)

    def send(self, data: bytes) -> None:
        super().send(data)
        for other in self.also:
            if other is not self and other.connection is not None:
                other.connection.write(data)


class ConsoleArea(Vertical):
    DEFAULT_CSS = """
    ConsoleArea { width: 1fr; }
    ConsoleArea > Tabs { height: 2; }
    ConsoleArea > #broadcast-banner { display: none; background: $warning; color: $background;
        text-style: bold; height: auto; max-height: 3; padding: 0 1; }
    ConsoleArea.-broadcast > #broadcast-banner { display: block; }
    ConsoleArea > #panes { layout: grid; grid-size: 1 1; grid-gutter: 0; height: 1fr; }
    ConsoleArea > #empty { height: 1fr; content-align: center middle; color: $text-muted; }
    """

    def __init__(
        self,
        hub: ConsoleHub | None,
        *,
        scrollback: int,
        layout: str = "tabs",
        passthrough: frozenset[str] = frozenset({"ctrl+b"}),
        silence: float = 30.0,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.hub = hub
        self.scrollback = scrollback
        self.silence = silence
        self.passthrough = passthrough
        self.panes: dict[Key, ConsolePane] = {}
        self.guest: str | None = None
        self.console = "con1"
        self.layout_mode = layout
        self.zoomed = False
        self.broadcast = False
        self.grid: list[Key] = []
        self.guest_consoles: dict[str, list[str]] = {}
        self._tabs_for: tuple[str, tuple[str, ...]] | None = None
        self._quiet_tabs = False
        self._unattached: set[Key] = set()

    def compose(self) -> ComposeResult:
        yield Tabs(id="contabs")
        yield Static("", id="broadcast-banner")
        yield Static("No guest yet. Boot one with  umltui up LAB  or  umltui demo.", id="empty")
        yield Container(id="panes")

    @property
    def current(self) -> ConsolePane | None:
        return self.panes.get((self.guest, self.console)) if self.guest else None

    def visible_panes(self) -> list[ConsolePane]:
        return [p for p in self.panes.values() if p.display]

    async def pane(self, umid: str, console: str) -> ConsolePane:
        """The pane of one console, made and attached on first use."""
        key = (umid, console)
        pane = self.panes.get(key)
        if pane is None:
            pane = ConsolePane(umid, console, history=self.scrollback, passthrough=self.passthrough)
            pane.silence_after = self.silence
            pane.display = False
            self.panes[key] = pane
            await self.query_one("#panes").mount(pane)
            self._unattached.add(key)
        return pane

    async def attach_shown(self) -> None:
        """Attach the panes that are shown, once they have their size: the scrollback is
        replayed at the pane's own width, not at a hidden pane's."""
        await asyncio.sleep(0)
        for key in list(self._unattached):
            pane = self.panes[key]
            if not pane.display:
                continue
            if pane.size.width < 2:  # not laid out yet: look again shortly
                self.set_timer(0.05, self.attach_shown)
                continue
            self._unattached.discard(key)
            pane._send_size()
            if self.hub is not None:
                try:
                    pane.attach(await self.hub.console(*key))
                except Exception as exc:  # the supervisor said no: show it in the pane
                    pane.feed(f"\r\n[umltui: cannot attach {key[0]} {key[1]}: {exc}]\r\n".encode())

    async def show(self, umid: str, console: str | None = None, *, focus: bool = True) -> ConsolePane:
        """Make ``umid``'s ``console`` the current one and show it."""
        self.guest = umid
        if console is not None:
            self.console = console
        pane = await self.pane(umid, self.console)
        if self.layout_mode == "grid" and (umid, self.console) not in self.grid:
            self.grid.append((umid, self.console))
        self._arrange()
        await self._update_tabs()
        if focus:
            pane.focus()
        pane.border_subtitle = ""
        return pane

    async def set_grid(self, keys: list[Key]) -> None:
        self.grid = list(dict.fromkeys(keys))
        for umid, con in self.grid:
            await self.pane(umid, con)
        self.layout_mode = "grid"
        self.zoomed = False
        self._arrange()

    def set_tabs(self) -> None:
        self.layout_mode = "tabs"
        self.zoomed = False
        self._arrange()

    def toggle_zoom(self) -> None:
        self.zoomed = not self.zoomed
        self._arrange()

    def _shown_keys(self) -> list[Key]:
        if self.layout_mode == "grid" and not self.zoomed:
            return [k for k in self.grid if k in self.panes]
        current = (self.guest, self.console) if self.guest else None
        return [current] if current is not None and current in self.panes else []

    def _arrange(self) -> None:
        shown = self._shown_keys()
        for key, pane in self.panes.items():
            pane.display = key in shown
        n = max(1, len(shown))
        cols = math.ceil(math.sqrt(n))
        rows = math.ceil(n / cols)
        container = self.query_one("#panes")
        container.styles.grid_size_columns = cols
        container.styles.grid_size_rows = rows
        self.query_one("#empty").display = not shown
        if self._unattached:
            self.call_after_refresh(self.attach_shown)
        self.query_one(Tabs).display = self.layout_mode == "tabs" and not self.zoomed and bool(self.guest)
        for key, pane in self.panes.items():  # zoomed: the whole screen is the guest's, as in tmux
            pane.set_class(self.zoomed and key in shown, "-zoomed")
        self._apply_broadcast()

    def toggle_broadcast(self) -> bool:
        self.broadcast = not self.broadcast
        self._apply_broadcast()
        return self.broadcast

    def _apply_broadcast(self) -> None:
        shown = self.visible_panes()
        for pane in self.panes.values():
            pane.also = shown if self.broadcast and pane in shown else []
            pane.set_class(self.broadcast and pane in shown, "-broadcast")
        self.set_class(self.broadcast, "-broadcast")
        names = ", ".join(f"{p.umid} {p.console}" for p in shown)
        self.query_one("#broadcast-banner", Static).update(
            Content(f"BROADCAST to {len(shown)} console{'s' if len(shown) != 1 else ''}: {names} · prefix b stops")
        )

    def next_pane(self) -> ConsolePane | None:
        shown = self.visible_panes()
        if not shown:
            return None
        focused = self.screen.focused
        i = shown.index(focused) if focused in shown else -1
        pane = shown[(i + 1) % len(shown)]
        pane.focus()
        self.guest, self.console = pane.umid, pane.console
        self.call_later(self._update_tabs)
        return pane

    # -- tabs ---------------------------------------------------------------------------

    async def _update_tabs(self) -> None:
        tabs = self.query_one(Tabs)
        if self.guest is None:
            return
        consoles = self.guest_consoles.get(self.guest, ["con1"])
        wanted = [*consoles, "con0"]
        if self._tabs_for != (self.guest, tuple(wanted)):
            self._quiet_tabs = True
            await tabs.clear()
            for con in wanted:
                await tabs.add_tab(Tab("kernel" if con == "con0" else con, id=f"tab-{con}"))
            self._tabs_for = (self.guest, tuple(wanted))
        self._quiet_tabs = True
        if tabs.query(f"#tab-{self.console}"):
            tabs.active = f"tab-{self.console}"
        self.call_after_refresh(self._tabs_loud)

    def _tabs_loud(self) -> None:
        self._quiet_tabs = False

    async def on_tabs_tab_activated(self, event: Tabs.TabActivated) -> None:
        event.stop()
        if self._quiet_tabs or self.guest is None or event.tab is None or event.tab.id is None:
            return
        console = event.tab.id.removeprefix("tab-")
        if console != self.console:
            await self.show(self.guest, console)
