"""How fast a UML console floods into a plain reader of its pty, by the reader's terminal settings.

One busybox guest in a private umltui world (console_cost.py's lab): con3 is ``con=pts``
but not umltui's. For each setting below, a reader opens con3's ``/dev/pts/N``, sets it,
and reads everything for ``--seconds`` while ``yes`` floods ``/dev/tty3`` in the guest:

- ``raw``: ``tty.setraw`` (what umltui sets on its consoles' ptys);
- ``raw+vmin100``: raw, VMIN 100 and VTIME 2 (what ``screen`` sets on a line it opens);
- ``raw+ixon``: raw with IXON;
- ``raw+echo``: raw with ECHO (the echo goes back to the guest as console input);
- ``raw+busy``: raw, while two host processes spin (the host's cores are contended, as
  they are when the app, the supervisor and the keeper are working);
- ``raw+busy+kick``: the same, but after every read of 2 KiB or more the reader sends
  the guest's kernel a SIGIO (what umltui's keeper does, see ``umltui/core/pty.py``).

    python benchmarks/pty_pace.py [--seconds 5] [--json]

The figures are the bytes per second each reader got (JSON: setting to bytes per second).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import select
import signal
import subprocess
import sys
import termios
import time
import tty
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from console_cost import LAB, flood, shell  # noqa: E402
from world import private_world  # noqa: E402


def configure(fd: int, setting: str) -> None:
    tty.setraw(fd, termios.TCSANOW)
    attrs = termios.tcgetattr(fd)
    if setting == "raw+vmin100":
        attrs[6][termios.VMIN], attrs[6][termios.VTIME] = 100, 2
    elif setting == "raw+ixon":
        attrs[0] |= termios.IXON
    elif setting == "raw+echo":
        attrs[3] |= termios.ECHO
    termios.tcsetattr(fd, termios.TCSANOW, attrs)


def read_rate(pts: str, setting: str, seconds: float, kernel: int) -> float:
    fd = os.open(pts, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    spinners = []
    if "busy" in setting:
        spin = [sys.executable, "-c", "while True: pass"]
        spinners = [subprocess.Popen(spin) for _ in range(2)]
    pidfd = os.pidfd_open(kernel) if "kick" in setting else None
    try:
        configure(fd, setting.split("+busy")[0])
        flood("tty3", seconds)
        got, end = 0, time.monotonic() + seconds + 0.5
        while (left := end - time.monotonic()) > 0:
            if select.select([fd], [], [], left)[0]:
                with contextlib.suppress(BlockingIOError):
                    n = len(os.read(fd, 1 << 16))
                    got += n
                    if pidfd is not None and n >= 2048:
                        signal.pidfd_send_signal(pidfd, signal.SIGIO)
        time.sleep(0.5)  # the flood's end: the next setting starts from a quiet line
        return got / seconds
    finally:
        for p in spinners:
            p.kill()
            p.wait(timeout=10)
        if pidfd is not None:
            os.close(pidfd)
        os.close(fd)


def measure(root: Path, seconds: float) -> dict[str, float]:
    from umltui.core.client import call

    lab = root / "cost.yaml"
    lab.write_text(LAB)
    asyncio.run(call("up", lab=str(lab), timeout=120))
    time.sleep(1.0)
    asyncio.run(shell("(sleep 100000 > /dev/tty3 &)"))  # con3 gets its pty when first opened
    pts = None
    for _ in range(50):
        answer = asyncio.run(call("mconsole", guest="cost-g", command="config con3", timeout=10))
        if m := re.search(r"(/dev/pts/\d+)", str(answer)):
            pts = m.group(1)
            break
        time.sleep(0.1)
    if pts is None:
        raise RuntimeError("con3 is not on a pty")
    guests = asyncio.run(call("ls", timeout=10))
    kernel = next(g["pid"] for g in guests if g["umid"] == "cost-g" or g["name"] == "cost-g")
    settings = ("raw", "raw+vmin100", "raw+ixon", "raw+echo", "raw+busy", "raw+busy+kick")
    return {s: round(read_rate(pts, s, seconds, kernel)) for s in settings}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with private_world("umtp-") as root:
        figures = measure(root, args.seconds)
    if args.json:
        print(json.dumps(figures))
        return
    print(f"a UML console flooding for {args.seconds:g} s into a reader of its pty:")
    for setting, rate in figures.items():
        print(f"  {setting:14} {rate / 1000:8.1f} KB/s")


if __name__ == "__main__":
    main()
