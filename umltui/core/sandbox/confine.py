"""What a guest's kernel process may reach on the host, and the bubblewrap command that holds it there.

A guest's root can mount any host path over hostfs (``mount -t hostfs none /mnt -o /etc``)
with the rights of the kernel's process, and UML's own ``hostfs=DIR`` is no boundary
(``-o /../../../etc`` walks out of it). So the boundary is the host's: the kernel runs in a
mount namespace of its own (bubblewrap) that holds only

- the host's ``/usr`` read-only (the kernel, its libraries and helpers such as ``slirp``),
  with ``/bin``, ``/lib`` ... as the host has them (links into ``/usr`` on Debian);
- a ``/dev`` of its own (bubblewrap's: null, zero, full, random, urandom, tty) with a
  ``/dev/pts`` of its own: the ``con=pts`` consoles are made there, where no other user
  can open them; the supervisor opens them through the kernel's ``/proc/PID/root``
  (:func:`host_path`); and ``/dev/net/tun`` for a guest with taps;
- empty private ``/tmp`` and ``/dev/shm`` (the kernel's memory file);
- what :class:`Grants` names, each at its own path: the guest's folder (its root folder,
  boot settings, copy-on-write files), its UML folder (mconsole and notify sockets), the
  lab's folder, the folders its ``hostfs:`` names, those its ``files:`` names (read-only),
  its disk images, the lab's switch
  sockets, and the kernel's own folder when it is not under ``/usr``.

No ``/sys``, ``/etc``, ``/home`` or ``/root``. The kernel runs in a user namespace of its
own (its uid is the caller's, root's included, but its capabilities hold only over the
sandbox's own namespaces: it cannot mount anything into the host's tree nor configure the
host's network) and a pid namespace of its own, whose ``/proc`` shows only the sandbox
(UML re-executes itself through ``/proc/self/exe``; ``/proc/1/root`` is the sandbox).
Dropping capabilities instead does not work for root: an exec then clears the kernel's
``ADDR_NO_RANDOMIZE``, and a 7.x kernel re-executes itself for ever. The network namespace
is shared with the process that starts the kernel (the lab's own for a lab with taps,
which are made for the caller's uid so that the kernel may attach to them).

The sandbox does not die with its parent: guests outlive the supervisor. Its outer process
(bubblewrap's, our child, whose exit status is the kernel's) waits for the kernel, which
leads a session of its own (UML calls setsid): the supervisor follows and ends the
kernel's session, and the sandbox's pid namespace ends with its kernel.

This module only builds command lines; nothing here starts a process.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BWRAP = "bwrap"


class SandboxMissing(Exception):
    """bubblewrap is not installed; the message says which package to install."""


def require_bwrap() -> str:
    """The path of ``bwrap``.

    Raises:
        SandboxMissing: it is not on the PATH.
    """
    found = shutil.which(BWRAP)
    if not found:
        raise SandboxMissing(
            "bubblewrap is missing: umltui runs every guest's kernel inside it, so that the guest's root "
            "reaches no host file its lab does not grant (apt-get install bubblewrap)"
        )
    return found


@dataclass
class Grants:
    """The host paths one guest's kernel may use, besides the system's (``/usr``, devices)."""

    rw: list[Path] = field(default_factory=list)
    ro: list[Path] = field(default_factory=list)
    taps: bool = False  # /dev/net/tun

    def to_state(self) -> dict[str, Any]:
        return {"rw": [str(p) for p in self.rw], "ro": [str(p) for p in self.ro], "taps": self.taps}

    @classmethod
    def from_state(cls, rec: Mapping[str, Any] | None) -> Grants | None:
        if not isinstance(rec, Mapping):
            return None
        return cls([Path(p) for p in rec.get("rw", [])], [Path(p) for p in rec.get("ro", [])], bool(rec.get("taps")))

    def allows(self, path: Path, *, write: bool = True) -> bool:
        """Whether ``path`` (absolute) lies in a granted folder or is a granted file."""
        places = self.rw if write else [*self.rw, *self.ro]
        real = Path(os.path.realpath(path))
        return any(real == p or p in real.parents for p in (Path(os.path.realpath(q)) for q in places))


def _system_binds() -> list[str]:
    """``/usr`` read-only, and the top-level folders as this host has them (links or folders)."""
    args = ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    return args


def _minimal(paths: Iterable[Path]) -> list[Path]:
    """The paths without those inside another one of them (a bind inside a bind is redundant)."""
    unique = sorted({Path(os.path.abspath(p)) for p in paths}, key=lambda p: len(p.parts))
    kept: list[Path] = []
    for p in unique:
        if not any(k == p or k in p.parents for k in kept):
            kept.append(p)
    return kept


def confine(argv: list[str], grants: Grants, *, bwrap: str = BWRAP) -> list[str]:
    """``argv`` (a kernel and its words) run inside a sandbox holding only ``grants``.

    A granted path that does not exist is left out (a copy-on-write file the kernel makes
    lies in a granted folder). Read-write grants win over read-only ones for the same path.
    """
    args = [bwrap, "--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    args += _system_binds()
    args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/dev/shm", "--tmpfs", "/tmp"]
    if grants.taps and os.path.exists("/dev/net/tun"):
        args += ["--dev-bind", "/dev/net/tun", "/dev/net/tun"]
    rw = _minimal(p for p in grants.rw if os.path.lexists(p))
    for p in _minimal(p for p in grants.ro if os.path.lexists(p)):
        if not any(k == p or k in p.parents for k in rw):
            args += ["--ro-bind", str(p), str(p)]
    for p in rw:
        args += ["--bind", str(p), str(p)]
    return [*args, "--", *argv]


def host_path(kernel_pid: int, path: str) -> str:
    """A path inside a running kernel's sandbox (``/dev/pts/3``), as this process opens it."""
    return f"/proc/{kernel_pid}/root{path}"


def grants_for(
    *,
    folder: Path,
    box: Path,
    kernel: str,
    lab_folder: Path | None = None,
    hostfs: Iterable[Path] = (),
    files: Iterable[Path] = (),
    disks: Iterable[tuple[Path, Path | None, bool]] = (),
    switch_folder: Path | None = None,
    taps: bool = False,
) -> Grants:
    """What a lab grants one guest.

    Args:
        folder: the guest's own folder (root folder, boot settings, COW files, logs).
        box: the guest's UML folder (the kernel's ``uml_dir``) with its notify socket.
        kernel: the kernel's path: its folder is granted read-only when it is not under /usr.
        lab_folder: the folder of the lab file (Netkit's ``/hostlab``; disks named relative to it).
        hostfs: the host folders the lab mounts in the guest.
        files: the folders copied over the guest's root at boot (read-only: an image's
            pre-init mounts them over hostfs; a lab folder's own are in it already).
        disks: (image, COW file or None, read-only) of each disk: an image under a COW, or
            marked read-only, is granted read-only; a COW file read-write (its folder when
            the kernel is to make it).
        switch_folder: the folder of the lab's switch sockets.
        taps: the guest has taps (``/dev/net/tun``).
    """
    g = Grants(rw=[folder, box, *hostfs], ro=list(files), taps=taps)
    if lab_folder is not None:
        g.rw.append(lab_folder)
    if switch_folder is not None:
        g.rw.append(switch_folder)
    real_kernel = Path(os.path.realpath(kernel))
    if Path("/usr") not in real_kernel.parents:  # a fetched kernel: its folder, with its libraries
        g.ro.append(real_kernel.parents[2] if real_kernel.parent.match("usr/bin") else real_kernel.parent)
    for image, cow, readonly in disks:
        (g.ro if readonly or cow is not None else g.rw).append(image)
        if cow is not None:
            g.rw.append(cow if cow.exists() else cow.parent)
    return g
