"""A private umltui world for one benchmark run: its own runtime, state, UML and config
folders (the image cache shared with the tests), and everything in it halted afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def private_world(prefix: str, *, shutdown_timeout: float = 60) -> Iterator[Path]:
    """Point ``UMLTUI_*`` at a new folder; on the way out, halt its guests and remove it."""
    root = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    for key, sub in (("RUNTIME", "run"), ("STATE", "state"), ("UML", "uml"), ("CONFIG", "config")):
        os.environ[f"UMLTUI_{key}_DIR"] = str(root / sub)
    os.environ.setdefault("UMLTUI_CACHE_DIR", str(Path(tempfile.gettempdir()) / "umltui-test-cache"))
    try:
        yield root
    finally:
        from umltui.core.client import call, supervisor_pid

        with contextlib.suppress(Exception):  # best effort; the supervisor may be gone already
            asyncio.run(call("shutdown", halt=True, timeout=shutdown_timeout))
        deadline = time.monotonic() + 10
        while supervisor_pid() is not None and time.monotonic() < deadline:
            time.sleep(0.1)  # it answers, then saves its state: gone first, so nothing is left behind
        shutil.rmtree(root, ignore_errors=True)
