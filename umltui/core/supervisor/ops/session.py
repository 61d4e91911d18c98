"""Who is there and what runs: ``ping``, ``ls``, ``watch``, ``memory``, ``shutdown``."""

from __future__ import annotations

import os

from ...process import memory_kib, session_processes
from ...protocol import GuestInfo, MemoryInfo, PingResult, guest_order
from ..context import ClientConnection, Context
from .lab import down

PROTOCOL_VERSION = 2  # 2: output frames (``subscribe`` with ``raw``)


async def ping(sup: Context, client: ClientConnection) -> PingResult:
    return {
        "pid": os.getpid(),
        "version": PROTOCOL_VERSION,
        "problems": [p for p in [sup.save_problem, *sup.captures.problems.values()] if p],
    }


async def ls(sup: Context, client: ClientConnection) -> list[GuestInfo]:
    """Every guest (:class:`GuestInfo`), by lab and then name, naturally (g2 before g10)."""
    return sorted((g.to_info() for g in sup.guests.values()), key=guest_order)


async def watch(sup: Context, client: ClientConnection) -> list[GuestInfo]:
    """Every guest now, and from now on a ``guest`` event at each change (and ``net`` events)."""
    client.watching = True
    return sorted((g.to_info() for g in sup.guests.values()), key=guest_order)


async def memory(sup: Context, client: ClientConnection, guest: str) -> MemoryInfo:
    """What a guest's host processes use (proportional set size)."""
    g = sup.find_guest(guest)
    pids = session_processes(g.pid) if g.alive else []
    return {"pss_kib": memory_kib(pids), "processes": len(pids)}


async def shutdown(sup: Context, client: ClientConnection, halt: bool = False) -> str:
    """Stop the supervisor; with ``halt``, every guest first."""
    if halt:
        await down(sup, client, all=True)
    sup.stop_soon()
    return "supervisor stopping" if halt else "supervisor stopping; guests keep running"
