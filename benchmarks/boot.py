"""Boot figures: time from `up` to a shell prompt on con1, memory per guest, and disk.

Runs in a private umltui world (its own supervisor, UML directory and state), boots the
busybox demo lab and the Debian demo lab N times each, alternating, in the same run,
and prints the figures (``--json`` for one JSON object). The Debian image is built first
if the cache has none (its build time is not counted). Everything it starts is taken
down again.

    python benchmarks/boot.py [--runs 5] [--roots busybox,debian] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import re
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

PROMPT = re.compile(rb"root@a:\S*# ")
LABS = {"busybox": "demo.yaml", "debian": "demo-debian.yaml"}


async def one_run(root: str) -> dict[str, float]:
    from umltui.cli import labs_dir
    from umltui.core.client import Client
    from umltui.locations import guest_dir

    seen = asyncio.Event()
    buffer = bytearray()
    lab = "demo" if root == "busybox" else "demo-debian"

    def on_event(msg: dict[str, Any]) -> None:
        if msg.get("event") == "output" and msg.get("console") == "con1":
            buffer.extend(base64.b64decode(msg["data"]))
            if PROMPT.search(buffer):
                seen.set()

    client = await Client(on_event).connect()
    try:
        await client.request("down", all=True, clean=True, timeout=60)
        t0 = time.perf_counter()
        await client.request("up", lab=str(labs_dir() / LABS[root]), timeout=120)
        t_up = time.perf_counter() - t0
        await client.request("subscribe", guest=f"{lab}-a", console="con1")
        await asyncio.wait_for(seen.wait(), 60)
        t_prompt = time.perf_counter() - t0
        mem = [await client.request("memory", guest=f"{lab}-{g}") for g in ("a", "b")]
        cow = guest_dir(f"{lab}-a") / "root.cow"
        return {
            "up_s": t_up,
            "prompt_s": t_prompt,
            "pss_mib": statistics.mean(m["pss_kib"] for m in mem) / 1024,
            "cow_mib": cow.stat().st_blocks * 512 / 2**20 if cow.exists() else 0.0,
        }
    finally:
        await client.request("down", all=True, clean=True, timeout=60)
        await client.close()


def summary(runs: list[dict[str, float]]) -> dict[str, float]:
    return {
        "up_to_prompt_s_median": round(statistics.median(r["prompt_s"] for r in runs), 3),
        "up_to_prompt_s_max": round(max(r["prompt_s"] for r in runs), 3),
        "up_returns_s_median": round(statistics.median(r["up_s"] for r in runs), 3),
        "pss_mib_per_guest_median": round(statistics.median(r["pss_mib"] for r in runs), 1),
        "cow_mib_after_boot_max": round(max(r["cow_mib"] for r in runs), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--roots", default="busybox,debian", help="which demo labs, in this order")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    roots = [r for r in args.roots.split(",") if r]
    root = Path(tempfile.mkdtemp(prefix="umtb-", dir="/tmp"))
    for key, sub in (("RUNTIME", "run"), ("STATE", "state"), ("UML", "uml"), ("CONFIG", "config")):
        os.environ[f"UMLTUI_{key}_DIR"] = str(root / sub)
    os.environ.setdefault("UMLTUI_CACHE_DIR", str(Path(tempfile.gettempdir()) / "umltui-test-cache"))
    if "debian" in roots:
        from umltui.core.images import Recipe, build
        from umltui.core.kernels.pick import pick

        kernel = pick("debian")  # the kernel Debian guests boot with here (fetched on first need)
        build(Recipe.make(), modules_dir=Path(kernel.modules) if kernel.modules else None)
    results: dict[str, list[dict[str, float]]] = {r: [] for r in roots}
    try:
        for _ in range(args.runs):
            for r in roots:  # alternating, so both see the same machine
                results[r].append(asyncio.run(one_run(r)))
    finally:
        from umltui.core.client import call

        with contextlib.suppress(Exception):  # best effort; the supervisor may be gone already
            asyncio.run(call("shutdown", halt=True))
        shutil.rmtree(root, ignore_errors=True)
    figures = {"runs": args.runs, **{r: summary(results[r]) for r in roots}}
    if args.json:
        print(json.dumps(figures))
        return
    for r in roots:
        f = figures[r]
        print(f"{r} demo lab (2 guests), {args.runs} runs")
        print(
            f"  up -> prompt on con1 of guest a: median {f['up_to_prompt_s_median']} s, max {f['up_to_prompt_s_max']} s"
        )
        print(f"  up returns (both guests running, consoles attached): median {f['up_returns_s_median']} s")
        print(f"  memory per guest (PSS of its host processes): {f['pss_mib_per_guest_median']} MiB")
        if f["cow_mib_after_boot_max"]:
            print(f"  COW file of guest a after boot: {f['cow_mib_after_boot_max']} MiB on disk (largest)")


if __name__ == "__main__":
    main()
