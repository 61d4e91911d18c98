"""Built images in the cache (``CACHE/images/KEY/``): their ``image.json``, found by recipe, name or key."""

from __future__ import annotations

import dataclasses
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ... import locations
from .recipe import ImageError, Recipe, modules_version


def images_dir() -> Path:
    return locations.cache_dir() / "images"


@dataclass
class Image:
    """One built image, as ``image.json`` describes it."""

    key: str
    name: str
    suite: str
    packages: list[str]
    size: str
    modules: str
    recipe_version: int
    built_at: float
    build_seconds: float = 0.0
    stages: dict[str, float] = field(default_factory=dict)

    @property
    def folder(self) -> Path:
        return images_dir() / self.key

    @property
    def path(self) -> Path:
        return self.folder / "root.img"

    def disk_usage(self) -> tuple[int, int]:
        """(bytes used on disk, apparent size) of the image file."""
        st = self.path.stat()
        return st.st_blocks * 512, st.st_size

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def stale(self) -> bool:
        """Built by another umltui or for another kernel: a lab asking for it today gets a new one."""
        try:
            return Recipe.make(self.suite, self.packages, self.size).key(modules_version()) != self.key
        except ImageError:
            return True


def read_meta(folder: Path) -> Image | None:
    try:
        data = json.loads((folder / "image.json").read_text())
        fields = {f.name for f in dataclasses.fields(Image)}
        image = Image(**{k: v for k, v in data.items() if k in fields})
    except (OSError, ValueError, TypeError):
        return None
    return image if image.path.exists() else None


def list_images() -> list[Image]:
    """Every built image in the cache, by name."""
    if not images_dir().is_dir():
        return []
    found = [img for d in images_dir().iterdir() if d.is_dir() and (img := read_meta(d)) is not None]
    return sorted(found, key=lambda i: (i.name, -i.built_at))


def find_image(recipe: Recipe, modules: str | None = None) -> Image | None:
    """The built image for ``recipe`` with this kernel's modules, if there is one."""
    return read_meta(images_dir() / recipe.key(modules or modules_version()))


def lookup(ref: str) -> Image:
    """An image by name, key, or key prefix.

    Raises:
        ImageError: no such image, or the name is ambiguous.
    """
    images = list_images()
    exact = [i for i in images if ref in (i.name, i.key)]
    matches = exact or [i for i in images if i.key.startswith(ref)]
    if not matches:
        known = ", ".join(sorted({i.name for i in images})) or "none built yet"
        raise ImageError(f"no image {ref!r} (images: {known})")
    if len(matches) > 1:
        raise ImageError(f"{ref!r} names {len(matches)} images; give a key: " + ", ".join(i.key for i in matches))
    return matches[0]


def remove_image(image: Image) -> None:
    shutil.rmtree(image.folder)


def write_meta(folder: Path, image: Image) -> None:
    tmp = folder / "image.json.tmp"
    tmp.write_text(json.dumps(image.to_json(), indent=2) + "\n")
    tmp.rename(folder / "image.json")
