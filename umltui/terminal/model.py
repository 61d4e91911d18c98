"""The terminal model: a console's bytes in, a screen and a scrollback out. No Textual here.

Built on pyte, whose ``Screen.draw`` makes one namedtuple per character, whose
``HistoryScreen`` re-renders on every scroll, and whose parser is a generator that takes
one ``send`` per control or escape byte. The fast paths keep pyte's behaviour (a
hypothesis test compares screens byte for byte):

- :class:`FastByteStream`: one regular expression finds runs of text, the common CSI
  sequences and ``CR``/``LF``, and calls the screen directly; anything rarer (OSC,
  charsets, sequences cut by a read) goes to pyte's own state machine, one character
  at a time until it is back at ground state.
- ``draw``: a run of printable ASCII (what guests mostly print) is written a line-slice
  at a time, each character taken from a cache of ready-made ``Char`` objects for the
  cursor's current attributes, instead of one ``_replace`` per character.
- ``select_graphic_rendition``: the attributes that follow from (attributes, SGR
  parameters) are remembered, so a colour change costs a dictionary look-up.
- ``index``: a line scrolled off the top of the whole screen goes into a bounded ring
  (``collections.deque``) as it is; nothing is copied or re-rendered.

On top of pyte: the alternate screen (``?1049``, ``?1047``, ``?47``), DECCKM, bracketed
paste and mouse modes recorded for the key encoder, the title, a bell counter, and
resize that keeps the lines it cuts in the scrollback.
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


def _flags(fg: str) -> str:
    """Dim (``d``) and hidden (``h``), which pyte's Char has no field for, ride on ``fg``."""
    return fg.partition("|")[2]


def _plain(fg: str) -> str:
    return fg.partition("|")[0]


def split_fg(fg: str) -> tuple[str, bool, bool]:
    """A cell's foreground colour, and whether it is dim and hidden."""
    colour, _, flags = fg.partition("|")
    return colour, "d" in flags, "h" in flags


def _drawable(char: str) -> bool:
    width = wcwidth(char)
    return width > 0 or (width == 0 and bool(unicodedata.combining(char)))


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
    """A pyte screen with a scrollback ring, the alternate screen and fast paths.

    Args:
        columns, lines: the size.
        history: how many lines the scrollback ring keeps.
    """

    def __init__(self, columns: int, lines: int, history: int = DEFAULT_HISTORY) -> None:
        self.history: deque[Any] = deque(maxlen=history)
        self._caches: dict[Char, _CharCache] = {}
        self._sgr: dict[tuple[Char, tuple[int, ...]], Char] = {}
        self._main: tuple[Any, Any] | None = None  # (buffer, saved cursor) while the alternate screen is on
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

    # -- fast paths -------------------------------------------------------------------

    def _cache(self, attrs: Char) -> _CharCache:
        cache = self._caches.get(attrs)
        if cache is None:
            if len(self._caches) > 512:  # many colour combinations: start afresh
                self._caches.clear()
            cache = self._caches[attrs] = _CharCache(attrs)
        return cache

    def draw(self, data: str) -> None:
        if not (data.isascii() and data.isprintable()) or mo.IRM in self.mode:
            # pyte stops at the first character that does not advance the cursor and drops
            # the rest of the run; we drop only that character.
            if not data.isprintable():
                data = "".join(c for c in data if _drawable(c))
            super().draw(data)
            return
        charset = self.g1_charset if self.charset else self.g0_charset
        if charset is not _LAT1:
            data = data.translate(charset)
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

    def erase_in_line(self, how: int = 0, private: bool = False) -> None:
        cursor = self.cursor
        self.dirty.add(cursor.y)
        if how == 0:
            interval = range(cursor.x, self.columns)
        elif how == 1:
            interval = range(cursor.x + 1)
        elif how == 2:
            interval = range(self.columns)
        else:
            return
        self.buffer[cursor.y].update(dict.fromkeys(interval, cursor.attrs))

    def select_graphic_rendition(self, *attrs: int, private: bool = False) -> None:
        if private:  # CSI ? ... m is not SGR; pyte ignores it too
            return
        key = (self.cursor.attrs, attrs)
        made = self._sgr.get(key)
        if made is None:
            flags = _flags(self.cursor.attrs.fg)
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
            self.cursor.attrs = self.cursor.attrs._replace(fg=_plain(self.cursor.attrs.fg))
            super().select_graphic_rendition(*attrs)
            if flags:
                self.cursor.attrs = self.cursor.attrs._replace(fg=f"{self.cursor.attrs.fg}|{flags}")
            if len(self._sgr) > 4096:
                self._sgr.clear()
            self._sgr[key] = self.cursor.attrs
        else:
            self.cursor.attrs = made

    def index(self) -> None:
        top, bottom = self.margins or Margins(0, self.lines - 1)
        if self.cursor.y != bottom:
            self.cursor_down()
            return
        buffer = self.buffer
        if top == 0 and self._main is None:
            self.history.append(buffer[0])
            self.scrolled += 1
        self.dirty.update(range(self.lines))
        for y in range(top, bottom):
            buffer[y] = buffer[y + 1]
        buffer.pop(bottom, None)

    # -- what pyte leaves out ----------------------------------------------------------

    def bell(self, *args: Any) -> None:
        self.bells += 1

    def set_mode(self, *modes: int, **kwargs: Any) -> None:
        if kwargs.get("private"):
            modes = tuple(m for m in modes if m != 3)  # DECCOLM would resize us to 132 columns: no
            shifted = {m << 5 for m in modes}
            if shifted & _ALT_MODES and self._main is None:
                self._enter_alternate(save_cursor=ALT_1049 in shifted)
        super().set_mode(*modes, **kwargs)

    def reset_mode(self, *modes: int, **kwargs: Any) -> None:
        if kwargs.get("private"):
            modes = tuple(m for m in modes if m != 3)
            shifted = {m << 5 for m in modes}
            if shifted & _ALT_MODES and self._main is not None:
                self._leave_alternate(restore_cursor=ALT_1049 in shifted)
        super().reset_mode(*modes, **kwargs)

    def _enter_alternate(self, *, save_cursor: bool) -> None:
        cursor = (self.cursor.x, self.cursor.y, self.cursor.attrs) if save_cursor else None
        self._main = (self.buffer, cursor)
        self.buffer = type(self.buffer)(lambda: pyte.screens.StaticDefaultDict(self.default_char))
        self.dirty.update(range(self.lines))

    def _leave_alternate(self, *, restore_cursor: bool) -> None:
        assert self._main is not None
        self.buffer, cursor = self._main
        self._main = None
        if restore_cursor and cursor is not None:
            self.cursor.x, self.cursor.y, self.cursor.attrs = cursor
            self.ensure_hbounds()
            self.ensure_vbounds()
        self.dirty.update(range(self.lines))

    def reset(self) -> None:
        self._main = None  # RIS: back to the main screen, which pyte clears
        super().reset()

    def resize(self, lines: int | None = None, columns: int | None = None) -> None:
        """Resize; rows cut from the top of the main screen go to the scrollback, as in xterm."""
        lines = lines or self.lines
        columns = columns or self.columns
        if lines < self.lines and self._main is None:
            # Rows above the cursor leave through the top; blank rows below it go first.
            cut = self.lines - lines
            blank_below = 0
            for y in range(self.lines - 1, self.cursor.y, -1):
                if any(ch.data != " " for ch in self.buffer[y].values()):
                    break
                blank_below += 1
            from_bottom = min(cut, blank_below)
            for y in range(self.lines - from_bottom, self.lines):
                self.buffer.pop(y, None)
            self.lines -= from_bottom
            cut -= from_bottom
            for y in range(cut):
                self.history.append(self.buffer[y])
                self.scrolled += 1
        if self._main is not None:
            main = self._main[0]
            if lines < self.lines:  # keep the main screen's bottom rows
                shift = self.lines - lines
                for y in range(shift):
                    self.history.append(main[y])
                rows = {y - shift: main[y] for y in range(shift, self.lines) if y in main}
                main.clear()
                main.update(rows)
        super().resize(lines, columns)

    # -- reading the screen ------------------------------------------------------------

    def history_text(self) -> list[str]:
        """The scrollback as plain text rows, oldest first."""
        return [self._row_text(line) for line in self.history]

    def _row_text(self, line: Any) -> str:
        return "".join(line[x].data for x in range(self.columns)).rstrip()

    def rows_text(self) -> list[str]:
        """The screen as plain text rows, trailing blanks removed."""
        return [self._row_text(self.buffer[y]) for y in range(self.lines)]


# Ground-state tokens, in the order they are tried. Text is what pyte draws: everything
# but ESC, the C1 CSI and OSC introducers, NUL, DEL and pyte's basic controls.
_SPECIAL = "\x1b\x9b\x9d\x00\x7f\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f"
_TOKEN = re.compile(
    "(?P<text>[^" + re.escape(_SPECIAL) + "]+)"
    r"|\x1b\[(?P<private>\??)(?P<params>[0-9;]*)(?P<final>[@-~])"
    "|(?P<crlf>\r\n)"
    "|(?P<ctrl>[\r\n\x08\x07\t])"
)


class FastByteStream(pyte.ByteStream):
    """pyte's ByteStream, with the common tokens dispatched without its per-byte parser."""

    def __init__(self, screen: TerminalScreen) -> None:
        super().__init__(screen)
        self._csi_methods = {final: getattr(screen, name) for final, name in self.csi.items()}
        self._params: dict[str, list[int]] = {}
        self._open_for = 0
        self._basic_methods = {char: getattr(screen, name) for char, name in self.basic.items()}

    def feed(self, data: bytes) -> None:  # type: ignore[override]
        text = self.utf8_decoder.decode(data) if self.use_utf8 else "".join(map(chr, data))
        screen = self.listener
        assert screen is not None
        draw = screen.draw
        crlf_cr, crlf_lf = screen.carriage_return, screen.linefeed
        csi = self._csi_methods
        basic = self._basic_methods
        param_cache = self._params
        debug = screen.debug
        send = self._send_to_parser
        match = _TOKEN.match
        length = len(text)
        offset = 0
        ground = self._taking_plain_text
        while offset < length:
            if ground:
                m = match(text, offset)
                if m is not None:
                    offset = m.end()
                    kind = m.lastgroup
                    if kind == "text":
                        draw(m.group("text"))
                    elif kind == "crlf":
                        crlf_cr()
                        crlf_lf()
                    elif kind == "ctrl":
                        basic[m.group("ctrl")]()
                    else:
                        method = csi.get(m.group("final"), debug)
                        raw = m.group("params")
                        params = param_cache.get(raw)
                        if params is None:
                            params = [min(int(p or 0), 9999) for p in raw.split(";")]
                            if len(param_cache) < 4096:
                                param_cache[raw] = params
                        try:
                            if m.group("private"):
                                method(*params, private=True)
                            else:
                                method(*params)
                        except (TypeError, ValueError, KeyError, IndexError):
                            pass  # a sequence the screen cannot take (e.g. CSI ? H): ignored, as xterm does
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
                ground = send(char)
            except (TypeError, ValueError, KeyError, IndexError):
                ground = True  # pyte gave up on the sequence and starts afresh; the rest of the chunk goes on
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
