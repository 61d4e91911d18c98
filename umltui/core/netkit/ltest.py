"""Netkit's lab test (``ltest``): what each guest runs, and the comparison with the signature.

In test mode each guest runs :func:`test_script` in the background once its startup has
run and it has said it is ready; ``ltest`` waits for every machine's ``.NAME.done`` mark.
The script writes, as Netkit-JH does,
``_test/results/MACHINE.shared`` (``_test/scripts/shared.test``), ``MACHINE.user``
(``_test/scripts/MACHINE.test``, or Netkit 2's and Kathará's ``_test/MACHINE.test``) and
``MACHINE.default`` (interfaces, routes, listening ports, processes).

``MACHINE.default`` has Netkit-JH's four sections, made comparable from one boot to the
next as Kathará's builtin test made them: listening ports without process ids and file
numbers, sorted; processes without kernel threads (their names change as they work) and
without those on a terminal (a console's shell may or may not be up yet), sorted. Both are
read into files before they are filtered, so the filters are not in the lists.

As in Netkit, no test runs before every machine has started: each guest waits (up to
:data:`BARRIER_SECONDS`) until every machine of the lab has run its startup, then sleeps
``_test/results/.delay`` seconds if the host wrote one (``ltest --delay``).

Signatures are Netkit 2's: a folder ``_test/signature/`` of result files, compared file by
file with white space amounts, tabs and blank lines not counting (``diff -EbB``); with no
signature, the results become it. Which files count is Kathará's ``--verify``: ``user``
(the default: ``.user`` and ``.shared``, what the lab's author wrote), ``builtin``
(``.default``) or ``both``. Netkit 2 fell back to ``.default`` where a machine had no
``.user``, but a process list or a kernel worker's name differs from boot to boot: a real
lab failed its own fresh signature that way here.
"""

from __future__ import annotations

import difflib
import re
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path

BARRIER_SECONDS = 120
KINDS = ("shared", "user", "default")


def test_script(name: str, waits_for: list[str]) -> str:
    """The POSIX sh the guest ``name`` runs in test mode (it writes into ``/hostlab``);
    ``waits_for``: the lab's other machines."""
    q = shlex.quote
    others = " ".join(q(n) for n in waits_for)
    return f"""# umltui ltest: Netkit's test phase for {name}, after the startup
r=/hostlab/_test/results
s=/hostlab/_test/scripts
mkdir -p "$r"
touch "$r/.{name}.started"
n=0
for m in {others}; do
  while [ ! -e "$r/.$m.started" ] && [ $n -lt {BARRIER_SECONDS} ]; do sleep 1; n=$((n + 1)); done
done
[ -s "$r/.delay" ] && sleep "$(cat "$r/.delay")"
run() {{ if [ -x "$1" ]; then "$1"; else bash "$1"; fi; }}
[ -f "$s/shared.test" ] && run "$s/shared.test" > "$r/{name}.shared"
if [ -f "$s/{name}.test" ]; then run "$s/{name}.test" > "$r/{name}.user"
elif [ -f "/hostlab/_test/{name}.test" ]; then run "/hostlab/_test/{name}.test" > "$r/{name}.user"
fi
t=$(mktemp -d)
ss --query inet --processes --numeric --all > "$t/ss" 2>/dev/null
ps --deselect --ppid 2 --pid 2 -o uid=,tty=,args= > "$t/ps"
{{
  echo "[NETWORK INTERFACES]"; ip addr show | grep -v link; echo
  echo "[ROUTING TABLE]"; route -n | tail -n +2; echo
  echo "[LISTENING PORTS]"; head -n 1 "$t/ss"; tail -n +2 "$t/ss" | sed 's/,pid=[0-9]*,fd=[0-9]*//g' | sort; echo
  echo "[PROCESSES]"; echo "  UID COMMAND"; awk '$2 == "?" {{ $2 = ""; print }}' "$t/ps" | sort; echo
}} > "$r/{name}.default" 2>&1
rm -rf "$t"
sync
touch "$r/.{name}.done"
"""


def clear_results(folder: Path, machines: list[str], delay: float = 0) -> Path:
    """Remove a previous test's results of these machines (and their marks); write the delay."""
    results = folder / "_test" / "results"
    results.mkdir(parents=True, exist_ok=True)
    for name in machines:
        for kind in KINDS:
            (results / f"{name}.{kind}").unlink(missing_ok=True)
        (results / f".{name}.started").unlink(missing_ok=True)
        (results / f".{name}.done").unlink(missing_ok=True)
    delay_file = results / ".delay"
    if delay > 0:
        delay_file.write_text(f"{delay:g}\n")
    else:
        delay_file.unlink(missing_ok=True)
    return results


def tests_done(results: Path, machines: list[str]) -> list[str]:
    """The machines whose test has not finished yet."""
    return [n for n in machines if not (results / f".{n}.done").exists()]


def _normal(text: str) -> list[str]:
    """Lines as ``diff -EbB`` sees them: tabs expanded, runs of blanks as one, blank lines gone."""
    lines = (re.sub(r"[ \t]+", " ", line.expandtabs()).rstrip() for line in text.splitlines())
    return [line for line in lines if line]


@dataclass
class Verdict:
    """What ``ltest`` found: 0 same (or signature made), 1 differs, 2 a test did not run."""

    status: int = 0
    created: bool = False
    lines: list[str] = field(default_factory=list)


VERIFY = {"user": ("user", "shared"), "builtin": ("default",), "both": KINDS}


def _kinds(signature: Path, name: str, verify: str) -> tuple[str, ...]:
    """What is compared for one machine: ``verify``'s kinds; for ``user``, a machine whose
    signature has no test of the lab's own is compared by its built-in result (as Netkit 2
    did), so a lab without tests is not passed for comparing nothing."""
    if verify == "user" and not any((signature / f"{name}.{k}").exists() for k in VERIFY["user"]):
        return VERIFY["builtin"]
    return VERIFY[verify]


def compare(folder: Path, machines: list[str], verify: str = "user") -> Verdict:
    """Compare the results with ``_test/signature/``, or make it from them if there is none."""
    test = folder / "_test"
    results, signature = test / "results", test / "signature"
    verdict = Verdict()
    missing = [n for n in machines if not (results / f"{n}.default").exists()]
    if missing:
        verdict.status = 2
        verdict.lines.append(f"no test results from {', '.join(missing)} (their test did not run)")
        return verdict
    if not signature.exists():
        signature.mkdir(parents=True)
        for n in machines:
            for kind in KINDS:
                if (results / f"{n}.{kind}").exists():
                    shutil.copyfile(results / f"{n}.{kind}", signature / f"{n}.{kind}")
        verdict.created = True
        verdict.lines.append(f"no signature: the results are the signature now ({signature})")
        return verdict
    for n, kind in ((m, k) for m in machines for k in _kinds(signature, m, verify)):
        want, got = signature / f"{n}.{kind}", results / f"{n}.{kind}"
        if not want.exists():
            if kind != "shared":
                verdict.lines.append(f"{n}: the signature has no {kind} result: not compared")
            continue
        if not got.exists():
            verdict.status = 1
            verdict.lines.append(f"{n}: {kind}: no result (the signature has one)")
            continue
        diff = list(
            difflib.unified_diff(
                _normal(want.read_text(errors="replace")),
                _normal(got.read_text(errors="replace")),
                f"signature/{n}.{kind}",
                f"results/{n}.{kind}",
                n=0,
                lineterm="",
            )
        )
        if diff:
            verdict.status = 1
            verdict.lines += [f"{n}: {kind} differs:", *(f"  {line}" for line in diff)]
        else:
            verdict.lines.append(f"{n}: {kind} same")
    return verdict
