"""How fast a console's input may go to the guest: never more than it is seen to take.

Why: a UML kernel reads a console's pty into its tty's line discipline (4 KB). When a
program there reads more slowly than input comes, the line discipline fills and
*throttles* the line, and UML's ``line_throttle`` takes the pty out of its epoll set for
good (``deactivate_fd``; ``line_unthrottle`` reads once, never adds it back). From then on
the console is deaf: no key, no ^C, nothing written to its pty ever reaches the guest
(seen on 7.2: the pty master's epoll entry lost ``EPOLLIN``, the others kept it). A 6 KB
paste into a shell did it; 3 KB never did.

So input goes out in a window: at most :data:`WINDOW` bytes written that the console has
not answered yet. Keys typed by hand (at most :data:`TYPING` bytes unanswered) are answered
by what the console prints: half a byte per byte printed, as a key read by a line editor is
usually printed twice (the tty's echo on receipt, then the editor's). A paste is answered only
by the console falling silent for :data:`SILENCE`: while a shell works through pasted lines it
prints (their echo, their output, its prompts), and it is silent once it has read them all.
Counting what it prints, even at half, let command output open the window: 300 lines of
``echo x...`` (20 KB) piled up unread in a Debian guest and deafened the console.

What this cannot save: a paste, or anything typed ahead, at a program that stops reading
for longer than :data:`SILENCE` several times over (``sleep 100`` in the foreground): each
silence opens another window, and past about 4 KB unread the guest's own line discipline
throttles, whatever the host does.

Pure bookkeeping (no I/O, the clock passed in), so it is tested without a guest.
"""

from __future__ import annotations

from dataclasses import dataclass, field

WINDOW = 1024  # twice this is still well under the 3,968 bytes at which the guest's tty throttles
SILENCE = 0.5  # seconds without output after which the unanswered window counts as taken
TYPING = 64  # unanswered bytes up to which what the console prints answers them (keys by hand)


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
        """The console printed ``count`` bytes: for keys typed by hand, half as many of the
        window are answered; for a paste, only the silence that follows counts."""
        if self.unanswered:
            if self.unanswered <= TYPING:
                self.unanswered = max(0, self.unanswered - count // 2)
            self.since = now

    def wait(self, now: float) -> float:
        """Seconds until the window opens by silence (when nothing is printed meanwhile)."""
        return max(0.0, self.since + SILENCE - now)

    def clear(self) -> None:
        self.pending.clear()
        self.unanswered = 0
