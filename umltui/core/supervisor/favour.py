"""The guest being typed into comes first on the host's CPUs.

Sixteen guests flooding their consoles on two cores leave a guest that is typed into a
sixteenth of the CPU, and every step of a key's echo (the guest's kernel, its shell, the
supervisor, the app) waits its turn behind them: hundreds of milliseconds at the 99th
percentile (``benchmarks/many_guests.py``). So while keys come for a guest, every *other*
guest runs as ``SCHED_IDLE``: it gets whatever CPU the typed-into guest and umltui leave
(all of it when they wait), and is back to normal ``FAVOUR_FOR`` seconds after the last key.
A guest that is not busy loses nothing; a busy one slows only while someone types.

It needs the right to bring a process back from ``SCHED_IDLE`` (root or ``CAP_SYS_NICE``);
without it nothing changes. ``UMLTUI_FAVOUR_TYPED=0`` turns it off.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable

from ..process import can_set_foreground, set_background

log = logging.getLogger(__name__)

FAVOUR_FOR = 3.0  # seconds after the last key

Sessions = Callable[[], Iterable[tuple[str, int]]]  # (umid, session id) of every live guest


class Favour:
    def __init__(self, sessions: Sessions, *, enabled: bool | None = None) -> None:
        self.sessions = sessions
        if enabled is None:
            enabled = os.environ.get("UMLTUI_FAVOUR_TYPED", "1") != "0" and can_set_foreground()
        self.enabled = enabled
        self.favoured: set[str] = set()  # typed into since the keys began (a broadcast: several)
        self.last_key = 0.0
        self.background: dict[str, int] = {}  # umid -> session, of the guests put back

    def typed(self, umid: str) -> None:
        """A key for ``umid``: it comes first from now on, with any others typed into meanwhile."""
        if not self.enabled:
            return
        self.last_key = time.monotonic()
        if umid in self.favoured:
            return
        self.favoured.add(umid)
        for other, sid in self.sessions():
            if other in self.favoured:
                if self.background.pop(other, None) is not None:
                    set_background(sid, False)
            elif other not in self.background:
                set_background(sid, True)
                self.background[other] = sid
        typed = ", ".join(sorted(self.favoured))
        log.info("keys for %s: %d other guests in the background", typed, len(self.background))

    def tick(self) -> None:
        """Called now and then: everyone back to normal once the keys have stopped."""
        if self.favoured and time.monotonic() - self.last_key > FAVOUR_FOR:
            self.release()

    def release(self) -> None:
        """Every guest back to the normal policy (the keys stopped, or the supervisor goes)."""
        for _umid, sid in self.background.items():
            set_background(sid, False)
        self.background.clear()
        self.favoured.clear()

    def release_all(self) -> None:
        """At start-up: guests a supervisor before this one left in the background (it crashed)."""
        if self.enabled:
            for _umid, sid in self.sessions():
                set_background(sid, False)
