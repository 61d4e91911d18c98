"""``umltui image ...`` and the image step of ``up``: build, list, remove and merge Debian images.

Builds run here, in the client, not in the supervisor: they take a minute or more, print
progress the user follows in their terminal, and need nothing the supervisor owns. ``up``
builds what a lab needs before it asks the supervisor to boot anything, so a lab that
names a package Debian does not have fails before any guest starts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import textwrap
import time
from pathlib import Path
from typing import TextIO

from . import locations
from .core import images
from .core.client import SupervisorError, call
from .core.kernels.choose import choose
from .core.kernels.errors import KernelError
from .core.kernels.pick import pick
from .core.lab import LabError, load_lab
from .core.protocol import ALIVE_STATES, GuestInfo

# How much of a build each stage is, roughly (a first build of the default image here).
_WEIGHTS = {
    "update": 5,
    "download": 6,
    "extract": 8,
    "essential": 25,
    "install": 30,
    "customize": 2,
    "filesystem": 24,
}
_BAR = 24


def table(rows: list[list[str]], header: list[str], width: int | None = None) -> str:
    """Columns padded to their widest cell, as ``ls`` and ``image ls`` print them.

    With ``width`` (a terminal's), a table wider than that has its widest columns of several
    words (NICS, CONSOLES) wrapped at spaces inside the column, never inside a word, until it
    fits or no column can give more.
    """
    cells = [[str(c) for c in r] for r in [header, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    if width is not None:
        # The narrowest each column can be: its longest word (a header is one word).
        floor = [max(len(word) for r in cells for word in (r[i].split() or [""])) for i in range(len(header))]
        while sum(widths) + 2 * (len(widths) - 1) > width:
            i = max(range(len(widths)), key=lambda k: widths[k] - floor[k])
            if widths[i] <= floor[i]:
                break  # every column is down to its longest word: it cannot fit
            widths[i] -= 1
    lines = []
    for r in cells:
        parts = [textwrap.wrap(c, w, break_long_words=False) or [""] for c, w in zip(r, widths, strict=True)]
        for k in range(max(len(p) for p in parts)):
            row = [(p[k] if k < len(p) else "").ljust(w) for p, w in zip(parts, widths, strict=True)]
            lines.append("  ".join(row).rstrip())
    return "\n".join(lines)


def terminal_width() -> int | None:
    """The terminal's width when output goes to one; None for a pipe or a file (a script
    reading ``ls`` gets a guest a line, however long)."""
    if not sys.stdout.isatty():
        return None
    return shutil.get_terminal_size().columns


def _mib(n: int) -> str:
    return f"{n / 2**20:.0f} MiB" if n < 2**30 else f"{n / 2**30:.1f} GiB"


class ProgressPrinter:
    """A one-line progress bar on a terminal; a line per stage otherwise (logs, CI)."""

    def __init__(self, out: TextIO = sys.stderr) -> None:
        self.out = out
        self.tty = out.isatty()
        self.stage = ""
        self.last = 0.0

    def __call__(self, p: images.Progress) -> None:
        stages = list(_WEIGHTS)
        before = sum(_WEIGHTS[s] for s in stages[: stages.index(p.stage)]) if p.stage in _WEIGHTS else 0
        within = min(1.0, p.done / p.total) if p.total else 0.0
        percent = int((before + within * _WEIGHTS.get(p.stage, 0)) * 100 / sum(_WEIGHTS.values()))
        counts = f" ({p.done}/{p.total})" if p.total and p.done else ""
        item = f": {p.item}" if p.item else ""
        if not self.tty:
            if p.stage != self.stage:
                print(f"  {percent:3d}% {p.title}", file=self.out, flush=True)
            self.stage = p.stage
            return
        now = time.monotonic()
        if p.stage == self.stage and now - self.last < 0.1:
            return
        self.stage, self.last = p.stage, now
        filled = percent * _BAR // 100
        width = shutil.get_terminal_size((80, 24)).columns
        line = f"[{'#' * filled}{'-' * (_BAR - filled)}] {percent:3d}% {p.title}{counts}{item}"
        self.out.write("\r" + line[: width - 1].ljust(width - 1))
        self.out.flush()

    def done(self) -> None:
        if self.tty and self.stage:
            self.out.write("\r" + " " * (shutil.get_terminal_size((80, 24)).columns - 1) + "\r")
            self.out.flush()


def build_image(
    recipe: images.Recipe,
    *,
    name: str | None = None,
    mirror: str | None = None,
    quiet: bool = False,
    modules_dir: Path | None = None,
) -> images.Image:
    """Build (or find) an image, showing progress; what was built is summed up on stderr.

    Raises:
        images.ImageError: the build failed (nothing is left behind).
    """
    found = images.find_image(recipe, modules_dir.name if modules_dir else None)
    if found is not None:
        if name and name != found.name:
            found, _ = images.build(recipe, name=name, modules_dir=modules_dir)
        return found
    print(f"building the Debian image {name or recipe.default_name()} (once; it is cached)", file=sys.stderr)
    printer = ProgressPrinter()
    try:
        image, _built = images.build(recipe, name=name, mirror=mirror, progress=printer, modules_dir=modules_dir)
    finally:
        printer.done()
    if not quiet:
        used, size = image.disk_usage()
        stages = ", ".join(f"{s} {t:g} s" for s, t in image.stages.items())
        print(
            f"built {image.name} ({image.key}) in {image.build_seconds:g} s: {stages}; "
            f"{_mib(used)} on disk of {_mib(size)}",
            file=sys.stderr,
        )
    return image


def ensure_lab_images(lab_path: str) -> int:
    """Build every image ``lab_path`` needs that is not built yet; 0, or an exit status.

    A lab that cannot be read is left for the supervisor to report (with the same words).
    """
    try:
        lab = load_lab(lab_path)
    except LabError:
        return 0
    recipes: dict[tuple[images.Recipe, str | None], str] = {}
    for guest in lab.guests.values():
        if guest.root.kind == "debian":
            if not guest.kernel and choose("debian").kernel is None:
                print(
                    "umltui: fetching a UML kernel that boots Debian on this host (once; it is cached)", file=sys.stderr
                )
            try:
                kernel = pick("debian", guest.kernel)
                recipes.setdefault((images.Recipe.for_root(guest.root), kernel.modules), guest.umid)
            except (images.ImageError, KernelError) as exc:
                print(f"umltui: {guest.umid}: {exc}", file=sys.stderr)
                print("umltui: no guest was started", file=sys.stderr)
                return 2
    for (recipe, modules), umid in recipes.items():
        try:
            build_image(recipe, modules_dir=Path(modules) if modules else None)
        except images.ImageError as exc:
            print(f"umltui: lab {lab.name}: the image for {umid} cannot be built: {exc}", file=sys.stderr)
            print("umltui: no guest was started", file=sys.stderr)
            return 1
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    try:
        packages = [p for p in (args.packages or "").replace(" ", ",").split(",") if p]
        recipe = images.Recipe.make(args.suite, packages, args.size)
        image = build_image(recipe, name=args.name, mirror=args.mirror)
    except images.ImageError as exc:
        print(f"umltui: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(_image_row(image)))
    else:
        print(f"{image.name}  {image.path}")
    return 0


def _image_row(image: images.Image) -> dict[str, object]:
    used, size = image.disk_usage()
    return {
        "name": image.name,
        "key": image.key,
        "suite": image.suite,
        "packages": image.packages,
        "path": str(image.path),
        "used_bytes": used,
        "apparent_bytes": size,
        "guests": images.guests_using(image.path),
        "stale": image.stale,
        "built_at": image.built_at,
        "build_seconds": image.build_seconds,
    }


def cmd_ls(args: argparse.Namespace) -> int:
    rows = [_image_row(i) for i in images.list_images()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no images (umltui image build, or a lab with root: debian, builds one)")
        return 0
    rows_out = [
        [
            str(r["name"]) + (" (stale)" if r["stale"] else ""),
            str(r["key"]),
            str(r["suite"]),
            ",".join(r["packages"]) or "-",  # type: ignore[arg-type]
            f"{_mib(r['used_bytes'])} / {_mib(r['apparent_bytes'])}",  # type: ignore[arg-type]
            " ".join(r["guests"]) or "-",  # type: ignore[arg-type]
        ]
        for r in rows
    ]
    header = ["NAME", "KEY", "SUITE", "EXTRA PACKAGES", "DISK / SIZE", "GUESTS (COW over it)"]
    print(table(rows_out, header, terminal_width()))
    if any(r["stale"] for r in rows):
        print("(stale: built by an older umltui or for another kernel; `umltui image rm --stale` removes them)")
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    if not args.images and not args.stale:
        print("umltui: name the images to remove, or give --stale", file=sys.stderr)
        return 2
    status = 0
    chosen: list[images.Image] = [i for i in images.list_images() if args.stale and i.stale]
    for ref in args.images:
        try:
            chosen.append(images.lookup(ref))
        except images.ImageError as exc:
            print(f"umltui: {exc}", file=sys.stderr)
            status = 2
    for image in chosen:
        users = images.guests_using(image.path)
        if users and not args.force:
            print(
                f"umltui: {image.name} is under the COW files of {', '.join(users)}: "
                "take them down with --clean first, or give --force (they will not boot again)",
                file=sys.stderr,
            )
            status = 1
            continue
        images.remove_image(image)
        print(f"removed {image.name} ({image.key})")
    return status


def _find_guest(ref: str) -> tuple[str, GuestInfo | None]:
    """The umid ``ref`` means, and the supervisor's record of it if it has one."""
    try:
        guests: list[GuestInfo] = asyncio.run(call("ls"))
    except SupervisorError:
        guests = []
    for g in guests:
        if ref in (g["umid"], f"{g['lab']}/{g['name']}"):
            return g["umid"], g
    named = [g for g in guests if g["name"] == ref]
    if len(named) == 1:
        return named[0]["umid"], named[0]
    return ref, None


def cmd_merge(args: argparse.Namespace) -> int:
    umid, info = _find_guest(args.guest)
    if info is not None and info["state"] in ALIVE_STATES:
        print(
            f"umltui: {umid} is {info['state']}: its COW file changes while it runs; "
            f"halt it first (umltui halt {umid})",
            file=sys.stderr,
        )
        return 1
    cow = locations.guest_dir(umid) / "root.cow"
    if not cow.exists():
        print(f"umltui: {umid} has no COW file ({cow}): is it a guest with root: debian?", file=sys.stderr)
        return 2
    output = Path(args.output or f"{umid}.img").resolve()
    try:
        images.merge(cow, output)
    except images.ImageError as exc:
        print(f"umltui: {exc}", file=sys.stderr)
        return 1
    st = output.stat()
    print(f"{output}: {umid}'s disk as a standalone image ({_mib(st.st_blocks * 512)} on disk of {_mib(st.st_size)})")
    print(f"boot it with  root: {{image: {output}}}")
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("image", help="Debian root images: build, ls, rm, merge")
    isub = p.add_subparsers(dest="image_command", metavar="COMMAND", required=True)

    s = isub.add_parser("build", help="build a Debian image (cached: the same request is built once)")
    s.add_argument("name", nargs="?", help="a name for it (default: debian-SUITE[+packages])")
    s.add_argument("--suite", default=images.DEFAULT_SUITE, help=f"the Debian suite (default: {images.DEFAULT_SUITE})")
    s.add_argument("--packages", help="more packages, comma-separated (frr,bind9,...)")
    s.add_argument("--size", default=images.DEFAULT_SIZE, help="the image's size (sparse on disk)")
    s.add_argument("--mirror", help="a Debian mirror (default: the one the host's apt uses)")
    s.add_argument("--json", action="store_true", help="the image built, as JSON")
    s.set_defaults(func=cmd_build)

    s = isub.add_parser("ls", help="the built images, their size on disk and the guests over them")
    s.add_argument("--json", action="store_true", help="every field, as JSON")
    s.set_defaults(func=cmd_ls)

    s = isub.add_parser("rm", help="remove images (not while a guest's COW lies over them)")
    s.add_argument("images", nargs="*", metavar="NAME|KEY")
    s.add_argument("--stale", action="store_true", help="every image built by an older umltui or for another kernel")
    s.add_argument("--force", action="store_true", help="even under a guest's COW (that guest will not boot again)")
    s.set_defaults(func=cmd_rm)

    s = isub.add_parser("merge", help="fold a halted guest's COW into a new standalone image (uml_moo)")
    s.add_argument("guest")
    s.add_argument("-o", "--output", help="the new image (default: ./UMID.img)")
    s.set_defaults(func=cmd_merge)
