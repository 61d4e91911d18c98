"""The embedded default root: a busybox folder booted over hostfs.

A template is built once per busybox binary into the cache directory; each guest gets
its own copy (so one guest's files never show up in another), and the per-boot files
(hostname, addresses, hostfs mounts, the lab's startup script, the gettys) are written
into that copy before every boot. The guest tells us it is ready by writing to
``/proc/mconsole``, which reaches the supervisor as a user notification.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

from .. import locations
from . import guestfiles
from .agent import AGENT_SCRIPT, READY_WORD
from .lab import GuestSpec, NicSpec, mac_for

BUSYBOX = Path("/bin/busybox")
TERM = "xterm"


class RootfsError(Exception):
    pass


def _template_id(busybox: Path) -> str:
    st = busybox.stat()
    return hashlib.sha1(f"{st.st_size}:{st.st_mtime_ns}:v7".encode()).hexdigest()[:12]


def busybox_applets(busybox: Path = BUSYBOX) -> list[str]:
    out = subprocess.run([str(busybox), "--list-full"], capture_output=True, text=True, timeout=10, check=True)
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


def ensure_template(busybox: Path = BUSYBOX) -> Path:
    """Build (once) and return the busybox root template folder.

    Raises:
        RootfsError: busybox is missing or is not the static build.
    """
    if not busybox.exists():
        raise RootfsError(f"{busybox} is missing: install Debian's busybox-static (apt-get install busybox-static)")
    file_out = (
        subprocess.run(["file", "-b", str(busybox)], capture_output=True, text=True).stdout
        if shutil.which("file")
        else ""
    )
    if "dynamically linked" in file_out:
        raise RootfsError(f"{busybox} is dynamically linked: install busybox-static, not busybox")
    cache = locations.cache_dir()
    target = cache / f"busybox-root-{_template_id(busybox)}"
    if target.exists():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".busybox-root-", dir=cache))
    try:
        for d in (
            "bin",
            "sbin",
            "usr/bin",
            "usr/sbin",
            "etc/init.d",
            "etc/umltui",
            "proc",
            "sys",
            "dev",
            "tmp",
            "run",
            "root",
            "mnt",
            "var/log",
            "home",
        ):
            (tmp / d).mkdir(parents=True, exist_ok=True)
        shutil.copy2(busybox, tmp / "bin/busybox")
        for applet in busybox_applets(busybox):
            link = tmp / applet.lstrip("/")
            if link.name == "busybox" or link.exists() or link.is_symlink():
                continue
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to("/bin/busybox")
        os.chmod(tmp / "tmp", 0o1777)
        _write_static_files(tmp)
        try:
            tmp.rename(target)
        except OSError:  # another process built it at the same time
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


RC_SCRIPT = guestfiles.render("busybox/rcS.sh", READY_WORD=READY_WORD)
"""umltui's boot script in a busybox root (written again at every boot, as the agent is)."""


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(path, mode)


# login -p keeps init's environment: where the host needs it, that holds the settings
# that keep the guest's programs off the AVX registers (see core/hostfpu.py).
LOGIN_SCRIPTS = {
    "etc/umltui/autologin": guestfiles.text("busybox/autologin.sh"),
    "etc/umltui/login": guestfiles.text("busybox/login.sh"),
}


def _write_login_scripts(root: Path) -> None:
    for rel, text in LOGIN_SCRIPTS.items():
        _write(root / rel, text, 0o755)


def _write_static_files(root: Path) -> None:
    _write(root / "etc/passwd", "root::0:0:root:/root:/bin/sh\n")
    _write(root / "etc/group", "root:x:0:\n")
    _write(root / "etc/shells", "/bin/sh\n/bin/ash\n")
    _write(
        root / "etc/profile",
        "export PATH=/bin:/sbin:/usr/bin:/usr/sbin\nexport PS1='$USER@\\h:\\w\\$ '\nexport HOME=/root\ncd /root\n",
    )
    _write_login_scripts(root)
    _write(root / "etc/umltui/agent", AGENT_SCRIPT, 0o755)
    _write(root / "etc/init.d/rcS", RC_SCRIPT, 0o755)


SHUTDOWN_SECONDS = 10
"""How long a lab's shutdown script may run when its guest halts."""


def boot_files(spec: GuestSpec) -> dict[str, tuple[str, int]]:
    """This boot's settings as files (path, text, mode), the same for every root of ours.

    The busybox root keeps them in ``/etc/umltui/``; a Debian image reads them from a host
    folder it mounts at ``/run/umltui`` (its ``/etc/umltui/nic`` points there). Either way
    ``boot`` sets the NIC addresses and mounts the hostfs folders, ``nic/NAME`` is what
    the agent runs to bring a NIC up again, ``sysctl`` holds ``key=value`` lines set before
    the startup, ``startup`` and ``shutdown`` are the lab's own scripts, and ``names`` and
    ``files`` are for an image's pre-init: ``MAC NAME`` per NIC (the names NICs take before
    anything else runs) and the host folders copied over ``/``, one a line, in order (a
    busybox root is given them on the host instead: :func:`copy_over`); ``test`` (in
    test mode only) is what ``ltest`` runs after the startup.
    """
    files = {
        "hostname": (spec.name + "\n", 0o644),
        "hosts": (f"127.0.0.1 localhost\n127.0.1.1 {spec.name}\n", 0o644),
        "boot": (_boot_script(spec), 0o644),
        "startup": (spec.startup, 0o755),
        "names": ("".join(f"{nic.mac or mac_for(spec.umid, nic.name)} {nic.name}\n" for nic in spec.nics), 0o644),
    }
    if spec.shutdown:
        files["shutdown"] = (spec.shutdown, 0o755)
    if spec.sysctl:
        files["sysctl"] = ("".join(f"{key}={value}\n" for key, value in spec.sysctl.items()), 0o644)
    if spec.files:
        files["files"] = ("".join(f"{folder}\n" for folder in spec.files), 0o644)
    for nic in spec.nics:
        files[f"nic/{nic.name}"] = (_nic_script(nic, spec.umid), 0o644)
    if spec.test:  # ltest: run with sh after the startup, before the guest says it is ready
        files["test"] = (spec.test_script, 0o755)
    return files


# What a boot of the busybox root reads in /etc/umltui, written again at each boot (the
# ones a boot may lack are removed first, so a setting dropped from the lab goes too).
_PER_BOOT = ("nic", "names", "shutdown", "sysctl", "files", "test", "startup", "boot")


def write_boot_files(spec: GuestSpec, folder: Path) -> Path:
    """Write :func:`boot_files` into ``folder`` (made private), and nothing of an earlier boot."""
    locations.private_dir(folder)
    for old in folder.iterdir():
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)
    for rel, (text, mode) in boot_files(spec).items():
        _write(folder / rel, text, mode)
    return folder


def prepare_guest_root(spec: GuestSpec, folder: Path) -> Path:
    """Make (or refresh) the guest's own root folder, copy the lab's ``files`` over it, and
    write its per-boot files.

    Every path written in the root is taken as the guest would take it (:func:`guest_path`):
    a link the lab's files or the guest itself put there (``/etc/umltui -> /home``) leads
    inside the root, never to the host's own files.
    """
    locations.private_dir(folder.parent)  # the guest's folder: its logs and its root, ours alone
    if not folder.exists():
        template = ensure_template()
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(template, tmp, symlinks=True)
        tmp.rename(folder)
    for source in spec.files:  # before our own files: the lab's cannot replace umltui's
        copy_over(source, folder)

    def put(rel: str, text: str, mode: int = 0o644) -> None:
        path = guest_path(folder, rel, follow_last=False)
        _remove(path)
        _write(guest_path(folder, os.path.dirname(rel)) / path.name, text, mode)

    files = boot_files(spec)
    put("etc/hostname", *files.pop("hostname"))
    put("etc/hosts", *files.pop("hosts"))
    put("etc/inittab", _inittab(spec))
    put("etc/umltui/agent", AGENT_SCRIPT, 0o755)  # (a root copied before the agent existed)
    put("etc/init.d/rcS", RC_SCRIPT, 0o755)  # (or before this boot script)
    for rel, text in LOGIN_SCRIPTS.items():  # (and before login kept the environment)
        put(rel, text, 0o755)
    for name in _PER_BOOT:
        _remove(guest_path(folder, f"etc/umltui/{name}", follow_last=False))
    for rel, (text, mode) in files.items():
        put(f"etc/umltui/{rel}", text, mode)
    return folder


def _remove(path: Path) -> None:
    """Remove a file, a link (not what it points to) or a folder, if there is one."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.is_symlink() or path.exists():
        path.unlink()


MAX_LINKS = 40  # symbolic links followed for one path in a guest's root (the kernel's own limit)


def guest_path(root: Path, rel: str, *, follow_last: bool = True) -> Path:
    """Where ``rel`` (a path in the guest) lies in the root folder ``root``, its symbolic
    links followed as the guest follows them: inside ``root``.

    A link in the guest (``/lib -> usr/lib``, or ``/x -> /etc``) is the guest's: it never
    leads to the host's own files. ``follow_last=False``: the last part is not followed
    (it is the link itself that is to be replaced).

    Raises:
        RootfsError: too many links (a loop).
    """
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    here: list[str] = []  # resolved, relative to root
    hops = 0
    while parts:
        name = parts.pop(0)
        if name == "..":
            if here:
                here.pop()
            continue
        candidate = root.joinpath(*here, name)
        if (parts or follow_last) and candidate.is_symlink():
            hops += 1
            if hops > MAX_LINKS:
                raise RootfsError(f"{rel}: too many symbolic links in the guest's root")
            target = os.readlink(candidate)
            if target.startswith("/"):
                here = []
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        here.append(name)
    return root.joinpath(*here)


def copy_over(source: Path, root: Path) -> None:
    """Copy the folder ``source`` over the root folder ``root``, as Netkit copies a machine's
    folder over its ``/``: files replace files, links are copied as links, and a folder of
    the guest that is a link (Debian's ``/lib``) is followed inside the guest, not replaced.

    Raises:
        RootfsError: a file cannot be copied, or would replace a folder (it names which).
    """
    for top, dirs, names in os.walk(source):
        rel = os.path.relpath(top, source)
        try:
            target = guest_path(root, "" if rel == "." else rel)
            if target.is_symlink() or (target.exists() and not target.is_dir()):
                target.unlink()  # a dangling link, or a file where the lab has a folder
            target.mkdir(parents=True, exist_ok=True)
            for name in [*names, *(d for d in dirs if os.path.islink(os.path.join(top, d)))]:
                src, dest = Path(top, name), target / name
                if dest.is_dir() and not dest.is_symlink():
                    raise RootfsError(f"{src} would replace the guest's folder /{os.path.relpath(dest, root)}")
                dest.unlink(missing_ok=True)
                if src.is_symlink():
                    dest.symlink_to(os.readlink(src))
                else:
                    shutil.copy2(src, dest, follow_symlinks=False)
        except OSError as exc:
            raise RootfsError(f"cannot copy {source}/{rel} into the guest's root: {exc.strerror or exc}") from None
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(top, d))]


def _inittab(spec: GuestSpec) -> str:
    lines = ["::sysinit:/etc/init.d/rcS"]
    for n in range(1, spec.consoles + 1):
        if spec.login == "auto":
            lines.append(f"tty{n}::respawn:/sbin/getty -n -l /etc/umltui/autologin 0 tty{n} {TERM}")
        else:
            lines.append(f"tty{n}::respawn:/sbin/getty -l /etc/umltui/login 0 tty{n} {TERM}")
    lines.append("::ctrlaltdel:/sbin/poweroff")
    if spec.shutdown:  # before init ends every process: the lab's, bounded
        lines.append(
            f"::shutdown:/bin/sh -c 'cd /root && timeout {SHUTDOWN_SECONDS} sh /etc/umltui/shutdown "
            ">> /var/log/shutdown.log 2>&1'"
        )
    lines += ["::shutdown:/bin/sync", ""]
    return "\n".join(lines)


def _nic_script(nic: NicSpec, umid: str) -> str:
    """How a NIC is set up: at boot, and by the agent when it is plugged in again.

    First the device with the NIC's MAC takes the lab's name: a kernel without the legacy
    transports makes every NIC a ``vecN``, and the lab's scripts say ``eth0``.
    """
    q = shlex.quote
    mac = nic.mac or mac_for(umid, nic.name)
    lines = [
        f'for d in /sys/class/net/*; do [ "$(cat "$d/address" 2>/dev/null)" = {q(mac)} ] && '
        f'[ "${{d##*/}}" != {q(nic.name)} ] && ip link set "${{d##*/}}" name {q(nic.name)}; done'
    ]
    lines += [f"ip addr add {q(nic.ip)} dev {q(nic.name)} 2>/dev/null"] if nic.ip else []
    return "\n".join([*lines, f"ip link set {q(nic.name)} up 2>/dev/null", ""])


def _boot_script(spec: GuestSpec) -> str:
    q = shlex.quote
    lines = ["# written by umltui before each boot"]
    lines += [f". /etc/umltui/nic/{q(nic.name)}" for nic in spec.nics]
    for mount, host in spec.hostfs.items():
        lines.append(f"mkdir -p {q(mount)} && mount -t hostfs none {q(mount)} -o {q(str(host))}")
    return "\n".join(lines) + "\n"
