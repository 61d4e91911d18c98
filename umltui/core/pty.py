"""Pseudo-terminal helpers shared by the supervisor (guest console ptys) and the terminal
layer (a pty of its own): one place for the ioctls, so both set sizes the same way."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import struct
import termios
import tty


def set_winsize(fd: int, cols: int, rows: int) -> None:
    """Tell the pty its size: all four fields (rows, cols, xpixel, ypixel), as xterm does."""
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def open_raw(path: str) -> int:
    """Open a pty's slave side non-blocking, not as our controlling terminal, in raw mode.

    ``TCSANOW``: ``TCSAFLUSH`` would drop what the guest printed before we came.

    Raises:
        OSError: the pty cannot be opened.
    """
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        tty.setraw(fd, termios.TCSANOW)
    except OSError:
        os.close(fd)
        raise
    return fd


# A UML kernel writes a console to its pty until the host says the pty is full; then it
# waits for the host's "writable again" signal (SIGIO), which Linux does not send it when
# the reader catches up. It then stalls until some other interrupt comes, often for a
# third of a second, and a flood that once fell behind stays at a few KB/s (measured:
# ``benchmarks/pty_pace.py``). A reader that drained a large read sends the kernel that
# SIGIO itself; UML takes a spurious one as "look at your descriptors", so it is harmless.
KICK_AFTER = 2048  # bytes in one read: the pty had backed up


def kick(pidfd: int | None, got: int) -> None:
    """After reading ``got`` bytes of a guest's console: wake its kernel if the pty had backed up.

    ``pidfd`` (from :func:`os.pidfd_open`) names the kernel process, so a pid the system
    reused is never signalled.
    """
    if pidfd is not None and got >= KICK_AFTER:
        with contextlib.suppress(OSError):
            signal.pidfd_send_signal(pidfd, signal.SIGIO)
