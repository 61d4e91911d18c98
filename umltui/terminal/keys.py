"""Keys to the bytes xterm sends for them, so a guest's shell and full-screen programs
get what they expect. No Textual here: the widget hands over Textual's key name and
character; this module only encodes.
"""

from __future__ import annotations

import functools

# Modifier parameter of xterm's "CSI 1 ; m X" forms: 1 + shift + 2*alt + 4*ctrl.
_SHIFT, _ALT, _CTRL = 1, 2, 4

# Cursor keys and friends: (normal, application-mode) final characters.
_CURSOR = {"up": "A", "down": "B", "right": "C", "left": "D", "home": "H", "end": "F"}
# Keys sent as CSI n ~.
_TILDE = {
    "insert": 2,
    "delete": 3,
    "pageup": 5,
    "pagedown": 6,
    "page_up": 5,
    "page_down": 6,
    "f5": 15,
    "f6": 17,
    "f7": 18,
    "f8": 19,
    "f9": 20,
    "f10": 21,
    "f11": 23,
    "f12": 24,
}
# F1..F4 are SS3 P..S, or CSI 1 ; m P..S with modifiers.
_PF = {"f1": "P", "f2": "Q", "f3": "R", "f4": "S"}
_SIMPLE = {"enter": b"\r", "tab": b"\t", "escape": b"\x1b", "backspace": b"\x7f", "space": b" "}
# ctrl with a non-letter, named as Textual names them.
_CTRL_NAMED = {
    "@": b"\x00",
    "at": b"\x00",
    "space": b"\x00",
    "ctrl-at": b"\x00",
    "left_square_bracket": b"\x1b",
    "[": b"\x1b",
    "backslash": b"\x1c",
    "\\": b"\x1c",
    "right_square_bracket": b"\x1d",
    "]": b"\x1d",
    "circumflex_accent": b"\x1e",
    "^": b"\x1e",
    "underscore": b"\x1f",
    "_": b"\x1f",
    "minus": b"\x1f",
    "question_mark": b"\x7f",
    "?": b"\x7f",
}


@functools.lru_cache(maxsize=1024)  # (a pure function of its arguments: a typed key is looked up once)
def encode_key(key: str, character: str | None = None, *, app_cursor: bool = False) -> bytes | None:
    """The bytes xterm sends for a key, or ``None`` for a key that has none.

    Args:
        key: Textual's key name (``"ctrl+c"``, ``"shift+f5"``, ``"up"``, ``"a"``).
        character: the character the key typed, if any.
        app_cursor: the guest set DECCKM (``CSI ? 1 h``): cursor keys send ``SS3 X``.
    """
    parts = key.split("+")
    base = parts[-1]
    mods = set(parts[:-1])
    if base == "ctrl-at":  # Textual's odd name for ctrl+space
        mods.add("ctrl")
        base = "at"
    alt = "alt" in mods or "meta" in mods
    code = (_SHIFT if "shift" in mods else 0) + (_ALT if alt else 0) + (_CTRL if "ctrl" in mods else 0)

    if base in _CURSOR:
        final = _CURSOR[base]
        if code:
            return f"\x1b[1;{code + 1}{final}".encode()
        return f"\x1bO{final}".encode() if app_cursor else f"\x1b[{final}".encode()
    if base in _TILDE:
        n = _TILDE[base]
        return f"\x1b[{n};{code + 1}~".encode() if code else f"\x1b[{n}~".encode()
    if base in _PF:
        return f"\x1b[1;{code + 1}{_PF[base]}".encode() if code else f"\x1bO{_PF[base]}".encode()

    prefix = b"\x1b" if alt else b""
    if base == "tab" and "shift" in mods:
        return prefix + b"\x1b[Z"
    if "ctrl" in mods:
        if len(base) == 1 and base.isalpha():
            return prefix + bytes([ord(base.lower()) - 96])
        if base in _CTRL_NAMED:
            return prefix + _CTRL_NAMED[base]
        if base == "backspace":
            return prefix + b"\x08"
        if base in _SIMPLE:
            return prefix + _SIMPLE[base]
        return None
    if base in _SIMPLE:
        return prefix + _SIMPLE[base]
    if character and character.isprintable():
        return prefix + character.encode()
    if alt and len(base) == 1:
        return prefix + base.encode()
    if character:  # a control character Textual passed through as it is
        return prefix + character.encode()
    return None


def bracket_paste(text: str, bracketed: bool) -> bytes:
    """Pasted text as the guest should get it: newlines as CR, bracketed when it asked."""
    data = text.replace("\r\n", "\r").replace("\n", "\r").encode()
    if bracketed:
        data = data.replace(b"\x1b[201~", b"")  # a paste cannot end the bracket early
        return b"\x1b[200~" + data + b"\x1b[201~"
    return data
