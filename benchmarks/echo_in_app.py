"""Echo latency inside the app under load: a key sent to a guest's console, until the widget renders its echo.

(End to end, through a real terminal and beside tmux: benchmarks/echo_latency.py.)

A real demo guest with two consoles shown in widgets of one headless app (``run_test``):
con2 floods at full speed (``yes`` and ``dmesg`` loops) while keys go to con1's shell. For
each key, the time from sending it to the moment the widget renders the echoed character
in its cursor row. Runs in a private umltui world and takes everything down again.

    python benchmarks/echo_in_app.py [--keys 200] [--json] [--supervisor-only] [--no-freeze]

It also reports the garbage collector's full sweeps during the typing (count, longest).
``--no-freeze`` leaves out what the app does once it is up (``freeze_startup_objects``),
to show what that buys. ``--supervisor-only`` leaves the app out: a bare supervisor
client times the echo of each key in the raw bytes, under the same flood (unsubscribed),
for comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from textual.app import App, ComposeResult
from textual.containers import Horizontal
from textual.strip import Strip

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from world import private_world  # noqa: E402

from umltui.fastpath.collector import freeze_startup_objects  # noqa: E402
from umltui.widgets.terminal import TerminalView  # noqa: E402

FLOOD = os.environb.get(b"FLOOD", b"while true; do yes 'flood flood flood flood' | head -n 2000; dmesg; done\r")


class Probe(TerminalView):
    """Notes when its cursor row first shows the character it waits for."""

    def __init__(self) -> None:
        super().__init__()
        self.expect: tuple[int, int, str] | None = None  # (screen row, column, character)
        self.sent_at = 0.0
        self.seen = asyncio.Event()
        self.latency = 0.0

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        if self.expect is not None:
            row, col, char = self.expect
            if self.scroll_offset.y + y - len(self.terminal.screen.history) == row:
                text = "".join(seg.text for seg in strip)
                if text[col : col + 1] == char:
                    self.latency = time.perf_counter() - self.sent_at
                    self.expect = None
                    self.seen.set()
        return strip


class FullCollections:
    """How long the garbage collector's full (generation 2) sweeps stall the loop, while on."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self._start = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.pauses.append(time.perf_counter() - self._start)

    def __enter__(self) -> FullCollections:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)


class Bench(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.probe = Probe()
        self.flood = TerminalView()

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield self.probe
            yield self.flood


async def wait_text(view: TerminalView, needle: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while needle not in "\n".join(view.screen_text()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{needle!r} not seen")
        await asyncio.sleep(0.05)


async def measure(keys: int, freeze: bool = True) -> dict[str, Any]:
    from umltui.cli import demo_lab_path
    from umltui.core.client import call
    from umltui.terminal.connection import ConsoleHub

    await call("up", lab=str(demo_lab_path()), timeout=120)
    app = Bench()
    latencies: list[float] = []
    async with app.run_test(size=(200, 40)) as pilot:
        hub = await ConsoleHub().connect()
        try:
            app.probe.attach(await hub.console("demo-a", "con1", history=False))
            app.flood.attach(await hub.console("demo-a", "con2", history=False))
            app.probe.send(b"\r")
            app.flood.send(b"\r")
            await wait_text(app.probe, "a:/root#")
            if freeze:
                freeze_startup_objects()  # as the app does once it is up
            app.probe.focus()
            await pilot.pause(0.2)
            app.flood.send(FLOOD)
            await asyncio.sleep(2.0)  # let the flood get going
            flood_before = app.flood.bytes_in
            t_flood = time.perf_counter()
            with FullCollections() as sweeps:
                await type_keys(app, keys, latencies)
            flood_rate = (app.flood.bytes_in - flood_before) / (time.perf_counter() - t_flood) / 1e6
            app.flood.send(b"\x03")
        finally:
            await hub.close()
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(round(0.99 * (len(latencies) - 1))))]
    return {
        "keys": len(latencies),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(p99 * 1000, 2),
        "max_ms": round(latencies[-1] * 1000, 2),
        "flood_mb_s": round(flood_rate, 3),
        "full_gc_count": len(sweeps.pauses),
        "full_gc_max_ms": round(max(sweeps.pauses, default=0.0) * 1000, 2),
    }


async def type_keys(app: Bench, keys: int, latencies: list[float]) -> None:
    """Type ``keys`` characters into the probe, noting each one's time to echo."""
    for i in range(keys):
        screen = app.probe.terminal.screen
        char = "abcdefghij"[i % 10]
        app.probe.expect = (screen.cursor.y, screen.cursor.x, char)
        app.probe.seen.clear()
        app.probe.sent_at = time.perf_counter()
        app.probe.send(char.encode())
        await asyncio.wait_for(app.probe.seen.wait(), 10)
        latencies.append(app.probe.latency)
        if screen.cursor.x > 60:  # erase what we typed; not timed
            app.probe.send(b"\x15")  # ctrl+u
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.01)


async def measure_supervisor(keys: int) -> dict[str, Any]:
    """The same keys and flood without the app: the supervisor's own part of the latency."""
    import base64

    from umltui.cli import demo_lab_path
    from umltui.core.client import Client, call

    await call("up", lab=str(demo_lab_path()), timeout=120)
    seen = asyncio.Event()
    buffer = bytearray()

    def on_event(msg: dict[str, Any]) -> None:
        if msg.get("event") == "output" and msg.get("console") == "con1":
            buffer.extend(base64.b64decode(msg["data"]))
            seen.set()

    client = await Client(on_event).connect()
    try:
        await client.request("subscribe", guest="demo-a", console="con1", history=False)
        client.send_input("demo-a", "con1", b"\r")
        client.send_input("demo-a", "con2", b"\r" + FLOOD)
        await asyncio.sleep(2.0)
        latencies = []
        for i in range(keys):
            buffer.clear()
            t0 = time.perf_counter()
            client.send_input("demo-a", "con1", b"x")
            while b"x" not in buffer:
                seen.clear()
                await asyncio.wait_for(seen.wait(), 10)
            latencies.append(time.perf_counter() - t0)
            if i % 50 == 49:
                client.send_input("demo-a", "con1", b"\x15")  # ctrl+u: erase what we typed; not timed
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.01)
        client.send_input("demo-a", "con2", b"\x03")
    finally:
        await client.close()
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(round(0.99 * (len(latencies) - 1))))]
    return {
        "keys": len(latencies),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(p99 * 1000, 2),
        "max_ms": round(latencies[-1] * 1000, 2),
        "flood_mb_s": None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--supervisor-only", action="store_true", help="leave the app out (see above)")
    parser.add_argument("--no-freeze", action="store_true", help="do not freeze the start-up objects (see above)")
    args = parser.parse_args()
    with private_world("umte-"):
        if args.supervisor_only:
            figures = asyncio.run(measure_supervisor(args.keys))
        else:
            figures = asyncio.run(measure(args.keys, freeze=not args.no_freeze))
    if args.json:
        print(json.dumps(figures))
    else:
        shown = "supervisor only, no app" if args.supervisor_only else f"{figures['flood_mb_s']} MB/s shown"
        print(f"echo latency on demo-a con1 while con2 floods ({shown}), {figures['keys']} keys:")
        print(
            f"  p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms, max {figures['max_ms']} ms (goal: p99 < 30 ms)"
        )
        if "full_gc_count" in figures:
            print(
                f"  full garbage collections while typing: {figures['full_gc_count']}, "
                f"longest {figures['full_gc_max_ms']} ms"
            )


if __name__ == "__main__":
    main()
