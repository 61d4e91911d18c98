"""``lab.conf`` and ``lab.dep``, both dialects, line by line into plain records.

Netkit (UML) and Kathará (Docker) share the format; where they differ, both are taken:

- Kathará quotes values (``pc1[image]="kathara/frr"``), allows a ``# comment`` after a
  value and ``DOMAIN/MAC``; Netkit does neither, but nothing Netkit accepts reads
  differently here.
- Netkit allows ``-`` in machine names (``web-1[0]=A``); Kathará does not. Both are taken.
- Netkit ignores a line it cannot parse; Kathará refuses it. Such a line (no
  ``NAME[ARG]=VALUE`` shape, not metadata, not a comment) is a **warning** here, naming
  its file and line, so a Netkit lab runs as it did. A line that has the shape but a
  wrong part (a collision domain with a space, a bad MAC, an interface given twice, an
  unclosed quote, a reserved machine name) is an **error**: the lab means something we
  cannot tell.

Nothing here reads a file or knows the model: :mod:`.folder` does both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..lab import MAC_RE, MEMBER_RE

METADATA = ("LAB_NAME", "LAB_DESCRIPTION", "LAB_VERSION", "LAB_AUTHOR", "LAB_EMAIL", "LAB_WEB", "LAB_MACHINES")
RESERVED = ("shared", "_test")  # folders of the lab, never machines

_LINE = re.compile(r"(?P<machine>[^\s\[\]=#]+)\[(?P<arg>[^\]]*)\]\s*=(?P<value>.*)")
_META = re.compile(r"(?P<key>LAB_[A-Z_]+)=(?P<value>.*)")
_OPTION = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_DEP = re.compile(r"(?P<machine>[^\s:#]+)\s*:(?P<deps>[^#]*)(#.*)?")


@dataclass(frozen=True)
class Problem:
    """One thing wrong (or only warned about) in a file: its line and field."""

    line: int
    field: str
    message: str


@dataclass(frozen=True)
class Nic:
    index: int
    line: int
    domain: str = ""  # a collision domain, or "" for a tap
    mac: str | None = None
    tap: tuple[str, str] | None = None  # Netkit's tap,TAP_ADDR,GUEST_ADDR


@dataclass
class LabConf:
    """What a ``lab.conf`` says, in the order it says it."""

    meta: dict[str, str] = field(default_factory=dict)
    machines: list[str] = field(default_factory=list)  # as they first appear
    nics: dict[str, dict[int, Nic]] = field(default_factory=dict)
    options: dict[str, list[tuple[str, str, int]]] = field(default_factory=dict)  # machine -> (option, value, line)
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    def machine(self, name: str) -> None:
        if name not in self.machines:
            self.machines.append(name)


def unquote(raw: str) -> tuple[str, str | None]:
    """A value as Kathará reads it: quoted or not, a ``# comment`` after it dropped.

    Returns:
        The value and, if it cannot be read, why.
    """
    raw = raw.strip()
    if raw[:1] in ('"', "'"):
        end = raw.find(raw[0], 1)
        if end < 0:
            return "", f"the quote {raw[0]} is not closed"
        rest = raw[end + 1 :].strip()
        if rest and not rest.startswith("#"):
            return "", f"{rest!r} after the quoted value (a comment starts with #)"
        return raw[1:end], None
    return re.sub(r"\s+#.*$", "", raw).strip(), None


def parse_labconf(text: str) -> LabConf:
    """Read a ``lab.conf``'s text (see the module's docstring for what is an error)."""
    conf = LabConf()
    for number, raw in enumerate(text.replace("\r\n", "\n").split("\n"), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if m := _META.fullmatch(line):
            key = m.group("key")
            value, why = unquote(m.group("value"))
            if why:
                # Netkit reads a metadata line as it is: a description that runs on is still one.
                value = m.group("value").strip().strip("\"'")
            if key not in METADATA:
                conf.warnings.append(Problem(number, key, "unknown lab metadata, ignored"))
            elif key not in conf.meta:  # Netkit takes the first (sed 0,/^KEY=/)
                conf.meta[key] = value
            continue
        m = _LINE.fullmatch(line)
        if not m:
            conf.warnings.append(
                Problem(number, "", f"{line[:60]!r} is not MACHINE[ARG]=VALUE: ignored (as Netkit does)")
            )
            continue
        machine, arg = m.group("machine"), m.group("arg").strip()
        where = f"{machine}[{arg}]"
        if machine in RESERVED:
            conf.errors.append(Problem(number, where, f"{machine!r} is a folder of the lab, not a machine"))
            continue
        if not MEMBER_RE.fullmatch(machine):
            conf.errors.append(
                Problem(number, where, f"machine name {machine!r}: use letters, digits, '-', '_' and '.' (up to 31)")
            )
            continue
        value, why = unquote(m.group("value"))
        if why:
            conf.errors.append(Problem(number, where, why))
            continue
        conf.machine(machine)
        if arg.isdigit():
            _interface(conf, machine, int(arg), value, number, where)
        elif _OPTION.fullmatch(arg):
            option = arg if len(arg) == 1 else arg.lower()  # (vstart's -M and -m differ)
            conf.options.setdefault(machine, []).append((option, value, number))
        else:
            conf.errors.append(Problem(number, where, f"{arg!r} is neither an interface number nor an option name"))
    return conf


def _interface(conf: LabConf, machine: str, index: int, value: str, number: int, where: str) -> None:
    nics = conf.nics.setdefault(machine, {})
    if index > 99:
        conf.errors.append(Problem(number, where, f"interface {index}: up to eth99"))
        return
    if index in nics:
        conf.errors.append(Problem(number, where, f"eth{index} is given twice (first on line {nics[index].line})"))
        return
    if "," in value:  # Netkit's tap: tap,TAP_ADDRESS,GUEST_ADDRESS (Netkit-JH takes any first word)
        parts = value.split(",")
        if len(parts) != 3 or not all(p.strip() for p in parts[1:]):
            conf.errors.append(Problem(number, where, f"{value!r}: a tap is tap,TAP_ADDRESS,GUEST_ADDRESS"))
            return
        nics[index] = Nic(index, number, tap=(parts[1].strip(), parts[2].strip()))
        return
    domain, _, given = value.partition("/")
    mac = given.strip("/").lower() or None
    if not domain:
        conf.errors.append(Problem(number, where, "no collision domain"))
    elif not MEMBER_RE.fullmatch(domain):
        conf.errors.append(
            Problem(number, where, f"collision domain {domain!r}: use letters, digits, '-', '_' and '.' (up to 31)")
        )
    elif mac is not None and (not MAC_RE.fullmatch(mac) or int(mac[:2], 16) & 1):
        conf.errors.append(Problem(number, where, f"{mac!r} is not a unicast MAC address such as 02:00:00:00:00:01"))
    else:
        nics[index] = Nic(index, number, domain=domain, mac=mac)


def parse_labdep(text: str) -> tuple[dict[str, tuple[list[str], int]], list[Problem]]:
    """``lab.dep``: ``MACHINE: DEP1 DEP2`` lines (a machine starts after those it names).

    Returns:
        Each machine's dependencies with the line that gave them, and the lines that are wrong.
    """
    deps: dict[str, tuple[list[str], int]] = {}
    errors: list[Problem] = []
    for number, raw in enumerate(text.replace("\r\n", "\n").split("\n"), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _DEP.fullmatch(line)
        if not m:
            errors.append(Problem(number, "", f"{line[:60]!r} is not MACHINE: MACHINE..."))
            continue
        machine, names = m.group("machine"), m.group("deps").split()
        if machine in deps:  # make(1) would add them up
            deps[machine][0].extend(n for n in names if n not in deps[machine][0])
        else:
            deps[machine] = (names, number)
    return deps, errors
