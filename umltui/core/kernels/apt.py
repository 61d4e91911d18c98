"""apt-get and apt-cache with a private configuration: their own sources, lists, cache and
(empty) status, so a suite other than the host's can be read and downloaded from without
touching the host's apt, and without the host's installed packages or pins in the way.

The mirror is the one the host's apt uses (:func:`umltui.core.images.host_mirror`); only
the ``Packages`` index of ``main`` is fetched. Every command has a timeout.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..process import end_group
from .errors import KernelFetchError

UPDATE_TIMEOUT = 300.0
SHOW_TIMEOUT = 60.0
DOWNLOAD_TIMEOUT = 1800.0
_SIZE_UNITS = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9}  # apt counts in powers of ten
_FETCHED = re.compile(r"^Fetched ([\d.,]+) ?([kMG]?)B\b", re.M)
_UNREACHABLE = re.compile(
    r"Could not resolve|Temporary failure resolving|Could not connect|Connection refused|Connection timed out|"
    r"Unable to connect|No route to host|Network is unreachable|Connection failed|Unable to fetch some archives"
)
_NO_SUITE = re.compile(r"does not have a Release file|404\s+Not Found")
_UNSIGNED = re.compile(r"NO_PUBKEY|signatures couldn't be verified|is not signed|EXPKEYSIG")


@dataclass(frozen=True)
class Package:
    """One package as the suite's index has it."""

    name: str
    version: str
    depends: str
    size: int


def fetched_bytes(output: str) -> int:
    """What apt says it fetched (``Fetched 9,876 kB in 2s``), summed over its runs in ``output``."""
    total = 0
    for number, unit in _FETCHED.findall(output):
        total += int(float(number.replace(",", "")) * _SIZE_UNITS[unit])
    return total


def parse_show(text: str) -> list[Package]:
    """The stanzas ``apt-cache show`` prints, as packages."""
    found = []
    for stanza in re.split(r"\n\s*\n", text):
        fields = dict(re.findall(r"^([A-Za-z-]+): ?(.*)$", stanza, re.M))
        if "Package" in fields and "Version" in fields:
            depends = ", ".join(d for d in (fields.get("Pre-Depends"), fields.get("Depends")) if d)
            found.append(Package(fields["Package"], fields["Version"], depends, int(fields.get("Size") or 0)))
    return found


def min_libc(depends: str) -> tuple[int, ...] | None:
    """The glibc a package needs at least, from its ``libc6 (>= 2.38)`` dependency."""
    m = re.search(r"\blibc6 \(>= ?(\d+(?:\.\d+)+)", depends)
    return tuple(int(p) for p in m.group(1).split(".")) if m else None


class PrivateApt:
    """apt for one suite of one mirror, its state in ``state`` (kept: a later update fetches only what changed)."""

    def __init__(self, state: Path, mirror: str, suite: str, arch: str) -> None:
        self.state = state
        self.mirror = mirror
        self.suite = suite
        self.arch = arch

    def _options(self) -> list[str]:
        s = self.state
        opts = {
            "Dir::Etc::sourcelist": s / "sources.list",
            "Dir::Etc::sourceparts": "-",
            "Dir::Etc::preferences": s / "preferences",
            "Dir::Etc::preferencesparts": "-",
            "Dir::State": s,
            "Dir::State::Lists": s / "lists",
            "Dir::State::status": s / "status",
            "Dir::Cache": s / "cache",
            "Acquire::Languages": "none",
        }
        if os.geteuid() == 0:
            # apt's download user (_apt) cannot enter a cache under root's home; apt would
            # fall back to root anyway, with a warning on every run
            opts["APT::Sandbox::User"] = "root"
        return [f"-o{k}={v}" for k, v in opts.items()]

    def _prepare(self) -> None:
        for d in (self.state / "lists" / "partial", self.state / "cache" / "archives" / "partial"):
            d.mkdir(parents=True, exist_ok=True)
        (self.state / "sources.list").write_text(f"deb [arch={self.arch}] {self.mirror} {self.suite} main\n")
        for empty in ("status", "preferences"):
            (self.state / empty).touch()

    def _run(self, argv: list[str], timeout: float, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                [argv[0], *self._options(), *argv[1:]],
                capture_output=True,
                text=True,
                errors="replace",
                timeout=timeout,
                stdin=subprocess.DEVNULL,
                cwd=cwd,
                env=_env(),
            )
        except subprocess.TimeoutExpired:
            raise KernelFetchError(
                f"{argv[0]} {argv[1]} took longer than {timeout:g} s (the mirror {self.mirror} may be slow "
                "or unreachable): try again, or name another mirror with --mirror"
            ) from None

    def update(self, timeout: float = UPDATE_TIMEOUT) -> int:
        """Read the suite's package index from the mirror; the bytes apt fetched.

        Raises:
            KernelFetchError: the mirror cannot be reached, has no such suite, or its
                index is signed by a key this host does not know.
        """
        self._prepare()
        out = self._run(["apt-get", "update"], timeout)
        text = out.stdout + out.stderr
        if _NO_SUITE.search(text):
            raise NoSuchSuite(f"the mirror {self.mirror} has no suite {self.suite}")
        if _UNSIGNED.search(text):
            raise KernelFetchError(
                f"the mirror's {self.suite} index is signed with a key this host's apt does not know: "
                "update Debian's debian-archive-keyring (apt-get install debian-archive-keyring)"
            )
        if _UNREACHABLE.search(text):
            raise KernelFetchError(f"cannot reach the Debian mirror {self.mirror}: {_reason(text)}" + _MIRROR_HINT)
        if out.returncode or re.search(r"^(Err:|E: )", text, re.M):
            raise KernelFetchError(f"apt-get update failed: {_reason(text)}")
        return fetched_bytes(text)

    def show(self, package: str) -> Package | None:
        """The suite's newest ``package``, or None if it has none."""
        out = self._run(["apt-cache", "show", "--no-all-versions", package], SHOW_TIMEOUT)
        found = [p for p in parse_show(out.stdout) if p.name == package] if out.returncode == 0 else []
        return found[0] if found else None

    def download(
        self, specs: list[str], into: Path, on_bytes: Callable[[int], None], timeout: float = DOWNLOAD_TIMEOUT
    ) -> list[Path]:
        """Download packages (``name=version`` or ``name``) into ``into``; the .deb files.

        ``on_bytes`` hears, a few times a second, how many bytes have arrived.

        Raises:
            KernelFetchError: the mirror cannot be reached or the download failed.
        """
        into.mkdir(parents=True, exist_ok=True)
        partial = self.state / "cache" / "archives" / "partial"
        proc = subprocess.Popen(
            ["apt-get", *self._options(), "download", *specs],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=into,
            env=_env(),
            text=True,
            errors="replace",
            start_new_session=True,  # apt's download workers are its children: stopped together
        )
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    output, _ = proc.communicate(timeout=0.25)
                    break
                except subprocess.TimeoutExpired:
                    if time.monotonic() > deadline:
                        raise KernelFetchError(
                            f"downloading {' '.join(specs)} took longer than {timeout:g} s: try again, "
                            "or name a faster mirror with --mirror"
                        ) from None
                    on_bytes(_bytes_in(into) + _bytes_in(partial))
        except BaseException:
            end_group(proc, 10)
            raise
        debs = sorted(into.glob("*.deb"))
        on_bytes(sum(p.stat().st_size for p in debs))
        if proc.returncode or not debs:
            if _UNREACHABLE.search(output):
                raise KernelFetchError(
                    f"cannot reach the Debian mirror {self.mirror}: {_reason(output)}" + _MIRROR_HINT
                )
            raise KernelFetchError(f"apt-get download {' '.join(specs)} failed: {_reason(output)}")
        return debs


class NoSuchSuite(KernelFetchError):
    """The mirror has no such suite (a name the user mistyped, or one the mirror does not carry)."""


_MIRROR_HINT = "; check the network, or name another mirror with --mirror (or UMLTUI_DEBIAN_MIRROR)"


def _env() -> dict[str, str]:
    return {**os.environ, "LC_ALL": "C", "DEBIAN_FRONTEND": "noninteractive"}


def _reason(text: str) -> str:
    """apt's own words about what went wrong: its error lines, else its last lines."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith(("E:", "Err:")) or _UNREACHABLE.search(ln)]
    return " | ".join(dict.fromkeys(errors or lines[-3:]))[:600] or "no output"


def _bytes_in(folder: Path) -> int:
    total = 0
    with contextlib.suppress(OSError):
        for p in folder.iterdir():
            with contextlib.suppress(OSError):
                if p.is_file():
                    total += p.stat().st_size
    return total
