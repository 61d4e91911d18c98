"""``mconsole``: one command to a guest's management console, and what the answer changes.

The kernel takes the first command whose name is a prefix of the text (``stopnow`` is
``stop``), so a verb that is not exactly one of its commands is refused here: what the
guest does and what we record must be the same. What a command does to the guest's state
and devices is read from the command (:func:`~umltui.core.mconsole.device_change`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...mconsole import COMMANDS, apply_device_change, device_change, ends_guest, powers_off
from ...protocol import GuestState
from ..errors import OpError

if TYPE_CHECKING:
    from ..server import ClientConnection, Supervisor


async def op_mconsole(sup: Supervisor, client: ClientConnection, guest: str, command: str) -> str:
    """Send ``command``; the guest's answer (its own words on an error, as a ``guest`` error)."""
    g = sup.find_guest(guest)
    verb = command.split(None, 1)[0] if command.strip() else ""
    if not verb:
        raise OpError("an empty mconsole command", "usage")
    if verb not in COMMANDS:  # the kernel runs the first command that is a prefix of the text: refuse instead
        taken = next((c for c in COMMANDS if verb.startswith(c)), None)
        hint = f" (the guest would run it as {taken!r})" if taken else ""
        raise OpError(f"unknown mconsole command {verb!r}{hint}; known: {', '.join(COMMANDS)}", "usage")
    if ends_guest(command):
        g.halting = powers_off(command)
        answer = await g.mconsole.request_expecting_exit(command)
        return answer or f"{command}: sent (the guest does not answer this one)"
    if verb == "log" and not command.endswith("\n"):
        command += "\n"  # the kernel prints it without one, and holds an unfinished line back
    answer = await g.mconsole.request(command)
    if verb == "stop":
        g.set_state(GuestState.PAUSED, "stopped through the mconsole")
    elif verb == "go" and g.state == GuestState.PAUSED:
        g.set_state(GuestState.RUNNING)
    elif change := device_change(command):
        switch_names = {str(sw.ctl): sw.name for sw in sup.switches.values()}
        g.disks, g.nics = apply_device_change(change, g.disks, g.nics, switch_names)
        sup.guest_changed(g)
    return answer
