"""When a pane parses its console's output and when it shows it: an inbox, time budgets, echoes.

A flooding console must not starve the others nor the keyboard, and a key's echo must not
wait behind anything. So output goes into an inbox and is parsed in slices of at most
:data:`SLICE` bytes within a time budget per turn of the event loop; a pane nobody sees
parses a little, seldom, and not at all while keys are typed elsewhere; a few bytes after a
quiet spell in the pane being typed into (an echo) are parsed and painted at once.

This class makes those decisions and keeps the counts; it parses through the function it is
given and never touches an event loop or a widget (the pane, ``widgets/terminal.py``,
schedules what it is told to), so it is tested without an app. Times are ``time.monotonic``
seconds, passed in; the parse budget is measured with ``time.perf_counter``.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import ClassVar

INGEST_BUDGET = 0.008  # seconds of parsing per turn of the event loop, for the focused pane (a third for others)
FRAME = 1 / 60
ECHO_MAX = 512  # bytes of output after a quiet spell parsed at once: an echo, a prompt
SLICE = 2048  # bytes parsed between looks at the clock (about 1 ms)
HIDDEN_PERIOD = 0.1  # a hidden pane parses a slice this often...
HIDDEN_BUDGET = 0.002  # ...of at most this long (2 % of the app's time each)
HIDDEN_WAIT = 1.0  # ...but not until this long after the last key typed into any pane
HIDDEN_WAIT_MAX = 10.0  # (and at least a slice this often, whatever the keys)
HIDDEN_BACKLOG = 8 << 20  # bytes a hidden pane may fall behind before it skips them
KEY_DRAIN = 65536  # queued output a key waits to have parsed (and its queries answered) before it goes
SMALL_OUTPUT = 512  # bytes since the last paint that are still an echo or a prompt


class Ingest:
    """One pane's queued output, what of it was parsed, and when it is parsed and painted.

    Args:
        parse: takes each slice of output, in order (the terminal model's ``feed``, and
            whatever must follow it at once).
    """

    typed_at: ClassVar[float] = 0.0  # when a key was last typed into any pane (:meth:`typed`)

    def __init__(self, parse: Callable[[bytes], None]) -> None:
        self.parse = parse
        self.inbox: deque[bytes] = deque()
        self.queued = 0  # bytes in the inbox
        self.bytes_in = 0  # bytes ever queued
        self.fed = 0  # bytes parsed since the connection was attached (its replay first)
        self.last_output = 0.0  # when output last came
        self.hidden_slice_at = 0.0  # when this pane, hidden, last parsed a slice
        self.last_paint = 0.0  # when rows were last put into view (``painted``)
        self.bytes_at_paint = 0

    # -- output in -------------------------------------------------------------------------

    def put(self, data: bytes, now: float) -> bool:
        """Queue ``data``; True when it looks like a key's echo (a few bytes after a quiet
        spell): parsed at once, in the caller that brought it, in the pane being typed into,
        it need not wait a turn of the loop."""
        self.inbox.append(data)
        self.queued += len(data)
        self.bytes_in += len(data)
        quiet = now - self.last_output > FRAME / 4
        self.last_output = now
        return quiet and len(self.inbox) == 1 and len(data) <= ECHO_MAX

    @property
    def too_far_behind(self) -> bool:
        """More is queued than a hidden pane may fall behind (:meth:`skip_backlog`)."""
        return self.queued > HIDDEN_BACKLOG

    def attached(self) -> None:
        """A new connection: what is still queued came before its bytes."""
        self.fed = -self.queued

    def skip_backlog(self) -> None:
        """A hidden pane fell too far behind: drop what it has not parsed, and say so in it."""
        skipped = self.queued
        note = f"\r\n\x1b[0m[umltui: {skipped / 1e6:.1f} MB of output skipped while hidden; its log has it all]\r\n"
        data = note.encode()
        self.inbox.clear()
        self.inbox.append(data)
        self.queued = len(data)
        self.fed += skipped - len(data)  # the skipped bytes count as read; the note is not the guest's

    # -- parsing ---------------------------------------------------------------------------

    @classmethod
    def typed(cls, now: float) -> None:
        """A key was typed into a pane: hidden panes hold their slices for a while."""
        cls.typed_at = now

    def hidden_may_parse(self, now: float) -> bool:
        """Whether a hidden pane may have its slice now; if so, it is counted as had.

        A slice of a flooding hidden pane is up to a few milliseconds of the app's loop; a
        key read or an echo that comes meanwhile waits for it. While keys come (into any
        pane), hidden panes wait (their output queues; nobody sees them), at most
        :data:`HIDDEN_WAIT_MAX`.
        """
        if now - Ingest.typed_at < HIDDEN_WAIT and now - self.hidden_slice_at < HIDDEN_WAIT_MAX:
            return False
        self.hidden_slice_at = now
        return True

    @staticmethod
    def budget(*, hidden: bool, focused: bool) -> float:
        """Seconds of parsing for one slice of a pane's turn."""
        if hidden:
            return HIDDEN_BUDGET
        return INGEST_BUDGET if focused else INGEST_BUDGET / 3

    def run(self, budget: float) -> bool:
        """Parse queued output, :data:`SLICE` bytes at a time, until the inbox is empty or
        ``budget`` seconds are spent; True when some is left (parse again, a turn later)."""
        deadline = time.perf_counter() + budget
        parse = self.parse
        inbox = self.inbox
        while inbox:
            chunk = inbox.popleft()
            if len(chunk) > SLICE:  # keep slices small so the budget holds
                inbox.appendleft(chunk[SLICE:])
                chunk = chunk[:SLICE]
            self.fed += len(chunk)
            self.queued -= len(chunk)
            parse(chunk)
            if time.perf_counter() > deadline:
                break
        return bool(inbox)

    def drain_before_key(self) -> bool:
        """Whether queued output is to be parsed before a key goes: so that the answers to its
        queries (a prompt's cursor-position request) go out before the key, as they would from
        a terminal that had already read them. Not a backlog: a key never waits for a flood."""
        return bool(self.inbox) and self.queued <= KEY_DRAIN

    # -- painting --------------------------------------------------------------------------

    def paint_plan(self, now: float, *, focused: bool) -> tuple[bool, bool, float]:
        """After output was parsed: whether to put it into view now, whether as an echo (painted
        on the terminal at once), and how long until the next look.

        Leading edge: a lone echo is shown at once; a stream once a frame (a pane without
        focus, at a quarter of that, so it cannot crowd out the keys).
        """
        frame = FRAME if focused else FRAME * 4
        wait = self.last_paint + frame - now
        small = self.bytes_in - self.bytes_at_paint < SMALL_OUTPUT
        echo = small and focused and now - self.last_paint > FRAME / 4
        if wait <= 0 or echo:
            return True, echo, frame
        return False, False, max(wait, frame)

    def painted(self, now: float) -> None:
        """Rows were put into view."""
        self.last_paint = now
        self.bytes_at_paint = self.bytes_in
