"""Textual's terminal driver, with the terminal read by the app's loop and a small write
going out at once when nothing is queued.

Textual hands everything it paints to a writer thread, so that a terminal that reads
slowly cannot stall the app. For an echo that costs a thread switch, and the switch waits
for the interpreter's lock, which the app's thread keeps while it goes on with its turn of
the loop: a few tenths of a millisecond per key, and up to the interpreter's switch
interval (5 ms) when the app is busy. Here a write of at most ``DIRECT_MAX`` characters is
made by the app's own thread when the writer thread has nothing queued or in hand; anything
larger, or anything while the thread is busy, is queued as before, so the order of writes
is kept and a big repaint to a slow terminal still does not stall the app.

The way in had the same two hops the other way round (Textual's input thread reads and
parses, then wakes the loop); ``QuickDriver`` reads on the loop itself.

Private things it touches: ``textual.drivers._writer_thread.WriterThread`` (subclassed: its
``_queue`` and ``_file``), ``LinuxDriver``'s ``_writer_thread``, ``_file``, ``_loop``, ``_app``,
``_parser``, ``_decoder`` and ``_debug``, ``App._handle_exception``, and Textual's key parser
(``textual._xterm_parser.XTermParser``, its ``_awaiting``, ``_tokens``, ``_gen`` and
``_timeout_time``; ``textual._parser.Read1``; ``textual._time.get_time``), to read and parse
keys on the app's loop as Textual's input thread would.
"""

from __future__ import annotations

import asyncio
import codecs
import contextvars
import os
import threading
from codecs import getincrementaldecoder
from collections.abc import Callable
from typing import IO, Any

from textual import events
from textual._parser import Read1
from textual._time import get_time
from textual._xterm_parser import XTermParser
from textual.drivers._writer_thread import WriterThread
from textual.drivers.linux_driver import LinuxDriver
from textual.message import Message

from . import active

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
    """``LinuxDriver`` with a ``QuickWriter`` in place of its writer thread, and the terminal
    read by the app's own loop instead of Textual's input thread.

    A key read by the thread reached the app through ``call_soon_threadsafe``: a wake-up of
    the loop from another thread, and the thread's own wait for the interpreter's lock while
    the app's thread ran (up to the switch interval, 5 ms, under a flood). Here the loop
    waits for the terminal beside its sockets, parses what comes with Textual's own parser,
    and hands each event on at once: a key the app takes at once (its ``take_key``) is typed
    in on that very turn, the rest go to its queue. Textual's input thread is still started
    (its start and stop are Textual's), and only waits to be told to stop.
    """

    _context: contextvars.Context | None = None
    _on_loop = False  # the loop reads the terminal (once application mode has started)
    _tick: asyncio.TimerHandle | None = None
    _reading = False  # in ``_readable``: its events are handed on directly
    _idle = False  # the parser was found waiting for a first character, and has been fed nothing since
    _type_now: Callable[[str, str], bool] | None = None  # the app's ``type_now``, if it has one
    loop_reads = 0  # reads of the terminal made by the loop (for the tests)

    def start_application_mode(self) -> None:
        self._context = contextvars.copy_context()  # the app's: its message queue expects it
        self._on_loop = self._loop is not None
        super().start_application_mode()  # type: ignore[no-untyped-call]
        started = self._writer_thread
        if started is not None and type(started) is WriterThread and self._file is not None:
            started.stop()  # what it was given is written before it ends
            self._writer_thread = QuickWriter(self._file)
            self._writer_thread.start()
        if self._on_loop:
            self._parser = XTermParser(self._debug)
            self._decoder = getincrementaldecoder("utf-8")()
            self._idle = False
            self._type_now = getattr(self._app, "type_now", None)
            self._loop.add_reader(self.fileno, self._readable)

    def run_input_thread(self) -> None:
        if not self._on_loop:
            super().run_input_thread()
            return
        self.exit_event.wait()  # the loop reads (``_readable``); this thread waits to be stopped

    def disable_input(self) -> None:
        if self._on_loop:
            self._on_loop = False
            self._loop.remove_reader(self.fileno)
            if self._tick is not None:
                self._tick.cancel()
        super().disable_input()

    def _readable(self) -> None:
        """The terminal has input: its events, handed on now (on the app's loop)."""
        try:
            data = os.read(self.fileno, 1024 * 4)
        except OSError:
            data = b""
        if not data:  # the terminal is gone: nothing more will come
            self._loop.remove_reader(self.fileno)
            return
        self.loop_reads += 1
        self._reading = True
        try:
            key = typed_key(self._parser, self._decoder, data, known_idle=self._idle)
            self._idle = key is not None  # else the parser's turn: where it ends is its own
            if key is not None:
                type_now = self._type_now
                if type_now is not None and type_now(*key):
                    return  # typed into the console: no event needed
                self.process_message(events.Key(*key))
                return
            text = self._decoder.decode(data)
            if not text:  # part of a character: the rest comes with the next read (the parser takes "" for the end)
                return
            for event in self._parser.feed(text):
                self.process_message(event)
            self._timeouts()
        except Exception as error:  # as Textual's thread does with its own failures
            self._app._handle_exception(error)
        finally:
            self._reading = False

    def _timeouts(self) -> None:
        """A lone escape is a key once the parser has waited for more (its ``tick``)."""
        if self._tick is not None:
            self._tick.cancel()
            self._tick = None
        due = self._parser._timeout_time
        if due is not None:
            self._tick = self._loop.call_later(max(0.0, due - get_time()) + 0.001, self._on_tick)

    def _on_tick(self) -> None:
        self._tick = None
        self._idle = False
        self._reading = True
        try:
            for event in self._parser.tick():
                self.process_message(event)
        finally:
            self._reading = False
        self._timeouts()

    def send_message(self, message: Message) -> None:
        loop, context = self._loop, self._context
        if context is None or loop is None:
            super().send_message(message)
        elif self._reading:
            self._deliver(message)  # read by the loop: on it already
        else:
            loop.call_soon_threadsafe(self._deliver, message, context=context)

    def _deliver(self, message: Message) -> None:
        """On the app's loop: a key the app takes at once (its ``take_key``), else its queue."""
        take = getattr(self._app, "take_key", None)
        if take is not None and isinstance(message, events.Key) and take(message):
            return
        self._app.post_message(message)


def typed_key(
    parser: XTermParser, decoder: codecs.IncrementalDecoder, data: bytes, *, known_idle: bool = False
) -> tuple[str, str] | None:
    """The key (name, character) of one typed character, where the parser would give that
    and nothing else; else None (the parser's turn). ``known_idle``: the parser was found
    idle and has been fed nothing since, so it is not looked at again.

    A typed letter is the common case, and Textual's parser resumes a generator per
    character and looks its key up, cold after every wait: here it is the parser's own
    answer, worked out once per character (``KEYS``: printable ASCII, backspace, enter, tab
    and the other control characters but escape). Only while the parser waits for a first
    character (:func:`parser_idle`).
    """
    key = KEYS.get(data[0]) if len(data) == 1 else None
    if key is None or not (known_idle or parser_idle(parser, decoder)):
        return None
    return key


def parser_idle(parser: XTermParser, decoder: codecs.IncrementalDecoder) -> bool:
    """The parser waits for a first character (no escape sequence begun, no bracketed paste,
    nothing queued) and the decoder holds no part of a character: then the parser, fed one
    of ``KEYS``, would give its key and end where it started. So it stays idle until it is
    fed: ``QuickDriver`` looks once, not at every key (the look builds the parse's locals)."""
    awaiting = parser._awaiting
    if type(awaiting) is not Read1 or awaiting.timeout is not None or parser._tokens:
        return False
    if decoder.getstate()[0]:
        return False
    frame = getattr(parser._gen, "gi_frame", None)  # (a generator's: the parse's own state)
    if frame is None:
        return False
    state = frame.f_locals  # (built afresh on each look: looked at once)
    return state.get("bracketed_paste") is False and not state.get("paste_buffer")


def _one_byte_keys() -> dict[int, tuple[str, str]]:
    """Each one-byte key's name and character, as Textual's own parser gives them (a fresh
    parser for each: its one key event): printable ASCII and the control characters but
    escape (which may begin a sequence) and NUL."""
    keys: dict[int, tuple[str, str]] = {}
    for code in [*range(0x01, 0x1B), *range(0x1C, 0x20), *range(0x20, 0x80)]:
        found = list(XTermParser().feed(chr(code)))
        if len(found) == 1 and type(found[0]) is events.Key and found[0].character is not None:
            keys[code] = (found[0].key, found[0].character)
    return keys


KEYS = _one_byte_keys()


def quick_driver_for(driver_class: type[Any]) -> type[Any]:
    """The driver to use instead of ``driver_class``: ours in place of Textual's plain one."""
    return QuickDriver if driver_class is LinuxDriver and active() else driver_class
