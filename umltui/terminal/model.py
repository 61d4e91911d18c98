"""The terminal model: a console's bytes in, a screen and a scrollback out. No Textual here.

Built on pyte: its parser, cursor, modes, charsets, margins and tab stops are used as
they are. What pyte does slowly is done here another way, keeping what it shows (a
hypothesis test compares screens with stock pyte's, cell by cell):

- **Rows are** :class:`Line` **objects, not dicts of characters.** pyte's ``draw`` makes
  one namedtuple per character; a console's rows are mostly a few runs of text with one
  set of attributes each, written left to right. A ``Line`` keeps those runs as strings
  (*compact*) and turns into per-cell lists only when something writes into the middle
  of it (a cursor move, a wide character, an insert).
- **Whole lines at a time.** Most console output is complete lines: printable text and
  colour changes ending in ``CR LF``. :class:`FastByteStream` finds a block of such
  lines with one regular expression and hands it to :meth:`TerminalScreen.put_lines`,
  which splits, colours, wraps and scrolls them with string and list operations, and
  moves the lines that leave the top into the scrollback ring in one step.
- **Everything else token by token.** Runs of text, the common CSI sequences and the
  common escapes are dispatched straight to the screen; anything rarer (OSC, charsets,
  sequences cut by a read) goes through pyte's own state machine.
- **Attributes are shared plain tuples.** A set of attributes is a tuple laid out as
  pyte's ``Char`` (``data`` unused), made once: what follows from (attributes, SGR parameters) is
  remembered, so a colour change costs a dictionary look-up, and a viewer can cache a
  style per attribute object.

On top of pyte: the alternate screen (``?1049``, ``?1047``, ``?47``), DECCKM, bracketed
paste and mouse modes recorded for the key encoder, reverse video as a flag, the title,
a bell counter, and resize that keeps the lines it cuts in the scrollback. Three pyte
quirks are not kept: erasing the display fills whole rows (pyte fills only cells that
were written), deleting lines moves blank rows up too, and a character that inserting
pushed off the right edge does not come back when characters are deleted.
"""

from __future__ import annotations

import re
import unicodedata
from collections import deque
from typing import Any

import pyte
from pyte import modes as mo
from pyte.screens import Char, Margins
from wcwidth import wcwidth

DEFAULT_HISTORY = 10_000
MAX_SEQUENCE = 4096  # characters an escape sequence (an OSC title, say) may run to
_LAT1 = pyte.charsets.LAT1_MAP

# Private modes, shifted as pyte stores them.
DECCKM = 1 << 5
ALT_47, ALT_1047, ALT_1049 = 47 << 5, 1047 << 5, 1049 << 5
BRACKETED_PASTE = 2004 << 5
MOUSE_MODES = {m << 5 for m in (9, 1000, 1002, 1003)}
MOUSE_SGR = 1006 << 5
_ALT_MODES = {ALT_47, ALT_1047, ALT_1049}

Attrs = tuple[Any, ...]
"""A cell's attributes: a plain tuple laid out as pyte's ``Char``, whose ``data`` is unused.

Plain, because the garbage collector stops following a tuple of strings, booleans and
other such tuples, but follows a namedtuple, and everything holding one, for ever: ten
thousand lines of scrollback would slow each of its full sweeps by tens of milliseconds.
"""

BLANK: Attrs = tuple(Char(" "))
"""The attributes of an untouched cell (and of the cursor after a reset)."""
_BLANK_CHAR = Char(" ")
_NO_CELLS: tuple[Attrs, ...] = ()


def _flags(fg: str) -> str:
    """Dim (``d``) and hidden (``h``), which pyte's Char has no field for, ride on ``fg``."""
    return fg.partition("|")[2]


def _plain(fg: str) -> str:
    return fg.partition("|")[0]


def split_fg(fg: str) -> tuple[str, bool, bool]:
    """A cell's foreground colour, and whether it is dim and hidden."""
    colour, _, flags = fg.partition("|")
    return colour, "d" in flags, "h" in flags


class Line:
    """One row of the screen or the scrollback.

    Either *compact*: a tuple of ``runs``, ``(text, attrs)`` from column 0, every character one
    column wide, ``width`` columns in all, blank after that; or *cells*: ``chars`` and
    ``attrs``, one entry a column (a wide character's second column holds ``""``), as
    long as the screen was wide when they were made. Attributes are :data:`Attrs`.
    """

    __slots__ = ("runs", "width", "chars", "attrs")

    def __init__(self, runs: tuple[tuple[str, Attrs], ...] = (), width: int = 0) -> None:
        self.runs = runs  # a tuple (as Attrs are), which the garbage collector soon stops following
        self.width = width
        self.chars: list[str] | None = None
        self.attrs: list[Attrs] = _NO_CELLS  # type: ignore[assignment]  # no list until there are cells

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

    def __getitem__(self, x: int) -> Char:
        """The cell at column ``x`` as a pyte ``Char`` (for tests and debugging)."""
        if self.chars is not None:
            if x < len(self.chars):
                return Char(self.chars[x], *self.attrs[x][1:])
            return Char(*BLANK)
        for text, a in self.runs:
            if x < len(text):
                return Char(text[x], *a[1:])
            x -= len(text)
        return Char(*BLANK)

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


class TerminalScreen(pyte.Screen):
    """A pyte screen made of :class:`Line` rows, with a scrollback ring and the alternate screen.

    Args:
        columns, lines: the size.
        history: how many lines the scrollback ring keeps.
    """

    buffer: list[Line]  # type: ignore[assignment]

    def __init__(self, columns: int, lines: int, history: int = DEFAULT_HISTORY) -> None:
        self.history: deque[Line] = deque(maxlen=max(0, history))
        self._sgr_memo: dict[tuple[int, str], tuple[Attrs, Attrs]] = {}
        self._interned: dict[Attrs, Attrs] = {BLANK: BLANK}
        # The main screen's rows and saved cursor while the alternate screen is on.
        self._main: tuple[list[Line], tuple[int, int, Attrs] | None] | None = None
        self.bells = 0
        self.scrolled = 0  # lines that went into the history, ever (lets a viewer keep its place)
        super().__init__(columns, lines)

    # -- state the widget asks about ------------------------------------------------

    @property
    def alternate(self) -> bool:
        return self._main is not None

    @property
    def app_cursor_keys(self) -> bool:
        return DECCKM in self.mode

    @property
    def bracketed_paste(self) -> bool:
        return BRACKETED_PASTE in self.mode

    @property
    def mouse_tracking(self) -> bool:
        return bool(MOUSE_MODES & self.mode)

    @property
    def reverse_video(self) -> bool:
        return mo.DECSCNM in self.mode

    @property
    def default_char(self) -> Char:
        return _BLANK_CHAR

    def _all_dirty(self) -> None:
        if len(self.dirty) < self.lines:
            self.dirty.update(range(self.lines))

    # -- writing ---------------------------------------------------------------------

    def _put(self, line: Line, x: int, text: str, a: Attrs) -> None:
        """Write one-column characters at column ``x`` (which the caller keeps on screen)."""
        n = len(text)
        if line.chars is None:
            width = line.width
            if x == 0 and n >= width:
                line.runs = ((text, a),)
                line.width = n
                return
            if x == width:
                runs = line.runs
                last = runs[-1]
                if last[1] is a:
                    line.runs = (*runs[:-1], (last[0] + text, a))
                else:
                    line.runs = (*runs, (text, a))
                line.width = width + n
                return
            if x > width:
                line.runs = (*line.runs, (" " * (x - width), BLANK), (text, a))
                line.width = x + n
                return
        chars, attrs = line.cells(self.columns)
        chars[x : x + n] = text
        attrs[x : x + n] = [a] * n

    def draw(self, data: str) -> None:
        charset = self.g1_charset if self.charset else self.g0_charset
        if charset is not _LAT1:
            data = data.translate(charset)
        if not (data.isascii() and data.isprintable()) or mo.IRM in self.mode:
            self._draw_cells(data)
            return
        cursor = self.cursor
        columns = self.columns
        a = cursor.attrs
        buffer = self.buffer
        put = self._put
        while data:
            x = cursor.x
            if x >= columns:
                if mo.DECAWM in self.mode:
                    self.dirty.add(cursor.y)
                    cursor.x = 0
                    self.linefeed()
                    x = 0
                else:  # no wrap: each further character overwrites the last column
                    put(buffer[cursor.y], columns - 1, data[-1], a)
                    cursor.x = columns
                    break
            n = columns - x
            if len(data) <= n:
                put(buffer[cursor.y], x, data, a)
                cursor.x = x + len(data)
                break
            put(buffer[cursor.y], x, data[:n], a)
            cursor.x = columns
            data = data[n:]
        self.dirty.add(cursor.y)

    def _draw_cells(self, data: str) -> None:
        """pyte's ``draw``, a character at a time, for wide, combining and other rare text."""
        cursor = self.cursor
        columns = self.columns
        for char in data:
            width = wcwidth(char)
            if width < 0 or (width == 0 and not unicodedata.combining(char)):
                continue  # pyte drops the rest of the run here; we drop only this character
            if cursor.x >= columns:
                if mo.DECAWM in self.mode:
                    self.dirty.add(cursor.y)
                    cursor.x = 0
                    self.linefeed()
                elif width > 0:
                    cursor.x = max(0, columns - width)
            if mo.IRM in self.mode and width > 0:
                self.insert_characters(width)
            x = cursor.x
            a = cursor.attrs
            line = self.buffer[cursor.y]
            if width == 1:
                self._put(line, x, char, a)
            elif width == 2:
                chars, attrs = line.cells(columns)
                chars[x], attrs[x] = char, a
                if x + 1 < columns:
                    chars[x + 1], attrs[x + 1] = "", a
            elif x:  # combining: onto the character before
                chars, _ = line.cells(columns)
                chars[x - 1] = unicodedata.normalize("NFC", chars[x - 1] + char)
            elif cursor.y:
                chars, _ = self.buffer[cursor.y - 1].cells(columns)
                chars[columns - 1] = unicodedata.normalize("NFC", chars[columns - 1] + char)
                self.dirty.add(cursor.y - 1)
            if width > 0:
                cursor.x = min(x + width, columns)
        self.dirty.add(cursor.y)

    def put_lines(self, block: str) -> None:
        """Draw complete lines: the same as drawing each line and sending ``CR LF`` after it.

        ``block`` is lines of printable ASCII, SGR sequences and ``CR EL`` (a progress line
        redrawn in place), each ending ``CR LF``. The cursor is at column 0 of the main
        screen, with autowrap on, no insert mode and no margins (the caller checks).
        """
        columns = self.columns
        attrs = self.cursor.attrs
        memo = self._sgr_memo
        sgr = self.sgr
        rows: list[Line] = []
        add = rows.append
        erased: list[int] = []  # rows that a CR EL cleared first: they replace, not overlay
        for raw in block.split("\r\n")[:-1]:
            if "\x1b" not in raw:  # plain text (a CR comes only with an EL)
                width = len(raw)
                if width <= columns:
                    add(Line(((raw, attrs),) if raw else (), width))
                else:
                    rows.extend(_wrap([(raw, attrs)], columns))
                continue
            fill = None
            if "\r" in raw:  # only the part after the last CR EL is left on the row
                head, _, raw = raw.rpartition("\r\x1b[")
                raw = raw[1:] if raw[0] == "K" else raw[2:]
                changes = _SGR_SPLIT.findall(head)
                for i in range(len(changes) - 1, 0, -1):
                    if changes[i] in ("0", ""):  # a reset: what came before it does not matter
                        del changes[:i]
                        break
                for params in changes:
                    hit = memo.get((id(attrs), params))
                    attrs = hit[1] if hit is not None and hit[0] is attrs else sgr(attrs, params)
                erased.append(len(rows))
                fill = attrs
            parts = iter(_SGR_SPLIT.split(raw))
            text = next(parts)
            width = len(text)
            runs: list[tuple[str, Attrs]] = [(text, attrs)] if text else []
            for params, text in zip(parts, parts, strict=True):
                hit = memo.get((id(attrs), params))
                attrs = hit[1] if hit is not None and hit[0] is attrs else sgr(attrs, params)
                if text:
                    if runs and runs[-1][1] is attrs:
                        runs[-1] = (runs[-1][0] + text, attrs)
                    else:
                        runs.append((text, attrs))
                    width += len(text)
            if fill is not None and width < columns and fill != BLANK:
                runs.append((" " * (columns - width), fill))  # EL fills the row with its background
                width = columns
            if width <= columns:
                add(Line(tuple(runs), width))
            else:
                rows.extend(_wrap(runs, columns))
        self.cursor.attrs = attrs
        buffer = self.buffer
        lines = self.lines
        y = self.cursor.y
        # Rows that land on rows already on screen are written over them.
        k = 0
        for k, row in enumerate(rows):  # noqa: B007 - k is used after the loop
            target = y + k
            if target >= lines:
                break
            old = buffer[target]
            if old.blank or (erased and k in erased):
                buffer[target] = row
            elif row.width:
                x = 0
                for text, a in row.runs:
                    self._put(old, x, text, a)
                    x += len(text)
        else:
            k = len(rows)
        buffer.extend(rows[k:])
        end = y + len(rows)  # the row the cursor ends on
        if end >= len(buffer):
            buffer.append(Line())
        gone = len(buffer) - lines
        if gone > 0:
            self._to_history(buffer, gone)
            end -= gone
            self._all_dirty()
        else:
            self.dirty.update(range(y, end + 1))
        self.cursor.y = end

    # -- attributes ------------------------------------------------------------------

    def sgr(self, attrs: Attrs, raw: str) -> Attrs:
        """The attributes after ``CSI raw m`` from ``attrs`` (remembered)."""
        key = (id(attrs), raw)
        hit = self._sgr_memo.get(key)
        if hit is not None and hit[0] is attrs:
            return hit[1]
        saved = self.cursor.attrs
        self.cursor.attrs = attrs
        self.select_graphic_rendition(*_parameters(raw))
        made = self.cursor.attrs
        self.cursor.attrs = saved
        if len(self._sgr_memo) > 4096:
            self._sgr_memo.clear()
        self._sgr_memo[key] = (attrs, made)
        return made

    def select_graphic_rendition(self, *attrs: int, private: bool = False) -> None:
        if private:  # CSI ? ... m is not SGR; pyte ignores it too
            return
        current = self.cursor.attrs
        flags = _flags(current[1])
        codes = list(attrs or (0,))
        i = 0
        while i < len(codes):
            code = codes[i]
            i += 1
            if code in (38, 48, 58) and i < len(codes):  # 5;n or 2;r;g;b: colour arguments
                i += 2 if codes[i] == 5 else 4 if codes[i] == 2 else 0
            elif code == 0:
                flags = ""
            elif code == 2:
                flags = flags.replace("d", "") + "d"
            elif code == 22:
                flags = flags.replace("d", "")
            elif code == 8:
                flags = flags.replace("h", "") + "h"
            elif code == 28:
                flags = flags.replace("h", "")
        self.cursor.attrs = Char(*current)._replace(fg=_plain(current[1]))  # pyte works on a Char
        super().select_graphic_rendition(*attrs)
        made = self.cursor.attrs
        if flags:
            made = made._replace(fg=f"{made.fg}|{flags}")
        if len(self._interned) > 4096:
            self._interned = {BLANK: BLANK}
            self._sgr_memo.clear()
        plain = tuple(made)
        self.cursor.attrs = self._interned.setdefault(plain, plain)

    # -- scrolling and lines -------------------------------------------------------------

    def index(self) -> None:
        cursor = self.cursor
        margins = self.margins
        if margins is None:
            top, bottom = 0, self.lines - 1
            if cursor.y < bottom:
                cursor.y += 1
                return
        else:
            top, bottom = margins
        if cursor.y != bottom:
            self.cursor_down()
            return
        line = self.buffer.pop(top)
        self.buffer.insert(bottom, Line())
        if top == 0 and self._main is None:
            line.freeze()
            self.history.append(line)
            self.scrolled += 1
        self._all_dirty()

    def reverse_index(self) -> None:
        top, bottom = self.margins or Margins(0, self.lines - 1)
        if self.cursor.y != top:
            self.cursor_up()
            return
        del self.buffer[bottom]
        self.buffer.insert(top, Line())
        self._all_dirty()

    def _line_span(self, count: int | None) -> tuple[int, int, int] | None:
        """(cursor row, rows to move, bottom margin) for IL and DL; None outside the margins."""
        top, bottom = self.margins or Margins(0, self.lines - 1)
        y = self.cursor.y
        if not top <= y <= bottom:
            return None
        self.dirty.update(range(y, self.lines))
        self.carriage_return()
        return y, min(count or 1, bottom - y + 1), bottom

    def insert_lines(self, count: int | None = None) -> None:
        if span := self._line_span(count):
            y, n, bottom = span
            del self.buffer[bottom - n + 1 : bottom + 1]
            self.buffer[y:y] = [Line() for _ in range(n)]

    def delete_lines(self, count: int | None = None) -> None:
        if span := self._line_span(count):
            y, n, bottom = span
            del self.buffer[y : y + n]
            self.buffer[bottom - n + 1 : bottom - n + 1] = [Line() for _ in range(n)]

    # -- characters ------------------------------------------------------------------

    def insert_characters(self, count: int | None = None) -> None:
        count = count or 1
        y, x = self.cursor.y, min(self.cursor.x, self.columns)
        self.dirty.add(y)
        line = self.buffer[y]
        if line.chars is None and x >= line.width:
            return  # only blanks move
        chars, attrs = line.cells(self.columns)
        chars[x:x] = " " * count
        attrs[x:x] = [BLANK] * count
        del chars[self.columns :], attrs[self.columns :]

    def delete_characters(self, count: int | None = None) -> None:
        count = count or 1
        y, x = self.cursor.y, self.cursor.x
        self.dirty.add(y)
        line = self.buffer[y]
        if line.chars is None and x >= line.width:
            return
        chars, attrs = line.cells(self.columns)
        del chars[self.columns :], attrs[self.columns :]
        del chars[x : x + count], attrs[x : x + count]
        line.cells(self.columns)  # blanks in from the right

    def erase_characters(self, count: int | None = None) -> None:
        count = count or 1
        y, x = self.cursor.y, self.cursor.x
        self.dirty.add(y)
        end = min(x + count, self.columns)
        if end > x:
            chars, attrs = self.buffer[y].cells(self.columns)
            chars[x:end] = " " * (end - x)
            attrs[x:end] = [self.cursor.attrs] * (end - x)

    def erase_in_line(self, how: int = 0, private: bool = False) -> None:
        cursor = self.cursor
        self.dirty.add(cursor.y)
        columns = self.columns
        if how == 0:
            start, end = cursor.x, columns
        elif how == 1:
            start, end = 0, min(cursor.x + 1, columns)
        elif how == 2:
            start, end = 0, columns
        else:
            return
        line = self.buffer[cursor.y]
        a = cursor.attrs
        if end == columns and (a is BLANK or a == BLANK):
            if start == 0:
                self.buffer[cursor.y] = Line()
            else:
                line.truncate(start)
            return
        if start < end:
            chars, attrs = line.cells(columns)
            chars[start:end] = " " * (end - start)
            attrs[start:end] = [a] * (end - start)

    def erase_in_display(self, how: int = 0, *args: Any, **kwargs: Any) -> None:
        y = self.cursor.y
        if how == 0:
            rows = range(y + 1, self.lines)
        elif how == 1:
            rows = range(y)
        elif how in (2, 3):
            rows = range(self.lines)
        else:
            return
        a = self.cursor.attrs
        columns = self.columns
        blank = a is BLANK or a == BLANK
        for row in rows:
            self.buffer[row] = Line() if blank else Line(((" " * columns, a),), columns)
        self.dirty.update(rows)
        if how in (0, 1):
            self.erase_in_line(how)

    def alignment_display(self) -> None:
        self._all_dirty()
        for line in self.buffer:
            chars, _ = line.cells(self.columns)
            chars[:] = "E" * self.columns

    # -- modes -------------------------------------------------------------------------

    def bell(self, *args: Any) -> None:
        self.bells += 1

    def _private_modes(self, modes: tuple[int, ...], on: bool) -> tuple[int, ...]:
        """Take out the modes pyte would handle cell by cell or by resizing."""
        if 5 in modes:  # DECSCNM: reverse video is a flag the viewer applies
            if on:
                self.mode.add(mo.DECSCNM)
            else:
                self.mode.discard(mo.DECSCNM)
            self._all_dirty()
        return tuple(m for m in modes if m not in (3, 5))  # DECCOLM would resize us to 132 columns: no

    def set_mode(self, *modes: int, **kwargs: Any) -> None:
        if kwargs.get("private"):
            modes = self._private_modes(modes, True)
            if {m << 5 for m in modes} & _ALT_MODES and self._main is None:
                self._enter_alternate(save_cursor=1049 in modes)
        super().set_mode(*modes, **kwargs)

    def reset_mode(self, *modes: int, **kwargs: Any) -> None:
        if kwargs.get("private"):
            modes = self._private_modes(modes, False)
            if {m << 5 for m in modes} & _ALT_MODES and self._main is not None:
                self._leave_alternate(restore_cursor=1049 in modes)
        super().reset_mode(*modes, **kwargs)

    def _blank_rows(self) -> list[Line]:
        return [Line() for _ in range(self.lines)]

    def _enter_alternate(self, *, save_cursor: bool) -> None:
        cursor = (self.cursor.x, self.cursor.y, self.cursor.attrs) if save_cursor else None
        self._main = (self.buffer, cursor)
        self.buffer = self._blank_rows()
        self._all_dirty()

    def _leave_alternate(self, *, restore_cursor: bool) -> None:
        assert self._main is not None
        self.buffer, cursor = self._main
        self._main = None
        if restore_cursor and cursor is not None:
            self.cursor.x, self.cursor.y, self.cursor.attrs = cursor
            self.ensure_hbounds()
            self.ensure_vbounds()
        self._all_dirty()

    def reset(self) -> None:
        self._main = None  # RIS: back to the main screen, cleared; the scrollback stays
        super().reset()
        self.buffer = self._blank_rows()
        self.cursor.attrs = BLANK

    def resize(self, lines: int | None = None, columns: int | None = None) -> None:
        """Resize; rows cut from the top of the main screen go to the scrollback, as in xterm."""
        lines = lines or self.lines
        columns = columns or self.columns
        if (lines, columns) == (self.lines, self.columns):
            return
        cursor = self.cursor
        if lines < self.lines:
            cut = self.lines - lines
            if self._main is None:
                # Blank rows below the cursor go first; then rows leave through the top.
                from_bottom = 0
                for y in range(self.lines - 1, cursor.y, -1):
                    if from_bottom == cut or not self.buffer[y].blank:
                        break
                    from_bottom += 1
                del self.buffer[self.lines - from_bottom :]
                cut -= from_bottom
                self._to_history(self.buffer, cut)
            else:  # the main screen keeps its bottom rows; so does the full-screen program's
                main, saved = self._main
                self._to_history(main, cut)
                del self.buffer[:cut]
                if saved is not None:
                    self._main = (main, (saved[0], max(0, saved[1] - cut), saved[2]))
            cursor.y = max(0, cursor.y - cut)
        else:
            for buffer in (self.buffer, self._main[0] if self._main else []):
                buffer.extend(Line() for _ in range(lines - self.lines))
        if columns < self.columns:
            for buffer in (self.buffer, self._main[0] if self._main else []):
                for line in buffer:
                    line.truncate(columns)
        self.lines, self.columns = lines, columns
        self.margins = None
        self.dirty.clear()
        self.dirty.update(range(lines))
        self.ensure_hbounds()
        self.ensure_vbounds()

    def _to_history(self, buffer: list[Line], count: int) -> None:
        if count > 0:
            for line in buffer[:count]:
                line.freeze()
            self.history.extend(buffer[:count])
            del buffer[:count]
            self.scrolled += count

    # -- reading the screen ------------------------------------------------------------

    @property
    def display(self) -> list[str]:
        return [line.text(self.columns).ljust(self.columns) for line in self.buffer]

    def history_text(self) -> list[str]:
        """The scrollback as plain text rows, oldest first."""
        return [line.text(self.columns).rstrip() for line in self.history]

    def rows_text(self) -> list[str]:
        """The screen as plain text rows, trailing blanks removed."""
        return [line.text(self.columns).rstrip() for line in self.buffer]


def _parameters(raw: str) -> list[int]:
    """A CSI sequence's parameters (``1;31`` is ``[1, 31]``, an empty one is 0), capped as pyte caps them."""
    return [min(int(p or 0), 9999) for p in raw.split(";")]


def _wrap(runs: list[tuple[str, Attrs]], columns: int) -> list[Line]:
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
    return rows


_SGR_SPLIT = re.compile(r"\x1b\[([0-9;]*)m")
# A block of complete lines: printable ASCII, SGR and CR EL, each ending CR LF.
_LINES = re.compile(r"(?:(?:[ -~]++|\x1b\[[0-9;]*+m|\r\x1b\[0?K)*+\r\n)+")
# Ground-state tokens, in the order they are tried. Text is what pyte draws: everything
# but ESC, the C1 CSI and OSC introducers, NUL, DEL and pyte's basic controls.
_SPECIAL = "\x1b\x9b\x9d\x00\x7f\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f"
_TOKEN = re.compile(
    "(?P<text>[^" + re.escape(_SPECIAL) + "]+)"
    r"|\x1b\[(?P<private>\??)(?P<params>[0-9;]*)(?P<final>[@-~])"
    "|(?P<crlf>\r\n)"
    "|(?P<ctrl>[\r\n\x08\x07\t])"
    r"|\x1b(?P<esc>[78DEHMc])"
)


class FastByteStream(pyte.ByteStream):
    """pyte's ByteStream, with whole lines and the common tokens handled without its per-byte parser."""

    def __init__(self, screen: TerminalScreen) -> None:
        super().__init__(screen)
        self._csi_methods = {final: getattr(screen, name) for final, name in self.csi.items()}
        self._esc_methods = {char: getattr(screen, name) for char, name in self.escape.items()}
        self._params: dict[str, list[int]] = {}
        self._open_for = 0
        self._basic_methods = {char: getattr(screen, name) for char, name in self.basic.items()}

    def _lines_ok(self, screen: TerminalScreen) -> bool:
        """Whether :meth:`TerminalScreen.put_lines` may take whole lines now (the cursor is at column 0)."""
        return (
            screen._main is None
            and screen.margins is None
            and mo.DECAWM in screen.mode
            and mo.IRM not in screen.mode
            and not screen.charset
            and screen.g0_charset is _LAT1
        )

    def feed(self, data: bytes) -> None:  # type: ignore[override]
        text = self.utf8_decoder.decode(data) if self.use_utf8 else "".join(map(chr, data))
        screen = self.listener
        assert isinstance(screen, TerminalScreen)
        draw = screen.draw
        crlf_cr, crlf_lf = screen.carriage_return, screen.linefeed
        csi = self._csi_methods
        basic = self._basic_methods
        escape = self._esc_methods
        param_cache = self._params
        debug = screen.debug
        send = self._send_to_parser
        match = _TOKEN.match
        lines_at = _LINES.match
        put_lines = screen.put_lines
        sgr = screen.sgr
        cursor = screen.cursor
        length = len(text)
        offset = 0
        ground = self._taking_plain_text
        try_lines = True
        while offset < length:
            if ground:
                if try_lines:
                    try_lines = False
                    if cursor.x == 0:
                        m = lines_at(text, offset)
                        if m is not None and self._lines_ok(screen):
                            put_lines(m.group())
                            offset = m.end()
                            continue
                m = match(text, offset)
                if m is not None:
                    offset = m.end()
                    kind = m.lastgroup
                    if kind == "text":
                        draw(m.group("text"))
                    elif kind == "crlf":
                        crlf_cr()
                        crlf_lf()
                        try_lines = True
                    elif kind == "ctrl":
                        basic[m.group("ctrl")]()
                    elif kind == "esc":
                        escape[m.group("esc")]()
                        cursor = screen.cursor  # restore_cursor and reset replace it
                        try_lines = True  # a restored cursor is often back at column 0
                    else:
                        final = m.group("final")
                        raw = m.group("params")
                        private = m.group("private")
                        if final == "m" and not private:
                            cursor.attrs = sgr(cursor.attrs, raw)
                            continue
                        method = csi.get(final, debug)
                        params = param_cache.get(raw)
                        if params is None:
                            params = _parameters(raw)
                            if len(param_cache) < 4096:
                                param_cache[raw] = params
                        try:
                            if private:
                                method(*params, private=True)
                            else:
                                method(*params)
                        except (TypeError, ValueError, KeyError, IndexError):
                            pass  # a sequence the screen cannot take (e.g. CSI ? H): ignored, as xterm does
                        cursor = screen.cursor
                    continue
            # Anything else: pyte's state machine, until it is back at ground state.
            char = text[offset]
            offset += 1
            if not ground:
                self._open_for += 1
                if char in "\x18\x1a" or self._open_for > MAX_SEQUENCE:
                    # CAN and SUB cancel any sequence (pyte lets an OSC swallow them), and a
                    # sequence that never ends must not swallow the console either.
                    self._initialize_parser()
                    ground = True
                    self._open_for = 0
                    continue
            else:
                self._open_for = 0
            try:
                ground = bool(send(char))
            except (TypeError, ValueError, KeyError, IndexError):
                ground = True  # pyte gave up on the sequence and starts afresh; the rest of the chunk goes on
            cursor = screen.cursor
            try_lines = ground
        self._taking_plain_text = ground


class Terminal:
    """Bytes in (any split, any content), screen out."""

    def __init__(self, columns: int = 80, lines: int = 24, history: int = DEFAULT_HISTORY) -> None:
        self.screen = TerminalScreen(columns, lines, history)
        self.stream = FastByteStream(self.screen)

    def feed(self, data: bytes) -> None:
        self.stream.feed(data)

    def resize(self, columns: int, lines: int) -> None:
        self.screen.resize(lines, columns)
