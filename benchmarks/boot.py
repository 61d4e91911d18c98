"""Boot figures: time from `up` to a shell prompt on con1, and memory per guest.

Runs in a private umltui world (its own supervisor, UML directory and state), boots the
demo lab N times, and prints the figures (``--json`` for one JSON object). Everything it
starts is taken down again.

    python benchmarks/boot.py [--runs 5] [--json]
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

PROMPT = re.compile(rb"@a:/root# ")


async def one_run() -> dict[str, float]:
    from umltui.cli import demo_lab_path
    from umltui.core.client import Client

    seen = asyncio.Event()
    buffer = bytearray()

    def on_event(msg: dict) -> None:
        if msg.get("event") == "output" and msg.get("console") == "con1":
            buffer.extend(base64.b64decode(msg["data"]))
            if PROMPT.search(buffer):
                seen.set()

    client = await Client(on_event).connect()
    try:
        await client.request("down", all=True, timeout=60)
        t0 = time.perf_counter()
        await client.request("up", lab=str(demo_lab_path()), timeout=90)
        t_up = time.perf_counter() - t0
        await client.request("subscribe", guest="demo-a", console="con1")
        await asyncio.wait_for(seen.wait(), 30)
        t_prompt = time.perf_counter() - t0
        mem = [await client.request("memory", guest=g) for g in ("demo-a", "demo-b")]
        return {"up_s": t_up, "prompt_s": t_prompt, "pss_mib": statistics.mean(m["pss_kib"] for m in mem) / 1024}
    finally:
        await client.request("down", all=True, timeout=60)
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="umtb-", dir="/tmp"))
    for key, sub in (("RUNTIME", "run"), ("STATE", "state"), ("UML", "uml"), ("CONFIG", "config")):
        os.environ[f"UMLTUI_{key}_DIR"] = str(root / sub)
    os.environ.setdefault("UMLTUI_CACHE_DIR", str(Path(tempfile.gettempdir()) / "umltui-test-cache"))
    try:
        runs = [asyncio.run(one_run()) for _ in range(args.runs)]
    finally:
        from umltui.core.client import call

        with contextlib.suppress(Exception):  # best effort; the supervisor may be gone already
            asyncio.run(call("shutdown", halt=True))
        shutil.rmtree(root, ignore_errors=True)
    figures = {
        "runs": args.runs,
        "up_to_prompt_s_median": round(statistics.median(r["prompt_s"] for r in runs), 3),
        "up_to_prompt_s_max": round(max(r["prompt_s"] for r in runs), 3),
        "up_returns_s_median": round(statistics.median(r["up_s"] for r in runs), 3),
        "pss_mib_per_guest_median": round(statistics.median(r["pss_mib"] for r in runs), 1),
    }
    if args.json:
        print(json.dumps(figures))
    else:
        print(f"demo lab (2 guests, 64M each), {args.runs} runs")
        print(
            f"  up -> prompt on demo-a con1: median {figures['up_to_prompt_s_median']} s, "
            f"max {figures['up_to_prompt_s_max']} s"
        )
        print(f"  up returns (both guests running, consoles attached): median {figures['up_returns_s_median']} s")
        print(f"  memory per guest (PSS of its host processes): {figures['pss_mib_per_guest_median']} MiB")


if __name__ == "__main__":
    main()
