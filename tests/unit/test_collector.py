"""Full garbage-collector sweeps wait until the keys stop (fastpath/collector.py)."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator

import pytest

from umltui.fastpath import collector
from umltui.fastpath.collector import QuietCollector


@pytest.fixture
def quiet() -> Iterator[QuietCollector]:
    saved = gc.get_threshold()
    c = QuietCollector()
    c.start()
    try:
        yield c
    finally:
        c.stop()
        gc.set_threshold(*saved)


def make_due(c: QuietCollector) -> None:
    """Enough middle-generation sweeps that Python would have swept everything by now."""
    while gc.get_count()[2] <= c.due:
        gc.collect(1)


def test_python_no_longer_sweeps_everything_by_itself(quiet: QuietCollector) -> None:
    assert gc.get_threshold()[2] == collector.NEVER
    gc.collect()
    for _ in range(200_000):  # many survivors: Python would have run a full sweep meanwhile
        cycle: list[object] = []
        cycle.append(cycle)
    assert gc.get_count()[2] > quiet.due


def test_a_sweep_waits_for_the_keys_to_stop(quiet: QuietCollector, monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    quiet.last_full = now[0] - collector.GAP - 1
    make_due(quiet)
    quiet.typed()
    assert not quiet.tick()  # a key just now
    now[0] += collector.QUIET + 0.1
    assert quiet.tick() and quiet.full_sweeps == 1
    assert gc.get_count()[2] == 0
    make_due(quiet)
    assert not quiet.tick()  # one a moment ago: not again so soon


def test_keys_that_never_stop_still_get_a_sweep(quiet: QuietCollector, monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    quiet.last_full = now[0]
    make_due(quiet)
    for _ in range(int(collector.FORCE_AFTER / collector.GAP) * 2):
        now[0] += collector.GAP / 2
        quiet.typed()
        if quiet.tick():
            break
    assert quiet.full_sweeps == 1
    assert now[0] - 1000.0 >= collector.FORCE_AFTER


def test_stop_gives_python_its_threshold_back() -> None:
    saved = gc.get_threshold()
    c = QuietCollector()
    c.start()
    c.stop()
    assert gc.get_threshold() == saved
