"""The app in a real browser: Debian's chromium-headless-shell, driven by Playwright, on `umltui web`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import Env, requires_uml

pytestmark = [requires_uml, pytest.mark.uml]
BROWSER = "/usr/bin/chromium-headless-shell"
needs_browser = pytest.mark.skipif(not Path(BROWSER).exists(), reason="needs Debian's chromium-headless-shell")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"umltui web exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"umltui web did not listen on {port} within {timeout}s")


class Tab:
    """A browser tab on the app, and every websocket frame the app sent it."""

    def __init__(self, browser, url: str) -> None:  # type: ignore[no-untyped-def]
        self.frames: list[bytes] = []
        self.page = browser.new_page(viewport={"width": 1280, "height": 800})
        self.page.on("websocket", lambda ws: ws.on("framereceived", self._frame))
        self.page.goto(url)

    def _frame(self, payload: bytes | str) -> None:
        self.frames.append(payload if isinstance(payload, bytes) else payload.encode())

    def wait_for(self, what: bytes, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while what not in b"".join(self.frames):
            if time.monotonic() > deadline:
                tail = b"".join(self.frames)[-400:]
                raise AssertionError(f"{what!r} not in what the app sent the browser in {timeout}s: {tail!r}")
            self.page.wait_for_timeout(100)


@needs_browser
def test_the_app_in_a_browser_echoes_keys_and_tabs_share_the_guests(env: Env, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    env.run("demo", "--detach", check=True)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "umltui", "web", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, **env.vars},
    )
    try:
        wait_port(port, server)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=BROWSER, args=["--no-sandbox"])
            try:
                first = Tab(browser, f"http://127.0.0.1:{port}/")
                first.wait_for(b"con1")  # the app is drawn (on a canvas: its bytes tell)
                first.page.mouse.click(700, 400)  # focus the terminal
                first.page.wait_for_timeout(500)
                first.page.keyboard.type("echo web-$((6*7))\n")
                first.wait_for(b"web-42")  # the guest's answer, not the typed text
                first.page.screenshot(path=str(tmp_path / "web.png"))
                assert (tmp_path / "web.png").stat().st_size > 10_000
                second = Tab(browser, f"http://127.0.0.1:{port}/")  # a second client of the same supervisor
                second.wait_for(b"web-42")  # the shared console's screen, with what the first tab typed
                first.page.close()
                time.sleep(1)
                assert {g["state"] for g in env.ls()} == {"running"}  # the guests outlive the tab
                second.page.mouse.click(700, 400)
                second.page.wait_for_timeout(500)
                second.page.keyboard.type("echo again-$((6*8))\n")
                second.wait_for(b"again-48")
            finally:
                browser.close()
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_web_refuses_a_non_loopback_address_without_the_flag(env: Env) -> None:
    proc = env.run("web", "--host", "0.0.0.0", "--port", str(free_port()))
    assert proc.returncode == 2 and "root shells" in proc.stderr and "--allow-remote" in proc.stderr
