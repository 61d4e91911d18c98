"""The terminal model's fast paths render exactly what stock pyte renders."""

from __future__ import annotations

import pyte
from hypothesis import given, settings
from hypothesis import strategies as st

from umltui.terminal.model import Terminal

PIECES = st.sampled_from([
    b"hello", b"x" * 50, b"wrap me " * 20, b"\r\n", b"\n", b"\r", b"\t", b"\x08", b"\x1b[1;31m", b"\x1b[0m",
    b"\x1b[38;5;208m", b"\x1b[7m", b"\x1b[2J", b"\x1b[H", b"\x1b[5;10H", b"\x1b[K", b"\x1b[3L", b"\x1b[2M",
    b"\x1b[4h", b"\x1b[4l", b"\x1b[?7l", b"\x1b[?7h", b"\x1b[2;5r", b"\x1b[r", b"\x1b(0lqk\x1b(B", b"\xc3\xa9",
    b"\xe4\xb8\xad", b"e\xcc\x81", b"\xe2", b"\x82\xac", b"\x1b7", b"\x1b8", b"\x1bD", b"\x1bM",
])


def render(screen: pyte.Screen) -> list[tuple[str, ...]]:
    return [tuple(repr(screen.buffer[y][x]) for x in range(screen.columns)) for y in range(screen.lines)]


@settings(max_examples=300, deadline=None)
@given(st.lists(PIECES, max_size=60), st.integers(1, 7))
def test_same_screen_as_pyte(pieces: list[bytes], split: int) -> None:
    data = b"".join(pieces)
    ref = pyte.Screen(20, 6)
    pyte.ByteStream(ref).feed(data)
    ours = Terminal(20, 6, history=100)
    for i in range(0, len(data), split):  # any split, UTF-8 sequences included
        ours.feed(data[i : i + split])
    assert render(ours.screen) == render(ref)
    assert (ours.screen.cursor.x, ours.screen.cursor.y) == (ref.cursor.x, ref.cursor.y)


def test_scrollback_ring_keeps_the_last_lines() -> None:
    term = Terminal(10, 3, history=5)
    term.feed(b"".join(b"line%d\r\n" % i for i in range(20)))
    assert term.screen.history_text() == ["line13", "line14", "line15", "line16", "line17"]
    assert term.screen.rows_text() == ["line18", "line19", ""]


def test_scroll_region_does_not_feed_history() -> None:
    term = Terminal(10, 4, history=5)
    term.feed(b"\x1b[2;3r\x1b[3;1H" + b"x\n" * 5)
    assert term.screen.history_text() == []
