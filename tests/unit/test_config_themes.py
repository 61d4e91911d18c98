"""Config and themes: good files load, bad ones are reported with the file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from umltui.config import load_config
from umltui.themes import load_theme, load_themes


def test_defaults_and_a_good_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("prefix: ctrl+a\ntheme: umltui-light\nscrollback: 500\nlayout: grid\nkeymap: {zoom: f}\n")
    config = load_config(path)
    assert (config.prefix, config.theme, config.scrollback, config.layout) == ("ctrl+a", "umltui-light", 500, "grid")
    assert config.keys["f"] == "zoom" and config.problems == []
    monkeypatch.setenv("UMLTUI_SCROLLBACK", "42")
    assert load_config(path).scrollback == 42


def test_bad_settings_are_named_and_defaults_kept(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("scrollbak: 5\nscrollback: -3\nlayout: spiral\nkeymap: {fly: x}\n")
    config = load_config(path)
    text = "\n".join(config.problems)
    assert f"{path}: scrollbak: unknown setting" in text
    assert "scrollback: a positive number" in text and "layout: tabs or grid" in text and "unknown action 'fly'" in text
    assert config.scrollback == 10_000 and config.layout == "tabs"
    path.write_text("[not, a, mapping]")
    assert "must be a mapping" in load_config(path).problems[0]


def test_bundled_themes_load_with_their_palettes() -> None:
    loaded = load_themes()
    assert {"umltui-dark", "umltui-light", "umltui-high-contrast"} <= set(loaded.themes)
    assert set(loaded.ansi) >= {"umltui-dark", "umltui-light"} and loaded.problems == []
    assert loaded.themes["umltui-light"].dark is False


def test_bad_theme_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("name: x\nprimary: '#zzzzzz'\n")
    with pytest.raises(ValueError, match="primary"):
        load_theme(path)
    path.write_text("name: x\nprimary: '#112233'\nansi: ['#000000']\n")
    with pytest.raises(ValueError, match="ansi"):
        load_theme(path)


def test_two_commands_on_one_key_are_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``{zoom: f, grid: f}`` made zoom unreachable; both keep their default keys, and it is said."""
    path = tmp_path / "c.yaml"
    path.write_text("keymap: {zoom: f, grid: f, help: h}\n")
    config = load_config(path)
    assert config.keymap["zoom"] == "z" and config.keymap["grid"] == "g" and config.keymap["help"] == "h"
    assert any("zoom and grid are both on 'f'" in p for p in config.problems), config.problems
    path.write_text("keymap: {zoom: g}\n")  # onto another command's default key
    config = load_config(path)
    assert config.keymap["zoom"] == "z" and config.keymap["grid"] == "g"
    assert any("zoom and grid" in p or "grid and zoom" in p for p in config.problems), config.problems
