"""Debian root images: built once with mmdebstrap, cached by what went into them, shared copy-on-write.

An image is a sparse ext4 file made by ``mke2fs -d`` from a folder that ``mmdebstrap``
filled: no loop mount, and no root beyond what mmdebstrap's mode needs (``root`` as root,
``unshare`` otherwise). Everything that makes it a umltui guest is put in by a
customize hook, inside mmdebstrap's own namespace, so files keep their owners in both
modes: the UML kernel's modules, ``fstab`` on ``/dev/ubda``, and three small parts
that read this boot's settings from the host at boot (see :func:`_overlay_files`):

- the kernel's ``init=`` is umltui's pre-init (``/usr/lib/umltui/preinit``): it mounts the
  guest's own boot folder from the host (hostfs, read-only; ``umltui.boot=PATH``), copies
  the lab's ``files`` folders over ``/`` (following the root's links: ``/lib`` stays a
  link), names the NICs as the lab does, then starts systemd as pid 1. A pre-init, not a
  systemd generator: the copy must be done before systemd reads any unit (a lab's folder
  brings units), and a generator is for writing units, run in a sandbox of systemd's;
- a systemd generator starts a getty on each console the kernel command line asks for
  (``umltui.consoles=N``), with root logged in at once when it says ``umltui.login=auto``;
- ``umltui-boot.service`` (before the network's units) runs what :mod:`rootfs` wrote for
  this boot: the NIC addresses, the hostfs mounts, the kernel settings (``sysctl``);
- ``umltui-startup.service`` runs the lab's startup once multi-user.target is reached (as
  Netkit's phase two: a startup may ``systemctl start`` any unit), then says it is ready;
  at halt it runs the lab's shutdown, bounded;
- a lab written for Quagga runs on FRR: ``quagga.service`` and ``/etc/init.d/quagga`` start
  FRR, whose files the pre-init makes from ``/etc/quagga`` (:data:`QUAGGA_TO_FRR`), and
  the services of the packages a lab asks for start only when its startup says;
- the agent (:mod:`agent`) on the first serial line.

So one image serves every guest and every lab: what differs per guest is written on
the host before each boot, and each guest writes only to its own COW file.

An image lives in ``CACHE/images/KEY/`` as ``root.img`` (read-only, so its mtime, which
every COW file over it records, never changes) and ``image.json``. The key is a hash of
the suite, the packages, the size, the kernel modules' version and every file umltui puts
in: the same request is built once, and an older umltui's image is never taken for it.
Nothing here imports Textual; builds report progress through a callback.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from .. import locations
from .agent import AGENT_SCRIPT, READY_WORD
from .lab import PACKAGE_RE, SUITE_RE, RootSpec
from .process import end_group
from .rootfs import SHUTDOWN_SECONDS

RECIPE_VERSION = 7
DEFAULT_SUITE = "bookworm"
DEFAULT_SIZE = "2G"
# A network lab's tools, and systemd as init (what Netkit's and Kathará's images have).
DEFAULT_PACKAGES = (
    "systemd-sysv",
    "kmod",
    "iproute2",
    "ifupdown",
    "iputils-ping",
    "netbase",
    "tcpdump",
    "procps",
    "less",
    "nano",
    "vim-tiny",
)
MODULES_ROOT = Path("/usr/lib/uml/modules")
MARKER = "etc/umltui/image.json"  # inside an image: what it was built from
SIZE_RE = re.compile(r"(\d+)([MG])")
FALLBACK_MIRROR = "http://deb.debian.org/debian"


class ImageError(Exception):
    """An image that cannot be built, found or used; the message says why and what to do."""


# -- what an image is made of ------------------------------------------------------


@dataclass(frozen=True)
class Recipe:
    """What goes into an image: the key is a hash of this and the kernel modules' version."""

    suite: str = DEFAULT_SUITE
    packages: tuple[str, ...] = ()  # beyond DEFAULT_PACKAGES, sorted, no repeats
    size: str = DEFAULT_SIZE

    @classmethod
    def make(
        cls, suite: str | None = None, packages: list[str] | tuple[str, ...] = (), size: str | None = None
    ) -> Recipe:
        """A checked recipe.

        Raises:
            ImageError: a suite, package or size that is not well formed.
        """
        suite = suite or DEFAULT_SUITE
        if not SUITE_RE.fullmatch(suite):
            raise ImageError(f"{suite!r} is not a Debian suite name (bookworm, trixie, ...)")
        for p in packages:
            if not PACKAGE_RE.fullmatch(p):
                raise ImageError(f"{p!r} is not a Debian package name")
        size = (size or DEFAULT_SIZE).upper()
        m = SIZE_RE.fullmatch(size)
        if not m or size_bytes(size) < 512 << 20:
            raise ImageError(f"size {size!r}: give at least 512M, such as 2G")
        extra = tuple(sorted(set(packages) - set(DEFAULT_PACKAGES)))
        return cls(suite, extra, size)

    @classmethod
    def for_root(cls, root: RootSpec) -> Recipe:
        """The recipe a lab's ``root: debian`` (or ``{debian: SUITE, packages: [...]}``) asks for."""
        return cls.make(root.suite, root.packages)

    @property
    def all_packages(self) -> tuple[str, ...]:
        return (*DEFAULT_PACKAGES, *self.packages)

    def key(self, modules_version: str) -> str:
        """What identifies the image: this recipe, the modules, and every file umltui puts in.

        A change to any of umltui's guest files is a new key, so an image built by an older
        umltui is never taken for a current one.
        """
        text = json.dumps([RECIPE_VERSION, self.suite, self.packages, self.size, modules_version, _guest_parts()])
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def default_name(self) -> str:
        return f"debian-{self.suite}" + ("+" + "+".join(self.packages) if self.packages else "")


def size_bytes(size: str) -> int:
    m = SIZE_RE.fullmatch(size.upper())
    if not m:
        raise ImageError(f"size {size!r}: such as 2G or 1536M")
    return int(m.group(1)) << (30 if m.group(2) == "G" else 20)


def modules_version() -> str:
    """The version of Debian's UML kernel modules (``/usr/lib/uml/modules/VERSION``).

    Raises:
        ImageError: none are installed.
    """
    versions = (
        sorted(p.name for p in MODULES_ROOT.glob("*") if (p / "modules.dep").exists()) if MODULES_ROOT.is_dir() else []
    )
    if not versions:
        raise ImageError(
            f"no UML kernel modules in {MODULES_ROOT}: "
            "install Debian's user-mode-linux (apt-get install user-mode-linux)"
        )
    return versions[-1]


def host_mirror(sources: Path = Path("/etc/apt")) -> str:
    """The Debian mirror the host's apt uses (``deb.debian.org`` if it names none).

    ``UMLTUI_DEBIAN_MIRROR`` overrides it.
    """
    if override := os.environ.get("UMLTUI_DEBIAN_MIRROR"):
        return override
    texts: list[str] = []
    for path in [sources / "sources.list", *sorted((sources / "sources.list.d").glob("*"))]:
        if path.suffix in (".list", ".sources") or path.name == "sources.list":
            with contextlib.suppress(OSError):
                texts.append(path.read_text())
    for text in texts:
        # deb822: "URIs: http://.../debian" in a stanza whose Types has deb
        for stanza in re.split(r"\n\s*\n", text):
            if re.search(r"^Types:.*\bdeb\b", stanza, re.M) and not re.search(r"^Enabled:\s*no", stanza, re.M | re.I):
                for uri in re.findall(r"^URIs:\s*(.+)$", stanza, re.M):
                    for u in uri.split():
                        if _is_debian_archive(u):
                            return str(u).rstrip("/")
        for m in re.finditer(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+\S+", text, re.M):
            if _is_debian_archive(m.group(1)):
                return str(m.group(1)).rstrip("/")
    return FALLBACK_MIRROR


def _is_debian_archive(uri: str) -> bool:
    return uri.startswith(("http://", "https://", "file:/")) and uri.rstrip("/").endswith("/debian")


# -- the cache ---------------------------------------------------------------------


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


def _read_meta(folder: Path) -> Image | None:
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
    found = [img for d in images_dir().iterdir() if d.is_dir() and (img := _read_meta(d)) is not None]
    return sorted(found, key=lambda i: (i.name, -i.built_at))


def find_image(recipe: Recipe, modules: str | None = None) -> Image | None:
    """The built image for ``recipe`` with this kernel's modules, if there is one."""
    return _read_meta(images_dir() / recipe.key(modules or modules_version()))


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


# -- COW files ---------------------------------------------------------------------

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


PREINIT_PATH = "/usr/lib/umltui/preinit"


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


# -- building ----------------------------------------------------------------------

# stage name -> what the user is told
STAGES = {
    "update": "reading the mirror's package lists",
    "download": "downloading packages",
    "extract": "unpacking the essential packages",
    "essential": "installing the essential packages",
    "install": "installing packages",
    "customize": "making it a UML guest",
    "filesystem": "writing the ext4 image",
}
_STAGE_LINES = (
    ("I: running apt-get update", "update"),
    ("I: downloading packages", "download"),
    ("I: extracting archives", "extract"),
    ("I: installing essential packages", "essential"),
    ("I: installing remaining packages", "install"),
    ("umltui-stage: customize", "customize"),
    ("umltui-stage: filesystem", "filesystem"),
)
_NEWLY = re.compile(r"(\d+) newly installed")
_GET = re.compile(r"^Get:\d+ \S+ \S+ \S+ (\S+) ")
_SETUP = re.compile(r"^Setting up ([^ :]+)")


@dataclass
class Progress:
    """One step of a build, for a progress bar: ``stage`` with ``done`` of ``total`` items."""

    stage: str
    done: int = 0
    total: int = 0
    item: str = ""
    stage_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return STAGES.get(self.stage, self.stage)


ProgressCallback = Callable[[Progress], None]


def check_builder() -> list[str]:
    """mmdebstrap's command and mode for this user.

    Raises:
        ImageError: mmdebstrap or mke2fs is missing, or unshare mode has no subordinate ids.
    """
    mmdebstrap = shutil.which("mmdebstrap")
    if mmdebstrap is None:
        raise ImageError("mmdebstrap is missing: install Debian's mmdebstrap (apt-get install mmdebstrap)")
    if shutil.which("mke2fs") is None and not Path("/sbin/mke2fs").exists():
        raise ImageError("mke2fs is missing: install Debian's e2fsprogs (apt-get install e2fsprogs)")
    if os.geteuid() == 0:
        return [mmdebstrap, "--mode=root"]
    user = os.environ.get("USER") or str(os.getuid())
    for table in ("/etc/subuid", "/etc/subgid"):
        try:
            lines = Path(table).read_text().splitlines()
        except OSError:
            lines = []
        if not any(line.split(":", 1)[0] in (user, str(os.getuid())) for line in lines):
            raise ImageError(
                f"building an image without root uses mmdebstrap's unshare mode, which needs subordinate ids "
                f"for {user} in {table}: run  sudo usermod --add-subuids 100000-165535 "
                f"--add-subgids 100000-165535 {user}  (or build as root)"
            )
    return [mmdebstrap, "--mode=unshare"]


def build(
    recipe: Recipe,
    *,
    name: str | None = None,
    mirror: str | None = None,
    progress: ProgressCallback = lambda p: None,
    timeout: float = 3600,
    modules_dir: Path | None = None,
) -> tuple[Image, bool]:
    """The image for ``recipe``, built now if the cache has none; (image, whether it was built).

    ``modules_dir``: the kernel modules it carries (a kernel's ``.../modules/RELEASE``);
    by default the installed kernel's.

    Raises:
        ImageError: the builder is missing, the mirror cannot be reached, a package does
            not exist, the disk is full, or the build failed otherwise. Nothing is left behind.
    """
    modules = modules_dir.name if modules_dir else modules_version()
    key = recipe.key(modules)
    if (found := _read_meta(images_dir() / key)) is not None:
        return _renamed(found, name), False
    command = check_builder()
    with locations.exclusive(images_dir() / ".build.lock"):  # a second build of the key then finds it built
        if (found := _read_meta(images_dir() / key)) is not None:
            return _renamed(found, name), False
        work = Path(tempfile.mkdtemp(prefix=f".build-{key}-", dir=images_dir()))
        try:
            try:
                image = _build_into(
                    work, command, recipe, key, modules, name, mirror or host_mirror(), progress, timeout, modules_dir
                )
            except OSError as exc:  # a failure of our own (the overlay, the log): said as one
                raise _os_failure(exc, work) from None
            final = images_dir() / key
            os.chmod(work / "root.img", 0o444)  # never written again: COW files record its mtime
            os.chmod(work, 0o755)
            work.rename(final)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
    return image, True


def _os_failure(exc: OSError, work: Path) -> ImageError:
    if exc.errno == errno.ENOSPC:
        return ImageError(f"the disk is full ({work.parent}): free some space (a build needs about 1 GB)")
    return ImageError(f"the build failed: {exc}")


def _renamed(image: Image, name: str | None) -> Image:
    if name and name != image.name:
        image.name = name
        _write_meta(image.folder, image)
    return image


def _write_meta(folder: Path, image: Image) -> None:
    tmp = folder / "image.json.tmp"
    tmp.write_text(json.dumps(image.to_json(), indent=2) + "\n")
    tmp.rename(folder / "image.json")


def _build_into(
    work: Path,
    command: list[str],
    recipe: Recipe,
    key: str,
    modules: str,
    name: str | None,
    mirror: str,
    progress: ProgressCallback,
    timeout: float,
    modules_dir: Path | None = None,
) -> Image:
    started = time.monotonic()
    image = Image(
        key=key,
        name=name or recipe.default_name(),
        suite=recipe.suite,
        packages=list(recipe.packages),
        size=recipe.size,
        modules=modules,
        recipe_version=RECIPE_VERSION,
        built_at=time.time(),
    )
    overlay = work / "overlay"
    _write_overlay(overlay, image)
    hook = work / "customize.sh"
    unshare = "--mode=unshare" in command
    hook.write_text(
        _customize_script(
            overlay,
            modules_dir or MODULES_ROOT / modules,
            modules,
            work / "root.img",
            recipe.size,
            unshare=unshare,
            dormant=recipe.packages,
        )
    )
    os.chmod(work, 0o755)  # the unshare mode's root (a subordinate id) reads the hook here
    argv = [
        *command,
        "--variant=minbase",
        "--format=null",
        "--verbose",
        "--include=" + ",".join(recipe.all_packages),
        f'--customize-hook=sh {hook} "$1"',
        *([f"--customize-hook=download /umltui-root.img {work / 'root.img'}"] if unshare else []),
        recipe.suite,
        "/dev/null",
        mirror,
    ]
    env = {**os.environ, "TMPDIR": str(work), "LC_ALL": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive"}
    output = _run_build(argv, env, progress, timeout, work / "build.log")
    image.build_seconds = round(time.monotonic() - started, 1)
    image.stages = output.stage_seconds
    if not (work / "root.img").exists():
        raise ImageError("the build finished without an image: " + output.tail())
    if unshare:  # brought out as a stream: make it sparse again
        subprocess.run(["fallocate", "--dig-holes", str(work / "root.img")], check=False, timeout=600)
    shutil.rmtree(overlay, ignore_errors=True)
    hook.unlink()
    _write_meta(work, image)
    return image


@dataclass
class _BuildOutput:
    lines: list[str] = field(default_factory=list)
    stage_seconds: dict[str, float] = field(default_factory=dict)

    def tail(self, n: int = 8) -> str:
        return " | ".join(line for line in self.lines[-n:] if line.strip())


def _run_build(
    argv: list[str], env: dict[str, str], progress: ProgressCallback, timeout: float, log_path: Path
) -> _BuildOutput:
    """Run mmdebstrap, following its stages for ``progress``; every line goes to ``log_path``."""
    out = _BuildOutput()
    log: TextIO | None = open(log_path, "w")  # noqa: SIM115 (closed below, whatever happens)
    state = Progress("update")
    stage_started = time.monotonic()
    deadline = time.monotonic() + timeout
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    assert proc.stdout is not None
    try:
        progress(state)
        for raw in proc.stdout:
            line = raw.rstrip("\n")
            if log is not None:
                try:
                    log.write(raw)
                except OSError:  # a full disk: the log is lost, not the build's own error
                    log.close()
                    log = None
            out.lines.append(line)
            del out.lines[:-400]
            if time.monotonic() > deadline:
                raise ImageError(f"the build took longer than {timeout:g}s and was stopped")
            stage = next((s for prefix, s in _STAGE_LINES if line.startswith(prefix)), None)
            if stage and stage != state.stage:
                now = time.monotonic()
                out.stage_seconds[state.stage] = round(out.stage_seconds.get(state.stage, 0) + now - stage_started, 1)
                stage_started = now
                state = Progress(stage, total=state.total, stage_seconds=out.stage_seconds)
                progress(state)
                continue
            if m := _NEWLY.search(line):
                state.total = max(state.total, int(m.group(1)))
            m2 = _GET.match(line) if state.stage == "download" else _SETUP.match(line)
            if m2 and state.stage in ("download", "extract", "essential", "install"):
                state.done += 1
                state.item = m2.group(1)
                progress(state)
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    except BaseException:
        end_group(proc, 20)
        raise
    finally:
        if log is not None:
            with contextlib.suppress(OSError):
                log.close()
    out.stage_seconds[state.stage] = round(out.stage_seconds.get(state.stage, 0) + time.monotonic() - stage_started, 1)
    if proc.returncode:
        kept = images_dir() / "last-failed-build.log"
        with contextlib.suppress(OSError):
            shutil.copy(log_path, kept)
        raise ImageError(f"{_explain_failure(out.lines, argv[-1])} (mmdebstrap's output: {kept})")
    return out


def _explain_failure(lines: list[str], mirror: str) -> str:
    text = "\n".join(lines)
    missing = re.findall(r"Unable to locate package (\S+)", text)
    missing += re.findall(r"Package '?([^' ]+)'? has no installation candidate", text)
    if missing:
        names = ", ".join(dict.fromkeys(missing))
        return f"no such package in the suite: {names} (check the name with  apt-cache search)"
    if "No space left on device" in text:
        return "the disk is full: free some space (the build needs about 1 GB) and build again"
    if re.search(r"Could not (resolve|connect)|Failed to fetch|Connection refused|Temporary failure", text):
        return f"cannot reach the Debian mirror {mirror}: check the network or give another with --mirror"
    if re.search(r"Release' does not have a Release file|does not have a Release file|404\s+Not Found", text):
        return f"the mirror {mirror} has no such suite (or is not a Debian mirror)"
    return "mmdebstrap failed: " + " | ".join(line for line in lines[-8:] if line.strip())


# -- what goes into an image -------------------------------------------------------

FSTAB = "# written by umltui: the root is the guest's first UML block device\n/dev/ubda / ext4 defaults 0 0\n"

GENERATOR = r"""#!/bin/sh
# umltui: a getty on each console this boot asks for (umltui.consoles=N on the kernel
# command line; conN is ttyN), root logged in at once with umltui.login=auto.
out="$1"
consoles=0; login=prompt
for word in $(cat /proc/cmdline); do
  case "$word" in
    umltui.consoles=*) consoles="${word#umltui.consoles=}";;
    umltui.login=*) login="${word#umltui.login=}";;
  esac
done
case "$consoles" in [1-6]) ;; *) consoles=0;; esac
mkdir -p "$out/getty.target.wants" "$out/umltui-getty@.service.d"
n=1
while [ "$n" -le "$consoles" ]; do
  ln -sf /etc/systemd/system/umltui-getty@.service "$out/getty.target.wants/umltui-getty@tty$n.service"
  n=$((n + 1))
done
# login: auto starts root's login shell at once, as agetty's own child (no login prompt, no
# PAM session, no script in between: each process costs on a guest's busy first seconds);
# prompt: the usual login, root with no password.
if [ "$login" = auto ]; then
  agetty="/sbin/agetty --skip-login --noissue --nonewline --noclear --nohostname"
  agetty="$agetty --login-program /bin/bash --login-options -l"
  {
    printf '[Service]\nWorkingDirectory=/root\nEnvironment=HOME=/root USER=root LOGNAME=root SHELL=/bin/bash\n'
    printf 'ExecStart=\nExecStart=-%s %%I xterm-256color\n' "$agetty"
  } > "$out/umltui-getty@.service.d/login.conf"
fi
# con1 first: the guest has one CPU, and with login: auto every console starts a shell at
# once while the rest of the boot goes on. The others follow at the usual priority.
if [ "$consoles" -ge 1 ]; then
  mkdir -p "$out/umltui-getty@tty1.service.d"
  printf '[Service]\nNice=-10\nCPUWeight=10000\n' > "$out/umltui-getty@tty1.service.d/first.conf"
fi
"""

# A console's getty needs only this boot's settings, not the rest of the system: the
# stock getty@ waits for udev's coldplug, the network and user sessions (18 s in UML).
GETTY_UNIT = """[Unit]
Description=umltui console %I
DefaultDependencies=no
After=umltui-boot.service
Before=getty.target shutdown.target
Conflicts=shutdown.target rescue.service
IgnoreOnIsolate=yes
ConditionPathExists=/dev/%I

[Service]
ExecStart=-/sbin/agetty --noclear --nohostname %I xterm-256color
Type=simple
Restart=always
RestartSec=0
UtmpIdentifier=%I
StandardInput=tty
StandardOutput=tty
TTYPath=/dev/%I
TTYReset=yes
TTYVHangup=yes
IgnoreSIGPIPE=no
SendSIGHUP=yes
KillMode=process
Environment=TERM=xterm-256color LANG=C.UTF-8
# Beside the other services (not in a slice of their own), so the weight the generator
# gives con1's getty counts against the rest of the boot.
Slice=system.slice
"""

PREINIT = r"""#!/bin/sh
# umltui's pre-init (the kernel's init=), before systemd: the lab's files are copied over
# / (a machine folder may hold units, /etc/network/interfaces, /etc/frr/*.conf: they must
# be there when systemd loads its units), and the NICs take the lab's names (the 7.x
# kernel makes vecN, the lab's files say eth0). Then systemd starts, as this process.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc -o nosuid,nodev,noexec proc /proc
mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
# systemd keeps what it finds mounted: this boot's settings stay at /run/umltui.
mount -t tmpfs -o nosuid,nodev,mode=0755,size=20% tmpfs /run
dir=""
for word in $(cat /proc/cmdline); do
  case "$word" in umltui.boot=*) dir="${word#umltui.boot=}";; esac
done
if [ -n "$dir" ] && mkdir -p /run/umltui && mount -r -t hostfs none /run/umltui -o "$dir"; then
  frr_given=no
  if [ -s /run/umltui/files ]; then
    mkdir -p /run/umltui-files
    while IFS= read -r folder; do
      if mount -r -t hostfs none /run/umltui-files -o "$folder"; then
        [ -e /run/umltui-files/etc/frr ] && frr_given=yes
        # Links of the root (/lib -> usr/lib) are followed, not replaced; files become root's.
        (cd /run/umltui-files && tar -cf - .) |
          tar -xf - -C / --keep-directory-symlink --no-same-owner --no-overwrite-dir ||
          echo "umltui: copying $folder over / failed"
        umount /run/umltui-files
      else
        echo "umltui: cannot mount the lab's folder $folder"
      fi
    done < /run/umltui/files
    rmdir /run/umltui-files
  fi
  if [ -d /etc/quagga ] && [ "$frr_given" = no ]; then /usr/lib/umltui/quagga-to-frr; fi
  # FRR's daemons run as frr: the lab's files (root's now) are theirs, as Kathará makes them.
  if [ "$frr_given" = yes ]; then chown -R frr:frr /etc/frr 2>/dev/null; fi
  while read -r mac name; do
    for d in /sys/class/net/*; do
      if [ "$(cat "$d/address")" = "$mac" ] && [ "${d##*/}" != "$name" ]; then ip link set "${d##*/}" name "$name"; fi
    done
  done < /run/umltui/names
fi
exec /sbin/init "$@"
"""

BOOT_SCRIPT = r"""#!/bin/sh
# umltui: this boot's settings, which umltui wrote on the host in the folder that
# umltui.boot=PATH names (the pre-init mounted it at /run/umltui): addresses, hostfs
# mounts, kernel settings. Before the network's units; the startup comes later.
if ! mountpoint -q /run/umltui; then
  dir=""
  for word in $(cat /proc/cmdline); do
    case "$word" in umltui.boot=*) dir="${word#umltui.boot=}";; esac
  done
  [ -n "$dir" ] || exit 0
  mkdir -p /run/umltui
  mount -r -t hostfs none /run/umltui -o "$dir" || { echo "umltui: cannot mount $dir over hostfs"; exit 1; }
fi
[ -f /run/umltui/hostname ] && cp /run/umltui/hostname /etc/hostname && hostname -F /etc/hostname
[ -f /run/umltui/hosts ] && cp /run/umltui/hosts /etc/hosts
ip link set lo up
. /run/umltui/boot
if [ -s /run/umltui/sysctl ]; then
  while IFS= read -r setting; do
    sysctl -q -w "$setting" || echo "umltui: cannot set $setting"
  done < /run/umltui/sysctl
fi
exit 0
"""

STARTUP_SCRIPT = r"""#!/bin/sh
# umltui: the lab's startup, once the system is up (as Netkit's phase two), as root in
# /root, with bash where the image has it; then: ready; then a lab test's script, in the
# background (it waits for the lab's other machines, which may boot after this one).
status=""
if [ -s /run/umltui/startup ]; then
  shell=sh
  [ -x /bin/bash ] && shell=/bin/bash
  (cd /root && HOME=/root "$shell" /run/umltui/startup) < /dev/null > /var/log/startup.log 2>&1
  status=$?
  echo "umltui: startup script exited with status $status" >> /var/log/startup.log
fi
echo "READY${status:+ startup=$status}" > /proc/sys/kernel/domainname
echo "READY${status:+ startup=$status}" > /proc/mconsole 2>/dev/null
if [ -f /run/umltui/test ]; then
  (cd /root && HOME=/root sh /run/umltui/test) < /dev/null > /var/log/test.log 2>&1 &
fi
exit 0
"""

SHUTDOWN_SCRIPT = r"""#!/bin/sh
# umltui: the lab's shutdown, when the guest halts, before the system goes down.
[ -s /run/umltui/shutdown ] || exit 0
shell=sh
[ -x /bin/bash ] && shell=/bin/bash
(cd /root && HOME=/root "$shell" /run/umltui/shutdown) < /dev/null >> /var/log/shutdown.log 2>&1
echo "umltui: shutdown script exited with status $?" >> /var/log/shutdown.log
exit 0
"""

QUAGGA_TO_FRR = r"""#!/bin/sh
# umltui: a lab written for Quagga (its files in /etc/quagga, not in Debian since 10) runs
# on FRR, which has the same daemons and configuration language. Called by the pre-init
# when the lab's files have /etc/quagga and no /etc/frr: Quagga's per-daemon files become
# FRR's (Quagga.conf, its integrated file, becomes frr.conf), and its daemons file's
# choices go into FRR's. /etc/init.d/quagga and quagga.service start FRR.
q=/etc/quagga
f=/etc/frr
[ -f "$f/daemons" ] || exit 0  # no FRR in this image
integrated=no
for conf in "$q"/*.conf; do
  [ -f "$conf" ] || continue
  case "${conf##*/}" in
    vtysh.conf) ;;
    Quagga.conf) cp "$conf" "$f/frr.conf"; integrated=yes ;;
    *) cp "$conf" "$f/${conf##*/}" ;;
  esac
done
if [ "$integrated" = no ]; then
  # Each daemon reads its own file, as Quagga's did.
  rm -f "$f/frr.conf"
  echo "no service integrated-vtysh-config" > "$f/vtysh.conf"
fi
set_daemon() {
  if grep -q "^$1=" "$f/daemons"; then sed -i "s/^$1=.*/$1=$2/" "$f/daemons"; else echo "$1=$2" >> "$f/daemons"; fi
}
if [ -f "$q/daemons" ]; then
  sed -n 's/^[[:space:]]*\([a-z0-9]*d\)=[[:space:]]*"\{0,1\}\(yes\|no\)"\{0,1\}[[:space:]]*$/\1 \2/p' "$q/daemons" |
    while read -r daemon choice; do
      [ "$daemon" = zebra ] || set_daemon "$daemon" "$choice"  # FRR always runs zebra
    done
else  # Quagga without a daemons file: each daemon that has a file
  for conf in "$f"/*d.conf; do
    daemon="${conf##*/}"; daemon="${daemon%.conf}"
    [ -f "$conf" ] && [ "$daemon" != zebra ] && set_daemon "$daemon" yes
  done
fi
# Quagga's configurations often log to files there.
mkdir -p /var/log/quagga /var/log/zebra /run/quagga
chown -R frr:frr "$f" /var/log/quagga /var/log/zebra /run/quagga 2>/dev/null
chmod 640 "$f"/*.conf 2>/dev/null
exit 0
"""

QUAGGA_INIT = r"""#!/bin/sh
# umltui: Quagga's init script, for labs written for Quagga: FRR runs their daemons.
case "$1" in
  start|stop|restart|reload|status) exec systemctl "$1" frr.service ;;
  force-reload) exec systemctl restart frr.service ;;
  *) echo "Usage: $0 {start|stop|restart|reload|force-reload|status}" >&2; exit 3 ;;
esac
"""

BOOT_UNIT = """[Unit]
Description=umltui: this boot's addresses, mounts and kernel settings
ConditionKernelCommandLine=umltui.boot
DefaultDependencies=no
# On a prepared file system: tmpfiles empties /tmp and makes /run's folders.
After=local-fs.target systemd-tmpfiles-setup.service systemd-sysctl.service
Before=network-pre.target network.target getty.target shutdown.target
Wants=network-pre.target
Conflicts=shutdown.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/lib/umltui/boot
Nice=-5
CPUWeight=1000

[Install]
WantedBy=multi-user.target
"""

# The lab's startup runs once the system is up, as Netkit's phase two did: after every
# unit of multi-user.target (the lab's own among them, and ifupdown's), so a startup that
# says `systemctl start frr` or `ifup eth0` waits for nothing that waits for it. Ordered
# after the target it is wanted by, the target does not wait for it (no loop).
STARTUP_UNIT = """[Unit]
Description=umltui: the lab's startup, then ready
ConditionKernelCommandLine=umltui.boot
After=multi-user.target network.target umltui-boot.service

[Service]
Type=oneshot
RemainAfterExit=yes
TimeoutStartSec=infinity
ExecStart=/usr/lib/umltui/startup
# At halt, while the network and the lab's services still run (they stop after it).
ExecStop=/usr/lib/umltui/shutdown
TimeoutStopSec=SHUTDOWN_SECONDS

[Install]
WantedBy=multi-user.target
"""

AGENT_UNIT = """[Unit]
Description=umltui's agent on the first serial line
ConditionKernelCommandLine=umltui.boot
ConditionPathExists=/dev/ttyS0
DefaultDependencies=no
After=umltui-boot.service
Before=shutdown.target
Conflicts=shutdown.target

[Service]
ExecStart=/etc/umltui/agent
Restart=always
RestartSec=1

[Install]
WantedBy=multi-user.target
"""

JOURNALD = "[Journal]\n# umltui: in memory, so a guest's COW file stays small\nStorage=volatile\nRuntimeMaxUse=16M\n"

# Units that cost boot time and do nothing for a lab guest.
MASKED = (
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "e2scrub_all.timer",
    "e2scrub_reap.service",
    "fstrim.timer",
    "systemd-udev-settle.service",
    "getty-static.service",
    "console-getty.service",
    "serial-getty@ttyS0.service",
    "systemd-pstore.service",
    "systemd-hwdb-update.service",
    "remote-fs.target",
    # udev's coldplug, if a lab adds udev: 20 s of a 2-core machine for two guests, and nothing
    # a lab guest needs waits for it (devtmpfs makes the device nodes).
    "systemd-udev-trigger.service",
    "ifupdown-pre.service",  # udevadm settle before the network; umltui sets the addresses
    "modprobe@fuse.service",
    "modprobe@configfs.service",
    "sys-fs-fuse-connections.mount",
    "sys-kernel-config.mount",
    "sys-kernel-debug.mount",
    "sys-kernel-tracing.mount",
    "dev-hugepages.mount",
    "systemd-journal-flush.service",  # the journal is in memory: nothing to flush
    "systemd-sysusers.service",  # the image's users are made when it is built
    "systemd-remount-fs.service",  # the kernel mounts the root rw with fstab's options
    "systemd-update-utmp-runlevel.service",
    "modprobe@dm_mod.service",
    "modprobe@loop.service",
    "modprobe@drm.service",
    "modprobe@efi_pstore.service",
    # Each a process to start on every guest's boot, 0.3 s of host CPU for the five: a 20-router
    # lab boots them all at once on 2 cores. utmp's boot record (`who`, `last`), a random seed
    # (the kernel's generator is ready before init), and static /dev nodes for modules not
    # loaded yet (none was made in a UML guest here: devtmpfs makes a node when its module loads).
    "systemd-update-utmp.service",
    "systemd-random-seed.service",
    "kmod-static-nodes.service",
    "systemd-tmpfiles-setup-dev.service",
)


# Generators that look for hardware or set-ups a UML guest does not have; each is a
# process to start before systemd starts anything.
NO_GENERATORS = (
    "systemd-getty-generator",  # the consoles' gettys are ours
    "systemd-gpt-auto-generator",
    "systemd-cryptsetup-generator",
    "systemd-veritysetup-generator",
    "systemd-integritysetup-generator",
    "systemd-hibernate-resume-generator",
    "systemd-bless-boot-generator",
    "systemd-system-update-generator",
)


def _guest_parts() -> str:
    """Everything umltui writes into an image, as one text (part of the cache key)."""
    template = _customize_script(Path("OVERLAY"), Path("MODULES"), "VERSION", Path("IMAGE"), "SIZE")
    return hashlib.sha256(("\0".join(text for text, _ in _overlay_files().values()) + template).encode()).hexdigest()


def _overlay_files() -> dict[str, tuple[str, int]]:
    return {
        "etc/fstab": (FSTAB, 0o644),
        "etc/hostname": ("umltui\n", 0o644),
        "etc/network/interfaces": (
            "# umltui sets the lab's addresses at boot\nauto lo\niface lo inet loopback\n",
            0o644,
        ),
        "etc/systemd/journald.conf.d/umltui.conf": (JOURNALD, 0o644),
        "etc/systemd/system/umltui-boot.service": (BOOT_UNIT, 0o644),
        "etc/systemd/system/umltui-startup.service": (
            STARTUP_UNIT.replace("SHUTDOWN_SECONDS", str(SHUTDOWN_SECONDS)),
            0o644,
        ),
        "etc/systemd/system/umltui-agent.service": (AGENT_UNIT, 0o644),
        "etc/systemd/system/umltui-getty@.service": (GETTY_UNIT, 0o644),
        "usr/lib/systemd/system-generators/umltui-consoles": (GENERATOR, 0o755),
        PREINIT_PATH.lstrip("/"): (PREINIT, 0o755),
        "usr/lib/umltui/boot": (BOOT_SCRIPT, 0o755),
        "usr/lib/umltui/startup": (STARTUP_SCRIPT.replace("READY", READY_WORD), 0o755),
        "usr/lib/umltui/shutdown": (SHUTDOWN_SCRIPT, 0o755),
        "usr/lib/umltui/quagga-to-frr": (QUAGGA_TO_FRR, 0o755),
        "usr/lib/umltui/quagga": (QUAGGA_INIT, 0o755),
        "etc/umltui/agent": (AGENT_SCRIPT, 0o755),
    }


def _write_overlay(root: Path, image: Image) -> None:
    """The files every image gets, as a folder the customize hook copies over the root."""
    files = _overlay_files()
    files[MARKER] = (json.dumps({k: v for k, v in image.to_json().items() if k != "stages"}, indent=2) + "\n", 0o644)
    for rel, (text, mode) in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        os.chmod(path, mode)


# The device nodes the kernel and systemd need before devtmpfs is mounted, as debugfs
# commands (mknod needs no privilege there): name, type, major, minor, mode.
_NODES = (
    ("console", 5, 1, 0o600),
    ("null", 1, 3, 0o666),
    ("zero", 1, 5, 0o666),
    ("full", 1, 7, 0o666),
    ("random", 1, 8, 0o666),
    ("urandom", 1, 9, 0o666),
    ("tty", 5, 0, 0o666),
    ("ptmx", 5, 2, 0o666),
)
DEV_NODES = "cd /dev\\n" + "".join(
    f"mknod {n} c {ma} {mi}\\nsif {n} mode 0{0o20000 | m:o}\\n" for n, ma, mi, m in _NODES
)


def _customize_script(
    overlay: Path,
    modules_dir: Path,
    version: str,
    image: Path,
    size: str,
    *,
    unshare: bool = False,
    dormant: tuple[str, ...] = (),
) -> str:
    """The hook's shell script. ``unshare``: the namespace's root (a subordinate id) cannot
    write into the user's folder, so the staging copy goes to /tmp and the image into the
    root itself, and mmdebstrap's ``download`` hook brings it out as the user."""
    stage_parent = "/tmp" if unshare else str(image.parent)
    target = '"$root/umltui-root.img"' if unshare else f"'{image}'"
    masks = " ".join(MASKED)
    nodes = DEV_NODES
    generators = " ".join(NO_GENERATORS)
    dormant_words = " ".join(p for p in dormant if PACKAGE_RE.fullmatch(p))
    return f"""#!/bin/sh
# umltui's customize hook for mmdebstrap: $1 is the new root. Runs inside mmdebstrap's
# namespace, so what it copies is owned by the guest's root in both modes.
set -eu
root="$1"
echo "umltui-stage: customize"
mkdir -p "$root/usr/lib/modules"
cp -R --no-preserve=ownership '{modules_dir}' "$root/usr/lib/modules/{version}"
cp -R --no-preserve=ownership '{overlay}/.' "$root/"
sys="$root/etc/systemd/system"
mkdir -p "$sys/multi-user.target.wants"
ln -sf /etc/systemd/system/umltui-boot.service "$sys/multi-user.target.wants/umltui-boot.service"
ln -sf /etc/systemd/system/umltui-agent.service "$sys/multi-user.target.wants/umltui-agent.service"
ln -sf /etc/systemd/system/umltui-startup.service "$sys/multi-user.target.wants/umltui-startup.service"
# The services of the packages a lab asked for start when its startup says (as in Netkit's
# and Kathará's images): `systemctl start frr`, `/etc/init.d/bind9 start`.
for pkg in {dormant_words}; do
  chroot "$root" dpkg-query -L "$pkg" 2>/dev/null | while IFS= read -r unit; do
    case "$unit" in
      /lib/systemd/system/*.service|/usr/lib/systemd/system/*.service) rm -f "$sys"/*.wants/"${{unit##*/}}" ;;
    esac
  done
done
# Labs written for Quagga: its names start FRR (see /usr/lib/umltui/quagga-to-frr).
if [ -e "$root/lib/systemd/system/frr.service" ]; then
  ln -sf /lib/systemd/system/frr.service "$sys/quagga.service"
  ln -sf /usr/lib/umltui/quagga "$root/etc/init.d/quagga"
  ln -sf /usr/lib/umltui/quagga "$root/etc/init.d/zebra"  # (older labs' name for it)
fi
# The consoles' gettys are ours (the generator); ctrl-alt-del powers off, as in the busybox root.
rm -f "$sys/getty.target.wants/getty@tty1.service"
mkdir -p "$root/etc/systemd/system-generators"
for gen in {generators}; do ln -sf /dev/null "$root/etc/systemd/system-generators/$gen"; done
ln -sf /usr/lib/systemd/system/poweroff.target "$sys/ctrl-alt-del.target"
for unit in {masks}; do ln -sf /dev/null "$sys/$unit"; done
# The NIC scripts the agent runs are this boot's, on the host.
rm -rf "$root/etc/umltui/nic"
ln -s /run/umltui/nic "$root/etc/umltui/nic"
chroot "$root" passwd -d root > /dev/null
: > "$root/etc/machine-id"
rm -rf "$root/var/lib/apt/lists/"* "$root/var/cache/apt/"*.bin
# Debian's /etc/modules (empty) through this link starts systemd-modules-load on every boot;
# without it the unit runs only if a lab puts a file in /etc/modules-load.d.
rm -f "$root/etc/modules-load.d/modules.conf"
# A login runs every motd script: a process each, on the guest's busy first seconds.
rm -f "$root/etc/update-motd.d/10-uname"
printf 'Debian GNU/Linux in User Mode Linux, built by umltui. Halt: poweroff, or ctrl-alt-del.\n' > "$root/etc/motd"
echo "umltui-stage: filesystem"
# mmdebstrap has /proc, /sys and /dev mounted in the root while hooks run: copy the root's
# own file system only (owners kept: this runs as the namespace's root), and make the image from it.
# /dev's nodes cannot be made in unshare mode: they are added to the image afterwards.
stage="$(mktemp -d '{stage_parent}/umltui-stage.XXXXXX')"
trap 'rm -rf "$stage"' EXIT
mkdir "$stage/root"
(cd "$root" && tar --one-file-system --exclude=./dev -cf - .) | (cd "$stage/root" && tar -xpf -)
mkdir -m 755 "$stage/root/dev"
# Inode tables and journal written now: lazily, the guest's kernel would zero them after
# its first boot, and every block it zeroes would land in that guest's COW file.
mke2fs -q -F -t ext4 -L umltui-root -E lazy_itable_init=0,lazy_journal_init=0 -d "$stage/root" {target} {size}
printf '{nodes}' > "$stage/nodes"
debugfs -w -f "$stage/nodes" {target} > /dev/null
"""
