"""Keys become exactly the bytes xterm sends."""

from __future__ import annotations

import pytest

from umltui.terminal.keys import bracket_paste, encode_key

CASES = [
    ("enter", "\r", False, b"\r"),
    ("backspace", "\x7f", False, b"\x7f"),
    ("ctrl+h", None, False, b"\x08"),
    ("tab", "\t", False, b"\t"),
    ("shift+tab", None, False, b"\x1b[Z"),
    ("escape", "\x1b", False, b"\x1b"),
    ("up", None, False, b"\x1b[A"),
    ("down", None, False, b"\x1b[B"),
    ("right", None, False, b"\x1b[C"),
    ("left", None, False, b"\x1b[D"),
    ("up", None, True, b"\x1bOA"),
    ("left", None, True, b"\x1bOD"),
    ("home", None, False, b"\x1b[H"),
    ("end", None, False, b"\x1b[F"),
    ("home", None, True, b"\x1bOH"),
    ("ctrl+up", None, True, b"\x1b[1;5A"),
    ("shift+right", None, False, b"\x1b[1;2C"),
    ("alt+left", None, False, b"\x1b[1;3D"),
    ("ctrl+shift+end", None, False, b"\x1b[1;6F"),
    ("pageup", None, False, b"\x1b[5~"),
    ("pagedown", None, False, b"\x1b[6~"),
    ("insert", None, False, b"\x1b[2~"),
    ("delete", None, False, b"\x1b[3~"),
    ("ctrl+delete", None, False, b"\x1b[3;5~"),
    ("f1", None, False, b"\x1bOP"),
    ("f4", None, False, b"\x1bOS"),
    ("shift+f1", None, False, b"\x1b[1;2P"),
    ("f5", None, False, b"\x1b[15~"),
    ("f10", None, False, b"\x1b[21~"),
    ("f11", None, False, b"\x1b[23~"),
    ("f12", None, False, b"\x1b[24~"),
    ("ctrl+f5", None, False, b"\x1b[15;5~"),
    ("shift+f12", None, False, b"\x1b[24;2~"),
    ("ctrl+c", None, False, b"\x03"),
    ("ctrl+p", None, False, b"\x10"),
    ("ctrl+a", None, False, b"\x01"),
    ("ctrl+z", None, False, b"\x1a"),
    ("ctrl+d", None, False, b"\x04"),
    ("ctrl+@", None, False, b"\x00"),
    ("ctrl+backslash", None, False, b"\x1c"),
    ("ctrl+right_square_bracket", None, False, b"\x1d"),
    ("ctrl+underscore", None, False, b"\x1f"),
    ("alt+x", "x", False, b"\x1bx"),
    ("alt+ctrl+c", None, False, b"\x1b\x03"),
    ("a", "a", False, b"a"),
    ("A", "A", False, b"A"),
    ("space", " ", False, b" "),
    ("exclamation_mark", "!", False, b"!"),
    ("eacute", "é", False, "é".encode()),
]


@pytest.mark.parametrize(("key", "character", "app_cursor", "expected"), CASES)
def test_key_bytes(key: str, character: str | None, app_cursor: bool, expected: bytes) -> None:
    assert encode_key(key, character, app_cursor=app_cursor) == expected


def test_paste_is_bracketed_only_when_asked() -> None:
    assert bracket_paste("ls\nps", False) == b"ls\rps"
    assert bracket_paste("ls\n", True) == b"\x1b[200~ls\r\x1b[201~"
    assert bracket_paste("x\x1b[201~y", True) == b"\x1b[200~xy\x1b[201~"
