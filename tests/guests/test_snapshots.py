"""SVG snapshots of the main screen, the mconsole panel, the network view and the help
screen, with real guests. What changes from run to run on its own (pty numbers, the
export's content-hash class names) is normalised before comparing. A missing snapshot is
written (commit it); ``UMLTUI_UPDATE_SNAPSHOTS=1`` rewrites them all."""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path

import pytest
from conftest import Env, requires_uml
from helpers import until
from textual.widgets import Collapsible, Input

from umltui.app import UmlApp, make_app
from umltui.config import Config

pytestmark = [requires_uml, pytest.mark.uml]
SNAPSHOTS = Path(__file__).parent / "snapshots"
SIZES = [(160, 48), (80, 24)]


def normalise(svg: str) -> str:
    svg = re.sub(r"pts/\d+(&#160;|\s)*", "pts/N ", svg)  # the tree pads them to one width
    svg = re.sub(r"terminal-[0-9a-z-]+", "terminal-X", svg)
    svg = re.sub(r"(&#160;|\s)+", " ", svg)
    return svg


def check(app: UmlApp, name: str) -> None:
    svg = app.export_screenshot(title=name)
    path = SNAPSHOTS / f"{name}.svg"
    if not path.exists() or os.environ.get("UMLTUI_UPDATE_SNAPSHOTS"):
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(svg)
        return
    want, got = normalise(path.read_text()), normalise(svg)
    if want != got:
        (SNAPSHOTS / f"{name}.actual.svg").write_text(svg)
        diff = "\n".join(list(difflib.unified_diff(want.split("<"), got.split("<"), lineterm=""))[:40])
        raise AssertionError(f"{name} differs from {path} (actual saved next to it):\n{diff}")


def no_blink(app: UmlApp) -> None:
    for widget in app.screen.query(Input):
        widget.cursor_blink = False


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_snapshots(env: Env, size: tuple[int, int]) -> None:
    env.run("demo", "--detach", check=True)
    app = make_app(Config(), focus_guest="demo-a")
    tag = f"{size[0]}x{size[1]}"
    async with app.run_test(size=size) as pilot:
        await until(lambda: app.area.current is not None and app.area.current.connection is not None)
        pane = app.area.current
        assert pane is not None
        pane.send(b"clear\r")
        await until(lambda: [r for r in pane.screen_text() if r] == ["root@a:/root#"])
        await pilot.pause(0.5)
        no_blink(app)
        check(app, f"main-{tag}")
        # The panel from the keyboard: prefix m gives it the keys (docked at 160, over the console at 80).
        await pilot.press("ctrl+b", "m")
        await until(lambda: app.panel.display and app.panel.has_focus_within, "the panel with the keys")
        app.panel.query_one("#mc-disks", Collapsible).collapsed = False
        app.panel.query_one("#mc-nics", Collapsible).collapsed = False
        # The panel's scrollbar thumb lands a fraction of a cell apart from run to run.
        app.panel.styles.scrollbar_size_vertical = 0
        await pilot.pause(0.3)
        app.panel.scroll_home(animate=False)
        await pilot.pause(0.3)
        no_blink(app)
        check(app, f"mconsole-panel-{tag}")
        # The sysrq list, drawn in front of the panel's widgets (at 80 it was behind them).
        app.panel.query_one("#mc-sysrq").focus()
        await pilot.press("enter")
        await pilot.pause(0.3)
        check(app, f"sysrq-list-{tag}")
        await pilot.press("escape")
        await app.run_action("close_side")
        await app.run_action("network")
        await until(lambda: bool(getattr(app.screen, "net", None)))
        await pilot.pause(0.5)
        no_blink(app)
        check(app, f"network-{tag}")
        await pilot.press("escape")
        await app.run_action("help")
        await pilot.pause(0.3)
        check(app, f"help-{tag}")
