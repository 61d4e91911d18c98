"""The terminal model: its fast paths agree with its slow one (tmux is the reference: test_terminal_tmux.py)."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from umltui.terminal.model import Terminal

PIECES = st.sampled_from(
    [
        b"hello",
        b"x" * 50,
        b"wrap me " * 20,
        b"\r\n",
        b"\n",
        b"\r",
        b"\t",
        b"\x08",
        b"\x1b[1;31m",
        b"\x1b[0m",
        b"\x1b[38;5;208m",
        b"\x1b[7m",
        b"\x1b[2J",
        b"\x1b[H",
        b"\x1b[5;10H",
        b"\x1b[K",
        b"\x1b[3L",
        b"\x1b[2M",
        b"\x1b[4h",
        b"\x1b[4l",
        b"\x1b[?7l",
        b"\x1b[?7h",
        b"\x1b[2;5r",
        b"\x1b[r",
        b"\x1b(0lqk\x1b(B",
        b"\xc3\xa9",
        b"\xe4\xb8\xad",
        b"e\xcc\x81",
        b"\xe2",
        b"\x82\xac",
        b"\x1b7",
        b"\x1b8",
        b"\x1bD",
        b"\x1bM",
        b"\x1b[42m",
        b"\x1b[48;5;22m",
        b"\x1b[m",
        b"\x1b[1K",
        b"\x1b[2K",
        b"\x1b[J",
        b"\x1b[1J",
        b"\x1b[3P",
        b"\x1b[2@",
        b"\x1b[4X",
        b"\x1b[3G",
        b"\x1b[2A",
        b"\x1b[9C",
        b"\x1bE",
        b"\x1b#8",
        b"\x1bc",
        b"ok\r\n" * 3,
        b"\x1b[32mgreen\x1b[0m line\r\n",
        b"y" * 45 + b"\r\n",
        b"\r\x1b[K",
        b"\r\x1b[0K",
        b"\r\x1b[K\x1b[1mdone\x1b[0m\r\x1b[K50%\r\n",
    ]
)


def render(term: Terminal) -> list[list[tuple[Any, ...]]]:
    """Every cell, characters and attributes."""
    screen = term.screen
    return [[tuple(screen.buffer[y][x]) for x in range(screen.columns)] for y in range(screen.lines)]


@settings(max_examples=1000, deadline=None)
@given(st.lists(PIECES, max_size=60), st.integers(1, 7))
def test_any_split_gives_the_same_screen(pieces: list[bytes], split: int) -> None:
    # tmux is the reference for what the screen should be (test_terminal_tmux.py); here the
    # fast paths (whole lines, tokens) and pyte's state machine for cut sequences must agree.
    data = b"".join(pieces)
    whole = Terminal(20, 6, history=100)
    whole.feed(data)
    cut = Terminal(20, 6, history=100)
    for i in range(0, len(data), split):  # any split, UTF-8 sequences and escapes cut included
        cut.feed(data[i : i + split])
    assert render(cut) == render(whole)
    assert (cut.screen.cursor.x, cut.screen.cursor.y) == (whole.screen.cursor.x, whole.screen.cursor.y)
    assert cut.screen.history_text() == whole.screen.history_text()


def whole_and_byte_by_byte(data: bytes) -> tuple[Terminal, Terminal]:
    """Two 20x6 terminals: one fed ``data`` at once, the other a byte at a time."""
    whole = Terminal(20, 6, history=100)
    whole.feed(data)
    cut = Terminal(20, 6, history=100)
    for i in range(len(data)):
        cut.feed(data[i : i + 1])
    return whole, cut


def test_a_key_s_echo_one_byte_at_a_time_is_what_the_whole_chunk_gives() -> None:
    """A lone printable byte takes a shortcut past the token loop (an echo): it must end as
    the loop would, at ground state or in a sequence, in the line-drawing set, in insert
    mode, after half a UTF-8 character, and before a REP that repeats it."""
    data = (
        b"ab\x1b[4hXY\x1b[1;1Hz\x1b[4l\x1b(0qqx\x1b(Bq\x0eq\x0fq\xc3q\xa9k\x1b[3bm"
        b"\x1b[1;31mred\x1b[0m\x1b]0;title\x07t\x1b[?7l" + b"w" * 30 + b"\x1b[?7h" + b"v" * 30
    )
    whole, cut = whole_and_byte_by_byte(data)
    assert render(cut) == render(whole)
    assert (cut.screen.cursor.x, cut.screen.cursor.y) == (whole.screen.cursor.x, whole.screen.cursor.y)
    assert cut.screen.title == whole.screen.title == "title"


def test_a_line_cleared_by_cr_el_after_a_reset_scrolls_in_blank() -> None:
    """Whole lines (``put_lines``) scrolled in under a green background, the last one cleared
    by ``CR EL`` after a reset: its blank cells are the reset's, as byte by byte; the whole
    chunk used to fill them with the green it began under (found by the split test above)."""
    data = b"\x1b[42m" + b"ok\r\n" * 6 + b"\r\x1b[K\x1b[1mdone\x1b[0m\r\x1b[K50%\r\n"
    whole, cut = whole_and_byte_by_byte(data)
    assert render(whole) == render(cut)
    row = render(whole)[4]
    assert "".join(cell[0] for cell in row).rstrip() == "50%"
    assert {cell[2] for cell in row} == {"default"}


def test_scrollback_ring_keeps_the_last_lines() -> None:
    term = Terminal(10, 3, history=5)
    term.feed(b"".join(b"line%d\r\n" % i for i in range(20)))
    assert term.screen.history_text() == ["line13", "line14", "line15", "line16", "line17"]
    assert term.screen.rows_text() == ["line18", "line19", ""]


def test_scroll_region_feeds_history_as_tmux_does() -> None:
    term = Terminal(10, 4, history=5)
    term.feed(b"\x1b[2;3r\x1b[3;1H" + b"x\n" * 5)
    assert term.screen.history_text() == ["", "x", " x", "  x", "   x"]  # the region's top line, each time


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400), st.integers(1, 9))
def test_random_bytes_never_raise(data: bytes, split: int) -> None:
    term = Terminal(12, 5, history=50)
    for i in range(0, len(data), split):
        term.feed(data[i : i + split])
    term.feed(b"\x1b[0m\x18ok")  # CAN ends whatever sequence was open; the stream goes on
    assert "ok" in "".join(term.screen.rows_text())


def test_nasty_sequences_lose_nothing_after_them() -> None:
    term = Terminal(40, 4)
    term.feed(b"\x1b[?5H\x1b[999;999;999q\x1b]0;t\x07\x1b[38:2:1:2:3m\x1b(0\x1b(Bafter")
    assert term.screen.rows_text()[-1].endswith("after") or "after" in "".join(term.screen.rows_text())


def test_split_utf8_sequence() -> None:
    term = Terminal(10, 2)
    for b in "é中".encode():
        term.feed(bytes([b]))
    assert term.screen.rows_text()[0] == "é中"
    assert term.screen.buffer[0][2].data == ""  # the wide character's second column


def test_alternate_screen_leaves_no_debris() -> None:
    term = Terminal(20, 4, history=100)
    term.feed(b"$ vi f\r\n")
    term.feed(b'\x1b[?1049h\x1b[H\x1b[2J~\r\n~\r\n~\r\n"f" 0L' + b"\r\n" * 10)
    assert term.screen.alternate
    term.feed(b"\x1b[?1049l")
    assert not term.screen.alternate
    assert term.screen.rows_text() == ["$ vi f", "", "", ""]
    assert (term.screen.cursor.x, term.screen.cursor.y) == (0, 1)
    assert term.screen.history_text() == []  # the full-screen program's scrolling is not history
    term.feed(b"\x1b[?47hX\x1b[?47l")
    assert term.screen.rows_text()[1] == ""


def test_modes_title_and_bell_are_recorded() -> None:
    term = Terminal(20, 4)
    s = term.screen
    assert not (s.app_cursor_keys or s.bracketed_paste or s.mouse_tracking)
    term.feed(b"\x1b[?1h\x1b[?2004h\x1b[?1000h\x1b]2;my title\x07\x07\x07\x1b[?25l")
    assert s.app_cursor_keys and s.bracketed_paste and s.mouse_tracking
    assert s.title == "my title" and s.bells == 2 and s.cursor.hidden
    term.feed(b"\x1b[?1l\x1b[?2004l\x1b[?1000l\x1b[?25h\x1b]0;other\x1b\\")
    assert not (s.app_cursor_keys or s.bracketed_paste or s.mouse_tracking or s.cursor.hidden)
    assert s.title == "other"


def test_sgr_attributes() -> None:
    term = Terminal(40, 2)
    term.feed(b"\x1b[1;2;3;4;5;7;9ma\x1b[0m\x1b[38;5;208;48;2;1;2;3mb\x1b[0;8mc\x1b[28md\x1b[93me")
    row = term.screen.buffer[0]
    a = row[0]
    assert (a.bold, a.italics, a.underscore, a.blink, a.reverse, a.strikethrough) == (True,) * 6
    assert a.dim and a.fg == "default" and not row[1].dim
    assert (row[1].fg, row[1].bg) == ("ff8700", "010203")
    assert row[2].hidden and row[2].fg == "default" and not row[3].hidden
    assert row[4].fg == "brightbrown"


def test_resize_keeps_cut_rows_in_history() -> None:
    term = Terminal(10, 5, history=100)
    term.feed(b"1\r\n2\r\n3\r\n4\r\n5")
    term.resize(10, 3)
    assert term.screen.history_text() == ["1", "2"]
    assert term.screen.rows_text() == ["3", "4", "5"]
    term = Terminal(10, 5, history=100)
    term.feed(b"1\r\n2")  # blank rows below the cursor go first
    term.resize(10, 3)
    assert term.screen.history_text() == [] and term.screen.rows_text() == ["1", "2", ""]
    term.resize(12, 6)
    assert term.screen.rows_text()[:2] == ["1", "2"] and term.screen.columns == 12


def console_sample(lines: int, seed: int) -> bytes:
    """Coloured, wrapping, short, redrawn and cursor-moving lines, like the ingest benchmark's."""
    rng = random.Random(seed)
    out = bytearray()
    for n in range(lines):
        kind = rng.random()
        if kind < 0.4:
            out += b"[%5d] \x1b[1;3%dmINFO\x1b[0m %s\r\n" % (n, rng.randint(1, 7), b"word " * rng.randint(0, 9))
        elif kind < 0.55:
            out += b"long " * rng.randint(5, 30) + b"\r\n"
        elif kind < 0.7:
            out += b"\r\n" * rng.randint(1, 3)
        elif kind < 0.8:
            out += b"".join(b"\r\x1b[K\x1b[4%dm%d%%\x1b[0m" % (rng.randint(0, 7), p) for p in (0, 50, 100)) + b"\r\n"
        elif kind < 0.9:
            out += b"\x1b7\x1b[%d;%dH\x1b[7mstatus\x1b[0m\x1b8" % (rng.randint(1, 8), rng.randint(1, 30))
        else:
            out += b"\x1b[48;5;22mbg\x1b[K\x1b[0m\r\n" if rng.random() < 0.5 else b"x" * 40 + b"\r\n"
    return bytes(out)


@pytest.mark.parametrize("seed", range(5))
def test_whole_lines_fast_path_matches_the_token_path(seed: int) -> None:
    """Whole chunks take ``put_lines``; one byte at a time never does: both end alike."""
    data = console_sample(400, seed)
    fast, slow = Terminal(40, 8, history=300), Terminal(40, 8, history=300)
    for i in range(0, len(data), 4096):
        fast.feed(data[i : i + 4096])
    for i in range(len(data)):
        slow.feed(data[i : i + 1])
    assert render(fast) == render(slow)
    assert fast.screen.history_text() == slow.screen.history_text()
    assert [[repr(line[x]) for x in range(40)] for line in fast.screen.history] == [
        [repr(line[x]) for x in range(40)] for line in slow.screen.history
    ]
    assert fast.screen.scrolled == slow.screen.scrolled


def test_resize_on_the_alternate_screen_keeps_the_main_screen() -> None:
    term = Terminal(10, 5, history=100)
    term.feed(b"1\r\n2\r\n3\r\n4\r\n$ top")
    term.feed(b"\x1b[?1049h\x1b[H\x1b[2Jtop frame")
    term.resize(8, 3)
    assert term.screen.rows_text()[0] == ""  # the program's rows: it redraws them after SIGWINCH
    term.feed(b"\x1b[?1049l")
    assert term.screen.rows_text() == ["3", "4", "$ top"]
    assert term.screen.history_text() == ["1", "2"]
    assert (term.screen.cursor.x, term.screen.cursor.y) == (5, 2)


def test_reverse_video_is_a_flag_and_cells_keep_their_colours() -> None:
    term = Terminal(10, 2)
    term.feed(b"\x1b[31mred\x1b[?5h")
    assert term.screen.reverse_video and term.screen.buffer[0][0].fg == "red"
    assert not term.screen.buffer[0][0].reverse
    term.feed(b"\x1b[?5l")
    assert not term.screen.reverse_video


def test_narrowing_and_widening_again_loses_no_text() -> None:
    # The grid makes panes narrower and going back widens them: nothing is cut for good.
    term = Terminal(20, 4, history=10)
    term.feed(b"0123456789abcdefghij\r\n\x1b[31mred text that is long\x1b[0m\r\n")
    term.resize(8, 4)
    assert term.screen.rows_text()[:2] == ["01234567", "red text"]
    term.resize(20, 4)
    assert term.screen.rows_text()[:2] == ["0123456789abcdefghij", "red text that is lon"]


def test_newline_mode_turns_a_log_s_bare_line_feeds_into_lines() -> None:
    term = Terminal(20, 4)
    term.screen.set_newline_mode(True)  # the kernel log pane (con0): a file, not a tty
    term.feed(b"Linux version 6.1\nMemory: 42M\nRun /init\n")
    assert term.screen.rows_text()[:3] == ["Linux version 6.1", "Memory: 42M", "Run /init"]


def test_erasing_rows_that_are_blank_already_repaints_none_of_them() -> None:
    """Busybox's line editor answers a backspace with ``BS ESC[J``: one row changed, not the
    thirty blank ones below it (each a repaint of the whole pane's width)."""
    term = Terminal(80, 40)
    term.feed(b"prompt# ab\x1b[5;1Hfilled\x1b[1;11H")
    term.screen.dirty.clear()
    term.feed(b"\x08\x1b[J")
    assert term.screen.dirty == {0, 4}  # the cursor's row, and the one row below it with text
    assert term.screen.display[0].rstrip() == "prompt# a" and term.screen.display[4].strip() == ""
    term.screen.dirty.clear()
    term.feed(b"\x1b[31;42m\x1b[J")  # erased in a colour: every row below changes
    assert term.screen.dirty == set(range(40))
