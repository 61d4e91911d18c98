"""Each guest kept on its host CPU, except the guests being typed into, while keys come.

Why a guest is kept on one CPU: :func:`~.ops.lab.cpu_for` (a UML kernel is one CPU, run as
host processes that take turns). But a guest kept on one CPU that is busy has that CPU to
itself, and umltui's own processes (the app, the supervisor, the keeper) share the rest:
on a 2-core host, with the guest typed into flooding another of its consoles, the app's
echo came later (``benchmarks/echo_latency.py``; see the README, Performance). So while
keys come for a guest, its processes may run on every CPU, and they go back to theirs
``FREE_FOR`` seconds after the last key.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable

from ..guest import Guest
from ..process import set_session_cpus

FREE_FOR = 3.0  # seconds after the last key


class Placement:
    """Which guests are let free for now (typed into), and putting them back."""

    def __init__(self, guests: Callable[[], Iterable[Guest]]) -> None:
        self.guests = guests
        self.typed_at: dict[str, float] = {}  # umid -> its last key, for the guests let free

    def typed(self, guest: Guest) -> None:
        """A key for ``guest``: free to run on every CPU until ``FREE_FOR`` after its last key."""
        if guest.cpu is None:
            return
        known = guest.umid in self.typed_at
        self.typed_at[guest.umid] = time.monotonic()
        if not known and guest.alive and guest.pid > 0:
            set_session_cpus(guest.pid, os.sched_getaffinity(0))

    def tick(self) -> None:
        """Called now and then: a guest whose keys stopped goes back to its CPU."""
        now = time.monotonic()
        stale = {umid for umid, at in self.typed_at.items() if now - at > FREE_FOR}
        if stale:
            for umid in stale:
                del self.typed_at[umid]
            self._keep(g for g in self.guests() if g.umid in stale)

    def keep_all(self) -> None:
        """Every guest on its CPU: at start-up (a supervisor before this one may have ended
        while keys came) and at the end."""
        self.typed_at.clear()
        self._keep(self.guests())

    @staticmethod
    def _keep(guests: Iterable[Guest]) -> None:
        for g in guests:
            if g.cpu is not None and g.alive and g.pid > 0:
                set_session_cpus(g.pid, {g.cpu})
