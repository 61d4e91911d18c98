"""The build runner: mmdebstrap with umltui's customize hook, its stages followed for a progress bar."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from ... import locations
from ..process import end_group
from .cache import Image, images_dir, read_meta, write_meta
from .contents import write_hook, write_overlay
from .recipe import MODULES_ROOT, RECIPE_VERSION, ImageError, Recipe, host_mirror, modules_version

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
    if (found := read_meta(images_dir() / key)) is not None:
        return _renamed(found, name), False
    command = check_builder()
    with locations.exclusive(images_dir() / ".build.lock"):  # a second build of the key then finds it built
        if (found := read_meta(images_dir() / key)) is not None:
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
        write_meta(image.folder, image)
    return image


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
    write_overlay(overlay, {k: v for k, v in image.to_json().items() if k != "stages"})
    unshare = "--mode=unshare" in command
    hook = write_hook(
        work,
        overlay=overlay,
        modules_dir=modules_dir or MODULES_ROOT / modules,
        version=modules,
        image=work / "root.img",
        size=recipe.size,
        unshare=unshare,
        dormant=recipe.packages,
    )
    os.chmod(work, 0o755)  # the unshare mode's root (a subordinate id) reads the hook here
    argv = [
        *command,
        "--variant=minbase",
        "--format=null",
        "--verbose",
        "--include=" + ",".join(recipe.all_packages),
        f"--customize-hook={hook}",
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
    for part in ("customize.sh", "customize.env", "dev-nodes.debugfs"):
        (work / part).unlink()
    write_meta(work, image)
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
