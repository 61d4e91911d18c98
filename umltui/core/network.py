"""Switches (uml_switch), network namespaces and taps.

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


UML_SWITCH = "uml_switch"


@dataclass
class Switch:
    """A uml_switch (or hub) of a lab, on the unix socket ``ctl``."""

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
        return is_alive(self.pid) and process_matches(self.pid, UML_SWITCH, str(self.ctl))

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


async def start_switch(ctl: Path, log: Path, *, hub: bool = False, timeout: float = 5.0) -> int:
    """Start a uml_switch on the unix socket ``ctl`` and wait until it listens.

    ``hub`` is the wire's mode: umltui runs hubs and (non-learning) switches alike as
    ``uml_switch -hub``, so a capture port sees every frame of the segment.
    """
    exe = require_tool(UML_SWITCH, "uml-utilities")
    with contextlib.suppress(FileNotFoundError):
        ctl.unlink()
    private_dir(ctl.parent)
    argv = [exe, "-unix", str(ctl)] + (["-hub"] if hub else [])
    pid = spawn_detached(argv, log)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not ctl.exists():
        if not is_alive(pid):
            raise NetworkError(f"uml_switch for {ctl} exited at once: {tail(log)}")
        if loop.time() > deadline:
            await kill_switch(pid, ctl)
            raise NetworkError(f"uml_switch did not create {ctl} within {timeout:g}s")
        await asyncio.sleep(0.02)
    os.chmod(ctl, 0o600)  # uml_switch makes it as its umask says; its directory is 0700 already
    return pid


async def kill_switch(pid: int, ctl: Path, timeout: float = 2.0) -> None:
    """End the switch we started (checked by its command line), reap it, remove its socket."""
    if pid and process_matches(pid, UML_SWITCH, str(ctl)):
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
    with contextlib.suppress(FileNotFoundError):
        ctl.unlink()


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
    await run(*prefix, "tuntap", "add", "dev", tap, "mode", "tap")
    if address:
        await run(*prefix, "addr", "add", address, "dev", tap)
    await run(*prefix, "link", "set", tap, "up")


async def delete_tap(tap: str, netns: str | None) -> None:
    ip = require_tool("ip", "iproute2")
    prefix = [ip, "-n", netns] if netns else [ip]
    with contextlib.suppress(NetworkError):
        await run(*prefix, "link", "del", tap)
