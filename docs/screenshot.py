"""Make docs/umltui.svg, the README's picture: the demo lab at 160x48, a ping on demo-a's con1.

Run it in a umltui world of your own (it boots the demo there and leaves it up):
    XDG_RUNTIME_DIR=... XDG_STATE_HOME=... python docs/screenshot.py
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

from umltui.app import make_app
from umltui.config import Config

OUT = Path(__file__).parent / "umltui.svg"


async def until(test: object, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not test():  # type: ignore[operator]
        if time.monotonic() > end:
            raise TimeoutError("the demo did not get there in time")
        await asyncio.sleep(0.1)


async def main() -> None:
    subprocess.run([sys.executable, "-m", "umltui", "demo", "--detach"], check=True)
    app = make_app(Config(), focus_guest="demo-a")
    async with app.run_test(size=(160, 48)) as pilot:
        await until(lambda: app.area.current is not None and app.area.current.connection is not None)
        pane = app.area.current
        assert pane is not None
        pane.send(b"clear; ping -c 3 10.0.0.2\r")
        await until(lambda: any("packet loss" in row for row in pane.screen_text()))
        await pilot.pause(1.0)
        app.save_screenshot(str(OUT))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    asyncio.run(main())
