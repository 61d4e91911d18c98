"""The terminal model: a console's bytes in, a screen and a scrollback out. No Textual here.

Built on pyte, whose ``Screen.draw`` makes one namedtuple per character and whose
``HistoryScreen`` re-renders on every scroll. Two fast paths keep pyte's behaviour:

- ``draw``: a run of printable ASCII (what guests mostly print) is written a line-slice
  at a time, each character taken from a cache of ready-made ``Char`` objects for the
  cursor's current attributes, instead of one ``_replace`` per character.
- ``index``: a line scrolled off the top of the whole screen goes into a bounded ring
  (``collections.deque``) as it is; nothing is copied or re-rendered.

Everything else (wide and combining characters, insert mode, charsets) goes through
pyte's own code.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import pyte
from pyte import modes as mo
from pyte.screens import Char, Margins

DEFAULT_HISTORY = 10_000


class _CharCache(dict[str, Char]):
    """Characters with one set of attributes, made once each."""

    __slots__ = ("attrs",)

    def __init__(self, attrs: Char) -> None:
        super().__init__()
        self.attrs = attrs

    def __missing__(self, char: str) -> Char:
        made = self[char] = self.attrs._replace(data=char)
        return made


class TerminalScreen(pyte.Screen):
    """A pyte screen with a scrollback ring and a fast path for plain text.

    Args:
        columns, lines: the size.
        history: how many lines the scrollback ring keeps.
    """

    def __init__(self, columns: int, lines: int, history: int = DEFAULT_HISTORY) -> None:
        self.history: deque[Any] = deque(maxlen=history)
        self._caches: dict[Char, _CharCache] = {}
        super().__init__(columns, lines)

    def _cache(self, attrs: Char) -> _CharCache:
        cache = self._caches.get(attrs)
        if cache is None:
            if len(self._caches) > 512:  # many colour combinations: start afresh
                self._caches.clear()
            cache = self._caches[attrs] = _CharCache(attrs)
        return cache

    def draw(self, data: str) -> None:
        if not (data.isascii() and data.isprintable()) or mo.IRM in self.mode:
            super().draw(data)
            return
        data = data.translate(self.g1_charset if self.charset else self.g0_charset)
        cursor = self.cursor
        columns = self.columns
        getchar = self._cache(cursor.attrs).__getitem__
        while data:
            if cursor.x >= columns:
                if mo.DECAWM in self.mode:
                    self.dirty.add(cursor.y)
                    self.carriage_return()
                    self.linefeed()
                else:  # no wrap: each further character overwrites the last column
                    self.buffer[cursor.y][columns - 1] = getchar(data[-1])
                    cursor.x = columns
                    break
            x = cursor.x
            n = min(len(data), columns - x)
            self.buffer[cursor.y].update(zip(range(x, x + n), map(getchar, data[:n]), strict=True))
            cursor.x = x + n
            data = data[n:]
        self.dirty.add(cursor.y)

    def index(self) -> None:
        top, bottom = self.margins or Margins(0, self.lines - 1)
        if self.cursor.y != bottom:
            self.cursor_down()
            return
        buffer = self.buffer
        if top == 0:
            self.history.append(buffer[0])
        self.dirty.update(range(self.lines))
        for y in range(top, bottom):
            buffer[y] = buffer[y + 1]
        buffer.pop(bottom, None)

    def history_text(self) -> list[str]:
        """The scrollback as plain text rows, oldest first."""
        return [self._row_text(line) for line in self.history]

    def _row_text(self, line: Any) -> str:
        return "".join(line[x].data for x in range(self.columns)).rstrip()

    def rows_text(self) -> list[str]:
        """The screen as plain text rows, trailing blanks removed."""
        return [self._row_text(self.buffer[y]) for y in range(self.lines)]


class Terminal:
    """Bytes in (any split, any content), screen out."""

    def __init__(self, columns: int = 80, lines: int = 24, history: int = DEFAULT_HISTORY) -> None:
        self.screen = TerminalScreen(columns, lines, history)
        self.stream = pyte.ByteStream(self.screen)

    def feed(self, data: bytes) -> None:
        self.stream.feed(data)
