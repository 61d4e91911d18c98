"""Console bytes out to clients, keys and sizes in: ``subscribe``, ``unsubscribe``, ``input``, ``resize``."""

from __future__ import annotations

import base64
import binascii

from ...agent import LINE as AGENT_LINE
from ...guest import SCROLLBACK_BYTES
from ...protocol import ProtocolError, SubscribeResult, output_frame
from ..context import ClientConnection, Context
from ..errors import OpError

MAX_SIZE = 4096  # columns or rows a pane can sensibly have (the pty's ioctl takes up to 65535)


async def subscribe(
    sup: Context,
    client: ClientConnection,
    guest: str,
    console: str = "con1",
    history: bool = True,
    raw: bool = False,
    after: str | None = None,
) -> SubscribeResult:
    """Send this console's scrollback (with ``history``), then every byte it prints, as ``output``
    events, or with ``raw`` as output frames (``protocol.output_frame``).

    ``after`` (base64): the last bytes a client saw of this console before it lost its
    supervisor. What the scrollback holds after them is sent first, so a client that
    reconnects to a new supervisor misses nothing printed meanwhile (nothing, when they are
    not found: the pane then shows a gap rather than a repeat).
    """
    g = sup.find_guest(guest)
    con = g.consoles.get(console) if console != AGENT_LINE else None
    if con is None:
        have = ", ".join(n for n in g.consoles if n != AGENT_LINE)
        raise OpError(f"{g.umid} has no {console} (it has {have})", "usage")
    umid = g.umid

    def send_event(name: str, data: bytes) -> None:
        client.send({"event": "output", "guest": umid, "console": name, "data": base64.b64encode(data).decode()})

    def send_frame(name: str, data: bytes) -> None:
        client.send_bytes(output_frame(umid, name, data))

    send = send_frame if raw else send_event
    if after is not None:
        try:
            seen = base64.b64decode(after, validate=True)
        except ValueError as exc:
            raise ProtocolError(f"subscribe: after is not base64 ({exc})") from None
        at = con.scrollback.rfind(seen) if seen else -1
        if at >= 0 and at + len(seen) < len(con.scrollback):
            send(console, bytes(con.scrollback[at + len(seen) :]))
    elif history and con.scrollback:
        send(console, bytes(con.scrollback[-SCROLLBACK_BYTES:]))
    con.subscribers.add(send)
    client.subscriptions.append((g, console, send))
    return {"guest": umid, "console": console, "pts": con.pts, "state": g.state}


async def unsubscribe(sup: Context, client: ClientConnection, guest: str, console: str = "con1") -> bool:
    g = sup.find_guest(guest)
    for entry in [s for s in client.subscriptions if s[0] is g and s[1] == console]:
        g.consoles[console].subscribers.discard(entry[2])
        client.subscriptions.remove(entry)
    return True


def input(sup: Context, client: ClientConnection, guest: str, data: str, console: str = "con1") -> None:  # noqa: A001
    """Keys for a console (base64), written in the order they came."""
    try:
        raw = base64.b64decode(data, validate=True)
    except binascii.Error as exc:
        raise ProtocolError(f"input: data is not base64 ({exc})") from None
    if console == AGENT_LINE:
        raise OpError(f"{console} is umltui's line to the guest's agent, not a console", "usage")
    target = sup.find_guest(guest)
    target.write(console, raw)
    sup.cpu.typed(target)


def resize(sup: Context, client: ClientConnection, guest: str, cols: int, rows: int, console: str = "con1") -> None:
    """The size of the pane showing a console, set on its pty."""
    if not (1 <= cols <= MAX_SIZE and 1 <= rows <= MAX_SIZE):
        raise ProtocolError(f"resize: {cols}x{rows} is not a size (1 to {MAX_SIZE} columns and rows)")
    sup.find_guest(guest).resize(console, cols, rows)
