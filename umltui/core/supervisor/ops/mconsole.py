"""``mconsole``: one command to a guest's management console, and what the answer changes.

The kernel takes the first command whose name is a prefix of the text (``stopnow`` is
``stop``), so a verb that is not exactly one of its commands is refused here: what the
guest does and what we record must be the same. What a command does to the guest's state
and devices is read from the command (:func:`~umltui.core.mconsole.device_change`).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from ....locations import private_dir
from ...guest import Guest
from ...mconsole import (
    COMMANDS,
    NIC_RE,
    DeviceChange,
    MconsoleError,
    MconsoleUnreachable,
    apply_device_change,
    command_problem,
    device_change,
    ends_guest,
    is_nic,
    powers_off,
)
from ...protocol import GuestState
from ..context import ClientConnection, Context
from ..errors import OpError


def _bring_in(g: Guest, command: str) -> str:
    """``command``, with each disk file its guest's sandbox does not hold given as a hard link
    to it in the guest's own folder (``plug/``): the same file, under a name the sandbox holds.

    The user names the file, so the user's agent makes it reachable; only that file, not
    its folder. A guest from before sandboxes (no grants) takes the command as it is.

    Raises:
        OpError: a file that cannot be linked there (another file system, a COW file still
            to be made) or a switch socket of another lab.
    """
    change = device_change(command)
    if g.grants is None or change is None or change.verb != "config":
        return command
    parts = change.value.split(",")
    if change.device.startswith("ubd"):  # ubdN[r]=[cow,]image: an image under a COW is only read
        *cow, image = parts
        readonly = "r" in change.device[3:] or bool(cow)
        files = [(p, True) for p in cow] + [(image, not readonly)]
        linked = [_linked(g, change.device, Path(p), write) if p.startswith("/") else p for p, write in files]
        return f"config {change.device}={','.join(linked)}"
    for part in parts:  # a VDE segment's folder: vde,vde:///F or transport=vde,vnl=vde:///F
        folder = part.rpartition("=")[2].partition("://")[2] if "://" in part else ""
        if folder.startswith("/") and not g.grants.allows(Path(folder)):
            raise _unreachable(g, Path(folder), "use a segment of its own lab")
    return command


def _linked(g: Guest, device: str, path: Path, write: bool) -> str:
    assert g.grants is not None
    if g.grants.allows(path, write=write):
        return str(path)
    plug = private_dir(g.folder / "plug")
    link = plug / f"{device}-{path.name}"
    try:
        link.unlink(missing_ok=True)
        os.link(path, link)
    except OSError as exc:
        raise _unreachable(g, path, f"it could not be linked into {plug}: {exc.strerror}") from None
    return str(link)


def _unreachable(g: Guest, path: Path, why: str) -> OpError:
    places = ", ".join(str(p) for p in g.grants.rw) if g.grants else ""
    return OpError(
        f"{g.umid} cannot reach {path}: its kernel is confined to what its lab grants it ({places}), and {why}; "
        "put the file in the lab's folder, or name it in the lab",
        "usage",
    )


def _unplugged(g: Guest, device: str) -> None:
    """Drop the links a hot-plug of ``device`` made."""
    for link in (g.folder / "plug").glob(f"{device}-*"):
        link.unlink(missing_ok=True)


def _fits(command: str) -> str:
    """``command``, if the kernel can take it as one request.

    Raises:
        OpError: too long for one request, or holding a NUL (``usage``: nothing was sent).
    """
    if problem := command_problem(command):
        raise OpError(f"{problem}; nothing was sent", "usage")
    return command


async def op_mconsole(sup: Context, client: ClientConnection, guest: str, command: str) -> str:
    """Send ``command``; the guest's answer (its own words on an error, as a ``guest`` error)."""
    g = sup.find_guest(guest)
    verb = command.split(None, 1)[0] if command.strip() else ""
    if not verb:
        raise OpError("an empty mconsole command", "usage")
    if verb not in COMMANDS:  # the kernel runs the first command that is a prefix of the text: refuse instead
        taken = next((c for c in COMMANDS if verb.startswith(c)), None)
        hint = f" (the guest would run it as {taken!r})" if taken else ""
        raise OpError(f"unknown mconsole command {verb!r}{hint}; known: {', '.join(COMMANDS)}", "usage")
    if verb == "log" and not command.endswith("\n"):
        command += "\n"  # the kernel prints it without one, and holds an unfinished line back
    _fits(command)
    if ends_guest(command):
        g.halting = powers_off(command)
        answer = await g.mconsole.request_expecting_exit(command)
        return answer or f"{command}: sent (the guest does not answer this one)"
    change = device_change(command)
    nic = change is not None and is_nic(change.device)
    if change is not None and nic and not NIC_RE.fullmatch(change.device):
        raise OpError(
            f"{change.device!r} is not a NIC's name: use ethN or vecN, N a number without leading zeros "
            "(the kernel would read it as another device)",
            "usage",
        )
    mark = _con0_size(g)
    try:
        answer = await g.mconsole.request(_fits(_bring_in(g, command)))
    except MconsoleUnreachable:
        raise
    except MconsoleError as exc:
        if change is not None and nic and change.verb == "remove" and _recorded(g, change.device):
            return await _drop_if_gone(sup, g, change, exc)
        raise
    if verb == "stop":
        g.set_state(GuestState.PAUSED, "stopped through the mconsole")
    elif verb == "go" and g.state == GuestState.PAUSED:
        g.set_state(GuestState.RUNNING)
    elif change is not None:
        if nic and change.verb == "config" and not await g.mconsole.has_netdev(change.device):
            words = await _guest_words(g, mark)
            raise OpError(
                f"{g.umid}'s kernel answered OK to config {change.device}, but it has no {change.device}: "
                "the NIC was not made, and nothing was recorded"
                + (f"; the guest said: {words}" if words else " (the guest said nothing about it)"),
                "guest",
            )
        if change.verb == "remove":
            _unplugged(g, change.device)
        _record(sup, g, change)
    return answer.lstrip("\n")  # (the kernel starts a proc answer with an empty line)


def _record(sup: Context, g: Guest, change: DeviceChange) -> None:
    switch_names = {str(sw.ctl): sw.name for sw in sup.switches.values()}
    g.disks, g.nics = apply_device_change(change, g.disks, g.nics, switch_names)
    sup.guest_changed(g)


def _recorded(g: Guest, device: str) -> bool:
    return any(device in (n["name"], n.get("device")) for n in g.nics)


async def _drop_if_gone(sup: Context, g: Guest, change: DeviceChange, refusal: MconsoleError) -> str:
    """A ``remove`` of a NIC we list that the guest refused: if the guest has no such device
    (a NIC that was never made, or is gone), the entry is stale; drop it and say so."""
    if await g.mconsole.has_netdev(change.device):
        raise refusal
    _record(sup, g, change)
    return (
        f"{g.umid} has no {change.device} (the guest said: {refusal}); "
        "its stale entry was dropped from umltui's list of the guest's NICs"
    )


def _con0_size(g: Guest) -> int | None:
    """Where the kernel's log (con0) ends now: what it says after a command is read from there."""
    try:
        return g.con0_log.stat().st_size
    except OSError:
        return None


CON0_SETTLE = 0.3  # seconds for the kernel's lines about a command to reach its log


async def _guest_words(g: Guest, mark: int | None, *, lines: int = 6) -> str:
    """The kernel's last lines since ``mark`` (its words on a device it failed to make), joined."""
    if mark is None:
        return ""
    await asyncio.sleep(CON0_SETTLE)
    try:
        with open(g.con0_log, "rb") as f:
            f.seek(mark)
            data = f.read(8192)
    except OSError:
        return ""
    said = [line.strip() for line in data.decode(errors="replace").replace("\r", "\n").splitlines()]
    # (our own look for the device makes the kernel log "open /proc/sys/net/...: -2")
    said = [line for line in said if line and not line.startswith("open /proc/sys/net/")]
    return "; ".join(said[-lines:])
