"""Every path umltui uses, in one place, from the XDG base directories.

Each directory can be moved by an environment variable (``UMLTUI_RUNTIME_DIR``,
``UMLTUI_STATE_DIR``, ``UMLTUI_CACHE_DIR``, ``UMLTUI_CONFIG_DIR``, ``UMLTUI_UML_DIR``), which
is how the tests give each run a private supervisor and private guests.
Nothing here creates a directory at import time.
"""

from __future__ import annotations

import os
from pathlib import Path


def _xdg(var: str, default: str) -> Path:
    value = os.environ.get(var)
    return Path(value) if value and os.path.isabs(value) else Path.home() / default


def runtime_dir() -> Path:
    """The supervisor's socket and the guests' notify sockets (mode 0700)."""
    if override := os.environ.get("UMLTUI_RUNTIME_DIR"):
        return Path(override)
    if xdg := os.environ.get("XDG_RUNTIME_DIR"):
        return Path(xdg) / "umltui"
    # Per-user fallback, short enough for AF_UNIX's 108-byte paths.
    return Path(f"/tmp/umltui-{os.getuid()}")


def state_dir() -> Path:
    """The supervisor's state (what it runs) and the guests' root folders."""
    if override := os.environ.get("UMLTUI_STATE_DIR"):
        return Path(override)
    return _xdg("XDG_STATE_HOME", ".local/state") / "umltui"


def cache_dir() -> Path:
    """The busybox root template, built once."""
    if override := os.environ.get("UMLTUI_CACHE_DIR"):
        return Path(override)
    return _xdg("XDG_CACHE_HOME", ".cache") / "umltui"


def config_dir() -> Path:
    if override := os.environ.get("UMLTUI_CONFIG_DIR"):
        return Path(override)
    return _xdg("XDG_CONFIG_HOME", ".config") / "umltui"


def uml_dir() -> Path:
    """Where the kernel keeps ``UMID/pid`` and ``UMID/mconsole`` (UML's own default is ~/.uml)."""
    if override := os.environ.get("UMLTUI_UML_DIR"):
        return Path(override)
    return Path.home() / ".uml"


def supervisor_socket() -> Path:
    return runtime_dir() / "supervisor.sock"


def supervisor_lock() -> Path:
    return runtime_dir() / "supervisor.lock"


def supervisor_log() -> Path:
    return state_dir() / "supervisor.log"


def state_file() -> Path:
    return state_dir() / "state.json"


def notify_dir() -> Path:
    return runtime_dir() / "notify"


def switch_dir() -> Path:
    return runtime_dir() / "switches"


def guest_dir(umid: str) -> Path:
    """A guest's own folder: root copy, console logs."""
    return state_dir() / "guests" / umid


def log_dir(umid: str) -> Path:
    return guest_dir(umid) / "logs"


def ensure_private(path: Path) -> Path:
    """Create ``path`` (and parents) with mode 0700 and return it."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def config_file() -> Path:
    """The user's config (YAML); ``UMLTUI_CONFIG`` names another one (tests use it)."""
    if override := os.environ.get("UMLTUI_CONFIG"):
        return Path(override)
    return config_dir() / "config.yaml"


def user_themes_dir() -> Path:
    return config_dir() / "themes"


def bundled_themes_dir() -> Path:
    """``themes/`` of the source tree, or its copy inside the installed package."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "themes", here.parent / "themes"):
        if candidate.is_dir():
            return candidate
    return here / "themes"
