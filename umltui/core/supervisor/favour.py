"""The guest being typed into comes first on the host's CPUs.

Sixteen guests flooding their consoles on two cores leave a guest that is typed into a
sixteenth of the CPU, and every step of a key's echo (the guest's kernel, its shell, the
supervisor, the app) waits its turn behind them: hundreds of milliseconds at the 99th
percentile (``benchmarks/many_guests.py``). So while keys come for a guest, every *other*
guest runs in the background (``SCHED_IDLE``, its autogroup at nice 19:
:func:`~..process.set_background`): it gets whatever CPU the typed-into guest and umltui
leave (all of it when they wait), and is back to normal ``FAVOUR_FOR`` seconds after the last key.
A guest that is not busy loses nothing; a busy one slows only while someone types.

It needs the right to bring a process back from ``SCHED_IDLE`` (root or ``CAP_SYS_NICE``);
without it nothing changes. ``UMLTUI_FAVOUR_TYPED=0`` turns it off.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable

from ..process import can_set_foreground, set_background, set_group_nice

log = logging.getLogger(__name__)

FAVOUR_FOR = 3.0  # seconds after the last key

Sessions = Callable[[], Iterable[tuple[str, int]]]  # (umid, session id) of every live guest


class Favour:
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
