"""Rows of the screen and of the scrollback: runs of text while they can be, cells when they must.

A console's rows are mostly a few runs of text with one set of attributes each, written
left to right; pyte's way, a namedtuple per character, is what made it slow. A
:class:`Line` keeps those runs as strings (*compact*) and turns into per-column lists only
when something writes into the middle of it (a cursor move, a wide character, an insert).
Nothing here parses or knows of escape sequences.
"""

from __future__ import annotations

from .attrs import BLANK, Attrs, Cell

_NO_CELLS: tuple[Attrs, ...] = ()


class Line:
    """One row of the screen or the scrollback.

    Either *compact*: a tuple of ``runs``, ``(text, attrs)`` from column 0, every character one
    column wide, ``width`` columns in all, blank after that; or *cells*: ``chars`` and
    ``attrs``, one entry a column (a wide character's second column holds ``""``), as
    long as the screen was wide when they were made. Attributes are :data:`Attrs`.
    """

    __slots__ = ("runs", "width", "chars", "attrs", "wrapped")

    def __init__(self, runs: tuple[tuple[str, Attrs], ...] = (), width: int = 0) -> None:
        self.runs = runs  # a tuple (as Attrs are), which the garbage collector soon stops following
        self.width = width
        self.chars: list[str] | None = None
        self.attrs: list[Attrs] = _NO_CELLS  # type: ignore[assignment]  # no list until there are cells
        self.wrapped = False  # autowrap went on from this row to the next (tmux's backspace goes back up)

    @property
    def blank(self) -> bool:
        return self.chars is None and self.width == 0

    def cells(self, columns: int) -> tuple[list[str], list[Attrs]]:
        """The per-column lists, at least ``columns`` long (made from the runs the first time)."""
        chars = self.chars
        if chars is None:
            chars, attrs = [], []
            for text, a in self.runs:
                chars.extend(text)
                attrs += [a] * len(text)
            self.chars, self.attrs, self.runs = chars, attrs, ()
        if len(chars) < columns:
            pad = columns - len(chars)
            chars += " " * pad
            self.attrs += [BLANK] * pad
        return chars, self.attrs

    def freeze(self) -> None:
        """Make the cells tuples, for the scrollback (where nothing writes into a line)."""
        if self.chars is not None:
            self.chars = tuple(self.chars)  # type: ignore[assignment]
            self.attrs = tuple(self.attrs)  # type: ignore[assignment]

    def truncate(self, x: int) -> None:
        """Blank everything from column ``x`` on (with default attributes)."""
        if self.chars is not None:
            del self.chars[x:], self.attrs[x:]
            return
        if x >= self.width:
            return
        kept: list[tuple[str, Attrs]] = []
        width = 0
        for text, a in self.runs:
            if width + len(text) >= x:
                if x > width:
                    kept.append((text[: x - width], a))
                break
            kept.append((text, a))
            width += len(text)
        self.runs, self.width = tuple(kept), x

    def __getitem__(self, x: int) -> Cell:
        """The cell at column ``x`` (for tests and debugging)."""
        if self.chars is not None:
            if x < len(self.chars):
                return Cell.of(self.chars[x], self.attrs[x])
            return Cell.of(" ", BLANK)
        for text, a in self.runs:
            if x < len(text):
                return Cell.of(text[x], a)
            x -= len(text)
        return Cell.of(" ", BLANK)

    def text(self, columns: int) -> str:
        """The row as a string, cut to ``columns`` columns; trailing blanks kept."""
        if self.chars is not None:
            return "".join(self.chars[:columns])
        joined = "".join(text for text, _ in self.runs)
        return joined[:columns]

    def column_text(self, columns: int) -> str:
        """Exactly ``columns`` characters, one a column (a wide character's second column is a space)."""
        if self.chars is None:
            joined = "".join(text for text, _ in self.runs)[:columns]
        else:
            joined = "".join((c or " ")[:1] for c in self.chars[:columns])
        return joined.ljust(columns)

    def segments(self, columns: int) -> list[tuple[str, Attrs]]:
        """``(text, attrs)`` pieces covering exactly ``columns`` columns."""
        out: list[tuple[str, Attrs]] = []
        width = 0
        if self.chars is None:
            for text, a in self.runs:
                if width + len(text) > columns:
                    text = text[: columns - width]
                    if text:
                        out.append((text, a))
                    width = columns
                    break
                out.append((text, a))
                width += len(text)
        else:
            chars, attrs = self.chars, self.attrs
            end = min(len(chars), columns)
            start = 0
            while start < end:
                a = attrs[start]
                x = start + 1
                while x < end and (attrs[x] is a or attrs[x] == a):
                    x += 1
                out.append(("".join(chars[start:x]), a))
                start = x
            width = end
        if width < columns:
            if out and (out[-1][1] is BLANK or out[-1][1] == BLANK):  # one piece, as the cells would be
                out[-1] = (out[-1][0] + " " * (columns - width), BLANK)
            else:
                out.append((" " * (columns - width), BLANK))
        return out

    def __repr__(self) -> str:
        kind = "cells" if self.chars is not None else f"runs={len(self.runs)}"
        return f"Line({self.text(10_000)!r}, {kind})"


def wrap(runs: list[tuple[str, Attrs]], columns: int) -> list[Line]:
    """Cut a line wider than the screen into rows, as autowrap does."""
    rows: list[Line] = []
    current: list[tuple[str, Attrs]] = []
    width = 0
    for text, a in runs:
        while text:
            piece = text[: columns - width]
            text = text[len(piece) :]
            current.append((piece, a))
            width += len(piece)
            if width == columns:
                rows.append(Line(tuple(current), width))
                current, width = [], 0
    if current:
        rows.append(Line(tuple(current), width))
    for row in rows[:-1]:  # (the last is where the cursor stays, its wrap still pending)
        row.wrapped = True
    return rows
