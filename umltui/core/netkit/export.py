"""A lab as umltui YAML: what ``umltui import`` writes for a Netkit or Kathará lab folder.

Loading the YAML gives the same lab as loading the folder (the guests, their NICs, hubs,
files, scripts, order and settings); what the folder's ``lab.conf`` asked that umltui
leaves out is written as comments at the top. Paths inside the YAML's folder are written
relative to it, others absolute.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from ..lab import GuestSpec, Lab


class _Dumper(yaml.SafeDumper):
    """Multi-line text (startup scripts) as ``|`` blocks, the way a person writes it."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def _path(path: Path, base: Path) -> str:
    """``path`` relative to ``base`` when inside it (``.`` for ``base`` itself), else absolute."""
    path = path.resolve()
    if path == base or path.is_relative_to(base):
        return os.path.relpath(path, base)
    return str(path)


def _guest(spec: GuestSpec, base: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if spec.root.kind == "debian":
        out["root"] = {"debian": spec.root.suite, "packages": list(spec.root.packages)}
    out["mem"] = spec.mem
    out["consoles"] = spec.consoles
    if spec.nics:
        nics: dict[str, Any] = {}
        for nic in spec.nics:
            entry: dict[str, Any] = {nic.kind: nic.target}
            if nic.ip:
                entry["ip"] = nic.ip
            if nic.mac:
                entry["mac"] = nic.mac
            nics[nic.name] = entry
        out["nics"] = nics
    if spec.hostfs:
        out["hostfs"] = {mount: _path(host, base) for mount, host in spec.hostfs.items()}
    if spec.files:
        out["files"] = [_path(f, base) for f in spec.files]
    if spec.after:
        out["after"] = list(spec.after)
    if spec.sysctl:
        out["sysctl"] = dict(spec.sysctl)
    if spec.startup:
        out["startup"] = spec.startup
    if spec.shutdown:
        out["shutdown"] = spec.shutdown
    return out


def lab_to_yaml(lab: Lab, yaml_path: Path) -> str:
    """The YAML text of ``lab``, for a file at ``yaml_path``."""
    base = yaml_path.resolve().parent
    doc: dict[str, Any] = {"name": lab.name}
    if lab.description:
        doc["description"] = lab.description
    if lab.netns:
        doc["netns"] = lab.netns
    if lab.switches:
        doc["switches"] = {name: {"hub": True} if sw.hub else {} for name, sw in lab.switches.items()}
    if lab.taps:
        doc["taps"] = {name: {"ip": tap.ip} if tap.ip else {} for name, tap in lab.taps.items()}
    doc["guests"] = {name: _guest(spec, base) for name, spec in lab.guests.items()}
    source = lab.path.parent if lab.path else None
    head = [f"# umltui lab imported from {source}" if source else "# umltui lab"]
    head += [f"# warning: {w}" for w in lab.warnings]
    body = yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120)
    return "\n".join(head) + "\n" + body
