"""Halting a guest as vhalt/vcrash did: a clean power-off first, then mconsole ``halt``, then SIGKILL."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal

from ...guest import Guest
from ...mconsole import MconsoleError
from ...process import process_matches
from ...protocol import GuestInfo, GuestState
from ...rootfs import SHUTDOWN_SECONDS
from ..context import ClientConnection, Context


async def halt_guest(guest: Guest, *, clean: bool = True, timeout: float = 5.0) -> None:
    """End ``guest``, as gently as it allows, each step given ``timeout`` seconds.

    ``clean``: ctrl-alt-del first (our busybox init powers off on it), for a guest that has
    booted a root of ours; that step is also given the time a lab's shutdown script may take
    (:data:`SHUTDOWN_SECONDS`, which the guest bounds). A guest that will not go even after
    SIGKILL is marked crashed.
    """
    if not guest.alive:
        return
    guest.halting = True
    exited = asyncio.get_running_loop().create_task(_wait_end(guest))
    steps: list[str] = []
    if clean and guest.ready_word and guest.state != GuestState.BOOTING:
        steps.append("cad")
    steps.append("halt")
    for step in steps:
        with contextlib.suppress(MconsoleError):
            if guest.state == GuestState.PAUSED:
                await guest.mconsole.request("go")
            if step == "cad":
                await guest.mconsole.request("cad")
            else:
                await guest.mconsole.request_expecting_exit("halt", timeout=1.0)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(exited), timeout + (SHUTDOWN_SECONDS if step == "cad" else 0))
            return
    if guest.alive and process_matches(guest.pid, None, f"umid={guest.umid}"):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(guest.pid, signal.SIGKILL)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(exited, timeout)
    if guest.alive:  # it did not go: say so rather than pretend
        guest.set_state(GuestState.CRASHED, "would not stop, even after SIGKILL")


async def _wait_end(guest: Guest) -> None:
    while guest.alive:
        await asyncio.sleep(0.05)


async def op_halt(sup: Context, client: ClientConnection, guests: list[str], force: bool = False) -> list[GuestInfo]:
    """Halt these guests (``force``: skip the clean power-off); their states after it."""
    targets = [sup.find_guest(ref) for ref in guests]
    await asyncio.gather(*(halt_guest(g, clean=not force) for g in targets))
    return [g.to_info() for g in targets]
