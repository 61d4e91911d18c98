"""What leans on Textual's private internals, checked against the Textual versions in ``TEXTUAL_CHECKED``.

Everything here makes a typed key's echo quicker (or a flood's paint cheaper) by reaching
past Textual's public API: its private modules (``textual._compositor``, ``_parser``,
``_time``, ``_xterm_parser``, ``drivers._writer_thread``) and the private attributes of its
app, screens and widgets. Nothing else in umltui may do that: an import contract in
``pyproject.toml`` keeps ``textual._*`` imports in here, and ``tests/unit/test_fastpath.py``
keeps private attribute access in here too, and fails when the installed Textual is
outside ``TEXTUAL_CHECKED``.

Outside that range (or with ``UMLTUI_FASTPATH=off``) :func:`active` is False and the app
takes Textual's public paths instead: no cropped compositor, Textual's own driver, no echo
painted past the screen's update, every key through the app's queue. Echoes are slower by
a millisecond or so, nothing else changes. ``UMLTUI_FASTPATH=on`` forces the fast paths on
with a Textual outside the range (to check a new release with the tests).

What a module here must not do: import from ``umltui`` anything above ``umltui.terminal``
(the widgets and the app import this package, not the other way round; see the layers
contract).
"""

from __future__ import annotations

import os
from importlib.metadata import PackageNotFoundError, version

TEXTUAL_CHECKED = ((8, 2, 8), (8, 3))
"""The Textual releases the fast paths were checked against: at least the first, below the
second (``pyproject.toml`` pins the same range: ``textual>=8.2.8,<8.3``)."""

SWITCH = "UMLTUI_FASTPATH"
"""``on`` or ``off`` overrides the version check (see the module's docstring)."""


def _release(text: str) -> tuple[int, ...]:
    """``8.2.8`` -> (8, 2, 8); a suffix (``8.3.0rc1``, ``8.2.9.dev0``) ends the numbers it is in."""
    numbers: list[int] = []
    for part in text.split("."):
        digits = ""
        for char in part:
            if not char.isdigit():
                break
            digits += char
        if not digits:
            break
        numbers.append(int(digits))
        if len(digits) != len(part):
            break
    return tuple(numbers)


def textual_version() -> str:
    """The installed Textual's version ("unknown" if its metadata is missing)."""
    try:
        return version("textual")
    except PackageNotFoundError:
        return "unknown"


def checked(release: str | None = None) -> bool:
    """Whether ``release`` (the installed Textual's, by default) is inside ``TEXTUAL_CHECKED``."""
    numbers = _release(textual_version() if release is None else release)
    low, high = TEXTUAL_CHECKED
    return bool(numbers) and low <= numbers < high


def checked_range() -> str:
    """``TEXTUAL_CHECKED`` as a requirement: ``>=8.2.8,<8.3``."""
    low, high = TEXTUAL_CHECKED
    return f">={'.'.join(map(str, low))},<{'.'.join(map(str, high))}"


def _decide() -> bool:
    switch = os.environ.get(SWITCH, "").strip().lower()
    if switch in ("on", "1", "yes"):
        return True
    if switch in ("off", "0", "no"):
        return False
    return checked()


_ACTIVE = _decide()


def active() -> bool:
    """Whether the fast paths are used (decided once, when this package is imported)."""
    return _ACTIVE


def warning() -> str | None:
    """What to tell the user when the fast paths are off because of the Textual installed; else None."""
    if _ACTIVE or os.environ.get(SWITCH, "").strip().lower() in ("off", "0", "no"):
        return None
    return (
        f"Textual {textual_version()} is outside the versions umltui's fast paths were checked against "
        f"({checked_range()}): using Textual's own paths (echoes a little slower). {SWITCH}=on forces them."
    )
