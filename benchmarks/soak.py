"""Soak: consoles flooding while guests and the daemons are killed, paused and started again at random.

    python benchmarks/soak.py [--minutes 10] [--guests 2] [--seed 1] [--json]

A private umltui world (its own runtime, state and UML directories) runs a lab of busybox
guests. In each guest's con2 an interactive shell prints numbered lines as fast as it can,
``s<boot>:<n>.``, after a ``trap`` that records any SIGHUP in ``/root/hup`` (the guests'
roots are host folders, so the soak reads that file directly). Every few seconds one of:

- the supervisor gets SIGKILL, and the next ``ls`` starts another, which adopts everything;
- the supervisor and the keeper get SIGKILL together (what the OOM killer may do): the
  guests' pty holders keep every console from hanging up, and the next ``ls`` starts both;
- the keeper is stopped (SIGSTOP) for 2 to 8 s, then goes on (SIGCONT): it is waited for,
  never replaced nor read beside;
- a 64 KB paste (shell lines appending numbered lines to ``/root/paste-K``) goes into a
  guest's con1 while its con2 floods, and is waited for (``max_paste_s``): input a
  supervisor has not yet written to its guest dies with it, so no kill comes meanwhile;
- a guest gets SIGKILL (its main process), then ``up`` boots it again and its flood restarts.

``ls`` is timed all along, through the client API. At the end the floods are stopped and
each console log is checked, boot by boot: every number from 0 to the last one seen exactly
once. Printed figures:

- ``bytes_lost``: the bytes of the lines missing or doubled inside a boot's sequence (what a
  guest printed while it lived; what a killed guest had not yet handed to its pty is not
  "printed");
- ``hangups_seen``: lines in the guests' ``/root/hup`` files;
- ``paste_bytes_lost``: bytes of the pastes' lines missing from their files (a paste into a
  guest killed afterwards is not counted); ``deaf_consoles``: con1s that do not answer a
  last ``echo`` at the end;
- ``orphans``: processes of the soak's guests left over 3 s after each guest kill, plus any
  process of the soak's world still there after ``down --all`` and the supervisor's stop;
- ``max_ls_ms`` (and ``p50_ls_ms``): how long ``ls`` took, restarts included.

Nothing here sends traffic anywhere: the guests are on one unix-socket switch.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

FLOOD = (
    "trap 'echo HUP >> /root/hup' HUP; b=$(cut -c1-8 /proc/sys/kernel/random/boot_id); i=0; "
    'while true; do echo "s$b:$i."; i=$((i+1)); done\n'
)
LINE = re.compile(rb"^s([0-9a-f]{8}):(\d+)\.\r?$", re.M)
PASTE_LINES = 1200  # of 66 bytes: 79 KB


def paste_text(k: int) -> tuple[str, list[str]]:
    """The paste's shell lines, and the lines they leave in ``/root/paste-K``."""
    lines = [f"p{k}:{i:05d} {'z' * 40}" for i in range(PASTE_LINES)]
    return "".join(f"echo {line} >>/root/paste-{k}\r" for line in lines), lines


class World:
    """A private umltui world for the soak, and the commands it runs in it."""

    def __init__(self, guests: int) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="umltui-soak-"))
        self.env = {
            **os.environ,
            "UMLTUI_RUNTIME_DIR": str(self.root / "run"),
            "UMLTUI_STATE_DIR": str(self.root / "state"),
            "UMLTUI_UML_DIR": str(self.root / "uml"),
            "UMLTUI_CONFIG_DIR": str(self.root / "config"),
            "UMLTUI_CACHE_DIR": os.environ.get(
                "UMLTUI_TEST_CACHE", str(Path(tempfile.gettempdir()) / "umltui-test-cache")
            ),
            "UMLTUI_SUPERVISOR_IDLE": "600",
            "UMLTUI_LOG_MAX": "4G",  # nothing rotates away before it is checked
        }
        os.environ.update({k: v for k, v in self.env.items() if k.startswith("UMLTUI_")})
        names = [f"g{i}" for i in range(guests)]
        self.umids = [f"soak-{n}" for n in names]
        self.lab = self.root / "soak.yaml"
        self.lab.write_text(
            "name: soak\nswitches: {lan0: {}}\nguests:\n"
            + "".join(f"  {n}: {{consoles: 2, nics: {{eth0: {{switch: lan0, ip: 10.0.0.{i + 1}/24}}}}}}\n"
                      for i, n in enumerate(names))
        )  # fmt: skip

    def umltui(self, *args: str, input: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "umltui", *args], input=input, capture_output=True, text=True,
                              timeout=timeout, env=self.env)  # fmt: skip

    def up(self) -> None:
        proc = self.umltui("up", "--detach", str(self.lab))
        if proc.returncode:
            raise RuntimeError(f"up failed: {proc.stderr}")

    def flood(self, umid: str) -> None:
        self.umltui("console", umid, "con2", "--no-history", "--linger", "0.2", input=FLOOD)

    def ls(self) -> tuple[list[dict[str, Any]], float]:
        from umltui.core.client import call

        t0 = time.perf_counter()
        guests = asyncio.run(call("ls", timeout=60))
        return guests, (time.perf_counter() - t0) * 1000

    def supervisor_pid(self) -> int | None:
        try:
            return int((self.root / "run" / "supervisor.lock").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def keeper_pid(self) -> int | None:
        from umltui.core.keeper.client import KeeperClient

        answer = KeeperClient().ping()
        return int(answer["pid"]) if answer else None

    def guest_file(self, umid: str, name: str) -> Path:
        return self.root / "state" / "guests" / umid / "root" / "root" / name

    def pastes_lost(self, pastes: list[tuple[str, int]], timeout: float = 180) -> int:
        """Bytes of the pastes' lines missing from their files, once every paste had time to run."""
        deadline = time.monotonic() + timeout
        lost = 0
        for umid, k in pastes:
            want = paste_text(k)[1]
            path = self.guest_file(umid, f"paste-{k}")
            while time.monotonic() < deadline:
                with contextlib.suppress(OSError):
                    if path.read_text().splitlines()[-1:] == want[-1:]:
                        break
                time.sleep(0.5)
            got = set(path.read_text().splitlines()) if path.exists() else set()
            lost += sum(len(line) + 1 for line in want if line not in got)
        return lost

    def hears(self, umid: str) -> bool:
        """Whether con1 still takes keys: a last echo lands in its log."""
        word = f"still-hears-{umid}"
        self.umltui("console", umid, "con1", "--no-history", "--linger", "2", input=f"echo {word[:4]}''{word[4:]}\r")
        log = self.root / "state" / "guests" / umid / "logs" / "con1.log"
        return word.encode() in log.read_bytes() if log.exists() else False

    def processes(self, *words: str) -> list[int]:
        """Processes of this world (its root in their command line) with all ``words`` too."""
        found = []
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            with contextlib.suppress(OSError):
                argv = Path(entry.path, "cmdline").read_bytes()
                environ = b"" if str(self.root).encode() in argv else Path(entry.path, "environ").read_bytes()
                if str(self.root).encode() in argv + environ and all(w.encode() in argv for w in words):
                    found.append(int(entry.name))
        return found

    def finish(self) -> int:
        """Stop everything; how many of this world's processes are left over afterwards."""
        self.umltui("down", "--all", timeout=120)
        self.umltui("supervisor", "--stop", timeout=30)
        deadline = time.time() + 10
        while time.time() < deadline and self.processes():
            time.sleep(0.2)
        left = self.processes()
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return len(left)


def check_log(data: bytes) -> tuple[int, int]:
    """``(lines, bytes_lost)`` of one console log: per boot, every number once from 0 to the last."""
    boots: dict[bytes, list[int]] = {}
    for m in LINE.finditer(data):
        boots.setdefault(m.group(1), []).append(int(m.group(2)))
    lost = 0
    lines = 0
    for boot, seen in boots.items():
        lines += len(seen)
        expected = range(seen[-1] + 1)
        counts: dict[int, int] = {}
        for n in seen:
            counts[n] = counts.get(n, 0) + 1
        for n in expected:
            c = counts.get(n, 0)
            if c != 1:
                lost += abs(c - 1) * len(f"s{boot.decode()}:{n}.\r\n")
    return lines, lost


def soak(minutes: float, guests: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    world = World(guests)
    ls_ms: list[float] = []
    orphans = 0
    kills = {"supervisor": 0, "both": 0, "keeper_paused": 0, "paste": 0, "guest": 0}
    pastes: list[tuple[str, int]] = []  # (umid, k) of the pastes into guests not killed since
    paste_s: list[float] = []
    try:
        world.up()
        for umid in world.umids:
            world.flood(umid)
        end = time.monotonic() + minutes * 60
        while time.monotonic() < end:
            time.sleep(rng.uniform(2, 6))
            _, ms = world.ls()
            ls_ms.append(ms)
            fault = rng.random()
            if fault < 0.3:
                pid = world.supervisor_pid()
                if pid:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                    kills["supervisor"] += 1
                    time.sleep(0.2)
            elif fault < 0.45:
                pid, keeper = world.supervisor_pid(), world.keeper_pid()
                for p in (pid, keeper):
                    if p:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(p, signal.SIGKILL)
                kills["both"] += 1
                time.sleep(0.2)
            elif fault < 0.6:
                keeper = world.keeper_pid()
                if keeper:
                    os.kill(keeper, signal.SIGSTOP)
                    try:
                        time.sleep(rng.uniform(2, 8))
                    finally:
                        os.kill(keeper, signal.SIGCONT)
                    kills["keeper_paused"] += 1
            elif fault < 0.75:
                umid = rng.choice(world.umids)
                k = kills["paste"]
                t0 = time.monotonic()
                world.umltui("console", umid, "con1", "--no-history", "--linger", "0.2", input=paste_text(k)[0])
                # Waited for: what a supervisor has not written to the guest yet dies with it.
                world.pastes_lost([(umid, k)], timeout=120)
                paste_s.append(time.monotonic() - t0)
                pastes.append((umid, k))
                kills["paste"] += 1
            else:
                umid = rng.choice(world.umids)
                listed, ms = world.ls()
                ls_ms.append(ms)
                g = next(g for g in listed if g["umid"] == umid)
                if g["state"] == "running" and g["pid"]:
                    os.kill(g["pid"], signal.SIGKILL)
                    kills["guest"] += 1
                    pastes = [p for p in pastes if p[0] != umid]
                    time.sleep(3)
                    orphans += len(world.processes("linux.uml", f"umid={umid}"))
                    world.up()
                    world.flood(umid)
            _, ms = world.ls()
            ls_ms.append(ms)
        for umid in world.umids:  # ctrl+c: the floods end
            world.umltui("console", umid, "con2", "--no-history", "--linger", "0.5", input="\x03")
        paste_lost = world.pastes_lost(pastes)
        deaf = sum(not world.hears(umid) for umid in world.umids)
        time.sleep(2)
        listed, _ = world.ls()
        lines = bytes_lost = hangups = 0
        for g in listed:
            log = Path(g["logs"]["con2"])
            n, lost = check_log(log.read_bytes())
            lines += n
            bytes_lost += lost
            hup = world.root / "state" / "guests" / g["umid"] / "root" / "root" / "hup"
            if hup.exists():
                hangups += len(hup.read_text().splitlines())
    finally:
        orphans += world.finish()
        shutil.rmtree(world.root, ignore_errors=True)
    return {
        "minutes": minutes,
        "guests": guests,
        "seed": seed,
        "supervisor_kills": kills["supervisor"],
        "both_daemons_kills": kills["both"],
        "keeper_pauses": kills["keeper_paused"],
        "pastes_64k": kills["paste"],
        "guest_kills": kills["guest"],
        "lines_checked": lines,
        "bytes_lost": bytes_lost,
        "hangups_seen": hangups,
        "paste_bytes_lost": paste_lost,
        "deaf_consoles": deaf,
        "max_paste_s": round(max(paste_s), 1) if paste_s else None,
        "orphans": orphans,
        "max_ls_ms": round(max(ls_ms), 1) if ls_ms else None,
        "p50_ls_ms": round(statistics.median(ls_ms), 1) if ls_ms else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--guests", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    figures = soak(args.minutes, args.guests, args.seed)
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:>18}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
