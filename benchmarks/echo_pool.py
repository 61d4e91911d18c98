"""The echo benchmark's runs pooled: every key of several ``echo_latency.py --raw`` files,
one p50 and p99 per client over all of them.

A p99 of one run's keys is a handful of slow keys, and most slow keys wait in the guest,
for every client alike (see ``echo_latency.py``); pooled, a client's p99 rests on a few
dozen of them. Also the keys slower than 5 ms, and 90 % bootstrap intervals of the app's
pooled p99, and the control's (tmux2), minus tmux's.

    python benchmarks/echo_latency.py --keys 1000 --raw /tmp/echo1.json   # and 2, 3
    python benchmarks/echo_pool.py /tmp/echo1.json /tmp/echo2.json /tmp/echo3.json [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from echo_latency import p99_gap, p99_of  # noqa: E402

SLOW_MS = 5.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("raw", type=Path, nargs="+", help="files written by echo_latency.py --raw")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    pool: dict[str, list[float]] = {}
    for path in args.raw:
        for name, times in json.loads(path.read_text()).items():
            pool.setdefault(name, []).extend(times)
    seconds = {name: [t / 1000 for t in times] for name, times in pool.items()}
    figures: dict[str, Any] = {
        "runs": len(args.raw),
        "keys": {name: len(times) for name, times in pool.items()},
        "p50_ms": {name: round(statistics.median(times), 2) for name, times in pool.items()},
        "p99_ms": {name: round(p99_of(times), 2) for name, times in pool.items()},
        "slower_than_5_ms": {name: sum(t > SLOW_MS for t in times) for name, times in pool.items()},
        "p99_minus_tmux_ms_90ci": p99_gap(seconds["app"], seconds["tmux"]),
        "tmux2_p99_minus_tmux_ms_90ci": p99_gap(seconds["tmux2"], seconds["tmux"]),
    }
    if args.json:
        print(json.dumps(figures))
        return
    print(f"{figures['runs']} runs pooled:")
    for name in pool:
        print(
            f"  {name:6} {figures['keys'][name]:5} keys   p50 {figures['p50_ms'][name]:6} ms   "
            f"p99 {figures['p99_ms'][name]:6} ms   {figures['slower_than_5_ms'][name]:4} slower than 5 ms"
        )
    gap, control = figures["p99_minus_tmux_ms_90ci"], figures["tmux2_p99_minus_tmux_ms_90ci"]
    print(f"  p99 minus tmux's (90 % bootstrap interval): app {gap[0]} to {gap[1]} ms,", end=" ")
    print(f"tmux2 {control[0]} to {control[1]} ms")


if __name__ == "__main__":
    main()
