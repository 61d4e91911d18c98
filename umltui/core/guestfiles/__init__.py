"""The files umltui puts into its guests (shell scripts, systemd units), kept as package data.

They are files, not Python strings, so their own linters read them (``make lint`` runs
``shellcheck`` over the ``*.sh`` and ``systemd-analyze verify`` over the units):
``busybox/`` for the busybox root (:mod:`..rootfs`), ``debian/`` for the image builder
(:mod:`..images`), ``agent.sh`` for both. A file's name here is not its path in a guest;
the modules that install them say where each goes.

A file may hold ``@NAME@`` placeholders, filled by :func:`render` with the values a caller
names; nothing else is substituted, and a placeholder left unfilled is an error. Nothing
here imports anything of umltui: every layer may read its guest files.
"""

from __future__ import annotations

import functools
import re
from importlib.resources import files

_PLACEHOLDER = re.compile(r"@([A-Z_]+)@")


@functools.cache
def text(name: str) -> str:
    """The file ``name`` (such as ``"debian/boot.sh"``) as it is shipped."""
    return files(__name__).joinpath(name).read_text(encoding="utf-8")


def render(name: str, **values: object) -> str:
    """The file ``name`` with each ``@KEY@`` replaced by ``values[KEY]``.

    Raises:
        KeyError: the file has a placeholder that ``values`` does not fill, or ``values``
            names one the file does not have (a typo on either side).
    """
    source = text(name)
    found = set(_PLACEHOLDER.findall(source))
    if found != set(values):
        raise KeyError(f"{name}: placeholders {sorted(found)}, values for {sorted(values)}")
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), source)


def names() -> list[str]:
    """Every guest file shipped (relative names), for the linters and the tests."""
    root = files(__name__)
    found: list[str] = []
    for folder in ("", "busybox", "debian"):
        node = root.joinpath(folder) if folder else root
        found += [
            f"{folder}/{p.name}".lstrip("/") for p in node.iterdir() if p.is_file() and not p.name.endswith(".py")
        ]
    return sorted(found)
