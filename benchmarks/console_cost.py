"""What a flooding console costs: the supervisor's CPU seconds per MB it logs, beside
``screen -L`` logging a console of the same guest, in the same run.

One busybox guest in a private umltui world, with two consoles umltui owns (con1, con2)
and a third (con3, also ``con=pts``) that umltui leaves alone. No client is attached. Then,
one after the other, for ``--seconds`` each, in the order umltui, screen, screen, umltui (so
whatever the host does over the run, and going first, fall on both alike; ``--pairs`` times):

- **umltui**: ``yes`` into con2's tty in the guest; the supervisor reads the pty and writes
  its console log (through umltui's keeper, which reads and logs the ptys so that a
  supervisor's crash loses nothing). Measured: the CPU time of both (``/proc/PID/stat``)
  and the log's growth.
- **screen**: ``screen -L`` on con3's pty (``/dev/pts/N``, as the seed's users attach
  consoles), and ``yes`` into con3's tty. Measured: screen's CPU time and its log's growth.
  umltui keeps each guest on one host CPU (``UMLTUI_PIN_GUESTS``) except while keys come
  for it; a guest started by hand is not, so for screen's floods the guest's processes may
  run on every CPU, as they would by hand, and are put back after. Each flood starts a few
  seconds after the command for it is typed into con1, and is measured from then: the
  flood of a guest no one types into.

Both floods come from the same guest, so the figures are side by side. screen also
emulates a terminal; the supervisor does not.

Then ``--rounds`` floods of both at once: the two sides see the same moments of the host
(one flood after another, the same guest's rate swings by a third), and the guest's two
``yes`` compete for its time, so a reader that holds its flood back shows as a lower rate
beside the other's. (One guest for both: it runs as umltui keeps it.)

    python benchmarks/console_cost.py [--seconds 10] [--pairs 1] [--rounds 4] [--json]

JSON: ``umltui_cpu_s_per_mb``, ``screen_cpu_s_per_mb``, ``umltui_mb_s``, ``screen_mb_s`` (over
both floods of each), ``rate_ratio`` (umltui's MB/s over screen's), ``umltui_mb_s_each`` and
``screen_mb_s_each`` (each flood in turn), ``keeper_share``; for the floods at once,
``together_umltui_cpu_s_per_mb``, ``together_screen_cpu_s_per_mb``, ``together_rate_ratio``
(umltui's console's MB over screen's, all rounds) and ``together_rate_ratio_each``;
``guest_cpus``: how many host CPUs umltui let the guest run on.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from world import LogMeter, private_world  # noqa: E402

from umltui.core.process import set_session_cpus  # noqa: E402

LAB = "name: cost\nguests:\n  g:\n    consoles: 2\n"
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


async def shell(command: str) -> None:
    from umltui.core.client import Client

    client = await Client(lambda msg: None).connect()
    try:
        client.send_input("cost-g", "con1", (command + "\r").encode())
        await client.request("ping", timeout=10)  # (after the input, in order: it was handled)
    finally:
        await client.close()


def flood(ttys: str, seconds: float, after: float = 0.0) -> None:
    """``yes`` into each of ``ttys`` (names in the guest's /dev, space-separated), all at once,
    ``after`` seconds from now."""
    line = "timeout {seconds:g} yes 'flood flood flood flood flood flood' > /dev/{tty}"
    command = " & ".join(line.format(seconds=seconds, tty=t) for t in ttys.split())
    asyncio.run(shell(f"sleep {after:g}; {command}" if after else command))


def quiet() -> float:
    """Seconds after the command that starts a flood is typed until the guest is no longer
    one being typed into (the supervisor lets such a guest run on every CPU for a while)."""
    from umltui.core.supervisor.cpu import FREE_FOR

    return FREE_FOR + 1.5  # (it looks each second)


def keeper_pid(root: Path) -> int:
    """This world's keeper (the process that reads and logs the ptys for the supervisor)."""
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (
                    b"umltui\0keeper" in Path(entry.path, "cmdline").read_bytes()
                    and str(root).encode() in Path(entry.path, "environ").read_bytes()
                ):
                    return int(entry.name)
    raise RuntimeError("no keeper found")


Turn = dict[str, float]
"""One flood's figures: ``cpu`` (CPU seconds), ``mb`` (logged), ``seconds`` (over which it was
logged), and for umltui ``keeper_cpu``."""


class Meters:
    """CPU seconds and logged bytes of both sides, read at the start of a flood and at its end."""

    def __init__(self, root: Path, screen: Screen) -> None:
        from umltui.core.client import supervisor_pid

        sup = supervisor_pid()
        assert sup is not None
        self.sup, self.keeper, self.screen = sup, keeper_pid(root), screen
        log = root / "state" / "guests" / "cost-g" / "logs" / "con2.log"
        self.ours = LogMeter(log, every=0.5)  # (the log rotates at 8 MB: a flood passes it)
        self.sup0, self.keep0 = cpu_seconds(self.sup), cpu_seconds(self.keeper)
        self.screen0, self.size0 = cpu_seconds(screen.pid), screen.size()
        self.t0 = time.monotonic()

    def umltui(self) -> Turn:
        """Since the start: the supervisor's and the keeper's CPU, what con2's log grew."""
        keep_cpu = cpu_seconds(self.keeper) - self.keep0
        self.ours.stop()
        return {
            "cpu": cpu_seconds(self.sup) - self.sup0 + keep_cpu,
            "keeper_cpu": keep_cpu,
            "mb": self.ours.total / 1e6,
            "seconds": time.monotonic() - self.t0 - 2.0,
        }

    def screen_turn(self) -> Turn:
        """Since the start: screen's CPU, what its log grew (it flushes its log every second)."""
        return {
            "cpu": cpu_seconds(self.screen.pid) - self.screen0,
            "mb": (self.screen.size() - self.size0) / 1e6,
            "seconds": time.monotonic() - self.t0 - 2.0,
        }


class Screen:
    """``screen -L`` on con3's pty (``/dev/pts/N``, as the seed's users attach consoles),
    logging to a file it flushes every second."""

    def __init__(self, root: Path, guest_pid: int) -> None:
        from umltui.core.client import call
        from umltui.core.sandbox.confine import host_path

        # The kernel gives a console its pty when the guest first opens it: hold it open.
        asyncio.run(shell("(sleep 100000 > /dev/tty3 &)"))
        m = None
        for _ in range(50):
            answer = asyncio.run(call("mconsole", guest="cost-g", command="config con3", timeout=10))
            if m := re.search(r"(/dev/pts/\d+)", str(answer)):
                break
            time.sleep(0.1)
        if m is None:
            raise RuntimeError(f"con3 is not on a pty: {answer!r}")
        self.log = root / "screen.log"
        self.env = {**os.environ, "SCREENDIR": str(root / "screens")}
        (root / "screens").mkdir(mode=0o700, exist_ok=True)
        # The guest's ptys are in its sandbox's own /dev/pts: reached through its kernel's /proc root.
        pts = host_path(guest_pid, m.group(1))
        subprocess.run(["screen", "-L", "-Logfile", str(self.log), "-dmS", "cost", pts, "115200"],
                       check=True, env=self.env)  # fmt: skip
        try:
            time.sleep(0.5)
            listing = subprocess.run(["screen", "-ls"], capture_output=True, text=True, env=self.env).stdout
            self.pid = int(re.search(r"(\d+)\.cost", listing).group(1))  # type: ignore[union-attr]
            subprocess.run(["screen", "-S", "cost", "-X", "logfile", "flush", "1"], env=self.env)
        except BaseException:
            self.close()
            raise

    def size(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0

    def close(self) -> None:
        subprocess.run(["screen", "-S", "cost", "-X", "quit"], capture_output=True, env=self.env)


def one_flood(root: Path, screen: Screen, ttys: str, seconds: float, free: int | None = None) -> tuple[Turn, Turn]:
    """``yes`` into each of ``ttys`` (tty2: umltui's con2; tty3: screen's con3), all at once;
    the figures of both sides over it. ``free``: the guest's pid (its session's), to let it run on every CPU
    for this flood (as a guest started by hand), and put it back on its CPU after."""
    flood(ttys, seconds, after=quiet())  # a flood of a guest no one types into
    time.sleep(quiet())  # (the supervisor has put the guest back on its CPU by now)
    kept = os.sched_getaffinity(free) if free is not None else set()
    if free is not None:
        set_session_cpus(free, os.sched_getaffinity(0))
    try:
        meters = Meters(root, screen)
        time.sleep(seconds + 2.0)
        return meters.umltui(), meters.screen_turn()
    finally:
        if free is not None:
            set_session_cpus(free, kept)


def pooled(turns: list[Turn]) -> tuple[float, float]:
    """CPU seconds per MB and MB/s over all of ``turns``."""
    cpu, mb, secs = (sum(t[k] for t in turns) for k in ("cpu", "mb", "seconds"))
    return cpu / mb if mb else float("nan"), mb / secs


def measure(root: Path, seconds: float, rounds: int, pairs: int = 1) -> dict[str, Any]:
    from umltui.core.client import call

    lab = root / "cost.yaml"
    lab.write_text(LAB)
    asyncio.run(call("up", lab=str(lab), timeout=120))
    # con2's shell must be up first: its getty hangs up the tty as it starts, and a flood with it
    log = root / "state" / "guests" / "cost-g" / "logs" / "con2.log"
    deadline = time.monotonic() + 30
    while b"/root#" not in (log.read_bytes() if log.exists() else b""):
        if time.monotonic() > deadline:
            raise RuntimeError("no prompt on con2")
        time.sleep(0.1)
    time.sleep(0.5)
    info = next(g for g in asyncio.run(call("ls", timeout=10)) if g["umid"] == "cost-g")
    guest, cpu = info["pid"], info.get("cpu")
    kept = {cpu} if cpu is not None else os.sched_getaffinity(0)  # where umltui keeps it (for the JSON)
    screen = Screen(root, guest)
    try:
        # umltui, screen, screen, umltui (``pairs`` times): whatever the host does over the
        # run (and being first or second) falls on both alike.
        ours, theirs = [], []
        for _ in range(pairs):
            ours.append(one_flood(root, screen, "tty2", seconds)[0])
            theirs += [one_flood(root, screen, "tty3", seconds, free=guest)[1] for _ in range(2)]
            ours.append(one_flood(root, screen, "tty2", seconds)[0])
        # Then both at once, in rounds: the same moments of the host for both, and the
        # guest's two floods compete for its time, so a reader that holds its flood back
        # shows as a lower rate beside the other.
        together = [one_flood(root, screen, "tty2 tty3", seconds) for _ in range(rounds)]
    finally:
        screen.close()
    u_cpu, u_rate = pooled(ours)
    s_cpu, s_rate = pooled(theirs)
    tu_cpu, tu_rate = pooled([u for u, _ in together])
    ts_cpu, ts_rate = pooled([s for _, s in together])
    return {
        "umltui_cpu_s_per_mb": round(u_cpu, 3),
        "screen_cpu_s_per_mb": round(s_cpu, 3),
        "umltui_mb_s": round(u_rate, 3),
        "screen_mb_s": round(s_rate, 3),
        "rate_ratio": round(u_rate / s_rate, 2),
        "umltui_mb_s_each": [round(t["mb"] / t["seconds"], 3) for t in ours],
        "screen_mb_s_each": [round(t["mb"] / t["seconds"], 3) for t in theirs],
        "keeper_share": round(sum(t["keeper_cpu"] for t in ours) / max(sum(t["cpu"] for t in ours), 1e-9), 2),
        "together_umltui_cpu_s_per_mb": round(tu_cpu, 3),
        "together_screen_cpu_s_per_mb": round(ts_cpu, 3),
        "together_rate_ratio": round(tu_rate / ts_rate, 2),
        "together_rate_ratio_each": [round(u["mb"] / s["mb"], 2) if s["mb"] else None for u, s in together],
        "seconds": seconds,
        "guest_cpus": len(kept),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--pairs", type=int, default=1, help="times the floods one after the other go ABBA")
    parser.add_argument("--rounds", type=int, default=4, help="floods of both consoles at once")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if shutil.which("screen") is None:
        sys.exit("console_cost: needs screen (apt-get install screen)")
    with private_world("umtc-") as root:
        figures = measure(root, args.seconds, args.rounds, args.pairs)
    if args.json:
        print(json.dumps(figures))
        return
    print(f"a console flooding for {args.seconds:g} s, no client attached:")
    print(f"  umltui (sup+keeper){figures['umltui_cpu_s_per_mb']:6} CPU-s/MB  {figures['umltui_mb_s']:7} MB/s logged")
    print(f"  screen -L          {figures['screen_cpu_s_per_mb']:6} CPU-s/MB  {figures['screen_mb_s']:7} MB/s logged")
    print(f"  the guest under umltui at {figures['rate_ratio']} of its rate under screen (each flood:")
    ours, theirs = figures["umltui_mb_s_each"], figures["screen_mb_s_each"]
    print(f"  umltui {ours}, screen {theirs} MB/s, in the order umltui, screen, screen, umltui)")
    print(
        f"  both at once, {args.rounds} rounds: umltui {figures['together_umltui_cpu_s_per_mb']} CPU-s/MB, screen",
        f"{figures['together_screen_cpu_s_per_mb']}; umltui's console at {figures['together_rate_ratio']} of",
        f"screen's rate (each round: {figures['together_rate_ratio_each']})",
    )
    print("  (goal: the supervisor at most half of screen's CPU per MB, and the guest no slower)")


if __name__ == "__main__":
    main()
