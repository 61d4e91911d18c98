"""The user's settings: a typed model loaded from YAML (``locations.config_file()``).

Every field can also be set by an environment variable ``UMLTUI_<FIELD>`` (upper case),
which wins over the file. A bad file is reported (file, field, why) and the defaults are
used for what it got wrong; the app still starts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from . import locations

# Actions reachable after the prefix key, and their default keys (tmux habits).
DEFAULT_KEYMAP: dict[str, str] = {
    "console(1)": "1",
    "console(2)": "2",
    "console(3)": "3",
    "console(4)": "4",
    "console(5)": "5",
    "console(6)": "6",
    "console(0)": "0",
    "next_guest": "n",
    "previous_guest": "p",
    "next_pane": "o",
    "zoom": "z",
    "grid": "g",
    "toggle_mconsole": "m",
    "network": "w",
    "scrollback": "left_square_bracket",
    "search": "slash",
    "broadcast": "b",
    "detach": "d",
    "palette": "colon",
    "help": "question_mark",
    "quit": "q",
    "tell_size": "s",
    "focus_guests": "l",
}


@dataclass
class Config:
    prefix: str = "ctrl+b"
    """The key that starts an app command (tmux's default); pressed twice it is sent to the guest."""
    theme: str = "umltui-dark"
    """A theme name: umltui-dark, umltui-light, umltui-high-contrast, a user theme, or any Textual theme."""
    scrollback: int = 10_000
    """Lines of scrollback per console pane."""
    layout: str = "tabs"
    """The centre's layout at start: ``tabs`` (one console) or ``grid``."""
    mconsole_panel: bool = True
    """Show the mconsole panel at start."""
    silence_seconds: float = 30.0
    """A console quiet this long after output is flagged silent."""
    keymap: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_KEYMAP))
    """Action to key after the prefix, e.g. ``{zoom: f}``."""
    problems: list[str] = field(default_factory=list)

    @property
    def keys(self) -> dict[str, str]:
        """Key after the prefix to action."""
        return {key: action for action, key in self.keymap.items()}


def load_config(path: Path | None = None) -> Config:
    path = path or locations.config_file()
    config = Config()
    data: Any = {}
    if path.exists():
        try:
            data = yaml.safe_load(path.read_text()) or {}
            if not isinstance(data, dict):
                raise ValueError("the file must be a mapping of settings")
        except (OSError, ValueError, yaml.YAMLError) as exc:
            config.problems.append(f"{path}: {exc}; using the defaults")
            data = {}
    names = {f.name: f for f in fields(Config) if f.name != "problems"}
    for key, value in data.items():
        if key not in names:
            config.problems.append(f"{path}: {key}: unknown setting (known: {', '.join(names)})")
            continue
        _set(config, key, value, f"{path}: {key}")
    for name in names:
        env = os.environ.get(f"UMLTUI_{name.upper()}")
        if env is not None and name != "keymap":
            _set(config, name, yaml.safe_load(env), f"UMLTUI_{name.upper()}")
    return config


def _set(config: Config, key: str, value: Any, where: str) -> None:
    default = getattr(Config(), key)
    if key == "keymap":
        if not isinstance(value, dict):
            config.problems.append(f"{where}: must be a mapping of action to key")
            return
        wanted = dict(config.keymap)
        for action, k in value.items():
            if action not in DEFAULT_KEYMAP:
                config.problems.append(f"{where}: unknown action {action!r}")
            elif not isinstance(k, str) or not k:
                config.problems.append(f"{where}.{action}: a key name, e.g. 'z' or 'f5'")
            else:
                wanted[action] = k
        # Two commands on one key: one of them could not be reached. Refuse the remapping of both.
        by_key: dict[str, list[str]] = {}
        for action, k in wanted.items():
            by_key.setdefault(k, []).append(action)
        for k, actions in by_key.items():
            if len(actions) > 1:
                config.problems.append(
                    f"{where}: {' and '.join(actions)} are both on {k!r}; keeping their default keys"
                )
                for action in actions:
                    wanted[action] = DEFAULT_KEYMAP[action]
        if len(set(wanted.values())) == len(wanted):
            config.keymap = wanted
        return
    if isinstance(default, bool) and not isinstance(value, bool):
        config.problems.append(f"{where}: true or false, not {value!r}")
    elif isinstance(default, int | float) and not isinstance(default, bool):
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            config.problems.append(f"{where}: a positive number, not {value!r}")
        else:
            setattr(config, key, type(default)(value))
    elif isinstance(default, str) and not isinstance(value, str):
        config.problems.append(f"{where}: a string, not {value!r}")
    elif key == "layout" and value not in ("tabs", "grid"):
        config.problems.append(f"{where}: tabs or grid, not {value!r}")
    else:
        setattr(config, key, value)
