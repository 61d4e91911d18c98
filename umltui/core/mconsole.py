"""An asyncio client for UML's management console (mconsole).

The kernel listens on a unix datagram socket (``~/.uml/UMID/mconsole``). A request is
``<III`` (magic, version, length) followed by 512 bytes of command text; the kernel
answers to the address the client bound, with one or more ``<III`` (err, more, length)
datagrams. We never shell out to ``uml_mconsole``: it hangs on multi-part replies such
as ``sysrq m``.

This module must not import Textual; every wait in it has a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import struct
import tempfile
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

from .protocol import DiskInfo, NicInfo

MCONSOLE_MAGIC = 0xCAFEBABE
MCONSOLE_VERSION = 2
MCONSOLE_MAX_DATA = 512
_REQ = struct.Struct("<III")
_REPLY = struct.Struct("<III")

#: A NIC's name as the kernel makes it: ethN (legacy) or vecN (vector), N without leading zeros
#: (the kernel reads ``vec07`` and ``vec0x7`` as vec7).
NIC_RE = re.compile(r"(eth|vec)(0|[1-9][0-9]{0,3})")

#: Every command the kernel's mconsole knows, for help texts and validation.
COMMANDS = (
    "version",
    "help",
    "halt",
    "reboot",
    "config",
    "remove",
    "sysrq",
    "cad",
    "stop",
    "go",
    "log",
    "proc",
    "stack",
)


# Every sysrq letter the kernel knows, with its name. Destructive ones ask first (the panel and the CLI).
SYSRQ: list[tuple[str, str]] = [
    ("m", "show memory"),
    ("t", "show tasks (panics Debian's 6.1 UML!)"),
    ("w", "show blocked tasks"),
    ("l", "show backtrace of all CPUs"),
    ("p", "show registers"),
    ("q", "show timers"),
    ("s", "sync"),
    ("u", "emergency remount read-only"),
    ("e", "terminate all tasks (SIGTERM)"),
    ("i", "kill all tasks (SIGKILL)"),
    ("f", "OOM kill"),
    ("k", "SAK (kill the console's programs)"),
    ("j", "thaw frozen filesystems"),
    ("n", "nice real-time tasks"),
    ("z", "dump ftrace buffer"),
    ("0", "log level 0"),
    ("4", "log level 4"),
    ("7", "log level 7"),
    ("9", "log level 9"),
    ("b", "reboot at once"),
    ("c", "crash (panic)"),
    ("o", "power off"),
]
SYSRQ_DESTRUCTIVE = {"b", "c", "o", "e", "i", "t"}


def command_problem(command: str) -> str | None:
    """Why the kernel cannot take ``command`` as one request (its length, a NUL), or None."""
    size = len(command.encode(errors="replace"))
    if size >= MCONSOLE_MAX_DATA:
        return (
            f"the command is {size} bytes; the mconsole takes {MCONSOLE_MAX_DATA} bytes per request, "
            f"so a command may have up to {MCONSOLE_MAX_DATA - 1} (the kernel ends it with a NUL)"
        )
    if "\0" in command:
        return "the command holds a NUL byte, which would end it early"
    return None


class MconsoleError(Exception):
    """The guest answered with an error; ``str()`` is the guest's own words."""

    def __init__(self, message: str, *, command: str = "") -> None:
        super().__init__(message)
        self.command = command


class MconsoleUnreachable(MconsoleError):
    """No mconsole answered: the guest is gone, stopped answering, or never started one."""


class MconsoleClient:
    """Talks to one guest's mconsole socket.

    Replies are not tagged with a request id, so requests to one guest are serialised
    with a lock. Each request opens its own client socket so that a late reply to an
    earlier, timed-out request can never be taken for the answer to a later one.

    Args:
        path: the guest's mconsole socket.
        timeout: seconds to wait for each reply datagram.
        sock_dir: where our client sockets are bound (short paths: AF_UNIX has a
            108-byte limit).
    """

    def __init__(self, path: str, *, timeout: float = 5.0, sock_dir: str | None = None) -> None:
        self.path = path
        self.timeout = timeout
        self.sock_dir = sock_dir or tempfile.gettempdir()
        self._lock = asyncio.Lock()

    @staticmethod
    def encode(command: str) -> bytes:
        if problem := command_problem(command):
            raise ValueError(problem)
        data = command.encode()
        return _REQ.pack(MCONSOLE_MAGIC, MCONSOLE_VERSION, len(data)) + data.ljust(MCONSOLE_MAX_DATA, b"\0")

    @staticmethod
    def decode(datagram: bytes) -> tuple[int, int, str]:
        """Return (err, more, text) of one reply datagram."""
        if len(datagram) < _REPLY.size:
            raise MconsoleError(f"short mconsole reply ({len(datagram)} bytes)")
        err, more, length = _REPLY.unpack_from(datagram)
        payload = datagram[_REPLY.size : _REPLY.size + min(length, MCONSOLE_MAX_DATA)]
        return err, more, payload.rstrip(b"\0").decode(errors="replace")

    @contextlib.asynccontextmanager
    async def _socket(self) -> AsyncIterator[socket.socket]:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        fd, own = tempfile.mkstemp(prefix="mc-", suffix=".sock", dir=self.sock_dir)
        os.close(fd)
        os.unlink(own)
        try:
            try:
                sock.bind(own)
            except OSError as exc:
                raise MconsoleUnreachable(f"mconsole {self.path}: cannot bind a reply socket {own}: {exc}") from exc
            sock.setblocking(False)
            try:
                sock.connect(self.path)
            except OSError as exc:
                raise MconsoleUnreachable(f"mconsole {self.path}: {exc.strerror}") from exc
            yield sock
        finally:
            sock.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(own)

    async def stream(self, command: str, *, timeout: float | None = None) -> AsyncIterator[str]:
        """Send ``command`` and yield each part of the answer as it arrives.

        Raises:
            MconsoleError: the guest answered with an error (its words are the message).
            MconsoleUnreachable: no answer within the timeout, or no socket.
        """
        request = self.encode(command)
        loop = asyncio.get_running_loop()
        wait = self.timeout if timeout is None else timeout
        async with self._lock, self._socket() as sock:
            try:
                await loop.sock_sendall(sock, request)
            except OSError as exc:
                raise MconsoleUnreachable(f"mconsole {self.path}: {exc.strerror}") from exc
            while True:
                try:
                    datagram = await asyncio.wait_for(loop.sock_recv(sock, 65536), wait)
                except TimeoutError:
                    raise MconsoleUnreachable(f"no answer to {command!r} within {wait:g}s", command=command) from None
                except OSError as exc:
                    raise MconsoleUnreachable(f"mconsole {self.path}: {exc.strerror}") from exc
                err, more, text = self.decode(datagram)
                if err:
                    raise MconsoleError(text or f"{command!r} failed", command=command)
                yield text
                if not more:
                    return

    async def request(self, command: str, *, timeout: float | None = None) -> str:
        """Send ``command`` and return the whole answer (``timeout``: for each part, else the client's)."""
        return "".join([part async for part in self.stream(command, timeout=timeout)])

    async def has_netdev(self, device: str) -> bool:
        """Whether the guest's kernel has the network device ``device`` now.

        Asked by reading its ``/proc/sys/net/ipv4/conf/DEVICE``: ``config DEVICE`` cannot tell,
        as for ethN and vecN it answers "No get_config routine defined" either way.

        Raises:
            MconsoleUnreachable: the guest did not answer.
        """
        if not NIC_RE.fullmatch(device):
            return False
        try:
            await self.request(f"proc sys/net/ipv4/conf/{device}/forwarding")
        except MconsoleUnreachable:
            raise
        except MconsoleError:  # "Failed to open file"
            return False
        return True

    async def request_expecting_exit(self, command: str, *, timeout: float = 3.0) -> str:
        """For ``halt`` and ``reboot``: the kernel may go away before it answers."""
        saved, self.timeout = self.timeout, timeout
        try:
            return await self.request(command)
        except MconsoleUnreachable:
            return ""
        finally:
            self.timeout = saved


# -- what a command means for the guest's devices and life (pure; the supervisor applies it) --


def ends_guest(command: str) -> bool:
    """Whether the guest goes away (or restarts) without answering: halt, reboot, sysrq b/c/o."""
    words = command.split()
    return bool(words) and (words[0] in ("halt", "reboot") or (words[0] == "sysrq" and words[-1] in ("b", "c", "o")))


def powers_off(command: str) -> bool:
    """Whether the command ends the guest for good (a halt, not a reboot or a crash)."""
    words = command.split()
    return bool(words) and (words[0] == "halt" or (words[0] == "sysrq" and words[-1] == "o"))


@dataclass(frozen=True)
class DeviceChange:
    """A ``config DEV=VALUE`` (plug) or ``remove DEV`` (unplug) that the guest accepted."""

    verb: str  # config | remove
    device: str  # ubd1, eth1, vec0 ...
    value: str = ""


def device_change(command: str) -> DeviceChange | None:
    """The device change a command makes; None for anything else (``config DEV`` alone is a query)."""
    verb, _, arg = command.partition(" ")
    arg = arg.strip()
    if arg.startswith("vec") and ":" in arg.split("=", 1)[0]:  # config vecN:transport=...,...
        device, _, value = arg.partition(":")
        eq = "=" if "=" in value else ""
    else:
        device, eq, value = arg.partition("=")
    if verb == "remove" and device:
        return DeviceChange("remove", device)
    if verb == "config" and eq and device:
        return DeviceChange("config", device, value)
    return None


def describe_disk(device: str, value: str) -> DiskInfo:
    """``[cow,]image`` as the kernel takes it after ``config ubdN=``."""
    parts = value.split(",")
    return {"name": device, "image": parts[-1], "cow": parts[0] if len(parts) > 1 else None}


def describe_nic(device: str, value: str, switch_names: Mapping[str, str]) -> NicInfo:
    """A NIC's setting as ``config ethN=`` or ``config vecN:`` takes it; ``switch_names`` maps
    a segment's folder to its name."""
    parts = value.split(",")
    nic: NicInfo = {"name": device, "kind": parts[0], "target": value, "ip": None, "mac": None}
    if device.startswith("vec"):  # transport=vde,vnl=vde:///folder,mac=...
        opts = dict(p.partition("=")[::2] for p in parts)
        nic["kind"], nic["mac"] = opts.get("transport", "vector"), opts.get("mac")
        url = opts.get("vnl") or opts.get("ifname") or value
        folder = url.split("://", 1)[-1]
        nic["target"] = url
        if nic["kind"] == "vde" and folder in switch_names:
            nic["kind"], nic["target"] = "switch", switch_names[folder]
        elif nic["kind"] == "tap":
            nic["target"] = opts.get("ifname")
    elif parts[0] == "vde" and len(parts) >= 2:  # vde,vde:///folder[,mac]
        nic["mac"] = parts[2] if len(parts) > 2 and parts[2] else None
        folder = parts[1].split("://", 1)[-1]
        nic["target"] = parts[1]
        if folder in switch_names:
            nic["kind"], nic["target"] = "switch", switch_names[folder]
    elif parts[0] == "tuntap" and len(parts) >= 2:
        nic["kind"], nic["target"] = "tap", parts[1]
    return nic


def apply_device_change(
    change: DeviceChange, disks: list[DiskInfo], nics: list[NicInfo], switch_names: Mapping[str, str]
) -> tuple[list[DiskInfo], list[NicInfo]]:
    """The guest's disks and NICs after ``change`` (new lists; disks sorted by name)."""
    disks = [d for d in disks if d["name"] != change.device]
    nics = [n for n in nics if change.device not in (n["name"], n.get("device"))]  # (the lab's eth0 may be vec0)
    if change.verb == "config" and change.device.startswith("ubd"):
        disks.append(describe_disk(change.device, change.value))
    elif change.verb == "config" and change.device.startswith(("eth", "vec")):
        nics.append(describe_nic(change.device, change.value, switch_names))
    return sorted(disks, key=lambda d: d["name"]), nics


def is_nic(device: str) -> bool:
    """Whether a device of a ``config``/``remove`` is a NIC (by its name's kind, ethN or vecN)."""
    return device.startswith(("eth", "vec"))
