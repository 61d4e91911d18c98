"""Image builds that fail for real: a full disk (a small tmpfs as the cache), a mirror no one
answers on (a loopback port). Each says why, and leaves nothing behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = [pytest.mark.skipif(shutil.which("mmdebstrap") is None, reason="needs Debian's mmdebstrap")]


def build(cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "umltui", "image", "build", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "UMLTUI_CACHE_DIR": str(cache)},
    )


@pytest.mark.timeout(600)
def test_a_full_disk_fails_the_build_cleanly(tmpfs: Callable[[Path, str], Path], tmp_path: Path) -> None:
    cache = tmpfs(tmp_path / "cache", "150M")  # the packages alone need more
    proc = build(cache)
    assert proc.returncode == 1
    assert "the disk is full" in proc.stderr, proc.stderr[-2000:]
    left = [p.name for p in (cache / "images").iterdir() if not p.name.startswith((".build.lock", "last-failed"))]
    assert left == []  # no half-built image, no temporary root
    assert shutil.disk_usage(cache).used < 2 << 20


@pytest.mark.timeout(300)
def test_a_mirror_that_does_not_answer_is_named(tmp_path: Path) -> None:
    proc = build(tmp_path / "cache", "--mirror", "http://127.0.0.1:9/debian")
    assert proc.returncode == 1
    assert "cannot reach the Debian mirror http://127.0.0.1:9/debian" in proc.stderr, proc.stderr
    assert not list((tmp_path / "cache/images").glob(".build-*"))
