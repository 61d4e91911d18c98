"""tmux is the reference: the same bytes go to the model and to a detached tmux pane of the same
size, and the text on screen, the scrollback, the cursor and every cell's attributes
(colours, bold, reverse, ...) must be the same.

Deliberate differences (documented in :mod:`umltui.terminal.screen`), kept out of the random
table and tested on their own below:

- an ASCII character written over the second half of a wide character: tmux 3.3's fast path
  for ASCII leaves the first half standing (its capture shows both); the model blanks it, as
  tmux's own path for other characters and xterm do.
- blank rows in the scrollback: when the whole screen is cleared, tmux moves it to the
  scrollback down to its last "used" row, and a row is used once any edit touched it (a
  delete on an empty row, say). The model counts rows with text. The scrollback is compared
  without its blank rows; the screen is compared row for row.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wcwidth import wcwidth

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tmux_oracle import Capture, Tmux, available  # noqa: E402

from umltui.terminal.attrs import Attrs  # noqa: E402
from umltui.terminal.model import Terminal  # noqa: E402

pytestmark = pytest.mark.skipif(not available(), reason="needs tmux")

COLUMNS, LINES = 20, 6

# Pieces from tmux's table of the sequences a guest can send (input.c), text and controls.
TABLE = [
    b"hello",
    b"x" * 25,
    b"wrap me " * 6,
    b"\r\n",
    b"\n",
    b"\r",
    b"\t",
    b"\x08",
    b"\x1b[1;31m",
    b"\x1b[0m",
    b"\x1b[2J",
    b"\x1b[H",
    b"\x1b[5;10H",
    b"\x1b[3;2f",
    b"\x1b[K",
    b"\x1b[1K",
    b"\x1b[2K",
    b"\x1b[J",
    b"\x1b[1J",
    b"\x1b[3J",
    b"\x1b[3L",
    b"\x1b[2M",
    b"\x1b[3P",
    b"\x1b[2@",
    b"\x1b[4X",
    b"\x1b[4h",
    b"\x1b[4l",
    b"\x1b[?7l",
    b"\x1b[?7h",
    b"\x1b[2;5r",
    b"\x1b[r",
    b"\x1b[3G",
    b"\x1b[4`",  # HPA
    b"\x1b[2d",  # VPA
    b"\x1b[2a",  # HPR
    b"\x1b[e",  # VPR
    b"\x1b[2A",
    b"\x1b[B",
    b"\x1b[9C",
    b"\x1b[3D",
    b"\x1b[2E",  # CNL
    b"\x1b[F",  # CPL
    b"\x1b[2S",  # SU
    b"\x1b[T",  # SD
    b"\x1b[s",  # SCOSC
    b"\x1b[u",  # SCORC
    b"\x1b7",  # DECSC
    b"\x1b8",  # DECRC
    b"\x1b[3b",  # REP
    b"\x1b[2I",  # CHT
    b"\x1b[Z",  # CBT
    b"\x1bH",  # HTS
    b"\x1b[g",  # TBC
    b"\x1b[3g",
    b"\x1bD",  # IND
    b"\x1bM",  # RI
    b"\x1bE",  # NEL
    b"\x1b#8",  # DECALN
    b"\x1b(0lqk\x1b(B",  # line drawing
    b"\xc3\xa9",
    b"\x1b[6n",  # queries: answered, nothing drawn
    b"\x1b[c",
    b"\x1b[>c",
    b"\x1b[18t",
    b"\x1b]0;title\x07",  # OSC
    b"ok\r\n" * 3,
    b"\x1b[32mgreen\x1b[0m line\r\n",
    b"\x1b[4;7m",  # underline, reverse
    b"\x1b[2;3;9m",  # dim, italic, strikethrough
    b"\x1b[5;8m",  # blink, hidden
    b"\x1b[22;23;24;27;29m",  # their resets
    b"\x1b[38;5;196m",
    b"\x1b[48;5;21m",
    b"\x1b[38;2;10;200;30m",
    b"\x1b[48;2;90;0;90m",
    b"\x1b[93;104m",  # bright colours
    b"\x1b[39;49m",
    b"\x1b[41m\x1b[K",  # an erase fills with the background (BCE)
    b"\x1b[42m\x1b[2J",
    b"\x1b[44m\x1b[3X",
    b"y" * 19 + b"\r\n",
    b"\r\x1b[K50%",
]


@pytest.fixture(scope="module")
def tmux() -> Iterator[Tmux]:
    server = Tmux()
    try:
        yield server
    finally:
        server.close()


def _text(rows: list[str]) -> list[str]:
    return [r for r in rows if r]


Cells = list[list[tuple[str, Attrs]]]


def cells_of(term: Terminal) -> Cells:
    s = term.screen
    out = []
    for line in s.buffer:
        chars, attrs = line.cells(s.columns)
        out.append(list(zip(chars[: s.columns], attrs[: s.columns], strict=True)))
    return out


def model(data: bytes, columns: int = COLUMNS, lines: int = LINES, split: int = 0) -> Capture:
    term = Terminal(columns, lines, history=1000)
    step = split or len(data) or 1
    for i in range(0, len(data), step):
        term.feed(data[i : i + step])
    s = term.screen
    return Capture(s.rows_text(), s.history_text(), (s.cursor_column, s.cursor.y), cells=cells_of(term))


def tmux_cells(styled: list[str], columns: int, lines: int) -> Cells:
    """tmux's screen with its attributes, as cells: its ``capture-pane -e -N`` rows, read back by
    the model's own SGR code (which the random tests check against tmux's text; colours are
    compared as the same parser makes them of tmux's words for them)."""
    term = Terminal(columns, lines, history=0)
    term.feed("\r\n".join(styled[:lines]).encode())
    return cells_of(term)


ESCAPE = re.compile(r"\x1b(\[[0-9;:?]*[A-Za-z]|[()][0-9A-Za-z])")


def written(row: str) -> int:
    """Columns a styled capture row covers: tmux's capture ends a row at its last written cell,
    so cells an erase cleared past it (with a background colour, say) cannot be compared."""
    return sum(max(0, wcwidth(ch)) for ch in ESCAPE.sub("", row))


def same_attributes(got: Capture, want: Capture, columns: int, lines: int, data: bytes = b"") -> None:
    assert want.styled is not None and got.cells is not None
    theirs, ours = tmux_cells(want.styled, columns, lines), got.cells
    widths = [written(row) for row in want.styled[:lines]] + [0] * lines
    diff = [
        f"row {y} col {x}: model {a!r}, tmux {b!r}"
        for y, (row_a, row_b) in enumerate(zip(ours, theirs, strict=True))
        for x, (a, b) in enumerate(zip(row_a, row_b, strict=True))
        if x < widths[y] and a != b
    ]
    assert not diff, f"{data!r}\n" + "\n".join(diff[:10])


def same(data: bytes, tmux: Tmux, columns: int = COLUMNS, lines: int = LINES) -> None:
    want = tmux.screen(data, columns, lines, styled=True)
    got = model(data, columns, lines)
    assert (got.rows, _text(got.history), got.cursor) == (want.rows, _text(want.history), want.cursor), data
    same_attributes(got, want, columns, lines, data)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(TABLE), max_size=30), st.integers(1, 7))
def test_random_sequences_match_tmux(tmux: Tmux, pieces: list[bytes], split: int) -> None:
    data = b"".join(pieces)
    want = tmux.screen(data, COLUMNS, LINES, styled=True)
    got = model(data, split=split)  # any split of the bytes, escape sequences cut included
    assert (got.rows, _text(got.history), got.cursor) == (want.rows, _text(want.history), want.cursor), data
    same_attributes(got, want, COLUMNS, LINES, data)


@pytest.mark.parametrize(
    "data",
    [
        "1234567890123456789\u4e2d".encode(),  # a wide character that does not fit: next line
        "\u4e2d\u6587\x1b[1GX".encode(),  # over the first half of a wide character
        "ab\u4e2d\x1b[3G\u6587".encode(),  # a wide character over a wide character
        b"\x1b[?7l" + b"z" * 30,  # no autowrap: the cursor stays on the last column
        b"\x1b[?7l" + b"x" * 25 + "\u4e2d".encode(),  # ... and a wide character that does not fit is dropped
        b"\x1b[?7l" + b"x" * 18 + "\u4e2d".encode() + b"y",
        b"h" * 80 + b"\x1b[?7l" + b"XY",  # a wrap pending when autowrap goes off: reported, characters dropped
        b"h" * 80 + b"\x1b[?7lX\x1b[?7hZ",
        b"1\r\n2\r\n3\r\n4\r\n5\r\n6\r\n7\x1b[2;4r\x1b[4;1H\n\n",  # a region's top line goes to history
        b"a" * 20 + b"\tb",  # a tab with a wrap pending leaves it pending
        b"ab\x1b7\x1b[3;3Hc\x1b8d\x1b8e",  # one saved cursor, restored twice
        b"\x1b[2;5r\x1b[s\x1b[u",  # restored where it was, above the region
        "\u00e9\x1b[3b".encode(),  # REP after a UTF-8 character repeats nothing
        b"\x1b[4h" + b"x" * 21 + b"\r\n12345\x1b[1;1H" + b"Z" * 21,  # insert mode across an autowrap
        b"x" * 25 + b"\x1bE\x1b[2d\x08",  # backspace up a row autowrap continued
        b"\x1b[4;7m\x1b[uhello",  # a restore with nothing saved resets the attributes
        b"hello\x1b[48;5;21m\x1b[3Lhello\x1b[2@\x1b[41m\x1b[K",  # lines, characters and erases: the background only
    ],
)
def test_edge_cases_match_tmux(tmux: Tmux, data: bytes) -> None:
    same(data, tmux)


WIDE, WIDE2 = "\u4e2d".encode(), "\u6587".encode()


@pytest.mark.parametrize(
    "data",
    [
        # One half of a wide character overwritten by what a program cut by bytes: tmux drops
        # the broken UTF-8 and blanks the other half; the model drew U+FFFD beside it.
        WIDE + WIDE2 + b"\x1b[1G" + WIDE[:1] + b"X",
        WIDE + WIDE2 + b"\x1b[1G" + WIDE[:2] + WIDE2,
        WIDE + WIDE2 + b"\x1b[2G" + WIDE[1:],  # continuation bytes alone
        b"ab" + WIDE[:1] + WIDE + b"cd",  # a lead byte where a continuation belongs: 3 bytes dropped
        b"ab\xc3\xc3\xa9cd\xff\xfe\xed\xa0\x80\xe0\x80\x80\xc2\x9b" + WIDE,  # invalid, surrogate, overlong, C1
        # Mixed sequences ending at the right margin: a wide character that does not fit
        # leaves the last column's character where it is (and the row continues below) ...
        b"a" * 20 + b"\x1b[1;20H" + WIDE,
        b"a" * 18 + WIDE + b"\x1b[1;20H" + WIDE2,
        b"\x1b[41m" + b"a" * 20 + b"\x1b[1;20H\x1b[42m" + WIDE,
        b"a" * 19 + WIDE + b"\r\x08Z",  # ... so a backspace goes back up to it
        # ... and with a wrap pending, BS and CUB count from the width: one back is the last column.
        b"x" * 20 + b"\x08Z",
        b"\x1b[20G\xc3\xa9\x1b[3DZ",
        b"a" * 20 + b"\x1b[?7l\x08Z",
        b"ab\x1b[30b",  # REP stops at the margin: it never wraps,
        b"a" * 20 + b"\x1b[b",  # and does nothing with a wrap pending
    ],
)
def test_held_out_wide_and_margin_cases_match_tmux(tmux: Tmux, data: bytes) -> None:
    same(data, tmux)
    for split in (1, 2, 3):  # a broken sequence cut by a read is the same
        assert model(data, split=split).rows == model(data).rows, split


RECORDINGS = sorted((Path(__file__).resolve().parents[1] / "fixtures" / "terminal").glob("*.bin"))


@pytest.mark.parametrize("recording", RECORDINGS, ids=[p.stem for p in RECORDINGS])
def test_recordings_of_full_screen_programs_match_tmux(tmux: Tmux, recording: Path) -> None:
    # vim with split windows and syntax colours, htop, nano, mc, dialog, procps top and less,
    # recorded on an 80x24 pty (tests/fixtures/terminal/record.py makes them again).
    data = recording.read_bytes()
    want = tmux.screen(data, 80, 24, styled=True)
    for split in (0, 7):  # whole, and cut into small reads
        got = model(data, 80, 24, split=split)
        diff = [f"{a!r}\n{b!r}" for a, b in zip(got.rows, want.rows, strict=True) if a != b]
        assert got.rows == want.rows, "\n".join(diff)
        assert (_text(got.history), got.cursor) == (_text(want.history), want.cursor)
        same_attributes(got, want, 80, 24)  # colours, bold, reverse ... cell by cell


def test_the_model_blanks_the_first_half_of_a_wide_character_written_over() -> None:
    # The deliberate difference: tmux 3.3 shows "中X文" here (see the module's docstring).
    assert model("\u4e2d\u6587\x1b[2GX".encode()).rows[0] == " X\u6587"


def test_queries_are_answered_in_order() -> None:
    term = Terminal(20, 6)
    term.feed(b"ab\x1b[6n\x1b[c\x1b[>c\x1b[5n\x1b[18t\x1b[?6n\x1b[2;3H\x1b[6n")
    assert term.screen.take_replies() == "\x1b[1;3R\x1b[?1;2c\x1b[>84;0;0c\x1b[0n\x1b[8;6;20t\x1b[2;3R"
    assert term.screen.take_replies() == ""
