"""UML COW files over an image: their header, the check before a boot, and merging one into a new image."""

from __future__ import annotations

import contextlib
import shutil
import struct
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from ... import locations
from .contents import MARKER, PREINIT_PATH
from .recipe import ImageError

_COW_V3 = struct.Struct(">IIIQIII4096s")
COW_MAGIC = 0x4F4F4F4D  # "OOOM"


@dataclass(frozen=True)
class CowHeader:
    """What a UML COW file (version 3) records of the image below it."""

    backing: str
    mtime: int
    size: int


def read_cow_header(path: Path) -> CowHeader:
    """The backing file a COW file was made over, and that file's mtime and size then.

    Raises:
        ImageError: not a COW file UML writes (version 3), or unreadable.
    """
    try:
        with open(path, "rb") as f:
            raw = f.read(_COW_V3.size)
    except OSError as exc:
        raise ImageError(f"{path}: {exc.strerror}") from None
    if len(raw) < _COW_V3.size:
        raise ImageError(f"{path} is not a UML COW file (too short)")
    magic, version, mtime, size, _sector, _align, _fmt, backing = _COW_V3.unpack(raw)
    if magic != COW_MAGIC or version != 3:
        raise ImageError(f"{path} is not a UML COW file of version 3")
    return CowHeader(backing.split(b"\0", 1)[0].decode(errors="replace"), mtime, size)


def check_cow(cow: Path, base: Path) -> None:
    """Refuse to boot a COW file over an image other than the one it was made over.

    UML would otherwise fail to mount the root, or show blocks of one image over another.

    Raises:
        ImageError: the COW names another image, or the image changed since.
    """
    if not cow.exists():
        return
    header = read_cow_header(cow)
    if Path(header.backing) != base:
        raise ImageError(
            f"{cow} was made over {header.backing}, not over {base} (the lab's image changed): "
            "take the guest down with --clean to start again from the new image, "
            "or `umltui image merge` it first to keep its files"
        )
    st = base.stat()
    if int(st.st_mtime) & 0xFFFFFFFF != header.mtime or st.st_size != header.size:
        made = time.strftime("%Y-%m-%d %H:%M", time.localtime(header.mtime))
        raise ImageError(
            f"{base} changed since {cow} was made over it (then: {header.size} bytes, modified {made}): "
            "booting would mix blocks of two images; take the guest down with --clean to start again"
        )


def guests_using(image: Path) -> list[str]:
    """The guests (umids) whose COW file lies over ``image``."""
    users = []
    for cow in sorted((locations.state_dir() / "guests").glob("*/root.cow")):
        with contextlib.suppress(ImageError):
            if Path(read_cow_header(cow).backing) == image:
                users.append(cow.parent.name)
    return users


def merge(cow: Path, output: Path) -> None:
    """Fold ``cow`` and the image below it into a new standalone image at ``output`` (``uml_moo``).

    Raises:
        ImageError: uml_moo is missing or failed, or ``output`` exists.
    """
    header = read_cow_header(cow)
    check_cow(cow, Path(header.backing))
    moo = shutil.which("uml_moo")
    if moo is None:
        raise ImageError("uml_moo is missing: install Debian's uml-utilities (apt-get install uml-utilities)")
    if output.exists():
        raise ImageError(f"{output} exists: give another -o, or remove it first")
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.part")
    try:
        proc = subprocess.run([moo, str(cow), str(tmp)], capture_output=True, text=True, timeout=1800)
        if proc.returncode:
            raise ImageError(f"uml_moo failed: {(proc.stderr or proc.stdout).strip()[-500:]}")
        tmp.rename(output)
    finally:
        tmp.unlink(missing_ok=True)


def is_umltui_image(path: Path) -> bool:
    """Whether an image file was built by umltui (it has our boot parts), read with debugfs."""
    return _image_has(path, MARKER)


def has_preinit(path: Path) -> bool:
    """Whether an image of ours has the pre-init (one built, or merged from one built, before
    it had none: it boots straight into systemd, and a lab's ``files`` are not copied)."""
    return _image_has(path, PREINIT_PATH.lstrip("/"))


def _image_has(path: Path, rel: str) -> bool:
    debugfs = shutil.which("debugfs") or "/sbin/debugfs"
    try:
        proc = subprocess.run([debugfs, "-R", f"stat /{rel}", str(path)], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0 and "Inode:" in proc.stdout
