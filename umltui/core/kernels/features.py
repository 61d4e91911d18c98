"""What a kernel of a given release can do on a given host: its NIC transports, whether it
needs the FXSAVE work-round, and so which kinds of root it boots.

Pure functions of the release and :class:`~.host.Host`: nothing is run here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .host import Host
from .record import release_tuple

FPU_SIZED_FROM_XSAVE = (6, 13)
"""Since 6.13 UML sizes its FPU buffer from the host's XSAVE size: it restores FPU state on any CPU."""
LEGACY_NICS_DROPPED = (6, 16)
"""From 6.16 on the legacy ``ethN=`` transports (tuntap, daemon, slirp, vde, ...) are gone; ``vecN:`` stays."""

ROOT_KINDS = ("busybox", "debian", "image")
STATIC_ROOTS = frozenset({"busybox"})
"""Roots whose programs are static and use no AVX: they boot on a kernel with the work-round."""


@dataclass(frozen=True)
class Features:
    """What a kernel can do here; ``why`` has a sentence for each feature it lacks (and for the work-round)."""

    legacy_nics: bool
    vector_nics: bool
    needs_fpu_workaround: bool
    boots_glibc: bool
    why: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Boot:
    """Whether a kernel boots a kind of root here, and how."""

    ok: bool
    workaround: bool = False
    """It boots only through the FXSAVE work-round (hostfpu)."""
    why: str = ""
    """Why not, or why only with the work-round."""


def features(release: str, host: Host) -> Features:
    """What a kernel of ``release`` (``6.1.176``, ``7.2.7``) can do on ``host``."""
    version = release_tuple(release)
    why: dict[str, str] = {}
    legacy = bool(version) and version < LEGACY_NICS_DROPPED
    if not legacy:
        why["legacy_nics"] = (
            f"kernel {release} has no legacy ethN= transports (dropped in 6.16): its NICs are vecN: only"
        )
    workaround = host.restore_fails and (not version or version < FPU_SIZED_FROM_XSAVE)
    if workaround:
        why["needs_fpu_workaround"] = (
            f"kernel {release} (before 6.13) cannot restore a guest's FPU state on this CPU (AVX-512, PKU or AMX) "
            "without umltui's FXSAVE work-round"
        )
        why["boots_glibc"] = (
            f"kernel {release} needs the FXSAVE work-round on this CPU, and with it glibc programs and systemd "
            "still die (only static busybox survives): use kernel 6.13 or newer (umltui kernel get)"
        )
    return Features(
        legacy_nics=legacy, vector_nics=True, needs_fpu_workaround=workaround, boots_glibc=not workaround, why=why
    )


def boots(release: str, root_kind: str, host: Host) -> Boot:
    """Whether a kernel of ``release`` boots a root of ``root_kind`` (busybox, debian, image) on ``host``."""
    f = features(release, host)
    if root_kind in STATIC_ROOTS:
        if f.needs_fpu_workaround:
            return Boot(ok=True, workaround=True, why=f.why["needs_fpu_workaround"])
        return Boot(ok=True)
    if not f.boots_glibc:
        return Boot(ok=False, why=f.why["boots_glibc"])
    return Boot(ok=True)
