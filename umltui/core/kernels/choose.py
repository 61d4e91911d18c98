"""Which kernel a guest boots with: one that boots its kind of root here without a work-round.

In order: a pinned kernel (a path, or a version or release of one that is here); else the
installed kernel if it boots that root here; else the newest cached one that does; else
none, with the reason, so the caller can fetch one (:func:`ensure` does). Only then, and
only for a static busybox root, may the installed kernel be used with the FXSAVE
work-round, with a warning: the work-round is never chosen for a kernel that does not
need it, since it is a property of the kernel's release and this host (:mod:`.features`).

The host and the kernels can be handed in, so the choice is tested with stand-ins.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from . import identify, store
from .errors import KernelError, KernelFetchError
from .features import ROOT_KINDS, boots
from .host import Host, this_host
from .record import KernelRecord


@dataclass(frozen=True)
class Choice:
    """The kernel a guest gets, or why it gets none."""

    kernel: KernelRecord | None
    workaround: bool = False
    """Boot it through the FXSAVE work-round (``hostfpu.launch``)."""
    warning: str | None = None
    """Something the user should hear (the work-round is in use)."""
    reason: str | None = None
    """Why there is no kernel (``kernel`` is None)."""


def available() -> list[KernelRecord]:
    """The installed kernel (if it starts), then the cached ones, newest first.

    ``UMLTUI_KERNEL`` naming a cached kernel makes that one the installed kernel: it is listed once, as cached.
    """
    cached = store.cached()
    try:
        mine = identify.installed()
    except KernelError:
        mine = None
    if mine is None or any(os.path.realpath(k.kernel) == os.path.realpath(mine.kernel) for k in cached):
        return cached
    return [mine, *cached]


def _label(k: KernelRecord) -> str:
    return f"{k.version} ({k.source}, kernel {k.release})" if k.version != k.release else f"{k.release} ({k.source})"


def _is_path(pin: str) -> bool:
    return os.sep in pin or pin.startswith((".", "~"))


def _pinned(pin: str, kernels: Sequence[KernelRecord]) -> KernelRecord:
    """Raises: KernelError: ``pin`` names no kernel here."""
    if _is_path(pin):
        path = os.path.expanduser(pin)
        real = os.path.realpath(path)
        same = [k for k in kernels if k.kernel == path or os.path.realpath(k.kernel) == real]
        return same[0] if same else identify.describe(path)
    named = [k for k in kernels if pin in (k.version, k.release)]
    if not named:
        known = ", ".join(_label(k) for k in kernels) or "none"
        raise KernelError(f"no kernel {pin!r} here (kernels: {known}); umltui kernel get fetches one")
    return named[0]


def choose(
    root_kind: str,
    pin: str | None = None,
    *,
    workaround_ok: bool = False,
    host: Host | None = None,
    kernels: Sequence[KernelRecord] | None = None,
) -> Choice:
    """The kernel a guest with a root of ``root_kind`` boots with here.

    Args:
        root_kind: busybox (a static root), debian or image (glibc roots).
        pin: a kernel's path, or the version or release of one that is here; it is used
            if it can boot that root (with the work-round if it needs it), else none is.
        workaround_ok: with no pin and no kernel that boots the root as it is, take one
            that boots it through the FXSAVE work-round (a busybox root on the 6.1 kernel).
        host: the host's facts (default: this host's).
        kernels: the kernels to choose from (default: :func:`available`).

    Raises:
        ValueError: ``root_kind`` is not a kind of root.
    """
    if root_kind not in ROOT_KINDS:
        raise ValueError(f"root kind {root_kind!r}: one of {', '.join(ROOT_KINDS)}")
    host = host or this_host()
    kernels = available() if kernels is None else kernels
    if pin:
        try:
            kernel = _pinned(pin, kernels)
        except KernelError as exc:
            return Choice(None, reason=f"the pinned kernel {pin!r}: {exc}")
        boot = boots(kernel.release, root_kind, host)
        if not boot.ok:
            return Choice(
                None, reason=f"the pinned kernel {_label(kernel)} cannot boot a {root_kind} root here: {boot.why}"
            )
        warning = (
            f"kernel {_label(kernel)} boots only with the FXSAVE work-round: {boot.why}" if boot.workaround else None
        )
        return Choice(kernel, workaround=boot.workaround, warning=warning)
    # the installed kernel first, then the newest
    ranked = sorted(kernels, key=lambda k: (k.source != "installed", [-n for n in k.release_tuple]))
    fits = [(k, boots(k.release, root_kind, host)) for k in ranked]
    for kernel, boot in fits:
        if boot.ok and not boot.workaround:
            return Choice(kernel)
    if workaround_ok:
        for kernel, boot in fits:
            if boot.ok:
                return Choice(
                    kernel,
                    workaround=True,
                    warning=(
                        f"booting the {root_kind} root on kernel {_label(kernel)} through the FXSAVE work-round: "
                        "no kernel here boots it without one (umltui kernel get fetches one)"
                    ),
                )
    why = "; ".join(f"{_label(k)}: {b.why}" for k, b in fits) or "there is no kernel here"
    return Choice(None, reason=f"no kernel here boots a {root_kind} root without a work-round ({why})")


def ensure(
    root_kind: str,
    pin: str | None = None,
    *,
    fetch: Callable[[], object] | None = None,
    host: Host | None = None,
    kernels: Callable[[], Sequence[KernelRecord]] = available,
) -> Choice:
    """:func:`choose`, fetching a kernel on first need, and falling back to the work-round when none can be had.

    A pinned kernel is never fetched nor replaced: its choice is returned as it is.

    Args:
        fetch: gets a kernel into the cache, raising KernelFetchError when it cannot
            (default: :func:`.fetch.get` with no progress).
        kernels: what there is to choose from, asked again after a fetch.
    """
    first = choose(root_kind, pin, host=host, kernels=kernels())
    if first.kernel is not None or pin:
        return first
    if fetch is None:
        from .fetch import get

        def fetch() -> object:
            return get()

    try:
        fetch()
    except KernelFetchError as exc:
        fallback = choose(root_kind, workaround_ok=True, host=host, kernels=kernels())
        if fallback.kernel is None:
            return Choice(None, reason=f"{first.reason}; and fetching one failed: {exc}")
        return dataclasses.replace(fallback, warning=f"{fallback.warning}; fetching one failed: {exc}")
    return choose(root_kind, host=host, kernels=kernels())
