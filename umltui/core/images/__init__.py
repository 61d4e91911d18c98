"""Debian root images: built once with mmdebstrap, cached by what went into them, shared copy-on-write.

An image is a sparse ext4 file made by ``mke2fs -d`` from a folder that ``mmdebstrap``
filled: no loop mount, and no root beyond what mmdebstrap's mode needs (``root`` as root,
``unshare`` otherwise). What makes it a umltui guest is in :mod:`.contents`.

An image lives in ``CACHE/images/KEY/`` as ``root.img`` (read-only, so its mtime, which
every COW file over it records, never changes) and ``image.json``. The key is a hash of
the suite, the packages, the size, the kernel modules' version and every file umltui puts
in: the same request is built once, and an older umltui's image is never taken for it.
Nothing here imports Textual; builds report progress through a callback.

One module per job: :mod:`.recipe` (what an image is made of, its key), :mod:`.contents`
(what umltui puts in), :mod:`.cache` (built images on disk), :mod:`.cow` (COW files over an
image, and merging them), :mod:`.builder` (running mmdebstrap). This module only gathers the
names the rest of umltui uses.
"""

from __future__ import annotations

from .builder import STAGES, Progress, ProgressCallback, build, check_builder
from .cache import Image, find_image, images_dir, list_images, lookup, remove_image
from .contents import MARKER, PREINIT_PATH
from .cow import CowHeader, check_cow, guests_using, has_preinit, is_umltui_image, merge, read_cow_header
from .recipe import (
    DEFAULT_PACKAGES,
    DEFAULT_SIZE,
    DEFAULT_SUITE,
    FALLBACK_MIRROR,
    MODULES_ROOT,
    RECIPE_VERSION,
    ImageError,
    Recipe,
    host_mirror,
    modules_version,
    size_bytes,
)

__all__ = [
    "DEFAULT_PACKAGES",
    "DEFAULT_SIZE",
    "DEFAULT_SUITE",
    "FALLBACK_MIRROR",
    "MARKER",
    "MODULES_ROOT",
    "PREINIT_PATH",
    "RECIPE_VERSION",
    "STAGES",
    "CowHeader",
    "Image",
    "ImageError",
    "Progress",
    "ProgressCallback",
    "Recipe",
    "build",
    "check_builder",
    "check_cow",
    "find_image",
    "guests_using",
    "has_preinit",
    "host_mirror",
    "images_dir",
    "is_umltui_image",
    "list_images",
    "lookup",
    "merge",
    "modules_version",
    "read_cow_header",
    "remove_image",
    "size_bytes",
]
