"""``kernel get``: a UML kernel from a newer Debian suite that boots glibc roots on this host.

For each suite (the one asked for, else testing, then unstable) the suite's package index
is read with a private apt (:mod:`.apt`), and its ``user-mode-linux`` is taken if a kernel
of that release boots a glibc root here (6.13 and later on a host whose FPU state is too
large for older ones; any elsewhere). The package, and that suite's ``libc6`` when the
host's C library is older than the kernel needs, are downloaded and unpacked into one
folder; the kernel is then pointed at the unpacked C library with patchelf (its
interpreter and library path: starting it through the unpacked ``ld.so`` instead does not
work, as UML re-executes ``/proc/self/exe``). It must start (``--version``) before it is
stored (:mod:`.store`), and again where it is stored.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..images import host_mirror
from . import store
from .apt import NoSuchSuite, Package, PrivateApt, min_libc
from .errors import KernelError, KernelFetchError
from .features import boots
from .host import Host, this_host
from .identify import kernel_release
from .record import KernelRecord, release_tuple

DEFAULT_SUITES = ("testing", "unstable")
PACKAGE = "user-mode-linux"
KERNEL_IN_PACKAGE = "usr/bin/linux.uml"
MODULES_IN_PACKAGE = "usr/lib/uml/modules"
TOOL_TIMEOUT = 300.0

STAGES = {
    "lists": "reading the package index",
    "download": "downloading",
    "unpack": "unpacking",
    "patch": "linking the kernel to its own C library",
    "verify": "starting the kernel (--version)",
    "store": "storing it in the cache",
}


@dataclass
class Progress:
    """One step of a fetch: ``stage`` (a key of STAGES) of ``suite``, ``done`` of ``total`` bytes when downloading."""

    stage: str
    suite: str = ""
    done: int = 0
    total: int = 0
    item: str = ""

    @property
    def title(self) -> str:
        return (
            f"{self.suite}: {STAGES.get(self.stage, self.stage)}" if self.suite else STAGES.get(self.stage, self.stage)
        )


ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True)
class Fetched:
    """What :func:`get` did: the kernel, and whether it was fetched now or was cached already."""

    record: KernelRecord
    fetched: bool
    downloaded_bytes: int
    """Everything this call took from the mirror (package indexes included)."""
    seconds: float


def _need(tool: str, package: str, why: str = "") -> str:
    path = shutil.which(tool) or next((p for p in (f"/usr/bin/{tool}", f"/sbin/{tool}") if os.access(p, os.X_OK)), None)
    if path is None:
        raise KernelFetchError(f"{tool} is missing{why}: install Debian's {package} (apt-get install {package})")
    return path


def _arch() -> str:
    try:
        out = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True, timeout=10)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return {"x86_64": "amd64", "i686": "i386"}.get(platform.machine(), platform.machine())


def _run(argv: list[str], what: str, timeout: float = TOOL_TIMEOUT) -> str:
    try:
        out = subprocess.run(
            argv, capture_output=True, text=True, errors="replace", timeout=timeout, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        raise KernelFetchError(f"{what} took longer than {timeout:g} s") from None
    except OSError as exc:
        raise KernelFetchError(f"{what}: {exc.strerror}") from None
    if out.returncode:
        said = (out.stderr or out.stdout).strip().splitlines()[-1:] or [f"exit status {out.returncode}"]
        raise KernelFetchError(f"{what} failed: {said[0]}")
    return out.stdout


def _inside(root: Path, path: str) -> Path:
    """``path`` of the unpacked tree ``root`` with its links followed inside ``root`` (an absolute
    link names a file of the tree, not of the host: the host's ld.so must never be picked up)."""
    current = root / path.lstrip("/")
    for _ in range(40):
        rel = current.relative_to(root)
        for i in range(1, len(rel.parts) + 1):
            part = root.joinpath(*rel.parts[:i])
            if part.is_symlink():
                target = os.readlink(part)
                base = root if target.startswith("/") else part.parent
                current = (base / target.lstrip("/")).joinpath(*rel.parts[i:])
                current = Path(os.path.normpath(current))
                if root not in (current, *current.parents):
                    raise KernelFetchError(f"{path} in the package points out of it")
                break
        else:
            return current
    raise KernelFetchError(f"{path} in the package: too many links")


def _own_libc(patchelf: str, kernel: Path, root: Path) -> tuple[Path, Path]:
    """The dynamic loader and library folder unpacked under ``root`` for ``kernel``, relative to ``root``."""
    interp = _run([patchelf, "--print-interpreter", str(kernel)], "reading the kernel's interpreter").strip()
    ld = next((p for p in (_inside(root, "/usr" + interp), _inside(root, interp)) if p.is_file()), None)
    libc = next((p for pattern in ("usr/lib/*/libc.so.6", "lib/*/libc.so.6") for p in sorted(root.glob(pattern))), None)
    if ld is None or libc is None:
        raise KernelFetchError(f"the fetched libc6 has no {interp} or libc.so.6: cannot link the kernel to it")
    libdir = _inside(root, "/" + str(libc.relative_to(root))).parent
    return ld.relative_to(root), libdir.relative_to(root)


def _patch(patchelf: str, kernel: Path, placed: Path, libc: tuple[Path, Path]) -> None:
    """Point ``kernel`` at its own C library (:func:`_own_libc`), as it is found with its tree at ``placed``."""
    ld, libdir = libc
    argv = [patchelf, "--set-interpreter", str(placed / ld), "--set-rpath", str(placed / libdir), str(kernel)]
    _run(argv, "patchelf on the kernel")


def get(
    suite: str | None = None,
    *,
    progress: ProgressCallback = lambda p: None,
    mirror: str | None = None,
    host: Host | None = None,
) -> Fetched:
    """Fetch (or find cached) the newest kernel of ``suite`` (default: testing, else unstable) that boots glibc here.

    Raises:
        KernelFetchError: apt-get, dpkg-deb or patchelf is missing; the mirror cannot be
            reached; no suite offers a fitting kernel; or the kernel does not start.
    """
    started = time.monotonic()
    host = host or this_host()
    mirror = mirror or host_mirror()
    _need("apt-get", "apt")
    _need("dpkg-deb", "dpkg")
    arch = _arch()
    suites = (suite,) if suite else DEFAULT_SUITES
    downloaded = 0
    notes: list[str] = []
    with store.lock():
        for name in suites:
            apt = PrivateApt(store.kernels_dir() / ".apt" / name, mirror, name, arch)
            progress(Progress("lists", name))
            try:
                downloaded += apt.update()
            except NoSuchSuite as exc:
                if suite:
                    raise
                notes.append(str(exc))
                continue
            package = apt.show(PACKAGE)
            if package is None:
                notes.append(f"{name} has no {PACKAGE} for {arch}")
                continue
            fit = boots(package.version, "debian", host)
            if not fit.ok:
                notes.append(f"{name} offers {PACKAGE} {package.version}, which cannot boot glibc here")
                continue
            if (found := store.find(package.version)) is not None:
                return Fetched(found, False, downloaded, round(time.monotonic() - started, 1))
            record = _fetch(apt, package, host, progress, downloaded, started)
            return Fetched(record, True, record.downloaded_bytes, round(time.monotonic() - started, 1))
    where = "; ".join(notes)
    raise KernelFetchError(
        f"no suite offers a UML kernel that boots glibc programs on this host ({where}); "
        "name another suite (umltui kernel get SUITE) or mirror (--mirror)"
    )


def _fetch(
    apt: PrivateApt, package: Package, host: Host, progress: ProgressCallback, downloaded: int, started: float
) -> KernelRecord:
    """Download, unpack, patch and verify ``package`` in a work folder, then store it.

    ``downloaded`` bytes were taken from the mirror since ``started`` before this (the index).
    """
    version = package.version
    libc_needed = min_libc(package.depends)
    patch = libc_needed is not None and (host.libc is None or host.libc < libc_needed)
    why = f" (this host's C library is older than kernel {version} needs: it is linked to one fetched with it)"
    patchelf = _need("patchelf", "patchelf", why) if patch else ""
    work = store.work_dir(version)
    try:
        specs = [f"{PACKAGE}={version}"]
        total = package.size
        if patch:
            libc = apt.show("libc6")
            if libc is None:
                raise KernelFetchError(f"{apt.suite} has no libc6 for the kernel to use")
            specs.append(f"libc6={libc.version}")
            total += libc.size
        state = Progress("download", apt.suite, total=total, item=" ".join(specs))
        progress(state)

        def arrived(n: int) -> None:
            state.done = n
            progress(state)

        debs = apt.download(specs, work / "debs", arrived)
        downloaded += sum(p.stat().st_size for p in debs)
        root = work / "root"
        progress(Progress("unpack", apt.suite))
        for deb in debs:
            _run(["dpkg-deb", "-x", str(deb), str(root)], f"dpkg-deb -x {deb.name}")
        shutil.rmtree(work / "debs")
        kernel = root / KERNEL_IN_PACKAGE
        if not kernel.is_file():
            raise KernelFetchError(f"{PACKAGE} {version} has no {KERNEL_IN_PACKAGE}")
        placed = store.folder(version) / "root"
        if patch:
            progress(Progress("patch", apt.suite))
            own = _own_libc(patchelf, kernel, root)
            _patch(patchelf, kernel, root, own)  # to try it where it is now
        progress(Progress("verify", apt.suite))
        try:
            release = kernel_release(kernel)
        except KernelError as exc:
            raise KernelFetchError(f"the fetched kernel does not start: {exc}") from None
        if patch:
            _patch(patchelf, kernel, placed, own)  # and where it will be
        modules = root / MODULES_IN_PACKAGE / release
        record = KernelRecord(
            version=version,
            release=release,
            source="fetched",
            kernel=str(placed / KERNEL_IN_PACKAGE),
            modules=str(placed / MODULES_IN_PACKAGE / release) if modules.is_dir() else None,
            suite=apt.suite,
            patched=patch,
            fetched_at=time.time(),
            downloaded_bytes=downloaded,
            fetch_seconds=round(time.monotonic() - started, 1),
        )
        progress(Progress("store", apt.suite))
        record = store.commit(work, record)
    except BaseException:
        store.discard(work)
        raise
    try:
        if release_tuple(kernel_release(record.kernel)) != release_tuple(release):
            raise KernelError(f"it says it is not {release}")
    except KernelError as exc:
        store.discard(store.folder(version))
        raise KernelFetchError(f"the fetched kernel does not start where it is stored: {exc}") from None
    return record
