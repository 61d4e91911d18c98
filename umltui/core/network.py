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
from pathlib import Path

from .process import is_alive, process_matches, reap, spawn_detached


class NetworkError(Exception):
    pass


UML_SWITCH = "uml_switch"


def require_tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if not path:
        raise NetworkError(f"{name} is missing: install Debian's {package} (apt-get install {package})")
    return path


async def start_switch(ctl: Path, log: Path, *, hub: bool = False, timeout: float = 5.0) -> int:
    """Start a uml_switch on the unix socket ``ctl`` and wait until it listens."""
    exe = require_tool(UML_SWITCH, "uml-utilities")
    with contextlib.suppress(FileNotFoundError):
        ctl.unlink()
    ctl.parent.mkdir(parents=True, exist_ok=True)
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
