"""The agent: a few fixed requests to a guest of ours, over its serial line.

Some things only the guest can do: take a NIC down so the kernel lets it be unplugged
("Device is currently open" otherwise), bring it up again with its lab address, and tell
a console its size (``winsize ttyN-COLSxROWS``: Debian's 6.1 UML does not pass a
``con=pts`` pty's size on, so the agent sets it on the guest's tty, which also sends
SIGWINCH to what runs there). umltui's
own roots run a small shell script, ``/etc/umltui/agent``, on the guest's first serial
line (``ttyS0``, which the kernel puts on a host pty with ``ssl0=pts``). It reads one
request a line, ``ID VERB NAME``, and answers one line, ``ID ok`` or ``ID err WORDS``.
Nothing it reads is run as a command: the verb picks one of its cases and the name must
be a plain word. A guest umltui did not build has no agent, and what needs one says so.

The serial line is read like a console (by the keeper, logged to ``ssl0.log``); this
class takes the answers out of what is read, and writes the requests.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
from collections.abc import Callable

from . import guestfiles

READY_WORD = "umltui-ready"  # what a root of ours reports (through /proc/mconsole) when its boot is done
_STARTUP = re.compile(r" startup=(\d{1,3})$")


def ready_report(text: str, word: str) -> tuple[bool, int | None]:
    """Whether ``text`` (a user notification, the guest's domainname) says the boot of a root of
    ours is done, and the exit status of the lab's startup script if one ran: the boot script
    reports ``WORD`` or ``WORD startup=N``."""
    text = text.strip()
    if text == word:
        return True, None
    if text.startswith(word + " ") and (m := _STARTUP.search(text)):
        return True, int(m.group(1))
    return False, None


LINE = "ssl0"  # the serial line the agent listens on, as the kernel and the mconsole name it
VERBS = ("ping", "nic-down", "nic-up", "nic-ip", "nic-name", "winsize")
_ANSWER = re.compile(rb"^(\d+) (ok|err)(?: (.*))?$")
_NAME = re.compile(r"[A-Za-z0-9_.-]{0,40}")


class AgentError(Exception):
    """The agent said no, did not answer in time, or is not there."""


class Agent:
    """Requests to one guest's agent. ``fd`` gives the serial line's pty (ours to write), or None."""

    def __init__(self, fd: Callable[[], int | None]) -> None:
        self._fd = fd
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[str]] = {}
        self._partial = b""

    def feed(self, data: bytes) -> None:
        """What the serial line printed: answers come out of it a line at a time."""
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()[-4096:]
        for line in lines:
            m = _ANSWER.match(line.strip(b"\r"))
            if m is None:
                continue
            fut = self._waiting.pop(int(m.group(1)), None)
            if fut is not None and not fut.done():
                words = (m.group(3) or b"").decode(errors="replace")
                if m.group(2) == b"ok":
                    fut.set_result(words)
                else:
                    fut.set_exception(AgentError(words or "failed"))

    async def request(self, verb: str, name: str = "", *, timeout: float = 5.0) -> str:
        """Ask the agent; its answer's words.

        Raises:
            AgentError: it said no, did not answer within ``timeout``, or its line is not open.
        """
        if verb not in VERBS or not _NAME.fullmatch(name):
            raise AgentError(f"not a request the agent takes: {verb} {name}")
        fd = self._fd()
        if fd is None:
            raise AgentError("the guest's serial line is not open (no agent)")
        rid = next(self._ids)
        fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._waiting[rid] = fut
        try:
            os.write(fd, f"{rid} {verb} {name}\n".encode())
            return await asyncio.wait_for(fut, timeout)
        except OSError as exc:
            raise AgentError(f"cannot write to the guest's serial line: {exc.strerror}") from None
        except TimeoutError:
            raise AgentError(f"no answer to {verb} {name} within {timeout:g}s") from None
        finally:
            self._waiting.pop(rid, None)


AGENT_SCRIPT = guestfiles.text("agent.sh")
"""The agent itself, installed in every root of ours as ``/etc/umltui/agent``."""
