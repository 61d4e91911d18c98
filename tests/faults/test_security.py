"""Security faults, tried for real: a runtime directory someone else made, files others could
read, lab files that reach out of their folder, a guest's root reaching for the host's files,
and two setups of one user reaching each other's guests."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import Env, _pids_with, requires_uml
from helpers import Console

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


async def test_a_guests_root_cannot_mount_the_hosts_etc_over_hostfs(env: Env) -> None:
    """The guest's root tries what UML allows it: hostfs mounts of /etc, of a ``..`` walk out of
    the folder its lab shares, and of the root. Its kernel's sandbox holds nothing of /etc."""
    shared = env.root / "shared"
    shared.mkdir()
    (shared / "granted.txt").write_text("granted\n")
    lab = env.write_lab("walk", "guests:\n  a:\n    consoles: 1\n    hostfs: {/mnt/shared: shared}\n")
    env.run("up", str(lab), "--detach", check=True)
    walk = "/".join([".."] * 12)
    async with Console("walk-a") as con:
        await con.ready()
        granted = await con.run("cat /mnt/shared/granted.txt", "CAT")
        assert "granted" in granted  # what the lab grants is there
        tries = {
            "etc": "/etc",
            "dotdot": "/../../../etc",
            "walk": f"{shared}/{walk}/etc",
            "root": "/",
        }
        seen = {}
        for name, source in tries.items():
            seen[name] = await con.run(
                f"mkdir -p /mnt/{name}; mount -t hostfs none /mnt/{name} -o {source}; ls -a /mnt/{name}", name.upper()
            )
    for name, out in seen.items():
        assert "shadow" not in out and "passwd" not in out and "hostname" not in out, (name, out)
    assert "etc" not in seen["root"].split(), seen["root"]  # the sandbox's own root: no /etc in it


def _world(root: Path, home: Path) -> dict[str, str]:
    """A setup as su, cron or ssh without logind make one: the same home, other XDG folders."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("UMLTUI_", "XDG_"))}
    environ.update(
        HOME=str(home),
        XDG_RUNTIME_DIR=str(root / "run"),
        XDG_STATE_HOME=str(root / "state"),
        XDG_CONFIG_HOME=str(root / "config"),
        UMLTUI_CACHE_DIR=os.environ.get("UMLTUI_TEST_CACHE", "/tmp/umltui-test-cache"),
        UMLTUI_SUPERVISOR_IDLE="600",
    )
    (root / "run").mkdir(parents=True, mode=0o700)
    return environ


def _umltui(environ: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "umltui", *args], capture_output=True, text=True, timeout=120,
                          env=environ)  # fmt: skip


def test_two_setups_of_one_user_do_not_see_or_touch_each_others_guests() -> None:
    tmp_path = Path(tempfile.mkdtemp(prefix="umt-", dir="/tmp"))  # short: socket paths live in it
    home = tmp_path / "home"
    home.mkdir()
    first, second = _world(tmp_path / "one", home), _world(tmp_path / "two", home)
    try:
        assert _umltui(first, "demo", "--detach").returncode == 0
        mine = json.loads(_umltui(first, "ls", "--json").stdout)
        assert {g["umid"] for g in mine} == {"demo-a", "demo-b"}
        theirs = _umltui(second, "ls", "--json")
        assert theirs.returncode == 0 and json.loads(theirs.stdout) == [], theirs.stdout
        _umltui(second, "down", "--all")
        after = json.loads(_umltui(first, "ls", "--json").stdout)
        assert [(g["umid"], g["state"], g["pid"]) for g in after] == [
            (g["umid"], "running", g["pid"]) for g in mine
        ]  # fmt: skip
        assert all(all(g["consoles"].values()) for g in after)  # still read by the first setup's keeper
        assert not (home / ".uml").exists()
    finally:
        for world in (second, first):
            _umltui(world, "down", "--all")
            _umltui(world, "supervisor", "--stop")
        deadline = time.time() + 5
        while _pids_with(str(tmp_path)) and time.time() < deadline:
            time.sleep(0.1)
        for pid in _pids_with(str(tmp_path)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(tmp_path, ignore_errors=True)
