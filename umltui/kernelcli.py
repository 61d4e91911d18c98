"""``umltui kernel ...``: list, fetch and remove UML kernels.

Fetching runs here, in the client, as image builds do: it takes a while, shows progress
the user follows in their terminal, and needs nothing the supervisor owns.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from typing import Any, TextIO

from .core.kernels import store
from .core.kernels.choose import available, choose
from .core.kernels.errors import KernelError, KernelFetchError
from .core.kernels.features import ROOT_KINDS, boots, features
from .core.kernels.fetch import Progress, get
from .core.kernels.host import Host, this_host
from .core.kernels.record import KernelRecord
from .core.lab import SUITE_RE

_BAR = 24


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


class FetchProgress:
    """One line, rewritten, on a terminal; nothing otherwise (the summary says what happened)."""

    def __init__(self, out: TextIO = sys.stderr) -> None:
        self.out = out
        self.tty = out.isatty()
        self.last = 0.0
        self.shown = False

    def __call__(self, p: Progress) -> None:
        if not self.tty:
            return
        now = time.monotonic()
        if p.stage == "download" and p.done and now - self.last < 0.1:
            return
        self.last = now
        line = p.title
        if p.stage == "download" and p.total:
            part = min(1.0, p.done / p.total)
            filled = int(part * _BAR)
            bar = f"[{'#' * filled}{'-' * (_BAR - filled)}] {part * 100:3.0f}%"
            line = f"{bar} {line} {p.done / 1e6:.1f} of {_mb(p.total)}: {p.item}"  # the item last: cut first
        width = shutil.get_terminal_size((80, 24)).columns
        self.out.write("\r" + line[: width - 1].ljust(width - 1))
        self.out.flush()
        self.shown = True

    def done(self) -> None:
        if self.shown:
            self.out.write("\r" + " " * (shutil.get_terminal_size((80, 24)).columns - 1) + "\r")
            self.out.flush()


def kernel_row(k: KernelRecord, host: Host, kernels: list[KernelRecord]) -> dict[str, Any]:
    """What ``kernel ls --json`` says of one kernel."""
    f = features(k.release, host)
    row: dict[str, Any] = {
        "version": k.version,
        "release": k.release,
        "source": k.source,
        "suite": k.suite,
        "path": k.kernel,
        "modules": k.modules,
        "patched": k.patched,
        "size_bytes": k.size_bytes,
        "features": {
            "legacy_nics": f.legacy_nics,
            "vector_nics": f.vector_nics,
            "needs_fpu_workaround": f.needs_fpu_workaround,
            "boots_glibc": f.boots_glibc,
            "why": f.why,
        },
        "boots": {},
        "chosen_for": [],
    }
    for kind in ROOT_KINDS:
        b = boots(k.release, kind, host)
        row["boots"][kind] = {"ok": b.ok, "workaround": b.workaround, "why": b.why}
        if (chosen := choose(kind, host=host, kernels=kernels).kernel) and chosen.kernel == k.kernel:
            row["chosen_for"].append(kind)
    return row


def _says(boot: dict[str, Any]) -> str:
    return "no" if not boot["ok"] else "work-round" if boot["workaround"] else "yes"


def cmd_ls(args: argparse.Namespace) -> int:
    host = this_host()
    kernels = available()
    rows = [kernel_row(k, host, kernels) for k in kernels]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no UML kernel here: install Debian's user-mode-linux, or fetch one with  umltui kernel get")
        return 0
    header = ["VERSION", "RELEASE", "SOURCE", *(k.upper() for k in ROOT_KINDS), "CHOSEN FOR", "PATH"]
    cells = [
        [
            r["version"],
            r["release"],
            r["source"] + (f" ({r['suite']})" if r["suite"] else ""),
            *(_says(r["boots"][kind]) for kind in ROOT_KINDS),
            ",".join(r["chosen_for"]) or "-",
            r["path"],
        ]
        for r in rows
    ]
    widths = [max(len(str(c[i])) for c in [header, *cells]) for i in range(len(header))]
    for line in [header, *cells]:
        print("  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
    for r in rows:
        whys = {b["why"] for b in r["boots"].values() if b["why"]}
        for why in sorted(whys):
            print(f"  {r['version']}: {why}")
    if unserved := [kind for kind in ROOT_KINDS if not any(kind in r["chosen_for"] for r in rows)]:
        print(
            f"no kernel here boots a {' or '.join(unserved)} root without a work-round: umltui kernel get fetches one"
        )
    return 0


def cmd_get(args: argparse.Namespace) -> int:
    if args.suite is not None and not SUITE_RE.fullmatch(args.suite):
        print(f"umltui: {args.suite!r} is not a Debian suite (such as testing, unstable, forky)", file=sys.stderr)
        return 2
    printer = FetchProgress()
    try:
        result = get(args.suite, progress=printer, mirror=args.mirror)
    except KernelFetchError as exc:
        printer.done()
        print(f"umltui: {exc}", file=sys.stderr)
        return 1
    printer.done()
    k = result.record
    if result.fetched:
        how = "; linked to its own C library" if k.patched else ""
        print(
            f"fetched {k.version} (kernel {k.release}) from {k.suite} in {result.seconds:g} s, "
            f"{_mb(result.downloaded_bytes)} downloaded{how}",
            file=sys.stderr,
        )
    else:
        print(
            f"{k.version} (kernel {k.release}) is cached already "
            f"(checked in {result.seconds:g} s, {_mb(result.downloaded_bytes)} downloaded)",
            file=sys.stderr,
        )
    print(k.kernel)
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    record = store.find(args.version)
    if record is None:
        installed = [k for k in available() if k.source == "installed" and args.version in (k.version, k.release)]
        if installed:
            print(
                f"umltui: {args.version} is the installed kernel (Debian's package): "
                "remove it with apt-get remove user-mode-linux",
                file=sys.stderr,
            )
        else:
            known = ", ".join(k.version for k in store.cached()) or "none"
            print(f"umltui: no cached kernel {args.version!r} (cached: {known})", file=sys.stderr)
        return 2
    running = store.users(record)
    if running and not args.force:
        pids = " ".join(map(str, running))
        print(
            f"umltui: kernel {record.version} is running (pids {pids}): halt its guests first, or give --force",
            file=sys.stderr,
        )
        return 1
    try:
        store.remove(record.version)
    except (KernelError, OSError) as exc:
        print(f"umltui: {exc}", file=sys.stderr)
        return 1
    print(f"removed {record.version} (kernel {record.release}, {_mb(record.size_bytes)})")
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("kernel", help="UML kernels: ls, get, rm")
    ksub = p.add_subparsers(dest="kernel_command", metavar="COMMAND", required=True)

    s = ksub.add_parser("ls", help="the kernels here, and which kinds of root each boots on this host")
    s.add_argument("--json", action="store_true", help="every field, as JSON")
    s.set_defaults(func=cmd_ls)

    s = ksub.add_parser("get", help="fetch a newer Debian kernel that boots glibc roots here (cached)")
    s.add_argument("suite", nargs="?", help="a Debian suite (default: testing, else unstable)")
    s.add_argument("--mirror", help="a Debian mirror (default: the one the host's apt uses)")
    s.set_defaults(func=cmd_get)

    s = ksub.add_parser("rm", help="remove a fetched kernel")
    s.add_argument("version", help="its package version, as kernel ls shows it")
    s.add_argument("--force", action="store_true", help="even while guests run on it")
    s.set_defaults(func=cmd_rm)
