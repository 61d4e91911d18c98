"""Security faults, tried for real: a runtime directory someone else made, files others could
read, and lab files that reach out of their folder."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import Env, requires_uml

pytestmark = requires_uml

NOBODY = 65534


def _umltui_with_tmpdir(tmpdir: Path, *args: str, env: Env) -> subprocess.CompletedProcess[str]:
    """umltui with no runtime directory set: it falls back to TMPDIR/umltui-UID, as with /tmp."""
    environ = {k: v for k, v in os.environ.items() if k not in ("UMLTUI_RUNTIME_DIR", "XDG_RUNTIME_DIR")}
    environ.update({k: v for k, v in env.vars.items() if k != "UMLTUI_RUNTIME_DIR"}, TMPDIR=str(tmpdir))
    return subprocess.run([sys.executable, "-m", "umltui", *args], capture_output=True, text=True, timeout=60,
                          env=environ)  # fmt: skip


@pytest.mark.skipif(os.geteuid() != 0, reason="making a directory owned by another user needs root")
def test_fallback_runtime_dir_made_first_by_another_user_is_refused_not_chmoded(env: Env, tmp_path: Path) -> None:
    shared = tmp_path / "tmp"
    shared.mkdir(mode=0o1777)
    os.chmod(shared, 0o1777)
    trap = shared / f"umltui-{os.getuid()}"
    trap.mkdir()
    os.chmod(trap, 0o777)
    os.chown(trap, NOBODY, NOBODY)  # the other user got there first
    proc = _umltui_with_tmpdir(shared, "ls", env=env)
    assert proc.returncode != 0
    assert f"belongs to uid {NOBODY}" in proc.stderr and "refusing" in proc.stderr, proc.stderr
    st = trap.stat()
    assert (stat.S_IMODE(st.st_mode), st.st_uid) == (0o777, NOBODY)  # never chmod'ed or taken over
    assert list(trap.iterdir()) == []  # nothing of ours went in: no lock, no socket, no pid


def test_fallback_runtime_dir_that_is_a_symlink_is_refused(env: Env, tmp_path: Path) -> None:
    shared = tmp_path / "tmp"
    shared.mkdir()
    elsewhere = tmp_path / "attacker"
    elsewhere.mkdir(mode=0o700)
    (shared / f"umltui-{os.getuid()}").symlink_to(elsewhere)
    proc = _umltui_with_tmpdir(shared, "ls", env=env)
    assert proc.returncode != 0 and "symbolic link" in proc.stderr, proc.stderr
    assert list(elsewhere.iterdir()) == []


def test_everything_holding_console_bytes_or_state_is_private_under_umask_000(env: Env) -> None:
    env.run("supervisor", "--stop")
    subprocess.run(
        [sys.executable, "-m", "umltui", "demo", "--detach"], env={**os.environ, **env.vars}, check=True,
        capture_output=True, timeout=120, preexec_fn=lambda: os.umask(0),
    )  # fmt: skip
    # Typed only once the shell's prompt is in the log: keys sent before the shell is up are
    # dropped by the guest (CI caught it: the log had the prompt and no echo).
    log = Path(env.guest("demo-a")["logs"]["con1"])
    deadline = time.monotonic() + 60
    while b"a:/root# " not in (log.read_bytes() if log.exists() else b""):
        assert time.monotonic() < deadline, "no prompt in demo-a's con1 log"
        time.sleep(0.2)
    env.run("console", "demo-a", "--no-history", "--linger", "1", input="echo a-password\n", check=True)
    deadline = time.monotonic() + 20  # (a loaded machine may echo after the console has left)
    while b"a-password" not in log.read_bytes() and time.monotonic() < deadline:
        time.sleep(0.2)
    loose = []
    for top in ("UMLTUI_STATE_DIR", "UMLTUI_RUNTIME_DIR", "UMLTUI_UML_DIR"):
        for dirpath, dirnames, filenames in os.walk(env.vars[top]):
            if Path(dirpath).name == "root" and Path(dirpath).parent.parent.name == "guests":
                dirnames.clear()  # a guest's own root file system: its modes are the guest's
            if dirpath == env.vars["UMLTUI_UML_DIR"]:
                dirnames.clear()  # UMID/{pid,mconsole} are the kernel's, made as its umask says;
                continue  # what keeps them from others is this directory, 0700 (checked below)
            for name in [*dirnames, *filenames]:
                path = Path(dirpath, name)
                mode = stat.S_IMODE(path.lstat().st_mode)
                if (mode & 0o077) and not path.is_symlink():
                    loose.append(f"{mode:o} {path}")
    assert loose == []
    assert stat.S_IMODE(Path(env.vars["UMLTUI_UML_DIR"]).stat().st_mode) == 0o700
    assert b"a-password" in log.read_bytes() and stat.S_IMODE(log.stat().st_mode) == 0o600
