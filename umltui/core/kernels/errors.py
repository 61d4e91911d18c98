"""The kernels package's errors: each message says what to do."""

from __future__ import annotations


class KernelError(Exception):
    """A kernel that cannot be found, read or removed."""


class KernelFetchError(KernelError):
    """``kernel get`` failed: a tool is missing, the mirror cannot be reached, or no suite offers a kernel that fits."""
