"""A typed model of a UML kernel command line.

Every word is built from checked values, never by pasting user text: a value with a
space, a comma where the kernel splits on commas, or a NUL would change what the kernel
parses, so :func:`check_word` refuses it with a clear message.

Two NIC families are supported. The legacy ``ethN=transport,...`` ones (vde, tuntap,
slirp) exist up to kernel 6.15; the vector ``vecN:transport=...`` ones exist from 4.x and
are the only ones left from 6.16 on. Debian 12's 6.1 has both. A lab's segments are VDE
(:mod:`.network`), which both families join.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from . import hostfpu
from .lab import GuestSpec, mac_for
from .protocol import DiskInfo, NicInfo
from .sandbox import BWRAP, Grants, confine


class CmdlineError(ValueError):
    """A value that cannot be put on a kernel command line safely."""


_BAD = re.compile(r"[\s\0]")


def check_word(value: str, what: str, *, commas: bool = False) -> str:
    """Refuse values that would split or change a kernel command-line word."""
    if not value:
        raise CmdlineError(f"{what} is empty")
    if _BAD.search(value):
        raise CmdlineError(f"{what} {value!r} contains white space, which the kernel would split")
    if not commas and "," in value:
        raise CmdlineError(f"{what} {value!r} contains a comma, which the kernel would split")
    return value


@dataclass(frozen=True)
class Disk:
    """``ubdN=[cow,]image``: a plain image, or a copy-on-write overlay over ``image``."""

    index: int
    image: Path
    cow: Path | None = None
    readonly: bool = False

    def word(self) -> str:
        if not 0 <= self.index <= 15:
            raise CmdlineError(f"ubd{self.index}: UML has ubd0 to ubd15")
        image = check_word(str(self.image), f"ubd{self.index} image")
        flag = "r" if self.readonly else ""
        if self.cow is not None:
            cow = check_word(str(self.cow), f"ubd{self.index} cow")
            return f"ubd{self.index}{flag}={cow},{image}"
        return f"ubd{self.index}{flag}={image}"

    @property
    def name(self) -> str:
        return f"ubd{self.index}"

    def config(self) -> str:
        """The part after ``=`` for mconsole ``config ubdN=...`` hot-plug."""
        return self.word().split("=", 1)[1]


@dataclass(frozen=True)
class Nic:
    """One guest network card.

    ``kind`` is one of ``switch`` (a lab's VDE segment, ``target`` its folder), ``vde``
    (any VDE URL or socket), ``tap`` (legacy tuntap, or vector tap for vecN), ``slirp``
    (legacy only), or ``vector`` (any vector transport with free ``options``). ``name`` is
    the kernel's device: ``ethN`` for a legacy transport, ``vecN`` for a vector one.
    """

    name: str  # eth0 or vec0
    kind: str
    target: str = ""  # segment folder, tap name, vde URL or socket, slirp binary
    mac: str | None = None
    options: tuple[tuple[str, str], ...] = ()

    @property
    def vector(self) -> bool:
        return self.name.startswith("vec")

    def config(self) -> str:
        """The device's setting, as both the boot word and mconsole ``config`` take it."""
        mac = check_word(self.mac, f"{self.name} mac") if self.mac else ""
        if self.vector:
            opts: list[tuple[str, str]] = []
            if self.kind == "tap":
                opts = [("transport", "tap"), ("ifname", self.target)]
            elif self.kind in ("switch", "vde"):
                opts = [("transport", "vde"), ("vnl", vde_url(self.target))]
            elif self.kind == "vector":
                opts = list(self.options)
            else:
                raise CmdlineError(f"{self.name}: this kernel has no {self.kind} transport (only vector ones)")
            if mac:
                opts.append(("mac", mac))
            return ",".join(f"{check_word(k, self.name)}={check_word(v, self.name + ' ' + k)}" for k, v in opts)
        target = check_word(self.target, f"{self.name} {self.kind}") if self.kind != "slirp" else self.target
        if self.kind == "tap":
            return f"tuntap,{target}" if not mac else f"tuntap,{target},{mac}"
        if self.kind in ("switch", "vde"):
            url = check_word(vde_url(target), f"{self.name} vde")
            return f"vde,{url},{mac}" if mac else f"vde,{url}"
        if self.kind == "slirp":
            return f"slirp,{mac},{check_word(self.target or '/usr/bin/slirp', 'slirp path')}"
        raise CmdlineError(f"{self.name}: unknown NIC kind {self.kind!r}")

    def word(self) -> str:
        """On the command line, and after mconsole's ``config`` to plug it in live."""
        sep = ":" if self.vector else "="
        return f"{self.name}{sep}{self.config()}"


def vde_url(target: str) -> str:
    """A VDE URL for a segment's folder or a socket path (``vde:///path``); a URL as it is."""
    return target if "://" in target else f"vde://{target}"


def nic_device(name: str, legacy: bool, taken: Iterable[str] = ()) -> str:
    """The kernel device for the lab's NIC ``name``: itself on a kernel with the legacy
    transports, else ``ethN`` becomes ``vecN``, or the first ``vecM`` not ``taken`` by
    another (the guest renames it back by its MAC)."""
    if legacy or not name.startswith("eth"):
        return name
    taken = set(taken)
    wanted = f"vec{name[3:]}"
    return wanted if wanted not in taken else next(f"vec{i}" for i in range(64) if f"vec{i}" not in taken)


@dataclass
class KernelCommandLine:
    """Everything that goes on ``linux.uml``'s command line, typed."""

    umid: str
    mem: str = "128M"
    uml_dir: Path | None = None
    hostfs_root: Path | None = None
    root_device: str | None = None  # e.g. /dev/ubda when ubd0 is the root image
    init: str | None = None
    disks: list[Disk] = field(default_factory=list)
    nics: list[Nic] = field(default_factory=list)
    notify_socket: Path | None = None
    agent_line: bool = False  # ssl0 on a pty, for the agent of a root umltui built
    boot_folder: Path | None = None  # an image umltui built: the host folder with this boot's settings
    consoles: int = 6  # ... the gettys it starts (con1..conN)
    login: str = "auto"  # ... auto: root logged in at once; prompt: "login:"
    hostname: str | None = None
    environment: dict[str, str] = field(default_factory=dict)
    extra: list[str] = field(default_factory=list)

    def words(self) -> list[str]:
        check_word(self.umid, "umid")
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", self.umid):
            raise CmdlineError(f"umid {self.umid!r}: use letters, digits, '.', '_' and '-'")
        if not re.fullmatch(r"\d+[KMG]?", self.mem):
            raise CmdlineError(f"mem {self.mem!r}: use a size such as 64M")
        words = [f"umid={self.umid}", f"mem={self.mem}"]
        if self.uml_dir is not None:
            words.append(f"uml_dir={check_word(str(self.uml_dir), 'uml_dir', commas=True)}")
        if self.hostfs_root is not None:
            root = check_word(str(self.hostfs_root), "hostfs root")
            words += ["rootfstype=hostfs", f"rootflags={root}", "rw"]
        elif self.root_device:
            words += [f"root={check_word(self.root_device, 'root device')}", "rw"]
        if self.init:
            words.append(f"init={check_word(self.init, 'init')}")
        if self.boot_folder is not None:
            if self.login not in ("auto", "prompt") or not 1 <= self.consoles <= 6:
                raise CmdlineError(f"login {self.login!r} / consoles {self.consoles}: auto or prompt, 1 to 6")
            words += [
                f"umltui.boot={check_word(str(self.boot_folder), 'boot folder')}",
                f"umltui.consoles={self.consoles}",
                f"umltui.login={self.login}",
                "net.ifnames=0",  # the lab's ethN are ethN inside, as every startup script expects
                # systemd's progress is in the guest's journal; on the kernel's console (con0, a
                # file) it only slows the boot. Failures are still shown there.
                "systemd.show_status=error",
                "systemd.log_level=notice",
            ]
            if self.hostname:
                words.append(f"systemd.hostname={check_word(self.hostname, 'hostname')}")
        # con0 (the kernel's console) writes to our stdout, a log file; it reads nothing.
        words += ["con=pts", "con0=null,fd:1"]
        if self.agent_line:
            words += ["ssl=null", "ssl0=pts"]
        if self.notify_socket is not None:
            words.append(f"mconsole=notify:{check_word(str(self.notify_socket), 'notify socket', commas=True)}")
        words += [d.word() for d in sorted(self.disks, key=lambda d: d.index)]
        words += [n.word() for n in self.nics]
        for key, value in self.environment.items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                raise CmdlineError(f"environment name {key!r} is not a shell name")
            words.append(f"{key}={check_word(value, key, commas=True)}")
        words += [check_word(w, "extra kernel argument", commas=True) for w in self.extra]
        return words

    def argv(self, kernel: str) -> list[str]:
        return [kernel, *self.words()]


@dataclass
class BootPlan:
    """How one guest is started: the argv, and the devices it is booted with (for ``ls``)."""

    argv: list[str]
    nics: list[NicInfo]
    disks: list[DiskInfo]


def plan_boot(
    spec: GuestSpec,
    *,
    kernel: str,
    uml_dir: Path,
    notify_socket: Path,
    switch_sockets: Mapping[str, Path],
    hostfs_root: Path | None = None,
    init: str | None = None,
    root_disk: tuple[Path, Path | None] | None = None,
    boot_folder: Path | None = None,
    netns: str | None = None,
    ip_tool: str = "ip",
    grants: Grants | None = None,
    bwrap: str = BWRAP,
    legacy_nics: bool = True,
    fpu_workaround: bool = True,
) -> BootPlan:
    """The kernel command line for a lab's guest, and what ``ls`` shows of its devices.

    Args:
        spec: the guest, as the lab says.
        switch_sockets: the lab's switch names to their control sockets.
        hostfs_root: the folder booted over hostfs (the busybox root); None to boot an image.
        init: the init to run on a hostfs root, or on an image of ours (its pre-init).
        root_disk: the (image, COW file) to boot, instead of ``spec.root``'s (a Debian image of ours).
        boot_folder: for an image umltui built, the host folder holding this boot's settings.
        netns: the namespace the guest runs in (through ``ip netns exec``), for a lab with taps.
        grants: what the kernel's sandbox holds (:mod:`..sandbox`); None runs it unconfined
            (unit tests of the command line only: every guest umltui boots has grants).
        bwrap: bubblewrap's path.
        legacy_nics: the kernel has the legacy ``ethN=`` transports (up to 6.15); without
            them, every NIC is a vector one (``vecN:``), named as the lab says in the guest.
        fpu_workaround: boot through :mod:`.hostfpu` (a kernel older than 6.13 may need it).

    Raises:
        CmdlineError: a value that cannot go on a kernel command line.
    """
    cmd = KernelCommandLine(
        umid=spec.umid, mem=spec.mem, uml_dir=uml_dir, notify_socket=notify_socket, extra=list(spec.kernel_args)
    )
    if hostfs_root is not None:
        cmd.hostfs_root, cmd.init, cmd.agent_line = hostfs_root, init, True
    else:
        image, cow = root_disk or (spec.root.image, spec.root.cow)
        if image is None:
            raise CmdlineError(f"{spec.umid}: a root image is needed when the root is not a hostfs folder")
        cmd.disks.append(Disk(0, image, cow))
        cmd.root_device = "/dev/ubda"
        if boot_folder is not None:
            cmd.boot_folder, cmd.agent_line, cmd.init = boot_folder, True, init
            cmd.consoles, cmd.login, cmd.hostname = spec.consoles, spec.login, spec.name
    cmd.disks += [Disk(d.index, d.image, d.cow, d.readonly) for d in spec.disks]
    nics: list[NicInfo] = []
    taken = {n.name for n in spec.nics if n.name.startswith("vec")}  # the lab's own vecN first
    for n in spec.nics:
        target = str(switch_sockets[n.target]) if n.kind == "switch" else n.target
        mac = n.mac or mac_for(spec.umid, n.name)
        device = nic_device(n.name, legacy_nics, taken | {c.name for c in cmd.nics})
        cmd.nics.append(Nic(device, n.kind, target, mac, n.options))
        nics.append(
            {
                "name": n.name,
                "device": device,
                "kind": n.kind,
                "target": n.target,
                "ip": n.ip,
                "mac": mac,
                "netns": netns if n.kind == "tap" else None,
            }
        )
    argv = cmd.argv(kernel)
    if grants is not None:
        argv = confine(argv, grants, bwrap=bwrap)
    if fpu_workaround:
        argv = hostfpu.launch(argv)
    if netns:
        argv = [ip_tool, "netns", "exec", netns, *argv]
    disks: list[DiskInfo] = [
        {"name": d.name, "image": str(d.image), "cow": str(d.cow) if d.cow else None} for d in cmd.disks
    ]
    return BootPlan(argv, nics, disks)
