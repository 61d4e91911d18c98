"""What umltui puts into every image: the guest files (:mod:`..guestfiles`) and where each goes.

Everything that makes an image a umltui guest is put in by a customize hook
(``guestfiles/debian/customize.sh``), inside mmdebstrap's own namespace, so files keep
their owners in both modes: the UML kernel's modules, ``fstab`` on ``/dev/ubda``, and
three small parts that read this boot's settings from the host at boot:

- the kernel's ``init=`` is umltui's pre-init (``/usr/lib/umltui/preinit``): it mounts the
  guest's own boot folder from the host (hostfs, read-only; ``umltui.boot=PATH``), copies
  the lab's ``files`` folders over ``/`` (following the root's links: ``/lib`` stays a
  link), names the NICs as the lab does, then starts systemd as pid 1. A pre-init, not a
  systemd generator: the copy must be done before systemd reads any unit (a lab's folder
  brings units), and a generator is for writing units, run in a sandbox of systemd's;
- a systemd generator starts a getty on each console the kernel command line asks for
  (``umltui.consoles=N``), with root logged in at once when it says ``umltui.login=auto``;
- ``umltui-boot.service`` (before the network's units) runs what :mod:`..rootfs` wrote for
  this boot: the NIC addresses, the hostfs mounts, the kernel settings (``sysctl``);
- ``umltui-startup.service`` runs the lab's startup once multi-user.target is reached (as
  Netkit's phase two: a startup may ``systemctl start`` any unit), then says it is ready;
  at halt it runs the lab's shutdown, bounded;
- a lab written for Quagga runs on FRR: ``quagga.service`` and ``/etc/init.d/quagga`` start
  FRR, whose files the pre-init makes from ``/etc/quagga`` (``quagga-to-frr.sh``), and
  the services of the packages a lab asks for start only when its startup says;
- the agent (:mod:`..agent`) on the first serial line.

So one image serves every guest and every lab: what differs per guest is written on
the host before each boot, and each guest writes only to its own COW file. Every text
here is part of the image's key (:func:`guest_parts`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
from pathlib import Path
from typing import Any

from .. import guestfiles
from ..agent import READY_WORD
from ..lab import PACKAGE_RE
from ..rootfs import SHUTDOWN_SECONDS

MARKER = "etc/umltui/image.json"  # inside an image: what it was built from
PREINIT_PATH = "/usr/lib/umltui/preinit"
HOOK = "debian/customize.sh"
DEV_NODES = "debian/dev-nodes.debugfs"

# In the image -> (guest file, mode). The folder of a file in debian/ says nothing of
# where it goes: this table does.
_PLACES = {
    "etc/fstab": ("debian/fstab", 0o644),
    "etc/network/interfaces": ("debian/interfaces", 0o644),
    "etc/systemd/journald.conf.d/umltui.conf": ("debian/journald.conf", 0o644),
    "etc/systemd/system/umltui-boot.service": ("debian/umltui-boot.service", 0o644),
    "etc/systemd/system/umltui-startup.service": ("debian/umltui-startup.service", 0o644),
    "etc/systemd/system/umltui-agent.service": ("debian/umltui-agent.service", 0o644),
    "etc/systemd/system/umltui-getty@.service": ("debian/umltui-getty@.service", 0o644),
    "usr/lib/systemd/system-generators/umltui-consoles": ("debian/consoles-generator.sh", 0o755),
    PREINIT_PATH.lstrip("/"): ("debian/preinit.sh", 0o755),
    "usr/lib/umltui/boot": ("debian/boot.sh", 0o755),
    "usr/lib/umltui/startup": ("debian/startup.sh", 0o755),
    "usr/lib/umltui/shutdown": ("debian/shutdown.sh", 0o755),
    "usr/lib/umltui/quagga-to-frr": ("debian/quagga-to-frr.sh", 0o755),
    "usr/lib/umltui/quagga": ("debian/quagga-init.sh", 0o755),
    "etc/umltui/agent": ("agent.sh", 0o755),
}

# The only substitutions: the word a guest says when its boot is done, and how long the
# lab's shutdown may take.
_VALUES: dict[str, dict[str, object]] = {
    "debian/startup.sh": {"READY_WORD": READY_WORD},
    "debian/umltui-startup.service": {"SHUTDOWN_SECONDS": SHUTDOWN_SECONDS},
}


def overlay_files() -> dict[str, tuple[str, int]]:
    """Every file umltui puts into an image: path in the image -> (text, mode)."""
    files = {rel: (guestfiles.render(name, **_VALUES.get(name, {})), mode) for rel, (name, mode) in _PLACES.items()}
    files["etc/hostname"] = ("umltui\n", 0o644)
    return files


def guest_parts() -> str:
    """Everything umltui writes into an image, as one hash (part of the image's key): the
    overlay's files, the customize hook and the device nodes it makes."""
    texts = [f"{rel}\0{mode:o}\0{text}" for rel, (text, mode) in sorted(overlay_files().items())]
    texts += [guestfiles.text(HOOK), guestfiles.text(DEV_NODES)]
    return hashlib.sha256("\0".join(texts).encode()).hexdigest()


def write_overlay(root: Path, marker: dict[str, Any]) -> None:
    """The files every image gets, as a folder the customize hook copies over the root;
    ``marker`` is what the image records of itself (:data:`MARKER`)."""
    files = overlay_files()
    files[MARKER] = (json.dumps(marker, indent=2) + "\n", 0o644)
    for rel, (text, mode) in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        os.chmod(path, mode)


def write_hook(
    work: Path,
    *,
    overlay: Path,
    modules_dir: Path,
    version: str,
    image: Path,
    size: str,
    unshare: bool = False,
    dormant: tuple[str, ...] = (),
) -> str:
    """Write the customize hook and its settings into ``work``; the ``--customize-hook`` that runs it.

    ``unshare``: the hook writes the image into the root, for mmdebstrap's ``download`` hook
    to bring out (the namespace's root cannot write into the user's folder). ``dormant``:
    the packages whose services start only when a lab's startup says.
    """
    hook = work / "customize.sh"
    hook.write_text(guestfiles.text(HOOK))
    nodes = work / "dev-nodes.debugfs"
    nodes.write_text(guestfiles.text(DEV_NODES))
    settings = {
        "modules": str(modules_dir),
        "version": version,
        "overlay": str(overlay),
        "nodes": str(nodes),
        "image": str(image),
        "size": size,
        "unshare": "yes" if unshare else "no",
        "dormant": " ".join(p for p in dormant if PACKAGE_RE.fullmatch(p)),
    }
    env = work / "customize.env"
    env.write_text("".join(f"{key}={shlex.quote(value)}\n" for key, value in settings.items()))
    return f'sh {shlex.quote(str(hook))} "$1" {shlex.quote(str(env))}'
