"""The umltui app: one screen for every guest, console, mconsole command and segment.

A client of the supervisor (which owns guests and consoles), so quitting or crashing
leaves the guests running. Keys go to the focused console; app commands take a prefix
(ctrl+b, as in tmux), caught by a priority binding and finished by :class:`PrefixScreen`.
"""

from __future__ import annotations

import asyncio
import contextlib
import traceback
from collections.abc import Iterable
from typing import Any

from textual import events, on, work
from textual.app import ComposeResult, SystemCommand
from textual.containers import Horizontal
from textual.content import Content
from textual.css.query import NoMatches
from textual.markup import escape
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widgets import Footer

from .config import Config, load_config
from .core.client import SupervisorError
from .core.protocol import GuestInfo, GuestState, SwitchInfo, guest_order
from .fastpath import compositor, warning
from .fastpath.collector import QuietCollector, freeze_startup_objects
from .fastpath.driver import quick_driver_for
from .fastpath.keys import ConsoleKeysApp
from .screens.dialogs import (
    ACTION_HELP,
    ConfirmScreen,
    HelpScreen,
    PrefixChoice,
    PrefixKeys,
    PrefixScreen,
    QuitScreen,
)
from .screens.network import NetworkScreen
from .screens.scrollback import ScrollbackScreen, search_in_scrollback
from .terminal.connection import ConsoleHub
from .themes import DEFAULT_THEME, load_themes
from .widgets.consoles import ConsoleArea, ConsolePane
from .widgets.guests import GuestTree
from .widgets.mconsole_panel import Confirm, MconsolePanel
from .widgets.terminal import TerminalView

RECONNECT_EVERY = 1.0  # seconds between tries to reach a supervisor after the last went away


class UmlApp(ConsoleKeysApp[str | None]):
    TITLE = "umltui"
    CSS = """
    Screen { layout: vertical; }
    #main { height: 1fr; }
    .title { text-style: bold; color: $primary; }
    /* A side that does not fit beside an 80-column console comes over it, on demand: on a
       layer above the console, docked to its edge. Not ``overlay: screen``, which puts the
       side's own overlays (the sysrq list) behind the side's widgets, so they were not drawn. */
    #main { layers: base above; }
    #main > .-overlay { layer: above; height: 100%; }
    GuestTree.-overlay { dock: left; border-right: tall $primary; }
    MconsolePanel.-overlay { dock: right; border-left: tall $primary; }
    """
    CONSOLE_ROOM = 82
    """Columns the console pane keeps (80 inside its border) before a side goes over it."""
    COMMAND_PALETTE_BINDING = "f20"  # ctrl+p belongs to the guest; the palette is prefix :

    def __init__(self, config: Config | None = None, *, focus_guest: str | None = None) -> None:
        self.config = config or load_config()
        super().__init__()
        compositor.install()  # a row's repaint renders that row (see fastpath/compositor.py)
        self.driver_class = quick_driver_for(self.driver_class)  # an echo is written at once (fastpath/driver.py)
        self.collector = QuietCollector()
        self.unbind("ctrl+q", "ctrl+c", "f20")  # every key but the prefix goes to the guest
        self.bind_key(self.config.prefix, "prefix", priority=True, key_display=self.config.prefix)
        zoom_key = self.config.keymap.get("zoom", "z")
        self.bind_key("f24", "unzoom", key_display=f"{self.config.prefix} {zoom_key}")
        self.hub = ConsoleHub(self._on_supervisor_event, self._supervisor_event_failed)
        self.guests: dict[str, GuestInfo] = {}
        self.switches: list[SwitchInfo] = []
        self.focus_guest = focus_guest
        self.prefix_keys = PrefixKeys()
        self._tree_timer: Any = None
        self.area = ConsoleArea(
            self.hub,
            scrollback=self.config.scrollback,
            layout=self.config.layout,
            passthrough=frozenset({self.config.prefix}),
            silence=self.config.silence_seconds,
            id="area",
        )
        self.panel = MconsolePanel(self.hub.client, id="mconsole")
        self.guest_tree = GuestTree(id="guests")
        # Which sides the user wants shown, and which fit beside the console (else they overlay it).
        self.want_tree = True
        self.want_panel = self.config.mconsole_panel
        self._docked: tuple[bool, bool] | None = None

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Textual's notify, always as plain text: messages carry guests' and tools' words, and
        a ``[/x]`` in them is no markup (rendering it raised, and the app ended). Widgets'
        and screens' ``notify`` come here with ``markup=True``, so it is not looked at."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)

    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            yield self.guest_tree
            yield self.area
            yield self.panel
        yield Footer()

    # -- start ------------------------------------------------------------------------------

    def on_mount(self) -> None:
        loaded = load_themes()
        for theme in loaded.themes.values():
            self.register_theme(theme)
        self._ansi = loaded.ansi
        for problem in loaded.problems + self.config.problems:
            self.notify(problem, severity="warning", timeout=10)
        wanted = self.config.theme
        if wanted not in self.available_themes:
            self.notify(f"no theme {wanted!r}; using {DEFAULT_THEME}", severity="warning")
            wanted = DEFAULT_THEME
        self.theme = wanted
        self._fit_sides()
        self.watch(self.screen, "focused", self._focus_moved, init=False)
        if (slower := warning()) is not None:  # a Textual the fast paths were not checked against
            self.notify(slower, severity="warning", timeout=10)
        if not self.is_headless:  # (tests run many apps in one process: nothing of theirs is frozen)
            self.call_after_refresh(freeze_startup_objects)
            self.collector.start()  # full sweeps while no key comes (fastpath/collector.py)
            self.set_interval(0.5, self.collector.tick)
        self.connect()

    def watch_theme(self, theme: str) -> None:
        ansi = getattr(self, "_ansi", {}).get(theme)
        if ansi is not None:
            if self.current_theme.dark:
                self.ansi_theme_dark = ansi
            else:
                self.ansi_theme_light = ansi

    @work(exclusive=True, group="supervisor", exit_on_error=False, description="connect to the supervisor")
    async def connect(self) -> None:
        try:
            await self.hub.connect()
            guests = await self.hub.client.request("watch", timeout=10)
            net = await self.hub.client.request("net", timeout=10)
        except SupervisorError as exc:
            self.notify(f"cannot reach the supervisor: {exc}", severity="error", timeout=30)
            return
        self.switches = net["switches"]
        self.guests = {g["umid"]: g for g in guests}
        self._do_refresh_tree()
        if not self.guests:
            return
        alive = [u for u, g in self.guests.items() if g["state"] != GuestState.HALTED]
        first = self.focus_guest if self.focus_guest in self.guests else (alive or list(self.guests))[0]
        if self.config.layout == "grid":
            await self.area.set_grid([(u, "con1") for u in alive])
        await self.show(first, "con1")
        self.watch_connection()

    @work(group="supervisor-watch", exit_on_error=False)
    async def watch_connection(self) -> None:
        """When the supervisor goes away, connect to the next one (starting it if need be),
        subscribe every pane again from where it was, and say so."""
        await self.hub.client.closed.wait()
        self.notify("the supervisor went away; guests keep running. Reconnecting…", severity="warning", timeout=10)
        while True:
            await asyncio.sleep(RECONNECT_EVERY)
            try:
                failed = await self.hub.reconnect()
                guests = await self.hub.client.request("watch", timeout=10)
                self.switches = (await self.hub.client.request("net", timeout=10))["switches"]
            except SupervisorError:
                continue
            break
        self.guests = {g["umid"]: g for g in guests}
        self._do_refresh_tree()
        for problem in failed:
            self.notify(problem, severity="warning")
        self.notify("reconnected to the supervisor", timeout=5)
        self.watch_connection()

    def _on_supervisor_event(self, msg: dict[str, Any]) -> None:
        kind = msg.get("event")
        if kind == "guest":
            g = msg["guest"]
            old = self.guests.get(g["umid"])
            self.guests[g["umid"]] = g
            if old and old["state"] != g["state"] and g["state"] in (GuestState.CRASHED, GuestState.HUNG):
                self.notify(f"{g['umid']} {g['state']}: {g.get('reason', '')}", severity="error", timeout=15)
            if old and old["state"] in (GuestState.HALTED, GuestState.CRASHED) and g["state"] == GuestState.BOOTING:
                self.reattach(g["umid"])  # booted again by `up`: a new guest record, new subscriptions
            self._refresh_tree()
        elif kind == "net":
            self.refresh_net()
        elif kind == "error":
            self.notify(str(msg.get("error")), severity="error")

    def _supervisor_event_failed(self, exc: Exception, msg: dict[str, Any]) -> None:
        """A bug of ours handling one message: say so, keep the traceback in the log, go on."""
        guest = msg.get("guest")
        where = f" for {guest} {msg.get('console', '')}".rstrip() if isinstance(guest, str) else ""
        self.log.error("handling", msg.get("event"), "failed", exc, traceback.format_exception(exc))
        self.notify(
            f"umltui could not handle a {msg.get('event', '?')!r} message{where}: {exc!r}", severity="error", timeout=15
        )

    @work(group="reattach", exit_on_error=False, description="reattach a guest's consoles")
    async def reattach(self, umid: str) -> None:
        for (pane_umid, console), pane in list(self.area.panes.items()):
            if pane_umid == umid and pane.connection is not None:
                try:
                    pane.attach(await self.hub.console(umid, console, history=False))
                except SupervisorError as exc:
                    self.notify(f"{umid} {console}: {exc}", severity="warning")

    @work(exclusive=True, group="net", exit_on_error=False)
    async def refresh_net(self) -> None:
        try:
            self.switches = (await self.hub.client.request("net", timeout=10))["switches"]
        except SupervisorError:
            return
        self._update_panel()

    def _refresh_tree(self) -> None:
        if self._tree_timer is None:
            self._tree_timer = self.set_timer(0.1, self._do_refresh_tree)

    def _do_refresh_tree(self) -> None:
        self._tree_timer = None
        if not self.guest_tree.is_attached:
            return
        self.area.guest_consoles = {u: list(g.get("consoles", {})) or ["con1"] for u, g in self.guests.items()}
        self.guest_tree.update_guests(self.guests, self.area.guest)
        self._update_panel()

    def _update_panel(self) -> None:
        if not self.panel.is_attached:
            return  # the app is closing
        with contextlib.suppress(NoMatches):  # ... or its widgets are going
            self.panel.set_guest(self.guests.get(self.area.guest or ""), self.switches)

    async def show(self, umid: str, console: str | None = None) -> None:
        self.guest_tree.flags = {
            k: v for k, v in self.guest_tree.flags.items() if k != (umid, console or self.area.console)
        }
        await self.area.show(umid, console)
        self.sub_title = f"{umid} {self.area.console}"
        self._refresh_tree()

    # -- console flags ----------------------------------------------------------------------------

    def _flag(self, pane: TerminalView, mark: str) -> None:
        if not isinstance(pane, ConsolePane) or (pane.display and pane.has_focus):
            return
        key = (pane.umid, pane.console)
        if self.guest_tree.flags.get(key) == "🔔" and mark != "🔔":
            return
        if self.guest_tree.flags.get(key) != mark:
            self.guest_tree.flags[key] = mark
            pane.border_subtitle = {"🔔": "bell", "•": "activity", "∅": "silent"}[mark]
            self._refresh_tree()

    @on(TerminalView.Bell)
    def _bell(self, event: TerminalView.Bell) -> None:
        self._flag(event.view, "🔔")
        if event.view.has_focus:
            self.bell()

    @on(TerminalView.Activity)
    def _activity(self, event: TerminalView.Activity) -> None:
        if not event.view.display:
            self._flag(event.view, "•")

    @on(TerminalView.Silence)
    def _silence(self, event: TerminalView.Silence) -> None:
        self._flag(event.view, "∅")

    @on(TerminalView.TitleChanged)
    def _title(self, event: TerminalView.TitleChanged) -> None:
        if isinstance(event.view, ConsolePane):
            # The guest's own words (an OSC title): plain text, not markup.
            event.view.border_title = Content(f"{event.view.umid} · {event.view.console} · {event.title}")

    @on(GuestTree.Chosen)
    async def _chosen(self, event: GuestTree.Chosen) -> None:
        await self.show(event.umid, event.console or self.area.console)

    @on(Confirm)
    def _confirm(self, event: Confirm) -> None:
        def answer(yes: bool | None) -> None:
            if yes:
                self.panel.send(event.umid, event.command)

        self.push_screen(ConfirmScreen(f"{event.umid}: {event.question}", yes="Send"), answer)

    # -- the prefix and its commands ------------------------------------------------------------------

    # What the key path (``fastpath/keys.py``) asks of the app.
    console_type = TerminalView

    @property
    def prefix_key(self) -> str:
        return self.config.prefix

    def choosing_prefix(self) -> bool:
        return self.prefix_keys.screen is not None

    def prefix_takes(self, key: events.Key) -> bool:
        return self.prefix_keys.take(key)

    def key_typed(self) -> None:
        self.collector.typed()

    def front_console(self) -> TerminalView | None:
        return self.area.current

    def action_prefix(self) -> None:
        self.prefix_keys.start(self, PrefixScreen(self.config.prefix, self.config.keymap), self._after_prefix)

    async def _after_prefix(self, choice: PrefixChoice) -> None:
        before = self.area.current
        await self._prefix_command(choice.key)
        pane = self.area.current
        if len(self.screen_stack) == 1 and pane is not None and pane is not before and self.focused is not pane:
            # The console the command left in front has the keys from now on, at once (a
            # widget's focus() lands later, after keys already queued behind the command).
            self.set_focus(pane)
        if choice.after:
            # The command's layout done (a zoom, the grid, a side): every pane shown has sent its
            # guest its new size before the keys behind the command (``stty size`` in the same
            # burst as a zoom saw the old size). Keys coming meanwhile still join ``after``.
            await self._laid_out()
            if len(self.screen_stack) > 1 or self.focused is not pane:
                # A screen or a side the command opened: its widgets mounted and focused first.
                await self._settled([])
        self._deliver(choice.after)

    async def _laid_out(self) -> None:
        """Until the screen has been laid out again and each pane shown has heard its size."""
        refreshed = asyncio.Event()
        if self.call_after_refresh(refreshed.set):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(refreshed.wait(), 0.5)
        for pane in self.area.visible_panes():
            await self._landed(pane)  # (its Resize, which sends the size)

    async def _prefix_command(self, key: str) -> None:
        if key == self.config.prefix:
            self._deliver([(key, None)], literal=True)
        elif (action := self.config.keys.get(key)) is None:
            self.notify(
                f"{self.config.prefix} {key}: no such command ({self.config.prefix} ? lists them)",
                severity="warning",
                timeout=3,
            )
        else:
            await self.run_action(action)

    async def action_console(self, n: int) -> None:
        if self.area.guest is None:
            return
        con = f"con{n}"
        if n and con not in self.area.guest_consoles.get(self.area.guest, []):
            self.notify(f"{self.area.guest} has no {con}", severity="warning")
            return
        await self.show(self.area.guest, con)

    async def _step_guest(self, step: int) -> None:
        order = sorted(self.guests, key=lambda u: guest_order(self.guests[u]))
        if not order:
            return
        i = order.index(self.area.guest) if self.area.guest in order else -1
        await self.show(order[(i + step) % len(order)], self.area.console if self.area.console != "con0" else "con1")

    async def action_next_guest(self) -> None:
        await self._step_guest(1)

    async def action_previous_guest(self) -> None:
        await self._step_guest(-1)

    def action_next_pane(self) -> None:
        pane = self.area.next_pane()
        if pane is not None:
            self.sub_title = f"{pane.umid} {pane.console}"
            self._update_panel()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "unzoom":  # the footer's hint is there while zoomed
            return self.area.zoomed
        return True

    def action_unzoom(self) -> None:
        if self.area.zoomed:
            self.action_zoom()

    def action_zoom(self) -> None:
        """The pane takes the whole screen (tabs, list and panel go), as in tmux; again to unzoom."""
        self.area.toggle_zoom()
        self.refresh_bindings()
        self._fit_sides()
        if self.area.current:
            self.set_focus(self.area.current)  # at once: keys of the same burst follow

    async def action_grid(self) -> None:
        if self.area.layout_mode == "grid" and not self.area.zoomed:
            self.area.set_tabs()
        else:
            alive = [g for g in self.guests.values() if g["state"] != GuestState.HALTED]
            keys = self.area.grid or [(g["umid"], "con1") for g in sorted(alive, key=guest_order)]
            await self.area.set_grid(keys)
        if self.area.current:
            self.set_focus(self.area.current)  # at once: keys of the same burst follow

    def action_toggle_mconsole(self) -> None:
        self._toggle_side(self.panel)

    def action_network(self) -> None:
        self.push_screen(NetworkScreen(self.hub.client, lambda: self.guests, lambda: self.area.guest))

    def action_scrollback(self) -> None:
        if self.area.current:
            self.push_screen(ScrollbackScreen(self.area.current))

    def action_search(self) -> None:
        pane = self.area.current
        if pane is not None:
            search_in_scrollback(self, pane)

    def action_broadcast(self) -> None:
        on_ = self.area.toggle_broadcast()
        self.notify(
            "broadcast ON: typing goes to every console shown" if on_ else "broadcast off",
            severity="warning" if on_ else "information",
        )

    def action_detach(self) -> None:
        self.exit("detach")

    def action_quit(self) -> None:  # type: ignore[override]
        self.push_screen(QuitScreen(), self._quit_answer)

    async def _quit_answer(self, answer: str | None) -> None:
        if answer == "detach":
            self.exit("detach")
        elif answer == "halt":
            self.notify("halting every guest…", timeout=30)
            try:
                await self.hub.client.request("down", all=True, timeout=120)
            except SupervisorError as exc:
                self.notify(str(exc), severity="error")
                return
            self.exit("halted")

    def action_palette(self) -> None:
        self.action_command_palette()

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.config.prefix, self.config.keymap))

    def action_tell_size(self) -> None:
        if self.area.current:
            self.area.current.tell_size()

    def action_focus_guests(self) -> None:
        self._toggle_side(self.guest_tree)

    def action_close_side(self) -> None:
        """Escape in a side that came over the console: it goes, the console has the keys again."""
        for side in (self.guest_tree, self.panel):
            if side.has_class("-overlay") and side.display:
                self._set_side(side, False)
        if self.area.current:
            self.set_focus(self.area.current)  # at once: keys of the same burst follow

    # -- the sides: the guest list (left) and the mconsole panel (right) -----------------------------

    def on_resize(self, event: events.Resize) -> None:
        # (this handler runs before Textual's own, which sets ``self.size``: the new width is the event's)
        self._fit_sides(event.size.width)

    def _fit_sides(self, width: int | None = None) -> None:
        """Dock each side that leaves the console :attr:`CONSOLE_ROOM` columns; the others come
        over the console when asked for (and go when it has the focus again). A zoomed pane
        has the whole screen: docked sides hide, and one asked for comes over it."""
        width = self.size.width if width is None else width
        tree_w, panel_w = GuestTree.WIDTH, MconsolePanel.WIDTH
        docked = (width - tree_w >= self.CONSOLE_ROOM, width - tree_w - panel_w >= self.CONSOLE_ROOM)
        if docked != self._docked:  # first fit, or the window crossed a width: start from what fits
            self.want_tree = docked[0]
            self.want_panel = docked[1] and self.config.mconsole_panel
            self._docked = docked
        zoomed = self.area.zoomed
        for side, dock, want in (
            (self.guest_tree, docked[0], self.want_tree),
            (self.panel, docked[1], self.want_panel),
        ):
            side.set_class(not dock or zoomed, "-overlay")
            side.display = want and not zoomed
        self.panel.styles.width = min(panel_w, width)

    def _set_side(self, side: GuestTree | MconsolePanel, shown: bool) -> None:
        """Show or hide a side; what is wanted is remembered, except over a zoomed pane."""
        side.display = shown
        if self.area.zoomed:
            return
        if side is self.guest_tree:
            self.want_tree = shown
        else:
            self.want_panel = shown

    def _toggle_side(self, side: GuestTree | MconsolePanel) -> None:
        """Show a side and give it the keys, or hide it when it has them (the console has them
        again). One key reaches the side at every size: a side that is shown (docked) but
        without the keys gets them; it is not hidden (a docked panel could not be reached)."""
        if side.display and side.has_focus_within:
            self._set_side(side, False)
            if self.area.current is not None:
                self.set_focus(self.area.current)  # at once: keys of the same burst follow
            return
        self._set_side(side, True)
        self.set_focus(side)  # at once: keys of the same burst are for it

    def _focus_moved(self, focused: Any) -> None:
        """A side over the console goes when the focus leaves it (a console chosen, a click)."""
        for side in (self.guest_tree, self.panel):
            if side.display and side.has_class("-overlay") and not side.has_focus_within:
                self.call_after_refresh(self._drop_overlay, side)

    def _drop_overlay(self, side: GuestTree | MconsolePanel) -> None:
        if side.has_class("-overlay") and not side.has_focus_within and self.screen is self.screen_stack[0]:
            self._set_side(side, False)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for action, key in self.config.keymap.items():
            title = ACTION_HELP.get(action, action)
            yield SystemCommand(
                title[:1].upper() + title[1:],
                f"{self.config.prefix} {key}",
                lambda a=action: self.call_later(self.run_action, a),
            )
        for umid in self.guests:
            yield SystemCommand(
                f"Show {escape(umid)}", "its con1", lambda u=umid: self.call_later(self.show, u, "con1")
            )  # (the palette reads titles and help as markup)
        for command in self.panel.commands():
            if command.run is not None:
                yield SystemCommand(command.title, escape(command.help), command.run)
            elif command.field is not None:
                yield SystemCommand(
                    command.title,
                    escape(command.help),
                    lambda f=command.field: self.call_later(self._open_panel_field, f),
                )

    def _open_panel_field(self, field_id: str) -> None:
        """The panel shown (over the console where it does not fit), one of its fields focused."""
        self._set_side(self.panel, True)
        self.set_focus(self.panel.open_field(field_id))

    async def on_unmount(self) -> None:
        self.workers.cancel_group(self, "supervisor-watch")  # not a loss to reconnect after
        await self.hub.close()


def make_app(config: Config | None = None, focus_guest: str | None = None) -> UmlApp:
    return UmlApp(config, focus_guest=focus_guest)


__all__ = ["UmlApp", "make_app"]
