"""A lab's life: ``up`` (namespace, taps, switches, guests, with rollback) and ``down``.

``up`` makes what is missing, in that order, and waits until every guest it booted is
running with its consoles attached. If anything fails, what this ``up`` made is undone
(guests halted, switches stopped, taps and the namespace deleted) and the reason is the
answer. Guests and switches already running are left alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .... import locations
from ... import network
from ...agent import READY_WORD
from ...cmdline import CmdlineError, plan_boot
from ...guest import Guest
from ...images import PREINIT_PATH, ImageError, Recipe, check_cow, find_image, has_preinit, is_umltui_image
from ...kernel import KernelMissing
from ...kernels.errors import KernelError
from ...kernels.pick import Picked, pick
from ...lab import GuestSpec, Lab, LabError, load_lab
from ...network import LabRecord, NetworkError, Switch
from ...process import cmdline, descendants, is_alive, spawn_detached
from ...protocol import DownResult, GuestState, UpResult
from ...rootfs import RootfsError, prepare_guest_root, write_boot_files
from ...sandbox import SandboxMissing, grants_for, require_bwrap
from ..context import ClientConnection, Context
from ..errors import OpError
from .halt import halt_guest
from .net import replug, start_switch

BOOT_TIMEOUT = float(os.environ.get("UMLTUI_BOOT_TIMEOUT", "60"))
CONSOLE_TIMEOUT = 10.0
MAX_SOCKET_PATH = 107  # AF_UNIX's sun_path, less its closing NUL
REPLY_SOCKET_NAME = len("mc-12345678.sock")  # the mconsole client's own socket, beside the guest's


@dataclass
class _Made:
    """What one ``up`` created, to undo if it fails."""

    guests: list[Guest] = field(default_factory=list)
    switches: list[Switch] = field(default_factory=list)
    taps: list[str] = field(default_factory=list)
    netns: str | None = None


async def up(
    sup: Context, client: ClientConnection, lab: str, boot_timeout: float = BOOT_TIMEOUT, test: bool = False
) -> UpResult:
    """Boot the lab file (or lab folder) ``lab``: what is missing of it, one ``up`` at a time.

    A ``down`` of the lab while this runs wins: this ``up`` is cancelled, what it made is
    undone, and its answer says so. ``test``: every guest runs the lab's test after its
    startup (``umltui ltest``), so none of them may be running already.
    """
    spec = await asyncio.get_running_loop().run_in_executor(None, load_lab, lab)  # never on the loop
    if test:
        running = [g.umid for g in spec.guests.values() if (old := sup.guests.get(g.umid)) and old.alive]
        if running:
            raise OpError(f"lab {spec.name}: {', '.join(running)} already running: take the lab down first", "conflict")
        for gspec in spec.guests.values():
            gspec.test = True
    task = asyncio.current_task()
    assert task is not None
    sup.ups[spec.name] = task
    try:
        async with sup.up_lock:
            return await _up(sup, spec, boot_timeout)
    except asyncio.CancelledError:
        if task in sup.taken_down:
            task.uncancel()
            raise OpError(f"lab {spec.name}: taken down by a later `down` while it came up", "conflict") from None
        raise
    finally:
        sup.taken_down.discard(task)
        if sup.ups.get(spec.name) is task:
            del sup.ups[spec.name]


async def _cancel_ups(sup: Context, labs: set[str]) -> None:
    """Stop the ``up`` of these labs that are under way, and wait for their rollback."""
    tasks = [t for name, t in sup.ups.items() if name in labs and not t.done()]
    for t in tasks:
        sup.taken_down.add(t)
        t.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=60)


def _check_umids(sup: Context, lab: Lab) -> None:
    for gspec in lab.guests.values():
        other = sup.guests.get(gspec.umid)
        if other and other.alive and other.lab != lab.name:
            raise OpError(f"umid {gspec.umid} is already used by running guest {other.lab}/{other.name}", "conflict")
        box = locations.guest_box(gspec.umid)
        mconsole = box / gspec.umid / "mconsole"
        longest = max(len(os.fsencode(mconsole)), len(os.fsencode(box)) + 1 + REPLY_SOCKET_NAME)
        if longest > MAX_SOCKET_PATH:
            raise OpError(
                f"umid {gspec.umid}: its mconsole sockets in {box} would be longer than a unix socket path "
                f"may be ({MAX_SOCKET_PATH} bytes): give the guest a shorter umid, or umltui a shorter "
                "runtime directory (UMLTUI_RUNTIME_DIR)",
                "usage",
            )


def _modules(kernel: Picked | None) -> str | None:
    """The release of the modules an image for ``kernel`` carries (None: the installed kernel's)."""
    return Path(kernel.modules).name if kernel and kernel.modules else None


@dataclass(frozen=True)
class _Root:
    """What a guest boots from: a busybox folder, or an image (and COW) that may be one of ours."""

    disk: tuple[Path, Path | None] | None = None  # (image, COW file); None for the busybox folder
    ours: bool = True  # built by umltui: it reads this boot's settings and says when it is ready
    preinit: bool = False  # an image of ours with the pre-init (lab files copied, NICs named, before systemd)


def resolve_root(spec: GuestSpec, kernel: Picked | None = None) -> _Root:
    """Find a guest's root image and check its COW file, before anything of the lab starts.

    Raises:
        ImageError: the image is not built, or a COW file lies over another image.
    """
    if spec.root.kind == "busybox":
        return _Root()
    if spec.root.kind == "debian":
        recipe = Recipe.for_root(spec.root)
        image = find_image(recipe, _modules(kernel))
        if image is None:
            extra = f" --packages {','.join(recipe.packages)}" if recipe.packages else ""
            raise ImageError(
                f"{spec.umid}: the Debian image it needs ({recipe.default_name()}) is not built yet: "
                f"`umltui up` builds it, or run  umltui image build --suite {recipe.suite}{extra}"
            )
        cow = locations.guest_dir(spec.umid) / "root.cow"
        check_cow(cow, image.path)
        return _Root((image.path, cow), preinit=True)
    assert spec.root.image is not None
    if spec.root.cow is not None:
        check_cow(spec.root.cow, spec.root.image)
    ours = is_umltui_image(spec.root.image)
    return _Root((spec.root.image, spec.root.cow), ours=ours, preinit=ours and has_preinit(spec.root.image))


async def _up(sup: Context, lab: Lab, timeout: float) -> UpResult:
    _check_umids(sup, lab)
    loop = asyncio.get_running_loop()
    to_boot = [g for g in lab.guests.values() if not ((old := sup.guests.get(g.umid)) and old.alive)]
    try:  # (off the loop: the first need of a newer kernel fetches it)
        kernels = {g.umid: await loop.run_in_executor(None, pick, g.root.kind, g.kernel) for g in to_boot}
        roots = {g.umid: await loop.run_in_executor(None, resolve_root, g, kernels[g.umid]) for g in to_boot}
    except (ImageError, KernelError) as exc:
        raise OpError(str(exc), "boot" if isinstance(exc, ImageError) else "missing") from None
    record = sup.labs.get(lab.name) or LabRecord(lab.name, str(lab.path), lab.netns)
    sup.labs[lab.name] = record
    made = _Made()
    warnings = sorted({w for k in kernels.values() if (w := k.warning)})
    try:
        if lab.netns and not await network.netns_exists(lab.netns):
            await network.create_netns(lab.netns)
            record.netns, record.netns_owned, made.netns = lab.netns, True, lab.netns
        for tap in lab.taps.values():
            if tap.name not in record.taps:
                await network.create_tap(tap.name, lab.netns, tap.ip)
                record.taps[tap.name] = tap.ip
                made.taps.append(tap.name)
        restarted: list[Switch] = []
        for sspec in lab.switches.values():
            sw = sup.switches.get(f"{lab.name}/{sspec.name}")
            if not (sw and sw.alive):
                made.switches.append(
                    await start_switch(sup, lab.name, sspec.name, sspec.hub, sspec.learning, sspec.capture)
                )
                if sw is not None:  # it had died: its guests' NICs go on the new one
                    restarted.append(made.switches[-1])
        for sw in restarted:
            warnings += await replug(sup, sw)
        for wave in boot_waves(lab, {g.umid for g in to_boot}):
            booted = [await _boot(sup, lab, gspec, kernels[gspec.umid], roots[gspec.umid], made) for gspec in wave]
            await _wait_booted(booted, timeout)
    except (
        OpError,
        LabError,
        NetworkError,
        RootfsError,
        CmdlineError,
        KernelMissing,
        SandboxMissing,
        ImageError,
        OSError,
    ) as exc:
        await _rollback(sup, made, record)
        kind = exc.kind if isinstance(exc, OpError) else ("lab" if isinstance(exc, LabError) else "boot")
        raise OpError(str(exc), kind) from None
    except BaseException:
        await _rollback(sup, made, record)
        raise
    sup.save()
    return {
        "lab": lab.to_json(),
        "booted": [g.umid for g in made.guests],
        "guests": [sup.guests[g.umid].to_info() for g in lab.guests.values()],
        "warnings": [*lab.warnings, *warnings],
    }


async def _boot(sup: Context, lab: Lab, spec: GuestSpec, picked: Picked, root: _Root, made: _Made) -> Guest:
    """Start one guest; it is in ``made`` from the moment the supervisor knows it, so a failure
    at any later step (its socket, its process: EAGAIN under a pids limit) is rolled back."""
    kernel = picked.path
    folder = locations.guest_dir(spec.umid)
    ready_word = READY_WORD if root.ours else None
    hostfs_root = boot_folder = None
    loop = asyncio.get_running_loop()
    if root.disk is None:
        hostfs_root = await loop.run_in_executor(None, prepare_guest_root, spec, folder / "root")
    elif root.ours:
        boot_folder = await loop.run_in_executor(None, write_boot_files, spec, folder / "boot")
    box = locations.private_dir(locations.guest_box(spec.umid))
    grants = grants_for(
        folder=locations.private_dir(folder),
        box=box,
        kernel=kernel,
        lab_folder=_lab_folder(lab),
        hostfs=spec.hostfs.values(),
        files=spec.files,
        disks=[(d.image, d.cow, d.readonly) for d in spec.disks]
        + ([(root.disk[0], root.disk[1], False)] if root.disk else []),
        switch_folder=locations.switch_dir() / lab.name if lab.switches else None,
        taps=any(n.kind == "tap" for n in spec.nics),
    )
    plan = plan_boot(
        spec,
        kernel=kernel,
        uml_dir=box,
        notify_socket=box / "notify.sock",
        switch_sockets={s.name: s.ctl for s in sup.switches.values() if s.lab == lab.name},
        hostfs_root=hostfs_root,
        init="/sbin/init" if root.disk is None else PREINIT_PATH if root.preinit else None,
        root_disk=root.disk,
        boot_folder=boot_folder,
        netns=lab.netns,
        ip_tool=network.require_tool("ip", "iproute2") if lab.netns else "ip",
        grants=grants,
        bwrap=require_bwrap(),
        legacy_nics=picked.legacy_nics,
        fpu_workaround=picked.workaround,
    )
    old = sup.guests.get(spec.umid)
    if old:
        old.close()
    guest = sup.new_guest(
        umid=spec.umid,
        name=spec.name,
        lab=lab.name,
        folder=folder,
        notify_path=box / "notify.sock",
        console_count=spec.consoles,
        ready_word=ready_word,
    )
    guest.nics, guest.disks, guest.argv = plan.nics, plan.disks, plan.argv
    guest.netns, guest.mem, guest.root, guest.grants = lab.netns, spec.mem, spec.root.kind, grants
    guest.kernel, guest.legacy_nics = picked.release, picked.legacy_nics
    sup.guests[spec.umid] = guest
    made.guests.append(guest)
    # The kernel makes UMID/mconsole as its umask says: whoever reaches it can halt the
    # guest or plug a host file into it, so the directories holding them are ours alone.
    locations.private_dir(sup.uml_dir)
    stale = box / spec.umid
    if (stale / "pid").exists() and not (old and old.alive):  # a crashed guest's leftovers
        shutil.rmtree(stale, ignore_errors=True)
    con0 = guest.begin_boot_log()
    guest.open_notify()
    guest.cpu = sup.cpu.cpu_for(guest)
    guest.outer = spawn_detached(plan.argv, con0, cpu=guest.cpu)
    guest.watch(await _kernel_of(guest.outer, kernel))
    sup.guest_changed(guest)
    sup.save()  # on disk at once: a crash now must not leave a guest no supervisor knows
    return guest


def boot_waves(lab: Lab, to_boot: set[str]) -> list[list[GuestSpec]]:
    """The guests to boot (their umids), in waves: a guest is in the wave after the last
    of the guests it is ``after`` (a guest already running counts as ready). The first
    wave is every guest that waits for none, as a lab without ``after`` boots: all at once.
    The lab has no circle of ``after`` (the lab reader refuses one).
    """
    level: dict[str, int] = {}

    def of(name: str) -> int:
        if name not in level:
            spec = lab.guests[name]
            level[name] = -1 if spec.umid not in to_boot else 1 + max((of(o) for o in spec.after), default=-1)
        return level[name]

    waves: dict[int, list[GuestSpec]] = {}
    for name, spec in lab.guests.items():
        if spec.umid in to_boot:
            waves.setdefault(of(name), []).append(spec)
    return [waves[n] for n in sorted(waves)]


def _lab_folder(lab: Lab) -> Path | None:
    """The folder a lab's guests are granted: the lab file's, but not for a lab umltui ships."""
    if lab.path is None or Path(__file__).resolve().parents[3] in lab.path.resolve().parents:
        return None
    return lab.path.parent


async def _kernel_of(outer: int, kernel: str, timeout: float = 5.0) -> int:
    """The kernel's host pid: the nearest process below the sandbox's outer one that runs
    ``kernel`` (the sandbox's own pid 1 is between them; before, the launcher's FPU probe is
    a child too). The kernel leads a session of its own, where its helpers and its
    processes' host processes run. Its pid file holds its pid in the sandbox: not this one."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if kids := [k for k in descendants(outer) if cmdline(k)[:1] == [kernel]]:
            return kids[0]
        if not is_alive(outer):
            break
        await asyncio.sleep(0.005)
    return outer  # it ended at once (its log says why), or no sandbox: follow it


async def _wait_booted(guests: list[Guest], timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        async with asyncio.timeout(timeout):
            await asyncio.gather(*(g.ready.wait() for g in guests))
    except TimeoutError:
        slow = [g.umid for g in guests if g.state == GuestState.BOOTING]
        raise OpError(
            f"{', '.join(slow)} did not finish booting within {timeout:g}s; "
            f"last kernel output: {guests[0].last_words()}",
            "boot",
        ) from None
    failed = [g for g in guests if g.state not in (GuestState.RUNNING, GuestState.PAUSED)]
    if failed:
        g = failed[0]
        raise OpError(f"{g.umid} failed to boot: {g.reason or g.state}; last kernel output: {g.last_words()}", "boot")
    # Consoles get their ptys when their gettys open them, just after "ready".
    consoles_deadline = min(deadline, loop.time() + CONSOLE_TIMEOUT)
    while True:
        missing = [f"{g.umid} {n}" for g in guests if g.ready_word for n, c in g.consoles.items()
                   if n != "con0" and not c.pts]  # fmt: skip
        if not missing:
            return
        if loop.time() >= consoles_deadline:
            raise OpError(f"{', '.join(missing)}: no console pty within {CONSOLE_TIMEOUT:g}s "
                          f"(the guest could not start its gettys?); last kernel output: "
                          f"{guests[0].last_words()}", "boot")  # fmt: skip
        await asyncio.sleep(0.05)


async def _rollback(sup: Context, made: _Made, record: LabRecord) -> None:
    """Undo what one ``up`` made: every guest it registered, started or not, goes.

    A guest whose process never started (pid 0) is not halted (there is nothing to ask)
    but ended at once; only a process that would not stop even after SIGKILL stays listed.
    """
    never = [g for g in made.guests if g.pid <= 0 and g.outer <= 0]
    for g in never:
        g.set_state(GuestState.CRASHED, "never started: the up that made it failed")
    started = [g for g in made.guests if g not in never]
    await asyncio.gather(*(halt_guest(g, clean=False) for g in started), return_exceptions=True)
    for g in made.guests:
        if g in never or not is_alive(g.pid):
            if sup.guests.get(g.umid) is g:
                sup.guests.pop(g.umid)
            g.close()
    for sw in made.switches:
        sup.captures.stop(sw.key)
        await network.kill_switch(sw.pid, sw.ctl)
        sup.switches.pop(sw.key, None)
    for tap in made.taps:
        await network.delete_tap(tap, record.netns)
        record.taps.pop(tap, None)
    if made.netns:
        with contextlib.suppress(NetworkError):
            await network.delete_netns(made.netns)
        record.netns_owned = False
    if not any(g.lab == record.name for g in sup.guests.values()):
        sup.labs.pop(record.name, None)
    sup.save()


def _down_targets(sup: Context, targets: list[str] | None, everything: bool) -> tuple[list[Guest], set[str]]:
    """The guests and labs a ``down`` means."""
    if everything:
        every = list(sup.guests.values())
        return every, set(sup.labs) | set(sup.ups) | {g.lab for g in every} | {s.lab for s in sup.switches.values()}
    if not targets:
        up_labs = sorted({g.lab for g in sup.guests.values()} | set(sup.labs) | set(sup.ups))
        if len(up_labs) != 1:
            raise OpError(
                "say which lab or guests to take down (labs up: " + (", ".join(up_labs) or "none") + ")", "usage"
            )
        return [g for g in sup.guests.values() if g.lab in up_labs], set(up_labs)
    guests: list[Guest] = []
    labs: set[str] = set()
    for ref in targets:
        if ref in sup.labs or ref in sup.ups or any(g.lab == ref for g in sup.guests.values()):
            labs.add(ref)
            guests += [g for g in sup.guests.values() if g.lab == ref]
        elif any(ref in (g.umid, g.name, f"{g.lab}/{g.name}") for g in sup.guests.values()):
            guests.append(sup.find_guest(ref))  # (or: the name stands for several guests)
        else:  # down takes labs and guests: say both
            lab_names = ", ".join(sorted({g.lab for g in sup.guests.values() if g.lab} | set(sup.labs))) or "none"
            known = ", ".join(sorted(sup.guests)) or "none"
            raise OpError(f"no lab or guest {ref!r} (labs: {lab_names}; guests: {known})", "usage")
    return guests, labs


async def _remove_lab_network(sup: Context, lab: str) -> list[str]:
    """Stop a lab's switches, delete its taps and its namespace (if ours); the switches stopped."""
    stopped = []
    for key, sw in list(sup.switches.items()):
        if sw.lab == lab:
            sup.captures.stop(sw.key)
            await network.kill_switch(sw.pid, sw.ctl)
            del sup.switches[key]
            stopped.append(key)
    record = sup.labs.pop(lab, None)
    if record:
        for tap in record.taps:
            await network.delete_tap(tap, record.netns)
        if record.netns and record.netns_owned:
            await network.delete_netns(record.netns)
    return stopped


async def down(
    sup: Context, client: ClientConnection, targets: list[str] | None = None, all: bool = False, clean: bool = False
) -> DownResult:
    """Halt guests and forget them; a lab none of whose guests are left loses its network too.

    With no targets, the one lab that is up; ``all``: everything; ``clean``: also delete the
    guests' root folders and logs.
    """
    guests, labs = _down_targets(sup, targets, all)
    if any(name in labs for name in sup.ups):
        await _cancel_ups(sup, labs)
        # What the cancelled ups booted is undone; they may also have booted more of the lab.
        chosen = {g.umid for g in guests}
        guests = [g for g in sup.guests.values() if g.lab in labs or g.umid in chosen]
    await asyncio.gather(*(halt_guest(g) for g in guests))
    for g in guests:
        g.close()
        sup.guests.pop(g.umid, None)
        stale = g.uml_dir / g.umid
        if not g.alive and (stale / "pid").exists():  # a crashed guest's leftovers
            shutil.rmtree(stale, ignore_errors=True)
        if clean:
            shutil.rmtree(g.folder, ignore_errors=True)
    stopped_switches = []
    for lab in labs:
        if not any(g.lab == lab for g in sup.guests.values()):  # else some of its guests are listed: keep it
            stopped_switches += await _remove_lab_network(sup, lab)
    sup.save()
    return {"guests": [g.umid for g in guests], "switches": stopped_switches, "labs": sorted(labs)}


__all__ = ["BOOT_TIMEOUT", "down", "up"]
