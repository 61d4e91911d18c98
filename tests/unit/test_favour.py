"""The typed-into guest first: the other guests' sessions go to SCHED_IDLE while keys come, and back."""

from __future__ import annotations

import os
import subprocess

import pytest

from umltui.core.process import can_set_foreground
from umltui.core.supervisor import favour
from umltui.core.supervisor.favour import Favour

pytestmark = pytest.mark.skipif(not can_set_foreground(), reason="needs root or CAP_SYS_NICE to bring a process back")


def policies(proc: subprocess.Popen[bytes]) -> set[int]:
    return {os.sched_getscheduler(int(tid)) for tid in os.listdir(f"/proc/{proc.pid}/task")}


def test_the_others_wait_while_keys_come_and_are_back_after(monkeypatch: pytest.MonkeyPatch) -> None:
    # Stand-ins for guests: each a process in a session of its own, as a UML kernel is.
    procs = {name: subprocess.Popen(["sleep", "60"], start_new_session=True) for name in ("a", "b", "c")}
    try:
        fav = Favour(lambda: [(name, p.pid) for name, p in procs.items()], enabled=True)
        fav.typed("a")
        assert policies(procs["a"]) == {os.SCHED_OTHER}
        assert policies(procs["b"]) == policies(procs["c"]) == {os.SCHED_IDLE}
        fav.typed("b")  # a broadcast: both typed into come first
        assert policies(procs["b"]) == {os.SCHED_OTHER} and policies(procs["c"]) == {os.SCHED_IDLE}
        fav.tick()  # keys came just now: nothing changes
        assert policies(procs["c"]) == {os.SCHED_IDLE}
        fav.typed_at["a"] -= favour.FAVOUR_FOR + 1  # a's keys stopped, b's go on (a script typed into a once)
        fav.tick()
        assert policies(procs["a"]) == {os.SCHED_IDLE} and policies(procs["b"]) == {os.SCHED_OTHER}
        monkeypatch.setattr(favour, "FAVOUR_FOR", 0.0)
        fav.tick()  # the keys stopped
        assert all(policies(p) == {os.SCHED_OTHER} for p in procs.values())
        assert not fav.background and not fav.typed_at
        fav.typed("c")
        fav.release_all()  # what a new supervisor does at start
        assert all(policies(p) == {os.SCHED_OTHER} for p in procs.values())
    finally:
        for p in procs.values():
            p.kill()
            p.wait()


def test_off_means_nothing_changes() -> None:
    proc = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        fav = Favour(lambda: [("a", 1), ("b", proc.pid)], enabled=False)
        fav.typed("a")
        assert policies(proc) == {os.SCHED_OTHER} and not fav.background
    finally:
        proc.kill()
        proc.wait()
