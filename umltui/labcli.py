"""``umltui import`` and ``umltui ltest``: Netkit and Kathará lab folders from the command line.

``import`` writes the umltui YAML that says what a lab folder says. ``ltest`` is Netkit's
lab test: the lab boots in test mode (each guest runs the lab's tests after its startup,
see :mod:`.core.netkit.ltest`), the results land in ``_test/results/``, they are compared
with ``_test/signature/`` (or become it), and the lab is taken down.
Exit status of ``ltest``: 0 same (or signature made), 1 differs, 2 an error.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from . import imagecli
from .core.client import SupervisorError, call
from .core.lab import Lab, LabError, load_lab
from .core.netkit.export import lab_to_yaml
from .core.netkit.ltest import BARRIER_SECONDS, clear_results, compare, tests_done


def _load(path: str) -> tuple[Lab | None, int]:
    try:
        return load_lab(path), 0
    except LabError as exc:
        lines = str(exc).splitlines()
        print("\n".join(f"umltui: {line}" for line in lines), file=sys.stderr)
        return None, 2


def cmd_import(args: argparse.Namespace) -> int:
    lab, code = _load(args.folder)
    if code:
        return code
    assert lab is not None
    out = Path(args.output) if args.output else Path.cwd() / "lab.yaml"  # (printed: paths as from here)
    text = lab_to_yaml(lab, out)
    for warning in lab.warnings:
        print(f"umltui: warning: {warning}", file=sys.stderr)
    if not args.output:
        sys.stdout.write(text)
        return 0
    out.write_text(text)
    print(f"wrote {out}")
    return 0


async def _ltest(folder: Path, name: str, machines: list[str], timeout: float) -> tuple[int, list[str]]:
    """Boot in test mode, wait for every machine's test, and take the lab down again;
    (0 or 2, the warnings or the error)."""
    try:
        result = await call("up", lab=str(folder), boot_timeout=timeout, test=True, timeout=timeout + 30)
        results = folder / "_test" / "results"
        deadline = time.monotonic() + BARRIER_SECONDS + timeout
        while (waiting := tests_done(results, machines)) and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        if waiting:
            return 2, [f"the test of {', '.join(waiting)} did not finish (see /var/log/test.log in the guest)"]
    except SupervisorError as exc:
        return 2, [str(exc)]
    finally:
        try:
            await call("down", targets=[name], timeout=120)
        except SupervisorError as exc:
            print(f"umltui: taking {name} down: {exc}", file=sys.stderr)
    return 0, list(result.get("warnings", []))


def cmd_ltest(args: argparse.Namespace) -> int:
    lab, code = _load(args.folder)
    if code:
        return code
    assert lab is not None and lab.path is not None
    folder = lab.path.parent
    if not (folder / "lab.conf").exists() and not (folder / "lab.dep").exists():
        print(f"umltui: {args.folder}: ltest is for Netkit and Kathará lab folders", file=sys.stderr)
        return 2
    machines = list(lab.guests)
    if code := imagecli.ensure_lab_images(str(folder)):
        return 2
    clear_results(folder, machines, args.delay)
    print(f"testing lab {lab.name} ({len(machines)} machines)", file=sys.stderr)
    status, said = asyncio.run(_ltest(folder, lab.name, machines, args.timeout))
    for line in said:
        print(f"umltui: {'warning: ' if status == 0 else ''}{line}", file=sys.stderr)
    if status:
        return status
    verdict = compare(folder, machines, args.verify)
    for line in verdict.lines:
        print(line)
    print(
        "test signature created"
        if verdict.created
        else "test succeeded"
        if verdict.status == 0
        else "test FAILED"
        if verdict.status == 1
        else "test did not run"
    )
    return verdict.status


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser("import", help="write the umltui YAML of a Netkit or Kathará lab folder")
    s.add_argument("folder", help="the lab folder (with lab.conf)")
    s.add_argument("-o", "--output", help="the YAML file to write (default: print it)")
    s.set_defaults(func=cmd_import)

    s = sub.add_parser("ltest", help="Netkit's lab test: boot, run _test/scripts, compare with _test/signature")
    s.add_argument("folder", help="the lab folder (with lab.conf)")
    s.add_argument(
        "--delay",
        type=float,
        default=0,
        help="seconds each guest waits before its tests (to settle; default: %(default)s)",
    )
    s.add_argument(
        "--verify",
        choices=("user", "builtin", "both"),
        default="user",
        help="compare the lab's own tests (.user, .shared; a machine with none is compared by its built-in "
        "result), the built-in one (.default), or both (default: %(default)s)",
    )
    s.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="seconds for the boot and the tests of every guest (default: %(default)s)",
    )
    s.set_defaults(func=cmd_ltest)
