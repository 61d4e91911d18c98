"""The parser: a console's bytes in, calls to the screen's operations out. No Textual here.

Three speeds, each handling less of the grammar than the next, all ending in the same
screen operations (:mod:`.screen`):

- **Whole lines.** Most console output is complete lines: printable ASCII, colour changes
  (SGR) and ``CR EL`` (a progress line redrawn in place), each ending ``CR LF``.
  :data:`LINES` finds a block of them with one regular expression, :func:`split_lines`
  takes each apart (this module is the only place that knows that grammar), and the
  screen draws them all in one :meth:`~.screen.TerminalScreen.put_lines`.
- **Common tokens.** Runs of text, the common CSI sequences and escapes go straight to
  the screen's methods (:data:`TOKEN`).
- **Everything else** (OSC, charsets, a sequence cut by a read) goes through pyte's own
  state machine, a character at a time, until it is back at ground state.

pyte's parser is driven through its internals (``_send_to_parser``,
``_taking_plain_text``, ``_initialize_parser``, its ``csi``/``escape``/``basic`` tables),
which is why ``pyproject.toml`` pins pyte to the release range this was tested with.
"""

from __future__ import annotations

import re
from typing import Any, Protocol, cast

import pyte

from .attrs import Attrs, AttrsCursor
from .utf8 import Utf8Decoder

MAX_SEQUENCE = 4096  # characters an escape sequence (an OSC title, say) may run to

SGR_SPLIT = re.compile(r"\x1b\[([0-9;]*)m")
LINES = re.compile(r"(?:(?:[ -~]++|\x1b\[[0-9;]*+m|\r\x1b\[0?K)*+\r\n)+")
"""A block of complete lines: printable ASCII, SGR and CR EL, each ending CR LF."""

# Ground-state tokens, in the order they are tried. Text is what pyte draws: everything
# but ESC, the C1 CSI and OSC introducers, NUL, DEL and pyte's basic controls.
_SPECIAL = "\x1b\x9b\x9d\x00\x7f\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f"
TOKEN = re.compile(
    "(?P<text>[^" + re.escape(_SPECIAL) + "]+)"
    r"|\x1b\[(?P<private>[?>]?)(?P<params>[0-9;]*)(?P<final>[@-~])"
    "|(?P<crlf>\r\n)"
    "|(?P<ctrl>[\r\n\x08\x07\t])"
    r"|\x1b(?P<esc>[78DEHMc])"
)

ParsedLine = tuple[list[str] | None, list[str]]
"""One line of a :data:`LINES` block, taken apart: ``(head, pieces)``.

``pieces`` alternate text and SGR parameter strings, starting and ending with text
(``["", "1;31", "red", "0", ""]``); a plain line is ``[text]``. ``head`` is None, or, when
the line redraws itself with ``CR EL``, the SGR parameters met before its last ``CR EL``
(only the colours survive of what came before it; ``pieces`` is what follows it).
"""


def parameters(raw: str) -> list[int]:
    """A CSI sequence's parameters (``1;31`` is ``[1, 31]``, an empty one is 0), capped as pyte caps them."""
    return [min(int(p or 0), 9999) for p in raw.split(";")]


def split_lines(block: str, columns: int) -> list[ParsedLine] | None:
    """Take a :data:`LINES` block apart into :data:`ParsedLine` rows.

    None when a line wraps before its ``CR EL``: the CR then goes back to the start of the
    last row it wrapped onto, not of the line, and only the screen's own operations know that.
    """
    out: list[ParsedLine] = []
    add = out.append
    for raw in block.split("\r\n")[:-1]:
        if "\x1b" not in raw:  # plain text (a CR comes only with an EL)
            add((None, [raw]))
            continue
        head = None
        if "\r" in raw:
            before, _, raw = raw.rpartition("\r\x1b[")
            if len(before) >= columns and any(len(SGR_SPLIT.sub("", s)) >= columns for s in before.split("\r")):
                return None
            raw = raw[1:] if raw[0] == "K" else raw[2:]
            head = SGR_SPLIT.findall(before)
        add((head, SGR_SPLIT.split(raw)))
    return out


# pyte's CSI table, less its HPA (on the wrong final, an apostrophe), plus the sequences of
# tmux's table (input.c) that pyte lacks. CHT (``CSI n I``) is not in tmux 3.3's table, and
# tmux ignores it: so does the model.
CSI_TABLE = {
    # HPR (a) and VPR (e) are not in tmux's table either: ignored.
    **{k: v for k, v in pyte.ByteStream.csi.items() if k not in ("'", "a", "e")},
    "`": "cursor_to_column",  # HPA
    "S": "scroll_up",  # SU
    "T": "scroll_down",  # SD
    "s": "save_cursor_ansi",  # SCOSC
    "u": "restore_cursor_ansi",  # SCORC
    "b": "repeat_character",  # REP
    "Z": "tab_backward",  # CBT
    "t": "window_op",  # XTWINOPS (18 only)
}


class LineScreen(Protocol):
    """What the parser drives beyond pyte's own screen methods: :class:`~.screen.TerminalScreen`
    (named here, not imported, so the screen may import the parser's line type)."""

    columns: int
    cursor: AttrsCursor
    last_char: str  # the last graphic character drawn, for REP

    @property
    def accepts_lines(self) -> bool: ...
    def draw(self, data: str) -> None: ...
    def carriage_return(self) -> None: ...
    def linefeed(self) -> None: ...
    def debug(self, *args: Any, **kwargs: Any) -> None: ...
    def put_lines(self, block: list[ParsedLine]) -> None: ...
    def sgr(self, attrs: Attrs, raw: str) -> Attrs: ...
    def report_secondary_attributes(self, mode: int = 0) -> None: ...


class FastByteStream(pyte.ByteStream):
    """pyte's ByteStream, with whole lines and the common tokens handled without its per-byte parser."""

    csi = CSI_TABLE
    escape = {**pyte.ByteStream.escape, "E": "next_line"}  # NEL is CR LF (pyte: LF alone)

    def __init__(self, screen: LineScreen) -> None:
        super().__init__(screen)
        self._csi_methods = {final: getattr(screen, name) for final, name in self.csi.items()}
        self._esc_methods = {char: getattr(screen, name) for char, name in self.escape.items()}
        self._params: dict[str, list[int]] = {}
        self._open_for = 0
        self._basic_methods = {char: getattr(screen, name) for char, name in self.basic.items()}
        self._gt_methods = {"c": screen.report_secondary_attributes}
        self.utf8_decoder = Utf8Decoder()  # type: ignore[assignment]  # bytes that are not UTF-8: dropped, as tmux does

    def feed(self, data: bytes) -> None:  # type: ignore[override]
        text = self.utf8_decoder.decode(data) if self.use_utf8 else "".join(map(chr, data))
        if len(text) == 1 and self._taking_plain_text and " " <= text <= "~":
            # One printable character at ground state: a typed key's echo, the commonest feed
            # of a console being typed into. What ``_feed_text`` would do with it, without
            # first setting up its twenty locals and the token match (cold after a wait, a
            # good part of an echo's parse).
            cast(LineScreen, self.listener).draw(text)
            return
        self._feed_text(text)

    def _feed_text(self, text: str) -> None:
        screen = cast(LineScreen, self.listener)
        draw = screen.draw
        crlf_cr, crlf_lf = screen.carriage_return, screen.linefeed
        csi = self._csi_methods
        gt = self._gt_methods
        basic = self._basic_methods
        escape = self._esc_methods
        param_cache = self._params
        debug = screen.debug
        send = self._send_to_parser
        match = TOKEN.match
        lines_at = LINES.match
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
                        if m is not None and screen.accepts_lines:
                            block = split_lines(m.group(), screen.columns)
                            if block is not None:
                                put_lines(block)
                                screen.last_char = ""
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
                        screen.last_char = ""  # REP repeats only what came just before it, as in tmux
                        try_lines = True
                    elif kind == "ctrl":
                        basic[m.group("ctrl")]()
                        screen.last_char = ""
                    elif kind == "esc":
                        escape[m.group("esc")]()
                        screen.last_char = ""
                        cursor = screen.cursor  # restore_cursor and reset replace it
                        try_lines = True  # a restored cursor is often back at column 0
                    else:
                        final = m.group("final")
                        raw = m.group("params")
                        private = m.group("private")
                        if final == "m" and not private:
                            cursor.attrs = sgr(cursor.attrs, raw)
                            screen.last_char = ""
                            continue
                        # CSI > ...: only DA2 (CSI > c) is answered; CSI > 4;2 m and the rest are ignored
                        method = csi.get(final, debug) if private != ">" else gt.get(final, debug)
                        params = param_cache.get(raw)
                        if params is None:
                            params = parameters(raw)
                            if len(param_cache) < 4096:
                                param_cache[raw] = params
                        try:
                            if private == "?":
                                method(*params, private=True)
                            else:
                                method(*params)
                        except (TypeError, ValueError, KeyError, IndexError):
                            pass  # a sequence the screen cannot take (e.g. CSI ? H): ignored, as xterm does
                        screen.last_char = ""
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
                if char not in "\x1b\x9b\x9d":  # a control at ground state
                    screen.last_char = ""
            was_ground = ground
            try:
                ground = bool(send(char))
            except (TypeError, ValueError, KeyError, IndexError):
                ground = True  # pyte gave up on the sequence and starts afresh; the rest of the chunk goes on
            if ground and not was_ground:  # a sequence ended
                screen.last_char = ""
            cursor = screen.cursor
            try_lines = ground
        self._taking_plain_text = ground
