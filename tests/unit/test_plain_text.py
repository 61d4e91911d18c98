"""Words of users, guests and tools are shown as they are: brackets are no markup.

``icmp[icmptype] == 0`` was titled ``filter: icmp == 0``, an image ``data[1].img`` lost its
``[1]``, and a ``[/x]`` in a guest's name or a question ended the app (a markup error).
"""

from __future__ import annotations

from typing import Any

from textual.app import App, ComposeResult
from textual.widgets import Label

from umltui.screens.dialogs import ConfirmScreen, HelpScreen, PrefixScreen
from umltui.screens.packets import PacketsScreen
from umltui.widgets.mconsole_panel import MconsolePanel

ODD = "x[b]y[/b][/x]"


def shown(label: Label) -> str:
    return str(label.render())


class PanelApp(App[None]):
    def compose(self) -> ComposeResult:
        yield MconsolePanel(client=None, id="mconsole")  # type: ignore[arg-type]  # (nothing is sent)


async def test_the_panel_shows_names_and_paths_plainly() -> None:
    app = PanelApp()
    async with app.run_test(size=(100, 40)) as pilot:
        panel = app.query_one(MconsolePanel)
        guest: Any = {
            "umid": ODD,
            "state": "running",
            "lab": "l",
            "disks": [{"name": "ubd1", "image": "/srv/data[1].img", "cow": None}],
            "nics": [{"name": "eth0", "kind": "switch", "target": "lan[0]"}],
        }
        panel.set_guest(guest, [])
        await pilot.pause()
        assert shown(panel.query_one("#mc-title", Label)) == f"mconsole · {ODD} (running)"
        assert "data[1].img" in shown(panel.query_one("#mc-disk-list", Label))
        assert "switch:lan[0]" in shown(panel.query_one("#mc-nic-list", Label))
        # the palette lists the panel's actions for this guest (markup-escaped there by the app)
        assert any(c.help == ODD for c in panel.commands())


async def test_a_question_the_prefix_bar_and_the_help_are_plain() -> None:
    app = App[None]()
    async with app.run_test(size=(100, 40)) as pilot:
        await app.push_screen(ConfirmScreen(f"{ODD}: sysrq [c] crash. Send it?"))
        await pilot.pause()
        assert shown(app.screen.query_one(Label)) == f"{ODD}: sysrq [c] crash. Send it?"
        app.pop_screen()
        keymap = {"scrollback": "left_square_bracket", "zoom": "[b]"}
        await app.push_screen(PrefixScreen("ctrl+b", keymap))
        await pilot.pause()
        assert "[ scroll · [b] zoom" in shown(app.screen.query_one(Label))
        app.pop_screen()
        await app.push_screen(HelpScreen("ctrl+b", keymap))
        await pilot.pause()
        assert "ctrl+b [b]" in app.export_screenshot().replace("&#160;", " ")


async def test_the_packets_title_keeps_the_filter_as_typed() -> None:
    segment = {"kind": "hub", "lab": "lab[1]", "name": "lan0", "alive": False}  # (no capture: not running)
    app = App[None]()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = PacketsScreen(segment)
        await app.push_screen(screen)
        await pilot.pause()
        screen.filter = ["icmp[icmptype]", "==", "0"]
        screen._title()
        await pilot.pause()
        title = shown(screen.query_one("#pk-title", Label))
        assert "Packets on lab[1]/lan0" in title and "filter: icmp[icmptype] == 0" in title, title
