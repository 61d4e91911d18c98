"""The app, driven with the Pilot against real guests, a real supervisor and real switches."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest
from conftest import Env, requires_uml
from helpers import until
from textual import events
from textual.widgets import Button, Collapsible, Input, Select

from umltui.app import UmlApp, make_app
from umltui.config import Config
from umltui.fastpath.driver import QuickDriver
from umltui.screens.dialogs import ConfirmScreen, HelpScreen
from umltui.screens.network import NetworkScreen, draw_topology
from umltui.widgets.consoles import ConsolePane

pytestmark = [requires_uml, pytest.mark.uml]
SIZE = (160, 48)


def text(pane: ConsolePane | None) -> str:
    return "\n".join(pane.screen_text()) if pane else ""


async def prefix(pilot, key: str) -> None:  # type: ignore[no-untyped-def]
    await pilot.press("ctrl+b")
    await pilot.pause(0.05)
    await pilot.press(key)
    await pilot.pause(0.1)


async def started(pilot, app: UmlApp) -> ConsolePane:  # type: ignore[no-untyped-def]
    await until(lambda: app.area.current is not None, "the first console pane")
    pane = app.area.current
    assert pane is not None
    pane.send(b"\r")
    await until(lambda: "a:/root#" in text(pane), "a prompt on demo-a con1", extra=lambda: text(pane))
    await pilot.pause(0.3)
    assert app.focused is pane, app.focused
    return pane


async def type_line(pilot, line: str) -> None:  # type: ignore[no-untyped-def]
    for ch in line:
        await pilot.press(
            {
                " ": "space",
                "-": "minus",
                ".": "full_stop",
                "/": "slash",
                "'": "apostrophe",
                ">": "greater_than_sign",
                "|": "vertical_line",
            }.get(ch, ch)
        )
    await pilot.press("enter")


async def test_consoles_ping_tabs_grid_zoom_broadcast_and_keys(env: Env) -> None:
    env.run("demo", "--detach", check=True)
    app = make_app(Config(), focus_guest="demo-a")
    async with app.run_test(size=SIZE) as pilot:
        pane = await started(pilot, app)
        await type_line(pilot, "ping -c 1 10.0.0.2")
        await until(lambda: "1 packets received" in text(pane), "the ping reply", extra=lambda: text(pane))
        # ctrl+c goes to the guest, not the app.
        await type_line(pilot, "sleep 30")
        await pilot.press("ctrl+c")
        await until(lambda: text(pane).rstrip().endswith("#"), "ctrl+c to stop sleep", extra=lambda: text(pane))
        # prefix 2: con2
        await prefix(pilot, "2")
        assert app.area.console == "con2" and app.area.current is not None
        con2 = app.area.current
        assert con2.display and not pane.display and con2.has_focus
        con2.send(b"\r")
        await until(lambda: "#" in text(con2), "a prompt on con2", extra=lambda: text(con2))
        # prefix g: a grid with consoles of both guests
        await prefix(pilot, "1")
        await prefix(pilot, "g")
        shown = {(p.umid, p.console) for p in app.area.visible_panes()}
        assert {("demo-a", "con1"), ("demo-b", "con1")} <= shown, shown
        b = app.area.panes[("demo-b", "con1")]
        b.send(b"\r")
        await until(lambda: "b:/root#" in text(b), "demo-b's prompt in the grid", extra=lambda: text(b))
        # prefix z zooms the focused pane and back
        await prefix(pilot, "z")
        assert [p for p in app.area.visible_panes()] == [app.area.current]
        await prefix(pilot, "z")
        assert len(app.area.visible_panes()) >= 2
        # prefix b: broadcast typing to every console of the grid
        await prefix(pilot, "b")
        assert app.area.broadcast and "BROADCAST" in str(app.area.query_one("#broadcast-banner").render())
        await type_line(pilot, "echo both-$((40+2))")
        await until(
            lambda: "both-42" in text(b) and "both-42" in text(pane), "the echo on both guests", extra=lambda: text(b)
        )
        await prefix(pilot, "b")
        assert not app.area.broadcast
        # prefix o moves between panes; prefix prefix sends a literal ctrl+b
        before = app.area.current
        await prefix(pilot, "o")
        assert app.area.current is not before
        # prefix ? shows the help screen
        await prefix(pilot, "question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        # the kernel log is a console too
        await prefix(pilot, "g")
        await prefix(pilot, "0")
        kernel = app.area.current
        await until(
            lambda: "Linux version" in "\n".join(kernel.line_text(i) for i in range(kernel.line_count)),
            "the kernel log",
        )


async def test_mconsole_panel_sysrq_stop_go_and_disk_hotplug(env: Env, tmp_path: Path) -> None:
    env.run("demo", "--detach", check=True)
    image = tmp_path / "data.img"
    subprocess.run(["dd", "if=/dev/zero", f"of={image}", "bs=1M", "count=8"], check=True, capture_output=True)
    app = make_app(Config(), focus_guest="demo-a")
    async with app.run_test(size=SIZE) as pilot:
        pane = await started(pilot, app)
        panel = app.panel
        log = panel.query_one("#result")

        def answers() -> str:
            return " ".join(strip.text.strip() for strip in log.lines)  # type: ignore[attr-defined]

        panel.query_one("#mc-sysrq", Select).value = "m"
        panel.query_one("#mc-sysrq-send", Button).press()
        await until(lambda: "Mem-Info" in answers() or "Mem-info" in answers(), "the memory report", extra=answers)
        # a destructive one asks first; cancel sends nothing
        panel.query_one("#mc-sysrq", Select).value = "c"
        panel.query_one("#mc-sysrq-send", Button).press()
        await until(lambda: isinstance(app.screen, ConfirmScreen), "the question")
        await pilot.press("escape")
        panel.query_one("#mc-stop", Button).press()
        await until(lambda: app.guests["demo-a"]["state"] == "paused", "paused", extra=answers)
        panel.query_one("#mc-go", Button).press()
        await until(lambda: app.guests["demo-a"]["state"] == "running", "running again", extra=answers)
        # the device fields hold the first free names (values, not placeholders)
        assert panel.query_one("#disk-dev", Input).value == "ubd1"
        eth = "eth" if app.guests["demo-a"].get("legacy_nics", True) else "vec"  # the kernel's own device names
        assert panel.query_one("#nic-dev", Input).value == f"{eth}1"
        # answers wrap to the panel's width (they were cut at about 40 columns)
        assert max(strip.cell_length for strip in log.lines) <= log.scrollable_content_region.width  # type: ignore[attr-defined]
        # hot-plug a disk through the form: a bad value is refused before sending
        panel.query_one("#disk-dev", Input).value = "sda1"
        panel.query_one("#disk-image", Input).value = str(image)
        panel.query_one("#mc-disks", Collapsible).collapsed = False
        await pilot.pause(0.2)
        panel.query_one("#disk-add", Button).press()
        await until(lambda: "sda1" in answers(), "the form's refusal", extra=answers)
        panel.query_one("#disk-dev", Input).value = "ubd1"
        panel.query_one("#disk-add", Button).press()
        await until(
            lambda: any(d["name"] == "ubd1" for d in app.guests["demo-a"]["disks"]), "ubd1 listed", extra=answers
        )
        await until(
            lambda: answers().endswith(" ok"), "ok for a config that worked (the guest says nothing)", extra=answers
        )
        pane.send(b"cat /sys/block/ubdb/size\r")
        await until(lambda: "\n16384" in text(pane), "the disk in the guest", extra=lambda: text(pane))
        # the field moved on to the next free device; ubd1 again is refused, in the form's words
        await until(lambda: panel.query_one("#disk-dev", Input).value == "ubd2", "ubd2 offered next")
        panel.query_one("#disk-dev", Input).value = "ubd1"
        panel.query_one("#disk-add", Button).press()
        await until(lambda: "already" in answers(), "in use", extra=answers)
        panel.query_one("#mc-proc", Input).value = "nosuchfile"
        # a NIC through the form: onto the lab's switch, seen by the guest, then removed; named in
        # the words of the guest's kernel (ethN on 6.1, vecN on a kernel without ethN=)
        panel.query_one("#nic-dev", Input).value = f"{eth}1"
        panel.query_one("#nic-target", Input).value = "nosuch"
        panel.query_one("#nic-add", Button).press()
        await until(lambda: "no switch 'nosuch'" in answers(), "the refusal", extra=answers)
        panel.query_one("#nic-target", Input).value = "lan0"
        panel.query_one("#nic-add", Button).press()
        await until(
            lambda: any(n["name"] == f"{eth}1" for n in app.guests["demo-a"]["nics"]), "NIC listed", extra=answers
        )
        pane.send(f"cat /sys/class/net/{eth}1/operstate\r".encode())
        await until(
            lambda: f"{eth}1/operstate\n" in text(pane) and text(pane).rstrip().endswith("#"),
            "the NIC in the guest",
            extra=lambda: text(pane),
        )
        assert "No such file" not in text(pane)
        # the field moved on to the next free NIC (as the disk's did); name the one to remove
        await until(lambda: panel.query_one("#nic-dev", Input).value == f"{eth}2", "the next offered")
        panel.query_one("#nic-dev", Input).value = f"{eth}1"
        panel.query_one("#nic-remove", Button).press()
        await until(
            lambda: not any(n["name"] == f"{eth}1" for n in app.guests["demo-a"]["nics"]), "removed", extra=answers
        )
        panel.query_one("#mc-proc", Input).focus()
        await pilot.pause(0.1)
        await pilot.press("enter")
        await until(lambda: "proc nosuchfile" in answers(), "proc answer", extra=answers)


async def test_network_view_switch_and_plug(env: Env) -> None:
    env.run("demo", "--detach", check=True)
    app = make_app(Config(), focus_guest="demo-a")
    async with app.run_test(size=SIZE) as pilot:
        pane = await started(pilot, app)
        await prefix(pilot, "w")
        assert isinstance(app.screen, NetworkScreen)
        screen = app.screen
        await until(lambda: bool(screen.net), "the network")
        assert "demo-a:eth0" in draw_topology(screen.net).plain
        screen.query_one("#sw-name", Input).value = "lan9"
        screen.query_one("#sw-add", Button).press()
        await until(lambda: any(s["name"] == "lan9" for s in screen.net.get("switches", [])), "lan9")
        for sel, value in (("#plug-guest", "demo-a"), ("#plug-nic", "eth1"), ("#plug-switch", "lan9")):
            screen.query_one(sel, Input).value = value
        screen.query_one("#plug-add", Button).press()
        await until(
            lambda: "demo-a:eth1" in draw_topology(screen.net).plain,
            "eth1 on lan9",
            extra=lambda: draw_topology(screen.net).plain,
        )
        screen.query_one("#plug-del", Button).press()
        await until(lambda: "demo-a:eth1" not in draw_topology(screen.net).plain, "eth1 unplugged")
        screen.query_one("#sw-del", Button).press()
        await until(lambda: not any(s["name"] == "lan9" for s in screen.net.get("switches", [])), "lan9 gone")
        await pilot.press("escape")
        assert pane is app.area.current


async def test_detach_then_attach_brings_history_back(env: Env) -> None:
    env.run("demo", "--detach", check=True)
    app = make_app(Config(), focus_guest="demo-a")
    async with app.run_test(size=SIZE) as pilot:
        pane = await started(pilot, app)
        pane.send(b"echo remember-$((6*7))\r")
        await until(lambda: "remember-42" in text(pane), "the echo")
        await prefix(pilot, "d")
    assert app.return_value == "detach"
    assert env.guest("demo-a")["state"] == "running"  # the guests live on
    again = make_app(Config(), focus_guest="demo-a")
    async with again.run_test(size=SIZE):
        await until(lambda: again.area.current is not None, "the pane")
        p = again.area.current
        assert p is not None
        await until(lambda: any("remember-42" in p.line_text(i) for i in range(p.line_count)), "the history")


async def test_the_sides_fit_again_when_the_terminal_is_resized(env: Env) -> None:
    # Found by hand: from 160 to 80 columns, both sides stayed docked and the console was four
    # columns wide (the app fitted the sides to the width before the resize).
    env.run("demo", "--detach", check=True)
    app = make_app(Config(), focus_guest="demo-a")
    async with app.run_test(size=(160, 48)) as pilot:
        pane = await started(pilot, app)
        assert app.panel.display and not app.panel.has_class("-overlay")
        await pilot.resize_terminal(80, 24)
        await until(lambda: app.size.width == 80, "the new size")
        assert not app.panel.display and app.panel.has_class("-overlay")
        await until(lambda: pane.size.width >= 76, "the console takes the width", extra=lambda: str(pane.size))
        await pilot.resize_terminal(160, 48)
        await until(lambda: app.size.width == 160, "the size back")
        assert app.panel.display and not app.panel.has_class("-overlay")


async def test_guest_halted_and_booted_again_reattaches_and_crash_is_shown(env: Env) -> None:
    env.run("demo", "--detach", check=True)
    app = make_app(Config(), focus_guest="demo-b")
    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: app.area.current is not None and app.area.current.connection is not None, "b's pane")
        pane = app.area.current
        assert pane is not None
        await asyncio.to_thread(env.run, "halt", "demo-b", check=True)
        await until(lambda: app.guests["demo-b"]["state"] == "halted", "halted shown")

        def shells() -> int:
            return sum("Enter 'help'" in pane.line_text(i) for i in range(pane.line_count))

        before = shells()
        await asyncio.to_thread(env.run, "demo", "--detach", check=True)
        await until(lambda: app.guests["demo-b"]["state"] == "running", "running again")
        # "running" is the boot script's end; the getty starts after it and drops what was typed before
        await until(lambda: shells() > before, "the rebooted guest's shell", extra=lambda: text(pane))
        pane.send(b"echo back-$((40+2))\r")
        await until(
            lambda: "back-42" in text(pane), "the rebooted guest's console in the same pane", extra=lambda: text(pane)
        )
        # a panic is shown at once, and the console stays readable
        await asyncio.to_thread(env.run, "mconsole", "demo-b", "sysrq", "c")
        await until(lambda: app.guests["demo-b"]["state"] == "crashed", "crashed shown")
        assert "back-42" in text(pane)
        assert "crashed" in str(app.guest_tree.root.children[0].children[1].label)
        await pilot.pause(0.1)


def burst(app: UmlApp, keys: list[str], via: str = "queue") -> None:
    """Keys arriving all at once, as a fast typist, a paste or SSH deliver them: posted to the
    app's queue (``queue``, as the Pilot does), or handed on as the app's terminal driver
    does, in one turn of the loop (``driver``: the app may type a key in at once)."""
    driver = QuickDriver(app, debug=False)
    for key in keys:
        event = events.Key(key, {"space": " ", "enter": "\r"}.get(key, key if len(key) == 1 else None))
        if via == "driver":
            driver._deliver(event)
        else:
            app.post_message(event)


@pytest.mark.parametrize("via", ["queue", "driver"])
async def test_keys_in_a_burst_after_the_prefix_and_prefix_prefix(env: Env, via: str) -> None:
    env.run("demo", "--detach", check=True)
    app = make_app(Config(), focus_guest="demo-a")
    async with app.run_test(size=SIZE) as pilot:
        pane = await started(pilot, app)
        if via == "driver":
            # A key with nothing before it is typed in at once, on the turn that brought it.
            # (The app's own timers may have a message queued: then it goes the usual way.)
            for _ in range(50):
                if app.take_key(events.Key("x", "x")):
                    break
                await pilot.pause(0.02)
            assert app._keys_taken == 1
            # Not with a message queued before it, nor the prefix (a priority binding).
            app.post_message(events.Key("y", "y"))
            assert not app.take_key(events.Key("z", "z"))
            await pilot.pause(0.1)
            assert not app.take_key(events.Key("ctrl+b", None))
            assert app._keys_taken == 1
            await until(lambda: "xy" in text(pane), "x and y typed", extra=lambda: text(pane))
            burst(app, ["backspace", "backspace"], via)
            await pilot.pause(0.2)
        # con2 shown once first: its prompt's cursor query answered (keys typed while busybox
        # waits for that answer are issue 13's race, not this test's)
        await prefix(pilot, "2")
        con2 = app.area.current
        assert con2 is not None and con2 is not pane
        con2.send(b"\r")
        await until(lambda: text(con2).rstrip().endswith("#"), "a prompt on con2", extra=lambda: text(con2))
        await prefix(pilot, "1")
        await pilot.pause(0.3)
        # prefix 2 and a command line, in one burst: the first key after the prefix is the
        # command, the rest go to the console it leaves focused (this crashed the app)
        burst(app, ["ctrl+b", "2", *"echo", "space", *"fast$((40+2))", "enter"], via)
        await until(lambda: app.area.console == "con2", "con2 shown")
        assert app.area.current is con2
        await until(
            lambda: "fast42" in text(con2),
            "the burst's command line run on con2",
            extra=lambda: text(con2) + "\n--- con1:\n" + text(pane),
        )
        assert app.is_running
        # prefix, prefix: one literal ctrl+b for the guest (its line editor: cursor back one),
        # and the key after it is typed, not taken as a command
        burst(app, [*"echo", "space", *"ab", "ctrl+b", "ctrl+b", "X", "enter"], via)
        await until(
            lambda: "aXb" in [line.strip() for line in con2.screen_text()],  # its output: the line ran
            "a literal ctrl+b in the shell",
            extra=lambda: text(con2),
        )
        assert app.area.console == "con2" and app.is_running
    # A key that comes once the app has ended (its screens gone) is dropped, not handled
    # (one still queued at the end crashed it: ScreenStackError).
    assert not app.screen_stack
    await app.on_event(events.Key("x", "x"))
    assert not app.take_key(events.Key("x", "x"))


def keys_of(line: str) -> list[str]:
    """A command line as keys for :func:`burst` (a one-character key is its own character)."""
    return ["space" if ch == " " else ch for ch in line] + ["enter"]


@pytest.mark.parametrize("size", [(160, 48), (80, 24)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_every_prefix_command_in_a_burst(env: Env, size: tuple[int, int]) -> None:
    """Each prefix command with keys after it in the same burst, at both sizes: nothing
    crashes, and the keys land where the command leaves the focus, in order."""
    env.run("demo", "--detach", check=True)
    app = make_app(Config(), focus_guest="demo-a")
    n = iter(range(100, 1000))
    async with app.run_test(size=size) as pilot:
        pane = await started(pilot, app)
        if size[0] == 80:  # the console has the width; the sides come over it on demand
            assert pane.size.width >= 76 and not app.guest_tree.display and not app.panel.display

        async def typed_into(command: list[str]) -> ConsolePane:
            """prefix + command + `echo mark-N` Enter in one burst; the echo must show in the pane then in front."""
            mark = next(n)
            burst(app, ["ctrl+b", *command, *keys_of(f"echo mark-$(({mark}+0))")])
            target: ConsolePane | None = None

            def landed() -> bool:
                nonlocal target
                target = app.area.current
                return target is not None and f"mark-{mark}\n" in text(target) + "\n"

            await until(landed, f"{command} then the echo", extra=lambda: text(app.area.current))
            assert app.is_running and target is not None
            return target

        for con in "23456":
            shown = await typed_into([con])
            assert shown.console == f"con{con}", shown.console
        await typed_into(["1"])
        b = await typed_into(["n"])
        assert b.umid == "demo-b"
        a = await typed_into(["p"])
        assert a.umid == "demo-a"
        await typed_into(["o"])
        zoomed = await typed_into(["z"])
        assert app.area.zoomed and not app.guest_tree.display and not app.panel.display
        # (the layout follows a frame after the echo: CI saw the old width once)
        await until(
            lambda: (
                (zoomed.size.width, zoomed.size.height) == (size[0], size[1] - 1)
            ),  # the footer stays, as tmux's bar
            "the zoomed pane takes the screen",
            timeout=5,
            extra=lambda: str(zoomed.size),
        )
        await typed_into(["z"])
        assert not app.area.zoomed
        await typed_into(["g"])
        assert len(app.area.visible_panes()) >= 2
        await typed_into(["g"])
        await typed_into(["s"])
        # broadcast: the line goes to every console shown
        await typed_into(["g"])
        await typed_into(["b"])
        await typed_into(["b"])
        await typed_into(["g"])
        # the sides: m shows the panel and gives it the keys, at both sizes (over the console
        # at 80, docked at 160); Esc gives the keys back (the docked panel stays)
        burst(app, ["ctrl+b", "m"])
        await until(lambda: app.panel.display, "the panel")
        await until(lambda: app.panel.has_focus_within, "the panel has the keys")
        burst(app, ["escape", *keys_of("echo back-$((1+1))")])
        await until(lambda: "back-2" in text(app.area.current), "keys to the console after Esc")
        assert app.panel.display == (size[0] == 160)
        # m twice: shown with the keys, then hidden; the keys after it are the console's
        burst(app, ["ctrl+b", "m", "ctrl+b", "m", *keys_of("echo panel-$((0+1))")])
        await until(
            lambda: "panel-1" in text(app.area.current),
            "m twice, then the console",
            extra=lambda: f"{app.focused} {app.area.current}\n{text(app.area.current)}",
        )
        assert not app.panel.display and not app.panel.has_focus_within
        burst(app, ["ctrl+b", "l"])
        await until(lambda: app.guest_tree.display and app.guest_tree.has_focus, "the guest list with the keys")
        burst(app, ["escape", *keys_of("echo list-$((2+1))")])
        await until(
            lambda: "list-3" in text(app.area.current),
            "keys to the console after the list",
            extra=lambda: f"{app.focused} {app.area.current}\n{text(app.area.current)}",
        )
        # screens: the keys after the command are that screen's
        burst(app, ["ctrl+b", "question_mark", "down", "escape", *keys_of("echo help-$((3+1))")])
        await until(lambda: "help-4" in text(app.area.current), "help seen and closed")
        burst(app, ["ctrl+b", "w", "t", "escape", *keys_of("echo net-$((4+1))")])
        await until(lambda: "net-5" in text(app.area.current), "the network view seen and closed")
        burst(app, ["ctrl+b", "left_square_bracket", "up", "up", "q", *keys_of("echo scroll-$((5+1))")])
        await until(lambda: "scroll-6" in text(app.area.current), "scrollback entered and left")
        burst(app, ["ctrl+b", "slash", *"mark", "enter", "q", *keys_of("echo found-$((6+1))")])
        await until(lambda: "found-7" in text(app.area.current), "a search, then back")
        burst(app, ["ctrl+b", "q", "escape", *keys_of("echo stay-$((7+1))")])
        await until(lambda: "stay-8" in text(app.area.current), "the quit question cancelled")
        burst(app, ["ctrl+b", "colon", "escape", *keys_of("echo palette-$((8+1))")])
        await until(lambda: "palette-9" in text(app.area.current), "the palette opened and closed")
        burst(app, ["ctrl+b", "0"])
        await until(lambda: app.area.console == "con0", "the kernel log")
        burst(app, ["ctrl+b", "1", *keys_of("echo last-$((9+1))")])
        await until(lambda: "last-10" in text(app.area.current), "con1 after the kernel log")
        assert app.is_running
        burst(app, ["ctrl+b", "d"])
        await until(lambda: not app.is_running, "detached")
    assert app.return_value == "detach"


@pytest.mark.parametrize("size", [(160, 48), (80, 24)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_the_panel_from_the_keyboard_and_the_palette(env: Env, size: tuple[int, int]) -> None:
    """One key gives the panel the keys at every size (at 160 it is docked, and prefix m
    once hid it); Tab walks its buttons and fields, in a burst; the sysrq list is drawn
    (at 80 it opened behind the panel's own widgets); every panel action is in the palette."""
    env.run("demo", "--detach", check=True)
    app = make_app(Config(), focus_guest="demo-a")
    async with app.run_test(size=size) as pilot:
        pane = await started(pilot, app)
        log = app.panel.query_one("#result")

        def answers() -> str:
            return " ".join(strip.text.strip() for strip in log.lines)  # type: ignore[attr-defined]

        # prefix m, then Tab to the proc field (stop go cad reboot halt sysrq send version proc)
        burst(app, ["ctrl+b", "m", *["tab"] * 9, *"meminfo", "enter"])
        await until(lambda: "MemTotal" in answers(), "proc meminfo typed into the panel", extra=answers)
        assert app.panel.display and isinstance(app.focused, Input) and app.focused.id == "mc-proc"
        assert "meminfo" not in text(pane)
        # Tab back to the sysrq list and open it: its options are drawn in front
        burst(app, ["shift+tab", "shift+tab", "shift+tab", "enter"])
        sysrq = app.panel.query_one("#mc-sysrq", Select)
        await until(lambda: sysrq.expanded, "the sysrq list open")
        await pilot.pause(0.3)
        shot = normalise_svg(app.export_screenshot())
        assert "m show memory" in shot and "w show blocked tasks" in shot, "the sysrq list is not drawn"
        burst(app, ["down", "enter", "tab", "enter"])  # m (show memory, under the blank), then send
        await until(lambda: "Mem-Info" in answers() or "Mem-info" in answers(), "sysrq m sent", extra=answers)
        burst(app, ["escape", *keys_of("echo back-$((2+2))")])
        await until(lambda: "back-4" in text(pane), "the console has the keys after Esc")
        # the palette: each button, each sysrq letter and each form of the panel
        titles = [c.title for c in app.panel.commands()]
        for word in ("stop", "go", "cad", "reboot", "halt", "version", "proc", "log", "stack", "disk", "NIC"):
            assert any(word in t for t in titles), word
        assert sum("sysrq" in t for t in titles) >= 20
        burst(app, ["ctrl+b", "colon", *"mconsole stop", "enter"])
        await until(lambda: app.guests["demo-a"]["state"] == "paused", "stopped from the palette", extra=answers)
        burst(app, ["ctrl+b", "colon", *"mconsole go", "enter"])
        await until(lambda: app.guests["demo-a"]["state"] == "running", "running again", extra=answers)
        burst(app, ["ctrl+b", "colon", *"mconsole log TEXT", "enter"])
        await until(lambda: isinstance(app.focused, Input) and app.focused.id == "mc-log", "the log field focused")
        assert app.panel.display
        burst(app, [*"hello-from-palette", "enter"])
        await until(lambda: "log hello-from-palette" in answers(), "the log line sent", extra=answers)


def normalise_svg(svg: str) -> str:
    """An SVG screenshot's text, spaces as one space."""
    import html
    import re

    body = svg[svg.index("<g") :]  # (past the styles)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", "", body)))


async def test_keys_still_queued_when_a_prefix_command_ends_keep_their_order(env: Env) -> None:
    """A burst's keys that the app has not read yet when a prefix command ends come after the
    keys the command held back (a second prefix among them). The old app posted those behind
    them: on a busy machine ``ctrl+b m ctrl+b m echo ...`` typed ``m`` and the line into the
    console, and the second prefix took a later key. Here the rest of the burst is posted
    while the first command runs, which is what the busy machine did, every time."""
    env.run("demo", "--detach", check=True)
    app = make_app(Config(), focus_guest="demo-a")
    async with app.run_test(size=SIZE) as pilot:
        pane = await started(pilot, app)
        await prefix(pilot, "2")
        con2 = app.area.current
        assert con2 is not None and con2 is not pane
        con2.send(b"\r")
        await until(lambda: text(con2).rstrip().endswith("#"), "a prompt on con2", extra=lambda: text(con2))
        await prefix(pilot, "1")
        await until(lambda: app.area.current is pane and app.focused is pane, "con1 again")
        command = app._prefix_command
        rest = ["2", *keys_of("echo order-$((1+1))")]

        async def slow_command(key: str) -> None:
            await command(key)
            if rest:  # the first command only: the rest of the burst arrives now
                burst(app, rest)
                rest.clear()

        app._prefix_command = slow_command  # type: ignore[method-assign]
        burst(app, ["ctrl+b", "1", "ctrl+b"])
        await until(
            lambda: "order-2" in text(con2),
            "the line on con2, after prefix 2",
            extra=lambda: f"{app.area.console}\ncon1:\n{text(pane)}\ncon2:\n{text(con2)}",
        )
        assert app.area.current is con2 and "order" not in text(pane)
        assert app.prefix_keys.screen is None and len(app.screen_stack) == 1


async def test_a_search_and_the_keys_behind_its_enter_in_one_burst(env: Env) -> None:
    """prefix / text Enter q and a command, all in one burst, many times over: q must find
    scrollback mode open (not the search field about to close, nor the console between the
    two screens), and the command reach the console. CI lost the q once. With two CPU
    spinners beside it, 30 rounds lost it in 2 of 5 runs of the old pump, in none of 3 with
    the new; without them the old pump lost nothing, so this test may not catch a return of it
    on a quiet machine."""
    env.run("demo", "--detach", check=True)
    app = make_app(Config(), focus_guest="demo-a")
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        burst(app, keys_of("echo mark-1"))
        await until(lambda: "mark-1\n" in text(app.area.current) + "\n", "the line to find")
        for i in range(30):
            burst(app, ["ctrl+b", "slash", *"mark", "enter", "q", *keys_of(f"echo found-$(({i}+1000))")])

            def found(i: int = i) -> bool:
                return f"found-{i + 1000}" in text(app.area.current)

            await until(
                found,
                f"round {i}: the search, then back, then the command",
                extra=lambda: f"{app.screen_stack} {app.focused}\n{text(app.area.current)}",
                timeout=10,
            )
        assert len(app.screen_stack) == 1
