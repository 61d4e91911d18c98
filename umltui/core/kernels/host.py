"""The facts about this host that decide which kernels can boot what here.

Kept apart from the probing so the choice can be tested with a stand-in host: code that
decides takes a :class:`Host`, and only :func:`this_host` asks the real machine.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass

from .. import hostfpu


@dataclass(frozen=True)
class Host:
    """What a kernel's fitness depends on."""

    restore_fails: bool
    """Kernels before 6.13 cannot restore a guest's FPU state here (AVX-512, PKU or AMX; see hostfpu)."""
    libc: tuple[int, ...] | None
    """The host's glibc version, or None if it is not glibc: a fetched kernel may need a newer one."""


def parse_libc(text: str | None) -> tuple[int, ...] | None:
    """``glibc 2.36`` (as ``confstr`` says it) as (2, 36); None for anything else."""
    m = re.fullmatch(r"glibc (\d+(?:\.\d+)*)", (text or "").strip())
    return tuple(int(p) for p in m.group(1).split(".")) if m else None


def host_libc() -> tuple[int, ...] | None:
    try:
        return parse_libc(os.confstr("CS_GNU_LIBC_VERSION"))
    except (ValueError, OSError):
        return None


@functools.cache
def this_host() -> Host:
    """The real host, asked once per process (the FPU question forks a traced child)."""
    try:
        fails = hostfpu.uml_restore_fails()
    except OSError:
        fails = False
    return Host(restore_fails=fails, libc=host_libc())
