"""Pseudo-terminal helpers shared by the supervisor (guest console ptys) and the terminal
layer (a pty of its own): one place for the ioctls, so both set sizes the same way."""

from __future__ import annotations

import fcntl
import os
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
