"""Segments (VDE hubs and switches), network namespaces and taps.

Every segment of a lab is a vdeplug4 endpoint in the private runtime folder, one folder
per segment holding its control socket and its ports' sockets (path sockets, none
abstract): ``vde_plug null:// hub:///FOLDER`` (a hub: every frame to every port) or
``switch:///FOLDER`` (a learning switch). Kernels with the legacy transports (up to 6.15)
join with ``ethN=vde,vde:///FOLDER``, later ones with ``vecN:transport=vde,vnl=vde:///FOLDER``
(:mod:`.cmdline`).

Taps are only ever made inside a namespace the lab names and umltui creates, except when
the user runs as root and names none (then the host's namespace is used, which the lab
checker refuses for non-root users). Processes are spawned detached (setsid) so they
outlive the supervisor; they are ended only by their own pid, after checking that the
pid still is the process we started.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from ..locations import private_dir
from .process import is_alive, process_matches, reap, spawn_detached
from .protocol import GuestInfo, GuestState, NetReport, SegmentNic, SwitchInfo, TapInfo


class NetworkError(Exception):
    pass


VDE_PLUG = "vde_plug"


@dataclass
class Switch:
    """A segment of a lab: a VDE hub or switch whose folder is ``ctl`` (its control socket is
    ``ctl/ctl``; guests, captures and other segments join it as ``vde://ctl``)."""

    lab: str
    name: str
    ctl: Path
    hub: bool = False
    pid: int = 0
    learning: bool = False  # stock switch mode; otherwise the wire is a hub, so a capture sees every frame
    capture: int = 0  # bytes of rolling capture kept (0: none)

    @property
    def key(self) -> str:
        return f"{self.lab}/{self.name}"

    @property
    def alive(self) -> bool:
        return is_alive(self.pid) and process_matches(self.pid, VDE_PLUG, f"://{self.ctl}")

    def to_info(self) -> SwitchInfo:
        return cast(SwitchInfo, {**self.to_state(), "alive": self.alive})

    def to_state(self) -> dict[str, Any]:
        return {
            "lab": self.lab,
            "name": self.name,
            "ctl": str(self.ctl),
            "hub": self.hub,
            "pid": self.pid,
            "learning": self.learning,
            "capture": self.capture,
        }

    @classmethod
    def from_state(cls, rec: dict[str, Any]) -> Switch:
        return cls(
            str(rec["lab"]),
            str(rec["name"]),
            Path(rec["ctl"]),
            bool(rec.get("hub", False)),
            int(rec.get("pid", 0)),
            bool(rec.get("learning", False)),
            int(rec.get("capture", 0)),
        )


@dataclass
class LabRecord:
    """What a lab that is up owns besides its guests and switches: its namespace and taps."""

    name: str
    path: str | None
    netns: str | None = None
    netns_owned: bool = False  # we created the namespace, so we delete it
    taps: dict[str, str | None] = field(default_factory=dict)  # tap -> its address (ours to delete)

    def to_state(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": self.path,
            "netns": self.netns,
            "netns_owned": self.netns_owned,
            "taps": dict(self.taps),
        }

    @classmethod
    def from_state(cls, rec: dict[str, Any]) -> LabRecord:
        return cls(
            str(rec["name"]),
            rec.get("path"),
            rec.get("netns"),
            bool(rec.get("netns_owned", False)),
            dict(rec.get("taps", {})),
        )


def _ports(guests: list[GuestInfo], lab: str, kind: str, target: str) -> list[str]:
    return [
        f"{g['umid']}:{n['name']}"
        for g in guests
        if g["lab"] == lab
        for n in g["nics"]
        if n.get("kind") == kind and n.get("target") == target
    ]


def topology(guests: Iterable[GuestInfo], switches: Iterable[SwitchInfo], labs: Iterable[LabRecord]) -> NetReport:
    """Which NIC is on which segment: the ``net`` report, from what the supervisor knows."""
    guests, labs, switches = list(guests), list(labs), list(switches)
    # A halted or crashed guest's NIC is on no segment (its kernel is gone), though it is still listed.
    live = [g for g in guests if g["state"] not in (GuestState.HALTED, GuestState.CRASHED)]
    report_switches: list[SwitchInfo] = [
        {**sw, "ports": _ports(live, sw["lab"], "switch", sw["name"])} for sw in switches
    ]
    taps: list[TapInfo] = [
        {"name": tap, "ip": ip, "netns": rec.netns, "lab": rec.name, "ports": _ports(live, rec.name, "tap", tap)}
        for rec in labs
        for tap, ip in rec.taps.items()
    ]
    hubs = {(sw["lab"], sw["name"]) for sw in switches if sw["hub"]}
    nics: list[SegmentNic] = [
        {
            "guest": g["umid"],
            "state": g["state"],
            **n,
            "kind": "hub" if n.get("kind") == "switch" and (g["lab"], n.get("target")) in hubs else n["kind"],
        }
        for g in guests
        for n in g["nics"]
    ]
    return {
        "switches": report_switches,
        "taps": taps,
        "namespaces": [{"name": r.netns, "lab": r.name, "owned": r.netns_owned} for r in labs if r.netns],
        "nics": nics,
    }


def require_tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if not path:
        raise NetworkError(f"{name} is missing: install Debian's {package} (apt-get install {package})")
    return path


def vde_url(folder: Path) -> str:
    """How a guest, a capture or another segment joins the segment in ``folder``."""
    return f"vde://{folder}"


async def start_switch(folder: Path, log: Path, *, hub: bool = False, timeout: float = 5.0) -> int:
    """Start a VDE segment in ``folder`` and wait until its control socket listens.

    ``hub``: every frame to every port (so a capture port sees the segment's unicast too);
    otherwise a learning switch (a capture sees its broadcasts and floods only).
    """
    exe = require_tool(VDE_PLUG, "vdeplug")
    shutil.rmtree(folder, ignore_errors=True)  # a dead segment's sockets
    private_dir(folder.parent)
    argv = [exe, "null://", f"{'hub' if hub else 'switch'}://{folder}"]
    pid = spawn_detached(argv, log)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (folder / "ctl").exists():
        if not is_alive(pid):
            reap(pid)
            raise NetworkError(f"vde_plug for {folder} exited at once: {tail(log)}")
        if loop.time() > deadline:
            await kill_switch(pid, folder)
            raise NetworkError(f"vde_plug did not make {folder}/ctl within {timeout:g}s")
        await asyncio.sleep(0.02)
    os.chmod(folder, 0o700)  # its parent is 0700 already; vde_plug makes it as its umask says
    return pid


async def kill_switch(pid: int, folder: Path, timeout: float = 2.0) -> None:
    """End the segment we started (checked by its command line), reap it, remove its folder."""
    if pid and process_matches(pid, VDE_PLUG, f"://{folder}"):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while is_alive(pid) and loop.time() < deadline:
            reap(pid)
            await asyncio.sleep(0.02)
        if is_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    if pid:
        reap(pid)
    shutil.rmtree(folder, ignore_errors=True)


def tail(path: Path, n: int = 400) -> str:
    try:
        data = path.read_bytes()[-n:]
    except OSError:
        return ""
    return data.decode(errors="replace").strip()


async def run(*argv: str, timeout: float = 10.0) -> str:
    """Run a short command; raise NetworkError with its stderr when it fails."""
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise NetworkError(f"{' '.join(argv)} did not finish within {timeout:g}s") from None
    if proc.returncode:
        raise NetworkError(f"{' '.join(argv)}: {err.decode(errors='replace').strip() or 'failed'}")
    return out.decode(errors="replace")


async def netns_exists(name: str) -> bool:
    return Path("/run/netns", name).exists()


async def create_netns(name: str) -> None:
    ip = require_tool("ip", "iproute2")
    if os.geteuid() != 0:
        raise NetworkError(f"creating network namespace {name!r} needs root")
    await run(ip, "netns", "add", name)
    await run(ip, "-n", name, "link", "set", "lo", "up")


async def delete_netns(name: str) -> None:
    ip = require_tool("ip", "iproute2")
    if await netns_exists(name):
        await run(ip, "netns", "del", name)


async def create_tap(tap: str, netns: str | None, address: str | None = None) -> None:
    ip = require_tool("ip", "iproute2")
    prefix = [ip, "-n", netns] if netns else [ip]
    # Ours (this uid's): a guest's kernel, in a user namespace of its own, attaches to it
    # without a capability over the lab's namespace.
    await run(*prefix, "tuntap", "add", "dev", tap, "mode", "tap", "user", str(os.geteuid()))
    if address:
        await run(*prefix, "addr", "add", address, "dev", tap)
    await run(*prefix, "link", "set", tap, "up")


async def delete_tap(tap: str, netns: str | None) -> None:
    ip = require_tool("ip", "iproute2")
    prefix = [ip, "-n", netns] if netns else [ip]
    with contextlib.suppress(NetworkError):
        await run(*prefix, "link", "del", tap)
