"""The typed-into guest first: the other guests' sessions go to SCHED_IDLE, their autogroups to nice 19,
while keys come, and back."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from umltui.core.process import can_set_foreground
from umltui.core.supervisor import cpu as favour
from umltui.core.supervisor.cpu import Favour

pytestmark = pytest.mark.skipif(not can_set_foreground(), reason="needs root or CAP_SYS_NICE to bring a process back")


AUTOGROUPS = Path("/proc/self/autogroup").exists()


def policies(proc: subprocess.Popen[bytes]) -> set[int]:
    """The threads' policies, and (where the kernel has autogroups) the session's group's nice."""
    found: set[int] = {os.sched_getscheduler(int(tid)) for tid in os.listdir(f"/proc/{proc.pid}/task")}
    if AUTOGROUPS:
        nice = int(Path(f"/proc/{proc.pid}/autogroup").read_text().split()[-1])
        assert nice == (19 if found == {os.SCHED_IDLE} else 0), "the group's nice and the policy disagree"
    return found


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


def test_a_group_nice_the_kernel_refuses_is_set_later(monkeypatch: pytest.MonkeyPatch) -> None:
    # Without CAP_SYS_ADMIN the kernel takes one autogroup change each 0.1 s (EAGAIN otherwise).
    # Root is never refused, so the refusal is injected: the first two writes fail.
    if not AUTOGROUPS:
        pytest.skip("this kernel has no autogroups")
    from umltui.core import process

    real, refusals = process.set_group_nice, [2]

    def refusing(pid: int, nice: int) -> bool:
        if refusals[0] > 0:
            refusals[0] -= 1
            return False
        return real(pid, nice)

    monkeypatch.setattr(process, "set_group_nice", refusing)
    monkeypatch.setattr(favour, "set_group_nice", refusing)
    procs = {name: subprocess.Popen(["sleep", "60"], start_new_session=True) for name in ("a", "b")}
    try:
        fav = Favour(lambda: [(name, p.pid) for name, p in procs.items()], enabled=True)
        fav.typed("a")
        assert fav.later == {procs["b"].pid: 19}
        fav.typed("a")  # the next key tries again: refused once more
        assert fav.later == {procs["b"].pid: 19}
        fav.typed("a")
        assert not fav.later and policies(procs["b"]) == {os.SCHED_IDLE}
        refusals[0] = 1
        start = time.monotonic()
        fav.release()  # the supervisor goes: it waits for the kernel a moment
        assert time.monotonic() - start < 1.0
        assert policies(procs["b"]) == {os.SCHED_OTHER} and not fav.later
    finally:
        for p in procs.values():
            p.kill()
            p.wait()
