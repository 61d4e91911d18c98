"""The real app in a real terminal: tmux, at 160x48 and 80x24, typed into with send-keys
(a whole command after the prefix in one go, as a user pastes or SSH delivers it).

The guest's terminal size must be the pane's (``stty size`` in con1), at start, after
zoom, after the grid and after the window is resized, without a key pressed for it; and
a full-screen program (busybox vi) fills the pane."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid

import pytest
from conftest import Env, requires_uml

pytestmark = [
    requires_uml,
    pytest.mark.uml,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux"),
]


class Tmux:
    def __init__(self, env: Env, width: int, height: int) -> None:
        self.sock = f"umt-{uuid.uuid4().hex[:8]}"
        self.env = {**os.environ, **env.vars}
        cmd = f"{sys.executable} -m umltui attach demo-a"
        self.run("new-session", "-d", "-x", str(width), "-y", str(height), cmd)

    def run(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self.sock, *args], capture_output=True, text=True, env=self.env, timeout=10, check=True
        ).stdout

    def screen(self) -> list[str]:
        return self.run("capture-pane", "-p").splitlines()

    def keys(self, *keys: str) -> None:
        self.run("send-keys", *keys)

    def wait(self, pattern: str, timeout: float = 20) -> list[str]:
        deadline = time.monotonic() + timeout
        while True:
            lines = self.screen()
            if re.search(pattern, "\n".join(lines)):
                return lines
            if time.monotonic() > deadline:
                raise AssertionError(f"no {pattern!r} on the screen:\n" + "\n".join(lines))
            time.sleep(0.2)

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.sock, "kill-server"], capture_output=True, env=self.env)


def pane_size(lines: list[str], title: str = "demo-a · con1") -> tuple[int, int]:
    """Rows and columns a bordered console pane gives the guest: inside its border, less the scrollbar."""
    top = next(i for i, line in enumerate(lines) if title in line)
    left = lines[top].rindex("╭", 0, lines[top].index(title))
    right = lines[top].index("╮", left)
    bottom = next(i for i in range(top + 1, len(lines)) if lines[i][left : left + 1] == "╰")
    return bottom - top - 1, right - left - 2


def stty(t: Tmux, n: int, *command: str) -> tuple[int, int]:
    """The guest's size, asked in the same send-keys as ``command`` (a prefix command) if given."""
    t.keys(*command, f"clear; echo size-$(({n}+0)) $(stty size)", "Enter")
    lines = t.wait(rf"size-{n} \d+ \d+")
    m = re.search(rf"size-{n} (\d+) (\d+)", "\n".join(lines))
    assert m is not None
    return int(m.group(1)), int(m.group(2))


@pytest.mark.parametrize("size", [(160, 48), (80, 24)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_guest_size_follows_the_pane_and_prefix_commands_in_one_send_keys(env: Env, size: tuple[int, int]) -> None:
    width, height = size
    env.run("demo", "--detach", check=True)
    t = Tmux(env, width, height)
    try:
        t.wait(r"a:/root#")
        time.sleep(0.5)
        rows, cols = stty(t, 1)
        assert (rows, cols) == pane_size(t.screen())
        if width == 80:
            assert cols >= 76  # the console has the width
        # zoom: the whole screen but the footer, as tmux gives a zoomed pane all but its bar
        t.keys("C-b", "z")
        time.sleep(0.5)
        assert stty(t, 2) == (height - 1, width)
        t.keys("C-b", "z")
        time.sleep(0.5)
        assert stty(t, 3) == (rows, cols)
        # the grid: the pane is narrower, and the guest is told
        t.keys("C-b", "g")
        time.sleep(0.5)
        in_grid = stty(t, 4)
        assert in_grid == pane_size(t.screen()) and in_grid[1] < cols
        t.keys("C-b", "g")
        time.sleep(0.5)
        # the same in one send-keys, the line right behind the command: it must see the new size
        # (it saw the size before a zoom: the keys went before the pane was laid out again)
        assert stty(t, 12, "C-b", "z") == (height - 1, width)
        assert stty(t, 13, "C-b", "z") == (rows, cols)
        assert stty(t, 14, "C-b", "g") == in_grid
        assert stty(t, 15, "C-b", "g") == (rows, cols)
        # the window resized (the user's terminal): the guest follows
        t.run("resize-window", "-x", str(width + 20), "-y", str(height + 6))
        time.sleep(1)
        resized = stty(t, 5)
        assert resized == pane_size(t.screen()) and resized != (rows, cols)
        # a full-screen program fills the pane: busybox vi's last line is the pane's last row
        t.keys("vi /tmp/x", "Enter")
        lines = t.wait(r"~")
        tildes = sum(1 for line in lines if "│~ " in line)
        assert tildes == resized[0] - 2, "\n".join(lines)  # every row but the first and the status line
        t.keys("Escape", ":q!", "Enter")
        # a whole command after the prefix in one send-keys: the command, then the line on con2
        t.keys("C-b", "2", "echo fast-$((40+2))", "Enter")
        t.wait(r"fast-42")
        assert "demo-a · con2" in "\n".join(t.screen())
    finally:
        t.close()
