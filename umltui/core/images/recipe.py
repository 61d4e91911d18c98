"""What an image is made of (suite, packages, size), checked, and the key it is cached under."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..lab import PACKAGE_RE, SUITE_RE, RootSpec
from .contents import guest_parts

RECIPE_VERSION = 7
DEFAULT_SUITE = "bookworm"
DEFAULT_SIZE = "2G"
# A network lab's tools, and systemd as init (what Netkit's and Kathará's images have).
DEFAULT_PACKAGES = (
    "systemd-sysv",
    "kmod",
    "iproute2",
    "ifupdown",
    "iputils-ping",
    "netbase",
    "tcpdump",
    "procps",
    "less",
    "nano",
    "vim-tiny",
)
MODULES_ROOT = Path("/usr/lib/uml/modules")
SIZE_RE = re.compile(r"(\d+)([MG])")
FALLBACK_MIRROR = "http://deb.debian.org/debian"


class ImageError(Exception):
    """An image that cannot be built, found or used; the message says why and what to do."""


@dataclass(frozen=True)
class Recipe:
    """What goes into an image: the key is a hash of this and the kernel modules' version."""

    suite: str = DEFAULT_SUITE
    packages: tuple[str, ...] = ()  # beyond DEFAULT_PACKAGES, sorted, no repeats
    size: str = DEFAULT_SIZE

    @classmethod
    def make(
        cls, suite: str | None = None, packages: list[str] | tuple[str, ...] = (), size: str | None = None
    ) -> Recipe:
        """A checked recipe.

        Raises:
            ImageError: a suite, package or size that is not well formed.
        """
        suite = suite or DEFAULT_SUITE
        if not SUITE_RE.fullmatch(suite):
            raise ImageError(f"{suite!r} is not a Debian suite name (bookworm, trixie, ...)")
        for p in packages:
            if not PACKAGE_RE.fullmatch(p):
                raise ImageError(f"{p!r} is not a Debian package name")
        size = (size or DEFAULT_SIZE).upper()
        m = SIZE_RE.fullmatch(size)
        if not m or size_bytes(size) < 512 << 20:
            raise ImageError(f"size {size!r}: give at least 512M, such as 2G")
        extra = tuple(sorted(set(packages) - set(DEFAULT_PACKAGES)))
        return cls(suite, extra, size)

    @classmethod
    def for_root(cls, root: RootSpec) -> Recipe:
        """The recipe a lab's ``root: debian`` (or ``{debian: SUITE, packages: [...]}``) asks for."""
        return cls.make(root.suite, root.packages)

    @property
    def all_packages(self) -> tuple[str, ...]:
        return (*DEFAULT_PACKAGES, *self.packages)

    def key(self, modules_version: str) -> str:
        """What identifies the image: this recipe, the modules, and every file umltui puts in.

        A change to any of umltui's guest files is a new key, so an image built by an older
        umltui is never taken for a current one.
        """
        text = json.dumps([RECIPE_VERSION, self.suite, self.packages, self.size, modules_version, guest_parts()])
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def default_name(self) -> str:
        return f"debian-{self.suite}" + ("+" + "+".join(self.packages) if self.packages else "")


def size_bytes(size: str) -> int:
    m = SIZE_RE.fullmatch(size.upper())
    if not m:
        raise ImageError(f"size {size!r}: such as 2G or 1536M")
    return int(m.group(1)) << (30 if m.group(2) == "G" else 20)


def modules_version() -> str:
    """The version of Debian's UML kernel modules (``/usr/lib/uml/modules/VERSION``).

    Raises:
        ImageError: none are installed.
    """
    versions = (
        sorted(p.name for p in MODULES_ROOT.glob("*") if (p / "modules.dep").exists()) if MODULES_ROOT.is_dir() else []
    )
    if not versions:
        raise ImageError(
            f"no UML kernel modules in {MODULES_ROOT}: "
            "install Debian's user-mode-linux (apt-get install user-mode-linux)"
        )
    return versions[-1]


def host_mirror(sources: Path = Path("/etc/apt")) -> str:
    """The Debian mirror the host's apt uses (``deb.debian.org`` if it names none).

    ``UMLTUI_DEBIAN_MIRROR`` overrides it.
    """
    if override := os.environ.get("UMLTUI_DEBIAN_MIRROR"):
        return override
    for text in _apt_sources(sources):
        if found := _deb822_mirror(text) or _one_line_mirror(text):
            return found
    return FALLBACK_MIRROR


def _apt_sources(sources: Path) -> list[str]:
    """The texts of apt's source lists, ``sources.list`` first; unreadable ones left out."""
    texts: list[str] = []
    for path in [sources / "sources.list", *sorted((sources / "sources.list.d").glob("*"))]:
        if path.suffix in (".list", ".sources") or path.name == "sources.list":
            with contextlib.suppress(OSError):
                texts.append(path.read_text())
    return texts


def _deb822_mirror(text: str) -> str | None:
    """deb822: "URIs: http://.../debian" in an enabled stanza whose Types has deb."""
    for stanza in re.split(r"\n\s*\n", text):
        if re.search(r"^Types:.*\bdeb\b", stanza, re.M) and not re.search(r"^Enabled:\s*no", stanza, re.M | re.I):
            uris = (u for line in re.findall(r"^URIs:\s*(.+)$", stanza, re.M) for u in line.split())
            if found := next((u for u in uris if _is_debian_archive(u)), None):
                return str(found).rstrip("/")
    return None


def _one_line_mirror(text: str) -> str | None:
    """The one-line format: "deb [options] URI SUITE ..."."""
    for m in re.finditer(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+\S+", text, re.M):
        if _is_debian_archive(m.group(1)):
            return str(m.group(1)).rstrip("/")
    return None


def _is_debian_archive(uri: str) -> bool:
    return uri.startswith(("http://", "https://", "file:/")) and uri.rstrip("/").endswith("/debian")
