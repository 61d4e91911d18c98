"""The kernel cache: ``CACHE/kernels/VERSION/`` per fetched package version.

Each folder holds ``root/`` (the unpacked packages: ``usr/bin/linux.uml``, its modules
under ``usr/lib/uml/modules/RELEASE``, and the C library it was linked to when the
host's is too old) and ``kernel.json`` (its :class:`~.record.KernelRecord`). A folder is
filled under a temporary name and renamed into place, so a reader sees a whole kernel
or none, and it is made read-only then: nothing changes a kernel a guest may be using.
Folders whose names start with a dot are work in progress or apt's own state.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import tempfile
from pathlib import Path

from ... import locations
from .errors import KernelError
from .record import KernelRecord

RECORD = "kernel.json"
VERSION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+~:-]*")
"""A Debian version (``7.2um1``, ``6.12um1+b1``): also the cache folder's name."""


def kernels_dir() -> Path:
    return locations.cache_dir() / "kernels"


def folder(version: str) -> Path:
    """Where ``version`` is (or would be) cached.

    Raises:
        KernelError: ``version`` is not a Debian version (it would name a folder elsewhere).
    """
    if not VERSION_RE.fullmatch(version):
        raise KernelError(f"{version!r} is not a kernel version (such as 7.2um1)")
    return kernels_dir() / version


def _read(path: Path) -> KernelRecord | None:
    try:
        record = KernelRecord.read(path / RECORD)
    except (OSError, ValueError):
        return None
    return record if os.access(record.kernel, os.X_OK) else None


def cached() -> list[KernelRecord]:
    """Every cached kernel, newest release first."""
    base = kernels_dir()
    if not base.is_dir():
        return []
    found = [r for d in base.iterdir() if not d.name.startswith(".") and d.is_dir() and (r := _read(d))]
    return sorted(found, key=lambda r: (r.release_tuple, r.fetched_at), reverse=True)


def find(version: str) -> KernelRecord | None:
    """The cached kernel of package version ``version``, if there is one."""
    try:
        return _read(folder(version))
    except KernelError:
        return None


def lock() -> contextlib.AbstractContextManager[None]:
    """One writer at a time, across processes: a second ``kernel get`` then finds the kernel cached."""
    return locations.exclusive(kernels_dir() / ".lock")


def work_dir(version: str) -> Path:
    """A fresh folder to fill before :func:`commit` puts it in place (removed with :func:`discard`)."""
    kernels_dir().mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".get-{version}-", dir=kernels_dir()))


def tree_bytes(path: Path) -> int:
    """What the files under ``path`` hold (links count as nothing)."""
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                st = os.lstat(os.path.join(dirpath, name))
                if stat.S_ISREG(st.st_mode):
                    total += st.st_size
    return total


def _set_writable(path: Path, writable: bool) -> None:
    """Add or take away everyone's write bit on ``path`` and all below it (links are left alone)."""
    for dirpath, dirs, files in os.walk(path):  # only write bits change: every folder stays readable
        for name in [*dirs, *files]:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            if not stat.S_ISLNK(st.st_mode):
                os.chmod(p, (st.st_mode | stat.S_IWUSR) if writable else st.st_mode & ~0o222)
    st = os.lstat(path)
    os.chmod(path, (st.st_mode | stat.S_IWUSR) if writable else st.st_mode & ~0o222)


def commit(work: Path, record: KernelRecord) -> KernelRecord:
    """Put the kernel unpacked in ``work`` in place as ``record.version``, read-only; its record as it is now.

    ``record.kernel`` and ``record.modules`` must already name their final paths. On a
    failure ``work`` is left to the caller to :func:`discard`.

    Raises:
        KernelError: that version is cached already.
    """
    final = folder(record.version)
    if final.exists():
        raise KernelError(f"kernel {record.version} is cached already ({final})")
    record = KernelRecord.from_json({**record.to_json(), "size_bytes": tree_bytes(work)})
    record.write(work / RECORD)
    os.chmod(work, 0o755)  # mkdtemp's 0700: the cache is readable as the rest of it is
    _set_writable(work, False)
    try:
        work.rename(final)
    except OSError as exc:
        _set_writable(work, True)
        raise KernelError(f"cannot put kernel {record.version} in place at {final}: {exc.strerror}") from None
    return record


def discard(path: Path) -> None:
    """Remove a (read-only) kernel folder, or one half made."""
    if not path.exists():
        return
    with contextlib.suppress(OSError):
        _set_writable(path, True)
    shutil.rmtree(path, ignore_errors=True)


def users(record: KernelRecord) -> list[int]:
    """The pids of running processes whose program is this kernel (its guests)."""
    real = os.path.realpath(record.kernel)
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if os.readlink(os.path.join(entry.path, "exe")) == real:
                    found.append(int(entry.name))
    return sorted(found)


def remove(version: str) -> KernelRecord:
    """Remove the cached kernel ``version``; what it was.

    Raises:
        KernelError: no such kernel is cached.
    """
    record = find(version)
    if record is None:
        known = ", ".join(r.version for r in cached()) or "none cached"
        raise KernelError(f"no cached kernel {version!r} (cached: {known})")
    with lock():
        # gone from the listing at once, then deleted; renamed within its own folder, as a
        # read-only folder cannot be moved to another (its ".." would change)
        trash = kernels_dir() / f".rm-{version}-{os.getpid()}"
        os.rename(folder(version), trash)
        discard(trash)
    return record
