"""tmux as the reference terminal: the same bytes fed to a detached tmux pane, its screen read back.

One private tmux server (its own socket in a temporary folder) runs each sample in a new
detached session of the given size. The pane's program puts its pty in raw mode (so the bytes reach
tmux as they are, with no CR added to LF), writes the sample, waits a moment for tmux to
read it all, then signals the test. ``capture-pane -p`` gives the text,
``#{cursor_x},#{cursor_y}`` the cursor, and ``capture-pane -e -N`` the attributes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Capture:
    rows: list[str]  # the screen, trailing blanks removed
    history: list[str]  # the scrollback, oldest first, trailing blanks removed
    cursor: tuple[int, int]  # (x, y)
    styled: list[str] | None = None  # the screen with its attributes (capture-pane -e -N), when asked
    cells: list[list[tuple[str, Any]]] | None = None  # the same as cells: the model's own captures only


class Tmux:
    """A private tmux server; :meth:`screen` feeds one sample to a fresh window."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="umltui-tmux-"))
        self.socket = self.dir / "sock"
        self.count = 0
        self._run("-f", "/dev/null", "new-session", "-d", "-s", "oracle", "-x", "80", "-y", "24", "sleep 100000")
        self._run("set", "-g", "history-limit", "10000")

    def _run(self, *args: str) -> str:
        out = subprocess.run(
            ["tmux", "-S", str(self.socket), *args], capture_output=True, text=True, timeout=30, check=True
        )
        return out.stdout

    def screen(self, data: bytes, columns: int = 80, lines: int = 24, *, styled: bool = False) -> Capture:
        self.count += 1
        name = f"w{self.count}"
        sample = self.dir / f"{name}.bin"
        sample.write_bytes(data)
        script = f"stty raw -echo; cat {sample}; sleep 0.3; tmux -S {self.socket} wait-for -S {name}; exec sleep 100000"
        self._run("new-session", "-d", "-s", name, "-x", str(columns), "-y", str(lines), script)
        self._run("wait-for", name)
        target = f"{name}:"
        text = self._run("capture-pane", "-p", "-t", target, "-S", "-", "-E", "-")
        rows = [r.rstrip() for r in text.split("\n")[:-1]]
        size = int(self._run("display", "-p", "-t", target, "#{history_size}").strip())
        x, y = self._run("display", "-p", "-t", target, "#{cursor_x},#{cursor_y}").strip().split(",")
        # -e: SGR sequences where the attributes change (carried from row to row); -N: every
        # cell written, trailing blanks too (a coloured background on spaces counts).
        colours = self._run("capture-pane", "-p", "-e", "-N", "-t", target).split("\n")[:-1] if styled else None
        self._run("kill-session", "-t", name)
        return Capture(rows[size:], rows[:size], (int(x), int(y)), colours)

    def close(self) -> None:
        subprocess.run(["tmux", "-S", str(self.socket), "kill-server"], capture_output=True, timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)


def available() -> bool:
    return shutil.which("tmux") is not None and os.name == "posix"
