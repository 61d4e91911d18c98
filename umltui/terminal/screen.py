"""Screen operations: what each control sequence does to the rows, the cursor and the scrollback.

Built on pyte's :class:`pyte.Screen`: its cursor, modes, charsets, margins and tab stops
are used as they are; the operations that touch cells are ours, on :class:`~.rows.Line`
rows, and so are whole lines at a time (:meth:`TerminalScreen.put_lines`), the alternate
screen (``?1049``, ``?1047``, ``?47``), reverse video as a flag, the title, a bell counter,
and resize that keeps the rows it cuts in the scrollback and the columns it hides. Nothing here parses bytes: the
parser (:mod:`.parser`) calls these methods.

Three pyte quirks are not kept: erasing the display fills whole rows (pyte fills only cells
that were written), deleting lines moves blank rows up too, and a character that inserting
pushed off the right edge does not come back when characters are deleted.
"""

from __future__ import annotations

import unicodedata
from collections import deque
from typing import Any

import pyte
from pyte import modes as mo
from pyte.screens import Char, Margins
from wcwidth import wcwidth

from .attrs import BG, BLANK, DIM, HIDDEN, Attrs, AttrsCursor
from .parser import ParsedLine, parameters
from .rows import Line, wrap

DEFAULT_HISTORY = 10_000
_LAT1 = pyte.charsets.LAT1_MAP
_BLANK_CHAR = Char(" ")

# Private modes, shifted as pyte stores them.
DECCKM = 1 << 5
ALT_47, ALT_1047, ALT_1049 = 47 << 5, 1047 << 5, 1049 << 5
BRACKETED_PASTE = 2004 << 5
MOUSE_MODES = {m << 5 for m in (9, 1000, 1002, 1003)}
_ALT_MODES = {ALT_47, ALT_1047, ALT_1049}


def _unpair(chars: list[str], start: int, end: int) -> None:
    """Before cells ``start:end`` are written: a wide character cut in half there loses its other half too.

    A wide character's second column holds ``""``. Writing over its first column leaves the
    second a blank, and writing over its second column blanks the first, as tmux does.
    """
    if start < len(chars) and chars[start] == "" and start > 0:
        chars[start - 1] = " "
    if end < len(chars) and chars[end] == "":
        chars[end] = " "


class TerminalScreen(pyte.Screen):
    """A pyte screen made of :class:`Line` rows, with a scrollback ring and the alternate screen.

    Args:
        columns, lines: the size.
        history: how many lines the scrollback ring keeps.
    """

    buffer: list[Line]  # type: ignore[assignment]
    cursor: AttrsCursor

    def __init__(self, columns: int, lines: int, history: int = DEFAULT_HISTORY) -> None:
        self.history: deque[Line] = deque(maxlen=max(0, history))
        self._sgr_memo: dict[tuple[int, str], tuple[Attrs, Attrs]] = {}
        self._interned: dict[Attrs, Attrs] = {BLANK: BLANK}
        # The main screen's rows and saved cursor while the alternate screen is on.
        self._main: tuple[list[Line], tuple[int, int, Attrs] | None] | None = None
        self._alt_cursor: tuple[int, int, Attrs] | None = None  # what the last ?1049h saved
        self.bells = 0
        self.scrolled = 0  # lines that went into the history, ever (lets a viewer keep its place)
        self.replies: list[str] = []  # answers to the guest's queries (DSR, DA, window size), in order
        self.last_char = ""  # the last graphic character drawn, for REP
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

    def _fresh(self) -> Line:
        """A line that comes in (a scroll, an insert): blank, in the current background."""
        a = self._erased()
        return Line() if a is BLANK else Line(((" " * self.columns, a),), self.columns)

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
        _unpair(chars, x, x + n)
        chars[x : x + n] = text
        attrs[x : x + n] = [a] * n

    def draw(self, data: str) -> None:
        charset = self.g1_charset if self.charset else self.g0_charset
        if charset is not _LAT1:
            data = data.translate(charset)
        if data:  # REP repeats an ASCII character only: tmux forgets the last one at a UTF-8 character
            self.last_char = data[-1] if data[-1] < "\x80" else ""
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
                    buffer[cursor.y].wrapped = True
                    cursor.x = 0
                    self.linefeed()
                    x = 0
                else:  # a wrap was pending when autowrap went off: tmux drops the characters
                    break
            n = columns - x
            if len(data) <= n:
                put(buffer[cursor.y], x, data, a)
                cursor.x = x + len(data)
                if cursor.x == columns and mo.DECAWM not in self.mode:
                    cursor.x = columns - 1  # no wrap: the cursor stays on the last column
                break
            if mo.DECAWM not in self.mode:  # each further character overwrites the last column
                put(buffer[cursor.y], x, data[: n - 1] + data[-1], a)
                cursor.x = columns - 1
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
            wrapped = False
            if cursor.x >= columns:
                if mo.DECAWM in self.mode:
                    self.dirty.add(cursor.y)
                    self.buffer[cursor.y].wrapped = True
                    cursor.x = 0
                    self.linefeed()
                    wrapped = True
                elif width > 0:
                    continue  # a wrap was pending when autowrap went off: dropped, as in tmux
            if width == 2 and cursor.x == columns - 1:
                # A wide character does not fit in the last column: as tmux does, the
                # character goes on the next line, and the column keeps what it had (blank
                # if nothing was written there). Without autowrap, it is dropped.
                if mo.DECAWM not in self.mode:
                    continue
                self.buffer[cursor.y].wrapped = True  # (a backspace goes back up, as after any autowrap)
                cursor.x = 0
                self.linefeed()
            if mo.IRM in self.mode and width > 0 and not wrapped:
                # (the first character after an autowrap overwrites, as in tmux)
                self.insert_characters(width)
            x = cursor.x
            a = cursor.attrs
            line = self.buffer[cursor.y]
            if width == 1:
                self._put(line, x, char, a)
            elif width == 2:
                chars, attrs = line.cells(columns)
                _unpair(chars, x, x + 2)
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
            if width > 0:  # (without autowrap the cursor stays on the last column)
                cursor.x = min(x + width, columns if mo.DECAWM in self.mode else columns - 1)
        self.dirty.add(cursor.y)

    @property
    def accepts_lines(self) -> bool:
        """Whether :meth:`put_lines` may take whole lines now (the caller checks the cursor is at column 0)."""
        return (
            self._main is None
            and self.margins is None
            and mo.DECAWM in self.mode
            and mo.IRM not in self.mode
            and not self.charset
            and self.g0_charset is _LAT1
        )

    def put_lines(self, block: list[ParsedLine]) -> None:
        """Draw complete lines: the same as drawing each line and sending ``CR LF`` after it.

        ``block`` comes from :func:`~umltui.terminal.parser.split_lines`; the cursor is at
        column 0 and :attr:`accepts_lines` holds (the caller checks both).
        """
        columns = self.columns
        attrs = self.cursor.attrs
        memo = self._sgr_memo
        sgr = self.sgr
        rows: list[Line] = []
        add = rows.append
        erased: set[int] = set()  # rows that a CR EL cleared first: they replace, not overlay
        starts: list[Attrs] = []  # the attributes when each row began (a row scrolled in takes their background)

        def more(new: list[Line], start: Attrs) -> None:
            starts.append(start)
            starts.extend(row.runs[0][1] if row.runs else start for row in new[1:])  # autowrapped
            rows.extend(new)

        for head, pieces in block:
            start = attrs
            if head is None and len(pieces) == 1:  # plain text
                text = pieces[0]
                width = len(text)
                if width <= columns:
                    add(Line(((text, attrs),) if text else (), width))
                    starts.append(start)
                else:
                    more(wrap([(text, attrs)], columns), start)
                continue
            fill = None
            if head is not None:  # only what came after the row's last CR EL is left on it
                for i in range(len(head) - 1, 0, -1):
                    if head[i] in ("0", ""):  # a reset: what came before it does not matter
                        head = head[i:]
                        break
                for params in head:
                    hit = memo.get((id(attrs), params))
                    attrs = hit[1] if hit is not None and hit[0] is attrs else sgr(attrs, params)
                erased.add(len(rows))
                fill = attrs
            parts = iter(pieces)
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
            if fill is not None and width < columns and (bce := self._erased(fill)) is not BLANK:
                runs.append((" " * (columns - width), bce))  # EL fills the row with its background
                width = columns
            if width <= columns:
                add(Line(tuple(runs), width))
                starts.append(start)
            else:
                more(wrap(runs, columns), start)
        self.cursor.attrs = attrs
        self._land(rows, starts, erased)

    def _land(self, rows: list[Line], starts: list[Attrs], erased: set[int]) -> None:
        """Put :meth:`put_lines`' rows from the cursor's row on; the cursor ends on the row after them."""
        buffer = self.buffer
        lines = self.lines
        columns = self.columns
        y = self.cursor.y
        # Rows that land on rows already on screen are written over them.
        k = 0
        for k, row in enumerate(rows):  # noqa: B007 - k is used after the loop
            target = y + k
            if target >= lines:
                break
            old = buffer[target]
            if old.blank or k in erased:
                buffer[target] = row
            elif row.width:
                old.wrapped = old.wrapped or row.wrapped
                x = 0
                for text, a in row.runs:
                    self._put(old, x, text, a)
                    x += len(text)
        else:
            k = len(rows)
        for i, (row, start) in enumerate(zip(rows[k:], starts[k:], strict=True), k):
            # These scroll in: blank in the background of when they began, unless a CR EL
            # cleared the row after that (``put_lines`` filled it with the EL's own).
            if row.width < columns and i not in erased and (bce := self._erased(start)) is not BLANK:
                filled = Line((*row.runs, (" " * (columns - row.width), bce)), columns)
                filled.wrapped, row = row.wrapped, filled
            buffer.append(row)
        end = y + len(rows)  # the row the cursor ends on
        if end >= len(buffer):
            buffer.append(self._fresh())
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
        self.select_graphic_rendition(*parameters(raw))
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
        dim, hidden = current[DIM], current[HIDDEN]
        codes = list(attrs or (0,))
        i = 0
        while i < len(codes):
            code = codes[i]
            i += 1
            if code in (38, 48, 58) and i < len(codes):  # 5;n or 2;r;g;b: colour arguments
                i += 2 if codes[i] == 5 else 4 if codes[i] == 2 else 0
            elif code == 0:
                dim = hidden = False
            elif code in (2, 22):
                dim = code == 2
            elif code in (8, 28):
                hidden = code == 8
        cursor: Any = self.cursor  # pyte's SGR works on a Char, with no dim or hidden
        cursor.attrs = Char(" ", *current[:8])  # the PYTE_FIELDS
        super().select_graphic_rendition(*attrs)
        made: Attrs = (*cursor.attrs[1:], dim, hidden)
        if len(self._interned) > 4096:
            self._interned = {BLANK: BLANK}
            self._sgr_memo.clear()
        self.cursor.attrs = self._interned.setdefault(made, made)

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
        self.buffer.insert(bottom, self._fresh())
        if self._main is None:  # as in tmux, a scroll region's top line goes to the history too
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
        self.buffer.insert(top, self._fresh())
        self._all_dirty()

    def _line_span(self, count: int | None) -> tuple[int, int, int] | None:
        """(cursor row, rows to move, bottom margin) for IL and DL."""
        top, bottom = self.margins or Margins(0, self.lines - 1)
        y = self.cursor.y
        if not top <= y <= bottom:
            bottom = self.lines - 1  # outside the region: the rest of the screen moves, as in tmux
        self.dirty.update(range(y, self.lines))  # the cursor stays where it is, as in tmux (xterm goes to column 1)
        return y, min(count or 1, bottom - y + 1), bottom

    def insert_lines(self, count: int | None = None) -> None:
        if span := self._line_span(count):
            y, n, bottom = span
            del self.buffer[bottom - n + 1 : bottom + 1]
            self.buffer[y:y] = [self._fresh() for _ in range(n)]

    def delete_lines(self, count: int | None = None) -> None:
        if span := self._line_span(count):
            y, n, bottom = span
            del self.buffer[y : y + n]
            self.buffer[bottom - n + 1 : bottom - n + 1] = [self._fresh() for _ in range(n)]

    # -- characters ------------------------------------------------------------------

    def insert_characters(self, count: int | None = None) -> None:
        count = count or 1
        y, x = self.cursor.y, min(self.cursor.x, self.columns)
        self.dirty.add(y)
        line = self.buffer[y]
        erased = self._erased()
        if line.chars is None and x >= line.width and erased is BLANK:
            return  # only blanks move
        chars, attrs = line.cells(self.columns)
        chars[x:x] = " " * count
        attrs[x:x] = [erased] * count
        del chars[self.columns :], attrs[self.columns :]

    def delete_characters(self, count: int | None = None) -> None:
        count = count or 1
        y, x = self.cursor.y, self.cursor.x
        self.dirty.add(y)
        line = self.buffer[y]
        erased = self._erased()
        if line.chars is None and x >= line.width and erased is BLANK:
            return
        chars, attrs = line.cells(self.columns)
        del chars[self.columns :], attrs[self.columns :]
        del chars[x : x + count], attrs[x : x + count]
        gone = self.columns - len(chars)
        chars += " " * gone  # blanks in from the right, with the background (as tmux)
        attrs += [erased] * gone

    def erase_characters(self, count: int | None = None) -> None:
        count = count or 1
        y, x = self.cursor.y, self.cursor.x
        self.dirty.add(y)
        end = min(x + count, self.columns)
        if end > x:
            chars, attrs = self.buffer[y].cells(self.columns)
            chars[x:end] = " " * (end - x)
            attrs[x:end] = [self._erased()] * (end - x)

    def _erased(self, attrs: Attrs | None = None) -> Attrs:
        """What an erase (or a line scrolled in) leaves in a cell: the background of ``attrs``
        (the cursor's) only, the rest default (BCE, as tmux and xterm)."""
        bg = (attrs or self.cursor.attrs)[BG]
        if bg == "default":
            return BLANK
        made: Attrs = ("default", bg, *BLANK[2:])  # type: ignore[assignment]
        return self._interned.setdefault(made, made)

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
        a = self._erased()
        if end == columns and a is BLANK:
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
        if how == 3:  # the scrollback only, as in tmux and xterm
            self.history.clear()
            return
        if self._main is None and (how == 2 or (how == 0 and y == 0 and self.cursor.x == 0)):
            # tmux's scroll-on-clear: clearing the whole screen keeps its rows in the scrollback.
            used = max((i + 1 for i, row in enumerate(self.buffer) if not row.blank), default=0)
            if used:
                self._to_history(self.buffer, used)
                self.buffer.extend(Line() for _ in range(used))
                self._all_dirty()
        if how == 0:
            rows = range(y + 1, self.lines)
        elif how == 1:
            rows = range(y)
        elif how == 2:
            rows = range(self.lines)
        else:
            return
        a = self._erased()
        columns = self.columns
        blank = a is BLANK
        buffer, dirty = self.buffer, self.dirty
        for row in rows:
            if not (blank and buffer[row].blank):  # a blank row erased is the same row: no repaint
                dirty.add(row)
            buffer[row] = Line() if blank else Line(((" " * columns, a),), columns)
        if how in (0, 1):
            self.erase_in_line(how)

    def alignment_display(self) -> None:
        """DECALN: the screen full of E, no margins, the cursor home (as in tmux)."""
        self._all_dirty()
        self.buffer[:] = [Line((("E" * self.columns, BLANK),), self.columns) for _ in range(self.lines)]
        self.margins = None
        self.cursor.x = self.cursor.y = 0

    # -- sequences pyte lacks (from tmux's input.c table) ------------------------------------

    def cursor_up(self, count: int | None = None) -> None:
        """CUU: stops at the top margin, or at the top of the screen when above the region (tmux)."""
        top, _ = self.margins or Margins(0, self.lines - 1)
        limit = top if self.cursor.y >= top else 0
        self.cursor.y = max(self.cursor.y - (count or 1), limit)

    def cursor_down(self, count: int | None = None) -> None:
        """CUD: stops at the bottom margin, or at the bottom of the screen when below the region (tmux)."""
        _, bottom = self.margins or Margins(0, self.lines - 1)
        limit = bottom if self.cursor.y <= bottom else self.lines - 1
        self.cursor.y = min(self.cursor.y + (count or 1), limit)

    def set_margins(self, top: int | None = None, bottom: int | None = None, **kwargs: Any) -> None:
        """DECSTBM; with no region (``CSI r``) the margins go and the cursor goes home, as in tmux."""
        if kwargs.get("private"):
            return
        if (top is None or top == 0) and bottom is None:
            self.margins = None
            self.cursor_position()
            return
        super().set_margins(top, bottom)

    @property
    def cursor_column(self) -> int:
        """The cursor's column as a terminal reports it.

        After the last column is written with autowrap, ``cursor.x`` is the width: a wrap
        pending, which tmux reports too, even once autowrap is turned off. Without autowrap a
        write leaves the cursor on the last column.
        """
        return self.cursor.x

    def set_newline_mode(self, on: bool) -> None:
        """LNM: a LF is also a CR (for a log written to a file, whose lines end in a bare LF)."""
        if on:
            self.mode.add(mo.LNM)
        else:
            self.mode.discard(mo.LNM)

    def next_line(self) -> None:
        """NEL (``ESC E``): to the start of the next line, scrolling at the bottom."""
        self.carriage_return()
        self.index()

    def scroll_up(self, count: int | None = None, *, private: bool = False) -> None:
        """SU (``CSI n S``): the scroll region moves up ``n`` lines, as if the cursor were at its bottom."""
        if private:  # CSI ? ... S is XTSMGRAPHICS, a query about sixel graphics: not supported
            return
        top, bottom = self.margins or Margins(0, self.lines - 1)
        saved = self.cursor.y
        for _ in range(min(count or 1, bottom - top + 1)):
            self.cursor.y = bottom
            self.index()
        self.cursor.y = saved
        self._all_dirty()

    def scroll_down(self, count: int | None = None, *, private: bool = False) -> None:
        """SD (``CSI n T``): the scroll region moves down ``n`` lines (blank ones come in at its top)."""
        if private:
            return
        top, bottom = self.margins or Margins(0, self.lines - 1)
        n = min(count or 1, bottom - top + 1)
        del self.buffer[bottom - n + 1 : bottom + 1]
        self.buffer[top:top] = [self._fresh() for _ in range(n)]
        self._all_dirty()

    def save_cursor(self) -> None:
        """DECSC and SCOSC: one saved cursor, as in tmux and xterm (pyte keeps a stack)."""
        self.savepoints.clear()
        super().save_cursor()

    def restore_cursor(self) -> None:
        """DECRC and SCORC: back to the saved cursor, which stays saved (restoring twice works)."""
        if self.savepoints:
            saved = self.savepoints[-1]
            x, y = saved.cursor.x, saved.cursor.y  # (pyte moves the saved cursor itself into the margins)
            attrs: Attrs = saved.cursor.attrs  # type: ignore[assignment]  # ours: an AttrsCursor was saved
            super().restore_cursor()
            self.savepoints.append(saved._replace(cursor=AttrsCursor(x, y, attrs)))
            self.cursor = AttrsCursor(x, y, attrs)
            self.ensure_hbounds()
            self.ensure_vbounds()  # where it was, margins or not (pyte moves it into them)
        else:
            super().restore_cursor()
            self.cursor.attrs = BLANK  # nothing saved: home, and the attributes reset (tmux, xterm)

    def save_cursor_ansi(self, *params: int, private: bool = False) -> None:
        """``CSI s`` (SCOSC); ``CSI ? ... s`` saves private modes in xterm, which tmux ignores too."""
        if not private:
            self.save_cursor()

    def restore_cursor_ansi(self, *params: int, private: bool = False) -> None:
        """``CSI u`` (SCORC)."""
        if not private:
            self.restore_cursor()

    def repeat_character(self, count: int | None = None, *, private: bool = False) -> None:
        """REP (``CSI n b``): the last graphic character, ``n`` more times, up to the end of the
        line (as tmux: a REP never wraps, and does nothing with a wrap pending)."""
        n = min(count or 1, self.columns - self.cursor.x)
        if not private and self.last_char and n > 0:
            self.draw(self.last_char * n)

    def backspace(self) -> None:
        """BS; at the first column of a row that autowrap continued, to the last column of the row
        above, as tmux does."""
        cursor = self.cursor
        if cursor.x == 0 and cursor.y > 0 and self.buffer[cursor.y - 1].wrapped:
            cursor.y -= 1
            cursor.x = self.columns - 1
        else:
            self.cursor_back()

    def cursor_back(self, count: int | None = None) -> None:
        """CUB and BS: ``count`` columns left, at most to the first. With a wrap pending (the
        cursor just past the last column) that is counted from the width, as in tmux: one back
        is the last column itself, where xterm and pyte go one further."""
        x = self.cursor.x
        self.cursor.x = x - min(count or 1, x)

    def tab(self) -> None:
        """HT: on a wrap pending at the end of the line (or in the last column), the cursor stays, as in tmux."""
        if self.cursor.x < self.columns - 1:
            super().tab()

    def tab_backward(self, count: int | None = None, *, private: bool = False) -> None:
        """CBT (``CSI n Z``): ``n`` tab stops back (column 0 at the most)."""
        if private:
            return
        x = min(self.cursor.x, self.columns - 1)
        for _ in range(min(count or 1, self.columns)):
            x = max((t for t in self.tabstops if t < x), default=0)
        self.cursor.x = x

    # -- answers to the guest's queries --------------------------------------------------------

    def write_process_input(self, data: str) -> None:
        self.replies.append(data)

    def report_device_attributes(self, mode: int = 0, **kwargs: bool) -> None:
        """DA (``CSI c``): what tmux answers, a VT100 with advanced video."""
        if mode == 0 and not kwargs.get("private"):
            self.replies.append("\x1b[?1;2c")

    def report_secondary_attributes(self, mode: int = 0) -> None:
        """DA2 (``CSI > c``): tmux answers that it is a VT220-class terminal, ``84;0;0``."""
        if mode == 0:
            self.replies.append("\x1b[>84;0;0c")

    def report_device_status(self, mode: int = 0, **kwargs: bool) -> None:
        """DSR: 5 (status, ``CSI 0 n``) and 6 (the cursor, ``CSI row ; column R``)."""
        if kwargs.get("private"):
            return
        if mode == 5:
            self.replies.append("\x1b[0n")
        elif mode == 6:
            x = min(self.cursor.x, self.columns - 1) + 1  # (a wrap pending reports the last column)
            y = self.cursor.y + 1
            if mo.DECOM in self.mode and self.margins is not None:
                y -= self.margins.top
            self.replies.append(f"\x1b[{y};{x}R")

    def window_op(self, *params: int, private: bool = False) -> None:
        """XTWINOPS (``CSI n t``): 18, the text area's size, is answered; the rest are ignored, as in tmux."""
        if not private and params and params[0] == 18:
            self.replies.append(f"\x1b[8;{self.lines};{self.columns}t")

    def take_replies(self) -> str:
        """The answers not yet sent, once."""
        out = "".join(self.replies)
        self.replies.clear()
        return out

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
            elif 1049 in modes and self._alt_cursor is not None:
                # Out of the alternate screen already: the cursor saved by the last ?1049h is
                # restored all the same, as in tmux (dialog does this on its way out).
                self.cursor.x, self.cursor.y, self.cursor.attrs = self._alt_cursor
                self.ensure_hbounds()
                self.ensure_vbounds()
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
        if cursor is not None:
            self._alt_cursor = cursor
        if restore_cursor and cursor is not None:
            self.cursor.x, self.cursor.y, self.cursor.attrs = cursor
            self.ensure_hbounds()
            self.ensure_vbounds()
        self._all_dirty()

    def reset(self) -> None:
        self._main = None  # RIS: back to the main screen, cleared; the scrollback stays
        super().reset()
        self.buffer = self._blank_rows()
        self.cursor = AttrsCursor(self.cursor.x, self.cursor.y)

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
        # Narrower: rows keep their cells past the new edge (they are cropped when read), so
        # going back to a wider pane shows them whole again; nothing a guest printed is lost.
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
