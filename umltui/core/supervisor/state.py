"""The supervisor's state file, and adopting what an earlier supervisor of this setup left running.

The file lists guests (:meth:`Guest.to_state`), switches and labs (their ``to_state``); it
is written whole to a temporary file, flushed to disk and renamed over the old one, so a
crash leaves the old file or the new one, never half of one. Adoption trusts the file
only as far as the living processes agree with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
from pathlib import Path
from typing import Any

from ... import locations
from ..guest import Guest
from ..mconsole import MconsoleError, MconsoleUnreachable
from ..network import VDE_PLUG, LabRecord, Switch
from ..process import cmdline, end_session, find_processes, is_alive, process_matches
from ..protocol import GuestState
from .context import Context

log = logging.getLogger("umltui.supervisor")

# Where guests started by an umltui before per-guest UML folders keep their sockets.
LEGACY_UML_DIR = Path(os.environ.get("UMLTUI_UML_DIR") or Path.home() / ".uml")


def snapshot(sup: Context) -> dict[str, Any]:
    return {
        "guests": [g.to_state() for g in sup.guests.values()],
        "switches": [s.to_state() for s in sup.switches.values()],
        "labs": [r.to_state() for r in sup.labs.values()],
    }


def save(path: Path, sup: Context) -> None:
    """Write the state file atomically (temporary file, fsync, rename)."""
    tmp = path.with_suffix(".tmp")
    with os.fdopen(locations.open_private(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), "w") as f:
        json.dump(snapshot(sup), f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def load(path: Path) -> dict[str, Any]:
    """The state file's contents; empty when there is none or it cannot be read."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


async def adopt(sup: Context, positions: dict[str, int] | None = None) -> None:
    """Take over what an earlier supervisor left running, then save what was found.

    ``positions`` (``UMID/conN`` to bytes) say how far the keeper has logged each console
    it reads: the scrollback is read from the logs up to there.
    """
    positions = positions or {}
    data = load(locations.state_file())
    for rec in data.get("labs", []):
        with contextlib.suppress(KeyError, TypeError, ValueError):
            lab = LabRecord.from_state(rec)
            sup.labs[lab.name] = lab
    for rec in data.get("switches", []):
        with contextlib.suppress(KeyError, TypeError, ValueError):
            sw = Switch.from_state(rec)
            sup.switches[sw.key] = sw
            if sw.alive:
                sup.watch_switch(sw)
                sup.captures.start(sw)
    for rec in data.get("guests", []):
        try:
            guest = Guest.from_state(
                rec,
                uml_dir=LEGACY_UML_DIR,  # for records from before each guest had its own
                on_change=sup.guest_changed,
                keeper=sup.keeper,
            )
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("state file: a guest record that cannot be read (%s): %r", exc, rec)
            continue
        sup.guests[guest.umid] = guest
        if guest.state.alive:
            if is_ours(guest):
                mine = {k.split("/", 1)[1]: v for k, v in positions.items() if k.split("/", 1)[0] == guest.umid}
                follow(guest, adopted=True, positions=mine)
            else:
                end_session(guest.pid, f"umid={guest.umid}")  # what a guest killed meanwhile left
                clean = not (guest.uml_dir / guest.umid / "pid").exists()
                guest.state = GuestState.HALTED if clean else GuestState.CRASHED
                guest.reason = "halted" if clean else "the guest died while no supervisor was running"
    await asyncio.gather(*(probe_paused(g) for g in sup.guests.values() if g.alive))
    end_orphan_switches(sup)
    sup.save()


def is_ours(guest: Guest) -> bool:
    """Whether the process the record names is that guest, started by this setup: alive, and
    its command line has the guest's umid and this setup's UML folder for it.

    Only guests this supervisor's own records started are adopted, and only when this holds:
    a guest of another setup of the same user (another runtime directory) has another UML
    folder, and a pid reused by another process lacks the words.
    """
    return is_alive(guest.pid) and process_matches(guest.pid, None, f"umid={guest.umid}", f"uml_dir={guest.uml_dir}")


async def probe_paused(guest: Guest) -> None:
    """Find out whether an adopted guest is stopped, whatever the state file says.

    The kernel tells it one way only: ``stop`` to a stopped guest answers "Already
    stopped" (an error). A guest that was running stops at that, and ``go`` undoes it at
    once (a pause of a few milliseconds). A guest that does not answer is left as it is.
    """
    try:
        await guest.mconsole.request("stop", timeout=1.0)
    except MconsoleUnreachable:
        return
    except MconsoleError as exc:
        if "already stopped" in str(exc).lower():
            guest.set_state(GuestState.PAUSED, guest.reason or "stopped through the mconsole")
        return
    with contextlib.suppress(MconsoleError):
        await guest.mconsole.request("go", timeout=1.0)
    if guest.state == GuestState.PAUSED:
        guest.set_state(GuestState.RUNNING)


def end_orphan_switches(sup: Context) -> None:
    """Stop switches of ours (their socket is in our switch directory) that no record names.

    A supervisor killed between starting a switch and saving it leaves one; the next
    ``up`` would start a second switch beside it.
    """
    known = {str(s.ctl) for s in sup.switches.values()}
    prefix = str(locations.switch_dir()) + os.sep
    for pid in find_processes(VDE_PLUG, prefix):
        ctl = next((a.split("://", 1)[1] for a in cmdline(pid) if a.split("://", 1)[-1].startswith(prefix)), "")
        if ctl and ctl not in known:
            log.warning("stopping switch pid %d on %s: no lab names it (an earlier supervisor died)", pid, ctl)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)


def follow(guest: Guest, *, adopted: bool, notify: bool = True, positions: dict[str, int] | None = None) -> None:
    """Watch a guest's process, consoles and notifications from now on."""
    if notify:
        with contextlib.suppress(OSError):
            guest.open_notify()
    if adopted:
        guest.ready.set()
        guest.load_history(positions)
        guest.take_kept_consoles()
    guest.watch(guest.pid)
