"""Sixteen guests with six consoles each, the app attached at 160x48: boot, idle, and all
sixteen con1 flooding at once while keys are typed into one guest.

In a private umltui world:

1. ``up`` of a lab of 16 busybox guests (g0..g15, six consoles each), timed until every
   guest's con1 answers at its prompt;
2. the app (``umltui attach``) in a real 160x48 pty, showing g0 con2; idle CPU (app,
   supervisor and keeper) over ``--idle`` seconds with nothing printing;
3. every con1 floods (``seq``, numbered lines) for ``--seconds``; from 4 s after the
   floods were typed in, keys go to g0's con2 through the app; each key's echo is timed
   end to end as in echo_latency.py, in turn with keys into g0's con3 from a plain client
   of the supervisor's socket (echo_latency.py's floor: the guest, the keeper and the
   supervisor, no terminal), so a run tells a slow key the app adds from one it does not;
   the CPU and memory of the app, the supervisor and the keeper are measured meanwhile;
4. every con1 log is read back: the numbers must run without a gap (bytes lost: 0).

    python benchmarks/many_guests.py [--guests 16] [--seconds 30] [--idle 10] [--keys 100] [--spare-g0] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from ptyprocess import PtyProcess

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from console_cost import cpu_seconds, keeper_pid  # noqa: E402
from echo_latency import Floor, drain, percentiles, time_in_turn, time_key, wait_for  # noqa: E402
from world import private_world  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


async def boot(lab: Path, guests: int) -> float:
    """Seconds from ``up`` until every guest's con1 shows a prompt after an Enter."""
    from umltui.core.client import Client, call

    seen: dict[str, bytes] = {}

    def on_event(msg: dict[str, Any]) -> None:
        if msg.get("event") == "output":
            import base64

            seen[msg["guest"]] = seen.get(msg["guest"], b"")[-4096:] + base64.b64decode(msg["data"])

    start = time.monotonic()
    await call("up", lab=str(lab), timeout=600)
    client = await Client(on_event).connect()
    try:
        names = [f"many-g{i}" for i in range(guests)]
        for name in names:
            await client.request("subscribe", guest=name, console="con1", history=False)
            client.send_input(name, "con1", b"\r")
        deadline = time.monotonic() + 120
        while not all(b":/root# " in seen.get(n, b"") for n in names):
            if time.monotonic() > deadline:
                raise TimeoutError("not every guest showed its prompt")
            await asyncio.sleep(0.05)
        return time.monotonic() - start
    finally:
        await client.close()


async def type_into_all(guests: int, line: bytes, first: int = 0) -> None:
    from umltui.core.client import Client

    client = await Client(lambda msg: None).connect()
    try:
        for i in range(first, guests):
            client.send_input(f"many-g{i}", "con1", line)
        await client.request("ping", timeout=10)
    finally:
        await client.close()


def wait_for_log(log: Path, needle: bytes, timeout: float) -> bool:
    """Until ``needle`` is in the console log (as the guest's output, not as typed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and needle in log.read_bytes():
            return True
        time.sleep(0.1)
    return False


def usage(pids: dict[str, int]) -> dict[str, float]:
    return {name: cpu_seconds(pid) for name, pid in pids.items()}


def gaps(root: Path, guests: int) -> int:
    """Numbers missing from the con1 floods' logs (the newest file and the rotated one)."""
    missing = 0
    for i in range(guests):
        logs = root / "state" / "guests" / f"many-g{i}" / "logs"
        data = b"".join(p.read_bytes() for p in (logs / "con1.log.1", logs / "con1.log") if p.exists())
        numbers = [int(n) for n in re.findall(rb"^(\d+)\r?$", data, re.M)]
        # the numbers in the order logged: each the one before plus one (a rotated-away
        # start is not a gap: counted from the first number still on disk)
        missing += sum(b - a - 1 for a, b in zip(numbers, numbers[1:], strict=False) if b > a + 1)
    return missing


def measure(root: Path, guests: int, seconds: float, idle: float, keys: int, spare: bool = False) -> dict[str, Any]:
    from umltui import locations
    from umltui.core.client import supervisor_pid

    lab = root / "many.yaml"
    lab.write_text("name: many\nguests:\n" + "".join(f"  g{i}: {{}}\n" for i in range(guests)))
    boot_s = asyncio.run(boot(lab, guests))
    env = {**os.environ, "TERM": "xterm-256color", "LANG": "C.UTF-8"}
    app = PtyProcess.spawn([sys.executable, "-m", "umltui", "attach", "many-g0"], dimensions=(48, 160), env=env)
    floor: Floor | None = None
    try:
        if wait_for(app.fd, b"g0:/root#", 60) is None:
            raise RuntimeError("the app showed no prompt")
        os.write(app.fd, b"\x022")  # prefix 2: g0's con2, where the keys go
        drain(app.fd, 1.0)
        # Where the keys went, from con2's own log: a prompt shows in every console, and a
        # run whose keys all went elsewhere (once, its output not kept) cannot be told apart.
        os.write(app.fd, b"echo keys-$((6*7))\r")
        if not wait_for_log(root / "state" / "guests" / "many-g0" / "logs" / "con2.log", b"keys-42", 10):
            raise RuntimeError("prefix 2 did not bring g0's con2 to the keys: con2's log has not what was typed")
        drain(app.fd, 1.0)
        floor = Floor(locations.supervisor_socket(), "many-g0", "con3", b"g0:/root#")
        sup = supervisor_pid()
        assert sup is not None
        pids = {"app": app.pid, "supervisor": sup, "keeper": keeper_pid(root)}
        # idle: nothing printing (the app's output is read, as a terminal would)
        before, t0 = usage(pids), time.monotonic()
        drain(app.fd, idle)
        idle_pct = {k: round(100 * (v - before[k]) / (time.monotonic() - t0), 1) for k, v in usage(pids).items()}
        # every con1 floods; keys go to g0 con2 meanwhile
        line = f"timeout {seconds:g} seq 1 1000000000\r".encode()
        asyncio.run(type_into_all(guests, line, first=1 if spare else 0))
        # The floods under way a while before the keys, as when a user types into one guest
        # while the others work: the supervisor favours a guest for 3 s after its last key
        # (core/supervisor/cpu.py), and typing the floods in counts as keys.
        drain(app.fd, 4.0)
        before, t0 = usage(pids), time.monotonic()
        times = time_in_turn({"app": functools.partial(time_key, app), "floor": floor.time_key}, keys)
        latencies = times["app"]
        left = seconds - (time.monotonic() - t0)
        drain(app.fd, max(0.0, left) + 2.0)
        wall = time.monotonic() - t0
        busy_pct = {k: round(100 * (v - before[k]) / wall, 1) for k, v in usage(pids).items()}
        rss = {k: rss_mb(pid) for k, pid in pids.items()}
        os.write(app.fd, b"Q")
        echo_after = wait_for(app.fd, b"Q", 5.0)
    finally:
        if floor is not None:
            floor.close()
        app.terminate(force=True)
    p50, p99 = percentiles(latencies) if latencies else (None, None)
    f50, f99 = percentiles(times["floor"]) if times["floor"] else (None, None)
    return {
        "guests": guests,
        "consoles_each": 6,
        "boot_to_prompts_s": round(boot_s, 1),
        "idle_cpu_pct": idle_pct,
        "idle_cpu_pct_total": round(sum(idle_pct.values()), 1),
        "flood_cpu_pct": busy_pct,
        "rss_mb": rss,
        "echo_p50_ms": p50,
        "echo_p99_ms": p99,
        "keys": len(latencies),
        "keys_not_echoed": keys - len(latencies),
        "floor_echo_p50_ms": f50,
        "floor_echo_p99_ms": f99,
        "floor_keys_not_echoed": keys - len(times["floor"]),
        "echo_after_flood_ms": round(echo_after * 1000, 1) if echo_after is not None else None,
        "responsive_after_flood": echo_after is not None,
        "bytes_lost_lines": gaps(root, guests),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--guests", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--idle", type=float, default=10.0)
    parser.add_argument("--keys", type=int, default=100)
    parser.add_argument("--spare-g0", action="store_true", help="g0's con1 does not flood (the others do)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with private_world("umtm-", shutdown_timeout=120) as root:
        figures = measure(root, args.guests, args.seconds, args.idle, args.keys, args.spare_g0)
    if args.json:
        print(json.dumps(figures))
        return
    f = figures
    print(f"{f['guests']} guests x {f['consoles_each']} consoles, the app at 160x48:")
    print(f"  up to every prompt       {f['boot_to_prompts_s']} s")
    print(f"  idle CPU (% of a core)   {f['idle_cpu_pct']}  total {f['idle_cpu_pct_total']} (goal < 3)")
    print(f"  all con1 flooding:       CPU {f['flood_cpu_pct']}  RSS MB {f['rss_mb']}")
    print(f"  echo in g0 con2          p50 {f['echo_p50_ms']} ms  p99 {f['echo_p99_ms']} ms (goal < 100)")
    print(f"                           {f['keys']} keys, {f['keys_not_echoed']} not echoed within 2 s")
    print(f"  the floor (no terminal)  p50 {f['floor_echo_p50_ms']} ms  p99 {f['floor_echo_p99_ms']} ms (g0 con3)")
    print(f"  lines lost in the logs   {f['bytes_lost_lines']} (goal 0)")


if __name__ == "__main__":
    main()
