"""Themes: YAML files (``themes/`` and the user's config folder) made into Textual themes.

A theme may carry ``ansi``: the 16 console colours, which the app sets as its ANSI theme
so guests' coloured output follows the theme. A theme that fails to load is reported once
and left out; the app falls back to the default.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from rich.color import Color
from rich.terminal_theme import TerminalTheme
from textual.theme import Theme

from . import locations

DEFAULT_THEME = "umltui-dark"
_FIELDS = (
    "primary",
    "secondary",
    "accent",
    "warning",
    "error",
    "success",
    "foreground",
    "background",
    "surface",
    "panel",
)


@dataclass
class LoadedThemes:
    themes: dict[str, Theme] = field(default_factory=dict)
    ansi: dict[str, TerminalTheme] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _hex(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{where}: a colour like '#12abef', not {value!r}")
    try:
        Color.parse(value)
    except Exception as exc:
        raise ValueError(f"{where}: {exc}") from None
    return value


def _rgb(colour: str) -> tuple[int, int, int]:
    c = Color.parse(colour).get_truecolor()
    return (c.red, c.green, c.blue)


def load_theme(path: Path) -> tuple[Theme, TerminalTheme | None]:
    """One theme file.

    Raises:
        ValueError: with the file and the field that is wrong.
    """
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise ValueError(f"{path}: a theme needs at least 'name' and 'primary'")
    if "primary" not in data:
        raise ValueError(f"{path}: primary: missing")
    unknown = set(data) - {"name", "dark", "ansi", "variables", *_FIELDS}
    if unknown:
        raise ValueError(f"{path}: {sorted(unknown)[0]}: unknown field")
    colours = {k: _hex(data[k], f"{path}: {k}") for k in _FIELDS if k in data}
    theme = Theme(
        name=data["name"],
        dark=bool(data.get("dark", True)),
        variables=data.get("variables") or {},
        **colours,  # type: ignore[arg-type]  # only colour fields, each a str (checked by _hex)
    )
    ansi = None
    if "ansi" in data:
        palette = data["ansi"]
        if not isinstance(palette, list) or len(palette) != 16:
            raise ValueError(f"{path}: ansi: a list of the 16 console colours")
        triplets = [_rgb(_hex(c, f"{path}: ansi[{i}]")) for i, c in enumerate(palette)]
        bg = _rgb(colours.get("background", "#000000"))
        fg = _rgb(colours.get("foreground", "#ffffff"))
        ansi = TerminalTheme(bg, fg, triplets[:8], triplets[8:])
    return theme, ansi


def load_themes() -> LoadedThemes:
    out = LoadedThemes()
    for folder in (locations.bundled_themes_dir(), locations.user_themes_dir()):
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.y*ml")):
            try:
                theme, ansi = load_theme(path)
            except ValueError as exc:
                out.problems.append(f"theme not loaded: {exc}")
                continue
            out.themes[theme.name] = theme
            if ansi is not None:
                out.ansi[theme.name] = ansi
    return out
