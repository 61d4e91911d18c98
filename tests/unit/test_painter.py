"""An echo painted straight to the terminal (umltui/fastpath/painter.py) leaves the same cells as
Textual's own repaint, and leaves to Textual what it cannot paint."""

from __future__ import annotations

import pyte
from textual.app import App, ComposeResult
from textual.containers import Horizontal, Vertical
from textual.geometry import Offset, Region
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Footer, Label, Static, Tree
from textual.widgets._toast import Toast

from umltui.fastpath.painter import screen_for
from umltui.widgets.consoles import ConsolePane

SIZE = (120, 36)


class Layout(App[None]):
    """Like the app's main screen: a tree, a bordered console pane with a scrollbar, a panel."""

    CSS = """
    Tree { width: 24; }
    #panel { width: 30; border-left: solid $primary; }
    """

    def compose(self) -> ComposeResult:
        with Horizontal():
            tree: Tree[None] = Tree("lab")
            for n in range(8):
                tree.root.add_leaf(f"guest {n}")
            yield tree
            with Vertical():
                yield Label("con1 con2 con3")
                yield ConsolePane("demo-a", "con1")
            with Vertical(id="panel"):
                yield Static("mconsole")
        yield Footer()


class Veil(ModalScreen[None]):
    def compose(self) -> ComposeResult:
        yield Static("are you sure?")


class Glass:
    """A terminal that reads what the app writes: its cells to compare."""

    def __init__(self) -> None:
        self.screen = pyte.Screen(*SIZE)
        self.stream = pyte.Stream(self.screen)

    def write(self, text: str) -> None:
        self.stream.feed(text)

    def cells(self) -> list[list[tuple[str, str, str, bool, bool, bool]]]:
        buffer = self.screen.buffer
        return [
            [
                (c.data, c.fg, c.bg, c.bold, c.reverse, c.underscore)
                for c in (buffer[y][x] for x in range(self.screen.columns))
            ]
            for y in range(self.screen.lines)
        ]


def full(app: App[None]) -> str:
    return app.screen._compositor.render_full_update().render_segments(app.console)


async def test_an_echo_painted_straight_leaves_the_cells_textual_would() -> None:
    app = Layout()
    async with app.run_test(size=SIZE) as pilot:
        pane = app.query_one(ConsolePane)
        pane.focus()
        pane.feed(b"".join(b"\x1b[3%dmline %d\x1b[0m of the console\r\n" % (n % 8, n) for n in range(60)) + b"$ ")
        await pilot.pause(0.3)
        glass = Glass()
        glass.write(full(app))
        changes = [
            b"l",
            b"s -l",
            b"\x08\x1b[K",  # a backspace, as a shell echoes it
            b"\x1b[1;31mred bold\x1b[0m",
            b"\x1b[7m reversed \x1b[27m",
            b"\r\x1b[2A\x1b[4Cmid-screen",  # two rows up: the cursor's old and new rows both change
            b"\x1b[1;1Htop left",
            "wide 漢字 and é".encode(),
        ]
        painted = 0
        for change in changes:
            pane.terminal.feed(change)
            pane._flush()
            screen = screen_for(pane)
            assert screen is app.screen
            update = pane.painter.update(screen)
            assert update is not None, change
            assert not pane._repaint_regions  # taken: Textual's own update has nothing left to paint
            glass.write(update.render_segments(app.console))
            painted += 1
            textuals = Glass()
            textuals.write(full(app))  # Textual, every cell afresh
            assert glass.cells() == textuals.cells(), change
        assert painted == len(changes)


async def test_what_it_cannot_paint_is_left_to_textual() -> None:
    app = Layout()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        pane = app.query_one(ConsolePane)
        pane.focus()
        pane.feed(b"$ ")
        await pilot.pause(0.3)

        def try_one(data: bytes) -> bool:
            pane.terminal.feed(data)
            pane._flush()
            screen = screen_for(pane)
            result = screen is not None and pane.painter.update(screen) is not None
            if not result:
                assert pane._repaint_regions  # left for Textual, untouched
            return result

        assert try_one(b"a")
        await pilot.pause(0.1)
        # Something in front of the rows: a toast at the bottom right, over the pane's last rows.
        app.notify("a toast over the pane", timeout=60)
        await pilot.pause(0.3)
        toast = app.screen.query_one(Toast).region
        content = pane.content_region
        assert toast.overlaps(content)
        row, column = toast.y - content.y + 1, max(1, toast.x - content.x - 2)
        pane.terminal.feed(b"\x1b[%d;%dH" % (row, column))
        assert not try_one(b"under the toast")
        app.clear_notifications()
        await pilot.pause(0.3)
        assert try_one(b"x")
        # A tint over the pane.
        pane.styles.tint = "red 30%"
        await pilot.pause(0.1)
        assert not try_one(b"y")
        pane.styles.tint = "red 0%"
        await pilot.pause(0.1)
        # Opacity: the pane's own (looked at for every echo), an ancestor's (in the plan, from the next layout).
        pane.styles.opacity = 0.5
        await pilot.pause(0.1)
        assert not try_one(b"o")
        pane.styles.opacity = 1.0
        parent = pane.parent
        assert isinstance(parent, Widget)
        parent.styles.opacity = 0.5
        parent.refresh(layout=True)
        await pilot.pause(0.1)
        assert not try_one(b"p")
        parent.styles.opacity = 1.0
        parent.refresh(layout=True)
        await pilot.pause(0.1)
        assert try_one(b"q")
        # Another screen in front: not the pane's screen's turn.
        app.push_screen(Veil())
        await pilot.pause(0.2)
        pane.terminal.feed(b"z")
        pane._flush()
        assert screen_for(pane) is None
        app.pop_screen()
        await pilot.pause(0.2)
        assert try_one(b"w")


async def test_an_echo_through_the_panes_own_flush_leaves_the_cells_textual_would() -> None:
    """The pane's echo path (``_flush(paint=True)``) marks the rows itself, from the painter's
    plan, instead of through ``refresh``: the same rows, the same cells. Headless, nothing is
    written to a terminal, so here the painter's write goes to the glass instead."""
    app = Layout()
    async with app.run_test(size=SIZE) as pilot:
        pane = app.query_one(ConsolePane)
        pane.focus()
        pane.feed(b"".join(b"line %d\r\n" % n for n in range(60)) + b"$ ")
        await pilot.pause(0.3)
        glass = Glass()
        glass.write(full(app))

        def paint() -> bool:
            screen = screen_for(pane)
            update = None if screen is None else pane.painter.update(screen)
            if update is None:
                return False
            glass.write(update.render_segments(app.console))
            return True

        pane.painter.paint = paint  # type: ignore[method-assign]
        plans_before = pane.painter.plans
        own = pane._paint_rows
        by_rows: list[bool] = []

        def paint_rows(spans: list[Region], offset: Offset) -> bool:
            by_rows.append(own(spans, offset))
            return by_rows[-1]

        pane._paint_rows = paint_rows  # type: ignore[method-assign]
        for change in (b"e", b"c", b"ho", b"\x08\x1b[K", b"\x1b[32mgreen\x1b[0m", b"\x1b[3A\x1b[2Cup"):
            pane.terminal.feed(change)
            geometry = pane.painter.geometry()
            if geometry is not None:  # the plan agrees with Textual about the pane
                assert geometry == (pane.scrollable_content_region.width, pane.size.height, pane.content_offset)
            pane._flush(paint=True)
            assert not pane._repaint_regions, change  # painted, nothing left for Textual
            textuals = Glass()
            textuals.write(full(app))
            assert glass.cells() == textuals.cells(), change
        assert pane.painter.geometry() is not None
        assert by_rows == [True] * 5  # the first made the plan (through ``refresh``); the rest used it
        assert pane.painter.plans - plans_before <= 1  # one plan for the layout, not one per echo
        # A new layout (a narrower app): a new plan, and still the same cells.
        await pilot.resize_terminal(100, 30)
        await pilot.pause(0.3)
        assert pane.painter.geometry() is None
        glass = Glass()
        glass.screen.resize(30, 100)
        glass.write(full(app))
        pane.terminal.feed(b"!")
        pane._flush(paint=True)
        textuals = Glass()
        textuals.screen.resize(30, 100)
        textuals.write(full(app))
        assert glass.cells() == textuals.cells()
        assert pane.painter.geometry() == (pane.scrollable_content_region.width, pane.size.height, pane.content_offset)
