"""A teaching-sized Netkit lab: 20 FRR routers in a ring and 2 hosts, OSPF, on this machine.

Writes the lab as a Netkit/Kathará folder (``lab.conf``, a folder per router with
``etc/frr/``, ``.startup`` files), boots it with ``umltui up DIR`` in a private world, and
prints:

- ``up_s``: from ``up`` until it returns (every guest booted, its startup run, its
  consoles attached);
- ``converged_s``: from ``up`` until host ``h1`` pings ``h2`` across the ring (OSPF has
  converged: the path is ten routers long);
- ``memory_gib``: the PSS of every guest's host processes, summed (and per guest);
- ``idle_cpu_pct``: the lab's CPU over ``--idle`` seconds, ``--settle`` seconds after
  convergence (the last adjacencies' flooding and route calculations done), as a share of
  the machine (every core), and of one core;
- ``frr_rss_mib``: what FRR's daemons take inside one router (the share a container of the
  same lab would hold: the rest of a guest is its kernel and systemd);
- ``image_build_s``: the image build, when the cache had none (not counted in ``up_s``).

    python benchmarks/big_lab.py [--routers 20] [--idle 20] [--settle 10] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from console_cost import cpu_seconds  # noqa: E402
from world import private_world  # noqa: E402

DAEMONS = "zebra=yes\nospfd=yes\nstaticd=yes\n"


def write_lab(folder: Path, routers: int) -> None:
    """Routers r1..rN in a ring (link i joins r_i's eth1 to r_{i+1}'s eth0), host h1 on r1,
    host h2 on the router half-way round."""
    far = routers // 2 + 1
    conf = ['LAB_DESCRIPTION="umltui benchmark: OSPF ring"', f'LAB_NAME="ring{routers}"']
    for i in range(1, routers + 1):
        conf += [f"r{i}[0]=ring{(i - 2) % routers + 1}", f"r{i}[1]=ring{i}"]
        addrs = [f"10.1.{(i - 2) % routers + 1}.2/24", f"10.1.{i}.1/24"]
        edge = {1: "10.2.1.1/24", far: "10.2.2.1/24"}.get(i)
        if edge:
            conf.append(f"r{i}[2]=edge{1 if i == 1 else 2}")
        startup = [f"ip address add {a} dev eth{n}" for n, a in enumerate(addrs)]
        startup += [f"ip address add {edge} dev eth2"] if edge else []
        startup += ["systemctl start frr"]
        (folder / f"r{i}.startup").write_text("\n".join(startup) + "\n")
        frr = folder / f"r{i}" / "etc" / "frr"
        frr.mkdir(parents=True)
        (frr / "daemons").write_text(DAEMONS)
        # The interfaces' timers before `router ospf` (FRR's own order): the other way round, its
        # `network` line starts OSPF on them with the default 40 s wait before they are set.
        (frr / "frr.conf").write_text(
            f"hostname r{i}\n"
            "interface eth0\n ip ospf hello-interval 1\n ip ospf dead-interval 4\n"
            "interface eth1\n ip ospf hello-interval 1\n ip ospf dead-interval 4\n"
            "router ospf\n"
            f" ospf router-id 10.0.0.{i}\n"
            " network 10.0.0.0/8 area 0\n"
            " timers throttle spf 0 50 500\n"
        )
    for h in (1, 2):
        conf.append(f"h{h}[0]=edge{h}")
        (folder / f"h{h}.startup").write_text(
            f"ip address add 10.2.{h}.10/24 dev eth0\nip route add default via 10.2.{h}.1\n"
        )
    (folder / "lab.conf").write_text("\n".join(conf) + "\n")


async def run(folder: Path, routers: int, idle: float, settle: float) -> dict[str, Any]:
    from umltui.core.client import Client
    from umltui.core.process import descendants

    out: dict[str, bytearray] = {}
    lab = f"ring{routers}"

    def on_event(msg: dict[str, Any]) -> None:
        if msg.get("event") == "output" and msg.get("console") == "con1":
            out.setdefault(msg["guest"], bytearray()).extend(base64.b64decode(msg["data"]))

    async def wait_for(guest: str, pattern: bytes, timeout: float) -> re.Match[bytes]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if m := re.search(pattern, out.get(guest, b"")):
                return m
            await asyncio.sleep(0.05)
        raise TimeoutError(f"{guest}: no {pattern!r} in {timeout:.0f} s: {bytes(out.get(guest, b''))[-300:]!r}")

    client = await Client(on_event).connect()
    try:
        t0 = time.monotonic()
        result = await client.request("up", lab=str(folder), timeout=900)
        up_s = time.monotonic() - t0
        for w in result.get("warnings", []):
            print(f"warning: {w}", file=sys.stderr)
        h1 = f"{lab}-h1"
        await client.request("subscribe", guest=h1, console="con1", history=False)
        # An unreachable network fails at once: without the pause, h1 would spin ping, a core's worth.
        client.send_input(
            h1, "con1", b"until ping -c1 -W1 10.2.2.10 >/dev/null; do sleep 0.2; done; echo CONV-$((6*7))\r"
        )
        await wait_for(h1, rb"CONV-42", 300)
        converged_s = time.monotonic() - t0
        r1 = f"{lab}-r1"
        await client.request("subscribe", guest=r1, console="con1", history=False)
        client.send_input(
            r1,
            "con1",
            b"echo FRR-RSS $(ps -C zebra,ospfd,staticd,watchfrr,mgmtd -o rss= | awk '{s+=$1} END {print s}')-KIB\r",
        )
        frr_kib = int((await wait_for(r1, rb"FRR-RSS (\d+)-KIB", 30)).group(1))
        guests = await client.request("ls")
        mine = [g for g in guests if g.get("lab") == lab]
        mem = {g["name"]: (await client.request("memory", guest=g["umid"]))["pss_kib"] for g in mine}
        pids = {p for g in mine if g.get("pid") for p in (g["pid"], *descendants(g["pid"]))}

        def lab_cpu() -> float:
            total = 0.0
            for pid in pids:
                with contextlib.suppress(OSError):
                    total += cpu_seconds(pid)
            return total

        await asyncio.sleep(settle)
        c0, w0 = lab_cpu(), time.monotonic()
        await asyncio.sleep(idle)
        used, wall = lab_cpu() - c0, time.monotonic() - w0
        cores = os.cpu_count() or 1
        return {
            "routers": routers,
            "guests": len(mine),
            "up_s": round(up_s, 2),
            "converged_s": round(converged_s, 2),
            "memory_gib": round(sum(mem.values()) / 2**20, 3),
            "pss_mib_per_guest_median": round(statistics.median(mem.values()) / 1024, 1),
            "pss_mib_per_guest_max": round(max(mem.values()) / 1024, 1),
            "idle_cpu_pct_of_machine": round(100 * used / wall / cores, 2),
            "idle_cpu_pct_of_one_core": round(100 * used / wall, 2),
            "frr_rss_mib": round(frr_kib / 1024, 1),
        }
    finally:
        await client.request("down", all=True, clean=True, timeout=300)
        await client.close()


def build_image(folder: Path) -> float | None:
    """Build the lab's image first (its build is not the lab's boot); seconds, or None if cached."""
    from umltui.core.images import Recipe, build, find_image
    from umltui.core.kernels.pick import pick
    from umltui.core.lab import load_lab

    lab = load_lab(folder)
    root = next(iter(lab.guests.values())).root
    kernel = pick(root.kind)
    modules = Path(kernel.modules) if kernel.modules else None
    recipe = Recipe.for_root(root)
    if find_image(recipe, modules.name if modules else None):
        return None
    t0 = time.monotonic()
    build(recipe, modules_dir=modules)
    return time.monotonic() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routers", type=int, default=20)
    parser.add_argument("--idle", type=float, default=20.0, help="seconds of idle CPU measured after convergence")
    parser.add_argument("--settle", type=float, default=10.0, help="seconds after convergence before the idle CPU")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with private_world("umtbig-", shutdown_timeout=300) as world:
        folder = Path(tempfile.mkdtemp(prefix="ring-", dir=world))
        write_lab(folder, args.routers)
        built = build_image(folder)
        figures = asyncio.run(run(folder, args.routers, args.idle, args.settle))
        figures["image_build_s"] = round(built, 1) if built is not None else None
    if args.json:
        print(json.dumps(figures))
        return
    f = figures
    print(f"{f['routers']} FRR routers in an OSPF ring and 2 hosts ({f['guests']} guests), {os.cpu_count()} cores")
    print(f"  up (every guest booted, startup run, consoles attached): {f['up_s']} s")
    print(f"  converged (h1 pings h2 across the ring): {f['converged_s']} s after up began")
    print(
        f"  memory: {f['memory_gib']} GiB for the lab (PSS), {f['pss_mib_per_guest_median']} MiB per guest "
        f"(median; max {f['pss_mib_per_guest_max']})"
    )
    print(f"  FRR's daemons inside r1: {f['frr_rss_mib']} MiB RSS")
    print(
        f"  idle CPU: {f['idle_cpu_pct_of_machine']} % of the machine ({f['idle_cpu_pct_of_one_core']} % of one core)"
    )
    if f["image_build_s"] is not None:
        print(f"  (the lab's image was built first: {f['image_build_s']} s, not counted)")


if __name__ == "__main__":
    main()
