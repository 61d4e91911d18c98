"""Textual's terminal driver, with a small write going out at once when nothing is queued.

Textual hands everything it paints to a writer thread, so that a terminal that reads
slowly cannot stall the app. For an echo that costs a thread switch, and the switch waits
for the interpreter's lock, which the app's thread keeps while it goes on with its turn of
the loop: a few tenths of a millisecond per key, and up to the interpreter's switch
interval (5 ms) when the app is busy. Here a write of at most ``DIRECT_MAX`` characters is
made by the app's own thread when the writer thread has nothing queued or in hand; anything
larger, or anything while the thread is busy, is queued as before, so the order of writes
is kept and a big repaint to a slow terminal still does not stall the app.
"""

from __future__ import annotations

import contextvars
import threading
from typing import IO, Any

from textual.drivers._writer_thread import WriterThread
from textual.drivers.linux_driver import LinuxDriver
from textual.message import Message

DIRECT_MAX = 4096


class QuickWriter(WriterThread):
    """Textual's writer thread, which lets a small write through when it has nothing to do."""

    def __init__(self, file: IO[str]) -> None:
        super().__init__(file)
        self._lock = threading.Lock()
        self._pending = 0  # writes handed to the thread and not written and flushed yet
        self.direct = 0  # writes made by the caller's thread (for the tests)

    def write(self, text: str) -> None:
        with self._lock:
            direct = self._pending == 0 and len(text) <= DIRECT_MAX
            if not direct:
                self._pending += 1
        if direct:
            self.direct += 1
            self._file.write(text)
            self._file.flush()
        else:
            self._queue.put(text)

    def run(self) -> None:
        write, flush = self._file.write, self._file.flush
        while (text := self._queue.get()) is not None:
            write(text)
            if self._queue.qsize() == 0:
                flush()  # before it counts as done: a direct write must not overtake this one
            with self._lock:
                self._pending -= 1
        flush()


class QuickDriver(LinuxDriver):
    """``LinuxDriver`` with a ``QuickWriter`` in place of its writer thread, and keys handed
    to the app's loop as a plain callback (Textual's own way makes a task and a future for
    each: a tenth of a millisecond of a key's way in, on a busy host)."""

    _context: contextvars.Context | None = None

    def start_application_mode(self) -> None:
        self._context = contextvars.copy_context()  # the app's: its message queue expects it
        super().start_application_mode()  # type: ignore[no-untyped-call]
        started = self._writer_thread
        if started is not None and type(started) is WriterThread and self._file is not None:
            started.stop()  # what it was given is written before it ends
            self._writer_thread = QuickWriter(self._file)
            self._writer_thread.start()

    def send_message(self, message: Message) -> None:
        loop, context = self._loop, self._context
        if context is None or loop is None:
            super().send_message(message)
            return
        loop.call_soon_threadsafe(self._app.post_message, message, context=context)


def quick_driver_for(driver_class: type[Any]) -> type[Any]:
    """The driver to use instead of ``driver_class``: ours in place of Textual's plain one."""
    return QuickDriver if driver_class is LinuxDriver else driver_class
