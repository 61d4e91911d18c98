"""The app in a real browser: Debian's chromium-headless-shell, driven by Playwright, on `umltui web`;
and the server's token and origin checks against another local user, for real (uid 65534)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

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


def start_web(env: Env, port: int) -> tuple[subprocess.Popen[bytes], str]:
    """`umltui web` on loopback, and the URL it printed (the one with the token)."""
    server = subprocess.Popen(
        [sys.executable, "-m", "umltui", "web", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, **env.vars},
    )
    assert server.stderr is not None
    line = b""
    while b"the app is at " not in line:
        line = server.stderr.readline()
        if not line:
            server.wait(timeout=20)
            raise AssertionError("umltui web exited without printing its URL")
    wait_port(port, server)
    return server, line.decode().split("the app is at ", 1)[1].split()[0]


def stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


class Tab:
    """A browser tab on the app, and every websocket frame the app sent it (tabs of one context share cookies)."""

    def __init__(self, context, url: str) -> None:  # type: ignore[no-untyped-def]
        self.frames: list[bytes] = []
        self.page = context.new_page()
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
    server, url = start_web(env, port)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=BROWSER, args=["--no-sandbox"])
            try:
                context = browser.new_context(viewport={"width": 1280, "height": 800})
                first = Tab(context, url)
                assert first.page.url == f"http://127.0.0.1:{port}/"  # redirected: the token left the address bar
                (cookie,) = context.cookies()  # ... for a cookie scripts cannot read
                assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["value"] in url
                first.wait_for(b"con1")  # the app is drawn (on a canvas: its bytes tell)
                first.page.mouse.click(700, 400)  # focus the terminal
                first.page.wait_for_timeout(500)
                first.page.keyboard.type("echo web-$((6*7))\n")
                first.wait_for(b"web-42")  # the guest's answer, not the typed text
                first.page.screenshot(path=str(tmp_path / "web.png"))
                assert (tmp_path / "web.png").stat().st_size > 10_000
                second = Tab(context, f"http://127.0.0.1:{port}/")  # another tab: in by the cookie
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
        stop(server)


# Another user's HTTP client, by hand on a plain socket: argv is the port, the path and extra headers.
NOBODY_CLIENT = """
import os, socket, sys
assert (os.getuid(), os.getgid(), os.getgroups()) == (65534, 65534, [])
port, path, *headers = sys.argv[1:]
request = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", *headers, "", ""]
with socket.create_connection(("127.0.0.1", int(port)), timeout=20) as s:
    s.sendall("\\r\\n".join(request).encode())
    head = b""
    while b"\\r\\n\\r\\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            break
        head += chunk
print(head.split(b"\\r\\n\\r\\n")[0].decode())
"""
UPGRADE = [
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version: 13",
]


def as_nobody(port: int, path: str, *headers: str) -> tuple[int, list[str]]:
    """The status and the response's head lines a request gets when uid 65534 sends it: another local user."""
    proc = subprocess.run(
        ["/usr/bin/python3", "-I", "-c", NOBODY_CLIENT, str(port), path, *headers],
        user=65534,
        group=65534,
        extra_groups=[],
        cwd="/",
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout.split()[1]), proc.stdout.splitlines()


@pytest.mark.skipif(os.geteuid() != 0, reason="runs a client as uid 65534, which needs root")
def test_another_local_user_needs_the_token_and_the_servers_own_origin(env: Env) -> None:
    env.run("demo", "--detach", check=True)
    port = free_port()
    server, url = start_web(env, port)
    try:
        token = parse_qs(urlsplit(url).query).get("token", [""])[0]
        me = f"Origin: http://127.0.0.1:{port}"
        status, _ = as_nobody(port, "/ws", *UPGRADE)
        assert status == 403, "a websocket without the token was let in"
        status, _ = as_nobody(port, "/")
        assert status == 403
        status, _ = as_nobody(port, "/?token=" + token[::-1])
        assert status == 403
        status, head = as_nobody(port, "/?token=" + token)
        assert status == 303 and "Location: /" in head, head  # the token leaves the address bar ...
        set_cookie = next(h for h in head if h.lower().startswith("set-cookie:"))
        assert {"HttpOnly", "Path=/", "SameSite=Strict"} <= {a.strip() for a in set_cookie.split(";")}
        cookie = "Cookie: " + set_cookie.split(":", 1)[1].split(";")[0].strip()  # ... for a cookie
        status, _ = as_nobody(port, "/", cookie)
        assert status == 200
        status, _ = as_nobody(port, "/ws", *UPGRADE, cookie, "Origin: http://evil.example")
        assert status == 403, "a page of another origin opened the websocket"
        status, _ = as_nobody(port, "/ws", *UPGRADE, cookie, me)
        assert status == 101
        status, _ = as_nobody(port, "/ws", *UPGRADE, cookie, f"Origin: http://localhost:{port}")
        assert status == 101
    finally:
        stop(server)


def test_web_refuses_a_non_loopback_address_without_the_flag(env: Env) -> None:
    proc = env.run("web", "--host", "0.0.0.0", "--port", str(free_port()))
    assert proc.returncode == 2 and "root shells" in proc.stderr and "--allow-remote" in proc.stderr
