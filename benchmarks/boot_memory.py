"""How often a two-guest busybox lab fails to boot, by guest memory (64M against 128M by default).

    python benchmarks/boot_memory.py [--runs N] [--mem 64M --mem 128M] [--json]

Each run is ``umltui up`` of a fresh two-guest lab (both guests boot at once), then
``down``. A run fails when ``up`` does; the kernel log of each guest is searched for the
``crypto_wait_for_test`` warning (the kernel could not start a thread for a crypto
self-test) and for ``can't fork``. The sizes alternate in one run, so both see the same
machine. Everything runs under a private runtime, state and UML folder, removed after.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

LAB = "name: {name}\nguests:\n  a: {{consoles: 3, mem: {mem}}}\n  b: {{consoles: 2, mem: {mem}}}\n"


def one(root: Path, env: dict[str, str], name: str, mem: str) -> dict[str, object]:
    lab = root / f"{name}.yaml"
    lab.write_text(LAB.format(name=name, mem=mem))
    umltui = [sys.executable, "-m", "umltui"]
    up = subprocess.run([*umltui, "up", str(lab), "--detach"], env=env, capture_output=True, text=True, timeout=180)
    logs = "".join(p.read_text(errors="replace") for p in (root / "state" / "guests").glob(f"{name}-*/logs/con0.log"))
    subprocess.run([*umltui, "down", name], env=env, capture_output=True, timeout=120)
    return {
        "booted": up.returncode == 0,
        "thread_warning": "crypto_wait_for_test" in logs,
        "cant_fork": "can't fork" in logs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=6, help="labs per memory size")
    parser.add_argument("--mem", action="append", help="guest memory (repeat; default 64M and 128M)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sizes = args.mem or ["64M", "128M"]
    with tempfile.TemporaryDirectory(prefix="umltui-bench-", ignore_cleanup_errors=True) as tmp:
        root = Path(tmp)
        os.chmod(root, 0o700)
        env = {
            **os.environ,
            "UMLTUI_RUNTIME_DIR": str(root / "run"),
            "UMLTUI_STATE_DIR": str(root / "state"),
            "UMLTUI_UML_DIR": str(root / "uml"),
            "UMLTUI_CONFIG_DIR": str(root / "config"),
        }
        results: dict[str, list[dict[str, object]]] = {m: [] for m in sizes}
        try:
            for i in range(args.runs):
                for mem in sizes:
                    results[mem].append(one(root, env, f"m{mem.lower()}{i}", mem))
        finally:
            subprocess.run([sys.executable, "-m", "umltui", "supervisor", "--stop"], env=env, capture_output=True)
    summary = {
        mem: {
            "labs": len(r),
            "failed": sum(not x["booted"] for x in r),
            "with_thread_warning": sum(bool(x["thread_warning"]) for x in r),
            "with_cant_fork": sum(bool(x["cant_fork"]) for x in r),
        }
        for mem, r in results.items()
    }
    if args.json:
        print(json.dumps(summary))
    else:
        for mem, s in summary.items():
            failed, labs, warned, forks = s["failed"], s["labs"], s["with_thread_warning"], s["with_cant_fork"]
            print(f"{mem}: {failed} of {labs} labs failed to boot; thread warning in {warned}, can't fork in {forks}")


if __name__ == "__main__":
    main()
