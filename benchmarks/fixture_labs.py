"""How long the three public fixture labs (``tests/fixtures/labs/``) take on this machine.

Each lab is copied unchanged to a private world's folder and booted with the supervisor's
``up`` (as ``umltui up DIR`` does); then the pings the lab is built for are waited for:

- ``kathara-lab_frr``, ``kathara-lab_quagga``: r1 reaches 220.0.0.1 and 200.0.0.2, and r3
  reaches 100.0.0.1 (routes learned by RIP), each tried from the guest's shell every 0.2 s;
- ``abr``: both hosts have written ``ping_successful_a``/``_b`` into the lab's folder (their
  own unit pings across the router).

It prints, per lab, ``up_s`` (from ``up`` until it returns: every guest booted and its
startup run) and ``pings_s`` (from ``up`` until the last of its pings answered). The lab's
image is built first if the cache has none (not counted).

    python benchmarks/fixture_labs.py [--runs 1] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from big_lab import build_image  # noqa: E402
from world import private_world  # noqa: E402

LABS = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "labs"
PROMPT = re.compile(rb"# (\x1b\[6n|\x1b\[J)?$")
# The guest, and the addresses it must reach, for each RIP lab.
RIP_PINGS = {"r1": ("220.0.0.1", "200.0.0.2"), "r3": ("100.0.0.1",)}


async def run_lab(world: Path, fixture: str) -> dict[str, float]:
    from umltui.core.client import Client

    folder = world / fixture
    shutil.copytree(LABS / fixture, folder, symlinks=True)
    out: dict[str, bytearray] = {}

    def on_event(msg: dict[str, Any]) -> None:
        if msg.get("event") == "output" and msg.get("console") == "con1":
            out.setdefault(msg["guest"], bytearray()).extend(base64.b64decode(msg["data"]))

    async def wait_for(guest: str, pattern: re.Pattern[bytes], timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pattern.search(bytes(out.get(guest, b""))):
                return time.monotonic()
            await asyncio.sleep(0.02)
        raise TimeoutError(f"{guest}: no {pattern.pattern!r} in {timeout:.0f} s: {bytes(out.get(guest, b''))[-300:]!r}")

    async def pings(guest: str, addresses: tuple[str, ...]) -> float:
        await client.request("subscribe", guest=guest, console="con1")
        await wait_for(guest, PROMPT, 120)  # a getty drops what is typed before its shell is up
        probes = " && ".join(f"ping -c1 -W1 {a} >/dev/null" for a in addresses)
        client.send_input(guest, "con1", f"until {probes}; do sleep 0.2; done; echo PINGS-$((6*7))\r".encode())
        return await wait_for(guest, re.compile(rb"PINGS-42"), 300)

    async def files(names: tuple[str, ...]) -> float:
        deadline = time.monotonic() + 300
        while not all((folder / n).exists() for n in names):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{fixture}: no {', '.join(names)} in 300 s")
            await asyncio.sleep(0.02)
        return time.monotonic()

    client = await Client(on_event).connect()
    try:
        t0 = time.monotonic()
        result = await client.request("up", lab=str(folder), timeout=900)
        up_s = time.monotonic() - t0
        if fixture == "abr":
            done = await files(("ping_successful_a", "ping_successful_b"))
        else:
            lab = result["lab"]["name"]
            done = max(await asyncio.gather(*(pings(f"{lab}-{g}", a) for g, a in RIP_PINGS.items())))
        return {"up_s": round(up_s, 2), "pings_s": round(done - t0, 2)}
    finally:
        await client.request("down", all=True, clean=True, timeout=300)
        await client.close()
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures: dict[str, Any] = {}
    with private_world("umtfix-", shutdown_timeout=120) as world:
        labs = Path(tempfile.mkdtemp(prefix="labs-", dir=world))
        built = build_image(LABS / "kathara-lab_frr")  # the three share the lab image
        runs: dict[str, list[dict[str, float]]] = {}
        for _ in range(args.runs):
            for fixture in ("abr", "kathara-lab_frr", "kathara-lab_quagga"):
                runs.setdefault(fixture, []).append(asyncio.run(run_lab(labs, fixture)))
        for fixture, rs in runs.items():
            figures[fixture] = {k: round(statistics.median(r[k] for r in rs), 2) for k in ("up_s", "pings_s")}
        figures["runs"] = args.runs
        figures["image_build_s"] = round(built, 1) if built is not None else None
    if args.json:
        print(json.dumps(figures))
        return
    for fixture in ("abr", "kathara-lab_frr", "kathara-lab_quagga"):
        f = figures[fixture]
        print(f"{fixture}: up {f['up_s']} s, its pings answered {f['pings_s']} s after up began")


if __name__ == "__main__":
    main()
