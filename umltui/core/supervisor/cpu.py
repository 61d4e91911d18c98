"""The supervisor's CPU policy, in one place: which host CPU a guest is kept on, and who comes
first while keys come.

- **One CPU per guest** (:func:`cpu_for`). A UML kernel is one CPU, run as host processes
  that take turns: its kernel and, under ptrace, the process of whichever of its processes
  runs. Every system call a guest process makes passes the turn from one to the other and
  back, and the host wakes the one whose turn it is on an idle CPU if it has one: two
  wake-ups across CPUs per system call. Kept on one CPU, the turns stay there (see
  docs/performance.md). ``UMLTUI_PIN_GUESTS=0`` leaves every guest free.
- **The typed-into guest is let free** (:class:`Placement`). A guest kept on one CPU that is
  busy has that CPU to itself, and umltui's own processes (the app, the supervisor, the
  keeper) share the rest: on a 2-core host, with the guest typed into flooding another of
  its consoles, the app's echo came later (``benchmarks/echo_latency.py``). So while keys
  come for a guest, its processes may run on every CPU, and they go back to theirs
  ``FREE_FOR`` seconds after the last key.
- **The others wait** (:class:`Favour`). Sixteen guests flooding their consoles on two cores
  leave a guest that is typed into a sixteenth of the CPU, and every step of a key's echo
  (the guest's kernel, its shell, the supervisor, the app) waits its turn behind them:
  hundreds of milliseconds at the 99th percentile (``benchmarks/many_guests.py``). So while
  keys come for a guest, every *other* guest runs in the background (``SCHED_IDLE``, its
  autogroup at nice 19: :func:`~..process.set_background`): it gets whatever CPU the
  typed-into guest and umltui leave (all of it when they wait), and is back to normal
  ``FAVOUR_FOR`` seconds after the last key. A guest that is not busy loses nothing; a busy
  one slows only while someone types. It needs the right to bring a process back from
  ``SCHED_IDLE`` (root or ``CAP_SYS_NICE``); without it nothing changes.
  ``UMLTUI_FAVOUR_TYPED=0`` turns it off.

:class:`CpuPolicy` is what the supervisor holds: it starts, ticks, takes keys and ends both.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable

from ..guest import Guest
from ..process import can_set_foreground, least_used_cpu, set_background, set_group_nice, set_session_cpus

log = logging.getLogger(__name__)

FAVOUR_FOR = 3.0  # seconds after the last key
FREE_FOR = 3.0  # seconds after the last key

Sessions = Callable[[], Iterable[tuple[str, int]]]  # (umid, session id) of every live guest


class Favour:
    """Which guests come first for now (typed into), the others put in the background, and back."""

    def __init__(self, sessions: Sessions, *, enabled: bool | None = None) -> None:
        self.sessions = sessions
        if enabled is None:
            enabled = os.environ.get("UMLTUI_FAVOUR_TYPED", "1") != "0" and can_set_foreground()
        self.enabled = enabled
        self.typed_at: dict[str, float] = {}  # umid -> its last key, for the guests that come first
        self.background: dict[str, int] = {}  # umid -> session, of the guests put back
        self.later: dict[int, int] = {}  # session -> its autogroup's nice, which the kernel did not take yet

    def typed(self, umid: str) -> None:
        """A key for ``umid``: it comes first until ``FAVOUR_FOR`` after its last key
        (with any other guest typed into meanwhile: a broadcast)."""
        if not self.enabled:
            return
        known = umid in self.typed_at
        self.typed_at[umid] = time.monotonic()
        if not known:
            self._arrange()
        elif self.later:
            self._retry()

    def tick(self) -> None:
        """Called now and then: a guest whose keys stopped no longer comes first."""
        now = time.monotonic()
        stale = [umid for umid, at in self.typed_at.items() if now - at > FAVOUR_FOR]
        for umid in stale:
            del self.typed_at[umid]
        if stale:
            self._arrange()
        elif self.later:
            self._retry()

    def _retry(self) -> None:
        """The group nices the kernel refused a moment ago (one change each 0.1 s without CAP_SYS_ADMIN)."""
        for sid, nice in list(self.later.items()):
            if not set_group_nice(sid, nice):
                return
            del self.later[sid]

    def _arrange(self) -> None:
        """The guests typed into at the normal policy; while there are any, the rest in the background."""
        changes: dict[int, bool] = {}
        for umid, sid in self.sessions():
            if not self.typed_at or umid in self.typed_at:
                if self.background.pop(umid, None) is not None:
                    changes[sid] = False
            elif umid not in self.background:
                changes[sid] = True
                self.background[umid] = sid
        self._set(changes)
        if self.typed_at:
            typed = ", ".join(sorted(self.typed_at))
            log.info("keys for %s: %d other guests in the background", typed, len(self.background))

    def release(self, patience: float = 2.0) -> None:
        """Every guest back to the normal policy (the supervisor goes): waits up to
        ``patience`` seconds for group nices the kernel takes one at a time."""
        self._set(dict.fromkeys(self.background.values(), False))
        self.background.clear()
        self.typed_at.clear()
        deadline = time.monotonic() + patience
        while self.later and time.monotonic() < deadline:
            time.sleep(0.1)
            self._retry()
        self.later.clear()  # the next supervisor's release_all sees to any left

    def release_all(self) -> None:
        """At start-up: guests a supervisor before this one left in the background (it crashed)."""
        if self.enabled:
            self._set({sid: False for _umid, sid in self.sessions()})

    def _set(self, changes: dict[int, bool]) -> None:
        for sid in changes:
            self.later.pop(sid, None)  # a nice still to set is out of date
        self.later.update(set_background(changes))


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


def cpu_for(guests: Iterable[Guest], guest: Guest) -> int | None:
    """The host CPU to keep a new ``guest`` on: the one with the fewest of the running
    ``guests``; None to leave it free (``UMLTUI_PIN_GUESTS=0``, or one CPU to run on)."""
    if os.environ.get("UMLTUI_PIN_GUESTS", "1") == "0":
        return None
    return least_used_cpu(g.cpu for g in guests if g is not guest and g.alive)


class CpuPolicy:
    """The CPU policy of one supervisor over its guests (``guests`` gives the current ones)."""

    def __init__(self, guests: Callable[[], Iterable[Guest]]) -> None:
        self.guests = guests
        self.favour = Favour(self._sessions)
        self.placement = Placement(guests)

    def _sessions(self) -> list[tuple[str, int]]:
        """(umid, session) of every live guest: each runs in a session of its own."""
        return [(g.umid, g.pid) for g in self.guests() if g.alive and g.pid > 0]

    def cpu_for(self, guest: Guest) -> int | None:
        return cpu_for(self.guests(), guest)

    def typed(self, guest: Guest) -> None:
        """A key for ``guest``: it comes first, and may run anywhere, for a while."""
        self.favour.typed(guest.umid)
        self.placement.typed(guest)

    def tick(self) -> None:
        """Called each second: guests whose keys stopped go back."""
        self.favour.tick()
        self.placement.tick()

    def adopt(self) -> None:
        """At start-up: a supervisor before this one may have ended while keys came."""
        self.favour.release_all()
        self.placement.keep_all()

    def release(self) -> None:
        """At the end: every guest back to the normal policy, on its own CPU."""
        self.favour.release()
        self.placement.keep_all()
