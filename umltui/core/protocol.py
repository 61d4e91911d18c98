"""The wire between the supervisor and its clients: one JSON object per line over a unix socket.

Both sides import their types from here, so a field or a state name is spelt once.

- A request carries ``op`` and, when it wants an answer, ``id``; the answer is
  ``{"id", "ok": true, "result"}`` or ``{"id", "ok": false, "error", "kind"}`` (:data:`ErrorKind`).
- ``input`` and ``resize`` take no ``id``: keystrokes are fire-and-forget and stay in order.
- Unrequested messages carry ``event``: :class:`OutputEvent` (console bytes, base64),
  :class:`GuestEvent` (a guest changed), :class:`NetEvent`, :class:`ErrorEvent`.
- A client that subscribes with ``raw: true`` gets a console's bytes as an output frame
  instead of an :class:`OutputEvent`: a line ``\x1e<size> <console> <guest>\n``, then
  ``<size>`` bytes as the guest wrote them (:func:`output_frame`). No JSON line starts with
  ``\x1e``. It is the bulk of what a client reads, and a frame costs neither side a JSON
  object nor base64 (a third more bytes).

What each operation takes is the signature of its handler (``supervisor/ops``), checked
before it runs; what it answers is the ``*Info``/``*Result`` type named in its docstring.
Nothing here does I/O.
"""

from __future__ import annotations

import json
import re
import types
import typing
from enum import StrEnum
from typing import Any, Literal, NotRequired, TypedDict


class ProtocolError(Exception):
    """A request that is not of the form its operation takes."""


class GuestState(StrEnum):
    """Where a guest is in its life; the wire carries the value."""

    BOOTING = "booting"
    RUNNING = "running"  # busybox root: its init has finished; other roots: the kernel started init
    PAUSED = "paused"  # after mconsole ``stop``
    HUNG = "hung"  # the kernel's hang notification
    HALTED = "halted"
    CRASHED = "crashed"  # with a reason: a panic's words, a signal, an exit status

    @property
    def alive(self) -> bool:
        return self in ALIVE_STATES


_DIGITS = re.compile(r"(\d+)")
ALIVE_STATES = frozenset({GuestState.BOOTING, GuestState.RUNNING, GuestState.PAUSED, GuestState.HUNG})


def natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sort names as people count: ``g2`` before ``g10`` (digit runs compare as numbers)."""
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in _DIGITS.split(name) if part)


def guest_order(info: GuestInfo) -> tuple[object, ...]:
    """The one order of guests everywhere (``ls``, the tree, the grid): by lab, then name, naturally."""
    return (natural_key(info.get("lab") or "~"), natural_key(info["umid"]))


ErrorKind = Literal[
    "error",
    "usage",
    "lab",
    "guest",
    "boot",
    "conflict",
    "missing",
    "protocol",
    "internal",
    "unreachable",
    "timeout",
    "unsafe",
]
"""Why a request failed; the command line exits 2 for usage, lab and protocol, else 1."""

USER_ERROR_KINDS = frozenset({"usage", "lab", "protocol"})


class NicInfo(TypedDict):
    """One guest NIC as ``ls`` and ``net`` show it."""

    name: str  # eth0, vec0
    kind: str  # switch | hub | tap | slirp | vde | vector | daemon ...
    target: str | None  # the switch's name, the tap's name, a socket
    ip: str | None
    mac: str | None
    netns: NotRequired[str | None]
    device: NotRequired[str]  # the kernel's device (vec0 for the guest's eth0 on a kernel without ethN=)


class DiskInfo(TypedDict):
    name: str  # ubd0 .. ubd15
    image: str
    cow: str | None


class GuestInfo(TypedDict):
    """A guest as ``ls``, ``watch`` and guest events carry it."""

    name: str
    lab: str  # "" for a guest umltui did not start
    umid: str
    pid: int
    state: GuestState
    reason: str
    consoles: dict[str, str | None]  # con1.. -> /dev/pts/N, None while not attached
    con0_log: str
    logs: dict[str, str]
    nics: list[NicInfo]
    disks: list[DiskInfo]
    netns: str | None
    mem: str | None
    started_at: float
    notes: list[str]  # what the guest wrote to /proc/mconsole
    startup_status: NotRequired[int | None]  # the lab's startup script's exit status (None: none ran, or unknown)
    cpu: int | None  # the host CPU its processes are kept on; None: any
    kernel: NotRequired[str]  # its kernel's release ("" for a guest from before kernels were chosen)
    legacy_nics: NotRequired[bool]  # its kernel has the ethN= transports (else its NICs are vecN devices)


class SwitchInfo(TypedDict):
    lab: str
    name: str
    ctl: str
    hub: bool
    pid: int
    alive: bool
    learning: NotRequired[bool]  # a learning switch (a capture sees only its floods)
    capture: NotRequired[int]  # bytes of rolling capture the supervisor keeps
    ports: NotRequired[list[str]]  # UMID:NIC, in ``net``


class TapInfo(TypedDict):
    name: str
    ip: str | None
    netns: str | None
    lab: str
    ports: list[str]


class NamespaceInfo(TypedDict):
    name: str
    lab: str
    owned: bool


class SegmentNic(NicInfo):
    """A NIC in ``net``: which guest it is on, and that guest's state."""

    guest: str
    state: GuestState


class NetReport(TypedDict):
    switches: list[SwitchInfo]
    taps: list[TapInfo]
    namespaces: list[NamespaceInfo]
    nics: list[SegmentNic]


class LabInfo(TypedDict):
    name: str
    path: str | None
    netns: str | None
    guests: list[str]
    switches: list[str]
    taps: list[str]


class UpResult(TypedDict):
    lab: LabInfo
    booted: list[str]
    guests: list[GuestInfo]
    warnings: list[str]  # what this up could not set right (a NIC left on a dead switch)


class DownResult(TypedDict):
    guests: list[str]
    switches: list[str]
    labs: list[str]


class SubscribeResult(TypedDict):
    guest: str
    console: str
    pts: str | None
    state: GuestState


class MemoryInfo(TypedDict):
    pss_kib: int
    processes: int


class PingResult(TypedDict):
    pid: int
    version: int
    problems: list[str]  # what the supervisor cannot do now (save its state, say)


class OutputEvent(TypedDict):
    event: Literal["output"]
    guest: str
    console: str
    data: str  # base64


class GuestEvent(TypedDict):
    event: Literal["guest"]
    guest: GuestInfo


class NetEvent(TypedDict):
    event: Literal["net"]


class ErrorEvent(TypedDict):
    event: Literal["error"]
    error: str
    guest: str | None


Event = OutputEvent | GuestEvent | NetEvent | ErrorEvent


def encode(obj: Any) -> bytes:
    """One message as a line (a :class:`GuestState` goes as its value)."""
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


FRAME = 0x1E  # the first byte of an output frame's line (ASCII's record separator)


def output_frame(guest: str, console: str, data: bytes) -> bytes:
    """A console's bytes as an output frame (for a ``raw`` subscription)."""
    return b"\x1e%d %s %s\n" % (len(data), console.encode(), guest.encode()) + data


def frame_head(line: bytes) -> tuple[int, str, str]:
    """An output frame's line: the size of the bytes that follow it, the console, the guest.

    Raises:
        ValueError: not such a line.
    """
    size, console, guest = line[1:].rstrip(b"\n").decode().split(" ", 2)
    if not size.isdigit():
        raise ValueError(f"not an output frame: {line[:80]!r}")
    return int(size), console, guest


_SCALARS: dict[Any, Any] = {
    bool: lambda v: isinstance(v, bool),
    int: lambda v: isinstance(v, int) and not isinstance(v, bool),
    float: lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    str: lambda v: isinstance(v, str),
    type(None): lambda v: v is None,
    Any: lambda v: True,
}


def accepts(annotation: Any, value: Any) -> bool:
    """Whether a JSON value fits a field's annotation (str, bool, int, float, None, Any, a
    Literal, list[X], dict[str, X], X | Y)."""
    scalar = _SCALARS.get(annotation)
    if scalar is not None:
        return bool(scalar(value))
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(accepts(a, value) for a in args)
    if origin is typing.Literal:
        return any(value == a and type(value) is type(a) for a in args)
    if origin is list:
        return isinstance(value, list) and all(accepts(args[0], v) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(isinstance(k, str) and accepts(args[1], v) for k, v in value.items())
    raise TypeError(f"annotation {annotation!r} is not one the wire can carry")


def decode(line: bytes) -> dict[str, Any]:
    """One received line as an object.

    Raises:
        ProtocolError: not JSON, or not a JSON object.
    """
    try:
        msg = json.loads(line)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"not JSON: {exc}") from None
    if not isinstance(msg, dict):
        raise ProtocolError("not a JSON object")
    return msg
