"""A terminal pane: a console's screen and scrollback on Textual's Line API, keys back.

Output flows one way: the connection's bytes go into an inbox; an ingest callback feeds
them to the model within a time budget (so one flooding console cannot starve the
others or the keyboard; :class:`~umltui.terminal.ingest.Ingest` decides when); a refresh
at most once a frame repaints only the rows the model marked dirty; ``render_line``
builds ``Strip``s from the model and caches them.
Nothing is parsed in ``render_line``.

Every key goes to the guest as xterm would send it, except the keys in
``passthrough`` (the app's prefix key), which are left to the app.
"""

from __future__ import annotations

import asyncio
import contextvars
import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.geometry import Offset, Region, Size
from textual.message import Message
from textual.reactive import var
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ..fastpath.painter import EchoPainter
from ..terminal.connection import Connection
from ..terminal.ingest import HIDDEN_PERIOD, Ingest
from ..terminal.keys import bracket_paste, encode_key
from ..terminal.model import DEFAULT_HISTORY, Attrs, Cell, Line, Terminal

if TYPE_CHECKING:
    from textual.dom import DOMNode
    from textual.screen import Screen

SILENCE_AFTER = 10.0
_REVERSE = Style(reverse=True)

_NAMED = {
    "black": "black",
    "red": "red",
    "green": "green",
    "brown": "yellow",
    "blue": "blue",
    "magenta": "magenta",
    "cyan": "cyan",
    "white": "white",
}


def _colour(name: str) -> str | None:
    if name == "default":
        return None
    if name in _NAMED:
        return _NAMED[name]  # one of the 16: Textual maps it through the app's ANSI theme
    if name.startswith("bright") and name[6:] in _NAMED:
        return "bright_" + _NAMED[name[6:]]
    if len(name) == 6:
        return "#" + name
    return None


def _spans(rows: list[int]) -> list[tuple[int, int]]:
    """Sorted row numbers as (first, count) runs of neighbours."""
    spans: list[tuple[int, int]] = []
    for y in rows:
        if spans and spans[-1][0] + spans[-1][1] == y:
            spans[-1] = (spans[-1][0], spans[-1][1] + 1)
        else:
            spans.append((y, 1))
    return spans


@dataclass
class _PaneMessage(Message):
    """A message about one pane; ``control`` lets ``@on(..., selector)`` match it."""

    view: TerminalView

    @property
    def control(self) -> TerminalView:
        return self.view


class TerminalView(ScrollView, can_focus=True):
    """One console on screen: ``connection`` bytes in, keys and size out."""

    DEFAULT_CSS = """
    TerminalView {
        scrollbar-size-vertical: 1;
        scrollbar-size-horizontal: 0;
        overflow-x: hidden;
        overflow-y: scroll;
        background: $background;
        color: $foreground;
    }
    TerminalView > .terminal--cursor { background: $foreground; color: $background; }
    TerminalView > .terminal--match { background: $warning 60%; }
    TerminalView > .terminal--current-match { background: $warning; color: $background; }
    TerminalView > .terminal--selection { background: $accent 50%; }
    TerminalView > .terminal--badge { background: $accent; color: $background; text-style: bold; }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "terminal--cursor",
        "terminal--match",
        "terminal--current-match",
        "terminal--selection",
        "terminal--badge",
    }
    BINDINGS: ClassVar[list[Any]] = []  # every key is the guest's; the app uses a prefix

    # -- messages -------------------------------------------------------------------

    @dataclass
    class Bell(_PaneMessage):
        pass

    @dataclass
    class TitleChanged(_PaneMessage):
        title: str

    @dataclass
    class Activity(_PaneMessage):
        """Output arrived (at most one waiting at a time)."""

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, TerminalView.Activity) and message.view is self.view

    @dataclass
    class Silence(_PaneMessage):
        """No output for ``silence_after`` seconds after there was some."""

    @dataclass
    class Closed(_PaneMessage):
        reason: str

    following: var[bool] = var(True)
    """Showing the live bottom (new output scrolls it); off while reading history."""

    def __init__(
        self,
        connection: Connection | None = None,
        *,
        history: int = DEFAULT_HISTORY,
        passthrough: frozenset[str] = frozenset({"ctrl+b"}),
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.terminal = Terminal(80, 24, history)
        self.passthrough = passthrough
        self.connection: Connection | None = None
        self.ingest = Ingest(self._parse)  # the inbox, and when it is parsed and painted
        self._ingest_handle: Any = None
        self._refresh_timer: Any = None
        self._cache: OrderedDict[tuple[Any, ...], Strip] = OrderedDict()
        self._row_version: dict[int, int] = {}
        self._version = 0
        self._style_cache: dict[Attrs, Style] = {}
        self._on_base: dict[Attrs, Style] = {}  # the base style + the cell's, as a row shows it
        self._components: dict[str, Style] = {}
        self._bells = 0
        self._title = ""
        self._scrolled = 0  # the model's scroll count at the last repaint
        self._history_len = 0  # and its history length then
        self._scrolled_hidden = 0  # rows the model scrolled while the pane was hidden, not yet shown
        self._cursor_drawn = (0, 0)  # where the cursor was at the last repaint (row, column)
        self.new_output_below = False
        self._silent = True
        self.silence_after = SILENCE_AFTER
        self.search_pattern: re.Pattern[str] | None = None
        self.current_match: tuple[int, int, int] | None = None  # (line, start, end)
        self._selection: tuple[tuple[int, int], tuple[int, int]] | None = None
        self._selecting = False
        self._early_keys: list[bytes] = []
        self._app_context: contextvars.Context | None = None
        self.painter = EchoPainter(self)  # an echo's rows, straight to the terminal
        self.home: Screen[Any] | None = None  # its screen, while mounted
        self.chain: tuple[DOMNode, ...] = ()  # itself and its ancestors, while mounted
        if connection is not None:
            self.attach(connection)

    # -- the connection -------------------------------------------------------------

    def attach(self, connection: Connection) -> None:
        """Take bytes from ``connection`` and send it keys and sizes."""
        if self.connection is not None:
            self.connection.close()
        self.connection = connection
        self.ingest.attached()
        self.terminal.screen.replies.clear()
        connection.on_output = self.feed
        connection.on_closed = self._connection_closed
        keys, self._early_keys = self._early_keys, []
        for data in keys:
            connection.write(data)
        if self.is_mounted:
            self._send_size()

    def detach(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def _connection_closed(self, reason: str) -> None:  # (``_closed`` is Textual's own flag)
        self.post_message(self.Closed(self, reason))

    def on_unmount(self) -> None:
        self.home, self.chain = None, ()
        self.detach()

    # -- output in ---------------------------------------------------------------------

    @property
    def bytes_in(self) -> int:
        """Bytes of output ever fed to this pane."""
        return self.ingest.bytes_in

    @property
    def last_output(self) -> float:
        """When output last came (monotonic; 0 for never)."""
        return self.ingest.last_output

    def feed(self, data: bytes) -> None:
        """Queue output; it is parsed soon, in slices, and shown at the next frame."""
        if not data:
            return
        echo = self.ingest.put(data, time.monotonic())
        if self.ingest.too_far_behind and not self.display:
            self.ingest.skip_backlog()
            echo = False
        if self._ingest_handle is None:
            loop = self._running_loop()
            if loop is None:  # not in a running app: parse now
                self._ingest()
            elif echo and self.has_focus and self.display:
                self._ingest_now(loop)
            else:  # in the app's context, whoever's task delivered the bytes
                self._schedule_ingest(loop)

    def _ingest_now(self, loop: asyncio.AbstractEventLoop) -> None:
        """Parse now, in the callback that brought the bytes: a few bytes after a quiet spell
        in the pane being typed into (a key's echo) do not wait a turn of the loop for their
        ingest; a stream of output still goes a slice a turn."""
        context = self._app_context
        if context is None or self._ingesting:  # (bytes fed while it parses: a turn later)
            self._schedule_ingest(loop)
            return
        context.run(self._ingest)

    def _schedule_ingest(self, loop: asyncio.AbstractEventLoop) -> None:
        """Parse soon: at the next turn of the loop when shown; a slice every ``HIDDEN_PERIOD``
        when hidden (a flooding console nobody looks at must not take the app's time from
        the one being typed into; it catches up when it is shown)."""
        if self.display:
            self._ingest_handle = loop.call_soon(self._ingest, context=self._app_context)
        else:
            self._ingest_handle = loop.call_later(HIDDEN_PERIOD, self._ingest_hidden, context=self._app_context)

    def on_show(self) -> None:
        self._flush()  # its size and place, left alone while it was hidden
        if self.ingest.inbox and self._ingest_handle is not None:  # hidden until now: catch up at once
            self._ingest_handle.cancel()
            self._ingest_handle = None
            loop = self._running_loop()
            if loop is not None:
                self._schedule_ingest(loop)

    def _running_loop(self) -> asyncio.AbstractEventLoop | None:
        if not self.is_mounted or self._app_context is None:
            return None
        try:
            return asyncio.get_running_loop()
        except RuntimeError:
            return None

    _ingesting = False  # in ``_ingest``

    def _ingest_hidden(self) -> None:
        self._ingest(hidden=True)

    def _ingest(self, budget: float | None = None, *, hidden: bool = False) -> None:
        """Parse a slice of the inbox (within ``budget`` seconds, else the pane's own), show it,
        and come back a turn later for the rest."""
        self._ingesting = True
        try:
            self._ingest_slice(budget, hidden)
        finally:
            self._ingesting = False

    def _ingest_slice(self, budget: float | None, hidden: bool) -> None:
        if self._ingest_handle is not None and (budget is not None or hidden):
            self._ingest_handle.cancel()
        self._ingest_handle = None
        if hidden and not self.display:
            loop = self._running_loop()
            if loop is not None and not self.ingest.hidden_may_parse(time.monotonic()):
                self._schedule_ingest(loop)  # a hidden pane's slice would hold up a key's echo: later
                return
        if budget is None:
            budget = self.ingest.budget(hidden=hidden, focused=self.has_focus)
        more = self.ingest.run(budget)
        loop = self._running_loop() if more else None
        if loop is not None:
            self._schedule_ingest(loop)
        self._after_output()

    def _parse(self, chunk: bytes) -> None:
        """One slice of output into the model; the answers to any queries it held, out."""
        self.terminal.feed(chunk)
        if self.terminal.screen.replies:
            self._answer()

    def _answer(self) -> None:
        """Send the guest the answers to its queries (DSR, DA, size), where they were live output.

        Answers go out through the same ``write`` as keys, on the same loop, so an answer can
        never land inside a key's bytes, and keys typed before the query was read stay before it.
        """
        replies = self.terminal.screen.take_replies()
        if self.connection is not None and self.ingest.fed > getattr(self.connection, "replayed", 0):
            self.connection.write(replies.encode())

    def _after_output(self) -> None:
        screen = self.terminal.screen
        if screen.bells != self._bells:
            self._bells = screen.bells
            self.post_message(self.Bell(self))
        if screen.title != self._title:
            self._title = screen.title
            self.post_message(self.TitleChanged(self, screen.title))
        self._silent = False
        self._show_output()
        self.post_message(self.Activity(self))  # after the paint: an echo does not wait for it

    def _show_output(self) -> None:
        """Paint now (an echo), or by the next frame."""
        if not self.is_mounted:
            self._flush()
            return
        if self._refresh_timer is None:
            now, echo, wait = self.ingest.paint_plan(time.monotonic(), focused=self.has_focus)
            if now:
                self._flush(paint=echo)
            self._refresh_timer = self.set_timer(wait, self._flush_if_dirty)

    def _flush_if_dirty(self) -> None:
        self._refresh_timer = None
        if self.terminal.screen.dirty or self.terminal.screen.scrolled != self._scrolled:
            self._flush()

    def _flush(self, *, paint: bool = False) -> None:
        """At most once a frame: new rows into view, dirty rows repainted; with ``paint``, on the
        terminal now (an echo)."""
        self.ingest.painted(time.monotonic())
        rows, scrolled = self._take_damage()
        if not self.display and self.is_mounted:
            # Hidden: nobody sees its size or place, and a new virtual size lays out the whole
            # screen (a layout reactive): with a console flooding behind another tab, a layout
            # every slice, which under load held the loop tens of ms. Done when it is shown.
            self._scrolled_hidden += scrolled
            return
        scrolled += self._scrolled_hidden
        self._scrolled_hidden = 0
        screen = self.terminal.screen
        geometry = self.painter.geometry() if paint else None
        height = geometry[1] if geometry is not None else self.size.height
        if not scrolled and len(screen.history) + screen.lines == self.virtual_size.height and height:
            self._repaint_rows(rows, geometry, paint)
        else:
            self._into_view(scrolled, paint)

    def _take_damage(self) -> tuple[set[int], int]:
        """The screen rows to repaint (the model's dirty ones, the cursor's old and new) and how
        far the model scrolled, since the last flush; the strip cache told which rows changed."""
        screen = self.terminal.screen
        scrolled = screen.scrolled - self._scrolled
        self._scrolled = screen.scrolled
        self._version += 1
        cursor = (screen.cursor.y, screen.cursor.x)
        rows = set(screen.dirty)
        rows.update((cursor[0], self._cursor_drawn[0]))  # the cursor's old and new rows
        self._cursor_drawn = cursor
        if scrolled:
            self._row_version.clear()  # every screen row moved
            self._cache.clear()
        else:
            for y in rows:
                self._row_version[y] = self._version
        screen.dirty.clear()
        return rows, scrolled

    def _repaint_rows(self, rows: set[int], geometry: tuple[int, int, Offset] | None, paint: bool) -> None:
        """Nothing moved: repaint only the rows that changed (an echo is one row, not the pane),
        and not the scrollbar beside them."""
        screen = self.terminal.screen
        if geometry is not None:
            line_width, _, offset = geometry
        else:
            line_width, offset = self.scrollable_content_region.width, None
        top = len(screen.history) - self.scroll_offset.y
        changed = sorted(y for y in rows if 0 <= y < screen.lines)
        spans = [Region(0, top + start, line_width, count) for start, count in _spans(changed)]
        if not spans or (offset is not None and self._paint_rows(spans, offset)):
            return
        self.refresh(*spans)
        if paint:
            self._paint()

    def _into_view(self, scrolled: int, paint: bool) -> None:
        """New rows (or a scroll): the pane's size, its place (following, or holding the
        reader's), and all of it repainted."""
        screen = self.terminal.screen
        history = len(screen.history)
        total = history + screen.lines
        self.virtual_size = Size(self.size.width, total)
        if self.following:
            self.scroll_to(y=max(0, total - self.size.height), animate=False, immediate=True)
            self.new_output_below = False
        else:
            dropped = scrolled - max(0, history - self._history_len)
            if dropped > 0:  # the ring dropped old lines: keep the reader's place
                self.scroll_to(y=max(0, self.scroll_offset.y - dropped), animate=False, immediate=True)
            if scrolled:
                self.new_output_below = True
        self._history_len = history
        self.refresh()
        if paint:
            self._paint()

    def _paint(self) -> None:
        """What ``refresh`` marked, on the terminal now: by the painter, else by the screen's update."""
        if not self.painter.paint():
            self.painter.update_screen_now()

    def _paint_rows(self, spans: list[Region], offset: Offset) -> bool:
        """Rows of the pane (``spans``, in its content), painted now by the painter alone;
        False (and they are left to ``refresh``) where it cannot (``EchoPainter.paint_rows``)."""
        return self.painter.paint_rows([span.translate(offset) for span in spans])

    def check_silence(self) -> None:
        if not self._silent and self.last_output and time.monotonic() - self.last_output > self.silence_after:
            self._silent = True
            self.post_message(self.Silence(self))

    def on_mount(self) -> None:
        self._app_context = contextvars.copy_context()
        # Where it sits, for each key the app types in (``UmlApp.type_now``): Textual works
        # them out afresh on each look, walking the parents. A mounted widget keeps both.
        self.home = self.screen
        self.chain = tuple(self.ancestors_with_self)
        self.set_interval(1.0, self.check_silence)
        self.virtual_size = Size(self.size.width, len(self.terminal.screen.history) + self.terminal.screen.lines)

    # -- size --------------------------------------------------------------------------

    def on_resize(self, event: events.Resize) -> None:
        self._send_size()

    def _send_size(self) -> None:
        region = self.scrollable_content_region
        if region.width < 2 or region.height < 1:
            return  # hidden or not laid out yet: keep the size we have
        cols, rows = region.width, region.height
        screen = self.terminal.screen
        if (cols, rows) != (screen.columns, screen.lines):
            self.terminal.resize(cols, rows)
            self._cache.clear()
            self._row_version.clear()
            self._scrolled = screen.scrolled
            self._history_len = len(screen.history)
            self.virtual_size = Size(region.width, len(screen.history) + screen.lines)
            if self.following:
                self.scroll_end(animate=False, immediate=True)
            self.refresh()
        if self.connection is not None:
            self.connection.resize(cols, rows)

    def tell_size(self) -> None:
        """Type ``stty rows R cols C`` into the guest's shell.

        Debian's 6.1 UML keeps a ``con=pts`` console at 24x80 whatever size its host pty is
        given, so full-screen programs need the shell to be told.
        """
        screen = self.terminal.screen
        self.send(f"stty rows {screen.lines} cols {screen.columns}\r".encode())

    # -- keys in -----------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        """Send bytes to the guest as typed, and go back to the live bottom."""
        Ingest.typed(time.monotonic())
        if self.connection is not None and data:
            if self.ingest.drain_before_key():
                self._ingest(budget=1.0)
            self.connection.write(data)
        elif data:
            self._early_keys.append(data)  # typed before the console was attached: sent on attach
        if not self.following:
            self.follow()

    async def on_key(self, event: events.Key) -> None:
        if self.type_key(event.key, event.character):
            event.stop()
            event.prevent_default()

    def type_key(self, key: str, character: str | None) -> bool:
        """Send a key (Textual's name, its character) to the guest as xterm would; False for a
        key that is the app's."""
        if key in self.passthrough:
            return False
        data = encode_key(key, character, app_cursor=self.terminal.screen.app_cursor_keys)
        if data is not None:
            self.send(data)
        return True

    def on_paste(self, event: events.Paste) -> None:
        event.stop()
        self.send(bracket_paste(event.text, self.terminal.screen.bracketed_paste))

    # -- scrollback ----------------------------------------------------------------------

    def follow(self) -> None:
        """Back to the live bottom."""
        self.following = True
        self.new_output_below = False
        self.scroll_end(animate=False, immediate=True)
        self.refresh()

    def _scrolled_by_user(self) -> None:
        at_end = self.scroll_offset.y >= self.max_scroll_y
        self.following = at_end
        if at_end:
            self.new_output_below = False
        self.refresh()

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self.call_after_refresh(self._scrolled_by_user)

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        self.call_after_refresh(self._scrolled_by_user)

    def page(self, direction: int) -> None:
        self.scroll_to(y=self.scroll_offset.y + direction * max(1, self.size.height - 1), animate=False, immediate=True)
        self._scrolled_by_user()

    def line(self, direction: int) -> None:
        self.scroll_to(y=self.scroll_offset.y + direction, animate=False, immediate=True)
        self._scrolled_by_user()

    def top(self) -> None:
        self.scroll_to(y=0, animate=False, immediate=True)
        self._scrolled_by_user()

    # -- text, search, selection --------------------------------------------------------------

    @property
    def line_count(self) -> int:
        return len(self.terminal.screen.history) + self.terminal.screen.lines

    def _row(self, index: int) -> Line:
        screen = self.terminal.screen
        history = screen.history
        if index < len(history):
            return history[index]
        return screen.buffer[index - len(history)]

    def line_text(self, index: int) -> str:
        """Line ``index`` of history-then-screen as text, one character a column."""
        return self._row(index).column_text(self.terminal.screen.columns)

    def screen_text(self) -> list[str]:
        """The visible screen (live part) as text rows, trailing blanks removed."""
        return self.terminal.screen.rows_text()

    def search(self, text: str, *, backwards: bool = True, regex: bool = False) -> bool:
        """Find ``text`` from the current match (or the bottom), highlight every match; False if none."""
        if not text:
            self.clear_search()
            return False
        try:
            self.search_pattern = re.compile(text if regex else re.escape(text), re.IGNORECASE)
        except re.error:
            self.search_pattern = re.compile(re.escape(text), re.IGNORECASE)
        self._cache.clear()
        found = self._find_next(backwards=backwards, restart=True)
        self.refresh()
        return found

    def search_next(self, *, backwards: bool = True) -> bool:
        found = self._find_next(backwards=backwards, restart=False)
        self.refresh()
        return found

    def _find_next(self, *, backwards: bool, restart: bool) -> bool:
        pattern = self.search_pattern
        if pattern is None:
            return False
        count = self.line_count
        if self.current_match is None or restart:
            start_line = count - 1 if backwards else 0
            start_col = None
        else:
            start_line, s, e = self.current_match
            start_col = s
        lines = range(start_line, -1, -1) if backwards else range(start_line, count)
        for index in lines:
            text = self.line_text(index)
            matches = [(m.start(), m.end()) for m in pattern.finditer(text) if m.end() > m.start()]
            if index == start_line and start_col is not None:
                matches = [m for m in matches if (m[0] < start_col if backwards else m[0] > start_col)]
            if matches:
                s, e = matches[-1] if backwards else matches[0]
                self.current_match = (index, s, e)
                self._show_line(index)
                return True
        return False

    def _show_line(self, index: int) -> None:
        top = self.scroll_offset.y
        if not top <= index < top + self.size.height:
            self.scroll_to(y=max(0, index - self.size.height // 2), animate=False, immediate=True)
        self._scrolled_by_user()

    def clear_search(self) -> None:
        self.search_pattern = None
        self.current_match = None
        self._cache.clear()
        self.refresh()

    def _cell_at(self, event: events.MouseEvent) -> tuple[int, int]:
        return (self.scroll_offset.y + event.y, max(0, event.x))

    def on_mouse_down(self, event: events.MouseDown) -> None:
        if event.button != 1:
            return
        self.focus()
        cell = self._cell_at(event)
        self._selection = (cell, cell)
        self._selecting = True
        self.capture_mouse()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        if self._selecting and self._selection:
            self._selection = (self._selection[0], self._cell_at(event))
            self._cache.clear()
            self.refresh()

    def on_mouse_up(self, event: events.MouseUp) -> None:
        if not self._selecting:
            return
        self._selecting = False
        self.release_mouse()
        text = self.selected_text()
        if text:
            self.app.copy_to_clipboard(text)
            self.notify(f"copied {len(text)} characters", timeout=2)
        else:
            self._selection = None
        self._cache.clear()
        self.refresh()

    def _selection_span(self) -> tuple[tuple[int, int], tuple[int, int]] | None:
        if self._selection is None:
            return None
        a, b = sorted(self._selection)
        return a, b

    def selected_text(self) -> str:
        span = self._selection_span()
        if span is None or span[0] == span[1]:
            return ""
        (l0, c0), (l1, c1) = span
        out = []
        for index in range(l0, min(l1, self.line_count - 1) + 1):
            text = self.line_text(index)
            start = c0 if index == l0 else 0
            end = c1 + 1 if index == l1 else len(text)
            out.append(text[start:end].rstrip())
        return "\n".join(out)

    def select_lines(self, first: int, last: int) -> None:
        """Select whole lines (for keyboard copy and for tests)."""
        self._selection = ((first, 0), (last, self.terminal.screen.columns - 1))
        self._cache.clear()
        self.refresh()

    # -- rendering -----------------------------------------------------------------------

    def _style(self, key: Attrs) -> Style:
        style = self._style_cache.get(key)
        if style is None:
            attrs = Cell.of(" ", key)
            colour, bgcolour = _colour(attrs.fg), _colour(attrs.bg)
            if attrs.bold and colour is not None and colour in _NAMED.values():
                colour = "bright_" + colour  # as xterm shows bold with the 8 colours
            style = Style(
                color=colour,
                bgcolor=bgcolour,
                bold=attrs.bold,
                dim=attrs.dim,
                italic=attrs.italics,
                underline=attrs.underscore,
                strike=attrs.strikethrough,
                reverse=attrs.reverse,
                blink=attrs.blink,
            )
            if attrs.hidden:
                style += Style(color=bgcolour or None, conceal=True)
            if len(self._style_cache) > 4096:
                self._style_cache.clear()
                self._on_base.clear()
            self._style_cache[key] = style
        return style

    def _row_strip(self, row: Line, columns: int, reverse: bool = False) -> Strip:
        style_of = self._style
        segments = [Segment(text, style_of(attrs)) for text, attrs in row.segments(columns)]
        if reverse:  # DECSCNM: the whole screen in reverse video
            segments = [Segment(seg.text, (seg.style or Style()) + _REVERSE) for seg in segments]
        return Strip(segments).adjust_cell_length(columns)

    def render_line(self, y: int) -> Strip:
        return self.render_line_sized(y, self.scrollable_content_region.width, self.size.height)

    def render_line_sized(self, y: int, width: int, height: int) -> Strip:
        """``render_line``, given the pane's line width and height (the painter knows them)."""
        index = self.scroll_offset.y + y
        screen = self.terminal.screen
        history = len(screen.history)
        if index >= history + screen.lines:
            return Strip.blank(width, self._base_style())
        on_screen = index >= history
        row_y = index - history
        show_cursor = on_screen and row_y == screen.cursor.y and self.has_focus and not screen.cursor.hidden
        key = (
            index,
            self._row_version.get(row_y, 0) if on_screen else -1,
            show_cursor and screen.cursor.x,
            screen.columns,
            width,
        )
        strip = self._cache.get(key)
        if strip is None:
            cursor_x = screen.cursor.x if show_cursor else None
            row = self._row(index)
            strip = None
            if self.search_pattern is None and self._selection is None and not (on_screen and screen.reverse_video):
                strip = self._plain_strip(row, screen.columns, width, cursor_x)
            if strip is None:
                strip = self._row_strip(row, screen.columns, on_screen and screen.reverse_video)
                strip = self._overlay(strip, index, cursor_x)
                base = self._base_style()
                strip = strip.apply_style(base).adjust_cell_length(width, base)
            self._cache[key] = strip
            if len(self._cache) > 2000:
                self._cache.popitem(last=False)
        if y == height - 1 and not self.following and self.new_output_below:
            badge = " ▼ new output (prefix [ then q to follow) "
            badge_style = self._component("terminal--badge")
            cut = max(0, width - len(badge))
            strip = Strip.join([strip.crop(0, cut), Strip([Segment(badge[: width - cut], badge_style)])])
        return strip

    def _plain_strip(self, row: Line, columns: int, width: int, cursor_x: int | None) -> Strip | None:
        """A row with at most the cursor over it, in one pass; None for a row it does not do.

        The same strip as ``_row_strip`` + ``_overlay`` + the base style, without their
        intermediate strips (each a handful of objects): a repainted row is what an echo
        waits for. Rows with wide or combining characters go the general way.
        """
        on_base = self._on_base
        segments: list[Segment] = []
        append = segments.append
        at = 0
        if cursor_x is not None:
            cursor_x = min(cursor_x, columns - 1)
        for text, attrs in row.segments(columns):
            if not text.isascii():
                return None
            style = on_base.get(attrs)
            if style is None:
                style = on_base[attrs] = self._base_style() + self._style(attrs)
            end = at + len(text)
            if cursor_x is not None and at <= cursor_x < end:
                cut = cursor_x - at
                if cut:
                    append(Segment(text[:cut], style))
                append(Segment(text[cut], style + self._component("terminal--cursor")))
                if cut + 1 < len(text):
                    append(Segment(text[cut + 1 :], style))
            else:
                append(Segment(text, style))
            at = end
        if at < width:
            append(Segment(" " * (width - at), self._base_style()))
            return Strip(segments, width)
        return Strip(segments, at).crop(0, width) if at > width else Strip(segments, at)

    _base: Style | None = None

    def _base_style(self) -> Style:
        # ``rich_style`` walks the DOM each time; it changes only with the styles.
        if self._base is None:
            self._base = self.rich_style
        return self._base

    def _component(self, name: str) -> Style:
        """A component class's style (``terminal--cursor``...), looked up once per style change."""
        style = self._components.get(name)
        if style is None:
            style = self._components[name] = self.get_component_rich_style(name)
        return style

    styles_version = 0  # bumped on every change of the styles (the painter's plan is for one)

    def notify_style_update(self) -> None:
        self.styles_version += 1
        self._base = None
        self._components.clear()
        self._on_base.clear()
        self._cache.clear()
        super().notify_style_update()

    def _overlay(self, strip: Strip, index: int, cursor_x: int | None) -> Strip:
        """Search matches, the selection and the cursor, over one row."""
        marks: list[tuple[int, int, Style]] = []
        if self.search_pattern is not None:
            text = self.line_text(index)
            match_style = self._component("terminal--match")
            current_style = self._component("terminal--current-match")
            for m in self.search_pattern.finditer(text):
                if m.end() > m.start():
                    current = self.current_match == (index, m.start(), m.end())
                    marks.append((m.start(), m.end(), current_style if current else match_style))
        span = self._selection_span()
        if span is not None and span[0] != span[1] and span[0][0] <= index <= span[1][0]:
            (l0, c0), (l1, c1) = span
            start = c0 if index == l0 else 0
            end = c1 + 1 if index == l1 else self.terminal.screen.columns
            marks.append((start, end, self._component("terminal--selection")))
        if cursor_x is not None:
            cursor_x = min(cursor_x, self.terminal.screen.columns - 1)
            marks.append((cursor_x, cursor_x + 1, self._component("terminal--cursor")))
        if not marks:
            return strip
        cuts = sorted({c for s, e, _ in marks for c in (s, e)} | {strip.cell_length})
        pieces = strip.divide(cuts)
        out: list[Strip] = []
        pos = 0
        for piece in pieces:
            end = pos + piece.cell_length
            over = [st for s, e, st in marks if s <= pos and end <= e and end > pos]
            if over:
                style = Style.combine(over)
                piece = Strip([Segment(seg.text, (seg.style or Style()) + style) for seg in piece])
            out.append(piece)
            pos = end
        return Strip.join(out)

    def on_focus(self) -> None:
        self._cache.clear()
        self.refresh()

    def on_blur(self) -> None:
        self._cache.clear()
        self.refresh()


__all__ = ["TerminalView"]
