"""The garbage collector's full sweeps, moved to when the user is not typing.

A full sweep walks every object the collector tracks. With flooding consoles that is
every line of every pane's scrollback (start-up objects are frozen:
:func:`freeze_startup_objects`): measured in the app with sixteen guests
flooding (``benchmarks/many_guests.py``), 30 to 270 ms, and a keystroke whose echo came
meanwhile waited that long. Python starts one when enough objects have survived; so here
Python never does, and :meth:`QuietCollector.tick` does it instead, once the keys have
stopped for ``QUIET`` seconds (at most every ``GAP`` seconds, and after ``FORCE_AFTER``
seconds even while keys come, so garbage in cycles cannot pile up). The young
generations are collected as ever: they are small.

Private things it touches: none of Textual's. It is here because it bends a runtime's
defaults for the key path as the rest of this package does (the interpreter's collection
thresholds, ``gc.freeze``), and is not a widget.
"""

from __future__ import annotations

import gc
import time

QUIET = 1.0  # seconds without a key before a full sweep may run
GAP = 10.0  # seconds at least between two full sweeps
FORCE_AFTER = 60.0  # seconds after which one runs even while keys come
NEVER = 1 << 30  # a generation-2 threshold Python does not reach


class QuietCollector:
    """Call :meth:`start` once, :meth:`typed` on each key, :meth:`tick` every half second or so."""

    def __init__(self) -> None:
        self.last_key = 0.0
        self.last_full = time.monotonic()
        self.due = gc.get_threshold()[2]  # as Python would: after this many middle-generation sweeps
        self.full_sweeps = 0
        self.started = False

    def start(self) -> None:
        young, middle, old = gc.get_threshold()
        if old < NEVER:
            self.due = old
        gc.set_threshold(young, middle, NEVER)
        self.started = True

    def stop(self) -> None:
        """Python's own thresholds again."""
        if self.started:
            young, middle, _ = gc.get_threshold()
            gc.set_threshold(young, middle, self.due)
            self.started = False

    def typed(self) -> None:
        self.last_key = time.monotonic()

    def tick(self) -> bool:
        """A full sweep if one is due and the moment is right; whether it ran."""
        if not self.started or gc.get_count()[2] <= self.due:
            return False
        now = time.monotonic()
        if now - self.last_full < GAP:
            return False
        if now - self.last_key < QUIET and now - self.last_full < FORCE_AFTER:
            return False
        gc.collect()
        self.last_full = time.monotonic()
        self.full_sweeps += 1
        return True


def freeze_startup_objects() -> None:
    """Take what exists once the app is up out of the garbage collector's full sweeps.

    A flooding console makes many objects that live a while (lines in the scrollback), so
    full collections come every few seconds, and each one walks every object Textual made
    at start-up: 20 to 80 ms, a stalled keystroke echo each time. Call this once, after
    the first screen is composed; the collector then walks only what came later (a few
    ms). What it freezes is never freed, which is what start-up objects are for anyway.
    """
    gc.collect()
    gc.freeze()
