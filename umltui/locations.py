"""Every path umltui uses, in one place, from the XDG base directories.

Each directory can be moved by an environment variable (``UMLTUI_RUNTIME_DIR``,
``UMLTUI_STATE_DIR``, ``UMLTUI_CACHE_DIR``, ``UMLTUI_CONFIG_DIR``, ``UMLTUI_UML_DIR``), which
is how the tests give each run a private supervisor and private guests.
Nothing here creates a directory at import time.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path


class UnsafeDirectory(Exception):
    """A directory umltui would keep private things in is not private to this user."""


def _xdg(var: str, default: str) -> Path:
    value = os.environ.get(var)
    return Path(value) if value and os.path.isabs(value) else Path.home() / default


def runtime_dir() -> Path:
    """The supervisor's socket and the guests' notify sockets (mode 0700)."""
    if override := os.environ.get("UMLTUI_RUNTIME_DIR"):
        return Path(override)
    if xdg := os.environ.get("XDG_RUNTIME_DIR"):
        return Path(xdg) / "umltui"
    # Per-user fallback, short enough for AF_UNIX's 108-byte paths (TMPDIR moves it, as for tmux).
    return Path(os.environ.get("TMPDIR") or "/tmp") / f"umltui-{os.getuid()}"


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
    """The guests' UML folders: one per guest (:func:`guest_box`), inside the runtime directory.

    Not UML's own default, ``~/.uml``: that one is shared by every umltui setup of the user
    (another ``XDG_RUNTIME_DIR`` under su, cron or ssh), whose supervisors would then find
    and drive each other's guests.
    """
    if override := os.environ.get("UMLTUI_UML_DIR"):
        return Path(override)
    return runtime_dir() / "uml"


def guest_box(umid: str) -> Path:
    """One guest's UML folder (the kernel's ``uml_dir``: ``UMID/pid``, ``UMID/mconsole``) and its
    notify socket: the only runtime files its sandbox holds, so no guest sees another's sockets.

    Named by a short digest of the umid, so that the mconsole socket's path stays within
    AF_UNIX's 108 bytes for every umid a lab allows.
    """
    return uml_dir() / hashlib.sha256(umid.encode()).hexdigest()[:10]


def supervisor_socket() -> Path:
    return runtime_dir() / "supervisor.sock"


def supervisor_lock() -> Path:
    return runtime_dir() / "supervisor.lock"


def supervisor_log() -> Path:
    return state_dir() / "supervisor.log"


def keeper_socket() -> Path:
    return runtime_dir() / "keeper.sock"


def keeper_lock() -> Path:
    return runtime_dir() / "keeper.lock"


def state_file() -> Path:
    return state_dir() / "state.json"


def switch_dir() -> Path:
    """The labs' switch sockets, a folder per lab (a guest's sandbox holds its own lab's)."""
    return runtime_dir() / "switches"


def holder_socket(umid: str) -> Path:
    """A guest's pty holder's socket (core/holder.py): outside its box, which its sandbox holds."""
    return runtime_dir() / "holders" / f"{guest_box(umid).name}.sock"


def guest_dir(umid: str) -> Path:
    """A guest's own folder: root copy, console logs."""
    return state_dir() / "guests" / umid


def check_private(path: Path) -> None:
    """Refuse ``path`` unless it is a directory (not a link) owned by us, closed to group and others.

    As tmux checks its socket directory: a directory another user made first (in ``/tmp``,
    say) could hold their socket or a link to a file of ours, so it is never used, and
    never chmod'ed into looking safe.

    Raises:
        UnsafeDirectory: with what is wrong and what to do.
    """
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        raise UnsafeDirectory(f"{path} is a symbolic link: refusing to use it (remove it, or set UMLTUI_RUNTIME_DIR)")
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeDirectory(f"{path} is not a directory: refusing to use it (remove it, or set UMLTUI_RUNTIME_DIR)")
    if st.st_uid != os.geteuid():
        raise UnsafeDirectory(
            f"{path} belongs to uid {st.st_uid}, not to you (uid {os.geteuid()}): refusing to use it "
            "(someone else made it; remove it, or set UMLTUI_RUNTIME_DIR)"
        )
    if st.st_mode & 0o077:
        raise UnsafeDirectory(
            f"{path} is open to other users (mode {stat.S_IMODE(st.st_mode):o}): refusing to use it "
            f"(chmod 700 {path} if it is yours and nothing in it is someone else's)"
        )


def ensure_private(path: Path) -> Path:
    """Create ``path`` with mode 0700 (its parents as usual), or accept it as it is only if private.

    Raises:
        UnsafeDirectory: it exists and is not private to us (see :func:`check_private`).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.mkdir(path, 0o700)
        os.chmod(path, 0o700)  # mkdir's mode is cut by the umask; this one is ours, just made
    except FileExistsError:
        pass
    check_private(path)
    return path


def private_dir(path: Path) -> Path:
    """A directory of ours under our own home or state (``mkdir -p``), made or kept at mode 0700.

    For directories in places only we can write to (the state directory, a guest's
    folder); the shared ``/tmp`` fallback goes through :func:`ensure_private` instead.
    """
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for p in reversed(missing):  # each one we make is 0700, whatever the umask
        try:
            os.mkdir(p, 0o700)
            os.chmod(p, 0o700)
        except FileExistsError:
            pass
    st = os.lstat(path)
    if stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and st.st_mode & 0o077:
        os.chmod(path, 0o700)  # one an older umltui made 0755
    return path


def open_private(path: Path, flags: int = os.O_WRONLY | os.O_APPEND | os.O_CREAT) -> int:
    """Open (creating) a file of ours at mode 0600 whatever the umask, in a 0700 directory; an fd.

    An existing file that was world-readable is made 0600. Links are not followed.
    """
    private_dir(path.parent)
    fd = os.open(path, flags | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    if stat.S_IMODE(os.fstat(fd).st_mode) != 0o600:
        os.fchmod(fd, 0o600)
    return fd


@contextlib.contextmanager
def exclusive(lock_file: Path) -> Iterator[None]:
    """One holder at a time across processes (``flock`` on ``lock_file``, made 0600 if missing)."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


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
