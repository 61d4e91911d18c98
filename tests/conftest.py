"""Fixtures: each test gets a private supervisor, UML directory and state, and everything
it started (guests, switches, namespaces, the supervisor) is stopped afterwards, even
when the test fails. Leftovers are found by the test's own unique directory in their
command lines and ended by pid, never by name."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent


def uml_available() -> bool:
    return shutil.which("linux.uml") is not None and Path("/bin/busybox").exists()


requires_uml = pytest.mark.skipif(not uml_available(), reason="needs Debian's user-mode-linux and busybox-static")


class Env:
    """A private umltui world for one test."""

    def __init__(self, root: Path) -> None:
        self.root = root  # the test's files and labs: a lab's folder, which its guests' sandboxes hold
        # umltui's own folders, beside it and not in it (else every guest's sandbox would hold
        # them all); its name begins with the root's, which cleanup looks for.
        self.world = Path(f"{root}-w")
        self.vars = {
            "UMLTUI_RUNTIME_DIR": str(self.world / "run"),
            "UMLTUI_STATE_DIR": str(self.world / "state"),
            "UMLTUI_CACHE_DIR": os.environ.get(
                "UMLTUI_TEST_CACHE", str(Path(tempfile.gettempdir()) / "umltui-test-cache")
            ),
            "UMLTUI_UML_DIR": str(self.world / "uml"),
            "UMLTUI_CONFIG_DIR": str(self.world / "config"),
            "UMLTUI_SUPERVISOR_IDLE": "600",
        }
        self.namespaces: list[str] = []

    def run(
        self, *args: str, input: str | None = None, timeout: float = 120, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "umltui", *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **self.vars},
        )
        if check and proc.returncode:
            raise AssertionError(f"umltui {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def run_json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "--json", check=True).stdout)

    def ls(self) -> list[dict[str, Any]]:
        guests: list[dict[str, Any]] = json.loads(self.run("ls", "--json", check=True).stdout)
        return guests

    def guest(self, umid: str) -> dict[str, Any]:
        return next(g for g in self.ls() if g["umid"] == umid)

    def write_lab(self, name: str, text: str) -> Path:
        path = self.root / f"{name}.yaml"
        path.write_text(text)
        return path

    def supervisor_pid(self) -> int | None:
        from umltui.core.client import supervisor_pid

        return supervisor_pid()

    def cleanup(self) -> None:
        state = Path(self.vars["UMLTUI_STATE_DIR"])
        kept = Path(tempfile.gettempdir()) / "umltui-test-logs" / self.root.name  # named as in failure messages
        for log in [state / "supervisor.log", state / "keeper.log", *state.glob("guests/*/logs/con0.log")]:
            if log.exists():  # kept for a look after a failure
                target = kept / log.relative_to(state)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(log, target)
        if (state / "supervisor.log").exists():
            shutil.copy(state / "supervisor.log", Path(tempfile.gettempdir()) / "umltui-last-supervisor.log")
        try:
            self.run("down", "--all", timeout=60)
            self.run("supervisor", "--stop", timeout=20)
        except (subprocess.TimeoutExpired, OSError):
            pass
        deadline = time.time() + 5
        while time.time() < deadline and _pids_with(str(self.root)):
            time.sleep(0.1)
        for pid in _pids_with(str(self.root)):  # only processes carrying this test's own path
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for ns in self.namespaces:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def _pids_with(marker: str) -> list[int]:
    me = os.getpid()
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            raw = Path(entry.path, "cmdline").read_bytes()
            environ = b""
            if not raw:
                continue
            if marker.encode() not in raw:
                environ = Path(entry.path, "environ").read_bytes()
                if marker.encode() not in environ:
                    continue
        except OSError:
            continue
        found.append(int(entry.name))
    return found


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    root = Path(tempfile.mkdtemp(prefix="umt-", dir="/tmp"))
    e = Env(root)
    for key, value in e.vars.items():
        monkeypatch.setenv(key, value)
    try:
        yield e
    finally:
        e.cleanup()
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(e.world, ignore_errors=True)


GUEST_TESTS = (Path(__file__).resolve().parent / "guests", Path(__file__).resolve().parent / "faults")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """``tests/guests/`` and ``tests/faults/`` boot real guests (mark ``uml``); ``tests/unit/`` boots nothing.

    ``make unit`` (``pytest -m "not uml"``) runs the fast ones alone.
    """
    for item in items:
        if any(d in Path(item.path).resolve().parents for d in GUEST_TESTS):
            item.add_marker(pytest.mark.uml)
        elif "env" in getattr(item, "fixturenames", ()):
            raise pytest.UsageError(f"{item.nodeid} uses a private umltui world (env): put it in tests/guests/")


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[Path, str], Path]]:
    """Mount a small tmpfs (root only) at a path; every one is unmounted afterwards, even on failure."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mounted: list[Path] = []

    def mount(where: Path, size: str) -> Path:
        where.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)], check=True)
        mounted.append(where)
        return where

    try:
        yield mount
    finally:
        for where in reversed(mounted):
            subprocess.run(["umount", "-l", str(where)], capture_output=True)
