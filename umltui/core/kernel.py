"""Finding the UML kernel: ``UMLTUI_KERNEL``, else ``linux.uml`` on the PATH (Debian's package)."""

from __future__ import annotations

import os
import shutil


class KernelMissing(Exception):
    """No runnable UML kernel; the message says which package to install."""


def kernel_path() -> str:
    """The kernel to boot.

    Raises:
        KernelMissing: it is not there or not executable.
    """
    kernel = os.environ.get("UMLTUI_KERNEL") or shutil.which("linux.uml") or "/usr/bin/linux.uml"
    if not os.access(kernel, os.X_OK):
        raise KernelMissing(
            f"the UML kernel {kernel} is missing: install Debian's user-mode-linux (apt-get install user-mode-linux)"
        )
    return kernel
