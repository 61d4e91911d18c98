"""Knowing a kernel by its path: its release (asked of the kernel itself) and its record.

``linux.uml --version`` prints the release (``6.1.176``) and exits at once, before it
boots anything; it is asked once per binary (path, size and mtime) in a process.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from ..kernel import KernelMissing, kernel_path
from .errors import KernelError
from .record import KernelRecord

VERSION_TIMEOUT = 20.0
MODULES_ROOT = Path("/usr/lib/uml/modules")
DEBIAN_KERNEL = Path("/usr/bin/linux.uml")
_RELEASE = re.compile(r"\d+\.\d+(?:\.\d+)*\S*")
_releases: dict[tuple[str, int, int], str] = {}


def kernel_release(path: str | os.PathLike[str], timeout: float = VERSION_TIMEOUT) -> str:
    """The release ``KERNEL --version`` prints (``7.2.7``).

    Raises:
        KernelError: it is not there, does not start, or prints no release.
    """
    path = os.fspath(path)
    try:
        st = os.stat(path)
    except OSError as exc:
        raise KernelError(f"no kernel at {path}: {exc.strerror}") from None
    key = (os.path.realpath(path), st.st_size, st.st_mtime_ns)
    if key in _releases:
        return _releases[key]
    try:
        out = subprocess.run(
            [path, "--version"],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise KernelError(f"{path} --version did not answer within {timeout:g} s") from None
    except OSError as exc:
        raise KernelError(f"{path} does not start: {exc.strerror}") from None
    m = _RELEASE.search(out.stdout)
    if out.returncode or not m:
        said = (out.stderr or out.stdout).strip().splitlines()[-1:] or [f"exit status {out.returncode}"]
        raise KernelError(f"{path} is not a UML kernel that starts here: {said[0]}")
    _releases[key] = m.group(0)
    return m.group(0)


def _package_version(path: str) -> str | None:
    """The user-mode-linux package's version, when ``path`` is the kernel it installed."""
    if os.path.realpath(path) != str(DEBIAN_KERNEL):
        return None
    try:
        out = subprocess.run(
            ["dpkg-query", "-W", "-f", "${Version}", "user-mode-linux"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


def _modules(root: Path, release: str) -> str | None:
    folder = root / release
    return str(folder) if folder.is_dir() else None


def installed() -> KernelRecord | None:
    """The kernel today's code boots (``UMLTUI_KERNEL``, else ``linux.uml``), or None if there is none.

    Raises:
        KernelError: it is there but does not start.
    """
    try:
        path = kernel_path()
    except KernelMissing:
        return None
    return _installed(path, kernel_release(path))


def _installed(path: str, release: str) -> KernelRecord:
    """The record of Debian's installed kernel (``path``: the binary it is known by)."""
    return KernelRecord(
        version=_package_version(path) or release,
        release=release,
        source="installed",
        kernel=path,
        modules=_modules(MODULES_ROOT, release),
    )


def describe(path: str | os.PathLike[str]) -> KernelRecord:
    """A record for any kernel binary (a lab's pin by path): its release, and its modules if they lie beside it.

    Raises:
        KernelError: it is not there or does not start.
    """
    path = os.path.abspath(os.fspath(path))
    release = kernel_release(path)
    if os.path.realpath(path) == str(DEBIAN_KERNEL):
        return _installed(path, release)
    # a kernel unpacked from Debian's package: FOLDER/usr/bin/linux.uml beside FOLDER/usr/lib/uml/modules
    beside = Path(path).resolve().parent.parent / "lib/uml/modules"
    return KernelRecord(version=release, release=release, source="path", kernel=path, modules=_modules(beside, release))
