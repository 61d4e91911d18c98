"""What umltui knows of one kernel, as ``kernel.json`` in its cache folder holds it.

The installed kernel gets the same record, made on the fly (it is not cached), so a
listing and the choice treat both alike.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SOURCES = ("installed", "fetched", "path")


@dataclass(frozen=True)
class KernelRecord:
    """One kernel: where it is, what it is, where it came from."""

    version: str
    """The Debian package's version (``7.2um1``); for a kernel named by path alone, its release."""
    release: str
    """What ``linux.uml --version`` prints (``7.2.7``)."""
    source: str
    """installed (Debian's package on this host), fetched (cached by ``kernel get``) or path (named by a pin)."""
    kernel: str
    """The kernel binary's path."""
    modules: str | None = None
    """Its modules folder (``.../usr/lib/uml/modules/RELEASE``), if it has one."""
    suite: str | None = None
    """The Debian suite it came from (fetched kernels)."""
    patched: bool = False
    """Its interpreter and library path were pointed at a C library fetched with it."""
    size_bytes: int = 0
    """What its cache folder holds (fetched kernels)."""
    fetched_at: float = 0.0
    downloaded_bytes: int = 0
    """What fetching it took from the mirror: package lists and packages."""
    fetch_seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> KernelRecord:
        """A record from its JSON form; unknown keys (a newer umltui's) are ignored.

        Raises:
            ValueError: a field is missing or of the wrong type.
        """
        names = {f.name for f in dataclasses.fields(cls)}
        try:
            record = cls(**{k: v for k, v in data.items() if k in names})
        except TypeError as exc:
            raise ValueError(f"not a kernel record: {exc}") from None
        if not isinstance(record.version, str) or not isinstance(record.release, str):
            raise ValueError("not a kernel record: version and release must be text")
        if record.source not in SOURCES:
            raise ValueError(f"not a kernel record: source {record.source!r}")
        return record

    def write(self, path: Path) -> None:
        """Write the record to ``path`` atomically (a reader sees the old one or the new one)."""
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        tmp.rename(path)

    @classmethod
    def read(cls, path: Path) -> KernelRecord:
        """Raises: OSError, ValueError: no readable record there."""
        data = json.loads(path.read_text())
        if not isinstance(data, dict):
            raise ValueError("not a kernel record")
        return cls.from_json(data)

    @property
    def release_tuple(self) -> tuple[int, ...]:
        return release_tuple(self.release)


def release_tuple(release: str) -> tuple[int, ...]:
    """``7.2.7`` as (7, 2, 7), ``6.12um1`` (a package version) as (6, 12); () when it has no number."""
    m = re.match(r"(\d+(?:\.\d+)*)", release.strip())
    return tuple(int(p) for p in m.group(1).split(".")) if m else ()
