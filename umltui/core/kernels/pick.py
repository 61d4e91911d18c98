"""The kernel one guest boots with, as the supervisor and ``up`` need it: a path, its NIC
family, whether it goes through the FXSAVE work-round, and its modules."""

from __future__ import annotations

from dataclasses import dataclass

from .choose import ensure
from .errors import KernelError
from .features import features
from .host import this_host


@dataclass(frozen=True)
class Picked:
    path: str
    release: str
    version: str
    legacy_nics: bool  # it has the ethN= transports (6.15 and older)
    workaround: bool  # boot it through core/hostfpu.py
    modules: str | None  # its modules folder, for images
    warning: str | None = None


def root_kind(kind: str) -> str:
    """A lab's root kind as the kernel choice knows it (``image``: a glibc root of the user's)."""
    return kind if kind in ("busybox", "debian") else "image"


def pick(kind: str, pin: str | None = None) -> Picked:
    """The kernel for a guest whose root is of ``kind``, fetched on first need (may block: run
    it off the event loop).

    Raises:
        KernelError: none can be had, with the reason.
    """
    choice = ensure(root_kind(kind), pin)
    if choice.kernel is None:
        raise KernelError(choice.reason or "no UML kernel boots this root here")
    k = choice.kernel
    return Picked(
        path=k.kernel,
        release=k.release,
        version=k.version,
        legacy_nics=features(k.release, this_host()).legacy_nics,
        workaround=choice.workaround,
        modules=k.modules,
        warning=choice.warning,
    )
