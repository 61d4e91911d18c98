"""``make bench`` installs every program the benchmarks run, as ``make setup`` does for the app."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _make_list(name: str) -> list[str]:
    m = re.search(rf"^{name} := (.*)$", (ROOT / "Makefile").read_text(), re.M)
    assert m, name
    return m.group(1).split()


def test_every_program_a_benchmark_runs_is_installed_by_make_setup_or_make_bench() -> None:
    # Issue 40, 8: console_cost.py needs screen, which nothing installed.
    installed = {Path(f).name for f in _make_list("DEB_FILES") + _make_list("BENCH_FILES")}
    assert len(_make_list("BENCH_DEBS")) == len(_make_list("BENCH_FILES"))
    run = set()
    for script in (ROOT / "benchmarks").glob("*.py"):
        text = script.read_text()
        run |= set(re.findall(r"""shutil\.which\(["']([\w.-]+)["']\)""", text))
        run |= set(re.findall(r"""subprocess\.\w+\(\s*\[\s*["']([\w.-]+)["']""", text))
    assert "screen" in run  # (the scan finds them)
    assert run - installed == set()


def test_make_bench_names_every_benchmark() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^bench: setup$", makefile, re.M)
    usage = [s.name for s in (ROOT / "benchmarks").glob("*.py") if "\n    python benchmarks/" in s.read_text()]
    assert len(usage) >= 10  # each prints its usage line from its docstring
