"""How fast a console's input may go to the guest: never more than it is seen to take.

Why: a UML kernel reads a console's pty into its tty's line discipline (4 KB). When a
program there reads more slowly than input comes, the line discipline fills and
*throttles* the line, and UML's ``line_throttle`` takes the pty out of its epoll set for
good (``deactivate_fd``; ``line_unthrottle`` reads once, never adds it back). From then on
the console is deaf: no key, no ^C, nothing written to its pty ever reaches the guest
(seen on 7.2: the pty master's epoll entry lost ``EPOLLIN``, the others kept it). A 6 KB
paste into a shell did it; 3 KB never did.

So input goes out in a window: at most :data:`WINDOW` bytes written that the console has
not answered yet. What the console prints after a write answers half as many bytes: a
byte a program has *read* was usually printed twice, once when the guest's tty received it
(it echoes typed-ahead input on receipt) and once by the program's line editor (a shell's
echoes each key as it reads it). Counting a printed byte as a whole one let the echo on
receipt open the window by itself, and a 64 KB paste into a shell piled 3.9 KB ahead of
it and deafened the console; counted as half, what is received but not read stays below
twice the window. A console silent for :data:`SILENCE` has taken its window all the same
(a program that does not echo). Keys typed by hand never wait: they are far below it.

What this cannot save: more than about 4 KB typed ahead at a program that never reads its
input (``sleep 100`` in the foreground) while the guest's tty echoes on receipt. The
guest's own line discipline throttles then, whatever the host does.

Pure bookkeeping (no I/O, the clock passed in), so it is tested without a guest.
"""

from __future__ import annotations

from dataclasses import dataclass, field

WINDOW = 1024  # twice this is still well under the 3,968 bytes at which the guest's tty throttles
SILENCE = 0.5  # seconds without output after which the unanswered window counts as taken


@dataclass
class InputPace:
    """The input waiting for one console, and how much of what was written is unanswered."""

    pending: bytearray = field(default_factory=bytearray)
    unanswered: int = 0
    since: float = 0.0  # when we last wrote or the console last printed (monotonic)

    def room(self, now: float) -> int:
        """How many bytes may be written now."""
        if self.unanswered and now - self.since >= SILENCE:
            self.unanswered = 0
        return max(0, WINDOW - self.unanswered)

    def wrote(self, count: int, now: float) -> None:
        if count:
            self.unanswered += count
            self.since = now

    def printed(self, count: int, now: float) -> None:
        """The console printed ``count`` bytes: half as many of the window are answered."""
        if self.unanswered:
            self.unanswered = max(0, self.unanswered - count // 2)
            self.since = now

    def wait(self, now: float) -> float:
        """Seconds until the window opens by silence (when nothing is printed meanwhile)."""
        return max(0.0, self.since + SILENCE - now)

    def clear(self) -> None:
        self.pending.clear()
        self.unanswered = 0
