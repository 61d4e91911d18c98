"""Console ingest rate: stock pyte, our terminal model and tmux, on one sample, in one run.

The sample is a deterministic ~16 MB console-like stream (coloured log lines, long lines
that wrap, short lines, cursor moves, a progress line redrawn with CR), generated here.
All three consume it at 120x40.

    python benchmarks/console_ingest.py [--mb 16] [--json]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

COLS, ROWS = 120, 40


def make_sample(size: int, seed: int = 7) -> bytes:
    rng = random.Random(seed)
    words = [
        w.encode()
        for w in (
            "kernel",
            "eth0",
            "link",
            "up",
            "ubd1",
            "mount",
            "hostfs",
            "ping",
            "10.0.0.2",
            "bytes",
            "from",
            "seq",
            "ttl=64",
            "time",
            "ms",
            "systemd",
            "init",
            "getty",
            "tty1",
        )
    ]
    colours = [
        b"\x1b[0m",
        b"\x1b[1;32m",
        b"\x1b[31m",
        b"\x1b[33;44m",
        b"\x1b[38;5;208m",
        b"\x1b[38;2;10;200;90m",
        b"\x1b[7m",
        b"\x1b[4m",
    ]
    out = bytearray()
    n = 0
    while len(out) < size:
        n += 1
        kind = rng.random()
        if kind < 0.6:  # a log line with a coloured tag
            text = b" ".join(rng.choice(words) for _ in range(rng.randint(3, 14)))
            out += b"[%8d.%06d] " % (n, rng.randint(0, 999999)) + rng.choice(colours) + b"INFO" + b"\x1b[0m " + text
            out += b"\r\n"
        elif kind < 0.75:  # a long line that wraps
            out += b" ".join(rng.choice(words) for _ in range(rng.randint(30, 60))) + b"\r\n"
        elif kind < 0.9:  # a short line
            out += rng.choice(words) + b"\r\n"
        elif kind < 0.97:  # a progress line redrawn in place
            for pct in range(0, 101, 25):
                out += b"\r\x1b[K" + rng.choice(colours) + b"progress %3d%%" % pct + b"\x1b[0m"
            out += b"\r\n"
        else:  # cursor moves: save, jump, write, restore
            out += b"\x1b7\x1b[%d;%dH\x1b[1mstatus %d\x1b[0m\x1b8" % (rng.randint(1, ROWS), rng.randint(1, 100), n)
    return bytes(out[:size])


def rate(label: str, size: int, seconds: float) -> float:
    mb_s = size / seconds / 1e6
    print(f"  {label:<34} {seconds:7.2f} s  {mb_s:7.2f} MB/s")
    return mb_s


def time_feed(make_stream, data: bytes, chunk: int = 4096) -> float:  # type: ignore[no-untyped-def]
    gc.collect()  # what the run before left (pyte's parser is a cycle) is not this one's to sweep
    feed = make_stream()
    t0 = time.perf_counter()
    for i in range(0, len(data), chunk):
        feed(data[i : i + chunk])
    return time.perf_counter() - t0


def pyte_history() -> object:
    import pyte

    screen = pyte.HistoryScreen(COLS, ROWS, history=10000)
    return pyte.ByteStream(screen).feed


def ours() -> object:
    from umltui.terminal.model import Terminal

    return Terminal(COLS, ROWS, history=10000).feed


def time_tmux(path: Path, timeout: float = 600) -> float | None:
    tmux = shutil.which("tmux")
    if not tmux:
        return None
    sock = f"umltui-bench-{os.getpid()}"
    done = path.with_suffix(".done")
    cmd = f"cat {path}; touch {done}; sleep 60"
    t0 = time.perf_counter()
    subprocess.run(
        [tmux, "-L", sock, "-f", "/dev/null", "new-session", "-d", "-x", str(COLS), "-y", str(ROWS), cmd], check=True
    )
    try:
        while not done.exists():
            if time.perf_counter() - t0 > timeout:
                return None
            time.sleep(0.005)
        return time.perf_counter() - t0
    finally:
        subprocess.run([tmux, "-L", sock, "kill-server"], capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=16.0, help="sample size in MB")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    data = make_sample(int(args.mb * 1e6))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "sample.bin")
        path.write_bytes(data)
        if not args.json:
            lines = data.count(b"\n")
            print(f"sample: {len(data) / 1e6:.1f} MB, {lines} lines, {COLS}x{ROWS}")
        report = print if not args.json else (lambda *a, **k: None)
        figures: dict[str, float | None] = {}
        for label, key, make in (
            ("pyte.HistoryScreen(history=10000)", "pyte_mb_s", pyte_history),
            ("umltui model (history=10000)", "umltui_mb_s", ours),
        ):
            seconds = time_feed(make, data)
            figures[key] = round(len(data) / seconds / 1e6, 3)
            report(f"  {label:<34} {seconds:7.2f} s  {figures[key]:7.2f} MB/s")
        tmux_seconds = time_tmux(path)
        figures["tmux_mb_s"] = round(len(data) / tmux_seconds / 1e6, 3) if tmux_seconds else None
        if tmux_seconds:
            tmux = f"{figures['tmux_mb_s']:7.2f} MB/s"
            report(f"  {'tmux (cat in a detached session)':<34} {tmux_seconds:7.2f} s  {tmux}")
    ours_mb_s, pyte_mb_s, tmux_mb_s = figures["umltui_mb_s"], figures["pyte_mb_s"], figures["tmux_mb_s"]
    if args.json:
        print(json.dumps(figures))
    elif tmux_mb_s and ours_mb_s and pyte_mb_s:
        print(
            f"umltui / tmux: {ours_mb_s / tmux_mb_s:.2f} (goal: at least 0.5); "
            f"umltui / pyte: {ours_mb_s / pyte_mb_s:.1f}x"
        )


if __name__ == "__main__":
    main()
