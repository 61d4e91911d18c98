"""Each guest kept on one host CPU, the guests spread over the CPUs (``UMLTUI_PIN_GUESTS``)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time

import pytest
from conftest import Env, requires_uml
from helpers import Console

from umltui.core.process import session_processes
from umltui.core.supervisor.cpu import FREE_FOR

pytestmark = [requires_uml, pytest.mark.uml]

LAB = """\
name: cpus
guests:
  a: {consoles: 1}
  b: {consoles: 1}
"""


def threads_cpus(sid: int) -> set[frozenset[int]]:
    """The CPU sets of every thread of every process in the guest's session."""
    found: set[frozenset[int]] = set()
    for pid in session_processes(sid):
        with contextlib.suppress(OSError):
            for tid in os.listdir(f"/proc/{pid}/task"):
                with contextlib.suppress(OSError):
                    found.add(frozenset(os.sched_getaffinity(int(tid))))
    return found


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="one CPU: nothing to choose")
async def test_each_guest_stays_on_one_cpu_the_guests_spread_and_keys_set_one_free_for_a_while(env: Env) -> None:
    env.run("up", str(env.write_lab("cpus", LAB)), "--detach", check=True)
    guests = {g["umid"]: g for g in env.ls()}
    a, b = guests["cpus-a"], guests["cpus-b"]
    assert a["cpu"] is not None and b["cpu"] is not None and a["cpu"] != b["cpu"]
    for g in (a, b):
        # The kernel, its helpers and the host process of each of the guest's processes
        # (started after the kernel was): all on the CPU ls names.
        assert len(session_processes(g["pid"])) > 2
        assert threads_cpus(g["pid"]) == {frozenset({g["cpu"]})}
    assert len(os.sched_getaffinity(0)) >= 2  # (the supervisor's thread got its CPUs back; so did we)
    # Keys for a: its processes may run anywhere while they come, b's stay; then a goes back.
    async with Console("cpus-a") as con:
        con.type("echo typed-$((6*7))\r")
        await con.expect("typed-42")
    assert threads_cpus(a["pid"]) == {frozenset(os.sched_getaffinity(0))}
    assert threads_cpus(b["pid"]) == {frozenset({b["cpu"]})}
    assert env.guest("cpus-a")["cpu"] == a["cpu"]  # (still its CPU, for ls and the next guest's choice)
    deadline = time.monotonic() + FREE_FOR + 5
    while threads_cpus(a["pid"]) != {frozenset({a["cpu"]})}:
        assert time.monotonic() < deadline, "a did not go back to its CPU after the keys stopped"
        await asyncio.sleep(0.2)


def test_off_leaves_the_guest_free(env: Env) -> None:
    env.vars["UMLTUI_PIN_GUESTS"] = "0"  # the supervisor this test starts reads it
    env.run("up", str(env.write_lab("one", "name: one\nguests:\n  a: {consoles: 1}\n")), "--detach", check=True)
    guest = env.guest("one-a")
    assert guest["cpu"] is None
    assert threads_cpus(guest["pid"]) == {frozenset(os.sched_getaffinity(0))}
