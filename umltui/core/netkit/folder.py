"""A Netkit or Kathará lab folder into the umltui lab model, as Netkit would boot it.

What each part becomes (the README's "Coming from Netkit or Kathará" says it for users):

- ``MACHINE[N]=DOMAIN`` (or ``DOMAIN/MAC``): NIC ``ethN`` on a **hub** named ``DOMAIN``
  (Netkit's collision domains pass every frame to every port).
- Machines: the lab's subfolders (not ``shared``, ``_test`` or hidden ones) and the names
  ``lab.conf`` uses, or ``LAB_MACHINES`` when given (Netkit-JH). Each is a guest
  ``LAB-MACHINE`` booting the lab's one Debian image (:mod:`.packages`).
- ``shared/`` then ``MACHINE/`` are copied over the guest's ``/`` (``files``);
  ``shared.startup`` then ``MACHINE.startup`` then Kathará's ``exec`` lines run at boot,
  each ``.startup`` in a bash of its own as Netkit runs them; ``MACHINE.shutdown`` then
  ``shared.shutdown`` at halt. The folder is ``/hostlab`` in every guest.
- ``lab.dep`` orders the boot (``after``); every guest forwards IPv4, as Netkit's did.
- Options: ``mem`` (Netkit: MB; Kathará: ``128m``), ``image``, ``exec``, ``sysctl``,
  ``ipv6``, ``num_terms``; Netkit's ``tap,TAP,GUEST`` lines are taps in a namespace of the
  lab's own (``nk-LAB``), never the host's. Docker-only options and Netkit's UML options
  that umltui sets itself are warned about once each (:attr:`Lab.warnings`), never errors.

Every error is collected (file, line, field) and raised at once; nothing is started here.
"""

from __future__ import annotations

import ipaddress
import os
import re
import stat
from pathlib import Path

from ..lab import (
    MAX_CONSOLES,
    MEMBER_RE,
    SYSCTL_RE,
    GuestSpec,
    Lab,
    LabError,
    LabErrors,
    NicSpec,
    RootSpec,
    SwitchSpec,
    TapSpec,
)
from ..protocol import natural_key
from .labconf import RESERVED, LabConf, parse_labconf, parse_labdep
from .ltest import test_script
from .packages import BASE, hinted_packages, image_packages

MAX_TEXT = 1 << 20
MAX_HINT_FILES = 5000  # files of a machine folder looked at for daemons it runs
DEFAULT_MEM = "128M"  # umltui's default: Debian with systemd and FRR fits
DEFAULT_CONSOLES = 1  # Netkit opened one terminal per machine, Kathará's num_terms is 1
# Options of Kathará's Docker containers that mean nothing for a UML guest.
DOCKER_ONLY = (
    "bridged",
    "cpus",
    "entrypoint",
    "env",
    "port",
    "privileged",
    "shell",
    "ulimit",
    "volume",
)
# Netkit's vstart options that umltui decides itself.
UMLTUI_DECIDES = (
    *("kernel", "k", "filesystem", "f", "model-fs", "m", "hostlab", "l", "con0", "con1", "xterm", "append"),
    *("mount", "no-hosthome", "H", "hide-disk-file", "D", "no-cow", "W", "show-boot-log", "debug", "foreground", "F"),
)
# Every guest, as Kathará sets them (Netkit's file system forwarded IPv4 too): routing labs rely on them.
SYSCTLS = {"net.ipv4.ip_forward": "1", "net.ipv4.conf.all.rp_filter": "0", "net.ipv4.conf.default.rp_filter": "0"}


def _read_text(path: Path, errors: list[LabError]) -> str:
    """A lab's text file (CRLF read as LF: labs travel through Windows), or "" if it is wrong."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        errors.append(LabError(str(path), None, "", exc.strerror or str(exc)))
        return ""
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            errors.append(LabError(str(path), None, "", "not a regular file"))
            return ""
        if st.st_size > MAX_TEXT:
            errors.append(LabError(str(path), None, "", f"{st.st_size} bytes: up to {MAX_TEXT}"))
            return ""
        data = os.read(fd, MAX_TEXT + 1)
    finally:
        os.close(fd)
    try:
        return data.decode().replace("\r\n", "\n")
    except UnicodeDecodeError as exc:
        errors.append(LabError(str(path), None, "", f"not UTF-8 text ({exc.reason} at byte {exc.start})"))
        return ""


def lab_name(raw: str) -> str:
    """A valid umltui lab name from ``LAB_NAME`` or the folder's name."""
    name = re.sub(r"[^a-z0-9_-]+", "-", raw.lower()).strip("-_")[:31].strip("-_")
    return name or "lab"


def mem_size(value: str) -> str | None:
    """``mem``: Netkit's MB as a number (``64``), Kathará's ``128m``/``1g``/``512M``; None if neither."""
    m = re.fullmatch(r"(\d{1,7})\s*([bkmgBKMG]?)", value.strip())
    if not m:
        return None
    number, unit = int(m.group(1)), (m.group(2) or "m").upper()
    if unit == "B":
        number, unit = -(-number // (1 << 20)), "M"
    return f"{number}{unit}" if number else None


def read_lab_folder(folder: Path) -> Lab:
    """Read a lab folder (``lab.conf``, ``lab.dep``, machine folders) into a :class:`Lab`.

    Raises:
        LabError: the first problem, or :class:`LabErrors` with every problem found.
    """
    folder = folder.resolve()
    conf_path, dep_path = folder / "lab.conf", folder / "lab.dep"
    errors: list[LabError] = []
    if not folder.is_dir():
        raise LabError(str(folder), None, "", "no such folder")
    if not conf_path.exists() and not dep_path.exists():
        raise LabError(str(folder), None, "", "no lab.conf or lab.dep here: not a Netkit or Kathará lab folder")
    if re.search(r"[\s,\0]", str(folder)):
        raise LabError(str(folder), None, "", "a lab folder whose path has white space or a comma cannot be /hostlab")
    conf = parse_labconf(_read_text(conf_path, errors)) if conf_path.exists() else LabConf()
    errors += [LabError(str(conf_path), p.line, p.field, p.message) for p in conf.errors]
    warnings = [f"{conf_path.name}:{p.line}: " + (f"{p.field}: " if p.field else "") + p.message for p in conf.warnings]

    lab = Lab(name=lab_name(conf.meta.get("LAB_NAME") or folder.name), path=conf_path)
    lab.description = _description(conf.meta)
    for name in _machines(folder, conf, warnings, errors, conf_path):
        lab.guests[name] = GuestSpec(name=name, umid=f"{lab.name}-{name}", mem=DEFAULT_MEM, consoles=DEFAULT_CONSOLES)

    needs: set[str] = set()
    ignored: dict[str, list[str]] = {}
    for name, spec in lab.guests.items():
        _files_and_scripts(folder, spec, errors, needs)
        _interfaces(lab, conf, name, spec, errors, warnings, conf_path)
        for option, value, line in conf.options.get(name, []):
            where = f"{name}[{option}]"
            try:
                _option(spec, option, value, needs, warnings, f"{conf_path.name}:{line}: {where}")
            except ValueError as exc:
                errors.append(LabError(str(conf_path), line, where, str(exc)))
            except KeyError:
                ignored.setdefault(option, []).append(f"{name} (line {line})")
        spec.sysctl = {**SYSCTLS, **spec.sysctl}
        spec.hostfs["/hostlab"] = folder
    for option, machines in sorted(ignored.items()):
        why = (
            "an option of Kathará's Docker containers"
            if option in DOCKER_ONLY
            else "set by umltui itself"
            if option in UMLTUI_DECIDES
            else "an option umltui does not know"
        )
        warnings.append(f"{conf_path.name}: {option} ({', '.join(machines)}): {why}: ignored")
    root = RootSpec("debian", packages=tuple(sorted(set(BASE) | needs)))
    for spec in lab.guests.values():
        spec.root = root
    if dep_path.exists():
        _dependencies(lab, _read_text(dep_path, errors), dep_path, errors)
    for name, spec in lab.guests.items():
        spec.test_script = test_script(name, [n for n in lab.guests if n != name])
    if not lab.guests and not errors:
        errors.append(LabError(str(conf_path), None, "", "no machines: no subfolders and no MACHINE[N]= lines"))
    lab.warnings = warnings
    unique = list({str(e): e for e in errors}.values())
    if len(unique) == 1:
        raise unique[0]
    if unique:
        raise LabErrors(unique)
    return lab


def _description(meta: dict[str, str]) -> str:
    """LAB_DESCRIPTION, then a line of version, author, e-mail and web page when the lab gives them."""
    by = " ".join(
        part
        for part in (
            f"version {meta['LAB_VERSION']}" if meta.get("LAB_VERSION") else "",
            f"by {meta['LAB_AUTHOR']}" if meta.get("LAB_AUTHOR") else "",
            f"<{meta['LAB_EMAIL']}>" if meta.get("LAB_EMAIL") else "",
            meta.get("LAB_WEB", ""),
        )
        if part
    )
    return "\n".join(part for part in (meta.get("LAB_DESCRIPTION", ""), by) if part)


def _machines(folder: Path, conf: LabConf, warnings: list[str], errors: list[LabError], conf_path: Path) -> list[str]:
    """The machines: ``LAB_MACHINES`` if given, else the subfolders and the names lab.conf uses."""
    if conf.meta.get("LAB_MACHINES"):
        names = [n for n in conf.meta["LAB_MACHINES"].split(",") if n]
        for n in names:
            if not MEMBER_RE.fullmatch(n) or n in RESERVED:
                errors.append(LabError(str(conf_path), None, "LAB_MACHINES", f"{n!r} is not a machine name"))
        for n in conf.machines:
            if n not in names:
                warnings.append(f"{conf_path.name}: {n} is not in LAB_MACHINES: its lines are ignored")
        return [n for n in names if MEMBER_RE.fullmatch(n) and n not in RESERVED]
    names = list(conf.machines)
    for entry in sorted(folder.iterdir()):
        if not entry.is_dir() or entry.name in RESERVED or entry.name.startswith(".") or entry.name in names:
            continue
        if MEMBER_RE.fullmatch(entry.name):
            names.append(entry.name)
        else:
            warnings.append(f"{entry.name}/: not a machine name (letters, digits, '-', '_'): not a machine")
    return sorted(names, key=natural_key)


def _script(label: str, text: str) -> str:
    """A Netkit script as a part of the guest's startup: run by a bash of its own, as Netkit
    runs each (an ``exit`` in one ends only that one), with the text kept as written."""
    end = "UMLTUI_EOF"
    while end in text:
        end += "_"
    body = text if text.endswith("\n") else text + "\n"
    return f"# {label}\nbash -c \"$(cat <<'{end}'\n{body}{end}\n)\" {label}\n"


def _files_and_scripts(folder: Path, spec: GuestSpec, errors: list[LabError], needs: set[str]) -> None:
    name = spec.name
    for sub in ("shared", name):
        if (folder / sub).is_dir():
            spec.files.append(folder / sub)
            needs |= hinted_packages("\n".join(_some_files(folder / sub)))
    startup = [
        (f, _read_text(folder / f, errors)) for f in ("shared.startup", f"{name}.startup") if (folder / f).exists()
    ]
    shutdown = [
        (f, _read_text(folder / f, errors)) for f in (f"{name}.shutdown", "shared.shutdown") if (folder / f).exists()
    ]
    spec.startup = "".join(_script(label, text) for label, text in startup if text.strip())
    spec.shutdown = "".join(_script(label, text) for label, text in shutdown if text.strip())
    for _, text in startup:
        needs |= hinted_packages(text)


def _some_files(folder: Path) -> list[str]:
    """Paths under a machine folder, relative to it (up to :data:`MAX_HINT_FILES`)."""
    found: list[str] = []
    for top, dirs, files in os.walk(folder):
        dirs.sort()
        rel = os.path.relpath(top, folder)
        found += [os.path.join(rel, f) for f in files]
        if len(found) > MAX_HINT_FILES:
            break
    return found


def _interfaces(
    lab: Lab, conf: LabConf, name: str, spec: GuestSpec, errors: list[LabError], warnings: list[str], conf_path: Path
) -> None:
    for index, nic in sorted(conf.nics.get(name, {}).items()):
        if nic.tap is None:
            lab.switches.setdefault(nic.domain, SwitchSpec(nic.domain, hub=True))
            spec.nics.append(NicSpec(f"eth{index}", "switch", nic.domain, mac=nic.mac))
            continue
        try:
            tap_ip, guest_ip = (_address(a) for a in nic.tap)
        except ValueError as exc:
            errors.append(LabError(str(conf_path), nic.line, f"{name}[{index}]", str(exc)))
            continue
        # Netkit made the tap in the host's namespace (and routed it out); umltui never
        # touches the host's network: the tap lives in a namespace of the lab's own.
        lab.netns = ("nk-" + lab.name)[:31].rstrip("-_")
        tap = f"nktap{len(lab.taps)}"
        lab.taps[tap] = TapSpec(tap, ip=tap_ip)
        spec.nics.append(NicSpec(f"eth{index}", "tap", tap, ip=guest_ip))
        note = (
            f"{conf_path.name}:{nic.line}: {name}[{index}]: the tap is {tap} in the namespace {lab.netns}, "
            "not in the host's: the guest reaches that namespace, not the host's network or the Internet"
        )
        warnings.append(note)


def _address(value: str) -> str:
    """Netkit's tap addresses are bare; their network is taken as a /24."""
    try:
        return str(ipaddress.ip_interface(value if "/" in value else value + "/24"))
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address") from None


def _option(spec: GuestSpec, option: str, value: str, needs: set[str], warnings: list[str], where: str) -> None:
    """One ``MACHINE[OPTION]=VALUE``.

    Raises:
        ValueError: a value that is wrong for its option.
        KeyError: an option umltui leaves out (warned about once for the lab).
    """
    option = {"M": "mem", "e": "exec"}.get(option, option)  # vstart's short forms
    if option == "mem":
        mem = mem_size(value)
        if mem is None:
            raise ValueError(f"{value!r} is not a memory size (Netkit: MB, such as 128; Kathará: 128m)")
        spec.mem = mem
    elif option == "image":
        packages = image_packages(value)
        if packages is None:
            warnings.append(
                f"{where}: image {value!r} is not one umltui knows: the machine gets the lab's Debian image"
            )
        else:
            needs.update(packages)
    elif option == "exec":
        spec.startup += f"# exec\n{value}\n"
    elif option == "sysctl":
        key, eq, setting = value.partition("=")
        if not eq or not SYSCTL_RE.fullmatch(key.strip()) or not re.fullmatch(r"[^\s\0]{1,200}", setting.strip()):
            raise ValueError(f"{value!r} is not KEY=VALUE such as net.ipv4.ip_forward=1")
        spec.sysctl[key.strip()] = setting.strip()
    elif option == "ipv6":
        on = value.strip().lower()
        if on not in ("true", "false", "yes", "no", "on", "off", "1", "0"):
            raise ValueError(f"{value!r} is not true or false")
        off = "0" if on in ("true", "yes", "on", "1") else "1"
        spec.sysctl["net.ipv6.conf.all.disable_ipv6"] = off
        spec.sysctl["net.ipv6.conf.default.disable_ipv6"] = off
    elif option == "num_terms":
        if not value.strip().isdigit():
            raise ValueError(f"{value!r} is not a number of terminals")
        terms = int(value)
        if terms > MAX_CONSOLES:
            warnings.append(f"{where}: {terms} terminals: a umltui guest has up to {MAX_CONSOLES} consoles")
        spec.consoles = min(max(terms, 1), MAX_CONSOLES)
    else:
        raise KeyError(option)


def _dependencies(lab: Lab, text: str, dep_path: Path, errors: list[LabError]) -> None:
    """``lab.dep`` into ``after``: unknown machines and waits in a circle are errors."""
    deps, problems = parse_labdep(text)
    errors += [LabError(str(dep_path), p.line, p.field, p.message) for p in problems]
    for machine, (names, line) in deps.items():
        unknown = [n for n in [machine, *names] if n not in lab.guests]
        if unknown:
            errors.append(
                LabError(str(dep_path), line, machine, f"no machine {', '.join(map(repr, unknown))} in this lab")
            )
            continue
        lab.guests[machine].after = [n for n in names if n != machine] or []
        if machine in names:
            errors.append(LabError(str(dep_path), line, machine, "a machine cannot wait for itself"))
    if loop := _circle(lab):
        line = deps[loop[0]][1]
        errors.append(
            LabError(str(dep_path), line, loop[0], "the machines wait for each other in a circle: " + " -> ".join(loop))
        )


def _circle(lab: Lab) -> list[str] | None:
    """A circle of ``after`` waits, as names from and back to one machine; None if there is none."""
    state: dict[str, int] = {}

    def visit(name: str, trail: list[str]) -> list[str] | None:
        if state.get(name) == 1:
            return [*trail[trail.index(name) :], name]
        if state.get(name) == 2:
            return None
        state[name] = 1
        for other in lab.guests[name].after:
            if found := visit(other, [*trail, name]):
                return found
        state[name] = 2
        return None

    for name in lab.guests:
        if found := visit(name, []):
            return found
    return None


__all__ = ["read_lab_folder"]
