"""What a capture costs the segment it watches: pings between two guests, side by side.

Two busybox guests on one switch (a hub on the wire, as umltui runs its switches), in a
private umltui world. Guest a pings b (``ping -c N -i 0.01``) four times in one run:

- ``none``: no capture;
- ``reading``: a capture (``umltui.core.capture.Capture``) whose consumer takes every frame;
- ``behind``: a capture whose consumer takes nothing (it drops its own frames);
- ``stalled``: a port on the switch that nobody reads at all (its socket stays full).

    python benchmarks/capture_cost.py [--count 500] [--json]

JSON: for each case ``received`` (of ``count``), ``avg_ms`` and ``max_ms`` (ping's round
trip), and for the captures the frames they got and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from world import private_world  # noqa: E402

LAB = """\
name: capcost
switches:
  lan0: {}
guests:
  a:
    nics:
      eth0: {switch: lan0, ip: 10.0.0.1/24}
  b:
    nics:
      eth0: {switch: lan0, ip: 10.0.0.2/24}
"""
SUMMARY = re.compile(rb"(\d+) packets transmitted, (\d+) packets received.*?= [\d.]+/([\d.]+)/([\d.]+) ms", re.S)


async def ping(count: int, tag: str) -> dict[str, float]:
    from umltui.core.client import Client

    out = bytearray()
    seen = asyncio.Event()

    def on_event(msg: dict[str, Any]) -> None:
        if msg.get("event") == "output" and msg.get("console") == "con1":
            out.extend(base64.b64decode(msg["data"]))
            seen.set()

    client = await Client(on_event).connect()
    try:
        await client.request("subscribe", guest="capcost-a", console="con1", history=False)
        marker = f"END-{tag}"
        command = f"ping -q -c {count} -i 0.01 -W 5 10.0.0.2; echo {marker[:2]}''{marker[2:]}\r"
        client.send_input("capcost-a", "con1", command.encode())
        deadline = time.monotonic() + 60 + count * 0.05
        while marker.encode() not in out:
            if time.monotonic() > deadline:
                raise RuntimeError(f"ping did not finish: {bytes(out[-300:])!r}")
            seen.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(seen.wait(), 1.0)
    finally:
        await client.close()
    m = SUMMARY.search(bytes(out))
    if not m:
        raise RuntimeError(f"no ping summary: {bytes(out[-300:])!r}")
    return {"received": int(m.group(2)), "avg_ms": float(m.group(3)), "max_ms": float(m.group(4))}


def measure(root: Path, count: int) -> dict[str, Any]:
    from umltui.core.capture import Capture, SwitchPort
    from umltui.core.client import call

    lab = root / "capcost.yaml"
    lab.write_text(LAB)
    asyncio.run(call("up", lab=str(lab), timeout=120))
    time.sleep(2.0)  # both shells up
    ctl = root / "run" / "switches" / "capcost" / "lan0"  # the segment's folder
    figures: dict[str, Any] = {"count": count}
    asyncio.run(ping(5, "warm"))  # ARP and the first round trips out of the way
    figures["none"] = asyncio.run(ping(count, "none"))

    reading = Capture(SwitchPort(ctl))
    taken = 0
    try:

        async def drain_while_pinging() -> dict[str, float]:
            nonlocal taken
            task = asyncio.create_task(ping(count, "reading"))
            while not task.done():
                taken += len(reading.frames(0))
                await asyncio.sleep(0.05)
            return await task

        figures["reading"] = {**asyncio.run(drain_while_pinging()), "frames": taken, "dropped": reading.dropped}
    finally:
        reading.close()

    behind = Capture(SwitchPort(ctl), queue_frames=10)
    try:
        figures["behind"] = {**asyncio.run(ping(count, "behind")), "frames": behind.captured, "dropped": behind.dropped}
    finally:
        behind.close()

    stalled = SwitchPort(ctl)
    try:
        figures["stalled"] = asyncio.run(ping(count, "stalled"))
    finally:
        stalled.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with private_world("umcap-") as root:
        figures = measure(root, args.count)
    if args.json:
        print(json.dumps(figures))
        return
    print(f"a pings b {args.count} times at 100 per second, on one switch:")
    for case in ("none", "reading", "behind", "stalled"):
        f = figures[case]
        extra = f"  capture got {f['frames']}, dropped {f['dropped']}" if "frames" in f else ""
        print(f"  {case:8} {f['received']}/{args.count} answered  avg {f['avg_ms']} ms  max {f['max_ms']} ms{extra}")


if __name__ == "__main__":
    main()
