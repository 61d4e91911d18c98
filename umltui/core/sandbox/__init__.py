"""Confines each guest's kernel process, with bubblewrap, to the files its lab grants it."""

from .confine import BWRAP, Grants, SandboxMissing, confine, grants_for, host_path, require_bwrap

__all__ = ["BWRAP", "Grants", "SandboxMissing", "confine", "grants_for", "host_path", "require_bwrap"]
