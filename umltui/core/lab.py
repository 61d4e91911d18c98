"""Lab files: YAML in, a checked, typed model out.

The YAML is composed into nodes (not loaded into plain dicts) so that every error can
name the file, the line and the field, e.g.
``twohosts.yaml:9: guests.a.nics.eth0.ip: '10.0.0.300/24' is not an IP address with a prefix``.
Relative paths are taken relative to the lab file. Nothing here starts anything.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import ipaddress
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .protocol import LabInfo

NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,30}")
# Guests and switches may also have upper-case letters: Netkit and Kathará labs name their
# machines and collision domains so (``pc1[0]=A``), and the network view shows the lab's names.
# Netkit's domains may have dots. Never '/', nor a leading '.': each becomes a folder name (the
# guest's, the switch's) under the runtime dir.
MEMBER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,30}")
MEM_RE = re.compile(r"\d+[KMG]")
MAC_RE = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")
IFNAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,15}")
MAX_CONSOLES = 6


class LabError(Exception):
    """A lab that cannot be used; ``str()`` names the file, line and field."""

    def __init__(self, path: str, line: int | None, field_path: str, message: str) -> None:
        self.path, self.line, self.field, self.message = path, line, field_path, message
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {field_path}: {message}" if field_path else f"{where}: {message}")


class LabErrors(LabError):
    """Every problem a lab file has, found in one reading (sorted by line); ``str()`` lists them."""

    def __init__(self, errors: list[LabError]) -> None:
        self.errors = sorted(errors, key=lambda e: e.line or 0)
        first = self.errors[0]
        super().__init__(first.path, first.line, first.field, first.message)
        self.args = ("\n".join(str(e) for e in self.errors),)

    def __str__(self) -> str:
        return str(self.args[0])


def mac_for(umid: str, nic: str) -> str:
    """A stable, locally administered MAC per guest NIC, so ARP tables survive reboots."""
    digest = hashlib.sha1(f"{umid}/{nic}".encode()).digest()
    return "02:" + ":".join(f"{b:02x}" for b in digest[:5])


@dataclass(frozen=True)
class SwitchSpec:
    name: str
    hub: bool = False
    learning: bool = False  # a learning switch: capture sees only its floods and broadcasts
    capture: int = 0  # bytes of rolling capture the supervisor keeps (0: none)


CAPTURE_DEFAULT = 4 << 20
CAPTURE_RE = re.compile(r"([0-9]{1,4})([KMG])", re.IGNORECASE)


def _capture_size(node: _Node) -> int:
    """``capture: true`` (4 MiB kept), ``false``, or a size such as ``16M`` (64K to 1G)."""
    value = node.scalar()
    if value.lower() in ("true", "yes", "on"):
        return CAPTURE_DEFAULT
    if value.lower() in ("false", "no", "off"):
        return 0
    m = CAPTURE_RE.fullmatch(value)
    size = int(m.group(1)) << {"K": 10, "M": 20, "G": 30}[m.group(2).upper()] if m else 0
    if not 64 << 10 <= size <= 1 << 30:
        raise node.error(f"{value!r} is not true, false or a size from 64K to 1G (such as 16M)")
    return size


@dataclass(frozen=True)
class TapSpec:
    name: str
    ip: str | None = None  # the tap's own address inside the lab's namespace


@dataclass(frozen=True)
class NicSpec:
    name: str  # eth0 / vec0
    kind: str  # switch | tap | slirp | vde | vector
    target: str = ""  # switch name, tap name, vde socket
    ip: str | None = None
    mac: str | None = None
    options: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class DiskSpec:
    name: str  # ubd1
    image: Path
    cow: Path | None = None
    readonly: bool = False

    @property
    def index(self) -> int:
        return int(self.name[3:])


@dataclass(frozen=True)
class RootSpec:
    kind: str  # busybox | image | debian
    image: Path | None = None
    cow: Path | None = None
    suite: str = "bookworm"  # debian: which release
    packages: tuple[str, ...] = ()  # debian: beyond the default set


@dataclass
class GuestSpec:
    name: str
    umid: str
    mem: str = "128M"
    consoles: int = MAX_CONSOLES
    root: RootSpec = field(default_factory=lambda: RootSpec("busybox"))
    nics: list[NicSpec] = field(default_factory=list)
    disks: list[DiskSpec] = field(default_factory=list)
    hostfs: dict[str, Path] = field(default_factory=dict)  # guest mount point -> host folder
    startup: str = ""
    login: str = "auto"  # auto: root shell at once; prompt: classic "login:" (root, no password)
    kernel_args: list[str] = field(default_factory=list)
    kernel: str | None = None  # a pinned kernel: a version, a release or a path (None: umltui chooses)
    # Netkit's habits, for labs of that family (and for anyone who wants them):
    files: list[Path] = field(default_factory=list)  # folders copied over the guest's / at each boot, in order
    shutdown: str = ""  # run when the guest halts, as the startup runs when it boots
    after: list[str] = field(default_factory=list)  # guests of the lab booted (and ready) before this one
    sysctl: dict[str, str] = field(default_factory=dict)  # kernel settings made before the startup runs
    # Netkit's lab test (``umltui ltest``): the script run after the startup, before the guest
    # says it is ready; only when ``test`` is set (by ``up`` in test mode), never from a lab file.
    test_script: str = ""
    test: bool = False


@dataclass
class Lab:
    name: str
    path: Path | None
    kernel: str | None = None  # the lab's pin, every guest's unless it names its own
    switches: dict[str, SwitchSpec] = field(default_factory=dict)
    taps: dict[str, TapSpec] = field(default_factory=dict)
    netns: str | None = None
    guests: dict[str, GuestSpec] = field(default_factory=dict)
    description: str = ""
    warnings: list[str] = field(default_factory=list)  # what the lab asks that umltui leaves out (lab.conf)

    def to_json(self) -> LabInfo:
        return {
            "name": self.name,
            "path": str(self.path) if self.path else None,
            "netns": self.netns,
            "guests": sorted(self.guests),
            "switches": sorted(self.switches),
            "taps": sorted(self.taps),
        }


class _Kept(Exception):
    """A part's own fields had problems, each kept already: the part is dropped, nothing more said."""


class _Node:
    """A YAML node with the field path that led to it, for error messages."""

    def __init__(self, node: yaml.Node, path: str, file: str, problems: list[LabError] | None = None) -> None:
        self.node, self.path, self.file = node, path, file
        self.problems = problems if problems is not None else []  # shared by a file's nodes

    @contextlib.contextmanager
    def collect(self) -> Iterator[None]:
        """A part of the file that may be wrong: its problem is kept, and the reading goes on."""
        try:
            yield
        except LabError as exc:
            self.problems.append(exc)
        except _Kept:
            pass

    def mark(self) -> int:
        """Where the problems stand now, for :meth:`settle`."""
        return len(self.problems)

    def settle(self, mark: int) -> None:
        """After a part's fields were each read in :meth:`collect`: if any was wrong, the part is
        dropped (its problems are kept, every one of them, not only the first)."""
        if len(self.problems) > mark:
            raise _Kept

    @property
    def line(self) -> int:
        return self.node.start_mark.line + 1

    def error(self, message: str) -> LabError:
        return LabError(self.file, self.line, self.path, message)

    def child(self, node: yaml.Node, key: str) -> _Node:
        return _Node(node, f"{self.path}.{key}" if self.path else key, self.file, self.problems)

    def mapping(self, allowed: tuple[str, ...] | None = None) -> dict[str, _Node]:
        if isinstance(self.node, yaml.ScalarNode) and self.node.tag.endswith(":null"):
            return {}
        if not isinstance(self.node, yaml.MappingNode):
            raise self.error("must be a mapping (key: value lines)")
        out: dict[str, _Node] = {}
        for key_node, value_node in self.node.value:
            # A bad key is a problem of its own: kept, and the other keys are read on.
            if not isinstance(key_node, yaml.ScalarNode):
                self.problems.append(_Node(key_node, self.path, self.file).error("keys must be plain names"))
                continue
            key = str(key_node.value)
            child = self.child(value_node, key)
            if key in out:
                self.problems.append(_Node(key_node, child.path, self.file).error("given twice"))
                continue
            if allowed is not None and key not in allowed:
                hint = difflib.get_close_matches(key, allowed, n=1)
                also = f" (did you mean {hint[0]!r}?)" if hint else f" (known: {', '.join(allowed)})"
                self.problems.append(_Node(key_node, child.path, self.file).error(f"unknown field{also}"))
                continue
            out[key] = child
        return out

    def scalar(self) -> str:
        if not isinstance(self.node, yaml.ScalarNode) or self.node.tag.endswith(":null"):
            raise self.error("must be a single value")
        return str(self.node.value)

    def text(self) -> str:
        return self.scalar()

    def sequence(self, what: str) -> list[_Node]:
        if not isinstance(self.node, yaml.SequenceNode):
            raise self.error(f"must be {what}")
        return [self.child(item, "[]") for item in self.node.value]

    def boolean(self) -> bool:
        value = self.scalar().lower()
        if value in ("true", "yes", "on"):
            return True
        if value in ("false", "no", "off"):
            return False
        raise self.error(f"{value!r} is not true or false")

    def integer(self, low: int, high: int) -> int:
        value = self.scalar()
        if not value.isdigit() or not low <= int(value) <= high:
            raise self.error(f"{value!r} is not a number from {low} to {high}")
        return int(value)

    def name(self, what: str, pattern: re.Pattern[str] = NAME_RE) -> str:
        value = self.scalar()
        if not pattern.fullmatch(value):
            raise self.error(f"{what} {value!r}: use {_NAME_WORDS[pattern]}")
        return value

    def file_path(self, base: Path, *, must_exist: bool = True) -> Path:
        """A path: absolute as written, or relative to the lab's folder and inside it.

        A relative path that leaves the folder (``../``, or a symbolic link out of it) is
        refused: a lab someone hands you should not reach ``/etc`` by a path that looks local.
        """
        value = self.scalar()
        path = (base / value).resolve() if not value.startswith("/") else Path(value)
        if not value.startswith("/") and not path.is_relative_to(base):
            raise self.error(
                f"{value!r} leaves the lab's folder (it is {path}); write it as an absolute path if you mean it"
            )
        if must_exist and not path.exists():
            raise self.error(f"{value!r}: no such file ({path})")
        if re.search(r"[\s,\0]", str(path)):
            raise self.error(f"{str(path)!r}: a path with white space or a comma cannot be given to the kernel")
        return path


_NAME_WORDS = {
    NAME_RE: "lower-case letters, digits, '-' and '_' (up to 31)",
    MEMBER_RE: "letters, digits, '-', '_' and '.' (up to 31)",
}


def _key_name(node: _Node, key: str, what: str, pattern: re.Pattern[str] = NAME_RE) -> str:
    if not pattern.fullmatch(key):
        raise node.error(f"{what} name {key!r}: use {_NAME_WORDS[pattern]}")
    return key


MAX_LAB_BYTES = 1 << 20
MAX_LAB_NODES = 100_000  # YAML nodes a lab may stand for once its aliases are followed
MAX_LAB_DEPTH = 64  # mappings and lists in one another (a lab needs about 6)


def read_lab_text(path: Path) -> str:
    """A lab file's text: only a regular file, only up to :data:`MAX_LAB_BYTES`.

    Opened without blocking, so a FIFO or a device named as a lab is refused at once
    instead of hanging (or, for ``/dev/zero``, eating memory).

    Raises:
        LabError: it is not a regular file, too big, not UTF-8, or cannot be read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise LabError(str(path), None, "", exc.strerror or str(exc)) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise LabError(str(path), None, "", "not a regular file (a lab is a YAML file)")
        if st.st_size > MAX_LAB_BYTES:
            raise LabError(str(path), None, "", f"{st.st_size} bytes: a lab file may have up to {MAX_LAB_BYTES}")
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read(MAX_LAB_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_LAB_BYTES:
        raise LabError(str(path), None, "", f"over {MAX_LAB_BYTES} bytes: a lab file may have up to {MAX_LAB_BYTES}")
    try:
        return data.decode()
    except UnicodeDecodeError as exc:
        raise LabError(str(path), None, "", f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _too_deep(text: str, limit: int) -> int | None:
    """The line where the YAML first nests over ``limit`` mappings or lists, or None.

    Read as a stream of events (the parser keeps no Python stack), before composing: the
    composer recurses once per level, and a few thousand ``[`` would end it in a RecursionError.
    """
    depth = 0
    for event in yaml.parse(text):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > limit:
                return event.start_mark.line + 1 if event.start_mark else 1
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
    return None


def _expanded_size(root: yaml.Node, limit: int) -> int:
    """How many nodes ``root`` stands for with every alias followed, counting up to ``limit``.

    An alias is the same node object again, so a small file can stand for a huge tree
    ("billion laughs"); sizes are remembered per node, so this counts without walking it.
    """
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in sizes:
            continue
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        if not done:
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in sizes)
            continue
        sizes[id(node)] = min(limit + 1, 1 + sum(sizes.get(id(c), 1) for c in children))
    return sizes[id(root)]


def load_lab(path: str | Path) -> Lab:
    """Read and check a lab: a YAML file, or a Netkit/Kathará lab folder (or its ``lab.conf``).

    Raises:
        LabError: with the file, line and field of the first problem found
            (:class:`LabErrors` when there are several).
    """
    path = Path(path)
    if path.is_dir() or path.name == "lab.conf":
        from .netkit import read_lab_folder  # (it builds on this module)

        return read_lab_folder(path.parent if path.name == "lab.conf" and not path.is_dir() else path)
    return parse_lab(read_lab_text(path), path)


def parse_lab(text: str, path: Path, *, default_name: str | None = None) -> Lab:
    file = str(path)
    try:
        if deep := _too_deep(text, MAX_LAB_DEPTH):
            raise LabError(file, deep, "", f"nested over {MAX_LAB_DEPTH} levels deep (a lab needs a few)")
        root = yaml.compose(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise LabError(file, mark.line + 1 if mark else None, "", f"not valid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise LabError(file, None, "", f"not valid YAML: {exc}") from None
    if root is None:
        raise LabError(file, 1, "", "the file is empty")
    if _expanded_size(root, MAX_LAB_NODES) > MAX_LAB_NODES:
        raise LabError(file, 1, "", f"its aliases make it stand for over {MAX_LAB_NODES} YAML nodes")
    doc = _Node(root, "", file)
    try:
        lab = _read_lab(doc, path, default_name)
    except LabError as exc:
        doc.problems.append(exc)
    problems = list({str(e): e for e in doc.problems}.values())  # each once
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise LabErrors(problems)
    return lab


def _read_lab(doc: _Node, path: Path, default_name: str | None) -> Lab:
    """The lab; a part that is wrong is kept in ``doc.problems`` and the rest is read on."""
    file = str(path)
    top = doc.mapping(("name", "switches", "guests", "netns", "taps", "description", "kernel"))
    base = path.resolve().parent
    name = default_name or path.stem.lower()
    if "name" in top:
        with doc.collect():
            name = top["name"].name("lab name")
    elif not NAME_RE.fullmatch(name):
        doc.problems.append(LabError(file, 1, "name", f"missing, and the file name {path.stem!r} is not a lab name"))
    lab = Lab(name=name, path=path.resolve())
    if "description" in top:
        with doc.collect():
            lab.description = top["description"].text()
    if "kernel" in top:
        with doc.collect():
            lab.kernel = _kernel_pin(top["kernel"], base)
    if "netns" in top:
        with doc.collect():
            lab.netns = top["netns"].name("namespace")
    switches: dict[str, _Node] = {}
    if "switches" in top:
        with doc.collect():
            switches = top["switches"].mapping()
    for key, node in switches.items():
        with doc.collect():
            lab.switches[key] = _switch(key, node)
    taps: dict[str, _Node] = {}
    if "taps" in top:
        with doc.collect():
            taps = top["taps"].mapping()
    for key, node in taps.items():
        with doc.collect():
            if not IFNAME_RE.fullmatch(key):
                raise node.error(f"tap name {key!r} is not an interface name (up to 15 characters)")
            opts = node.mapping(("ip",))
            lab.taps[key] = TapSpec(key, ip=_cidr(opts["ip"]) if "ip" in opts else None)
    if "guests" not in top:
        raise LabError(file, 1, "guests", "a lab needs at least one guest")
    guests = top["guests"].mapping()
    if not guests and not doc.problems:
        raise top["guests"].error("a lab needs at least one guest")
    for key, node in guests.items():
        with doc.collect():
            with doc.collect():  # a bad name, and the guest's own fields read all the same
                _key_name(node, key, "guest", MEMBER_RE)
            lab.guests[key] = _guest(lab, key, node, base)
    if guests:
        _check_taps(lab, guests)
        with doc.collect():
            _check_after(lab, guests)
    return lab


def _switch(key: str, node: _Node) -> SwitchSpec:
    mark = node.mark()
    with node.collect():
        _key_name(node, key, "switch", MEMBER_RE)
    opts = node.mapping(("hub", "learning", "capture"))
    hub = learning = False
    capture = 0
    if "hub" in opts:
        with node.collect():
            hub = opts["hub"].boolean()
    if "learning" in opts:
        with node.collect():
            learning = opts["learning"].boolean()
            if hub and learning:
                raise opts["learning"].error("a hub does not learn: give hub or learning, not both")
    if "capture" in opts:
        with node.collect():
            capture = _capture_size(opts["capture"])
    node.settle(mark)
    return SwitchSpec(key, hub=hub, learning=learning, capture=capture)


def _kernel_pin(node: _Node, base: Path) -> str:
    """``kernel:``: a version or release umltui knows (``7.2um1``, ``6.1.176``), or a kernel's
    path (relative to the lab's folder when it holds a ``/``)."""
    value = node.scalar()
    if "/" in value:
        path = node.file_path(base)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise node.error(f"{str(path)!r} is not an executable UML kernel")
        return str(path)
    if not re.fullmatch(r"[0-9][A-Za-z0-9.+~_-]{0,40}", value):
        raise node.error(f"{value!r}: give a kernel version such as 7.2um1 (umltui kernel ls) or a kernel's path")
    return value


def _cidr(node: _Node) -> str:
    value = node.scalar()
    try:
        iface = ipaddress.ip_interface(value)
    except ValueError:
        raise node.error(f"{value!r} is not an IP address with a prefix, such as 10.0.0.1/24") from None
    if "/" not in value:
        raise node.error(f"{value!r} needs a prefix length, such as {value}/24")
    return str(iface)


def _guest(lab: Lab, name: str, node: _Node, base: Path) -> GuestSpec:
    fields = node.mapping(
        (
            "mem",
            "consoles",
            "root",
            "nics",
            "disks",
            "hostfs",
            "startup",
            "shutdown",
            "umid",
            "login",
            "kernel_args",
            "kernel",
            "files",
            "after",
            "sysctl",
        )
    )
    spec = GuestSpec(name=name, umid=f"{lab.name}-{name}", kernel=lab.kernel)
    if "kernel" in fields:
        with node.collect():
            spec.kernel = _kernel_pin(fields["kernel"], base)
    # Each field on its own: a wrong one is kept (node.collect) and the others are read on.
    if "umid" in fields:
        with node.collect():
            spec.umid = fields["umid"].name("umid")
    if "mem" in fields:
        with node.collect():
            spec.mem = _mem(fields["mem"])
    if "consoles" in fields:
        with node.collect():
            spec.consoles = fields["consoles"].integer(1, MAX_CONSOLES)
    if "login" in fields:
        with node.collect():
            login = fields["login"].scalar()
            if login not in ("auto", "prompt"):
                raise fields["login"].error(f"{login!r}: use auto (a root shell at once) or prompt (login: root)")
            spec.login = login
    if "root" in fields:
        with node.collect():
            spec.root = _root(fields["root"], base)
    for nic_name, nic_node in _entries(fields, "nics"):
        with node.collect():
            spec.nics.append(_nic(lab, nic_name, nic_node))
    for disk_name, disk_node in _entries(fields, "disks"):
        with node.collect():
            m = re.fullmatch(r"ubd(\d+)", disk_name)
            mark = node.mark()
            with node.collect():
                if not m or not 1 <= int(m.group(1)) <= 15:
                    raise disk_node.error(f"disk name {disk_name!r}: use ubd1 to ubd15 (ubd0 is the root)")
            disk = _disk(disk_name, disk_node, base)
            node.settle(mark)
            spec.disks.append(disk)
    for mount, host_node in _entries(fields, "hostfs"):
        with node.collect():
            if not mount.startswith("/") or re.search(r"[\s\0]", mount):
                raise host_node.error(f"mount point {mount!r} must be an absolute guest path")
            host = host_node.file_path(base)
            if not host.is_dir():
                raise host_node.error(f"{str(host)!r} is not a folder")
            spec.hostfs[mount] = host
    if "startup" in fields:
        with node.collect():
            spec.startup = fields["startup"].text()
    if "shutdown" in fields:
        with node.collect():
            spec.shutdown = fields["shutdown"].text()
    if "kernel_args" in fields:
        with node.collect():
            spec.kernel_args = _kernel_args(fields["kernel_args"])
    _netkit_habits(spec, fields, node, base)
    return spec


def _netkit_habits(spec: GuestSpec, fields: dict[str, _Node], node: _Node, base: Path) -> None:
    """``files``, ``after`` and ``sysctl``: what a Netkit or Kathará lab's guest is given."""
    if "files" in fields:
        with node.collect():
            for child in fields["files"].sequence("a list of folders copied over the guest's / at boot"):
                with node.collect():
                    folder = child.file_path(base)
                    if not folder.is_dir():
                        raise child.error(f"{str(folder)!r} is not a folder")
                    spec.files.append(folder)
    if "after" in fields:
        with node.collect():
            for child in fields["after"].sequence("a list of the lab's guests booted before this one"):
                with node.collect():
                    spec.after.append(child.name("guest", MEMBER_RE))
    if "sysctl" in fields:
        with node.collect():
            for key, value in fields["sysctl"].mapping().items():
                with node.collect():
                    if not SYSCTL_RE.fullmatch(key):
                        raise value.error(f"{key!r} is not a kernel setting such as net.ipv4.ip_forward")
                    text = value.scalar()
                    if not re.fullmatch(r"[^\s\0]{1,200}", text):
                        raise value.error(f"{text!r}: one word, such as 1")
                    spec.sysctl[key] = text


SYSCTL_RE = re.compile(r"[a-z0-9_]+(\.[A-Za-z0-9_-]+)+")


def _check_after(lab: Lab, guests: dict[str, _Node]) -> None:
    """``after:`` names guests of this lab, and no guest waits (through others) for itself."""
    for name, spec in lab.guests.items():
        for other in spec.after:
            if other not in lab.guests:
                with guests[name].collect():
                    raise guests[name].error(f"after: no guest {other!r} in this lab")
        spec.after = [other for other in spec.after if other in lab.guests]
    state: dict[str, int] = {}

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            loop = trail[trail.index(name) :] + [name]
            raise guests[name].error(f"after: the guests wait for each other in a circle: {' -> '.join(loop)}")
        state[name] = 1
        for other in lab.guests[name].after:
            visit(other, [*trail, name])
        state[name] = 2

    for name in lab.guests:
        visit(name, [])


def _mem(node: _Node) -> str:
    mem = node.scalar().upper()
    if not MEM_RE.fullmatch(mem):
        raise node.error(f"{node.scalar()!r} is not a memory size such as 64M")
    return mem


def _entries(fields: dict[str, _Node], key: str) -> list[tuple[str, _Node]]:
    """The entries of a mapping field (none if it is missing, or wrong: that is kept as a problem)."""
    if key not in fields:
        return []
    with fields[key].collect():
        return list(fields[key].mapping().items())
    return []


def _kernel_args(args_node: _Node) -> list[str]:
    if not isinstance(args_node.node, yaml.SequenceNode):
        raise args_node.error("must be a list of kernel words")
    words = []
    for item in args_node.node.value:
        word = args_node.child(item, "[]").scalar()
        if re.search(r"[\s\0]", word):
            raise args_node.child(item, "[]").error(f"{word!r}: one word per item, no spaces")
        words.append(word)
    return words


SUITE_RE = re.compile(r"[a-z][a-z0-9-]{1,30}")
PACKAGE_RE = re.compile(r"[a-z0-9][a-z0-9+.-]+")


def _root(node: _Node, base: Path) -> RootSpec:
    hint = "use busybox, debian, {debian: SUITE, packages: [...]} or {image: PATH, cow: PATH}"
    if isinstance(node.node, yaml.ScalarNode):
        value = node.scalar()
        if value == "busybox":
            return RootSpec("busybox")
        if value == "debian":
            return RootSpec("debian")
        raise node.error(f"{value!r}: {hint}")
    mark = node.mark()
    opts = node.mapping(("image", "cow", "debian", "packages"))
    if "debian" in opts:
        if "image" in opts or "cow" in opts:
            raise opts["debian"].error("give either debian (an image umltui builds) or image: PATH, not both")
        suite = ""
        packages: tuple[str, ...] = ()
        with node.collect():
            suite = opts["debian"].scalar()
            if not SUITE_RE.fullmatch(suite):
                raise opts["debian"].error(f"{suite!r} is not a Debian suite name (bookworm, trixie, ...)")
        if "packages" in opts:
            with node.collect():
                packages = _packages(opts["packages"])
        node.settle(mark)
        return RootSpec("debian", suite=suite, packages=packages)
    if "packages" in opts:
        raise opts["packages"].error("packages go with debian: SUITE (an image umltui builds)")
    if "image" not in opts:
        raise node.error(f"needs image: PATH or debian: SUITE ({hint})")
    image = cow = None
    with node.collect():
        image = opts["image"].file_path(base)
    if "cow" in opts:
        with node.collect():
            cow = opts["cow"].file_path(base, must_exist=False)
    node.settle(mark)
    return RootSpec("image", image, cow)


def _packages(node: _Node) -> tuple[str, ...]:
    if not isinstance(node.node, yaml.SequenceNode):
        raise node.error("must be a list of Debian package names, such as [frr, bind9]")
    mark = node.mark()
    names = []
    for item in node.node.value:
        child = node.child(item, "[]")
        with node.collect():
            name = child.scalar()
            if not PACKAGE_RE.fullmatch(name):
                raise child.error(f"{name!r} is not a Debian package name")
            names.append(name)
    node.settle(mark)
    return tuple(names)


def _disk(name: str, node: _Node, base: Path) -> DiskSpec:
    if isinstance(node.node, yaml.ScalarNode):
        return DiskSpec(name, node.file_path(base))
    mark = node.mark()
    opts = node.mapping(("image", "cow", "readonly"))
    if "image" not in opts:
        raise node.error("needs image: PATH")
    image, cow, readonly = None, None, False
    with node.collect():
        image = opts["image"].file_path(base)
    if "cow" in opts:
        with node.collect():
            cow = opts["cow"].file_path(base, must_exist=False)
    if "readonly" in opts:
        with node.collect():
            readonly = opts["readonly"].boolean()
    node.settle(mark)
    assert image is not None
    return DiskSpec(name, image, cow, readonly)


def _nic(lab: Lab, name: str, node: _Node) -> NicSpec:
    mark = node.mark()
    with node.collect():
        if not re.fullmatch(r"(eth|vec)\d{1,2}", name):
            raise node.error(f"NIC name {name!r}: use ethN (legacy transports) or vecN (vector transports)")
    vector = name.startswith("vec")
    opts = node.mapping(("switch", "tap", "slirp", "vde", "transport", "options", "ip", "mac"))
    kinds = [k for k in ("switch", "tap", "slirp", "vde", "transport") if k in opts]
    kind: str = kinds[0] if len(kinds) == 1 else ""
    with node.collect():
        if not kind:
            raise node.error("give exactly one of switch, tap, slirp, vde or transport")
    # Each field on its own, so that every wrong one is named (not only the first).
    target = ""
    options: tuple[tuple[str, str], ...] = ()
    with node.collect():
        kind, target, options = _nic_transport(lab, kind, vector, opts)
    ip = mac = None
    if "ip" in opts:
        with node.collect():
            ip = _cidr(opts["ip"])
    if "mac" in opts:
        with node.collect():
            mac = _mac(opts["mac"])
    node.settle(mark)
    return NicSpec(name, kind, target, ip, mac, options)


def _mac(node: _Node) -> str:
    mac = node.scalar().lower()
    if not MAC_RE.fullmatch(mac):
        raise node.error(f"{mac!r} is not a MAC address such as 02:00:00:00:00:01")
    # The kernel takes neither (it gives the NIC a random one instead, and says so only in its log).
    if int(mac[:2], 16) & 1:
        raise node.error(f"{mac!r} is a multicast address (the first byte is odd): a NIC's must be unicast")
    if mac == "00:00:00:00:00:00":
        raise node.error(f"{mac!r} is not a NIC's address: use one such as 02:00:00:00:00:01")
    return mac


def _nic_transport(
    lab: Lab, kind: str, vector: bool, opts: dict[str, _Node]
) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    """A NIC's kind, target and vector options, from its one transport field (none: nothing to read)."""
    if kind == "switch":
        target = opts["switch"].scalar()
        if target not in lab.switches:
            known = ", ".join(sorted(lab.switches)) or "none defined"
            raise opts["switch"].error(f"no switch {target!r} in this lab (switches: {known})")
        return "switch", target, ()
    if kind == "tap":
        target = opts["tap"].scalar()
        if not IFNAME_RE.fullmatch(target):
            raise opts["tap"].error(f"{target!r} is not an interface name (up to 15 characters)")
        return "tap", target, ()
    if vector and kind == "slirp":
        raise opts[kind].error("slirp is a legacy transport: use an ethN NIC")
    if kind == "slirp":
        return "slirp", "/usr/bin/slirp", ()
    if kind == "vde":
        return "vde", str(opts["vde"].file_path(Path("/"), must_exist=False)), ()
    if kind != "transport":
        return kind, "", ()
    if not vector:
        raise opts["transport"].error("transport: is for vector NICs (vecN)")
    options = [("transport", opts["transport"].scalar())]
    if "options" in opts:
        for key, value in opts["options"].mapping().items():
            options.append((key, value.scalar()))
    return "vector", "", tuple(options)


def _check_taps(lab: Lab, guests: dict[str, _Node]) -> None:
    for guest in lab.guests.values():
        for nic in guest.nics:
            if nic.kind == "tap" and nic.target not in lab.taps:
                lab.taps[nic.target] = TapSpec(nic.target)
    if lab.taps and not lab.netns and os.geteuid() != 0:
        first = next(iter(lab.taps))
        raise LabError(
            str(lab.path),
            guests[next(iter(guests))].line,
            "netns",
            f"tap {first!r} in the host's own namespace needs root; name a namespace (netns: NAME) or run as root",
        )
