"""The keeper's wire: what each request carries and answers, and the stream's packets.

A ``SOCK_SEQPACKET`` unix socket, one message a packet. A request is a JSON object whose
``op`` names one of :data:`REQUESTS`; its answer is a JSON object with ``ok``. Both sides
import their types from here, so a field is spelt once. Descriptors travel beside a packet
(``SCM_RIGHTS``): one with ``put``, one per console with the answer to ``take``.

Once a connection has sent ``attach`` and ``start``, the keeper sends on it stream packets
only: ``D`` (console bytes) and ``C`` (a console closed), each headed by :func:`pack_header`.

A request is checked against its type before it is served (:func:`check_request`): a
missing field or a value of the wrong JSON type is answered as a bad request. Fields a
request type does not name are ignored, not refused: a keeper outlives supervisors, so it
may serve one newer than itself. Nothing here does I/O.
"""

# (no ``from __future__ import annotations``: Python 3.11 then takes NotRequired fields for
# required ones in ``__required_keys__``, which check_request reads)

import json
import struct
import typing
from typing import Any, Final, Literal, NamedTuple, NotRequired, TypedDict, cast

from ..protocol import accepts

MAX_PACKET = 256 << 10
_HEADER = struct.Struct("<cBB")  # kind, len(umid), len(console)

StreamKind = Literal[b"D", b"C"]
DATA: Final = b"D"  # console bytes
CLOSED: Final = b"C"  # the guest closed a console (halted, or rebooting with new ptys)

Key = tuple[str, str]  # (umid, console)


class WireError(ValueError):
    """A request that is not of the form its operation takes."""


# -- requests ----------------------------------------------------------------------------------


class PutRequest(TypedDict):
    """Read console ``console`` of guest ``umid`` from the descriptor sent with it, logging to ``log``."""

    op: Literal["put"]
    umid: str
    console: str
    pts: str  # the pty's path, for messages and ``take``
    log: str
    log_max: NotRequired[int]  # bytes the log keeps (consolelog.DEFAULT_MAX_BYTES)
    pid: NotRequired[int]  # the guest's kernel, to kick when its pty backs up (0: none)


class DropRequest(TypedDict):
    """Forget a guest's consoles (``console`` None or absent: all of them)."""

    op: Literal["drop"]
    umid: str
    console: NotRequired[str | None]


class TakeRequest(TypedDict):
    """Descriptors of the ptys read for ``umid`` (for keys and sizes), sent with the answer."""

    op: Literal["take"]
    umid: str


class AttachRequest(TypedDict):
    """This connection becomes the stream; the logs stay where the answer says until ``start``."""

    op: Literal["attach"]


class StartRequest(TypedDict):
    """On the stream: send what is read from now on. Not answered (stream packets follow)."""

    op: Literal["start"]


class PingRequest(TypedDict):
    op: Literal["ping"]


Request = PutRequest | DropRequest | TakeRequest | AttachRequest | StartRequest | PingRequest

REQUESTS: dict[str, type[Any]] = {
    "put": PutRequest,
    "drop": DropRequest,
    "take": TakeRequest,
    "attach": AttachRequest,
    "start": StartRequest,
    "ping": PingRequest,
}
"""Each request's type by its ``op``."""


# -- answers -------------------------------------------------------------------------------------


class OkReply(TypedDict):
    ok: Literal[True]


class ErrorReply(TypedDict):
    ok: Literal[False]
    error: str


class TakeReply(TypedDict):
    ok: Literal[True]
    consoles: list[tuple[str, str]]  # (console, pts), in the order of the descriptors sent with it


class AttachReply(TypedDict):
    ok: Literal[True]
    positions: dict[str, int]  # "UMID/conN" -> how far its log is


class PingReply(TypedDict):
    ok: Literal[True]
    pid: int
    held: int  # ptys read
    reading: bool  # not held back by a slow or starting stream
    backlog: int  # stream packets waiting for the supervisor
    attached: bool


Reply = OkReply | ErrorReply | TakeReply | AttachReply | PingReply


def encode(message: Request | Reply) -> bytes:
    return json.dumps(message).encode()


def decode(packet: bytes) -> dict[str, Any]:
    """A packet as a JSON object.

    Raises:
        WireError: not JSON, or not an object (its text is the answer to send).
    """
    try:
        message = json.loads(packet)
    except (ValueError, RecursionError) as exc:
        raise WireError(f"bad request: not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise WireError("bad request: not a JSON object")
    return message


def check_request(message: dict[str, Any]) -> Request:
    """``message`` as the request its ``op`` names, its fields checked.

    Raises:
        WireError: an unknown ``op``, a missing field, or one of the wrong type (its text is
            the answer to send).
    """
    op = message.get("op")
    kind = REQUESTS.get(op) if isinstance(op, str) else None
    if kind is None:
        raise WireError(f"unknown request {op!r}")
    for name, annotation in typing.get_type_hints(kind).items():
        if name not in message:
            if name in kind.__required_keys__:
                raise WireError(f"bad request: {op}: missing field {name!r}")
        elif not accepts(annotation, message[name]):
            raise WireError(f"bad request: {op}: {name} must be {annotation}, not {type(message[name]).__name__}")
    return cast(Request, message)


def error(text: str) -> ErrorReply:
    return {"ok": False, "error": text}


# -- the stream ----------------------------------------------------------------------------------


class StreamPacket(NamedTuple):
    kind: bytes  # DATA or CLOSED
    umid: str
    console: str
    data: bytes


def pack_header(kind: StreamKind, umid: str, console: str) -> bytes:
    u, c = umid.encode(), console.encode()
    return _HEADER.pack(kind, len(u), len(c)) + u + c


def unpack(packet: bytes) -> StreamPacket:
    """A stream packet's kind, console and bytes."""
    kind, lu, lc = _HEADER.unpack_from(packet)
    start = _HEADER.size
    umid = packet[start : start + lu].decode()
    console = packet[start + lu : start + lu + lc].decode()
    return StreamPacket(kind, umid, console, packet[start + lu + lc :])
