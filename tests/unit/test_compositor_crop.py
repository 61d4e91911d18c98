"""The cropped partial repaint (umltui/fastpath/compositor.py) paints what Textual's own does."""

from __future__ import annotations

import random

from textual.app import App, ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.geometry import Region
from textual.screen import ModalScreen
from textual.widgets import Button, Collapsible, Footer, Input, Label, RichLog, Static, Tab, Tabs, Tree

from umltui.fastpath import compositor
from umltui.widgets.terminal import TerminalView


class Layout(App[None]):
    """Like the app's main screen: a tree, tabs over a bordered pane, a panel of controls, a footer."""

    CSS = """
    Tree { width: 30; }
    #pane { border: round $accent; }
    #panel { width: 40; border-left: solid $primary; }
    #log { height: 6; }
    """
    BINDINGS = [("q", "quit", "Quit"), ("x", "noop", "Something")]

    def compose(self) -> ComposeResult:
        with Horizontal():
            tree: Tree[None] = Tree("lab")
            for n in range(12):
                tree.root.add_leaf(f"guest {n}")
            tree.root.expand()
            yield tree
            with Vertical():
                yield Tabs(*(Tab(f"con{n}", id=f"c{n}") for n in range(1, 7)))
                yield TerminalView(id="pane")
            with VerticalScroll(id="panel"):
                yield Label("mconsole")
                with Horizontal(classes="buttons"):
                    yield Button("stop")
                    yield Button("go")
                with Collapsible(title="disks", collapsed=False):
                    yield Input(placeholder="ubd1=/tmp/disk.img")
                yield RichLog(id="log")
                yield Static("x" * 200)
        yield Footer()


class Veil(ModalScreen[None]):
    DEFAULT_CSS = """
    Veil { background: $background 60%; align: center middle; }
    Veil > Static { width: 30; height: 5; border: thick $error; }
    """

    def compose(self) -> ComposeResult:
        yield Static("are you sure?")


def paint(app: App[None], region: Region) -> str:
    comp = app.screen._compositor
    comp._dirty_regions.clear()
    comp._dirty_regions.add(region)
    update = comp.render_update(screen_stack=app._background_screens)
    return "" if update is None else update.render_segments(app.console)  # type: ignore[union-attr]


async def test_region_repaints_match_textuals_own_cell_for_cell() -> None:
    app = Layout()
    rng = random.Random(7)
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            view = app.query_one(TerminalView)
            view.feed(b"".join(b"\x1b[3%dmline %d\x1b[0m of the guest's console\r\n" % (n % 8, n) for n in range(60)))
            app.query_one(RichLog).write("answers\n" * 10)
            await pilot.pause(0.2)
            compared = 0
            for stage in ("main", "notified", "modal"):
                if stage == "notified":
                    app.notify("a toast over the panel", timeout=60)
                elif stage == "modal":
                    app.push_screen(Veil())
                await pilot.pause(0.3)
                regions = [Region(0, 0, 160, 48), Region(31, 10, 82, 1), Region(31, 10, 82, 36), Region(150, 40, 10, 8)]
                for _ in range(60):
                    x, y = rng.randrange(160), rng.randrange(48)
                    regions.append(Region(x, y, rng.randint(1, 160 - x), rng.randint(1, 48 - y)))
                for region in regions:
                    compositor.uninstall()
                    theirs = paint(app, region)
                    assert compositor.install()
                    ours = paint(app, region)
                    assert ours == theirs, (stage, region)
                    compared += 1
                full_ours = app.export_screenshot()
            assert compared > 150
            compositor.uninstall()
            assert app.export_screenshot() == full_ours
    finally:
        compositor.uninstall()


def test_install_is_idempotent_and_undone() -> None:
    from textual._compositor import Compositor

    own = Compositor._get_renders
    try:
        assert compositor.install() and compositor.install()
        assert Compositor._get_renders is compositor.cropped_renders
    finally:
        compositor.uninstall()
    assert Compositor._get_renders is own
