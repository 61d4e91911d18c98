"""``umltui kernel get``, for real: once per machine into the tests' shared cache (as the
Debian image is built once), then the cached kernel boots a busybox root over hostfs and
runs a glibc program in it, with no work-round."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import Env

pytestmark = [
    pytest.mark.uml,
    pytest.mark.skipif(not Path("/bin/busybox").exists(), reason="needs Debian's busybox-static"),
    pytest.mark.skipif(shutil.which("apt-get") is None, reason="kernel get needs Debian's apt"),
]

MARKER = "umltui-kernel-test"
INIT = f"""#!/bin/busybox sh
/bin/busybox echo {MARKER}-init $(/bin/busybox uname -r)
/glibc/echo {MARKER}-glibc
/bin/busybox poweroff -f
"""


def _glibc_echo(root: Path) -> None:
    """The host's /bin/echo (a glibc program) with its C library, at the paths it asks for."""
    (root / "glibc").mkdir()
    shutil.copy("/bin/echo", root / "glibc/echo")
    out = subprocess.run(["ldd", "/bin/echo"], capture_output=True, text=True, timeout=10, check=True).stdout
    for word in out.split():
        if word.startswith("/") and os.path.exists(word):  # libc.so.6 and the loader
            target = root / word.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(os.path.realpath(word), target)


def _boot(kernel: str, where: Path, timeout: float = 60) -> str:
    """Boot ``kernel`` on a busybox root in ``where``; what its console printed (the guest powers off)."""
    root = where / "root"
    for d in ("bin", "proc", "sys", "dev", "tmp"):
        (root / d).mkdir(parents=True, exist_ok=True)
    shutil.copy("/bin/busybox", root / "bin/busybox")
    (root / "init").write_text(INIT)
    (root / "init").chmod(0o755)
    _glibc_echo(root)
    argv = [
        kernel,
        "mem=64M",
        "rootfstype=hostfs",
        f"rootflags={root}",
        "rw",
        "init=/init",
        "con=null",
        "con0=fd:0,fd:1",
        "umid=kernel-test",
        f"uml_dir={where / 'uml'}",
    ]
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the kernel and its helpers: the session this test started
        out, _ = proc.communicate(timeout=10)
        pytest.fail(f"the kernel did not power off within {timeout:g} s:\n{out[-3000:]}")
    return out


@pytest.mark.timeout(1800)  # a first fetch on a slow network
def test_kernel_get_once_then_it_boots(env: Env) -> None:
    cached = [r for r in env.run_json("kernel", "ls") if r["source"] == "fetched"]
    if not cached:
        started = time.monotonic()
        got = env.run("kernel", "get", timeout=1800)
        assert got.returncode == 0, got.stderr
        print(f"kernel get: {time.monotonic() - started:.1f} s; {got.stderr.strip()}")
        assert "downloaded" in got.stderr and os.access(got.stdout.strip(), os.X_OK)
        cached = [r for r in env.run_json("kernel", "ls") if r["source"] == "fetched"]
        assert [r["path"] for r in cached] == [got.stdout.strip()]
    kernel = cached[0]
    assert Path(kernel["path"]).is_relative_to(Path(env.vars["UMLTUI_CACHE_DIR"]) / "kernels")
    assert not os.stat(kernel["path"]).st_mode & 0o222  # read-only
    assert kernel["modules"] and Path(kernel["modules"], "modules.dep").exists()
    assert kernel["boots"]["debian"]["ok"] and not kernel["boots"]["busybox"]["workaround"]
    assert not kernel["features"]["needs_fpu_workaround"]

    out = _boot(kernel["path"], env.root / "boot")
    assert f"{MARKER}-init {kernel['release']}" in out, out[-3000:]
    assert f"{MARKER}-glibc" in out, out[-3000:]  # a glibc program ran: no FPU restore failure here
    assert "ptrace set fp regs failed" not in out
