"""The terminal model: a console's bytes in, a screen and a scrollback out. No Textual here.

Split the way tmux splits ``input.c`` / ``screen-write.c`` / ``grid.c``:

- :mod:`.parser`: bytes to calls (whole lines at a time where it can, then common
  tokens, then pyte's own state machine);
- :mod:`.screen`: what each call does to the cursor, the rows and the scrollback (on top
  of pyte's :class:`pyte.Screen`);
- :mod:`.rows`: rows as runs of text, or cells when something writes into their middle;
- :mod:`.attrs`: a cell's attributes, as shared plain tuples.

A hypothesis test compares our screens with stock pyte's, cell by cell, and another
feeds the same sample whole and a byte at a time, so the fast paths show what pyte shows
(less the three quirks :mod:`.screen` names).
"""

from __future__ import annotations

from .attrs import BLANK, Attrs, Cell
from .parser import FastByteStream
from .rows import Line
from .screen import DEFAULT_HISTORY, TerminalScreen


class Terminal:
    """Bytes in (any split, any content), screen out."""

    def __init__(self, columns: int = 80, lines: int = 24, history: int = DEFAULT_HISTORY) -> None:
        self.screen = TerminalScreen(columns, lines, history)
        self.stream = FastByteStream(self.screen)

    def feed(self, data: bytes) -> None:
        self.stream.feed(data)

    def resize(self, columns: int, lines: int) -> None:
        self.screen.resize(lines, columns)


__all__ = ["BLANK", "DEFAULT_HISTORY", "Attrs", "Cell", "FastByteStream", "Line", "Terminal", "TerminalScreen"]
