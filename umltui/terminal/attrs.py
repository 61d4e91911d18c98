"""A cell's attributes: what SGR sets, as one shared plain tuple per distinct set.

Plain tuples, not a class or a namedtuple: the garbage collector stops following a tuple
that holds only strings, booleans and other such tuples, but follows a namedtuple, and
everything holding one, for ever. Ten thousand lines of scrollback would slow each of its
full sweeps by tens of milliseconds. So an :data:`Attrs` is read by index (the constants
below) in the hot paths, and through :class:`Cell` where speed does not matter.

The first eight fields are laid out as pyte's ``Char`` after its ``data``, so pyte's own
SGR code can be used; dim and hidden, which pyte has no field for, come last.
"""

from __future__ import annotations

from typing import NamedTuple

from pyte.screens import Cursor

Attrs = tuple[str, str, bool, bool, bool, bool, bool, bool, bool, bool]
"""``(fg, bg, bold, italics, underscore, strikethrough, reverse, blink, dim, hidden)``.

Colours are pyte's: ``default``, a name (``red``, ``brightblue``) or six hex digits.
"""

FG, BG, BOLD, ITALICS, UNDERSCORE, STRIKETHROUGH, REVERSE, BLINK, DIM, HIDDEN = range(10)
PYTE_FIELDS = 8  # fields shared with pyte's Char (after its data)

BLANK: Attrs = ("default", "default", False, False, False, False, False, False, False, False)
"""The attributes of an untouched cell (and of the cursor after a reset)."""


class Cell(NamedTuple):
    """One cell, for readers that want names (tests, the widget's style cache)."""

    data: str
    fg: str
    bg: str
    bold: bool
    italics: bool
    underscore: bool
    strikethrough: bool
    reverse: bool
    blink: bool
    dim: bool
    hidden: bool

    @classmethod
    def of(cls, data: str, attrs: Attrs) -> Cell:
        return cls(data, *attrs)

    @property
    def attrs(self) -> Attrs:
        return (self.fg, self.bg, self.bold, self.italics, self.underscore, self.strikethrough, self.reverse,
                self.blink, self.dim, self.hidden)  # fmt: skip


class AttrsCursor(Cursor):
    """pyte's cursor, carrying our :data:`~.attrs.Attrs` rather than a pyte ``Char``."""

    __slots__ = ()
    attrs: Attrs  # type: ignore[assignment]

    def __init__(self, x: int, y: int, attrs: Attrs = BLANK) -> None:
        super().__init__(x, y)
        self.attrs = attrs
