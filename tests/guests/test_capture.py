"""Packet capture on real segments: real guests pinging over real VDE hubs and switches."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from conftest import Env, requires_uml
from helpers import Console, until

pytestmark = [requires_uml, pytest.mark.uml]

LAB = """\
name: cap
switches:
  sw0: {capture: 1M}
  hub0: {hub: true}
  learn0: {learning: true}
guests:
  a:
    nics:
      eth0: {switch: sw0, ip: 10.0.0.1/24}
      eth1: {switch: hub0, ip: 10.1.0.1/24}
      eth2: {switch: learn0, ip: 10.2.0.1/24}
  b:
    nics:
      eth0: {switch: sw0, ip: 10.0.0.2/24}
      eth1: {switch: hub0, ip: 10.1.0.2/24}
      eth2: {switch: learn0, ip: 10.2.0.2/24}
"""


def start_capture(env: Env, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "umltui", "capture", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env.vars},
    )


def stop_capture(proc: subprocess.Popen[str]) -> tuple[str, str]:
    proc.send_signal(signal.SIGINT)
    try:
        return proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


def icmp_lines(pcap: Path, *filter_words: str) -> list[str]:
    out = subprocess.run(
        ["tcpdump", "-n", "-r", str(pcap), "icmp", *filter_words], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


async def test_capture_on_a_switch_and_a_hub_while_two_guests_ping(env: Env, tmp_path: Path) -> None:
    assert env.run("up", str(env.write_lab("cap", LAB)), "--detach", timeout=120).returncode == 0
    on_switch = start_capture(env, "cap/sw0", "-w", str(tmp_path / "sw0.pcap"))
    on_hub = start_capture(env, "cap/hub0", "-w", str(tmp_path / "hub0.pcap"))
    live = start_capture(env, "cap/sw0", "icmp")  # decoded lines, with a filter
    on_learning = start_capture(env, "cap/learn0", "-w", str(tmp_path / "learn0.pcap"))
    procs = [on_switch, on_hub, live, on_learning]
    try:
        time.sleep(1.5)  # the ports are on their switches
        async with Console("cap-a") as con:
            await con.ready()
            for net in ("10.0.0", "10.1.0", "10.2.0"):
                out = await con.run(f"ping -c 3 -W 5 {net}.2", f"P{net[-3]}", timeout=30)
                assert "3 packets received" in out, out
        time.sleep(0.5)
        (_, switch_err), (_, hub_err), (text, _), (_, learn_err) = [stop_capture(p) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for name, net in (("sw0", "10.0.0"), ("hub0", "10.1.0")):
        lines = icmp_lines(tmp_path / f"{name}.pcap")
        assert sum(f"{net}.1 > {net}.2: ICMP echo request" in line for line in lines) == 3, lines
        assert sum(f"{net}.2 > {net}.1: ICMP echo reply" in line for line in lines) == 3, lines
    assert "frames captured on cap/sw0" in switch_err and "dropped" not in switch_err
    assert "frames captured on cap/hub0" in hub_err
    assert sum("ICMP echo request" in line for line in text.splitlines()) == 3, text  # like tcpdump -n -e
    assert all(" > " in line and "ethertype IPv4" in line for line in text.splitlines()), text
    # A learning switch sends unicast only to its port: the capture says so, and sees no ICMP.
    assert "learning switch" in learn_err
    assert icmp_lines(tmp_path / "learn0.pcap") == []
    # The supervisor's rolling capture of sw0 kept the pings too, after the fact.
    saved = env.run("capture", "cap/sw0", "--saved", "-w", str(tmp_path / "saved.pcap"), check=True)
    assert saved.returncode == 0
    assert len(icmp_lines(tmp_path / "saved.pcap", "and", "src", "10.0.0.1")) == 3


async def test_a_slow_capture_loses_its_own_frames_not_the_guests(env: Env) -> None:
    from umltui.core.capture import Capture, SwitchPort

    assert env.run("up", str(env.write_lab("cap", LAB)), "--detach", timeout=120).returncode == 0
    ctl = Path(env.vars["UMLTUI_RUNTIME_DIR"]) / "switches" / "cap" / "hub0"  # the segment's folder
    stalled = SwitchPort(ctl)  # a port nobody reads: its pipe fills
    behind = Capture(SwitchPort(ctl), queue_frames=5)  # a consumer that never takes its frames
    try:
        async with Console("cap-a") as con:
            await con.ready()
            out = await con.run("ping -c 100 -i 0.02 -W 5 10.1.0.2", "PDONE", timeout=60)
            assert "100 packets transmitted, 100 packets received" in out, out
        time.sleep(0.3)
        assert behind.captured >= 200 and behind.dropped >= 195  # its own frames, counted
        assert len(behind.frames(0)) == 5
    finally:
        stalled.close()
        behind.close()


async def test_the_packets_pane_live_with_a_filter_pause_and_save(
    env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rich.text import Text
    from test_app import SIZE, prefix, started, type_line
    from textual.widgets import DataTable, Input, Log

    from umltui.app import make_app
    from umltui.config import Config
    from umltui.screens.network import NetworkScreen
    from umltui.screens.packets import PacketsScreen

    monkeypatch.setenv("HOME", str(tmp_path))
    env.run("demo", "--detach", check=True)
    app = make_app(Config(), focus_guest="demo-a")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await started(pilot, app)
        await prefix(pilot, "w")
        net = app.screen
        assert isinstance(net, NetworkScreen)
        await until(lambda: bool(net.net.get("nics")) and net.query_one(DataTable).row_count > 0, "the NICs")
        table: DataTable[Any] = net.query_one("DataTable", DataTable)
        # Cells are text, not markup: a MAC such as 02:19:1e:ab:dd:5c showed an emoji for ":ab:".
        assert all(isinstance(cell, Text) for cell in table.get_row_at(0)), table.get_row_at(0)
        table.focus()
        await pilot.press("c")
        await until(lambda: isinstance(app.screen, PacketsScreen), "the packets pane")
        pane = app.screen
        assert isinstance(pane, PacketsScreen) and pane.where == "demo/lan0"
        await until(lambda: pane.capture is not None and pane.decoder is not None, "the capture started")
        await pilot.pause(0.5)
        app.area.current.send(b"ping -c 2 10.0.0.2\r")  # type: ignore[union-attr]
        log = pane.query_one(Log)

        def lines() -> list[str]:
            return [str(line) for line in log.lines]

        await until(
            lambda: sum("ICMP echo reply" in x for x in lines()) == 2, "two replies", extra=lambda: "\n".join(lines())
        )
        assert sum("10.0.0.1 > 10.0.0.2: ICMP echo request" in x for x in lines()) == 2
        assert "Packets on demo/lan0 (switch)" in str(pane.query_one("#pk-title").render())
        # A bad filter is refused with tcpdump's words, shown as text: "[/x]" as markup ended the app.
        box = pane.query_one("#pk-filter", Input)
        box.focus()
        box.value = "[/x]"
        await pilot.press("enter")
        await pilot.pause(1.0)
        assert pane.filter == [] and app.is_running
        # A filter applies to what was captured already, as a display filter does.
        box.value = ""
        await type_line(pilot, "icmp")
        await until(
            lambda: pane.filter == ["icmp"] and len(lines()) == 4, "icmp only", extra=lambda: "\n".join(lines())
        )
        assert all("ICMP" in x for x in lines())
        # Paused, new lines wait; going on shows them.
        log.focus()
        await pilot.press("space")
        assert pane.paused
        app.area.current.send(b"ping -c 1 10.0.0.2\r")  # type: ignore[union-attr]
        await until(lambda: len(pane.waiting) == 2, "two lines waiting")
        assert len(lines()) == 4
        await pilot.press("space")
        assert len(lines()) == 6
        await pilot.press("ctrl+s")
        saved = list((tmp_path / "umltui-captures").glob("demo-lan0-*.pcap"))
        assert len(saved) == 1 and len(icmp_lines(saved[0])) == 6
        await pilot.press("escape")
        await until(lambda: isinstance(app.screen, NetworkScreen), "back to the network view")
        assert pane.capture is None


async def test_the_packets_pane_at_80_columns_wraps_each_frame_whole(env: Env) -> None:
    # Issue 40, 4: at 80 columns every line was cut at "10.0.0.2 > 10.0.0.1: IC".
    from test_app import prefix, started
    from textual.widgets import DataTable, Log

    from umltui.app import make_app
    from umltui.config import Config
    from umltui.screens.network import NetworkScreen
    from umltui.screens.packets import PacketsScreen

    env.run("demo", "--detach", check=True)
    app = make_app(Config(), focus_guest="demo-a")
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        await prefix(pilot, "w")
        net = app.screen
        assert isinstance(net, NetworkScreen)
        await until(lambda: net.query_one(DataTable).row_count > 0, "the NICs")
        net.query_one(DataTable).focus()
        await pilot.press("c")
        await until(lambda: isinstance(app.screen, PacketsScreen), "the packets pane")
        pane = app.screen
        assert isinstance(pane, PacketsScreen)
        await until(lambda: pane.capture is not None and pane.decoder is not None, "the capture started")
        await pilot.pause(0.5)
        app.area.current.send(b"ping -c 2 10.0.0.2\r")  # type: ignore[union-attr]
        log = pane.query_one(Log)

        def rows() -> list[str]:
            return [str(line) for line in log.lines]

        def frames() -> list[str]:  # each frame's rows joined again
            out: list[str] = []
            for row in rows():
                if row.startswith("    ") and out:  # (a frame wrapped: the rest is indented)
                    out[-1] += " " + row.strip()
                else:
                    out.append(row)
            return out

        await until(
            lambda: sum("ICMP echo reply, id" in f for f in frames()) == 2,
            "two replies",
            extra=lambda: "\n".join(rows()),
        )
        width = log.size.width - log.styles.scrollbar_size_vertical
        assert all(len(row) <= width for row in rows()), rows()
        replies = [f for f in frames() if "10.0.0.2 > 10.0.0.1: ICMP echo reply, id" in f]
        assert len(replies) == 2 and all(re.search(r"seq \d+, length 64$", f) for f in replies), replies
        # Wider, the frames are wrapped again: an echo is one line now.
        await pilot.resize_terminal(160, 48)

        def whole() -> list[str]:
            return [r for r in rows() if re.search(r"ICMP echo reply, id \d+, seq \d+, length 64$", r)]

        await until(lambda: len(whole()) == 2, "an echo on one line at 160 columns", extra=lambda: "\n".join(rows()))
        assert len(frames()) == len(pane.shown)
        await pilot.press("escape")


@pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")
async def test_capture_on_a_tap_in_the_labs_namespace(env: Env, tmp_path: Path) -> None:
    ns = f"umt-{uuid.uuid4().hex[:8]}"
    env.namespaces.append(ns)
    lab = f"name: taps\nnetns: {ns}\ntaps:\n  tap0: {{ip: 10.77.0.254/24}}\nguests:\n  t:\n    nics:\n"
    lab += "      eth0: {tap: tap0, ip: 10.77.0.1/24}\n"
    assert env.run("up", str(env.write_lab("taps", lab)), "--detach", timeout=120).returncode == 0
    proc = start_capture(env, "taps/tap0", "-w", str(tmp_path / "tap0.pcap"))
    try:
        time.sleep(1.5)  # tcpdump is listening
        async with Console("taps-t") as con:
            await con.ready()
            assert "2 packets received" in await con.run("ping -c 2 -W 5 10.77.0.254", "PT", timeout=30)
        time.sleep(0.5)
        stop_capture(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines = icmp_lines(tmp_path / "tap0.pcap")
    assert sum("10.77.0.1 > 10.77.0.254: ICMP echo request" in line for line in lines) == 2, lines
    assert sum("10.77.0.254 > 10.77.0.1: ICMP echo reply" in line for line in lines) == 2, lines
