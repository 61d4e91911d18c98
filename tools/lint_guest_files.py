"""Lint the files umltui puts into guests (``umltui/core/guestfiles/``): ``make lint`` runs it.

- ``shellcheck`` over every shell script, as shipped (POSIX sh: each says ``#!/bin/sh``);
- ``systemd-analyze verify`` over the image's units as the image gets them (placeholders
  filled), in a throw-away root (``--root``) that holds the image's overlay, so the
  programs they start are there, and the host's own systemd units, so the targets they
  name are (a template is verified as its ``tty1`` instance).

``verify`` exits 0 on an unknown key or a value it cannot parse, and only prints them: any
output at all is a failure here. Run it as ``python -m tools.lint_guest_files``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from umltui.core import guestfiles
from umltui.core.images import contents

HOST_UNITS = Path("/usr/lib/systemd/system")


def _need(tool: str, package: str) -> str:
    found = shutil.which(tool)
    if found is None:
        sys.exit(f"{tool} is missing: install Debian's {package} (make setup does)")
    return found


def shellcheck() -> list[str]:
    scripts = [str(Path(guestfiles.__file__).parent / name) for name in guestfiles.names() if name.endswith(".sh")]
    proc = subprocess.run([_need("shellcheck", "shellcheck"), "-f", "gcc", *scripts], capture_output=True, text=True)
    return [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()] or (
        [f"shellcheck exited with {proc.returncode}"] if proc.returncode else []
    )


def verify_units() -> list[str]:
    analyze = _need("systemd-analyze", "systemd")
    with tempfile.TemporaryDirectory(prefix="umltui-units-") as tmp:
        root = Path(tmp)
        units = []
        for rel, (text, mode) in contents.overlay_files().items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            path.chmod(mode)
            if rel.startswith("etc/systemd/system/") and rel.endswith(".service"):
                units.append(path.name.replace("@.", "@tty1."))
        if HOST_UNITS.is_dir():
            shutil.copytree(HOST_UNITS, root / "usr/lib/systemd/system", symlinks=True)
        (root / "lib").symlink_to("usr/lib")  # as Debian's merged /usr has it
        proc = subprocess.run([analyze, "verify", f"--root={root}", *units], capture_output=True, text=True, cwd=root)
        out = [line.replace(tmp, "") for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
        return out or ([f"systemd-analyze verify exited with {proc.returncode}"] if proc.returncode else [])


def main() -> int:
    problems = shellcheck() + verify_units()
    for line in problems:
        print(line)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
